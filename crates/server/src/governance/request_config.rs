//! ISC's `/v3/access-request-config`: the tenant's access-request configuration, read and replaced
//! whole; the checking, storing and auditing are `engine::approval_deadlines`'.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tessera_governance::approval_deadlines::RequestConfig;
use tessera_store::IdentityStore;

use crate::AppState;
use crate::auth::Principal;
use crate::body::Document;
use crate::error::{ApiResult, OptionalJsonBody};

/// The configuration as ISC shows it: the fallback approver with its name and email.
async fn shaped(state: &AppState, config: &RequestConfig) -> ApiResult<Value> {
    let mut document = config.document();
    if let Some(id) = &config.reminders.fallback_approver {
        let mut tx = state.begin().await?;
        let identity = tx.identity(id).await?;
        let reference = &mut document["approvalReminderAndEscalationConfig"]["fallbackApproverRef"];
        reference["name"] = identity.as_ref().map(|i| i.name.clone()).into();
        reference["email"] = identity.and_then(|i| i.email).into();
    }
    Ok(document)
}

/// `GET /v3/access-request-config`.
pub(crate) async fn read(State(state): State<AppState>) -> ApiResult<Response> {
    let config = state.governance.access_request_config().await?;
    Ok(Json(shaped(&state, &config).await?).into_response())
}

/// `PUT /v3/access-request-config`: replaces the whole configuration; members left out take their
/// defaults, unknown members are refused with their pointer.
pub(crate) async fn replace(
    State(state): State<AppState>,
    principal: Principal,
    OptionalJsonBody(Document(body)): OptionalJsonBody<Document>,
) -> ApiResult<Response> {
    super::object(&body)?;
    let config = state.governance.set_access_request_config(&body, &principal.actor()).await?;
    Ok(Json(shaped(&state, &config).await?).into_response())
}
