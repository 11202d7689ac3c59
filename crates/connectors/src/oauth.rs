//! OAuth 2.0 client credentials (RFC 6749 §4.4), Tessera's one implementation: the token request a
//! client makes (§4.4.2; its credentials in basic auth, form-encoded first as §2.3.1 says, or in the
//! body), the reading of the answer (§5.1, §5.2), and a cache of tokens by client, each kept until
//! shortly before it expires and fetched once however many ask at once. The SCIM connector and
//! `sp:http` send the request through their own HTTP clients (the latter behind its outbound guard and
//! size limit) and map a refusal into their own errors.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{ACCEPT, CONTENT_TYPE};
use reqwest::{Client, RequestBuilder, StatusCode};
use serde_json::Value;
use tokio::sync::Mutex;
use tokio::time::Instant;
use url::Url;
use url::form_urlencoded::{Serializer, byte_serialize};

/// A client of a token endpoint.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ClientCredentials {
    pub token_url: Url,
    pub client_id: String,
    pub client_secret: String,
    pub scope: Option<String>,
    /// The credentials go in the form body rather than in the basic `Authorization` header.
    pub in_body: bool,
}

impl fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("token_url", &format_args!("{}", display(&self.token_url)))
            .field("client_id", &self.client_id)
            .field("scope", &self.scope)
            .field("in_body", &self.in_body)
            .finish_non_exhaustive()
    }
}

/// The token URL as messages show it: no credentials, no query.
fn display(url: &Url) -> String {
    format!("{}://{}{}", url.scheme(), url.host_str().unwrap_or_default(), url.path())
}

impl ClientCredentials {
    /// The id and the secret form-encoded (§2.3.1), as they make the basic credentials.
    pub fn basic_parts(&self) -> (String, String) {
        (byte_serialize(self.client_id.as_bytes()).collect(), byte_serialize(self.client_secret.as_bytes()).collect())
    }

    /// The token request (§4.4.2) on `http`, ready to send.
    pub fn request(&self, http: &Client) -> RequestBuilder {
        // The serializer is not `Send`, so the form is finished before anything is awaited.
        let form = {
            let mut form = Serializer::new(String::new());
            form.append_pair("grant_type", "client_credentials");
            if let Some(scope) = &self.scope {
                form.append_pair("scope", scope);
            }
            if self.in_body {
                form.append_pair("client_id", &self.client_id);
                form.append_pair("client_secret", &self.client_secret);
            }
            form.finish()
        };
        let request = http
            .post(self.token_url.clone())
            .header(ACCEPT, "application/json")
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(form);
        if self.in_body {
            request
        } else {
            let (id, secret) = self.basic_parts();
            request.basic_auth(id, Some(secret))
        }
    }
}

/// Why a token endpoint's answer gives no token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenRefusal {
    /// It answered this status; `detail` is its `error` and `error_description` (§5.2), or the start
    /// of its body.
    Status { status: StatusCode, detail: String },
    /// It answered success with something that is not a bearer token.
    Invalid(String),
}

/// A token and how long it may be used (`None`: not to be kept), from the endpoint's answer.
pub fn read_answer(status: StatusCode, body: &[u8]) -> Result<(String, Option<Duration>), TokenRefusal> {
    let answer: Option<Value> = serde_json::from_slice(body).ok();
    let field = |name: &str| answer.as_ref().and_then(|a| a.get(name)).and_then(Value::as_str);
    if !status.is_success() {
        let detail = match (field("error"), field("error_description")) {
            (Some(code), Some(description)) => format!("{code}: {description}"),
            (Some(code), None) => code.to_owned(),
            _ => String::from_utf8_lossy(body).chars().take(300).collect(),
        };
        return Err(TokenRefusal::Status { status, detail });
    }
    let invalid = |why: &str| TokenRefusal::Invalid(format!("the token endpoint's answer {why}"));
    if answer.is_none() {
        return Err(invalid("is not JSON"));
    }
    let access_token = field("access_token").filter(|t| !t.is_empty()).ok_or_else(|| invalid("has no access_token"))?;
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

/// How long a token may be used: its `expires_in` less a margin (a tenth, at least a second and at most
/// a minute), so that it is not sent just as it expires. Without `expires_in` it is not kept.
pub fn usable_for(expires_in: Option<u64>) -> Option<Duration> {
    let seconds = expires_in?;
    let margin = (seconds / 10).clamp(1, 60);
    seconds.checked_sub(margin).filter(|usable| *usable > 0).map(Duration::from_secs)
}

/// An access token, and whether it came from the cache (a 401 then warrants one fresh token).
#[derive(Debug, Clone)]
pub struct Token {
    pub access_token: String,
    pub cached: bool,
}

struct Cached {
    access_token: String,
    refresh_at: Instant,
}

type Slot = Arc<Mutex<Option<Cached>>>;

/// Tokens by client — the secret is part of the key, so nobody knowing only another's client id can
/// borrow its token. Each client has its own lock, held while its token is fetched, so concurrent
/// callers for one client ask the token endpoint once.
#[derive(Default)]
pub struct TokenCache {
    slots: Mutex<HashMap<ClientCredentials, Slot>>,
}

impl fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenCache").finish_non_exhaustive()
    }
}

