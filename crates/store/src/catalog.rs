//! The access catalogue: sources, entitlements, access profiles, roles, identity profiles,
//! lifecycle states and governance groups. Each keeps its whole ISC document, with the fields
//! lists filter and sort on copied into columns.

use serde_json::Value;
use sqlx::Row;
use sqlx::any::AnyRow;
use tessera_model::Timestamp;

use crate::listing::Listing;
use crate::query::{Bind, Column, Field, FieldKind, Op, Resource};
use crate::{Error, Result, Tx, instant};

pub use tessera_model::CatalogKind;

/// The fields a kind's lists filter and sort on.
pub fn resource_of(kind: CatalogKind) -> &'static Resource {
    match kind {
        CatalogKind::Source => &SOURCES,
        CatalogKind::Entitlement => &ENTITLEMENTS,
        CatalogKind::AccessProfile => &ACCESS_PROFILES,
        CatalogKind::Role => &ROLES,
        CatalogKind::IdentityProfile => &IDENTITY_PROFILES,
        CatalogKind::LifecycleState => &LIFECYCLE_STATES,
        CatalogKind::Workgroup => &WORKGROUPS,
    }
}

/// One catalogue object.
#[derive(Debug, Clone, PartialEq)]
pub struct CatalogObject {
    pub kind: CatalogKind,
    pub id: String,
    pub name: String,
    /// Unique among objects of this kind and parent (a name, a technical name, `attribute=value`).
    pub key: String,
    /// The source of an entitlement or access profile, the identity profile of a lifecycle state;
    /// empty otherwise.
    pub parent_id: String,
    pub owner_id: Option<String>,
    pub enabled: bool,
    pub requestable: bool,
    pub document: Value,
    pub created_at: Timestamp,
    pub modified_at: Timestamp,
}

/// The ids a catalogue document lists under `key`, whether as plain ids or as `{"id": …}` references
/// (an access profile's `entitlements`, a role's `accessProfiles`).
pub fn referenced_ids(document: &Value, key: &str) -> Vec<String> {
    document
        .get(key)
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|item| item.as_str().or_else(|| item.get("id").and_then(Value::as_str)))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

const TEXT_OPS: &[Op] = &[Op::Eq, Op::Ne, Op::In, Op::Co, Op::Sw, Op::IsNull, Op::Pr];
const ID_OPS: &[Op] = &[Op::Eq, Op::Ne, Op::In, Op::IsNull, Op::Pr];
const BOOL_OPS: &[Op] = &[Op::Eq, Op::Ne];
const TIME_OPS: &[Op] = &[Op::Eq, Op::Gt, Op::Ge, Op::Lt, Op::Le];

const fn field(name: &'static str, column: &'static str, kind: FieldKind, ops: &'static [Op]) -> Field {
    Field { name, column: Column::Plain(column), kind, ops }
}

const ID: Field = field("id", "id", FieldKind::Text, ID_OPS);
const NAME: Field = field("name", "name", FieldKind::Text, TEXT_OPS);
const OWNER: Field = field("owner.id", "owner_id", FieldKind::Text, ID_OPS);
const CREATED: Field = field("created", "created_at", FieldKind::Timestamp, TIME_OPS);
const MODIFIED: Field = field("modified", "modified_at", FieldKind::Timestamp, TIME_OPS);
const ENABLED: Field = field("enabled", "enabled", FieldKind::Boolean, BOOL_OPS);
const REQUESTABLE: Field = field("requestable", "requestable", FieldKind::Boolean, BOOL_OPS);
const SOURCE: Field = field("source.id", "parent_id", FieldKind::Text, ID_OPS);

static SOURCES: Resource = Resource { fields: &[ID, NAME, OWNER, CREATED, MODIFIED] };
static ENTITLEMENTS: Resource = Resource {
    fields: &[
        ID,
        NAME,
        SOURCE,
        OWNER,
        CREATED,
        MODIFIED,
        REQUESTABLE,
        field("value", "key", FieldKind::Text, TEXT_OPS),
    ],
};
static ACCESS_PROFILES: Resource =
    Resource { fields: &[ID, NAME, SOURCE, OWNER, CREATED, MODIFIED, ENABLED, REQUESTABLE] };
