//! The inbox: what waits for a person. A workflow's approval or form step, and a request type's
//! approval or custom task, open an item for the identities who may act on it; a person approves,
//! denies, completes, comments, reassigns or delegates it; deadlines send reminders and, when they
//! pass, approve, deny, complete, expire or escalate the item. Closing an item hands its outcome to
//! what waits on it — the execution (as the step's output) or the request — in the same transaction.
//! Access request approvals and manual provisioning work items are inbox items too; acting on them
//! here follows their own rules (`requests`, `approval_deadlines`, `provisioning`).

use chrono::TimeDelta;
use serde_json::{Value, json};
use tessera_flow::interp::EffectId;
use tessera_model::Timestamp;
use tessera_store::{
    AccessStore, Closing, IdentityStore, InboxActivity, InboxItemRecord, InboxStore, SecurityStore, Tx,
};

pub mod decide;

use crate::{Error, Governance, Result};
pub use tessera_model::{WorkKind, WorkStatus, WorkSubject};

/// What waits for the item.
#[derive(Debug, Clone, PartialEq)]
pub enum InboxSubject {
    /// A workflow step: the effect the execution waits on.
    Execution { execution_id: String, effect: Value },
    /// A request type's step.
    Request { request_id: String, step: i64 },
}

/// What happens when a deadline passes with the item still open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimeoutAction {
    Approve,
    Deny,
    Complete,
    Expire,
    /// Adds `to` as an assignee and gives the item the same span again; it expires after that.
    Escalate {
        to: String,
    },
}

impl TimeoutAction {
    fn as_str(&self) -> &'static str {
        match self {
            TimeoutAction::Approve => "APPROVE",
            TimeoutAction::Deny => "DENY",
            TimeoutAction::Complete => "COMPLETE",
            TimeoutAction::Expire => "EXPIRE",
            TimeoutAction::Escalate { .. } => "ESCALATE",
        }
    }
}

/// When an item is due and what then.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deadline {
    pub due_at: Timestamp,
    /// Remind the assignees this often until the deadline.
    pub remind_every_ms: Option<i64>,
    pub on_timeout: TimeoutAction,
}

/// An item to open.
#[derive(Debug, Clone, PartialEq)]
pub struct NewInboxItem {
    pub kind: WorkKind,
    pub subject: InboxSubject,
    pub title: String,
    pub description: Option<String>,
    pub details: Value,
    /// Identity ids.
    pub assignees: Vec<String>,
    /// Approvals needed (1 for one approver's word); each assignee approves once.
    pub minimum_approvals: i64,
    pub deadline: Option<Deadline>,
    /// Who must not be assigned the item, even as a stand-in: the person it is about, so that nobody
    /// approves their own request.
    pub excluded: Vec<String>,
}

/// What a person does with an item.
#[derive(Debug, Clone, PartialEq)]
pub enum InboxAction {
    Approve {
        comment: Option<String>,
    },
    Deny {
        comment: Option<String>,
    },
    /// Completes a task, or submits a form with its data.
    Complete {
        comment: Option<String>,
        data: Value,
    },
    Comment {
        comment: String,
    },
    /// Hands the item to someone else for good.
    Reassign {
        to: String,
        comment: Option<String>,
    },
    /// Hands the item to someone else while away; the record keeps who delegated.
    Delegate {
        to: String,
        comment: Option<String>,
    },
}

impl InboxAction {
    fn label(&self) -> &'static str {
        match self {
            InboxAction::Approve { .. } => "APPROVE",
            InboxAction::Deny { .. } => "DENY",
            InboxAction::Complete { .. } => "COMPLETE",
            InboxAction::Comment { .. } => "COMMENT",
            InboxAction::Reassign { .. } => "REASSIGN",
            InboxAction::Delegate { .. } => "DELEGATE",
        }
    }
}

/// Who acts: an identity, and whether they administer the inbox (may reassign anyone's items).
#[derive(Debug, Clone, Copy)]
pub struct InboxActor<'a> {
    pub identity: Option<&'a str>,
    pub admin: bool,
    /// The audit actor (the API client or user).
    pub audit: &'a str,
}

