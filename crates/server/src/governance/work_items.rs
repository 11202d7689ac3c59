//! ISC's work items for manual provisioning (`/v3/work-items`): account requests on sources no
//! connector can write, waiting for a person. Completing one settles its plan.

use axum::Json;
use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};
use tessera_model::WorkStatus;
use tessera_store::{AccessStore, CatalogKind, ProvisioningStore, Tx, WorkItem};

use super::{ListQuery, Names, listed, restricted_to, stamp};
use crate::AppState;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult, PathParams, QueryParams};

/// A work item as ISC's `WorkItems` shows it (type `ManualAction`).
async fn shape(tx: &mut Tx, names: &mut Names, item: &WorkItem) -> ApiResult<Value> {
    let request = &item.document["accountRequest"];
    let source = names.object(tx, CatalogKind::Source, &item.source_id).await?;
    let identity = names.identity(tx, &item.identity_id).await?;
    let operation = request["operation"].as_str().unwrap_or("Modify");
    let state = match item.status {
        WorkStatus::Pending | WorkStatus::Waiting => "Pending",
        WorkStatus::Completed => "Finished",
        _ => "Rejected",
    };
    let (owner_type, owner_id) = item.assignee.as_deref().and_then(|a| a.split_once(':')).unzip();
    Ok(json!({
        "id": item.id,
        "name": format!("{operation} account on source '{}'", source.as_deref().unwrap_or(&item.source_id)),
        "description": format!(
            "{operation} account of {} on source '{}'",
            identity.as_deref().unwrap_or(&item.identity_id),
            source.as_deref().unwrap_or(&item.source_id)
        ),
        "type": "ManualAction",
        "state": state,
        "ownerId": owner_id,
        "ownerType": owner_type,
        "requesterId": Value::Null,
        "requesterDisplayName": Value::Null,
        "created": stamp(item.created_at),
        "modified": item.completed_at.map(stamp),
        "completed": item.completed_at.map(stamp),
        "completedBy": item.completed_by,
        "comment": item.comment,
        "numItems": 1,
        "identity": {"type": "IDENTITY", "id": item.identity_id, "name": identity},
        "source": {"type": "SOURCE", "id": item.source_id, "name": source},
        "accountRequest": request,
        "remediationItems": Value::Null,
        "approvalItems": Value::Null,
        "errors": [],
    }))
}

/// What a token acting as a person may see of work items: those assigned to them or to a governance
/// group they belong to. `None` for a token that may see every item (one acting as no one, or an
/// administrator's).
async fn own_assignments(tx: &mut Tx, principal: &Principal) -> ApiResult<Option<Vec<String>>> {
    let Some(me) = restricted_to(principal) else { return Ok(None) };
    let mut mine = vec![format!("IDENTITY:{me}")];
    mine.extend(tx.workgroups_of(me).await?.into_iter().map(|group| format!("GOVERNANCE_GROUP:{group}")));
    Ok(Some(mine))
}

/// The item, if the caller may see it (otherwise it does not exist for them).
async fn own_item(tx: &mut Tx, principal: &Principal, id: &str) -> ApiResult<WorkItem> {
    let item = tx.work_item(id).await?.ok_or_else(|| ApiError::not_found("work item", id))?;
    if let Some(mine) = own_assignments(tx, principal).await?
        && !item.assignee.as_ref().is_some_and(|assignee| mine.contains(assignee))
    {
        return Err(ApiError::not_found("work item", id));
    }
    Ok(item)
}

async fn page(
    state: &AppState,
    principal: &Principal,
    status: Option<WorkStatus>,
    query: &ListQuery,
) -> ApiResult<Response> {
    let (limit, offset) = query.bounds(250)?;
    let mut tx = state.begin().await?;
    let mine = own_assignments(&mut tx, principal).await?;
    let items = tx.work_items(status, mine.as_deref(), limit, offset).await?;
    let mut names = Names::default();
    let mut shaped = Vec::with_capacity(items.len());
    for item in &items {
        shaped.push(shape(&mut tx, &mut names, item).await?);
    }
    Ok(listed(shaped, None))
}

/// `GET /v3/work-items`: the open ones, oldest first.
pub(crate) async fn open(
    State(state): State<AppState>,
    principal: Principal,
    QueryParams(query): QueryParams<ListQuery>,
) -> ApiResult<Response> {
    page(&state, &principal, Some(WorkStatus::Pending), &query).await
}

/// `GET /v3/work-items/completed`.
pub(crate) async fn completed(
    State(state): State<AppState>,
    principal: Principal,
    QueryParams(query): QueryParams<ListQuery>,
) -> ApiResult<Response> {
    page(&state, &principal, Some(WorkStatus::Completed), &query).await
}

/// `GET /v3/work-items/{id}`.
pub(crate) async fn read(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(id): PathParams<String>,
) -> ApiResult<Json<Value>> {
    let mut tx = state.begin().await?;
    let item = own_item(&mut tx, &principal, &id).await?;
    Ok(Json(shape(&mut tx, &mut Names::default(), &item).await?))
}

/// The answer to a work item: done (the default) or failed, with the account's native identity
/// when it was created.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Completion {
    #[serde(default)]
    failed: bool,
    comment: Option<String>,
    account_id: Option<String>,
}

/// `POST /v3/work-items/{id}`: completes a work item; its plan ends SUCCESS, or FAILED with
/// `{"failed": true, "comment": "why"}`. A token acting as a person completes only the items it
/// owns (through a governance group too).
pub(crate) async fn complete(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(id): PathParams<String>,
    body: axum::body::Bytes,
) -> ApiResult<Json<Value>> {
    let mut tx = state.begin().await?;
    own_item(&mut tx, &principal, &id).await?;
    drop(tx);
    // An empty body completes the item; a body says how.
    let completion: Completion = if body.iter().all(u8::is_ascii_whitespace) {
        Completion::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::bad_request(format!(
                "the body is not a completion ({e}); send {{\"failed\": true, \"comment\": \"why\"}} or nothing"
            ))
        })?
    };
    let actor = principal.actor();
    state
        .governance
        .complete_work_item(
            &id,
            !completion.failed,
            &actor,
            completion.comment.as_deref(),
            completion.account_id.as_deref(),
        )
        .await?;
    let mut tx = state.begin().await?;
    let item = tx.work_item(&id).await?.ok_or_else(|| ApiError::not_found("work item", &id))?;
    Ok(Json(shape(&mut tx, &mut Names::default(), &item).await?))
}
