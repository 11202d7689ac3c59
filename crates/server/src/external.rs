//! EXTERNAL triggers, as ISC has them: a workflow's own OAuth client
//! (`POST /workflows/{id}/external/oauth-clients`, the secret shown once), whose tokens may start
//! that workflow and no other (`POST /workflows/execute/external/{id}`, and `…/test` to echo).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};
use tessera_engine::workflows::NotStarted;
use tessera_store::WorkflowStore;

use schemars::JsonSchema;
use serde::Deserialize;

use crate::AppState;
use crate::auth::{self, Principal};
use crate::body::Object;
use crate::error::{ApiError, ApiResult, JsonBody, PathParams};

/// `POST /v3/workflows/{id}/external/oauth-clients`: a new client for this workflow's trigger.
pub(crate) async fn create_client(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(id): PathParams<String>,
) -> ApiResult<Json<Value>> {
    let created =
        auth::clients::create_trigger_client(state.engine.store(), &id, &principal.actor(), state.now()).await?;
    match created {
        Ok((client, secret)) => {
            state.auth.remember(&client);
            Ok(Json(
                json!({ "id": client.id, "secret": secret, "url": format!("/beta/workflows/execute/external/{id}") }),
            ))
        }
        Err(kind) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "not-external",
            format!(
                "workflow {id} has a `{kind}` trigger; only workflows with an EXTERNAL trigger get an external client"
            ),
        )),
    }
}

/// The caller may start workflow `id` externally: its own client, or an administrator.
fn may_start(principal: &Principal, id: &str) -> ApiResult<()> {
    match principal.workflow_id.as_deref() {
        Some(own) if own != id => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "wrong-workflow",
            format!("this token belongs to the external trigger of workflow {own}; it cannot start workflow {id}"),
        )),
        _ => Ok(()),
    }
}

/// An external start's body: `{"input": {…}}`, the trigger's input (none is `{}`).
#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct StartBody {
    #[serde(default)]
    input: Object,
}

/// `POST /v3/workflows/execute/external/{id}` with `{"input": {…}}`.
pub(crate) async fn execute(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(id): PathParams<String>,
    JsonBody(StartBody { input }): JsonBody<StartBody>,
) -> ApiResult<Json<Value>> {
    may_start(&principal, &id)?;
    let input = Value::Object(input);
    match state.engine.start_external(&id, input, &principal.actor()).await? {
        Ok(execution) => {
            Ok(Json(json!({ "workflowExecutionId": execution, "message": "Workflow was executed successfully." })))
        }
        Err(NotStarted::NotExternal(kind)) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "not-external",
            format!("workflow {id} now has a `{kind}` trigger, so it is not started externally"),
        )),
        Err(NotStarted::Disabled) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "workflow-disabled",
            "Workflow was not executed externally. Check enabled flag on workflow definition",
        )),
    }
}

/// `POST /v3/workflows/execute/external/{id}/test`: echoes what the trigger would receive.
pub(crate) async fn test(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(id): PathParams<String>,
    JsonBody(StartBody { input }): JsonBody<StartBody>,
) -> ApiResult<Json<Value>> {
    may_start(&principal, &id)?;
    let mut tx = state.begin().await?;
    tx.workflow(&id).await?.ok_or_else(|| ApiError::not_found("workflow", &id))?;
    Ok(Json(json!({ "payload": input })))
}
