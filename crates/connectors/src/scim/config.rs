//! The SCIM connector's configuration: where the service provider is, how to authenticate, and how to page,
//! read from a source's `connectorAttributes`.

use std::fmt;
use std::time::Duration;

use serde_json::{Map, Value};
use url::Url;

use crate::Error;

/// The page size when none is configured.
pub const DEFAULT_PAGE_SIZE: u32 = 100;
/// The largest page size accepted: more than most service providers' `filter.maxResults`.
pub const MAX_PAGE_SIZE: u32 = 1000;
/// The request timeout when none is configured.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// How requests to the service provider authenticate.
#[derive(Clone, PartialEq, Eq)]
pub enum ScimAuth {
    /// A static bearer token (RFC 6750).
    Bearer(String),
    /// OAuth 2.0 client credentials (RFC 6749 §4.4); the client authenticates to the token endpoint with HTTP
    /// basic authentication, and the token is cached until shortly before it expires.
    OAuth2 { token_url: Url, client_id: String, client_secret: String, scope: Option<String> },
}

impl fmt::Debug for ScimAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bearer(_) => f.write_str("Bearer(..)"),
            Self::OAuth2 { token_url, client_id, scope, .. } => f
                .debug_struct("OAuth2")
                .field("token_url", &token_url.as_str())
                .field("client_id", client_id)
                .field("scope", scope)
                .finish_non_exhaustive(),
        }
    }
}

/// Where a SCIM 2.0 service provider is and how to talk to it. [`super::ScimConnector::new`] checks the values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScimConfig {
    /// The service provider's base URL, under which `/Users` and `/Groups` are (`https://host/scim/v2`).
    pub base_url: Url,
    pub auth: ScimAuth,
    /// Resources asked for per page (`count`), 1 to [`MAX_PAGE_SIZE`].
    pub page_size: u32,
    /// How long one HTTP request (connecting, sending and reading the answer) may take.
    pub timeout: Duration,
    /// The account attribute whose values are group ids: what entitlements are read as and what group
    /// memberships are requested under.
    pub group_attribute: String,
}

impl ScimConfig {
    /// A configuration with the default page size, timeout and group attribute.
    pub fn new(base_url: Url, auth: ScimAuth) -> Self {
        Self {
            base_url,
            auth,
            page_size: DEFAULT_PAGE_SIZE,
            timeout: DEFAULT_TIMEOUT,
            group_attribute: "groups".to_owned(),
        }
    }

    /// Reads a source's `connectorAttributes`: `baseUrl` (required), `authType` (`bearer`, the default, or
    /// `oauth2`), `token` (for bearer), `tokenUrl`, `clientId`, `clientSecret` and `scope` (for oauth2),
    /// `pageSize`, `timeoutSeconds` and `groupAttribute`. Numbers may be given as strings. Other keys are
    /// ignored; a key that is absent or null takes its default.
    pub fn from_json(attrs: &Value) -> Result<Self, Error> {
        let Some(attrs) = attrs.as_object() else {
            return Err(config_error("connectorAttributes", "must be a JSON object"));
        };
        let base_url = url(attrs, "baseUrl")?.ok_or_else(|| config_error("baseUrl", "is required"))?;
        let auth = match string(attrs, "authType")?.map(str::trim) {
            None | Some("") => bearer(attrs)?,
            Some(kind) if kind.eq_ignore_ascii_case("bearer") => bearer(attrs)?,
            Some(kind) if kind.eq_ignore_ascii_case("oauth2") => ScimAuth::OAuth2 {
                token_url: url(attrs, "tokenUrl")?.ok_or_else(|| required("tokenUrl", "oauth2"))?,
                client_id: non_empty(attrs, "clientId")?.ok_or_else(|| required("clientId", "oauth2"))?,
                client_secret: non_empty(attrs, "clientSecret")?.ok_or_else(|| required("clientSecret", "oauth2"))?,
                scope: non_empty(attrs, "scope")?,
            },
            Some(kind) => {
                return Err(config_error("authType", format!("`{kind}` is not one of `bearer` and `oauth2`")));
            }
        };
        let mut config = Self::new(base_url, auth);
        if let Some(size) = number(attrs, "pageSize")? {
            config.page_size = u32::try_from(size)
                .ok()
                .filter(|size| (1..=MAX_PAGE_SIZE).contains(size))
                .ok_or_else(|| config_error("pageSize", format!("must be between 1 and {MAX_PAGE_SIZE}")))?;
        }
        if let Some(seconds) = number(attrs, "timeoutSeconds")? {
            if seconds == 0 || seconds > 3600 {
                return Err(config_error("timeoutSeconds", "must be between 1 and 3600"));
            }
            config.timeout = Duration::from_secs(seconds);
        }
        if let Some(attribute) = non_empty(attrs, "groupAttribute")? {
            config.group_attribute = attribute;
        }
        config.check()?;
        Ok(config)
    }

    /// Checks the values a caller may have set directly.
    pub(super) fn check(&self) -> Result<(), Error> {
        check_url("baseUrl", &self.base_url)?;
        if let ScimAuth::OAuth2 { token_url, .. } = &self.auth {
            check_url("tokenUrl", token_url)?;
        }
        if !(1..=MAX_PAGE_SIZE).contains(&self.page_size) {
            return Err(config_error("pageSize", format!("must be between 1 and {MAX_PAGE_SIZE}")));
        }
        if self.timeout.is_zero() {
            return Err(config_error("timeoutSeconds", "must be at least 1"));
        }
        if self.group_attribute.trim().is_empty() {
            return Err(config_error("groupAttribute", "must not be empty"));
        }
        Ok(())
    }
}