fn new_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

impl Governance {
    /// Opens an item in `tx`, records its assignees (or who stands in for them), and queues an email
    /// to each of them. Nobody in `excluded` is assigned, not even as a stand-in.
    pub async fn open_inbox_item(&self, tx: &mut Tx, item: &NewInboxItem, now: Timestamp) -> Result<String> {
        let (subject_kind, subject_id, subject_ref) = match &item.subject {
            InboxSubject::Execution { execution_id, effect } => {
                (WorkSubject::Execution, execution_id.clone(), Some(effect.to_string()))
            }
            InboxSubject::Request { request_id, step } => {
                (WorkSubject::Request, request_id.clone(), Some(step.to_string()))
            }
        };
        // Whoever is away has named a stand-in: the item goes to them, recorded as delegated.
        let mut assignees: Vec<String> = Vec::with_capacity(item.assignees.len());
        let mut delegated = Vec::new();
        for assignee in item.assignees.iter().filter(|a| !item.excluded.contains(a)) {
            let (who, from) = self.stand_in(tx, assignee, now, &item.excluded).await?;
            if let Some(from) = from {
                delegated.push((who.clone(), from));
            }
            if !assignees.contains(&who) {
                assignees.push(who);
            }
        }
        assignees.sort();
        if assignees.is_empty() {
            return Err(Error::invalid(format!(
                "`{}` has nobody to act on it{}",
                item.title,
                if item.excluded.is_empty() { "" } else { " (the person it is about may not act on it)" }
            )));
        }
        let deadline = item.deadline.as_ref();
        let record = InboxItemRecord {
            id: new_id(),
            kind: item.kind,
            subject_kind,
            subject_id,
            subject_ref,
            title: item.title.clone(),
            description: item.description.clone(),
            details: item.details.clone(),
            status: WorkStatus::Pending,
            minimum_approvals: item.minimum_approvals.clamp(1, assignees.len() as i64),
            approvals: 0,
            due_at: deadline.map(|d| d.due_at),
            remind_every_ms: deadline.and_then(|d| d.remind_every_ms).filter(|ms| *ms > 0),
            next_reminder_at: deadline
                .and_then(|d| d.remind_every_ms.filter(|ms| *ms > 0).map(|ms| now + TimeDelta::milliseconds(ms)))
                .filter(|at| deadline.is_none_or(|d| *at < d.due_at)),
            timeout_action: deadline.map(|d| d.on_timeout.as_str().into()),
            escalate_to: deadline.and_then(|d| match &d.on_timeout {
                TimeoutAction::Escalate { to } => Some(to.clone()),
                _ => None,
            }),
            decided_by: None,
            decision_comment: None,
            decided_at: None,
            output: Value::Null,
            created_at: now,
            modified_at: now,
            assignees,
            excluded: item.excluded.clone(),
            level: None,
            route_kind: None,
            route_ref: None,
            about_id: item.excluded.first().cloned(),
        };
        tx.insert_inbox_item(&record).await?;
        self.inbox_activity(tx, &record.id, "OPEN", None, json!({"assignees": item.assignees}), now).await?;
        for (who, from) in delegated {
            tx.mark_inbox_delegated(&record.id, &who, &from).await?;
            let detail = json!({"from": [from], "to": who, "standing": true});
            self.inbox_activity(tx, &record.id, "DELEGATE", None, detail, now).await?;
        }
        let verb = match item.kind {
            WorkKind::Approval => "Approval needed",
            WorkKind::Task => "Task assigned to you",
            WorkKind::Form => "Form to fill in",
        };
        for assignee in &record.assignees {
            self.notify(tx, assignee, &format!("{verb}: {}", record.title), &decide::describe(&record), now).await?;
        }
        Ok(record.id)
    }

