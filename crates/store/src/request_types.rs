//! Okta-style request types: teams and their members, configuration lists, request type definitions
//! (with what they name, so a team or list in use cannot be deleted), and the requests raised from
//! them (in `requests`).

use serde_json::Value;
use sqlx::Row;
use sqlx::any::AnyRow;
use tessera_model::Timestamp;

use crate::{Error, Result, Tx, instant};

mod requests;

pub use requests::{RequestFilter, RequestStepRecord, StepEnd, TimelineEntry, TypeRequestRecord, TypeRequestStore};

/// A team member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamMember {
    pub identity_id: String,
    pub admin: bool,
}

/// A team: members who own request types and lists, and are assigned their requests.
#[derive(Debug, Clone, PartialEq)]
pub struct TeamRecord {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    /// `ADMINS` or `MEMBERS`: who may edit what the team owns.
    pub editors: String,
    /// In the order given.
    pub members: Vec<TeamMember>,
    pub created_at: Timestamp,
    pub modified_at: Timestamp,
}

/// A configuration list.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigListRecord {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub team_id: String,
    /// `CUSTOM`, `SOURCES`, `ENTITLEMENTS`, `ACCESS_PROFILES` or `ROLES`.
    pub list_type: String,
    /// `{"sourceId", "requestable"}` for a catalogue list; null otherwise.
    pub filter: Value,
    /// `[{"id", "value", "label"}]` for a CUSTOM list; `[]` otherwise.
    pub items: Value,
    pub created_at: Timestamp,
    pub modified_at: Timestamp,
}

/// A request type definition.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestTypeRecord {
    pub id: String,
    pub name: String,
    pub team_id: String,
    /// `DRAFT` or `PUBLISHED`.
    pub status: String,
    /// The definition as submitted (description, audience, questions, steps), checked.
    pub definition: Value,
    pub created_at: Timestamp,
    pub modified_at: Timestamp,
}

/// Something a request type names: `("TEAM", id)` or `("LIST", id)`.
pub type TypeRef = (&'static str, String);

const TEAM_COLUMNS: &str = "id, name, description, editors, created_at, modified_at";
const LIST_COLUMNS: &str = "id, name, description, team_id, list_type, filter, items, created_at, modified_at";
const TYPE_COLUMNS: &str = "id, name, team_id, status, definition, created_at, modified_at";
fn json(row: &AnyRow, column: &str) -> Result<Value> {
    let text: Option<String> = row.try_get(column)?;
    Ok(match text {
        Some(text) => serde_json::from_str(&text)?,
        None => Value::Null,
    })
}

fn team(row: &AnyRow) -> Result<TeamRecord> {
    Ok(TeamRecord {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        editors: row.try_get("editors")?,
        members: Vec::new(),
        created_at: instant(row, "created_at")?,
        modified_at: instant(row, "modified_at")?,
    })
}

fn list(row: &AnyRow) -> Result<ConfigListRecord> {
    Ok(ConfigListRecord {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        team_id: row.try_get("team_id")?,
        list_type: row.try_get("list_type")?,
        filter: json(row, "filter")?,
        items: json(row, "items")?,
        created_at: instant(row, "created_at")?,
        modified_at: instant(row, "modified_at")?,
    })
}

fn request_type(row: &AnyRow) -> Result<RequestTypeRecord> {
    Ok(RequestTypeRecord {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        team_id: row.try_get("team_id")?,
        status: row.try_get("status")?,
        definition: json(row, "definition")?,
        created_at: instant(row, "created_at")?,
        modified_at: instant(row, "modified_at")?,
    })
}

/// A taken unique name is a conflict that names it.
fn named_conflict(error: sqlx::Error, what: &str, name: &str) -> Error {
    match &error {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            Error::Conflict(format!("a {what} named `{name}` already exists"))
        }
        _ => Error::Database(error),
    }
}

