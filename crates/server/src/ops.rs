//! Tessera's operational endpoints under `/tessera/v1`: execution counts by status for a workflow,
//! and what this node is doing.

use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Map, Value, json};
use tessera_store::ExecutionStore;

use crate::AppState;
use crate::auth::{EXECUTION_READ, Principal};
use crate::error::ApiResult;

/// `GET /tessera/v1/workflows/{id}/execution-stats`: `{"Running": 3, "Completed": 120, …}`.
pub(crate) async fn execution_stats(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    principal.require(EXECUTION_READ)?;
    let mut tx = state.engine.store().begin().await?;
    let mut counts = Map::new();
    for status in ["Running", "Completed", "Failed", "Canceled"] {
        counts.insert(status.into(), json!(0));
    }
    for (status, count) in tx.status_counts(&id).await? {
        counts.insert(status, json!(count));
    }
    Ok(Json(Value::Object(counts)))
}

/// `GET /tessera/v1/node`: this node's name and the tasks it has finished.
pub(crate) async fn node(State(state): State<AppState>, principal: Principal) -> ApiResult<Json<Value>> {
    principal.require(EXECUTION_READ)?;
    let (node, processed) = state.engine.node_stats();
    Ok(Json(json!({ "node": node, "tasksProcessed": processed })))
}
