//! Upgrades: a database written by an earlier Tessera (the SQL dumps in `upgrade/schema-<n>/`, made by
//! that release and never regenerated) is migrated by this binary at start, and everything in it is
//! still there and still works: people, requests waiting for approval, a workflow waiting in a
//! person's inbox, clients and their secrets, sealed connector secrets, executions, history — and
//! what the upgrade must change has changed (the plain signing key gone, pasted credentials sealed).

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/upgrade/schema-0014")
}

fn expected() -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture_dir().join("expected.json")).unwrap()).unwrap()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A started `tessera serve` on the loaded database.
struct Served {
    child: Child,
    base: String,
    http: reqwest::blocking::Client,
    admin: String,
}

impl Served {
    fn start(data_dir: &Path, database: Option<&str>) -> Self {
        let expected = expected();
        let key = std::fs::read_to_string(fixture_dir().join("secret.key")).unwrap();
        let port = free_port();
        let mut command = Command::new(env!("CARGO_BIN_EXE_tessera"));
        command
            .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
            .arg(data_dir)
            .env("TESSERA_SECRET_KEY", key.trim())
            .env("TESSERA_ADMIN_CLIENT_ID", expected["adminClient"]["id"].as_str().unwrap())
            .env("TESSERA_ADMIN_CLIENT_SECRET", expected["adminClient"]["secret"].as_str().unwrap())
            .env("TESSERA_LOG", "warn")
            .stdout(Stdio::piped());
        if let Some(url) = database {
            command.args(["--database", url]);
        }
        let mut child = command.spawn().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut printed = String::new();
        while !printed.contains("listening") {
            assert!(stdout.read_line(&mut printed).unwrap() > 0, "the server stopped: {printed}");
        }
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::blocking::Client::new();
        let mut served = Self { child, base, http, admin: String::new() };
        served.admin = served.token(
            expected["adminClient"]["id"].as_str().unwrap(),
            expected["adminClient"]["secret"].as_str().unwrap(),
        );
        served
    }

    fn token(&self, id: &str, secret: &str) -> String {
        let reply = self
            .http
            .post(format!("{}/oauth/token", self.base))
            .form(&[("grant_type", "client_credentials"), ("client_id", id), ("client_secret", secret)])
            .send()
            .unwrap();
        assert_eq!(reply.status(), 200, "a token for {id}");
        reply.json::<Value>().unwrap()["access_token"].as_str().unwrap().to_owned()
    }

    fn call(&self, token: &str, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.base)).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let reply = request.send().unwrap();
        let status = reply.status().as_u16();
        let text = reply.text().unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    fn get(&self, path: &str) -> Value {
        let (status, body) = self.call(&self.admin, reqwest::Method::GET, path, None);
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    fn stop(mut self) {
        Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(self.child.wait().unwrap().success());
    }
}

