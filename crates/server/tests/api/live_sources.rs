//! `load-accounts` on sources with a live system: an LDAP source made over the API is aggregated from a
//! real slapd (202, then the run completes with its accounts and groups), a file sent to it is refused,
//! and a source whose connector configuration cannot work is refused at once.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use tessera_connectors::testing::slapd::{ADMIN_DN, ADMIN_PASSWORD, GROUPS, PEOPLE, STAFF, Slapd};
use tessera_model::Timestamp;
use tessera_store::{CatalogKind, CatalogObject, CatalogStore};

use crate::catalog::create_id;
use crate::common::{Api, apis};

/// Polls an aggregation until it has finished.
async fn finished(api: &Api, run: &str) -> Value {
    for _ in 0..400 {
        let reply = api.get(&format!("/tessera/v1/aggregations/{run}")).await;
        if reply.status == 200 && reply.body["status"] != "RUNNING" && reply.body["status"] != "PENDING" {
            return reply.body;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{}: aggregation {run} did not finish", api.kind);
}

#[tokio::test]
async fn load_accounts_reads_an_ldap_source_from_its_directory() {
    for api in apis().await {
        let kind = api.kind;
        let slapd = Slapd::start().await;
        let ada = slapd.add_person("ada", "Ada", "Lovelace", &["ada@example.org"]).await;
        slapd.add_person("alan", "Alan", "Turing", &["alan@example.org"]).await;
        slapd.add_values(STAFF, "member", &[&ada]).await;
        let source = create_id(
            &api,
            "/v3/sources",
            &json!({"name": "Directory", "connector": "ldap", "connectorAttributes": {
                "url": slapd.url, "bindDn": ADMIN_DN, "bindPassword": ADMIN_PASSWORD, "baseDn": PEOPLE,
                "groupBaseDn": GROUPS, "timeoutSeconds": 5}}),
        )
        .await;
        let path = format!("/v3/sources/{source}/load-accounts");

        let accepted = api.call(Method::POST, &path, None).await;
        assert_eq!(accepted.status, 202, "{kind}: {}", accepted.body);
        let run = accepted.body["task"]["id"].as_str().unwrap().to_owned();
        let done = finished(&api, &run).await;
        assert_eq!(done["status"], "SUCCESS", "{kind}: {done}");
        assert_eq!((&done["stats"]["added"], &done["stats"]["entitlementsAdded"]), (&json!(2), &json!(3)), "{kind}");
        let status = api.get(&format!("/v3/account-aggregations/{run}/status")).await.body;
        assert_eq!((&status["status"], &status["processedAccounts"]), (&json!("COMPLETED"), &json!(2)), "{kind}");
        let entitlements = api.get("/v3/entitlements").await;
        assert_eq!(entitlements.status, 200, "{kind}: {}", entitlements.body);
        let mut names: Vec<&str> = entitlements
            .body
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["source"]["id"] == source.as_str())
            .map(|e| e["name"].as_str().unwrap())
            .collect();
        names.sort_unstable();
        assert_eq!(names, ["admins", "auditors", "staff"], "{kind}");
        let staff = entitlements.body.as_array().unwrap().iter().find(|e| e["name"] == "staff").unwrap();
        assert_eq!((&staff["attribute"], &staff["value"]), (&json!("memberOf"), &json!(STAFF)), "{kind}");

        // A file is not how a directory is read.
        let file = api.raw(Method::POST, &path, "text/csv", "id,name\n1,x\n").await;
        assert_eq!((file.status, file.code()), (400, "invalid-request"), "{kind}: {}", file.body);
        assert!(file.body.to_string().contains("not from a file"), "{kind}: {}", file.body);

        // A source whose connector cannot work (stored before the API checked such things) is refused
        // before any run starts.
        let broken = "broken-ldap";
        let mut tx = api.store.begin().await.unwrap();
        tx.insert_object(&CatalogObject {
            kind: CatalogKind::Source,
            id: broken.into(),
            name: "Broken".into(),
            key: "Broken".into(),
            parent_id: String::new(),
            owner_id: None,
            enabled: true,
            requestable: false,
            document: json!({"connector": "ldap", "connectorAttributes": {"url": slapd.url}}),
            created_at: Timestamp::UNIX_EPOCH,
            modified_at: Timestamp::UNIX_EPOCH,
        })
        .await
        .unwrap();
        tx.commit().await.unwrap();
        let refused = api.call(Method::POST, &format!("/v3/sources/{broken}/load-accounts"), None).await;
        assert_eq!((refused.status, refused.code()), (400, "invalid-request"), "{kind}: {}", refused.body);
        assert!(refused.body.to_string().contains("bindDn"), "{kind}: {}", refused.body);
        let runs = api.get(&format!("/tessera/v1/sources/{broken}/aggregations")).await.body;
        assert_eq!(runs, json!([]), "{kind}: no run was recorded");
    }
}
