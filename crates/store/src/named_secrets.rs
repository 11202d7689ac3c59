//! Named secrets (`secrets`): credentials stored once, sealed under the node key, and referred to by
//! workflows as `{{secret:<name>}}` instead of being pasted into them.

use sqlx::Row;
use sqlx::any::AnyRow;
use tessera_model::Timestamp;

use crate::{Result, Tx, instant};

/// A named secret as stored: its value sealed (a `$sealed:` text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRecord {
    pub name: String,
    pub sealed: String,
    pub description: Option<String>,
    pub created_at: Timestamp,
    pub modified_at: Timestamp,
    pub modified_by: String,
}

fn record(row: &AnyRow) -> Result<SecretRecord> {
    Ok(SecretRecord {
        name: row.try_get("name")?,
        sealed: row.try_get("sealed")?,
        description: row.try_get("description")?,
        created_at: instant(row, "created_at")?,
        modified_at: instant(row, "modified_at")?,
        modified_by: row.try_get("modified_by")?,
    })
}

/// Named secrets.
// Used on concrete types, where auto traits are known; no `Send` bound is needed.
#[allow(async_fn_in_trait)]
pub trait SecretStore {
    async fn secret(&mut self, name: &str) -> Result<Option<SecretRecord>>;
    /// Every secret, by name.
    async fn secrets(&mut self) -> Result<Vec<SecretRecord>>;
    /// Creates or replaces a secret.
    async fn put_secret(&mut self, secret: &SecretRecord) -> Result<()>;
    /// Deletes a secret; false when there was none.
    async fn delete_secret(&mut self, name: &str) -> Result<bool>;
}

impl SecretStore for Tx {
    async fn secret(&mut self, name: &str) -> Result<Option<SecretRecord>> {
        sqlx::query("SELECT * FROM secrets WHERE name = $1")
            .bind(name)
            .fetch_optional(&mut *self.inner)
            .await?
            .as_ref()
            .map(record)
            .transpose()
    }

    async fn secrets(&mut self) -> Result<Vec<SecretRecord>> {
        let rows = sqlx::query("SELECT * FROM secrets ORDER BY name").fetch_all(&mut *self.inner).await?;
        rows.iter().map(record).collect()
    }

    async fn put_secret(&mut self, s: &SecretRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO secrets (name, sealed, description, created_at, modified_at, modified_by) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (name) DO UPDATE SET sealed = excluded.sealed, \
             description = excluded.description, modified_at = excluded.modified_at, modified_by = excluded.modified_by",
        )
        .bind(&s.name)
        .bind(&s.sealed)
        .bind(s.description.as_deref())
        .bind(s.created_at.millis())
        .bind(s.modified_at.millis())
        .bind(&s.modified_by)
        .execute(&mut *self.inner)
        .await?;
        Ok(())
    }

    async fn delete_secret(&mut self, name: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM secrets WHERE name = $1").bind(name).execute(&mut *self.inner).await?;
        Ok(done.rows_affected() > 0)
    }
}
