//! ISC's access requests and their approvals (`/v3/access-requests`, `/v3/access-request-status`,
//! `/v3/access-request-approvals`): bodies checked with pointers, the caller's authority checked
//! here, and the work done by `engine::requests`.
//!
//! A token whose client is bound to an identity acts as that person: it submits as them, may with
//! ISC's self-service scope (`idn:access-request-self:manage`) request for them only, decides their
//! approvals and, without `owner-id`, lists them. A token with the managing scope
//! (`idn:access-request:manage`) may name any `requestedBy`: grant it to clients that authenticated
//! the person themselves, such as a portal. A token bound to no identity decides as the `approverId`
//! its body names.

use schemars::JsonSchema;
use std::collections::HashMap;
use tessera_model::{AccessRequestType, ApproverKind, ItemStatus, RequestStatus, Timestamp, WorkStatus};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use tessera_governance::approval_deadlines::RequestConfig;
use tessera_governance::requests::{NewAccessRequest, RequestType, RequestedItem, Tracking};
use tessera_store::{
    AccessRequestRecord, ApprovalConfigStore, ApprovalRecord, ApprovalState, CatalogKind, CatalogStore, IdentityStore,
    RequestItemRecord, RequestStore, SodStore, Tx,
};

use super::{Names, invalid, listed, only_own, restricted_to, stamp};
use crate::AppState;
use crate::auth::{ACCESS_REQUEST_MANAGE, ACCESS_REQUEST_SELF_MANAGE, ALL, Principal};
use crate::body::{NonBlank, Reference};
use crate::error::{ApiError, ApiResult, JsonBody, OptionalJsonBody, PathParams, QueryParams};

/// Whether the caller may request for anyone (true) or only for its own identity (false); 403 when
/// it may do neither.
fn may_request(principal: &Principal) -> ApiResult<bool> {
    if principal.require(ACCESS_REQUEST_MANAGE).is_ok() {
        return Ok(true);
    }
    principal.require(ACCESS_REQUEST_SELF_MANAGE).map_err(|_| ApiError::forbidden(ACCESS_REQUEST_MANAGE))?;
    Ok(false)
}

/// Who submits: the token's identity; a managing token may name another in `requestedBy`.
fn requester(principal: &Principal, managing: bool, named: Option<String>) -> ApiResult<String> {
    match (principal.identity(), named) {
        (Some(own), Some(named)) if !managing && named != own => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("this token acts as identity {own}; requesting as {named} needs `{ACCESS_REQUEST_MANAGE}`"),
        )),
        (_, Some(named)) if managing => Ok(named),
        (Some(own), _) => Ok(own.to_owned()),
        (None, None) if managing => {
            Err(invalid("/requestedBy", "name the requesting identity: this token carries none"))
        }
        (None, _) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "this token names no identity, so it cannot request for itself; bind its client to an identity or use `{ACCESS_REQUEST_MANAGE}`"
            ),
        )),
    }
}

fn instant(value: Option<&str>, at: &str) -> ApiResult<Option<Timestamp>> {
    value.map(|s| s.parse::<Timestamp>().map_err(|_| invalid(at, format!("`{s}` is not an RFC 3339 time")))).transpose()
}

/// `POST /v3/access-requests`' body, in ISC's names.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SubmitBody {
    /// Who asks: an identity reference; a token acting as a person asks as that person.
    #[serde(default)]
    requested_by: Option<Reference>,
    /// The identities the access is for.
    requested_for: Vec<NonBlank>,
    #[serde(default)]
    request_type: RequestKind,
    requested_items: Vec<ItemBody>,
    #[serde(default)]
    comment: Option<String>,
}

/// ISC's request types.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub(crate) enum RequestKind {
    #[default]
    GrantAccess,
    RevokeAccess,
}