fn bearer(attrs: &Map<String, Value>) -> Result<ScimAuth, Error> {
    let token = non_empty(attrs, "token")?.ok_or_else(|| required("token", "bearer"))?;
    Ok(ScimAuth::Bearer(token))
}

fn check_url(key: &'static str, url: &Url) -> Result<(), Error> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(config_error(key, "must be an http or https URL"));
    }
    if url.cannot_be_a_base() || url.host().is_none() {
        return Err(config_error(key, "must be an absolute URL with a host"));
    }
    // Credentials in a URL end up in logs and error messages; they belong in `token` or `clientSecret`.
    if !url.username().is_empty() || url.password().is_some() {
        return Err(config_error(key, "must not hold credentials; configure them with the auth attributes"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(config_error(key, "must not have a query or a fragment"));
    }
    Ok(())
}

fn required(key: &'static str, kind: &str) -> Error {
    config_error(key, format!("is required when `authType` is `{kind}`"))
}

fn string<'a>(attrs: &'a Map<String, Value>, key: &'static str) -> Result<Option<&'a str>, Error> {
    match attrs.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(config_error(key, "must be a string")),
    }
}

/// A string attribute, trimmed; `None` when absent or blank.
fn non_empty(attrs: &Map<String, Value>, key: &'static str) -> Result<Option<String>, Error> {
    Ok(string(attrs, key)?.map(str::trim).filter(|text| !text.is_empty()).map(str::to_owned))
}

fn url(attrs: &Map<String, Value>, key: &'static str) -> Result<Option<Url>, Error> {
    let Some(text) = non_empty(attrs, key)? else {
        return Ok(None);
    };
    let url = Url::parse(&text).map_err(|error| config_error(key, format!("is not a URL: {error}")))?;
    check_url(key, &url)?;
    Ok(Some(url))
}

/// A non-negative integer, as a JSON number or a numeric string.
fn number(attrs: &Map<String, Value>, key: &'static str) -> Result<Option<u64>, Error> {
    let invalid = || config_error(key, "must be a non-negative integer");
    match attrs.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(number)) => number.as_u64().map(Some).ok_or_else(invalid),
        Some(Value::String(text)) if text.trim().is_empty() => Ok(None),
        Some(Value::String(text)) => text.trim().parse().map(Some).map_err(|_| invalid()),
        Some(_) => Err(invalid()),
    }
}

fn config_error(key: &'static str, message: impl Into<String>) -> Error {
    Error::Config { key, message: message.into() }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn error(attrs: Value) -> String {
        ScimConfig::from_json(&attrs).expect_err("the configuration is invalid").to_string()
    }

    #[test]
    fn reads_bearer_and_oauth2_configurations() {
        let config = ScimConfig::from_json(&json!({
            "baseUrl": "https://idp.example/scim/v2", "token": "t0ken", "pageSize": "50", "timeoutSeconds": 5,
        }))
        .unwrap();
        assert_eq!(config.base_url.as_str(), "https://idp.example/scim/v2");
        assert_eq!(config.auth, ScimAuth::Bearer("t0ken".to_owned()));
        assert_eq!((config.page_size, config.timeout), (50, Duration::from_secs(5)));
        assert_eq!(config.group_attribute, "groups");

        let config = ScimConfig::from_json(&json!({
            "baseUrl": "https://idp.example/scim/v2", "authType": "OAuth2", "tokenUrl": "https://idp.example/token",
            "clientId": "tessera", "clientSecret": "s3cret", "scope": "scim", "groupAttribute": "memberOf",
        }))
        .unwrap();
        assert_eq!(config.page_size, DEFAULT_PAGE_SIZE);
        assert_eq!(config.group_attribute, "memberOf");
        let ScimAuth::OAuth2 { client_id, scope, .. } = &config.auth else { panic!("oauth2 expected") };
        assert_eq!((client_id.as_str(), scope.as_deref()), ("tessera", Some("scim")));
        assert!(!format!("{config:?}").contains("s3cret"));
    }

    #[test]
    fn errors_name_the_attribute() {
        let base = "https://idp.example/scim/v2";
        for (attrs, expected) in [
            (json!({"token": "t"}), "connector attribute `baseUrl`: is required"),
            (json!({"baseUrl": "idp", "token": "t"}), "connector attribute `baseUrl`: is not a URL"),
            (json!({"baseUrl": "ftp://idp/x", "token": "t"}), "connector attribute `baseUrl`: must be an http"),
            (json!({"baseUrl": "https://u:p@idp/x", "token": "t"}), "connector attribute `baseUrl`: must not hold"),
            (json!({"baseUrl": base}), "connector attribute `token`: is required when `authType` is `bearer`"),
            (json!({"baseUrl": base, "authType": "basic"}), "connector attribute `authType`: `basic` is not"),
            (json!({"baseUrl": base, "authType": "oauth2", "clientId": "c"}), "connector attribute `tokenUrl`"),
            (
                json!({"baseUrl": base, "authType": "oauth2", "tokenUrl": "https://t/", "clientId": "c"}),
                "connector attribute `clientSecret`: is required",
            ),
            (json!({"baseUrl": base, "token": "t", "pageSize": 0}), "connector attribute `pageSize`: must be between"),
            (json!({"baseUrl": base, "token": "t", "pageSize": "x"}), "connector attribute `pageSize`: must be a non"),
            (json!({"baseUrl": base, "token": "t", "timeoutSeconds": 0}), "connector attribute `timeoutSeconds`"),
            (json!({"baseUrl": base, "token": 5}), "connector attribute `token`: must be a string"),
            (json!([]), "connector attribute `connectorAttributes`: must be a JSON object"),
        ] {
            let message = error(attrs);
            assert!(message.starts_with(expected), "{message}");
        }
    }
}
