//! Workflow definitions as immutable versions: every edit is a new version, executions name the
//! version they run, and deleting a workflow keeps its versions for the executions still using them.

use serde_json::Value;
use sqlx::Row;
use sqlx::any::AnyRow;
use tessera_model::{Timestamp, WorkflowId};

use crate::{Result, Tx, instant};

/// A workflow and its latest version's document.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkflowRecord {
    pub id: WorkflowId,
    pub name: String,
    pub latest_version: i64,
    pub enabled: bool,
    pub trace: bool,
    pub created_at: Timestamp,
    pub modified_at: Timestamp,
    pub creator: String,
    pub document: Value,
}

/// One version of a workflow's definition.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkflowVersion {
    pub workflow_id: WorkflowId,
    pub version: i64,
    pub document: Value,
    pub created_at: Timestamp,
    pub author: String,
    pub note: String,
}

/// Reads and writes workflows and their versions.
// The futures are used on concrete types, where auto traits are known; no `Send` bound is needed.
#[allow(async_fn_in_trait)]
pub trait WorkflowStore {
    /// Creates a workflow at version 1.
    async fn insert_workflow(&mut self, record: &WorkflowRecord, note: &str) -> Result<()>;
    /// Adds a version with `document` (and the name it carries); returns its number.
    async fn add_version(
        &mut self,
        id: &str,
        name: &str,
        document: &Value,
        author: &str,
        note: &str,
        now: Timestamp,
    ) -> Result<i64>;
    /// Enables or disables the workflow, and turns its trace on or off.
    async fn set_flags(&mut self, id: &str, enabled: bool, trace: bool, now: Timestamp) -> Result<()>;
    /// The workflow with its latest document, unless deleted.
    async fn workflow(&mut self, id: &str) -> Result<Option<WorkflowRecord>>;
    /// [`WorkflowStore::workflow`], its row held for this transaction where the database has row
    /// locks, so a read-modify-write of it loses no concurrent change.
    async fn lock_workflow(&mut self, id: &str) -> Result<Option<WorkflowRecord>>;
    /// Workflows by creation, newest first, with the total.
    async fn list_workflows(&mut self, limit: i64, offset: i64) -> Result<(Vec<WorkflowRecord>, i64)>;
    /// Every enabled workflow (for trigger matching).
    async fn enabled_workflows(&mut self) -> Result<Vec<WorkflowRecord>>;
    /// One version, deleted workflows included (their executions still need it).
    async fn version(&mut self, id: &str, version: i64) -> Result<Option<WorkflowVersion>>;
    /// Every version, oldest first.
    async fn versions(&mut self, id: &str) -> Result<Vec<WorkflowVersion>>;
    /// Marks the workflow deleted and disabled; returns whether it existed.
    async fn delete_workflow(&mut self, id: &str, now: Timestamp) -> Result<bool>;
    /// Every stored version's document, deleted workflows' included: (workflow, version, document).
    async fn all_version_documents(&mut self) -> Result<Vec<(String, i64, Value)>>;
    /// Rewrites a stored version's document in place. Versions never change in meaning; this is only
    /// for sealing the credentials written into them (a document equal but for its sealed secrets).
    async fn replace_version_document(&mut self, id: &str, version: i64, document: &Value) -> Result<()>;
    /// Rewrites each history entry of the workflow's executions through `history`, and each of their
    /// queued tasks' payloads through `tasks`; returns how many changed.
    async fn rewrite_history(
        &mut self,
        id: &str,
        history: &(dyn Fn(&Value) -> Value + Sync),
        tasks: &(dyn Fn(&Value) -> Value + Sync),
    ) -> Result<usize>;
}

const SELECT: &str = "SELECT w.id, w.name, w.latest_version, w.enabled, w.trace, w.created_at, w.modified_at, w.creator, \
     v.document FROM workflows w JOIN workflow_versions v ON v.workflow_id = w.id AND v.version = w.latest_version";

fn record(row: &AnyRow) -> Result<WorkflowRecord> {
    Ok(WorkflowRecord {
        id: row.try_get::<String, _>("id")?.into(),
        name: row.try_get("name")?,
        latest_version: row.try_get("latest_version")?,
        enabled: row.try_get::<i64, _>("enabled")? != 0,
        trace: row.try_get::<i64, _>("trace")? != 0,
        created_at: instant(row, "created_at")?,
        modified_at: instant(row, "modified_at")?,
        creator: row.try_get("creator")?,
        document: serde_json::from_str(&row.try_get::<String, _>("document")?)?,
    })
}