/// Past this many clients, entries whose token has expired are dropped when a new client arrives.
const PRUNE_AT: usize = 256;

impl TokenCache {
    /// A valid token for `client`: the cached one, or one `fetch` gets from the token endpoint.
    pub async fn token<E, F>(&self, client: &ClientCredentials, fetch: F) -> Result<Token, E>
    where
        F: Future<Output = Result<(String, Option<Duration>), E>>,
    {
        let slot = self.slot(client).await;
        let mut cached = slot.lock().await;
        if let Some(entry) = cached.as_ref()
            && entry.refresh_at > Instant::now()
        {
            return Ok(Token { access_token: entry.access_token.clone(), cached: true });
        }
        let asked_at = Instant::now();
        let (access_token, lifetime) = fetch.await?;
        *cached =
            lifetime.map(|lifetime| Cached { access_token: access_token.clone(), refresh_at: asked_at + lifetime });
        Ok(Token { access_token, cached: false })
    }

    /// Drops `access_token` from the cache after the API it was sent to refused it.
    pub async fn forget(&self, client: &ClientCredentials, access_token: &str) {
        let slot = self.slot(client).await;
        let mut cached = slot.lock().await;
        if cached.as_ref().is_some_and(|entry| entry.access_token == access_token) {
            *cached = None;
        }
    }

    async fn slot(&self, client: &ClientCredentials) -> Slot {
        let mut slots = self.slots.lock().await;
        if slots.len() >= PRUNE_AT && !slots.contains_key(client) {
            let now = Instant::now();
            // A slot in use (locked) stays; an idle one stays only while its token is valid.
            slots.retain(|_, slot| {
                slot.try_lock().map_or(true, |entry| entry.as_ref().is_some_and(|e| e.refresh_at > now))
            });
        }
        Arc::clone(slots.entry(client.clone()).or_default())
    }
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
    fn answers_give_a_token_or_say_why_not() {
        let ok = br#"{"access_token": "t", "token_type": "Bearer", "expires_in": "300"}"#;
        assert_eq!(read_answer(StatusCode::OK, ok), Ok(("t".to_owned(), Some(Duration::from_secs(270)))));
        let refused = br#"{"error": "invalid_client", "error_description": "bad secret"}"#;
        assert_eq!(
            read_answer(StatusCode::UNAUTHORIZED, refused),
            Err(TokenRefusal::Status { status: StatusCode::UNAUTHORIZED, detail: "invalid_client: bad secret".into() })
        );
        let mac = br#"{"access_token": "t", "token_type": "mac"}"#;
        assert!(matches!(read_answer(StatusCode::OK, mac), Err(TokenRefusal::Invalid(why)) if why.contains("mac")));
        assert!(
            matches!(read_answer(StatusCode::OK, b"<html>"), Err(TokenRefusal::Invalid(why)) if why.contains("not JSON"))
        );
    }

    #[test]
    fn debug_output_hides_the_secret_and_the_query() {
        let client = ClientCredentials {
            token_url: Url::parse("https://idp.example/token?key=k3y").unwrap(),
            client_id: "id".to_owned(),
            client_secret: "s3cret".to_owned(),
            scope: None,
            in_body: false,
        };
        let text = format!("{client:?}");
        assert!(!text.contains("s3cret") && !text.contains("k3y"), "{text}");
    }
}