/// One requested item.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ItemBody {
    /// ROLE, ACCESS_PROFILE or ENTITLEMENT.
    #[serde(rename = "type")]
    kind: NonBlank,
    id: NonBlank,
    #[serde(default)]
    comment: Option<String>,
    /// When granted access is to be removed again (RFC 3339).
    #[serde(default)]
    remove_date: Option<String>,
}

/// `POST /v3/access-requests/cancel`'s body.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CancelBody {
    account_activity_id: NonBlank,
    comment: NonBlank,
}

/// An approval's decision: an optional comment (a rejection needs one) and Tessera's `approverId`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DecisionBody {
    #[serde(default)]
    approver_id: Option<NonBlank>,
    #[serde(default)]
    comment: Option<String>,
}

/// `POST /v3/access-request-approvals/{id}/forward`'s body.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ForwardBody {
    new_owner_id: NonBlank,
    comment: NonBlank,
}

fn tracking(t: &Tracking) -> Value {
    json!({"requestedFor": t.requested_for,
           "requestedItemsDetails": t.items.iter().map(|(k, id)| json!({"type": k, "id": id})).collect::<Vec<_>>(),
           "accessRequestIds": t.request_ids})
}

/// `POST /v3/access-requests`: answers 202 with ISC's `newRequests` and `existingRequests`.
pub(crate) async fn submit(
    State(state): State<AppState>,
    principal: Principal,
    JsonBody(body): JsonBody<SubmitBody>,
) -> ApiResult<Response> {
    let managing = may_request(&principal)?;
    let requester_id = requester(&principal, managing, body.requested_by.map(|r| r.id))?;
    let requested_for: Vec<String> = body.requested_for.into_iter().map(NonBlank::into_string).collect();
    let config = state.governance.access_request_config().await?;
    if config.approvals_must_be_external && principal.require(ALL).is_err() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "approvals-external",
            "approvals are processed by an external system here (approvalsMustBeExternal): only an administrator may submit access requests",
        ));
    }
    if !managing {
        on_behalf(&state, &config, &requester_id, &requested_for).await?;
    }
    let request_type = match body.request_type {
        RequestKind::GrantAccess => RequestType::Grant,
        RequestKind::RevokeAccess => RequestType::Revoke,
    };
    let mut items = Vec::with_capacity(body.requested_items.len());
    for (i, item) in body.requested_items.into_iter().enumerate() {
        let at = format!("/requestedItems/{i}");
        let (kind, id) = (item.kind.into_string(), item.id.into_string());
        let comment = item.comment;
        if kind == "ENTITLEMENT" && !config.entitlements.allowed {
            return Err(invalid(
                &format!("{at}/type"),
                "entitlements cannot be requested here (entitlementRequestConfig.allowEntitlementRequest is false)",
            ));
        }
        if kind == "ENTITLEMENT"
            && config.entitlements.comments_required
            && comment.as_deref().is_none_or(|c| c.trim().is_empty())
        {
            return Err(invalid(&format!("{at}/comment"), "an entitlement request needs a comment"));
        }
        let remove_at = instant(item.remove_date.as_deref(), &format!("{at}/removeDate"))?;
        if remove_at.is_some_and(|t| t <= state.now()) {
            return Err(invalid(&format!("{at}/removeDate"), "must be in the future"));
        }
        items.push(RequestedItem { kind, id, comment, remove_at });
    }
    let request = NewAccessRequest { requester_id, requested_for, request_type, items, comment: body.comment };
    let submitted = state.governance.submit_access_request(&request, &principal.actor()).await?;
    let answer = json!({
        "newRequests": submitted.new_requests.iter().map(tracking).collect::<Vec<_>>(),
        "existingRequests": submitted.existing_requests.iter().map(tracking).collect::<Vec<_>>(),
    });
    Ok((StatusCode::ACCEPTED, Json(answer)).into_response())
}

