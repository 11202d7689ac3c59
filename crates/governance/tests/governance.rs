//! Aggregation, lifecycle and birthright roles on both databases: a joiner, a mover and a leaver in
//! an HR file produce the right identities, events, grants and plans; malformed and duplicate rows
//! are reported by line and skipped; the delete threshold stops a run that would remove too much;
//! a lifecycle state set by a person holds until the computed one changes.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use tessera_governance::{self as governance, AggregateOptions, ImportDirs, Summary};
use tessera_model::{Clock, ManualClock, Timestamp};
use tessera_store::testing::stores;
use tessera_store::{
    AccessStore, CatalogKind, CatalogStore, IdentityRecord, IdentityStore, Listing, QueueStore, Store,
};

mod fixtures;
use fixtures::{attribute, object};

const HEADER: &str = "id,first,last,email,department,status,manager\n";

async fn catalog(store: &Store, file: &Path) {
    let mut tx = store.begin().await.unwrap();
    let objects = [
        object(
            CatalogKind::Source,
            "hr",
            "HR",
            "",
            json!({
                "name": "HR", "connector": "delimited-file", "authoritative": true, "deleteThreshold": 20,
                "connectorAttributes": {"file": file.display().to_string(), "identityAttribute": "id", "managerAttribute": "manager"}
            }),
        ),
        object(CatalogKind::Source, "ad", "AD", "", json!({"name": "AD", "connector": "ldap", "features": ["ENABLE"]})),
        object(
            CatalogKind::Entitlement,
            "ent-staff",
            "memberOf=staff",
            "ad",
            json!({"name": "staff", "attribute": "memberOf", "value": "cn=staff"}),
        ),
        object(
            CatalogKind::Entitlement,
            "ent-eng",
            "memberOf=eng",
            "ad",
            json!({"name": "eng", "attribute": "memberOf", "value": "cn=eng"}),
        ),
        object(
            CatalogKind::AccessProfile,
            "ap-staff",
            "Staff",
            "ad",
            json!({"name": "Staff", "entitlements": [{"id": "ent-staff"}]}),
        ),
        object(
            CatalogKind::AccessProfile,
            "ap-eng",
            "Eng",
            "ad",
            json!({"name": "Eng", "entitlements": [{"id": "ent-eng"}]}),
        ),
        object(
            CatalogKind::Role,
            "role-eng",
            "Engineer",
            "",
            json!({
                "name": "Engineer", "accessProfiles": [{"id": "ap-eng"}],
                "membership": {"type": "STANDARD", "criteria": {"operation": "EQUALS",
                    "key": {"type": "IDENTITY", "property": "attribute.department"}, "stringValue": "engineering"}}
            }),
        ),
        object(
            CatalogKind::IdentityProfile,
            "profile",
            "Staff",
            "hr",
            json!({
                "name": "Staff", "identityAttributeConfig": {"enabled": true, "attributeTransforms": [
                    {"identityAttributeName": "uid", "transformDefinition": attribute("id")},
                    {"identityAttributeName": "displayName", "transformDefinition": {"type": "concat", "attributes": {"values": [attribute("first"), " ", attribute("last")]}}},
                    {"identityAttributeName": "email", "transformDefinition": {"type": "lower", "attributes": {"input": attribute("email")}}},
                    {"identityAttributeName": "department", "transformDefinition": attribute("department")},
                    {"identityAttributeName": "cloudLifecycleState", "transformDefinition": {"type": "lookup", "attributes": {
                        "input": attribute("status"), "table": {"A": "active", "L": "leave", "T": "terminated", "default": "active"}}}}
                ]}
            }),
        ),
        object(
            CatalogKind::LifecycleState,
            "state-active",
            "active",
            "profile",
            json!({
                "name": "Active", "technicalName": "active", "identityState": "ACTIVE",
                "accountActions": [{"action": "ENABLE", "sourceIds": ["ad"]}], "accessProfileIds": ["ap-staff"]
            }),
        ),
        object(
            CatalogKind::LifecycleState,
            "state-leave",
            "leave",
            "profile",
            json!({
                "name": "Leave", "technicalName": "leave", "identityState": "INACTIVE_SHORT_TERM",
                "accountActions": [{"action": "DISABLE", "sourceIds": ["ad"]}]
            }),
        ),
        object(
            CatalogKind::LifecycleState,
            "state-terminated",
            "terminated",
            "profile",
            json!({
                "name": "Terminated", "technicalName": "terminated", "identityState": "INACTIVE_LONG_TERM",
                "accountActions": [{"action": "DISABLE", "sourceIds": ["ad"]}],
                "accessActionConfiguration": {"removeAllAccessEnabled": true}
            }),
        ),
    ];
    for o in &objects {
        tx.insert_object(o).await.unwrap();
    }
    tx.commit().await.unwrap();
}

