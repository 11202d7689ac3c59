//! Authentication for `sp:http`: fixed headers (basic, bearer, a named header) and OAuth 2.0 client
//! credentials (RFC 6749 §4.4), whose tokens are cached in memory until shortly before they expire.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Client;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderName};
use serde_json::Value;
use tokio::sync::Mutex;
use tokio::time::Instant;
use url::Url;
use url::form_urlencoded::{Serializer, byte_serialize};

use super::guard::Guard;
use super::request::{basic, display_url, header_value};
use super::{read_limited, status_error, transport_error};
use crate::actions::ActionError;

/// How a request authenticates.
pub(crate) enum Credentials {
    None,
    /// A header sent as it is: `Authorization` for basic and bearer, or the `header` kind's own name.
    Header {
        name: HeaderName,
        value: String,
    },
    OAuth(OAuthClient),
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::None => f.write_str("None"),
            Self::Header { name, .. } => f.debug_struct("Header").field("name", name).finish_non_exhaustive(),
            Self::OAuth(client) => client.fmt(f),
        }
    }
}

/// An OAuth 2.0 client using the client credentials grant.
pub(crate) struct OAuthClient {
    pub(crate) token_url: Url,
    pub(crate) client_id: String,
    pub(crate) client_secret: String,
    pub(crate) scope: Option<String>,
    /// Credentials in the form body (`oAuthInBody`) rather than the basic Authorization header.
    pub(crate) in_body: bool,
}

impl OAuthClient {
    /// The Authorization value for `oAuthInHeader`: per RFC 6749 §2.3.1 the id and secret are
    /// form-encoded before they form the basic credentials.
    pub(crate) fn basic_credentials(&self) -> String {
        let id: String = byte_serialize(self.client_id.as_bytes()).collect();
        let secret: String = byte_serialize(self.client_secret.as_bytes()).collect();
        basic(&id, Some(&secret))
    }
}

impl fmt::Debug for OAuthClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthClient")
            .field("token_url", &display_url(&self.token_url))
            .field("client_id", &self.client_id)
            .field("scope", &self.scope)
            .field("in_body", &self.in_body)
            .finish_non_exhaustive()
    }
}

/// An access token, and whether it came from the cache (a 401 then warrants one fresh token).
#[derive(Clone)]
pub(crate) struct Token {
    pub(crate) access_token: String,
    pub(crate) cached: bool,
}

/// The cache key. The secret is part of it so that a workflow knowing only another's client id cannot
/// borrow its token.
#[derive(Clone, PartialEq, Eq, Hash)]
struct Key {
    token_url: String,
    client_id: String,
    scope: Option<String>,
    client_secret: String,
}

struct Cached {
    access_token: String,
    refresh_at: Instant,
}

type Slot = Arc<Mutex<Option<Cached>>>;

/// Tokens by client. Each client has its own lock, held while its token is fetched, so concurrent
/// calls for one client ask the token endpoint once.
#[derive(Default)]
pub(crate) struct TokenCache {
    slots: Mutex<HashMap<Key, Slot>>,
}

impl fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenCache").finish_non_exhaustive()
    }
}

/// Past this many clients, entries whose token has expired are dropped when a new client arrives.
const PRUNE_AT: usize = 256;

impl TokenCache {
    /// A valid token for `client`: the cached one, or a new one from the token endpoint.
    pub(crate) async fn token(
        &self,
        http: &Client,
        guard: &Guard,
        limit: usize,
        client: &OAuthClient,
    ) -> Result<Token, ActionError> {
        let slot = self.slot(client).await;
        let mut cached = slot.lock().await;
        if let Some(entry) = cached.as_ref()
            && entry.refresh_at > Instant::now()
        {
            return Ok(Token { access_token: entry.access_token.clone(), cached: true });
        }
        let asked_at = Instant::now();
        let (access_token, lifetime) = fetch(http, guard, limit, client).await?;
        *cached =
            lifetime.map(|lifetime| Cached { access_token: access_token.clone(), refresh_at: asked_at + lifetime });
        Ok(Token { access_token, cached: false })
    }

    /// Drops `access_token` from the cache after the API refused it.
    pub(crate) async fn forget(&self, client: &OAuthClient, access_token: &str) {
        let slot = self.slot(client).await;
        let mut cached = slot.lock().await;
        if cached.as_ref().is_some_and(|entry| entry.access_token == access_token) {
            *cached = None;
        }
    }

