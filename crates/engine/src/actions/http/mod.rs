//! The real `sp:http` action: sends the request a step describes, follows redirects under the SSRF
//! guard, and returns ISC's `{statusCode, headers, body}` or an error classified for retries.

mod auth;
mod guard;
mod request;

use std::sync::Arc;
use std::time::Duration;

pub use self::guard::{AllowEntry, Policy};
pub use ipnet::IpNet;
use reqwest::header::{
    AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, COOKIE, HeaderMap, HeaderName, LOCATION, PROXY_AUTHORIZATION,
};
use reqwest::{Client, Method, Response, StatusCode};
use serde_json::{Map, Value, json};

use self::auth::{Credentials, TokenCache};
use self::guard::{Guard, GuardedResolver, Refused};
use self::request::{Plan, display_url, header_value};
use super::{ActionError, describe};

/// How many redirects one call follows before giving up.
const MAX_REDIRECTS: usize = 5;

/// How much of an error response's body is quoted in the error message.
const EXCERPT_CHARS: usize = 300;

/// The header that lets a server recognise a repeated attempt.
const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

/// What the operator decides about outgoing HTTP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpConfig {
    /// Which addresses calls may reach, beyond the defaults and within them.
    pub policy: Policy,
    /// Used when a step has no `timeout`; covers the token request, redirects and the whole body.
    pub default_timeout: Duration,
    /// Larger responses are refused.
    pub max_response_bytes: usize,
    /// Bytes of response bodies held at once by all calls on this node; a call that would go past it
    /// waits (up to its timeout) for others to finish, so many large answers cannot exhaust memory.
    pub max_in_flight_bytes: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            policy: Policy::default(),
            default_timeout: Duration::from_secs(30),
            max_response_bytes: 10 << 20,
            max_in_flight_bytes: 64 << 20,
        }
    }
}

/// Performs `sp:http` steps. Build one and share it: it holds the connection pool and the OAuth tokens.
#[derive(Debug)]
pub struct HttpAction {
    /// The client, or why it could not be built (then every call fails with that reason).
    client: Result<Client, String>,
    guard: Guard,
    tokens: TokenCache,
    config: HttpConfig,
    /// Permits of one byte each for response bodies in flight.
    budget: Arc<tokio::sync::Semaphore>,
}

