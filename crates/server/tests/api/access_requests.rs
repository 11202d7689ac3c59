//! Access requests over HTTP: a request submitted, approved by the manager and granted; and every
//! refusal with its status and stable code — a bad body (with its pointer), an unknown approval,
//! deciding for someone else, deciding twice, cancelling twice, and missing scopes. And tokens that act
//! as a person: requesting for themselves only, deciding and listing their own approvals.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use serde_json::{Value, json};
use tessera_store::{AccessStore, CatalogKind, CatalogStore, IdentityStore};

use crate::common::{Api, Reply, apis, object, person};

/// Ada managed by Mary; a requestable access profile `ap-vpn` on a manual source needing Mary's
/// approval (the default), and an entitlement that is not requestable.
async fn seed(api: &Api) {
    let mut tx = api.store.begin().await.unwrap();
    tx.insert_identities(&[person("mary", None), person("ada", Some("mary")), person("eve", None)]).await.unwrap();
    for o in [
        object(CatalogKind::Source, "desk", "", false, json!({"name": "desk", "connector": "manual"})),
        object(CatalogKind::Entitlement, "e-vpn", "desk", false, json!({"attribute": "groups", "value": "vpn"})),
        object(CatalogKind::AccessProfile, "ap-vpn", "desk", true, json!({"entitlements": [{"id": "e-vpn"}]})),
    ] {
        tx.insert_object(&o).await.unwrap();
    }
    tx.commit().await.unwrap();
}

fn request(item_type: &str, id: &str) -> Value {
    json!({"requestedFor": ["ada"], "requestedBy": "ada",
           "requestedItems": [{"type": item_type, "id": id, "comment": "for work"}]})
}

fn assert_refused(reply: &Reply, status: u16, code: &str, pointer: Option<&str>) {
    assert_eq!((reply.status, reply.code()), (status, code), "{}", reply.body);
    if let Some(pointer) = pointer {
        assert_eq!(reply.body["errors"][0]["pointer"], pointer, "{}", reply.body);
    }
}

