//! Access changes that fall due later (a start date, the end of temporary access) and the recorded
//! outputs of governance actions, which make a repeated action attempt harmless.

use serde_json::Value;
use sqlx::Row;
use sqlx::any::AnyRow;
use tessera_model::Timestamp;

use crate::db::Dialect;
use crate::{Result, Tx, instant, instant_opt};

/// A grant or revocation to apply at `due_at`.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduledAccess {
    pub id: String,
    pub identity_id: String,
    /// `ROLE`, `ACCESS_PROFILE` or `ENTITLEMENT`.
    pub kind: String,
    pub object_id: String,
    /// `GRANT` or `REVOKE`.
    pub change: String,
    pub due_at: Timestamp,
    pub requester: Option<Value>,
    pub comments: Option<String>,
    /// `SCHEDULED`, `DONE` or `CANCELLED`.
    pub status: String,
    pub created_at: Timestamp,
    pub done_at: Option<Timestamp>,
}

const COLUMNS: &str =
    "id, identity_id, kind, object_id, change, due_at, requester, comments, status, created_at, done_at";

fn scheduled(row: &AnyRow) -> Result<ScheduledAccess> {
    Ok(ScheduledAccess {
        id: row.try_get("id")?,
        identity_id: row.try_get("identity_id")?,
        kind: row.try_get("kind")?,
        object_id: row.try_get("object_id")?,
        change: row.try_get("change")?,
        due_at: instant(row, "due_at")?,
        requester: row.try_get::<Option<String>, _>("requester")?.map(|r| serde_json::from_str(&r)).transpose()?,
        comments: row.try_get("comments")?,
        status: row.try_get("status")?,
        created_at: instant(row, "created_at")?,
        done_at: instant_opt(row, "done_at")?,
    })
}

/// Scheduled access changes and performed governance actions.
#[allow(async_fn_in_trait)]
pub trait ChangeStore {
    /// Schedules a change; an earlier SCHEDULED change of the same kind for the same identity and
    /// object is cancelled (a new end date replaces the old one).
    async fn schedule_access(&mut self, change: &ScheduledAccess) -> Result<()>;
    /// Cancels the SCHEDULED `change`s of an identity's object; returns how many.
    async fn cancel_scheduled_access(
        &mut self,
        identity_id: &str,
        kind: &str,
        object_id: &str,
        change: &str,
    ) -> Result<u64>;
    /// Locks up to `limit` SCHEDULED changes due at `now`, oldest first.
    async fn due_access(&mut self, now: Timestamp, limit: i64) -> Result<Vec<ScheduledAccess>>;
    /// Marks a change applied.
    async fn finish_scheduled_access(&mut self, id: &str, now: Timestamp) -> Result<()>;
    /// The SCHEDULED changes of an identity, soonest first.
    async fn scheduled_access_of(&mut self, identity_id: &str) -> Result<Vec<ScheduledAccess>>;

    /// The output recorded under `key`, if an earlier attempt performed the action.
    async fn action_output(&mut self, key: &str) -> Result<Option<Value>>;
    async fn record_action_output(&mut self, key: &str, output: &Value, now: Timestamp) -> Result<()>;
}

impl ChangeStore for Tx {
    async fn schedule_access(&mut self, c: &ScheduledAccess) -> Result<()> {
        self.cancel_scheduled_access(&c.identity_id, &c.kind, &c.object_id, &c.change).await?;
        sqlx::query(
            "INSERT INTO scheduled_access (id, identity_id, kind, object_id, change, due_at, requester, comments, \
             status, created_at, done_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(c.id.as_str())
        .bind(c.identity_id.as_str())
        .bind(c.kind.as_str())
        .bind(c.object_id.as_str())
        .bind(c.change.as_str())
        .bind(c.due_at.millis())
        .bind(c.requester.as_ref().map(Value::to_string))
        .bind(c.comments.as_deref())
        .bind(c.status.as_str())
        .bind(c.created_at.millis())
        .bind(c.done_at.map(Timestamp::millis))
        .execute(&mut *self.inner)
        .await?;
        Ok(())
    }

    async fn cancel_scheduled_access(
        &mut self,
        identity_id: &str,
        kind: &str,
        object_id: &str,
        change: &str,
    ) -> Result<u64> {
        let done = sqlx::query(
            "UPDATE scheduled_access SET status = 'CANCELLED' WHERE identity_id = $1 AND kind = $2 AND object_id = $3 \
             AND change = $4 AND status = 'SCHEDULED'",
        )
        .bind(identity_id)
        .bind(kind)
        .bind(object_id)
        .bind(change)
        .execute(&mut *self.inner)
        .await?;
        Ok(done.rows_affected())
    }

    async fn due_access(&mut self, now: Timestamp, limit: i64) -> Result<Vec<ScheduledAccess>> {
        let lock = match self.dialect {
            Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
            Dialect::Sqlite => "",
        };
        let sql = format!(
            "SELECT {COLUMNS} FROM scheduled_access WHERE status = 'SCHEDULED' AND due_at <= $1 \
             ORDER BY due_at, id LIMIT $2{lock}"
        );
        let rows = sqlx::query(&sql).bind(now.millis()).bind(limit).fetch_all(&mut *self.inner).await?;
        rows.iter().map(scheduled).collect()
    }

    async fn finish_scheduled_access(&mut self, id: &str, now: Timestamp) -> Result<()> {
        sqlx::query("UPDATE scheduled_access SET status = 'DONE', done_at = $2 WHERE id = $1")
            .bind(id)
            .bind(now.millis())
            .execute(&mut *self.inner)
            .await?;
        Ok(())
    }

    async fn scheduled_access_of(&mut self, identity_id: &str) -> Result<Vec<ScheduledAccess>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM scheduled_access WHERE identity_id = $1 AND status = 'SCHEDULED' ORDER BY due_at, id"
        );
        let rows = sqlx::query(&sql).bind(identity_id).fetch_all(&mut *self.inner).await?;
        rows.iter().map(scheduled).collect()
    }

    async fn action_output(&mut self, key: &str) -> Result<Option<Value>> {
        let row = sqlx::query("SELECT output FROM performed_actions WHERE action_key = $1")
            .bind(key)
            .fetch_optional(&mut *self.inner)
            .await?;
        row.map(|r| Ok(serde_json::from_str(&r.try_get::<String, _>("output")?)?)).transpose()
    }

    async fn record_action_output(&mut self, key: &str, output: &Value, now: Timestamp) -> Result<()> {
        sqlx::query("INSERT INTO performed_actions (action_key, output, created_at) VALUES ($1, $2, $3)")
            .bind(key)
            .bind(output.to_string())
            .bind(now.millis())
            .execute(&mut *self.inner)
            .await?;
        Ok(())
    }
}
