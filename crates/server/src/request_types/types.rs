//! `/tessera/v1/request-types`: a type is its name, owning team and status, with its definition
//! (`description`, `audience`, `questions`, `steps`) at the top level of the same body. Every problem
//! of a body — its shape and what it names — is answered at once, each with its pointer.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};
use tessera_governance::request_types::{Definition, RequestTypeDraft};
use tessera_store::{RequestTypeRecord, RequestTypeStore, Tx};

use super::{Reader, actor, api, object, stamp};
use crate::AppState;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult, JsonBody, PathParams};

fn shape(record: &RequestTypeRecord) -> Value {
    let mut shaped = record.definition.clone();
    if !shaped.is_object() {
        shaped = json!({});
    }
    shaped["id"] = json!(record.id);
    shaped["name"] = json!(record.name);
    shaped["teamId"] = json!(record.team_id);
    shaped["status"] = json!(record.status);
    shaped["created"] = stamp(record.created_at);
    shaped["modified"] = stamp(record.modified_at);
    shaped
}

/// A body as a draft; `status` defaults to `default_status`.
fn draft(body: &Value, default_status: &str) -> ApiResult<RequestTypeDraft> {
    let map = object(body)?;
    let mut reader = Reader::default();
    let name = reader.text(map, "name", true);
    let team_id = reader.text(map, "teamId", true);
    let status = reader.text(map, "status", false).unwrap_or_else(|| default_status.to_owned());
    let definition = match Definition::parse(map) {
        Ok(definition) => Some(definition),
        Err(problems) => {
            reader.problems.extend(problems);
            None
        }
    };
    let known = [
        "id",
        "name",
        "teamId",
        "status",
        "description",
        "audience",
        "questions",
        "steps",
        "allowUnapprovedActions",
        "created",
        "modified",
    ];
    for key in map.keys().filter(|k| !known.contains(&k.as_str())) {
        reader.problem(format!("/{key}"), "is not a member of a request type");
    }
    let definition = reader.finish(definition)?;
    Ok(RequestTypeDraft {
        name: name.unwrap_or_default(),
        team_id: team_id.unwrap_or_default(),
        status,
        definition: definition.ok_or_else(|| ApiError::internal("a definition without problems did not parse"))?,
    })
}

/// `GET /tessera/v1/request-types`: every type for a service token; for a person, the published
/// types whose audience they are in and every type of their teams.
pub(crate) async fn list(State(state): State<AppState>, principal: Principal) -> ApiResult<Json<Value>> {
    let mut tx = state.begin().await?;
    let all = tx.request_types().await?;
    let Some(me) = principal.identity() else {
        return Ok(Json(Value::Array(all.iter().map(shape).collect())));
    };
    let teams = tx.teams_of(me).await?;
    let mut shown = Vec::new();
    for record in &all {
        if visible(&state, &mut tx, me, &teams, record).await? {
            shown.push(shape(record));
        }
    }
    Ok(Json(Value::Array(shown)))
}

/// Whether a person sees a type: it belongs to one of their `teams`, or it is published and they are
/// in its audience.
async fn visible(
    state: &AppState,
    tx: &mut Tx,
    me: &str,
    teams: &[String],
    record: &RequestTypeRecord,
) -> ApiResult<bool> {
    if teams.contains(&record.team_id) {
        return Ok(true);
    }
    if record.status != "PUBLISHED" {
        return Ok(false);
    }
    let map = record.definition.as_object().cloned().unwrap_or_default();
    match Definition::parse(&map) {
        Ok(definition) => state.governance.in_request_audience(tx, &definition, me).await.map_err(api),
        Err(_) => Ok(false),
    }
}

/// `POST /tessera/v1/request-types`: 201 with the type (a DRAFT unless the body says PUBLISHED).
pub(crate) async fn create(
    State(state): State<AppState>,
    principal: Principal,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let draft = draft(&body, "DRAFT")?;
    let audit = principal.actor();
    let record = state.governance.create_request_type(&draft, actor(&principal, &audit)).await.map_err(api)?;
    Ok((StatusCode::CREATED, Json(shape(&record))))
}

/// `GET /tessera/v1/request-types/{id}`: 404 for a person who would not see it listed.
pub(crate) async fn read(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(id): PathParams<String>,
) -> ApiResult<Json<Value>> {
    let mut tx = state.begin().await?;
    let record = tx.request_type(&id).await?.ok_or_else(|| ApiError::not_found("request type", &id))?;
    // As in the list: a type a person may not see does not exist for them.
    if let Some(me) = principal.identity() {
        let teams = tx.teams_of(me).await?;
        if !visible(&state, &mut tx, me, &teams, &record).await? {
            return Err(ApiError::not_found("request type", &id));
        }
    }
    Ok(Json(shape(&record)))
}

/// `PUT /tessera/v1/request-types/{id}`: replaces the type; without `status` it keeps its own.
pub(crate) async fn replace(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(id): PathParams<String>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let current = {
        let mut tx = state.begin().await?;
        tx.request_type(&id).await?.ok_or_else(|| ApiError::not_found("request type", &id))?.status
    };
    let draft = draft(&body, &current)?;
    let audit = principal.actor();
    let record = state.governance.update_request_type(&id, &draft, actor(&principal, &audit)).await.map_err(api)?;
    Ok(Json(shape(&record)))
}

/// `DELETE /tessera/v1/request-types/{id}`: 204, or 409 `in-use` while requests of it are open.
pub(crate) async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(id): PathParams<String>,
) -> ApiResult<StatusCode> {
    let audit = principal.actor();
    state.governance.delete_request_type(&id, actor(&principal, &audit)).await.map_err(api)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn set_status(state: &AppState, principal: &Principal, id: &str, status: &str) -> ApiResult<Json<Value>> {
    let audit = principal.actor();
    let record = state.governance.set_request_type_status(id, status, actor(principal, &audit)).await.map_err(api)?;
    Ok(Json(shape(&record)))
}

/// `POST /tessera/v1/request-types/{id}/publish`: the type takes requests from now on.
pub(crate) async fn publish(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(id): PathParams<String>,
) -> ApiResult<Json<Value>> {
    set_status(&state, &principal, &id, "PUBLISHED").await
}

/// `POST /tessera/v1/request-types/{id}/unpublish`: back to DRAFT; open requests go on.
pub(crate) async fn unpublish(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(id): PathParams<String>,
) -> ApiResult<Json<Value>> {
    set_status(&state, &principal, &id, "DRAFT").await
}
