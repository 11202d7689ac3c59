//! Reading a step's resolved `sp:http` attributes into a request plan: method, URL with its query,
//! headers, body and authentication, each checked for type with a message a person can act on.

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use reqwest::Method;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use serde_json::{Map, Value};
use url::Url;

use super::auth::{ClientCredentials, Credentials, basic_credentials};
use crate::actions::{ActionError, type_name};

type Input = Map<String, Value>;

/// Everything needed to send the request, with the secrets to keep out of messages.
pub(crate) struct Plan {
    pub(crate) method: Method,
    /// The URL with `urlParams` appended and any user info removed (it becomes basic auth).
    pub(crate) url: Url,
    /// Content type and `requestHeaders`; authentication is added when sending.
    pub(crate) headers: HeaderMap,
    pub(crate) body: Option<Vec<u8>>,
    pub(crate) auth: Credentials,
    pub(crate) timeout: Option<Duration>,
    /// Values that must never appear in an error message.
    pub(crate) secrets: Vec<String>,
}

impl Plan {
    pub(crate) fn from_input(input: &Input) -> Result<Self, ActionError> {
        let mut secrets = Vec::new();
        let method = method(input)?;
        let mut url = parse_url(input, "url")?;
        let userinfo = take_userinfo(&mut url);
        if let Some((_, Some(password))) = &userinfo {
            secrets.push(password.clone());
        }
        if let Some(params) = object(input, "urlParams")? {
            let mut query = url.query_pairs_mut();
            for (name, value) in params {
                if looks_secret(name)
                    && let Value::String(text) = value
                {
                    secrets.push(text.clone());
                }
                match value {
                    Value::Null => {}
                    Value::Array(items) => {
                        for item in items {
                            query.append_pair(name, &scalar_text(item));
                        }
                    }
                    other => {
                        query.append_pair(name, &scalar_text(other));
                    }
                }
            }
        }
        if url.query() == Some("") {
            url.set_query(None);
        }
        let mut headers = HeaderMap::new();
        let body = body(input, &mut headers)?;
        if let Some(given) = object(input, "requestHeaders")? {
            for (name, value) in given {
                if value.is_null() {
                    continue;
                }
                let text = scalar_text(value);
                if looks_secret(name) {
                    secrets.push(text.clone());
                }
                let header = header_name(name, "requestHeaders")?;
                headers.insert(header, header_value(&text, &format!("the value of request header `{name}`"))?);
            }
        }
        let auth = auth(input, userinfo, &mut secrets)?;
        let timeout = timeout(input)?;
        Ok(Self { method, url, headers, body, auth, timeout, secrets })
    }
}

/// Shows what is safe to show: no header values, body or secrets.
impl fmt::Debug for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Plan")
            .field("method", &self.method)
            .field("url", &display_url(&self.url))
            .field("auth", &self.auth)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

fn method(input: &Input) -> Result<Method, ActionError> {
    let Some(text) = string(input, "method")? else { return Ok(Method::GET) };
    match text.to_ascii_lowercase().as_str() {
        "get" => Ok(Method::GET),
        "post" => Ok(Method::POST),
        "put" => Ok(Method::PUT),
        "patch" => Ok(Method::PATCH),
        "delete" => Ok(Method::DELETE),
        "head" => Ok(Method::HEAD),
        "options" => Ok(Method::OPTIONS),
        _ => Err(ActionError::permanent(format!(
            "`method` is `{text}`; use one of get, post, put, patch, delete, head, options"
        ))),
    }
}

/// An absolute http(s) URL from the string attribute `key` (required).
pub(crate) fn parse_url(input: &Input, key: &str) -> Result<Url, ActionError> {
    let text = string(input, key)?.ok_or_else(|| ActionError::permanent(format!("`{key}` is required")))?;
    let url = Url::parse(text.trim())
        .map_err(|error| ActionError::permanent(format!("`{key}` is not a valid URL: {} ({error})", shown(text))))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ActionError::permanent(format!(
            "`{key}` must start with http:// or https://, not {}://",
            url.scheme()
        )));
    }
    if url.host().is_none() {
        return Err(ActionError::permanent(format!("`{key}` has no host: {}", shown(text))));
    }
    Ok(url)
}

/// The URL text as far as it is safe to show: up to any query, and not at all when it may carry user info.
fn shown(text: &str) -> String {
    if text.contains('@') {
        return "(not shown: it may contain credentials)".to_owned();
    }
    let head = text.split(['?', '#']).next().unwrap_or_default();
    format!("`{}`", head.chars().take(200).collect::<String>())
}

/// A URL as it may appear in messages: no user info, query or fragment.
pub(crate) fn display_url(url: &Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.set_query(None);
    shown.set_fragment(None);
    shown.to_string()
}

