//! The audit log: every change through the API is recorded in its transaction with the calling
//! client as the actor; a refused or empty change records nothing.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use reqwest::Method;
use serde_json::{Value, json};

use tessera_store::{CatalogStore, IdentityStore};

use crate::common::{ADMIN_ACTOR, apis, internal, sleepy};

#[tokio::test]
async fn every_change_is_audited_with_the_client_as_actor() {
    for api in apis().await {
        let kind = api.kind;
        let id = api.create(&sleepy("Audited")).await;
        let path = format!("/v3/workflows/{id}");
        let mut second = sleepy("Audited");
        second["description"] = json!("two");
        assert_eq!(api.call(Method::PUT, &path, Some(&second)).await.status, 200, "{kind}");
        let enable = json!([{"op": "replace", "path": "/enabled", "value": true}]);
        assert_eq!(api.call(Method::PATCH, &path, Some(&enable)).await.status, 200, "{kind}");
        let rename = json!([{"op": "replace", "path": "/name", "value": "Audited 3"}]);
        assert_eq!(api.call(Method::PATCH, &path, Some(&rename)).await.status, 200, "{kind}");
        let execution = api.test(&id, json!({"why": "audit"})).await;
        api.run_due().await;
        let rollback = api.post(&format!("/tessera/v1/workflows/{id}/versions/1/rollback"), &json!({})).await;
        assert_eq!(rollback.status, 200, "{kind}");
        let cancel = api.post(&format!("/v3/workflow-executions/{execution}/cancel"), &json!({})).await;
        assert_eq!(cancel.status, 204, "{kind}");
        assert_eq!(api.call(Method::DELETE, &path, None).await.status, 204, "{kind}");

        let entries = api.audit_of("workflow", &id).await;
        let actions: Vec<(&str, &str, &Value)> =
            entries.iter().map(|e| (e.actor.as_str(), e.action.as_str(), &e.detail)).collect();
        assert_eq!(
            actions,
            [
                (ADMIN_ACTOR, "workflow.create", &json!({"version": 1, "name": "Audited"})),
                (ADMIN_ACTOR, "workflow.update", &json!({"version": 2})),
                (ADMIN_ACTOR, "workflow.update", &json!({"enabled": true, "trace": false})),
                (ADMIN_ACTOR, "workflow.update", &json!({"version": 3})),
                (ADMIN_ACTOR, "workflow.test", &json!({"execution": execution, "version": 3})),
                (ADMIN_ACTOR, "workflow.update", &json!({"version": 4})),
                (ADMIN_ACTOR, "workflow.delete", &json!({})),
            ],
            "{kind}"
        );
        assert!(entries.iter().all(|e| e.target_type == "workflow" && e.target_id == id), "{kind}");
        let cancels = api.audit_of("workflow-execution", &execution).await;
        let cancels: Vec<(&str, &str, &Value)> =
            cancels.iter().map(|e| (e.actor.as_str(), e.action.as_str(), &e.detail)).collect();
        assert_eq!(cancels, [(ADMIN_ACTOR, "execution.cancel", &json!({"workflow": id}))], "{kind}");
    }
}

#[tokio::test]
async fn refused_and_empty_changes_write_no_audit_entry() {
    for api in apis().await {
        let kind = api.kind;
        let before = api.audit_count().await;
        let mut broken = internal("Broken");
        broken["definition"]["start"] = json!("Nowhere");
        assert_eq!(api.post("/v3/workflows", &broken).await.status, 400, "{kind}");
        assert_eq!(api.audit_count().await, before, "{kind}: an invalid create writes nothing");

        let id = api.create(&internal("Steady")).await;
        let path = format!("/v3/workflows/{id}");
        let after_create = api.audit_count().await;
        assert_eq!(after_create, before + 1, "{kind}");
        assert_eq!(api.call(Method::PUT, &path, Some(&broken)).await.status, 400, "{kind}");
        let same = api.call(Method::PUT, &path, Some(&internal("Steady"))).await;
        assert_eq!((same.status, &same.body["version"]), (200, &json!(1)), "{kind}: an identical PUT is no version");
        let disable = json!([{"op": "replace", "path": "/enabled", "value": false}]);
        assert_eq!(api.call(Method::PATCH, &path, Some(&disable)).await.status, 200, "{kind}");
        assert_eq!(api.post(&format!("{path}/test"), &json!({})).await.status, 400, "{kind}");
        let reader = api.client_with("reader", &[tessera_server::auth::WORKFLOW_READ]).await;
        let forbidden = api.call_as(Some(&reader), Method::DELETE, &path, None).await;
        assert_eq!(forbidden.status, 403, "{kind}");
        assert_eq!(api.audit_count().await, after_create, "{kind}: nothing refused or unchanged was audited");
        assert_eq!(api.audit_of("workflow", &id).await.len(), 1, "{kind}");
    }
}

