//! Request types in the governance, on SQLite and PostgreSQL: definitions refused with every problem's
//! pointer (a table of bad shapes), durations as ISO-8601 or ISC text, and a request whose approval
//! two approvers decide at the same moment — one decision wins, the other is a conflict, and the
//! grant that follows happens once; a workflow step delivered after the request was cancelled
//! changes nothing.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod fixtures;

use std::sync::Arc;

use serde_json::{Value, json};
use tessera_engine::{Engine, EngineConfig};
use tessera_governance::inbox::{InboxAction, InboxActor};
use tessera_governance::request_types::definition::duration_ms;
use tessera_governance::request_types::{Actor, Definition, NewRequest, RequestTypeDraft, TeamDraft};
use tessera_governance::{Governance, GovernanceConfig};
use tessera_model::{ManualClock, Timestamp};
use tessera_store::testing::stores;
use tessera_store::{
    AccessStore, CatalogKind, CatalogStore, ExecutionStore, IdentityRecord, IdentityStore, InboxStore, QueueStore,
    TypeRequestStore,
};

fn t0() -> Timestamp {
    "2024-01-01T00:00:00Z".parse().unwrap()
}

const SERVICE: Actor<'static> = Actor::service("test");

fn problems(body: Value) -> Vec<String> {
    match Definition::parse(body.as_object().unwrap()) {
        Ok(_) => Vec::new(),
        Err(problems) => problems.into_iter().map(|p| p.pointer).collect(),
    }
}

