//! What starts work, on both databases: accounts on a target source correlated to identities (and
//! uncorrelated when they go), an event storm paced per workflow without dropping a start, trigger
//! filters over the events aggregation really publishes, a source's aggregation schedule run by
//! the dispatcher, and one aggregation per source at a time.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tessera_engine::{Engine, EngineConfig, Error};
use tessera_governance::{AggregateOptions, ImportDirs, Summary};
use tessera_governance::{Governance, GovernanceConfig};
use tessera_model::{ManualClock, Timestamp};
use tessera_store::testing::stores;
use tessera_store::{
    AccessStore, CatalogKind, CatalogStore, ExecutionStore, IdentityStore, Listing, QueueStore, Store, WorkflowRecord,
};

mod fixtures;
use fixtures::{attribute, insert_workflow, object};

const HR_HEADER: &str = "id,first,last,email,department,status,manager\n";
const HR_ROWS: &str = "e1,Ada,Lovelace,ADA@example.com,engineering,A,\n\
                       e2,Alan,Turing,alan@example.com,engineering,A,e1\n\
                       e3,Grace,Hopper,grace@example.com,sales,A,e1\n";

fn t0() -> Timestamp {
    "2026-01-01T00:00:00Z".parse().unwrap()
}

struct World {
    store: Store,
    clock: Arc<ManualClock>,
    governance: Arc<Governance>,
    dir: PathBuf,
}

