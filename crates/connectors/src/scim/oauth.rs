//! OAuth 2.0 client credentials (RFC 6749 §4.4) for the SCIM connector: one client's access token, fetched
//! from the token endpoint and kept until shortly before it expires.

use std::fmt;
use std::time::Duration;

use reqwest::Client;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use serde_json::Value;
use tokio::sync::Mutex;
use tokio::time::Instant;
use url::Url;
use url::form_urlencoded::{Serializer, byte_serialize};

use super::http::{read_body, status_error, transport_error};
use crate::ConnectorError;

/// The token endpoint's answer is small; anything larger is not a token response.
const TOKEN_BODY_LIMIT: usize = 64 * 1024;

/// An OAuth client and its cached token. The lock is held while a token is fetched, so concurrent requests
/// ask the token endpoint once.
pub(super) struct OAuthClient {
    token_url: Url,
    client_id: String,
    client_secret: String,
    scope: Option<String>,
    cached: Mutex<Option<Cached>>,
}

struct Cached {
    access_token: String,
    refresh_at: Instant,
}

/// An access token, and whether it came from the cache (a 401 then warrants one fresh token).
pub(super) struct Token {
    pub(super) access_token: String,
    pub(super) cached: bool,
}

impl fmt::Debug for OAuthClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthClient")
            .field("token_url", &self.token_url.as_str())
            .field("client_id", &self.client_id)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl OAuthClient {
    pub(super) fn new(token_url: Url, client_id: String, client_secret: String, scope: Option<String>) -> Self {
        Self { token_url, client_id, client_secret, scope, cached: Mutex::new(None) }
    }

    /// A valid token: the cached one, or a new one from the token endpoint.
    pub(super) async fn token(&self, http: &Client) -> Result<Token, ConnectorError> {
        let mut cached = self.cached.lock().await;
        if let Some(entry) = cached.as_ref()
            && entry.refresh_at > Instant::now()
        {
            return Ok(Token { access_token: entry.access_token.clone(), cached: true });
        }
        let asked_at = Instant::now();
        let (access_token, lifetime) = self.fetch(http).await?;
        *cached =
            lifetime.map(|lifetime| Cached { access_token: access_token.clone(), refresh_at: asked_at + lifetime });
        Ok(Token { access_token, cached: false })
    }

    /// Drops `access_token` from the cache after the service provider refused it.
    pub(super) async fn forget(&self, access_token: &str) {
        let mut cached = self.cached.lock().await;
        if cached.as_ref().is_some_and(|entry| entry.access_token == access_token) {
            *cached = None;
        }
    }

    /// Asks the token endpoint (§4.4.2), authenticating with HTTP basic (§2.3.1), and reads its answer (§5).
    async fn fetch(&self, http: &Client) -> Result<(String, Option<Duration>), ConnectorError> {
        let label = format!("OAuth token request to {}", self.token_url);
        let form = {
            let mut form = Serializer::new(String::new());
            form.append_pair("grant_type", "client_credentials");
            if let Some(scope) = &self.scope {
                form.append_pair("scope", scope);
            }
            form.finish()
        };
        // §2.3.1: the id and the secret are form-encoded before they make the basic credentials.
        let id: String = byte_serialize(self.client_id.as_bytes()).collect();
        let secret: String = byte_serialize(self.client_secret.as_bytes()).collect();
        let response = http
            .post(self.token_url.clone())
            .header(ACCEPT, "application/json")
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .basic_auth(id, Some(secret))
            .body(form)
            .send()
            .await
            .map_err(|error| transport_error(&label, &error))?;
        let status = response.status();
        let body = read_body(response, TOKEN_BODY_LIMIT, &label).await?;
        let answer: Option<Value> = serde_json::from_slice(&body).ok();
        let field = |name: &str| answer.as_ref().and_then(|a| a.get(name)).and_then(Value::as_str);
        if !status.is_success() {
            let detail = match (field("error"), field("error_description")) {
                (Some(code), Some(description)) => format!("{code}: {description}"),
                (Some(code), None) => code.to_owned(),
                _ => String::new(),
            };
            return Err(status_error(&label, status, &detail));
        }
        let invalid = |why: &str| ConnectorError::permanent(format!("{label}: the answer {why}"));
        let access_token =
            field("access_token").filter(|token| !token.is_empty()).ok_or_else(|| invalid("has no access_token"))?;
        if let Some(kind) = field("token_type")
            && !kind.eq_ignore_ascii_case("bearer")
        {
            return Err(invalid(&format!("has token_type `{kind}`; only bearer tokens are supported")));
        }
        let expires_in = match answer.as_ref().and_then(|a| a.get("expires_in")) {
            Some(Value::Number(number)) => number.as_u64(),
            Some(Value::String(text)) => text.trim().parse().ok(),
            _ => None,
        };
        Ok((access_token.to_owned(), usable_for(expires_in)))
    }
}

/// How long a token may be used: its `expires_in` less a margin (a tenth, at least a second and at most a
/// minute), so that it is not sent just as it expires. Without `expires_in` it is not cached.
fn usable_for(expires_in: Option<u64>) -> Option<Duration> {
    let seconds = expires_in?;
    let margin = (seconds / 10).clamp(1, 60);
    seconds.checked_sub(margin).filter(|usable| *usable > 0).map(Duration::from_secs)
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
        assert_eq!(usable_for(None), None);
    }

    #[test]
    fn debug_output_hides_the_secret() {
        let url = Url::parse("https://idp.example/token").unwrap();
        let client = OAuthClient::new(url, "id".to_owned(), "s3cret".to_owned(), None);
        assert!(!format!("{client:?}").contains("s3cret"));
    }
}
