//! An access request's approval rules, each checked on approvals in memory: who may decide, what a
//! decision changes, which level opens next, and what a level whose workflow is gone does.

use std::collections::HashSet;

use tessera_model::{ApproverKind, ItemStatus, Timestamp, WorkStatus};
use tessera_store::{ApprovalRecord, RequestItemRecord};

use super::{Ask, Change, Facts, SYSTEM, decide};
use crate::Error;

fn item() -> RequestItemRecord {
    RequestItemRecord {
        id: "item".into(),
        request_id: "req".into(),
        position: 0,
        kind: "ROLE".into(),
        object_id: "role".into(),
        name: "Role".into(),
        comment: None,
        remove_at: None,
        status: ItemStatus::Pending,
        tracking_number: None,
        modified_at: Timestamp::UNIX_EPOCH,
    }
}

fn level(level: i64, kind: ApproverKind, status: WorkStatus) -> ApprovalRecord {
    ApprovalRecord {
        id: format!("a{level}"),
        request_id: "req".into(),
        item_id: "item".into(),
        level,
        approver_kind: kind,
        approver_ref: (kind == ApproverKind::Workflow).then(|| format!("wf{level}")),
        candidates: vec!["mary".into()],
        status,
        decided_by: None,
        comment: None,
        decided_at: None,
        created_at: Timestamp::UNIX_EPOCH,
        modified_at: Timestamp::UNIX_EPOCH,
    }
}

fn ask(approve: bool) -> Ask<'static> {
    Ask { approval_id: "a1", approver: "mary", approve, comment: Some("ok"), candidates_only: true }
}

fn decided(approval: &str, status: WorkStatus, by: &str, comment: Option<&str>) -> Change {
    Change::Decide { approval: approval.into(), status, by: by.into(), comment: comment.map(Into::into) }
}

fn audit(actor: &str, approve: bool, approval: &str, level: i64, item_status: ItemStatus) -> Change {
    Change::Audit {
        actor: actor.into(),
        approve,
        approval: approval.into(),
        item: "item".into(),
        level,
        by: if actor == SYSTEM { SYSTEM.into() } else { "mary".into() },
        item_status,
    }
}

#[test]
fn the_last_level_approved_applies_the_item() {
    let approvals = [level(1, ApproverKind::Manager, WorkStatus::Pending)];
    let decision = decide(&approvals, &[item()], &ask(true), "api:mary", &Facts::default()).unwrap();
    assert_eq!(decision.item_status, ItemStatus::Approved);
    assert_eq!(
        decision.changes,
        [
            decided("a1", WorkStatus::Approved, "mary", Some("ok")),
            Change::Apply { item: "item".into() },
            audit("api:mary", true, "a1", 1, ItemStatus::Approved),
        ]
    );
}

#[test]
fn an_approval_with_a_later_level_opens_it_and_leaves_the_item_pending() {
    let approvals =
        [level(1, ApproverKind::Manager, WorkStatus::Pending), level(2, ApproverKind::Owner, WorkStatus::Waiting)];
    let decision = decide(&approvals, &[item()], &ask(true), "api:mary", &Facts::default()).unwrap();
    assert_eq!(decision.item_status, ItemStatus::Pending);
    assert_eq!(
        decision.changes,
        [
            decided("a1", WorkStatus::Approved, "mary", Some("ok")),
            Change::Open { item: "item".into(), level: 2 },
            audit("api:mary", true, "a1", 1, ItemStatus::Pending),
        ]
    );
}

#[test]
fn a_rejection_cancels_the_later_levels_and_rejects_the_item() {
    let approvals =
        [level(1, ApproverKind::Manager, WorkStatus::Pending), level(2, ApproverKind::Owner, WorkStatus::Waiting)];
    let decision = decide(&approvals, &[item()], &ask(false), "api:mary", &Facts::default()).unwrap();
    assert_eq!(decision.item_status, ItemStatus::Rejected);
    assert_eq!(
        decision.changes,
        [
            decided("a1", WorkStatus::Denied, "mary", Some("ok")),
            Change::CancelOpen { item: "item".into() },
            Change::Reject { item: "item".into() },
            audit("api:mary", false, "a1", 1, ItemStatus::Rejected),
        ]
    );
}

#[test]
fn a_level_decided_by_a_live_workflow_starts_it() {
    let approvals =
        [level(1, ApproverKind::Manager, WorkStatus::Pending), level(2, ApproverKind::Workflow, WorkStatus::Waiting)];
    let facts = Facts { live_workflows: HashSet::from(["wf2".to_owned()]) };
    let decision = decide(&approvals, &[item()], &ask(true), "api:mary", &facts).unwrap();
    assert_eq!(decision.item_status, ItemStatus::Pending);
    assert_eq!(
        decision.changes[2],
        Change::StartWorkflow { approval: "a2".into(), item: "item".into(), level: 2, workflow: "wf2".into() }
    );
}

#[test]
fn a_level_whose_workflow_is_gone_is_denied_by_tessera_and_audited_first() {
    let approvals =
        [level(1, ApproverKind::Manager, WorkStatus::Pending), level(2, ApproverKind::Workflow, WorkStatus::Waiting)];
    let decision = decide(&approvals, &[item()], &ask(true), "api:mary", &Facts::default()).unwrap();
    assert_eq!(decision.item_status, ItemStatus::Rejected, "the item ends rejected in the same decision");
    assert_eq!(
        decision.changes,
        [
            decided("a1", WorkStatus::Approved, "mary", Some("ok")),
            Change::Open { item: "item".into(), level: 2 },
            decided("a2", WorkStatus::Denied, SYSTEM, Some("the approval workflow wf2 is no longer enabled")),
            Change::CancelOpen { item: "item".into() },
            Change::Reject { item: "item".into() },
            audit(SYSTEM, false, "a2", 2, ItemStatus::Rejected),
            audit("api:mary", true, "a1", 1, ItemStatus::Pending),
        ]
    );
}

#[test]
fn only_a_candidate_decides_a_pending_level() {
    let approvals =
        [level(1, ApproverKind::Manager, WorkStatus::Pending), level(2, ApproverKind::Owner, WorkStatus::Waiting)];
    let stranger = Ask { approver: "lou", ..ask(true) };
    let refused = decide(&approvals, &[item()], &stranger, "api:lou", &Facts::default()).unwrap_err();
    assert!(matches!(refused, Error::Invalid(_)), "{refused:?}");
    // A workflow decides its own level without being a candidate.
    let workflow = Ask { approver: "workflow:run", candidates_only: false, ..ask(true) };
    assert!(decide(&approvals, &[item()], &workflow, "workflow:run", &Facts::default()).is_ok());

    let waiting = Ask { approval_id: "a2", ..ask(true) };
    let refused = decide(&approvals, &[item()], &waiting, "api:mary", &Facts::default()).unwrap_err();
    assert_eq!(
        refused.to_string(),
        Error::Conflict("approval a2 is waiting for an earlier level and cannot be decided".into()).to_string()
    );
    let done = [level(1, ApproverKind::Manager, WorkStatus::Approved)];
    let refused = decide(&done, &[item()], &ask(true), "api:mary", &Facts::default()).unwrap_err();
    assert!(refused.to_string().contains("approval a1 is approved and cannot be decided"), "{refused}");
    let missing = decide(&[], &[item()], &ask(true), "api:mary", &Facts::default()).unwrap_err();
    assert!(matches!(missing, Error::NotFound(_)), "{missing:?}");
}
