//! `POST /tessera/v1/events`: publish an event (an ISC trigger id and its payload) to start the
//! workflows whose EVENT trigger matches it — how external systems, and tests, feed Tessera events.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};
use tessera_store::{QueueStore, SecurityStore};

use crate::AppState;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult, JsonBody};

/// The scope that may publish events.
pub(crate) const EVENT_PUBLISH: &str = "tessera:events:publish";

/// Takes `{"type": "idn:identity-created", "payload": {…}}`; answers 202 with the event's id.
pub(crate) async fn publish(
    State(state): State<AppState>,
    principal: Principal,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    principal.require(EVENT_PUBLISH)?;
    let Some(topic) = body.get("type").and_then(Value::as_str).map(str::trim).filter(|t| !t.is_empty()) else {
        return Err(ApiError::bad_request("an event needs a `type`, the trigger id such as `idn:identity-created`"));
    };
    let Some(payload) = body.get("payload").filter(|p| p.is_object()) else {
        return Err(ApiError::bad_request("an event needs a `payload` object, shaped as the trigger's event"));
    };
    let now = state.now_ms();
    let mut tx = state.begin().await?;
    tx.publish(topic, payload, now).await?;
    tx.audit(&principal.actor(), "event.publish", "event", topic, &json!({}), now).await?;
    tx.commit().await?;
    state.engine.notify_events();
    Ok((StatusCode::ACCEPTED, Json(json!({ "type": topic, "accepted": true }))))
}
