//! Inbound SCIM 2.0 (RFC 7643, RFC 7644) under `/scim/v2`, so an HR system or identity provider
//! can push people into Tessera. Users are accounts of the one source whose connector is
//! `scim-inbound` (a push has an aggregated row's effects: see `tessera_governance::push`);
//! Groups are entitlements of that source (attribute `groups`) whose members are its users.
//! This file holds the routes and what the handlers share: SCIM errors, the caller and its scopes,
//! the base URL, the source, versions and preconditions.

mod filter;
mod groups;
mod handlers;
mod list;
mod patch;
mod resource;
mod schema;
mod users;

use std::convert::Infallible;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::Method;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tessera_model::Timestamp;
use tessera_store::{CatalogKind, CatalogObject, CatalogStore, Tx};

use crate::AppState;
use crate::auth::{Principal, SCIM_MANAGE, SCIM_READ};
use crate::error::ApiError;
use crate::routes::{Access, Routes, any};

/// The connector of the source SCIM pushes to.
pub(crate) const CONNECTOR: &str = "scim-inbound";
const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
/// SCIM's media type (RFC 7644 §8.1).
const MEDIA_TYPE: &str = "application/scim+json";

/// The routes, mounted under `/scim/v2`.
pub(crate) fn routes(r: &mut Routes) {
    let read = any(&[SCIM_READ, SCIM_MANAGE]);
    let change = any(&[SCIM_MANAGE]);
    r.get("/ServiceProviderConfig", read, "What this SCIM service supports", schema::service_provider_config);
    r.get("/Schemas", read, "The SCIM schemas", schema::schemas);
    r.get("/Schemas/{id}", read, "One SCIM schema", schema::schema_by_id);
    r.get("/ResourceTypes", read, "The SCIM resource types", schema::resource_types);
    r.get("/ResourceTypes/{id}", read, "One SCIM resource type", schema::resource_type_by_id);
    r.get("/Users", read, "List or filter users", handlers::list::<users::Users>);
    r.post("/Users", change, "Push a user", handlers::create::<users::Users>);
    r.post("/Users/.search", read, "Search users", handlers::search::<users::Users>);
    r.get("/Users/{id}", read, "Get a user", handlers::read::<users::Users>);
    r.put("/Users/{id}", change, "Replace a user", handlers::replace::<users::Users>);
    r.patch("/Users/{id}", change, "Change a user", handlers::patch::<users::Users>);
    r.delete("/Users/{id}", change, "Delete a user", handlers::delete::<users::Users>);
    r.get("/Groups", read, "List or filter groups", handlers::list::<groups::Groups>);
    r.post("/Groups", change, "Push a group", handlers::create::<groups::Groups>);
    r.post("/Groups/.search", read, "Search groups", handlers::search::<groups::Groups>);
    r.get("/Groups/{id}", read, "Get a group", handlers::read::<groups::Groups>);
    r.put("/Groups/{id}", change, "Replace a group", handlers::replace::<groups::Groups>);
    r.patch("/Groups/{id}", change, "Change a group", handlers::patch::<groups::Groups>);
    r.delete("/Groups/{id}", change, "Delete a group", handlers::delete::<groups::Groups>);
    r.post("/.search", read, "Search users and groups", list::search_all);
    for method in [Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
        r.add(method.clone(), "/Me", Access::Public, "Not served: SCIM callers here are systems", || async {
            not_implemented("/Me: Tessera's SCIM callers are systems, not people")
        });
        r.add(method, "/Bulk", Access::Public, "Not served: send one request per change", || async {
            not_implemented("/Bulk: send one request per change")
        });
    }
}

/// SCIM's answers to an unknown path or method, in its own shape.
pub(crate) fn fallbacks(router: Router<AppState>) -> Router<AppState> {
    router.fallback(|| async { ScimError::not_found("no such SCIM endpoint".to_owned()) }).method_not_allowed_fallback(
        || async {
            ScimError::new(StatusCode::METHOD_NOT_ALLOWED, None, "this endpoint does not take that method".into())
        },
    )
}

fn not_implemented(what: &str) -> ScimError {
    ScimError::new(StatusCode::NOT_IMPLEMENTED, None, format!("{what} is not supported"))
}

/// An error in SCIM's shape (RFC 7644 §3.12).
#[derive(Debug)]
pub(crate) struct ScimError {
    status: StatusCode,
    scim_type: Option<&'static str>,
    detail: String,
}

impl crate::openapi::signature::Answer for ScimError {}

