//! Workflow steps that wait for a person: `sp:generic-approval`, `sp:access-request-approval`,
//! `sp:forms` and `sp:interactive-form` open an inbox item for the people they name; the item's
//! decision or submission comes back as the step's output.

use serde_json::{Map, Value, json};
use tessera_engine::Ask;
use tessera_model::{Duration, Timestamp};
use tessera_store::{CatalogStore, ExecutionRecord, IdentityStore, Tx};

use crate::inbox::{Deadline, InboxSubject, NewInboxItem, TimeoutAction, WorkKind};
use crate::requests::owner_of;
use crate::{Error, Governance, Result};
use chrono::TimeDelta;
use tessera_store::CatalogKind;

fn text<'a>(input: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    input.get(key).and_then(Value::as_str).filter(|t| !t.trim().is_empty())
}

/// The step's `deadline`, `reminder` and `timeoutAction` (at the deadline an approval expires —
/// not approved — unless the step says APPROVE, DENY, or ESCALATE to `escalateTo`).
fn deadline(input: &Map<String, Value>, now: Timestamp) -> std::result::Result<Option<Deadline>, String> {
    let span = |key: &str| -> std::result::Result<Option<i64>, String> {
        match text(input, key) {
            None => Ok(None),
            Some(t) => {
                let d: Duration = t.parse().map_err(|e| format!("`{key}`: {e}"))?;
                Ok(Some(i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 1000).saturating_mul(1000)))
            }
        }
    };
    let Some(due) = span("deadline")? else { return Ok(None) };
    let on_timeout = match text(input, "timeoutAction").map(str::to_ascii_uppercase).as_deref() {
        None | Some("EXPIRE") => TimeoutAction::Expire,
        Some("APPROVE") => TimeoutAction::Approve,
        Some("DENY") => TimeoutAction::Deny,
        Some("COMPLETE") => TimeoutAction::Complete,
        Some("ESCALATE") => match text(input, "escalateTo") {
            Some(to) => TimeoutAction::Escalate { to: to.to_owned() },
            None => return Err("`timeoutAction` ESCALATE needs `escalateTo`, the identity to escalate to".into()),
        },
        Some(other) => return Err(format!("`timeoutAction` `{other}` is not APPROVE, DENY, EXPIRE or ESCALATE")),
    };
    Ok(Some(Deadline { due_at: now + TimeDelta::milliseconds(due), remind_every_ms: span("reminder")?, on_timeout }))
}

impl Governance {
    /// Opens the inbox item an asking step needs; `Some(error)` fails the step instead (nobody to ask,
    /// a bad deadline).
    pub(crate) async fn open_asked_work(&self, tx: &mut Tx, ask: Ask<'_>) -> Result<Option<String>> {
        let Ask { execution, effect: id, step, action, input, now } = ask;
        let deadline = match deadline(input, now) {
            Ok(deadline) => deadline,
            Err(error) => return Ok(Some(format!("{action}: {error}"))),
        };
        let prepared = match action {
            "sp:generic-approval" => self.generic_approval(tx, input).await,
            "sp:access-request-approval" => self.request_approval(tx, execution, input).await,
            _ => self.form(tx, execution, input).await,
        };
        let (kind, assignees, title, minimum) = match prepared {
            Ok(prepared) => prepared,
            Err(Error::Invalid(message)) => return Ok(Some(format!("{action}: {message}"))),
            Err(other) => return Err(other),
        };
        let item = NewInboxItem {
            kind,
            subject: InboxSubject::Execution {
                execution_id: execution.id.clone().into(),
                effect: serde_json::to_value(id)?,
            },
            title,
            description: text(input, "description").or_else(|| text(input, "comment")).map(str::to_owned),
            // What the person sees of the step: its input and the trigger, with credentials masked.
            details: tessera_flow::interp::redact(
                &json!({"workflowId": execution.workflow_id, "executionId": execution.id, "step": step,
                        "action": action, "input": input, "trigger": execution.input}),
                &execution.state["main"]["doc"],
            ),
            assignees,
            minimum_approvals: minimum,
            deadline,
            // Nobody approves access requested for themselves, not even as someone's stand-in.
            excluded: match action {
                "sp:access-request-approval" => {
                    execution.input["requestedFor"]["id"].as_str().map(str::to_owned).into_iter().collect()
                }
                _ => Vec::new(),
            },
        };
        match self.open_inbox_item(tx, &item, now).await {
            Ok(_) => Ok(None),
            Err(Error::Invalid(message)) => Ok(Some(format!("{action}: {message}"))),
            Err(other) => Err(other),
        }
    }

