//! The SCIM connector's HTTP layer: resource URLs under the base URL, authenticated requests, and what a
//! failed exchange means (retryable or permanent, with the SCIM error's `detail`).

use std::fmt;
use std::time::Duration;

use reqwest::header::{ACCEPT, CONTENT_TYPE};
use reqwest::{Client, Method, Response, StatusCode};
use serde_json::Value;
use url::Url;

use super::config::{ScimAuth, ScimConfig};
use crate::oauth::{ClientCredentials, TokenCache, TokenRefusal, read_answer};
use crate::{ConnectorError, Error};

/// SCIM's media type (RFC 7644 §3.1).
const SCIM_JSON: &str = "application/scim+json";
/// The largest answer read: a page of 1000 users with large attributes stays well below it.
const BODY_LIMIT: usize = 64 * 1024 * 1024;
/// The token endpoint's answer is small; anything larger is not a token response.
const TOKEN_BODY_LIMIT: usize = 64 * 1024;

/// How requests authenticate.
enum Auth {
    Bearer(String),
    OAuth(Box<ClientCredentials>),
}

/// A client for one service provider.
pub(super) struct Http {
    client: Client,
    base: Url,
    auth: Auth,
    tokens: TokenCache,
}

impl fmt::Debug for Http {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let auth = match &self.auth {
            Auth::Bearer(_) => "bearer",
            Auth::OAuth(_) => "oauth2",
        };
        f.debug_struct("Http").field("base", &self.base.as_str()).field("auth", &auth).finish_non_exhaustive()
    }
}

/// An answer of any status, its body parsed when it is JSON.
#[derive(Debug)]
pub(super) struct Reply {
    pub(super) status: StatusCode,
    pub(super) body: Option<Value>,
    /// `METHOD /path` (no host, no query), for messages.
    label: String,
}

impl Reply {
    /// The body of a successful answer (`None` for 204 No Content), or the error the status means.
    pub(super) fn success(self) -> Result<Option<Value>, ConnectorError> {
        if self.status.is_success() { Ok(self.body) } else { Err(self.error()) }
    }

    /// The error this answer's status means, with the SCIM error's `scimType` and `detail` (RFC 7644 §3.12).
    pub(super) fn error(&self) -> ConnectorError {
        let field = |name: &str| self.body.as_ref().and_then(|body| body.get(name)).and_then(Value::as_str);
        let detail = match (field("scimType"), field("detail")) {
            (Some(kind), Some(detail)) => format!("{detail} ({kind})"),
            (None, Some(detail)) => detail.to_owned(),
            (Some(kind), None) => kind.to_owned(),
            (None, None) => String::new(),
        };
        status_error(&self.label, self.status, &detail)
    }

    /// The SCIM error's `scimType`.
    pub(super) fn scim_type(&self) -> Option<&str> {
        self.body.as_ref()?.get("scimType")?.as_str()
    }
}

