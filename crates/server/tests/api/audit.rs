//! The audit log: every change through the API is recorded in its transaction with the calling
//! client as the actor; a refused or empty change records nothing.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use reqwest::Method;
use serde_json::{Value, json};

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