/// Removes `user:password@` from the URL, percent-decoded, for use as basic authentication.
fn take_userinfo(url: &mut Url) -> Option<(String, Option<String>)> {
    if url.username().is_empty() && url.password().is_none() {
        return None;
    }
    // `username()` and `password()` are percent-encoded; a `+` in them is a plus, not a space.
    let decode = |text: &str| {
        url::form_urlencoded::parse(format!("x={}", text.replace('+', "%2B")).as_bytes())
            .next()
            .map(|(_, value)| value.into_owned())
            .unwrap_or_default()
    };
    let user = decode(url.username());
    let password = url.password().map(decode);
    let _ = url.set_username("");
    let _ = url.set_password(None);
    Some((user, password))
}

/// The body the content type asks for, with its Content-Type header. Without `requestContentType`, the
/// one body attribute that is set decides.
fn body(input: &Input, headers: &mut HeaderMap) -> Result<Option<Vec<u8>>, ActionError> {
    const BODIES: [(&str, &str); 4] = [
        ("jsonRequestBody", "json"),
        ("formRequestBody", "form"),
        ("jsonPatchRequestBody", "json-patch+json"),
        ("textRequestBody", "text"),
    ];
    let kind = match string(input, "requestContentType")? {
        Some(kind) => kind.to_owned(),
        None => match BODIES.iter().find(|(key, _)| input.get(*key).is_some_and(|value| !value.is_null())) {
            Some((_, kind)) => (*kind).to_owned(),
            None => return Ok(None),
        },
    };
    let (key, content_type) = match kind.to_ascii_lowercase().as_str() {
        "json" => ("jsonRequestBody", "application/json"),
        "form" => ("formRequestBody", "application/x-www-form-urlencoded"),
        "json-patch+json" => ("jsonPatchRequestBody", "application/json-patch+json"),
        "text" => ("textRequestBody", "text/plain; charset=utf-8"),
        "xml" => ("textRequestBody", "application/xml"),
        _ => {
            return Err(ActionError::permanent(format!(
                "`requestContentType` is `{kind}`; use one of json, form, json-patch+json, text, xml"
            )));
        }
    };
    let bytes = match (key, input.get(key)) {
        (_, None | Some(Value::Null)) => return Ok(None),
        ("jsonRequestBody", Some(value)) => serde_json::to_vec(value).unwrap_or_default(),
        ("jsonPatchRequestBody", Some(value @ Value::Array(_))) => serde_json::to_vec(value).unwrap_or_default(),
        ("formRequestBody", Some(Value::Object(fields))) => {
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            for (name, value) in fields.iter().filter(|(_, value)| !value.is_null()) {
                form.append_pair(name, &scalar_text(value));
            }
            form.finish().into_bytes()
        }
        ("formRequestBody" | "textRequestBody", Some(Value::String(text))) => text.clone().into_bytes(),
        (_, Some(other)) => {
            let wanted = match key {
                "jsonPatchRequestBody" => "an array of JSON Patch operations",
                "formRequestBody" => "an object or an encoded form string",
                _ => "a string",
            };
            return Err(ActionError::permanent(format!("`{key}` must be {wanted}, got {}", type_name(other))));
        }
    };
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    Ok(Some(bytes))
}

fn auth(
    input: &Input,
    userinfo: Option<(String, Option<String>)>,
    secrets: &mut Vec<String>,
) -> Result<Credentials, ActionError> {
    let mut secret = |key: &str, required: bool| -> Result<String, ActionError> {
        let value = match string(input, key)? {
            Some(value) => value.to_owned(),
            None if required => return Err(ActionError::permanent(format!("`{key}` is required"))),
            None => String::new(),
        };
        secrets.push(value.clone());
        Ok(value)
    };
    let kind = string(input, "authenticationType")?.unwrap_or("none");
    let auth = match kind.to_ascii_lowercase().as_str() {
        "none" | "noauth" | "" => match userinfo {
            Some((user, password)) => {
                Credentials::Header { name: AUTHORIZATION, value: basic(&user, password.as_deref()) }
            }
            None => Credentials::None,
        },
        "basic" => {
            let user = required(input, "basicAuthUserName")?.to_owned();
            let password = secret("basicAuthPassword", false)?;
            Credentials::Header { name: AUTHORIZATION, value: basic(&user, Some(&password)) }
        }
        "bearer" | "bearertoken" => {
            Credentials::Header { name: AUTHORIZATION, value: format!("Bearer {}", secret("bearerToken", true)?) }
        }
        "header" => {
            let name = header_name(required(input, "headerAuthName")?, "headerAuthName")?;
            Credentials::Header { name, value: secret("headerAuthValue", true)? }
        }
        "oauth" | "oauth2" => {
            let client_id = required(input, "oAuthClientId")?.to_owned();
            let client_secret = secret("oAuthClientSecret", false)?;
            let in_body = match string(input, "oAuthCredentialLocation")? {
                None => false,
                Some(location) if location.eq_ignore_ascii_case("oAuthInHeader") => false,
                Some(location) if location.eq_ignore_ascii_case("oAuthInBody") => true,
                Some(other) => {
                    return Err(ActionError::permanent(format!(
                        "`oAuthCredentialLocation` is `{other}`; use oAuthInHeader or oAuthInBody"
                    )));
                }
            };
            let client = ClientCredentials {
                token_url: parse_url(input, "oAuthTokenUrl")?,
                client_id,
                client_secret,
                scope: string(input, "oAuthScope")?.filter(|scope| !scope.is_empty()).map(str::to_owned),
                in_body,
            };
            secrets.push(basic_credentials(&client));
            Credentials::OAuth(client)
        }
        _ => {
            return Err(ActionError::permanent(format!(
                "`authenticationType` is `{kind}`; use one of none, basic, bearer, header, OAuth"
            )));
        }
    };
    if let Credentials::Header { value, .. } = &auth {
        header_value(value, "the authentication value")?;
        secrets.push(value.clone());
    }
    Ok(auth)
}

