//! Workflows that take part in ISC access requests, answered natively by their output rather than by
//! ISC's callback:
//! - **pre-approval** (`idn:access-request-pre-approval`, ISC's request-response "Access Request
//!   Submitted"): answers `approved` (true approves every item at once, false rejects them) and
//!   optionally `comment`; no answer, or a failed run, leaves the request to its approvers;
//! - **dynamic approver** (`idn:access-request-dynamic-approver`): answers `approver` (an identity id,
//!   or `{"type": "IDENTITY"|"GOVERNANCE_GROUP", "id": …}`) or `approvers`; each pending item gets one
//!   more approval level for them, after the levels it already has;
//! - **custom approval** (`AccessRequestTrigger`): replaces an item's approval schemes; the workflow
//!   runs when the item reaches that level, typically with `sp:access-request-approval` steps, and the
//!   item is approved when it ends in success with no step answering `approved: false` (or an expired
//!   approval), rejected otherwise.
//!
//! An answer is a field of a step's output (a Define Variable step, or an HTTP response), found in
//! exactly one step. While a pre-approval or dynamic-approver workflow runs, the request's first
//! approval levels wait, so no approver decides before the hooks have had their say.

use serde_json::{Value, json};
use tessera_flow::filter::TriggerFilter;
use tessera_model::{AccessRequestType, ApproverKind, ItemStatus, RequestStatus, Timestamp, WorkStatus};
use tessera_store::{
    AccessRequestRecord, ApprovalRecord, ExecutionWaiter, IdentityStore, RequestItemRecord, RequestStore,
    SecurityStore, Tx, WaiterStore, WorkflowRecord, WorkflowStore,
};

use crate::{Error, Governance, Result};
use tessera_engine::waiters::Outcome;

/// The trigger id of the pre-approval hook.
pub const PRE_APPROVAL: &str = "idn:access-request-pre-approval";
/// The trigger id of the dynamic-approver hook.
pub const DYNAMIC_APPROVER: &str = "idn:access-request-dynamic-approver";
/// The event-style id some exports give `AccessRequestTrigger`.
pub const ACCESS_REQUEST_TRIGGER: &str = "idn:access-request-trigger";

/// An enabled workflow's trigger with its filter; a filter that does not parse matches nothing.
struct Hook {
    workflow: WorkflowRecord,
    filter: Option<Option<TriggerFilter>>,
}

impl Hook {
    fn matches(&self, payload: &Value) -> bool {
        match &self.filter {
            None => true,
            Some(Some(filter)) => filter.matches(payload),
            Some(None) => false,
        }
    }
}

/// The enabled workflows that take part in access requests, read once per submission.
#[derive(Default)]
pub(crate) struct Hooks {
    pre_approval: Vec<Hook>,
    dynamic_approver: Vec<Hook>,
    approval: Vec<Hook>,
}

impl Hooks {
    pub(crate) async fn load(tx: &mut Tx) -> Result<Self> {
        let mut hooks = Hooks::default();
        for workflow in tx.enabled_workflows().await? {
            let Some(trigger) = workflow.document.get("trigger") else { continue };
            let kind = trigger.get("type").and_then(Value::as_str).unwrap_or_default().to_ascii_uppercase();
            let id = trigger.pointer("/attributes/id").and_then(Value::as_str).unwrap_or_default().to_owned();
            let filter = trigger
                .pointer("/attributes/filter.$")
                .and_then(Value::as_str)
                .filter(|f| !f.trim().is_empty())
                .map(|f| TriggerFilter::parse(f).ok());
            let hook = Hook { workflow, filter };
            match (kind.as_str(), id.as_str()) {
                ("ACCESSREQUESTTRIGGER", _) | (_, ACCESS_REQUEST_TRIGGER) => hooks.approval.push(hook),
                ("REQUEST_RESPONSE" | "EVENT", PRE_APPROVAL) => hooks.pre_approval.push(hook),
                ("REQUEST_RESPONSE" | "EVENT", DYNAMIC_APPROVER) => hooks.dynamic_approver.push(hook),
                _ => {}
            }
        }
        Ok(hooks)
    }

