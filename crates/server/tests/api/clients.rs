//! API clients over HTTP: listed, renamed, re-scoped, disabled, deleted, given a new secret and their
//! tokens revoked — each change ending the tokens it should at once, on this node and on another.
//! Nobody grants what they do not hold: a token acting as a person makes and manages only that
//! person's clients, and only an administrator binds a client to someone. And the token endpoint:
//! ISC's query-string form, failed attempts throttled (successful ones never), and guesses kept off
//! the threads that answer everyone else.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use reqwest::Method;
use serde_json::{Value, json};
use tessera_server::auth::{Auth, DEFAULT_LIFETIME};
use tessera_store::IdentityStore;

use crate::common::{ADMIN, ADMIN_SECRET, Api, apis, person};

const MANAGE: &str = "sp:oauth-client:manage";

async fn create(api: &Api, token: &str, body: Value) -> (u16, Value) {
    let reply = api.call_as(Some(token), Method::POST, "/v3/oauth-clients", Some(&body)).await;
    (reply.status, reply.body)
}

async fn works(api: &Api, token: &str) -> u16 {
    api.call_as(Some(token), Method::GET, "/v3/workflows", None).await.status
}

/// The clock moves on after a revocation, as it does between a person's clicks.
fn tick() -> chrono::Duration {
    chrono::Duration::milliseconds(1)
}

fn patch(path: &str, value: Value) -> Value {
    json!([{"op": "replace", "path": path, "value": value}])
}

#[tokio::test]
async fn a_client_is_listed_changed_disabled_rotated_revoked_and_deleted() {
    for api in apis().await {
        let kind = api.kind;
        let (status, made) = create(
            &api,
            &api.token_for(ADMIN, ADMIN_SECRET).await,
            json!({"name": "ci", "scope": ["sp:workflow:read"]}),
        )
        .await;
        assert_eq!(status, 201, "{kind}: {made}");
        let (id, secret) = (made["id"].as_str().unwrap().to_owned(), made["secret"].as_str().unwrap().to_owned());
        let path = format!("/v3/oauth-clients/{id}");
        let listed = api.get("/v3/oauth-clients").await;
        assert_eq!(listed.status, 200, "{kind}: {}", listed.body);
        let ids: Vec<&str> = listed.body.as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
        assert!(ids.contains(&ADMIN) && ids.contains(&id.as_str()), "{kind}: {ids:?}");
        assert!(!listed.body.to_string().contains("secret"), "{kind}: no secret is listed");

        let token = api.token_for(&id, &secret).await;
        assert_eq!(works(&api, &token).await, 200, "{kind}");
        let other_node = Auth::load(&api.store, api.clock.clone(), DEFAULT_LIFETIME).await.unwrap();
        assert!(other_node.verify(&token).await.is_ok(), "{kind}");

        // Renaming keeps the tokens; a new scope list ends them (they carry the old one).
        let renamed = api.call(Method::PATCH, &path, Some(&patch("/name", json!("ci runner")))).await;
        assert_eq!((renamed.status, &renamed.body["name"]), (200, &json!("ci runner")), "{kind}: {}", renamed.body);
        assert_eq!(works(&api, &token).await, 200, "{kind}");
        let rescoped = api
            .call(Method::PATCH, &path, Some(&patch("/scope", json!(["sp:workflow:read", "idn:identity:read"]))))
            .await;
        assert_eq!(rescoped.status, 200, "{kind}: {}", rescoped.body);
        assert_eq!(works(&api, &token).await, 401, "{kind}: re-scoped");
        api.advance(tick());
        let token = api.token_for(&id, &secret).await;

        // Disabled: its tokens stop here at once and on another node within a second; no new ones.
        let disabled = api.call(Method::PATCH, &path, Some(&patch("/enabled", json!(false)))).await;
        assert_eq!((disabled.status, &disabled.body["enabled"]), (200, &json!(false)), "{kind}: {}", disabled.body);
        assert_eq!(works(&api, &token).await, 401, "{kind}: disabled");
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        assert!(other_node.verify(&token).await.is_err(), "{kind}: the other node agrees within a second");
        let refused = api
            .oauth(&[("grant_type", "client_credentials"), ("client_id", &id), ("client_secret", &secret)], None)
            .await;
        assert_eq!(refused.status, 401, "{kind}");
        let enabled = api.call(Method::PATCH, &path, Some(&patch("/enabled", json!(true)))).await;
        assert_eq!(enabled.status, 200, "{kind}");
        api.advance(tick());
        let token = api.token_for(&id, &secret).await;
        assert_eq!(works(&api, &token).await, 200, "{kind}");

        // Revoked: the tokens stop, the secret still gets new ones.
        let revoke = api.call(Method::POST, &format!("/tessera/v1/oauth-clients/{id}/revoke-tokens"), None).await;
        assert_eq!(revoke.status, 204, "{kind}: {}", revoke.body);
        assert_eq!(works(&api, &token).await, 401, "{kind}: revoked");
        api.advance(tick());
        let token = api.token_for(&id, &secret).await;
        assert_eq!(works(&api, &token).await, 200, "{kind}");

        // A new secret: the old one and its tokens stop working; the new one is shown once.
        let rotated = api.call(Method::POST, &format!("/tessera/v1/oauth-clients/{id}/rotate-secret"), None).await;
        assert_eq!(rotated.status, 200, "{kind}: {}", rotated.body);
        let new_secret = rotated.body["secret"].as_str().unwrap().to_owned();
        assert_ne!(new_secret, secret, "{kind}");
        assert_eq!(works(&api, &token).await, 401, "{kind}: tokens of the old secret");
        let old = api
            .oauth(&[("grant_type", "client_credentials"), ("client_id", &id), ("client_secret", &secret)], None)
            .await;
        assert_eq!(old.status, 401, "{kind}");
        api.advance(tick());
        let token = api.token_for(&id, &new_secret).await;
        assert_eq!(works(&api, &token).await, 200, "{kind}");

        // Deleted: gone, and so are its tokens.
        assert_eq!(api.call(Method::DELETE, &path, None).await.status, 204, "{kind}");
        assert_eq!(api.get(&path).await.status, 404, "{kind}");
        assert_eq!(works(&api, &token).await, 401, "{kind}: deleted");
        let actions: Vec<String> = api.audit_of("api-client", &id).await.into_iter().map(|e| e.action).collect();
        assert_eq!(
            actions,
            [
                "client.create",
                "client.update",
                "client.update",
                "client.update",
                "client.update",
                "client.revoke-tokens",
                "client.rotate",
                "client.delete"
            ],
            "{kind}"
        );
        let bad = api
            .call(Method::PATCH, &format!("/v3/oauth-clients/{ADMIN}"), Some(&patch("/secretHash", json!("x"))))
            .await;
        assert_eq!((bad.status, bad.code()), (400, "invalid-request"), "{kind}: {}", bad.body);
        assert_eq!(bad.body["errors"][0]["pointer"], "/0/path", "{kind}");
    }
}