static ROLES: Resource = Resource { fields: &[ID, NAME, OWNER, CREATED, MODIFIED, ENABLED, REQUESTABLE] };
static IDENTITY_PROFILES: Resource = Resource {
    fields: &[
        ID,
        NAME,
        OWNER,
        CREATED,
        MODIFIED,
        field("authoritativeSource.id", "parent_id", FieldKind::Text, ID_OPS),
    ],
};
static LIFECYCLE_STATES: Resource = Resource {
    fields: &[ID, NAME, CREATED, MODIFIED, ENABLED, field("technicalName", "key", FieldKind::Text, TEXT_OPS)],
};
static WORKGROUPS: Resource = Resource { fields: &[ID, NAME, OWNER, CREATED, MODIFIED] };

fn object(row: &AnyRow) -> Result<CatalogObject> {
    let kind: String = row.try_get("kind")?;
    let kind = [
        CatalogKind::Source,
        CatalogKind::Entitlement,
        CatalogKind::AccessProfile,
        CatalogKind::Role,
        CatalogKind::IdentityProfile,
        CatalogKind::LifecycleState,
        CatalogKind::Workgroup,
    ]
    .into_iter()
    .find(|k| k.as_str() == kind)
    .ok_or_else(|| Error::NotFound(format!("catalogue kind {kind}")))?;
    Ok(CatalogObject {
        kind,
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        key: row.try_get("key")?,
        parent_id: row.try_get("parent_id")?,
        owner_id: row.try_get("owner_id")?,
        enabled: row.try_get::<i64, _>("enabled")? != 0,
        requestable: row.try_get::<i64, _>("requestable")? != 0,
        document: serde_json::from_str(&row.try_get::<String, _>("document")?)?,
        created_at: instant(row, "created_at")?,
        modified_at: instant(row, "modified_at")?,
    })
}

const SELECT: &str = "SELECT kind, id, name, key, parent_id, owner_id, enabled, requestable, document, created_at, \
                      modified_at FROM catalog";

/// Reads and writes catalogue objects.
#[allow(async_fn_in_trait)]
pub trait CatalogStore {
    /// Adds an object; [`Error::Conflict`] when its key is taken.
    async fn insert_object(&mut self, object: &CatalogObject) -> Result<()>;
    /// Replaces an object's fields; false when there is none with its id.
    async fn update_object(&mut self, object: &CatalogObject) -> Result<bool>;
    /// Removes an object; false when there was none.
    async fn delete_object(&mut self, kind: CatalogKind, id: &str) -> Result<bool>;
    async fn object(&mut self, kind: CatalogKind, id: &str) -> Result<Option<CatalogObject>>;
    /// Holds the object's row until the transaction ends, so that a read-modify-write made under it
    /// is not interleaved with another node's (PostgreSQL's row lock; SQLite's single writer already
    /// serialises transactions). False when there is no such object.
    async fn lock_object(&mut self, kind: CatalogKind, id: &str) -> Result<bool>;
    /// The object of this kind whose name (case-insensitively) or id is `name_or_id`.
    async fn object_named(&mut self, kind: CatalogKind, name_or_id: &str) -> Result<Option<CatalogObject>>;
    async fn objects_by_ids(&mut self, kind: CatalogKind, ids: &[String]) -> Result<Vec<CatalogObject>>;
    /// Every object of this kind under `parent_id`, by name.
    async fn objects_of(&mut self, kind: CatalogKind, parent_id: &str) -> Result<Vec<CatalogObject>>;
    /// Every object of this kind, by name.
    async fn all_objects(&mut self, kind: CatalogKind) -> Result<Vec<CatalogObject>>;
    /// A page of objects of this kind under `parent_id` (or any parent when `None`).
    async fn list_objects(
        &mut self,
        kind: CatalogKind,
        parent_id: Option<&str>,
        listing: &Listing<'_>,
    ) -> Result<(Vec<CatalogObject>, Option<i64>)>;
}

fn conflict(error: sqlx::Error, object: &CatalogObject) -> Error {
    match &error {
        sqlx::Error::Database(db) if db.is_unique_violation() => Error::Conflict(format!(
            "a {} with the {} `{}` already exists",
            object.kind.as_str().to_lowercase().replace('_', " "),
            if object.kind == CatalogKind::LifecycleState { "technical name" } else { "name" },
            object.key
        )),
        _ => Error::Database(error),
    }
}

