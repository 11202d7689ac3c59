//! API errors: an HTTP status that fits, a stable machine-readable code, and a message a person can
//! act on, in ISC's error shape (`detailCode`, `trackingId`, `messages`) plus Tessera's `errorCode`
//! and, for invalid definitions, every validation error with its JSON pointer.

use axum::Json;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tessera_flow::Diagnostic;

/// An error answered to an API caller.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub errors: Vec<Diagnostic>,
    /// ISC's `trackingId`: the one id the answer, its message and the log share.
    pub tracking_id: String,
}

fn tracking_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), errors: Vec::new(), tracking_id: tracking_id() }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad-request", message)
    }

    pub fn not_found(what: &str, id: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", format!("no {what} with id {id}"))
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn forbidden(scope: &str) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("this needs the scope `{scope}`, which the token does not have"),
        )
    }

    /// 403 `forbidden` for a token holding none of `scopes`, any one of which would do.
    pub fn forbidden_any(scopes: &[&str]) -> Self {
        match scopes {
            [one] => Self::forbidden(one),
            _ => {
                let named: Vec<String> = scopes.iter().map(|s| format!("`{s}`")).collect();
                Self::new(
                    StatusCode::FORBIDDEN,
                    "forbidden",
                    format!("this needs one of the scopes {}, which the token does not have", named.join(", ")),
                )
            }
        }
    }

    /// 400 `invalid-request` for the domain's refusals of a submitted document, each problem in
    /// `errors` with its pointer (empty where no one part is at fault); the message is the first.
    pub fn problems(problems: Vec<tessera_model::Invalid>) -> Self {
        let count = problems.len();
        let first = problems.first().map(ToString::to_string).unwrap_or_default();
        let mut error = Self::new(
            StatusCode::BAD_REQUEST,
            "invalid-request",
            if count > 1 { format!("{first} (and {} more problems)", count - 1) } else { first },
        );
        error.errors = problems
            .into_iter()
            .map(|p| Diagnostic {
                severity: tessera_flow::Severity::Error,
                code: "invalid-value",
                pointer: p.pointer,
                message: p.message,
            })
            .collect();
        error
    }

    /// A submitted document that is invalid at `pointer`: 400 `invalid-request`, the pointer in `errors`.
    pub fn invalid(pointer: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        let mut error = Self::new(
            StatusCode::BAD_REQUEST,
            "invalid-request",
            format!("{}: {message}", if pointer.is_empty() { "the body" } else { pointer }),
        );
        error.errors.push(Diagnostic {
            severity: tessera_flow::Severity::Error,
            code: "invalid-value",
            pointer: pointer.to_owned(),
            message,
        });
        error
    }

    /// A definition that did not validate, with every error located.
    pub fn invalid_workflow(diagnostics: Vec<Diagnostic>) -> Self {
        let errors: Vec<Diagnostic> =
            diagnostics.into_iter().filter(|d| d.severity == tessera_flow::Severity::Error).collect();
        let first = errors.first().map(|d| format!(": {} at {}", d.message, d.pointer)).unwrap_or_default();
        Self {
            status: StatusCode::BAD_REQUEST,
            code: "invalid-workflow",
            message: format!(
                "the workflow definition is invalid ({} error{}){first}",
                errors.len(),
                if errors.len() == 1 { "" } else { "s" }
            ),
            errors,
            tracking_id: tracking_id(),
        }
    }

    pub fn internal(error: impl std::fmt::Display) -> Self {
        let mut answer = Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", String::new());
        let tracking = answer.tracking_id.clone();
        tracing::error!(%error, %tracking, "internal error");
        answer.message = format!("an internal error occurred (tracking id {tracking})");
        answer
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let detail = format!("{} {}", self.status.as_u16(), self.status.canonical_reason().unwrap_or("Error"));
        let mut body = json!({
            "detailCode": detail,
            "trackingId": self.tracking_id,
            "messages": [{ "locale": "en-US", "localeOrigin": "DEFAULT", "text": self.message }],
            "causes": [],
            "errorCode": self.code,
        });
        if !self.errors.is_empty() {
            body["errors"] = Value::Array(
                self.errors
                    .iter()
                    .map(|d| json!({ "code": d.code, "pointer": d.pointer, "message": d.message }))
                    .collect(),
            );
        }
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            // RFC 6750 §3: a refused bearer token says how to authenticate.
            let challenge = axum::http::HeaderValue::from_static("Bearer realm=\"tessera\", error=\"invalid_token\"");
            response.headers_mut().insert(axum::http::header::WWW_AUTHENTICATE, challenge);
        }
        response
    }
}

impl From<tessera_store::Error> for ApiError {
    fn from(error: tessera_store::Error) -> Self {
        match error {
            tessera_store::Error::NotFound(what) => {
                Self::new(StatusCode::NOT_FOUND, "not-found", format!("{what} not found"))
            }
            tessera_store::Error::Conflict(message) => Self::new(StatusCode::CONFLICT, "conflict", message),
            // The message names the problem and its position, e.g. "unknown field `x` … (at character 0)".
            tessera_store::Error::Query(error) => {
                Self::new(StatusCode::BAD_REQUEST, "invalid-filter", error.to_string())
            }
            other => Self::internal(other),
        }
    }
}

