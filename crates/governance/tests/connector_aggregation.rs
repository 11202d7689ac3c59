//! Aggregation from live systems on both databases, against a real slapd and a real scim2-server:
//! accounts and groups arrive (groups as the source's entitlements), accounts correlate to existing
//! identities or, on an authoritative source, become identities; a second run after users were
//! changed, removed and added on the server publishes exactly the events of that delta; and a
//! system that stops answering mid-run ends the run in ERROR with nothing removed.

#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};
use tessera_connectors::testing::scim_server::ScimServer;
use tessera_connectors::testing::slapd::{ADMIN_DN, ADMIN_PASSWORD, ADMINS, AUDITORS, GROUPS, PEOPLE, STAFF, Slapd};
use tessera_governance::{self as governance, AggregateOptions, Progress, Summary};
use tessera_model::{Clock, ManualClock, Timestamp};
use tessera_store::testing::stores;
use tessera_store::{AccountRecord, CatalogKind, CatalogStore, IdentityRecord, IdentityStore, QueueStore, Store};

mod fixtures;
use fixtures::object;

struct World {
    name: &'static str,
    store: Store,
    clock: ManualClock,
}

impl World {
    fn new(name: &'static str, store: Store) -> Self {
        Self { name, store, clock: ManualClock::new("2026-01-01T00:00:00Z".parse().unwrap()) }
    }

    async fn aggregate(&self, source: &str) -> Summary {
        self.aggregate_with(source, &AggregateOptions::default(), &mut |_| {}).await
    }

    async fn aggregate_with(
        &self,
        source: &str,
        options: &AggregateOptions,
        on_progress: &mut (dyn FnMut(&Progress) + Send),
    ) -> Summary {
        self.clock.advance_to(self.clock.now() + chrono::Duration::seconds(1));
        governance::aggregate(&self.store, &self.clock, source, options, on_progress).await.unwrap()
    }

    async fn insert(&self, objects: &[tessera_store::CatalogObject]) {
        let mut tx = self.store.begin().await.unwrap();
        for o in objects {
            tx.insert_object(o).await.unwrap();
        }
        tx.commit().await.unwrap();
    }