/// Refuses a self-service token's request for someone else unless `requestOnBehalfOfConfig` allows
/// it: for anyone, or for the requester's direct reports.
async fn on_behalf(
    state: &AppState,
    config: &RequestConfig,
    requester: &str,
    requested_for: &[String],
) -> ApiResult<()> {
    let mut tx = state.begin().await?;
    for (i, id) in requested_for.iter().enumerate() {
        if id == requester || config.on_behalf_of.anyone_by_anyone {
            continue;
        }
        let reports_to_requester = tx.identity(id).await?.and_then(|t| t.manager_id).is_some_and(|m| m == requester);
        if config.on_behalf_of.employee_by_manager && reports_to_requester {
            continue;
        }
        let allowed = if config.on_behalf_of.employee_by_manager { " and their direct reports" } else { "" };
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "/requestedFor/{i}: this token may request only for identity {requester}{allowed}; requesting for others needs `{ACCESS_REQUEST_MANAGE}` or requestOnBehalfOfConfig"
            ),
        ));
    }
    Ok(())
}

/// `POST /v3/access-requests/cancel` with ISC's `{"accountActivityId", "comment"}`.
pub(crate) async fn cancel(
    State(state): State<AppState>,
    principal: Principal,
    JsonBody(body): JsonBody<CancelBody>,
) -> ApiResult<Response> {
    let managing = may_request(&principal)?;
    let (id, comment) = (body.account_activity_id.into_string(), body.comment.into_string());
    if !managing {
        let mut tx = state.begin().await?;
        let request = tx.access_request(&id).await?.ok_or_else(|| ApiError::not_found("access request", &id))?;
        if principal.identity() != Some(request.requester_id.as_str()) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("this token may cancel only its own identity's requests; this needs `{ACCESS_REQUEST_MANAGE}`"),
            ));
        }
    }
    state.governance.cancel_access_request(&id, &comment, &principal.actor()).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({}))).into_response())
}

/// The status list's query (ISC's names).
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub(crate) struct StatusQuery {
    requested_for: Option<String>,
    requested_by: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

fn bounds(limit: Option<i64>, offset: Option<i64>) -> ApiResult<(i64, i64)> {
    crate::paging::bounds(limit, offset, 250, 250)
}

/// ISC's request state of an item.
fn item_state(item: &RequestItemRecord) -> &'static str {
    match item.status {
        ItemStatus::Pending => "EXECUTING",
        ItemStatus::Approved => "REQUEST_COMPLETED",
        ItemStatus::Rejected => "REJECTED",
        ItemStatus::Cancelled => "CANCELLED",
    }
}

async fn comment_of(
    tx: &mut Tx,
    names: &mut Names,
    text: Option<&str>,
    author: &str,
    at: Timestamp,
) -> ApiResult<Value> {
    let Some(text) = text else { return Ok(Value::Null) };
    Ok(json!({"comment": text, "created": stamp(at), "author": names.identity_ref(tx, Some(author)).await?}))
}

/// An approval's decision as ISC's `approvalDetails` show it.
async fn approval_detail(tx: &mut Tx, names: &mut Names, a: &ApprovalRecord) -> ApiResult<Value> {
    Ok(json!({
        "approvalId": a.id,
        "level": a.level,
        "approverType": a.approver_kind,
        "status": a.status.isc_approval(),
        "approvers": a.candidates,
        "reviewedBy": names.identity_ref(tx, a.decided_by.as_deref()).await?,
        "comment": a.comment,
        "decided": a.decided_at.map(stamp),
    }))
}

