//! Retention: a purge deletes ended executions (with their history) past their period, dispatched
//! events, answered notifications and audit entries past theirs, and keeps what runs, waits or is
//! recent, and records in the audit log what it deleted.

use chrono::Duration;
use serde_json::json;
use tessera_governance::retention::Retention;

use crate::common::{apis, internal, sleepy};

async fn count(api: &crate::common::Api, sql: &str) -> i64 {
    sqlx::query_scalar::<_, i64>(sql).fetch_one(api.store.pool()).await.unwrap()
}

#[tokio::test]
async fn a_purge_forgets_what_is_past_retention_and_keeps_what_is_not() {
    for api in apis().await {
        let kind = api.kind;
        let done = api.create(&internal("Done")).await;
        let waits = api.create(&sleepy("Waits for ever")).await;
        let old = api.test(&done, json!({"who": "ada"})).await;
        let running = api.test(&waits, json!({})).await;
        api.run_due().await;
        api.engine.dispatch_events().await.unwrap();
        let old_history =
            count(&api, &format!("SELECT COUNT(*) FROM execution_history WHERE execution_id = '{old}'")).await;
        assert!(old_history > 0, "{kind}");
        let audit_before = api.audit_count().await;

        // 100 days on: a new execution, and one more event waiting to be dispatched.
        api.advance(Duration::days(100));
        let token = api.client_with("after", &["sp:scopes:all"]).await;
        let recent = {
            let started = api
                .call_as(
                    Some(&token),
                    reqwest::Method::POST,
                    &format!("/v3/workflows/{done}/test"),
                    Some(&json!({"input": {"who": "bob"}})),
                )
                .await;
            started.body["workflowExecutionId"].as_str().unwrap().to_owned()
        };
        let event = json!({"type": "idn:nobody-listens", "payload": {}});
        let published = api.call_as(Some(&token), reqwest::Method::POST, "/tessera/v1/events", Some(&event)).await;
        assert_eq!(published.status, 202, "{kind}");
        // Nothing runs yet: the sleeper, started 100 days ago, still waits.

        let retention = Retention::default();
        let purged = api.governance.purge(&retention).await.unwrap();
        assert_eq!((purged.executions, purged.history_entries), (1, old_history as u64), "{kind}: {purged:?}");
        assert!(purged.outbox_events >= 1, "{kind}: the old execution's completion event: {purged:?}");
        assert_eq!(purged.audit_entries, 0, "{kind}: audit entries are kept 400 days");
        let exists = |id: &str| format!("SELECT COUNT(*) FROM executions WHERE id = '{id}'");
        assert_eq!(count(&api, &exists(&old)).await, 0, "{kind}");
        assert_eq!(count(&api, &exists(&running)).await, 1, "{kind}: a waiting execution is never purged");
        assert_eq!(count(&api, &exists(&recent)).await, 1, "{kind}");
        let history =
            count(&api, &format!("SELECT COUNT(*) FROM execution_history WHERE execution_id = '{old}'")).await;
        assert_eq!(history, 0, "{kind}");
        let waiting = count(&api, "SELECT COUNT(*) FROM outbox WHERE dispatched_at IS NULL").await;
        assert!(waiting >= 1, "{kind}: undispatched events stay");
        let recorded = api.audit_of("retention", "node").await;
        assert_eq!(recorded.len(), 1, "{kind}");
        assert_eq!(recorded[0].detail["purged"]["executions"], 1, "{kind}: {:?}", recorded[0].detail);

        // Both end on day 100; past the audit log's period, they go, and its entries too.
        api.run_due().await;
        api.advance(Duration::days(401));
        let purged = api.governance.purge(&retention).await.unwrap();
        assert!(purged.audit_entries >= audit_before as u64, "{kind}: {purged:?}");
        assert_eq!(purged.executions, 2, "{kind}: {purged:?}");
        // A second purge finds nothing more to do, and records nothing.
        let again = api.governance.purge(&retention).await.unwrap();
        assert!(!again.any(), "{kind}: {again:?}");
    }
}
