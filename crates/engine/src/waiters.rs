//! Handing an ended execution's outcome to what waited for it (for the governance domain: a request
//! type's step, an access request's approval or hook) in the transaction that ends the execution,
//! so the outcome is handed on exactly once — and, when it is refused, not at all.

use serde_json::{Value, json};
use tessera_flow::interp::Status;
use tessera_model::Timestamp;
use tessera_store::{ExecutionRecord, SecurityStore, Tx, WaiterStore};

use crate::{Engine, Error, Result};

/// How a waited-for execution ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub execution_id: String,
    pub succeeded: bool,
    /// `Completed`, `Failed` or `Canceled`.
    pub status: &'static str,
    pub error: Option<String>,
    /// The run's data document without `trigger`: each step's output under its key.
    pub output: Value,
}

impl Outcome {
    /// The value of `field` in the output: found in exactly one step's output, else `None` (absent,
    /// or ambiguous because several steps answer it differently).
    pub fn answer(&self, field: &str) -> Option<&Value> {
        let mut found: Option<&Value> = None;
        for value in self.output.as_object()?.values().filter_map(|step| step.get(field)) {
            match found {
                Some(seen) if seen != value => return None,
                _ => found = Some(value),
            }
        }
        found
    }
}

impl Outcome {
    /// Whether any step's output has `field` equal to `value`: one step's denial is a denial, whatever
    /// other steps said.
    pub fn any(&self, field: &str, value: &Value) -> bool {
        self.output.as_object().is_some_and(|steps| steps.values().any(|step| step.get(field) == Some(value)))
    }
}

impl Engine {
    /// Called by the transaction that ends `execution`: the domain closes what was open for it, and
    /// what waited for it is handed its outcome.
    pub(crate) async fn execution_ended(
        &self,
        tx: &mut Tx,
        execution: &ExecutionRecord,
        status: &Status,
        document: &Value,
        error: Option<String>,
        now: Timestamp,
    ) -> Result<()> {
        let domain = self.domain();
        if let Some(domain) = &domain {
            domain.execution_ended(tx, execution, now).await?;
        }
        let Some(waiter) = tx.take_waiter(&execution.id).await? else { return Ok(()) };
        let Some(domain) = domain else { return Ok(()) };
        let mut output = document.clone();
        if let Value::Object(members) = &mut output {
            members.remove("trigger");
        }
        let outcome = Outcome {
            execution_id: execution.id.clone().into(),
            succeeded: matches!(status, Status::Succeeded),
            status: status.label(),
            error,
            output,
        };
        // The hand-on is one decision: written whole, or (when refused) not at all.
        let part = tx.savepoint().await?;
        let handed = domain.hand_on(tx, &waiter, &outcome, now).await;
        match handed {
            // What waited cannot take the outcome (its role was deleted meanwhile, say): whatever
            // part of the decision was written is undone, the execution still ends rather than being
            // retried for ever, the waiter is gone, and the refusal is logged and audited.
            Err(refused @ (Error::Invalid(_) | Error::NotFound(_) | Error::Conflict(_) | Error::Forbidden(_))) => {
                tx.undo(part).await?;
                let reason = refused.to_string();
                tracing::warn!(execution = %execution.id, subject = %waiter.subject_id, %reason,
                               "an ended execution's outcome could not be handed on");
                let detail = json!({"workflowExecution": execution.id, "purpose": waiter.purpose, "reason": reason});
                let actor = format!("workflow:{}", execution.id);
                tx.audit(
                    &actor,
                    "workflow-outcome.refused",
                    &waiter.subject_kind.to_lowercase().replace('_', "-"),
                    &waiter.subject_id,
                    &detail,
                    now,
                )
                .await?;
                Ok(())
            }
            Ok(()) => Ok(tx.keep(part).await?),
            other => other,
        }
    }
}
