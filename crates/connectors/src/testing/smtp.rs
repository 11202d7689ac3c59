//! A real SMTP server for tests: aiosmtpd on a free loopback port, delivering into its own maildir,
//! killed (and its directory removed) on drop. Recipients whose local part starts with `reject` are
//! refused (550) and those starting with `later` deferred (451), so both reply classes come from a
//! real server. Messages are read back with Python's own mail parser.

use std::collections::BTreeMap;
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

const INSTALL: &str = "install it with `apt-get install -y --no-install-recommends python3-aiosmtpd` \
                       (scripts/test does), or point TESSERA_TEST_PYTHON at a python3 that has `aiosmtpd`";

/// aiosmtpd's Mailbox handler with the refusing and deferring recipients.
const HANDLER: &str = r#"
from aiosmtpd.handlers import Mailbox

class Picky(Mailbox):
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@")[0]
        if local.startswith("reject"):
            return "550 5.1.1 mailbox unavailable"
        if local.startswith("later"):
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"
"#;

/// Prints the maildir's messages as JSON: headers decoded, plain and HTML parts with their transfer
/// encoding undone.
const READER: &str = r#"
import email, json, mailbox, sys
from email import policy
out = []
box = mailbox.Maildir(sys.argv[1], factory=None, create=False)
for key in sorted(box.keys()):
    msg = email.message_from_bytes(box.get_bytes(key), policy=policy.default)
    headers = {}
    for name, value in msg.items():
        headers.setdefault(name.lower(), []).append(str(value))
    parts = {}
    for kind in ("plain", "html"):
        part = msg.get_body(preferencelist=(kind,))
        parts[kind] = part.get_content() if part is not None else None
    out.append({"headers": headers, "plain": parts["plain"], "html": parts["html"]})
print(json.dumps(out))
"#;

/// A python3 that can import aiosmtpd: `TESSERA_TEST_PYTHON`, Debian's, or the one on PATH.
pub fn python() -> &'static str {
    static PYTHON: OnceLock<String> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let candidates: Vec<String> = std::env::var("TESSERA_TEST_PYTHON")
            .into_iter()
            .chain(["/usr/bin/python3".into(), "python3".into()])
            .collect();
        for candidate in &candidates {
            let status = Command::new(candidate)
                .args(["-c", "import aiosmtpd"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            if status.is_ok_and(|status| status.success()) {
                return candidate.clone();
            }
        }
        panic!("these tests need a real SMTP server, aiosmtpd, and none of {candidates:?} can import it: {INSTALL}")
    })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// One delivered message.
#[derive(Debug, Clone, PartialEq)]
pub struct Mail {
    /// Lower-cased header names, each with its values in order.
    pub headers: BTreeMap<String, Vec<String>>,
    pub plain: Option<String>,
    pub html: Option<String>,
}

impl Mail {
    /// The header's values joined with `, `, or "" when it is absent.
    pub fn header(&self, name: &str) -> String {
        self.headers.get(&name.to_ascii_lowercase()).map(|values| values.join(", ")).unwrap_or_default()
    }

    fn from_json(value: &Value) -> Mail {
        let headers = value["headers"]
            .as_object()
            .map(|h| {
                h.iter()
                    .map(|(name, values)| {
                        let values = values.as_array().map(|v| v.iter().filter_map(|s| s.as_str()).map(str::to_owned));
                        (name.clone(), values.map(Iterator::collect).unwrap_or_default())
                    })
                    .collect()
            })
            .unwrap_or_default();
        let text = |key: &str| value[key].as_str().map(str::to_owned);
        Mail { headers, plain: text("plain"), html: text("html") }
    }
}

/// An aiosmtpd process on loopback delivering into its own maildir; killed when dropped.
#[derive(Debug)]
pub struct SmtpServer {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl SmtpServer {
    /// Starts the server and waits until it accepts connections.
    pub fn start() -> Self {
        static STARTED: AtomicU32 = AtomicU32::new(0);
        let python = python();
        let n = STARTED.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("tessera-smtp-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the SMTP server's directory");
        std::fs::write(dir.join("tessera_test_smtp.py"), HANDLER).expect("write the SMTP handler");
        // The port is free when chosen but may be taken before the server binds it: then try another.
        for _ in 0..5 {
            let port = free_port();
            let log = std::fs::File::create(dir.join("server.log")).expect("create the SMTP server's log");
            let mut child = Command::new(python)
                .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}"), "-c", "tessera_test_smtp.Picky"])
                .arg(dir.join("maildir"))
                .env("PYTHONPATH", &dir)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap_or_else(|error| panic!("cannot run {python} -m aiosmtpd: {error}; {INSTALL}"));
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                if let Ok(Some(status)) = child.try_wait() {
                    let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
                    if log.contains("in use") {
                        break;
                    }
                    panic!("aiosmtpd exited ({status}) before accepting connections:\n{log}\n{INSTALL}");
                }
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Self { child, port, dir };
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    panic!("aiosmtpd did not accept connections on 127.0.0.1:{port} within 20s");
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        panic!("aiosmtpd found no free port on 127.0.0.1")
    }

    /// The port it listens on, on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Every message delivered so far, oldest first.
    pub fn mails(&self) -> Vec<Mail> {
        let maildir = self.dir.join("maildir");
        let output =
            Command::new(python()).args(["-c", READER]).arg(&maildir).output().expect("run the maildir reader");
        assert!(output.status.success(), "reading {}: {}", maildir.display(), String::from_utf8_lossy(&output.stderr));
        let parsed: Value = serde_json::from_slice(&output.stdout).expect("the reader prints JSON");
        parsed.as_array().map(|mails| mails.iter().map(Mail::from_json).collect()).unwrap_or_default()
    }

    /// Waits up to `within` for a message `matches` accepts, and returns it.
    pub fn wait_for(&self, within: Duration, matches: impl Fn(&Mail) -> bool) -> Option<Mail> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(mail) = self.mails().into_iter().find(|m| matches(m)) {
                return Some(mail);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
