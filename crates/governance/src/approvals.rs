//! An access request's approval decided as a pure function, as the inbox's decisions are: from the
//! request's approvals and items as they stand under its lock, the decision asked for, and the few
//! facts it needs (which approval workflows can still run), to the changes to write in order. No
//! database and no clock: every rule — who may decide, which level opens next, what a level whose
//! workflow is gone does — is tested here on its own. The shell (`requests`) loads, applies the
//! changes in one transaction and concludes the request.
//!
//! A level decided by a workflow that can no longer run is denied by Tessera at once (its comment
//! says why), so the chain of levels is followed here in a loop instead of by the shell calling
//! back into itself.

use std::collections::HashSet;

use tessera_model::{ApproverKind, ItemStatus, WorkStatus};
use tessera_store::{ApprovalRecord, RequestItemRecord};

use crate::{Error, Result};

/// Who decides for a level no workflow can decide any more.
pub const SYSTEM: &str = "system";

/// A decision asked of one approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ask<'a> {
    pub approval_id: &'a str,
    pub approver: &'a str,
    pub approve: bool,
    pub comment: Option<&'a str>,
    /// Whether the approver must be one of the approval's candidates (a person deciding); an
    /// approval workflow decides its own level without being one.
    pub candidates_only: bool,
}

/// What a decision needs beyond the request's approvals and items.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// The approval workflows (by id) that exist and are enabled.
    pub live_workflows: HashSet<String>,
}

/// One change a decision makes, in the order they are to be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Records an approval's decision.
    Decide { approval: String, status: WorkStatus, by: String, comment: Option<String> },
    /// Cancels the item's approvals that are still open or waiting.
    CancelOpen { item: String },
    /// Settles the item as rejected.
    Reject { item: String },
    /// Opens the item's next level.
    Open { item: String, level: i64 },
    /// Starts the approval workflow of a level just opened.
    StartWorkflow { approval: String, item: String, level: i64, workflow: String },
    /// Grants or revokes the item's access (the last level approved it).
    Apply { item: String },
    /// Audits one decision.
    Audit {
        actor: String,
        approve: bool,
        approval: String,
        item: String,
        level: i64,
        by: String,
        item_status: ItemStatus,
    },
}

/// The changes, and where the decided item stands after them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub changes: Vec<Change>,
    /// `Pending` (a later level is open now), `Approved` or `Rejected`.
    pub item_status: ItemStatus,
}

/// Decides `ask` on the request whose `approvals` and `items` these are, as `actor`.
pub fn decide(
    approvals: &[ApprovalRecord],
    items: &[RequestItemRecord],
    ask: &Ask<'_>,
    actor: &str,
    facts: &Facts,
) -> Result<Decision> {
    let id = ask.approval_id;
    let approval = approvals.iter().find(|a| a.id == id).ok_or_else(|| Error::NotFound(format!("approval {id}")))?;
    if ask.candidates_only && !approval.candidates.iter().any(|c| c == ask.approver) {
        return Err(Error::invalid(format!("identity {} is not an approver of approval {id}", ask.approver)));
    }
    if approval.status != WorkStatus::Pending {
        let stands = if approval.status == WorkStatus::Waiting {
            "waiting for an earlier level".to_owned()
        } else {
            approval.status.as_str().to_lowercase()
        };
        return Err(Error::Conflict(format!("approval {id} is {stands} and cannot be decided")));
    }
    let item = items
        .iter()
        .find(|i| i.id == approval.item_id)
        .ok_or_else(|| Error::NotFound(format!("requested item {}", approval.item_id)))?;

    let mut changes = Vec::new();
    // The audits of a chain are written innermost first, as each level's decision completes.
    let mut audits = Vec::new();
    let (mut level, mut approve, mut by, mut comment, mut who) =
        (approval, ask.approve, ask.approver.to_owned(), ask.comment.map(str::to_owned), actor.to_owned());
    let item_status = loop {
        let status = if approve { WorkStatus::Approved } else { WorkStatus::Denied };
        changes.push(Change::Decide { approval: level.id.clone(), status, by: by.clone(), comment: comment.clone() });
        let audit = |item_status| Change::Audit {
            actor: who.clone(),
            approve,
            approval: level.id.clone(),
            item: item.id.clone(),
            level: level.level,
            by: by.clone(),
            item_status,
        };
        if !approve {
            changes.push(Change::CancelOpen { item: item.id.clone() });
            changes.push(Change::Reject { item: item.id.clone() });
            audits.push(audit(ItemStatus::Rejected));
            break ItemStatus::Rejected;
        }
        let next = approvals
            .iter()
            .find(|a| a.item_id == item.id && a.level == level.level + 1 && a.status == WorkStatus::Waiting);
        let Some(next) = next else {
            changes.push(Change::Apply { item: item.id.clone() });
            audits.push(audit(ItemStatus::Approved));
            break ItemStatus::Approved;
        };
        changes.push(Change::Open { item: item.id.clone(), level: next.level });
        audits.push(audit(ItemStatus::Pending));
        if next.approver_kind != ApproverKind::Workflow {
            break ItemStatus::Pending;
        }
        let workflow = next.approver_ref.clone().unwrap_or_default();
        if facts.live_workflows.contains(&workflow) {
            changes.push(Change::StartWorkflow {
                approval: next.id.clone(),
                item: item.id.clone(),
                level: next.level,
                workflow,
            });
            break ItemStatus::Pending;
        }
        // No execution can decide the level: Tessera denies it, for want of the workflow.
        (level, approve, by, who) = (next, false, SYSTEM.to_owned(), SYSTEM.to_owned());
        comment = Some(format!("the approval workflow {workflow} is no longer enabled"));
    };
    changes.extend(audits.into_iter().rev());
    // The decided item stands where its chain ended; the first level's own outcome is only
    // `Pending` when a later level is open.
    Ok(Decision { changes, item_status })
}

#[cfg(test)]
mod tests;
