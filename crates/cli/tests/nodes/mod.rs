//! Running real `tessera serve` processes for the tests that kill them: start one on a port with a
//! data directory (and a database), SIGKILL it, start it again; and call its API with an admin token.

// Each test binary includes this module and uses a part of it.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub(crate) const ADMIN_ID: &str = "kill-test-admin";
pub(crate) const ADMIN_SECRET: &str = "kill-test-secret-not-used-elsewhere";
/// Workers per node.
pub(crate) const WORKERS: usize = 4;
/// How long a claimed task (or provisioning plan, twice this) is a node's.
pub(crate) const LEASE_SECONDS: u64 = 3;

/// A small deterministic generator for kill times; the seed is printed so a failure can be replayed.
pub(crate) struct Lcg(pub(crate) u64);

impl Lcg {
    pub(crate) fn next(&mut self, below: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % below
    }
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// One `tessera serve` process and how to start it again.
pub(crate) struct Node {
    child: Child,
    port: u16,
    database: Option<String>,
    data_dir: PathBuf,
}

impl Node {
    pub(crate) fn start(port: u16, database: Option<String>, data_dir: PathBuf) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tessera"));
        command
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--workers",
                &WORKERS.to_string(),
                "--lease-seconds",
                &LEASE_SECONDS.to_string(),
            ])
            .arg("--data-dir")
            .arg(&data_dir)
            .env("TESSERA_ADMIN_CLIENT_ID", ADMIN_ID)
            .env("TESSERA_ADMIN_CLIENT_SECRET", ADMIN_SECRET)
            .env("TESSERA_LOG", "warn")
            // The workflows call a service on loopback, which sp:http refuses unless allowed.
            .env("TESSERA_HTTP_ALLOW", "127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        if let Some(url) = &database {
            command.args(["--database", url]);
        }
        Self { child: command.spawn().unwrap(), port, database, data_dir }
    }

    pub(crate) fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// SIGKILL: no chance to finish anything.
    pub(crate) fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    pub(crate) fn restart(&mut self) {
        *self = Self::start(self.port, self.database.clone(), self.data_dir.clone());
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Clone)]
pub(crate) struct Api {
    pub(crate) http: reqwest::Client,
    pub(crate) token: String,
}

impl Api {
    pub(crate) async fn connect(base: &str) -> Self {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let response = http
                .post(format!("{base}/oauth/token"))
                .form(&[("grant_type", "client_credentials"), ("client_id", ADMIN_ID), ("client_secret", ADMIN_SECRET)])
                .send()
                .await;
            if let Some(response) = response.filter_ok() {
                let body: Value = response.json().await.unwrap();
                return Self { http, token: body["access_token"].as_str().unwrap().to_owned() };
            }
            assert!(Instant::now() < deadline, "the node at {base} did not come up");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub(crate) async fn call(
        &self,
        method: reqwest::Method,
        url: String,
        body: Option<Value>,
    ) -> Result<Value, String> {
        let mut request = self.http.request(method, &url).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.map_err(|e| e.to_string())?;
        let status = response.status();
        let body: Value = response.json().await.map_err(|e| e.to_string())?;
        if status.is_success() { Ok(body) } else { Err(format!("{status}: {body}")) }
    }
}

trait FilterOk: Sized {
    fn filter_ok(self) -> Option<reqwest::Response>;
}

impl FilterOk for Result<reqwest::Response, reqwest::Error> {
    fn filter_ok(self) -> Option<reqwest::Response> {
        self.ok().filter(|r| r.status().is_success())
    }
}

/// Awaits spawned tasks, in order.
pub(crate) async fn join_all<T>(handles: impl Iterator<Item = tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::new();
    for handle in handles.collect::<Vec<_>>() {
        out.push(handle.await.unwrap());
    }
    out
}
