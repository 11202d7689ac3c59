//! ISC-style access requests on both databases: a manager then an owner approve in series and the
//! grant, its plan on a manual source and the events follow; a rejection ends the item; a pending
//! request is cancelled; and two approvers deciding one approval at once — exactly one wins, and the
//! access is granted and planned once.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use serde_json::{Value, json};
use tessera_engine::requests::{NewAccessRequest, RequestType, RequestedItem};
use tessera_engine::{Engine, EngineConfig, Error};
use tessera_model::ManualClock;
use tessera_store::testing::stores;
use tessera_store::{
    AccessStore, CatalogKind, CatalogStore, IdentityRecord, IdentityStore, ProvisioningStore, QueueStore, RequestStore,
    Store,
};

mod fixtures;
use fixtures::object;

fn person(id: &str, name: &str, manager: Option<&str>) -> IdentityRecord {
    IdentityRecord {
        id: id.into(),
        name: name.into(),
        alias: id.into(),
        email: Some(format!("{id}@example.com")),
        manager_id: manager.map(str::to_owned),
        profile_id: None,
        lifecycle_state: None,
        lifecycle_manual: false,
        status: "ACTIVE".into(),
        attributes: serde_json::Map::new(),
        created_at: 0,
        modified_at: 0,
    }
}

/// Ada (managed by Mary), Olga who owns the VPN access profile, and a governance group of Gus and
/// Gina approving the Remote role; all on a manual Service Desk source.
async fn world(store: &Store) -> Arc<Engine> {
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
    tx.add_member("wg", "gus", 0).await.unwrap();
    tx.add_member("wg", "gina", 0).await.unwrap();
    tx.commit().await.unwrap();
    let clock = Arc::new(ManualClock::new("2026-04-01T08:00:00Z".parse().unwrap()));
    Engine::new(store.clone(), clock, EngineConfig::default())
}

async fn submit(engine: &Engine, kind: &str, id: &str) -> String {
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
    let submitted = engine.submit_access_request(&request, "test").await.unwrap();
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
        .filter(|a| a.status == "PENDING")
        .map(|a| (a.id, a.level, a.approver_kind, a.candidates))
        .collect()
}

/// Every undispatched event's topic and payload, marking them dispatched.
async fn events(store: &Store) -> Vec<(String, Value)> {
    let mut tx = store.begin().await.unwrap();
    let events = tx.lock_undispatched(1000).await.unwrap();
    for (id, _, _) in &events {
        tx.mark_dispatched(id, 0).await.unwrap();
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
        let engine = world(&store).await;
        let request = submit(&engine, "ACCESS_PROFILE", "ap-vpn").await;
        let submitted = events(&store).await;
        assert_eq!(submitted.len(), 1, "{kind}");
        assert_eq!(submitted[0].0, "idn:access-requested", "{kind}");
        assert_eq!(submitted[0].1["requestedItems"][0]["id"], "ap-vpn", "{kind}");
        assert_eq!(submitted[0].1["requestedBy"]["name"], "Ada Lovelace", "{kind}");

        let first = pending(&store, &request).await;
        assert_eq!(first.len(), 1, "{kind}: one level open at a time");
        assert_eq!((first[0].1, first[0].2.as_str(), first[0].3.clone()), (1, "MANAGER", vec!["mary".to_owned()]));
        let refused = engine.decide_access_approval(&first[0].0, "olga", true, None, "test").await;
        assert!(matches!(refused, Err(Error::Invalid(_))), "{kind}: the owner is not this level's approver");

        let decided = engine.decide_access_approval(&first[0].0, "mary", true, Some("ok"), "test").await.unwrap();
        assert_eq!(decided.item_status, "PENDING", "{kind}");
        assert!(held(&store).await.is_empty(), "{kind}: nothing is granted before the last level");
        let second = pending(&store, &request).await;
        assert_eq!((second[0].1, second[0].2.as_str(), second[0].3.clone()), (2, "OWNER", vec!["olga".to_owned()]));

        let decided = engine.decide_access_approval(&second[0].0, "olga", true, None, "test").await.unwrap();
        assert_eq!(decided.item_status, "APPROVED", "{kind}");
        let tracking = decided.tracking_number.expect("a provisioning group");
        assert_eq!(held(&store).await, vec![("ACCESS_PROFILE".into(), "ap-vpn".into(), "REQUEST".into())]);
        let mut tx = store.begin().await.unwrap();
        assert_eq!(tx.access_request(&request).await.unwrap().unwrap().status, "COMPLETED", "{kind}");
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
        while engine.run_provisioning().await.unwrap() > 0 {}
        let mut tx = store.begin().await.unwrap();
        let items = tx.work_items(Some("OPEN"), 10, 0).await.unwrap();
        drop(tx);
        assert_eq!(items.len(), 1, "{kind}");
        engine.complete_work_item(&items[0].id, true, "desk", None, Some("ada-desk")).await.unwrap();
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
        let engine = world(&store).await;
        let request = submit(&engine, "ACCESS_PROFILE", "ap-vpn").await;
        let first = pending(&store, &request).await;
        let decided = engine.decide_access_approval(&first[0].0, "mary", false, Some("no"), "test").await.unwrap();
        assert_eq!(decided.item_status, "REJECTED", "{kind}");
        assert!(pending(&store, &request).await.is_empty(), "{kind}: the owner's level never opens");
        assert!(held(&store).await.is_empty(), "{kind}");
        let mut tx = store.begin().await.unwrap();
        let statuses: Vec<String> =
            tx.request_approvals(&request).await.unwrap().into_iter().map(|a| a.status).collect();
        assert_eq!(statuses, ["REJECTED", "CANCELLED"], "{kind}");
        assert!(tx.plans(Some("ada"), 10, 0).await.unwrap().is_empty(), "{kind}");
        drop(tx);
        let topics: Vec<(String, Value)> = events(&store).await;
        let decision = topics.iter().find(|(t, _)| t == "idn:access-request-post-approval").unwrap();
        assert_eq!(decision.1["requestedItemsStatus"][0]["approvalInfo"][0]["approvalDecision"], "REJECTED");
        let again = engine.decide_access_approval(&first[0].0, "mary", true, None, "test").await;
        assert!(matches!(again, Err(Error::Conflict(_))), "{kind}: deciding twice");
    }
}

