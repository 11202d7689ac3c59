//! Tessera's HTTP API (axum): ISC's workflow, execution and identity-governance paths under `/v3` and
//! `/beta`, OAuth2 client credentials at `/oauth/token`, and Tessera's additions under `/tessera/v1`.

pub mod audit;
pub mod auth;
mod auth_users;
mod body;
pub mod clients;
pub mod error;
mod events;
mod external;
mod governance;
mod inbox;
mod library;
pub mod listen;
pub mod metrics;
mod openapi;
mod ops;
mod paging;
mod request_types;
mod routes;
mod scim;
mod secrets;
mod shapes;
mod workflows;

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use serde_json::Value;
use tessera_engine::Engine;
use tessera_governance::Governance;
use tessera_model::Timestamp;
use tessera_store::{ExecutionStore, Tx};

use crate::auth::{
    AUDIT_READ, AUTH_USER_MANAGE, AUTH_USER_READ, Auth, EVENT_PUBLISH, EXECUTE_EXTERNAL, EXECUTION_MANAGE,
    EXECUTION_READ, INBOX_MANAGE, INBOX_READ, METRICS_READ, OAUTH_CLIENT_MANAGE, SECRETS_MANAGE, SECRETS_READ,
    WORKFLOW_MANAGE, WORKFLOW_READ,
};
use crate::error::{ApiError, ApiResult};
use crate::routes::{Access, Dialect, Operation, Routes, any};

/// Guard rails the API enforces.
#[derive(Debug, Clone, Copy)]
pub struct ApiLimits {
    pub max_definition_bytes: usize,
}

impl Default for ApiLimits {
    fn default() -> Self {
        Self { max_definition_bytes: 1024 * 1024 }
    }
}

/// What every handler shares.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The workflow runtime: executions, their triggers and actions.
    pub engine: Arc<Engine>,
    /// The governance domain on that runtime: identities, access, requests, people's work.
    pub governance: Arc<Governance>,
    pub auth: Arc<Auth>,
    pub limits: ApiLimits,
    /// A private directory (in the data directory) where uploaded files wait for the run that reads them.
    pub uploads: std::path::PathBuf,
    /// The token endpoint's throttle.
    pub gate: Arc<auth::TokenGate>,
}

impl AppState {
    fn now(&self) -> Timestamp {
        self.engine.now()
    }

    async fn begin(&self) -> ApiResult<Tx> {
        Ok(self.engine.store().begin().await?)
    }
}

/// The ISC-compatible workflow routes, mounted under both `/v3` and `/beta`.
fn isc_routes(r: &mut Routes) {
    r.get("/workflows", any(&[WORKFLOW_READ]), "List workflows", workflows::list);
    r.post("/workflows", any(&[WORKFLOW_MANAGE]), "Create a workflow", workflows::create);
    r.get("/workflows/{id}", any(&[WORKFLOW_READ]), "Get a workflow", workflows::get);
    r.put("/workflows/{id}", any(&[WORKFLOW_MANAGE]), "Replace a workflow", workflows::update);
    r.patch("/workflows/{id}", any(&[WORKFLOW_MANAGE]), "Change a workflow with a JSON Patch", workflows::patch);
    r.delete("/workflows/{id}", any(&[WORKFLOW_MANAGE]), "Delete a workflow", workflows::delete);
    r.post("/workflows/{id}/test", any(&[WORKFLOW_MANAGE]), "Test a workflow with an input", workflows::test);
    r.post(
        "/workflows/{id}/external/oauth-clients",
        any(&[WORKFLOW_MANAGE]),
        "Create the client of a workflow's external trigger",
        external::create_client,
    );
    r.post(
        "/workflows/execute/external/{id}",
        any(&[EXECUTE_EXTERNAL]),
        "Start a workflow externally",
        external::execute,
    );
    r.post(
        "/workflows/execute/external/{id}/test",
        any(&[EXECUTE_EXTERNAL]),
        "Check an external trigger's input",
        external::test,
    );
    r.get("/oauth-clients", any(&[OAUTH_CLIENT_MANAGE]), "List API clients", clients::list);
    r.post("/oauth-clients", any(&[OAUTH_CLIENT_MANAGE]), "Create an API client", clients::create);
    r.get("/oauth-clients/{id}", any(&[OAUTH_CLIENT_MANAGE]), "Get an API client", clients::read);
    r.patch("/oauth-clients/{id}", any(&[OAUTH_CLIENT_MANAGE]), "Change an API client", clients::patch);
    r.delete("/oauth-clients/{id}", any(&[OAUTH_CLIENT_MANAGE]), "Delete an API client", clients::delete);
    r.get("/workflows/{id}/executions", any(&[EXECUTION_READ]), "List a workflow's executions", workflows::executions);
    r.get("/workflow-executions/{id}", any(&[EXECUTION_READ]), "Get an execution", execution);
    r.get("/workflow-executions/{id}/history", any(&[EXECUTION_READ]), "An execution's history", history);
    r.post("/workflow-executions/{id}/cancel", any(&[EXECUTION_MANAGE]), "Cancel an execution", workflows::cancel);
    r.get("/auth-users/{id}", any(&[AUTH_USER_READ, AUTH_USER_MANAGE]), "A person's user levels", auth_users::read);
    r.patch("/auth-users/{id}", any(&[AUTH_USER_MANAGE]), "Change a person's user levels", auth_users::patch);
    r.get("/workflow-library", any(&[WORKFLOW_READ]), "Every action, operator and trigger", library::all);
    r.get("/workflow-library/actions", any(&[WORKFLOW_READ]), "The workflow actions", library::list_actions);
    r.get("/workflow-library/operators", any(&[WORKFLOW_READ]), "The workflow operators", library::list_operators);
    r.get("/workflow-library/triggers", any(&[WORKFLOW_READ]), "The workflow triggers", library::list_triggers);
    governance::isc_routes(r);
}

