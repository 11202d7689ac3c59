//! Identities and their accounts: bulk writes for aggregation, single reads and pages for the API.

use serde_json::{Map, Value};
use sqlx::Row;
use sqlx::any::AnyRow;
use tessera_model::{IdentityId, IdentityStatus, Timestamp};

use crate::listing::{Listing, placeholders, value_groups};
use crate::query::{Bind, Column, Field, FieldKind, Op, Resource, bind_all};
use crate::{Dialect, Result, Tx, instant};

/// An identity.
#[derive(Debug, Clone, PartialEq)]
pub struct IdentityRecord {
    pub id: IdentityId,
    pub name: String,
    pub alias: String,
    pub email: Option<String>,
    pub manager_id: Option<IdentityId>,
    pub profile_id: Option<String>,
    pub lifecycle_state: Option<String>,
    /// Set by a person through `set-lifecycle-state`; aggregation keeps it until the computed
    /// state changes.
    pub lifecycle_manual: bool,
    pub status: IdentityStatus,
    pub attributes: Map<String, Value>,
    pub created_at: Timestamp,
    pub modified_at: Timestamp,
}

/// An account on a source, correlated to an identity or not.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountRecord {
    pub id: String,
    pub source_id: String,
    pub native_identity: String,
    pub name: String,
    pub identity_id: Option<String>,
    pub attributes: Map<String, Value>,
    /// A hash of the attributes as read, so an unchanged account costs no write.
    pub attributes_hash: i64,
    pub disabled: bool,
    pub locked: bool,
    pub manually_correlated: bool,
    pub created_at: Timestamp,
    pub modified_at: Timestamp,
}

/// What aggregation needs to know of an existing account to decide what changed.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountKey {
    pub id: String,
    pub native_identity: String,
    pub identity_id: Option<String>,
    pub attributes_hash: i64,
}

const TEXT_OPS: &[Op] = &[Op::Eq, Op::Ne, Op::In, Op::Co, Op::Sw, Op::IsNull, Op::Pr];
const ID_OPS: &[Op] = &[Op::Eq, Op::Ne, Op::In, Op::IsNull, Op::Pr];
const BOOL_OPS: &[Op] = &[Op::Eq, Op::Ne];
const TIME_OPS: &[Op] = &[Op::Eq, Op::Gt, Op::Ge, Op::Lt, Op::Le];

const fn field(name: &'static str, column: &'static str, kind: FieldKind, ops: &'static [Op]) -> Field {
    Field { name, column: Column::Plain(column), kind, ops }
}

/// The fields identity lists filter and sort on.
pub static IDENTITIES: Resource = Resource {
    fields: &[
        field("id", "id", FieldKind::Text, ID_OPS),
        field("name", "name", FieldKind::Text, TEXT_OPS),
        field("alias", "alias", FieldKind::Text, TEXT_OPS),
        field("email", "email", FieldKind::Text, TEXT_OPS),
        field("emailAddress", "email", FieldKind::Text, TEXT_OPS),
        field("manager.id", "manager_id", FieldKind::Text, ID_OPS),
        field("managerRef.id", "manager_id", FieldKind::Text, ID_OPS),
        field("identityProfile.id", "profile_id", FieldKind::Text, ID_OPS),
        field("lifecycleState", "lifecycle_state", FieldKind::Text, TEXT_OPS),
        field("cloudLifecycleState", "lifecycle_state", FieldKind::Text, TEXT_OPS),
        field("identityStatus", "status", FieldKind::Text, TEXT_OPS),
        field("created", "created_at", FieldKind::Timestamp, TIME_OPS),
        field("modified", "modified_at", FieldKind::Timestamp, TIME_OPS),
        Field {
            name: "attributes.*",
            column: Column::JsonAttributes("attributes"),
            kind: FieldKind::Text,
            ops: TEXT_OPS,
        },
    ],
};