    /// Cancels the open items of a subject (a cancelled request, an ended execution).
    pub async fn cancel_inbox_items(
        &self,
        tx: &mut Tx,
        subject_kind: WorkSubject,
        subject_id: &str,
        now: Timestamp,
    ) -> Result<()> {
        for item in tx.inbox_items_of(subject_kind, subject_id).await? {
            let closing =
                Closing { status: WorkStatus::Cancelled, decided_by: None, comment: None, output: &Value::Null, now };
            if item.status == WorkStatus::Pending && tx.close_inbox_item(&item.id, &closing).await? {
                self.inbox_activity(tx, &item.id, "CANCEL", None, json!({}), now).await?;
            }
        }
        Ok(())
    }

    /// Acts on an item as `actor`; answers the item as it stands afterwards. Only an assignee decides,
    /// completes or delegates; an administrator may also reassign. Of two people closing an item at
    /// once, one does and the other gets [`Error::Conflict`].
    pub async fn act_on_inbox_item(
        &self,
        item_id: &str,
        actor: InboxActor<'_>,
        action: InboxAction,
    ) -> Result<InboxItemRecord> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let item =
            tx.lock_inbox_item(item_id).await?.ok_or_else(|| Error::NotFound(format!("inbox item {item_id}")))?;
        if matches!(item.subject_kind, WorkSubject::AccessRequest | WorkSubject::Plan)
            && !matches!(action, InboxAction::Comment { .. })
        {
            // SQLite has one connection: this transaction ends before the subject's own one begins.
            drop(tx);
            self.act_by_subject_rules(&item, actor, action).await?;
            let mut tx = self.store.begin().await?;
            let after =
                tx.inbox_item(item_id).await?.ok_or_else(|| Error::NotFound(format!("inbox item {item_id}")))?;
            tx.commit().await?;
            return Ok(after);
        }
        // The facts the decision needs beyond the item: the actor's own approval, and who a hand-over
        // goes to.
        let mut facts = decide::Facts::default();
        if let Some(me) = actor.identity {
            facts.actor_approved = tx.inbox_decision(item_id, me).await?.is_some();
        }
        if let InboxAction::Reassign { to, .. } | InboxAction::Delegate { to, .. } = &action {
            facts.target = tx.identity(to).await?.map(|identity| (identity.id.into_string(), identity.name));
        }
        let changes = decide::act(&item, &actor, &action, &facts)?;
        self.apply_changes(&mut tx, &item, actor.identity, changes, now).await?;
        let label = action.label();
        tx.audit(
            actor.audit,
            &format!("inbox.{}", label.to_lowercase()),
            "inbox-item",
            item_id,
            &json!({"by": actor.identity}),
            now,
        )
        .await?;
        let after = tx.inbox_item(item_id).await?.ok_or_else(|| Error::NotFound(format!("inbox item {item_id}")))?;
        tx.commit().await?;
        self.notify_events();
        Ok(after)
    }

    /// Writes a decision's changes in the caller's transaction, in order. `by` is who acted (none for
    /// a deadline).
    async fn apply_changes(
        &self,
        tx: &mut Tx,
        item: &InboxItemRecord,
        by: Option<&str>,
        changes: Vec<decide::Change>,
        now: Timestamp,
    ) -> Result<()> {
        let mut item = item.clone();
        for change in changes {
            match change {
                decide::Change::CountApproval { approver } => {
                    item.approvals = tx.count_inbox_approval(&item.id, &approver, now).await?.ok_or_else(|| {
                        Error::Conflict(format!("identity {approver} has already approved inbox item {}", item.id))
                    })?;
                }
                decide::Change::Close { status, comment, data } => {
                    self.close_item(tx, &item, status, by, comment.as_deref(), &data, now).await?;
                }
                decide::Change::HandOver { from, to, delegated } => {
                    for old in &from {
                        tx.replace_inbox_assignee(&item.id, old, &to, delegated, now).await?;
                    }
                }
                decide::Change::AddAssignee { identity } => tx.add_inbox_assignee(&item.id, &identity).await?,
                decide::Change::Reschedule { due_at, next_reminder_at, timeout_action } => {
                    tx.reschedule_inbox_item(&item.id, due_at, next_reminder_at, timeout_action.as_deref(), now)
                        .await?;
                }
                decide::Change::Activity { kind, detail } => {
                    self.inbox_activity(tx, &item.id, kind, by, detail, now).await?;
                }
                decide::Change::Notify { to, subject, body } => self.notify(tx, &to, &subject, &body, now).await?,
            }
        }
        Ok(())
    }

    /// An access approval's or a work item's action taken in the inbox, by the rules of its subject:
    /// approving, denying and forwarding an approval as ISC's approval paths do, completing a work
    /// item as `/v3/work-items` does.
    async fn act_by_subject_rules(
        &self,
        item: &InboxItemRecord,
        actor: InboxActor<'_>,
        action: InboxAction,
    ) -> Result<()> {
        let refuse = |what: &str| {
            Err(Error::invalid(format!(
                "inbox item {} is {what}; {}",
                item.id,
                match item.subject_kind {
                    WorkSubject::AccessRequest => "approve, deny or reassign it",
                    _ => "complete it (`{\"failed\": true}` in its data when it could not be done)",
                }
            )))
        };
        // The inbox's rule first: only an assignee acts (an administrator may also hand an item on).
        let assigned = actor.identity.filter(|id| item.assignees.iter().any(|a| a == id));
        let approver = || {
            assigned.ok_or_else(|| match actor.identity {
                Some(id) => Error::Forbidden(format!("identity {id} is not assigned inbox item {}", item.id)),
                None => {
                    Error::Forbidden(format!("acting on inbox item {} needs a token bound to an assignee", item.id))
                }
            })
        };
        match (item.subject_kind, action) {
            (WorkSubject::AccessRequest, InboxAction::Approve { comment }) => {
                let who = approver()?;
                self.decide_access_approval(&item.id, who, true, comment.as_deref(), actor.audit).await?;
            }
            (WorkSubject::AccessRequest, InboxAction::Deny { comment }) => {
                let who = approver()?;
                self.decide_access_approval(&item.id, who, false, comment.as_deref(), actor.audit).await?;
            }
            (
                WorkSubject::AccessRequest,
                InboxAction::Reassign { to, comment } | InboxAction::Delegate { to, comment },
            ) => {
                // Through the inbox only an approver forwards; an administrator uses ISC's forward,
                // which asks for the approvals' own administration.
                approver()?;
                let comment = comment.unwrap_or_default();
                self.forward_access_approval(&item.id, actor.identity, false, &to, &comment, actor.audit).await?;
            }
            (WorkSubject::AccessRequest, _) => return refuse("an access request approval"),
            (_, InboxAction::Complete { comment, data }) => {
                // Only an assignee completes it here (`/v3/work-items` serves work-item administrators),
                // and one routed to a group only while they are in it.
                let who = approver()?;
                let mut tx = self.store.begin().await?;
                let holds = match (item.route_kind.as_deref(), item.route_ref.as_deref()) {
                    (Some("GOVERNANCE_GROUP"), Some(group)) => tx.members(group).await?.iter().any(|m| m == who),
                    _ => true,
                };
                drop(tx);
                if !holds {
                    return Err(Error::Forbidden(format!(
                        "identity {who} is no longer in the group work item {} is routed to",
                        item.id
                    )));
                }
                let failed = data.get("failed").and_then(Value::as_bool).unwrap_or(false);
                let account = data.get("accountId").and_then(Value::as_str);
                let by = actor.identity.unwrap_or(actor.audit);
                self.complete_work_item(&item.id, !failed, by, comment.as_deref(), account).await?;
            }
            (_, _) => return refuse("a manual provisioning work item"),
        }
        Ok(())
    }

    /// Sends an item's due reminder or applies its passed deadline; false when it is no longer due
    /// (another node got there first).
    pub(crate) async fn apply_deadline(&self, id: &str, now: Timestamp) -> Result<bool> {
        let mut tx = self.store.begin().await?;
        let Some(item) = tx.lock_inbox_item(id).await? else { return Ok(false) };
        // Who an escalation goes to is looked up first, since the decision is pure: by id, name or
        // alias, and then whoever stands in for them.
        let mut escalation = decide::Escalation::Nobody;
        if item.timeout_action.as_deref() == Some("ESCALATE")
            && item.due_at.is_some_and(|at| at <= now)
            && let Some(key) = item.escalate_to.as_deref()
            && let Some(target) = tx.identity_by_key(key).await?
        {
            let (stand_in, _) = self.stand_in(&mut tx, &target.id, now, &item.excluded).await?;
            escalation = decide::Escalation::To { target: target.id.into(), stand_in };
        }
        let Some(changes) = decide::on_deadline(&item, now, || escalation) else { return Ok(false) };
        self.apply_changes(&mut tx, &item, None, changes, now).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Closes an item and hands its outcome to what waits on it.
    #[allow(clippy::too_many_arguments)]
    async fn close_item(
        &self,
        tx: &mut Tx,
        item: &InboxItemRecord,
        status: WorkStatus,
        by: Option<&str>,
        comment: Option<&str>,
        data: &Value,
        now: Timestamp,
    ) -> Result<()> {
        let output = decide::closing_output(item, status, by, comment, data);
        let closing = Closing { status, decided_by: by, comment, output: &output, now };
        if !tx.close_inbox_item(&item.id, &closing).await? {
            return Err(Error::Conflict(format!("inbox item {} was closed meanwhile", item.id)));
        }
        let closed =
            tx.inbox_item(&item.id).await?.ok_or_else(|| Error::NotFound(format!("inbox item {}", item.id)))?;
        match closed.subject_kind {
            WorkSubject::Execution => {
                let effect: EffectId = serde_json::from_str(closed.subject_ref.as_deref().unwrap_or("null"))?;
                self.engine.answer(tx, &closed.subject_id, effect, output, now).await?;
            }
            WorkSubject::Request => self.request_step_closed(tx, &closed, now).await?,
            WorkSubject::AccessRequest | WorkSubject::Plan => {}
        }
        Ok(())
    }

    async fn inbox_activity(
        &self,
        tx: &mut Tx,
        item_id: &str,
        kind: &str,
        actor: Option<&str>,
        detail: Value,
        now: Timestamp,
    ) -> Result<()> {
        let activity = InboxActivity {
            id: new_id(),
            item_id: item_id.into(),
            kind: kind.into(),
            actor_id: actor.map(str::to_owned),
            detail,
            created_at: now,
        };
        tx.add_inbox_activity(&activity).await?;
        Ok(())
    }

    /// The identities a reference names: an identity id, a governance group's members, or a list of
    /// either (`"id"`, `{"type": "IDENTITY"|"GOVERNANCE_GROUP", "id": …}`); errors name what is unknown.
    pub async fn resolve_people(&self, tx: &mut Tx, reference: &Value) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let items: Vec<&Value> = match reference {
            Value::Array(items) => items.iter().collect(),
            other => vec![other],
        };
        for entry in items {
            let (kind, id) = match entry {
                Value::String(id) => ("IDENTITY", id.as_str()),
                Value::Object(map) => (
                    map.get("type").and_then(Value::as_str).unwrap_or("IDENTITY"),
                    map.get("id").or_else(|| map.get("value")).and_then(Value::as_str).unwrap_or_default(),
                ),
                Value::Null => continue,
                other => return Err(Error::invalid(format!("`{other}` names no identity or group"))),
            };
            match kind.to_ascii_uppercase().as_str() {
                "IDENTITY" => {
                    let identity = tx.identity_by_key(id).await?;
                    out.push(
                        identity.ok_or_else(|| Error::invalid(format!("no identity is `{id}`")))?.id.into_string(),
                    );
                }
                "GOVERNANCE_GROUP" | "WORKGROUP" => {
                    let members = tx.members(id).await?;
                    if members.is_empty() {
                        return Err(Error::invalid(format!("governance group `{id}` has no members")));
                    }
                    out.extend(members);
                }
                other => {
                    return Err(Error::invalid(format!("approver type `{other}` is not IDENTITY or GOVERNANCE_GROUP")));
                }
            }
        }
        out.sort();
        out.dedup();
        Ok(out)
    }
}
