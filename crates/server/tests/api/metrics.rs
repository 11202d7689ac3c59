//! Prometheus metrics: `/metrics` needs a token with `tessera:metrics:read`, and counts what
//! happened — executions started and ended by workflow and outcome, actions timed, requests by
//! route template and status — and reads the queue, outbox and people's work when scraped.

use reqwest::Method;
use serde_json::json;

use crate::common::{apis, internal, sleepy};

/// The value of the sample named exactly `series` (name and labels), if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
}

#[tokio::test]
async fn metrics_count_executions_requests_and_waiting_work() {
    for api in apis().await {
        let kind = api.kind;
        let ok = api.create(&internal("Counted")).await;
        let waits = api.create(&sleepy("Waits")).await;
        api.test(&ok, json!({"who": "ada"})).await;
        api.test(&ok, json!({"who": "bob"})).await;
        api.test(&waits, json!({})).await;
        api.run_due().await;
        let published = api.post("/tessera/v1/events", &json!({"type": "idn:nobody-listens", "payload": {}})).await;
        assert_eq!(published.status, 202, "{kind}");
        api.get("/v3/workflows/nope").await;

        let scraped = api.get("/metrics").await;
        assert_eq!(scraped.status, 200, "{kind}: {}", scraped.body);
        assert!(
            scraped.headers["content-type"].to_str().unwrap().starts_with("application/openmetrics-text"),
            "{kind}"
        );
        let text = scraped.body.as_str().unwrap();
        let started = format!("tessera_executions_started_total{{workflow=\"{ok}\"}}");
        assert_eq!(sample(text, &started), Some(2.0), "{kind}: {text}");
        let completed = format!("tessera_executions_ended_total{{workflow=\"{ok}\",outcome=\"completed\"}}");
        let failed = format!("tessera_executions_ended_total{{workflow=\"{ok}\",outcome=\"failed\"}}");
        assert_eq!((sample(text, &completed), sample(text, &failed)), (Some(1.0), Some(1.0)), "{kind}: {text}");
        let sleeps = "tessera_action_duration_seconds_count{action=\"sp:sleep\",outcome=\"ok\"}";
        assert_eq!(sample(text, sleeps), None, "{kind}: a wait is a timer, not an action");
        // The sleeper waits: one execution running, its timer queued but not due.
        assert_eq!(sample(text, "tessera_executions_running"), Some(1.0), "{kind}: {text}");
        assert_eq!(sample(text, "tessera_tasks_queued"), Some(1.0), "{kind}: {text}");
        assert_eq!(sample(text, "tessera_oldest_due_task_age_seconds"), Some(0.0), "{kind}: {text}");
        // The event published, and one for each execution that ended.
        assert_eq!(sample(text, "tessera_events_waiting"), Some(3.0), "{kind}: {text}");
        assert_eq!(sample(text, "tessera_person_work_pending{kind=\"inbox\"}"), Some(0.0), "{kind}: {text}");
        // Requests by route template, not by path.
        let creates = "tessera_http_requests_total{route=\"/v3/workflows\",method=\"POST\",status=\"200\"}";
        assert_eq!(sample(text, creates), Some(2.0), "{kind}: {text}");
        let missing = "tessera_http_requests_total{route=\"/v3/workflows/{id}\",method=\"GET\",status=\"404\"}";
        assert_eq!(sample(text, missing), Some(1.0), "{kind}: {text}");
        assert!(!text.contains("/v3/workflows/nope"), "{kind}: a path is never a label");

        // Dispatched, the event no longer waits; an hour on, the sleeper's timer is an hour overdue.
        api.engine.dispatch_events().await.unwrap();
        api.advance(chrono::Duration::hours(2));
        // A scraper needs only its own scope (and a token issued now: the administrator's has expired).
        let scraper = api.client_with("scraper", &["tessera:metrics:read"]).await;
        let later = api.call_as(Some(&scraper), Method::GET, "/metrics", None).await.body;
        let later = later.as_str().unwrap();
        assert_eq!(sample(later, "tessera_events_waiting"), Some(0.0), "{kind}: {later}");
        assert_eq!(sample(later, "tessera_oldest_due_task_age_seconds"), Some(3600.0), "{kind}: {later}");

        let anonymous = api.call_as(None, Method::GET, "/metrics", None).await;
        assert_eq!(anonymous.status, 401, "{kind}");
        let reader = api.client_with("reader", &["sp:workflow:read"]).await;
        let refused = api.call_as(Some(&reader), Method::GET, "/metrics", None).await;
        assert_eq!((refused.status, refused.code()), (403, "forbidden"), "{kind}: {}", refused.body);
    }
}
