//! Connector secrets over the API: stored sealed, masked in every answer, kept when a client sends the
//! mask back, replaced when it sends a new value, and absent from the audit log and the events. The
//! connector built from the stored source still authenticates to a real scim2-server.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use reqwest::Method;
use serde_json::{Value, json};
use tessera_connectors::testing::scim_server::ScimServer;
use tessera_governance::{AggregateOptions, ImportDirs, Summary, aggregate, check_source};
use tessera_store::{CatalogKind, CatalogStore, Keyring};

use crate::catalog::{assert_invalid, created};
use crate::common::{Api, apis};

const MASK: &str = "********";

/// Every place a secret must not reach that a test can read: the audit log, the outbox (dispatched or
/// not) and the stored catalogue rows.
async fn stored_text(api: &Api) -> String {
    let mut text = String::new();
    for sql in [
        "SELECT actor || ' ' || action || ' ' || detail FROM audit_log",
        "SELECT topic || ' ' || payload FROM outbox",
        "SELECT document FROM catalog",
    ] {
        for row in sqlx::query_scalar::<_, String>(sql).fetch_all(api.store.pool()).await.unwrap() {
            text.push_str(&row);
            text.push('\n');
        }
    }
    text
}

/// The stored document's connector attributes, as the database holds them.
async fn raw_attributes(api: &Api, id: &str) -> Value {
    let document: String = sqlx::query_scalar("SELECT document FROM catalog WHERE id = $1")
        .bind(id)
        .fetch_one(api.store.pool())
        .await
        .unwrap();
    serde_json::from_str::<Value>(&document).unwrap()["connectorAttributes"].clone()
}

/// Aggregates the source from its system with the connector the engine builds from the stored row.
async fn aggregated(api: &Api, id: &str) -> Summary {
    let mut tx = api.store.begin().await.unwrap();
    let source = tx.object(CatalogKind::Source, id).await.unwrap().unwrap();
    drop(tx);
    check_source(&api.store, &source, None, &ImportDirs::default()).await.unwrap();
    aggregate(&api.store, api.clock.as_ref(), id, &AggregateOptions::default(), &mut |_| {}).await.unwrap()
}

#[tokio::test]
async fn a_scim_token_is_sealed_masked_kept_on_a_round_trip_and_replaced_by_a_new_value() {
    let scim = ScimServer::start();
    let token = scim.token().to_owned();
    for api in apis().await {
        let kind = api.kind;
        let body = json!({"name": "Directory", "connector": "scim", "features": ["PROVISIONING"],
                          "connectorAttributes": scim.attributes(json!({"pageSize": 50}))});
        let made = created(&api, "/v3/sources", &body, 201).await.body;
        let id = made["id"].as_str().unwrap().to_owned();
        let path = format!("/v3/sources/{id}");
        assert_eq!(made["connectorAttributes"]["token"], MASK, "{kind}: {made}");
        assert_eq!(made["connectorAttributes"]["baseUrl"], json!(scim.base_url()), "{kind}: only secrets are masked");
        let read = api.get(&path).await;
        assert_eq!((read.status, &read.body), (200, &made), "{kind}");
        let listed = api.get("/v3/sources").await;
        assert_eq!(listed.body[0]["connectorAttributes"]["token"], MASK, "{kind}: {}", listed.body);

        let sealed = raw_attributes(&api, &id).await["token"].clone();
        let envelope = sealed["$sealed"].as_str().unwrap_or_else(|| panic!("{kind}: stored sealed: {sealed}"));
        assert!(envelope.starts_with("v1:") && !envelope.contains(&token), "{kind}: {envelope}");
        assert_eq!(
            aggregated(&api, &id).await.status,
            tessera_model::AggregationStatus::Success,
            "{kind}: the engine opens the stored token"
        );

        // A client that PUTs what it read sends the mask back: the secret stays, and nothing changed.
        let audited = api.audit_count().await;
        let put = api.call(Method::PUT, &path, Some(&read.body)).await;
        assert_eq!(
            (put.status, &put.body["connectorAttributes"]["token"]),
            (200, &json!(MASK)),
            "{kind}: {}",
            put.body
        );
        assert_eq!(raw_attributes(&api, &id).await["token"], sealed, "{kind}: the round trip kept the envelope");
        assert_eq!(api.audit_count().await, audited, "{kind}: an unchanged source writes no audit entry");

        // A patch of another field over the masked view keeps the secret too.
        let patch = json!([{"op": "replace", "path": "/description", "value": "patched"}]);
        let patched = api.call(Method::PATCH, &path, Some(&patch)).await;
        assert_eq!(patched.status, 200, "{kind}: {}", patched.body);
        assert_eq!(raw_attributes(&api, &id).await["token"], sealed, "{kind}: the patch kept the envelope");
        assert_eq!(
            aggregated(&api, &id).await.status,
            tessera_model::AggregationStatus::Success,
            "{kind}: still the original token"
        );

        // A new value replaces the secret: the server now refuses the connector's requests.
        let wrong = "wrong-token-0123456789";
        let mut replaced = read.body.clone();
        replaced["connectorAttributes"]["token"] = json!(wrong);
        let put = api.call(Method::PUT, &path, Some(&replaced)).await;
        assert_eq!(
            (put.status, &put.body["connectorAttributes"]["token"]),
            (200, &json!(MASK)),
            "{kind}: {}",
            put.body
        );
        let resealed = raw_attributes(&api, &id).await["token"].clone();
        assert_ne!(resealed, sealed, "{kind}");
        assert!(!resealed.to_string().contains(wrong), "{kind}: {resealed}");
        let refused = aggregated(&api, &id).await;
        assert_eq!(
            refused.status,
            tessera_model::AggregationStatus::Error,
            "{kind}: the replaced token is sent: {refused:?}"
        );
        assert!(!format!("{refused:?}").contains(wrong), "{kind}: the failure does not show the token: {refused:?}");
        let message = refused.message.clone().unwrap_or_default();
        assert!(message.contains("401"), "{kind}: refused for its token: {message}");
        replaced["connectorAttributes"]["token"] = json!(token);
        assert_eq!(api.call(Method::PUT, &path, Some(&replaced)).await.status, 200, "{kind}");
        assert_eq!(
            aggregated(&api, &id).await.status,
            tessera_model::AggregationStatus::Success,
            "{kind}: the token put back works again"
        );

        // Another node's key does not open it: the error names the source and attribute, not the value.
        let stranger = api.store.clone().with_keyring(Keyring::generate());
        let mut tx = stranger.begin().await.unwrap();
        let source = tx.object(CatalogKind::Source, &id).await.unwrap().unwrap();
        drop(tx);
        let error = check_source(&stranger, &source, None, &ImportDirs::default()).await.unwrap_err().to_string();
        assert!(error.contains("`Directory`") && error.contains("`token`"), "{kind}: {error}");
        assert!(!error.contains(&token) && !error.contains("v1:"), "{kind}: {error}");

        assert_eq!(api.call(Method::DELETE, &path, None).await.status, 202, "{kind}");
        let everything = stored_text(&api).await;
        assert!(everything.contains("idn:source-deleted"), "{kind}: the events were read");
        for secret in [token.as_str(), wrong] {
            assert!(!everything.contains(secret), "{kind}: `{secret}` reached the audit log, events or rows");
        }
    }
}

