//! Durable execution, on SQLite and PostgreSQL: executions run through waits, loops, retries,
//! sub-workflows and cancellation on an injected clock, each transition committed before the next
//! effect; a parked execution finishes on its own version; an expired lease repeats an action with
//! the same idempotency key.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use chrono::{DateTime, Duration};
use serde_json::{Value, json};
use tessera_engine::{Engine, EngineConfig};
use tessera_model::{ManualClock, Timestamp};
use tessera_store::testing::stores;
use tessera_store::{ExecutionStore, QueueStore, Store, WorkflowRecord, WorkflowStore};

/// A local HTTP service that records each request's idempotency key and fails the first
/// `failures[path]` requests of a path with 503.
#[derive(Clone, Default)]
struct Recorder {
    keys: Arc<Mutex<Vec<(String, String)>>>,
    failures: Arc<Mutex<HashMap<String, usize>>>,
}

async fn record(
    State(recorder): State<Recorder>,
    Path(path): Path<String>,
    headers: HeaderMap,
    body: String,
) -> (StatusCode, String) {
    let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    recorder.keys.lock().unwrap().push((path.clone(), key));
    let mut failures = recorder.failures.lock().unwrap();
    if let Some(left) = failures.get_mut(&path).filter(|left| **left > 0) {
        *left -= 1;
        return (StatusCode::SERVICE_UNAVAILABLE, "busy".into());
    }
    (StatusCode::OK, json!({ "path": path, "received": body }).to_string())
}

