//! The storage contract, run against SQLite and against PostgreSQL (when `TESSERA_TEST_POSTGRES_URL`
//! names a server; CI always provides one, so there the PostgreSQL half never skips).

#![allow(clippy::unwrap_used)]

use serde_json::json;
use tessera_model::Timestamp;
use tessera_store::testing::stores;
use tessera_store::{
    ApiClient, ExecutionStore, NewExecution, NewTask, QueueStore, SecurityStore, TaskKind, WorkflowRecord,
    WorkflowStore,
};

/// The instant `ms` milliseconds after the epoch.
fn at(ms: i64) -> Timestamp {
    Timestamp::from_millis(ms)
}

fn workflow(id: &str, name: &str) -> WorkflowRecord {
    WorkflowRecord {
        id: id.into(),
        name: name.into(),
        latest_version: 1,
        enabled: true,
        trace: false,
        created_at: at(1_000),
        modified_at: at(1_000),
        creator: "admin".into(),
        document: json!({"name": name, "definition": {"start": "End", "steps": {"End": {"type": "success"}}}}),
    }
}

#[tokio::test]
async fn workflow_versions_are_immutable_and_survive_deletion() {
    for (kind, store) in stores().await {
        let mut tx = store.begin().await.unwrap();
        tx.insert_workflow(&workflow("w1", "First"), "created").await.unwrap();
        let v2 =
            tx.add_version("w1", "Renamed", &json!({"name": "Renamed"}), "alice", "edit", at(2_000)).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(v2, 2, "{kind}");
        let mut tx = store.begin().await.unwrap();
        let current = tx.workflow("w1").await.unwrap().unwrap();
        assert_eq!(
            (current.name.as_str(), current.latest_version, current.document["name"].clone()),
            ("Renamed", 2, json!("Renamed"))
        );
        let versions = tx.versions("w1").await.unwrap();
        assert_eq!(
            versions.iter().map(|v| (v.version, v.author.as_str())).collect::<Vec<_>>(),
            [(1, "admin"), (2, "alice")],
            "{kind}"
        );
        assert!(tx.delete_workflow("w1", at(3_000)).await.unwrap());
        assert!(tx.workflow("w1").await.unwrap().is_none(), "{kind}: deleted workflows are hidden");
        assert_eq!(tx.version("w1", 1).await.unwrap().unwrap().document["name"], "First", "{kind}: versions stay");
        assert!(tx.add_version("w1", "x", &json!({}), "a", "", at(4_000)).await.is_err(), "{kind}");
        tx.commit().await.unwrap();
    }
}

#[tokio::test]
async fn a_transaction_not_committed_leaves_nothing() {
    for (kind, store) in stores().await {
        let mut tx = store.begin().await.unwrap();
        tx.insert_workflow(&workflow("w2", "Half"), "").await.unwrap();
        tx.audit("admin", "create", "workflow", "w2", &json!({}), at(1)).await.unwrap();
        drop(tx);
        let mut tx = store.begin().await.unwrap();
        assert!(tx.workflow("w2").await.unwrap().is_none(), "{kind}");
        assert!(tx.audit_of("workflow", "w2").await.unwrap().is_empty(), "{kind}");
    }
}

