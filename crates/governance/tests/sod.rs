//! Separation of duties on both databases: a policy between "pay" and "approve payments"; Ada holds
//! "pay" and asks for a role carrying "approve payments" — the request is stored with its violation
//! for the approvers; with `forbid` it is refused and nothing is stored; a request without a conflict
//! carries none; definitions are checked with pointers.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use serde_json::{Value, json};
use tessera_engine::{Engine, EngineConfig, Error};
use tessera_governance::requests::{NewAccessRequest, RequestType, RequestedItem};
use tessera_governance::{Governance, GovernanceConfig};
use tessera_model::{ManualClock, Timestamp};
use tessera_store::testing::stores;
use tessera_store::{
    AccessGrant, AccessStore, CatalogKind, CatalogStore, IdentityStore, QueueStore, RequestStore, SecurityStore,
    SodStore, Store,
};

mod fixtures;
use fixtures::{object, person};

/// Ada (managed by Mary) holds the Pay entitlement; the Approver role carries an access profile with
/// Approve Payments; Read Reports is an unrelated requestable entitlement.
async fn world(store: &Store) -> Arc<Governance> {
    let mut tx = store.begin().await.unwrap();
    tx.insert_identities(&[person("mary", "Mary Manager", None), person("ada", "Ada Lovelace", Some("mary"))])
        .await
        .unwrap();
    let entitlement = |id: &str, name: &str| {
        let mut e = object(
            CatalogKind::Entitlement,
            id,
            &format!("groups={id}"),
            "fin",
            json!({"name": name, "attribute": "groups", "value": id}),
        );
        e.requestable = true;
        e
    };
    let mut role = object(
        CatalogKind::Role,
        "r-approver",
        "Approver",
        "",
        json!({"name": "Approver", "accessProfiles": [{"id": "ap-approve"}]}),
    );
    role.requestable = true;
    for o in [
        object(CatalogKind::Source, "fin", "Finance", "", json!({"name": "Finance", "connector": "manual"})),
        entitlement("e-pay", "Pay"),
        entitlement("e-approve", "Approve Payments"),
        entitlement("e-reports", "Read Reports"),
        object(
            CatalogKind::AccessProfile,
            "ap-approve",
            "Payment approval",
            "fin",
            json!({"name": "Payment approval", "entitlements": [{"id": "e-approve"}]}),
        ),
        role,
    ] {
        tx.insert_object(&o).await.unwrap();
    }
    let held = AccessGrant {
        identity_id: "ada".into(),
        kind: "ENTITLEMENT".into(),
        object_id: "e-pay".into(),
        origin: "REQUEST".into(),
        granted_at: Timestamp::UNIX_EPOCH,
        granted_by: None,
    };
    tx.grant(&held).await.unwrap();
    tx.commit().await.unwrap();
    let clock = Arc::new(ManualClock::new("2026-04-01T08:00:00Z".parse().unwrap()));
    Governance::new(Engine::new(store.clone(), clock, EngineConfig::default()), GovernanceConfig::default()).unwrap()
}

fn policy(forbid: bool) -> Value {
    json!({
        "name": "Pay vs approve",
        "description": "Who pays does not approve payments",
        "state": "ENFORCED",
        "type": "CONFLICTING_ACCESS_BASED",
        "forbid": forbid,
        "conflictingAccessCriteria": {
            "leftCriteria": {"name": "pay", "criteriaList": [{"type": "ENTITLEMENT", "id": "e-pay"}]},
            "rightCriteria": {"name": "approve", "criteriaList": [{"type": "ENTITLEMENT", "id": "e-approve"}]}
        }
    })
}

fn request(kind: &str, id: &str) -> NewAccessRequest {
    NewAccessRequest {
        requester_id: "ada".into(),
        requested_for: vec!["ada".into()],
        request_type: RequestType::Grant,
        items: vec![RequestedItem { kind: kind.into(), id: id.into(), comment: None, remove_at: None }],
        comment: None,
    }
}

#[tokio::test]
async fn a_conflicting_request_carries_its_violation_to_the_approvers() {
    for (kind, store) in stores().await {
        let governance = world(&store).await;
        let created = governance.create_sod_policy(&policy(false), "test").await.unwrap();
        let submitted = governance.submit_access_request(&request("ROLE", "r-approver"), "test").await.unwrap();
        let request_id = submitted.new_requests[0].request_ids[0].clone();
        let mut tx = store.begin().await.unwrap();
        let context = tx.sod_context(&request_id).await.unwrap().expect("a violation context");
        assert_eq!(context["state"], "SUCCESS", "{kind}");
        let violation = &context["violationCheckResult"]["violationContexts"][0];
        assert_eq!(violation["policy"], json!({"type": "SOD_POLICY", "id": created.id, "name": "Pay vs approve"}));
        assert_eq!(
            violation["conflictingAccessCriteria"],
            json!({
                "leftCriteria": {"criteriaList": [{"type": "ENTITLEMENT", "id": "e-pay", "name": "Pay", "existing": true}]},
                "rightCriteria": {"criteriaList": [{"type": "ENTITLEMENT", "id": "e-approve",
                                                    "name": "Approve Payments", "existing": false}]}
            }),
            "{kind}"
        );
        let approvals = tx.request_approvals(&request_id).await.unwrap();
        assert_eq!(approvals[0].status.as_str(), "PENDING", "{kind}: the approver decides, warned");
        let audit = tx.audit_of("sod-policy", &created.id).await.unwrap();
        assert_eq!(audit[0].action, "sod-policy.create", "{kind}");

        drop(tx);

        // No conflict: no context.
        let other = governance.submit_access_request(&request("ENTITLEMENT", "e-reports"), "test").await.unwrap();
        let mut tx = store.begin().await.unwrap();
        assert_eq!(tx.sod_context(&other.new_requests[0].request_ids[0]).await.unwrap(), None, "{kind}");
        drop(tx);

        let predicted =
            governance.predict_sod_violations("ada", &[("ACCESS_PROFILE".into(), "ap-approve".into())]).await.unwrap();
        assert_eq!(predicted.len(), 1, "{kind}");
        assert_eq!(predicted[0].right[0].id, "e-approve", "{kind}");
        assert!(governance.predict_sod_violations("ada", &[]).await.unwrap().is_empty(), "{kind}: nothing new asked");

        // A policy not enforced is not checked.
        let mut relaxed = policy(false);
        relaxed["state"] = json!("NOT_ENFORCED");
        governance.replace_sod_policy(&created.id, &relaxed, "test").await.unwrap();
        let predicted =
            governance.predict_sod_violations("ada", &[("ENTITLEMENT".into(), "e-approve".into())]).await.unwrap();
        assert!(predicted.is_empty(), "{kind}");
    }
}

