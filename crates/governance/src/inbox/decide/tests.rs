//! The inbox's rules, each checked on an item in memory: who may act, what each action changes, and
//! what a deadline does.

use serde_json::{Value, json};
use tessera_model::{Timestamp, WorkKind, WorkStatus, WorkSubject};
use tessera_store::InboxItemRecord;

use super::{Change, Escalation, Facts, act, on_deadline};
use crate::Error;
use crate::inbox::{InboxAction, InboxActor};

const HOUR: i64 = 3_600_000;

/// The instant `n` hours after the epoch.
fn hours(n: i64) -> Timestamp {
    Timestamp::from_millis(n * HOUR)
}

fn item(kind: WorkKind) -> InboxItemRecord {
    InboxItemRecord {
        id: "item".into(),
        kind,
        subject_kind: WorkSubject::Execution,
        subject_id: "run".into(),
        subject_ref: None,
        title: "Approve the laptop".into(),
        description: None,
        details: json!({}),
        status: WorkStatus::Pending,
        minimum_approvals: 1,
        approvals: 0,
        due_at: Some(hours(10)),
        remind_every_ms: Some(4 * HOUR),
        next_reminder_at: Some(hours(4)),
        timeout_action: Some("DENY".into()),
        escalate_to: None,
        decided_by: None,
        decision_comment: None,
        decided_at: None,
        output: Value::Null,
        created_at: Timestamp::UNIX_EPOCH,
        modified_at: Timestamp::UNIX_EPOCH,
        assignees: vec!["mary".into(), "olga".into()],
        excluded: vec!["ada".into()],
        level: None,
        route_kind: None,
        route_ref: None,
        about_id: Some("ada".into()),
    }
}

fn person(id: &str) -> InboxActor<'_> {
    InboxActor { identity: Some(id), admin: false, audit: "test" }
}

fn approve() -> InboxAction {
    InboxAction::Approve { comment: Some("fine".into()) }
}

fn closes(changes: &[Change]) -> Option<WorkStatus> {
    changes.iter().find_map(|c| match c {
        Change::Close { status, .. } => Some(*status),
        _ => None,
    })
}

#[test]
fn only_an_assignee_decides_and_only_while_pending() {
    let approval = item(WorkKind::Approval);
    let none = Facts::default();
    assert!(matches!(act(&approval, &person("eve"), &approve(), &none), Err(Error::Forbidden(_))));
    let admin = InboxActor { identity: None, admin: true, audit: "admin" };
    assert!(
        matches!(act(&approval, &admin, &approve(), &none), Err(Error::Forbidden(_))),
        "admins hand on, not decide"
    );
    let closed = InboxItemRecord { status: WorkStatus::Approved, ..approval.clone() };
    assert!(matches!(act(&closed, &person("mary"), &approve(), &none), Err(Error::Conflict(_))));
    let comment = InboxAction::Comment { comment: "late, but noted".into() };
    assert!(act(&closed, &person("mary"), &comment, &none).is_ok(), "a closed item still takes comments");
}

#[test]
fn one_approval_closes_an_item_that_needs_one_and_two_need_two() {
    let one = item(WorkKind::Approval);
    let changes = act(&one, &person("mary"), &approve(), &Facts::default()).unwrap();
    assert_eq!(changes[0], Change::CountApproval { approver: "mary".into() });
    assert_eq!(closes(&changes), Some(WorkStatus::Approved));

    let two = InboxItemRecord { minimum_approvals: 2, ..one.clone() };
    let first = act(&two, &person("mary"), &approve(), &Facts::default()).unwrap();
    assert_eq!(closes(&first), None, "one of two approvals leaves it open");
    let counted = InboxItemRecord { approvals: 1, ..two };
    let again = act(&counted, &person("mary"), &approve(), &Facts { actor_approved: true, ..Facts::default() });
    assert!(matches!(again, Err(Error::Conflict(_))), "an approver counts once");
    let second = act(&counted, &person("olga"), &approve(), &Facts::default()).unwrap();
    assert_eq!(closes(&second), Some(WorkStatus::Approved));
}

#[test]
fn actions_fit_the_kind_of_work() {
    let deny = InboxAction::Deny { comment: None };
    let task = item(WorkKind::Task);
    assert!(matches!(act(&task, &person("mary"), &deny, &Facts::default()), Err(Error::Invalid(_))));
    let complete = InboxAction::Complete { comment: None, data: json!("not an object") };
    let form = item(WorkKind::Form);
    assert!(matches!(act(&form, &person("mary"), &complete, &Facts::default()), Err(Error::Invalid(_))));
    let approval = item(WorkKind::Approval);
    assert!(matches!(act(&approval, &person("mary"), &complete, &Facts::default()), Err(Error::Invalid(_))));
    let submitted = InboxAction::Complete { comment: None, data: json!({"reason": "travel"}) };
    let changes = act(&form, &person("mary"), &submitted, &Facts::default()).unwrap();
    assert!(changes.contains(&Change::Close {
        status: WorkStatus::Completed,
        comment: None,
        data: json!({"reason": "travel"})
    }));
    let empty = InboxAction::Comment { comment: "  ".into() };
    assert!(matches!(act(&task, &person("mary"), &empty, &Facts::default()), Err(Error::Invalid(_))));
}