    /// Identities with these (id, display name, email), on no profile.
    async fn identities(&self, people: &[(&str, &str, &str)]) {
        let records: Vec<IdentityRecord> = people
            .iter()
            .map(|(id, name, email)| IdentityRecord {
                id: (*id).into(),
                name: (*name).into(),
                alias: (*id).into(),
                email: Some((*email).into()),
                manager_id: None,
                profile_id: None,
                lifecycle_state: None,
                lifecycle_manual: false,
                status: tessera_model::IdentityStatus::Active,
                attributes: json!({"email": email}).as_object().unwrap().clone(),
                created_at: Timestamp::UNIX_EPOCH,
                modified_at: Timestamp::UNIX_EPOCH,
            })
            .collect();
        let mut tx = self.store.begin().await.unwrap();
        tx.insert_identities(&records).await.unwrap();
        tx.commit().await.unwrap();
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

    async fn account(&self, source: &str, native: &str) -> Option<AccountRecord> {
        let mut tx = self.store.begin().await.unwrap();
        tx.account_by_native(source, native).await.unwrap()
    }

    async fn count_accounts(&self, source: &str) -> i64 {
        let mut tx = self.store.begin().await.unwrap();
        tx.count_accounts(source).await.unwrap()
    }

    /// The source's entitlements as (key, name), by key.
    async fn entitlements(&self, source: &str) -> Vec<(String, String)> {
        let mut tx = self.store.begin().await.unwrap();
        let mut found: Vec<(String, String)> = tx
            .objects_of(CatalogKind::Entitlement, source)
            .await
            .unwrap()
            .into_iter()
            .map(|e| (e.key, e.name))
            .collect();
        found.sort();
        found
    }

    async fn entitlement_id(&self, source: &str, key: &str) -> String {
        let mut tx = self.store.begin().await.unwrap();
        let all = tx.objects_of(CatalogKind::Entitlement, source).await.unwrap();
        all.into_iter().find(|e| e.key == key).unwrap_or_else(|| panic!("{}: no entitlement {key}", self.name)).id
    }
}

fn topics(events: &[(String, Value)]) -> Vec<&str> {
    events.iter().map(|(t, _)| t.as_str()).collect()
}

fn ldap_source(slapd: &Slapd, extra: Value) -> tessera_store::CatalogObject {
    let mut document = json!({
        "name": "Directory", "connector": "ldap", "deleteThreshold": 50,
        "connectorAttributes": {
            "url": slapd.url, "bindDn": ADMIN_DN, "bindPassword": ADMIN_PASSWORD, "baseDn": PEOPLE,
            "groupBaseDn": GROUPS, "pageSize": 2, "timeoutSeconds": 5,
        },
        "correlation": [{"identityAttribute": "email", "accountAttribute": "mail"}],
    });
    for (key, value) in extra.as_object().unwrap() {
        document["connectorAttributes"][key] = value.clone();
    }
    object(CatalogKind::Source, "ldap", "Directory", "", document)
}

/// An LDAP group's entitlement key, in the lower case the catalogue keeps keys in.
fn key(dn: &str) -> String {
    format!("memberOf={dn}").to_lowercase()
}

#[tokio::test]
async fn ldap_accounts_and_groups_arrive_correlate_and_their_changes_are_events() {
    for (name, store) in stores().await {
        let world = World::new(name, store);
        let slapd = Slapd::start().await;
        let ada = slapd.add_person("ada", "Ada", "Lovelace", &["countess@example.org", "ada@example.org"]).await;
        let alan = slapd.add_person("alan", "Alan", "Turing", &["alan@example.org"]).await;
        let grace = slapd.add_person("grace", "Grace", "Hopper", &["grace@example.org"]).await;
        slapd.add_values(STAFF, "member", &[&ada, &alan]).await;
        slapd.add_values(ADMINS, "member", &[&alan]).await;
        world
            .identities(&[
                ("id-ada", "Ada Lovelace", "ada@example.org"),
                ("id-alan", "Alan Turing", "ALAN@example.org"),
                ("id-edsger", "Edsger Dijkstra", "edsger@example.org"),
            ])
            .await;
        world.insert(&[ldap_source(&slapd, json!({}))]).await;

        // First run: three accounts (two pages and a half), the three groups as entitlements.
        let first = world.aggregate("Directory").await;
        assert_eq!(first.status, tessera_model::AggregationStatus::Success, "{name}: {first:?}");
        assert_eq!((first.scanned, first.added, first.removed), (3, 3, 0), "{name}");
        assert_eq!(first.entitlements_added, 3, "{name}");
        assert_eq!(
            world.entitlements("ldap").await,
            [
                (key(ADMINS), "admins".to_owned()),
                (key(AUDITORS), "auditors".to_owned()),
                (key(STAFF), "staff".to_owned())
            ],
            "{name}"
        );
        let account = world.account("ldap", &ada).await.unwrap();
        assert_eq!(account.identity_id.as_deref(), Some("id-ada"), "{name}: any of the mail values correlates");
        assert_eq!(account.name, "ada", "{name}");
        assert_eq!(account.attributes["memberOf"], json!([STAFF]), "{name}");
        assert!(!account.disabled, "{name}");
        assert_eq!(world.account("ldap", &alan).await.unwrap().identity_id.as_deref(), Some("id-alan"), "{name}");
        assert_eq!(world.account("ldap", &grace).await.unwrap().identity_id, None, "{name}: no identity matches");
        let events = world.events().await;
        assert_eq!(
            topics(&events),
            ["idn:account-correlated", "idn:account-correlated", "idn:account-aggregation-completed"],
            "{name}"
        );
        let mut correlated: Vec<&str> =
            events[..2].iter().map(|(_, p)| p["identity"]["id"].as_str().unwrap()).collect();
        correlated.sort();
        assert_eq!(correlated, ["id-ada", "id-alan"], "{name}");

        // An access profile grants staff; then, on the server: Ada leaves, Alan is disabled and loses
        // staff (the group goes), Grace gets a title, Edsger joins, and the auditors group goes.
        let staff = world.entitlement_id("ldap", &key(STAFF)).await;
        world
            .insert(&[object(
                CatalogKind::AccessProfile,
                "ap-staff",
                "Staff",
                "ldap",
                json!({"name": "Staff", "entitlements": [{"id": staff}]}),
            )])
            .await;
        slapd.delete(&ada).await;
        slapd.replace(&alan, "employeeType", &["disabled"]).await;
        slapd.delete(STAFF).await;
        slapd.delete(AUDITORS).await;
        slapd.replace(&grace, "title", &["Rear Admiral"]).await;
        let edsger = slapd.add_person("edsger", "Edsger", "Dijkstra", &["edsger@example.org"]).await;

        let second = world.aggregate("Directory").await;
        assert_eq!(second.status, tessera_model::AggregationStatus::Warning, "{name}: {second:?}");
        let mut events = world.all_events().await;
        // The account deltas: Edsger's account created, Alan's and Grace's updated, Ada's deleted.
        let mut deltas: Vec<(String, String)> = events
            .iter()
            .filter(|(topic, _)| topic.starts_with("idn:source-account-"))
            .map(|(topic, p)| (topic.clone(), p["account"]["nativeIdentity"].as_str().unwrap().to_owned()))
            .collect();
        deltas.sort();
        let mut expected = vec![
            ("idn:source-account-created".to_owned(), edsger.clone()),
            ("idn:source-account-deleted".to_owned(), ada.clone()),
            ("idn:source-account-updated".to_owned(), alan.clone()),
            ("idn:source-account-updated".to_owned(), grace.clone()),
        ];
        expected.sort();
        assert_eq!(deltas, expected, "{name}");
        let created = events.iter().find(|(t, _)| t == "idn:source-account-created").unwrap();
        assert_eq!(created.1["event"], json!({"type": "ACCOUNT_CREATED_V2", "cause": "AGGREGATION"}), "{name}");
        assert_eq!(created.1["identity"]["id"], "id-edsger", "{name}: correlated");
        assert_eq!(created.1["source"]["name"], "Directory", "{name}");
        let deleted = events.iter().find(|(t, _)| t == "idn:source-account-deleted").unwrap();
        assert_eq!(deleted.1["identity"]["id"], "id-ada", "{name}");
        assert_eq!(deleted.1["account"]["attributes"]["uid"], "ada", "{name}: the account as it was");
        events.retain(|(topic, _)| !topic.starts_with("idn:source-account-"));
        assert_eq!(
            (second.scanned, second.added, second.changed, second.unchanged, second.removed),
            (3, 1, 2, 0, 1),
            "{name}"
        );
        assert_eq!((second.entitlements_added, second.entitlements_removed), (0, 1), "{name}");
        assert!(second.message.as_deref().unwrap().contains("staff"), "{name}: {second:?}");
        assert_eq!(
            world.entitlements("ldap").await,
            [(key(ADMINS), "admins".to_owned()), (key(STAFF), "staff".to_owned())],
            "{name}: auditors went; staff stays, an access profile refers to it"
        );
        assert_eq!(
            topics(&events),
            ["idn:account-correlated", "idn:account-uncorrelated", "idn:account-aggregation-completed"],
            "{name}: {events:?}"
        );
        assert_eq!(events[0].1["identity"]["id"], "id-edsger", "{name}");
        assert_eq!(events[0].1["account"]["nativeIdentity"], edsger.as_str(), "{name}");
        assert_eq!(events[1].1["identity"]["id"], "id-ada", "{name}");
        assert_eq!(events[1].1["account"]["nativeIdentity"], ada.as_str(), "{name}");
        assert_eq!(events[2].1["status"], "Warning", "{name}");
        assert!(events[2].1["warnings"][0].as_str().unwrap().contains("staff"), "{name}: {}", events[2].1);
        let account = world.account("ldap", &alan).await.unwrap();
        assert!(account.disabled, "{name}: the disabled flag is read");
        assert_eq!(account.attributes["memberOf"], json!([ADMINS]), "{name}");
        assert_eq!(world.account("ldap", &grace).await.unwrap().attributes["title"], "Rear Admiral", "{name}");
        assert!(world.account("ldap", &ada).await.is_none(), "{name}");

        // Nothing changed: nothing is written, nothing but the run is announced.
        let third = world.aggregate("Directory").await;
        assert_eq!((third.unchanged, third.added, third.changed, third.removed), (3, 0, 0, 0), "{name}");
        assert_eq!(topics(&world.events().await), ["idn:account-aggregation-completed"], "{name}");
    }
}

fn scim_attribute(name: &str) -> Value {
    json!({"type": "accountAttribute", "attributes": {"sourceName": "SCIM", "attributeName": name}})
}

async fn scim_user(server: &ScimServer, user_name: &str, display_name: &str, title: &str) -> String {
    let user = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": user_name,
        "displayName": display_name, "title": title, "active": true,
        "emails": [{"value": format!("{user_name}@example.org"), "primary": true}],
    });
    let (status, user) = server.request(reqwest::Method::POST, "/Users", Some(user)).await;
    assert_eq!(status, 201, "{user}");
    user["id"].as_str().unwrap().to_owned()
}

