//! The inbox API (`/tessera/v1/inbox`): what waits for the caller — workflow approvals and forms,
//! request type approvals and tasks, ISC access request approvals and manual provisioning work items
//! (also served on ISC's own paths) — in one list, with approve, deny, complete, comment, reassign and
//! delegate, and each item's activity; and standing delegations (`/tessera/v1/delegations`) for
//! people who are away.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use tessera_governance::inbox::{InboxAction, InboxActor, WorkStatus, WorkSubject};
use tessera_model::Timestamp;
use tessera_store::{DelegationStore, IdentityStore, InboxItemRecord, InboxStore, NotificationStore, Tx};

use crate::AppState;
use crate::auth::{INBOX_ADMIN, Principal};
use crate::error::{ApiError, ApiResult, OptionalJsonBody, PathParams, QueryParams};
use crate::scim::stamp;

/// The list's query: `status` (PENDING by default, or ALL), and for administrators `assignee`.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
pub(crate) struct InboxQuery {
    status: Option<String>,
    assignee: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

/// A person's action on an item.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ActionBody {
    comment: Option<String>,
    /// A form's data, or what a task hands back.
    data: Option<Value>,
    /// Who a reassignment or delegation goes to.
    to: Option<String>,
}

async fn person(tx: &mut Tx, id: Option<&str>) -> ApiResult<Value> {
    let Some(id) = id else { return Ok(Value::Null) };
    let name = tx.identity(id).await?.map(|i| i.name);
    Ok(json!({"type": "IDENTITY", "id": id, "name": name}))
}

async fn shape(tx: &mut Tx, item: &InboxItemRecord) -> ApiResult<Value> {
    let mut assignees = Vec::with_capacity(item.assignees.len());
    for a in &item.assignees {
        assignees.push(person(tx, Some(a)).await?);
    }
    // Access approvals and work items keep the type and links their ISC paths give them.
    let (kind, links) = match item.subject_kind {
        WorkSubject::AccessRequest => (
            "ACCESS_REQUEST_APPROVAL",
            json!({
                "approve": format!("/v3/access-request-approvals/{}/approve", item.id),
                "reject": format!("/v3/access-request-approvals/{}/reject", item.id),
                "forward": format!("/v3/access-request-approvals/{}/forward", item.id),
            }),
        ),
        WorkSubject::Plan => ("WORK_ITEM", json!({"complete": format!("/v3/work-items/{}", item.id)})),
        WorkSubject::Execution | WorkSubject::Request => (item.kind.as_str(), Value::Null),
    };
    Ok(json!({
        "id": item.id,
        "type": kind,
        "level": item.level,
        "links": links,
        "title": item.title,
        "description": item.description,
        "status": item.status,
        "subject": {"type": item.subject_kind, "id": item.subject_id},
        "assignees": assignees,
        "minimumApprovals": item.minimum_approvals,
        "approvals": item.approvals,
        "due": item.due_at.map(stamp),
        "nextReminder": item.next_reminder_at.map(stamp),
        "timeoutAction": item.timeout_action,
        "decidedBy": person(tx, item.decided_by.as_deref()).await?,
        "comment": item.decision_comment,
        "decided": item.decided_at.map(stamp),
        "output": item.output,
        "details": item.details,
        "created": stamp(item.created_at),
        "modified": stamp(item.modified_at),
    }))
}

/// Whose inbox a request reads: the token's identity, or for an administrator the one named.
fn whose<'a>(principal: &'a Principal, named: Option<&'a str>) -> ApiResult<Option<&'a str>> {
    let admin = principal.require(INBOX_ADMIN).is_ok();
    match (principal.identity(), named) {
        (_, Some(named)) if admin => Ok(Some(named)),
        (Some(own), Some(named)) if own == named => Ok(Some(own)),
        (_, Some(_)) => Err(ApiError::forbidden(INBOX_ADMIN)),
        (Some(own), None) => Ok(Some(own)),
        (None, None) if admin => Ok(None),
        (None, None) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "no-identity",
            "this token names no identity, so it has no inbox; bind its client to an identity, or use an \
             administrator's token with `assignee`",
        )),
    }
}