struct World {
    store: Store,
    clock: ManualClock,
    file: PathBuf,
}

impl World {
    async fn aggregate(&self, rows: &str) -> Summary {
        std::fs::write(&self.file, format!("{HEADER}{rows}")).unwrap();
        self.clock.advance_to(self.clock.now() + chrono::Duration::seconds(1));
        let dir = self.file.parent().unwrap().to_owned();
        let options = AggregateOptions { imports: ImportDirs::new([dir]), ..AggregateOptions::default() };
        governance::aggregate(&self.store, &self.clock, "HR", &options, &mut |_| {}).await.unwrap()
    }

    /// Events published since the last call, as (topic, payload), oldest first.
    /// Events published since the last call, except the per-account ones (`idn:source-account-*`),
    /// which `all_events` includes; marks them all dispatched.
    async fn events(&self) -> Vec<(String, Value)> {
        let mut events = self.all_events().await;
        events.retain(|(topic, _)| !topic.starts_with("idn:source-account-"));
        events
    }

    async fn all_events(&self) -> Vec<(String, Value)> {
        let mut tx = self.store.begin().await.unwrap();
        let events = tx.lock_undispatched(10_000).await.unwrap();
        for (id, _, _) in &events {
            tx.mark_dispatched(id, Timestamp::UNIX_EPOCH).await.unwrap();
        }
        tx.commit().await.unwrap();
        events.into_iter().map(|(_, topic, payload)| (topic, payload)).collect()
    }

    async fn identity(&self, uid: &str) -> IdentityRecord {
        let mut tx = self.store.begin().await.unwrap();
        tx.identity_by_key(uid).await.unwrap().unwrap_or_else(|| panic!("no identity {uid}"))
    }

    async fn holds(&self, uid: &str) -> Vec<String> {
        let id = self.identity(uid).await.id;
        let mut tx = self.store.begin().await.unwrap();
        tx.access_of(&[id.into()])
            .await
            .unwrap()
            .into_iter()
            .map(|g| format!("{}:{}:{}", g.kind, g.object_id, g.origin))
            .collect()
    }

    async fn plans(&self, uid: &str) -> Vec<String> {
        let id = self.identity(uid).await.id;
        let mut tx = self.store.begin().await.unwrap();
        let mut plans: Vec<String> = tx
            .plans(Some(&id), 100, 0)
            .await
            .unwrap()
            .into_iter()
            .map(|p| {
                let requests: Vec<String> = p.document["accountRequest"]["attributeRequests"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| format!("{} {}", r["operation"].as_str().unwrap(), r["value"].as_str().unwrap()))
                    .collect();
                format!("{} {} [{}]", p.operation, p.source_id, requests.join(", "))
            })
            .collect();
        plans.sort();
        plans
    }
}

fn topics(events: &[(String, Value)]) -> Vec<&str> {
    events.iter().map(|(t, _)| t.as_str()).collect()
}