    async fn slot(&self, client: &OAuthClient) -> Slot {
        let key = Key {
            token_url: client.token_url.to_string(),
            client_id: client.client_id.clone(),
            scope: client.scope.clone(),
            client_secret: client.client_secret.clone(),
        };
        let mut slots = self.slots.lock().await;
        if slots.len() >= PRUNE_AT && !slots.contains_key(&key) {
            let now = Instant::now();
            // A slot in use (locked) stays; an idle one stays only while its token is valid.
            slots.retain(|_, slot| {
                slot.try_lock().map_or(true, |entry| entry.as_ref().is_some_and(|e| e.refresh_at > now))
            });
        }
        Arc::clone(slots.entry(key).or_default())
    }
}

/// How long a token may be used: its `expires_in` less a margin (a tenth, at most a minute), so that
/// it is not sent just as it expires. Without `expires_in` it is not cached.
fn usable_for(expires_in: Option<u64>) -> Option<Duration> {
    let seconds = expires_in?;
    let margin = (seconds / 10).clamp(1, 60);
    let usable = seconds.checked_sub(margin).filter(|usable| *usable > 0)?;
    Some(Duration::from_secs(usable))
}

/// Asks the token endpoint (RFC 6749 §4.4.2) and reads its answer (§5.1, §5.2).
async fn fetch(
    http: &Client,
    guard: &Guard,
    limit: usize,
    client: &OAuthClient,
) -> Result<(String, Option<Duration>), ActionError> {
    let label = format!("OAuth token request POST {}", display_url(&client.token_url));
    guard.check_url(&client.token_url).map_err(|refused| ActionError::permanent(format!("{label}: {refused}")))?;
    let mut request = http
        .post(client.token_url.clone())
        .header(ACCEPT, "application/json")
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded");
    // The serializer is not `Send`, so the form is finished before anything is awaited.
    let form = {
        let mut form = Serializer::new(String::new());
        form.append_pair("grant_type", "client_credentials");
        if let Some(scope) = &client.scope {
            form.append_pair("scope", scope);
        }
        if client.in_body {
            form.append_pair("client_id", &client.client_id);
            form.append_pair("client_secret", &client.client_secret);
        }
        form.finish()
    };
    if !client.in_body {
        request =
            request.header(AUTHORIZATION, header_value(&client.basic_credentials(), "the OAuth client credentials")?);
    }
    let response = request.body(form).send().await.map_err(|error| transport_error(&label, error))?;
    let status = response.status();
    let body = read_limited(response, limit, &label).await?;
    let answer: Option<Value> = serde_json::from_slice(&body).ok();
    if !status.is_success() {
        // §5.2: `error` and `error_description` say what was wrong, without echoing credentials.
        let field = |name: &str| answer.as_ref().and_then(|a| a.get(name)).and_then(Value::as_str).map(str::to_owned);
        let detail = match (field("error"), field("error_description")) {
            (Some(code), Some(description)) => format!("{code}: {description}"),
            (Some(code), None) => code,
            _ => String::from_utf8_lossy(&body).chars().take(300).collect(),
        };
        return Err(status_error(&label, status, &detail));
    }
    let invalid = |why: &str| ActionError::permanent(format!("{label}: the token endpoint's answer {why}"));
    let answer = answer.ok_or_else(|| invalid("is not JSON"))?;
    let access_token = answer
        .get("access_token")
        .and_then(Value::as_str)
        .filter(|token| !token.is_empty())
        .ok_or_else(|| invalid("has no access_token"))?;
    if let Some(kind) = answer.get("token_type").and_then(Value::as_str)
        && !kind.eq_ignore_ascii_case("bearer")
    {
        return Err(invalid(&format!("has token_type `{kind}`; only bearer tokens are supported")));
    }
    let expires_in = match answer.get("expires_in") {
        Some(Value::Number(number)) => number.as_u64(),
        Some(Value::String(text)) => text.trim().parse().ok(),
        _ => None,
    };
    Ok((access_token.to_owned(), usable_for(expires_in)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_used_until_shortly_before_they_expire() {
        assert_eq!(usable_for(Some(3600)), Some(Duration::from_secs(3540)));
        assert_eq!(usable_for(Some(300)), Some(Duration::from_secs(270)));
        assert_eq!(usable_for(Some(5)), Some(Duration::from_secs(4)));
        assert_eq!(usable_for(Some(1)), None);
        assert_eq!(usable_for(Some(0)), None);
        assert_eq!(usable_for(None), None);
    }

    #[test]
    fn debug_output_hides_credentials() {
        let client = OAuthClient {
            token_url: Url::parse("https://t.example/oauth/token?x=1").unwrap(),
            client_id: "id".to_owned(),
            client_secret: "s3cret-value".to_owned(),
            scope: None,
            in_body: false,
        };
        let auth = Credentials::Header { name: AUTHORIZATION, value: "Bearer s3cret-value".to_owned() };
        for text in [format!("{client:?}"), format!("{auth:?}")] {
            assert!(!text.contains("s3cret"), "{text}");
        }
    }
}
