//! Account aggregation over the API: `POST /beta/sources/{id}/load-accounts` takes a file (a multipart
//! `file` part or a raw CSV body; with neither, the source's configured file) for a delimited-file
//! source, and nothing for a SCIM or LDAP source, which is read from its system. It checks the source
//! at once, and runs the aggregation in the background, answering 202 with ISC's task and the run's id.
//! The run's progress is at `/tessera/v1/aggregations/{id}` and ISC's `/account-aggregations/{id}/status`.

use std::path::{Path, PathBuf};

use axum::Json;
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{StatusCode, header};
use axum::response::Response;
use futures_util::StreamExt;
use serde_json::{Value, json};
use tessera_connectors::LiveConnector;
use tessera_governance as governance;
use tessera_store::{AccessStore, AggregationRecord, CatalogKind, CatalogObject, CatalogStore};
use tokio::io::AsyncWriteExt;

use super::{ListQuery, MAX_UPLOAD_BYTES, listed, new_id, sources, stamp};
use crate::AppState;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult, PathParams, QueryParams};
use tessera_model::AggregationStatus;

/// A source that can be aggregated now: it exists, and either reads delimited files with valid
/// attributes or has a live system (SCIM, LDAP) whose connector configuration works. Returns the source
/// and whether it is live.
async fn aggregatable(state: &AppState, id: &str) -> ApiResult<(CatalogObject, bool)> {
    let mut tx = state.begin().await?;
    let source = tx.object(CatalogKind::Source, id).await?.ok_or_else(|| ApiError::not_found("source", id))?;
    drop(tx);
    let connector = source.document.get("connector").and_then(Value::as_str).unwrap_or_default();
    if connector == "delimited-file" {
        let attributes = source.document.get("connectorAttributes").cloned().unwrap_or_else(|| json!({}));
        sources::check_delimited(&attributes, &state.governance.config().imports)?;
        return Ok((source, false));
    }
    if !LiveConnector::is_live(connector) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid-request",
            format!(
                "source `{}` uses the `{connector}` connector, which has no system to read accounts from; only \
                 delimited-file, scim and ldap sources load accounts",
                source.name
            ),
        ));
    }
    governance::check_source(state.engine.store(), &source, None, &state.governance.config().imports).await?;
    Ok((source, true))
}

/// An uploaded file, removed when dropped.
#[derive(Debug)]
struct Upload(PathBuf);

impl Drop for Upload {
    fn drop(&mut self) {
        if let Err(error) = std::fs::remove_file(&self.0)
            && error.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(path = %self.0.display(), %error, "could not remove an uploaded file");
        }
    }
}

impl Upload {
    /// A new file, private to the server's account, named after the aggregation run that will read it,
    /// in the data directory's uploads.
    fn create(dir: &Path, run: &str) -> ApiResult<(Self, tokio::fs::File)> {
        tessera_store::files::private_dir_all(dir).map_err(ApiError::internal)?;
        let path = dir.join(format!("{run}.csv"));
        let file = tessera_store::files::create_private(&path).map_err(ApiError::internal)?;
        Ok((Self(path), tokio::fs::File::from_std(file)))
    }
}

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload-too-large",
        format!("the upload is larger than {MAX_UPLOAD_BYTES} bytes"),
    )
}

/// Writes one chunk, keeping count against the limit.
async fn write(file: &mut tokio::fs::File, written: &mut usize, chunk: &[u8]) -> ApiResult<()> {
    *written += chunk.len();
    if *written > MAX_UPLOAD_BYTES {
        return Err(too_large());
    }
    file.write_all(chunk).await.map_err(ApiError::internal)
}

