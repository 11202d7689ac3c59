//! The run queue: tasks that move executions forward (start, perform an action, fire a timer,
//! deliver a result), claimed with leases so a node that dies loses nothing; its tasks are claimed
//! again when their lease runs out. PostgreSQL nodes skip each other's locked rows.

use serde_json::Value;
use sqlx::Row;
use sqlx::any::AnyRow;
use tessera_model::{ExecutionId, Timestamp};

use crate::db::Dialect;
use crate::{Result, Tx, instant, instant_opt};

/// What a task does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskKind {
    /// Apply an event to the execution (start, a timer, a delivered result).
    Apply,
    /// Perform an action, then apply its result.
    Call,
}

impl TaskKind {
    fn as_str(self) -> &'static str {
        match self {
            TaskKind::Apply => "apply",
            TaskKind::Call => "call",
        }
    }

    fn parse(text: &str) -> Self {
        if text == "call" { TaskKind::Call } else { TaskKind::Apply }
    }
}

/// A task to enqueue.
/// An event in the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEvent {
    pub id: String,
    pub topic: String,
    pub payload: Value,
    pub created_at: Timestamp,
    pub dispatched_at: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewTask {
    pub execution_id: ExecutionId,
    pub kind: TaskKind,
    pub payload: Value,
    pub run_at: Timestamp,
    pub attempt: i64,
}

/// A claimed task.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    pub id: String,
    pub execution_id: ExecutionId,
    pub kind: TaskKind,
    pub payload: Value,
    pub run_at: Timestamp,
    pub attempt: i64,
}

/// The run queue.
// Used on concrete types, where auto traits are known; no `Send` bound is needed.
#[allow(async_fn_in_trait)]
pub trait QueueStore {
    async fn enqueue(&mut self, task: &NewTask) -> Result<String>;
    /// Leases up to `limit` due tasks to `owner` until `lease_until`.
    async fn claim(&mut self, owner: &str, now: Timestamp, lease_until: Timestamp, limit: i64) -> Result<Vec<Task>>;
    /// Removes a finished task.
    async fn finish(&mut self, id: &str) -> Result<()>;
    /// Puts a task back to run at `run_at` as attempt `attempt`, releasing its lease.
    async fn retry_later(&mut self, id: &str, run_at: Timestamp, attempt: i64) -> Result<()>;
    /// When the next task falls due, if any is queued.
    async fn next_due(&mut self) -> Result<Option<Timestamp>>;
    /// Removes every task of an execution (it ended or was cancelled).
    async fn drop_tasks_of(&mut self, execution_id: &str) -> Result<()>;
    /// How many tasks are queued.
    async fn queued(&mut self) -> Result<i64>;
    /// Publishes an event to the outbox, in the transaction of the change that caused it; returns
    /// the event's id.
    async fn publish(&mut self, topic: &str, payload: &Value, now: Timestamp) -> Result<String>;
    /// A published event: its type, payload, when it was published and when it was dispatched.
    async fn outbox_event(&mut self, id: &str) -> Result<Option<OutboxEvent>>;
    /// Publishes several events, in order, with as few statements as the database allows.
    async fn publish_many(&mut self, events: &[(&str, Value)], now: Timestamp) -> Result<()>;
    /// Events not yet dispatched, oldest first.
    async fn undispatched(&mut self, limit: i64) -> Result<Vec<(String, String, Value)>>;
    /// Like [`QueueStore::undispatched`], locking the rows for this transaction (PostgreSQL nodes
    /// skip each other's) so that marking them dispatched and acting on them commit together.
    async fn lock_undispatched(&mut self, limit: i64) -> Result<Vec<(String, String, Value)>>;
    /// Marks an event dispatched.
    async fn mark_dispatched(&mut self, id: &str, now: Timestamp) -> Result<()>;
    /// Marks several events dispatched in as few statements as the database allows.
    async fn mark_all_dispatched(&mut self, ids: &[String], now: Timestamp) -> Result<()>;
    /// Makes this transaction the only one holding `key` (a PostgreSQL advisory lock released at
    /// commit); false if another holds it. SQLite's single writer always grants it.
    async fn try_leader_lock(&mut self, key: i64) -> Result<bool>;
    /// Scheduled workflows: (workflow id, version, next firing in ms).
    async fn schedules(&mut self) -> Result<Vec<(String, i64, Timestamp)>>;
    async fn set_schedule(&mut self, workflow_id: &str, version: i64, next_at: Timestamp) -> Result<()>;
    async fn drop_schedule(&mut self, workflow_id: &str) -> Result<()>;
}