/// What the audit log says of access a workflow grants and of a source repointed: who did it (the
/// workflow's execution), what changed, before and after, with secrets masked — and the log is read
/// over the API, filtered and paged, by those allowed to.
#[tokio::test]
async fn grants_and_source_changes_say_who_and_what_and_the_log_is_readable() {
    for api in apis().await {
        let kind = api.kind;
        let mut tx = api.store.begin().await.unwrap();
        tx.insert_identities(&[crate::common::person("ada", None)]).await.unwrap();
        for o in [
            crate::common::object(
                tessera_store::CatalogKind::Source,
                "desk",
                "",
                false,
                json!({"name": "desk", "connector": "manual"}),
            ),
            crate::common::object(
                tessera_store::CatalogKind::Entitlement,
                "e-vpn",
                "desk",
                true,
                json!({"attribute": "groups", "value": "vpn"}),
            ),
        ] {
            tx.insert_object(&o).await.unwrap();
        }
        tx.commit().await.unwrap();
        let grant = json!({"name": "Grant VPN", "definition": {"start": "Grant", "steps": {
            "Grant": {"type": "action", "actionId": "sp:access:manage", "nextStep": "Done", "attributes": {
                "requestType": "GRANT_ACCESS", "addIdentities": ["ada"],
                "requestedItems": [{"type": "ENTITLEMENT", "id": "e-vpn"}], "comments": "on call"}},
            "Done": {"type": "success"}}}});
        let id = api.create(&grant).await;
        let execution = api.test(&id, json!({})).await;
        api.run_due().await;
        let entries = api.audit_of("identity", "ada").await;
        let granted = entries.iter().find(|e| e.action == "access.grant").expect("the grant is audited");
        assert_eq!(granted.actor, format!("workflow:{execution}"), "{kind}");
        assert_eq!(
            (&granted.detail["id"], &granted.detail["comments"]),
            (&json!("e-vpn"), &json!("on call")),
            "{kind}"
        );
        let held = api.get("/tessera/v1/identities/ada/access").await.body;
        assert_eq!(held[0]["grantedBy"], json!({"type": "WORKFLOW_EXECUTION", "id": execution}), "{kind}: {held}");

        // A source repointed: the change is there, before and after; a sealed secret is masked.
        let source = api
            .post(
                "/v3/sources",
                &json!({"name": "HR feed", "connector": "delimited-file",
            "connectorAttributes": {"file": "first.csv", "identityAttribute": "id", "password": "zip-pass-123"}}),
            )
            .await;
        let source_id = source.body["id"].as_str().unwrap().to_owned();
        let mut moved = source.body.clone();
        moved["connectorAttributes"]["file"] = json!("second.csv");
        let put = api.call(Method::PUT, &format!("/v3/sources/{source_id}"), Some(&moved)).await;
        assert_eq!(put.status, 200, "{kind}: {}", put.body);
        let updated =
            api.audit_of("source", &source_id).await.into_iter().find(|e| e.action == "source.update").unwrap();
        let attributes = &updated.detail["changed"]["connectorAttributes"];
        assert_eq!(
            (&attributes["before"]["file"], &attributes["after"]["file"]),
            (&json!("first.csv"), &json!("second.csv")),
            "{kind}: {}",
            updated.detail
        );
        assert_eq!(attributes["after"]["password"], "********", "{kind}");
        assert!(!updated.detail.to_string().contains("zip-pass-123"), "{kind}");

        // Read over the API: filtered, paged, and only with the scope.
        let listed = api.get(&format!("/tessera/v1/audit?targetType=source&targetId={source_id}")).await;
        assert_eq!(listed.status, 200, "{kind}: {}", listed.body);
        let actions: Vec<&str> =
            listed.body.as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
        assert_eq!(actions, ["source.update", "source.create"], "{kind}: newest first");
        assert_eq!(listed.body[0]["actorRef"], json!({"type": "API_CLIENT", "id": "admin"}), "{kind}");
        let paged = api.get(&format!("/tessera/v1/audit?targetId={source_id}&limit=1&offset=1")).await;
        assert_eq!(paged.body[0]["action"], "source.create", "{kind}");
        let by_workflow = api.get(&format!("/tessera/v1/audit?actor=workflow:{execution}")).await;
        assert_eq!(by_workflow.body.as_array().unwrap().len(), 1, "{kind}: {}", by_workflow.body);
        let bad = api.get("/tessera/v1/audit?since=yesterday").await;
        assert_eq!(bad.status, 400, "{kind}");
        let reader = api.client_with("auditless", &["sp:workflow:read"]).await;
        assert_eq!(api.call_as(Some(&reader), Method::GET, "/tessera/v1/audit", None).await.status, 403, "{kind}");
        let auditor = api.client_with("auditor", &["tessera:audit:read"]).await;
        assert_eq!(api.call_as(Some(&auditor), Method::GET, "/tessera/v1/audit", None).await.status, 200, "{kind}");
    }
}
