//! `sp:http` against a real HTTP server started on 127.0.0.1 by each test: what the server receives
//! (method, query, headers, bodies, OAuth token requests) and how answers and failures come back.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions: a failed unwrap is a failed test

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{Map, Value, json};
use tessera_engine::actions::ActionError;
use tessera_engine::actions::http::{HttpAction, HttpConfig, Policy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// One request as the server received it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    query: Option<String>,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|value| value.to_str().unwrap())
    }

    fn text(&self) -> String {
        String::from_utf8(self.body.clone()).unwrap()
    }
}

#[derive(Default)]
struct Recorder {
    seen: Mutex<Vec<Seen>>,
}

struct TestServer {
    base: String,
    recorder: Arc<Recorder>,
}

impl TestServer {
    async fn start() -> Self {
        let recorder = Arc::new(Recorder::default());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = Router::new().fallback(answer).with_state(Arc::clone(&recorder));
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { base, recorder }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn seen(&self) -> Vec<Seen> {
        self.recorder.seen.lock().unwrap().clone()
    }

    fn seen_at(&self, path: &str) -> Vec<Seen> {
        self.seen().into_iter().filter(|seen| seen.path == path).collect()
    }

    fn only(&self, path: &str) -> Seen {
        let mut seen = self.seen_at(path);
        assert_eq!(seen.len(), 1, "requests to {path}: {seen:?}");
        seen.remove(0)
    }
}

fn reply(status: u16, content_type: &str, body: impl Into<Body>) -> Response {
    Response::builder().status(status).header("content-type", content_type).body(body.into()).unwrap()
}

fn redirect(status: u16, location: &str) -> Response {
    Response::builder().status(status).header("location", location).body(Body::empty()).unwrap()
}

/// The test server's routes, chosen by path.
async fn answer(State(recorder): State<Arc<Recorder>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap().to_vec();
    let seen = Seen {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts.headers.clone(),
        body,
    };
    let tokens_issued = {
        let mut all = recorder.seen.lock().unwrap();
        all.push(seen.clone());
        all.iter().filter(|seen| seen.path == "/oauth/token").count()
    };
    let query = seen.query.clone().unwrap_or_default();
    match seen.path.as_str() {
        "/json" => Response::builder()
            .header("content-type", "application/json")
            .header("x-custom", "yes")
            .body(Body::from(r#"{"hello":"world","n":[1,2]}"#))
            .unwrap(),
        "/text" => reply(200, "text/plain; charset=utf-8", "plain words"),
        "/empty" => Response::builder().status(204).body(Body::empty()).unwrap(),
        "/slow" => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            reply(200, "text/plain", "late")
        }
        "/big" => reply(200, "text/plain", "x".repeat(4096)),
        "/oauth/token" => reply(
            200,
            "application/json",
            json!({"access_token": format!("token-{tokens_issued}"), "token_type": "bearer", "expires_in": 3600})
                .to_string(),
        ),
        // Accepts only the second token issued, as if the first had been revoked.
        "/api/second-token-only" => match seen.header("authorization") {
            Some("Bearer token-2") => reply(200, "application/json", "{}"),
            _ => reply(401, "application/json", r#"{"error":"token revoked"}"#),
        },
        // Echoes what it received, as careless servers do.
        "/echo-401" => reply(401, "text/plain", format!("denied {:?} {query}", seen.header("authorization"))),
        "/redirect/metadata" => redirect(302, "http://169.254.169.254/latest/meta-data/"),
        "/redirect/local" => redirect(302, "/json"),
        "/redirect/see-other" => redirect(303, "/json"),
        "/redirect/loop" => redirect(302, "/redirect/loop"),
        "/redirect/to" => redirect(307, query.strip_prefix("url=").unwrap()),
        path => match path.strip_prefix("/status/") {
            Some(code) => reply(code.parse().unwrap(), "text/plain", format!("status {code} body")),
            None => reply(404, "text/plain", "no such route"),
        },
    }
}

fn input(value: Value) -> Map<String, Value> {
    let Value::Object(map) = value else { panic!("input must be an object") };
    map
}

async fn call(action: &HttpAction, value: Value) -> Result<Value, ActionError> {
    action.call(&input(value), "execution-1/step-1/1").await
}

/// The test services listen on loopback, which the guard refuses by default: these tests allow it,
/// as an operator allows a named host.
fn local() -> HttpConfig {
    let policy = Policy { allow: vec!["127.0.0.0/8".parse().unwrap()], ..Policy::default() };
    HttpConfig { policy, ..HttpConfig::default() }
}

fn action() -> HttpAction {
    HttpAction::new(local())
}

fn permanent(result: Result<Value, ActionError>) -> String {
    let error = result.unwrap_err();
    assert!(!error.retryable, "expected a permanent error: {error}");
    error.message
}

fn retryable(result: Result<Value, ActionError>) -> String {
    let error = result.unwrap_err();
    assert!(error.retryable, "expected a retryable error: {error}");
    error.message
}

#[tokio::test]
async fn get_sends_query_headers_and_idempotency_key_and_returns_iscs_shape() {
    let server = TestServer::start().await;
    let output = call(
        &action(),
        json!({"url": server.url("/json?fixed=1"), "method": "GET", "urlParams": {"limit": 2, "filter": "name eq \"x\"", "none": null},
            "requestHeaders": {"X-Trace": "abc", "Accept": "application/json"}, "authenticationType": null, "requestContentType": "json", "jsonRequestBody": null}),
    )
    .await
    .unwrap();
    let seen = server.only("/json");
    assert_eq!(seen.method, "GET");
    assert_eq!(seen.query.as_deref(), Some("fixed=1&limit=2&filter=name+eq+%22x%22"));
    assert_eq!(seen.header("idempotency-key"), Some("execution-1/step-1/1"));
    assert_eq!(seen.header("x-trace"), Some("abc"));
    assert_eq!(seen.header("authorization"), None);
    assert_eq!(seen.header("content-type"), None);
    assert!(seen.body.is_empty());
    assert_eq!(output["statusCode"], 200);
    assert_eq!(output["headers"]["content-type"], "application/json");
    assert_eq!(output["headers"]["x-custom"], "yes");
    assert_eq!(output["body"], json!({"hello": "world", "n": [1, 2]}));
    assert_eq!(output.as_object().unwrap().keys().collect::<Vec<_>>(), ["statusCode", "headers", "body"]);
}

#[tokio::test]
async fn text_and_empty_responses() {
    let server = TestServer::start().await;
    let text = call(&action(), json!({"url": server.url("/text"), "method": "get"})).await.unwrap();
    assert_eq!(text["body"], "plain words");
    let empty = call(&action(), json!({"url": server.url("/empty"), "method": "delete"})).await.unwrap();
    assert_eq!(empty["statusCode"], 204);
    assert_eq!(empty["body"], Value::Null);
    assert_eq!(server.only("/empty").method, "DELETE");
    // A HEAD answer announces the length of a body it does not carry: no body, and no size refusal.
    let small = HttpAction::new(HttpConfig { max_response_bytes: 1024, ..local() });
    let head = call(&small, json!({"url": server.url("/big"), "method": "head"})).await.unwrap();
    assert_eq!(
        (&head["statusCode"], &head["headers"]["content-length"], &head["body"]),
        (&json!(200), &json!("4096"), &Value::Null)
    );
}

#[tokio::test]
async fn request_bodies_follow_the_content_type() {
    let server = TestServer::start().await;
    let action = action();
    let cases = [
        (
            json!({"method": "post", "requestContentType": "json", "jsonRequestBody": {"name": "x", "tags": [1, true]}}),
            "POST",
            "application/json",
            r#"{"name":"x","tags":[1,true]}"#,
        ),
        (
            json!({"method": "post", "requestContentType": "form", "formRequestBody": {"grant_type": "password", "user name": "a&b"}}),
            "POST",
            "application/x-www-form-urlencoded",
            "grant_type=password&user+name=a%26b",
        ),
        (
            json!({"method": "POST", "requestContentType": "form", "formRequestBody": "disableOptimization=true"}),
            "POST",
            "application/x-www-form-urlencoded",
            "disableOptimization=true",
        ),
        (
            json!({"method": "patch", "requestContentType": "json-patch+json", "jsonPatchRequestBody": [{"op": "replace", "path": "/requestable", "value": true}]}),
            "PATCH",
            "application/json-patch+json",
            r#"[{"op":"replace","path":"/requestable","value":true}]"#,
        ),
        (
            json!({"method": "put", "requestContentType": "text", "textRequestBody": "hello"}),
            "PUT",
            "text/plain; charset=utf-8",
            "hello",
        ),
        (
            json!({"method": "put", "requestContentType": "xml", "textRequestBody": "<a>1</a>"}),
            "PUT",
            "application/xml",
            "<a>1</a>",
        ),
    ];
    for (index, (mut attributes, method, content_type, body)) in cases.into_iter().enumerate() {
        attributes["url"] = json!(server.url(&format!("/status/200?case={index}")));
        call(&action, attributes).await.unwrap();
        let seen = server.seen().pop().unwrap();
        assert_eq!(
            (seen.method.as_str(), seen.header("content-type"), seen.text().as_str()),
            (method, Some(content_type), body)
        );
    }
}

#[tokio::test]
async fn basic_bearer_and_header_authentication() {
    let server = TestServer::start().await;
    let action = action();
    let url = server.url("/status/200");
    call(&action, json!({"url": url, "method": "get", "authenticationType": "basic", "basicAuthUserName": "alice", "basicAuthPassword": "s3cret"}))
        .await
        .unwrap();
    call(&action, json!({"url": url, "method": "get", "authenticationType": "bearer", "bearerToken": "tok-123"}))
        .await
        .unwrap();
    call(&action, json!({"url": url, "method": "get", "authenticationType": "bearerToken", "bearerToken": "tok-456"}))
        .await
        .unwrap();
    call(&action, json!({"url": url, "method": "get", "authenticationType": "header", "headerAuthName": "X-Api-Key", "headerAuthValue": "k-789"}))
        .await
        .unwrap();
    let seen = server.seen_at("/status/200");
    assert_eq!(seen[0].header("authorization"), Some("Basic YWxpY2U6czNjcmV0"));
    assert_eq!(seen[1].header("authorization"), Some("Bearer tok-123"));
    assert_eq!(seen[2].header("authorization"), Some("Bearer tok-456"));
    assert_eq!((seen[3].header("x-api-key"), seen[3].header("authorization")), (Some("k-789"), None));
}

fn oauth(server: &TestServer, path: &str, location: &str) -> Value {
    json!({"url": server.url(path), "method": "get", "authenticationType": "OAuth", "oAuthTokenUrl": server.url("/oauth/token"),
        "oAuthClientId": "client-1", "oAuthClientSecret": "client-secret-1", "oAuthScope": "sp:scopes:all", "oAuthCredentialLocation": location})
}

#[tokio::test]
async fn oauth_client_credentials_token_is_fetched_once_for_two_calls() {
    let server = TestServer::start().await;
    let action = action();
    call(&action, oauth(&server, "/status/200", "oAuthInHeader")).await.unwrap();
    call(&action, oauth(&server, "/json", "oAuthInHeader")).await.unwrap();
    let token_request = server.only("/oauth/token");
    assert_eq!(token_request.method, "POST");
    assert_eq!(token_request.header("content-type"), Some("application/x-www-form-urlencoded"));
    assert_eq!(token_request.text(), "grant_type=client_credentials&scope=sp%3Ascopes%3Aall");
    // base64("client-1:client-secret-1")
    assert_eq!(token_request.header("authorization"), Some("Basic Y2xpZW50LTE6Y2xpZW50LXNlY3JldC0x"));
    assert_eq!(server.only("/status/200").header("authorization"), Some("Bearer token-1"));
    assert_eq!(server.only("/json").header("authorization"), Some("Bearer token-1"));
}

#[tokio::test]
async fn oauth_credentials_can_travel_in_the_body_and_a_new_secret_is_a_new_client() {
    let server = TestServer::start().await;
    let action = action();
    let mut attributes = oauth(&server, "/status/200", "oAuthInBody");
    attributes["oAuthScope"] = Value::Null;
    call(&action, attributes.clone()).await.unwrap();
    attributes["oAuthClientSecret"] = json!("another-secret");
    call(&action, attributes).await.unwrap();
    let token_requests = server.seen_at("/oauth/token");
    assert_eq!(token_requests.len(), 2, "a token is never shared with a different secret");
    assert_eq!(token_requests[0].header("authorization"), None);
    assert_eq!(
        token_requests[0].text(),
        "grant_type=client_credentials&client_id=client-1&client_secret=client-secret-1"
    );
    assert_eq!(server.seen_at("/status/200")[1].header("authorization"), Some("Bearer token-2"));
}

#[tokio::test]
async fn a_cached_token_the_api_refuses_is_replaced_once() {
    let server = TestServer::start().await;
    let action = action();
    call(&action, oauth(&server, "/status/200", "oAuthInHeader")).await.unwrap();
    let output = call(&action, oauth(&server, "/api/second-token-only", "oAuthInHeader")).await.unwrap();
    assert_eq!(output["statusCode"], 200);
    let tried: Vec<_> = server
        .seen_at("/api/second-token-only")
        .iter()
        .map(|seen| seen.header("authorization").unwrap().to_owned())
        .collect();
    assert_eq!(tried, ["Bearer token-1", "Bearer token-2"]);
    assert_eq!(server.seen_at("/oauth/token").len(), 2);
}

#[tokio::test]
async fn a_failing_token_endpoint_is_reported_without_the_secret() {
    let server = TestServer::start().await;
    let mut attributes = oauth(&server, "/json", "oAuthInHeader");
    attributes["oAuthTokenUrl"] = json!(server.url("/echo-401?client_secret=client-secret-1"));
    let message = permanent(call(&action(), attributes).await);
    assert!(
        message.starts_with(&format!("OAuth token request POST {}: HTTP 401 Unauthorized", server.url("/echo-401"))),
        "{message}"
    );
    assert!(!message.contains("client-secret-1") && !message.contains("Y2xpZW50LTE6Y2xpZW50LXNlY3JldC0x"), "{message}");
    assert!(server.seen_at("/json").is_empty());
}

#[tokio::test]
async fn server_errors_and_429_are_retryable_other_4xx_permanent() {
    let server = TestServer::start().await;
    let action = action();
    let message = retryable(
        call(&action, json!({"url": server.url("/status/503"), "method": "post", "urlParams": {"api_key": "k"}})).await,
    );
    assert_eq!(message, format!("POST {}: HTTP 503 Service Unavailable: status 503 body", server.url("/status/503")));
    retryable(call(&action, json!({"url": server.url("/status/429"), "method": "get"})).await);
    retryable(call(&action, json!({"url": server.url("/status/500"), "method": "get"})).await);
    let message = permanent(call(&action, json!({"url": server.url("/status/404"), "method": "get"})).await);
    assert_eq!(message, format!("GET {}: HTTP 404 Not Found: status 404 body", server.url("/status/404")));
    permanent(call(&action, json!({"url": server.url("/status/400"), "method": "get"})).await);
}

#[tokio::test]
async fn a_timeout_is_retryable() {
    let server = TestServer::start().await;
    let started = Instant::now();
    let message =
        retryable(call(&action(), json!({"url": server.url("/slow"), "method": "get", "timeout": "1s"})).await);
    assert!(started.elapsed() < Duration::from_millis(2500), "took {:?}", started.elapsed());
    assert_eq!(message, format!("GET {}: no complete response within 1s (timeout)", server.url("/slow")));
}

#[tokio::test]
async fn a_refused_connection_is_retryable() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    let message = retryable(call(&action(), json!({"url": format!("http://{address}/x"), "method": "get"})).await);
    assert!(message.starts_with(&format!("GET http://{address}/x: could not connect")), "{message}");
}

#[tokio::test]
async fn errors_never_show_secrets() {
    let server = TestServer::start().await;
    let message = permanent(
        call(
            &action(),
            json!({"url": server.url("/echo-401"), "method": "get", "authenticationType": "basic", "basicAuthUserName": "alice",
                "basicAuthPassword": "hunter2-pass", "urlParams": {"client_secret": "query-secret"}}),
        )
        .await,
    );
    assert!(
        message.starts_with(&format!("GET {}: HTTP 401 Unauthorized: denied", server.url("/echo-401"))),
        "{message}"
    );
    for secret in ["hunter2-pass", "YWxpY2U6aHVudGVyMi1wYXNz", "query-secret"] {
        assert!(!message.contains(secret), "{secret} in {message}");
    }
}

#[tokio::test]
async fn malformed_input_is_permanent_and_sends_nothing() {
    let server = TestServer::start().await;
    let message = permanent(call(&action(), json!({"url": "%%API_URL%%/beta/roles", "method": "get"})).await);
    assert_eq!(message, "`url` is not a valid URL: `%%API_URL%%/beta/roles` (relative URL without a base)");
    let message =
        permanent(call(&action(), json!({"url": server.url("/json"), "method": "get", "urlParams": "a=1"})).await);
    assert_eq!(message, "`urlParams` must be an object, got a string");
    assert!(server.seen().is_empty());
}

#[tokio::test]
async fn redirects_are_followed_and_303_becomes_a_get() {
    let server = TestServer::start().await;
    let action = action();
    let output = call(&action, json!({"url": server.url("/redirect/local"), "method": "get"})).await.unwrap();
    assert_eq!(output["body"]["hello"], "world");
    let output =
        call(&action, json!({"url": server.url("/redirect/see-other"), "method": "post", "jsonRequestBody": {"a": 1}}))
            .await
            .unwrap();
    assert_eq!(output["statusCode"], 200);
    let followed = server.seen_at("/json");
    assert_eq!(followed.len(), 2);
    assert_eq!((followed[1].method.as_str(), followed[1].body.is_empty()), ("GET", true));
    assert_eq!(followed[1].header("idempotency-key"), Some("execution-1/step-1/1"));
    let message = permanent(call(&action, json!({"url": server.url("/redirect/loop"), "method": "get"})).await);
    assert!(message.ends_with("stopped after 5 redirects"), "{message}");
    assert_eq!(server.seen_at("/redirect/loop").len(), 6);
}

#[tokio::test]
async fn credentials_do_not_follow_a_redirect_to_another_origin() {
    let first = TestServer::start().await;
    let second = TestServer::start().await;
    let auth = json!({"method": "get", "authenticationType": "header", "headerAuthName": "X-Api-Key", "headerAuthValue": "k-1",
        "requestHeaders": {"Cookie": "session=1", "X-Other": "kept"}});
    let mut attributes = auth.clone();
    attributes["url"] = json!(first.url(&format!("/redirect/to?url={}", second.url("/json"))));
    call(&action(), attributes).await.unwrap();
    let arrived = second.only("/json");
    assert_eq!(
        (arrived.header("x-api-key"), arrived.header("cookie"), arrived.header("x-other")),
        (None, None, Some("kept"))
    );
    let mut attributes = auth;
    attributes["url"] = json!(first.url("/redirect/local"));
    call(&action(), attributes).await.unwrap();
    assert_eq!(first.only("/json").header("x-api-key"), Some("k-1"));
}

const METADATA_REFUSAL: &str = "refused to connect to 169.254.169.254:80: link-local and cloud metadata addresses are refused by default; if this is intended, allow it with http_allow = [\"169.254.169.254:80\"] in the configuration";

#[tokio::test]
async fn a_redirect_to_the_metadata_address_is_refused() {
    let server = TestServer::start().await;
    let message = permanent(call(&action(), json!({"url": server.url("/redirect/metadata"), "method": "get"})).await);
    assert_eq!(message, format!("GET http://169.254.169.254/latest/meta-data/: {METADATA_REFUSAL}"));
    assert_eq!(server.seen().len(), 1);
}

#[tokio::test]
async fn metadata_addresses_are_refused_before_any_connection() {
    let action = action();
    for (url, target) in [
        ("http://169.254.169.254/latest/meta-data/iam", "169.254.169.254"),
        ("http://[fd00:ec2::254]/latest", "[fd00:ec2::254]"),
        ("http://[::ffff:169.254.169.254]/", "169.254.169.254"),
        ("http://100.100.100.200/latest/meta-data", "100.100.100.200"),
        ("http://metadata.google.internal/computeMetadata/v1/", "metadata.google.internal"),
    ] {
        let started = Instant::now();
        let message = permanent(call(&action, json!({"url": url, "method": "get", "timeout": "5s"})).await);
        assert!(
            message.contains(&format!(": refused to connect to {target}")) && message.contains("metadata"),
            "{message}"
        );
        assert!(started.elapsed() < Duration::from_millis(500), "{url} took {:?}", started.elapsed());
    }
    let token_url = json!({"url": "http://127.0.0.1:9/x", "method": "get", "authenticationType": "OAuth",
        "oAuthTokenUrl": "http://169.254.169.254/oauth/token", "oAuthClientId": "c", "oAuthClientSecret": "s"});
    let message = permanent(call(&action, token_url).await);
    assert_eq!(message, format!("OAuth token request POST http://169.254.169.254/oauth/token: {METADATA_REFUSAL}"));
}

#[tokio::test]
async fn an_allowed_metadata_address_is_attempted() {
    let policy = Policy { allow: vec!["169.254.169.254/32".parse().unwrap()], ..Policy::default() };
    let action = HttpAction::new(HttpConfig { policy, ..HttpConfig::default() });
    // Usually nothing answers there in a test environment (a connection error or the timeout), but on a
    // cloud machine the metadata service may: either way the guard let the request through.
    let result =
        call(&action, json!({"url": "http://169.254.169.254/latest/meta-data/", "method": "get", "timeout": "1s"}))
            .await;
    if let Err(error) = result {
        assert!(!error.message.contains("refused to connect"), "{error}");
    }
}

#[tokio::test]
async fn a_response_over_the_size_limit_is_refused() {
    let server = TestServer::start().await;
    let action = HttpAction::new(HttpConfig { max_response_bytes: 1024, ..local() });
    let message = permanent(call(&action, json!({"url": server.url("/big"), "method": "get"})).await);
    assert_eq!(
        message,
        format!("GET {}: the response is larger than the limit of 1024 bytes (max_response_bytes)", server.url("/big"))
    );
    assert_eq!(
        call(&action, json!({"url": server.url("/text"), "method": "get"})).await.unwrap()["body"],
        "plain words"
    );
}

/// A server that streams a chunked body with no Content-Length, so only counting can catch it.
#[tokio::test]
async fn a_streamed_response_over_the_size_limit_is_refused() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut request = [0_u8; 4096];
        let _ = socket.read(&mut request).await.unwrap();
        socket
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n")
            .await
            .unwrap();
        for _ in 0..8 {
            if socket.write_all(format!("200\r\n{}\r\n", "y".repeat(512)).as_bytes()).await.is_err() {
                return;
            }
        }
        let _ = socket.write_all(b"0\r\n\r\n").await;
    });
    let action = HttpAction::new(HttpConfig { max_response_bytes: 2000, ..local() });
    let message = permanent(call(&action, json!({"url": format!("http://{address}/stream"), "method": "get"})).await);
    assert!(message.ends_with("larger than the limit of 2000 bytes (max_response_bytes)"), "{message}");
}

