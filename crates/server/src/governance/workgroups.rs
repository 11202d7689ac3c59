//! Governance groups (`/beta/workgroups`): their documents and ISC shape, and their members — listed,
//! added and removed in bulk with ISC's per-member multi-status answers, each change audited.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};
use tessera_model::Timestamp;
use tessera_store::{
    AccessStore, CatalogKind, CatalogObject, CatalogStore, IdentityStore, LevelHolder, Tx, UserLevelStore,
};

use super::objects::Draft;
use super::{ListQuery, Names, invalid, listed, object, owner, reference_id, required_text, text};
use crate::AppState;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult, JsonBody, PathParams, QueryParams};

pub(super) async fn prepare(tx: &mut Tx, body: &Value) -> ApiResult<Draft> {
    let members = object(body)?;
    let name = required_text(members, "name")?;
    let owner = owner(tx, members).await?;
    let mut document = members.clone();
    document.remove("name");
    document.insert("description".into(), json!(text(members, "description")?));
    match &owner {
        Some(id) => document.insert("owner".into(), json!({ "type": "IDENTITY", "id": id })),
        None => document.remove("owner"),
    };
    let mut draft = Draft::named(name, Value::Object(document));
    draft.owner_id = owner;
    Ok(draft)
}

pub(super) async fn render(tx: &mut Tx, names: &mut Names, group: &CatalogObject) -> ApiResult<Value> {
    let mut body = group.document.clone();
    body["owner"] = match group.owner_id.as_deref() {
        Some(id) => match tx.identity(id).await? {
            Some(identity) => json!({
                "type": "IDENTITY", "id": identity.id, "name": identity.name,
                "displayName": identity.name, "emailAddress": identity.email,
            }),
            None => names.identity_ref(tx, Some(id)).await?,
        },
        None => Value::Null,
    };
    body["memberCount"] = json!(tx.members(&group.id).await?.len());
    body["connectionCount"] = json!(0);
    Ok(body)
}

/// A deleted group's memberships go with it.
pub(super) async fn before_delete(tx: &mut Tx, group: &CatalogObject) -> ApiResult<()> {
    tx.set_user_levels(LevelHolder::GovernanceGroup(&group.id), &[], Timestamp::UNIX_EPOCH).await?;
    Ok(tx.remove_all_members(&group.id).await?)
}

async fn group(tx: &mut Tx, id: &str) -> ApiResult<CatalogObject> {
    tx.object(CatalogKind::Workgroup, id).await?.ok_or_else(|| ApiError::not_found("governance group", id))
}

/// `GET /beta/workgroups/{id}/members`: the members in the order they joined, paged.
pub(crate) async fn members(
    State(state): State<AppState>,
    PathParams(id): PathParams<String>,
    QueryParams(query): QueryParams<ListQuery>,
) -> ApiResult<Response> {
    let (limit, offset) = query.bounds(250)?;
    let mut tx = state.begin().await?;
    group(&mut tx, &id).await?;
    let all = tx.members(&id).await?;
    let page: Vec<String> = all.iter().skip(offset as usize).take(limit as usize).cloned().collect();
    let mut found = tx.identities_by_ids(&page).await?;
    found.sort_by_key(|i| page.iter().position(|p| *p == i.id));
    let items =
        found.iter().map(|i| json!({ "type": "IDENTITY", "id": i.id, "name": i.name, "email": i.email })).collect();
    Ok(listed(items, query.count.unwrap_or(false).then_some(all.len() as i64)))
}

/// The identity ids of a bulk body `[{"id": "…"}, …]`, each with its reference's pointer (the
/// service checks that each exists).
fn identities(body: &Value) -> ApiResult<Vec<(String, String)>> {
    let Some(items) = body.as_array() else {
        return Err(invalid("", "the body must be an array of identity references such as [{\"id\": \"…\"}]"));
    };
    let mut ids = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let at = format!("/{index}");
        let Some(id) = reference_id(Some(item), &at)? else {
            return Err(invalid(&at, "must be a reference such as {\"id\": \"…\"}"));
        };
        ids.push((id, at));
    }
    Ok(ids)
}

/// Adds or removes members; answers 207 with one status per member; audits what changed.
async fn bulk(
    state: &AppState,
    principal: &Principal,
    id: &str,
    body: &Value,
    add: bool,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let members = identities(body)?;
    let may = |levels: &[tessera_model::UserLevel]| crate::auth_users::may_change(principal, levels);
    let outcomes = state.governance.change_members(id, &members, add, &principal.actor(), may).await?;
    let results: Vec<Value> = outcomes
        .iter()
        .map(|outcome| {
            let (status, description) = match (add, outcome.changed) {
                (true, true) => (201, "Identity is added into Governance Group members list."),
                (true, false) => (409, "Identity is already a member of the Governance Group."),
                (false, true) => (204, "Identity is removed from Governance Group members list."),
                (false, false) => (404, "Identity is not a member of the Governance Group."),
            };
            json!({ "id": outcome.id, "status": status, "description": description })
        })
        .collect();
    Ok((StatusCode::MULTI_STATUS, Json(Value::Array(results))))
}

/// `POST /beta/workgroups/{id}/members/bulk-add`.
pub(crate) async fn bulk_add(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(id): PathParams<String>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    bulk(&state, &principal, &id, &body, true).await
}

/// `POST /beta/workgroups/{id}/members/bulk-delete`.
pub(crate) async fn bulk_delete(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(id): PathParams<String>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    bulk(&state, &principal, &id, &body, false).await
}
