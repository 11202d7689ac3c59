//! ISC's OAuth client administration (`/v3/oauth-clients`): creating API clients (the secret shown
//! once, stored only as an argon2 hash) and binding a client to the identity it acts as.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use tessera_store::{ApiClient, IdentityStore, SecurityStore, Tx};

use crate::AppState;
use crate::auth::{OAUTH_CLIENT_MANAGE, Principal, generate_secret, hash_secret};
use crate::error::{ApiError, ApiResult, JsonBody, PathParams};

/// The identity a client is to act as, which must exist: a token acting as no one that exists would
/// be refused at every request it makes.
async fn identity_of(tx: &mut Tx, value: Option<&Value>, at: &str) -> ApiResult<Option<String>> {
    let id = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(id)) if !id.trim().is_empty() => id.trim().to_owned(),
        Some(_) => return Err(ApiError::invalid(at, "must be an identity id")),
    };
    if tx.identity(&id).await?.is_none() {
        return Err(ApiError::invalid(at, format!("there is no identity {id}")));
    }
    Ok(Some(id))
}

fn shape(client: &ApiClient) -> Value {
    json!({
        "id": client.id,
        "name": client.name,
        "scope": client.scopes,
        "identityId": client.identity_id,
        "enabled": !client.disabled,
        "created": chrono::DateTime::from_timestamp_millis(client.created_at).map(|t| t.to_rfc3339()),
    })
}

/// `POST /v3/oauth-clients` with `{"name", "scope": [...], "identityId"}` (Tessera's binding): answers
/// 201 with the client and its secret, which is never shown again. A caller grants only scopes it holds.
pub(crate) async fn create(
    State(state): State<AppState>,
    principal: Principal,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Response> {
    principal.require(OAUTH_CLIENT_MANAGE)?;
    let body = body.as_object().ok_or_else(|| ApiError::invalid("", "the body must be a JSON object"))?;
    let name = match body.get("name") {
        Some(Value::String(name)) if !name.trim().is_empty() => name.trim().to_owned(),
        _ => return Err(ApiError::invalid("/name", "is required")),
    };
    let scopes = scopes(body)?;
    for scope in &scopes {
        principal.require(scope)?;
    }
    let now = state.now_ms();
    let mut tx = state.begin().await?;
    let identity_id = identity_of(&mut tx, body.get("identityId"), "/identityId").await?;
    let secret = generate_secret();
    let client = ApiClient {
        id: uuid::Uuid::new_v4().simple().to_string(),
        name,
        secret_hash: hash_secret(&secret),
        scopes,
        workflow_id: None,
        identity_id,
        created_at: now,
        disabled: false,
    };
    tx.insert_client(&client).await?;
    let detail = json!({"name": client.name, "scopes": client.scopes, "identityId": client.identity_id});
    tx.audit(&principal.actor(), "client.create", "api-client", &client.id, &detail, now).await?;
    tx.commit().await?;
    let mut answer = shape(&client);
    answer["secret"] = json!(secret);
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

fn scopes(body: &Map<String, Value>) -> ApiResult<Vec<String>> {
    let Some(list) = body.get("scope").and_then(Value::as_array).filter(|l| !l.is_empty()) else {
        return Err(ApiError::invalid("/scope", "must be a non-empty list of scopes"));
    };
    list.iter()
        .enumerate()
        .map(|(i, s)| match s.as_str().map(str::trim) {
            Some(s) if !s.is_empty() && !s.contains(char::is_whitespace) => Ok(s.to_owned()),
            _ => Err(ApiError::invalid(&format!("/scope/{i}"), "must be a scope name")),
        })
        .collect()
}

/// `GET /v3/oauth-clients/{id}`: the client without its secret.
pub(crate) async fn read(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(id): PathParams<String>,
) -> ApiResult<Json<Value>> {
    principal.require(OAUTH_CLIENT_MANAGE)?;
    let mut tx = state.begin().await?;
    let client = tx.client(&id).await?.ok_or_else(|| ApiError::not_found("OAuth client", &id))?;
    Ok(Json(shape(&client)))
}

/// `PATCH /v3/oauth-clients/{id}` with a JSON Patch (RFC 6902) that replaces or removes `/identityId`,
/// the one field that may change after creation. Tokens issued before keep the identity they carry
/// until they expire.
pub(crate) async fn patch(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(id): PathParams<String>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    principal.require(OAUTH_CLIENT_MANAGE)?;
    let ops =
        body.as_array().ok_or_else(|| ApiError::invalid("", "the body must be a JSON Patch: a list of operations"))?;
    let now = state.now_ms();
    let mut tx = state.begin().await?;
    let mut client = tx.client(&id).await?.ok_or_else(|| ApiError::not_found("OAuth client", &id))?;
    for (i, op) in ops.iter().enumerate() {
        if op.get("path").and_then(Value::as_str) != Some("/identityId") {
            return Err(ApiError::invalid(&format!("/{i}/path"), "only `/identityId` may be changed"));
        }
        client.identity_id = match op.get("op").and_then(Value::as_str) {
            Some("add" | "replace") => identity_of(&mut tx, op.get("value"), &format!("/{i}/value")).await?,
            Some("remove") => None,
            _ => return Err(ApiError::invalid(&format!("/{i}/op"), "must be add, replace or remove")),
        };
    }
    tx.set_client_identity(&id, client.identity_id.as_deref()).await?;
    let detail = json!({"identityId": client.identity_id});
    tx.audit(&principal.actor(), "client.update", "api-client", &id, &detail, now).await?;
    tx.commit().await?;
    Ok(Json(shape(&client)))
}
