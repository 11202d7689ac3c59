//! Workflows as a service: creating one, changing it (a new version when its document differs, its
//! flags otherwise), rolling it back, deleting it, testing it, and cancelling an execution. Each is
//! checked, has its credentials sealed, and is written with its audit entry in one transaction,
//! the workflow's row held while it is read and changed. The edge only reads requests and shapes
//! answers.

use serde_json::{Value, json};
use tessera_flow::Workflow;
use tessera_model::ExecutionStatus;
use tessera_store::{ExecutionStore, SecurityStore, Tx, WorkflowRecord, WorkflowStore};

use crate::secrets::{self, SealError};
use crate::{Engine, Error, Result};

/// A workflow as a person sends it: its document (without the fields the server owns) and, when
/// given, its flags.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkflowDraft {
    pub document: Value,
    pub enabled: Option<bool>,
    pub trace: Option<bool>,
}

/// How a cancellation went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cancelled {
    /// The execution stops at its next step boundary.
    Now,
    /// It had already ended so.
    AlreadyEnded(ExecutionStatus),
}

/// Why an external trigger started nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotStarted {
    /// The workflow's trigger is no longer EXTERNAL; its type.
    NotExternal(String),
    /// The workflow is disabled.
    Disabled,
}

/// The trigger type of a workflow whose trigger is not EXTERNAL; `None` for an external one.
pub fn not_external(document: &Value) -> Option<String> {
    let kind = document.pointer("/trigger/type").and_then(Value::as_str).unwrap_or_default();
    (!kind.eq_ignore_ascii_case("EXTERNAL")).then(|| kind.to_owned())
}

/// The language's verdict on a document.
fn check(document: &Value) -> Result<()> {
    Workflow::from_document(document.clone()).map(|_| ()).map_err(Error::InvalidWorkflow)
}

/// The `name` a stored document has.
fn name_of(document: &Value) -> Result<String> {
    match document.get("name") {
        Some(Value::String(name)) => Ok(name.clone()),
        _ => Err(Error::invalid_at("/name", "a workflow needs a `name`")),
    }
}

/// Seals the credentials written into `document`; a mask keeps what `current` holds there.
fn seal(tx: &Tx, document: &mut Value, current: Option<&Value>) -> Result<()> {
    secrets::seal_document(tx.keyring(), document, current).map_err(|error| match error {
        SealError::MaskWithoutSecret { pointer } => Error::invalid_at(
            pointer,
            format!("`{}` keeps a stored secret, but none is stored here; send the secret itself", secrets::MASK),
        ),
        other => Error::Seal(other),
    })
}

async fn locked(tx: &mut Tx, id: &str) -> Result<WorkflowRecord> {
    tx.lock_workflow(id).await?.ok_or_else(|| Error::UnknownWorkflow(id.to_owned()))
}

impl Engine {
    /// Creates a workflow at version 1, disabled unless the draft says otherwise.
    pub async fn create_workflow(&self, draft: WorkflowDraft, actor: &str) -> Result<WorkflowRecord> {
        let name = name_of(&draft.document)?;
        check(&draft.document)?;
        let now = self.now();
        let mut record = WorkflowRecord {
            id: uuid::Uuid::now_v7().to_string().into(),
            name,
            latest_version: 1,
            enabled: draft.enabled.unwrap_or(false),
            trace: draft.trace.unwrap_or(false),
            created_at: now,
            modified_at: now,
            creator: actor.to_owned(),
            document: draft.document,
        };
        let mut tx = self.store.begin().await?;
        seal(&tx, &mut record.document, None)?;
        tx.insert_workflow(&record, "created").await?;
        let detail = json!({ "version": 1, "name": record.name });
        tx.audit(actor, "workflow.create", "workflow", &record.id, &detail, now).await?;
        tx.commit().await?;
        Ok(record)
    }

    /// Changes workflow `id` as `edit` says, given the workflow as it stands with its row held: a new
    /// version (noted `note`) when the document differs, the flags when they differ; audited when
    /// anything changed. `edit`'s refusal, or any other, changes nothing.
    pub async fn change_workflow<E: From<Error>>(
        &self,
        id: &str,
        actor: &str,
        note: &str,
        edit: impl FnOnce(&WorkflowRecord) -> std::result::Result<WorkflowDraft, E>,
    ) -> std::result::Result<WorkflowRecord, E> {
        let mut tx = self.store.begin().await.map_err(Error::from)?;
        let current = locked(&mut tx, id).await?;
        let draft = edit(&current)?;
        let record = self.write_change(&mut tx, &current, draft, actor, note).await?;
        tx.commit().await.map_err(Error::from)?;
        Ok(record)
    }

