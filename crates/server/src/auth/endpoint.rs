//! `POST /oauth/token` (RFC 6749 §4.4, client credentials): the id and secret in HTTP Basic
//! authentication, the form body, or — as ISC's documentation shows — the query string. Guessing is
//! made slow and visible: failed attempts are counted per client id and source address (so a guesser
//! elsewhere cannot lock a client out), per client id overall, and per source address, and past a
//! limit answer 429 with `Retry-After`; secrets are checked off the API's threads, a few at a time,
//! so a flood of wrong ones cannot starve other requests; and an unknown client id costs the same hash
//! as a known one, so ids cannot be told apart by timing.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{ConnectInfo, FromRequestParts, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use ipnet::IpNet;
use serde_json::json;
use tessera_store::{ApiClient, SecurityStore};
use tokio::sync::Semaphore;

use super::{generate_secret, hash_secret, verify_secret};
use crate::AppState;

/// Failed attempts one client id may make from one address in a [`WINDOW`].
const FAILURES_PER_CLIENT_AND_ADDRESS: u32 = 10;
/// Failed attempts one client id may make from everywhere in a [`WINDOW`]: high enough that a guesser
/// elsewhere cannot lock a client out, low enough to bound guessing from many addresses.
const FAILURES_PER_CLIENT: u32 = 100;
/// Failed attempts one source address may make in a [`WINDOW`] (over every client id).
const FAILURES_PER_ADDRESS: u32 = 30;
const WINDOW: Duration = Duration::from_secs(60);
/// How long an attempt waits for a turn at hashing before it is told to come back.
const HASH_WAIT: Duration = Duration::from_secs(5);
/// Counters kept before expired ones are swept.
const SWEEP_AT: usize = 10_000;

/// Failed attempts in the current window of one key.
#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    failures: u32,
}

/// The token endpoint's guard: failure counters, the hashing limit and the hash unknown ids cost.
///
/// Written here rather than with a rate-limiting crate because only failures count (tests, benchmarks
/// and SDK runs fetch many tokens from one address, and must not be slowed), and the well-kept
/// limiters (governor) count every attempt they are asked about.
pub struct TokenGate {
    failures: Mutex<HashMap<String, Window>>,
    hashing: Semaphore,
    /// A hash of a random secret, checked for unknown client ids.
    decoy: String,
    /// Proxies whose `X-Forwarded-For` names the real client.
    trusted_proxies: Vec<IpNet>,
}

impl std::fmt::Debug for TokenGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenGate").field("trusted_proxies", &self.trusted_proxies).finish_non_exhaustive()
    }
}

impl Default for TokenGate {
    fn default() -> Self {
        Self::new(Vec::new())
    }
}

impl TokenGate {
    /// A gate believing `X-Forwarded-For` only from `trusted_proxies`.
    pub fn new(trusted_proxies: Vec<IpNet>) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Self {
            failures: Mutex::new(HashMap::new()),
            hashing: Semaphore::new(cores),
            decoy: hash_secret(&generate_secret()),
            trusted_proxies,
        }
    }

    /// Seconds until `key` may try again, when it has used up its failures.
    fn blocked(&self, key: &str, limit: u32) -> Option<u64> {
        let failures = self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let window = failures.get(key)?;
        let left = WINDOW.checked_sub(window.started.elapsed())?;
        (window.failures >= limit).then(|| left.as_secs().max(1))
    }

    fn fail(&self, key: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if failures.len() >= SWEEP_AT {
            failures.retain(|_, window| window.started.elapsed() < WINDOW);
            // Still full of live windows: a flood of made-up ids, each blocked by its address anyway.
            if failures.len() >= SWEEP_AT {
                failures.retain(|key, _| key.starts_with("address:"));
            }
        }
        let window = failures.entry(key.to_owned()).or_insert(Window { started: Instant::now(), failures: 0 });
        if window.started.elapsed() >= WINDOW {
            *window = Window { started: Instant::now(), failures: 0 };
        }
        window.failures += 1;
    }

    fn succeed(&self, key: &str) {
        self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(key);
    }

    /// The address a request comes from: the peer, or where a trusted proxy says it got it from (the
    /// last address in `X-Forwarded-For` that is not itself a trusted proxy).
    pub(crate) fn client_address(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        let peer = peer?;
        if !self.trusted(peer) {
            return Some(peer);
        }
        let forwarded = headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok()).collect::<Vec<_>>();
        let hops: Vec<IpAddr> = forwarded.join(",").split(',').filter_map(|hop| hop.trim().parse().ok()).collect();
        Some(hops.into_iter().rev().find(|hop| !self.trusted(*hop)).unwrap_or(peer))
    }

    fn trusted(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.trusted_proxies.iter().any(|net| net.contains(&ip))
    }

    /// Checks `secret` against `hash` (or the decoy) on a blocking thread, waiting for a turn; `None`
    /// when no turn came in time.
    async fn check(&self, secret: String, hash: Option<String>) -> Option<bool> {
        let _turn = tokio::time::timeout(HASH_WAIT, self.hashing.acquire()).await.ok()?.ok()?;
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.decoy.clone());
        let matched = tokio::task::spawn_blocking(move || verify_secret(&secret, &hash)).await.ok()?;
        Some(matched && known)
    }
}