async fn recorder() -> (Recorder, String) {
    let recorder = Recorder::default();
    let app = Router::new().route("/{path}", post(record)).with_state(recorder.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (recorder, base)
}

fn t0() -> Timestamp {
    DateTime::parse_from_rfc3339("2024-01-01T00:00:00Z").unwrap().to_utc().into()
}

struct Fixture {
    engine: Arc<Engine>,
    clock: Arc<ManualClock>,
    store: Store,
}

/// The engine's configuration for these tests: the recording service listens on loopback, which the
/// HTTP action refuses unless allowed.
fn local() -> EngineConfig {
    let mut config = EngineConfig::default();
    config.http.policy.allow.push("127.0.0.0/8".parse().unwrap());
    config
}

fn fixture(store: Store) -> Fixture {
    let clock = Arc::new(ManualClock::new(t0()));
    let engine = Engine::new(store.clone(), clock.clone(), local());
    Fixture { engine, clock, store }
}

impl Fixture {
    async fn workflow(&self, id: &str, document: Value) -> WorkflowRecord {
        let record = WorkflowRecord {
            id: id.into(),
            name: document["name"].as_str().unwrap_or("T").into(),
            latest_version: 1,
            enabled: true,
            trace: true,
            created_at: Timestamp::UNIX_EPOCH,
            modified_at: Timestamp::UNIX_EPOCH,
            creator: "test".into(),
            document,
        };
        tessera_flow::Workflow::from_document(record.document.clone()).unwrap();
        let mut tx = self.store.begin().await.unwrap();
        tx.insert_workflow(&record, "").await.unwrap();
        tx.commit().await.unwrap();
        record
    }

    async fn start(&self, workflow: &WorkflowRecord, input: Value) -> String {
        let mut tx = self.store.begin().await.unwrap();
        let id = self.engine.start(&mut tx, workflow, input, None).await.unwrap();
        tx.commit().await.unwrap();
        id.into_string()
    }

    /// Runs what is due, then moves the clock by `step` and repeats, `times` times.
    async fn run(&self, times: usize, step: Duration) {
        for _ in 0..times {
            self.engine.run_due().await.unwrap();
            self.clock.advance_to(self.clock_now() + step);
        }
        self.engine.run_due().await.unwrap();
    }

    fn clock_now(&self) -> Timestamp {
        use tessera_model::Clock;
        self.clock.now()
    }

    async fn execution(&self, id: &str) -> tessera_store::ExecutionRecord {
        let mut tx = self.store.begin().await.unwrap();
        tx.execution(id).await.unwrap().unwrap()
    }

    async fn steps(&self, id: &str) -> Vec<String> {
        let mut tx = self.store.begin().await.unwrap();
        tx.history(id)
            .await
            .unwrap()
            .iter()
            .map(|h| {
                format!(
                    "{}{}",
                    h["scope"]
                        .as_str()
                        .map(|s| if s.is_empty() { String::new() } else { format!("{s} › ") })
                        .unwrap_or_default(),
                    h["step"].as_str().unwrap()
                )
            })
            .collect()
    }
}

fn http(url: &str, next: &str) -> Value {
    json!({"type": "action", "actionId": "sp:http", "nextStep": next,
           "attributes": {"url": url, "method": "post", "requestContentType": "json", "jsonRequestBody": {"who.$": "$.trigger.who"}}})
}

#[tokio::test]
async fn waits_loops_and_http_run_to_completion_durably() {
    let (recorder, base) = recorder().await;
    for (kind, store) in stores().await {
        let f = fixture(store);
        let workflow = f
            .workflow(
                "w-main",
                json!({"name": "Main", "definition": {"start": "Call", "steps": {
                    "Call": http(&format!("{base}/first"), "Wait"),
                    "Wait": {"type": "action", "actionId": "sp:sleep", "attributes": {"type": "waitFor", "duration": "10m"}, "nextStep": "Loop"},
                    "Loop": {"type": "action", "actionId": "sp:loop:iterator", "nextStep": "Done",
                             "attributes": {"input.$": "$.trigger.items", "parallelism": 2, "start": "Item",
                                            "steps": {"Item": {"type": "action", "actionId": "sp:http", "nextStep": "End",
                                                               "attributes": {"url.$": "$.loop.loopInput.url", "method": "post"}},
                                                      "End": {"type": "success"}}}},
                    "Done": {"type": "success"}}}}),
            )
            .await;
        let items: Vec<Value> = (0..3).map(|i| json!({"url": format!("{base}/item{i}")})).collect();
        let id = f.start(&workflow, json!({"who": "ada", "items": items})).await;
        f.engine.run_due().await.unwrap();
        let parked = f.execution(&id).await;
        assert_eq!(parked.status, tessera_model::ExecutionStatus::Running, "{kind}: parked on the 10m wait");
        assert_eq!(f.steps(&id).await, ["Call"], "{kind}");
        f.run(1, Duration::minutes(10)).await;
        let done = f.execution(&id).await;
        assert_eq!(done.status, tessera_model::ExecutionStatus::Completed, "{kind}: {:?}", done.error);
        let mut steps = f.steps(&id).await;
        let (first, last) = (steps[..2].to_vec(), steps[steps.len() - 2..].to_vec());
        assert_eq!(
            (first, last),
            (vec!["Call".to_owned(), "Wait".to_owned()], vec!["Loop".to_owned(), "Done".to_owned()]),
            "{kind}"
        );
        steps.sort();
        assert_eq!(steps.len(), 10, "{kind}: {steps:?}");
        assert!(steps.contains(&"Loop[2] › End".to_owned()), "{kind}: {steps:?}");
        let mut tx = f.store.begin().await.unwrap();
        assert_eq!(tx.queued().await.unwrap(), 0, "{kind}: nothing left queued");
        let events = tx.undispatched(10).await.unwrap();
        assert_eq!(events.len(), 1, "{kind}: the end was published to the outbox with the transition");
        assert_eq!(
            (events[0].1.as_str(), events[0].2["executionId"].as_str(), events[0].2["status"].as_str()),
            ("tessera:workflow-execution-completed", Some(id.as_str()), Some("Completed")),
            "{kind}"
        );
        let keys: Vec<(String, String)> = recorder.keys.lock().unwrap().drain(..).collect();
        let paths: Vec<&str> = keys.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(paths.iter().filter(|p| p.starts_with("item")).count(), 3, "{kind}: {paths:?}");
        assert_eq!(
            keys.iter().map(|(_, k)| k).collect::<std::collections::HashSet<_>>().len(),
            4,
            "{kind}: every call has its own key"
        );
        assert!(keys[0].1.starts_with(&format!("{id}/")), "{kind}: keys name the execution: {}", keys[0].1);
    }
}

#[tokio::test]
async fn a_parked_execution_finishes_on_the_version_it_started_on() {
    for (kind, store) in stores().await {
        let f = fixture(store);
        let workflow = f
            .workflow(
                "w-pinned",
                json!({"name": "Pinned", "definition": {"start": "Wait", "steps": {
                    "Wait": {"type": "action", "actionId": "sp:sleep", "attributes": {"type": "waitFor", "duration": "1d"}, "nextStep": "Old End"},
                    "Old End": {"type": "success"}}}}),
            )
            .await;
        let id = f.start(&workflow, json!({})).await;
        f.engine.run_due().await.unwrap();
        let edited = json!({"name": "Pinned", "definition": {"start": "New End", "steps": {"New End": {"type": "failure", "failureName": "edited"}}}});
        let mut tx = f.store.begin().await.unwrap();
        tx.add_version("w-pinned", "Pinned", &edited, "test", "edit", Timestamp::from_millis(1)).await.unwrap();
        tx.commit().await.unwrap();
        f.run(1, Duration::days(1)).await;
        let done = f.execution(&id).await;
        assert_eq!((done.status.as_str(), done.version), ("Completed", 1), "{kind}");
        assert_eq!(f.steps(&id).await, ["Wait", "Old End"], "{kind}");
    }
}

#[tokio::test]
async fn retryable_failures_back_off_and_succeed_with_a_new_key_per_attempt() {
    let (recorder, base) = recorder().await;
    for (kind, store) in stores().await {
        recorder.failures.lock().unwrap().insert(format!("flaky-{kind}"), 2);
        let f = fixture(store);
        let mut call = http(&format!("{base}/flaky-{kind}"), "Done");
        call["retry"] = json!({"maxAttempts": 3, "interval": "1s", "backoffRate": 2});
        let workflow = f.workflow("w-retry", json!({"name": "Retry", "definition": {"start": "Call", "steps": {"Call": call, "Done": {"type": "success"}}}})).await;
        let id = f.start(&workflow, json!({"who": "x"})).await;
        f.engine.run_due().await.unwrap();
        assert_eq!(f.execution(&id).await.status, tessera_model::ExecutionStatus::Running, "{kind}: waiting to retry");
        f.run(2, Duration::seconds(2)).await;
        assert_eq!(f.execution(&id).await.status, tessera_model::ExecutionStatus::Completed, "{kind}");
        let keys: Vec<String> = recorder
            .keys
            .lock()
            .unwrap()
            .drain(..)
            .filter(|(p, _)| p == &format!("flaky-{kind}"))
            .map(|(_, k)| k)
            .collect();
        assert_eq!(
            keys.iter().map(|k| k.rsplit('/').next().unwrap().to_owned()).collect::<Vec<_>>(),
            ["0", "1", "2"],
            "{kind}"
        );
    }
}

#[tokio::test]
async fn exhausted_retries_are_caught_or_fail_the_execution_with_the_error() {
    let (recorder, base) = recorder().await;
    for (kind, store) in stores().await {
        recorder.failures.lock().unwrap().insert(format!("down-{kind}"), 100);
        let f = fixture(store);
        let mut call = http(&format!("{base}/down-{kind}"), "Done");
        call["retry"] = json!({"maxAttempts": 2, "interval": "1s"});
        let workflow = f.workflow("w-down", json!({"name": "Down", "definition": {"start": "Call", "steps": {"Call": call, "Done": {"type": "success"}}}})).await;
        let id = f.start(&workflow, json!({})).await;
        f.run(2, Duration::seconds(5)).await;
        let failed = f.execution(&id).await;
        assert_eq!(failed.status, tessera_model::ExecutionStatus::Failed, "{kind}");
        let error = failed.error.unwrap();
        assert!(
            error.contains("step `Call`") && error.contains("503") && error.contains("after 2 attempts"),
            "{kind}: {error}"
        );
    }
}

#[tokio::test]
async fn cancelling_stops_the_execution_at_the_next_step_boundary() {
    for (kind, store) in stores().await {
        let f = fixture(store);
        let workflow = f
            .workflow(
                "w-cancel",
                json!({"name": "Cancel", "definition": {"start": "Wait", "steps": {
                    "Wait": {"type": "action", "actionId": "sp:sleep", "attributes": {"type": "waitFor", "duration": "1h"}, "nextStep": "Done"},
                    "Done": {"type": "success"}}}}),
            )
            .await;
        let id = f.start(&workflow, json!({})).await;
        f.engine.run_due().await.unwrap();
        let mut tx = f.store.begin().await.unwrap();
        assert!(f.engine.cancel(&mut tx, &id, "no longer needed").await.unwrap());
        tx.commit().await.unwrap();
        f.run(1, Duration::hours(1)).await;
        let cancelled = f.execution(&id).await;
        assert_eq!(
            (cancelled.status.as_str(), cancelled.error.as_deref()),
            ("Canceled", Some("no longer needed")),
            "{kind}"
        );
        assert_eq!(f.steps(&id).await, Vec::<String>::new(), "{kind}: the wait never completed");
        let mut tx = f.store.begin().await.unwrap();
        assert_eq!(tx.queued().await.unwrap(), 0, "{kind}: its timer is gone");
        assert!(!f.engine.cancel(&mut tx, &id, "again").await.unwrap(), "{kind}");
    }
}

#[tokio::test]
async fn call_workflow_resumes_the_parent_with_the_child_output() {
    for (kind, store) in stores().await {
        let f = fixture(store);
        f.workflow(
            "w-child",
            json!({"name": "Child", "definition": {"start": "Set", "steps": {
                "Set": {"type": "Mutation", "attributes": {"variables": [{"name": "answer", "variableA": "forty-two for {{$.trigger.who}}"}]}, "nextStep": "End"},
                "End": {"type": "success"}}}}),
        )
        .await;
        let parent = f
            .workflow(
                "w-parent",
                json!({"name": "Parent", "definition": {"start": "Call", "steps": {
                    "Call": {"type": "action", "actionId": "tessera:call-workflow", "attributes": {"workflowId": "w-child", "input": {"who.$": "$.trigger.name"}}, "nextStep": "Check"},
                    "Check": {"type": "choice", "choiceList": [{"comparator": "StringEquals", "variableA.$": "$.call.output.set.answer", "variableB": "forty-two for ada", "nextStep": "End"}], "defaultStep": "Wrong"},
                    "End": {"type": "success"}, "Wrong": {"type": "failure", "failureName": "wrong answer"}}}}),
            )
            .await;
        let id = f.start(&parent, json!({"name": "ada"})).await;
        f.engine.run_due().await.unwrap();
        let done = f.execution(&id).await;
        assert_eq!(
            done.status,
            tessera_model::ExecutionStatus::Completed,
            "{kind}: {:?} {:?}",
            done.error,
            f.steps(&id).await
        );
    }
}

#[tokio::test]
async fn an_action_in_flight_when_its_worker_died_is_repeated_with_the_same_key() {
    let (recorder, base) = recorder().await;
    for (kind, store) in stores().await {
        let f = fixture(store);
        let workflow = f
            .workflow("w-lease", json!({"name": "Lease", "definition": {"start": "Call", "steps": {"Call": http(&format!("{base}/lease-{kind}"), "Done"), "Done": {"type": "success"}}}}))
            .await;
        let id = f.start(&workflow, json!({})).await;
        assert!(f.engine.step().await.unwrap(), "{kind}: the start is applied and queues the call");
        // A worker on a node that dies claims the call and never finishes it.
        let mut tx = f.store.begin().await.unwrap();
        let now = f.clock_now();
        assert_eq!(tx.claim("dead-node", now, now + Duration::seconds(60), 10).await.unwrap().len(), 1);
        tx.commit().await.unwrap();
        assert!(!f.engine.step().await.unwrap(), "{kind}: nothing else is due while the dead node holds the lease");
        assert_eq!(f.execution(&id).await.status, tessera_model::ExecutionStatus::Running, "{kind}");
        f.run(1, Duration::seconds(61)).await;
        assert_eq!(f.execution(&id).await.status, tessera_model::ExecutionStatus::Completed, "{kind}");
        let keys: Vec<String> = recorder
            .keys
            .lock()
            .unwrap()
            .drain(..)
            .filter(|(p, _)| p == &format!("lease-{kind}"))
            .map(|(_, k)| k)
            .collect();
        // Attempt 0 of step 0: exactly the key the dead node would have sent, so a service that saw
        // its request can tell this is the same one.
        assert_eq!(keys, [format!("{id}/0/0")], "{kind}");
    }
}

#[tokio::test]
async fn guard_rails_end_the_execution_with_a_clear_reason() {
    for (kind, store) in stores().await {
        let clock = Arc::new(ManualClock::new(t0()));
        let mut config = EngineConfig { max_state_bytes: 2_000, ..local() };
        config.limits.max_transitions = 50;
        let f = Fixture { engine: Engine::new(store.clone(), clock.clone(), config), clock, store };
        let grow = f
            .workflow(
                "w-grow",
                json!({"name": "Grow", "definition": {"start": "Big", "steps": {
                    "Big": {"type": "Mutation", "attributes": {"variables": [{"name": "copy", "variableA.$": "$.trigger"}]}, "nextStep": "Done"},
                    "Done": {"type": "success"}}}}),
            )
            .await;
        let id = f.start(&grow, json!({"blob": "x".repeat(1_500)})).await;
        f.engine.run_due().await.unwrap();
        let big = f.execution(&id).await;
        assert_eq!(big.status, tessera_model::ExecutionStatus::Failed, "{kind}");
        assert!(
            big.error.as_deref().unwrap().contains("over the limit of 2000 bytes (max_state_bytes)"),
            "{kind}: {:?}",
            big.error
        );
        let spin = f
            .workflow(
                "w-spin",
                json!({"name": "Spin", "definition": {"start": "Again", "steps": {
                    "Again": {"type": "choice", "choiceList": [{"comparator": "IsNull", "variableA.$": "$.trigger.stop", "nextStep": "Again"}], "defaultStep": "Done"},
                    "Done": {"type": "success"}}}}),
            )
            .await;
        let id = f.start(&spin, json!({})).await;
        f.engine.run_due().await.unwrap();
        let spun = f.execution(&id).await;
        assert_eq!(spun.status, tessera_model::ExecutionStatus::Failed, "{kind}");
        assert!(spun.error.as_deref().unwrap().contains("max-transitions limit"), "{kind}: {:?}", spun.error);
    }
}

#[tokio::test]
async fn each_event_starts_each_matching_workflow_exactly_once() {
    for (kind, store) in stores().await {
        let f = fixture(store);
        let trigger = |filter: Option<&str>| {
            let mut attributes = json!({"id": "idn:identity-attributes-changed"});
            if let Some(filter) = filter {
                attributes["filter.$"] = json!(filter);
            }
            json!({"type": "EVENT", "attributes": attributes})
        };
        let body = json!({"start": "Done", "steps": {"Done": {"type": "success"}}});
        let movers = f.workflow("w-movers", json!({"name": "Movers", "trigger": trigger(Some("$.changes[?(@.attribute == \"department\")]")), "definition": body})).await;
        let everyone =
            f.workflow("w-all", json!({"name": "All changes", "trigger": trigger(None), "definition": body})).await;
        let other = f.workflow("w-other", json!({"name": "Joiners", "trigger": {"type": "EVENT", "attributes": {"id": "idn:identity-created"}}, "definition": body})).await;
        let mut tx = f.store.begin().await.unwrap();
        let moved = json!({"identity": {"id": "2c91"}, "changes": [{"attribute": "department", "oldValue": "Sales", "newValue": "R&D"}]});
        let renamed = json!({"identity": {"id": "2c92"}, "changes": [{"attribute": "displayName", "oldValue": "A", "newValue": "B"}]});
        tx.publish("idn:identity-attributes-changed", &moved, Timestamp::from_millis(1)).await.unwrap();
        tx.publish("idn:identity-attributes-changed", &renamed, Timestamp::from_millis(2)).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(f.engine.dispatch_events().await.unwrap(), 2, "{kind}");
        assert_eq!(f.engine.dispatch_events().await.unwrap(), 0, "{kind}: dispatched once");
        f.engine.run_due().await.unwrap();
        let mut tx = f.store.begin().await.unwrap();
        let count = |list: (Vec<tessera_store::ExecutionRecord>, i64)| list.1;
        assert_eq!(
            count(tx.list_executions(&movers.id, 10, 0).await.unwrap()),
            1,
            "{kind}: only the department change"
        );
        assert_eq!(count(tx.list_executions(&everyone.id, 10, 0).await.unwrap()), 2, "{kind}: no filter, every change");
        assert_eq!(count(tx.list_executions(&other.id, 10, 0).await.unwrap()), 0, "{kind}: another trigger");
        let (runs, _) = tx.list_executions(&movers.id, 10, 0).await.unwrap();
        assert_eq!(
            (runs[0].status.as_str(), runs[0].input["changes"][0]["newValue"].as_str()),
            ("Completed", Some("R&D")),
            "{kind}: the payload is the trigger input"
        );
        drop(tx);
        // Each ended execution published its end; those events match no workflow and are consumed.
        assert_eq!(f.engine.dispatch_events().await.unwrap(), 3, "{kind}");
        let mut tx = f.store.begin().await.unwrap();
        assert!(tx.undispatched(10).await.unwrap().is_empty(), "{kind}");
    }
}

#[tokio::test]
async fn scheduled_workflows_fire_when_due_once_per_slot() {
    for (kind, store) in stores().await {
        let f = fixture(store);
        let hourly = json!({"name": "Hourly", "trigger": {"type": "SCHEDULED", "attributes": {"cronString": "0 * * * *", "timeZone": "UTC"}},
                            "definition": {"start": "Done", "steps": {"Done": {"type": "success"}}}});
        let workflow = f.workflow("w-hourly", hourly.clone()).await;
        let count = || async {
            let mut tx = f.store.begin().await.unwrap();
            tx.list_executions(&workflow.id, 50, 0).await.unwrap().1
        };
        assert_eq!(f.engine.run_schedules().await.unwrap(), 0, "{kind}: planned, not fired, at 00:00");
        f.clock.advance_to(t0() + Duration::minutes(59));
        assert_eq!(f.engine.run_schedules().await.unwrap(), 0, "{kind}: not yet");
        f.clock.advance_to(t0() + Duration::hours(1));
        assert_eq!(f.engine.run_schedules().await.unwrap(), 1, "{kind}: 01:00");
        assert_eq!(f.engine.run_schedules().await.unwrap(), 0, "{kind}: once per slot");
        f.clock.advance_to(t0() + Duration::minutes(4 * 60 + 30));
        assert_eq!(f.engine.run_schedules().await.unwrap(), 1, "{kind}: 02:00-04:00 were missed; made up once");
        f.engine.run_due().await.unwrap();
        assert_eq!(count().await, 2, "{kind}");
        let mut tx = f.store.begin().await.unwrap();
        let (runs, _) = tx.list_executions(&workflow.id, 50, 0).await.unwrap();
        assert!(runs.iter().all(|r| r.status == tessera_model::ExecutionStatus::Completed), "{kind}");
        assert!(
            runs.iter().any(|r| r.input["scheduledTime"] == "2024-01-01T01:00:00.000Z"),
            "{kind}: the input says which slot"
        );
        tx.set_flags(&workflow.id, false, false, Timestamp::UNIX_EPOCH).await.unwrap();
        tx.commit().await.unwrap();
        f.clock.advance_to(t0() + Duration::hours(6));
        assert_eq!(f.engine.run_schedules().await.unwrap(), 0, "{kind}: a disabled workflow does not fire");
        let mut tx = f.store.begin().await.unwrap();
        assert!(tx.schedules().await.unwrap().is_empty(), "{kind}: and is no longer planned");
    }
}
