//! Tessera's HTTP API (axum): ISC's workflow, execution and identity-governance paths under `/v3` and
//! `/beta`, OAuth2 client credentials at `/oauth/token`, and Tessera's additions under `/tessera/v1`.

pub mod audit;
pub mod auth;
pub mod clients;
pub mod error;
mod events;
mod external;
mod governance;
mod inbox;
mod library;
pub mod listen;
pub mod metrics;
mod ops;
mod request_types;
mod scim;
mod secrets;
mod shapes;
mod workflows;

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use serde_json::Value;
use tessera_engine::Engine;
use tessera_store::{ExecutionStore, Tx};

use crate::auth::{Auth, EXECUTION_READ, Principal};
use crate::error::{ApiError, ApiResult};

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
    pub engine: Arc<Engine>,
    pub auth: Arc<Auth>,
    pub limits: ApiLimits,
    /// A private directory (in the data directory) where uploaded files wait for the run that reads them.
    pub uploads: std::path::PathBuf,
    /// The token endpoint's throttle.
    pub gate: Arc<auth::TokenGate>,
}

impl AppState {
    fn now_ms(&self) -> i64 {
        self.engine.now().timestamp_millis()
    }

    async fn begin(&self) -> ApiResult<Tx> {
        Ok(self.engine.store().begin().await?)
    }
}

/// The ISC-compatible routes, mounted under both `/v3` and `/beta`.
fn isc_routes() -> Router<AppState> {
    Router::new()
        .route("/workflows", get(workflows::list).post(workflows::create))
        .route(
            "/workflows/{id}",
            get(workflows::get).put(workflows::update).patch(workflows::patch).delete(workflows::delete),
        )
        .route("/workflows/{id}/test", post(workflows::test))
        .route("/workflows/{id}/external/oauth-clients", post(external::create_client))
        .route("/workflows/execute/external/{id}", post(external::execute))
        .route("/oauth-clients", get(clients::list).post(clients::create))
        .route("/oauth-clients/{id}", get(clients::read).patch(clients::patch).delete(clients::delete))
        .route("/workflows/execute/external/{id}/test", post(external::test))
        .route("/workflows/{id}/executions", get(workflows::executions))
        .route("/workflow-executions/{id}", get(execution))
        .route("/workflow-executions/{id}/history", get(history))
        .route("/workflow-executions/{id}/cancel", post(workflows::cancel))
        .route("/workflow-library", get(library::all))
        .route("/workflow-library/actions", get(library::list_actions))
        .route("/workflow-library/operators", get(library::list_operators))
        .route("/workflow-library/triggers", get(library::list_triggers))
        .merge(governance::isc_routes())
}

/// The whole API.
pub fn router(state: AppState) -> Router {
    routers(state).0
}

/// The whole API, and its metrics alone for a separate address; both read one registry.
pub fn routers(state: AppState) -> (Router, Router) {
    let metrics = Arc::new(metrics::ApiMetrics::new(&state.engine));
    let api = Router::new()
        .nest("/v3", isc_routes())
        .nest("/beta", isc_routes().merge(governance::beta_routes()))
        .merge(governance::tessera_routes())
        .merge(request_types::routes())
        .route("/tessera/v1/workflows/{id}/versions", get(workflows::versions))
        .route("/tessera/v1/workflows/{id}/versions/diff", get(workflows::diff))
        .route("/tessera/v1/workflows/{id}/versions/{version}", get(workflows::version))
        .route("/tessera/v1/workflows/{id}/versions/{version}/rollback", post(workflows::rollback))
        .route("/tessera/v1/workflows/{id}/execution-stats", get(ops::execution_stats))
        .route("/tessera/v1/node", get(ops::node))
        .route("/tessera/v1/audit", get(audit::list))
        .route("/tessera/v1/secrets", get(secrets::list))
        .route("/tessera/v1/secrets/{name}", get(secrets::read).put(secrets::put).delete(secrets::delete))
        .route("/tessera/v1/oauth-clients/{id}/rotate-secret", post(clients::rotate_secret))
        .route("/tessera/v1/oauth-clients/{id}/revoke-tokens", post(clients::revoke_tokens))
        .route("/tessera/v1/inbox", get(inbox::list))
        .route("/tessera/v1/inbox/{id}", get(inbox::read))
        .route("/tessera/v1/inbox/{id}/{action}", post(inbox::act))
        .route("/tessera/v1/notifications", get(inbox::notifications))
        .route("/tessera/v1/delegations", get(inbox::delegations).post(inbox::delegate))
        .route("/tessera/v1/delegations/{id}", axum::routing::delete(inbox::revoke))
        .route("/tessera/v1/events", post(events::publish))
        .route("/tessera/v1/events/{id}", get(events::read))
        .nest("/scim/v2", scim::routes())
        .route("/oauth/token", post(auth::token))
        .route("/health", get(|| async { "ok" }))
        .route("/ready", get(ops::ready))
        .route("/metrics", get(metrics::scrape))
        .fallback(|| async { ApiError::new(axum::http::StatusCode::NOT_FOUND, "no-route", "no such API path") })
        .layer(axum::middleware::map_response(error::json_errors))
        .layer(axum::middleware::from_fn_with_state(metrics.clone(), metrics::measure))
        .layer(axum::Extension(metrics.clone()))
        .with_state(state.clone());
    (api, metrics::private_router(state, metrics))
}

async fn execution(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    principal.require(EXECUTION_READ)?;
    let mut tx = state.begin().await?;
    let record = tx.execution(&id).await?.ok_or_else(|| ApiError::not_found("workflow execution", &id))?;
    Ok(Json(shapes::execution(&record)))
}

/// One readable entry per finished step: its name, action, start, end and outcome (and with trace,
/// its input and output).
async fn history(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    principal.require(EXECUTION_READ)?;
    let mut tx = state.begin().await?;
    tx.execution(&id).await?.ok_or_else(|| ApiError::not_found("workflow execution", &id))?;
    let history = tx.history(&id).await?;
    Ok(Json(Value::Array(history.iter().map(tessera_engine::secrets::masked).collect())))
}
