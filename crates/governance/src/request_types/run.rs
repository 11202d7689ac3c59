//! Running a request's steps in the transactions that advance it: approvals and custom tasks open
//! inbox items and wait; grants go through Manage Access at once; delegated workflows start and are
//! waited for. The inbox hands back a closed item (`request_step_closed`) and the waiters an ended
//! workflow (`request_workflow_ended`), each in the transaction that closed or ended it. A denial
//! ends the request DENIED; a failed workflow ends it FAILED unless its step continues on error.
//!
//! Nobody approves their own request: the requester and the person it is for are never an approval's
//! approvers (nor reached as a stand-in or by escalation), and an approval left with nobody else
//! fails the request. A delegated workflow's data is kept with credential-named values masked, as
//! in an execution's trace, since the requester, the team and the approvers read it.
//!
//! Every hand-back is checked against the request's current step and the step's own item or
//! execution under the request's row lock, and ends the step with a conditional update: a stale or
//! repeated hand-back changes nothing.

use serde_json::{Value, json};
use tessera_flow::interp::redact;
use tessera_store::{
    CatalogKind, CatalogStore, ExecutionStore, ExecutionWaiter, IdentityStore, InboxItemRecord, InboxStore, QueueStore,
    RequestStepRecord, RequestTypeStore, SecurityStore, StepEnd, Tx, TypeRequestRecord, TypeRequestStore, WaiterStore,
    WorkflowStore,
};

use super::admin::stored_definition;
use super::check::delegated;
use super::definition::{Approver, Definition, GrantItem, OnTimeout, Step, StepKind};
use super::fields::person;
use super::lists::grantable;
use super::{Actor, Error, REQUEST_CLOSED, Result, submit};
use crate::Governance;
use crate::inbox::{Deadline, InboxSubject, NewInboxItem, TimeoutAction, WorkKind, WorkStatus, WorkSubject};
use crate::{AccessChange, AccessItem};
use chrono::TimeDelta;
use tessera_engine::waiters::Outcome;
use tessera_model::{StepStatus, Timestamp, TypeRequestStatus};

/// What starting a step did.
enum Started {
    /// It waits for a person or a workflow.
    Waiting,
    /// It is done; the next step runs.
    Done,
    /// It ended the request.
    Closed,
}

fn definition_of(request: &TypeRequestRecord) -> crate::Result<Definition> {
    stored_definition(&request.definition).map_err(|e| match e {
        Error::Engine(e) => e,
        other => crate::Error::invalid(other.to_string()),
    })
}

impl Governance {
    /// Runs the request's steps from `position` until one waits, one ends the request, or none is
    /// left (the request is then COMPLETED). The request's current step must be `position`.
    pub(super) async fn run_from(
        &self,
        tx: &mut Tx,
        request: &TypeRequestRecord,
        mut position: i64,
        now: Timestamp,
    ) -> crate::Result<()> {
        let definition = definition_of(request)?;
        loop {
            let Some(step) = definition.steps.get(position as usize) else {
                self.close_request(tx, request, TypeRequestStatus::Completed, None, None, now).await?;
                return Ok(());
            };
            match self.start_step(tx, request, position, step, now).await? {
                Started::Waiting | Started::Closed => return Ok(()),
                Started::Done => {}
            }
            if !tx.move_to_step(&request.id, position, position + 1, now).await? {
                return Ok(());
            }
            position += 1;
        }
    }

