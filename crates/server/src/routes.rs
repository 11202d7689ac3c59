//! The route table: every operation of the API with its method, path, the scopes it needs and what
//! it does. The router and `/openapi.json` are both built from it, and each operation's scopes are
//! checked here before its handler runs, so what is served, what is checked and what is documented
//! cannot drift apart. Handlers check only what depends on the data (a person's own things).

use axum::Router;
use axum::extract::{FromRequestParts, Request, State};
use axum::handler::Handler;
use axum::http::Method;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, on};

use crate::AppState;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::openapi::signature::{self, Described, Signature};

/// Who may call an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// Anyone, with no token: health, readiness, the token endpoint and this API's description.
    Public,
    /// A token holding at least one of these scopes (`sp:scopes:all` holds every scope).
    AnyOf(&'static [&'static str]),
}

/// The shape refusals take: Tessera's and ISC's error body, or SCIM's (RFC 7644 §3.12).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Api,
    Scim,
}

/// One operation as the table declares it.
#[derive(Debug, Clone)]
pub(crate) struct Operation {
    pub(crate) method: Method,
    pub(crate) path: String,
    pub(crate) access: Access,
    pub(crate) dialect: Dialect,
    pub(crate) summary: String,
    /// What its handler reads and answers.
    pub(crate) signature: Signature,
}

/// The table being built, and the router it makes.
pub(crate) struct Routes {
    state: AppState,
    prefix: String,
    dialect: Dialect,
    router: Router<AppState>,
    operations: Vec<Operation>,
    /// Every handler's schemas, the named ones collected for the document's components.
    schemas: schemars::SchemaGenerator,
}

impl std::fmt::Debug for Routes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Routes").field("prefix", &self.prefix).field("operations", &self.operations).finish()
    }
}

impl Routes {
    pub(crate) fn new(state: AppState) -> Self {
        Self {
            state,
            prefix: String::new(),
            dialect: Dialect::Api,
            router: Router::new(),
            operations: Vec::new(),
            schemas: signature::generator(),
        }
    }

    /// Adds the operations `add` declares with their paths under `prefix`, refusing in `dialect`.
    pub(crate) fn under(&mut self, prefix: &str, dialect: Dialect, add: impl FnOnce(&mut Self)) {
        let inner = format!("{}{prefix}", self.prefix);
        let outer = (std::mem::replace(&mut self.prefix, inner), self.dialect);
        self.dialect = dialect;
        add(self);
        (self.prefix, self.dialect) = outer;
    }

    /// Adds the operations `add` declares as a router of their own nested under `prefix`, which
    /// `wrap` may give its own fallbacks (SCIM answers unknown paths in its own shape).
    pub(crate) fn nest(
        &mut self,
        prefix: &str,
        dialect: Dialect,
        add: impl FnOnce(&mut Self),
        wrap: impl FnOnce(Router<AppState>) -> Router<AppState>,
    ) {
        let mut inner = Self { dialect, ..Self::new(self.state.clone()) };
        std::mem::swap(&mut inner.schemas, &mut self.schemas);
        add(&mut inner);
        std::mem::swap(&mut inner.schemas, &mut self.schemas);
        let prefix = format!("{}{prefix}", self.prefix);
        self.operations.extend(
            inner
                .operations
                .into_iter()
                .map(|operation| Operation { path: format!("{prefix}{}", operation.path), ..operation }),
        );
        self.router = std::mem::take(&mut self.router).nest(&prefix, wrap(inner.router));
    }

    /// Declares `method path`, served by `handler` once the caller passes `access`.
    pub(crate) fn add<H, T>(
        &mut self,
        method: Method,
        path: &str,
        access: Access,
        summary: impl Into<String>,
        handler: H,
    ) where
        H: Handler<T, AppState> + Described<T>,
        T: 'static,
    {
        let signature = H::describe(&mut self.schemas);
        let path = format!("{}{path}", self.prefix);
        let filter = MethodFilter::try_from(method.clone())
            .unwrap_or_else(|_| panic!("{method} {path}: the router serves no such method"));
        let mut route = on(filter, handler);
        if let Access::AnyOf(scopes) = access {
            assert!(!scopes.is_empty(), "{method} {path} declares no scope: use Access::Public for an open route");
            let guard = Guard { state: self.state.clone(), scopes, dialect: self.dialect };
            route = route.route_layer(middleware::from_fn_with_state(guard, guard_route));
        }
        self.router = std::mem::take(&mut self.router).route(&path, route);
        self.operations.push(Operation {
            method,
            path,
            access,
            dialect: self.dialect,
            summary: summary.into(),
            signature,
        });
    }

    pub(crate) fn get<H: Handler<T, AppState> + Described<T>, T: 'static>(
        &mut self,
        path: &str,
        access: Access,
        summary: impl Into<String>,
        handler: H,
    ) {
        self.add(Method::GET, path, access, summary, handler);
    }

    pub(crate) fn post<H: Handler<T, AppState> + Described<T>, T: 'static>(
        &mut self,
        path: &str,
        access: Access,
        summary: impl Into<String>,
        handler: H,
    ) {
        self.add(Method::POST, path, access, summary, handler);
    }

    pub(crate) fn put<H: Handler<T, AppState> + Described<T>, T: 'static>(
        &mut self,
        path: &str,
        access: Access,
        summary: impl Into<String>,
        handler: H,
    ) {
        self.add(Method::PUT, path, access, summary, handler);
    }

    pub(crate) fn patch<H: Handler<T, AppState> + Described<T>, T: 'static>(
        &mut self,
        path: &str,
        access: Access,
        summary: impl Into<String>,
        handler: H,
    ) {
        self.add(Method::PATCH, path, access, summary, handler);
    }

    pub(crate) fn delete<H: Handler<T, AppState> + Described<T>, T: 'static>(
        &mut self,
        path: &str,
        access: Access,
        summary: impl Into<String>,
        handler: H,
    ) {
        self.add(Method::DELETE, path, access, summary, handler);
    }

    /// The router serving every declared operation, the declarations, and the named schemas
    /// their signatures refer to.
    pub(crate) fn finish(mut self) -> (Router<AppState>, Vec<Operation>, serde_json::Map<String, serde_json::Value>) {
        let schemas = self.schemas.take_definitions(true);
        (self.router, self.operations, schemas)
    }
}

/// `Access::AnyOf(scopes)`, shorter to write in the table.
pub(crate) const fn any(scopes: &'static [&'static str]) -> Access {
    Access::AnyOf(scopes)
}

/// What a guarded operation checks before its handler runs.
#[derive(Clone)]
struct Guard {
    state: AppState,
    scopes: &'static [&'static str],
    dialect: Dialect,
}

/// Verifies the token, checks it holds one of the operation's scopes, and hands the proven caller to
/// the handler (whose `Principal` then reads it rather than verifying the token again).
async fn guard_route(State(guard): State<Guard>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    let refused = match Principal::from_request_parts(&mut parts, &guard.state).await {
        Ok(principal) if guard.scopes.iter().any(|scope| principal.holds(scope)) => {
            parts.extensions.insert(principal);
            return next.run(Request::from_parts(parts, body)).await;
        }
        Ok(_) => ApiError::forbidden_any(guard.scopes),
        Err(refused) => refused,
    };
    match guard.dialect {
        Dialect::Api => refused.into_response(),
        Dialect::Scim => crate::scim::ScimError::from(refused).into_response(),
    }
}