async fn scim_patch(server: &ScimServer, path: &str, operation: Value) {
    let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [operation]});
    let (status, answer) = server.request(reqwest::Method::PATCH, path, Some(patch)).await;
    assert!(status == 200 || status == 204, "PATCH {path}: {status} {answer}");
}

#[tokio::test]
async fn an_authoritative_scim_source_makes_identities_and_publishes_exactly_its_deltas() {
    for (name, store) in stores().await {
        let world = World::new(name, store);
        let server = ScimServer::start();
        let engineering = server.create_group("Engineering").await;
        let sales = server.create_group("Sales").await;
        let ada = scim_user(&server, "ada", "Ada Lovelace", "Countess").await;
        let bob = scim_user(&server, "bob", "Bob Barker", "Host").await;
        let carol = scim_user(&server, "carol", "Carol Shaw", "Designer").await;
        let source = json!({
            "name": "SCIM", "connector": "scim", "authoritative": true, "deleteThreshold": 50,
            "connectorAttributes": server.attributes(json!({"pageSize": 2})),
        });
        let transforms = json!({"enabled": true, "attributeTransforms": [
            {"identityAttributeName": "uid", "transformDefinition": scim_attribute("userName")},
            {"identityAttributeName": "displayName", "transformDefinition": scim_attribute("displayName")},
            {"identityAttributeName": "email", "transformDefinition": scim_attribute("email")},
            {"identityAttributeName": "title", "transformDefinition": scim_attribute("title")},
        ]});
        world
            .insert(&[
                object(CatalogKind::Source, "scim", "SCIM", "", source),
                object(
                    CatalogKind::IdentityProfile,
                    "people",
                    "People",
                    "scim",
                    json!({"name": "People", "identityAttributeConfig": transforms}),
                ),
            ])
            .await;

        let first = world.aggregate("SCIM").await;
        assert_eq!(first.status, tessera_model::AggregationStatus::Success, "{name}: {first:?}");
        assert_eq!((first.added, first.identities_created, first.entitlements_added), (3, 3, 2), "{name}");
        assert_eq!(
            world.entitlements("scim").await,
            {
                let mut expected = vec![
                    (format!("groups={engineering}"), "Engineering".to_owned()),
                    (format!("groups={sales}"), "Sales".to_owned()),
                ];
                expected.sort();
                expected
            },
            "{name}"
        );
        // scim2-server does not fill a user's read-only `groups`, so memberships are not checked here.
        assert!(world.account("scim", &ada).await.unwrap().identity_id.is_some(), "{name}");
        let events = world.events().await;
        assert_eq!(
            topics(&events),
            [
                "idn:identity-created",
                "idn:identity-created",
                "idn:identity-created",
                "idn:account-aggregation-completed"
            ],
            "{name}"
        );
        assert!(
            events
                .iter()
                .any(|(_, p)| p["identity"]["name"] == "Ada Lovelace" && p["attributes"]["title"] == "Countess"),
            "{name}: {events:?}"
        );

        // Bob's title changes, Ada is deactivated, Carol is deleted, Dave joins, Sales goes.
        scim_patch(&server, &format!("/Users/{bob}"), json!({"op": "replace", "path": "title", "value": "Director"}))
            .await;
        scim_patch(&server, &format!("/Users/{ada}"), json!({"op": "replace", "path": "active", "value": false})).await;
        let (status, _) = server.request(reqwest::Method::DELETE, &format!("/Users/{carol}"), None).await;
        assert_eq!(status, 204, "{name}");
        let (status, _) = server.request(reqwest::Method::DELETE, &format!("/Groups/{sales}"), None).await;
        assert_eq!(status, 204, "{name}");
        scim_user(&server, "dave", "Dave Cutler", "Architect").await;

        let second = world.aggregate("SCIM").await;
        assert_eq!(second.status, tessera_model::AggregationStatus::Success, "{name}: {second:?}");
        assert_eq!(
            (second.added, second.changed, second.removed, second.unchanged),
            (1, 2, 1, 0),
            "{name}: {second:?}"
        );
        assert_eq!(
            (second.identities_created, second.identities_updated, second.identities_deleted),
            (1, 1, 1),
            "{name}"
        );
        assert_eq!(second.entitlements_removed, 1, "{name}");
        assert_eq!(world.entitlements("scim").await, [(format!("groups={engineering}"), "Engineering".to_owned())]);
        assert!(world.account("scim", &ada).await.unwrap().disabled, "{name}: inactive is disabled");
        let events = world.events().await;
        let mut described: Vec<String> = events
            .iter()
            .map(|(topic, p)| format!("{topic} {}", p["identity"]["name"].as_str().unwrap_or_default()))
            .collect();
        let last = described.pop().unwrap();
        described.sort();
        assert_eq!(
            described,
            [
                "idn:identity-attributes-changed Bob Barker",
                "idn:identity-created Dave Cutler",
                "idn:identity-deleted Carol Shaw"
            ],
            "{name}"
        );
        assert_eq!(last, "idn:account-aggregation-completed ", "{name}");
        let changed = events.iter().find(|(t, _)| t == "idn:identity-attributes-changed").unwrap();
        assert_eq!(
            changed.1["changes"],
            json!([{"attribute": "title", "oldValue": "Host", "newValue": "Director"}]),
            "{name}"
        );
    }
}