#[tokio::test]
async fn nobody_grants_or_takes_over_what_they_do_not_hold() {
    for api in apis().await {
        let kind = api.kind;
        let mut tx = api.store.begin().await.unwrap();
        tx.insert_identities(&[person("mary", None), person("ada", Some("mary"))]).await.unwrap();
        tx.commit().await.unwrap();
        let admin = api.token_for(ADMIN, ADMIN_SECRET).await;
        let (_, ada_client) = create(
            &api,
            &admin,
            json!({"name": "ada", "identityId": "ada",
            "scope": [MANAGE, "idn:access-request-approvals:manage", "sp:workflow:read"]}),
        )
        .await;
        let ada = api.token_for(ada_client["id"].as_str().unwrap(), ada_client["secret"].as_str().unwrap()).await;

        // Acting as Ada: a client for Mary is refused; one without a binding acts as Ada.
        let (status, body) =
            create(&api, &ada, json!({"name": "mary's", "identityId": "mary", "scope": ["sp:workflow:read"]})).await;
        assert_eq!((status, body["errorCode"].as_str()), (403, Some("not-allowed")), "{kind}: {body}");
        let (status, own) = create(&api, &ada, json!({"name": "mine", "scope": ["sp:workflow:read"]})).await;
        assert_eq!((status, &own["identityId"]), (201, &json!("ada")), "{kind}: {own}");
        let (status, _) = create(&api, &ada, json!({"name": "more", "scope": ["sp:workflow:manage"]})).await;
        assert_eq!(status, 403, "{kind}: a scope Ada does not hold");
        // She cannot re-bind herself, nor touch the administrator's client.
        let rebind = api
            .call_as(
                Some(&ada),
                Method::PATCH,
                &format!("/v3/oauth-clients/{}", ada_client["id"].as_str().unwrap()),
                Some(&patch("/identityId", json!("mary"))),
            )
            .await;
        assert_eq!(rebind.status, 403, "{kind}: {}", rebind.body);
        for (method, path) in [
            (Method::GET, format!("/v3/oauth-clients/{ADMIN}")),
            (Method::PATCH, format!("/v3/oauth-clients/{ADMIN}")),
            (Method::DELETE, format!("/v3/oauth-clients/{ADMIN}")),
            (Method::POST, format!("/tessera/v1/oauth-clients/{ADMIN}/rotate-secret")),
            (Method::POST, format!("/tessera/v1/oauth-clients/{ADMIN}/revoke-tokens")),
        ] {
            let body = (method == Method::PATCH).then(|| patch("/identityId", json!("ada")));
            let reply = api.call_as(Some(&ada), method.clone(), &path, body.as_ref()).await;
            assert_eq!(reply.status, 403, "{kind}: {method} {path}: {}", reply.body);
        }
        let listed = api.call_as(Some(&ada), Method::GET, "/v3/oauth-clients", None).await;
        let ids: Vec<&str> = listed.body.as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
        assert_eq!(ids.len(), 2, "{kind}: only Ada's own clients: {ids:?}");
        assert!(!ids.contains(&ADMIN), "{kind}");
        assert_eq!(works(&api, &api.token_for(ADMIN, ADMIN_SECRET).await).await, 200, "{kind}: the admin is untouched");

        // A client manager that acts as no one manages only clients whose scopes it holds.
        let manager = api.client_with("manager", &[MANAGE, "sp:workflow:read"]).await;
        let (status, reader) = create(&api, &manager, json!({"name": "reader", "scope": ["sp:workflow:read"]})).await;
        assert_eq!(status, 201, "{kind}: {reader}");
        let path = format!("/tessera/v1/oauth-clients/{}/rotate-secret", reader["id"].as_str().unwrap());
        assert_eq!(api.call_as(Some(&manager), Method::POST, &path, None).await.status, 200, "{kind}");
        let take_over = api
            .call_as(Some(&manager), Method::POST, &format!("/tessera/v1/oauth-clients/{ADMIN}/rotate-secret"), None)
            .await;
        assert_eq!(take_over.status, 403, "{kind}: rotating the administrator's secret would hand it over");
        let bind = api
            .call_as(
                Some(&manager),
                Method::POST,
                "/v3/oauth-clients",
                Some(&json!({"name": "x", "identityId": "mary", "scope": ["sp:workflow:read"]})),
            )
            .await;
        assert_eq!(bind.status, 403, "{kind}: binding needs an administrator");
        let admin_binds = api
            .call(
                Method::PATCH,
                &format!("/v3/oauth-clients/{}", reader["id"].as_str().unwrap()),
                Some(&patch("/identityId", json!("mary"))),
            )
            .await;
        assert_eq!((admin_binds.status, &admin_binds.body["identityId"]), (200, &json!("mary")), "{kind}");
    }
}