/// `Basic base64(user:password)` (RFC 7617).
pub(crate) fn basic(user: &str, password: Option<&str>) -> String {
    let pair = format!("{user}:{}", password.unwrap_or_default());
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair))
}

fn timeout(input: &Input) -> Result<Option<Duration>, ActionError> {
    let seconds = match input.get("timeout") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(text)) => text
            .parse::<tessera_model::Duration>()
            .map_err(|error| ActionError::permanent(format!("`timeout`: {error}")))?
            .as_secs(),
        Some(Value::Number(number)) => number.as_u64().ok_or_else(|| {
            ActionError::permanent(format!("`timeout` is {number}; write a duration such as `30s` or `2m`"))
        })?,
        Some(other) => {
            return Err(ActionError::permanent(format!(
                "`timeout` must be a duration such as `30s`, got {}",
                type_name(other)
            )));
        }
    };
    if seconds == 0 {
        return Err(ActionError::permanent("`timeout` must be at least 1s"));
    }
    Ok(Some(Duration::from_secs(seconds)))
}

fn header_name(name: &str, key: &str) -> Result<HeaderName, ActionError> {
    HeaderName::from_bytes(name.trim().as_bytes())
        .map_err(|_| ActionError::permanent(format!("`{key}`: `{name}` is not a valid HTTP header name")))
}

/// A header value, marked sensitive so that it is never logged by the HTTP stack.
pub(crate) fn header_value(text: &str, what: &str) -> Result<HeaderValue, ActionError> {
    let mut value = HeaderValue::from_str(text).map_err(|_| {
        ActionError::permanent(format!(
            "{what} is not a valid HTTP header value (it contains a line break or control character)"
        ))
    })?;
    value.set_sensitive(true);
    Ok(value)
}

/// Header and parameter names whose values are credentials.
fn looks_secret(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["auth", "token", "secret", "password", "key", "cookie", "credential"].iter().any(|word| name.contains(word))
}

/// A string attribute; null and absent are unset, any other type is refused.
pub(crate) fn string<'a>(input: &'a Input, key: &str) -> Result<Option<&'a str>, ActionError> {
    match input.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(other) => Err(ActionError::permanent(format!("`{key}` must be a string, got {}", type_name(other)))),
    }
}

fn required<'a>(input: &'a Input, key: &str) -> Result<&'a str, ActionError> {
    string(input, key)?
        .filter(|text| !text.is_empty())
        .ok_or_else(|| ActionError::permanent(format!("`{key}` is required")))
}

fn object<'a>(input: &'a Input, key: &str) -> Result<Option<&'a Map<String, Value>>, ActionError> {
    match input.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(fields)) => Ok(Some(fields)),
        Some(other) => Err(ActionError::permanent(format!("`{key}` must be an object, got {}", type_name(other)))),
    }
}

