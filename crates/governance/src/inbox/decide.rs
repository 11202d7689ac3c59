//! The inbox's decisions as pure functions, as restate's state machine decides invocations: from an
//! item as it stands, who acts and what they do (and the few facts the decision needs that the item
//! does not hold), to the changes to write and the people to tell. No database and no clock reads —
//! the time comes in — so every rule is tested here on its own; the shell in `inbox` loads, writes the
//! changes in one transaction (audit included) and hands the outcome on.

use chrono::TimeDelta;
use serde_json::{Value, json};
use tessera_model::Timestamp;
use tessera_store::InboxItemRecord;

use super::{InboxAction, InboxActor, WorkKind, WorkStatus};
use crate::{Error, Result};

/// What a decision needs beyond the item.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Facts {
    /// The acting assignee has already approved this (multi-approval) item.
    pub actor_approved: bool,
    /// The identity a reassignment or delegation names, as `(id, name)`, when it exists.
    pub target: Option<(String, String)>,
}

/// One change a decision makes.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// Counts the approver's approval (once per approver).
    CountApproval { approver: String },
    /// Closes the item; its outcome goes to what waits on it.
    Close { status: WorkStatus, comment: Option<String>, data: Value },
    /// Hands the item from each of `from` to `to`.
    HandOver { from: Vec<String>, to: String, delegated: bool },
    /// Adds an assignee (an escalation).
    AddAssignee { identity: String },
    /// Sets the deadline fields.
    Reschedule { due_at: Option<Timestamp>, next_reminder_at: Option<Timestamp>, timeout_action: Option<String> },
    /// Records what was said or done.
    Activity { kind: &'static str, detail: Value },
    /// Emails a person about the item.
    Notify { to: String, subject: String, body: String },
}

