//! API clients (secrets stored only as argon2 hashes), the audit log, and node-wide settings.

use serde_json::Value;
use sqlx::Row;
use sqlx::any::AnyRow;
use tessera_model::Timestamp;

use crate::{Result, Tx, instant, instant_opt};

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
    pub created_at: Timestamp,
    pub disabled: bool,
    /// When its name, scopes, binding, state or secret last changed.
    pub modified_at: Option<Timestamp>,
    /// Tokens issued before this instant are refused: set by a new secret, a revocation, and
    /// disabling. The epoch for a client whose tokens were never revoked.
    pub tokens_after: Timestamp,
}

/// A token signing key as stored: sealed under the node key.
#[derive(Debug, Clone, PartialEq)]
pub struct SigningKeyRecord {
    /// The key id tokens carry (`kid`).
    pub id: String,
    /// The key, sealed (the envelope's JSON text).
    pub sealed: String,
    pub created_at: Timestamp,
    /// When a newer key took over signing.
    pub retired_at: Option<Timestamp>,
}

/// One audited change.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    pub id: String,
    pub at: Timestamp,
    pub actor: String,
    pub action: String,
    pub target_type: String,
    pub target_id: String,
    pub detail: Value,
}

/// Which audit entries to read; every field narrows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    /// At or after.
    pub since: Option<Timestamp>,
    /// Before.
    pub until: Option<Timestamp>,
    pub limit: i64,
    pub offset: i64,
}

/// API clients, the audit log and settings.
// Used on concrete types, where auto traits are known; no `Send` bound is needed.
#[allow(async_fn_in_trait)]
pub trait SecurityStore {
    async fn insert_client(&mut self, client: &ApiClient) -> Result<()>;
    async fn client(&mut self, id: &str) -> Result<Option<ApiClient>>;
    /// The client, its row held until the transaction ends, for a read-modify-write that another
    /// node's must not interleave with (PostgreSQL; SQLite's single writer already serialises).
    async fn client_for_update(&mut self, id: &str) -> Result<Option<ApiClient>>;
    /// Every client, oldest first.
    async fn clients(&mut self) -> Result<Vec<ApiClient>>;
    /// Stores a client's name, scopes, binding, state, secret hash and token cut-off; false when
    /// there is no such client.
    async fn update_client(&mut self, client: &ApiClient) -> Result<bool>;
    /// Deletes a client; false when there was none.
    async fn delete_client(&mut self, id: &str) -> Result<bool>;
    async fn count_clients(&mut self) -> Result<i64>;
    /// The token signing keys, newest first.
    async fn signing_keys(&mut self) -> Result<Vec<SigningKeyRecord>>;
    async fn insert_signing_key(&mut self, key: &SigningKeyRecord) -> Result<()>;
    /// Stores a signing key sealed anew (under a new node key).
    async fn reseal_signing_key(&mut self, id: &str, sealed: &str) -> Result<()>;
    /// Retires every key but `keep` that is not retired yet.
    async fn retire_signing_keys(&mut self, keep: &str, at: Timestamp) -> Result<u64>;
    /// Deletes keys retired before `at` (their tokens have all expired), or all retired keys.
    async fn delete_retired_signing_keys(&mut self, before: Option<Timestamp>) -> Result<u64>;
    /// Records a change; call it in the transaction that makes the change.
    async fn audit(
        &mut self,
        actor: &str,
        action: &str,
        target_type: &str,
        target_id: &str,
        detail: &Value,
        at: Timestamp,
    ) -> Result<()>;
    /// The audit entries about one object, oldest first.
    async fn audit_of(&mut self, target_type: &str, target_id: &str) -> Result<Vec<AuditEntry>>;
    /// Audit entries matching `query`, newest first.
    async fn audit_entries(&mut self, query: &AuditQuery) -> Result<Vec<AuditEntry>>;
    async fn setting(&mut self, key: &str) -> Result<Option<String>>;
    /// Stores a setting unless one exists; returns the value that is stored afterwards.
    async fn setting_or_insert(&mut self, key: &str, value: &str) -> Result<String>;
    /// Removes a setting; false when there was none.
    async fn delete_setting(&mut self, key: &str) -> Result<bool>;
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
        created_at: instant(row, "created_at")?,
        disabled: row.try_get::<i64, _>("disabled")? != 0,
        modified_at: instant_opt(row, "modified_at")?,
        tokens_after: instant(row, "tokens_after")?,
    })
}

fn audit_entry(row: &AnyRow) -> Result<AuditEntry> {
    Ok(AuditEntry {
        id: row.try_get("id")?,
        at: instant(row, "at")?,
        actor: row.try_get("actor")?,
        action: row.try_get("action")?,
        target_type: row.try_get("target_type")?,
        target_id: row.try_get("target_id")?,
        detail: serde_json::from_str(&row.try_get::<String, _>("detail")?)?,
    })
}

fn signing_key(row: &AnyRow) -> Result<SigningKeyRecord> {
    Ok(SigningKeyRecord {
        id: row.try_get("id")?,
        sealed: row.try_get("sealed")?,
        created_at: instant(row, "created_at")?,
        retired_at: instant_opt(row, "retired_at")?,
    })
}

impl Tx {
    /// The client `id`, read with `lock` (empty, or the dialect's `FOR UPDATE`) after the query.
    async fn client_locked(&mut self, id: &str, lock: &str) -> Result<Option<ApiClient>> {
        sqlx::query(&format!("SELECT * FROM api_clients WHERE id = $1{lock}"))
            .bind(id)
            .fetch_optional(&mut *self.inner)
            .await?
            .as_ref()
            .map(client)
            .transpose()
    }
}