    async fn start_step(
        &self,
        tx: &mut Tx,
        request: &TypeRequestRecord,
        position: i64,
        step: &Step,
        now: Timestamp,
    ) -> crate::Result<Started> {
        let id = request.id.as_str();
        match &step.kind {
            StepKind::Approval { approver, deadline } => {
                let excluded = excluded(request);
                let approvers = match self.approvers(tx, request, approver, &excluded).await? {
                    Ok(approvers) => approvers,
                    Err(why) => {
                        let reason = format!("nobody can decide step {position} ({}): {why}", step.name);
                        self.close_request(tx, request, TypeRequestStatus::Failed, Some(&reason), None, now).await?;
                        return Ok(Started::Closed);
                    }
                };
                let deadline = deadline.as_ref().map(|d| Deadline {
                    due_at: now + TimeDelta::milliseconds(d.after_ms),
                    remind_every_ms: d.reminder.as_ref().map(|(_, ms)| *ms),
                    on_timeout: match &d.on_timeout {
                        OnTimeout::Deny => TimeoutAction::Deny,
                        OnTimeout::Approve => TimeoutAction::Approve,
                        // Escalating to the requester would hand them their own approval.
                        OnTimeout::Escalate(to) if excluded.contains(to) => TimeoutAction::Deny,
                        OnTimeout::Escalate(to) => TimeoutAction::Escalate { to: to.clone() },
                    },
                });
                let due_at = deadline.as_ref().map(|d| d.due_at);
                let item = NewInboxItem {
                    kind: WorkKind::Approval,
                    subject: InboxSubject::Request { request_id: id.to_owned(), step: position },
                    title: format!("{}: {}", request.request_type_name, request.subject),
                    description: Some(self.describe(tx, request, &step.name).await?),
                    details: self.item_details(tx, request, position, step).await?,
                    assignees: approvers.clone(),
                    minimum_approvals: 1,
                    deadline,
                    excluded,
                };
                let item_id = self.open_inbox_item(tx, &item, now).await?;
                tx.start_step(id, position, StepStatus::Pending, Some(&item_id), None, now).await?;
                let detail = json!({"name": step.name, "approvers": approvers, "approver": approver_json(approver),
                                    "inboxItemId": item_id, "dueAt": due_at});
                tx.append_timeline(id, "APPROVAL_REQUESTED", None, Some(position), &detail, now).await?;
                Ok(Started::Waiting)
            }
            StepKind::Task { title, description, mark_done_automatically: true } => {
                let end = StepEnd::with(StepStatus::Completed);
                tx.end_step(id, position, &end, now).await?;
                let detail = json!({"name": step.name, "title": title, "description": description,
                                    "automatically": true});
                tx.append_timeline(id, "TASK_COMPLETED", None, Some(position), &detail, now).await?;
                Ok(Started::Done)
            }
            StepKind::Task { title, description, .. } => {
                let Some(assignee) = request.assignee_id.clone() else {
                    let reason = format!("step {position} ({}) has no assignee to do it", step.name);
                    self.close_request(tx, request, TypeRequestStatus::Failed, Some(&reason), None, now).await?;
                    return Ok(Started::Closed);
                };
                let item = NewInboxItem {
                    kind: WorkKind::Task,
                    subject: InboxSubject::Request { request_id: id.to_owned(), step: position },
                    title: format!("{title} ({}: {})", request.request_type_name, request.subject),
                    description: description.clone(),
                    details: self.item_details(tx, request, position, step).await?,
                    assignees: vec![assignee.clone()],
                    minimum_approvals: 1,
                    deadline: None,
                    excluded: Vec::new(),
                };
                let item_id = self.open_inbox_item(tx, &item, now).await?;
                tx.start_step(id, position, StepStatus::Pending, Some(&item_id), None, now).await?;
                let detail = json!({"name": step.name, "title": title, "assignee": assignee, "inboxItemId": item_id});
                tx.append_timeline(id, "TASK_OPENED", None, Some(position), &detail, now).await?;
                Ok(Started::Waiting)
            }
            StepKind::Grant { items } => self.grant(tx, request, position, step, items, now).await,
            StepKind::Workflow { workflow_id, fields, continue_on_error } => {
                let workflow = tx.workflow(workflow_id).await?;
                let workflow = match delegated(workflow.as_ref(), workflow_id) {
                    Ok(workflow) => workflow.clone(),
                    Err(why) => {
                        return self
                            .step_failed(tx, request, position, step, *continue_on_error, &why, None, now)
                            .await;
                    }
                };
                let steps = tx.request_steps(id).await?;
                let input = self.workflow_input(tx, request, &steps, fields).await?;
                let execution_id = self.engine.start(tx, &workflow, input.clone(), None).await?;
                tx.wait_for_execution(&execution_id, "REQUEST", id, "STEP", Some(position), now).await?;
                tx.start_step(id, position, StepStatus::Running, None, Some(&execution_id), now).await?;
                let detail = json!({"name": step.name, "workflow": {"id": workflow.id, "name": workflow.name},
                                    "executionId": execution_id, "input": redact(&input, &Value::Null)});
                tx.append_timeline(id, "WORKFLOW_STARTED", None, Some(position), &detail, now).await?;
                Ok(Started::Waiting)
            }
        }
    }

