//! Durability by killing: real `tessera serve` processes run thousands of executions (HTTP calls to a
//! local service that records idempotency keys, waits, parallel loops) and are killed with SIGKILL at
//! random moments and restarted. Every execution must end exactly as it would have without the kills,
//! no committed step may run twice, and the only repeated calls are those in flight at a kill, with
//! the same key. On SQLite, on PostgreSQL, and with two nodes sharing one PostgreSQL database.

#![allow(clippy::unwrap_used)]

mod nodes;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use serde_json::{Value, json};

use nodes::{Api, Lcg, Node, WORKERS, free_port, join_all};

/// The tasks a worker claims at once: a worker runs its batch's calls concurrently, so up to
/// `WORKERS * BATCH` calls can be in flight when a node is killed.
const BATCH: usize = 16;

/// Keys the service saw, in order.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<String>>>);

async fn record(State(recorder): State<Recorder>, headers: HeaderMap) -> &'static str {
    let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    // A little latency, so some calls are in flight when a node is killed.
    let pause = key.bytes().fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b))) % 15;
    tokio::time::sleep(Duration::from_millis(pause)).await;
    recorder.0.lock().unwrap().push(key);
    "{\"ok\": true}"
}

async fn start_recorder() -> (Recorder, String) {
    let recorder = Recorder::default();
    let app = Router::new().route("/call", post(record)).with_state(recorder.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/call", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (recorder, url)
}

fn workflow(call_url: &str) -> Value {
    let http = |next: &str, url: Value| {
        json!({"type": "action", "actionId": "sp:http", "nextStep": next,
               "attributes": {"method": "post", "url": url, "requestContentType": "json", "jsonRequestBody": {"n.$": "$.trigger.n"}}})
    };
    json!({
        "name": "Kill test", "enabled": true,
        "trigger": {"type": "EXTERNAL", "attributes": {}},
        "definition": {"start": "First", "steps": {
            "First": http("Wait", json!(call_url)),
            "Wait": {"type": "action", "actionId": "sp:sleep", "attributes": {"type": "waitFor", "duration": "1s"}, "nextStep": "Loop"},
            "Loop": {"type": "action", "actionId": "sp:loop:iterator", "nextStep": "Count",
                     "attributes": {"input.$": "$.trigger.items", "parallelism": 2, "start": "Item",
                                    "steps": {"Item": http("End", json!(call_url)), "End": {"type": "success"}}}},
            "Count": {"type": "Mutation", "attributes": {"variables": [{"name": "done", "variableA.$": "$.trigger.n"}]}, "nextStep": "Done"},
            "Done": {"type": "success"}
        }}
    })
}

/// The history every execution must have, in some order within the loop.
const EXPECTED_STEPS: [&str; 10] = [
    "First",
    "Wait",
    "Loop[0] › Item",
    "Loop[0] › End",
    "Loop[1] › Item",
    "Loop[1] › End",
    "Loop[2] › Item",
    "Loop[2] › End",
    "Loop",
    "Count",
];

/// Runs the scenario: `executions` started, `kills` random SIGKILLs of node 0 with restarts (or,
/// with two nodes, one kill of node 0 and no restart).
async fn scenario(label: &str, database: Option<String>, node_count: usize, executions: usize, kills: usize) {
    let seed = std::env::var("TESSERA_KILL_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x7e55e7a);
    eprintln!("{label}: {executions} executions, seed {seed}");
    let mut random = Lcg(seed);
    let (recorder, call_url) = start_recorder().await;
    let data_dir = std::env::temp_dir().join(format!("tessera-kill-{}", uuid_like()));
    let mut nodes: Vec<Node> =
        (0..node_count).map(|_| Node::start(free_port(), database.clone(), data_dir.clone())).collect();
    let api = Api::connect(&nodes[0].base()).await;
    let created = api
        .call(reqwest::Method::POST, format!("{}/v3/workflows", nodes[0].base()), Some(workflow(&call_url)))
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_owned();

    // Start every execution before any kill, so each start is acknowledged exactly once.
    let base = nodes[0].base();
    let mut started = Vec::with_capacity(executions);
    for chunk in (0..executions).collect::<Vec<_>>().chunks(32) {
        let calls = chunk.iter().map(|n| {
            let input = json!({"input": {"n": n, "items": [1, 2, 3]}});
            let (api, url) = (api.clone(), format!("{base}/v3/workflows/{id}/test"));
            tokio::spawn(async move { api.call(reqwest::Method::POST, url, Some(input)).await })
        });
        for result in join_all(calls).await {
            started.push(result.unwrap()["workflowExecutionId"].as_str().unwrap().to_owned());
        }
    }

    if node_count == 1 {
        for _ in 0..kills {
            tokio::time::sleep(Duration::from_millis(300 + random.next(1_200))).await;
            nodes[0].kill();
            tokio::time::sleep(Duration::from_millis(random.next(300))).await;
            nodes[0].restart();
        }
    } else {
        // Both nodes take work; then one dies for good and the other finishes everything.
        let other = Api::connect(&nodes[1].base()).await;
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let a = api.call(reqwest::Method::GET, format!("{}/tessera/v1/node", nodes[0].base()), None).await.unwrap();
            let b =
                other.call(reqwest::Method::GET, format!("{}/tessera/v1/node", nodes[1].base()), None).await.unwrap();
            if a["tasksProcessed"].as_u64() > Some(50) && b["tasksProcessed"].as_u64() > Some(50) {
                break;
            }
            assert!(Instant::now() < deadline, "both nodes should take work: {a} {b}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        nodes[0].kill();
    }

    let survivor = nodes.last().unwrap().base();
    let api = Api::connect(&survivor).await;
    let deadline = Instant::now() + Duration::from_secs(600);
    let stats = loop {
        let stats = api
            .call(reqwest::Method::GET, format!("{survivor}/tessera/v1/workflows/{id}/execution-stats"), None)
            .await
            .unwrap();
        if stats["Running"] == 0 {
            break stats;
        }
        assert!(Instant::now() < deadline, "{label}: executions did not finish: {stats}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(stats, json!({"Running": 0, "Completed": executions, "Failed": 0, "Canceled": 0}), "{label}");

    // No committed step ran twice: each execution's history is exactly the expected steps.
    for chunk in started.chunks(32) {
        let calls = chunk.iter().map(|e| {
            let (api, url) = (api.clone(), format!("{survivor}/v3/workflow-executions/{e}/history"));
            tokio::spawn(async move { api.call(reqwest::Method::GET, url, None).await })
        });
        for (execution, history) in chunk.iter().zip(join_all(calls).await) {
            let mut steps: Vec<String> = history
                .unwrap()
                .as_array()
                .unwrap()
                .iter()
                .map(|h| match h["scope"].as_str().unwrap_or_default() {
                    "" => h["step"].as_str().unwrap().to_owned(),
                    scope => format!("{scope} › {}", h["step"].as_str().unwrap()),
                })
                .collect();
            let last = steps.pop();
            assert_eq!(last.as_deref(), Some("Done"), "{label}: {execution}");
            steps.sort();
            let mut expected: Vec<String> = EXPECTED_STEPS.iter().map(|s| (*s).to_owned()).collect();
            expected.sort();
            assert_eq!(steps, expected, "{label}: execution {execution} history");
        }
    }

    // Every call was made; repeats are only in-flight calls at a kill, with the same key.
    let keys = recorder.0.lock().unwrap().clone();
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for key in &keys {
        *seen.entry(key).or_default() += 1;
    }
    assert_eq!(seen.len(), executions * 4, "{label}: one key per call (first call + three items)");
    assert!(seen.keys().all(|k| k.ends_with("/0")), "{label}: no call needed a second attempt");
    let repeats = keys.len() - seen.len();
    let in_flight_bound = if node_count == 1 { kills * WORKERS * BATCH } else { WORKERS * BATCH };
    eprintln!(
        "{label}: {} calls, {} distinct keys, {repeats} repeated (bound {in_flight_bound})",
        keys.len(),
        seen.len()
    );
    assert!(repeats <= in_flight_bound, "{label}: {repeats} repeated calls, more than could be in flight at the kills");
    for node in &mut nodes {
        node.kill();
    }
    let _ = std::fs::remove_dir_all(&data_dir);
}

fn uuid_like() -> String {
    format!("{}-{}", std::process::id(), Instant::now().elapsed().as_nanos() ^ u128::from(free_port()))
}

fn executions() -> usize {
    std::env::var("TESSERA_KILL_EXECUTIONS").ok().and_then(|n| n.parse().ok()).unwrap_or(2_000)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_survives_sigkill() {
    scenario("sqlite", None, 1, executions(), 4).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_survives_sigkill() {
    let Some(url) = tessera_store::testing::postgres_url() else { return };
    let database = tessera_store::testing::fresh_postgres_url(&url).await;
    scenario("postgres", Some(database), 1, executions(), 4).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_postgres_nodes_share_the_work_and_survive_losing_one() {
    let Some(url) = tessera_store::testing::postgres_url() else { return };
    let database = tessera_store::testing::fresh_postgres_url(&url).await;
    scenario("two nodes", Some(database), 2, executions() / 2, 1).await;
}