impl CatalogStore for Tx {
    async fn insert_object(&mut self, o: &CatalogObject) -> Result<()> {
        sqlx::query(
            "INSERT INTO catalog (kind, id, name, key, parent_id, owner_id, enabled, requestable, document, created_at, \
             modified_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(o.kind.as_str())
        .bind(&o.id)
        .bind(&o.name)
        .bind(o.key.to_lowercase())
        .bind(&o.parent_id)
        .bind(o.owner_id.as_deref())
        .bind(i64::from(o.enabled))
        .bind(i64::from(o.requestable))
        .bind(o.document.to_string())
        .bind(o.created_at.millis())
        .bind(o.modified_at.millis())
        .execute(&mut *self.inner)
        .await
        .map_err(|e| conflict(e, o))?;
        Ok(())
    }

    async fn update_object(&mut self, o: &CatalogObject) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE catalog SET name = $3, key = $4, parent_id = $5, owner_id = $6, enabled = $7, requestable = $8, \
             document = $9, modified_at = $10 WHERE kind = $1 AND id = $2",
        )
        .bind(o.kind.as_str())
        .bind(&o.id)
        .bind(&o.name)
        .bind(o.key.to_lowercase())
        .bind(&o.parent_id)
        .bind(o.owner_id.as_deref())
        .bind(i64::from(o.enabled))
        .bind(i64::from(o.requestable))
        .bind(o.document.to_string())
        .bind(o.modified_at.millis())
        .execute(&mut *self.inner)
        .await
        .map_err(|e| conflict(e, o))?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_object(&mut self, kind: CatalogKind, id: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM catalog WHERE kind = $1 AND id = $2")
            .bind(kind.as_str())
            .bind(id)
            .execute(&mut *self.inner)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn object(&mut self, kind: CatalogKind, id: &str) -> Result<Option<CatalogObject>> {
        let sql = format!("{SELECT} WHERE kind = $1 AND id = $2");
        sqlx::query(&sql)
            .bind(kind.as_str())
            .bind(id)
            .fetch_optional(&mut *self.inner)
            .await?
            .as_ref()
            .map(object)
            .transpose()
    }

    async fn lock_object(&mut self, kind: CatalogKind, id: &str) -> Result<bool> {
        let sql = format!("SELECT id FROM catalog WHERE kind = $1 AND id = $2{}", self.for_update());
        let row = sqlx::query(&sql).bind(kind.as_str()).bind(id).fetch_optional(&mut *self.inner).await?;
        Ok(row.is_some())
    }

    async fn object_named(&mut self, kind: CatalogKind, name_or_id: &str) -> Result<Option<CatalogObject>> {
        let sql = format!("{SELECT} WHERE kind = $1 AND (id = $2 OR LOWER(name) = LOWER($2)) ORDER BY id LIMIT 1");
        sqlx::query(&sql)
            .bind(kind.as_str())
            .bind(name_or_id)
            .fetch_optional(&mut *self.inner)
            .await?
            .as_ref()
            .map(object)
            .transpose()
    }

    async fn objects_by_ids(&mut self, kind: CatalogKind, ids: &[String]) -> Result<Vec<CatalogObject>> {
        let mut found = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            let marks: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
            let sql = format!("{SELECT} WHERE kind = $1 AND id IN ({}) ORDER BY name, id", marks.join(", "));
            let mut query = sqlx::query(&sql).bind(kind.as_str());
            for id in chunk {
                query = query.bind(id.as_str());
            }
            for row in query.fetch_all(&mut *self.inner).await? {
                found.push(object(&row)?);
            }
        }
        Ok(found)
    }

    async fn objects_of(&mut self, kind: CatalogKind, parent_id: &str) -> Result<Vec<CatalogObject>> {
        let sql = format!("{SELECT} WHERE kind = $1 AND parent_id = $2 ORDER BY name, id");
        sqlx::query(&sql)
            .bind(kind.as_str())
            .bind(parent_id)
            .fetch_all(&mut *self.inner)
            .await?
            .iter()
            .map(object)
            .collect()
    }

    async fn all_objects(&mut self, kind: CatalogKind) -> Result<Vec<CatalogObject>> {
        let sql = format!("{SELECT} WHERE kind = $1 ORDER BY name, id");
        sqlx::query(&sql).bind(kind.as_str()).fetch_all(&mut *self.inner).await?.iter().map(object).collect()
    }

    async fn list_objects(
        &mut self,
        kind: CatalogKind,
        parent_id: Option<&str>,
        listing: &Listing<'_>,
    ) -> Result<(Vec<CatalogObject>, Option<i64>)> {
        let mut binds = vec![Bind::Text(kind.as_str().to_owned())];
        let mut fixed = "kind = $1".to_owned();
        if let Some(parent) = parent_id {
            binds.push(Bind::Text(parent.to_owned()));
            fixed.push_str(" AND parent_id = $2");
        }
        let (rows, total) = self.list_rows(resource_of(kind), SELECT, &fixed, binds, "name, id", listing).await?;
        Ok((rows.iter().map(object).collect::<Result<_>>()?, total))
    }
}