    /// The custom approval workflow for an item (the first by id whose filter selects it).
    pub(crate) fn approval_for(&self, item: &Value) -> Option<&WorkflowRecord> {
        self.approval.iter().filter(|h| h.matches(item)).map(|h| &h.workflow).min_by(|a, b| a.id.cmp(&b.id))
    }

    /// Whether a submission's first approval levels must wait for hooks.
    pub(crate) fn hold(&self, payload: &Value) -> bool {
        self.pre_approval.iter().chain(&self.dynamic_approver).any(|h| h.matches(payload))
    }
}

fn new_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

impl Governance {
    /// Starts the pre-approval and dynamic-approver workflows for a submitted request (its
    /// `idn:access-requested` payload as input); the request waits for them.
    pub(crate) async fn start_request_hooks(
        &self,
        tx: &mut Tx,
        hooks: &Hooks,
        request_id: &str,
        payload: &Value,
        now: Timestamp,
    ) -> Result<()> {
        let runs = hooks
            .pre_approval
            .iter()
            .map(|h| (h, "PRE_APPROVAL"))
            .chain(hooks.dynamic_approver.iter().map(|h| (h, "DYNAMIC_APPROVER")));
        for (hook, purpose) in runs.filter(|(h, _)| h.matches(payload)) {
            let execution = self.engine.start(tx, &hook.workflow, payload.clone(), None).await?;
            tx.wait_for_execution(&execution, "ACCESS_REQUEST", request_id, purpose, None, now).await?;
        }
        Ok(())
    }

    /// Lets a request's approvers start once no hook is running: each pending item's first level
    /// opens (starting its approval workflow if it has one), and items needing no approval are granted.
    pub(crate) async fn release_request(&self, tx: &mut Tx, request_id: &str, now: Timestamp) -> Result<()> {
        if !tx.waiters_of("ACCESS_REQUEST", request_id).await?.is_empty() {
            return Ok(());
        }
        let Some(request) = tx.access_request(request_id).await? else { return Ok(()) };
        if request.status != RequestStatus::Pending {
            return Ok(());
        }
        let approvals = tx.request_approvals(request_id).await?;
        for item in tx.request_items(request_id).await?.iter().filter(|i| i.status == ItemStatus::Pending) {
            match approvals.iter().find(|a| a.item_id == item.id && a.level == 1) {
                None => {
                    self.apply_requested_item(tx, &request, item, now).await?;
                }
                Some(first) => {
                    if tx.open_approval(&item.id, 1, now).await? || first.status == WorkStatus::Pending {
                        self.approval_opened(tx, &request, item, 1, now).await?;
                    }
                }
            }
        }
        self.conclude(tx, request_id, now).await
    }

    /// Starts the custom approval workflow of a level that has just opened, if it is one.
    pub(crate) async fn approval_opened(
        &self,
        tx: &mut Tx,
        request: &AccessRequestRecord,
        item: &RequestItemRecord,
        level: i64,
        now: Timestamp,
    ) -> Result<()> {
        let approvals = tx.request_approvals(&request.id).await?;
        let Some(approval) = approvals.iter().find(|a| a.item_id == item.id && a.level == level) else {
            return Ok(());
        };
        if approval.approver_kind != ApproverKind::Workflow || approval.status != WorkStatus::Pending {
            return Ok(());
        }
        let workflow_id = approval.approver_ref.clone().unwrap_or_default();
        let workflow = tx.workflow(&workflow_id).await?.filter(|w| w.enabled);
        let Some(workflow) = workflow else {
            let comment = format!("the approval workflow {workflow_id} is no longer enabled");
            // No execution decides: Tessera does, for want of the workflow.
            return self.decide_in(tx, approval, false, crate::approvals::SYSTEM, Some(&comment), now).await;
        };
        self.start_approval_workflow(tx, request, item, &approval.id, level, &workflow, now).await
    }