/// Reads and writes teams, configuration lists and request types.
#[allow(async_fn_in_trait)]
pub trait RequestTypeStore {
    /// Stores a new team with its members; a taken name is a [`Error::Conflict`].
    async fn insert_team(&mut self, team: &TeamRecord) -> Result<()>;
    /// Replaces a team's fields and members; false when there is none with its id.
    async fn update_team(&mut self, team: &TeamRecord) -> Result<bool>;
    async fn delete_team(&mut self, id: &str) -> Result<bool>;
    async fn team(&mut self, id: &str) -> Result<Option<TeamRecord>>;
    /// Every team, by name.
    async fn teams(&mut self) -> Result<Vec<TeamRecord>>;
    /// The ids of the teams `identity_id` belongs to.
    async fn teams_of(&mut self, identity_id: &str) -> Result<Vec<String>>;
    /// The names of the lists and request types that name a team, as `("list" | "request type", name)`.
    async fn team_users(&mut self, id: &str) -> Result<Vec<(String, String)>>;

    /// Stores a new list; a taken name is a [`Error::Conflict`].
    async fn insert_config_list(&mut self, list: &ConfigListRecord) -> Result<()>;
    async fn update_config_list(&mut self, list: &ConfigListRecord) -> Result<bool>;
    async fn delete_config_list(&mut self, id: &str) -> Result<bool>;
    async fn config_list(&mut self, id: &str) -> Result<Option<ConfigListRecord>>;
    async fn config_lists(&mut self) -> Result<Vec<ConfigListRecord>>;
    /// The names of the request types whose questions draw on a list.
    async fn config_list_users(&mut self, id: &str) -> Result<Vec<String>>;

    /// Stores a new request type and what it names.
    async fn insert_request_type(&mut self, record: &RequestTypeRecord, refs: &[TypeRef]) -> Result<()>;
    /// Replaces a request type (name, team, status, definition) and what it names.
    async fn update_request_type(&mut self, record: &RequestTypeRecord, refs: &[TypeRef]) -> Result<bool>;
    async fn delete_request_type(&mut self, id: &str) -> Result<bool>;
    async fn request_type(&mut self, id: &str) -> Result<Option<RequestTypeRecord>>;
    async fn request_types(&mut self) -> Result<Vec<RequestTypeRecord>>;
}

impl Tx {
    async fn members_of(&mut self, team_id: &str) -> Result<Vec<TeamMember>> {
        let rows = sqlx::query("SELECT identity_id, admin FROM team_members WHERE team_id = $1 ORDER BY position")
            .bind(team_id)
            .fetch_all(&mut *self.inner)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(TeamMember { identity_id: r.try_get("identity_id")?, admin: r.try_get::<i64, _>("admin")? != 0 })
            })
            .collect()
    }

    async fn write_members(&mut self, team: &TeamRecord) -> Result<()> {
        sqlx::query("DELETE FROM team_members WHERE team_id = $1")
            .bind(team.id.as_str())
            .execute(&mut *self.inner)
            .await?;
        for (position, member) in team.members.iter().enumerate() {
            sqlx::query("INSERT INTO team_members (team_id, identity_id, admin, position) VALUES ($1, $2, $3, $4)")
                .bind(team.id.as_str())
                .bind(member.identity_id.as_str())
                .bind(i64::from(member.admin))
                .bind(position as i64)
                .execute(&mut *self.inner)
                .await?;
        }
        Ok(())
    }

    async fn write_refs(&mut self, request_type_id: &str, refs: &[TypeRef]) -> Result<()> {
        sqlx::query("DELETE FROM request_type_refs WHERE request_type_id = $1")
            .bind(request_type_id)
            .execute(&mut *self.inner)
            .await?;
        for (kind, id) in refs {
            sqlx::query(
                "INSERT INTO request_type_refs (request_type_id, ref_kind, ref_id) VALUES ($1, $2, $3) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(request_type_id)
            .bind(*kind)
            .bind(id.as_str())
            .execute(&mut *self.inner)
            .await?;
        }
        Ok(())
    }

    async fn with_members(&mut self, rows: Vec<AnyRow>) -> Result<Vec<TeamRecord>> {
        let mut teams = Vec::with_capacity(rows.len());
        for row in &rows {
            let mut t = team(row)?;
            t.members = self.members_of(&t.id).await?;
            teams.push(t);
        }
        Ok(teams)
    }
}

