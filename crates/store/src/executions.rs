//! Executions and their append-only history. An execution names the workflow version it runs; its
//! state is the interpreter's run, stored whole with each transition.

use serde_json::Value;
use sqlx::Row;
use sqlx::any::AnyRow;

use tessera_model::{ExecutionId, ExecutionStatus, Timestamp, WorkflowId};

use crate::{Result, Tx, instant, instant_opt};

/// What starting an execution stores.
#[derive(Debug, Clone, PartialEq)]
pub struct NewExecution {
    pub id: ExecutionId,
    pub workflow_id: WorkflowId,
    pub version: i64,
    pub input: Value,
    pub state: Value,
    pub trace: bool,
    pub started_at: Timestamp,
    /// The parent execution and the effect in it waiting for this one (sub-workflow calls).
    pub parent: Option<(ExecutionId, Value)>,
    /// The published event that started it, if one did.
    pub event_id: Option<String>,
}

/// The state a transition leaves an execution in.
#[derive(Debug, Clone, Copy)]
pub struct StateUpdate<'a> {
    pub status: ExecutionStatus,
    pub state: &'a Value,
    pub ended_at: Option<Timestamp>,
    pub error: Option<&'a str>,
}

/// A stored execution.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutionRecord {
    pub id: ExecutionId,
    pub workflow_id: WorkflowId,
    pub version: i64,
    pub status: ExecutionStatus,
    pub state: Value,
    pub input: Value,
    pub trace: bool,
    pub started_at: Timestamp,
    pub ended_at: Option<Timestamp>,
    pub error: Option<String>,
    pub parent_id: Option<ExecutionId>,
    pub parent_effect: Option<Value>,
    pub cancel_requested: bool,
    pub history_len: i64,
}

/// Reads and writes executions and their history.
// Used on concrete types, where auto traits are known; no `Send` bound is needed.
#[allow(async_fn_in_trait)]
pub trait ExecutionStore {
    async fn insert_execution(&mut self, new: &NewExecution) -> Result<()>;
    /// The execution, locked for this transaction where the database has row locks.
    async fn lock_execution(&mut self, id: &str) -> Result<Option<ExecutionRecord>>;
    async fn execution(&mut self, id: &str) -> Result<Option<ExecutionRecord>>;
    /// Stores the state after a transition, and the end when there is one.
    async fn save_state(
        &mut self,
        id: &str,
        status: ExecutionStatus,
        state: &Value,
        ended_at: Option<Timestamp>,
        error: Option<&str>,
    ) -> Result<()>;
    /// Appends history entries after the `history_len` already stored; returns the new length.
    async fn append_history(&mut self, id: &str, entries: &[Value]) -> Result<i64>;
    /// Appends history entries at `start` (the `history_len` of the record locked in this
    /// transaction) in one statement, and stores the state with the new length: the whole write of a
    /// transition in two statements.
    async fn record_transition(
        &mut self,
        id: &str,
        start: i64,
        entries: &[Value],
        update: &StateUpdate<'_>,
    ) -> Result<i64>;
    async fn history(&mut self, id: &str) -> Result<Vec<Value>>;
    /// A workflow's executions, newest first, with the total.
    async fn list_executions(
        &mut self,
        workflow_id: &str,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<ExecutionRecord>, i64)>;
    /// Asks a running execution to stop at its next step boundary; false if it has ended or is unknown.
    async fn request_cancel(&mut self, id: &str) -> Result<bool>;
    /// A workflow's executions in all, and how many failed.
    async fn execution_counts(&mut self, workflow_id: &str) -> Result<(i64, i64)>;
    /// A workflow's executions counted by status.
    async fn status_counts(&mut self, workflow_id: &str) -> Result<Vec<(ExecutionStatus, i64)>>;
    /// How many executions have this status.
    async fn count_by_status(&mut self, status: ExecutionStatus) -> Result<i64>;
    /// The executions an event started, as (id, workflow id, status), oldest first.
    async fn started_by_event(&mut self, event_id: &str) -> Result<Vec<(String, String, ExecutionStatus)>>;
}

