//! Every corpus workflow runs to an end state under `tessera workflow test`, with the trigger
//! input and mocks kept in `tests/corpus/<dir>/<workflow>/`, and its history matches the snapshot
//! `expected.txt` there. `UPDATE_EXPECT=1 cargo test -p tessera-cli --test corpus` rewrites the
//! snapshots after a deliberate change.

// A test that cannot go on should stop loudly, helpers included.
#![allow(clippy::unwrap_used)]

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

fn corpus_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/isc-colab")
}

fn fixtures_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

/// Corpus files that are workflows (form definitions sit beside them), relative to the corpus.
fn corpus_workflows() -> Vec<PathBuf> {
    let root = corpus_root();
    let mut out = Vec::new();
    for dir in std::fs::read_dir(&root).expect("shared/corpus beside the checkout").flatten() {
        for file in std::fs::read_dir(dir.path()).into_iter().flatten().flatten() {
            let path = file.path();
            let is_workflow = path.extension().is_some_and(|e| e == "json")
                && std::fs::read_to_string(&path).is_ok_and(|t| t.contains("\"definition\""));
            if is_workflow {
                out.push(path.strip_prefix(&root).unwrap().to_path_buf());
            }
        }
    }
    out.sort();
    out
}

fn tessera<S: AsRef<OsStr>>(args: &[S]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_tessera")).args(args).output().expect("run tessera");
    let code = output.status.code().unwrap_or(-1);
    (code, String::from_utf8_lossy(&output.stdout).into_owned(), String::from_utf8_lossy(&output.stderr).into_owned())
}

#[test]
fn every_corpus_workflow_runs_to_its_snapshot() {
    let workflows = corpus_workflows();
    assert_eq!(workflows.len(), 28, "the corpus has 28 workflows");
    let update = std::env::var_os("UPDATE_EXPECT").is_some();
    let mut problems = Vec::new();
    for relative in &workflows {
        let fixture = fixtures_root().join(relative.with_extension(""));
        let (input, mocks, expected) =
            (fixture.join("input.json"), fixture.join("mocks.json"), fixture.join("expected.txt"));
        if !input.exists() || !mocks.exists() {
            problems.push(format!("{}: no input.json / mocks.json in {}", relative.display(), fixture.display()));
            continue;
        }
        let workflow = corpus_root().join(relative);
        let (code, stdout, stderr) = tessera(&[
            OsStr::new("workflow"),
            OsStr::new("test"),
            workflow.as_os_str(),
            OsStr::new("--input"),
            input.as_os_str(),
            OsStr::new("--mocks"),
            mocks.as_os_str(),
            OsStr::new("--now"),
            OsStr::new("2024-01-01T00:00:00Z"),
        ]);
        let last = stdout.lines().last().unwrap_or_default();
        let ended = last.starts_with("Result: SUCCESS") || last.starts_with("Result: FAILURE");
        let expected_code = if last.starts_with("Result: SUCCESS") { 0 } else { 1 };
        if !ended || !stderr.is_empty() || code != expected_code {
            problems.push(format!("{}: did not reach an end step (exit {code}): {last}\n{stderr}", relative.display()));
            continue;
        }
        if update {
            std::fs::write(&expected, &stdout).unwrap();
        } else {
            match std::fs::read_to_string(&expected) {
                Ok(snapshot) if snapshot == stdout => {}
                Ok(snapshot) => problems.push(format!(
                    "{}: history differs from {}\n--- expected\n{snapshot}\n--- actual\n{stdout}",
                    relative.display(),
                    expected.display()
                )),
                Err(_) => {
                    problems.push(format!("{}: no snapshot; run with UPDATE_EXPECT=1 to write it", relative.display()))
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

#[test]
fn validate_reports_every_error_with_file_and_pointer() {
    let dir = std::env::temp_dir().join(format!("tessera-validate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.json");
    std::fs::write(
        &bad,
        r#"{"name": "Bad", "definition": {"start": "Nope", "steps": {
            "A": {"type": "action", "actionId": "sp:http", "attributes": {"url": "https://x", "method": "fetch"}, "nextStep": "Gone"},
            "End": {"type": "success"}}}}"#,
    )
    .unwrap();
    let good = corpus_root().join("temporary-admin-access/TemporaryAdminAccess20240305.json");
    let (code, stdout, _) =
        tessera(&[OsStr::new("workflow"), OsStr::new("validate"), good.as_os_str(), bad.as_os_str()]);
    assert_eq!(code, 1, "{stdout}");
    let bad_name = bad.display().to_string();
    for expected in [
        format!("{bad_name}: error[unknown-step] at /definition/start: `start` names `Nope`, which is not a step"),
        format!("{bad_name}: error[wrong-type] at /definition/steps/A/attributes/method"),
        format!("{bad_name}: error[unknown-step] at /definition/steps/A/nextStep"),
        format!("{bad_name}: invalid (3 errors)"),
        format!("{}: valid", good.display()),
    ] {
        assert!(stdout.contains(&expected), "missing `{expected}` in:\n{stdout}");
    }
    let (code, stdout, _) = tessera(&[
        OsStr::new("workflow"),
        OsStr::new("validate"),
        OsStr::new("--format"),
        OsStr::new("json"),
        bad.as_os_str(),
    ]);
    assert_eq!(code, 1);
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["valid"], false);
    let pointers: Vec<&str> =
        report["files"][0]["diagnostics"].as_array().unwrap().iter().map(|d| d["pointer"].as_str().unwrap()).collect();
    assert_eq!(
        pointers,
        ["/definition/start", "/definition/steps/A/nextStep", "/definition/steps/A/attributes/method"]
    );
    let (code, _, _) = tessera(&[OsStr::new("workflow"), OsStr::new("validate"), good.as_os_str()]);
    assert_eq!(code, 0);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn an_unmocked_step_names_itself_and_how_to_mock_it() {
    let workflow = corpus_root().join("temporary-admin-access/TemporaryAdminAccess20240305.json");
    let dir = std::env::temp_dir().join(format!("tessera-unmocked-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("input.json");
    std::fs::write(&input, r#"{"requestedFor": {"id": "2c9180835d2e5168015d32f890ca1581"}}"#).unwrap();
    let (code, stdout, _) = tessera(&[
        OsStr::new("workflow"),
        OsStr::new("test"),
        workflow.as_os_str(),
        OsStr::new("--input"),
        input.as_os_str(),
    ]);
    assert_eq!(code, 1);
    let last = stdout.lines().last().unwrap();
    assert!(last.contains("step `Get Identity` calls `sp:get-identity`, which has no mock"), "{last}");
    assert!(last.contains(r#"add "Get Identity": {"output": {…}} under "steps""#), "{last}");
    std::fs::remove_dir_all(&dir).ok();
}