impl HttpAction {
    /// Builds the client once: no proxy, redirects followed by hand, names resolved through the guard.
    pub fn new(config: HttpConfig) -> Self {
        let guard = Guard::new(config.policy.clone());
        let client = Client::builder()
            // Redirects are followed by hand, so that every hop is checked and credentials stay home.
            .redirect(reqwest::redirect::Policy::none())
            // A proxy would resolve the target itself, out of the guard's sight.
            .no_proxy()
            .dns_resolver(Arc::new(GuardedResolver { guard: guard.clone() }))
            .user_agent(concat!("tessera/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| format!("the HTTP client could not be set up: {}", describe(&error)));
        let budget = Arc::new(tokio::sync::Semaphore::new(config.max_in_flight_bytes.max(1)));
        Self { client, guard, tokens: TokenCache::default(), config, budget }
    }

    /// Performs the request described by the step's resolved inputs (the `attributes` of the step with
    /// `.$` paths already evaluated, keys without `.$`). `idempotency_key` is sent as `Idempotency-Key`.
    pub async fn call(&self, input: &Map<String, Value>, idempotency_key: &str) -> Result<Value, ActionError> {
        let plan = Plan::from_input(input)?;
        let client = self.client.as_ref().map_err(|reason| ActionError::permanent(reason.clone()))?;
        let timeout = plan.timeout.unwrap_or(self.config.default_timeout);
        let mut tokens = Vec::new();
        let outcome = tokio::time::timeout(timeout, self.perform(client, &plan, idempotency_key, &mut tokens)).await;
        let result = outcome.unwrap_or_else(|_| {
            Err(ActionError::retryable(format!(
                "{} {}: no complete response within {} (timeout)",
                plan.method,
                display_url(&plan.url),
                duration_text(timeout)
            )))
        });
        // Credentials the step sent, and tokens obtained for it, never come back in its answer: a
        // service that echoes them would otherwise put them in the execution's data and trace.
        let sent: Vec<String> = plan.secrets.iter().chain(&tokens).cloned().collect();
        result.map(|output| crate::secrets::scrub(&output, &sent)).map_err(|error| redact(error, sent.iter()))
    }

    async fn perform(
        &self,
        client: &Client,
        plan: &Plan,
        idempotency_key: &str,
        tokens: &mut Vec<String>,
    ) -> Result<Value, ActionError> {
        let mut headers = plan.headers.clone();
        headers.insert(IDEMPOTENCY_KEY, header_value(idempotency_key, "the idempotency key")?);
        let mut refreshed = false;
        loop {
            let (auth_header, token) = match &plan.auth {
                Credentials::None => (None, None),
                Credentials::Header { name, value } => {
                    headers.insert(name.clone(), header_value(value, "the authentication value")?);
                    (Some(name.clone()), None)
                }
                Credentials::OAuth(oauth) => {
                    let limit = self.config.max_response_bytes;
                    let token = self.tokens.token(oauth, auth::fetch(client, &self.guard, limit, oauth)).await?;
                    tokens.push(token.access_token.clone());
                    let value = format!("Bearer {}", token.access_token);
                    headers.insert(AUTHORIZATION, header_value(&value, "the OAuth access token")?);
                    (Some(AUTHORIZATION), Some(token))
                }
            };
            let (label, response) = self.send(client, plan, headers.clone(), auth_header.as_ref()).await?;
            // A cached token the API refuses may have been revoked: forget it and ask once for a new one.
            if response.status() == StatusCode::UNAUTHORIZED
                && !refreshed
                && let (Credentials::OAuth(oauth), Some(token)) = (&plan.auth, &token)
                && token.cached
            {
                self.tokens.forget(oauth, &token.access_token).await;
                refreshed = true;
                continue;
            }
            return self.finish(&label, response).await;
        }
    }

    /// Sends the request, following up to [`MAX_REDIRECTS`] redirects and checking every hop's host.
    /// Returns the final response and the `METHOD url` label that names it in messages.
    async fn send(
        &self,
        client: &Client,
        plan: &Plan,
        mut headers: HeaderMap,
        auth_header: Option<&HeaderName>,
    ) -> Result<(String, Response), ActionError> {
        let mut method = plan.method.clone();
        let mut url = plan.url.clone();
        let mut body = plan.body.clone();
        let mut redirects = 0;
        loop {
            let label = format!("{method} {}", display_url(&url));
            self.guard.check_url(&url).map_err(|refused| ActionError::permanent(format!("{label}: {refused}")))?;
            let mut request = client.request(method.clone(), url.clone()).headers(headers.clone());
            if let Some(bytes) = &body {
                request = request.body(bytes.clone());
            }
            tracing::debug!(request = %label, "sp:http sending");
            let response = request.send().await.map_err(|error| transport_error(&label, error))?;
            let status = response.status();
            tracing::debug!(request = %label, status = status.as_u16(), "sp:http answered");
            let Some(location) = redirect_location(&response) else { return Ok((label, response)) };
            if redirects == MAX_REDIRECTS {
                return Err(ActionError::permanent(format!("{label}: stopped after {MAX_REDIRECTS} redirects")));
            }
            redirects += 1;
            let next = url.join(&location).map_err(|error| {
                ActionError::permanent(format!(
                    "{label}: HTTP {} redirects to an invalid location ({error})",
                    status.as_u16()
                ))
            })?;
            if !matches!(next.scheme(), "http" | "https") {
                return Err(ActionError::permanent(format!(
                    "{label}: HTTP {} redirects to a {}:// URL, which is not followed",
                    status.as_u16(),
                    next.scheme()
                )));
            }
            // As browsers do (Fetch standard, HTTP-redirect fetch): 303, and 301/302 after a POST, become a GET.
            let to_get = match status {
                StatusCode::SEE_OTHER => method != Method::GET && method != Method::HEAD,
                StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND => method == Method::POST,
                _ => false,
            };
            if to_get {
                method = Method::GET;
                body = None;
                headers.remove(CONTENT_TYPE);
                headers.remove(CONTENT_LENGTH);
            }
            // Credentials are for the origin they were given for.
            if next.origin() != url.origin() {
                for name in [AUTHORIZATION, PROXY_AUTHORIZATION, COOKIE].iter().chain(auth_header) {
                    headers.remove(name);
                }
            }
            url = next;
        }
    }

    /// The final response as ISC's output, or an error for 4xx and 5xx.
    async fn finish(&self, label: &str, response: Response) -> Result<Value, ActionError> {
        let status = response.status();
        if status.is_client_error() || status.is_server_error() {
            return Err(status_error(label, status, &excerpt(response).await));
        }
        let headers = header_object(response.headers());
        let json = headers.get("content-type").and_then(Value::as_str).is_some_and(is_json);
        let budget = Budget { bytes: &self.budget, total: self.config.max_in_flight_bytes };
        let (bytes, _held) = read_budgeted(response, self.config.max_response_bytes, label, &budget).await?;
        let body = if bytes.is_empty() {
            Value::Null
        } else if let Some(parsed) = json.then(|| serde_json::from_slice(&bytes).ok()).flatten() {
            parsed
        } else {
            Value::String(String::from_utf8_lossy(&bytes).into_owned())
        };
        Ok(json!({"statusCode": status.as_u16(), "headers": headers, "body": body}))
    }
}

/// The target of a redirect status that carries a usable Location header.
fn redirect_location(response: &Response) -> Option<String> {
    let redirect = matches!(
        response.status(),
        StatusCode::MOVED_PERMANENTLY
            | StatusCode::FOUND
            | StatusCode::SEE_OTHER
            | StatusCode::TEMPORARY_REDIRECT
            | StatusCode::PERMANENT_REDIRECT
    );
    let location = response.headers().get(LOCATION)?;
    redirect.then(|| String::from_utf8_lossy(location.as_bytes()).into_owned())
}

/// Response headers by lower-case name; repeated headers are joined with `, ` (RFC 9110 §5.3).
fn header_object(headers: &HeaderMap) -> Map<String, Value> {
    let mut object = Map::new();
    for (name, value) in headers {
        let text = String::from_utf8_lossy(value.as_bytes());
        match object.get_mut(name.as_str()) {
            Some(Value::String(joined)) => {
                joined.push_str(", ");
                joined.push_str(&text);
            }
            _ => {
                object.insert(name.as_str().to_owned(), Value::String(text.into_owned()));
            }
        }
    }
    object
}

/// `application/json` and the `+json` types (`application/problem+json`, `application/scim+json`…).
fn is_json(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// The node's memory for response bodies in flight.
struct Budget<'a> {
    bytes: &'a Arc<tokio::sync::Semaphore>,
    total: usize,
}

impl Budget<'_> {
    /// Holds `n` more bytes of the budget, waiting for others to finish if it is used up (the call's
    /// timeout bounds the wait).
    async fn hold(&self, held: &mut Option<tokio::sync::OwnedSemaphorePermit>, n: usize) -> Result<(), ActionError> {
        if n > self.total {
            return Err(ActionError::permanent(format!(
                "the response needs more than the node's whole budget for responses in flight ({}, max_in_flight_bytes)",
                bytes_text(self.total)
            )));
        }
        let permits = u32::try_from(n).map_err(|_| ActionError::permanent("a response chunk is too large"))?;
        let permit = self
            .bytes
            .clone()
            .acquire_many_owned(permits)
            .await
            .map_err(|_| ActionError::retryable("the node is shutting down; the call will be retried"))?;
        match held {
            Some(existing) => existing.merge(permit),
            None => *held = Some(permit),
        }
        Ok(())
    }
}

/// The whole body within `limit` bytes, holding its size in the node's budget until the returned permit
/// is dropped.
async fn read_budgeted(
    mut response: Response,
    limit: usize,
    label: &str,
    budget: &Budget<'_>,
) -> Result<(Vec<u8>, Option<tokio::sync::OwnedSemaphorePermit>), ActionError> {
    let too_large = || {
        ActionError::permanent(format!(
            "{label}: the response is larger than the limit of {} (max_response_bytes)",
            bytes_text(limit)
        ))
    };
    let mut held = None;
    if let Some(length) = response.content_length() {
        if length > limit as u64 {
            return Err(too_large());
        }
        budget.hold(&mut held, length as usize).await?;
    }
    let reserved = held.as_ref().map_or(0, |p| p.num_permits());
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|error| transport_error(label, error))? {
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        if body.len() + chunk.len() > reserved {
            budget.hold(&mut held, chunk.len()).await?;
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body, held))
}

