//! `/tessera/v1/teams` and `/tessera/v1/configuration-lists`: bodies read with their pointers, the
//! answers shaped, the work (and who may do it) left to the engine.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};
use tessera_governance::request_types::{ListDraft, TeamDraft};
use tessera_store::{ConfigListRecord, RequestTypeStore, TeamRecord, Tx};

use super::{Reader, actor, api, object, person, stamp};
use crate::AppState;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult, JsonBody, PathParams};

async fn team_shape(tx: &mut Tx, team: &TeamRecord) -> ApiResult<Value> {
    let mut members = Vec::with_capacity(team.members.len());
    for m in &team.members {
        let mut shaped = person(tx, Some(&m.identity_id)).await?;
        shaped["admin"] = json!(m.admin);
        members.push(shaped);
    }
    let admins: Vec<&str> = team.members.iter().filter(|m| m.admin).map(|m| m.identity_id.as_str()).collect();
    Ok(json!({
        "id": team.id,
        "name": team.name,
        "description": team.description,
        "editors": team.editors,
        "members": members,
        "admins": admins,
        "created": stamp(team.created_at),
        "modified": stamp(team.modified_at),
    }))
}

fn team_draft(body: &Value) -> ApiResult<TeamDraft> {
    let map = object(body)?;
    let mut reader = Reader::default();
    let name = reader.text(map, "name", true);
    let description = reader.text(map, "description", false);
    let members = reader.ids(map, "members");
    let admins = reader.ids(map, "admins");
    let editors = reader.text(map, "editors", false).unwrap_or_else(|| "ADMINS".into());
    reader.finish(TeamDraft { name: name.unwrap_or_default(), description, members, admins, editors })
}

/// `GET /tessera/v1/teams`.
pub(crate) async fn list_teams(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let mut tx = state.begin().await?;
    let mut shaped = Vec::new();
    for team in tx.teams().await? {
        shaped.push(team_shape(&mut tx, &team).await?);
    }
    Ok(Json(Value::Array(shaped)))
}

/// `POST /tessera/v1/teams`: 201 with the team.
pub(crate) async fn create_team(
    State(state): State<AppState>,
    principal: Principal,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let draft = team_draft(&body)?;
    let audit = principal.actor();
    let team = state.governance.create_team(&draft, actor(&principal, &audit)).await.map_err(api)?;
    let mut tx = state.begin().await?;
    Ok((StatusCode::CREATED, Json(team_shape(&mut tx, &team).await?)))
}

/// `GET /tessera/v1/teams/{id}`.
pub(crate) async fn read_team(
    State(state): State<AppState>,
    PathParams(id): PathParams<String>,
) -> ApiResult<Json<Value>> {
    let mut tx = state.begin().await?;
    let team = tx.team(&id).await?.ok_or_else(|| ApiError::not_found("team", &id))?;
    Ok(Json(team_shape(&mut tx, &team).await?))
}

/// `PUT /tessera/v1/teams/{id}`: replaces the team.
pub(crate) async fn replace_team(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(id): PathParams<String>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let draft = team_draft(&body)?;
    let audit = principal.actor();
    let team = state.governance.update_team(&id, &draft, actor(&principal, &audit)).await.map_err(api)?;
    let mut tx = state.begin().await?;
    Ok(Json(team_shape(&mut tx, &team).await?))
}

/// `DELETE /tessera/v1/teams/{id}`: 204, or 409 `in-use` while a list or request type names it.
pub(crate) async fn delete_team(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(id): PathParams<String>,
) -> ApiResult<StatusCode> {
    let audit = principal.actor();
    state.governance.delete_team(&id, actor(&principal, &audit)).await.map_err(api)?;
    Ok(StatusCode::NO_CONTENT)
}

fn list_shape(list: &ConfigListRecord) -> Value {
    let mut shaped = json!({
        "id": list.id,
        "name": list.name,
        "description": list.description,
        "teamId": list.team_id,
        "type": list.list_type,
        "created": stamp(list.created_at),
        "modified": stamp(list.modified_at),
    });
    if list.list_type == "CUSTOM" {
        shaped["items"] = list.items.clone();
    } else {
        shaped["filter"] = list.filter.clone();
    }
    shaped
}