#[test]
fn bad_definitions_are_refused_at_their_pointers() {
    let ok_step = json!({"type": "TASK", "title": "t"});
    let cases = [
        (json!({"steps": []}), vec!["/steps"]),
        (json!({"audience": "SOME", "steps": [ok_step]}), vec!["/audience"]),
        (json!({"audience": {"groupId": ""}, "steps": [ok_step]}), vec!["/audience/groupId"]),
        (
            json!({"questions": [{"key": "1x", "prompt": "p", "type": "TEXT"}], "steps": [ok_step]}),
            vec!["/questions/0/key"],
        ),
        (
            json!({"questions": [{"key": "a", "prompt": "p", "type": "TEXT"}, {"key": "a", "prompt": "p", "type": "TEXT"}],
                   "steps": [ok_step]}),
            vec!["/questions/1/key"],
        ),
        (
            json!({"questions": [{"key": "a", "type": "DROPDOWN"}], "steps": [ok_step]}),
            vec!["/questions/0/prompt", "/questions/0/configurationListId"],
        ),
        (json!({"steps": [{"type": "APPROVAL"}]}), vec!["/steps/0/approver"]),
        (json!({"steps": [{"type": "APPROVAL", "approver": {"GROUP": 7}}]}), vec!["/steps/0/approver/GROUP"]),
        (json!({"steps": [{"type": "APPROVAL", "approver": {"ROBOT": "x"}}]}), vec!["/steps/0/approver"]),
        (
            json!({"steps": [{"type": "APPROVAL", "approver": "REQUESTER_MANAGER", "reminder": "P1D", "onTimeout": "DENY"}]}),
            vec!["/steps/0/reminder", "/steps/0/onTimeout"],
        ),
        (
            json!({"steps": [{"type": "APPROVAL", "approver": "REQUESTER_MANAGER", "deadline": "P1D", "reminder": "P2D",
                              "onTimeout": {"ESCALATE": ""}}]}),
            vec!["/steps/0/reminder", "/steps/0/onTimeout/ESCALATE"],
        ),
        (json!({"steps": [{"type": "TASK"}]}), vec!["/steps/0/title"]),
        (json!({"steps": [{"type": "ACTION", "action": "PAINT"}]}), vec!["/steps/0/action"]),
        (
            json!({"steps": [{"type": "ACTION", "action": "GRANT", "items": [{"type": "HAT", "id": "x"}, {"question": "q"}]}]}),
            vec!["/steps/0/items/0/type", "/steps/0/items/1/question"],
        ),
        (
            json!({"steps": [ok_step, {"type": "ACTION", "action": "WORKFLOW", "workflowId": "w", "fields": {
                "a": {"attribute": "shoeSize"},
                "b": {"question": "nope"},
                "c": {"stepOutput": {"step": 0, "path": "$.x"}},
                "d": {"stepOutput": {"step": 1, "path": "$.x"}},
                "e": {"stepOutput": {"step": 0, "path": "x"}},
                "f/g": {"object": {"h": {"whatever": 1}}},
                "ok": {"value": {"any": "object"}}}}]}),
            vec![
                "/steps/1/fields/a/attribute",
                "/steps/1/fields/b/question",
                "/steps/1/fields/c/stepOutput/step",
                "/steps/1/fields/d/stepOutput/step",
                "/steps/1/fields/e/stepOutput/step",
                "/steps/1/fields/e/stepOutput/path",
                "/steps/1/fields/f~1g/object/h",
            ],
        ),
        (json!({"steps": [{"type": "FORM"}]}), vec!["/steps/0/type"]),
        (
            json!({"steps": [{"type": "APPROVAL", "approver": "REQUESTER_MANAGER", "deadline": "P366D",
                              "reminder": "P9999999999999D"}]}),
            vec!["/steps/0/deadline", "/steps/0/reminder"],
        ),
        (json!({"allowUnapprovedActions": "yes", "steps": [ok_step]}), vec!["/allowUnapprovedActions"]),
    ];
    for (body, expected) in cases {
        let mut found = problems(body.clone());
        found.sort();
        let mut expected: Vec<String> = expected.into_iter().map(str::to_owned).collect();
        expected.sort();
        assert_eq!(found, expected, "{body}");
    }
    // A valid definition reads back from its canonical form unchanged.
    let body = json!({"description": "d", "audience": {"groupId": "g"},
        "questions": [{"key": "q", "prompt": "Q", "type": "DROPDOWN", "configurationListId": "l", "required": true}],
        "steps": [{"type": "APPROVAL", "approver": {"TEAM": "t"}, "deadline": "PT4H", "reminder": "1h", "onTimeout": {"ESCALATE": "x"}},
                  {"type": "ACTION", "action": "WORKFLOW", "workflowId": "w", "continueOnError": true,
                   "fields": {"a": {"object": {"b": {"question": "q", "label": true}, "c": 5}}}},
                  {"type": "ACTION", "action": "WORKFLOW", "workflowId": "w2", "fields": {"prev": {"stepOutput": {"step": 1, "path": "$.x"}}}},
                  {"type": "ACTION", "action": "GRANT", "items": [{"question": "q"}, {"type": "ROLE", "id": "r"}]}]});
    let definition = Definition::parse(body.as_object().unwrap()).unwrap();
    let canonical = definition.to_json();
    let again = Definition::parse(canonical.as_object().unwrap()).unwrap().to_json();
    assert_eq!(canonical, again);
    assert_eq!(canonical["steps"][0]["name"], "Approval 1");
    assert_eq!(
        canonical["steps"][1]["fields"]["a"],
        json!({"object": {"b": {"question": "q", "label": true}, "c": 5}})
    );
}

#[test]
fn deadlines_are_iso_8601_or_isc_durations() {
    assert_eq!(duration_ms("P3D"), Ok(3 * 86_400_000));
    assert_eq!(duration_ms("PT4H30M"), Ok(4 * 3_600_000 + 30 * 60_000));
    assert_eq!(duration_ms("P1DT12H"), Ok(36 * 3_600_000));
    assert_eq!(duration_ms("P2W"), Ok(14 * 86_400_000));
    assert_eq!(duration_ms("90m"), Ok(90 * 60_000));
    assert_eq!(duration_ms("P365D"), Ok(365 * 86_400_000));
    for bad in ["P1M", "P1Y", "PT", "P", "P3", "PT0S", "soon", "P1H"] {
        assert!(duration_ms(bad).is_err(), "{bad}");
    }
    assert!(duration_ms("P1M").unwrap_err().contains("months"));
    // Spans that would overflow a deadline's `now + span` are refused, not saturated.
    for huge in ["P366D", "P53W", "PT9223372036854775807S", "P9999999999999D", "9000h"] {
        assert!(duration_ms(huge).unwrap_err().contains("365 days"), "{huge}");
    }
}