/// A value as text: strings as they are, anything else as JSON.
fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn plan(value: Value) -> Result<Plan, ActionError> {
        let Value::Object(input) = value else { panic!("not an object") };
        Plan::from_input(&input)
    }

    fn error(value: Value) -> String {
        let error = plan(value).unwrap_err();
        assert!(!error.retryable, "{error}");
        error.message
    }

    #[test]
    fn url_params_are_appended_to_the_query() {
        let plan = plan(json!({"url": "http://h/p?a=1", "method": "GET", "urlParams": {"b": 2, "c": "x y", "d": null, "e": [1, true]}}))
            .unwrap();
        assert_eq!(plan.url.as_str(), "http://h/p?a=1&b=2&c=x+y&e=1&e=true");
        assert_eq!(plan.method, Method::GET);
    }

    #[test]
    fn bodies_follow_the_content_type() {
        let form = plan(json!({"url": "http://h", "method": "post", "requestContentType": "form", "formRequestBody": {"a": "1 2", "b": true}})).unwrap();
        assert_eq!(form.body.unwrap(), b"a=1+2&b=true");
        assert_eq!(form.headers[CONTENT_TYPE], "application/x-www-form-urlencoded");
        let xml =
            plan(json!({"url": "http://h", "method": "put", "requestContentType": "xml", "textRequestBody": "<a/>"}))
                .unwrap();
        assert_eq!(xml.headers[CONTENT_TYPE], "application/xml");
        let inferred = plan(json!({"url": "http://h", "method": "post", "jsonPatchRequestBody": []})).unwrap();
        assert_eq!(inferred.headers[CONTENT_TYPE], "application/json-patch+json");
        let none =
            plan(json!({"url": "http://h", "method": "get", "requestContentType": "json", "jsonRequestBody": null}))
                .unwrap();
        assert!(none.body.is_none() && none.headers.get(CONTENT_TYPE).is_none());
    }

    #[test]
    fn wrong_types_and_values_say_what_to_write() {
        assert_eq!(error(json!({"method": "get"})), "`url` is required");
        assert_eq!(error(json!({"url": 5})), "`url` must be a string, got a number");
        assert_eq!(
            error(json!({"url": "%%API_URL%%/v3/x?secret=1"})),
            "`url` is not a valid URL: `%%API_URL%%/v3/x` (relative URL without a base)"
        );
        assert_eq!(error(json!({"url": "ftp://h/x"})), "`url` must start with http:// or https://, not ftp://");
        assert_eq!(
            error(json!({"url": "http://h", "method": "fetch"})),
            "`method` is `fetch`; use one of get, post, put, patch, delete, head, options"
        );
        assert_eq!(
            error(json!({"url": "http://h", "requestHeaders": []})),
            "`requestHeaders` must be an object, got an array"
        );
        assert_eq!(
            error(
                json!({"url": "http://h", "requestContentType": "json-patch+json", "jsonPatchRequestBody": {"op": "add"}})
            ),
            "`jsonPatchRequestBody` must be an array of JSON Patch operations, got an object"
        );
        assert_eq!(error(json!({"url": "http://h", "timeout": "soon"})).split(':').next(), Some("`timeout`"));
        assert_eq!(error(json!({"url": "http://h", "authenticationType": "bearer"})), "`bearerToken` is required");
        assert_eq!(
            error(
                json!({"url": "http://h", "authenticationType": "OAuth", "oAuthClientId": "c", "oAuthTokenUrl": "%%API_URL%%/oauth/token"})
            ),
            "`oAuthTokenUrl` is not a valid URL: `%%API_URL%%/oauth/token` (relative URL without a base)"
        );
        let header = error(json!({"url": "http://h", "authenticationType": "bearer", "bearerToken": "abc\ndef"}));
        assert!(!header.contains("abc"), "{header}");
    }

    #[test]
    fn authentication_kinds() {
        let basic = plan(json!({"url": "http://h", "authenticationType": "basic", "basicAuthUserName": "u", "basicAuthPassword": "p"})).unwrap();
        assert!(
            matches!(&basic.auth, Credentials::Header { name, value } if name == AUTHORIZATION && value == "Basic dTpw")
        );
        assert!(basic.secrets.contains(&"p".to_owned()));
        let header = plan(json!({"url": "http://h", "authenticationType": "header", "headerAuthName": "X-Api-Key", "headerAuthValue": "k"})).unwrap();
        assert!(matches!(&header.auth, Credentials::Header { name, value } if name == "x-api-key" && value == "k"));
        let oauth = plan(
            json!({"url": "http://h", "authenticationType": "OAuth", "oAuthClientId": "c", "oAuthClientSecret": "s",
            "oAuthTokenUrl": "https://t/oauth/token", "oAuthCredentialLocation": "oAuthInBody", "oAuthScope": ""}),
        )
        .unwrap();
        assert!(
            matches!(&oauth.auth, Credentials::OAuth(client) if client.in_body && client.scope.is_none() && client.client_id == "c")
        );
        let userinfo = plan(json!({"url": "http://me:p%40ss@h/x"})).unwrap();
        assert_eq!(userinfo.url.as_str(), "http://h/x");
        assert!(
            matches!(&userinfo.auth, Credentials::Header { value, .. } if *value == super::basic("me", Some("p@ss")))
        );
    }

    #[test]
    fn displayed_urls_carry_no_credentials_or_query() {
        let url = Url::parse("https://user:pw@host:8443/a/b?client_secret=s#frag").unwrap();
        assert_eq!(display_url(&url), "https://host:8443/a/b");
    }
}
