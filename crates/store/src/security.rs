//! API clients (secrets stored only as argon2 hashes), the audit log, and node-wide settings.

use serde_json::Value;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Result, Tx};

/// An API client: what it may do, never its secret.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiClient {
    pub id: String,
    pub name: String,
    /// The PHC string of the secret's argon2 hash.
    pub secret_hash: String,
    pub scopes: Vec<String>,
    /// Set for a workflow's external-trigger client: it may start only that workflow.
    pub workflow_id: Option<String>,
    /// The identity this client acts as: its tokens carry it, and requests and approvals are its own.
    pub identity_id: Option<String>,
    pub created_at: i64,
    pub disabled: bool,
}

/// One audited change.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    pub id: String,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub target_type: String,
    pub target_id: String,
    pub detail: Value,
}

/// API clients, the audit log and settings.
// Used on concrete types, where auto traits are known; no `Send` bound is needed.
#[allow(async_fn_in_trait)]
pub trait SecurityStore {
    async fn insert_client(&mut self, client: &ApiClient) -> Result<()>;
    async fn client(&mut self, id: &str) -> Result<Option<ApiClient>>;
    /// Binds a client to an identity, or unbinds it; false when there is no such client.
    async fn set_client_identity(&mut self, id: &str, identity_id: Option<&str>) -> Result<bool>;
    async fn count_clients(&mut self) -> Result<i64>;
    /// Records a change; call it in the transaction that makes the change.
    async fn audit(
        &mut self,
        actor: &str,
        action: &str,
        target_type: &str,
        target_id: &str,
        detail: &Value,
        at: i64,
    ) -> Result<()>;
    /// The audit entries about one object, oldest first.
    async fn audit_of(&mut self, target_type: &str, target_id: &str) -> Result<Vec<AuditEntry>>;
    async fn setting(&mut self, key: &str) -> Result<Option<String>>;
    /// Stores a setting unless one exists; returns the value that is stored afterwards.
    async fn setting_or_insert(&mut self, key: &str, value: &str) -> Result<String>;
}

fn client(row: &AnyRow) -> Result<ApiClient> {
    let scopes: String = row.try_get("scopes")?;
    Ok(ApiClient {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        secret_hash: row.try_get("secret_hash")?,
        scopes: scopes.split_whitespace().map(str::to_owned).collect(),
        workflow_id: row.try_get("workflow_id")?,
        identity_id: row.try_get("identity_id")?,
        created_at: row.try_get("created_at")?,
        disabled: row.try_get::<i64, _>("disabled")? != 0,
    })
}

impl SecurityStore for Tx {
    async fn insert_client(&mut self, c: &ApiClient) -> Result<()> {
        sqlx::query(
            "INSERT INTO api_clients (id, name, secret_hash, scopes, workflow_id, identity_id, created_at, disabled) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&c.id)
        .bind(&c.name)
        .bind(&c.secret_hash)
        .bind(c.scopes.join(" "))
        .bind(&c.workflow_id)
        .bind(&c.identity_id)
        .bind(c.created_at)
        .bind(i64::from(c.disabled))
        .execute(&mut *self.inner)
        .await?;
        Ok(())
    }

    async fn client(&mut self, id: &str) -> Result<Option<ApiClient>> {
        sqlx::query("SELECT * FROM api_clients WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *self.inner)
            .await?
            .as_ref()
            .map(client)
            .transpose()
    }

    async fn set_client_identity(&mut self, id: &str, identity_id: Option<&str>) -> Result<bool> {
        let done = sqlx::query("UPDATE api_clients SET identity_id = $1 WHERE id = $2")
            .bind(identity_id)
            .bind(id)
            .execute(&mut *self.inner)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn count_clients(&mut self) -> Result<i64> {
        Ok(sqlx::query("SELECT COUNT(*) FROM api_clients").fetch_one(&mut *self.inner).await?.try_get(0)?)
    }

    async fn audit(
        &mut self,
        actor: &str,
        action: &str,
        target_type: &str,
        target_id: &str,
        detail: &Value,
        at: i64,
    ) -> Result<()> {
        sqlx::query("INSERT INTO audit_log (id, at, actor, action, target_type, target_id, detail) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(uuid::Uuid::now_v7().to_string())
            .bind(at)
            .bind(actor)
            .bind(action)
            .bind(target_type)
            .bind(target_id)
            .bind(detail.to_string())
            .execute(&mut *self.inner)
            .await?;
        Ok(())
    }

    async fn audit_of(&mut self, target_type: &str, target_id: &str) -> Result<Vec<AuditEntry>> {
        let rows = sqlx::query("SELECT * FROM audit_log WHERE target_type = $1 AND target_id = $2 ORDER BY at, id")
            .bind(target_type)
            .bind(target_id)
            .fetch_all(&mut *self.inner)
            .await?;
        rows.iter()
            .map(|row| {
                Ok(AuditEntry {
                    id: row.try_get("id")?,
                    at: row.try_get("at")?,
                    actor: row.try_get("actor")?,
                    action: row.try_get("action")?,
                    target_type: row.try_get("target_type")?,
                    target_id: row.try_get("target_id")?,
                    detail: serde_json::from_str(&row.try_get::<String, _>("detail")?)?,
                })
            })
            .collect()
    }

    async fn setting(&mut self, key: &str) -> Result<Option<String>> {
        let row =
            sqlx::query("SELECT value FROM settings WHERE key = $1").bind(key).fetch_optional(&mut *self.inner).await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    async fn setting_or_insert(&mut self, key: &str, value: &str) -> Result<String> {
        sqlx::query("INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
            .bind(key)
            .bind(value)
            .execute(&mut *self.inner)
            .await?;
        let row =
            sqlx::query("SELECT value FROM settings WHERE key = $1").bind(key).fetch_one(&mut *self.inner).await?;
        Ok(row.try_get(0)?)
    }
}