/// Everything the upgraded database must still hold and do; `raw` reads a column of a table.
fn check(served: &Served, ids: &Value, raw: &dyn Fn(&str) -> Vec<String>) {
    let counts = &ids["counts"];
    let identities = served
        .http
        .get(format!("{}/v3/identities?count=true&limit=1", served.base))
        .bearer_auth(&served.admin)
        .send()
        .unwrap();
    assert_eq!(identities.headers()["x-total-count"].to_str().unwrap(), counts["identities"].to_string());

    // The signing key is no longer in the database in plain text; the one there is sealed.
    assert!(raw("SELECT key FROM settings").iter().all(|k| k != "token-signing-key"));
    assert!(raw("SELECT sealed FROM signing_keys").iter().all(|s| s.contains("$sealed")));
    // Pasted credentials are sealed in every version and gone from history.
    let traced = &ids["tracedWorkflow"];
    for column in
        ["SELECT document FROM workflow_versions", "SELECT entry FROM execution_history", "SELECT payload FROM tasks"]
    {
        for text in raw(column) {
            for secret in [&traced["pastedBearerToken"], &traced["pastedBasicAuthPassword"]] {
                assert!(!text.contains(secret.as_str().unwrap()), "{column} still holds a pasted credential");
            }
        }
    }
    let workflow = served.get(&format!("/v3/workflows/{}", traced["id"].as_str().unwrap()));
    assert!(workflow.to_string().contains("********"), "{workflow}");
    assert_eq!(
        served.get(&format!("/v3/workflow-executions/{}", traced["executionId"].as_str().unwrap()))["status"],
        "Failed"
    );

    // A sealed connector secret still opens under the node key (and is shown masked).
    let source = served.get(&format!("/v3/sources/{}", ids["sealedTokenSource"]["id"].as_str().unwrap()));
    assert_eq!(source["connectorAttributes"]["token"], "********", "{source}");

    // Versions, executions and the clients that start them.
    let versioned = &ids["versionedWorkflow"];
    let versions = served.get(&format!("/tessera/v1/workflows/{}/versions", versioned["id"].as_str().unwrap()));
    assert_eq!(versions.as_array().unwrap().len(), versioned["versions"].as_u64().unwrap() as usize);
    let trigger = served
        .token(versioned["externalClientId"].as_str().unwrap(), versioned["externalClientSecret"].as_str().unwrap());
    let (status, started) = served.call(
        &trigger,
        reqwest::Method::POST,
        &format!("/beta/workflows/execute/external/{}", versioned["id"].as_str().unwrap()),
        Some(json!({"input": {"after": "upgrade"}})),
    );
    assert_eq!(status, 200, "the trigger client still starts its workflow: {started}");
    assert_eq!(
        served.get(&format!("/v3/workflow-executions/{}", ids["sleepingExecution"]["id"].as_str().unwrap()))["status"],
        "Running"
    );
    assert_eq!(
        served.get(&format!("/v3/workflow-executions/{}", ids["cancelledExecution"]["id"].as_str().unwrap()))["status"],
        "Canceled"
    );

    // People's work goes on: the forwarded approval is decided by the one it was forwarded to...
    let pending = &ids["accessRequests"]["pending"];
    let approver =
        ids["boundClients"].as_array().unwrap().iter().find(|c| c["identityId"] == pending["forwardedTo"]).unwrap();
    let token = served.token(approver["id"].as_str().unwrap(), approver["secret"].as_str().unwrap());
    // Access approvals and work items moved into people's work (one table, the old ones gone), with
    // every id, and the approval's forward kept as its activity.
    let approval_id = pending["approvalId"].as_str().unwrap();
    assert_eq!(raw("SELECT id FROM inbox_items WHERE subject_kind = 'ACCESS_REQUEST'").len(), 3);
    assert_eq!(raw("SELECT id FROM inbox_items WHERE subject_kind = 'PLAN'").len() as u64, counts["workItems"]);
    let kinds = raw(&format!("SELECT kind FROM inbox_activity WHERE item_id = '{approval_id}'"));
    assert_eq!(kinds, ["REASSIGN"]);
    let (status, inbox) = served.call(&token, reqwest::Method::GET, "/tessera/v1/inbox", None);
    let listed: Vec<&Value> = inbox.as_array().unwrap().iter().filter(|i| i["id"] == approval_id).collect();
    assert_eq!((status, listed.len()), (200, 1), "the approval is in its approver's inbox: {inbox}");
    assert_eq!(listed[0]["type"], "ACCESS_REQUEST_APPROVAL", "{inbox}");
    let (_, queue) = served.call(&token, reqwest::Method::GET, "/v3/access-request-approvals/pending", None);
    let shown = queue.as_array().unwrap().iter().find(|a| a["id"] == approval_id).expect("pending for its approver");
    let history = shown["forwardHistory"].as_array().unwrap();
    assert_eq!(history.len(), 1, "{shown}");
    assert_eq!(history[0]["reassignmentType"], "MANUAL_REASSIGNMENT", "{shown}");
    assert_eq!(history[0]["oldApprovers"][0]["id"].as_str(), pending["forwardedFrom"].as_str(), "{shown}");
    let done = served.get(&format!("/v3/work-items/{}", ids["completedWorkItemId"].as_str().unwrap()));
    assert_eq!(done["state"], "Finished", "{done}");
    let (status, decided) = served.call(
        &token,
        reqwest::Method::POST,
        &format!("/v3/access-request-approvals/{}/approve", pending["approvalId"].as_str().unwrap()),
        Some(json!({"comment": "after the upgrade"})),
    );
    assert_eq!(status, 202, "{decided}");
    // ...and the workflow waiting in Olga's inbox resumes when she approves.
    let approval = &ids["workflowApproval"];
    let olga =
        ids["boundClients"].as_array().unwrap().iter().find(|c| c["identityId"] == approval["assignees"][0]).unwrap();
    let token = served.token(olga["id"].as_str().unwrap(), olga["secret"].as_str().unwrap());
    let (status, item) = served.call(
        &token,
        reqwest::Method::POST,
        &format!("/tessera/v1/inbox/{}/approve", approval["inboxItemId"].as_str().unwrap()),
        Some(json!({"comment": "ok"})),
    );
    assert_eq!((status, &item["status"]), (200, &json!("APPROVED")), "{item}");
    let execution = approval["waitingExecutionId"].as_str().unwrap();
    let mut status = Value::Null;
    for _ in 0..100 {
        status = served.get(&format!("/v3/workflow-executions/{execution}"))["status"].clone();
        if status != "Running" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(status, "Completed", "the waiting execution resumed and ended");

    // Inbound SCIM and the request-type request are there as they were.
    let scim = &ids["inboundScim"];
    let (status, user) = served.call(
        &served.admin,
        reqwest::Method::GET,
        &format!("/scim/v2/Users/{}", scim["userId"].as_str().unwrap()),
        None,
    );
    assert_eq!((status, &user["userName"]), (200, &scim["userName"]), "{user}");
    let request = served.get(&format!("/tessera/v1/requests/{}", ids["requestType"]["requestId"].as_str().unwrap()));
    assert_eq!(request["id"], ids["requestType"]["requestId"]);
    // Who granted earlier access is unknown; the grants are all still held.
    let held = raw("SELECT identity_id FROM identity_access");
    assert!(held.len() as u64 >= ids["tables"]["identity_access"].as_u64().unwrap());
}

#[test]
fn a_sqlite_database_of_schema_14_upgrades() {
    let ids = expected()["sqlite"].clone();
    let dir = std::env::temp_dir().join(format!("tessera-upgrade-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let dump = std::fs::read_to_string(fixture_dir().join("sqlite.sql")).unwrap();
    let database = data.join("tessera.db");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        sqlx::any::install_default_drivers();
        let url = format!("sqlite://{}?mode=rwc", database.display());
        let pool = sqlx::AnyPool::connect(&url).await.unwrap();
        sqlx::raw_sql(&dump).execute(&pool).await.unwrap();
        pool.close().await;
    });
    let served = Served::start(&data, None);
    let url = format!("sqlite://{}", database.display());
    let raw = |sql: &str| -> Vec<String> {
        runtime.block_on(async {
            let pool = sqlx::AnyPool::connect(&url).await.unwrap();
            let rows: Vec<String> = sqlx::query_scalar(sql).fetch_all(&pool).await.unwrap();
            pool.close().await;
            rows
        })
    };
    check(&served, &ids, &raw);
    served.stop();
    std::fs::remove_dir_all(&dir).ok();
}

/// psql, where Debian puts it.
fn psql() -> PathBuf {
    let on_path = Command::new("psql").arg("--version").output().is_ok_and(|o| o.status.success());
    if on_path {
        return PathBuf::from("psql");
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|dirs| dirs.filter_map(|d| d.ok()).map(|d| d.path().join("bin/psql")).filter(|p| p.exists()).collect())
        .unwrap_or_default();
    found.sort();
    found.pop().expect("psql is installed with PostgreSQL (scripts/postgres installs it)")
}

#[test]
fn a_postgres_database_of_schema_14_upgrades() {
    let Some(server) = tessera_store::testing::postgres_url() else { return };
    let ids = expected()["postgres"].clone();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let url = runtime.block_on(tessera_store::testing::fresh_postgres_url(&server));
    let loaded = Command::new(psql())
        .args(["-q", "-v", "ON_ERROR_STOP=1", "-d", &url, "-f"])
        .arg(fixture_dir().join("postgres.sql"))
        .output()
        .unwrap();
    assert!(loaded.status.success(), "{}", String::from_utf8_lossy(&loaded.stderr));
    let dir = std::env::temp_dir().join(format!("tessera-upgrade-pg-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let served = Served::start(&dir.join("data"), Some(&url));
    let raw = |sql: &str| -> Vec<String> {
        runtime.block_on(async {
            sqlx::any::install_default_drivers();
            let pool = sqlx::AnyPool::connect(&url).await.unwrap();
            let rows: Vec<String> = sqlx::query_scalar(sql).fetch_all(&pool).await.unwrap();
            pool.close().await;
            rows
        })
    };
    check(&served, &ids, &raw);
    served.stop();
    std::fs::remove_dir_all(&dir).ok();
}