impl Http {
    pub(super) fn new(config: &ScimConfig) -> Result<Self, Error> {
        let client = Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(std::time::Duration::from_secs(10)))
            .build()
            .map_err(|error| Error::Config { key: "baseUrl", message: format!("no HTTP client: {error}") })?;
        let auth = match &config.auth {
            ScimAuth::Bearer(token) => Auth::Bearer(token.clone()),
            ScimAuth::OAuth2 { token_url, client_id, client_secret, scope } => {
                Auth::OAuth(Box::new(ClientCredentials {
                    token_url: token_url.clone(),
                    client_id: client_id.clone(),
                    client_secret: client_secret.clone(),
                    scope: scope.clone(),
                    in_body: false,
                }))
            }
        };
        Ok(Self { client, base: config.base_url.clone(), auth, tokens: TokenCache::default() })
    }

    /// Asks the token endpoint for a token (RFC 6749 §4.4.2).
    async fn fetch_token(&self, client: &ClientCredentials) -> Result<(String, Option<Duration>), ConnectorError> {
        let label = format!("OAuth token request to {}", client.token_url);
        let response = client.request(&self.client).send().await.map_err(|error| transport_error(&label, &error))?;
        let status = response.status();
        let body = read_body(response, TOKEN_BODY_LIMIT, &label).await?;
        read_answer(status, &body).map_err(|refusal| match refusal {
            TokenRefusal::Status { status, detail } => status_error(&label, status, &detail),
            TokenRefusal::Invalid(why) => ConnectorError::permanent(format!("{label}: {why}")),
        })
    }

    /// Sends a request to the resource at `segments` under the base URL (each segment percent-encoded) and
    /// reads the answer, whatever its status. Only transport failures are errors here.
    pub(super) async fn send(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Reply, ConnectorError> {
        let mut url = self.base.clone();
        {
            let mut path = url.path_segments_mut().map_err(|()| ConnectorError::permanent("bad base URL"))?;
            path.pop_if_empty().extend(segments);
        }
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        let label = format!("SCIM {method} /{}", segments.join("/"));
        let mut retried = false;
        loop {
            let (token, cached) = match &self.auth {
                Auth::Bearer(token) => (token.clone(), false),
                Auth::OAuth(client) => {
                    let token = self.tokens.token(client, self.fetch_token(client)).await?;
                    (token.access_token, token.cached)
                }
            };
            let mut request =
                self.client.request(method.clone(), url.clone()).bearer_auth(&token).header(ACCEPT, SCIM_JSON);
            if let Some(body) = body {
                let bytes = serde_json::to_vec(body).map_err(|error| ConnectorError::permanent(error.to_string()))?;
                request = request.header(CONTENT_TYPE, SCIM_JSON).body(bytes);
            }
            let response = request.send().await.map_err(|error| transport_error(&label, &error))?;
            let status = response.status();
            // A cached token the service provider refuses (revoked, or expired early) is replaced once.
            if status == StatusCode::UNAUTHORIZED
                && cached
                && !retried
                && let Auth::OAuth(client) = &self.auth
            {
                self.tokens.forget(client, &token).await;
                retried = true;
                continue;
            }
            let bytes = read_body(response, BODY_LIMIT, &label).await?;
            let body = if bytes.iter().all(u8::is_ascii_whitespace) {
                None
            } else {
                match serde_json::from_slice(&bytes) {
                    Ok(body) => Some(body),
                    Err(_) if !status.is_success() => None,
                    Err(error) => {
                        return Err(ConnectorError::permanent(format!("{label}: the answer is not JSON: {error}")));
                    }
                }
            };
            return Ok(Reply { status, body, label });
        }
    }

    /// Sends a request and returns the body of its successful answer.
    pub(super) async fn call(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Option<Value>, ConnectorError> {
        self.send(method, segments, query, body).await?.success()
    }
}

/// Reads an answer's body, refusing one longer than `limit`.
pub(super) async fn read_body(mut response: Response, limit: usize, label: &str) -> Result<Vec<u8>, ConnectorError> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|error| transport_error(label, &error))? {
        if body.len() + chunk.len() > limit {
            return Err(ConnectorError::permanent(format!("{label}: the answer is longer than {limit} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A request that got no (complete) answer: a timeout, a refused or reset connection. Retrying may help,
/// unless the request could not even be built.
pub(super) fn transport_error(label: &str, error: &reqwest::Error) -> ConnectorError {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else {
        "failed"
    };
    // The URL is left out: the label names the resource, and the host is in the configuration.
    let mut message = format!("{label}: {kind}");
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(error);
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    if error.is_builder() { ConnectorError::permanent(message) } else { ConnectorError::retryable(message) }
}

/// An answer with an error status: 408, 429 and 5xx are worth retrying, anything else is not.
pub(super) fn status_error(label: &str, status: StatusCode, detail: &str) -> ConnectorError {
    let mut message = format!("{label}: HTTP {status}");
    if !detail.is_empty() {
        message.push_str(": ");
        message.extend(detail.chars().take(500));
    }
    if status == StatusCode::REQUEST_TIMEOUT || status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
        ConnectorError::retryable(message)
    } else {
        ConnectorError::permanent(message)
    }
}