fn someone(id: &str, manager: Option<&str>) -> IdentityRecord {
    fixtures::person(id, id, manager)
}

fn draft(name: &str, team: &str, body: Value) -> RequestTypeDraft {
    RequestTypeDraft {
        name: name.into(),
        team_id: team.into(),
        status: "PUBLISHED".into(),
        definition: Definition::parse(body.as_object().unwrap()).unwrap(),
    }
}

#[tokio::test]
async fn two_approvers_deciding_at_once_advance_the_request_once() {
    for (kind, store) in stores().await {
        let governance = Governance::new(
            Engine::new(store.clone(), Arc::new(ManualClock::new(t0())), EngineConfig::default()),
            GovernanceConfig::default(),
        )
        .unwrap();
        let mut tx = store.begin().await.unwrap();
        tx.insert_identities(&[someone("ada", None), someone("mary", None), someone("bob", None)]).await.unwrap();
        tx.insert_object(&fixtures::object(CatalogKind::Role, "r-vault", "vault", "", json!({"name": "Vault"})))
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let team = TeamDraft {
            name: "Vault keepers".into(),
            description: None,
            members: vec!["mary".into(), "bob".into()],
            admins: vec!["mary".into()],
            editors: "ADMINS".into(),
        };
        let team = governance.create_team(&team, SERVICE).await.unwrap();
        let body = json!({"steps": [{"type": "APPROVAL", "approver": {"TEAM": team.id}},
                                    {"type": "ACTION", "action": "GRANT", "items": [{"type": "ROLE", "id": "r-vault"}]}]});
        let vault = governance.create_request_type(&draft("Vault", &team.id, body), SERVICE).await.unwrap();
        let new = NewRequest {
            request_type_id: vault.id.clone(),
            subject: "the vault".into(),
            requester_id: "ada".into(),
            requested_for: None,
            answers: serde_json::Map::new(),
        };
        let request = governance.submit_request(&new, Actor::person("ada", "client:ada")).await.unwrap();
        let mut tx = store.begin().await.unwrap();
        let item = tx.request_steps(&request.id).await.unwrap()[0].inbox_item_id.clone().unwrap();
        drop(tx);

        let decide = |who: &'static str| {
            let governance = governance.clone();
            let item = item.clone();
            async move {
                let actor = InboxActor { identity: Some(who), admin: false, audit: who };
                governance
                    .act_on_inbox_item(&item, actor, InboxAction::Approve { comment: Some(format!("{who} says yes")) })
                    .await
            }
        };
        let (mary, bob) = tokio::join!(decide("mary"), decide("bob"));
        let outcomes = [mary.is_ok(), bob.is_ok()];
        assert_eq!(outcomes.iter().filter(|ok| **ok).count(), 1, "{kind}: one decision wins: {mary:?} {bob:?}");
        let lost = match (mary, bob) {
            (Err(lost), _) | (_, Err(lost)) => lost,
            _ => unreachable!(),
        };
        assert!(matches!(lost, tessera_engine::Error::Conflict(_)), "{kind}: the other is a conflict: {lost:?}");

        let mut tx = store.begin().await.unwrap();
        let after = tx.type_request(&request.id).await.unwrap().unwrap();
        assert_eq!(after.status.as_str(), "COMPLETED", "{kind}");
        let timeline = tx.timeline(&request.id).await.unwrap();
        let count = |k: &str| timeline.iter().filter(|e| e.kind == k).count();
        assert_eq!((count("APPROVAL_DECIDED"), count("ACCESS_GRANTED"), count("COMPLETED")), (1, 1, 1), "{kind}");
        let held = tx.access_of(&["ada".to_owned()]).await.unwrap();
        assert_eq!(held.len(), 1, "{kind}: granted once");
        let events = tx.undispatched(100).await.unwrap();
        let closed = events.iter().filter(|(_, topic, _)| topic == "tessera:request-closed").count();
        assert_eq!(closed, 1, "{kind}");
    }
}

