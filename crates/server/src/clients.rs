//! API clients over the API (ISC's `/v3/oauth-clients`, and Tessera's secret rotation and token
//! revocation under `/tessera/v1/oauth-clients`) and for the command line (`tessera clients`).
//!
//! Nobody gets more than they hold: a caller grants only scopes it holds, manages only clients whose
//! scopes it holds (rotating a client's secret would hand them over), and a token acting as a person
//! creates and manages only clients acting as that same person; binding a client to another identity,
//! or re-binding one, needs an administrator. A client's secret is shown once and stored only as an
//! argon2 hash. Disabling a client, giving it a new secret and revoking its tokens end the tokens it
//! already holds within about a second on every node.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use json_patch::PatchOperation;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use tessera_model::Timestamp;
use tessera_store::{ApiClient, SecurityStore, Store, Tx};

use crate::AppState;
use crate::auth::clients::{self as service, ClientChange, NewClient};
use crate::auth::{ALL, Principal};
use crate::body::{JsonPatch, NonBlank};
use crate::error::{ApiError, ApiResult, JsonBody, PathParams};

/// The identity a body names for a client to act as (the service checks that it exists).
fn identity_of(value: Option<&Value>, at: &str) -> ApiResult<Option<String>> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(id)) if !id.trim().is_empty() => Ok(Some(id.trim().to_owned())),
        Some(_) => Err(ApiError::invalid(at, "must be an identity id")),
    }
}

fn stamp(at: Timestamp) -> String {
    at.to_datetime().to_rfc3339()
}

fn shape(client: &ApiClient) -> Value {
    json!({
        "id": client.id,
        "name": client.name,
        "scope": client.scopes,
        "identityId": client.identity_id,
        "workflowId": client.workflow_id,
        "enabled": !client.disabled,
        "created": stamp(client.created_at),
        "modified": stamp(client.modified_at.unwrap_or(client.created_at)),
    })
}

fn not_allowed(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "not-allowed", message)
}

/// Whether `principal` may read and change `client`: an administrator may; anyone else only a client
/// whose every scope they hold, that acts as the same person they act as (or as no one, for a caller
/// acting as no one), and that is not a workflow's trigger client (managed with its workflow).
fn may_manage(principal: &Principal, client: &ApiClient) -> ApiResult<()> {
    if principal.is_admin() {
        return Ok(());
    }
    if client.workflow_id.is_some() {
        return Err(not_allowed("a workflow's trigger client is managed with its workflow, by an administrator"));
    }
    if client.identity_id.as_deref() != principal.identity() {
        return Err(not_allowed(format!(
            "client {} acts as another person (or as no one); only an administrator manages it",
            client.id
        )));
    }
    if let Some(scope) = client.scopes.iter().find(|scope| !principal.holds(scope)) {
        return Err(not_allowed(format!(
            "client {} holds the scope `{scope}`, which this token does not; only a holder of every scope of a client \
             manages it",
            client.id
        )));
    }
    Ok(())
}

/// `GET /v3/oauth-clients`: the clients the caller may manage.
pub(crate) async fn list(State(state): State<AppState>, principal: Principal) -> ApiResult<Json<Value>> {
    let mut tx = state.begin().await?;
    let clients = tx.clients().await?;
    let visible: Vec<Value> = clients.iter().filter(|c| may_manage(&principal, c).is_ok()).map(shape).collect();
    Ok(Json(Value::Array(visible)))
}

/// A new client: its name, the scopes it may ask for, and (Tessera's) the identity it acts as.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ClientBody {
    name: NonBlank,
    /// The scopes the client may ask for: at least one, each a name without spaces.
    #[schemars(with = "Vec<String>")]
    scope: Value,
    /// The identity the client acts as; a token acting as a person makes clients acting as that person.
    identity_id: Option<NonBlank>,
}

