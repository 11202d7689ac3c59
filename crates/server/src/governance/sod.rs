//! ISC's separation-of-duties policies (`/v3/sod-policies`) and violation prediction
//! (`/v3/sod-violations/predict`): the wire shapes and scopes here, definitions and the check in
//! `engine::sod`. Tessera's extension `forbid: true` makes an ENFORCED policy refuse access requests
//! that would violate it; otherwise a violation is shown to approvers as `sodViolationContext`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};
use tessera_governance::sod::{SodViolation, violation_context};
use tessera_store::{IdentityStore, SodPolicyRecord, SodStore};

use super::{ListQuery, invalid, listed, object, stamp};
use crate::AppState;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult, JsonBody, PathParams, QueryParams};

/// A policy in ISC's shape: its document with the row's id, name and stamps.
fn render(policy: &SodPolicyRecord) -> Value {
    let mut body = policy.document.clone();
    body["id"] = json!(policy.id);
    body["name"] = json!(policy.name);
    body["created"] = json!(stamp(policy.created_at));
    body["modified"] = json!(stamp(policy.modified_at));
    body
}

/// `GET /v3/sod-policies`: every policy by name, paged with `limit` and `offset`.
pub(crate) async fn list(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<ListQuery>,
) -> ApiResult<Response> {
    let (limit, offset) = query.bounds(250)?;
    let mut tx = state.begin().await?;
    let all = tx.sod_policies().await?;
    let page = all.iter().skip(offset as usize).take(limit as usize).map(render).collect();
    Ok(listed(page, query.count.unwrap_or(false).then_some(all.len() as i64)))
}

/// `GET /v3/sod-policies/{id}`.
pub(crate) async fn read(State(state): State<AppState>, PathParams(id): PathParams<String>) -> ApiResult<Json<Value>> {
    let mut tx = state.begin().await?;
    let policy = tx.sod_policy(&id).await?.ok_or_else(|| ApiError::not_found("SoD policy", &id))?;
    Ok(Json(render(&policy)))
}

/// `POST /v3/sod-policies`: 201 with the stored policy.
pub(crate) async fn create(
    State(state): State<AppState>,
    principal: Principal,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let policy = state.governance.create_sod_policy(&body, &principal.actor()).await?;
    Ok((StatusCode::CREATED, Json(render(&policy))))
}

/// `PUT /v3/sod-policies/{id}`: the whole definition replaced.
pub(crate) async fn replace(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(id): PathParams<String>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let policy = state.governance.replace_sod_policy(&id, &body, &principal.actor()).await?;
    Ok(Json(render(&policy)))
}

/// `DELETE /v3/sod-policies/{id}`: 204.
pub(crate) async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(id): PathParams<String>,
) -> ApiResult<StatusCode> {
    state.governance.delete_sod_policy(&id, &principal.actor()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v3/sod-violations/predict`: `{identityId, accessRefs: [{type, id}]}` → ISC's
/// `ViolationPrediction` (`violationContexts`).
pub(crate) async fn predict(State(state): State<AppState>, JsonBody(body): JsonBody<Value>) -> ApiResult<Json<Value>> {
    let fields = object(&body)?;
    let Some(identity) = fields.get("identityId").and_then(Value::as_str) else {
        return Err(invalid("/identityId", "is required"));
    };
    let Some(refs) = fields.get("accessRefs").and_then(Value::as_array) else {
        return Err(invalid("/accessRefs", "must be a list of {\"type\", \"id\"} references"));
    };
    let mut items = Vec::with_capacity(refs.len());
    for (i, reference) in refs.iter().enumerate() {
        let kind = reference.get("type").and_then(Value::as_str);
        let id = reference.get("id").and_then(Value::as_str);
        let (Some(kind), Some(id)) = (kind, id) else {
            return Err(invalid(&format!("/accessRefs/{i}"), "must be a reference such as {\"type\", \"id\"}"));
        };
        items.push((kind.to_owned(), id.to_owned()));
    }
    let mut tx = state.begin().await?;
    if tx.identity(identity).await?.is_none() {
        return Err(invalid("/identityId", format!("no identity has the id `{identity}`")));
    }
    drop(tx);
    let found: Vec<SodViolation> = state.governance.predict_sod_violations(identity, &items).await?;
    let context = violation_context(&found);
    Ok(Json(json!({"violationContexts": context["violationCheckResult"]["violationContexts"]})))
}
