//! `tessera serve` as scripts and containers run it: configured by a TOML file and `TESSERA_*`
//! variables (flags > environment > file), the first admin client from the environment, a clear
//! refusal of a bad config, and SIGTERM draining the workers to a clean exit.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("tessera-serve-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn config_file_environment_and_sigterm() {
    let dir = temp_dir("config");
    let (file_port, env_port, metrics_port) = (free_port(), free_port(), free_port());
    let config = dir.join("tessera.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:{file_port}\"\nmetrics_listen = \"127.0.0.1:{metrics_port}\"\ndata_dir = \"{}\"\nworkers = 2\n",
            dir.join("data").display()
        ),
    )
    .unwrap();
    // The environment wins over the file for the address; the data directory comes from the file.
    let mut child = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(["serve", "--config"])
        .arg(&config)
        .env("TESSERA_LISTEN", format!("127.0.0.1:{env_port}"))
        .env("TESSERA_ADMIN_CLIENT_ID", "ops")
        .env("TESSERA_ADMIN_CLIENT_SECRET", "given-secret-0123456789abcdef")
        .env("TESSERA_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    while !first.contains("listening") {
        first.clear();
        assert!(stdout.read_line(&mut first).unwrap() > 0, "the server stopped");
        assert!(!first.contains("given-secret-0123456789abcdef"), "a given secret is never printed");
    }
    assert!(first.contains(&format!("listening on http://127.0.0.1:{env_port}")), "{first}");
    assert!(first.contains(&dir.join("data").join("tessera.db").display().to_string()), "{first}");
    assert!(!first.contains("given-secret-0123456789abcdef"), "a given secret is never printed");
    assert!(dir.join("data/tessera.db").exists(), "the SQLite file is created on first start");

    // The admin client from the environment can get a token.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let body: serde_json::Value = runtime.block_on(async {
        reqwest::Client::new()
            .post(format!("http://127.0.0.1:{env_port}/oauth/token"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", "ops"),
                ("client_secret", "given-secret-0123456789abcdef"),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    assert_eq!(body["token_type"], "bearer", "{body}");
    assert_eq!(body["scope"], "sp:scopes:all", "{body}");
    // Ready: the database is at this build's schema and both workers run.
    let ready: serde_json::Value = runtime.block_on(async {
        let answer = reqwest::get(format!("http://127.0.0.1:{env_port}/ready")).await.unwrap();
        assert_eq!(answer.status(), 200);
        answer.json().await.unwrap()
    });
    assert_eq!(
        (&ready["database"], &ready["workers"]),
        (&serde_json::json!("ok"), &serde_json::json!("2 running")),
        "{ready}"
    );
    // The metrics address answers a scraper without a token, and serves nothing else.
    let (metrics, other) = runtime.block_on(async {
        let metrics = reqwest::get(format!("http://127.0.0.1:{metrics_port}/metrics")).await.unwrap();
        assert_eq!(metrics.status(), 200);
        let other = reqwest::get(format!("http://127.0.0.1:{metrics_port}/v3/workflows")).await.unwrap().status();
        (metrics.text().await.unwrap(), other)
    });
    assert!(metrics.contains("tessera_tasks_queued 0"), "{metrics}");
    assert!(metrics.contains("tessera_http_requests_total{route=\"/ready\""), "{metrics}");
    assert_eq!(other, 404);

    // SIGTERM: the server stops accepting, the workers drain, the process exits 0.
    let started = Instant::now();
    unsafe_free_kill(child.id(), "TERM");
    let status = child.wait().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    assert!(status.success(), "{status:?}");
    assert!(rest.contains("Tessera stopped."), "{rest}");
    assert!(started.elapsed() < Duration::from_secs(20));
    std::fs::remove_dir_all(&dir).ok();
}

/// Sends a signal with the `kill` command (no unsafe code needed).
fn unsafe_free_kill(pid: u32, signal: &str) {
    let status = Command::new("kill").args([format!("-{signal}"), pid.to_string()]).status().unwrap();
    assert!(status.success());
}

#[test]
fn a_bad_config_is_refused_with_the_reason() {
    let dir = temp_dir("bad");
    let config = dir.join("tessera.toml");
    std::fs::write(&config, "listen = \"127.0.0.1:1\"\nwokers = 2\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_tessera")).args(["serve", "--config"]).arg(&config).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("is not a valid Tessera config") && stderr.contains("wokers"), "{stderr}");
    let output = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(["serve", "--database", "mysql://x:secret@h/db"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("start it with sqlite:// or postgres://") && !stderr.contains("secret"), "{stderr}");
    // The audit log is kept longest; a retention that says otherwise is refused, in serve and purge.
    std::fs::write(&config, "[retention]\nexecutions = \"400d\"\naudit = \"30d\"\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_tessera")).args(["serve", "--config"]).arg(&config).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("audit is kept 30d but executions 400d: keep the audit log longest"), "{stderr}");
    let output = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(["purge", "--audit", "never", "--outbox", "soon", "--data-dir"])
        .arg(dir.join("data"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("retention.outbox: `soon` is not a duration such as 90d, or never"), "{stderr}");
    let output = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(["purge", "--data-dir"])
        .arg(dir.join("data"))
        .env_remove("TESSERA_SECRET_KEY")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.starts_with("Purged 0 executions"), "{stdout}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn smtp_settings_come_from_the_file_and_the_environment_and_are_checked_at_start() {
    let dir = temp_dir("smtp");
    let config = dir.join("tessera.toml");
    let data_dir = dir.join("data");
    std::fs::write(&config, "[smtp]\nhost = \"mail.example.com\"\ntls = \"ssl\"\npassword = \"file-secret\"\n")
        .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(["serve", "--config"])
        .arg(&config)
        .env_remove("TESSERA_SMTP_TLS")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("`ssl` is not one of none, starttls, tls"), "{stderr}");
    assert!(!stderr.contains("file-secret"), "{stderr}");

    // The environment wins over the file: the file's sender is valid, the variable's is not.
    std::fs::write(
        &config,
        format!(
            "data_dir = \"{}\"\n[smtp]\nfrom = \"ops@example.com\"\ntls = \"starttls\"\npassword = \"file-secret\"\n",
            data_dir.display()
        ),
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(["serve", "--config"])
        .arg(&config)
        .env("TESSERA_SMTP_FROM", "not-an-address")
        .env("TESSERA_SMTP_PASSWORD", "env-secret")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("the sender `not-an-address` is not a valid email address"), "{stderr}");
    assert!(!stderr.contains("secret"), "{stderr}");
    let output = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(["serve", "--config"])
        .arg(&config)
        .env("TESSERA_SMTP_PORT", "smtp")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("TESSERA_SMTP_PORT: `smtp` is not a port number"), "{stderr}");
    assert!(!data_dir.exists(), "a refused config opens no database");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_client_id_with_line_breaks_and_escapes_cannot_forge_log_lines() {
    let dir = temp_dir("log");
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(dir.join("data"))
        .env("TESSERA_LOG", "info")
        .env("TESSERA_ADMIN_CLIENT_ID", "log-admin")
        .env("TESSERA_ADMIN_CLIENT_SECRET", "log-admin-secret-0123456789")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while !line.contains("listening") {
        line.clear();
        assert!(stdout.read_line(&mut line).unwrap() > 0, "the server stopped");
    }
    let forged = "evil\n2026-01-01T00:00:00Z  INFO admin signed in \u{1b}[31m";
    let status = reqwest::blocking::Client::new()
        .post(format!("http://127.0.0.1:{port}/oauth/token"))
        .form(&[("grant_type", "client_credentials"), ("client_id", forged), ("client_secret", "x")])
        .send()
        .unwrap()
        .status();
    assert_eq!(status, 401);
    let mut logged = Vec::new();
    loop {
        line.clear();
        assert!(stdout.read_line(&mut line).unwrap() > 0, "the server stopped: {logged:?}");
        logged.push(line.clone());
        if line.contains("token refused") {
            break;
        }
    }
    assert!(line.contains("evil\\n2026-01-01T00:00:00Z  INFO admin signed in \\x1b[31m"), "escaped: {line}");
    assert!(!logged.iter().any(|l| l.starts_with("2026-01-01T00:00:00Z")), "no forged line: {logged:?}");
    assert!(!logged.iter().any(|l| l.contains('\u{1b}')), "no terminal escapes: {logged:?}");

    // A file whose first row is a person's record, not a header: the run fails saying so on its
    // record, and the log carries nothing of the file.
    let http = reqwest::blocking::Client::new();
    let token: serde_json::Value = http
        .post(format!("http://127.0.0.1:{port}/oauth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "log-admin"),
            ("client_secret", "log-admin-secret-0123456789"),
        ])
        .send()
        .unwrap()
        .json()
        .unwrap();
    let token = token["access_token"].as_str().unwrap();
    let source: serde_json::Value = http
        .post(format!("http://127.0.0.1:{port}/v3/sources"))
        .bearer_auth(token)
        .json(&serde_json::json!({"name": "HR", "connector": "delimited-file", "connectorAttributes": {"identityAttribute": "id"}}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let reply = http
        .post(format!("http://127.0.0.1:{port}/v3/sources/{}/load-accounts", source["id"].as_str().unwrap()))
        .bearer_auth(token)
        .header("content-type", "text/csv")
        .body("grace.hopper@example.com,grace.hopper@example.com\nx,y\n")
        .send()
        .unwrap();
    assert_eq!(reply.status(), 202);
    loop {
        line.clear();
        assert!(stdout.read_line(&mut line).unwrap() > 0, "the server stopped");
        assert!(!line.contains("grace.hopper"), "the file's content reached the log: {line}");
        if line.contains("aggregation failed") {
            break;
        }
    }
    unsafe_free_kill(child.id(), "TERM");
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    assert!(child.wait().unwrap().success());
    std::fs::remove_dir_all(&dir).ok();
}

/// A SIGTERM or Ctrl-C sent the moment "listening" is printed (as a supervisor or a script does)
/// drains the server to a clean exit: the handlers are in place before the line appears.
#[test]
fn a_signal_right_after_listening_drains_rather_than_kills() {
    let dir = temp_dir("early-signal");
    for (round, signal) in ["TERM", "INT", "TERM", "INT", "TERM"].into_iter().enumerate() {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tessera"))
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env("TESSERA_DATA_DIR", dir.join("data"))
            .env("TESSERA_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        while !line.contains("listening") {
            line.clear();
            assert!(stdout.read_line(&mut line).unwrap() > 0, "the server stopped");
        }
        unsafe_free_kill(child.id(), signal);
        let status = child.wait().unwrap();
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
        assert!(status.success(), "round {round}, SIG{signal}: {status:?}");
        assert!(rest.contains("Tessera stopped."), "round {round}, SIG{signal}: {rest}");
    }
    std::fs::remove_dir_all(&dir).ok();
}