pub(crate) type ScimResult<T> = Result<T, ScimError>;

impl ScimError {
    pub(crate) fn new(status: StatusCode, scim_type: Option<&'static str>, detail: String) -> Self {
        Self { status, scim_type, detail }
    }

    pub(crate) fn bad_request(scim_type: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, Some(scim_type), detail.into())
    }

    pub(crate) fn not_found(detail: String) -> Self {
        Self::new(StatusCode::NOT_FOUND, None, detail)
    }

    pub(crate) fn uniqueness(detail: String) -> Self {
        Self::new(StatusCode::CONFLICT, Some("uniqueness"), detail)
    }

    fn internal(error: impl std::fmt::Display) -> Self {
        let api = ApiError::internal(error);
        Self::new(api.status, None, api.message)
    }
}

impl IntoResponse for ScimError {
    fn into_response(self) -> Response {
        let mut body =
            json!({"schemas": [ERROR_SCHEMA], "status": self.status.as_u16().to_string(), "detail": self.detail});
        if let Some(scim_type) = self.scim_type {
            body["scimType"] = json!(scim_type);
        }
        let mut response = scim_json(self.status, &body);
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"tessera\""));
        }
        response
    }
}

impl From<ApiError> for ScimError {
    fn from(error: ApiError) -> Self {
        let scim_type = match error.code {
            "invalid-filter" => Some("invalidFilter"),
            "conflict" => Some("uniqueness"),
            _ => None,
        };
        Self::new(error.status, scim_type, error.message)
    }
}

impl From<tessera_store::Error> for ScimError {
    fn from(error: tessera_store::Error) -> Self {
        match error {
            tessera_store::Error::NotFound(what) => Self::not_found(format!("{what} not found")),
            tessera_store::Error::Conflict(message) => Self::uniqueness(message),
            tessera_store::Error::Query(error) => Self::bad_request("invalidFilter", error.to_string()),
            other => Self::internal(other),
        }
    }
}

impl From<tessera_engine::Error> for ScimError {
    fn from(error: tessera_engine::Error) -> Self {
        match error {
            tessera_engine::Error::Invalid(problem) => Self::bad_request("invalidValue", problem.to_string()),
            tessera_engine::Error::Conflict(message) => Self::uniqueness(message),
            tessera_engine::Error::NotFound(what) => Self::not_found(format!("{what} not found")),
            tessera_engine::Error::Store(error) => error.into(),
            other => Self::internal(other),
        }
    }
}

/// A JSON answer under SCIM's media type.
pub(crate) fn scim_json(status: StatusCode, body: &Value) -> Response {
    (status, [(header::CONTENT_TYPE, MEDIA_TYPE)], body.to_string()).into_response()
}

/// A `ListResponse` (RFC 7644 §3.4.2) holding one page of `total` matches from `start_index`.
pub(crate) fn list_response(resources: Vec<Value>, total: usize, start_index: usize) -> Response {
    let body = json!({
        "schemas": [LIST_SCHEMA],
        "totalResults": total,
        "startIndex": start_index,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    });
    scim_json(StatusCode::OK, &body)
}

/// The caller, proven by its bearer token; a missing or bad token is a 401 in SCIM's shape.
#[derive(Debug)]
pub(crate) struct Caller(Principal);

impl crate::openapi::signature::Input for Caller {}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ScimError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ScimError> {
        Ok(Self(Principal::from_request_parts(parts, state).await?))
    }
}

/// Reading takes `idn:scim:read` or `idn:scim:manage`, and changing `idn:scim:manage`: the route
/// table checks them.
impl Caller {
    pub(crate) fn actor(&self) -> String {
        self.0.actor()
    }
}

/// The absolute URL of `/scim/v2` as the caller reached it, for `meta.location` and `$ref`:
/// the `Host` header, with `X-Forwarded-Proto` when a proxy in front terminates TLS.
#[derive(Debug)]
pub(crate) struct Base(pub(crate) String);

impl crate::openapi::signature::Input for Base {}

impl<S: Send + Sync> FromRequestParts<S> for Base {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        let header_text = |name: &str| parts.headers.get(name).and_then(|h| h.to_str().ok()).map(str::trim);
        let host = header_text("host")
            .filter(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_alphanumeric() || "-.:[]_".contains(c)))
            .unwrap_or("localhost");
        let proto = match header_text("x-forwarded-proto").and_then(|p| p.split(',').next()).map(str::trim) {
            Some("https") => "https",
            _ => "http",
        };
        Ok(Self(format!("{proto}://{host}/scim/v2")))
    }
}

