//! Executions something waits for — a request type's delegated workflow, an access request's approval
//! or hook workflow — so that the transaction ending the execution can hand its outcome on.

use sqlx::Row;
use tessera_model::{ExecutionId, Timestamp};

use crate::{Result, Tx, instant};

/// Who waits for an execution, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionWaiter {
    pub execution_id: ExecutionId,
    /// `ACCESS_REQUEST`, `ACCESS_REQUEST_ITEM` or `REQUEST`.
    pub subject_kind: String,
    pub subject_id: String,
    /// `PRE_APPROVAL`, `DYNAMIC_APPROVER`, `APPROVAL` or `STEP`.
    pub purpose: String,
    /// The request type step or approval level the execution serves.
    pub position: Option<i64>,
    pub created_at: Timestamp,
}

/// Registers and takes waiters.
#[allow(async_fn_in_trait)]
pub trait WaiterStore {
    async fn wait_for_execution(
        &mut self,
        execution_id: &str,
        subject_kind: &str,
        subject_id: &str,
        purpose: &str,
        position: Option<i64>,
        now: Timestamp,
    ) -> Result<()>;
    /// Removes and returns the waiter of an execution: a second call finds none, so an outcome is
    /// handed on once.
    async fn take_waiter(&mut self, execution_id: &str) -> Result<Option<ExecutionWaiter>>;
    /// The executions a subject waits for.
    async fn waiters_of(&mut self, subject_kind: &str, subject_id: &str) -> Result<Vec<ExecutionWaiter>>;
}

fn waiter(row: &sqlx::any::AnyRow) -> Result<ExecutionWaiter> {
    Ok(ExecutionWaiter {
        execution_id: row.try_get::<String, _>("execution_id")?.into(),
        subject_kind: row.try_get("subject_kind")?,
        subject_id: row.try_get("subject_id")?,
        purpose: row.try_get("purpose")?,
        position: row.try_get("position")?,
        created_at: instant(row, "created_at")?,
    })
}

const COLUMNS: &str = "execution_id, subject_kind, subject_id, purpose, position, created_at";

impl WaiterStore for Tx {
    async fn wait_for_execution(
        &mut self,
        execution_id: &str,
        subject_kind: &str,
        subject_id: &str,
        purpose: &str,
        position: Option<i64>,
        now: Timestamp,
    ) -> Result<()> {
        sqlx::query(&format!("INSERT INTO execution_waiters ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"))
            .bind(execution_id)
            .bind(subject_kind)
            .bind(subject_id)
            .bind(purpose)
            .bind(position)
            .bind(now.millis())
            .execute(&mut *self.inner)
            .await?;
        Ok(())
    }

    async fn take_waiter(&mut self, execution_id: &str) -> Result<Option<ExecutionWaiter>> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM execution_waiters WHERE execution_id = $1"))
            .bind(execution_id)
            .fetch_optional(&mut *self.inner)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let found = waiter(&row)?;
        let removed = sqlx::query("DELETE FROM execution_waiters WHERE execution_id = $1")
            .bind(execution_id)
            .execute(&mut *self.inner)
            .await?;
        Ok((removed.rows_affected() == 1).then_some(found))
    }

    async fn waiters_of(&mut self, subject_kind: &str, subject_id: &str) -> Result<Vec<ExecutionWaiter>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM execution_waiters WHERE subject_kind = $1 AND subject_id = $2 ORDER BY created_at"
        ))
        .bind(subject_kind)
        .bind(subject_id)
        .fetch_all(&mut *self.inner)
        .await?;
        rows.iter().map(waiter).collect()
    }
}