#[tokio::test]
async fn a_pending_request_is_cancelled() {
    for (kind, store) in stores().await {
        let engine = world(&store).await;
        let request = submit(&engine, "ACCESS_PROFILE", "ap-vpn").await;
        let first = pending(&store, &request).await;
        engine.cancel_access_request(&request, "not needed", "test").await.unwrap();
        let mut tx = store.begin().await.unwrap();
        assert_eq!(tx.access_request(&request).await.unwrap().unwrap().status, "CANCELLED", "{kind}");
        assert_eq!(tx.request_items(&request).await.unwrap()[0].status, "CANCELLED", "{kind}");
        drop(tx);
        let late = engine.decide_access_approval(&first[0].0, "mary", true, None, "test").await;
        assert!(matches!(late, Err(Error::Conflict(_))), "{kind}: {late:?}");
        let twice = engine.cancel_access_request(&request, "again", "test").await;
        assert!(matches!(twice, Err(Error::Conflict(_))), "{kind}");
        assert!(held(&store).await.is_empty(), "{kind}");
        // A new request for the same item is accepted once the old one is over.
        submit(&engine, "ACCESS_PROFILE", "ap-vpn").await;
    }
}

#[tokio::test]
async fn two_approvers_at_once_one_wins() {
    for (kind, store) in stores().await {
        let engine = world(&store).await;
        let request = submit(&engine, "ROLE", "r-remote").await;
        let approval = pending(&store, &request).await.remove(0);
        assert_eq!(approval.3, ["gina", "gus"], "{kind}: any member of the group decides");
        let decide = |who: &'static str| {
            let engine = engine.clone();
            let id = approval.0.clone();
            tokio::spawn(async move { engine.decide_access_approval(&id, who, true, None, "test").await })
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
        let engine = world(&store).await;
        let ask = |for_id: &str, kind: &str, id: &str| NewAccessRequest {
            requester_id: "ada".into(),
            requested_for: vec![for_id.into()],
            request_type: RequestType::Grant,
            items: vec![RequestedItem { kind: kind.into(), id: id.into(), comment: None, remove_at: None }],
            comment: None,
        };
        let refusal = |r: tessera_engine::Result<_>| match r {
            Err(Error::Invalid(message)) => message,
            other => panic!("{kind}: expected a refusal, got {other:?}"),
        };
        let message = refusal(engine.submit_access_request(&ask("ada", "ENTITLEMENT", "e-vpn"), "t").await);
        assert!(message.starts_with("/requestedItems/0: ") && message.contains("not requestable"), "{message}");
        let message = refusal(engine.submit_access_request(&ask("nobody", "ROLE", "r-remote"), "t").await);
        assert!(message.starts_with("/requestedFor/0: "), "{message}");
        // Mary has no manager, so nobody could approve the VPN's first level for her.
        let message = refusal(engine.submit_access_request(&ask("mary", "ACCESS_PROFILE", "ap-vpn"), "t").await);
        assert!(message.contains("has no manager"), "{message}");
        let mut tx = store.begin().await.unwrap();
        assert!(tx.requested_items(None, None, 10, 0).await.unwrap().is_empty(), "{kind}: nothing stored");
    }
}
