//! Connector secrets at rest, on SQLite and PostgreSQL: plain-text secrets in stored sources are sealed
//! in place, open again for the connector, and a key that did not seal them fails clearly, naming the
//! source and attribute but never the value; a rotated-in key takes the values over.

#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};
use tessera_model::Timestamp;
use tessera_store::secrets::{self, OpenError, Resealed};
use tessera_store::testing::stores;
use tessera_store::{CatalogKind, CatalogObject, CatalogStore, Error, Keyring, Store};

const TOKEN: &str = "scim-bearer-token-0123456789";
const PASSWORD: &str = "ldap-bind-password-0123456789";

fn source(id: &str, name: &str, attributes: Value) -> CatalogObject {
    CatalogObject {
        kind: CatalogKind::Source,
        id: id.into(),
        name: name.into(),
        key: name.into(),
        parent_id: String::new(),
        owner_id: None,
        enabled: true,
        requestable: false,
        document: json!({"connector": "scim", "connectorAttributes": attributes}),
        created_at: Timestamp::from_millis(1_000),
        modified_at: Timestamp::from_millis(1_000),
    }
}

/// Writes two sources with plain-text secrets, straight into the database.
async fn plain_sources(store: &Store) {
    let mut tx = store.begin().await.unwrap();
    let scim = json!({"baseUrl": "http://127.0.0.1:1/v2", "token": TOKEN, "pageSize": 10});
    tx.insert_object(&source("s1", "Directory", scim)).await.unwrap();
    let ldap = json!({"url": "ldap://127.0.0.1:1", "bindPassword": PASSWORD, "password": null});
    tx.insert_object(&source("s2", "LDAP", ldap)).await.unwrap();
    tx.commit().await.unwrap();
}

async fn raw_document(store: &Store, id: &str) -> String {
    sqlx::query_scalar("SELECT document FROM catalog WHERE id = $1").bind(id).fetch_one(store.pool()).await.unwrap()
}

async fn stored(store: &Store, id: &str) -> CatalogObject {
    let mut tx = store.begin().await.unwrap();
    tx.object(CatalogKind::Source, id).await.unwrap().unwrap()
}

#[tokio::test]
async fn plain_secrets_are_sealed_in_place_and_open_for_the_connector() {
    for (kind, store) in stores().await {
        plain_sources(&store).await;
        let report = secrets::reseal_sources(&store).await.unwrap();
        assert_eq!(report, Resealed { sources: 2, unopenable: vec![] }, "{kind}");
        for (id, secret) in [("s1", TOKEN), ("s2", PASSWORD)] {
            let raw = raw_document(&store, id).await;
            assert!(!raw.contains(secret) && raw.contains("\"$sealed\":\"v1:"), "{kind}: {raw}");
        }
        let scim = stored(&store, "s1").await;
        assert_eq!(scim.modified_at, Timestamp::from_millis(1_000), "{kind}: sealing is not a change of configuration");
        let opened = secrets::opened_attributes(store.keyring(), &scim).unwrap();
        assert_eq!(opened, json!({"baseUrl": "http://127.0.0.1:1/v2", "token": TOKEN, "pageSize": 10}), "{kind}");
        let opened = secrets::opened_attributes(store.keyring(), &stored(&store, "s2").await).unwrap();
        assert_eq!((&opened["bindPassword"], &opened["password"]), (&json!(PASSWORD), &Value::Null), "{kind}");

        let again = secrets::reseal_sources(&store).await.unwrap();
        assert_eq!(again, Resealed::default(), "{kind}: values under the sealing key stay as they are");
        assert_eq!(stored(&store, "s1").await, scim, "{kind}");
    }
}

#[tokio::test]
async fn a_key_that_did_not_seal_a_value_names_the_source_and_attribute_only() {
    for (kind, store) in stores().await {
        plain_sources(&store).await;
        secrets::reseal_sources(&store).await.unwrap();
        let scim = stored(&store, "s1").await;
        let sealed_by = store.keyring().unwrap().ids()[0].to_owned();

        let stranger = store.clone().with_keyring(Keyring::generate());
        let error = secrets::opened_attributes(stranger.keyring(), &scim).unwrap_err();
        let Error::Unsealable { source_name, field, reason: OpenError::UnknownKey { needed, .. } } = &error else {
            panic!("{kind}: {error:?}");
        };
        assert_eq!((source_name.as_str(), field.as_str(), needed.as_str()), ("Directory", "token", &*sealed_by));
        let message = error.to_string();
        assert!(message.starts_with("source `Directory`: connector attribute `token` cannot be opened"), "{message}");
        assert!(!message.contains(TOKEN), "{kind}: {message}");

        let report = secrets::reseal_sources(&stranger).await.unwrap();
        assert_eq!((report.sources, report.unopenable.len()), (0, 2), "{kind}: {report:?}");
        assert_eq!(stored(&store, "s1").await, scim, "{kind}: what does not open stays as it was");

        let keyless = secrets::opened_attributes(None, &scim).unwrap_err();
        assert!(matches!(keyless, Error::Unsealable { reason: OpenError::NoKeyring, .. }), "{kind}: {keyless}");
    }
}

#[tokio::test]
async fn a_rotated_in_key_takes_every_value_over_and_the_old_key_can_then_go() {
    for (kind, store) in stores().await {
        let old = "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=";
        let new = "CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk=";
        let before = store.clone().with_keyring(Keyring::parse(old).unwrap());
        plain_sources(&before).await;
        secrets::reseal_sources(&before).await.unwrap();

        let rotated = store.clone().with_keyring(Keyring::parse(&format!("{new},{old}")).unwrap());
        assert_eq!(secrets::reseal_sources(&rotated).await.unwrap().sources, 2, "{kind}");
        let after = store.clone().with_keyring(Keyring::parse(new).unwrap());
        let opened = secrets::opened_attributes(after.keyring(), &stored(&after, "s1").await).unwrap();
        assert_eq!(opened["token"], TOKEN, "{kind}: the new key alone opens every value");
        assert!(secrets::opened_attributes(before.keyring(), &stored(&before, "s2").await).is_err(), "{kind}");
    }
}
