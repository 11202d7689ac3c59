//! People's user levels — ISC's auth users at `/v3/auth-users/{id}` (the levels are its
//! `capabilities`, changed with a JSON Patch) — and Tessera's views of the same model:
//! `/tessera/v1/identities/{id}/permissions` (every level a person holds, directly or through a
//! governance group, and the scopes that gives them) and `/tessera/v1/governance-groups/{id}/user-levels`
//! (the levels a group gives its members). Nobody grants or takes away a level whose scopes they do not
//! all hold, so only an administrator makes another.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use tessera_model::UserLevel;
use tessera_model::permissions::scopes_of;
use tessera_store::{CatalogKind, CatalogStore, IdentityRecord, IdentityStore, LevelHolder, Tx, UserLevelStore};

use crate::AppState;
use crate::auth::Principal;
use crate::body::JsonPatch;
use crate::error::{ApiError, ApiResult, JsonBody, PathParams};

async fn person(tx: &mut Tx, id: &str) -> ApiResult<IdentityRecord> {
    tx.identity(id).await?.ok_or_else(|| ApiError::not_found("identity", id))
}

/// The first of these attributes the identity has, as text.
fn attribute(identity: &IdentityRecord, names: &[&str]) -> Value {
    names
        .iter()
        .find_map(|name| identity.attributes.get(*name).filter(|v| v.is_string()).cloned())
        .unwrap_or(Value::Null)
}

/// ISC's `AuthUser`: who the person is, and the levels they hold directly.
fn shape(identity: &IdentityRecord, levels: &[UserLevel]) -> Value {
    json!({
        "tenant": "tessera",
        "id": identity.id,
        "uid": identity.alias,
        "profile": identity.profile_id,
        "identificationNumber": attribute(identity, &["employeeNumber", "employeeId"]),
        "email": identity.email,
        "phone": attribute(identity, &["phone", "mobilePhone"]),
        "workPhone": attribute(identity, &["workPhone"]),
        "personalEmail": attribute(identity, &["personalEmail"]),
        "firstname": attribute(identity, &["firstname", "firstName", "givenName"]),
        "lastname": attribute(identity, &["lastname", "lastName", "familyName"]),
        "displayName": identity.name,
        "alias": identity.alias,
        "lastPasswordChangeDate": null,
        "lastLoginTimestamp": null,
        "currentLoginTimestamp": null,
        "lastUnlockTimestamp": null,
        "capabilities": levels,
    })
}

/// Refuses unless `principal` holds every scope of each level in `changed`: nobody hands on, or takes
/// away, more than they hold.
pub(crate) fn may_change(principal: &Principal, changed: &[UserLevel]) -> ApiResult<()> {
    for level in changed {
        if let Some(scope) = level.scopes().into_iter().find(|scope| !principal.holds(scope)) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "not-allowed",
                format!(
                    "granting or removing {level} needs `{scope}`, one of the scopes it gives, which the token does not have"
                ),
            ));
        }
    }
    Ok(())
}

/// The levels in `before` or `after` but not in both.
fn difference(before: &[UserLevel], after: &[UserLevel]) -> Vec<UserLevel> {
    let mut changed: Vec<UserLevel> = before.iter().filter(|l| !after.contains(l)).copied().collect();
    changed.extend(after.iter().filter(|l| !before.contains(l)));
    changed
}

/// Reads a list of levels at `pointer`, each an ISC capability.
fn levels_at(value: &Value, pointer: &str) -> ApiResult<Vec<UserLevel>> {
    let Some(items) = value.as_array() else {
        return Err(ApiError::invalid(pointer, "must be a list of user levels such as [\"ROLE_ADMIN\"]"));
    };
    let mut levels = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let level = item
            .as_str()
            .ok_or_else(|| ApiError::invalid(&format!("{pointer}/{i}"), "must be a user level such as ROLE_ADMIN"))?
            .parse::<UserLevel>()
            .map_err(|e| ApiError::invalid(&format!("{pointer}/{i}"), e.to_string()))?;
        if !levels.contains(&level) {
            levels.push(level);
        }
    }
    levels.sort_unstable();
    Ok(levels)
}