#[tokio::test]
async fn a_system_that_stops_answering_ends_the_run_in_error_and_removes_nothing() {
    for (name, store) in stores().await {
        let world = World::new(name, store);
        let mut slapd = Slapd::start().await;
        let mut people = Vec::new();
        for uid in ["p1", "p2", "p3", "p4"] {
            people.push(slapd.add_person(uid, "Person", uid, &[]).await);
        }
        world.insert(&[ldap_source(&slapd, json!({"pageSize": 1}))]).await;
        let first = world.aggregate("Directory").await;
        assert_eq!((first.status.as_str(), first.added), ("SUCCESS", 4), "{name}: {first:?}");
        world.events().await;

        // A complete run would now remove p4 and the auditors entitlement; slapd dies after the
        // first batch of one account.
        slapd.delete(&people[3]).await;
        slapd.delete(AUDITORS).await;
        let options = AggregateOptions { batch_rows: 1, ..AggregateOptions::default() };
        let mut stop = Some(&mut slapd);
        let stopped = world
            .aggregate_with("Directory", &options, &mut |_| {
                if let Some(slapd) = stop.take() {
                    slapd.stop();
                }
            })
            .await;
        assert_eq!(stopped.status, tessera_model::AggregationStatus::Error, "{name}: {stopped:?}");
        let message = stopped.message.clone().unwrap();
        assert!(
            message.starts_with("aggregation stopped: reading the accounts after the first 1 failed"),
            "{name}: {message}"
        );
        assert!(message.contains("nothing was removed"), "{name}: {message}");
        assert_eq!((stopped.scanned, stopped.removed, stopped.entitlements_removed), (1, 0, 0), "{name}");
        assert_eq!(world.count_accounts("ldap").await, 4, "{name}: nothing removed");
        assert_eq!(world.entitlements("ldap").await.len(), 3, "{name}: no entitlement removed");
        let events = world.events().await;
        assert_eq!(topics(&events), ["idn:account-aggregation-completed"], "{name}");
        assert_eq!((&events[0].1["status"], &events[0].1["errors"][0]), (&json!("Error"), &json!(message)), "{name}");

        // Down from the start: the entitlements cannot be read, and the run says so.
        let down = world.aggregate("Directory").await;
        assert_eq!(down.status, tessera_model::AggregationStatus::Error, "{name}: {down:?}");
        assert!(down.message.as_deref().unwrap().contains("reading the entitlements failed"), "{name}: {down:?}");
        assert_eq!(world.count_accounts("ldap").await, 4, "{name}");

        // Back up, the next run completes what the stopped ones could not.
        slapd.restart();
        let recovered = world.aggregate("Directory").await;
        assert_eq!(
            (recovered.status.as_str(), recovered.removed, recovered.entitlements_removed),
            ("SUCCESS", 1, 1),
            "{name}: {recovered:?}"
        );
        assert_eq!(world.count_accounts("ldap").await, 3, "{name}");
    }
}