#[tokio::test]
async fn a_request_is_approved_and_every_refusal_is_clear() {
    for api in apis().await {
        seed(&api).await;
        let kind = api.kind;

        // Bad bodies: 400 with the place.
        let bad = [
            (json!({"requestedBy": "ada", "requestedItems": []}), "/requestedFor"),
            (json!({"requestedFor": ["ada"], "requestedItems": [{"type": "ROLE", "id": "x"}]}), "/requestedBy"),
            (
                json!({"requestedFor": ["ada"], "requestedBy": "ada", "requestType": "MODIFY_ACCESS",
                    "requestedItems": [{"type": "ROLE", "id": "x"}]}),
                "/requestType",
            ),
            (
                json!({"requestedFor": ["ada"], "requestedBy": "ada", "requestedItems": [{"type": "ROLE"}]}),
                "/requestedItems/0/id",
            ),
            (
                json!({"requestedFor": ["ada"], "requestedBy": "ada",
                    "requestedItems": [{"type": "ROLE", "id": "x", "removeDate": "soon"}]}),
                "/requestedItems/0/removeDate",
            ),
            (request("GADGET", "x"), "/requestedItems/0/type"),
            (request("ACCESS_PROFILE", "nope"), "/requestedItems/0/id"),
            (request("ENTITLEMENT", "e-vpn"), "/requestedItems/0"),
            (
                json!({"requestedFor": ["ghost"], "requestedBy": "ada",
                    "requestedItems": [{"type": "ACCESS_PROFILE", "id": "ap-vpn"}]}),
                "/requestedFor/0",
            ),
        ];
        for (body, pointer) in bad {
            let reply = api.post("/v3/access-requests", &body).await;
            assert_refused(&reply, 400, "invalid-request", Some(pointer));
        }
        let reply = api.raw(reqwest::Method::POST, "/v3/access-requests", "application/json", "{not json").await;
        assert_refused(&reply, 400, "invalid-request", Some(""));

        // Scopes: reading approvals does not decide them; the self-service scope cannot name a requester.
        let reader = api.client_with("reader", &["idn:access-request-approvals:read"]).await;
        let own = api.client_with("own", &["idn:access-request-self:manage"]).await;
        let reply = api
            .call_as(
                Some(&own),
                reqwest::Method::POST,
                "/v3/access-requests",
                Some(&request("ACCESS_PROFILE", "ap-vpn")),
            )
            .await;
        assert_refused(&reply, 403, "forbidden", None);
        assert!(
            reply.body["messages"][0]["text"].as_str().unwrap().contains("names no identity"),
            "{kind}: {}",
            reply.body
        );

        // A request, then its pending approval.
        let submitted = api.post("/v3/access-requests", &request("ACCESS_PROFILE", "ap-vpn")).await;
        assert_eq!(submitted.status, 202, "{kind}: {}", submitted.body);
        let request_id = submitted.body["newRequests"][0]["accessRequestIds"][0].as_str().unwrap().to_owned();
        let again = api.post("/v3/access-requests", &request("ACCESS_PROFILE", "ap-vpn")).await;
        assert_eq!(again.status, 202, "{kind}");
        assert_eq!(again.body["existingRequests"][0]["accessRequestIds"][0], request_id.as_str(), "{kind}");
        assert_eq!(again.body["newRequests"], json!([]), "{kind}");

        let pending = api.get("/v3/access-request-approvals/pending?owner-id=mary").await;
        assert_eq!(pending.status, 200, "{kind}: {}", pending.body);
        assert_eq!(pending.body.as_array().unwrap().len(), 1, "{kind}");
        let approval = pending.body[0]["id"].as_str().unwrap().to_owned();
        assert_eq!(pending.body[0]["requestedObject"]["id"], "ap-vpn", "{kind}");
        assert_eq!(pending.body[0]["approverType"], "MANAGER", "{kind}");
        let none = api.get("/v3/access-request-approvals/pending?owner-id=eve").await;
        assert_eq!(none.body, json!([]), "{kind}");

        // Deciding: unknown, wrong scope, someone else's, no approver, reject without a comment.
        let path = format!("/v3/access-request-approvals/{approval}/approve");
        let reply = api.post("/v3/access-request-approvals/nope/approve", &json!({"approverId": "mary"})).await;
        assert_refused(&reply, 404, "not-found", None);
        let reply =
            api.call_as(Some(&reader), reqwest::Method::POST, &path, Some(&json!({"approverId": "mary"}))).await;
        assert_refused(&reply, 403, "forbidden", None);
        let reply = api.post(&path, &json!({"approverId": "eve"})).await;
        assert_refused(&reply, 403, "not-an-approver", None);
        let reply = api.post(&path, &json!({})).await;
        assert_refused(&reply, 400, "invalid-request", Some("/approverId"));
        let reply = api.post(&path, &json!({"approverId": 7})).await;
        assert_refused(&reply, 400, "invalid-request", Some("/approverId"));
        let reject = format!("/v3/access-request-approvals/{approval}/reject");
        let reply = api.post(&reject, &json!({"approverId": "mary"})).await;
        assert_refused(&reply, 400, "invalid-request", Some("/comment"));

        // Approved once; twice is a conflict, and so is a late rejection or cancellation.
        let reply = api.post(&path, &json!({"approverId": "mary", "comment": "fine"})).await;
        assert_eq!(reply.status, 202, "{kind}: {}", reply.body);
        assert_eq!(reply.body["itemState"], "APPROVED", "{kind}");
        let reply = api.post(&path, &json!({"approverId": "mary"})).await;
        assert_refused(&reply, 409, "conflict", None);
        let reply = api.post(&reject, &json!({"approverId": "mary", "comment": "changed my mind"})).await;
        assert_refused(&reply, 409, "conflict", None);
        let cancel = json!({"accountActivityId": request_id, "comment": "too late"});
        let reply = api.post("/v3/access-requests/cancel", &cancel).await;
        assert_refused(&reply, 409, "conflict", None);
        let reply = api.post("/v3/access-requests/cancel", &json!({"accountActivityId": "nope", "comment": "x"})).await;
        assert_refused(&reply, 404, "not-found", None);
        let reply = api.post("/v3/access-requests/cancel", &json!({"accountActivityId": request_id})).await;
        assert_refused(&reply, 400, "invalid-request", Some("/comment"));

        let mut tx = api.store.begin().await.unwrap();
        let held = tx.access_of(&["ada".to_owned()]).await.unwrap();
        assert_eq!(held.len(), 1, "{kind}");
        drop(tx);
        let status = api.get("/v3/access-request-status?requested-for=ada").await;
        assert_eq!(status.status, 200, "{kind}: {}", status.body);
        assert_eq!(status.body[0]["state"], "REQUEST_COMPLETED", "{kind}");
        assert_eq!(status.body[0]["approvalDetails"][0]["reviewedBy"]["id"], "mary", "{kind}");
        assert_eq!(status.body[0]["cancelable"], false, "{kind}");
        let completed = api.get("/v3/access-request-approvals/completed?owner-id=mary").await;
        assert_eq!(completed.body[0]["state"], "APPROVED", "{kind}");
        assert_eq!(completed.body[0]["reviewerComment"]["comment"], "fine", "{kind}");
        let reply = api.get("/v3/access-request-status?limit=0").await;
        assert_refused(&reply, 400, "bad-request", None);
    }
}

