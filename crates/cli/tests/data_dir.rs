//! The data directory's everyday failures, each one message naming the path and the fix: a second
//! `tessera serve` on one SQLite data directory refused (naming the first's process) while the
//! commands that work beside a server keep working; a path that is a file; a directory this account
//! cannot create or write; a database it cannot write. The account cases run the binary as `nobody`
//! (`setpriv`), since root writes through permission bits.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tessera-datadir-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    set_mode(&dir, 0o755);
    dir
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn tessera() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tessera"));
    command.env_remove("TESSERA_SECRET_KEY").env("TESSERA_LOG", "warn");
    command
}

/// `tessera serve` on `data` as `nobody`, expected to stop at once; its output.
fn serve_as_nobody(data: &Path) -> Output {
    let port = free_port().to_string();
    Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", env!("CARGO_BIN_EXE_tessera"), "serve"])
        .arg("--data-dir")
        .arg(data)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env_remove("TESSERA_SECRET_KEY")
        .output()
        .unwrap()
}

/// The one error line a failed start printed, after checking it is the only one.
fn one_error(output: &Output) -> String {
    assert!(!output.status.success(), "the start should fail");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let errors: Vec<&str> = stderr.lines().filter(|line| line.starts_with("error")).collect();
    assert_eq!(errors.len(), 1, "one message: {stderr}");
    assert!(!stderr.contains("unable to open database file") && !stderr.contains("pool timed out"), "{stderr}");
    errors[0].to_owned()
}

#[test]
fn a_second_server_on_one_sqlite_directory_is_refused_and_commands_work_beside_the_first() {
    let dir = temp_dir("lock");
    let data = dir.join("data");
    let mut first = tessera()
        .args(["serve", "--data-dir"])
        .arg(&data)
        .args(["--listen", &format!("127.0.0.1:{}", free_port())])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(first.stdout.take().unwrap());
    let mut printed = String::new();
    while !printed.contains("listening") {
        assert!(stdout.read_line(&mut printed).unwrap() > 0, "the server stopped: {printed}");
    }
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));

    let second = tessera()
        .args(["serve", "--data-dir"])
        .arg(&data)
        .args(["--listen", &format!("127.0.0.1:{}", free_port())])
        .output()
        .unwrap();
    let message = one_error(&second);
    assert!(message.contains(&format!("another `tessera serve` (process {})", first.id())), "{message}");
    assert!(message.contains("--data-dir"), "{message}");
    assert!(String::from_utf8_lossy(&second.stdout).is_empty(), "nothing was created or printed");

    // The commands that work beside a server still do.
    let clients = tessera().args(["clients", "list", "--data-dir"]).arg(&data).output().unwrap();
    assert!(clients.status.success(), "{}", String::from_utf8_lossy(&clients.stderr));

    // Once the first has stopped, its directory serves again.
    Command::new("kill").args(["-TERM", &first.id().to_string()]).status().unwrap();
    assert!(first.wait().unwrap().success());
    let mut again = tessera()
        .args(["serve", "--data-dir"])
        .arg(&data)
        .args(["--listen", &format!("127.0.0.1:{}", free_port())])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(again.stdout.take().unwrap());
    let mut line = String::new();
    while !line.contains("listening") {
        line.clear();
        assert!(stdout.read_line(&mut line).unwrap() > 0, "the server did not start again");
    }
    // Killed outright, it leaves no lock behind either: the operating system lets go of it.
    again.kill().unwrap();
    again.wait().unwrap();
    let after_kill = tessera()
        .args(["serve", "--data-dir"])
        .arg(&data)
        .args(["--listen", &format!("127.0.0.1:{}", free_port())])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = after_kill;
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while !line.contains("listening") {
        line.clear();
        assert!(stdout.read_line(&mut line).unwrap() > 0, "the server did not start after a kill");
    }
    child.kill().unwrap();
    child.wait().unwrap();
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_data_directory_that_cannot_be_used_gets_one_message_with_the_fix() {
    let dir = temp_dir("unusable");

    // A file where the directory should be.
    let file = dir.join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let output = tessera()
        .args(["serve", "--data-dir"])
        .arg(&file)
        .args(["--listen", &format!("127.0.0.1:{}", free_port())])
        .output()
        .unwrap();
    let message = one_error(&output);
    assert!(message.contains(&format!("{} is a file, not a directory", file.display())), "{message}");
    assert!(message.contains("--data-dir"), "{message}");

    if !running_as_root() {
        assert!(std::env::var_os("CI").is_none(), "CI runs the tests as root, which can act as another account");
        eprintln!("not root: the cases for another account's directory are not run here");
        return;
    }
    // A parent this account cannot write: the directory cannot be made.
    let parent = dir.join("root-only");
    std::fs::create_dir(&parent).unwrap();
    set_mode(&parent, 0o755);
    let message = one_error(&serve_as_nobody(&parent.join("data")));
    assert!(
        message.contains(&format!("cannot create the data directory {}", parent.join("data").display())),
        "{message}"
    );
    assert!(!parent.join("data").exists());

    // A directory that is someone else's.
    let theirs = dir.join("theirs");
    std::fs::create_dir(&theirs).unwrap();
    set_mode(&theirs, 0o755);
    let message = one_error(&serve_as_nobody(&theirs));
    assert!(message.contains(&format!("cannot write in the data directory {}", theirs.display())), "{message}");
    assert!(message.contains("the account that owns it"), "{message}");

    // This account's directory holding a database it cannot write.
    let mine = dir.join("mine");
    std::fs::create_dir(&mine).unwrap();
    std::fs::write(mine.join("tessera.db"), "").unwrap();
    set_mode(&mine.join("tessera.db"), 0o644);
    Command::new("chown").args(["65534:65534"]).arg(&mine).status().unwrap();
    set_mode(&mine, 0o700);
    let message = one_error(&serve_as_nobody(&mine));
    assert!(
        message.contains(&format!("the database {} cannot be written", mine.join("tessera.db").display())),
        "{message}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

fn running_as_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}