/// The source SCIM writes to: the one whose connector is `scim-inbound`.
/// The source SCIM pushes go to, held until `tx` ends: every change through SCIM reads, checks
/// (a free `userName`, existing members) and writes under it, so two concurrent changes on
/// PostgreSQL cannot both read the same state and the later one silently undo the earlier.
pub(crate) async fn changing_inbound_source(tx: &mut Tx) -> ScimResult<CatalogObject> {
    let source = inbound_source(tx).await?;
    tx.lock_object(CatalogKind::Source, &source.id).await?;
    Ok(source)
}

pub(crate) async fn inbound_source(tx: &mut Tx) -> ScimResult<CatalogObject> {
    let mut found: Vec<CatalogObject> = tx
        .all_objects(CatalogKind::Source)
        .await?
        .into_iter()
        .filter(|s| s.document.get("connector").and_then(Value::as_str) == Some(CONNECTOR))
        .collect();
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(ScimError::not_found(format!(
            "no source takes SCIM pushes: create one with POST /v3/sources and \"connector\": \"{CONNECTOR}\" \
             (\"authoritative\": true, with an identity profile, to make identities of its users)"
        ))),
        _ => {
            let names: Vec<String> = found.iter().map(|s| format!("`{}` (id {})", s.name, s.id)).collect();
            Err(ScimError::new(
                StatusCode::CONFLICT,
                None,
                format!(
                    "several sources use the `{CONNECTOR}` connector ({}); SCIM pushes go to exactly one, so keep one",
                    names.join(", ")
                ),
            ))
        }
    }
}

/// A weak ETag (RFC 7644 §3.14) from a hash of what a resource holds.
pub(crate) fn version(hash: i64) -> String {
    format!("W/\"{:x}\"", hash as u64)
}

/// Refuses with 412 when `If-Match` names none of the resource's current version.
pub(crate) fn check_if_match(headers: &HeaderMap, current: &str) -> ScimResult<()> {
    let Some(wanted) = headers.get(header::IF_MATCH).and_then(|h| h.to_str().ok()) else { return Ok(()) };
    if tags_match(wanted, current) {
        Ok(())
    } else {
        Err(ScimError::new(
            StatusCode::PRECONDITION_FAILED,
            None,
            format!("the resource's version is {current}, not {wanted}: read it again, then retry"),
        ))
    }
}

/// Whether `If-None-Match` names the resource's current version (a GET then answers 304).
pub(crate) fn not_modified(headers: &HeaderMap, current: &str) -> bool {
    headers.get(header::IF_NONE_MATCH).and_then(|h| h.to_str().ok()).is_some_and(|tags| tags_match(tags, current))
}

/// Weak comparison (RFC 9110 §8.8.3.2) of a list of entity tags with one.
fn tags_match(list: &str, current: &str) -> bool {
    let opaque = |tag: &str| tag.trim().trim_start_matches("W/").to_owned();
    list.split(',').any(|tag| tag.trim() == "*" || opaque(tag) == opaque(current))
}

/// A request body as JSON, or 400 `invalidSyntax`.
pub(crate) fn json_body(bytes: &[u8]) -> ScimResult<Value> {
    serde_json::from_slice(bytes)
        .map_err(|e| ScimError::bad_request("invalidSyntax", format!("the body is not valid JSON: {e}")))
}

/// One resource, with its `ETag` and (for a creation) `Location`.
pub(crate) fn resource_response(status: StatusCode, body: &Value, version: &str) -> Response {
    let mut response = scim_json(status, body);
    if let Ok(tag) = HeaderValue::from_str(version) {
        response.headers_mut().insert(header::ETAG, tag);
    }
    if status == StatusCode::CREATED
        && let Some(location) = body.pointer("/meta/location").and_then(Value::as_str)
        && let Ok(location) = HeaderValue::from_str(location)
    {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

/// 304 for a GET whose `If-None-Match` holds the current version.
pub(crate) fn unchanged(version: &str) -> Response {
    let mut response = StatusCode::NOT_MODIFIED.into_response();
    if let Ok(tag) = HeaderValue::from_str(version) {
        response.headers_mut().insert(header::ETAG, tag);
    }
    response
}

/// RFC 3339 with milliseconds.
pub(crate) fn stamp(at: Timestamp) -> Value {
    tessera_governance::shapes::time(at)
}
