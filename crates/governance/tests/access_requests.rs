//! ISC-style access requests on both databases: a manager then an owner approve in series and the
//! grant, its plan on a manual source and the events follow; a rejection ends the item; a pending
//! request is cancelled; and two approvers deciding one approval at once — exactly one wins, and the
//! access is granted and planned once. Then what happens while an approval waits, on a manual clock:
//! reminders, escalation up the management chain and to the fallback approver, automatic approval of
//! the requester's own level, forwarding, and a configuration refused with its place.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use serde_json::{Value, json};
use tessera_engine::{Engine, EngineConfig, Error};
use tessera_governance::requests::{NewAccessRequest, RequestType, RequestedItem};
use tessera_governance::{Governance, GovernanceConfig};
use tessera_model::{Clock, ManualClock, Timestamp};
use tessera_store::testing::stores;
use tessera_store::{
    AccessStore, ApprovalConfigStore, CatalogKind, CatalogStore, IdentityStore, NotificationStore, ProvisioningStore,
    QueueStore, RequestStore, SecurityStore, Store,
};

mod fixtures;
use fixtures::{object, person};

/// Ada (managed by Mary), Olga who owns the VPN access profile, and a governance group of Gus and
/// Gina approving the Remote role; all on a manual Service Desk source.
async fn world(store: &Store) -> Arc<Governance> {
    world_at(store).await.0
}

/// [`world`], with the clock its governance reads.
async fn world_at(store: &Store) -> (Arc<Governance>, Arc<ManualClock>) {
    let mut tx = store.begin().await.unwrap();
    tx.insert_identities(&[
        person("mary", "Mary Manager", None),
        person("olga", "Olga Owner", None),
        person("gus", "Gus", None),
        person("gina", "Gina", None),
        person("ada", "Ada Lovelace", Some("mary")),
    ])
    .await
    .unwrap();
    let mut vpn = object(
        CatalogKind::AccessProfile,
        "ap-vpn",
        "VPN",
        "desk",
        json!({"name": "VPN", "entitlements": [{"id": "e-vpn"}],
               "accessRequestConfig": {"approvalSchemes": [{"approverType": "MANAGER"}, {"approverType": "OWNER"}]}}),
    );
    vpn.owner_id = Some("olga".into());
    vpn.requestable = true;
    let mut remote = object(
        CatalogKind::Role,
        "r-remote",
        "Remote",
        "",
        json!({"name": "Remote", "accessProfiles": [{"id": "ap-vpn"}],
               "accessRequestConfig": {"approvalSchemes": [{"approverType": "GOVERNANCE_GROUP", "approverId": "wg"}]}}),
    );
    remote.requestable = true;
    for o in [
        object(CatalogKind::Source, "desk", "Service Desk", "", json!({"name": "Service Desk", "connector": "manual"})),
        object(
            CatalogKind::Entitlement,
            "e-vpn",
            "groups=vpn",
            "desk",
            json!({"name": "VPN", "attribute": "groups",
                                                                              "value": "vpn"}),
        ),
        object(CatalogKind::Workgroup, "wg", "Approvers", "", json!({"name": "Approvers"})),
        vpn,
        remote,
    ] {
        tx.insert_object(&o).await.unwrap();
    }
    tx.add_member("wg", "gus", Timestamp::UNIX_EPOCH).await.unwrap();
    tx.add_member("wg", "gina", Timestamp::UNIX_EPOCH).await.unwrap();
    tx.commit().await.unwrap();
    let clock = Arc::new(ManualClock::new("2026-04-01T08:00:00Z".parse().unwrap()));
    (
        Governance::new(
            Engine::new(store.clone(), clock.clone(), EngineConfig::default()),
            GovernanceConfig::default(),
        )
        .unwrap(),
        clock,
    )
}

async fn submit(governance: &Governance, kind: &str, id: &str) -> String {
    let request = NewAccessRequest {
        requester_id: "ada".into(),
        requested_for: vec!["ada".into()],
        request_type: RequestType::Grant,
        items: vec![RequestedItem {
            kind: kind.into(),
            id: id.into(),
            comment: Some("for work".into()),
            remove_at: None,
        }],
        comment: None,
    };
    let submitted = governance.submit_access_request(&request, "test").await.unwrap();
    assert!(submitted.existing_requests.is_empty());
    submitted.new_requests[0].request_ids[0].clone()
}