fn record(row: &AnyRow) -> Result<ExecutionRecord> {
    let parent_effect: Option<String> = row.try_get("parent_effect")?;
    Ok(ExecutionRecord {
        id: row.try_get::<String, _>("id")?.into(),
        workflow_id: row.try_get::<String, _>("workflow_id")?.into(),
        version: row.try_get("version")?,
        status: row.try_get::<String, _>("status")?.parse()?,
        state: serde_json::from_str(&row.try_get::<String, _>("state")?)?,
        input: serde_json::from_str(&row.try_get::<String, _>("input")?)?,
        trace: row.try_get::<i64, _>("trace")? != 0,
        started_at: instant(row, "started_at")?,
        ended_at: instant_opt(row, "ended_at")?,
        error: row.try_get("error")?,
        parent_id: row.try_get::<Option<String>, _>("parent_id")?.map(Into::into),
        parent_effect: parent_effect.map(|e| serde_json::from_str(&e)).transpose()?,
        cancel_requested: row.try_get::<i64, _>("cancel_requested")? != 0,
        history_len: row.try_get("history_len")?,
    })
}

impl ExecutionStore for Tx {
    async fn insert_execution(&mut self, new: &NewExecution) -> Result<()> {
        let (parent_id, parent_effect) = match &new.parent {
            Some((id, effect)) => (Some(id.as_str().to_owned()), Some(effect.to_string())),
            None => (None, None),
        };
        sqlx::query(
            "INSERT INTO executions (id, workflow_id, version, status, state, input, trace, started_at, parent_id, parent_effect, event_id) \
             VALUES ($1, $2, $3, 'Running', $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(new.id.as_str())
        .bind(new.workflow_id.as_str())
        .bind(new.version)
        .bind(new.state.to_string())
        .bind(new.input.to_string())
        .bind(i64::from(new.trace))
        .bind(new.started_at.millis())
        .bind(parent_id)
        .bind(parent_effect)
        .bind(new.event_id.as_deref())
        .execute(&mut *self.inner)
        .await?;
        Ok(())
    }

    async fn started_by_event(&mut self, event_id: &str) -> Result<Vec<(String, String, ExecutionStatus)>> {
        let rows =
            sqlx::query("SELECT id, workflow_id, status FROM executions WHERE event_id = $1 ORDER BY started_at, id")
                .bind(event_id)
                .fetch_all(&mut *self.inner)
                .await?;
        rows.iter().map(|row| Ok((row.try_get(0)?, row.try_get(1)?, row.try_get::<String, _>(2)?.parse()?))).collect()
    }

    async fn lock_execution(&mut self, id: &str) -> Result<Option<ExecutionRecord>> {
        let sql = format!("SELECT * FROM executions WHERE id = $1{}", self.for_update());
        sqlx::query(&sql).bind(id).fetch_optional(&mut *self.inner).await?.as_ref().map(record).transpose()
    }

    async fn execution(&mut self, id: &str) -> Result<Option<ExecutionRecord>> {
        sqlx::query("SELECT * FROM executions WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *self.inner)
            .await?
            .as_ref()
            .map(record)
            .transpose()
    }

    async fn save_state(
        &mut self,
        id: &str,
        status: ExecutionStatus,
        state: &Value,
        ended_at: Option<Timestamp>,
        error: Option<&str>,
    ) -> Result<()> {
        sqlx::query("UPDATE executions SET status = $1, state = $2, ended_at = $3, error = $4 WHERE id = $5")
            .bind(status.as_str())
            .bind(state.to_string())
            .bind(ended_at.map(Timestamp::millis))
            .bind(error)
            .bind(id)
            .execute(&mut *self.inner)
            .await?;
        Ok(())
    }

    async fn append_history(&mut self, id: &str, entries: &[Value]) -> Result<i64> {
        if entries.is_empty() {
            let len: i64 = sqlx::query("SELECT history_len FROM executions WHERE id = $1")
                .bind(id)
                .fetch_one(&mut *self.inner)
                .await?
                .try_get(0)?;
            return Ok(len);
        }
        let start: i64 = sqlx::query("SELECT history_len FROM executions WHERE id = $1")
            .bind(id)
            .fetch_one(&mut *self.inner)
            .await?
            .try_get(0)?;
        for (offset, entry) in entries.iter().enumerate() {
            sqlx::query("INSERT INTO execution_history (execution_id, seq, entry) VALUES ($1, $2, $3)")
                .bind(id)
                .bind(start + offset as i64)
                .bind(entry.to_string())
                .execute(&mut *self.inner)
                .await?;
        }
        let len = start + entries.len() as i64;
        sqlx::query("UPDATE executions SET history_len = $1 WHERE id = $2")
            .bind(len)
            .bind(id)
            .execute(&mut *self.inner)
            .await?;
        Ok(len)
    }

    async fn record_transition(
        &mut self,
        id: &str,
        start: i64,
        entries: &[Value],
        update: &StateUpdate<'_>,
    ) -> Result<i64> {
        if !entries.is_empty() {
            let mut sql = String::from("INSERT INTO execution_history (execution_id, seq, entry) VALUES ");
            for i in 0..entries.len() {
                if i > 0 {
                    sql.push_str(", ");
                }
                sql.push_str(&format!("($1, ${}, ${})", 2 * i + 2, 2 * i + 3));
            }
            let mut query = sqlx::query(&sql).bind(id);
            for (offset, entry) in entries.iter().enumerate() {
                query = query.bind(start + offset as i64).bind(entry.to_string());
            }
            query.execute(&mut *self.inner).await?;
        }
        let len = start + entries.len() as i64;
        sqlx::query(
            "UPDATE executions SET status = $1, state = $2, ended_at = $3, error = $4, history_len = $5 WHERE id = $6",
        )
        .bind(update.status.as_str())
        .bind(update.state.to_string())
        .bind(update.ended_at.map(Timestamp::millis))
        .bind(update.error)
        .bind(len)
        .bind(id)
        .execute(&mut *self.inner)
        .await?;
        Ok(len)
    }

    async fn history(&mut self, id: &str) -> Result<Vec<Value>> {
        let rows = sqlx::query("SELECT entry FROM execution_history WHERE execution_id = $1 ORDER BY seq")
            .bind(id)
            .fetch_all(&mut *self.inner)
            .await?;
        rows.iter().map(|row| Ok(serde_json::from_str(&row.try_get::<String, _>(0)?)?)).collect()
    }

    async fn list_executions(
        &mut self,
        workflow_id: &str,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<ExecutionRecord>, i64)> {
        let rows = sqlx::query(
            "SELECT * FROM executions WHERE workflow_id = $1 ORDER BY started_at DESC, id LIMIT $2 OFFSET $3",
        )
        .bind(workflow_id)
        .bind(limit)
        .bind(offset)
        .fetch_all(&mut *self.inner)
        .await?;
        let total: i64 = sqlx::query("SELECT COUNT(*) FROM executions WHERE workflow_id = $1")
            .bind(workflow_id)
            .fetch_one(&mut *self.inner)
            .await?
            .try_get(0)?;
        Ok((rows.iter().map(record).collect::<Result<_>>()?, total))
    }

    async fn request_cancel(&mut self, id: &str) -> Result<bool> {
        let done = sqlx::query("UPDATE executions SET cancel_requested = 1 WHERE id = $1 AND status = 'Running'")
            .bind(id)
            .execute(&mut *self.inner)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn execution_counts(&mut self, workflow_id: &str) -> Result<(i64, i64)> {
        let row = sqlx::query(
            "SELECT COUNT(*), COALESCE(SUM(CASE WHEN status = 'Failed' THEN 1 ELSE 0 END), 0) FROM executions WHERE workflow_id = $1",
        )
        .bind(workflow_id)
        .fetch_one(&mut *self.inner)
        .await?;
        Ok((row.try_get(0)?, row.try_get(1)?))
    }

    async fn status_counts(&mut self, workflow_id: &str) -> Result<Vec<(ExecutionStatus, i64)>> {
        let rows = sqlx::query(
            "SELECT status, COUNT(*) FROM executions WHERE workflow_id = $1 GROUP BY status ORDER BY status",
        )
        .bind(workflow_id)
        .fetch_all(&mut *self.inner)
        .await?;
        rows.iter().map(|row| Ok((row.try_get::<String, _>(0)?.parse()?, row.try_get(1)?))).collect()
    }

    async fn count_by_status(&mut self, status: ExecutionStatus) -> Result<i64> {
        Ok(sqlx::query("SELECT COUNT(*) FROM executions WHERE status = $1")
            .bind(status.as_str())
            .fetch_one(&mut *self.inner)
            .await?
            .try_get(0)?)
    }
}