/// `GET /v3/access-request-status`: one entry per requested item, newest first.
pub(crate) async fn status(
    State(state): State<AppState>,
    principal: Principal,
    QueryParams(query): QueryParams<StatusQuery>,
) -> ApiResult<Response> {
    let (limit, offset) = bounds(query.limit, query.offset)?;
    // ISC's `me` names the token's identity; a token acting as a person sees only the requests it
    // made or that were made for it.
    let me = |named: Option<&str>| match named {
        Some("me") => principal
            .identity()
            .map(str::to_owned)
            .ok_or_else(|| ApiError::bad_request("`me` needs a token that acts as an identity"))
            .map(Some),
        other => Ok(other.map(str::to_owned)),
    };
    let requested_for = me(query.requested_for.as_deref())?;
    let requested_by = me(query.requested_by.as_deref())?;
    let regarding = restricted_to(&principal);
    if let Some(own) = regarding
        && requested_for.as_deref().is_some_and(|id| id != own)
        && requested_by.as_deref().is_some_and(|id| id != own)
    {
        only_own(&principal, requested_for.as_deref(), "requests")?;
    }
    let mut tx = state.begin().await?;
    let rows = tx.requested_items(requested_for.as_deref(), requested_by.as_deref(), regarding, limit, offset).await?;
    let mut names = Names::default();
    let mut shaped = Vec::with_capacity(rows.len());
    let mut contexts: HashMap<String, Value> = HashMap::new();
    for (request, item) in &rows {
        let sod = match contexts.get(&request.id) {
            Some(context) => context.clone(),
            None => {
                let context = sod_context(&mut tx, request).await?;
                contexts.insert(request.id.clone(), context.clone());
                context
            }
        };
        let approvals = tx.request_approvals(&request.id).await?;
        let mut details = Vec::new();
        for a in approvals.iter().filter(|a| a.item_id == item.id && a.status != WorkStatus::Waiting) {
            details.push(approval_detail(&mut tx, &mut names, a).await?);
        }
        let pending: Vec<&str> = approvals
            .iter()
            .filter(|a| a.item_id == item.id && a.status == WorkStatus::Pending)
            .map(|a| a.id.as_str())
            .collect();
        shaped.push(json!({
            "id": item.object_id,
            "name": item.name,
            "type": item.kind,
            "state": item_state(item),
            "approvalDetails": details,
            "approvalIds": pending,
            "requestType": request.request_type,
            "created": stamp(request.created_at),
            "modified": stamp(item.modified_at),
            "requester": names.identity_ref(&mut tx, Some(&request.requester_id)).await?,
            "requestedFor": names.identity_ref(&mut tx, Some(&request.requested_for_id)).await?,
            "requesterComment":
                comment_of(&mut tx, &mut names, item.comment.as_deref(), &request.requester_id, request.created_at)
                    .await?,
            "removeDate": item.remove_at.map(stamp),
            "cancelable": request.status == RequestStatus::Pending,
            "accessRequestId": request.id,
            "provisioningDetails": item.tracking_number.as_ref().map(|t| json!({"orderedSubPhaseReferences": t})),
            "errorMessages": [],
            "sodViolationContext": sod,
        }));
    }
    Ok(listed(shaped, None))
}

/// ISC's `sodViolationContext` for a request: what the check at its submission found. A grant's
/// check always runs in the submission's transaction and stores only violations, so a grant without
/// a stored context was checked and violates nothing; a revocation is not checked (null). A stored
/// context that cannot be read shows as ISC's ERROR state.
async fn sod_context(tx: &mut Tx, request: &AccessRequestRecord) -> ApiResult<Value> {
    match tx.sod_context(&request.id).await {
        Ok(Some(context)) => Ok(context),
        Ok(None) if request.request_type == AccessRequestType::Grant => Ok(json!({"state": "SUCCESS", "uuid": null,
            "violationCheckResult": {"violationContexts": [], "violatedPolicies": []}})),
        Ok(None) => Ok(Value::Null),
        Err(tessera_store::Error::Json(error)) => {
            tracing::warn!(request = %request.id, %error, "a stored SoD violation context is unreadable");
            Ok(json!({"state": "ERROR", "uuid": null, "violationCheckResult": {
                "message": {"locale": "en-US", "localeOrigin": "DEFAULT",
                            "text": "the SoD check result stored with this request cannot be read"},
                "violationContexts": null, "violatedPolicies": null}}))
        }
        Err(other) => Err(other.into()),
    }
}

