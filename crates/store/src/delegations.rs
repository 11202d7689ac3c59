//! Standing delegations: someone away hands what would be assigned to them to someone else for a
//! period.

use sqlx::Row;
use sqlx::any::AnyRow;
use tessera_model::Timestamp;

use crate::{Result, Tx, instant, instant_opt};

/// One delegation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DelegationRecord {
    pub id: String,
    pub delegator_id: String,
    pub delegate_id: String,
    pub starts_at: Timestamp,
    /// Open-ended when `None`.
    pub ends_at: Option<Timestamp>,
    pub comment: Option<String>,
    pub created_by: String,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

const COLUMNS: &str = "id, delegator_id, delegate_id, starts_at, ends_at, comment, created_by, created_at, revoked_at";

fn delegation(row: &AnyRow) -> Result<DelegationRecord> {
    Ok(DelegationRecord {
        id: row.try_get("id")?,
        delegator_id: row.try_get("delegator_id")?,
        delegate_id: row.try_get("delegate_id")?,
        starts_at: instant(row, "starts_at")?,
        ends_at: instant_opt(row, "ends_at")?,
        comment: row.try_get("comment")?,
        created_by: row.try_get("created_by")?,
        created_at: instant(row, "created_at")?,
        revoked_at: instant_opt(row, "revoked_at")?,
    })
}

/// Reads and writes delegations.
#[allow(async_fn_in_trait)]
pub trait DelegationStore {
    async fn insert_delegation(&mut self, delegation: &DelegationRecord) -> Result<()>;
    async fn delegation(&mut self, id: &str) -> Result<Option<DelegationRecord>>;
    /// The delegation of `delegator` in force at `now` (the latest started), if any.
    async fn delegation_in_force(&mut self, delegator: &str, now: Timestamp) -> Result<Option<DelegationRecord>>;
    /// Delegations from or to `identity` (every one when `None`), newest first.
    async fn delegations(&mut self, identity: Option<&str>) -> Result<Vec<DelegationRecord>>;
    /// Ends a delegation now; false when it was already revoked.
    async fn revoke_delegation(&mut self, id: &str, now: Timestamp) -> Result<bool>;
}

impl DelegationStore for Tx {
    async fn insert_delegation(&mut self, d: &DelegationRecord) -> Result<()> {
        sqlx::query(&format!("INSERT INTO delegations ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"))
            .bind(d.id.as_str())
            .bind(d.delegator_id.as_str())
            .bind(d.delegate_id.as_str())
            .bind(d.starts_at.millis())
            .bind(d.ends_at.map(Timestamp::millis))
            .bind(d.comment.as_deref())
            .bind(d.created_by.as_str())
            .bind(d.created_at.millis())
            .bind(d.revoked_at.map(Timestamp::millis))
            .execute(&mut *self.inner)
            .await?;
        Ok(())
    }

    async fn delegation(&mut self, id: &str) -> Result<Option<DelegationRecord>> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM delegations WHERE id = $1"))
            .bind(id)
            .fetch_optional(&mut *self.inner)
            .await?;
        row.as_ref().map(delegation).transpose()
    }

    async fn delegation_in_force(&mut self, delegator: &str, now: Timestamp) -> Result<Option<DelegationRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM delegations WHERE delegator_id = $1 AND revoked_at IS NULL AND starts_at <= $2 \
             AND (ends_at IS NULL OR ends_at > $2) ORDER BY starts_at DESC, id DESC LIMIT 1"
        ))
        .bind(delegator)
        .bind(now.millis())
        .fetch_optional(&mut *self.inner)
        .await?;
        row.as_ref().map(delegation).transpose()
    }

    async fn delegations(&mut self, identity: Option<&str>) -> Result<Vec<DelegationRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM delegations WHERE $1 IS NULL OR delegator_id = $1 OR delegate_id = $1 \
             ORDER BY created_at DESC, id DESC"
        ))
        .bind(identity)
        .fetch_all(&mut *self.inner)
        .await?;
        rows.iter().map(delegation).collect()
    }

    async fn revoke_delegation(&mut self, id: &str, now: Timestamp) -> Result<bool> {
        let done = sqlx::query("UPDATE delegations SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
            .bind(id)
            .bind(now.millis())
            .execute(&mut *self.inner)
            .await?;
        Ok(done.rows_affected() == 1)
    }
}