#[tokio::test]
async fn loopback_is_refused_by_default_except_tessera_s_own_api() {
    let server = TestServer::start().await;
    let port: u16 = server.url("/").trim_start_matches("http://127.0.0.1:").trim_end_matches('/').parse().unwrap();
    let guarded = HttpAction::new(HttpConfig::default());
    for url in [
        server.url("/json"),
        format!("http://localhost:{port}/json"),
        format!("http://127.1:{port}/json"),
        format!("http://2130706433:{port}/json"),
        format!("http://[::ffff:127.0.0.1]:{port}/json"),
        format!("http://0.0.0.0:{port}/json"),
    ] {
        let message = permanent(call(&guarded, json!({"url": url, "method": "get"})).await);
        assert!(message.contains("loopback addresses are refused by default"), "{url}: {message}");
        assert!(message.contains("http_allow"), "the refusal says how to allow it: {message}");
    }
    assert!(server.seen().is_empty(), "nothing reached the service");
    // The node's own API port is allowed; so is a named host and port the operator allows.
    let own = HttpAction::new(HttpConfig {
        policy: Policy { own_api_port: Some(port), ..Policy::default() },
        ..HttpConfig::default()
    });
    call(&own, json!({"url": server.url("/json"), "method": "get"})).await.unwrap();
    call(&own, json!({"url": format!("http://localhost:{port}/json"), "method": "get"})).await.unwrap();
    let named = Policy { allow: vec![format!("localhost:{port}").parse().unwrap()], ..Policy::default() };
    let named = HttpAction::new(HttpConfig { policy: named, ..HttpConfig::default() });
    call(&named, json!({"url": format!("http://localhost:{port}/json"), "method": "get"})).await.unwrap();
    // A deny range tightens what the defaults allow, even on the own API's port.
    let denied = Policy { deny: vec!["127.0.0.0/8".parse().unwrap()], own_api_port: Some(port), ..Policy::default() };
    let denied = HttpAction::new(HttpConfig { policy: denied, ..HttpConfig::default() });
    let message = permanent(call(&denied, json!({"url": server.url("/json"), "method": "get"})).await);
    assert!(message.contains("http_deny range 127.0.0.0/8"), "{message}");
}

