//! Tessera's operational endpoints: `/health` (the process answers) and `/ready` (it can do its
//! work: the database answers at the schema this build needs, and workers run), both open to load
//! balancers without a token; and under `/tessera/v1`, execution counts by status for a workflow and
//! what this node is doing.

use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Map, Value, json};
use tessera_store::ExecutionStore;

use crate::AppState;
use crate::error::ApiResult;

/// `GET /ready`: 200 when this node can do its work, else 503 saying what is missing.
pub(crate) async fn ready(State(state): State<AppState>) -> axum::response::Response {
    use axum::response::IntoResponse;
    let database = state.engine.store().readiness().await;
    let workers = state.engine.running_workers();
    let mut checks = json!({
        "database": database.as_ref().map_or_else(|reason| reason.clone(), |()| "ok".to_owned()),
        "workers": if workers > 0 { format!("{workers} running") } else { "none running".to_owned() },
    });
    let ready = database.is_ok() && workers > 0;
    checks["status"] = json!(if ready { "ready" } else { "not ready" });
    let status = if ready { axum::http::StatusCode::OK } else { axum::http::StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(checks)).into_response()
}

/// `GET /tessera/v1/workflows/{id}/execution-stats`: `{"Running": 3, "Completed": 120, …}`.
pub(crate) async fn execution_stats(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let mut tx = state.engine.store().begin().await?;
    let mut counts = Map::new();
    for status in <tessera_model::ExecutionStatus as tessera_model::vocabulary::IntoEnumIterator>::iter() {
        counts.insert(status.to_string(), json!(0));
    }
    for (status, count) in tx.status_counts(&id).await? {
        counts.insert(status.to_string(), json!(count));
    }
    Ok(Json(Value::Object(counts)))
}

/// `GET /tessera/v1/node`: this node's name and the tasks it has finished.
pub(crate) async fn node(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let (node, processed) = state.engine.node_stats();
    Ok(Json(json!({ "node": node, "tasksProcessed": processed })))
}
