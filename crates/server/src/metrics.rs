//! Prometheus metrics in the OpenMetrics text format: the runtime's (executions, actions, queue,
//! outbox), the governance domain's (plans, aggregation, people's work) and the API's own, requests by route template,
//! method and status with their latency. `GET /metrics` on the API needs `tessera:metrics:read`;
//! a separate metrics address, for a scraper inside a private network, serves it without a token.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::AppState;
use crate::auth::{METRICS_READ, Principal};
use crate::error::ApiError;

/// The content type of the OpenMetrics text format.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    /// The route template (`/v3/workflows/{id}`), never the path itself, so that ids do not
    /// make a series each; `unmatched` for paths no route serves.
    route: String,
    method: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
    method: String,
}

/// The registry a node scrapes, and the API's request metrics in it.
#[derive(Debug)]
pub struct ApiMetrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    seconds: Family<RouteLabels, Histogram>,
}

impl ApiMetrics {
    /// A registry holding the runtime's and the domain's metrics and the API's.
    pub fn new(governance: &tessera_governance::Governance) -> Self {
        let mut registry = Registry::default();
        governance.register_metrics(&mut registry);
        let requests = Family::<RequestLabels, Counter>::default();
        // 1 ms to about 16 s.
        let seconds = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.001, 2.0, 15))
        });
        registry.register("tessera_http_requests", "HTTP requests answered", requests.clone());
        registry.register("tessera_http_request_duration_seconds", "How long answering took", seconds.clone());
        Self { registry, requests, seconds }
    }

    /// The metrics as OpenMetrics text, the database's figures read now.
    async fn render(&self, state: &AppState) -> Response {
        if let Err(error) = state.governance.refresh_metrics().await {
            return ApiError::internal(error).into_response();
        }
        let mut text = String::new();
        if let Err(error) = prometheus_client::encoding::text::encode(&mut text, &self.registry) {
            return ApiError::internal(error).into_response();
        }
        let mut response = text.into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(OPENMETRICS));
        response
    }
}

/// Counts and times every request by its route template.
pub(crate) async fn measure(State(metrics): State<Arc<ApiMetrics>>, request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str).to_owned();
    let method = request.method().as_str().to_owned();
    let began = Instant::now();
    let response = next.run(request).await;
    let took = began.elapsed().as_secs_f64();
    let status = response.status().as_u16();
    metrics.seconds.get_or_create(&RouteLabels { route: route.clone(), method: method.clone() }).observe(took);
    metrics.requests.get_or_create(&RequestLabels { route, method, status }).inc();
    response
}

/// `GET /metrics` on the API: the scraper's token needs `tessera:metrics:read`.
pub(crate) async fn scrape(
    State(state): State<AppState>,
    axum::Extension(metrics): axum::Extension<Arc<ApiMetrics>>,
    principal: Principal,
) -> Response {
    if let Err(refused) = principal.require(METRICS_READ) {
        return refused.into_response();
    }
    metrics.render(&state).await
}

/// The metrics alone, for a separate address no token reaches: bind it where only the scraper can.
pub fn private_router(state: AppState, metrics: Arc<ApiMetrics>) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(|State((state, metrics)): State<(AppState, Arc<ApiMetrics>)>| async move {
                metrics.render(&state).await
            }),
        )
        .fallback(|| async { (StatusCode::NOT_FOUND, "only /metrics is served here\n") })
        .with_state((state, metrics))
}
