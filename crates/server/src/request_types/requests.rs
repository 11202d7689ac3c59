//! `/tessera/v1/requests`: raising a request of a request type, reading it (its steps, answers,
//! assignee and workflow outputs), its timeline, cancelling it and commenting on it. A person's token
//! raises as that person and sees the requests they are part of; a service token names the requester
//! and sees all.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tessera_governance::request_types::NewRequest;
use tessera_model::Timestamp;
use tessera_store::{InboxStore, RequestFilter, RequestTypeStore, Tx, TypeRequestRecord, TypeRequestStore};

use super::{Reader, actor, api, object, person, stamp};
use crate::AppState;
use crate::auth::Principal;
use crate::body::Document;
use crate::error::{ApiError, ApiResult, JsonBody, OptionalJsonBody, PathParams, QueryParams};

/// The inbox's own entries that the timeline shows beside the request's (the others — opening,
/// deciding, completing — the request records itself).
const INBOX_KINDS: &[&str] = &["COMMENT", "REASSIGN", "DELEGATE", "REMIND", "ESCALATE"];

async fn shape(tx: &mut Tx, request: &TypeRequestRecord) -> ApiResult<Value> {
    let steps_defined = request.definition.get("steps").and_then(Value::as_array).cloned().unwrap_or_default();
    let mut steps = Vec::new();
    let mut outputs = Map::new();
    for s in tx.request_steps(&request.id).await? {
        let defined = steps_defined.get(s.position as usize).cloned().unwrap_or(Value::Null);
        if s.execution_id.is_some()
            && let Some(output) = &s.output
        {
            outputs.insert(s.position.to_string(), output.clone());
        }
        steps.push(json!({
            "position": s.position,
            "name": defined.get("name"),
            "type": s.kind,
            "action": defined.get("action"),
            "status": s.status,
            "inboxItemId": s.inbox_item_id,
            "executionId": s.execution_id,
            "output": s.output,
            "decidedBy": person(tx, s.decided_by.as_deref()).await?,
            "comment": s.comment,
            "started": s.started_at.map(stamp),
            "ended": s.ended_at.map(stamp),
        }));
    }
    let team = tx.team(&request.team_id).await?.map(|t| t.name);
    Ok(json!({
        "id": request.id,
        "requestType": {"id": request.request_type_id, "name": request.request_type_name},
        "subject": request.subject,
        "status": request.status,
        "reason": request.reason,
        "requester": person(tx, Some(&request.requester_id)).await?,
        "requestedFor": person(tx, Some(&request.requested_for_id)).await?,
        "assignee": person(tx, request.assignee_id.as_deref()).await?,
        "team": {"id": request.team_id, "name": team},
        "answers": request.answers,
        "answerLabels": request.answer_labels,
        "currentStep": request.current_step,
        "steps": steps,
        "outputs": outputs,
        "created": stamp(request.created_at),
        "modified": stamp(request.modified_at),
        "closed": request.closed_at.map(stamp),
    }))
}

/// The request if the caller may see it (a person sees only the requests they are part of; for
/// others it does not exist).
async fn visible(state: &AppState, tx: &mut Tx, principal: &Principal, id: &str) -> ApiResult<TypeRequestRecord> {
    let request = tx.type_request(id).await?.ok_or_else(|| ApiError::not_found("request", id))?;
    if let Some(me) = principal.identity()
        && !state.governance.may_see_request(tx, &request, me).await.map_err(api)?
    {
        return Err(ApiError::not_found("request", id));
    }
    Ok(request)
}

/// `POST /tessera/v1/requests`: 201 with the request as it stands after its first steps ran.
pub(crate) async fn submit(
    State(state): State<AppState>,
    principal: Principal,
    JsonBody(Document(body)): JsonBody<Document>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let map = object(&body)?;
    let mut reader = Reader::default();
    let request_type_id = reader.text(map, "requestTypeId", true);
    let subject = reader.text(map, "subject", true);
    let named = reader.text(map, "requester", false);
    let requested_for = reader.text(map, "requestedFor", false);
    let answers = match map.get("answers") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(answers)) => answers.clone(),
        Some(other) => {
            reader.problem("/answers", format!("must be an object of answers by question key, not {other}"));
            Map::new()
        }
    };
    for key in map.keys() {
        if !matches!(key.as_str(), "requestTypeId" | "subject" | "requester" | "requestedFor" | "answers") {
            reader.problem(format!("/{key}"), "is not a member of a request");
        }
    }
    let requester = match (principal.identity(), named) {
        (Some(own), Some(named)) if named != own => {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("this token acts as identity {own} and cannot raise a request as {named}"),
            ));
        }
        (Some(own), _) => Some(own.to_owned()),
        (None, Some(named)) => Some(named),
        (None, None) => {
            reader.problem("/requester", "name the requesting identity: this token acts for no one");
            None
        }
    };
    let new = reader.finish(NewRequest {
        request_type_id: request_type_id.unwrap_or_default(),
        subject: subject.unwrap_or_default(),
        requester_id: requester.unwrap_or_default(),
        requested_for,
        answers,
    })?;
    let audit = principal.actor();
    let request = state.governance.submit_request(&new, actor(&principal, &audit)).await.map_err(api)?;
    let mut tx = state.begin().await?;
    Ok((StatusCode::CREATED, Json(shape(&mut tx, &request).await?)))
}

/// The list's query.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ListQuery {
    /// `mine`, `team` or `assigned`: narrows a person's list.
    view: Option<String>,
    status: Option<String>,
    request_type_id: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