fn list_draft(body: &Value) -> ApiResult<ListDraft> {
    let map = object(body)?;
    let mut reader = Reader::default();
    let name = reader.text(map, "name", true);
    let description = reader.text(map, "description", false);
    let team_id = reader.text(map, "teamId", true);
    let list_type = reader.text(map, "type", true);
    let filter = match map.get("filter") {
        None | Some(Value::Null) => Value::Null,
        Some(filter @ Value::Object(members)) => {
            for key in members.keys().filter(|k| !matches!(k.as_str(), "sourceId" | "requestable")) {
                reader.problem(format!("/filter/{key}"), "is not a filter: use `sourceId` or `requestable`");
            }
            filter.clone()
        }
        Some(other) => {
            reader.problem("/filter", format!("must be an object such as {{\"sourceId\": \"…\"}}, not {other}"));
            Value::Null
        }
    };
    let mut items = Vec::new();
    match map.get("items") {
        None | Some(Value::Null) => {}
        Some(Value::Array(list)) => {
            for (j, item) in list.iter().enumerate() {
                let Some(item) = item.as_object() else {
                    reader.problem(format!("/items/{j}"), "must be {\"value\", \"label\"} (and optionally \"id\")");
                    continue;
                };
                let text = |reader: &mut Reader, key: &str, required: bool| match item.get(key) {
                    Some(Value::String(s)) => Some(s.clone()),
                    // Numbers are taken as text, as a list's values are compared as text.
                    Some(Value::Number(n)) => Some(n.to_string()),
                    None | Some(Value::Null) if !required => None,
                    _ => {
                        reader.problem(format!("/items/{j}/{key}"), "must be a string");
                        None
                    }
                };
                let id = text(&mut reader, "id", false);
                let value = text(&mut reader, "value", true);
                let label = text(&mut reader, "label", false);
                if let Some(value) = value {
                    items.push((id, value, label));
                }
            }
        }
        Some(_) => reader.problem("/items", "must be a list of {\"value\", \"label\"} items"),
    }
    reader.finish(ListDraft {
        name: name.unwrap_or_default(),
        description,
        team_id: team_id.unwrap_or_default(),
        list_type: list_type.unwrap_or_default(),
        filter,
        items,
    })
}

/// `GET /tessera/v1/configuration-lists`.
pub(crate) async fn list_lists(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let mut tx = state.begin().await?;
    Ok(Json(Value::Array(tx.config_lists().await?.iter().map(list_shape).collect())))
}

/// `POST /tessera/v1/configuration-lists`: 201 with the list.
pub(crate) async fn create_list(
    State(state): State<AppState>,
    principal: Principal,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let draft = list_draft(&body)?;
    let audit = principal.actor();
    let list = state.governance.create_config_list(&draft, actor(&principal, &audit)).await.map_err(api)?;
    Ok((StatusCode::CREATED, Json(list_shape(&list))))
}

/// `GET /tessera/v1/configuration-lists/{id}`.
pub(crate) async fn read_list(
    State(state): State<AppState>,
    PathParams(id): PathParams<String>,
) -> ApiResult<Json<Value>> {
    let mut tx = state.begin().await?;
    let list = tx.config_list(&id).await?.ok_or_else(|| ApiError::not_found("configuration list", &id))?;
    Ok(Json(list_shape(&list)))
}

/// `PUT /tessera/v1/configuration-lists/{id}`: replaces the list.
pub(crate) async fn replace_list(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(id): PathParams<String>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let draft = list_draft(&body)?;
    let audit = principal.actor();
    let list = state.governance.update_config_list(&id, &draft, actor(&principal, &audit)).await.map_err(api)?;
    Ok(Json(list_shape(&list)))
}

/// `DELETE /tessera/v1/configuration-lists/{id}`: 204, or 409 `in-use` while a request type uses it.
pub(crate) async fn delete_list(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(id): PathParams<String>,
) -> ApiResult<StatusCode> {
    let audit = principal.actor();
    state.governance.delete_config_list(&id, actor(&principal, &audit)).await.map_err(api)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /tessera/v1/configuration-lists/{id}/items`: a CUSTOM list's items, or the catalogue's now.
/// A requester choosing an answer needs them too, so `tessera:requests:manage` reads them as well.
pub(crate) async fn list_items(
    State(state): State<AppState>,
    PathParams(id): PathParams<String>,
) -> ApiResult<Json<Value>> {
    let mut tx = state.begin().await?;
    let list = tx.config_list(&id).await?.ok_or_else(|| ApiError::not_found("configuration list", &id))?;
    let items = state.governance.config_list_items(&mut tx, &list).await.map_err(api)?;
    Ok(Json(Value::Array(items.iter().map(|i| i.to_json()).collect())))
}