#[tokio::test]
async fn a_forbidding_policy_refuses_the_request_and_stores_nothing() {
    for (kind, store) in stores().await {
        let governance = world(&store).await;
        governance.create_sod_policy(&policy(true), "test").await.unwrap();
        let mut tx = store.begin().await.unwrap();
        let events_before = tx.lock_undispatched(100).await.unwrap().len();
        drop(tx);
        let refused = governance.submit_access_request(&request("ROLE", "r-approver"), "test").await;
        let Err(Error::Invalid(problem)) = refused else { panic!("{kind}: {refused:?}") };
        assert_eq!(problem.pointer, "/requestedItems", "{kind}: {problem}");
        let message = problem.message;
        assert!(message.starts_with("SoD policy `Pay vs approve` forbids"), "{kind}: {message}");
        assert!(message.contains("`Pay`") && message.contains("`Approve Payments`"), "{kind}: {message}");
        let mut tx = store.begin().await.unwrap();
        assert!(tx.requested_items(Some("ada"), None, None, 10, 0).await.unwrap().is_empty(), "{kind}");
        assert_eq!(tx.lock_undispatched(100).await.unwrap().len(), events_before, "{kind}: no event");
        drop(tx);
        // An unrelated item still goes through.
        governance.submit_access_request(&request("ENTITLEMENT", "e-reports"), "test").await.unwrap();
    }
}

#[tokio::test]
async fn bad_definitions_are_refused_with_pointers() {
    for (kind, store) in stores().await {
        let governance = world(&store).await;
        let cases = [
            ("/name", json!({"name": ""})),
            ("/state", json!({"state": "ON"})),
            ("/type", json!({"type": "GENERAL"})),
            ("/forbid", json!({"forbid": "yes"})),
            (
                "/conflictingAccessCriteria/leftCriteria/criteriaList",
                json!({"conflictingAccessCriteria": {
                "leftCriteria": {"criteriaList": []},
                "rightCriteria": {"criteriaList": [{"type": "ENTITLEMENT", "id": "e-approve"}]}}}),
            ),
            (
                "/conflictingAccessCriteria/rightCriteria/criteriaList/0/type",
                json!({"conflictingAccessCriteria": {
                "leftCriteria": {"criteriaList": [{"type": "ENTITLEMENT", "id": "e-pay"}]},
                "rightCriteria": {"criteriaList": [{"type": "ACCOUNT", "id": "x"}]}}}),
            ),
            (
                "/conflictingAccessCriteria/rightCriteria/criteriaList/0",
                json!({"conflictingAccessCriteria": {
                "leftCriteria": {"criteriaList": [{"type": "ENTITLEMENT", "id": "e-pay"}]},
                "rightCriteria": {"criteriaList": [{"type": "ENTITLEMENT", "id": "e-pay"}]}}}),
            ),
            (
                "/conflictingAccessCriteria/rightCriteria/criteriaList/0/id",
                json!({"conflictingAccessCriteria": {
                "leftCriteria": {"criteriaList": [{"type": "ENTITLEMENT", "id": "e-pay"}]},
                "rightCriteria": {"criteriaList": [{"type": "ROLE", "id": "no-such-role"}]}}}),
            ),
        ];
        for (pointer, change) in cases {
            let mut body = policy(false);
            for (key, value) in change.as_object().unwrap() {
                body[key] = value.clone();
            }
            let refused = governance.create_sod_policy(&body, "test").await;
            let Err(Error::Invalid(problem)) = refused else { panic!("{kind} {pointer}: {refused:?}") };
            assert_eq!(problem.pointer, pointer, "{kind}: {problem}");
        }
        governance.create_sod_policy(&policy(false), "test").await.unwrap();
        let twice = governance.create_sod_policy(&policy(false), "test").await;
        assert!(matches!(twice, Err(Error::Store(tessera_store::Error::Conflict(_)))), "{kind}: {twice:?}");
        let mut tx = store.begin().await.unwrap();
        assert_eq!(tx.sod_policies().await.unwrap().len(), 1, "{kind}");
    }
}
