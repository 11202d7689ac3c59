//! Carrying out provisioning plans: a plan (one account request on one source) is claimed with a
//! lease, checked against the source's features, and handed to the source's connector outside any
//! transaction under the plan's id as idempotency key, or to a person as a work item. Its result, the
//! account it leaves, and — when it is the last of its tracking group — Provisioning Completed commit
//! together. A connector failure that may pass (a timeout, a 5xx, a refused connection) puts the plan
//! back with a growing delay until its attempts run out; then, or on a permanent failure, it is FAILED
//! with the error.
//!
//! A crash between the connector's answer and the commit leaves the plan QUEUED under a lease; when the
//! lease runs out it is carried out again under the same key, which the connector makes harmless.

mod accounts;
pub mod completed;
mod request;
mod verdict;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use futures_util::StreamExt;
use serde_json::{Value, json};
use tessera_connectors::{Connector, ConnectorError, LiveConnector, Outcome};
use tessera_model::{PlanStatus, RetryPolicy, Timestamp, WorkStatus};
use tessera_store::{CatalogKind, CatalogObject, CatalogStore, Finished, ProvisioningStore, QueueStore, Tx, WorkItem};
use tessera_store::{IdentityStore, PlanRecord, SecurityStore};

use crate::live::live_connector;
use crate::{Error, Governance, Result};
use request::Prepared;
use verdict::{Ended, Verdict};

/// Plans claimed per round.
const BATCH: i64 = 32;
/// Plans of different identities or sources carried out at once.
const CONCURRENCY: usize = 8;

/// How failed connector calls are retried by default: six attempts, the first wait five seconds, each
/// later one twice the last, none over ten minutes.
pub fn default_retry() -> RetryPolicy {
    RetryPolicy::doubling(6, Duration::from_secs(5), Duration::from_secs(600))
}

/// Where a source's plans go.
#[derive(Debug, Clone)]
enum Target {
    /// A person carries it out: a work item, assigned to the source's owner or governance group.
    Manual { assignee: Option<String> },
    /// The source's connector.
    Live(Arc<LiveConnector>),
    /// Nothing can carry it out; the reason says why.
    Refused(String),
}