impl SecurityStore for Tx {
    async fn insert_client(&mut self, c: &ApiClient) -> Result<()> {
        sqlx::query(
            "INSERT INTO api_clients (id, name, secret_hash, scopes, workflow_id, identity_id, created_at, disabled, modified_at, tokens_after) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&c.id)
        .bind(&c.name)
        .bind(&c.secret_hash)
        .bind(c.scopes.join(" "))
        .bind(&c.workflow_id)
        .bind(&c.identity_id)
        .bind(c.created_at.millis())
        .bind(i64::from(c.disabled))
        .bind(c.modified_at.map(Timestamp::millis))
        .bind(c.tokens_after.millis())
        .execute(&mut *self.inner)
        .await?;
        Ok(())
    }

    async fn client(&mut self, id: &str) -> Result<Option<ApiClient>> {
        self.client_locked(id, "").await
    }

    async fn client_for_update(&mut self, id: &str) -> Result<Option<ApiClient>> {
        let lock = self.for_update();
        self.client_locked(id, lock).await
    }

    async fn clients(&mut self) -> Result<Vec<ApiClient>> {
        let rows = sqlx::query("SELECT * FROM api_clients ORDER BY created_at, id").fetch_all(&mut *self.inner).await?;
        rows.iter().map(client).collect()
    }

    async fn update_client(&mut self, c: &ApiClient) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE api_clients SET name = $1, secret_hash = $2, scopes = $3, identity_id = $4, disabled = $5, modified_at = $6, tokens_after = $7 WHERE id = $8",
        )
        .bind(&c.name)
        .bind(&c.secret_hash)
        .bind(c.scopes.join(" "))
        .bind(&c.identity_id)
        .bind(i64::from(c.disabled))
        .bind(c.modified_at.map(Timestamp::millis))
        .bind(c.tokens_after.millis())
        .bind(&c.id)
        .execute(&mut *self.inner)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_client(&mut self, id: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM api_clients WHERE id = $1").bind(id).execute(&mut *self.inner).await?;
        Ok(done.rows_affected() > 0)
    }

    async fn signing_keys(&mut self) -> Result<Vec<SigningKeyRecord>> {
        let rows = sqlx::query("SELECT * FROM signing_keys ORDER BY created_at DESC, id DESC")
            .fetch_all(&mut *self.inner)
            .await?;
        rows.iter().map(signing_key).collect()
    }

    async fn insert_signing_key(&mut self, key: &SigningKeyRecord) -> Result<()> {
        sqlx::query("INSERT INTO signing_keys (id, sealed, created_at, retired_at) VALUES ($1, $2, $3, $4)")
            .bind(&key.id)
            .bind(&key.sealed)
            .bind(key.created_at.millis())
            .bind(key.retired_at.map(Timestamp::millis))
            .execute(&mut *self.inner)
            .await?;
        Ok(())
    }

    async fn reseal_signing_key(&mut self, id: &str, sealed: &str) -> Result<()> {
        sqlx::query("UPDATE signing_keys SET sealed = $1 WHERE id = $2")
            .bind(sealed)
            .bind(id)
            .execute(&mut *self.inner)
            .await?;
        Ok(())
    }

    async fn retire_signing_keys(&mut self, keep: &str, at: Timestamp) -> Result<u64> {
        let done = sqlx::query("UPDATE signing_keys SET retired_at = $1 WHERE id <> $2 AND retired_at IS NULL")
            .bind(at.millis())
            .bind(keep)
            .execute(&mut *self.inner)
            .await?;
        Ok(done.rows_affected())
    }

    async fn delete_retired_signing_keys(&mut self, before: Option<Timestamp>) -> Result<u64> {
        let done = sqlx::query("DELETE FROM signing_keys WHERE retired_at IS NOT NULL AND retired_at < $1")
            .bind(before.map_or(i64::MAX, Timestamp::millis))
            .execute(&mut *self.inner)
            .await?;
        Ok(done.rows_affected())
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
        at: Timestamp,
    ) -> Result<()> {
        sqlx::query("INSERT INTO audit_log (id, at, actor, action, target_type, target_id, detail) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(uuid::Uuid::now_v7().to_string())
            .bind(at.millis())
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
        rows.iter().map(audit_entry).collect()
    }

    async fn audit_entries(&mut self, q: &AuditQuery) -> Result<Vec<AuditEntry>> {
        let rows = sqlx::query(
            "SELECT * FROM audit_log WHERE ($1 IS NULL OR actor = $1) AND ($2 IS NULL OR action = $2) \
             AND ($3 IS NULL OR target_type = $3) AND ($4 IS NULL OR target_id = $4) \
             AND ($5 IS NULL OR at >= $5) AND ($6 IS NULL OR at < $6) \
             ORDER BY at DESC, id DESC LIMIT $7 OFFSET $8",
        )
        .bind(q.actor.as_deref())
        .bind(q.action.as_deref())
        .bind(q.target_type.as_deref())
        .bind(q.target_id.as_deref())
        .bind(q.since.map(Timestamp::millis))
        .bind(q.until.map(Timestamp::millis))
        .bind(q.limit)
        .bind(q.offset)
        .fetch_all(&mut *self.inner)
        .await?;
        rows.iter().map(audit_entry).collect()
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

    async fn delete_setting(&mut self, key: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM settings WHERE key = $1").bind(key).execute(&mut *self.inner).await?;
        Ok(done.rows_affected() > 0)
    }
}
