//! `/v3/workflows` and `/beta/workflows` (ISC's paths and shapes), and Tessera's versions, diff and
//! rollback under `/tessera/v1/workflows/{id}/versions`. Every change is audited in its transaction.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use tessera_engine::secrets;
use tessera_flow::Workflow;
use tessera_store::{ExecutionStore, SecurityStore, Tx, WorkflowRecord, WorkflowStore};

use crate::AppState;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult, JsonBody, PathParams, QueryParams};
use crate::shapes;

/// `limit` and `offset`, as ISC pages lists.
#[derive(Debug, Deserialize)]
pub(crate) struct Page {
    limit: Option<i64>,
    offset: Option<i64>,
}

impl Page {
    pub(crate) fn bounds(&self) -> ApiResult<(i64, i64)> {
        crate::paging::bounds(self.limit, self.offset, 250, 250)
    }
}

/// A list with ISC's `X-Total-Count` header.
pub(crate) fn counted(items: Vec<Value>, total: i64) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert("X-Total-Count", HeaderValue::from(total));
    (headers, Json(Value::Array(items))).into_response()
}

/// Validates a document; the limit on definition size is checked first.
fn validate(state: &AppState, document: &Value) -> ApiResult<()> {
    let size = document.to_string().len();
    if size > state.limits.max_definition_bytes {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "definition-too-large",
            format!("the definition is {size} bytes; the limit is {}", state.limits.max_definition_bytes),
        ));
    }
    Workflow::from_document(document.clone()).map(|_| ()).map_err(ApiError::invalid_workflow)
}

/// The `name` a stored document must have.
fn name_of(document: &Value) -> ApiResult<String> {
    match document.get("name") {
        Some(Value::String(name)) => Ok(name.clone()),
        _ => Err(ApiError::bad_request("a workflow needs a `name`")),
    }
}

/// `enabled` or `trace` from a body: absent or null leaves it as it is; anything but a boolean is refused.
fn flag(body: &Value, name: &str) -> ApiResult<Option<bool>> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(value)) => Ok(Some(*value)),
        Some(other) => Err(ApiError::bad_request(format!("`{name}` must be true or false, not {other}"))),
    }
}

async fn respond(tx: &mut Tx, record: &WorkflowRecord) -> ApiResult<Value> {
    let counts = tx.execution_counts(&record.id).await?;
    Ok(secrets::masked(&shapes::workflow(record, counts)))
}

/// Seals the credentials written into `document` for storage; a mask keeps what `current` holds there.
fn seal(tx: &Tx, document: &mut Value, current: Option<&Value>) -> ApiResult<()> {
    secrets::seal_document(tx.keyring(), document, current).map_err(|error| match error {
        secrets::SealError::MaskWithoutSecret { pointer } => ApiError::invalid(
            &pointer,
            format!("`{}` keeps a stored secret, but none is stored here; send the secret itself", secrets::MASK),
        ),
        other => ApiError::internal(other),
    })
}

async fn load(tx: &mut Tx, id: &str) -> ApiResult<WorkflowRecord> {
    tx.workflow(id).await?.ok_or_else(|| ApiError::not_found("workflow", id))
}

pub(crate) async fn create(
    State(state): State<AppState>,
    principal: Principal,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let document = shapes::document(&body);
    let name = name_of(&document)?;
    let (enabled, trace) = (flag(&body, "enabled")?, flag(&body, "trace")?);
    validate(&state, &document)?;
    let now = state.now_ms();
    let record = WorkflowRecord {
        id: uuid::Uuid::now_v7().to_string(),
        name,
        latest_version: 1,
        enabled: enabled.unwrap_or(false),
        trace: trace.unwrap_or(false),
        created_at: now,
        modified_at: now,
        creator: principal.actor(),
        document,
    };
    let mut tx = state.begin().await?;
    let mut record = record;
    seal(&tx, &mut record.document, None)?;
    tx.insert_workflow(&record, "created").await?;
    tx.audit(
        &principal.actor(),
        "workflow.create",
        "workflow",
        &record.id,
        &json!({ "version": 1, "name": record.name }),
        now,
    )
    .await?;
    let out = respond(&mut tx, &record).await?;
    tx.commit().await?;
    Ok(Json(out))
}

pub(crate) async fn list(State(state): State<AppState>, QueryParams(page): QueryParams<Page>) -> ApiResult<Response> {
    let (limit, offset) = page.bounds()?;
    let mut tx = state.begin().await?;
    let (records, total) = tx.list_workflows(limit, offset).await?;
    let mut items = Vec::with_capacity(records.len());
    for record in &records {
        items.push(respond(&mut tx, record).await?);
    }
    Ok(counted(items, total))
}

