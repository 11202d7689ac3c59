//! SoD policies over HTTP: CRUD with its refusals (pointer, 404, 409, 401, 403) and audit; a conflicting
//! access request shows `sodViolationContext` on its pending approval; a forbidding policy refuses the
//! request with 400 naming the policy; prediction.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use reqwest::Method;
use serde_json::{Value, json};
use tessera_model::Timestamp;
use tessera_store::{AccessGrant, AccessStore, CatalogKind, CatalogStore, IdentityStore};

use crate::common::{ADMIN_ACTOR, Api, Reply, apis, object, person};

/// Ada (managed by Mary) holds `e-pay`; the requestable role `r-approver` carries `e-approve`.
async fn seed(api: &Api) {
    let mut tx = api.store.begin().await.unwrap();
    tx.insert_identities(&[person("mary", None), person("ada", Some("mary"))]).await.unwrap();
    for o in [
        object(CatalogKind::Source, "fin", "", false, json!({"name": "fin", "connector": "manual"})),
        object(CatalogKind::Entitlement, "e-pay", "fin", true, json!({"attribute": "groups", "value": "pay"})),
        object(CatalogKind::Entitlement, "e-approve", "fin", true, json!({"attribute": "groups", "value": "approve"})),
        object(CatalogKind::AccessProfile, "ap-approve", "fin", false, json!({"entitlements": [{"id": "e-approve"}]})),
        object(CatalogKind::Role, "r-approver", "", true, json!({"accessProfiles": [{"id": "ap-approve"}]})),
    ] {
        tx.insert_object(&o).await.unwrap();
    }
    let grant = AccessGrant {
        identity_id: "ada".into(),
        kind: "ENTITLEMENT".into(),
        object_id: "e-pay".into(),
        origin: "REQUEST".into(),
        granted_at: Timestamp::UNIX_EPOCH,
        granted_by: None,
    };
    tx.grant(&grant).await.unwrap();
    tx.commit().await.unwrap();
}

fn policy(forbid: bool) -> Value {
    json!({"name": "Pay vs approve", "state": "ENFORCED", "type": "CONFLICTING_ACCESS_BASED", "forbid": forbid,
           "violationOwnerAssignmentConfig": {"assignmentRule": "MANAGER"},
           "conflictingAccessCriteria": {
               "leftCriteria": {"criteriaList": [{"type": "ENTITLEMENT", "id": "e-pay"}]},
               "rightCriteria": {"criteriaList": [{"type": "ENTITLEMENT", "id": "e-approve"}]}}})
}

fn role_request() -> Value {
    json!({"requestedFor": ["ada"], "requestedBy": "ada", "requestedItems": [{"type": "ROLE", "id": "r-approver"}]})
}

fn assert_refused(reply: &Reply, status: u16, code: &str, pointer: Option<&str>) {
    assert_eq!((reply.status, reply.code()), (status, code), "{}", reply.body);
    if let Some(pointer) = pointer {
        assert_eq!(reply.body["errors"][0]["pointer"], pointer, "{}", reply.body);
    }
}