fn version(row: &AnyRow) -> Result<WorkflowVersion> {
    Ok(WorkflowVersion {
        workflow_id: row.try_get::<String, _>("workflow_id")?.into(),
        version: row.try_get("version")?,
        document: serde_json::from_str(&row.try_get::<String, _>("document")?)?,
        created_at: instant(row, "created_at")?,
        author: row.try_get("author")?,
        note: row.try_get("note")?,
    })
}

impl WorkflowStore for Tx {
    async fn insert_workflow(&mut self, r: &WorkflowRecord, note: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO workflows (id, name, latest_version, enabled, trace, created_at, modified_at, creator) \
             VALUES ($1, $2, 1, $3, $4, $5, $5, $6)",
        )
        .bind(r.id.as_str())
        .bind(&r.name)
        .bind(i64::from(r.enabled))
        .bind(i64::from(r.trace))
        .bind(r.created_at.millis())
        .bind(&r.creator)
        .execute(&mut *self.inner)
        .await?;
        sqlx::query(
            "INSERT INTO workflow_versions (workflow_id, version, document, created_at, author, note) VALUES ($1, 1, $2, $3, $4, $5)",
        )
        .bind(r.id.as_str())
        .bind(r.document.to_string())
        .bind(r.created_at.millis())
        .bind(&r.creator)
        .bind(note)
        .execute(&mut *self.inner)
        .await?;
        Ok(())
    }

    async fn add_version(
        &mut self,
        id: &str,
        name: &str,
        document: &Value,
        author: &str,
        note: &str,
        now: Timestamp,
    ) -> Result<i64> {
        let sql = format!("SELECT latest_version FROM workflows WHERE id = $1 AND deleted = 0{}", self.for_update());
        let row = sqlx::query(&sql).bind(id).fetch_optional(&mut *self.inner).await?;
        let latest: i64 = row.ok_or_else(|| crate::Error::NotFound(format!("workflow {id}")))?.try_get(0)?;
        let next = latest + 1;
        sqlx::query(
            "INSERT INTO workflow_versions (workflow_id, version, document, created_at, author, note) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id)
        .bind(next)
        .bind(document.to_string())
        .bind(now.millis())
        .bind(author)
        .bind(note)
        .execute(&mut *self.inner)
        .await?;
        sqlx::query("UPDATE workflows SET latest_version = $1, name = $2, modified_at = $3 WHERE id = $4")
            .bind(next)
            .bind(name)
            .bind(now.millis())
            .bind(id)
            .execute(&mut *self.inner)
            .await?;
        Ok(next)
    }

    async fn set_flags(&mut self, id: &str, enabled: bool, trace: bool, now: Timestamp) -> Result<()> {
        sqlx::query("UPDATE workflows SET enabled = $1, trace = $2, modified_at = $3 WHERE id = $4 AND deleted = 0")
            .bind(i64::from(enabled))
            .bind(i64::from(trace))
            .bind(now.millis())
            .bind(id)
            .execute(&mut *self.inner)
            .await?;
        Ok(())
    }

    async fn workflow(&mut self, id: &str) -> Result<Option<WorkflowRecord>> {
        let sql = format!("{SELECT} WHERE w.id = $1 AND w.deleted = 0");
        sqlx::query(&sql).bind(id).fetch_optional(&mut *self.inner).await?.as_ref().map(record).transpose()
    }

    async fn lock_workflow(&mut self, id: &str) -> Result<Option<WorkflowRecord>> {
        let sql = format!("SELECT id FROM workflows WHERE id = $1 AND deleted = 0{}", self.for_update());
        if sqlx::query(&sql).bind(id).fetch_optional(&mut *self.inner).await?.is_none() {
            return Ok(None);
        }
        self.workflow(id).await
    }

    async fn list_workflows(&mut self, limit: i64, offset: i64) -> Result<(Vec<WorkflowRecord>, i64)> {
        let sql = format!("{SELECT} WHERE w.deleted = 0 ORDER BY w.created_at DESC, w.id LIMIT $1 OFFSET $2");
        let rows = sqlx::query(&sql).bind(limit).bind(offset).fetch_all(&mut *self.inner).await?;
        let total: i64 = sqlx::query("SELECT COUNT(*) FROM workflows WHERE deleted = 0")
            .fetch_one(&mut *self.inner)
            .await?
            .try_get(0)?;
        Ok((rows.iter().map(record).collect::<Result<_>>()?, total))
    }

    async fn enabled_workflows(&mut self) -> Result<Vec<WorkflowRecord>> {
        let sql = format!("{SELECT} WHERE w.deleted = 0 AND w.enabled = 1 ORDER BY w.id");
        sqlx::query(&sql).fetch_all(&mut *self.inner).await?.iter().map(record).collect()
    }

    async fn version(&mut self, id: &str, number: i64) -> Result<Option<WorkflowVersion>> {
        sqlx::query("SELECT * FROM workflow_versions WHERE workflow_id = $1 AND version = $2")
            .bind(id)
            .bind(number)
            .fetch_optional(&mut *self.inner)
            .await?
            .as_ref()
            .map(version)
            .transpose()
    }

    async fn versions(&mut self, id: &str) -> Result<Vec<WorkflowVersion>> {
        sqlx::query("SELECT * FROM workflow_versions WHERE workflow_id = $1 ORDER BY version")
            .bind(id)
            .fetch_all(&mut *self.inner)
            .await?
            .iter()
            .map(version)
            .collect()
    }

    async fn delete_workflow(&mut self, id: &str, now: Timestamp) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE workflows SET deleted = 1, enabled = 0, modified_at = $1 WHERE id = $2 AND deleted = 0",
        )
        .bind(now.millis())
        .bind(id)
        .execute(&mut *self.inner)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn all_version_documents(&mut self) -> Result<Vec<(String, i64, Value)>> {
        let rows =
            sqlx::query("SELECT workflow_id, version, document FROM workflow_versions ORDER BY workflow_id, version")
                .fetch_all(&mut *self.inner)
                .await?;
        rows.iter()
            .map(|row| {
                let document: String = row.try_get("document")?;
                Ok((row.try_get("workflow_id")?, row.try_get("version")?, serde_json::from_str(&document)?))
            })
            .collect()
    }

    async fn replace_version_document(&mut self, id: &str, version: i64, document: &Value) -> Result<()> {
        sqlx::query("UPDATE workflow_versions SET document = $1 WHERE workflow_id = $2 AND version = $3")
            .bind(document.to_string())
            .bind(id)
            .bind(version)
            .execute(&mut *self.inner)
            .await?;
        Ok(())
    }

    async fn rewrite_history(
        &mut self,
        id: &str,
        history: &(dyn Fn(&Value) -> Value + Sync),
        tasks: &(dyn Fn(&Value) -> Value + Sync),
    ) -> Result<usize> {
        let entries = sqlx::query(
            "SELECT h.execution_id, h.seq, h.entry FROM execution_history h \
             JOIN executions e ON e.id = h.execution_id WHERE e.workflow_id = $1",
        )
        .bind(id)
        .fetch_all(&mut *self.inner)
        .await?;
        let mut changed = 0;
        for row in &entries {
            let text: String = row.try_get("entry")?;
            let entry: Value = serde_json::from_str(&text)?;
            let scrubbed = history(&entry);
            if scrubbed != entry {
                sqlx::query("UPDATE execution_history SET entry = $1 WHERE execution_id = $2 AND seq = $3")
                    .bind(scrubbed.to_string())
                    .bind(row.try_get::<String, _>("execution_id")?)
                    .bind(row.try_get::<i64, _>("seq")?)
                    .execute(&mut *self.inner)
                    .await?;
                changed += 1;
            }
        }
        let queued = sqlx::query(
            "SELECT t.id, t.payload FROM tasks t JOIN executions e ON e.id = t.execution_id WHERE e.workflow_id = $1",
        )
        .bind(id)
        .fetch_all(&mut *self.inner)
        .await?;
        for row in &queued {
            let text: String = row.try_get("payload")?;
            let payload: Value = serde_json::from_str(&text)?;
            let scrubbed = tasks(&payload);
            if scrubbed != payload {
                sqlx::query("UPDATE tasks SET payload = $1 WHERE id = $2")
                    .bind(scrubbed.to_string())
                    .bind(row.try_get::<String, _>("id")?)
                    .execute(&mut *self.inner)
                    .await?;
                changed += 1;
            }
        }
        Ok(changed)
    }
}