/// The fields account lists filter and sort on.
pub static ACCOUNTS: Resource = Resource {
    fields: &[
        field("id", "id", FieldKind::Text, ID_OPS),
        field("name", "name", FieldKind::Text, TEXT_OPS),
        field("nativeIdentity", "native_identity", FieldKind::Text, TEXT_OPS),
        field("sourceId", "source_id", FieldKind::Text, ID_OPS),
        field("source.id", "source_id", FieldKind::Text, ID_OPS),
        field("identityId", "identity_id", FieldKind::Text, ID_OPS),
        field("identity.id", "identity_id", FieldKind::Text, ID_OPS),
        field("uncorrelated", "(CASE WHEN identity_id IS NULL THEN 1 ELSE 0 END)", FieldKind::Boolean, BOOL_OPS),
        field("disabled", "disabled", FieldKind::Boolean, BOOL_OPS),
        field("locked", "locked", FieldKind::Boolean, BOOL_OPS),
        field("created", "created_at", FieldKind::Timestamp, TIME_OPS),
        field("modified", "modified_at", FieldKind::Timestamp, TIME_OPS),
        Field {
            name: "attributes.*",
            column: Column::JsonAttributes("attributes"),
            kind: FieldKind::Text,
            ops: TEXT_OPS,
        },
    ],
};

fn identity(row: &AnyRow) -> Result<IdentityRecord> {
    Ok(IdentityRecord {
        id: row.try_get::<String, _>("id")?.into(),
        name: row.try_get("name")?,
        alias: row.try_get("alias")?,
        email: row.try_get("email")?,
        manager_id: row.try_get::<Option<String>, _>("manager_id")?.map(Into::into),
        profile_id: row.try_get("profile_id")?,
        lifecycle_state: row.try_get("lifecycle_state")?,
        lifecycle_manual: row.try_get::<i64, _>("lifecycle_manual")? != 0,
        status: row.try_get::<String, _>("status")?.parse()?,
        attributes: serde_json::from_str(&row.try_get::<String, _>("attributes")?)?,
        created_at: instant(row, "created_at")?,
        modified_at: instant(row, "modified_at")?,
    })
}

fn account(row: &AnyRow) -> Result<AccountRecord> {
    Ok(AccountRecord {
        id: row.try_get("id")?,
        source_id: row.try_get("source_id")?,
        native_identity: row.try_get("native_identity")?,
        name: row.try_get("name")?,
        identity_id: row.try_get("identity_id")?,
        attributes: serde_json::from_str(&row.try_get::<String, _>("attributes")?)?,
        attributes_hash: row.try_get("attributes_hash")?,
        disabled: row.try_get::<i64, _>("disabled")? != 0,
        locked: row.try_get::<i64, _>("locked")? != 0,
        manually_correlated: row.try_get::<i64, _>("manually_correlated")? != 0,
        created_at: instant(row, "created_at")?,
        modified_at: instant(row, "modified_at")?,
    })
}

const IDENTITY_COLUMNS: &str = "id, name, alias, email, manager_id, profile_id, lifecycle_state, lifecycle_manual, \
                                status, attributes, created_at, modified_at";
const ACCOUNT_COLUMNS: &str = "id, source_id, native_identity, name, identity_id, attributes, attributes_hash, \
                               disabled, locked, manually_correlated, created_at, modified_at";

/// Rows per multi-row INSERT: well under both databases' limits on bound parameters.
const INSERT_CHUNK: usize = 200;