#[tokio::test]
async fn a_workflow_ending_after_its_request_was_cancelled_changes_nothing() {
    for (kind, store) in stores().await {
        let governance = Governance::new(
            Engine::new(store.clone(), Arc::new(ManualClock::new(t0())), EngineConfig::default()),
            GovernanceConfig::default(),
        )
        .unwrap();
        let mut tx = store.begin().await.unwrap();
        tx.insert_identities(&[someone("ada", None), someone("bob", None)]).await.unwrap();
        tx.commit().await.unwrap();
        let document = json!({"name": "Slow", "trigger": {"type": "DELEGATED", "attributes": {}},
            "definition": {"start": "Wait", "steps": {
                "Wait": {"type": "action", "actionId": "sp:sleep", "attributes": {"type": "waitFor", "duration": "1h"}, "nextStep": "Done"},
                "Done": {"type": "success"}}}});
        fixtures::insert_workflow(&store, "w-slow", document).await;
        let team = TeamDraft {
            name: "Ops".into(),
            description: None,
            members: vec!["bob".into()],
            admins: vec![],
            editors: "MEMBERS".into(),
        };
        let team = governance.create_team(&team, SERVICE).await.unwrap();
        let body = json!({"allowUnapprovedActions": true,
                          "steps": [{"type": "ACTION", "action": "WORKFLOW", "workflowId": "w-slow"},
                                    {"type": "TASK", "title": "after"}]});
        let slow = governance.create_request_type(&draft("Slow", &team.id, body), SERVICE).await.unwrap();
        let new = NewRequest {
            request_type_id: slow.id.clone(),
            subject: "s".into(),
            requester_id: "ada".into(),
            requested_for: None,
            answers: serde_json::Map::new(),
        };
        let request = governance.submit_request(&new, SERVICE).await.unwrap();
        governance.engine().run_due().await.unwrap();
        let mut tx = store.begin().await.unwrap();
        let execution = tx.request_steps(&request.id).await.unwrap()[0].execution_id.clone().unwrap();
        drop(tx);
        // Bob (of the team) cancels; Eve-like strangers may not, and twice is a conflict.
        let stranger = governance.cancel_request(&request.id, None, Actor::person("ada-friend", "x")).await;
        assert!(
            matches!(stranger, Err(tessera_governance::request_types::Error::Forbidden(_))),
            "{kind}: {stranger:?}"
        );
        governance.cancel_request(&request.id, Some("not needed"), Actor::person("bob", "bob")).await.unwrap();
        let again = governance.cancel_request(&request.id, None, SERVICE).await;
        assert!(matches!(again, Err(tessera_governance::request_types::Error::Conflict(_))), "{kind}: {again:?}");
        governance.engine().run_due().await.unwrap();

        let mut tx = store.begin().await.unwrap();
        let ended = tx.execution(&execution).await.unwrap().unwrap();
        assert_eq!(
            ended.status,
            tessera_model::ExecutionStatus::Canceled,
            "{kind}: the running workflow was asked to stop"
        );
        let after = tx.type_request(&request.id).await.unwrap().unwrap();
        assert_eq!(after.status.as_str(), "CANCELLED", "{kind}");
        let steps = tx.request_steps(&request.id).await.unwrap();
        assert_eq!((steps[0].status.as_str(), steps[1].status.as_str()), ("CANCELLED", "CANCELLED"), "{kind}");
        let timeline = tx.timeline(&request.id).await.unwrap();
        let kinds: Vec<&str> = timeline.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(
            kinds,
            ["SUBMITTED", "ASSIGNED", "WORKFLOW_STARTED", "CANCELLED"],
            "{kind}: the late end is ignored"
        );
        assert_eq!(timeline[3].actor_id.as_deref(), Some("bob"), "{kind}");
    }
}