impl From<tessera_engine::Error> for ApiError {
    fn from(error: tessera_engine::Error) -> Self {
        match error {
            tessera_engine::Error::UnknownWorkflow(id) => Self::not_found("workflow", &id),
            tessera_engine::Error::InvalidWorkflow(diagnostics) => Self::invalid_workflow(diagnostics),
            tessera_engine::Error::Invalid(problem) => Self::problems(vec![problem]),
            tessera_engine::Error::Conflict(message) => Self::new(StatusCode::CONFLICT, "conflict", message),
            tessera_engine::Error::Forbidden(message) => Self::new(StatusCode::FORBIDDEN, "not-allowed", message),
            tessera_engine::Error::InUse { code, message } => Self::new(StatusCode::BAD_REQUEST, code, message),
            tessera_engine::Error::NotFound(what) => {
                Self::new(StatusCode::NOT_FOUND, "not-found", format!("{what} not found"))
            }
            tessera_engine::Error::Store(error) => error.into(),
            other => Self::internal(other),
        }
    }
}

/// API results.
pub type ApiResult<T> = Result<T, ApiError>;

/// An extractor's refusal (a body that is not JSON, a query or path segment of the wrong type) in
/// the API's error shape instead of axum's plain text.
fn refused(status: StatusCode, text: String) -> ApiError {
    let code = match status {
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported-media-type",
        StatusCode::PAYLOAD_TOO_LARGE => "payload-too-large",
        StatusCode::METHOD_NOT_ALLOWED => "method-not-allowed",
        StatusCode::NOT_FOUND => "no-route",
        status if status.is_server_error() => "internal",
        _ => "bad-request",
    };
    ApiError::new(status, code, text)
}

/// Error answers that are not JSON — what axum itself answers when a body is too large or cannot be
/// read — in the API's error shape, so every refusal has a stable code and a message.
pub(crate) async fn json_errors(response: Response) -> Response {
    let status = response.status();
    let plain = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| v.starts_with("text/plain"));
    if !(status.is_client_error() || status.is_server_error()) || !plain {
        return response;
    }
    let bytes = axum::body::to_bytes(response.into_body(), 4096).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes).trim().to_owned();
    let text = if text.is_empty() { status.canonical_reason().unwrap_or("error").to_lowercase() } else { text };
    refused(status, text).into_response()
}

/// A JSON body read into `T`: refused with 415 unless it says it is JSON, 400 `bad-request` when it is
/// not JSON, and 400 `invalid-request` with the JSON pointer of the first value that does not fit `T`
/// (serde_path_to_error follows the path as serde descends).
#[derive(Debug)]
pub(crate) struct JsonBody<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        if !says_json(request.headers()) {
            return Err(refused(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Expected request with `Content-Type: application/json`".to_owned(),
            ));
        }
        let bytes = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|rejection| refused(rejection.status(), rejection.body_text()))?;
        decode(&bytes).map(Self)
    }
}

/// A JSON body that may be absent (approving needs none): an empty body reads as `T::default()`,
/// anything else as [`JsonBody`] reads it, whatever its `Content-Type` says.
#[derive(Debug)]
pub(crate) struct OptionalJsonBody<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for OptionalJsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|rejection| refused(rejection.status(), rejection.body_text()))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(T::default()));
        }
        decode(&bytes).map(Self)
    }
}

/// `bytes` read into `T`, or the refusal with the JSON pointer of the first value that does not fit.
fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let not_json = |error: &serde_json::Error| ApiError::bad_request(format!("the body is not JSON: {error}"));
    match serde_path_to_error::deserialize(&mut deserializer) {
        Ok(value) => {
            deserializer.end().map_err(|e| not_json(&e))?;
            Ok(value)
        }
        Err(error) if error.inner().is_data() => Err(misfit(error.path(), error.inner())),
        Err(error) => Err(not_json(error.inner())),
    }
}

/// Whether the request says its body is JSON: `application/json`, or a `+json` type.
fn says_json(headers: &axum::http::HeaderMap) -> bool {
    let Some(mime) = headers.get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = mime.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// A value that does not fit the body's type, at its JSON pointer; a missing member is named by
/// its own pointer ("/requestedItems/0/id: is required"), not its parent's.
fn misfit(path: &serde_path_to_error::Path, error: &serde_json::Error) -> ApiError {
    let at = pointer(path);
    let text = error.to_string();
    let text = text.split(" at line ").next().unwrap_or(&text);
    match text.strip_prefix("missing field `").and_then(|rest| rest.strip_suffix('`')) {
        Some(field) => {
            ApiError::invalid(&format!("{at}/{}", field.replace('~', "~0").replace('/', "~1")), "is required")
        }
        None => ApiError::invalid(&at, text.to_owned()),
    }
}

/// The JSON pointer (RFC 6901) of a path serde_path_to_error followed.
fn pointer(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    path.iter()
        .filter_map(|segment| match segment {
            Segment::Seq { index } => Some(index.to_string()),
            Segment::Map { key } => Some(key.replace('~', "~0").replace('/', "~1")),
            Segment::Enum { variant } => Some(variant.clone()),
            Segment::Unknown => None,
        })
        .map(|segment| format!("/{segment}"))
        .collect()
}

/// `axum::extract::Query` whose refusals are [`ApiError`]s.
#[derive(Debug)]
pub(crate) struct QueryParams<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(Self(value)),
            Err(rejection) => Err(refused(rejection.status(), rejection.body_text())),
        }
    }
}

/// `axum::extract::Path` whose refusals are [`ApiError`]s.
#[derive(Debug)]
pub(crate) struct PathParams<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for PathParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(Self(value)),
            Err(rejection) => Err(refused(rejection.status(), rejection.body_text())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    #[allow(clippy::unwrap_used)]
    async fn an_internal_error_shows_one_tracking_id_in_its_body_and_message() {
        let error = ApiError::internal("the disk caught fire");
        let tracking = error.tracking_id.clone();
        let response = error.into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        let body: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body["trackingId"], tracking.as_str());
        let text = body["messages"][0]["text"].as_str().unwrap();
        assert_eq!(text, format!("an internal error occurred (tracking id {tracking})"));
        assert!(!text.contains("disk"), "the cause stays in the log");
    }
}
