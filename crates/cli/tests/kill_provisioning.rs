//! Provisioning survives SIGKILL: a `tessera serve` process carries out the account requests of 30
//! new engineers on a real SCIM server (scim2-server behind a proxy that answers slowly, so requests
//! are in flight) and is killed at random moments and restarted. In the end every plan is SUCCESS,
//! the SCIM server holds each user once and the group each member once, and a workflow listening for
//! Provisioning Completed ran exactly once per tracking group. On SQLite and on PostgreSQL.

#![allow(clippy::unwrap_used)]

mod nodes;

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tessera_connectors::testing::proxy::Proxy;
use tessera_connectors::testing::scim_server::ScimServer;
use tessera_store::{AccessStore, CatalogKind, CatalogObject, CatalogStore, ExecutionStore, Store, WorkflowStore};

use nodes::{Api, Lcg, Node, free_port};
use tessera_model::Timestamp;

const PEOPLE: usize = 30;

fn object(kind: CatalogKind, id: &str, parent: &str, document: Value) -> CatalogObject {
    CatalogObject {
        kind,
        id: id.into(),
        name: document["name"].as_str().unwrap().into(),
        key: document["name"].as_str().unwrap().into(),
        parent_id: parent.into(),
        owner_id: None,
        enabled: true,
        requestable: false,
        document,
        created_at: Timestamp::UNIX_EPOCH,
        modified_at: Timestamp::UNIX_EPOCH,
    }
}

/// The HR source and its file, the SCIM source (through the proxy), the Engineer birthright role
/// granting the SCIM group, and a workflow listening for Provisioning Completed.
async fn seed(store: &Store, dir: &Path, scim: Value, group: &str) {
    std::fs::create_dir_all(dir.join("imports")).unwrap();
    let file = dir.join("imports").join("hr.csv");
    let mut rows = String::from("id,name,login,department\n");
    for n in 0..PEOPLE {
        rows.push_str(&format!("e{n},Person {n},person{n},engineering\n"));
    }
    std::fs::write(&file, rows).unwrap();
    let attribute =
        |column: &str| json!({"type": "accountAttribute", "attributes": {"sourceName": "HR", "attributeName": column}});
    let objects = [
        object(
            CatalogKind::Source,
            "hr",
            "",
            json!({"name": "HR", "connector": "delimited-file", "authoritative": true,
                   "connectorAttributes": {"file": file.display().to_string(), "identityAttribute": "id"}}),
        ),
        object(
            CatalogKind::IdentityProfile,
            "profile",
            "hr",
            json!({"name": "Staff", "identityAttributeConfig": {"enabled": true, "attributeTransforms": [
                {"identityAttributeName": "uid", "transformDefinition": attribute("login")},
                {"identityAttributeName": "displayName", "transformDefinition": attribute("name")},
                {"identityAttributeName": "department", "transformDefinition": attribute("department")}
            ]}}),
        ),
        object(
            CatalogKind::Source,
            "crm",
            "",
            json!({"name": "CRM", "connector": "scim", "connectorAttributes": scim,
            "provisioningPolicies": [{"usageType": "CREATE", "fields": [
                {"name": "userName", "transform": {"type": "identityAttribute", "attributes": {"name": "uid"}}, "isRequired": true},
                {"name": "displayName"}
            ]}]}),
        ),
        object(
            CatalogKind::Entitlement,
            "ent-eng",
            "crm",
            json!({"name": "engineers", "attribute": "groups", "value": group}),
        ),
        object(
            CatalogKind::AccessProfile,
            "ap-eng",
            "crm",
            json!({"name": "CRM engineering", "entitlements": [{"type": "ENTITLEMENT", "id": "ent-eng"}]}),
        ),
        object(
            CatalogKind::Role,
            "engineer",
            "",
            json!({"name": "Engineer", "accessProfiles": [{"type": "ACCESS_PROFILE", "id": "ap-eng"}],
                   "membership": {"type": "STANDARD", "criteria": {"operation": "EQUALS",
                       "key": {"type": "IDENTITY", "property": "attribute.department"}, "stringValue": "engineering"}}}),
        ),
    ];
    let mut tx = store.begin().await.unwrap();
    for o in &objects {
        tx.insert_object(o).await.unwrap();
    }
    let document = json!({"name": "Announce", "trigger": {"type": "EVENT", "attributes": {"id": "idn:post-provisioning"}},
                          "definition": {"start": "Done", "steps": {"Done": {"type": "success"}}}});
    let record = tessera_store::WorkflowRecord {
        id: "announce".into(),
        name: "Announce".into(),
        latest_version: 1,
        enabled: true,
        trace: false,
        created_at: Timestamp::UNIX_EPOCH,
        modified_at: Timestamp::UNIX_EPOCH,
        creator: "test".into(),
        document,
    };
    tx.insert_workflow(&record, "").await.unwrap();
    tx.commit().await.unwrap();
}