#[test]
fn actions_must_follow_an_approval_that_cannot_approve_itself() {
    let grant = json!({"type": "ACTION", "action": "GRANT", "items": [{"type": "ROLE", "id": "r"}]});
    let run = json!({"type": "ACTION", "action": "WORKFLOW", "workflowId": "w"});
    let approval = json!({"type": "APPROVAL", "approver": "REQUESTER_MANAGER"});
    let lapsing =
        json!({"type": "APPROVAL", "approver": "REQUESTER_MANAGER", "deadline": "PT1M", "onTimeout": "APPROVE"});
    let task = json!({"type": "TASK", "title": "t"});
    let cases = [
        (json!({"steps": [grant]}), vec!["/steps/0"]),
        (json!({"steps": [run]}), vec!["/steps/0"]),
        (json!({"steps": [task, grant, run]}), vec!["/steps/1", "/steps/2"]),
        (json!({"steps": [lapsing, grant]}), vec!["/steps/1"]),
        (json!({"steps": [lapsing, approval, grant, run]}), vec![]),
        (json!({"steps": [approval, task, grant]}), vec![]),
        (json!({"steps": [task]}), vec![]),
        (json!({"allowUnapprovedActions": true, "steps": [grant, run]}), vec![]),
    ];
    for (body, expected) in cases {
        let definition = Definition::parse(body.as_object().unwrap()).unwrap();
        let found: Vec<String> = definition.unapproved_actions().into_iter().map(|p| p.pointer).collect();
        assert_eq!(found, expected, "{body}");
    }
    let definition = Definition::parse(json!({"steps": [grant]}).as_object().unwrap()).unwrap();
    assert!(definition.unapproved_actions()[0].message.contains("must follow an approval"));
}

fn team_draft(name: &str, members: &[&str], admins: &[&str], editors: &str) -> TeamDraft {
    TeamDraft {
        name: name.into(),
        description: None,
        members: members.iter().map(|m| (*m).to_owned()).collect(),
        admins: admins.iter().map(|m| (*m).to_owned()).collect(),
        editors: editors.into(),
    }
}

fn forbidden<T: std::fmt::Debug>(result: Result<T, tessera_governance::request_types::Error>, kind: &str) {
    assert!(matches!(result, Err(tessera_governance::request_types::Error::Forbidden(_))), "{kind}: {result:?}");
}

fn invalid_at<T: std::fmt::Debug>(
    result: Result<T, tessera_governance::request_types::Error>,
    pointer: &str,
    kind: &str,
) {
    match result {
        Err(tessera_governance::request_types::Error::Invalid(problems)) => {
            assert!(problems.iter().any(|p| p.pointer == pointer), "{kind}: {pointer} in {problems:?}")
        }
        other => panic!("{kind}: expected a problem at {pointer}: {other:?}"),
    }
}

