//! Separation-of-duties policies (each kept as its whole ISC document) and the violation context an
//! access request was submitted with.

use serde_json::Value;
use sqlx::Row;
use sqlx::any::AnyRow;
use tessera_model::Timestamp;

use crate::{Error, Result, Tx, instant};

/// One SoD policy.
#[derive(Debug, Clone, PartialEq)]
pub struct SodPolicyRecord {
    pub id: String,
    /// Unique among policies.
    pub name: String,
    /// ISC's SodPolicy document, without the fields the row carries (`id`, `name`, the stamps).
    pub document: Value,
    pub created_at: Timestamp,
    pub modified_at: Timestamp,
}

fn policy(row: &AnyRow) -> Result<SodPolicyRecord> {
    let document: String = row.try_get("document")?;
    Ok(SodPolicyRecord {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        document: serde_json::from_str(&document)?,
        created_at: instant(row, "created_at")?,
        modified_at: instant(row, "modified_at")?,
    })
}

fn conflict(error: sqlx::Error, name: &str) -> Error {
    match &error {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            Error::Conflict(format!("an SoD policy with the name `{name}` already exists"))
        }
        _ => Error::Database(error),
    }
}

/// Reads and writes SoD policies and request violation contexts.
#[allow(async_fn_in_trait)]
pub trait SodStore {
    /// Stores a new policy; a taken name is a [`Error::Conflict`].
    async fn insert_sod_policy(&mut self, policy: &SodPolicyRecord) -> Result<()>;
    /// Replaces a policy's name and document; false when there is none with its id.
    async fn update_sod_policy(&mut self, policy: &SodPolicyRecord) -> Result<bool>;
    async fn delete_sod_policy(&mut self, id: &str) -> Result<bool>;
    async fn sod_policy(&mut self, id: &str) -> Result<Option<SodPolicyRecord>>;
    /// Every policy, by name.
    async fn sod_policies(&mut self) -> Result<Vec<SodPolicyRecord>>;
    /// Records the violations a request was submitted with.
    async fn set_sod_context(&mut self, request_id: &str, context: &Value) -> Result<()>;
    async fn sod_context(&mut self, request_id: &str) -> Result<Option<Value>>;
}

impl SodStore for Tx {
    async fn insert_sod_policy(&mut self, p: &SodPolicyRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO sod_policies (id, name, document, created_at, modified_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(p.id.as_str())
        .bind(p.name.as_str())
        .bind(p.document.to_string())
        .bind(p.created_at.millis())
        .bind(p.modified_at.millis())
        .execute(&mut *self.inner)
        .await
        .map_err(|e| conflict(e, &p.name))?;
        Ok(())
    }

    async fn update_sod_policy(&mut self, p: &SodPolicyRecord) -> Result<bool> {
        let done = sqlx::query("UPDATE sod_policies SET name = $2, document = $3, modified_at = $4 WHERE id = $1")
            .bind(p.id.as_str())
            .bind(p.name.as_str())
            .bind(p.document.to_string())
            .bind(p.modified_at.millis())
            .execute(&mut *self.inner)
            .await
            .map_err(|e| conflict(e, &p.name))?;
        Ok(done.rows_affected() == 1)
    }

    async fn delete_sod_policy(&mut self, id: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM sod_policies WHERE id = $1").bind(id).execute(&mut *self.inner).await?;
        Ok(done.rows_affected() == 1)
    }

    async fn sod_policy(&mut self, id: &str) -> Result<Option<SodPolicyRecord>> {
        let row = sqlx::query("SELECT id, name, document, created_at, modified_at FROM sod_policies WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *self.inner)
            .await?;
        row.as_ref().map(policy).transpose()
    }

    async fn sod_policies(&mut self) -> Result<Vec<SodPolicyRecord>> {
        let rows =
            sqlx::query("SELECT id, name, document, created_at, modified_at FROM sod_policies ORDER BY name, id")
                .fetch_all(&mut *self.inner)
                .await?;
        rows.iter().map(policy).collect()
    }

    async fn set_sod_context(&mut self, request_id: &str, context: &Value) -> Result<()> {
        sqlx::query("INSERT INTO access_request_sod (request_id, context) VALUES ($1, $2)")
            .bind(request_id)
            .bind(context.to_string())
            .execute(&mut *self.inner)
            .await?;
        Ok(())
    }

    async fn sod_context(&mut self, request_id: &str) -> Result<Option<Value>> {
        let row = sqlx::query("SELECT context FROM access_request_sod WHERE request_id = $1")
            .bind(request_id)
            .fetch_optional(&mut *self.inner)
            .await?;
        match row {
            Some(row) => Ok(Some(serde_json::from_str(&row.try_get::<String, _>("context")?)?)),
            None => Ok(None),
        }
    }
}