/// The whole body, refused as soon as it is known to exceed `limit` bytes.
async fn read_limited(mut response: Response, limit: usize, label: &str) -> Result<Vec<u8>, ActionError> {
    let too_large = || {
        ActionError::permanent(format!(
            "{label}: the response is larger than the limit of {} (max_response_bytes)",
            bytes_text(limit)
        ))
    };
    if response.content_length().is_some_and(|length| length > limit as u64) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|error| transport_error(label, error))? {
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The start of an error response's body, on one line, for the error message.
async fn excerpt(mut response: Response) -> String {
    let mut bytes = Vec::new();
    while bytes.len() < EXCERPT_CHARS * 4 {
        match response.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    let text = String::from_utf8_lossy(&bytes);
    let mut words = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if let Some((cut, _)) = words.char_indices().nth(EXCERPT_CHARS) {
        words.truncate(cut);
        words.push('…');
    }
    words
}

/// An HTTP error status: 429 and 5xx may pass, other 4xx will recur.
fn status_error(label: &str, status: StatusCode, detail: &str) -> ActionError {
    let mut message = format!("{label}: HTTP {status}");
    if !detail.is_empty() {
        message.push_str(": ");
        message.push_str(detail);
    }
    if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
        ActionError::retryable(message)
    } else {
        ActionError::permanent(message)
    }
}

/// A failure below HTTP: a refused address is permanent, a bad request permanent, anything on the
/// wire (connect, reset, timeout) retryable. The URL is left out: it may carry query secrets.
fn transport_error(label: &str, error: reqwest::Error) -> ActionError {
    if let Some(refused) = find_source::<Refused>(&error) {
        return ActionError::permanent(format!("{label}: {refused}"));
    }
    let error = error.without_url();
    let detail = describe(&error);
    if error.is_builder() {
        ActionError::permanent(format!("{label}: the request could not be built: {detail}"))
    } else if error.is_timeout() {
        ActionError::retryable(format!("{label}: timed out: {detail}"))
    } else if error.is_connect() {
        ActionError::retryable(format!("{label}: could not connect: {detail}"))
    } else {
        ActionError::retryable(format!("{label}: {detail}"))
    }
}

fn find_source<'a, T: std::error::Error + 'static>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a T> {
    std::iter::successors(Some(error), |error| error.source()).find_map(|error| error.downcast_ref::<T>())
}

/// Masks every secret the step carried (and every token it obtained) in the message.
fn redact<'a>(mut error: ActionError, secrets: impl Iterator<Item = &'a String>) -> ActionError {
    let mut secrets: Vec<&String> = secrets.filter(|secret| secret.len() >= 4).collect();
    secrets.sort_by_key(|secret| std::cmp::Reverse(secret.len()));
    for secret in secrets {
        error.message = error.message.replace(secret.as_str(), "***");
    }
    error
}