/// Reads and writes identities and accounts.
#[allow(async_fn_in_trait)]
pub trait IdentityStore {
    async fn insert_identities(&mut self, identities: &[IdentityRecord]) -> Result<()>;
    /// Replaces every field but `id` and `created_at`.
    async fn update_identity(&mut self, identity: &IdentityRecord) -> Result<()>;
    /// Removes an identity with what it holds and its group memberships; its accounts become
    /// uncorrelated. False when there was none.
    async fn delete_identity(&mut self, id: &str) -> Result<bool>;
    async fn identity(&mut self, id: &str) -> Result<Option<IdentityRecord>>;
    /// The identity whose id, name or alias is `key` (names and aliases case-insensitively).
    async fn identity_by_key(&mut self, key: &str) -> Result<Option<IdentityRecord>>;
    async fn identities_by_ids(&mut self, ids: &[String]) -> Result<Vec<IdentityRecord>>;
    /// (id, name) of these identities, without reading their attributes.
    async fn identity_names(&mut self, ids: &[String]) -> Result<Vec<(String, String)>>;
    async fn list_identities(&mut self, listing: &Listing<'_>) -> Result<(Vec<IdentityRecord>, Option<i64>)>;
    /// (identity id, value) for every identity whose attribute `name` has a value, for correlation.
    async fn identity_attribute_values(&mut self, name: &str) -> Result<Vec<(String, String)>>;

    async fn insert_accounts(&mut self, accounts: &[AccountRecord]) -> Result<()>;
    /// Replaces every field but `id`, `source_id`, `native_identity` and `created_at`.
    async fn update_account(&mut self, account: &AccountRecord) -> Result<()>;
    async fn delete_accounts(&mut self, ids: &[String]) -> Result<()>;
    async fn account(&mut self, id: &str) -> Result<Option<AccountRecord>>;
    /// The account of `source_id` whose native identity is `native_identity`.
    async fn account_by_native(&mut self, source_id: &str, native_identity: &str) -> Result<Option<AccountRecord>>;
    async fn accounts_by_ids(&mut self, ids: &[String]) -> Result<Vec<AccountRecord>>;
    /// The accounts of these identities, by identity then source.
    async fn accounts_of(&mut self, identity_ids: &[String]) -> Result<Vec<AccountRecord>>;
    /// A page of a source's accounts as aggregation compares them: up to `limit` whose native
    /// identity sorts after `after`, in that order (read page by page, a source of millions of
    /// accounts never holds all its rows at once).
    async fn account_keys(&mut self, source_id: &str, after: &str, limit: i64) -> Result<Vec<AccountKey>>;
    async fn list_accounts(&mut self, listing: &Listing<'_>) -> Result<(Vec<AccountRecord>, Option<i64>)>;
    /// How many accounts a source has.
    async fn count_accounts(&mut self, source_id: &str) -> Result<i64>;
}

impl IdentityStore for Tx {
    async fn insert_identities(&mut self, identities: &[IdentityRecord]) -> Result<()> {
        for chunk in identities.chunks(INSERT_CHUNK) {
            let sql = format!(
                "INSERT INTO identities ({IDENTITY_COLUMNS}) VALUES {}",
                value_groups(self.dialect, chunk.len(), 12)
            );
            let mut query = sqlx::query(&sql);
            for i in chunk {
                query = query
                    .bind(i.id.as_str())
                    .bind(i.name.as_str())
                    .bind(i.alias.as_str())
                    .bind(i.email.as_deref())
                    .bind(i.manager_id.as_deref())
                    .bind(i.profile_id.as_deref())
                    .bind(i.lifecycle_state.as_deref())
                    .bind(i64::from(i.lifecycle_manual))
                    .bind(i.status.as_str())
                    .bind(Value::Object(i.attributes.clone()).to_string())
                    .bind(i.created_at.millis())
                    .bind(i.modified_at.millis());
            }
            query.execute(&mut *self.inner).await?;
        }
        Ok(())
    }

    async fn update_identity(&mut self, i: &IdentityRecord) -> Result<()> {
        sqlx::query(
            "UPDATE identities SET name = $2, alias = $3, email = $4, manager_id = $5, profile_id = $6, \
             lifecycle_state = $7, lifecycle_manual = $8, status = $9, attributes = $10, modified_at = $11 WHERE id = $1",
        )
        .bind(i.id.as_str())
        .bind(i.name.as_str())
        .bind(i.alias.as_str())
        .bind(i.email.as_deref())
        .bind(i.manager_id.as_deref())
        .bind(i.profile_id.as_deref())
        .bind(i.lifecycle_state.as_deref())
        .bind(i64::from(i.lifecycle_manual))
        .bind(i.status.as_str())
        .bind(Value::Object(i.attributes.clone()).to_string())
        .bind(i.modified_at.millis())
        .execute(&mut *self.inner)
        .await?;
        Ok(())
    }

    async fn delete_identity(&mut self, id: &str) -> Result<bool> {
        for sql in [
            "DELETE FROM identity_access WHERE identity_id = $1",
            "DELETE FROM workgroup_members WHERE identity_id = $1",
            "DELETE FROM user_levels WHERE holder_kind = 'IDENTITY' AND holder_id = $1",
            "UPDATE accounts SET identity_id = NULL, manually_correlated = 0 WHERE identity_id = $1",
            "UPDATE identities SET manager_id = NULL WHERE manager_id = $1",
        ] {
            sqlx::query(sql).bind(id).execute(&mut *self.inner).await?;
        }
        self.leave_group_work(None, id).await?;
        let done = sqlx::query("DELETE FROM identities WHERE id = $1").bind(id).execute(&mut *self.inner).await?;
        Ok(done.rows_affected() > 0)
    }

    async fn identity(&mut self, id: &str) -> Result<Option<IdentityRecord>> {
        let sql = format!("SELECT {IDENTITY_COLUMNS} FROM identities WHERE id = $1");
        sqlx::query(&sql).bind(id).fetch_optional(&mut *self.inner).await?.as_ref().map(identity).transpose()
    }

    async fn identity_by_key(&mut self, key: &str) -> Result<Option<IdentityRecord>> {
        if let Some(found) = self.identity(key).await? {
            return Ok(Some(found));
        }
        let sql = format!(
            "SELECT {IDENTITY_COLUMNS} FROM identities WHERE LOWER(name) = LOWER($1) OR LOWER(alias) = LOWER($1) \
             ORDER BY id LIMIT 1"
        );
        sqlx::query(&sql).bind(key).fetch_optional(&mut *self.inner).await?.as_ref().map(identity).transpose()
    }

    async fn identities_by_ids(&mut self, ids: &[String]) -> Result<Vec<IdentityRecord>> {
        let mut found = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            let sql = format!(
                "SELECT {IDENTITY_COLUMNS} FROM identities WHERE id IN ({})",
                placeholders(self.dialect, 1, chunk.len())
            );
            let mut query = sqlx::query(&sql);
            for id in chunk {
                query = query.bind(id.as_str());
            }
            for row in query.fetch_all(&mut *self.inner).await? {
                found.push(identity(&row)?);
            }
        }
        Ok(found)
    }

    async fn identity_names(&mut self, ids: &[String]) -> Result<Vec<(String, String)>> {
        let mut found = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            let sql =
                format!("SELECT id, name FROM identities WHERE id IN ({})", placeholders(self.dialect, 1, chunk.len()));
            let binds: Vec<Bind> = chunk.iter().map(|id| Bind::Text(id.clone())).collect();
            for row in bind_all(sqlx::query(&sql), &binds).fetch_all(&mut *self.inner).await? {
                found.push((row.try_get("id")?, row.try_get("name")?));
            }
        }
        Ok(found)
    }