/// The features a source declares (`features`), or, when it declares none, its connector's.
fn features(source: &CatalogObject, connector: Option<&LiveConnector>) -> Vec<String> {
    match source.document.get("features").and_then(Value::as_array) {
        Some(list) => list.iter().filter_map(Value::as_str).map(str::to_uppercase).collect(),
        None => connector.map(|c| c.features().iter().map(|f| f.as_str().to_owned()).collect()).unwrap_or_default(),
    }
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

/// The source's plans' target in general; `for_operation` narrows it to one operation.
fn source_target(engine: &Governance, source: &CatalogObject) -> (Target, Option<Arc<LiveConnector>>) {
    let connector = source.document.get("connector").and_then(Value::as_str).unwrap_or_default();
    let assignee = source
        .document
        .pointer("/governanceGroup/id")
        .and_then(Value::as_str)
        .map(|id| format!("GOVERNANCE_GROUP:{id}"))
        .or_else(|| source.owner_id.as_ref().map(|id| format!("IDENTITY:{id}")));
    let manual = source.document.get("manualProvisioning").and_then(Value::as_bool).unwrap_or(false);
    if connector == "manual" || manual {
        return (Target::Manual { assignee }, None);
    }
    match live_connector(&engine.store, source) {
        Ok(Some(live)) => {
            let live = Arc::new(live);
            (Target::Live(live.clone()), Some(live))
        }
        Ok(None) => (
            Target::Refused(format!(
                "source `{}` uses the `{connector}` connector, which cannot carry out account requests; set \
                 manualProvisioning to hand them to a person",
                source.name
            )),
            None,
        ),
        Err(error) => (Target::Refused(error.to_string()), None),
    }
}

fn for_operation(source: &CatalogObject, target: &Target, live: Option<&LiveConnector>, operation: &str) -> Target {
    let declared = source.document.get("features").is_some_and(Value::is_array);
    // A manual source takes every operation; a connector that cannot be built says why, unless the
    // source's declared features already rule the operation out.
    if matches!(target, Target::Manual { .. }) || (live.is_none() && !declared) {
        return target.clone();
    }
    let needed = feature_of(operation);
    if !features(source, live).iter().any(|f| f == needed) {
        return Target::Refused(format!(
            "source `{}` does not have the {needed} feature that a {operation} needs; add it to the source's features, \
             or set manualProvisioning to hand such requests to a person",
            source.name
        ));
    }
    target.clone()
}

/// A claimed plan's source, where its plans go, and the source's live connector (when it has one).
type Resolved = (CatalogObject, Target, Option<Arc<LiveConnector>>);

/// What became of one attempt.
enum Attempt {
    Done(Outcome, Box<Prepared>),
    Failed(ConnectorError),
    Refused(String),
}

impl Governance {
    /// Starts the provisioning loop: plans are carried out as they fall due, until `shutdown` turns
    /// true.
    pub(crate) fn spawn_provisioner(self: &Arc<Self>, mut shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
        let engine = self.clone();
        tokio::spawn(async move {
            loop {
                if *shutdown.borrow() {
                    return;
                }
                match engine.run_provisioning().await {
                    Ok(n) if n as i64 == BATCH => continue,
                    Ok(_) => {}
                    Err(error) => tracing::warn!(%error, "provisioning failed; retrying"),
                }
                tokio::select! {
                    _ = tokio::time::sleep(engine.engine.config().poll) => {}
                    _ = engine.plans_queued.notified() => {}
                    _ = shutdown.changed() => {}
                }
            }
        })
    }

    /// Carries out the plans that are due; returns how many it finished or put back.
    pub async fn run_provisioning(&self) -> Result<usize> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        // A claimed plan is this node's for twice the longest a connector call may take, so a call
        // that times out is recorded before another node may claim the plan.
        let lease = self.engine.config().lease.saturating_mul(2);
        let plans = tx.claim_plans(now, now + lease, BATCH).await?;
        let mut sources: HashMap<String, Option<Resolved>> = HashMap::new();
        for plan in &plans {
            if !sources.contains_key(&plan.source_id) {
                let found = tx.object(CatalogKind::Source, &plan.source_id).await?.map(|source| {
                    let (target, live) = source_target(self, &source);
                    (source, target, live)
                });
                sources.insert(plan.source_id.clone(), found);
            }
        }
        tx.commit().await?;
        let count = plans.len();
        // Plans of one identity on one source run in order; different ones side by side.
        let mut groups: Vec<Vec<PlanRecord>> = Vec::new();
        let mut index: HashMap<(String, String), usize> = HashMap::new();
        for plan in plans {
            let key = (plan.identity_id.clone(), plan.source_id.clone());
            match index.get(&key) {
                Some(&i) => groups[i].push(plan),
                None => {
                    index.insert(key, groups.len());
                    groups.push(vec![plan]);
                }
            }
        }
        let sources = &sources;
        let results: Vec<Result<()>> = futures_util::stream::iter(groups)
            .map(|group| async move {
                for plan in group {
                    let source = sources.get(&plan.source_id).and_then(Option::as_ref);
                    self.carry_out(plan, source).await?;
                }
                Ok(())
            })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        if count > 0 {
            self.notify_events();
        }
        results.into_iter().collect::<Result<Vec<()>>>()?;
        Ok(count)
    }

    async fn carry_out(&self, plan: PlanRecord, source: Option<&Resolved>) -> Result<()> {
        let target = match source {
            None => Target::Refused(format!("source {} no longer exists", plan.source_id)),
            Some((source, target, live)) => for_operation(source, target, live.as_deref(), &plan.operation),
        };
        match target {
            Target::Refused(reason) => {
                tracing::warn!(plan = %plan.id, %reason, "provisioning refused");
                let result = json!({"provisioningResult": "FAILED", "errors": [reason]});
                self.finish(&plan, PlanStatus::Failed, &result, None).await
            }
            Target::Manual { assignee } => self.hand_to_person(&plan, assignee).await,
            Target::Live(connector) => {
                let Some((source, _, _)) = source else { return Ok(()) };
                let attempt = self.attempt(&plan, source, &connector).await?;
                self.record_attempt(&plan, source, attempt).await
            }
        }
    }

    /// One connector call for `plan`, outside any transaction.
    async fn attempt(&self, plan: &PlanRecord, source: &CatalogObject, connector: &LiveConnector) -> Result<Attempt> {
        let mut tx = self.store.begin().await?;
        let prepared = request::prepare(&mut tx, plan, source).await?;
        tx.commit().await?;
        let prepared = match prepared {
            Ok(prepared) => prepared,
            Err(reason) => return Ok(Attempt::Refused(reason)),
        };
        let call = connector.provision(&prepared.request, &plan.id);
        // The longest a connector call may take before it counts as timed out (and is retried).
        let limit = self.engine.config().lease;
        Ok(match tokio::time::timeout(limit, call).await {
            Ok(Ok(outcome)) => Attempt::Done(outcome, Box::new(prepared)),
            Ok(Err(error)) => Attempt::Failed(error),
            Err(_) => Attempt::Failed(ConnectorError::retryable(format!(
                "the connector did not answer within {} s",
                limit.as_secs()
            ))),
        })
    }

    /// Writes the verdict on `attempt` ([`verdict::judge`]): tried again later, or finished (with
    /// what a successful request did to Tessera's account).
    async fn record_attempt(&self, plan: &PlanRecord, source: &CatalogObject, attempt: Attempt) -> Result<()> {
        let now = self.now();
        let ended = match &attempt {
            Attempt::Done(outcome, prepared) => {
                Ended::Answered { outcome, attribute_requests: prepared.attribute_requests() }
            }
            Attempt::Failed(error) => Ended::Failed(error),
            Attempt::Refused(reason) => Ended::Refused(reason),
        };
        let policy = self.config.provisioning_retry;
        match verdict::judge(plan.attempt, &ended, &policy, now) {
            Verdict::Retry { attempts, run_at, result } => {
                tracing::info!(plan = %plan.id, source = %source.name, error = %result["errors"][0], attempts, "provisioning will be retried");
                let mut tx = self.store.begin().await?;
                tx.retry_plan(&plan.id, attempts, run_at, &result, now).await?;
                tx.commit().await?;
                Ok(())
            }
            Verdict::Finish { status, result } => {
                if status == PlanStatus::Failed {
                    tracing::warn!(plan = %plan.id, source = %source.name, error = %result["errors"][0], "provisioning failed");
                }
                let mut done = match attempt {
                    Attempt::Done(Outcome::Success { native_identity, account }, prepared) => {
                        Some((native_identity, account, prepared))
                    }
                    _ => None,
                };
                let change = done.as_mut().map(|(native_identity, account, prepared)| {
                    (source, accounts::Change { prepared, native_identity, account: account.take() })
                });
                self.finish(plan, status, &result, change).await
            }
        }
    }

    /// Ends `plan` with `status`, records what a successful request did to Tessera's account, and
    /// announces the tracking group when this was its last plan — in one transaction.
    async fn finish(
        &self,
        plan: &PlanRecord,
        status: PlanStatus,
        result: &Value,
        change: Option<(&CatalogObject, accounts::Change<'_>)>,
    ) -> Result<()> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let finished = tx.finish_plan(&plan.id, status, result, now).await?;
        if matches!(finished, Finished::Already) {
            // Another node finished this plan after its lease ran out: keep nothing of this attempt.
            return Ok(());
        }
        self.metrics.plan_finished(&mut tx, status);
        if let Some((source, change)) = change {
            accounts::record(&mut tx, plan, source, change, now).await?;
        }
        if let Finished::Now(Some(tracking)) = finished {
            self.announce(&mut tx, &tracking, now).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn hand_to_person(&self, plan: &PlanRecord, assignee: Option<String>) -> Result<()> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let ticket = uuid::Uuid::now_v7().simple().to_string();
        tx.insert_work_item(&WorkItem {
            id: ticket.clone(),
            plan_id: plan.id.clone(),
            source_id: plan.source_id.clone(),
            identity_id: plan.identity_id.clone(),
            assignee,
            status: WorkStatus::Pending,
            document: plan.document.clone(),
            created_at: now,
            completed_at: None,
            completed_by: None,
            comment: None,
        })
        .await?;
        let result = json!({"provisioningResult": "PENDING", "ticketId": ticket});
        match tx.finish_plan(&plan.id, PlanStatus::Pending, &result, now).await? {
            // Finished elsewhere: the work item is dropped with the transaction.
            Finished::Already => return Ok(()),
            Finished::Now(Some(tracking)) => self.announce(&mut tx, &tracking, now).await?,
            Finished::Now(None) => {}
        }
        tx.commit().await?;
        Ok(())
    }

    /// Publishes Provisioning Completed for a finished tracking group, in the caller's transaction.
    async fn announce(&self, tx: &mut Tx, tracking: &tessera_store::Tracking, now: Timestamp) -> Result<()> {
        announce(tx, tracking, now).await
    }

    /// Records a person's answer to a work item: the plan it holds ends SUCCESS (`completed`) or
    /// FAILED, with `account_id` as the account's native identity when the person gives one (else the
    /// account's, or for a new account the identity's alias). A completed request is recorded on
    /// Tessera's account as a connector's would be. Audited as `work-item.complete` by `by`.
    pub async fn complete_work_item(
        &self,
        id: &str,
        completed: bool,
        by: &str,
        comment: Option<&str>,
        account_id: Option<&str>,
    ) -> Result<()> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let item = tx.work_item(id).await?.ok_or_else(|| Error::NotFound(format!("work item {id}")))?;
        let status = if completed { WorkStatus::Completed } else { WorkStatus::Failed };
        if !tx.complete_work_item(id, status, by, comment, now).await? {
            return Err(Error::Conflict(format!(
                "work item {id} was answered already ({})",
                item.status.as_str().to_lowercase()
            )));
        }
        let mut result = json!({"provisioningResult": if completed { "SUCCESS" } else { "FAILED" }, "ticketId": id});
        if let Some(account) = account_id {
            result["accountId"] = json!(account);
        }
        if let Some(comment) = comment.filter(|_| !completed) {
            result["errors"] = json!([comment]);
        }
        let settled = tx
            .settle_plan(&item.plan_id, if completed { PlanStatus::Success } else { PlanStatus::Failed }, &result, now)
            .await?;
        // What the person did is now true of the account: Tessera records it as a connector's success.
        if settled
            && completed
            && let Some(plan) = tx.plan_by_id(&item.plan_id).await?
            && let Some(source) = tx.object(CatalogKind::Source, &plan.source_id).await?
            && let Ok(prepared) = request::prepare(&mut tx, &plan, &source).await?
        {
            let native = match (&prepared.account, account_id) {
                (_, Some(given)) => given.to_owned(),
                (Some(account), None) => account.native_identity.clone(),
                (None, None) => tx.identity(&plan.identity_id).await?.map(|i| i.alias).unwrap_or_default(),
            };
            if !native.is_empty() {
                let change = accounts::Change { prepared: &prepared, native_identity: &native, account: None };
                accounts::record(&mut tx, &plan, &source, change, now).await?;
            }
        }
        // Audited in the transaction that answers the item, so there is no answer without its entry.
        let detail = json!({"failed": !completed, "comment": comment});
        tx.audit(by, "work-item.complete", "work-item", id, &detail, now).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Publishes Provisioning Completed for a finished tracking group, in the caller's transaction.
pub(crate) async fn announce(tx: &mut Tx, tracking: &tessera_store::Tracking, now: Timestamp) -> Result<()> {
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
