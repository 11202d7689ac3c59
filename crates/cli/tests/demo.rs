//! The demo organisation end to end, as a newcomer meets it: `tessera serve --demo` with a real SMTP
//! server (aiosmtpd) on loopback. A joiner, a mover and a leaver are written into the HR file, the
//! source is aggregated through the API, and each matching workflow runs exactly once: the lifecycle
//! and birthright-role changes are visible through the API, and the emails arrive.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

mod support;
use support::{mail, serve_demo, smtp};

/// The bodies of the messages delivered so far.
fn mail_bodies(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for sub in ["new", "cur"] {
        let Ok(entries) = std::fs::read_dir(dir.join("maildir").join(sub)) else { continue };
        for entry in entries {
            out.push(std::fs::read_to_string(entry.unwrap().path()).unwrap());
        }
    }
    out
}

struct Api {
    base: String,
    token: String,
    client: reqwest::blocking::Client,
}

impl Api {
    fn get(&self, path: &str) -> Value {
        let response = self.client.get(format!("{}{path}", self.base)).bearer_auth(&self.token).send().unwrap();
        assert!(response.status().is_success(), "GET {path}: {}", response.status());
        response.json().unwrap()
    }

    /// Waits until `check` holds for what `path` returns.
    fn wait_for(&self, path: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let value = self.get(path);
            if check(&value) {
                return value;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}: {value}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn identity(&self, employee: &str) -> Value {
        let found = self.get(&format!("/v3/identities?filters=alias%20eq%20%22{employee}%22"));
        found[0].clone()
    }
}

/// The HR file's rows by employee number, with its header.
fn read_hr(path: &Path) -> (csv::StringRecord, BTreeMap<String, csv::StringRecord>) {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let header = reader.headers().unwrap().clone();
    let rows = reader.records().map(|r| r.unwrap()).map(|r| (r[0].to_owned(), r)).collect();
    (header, rows)
}

#[test]
fn joiner_mover_and_leaver_run_their_workflows_once_and_mail_arrives() {
    let dir: PathBuf = std::env::temp_dir().join(format!("tessera-demo-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (_smtp, smtp_port) = smtp(&dir);
    let smtp_env = [("TESSERA_SMTP_HOST", "127.0.0.1".to_owned()), ("TESSERA_SMTP_PORT", smtp_port.to_string())];
    let (_server, port, seen) =
        serve_demo(&dir.join("data"), ("demo-admin", "demo-secret-0123456789abcdef"), &smtp_env);
    assert!(seen.contains("Seeded the demo organisation: 300 identities"), "{seen}");

    let client = reqwest::blocking::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let token: Value = client
        .post(format!("{base}/oauth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "demo-admin"),
            ("client_secret", "demo-secret-0123456789abcdef"),
        ])
        .send()
        .unwrap()
        .json()
        .unwrap();
    let api = Api { base, token: token["access_token"].as_str().unwrap().to_owned(), client };
    // The demo's administrator is a person named `admin` who holds ORG_ADMIN, and so every scope.
    assert!(seen.contains("The administrator: the identity `admin` (demo-identity-admin), ORG_ADMIN"), "{seen}");
    let admin = api.get("/v3/auth-users/demo-identity-admin");
    assert_eq!(admin["capabilities"], json!(["ORG_ADMIN"]), "{admin}");
    let found = api.get("/v3/identities?filters=name%20eq%20%22admin%22");
    assert_eq!(found.as_array().map(Vec::len), Some(1), "{found}");
    let workflows = ["demo-joiner-welcome", "demo-mover-notify", "demo-leaver-notify"];
    for workflow in workflows {
        assert_eq!(
            api.get(&format!("/v3/workflows/{workflow}/executions")),
            json!([]),
            "{workflow}: the first load predates it"
        );
    }

    // HR writes a joiner, moves someone to Engineering and terminates someone; all three have managers.
    let file = dir.join("data/imports/hr.csv");
    let (header, mut rows) = read_hr(&file);
    let column = |name: &str| header.iter().position(|h| h == name).unwrap();
    let (department, status, manager) = (column("department"), column("status"), column("managerId"));
    let active_with_manager: Vec<String> = rows
        .values()
        .filter(|r| &r[status] == "A" && !r[manager].is_empty() && &r[department] != "Engineering")
        .map(|r| r[0].to_owned())
        .collect();
    let (mover, leaver) = (active_with_manager[0].clone(), active_with_manager[1].clone());
    let edit = |row: &csv::StringRecord, at: usize, value: &str| -> csv::StringRecord {
        row.iter().enumerate().map(|(i, f)| if i == at { value } else { f }).collect()
    };
    let moved = edit(&rows[&mover], department, "Engineering");
    rows.insert(mover.clone(), moved);
    let left = edit(&rows[&leaver], status, "T");
    rows.insert(leaver.clone(), left);
    let joiner_row: csv::StringRecord = [
        "E000301",
        "Zora",
        "Neale",
        "Zora Neale",
        "zora.neale@example.com",
        "Sales",
        "Account Executive",
        "London",
        "E000001",
        "A",
        "2026-12-01",
    ]
    .into_iter()
    .collect();
    rows.insert("E000301".into(), joiner_row);
    let mut writer = csv::Writer::from_path(&file).unwrap();
    writer.write_record(&header).unwrap();
    for row in rows.values() {
        writer.write_record(row).unwrap();
    }
    writer.flush().unwrap();

    let response = api
        .client
        .post(format!("{}/v3/sources/demo-source-hr/load-accounts", api.base))
        .bearer_auth(&api.token)
        .send()
        .unwrap();
    let (code, task): (u16, Value) = (response.status().as_u16(), response.json().unwrap());
    assert_eq!(code, 202, "{task}");
    let run = task["task"]["id"].as_str().unwrap().to_owned();
    let done = api.wait_for(&format!("/tessera/v1/aggregations/{run}"), "the aggregation", |a| {
        a["status"] != "RUNNING" && a["status"] != "PENDING"
    });
    assert_eq!(done["status"], "SUCCESS", "{done}");
    assert_eq!(done["stats"]["added"], 1, "{done}");
    assert_eq!(done["stats"]["changed"], 2, "{done}");

    // Each workflow runs exactly once, to completion.
    for workflow in workflows {
        let runs = api.wait_for(&format!("/v3/workflows/{workflow}/executions"), workflow, |runs| {
            runs.as_array().is_some_and(|r| r.len() == 1 && r[0]["status"] != "Running")
        });
        assert_eq!(runs[0]["status"], "Completed", "{workflow}: {runs}");
    }

    // Lifecycle and birthright roles: the mover holds Engineer, the leaver holds nothing.
    let mover_identity = api.identity(&mover);
    let access = api.get(&format!("/tessera/v1/identities/{}/access", mover_identity["id"].as_str().unwrap()));
    let names: Vec<&str> = access.as_array().unwrap().iter().filter_map(|a| a["name"].as_str()).collect();
    assert!(names.contains(&"Engineer"), "{access}");
    let leaver_identity = api.identity(&leaver);
    assert_eq!(leaver_identity["lifecycleState"]["stateName"], "terminated", "{leaver_identity}");
    assert_eq!(leaver_identity["identityStatus"], "INACTIVE", "{leaver_identity}");
    let access = api.get(&format!("/tessera/v1/identities/{}/access", leaver_identity["id"].as_str().unwrap()));
    assert_eq!(access, json!([]), "the leaver's access is removed");
    let joiner = api.identity("E000301");
    assert_eq!(joiner["attributes"]["department"], "Sales", "{joiner}");

    // The mail: the joiner's manager, the mover, and the leaver's manager.
    let manager_email = |identity: &Value| {
        let manager = api.get(&format!("/v3/identities/{}", identity["managerRef"]["id"].as_str().unwrap()));
        manager["emailAddress"].as_str().unwrap().to_owned()
    };
    let expected = vec![
        (manager_email(&joiner), "Zora Neale joins Sales".to_owned()),
        (
            mover_identity["emailAddress"].as_str().unwrap().to_owned(),
            "Your move: department is now Engineering".to_owned(),
        ),
        (manager_email(&leaver_identity), format!("{} has left", leaver_identity["name"].as_str().unwrap())),
    ];
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut expected_sorted = expected.clone();
    expected_sorted.sort();
    loop {
        let got = mail(&dir);
        if got == expected_sorted {
            break;
        }
        assert!(Instant::now() < deadline, "mail: expected {expected_sorted:?}, got {got:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
    // The leaver never got the accounts their work items asked for, and the manager is told so.
    let bodies = mail_bodies(&dir);
    assert!(
        bodies.iter().any(|b| b.contains("nothing to disable")),
        "the leaver's manager hears there is nothing to disable: {bodies:?}"
    );

    // People's work that makes sense, and has someone to do it: every open work item belongs to the
    // service desk; the leaver's creation was cancelled (with the reason), not left pending; the
    // mover has one account to create, not two.
    let open = api.get("/v3/work-items?limit=250");
    let open = open.as_array().unwrap();
    assert!(!open.is_empty());
    assert!(
        open.iter().all(|w| w["ownerType"] == "GOVERNANCE_GROUP" && w["ownerId"] == "demo-group-service-desk"),
        "every work item has an owner"
    );
    let of =
        |identity: &Value| -> Vec<&Value> { open.iter().filter(|w| w["identity"]["id"] == identity["id"]).collect() };
    assert!(of(&leaver_identity).is_empty(), "the leaver has no pending work: {:?}", of(&leaver_identity));
    let plans =
        api.get(&format!("/tessera/v1/provisioning-plans?identityId={}", leaver_identity["id"].as_str().unwrap()));
    let cancelled: Vec<&Value> = plans.as_array().unwrap().iter().filter(|p| p["status"] == "CANCELLED").collect();
    assert!(
        cancelled
            .iter()
            .any(|p| p["operation"] == "Create" && p["result"]["reason"].as_str().is_some_and(|r| !r.is_empty())),
        "{plans}"
    );
    let creates: Vec<&Value> = of(&mover_identity)
        .into_iter()
        .filter(|w| w["accountRequest"]["operation"] == "Create" && w["source"]["id"] == "demo-source-ad")
        .collect();
    assert_eq!(creates.len(), 1, "the mover's Active Directory account is one piece of work: {creates:?}");

    // Nothing else started meanwhile: one execution each, still.
    for workflow in workflows {
        let runs = api.get(&format!("/v3/workflows/{workflow}/executions"));
        assert_eq!(runs.as_array().unwrap().len(), 1, "{workflow}: {runs}");
    }
    std::fs::remove_dir_all(&dir).ok();
}
