//! Deleting catalogue objects through the governance service, with no API in front: a source an
//! access profile uses and an access profile a role grants are refused with their codes and left
//! whole; once nothing uses them they go, a source taking its entitlements with it.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use serde_json::json;
use tessera_engine::{Engine, EngineConfig, Error};
use tessera_governance::{Governance, GovernanceConfig};
use tessera_model::SystemClock;
use tessera_store::testing::stores;
use tessera_store::{CatalogKind, CatalogStore};

mod fixtures;
use fixtures::object;

#[tokio::test]
async fn an_object_in_use_is_refused_with_its_code_and_goes_once_unused() {
    for (kind, store) in stores().await {
        let mut tx = store.begin().await.unwrap();
        for o in [
            object(
                CatalogKind::Source,
                "desk",
                "Service Desk",
                "",
                json!({"name": "Service Desk", "connector": "manual"}),
            ),
            object(CatalogKind::Entitlement, "e-vpn", "groups=vpn", "desk", json!({"name": "VPN"})),
            object(
                CatalogKind::AccessProfile,
                "ap-vpn",
                "VPN",
                "desk",
                json!({"name": "VPN", "entitlements": [{"id": "e-vpn"}]}),
            ),
            object(
                CatalogKind::Role,
                "r-travel",
                "Travel",
                "",
                json!({"name": "Travel", "accessProfiles": [{"id": "ap-vpn"}]}),
            ),
        ] {
            tx.insert_object(&o).await.unwrap();
        }
        tx.commit().await.unwrap();
        let engine = Engine::new(store.clone(), std::sync::Arc::new(SystemClock), EngineConfig::default());
        let governance = Governance::new(engine, GovernanceConfig::default()).unwrap();
        let delete =
            async |kind, id: &str| governance.delete_object(kind, id, "test", async |_, _| Ok::<_, Error>(())).await;

        for (object_kind, id, code) in [
            (CatalogKind::Source, "desk", "source-in-use"),
            (CatalogKind::AccessProfile, "ap-vpn", "access-profile-in-use"),
        ] {
            match delete(object_kind, id).await {
                Err(Error::InUse { code: refused, .. }) => assert_eq!(refused, code, "{kind}"),
                other => panic!("{kind}: deleting {id} while in use: {other:?}"),
            }
        }
        let mut tx = store.begin().await.unwrap();
        assert!(tx.object(CatalogKind::Source, "desk").await.unwrap().is_some(), "{kind}: refused, kept whole");
        assert!(tx.object(CatalogKind::Entitlement, "e-vpn").await.unwrap().is_some(), "{kind}");
        drop(tx);

        delete(CatalogKind::Role, "r-travel").await.unwrap();
        delete(CatalogKind::AccessProfile, "ap-vpn").await.unwrap();
        delete(CatalogKind::Source, "desk").await.unwrap();
        let mut tx = store.begin().await.unwrap();
        assert!(tx.object(CatalogKind::Entitlement, "e-vpn").await.unwrap().is_none(), "{kind}: gone with its source");
    }
}