/// Creates a client acting as `identity` with these scopes over the API and returns a token for it.
async fn bound_token(api: &Api, identity: &str, scopes: &[&str]) -> String {
    let body = json!({"name": format!("{identity}'s client"), "scope": scopes, "identityId": identity});
    let created = api.post("/v3/oauth-clients", &body).await;
    assert_eq!(created.status, 201, "{}: {}", api.kind, created.body);
    assert_eq!(created.body["identityId"], identity, "{}", api.kind);
    api.token_for(created.body["id"].as_str().unwrap(), created.body["secret"].as_str().unwrap()).await
}

async fn post_as(api: &Api, token: &str, path: &str, body: Value) -> Reply {
    api.call_as(Some(token), reqwest::Method::POST, path, Some(&body)).await
}

async fn get_as(api: &Api, token: &str) -> Reply {
    api.call_as(Some(token), reqwest::Method::GET, "/v3/access-request-approvals/pending", None).await
}

#[tokio::test]
async fn a_bound_token_requests_for_itself_and_its_manager_decides() {
    for api in apis().await {
        seed(&api).await;
        let kind = api.kind;

        // A client bound to an unknown identity, or with a bad scope list, is refused with the place.
        let ghost = json!({"name": "ghost", "scope": ["idn:access-request-self:manage"], "identityId": "ghost"});
        assert_refused(&api.post("/v3/oauth-clients", &ghost).await, 400, "invalid-request", Some("/identityId"));
        let no_scope = json!({"name": "x", "scope": [], "identityId": "ada"});
        assert_refused(&api.post("/v3/oauth-clients", &no_scope).await, 400, "invalid-request", Some("/scope"));

        // The binding is audited, without the secret.
        let body = json!({"name": "ada's portal", "scope": ["idn:access-request-self:manage"], "identityId": "ada"});
        let created = api.post("/v3/oauth-clients", &body).await;
        assert_eq!(created.status, 201, "{kind}: {}", created.body);
        let client_id = created.body["id"].as_str().unwrap();
        let secret = created.body["secret"].as_str().unwrap();
        let audit = api.audit_of("api-client", client_id).await;
        assert_eq!((audit[0].action.as_str(), &audit[0].detail["identityId"]), ("client.create", &json!("ada")));
        assert!(!audit[0].detail.to_string().contains(secret), "{kind}: the secret is not audited");
        let read = api.get(&format!("/v3/oauth-clients/{client_id}")).await;
        assert_eq!((read.body["identityId"].as_str(), read.body.get("secret")), (Some("ada"), None), "{kind}");
        let ada = api.token_for(client_id, secret).await;

        // Only for herself with the self-service scope; `requestedBy` comes from the token.
        let for_eve = json!({"requestedFor": ["eve"], "requestedItems": [{"type": "ACCESS_PROFILE", "id": "ap-vpn"}]});
        assert_refused(&post_as(&api, &ada, "/v3/access-requests", for_eve).await, 403, "forbidden", None);
        let as_eve = json!({"requestedFor": ["ada"], "requestedBy": "eve",
                            "requestedItems": [{"type": "ACCESS_PROFILE", "id": "ap-vpn"}]});
        assert_refused(&post_as(&api, &ada, "/v3/access-requests", as_eve).await, 403, "forbidden", None);
        let own = json!({"requestedFor": ["ada"], "requestedItems": [{"type": "ACCESS_PROFILE", "id": "ap-vpn"}]});
        let submitted = post_as(&api, &ada, "/v3/access-requests", own).await;
        assert_eq!(submitted.status, 202, "{kind}: {}", submitted.body);
        let status = api.get("/v3/access-request-status?requested-for=ada").await;
        assert_eq!(status.body[0]["requester"]["id"], "ada", "{kind}: {}", status.body);

        // Mary, Ada's manager, sees it as her own pending approval and decides as herself.
        let deciding = ["idn:access-request-approvals:read", "idn:access-request-approvals:manage"];
        let mary = bound_token(&api, "mary", &deciding).await;
        let eve = bound_token(&api, "eve", &deciding).await;
        let pending = get_as(&api, &mary).await;
        assert_eq!(pending.status, 200, "{kind}: {}", pending.body);
        assert_eq!(pending.body.as_array().unwrap().len(), 1, "{kind}: {}", pending.body);
        assert_eq!(pending.body[0]["requester"]["id"], "ada", "{kind}");
        assert_eq!(get_as(&api, &eve).await.body, json!([]), "{kind}: Eve has nothing to decide");
        let approval = pending.body[0]["id"].as_str().unwrap().to_owned();
        let path = format!("/v3/access-request-approvals/{approval}/approve");
        assert_refused(&post_as(&api, &eve, &path, json!({})).await, 403, "not-an-approver", None);
        assert_refused(&post_as(&api, &mary, &path, json!({"approverId": "eve"})).await, 403, "not-an-approver", None);
        let decided = post_as(&api, &mary, &path, json!({"comment": "fine"})).await;
        assert_eq!((decided.status, &decided.body["itemState"]), (202, &json!("APPROVED")), "{kind}: {}", decided.body);
        let completed = api.get("/v3/access-request-approvals/completed?owner-id=mary").await;
        assert_eq!(completed.body[0]["reviewedBy"]["id"], "mary", "{kind}: {}", completed.body);

        // Rebinding: to an unknown identity is refused with the place; to Eve makes the token Eve's.
        let patch = format!("/v3/oauth-clients/{client_id}");
        let to_ghost = json!([{"op": "replace", "path": "/identityId", "value": "ghost"}]);
        let reply = api.call(reqwest::Method::PATCH, &patch, Some(&to_ghost)).await;
        assert_refused(&reply, 400, "invalid-request", Some("/0/value"));
        let to_eve = json!([{"op": "replace", "path": "/identityId", "value": "eve"}]);
        let reply = api.call(reqwest::Method::PATCH, &patch, Some(&to_eve)).await;
        assert_eq!((reply.status, &reply.body["identityId"]), (200, &json!("eve")), "{kind}: {}", reply.body);
        let now_eve = api.token_for(client_id, secret).await;
        let item = json!([{"type": "ACCESS_PROFILE", "id": "ap-vpn"}]);
        let for_ada = json!({"requestedFor": ["ada"], "requestedItems": item});
        assert_refused(&post_as(&api, &now_eve, "/v3/access-requests", for_ada).await, 403, "forbidden", None);
        let request_id = submitted.body["newRequests"][0]["accessRequestIds"][0].clone();
        let cancel = json!({"accountActivityId": request_id, "comment": "not mine"});
        assert_refused(&post_as(&api, &now_eve, "/v3/access-requests/cancel", cancel).await, 403, "forbidden", None);
        // Eve passes the authorisation and reaches the engine, which finds no manager to approve.
        let for_eve = json!({"requestedFor": ["eve"], "requestedItems": item});
        let reply = post_as(&api, &now_eve, "/v3/access-requests", for_eve).await;
        assert!(reply.body.to_string().contains("eve has no manager"), "{kind}: {}", reply.body);
    }
}
