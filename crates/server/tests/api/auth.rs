//! Authentication and scopes: bearer tokens from `/oauth/token` (form and HTTP Basic credentials),
//! expiry on the injected clock, and a read-only client refused a change.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use chrono::Duration;
use reqwest::Method;
use serde_json::json;
use tessera_server::auth::WORKFLOW_READ;

use crate::common::{ADMIN, ADMIN_SECRET, apis, internal};

#[tokio::test]
async fn a_request_without_a_valid_token_is_unauthorized() {
    for api in apis().await {
        let kind = api.kind;
        let none = api.call_as(None, Method::GET, "/v3/workflows", None).await;
        assert_eq!((none.status, none.code()), (401, "unauthorized"), "{kind}: {}", none.body);
        assert!(none.body["messages"][0]["text"].as_str().unwrap().contains("/oauth/token"), "{kind}: {}", none.body);
        let forged = api.call_as(Some("not.a.token"), Method::GET, "/v3/workflows", None).await;
        assert_eq!((forged.status, forged.code()), (401, "unauthorized"), "{kind}: {}", forged.body);
        let create = api.call_as(None, Method::POST, "/v3/workflows", Some(&internal("Nope"))).await;
        assert_eq!(create.status, 401, "{kind}");
        assert_eq!(api.get("/v3/workflows").await.total(), 0, "{kind}: nothing was created");
    }
}

#[tokio::test]
async fn the_token_endpoint_checks_client_credentials() {
    for api in apis().await {
        let kind = api.kind;
        let grant = ("grant_type", "client_credentials");
        let wrong = api.oauth(&[grant, ("client_id", ADMIN), ("client_secret", "wrong")], None).await;
        assert_eq!((wrong.status, &wrong.body["error"]), (401, &json!("invalid_client")), "{kind}: {}", wrong.body);
        let unknown = api.oauth(&[grant, ("client_id", "nobody"), ("client_secret", ADMIN_SECRET)], None).await;
        assert_eq!((unknown.status, &unknown.body["error"]), (401, &json!("invalid_client")), "{kind}");
        let missing = api.oauth(&[grant, ("client_id", ADMIN)], None).await;
        assert_eq!((missing.status, &missing.body["error"]), (401, &json!("invalid_client")), "{kind}");

        let form = api.oauth(&[grant, ("client_id", ADMIN), ("client_secret", ADMIN_SECRET)], None).await;
        assert_eq!(form.status, 200, "{kind}: {}", form.body);
        assert_eq!(
            (&form.body["token_type"], &form.body["expires_in"], &form.body["scope"]),
            (&json!("bearer"), &json!(900), &json!("sp:scopes:all")),
            "{kind}"
        );
        let basic = api.oauth(&[grant], Some((ADMIN, ADMIN_SECRET))).await;
        assert_eq!(basic.status, 200, "{kind}: {}", basic.body);
        let token = basic.body["access_token"].as_str().unwrap();
        assert_eq!(api.call_as(Some(token), Method::GET, "/v3/workflows", None).await.status, 200, "{kind}");
        let basic_wrong = api.oauth(&[grant], Some((ADMIN, "wrong"))).await;
        assert_eq!((basic_wrong.status, &basic_wrong.body["error"]), (401, &json!("invalid_client")), "{kind}");

        let password =
            api.oauth(&[("grant_type", "password"), ("client_id", ADMIN), ("client_secret", ADMIN_SECRET)], None).await;
        assert_eq!(
            (password.status, &password.body["error"]),
            (400, &json!("unsupported_grant_type")),
            "{kind}: {}",
            password.body
        );
    }
}

#[tokio::test]
async fn a_token_expires_after_fifteen_minutes() {
    for api in apis().await {
        let kind = api.kind;
        let token = api.token_for(ADMIN, ADMIN_SECRET).await;
        api.advance(Duration::minutes(14));
        let fresh = api.call_as(Some(&token), Method::GET, "/v3/workflows", None).await;
        assert_eq!(fresh.status, 200, "{kind}: still good after 14 minutes");
        api.advance(Duration::minutes(2));
        let stale = api.call_as(Some(&token), Method::GET, "/v3/workflows", None).await;
        assert_eq!((stale.status, stale.code()), (401, "unauthorized"), "{kind}: {}", stale.body);
        assert!(stale.body["messages"][0]["text"].as_str().unwrap().contains("expired"), "{kind}: {}", stale.body);
        let renewed = api.token_for(ADMIN, ADMIN_SECRET).await;
        assert_eq!(api.call_as(Some(&renewed), Method::GET, "/v3/workflows", None).await.status, 200, "{kind}");
    }
}

#[tokio::test]
async fn a_read_only_client_can_list_but_not_change() {
    for api in apis().await {
        let kind = api.kind;
        let id = api.create(&internal("Existing")).await;
        let reader = api.client_with("reader", &[WORKFLOW_READ]).await;
        let list = api.call_as(Some(&reader), Method::GET, "/v3/workflows", None).await;
        assert_eq!((list.status, list.total()), (200, 1), "{kind}: {}", list.body);
        let one = api.call_as(Some(&reader), Method::GET, &format!("/v3/workflows/{id}"), None).await;
        assert_eq!(one.status, 200, "{kind}");

        let create = api.call_as(Some(&reader), Method::POST, "/v3/workflows", Some(&internal("Mine"))).await;
        assert_eq!((create.status, create.code()), (403, "forbidden"), "{kind}: {}", create.body);
        assert!(create.body["messages"][0]["text"].as_str().unwrap().contains("sp:workflow:manage"), "{kind}");
        let delete = api.call_as(Some(&reader), Method::DELETE, &format!("/v3/workflows/{id}"), None).await;
        assert_eq!((delete.status, delete.code()), (403, "forbidden"), "{kind}");
        let test = api
            .call_as(Some(&reader), Method::POST, &format!("/v3/workflows/{id}/test"), Some(&json!({"input": {}})))
            .await;
        assert_eq!((test.status, test.code()), (403, "forbidden"), "{kind}");
        let runs = api.call_as(Some(&reader), Method::GET, &format!("/v3/workflows/{id}/executions"), None).await;
        assert_eq!(runs.status, 403, "{kind}: executions need sp:workflow-execution:read");

        assert_eq!(api.get("/v3/workflows").await.total(), 1, "{kind}: nothing was created");
        assert_eq!(api.get(&format!("/v3/workflows/{id}")).await.status, 200, "{kind}: nothing was deleted");
    }
}

#[tokio::test]
async fn health_and_readiness_need_no_token_and_readiness_says_what_is_missing() {
    for api in apis().await {
        let kind = api.kind;
        let health = api.call_as(None, Method::GET, "/health", None).await;
        assert_eq!(health.status, 200, "{kind}");
        // This harness runs due tasks itself, with no workers: the node is alive but not ready.
        let ready = api.call_as(None, Method::GET, "/ready", None).await;
        assert_eq!(ready.status, 503, "{kind}: {}", ready.body);
        assert_eq!(
            (&ready.body["database"], &ready.body["workers"], &ready.body["status"]),
            (&json!("ok"), &json!("none running"), &json!("not ready")),
            "{kind}: {}",
            ready.body
        );
    }
}