/// `GET /tessera/v1/requests`: newest first; a person sees those they raised, are the subject of,
/// are assigned, whose team handles them, or have an inbox item of (`view=mine|team|assigned`
/// narrows that); a service sees all. `status` and `requestTypeId` filter.
pub(crate) async fn list(
    State(state): State<AppState>,
    principal: Principal,
    QueryParams(query): QueryParams<ListQuery>,
) -> ApiResult<Json<Value>> {
    let (limit, offset) = crate::paging::bounds(query.limit, query.offset, 50, 250)?;
    let status = query
        .status
        .as_deref()
        .map(str::parse::<tessera_model::TypeRequestStatus>)
        .transpose()
        .map_err(|unknown| ApiError::bad_request(format!("`status` {unknown}")))?;
    if let Some(view) = &query.view {
        if !matches!(view.as_str(), "mine" | "team" | "assigned") {
            return Err(ApiError::bad_request(format!("`view` `{view}` is not mine, team or assigned")));
        }
        if principal.identity().is_none() {
            return Err(ApiError::bad_request("`view` needs a token that acts as a person"));
        }
    }
    let filter = RequestFilter {
        visible_to: principal.identity(),
        view: query.view.as_deref(),
        status,
        request_type_id: query.request_type_id.as_deref(),
    };
    let mut tx = state.begin().await?;
    let mut shaped = Vec::new();
    for request in tx.type_requests(&filter, limit, offset).await? {
        shaped.push(shape(&mut tx, &request).await?);
    }
    Ok(Json(Value::Array(shaped)))
}

/// `GET /tessera/v1/requests/{id}`.
pub(crate) async fn read(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(id): PathParams<String>,
) -> ApiResult<Json<Value>> {
    let mut tx = state.begin().await?;
    let request = visible(&state, &mut tx, &principal, &id).await?;
    Ok(Json(shape(&mut tx, &request).await?))
}

/// `GET /tessera/v1/requests/{id}/timeline`: every entry in order — the request's own (submission
/// with its answers, assignment, approvals requested and decided, tasks, grants, workflow runs with
/// their outputs, comments, the end) and what people did on its inbox items (comments,
/// reassignments, delegations, reminders, escalations) — each with who and when.
pub(crate) async fn timeline(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(id): PathParams<String>,
) -> ApiResult<Json<Value>> {
    let mut tx = state.begin().await?;
    let request = visible(&state, &mut tx, &principal, &id).await?;
    let mut entries: Vec<(Timestamp, Value)> = Vec::new();
    for e in tx.timeline(&request.id).await? {
        let shaped = json!({"seq": e.seq, "type": e.kind, "step": e.step,
                            "actor": person(&mut tx, e.actor_id.as_deref()).await?,
                            "at": stamp(e.created_at), "detail": e.detail, "source": "request"});
        entries.push((e.created_at, shaped));
    }
    for item in tx.inbox_items_of(tessera_model::WorkSubject::Request, &request.id).await? {
        let step: Option<i64> = item.subject_ref.as_deref().and_then(|s| s.parse().ok());
        for a in tx.inbox_activity(&item.id).await? {
            if !INBOX_KINDS.contains(&a.kind.as_str()) {
                continue;
            }
            let shaped = json!({"type": a.kind, "step": step, "actor": person(&mut tx, a.actor_id.as_deref()).await?,
                                "at": stamp(a.created_at), "detail": a.detail, "source": "inbox",
                                "inboxItemId": item.id});
            entries.push((a.created_at, shaped));
        }
    }
    // A stable sort keeps the request's own order within an instant.
    entries.sort_by_key(|(at, _)| *at);
    Ok(Json(Value::Array(entries.into_iter().map(|(_, v)| v).collect())))
}

/// A comment on a request, or a cancellation's reason.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub(crate) struct CommentBody {
    #[serde(default)]
    comment: Option<String>,
}

fn comment_of(body: CommentBody, required: bool) -> ApiResult<Option<String>> {
    let comment = body.comment.map(|c| c.trim().to_owned()).filter(|c| !c.is_empty());
    if required && comment.is_none() {
        return Err(ApiError::invalid("/comment", "write a comment"));
    }
    Ok(comment)
}

/// `POST /tessera/v1/requests/{id}/cancel` with an optional `{"comment"}`.
pub(crate) async fn cancel(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(id): PathParams<String>,
    OptionalJsonBody(body): OptionalJsonBody<CommentBody>,
) -> ApiResult<Json<Value>> {
    let comment = comment_of(body, false)?;
    {
        let mut tx = state.begin().await?;
        visible(&state, &mut tx, &principal, &id).await?;
    }
    let audit = principal.actor();
    let request =
        state.governance.cancel_request(&id, comment.as_deref(), actor(&principal, &audit)).await.map_err(api)?;
    let mut tx = state.begin().await?;
    Ok(Json(shape(&mut tx, &request).await?))
}

/// `POST /tessera/v1/requests/{id}/comments` with `{"comment"}`: 201 with the timeline entry's number.
pub(crate) async fn comment(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(id): PathParams<String>,
    JsonBody(body): JsonBody<CommentBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let comment = comment_of(body, true)?.unwrap_or_default();
    {
        let mut tx = state.begin().await?;
        visible(&state, &mut tx, &principal, &id).await?;
    }
    let audit = principal.actor();
    let seq = state.governance.comment_on_request(&id, &comment, actor(&principal, &audit)).await.map_err(api)?;
    Ok((StatusCode::CREATED, Json(json!({"seq": seq, "comment": comment}))))
}
