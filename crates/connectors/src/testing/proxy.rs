//! A loopback HTTP proxy in front of a real SCIM server that misbehaves on demand: it answers 500 to the
//! next requests while its failure count lasts, and holds the answer of the next slow requests (after the
//! server has acted on them) for a set delay.

#![allow(clippy::unwrap_used)] // test fixtures: a failed unwrap is a failed test

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

#[derive(Clone)]
struct Shared {
    upstream: String,
    failures: Arc<AtomicUsize>,
    slow: Arc<AtomicUsize>,
    delay: Duration,
    client: reqwest::Client,
}

/// A running proxy; it stops with the test's runtime.
#[derive(Debug)]
pub struct Proxy {
    port: u16,
    slow: Arc<AtomicUsize>,
}

/// Takes one from `counter` if it is above zero.
fn take(counter: &AtomicUsize) -> bool {
    counter.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok()
}

async fn forward(State(shared): State<Shared>, request: Request) -> Response {
    if take(&shared.failures) {
        let body = r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"500","detail":"down for maintenance"}"#;
        return Response::builder().status(StatusCode::INTERNAL_SERVER_ERROR).body(Body::from(body)).unwrap();
    }
    let slow = take(&shared.slow);
    let (parts, body) = request.into_parts();
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
    let body = to_bytes(body, 16 * 1024 * 1024).await.unwrap();
    let mut upstream = shared.client.request(parts.method.clone(), format!("{}{path}", shared.upstream)).body(body);
    for name in ["authorization", "content-type", "accept"] {
        if let Some(value) = parts.headers.get(name) {
            upstream = upstream.header(name, value.clone());
        }
    }
    let answer = upstream.send().await.unwrap();
    let status = answer.status();
    let headers: HeaderMap = answer.headers().clone();
    let bytes = answer.bytes().await.unwrap();
    if slow {
        tokio::time::sleep(shared.delay).await;
    }
    let mut response = Response::builder().status(status.as_u16());
    for name in ["content-type", "location", "etag"] {
        if let Some(value) = headers.get(name) {
            response = response.header(name, value.clone());
        }
    }
    response.body(Body::from(bytes)).unwrap()
}

impl Proxy {
    /// A proxy to the server at `base_url` (its path is kept in requests); answers 500 while `failures`
    /// is above zero (counting it down), and delays slow requests' answers by `delay`.
    pub async fn start(base_url: String, failures: Arc<AtomicUsize>, delay: Duration) -> Proxy {
        let url = url::Url::parse(&base_url).unwrap();
        let upstream = format!("{}://{}:{}", url.scheme(), url.host_str().unwrap(), url.port().unwrap());
        let slow = Arc::new(AtomicUsize::new(0));
        let shared = Shared { upstream, failures, slow: slow.clone(), delay, client: reqwest::Client::new() };
        let app = axum::Router::new().fallback(forward).with_state(shared);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Proxy { port, slow }
    }

    /// The proxy's base URL, with the same path as the server's (`/v2`).
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/v2", self.port)
    }

    /// Delays the answers of the next `n` requests.
    pub fn slow_requests(&self, n: usize) {
        self.slow.store(n, Ordering::SeqCst);
    }
}
