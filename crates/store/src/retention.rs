//! Retention: what a busy deployment may forget, and forgetting it in small transactions so that a
//! purge never holds the (single SQLite) writer for long. Ended executions go with their history and
//! waiters; dispatched outbox events, answered notifications and old action outputs go on their own;
//! the audit log is kept longest.

use tessera_model::Timestamp;

use crate::listing::placeholders;
use crate::{Result, Store};

/// Rows deleted per transaction.
const BATCH: i64 = 1000;

/// The instants before which each kind of record may go; `None` keeps it for ever.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cutoffs {
    /// Executions that ended before it, with their history.
    pub executions: Option<Timestamp>,
    /// Events dispatched before it.
    pub outbox: Option<Timestamp>,
    /// Notifications sent, failed or skipped, made before it.
    pub notifications: Option<Timestamp>,
    /// Audit entries made before it.
    pub audit: Option<Timestamp>,
}

/// What a purge deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Purged {
    pub executions: u64,
    pub history_entries: u64,
    pub outbox_events: u64,
    pub notifications: u64,
    pub audit_entries: u64,
    /// Outputs of governance actions, kept to answer a repeated attempt, made before the executions'
    /// cutoff.
    pub action_outputs: u64,
}

impl Purged {
    /// Whether anything went.
    pub fn any(&self) -> bool {
        *self != Self::default()
    }
}

impl Store {
    /// Deletes what is older than `cutoffs`, a batch per transaction, until nothing is left to go.
    pub async fn purge(&self, cutoffs: &Cutoffs) -> Result<Purged> {
        let mut purged = Purged::default();
        if let Some(before) = cutoffs.executions {
            loop {
                let (executions, entries) = self.purge_executions(before).await?;
                purged.executions += executions;
                purged.history_entries += entries;
                if executions < BATCH as u64 {
                    break;
                }
            }
            purged.action_outputs +=
                self.purge_batches("performed_actions", "action_key", "created_at < $1", before).await?;
        }
        if let Some(before) = cutoffs.outbox {
            let filter = "dispatched_at IS NOT NULL AND dispatched_at < $1";
            purged.outbox_events += self.purge_batches("outbox", "id", filter, before).await?;
        }
        if let Some(before) = cutoffs.notifications {
            let filter = "created_at < $1 AND status IN ('SENT', 'FAILED', 'SKIPPED')";
            purged.notifications += self.purge_batches("notifications", "id", filter, before).await?;
        }
        if let Some(before) = cutoffs.audit {
            purged.audit_entries += self.purge_batches("audit_log", "id", "at < $1", before).await?;
        }
        Ok(purged)
    }

    /// Deletes rows of `table` matching `filter` (with `$1` bound to `before`), a batch at a time.
    async fn purge_batches(&self, table: &str, key: &str, filter: &str, before: Timestamp) -> Result<u64> {
        let sql = format!("DELETE FROM {table} WHERE {key} IN (SELECT {key} FROM {table} WHERE {filter} LIMIT $2)");
        let mut total = 0;
        loop {
            let mut tx = self.begin().await?;
            let done =
                sqlx::query(&sql).bind(before.millis()).bind(BATCH).execute(&mut *tx.inner).await?.rows_affected();
            tx.commit().await?;
            total += done;
            if done < BATCH as u64 {
                return Ok(total);
            }
        }
    }

    /// One batch of executions that ended before `before`, with their history and waiters; returns
    /// how many executions and history entries went.
    async fn purge_executions(&self, before: Timestamp) -> Result<(u64, u64)> {
        let mut tx = self.begin().await?;
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM executions WHERE ended_at IS NOT NULL AND ended_at < $1 AND status <> 'Running' LIMIT $2",
        )
        .bind(before.millis())
        .bind(BATCH)
        .fetch_all(&mut *tx.inner)
        .await?;
        if ids.is_empty() {
            return Ok((0, 0));
        }
        let list = placeholders(tx.dialect, 1, ids.len());
        let mut entries = 0;
        for table in ["execution_history", "execution_waiters", "tasks"] {
            let sql = format!("DELETE FROM {table} WHERE execution_id IN ({list})");
            let mut query = sqlx::query(&sql);
            for id in &ids {
                query = query.bind(id.as_str());
            }
            let done = query.execute(&mut *tx.inner).await?.rows_affected();
            if table == "execution_history" {
                entries = done;
            }
        }
        let sql = format!("DELETE FROM executions WHERE id IN ({list})");
        let mut query = sqlx::query(&sql);
        for id in &ids {
            query = query.bind(id.as_str());
        }
        let executions = query.execute(&mut *tx.inner).await?.rows_affected();
        tx.commit().await?;
        Ok((executions, entries))
    }
}