    async fn generic_approval(
        &self,
        tx: &mut Tx,
        input: &Map<String, Value>,
    ) -> Result<(WorkKind, Vec<String>, String, i64)> {
        let approvers = self.resolve_people(tx, input.get("approvers").unwrap_or(&Value::Null)).await?;
        if approvers.is_empty() {
            return Err(Error::invalid("`approvers` names nobody"));
        }
        let minimum = input.get("minimumApprovals").and_then(Value::as_i64).unwrap_or(1);
        let title = text(input, "subject").unwrap_or("Approval").to_owned();
        Ok((WorkKind::Approval, approvers, title, minimum))
    }

    /// Approvers of an access request item: `approvers` when given, else `approvalScheme`
    /// (`MANAGER` — the default —, `OWNER`, or `GOVERNANCE_GROUP` with `approverId`) applied to the
    /// item in the execution's trigger (`requestedFor`, `requestedItem`).
    async fn request_approval(
        &self,
        tx: &mut Tx,
        execution: &ExecutionRecord,
        input: &Map<String, Value>,
    ) -> Result<(WorkKind, Vec<String>, String, i64)> {
        let trigger = &execution.input;
        let item = &trigger["requestedItem"];
        let for_id = trigger["requestedFor"]["id"].as_str().unwrap_or_default();
        let title = format!(
            "Access request: {} for {}",
            item["name"].as_str().unwrap_or("access"),
            trigger["requestedFor"]["name"].as_str().unwrap_or(for_id)
        );
        if let Some(approvers) = input.get("approvers").filter(|a| !a.is_null()) {
            return Ok((WorkKind::Approval, self.resolve_people(tx, approvers).await?, title, 1));
        }
        let scheme = match input.get("approvalScheme") {
            Some(Value::String(kind)) => json!({"approverType": kind}),
            Some(Value::Object(map)) => Value::Object(map.clone()),
            _ => json!({"approverType": "MANAGER"}),
        };
        let kind = scheme["approverType"].as_str().unwrap_or("MANAGER").to_ascii_uppercase();
        let approvers = match kind.as_str() {
            "MANAGER" => {
                let target = tx.identity(for_id).await?;
                let manager = target.and_then(|t| t.manager_id).map(String::from);
                vec![manager.ok_or_else(|| Error::invalid(format!("identity `{for_id}` has no manager to approve")))?]
            }
            "OWNER" => {
                let kind = CatalogKind::of_access(item["type"].as_str().unwrap_or_default());
                let object = match kind {
                    Some(kind) => tx.object(kind, item["id"].as_str().unwrap_or_default()).await?,
                    None => None,
                };
                vec![object.as_ref().and_then(owner_of).ok_or_else(|| Error::invalid("the item has no owner"))?]
            }
            "GOVERNANCE_GROUP" => {
                self.resolve_people(tx, &json!({"type": "GOVERNANCE_GROUP", "id": scheme["approverId"]})).await?
            }
            other => {
                return Err(Error::invalid(format!(
                    "approvalScheme `{other}` is not MANAGER, OWNER or GOVERNANCE_GROUP"
                )));
            }
        };
        Ok((WorkKind::Approval, approvers, title, 1))
    }

    /// A form goes to its `recipient`, else `ownerId`, else the person who launched the interactive
    /// process.
    async fn form(
        &self,
        tx: &mut Tx,
        execution: &ExecutionRecord,
        input: &Map<String, Value>,
    ) -> Result<(WorkKind, Vec<String>, String, i64)> {
        let named = input
            .get("recipient")
            .filter(|r| !r.is_null())
            .or_else(|| input.get("ownerId"))
            .or_else(|| execution.input.get("launchedBy"))
            .cloned()
            .unwrap_or(Value::Null);
        let people = self.resolve_people(tx, &named).await?;
        if people.is_empty() {
            return Err(Error::invalid("the form has no `recipient`"));
        }
        let title = text(input, "title")
            .map(str::to_owned)
            .unwrap_or_else(|| format!("Form {}", text(input, "formDefinitionId").unwrap_or_default()));
        Ok((WorkKind::Form, people, title, 1))
    }
}
