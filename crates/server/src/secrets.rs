//! Named secrets over the API (`/tessera/v1/secrets`): credentials stored once, sealed under the node
//! key, and referred to by workflows as `{{secret:<name>}}` instead of being pasted into them. Their
//! values go in and never come out: answers, the audit log and history name them only.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use tessera_store::{SecretRecord, SecretStore};

use crate::AppState;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult, JsonBody, PathParams};
use crate::shapes;

fn shape(secret: &SecretRecord) -> Value {
    json!({
        "name": secret.name,
        "description": secret.description,
        "reference": format!("{{{{secret:{}}}}}", secret.name),
        "created": shapes::time(secret.created_at),
        "modified": shapes::time(secret.modified_at),
        "modifiedBy": shapes::actor(&secret.modified_by),
    })
}

/// `GET /tessera/v1/secrets`: the names, never the values.
pub(crate) async fn list(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let mut tx = state.begin().await?;
    Ok(Json(Value::Array(tx.secrets().await?.iter().map(shape).collect())))
}

/// `GET /tessera/v1/secrets/{name}`.
pub(crate) async fn read(
    State(state): State<AppState>,
    PathParams(name): PathParams<String>,
) -> ApiResult<Json<Value>> {
    let mut tx = state.begin().await?;
    let secret = tx.secret(&name).await?.ok_or_else(|| ApiError::not_found("secret", &name))?;
    Ok(Json(shape(&secret)))
}

/// A secret's new value and description.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SecretBody {
    value: Option<String>,
    description: Option<String>,
}

/// `PUT /tessera/v1/secrets/{name}` with `{"value", "description"}`: creates or replaces it.
pub(crate) async fn put(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(name): PathParams<String>,
    JsonBody(body): JsonBody<SecretBody>,
) -> ApiResult<Json<Value>> {
    let value = body.value.unwrap_or_default();
    let secret = state.engine.put_secret(&name, &value, body.description, &principal.actor()).await?;
    Ok(Json(shape(&secret)))
}

/// `DELETE /tessera/v1/secrets/{name}`: 204; workflows that refer to it fail at the step that does.
pub(crate) async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(name): PathParams<String>,
) -> ApiResult<StatusCode> {
    state.engine.delete_secret(&name, &principal.actor()).await?;
    Ok(StatusCode::NO_CONTENT)
}