    /// A new version of workflow `id` equal to its version `number`.
    pub async fn rollback_workflow(&self, id: &str, number: i64, actor: &str) -> Result<WorkflowRecord> {
        let mut tx = self.store.begin().await?;
        let current = locked(&mut tx, id).await?;
        let old =
            tx.version(id, number).await?.ok_or_else(|| Error::NotFound(format!("workflow version {id}/{number}")))?;
        let draft = WorkflowDraft { document: old.document, enabled: None, trace: None };
        let record =
            self.write_change(&mut tx, &current, draft, actor, &format!("rolled back to version {number}")).await?;
        tx.commit().await?;
        Ok(record)
    }

    async fn write_change(
        &self,
        tx: &mut Tx,
        current: &WorkflowRecord,
        draft: WorkflowDraft,
        actor: &str,
        note: &str,
    ) -> Result<WorkflowRecord> {
        let now = self.now();
        let id = current.id.as_str();
        let mut document = draft.document;
        name_of(&document)?;
        seal(tx, &mut document, Some(&current.document))?;
        let mut detail = json!({});
        if document != current.document {
            check(&document)?;
            let name = document.get("name").and_then(Value::as_str).unwrap_or(&current.name).to_owned();
            let version = tx.add_version(id, &name, &document, actor, note, now).await?;
            detail["version"] = json!(version);
        }
        let enabled = draft.enabled.unwrap_or(current.enabled);
        let trace = draft.trace.unwrap_or(current.trace);
        if (enabled, trace) != (current.enabled, current.trace) {
            tx.set_flags(id, enabled, trace, now).await?;
            detail["enabled"] = json!(enabled);
            detail["trace"] = json!(trace);
        }
        if detail.as_object().is_some_and(|d| !d.is_empty()) {
            tx.audit(actor, "workflow.update", "workflow", id, &detail, now).await?;
        }
        tx.workflow(id).await?.ok_or_else(|| Error::UnknownWorkflow(id.to_owned()))
    }

    /// Deletes workflow `id`; its versions stay for the executions that ran them.
    pub async fn delete_workflow(&self, id: &str, actor: &str) -> Result<()> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        if !tx.delete_workflow(id, now).await? {
            return Err(Error::UnknownWorkflow(id.to_owned()));
        }
        tx.audit(actor, "workflow.delete", "workflow", id, &json!({}), now).await?;
        Ok(tx.commit().await?)
    }

    /// Starts a real execution of workflow `id`'s latest version with `input`, enabled or not;
    /// returns its id.
    pub async fn test_workflow(&self, id: &str, input: Value, actor: &str) -> Result<String> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let record = tx.workflow(id).await?.ok_or_else(|| Error::UnknownWorkflow(id.to_owned()))?;
        let execution = self.start(&mut tx, &record, input, None).await?;
        let detail = json!({ "execution": execution, "version": record.latest_version });
        tx.audit(actor, "workflow.test", "workflow", id, &detail, now).await?;
        tx.commit().await?;
        self.wake_workers();
        Ok(execution.into())
    }

    /// Starts workflow `id` through its external trigger with `input`, as `actor` asked; returns the
    /// execution's id, or why nothing started. A trigger's client outlives its trigger: once the
    /// workflow is no longer started externally, its client starts nothing.
    pub async fn start_external(
        &self,
        id: &str,
        input: Value,
        actor: &str,
    ) -> Result<std::result::Result<String, NotStarted>> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let workflow = tx.workflow(id).await?.ok_or_else(|| Error::UnknownWorkflow(id.to_owned()))?;
        if let Some(kind) = not_external(&workflow.document) {
            return Ok(Err(NotStarted::NotExternal(kind)));
        }
        if !workflow.enabled {
            return Ok(Err(NotStarted::Disabled));
        }
        let execution = self.start(&mut tx, &workflow, input, None).await?;
        let detail = json!({ "execution": execution });
        tx.audit(actor, "workflow.execute-external", "workflow", id, &detail, now).await?;
        tx.commit().await?;
        self.wake_workers();
        Ok(Ok(execution.into()))
    }

    /// Asks execution `id` to stop at its next step boundary, as `actor` asked.
    pub async fn cancel_execution(&self, id: &str, actor: &str) -> Result<Cancelled> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let execution = tx.execution(id).await?.ok_or_else(|| Error::NotFound(format!("workflow execution {id}")))?;
        if !self.cancel(&mut tx, id, &format!("cancelled by {actor}")).await? {
            return Ok(Cancelled::AlreadyEnded(execution.status));
        }
        let detail = json!({ "workflow": execution.workflow_id });
        tx.audit(actor, "execution.cancel", "workflow-execution", id, &detail, now).await?;
        tx.commit().await?;
        self.wake_workers();
        Ok(Cancelled::Now)
    }
}
