//! What the end-to-end tests of the demo share: free ports, children killed on drop, and a real SMTP
//! server (aiosmtpd) delivering into a maildir whose messages the tests read.

#![allow(dead_code, clippy::unwrap_used)] // each test binary uses its own share of these

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Kills the child when dropped, so a failing test leaves no server behind.
pub(crate) struct Process(pub(crate) Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A python3 that can import aiosmtpd (scripts/test installs Debian's).
pub(crate) fn python() -> String {
    for candidate in ["/usr/bin/python3", "python3"] {
        let ok = Command::new(candidate).args(["-c", "import aiosmtpd"]).stderr(Stdio::null()).status();
        if ok.is_ok_and(|s| s.success()) {
            return candidate.to_owned();
        }
    }
    panic!("this test needs aiosmtpd: apt-get install -y python3-aiosmtpd (scripts/test does)")
}

/// aiosmtpd delivering into a maildir under `dir`.
pub(crate) fn smtp(dir: &Path) -> (Process, u16) {
    let port = free_port();
    let child = Command::new(python())
        .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}"), "-c", "aiosmtpd.handlers.Mailbox"])
        .arg(dir.join("maildir"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "aiosmtpd did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    (Process(child), port)
}

/// `tessera serve --demo` on a free loopback port with its data in `data`, the administrator client
/// `admin` (id, secret) and the extra environment `env`; returns the server (killed on drop), its
/// port, and what it printed up to "listening" (the rest is read and dropped).
pub(crate) fn serve_demo(data: &Path, admin: (&str, &str), env: &[(&str, String)]) -> (Process, u16, String) {
    let port = free_port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_tessera"));
    command
        .args(["serve", "--demo", "--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(data)
        .env_remove("TESSERA_SECRET_KEY")
        .env("TESSERA_ADMIN_CLIENT_ID", admin.0)
        .env("TESSERA_ADMIN_CLIENT_SECRET", admin.1)
        .env("TESSERA_LOG", "warn")
        .stdout(Stdio::piped());
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command.spawn().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let server = Process(child);
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        assert!(stdout.read_line(&mut line).unwrap() > 0, "the demo server stopped: {seen}");
        seen.push_str(&line);
        if line.contains("listening on") {
            break;
        }
    }
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    (server, port, seen)
}

/// (To, Subject) of every message delivered so far.
pub(crate) fn mail(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for sub in ["new", "cur"] {
        let Ok(entries) = std::fs::read_dir(dir.join("maildir").join(sub)) else { continue };
        for entry in entries {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            let header = |name: &str| {
                text.lines().find_map(|l| l.strip_prefix(&format!("{name}: "))).map(str::to_owned).unwrap_or_default()
            };
            out.push((header("To"), header("Subject")));
        }
    }
    out.sort();
    out
}