    async fn list_identities(&mut self, listing: &Listing<'_>) -> Result<(Vec<IdentityRecord>, Option<i64>)> {
        let select = format!("SELECT {IDENTITY_COLUMNS} FROM identities");
        let (rows, total) = self.list_rows(&IDENTITIES, &select, "1 = 1", Vec::new(), "name, id", listing).await?;
        Ok((rows.iter().map(identity).collect::<Result<_>>()?, total))
    }

    async fn identity_attribute_values(&mut self, name: &str) -> Result<Vec<(String, String)>> {
        let column = match name {
            "name" | "displayName" => "name".to_owned(),
            "alias" | "uid" => "alias".to_owned(),
            "email" => "email".to_owned(),
            "id" => "id".to_owned(),
            other => {
                if !other.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
                    return Ok(Vec::new());
                }
                match self.dialect {
                    Dialect::Sqlite => format!("json_extract(attributes, '$.\"{other}\"')"),
                    Dialect::Postgres => format!("(attributes::jsonb ->> '{other}')"),
                }
            }
        };
        let sql = format!("SELECT id, CAST({column} AS TEXT) AS v FROM identities WHERE {column} IS NOT NULL");
        let rows = sqlx::query(&sql).fetch_all(&mut *self.inner).await?;
        rows.iter().map(|r| Ok((r.try_get("id")?, r.try_get("v")?))).collect()
    }

    async fn insert_accounts(&mut self, accounts: &[AccountRecord]) -> Result<()> {
        for chunk in accounts.chunks(INSERT_CHUNK) {
            let sql = format!(
                "INSERT INTO accounts ({ACCOUNT_COLUMNS}) VALUES {}",
                value_groups(self.dialect, chunk.len(), 12)
            );
            let mut query = sqlx::query(&sql);
            for a in chunk {
                query = query
                    .bind(a.id.as_str())
                    .bind(a.source_id.as_str())
                    .bind(a.native_identity.as_str())
                    .bind(a.name.as_str())
                    .bind(a.identity_id.as_deref())
                    .bind(Value::Object(a.attributes.clone()).to_string())
                    .bind(a.attributes_hash)
                    .bind(i64::from(a.disabled))
                    .bind(i64::from(a.locked))
                    .bind(i64::from(a.manually_correlated))
                    .bind(a.created_at.millis())
                    .bind(a.modified_at.millis());
            }
            query.execute(&mut *self.inner).await?;
        }
        Ok(())
    }

    async fn update_account(&mut self, a: &AccountRecord) -> Result<()> {
        sqlx::query(
            "UPDATE accounts SET name = $2, identity_id = $3, attributes = $4, attributes_hash = $5, disabled = $6, \
             locked = $7, manually_correlated = $8, modified_at = $9, native_identity = $10 WHERE id = $1",
        )
        .bind(a.id.as_str())
        .bind(a.name.as_str())
        .bind(a.identity_id.as_deref())
        .bind(Value::Object(a.attributes.clone()).to_string())
        .bind(a.attributes_hash)
        .bind(i64::from(a.disabled))
        .bind(i64::from(a.locked))
        .bind(i64::from(a.manually_correlated))
        .bind(a.modified_at.millis())
        .bind(a.native_identity.as_str())
        .execute(&mut *self.inner)
        .await?;
        Ok(())
    }

    async fn delete_accounts(&mut self, ids: &[String]) -> Result<()> {
        for chunk in ids.chunks(500) {
            let sql = format!("DELETE FROM accounts WHERE id IN ({})", placeholders(self.dialect, 1, chunk.len()));
            let binds: Vec<Bind> = chunk.iter().map(|id| Bind::Text(id.clone())).collect();
            bind_all(sqlx::query(&sql), &binds).execute(&mut *self.inner).await?;
        }
        Ok(())
    }

    async fn account(&mut self, id: &str) -> Result<Option<AccountRecord>> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = $1");
        sqlx::query(&sql).bind(id).fetch_optional(&mut *self.inner).await?.as_ref().map(account).transpose()
    }

    async fn account_by_native(&mut self, source_id: &str, native_identity: &str) -> Result<Option<AccountRecord>> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE source_id = $1 AND native_identity = $2");
        let row = sqlx::query(&sql).bind(source_id).bind(native_identity).fetch_optional(&mut *self.inner).await?;
        row.as_ref().map(account).transpose()
    }

    async fn accounts_by_ids(&mut self, ids: &[String]) -> Result<Vec<AccountRecord>> {
        let mut found = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            let sql = format!(
                "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id IN ({})",
                placeholders(self.dialect, 1, chunk.len())
            );
            let binds: Vec<Bind> = chunk.iter().map(|id| Bind::Text(id.clone())).collect();
            for row in bind_all(sqlx::query(&sql), &binds).fetch_all(&mut *self.inner).await? {
                found.push(account(&row)?);
            }
        }
        Ok(found)
    }

    async fn accounts_of(&mut self, identity_ids: &[String]) -> Result<Vec<AccountRecord>> {
        let mut found = Vec::new();
        for chunk in identity_ids.chunks(500) {
            let sql = format!(
                "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE identity_id IN ({}) ORDER BY identity_id, source_id, id",
                placeholders(self.dialect, 1, chunk.len())
            );
            let binds: Vec<Bind> = chunk.iter().map(|id| Bind::Text(id.clone())).collect();
            for row in bind_all(sqlx::query(&sql), &binds).fetch_all(&mut *self.inner).await? {
                found.push(account(&row)?);
            }
        }
        Ok(found)
    }

    async fn account_keys(&mut self, source_id: &str, after: &str, limit: i64) -> Result<Vec<AccountKey>> {
        let rows = sqlx::query(
            "SELECT id, native_identity, identity_id, attributes_hash FROM accounts \
             WHERE source_id = $1 AND native_identity > $2 ORDER BY native_identity LIMIT $3",
        )
        .bind(source_id)
        .bind(after)
        .bind(limit)
        .fetch_all(&mut *self.inner)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AccountKey {
                    id: r.try_get("id")?,
                    native_identity: r.try_get("native_identity")?,
                    identity_id: r.try_get("identity_id")?,
                    attributes_hash: r.try_get("attributes_hash")?,
                })
            })
            .collect()
    }

    async fn list_accounts(&mut self, listing: &Listing<'_>) -> Result<(Vec<AccountRecord>, Option<i64>)> {
        let select = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts");
        let (rows, total) = self.list_rows(&ACCOUNTS, &select, "1 = 1", Vec::new(), "name, id", listing).await?;
        Ok((rows.iter().map(account).collect::<Result<_>>()?, total))
    }

    async fn count_accounts(&mut self, source_id: &str) -> Result<i64> {
        Ok(sqlx::query("SELECT COUNT(*) FROM accounts WHERE source_id = $1")
            .bind(source_id)
            .fetch_one(&mut *self.inner)
            .await?
            .try_get(0)?)
    }
}
