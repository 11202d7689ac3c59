//! Tessera's views of what identities hold and what is to change for them:
//! `GET /tessera/v1/identities/{id}/access` (roles, access profiles and entitlements, each with its
//! origin and what carries it) and `GET /tessera/v1/provisioning-plans` (account changes waiting).

use axum::Json;
use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};
use tessera_model::Timestamp;
use tessera_store::catalog::referenced_ids;
use tessera_store::{AccessStore, CatalogKind, CatalogObject, CatalogStore, IdentityStore, PlanRecord, Tx};

use super::{Names, listed, stamp};
use crate::AppState;
use crate::error::{ApiError, ApiResult, PathParams, QueryParams};

fn kind_of(kind: &str) -> Option<CatalogKind> {
    CatalogKind::of_access(kind)
}

/// One held object, with the grant's origin and what carries it (null when held directly).
async fn item(
    tx: &mut Tx,
    names: &mut Names,
    object: &CatalogObject,
    origin: &str,
    granted: Timestamp,
    carrier: &Value,
) -> ApiResult<Value> {
    let mut out = json!({
        "type": object.kind.as_str(),
        "id": object.id,
        "name": object.name,
        "origin": origin,
        "granted": stamp(granted),
        "grantedBy": carrier,
    });
    if matches!(object.kind, CatalogKind::AccessProfile | CatalogKind::Entitlement) {
        out["source"] = names.reference(tx, CatalogKind::Source, &object.parent_id).await?;
    }
    if object.kind == CatalogKind::Entitlement {
        out["attribute"] = object.document.get("attribute").cloned().unwrap_or(Value::Null);
        out["value"] = object.document.get("value").cloned().unwrap_or(Value::Null);
    }
    Ok(out)
}

/// `GET /tessera/v1/identities/{id}/access`.
pub(crate) async fn access(
    State(state): State<AppState>,
    PathParams(id): PathParams<String>,
) -> ApiResult<Json<Value>> {
    let mut tx = state.begin().await?;
    tx.identity(&id).await?.ok_or_else(|| ApiError::not_found("identity", &id))?;
    let mut names = Names::default();
    let mut out = Vec::new();
    for grant in tx.access_of(std::slice::from_ref(&id)).await? {
        let Some(kind) = kind_of(&grant.kind) else { continue };
        let Some(object) = tx.object(kind, &grant.object_id).await? else { continue };
        // Held directly: granted by whoever made the grant (a workflow, a request, a client, the system).
        let granted_by = grant.granted_by.as_deref().map_or(Value::Null, crate::shapes::actor);
        out.push(item(&mut tx, &mut names, &object, &grant.origin, grant.granted_at, &granted_by).await?);
        // What the object carries: a role's access profiles, and every access profile's entitlements.
        let mut profiles = Vec::new();
        if kind == CatalogKind::Role {
            let carrier = json!({ "type": "ROLE", "id": object.id, "name": object.name });
            for ap in tx
                .objects_by_ids(CatalogKind::AccessProfile, &referenced_ids(&object.document, "accessProfiles"))
                .await?
            {
                out.push(item(&mut tx, &mut names, &ap, &grant.origin, grant.granted_at, &carrier).await?);
                profiles.push(ap);
            }
        } else if kind == CatalogKind::AccessProfile {
            profiles.push(object);
        }
        for ap in profiles {
            let carrier = json!({ "type": "ACCESS_PROFILE", "id": ap.id, "name": ap.name });
            for e in tx.objects_by_ids(CatalogKind::Entitlement, &referenced_ids(&ap.document, "entitlements")).await? {
                out.push(item(&mut tx, &mut names, &e, &grant.origin, grant.granted_at, &carrier).await?);
            }
        }
    }
    Ok(Json(Value::Array(out)))
}

/// The parameters of the plan list.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PlanQuery {
    identity_id: Option<String>,
    /// `QUEUED`, `PENDING`, `SUCCESS` or `FAILED`; every status unless given (`*` too).
    status: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

async fn plan_shape(tx: &mut Tx, names: &mut Names, plan: &PlanRecord) -> ApiResult<Value> {
    Ok(json!({
        "id": plan.id,
        "identity": names.identity_ref(tx, Some(&plan.identity_id)).await?,
        "source": names.reference(tx, CatalogKind::Source, &plan.source_id).await?,
        "operation": plan.operation,
        "cause": plan.cause,
        "status": plan.status,
        "trackingNumber": plan.tracking_number,
        "attempt": plan.attempt,
        "result": plan.result,
        "accountRequest": plan.document,
        "created": stamp(plan.created_at),
        "modified": stamp(plan.modified_at),
    }))
}

/// `GET /tessera/v1/provisioning-plans?identityId=…&status=…`: newest first.
pub(crate) async fn plans(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<PlanQuery>,
) -> ApiResult<Response> {
    let bounds = super::ListQuery { limit: query.limit, offset: query.offset, ..Default::default() };
    let (limit, offset) = bounds.bounds(250)?;
    let status = query.status.as_deref().unwrap_or("*");
    let mut tx = state.begin().await?;
    if let Some(id) = &query.identity_id {
        tx.identity(id).await?.ok_or_else(|| ApiError::not_found("identity", id))?;
    }
    // The store pages every plan; the status filter is applied while reading through them.
    const CHUNK: i64 = 500;
    let (mut wanted, mut skipped, mut from) = (Vec::new(), 0, 0);
    loop {
        let chunk = tx.plans(query.identity_id.as_deref(), CHUNK, from).await?;
        let done = (chunk.len() as i64) < CHUNK;
        from += CHUNK;
        for plan in chunk {
            if status != "*" && !plan.status.as_str().eq_ignore_ascii_case(status) {
                continue;
            }
            if skipped < offset {
                skipped += 1;
            } else if (wanted.len() as i64) < limit {
                wanted.push(plan);
            }
        }
        if done || wanted.len() as i64 >= limit {
            break;
        }
    }
    let mut names = Names::default();
    let mut items = Vec::with_capacity(wanted.len());
    for plan in &wanted {
        items.push(plan_shape(&mut tx, &mut names, plan).await?);
    }
    Ok(listed(items, None))
}