/// The parts of a token request (RFC 6749 §4.4.2), from the form body or the query string.
#[derive(Debug, Default)]
struct TokenRequest {
    grant_type: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

/// An OAuth2 error (RFC 6749 §5.2).
fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let mut response = (status, Json(json!({ "error": error, "error_description": description }))).into_response();
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"tessera\""));
    }
    response
}

fn too_many(seconds: u64, description: &str) -> Response {
    let mut response = oauth_error(StatusCode::TOO_MANY_REQUESTS, "slow_down", description);
    if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ").or_else(|| value.strip_prefix("basic "))?;
    let pair = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = pair.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}

/// The address of the connection's peer, when the server was started with connection info.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Peer(pub(crate) Option<IpAddr>);

impl crate::openapi::signature::Input for Peer {}

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(addr)| addr.ip())))
    }
}

/// `POST /oauth/token`.
pub(crate) async fn token(
    State(state): State<AppState>,
    Peer(peer): Peer,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let query = query.map(|q| form_request(q.as_bytes())).unwrap_or_default();
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let form: TokenRequest = if body.is_empty() {
        TokenRequest::default()
    } else if content_type.starts_with("application/x-www-form-urlencoded") {
        form_request(&body)
    } else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "send the token request as application/x-www-form-urlencoded (RFC 6749 §4.4.2), or in the query string",
        );
    };
    let grant_type = form.grant_type.or(query.grant_type);
    if grant_type.as_deref() != Some("client_credentials") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "only grant_type=client_credentials is supported",
        );
    }
    let basic = basic_credentials(&headers);
    let id = basic.as_ref().map(|b| b.0.clone()).or(form.client_id).or(query.client_id);
    let secret = basic.map(|b| b.1).or(form.client_secret).or(query.client_secret);
    let (Some(id), Some(secret)) = (id, secret) else {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "send client_id and client_secret");
    };
    let gate = &state.gate;
    let address = gate.client_address(peer, &headers);
    let client_key = format!("client:{id}");
    let address_key = address.map(|ip| format!("address:{}", ip.to_canonical()));
    let pair_key = format!("{client_key}@{}", address.map(|ip| ip.to_canonical().to_string()).unwrap_or_default());
    let blocked = gate
        .blocked(&pair_key, FAILURES_PER_CLIENT_AND_ADDRESS)
        .or_else(|| gate.blocked(&client_key, FAILURES_PER_CLIENT))
        .or_else(|| address_key.as_deref().and_then(|key| gate.blocked(key, FAILURES_PER_ADDRESS)));
    if let Some(seconds) = blocked {
        return too_many(seconds, "too many failed attempts; wait before trying again");
    }
    let client: Option<ApiClient> = match state.engine.store().begin().await {
        Ok(mut tx) => tx.client(&id).await.ok().flatten(),
        Err(_) => None,
    };
    let hash = client.as_ref().map(|c| c.secret_hash.clone());
    let Some(matched) = gate.check(secret, hash).await else {
        return too_many(1, "too many sign-ins are being checked at once; try again in a moment");
    };
    let client = client.filter(|c| matched && !c.disabled);
    let Some(client) = client else {
        gate.fail(&pair_key);
        gate.fail(&client_key);
        if let Some(key) = &address_key {
            gate.fail(key);
        }
        tracing::info!(client = %id, address = ?address, "token refused");
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "unknown client or wrong secret");
    };
    gate.succeed(&pair_key);
    match state.auth.issue(&client).await {
        Ok((token, expires_in)) => Json(json!({
            "access_token": token,
            "token_type": "bearer",
            "expires_in": expires_in,
            "scope": client.scopes.join(" "),
        }))
        .into_response(),
        Err(error) => error.into_response(),
    }
}

/// The form body as a token request (unknown fields ignored).
fn form_request(body: &[u8]) -> TokenRequest {
    let mut request = TokenRequest::default();
    for (key, value) in url::form_urlencoded::parse(body) {
        let slot = match key.as_ref() {
            "grant_type" => &mut request.grant_type,
            "client_id" => &mut request.client_id,
            "client_secret" => &mut request.client_secret,
            _ => continue,
        };
        *slot = Some(value.into_owned());
    }
    request
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn forwarded(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn only_a_trusted_proxy_says_where_a_request_came_from() {
        let ip = |text: &str| text.parse::<IpAddr>().unwrap();
        let direct = TokenGate::new(Vec::new());
        let spoofed = forwarded("1.2.3.4");
        assert_eq!(direct.client_address(Some(ip("10.0.0.9")), &spoofed), Some(ip("10.0.0.9")), "not believed");
        let behind = TokenGate::new(vec!["10.0.0.0/8".parse().unwrap()]);
        // The client can prepend anything; the proxy appends what it saw.
        let chain = forwarded("6.6.6.6, 203.0.113.7, 10.0.0.2");
        assert_eq!(behind.client_address(Some(ip("10.0.0.1")), &chain), Some(ip("203.0.113.7")));
        assert_eq!(behind.client_address(Some(ip("10.0.0.1")), &HeaderMap::new()), Some(ip("10.0.0.1")));
        assert_eq!(behind.client_address(Some(ip("192.0.2.5")), &chain), Some(ip("192.0.2.5")), "not a proxy");
        assert_eq!(behind.client_address(None, &chain), None);
    }
}