impl Drop for World {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

/// A world with an authoritative HR source (file `hr.csv`), its identity profile and one lifecycle
/// state, plus `extra` sources (each document's `connectorAttributes.file` names a file in the
/// world's directory).
async fn world(store: Store, config: EngineConfig, extra: &[(&str, Value)]) -> World {
    let dir = std::env::temp_dir().join(format!("tessera-triggers-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = |name: &str| dir.join(name).display().to_string();
    let mut objects = vec![
        object(
            CatalogKind::Source,
            "hr",
            "HR",
            "",
            json!({"name": "HR", "connector": "delimited-file", "authoritative": true,
                   "connectorAttributes": {"file": file("hr.csv"), "identityAttribute": "id", "managerAttribute": "manager"}}),
        ),
        object(
            CatalogKind::IdentityProfile,
            "profile",
            "Staff",
            "hr",
            json!({"name": "Staff", "identityAttributeConfig": {"enabled": true, "attributeTransforms": [
                {"identityAttributeName": "uid", "transformDefinition": attribute("id")},
                {"identityAttributeName": "displayName", "transformDefinition": {"type": "concat", "attributes": {"values": [attribute("first"), " ", attribute("last")]}}},
                {"identityAttributeName": "email", "transformDefinition": {"type": "lower", "attributes": {"input": attribute("email")}}},
                {"identityAttributeName": "department", "transformDefinition": attribute("department")},
                {"identityAttributeName": "cloudLifecycleState", "transformDefinition": {"type": "static", "attributes": {"value": "active"}}}
            ]}}),
        ),
        object(
            CatalogKind::LifecycleState,
            "state-active",
            "active",
            "profile",
            json!({"name": "Active", "technicalName": "active", "identityState": "ACTIVE"}),
        ),
    ];
    for (id, document) in extra {
        let mut document = document.clone();
        let name = document["connectorAttributes"]["file"].as_str().map(&file);
        if let Some(name) = name {
            document["connectorAttributes"]["file"] = json!(name);
        }
        let key = document["name"].as_str().unwrap().to_owned();
        objects.push(object(CatalogKind::Source, id, &key, "", document));
    }
    let mut tx = store.begin().await.unwrap();
    for o in &objects {
        tx.insert_object(o).await.unwrap();
    }
    tx.commit().await.unwrap();
    let clock = Arc::new(ManualClock::new(t0()));
    let governance = Governance::new(
        Engine::new(store.clone(), clock.clone(), config),
        GovernanceConfig { imports: ImportDirs::new([dir.clone()]), ..GovernanceConfig::default() },
    )
    .unwrap();
    World { store, clock, governance, dir }
}

impl World {
    /// Writes `file` in the world's directory and aggregates `source` from it.
    async fn aggregate(&self, source: &str, file: &str, content: &str) -> Summary {
        std::fs::write(self.dir.join(file), content).unwrap();
        self.governance.run_aggregation(source, AggregateOptions::default()).await.unwrap()
    }

    /// Events published since the last call, as (topic, payload), oldest first; marks them dispatched.
    async fn events(&self) -> Vec<(String, Value)> {
        let mut tx = self.store.begin().await.unwrap();
        let events = tx.lock_undispatched(10_000).await.unwrap();
        for (id, _, _) in &events {
            tx.mark_dispatched(id, Timestamp::UNIX_EPOCH).await.unwrap();
        }
        tx.commit().await.unwrap();
        events.into_iter().map(|(_, topic, payload)| (topic, payload)).collect()
    }

    async fn id_of(&self, uid: &str) -> String {
        let mut tx = self.store.begin().await.unwrap();
        tx.identity_by_key(uid).await.unwrap().unwrap().id.into()
    }

    /// The native identities of an identity's accounts on `source`.
    async fn accounts_on(&self, identity: &str, source: &str) -> Vec<String> {
        let mut tx = self.store.begin().await.unwrap();
        let mut natives: Vec<String> = tx
            .accounts_of(&[identity.to_owned()])
            .await
            .unwrap()
            .into_iter()
            .filter(|a| a.source_id == source)
            .map(|a| a.native_identity)
            .collect();
        natives.sort();
        natives
    }

    async fn owner_of(&self, source: &str, native: &str) -> Option<String> {
        let filter = tessera_store::query::Filter::parse(&format!(
            "sourceId eq \"{source}\" and nativeIdentity eq \"{native}\""
        ))
        .unwrap();
        let mut tx = self.store.begin().await.unwrap();
        let (accounts, _) = tx.list_accounts(&Listing { filter: Some(&filter), ..Listing::default() }).await.unwrap();
        assert_eq!(accounts.len(), 1, "account {native} on {source}");
        accounts[0].identity_id.clone()
    }

    async fn workflow(&self, id: &str, trigger: Value) -> WorkflowRecord {
        let document = json!({"name": id, "trigger": trigger,
                              "definition": {"start": "Done", "steps": {"Done": {"type": "success"}}}});
        insert_workflow(&self.store, id, document).await
    }

    /// The executions of a workflow: (id, status, input).
    async fn executions(&self, workflow: &str) -> Vec<(String, String, Value)> {
        let mut tx = self.store.begin().await.unwrap();
        let (runs, _) = tx.list_executions(workflow, 1000, 0).await.unwrap();
        runs.into_iter().map(|r| (r.id.into_string(), r.status.to_string(), r.input)).collect()
    }

    async fn dispatch_all(&self) -> usize {
        let mut total = 0;
        loop {
            match self.governance.engine().dispatch_events().await.unwrap() {
                0 => return total,
                n => total += n,
            }
        }
    }
}

fn event_trigger(id: &str, filter: Option<&str>) -> Value {
    let mut attributes = json!({"id": id});
    if let Some(filter) = filter {
        attributes["filter.$"] = json!(filter);
    }
    json!({"type": "EVENT", "attributes": attributes})
}

fn directory(threshold: u32) -> Value {
    json!({"name": "Directory", "connector": "delimited-file", "authoritative": false, "deleteThreshold": threshold,
           "correlation": [{"identityAttribute": "email", "accountAttribute": "mail"}],
           "connectorAttributes": {"file": "directory.csv", "identityAttribute": "uid"}})
}

#[tokio::test]
async fn target_accounts_correlate_by_email_and_uncorrelate_when_they_go() {
    for (kind, store) in stores().await {
        let w = world(store, EngineConfig::default(), &[("dir", directory(50))]).await;
        w.aggregate("HR", "hr.csv", &format!("{HR_HEADER}{HR_ROWS}")).await;
        w.events().await;
        let (ada, alan, grace) = (w.id_of("e1").await, w.id_of("e2").await, w.id_of("e3").await);

        // Matched case-insensitively; Alan has two accounts; one account matches nobody.
        let summary = w
            .aggregate(
                "Directory",
                "directory.csv",
                "uid,mail\naturing,Alan@Example.com\nalovelace,ada@example.com\n\
                 alan.admin,ALAN@example.com\nsvc-backup,backup@example.com\n",
            )
            .await;
        assert_eq!((summary.status.as_str(), summary.added), ("SUCCESS", 4), "{kind}: {summary:?}");
        assert_eq!(summary.identities_created, 0, "{kind}: a target source creates no identity");
        assert_eq!(w.accounts_on(&alan, "dir").await, ["alan.admin", "aturing"], "{kind}");
        assert_eq!(w.accounts_on(&ada, "dir").await, ["alovelace"], "{kind}");
        assert!(w.accounts_on(&grace, "dir").await.is_empty(), "{kind}");
        assert_eq!(w.owner_of("dir", "svc-backup").await, None, "{kind}: unmatched stays uncorrelated");
        let events = w.events().await;
        let mut correlated: Vec<(String, String, String)> = events
            .iter()
            .filter(|(t, _)| t == "idn:account-correlated")
            .map(|(_, p)| {
                assert_eq!(p["source"], json!({"id": "dir", "name": "Directory", "type": "SOURCE"}), "{kind}: {p}");
                assert_eq!(p["account"]["type"], "ACCOUNT", "{kind}: {p}");
                let text = |v: &Value| v.as_str().unwrap().to_owned();
                (text(&p["identity"]["name"]), text(&p["account"]["nativeIdentity"]), text(&p["identity"]["id"]))
            })
            .collect();
        correlated.sort();
        assert_eq!(
            correlated,
            [
                ("Ada Lovelace".to_owned(), "alovelace".to_owned(), ada.clone()),
                ("Alan Turing".to_owned(), "alan.admin".to_owned(), alan.clone()),
                ("Alan Turing".to_owned(), "aturing".to_owned(), alan.clone()),
            ],
            "{kind}"
        );
        assert!(!events.iter().any(|(t, _)| t == "idn:account-uncorrelated"), "{kind}");

        // Both of Alan's accounts go (2 of 4, within the 50% threshold): one event for each.
        let summary = w
            .aggregate(
                "Directory",
                "directory.csv",
                "uid,mail\nalovelace,ada@example.com\nsvc-backup,backup@example.com\n",
            )
            .await;
        assert_eq!((summary.status.as_str(), summary.removed), ("SUCCESS", 2), "{kind}: {summary:?}");
        assert!(w.accounts_on(&alan, "dir").await.is_empty(), "{kind}");
        let events = w.events().await;
        let mut gone: Vec<(String, String)> = events
            .iter()
            .filter(|(t, _)| t == "idn:account-uncorrelated")
            .map(|(_, p)| {
                assert_eq!(p["source"]["id"], "dir", "{kind}: {p}");
                (
                    p["identity"]["id"].as_str().unwrap().to_owned(),
                    p["account"]["nativeIdentity"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        gone.sort();
        assert_eq!(gone, [(alan.clone(), "alan.admin".to_owned()), (alan.clone(), "aturing".to_owned())], "{kind}");
        let mut tx = w.store.begin().await.unwrap();
        assert!(tx.identity(&alan).await.unwrap().is_some(), "{kind}: a target account's identity stays");
        drop(tx);

        // An uncorrelated account whose identity appears later is correlated on the next run,
        // though its row did not change.
        w.aggregate("HR", "hr.csv", &format!("{HR_HEADER}{HR_ROWS}e4,Backup,Operator,backup@example.com,it,A,e1\n"))
            .await;
        w.events().await;
        let operator = w.id_of("e4").await;
        let summary = w
            .aggregate(
                "Directory",
                "directory.csv",
                "uid,mail\nalovelace,ada@example.com\nsvc-backup,backup@example.com\n",
            )
            .await;
        assert_eq!(summary.status, tessera_model::AggregationStatus::Success, "{kind}: {summary:?}");
        assert_eq!(w.owner_of("dir", "svc-backup").await, Some(operator.clone()), "{kind}");
        let events = w.events().await;
        assert!(
            events.iter().any(|(t, p)| t == "idn:account-correlated" && p["identity"]["id"] == json!(operator)),
            "{kind}: {events:?}"
        );
        assert_eq!(
            events.iter().filter(|(t, _)| t == "idn:account-correlated").count(),
            1,
            "{kind}: an account already correlated is not announced again"
        );
    }
}

#[tokio::test]
async fn an_event_storm_is_paced_per_workflow_and_nothing_is_dropped() {
    for (kind, store) in stores().await {
        let config = EngineConfig { event_starts_per_second: 10, ..EngineConfig::default() };
        let w = world(store, config, &[]).await;
        let first = w.workflow("w-storm-a", event_trigger("idn:identity-created", None)).await;
        let second = w.workflow("w-storm-b", event_trigger("idn:identity-created", None)).await;
        let events: Vec<(&str, Value)> = (0..50)
            .map(|i| ("idn:identity-created", json!({"identity": {"type": "IDENTITY", "id": format!("id-{i}")}})))
            .collect();
        let mut tx = w.store.begin().await.unwrap();
        tx.publish_many(&events, Timestamp::UNIX_EPOCH).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(w.dispatch_all().await, 50, "{kind}");

        let now = t0();
        // The start tasks' due times, read by claiming them in a transaction that is rolled back.
        let mut tx = w.store.begin().await.unwrap();
        let tasks =
            tx.claim("peek", now + Duration::from_secs(60), now + Duration::from_secs(120), 1_000).await.unwrap();
        drop(tx);
        assert_eq!(tasks.len(), 100, "{kind}: every event started both workflows");
        for workflow in [&first, &second] {
            let runs = w.executions(&workflow.id).await;
            assert_eq!(runs.len(), 50, "{kind}: none dropped");
            let mut offsets: Vec<i64> = tasks
                .iter()
                .filter(|t| runs.iter().any(|(id, _, _)| *id == t.execution_id))
                .map(|t| t.run_at.saturating_millis_since(now))
                .collect();
            offsets.sort();
            // A second's worth at once, then one every 100 ms: the last 4 s later.
            let expected: Vec<i64> = (1..=50).map(|k| (k * 100 - 1000).max(0)).collect();
            assert_eq!(offsets, expected, "{kind}: {} is paced on its own", workflow.id);
        }

        assert_eq!(w.governance.engine().run_due().await.unwrap(), 20, "{kind}: at t0, ten of each");
        let done = |runs: Vec<(String, String, Value)>| runs.iter().filter(|(_, s, _)| s == "Completed").count();
        assert_eq!(done(w.executions(&first.id).await), 10, "{kind}");
        w.clock.advance_to(t0() + chrono::Duration::seconds(1));
        w.governance.engine().run_due().await.unwrap();
        assert_eq!(done(w.executions(&first.id).await), 20, "{kind}: ten more a second later");
        w.clock.advance_to(t0() + chrono::Duration::seconds(4));
        w.governance.engine().run_due().await.unwrap();
        assert_eq!(done(w.executions(&first.id).await), 50, "{kind}");
        assert_eq!(done(w.executions(&second.id).await), 50, "{kind}");
        let mut tx = w.store.begin().await.unwrap();
        assert_eq!(tx.queued().await.unwrap(), 0, "{kind}");
    }
}

#[tokio::test]
async fn a_trigger_filter_selects_among_the_changes_aggregation_publishes() {
    for (kind, store) in stores().await {
        let w = world(store, EngineConfig::default(), &[]).await;
        w.aggregate("HR", "hr.csv", &format!("{HR_HEADER}{HR_ROWS}")).await;
        assert_eq!(
            w.dispatch_all().await,
            7,
            "{kind}: three identities and accounts created, one aggregation completed"
        );
        let changed = "idn:identity-attributes-changed";
        let movers =
            w.workflow("w-movers", event_trigger(changed, Some("$.changes[?(@.attribute == \"department\")]"))).await;
        let every = w.workflow("w-every", event_trigger(changed, None)).await;

        // Alan moves to sales; Grace's email changes.
        let rows =
            HR_ROWS.replace("alan@example.com,engineering", "alan@example.com,sales").replace("grace@", "g.hopper@");
        let summary = w.aggregate("HR", "hr.csv", &format!("{HR_HEADER}{rows}")).await;
        assert_eq!((summary.changed, summary.identities_updated), (2, 2), "{kind}: {summary:?}");
        w.dispatch_all().await;
        w.governance.engine().run_due().await.unwrap();

        let moved = w.executions(&movers.id).await;
        assert_eq!(moved.len(), 1, "{kind}: only the department change: {moved:?}");
        let (_, status, input) = &moved[0];
        assert_eq!(status, "Completed", "{kind}");
        assert_eq!(input["identity"]["name"], "Alan Turing", "{kind}");
        assert_eq!(
            input["changes"],
            json!([{"attribute": "department", "oldValue": "engineering", "newValue": "sales"}]),
            "{kind}"
        );
        let all = w.executions(&every.id).await;
        let mut names: Vec<&str> = all.iter().map(|(_, _, i)| i["identity"]["name"].as_str().unwrap()).collect();
        names.sort();
        assert_eq!(names, ["Alan Turing", "Grace Hopper"], "{kind}: both changes were published");
    }
}

#[tokio::test]
async fn a_source_schedule_is_planned_and_run_by_the_node() {
    for (kind, store) in stores().await {
        let every_minute = |name: &str, cron: &str| {
            json!({"name": name, "connector": "delimited-file", "authoritative": false,
                   "schedules": [{"type": "ACCOUNT_AGGREGATION", "cronExpression": cron}],
                   "connectorAttributes": {"file": "directory.csv", "identityAttribute": "uid"}})
        };
        let w = world(
            store,
            EngineConfig { poll: Duration::from_millis(20), ..EngineConfig::default() },
            &[("dir", every_minute("Directory", "0 * * * * *")), ("quartz", every_minute("Quartz", "0 * * * * ?"))],
        )
        .await;
        std::fs::write(w.dir.join("directory.csv"), "uid,mail\nsvc-backup,backup@example.com\n").unwrap();
        w.clock.advance_to(t0() + chrono::Duration::seconds(30));
        assert_eq!(
            w.governance.engine().run_schedules().await.unwrap(),
            0,
            "{kind}: aggregations are not workflow starts"
        );
        w.governance.run_source_schedules().await.unwrap();
        let minute = t0() + chrono::Duration::minutes(1);
        let plans = || async {
            let mut tx = w.store.begin().await.unwrap();
            let mut plans = tx.schedules().await.unwrap();
            plans.sort();
            plans
        };
        assert_eq!(
            plans().await,
            [("source:dir".to_owned(), 0, minute), ("source:quartz".to_owned(), 0, minute)],
            "{kind}: both forms (six fields, and Quartz's `?`) plan the next minute at second 0"
        );

        // Past the minute, the domain's ticker runs the schedules and starts both aggregations.
        w.clock.advance_to(t0() + chrono::Duration::seconds(61));
        let (stop, shutdown) = tokio::sync::watch::channel(false);
        let loops = w.governance.spawn(shutdown);
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let runs = loop {
            let mut tx = w.store.begin().await.unwrap();
            let runs = [tx.aggregations_of("dir", 10).await.unwrap(), tx.aggregations_of("quartz", 10).await.unwrap()];
            drop(tx);
            if runs.iter().all(|r| r.iter().any(|a| a.completed_at.is_some())) {
                break runs;
            }
            assert!(std::time::Instant::now() < deadline, "{kind}: the scheduled aggregations did not run: {runs:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        stop.send(true).unwrap();
        for handle in loops {
            handle.await.unwrap();
        }
        for run in &runs {
            assert_eq!(run.len(), 1, "{kind}: once per slot: {run:?}");
            assert_eq!((run[0].status.as_str(), run[0].processed), ("SUCCESS", 1), "{kind}: {run:?}");
        }
        let next = t0() + chrono::Duration::minutes(2);
        assert_eq!(
            plans().await,
            [("source:dir".to_owned(), 0, next), ("source:quartz".to_owned(), 0, next)],
            "{kind}: the next firing is planned"
        );
    }
}

#[tokio::test]
async fn one_aggregation_per_source_at_a_time() {
    for (kind, store) in stores().await {
        let big = json!({"name": "Big", "connector": "delimited-file", "authoritative": false,
                         "connectorAttributes": {"file": "big.csv", "identityAttribute": "employeeNumber"}});
        let w = world(store, EngineConfig::default(), &[("big", big)]).await;
        let file = std::fs::File::create(w.dir.join("big.csv")).unwrap();
        tessera_connectors::generate::write_hr_file(file, 2_000, 7).unwrap();

        // The first run claims the source before its first await; `biased` polls it first, so the
        // second starts only once the first waits on the database, and always finds the source taken.
        let (first, second) = tokio::join!(biased; w.governance.run_aggregation("big", AggregateOptions::default()), async {
            assert!(w.governance.is_aggregating("big"), "{kind}: the first run is under way");
            w.governance.run_aggregation("big", AggregateOptions::default()).await
        });
        let first = first.unwrap();
        assert_eq!((first.status.as_str(), first.added), ("SUCCESS", 2_000), "{kind}");
        match second {
            Err(Error::Conflict(message)) => assert!(message.contains("being aggregated"), "{kind}: {message}"),
            other => panic!("{kind}: the second run should conflict, not {other:?}"),
        }
        assert!(!w.governance.is_aggregating("big"), "{kind}: the source is released when the run ends");
        let mut tx = w.store.begin().await.unwrap();
        assert_eq!(tx.aggregations_of("big", 10).await.unwrap().len(), 1, "{kind}: the refused run left no record");
        drop(tx);

        // Another source is not held up, and once the first ends the source can run again.
        let hr = format!("{HR_HEADER}{HR_ROWS}");
        let (again, other) = tokio::join!(
            w.governance.run_aggregation("big", AggregateOptions::default()),
            w.aggregate("HR", "hr.csv", &hr)
        );
        assert_eq!(again.unwrap().unchanged, 2_000, "{kind}");
        assert_eq!(other.identities_created, 3, "{kind}");
    }
}