    /// The identities who may decide an approval now (never anyone in `excluded`), or why there are
    /// none.
    async fn approvers(
        &self,
        tx: &mut Tx,
        request: &TypeRequestRecord,
        approver: &Approver,
        excluded: &[String],
    ) -> crate::Result<std::result::Result<Vec<String>, String>> {
        let people = match approver {
            Approver::RequesterManager => {
                let target = tx.identity(&request.requested_for_id).await?;
                match target.and_then(|t| t.manager_id) {
                    Some(manager) => vec![manager.into_string()],
                    None => return Ok(Err("the person it is for has no manager".into())),
                }
            }
            Approver::User(id) => vec![id.clone()],
            Approver::Group(id) => tessera_store::AccessStore::members(tx, id).await?,
            Approver::Team(id) => match tx.team(id).await? {
                Some(team) => team.members.into_iter().map(|m| m.identity_id).collect(),
                None => return Ok(Err(format!("team {id} no longer exists"))),
            },
        };
        let mut known = Vec::with_capacity(people.len());
        let mut themselves = false;
        for id in people {
            if excluded.contains(&id) {
                themselves = true;
            } else if tx.identity(&id).await?.is_some() {
                known.push(id);
            }
        }
        match (known.is_empty(), themselves) {
            (false, _) => Ok(Ok(known)),
            (true, true) => Ok(Err(
                "its only approver is the person who asked for it or whom it is for, who may not approve their \
                 own request"
                    .into(),
            )),
            (true, false) => Ok(Err("none of its approvers exists".into())),
        }
    }

    /// Grants the step's items to the person the request is for, through Manage Access.
    async fn grant(
        &self,
        tx: &mut Tx,
        request: &TypeRequestRecord,
        position: i64,
        step: &Step,
        items: &[GrantItem],
        now: Timestamp,
    ) -> crate::Result<Started> {
        let definition = definition_of(request)?;
        let mut access = Vec::new();
        for item in items {
            let (kind, id) = match item {
                GrantItem::Catalog { kind, id } => (*kind, id.clone()),
                GrantItem::Answer(key) => {
                    let Some(value) = request.answers.get(key).and_then(Value::as_str) else { continue };
                    let list_type = match definition.question(key).map(|q| &q.kind) {
                        Some(super::definition::QuestionKind::Dropdown { list_id }) => {
                            tx.config_list(list_id).await?.map(|l| l.list_type)
                        }
                        _ => None,
                    };
                    match list_type.as_deref().and_then(grantable) {
                        Some(kind) => (kind, value.to_owned()),
                        None => {
                            let why = format!("the answer to `{key}` is not something to grant");
                            return self.step_failed(tx, request, position, step, false, &why, None, now).await;
                        }
                    }
                }
            };
            let catalog = CatalogKind::from(kind);
            // Checked before Manage Access runs, so a vanished item fails the request, not the transaction.
            if tx.object(catalog, &id).await?.is_none() {
                let why = format!("{kind} {id} no longer exists");
                return self.step_failed(tx, request, position, step, false, &why, None, now).await;
            }
            access.push(AccessItem { kind: kind.to_string(), id });
        }
        let requester = tx.identity(&request.requester_id).await?;
        let change = AccessChange {
            grant: true,
            identity_ids: vec![request.requested_for_id.clone()],
            items: access.clone(),
            requester: Some(json!({"type": "IDENTITY", "id": request.requester_id,
                                   "name": requester.map(|r| r.name)})),
            comments: Some(format!("{}: {}", request.request_type_name, request.subject)),
            action: "AccessRequest".into(),
            start_at: None,
            remove_at: None,
            actor: format!("request:{}", request.id),
        };
        let outcome =
            if access.is_empty() { Default::default() } else { self.manage_access_in(tx, &change, now).await? };
        let output = outcome.to_json();
        let end = StepEnd { output: Some(&output), ..StepEnd::with(StepStatus::Completed) };
        tx.end_step(&request.id, position, &end, now).await?;
        let granted: Vec<Value> = access.iter().map(|a| json!({"type": a.kind, "id": a.id})).collect();
        let detail = json!({"name": step.name, "items": granted, "to": request.requested_for_id,
                            "trackingNumbers": outcome.tracking_numbers, "skipped": outcome.skipped});
        tx.append_timeline(&request.id, "ACCESS_GRANTED", None, Some(position), &detail, now).await?;
        Ok(Started::Done)
    }