impl RequestTypeStore for Tx {
    async fn insert_team(&mut self, t: &TeamRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO teams (id, name, description, editors, created_at, modified_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(t.id.as_str())
        .bind(t.name.as_str())
        .bind(t.description.as_deref())
        .bind(t.editors.as_str())
        .bind(t.created_at.millis())
        .bind(t.modified_at.millis())
        .execute(&mut *self.inner)
        .await
        .map_err(|e| named_conflict(e, "team", &t.name))?;
        self.write_members(t).await
    }

    async fn update_team(&mut self, t: &TeamRecord) -> Result<bool> {
        let done =
            sqlx::query("UPDATE teams SET name = $2, description = $3, editors = $4, modified_at = $5 WHERE id = $1")
                .bind(t.id.as_str())
                .bind(t.name.as_str())
                .bind(t.description.as_deref())
                .bind(t.editors.as_str())
                .bind(t.modified_at.millis())
                .execute(&mut *self.inner)
                .await
                .map_err(|e| named_conflict(e, "team", &t.name))?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        self.write_members(t).await?;
        Ok(true)
    }

    async fn delete_team(&mut self, id: &str) -> Result<bool> {
        sqlx::query("DELETE FROM team_members WHERE team_id = $1").bind(id).execute(&mut *self.inner).await?;
        let done = sqlx::query("DELETE FROM teams WHERE id = $1").bind(id).execute(&mut *self.inner).await?;
        Ok(done.rows_affected() == 1)
    }

    async fn team(&mut self, id: &str) -> Result<Option<TeamRecord>> {
        let sql = format!("SELECT {TEAM_COLUMNS} FROM teams WHERE id = $1");
        let rows = sqlx::query(&sql).bind(id).fetch_all(&mut *self.inner).await?;
        Ok(self.with_members(rows).await?.pop())
    }

    async fn teams(&mut self) -> Result<Vec<TeamRecord>> {
        let sql = format!("SELECT {TEAM_COLUMNS} FROM teams ORDER BY name, id");
        let rows = sqlx::query(&sql).fetch_all(&mut *self.inner).await?;
        self.with_members(rows).await
    }

    async fn teams_of(&mut self, identity_id: &str) -> Result<Vec<String>> {
        let rows = sqlx::query("SELECT team_id FROM team_members WHERE identity_id = $1 ORDER BY team_id")
            .bind(identity_id)
            .fetch_all(&mut *self.inner)
            .await?;
        rows.iter().map(|r| Ok(r.try_get("team_id")?)).collect()
    }

    async fn team_users(&mut self, id: &str) -> Result<Vec<(String, String)>> {
        let rows = sqlx::query(
            "SELECT 'configuration list' AS what, name FROM configuration_lists WHERE team_id = $1 \
             UNION ALL SELECT 'request type' AS what, t.name FROM request_types t \
             WHERE t.team_id = $1 OR t.id IN (SELECT request_type_id FROM request_type_refs \
             WHERE ref_kind = 'TEAM' AND ref_id = $1) ORDER BY what, name",
        )
        .bind(id)
        .fetch_all(&mut *self.inner)
        .await?;
        rows.iter().map(|r| Ok((r.try_get("what")?, r.try_get("name")?))).collect()
    }

    async fn insert_config_list(&mut self, l: &ConfigListRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO configuration_lists (id, name, description, team_id, list_type, filter, items, created_at, \
             modified_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(l.id.as_str())
        .bind(l.name.as_str())
        .bind(l.description.as_deref())
        .bind(l.team_id.as_str())
        .bind(l.list_type.as_str())
        .bind((!l.filter.is_null()).then(|| l.filter.to_string()))
        .bind(l.items.to_string())
        .bind(l.created_at.millis())
        .bind(l.modified_at.millis())
        .execute(&mut *self.inner)
        .await
        .map_err(|e| named_conflict(e, "configuration list", &l.name))?;
        Ok(())
    }

    async fn update_config_list(&mut self, l: &ConfigListRecord) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE configuration_lists SET name = $2, description = $3, team_id = $4, list_type = $5, filter = $6, \
             items = $7, modified_at = $8 WHERE id = $1",
        )
        .bind(l.id.as_str())
        .bind(l.name.as_str())
        .bind(l.description.as_deref())
        .bind(l.team_id.as_str())
        .bind(l.list_type.as_str())
        .bind((!l.filter.is_null()).then(|| l.filter.to_string()))
        .bind(l.items.to_string())
        .bind(l.modified_at.millis())
        .execute(&mut *self.inner)
        .await
        .map_err(|e| named_conflict(e, "configuration list", &l.name))?;
        Ok(done.rows_affected() == 1)
    }