/// `POST /v3/oauth-clients` with `{"name", "scope": [...], "identityId"}` (Tessera's binding): answers
/// 201 with the client and its secret, which is never shown again. A caller grants only scopes it
/// holds; a token acting as a person makes clients acting as that person.
pub(crate) async fn create(
    State(state): State<AppState>,
    principal: Principal,
    JsonBody(body): JsonBody<ClientBody>,
) -> ApiResult<Response> {
    let name = body.name.into_string();
    let scopes = scopes(Some(&body.scope), "/scope")?;
    for scope in &scopes {
        principal.require(scope)?;
    }
    let identity_id = match body.identity_id.map(NonBlank::into_string) {
        None => principal.identity().map(str::to_owned),
        Some(named) if principal.is_admin() || principal.identity() == Some(named.as_str()) => Some(named),
        Some(named) => {
            return Err(not_allowed(format!(
                "binding a client to identity {named} needs an administrator (`{ALL}`); a token acting as a person \
                 makes clients acting as that person"
            )));
        }
    };
    let new = NewClient { name, scopes, identity_id };
    let (client, secret) = service::create(state.engine.store(), new, &principal.actor(), state.now()).await?;
    state.auth.remember(&client);
    let mut answer = shape(&client);
    answer["secret"] = json!(secret);
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

fn name(value: Option<&Value>, at: &str) -> ApiResult<String> {
    match value {
        Some(Value::String(name)) if !name.trim().is_empty() => Ok(name.trim().to_owned()),
        _ => Err(ApiError::invalid(at, "is required: a non-empty name")),
    }
}

fn scopes(value: Option<&Value>, at: &str) -> ApiResult<Vec<String>> {
    let Some(list) = value.and_then(Value::as_array).filter(|l| !l.is_empty()) else {
        return Err(ApiError::invalid(at, "must be a non-empty list of scopes"));
    };
    let mut scopes: Vec<String> = Vec::with_capacity(list.len());
    for (i, s) in list.iter().enumerate() {
        match s.as_str().map(str::trim) {
            Some(s) if !s.is_empty() && !s.contains(char::is_whitespace) => {
                if !scopes.iter().any(|known| known == s) {
                    scopes.push(s.to_owned());
                }
            }
            _ => return Err(ApiError::invalid(&format!("{at}/{i}"), "must be a scope name")),
        }
    }
    Ok(scopes)
}

async fn load(tx: &mut Tx, principal: &Principal, id: &str) -> ApiResult<ApiClient> {
    let client = tx.client(id).await?.ok_or_else(|| ApiError::not_found("OAuth client", id))?;
    may_manage(principal, &client)?;
    Ok(client)
}

/// `GET /v3/oauth-clients/{id}`: the client without its secret.
pub(crate) async fn read(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(id): PathParams<String>,
) -> ApiResult<Json<Value>> {
    let mut tx = state.begin().await?;
    Ok(Json(shape(&load(&mut tx, &principal, &id).await?)))
}

/// `PATCH /v3/oauth-clients/{id}` with a JSON Patch (RFC 6902) that replaces `/name`, `/scope` or
/// `/enabled`, or (an administrator only) replaces or removes `/identityId`. Disabling a client ends
/// the tokens it holds; re-binding it does too, as they carry the old identity.
pub(crate) async fn patch(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(id): PathParams<String>,
    JsonBody(JsonPatch(operations)): JsonBody<JsonPatch>,
) -> ApiResult<Json<Value>> {
    let mut change = ClientChange::default();
    for (i, op) in operations.iter().enumerate() {
        let at = |member: &str| format!("/{i}/{member}");
        let (verb, path, value) = match op {
            PatchOperation::Add(op) => (Some("add"), op.path.as_str(), Some(&op.value)),
            PatchOperation::Replace(op) => (Some("replace"), op.path.as_str(), Some(&op.value)),
            PatchOperation::Remove(op) => (Some("remove"), op.path.as_str(), None),
            _ => (None, "", None),
        };
        match (verb, path) {
            (Some("add" | "replace"), "/name") => change.name = Some(name(value, &at("value"))?),
            (Some("add" | "replace"), "/scope") => {
                let scopes = scopes(value, &at("value"))?;
                if let Some(scope) = scopes.iter().find(|scope| !principal.holds(scope)) {
                    return Err(ApiError::forbidden(scope));
                }
                change.scopes = Some(scopes);
            }
            (Some("add" | "replace"), "/enabled") => match value {
                Some(Value::Bool(enabled)) => change.enabled = Some(*enabled),
                _ => return Err(ApiError::invalid(&at("value"), "must be true or false")),
            },
            (Some("add" | "replace" | "remove"), "/identityId") => {
                if !principal.is_admin() {
                    return Err(not_allowed(format!(
                        "binding a client to an identity needs an administrator (`{ALL}`)"
                    )));
                }
                let identity_id = match verb {
                    Some("remove") => None,
                    _ => identity_of(value, &at("value"))?,
                };
                change.identity_id = Some((identity_id, at("value")));
            }
            (Some("add" | "replace" | "remove"), _) => {
                return Err(ApiError::invalid(
                    &at("path"),
                    "only `/name`, `/scope`, `/enabled` and `/identityId` change",
                ));
            }
            _ => return Err(ApiError::invalid(&at("op"), "must be add, replace or remove")),
        }
    }
    let may = |client: &ApiClient| may_manage(&principal, client);
    let client = service::change(state.engine.store(), &id, change, may, &principal.actor(), state.now()).await?;
    state.auth.remember(&client);
    Ok(Json(shape(&client)))
}

/// `DELETE /v3/oauth-clients/{id}`: the client and every token it holds are gone.
pub(crate) async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(id): PathParams<String>,
) -> ApiResult<StatusCode> {
    let may = |client: &ApiClient| may_manage(&principal, client);
    service::delete(state.engine.store(), &id, may, &principal.actor(), state.now()).await?;
    state.auth.forget(&id);
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /tessera/v1/oauth-clients/{id}/rotate-secret`: a new secret, shown once; the old one and the
/// tokens issued with it stop working at once.
pub(crate) async fn rotate_secret(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(id): PathParams<String>,
) -> ApiResult<Json<Value>> {
    let may = |client: &ApiClient| may_manage(&principal, client);
    let (client, secret) = service::rotate(state.engine.store(), &id, may, &principal.actor(), state.now()).await?;
    state.auth.remember(&client);
    let mut answer = shape(&client);
    answer["secret"] = json!(secret);
    Ok(Json(answer))
}

/// `POST /tessera/v1/oauth-clients/{id}/revoke-tokens`: every token the client holds stops working;
/// it can get new ones with its secret.
pub(crate) async fn revoke_tokens(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(id): PathParams<String>,
) -> ApiResult<StatusCode> {
    let may = |client: &ApiClient| may_manage(&principal, client);
    let client = service::revoke_tokens(state.engine.store(), &id, may, &principal.actor(), state.now()).await?;
    state.auth.remember(&client);
    Ok(StatusCode::NO_CONTENT)
}

/// Enables or disables a client (disabling ends its tokens); what `tessera clients disable|enable` do.
pub async fn set_enabled(store: &Store, id: &str, enabled: bool, actor: &str, now: Timestamp) -> ApiResult<ApiClient> {
    let change = ClientChange { enabled: Some(enabled), ..ClientChange::default() };
    service::change(store, id, change, |_| Ok(()), actor, now).await
}

/// Every client, as the API shows them (for `tessera clients list`).
pub async fn list_all(store: &Store) -> ApiResult<Vec<Value>> {
    let mut tx = store.begin().await?;
    Ok(tx.clients().await?.iter().map(shape).collect())
}