#[tokio::test]
async fn joiner_mover_leaver_on_both_databases() {
    for (name, store) in stores().await {
        let dir = std::env::temp_dir().join(format!("tessera-gov-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("hr.csv");
        catalog(&store, &file).await;
        let world = World { store, clock: ManualClock::new("2026-01-01T00:00:00Z".parse().unwrap()), file };

        // First load: four people, one row malformed, one duplicated.
        let summary = world
            .aggregate(
                "e1,Ada,Lovelace,ADA@example.com,engineering,A,\n\
                 e2,Alan,Turing,alan@example.com,engineering,A,e1\n\
                 e3,Grace,Hopper,grace@example.com,sales,A,e1\n\
                 e4,broken row\n\
                 e2,Alan,Again,alan2@example.com,sales,A,e1\n\
                 e5,Edsger,Dijkstra,edsger@example.com,sales,A,e3\n",
            )
            .await;
        assert_eq!(summary.status, tessera_model::AggregationStatus::Warning, "{name}: {summary:?}");
        assert_eq!((summary.scanned, summary.added, summary.identities_created), (6, 4, 4), "{name}");
        let failed: Vec<(u64, &str)> = summary.failed.iter().map(|f| (f.line, f.reason.as_str())).collect();
        assert_eq!(failed.len(), 2, "{name}: {failed:?}");
        assert_eq!(failed[0].0, 5, "{name}: the malformed row's line: {failed:?}");
        assert!(failed[1].1.contains("line 3"), "{name}: the duplicate names its first line: {failed:?}");

        let ada = world.identity("e1").await;
        assert_eq!(ada.name, "Ada Lovelace", "{name}");
        assert_eq!(ada.email.as_deref(), Some("ada@example.com"), "{name}: transforms applied");
        assert_eq!(ada.lifecycle_state.as_deref(), Some("active"), "{name}");
        assert_eq!(world.identity("e2").await.manager_id.as_deref(), Some(ada.id.as_str()), "{name}: manager");
        assert_eq!(
            world.holds("e2").await,
            ["ACCESS_PROFILE:ap-staff:LIFECYCLE", "ROLE:role-eng:BIRTHRIGHT"],
            "{name}: lifecycle access and the birthright role"
        );
        assert_eq!(world.plans("e2").await, ["Create ad [Add cn=staff, Add cn=eng]"], "{name}: one merged plan");
        let events = world.events().await;
        assert_eq!(
            topics(&events),
            [
                "idn:identity-created",
                "idn:identity-created",
                "idn:identity-created",
                "idn:identity-created",
                "idn:account-aggregation-completed"
            ],
            "{name}"
        );
        let alan_id = json!(world.identity("e2").await.id);
        let created = events.iter().find(|(_, p)| p["identity"]["id"] == alan_id).unwrap();
        assert_eq!(created.1["attributes"]["manager"]["name"], "Ada Lovelace", "{name}: {}", created.1);
        assert_eq!(events[4].1["stats"]["added"], 4, "{name}");
        assert_eq!(events[4].1["status"], "Warning", "{name}");

        // Nothing changed: nothing is written, nothing is announced.
        let same = world
            .aggregate(
                "e1,Ada,Lovelace,ADA@example.com,engineering,A,\n\
                 e2,Alan,Turing,alan@example.com,engineering,A,e1\n\
                 e3,Grace,Hopper,grace@example.com,sales,A,e1\n\
                 e5,Edsger,Dijkstra,edsger@example.com,sales,A,e3\n",
            )
            .await;
        assert_eq!((same.status.as_str(), same.unchanged, same.changed), ("SUCCESS", 4, 0), "{name}");
        assert_eq!(topics(&world.events().await), ["idn:account-aggregation-completed"], "{name}");

        // A mover (e2 to sales), a leaver (e3 terminated) and a joiner (e6).
        let summary = world
            .aggregate(
                "e1,Ada,Lovelace,ADA@example.com,engineering,A,\n\
                 e2,Alan,Turing,alan@example.com,sales,A,e1\n\
                 e3,Grace,Hopper,grace@example.com,sales,T,e1\n\
                 e5,Edsger,Dijkstra,edsger@example.com,sales,A,e3\n\
                 e6,Barbara,Liskov,barbara@example.com,engineering,A,e1\n",
            )
            .await;
        assert_eq!((summary.changed, summary.added, summary.identities_updated), (2, 1, 2), "{name}: {summary:?}");
        let events = world.events().await;
        let mover = events
            .iter()
            .find(|(t, p)| t == "idn:identity-attributes-changed" && p["identity"]["name"] == "Alan Turing")
            .unwrap();
        assert_eq!(
            mover.1["changes"],
            json!([{"attribute": "department", "oldValue": "engineering", "newValue": "sales"}]),
            "{name}"
        );
        assert_eq!(world.holds("e2").await, ["ACCESS_PROFILE:ap-staff:LIFECYCLE"], "{name}: the birthright role goes");
        let leaver: Vec<&str> =
            events.iter().filter(|(_, p)| p["identity"]["name"] == "Grace Hopper").map(|(t, _)| t.as_str()).collect();
        assert_eq!(
            leaver,
            [
                "idn:identity-lifecycle-state-changed",
                "idn:identity-lifecycle-state-change-processed",
                "idn:identity-attributes-changed"
            ],
            "{name}"
        );
        let grace = world.identity("e3").await;
        assert_eq!(
            (grace.lifecycle_state.as_deref(), grace.status.as_str()),
            (Some("terminated"), "INACTIVE"),
            "{name}"
        );
        assert!(world.holds("e3").await.is_empty(), "{name}: all access removed");
        assert!(
            events.iter().any(|(t, p)| t == "idn:identity-created" && p["identity"]["name"] == "Barbara Liskov"),
            "{name}"
        );

        // A person sets e5 on leave; the state holds while the computed one stays the same.
        let state = governance::set_lifecycle_state(
            &world.store,
            &world.clock,
            &world.identity("e5").await.id,
            "leave",
            "test",
            "activity-1",
        )
        .await
        .unwrap();
        assert_eq!(state, "leave", "{name}");
        let rows = "e1,Ada,Lovelace,ADA@example.com,engineering,A,\n\
                    e2,Alan,Turing,alan@example.com,sales,A,e1\n\
                    e3,Grace,Hopper,grace@example.com,sales,T,e1\n\
                    e5,Edsger,Dijkstra,edsger@example.com,support,A,e3\n\
                    e6,Barbara,Liskov,barbara@example.com,engineering,A,e1\n";
        world.aggregate(rows).await;
        let edsger = world.identity("e5").await;
        assert_eq!((edsger.lifecycle_state.as_deref(), edsger.lifecycle_manual), (Some("leave"), true), "{name}");
        assert!(
            world.events().await.iter().any(|(t, _)| t == "idn:identity-lifecycle-state-changed"),
            "{name}: the manual change was announced"
        );

        // Removing three of five accounts is over the 20% threshold: the run stops, nothing goes.
        let stopped = world
            .aggregate("e1,Ada,Lovelace,ADA@example.com,engineering,A,\ne2,Alan,Turing,alan@example.com,sales,A,e1\n")
            .await;
        assert_eq!(stopped.status, tessera_model::AggregationStatus::Error, "{name}");
        assert!(stopped.message.as_deref().unwrap().contains("delete threshold of 20%"), "{name}: {stopped:?}");
        let mut tx = world.store.begin().await.unwrap();
        assert_eq!(tx.count_accounts("hr").await.unwrap(), 5, "{name}");
        let (_, total) = tx.list_identities(&Listing { count: true, ..Listing::default() }).await.unwrap();
        assert_eq!(total, Some(5), "{name}");
        drop(tx);

        // Removing one of five (20%) is allowed: the identity goes with its authoritative account.
        let removed = world
            .aggregate(
                rows.lines().filter(|l| !l.starts_with("e6")).map(|l| format!("{l}\n")).collect::<String>().as_str(),
            )
            .await;
        assert_eq!((removed.status.as_str(), removed.removed, removed.identities_deleted), ("SUCCESS", 1, 1), "{name}");
        let events = world.events().await;
        assert!(
            events.iter().any(|(t, p)| t == "idn:identity-deleted" && p["identity"]["name"] == "Barbara Liskov"),
            "{name}"
        );
        std::fs::remove_dir_all(&dir).ok();
    }
}