#[tokio::test]
async fn every_secret_attribute_is_masked_and_a_mask_with_nothing_behind_it_is_refused() {
    for api in apis().await {
        let kind = api.kind;
        let ldap = json!({"name": "LDAP", "connector": "ldap", "connectorAttributes": {
            "url": "ldap://127.0.0.1:1", "bindDn": "cn=admin,dc=example,dc=com", "bindPassword": "ldap-pw-secret",
            "baseDn": "ou=people,dc=example,dc=com", "groupBaseDn": "ou=groups,dc=example,dc=com"}});
        let oauth = json!({"name": "OAuth SCIM", "connector": "scim", "connectorAttributes": {
            "baseUrl": "http://127.0.0.1:1/scim/v2", "authType": "oauth2", "tokenUrl": "http://127.0.0.1:1/token",
            "clientId": "tessera", "clientSecret": "oauth-client-secret"}});
        for (body, field) in [(&ldap, "bindPassword"), (&oauth, "clientSecret")] {
            let made = created(&api, "/v3/sources", body, 201).await.body;
            assert_eq!(made["connectorAttributes"][field], MASK, "{kind}: {made}");
            let id = made["id"].as_str().unwrap();
            let stored = raw_attributes(&api, id).await;
            assert!(stored[field]["$sealed"].is_string(), "{kind}: {stored}");
        }
        let everything = stored_text(&api).await;
        for secret in ["ldap-pw-secret", "oauth-client-secret"] {
            assert!(!everything.contains(secret), "{kind}: `{secret}` is stored or recorded in plain text");
        }

        let mut masked = oauth.clone();
        masked["name"] = json!("Masked");
        masked["connectorAttributes"]["clientSecret"] = json!(MASK);
        let refused = api.post("/v3/sources", &masked).await;
        assert_invalid(&refused, "/connectorAttributes/clientSecret", kind);
        let mut numeric = oauth.clone();
        numeric["name"] = json!("Numeric");
        numeric["connectorAttributes"]["clientSecret"] = json!(987_654_321);
        let refused = api.post("/v3/sources", &numeric).await;
        assert_invalid(&refused, "/connectorAttributes/clientSecret", kind);
        assert!(!refused.body.to_string().contains("987654321"), "{kind}: the value stays out of the error");
    }
}
