//! The ISC access-request scenario end to end over HTTP, on both databases: Ada asks for a role whose
//! approval is her manager's and then its owner's; its access profile holds a group on a SCIM source
//! backed by a real scim2-server; an SoD policy that warns (does not forbid) finds the group in
//! conflict with what Ada holds, and both the manager's pending approval and the request's status
//! show it. The manager approves, the owner's approval opens, the owner approves: Ada's user is created
//! in the group on scim2-server, one Provisioning Completed with SUCCESS is published, and the workflow
//! it triggers runs to Completed.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use reqwest::Method;
use serde_json::{Value, json};
use tessera_connectors::testing::scim_server::ScimServer;
use tessera_model::Timestamp;
use tessera_store::{AccessGrant, AccessStore, CatalogKind, CatalogStore, IdentityStore};

use crate::catalog::create_id;
use crate::common::{Api, Reply, apis, bound_token, object, person};

/// A person with the identity attributes the SCIM source's create policy and email need.
fn with_attributes(id: &str, name: &str, manager: Option<&str>) -> tessera_store::IdentityRecord {
    let mut identity = person(id, manager);
    identity.name = name.into();
    identity.email = Some(format!("{id}@example.org"));
    identity.attributes =
        json!({"uid": id, "displayName": name, "email": format!("{id}@example.org")}).as_object().unwrap().clone();
    identity
}