/// What a person's action on an item changes, or why it is refused.
pub fn act(item: &InboxItemRecord, actor: &InboxActor<'_>, action: &InboxAction, facts: &Facts) -> Result<Vec<Change>> {
    let id = &item.id;
    let assigned = actor.identity.is_some_and(|me| item.assignees.iter().any(|a| a == me));
    let may = match action {
        InboxAction::Comment { .. } | InboxAction::Reassign { .. } => assigned || actor.admin,
        _ => assigned,
    };
    if !may {
        return Err(Error::Forbidden(match actor.identity {
            Some(me) => format!("identity {me} is not assigned inbox item {id}"),
            None => format!("acting on inbox item {id} needs a token bound to one of its assignees"),
        }));
    }
    if item.status != WorkStatus::Pending && !matches!(action, InboxAction::Comment { .. }) {
        return Err(Error::Conflict(format!(
            "inbox item {id} is {} and cannot be acted on",
            item.status.as_str().to_lowercase()
        )));
    }
    let deciding = matches!(action, InboxAction::Approve { .. } | InboxAction::Deny { .. });
    if deciding && item.kind != WorkKind::Approval {
        return Err(Error::invalid(format!(
            "inbox item {id} is a {}; complete it instead of deciding it",
            item.kind.as_str().to_lowercase()
        )));
    }
    if matches!(action, InboxAction::Complete { .. }) && item.kind == WorkKind::Approval {
        return Err(Error::invalid(format!("inbox item {id} is an approval; approve or deny it")));
    }
    let by = actor.identity;
    let said =
        |comment: &Option<String>| Change::Activity { kind: action.label(), detail: json!({"comment": comment}) };
    let changes = match action {
        InboxAction::Approve { comment } => {
            let approver = by.unwrap_or_default();
            if facts.actor_approved {
                return Err(Error::Conflict(format!("identity {approver} has already approved inbox item {id}")));
            }
            let mut changes = vec![Change::CountApproval { approver: approver.to_owned() }, said(comment)];
            // The row is locked while this is decided, so its count is the count.
            if item.approvals + 1 >= item.minimum_approvals {
                changes.push(Change::Close {
                    status: WorkStatus::Approved,
                    comment: comment.clone(),
                    data: Value::Null,
                });
            }
            changes
        }
        InboxAction::Deny { comment } => vec![
            said(comment),
            Change::Close { status: WorkStatus::Denied, comment: comment.clone(), data: Value::Null },
        ],
        InboxAction::Complete { comment, data } => {
            if item.kind == WorkKind::Form && !data.is_object() {
                return Err(Error::invalid("a form is submitted with its data as a JSON object"));
            }
            vec![
                said(comment),
                Change::Close { status: WorkStatus::Completed, comment: comment.clone(), data: data.clone() },
            ]
        }
        InboxAction::Comment { comment } => {
            if comment.trim().is_empty() {
                return Err(Error::invalid_at("/comment", "write something"));
            }
            vec![Change::Activity { kind: action.label(), detail: json!({"comment": comment}) }]
        }
        InboxAction::Reassign { to, comment } | InboxAction::Delegate { to, comment } => {
            // An approval counted stays counted: handing it on would let it be counted again.
            if let Some(own) = by.filter(|_| assigned && facts.actor_approved) {
                return Err(Error::Conflict(format!(
                    "identity {own} has already approved inbox item {id} and cannot hand it on"
                )));
            }
            let (target, name) = facts
                .target
                .clone()
                .ok_or_else(|| Error::invalid_at("/to", format!("no identity has the id `{to}`")))?;
            if item.excluded.contains(&target) {
                return Err(Error::invalid_at("/to", format!("{name} may not act on this item: it is about them")));
            }
            if item.assignees.contains(&target) {
                return Err(Error::invalid_at("/to", format!("{name} is already assigned this item")));
            }
            // An administrator who is not an assignee reassigns the item from every assignee.
            let from: Vec<String> = match by.filter(|_| assigned) {
                Some(own) => vec![own.to_owned()],
                None => item.assignees.clone(),
            };
            let body = format!(
                "{}\n\n{} handed this to you{}.",
                describe(item),
                by.unwrap_or("An administrator"),
                comment.as_ref().map(|c| format!(": {c}")).unwrap_or_default()
            );
            vec![
                Change::HandOver {
                    from: from.clone(),
                    to: target.clone(),
                    delegated: matches!(action, InboxAction::Delegate { .. }),
                },
                Change::Activity {
                    kind: action.label(),
                    detail: json!({"from": from, "to": target, "comment": comment}),
                },
                Change::Notify { to: target, subject: format!("Assigned to you: {}", item.title), body },
            ]
        }
    };
    Ok(changes)
}

/// Who an escalation goes to, as the shell found them.
#[derive(Debug, Clone, PartialEq)]
pub enum Escalation {
    /// Nobody: no identity has the key the item names (or it names none).
    Nobody,
    /// The identity it names, and whoever stands in for them now.
    To { target: String, stand_in: String },
}

/// What is due on an item at `now`: nothing (`None`), a reminder, or its deadline's action. An
/// escalation needs to know who it goes to (`escalation`, asked of the shell only when due).
pub fn on_deadline(
    item: &InboxItemRecord,
    now: Timestamp,
    escalation: impl FnOnce() -> Escalation,
) -> Option<Vec<Change>> {
    let passed = item.due_at.is_some_and(|at| at <= now);
    let reminder_due = item.next_reminder_at.is_some_and(|at| at <= now);
    if item.status != WorkStatus::Pending || !(passed || reminder_due) {
        return None;
    }
    if !passed {
        let next = item
            .remind_every_ms
            .map(|every| now + TimeDelta::milliseconds(every))
            .filter(|at| item.due_at.is_none_or(|d| *at < d));
        let mut changes = vec![
            Change::Reschedule {
                due_at: item.due_at,
                next_reminder_at: next,
                timeout_action: item.timeout_action.clone(),
            },
            Change::Activity { kind: "REMIND", detail: json!({"assignees": item.assignees}) },
        ];
        for assignee in &item.assignees {
            let subject = format!("Reminder: {}", item.title);
            changes.push(Change::Notify { to: assignee.clone(), subject, body: describe(item) });
        }
        return Some(changes);
    }
    let action = item.timeout_action.as_deref().unwrap_or("EXPIRE");
    let status = match (action, item.kind) {
        ("APPROVE", WorkKind::Approval) => WorkStatus::Approved,
        ("DENY", WorkKind::Approval) => WorkStatus::Denied,
        ("COMPLETE", WorkKind::Task | WorkKind::Form) => WorkStatus::Completed,
        ("ESCALATE", _) => return Some(escalate(item, now, escalation())),
        _ => WorkStatus::Expired,
    };
    Some(vec![
        Change::Activity { kind: "EXPIRE", detail: json!({"action": action, "dueAt": item.due_at}) },
        Change::Close {
            status,
            comment: Some(format!("closed at its deadline ({})", action.to_lowercase())),
            data: Value::Null,
        },
    ])
}

