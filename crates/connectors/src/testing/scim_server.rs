//! A real SCIM service provider for the SCIM connector's tests: a `scim2-server` process (PyPI package
//! `scim2-server`, in-memory store) on a free loopback port, with its own bearer token, stopped on drop.
#![allow(clippy::unwrap_used)] // test fixtures: a failed unwrap is a failed test

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::scim::{ScimConfig, ScimConnector};
use serde_json::{Value, json};

/// How the tests find the server, and how to install it.
const INSTALL_HINT: &str = "the SCIM tests need scim2-server: install it with \
    `python3 -m venv target/scim-venv && target/scim-venv/bin/pip install scim2-server` in the workspace root, \
    or set TESSERA_TEST_SCIM_SERVER to the path of a scim2-server executable";

static SERVERS: AtomicU32 = AtomicU32::new(0);

/// A running scim2-server.
#[derive(Debug)]
pub struct ScimServer {
    child: Option<Child>,
    port: u16,
    token: String,
    log: PathBuf,
    dump: PathBuf,
}

fn executable() -> PathBuf {
    if let Some(path) = std::env::var_os("TESSERA_TEST_SCIM_SERVER").filter(|path| !path.is_empty()) {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "TESSERA_TEST_SCIM_SERVER names {}, which does not exist; {INSTALL_HINT}",
            path.display()
        );
        return path;
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/scim-venv/bin/scim2-server");
    assert!(path.is_file(), "{} does not exist; {INSTALL_HINT}", path.display());
    path
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl ScimServer {
    /// Starts a server and waits until it answers requests with its token. Another process may take the
    /// port between choosing and binding it; the server then exits and another port is tried.
    pub fn start() -> Self {
        let executable = executable();
        let n = SERVERS.fetch_add(1, Ordering::Relaxed);
        let token = format!("test-token-{}-{n}", std::process::id());
        let dir = std::env::temp_dir();
        for _ in 0..5 {
            let port = free_port();
            let log = dir.join(format!("scim2-server-{port}.log"));
            let dump = dir.join(format!("scim2-server-{port}.json"));
            let _ = std::fs::remove_file(&dump);
            let output = std::fs::File::create(&log).unwrap();
            let child = Command::new(&executable)
                .args(["--hostname", "127.0.0.1", "--port", &port.to_string(), "--bearer-token", &token])
                .arg("--dump-resources")
                .arg(&dump)
                .stdin(Stdio::null())
                .stdout(output.try_clone().unwrap())
                .stderr(output)
                .spawn()
                .unwrap_or_else(|error| panic!("cannot run {}: {error}; {INSTALL_HINT}", executable.display()));
            let mut server = Self { child: Some(child), port, token: token.clone(), log, dump };
            if server.wait_until_ready() {
                return server;
            }
        }
        panic!("scim2-server did not start on any of five ports");
    }

    /// Whether the server came up; `false` when it exited because its port was taken.
    fn wait_until_ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(30);
        let address = SocketAddr::from(([127, 0, 0, 1], self.port));
        while Instant::now() < deadline {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                self.child = None;
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                if log.contains("Address already in use") {
                    return false;
                }
                panic!("scim2-server exited ({status}) before it answered:\n{log}");
            }
            // A request with this server's token: another test's server on the same port would answer 401.
            if let Ok(mut stream) = TcpStream::connect_timeout(&address, Duration::from_millis(200)) {
                stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let request = format!(
                    "GET /v2/Users?count=1 HTTP/1.0\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\n\r\n",
                    self.token
                );
                let mut answer = String::new();
                if stream.write_all(request.as_bytes()).is_ok()
                    && stream.read_to_string(&mut answer).is_ok()
                    && answer.split_whitespace().nth(1) == Some("200")
                {
                    return true;
                }
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("scim2-server did not answer within 30 s:\n{}", std::fs::read_to_string(&self.log).unwrap_or_default());
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/v2", self.port)
    }

    pub fn token(&self) -> &str {
        &self.token
    }

    /// The connector attributes of a source on this server, with `extra` merged in.
    pub fn attributes(&self, extra: Value) -> Value {
        let mut attributes = json!({ "baseUrl": self.base_url(), "authType": "bearer", "token": self.token });
        for (key, value) in extra.as_object().unwrap() {
            attributes[key] = value.clone();
        }
        attributes
    }

    pub fn connector(&self, extra: Value) -> ScimConnector {
        ScimConnector::new(ScimConfig::from_json(&self.attributes(extra)).unwrap()).unwrap()
    }

    /// A request straight to the server, bypassing the connector: the answer's status and JSON body.
    pub async fn request(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = reqwest::Client::new()
            .request(method, format!("{}{path}", self.base_url()))
            .bearer_auth(&self.token)
            .header("content-type", "application/scim+json");
        if let Some(body) = body {
            request = request.body(body.to_string());
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, if text.trim().is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() })
    }

    /// Creates a group; returns its id.
    pub async fn create_group(&self, name: &str) -> String {
        let group = json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": name });
        let (status, group) = self.request(reqwest::Method::POST, "/Groups", Some(group)).await;
        assert_eq!(status, 201, "{group}");
        group["id"].as_str().unwrap().to_owned()
    }

    /// The ids of a group's members.
    pub async fn members(&self, group: &str) -> Vec<String> {
        let (status, group) = self.request(reqwest::Method::GET, &format!("/Groups/{group}"), None).await;
        assert_eq!(status, 200, "{group}");
        let members = group["members"].as_array().cloned().unwrap_or_default();
        members.iter().map(|member| member["value"].as_str().unwrap().to_owned()).collect()
    }

    /// Stops the server (SIGINT, on which it writes its resources out) and returns every resource it held,
    /// passwords included.
    pub fn stop(&mut self) -> Vec<Value> {
        let mut child = self.child.take().expect("the server is running");
        let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
        assert!(status.success(), "kill -INT failed");
        let deadline = Instant::now() + Duration::from_secs(10);
        while child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "scim2-server did not stop on SIGINT");
            std::thread::sleep(Duration::from_millis(20));
        }
        let dump = std::fs::read_to_string(&self.dump).unwrap();
        serde_json::from_str(&dump).unwrap()
    }
}

impl Drop for ScimServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_file(&self.dump);
        // The log stays when a test failed.
        if !std::thread::panicking() {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}