/// (plans by status, executions of the announcing workflow by their tracking number).
async fn progress(store: &Store) -> (Vec<String>, Vec<String>) {
    let mut tx = store.begin().await.unwrap();
    let plans = tx.plans(None, 1000, 0).await.unwrap();
    let (runs, _) = tx.list_executions("announce", 1000, 0).await.unwrap();
    tx.commit().await.unwrap();
    let statuses = plans.into_iter().map(|p| p.status.to_string()).collect();
    let numbers = runs
        .into_iter()
        .filter(|r| r.status == tessera_model::ExecutionStatus::Completed)
        .map(|r| r.input["trackingNumber"].as_str().unwrap_or_default().to_owned())
        .collect();
    (statuses, numbers)
}

async fn scenario(label: &str, database: Option<String>) {
    let scim = ScimServer::start();
    let group = scim.create_group("engineers").await;
    // Every answer comes 400 ms late: requests are in flight when the node dies.
    let proxy = Proxy::start(scim.base_url(), Arc::new(AtomicUsize::new(0)), Duration::from_millis(400)).await;
    proxy.slow_requests(usize::MAX);
    let attributes = scim.attributes(json!({"baseUrl": proxy.base_url(), "timeoutSeconds": 2}));

    let data_dir = std::env::temp_dir().join(format!("tessera-kill-prov-{}-{}", std::process::id(), free_port()));
    std::fs::create_dir_all(&data_dir).unwrap();
    let store = match &database {
        Some(url) => Store::connect(url).await.unwrap(),
        None => Store::open_data_dir(&data_dir).await.unwrap(),
    };
    seed(&store, &data_dir, attributes, &group).await;

    let mut node = Node::start(free_port(), database.clone(), data_dir.clone());
    let api = Api::connect(&node.base()).await;
    let run =
        api.call(reqwest::Method::POST, format!("{}/v3/sources/hr/load-accounts", node.base()), None).await.unwrap();
    eprintln!("{label}: aggregation {run}");

    let mut random = Lcg(0x5c1a_ba5e);
    for kill in 0..3 {
        // The first kill lands among the first requests; later ones after the dead node's leases ran
        // out (twice the 3 s lease), when the restarted node has claimed the plans and is calling.
        let wait = if kill == 0 { 800 + random.next(800) } else { 6_500 + random.next(1_500) };
        tokio::time::sleep(Duration::from_millis(wait)).await;
        node.kill();
        let (statuses, _) = progress(&store).await;
        let finished = statuses.iter().filter(|s| *s != "QUEUED").count();
        eprintln!("{label}: killed with {finished} of {} plans finished", statuses.len());
        tokio::time::sleep(Duration::from_millis(random.next(300))).await;
        node.restart();
    }

    let deadline = Instant::now() + Duration::from_secs(180);
    let (statuses, numbers) = loop {
        let (statuses, numbers) = progress(&store).await;
        let done = statuses.len() == PEOPLE && statuses.iter().all(|s| s != "QUEUED") && numbers.len() >= PEOPLE;
        if done {
            // A moment more: nothing may be announced twice.
            tokio::time::sleep(Duration::from_secs(2)).await;
            break progress(&store).await;
        }
        assert!(
            Instant::now() < deadline,
            "{label}: provisioning did not finish: {statuses:?}, {} announced",
            numbers.len()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    node.kill();

    assert!(statuses.iter().all(|s| s == "SUCCESS"), "{label}: {statuses:?}");
    let distinct: HashSet<&String> = numbers.iter().collect();
    assert_eq!((numbers.len(), distinct.len()), (PEOPLE, PEOPLE), "{label}: one announcement per group");

    let (status, users) = scim.request(reqwest::Method::GET, "/Users?count=1000", None).await;
    assert_eq!(status, 200, "{label}");
    let names: Vec<&str> =
        users["Resources"].as_array().unwrap().iter().map(|u| u["userName"].as_str().unwrap()).collect();
    let unique: HashSet<&&str> = names.iter().collect();
    assert_eq!((names.len(), unique.len()), (PEOPLE, PEOPLE), "{label}: each user created once: {names:?}");
    let members = scim.members(&group).await;
    let unique: HashSet<&String> = members.iter().collect();
    assert_eq!((members.len(), unique.len()), (PEOPLE, PEOPLE), "{label}: each member added once");
    drop(store);
    let _ = std::fs::remove_dir_all(&data_dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_provisioning_survives_sigkill() {
    scenario("sqlite", None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_provisioning_survives_sigkill() {
    let Some(url) = tessera_store::testing::postgres_url() else { return };
    let database = tessera_store::testing::fresh_postgres_url(&url).await;
    scenario("postgres", Some(database)).await;
}