#[tokio::test]
async fn the_token_endpoint_takes_isc_forms_and_throttles_failures_only() {
    for api in apis().await {
        let kind = api.kind;
        // ISC's documentation puts the credentials in the query string.
        let query = format!(
            "{}/oauth/token?grant_type=client_credentials&client_id={ADMIN}&client_secret={ADMIN_SECRET}",
            api.base
        );
        let reply = reqwest::Client::new().post(&query).send().await.unwrap();
        assert_eq!(reply.status(), 200, "{kind}");

        // Many successes from one address are never slowed.
        for _ in 0..40 {
            api.token_for(ADMIN, ADMIN_SECRET).await;
        }
        // Ten failures for one client id, then even the right secret waits.
        let grant = ("grant_type", "client_credentials");
        for _ in 0..10 {
            let wrong = api.oauth(&[grant, ("client_id", ADMIN), ("client_secret", "wrong")], None).await;
            assert_eq!(wrong.status, 401, "{kind}");
        }
        let blocked = api.oauth(&[grant, ("client_id", ADMIN), ("client_secret", ADMIN_SECRET)], None).await;
        assert_eq!((blocked.status, &blocked.body["error"]), (429, &json!("slow_down")), "{kind}: {}", blocked.body);
        let wait: u64 = blocked.headers.get("retry-after").unwrap().to_str().unwrap().parse().unwrap();
        assert!((1..=60).contains(&wait), "{kind}: {wait}");
        // Guessing other ids from the same address is limited too.
        let mut statuses = Vec::new();
        for n in 0..25 {
            let id = format!("guess-{n}");
            statuses.push(api.oauth(&[grant, ("client_id", &id), ("client_secret", "x")], None).await.status);
        }
        assert_eq!(statuses.iter().filter(|s| **s == 401).count(), 20, "{kind}: {statuses:?}");
        assert_eq!(statuses.last(), Some(&429), "{kind}");
    }
}

#[tokio::test]
async fn wrong_secrets_are_checked_off_the_threads_that_answer_everyone_else() {
    for api in apis().await {
        let kind = api.kind;
        let token = api.token_for(ADMIN, ADMIN_SECRET).await;
        // Thirty guesses at once (each costs an argon2 hash), then an ordinary request: it is answered
        // before the guesses are all checked.
        let guesses: Vec<_> = (0..30)
            .map(|n| {
                let url = format!("{}/oauth/token", api.base);
                tokio::spawn(async move {
                    let form = [("grant_type", "client_credentials"), ("client_id", "x"), ("client_secret", "y")];
                    let id = format!("someone-{n}");
                    let mut form = form.to_vec();
                    form[1] = ("client_id", id.as_str());
                    reqwest::Client::new().post(url).form(&form).send().await.unwrap();
                    std::time::Instant::now()
                })
            })
            .collect();
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert_eq!(works(&api, &token).await, 200, "{kind}");
        let answered = std::time::Instant::now();
        let mut last = answered;
        for guess in guesses {
            last = last.max(guess.await.unwrap());
        }
        assert!(answered < last, "{kind}: the ordinary request waited for every guess");
    }
}