    /// Ends a step FAILED; the request goes on when the step continues on error, else ends FAILED.
    #[allow(clippy::too_many_arguments)]
    async fn step_failed(
        &self,
        tx: &mut Tx,
        request: &TypeRequestRecord,
        position: i64,
        step: &Step,
        continue_on_error: bool,
        why: &str,
        output: Option<&Value>,
        now: Timestamp,
    ) -> crate::Result<Started> {
        let end = StepEnd { comment: Some(why), output, ..StepEnd::with(StepStatus::Failed) };
        tx.end_step(&request.id, position, &end, now).await?;
        let detail = json!({"name": step.name, "error": why, "continueOnError": continue_on_error});
        tx.append_timeline(&request.id, "STEP_FAILED", None, Some(position), &detail, now).await?;
        if continue_on_error {
            return Ok(Started::Done);
        }
        let reason = format!("step {position} ({}) failed: {why}", step.name);
        self.close_request(tx, request, TypeRequestStatus::Failed, Some(&reason), None, now).await?;
        Ok(Started::Closed)
    }

    /// A request type's approval or task was closed (by a person or by its deadline).
    pub(crate) async fn request_step_closed(
        &self,
        tx: &mut Tx,
        item: &InboxItemRecord,
        now: Timestamp,
    ) -> crate::Result<()> {
        let Some(position) = item.subject_ref.as_deref().and_then(|s| s.trim().parse::<i64>().ok()) else {
            return Ok(());
        };
        let Some(request) = tx.lock_type_request(&item.subject_id).await? else { return Ok(()) };
        let Some(row) = self.current_row(tx, &request, position).await? else { return Ok(()) };
        if row.inbox_item_id.as_deref() != Some(item.id.as_str()) || row.status != StepStatus::Pending {
            return Ok(());
        }
        let definition = definition_of(&request)?;
        let Some(step) = definition.steps.get(position as usize) else { return Ok(()) };
        let by = item.decided_by.as_deref();
        let comment = item.decision_comment.as_deref();
        let status = match (item.kind, item.status) {
            (WorkKind::Approval, WorkStatus::Approved | WorkStatus::Denied)
            | (WorkKind::Task, WorkStatus::Completed)
            | (_, WorkStatus::Expired) => StepStatus::of_work(item.status),
            _ => None,
        };
        let Some(status) = status else { return Ok(()) };
        let end = StepEnd { status, decided_by: by, comment, output: Some(&item.output) };
        if !tx.end_step(&request.id, position, &end, now).await? {
            return Ok(());
        }
        let kind = match (item.kind, item.status) {
            (_, WorkStatus::Expired) => "STEP_EXPIRED",
            (WorkKind::Approval, _) => "APPROVAL_DECIDED",
            _ => "TASK_COMPLETED",
        };
        let detail = json!({"name": step.name, "decision": status, "comment": comment, "inboxItemId": item.id,
                            "byDeadline": by.is_none()});
        tx.append_timeline(&request.id, kind, by, Some(position), &detail, now).await?;
        tx.audit(
            "system",
            "request.step",
            "request",
            &request.id,
            &json!({"step": position, "status": status, "by": by}),
            now,
        )
        .await?;
        match status {
            StepStatus::Approved | StepStatus::Completed => self.advance(tx, &request, position, now).await,
            _ => {
                let who = match by {
                    Some(id) => tx.identity(id).await?.map(|i| i.name).unwrap_or_else(|| id.to_owned()),
                    None => "its deadline".into(),
                };
                let reason = match (status, comment) {
                    (StepStatus::Denied, Some(c)) => {
                        format!("step {position} ({}) was denied by {who}: {c}", step.name)
                    }
                    (StepStatus::Denied, None) => format!("step {position} ({}) was denied by {who}", step.name),
                    _ => format!("step {position} ({}) expired undecided", step.name),
                };
                let closed =
                    if item.kind == WorkKind::Task { TypeRequestStatus::Failed } else { TypeRequestStatus::Denied };
                self.close_request(tx, &request, closed, Some(&reason), by, now).await?;
                Ok(())
            }
        }
    }