/// `GET /v3/auth-users/{id}`.
pub(crate) async fn read(State(state): State<AppState>, PathParams(id): PathParams<String>) -> ApiResult<Json<Value>> {
    let mut tx = state.begin().await?;
    let identity = person(&mut tx, &id).await?;
    let levels = tx.user_levels(LevelHolder::Identity(&id)).await?;
    Ok(Json(shape(&identity, &levels)))
}

/// `PATCH /v3/auth-users/{id}`: a JSON Patch of which only `/capabilities` may change.
pub(crate) async fn patch(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(id): PathParams<String>,
    JsonBody(patch): JsonBody<JsonPatch>,
) -> ApiResult<Json<Value>> {
    for (i, path) in patch.paths().enumerate() {
        if path != "/capabilities" && !path.starts_with("/capabilities/") {
            return Err(ApiError::invalid(&format!("/{i}/path"), "only `/capabilities` changes"));
        }
    }
    let edit = |before: &[UserLevel]| {
        let mut view = json!({"capabilities": before});
        json_patch::patch(&mut view, &patch.0)
            .map_err(|e| ApiError::bad_request(format!("the patch does not apply: {e}")))?;
        let capabilities = if view["capabilities"].is_null() { json!([]) } else { view["capabilities"].take() };
        let after = levels_at(&capabilities, "/capabilities")?;
        may_change(&principal, &difference(before, &after))?;
        Ok::<_, ApiError>(after)
    };
    let after = state.governance.change_user_levels(LevelHolder::Identity(&id), &principal.actor(), edit).await?;
    let mut tx = state.begin().await?;
    let identity = person(&mut tx, &id).await?;
    Ok(Json(shape(&identity, &after)))
}

/// `GET /tessera/v1/identities/{id}/permissions`: every level the person holds and through what, and
/// the scopes they hold signed in.
pub(crate) async fn permissions(
    State(state): State<AppState>,
    PathParams(id): PathParams<String>,
) -> ApiResult<Json<Value>> {
    let mut tx = state.begin().await?;
    person(&mut tx, &id).await?;
    let held = tx.held_levels(&id).await?;
    let mut levels: Vec<UserLevel> = held.iter().map(|h| h.level).collect();
    levels.dedup();
    let through: Vec<Value> = held
        .iter()
        .map(|h| match &h.via_group {
            None => json!({"userLevel": h.level, "via": {"type": "IDENTITY", "id": id}}),
            Some(group) => json!({"userLevel": h.level, "via": {"type": "GOVERNANCE_GROUP", "id": group}}),
        })
        .collect();
    Ok(Json(json!({"identityId": id, "userLevels": levels, "grants": through, "scopes": scopes_of(&levels)})))
}

async fn group(tx: &mut Tx, id: &str) -> ApiResult<()> {
    tx.object(CatalogKind::Workgroup, id).await?.ok_or_else(|| ApiError::not_found("governance group", id))?;
    Ok(())
}

/// `GET /tessera/v1/governance-groups/{id}/user-levels`.
pub(crate) async fn group_levels(
    State(state): State<AppState>,
    PathParams(id): PathParams<String>,
) -> ApiResult<Json<Value>> {
    let mut tx = state.begin().await?;
    group(&mut tx, &id).await?;
    let levels = tx.user_levels(LevelHolder::GovernanceGroup(&id)).await?;
    Ok(Json(json!({"userLevels": levels})))
}

/// A governance group's user levels.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GroupLevelsBody {
    /// ISC's user levels, such as `ORG_ADMIN` or `HELPDESK`.
    #[schemars(with = "Vec<String>")]
    user_levels: Value,
}

/// `PUT /tessera/v1/governance-groups/{id}/user-levels` with `{"userLevels": [...]}`: every member
/// holds them while a member.
pub(crate) async fn set_group_levels(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(id): PathParams<String>,
    JsonBody(body): JsonBody<GroupLevelsBody>,
) -> ApiResult<Json<Value>> {
    let after = levels_at(&body.user_levels, "/userLevels")?;
    let edit = |before: &[UserLevel]| {
        may_change(&principal, &difference(before, &after))?;
        Ok::<_, ApiError>(after.clone())
    };
    let holder = LevelHolder::GovernanceGroup(&id);
    let after = state.governance.change_user_levels(holder, &principal.actor(), edit).await?;
    Ok(Json(json!({"userLevels": after})))
}