/// Tessera's own routes under `/tessera/v1`, and the open ones.
fn tessera_routes(r: &mut Routes) {
    r.get("/tessera/v1/workflows/{id}/versions", any(&[WORKFLOW_READ]), "A workflow's versions", workflows::versions);
    r.get(
        "/tessera/v1/workflows/{id}/versions/diff",
        any(&[WORKFLOW_READ]),
        "What changed between two versions",
        workflows::diff,
    );
    r.get("/tessera/v1/workflows/{id}/versions/{version}", any(&[WORKFLOW_READ]), "One version", workflows::version);
    r.post(
        "/tessera/v1/workflows/{id}/versions/{version}/rollback",
        any(&[WORKFLOW_MANAGE]),
        "Make an old version the latest",
        workflows::rollback,
    );
    r.get(
        "/tessera/v1/workflows/{id}/execution-stats",
        any(&[EXECUTION_READ]),
        "A workflow's execution figures",
        ops::execution_stats,
    );
    r.get("/tessera/v1/node", any(&[EXECUTION_READ]), "This node and its work", ops::node);
    r.get(
        "/tessera/v1/identities/{id}/permissions",
        any(&[AUTH_USER_READ, AUTH_USER_MANAGE]),
        "The user levels a person holds, directly or through governance groups, and their scopes",
        auth_users::permissions,
    );
    r.get(
        "/tessera/v1/governance-groups/{id}/user-levels",
        any(&[AUTH_USER_READ, AUTH_USER_MANAGE]),
        "The user levels a governance group gives its members",
        auth_users::group_levels,
    );
    r.put(
        "/tessera/v1/governance-groups/{id}/user-levels",
        any(&[AUTH_USER_MANAGE]),
        "Set the user levels a governance group gives its members",
        auth_users::set_group_levels,
    );
    r.get("/tessera/v1/audit", any(&[AUDIT_READ]), "The audit log", audit::list);
    r.get("/tessera/v1/secrets", any(&[SECRETS_READ, SECRETS_MANAGE]), "The names of stored secrets", secrets::list);
    r.get("/tessera/v1/secrets/{name}", any(&[SECRETS_READ, SECRETS_MANAGE]), "A secret, masked", secrets::read);
    r.put("/tessera/v1/secrets/{name}", any(&[SECRETS_MANAGE]), "Store a secret", secrets::put);
    r.delete("/tessera/v1/secrets/{name}", any(&[SECRETS_MANAGE]), "Delete a secret", secrets::delete);
    r.post(
        "/tessera/v1/oauth-clients/{id}/rotate-secret",
        any(&[OAUTH_CLIENT_MANAGE]),
        "Give a client a new secret",
        clients::rotate_secret,
    );
    r.post(
        "/tessera/v1/oauth-clients/{id}/revoke-tokens",
        any(&[OAUTH_CLIENT_MANAGE]),
        "End every token a client holds",
        clients::revoke_tokens,
    );
    r.get("/tessera/v1/inbox", any(&[INBOX_READ]), "What waits for me", inbox::list);
    r.get("/tessera/v1/inbox/{id}", any(&[INBOX_READ]), "One inbox item", inbox::read);
    r.post("/tessera/v1/inbox/{id}/{action}", any(&[INBOX_MANAGE]), "Act on an inbox item", inbox::act);
    r.get("/tessera/v1/notifications", any(&[INBOX_READ]), "My notifications", inbox::notifications);
    r.get("/tessera/v1/delegations", any(&[INBOX_READ]), "My delegations", inbox::delegations);
    r.post("/tessera/v1/delegations", any(&[INBOX_MANAGE]), "Delegate my work", inbox::delegate);
    r.delete("/tessera/v1/delegations/{id}", any(&[INBOX_MANAGE]), "End a delegation", inbox::revoke);
    r.post("/tessera/v1/events", any(&[EVENT_PUBLISH]), "Publish an event", events::publish);
    r.get(
        "/tessera/v1/events/{id}",
        any(&[EVENT_PUBLISH, EXECUTION_READ]),
        "An event and what it started",
        events::read,
    );
    r.post("/oauth/token", Access::Public, "Get a token (OAuth 2.0 client credentials)", auth::token);
    r.get("/health", Access::Public, "Whether the server answers", || async { "ok" });
    r.get("/ready", Access::Public, "Whether the server can take work", ops::ready);
    r.get("/metrics", any(&[METRICS_READ]), "Prometheus metrics", metrics::scrape);
    r.get("/openapi.json", Access::Public, "This API's description (OpenAPI 3.0)", openapi::serve);
}