/// The open approvals of a request: (id, level, approver kind, candidates).
async fn pending(store: &Store, request: &str) -> Vec<(String, i64, String, Vec<String>)> {
    let mut tx = store.begin().await.unwrap();
    tx.request_approvals(request)
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.status.as_str() == "PENDING")
        .map(|a| (a.id, a.level, a.approver_kind.to_string(), a.candidates))
        .collect()
}

/// Every undispatched event's topic and payload, marking them dispatched.
async fn events(store: &Store) -> Vec<(String, Value)> {
    let mut tx = store.begin().await.unwrap();
    let events = tx.lock_undispatched(1000).await.unwrap();
    for (id, _, _) in &events {
        tx.mark_dispatched(id, Timestamp::UNIX_EPOCH).await.unwrap();
    }
    tx.commit().await.unwrap();
    events.into_iter().map(|(_, topic, payload)| (topic, payload)).collect()
}

async fn held(store: &Store) -> Vec<(String, String, String)> {
    let mut tx = store.begin().await.unwrap();
    tx.access_of(&["ada".to_owned()]).await.unwrap().into_iter().map(|g| (g.kind, g.object_id, g.origin)).collect()
}

#[tokio::test]
async fn manager_then_owner_approve_and_provisioning_follows() {
    for (kind, store) in stores().await {
        let governance = world(&store).await;
        let request = submit(&governance, "ACCESS_PROFILE", "ap-vpn").await;
        let submitted = events(&store).await;
        assert_eq!(submitted.len(), 1, "{kind}");
        assert_eq!(submitted[0].0, "idn:access-requested", "{kind}");
        assert_eq!(submitted[0].1["requestedItems"][0]["id"], "ap-vpn", "{kind}");
        assert_eq!(submitted[0].1["requestedBy"]["name"], "Ada Lovelace", "{kind}");

        let first = pending(&store, &request).await;
        assert_eq!(first.len(), 1, "{kind}: one level open at a time");
        assert_eq!((first[0].1, first[0].2.as_str(), first[0].3.clone()), (1, "MANAGER", vec!["mary".to_owned()]));
        let refused = governance.decide_access_approval(&first[0].0, "olga", true, None, "test").await;
        assert!(matches!(refused, Err(Error::Invalid(_))), "{kind}: the owner is not this level's approver");

        let decided = governance.decide_access_approval(&first[0].0, "mary", true, Some("ok"), "test").await.unwrap();
        assert_eq!(decided.item_status.as_str(), "PENDING", "{kind}");
        assert!(held(&store).await.is_empty(), "{kind}: nothing is granted before the last level");
        let second = pending(&store, &request).await;
        assert_eq!((second[0].1, second[0].2.as_str(), second[0].3.clone()), (2, "OWNER", vec!["olga".to_owned()]));

        let decided = governance.decide_access_approval(&second[0].0, "olga", true, None, "test").await.unwrap();
        assert_eq!(decided.item_status.as_str(), "APPROVED", "{kind}");
        let tracking = decided.tracking_number.expect("a provisioning group");
        assert_eq!(held(&store).await, vec![("ACCESS_PROFILE".into(), "ap-vpn".into(), "REQUEST".into())]);
        let mut tx = store.begin().await.unwrap();
        assert_eq!(tx.access_request(&request).await.unwrap().unwrap().status.as_str(), "COMPLETED", "{kind}");
        let plans = tx.plans(Some("ada"), 10, 0).await.unwrap();
        assert_eq!(plans.len(), 1, "{kind}");
        assert_eq!(plans[0].tracking_number, tracking, "{kind}");
        drop(tx);
        let decided = events(&store).await;
        assert_eq!(decided.len(), 1, "{kind}: {decided:?}");
        assert_eq!(decided[0].0, "idn:access-request-post-approval", "{kind}");
        let info = &decided[0].1["requestedItemsStatus"][0]["approvalInfo"];
        assert_eq!(info[0]["approverName"], "Mary Manager", "{kind}");
        assert_eq!(info[1]["approvalDecision"], "APPROVED", "{kind}");

        // The manual source turns the plan into a work item; completing it completes the group.
        while governance.run_provisioning().await.unwrap() > 0 {}
        let mut tx = store.begin().await.unwrap();
        let items = tx.work_items(Some(tessera_model::WorkStatus::Pending), None, 10, 0).await.unwrap();
        drop(tx);
        assert_eq!(items.len(), 1, "{kind}");
        governance.complete_work_item(&items[0].id, true, "desk", None, Some("ada-desk")).await.unwrap();
        let completed: Vec<Value> =
            events(&store).await.into_iter().filter(|(t, _)| t == "idn:post-provisioning").map(|(_, p)| p).collect();
        assert_eq!(completed.len(), 1, "{kind}");
        assert_eq!(completed[0]["trackingNumber"], tracking, "{kind}");
        assert_eq!(completed[0]["action"], "AccessRequest", "{kind}");
        assert_eq!(completed[0]["requester"]["id"], "ada", "{kind}");
    }
}

