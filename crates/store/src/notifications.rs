//! Email to people, written in the transaction that has something to tell them and sent after it
//! commits, so a slow or absent mail server never holds up a decision.

use std::time::Duration;

use sqlx::Row;
use sqlx::any::AnyRow;
use tessera_model::{NotificationStatus, Timestamp};

use crate::{Result, Tx, instant, instant_opt};

/// One message to one person.
#[derive(Debug, Clone, PartialEq)]
pub struct NotificationRecord {
    pub id: String,
    pub recipient_id: String,
    /// Where it goes; `None` when the person has no email address.
    pub address: Option<String>,
    pub subject: String,
    pub body: String,
    /// `PENDING`, `SENT`, `FAILED` or `SKIPPED`.
    pub status: NotificationStatus,
    pub attempts: i64,
    pub next_attempt_at: Timestamp,
    pub error: Option<String>,
    pub created_at: Timestamp,
    pub sent_at: Option<Timestamp>,
}

const COLUMNS: &str =
    "id, recipient_id, address, subject, body, status, attempts, next_attempt_at, error, created_at, sent_at";

fn notification(row: &AnyRow) -> Result<NotificationRecord> {
    Ok(NotificationRecord {
        id: row.try_get("id")?,
        recipient_id: row.try_get("recipient_id")?,
        address: row.try_get("address")?,
        subject: row.try_get("subject")?,
        body: row.try_get("body")?,
        status: row.try_get::<String, _>("status")?.parse()?,
        attempts: row.try_get("attempts")?,
        next_attempt_at: instant(row, "next_attempt_at")?,
        error: row.try_get("error")?,
        created_at: instant(row, "created_at")?,
        sent_at: instant_opt(row, "sent_at")?,
    })
}

/// Queues and settles notifications.
#[allow(async_fn_in_trait)]
pub trait NotificationStore {
    async fn queue_notification(&mut self, notification: &NotificationRecord) -> Result<()>;
    /// PENDING notifications due at `now`, claimed for `lease` (their next attempt moves past it),
    /// so that two nodes do not send one message twice at once.
    async fn claim_notifications(
        &mut self,
        now: Timestamp,
        lease: Duration,
        limit: i64,
    ) -> Result<Vec<NotificationRecord>>;
    /// Records an attempt's outcome: SENT, FAILED, or PENDING again at `next_attempt_at`.
    async fn settle_notification(
        &mut self,
        id: &str,
        status: NotificationStatus,
        error: Option<&str>,
        next_attempt_at: Timestamp,
        now: Timestamp,
    ) -> Result<()>;
    /// A person's notifications, newest first.
    async fn notifications_of(&mut self, recipient_id: &str, limit: i64) -> Result<Vec<NotificationRecord>>;
}

impl NotificationStore for Tx {
    async fn queue_notification(&mut self, n: &NotificationRecord) -> Result<()> {
        sqlx::query(&format!(
            "INSERT INTO notifications ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        ))
        .bind(n.id.as_str())
        .bind(n.recipient_id.as_str())
        .bind(n.address.as_deref())
        .bind(n.subject.as_str())
        .bind(n.body.as_str())
        .bind(n.status.as_str())
        .bind(n.attempts)
        .bind(n.next_attempt_at.millis())
        .bind(n.error.as_deref())
        .bind(n.created_at.millis())
        .bind(n.sent_at.map(Timestamp::millis))
        .execute(&mut *self.inner)
        .await?;
        Ok(())
    }

    async fn claim_notifications(
        &mut self,
        now: Timestamp,
        lease: Duration,
        limit: i64,
    ) -> Result<Vec<NotificationRecord>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM notifications WHERE status = 'PENDING' AND next_attempt_at <= $1 \
             ORDER BY next_attempt_at, id LIMIT $2{}",
            self.skip_locked()
        );
        let rows = sqlx::query(&sql).bind(now.millis()).bind(limit).fetch_all(&mut *self.inner).await?;
        let claimed: Vec<NotificationRecord> = rows.iter().map(notification).collect::<Result<_>>()?;
        for n in &claimed {
            sqlx::query("UPDATE notifications SET next_attempt_at = $2, attempts = attempts + 1 WHERE id = $1")
                .bind(n.id.as_str())
                .bind((now + lease).millis())
                .execute(&mut *self.inner)
                .await?;
        }
        Ok(claimed)
    }

    async fn settle_notification(
        &mut self,
        id: &str,
        status: NotificationStatus,
        error: Option<&str>,
        next_attempt_at: Timestamp,
        now: Timestamp,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE notifications SET status = $2, error = $3, next_attempt_at = $4, \
             sent_at = CASE WHEN $2 = 'SENT' THEN $5 ELSE sent_at END WHERE id = $1",
        )
        .bind(id)
        .bind(status.as_str())
        .bind(error)
        .bind(next_attempt_at.millis())
        .bind(now.millis())
        .execute(&mut *self.inner)
        .await?;
        Ok(())
    }

    async fn notifications_of(&mut self, recipient_id: &str, limit: i64) -> Result<Vec<NotificationRecord>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM notifications WHERE recipient_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2"
        );
        let rows = sqlx::query(&sql).bind(recipient_id).bind(limit).fetch_all(&mut *self.inner).await?;
        rows.iter().map(notification).collect()
    }
}