#[tokio::test]
async fn executions_keep_state_and_append_only_history() {
    for (kind, store) in stores().await {
        let mut tx = store.begin().await.unwrap();
        let new = NewExecution {
            id: "e1".into(),
            workflow_id: "w".into(),
            version: 3,
            input: json!({"a": 1}),
            state: json!({"status": "pending"}),
            trace: true,
            started_at: at(10),
            parent: Some(("p".into(), json!({"path": [], "step": 2}))),
            event_id: None,
        };
        tx.insert_execution(&new).await.unwrap();
        assert_eq!(tx.append_history("e1", &[json!({"step": "A"}), json!({"step": "B"})]).await.unwrap(), 2);
        assert_eq!(tx.append_history("e1", &[json!({"step": "C"})]).await.unwrap(), 3);
        tx.save_state(
            "e1",
            tessera_model::ExecutionStatus::Completed,
            &json!({"status": "succeeded"}),
            Some(at(20)),
            None,
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        let mut tx = store.begin().await.unwrap();
        let e = tx.lock_execution("e1").await.unwrap().unwrap();
        assert_eq!(
            (e.status.as_str(), e.version, e.ended_at, e.history_len),
            ("Completed", 3, Some(at(20)), 3),
            "{kind}"
        );
        assert_eq!(e.parent_effect, Some(json!({"path": [], "step": 2})));
        let steps: Vec<_> = tx.history("e1").await.unwrap().iter().map(|h| h["step"].clone()).collect();
        assert_eq!(steps, [json!("A"), json!("B"), json!("C")], "{kind}");
        assert!(!tx.request_cancel("e1").await.unwrap(), "{kind}: an ended execution cannot be cancelled");
        let (list, total) = tx.list_executions("w", 10, 0).await.unwrap();
        assert_eq!((list.len(), total), (1, 1));
    }
}

#[tokio::test]
async fn tasks_are_leased_and_come_back_when_the_lease_runs_out() {
    for (kind, store) in stores().await {
        let mut tx = store.begin().await.unwrap();
        for (i, run_at) in [(0, 100), (1, 50), (2, 500)] {
            let task = NewTask {
                execution_id: format!("e{i}").into(),
                kind: TaskKind::Call,
                payload: json!({"n": i}),
                run_at: at(run_at),
                attempt: 0,
            };
            tx.enqueue(&task).await.unwrap();
        }
        tx.commit().await.unwrap();
        let mut tx = store.begin().await.unwrap();
        let claimed = tx.claim("node-a", at(200), at(1_200), 10).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(
            claimed.iter().map(|t| t.payload["n"].clone()).collect::<Vec<_>>(),
            [json!(1), json!(0)],
            "{kind}: due, oldest first"
        );
        let mut tx = store.begin().await.unwrap();
        assert!(
            tx.claim("node-b", at(300), at(1_300), 10).await.unwrap().is_empty(),
            "{kind}: leased tasks are not claimed twice"
        );
        assert_eq!(tx.next_due().await.unwrap(), Some(at(500)), "{kind}");
        tx.finish(&claimed[0].id).await.unwrap();
        tx.retry_later(&claimed[1].id, at(400), 1).await.unwrap();
        tx.commit().await.unwrap();
        let mut tx = store.begin().await.unwrap();
        let again = tx.claim("node-b", at(450), at(1_450), 10).await.unwrap();
        assert_eq!(
            again.iter().map(|t| (t.payload["n"].clone(), t.attempt)).collect::<Vec<_>>(),
            [(json!(0), 1)],
            "{kind}"
        );
        // node-b dies holding the task: after its lease, node-c gets it (and the 500 one).
        let after = tx.claim("node-c", at(1_500), at(2_500), 10).await.unwrap();
        assert_eq!(after.len(), 2, "{kind}");
        assert_eq!(tx.queued().await.unwrap(), 2);
        tx.drop_tasks_of("e0").await.unwrap();
        assert_eq!(tx.queued().await.unwrap(), 1);
    }
}

#[tokio::test]
async fn clients_audit_and_settings() {
    for (kind, store) in stores().await {
        let mut tx = store.begin().await.unwrap();
        let client = ApiClient {
            id: "c1".into(),
            name: "admin".into(),
            secret_hash: "$argon2id$…".into(),
            scopes: vec!["sp:workflow:read".into(), "sp:workflow:manage".into()],
            workflow_id: None,
            identity_id: None,
            created_at: at(5),
            disabled: false,
            modified_at: None,
            tokens_after: Timestamp::UNIX_EPOCH,
        };
        tx.insert_client(&client).await.unwrap();
        assert_eq!(tx.client("c1").await.unwrap(), Some(client.clone()), "{kind}");
        assert_eq!(tx.count_clients().await.unwrap(), 1);
        let changed = ApiClient {
            identity_id: Some("ada".into()),
            disabled: true,
            modified_at: Some(at(6)),
            tokens_after: at(6),
            ..client.clone()
        };
        assert!(tx.update_client(&changed).await.unwrap(), "{kind}");
        assert!(!tx.update_client(&ApiClient { id: "nope".into(), ..changed.clone() }).await.unwrap(), "{kind}");
        assert_eq!(tx.client("c1").await.unwrap(), Some(changed.clone()), "{kind}");
        assert_eq!(tx.clients().await.unwrap(), vec![changed], "{kind}");
        assert!(tx.delete_client("c1").await.unwrap() && !tx.delete_client("c1").await.unwrap(), "{kind}");
        assert!(tx.delete_setting("signing-key").await.is_ok_and(|deleted| !deleted), "{kind}");
        tx.audit("c1", "workflow.create", "workflow", "w9", &json!({"version": 1}), at(7)).await.unwrap();
        assert_eq!(tx.setting_or_insert("signing-key", "first").await.unwrap(), "first");
        assert_eq!(tx.setting_or_insert("signing-key", "second").await.unwrap(), "first", "{kind}: kept");
        tx.commit().await.unwrap();
        let mut tx = store.begin().await.unwrap();
        let audit = tx.audit_of("workflow", "w9").await.unwrap();
        assert_eq!((audit[0].actor.as_str(), audit[0].detail.clone()), ("c1", json!({"version": 1})), "{kind}");
    }
}

#[tokio::test]
async fn a_database_a_newer_build_upgraded_is_refused_with_the_reason() {
    let dir = std::env::temp_dir().join(format!("tessera-store-newer-{}", uuid::Uuid::new_v4().simple()));
    let mut urls = vec![format!("sqlite://{}?mode=rwc", dir.join("tessera.db").display())];
    if let Some(url) = tessera_store::testing::postgres_url() {
        urls.push(tessera_store::testing::fresh_postgres_url(&url).await);
    }
    std::fs::create_dir_all(&dir).unwrap();
    for url in urls {
        let store = tessera_store::Store::connect(&url).await.unwrap();
        let known = tessera_store::backup::latest_schema();
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, installed_on, success, checksum, execution_time) \
             SELECT version + 1000, 'from a newer build', installed_on, success, checksum, execution_time \
             FROM _sqlx_migrations WHERE version = $1",
        )
        .bind(known)
        .execute(store.pool())
        .await
        .unwrap();
        store.close().await;
        let refused = tessera_store::Store::connect(&url).await.unwrap_err().to_string();
        assert!(
            refused.contains(&format!(
                "the database is at schema {}, newer than this build knows ({known})",
                known + 1000
            )),
            "{refused}"
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}
