//! A decision is written whole or not at all, on both databases: when a workflow's answer to an
//! access request cannot be carried out in full (an item was deleted while the workflow ran), no part
//! of it stays — no item granted, no approval recorded — and what happened is audited.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use serde_json::json;
use tessera_engine::{Engine, EngineConfig};
use tessera_governance::inbox::{InboxAction, InboxActor};
use tessera_governance::requests::{NewAccessRequest, RequestType, RequestedItem};
use tessera_governance::{Governance, GovernanceConfig};
use tessera_model::ManualClock;
use tessera_store::testing::stores;
use tessera_store::{
    AccessStore, AuditQuery, CatalogKind, CatalogStore, IdentityStore, InboxStore, RequestStore, SecurityStore, Store,
};

mod fixtures;
use fixtures::{insert_workflow, object, person};

/// Ada (managed by Mary), Olga, and two requestable access profiles, VPN and Wiki, on a manual source.
async fn world(store: &Store) -> Arc<Governance> {
    let mut tx = store.begin().await.unwrap();
    tx.insert_identities(&[
        person("mary", "Mary Manager", None),
        person("olga", "Olga Owner", None),
        person("ada", "Ada Lovelace", Some("mary")),
    ])
    .await
    .unwrap();
    tx.insert_object(&object(
        CatalogKind::Source,
        "desk",
        "Service Desk",
        "",
        json!({"name": "Service Desk", "connector": "manual"}),
    ))
    .await
    .unwrap();
    for (profile, entitlement, name) in [("ap-vpn", "e-vpn", "VPN"), ("ap-wiki", "e-wiki", "Wiki")] {
        let value = name.to_lowercase();
        tx.insert_object(&object(
            CatalogKind::Entitlement,
            entitlement,
            &format!("groups={value}"),
            "desk",
            json!({"name": name, "attribute": "groups", "value": value}),
        ))
        .await
        .unwrap();
        let mut access = object(
            CatalogKind::AccessProfile,
            profile,
            name,
            "desk",
            json!({"name": name, "entitlements": [{"id": entitlement}],
                   "accessRequestConfig": {"approvalSchemes": [{"approverType": "MANAGER"}]}}),
        );
        access.owner_id = Some("olga".into());
        access.requestable = true;
        tx.insert_object(&access).await.unwrap();
    }
    tx.commit().await.unwrap();
    let clock = Arc::new(ManualClock::new("2026-04-01T08:00:00Z".parse().unwrap()));
    Governance::new(Engine::new(store.clone(), clock, EngineConfig::default()), GovernanceConfig::default()).unwrap()
}

/// Ada asks for VPN then Wiki in one request.
async fn request_both(governance: &Governance) -> String {
    let item =
        |id: &str| RequestedItem { kind: "ACCESS_PROFILE".into(), id: id.into(), comment: None, remove_at: None };
    let request = NewAccessRequest {
        requester_id: "ada".into(),
        requested_for: vec!["ada".into()],
        request_type: RequestType::Grant,
        items: vec![item("ap-vpn"), item("ap-wiki")],
        comment: None,
    };
    governance.submit_access_request(&request, "test").await.unwrap().new_requests[0].request_ids[0].clone()
}

/// The Wiki profile is deleted while the workflow runs.
async fn delete_wiki(store: &Store) {
    let mut tx = store.begin().await.unwrap();
    assert!(tx.delete_object(CatalogKind::AccessProfile, "ap-wiki").await.unwrap());
    tx.commit().await.unwrap();
}

/// (item statuses, what Ada holds, the request's status).
async fn outcome(store: &Store, request: &str) -> (Vec<String>, Vec<String>, String) {
    let mut tx = store.begin().await.unwrap();
    let items = tx.request_items(request).await.unwrap().into_iter().map(|i| i.status.to_string()).collect();
    let holds = tx.access_of(&["ada".to_string()]).await.unwrap().into_iter().map(|g| g.object_id).collect();
    let status = tx.access_request(request).await.unwrap().unwrap().status;
    (items, holds, status.to_string())
}