/// ISC's `forwardHistory`: each forward and escalation of an approval, oldest first, with Tessera's
/// identity references beside ISC's names.
async fn forward_history(tx: &mut Tx, names: &mut Names, approval_id: &str) -> ApiResult<Value> {
    let mut history = Vec::new();
    for r in tx.reassignments(approval_id).await? {
        let mut old = Vec::with_capacity(r.old_approvers.len());
        for id in &r.old_approvers {
            old.push(names.identity_ref(tx, Some(id)).await?);
        }
        let old_names: Vec<&str> = old.iter().filter_map(|o| o["name"].as_str().or(o["id"].as_str())).collect();
        let new = names.identity_ref(tx, Some(&r.new_approver)).await?;
        let forwarder = names.identity_ref(tx, r.forwarder.as_deref()).await?;
        history.push(json!({
            "oldApproverName": old_names.join(", "),
            "newApproverName": new["name"].as_str().unwrap_or(&r.new_approver),
            "comment": r.comment,
            "modified": stamp(r.created_at),
            "forwarderName": forwarder["name"],
            "reassignmentType": r.kind,
            "oldApprovers": old,
            "newApprover": new,
        }));
    }
    Ok(Value::Array(history))
}

/// The approvals list's query: ISC's `owner-id` narrows it to one approver's.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub(crate) struct ApprovalQuery {
    owner_id: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

/// An approval as ISC's `PendingApproval` / `CompletedApproval` shows it, with Tessera's `level`,
/// `approverType` and `approvers`.
async fn approval_shape(
    tx: &mut Tx,
    names: &mut Names,
    a: &ApprovalRecord,
    request: &AccessRequestRecord,
    item: &RequestItemRecord,
) -> ApiResult<Value> {
    let owner = match (a.approver_kind, a.approver_ref.as_deref()) {
        (ApproverKind::GovernanceGroup, Some(group)) => names.reference(tx, CatalogKind::Workgroup, group).await?,
        (_, reference) => names.identity_ref(tx, reference).await?,
    };
    // An item of a kind no longer known has no description (never another kind's: it used to read
    // an entitlement of the same id).
    let description = match CatalogKind::of_access(&item.kind) {
        Some(kind) => tx.object(kind, &item.object_id).await?.map(|o| o.document["description"].clone()),
        None => None,
    };
    let mut shaped = json!({
        "id": a.id,
        "accessRequestId": request.id,
        "name": item.name,
        "created": stamp(a.created_at),
        "modified": stamp(a.modified_at),
        "requestCreated": stamp(request.created_at),
        "requestType": request.request_type,
        "requester": names.identity_ref(tx, Some(&request.requester_id)).await?,
        "requestedFor": names.identity_ref(tx, Some(&request.requested_for_id)).await?,
        "owner": owner,
        "requestedObject": {"id": item.object_id, "name": item.name, "type": item.kind,
                            "description": description.unwrap_or(Value::Null)},
        "requesterComment":
            comment_of(tx, names, item.comment.as_deref(), &request.requester_id, request.created_at).await?,
        "removeDate": item.remove_at.map(stamp),
        "level": a.level,
        "approverType": a.approver_kind,
        "approvers": a.candidates,
    });
    shaped["sodViolationContext"] = sod_context(tx, request).await?;
    shaped["forwardHistory"] = forward_history(tx, names, &a.id).await?;
    if matches!(a.status, WorkStatus::Approved | WorkStatus::Denied) {
        shaped["state"] = json!(a.status.isc_approval());
        shaped["reviewedBy"] = names.identity_ref(tx, a.decided_by.as_deref()).await?;
        let decider = a.decided_by.clone().unwrap_or_default();
        shaped["reviewerComment"] =
            comment_of(tx, names, a.comment.as_deref(), &decider, a.decided_at.unwrap_or(a.modified_at)).await?;
    }
    Ok(shaped)
}