fn duration_text(duration: Duration) -> String {
    if duration.subsec_nanos() == 0 {
        tessera_model::Duration::from_secs(duration.as_secs()).to_string()
    } else {
        format!("{}ms", duration.as_millis())
    }
}

fn bytes_text(bytes: usize) -> String {
    const MIB: usize = 1 << 20;
    if bytes >= MIB && bytes.is_multiple_of(MIB) {
        format!("{} MiB ({bytes} bytes)", bytes / MIB)
    } else {
        format!("{bytes} bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_can_run_on_any_worker_thread() {
        fn assert_send<T: Send>(_: &T) {}
        let action = HttpAction::new(HttpConfig::default());
        let input = Map::new();
        assert_send(&action.call(&input, "key"));
    }

    #[test]
    fn json_content_types() {
        assert!(is_json("application/json"));
        assert!(is_json("Application/JSON; charset=utf-8"));
        assert!(is_json("application/problem+json"));
        assert!(!is_json("text/plain"));
        assert!(!is_json("text/json+x"));
    }

    #[test]
    fn status_classification() {
        for (code, retryable) in [(429, true), (500, true), (503, true), (400, false), (401, false), (404, false)] {
            let status = StatusCode::from_u16(code).unwrap();
            assert_eq!(status_error("GET http://h/", status, "").retryable, retryable, "{code}");
        }
        let error = status_error("GET http://h/x", StatusCode::NOT_FOUND, "no such thing");
        assert_eq!(error.message, "GET http://h/x: HTTP 404 Not Found: no such thing");
    }

    #[test]
    fn redaction_masks_every_secret() {
        let error = ActionError::permanent("token abcd1234 and Basic dTpwYXNz, short ab");
        let secrets = ["abcd1234".to_owned(), "Basic dTpwYXNz".to_owned(), "ab".to_owned()];
        assert_eq!(redact(error, secrets.iter()).message, "token *** and ***, short ab");
    }

    #[test]
    fn repeated_headers_are_joined() {
        let mut headers = HeaderMap::new();
        headers.append("x-a", "1".parse().unwrap());
        headers.append("x-a", "2".parse().unwrap());
        headers.append("Content-Type", "text/plain".parse().unwrap());
        assert_eq!(Value::Object(header_object(&headers)), json!({"x-a": "1, 2", "content-type": "text/plain"}));
    }

    #[test]
    fn limits_and_durations_read_well() {
        assert_eq!(bytes_text(10 << 20), "10 MiB (10485760 bytes)");
        assert_eq!(bytes_text(1000), "1000 bytes");
        assert_eq!(duration_text(Duration::from_secs(90)), "1m30s");
        assert_eq!(duration_text(Duration::from_millis(1500)), "1500ms");
    }
}
