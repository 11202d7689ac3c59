//! API clients managed from the command line beside a running server (`tessera clients`), the
//! administrator client kept as the environment says (`TESSERA_ADMIN_CLIENT_ID` / `_SECRET`), weak
//! secrets refused, and a start that cannot listen creating nothing.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

const ADMIN: &str = "cli-admin";
const FIRST: &str = "first-admin-secret-0123456789";
const SECOND: &str = "second-admin-secret-9876543210";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tessera-clients-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `tessera serve` on `data` until it listens; returns it with everything it printed before.
fn serve(data: &Path, port: u16, secret: &str) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(["serve", "--data-dir"])
        .arg(data)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env("TESSERA_ADMIN_CLIENT_ID", ADMIN)
        .env("TESSERA_ADMIN_CLIENT_SECRET", secret)
        .env_remove("TESSERA_SECRET_KEY")
        .env("TESSERA_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut printed = String::new();
    while !printed.contains("listening") {
        assert!(stdout.read_line(&mut printed).unwrap() > 0, "the server stopped: {printed}");
    }
    // The rest is read on, so the server never writes to a closed pipe.
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    (child, printed)
}

fn stop(mut child: Child) {
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(child.wait().unwrap().success());
}

fn cli(data: &Path, args: &[&str]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .env_remove("TESSERA_SECRET_KEY")
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The status of a token request, and the token.
fn token(port: u16, id: &str, secret: &str) -> (u16, Option<String>) {
    let reply = reqwest::blocking::Client::new()
        .post(format!("http://127.0.0.1:{port}/oauth/token"))
        .form(&[("grant_type", "client_credentials"), ("client_id", id), ("client_secret", secret)])
        .send()
        .unwrap();
    let status = reply.status().as_u16();
    let body: serde_json::Value = reply.json().unwrap();
    (status, body["access_token"].as_str().map(str::to_owned))
}

fn get(port: u16, token: &str) -> u16 {
    let reply = reqwest::blocking::Client::new()
        .get(format!("http://127.0.0.1:{port}/v3/workflows"))
        .bearer_auth(token)
        .send()
        .unwrap();
    reply.status().as_u16()
}

/// The `client id:` and `client secret:` lines a command printed.
fn credentials(stdout: &str) -> (String, String) {
    let field = |name: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_owned())
            .unwrap_or_else(|| panic!("{stdout}"))
    };
    (field("client id:"), field("client secret:"))
}

#[test]
fn clients_are_managed_on_the_database_beside_a_running_server() {
    let dir = temp_dir("beside");
    let data = dir.join("data");
    let port = free_port();
    let (server, _) = serve(&data, port, FIRST);

    let (ok, out, err) = cli(&data, &["clients", "create", "reporting", "--scope", "sp:workflow:read"]);
    assert!(ok, "{err}");
    let (id, secret) = credentials(&out);
    let (status, Some(first)) = token(port, &id, &secret) else { panic!("no token") };
    assert_eq!((status, get(port, &first)), (200, 200));

    // A lost secret is replaced: the old one and its tokens stop working.
    let (ok, out, err) = cli(&data, &["clients", "rotate", &id]);
    assert!(ok, "{err}");
    let (_, new_secret) = credentials(&out);
    assert_eq!(token(port, &id, &secret).0, 401);
    std::thread::sleep(std::time::Duration::from_millis(1200));
    assert_eq!(get(port, &first), 401, "the server learns of the new secret within a second");
    let (_, Some(second)) = token(port, &id, &new_secret) else { panic!("no token") };
    assert_eq!(get(port, &second), 200);

    let (ok, _, err) = cli(&data, &["clients", "disable", &id]);
    assert!(ok, "{err}");
    std::thread::sleep(std::time::Duration::from_millis(1200));
    assert_eq!(get(port, &second), 401, "disabled");
    let (ok, out, _) = cli(&data, &["clients", "list", "--json"]);
    assert!(ok);
    let listed: serde_json::Value = serde_json::from_str(&out).unwrap();
    let reporting = listed.as_array().unwrap().iter().find(|c| c["id"] == id.as_str()).unwrap();
    assert_eq!(reporting["enabled"], false, "{reporting}");
    assert!(!out.contains(&new_secret));
    let (ok, _, _) = cli(&data, &["clients", "delete", &id]);
    assert!(ok);
    let (ok, _, err) = cli(&data, &["clients", "rotate", &id]);
    assert!(!ok && err.contains(&format!("no OAuth client with id {id}")), "{err}");

    let (ok, out, err) = cli(&data, &["signing-keys", "rotate"]);
    assert!(ok && out.contains("New token signing key"), "{err}");

    // The audit log says who did each of it.
    let (ok, out, err) = cli(&data, &["audit", "--target", &id, "--json"]);
    assert!(ok, "{err}");
    let entries: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let actions: Vec<&str> = entries.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["client.delete", "client.update", "client.rotate", "client.create"], "newest first");
    assert!(entries.iter().all(|e| e["actor"] == "system:cli"), "{out}");
    let (ok, out, _) = cli(&data, &["audit", "--action", "signing-key.rotate"]);
    assert!(ok && out.contains("signing-key.rotate"), "{out}");
    stop(server);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn the_administrator_client_follows_the_environment_and_refuses_weak_secrets() {
    let dir = temp_dir("admin");
    let data = dir.join("data");
    let port = free_port();
    let (server, printed) = serve(&data, port, FIRST);
    assert!(!printed.contains(FIRST), "a given secret is never printed: {printed}");
    let (_, Some(old)) = token(port, ADMIN, FIRST) else { panic!("no token") };
    stop(server);

    // A changed secret in the environment is the administrator's secret from the next start on.
    let (server, printed) = serve(&data, port, SECOND);
    assert!(printed.contains(&format!("{ADMIN} now has the secret in TESSERA_ADMIN_CLIENT_SECRET")), "{printed}");
    assert_eq!(token(port, ADMIN, FIRST).0, 401);
    assert_eq!(token(port, ADMIN, SECOND).0, 200);
    assert_eq!(get(port, &old), 401, "tokens of the old secret end");
    stop(server);

    for weak in ["a", "aaaaaaaaaaaaaaaaaaaaaaaaa", "short-secret"] {
        let output = Command::new(env!("CARGO_BIN_EXE_tessera"))
            .args(["serve", "--data-dir"])
            .arg(&data)
            .args(["--listen", &format!("127.0.0.1:{}", free_port())])
            .env("TESSERA_ADMIN_CLIENT_SECRET", weak)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{weak}: {stderr}");
        assert!(stderr.contains("TESSERA_ADMIN_CLIENT_SECRET is too weak"), "{stderr}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_start_that_cannot_listen_creates_nothing_and_says_what_to_do() {
    let dir = temp_dir("busy");
    let data = dir.join("data");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let output = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(["serve", "--data-dir"])
        .arg(&data)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env_remove("TESSERA_ADMIN_CLIENT_ID")
        .env_remove("TESSERA_ADMIN_CLIENT_SECRET")
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("the address is in use") && stderr.contains("--listen"), "{stderr}");
    assert!(!stdout.contains("client secret"), "no one-time secret is printed and lost: {stdout}");
    assert!(!data.exists(), "nothing was created");
    drop(taken);
    std::fs::remove_dir_all(&dir).ok();
}