/// A token acting as a person lists that person's approvals (naming another is refused); a token acting
/// as no one lists `owner-id`'s, or everyone's.
async fn approvals(
    state: &AppState,
    principal: &Principal,
    which: ApprovalState,
    query: &ApprovalQuery,
) -> ApiResult<Response> {
    let (limit, offset) = bounds(query.limit, query.offset)?;
    only_own(principal, query.owner_id.as_deref(), "approvals")?;
    let owner = match (restricted_to(principal), query.owner_id.as_deref()) {
        (Some(me), _) => Some(me),
        (None, Some("me")) => Some(
            principal
                .identity()
                .ok_or_else(|| ApiError::bad_request("`owner-id=me` needs a token that acts as an identity"))?,
        ),
        (None, named) => named.or(principal.identity()),
    };
    let mut tx = state.begin().await?;
    let list = tx.approvals(which, owner, limit, offset).await?;
    let mut names = Names::default();
    let mut shaped = Vec::with_capacity(list.len());
    for a in &list {
        let Some(request) = tx.access_request(&a.request_id).await? else { continue };
        let items = tx.request_items(&a.request_id).await?;
        let Some(item) = items.iter().find(|i| i.id == a.item_id) else { continue };
        shaped.push(approval_shape(&mut tx, &mut names, a, &request, item).await?);
    }
    Ok(listed(shaped, None))
}

/// `GET /v3/access-request-approvals/pending`.
pub(crate) async fn pending(
    State(state): State<AppState>,
    principal: Principal,
    QueryParams(query): QueryParams<ApprovalQuery>,
) -> ApiResult<Response> {
    approvals(&state, &principal, ApprovalState::Pending, &query).await
}

/// `GET /v3/access-request-approvals/completed`.
pub(crate) async fn completed(
    State(state): State<AppState>,
    principal: Principal,
    QueryParams(query): QueryParams<ApprovalQuery>,
) -> ApiResult<Response> {
    approvals(&state, &principal, ApprovalState::Completed, &query).await
}

async fn decide(
    state: &AppState,
    principal: &Principal,
    id: &str,
    body: DecisionBody,
    approve: bool,
) -> ApiResult<Response> {
    let named = body.approver_id.map(NonBlank::into_string);
    let approver = match (principal.identity(), named) {
        (Some(own), Some(named)) if named != own => {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "not-an-approver",
                format!("this token acts as identity {own}; it cannot decide as identity {named}"),
            ));
        }
        (Some(own), _) => own.to_owned(),
        (None, Some(named)) => named,
        (None, None) => return Err(invalid("/approverId", "name the deciding identity: this token carries none")),
    };
    let comment = body.comment.filter(|c| !c.trim().is_empty());
    if !approve && comment.is_none() {
        return Err(invalid("/comment", "a rejection needs a comment"));
    }
    let mut tx = state.begin().await?;
    let approval = tx.approval(id).await?.ok_or_else(|| ApiError::not_found("access request approval", id))?;
    drop(tx);
    if !approval.candidates.contains(&approver) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "not-an-approver",
            format!("identity {approver} is not an approver of access request approval {id}"),
        ));
    }
    let decided =
        state.governance.decide_access_approval(id, &approver, approve, comment.as_deref(), &principal.actor()).await?;
    let answer = json!({"itemState": decided.item_status, "trackingNumber": decided.tracking_number});
    Ok((StatusCode::ACCEPTED, Json(answer)).into_response())
}

/// `POST /v3/access-request-approvals/{id}/approve` with an optional `{"comment"}` and Tessera's
/// `approverId`.
pub(crate) async fn approve(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(id): PathParams<String>,
    OptionalJsonBody(body): OptionalJsonBody<DecisionBody>,
) -> ApiResult<Response> {
    decide(&state, &principal, &id, body, true).await
}

