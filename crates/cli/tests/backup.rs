//! `tessera backup` while a server is under load, and `tessera restore` into a new data directory:
//! every execution the API had acknowledged before the backup began is in the restored database, a
//! backup is private and never overwrites a file, and a restore refuses a running server's directory
//! and a directory without the node key the backup needs.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tessera_store::ExecutionStore;

const ADMIN: &str = "backup-admin";
const SECRET: &str = "backup-admin-secret-0123456789";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn tessera() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tessera"));
    command.env_remove("TESSERA_SECRET_KEY").env("TESSERA_LOG", "warn");
    command
}

fn serve(data: &Path, port: u16) -> Child {
    let mut child = tessera()
        .args(["serve", "--data-dir"])
        .arg(data)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env("TESSERA_ADMIN_CLIENT_ID", ADMIN)
        .env("TESSERA_ADMIN_CLIENT_SECRET", SECRET)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while !line.contains("listening") {
        line.clear();
        assert!(stdout.read_line(&mut line).unwrap() > 0, "the server stopped");
    }
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    child
}

fn stop(mut child: Child) {
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(child.wait().unwrap().success());
}

fn token(http: &reqwest::blocking::Client, base: &str) -> String {
    let answer: Value = http
        .post(format!("{base}/oauth/token"))
        .form(&[("grant_type", "client_credentials"), ("client_id", ADMIN), ("client_secret", SECRET)])
        .send()
        .unwrap()
        .json()
        .unwrap();
    answer["access_token"].as_str().unwrap().to_owned()
}

fn run(command: &mut Command) -> (bool, String, String) {
    let output = command.output().unwrap();
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    (output.status.success(), text(&output.stdout), text(&output.stderr))
}

#[test]
fn a_backup_under_load_restores_every_execution_acknowledged_before_it() {
    let dir = std::env::temp_dir().join(format!("tessera-backup-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (first, second, file) = (dir.join("first"), dir.join("second"), dir.join("backup.db"));
    let port = free_port();
    let server = serve(&first, port);
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::blocking::Client::new();
    let bearer = token(&http, &base);
    let workflow = json!({"name": "Counted", "definition": {"start": "Done", "steps": {"Done": {"type": "success"}}}});
    let created: Value =
        http.post(format!("{base}/v3/workflows")).bearer_auth(&bearer).json(&workflow).send().unwrap().json().unwrap();
    let workflow_id = created["id"].as_str().unwrap().to_owned();

    // Load: test executions started one after another; each id is kept with when it was acknowledged.
    let acknowledged: Arc<Mutex<Vec<(String, Instant)>>> = Arc::default();
    let stopping = Arc::new(AtomicBool::new(false));
    let load = {
        let (acknowledged, stopping, base, bearer, id) =
            (acknowledged.clone(), stopping.clone(), base.clone(), bearer.clone(), workflow_id.clone());
        std::thread::spawn(move || {
            let http = reqwest::blocking::Client::new();
            while !stopping.load(Ordering::Relaxed) {
                let answer = http
                    .post(format!("{base}/v3/workflows/{id}/test"))
                    .bearer_auth(&bearer)
                    .json(&json!({"input": {}}))
                    .send()
                    .unwrap();
                assert_eq!(answer.status(), 200);
                let body: Value = answer.json().unwrap();
                let execution = body["workflowExecutionId"].as_str().unwrap().to_owned();
                acknowledged.lock().unwrap().push((execution, Instant::now()));
            }
        })
    };
    while acknowledged.lock().unwrap().len() < 50 {
        std::thread::sleep(Duration::from_millis(20));
    }
    let began = Instant::now();
    let (ok, out, err) = run(tessera().arg("backup").arg(&file).arg("--data-dir").arg(&first));
    assert!(ok, "{err}");
    assert!(out.contains("The node key is not in the backup"), "{out}");
    assert!(out.contains(&first.join("secret.key").display().to_string()), "the command says where the key is: {out}");
    let acknowledged_during = acknowledged.lock().unwrap().iter().filter(|(_, at)| *at > began).count();
    std::thread::sleep(Duration::from_millis(200));
    stopping.store(true, Ordering::Relaxed);
    load.join().unwrap();
    assert!(acknowledged_during > 0 || acknowledged.lock().unwrap().len() > 50, "the load ran beside the backup");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600, "a backup is private");
    let (ok, _, err) = run(tessera().arg("backup").arg(&file).arg("--data-dir").arg(&first));
    assert!(!ok && err.contains("exists"), "a backup never overwrites a file: {err}");

    // A running server's directory is not restored over.
    let (ok, _, err) = run(tessera().arg("restore").arg(&file).arg("--data-dir").arg(&first));
    assert!(!ok && err.contains(&format!("(process {})", server.id())), "{err}");
    stop(server);

    // A new directory needs the node key the backup was made under.
    let (ok, _, err) = run(tessera().arg("restore").arg(&file).arg("--data-dir").arg(&second));
    assert!(!ok && err.contains("there is no node key"), "{err}");
    assert!(!second.join("tessera.db").exists(), "nothing was put in place");
    std::fs::copy(first.join("secret.key"), second.join("secret.key")).unwrap();
    let (ok, out, err) = run(tessera().arg("restore").arg(&file).arg("--data-dir").arg(&second));
    assert!(ok, "{err}");
    assert!(out.contains("Restored"), "{out}");

    // Every execution acknowledged before the backup began is in the restored database.
    let before: Vec<String> =
        acknowledged.lock().unwrap().iter().filter(|(_, at)| *at < began).map(|(id, _)| id.clone()).collect();
    assert!(before.len() >= 50);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let missing = runtime.block_on(async {
        let store = tessera_store::Store::open_data_dir(&second).await.unwrap();
        let mut tx = store.begin().await.unwrap();
        let mut missing = Vec::new();
        for id in &before {
            if tx.execution(id).await.unwrap().is_none() {
                missing.push(id.clone());
            }
        }
        tx.commit().await.unwrap();
        store.close().await;
        missing
    });
    assert!(missing.is_empty(), "{} of {} acknowledged executions are missing", missing.len(), before.len());

    // The restored deployment serves: its clients, signing keys and workflows work.
    let port = free_port();
    let restored = serve(&second, port);
    let base = format!("http://127.0.0.1:{port}");
    let bearer = token(&http, &base);
    let read = http.get(format!("{base}/v3/workflows/{workflow_id}")).bearer_auth(&bearer).send().unwrap();
    assert_eq!(read.status(), 200);
    stop(restored);
    std::fs::remove_dir_all(&dir).ok();
}