    /// Starts `workflow` to decide approval `approval_id` (level `level` of `item`), and waits for it.
    #[allow(clippy::too_many_arguments)] // the request, its item and the level, named as the caller holds them
    pub(crate) async fn start_approval_workflow(
        &self,
        tx: &mut Tx,
        request: &AccessRequestRecord,
        item: &RequestItemRecord,
        approval_id: &str,
        level: i64,
        workflow: &WorkflowRecord,
        now: Timestamp,
    ) -> Result<()> {
        let reference = |id: &str, name: Option<String>| json!({"type": "IDENTITY", "id": id, "name": name});
        let for_name = tx.identity(&request.requested_for_id).await?.map(|i| i.name);
        let by_name = tx.identity(&request.requester_id).await?.map(|i| i.name);
        let input = json!({
            "accessRequestId": request.id,
            "approvalId": approval_id,
            "requestedFor": reference(&request.requested_for_id, for_name),
            "requestedBy": reference(&request.requester_id, by_name),
            "requestedItem": {"id": item.object_id, "name": item.name, "type": item.kind,
                              "operation": if request.request_type == AccessRequestType::Revoke { "Remove" } else { "Add" },
                              "comment": item.comment},
            "comment": request.comment,
        });
        let execution = self.engine.start(tx, workflow, input, None).await?;
        tx.wait_for_execution(&execution, "ACCESS_REQUEST_ITEM", approval_id, "APPROVAL", Some(level), now)
            .await
            .map_err(Into::into)
    }

    /// A hook or approval workflow of an access request ended.
    pub(crate) async fn access_hook_ended(
        &self,
        tx: &mut Tx,
        waiter: &ExecutionWaiter,
        outcome: &Outcome,
        now: Timestamp,
    ) -> Result<()> {
        let actor = format!("workflow:{}", outcome.execution_id);
        if waiter.purpose == "APPROVAL" {
            let Some(approval) = tx.approval(&waiter.subject_id).await? else { return Ok(()) };
            if tx.lock_access_request(&approval.request_id).await?.is_none() || approval.status != WorkStatus::Pending {
                return Ok(());
            }
            // Approved only by a workflow that succeeded without any step denying or letting an
            // approval expire: a branch that ends in success after a denial must not grant.
            let approve = outcome.succeeded
                && !outcome.any("approved", &Value::Bool(false))
                && !outcome.any("expired", &Value::Bool(true));
            let comment = outcome.answer("comment").and_then(Value::as_str).map(str::to_owned).or_else(|| {
                outcome.error.clone().map(|e| format!("the approval workflow ended {}: {e}", outcome.status))
            });
            return self.decide_in(tx, &approval, approve, &actor, comment.as_deref(), now).await;
        }
        let request_id = waiter.subject_id.clone();
        let Some(request) = tx.lock_access_request(&request_id).await? else { return Ok(()) };
        if request.status != RequestStatus::Pending {
            return Ok(());
        }
        let answer = if !outcome.succeeded {
            json!({"ignored": format!("the workflow ended {}", outcome.status)})
        } else if waiter.purpose == "PRE_APPROVAL" {
            let comment = outcome.answer("comment").and_then(Value::as_str).map(str::to_owned);
            match outcome.answer("approved").and_then(Value::as_bool) {
                // All the items are decided or none is; an answer that cannot be carried out (an
                // item deleted meanwhile) is ignored, and the configured approvers decide instead.
                Some(approved) => {
                    let part = tx.savepoint().await?;
                    match self.pre_decide(tx, &request, approved, &actor, comment.as_deref(), now).await {
                        Ok(()) => {
                            tx.keep(part).await?;
                            json!({"approved": approved, "comment": comment})
                        }
                        Err(refused @ (Error::Invalid(_) | Error::NotFound(_) | Error::Conflict(_))) => {
                            tx.undo(part).await?;
                            json!({"ignored": format!("the answer could not be carried out: {refused}")})
                        }
                        Err(other) => return Err(other),
                    }
                }
                None => json!({"approved": null}),
            }
        } else {
            let named = outcome.answer("approver").or_else(|| outcome.answer("approvers")).cloned();
            match named {
                Some(named) => match self.resolve_people(tx, &named).await {
                    Ok(people) if !people.is_empty() => {
                        self.add_dynamic_level(tx, &request, &named, people.clone(), now).await?;
                        json!({"approvers": people})
                    }
                    Ok(_) => json!({"ignored": "the answer names nobody"}),
                    Err(Error::Invalid(reason)) => json!({"ignored": reason.to_string()}),
                    Err(other) => return Err(other),
                },
                None => json!({"approver": null}),
            }
        };
        let detail = json!({"workflowExecution": outcome.execution_id, "hook": waiter.purpose, "answer": answer});
        tx.audit(&actor, "access-request.hook", "access-request", &request_id, &detail, now).await?;
        self.release_request(tx, &request_id, now).await
    }

