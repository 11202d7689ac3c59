//! The README's tour runs as written: `examples/tour.sh` against a fresh `tessera serve --demo` with
//! a real SMTP server, every step succeeding and showing what the README says it shows, the mail
//! arriving; and every step the README shows is the script's, word for word.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

mod support;
use support::{mail, serve_demo, smtp};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The script's steps: what lies between `# tour:N` and `# tour:end`.
fn steps(script: &str) -> Vec<(String, String)> {
    let mut steps = Vec::new();
    let mut current: Option<(String, Vec<&str>)> = None;
    for line in script.lines() {
        if let Some(number) = line.strip_prefix("# tour:") {
            if number == "end" {
                let (name, lines) = current.take().unwrap();
                steps.push((name, lines.join("\n")));
            } else {
                current = Some((number.to_owned(), Vec::new()));
            }
        } else if let Some((_, lines)) = current.as_mut() {
            lines.push(line);
        }
    }
    steps
}

#[test]
fn the_readme_shows_every_step_of_the_script() {
    let script = std::fs::read_to_string(root().join("examples/tour.sh")).unwrap();
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let steps = steps(&script);
    assert_eq!(steps.len(), 8, "the preamble and seven steps");
    for (name, text) in steps {
        assert!(
            readme.contains(&format!("```sh\n{text}\n```")),
            "the README's step {name} differs from examples/tour.sh"
        );
    }
}

#[test]
fn the_tour_runs_against_a_fresh_demo() {
    let dir = std::env::temp_dir().join(format!("tessera-tour-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (_smtp, smtp_port) = smtp(&dir);
    let data = dir.join("data");
    let (id, secret) = ("tour-admin", "tour-admin-secret-0123456789");
    let smtp_env = [("TESSERA_SMTP_HOST", "127.0.0.1".to_owned()), ("TESSERA_SMTP_PORT", smtp_port.to_string())];
    let (_server, port, _) = serve_demo(&data, (id, secret), &smtp_env);

    let output = Command::new("bash")
        .arg(root().join("examples/tour.sh"))
        .env("TESSERA", env!("CARGO_BIN_EXE_tessera"))
        .env("API", format!("http://127.0.0.1:{port}"))
        .env("DATA", &data)
        .env("CLIENT_ID", id)
        .env("CLIENT_SECRET", secret)
        .output()
        .unwrap();
    let (out, err) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "the tour failed:\n{out}\n{err}");
    for shown in [
        "waited 4d5h",
        "examples/broken.json: invalid (2 errors)",
        r#"{"step":"Wait","action":"sp:sleep","outcome":"waited"}"#,
        r#"{"name":"Hello world","enabled":true,"trigger":"EXTERNAL"}"#,
        "Workflow was executed successfully.",
        "the trigger token reading workflows: 403",
        r#""workflowId":"demo-mover-notify","status":"Completed"}],"reason":null}"#,
        r#"{"completionStatus":"SUCCESS","#,
        r#"{"name":"Ada Lovelace","department":"Engineering","lifecycleState":"active"}"#,
        r#"{"name":"Carla Tanaka","department":"Marketing","lifecycleState":"active"}"#,
        r#"{"name":"Grace Nakamura","department":"Sales","lifecycleState":"terminated"}"#,
        r#"{"workflow":"demo-joiner-welcome","latest":"Completed"}"#,
        r#"{"workflow":"demo-leaver-notify","latest":"Completed"}"#,
        r#"{"source":"GitHub","operation":"Create","status":"PENDING"}"#,
        r#"{"itemState":"APPROVED""#,
        "Grace Nakamura is inactive (lifecycle state `terminated`)",
        "The tour is done.",
    ] {
        assert!(out.contains(shown), "the tour should show {shown}:\n{out}");
    }
    assert!(!out.contains("\"errorCode\":\"not-found\""), "{out}");
    // The mail: Lena's new title, Ada's manager Priya, Carla's move, Grace's manager Elena.
    let to: Vec<String> = mail(&dir).into_iter().map(|(to, _)| to).collect();
    for person in ["lena.silva", "priya.nguyen", "carla.tanaka", "elena.jensen"] {
        assert!(to.iter().any(|to| to.contains(person)), "no mail to {person}: {to:?}");
    }
    std::fs::remove_dir_all(&dir).ok();
}
