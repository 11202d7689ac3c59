//! Carrying out plans on both databases: a manual source turns account requests into work items
//! (PENDING with a ticket), a source without the needed feature refuses them (FAILED, saying why),
//! and the last plan of a tracking group to finish publishes exactly one Provisioning Completed in
//! ISC's shape; answering a work item settles its plan.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use serde_json::{Value, json};
use tessera_engine::{Engine, EngineConfig};
use tessera_governance::{self as governance, AggregateOptions, ImportDirs};
use tessera_governance::{Governance, GovernanceConfig};
use tessera_model::{ManualClock, Timestamp};
use tessera_store::testing::stores;
use tessera_store::{AccessStore, CatalogKind, CatalogStore, Finished, IdentityStore, ProvisioningStore, QueueStore};

mod fixtures;
use fixtures::{attribute, object};

#[tokio::test]
async fn plans_become_work_items_or_refusals_and_one_event_announces_each_group() {
    for (name, store) in stores().await {
        let dir = std::env::temp_dir().join(format!("tessera-prov-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("hr.csv");
        std::fs::write(&file, "id,name,department\ne1,Ada Lovelace,engineering\ne2,Alan Turing,sales\n").unwrap();
        let mut tx = store.begin().await.unwrap();
        for o in [
            object(
                CatalogKind::Source,
                "hr",
                "HR",
                "",
                json!({
                    "name": "HR", "connector": "delimited-file", "authoritative": true,
                    "connectorAttributes": {"file": file.display().to_string(), "identityAttribute": "id"}
                }),
            ),
            object(
                CatalogKind::Source,
                "desk",
                "Service Desk",
                "",
                json!({
                    "name": "Service Desk", "connector": "manual", "governanceGroup": {"id": "wg-it"}
                }),
            ),
            object(
                CatalogKind::Source,
                "crm",
                "CRM",
                "",
                json!({"name": "CRM", "connector": "scim", "features": ["ENABLE"]}),
            ),
            object(
                CatalogKind::Entitlement,
                "e-desk",
                "groups=it",
                "desk",
                json!({"name": "IT", "attribute": "groups", "value": "it"}),
            ),
            object(
                CatalogKind::Entitlement,
                "e-crm",
                "groups=crm",
                "crm",
                json!({"name": "CRM users", "attribute": "groups", "value": "crm"}),
            ),
            object(
                CatalogKind::AccessProfile,
                "ap-desk",
                "Desk",
                "desk",
                json!({"name": "Desk", "entitlements": [{"id": "e-desk"}]}),
            ),
            object(
                CatalogKind::AccessProfile,
                "ap-crm",
                "Crm",
                "crm",
                json!({"name": "Crm", "entitlements": [{"id": "e-crm"}]}),
            ),
            object(
                CatalogKind::Role,
                "r-eng",
                "Engineer",
                "",
                json!({
                    "name": "Engineer", "accessProfiles": [{"id": "ap-desk"}, {"id": "ap-crm"}],
                    "membership": {"type": "STANDARD", "criteria": {"operation": "EQUALS",
                        "key": {"type": "IDENTITY", "property": "attribute.department"}, "stringValue": "engineering"}}
                }),
            ),
            object(
                CatalogKind::IdentityProfile,
                "p",
                "Staff",
                "hr",
                json!({
                    "name": "Staff", "identityAttributeConfig": {"attributeTransforms": [
                        {"identityAttributeName": "displayName", "transformDefinition": attribute("name")},
                        {"identityAttributeName": "department", "transformDefinition": attribute("department")}
                    ]}
                }),
            ),
        ] {
            tx.insert_object(&o).await.unwrap();
        }
        tx.commit().await.unwrap();
        let clock = Arc::new(ManualClock::new("2026-01-01T00:00:00Z".parse().unwrap()));
        let governance = Governance::new(
            Engine::new(store.clone(), clock.clone(), EngineConfig::default()),
            GovernanceConfig::default(),
        )
        .unwrap();
        let options = AggregateOptions { imports: ImportDirs::new([dir.clone()]), ..AggregateOptions::default() };
        governance::aggregate(&store, clock.as_ref(), "hr", &options, &mut |_| {}).await.unwrap();
        let mut tx = store.begin().await.unwrap();
        let ada = tx.identity_by_key("Ada Lovelace").await.unwrap().unwrap();
        let queued = tx.plans(Some(&ada.id), 10, 0).await.unwrap();
        assert_eq!(queued.len(), 2, "{name}: one Create per source");
        assert!(
            queued.iter().all(
                |p| p.status == tessera_model::PlanStatus::Queued && p.tracking_number == queued[0].tracking_number
            ),
            "{name}"
        );
        // The aggregation's own events are not what this test is about.
        for (id, _, _) in tx.lock_undispatched(100).await.unwrap() {
            tx.mark_dispatched(&id, Timestamp::UNIX_EPOCH).await.unwrap();
        }
        tx.commit().await.unwrap();

        assert_eq!(governance.run_provisioning().await.unwrap(), 2, "{name}");
        assert_eq!(governance.run_provisioning().await.unwrap(), 0, "{name}: nothing is carried out twice");

        let mut tx = store.begin().await.unwrap();
        let plans = tx.plans(Some(&ada.id), 10, 0).await.unwrap();
        let status = |source: &str| plans.iter().find(|p| p.source_id == source).unwrap().clone();
        let desk = status("desk");
        assert_eq!(desk.status, tessera_model::PlanStatus::Pending, "{name}");
        let ticket = desk.result.as_ref().unwrap()["ticketId"].as_str().unwrap().to_owned();
        let item = tx.work_item(&ticket).await.unwrap().unwrap();
        assert_eq!(
            (item.status.as_str(), item.assignee.as_deref()),
            ("PENDING", Some("GOVERNANCE_GROUP:wg-it")),
            "{name}"
        );
        let crm = status("crm");
        assert_eq!(crm.status, tessera_model::PlanStatus::Failed, "{name}");
        // A second finish (a node whose lease ran out) changes nothing.
        let again = tx
            .finish_plan(&crm.id, tessera_model::PlanStatus::Success, &json!({}), Timestamp::UNIX_EPOCH)
            .await
            .unwrap();
        assert_eq!(again, Finished::Already, "{name}");
        let events = tx.lock_undispatched(100).await.unwrap();
        let completed: Vec<&Value> =
            events.iter().filter(|(_, t, _)| t == "idn:post-provisioning").map(|(_, _, p)| p).collect();
        assert_eq!(completed.len(), 1, "{name}: one event for the group: {events:?}");
        let event = completed[0];
        assert_eq!(event["trackingNumber"], json!(desk.tracking_number), "{name}");
        assert_eq!(event["action"], "IdentityRefresh", "{name}");
        assert_eq!(event["recipient"], json!({"type": "IDENTITY", "id": ada.id, "name": "Ada Lovelace"}), "{name}");
        assert_eq!(event["requester"], Value::Null, "{name}");
        let mut keys: Vec<&String> = event.as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(
            keys,
            ["accountRequests", "action", "errors", "recipient", "requester", "sources", "trackingNumber", "warnings"],
            "{name}: ISC's fields"
        );
        let requests = event["accountRequests"].as_array().unwrap();
        let desk_request = requests.iter().find(|r| r["source"]["id"] == "desk").unwrap();
        assert_eq!(
            desk_request,
            &json!({
                "source": {"id": "desk", "type": "SOURCE", "name": "Service Desk"},
                "accountId": null,
                "accountOperation": "Create",
                "provisioningResult": "PENDING",
                "provisioningTarget": "Service Desk",
                "ticketId": ticket,
                "attributeRequests": [{"attributeName": "groups", "attributeValue": "it", "operation": "Add"}]
            }),
            "{name}"
        );
        let crm_request = requests.iter().find(|r| r["source"]["id"] == "crm").unwrap();
        assert_eq!(crm_request["provisioningResult"], "FAILED", "{name}");
        let error = event["errors"][0].as_str().unwrap();
        assert!(error.contains("does not have the PROVISIONING feature"), "{name}: {error}");
        tx.commit().await.unwrap();

        // A person completes the work item: the plan settles, once.
        governance.complete_work_item(&ticket, true, "client:it", None, Some("ada")).await.unwrap();
        let again = governance.complete_work_item(&ticket, true, "client:it", None, None).await;
        assert!(matches!(again, Err(tessera_engine::Error::Conflict(_))), "{name}: {again:?}");
        let mut tx = store.begin().await.unwrap();
        let settled = tx.plan_by_id(&desk.id).await.unwrap().unwrap();
        assert_eq!(settled.status, tessera_model::PlanStatus::Success, "{name}");
        assert_eq!(settled.result.unwrap()["accountId"], "ada", "{name}");
        drop(tx);
        std::fs::remove_dir_all(&dir).ok();
    }
}
