//! A property-based fuzzer driven by `/openapi.json` — PyPI's schemathesis, its coverage, fuzzing and
//! stateful phases with a fixed seed and a bounded number of cases per operation — runs against a
//! fresh `tessera serve --demo` as its administrator, and finds no 5xx and no answer the document does
//! not allow. Left out: SCIM's `/Me` and `/Bulk` (501 by design, RFC 7644 §3.11 and §3.7), the token
//! endpoint, and the API clients' routes (which would revoke the fuzzer's own token).

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

mod support;
use support::serve_demo;

fn schemathesis() -> PathBuf {
    if let Some(path) = std::env::var_os("TESSERA_TEST_SCHEMATHESIS").filter(|p| !p.is_empty()) {
        return PathBuf::from(path);
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/scim-venv/bin/schemathesis");
    assert!(
        path.is_file(),
        "{} does not exist: this test needs PyPI's schemathesis; run scripts/test once, or \
         `target/scim-venv/bin/pip install schemathesis==4.32.5`, or set TESSERA_TEST_SCHEMATHESIS",
        path.display()
    );
    path
}

#[test]
fn schemathesis_finds_no_server_error_and_no_answer_the_document_forbids() {
    let dir = std::env::temp_dir().join(format!("tessera-fuzz-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (id, secret) = ("fuzz-admin", "fuzz-admin-secret-0123456789");
    let (_server, port, _) = serve_demo(&dir.join("data"), (id, secret), &[]);
    let base = format!("http://127.0.0.1:{port}");

    let answer = Command::new("curl")
        .args(["-s", "-d", "grant_type=client_credentials", "-d", &format!("client_id={id}")])
        .args(["-d", &format!("client_secret={secret}"), &format!("{base}/oauth/token")])
        .output()
        .unwrap();
    let answer: serde_json::Value = serde_json::from_slice(&answer.stdout).unwrap();
    let token = answer["access_token"].as_str().unwrap().to_owned();

    let output = Command::new(schemathesis())
        .args(["run", &format!("{base}/openapi.json")])
        .args(["--max-examples", "10", "--seed", "1", "--workers", "1"])
        .args(["--phases", "coverage,fuzzing,stateful"])
        .args(["--checks", "not_a_server_error,status_code_conformance,content_type_conformance"])
        .args(["--exclude-path-regex", "^/scim/v2/(Me|Bulk)$|oauth-clients|^/oauth/token$"])
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .env("NO_COLOR", "1")
        .env("SCHEMATHESIS_TELEMETRY", "false")
        // Its example cache (`.schemathesis/`) goes to the temporary directory, not the checkout.
        .current_dir(std::env::temp_dir())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "schemathesis found failures:\n{text}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let tested = text.lines().find(|l| l.trim_start().starts_with("Tested:")).unwrap_or_default();
    let count: usize = tested.trim().trim_start_matches("Tested:").trim().parse().unwrap_or(0);
    assert!(count > 200, "schemathesis tested {count} operations:\n{text}");
    std::fs::remove_dir_all(&dir).ok();
}