    /// A request type's delegated workflow ended.
    pub(crate) async fn request_workflow_ended(
        &self,
        tx: &mut Tx,
        waiter: &ExecutionWaiter,
        outcome: &Outcome,
        now: Timestamp,
    ) -> crate::Result<()> {
        let Some(position) = waiter.position else { return Ok(()) };
        let Some(request) = tx.lock_type_request(&waiter.subject_id).await? else { return Ok(()) };
        let Some(row) = self.current_row(tx, &request, position).await? else { return Ok(()) };
        if row.execution_id.as_deref() != Some(outcome.execution_id.as_str()) || row.status != StepStatus::Running {
            return Ok(());
        }
        let definition = definition_of(&request)?;
        let Some(step) = definition.steps.get(position as usize) else { return Ok(()) };
        let continue_on_error = matches!(step.kind, StepKind::Workflow { continue_on_error: true, .. });
        let output = redact(&outcome.output, &Value::Null);
        let detail = json!({"name": step.name, "executionId": outcome.execution_id, "status": outcome.status,
                            "error": outcome.error, "output": output});
        tx.append_timeline(&request.id, "WORKFLOW_ENDED", None, Some(position), &detail, now).await?;
        tx.audit(
            "system",
            "request.step",
            "request",
            &request.id,
            &json!({"step": position, "execution": outcome.execution_id, "status": outcome.status}),
            now,
        )
        .await?;
        if outcome.succeeded {
            let end = StepEnd { output: Some(&output), ..StepEnd::with(StepStatus::Completed) };
            if tx.end_step(&request.id, position, &end, now).await? {
                self.advance(tx, &request, position, now).await?;
            }
            return Ok(());
        }
        let why = format!(
            "workflow execution {} ended {}{}",
            outcome.execution_id,
            outcome.status,
            outcome.error.as_deref().map(|e| format!(": {e}")).unwrap_or_default()
        );
        match self.step_failed(tx, &request, position, step, continue_on_error, &why, Some(&output), now).await? {
            Started::Done => self.advance(tx, &request, position, now).await,
            _ => Ok(()),
        }
    }

    /// The step row of a pending request at its current step `position`, or `None` for a stale call.
    async fn current_row(
        &self,
        tx: &mut Tx,
        request: &TypeRequestRecord,
        position: i64,
    ) -> crate::Result<Option<RequestStepRecord>> {
        if request.status != TypeRequestStatus::Pending || request.current_step != position {
            return Ok(None);
        }
        Ok(tx.request_steps(&request.id).await?.into_iter().find(|s| s.position == position))
    }

    /// Moves past a finished step and runs what follows.
    async fn advance(
        &self,
        tx: &mut Tx,
        request: &TypeRequestRecord,
        position: i64,
        now: Timestamp,
    ) -> crate::Result<()> {
        if tx.move_to_step(&request.id, position, position + 1, now).await? {
            self.run_from(tx, request, position + 1, now).await?;
        }
        Ok(())
    }