pub(crate) async fn get(State(state): State<AppState>, PathParams(id): PathParams<String>) -> ApiResult<Json<Value>> {
    let mut tx = state.begin().await?;
    let record = load(&mut tx, &id).await?;
    Ok(Json(respond(&mut tx, &record).await?))
}

/// Stores `document` as a new version (when it differs) and applies the flags; audited.
async fn change(
    state: &AppState,
    principal: &Principal,
    id: &str,
    document: Value,
    enabled: Option<bool>,
    trace: Option<bool>,
    note: &str,
) -> ApiResult<Value> {
    let now = state.now_ms();
    let mut tx = state.begin().await?;
    let current = load(&mut tx, id).await?;
    let mut document = document;
    seal(&tx, &mut document, Some(&current.document))?;
    let mut detail = json!({});
    if document != current.document {
        validate(state, &document)?;
        let name = document.get("name").and_then(Value::as_str).unwrap_or(&current.name).to_owned();
        let version = tx.add_version(id, &name, &document, &principal.actor(), note, now).await?;
        detail["version"] = json!(version);
    }
    let (enabled, trace) = (enabled.unwrap_or(current.enabled), trace.unwrap_or(current.trace));
    if (enabled, trace) != (current.enabled, current.trace) {
        tx.set_flags(id, enabled, trace, now).await?;
        detail["enabled"] = json!(enabled);
        detail["trace"] = json!(trace);
    }
    if detail.as_object().is_some_and(|d| !d.is_empty()) {
        tx.audit(&principal.actor(), "workflow.update", "workflow", id, &detail, now).await?;
    }
    let record = load(&mut tx, id).await?;
    let out = respond(&mut tx, &record).await?;
    tx.commit().await?;
    Ok(out)
}

pub(crate) async fn update(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(id): PathParams<String>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let document = shapes::document(&body);
    name_of(&document)?;
    let (enabled, trace) = (flag(&body, "enabled")?, flag(&body, "trace")?);
    Ok(Json(change(&state, &principal, &id, document, enabled, trace, "updated").await?))
}

/// `PATCH` with a JSON Patch (RFC 6902) over the workflow's fields.
pub(crate) async fn patch(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(id): PathParams<String>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let operations: json_patch::Patch = serde_json::from_value(body)
        .map_err(|e| ApiError::bad_request(format!("the body must be a JSON Patch array such as [{{\"op\": \"replace\", \"path\": \"/enabled\", \"value\": true}}]: {e}")))?;
    let current = {
        let mut tx = state.begin().await?;
        load(&mut tx, &id).await?
    };
    let mut view = current.document.clone();
    view["enabled"] = json!(current.enabled);
    view["trace"] = json!(current.trace);
    json_patch::patch(&mut view, &operations)
        .map_err(|e| ApiError::bad_request(format!("the patch does not apply: {e}")))?;
    let (enabled, trace) = (flag(&view, "enabled")?, flag(&view, "trace")?);
    let document = shapes::document(&view);
    name_of(&document)?;
    Ok(Json(change(&state, &principal, &id, document, enabled, trace, "patched").await?))
}