/// Ada (managed by Mary) already holds `e-pay` on a manual Finance source; Olga will own the role.
async fn people(api: &Api) {
    let mut tx = api.store.begin().await.unwrap();
    tx.insert_identities(&[
        with_attributes("mary", "Mary Manager", None),
        with_attributes("olga", "Olga Owner", None),
        with_attributes("ada", "Ada Lovelace", Some("mary")),
    ])
    .await
    .unwrap();
    for o in [
        object(CatalogKind::Source, "fin", "", false, json!({"name": "fin", "connector": "manual"})),
        object(CatalogKind::Entitlement, "e-pay", "fin", false, json!({"attribute": "groups", "value": "pay"})),
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

async fn as_person(api: &Api, token: &str, method: Method, path: &str, body: Option<Value>) -> Reply {
    api.call_as(Some(token), method, path, body.as_ref()).await
}

/// Every event published with `topic`, oldest first.
async fn published(api: &Api, topic: &str) -> Vec<Value> {
    let rows: Vec<String> = sqlx::query_scalar("SELECT payload FROM outbox WHERE topic = $1 ORDER BY created_at, id")
        .bind(topic)
        .fetch_all(api.store.pool())
        .await
        .unwrap();
    rows.iter().map(|p| serde_json::from_str(p).unwrap()).collect()
}

/// The users scim2-server holds with `user_name`.
async fn scim_users(scim: &ScimServer, user_name: &str) -> Vec<Value> {
    let path = format!("/Users?filter=userName%20eq%20%22{user_name}%22");
    let (status, list) = scim.request(Method::GET, &path, None).await;
    assert_eq!(status, 200, "{list}");
    list["Resources"].as_array().cloned().unwrap_or_default()
}

/// Checks a `sodViolationContext` names the policy, with Ada's held `e-pay` against the group.
fn assert_warning(context: &Value, policy: &str, group_entitlement: &str, place: &str) {
    assert_eq!(context["state"], "SUCCESS", "{place}: {context}");
    let result = &context["violationCheckResult"];
    assert_eq!(result["violatedPolicies"], json!([{"type": "SOD_POLICY", "id": policy, "name": "Pay vs approve"}]));
    let criteria = &result["violationContexts"][0]["conflictingAccessCriteria"];
    assert_eq!(
        criteria["leftCriteria"]["criteriaList"],
        json!([{"type": "ENTITLEMENT", "id": "e-pay", "name": "e-pay", "existing": true}]),
        "{place}"
    );
    let right = &criteria["rightCriteria"]["criteriaList"][0];
    assert_eq!((&right["id"], &right["existing"]), (&json!(group_entitlement), &json!(false)), "{place}");
}

#[tokio::test]
async fn a_role_approved_by_manager_then_owner_with_an_sod_warning_is_provisioned_to_scim() {
    for api in apis().await {
        let kind = api.kind;
        let scim = ScimServer::start();
        let group = scim.create_group("invoice-approvers").await;
        people(&api).await;

        // The catalogue, over the API: a SCIM source, its group as an entitlement, an access profile
        // holding it, and a requestable role that needs the manager's and then the owner's approval.
        let crm = create_id(
            &api,
            "/v3/sources",
            &json!({"name": "CRM", "connector": "scim", "connectorAttributes": scim.attributes(json!({})),
                "provisioningPolicies": [{"usageType": "CREATE", "fields": [
                    {"name": "userName", "transform": {"type": "identityAttribute", "attributes": {"name": "uid"}},
                     "isRequired": true},
                    {"name": "displayName", "isRequired": true},
                    {"name": "email"}]}]}),
        )
        .await;
        let entitlement = create_id(
            &api,
            "/tessera/v1/entitlements",
            &json!({"name": "Invoice approvers", "source": {"id": crm}, "attribute": "groups", "value": group}),
        )
        .await;
        let profile = create_id(
            &api,
            "/v3/access-profiles",
            &json!({"name": "CRM invoice approving", "source": {"id": crm}, "entitlements": [{"id": entitlement}],
                    "enabled": true}),
        )
        .await;
        let role = create_id(
            &api,
            "/v3/roles",
            &json!({"name": "Invoice approver", "accessProfiles": [{"id": profile}], "enabled": true,
                    "requestable": true, "owner": {"type": "IDENTITY", "id": "olga"},
                    "accessRequestConfig": {"approvalSchemes": [{"approverType": "MANAGER"},
                                                                {"approverType": "OWNER"}]}}),
        )
        .await;
        let policy = create_id(
            &api,
            "/v3/sod-policies",
            &json!({"name": "Pay vs approve", "state": "ENFORCED", "type": "CONFLICTING_ACCESS_BASED", "forbid": false,
                    "conflictingAccessCriteria": {
                        "leftCriteria": {"criteriaList": [{"type": "ENTITLEMENT", "id": "e-pay"}]},
                        "rightCriteria": {"criteriaList": [{"type": "ENTITLEMENT", "id": entitlement}]}}}),
        )
        .await;
        let workflow = api
            .create(&json!({"name": "After provisioning", "enabled": true,
                "trigger": {"type": "EVENT", "attributes": {"id": "idn:post-provisioning"}},
                "definition": {"start": "Done", "steps": {"Done": {"type": "success"}}}}))
            .await;

        // Ada asks for the role with her own token.
        let ada = bound_token(&api, "ada", &["idn:access-request-self:manage"]).await;
        let deciding = ["idn:access-request-approvals:read", "idn:access-request-approvals:manage"];
        let (mary, olga) = (bound_token(&api, "mary", &deciding).await, bound_token(&api, "olga", &deciding).await);
        let body = json!({"requestedFor": ["ada"],
                          "requestedItems": [{"type": "ROLE", "id": role, "comment": "I approve invoices now"}]});
        let submitted = as_person(&api, &ada, Method::POST, "/v3/access-requests", Some(body)).await;
        assert_eq!(submitted.status, 202, "{kind}: {}", submitted.body);
        let request = submitted.body["newRequests"][0]["accessRequestIds"][0].as_str().unwrap().to_owned();

        // The manager's pending approval carries the SoD warning; the owner has nothing yet.
        let pending = as_person(&api, &mary, Method::GET, "/v3/access-request-approvals/pending", None).await;
        assert_eq!(pending.body.as_array().map(Vec::len), Some(1), "{kind}: {}", pending.body);
        assert_eq!(
            (&pending.body[0]["approverType"], &pending.body[0]["requestedObject"]["id"]),
            (&json!("MANAGER"), &json!(role))
        );
        assert_warning(&pending.body[0]["sodViolationContext"], &policy, &entitlement, kind);
        let none = as_person(&api, &olga, Method::GET, "/v3/access-request-approvals/pending", None).await;
        assert_eq!(none.body, json!([]), "{kind}: the owner's level waits for the manager's");
        let status = api.get("/v3/access-request-status?requested-for=ada").await;
        assert_eq!((status.status, &status.body[0]["state"]), (200, &json!("EXECUTING")), "{kind}: {}", status.body);
        assert_warning(&status.body[0]["sodViolationContext"], &policy, &entitlement, kind);

        // The manager approves: the owner's approval opens, still showing the warning.
        let approval = pending.body[0]["id"].as_str().unwrap();
        let path = format!("/v3/access-request-approvals/{approval}/approve");
        let decided = as_person(&api, &mary, Method::POST, &path, Some(json!({"comment": "noted the SoD"}))).await;
        assert_eq!((decided.status, &decided.body["itemState"]), (202, &json!("PENDING")), "{kind}: {}", decided.body);
        let pending = as_person(&api, &olga, Method::GET, "/v3/access-request-approvals/pending", None).await;
        assert_eq!(pending.body.as_array().map(Vec::len), Some(1), "{kind}: {}", pending.body);
        assert_eq!((&pending.body[0]["approverType"], &pending.body[0]["level"]), (&json!("OWNER"), &json!(2)));
        assert_warning(&pending.body[0]["sodViolationContext"], &policy, &entitlement, kind);
        assert!(published(&api, "idn:post-provisioning").await.is_empty(), "{kind}: nothing before the last level");

        // The owner approves: the grant's plan provisions Ada's user into the group on scim2-server.
        let path = format!("/v3/access-request-approvals/{}/approve", pending.body[0]["id"].as_str().unwrap());
        let decided = as_person(&api, &olga, Method::POST, &path, Some(json!({}))).await;
        assert_eq!((decided.status, &decided.body["itemState"]), (202, &json!("APPROVED")), "{kind}: {}", decided.body);
        let tracking = decided.body["trackingNumber"].as_str().unwrap().to_owned();
        while api.governance.run_provisioning().await.unwrap() > 0 {}
        let users = scim_users(&scim, "ada").await;
        assert_eq!(users.len(), 1, "{kind}: {users:?}");
        assert_eq!(users[0]["displayName"], "Ada Lovelace", "{kind}");
        let user = users[0]["id"].as_str().unwrap().to_owned();
        assert_eq!(scim.members(&group).await, vec![user.clone()], "{kind}");

        // One Provisioning Completed, with the SCIM account request's SUCCESS.
        let completed = published(&api, "idn:post-provisioning").await;
        assert_eq!(completed.len(), 1, "{kind}: {completed:?}");
        let event = &completed[0];
        assert_eq!((&event["trackingNumber"], &event["action"]), (&json!(tracking), &json!("AccessRequest")), "{kind}");
        assert_eq!(event["recipient"]["id"], "ada", "{kind}");
        let requests = event["accountRequests"].as_array().unwrap();
        assert_eq!(requests.len(), 1, "{kind}: {requests:?}");
        assert_eq!(
            (&requests[0]["source"]["id"], &requests[0]["provisioningResult"], &requests[0]["accountId"]),
            (&json!(crm), &json!("SUCCESS"), &json!(user)),
            "{kind}"
        );
        assert_eq!(event["errors"], json!([]), "{kind}");
        assert_eq!(published(&api, "idn:access-request-post-approval").await.len(), 1, "{kind}");

        // The workflow triggered by it runs to the end.
        while api.engine.dispatch_events().await.unwrap() > 0 {}
        while api.engine.run_due().await.unwrap() > 0 {}
        let runs = api.get(&format!("/v3/workflows/{workflow}/executions")).await;
        assert_eq!(runs.status, 200, "{kind}: {}", runs.body);
        assert_eq!(runs.body.as_array().map(Vec::len), Some(1), "{kind}: {}", runs.body);
        assert_eq!(runs.body[0]["status"], "Completed", "{kind}: {}", runs.body);

        // Ada holds the role; the status shows the request completed, with both decisions.
        let mut tx = api.store.begin().await.unwrap();
        let held: Vec<(String, String)> =
            tx.access_of(&["ada".to_owned()]).await.unwrap().into_iter().map(|g| (g.kind, g.object_id)).collect();
        assert!(held.contains(&("ROLE".to_owned(), role.clone())), "{kind}: {held:?}");
        assert_eq!(tx.identity("ada").await.unwrap().unwrap().manager_id.as_deref(), Some("mary"));
        drop(tx);
        let status = api.get("/v3/access-request-status?requested-for=ada").await;
        assert_eq!(status.body[0]["accessRequestId"], request.as_str(), "{kind}");
        assert_eq!(status.body[0]["state"], "REQUEST_COMPLETED", "{kind}: {}", status.body);
        let reviewers: Vec<&str> = status.body[0]["approvalDetails"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["reviewedBy"]["id"].as_str().unwrap())
            .collect();
        assert_eq!(reviewers, ["mary", "olga"], "{kind}");
    }
}