#[tokio::test]
async fn a_rejection_ends_the_item() {
    for (kind, store) in stores().await {
        let governance = world(&store).await;
        let request = submit(&governance, "ACCESS_PROFILE", "ap-vpn").await;
        let first = pending(&store, &request).await;
        let decided = governance.decide_access_approval(&first[0].0, "mary", false, Some("no"), "test").await.unwrap();
        assert_eq!(decided.item_status.as_str(), "REJECTED", "{kind}");
        assert!(pending(&store, &request).await.is_empty(), "{kind}: the owner's level never opens");
        assert!(held(&store).await.is_empty(), "{kind}");
        let mut tx = store.begin().await.unwrap();
        let statuses: Vec<String> =
            tx.request_approvals(&request).await.unwrap().into_iter().map(|a| a.status.to_string()).collect();
        assert_eq!(statuses, ["DENIED", "CANCELLED"], "{kind}");
        assert!(tx.plans(Some("ada"), 10, 0).await.unwrap().is_empty(), "{kind}");
        drop(tx);
        let topics: Vec<(String, Value)> = events(&store).await;
        let decision = topics.iter().find(|(t, _)| t == "idn:access-request-post-approval").unwrap();
        assert_eq!(decision.1["requestedItemsStatus"][0]["approvalInfo"][0]["approvalDecision"], "REJECTED");
        let again = governance.decide_access_approval(&first[0].0, "mary", true, None, "test").await;
        assert!(matches!(again, Err(Error::Conflict(_))), "{kind}: deciding twice");
    }
}

#[tokio::test]
async fn a_pending_request_is_cancelled() {
    for (kind, store) in stores().await {
        let governance = world(&store).await;
        let request = submit(&governance, "ACCESS_PROFILE", "ap-vpn").await;
        let first = pending(&store, &request).await;
        governance.cancel_access_request(&request, "not needed", "test").await.unwrap();
        let mut tx = store.begin().await.unwrap();
        assert_eq!(tx.access_request(&request).await.unwrap().unwrap().status.as_str(), "CANCELLED", "{kind}");
        assert_eq!(tx.request_items(&request).await.unwrap()[0].status.as_str(), "CANCELLED", "{kind}");
        drop(tx);
        let late = governance.decide_access_approval(&first[0].0, "mary", true, None, "test").await;
        assert!(matches!(late, Err(Error::Conflict(_))), "{kind}: {late:?}");
        let twice = governance.cancel_access_request(&request, "again", "test").await;
        assert!(matches!(twice, Err(Error::Conflict(_))), "{kind}");
        assert!(held(&store).await.is_empty(), "{kind}");
        // A new request for the same item is accepted once the old one is over.
        submit(&governance, "ACCESS_PROFILE", "ap-vpn").await;
    }
}

#[tokio::test]
async fn two_approvers_at_once_one_wins() {
    for (kind, store) in stores().await {
        let governance = world(&store).await;
        let request = submit(&governance, "ROLE", "r-remote").await;
        let approval = pending(&store, &request).await.remove(0);
        assert_eq!(approval.3, ["gina", "gus"], "{kind}: any member of the group decides");
        let decide = |who: &'static str| {
            let governance = governance.clone();
            let id = approval.0.clone();
            tokio::spawn(async move { governance.decide_access_approval(&id, who, true, None, "test").await })
        };
        let (gus, gina) = (decide("gus"), decide("gina"));
        let results = [gus.await.unwrap(), gina.await.unwrap()];
        let won = results.iter().filter(|r| r.is_ok()).count();
        let conflicts = results.iter().filter(|r| matches!(r, Err(Error::Conflict(_)))).count();
        assert_eq!((won, conflicts), (1, 1), "{kind}: {results:?}");
        assert_eq!(held(&store).await, vec![("ROLE".into(), "r-remote".into(), "REQUEST".into())], "{kind}");
        let mut tx = store.begin().await.unwrap();
        assert_eq!(tx.plans(Some("ada"), 10, 0).await.unwrap().len(), 1, "{kind}: planned once");
        drop(tx);
        let decisions = events(&store).await.into_iter().filter(|(t, _)| t == "idn:access-request-post-approval");
        assert_eq!(decisions.count(), 1, "{kind}");
    }
}