    /// Ends a PENDING request: its unfinished steps, open inbox items and running workflows stop,
    /// the timeline and audit log say so, and `tessera:request-closed` is published. False when it
    /// had already ended.
    async fn close_request(
        &self,
        tx: &mut Tx,
        request: &TypeRequestRecord,
        status: TypeRequestStatus,
        reason: Option<&str>,
        actor: Option<&str>,
        now: Timestamp,
    ) -> crate::Result<bool> {
        if !tx.close_type_request(&request.id, status, reason, now).await? {
            return Ok(false);
        }
        let steps = if status == TypeRequestStatus::Cancelled { StepStatus::Cancelled } else { StepStatus::Skipped };
        tx.end_open_steps(&request.id, steps, now).await?;
        self.cancel_inbox_items(tx, WorkSubject::Request, &request.id, now).await?;
        for waiter in tx.waiters_of("REQUEST", &request.id).await? {
            self.engine.cancel(tx, &waiter.execution_id, &format!("request {} ended {status}", request.id)).await?;
        }
        tx.append_timeline(&request.id, status.as_str(), actor, None, &json!({"reason": reason}), now).await?;
        let requester = tx.identity(&request.requester_id).await?;
        let target = tx.identity(&request.requested_for_id).await?;
        let payload = json!({
            "requestId": request.id,
            "requestType": {"id": request.request_type_id, "name": request.request_type_name},
            "subject": request.subject,
            "requester": person(requester.as_ref()),
            "requestedFor": person(target.as_ref()),
            "status": status,
            "reason": reason,
        });
        tx.publish(REQUEST_CLOSED, &payload, now).await?;
        let subject = format!("Your request is {}: {}", status.as_str().to_lowercase(), request.subject);
        let body = format!(
            "Your {} request \"{}\" is {}{}.\n\nIts timeline: /tessera/v1/requests/{}/timeline",
            request.request_type_name,
            request.subject,
            status.as_str().to_lowercase(),
            reason.map(|r| format!(" ({r})")).unwrap_or_default(),
            request.id
        );
        self.notify(tx, &request.requester_id, &subject, &body, now).await?;
        tx.audit("system", "request.close", "request", &request.id, &json!({"status": status, "reason": reason}), now)
            .await?;
        Ok(true)
    }

    /// One line on what the request asks, for an inbox item.
    async fn describe(&self, tx: &mut Tx, request: &TypeRequestRecord, step: &str) -> crate::Result<String> {
        let requester = tx.identity(&request.requester_id).await?.map(|i| i.name).unwrap_or_default();
        let target = tx.identity(&request.requested_for_id).await?.map(|i| i.name).unwrap_or_default();
        let about = if request.requester_id == request.requested_for_id {
            format!("{requester} asks")
        } else {
            format!("{requester} asks, for {target},")
        };
        Ok(format!("{about} for {}: {}. Step: {step}.", request.request_type_name, request.subject))
    }

    /// What an inbox item shows of the request.
    async fn item_details(
        &self,
        tx: &mut Tx,
        request: &TypeRequestRecord,
        position: i64,
        step: &Step,
    ) -> crate::Result<Value> {
        let requester = tx.identity(&request.requester_id).await?;
        let target = tx.identity(&request.requested_for_id).await?;
        Ok(json!({
            "requestId": request.id,
            "requestType": {"id": request.request_type_id, "name": request.request_type_name},
            "subject": request.subject,
            "requester": person(requester.as_ref()),
            "requestedFor": person(target.as_ref()),
            "answers": request.answers,
            "answerLabels": request.answer_labels,
            "step": {"position": position, "name": step.name, "type": step.type_name()},
        }))
    }

    /// Whether `identity` may see a request: they raised it, it is for them, they are assigned it or
    /// belong to its team, or one of its inbox items is (or was) theirs.
    pub async fn may_see_request(&self, tx: &mut Tx, request: &TypeRequestRecord, identity: &str) -> Result<bool> {
        if request.requester_id == identity
            || request.requested_for_id == identity
            || request.assignee_id.as_deref() == Some(identity)
        {
            return Ok(true);
        }
        if tx.team(&request.team_id).await?.is_some_and(|t| t.members.iter().any(|m| m.identity_id == identity)) {
            return Ok(true);
        }
        let items = tx.inbox_items_of(WorkSubject::Request, &request.id).await?;
        Ok(items.iter().any(|i| i.assignees.iter().any(|a| a == identity) || i.decided_by.as_deref() == Some(identity)))
    }

