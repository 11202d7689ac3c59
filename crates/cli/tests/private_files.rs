//! The data directory is private whatever the umask: `tessera serve --demo` under `umask 022` makes
//! the directory 0700 and every file in it 0600 (the database with its WAL and SHM, the key, imports,
//! uploads); an install an older Tessera left open is tightened at start with a line saying so; a
//! directory that cannot be tightened stops the start, naming the path. And the token signing key is
//! nowhere in the database in plain text.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use tessera_store::{SecurityStore, Store};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tessera-private-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777
}

/// Every path under `dir` (itself included) with its mode.
fn modes(dir: &Path) -> Vec<(PathBuf, u32, bool)> {
    let mut out = vec![(dir.to_owned(), mode(dir), true)];
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(modes(&path));
        } else {
            out.push((path.clone(), mode(&path), false));
        }
    }
    out
}

fn assert_private(dir: &Path) {
    for (path, mode, is_dir) in modes(dir) {
        let wanted = if is_dir { 0o700 } else { 0o600 };
        assert_eq!(mode, wanted, "{} is {mode:04o}", path.display());
    }
}

#[test]
fn serve_makes_the_data_directory_private_whatever_the_umask() {
    let dir = temp_dir("serve");
    let data = dir.join("data");
    let port = free_port();
    let script = format!(
        "umask 022; exec '{}' serve --demo --data-dir '{}' --listen 127.0.0.1:{port}",
        env!("CARGO_BIN_EXE_tessera"),
        data.display()
    );
    let mut child = Command::new("sh")
        .args(["-c", &script])
        .env("TESSERA_ADMIN_CLIENT_ID", "files-admin")
        .env("TESSERA_ADMIN_CLIENT_SECRET", "files-admin-secret-0123456789")
        .env_remove("TESSERA_SECRET_KEY")
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
    // An upload makes the uploads directory; the demo made its HR file and the database its WAL.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        let token: serde_json::Value = http
            .post(format!("{base}/oauth/token"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", "files-admin"),
                ("client_secret", "files-admin-secret-0123456789"),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = token["access_token"].as_str().unwrap().to_owned();
        let hr = std::fs::read_to_string(data.join("imports/hr.csv")).unwrap();
        let reply = http
            .post(format!("{base}/v3/sources/demo-source-hr/load-accounts"))
            .bearer_auth(&token)
            .header("content-type", "text/csv")
            .body(hr)
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 202);
    });
    for name in ["tessera.db", "tessera.db-wal", "tessera.db-shm", "secret.key", "imports/hr.csv", "uploads"] {
        assert!(data.join(name).exists(), "{name} exists");
    }
    assert_private(&data);

    // The signing key is sealed: the database alone signs nothing.
    runtime.block_on(async {
        let store = Store::open_data_dir(&data).await.unwrap();
        let mut tx = store.begin().await.unwrap();
        assert_eq!(tx.setting("token-signing-key").await.unwrap(), None, "no plain key");
        let keys = tx.signing_keys().await.unwrap();
        assert_eq!(keys.len(), 1);
        let envelope: serde_json::Value = serde_json::from_str(&keys[0].sealed).unwrap();
        assert!(tessera_store::secrets::is_sealed(&envelope), "{envelope}");
        drop(tx);
        store.close().await;
    });
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(child.wait().unwrap().success());
    assert_private(&data);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn an_open_install_is_tightened_at_start_and_says_so() {
    let dir = temp_dir("open");
    let data = dir.join("data");
    // What an older Tessera left: a world-readable directory, database and imports.
    std::fs::create_dir_all(data.join("imports")).unwrap();
    std::fs::write(data.join("imports/hr.csv"), "id\n").unwrap();
    let first = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(["clients", "list", "--data-dir"])
        .arg(&data)
        .env_remove("TESSERA_SECRET_KEY")
        .output()
        .unwrap();
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    for path in [&data, &data.join("imports")] {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    for file in ["tessera.db", "secret.key", "imports/hr.csv"] {
        std::fs::set_permissions(data.join(file), std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let again = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(["clients", "list", "--data-dir"])
        .arg(&data)
        .env_remove("TESSERA_SECRET_KEY")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(again.status.success(), "{stderr}");
    for path in [data.clone(), data.join("tessera.db"), data.join("secret.key"), data.join("imports/hr.csv")] {
        assert!(stderr.contains(&format!("Made {} private", path.display())), "{}: {stderr}", path.display());
    }
    assert_private(&data);
    std::fs::remove_dir_all(&dir).ok();
}

/// Whether this test runs as root (then it runs Tessera as `nobody` on a directory root owns).
fn is_root() -> bool {
    let output = Command::new("id").arg("-u").output().unwrap();
    String::from_utf8_lossy(&output.stdout).trim() == "0"
}

#[test]
fn a_data_directory_that_cannot_be_made_private_stops_the_start_naming_it() {
    let dir = temp_dir("refused");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (data, output) = if is_root() {
        // Another account's open directory: `nobody` may read and write in it but not change its mode.
        let data = dir.join("data");
        std::fs::create_dir_all(&data).unwrap();
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o777)).unwrap();
        let output = Command::new("runuser")
            .args(["-u", "nobody", "--", env!("CARGO_BIN_EXE_tessera"), "clients", "list", "--data-dir"])
            .arg(&data)
            .env_remove("TESSERA_SECRET_KEY")
            .output()
            .unwrap();
        (data, output)
    } else {
        // A directory root owns and others may read: it cannot be written (said first) nor made private.
        let data = PathBuf::from("/usr/share");
        let output = Command::new(env!("CARGO_BIN_EXE_tessera"))
            .args(["clients", "list", "--data-dir"])
            .arg(&data)
            .env_remove("TESSERA_SECRET_KEY")
            .output()
            .unwrap();
        (data, output)
    };
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    let expected = if is_root() {
        format!("{} is readable by other accounts and cannot be made private", data.display())
    } else {
        format!("cannot write in the data directory {}", data.display())
    };
    assert!(stderr.contains(&expected), "{stderr}");
    assert!(!data.join("tessera.db").exists(), "nothing was created");
    std::fs::remove_dir_all(&dir).ok();
}