/// An escalation: the target joins the assignees and the item gets the same span again, after which
/// it expires; with nobody to escalate to (or only the person it is about), it expires at once.
fn escalate(item: &InboxItemRecord, now: Timestamp, escalation: Escalation) -> Vec<Change> {
    let expire_now = |detail: Value| {
        vec![
            Change::Activity { kind: "ESCALATE", detail },
            Change::Reschedule { due_at: Some(now), next_reminder_at: None, timeout_action: Some("EXPIRE".into()) },
        ]
    };
    let (target, to) = match escalation {
        Escalation::Nobody => {
            return expire_now(json!({"to": item.escalate_to, "error": "no such identity to escalate to"}));
        }
        Escalation::To { target, stand_in } => (target, stand_in),
    };
    if item.excluded.contains(&target) {
        return expire_now(json!({"to": target, "error": "the item is about them"}));
    }
    let span = item.due_at.map(|due| due.saturating_millis_since(item.created_at).max(60_000)).unwrap_or(86_400_000);
    vec![
        Change::AddAssignee { identity: to.clone() },
        Change::Reschedule {
            due_at: Some(now + TimeDelta::milliseconds(span)),
            next_reminder_at: None,
            timeout_action: Some("EXPIRE".into()),
        },
        Change::Activity { kind: "ESCALATE", detail: json!({"to": to}) },
        Change::Notify { to: to.clone(), subject: format!("Escalated to you: {}", item.title), body: describe(item) },
    ]
}

/// The output an item closed with `status` hands to what waits on it.
pub fn closing_output(
    item: &InboxItemRecord,
    status: WorkStatus,
    by: Option<&str>,
    comment: Option<&str>,
    data: &Value,
) -> Value {
    match item.kind {
        WorkKind::Approval => json!({
            "approved": status == WorkStatus::Approved,
            "decision": status,
            "comment": comment,
            "decidedBy": by.map(|id| json!({"type": "IDENTITY", "id": id})),
            "approvals": item.approvals,
            "expired": status == WorkStatus::Expired,
        }),
        WorkKind::Form => json!({
            "submitted": status == WorkStatus::Completed,
            "status": status,
            "formData": data,
            "submittedBy": by.map(|id| json!({"type": "IDENTITY", "id": id})),
        }),
        WorkKind::Task => json!({
            "completed": status == WorkStatus::Completed,
            "status": status,
            "comment": comment,
            "completedBy": by.map(|id| json!({"type": "IDENTITY", "id": id})),
            "data": data,
        }),
    }
}

/// The text of an email about an item.
pub fn describe(item: &InboxItemRecord) -> String {
    let mut text = item.title.clone();
    if let Some(description) = item.description.as_deref().filter(|d| !d.is_empty()) {
        text.push_str("\n\n");
        text.push_str(description);
    }
    if let Some(due) = item.due_at {
        text.push_str(&format!("\n\nDue {}.", due.to_datetime().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)));
    }
    text.push_str(&format!("\n\nOpen it in your inbox: /tessera/v1/inbox/{}", item.id));
    text
}

#[cfg(test)]
mod tests;
