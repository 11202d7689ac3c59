//! Tokens an attacker might make: signed with the key an older Tessera kept readable in the database,
//! claiming a lifetime longer than the server grants, naming no key or an unknown one, or belonging to
//! a client that is gone. And signing keys rotated: old tokens live until they expire, or not at all
//! when the old keys are revoked; a second node on the same database agrees.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::sync::Arc;

use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::Method;
use serde_json::{Value, json};
use tessera_model::{Clock, Timestamp};
use tessera_server::auth::{ALL, Auth, DEFAULT_LIFETIME, keys};
use tessera_store::SecurityStore;

use crate::common::{ADMIN, ADMIN_SECRET, Api, apis};

/// The key the server signs with now, opened with the node key (what only someone holding both the
/// database and the node key could do).
async fn signing_key(api: &Api) -> (String, Vec<u8>) {
    let mut tx = api.store.begin().await.unwrap();
    let key = tx.signing_keys().await.unwrap().into_iter().find(|k| k.retired_at.is_none()).unwrap();
    let envelope: Value = serde_json::from_str(&key.sealed).unwrap();
    let opened = api.store.keyring().unwrap().open("token-signing-key", &envelope).unwrap();
    (key.id, base64::engine::general_purpose::STANDARD.decode(opened).unwrap())
}

fn forge(kid: Option<&str>, key: &[u8], sub: &str, lifetime_seconds: i64, now: Timestamp) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = kid.map(str::to_owned);
    let ms = now.millis();
    let claims = json!({"iss": "tessera", "sub": sub, "scope": ALL, "iat": ms / 1000,
                        "exp": ms / 1000 + lifetime_seconds, "issued_ms": ms});
    jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(key)).unwrap()
}

async fn status_with(api: &Api, token: &str) -> (u16, String) {
    let reply = api.call_as(Some(token), Method::GET, "/v3/workflows", None).await;
    (reply.status, reply.body["messages"][0]["text"].as_str().unwrap_or_default().to_owned())
}

#[tokio::test]
async fn tokens_claiming_more_than_the_server_grants_are_refused() {
    for api in apis().await {
        let kind = api.kind;
        let (kid, key) = signing_key(&api).await;
        let now = api.clock.now();
        // The forgery itself is right: with the granted lifetime it passes.
        assert_eq!(status_with(&api, &forge(Some(&kid), &key, ADMIN, 900, now)).await.0, 200, "{kind}");
        let (status, message) = status_with(&api, &forge(Some(&kid), &key, ADMIN, 365 * 24 * 3600, now)).await;
        assert_eq!(status, 401, "{kind}: a year-long token: {message}");
        assert!(message.contains("lifetime"), "{kind}: {message}");
        let year = forge(Some(&kid), &key, ADMIN, 365 * 24 * 3600, now);
        let reply = api.call_as(Some(&year), Method::GET, "/v3/workflows", None).await;
        assert!(reply.headers.get("www-authenticate").unwrap().to_str().unwrap().starts_with("Bearer"), "{kind}");
        let future = now + std::time::Duration::from_secs(3600);
        assert_eq!(
            status_with(&api, &forge(Some(&kid), &key, ADMIN, 900, future)).await.0,
            401,
            "{kind}: issued later"
        );
        assert_eq!(status_with(&api, &forge(None, &key, ADMIN, 900, now)).await.0, 401, "{kind}: names no key");
        assert_eq!(status_with(&api, &forge(Some("made-up"), &key, ADMIN, 900, now)).await.0, 401, "{kind}");
        let (status, message) = status_with(&api, &forge(Some(&kid), &key, "no-such-client", 900, now)).await;
        assert_eq!(status, 401, "{kind}: a client that does not exist");
        assert!(message.contains("no longer exists"), "{kind}: {message}");
    }
}

#[tokio::test]
async fn the_plain_key_an_older_tessera_stored_is_removed_and_signs_nothing() {
    for api in apis().await {
        let kind = api.kind;
        // What Tessera wrote before schema 15, readable by anyone who can read the database.
        let legacy = [7u8; 32];
        let mut tx = api.store.begin().await.unwrap();
        let text = base64::engine::general_purpose::STANDARD.encode(legacy);
        tx.setting_or_insert("token-signing-key", &text).await.unwrap();
        tx.commit().await.unwrap();
        let now = api.clock.now();
        let forged = forge(None, &legacy, ADMIN, 900, now);
        let node = Auth::load(&api.store, api.clock.clone(), DEFAULT_LIFETIME).await.unwrap();
        let mut tx = api.store.begin().await.unwrap();
        assert_eq!(tx.setting("token-signing-key").await.unwrap(), None, "{kind}: removed at start");
        drop(tx);
        assert!(node.verify(&forged).await.is_err(), "{kind}");
        assert_eq!(status_with(&api, &forged).await.0, 401, "{kind}");
        let (kid, _) = signing_key(&api).await;
        assert_eq!(status_with(&api, &forge(Some(&kid), &legacy, ADMIN, 900, now)).await.0, 401, "{kind}");
    }
}