/// `POST /v3/access-request-approvals/{id}/reject` with `{"comment"}` (required) and `approverId`.
pub(crate) async fn reject(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(id): PathParams<String>,
    OptionalJsonBody(body): OptionalJsonBody<DecisionBody>,
) -> ApiResult<Response> {
    decide(&state, &principal, &id, body, false).await
}

/// `POST /v3/access-request-approvals/{id}/forward` with ISC's `{"newOwnerId", "comment"}`: one of
/// the approval's approvers (the token's identity) hands it to someone else, who alone decides it
/// afterwards; an administrator's token may forward any pending approval.
pub(crate) async fn forward(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(id): PathParams<String>,
    JsonBody(body): JsonBody<ForwardBody>,
) -> ApiResult<Response> {
    let (new_owner, comment) = (body.new_owner_id.into_string(), body.comment.into_string());
    for (key, value) in [("newOwnerId", &new_owner), ("comment", &comment)] {
        if value.chars().count() > 255 {
            return Err(invalid(&format!("/{key}"), "must be at most 255 characters"));
        }
    }
    let admin = principal.require(ALL).is_ok();
    let forwarder = principal.identity();
    let mut tx = state.begin().await?;
    let approval = tx.approval(&id).await?.ok_or_else(|| ApiError::not_found("access request approval", &id))?;
    drop(tx);
    if !admin && !forwarder.is_some_and(|f| approval.candidates.iter().any(|c| c == f)) {
        let message = match forwarder {
            Some(own) => format!("identity {own} is not an approver of access request approval {id}"),
            None => "this token acts as no identity: only an approver's own token, or an administrator's, may forward"
                .to_owned(),
        };
        return Err(ApiError::new(StatusCode::FORBIDDEN, "not-an-approver", message));
    }
    state.governance.forward_access_approval(&id, forwarder, admin, &new_owner, &comment, &principal.actor()).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({}))).into_response())
}

/// The approval summary's query (ISC's names).
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub(crate) struct SummaryQuery {
    owner_id: Option<String>,
    from_date: Option<String>,
}

/// `GET /v3/access-request-approvals/approval-summary`: how many approvals are pending, approved and
/// rejected. A token acting as an identity counts its own (`owner-id` may be `me` or its id; an
/// administrator's may name anyone); a token acting as no one counts `owner-id`'s, or everyone's.
pub(crate) async fn summary(
    State(state): State<AppState>,
    principal: Principal,
    QueryParams(query): QueryParams<SummaryQuery>,
) -> ApiResult<Response> {
    let admin = principal.require(ALL).is_ok();
    let owner = match (query.owner_id.as_deref().map(str::trim), principal.identity()) {
        (None | Some("me"), Some(own)) => Some(own.to_owned()),
        (Some("me"), None) => {
            return Err(ApiError::bad_request("`owner-id=me` needs a token that acts as an identity"));
        }
        (Some(named), Some(own)) if named != own && !admin => {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("this token acts as identity {own} and may count only its own approvals"),
            ));
        }
        (Some(named), _) => Some(named.to_owned()),
        (None, None) => None,
    };
    let since = match query.from_date.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(text) => Some(from_date(text)?),
    };
    let mut tx = state.begin().await?;
    let counts = tx.approval_counts(owner.as_deref(), since).await?;
    Ok(Json(json!({"pending": counts.pending, "approved": counts.approved, "rejected": counts.rejected}))
        .into_response())
}

/// An ISO-8601 instant (RFC 3339) or date (midnight UTC).
fn from_date(text: &str) -> ApiResult<Timestamp> {
    if let Ok(instant) = text.parse::<Timestamp>() {
        return Ok(instant);
    }
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().into())
        .ok_or_else(|| ApiError::bad_request(format!("`from-date` must be an ISO-8601 date or time, not `{text}`")))
}
