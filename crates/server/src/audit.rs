//! The audit log over the API (`GET /tessera/v1/audit`): every change with who made it (an API
//! client, a person, a workflow execution, a request, or the system), what it was, and what changed
//! — secrets masked where they were written. Filtered by actor, action, target and time, newest first.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};
use tessera_model::Timestamp;
use tessera_store::{AuditEntry, AuditQuery, SecurityStore};

use crate::AppState;
use crate::error::{ApiError, ApiResult, QueryParams};
use crate::shapes;

/// The list's query.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AuditParams {
    actor: Option<String>,
    action: Option<String>,
    target_type: Option<String>,
    target_id: Option<String>,
    /// RFC 3339: entries at or after.
    since: Option<String>,
    /// RFC 3339: entries before.
    until: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

fn instant(name: &str, text: Option<&str>) -> ApiResult<Option<Timestamp>> {
    text.map(|text| {
        text.parse::<Timestamp>()
            .map_err(|_| ApiError::bad_request(format!("`{name}` must be an RFC 3339 time, not `{text}`")))
    })
    .transpose()
}

/// An audit entry as the API shows it.
pub fn shape(entry: &AuditEntry) -> Value {
    json!({
        "id": entry.id,
        "created": shapes::time(entry.at),
        "actor": entry.actor,
        "actorRef": shapes::actor(&entry.actor),
        "action": entry.action,
        "target": {"type": entry.target_type, "id": entry.target_id},
        "detail": tessera_engine::secrets::masked(&entry.detail),
    })
}

/// `GET /tessera/v1/audit`.
pub(crate) async fn list(
    State(state): State<AppState>,
    QueryParams(params): QueryParams<AuditParams>,
) -> ApiResult<Json<Value>> {
    let (limit, offset) = crate::paging::bounds(params.limit, params.offset, 100, 1000)?;
    let query = AuditQuery {
        actor: params.actor,
        action: params.action,
        target_type: params.target_type,
        target_id: params.target_id,
        since: instant("since", params.since.as_deref())?,
        until: instant("until", params.until.as_deref())?,
        limit,
        offset,
    };
    let mut tx = state.begin().await?;
    let entries = tx.audit_entries(&query).await?;
    Ok(Json(Value::Array(entries.iter().map(shape).collect())))
}