/// The whole API.
pub fn router(state: AppState) -> Router {
    routers(state).0
}

/// The whole API, and its metrics alone for a separate address; both read one registry.
pub fn routers(state: AppState) -> (Router, Router) {
    let metrics = Arc::new(metrics::ApiMetrics::new(&state.governance));
    let (api, operations, schemas) = route_table(state.clone());
    let api = api
        .fallback(|| async { ApiError::new(axum::http::StatusCode::NOT_FOUND, "no-route", "no such API path") })
        .layer(axum::Extension(Arc::new(openapi::document(&operations, schemas))))
        .layer(axum::middleware::map_response(error::json_errors))
        .layer(axum::middleware::from_fn_with_state(metrics.clone(), metrics::measure))
        .layer(axum::Extension(metrics.clone()))
        .with_state(state.clone());
    (api, metrics::private_router(state, metrics))
}

/// Every operation the API serves, as the route table declares it, and its router.
fn route_table(state: AppState) -> (Router<AppState>, Vec<Operation>, serde_json::Map<String, Value>) {
    let mut routes = Routes::new(state);
    routes.under("/v3", Dialect::Api, isc_routes);
    routes.under("/beta", Dialect::Api, |r| {
        isc_routes(r);
        governance::beta_routes(r);
    });
    governance::tessera_routes(&mut routes);
    request_types::routes(&mut routes);
    tessera_routes(&mut routes);
    routes.nest("/scim/v2", Dialect::Scim, scim::routes, scim::fallbacks);
    routes.finish()
}

async fn execution(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let mut tx = state.begin().await?;
    let record = tx.execution(&id).await?.ok_or_else(|| ApiError::not_found("workflow execution", &id))?;
    Ok(Json(shapes::execution(&record)))
}

/// One readable entry per finished step: its name, action, start, end and outcome (and with trace,
/// its input and output).
async fn history(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let mut tx = state.begin().await?;
    tx.execution(&id).await?.ok_or_else(|| ApiError::not_found("workflow execution", &id))?;
    let history = tx.history(&id).await?;
    Ok(Json(Value::Array(history.iter().map(tessera_engine::secrets::masked).collect())))
}
