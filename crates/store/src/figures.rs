//! What a node's metrics read from the database when scraped: queue depth and the oldest due
//! task, events waiting for dispatch, open provisioning plans, and the work waiting for people.
//! Each figure is one indexed query, so a scrape stays cheap however much history there is.

use sqlx::Row;
use tessera_model::Timestamp;

use crate::{Result, Store, instant_opt};

/// The database's figures at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Figures {
    /// Tasks queued, due or not.
    pub tasks_queued: i64,
    /// When the longest-waiting due task fell due.
    pub oldest_due_task_at: Option<Timestamp>,
    /// Events not yet dispatched, and when the oldest was published.
    pub events_waiting: i64,
    pub oldest_event_at: Option<Timestamp>,
    /// Executions running (waiting for a step, a timer or a person included).
    pub executions_running: i64,
    /// Provisioning plans not yet finished, by status (`QUEUED`, `PENDING`).
    pub open_plans: Vec<(String, i64)>,
    /// Inbox items (approvals, forms, tasks; manual provisioning aside) waiting for a person, and when
    /// the oldest was created.
    pub inbox_pending: i64,
    pub oldest_inbox_at: Option<Timestamp>,
    /// Manual provisioning work items open, and when the oldest was created.
    pub work_items_open: i64,
    pub oldest_work_item_at: Option<Timestamp>,
}

impl Store {
    /// Reads the figures as of `now`.
    pub async fn figures(&self, now: Timestamp) -> Result<Figures> {
        let pool = self.pool();
        let tasks_queued: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tasks").fetch_one(pool).await?;
        let oldest_due_task_at: Option<i64> = sqlx::query_scalar("SELECT MIN(run_at) FROM tasks WHERE run_at <= $1")
            .bind(now.millis())
            .fetch_one(pool)
            .await?;
        let oldest_due_task_at = oldest_due_task_at.map(Timestamp::from_millis);
        let events = sqlx::query("SELECT COUNT(*), MIN(created_at) FROM outbox WHERE dispatched_at IS NULL")
            .fetch_one(pool)
            .await?;
        let executions_running: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM executions WHERE status = 'Running'").fetch_one(pool).await?;
        let plans = sqlx::query(
            "SELECT status, COUNT(*) FROM provisioning_plans WHERE status IN ('QUEUED', 'PENDING') GROUP BY status",
        )
        .fetch_all(pool)
        .await?;
        let inbox = sqlx::query(
            "SELECT COUNT(*), MIN(created_at) FROM inbox_items WHERE status = 'PENDING' AND subject_kind <> 'PLAN'",
        )
        .fetch_one(pool)
        .await?;
        let work = sqlx::query(
            "SELECT COUNT(*), MIN(created_at) FROM inbox_items WHERE status = 'PENDING' AND subject_kind = 'PLAN'",
        )
        .fetch_one(pool)
        .await?;
        Ok(Figures {
            tasks_queued,
            oldest_due_task_at,
            events_waiting: events.try_get(0)?,
            oldest_event_at: instant_opt(&events, 1)?,
            executions_running,
            open_plans: plans.iter().map(|row| Ok((row.try_get(0)?, row.try_get(1)?))).collect::<Result<_>>()?,
            inbox_pending: inbox.try_get(0)?,
            oldest_inbox_at: instant_opt(&inbox, 1)?,
            work_items_open: work.try_get(0)?,
            oldest_work_item_at: instant_opt(&work, 1)?,
        })
    }
}