#[tokio::test]
async fn a_team_admin_can_neither_staff_teams_nor_skip_approvals() {
    for (kind, store) in stores().await {
        let governance = Governance::new(
            Engine::new(store.clone(), Arc::new(ManualClock::new(t0())), EngineConfig::default()),
            GovernanceConfig::default(),
        )
        .unwrap();
        let mut tx = store.begin().await.unwrap();
        tx.insert_identities(&[someone("bob", None), someone("cleo", None), someone("eve", None)]).await.unwrap();
        tx.insert_object(&fixtures::object(CatalogKind::Role, "r-vault", "vault", "", json!({"name": "Vault"})))
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let bob = Actor::person("bob", "client:bob");
        let cleo = Actor::person("cleo", "client:cleo");

        // Only an administrator makes a team, staffs it, or deletes it.
        forbidden(governance.create_team(&team_draft("Ops", &["bob"], &["bob"], "ADMINS"), bob).await, kind);
        let root = Actor { identity: Some("eve"), all_scopes: true, audit: "client:eve" };
        governance.create_team(&team_draft("Root", &["eve"], &[], "ADMINS"), root).await.unwrap();
        let team =
            governance.create_team(&team_draft("Ops", &["bob", "cleo"], &["bob"], "ADMINS"), SERVICE).await.unwrap();
        let mut renamed = team_draft("Ops", &["cleo", "bob"], &["bob"], "ADMINS");
        renamed.name = "Operations".into();
        assert_eq!(governance.update_team(&team.id, &renamed, bob).await.unwrap().name, "Operations", "{kind}");
        forbidden(governance.update_team(&team.id, &renamed, cleo).await, kind);
        for changed in [
            team_draft("Ops", &["bob", "cleo", "eve"], &["bob"], "ADMINS"),
            team_draft("Ops", &["bob", "cleo"], &["bob", "cleo"], "ADMINS"),
            team_draft("Ops", &["bob", "cleo"], &["bob"], "MEMBERS"),
        ] {
            forbidden(governance.update_team(&team.id, &changed, bob).await, kind);
        }
        forbidden(governance.delete_team(&team.id, bob).await, kind);

        // Bob edits the team's types, but none that grants before an approval, and none that says it may.
        let grant = json!({"type": "ACTION", "action": "GRANT", "items": [{"type": "ROLE", "id": "r-vault"}]});
        invalid_at(
            governance.create_request_type(&draft("Vault", &team.id, json!({"steps": [grant]})), bob).await,
            "/steps/0",
            kind,
        );
        let task = json!({"type": "TASK", "title": "t"});
        let late = json!({"steps": [task, grant]});
        invalid_at(governance.create_request_type(&draft("Vault", &team.id, late), bob).await, "/steps/1", kind);
        let unapproved = json!({"allowUnapprovedActions": true, "steps": [grant]});
        forbidden(governance.create_request_type(&draft("Vault", &team.id, unapproved.clone()), bob).await, kind);
        let gated = json!({"steps": [{"type": "APPROVAL", "approver": {"USER": "eve"}}, grant]});
        governance.create_request_type(&draft("Gated", &team.id, gated), bob).await.unwrap();

        // An administrator may allow it; Bob may then publish and withdraw it, but not edit it so.
        let vault =
            governance.create_request_type(&draft("Vault", &team.id, unapproved.clone()), SERVICE).await.unwrap();
        assert_eq!(vault.definition["allowUnapprovedActions"], true, "{kind}");
        governance.set_request_type_status(&vault.id, "DRAFT", bob).await.unwrap();
        governance.set_request_type_status(&vault.id, "PUBLISHED", bob).await.unwrap();
        forbidden(governance.update_request_type(&vault.id, &draft("Vault", &team.id, unapproved), bob).await, kind);

        // A type stored before the rule takes no requests.
        let mut tx = store.begin().await.unwrap();
        let old = tessera_store::RequestTypeRecord {
            id: "old-vault".into(),
            name: "Old vault".into(),
            team_id: team.id.clone(),
            status: "PUBLISHED".into(),
            definition: json!({"audience": "EVERYONE", "steps": [grant]}),
            created_at: Timestamp::UNIX_EPOCH,
            modified_at: Timestamp::UNIX_EPOCH,
        };
        tessera_store::RequestTypeStore::insert_request_type(&mut tx, &old, &[("TEAM", team.id.clone())])
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let new = NewRequest {
            request_type_id: "old-vault".into(),
            subject: "vault".into(),
            requester_id: "bob".into(),
            requested_for: None,
            answers: serde_json::Map::new(),
        };
        let refused = governance.submit_request(&new, bob).await;
        assert!(matches!(refused, Err(tessera_governance::request_types::Error::Conflict(_))), "{kind}: {refused:?}");
        let mut tx = store.begin().await.unwrap();
        assert!(tx.access_of(&["bob".to_owned()]).await.unwrap().is_empty(), "{kind}");
    }
}

async fn published(governance: &Governance, draft: RequestTypeDraft) -> tessera_store::RequestTypeRecord {
    governance.create_request_type(&draft, SERVICE).await.unwrap()
}

