//! Access requests over HTTP: a request submitted, approved by the manager and granted; and every
//! refusal with its status and stable code — a bad body (with its pointer), an unknown approval,
//! deciding for someone else, deciding twice, cancelling twice, and missing scopes. And tokens that act
//! as a person: requesting for themselves only, deciding and listing their own approvals. Then ISC's
//! access-request configuration (checked, audited, and governing who may request what), forwarding
//! with its history, escalation on a manual clock, the approval summary, and the SoD check's state on
//! the request status.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use serde_json::{Value, json};
use tessera_store::{AccessStore, CatalogKind, CatalogStore, IdentityStore, NotificationStore};

use crate::common::{ADMIN, ADMIN_ACTOR, ADMIN_SECRET, Api, Reply, apis, bound_client, bound_token, object, person};

/// Ada managed by Mary; a requestable access profile `ap-vpn` on a manual source needing Mary's
/// approval (the default), and an entitlement that is not requestable.
async fn seed(api: &Api) {
    let mut tx = api.store.begin().await.unwrap();
    let mut lou = person("lou", Some("mary"));
    (lou.status, lou.lifecycle_state) = (tessera_model::IdentityStatus::Inactive, Some("leave".into()));
    tx.insert_identities(&[person("mary", None), person("ada", Some("mary")), person("eve", None), lou]).await.unwrap();
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
        // As ISC: no new access for someone inactive (on leave here).
        let for_lou = json!({"requestedFor": ["lou"], "requestedBy": "ada",
            "requestedItems": [{"type": "ACCESS_PROFILE", "id": "ap-vpn"}]});
        let reply = api.post("/v3/access-requests", &for_lou).await;
        assert_refused(&reply, 400, "invalid-request", Some("/requestedFor/0"));
        assert!(reply.body.to_string().contains("inactive (lifecycle state `leave`)"), "{kind}: {}", reply.body);
        let reply = api.raw(reqwest::Method::POST, "/v3/access-requests", "application/json", "{not json").await;
        assert_refused(&reply, 400, "bad-request", None);

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
        // Re-binding ends the tokens that name the old identity; the next one is Eve's.
        api.advance(chrono::Duration::milliseconds(1));
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

#[tokio::test]
async fn the_request_configuration_is_read_replaced_checked_and_audited() {
    for api in apis().await {
        seed(&api).await;
        let kind = api.kind;
        let defaults = api.get("/v3/access-request-config").await;
        assert_eq!(defaults.status, 200, "{kind}: {}", defaults.body);
        assert_eq!(
            (&defaults.body["autoApprovalEnabled"], &defaults.body["approvalReminderAndEscalationConfig"]),
            (
                &json!(false),
                &json!({"daysUntilEscalation": null, "daysBetweenReminders": null, "maxReminders": null,
                        "fallbackApproverRef": null})
            ),
            "{kind}"
        );
        assert_eq!(defaults.body["entitlementRequestConfig"]["allowEntitlementRequest"], true, "{kind}");

        // Scopes: reading does not replace; no token, no answer.
        let reader = api.client_with("config-reader", &["idn:access-request-config:read"]).await;
        let path = "/v3/access-request-config";
        assert_eq!(api.call_as(Some(&reader), reqwest::Method::GET, path, None).await.status, 200, "{kind}");
        let reply = api.call_as(Some(&reader), reqwest::Method::PUT, path, Some(&json!({}))).await;
        assert_refused(&reply, 403, "forbidden", None);
        assert_eq!(api.call_as(None, reqwest::Method::GET, path, None).await.status, 401, "{kind}");

        // Bad bodies, each with its place; none changes anything or writes an audit entry.
        let audits = api.audit_count().await;
        let bad = [
            (json!({"autoApprovalEnabled": "yes"}), "/autoApprovalEnabled"),
            (json!({"approvalRemindersConfig": {}}), "/approvalRemindersConfig"),
            (
                json!({"approvalReminderAndEscalationConfig": {"daysBetweenReminders": -1}}),
                "/approvalReminderAndEscalationConfig/daysBetweenReminders",
            ),
            (
                json!({"approvalReminderAndEscalationConfig": {"fallbackApproverRef": {"id": "ghost"}}}),
                "/approvalReminderAndEscalationConfig/fallbackApproverRef/id",
            ),
            (
                json!({"entitlementRequestConfig": {"grantRequestApprovalSchemes": "anyone"}}),
                "/entitlementRequestConfig/grantRequestApprovalSchemes",
            ),
        ];
        for (body, pointer) in bad {
            let reply = api.call(reqwest::Method::PUT, path, Some(&body)).await;
            assert_refused(&reply, 400, "invalid-request", Some(pointer));
        }
        let reply = api.raw(reqwest::Method::PUT, path, "application/json", "[1").await;
        assert_refused(&reply, 400, "bad-request", None);
        let reply = api.raw(reqwest::Method::PUT, path, "application/json", "[]").await;
        assert_refused(&reply, 400, "invalid-request", Some(""));
        assert_eq!(api.audit_count().await, audits, "{kind}: refusals are not audited");

        // A good one is answered as stored, with the fallback approver's name, and audited.
        let body = json!({"autoApprovalEnabled": true,
            "approvalReminderAndEscalationConfig": {"daysUntilEscalation": 3, "daysBetweenReminders": 1,
                "maxReminders": 2, "fallbackApproverRef": {"type": "IDENTITY", "id": "eve"}}});
        let replaced = api.call(reqwest::Method::PUT, path, Some(&body)).await;
        assert_eq!(replaced.status, 200, "{kind}: {}", replaced.body);
        let read = api.get(path).await.body;
        assert_eq!(read, replaced.body, "{kind}");
        assert_eq!(read["autoApprovalEnabled"], true, "{kind}");
        assert_eq!(read["approvalReminderAndEscalationConfig"]["daysUntilEscalation"], 3, "{kind}");
        assert_eq!(
            read["approvalReminderAndEscalationConfig"]["fallbackApproverRef"],
            json!({"type": "IDENTITY", "id": "eve", "name": "eve", "email": null}),
            "{kind}"
        );
        let audit = api.audit_of("access-request-config", "default").await;
        assert_eq!(audit.len(), 1, "{kind}");
        assert_eq!((audit[0].action.as_str(), audit[0].actor.as_str()), ("access-request-config.update", ADMIN_ACTOR));
        assert_eq!(audit[0].detail["before"], Value::Null, "{kind}");
        assert_eq!(audit[0].detail["after"]["autoApprovalEnabled"], true, "{kind}");
    }
}

#[tokio::test]
async fn the_configuration_governs_who_may_request_what() {
    for api in apis().await {
        seed(&api).await;
        let kind = api.kind;
        let mut tx = api.store.begin().await.unwrap();
        tx.update_object(&object(
            CatalogKind::Entitlement,
            "e-vpn",
            "desk",
            true,
            json!({"attribute": "groups", "value": "vpn"}),
        ))
        .await
        .unwrap();
        tx.commit().await.unwrap();
        let mary = bound_token(&api, "mary", &["idn:access-request-self:manage"]).await;
        let for_ada = json!({"requestedFor": ["ada"], "requestedItems": [{"type": "ACCESS_PROFILE", "id": "ap-vpn"}]});
        let for_eve = json!({"requestedFor": ["eve"], "requestedItems": [{"type": "ACCESS_PROFILE", "id": "ap-vpn"}]});
        assert_refused(&post_as(&api, &mary, "/v3/access-requests", for_ada.clone()).await, 403, "forbidden", None);

        // Managers may request for their reports, and only for them.
        let put = |body: Value| {
            let api = &api;
            async move {
                let reply = api.call(reqwest::Method::PUT, "/v3/access-request-config", Some(&body)).await;
                assert_eq!(reply.status, 200, "{}: {}", api.kind, reply.body);
            }
        };
        put(json!({"requestOnBehalfOfConfig": {"allowRequestOnBehalfOfEmployeeByManager": true}})).await;
        assert_refused(&post_as(&api, &mary, "/v3/access-requests", for_eve.clone()).await, 403, "forbidden", None);
        let reply = post_as(&api, &mary, "/v3/access-requests", for_ada).await;
        assert_eq!(reply.status, 202, "{kind}: {}", reply.body);
        put(json!({"requestOnBehalfOfConfig": {"allowRequestOnBehalfOfAnyoneByAnyone": true}})).await;
        let reply = post_as(&api, &mary, "/v3/access-requests", for_eve.clone()).await;
        // Eve has no manager to approve, so the engine refuses it, past the authorisation.
        assert!(reply.body.to_string().contains("eve has no manager"), "{kind}: {}", reply.body);

        // Entitlement requests: comments required, then turned off.
        let entitlement = |comment: Value| {
            json!({"requestedFor": ["ada"], "requestedBy": "ada",
                   "requestedItems": [{"type": "ENTITLEMENT", "id": "e-vpn", "comment": comment}]})
        };
        put(json!({"entitlementRequestConfig": {"requestCommentsRequired": true}})).await;
        let reply = api.post("/v3/access-requests", &entitlement(Value::Null)).await;
        assert_refused(&reply, 400, "invalid-request", Some("/requestedItems/0/comment"));
        let reply = api.post("/v3/access-requests", &entitlement(json!("for the VPN"))).await;
        assert_eq!(reply.status, 202, "{kind}: {}", reply.body);
        put(json!({"entitlementRequestConfig": {"allowEntitlementRequest": false}})).await;
        let reply = api.post("/v3/access-requests", &entitlement(json!("again"))).await;
        assert_refused(&reply, 400, "invalid-request", Some("/requestedItems/0/type"));

        // Approvals processed elsewhere: only an administrator's token submits.
        put(json!({"approvalsMustBeExternal": true})).await;
        let requester = api.client_with("portal", &["idn:access-request:manage"]).await;
        let body = request("ACCESS_PROFILE", "ap-vpn");
        let reply = post_as(&api, &requester, "/v3/access-requests", body).await;
        assert_refused(&reply, 403, "approvals-external", None);
    }
}

#[tokio::test]
async fn an_approval_is_forwarded_escalated_and_counted() {
    for api in apis().await {
        seed(&api).await;
        let kind = api.kind;
        let deciding = ["idn:access-request-approvals:read", "idn:access-request-approvals:manage"];
        let (mary_client, eve_client) =
            (bound_client(&api, "mary", &deciding).await, bound_client(&api, "eve", &deciding).await);
        let mary = api.token_for(&mary_client.0, &mary_client.1).await;
        let eve = api.token_for(&eve_client.0, &eve_client.1).await;
        let submitted = api.post("/v3/access-requests", &request("ACCESS_PROFILE", "ap-vpn")).await;
        assert_eq!(submitted.status, 202, "{kind}: {}", submitted.body);
        let approval = get_as(&api, &mary).await.body[0]["id"].as_str().unwrap().to_owned();
        let path = format!("/v3/access-request-approvals/{approval}/forward");
        let summary = "/v3/access-request-approvals/approval-summary";
        let counts = |reply: &Reply| {
            (reply.body["pending"].clone(), reply.body["approved"].clone(), reply.body["rejected"].clone())
        };
        let mine = api.call_as(Some(&mary), reqwest::Method::GET, summary, None).await;
        assert_eq!(counts(&mine), (json!(1), json!(0), json!(0)), "{kind}: {}", mine.body);

        // Refusals: not the approver, a bad body, an unknown approval, a missing scope.
        let forward = json!({"newOwnerId": "eve", "comment": "I am away"});
        assert_refused(&post_as(&api, &eve, &path, forward.clone()).await, 403, "not-an-approver", None);
        let bad = [
            (json!({"comment": "x"}), "/newOwnerId"),
            (json!({"newOwnerId": "eve"}), "/comment"),
            (json!({"newOwnerId": "eve", "comment": "x".repeat(256)}), "/comment"),
            (json!({"newOwnerId": "ghost", "comment": "x"}), "/newOwnerId"),
            (json!({"newOwnerId": "ada", "comment": "x"}), "/newOwnerId"),
        ];
        for (body, pointer) in bad {
            assert_refused(&post_as(&api, &mary, &path, body).await, 400, "invalid-request", Some(pointer));
        }
        let reply = post_as(&api, &mary, "/v3/access-request-approvals/nope/forward", forward.clone()).await;
        assert_refused(&reply, 404, "not-found", None);
        let reader = api.client_with("reader", &["idn:access-request-approvals:read"]).await;
        assert_refused(&post_as(&api, &reader, &path, forward.clone()).await, 403, "forbidden", None);

        // Mary forwards to Eve: Eve sees it with its history, Mary no longer decides it.
        let reply = post_as(&api, &mary, &path, forward).await;
        assert_eq!(reply.status, 202, "{kind}: {}", reply.body);
        assert_eq!(get_as(&api, &mary).await.body, json!([]), "{kind}");
        let pending = get_as(&api, &eve).await;
        assert_eq!(pending.body[0]["owner"]["id"], "eve", "{kind}: {}", pending.body);
        let history = &pending.body[0]["forwardHistory"];
        assert_eq!(history.as_array().map(Vec::len), Some(1), "{kind}: {history}");
        assert_eq!(
            (&history[0]["oldApproverName"], &history[0]["newApproverName"], &history[0]["forwarderName"]),
            (&json!("mary"), &json!("eve"), &json!("mary")),
            "{kind}"
        );
        assert_eq!(
            (&history[0]["comment"], &history[0]["reassignmentType"]),
            (&json!("I am away"), &json!("MANUAL_REASSIGNMENT"))
        );
        let approve = format!("/v3/access-request-approvals/{approval}/approve");
        assert_refused(&post_as(&api, &mary, &approve, json!({})).await, 403, "not-an-approver", None);
        let audit = api
            .audit_of("access-request", submitted.body["newRequests"][0]["accessRequestIds"][0].as_str().unwrap())
            .await;
        assert!(audit.iter().any(|e| e.action == "access-request.forward" && e.detail["to"] == "eve"), "{kind}");

        // Nobody decides: with Eve's manager unknown, it escalates to the fallback approver, Mary.
        let config = json!({"approvalReminderAndEscalationConfig": {"daysUntilEscalation": 2, "daysBetweenReminders": 1,
            "maxReminders": 1, "fallbackApproverRef": {"id": "mary"}}});
        assert_eq!(api.call(reqwest::Method::PUT, "/v3/access-request-config", Some(&config)).await.status, 200);
        api.advance(chrono::Duration::days(1));
        assert_eq!(api.governance.run_deadlines().await.unwrap(), 1, "{kind}: a reminder to Eve");
        api.advance(chrono::Duration::days(1));
        assert_eq!(api.governance.run_deadlines().await.unwrap(), 1, "{kind}: the escalation");
        // Two days on, every token has expired.
        let admin = api.token_for(ADMIN, ADMIN_SECRET).await;
        let mary = api.token_for(&mary_client.0, &mary_client.1).await;
        let eve = api.token_for(&eve_client.0, &eve_client.1).await;
        let pending = get_as(&api, &mary).await;
        assert_eq!(pending.body[0]["id"], approval.as_str(), "{kind}: {}", pending.body);
        let history = &pending.body[0]["forwardHistory"];
        assert_eq!(
            (&history[1]["newApproverName"], &history[1]["reassignmentType"], &history[1]["forwarderName"]),
            (&json!("mary"), &json!("AUTO_ESCALATION"), &Value::Null),
            "{kind}: {history}"
        );
        let mut tx = api.store.begin().await.unwrap();
        let told: Vec<String> =
            tx.notifications_of("eve", 10).await.unwrap().into_iter().rev().map(|n| n.subject).collect();
        assert_eq!(
            told,
            ["An access request approval was forwarded to you", "Reminder: an access request waits for your approval"],
            "{kind}"
        );
        drop(tx);

        // Mary approves; her summary counts it, Eve's counts nothing, and an administrator's counts all.
        let reply = post_as(&api, &mary, &approve, json!({"comment": "back again"})).await;
        assert_eq!(reply.status, 202, "{kind}: {}", reply.body);
        let mine = api.call_as(Some(&mary), reqwest::Method::GET, summary, None).await;
        assert_eq!(counts(&mine), (json!(0), json!(1), json!(0)), "{kind}");
        let hers = api.call_as(Some(&eve), reqwest::Method::GET, &format!("{summary}?owner-id=me"), None).await;
        assert_eq!(counts(&hers), (json!(0), json!(0), json!(0)), "{kind}");
        let reply = api.call_as(Some(&eve), reqwest::Method::GET, &format!("{summary}?owner-id=mary"), None).await;
        assert_refused(&reply, 403, "forbidden", None);
        let as_admin = |path: String| {
            let (api, admin) = (&api, &admin);
            async move { api.call_as(Some(admin), reqwest::Method::GET, &path, None).await }
        };
        let all = as_admin(summary.to_owned()).await;
        assert_eq!(counts(&all), (json!(0), json!(1), json!(0)), "{kind}");
        let later = as_admin(format!("{summary}?owner-id=mary&from-date=2030-01-01")).await;
        assert_eq!(counts(&later), (json!(0), json!(0), json!(0)), "{kind}");
        assert_refused(&as_admin(format!("{summary}?from-date=soon")).await, 400, "bad-request", None);
    }
}

#[tokio::test]
async fn the_status_shows_the_sod_check_of_each_request() {
    for api in apis().await {
        seed(&api).await;
        let kind = api.kind;
        let submitted = api.post("/v3/access-requests", &request("ACCESS_PROFILE", "ap-vpn")).await;
        assert_eq!(submitted.status, 202, "{kind}: {}", submitted.body);
        let status = api.get("/v3/access-request-status?requested-for=ada").await;
        assert_eq!(
            status.body[0]["sodViolationContext"],
            json!({"state": "SUCCESS", "uuid": null,
                   "violationCheckResult": {"violationContexts": [], "violatedPolicies": []}}),
            "{kind}: a grant is checked and violates nothing"
        );
    }
}
