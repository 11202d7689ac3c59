//! What the end-to-end tests of the demo share: free ports, children killed on drop, and a real SMTP
//! server (aiosmtpd) delivering into a maildir whose messages the tests read.

#![allow(dead_code, clippy::unwrap_used)] // each test binary uses its own share of these

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