#[test]
fn a_hand_over_goes_to_someone_who_may_hold_the_item() {
    let approval = item(WorkKind::Approval);
    let to = |who: &str| InboxAction::Delegate { to: who.into(), comment: Some("away".into()) };
    let target = |id: &str| Facts { target: Some((id.into(), id.to_uppercase())), ..Facts::default() };
    assert!(matches!(act(&approval, &person("mary"), &to("nobody"), &Facts::default()), Err(Error::Invalid(_))));
    assert!(matches!(act(&approval, &person("mary"), &to("ada"), &target("ada")), Err(Error::Invalid(_))), "about her");
    assert!(matches!(act(&approval, &person("mary"), &to("olga"), &target("olga")), Err(Error::Invalid(_))));
    let approved = Facts { actor_approved: true, ..target("gus") };
    assert!(matches!(act(&approval, &person("mary"), &to("gus"), &approved), Err(Error::Conflict(_))));

    let changes = act(&approval, &person("mary"), &to("gus"), &target("gus")).unwrap();
    assert_eq!(changes[0], Change::HandOver { from: vec!["mary".into()], to: "gus".into(), delegated: true });
    assert!(matches!(&changes[2], Change::Notify { to, .. } if to == "gus"));
    // An administrator who holds no part of it reassigns it from everyone.
    let admin = InboxActor { identity: None, admin: true, audit: "admin" };
    let reassign = InboxAction::Reassign { to: "gus".into(), comment: None };
    let changes = act(&approval, &admin, &reassign, &target("gus")).unwrap();
    assert_eq!(changes[0], Change::HandOver { from: approval.assignees.clone(), to: "gus".into(), delegated: false });
}

#[test]
fn a_deadline_reminds_until_it_passes_then_acts() {
    let approval = item(WorkKind::Approval);
    let nobody = || Escalation::Nobody;
    assert_eq!(on_deadline(&approval, hours(1), nobody), None, "nothing due yet");
    let reminded = on_deadline(&approval, hours(4), nobody).unwrap();
    assert_eq!(
        reminded[0],
        Change::Reschedule {
            due_at: Some(hours(10)),
            next_reminder_at: Some(hours(8)),
            timeout_action: Some("DENY".into())
        }
    );
    assert_eq!(reminded.iter().filter(|c| matches!(c, Change::Notify { .. })).count(), 2, "both assignees");
    let late = InboxItemRecord { next_reminder_at: Some(hours(8)), ..approval.clone() };
    let last = on_deadline(&late, hours(8), nobody).unwrap();
    assert!(matches!(last[0], Change::Reschedule { next_reminder_at: None, .. }), "no reminder after the deadline");
    assert_eq!(closes(&on_deadline(&approval, hours(10), nobody).unwrap()), Some(WorkStatus::Denied));
    let task = InboxItemRecord { timeout_action: Some("APPROVE".into()), ..item(WorkKind::Task) };
    assert_eq!(
        closes(&on_deadline(&task, hours(10), nobody).unwrap()),
        Some(WorkStatus::Expired),
        "a task is not approved"
    );
    let closed = InboxItemRecord { status: WorkStatus::Denied, ..approval };
    assert_eq!(on_deadline(&closed, hours(10), nobody), None);
}

#[test]
fn an_escalation_adds_the_stand_in_or_expires_the_item_at_once() {
    let escalating = InboxItemRecord { timeout_action: Some("ESCALATE".into()), ..item(WorkKind::Approval) };
    let to_boss = || Escalation::To { target: "boss".into(), stand_in: "deputy".into() };
    let changes = on_deadline(&escalating, hours(10), to_boss).unwrap();
    assert_eq!(changes[0], Change::AddAssignee { identity: "deputy".into() });
    assert_eq!(
        changes[1],
        Change::Reschedule { due_at: Some(hours(20)), next_reminder_at: None, timeout_action: Some("EXPIRE".into()) }
    );
    for who in [Escalation::Nobody, Escalation::To { target: "ada".into(), stand_in: "ada".into() }] {
        let changes = on_deadline(&escalating, hours(10), || who.clone()).unwrap();
        assert_eq!(
            changes[1],
            Change::Reschedule {
                due_at: Some(hours(10)),
                next_reminder_at: None,
                timeout_action: Some("EXPIRE".into())
            },
            "{who:?}"
        );
    }
}
