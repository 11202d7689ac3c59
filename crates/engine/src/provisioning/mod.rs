//! Carrying out provisioning plans: a plan (one account request on one source) is claimed with a
//! lease, checked against the source's features, and handed to the source's connector outside any
//! transaction under the plan's id as idempotency key, or to a person as a work item. Its result, the
//! account it leaves, and — when it is the last of its tracking group — Provisioning Completed commit
//! together.

pub mod completed;

use std::collections::HashMap;

use serde_json::{Value, json};
use tessera_store::{
    CatalogKind, CatalogObject, CatalogStore, Finished, IdentityStore, PlanRecord, ProvisioningStore, QueueStore, Tx,
    WorkItem,
};

use crate::{Engine, Error, Result};

/// Plans claimed per round.
const BATCH: i64 = 16;
/// How long a claimed plan is this node's (a connector call must end well within it).
const LEASE_MS: i64 = 120_000;

/// Where a plan goes.
#[derive(Debug)]
enum Target {
    /// A person carries it out: a work item, assigned to the source's owner or governance group.
    Manual { assignee: Option<String> },
    /// Nothing can carry it out; the reason says why.
    Refused(String),
}

/// The features a source declares (`features`).
fn features(source: &CatalogObject) -> Vec<String> {
    source
        .document
        .get("features")
        .and_then(Value::as_array)
        .map(|list| list.iter().filter_map(Value::as_str).map(str::to_uppercase).collect())
        .unwrap_or_default()
}

/// The feature an account operation needs.
fn feature_of(operation: &str) -> &'static str {
    match operation {
        "Enable" | "Disable" => "ENABLE",
        "Unlock" => "UNLOCK",
        "Password" => "PASSWORD",
        _ => "PROVISIONING",
    }
}

fn target(source: &CatalogObject, operation: &str) -> Target {
    let connector = source.document.get("connector").and_then(Value::as_str).unwrap_or_default();
    let assignee = source
        .document
        .pointer("/governanceGroup/id")
        .and_then(Value::as_str)
        .map(|id| format!("GOVERNANCE_GROUP:{id}"))
        .or_else(|| source.owner_id.as_ref().map(|id| format!("IDENTITY:{id}")));
    if connector == "manual" {
        return Target::Manual { assignee };
    }
    let needed = feature_of(operation);
    let manual_fallback = source.document.get("manualProvisioning").and_then(Value::as_bool).unwrap_or(false);
    if !features(source).iter().any(|f| f == needed) {
        if manual_fallback {
            return Target::Manual { assignee };
        }
        return Target::Refused(format!(
            "source `{}` does not have the {needed} feature that a {operation} needs; add it to the source's features, \
             or set manualProvisioning to hand such requests to a person",
            source.name
        ));
    }
    if manual_fallback {
        return Target::Manual { assignee };
    }
    Target::Refused(format!(
        "source `{}` uses the `{connector}` connector, which cannot carry out account requests on this server yet",
        source.name
    ))
}

impl Engine {
    /// Carries out the plans that are due; returns how many it finished or put back.
    pub async fn run_provisioning(&self) -> Result<usize> {
        let now = self.now_ms();
        let mut tx = self.store.begin().await?;
        let plans = tx.claim_plans(now, now + LEASE_MS, BATCH).await?;
        tx.commit().await?;
        let count = plans.len();
        let mut sources: HashMap<String, Option<CatalogObject>> = HashMap::new();
        for plan in plans {
            if !sources.contains_key(&plan.source_id) {
                let mut tx = self.store.begin().await?;
                let source = tx.object(CatalogKind::Source, &plan.source_id).await?;
                sources.insert(plan.source_id.clone(), source);
            }
            let source = sources.get(&plan.source_id).cloned().flatten();
            self.carry_out(plan, source.as_ref()).await?;
        }
        if count > 0 {
            self.notify_events();
        }
        Ok(count)
    }

    async fn carry_out(&self, plan: PlanRecord, source: Option<&CatalogObject>) -> Result<()> {
        let now = self.now_ms();
        let target = match source {
            None => Target::Refused(format!("source {} no longer exists", plan.source_id)),
            Some(source) => target(source, &plan.operation),
        };
        let mut tx = self.store.begin().await?;
        let finished = match target {
            Target::Refused(reason) => {
                tracing::warn!(plan = %plan.id, %reason, "provisioning refused");
                let result = json!({"provisioningResult": "FAILED", "errors": [reason]});
                tx.finish_plan(&plan.id, "FAILED", &result, now).await?
            }
            Target::Manual { assignee } => {
                let ticket = uuid::Uuid::now_v7().simple().to_string();
                tx.insert_work_item(&WorkItem {
                    id: ticket.clone(),
                    plan_id: plan.id.clone(),
                    source_id: plan.source_id.clone(),
                    identity_id: plan.identity_id.clone(),
                    assignee,
                    status: "OPEN".into(),
                    document: plan.document.clone(),
                    created_at: now,
                    completed_at: None,
                    completed_by: None,
                    comment: None,
                })
                .await?;
                let result = json!({"provisioningResult": "PENDING", "ticketId": ticket});
                tx.finish_plan(&plan.id, "PENDING", &result, now).await?
            }
        };
        match finished {
            // Another node finished this plan after its lease ran out: keep nothing of this attempt
            // (the transaction, and any work item in it, is dropped).
            Finished::Already => return Ok(()),
            Finished::Now(Some(tracking)) => self.announce(&mut tx, &tracking, now).await?,
            Finished::Now(None) => {}
        }
        tx.commit().await?;
        Ok(())
    }

    /// Publishes Provisioning Completed for a finished tracking group, in the caller's transaction.
    async fn announce(&self, tx: &mut Tx, tracking: &tessera_store::Tracking, now: i64) -> Result<()> {
        let plans = tx.plans_of_tracking(&tracking.tracking_number).await?;
        let identity = tx.identity(&tracking.identity_id).await?;
        let mut sources = HashMap::new();
        for plan in &plans {
            if !sources.contains_key(&plan.source_id)
                && let Some(source) = tx.object(CatalogKind::Source, &plan.source_id).await?
            {
                sources.insert(plan.source_id.clone(), source);
            }
        }
        let payload = completed::payload(tracking, identity.as_ref(), &plans, |id| sources.get(id));
        tx.publish(completed::PROVISIONING_COMPLETED, &payload, now).await?;
        Ok(())
    }

    /// Records a person's answer to a work item: the plan it holds ends SUCCESS (`completed`) or
    /// FAILED, with `account_id` as the account's native identity when the person gives one.
    pub async fn complete_work_item(
        &self,
        id: &str,
        completed: bool,
        by: &str,
        comment: Option<&str>,
        account_id: Option<&str>,
    ) -> Result<()> {
        let now = self.now_ms();
        let mut tx = self.store.begin().await?;
        let item = tx.work_item(id).await?.ok_or_else(|| Error::NotFound(format!("work item {id}")))?;
        let status = if completed { "COMPLETED" } else { "FAILED" };
        if !tx.complete_work_item(id, status, by, comment, now).await? {
            return Err(Error::Conflict(format!("work item {id} was answered already ({})", item.status)));
        }
        let mut result = json!({"provisioningResult": if completed { "SUCCESS" } else { "FAILED" }, "ticketId": id});
        if let Some(account) = account_id {
            result["accountId"] = json!(account);
        }
        if let Some(comment) = comment.filter(|_| !completed) {
            result["errors"] = json!([comment]);
        }
        tx.settle_plan(&item.plan_id, if completed { "SUCCESS" } else { "FAILED" }, &result, now).await?;
        tx.commit().await?;
        Ok(())
    }
}