#[tokio::test]
async fn unrequestable_and_unapprovable_items_are_refused() {
    for (kind, store) in stores().await {
        let governance = world(&store).await;
        let ask = |for_id: &str, kind: &str, id: &str| NewAccessRequest {
            requester_id: "ada".into(),
            requested_for: vec![for_id.into()],
            request_type: RequestType::Grant,
            items: vec![RequestedItem { kind: kind.into(), id: id.into(), comment: None, remove_at: None }],
            comment: None,
        };
        let refusal = |r: tessera_engine::Result<_>| match r {
            Err(Error::Invalid(problem)) => problem.to_string(),
            other => panic!("{kind}: expected a refusal, got {other:?}"),
        };
        let message = refusal(governance.submit_access_request(&ask("ada", "ENTITLEMENT", "e-vpn"), "t").await);
        assert!(message.starts_with("/requestedItems/0: ") && message.contains("not requestable"), "{message}");
        let message = refusal(governance.submit_access_request(&ask("nobody", "ROLE", "r-remote"), "t").await);
        assert!(message.starts_with("/requestedFor/0: "), "{message}");
        // Mary has no manager, so nobody could approve the VPN's first level for her.
        let message = refusal(governance.submit_access_request(&ask("mary", "ACCESS_PROFILE", "ap-vpn"), "t").await);
        assert!(message.contains("has no manager"), "{message}");
        let mut tx = store.begin().await.unwrap();
        assert!(tx.requested_items(None, None, None, 10, 0).await.unwrap().is_empty(), "{kind}: nothing stored");
    }
}