    async fn delete_config_list(&mut self, id: &str) -> Result<bool> {
        let done =
            sqlx::query("DELETE FROM configuration_lists WHERE id = $1").bind(id).execute(&mut *self.inner).await?;
        Ok(done.rows_affected() == 1)
    }

    async fn config_list(&mut self, id: &str) -> Result<Option<ConfigListRecord>> {
        let sql = format!("SELECT {LIST_COLUMNS} FROM configuration_lists WHERE id = $1");
        let row = sqlx::query(&sql).bind(id).fetch_optional(&mut *self.inner).await?;
        row.as_ref().map(list).transpose()
    }

    async fn config_lists(&mut self) -> Result<Vec<ConfigListRecord>> {
        let sql = format!("SELECT {LIST_COLUMNS} FROM configuration_lists ORDER BY name, id");
        let rows = sqlx::query(&sql).fetch_all(&mut *self.inner).await?;
        rows.iter().map(list).collect()
    }

    async fn config_list_users(&mut self, id: &str) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT t.name FROM request_types t JOIN request_type_refs r ON r.request_type_id = t.id \
             WHERE r.ref_kind = 'LIST' AND r.ref_id = $1 ORDER BY t.name",
        )
        .bind(id)
        .fetch_all(&mut *self.inner)
        .await?;
        rows.iter().map(|r| Ok(r.try_get("name")?)).collect()
    }

    async fn insert_request_type(&mut self, t: &RequestTypeRecord, refs: &[TypeRef]) -> Result<()> {
        sqlx::query(
            "INSERT INTO request_types (id, name, team_id, status, definition, created_at, modified_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(t.id.as_str())
        .bind(t.name.as_str())
        .bind(t.team_id.as_str())
        .bind(t.status.as_str())
        .bind(t.definition.to_string())
        .bind(t.created_at.millis())
        .bind(t.modified_at.millis())
        .execute(&mut *self.inner)
        .await
        .map_err(|e| named_conflict(e, "request type", &t.name))?;
        self.write_refs(&t.id, refs).await
    }

    async fn update_request_type(&mut self, t: &RequestTypeRecord, refs: &[TypeRef]) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE request_types SET name = $2, team_id = $3, status = $4, definition = $5, modified_at = $6 \
             WHERE id = $1",
        )
        .bind(t.id.as_str())
        .bind(t.name.as_str())
        .bind(t.team_id.as_str())
        .bind(t.status.as_str())
        .bind(t.definition.to_string())
        .bind(t.modified_at.millis())
        .execute(&mut *self.inner)
        .await
        .map_err(|e| named_conflict(e, "request type", &t.name))?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        self.write_refs(&t.id, refs).await?;
        Ok(true)
    }

    async fn delete_request_type(&mut self, id: &str) -> Result<bool> {
        self.write_refs(id, &[]).await?;
        let done = sqlx::query("DELETE FROM request_types WHERE id = $1").bind(id).execute(&mut *self.inner).await?;
        Ok(done.rows_affected() == 1)
    }

    async fn request_type(&mut self, id: &str) -> Result<Option<RequestTypeRecord>> {
        let sql = format!("SELECT {TYPE_COLUMNS} FROM request_types WHERE id = $1");
        let row = sqlx::query(&sql).bind(id).fetch_optional(&mut *self.inner).await?;
        row.as_ref().map(request_type).transpose()
    }

    async fn request_types(&mut self) -> Result<Vec<RequestTypeRecord>> {
        let sql = format!("SELECT {TYPE_COLUMNS} FROM request_types ORDER BY name, id");
        let rows = sqlx::query(&sql).fetch_all(&mut *self.inner).await?;
        rows.iter().map(request_type).collect()
    }
}