pub(crate) async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(id): PathParams<String>,
) -> ApiResult<StatusCode> {
    let now = state.now_ms();
    let mut tx = state.begin().await?;
    if !tx.delete_workflow(&id, now).await? {
        return Err(ApiError::not_found("workflow", &id));
    }
    tx.audit(&principal.actor(), "workflow.delete", "workflow", &id, &json!({}), now).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /workflows/{id}/test` with `{"input": {…}}`: a real execution of the latest version,
/// enabled or not.
pub(crate) async fn test(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(id): PathParams<String>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let Some(input) = body.get("input").filter(|i| i.is_object()).cloned() else {
        return Err(ApiError::bad_request("the body must be {\"input\": {…}}, the trigger input to test with"));
    };
    let now = state.now_ms();
    let mut tx = state.begin().await?;
    let record = load(&mut tx, &id).await?;
    let execution = state.engine.start(&mut tx, &record, input, None).await?;
    tx.audit(
        &principal.actor(),
        "workflow.test",
        "workflow",
        &id,
        &json!({ "execution": execution, "version": record.latest_version }),
        now,
    )
    .await?;
    tx.commit().await?;
    state.engine.wake_workers();
    Ok(Json(json!({ "workflowExecutionId": execution })))
}

pub(crate) async fn executions(
    State(state): State<AppState>,
    PathParams(id): PathParams<String>,
    QueryParams(page): QueryParams<Page>,
) -> ApiResult<Response> {
    let (limit, offset) = page.bounds()?;
    let mut tx = state.begin().await?;
    load(&mut tx, &id).await?;
    let (records, total) = tx.list_executions(&id, limit, offset).await?;
    Ok(counted(records.iter().map(shapes::execution).collect(), total))
}

/// `GET /tessera/v1/workflows/{id}/versions`.
pub(crate) async fn versions(
    State(state): State<AppState>,
    PathParams(id): PathParams<String>,
) -> ApiResult<Json<Value>> {
    let mut tx = state.begin().await?;
    load(&mut tx, &id).await?;
    let versions = tx.versions(&id).await?;
    Ok(Json(Value::Array(
        versions
            .iter()
            .map(|v| json!({ "version": v.version, "created": shapes::time(v.created_at), "author": v.author, "note": v.note, "name": v.document.get("name") }))
            .collect(),
    )))
}

/// `GET /tessera/v1/workflows/{id}/versions/{version}`: that version's document.
pub(crate) async fn version(
    State(state): State<AppState>,
    PathParams((id, number)): PathParams<(String, i64)>,
) -> ApiResult<Json<Value>> {
    let mut tx = state.begin().await?;
    load(&mut tx, &id).await?;
    let version = tx
        .version(&id, number)
        .await?
        .ok_or_else(|| ApiError::not_found("workflow version", &format!("{id}/{number}")))?;
    Ok(Json(
        json!({ "version": version.version, "created": shapes::time(version.created_at), "author": version.author, "note": version.note, "document": secrets::masked(&version.document) }),
    ))
}

/// The versions to compare; read as text, so that a caller without the scope learns nothing of them.
#[derive(Debug, Deserialize)]
pub(crate) struct DiffQuery {
    from: Option<String>,
    to: Option<String>,
}

fn version_number(name: &str, text: Option<&str>) -> ApiResult<i64> {
    let text = text.ok_or_else(|| ApiError::bad_request(format!("`{name}` is required: a version number")))?;
    text.parse().map_err(|_| ApiError::bad_request(format!("`{name}` must be a version number, not `{text}`")))
}

/// `GET /tessera/v1/workflows/{id}/versions/diff?from=1&to=2`: a unified diff of the two documents.
pub(crate) async fn diff(
    State(state): State<AppState>,
    PathParams(id): PathParams<String>,
    QueryParams(q): QueryParams<DiffQuery>,
) -> ApiResult<Json<Value>> {
    let (from, to) = (version_number("from", q.from.as_deref())?, version_number("to", q.to.as_deref())?);
    let mut tx = state.begin().await?;
    load(&mut tx, &id).await?;
    let mut text = Vec::new();
    for number in [from, to] {
        let version = tx
            .version(&id, number)
            .await?
            .ok_or_else(|| ApiError::not_found("workflow version", &format!("{id}/{number}")))?;
        let shown = secrets::masked_for_diff(&version.document);
        text.push(serde_json::to_string_pretty(&shown).map_err(ApiError::internal)?);
    }
    let unified = similar::TextDiff::from_lines(&text[0], &text[1])
        .unified_diff()
        .header(&format!("version {from}"), &format!("version {to}"))
        .to_string();
    Ok(Json(json!({ "from": from, "to": to, "identical": text[0] == text[1], "diff": unified })))
}

/// `POST /tessera/v1/workflows/{id}/versions/{version}/rollback`: a new version equal to an old one.
pub(crate) async fn rollback(
    State(state): State<AppState>,
    principal: Principal,
    PathParams((id, number)): PathParams<(String, i64)>,
) -> ApiResult<Json<Value>> {
    let old = {
        let mut tx = state.begin().await?;
        tx.version(&id, number)
            .await?
            .ok_or_else(|| ApiError::not_found("workflow version", &format!("{id}/{number}")))?
    };
    let note = format!("rolled back to version {number}");
    Ok(Json(change(&state, &principal, &id, old.document, None, None, &note).await?))
}

/// `POST /workflow-executions/{id}/cancel`.
pub(crate) async fn cancel(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(id): PathParams<String>,
) -> ApiResult<StatusCode> {
    let now = state.now_ms();
    let mut tx = state.begin().await?;
    let Some(execution) = tx.execution(&id).await? else { return Err(ApiError::not_found("workflow execution", &id)) };
    if !state.engine.cancel(&mut tx, &id, &format!("cancelled by {}", principal.actor())).await? {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not-running",
            format!("execution {id} has already ended ({})", execution.status),
        ));
    }
    tx.audit(
        &principal.actor(),
        "execution.cancel",
        "workflow-execution",
        &id,
        &json!({ "workflow": execution.workflow_id }),
        now,
    )
    .await?;
    tx.commit().await?;
    state.engine.wake_workers();
    Ok(StatusCode::NO_CONTENT)
}