/// `GET /tessera/v1/inbox`: the caller's work, newest first, in one query.
pub(crate) async fn list(
    State(state): State<AppState>,
    principal: Principal,
    QueryParams(query): QueryParams<InboxQuery>,
) -> ApiResult<Json<Value>> {
    let assignee = whose(&principal, query.assignee.as_deref())?;
    let status = match query.status.as_deref().map(str::to_ascii_uppercase).as_deref() {
        None => Some(WorkStatus::Pending),
        Some("ALL") => None,
        Some(other) => {
            Some(other.parse::<WorkStatus>().ok().filter(|s| *s != WorkStatus::Waiting).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "`status` `{other}` is not PENDING, APPROVED, DENIED, COMPLETED, FAILED, EXPIRED, CANCELLED or ALL"
                ))
            })?)
        }
    };
    let (limit, offset) = crate::paging::bounds(query.limit, query.offset, 50, 250)?;
    let mut tx = state.begin().await?;
    let mut page = Vec::new();
    for item in tx.inbox_items(assignee, status, limit, offset).await? {
        page.push(shape(&mut tx, &item).await?);
    }
    Ok(Json(Value::Array(page)))
}

/// The item if the caller may see it: an assignee, the one who decided it, or an administrator.
async fn visible(tx: &mut Tx, principal: &Principal, id: &str) -> ApiResult<InboxItemRecord> {
    let item = tx.inbox_item(id).await?.ok_or_else(|| ApiError::not_found("inbox item", id))?;
    let own = principal.identity();
    let involved =
        own.is_some_and(|me| item.assignees.iter().any(|a| a == me) || item.decided_by.as_deref() == Some(me));
    if !involved && principal.require(INBOX_ADMIN).is_err() {
        return Err(ApiError::not_found("inbox item", id));
    }
    Ok(item)
}

/// `GET /tessera/v1/inbox/{id}`: the item with its activity.
pub(crate) async fn read(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(id): PathParams<String>,
) -> ApiResult<Json<Value>> {
    let mut tx = state.begin().await?;
    let item = visible(&mut tx, &principal, &id).await?;
    let mut shaped = shape(&mut tx, &item).await?;
    let mut activity = Vec::new();
    for a in tx.inbox_activity(&id).await? {
        activity.push(json!({"type": a.kind, "actor": person(&mut tx, a.actor_id.as_deref()).await?,
                             "detail": a.detail, "created": stamp(a.created_at)}));
    }
    shaped["activity"] = Value::Array(activity);
    Ok(Json(shaped))
}

/// `POST /tessera/v1/inbox/{id}/{action}`: approve, deny, complete, comment, reassign or delegate.
pub(crate) async fn act(
    State(state): State<AppState>,
    principal: Principal,
    PathParams((id, verb)): PathParams<(String, String)>,
    OptionalJsonBody(body): OptionalJsonBody<ActionBody>,
) -> ApiResult<Json<Value>> {
    let to =
        || body.to.clone().ok_or_else(|| ApiError::invalid("/to", format!("name the identity to {verb} the item to")));
    let action = match verb.as_str() {
        "approve" => InboxAction::Approve { comment: body.comment.clone() },
        "deny" | "reject" => InboxAction::Deny { comment: body.comment.clone() },
        "complete" | "submit" => {
            InboxAction::Complete { comment: body.comment.clone(), data: body.data.clone().unwrap_or(json!({})) }
        }
        "comment" => InboxAction::Comment {
            comment: body.comment.clone().ok_or_else(|| ApiError::invalid("/comment", "write a comment"))?,
        },
        "reassign" => InboxAction::Reassign { to: to()?, comment: body.comment.clone() },
        "delegate" => InboxAction::Delegate { to: to()?, comment: body.comment.clone() },
        other => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "no-route",
                format!("`{other}` is not an inbox action: approve, deny, complete, comment, reassign or delegate"),
            ));
        }
    };
    let actor = InboxActor {
        identity: principal.identity(),
        admin: principal.require(INBOX_ADMIN).is_ok(),
        audit: &principal.client_id,
    };
    let item = state.governance.act_on_inbox_item(&id, actor, action).await?;
    let mut tx = state.begin().await?;
    Ok(Json(shape(&mut tx, &item).await?))
}

