//! `POST /tessera/v1/events`: publish an event (an ISC trigger id and its payload) to start the
//! workflows whose EVENT trigger matches it — how external systems, and tests, feed Tessera events;
//! `GET /tessera/v1/events/{id}`: what a published event started, or why it started nothing.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};
use tessera_store::{ExecutionStore, QueueStore};

use crate::AppState;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult, JsonBody, PathParams};

/// Takes `{"type": "idn:identity-created", "payload": {…}}`; answers 202 with the event's id.
pub(crate) async fn publish(
    State(state): State<AppState>,
    principal: Principal,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let Some(topic) = body.get("type").and_then(Value::as_str).map(str::trim).filter(|t| !t.is_empty()) else {
        return Err(ApiError::bad_request("an event needs a `type`, the trigger id such as `idn:identity-created`"));
    };
    let Some(payload) = body.get("payload").filter(|p| p.is_object()) else {
        return Err(ApiError::bad_request("an event needs a `payload` object, shaped as the trigger's event"));
    };
    let id = state.engine.publish_event(topic, payload, &principal.actor()).await?;
    let location = format!("/tessera/v1/events/{id}");
    Ok((StatusCode::ACCEPTED, Json(json!({ "id": id, "type": topic, "accepted": true, "status": location }))))
}

/// Answers `{"id", "type", "published", "dispatched", "executions": [{"id", "workflowId",
/// "status"}], "reason"}`: `dispatched` is null until the dispatcher has handled the event, and
/// `reason` says why a dispatched event started nothing.
pub(crate) async fn read(State(state): State<AppState>, PathParams(id): PathParams<String>) -> ApiResult<Json<Value>> {
    let mut tx = state.begin().await?;
    let event = tx.outbox_event(&id).await?.ok_or_else(|| ApiError::not_found("event", &id))?;
    let started = tx.started_by_event(&id).await?;
    drop(tx);
    let executions: Vec<Value> = started
        .into_iter()
        .map(|(id, workflow, status)| json!({ "id": id, "workflowId": workflow, "status": status }))
        .collect();
    let reason = match (event.dispatched_at, executions.is_empty()) {
        (None, _) => Some("the event waits to be dispatched".to_owned()),
        (Some(_), true) => state.engine.why_no_start(&event.topic, &event.payload).await?,
        (Some(_), false) => None,
    };
    Ok(Json(json!({
        "id": event.id,
        "type": event.topic,
        "published": crate::governance::stamp(event.created_at),
        "dispatched": event.dispatched_at.map(crate::governance::stamp),
        "executions": executions,
        "reason": reason,
    })))
}