/// Carl, managed by Dora, who reports to Boss; and Fiona, the fallback approver.
async fn chain(store: &Store) {
    let mut tx = store.begin().await.unwrap();
    tx.insert_identities(&[
        person("boss", "Boss", None),
        person("dora", "Dora", Some("boss")),
        person("carl", "Carl", Some("dora")),
        person("fiona", "Fiona Fallback", None),
    ])
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

async fn request_as(governance: &Governance, requester: &str, for_id: &str, kind: &str, id: &str) -> String {
    let request = NewAccessRequest {
        requester_id: requester.into(),
        requested_for: vec![for_id.into()],
        request_type: RequestType::Grant,
        items: vec![RequestedItem { kind: kind.into(), id: id.into(), comment: None, remove_at: None }],
        comment: None,
    };
    governance.submit_access_request(&request, "test").await.unwrap().new_requests[0].request_ids[0].clone()
}

/// The subjects of the emails queued for `who`, oldest first.
async fn notified(store: &Store, who: &str) -> Vec<String> {
    let mut tx = store.begin().await.unwrap();
    let mut list: Vec<String> = tx.notifications_of(who, 100).await.unwrap().into_iter().map(|n| n.subject).collect();
    list.reverse();
    list
}

fn later(clock: &ManualClock, by: chrono::Duration) {
    clock.advance_to(clock.now() + by);
}

const REMINDER: &str = "Reminder: an access request waits for your approval";
const ESCALATED: &str = "An access request approval was escalated to you";

#[tokio::test]
async fn reminders_go_out_then_the_approval_escalates_up_the_chain_and_to_the_fallback() {
    for (kind, store) in stores().await {
        let (governance, clock) = world_at(&store).await;
        chain(&store).await;
        let config = json!({"approvalReminderAndEscalationConfig": {"daysBetweenReminders": 1, "maxReminders": 2,
            "daysUntilEscalation": 3, "fallbackApproverRef": {"type": "IDENTITY", "id": "fiona"}}});
        governance.set_access_request_config(&config, "test").await.unwrap();
        let request = request_as(&governance, "carl", "carl", "ACCESS_PROFILE", "ap-vpn").await;
        let approval = pending(&store, &request).await.remove(0);
        assert_eq!(approval.3, ["dora"], "{kind}");
        let run = || async { governance.run_deadlines().await.unwrap() };

        // A reminder a day, two at most, and none early or twice.
        assert_eq!(run().await, 0, "{kind}: nothing is due yet");
        later(&clock, chrono::Duration::hours(23));
        assert_eq!(run().await, 0, "{kind}: not before a day");
        later(&clock, chrono::Duration::hours(1));
        assert_eq!(run().await, 1, "{kind}");
        assert_eq!(run().await, 0, "{kind}: one reminder per interval");
        later(&clock, chrono::Duration::days(1));
        assert_eq!(run().await, 1, "{kind}");
        assert_eq!(notified(&store, "dora").await, [REMINDER, REMINDER], "{kind}");

        // Three days on, it goes to Dora's manager, who alone may decide it now.
        later(&clock, chrono::Duration::days(1));
        assert_eq!(run().await, 1, "{kind}");
        let now = pending(&store, &request).await.remove(0);
        assert_eq!(
            (now.0.as_str(), now.2.as_str(), now.3.clone()),
            (approval.0.as_str(), "IDENTITY", vec!["boss".into()])
        );
        assert_eq!(notified(&store, "boss").await, [ESCALATED], "{kind}");
        assert_eq!(notified(&store, "dora").await.len(), 2, "{kind}: no reminder with the escalation");
        let refused = governance.decide_access_approval(&approval.0, "dora", true, None, "test").await;
        assert!(matches!(refused, Err(Error::Invalid(_) | Error::Forbidden(_))), "{kind}: {refused:?}");
        let mut tx = store.begin().await.unwrap();
        let moves = tx.reassignments(&approval.0).await.unwrap();
        assert_eq!(moves.len(), 1, "{kind}");
        assert_eq!(
            (moves[0].kind.as_str(), &moves[0].old_approvers, moves[0].new_approver.as_str()),
            ("AUTO_ESCALATION", &vec!["dora".to_owned()], "boss")
        );
        assert_eq!(moves[0].forwarder, None, "{kind}");
        let audit = tx.audit_of("access-request", &request).await.unwrap();
        let escalation = audit.iter().find(|e| e.action == "access-request.escalate").unwrap();
        assert_eq!(
            (escalation.detail["to"].as_str(), escalation.actor.as_str()),
            (Some("boss"), "system:approval-deadlines")
        );
        drop(tx);

        // Boss gets his two reminders; with no manager above him it then goes to the fallback.
        for _ in 0..3 {
            later(&clock, chrono::Duration::days(1));
            assert_eq!(run().await, 1, "{kind}");
        }
        assert_eq!(notified(&store, "boss").await, [ESCALATED, REMINDER, REMINDER], "{kind}");
        assert_eq!(pending(&store, &request).await[0].3, ["fiona"], "{kind}");
        // Fiona has nobody to escalate to: it stays with her, reminded twice, and nothing more.
        let acted: Vec<usize> = {
            let mut acted = Vec::new();
            for _ in 0..5 {
                later(&clock, chrono::Duration::days(1));
                acted.push(run().await);
            }
            acted
        };
        assert_eq!(acted, [1, 1, 0, 0, 0], "{kind}");
        assert_eq!(notified(&store, "fiona").await, [ESCALATED, REMINDER, REMINDER], "{kind}");
        assert_eq!(pending(&store, &request).await[0].3, ["fiona"], "{kind}");

        // Fiona approves; the owner's level opens with time of its own.
        let decided = governance.decide_access_approval(&approval.0, "fiona", true, None, "test").await.unwrap();
        assert_eq!(decided.item_status.as_str(), "PENDING", "{kind}");
        assert_eq!(run().await, 0, "{kind}: the new level's clock starts now");
        later(&clock, chrono::Duration::days(1));
        assert_eq!(run().await, 1, "{kind}");
        assert_eq!(notified(&store, "olga").await, [REMINDER], "{kind}");
    }
}

#[tokio::test]
async fn a_requester_who_approves_a_level_has_it_approved_automatically() {
    for (kind, store) in stores().await {
        let governance = world(&store).await;
        // Mary asks for her report Ada: Mary is also the first level's approver.
        let request = request_as(&governance, "mary", "ada", "ACCESS_PROFILE", "ap-vpn").await;
        assert_eq!(governance.run_deadlines().await.unwrap(), 0, "{kind}: off by default");
        assert_eq!(pending(&store, &request).await[0].3, ["mary"], "{kind}");

        governance.set_access_request_config(&json!({"autoApprovalEnabled": true}), "test").await.unwrap();
        assert_eq!(governance.run_deadlines().await.unwrap(), 1, "{kind}");
        let open = pending(&store, &request).await;
        assert_eq!((open[0].1, open[0].3.clone()), (2, vec!["olga".to_owned()]), "{kind}: the owner's level is open");
        let mut tx = store.begin().await.unwrap();
        let first = tx.request_approvals(&request).await.unwrap().into_iter().find(|a| a.level == 1).unwrap();
        assert_eq!((first.status.as_str(), first.decided_by.as_deref()), ("APPROVED", Some("mary")), "{kind}");
        assert!(first.comment.unwrap().contains("automatically"), "{kind}");
        let audit = tx.audit_of("access-request", &request).await.unwrap();
        assert!(
            audit.iter().any(|e| e.action == "access-request.approve" && e.actor == "system:auto-approval"),
            "{kind}: {audit:?}"
        );
        drop(tx);
        assert_eq!(governance.run_deadlines().await.unwrap(), 0, "{kind}: Olga is not the requester");
    }
}

#[tokio::test]
async fn an_approver_forwards_an_approval_and_only_the_new_owner_decides() {
    for (kind, store) in stores().await {
        let governance = world(&store).await;
        let request = submit(&governance, "ACCESS_PROFILE", "ap-vpn").await;
        let first = pending(&store, &request).await.remove(0);
        let mut tx = store.begin().await.unwrap();
        let waiting = tx.request_approvals(&request).await.unwrap().into_iter().find(|a| a.level == 2).unwrap();
        drop(tx);
        let forward = |id: String, by: Option<&'static str>, admin: bool, to: &'static str| {
            let governance = governance.clone();
            async move { governance.forward_access_approval(&id, by, admin, to, "on holiday", "test").await }
        };

        // Refusals: not an approver, an unknown or unsuitable new owner, a level not open, no approval.
        let r = forward(first.0.clone(), Some("gus"), false, "gina").await;
        assert!(matches!(r, Err(Error::Forbidden(_))), "{kind}: {r:?}");
        for to in ["ghost", "ada", "mary"] {
            match forward(first.0.clone(), Some("mary"), false, to).await {
                Err(Error::Invalid(problem)) => assert_eq!(problem.pointer, "/newOwnerId", "{kind}: {problem}"),
                other => panic!("{kind}: forwarding to {to}: {other:?}"),
            }
        }
        let r = forward(waiting.id.clone(), None, true, "gus").await;
        assert!(matches!(r, Err(Error::Conflict(_))), "{kind}: {r:?}");
        let r = forward("nope".into(), None, true, "gus").await;
        assert!(matches!(r, Err(Error::NotFound(_))), "{kind}: {r:?}");
        assert!(notified(&store, "gus").await.is_empty(), "{kind}");

        // Mary forwards to Gus: he alone decides now; an administrator forwards it on to Gina.
        forward(first.0.clone(), Some("mary"), false, "gus").await.unwrap();
        assert_eq!(pending(&store, &request).await[0].3, ["gus"], "{kind}");
        assert_eq!(notified(&store, "gus").await, ["An access request approval was forwarded to you"], "{kind}");
        let refused = governance.decide_access_approval(&first.0, "mary", true, None, "test").await;
        assert!(matches!(refused, Err(Error::Invalid(_) | Error::Forbidden(_))), "{kind}: {refused:?}");
        forward(first.0.clone(), None, true, "gina").await.unwrap();
        let mut tx = store.begin().await.unwrap();
        let moves = tx.reassignments(&first.0).await.unwrap();
        let summary: Vec<(Vec<String>, &str, Option<&str>, &str)> = moves
            .iter()
            .map(|m| (m.old_approvers.clone(), m.new_approver.as_str(), m.forwarder.as_deref(), m.kind.as_str()))
            .collect();
        assert_eq!(
            summary,
            [
                (vec!["mary".to_owned()], "gus", Some("mary"), "MANUAL_REASSIGNMENT"),
                (vec!["gus".to_owned()], "gina", None, "MANUAL_REASSIGNMENT")
            ],
            "{kind}"
        );
        let audit = tx.audit_of("access-request", &request).await.unwrap();
        assert_eq!(audit.iter().filter(|e| e.action == "access-request.forward").count(), 2, "{kind}");
        drop(tx);
        let decided = governance.decide_access_approval(&first.0, "gina", true, None, "test").await.unwrap();
        assert_eq!(decided.item_status.as_str(), "PENDING", "{kind}: the owner's level opens");
        assert_eq!(pending(&store, &request).await[0].3, ["olga"], "{kind}");
    }
}

#[tokio::test]
async fn a_bad_configuration_is_refused_with_its_place() {
    for (kind, store) in stores().await {
        let governance = world(&store).await;
        let cases = [
            (json!([]), ""),
            (json!({"autoApproval": true}), "/autoApproval"),
            (json!({"autoApprovalEnabled": "yes"}), "/autoApprovalEnabled"),
            (
                json!({"requestOnBehalfOfConfig": {"allowRequestOnBehalfOfAnyoneByAnyone": 1}}),
                "/requestOnBehalfOfConfig/allowRequestOnBehalfOfAnyoneByAnyone",
            ),
            (
                json!({"approvalReminderAndEscalationConfig": {"maxReminders": 0}}),
                "/approvalReminderAndEscalationConfig/maxReminders",
            ),
            (
                json!({"approvalReminderAndEscalationConfig": {"daysUntilEscalation": 1.5}}),
                "/approvalReminderAndEscalationConfig/daysUntilEscalation",
            ),
            (
                json!({"approvalReminderAndEscalationConfig": {"fallbackApproverRef": {"type": "IDENTITY"}}}),
                "/approvalReminderAndEscalationConfig/fallbackApproverRef/id",
            ),
            (
                json!({"approvalReminderAndEscalationConfig": {"fallbackApproverRef": {"id": "ghost"}}}),
                "/approvalReminderAndEscalationConfig/fallbackApproverRef/id",
            ),
            (
                json!({"entitlementRequestConfig": {"grantRequestApprovalSchemes": "manager,boss"}}),
                "/entitlementRequestConfig/grantRequestApprovalSchemes",
            ),
            (
                json!({"entitlementRequestConfig": {"grantRequestApprovalSchemes": "workgroup:nope"}}),
                "/entitlementRequestConfig/grantRequestApprovalSchemes",
            ),
        ];
        for (body, pointer) in cases {
            match governance.set_access_request_config(&body, "test").await {
                Err(Error::Invalid(message)) => {
                    assert_eq!(message.pointer, pointer, "{kind}: {body}: {message}")
                }
                other => panic!("{kind}: {body}: {other:?}"),
            }
        }
        assert_eq!(governance.access_request_config().await.unwrap(), Default::default(), "{kind}: nothing stored");
        let good = json!({"entitlementRequestConfig": {"grantRequestApprovalSchemes": "manager, workgroup:wg"}});
        let config = governance.set_access_request_config(&good, "test").await.unwrap();
        assert_eq!(governance.access_request_config().await.unwrap(), config, "{kind}");
    }
}

#[tokio::test]
async fn the_dispatcher_applies_the_configuration_on_its_own() {
    for (kind, store) in stores().await {
        let governance = world(&store).await;
        governance.set_access_request_config(&json!({"autoApprovalEnabled": true}), "test").await.unwrap();
        let (stop, shutdown) = tokio::sync::watch::channel(false);
        let mut loops = governance.spawn(shutdown.clone());
        loops.push(governance.engine().spawn_dispatcher(shutdown));
        let request = request_as(&governance, "mary", "ada", "ACCESS_PROFILE", "ap-vpn").await;
        let mut open = Vec::new();
        for _ in 0..100 {
            open = pending(&store, &request).await;
            if open.first().is_some_and(|a| a.1 == 2) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        stop.send(true).unwrap();
        for handle in loops {
            handle.await.unwrap();
        }
        assert_eq!(open.first().map(|a| (a.1, a.3.clone())), Some((2, vec!["olga".to_owned()])), "{kind}");
    }
}
