//! Test executions: `POST /workflows/{id}/test` runs the latest version for real; the execution,
//! its readable history and the workflow's executions are then served; a waiting execution can be
//! cancelled once.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use serde_json::{Value, json};
use tessera_store::{ExecutionStore, QueueStore};

use crate::common::{apis, internal, sleepy};

#[tokio::test]
async fn a_test_execution_of_internal_steps_completes_with_a_history() {
    for api in apis().await {
        let kind = api.kind;
        let id = api.create(&internal("Internal")).await;
        let execution = api.test(&id, json!({"who": "ada"})).await;
        let path = format!("/v3/workflow-executions/{execution}");
        let queued = api.get(&path).await;
        assert_eq!((queued.status, &queued.body["status"]), (200, &json!("Running")), "{kind}: not run yet");

        api.run_due().await;
        let done = api.get(&path).await;
        assert_eq!(done.status, 200, "{kind}: {}", done.body);
        assert_eq!(
            (&done.body["status"], &done.body["workflowId"], &done.body["workflowVersion"], &done.body["error"]),
            (&json!("Completed"), &json!(id), &json!(1), &Value::Null),
            "{kind}: {}",
            done.body
        );
        assert_eq!(done.body["startTime"], "2024-01-01T00:00:00.000Z", "{kind}");
        assert_eq!(done.body["closeTime"], "2024-01-01T00:00:00.000Z", "{kind}");

        let history = api.get(&format!("{path}/history")).await;
        assert_eq!(history.status, 200, "{kind}: {}", history.body);
        let steps: Vec<(&str, &str, &str)> = history
            .body
            .as_array()
            .unwrap()
            .iter()
            .map(|h| {
                (h["step"].as_str().unwrap(), h["action"].as_str().unwrap(), h["outcome"]["type"].as_str().unwrap())
            })
            .collect();
        assert_eq!(steps[..2], [("Define", "sp:define-variable", "completed"), ("Check", "choice", "chose")], "{kind}");
        assert_eq!((steps.len(), steps[2].0, steps[2].1), (3, "Done", "success"), "{kind}: {steps:?}");
        assert_eq!(history.body[1]["outcome"]["next"], "Done", "{kind}");
        assert!(history.body.as_array().unwrap().iter().all(|h| h["started"].is_string()), "{kind}");

        let listed = api.get(&format!("/v3/workflows/{id}/executions")).await;
        assert_eq!((listed.status, listed.total()), (200, 1), "{kind}: {}", listed.body);
        assert_eq!(listed.body[0]["id"], json!(execution), "{kind}");
        assert_eq!(listed.body[0]["status"], "Completed", "{kind}");
        assert_eq!(api.get(&format!("/v3/workflows/{id}")).await.body["executionCount"], 1, "{kind}");

        let other = api.test(&id, json!({"who": "bob"})).await;
        api.run_due().await;
        let failed = api.get(&format!("/v3/workflow-executions/{other}")).await;
        assert_eq!(failed.body["status"], "Failed", "{kind}: {}", failed.body);
        assert!(failed.body["error"].as_str().unwrap().contains("not ada"), "{kind}: {}", failed.body);
        let counted = api.get(&format!("/v3/workflows/{id}")).await;
        assert_eq!((&counted.body["executionCount"], &counted.body["failureCount"]), (&json!(2), &json!(1)), "{kind}");
    }
}

#[tokio::test]
async fn a_waiting_execution_is_cancelled_once() {
    for api in apis().await {
        let kind = api.kind;
        let id = api.create(&sleepy("Sleepy")).await;
        let execution = api.test(&id, json!({})).await;
        api.run_due().await;
        let path = format!("/v3/workflow-executions/{execution}");
        let waiting = api.get(&path).await;
        assert_eq!((&waiting.body["status"], &waiting.body["closeTime"]), (&json!("Running"), &Value::Null), "{kind}");

        let cancelled = api.post(&format!("{path}/cancel"), &json!({})).await;
        assert_eq!(cancelled.status, 204, "{kind}: {}", cancelled.body);
        api.run_due().await;
        let ended = api.get(&path).await;
        assert_eq!(ended.body["status"], "Canceled", "{kind}: {}", ended.body);
        assert!(ended.body["closeTime"].is_string(), "{kind}: {}", ended.body);

        let again = api.post(&format!("{path}/cancel"), &json!({})).await;
        assert_eq!((again.status, again.code()), (409, "not-running"), "{kind}: {}", again.body);
        let unknown = api.post("/v3/workflow-executions/nope/cancel", &json!({})).await;
        assert_eq!((unknown.status, unknown.code()), (404, "not-found"), "{kind}");

        // The hour passes (and the token expires, so look in the store): it stays cancelled.
        api.advance(chrono::Duration::hours(2));
        api.run_due().await;
        let mut tx = api.store.begin().await.unwrap();
        assert_eq!(
            tx.execution(&execution).await.unwrap().unwrap().status,
            tessera_model::ExecutionStatus::Canceled,
            "{kind}"
        );
        let history = tx.history(&execution).await.unwrap();
        assert!(history.iter().all(|h| h["step"] != "Done"), "{kind}: {history:?}");
        assert_eq!(tx.queued().await.unwrap(), 0, "{kind}: nothing left to run");
    }
}

#[tokio::test]
async fn a_test_needs_an_input_object() {
    for api in apis().await {
        let kind = api.kind;
        let id = api.create(&internal("Needs input")).await;
        for body in [json!({}), json!({"input": "ada"}), json!({"inputs": {"who": "ada"}})] {
            let refused = api.post(&format!("/v3/workflows/{id}/test"), &body).await;
            assert_eq!((refused.status, refused.code()), (400, "invalid-request"), "{kind}: {body}: {}", refused.body);
            assert_eq!(refused.body["errors"][0]["pointer"], "/input", "{kind}: {body}: {}", refused.body);
        }
        let listed = api.get(&format!("/v3/workflows/{id}/executions")).await;
        assert_eq!(listed.total(), 0, "{kind}: nothing started");
        let missing = api.get("/v3/workflow-executions/nope").await;
        assert_eq!((missing.status, missing.code()), (404, "not-found"), "{kind}");
        assert_eq!(api.get("/v3/workflow-executions/nope/history").await.status, 404, "{kind}");
    }
}

#[tokio::test]
async fn a_cancelled_execution_says_who_cancelled_it() {
    for api in apis().await {
        let kind = api.kind;
        let id = api.create(&sleepy("Sleepy")).await;
        let execution = api.test(&id, json!({})).await;
        api.run_due().await;
        let path = format!("/v3/workflow-executions/{execution}");
        assert_eq!(api.post(&format!("{path}/cancel"), &json!({})).await.status, 204, "{kind}");
        api.run_due().await;
        let ended = api.get(&path).await;
        assert_eq!(ended.body["status"], "Canceled", "{kind}: {}", ended.body);
        // The API passes "cancelled by client:admin" as the reason.
        assert!(ended.body["error"].as_str().unwrap().contains("client:admin"), "{kind}: {}", ended.body);
    }
}
