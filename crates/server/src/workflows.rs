//! `/v3/workflows` and `/beta/workflows` (ISC's paths and shapes), and Tessera's versions, diff and
//! rollback under `/tessera/v1/workflows/{id}/versions`. Every change is audited in its transaction.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use tessera_engine::secrets;
use tessera_engine::workflows::{Cancelled, WorkflowDraft};
use tessera_store::{ExecutionStore, Tx, WorkflowRecord, WorkflowStore};

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

/// Refuses a definition over the API's size limit, before the language reads it.
fn within_limit(state: &AppState, document: &Value) -> ApiResult<()> {
    let size = document.to_string().len();
    if size > state.limits.max_definition_bytes {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "definition-too-large",
            format!("the definition is {size} bytes; the limit is {}", state.limits.max_definition_bytes),
        ));
    }
    Ok(())
}

/// The `name` a stored document must have.
fn name_of(document: &Value) -> ApiResult<String> {
    match document.get("name") {
        Some(Value::String(name)) => Ok(name.clone()),
        _ => Err(ApiError::bad_request("a workflow needs a `name`")),
    }
}

/// A body in ISC's workflow shape as a draft: the document without the fields the server owns, and
/// the flags.
fn draft(state: &AppState, body: &Value) -> ApiResult<WorkflowDraft> {
    let document = shapes::document(body);
    name_of(&document)?;
    within_limit(state, &document)?;
    Ok(WorkflowDraft { document, enabled: flag(body, "enabled")?, trace: flag(body, "trace")? })
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

async fn load(tx: &mut Tx, id: &str) -> ApiResult<WorkflowRecord> {
    tx.workflow(id).await?.ok_or_else(|| ApiError::not_found("workflow", id))
}

pub(crate) async fn create(
    State(state): State<AppState>,
    principal: Principal,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let record = state.engine.create_workflow(draft(&state, &body)?, &principal.actor()).await?;
    answer(&state, &record).await
}

/// The stored workflow in ISC's shape, with its execution counts.
async fn answer(state: &AppState, record: &WorkflowRecord) -> ApiResult<Json<Value>> {
    let mut tx = state.begin().await?;
    Ok(Json(respond(&mut tx, record).await?))
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

pub(crate) async fn update(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(id): PathParams<String>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let draft = draft(&state, &body)?;
    let record = state.engine.change_workflow(&id, &principal.actor(), "updated", |_| Ok::<_, ApiError>(draft)).await?;
    answer(&state, &record).await
}

/// `PATCH` with a JSON Patch (RFC 6902) over the workflow's fields, applied to the workflow as it
/// stands while its row is held.
pub(crate) async fn patch(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(id): PathParams<String>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let operations: json_patch::Patch = serde_json::from_value(body)
        .map_err(|e| ApiError::bad_request(format!("the body must be a JSON Patch array such as [{{\"op\": \"replace\", \"path\": \"/enabled\", \"value\": true}}]: {e}")))?;
    let edit = |current: &WorkflowRecord| {
        let mut view = current.document.clone();
        view["enabled"] = json!(current.enabled);
        view["trace"] = json!(current.trace);
        json_patch::patch(&mut view, &operations)
            .map_err(|e| ApiError::bad_request(format!("the patch does not apply: {e}")))?;
        draft(&state, &view)
    };
    let record = state.engine.change_workflow(&id, &principal.actor(), "patched", edit).await?;
    answer(&state, &record).await
}

pub(crate) async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(id): PathParams<String>,
) -> ApiResult<StatusCode> {
    state.engine.delete_workflow(&id, &principal.actor()).await?;
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
    let execution = state.engine.test_workflow(&id, input, &principal.actor()).await?;
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
    let record = state.engine.rollback_workflow(&id, number, &principal.actor()).await?;
    answer(&state, &record).await
}

/// `POST /workflow-executions/{id}/cancel`.
pub(crate) async fn cancel(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(id): PathParams<String>,
) -> ApiResult<StatusCode> {
    match state.engine.cancel_execution(&id, &principal.actor()).await? {
        Cancelled::Now => Ok(StatusCode::NO_CONTENT),
        Cancelled::AlreadyEnded(status) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "not-running",
            format!("execution {id} has already ended ({status})"),
        )),
    }
}
