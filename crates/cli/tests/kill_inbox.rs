//! Approvals survive SIGKILL: 20 executions of a workflow wait in an approver's inbox on a
//! `tessera serve` process; the approver decides them over the API while the process is killed at
//! random moments and restarted. In the end every execution completed, each ran the step after its
//! approval exactly once with the approver's decision, and each item was closed once. On SQLite and on
//! PostgreSQL.

#![allow(clippy::unwrap_used)]

mod nodes;

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tessera_store::{ExecutionStore, IdentityRecord, IdentityStore, InboxStore, Store, WorkflowRecord, WorkflowStore};

use nodes::{Api, Lcg, Node, free_port};
use tessera_model::Timestamp;

const RUNS: usize = 20;

async fn seed(store: &Store) {
    let mut tx = store.begin().await.unwrap();
    tx.insert_identities(&[IdentityRecord {
        id: "olga".into(),
        name: "Olga Owner".into(),
        alias: "olga".into(),
        email: None,
        manager_id: None,
        profile_id: None,
        lifecycle_state: None,
        lifecycle_manual: false,
        status: tessera_model::IdentityStatus::Active,
        attributes: serde_json::Map::new(),
        created_at: Timestamp::UNIX_EPOCH,
        modified_at: Timestamp::UNIX_EPOCH,
    }])
    .await
    .unwrap();
    let document = json!({"name": "Approve", "definition": {"start": "Approve", "steps": {
        "Approve": {"type": "action", "actionId": "sp:generic-approval", "nextStep": "After",
                    "attributes": {"approvers": ["olga"], "subject.$": "$.trigger.n"}},
        "After": {"type": "Mutation", "attributes": {"id": "sp:define-variable",
                  "variables": [{"name": "by", "variableA.$": "$.approve.decidedBy.id"}]}, "nextStep": "Done"},
        "Done": {"type": "success"}}}});
    let record = WorkflowRecord {
        id: "approve".into(),
        name: "Approve".into(),
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

/// Retries a call until the node answers (it may be down between a kill and its restart).
async fn call(api: &Api, base: &str, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match api.call(method.clone(), format!("{base}{path}"), body.clone()).await {
            Ok(answer) => return answer,
            // Decided before the node died, with the answer lost: the decision stands.
            Err(error) if error.starts_with("409") => return json!({"conflict": error}),
            Err(error) => {
                assert!(Instant::now() < deadline, "{path}: {error}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn scenario(label: &str, database: Option<String>, data_dir: &Path) {
    let store = match &database {
        Some(url) => Store::connect(url).await.unwrap(),
        None => Store::open_data_dir(data_dir).await.unwrap(),
    };
    seed(&store).await;
    let mut node = Node::start(free_port(), database.clone(), data_dir.to_path_buf());
    let base = node.base();
    let admin = Api::connect(&base).await;
    let scope = json!(["tessera:inbox:read", "tessera:inbox:manage"]);
    let client = call(
        &admin,
        &base,
        reqwest::Method::POST,
        "/v3/oauth-clients",
        Some(json!({"name": "olga", "scope": scope, "identityId": "olga"})),
    )
    .await;
    let olga = {
        let token: Value = admin
            .http
            .post(format!("{base}/oauth/token"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", client["id"].as_str().unwrap()),
                ("client_secret", client["secret"].as_str().unwrap()),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        Api { http: admin.http.clone(), token: token["access_token"].as_str().unwrap().to_owned() }
    };
    for n in 0..RUNS {
        call(
            &admin,
            &base,
            reqwest::Method::POST,
            "/v3/workflows/approve/test",
            Some(json!({"input": {"n": format!("run {n}")}})),
        )
        .await;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let items = loop {
        let listed = call(&olga, &base, reqwest::Method::GET, "/tessera/v1/inbox?limit=250", None).await;
        let ids: Vec<String> =
            listed.as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap().to_owned()).collect();
        if ids.len() == RUNS {
            break ids;
        }
        assert!(Instant::now() < deadline, "{label}: {} of {RUNS} items opened", ids.len());
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    let deciding = {
        let (olga, base) = (olga.clone(), base.clone());
        tokio::spawn(async move {
            for id in items {
                call(&olga, &base, reqwest::Method::POST, &format!("/tessera/v1/inbox/{id}/approve"), Some(json!({})))
                    .await;
                tokio::time::sleep(Duration::from_millis(40)).await;
            }
        })
    };
    let mut random = Lcg(0x1b0c_5eed);
    for kill in 0..3 {
        tokio::time::sleep(Duration::from_millis(150 + random.next(250))).await;
        node.kill();
        eprintln!("{label}: kill {kill}");
        tokio::time::sleep(Duration::from_millis(random.next(200))).await;
        node.restart();
    }
    deciding.await.unwrap();

    let deadline = Instant::now() + Duration::from_secs(120);
    let runs = loop {
        let mut tx = store.begin().await.unwrap();
        let (runs, _) = tx.list_executions("approve", 1000, 0).await.unwrap();
        tx.commit().await.unwrap();
        if runs.iter().all(|r| r.status == tessera_model::ExecutionStatus::Completed) && runs.len() == RUNS {
            break runs;
        }
        assert!(
            Instant::now() < deadline,
            "{label}: not all completed: {:?}",
            runs.iter().map(|r| &r.status).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    node.kill();
    let mut tx = store.begin().await.unwrap();
    for run in &runs {
        let history = tx.history(&run.id).await.unwrap();
        let after = history.iter().filter(|h| h["step"] == "After").count();
        assert_eq!(after, 1, "{label}: {} ran the step after its approval once: {history:?}", run.id);
        assert_eq!(run.state["main"]["doc"]["after"]["by"], "olga", "{label}");
        let items = tx.inbox_items_of(tessera_model::WorkSubject::Execution, &run.id).await.unwrap();
        assert_eq!(items.len(), 1, "{label}");
        assert_eq!(items[0].status, tessera_model::WorkStatus::Approved, "{label}");
        let decided = tx.inbox_activity(&items[0].id).await.unwrap().iter().filter(|a| a.kind == "APPROVE").count();
        assert_eq!(decided, 1, "{label}: decided once");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_approvals_survive_sigkill() {
    let dir = std::env::temp_dir().join(format!("tessera-kill-inbox-{}-{}", std::process::id(), free_port()));
    std::fs::create_dir_all(&dir).unwrap();
    scenario("sqlite", None, &dir).await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_approvals_survive_sigkill() {
    let Some(url) = tessera_store::testing::postgres_url() else { return };
    let database = tessera_store::testing::fresh_postgres_url(&url).await;
    let dir = std::env::temp_dir().join(format!("tessera-kill-inbox-pg-{}-{}", std::process::id(), free_port()));
    std::fs::create_dir_all(&dir).unwrap();
    scenario("postgres", Some(database), &dir).await;
    let _ = std::fs::remove_dir_all(&dir);
}