#[tokio::test]
async fn policies_are_managed_and_refusals_are_clear() {
    for api in apis().await {
        seed(&api).await;
        let kind = api.kind;
        let reply = api.call_as(None, Method::GET, "/v3/sod-policies", None).await;
        assert_eq!(reply.status, 401, "{kind}");
        let reader = api.client_with("sod-reader", &["idn:sod-policy:read"]).await;
        let reply = api.call_as(Some(&reader), Method::POST, "/v3/sod-policies", Some(&policy(false))).await;
        assert_refused(&reply, 403, "forbidden", None);

        let mut bad = policy(false);
        bad["conflictingAccessCriteria"]["rightCriteria"]["criteriaList"][0]["id"] = json!("nope");
        let reply = api.post("/v3/sod-policies", &bad).await;
        assert_refused(
            &reply,
            400,
            "invalid-request",
            Some("/conflictingAccessCriteria/rightCriteria/criteriaList/0/id"),
        );
        let reply = api.post("/v3/sod-policies", &json!({"name": "x", "state": "MAYBE"})).await;
        assert_refused(&reply, 400, "invalid-request", Some("/state"));

        let created = api.post("/v3/sod-policies", &policy(false)).await;
        assert_eq!(created.status, 201, "{kind}: {}", created.body);
        let id = created.body["id"].as_str().unwrap().to_owned();
        assert_eq!(created.body["violationOwnerAssignmentConfig"]["assignmentRule"], "MANAGER", "{kind}");
        let reply = api.post("/v3/sod-policies", &policy(false)).await;
        assert_refused(&reply, 409, "conflict", None);
        let listed = api.call_as(Some(&reader), Method::GET, "/v3/sod-policies", None).await;
        assert_eq!(listed.body.as_array().unwrap().len(), 1, "{kind}: {}", listed.body);
        let reply = api.get("/v3/sod-policies/nope").await;
        assert_refused(&reply, 404, "not-found", None);
        let audit = api.audit_of("sod-policy", &id).await;
        assert_eq!((audit[0].actor.as_str(), audit[0].action.as_str()), (ADMIN_ACTOR, "sod-policy.create"));

        // A warning policy: the request is stored, the approver sees the violation.
        let submitted = api.post("/v3/access-requests", &role_request()).await;
        assert_eq!(submitted.status, 202, "{kind}: {}", submitted.body);
        let pending = api.get("/v3/access-request-approvals/pending?owner-id=mary").await;
        let context = &pending.body[0]["sodViolationContext"];
        assert_eq!(context["state"], "SUCCESS", "{kind}: {}", pending.body);
        let violation = &context["violationCheckResult"]["violationContexts"][0];
        assert_eq!(violation["policy"]["id"], id.as_str(), "{kind}");
        assert_eq!(violation["conflictingAccessCriteria"]["rightCriteria"]["criteriaList"][0]["id"], "e-approve");

        let predicted = api
            .post(
                "/v3/sod-violations/predict",
                &json!({"identityId": "ada",
                   "accessRefs": [{"type": "ACCESS_PROFILE", "id": "ap-approve"}]}),
            )
            .await;
        assert_eq!(predicted.status, 200, "{kind}: {}", predicted.body);
        assert_eq!(predicted.body["violationContexts"][0]["policy"]["name"], "Pay vs approve", "{kind}");
        let reply = api.post("/v3/sod-violations/predict", &json!({"identityId": "ada"})).await;
        assert_refused(&reply, 400, "invalid-request", Some("/accessRefs"));

        // Forbidding: cancel the pending request first, so the new one is not folded into it.
        let request_id = submitted.body["newRequests"][0]["accessRequestIds"][0].as_str().unwrap();
        let cancel = json!({"accountActivityId": request_id, "comment": "x"});
        assert_eq!(api.post("/v3/access-requests/cancel", &cancel).await.status, 202, "{kind}");
        let replaced = api.call(Method::PUT, &format!("/v3/sod-policies/{id}"), Some(&policy(true))).await;
        assert_eq!(replaced.status, 200, "{kind}: {}", replaced.body);
        assert_eq!(replaced.body["forbid"], true, "{kind}");
        let reply = api.post("/v3/access-requests", &role_request()).await;
        assert_refused(&reply, 400, "invalid-request", Some("/requestedItems"));
        assert!(reply.body["messages"][0]["text"].as_str().unwrap().contains("Pay vs approve"), "{}", reply.body);

        let deleted = api.call(Method::DELETE, &format!("/v3/sod-policies/{id}"), None).await;
        assert_eq!(deleted.status, 204, "{kind}");
        let reply = api.call(Method::DELETE, &format!("/v3/sod-policies/{id}"), None).await;
        assert_refused(&reply, 404, "not-found", None);
        let mut tx = api.store.begin().await.unwrap();
        assert_eq!(tx.access_of(&["ada".to_owned()]).await.unwrap().len(), 1, "{kind}: only e-pay");
    }
}