#[tokio::test]
async fn a_stopped_scim_server_ends_the_run_in_error() {
    for (name, store) in stores().await {
        let world = World::new(name, store);
        let mut server = ScimServer::start();
        scim_user(&server, "ada", "Ada Lovelace", "Countess").await;
        let source = json!({"name": "SCIM", "connector": "scim", "connectorAttributes": server.attributes(json!({}))});
        world.insert(&[object(CatalogKind::Source, "scim", "SCIM", "", source)]).await;
        assert_eq!(world.aggregate("SCIM").await.status, tessera_model::AggregationStatus::Success, "{name}");
        server.stop();
        let down = world.aggregate("SCIM").await;
        assert_eq!(down.status, tessera_model::AggregationStatus::Error, "{name}: {down:?}");
        assert!(down.message.as_deref().unwrap().contains("failed 3 times"), "{name}: {down:?}");
        assert_eq!(world.count_accounts("scim").await, 1, "{name}");
        assert_eq!(world.entitlements("scim").await.len(), 0, "{name}");
    }
}

#[tokio::test]
async fn a_live_source_refuses_a_file_and_a_manual_one_cannot_aggregate() {
    for (name, store) in stores().await {
        let world = World::new(name, store);
        let slapd = Slapd::start().await;
        world
            .insert(&[
                ldap_source(&slapd, json!({})),
                object(CatalogKind::Source, "paper", "Paper", "", json!({"name": "Paper", "connector": "manual"})),
            ])
            .await;
        let options = AggregateOptions { file: Some("/tmp/accounts.csv".into()), ..AggregateOptions::default() };
        let error =
            governance::aggregate(&world.store, &world.clock, "Directory", &options, &mut |_| {}).await.unwrap_err();
        assert!(error.to_string().contains("not from a file"), "{name}: {error}");
        let error =
            governance::aggregate(&world.store, &world.clock, "Paper", &AggregateOptions::default(), &mut |_| {})
                .await
                .unwrap_err();
        assert!(error.to_string().contains("no system to read accounts from"), "{name}: {error}");
        let mut broken = ldap_source(&slapd, json!({"url": "http://nowhere"}));
        broken.id = "broken".into();
        broken.name = "Broken".into();
        broken.key = "Broken".into();
        world.insert(&[broken]).await;
        let error =
            governance::aggregate(&world.store, &world.clock, "Broken", &AggregateOptions::default(), &mut |_| {})
                .await
                .unwrap_err();
        assert!(error.to_string().contains("`url`"), "{name}: {error}");
    }
}