    /// A pre-approval workflow's answer: every pending item approved (granted) or rejected.
    async fn pre_decide(
        &self,
        tx: &mut Tx,
        request: &AccessRequestRecord,
        approved: bool,
        actor: &str,
        comment: Option<&str>,
        now: Timestamp,
    ) -> Result<()> {
        for item in tx.request_items(&request.id).await?.iter().filter(|i| i.status == ItemStatus::Pending) {
            tx.cancel_approvals(&request.id, Some(&item.id), now).await?;
            let pre = ApprovalRecord {
                id: new_id(),
                request_id: request.id.clone(),
                item_id: item.id.clone(),
                level: 0,
                approver_kind: ApproverKind::PreApproval,
                approver_ref: None,
                candidates: Vec::new(),
                status: if approved { WorkStatus::Approved } else { WorkStatus::Denied },
                decided_by: Some(actor.into()),
                comment: comment.map(str::to_owned),
                decided_at: Some(now),
                created_at: now,
                modified_at: now,
            };
            tx.add_approval(&pre).await?;
            if approved {
                self.apply_requested_item(tx, request, item, now).await?;
            } else {
                tx.settle_item(&item.id, ItemStatus::Rejected, None, now).await?;
            }
        }
        Ok(())
    }

    /// A dynamic approver's answer: one more level, after the existing ones, on every pending item.
    async fn add_dynamic_level(
        &self,
        tx: &mut Tx,
        request: &AccessRequestRecord,
        named: &Value,
        people: Vec<String>,
        now: Timestamp,
    ) -> Result<()> {
        let approvals = tx.request_approvals(&request.id).await?;
        let group =
            named.get("type").and_then(Value::as_str).is_some_and(|t| t.eq_ignore_ascii_case("GOVERNANCE_GROUP"));
        let reference = named.get("id").and_then(Value::as_str).or_else(|| named.as_str()).map(str::to_owned);
        for item in tx.request_items(&request.id).await?.iter().filter(|i| i.status == ItemStatus::Pending) {
            let level = approvals.iter().filter(|a| a.item_id == item.id).map(|a| a.level).max().unwrap_or(0) + 1;
            let approval = ApprovalRecord {
                id: new_id(),
                request_id: request.id.clone(),
                item_id: item.id.clone(),
                level,
                approver_kind: if group { ApproverKind::GovernanceGroup } else { ApproverKind::Identity },
                approver_ref: reference.clone(),
                candidates: self.stand_ins(tx, &people, now, std::slice::from_ref(&request.requested_for_id)).await?,
                status: WorkStatus::Waiting,
                decided_by: None,
                comment: None,
                decided_at: None,
                created_at: now,
                modified_at: now,
            };
            tx.add_approval(&approval).await?;
        }
        Ok(())
    }
}