#[tokio::test]
async fn rotated_keys_verify_until_their_tokens_expire_or_are_revoked() {
    for api in apis().await {
        let kind = api.kind;
        let before = api.token_for(ADMIN, ADMIN_SECRET).await;
        let old_kid = jsonwebtoken::decode_header(&before).unwrap().kid.unwrap();
        let now = api.clock.now();
        let new_kid = keys::rotate(&api.store, now, false).await.unwrap();
        // Another node started now signs with the new key and still accepts the old key's token.
        let other = Auth::load(&api.store, api.clock.clone(), DEFAULT_LIFETIME).await.unwrap();
        assert!(other.verify(&before).await.is_ok(), "{kind}: an old token lives on");
        assert_eq!(status_with(&api, &before).await.0, 200, "{kind}");
        let mut tx = api.store.begin().await.unwrap();
        let stored = tx.signing_keys().await.unwrap();
        drop(tx);
        assert_eq!(stored.len(), 2, "{kind}");
        assert!(stored.iter().any(|k| k.id == old_kid && k.retired_at == Some(now)), "{kind}: {stored:?}");
        assert!(stored.iter().any(|k| k.id == new_kid && k.retired_at.is_none()), "{kind}");
        // Once every token of the retired key has expired, the key goes.
        api.advance(chrono::Duration::minutes(16));
        assert_eq!(status_with(&api, &before).await.0, 401, "{kind}: expired");
        let _ = Auth::load(&api.store, api.clock.clone(), DEFAULT_LIFETIME).await.unwrap();
        let mut tx = api.store.begin().await.unwrap();
        assert_eq!(tx.signing_keys().await.unwrap().len(), 1, "{kind}: the retired key was deleted");
        drop(tx);

        // A revocation refuses every token of the old keys at once.
        let node = Auth::load(&api.store, api.clock.clone(), DEFAULT_LIFETIME).await.unwrap();
        let mut tx = api.store.begin().await.unwrap();
        let admin = tx.client(ADMIN).await.unwrap().unwrap();
        drop(tx);
        let (recent, _) = node.issue(&admin).await.unwrap();
        assert!(node.verify(&recent).await.is_ok(), "{kind}");
        keys::rotate(&api.store, api.clock.now(), true).await.unwrap();
        let after = Auth::load(&api.store, api.clock.clone(), DEFAULT_LIFETIME).await.unwrap();
        assert!(after.verify(&recent).await.is_err(), "{kind}: a revoked key's token is refused");
        let clock: Arc<dyn Clock> = api.clock.clone();
        let shorter = Auth::load(&api.store, clock, std::time::Duration::from_secs(60)).await.unwrap();
        let (kid, key) = signing_key(&api).await;
        let fifteen_minutes = forge(Some(&kid), &key, ADMIN, 900, api.clock.now());
        assert!(after.verify(&fifteen_minutes).await.is_ok(), "{kind}");
        assert!(shorter.verify(&fifteen_minutes).await.is_err(), "{kind}: longer than a node granting a minute allows");
    }
}

/// A new node key (given first, the old one after it) moves the signing keys under it at start, so
/// the old node key can then go and tokens keep verifying.
#[tokio::test]
async fn signing_keys_move_to_a_new_node_key() {
    use base64::engine::general_purpose::STANDARD;
    for api in apis().await {
        let kind = api.kind;
        let token = api.token_for(ADMIN, ADMIN_SECRET).await;
        let old = api.store.keyring().unwrap().clone();
        let new_key = STANDARD.encode([42u8; 32]);
        // The old key's text is not exposed; a keyring of the new key and the old one opens both.
        let both = tessera_store::Keyring::parse(&new_key).unwrap();
        let rotated = api.store.clone().with_keyring(both.clone().with_older(&old));
        Auth::load(&rotated, api.clock.clone(), DEFAULT_LIFETIME).await.unwrap();
        let only_new = api.store.clone().with_keyring(both);
        let node = Auth::load(&only_new, api.clock.clone(), DEFAULT_LIFETIME).await.unwrap();
        assert!(node.verify(&token).await.is_ok(), "{kind}: the old node key is no longer needed");
    }
}