    /// Cancels a pending request: the requester, the person it is for, a member of its team, or a
    /// service may. Open items are cancelled and running workflows asked to stop.
    pub async fn cancel_request(&self, id: &str, comment: Option<&str>, actor: Actor<'_>) -> Result<TypeRequestRecord> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        // Rows are locked in the order the engine's other paths take them — a running workflow's
        // execution, then the request's open inbox items, then the request — so that cancelling while
        // a workflow ends or an approver decides waits for it rather than deadlocking with it.
        for waiter in tx.waiters_of("REQUEST", id).await? {
            tx.lock_execution(&waiter.execution_id).await?;
        }
        for item in tx.inbox_items_of(WorkSubject::Request, id).await? {
            if item.status == WorkStatus::Pending {
                tx.lock_inbox_item(&item.id).await?;
            }
        }
        let request = tx.lock_type_request(id).await?.ok_or_else(|| Error::NotFound(format!("request {id}")))?;
        if let Some(identity) = actor.identity {
            let team = tx.team(&request.team_id).await?;
            let allowed = request.requester_id == identity
                || request.requested_for_id == identity
                || team.is_some_and(|t| t.members.iter().any(|m| m.identity_id == identity));
            if !allowed {
                return Err(Error::Forbidden(format!(
                    "identity {identity} may not cancel request {id}: only its requester, the person it is for, \
                     or its team may"
                )));
            }
        }
        let reason = match comment {
            Some(c) => format!("cancelled: {c}"),
            None => "cancelled".to_owned(),
        };
        if !self
            .close_request(&mut tx, &request, TypeRequestStatus::Cancelled, Some(&reason), actor.named(), now)
            .await?
        {
            return Err(Error::Conflict(format!(
                "request {id} is {} and cannot be cancelled",
                request.status.as_str().to_lowercase()
            )));
        }
        tx.audit(actor.audit, "request.cancel", "request", id, &json!({"comment": comment, "by": actor.identity}), now)
            .await?;
        let after = tx.type_request(id).await?.ok_or_else(|| Error::NotFound(format!("request {id}")))?;
        tx.commit().await?;
        self.notify_events();
        self.wake_workers();
        Ok(after)
    }

    /// Adds a comment to a request's timeline, by someone who may see it.
    pub async fn comment_on_request(&self, id: &str, comment: &str, actor: Actor<'_>) -> Result<i64> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let request = tx.lock_type_request(id).await?.ok_or_else(|| Error::NotFound(format!("request {id}")))?;
        if let Some(identity) = actor.identity
            && !self.may_see_request(&mut tx, &request, identity).await?
        {
            return Err(Error::Forbidden(format!("identity {identity} may not comment on request {id}")));
        }
        let seq = tx.append_timeline(id, "COMMENT", actor.named(), None, &json!({"comment": comment}), now).await?;
        tx.audit(actor.audit, "request.comment", "request", id, &json!({"seq": seq, "by": actor.identity}), now)
            .await?;
        tx.commit().await?;
        Ok(seq)
    }

    /// Whether `identity` is in the audience of a request type.
    pub async fn in_request_audience(&self, tx: &mut Tx, definition: &Definition, identity: &str) -> Result<bool> {
        submit::in_audience(tx, definition, identity).await
    }
}

/// Who may not approve a request: whoever asked for it and whomever it is for.
fn excluded(request: &TypeRequestRecord) -> Vec<String> {
    let mut excluded = vec![request.requester_id.clone()];
    if request.requested_for_id != request.requester_id {
        excluded.push(request.requested_for_id.clone());
    }
    excluded
}

fn approver_json(approver: &Approver) -> Value {
    match approver {
        Approver::RequesterManager => json!("REQUESTER_MANAGER"),
        Approver::User(id) => json!({"USER": id}),
        Approver::Group(id) => json!({"GROUP": id}),
        Approver::Team(id) => json!({"TEAM": id}),
    }
}