/// `GET /tessera/v1/notifications`: what the caller was told by email, newest first.
pub(crate) async fn notifications(
    State(state): State<AppState>,
    principal: Principal,
    QueryParams(query): QueryParams<InboxQuery>,
) -> ApiResult<Json<Value>> {
    let Some(me) = whose(&principal, query.assignee.as_deref())? else {
        return Err(ApiError::invalid("/assignee", "name whose notifications to list"));
    };
    let mut tx = state.begin().await?;
    let (limit, _) = crate::paging::bounds(query.limit, None, 50, 250)?;
    let sent = tx.notifications_of(me, limit).await?;
    Ok(Json(Value::Array(
        sent.iter()
            .map(|n| {
                json!({"id": n.id, "subject": n.subject, "body": n.body, "status": n.status,
                       "address": n.address, "attempts": n.attempts, "error": n.error,
                       "created": stamp(n.created_at), "sent": n.sent_at.map(stamp)})
            })
            .collect(),
    )))
}

/// A delegation as the API shows it.
fn delegation_shape(d: &tessera_store::DelegationRecord) -> Value {
    json!({"id": d.id, "delegator": {"type": "IDENTITY", "id": d.delegator_id},
           "delegate": {"type": "IDENTITY", "id": d.delegate_id}, "start": stamp(d.starts_at),
           "end": d.ends_at.map(stamp), "comment": d.comment, "created": stamp(d.created_at),
           "revoked": d.revoked_at.map(stamp)})
}

/// A new delegation: `delegateId`, optional `start`/`end` (RFC 3339), `comment`; an administrator names
/// `delegatorId`, a person delegates their own.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct DelegationBody {
    delegator_id: Option<String>,
    delegate_id: Option<String>,
    start: Option<String>,
    end: Option<String>,
    comment: Option<String>,
}

fn instant(pointer: &str, text: Option<&str>) -> ApiResult<Option<Timestamp>> {
    text.map(|t| {
        t.parse::<Timestamp>()
            .map_err(|e| ApiError::invalid(pointer, format!("`{t}` is not an RFC 3339 date-time: {e}")))
    })
    .transpose()
}

/// `GET /tessera/v1/delegations`: the caller's delegations (from or to them), or everyone's for an
/// administrator.
pub(crate) async fn delegations(State(state): State<AppState>, principal: Principal) -> ApiResult<Json<Value>> {
    let whose = whose(&principal, None)?;
    let mut tx = state.begin().await?;
    let found = tx.delegations(whose).await?;
    Ok(Json(Value::Array(found.iter().map(delegation_shape).collect())))
}

/// `POST /tessera/v1/delegations`: 201 with the delegation.
pub(crate) async fn delegate(
    State(state): State<AppState>,
    principal: Principal,
    crate::error::JsonBody(body): crate::error::JsonBody<DelegationBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let delegator = match (body.delegator_id.as_deref(), principal.identity()) {
        (Some(named), own) if own != Some(named) => {
            principal.require(INBOX_ADMIN)?;
            named.to_owned()
        }
        (Some(named), _) => named.to_owned(),
        (None, Some(own)) => own.to_owned(),
        (None, None) => {
            return Err(ApiError::invalid("/delegatorId", "name who delegates (this token names no identity)"));
        }
    };
    let delegate = body.delegate_id.ok_or_else(|| ApiError::invalid("/delegateId", "name who stands in"))?;
    let new = tessera_governance::delegations::NewDelegation {
        delegator_id: delegator,
        delegate_id: delegate,
        starts_at: instant("/start", body.start.as_deref())?,
        ends_at: instant("/end", body.end.as_deref())?,
        comment: body.comment,
    };
    let created = state.governance.create_delegation(&new, &principal.client_id).await?;
    Ok((StatusCode::CREATED, Json(delegation_shape(&created))))
}

/// `DELETE /tessera/v1/delegations/{id}`: ends it now; 204.
pub(crate) async fn revoke(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(id): PathParams<String>,
) -> ApiResult<StatusCode> {
    let admin = principal.require(INBOX_ADMIN).is_ok();
    state.governance.revoke_delegation(&id, principal.identity(), admin, &principal.client_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