#[tokio::test]
async fn a_pre_approval_that_cannot_be_carried_out_in_full_approves_nothing_and_approvers_decide() {
    for (kind, store) in stores().await {
        let governance = world(&store).await;
        insert_workflow(
            &store,
            "w-pre",
            json!({"name": "pre", "trigger": {"type": "REQUEST_RESPONSE", "attributes": {"id": "idn:access-request-pre-approval"}},
                   "definition": {"start": "Answer", "steps": {
                       "Answer": {"type": "Mutation", "attributes": {"id": "sp:define-variable", "variables": [{"name": "approved", "variableA": true}]}, "nextStep": "End"},
                       "End": {"type": "success"}}}}),
        )
        .await;
        let request = request_both(&governance).await;
        delete_wiki(&store).await;
        governance.engine().run_due().await.unwrap();

        let (items, holds, status) = outcome(&store, &request).await;
        assert_eq!(items, ["PENDING", "PENDING"], "{kind}: neither item is decided");
        assert!(holds.is_empty(), "{kind}: VPN is not granted on its own: {holds:?}");
        assert_eq!(status, "PENDING", "{kind}");
        let mut tx = store.begin().await.unwrap();
        let approvals = tx.request_approvals(&request).await.unwrap();
        assert!(
            approvals.iter().all(|a| a.approver_kind != tessera_model::ApproverKind::PreApproval),
            "{kind}: no pre-approval is recorded"
        );
        assert!(
            approvals.iter().any(|a| a.status == tessera_model::WorkStatus::Pending && a.candidates == ["mary"]),
            "{kind}: the manager decides instead: {approvals:?}"
        );
        let audit = tx.audit_of("access-request", &request).await.unwrap();
        let hook = audit.iter().find(|e| e.action == "access-request.hook").unwrap();
        let ignored = hook.detail["answer"]["ignored"].as_str().unwrap();
        assert!(ignored.contains("could not be carried out"), "{kind}: {ignored}");
    }
}

#[tokio::test]
async fn an_approval_workflow_whose_decision_cannot_be_written_whole_writes_none_of_it() {
    for (kind, store) in stores().await {
        let governance = world(&store).await;
        insert_workflow(
            &store,
            "w-approve",
            json!({"name": "approval", "trigger": {"type": "AccessRequestTrigger", "attributes": {}},
                   "definition": {"start": "Ask", "steps": {
                       "Ask": {"type": "action", "actionId": "sp:access-request-approval", "attributes": {"approvalScheme": "MANAGER"}, "nextStep": "Yes"},
                       "Yes": {"type": "success"}}}}),
        )
        .await;
        let request = request_both(&governance).await;
        governance.engine().run_due().await.unwrap();
        // Mary approves the Wiki item's workflow after the Wiki profile was deleted.
        let mut tx = store.begin().await.unwrap();
        let mine = tx.inbox_items(Some("mary"), Some(tessera_model::WorkStatus::Pending), 10, 0).await.unwrap();
        drop(tx);
        let wiki = mine.iter().find(|i| i.title.contains("Wiki")).unwrap();
        delete_wiki(&store).await;
        let actor = InboxActor { identity: Some("mary"), admin: false, audit: "test" };
        governance.act_on_inbox_item(&wiki.id, actor, InboxAction::Approve { comment: None }).await.unwrap();
        governance.engine().run_due().await.unwrap();

        let mut tx = store.begin().await.unwrap();
        let approvals = tx.request_approvals(&request).await.unwrap();
        let wiki_item = &tx.request_items(&request).await.unwrap()[1];
        assert_eq!(
            wiki_item.status,
            tessera_model::ItemStatus::Pending,
            "{kind}: the item is not settled by half a decision"
        );
        let level: Vec<&str> =
            approvals.iter().filter(|a| a.item_id == wiki_item.id).map(|a| a.status.as_str()).collect();
        assert_eq!(level, ["PENDING"], "{kind}: the approval is not recorded without its grant");
        let query = AuditQuery { action: Some("workflow-outcome.refused".into()), limit: 10, ..AuditQuery::default() };
        let refused = tx.audit_entries(&query).await.unwrap();
        assert_eq!(refused.len(), 1, "{kind}: the refusal is audited");
        assert_eq!(refused[0].target_type, "access-request-item", "{kind}");
        let reason = refused[0].detail["reason"].as_str().unwrap();
        assert!(reason.contains("ap-wiki"), "{kind}: {reason}");
    }
}