/// The file a request carries, streamed to disk; `None` for an empty body.
async fn receive(state: &AppState, run: &str, request: Request) -> ApiResult<Option<Upload>> {
    let content_type =
        request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_lowercase();
    let (upload, mut file) = Upload::create(&state.uploads, run)?;
    let mut written = 0;
    if content_type.starts_with("multipart/form-data") {
        let mut form = Multipart::from_request(request, state)
            .await
            .map_err(|r| ApiError::new(r.status(), "bad-request", r.body_text()))?;
        let mut found = false;
        while let Some(mut field) =
            form.next_field().await.map_err(|e| ApiError::new(e.status(), "bad-request", e.body_text()))?
        {
            if field.name() != Some("file") {
                continue;
            }
            if found {
                return Err(ApiError::bad_request("send one `file` part: an aggregation reads one file"));
            }
            found = true;
            while let Some(chunk) =
                field.chunk().await.map_err(|e| ApiError::new(e.status(), "bad-request", e.body_text()))?
            {
                write(&mut file, &mut written, &chunk).await?;
            }
        }
        if !found {
            return Err(ApiError::bad_request("the multipart upload has no `file` part; send the CSV as `file`"));
        }
    } else {
        // Any type will do for an empty body; a file comes as text or plain bytes.
        let textual = content_type.is_empty()
            || content_type.starts_with("text/")
            || content_type.starts_with("application/octet-stream");
        let mut body = request.into_body().into_data_stream();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| ApiError::bad_request(format!("the upload was cut off: {e}")))?;
            if !chunk.is_empty() && !textual {
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported-media-type",
                    format!(
                        "send the file as multipart/form-data with a `file` part, or as text/csv, not {content_type}"
                    ),
                ));
            }
            write(&mut file, &mut written, &chunk).await?;
        }
    }
    file.flush().await.map_err(ApiError::internal)?;
    Ok((written > 0).then_some(upload))
}

/// `POST /beta/sources/{id}/load-accounts`.
pub(crate) async fn load_accounts(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(id): PathParams<String>,
    request: Request,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let (source, live) = aggregatable(&state, &id).await?;
    if state.governance.is_aggregating(&source.id) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "aggregation-running",
            format!("source `{}` is being aggregated now; wait for that run to end", source.name),
        ));
    }
    let upload = receive(&state, &new_id(), request).await?;
    if live && upload.is_some() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid-request",
            format!(
                "source `{}` reads its accounts from its system, not from a file; send the request without one",
                source.name
            ),
        ));
    }
    if upload.is_none() && !live {
        let configured = source.document.pointer("/connectorAttributes/file").and_then(Value::as_str);
        let Some(configured) = configured else {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid-request",
                format!(
                    "source `{}` names no file (connectorAttributes.file); upload one as the `file` part",
                    source.name
                ),
            ));
        };
        if let Err(refused) = state.governance.config().imports.resolve(configured) {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid-request",
                format!("source `{}`: {refused}", source.name),
            ));
        }
    }
    let file = upload.as_ref().map(|u| u.0.clone());
    let run = state.governance.start_aggregation(&source.id, file, upload, &principal.actor()).await?;
    let now = state.now();
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({
            "success": true,
            "task": {
                "id": run,
                "type": "QUARTZ",
                "name": "Cloud Account Aggregation",
                "description": format!("Aggregation of source {}", source.name),
                "launcher": principal.actor(),
                "created": stamp(now),
                "launched": null,
                "completed": null,
                "completionStatus": null,
                "parentName": null,
                "messages": [],
                "progress": null,
                "attributes": { "appId": source.id, "optimizedAggregation": "enabled" },
                "returns": [],
            },
        })),
    ))
}

async fn run_of(state: &AppState, id: &str) -> ApiResult<(AggregationRecord, Option<String>)> {
    let mut tx = state.begin().await?;
    let run = tx.aggregation(id).await?.ok_or_else(|| ApiError::not_found("aggregation", id))?;
    let name = tx.object(CatalogKind::Source, &run.source_id).await?.map(|s| s.name);
    Ok((run, name))
}

fn progress_shape(run: &AggregationRecord, source_name: Option<&str>) -> Value {
    json!({
        "id": run.id,
        "source": { "type": "SOURCE", "id": run.source_id, "name": source_name },
        "status": run.status,
        "started": stamp(run.started_at),
        "completed": run.completed_at.map(stamp),
        "processed": run.processed,
        "stats": run.stats,
        "errors": run.errors,
        "message": run.message,
        "updated": stamp(run.updated_at),
    })
}