fn task(row: &AnyRow) -> Result<Task> {
    Ok(Task {
        id: row.try_get("id")?,
        execution_id: row.try_get::<String, _>("execution_id")?.into(),
        kind: TaskKind::parse(&row.try_get::<String, _>("kind")?),
        payload: serde_json::from_str(&row.try_get::<String, _>("payload")?)?,
        run_at: instant(row, "run_at")?,
        attempt: row.try_get("attempt")?,
    })
}

impl QueueStore for Tx {
    async fn enqueue(&mut self, t: &NewTask) -> Result<String> {
        let id = uuid::Uuid::now_v7().to_string();
        sqlx::query(
            "INSERT INTO tasks (id, execution_id, kind, payload, run_at, attempt) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&id)
        .bind(t.execution_id.as_str())
        .bind(t.kind.as_str())
        .bind(t.payload.to_string())
        .bind(t.run_at.millis())
        .bind(t.attempt)
        .execute(&mut *self.inner)
        .await?;
        Ok(id)
    }

    async fn claim(&mut self, owner: &str, now: Timestamp, lease_until: Timestamp, limit: i64) -> Result<Vec<Task>> {
        let skip_locked = match self.dialect {
            Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
            Dialect::Sqlite => "",
        };
        let sql = format!(
            "UPDATE tasks SET lease_owner = $1, lease_until = $2 WHERE id IN \
             (SELECT id FROM tasks WHERE run_at <= $3 AND lease_until <= $3 ORDER BY run_at, id LIMIT $4{skip_locked}) \
             RETURNING id, execution_id, kind, payload, run_at, attempt"
        );
        let rows = sqlx::query(&sql)
            .bind(owner)
            .bind(lease_until.millis())
            .bind(now.millis())
            .bind(limit)
            .fetch_all(&mut *self.inner)
            .await?;
        let mut tasks: Vec<Task> = rows.iter().map(task).collect::<Result<_>>()?;
        tasks.sort_by(|a, b| (a.run_at, &a.id).cmp(&(b.run_at, &b.id)));
        Ok(tasks)
    }

    async fn finish(&mut self, id: &str) -> Result<()> {
        sqlx::query("DELETE FROM tasks WHERE id = $1").bind(id).execute(&mut *self.inner).await?;
        Ok(())
    }

    async fn retry_later(&mut self, id: &str, run_at: Timestamp, attempt: i64) -> Result<()> {
        sqlx::query("UPDATE tasks SET run_at = $1, attempt = $2, lease_owner = NULL, lease_until = 0 WHERE id = $3")
            .bind(run_at.millis())
            .bind(attempt)
            .bind(id)
            .execute(&mut *self.inner)
            .await?;
        Ok(())
    }

    async fn next_due(&mut self) -> Result<Option<Timestamp>> {
        let row = sqlx::query("SELECT MIN(CASE WHEN lease_until > run_at THEN lease_until ELSE run_at END) FROM tasks")
            .fetch_one(&mut *self.inner)
            .await?;
        instant_opt(&row, 0)
    }

    async fn drop_tasks_of(&mut self, execution_id: &str) -> Result<()> {
        sqlx::query("DELETE FROM tasks WHERE execution_id = $1").bind(execution_id).execute(&mut *self.inner).await?;
        Ok(())
    }

    async fn publish_many(&mut self, events: &[(&str, Value)], now: Timestamp) -> Result<()> {
        for chunk in events.chunks(200) {
            let sql = format!(
                "INSERT INTO outbox (id, topic, payload, created_at) VALUES {}",
                crate::listing::value_groups(self.dialect, chunk.len(), 4)
            );
            let mut query = sqlx::query(&sql);
            for (topic, payload) in chunk {
                query = query
                    .bind(uuid::Uuid::now_v7().to_string())
                    .bind(*topic)
                    .bind(payload.to_string())
                    .bind(now.millis());
            }
            query.execute(&mut *self.inner).await?;
        }
        Ok(())
    }

    async fn publish(&mut self, topic: &str, payload: &Value, now: Timestamp) -> Result<String> {
        let id = uuid::Uuid::now_v7().to_string();
        sqlx::query("INSERT INTO outbox (id, topic, payload, created_at) VALUES ($1, $2, $3, $4)")
            .bind(&id)
            .bind(topic)
            .bind(payload.to_string())
            .bind(now.millis())
            .execute(&mut *self.inner)
            .await?;
        Ok(id)
    }

    async fn outbox_event(&mut self, id: &str) -> Result<Option<OutboxEvent>> {
        let row = sqlx::query("SELECT id, topic, payload, created_at, dispatched_at FROM outbox WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *self.inner)
            .await?;
        row.map(|row| {
            Ok(OutboxEvent {
                id: row.try_get(0)?,
                topic: row.try_get(1)?,
                payload: serde_json::from_str(&row.try_get::<String, _>(2)?)?,
                created_at: instant(&row, 3)?,
                dispatched_at: instant_opt(&row, 4)?,
            })
        })
        .transpose()
    }

    async fn undispatched(&mut self, limit: i64) -> Result<Vec<(String, String, Value)>> {
        let rows = sqlx::query(
            "SELECT id, topic, payload FROM outbox WHERE dispatched_at IS NULL ORDER BY created_at, id LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&mut *self.inner)
        .await?;
        rows.iter()
            .map(|row| Ok((row.try_get(0)?, row.try_get(1)?, serde_json::from_str(&row.try_get::<String, _>(2)?)?)))
            .collect()
    }

    async fn lock_undispatched(&mut self, limit: i64) -> Result<Vec<(String, String, Value)>> {
        let lock = match self.dialect {
            Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
            Dialect::Sqlite => "",
        };
        let sql = format!(
            "SELECT id, topic, payload FROM outbox WHERE dispatched_at IS NULL ORDER BY created_at, id LIMIT $1{lock}"
        );
        let rows = sqlx::query(&sql).bind(limit).fetch_all(&mut *self.inner).await?;
        rows.iter()
            .map(|row| Ok((row.try_get(0)?, row.try_get(1)?, serde_json::from_str(&row.try_get::<String, _>(2)?)?)))
            .collect()
    }

    async fn mark_all_dispatched(&mut self, ids: &[String], now: Timestamp) -> Result<()> {
        for chunk in ids.chunks(500) {
            // The time is bound first: on SQLite every placeholder is a plain `?`, taken in order.
            let now_mark = crate::listing::placeholders(self.dialect, 1, 1);
            let sql = format!(
                "UPDATE outbox SET dispatched_at = {now_mark} WHERE id IN ({})",
                crate::listing::placeholders(self.dialect, 2, chunk.len())
            );
            let mut query = sqlx::query(&sql).bind(now.millis());
            for id in chunk {
                query = query.bind(id.as_str());
            }
            query.execute(&mut *self.inner).await?;
        }
        Ok(())
    }

    async fn mark_dispatched(&mut self, id: &str, now: Timestamp) -> Result<()> {
        sqlx::query("UPDATE outbox SET dispatched_at = $1 WHERE id = $2")
            .bind(now.millis())
            .bind(id)
            .execute(&mut *self.inner)
            .await?;
        Ok(())
    }

    async fn try_leader_lock(&mut self, key: i64) -> Result<bool> {
        match self.dialect {
            Dialect::Sqlite => Ok(true),
            Dialect::Postgres => {
                let row =
                    sqlx::query("SELECT pg_try_advisory_xact_lock($1)").bind(key).fetch_one(&mut *self.inner).await?;
                Ok(row.try_get::<bool, _>(0)?)
            }
        }
    }

    async fn schedules(&mut self) -> Result<Vec<(String, i64, Timestamp)>> {
        let rows = sqlx::query("SELECT workflow_id, version, next_at FROM schedules ORDER BY workflow_id")
            .fetch_all(&mut *self.inner)
            .await?;
        rows.iter().map(|row| Ok((row.try_get(0)?, row.try_get(1)?, instant(row, 2)?))).collect()
    }

    async fn set_schedule(&mut self, workflow_id: &str, version: i64, next_at: Timestamp) -> Result<()> {
        sqlx::query(
            "INSERT INTO schedules (workflow_id, version, next_at) VALUES ($1, $2, $3) \
             ON CONFLICT (workflow_id) DO UPDATE SET version = excluded.version, next_at = excluded.next_at",
        )
        .bind(workflow_id)
        .bind(version)
        .bind(next_at.millis())
        .execute(&mut *self.inner)
        .await?;
        Ok(())
    }

    async fn drop_schedule(&mut self, workflow_id: &str) -> Result<()> {
        sqlx::query("DELETE FROM schedules WHERE workflow_id = $1").bind(workflow_id).execute(&mut *self.inner).await?;
        Ok(())
    }

    async fn queued(&mut self) -> Result<i64> {
        Ok(sqlx::query("SELECT COUNT(*) FROM tasks").fetch_one(&mut *self.inner).await?.try_get(0)?)
    }
}
