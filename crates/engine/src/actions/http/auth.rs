//! Authentication for `sp:http`: fixed headers (basic, bearer, a named header) and OAuth 2.0 client
//! credentials (RFC 6749 §4.4), through the one implementation in `tessera_connectors::oauth` (its
//! token cache included), with the token request sent through the outbound guard.

use std::fmt;
use std::time::Duration;

use reqwest::Client;
use reqwest::header::HeaderName;
pub(crate) use tessera_connectors::oauth::ClientCredentials;
pub(crate) use tessera_connectors::oauth::TokenCache;
use tessera_connectors::oauth::{TokenRefusal, read_answer};

use super::guard::Guard;
use super::request::{basic, display_url};
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
    OAuth(ClientCredentials),
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

/// The Authorization value the client's credentials make, masked wherever it might appear.
pub(crate) fn basic_credentials(client: &ClientCredentials) -> String {
    let (id, secret) = client.basic_parts();
    basic(&id, Some(&secret))
}

/// Asks the token endpoint (RFC 6749 §4.4.2) through the outbound guard, reading at most `limit` bytes.
pub(crate) async fn fetch(
    http: &Client,
    guard: &Guard,
    limit: usize,
    client: &ClientCredentials,
) -> Result<(String, Option<Duration>), ActionError> {
    let label = format!("OAuth token request POST {}", display_url(&client.token_url));
    guard.check_url(&client.token_url).map_err(|refused| ActionError::permanent(format!("{label}: {refused}")))?;
    let response = client.request(http).send().await.map_err(|error| transport_error(&label, error))?;
    let status = response.status();
    let body = read_limited(response, limit, &label).await?;
    read_answer(status, &body).map_err(|refusal| match refusal {
        TokenRefusal::Status { status, detail } => status_error(&label, status, &detail),
        TokenRefusal::Invalid(why) => ActionError::permanent(format!("{label}: {why}")),
    })
}

#[cfg(test)]
mod tests {
    use reqwest::header::AUTHORIZATION;
    use url::Url;

    use super::*;

    #[test]
    fn debug_output_hides_credentials() {
        let client = ClientCredentials {
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