#[tokio::test]
async fn nobody_approves_their_own_request() {
    for (kind, store) in stores().await {
        let governance = Governance::new(
            Engine::new(store.clone(), Arc::new(ManualClock::new(t0())), EngineConfig::default()),
            GovernanceConfig::default(),
        )
        .unwrap();
        let mut tx = store.begin().await.unwrap();
        tx.insert_identities(&[someone("boss", Some("boss")), someone("ada", Some("mary")), someone("mary", None)])
            .await
            .unwrap();
        tx.insert_identities(&[someone("bob", None)]).await.unwrap();
        tx.insert_object(&fixtures::object(CatalogKind::Role, "r-vault", "vault", "", json!({"name": "Vault"})))
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let ops = governance.create_team(&team_draft("Ops", &["bob"], &["bob"], "ADMINS"), SERVICE).await.unwrap();
        let only_ada = governance.create_team(&team_draft("Only Ada", &["ada"], &[], "ADMINS"), SERVICE).await.unwrap();
        let ada_and_bob =
            governance.create_team(&team_draft("Ada and Bob", &["ada", "bob"], &[], "ADMINS"), SERVICE).await.unwrap();
        let grant = json!({"type": "ACTION", "action": "GRANT", "items": [{"type": "ROLE", "id": "r-vault"}]});
        let gated = |approver: Value| {
            json!({"steps": [{"type": "APPROVAL", "approver": approver, "deadline": "P1D", "onTimeout": {"ESCALATE": "ada"}},
                             grant.clone()]})
        };
        let raise = |type_id: &str, requester: &str, requested_for: Option<&str>| NewRequest {
            request_type_id: type_id.into(),
            subject: "the vault".into(),
            requester_id: requester.into(),
            requested_for: requested_for.map(str::to_owned),
            answers: serde_json::Map::new(),
        };

        // Approvers who resolve only to the requester (or whom it is for): the request fails, saying why.
        let manager = published(&governance, draft("M", &ops.id, gated(json!("REQUESTER_MANAGER")))).await;
        let user = published(&governance, draft("U", &ops.id, gated(json!({"USER": "ada"})))).await;
        let team = published(&governance, draft("T", &ops.id, gated(json!({"TEAM": only_ada.id})))).await;
        for (type_id, requester, requested_for) in [
            (&manager.id, "boss", None),
            (&user.id, "ada", None),
            (&team.id, "ada", None),
            (&user.id, "mary", Some("ada")),
        ] {
            let who = Actor::person(requester, requester);
            let request = governance.submit_request(&raise(type_id, requester, requested_for), who).await.unwrap();
            assert_eq!(request.status.as_str(), "FAILED", "{kind}: {type_id} by {requester}");
            let mut tx = store.begin().await.unwrap();
            let timeline = tx.timeline(&request.id).await.unwrap();
            let last = timeline.last().unwrap();
            assert_eq!(last.kind, "FAILED", "{kind}");
            assert!(
                last.detail["reason"].as_str().unwrap().contains("may not approve their own request"),
                "{kind}: {:?}",
                last.detail
            );
            assert!(
                tx.inbox_items_of(tessera_model::WorkSubject::Request, &request.id).await.unwrap().is_empty(),
                "{kind}"
            );
            assert!(tx.access_of(&["ada".to_owned(), "boss".to_owned()]).await.unwrap().is_empty(), "{kind}");
        }

        // With someone else on the team, only they get the item, and it cannot escalate to Ada.
        let shared = published(&governance, draft("S", &ops.id, gated(json!({"TEAM": ada_and_bob.id})))).await;
        let request = governance.submit_request(&raise(&shared.id, "ada", None), Actor::person("ada", "ada")).await;
        let request = request.unwrap();
        assert_eq!(request.status.as_str(), "PENDING", "{kind}");
        let mut tx = store.begin().await.unwrap();
        let items = tx.inbox_items_of(tessera_model::WorkSubject::Request, &request.id).await.unwrap();
        assert_eq!(items[0].assignees, ["bob"], "{kind}");
        assert_eq!((items[0].timeout_action.as_deref(), &items[0].escalate_to), (Some("DENY"), &None), "{kind}");
        drop(tx);
        let own = InboxActor { identity: Some("ada"), admin: false, audit: "ada" };
        let approve = || InboxAction::Approve { comment: None };
        assert!(governance.act_on_inbox_item(&items[0].id, own, approve()).await.is_err(), "{kind}");
        let bob = InboxActor { identity: Some("bob"), admin: false, audit: "bob" };
        governance.act_on_inbox_item(&items[0].id, bob, approve()).await.unwrap();
        let mut tx = store.begin().await.unwrap();
        assert_eq!(tx.type_request(&request.id).await.unwrap().unwrap().status.as_str(), "COMPLETED", "{kind}");
    }
}