/// A raw server answering every connection with `size` bytes whose body arrives after `delay`.
async fn slow_body_server(size: usize, delay: Duration) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = [0_u8; 4096];
                let _ = socket.read(&mut request).await;
                let head = format!("HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {size}\r\n\r\n");
                let _ = socket.write_all(head.as_bytes()).await;
                tokio::time::sleep(delay).await;
                let _ = socket.write_all("z".repeat(size).as_bytes()).await;
            });
        }
    });
    address
}

/// Responses in flight share one memory budget: a call that would go past it waits for others to
/// finish (within its timeout), and then goes ahead.
#[tokio::test]
async fn responses_in_flight_share_a_memory_budget() {
    let address = slow_body_server(4000, Duration::from_millis(1500)).await;
    let action = Arc::new(HttpAction::new(HttpConfig { max_in_flight_bytes: 6000, ..local() }));
    let url = format!("http://{address}/big");
    let first = {
        let (action, url) = (action.clone(), url.clone());
        tokio::spawn(async move { call(&action, json!({"url": url, "method": "get", "timeout": "10s"})).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The first holds 4000 of the 6000 bytes until its body has come: a second of 4000 cannot fit.
    let waited = call(&action, json!({"url": url, "method": "get", "timeout": "1s"})).await.unwrap_err();
    assert!(waited.retryable && waited.message.contains("timeout"), "{waited:?}");
    assert_eq!(first.await.unwrap().unwrap()["body"].as_str().unwrap().len(), 4000);
    // Once it is done, the budget is free again.
    let after = call(&action, json!({"url": url, "method": "get", "timeout": "10s"})).await.unwrap();
    assert_eq!(after["body"].as_str().unwrap().len(), 4000);
    // A response larger than the whole budget is refused at once.
    let small = HttpAction::new(HttpConfig { max_in_flight_bytes: 1000, ..local() });
    let refused = permanent(call(&small, json!({"url": url, "method": "get"})).await);
    assert!(refused.contains("max_in_flight_bytes"), "{refused}");
}