/// `GET /tessera/v1/aggregations/{id}`: status, rows processed, counts and failed rows.
pub(crate) async fn progress(
    State(state): State<AppState>,
    PathParams(id): PathParams<String>,
) -> ApiResult<Json<Value>> {
    let (run, name) = run_of(&state, &id).await?;
    Ok(Json(progress_shape(&run, name.as_deref())))
}

/// `GET /beta/account-aggregations/{id}/status`, ISC's view of the same run.
pub(crate) async fn status(
    State(state): State<AppState>,
    PathParams(id): PathParams<String>,
) -> ApiResult<Json<Value>> {
    let (run, _) = run_of(&state, &id).await?;
    let status = match run.status {
        AggregationStatus::Pending | AggregationStatus::Running => "STARTED",
        AggregationStatus::Error | AggregationStatus::Interrupted => "TERMINATED",
        AggregationStatus::Success | AggregationStatus::Warning => "COMPLETED",
    };
    Ok(Json(json!({
        "start": stamp(run.started_at),
        "status": status,
        "totalAccounts": run.stats.get("scanned").cloned().unwrap_or(json!(run.processed)),
        "processedAccounts": run.processed,
    })))
}

/// `GET /v3/task-status/{id}`: an aggregation run as ISC's TaskStatus, which ISC clients poll after
/// `load-accounts` (its `task.id`).
pub(crate) async fn task_status(
    State(state): State<AppState>,
    PathParams(id): PathParams<String>,
) -> ApiResult<Json<Value>> {
    let (run, source_name) = run_of(&state, &id).await.map_err(|_| ApiError::not_found("task", &id))?;
    let done = run.status.is_final();
    let completion = match run.status {
        AggregationStatus::Pending | AggregationStatus::Running => Value::Null,
        AggregationStatus::Success => json!("SUCCESS"),
        AggregationStatus::Warning => json!("WARNING"),
        AggregationStatus::Interrupted => json!("TERMINATED"),
        AggregationStatus::Error => json!("ERROR"),
    };
    let messages: Vec<Value> = run
        .message
        .iter()
        .map(|text| {
            json!({"type": if run.status == AggregationStatus::Error { "ERROR" } else { "INFO" },
                            "localizedText": {"locale": "en-US", "message": text}, "key": "message", "parameters": []})
        })
        .collect();
    let name = source_name.clone().unwrap_or_else(|| run.source_id.clone());
    Ok(Json(json!({
        "id": run.id,
        "type": "QUARTZ",
        "uniqueName": format!("Cloud Account Aggregation - {name}"),
        "description": format!("Aggregation of source {name}"),
        "parentName": null,
        "launcher": null,
        "target": {"id": run.source_id, "type": "SOURCE", "name": source_name},
        "created": stamp(run.started_at),
        "modified": stamp(run.updated_at),
        "launched": stamp(run.started_at),
        "completed": run.completed_at.map(stamp),
        "completionStatus": completion,
        "messages": messages,
        "returns": [],
        "attributes": {"appId": run.source_id, "stats": run.stats},
        "progress": if done { Value::Null } else { json!(format!("{} accounts processed", run.processed)) },
        "percentComplete": if done { 100 } else { 0 },
    })))
}

/// `GET /tessera/v1/sources/{id}/aggregations`: a source's recent runs, newest first.
pub(crate) async fn of_source(
    State(state): State<AppState>,
    PathParams(id): PathParams<String>,
    QueryParams(query): QueryParams<ListQuery>,
) -> ApiResult<Response> {
    let (limit, _) = query.bounds(250)?;
    let mut tx = state.begin().await?;
    let source = tx.object(CatalogKind::Source, &id).await?.ok_or_else(|| ApiError::not_found("source", &id))?;
    let runs = tx.aggregations_of(&source.id, limit).await?;
    Ok(listed(runs.iter().map(|r| progress_shape(r, Some(&source.name))).collect(), None))
}
