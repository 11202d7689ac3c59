//! The rules ARCHITECTURE.md states, checked: dependencies point one way, every module says what it
//! owns in a `//!` line, and no module grows past about 800 lines.

// A test that cannot go on should stop loudly, helpers included.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

/// The crates in dependency order: each may depend only on crates before it.
const ORDER: [&str; 7] = ["model", "flow", "store", "connectors", "engine", "server", "cli"];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn dependencies_point_one_way() {
    for (position, name) in ORDER.iter().enumerate() {
        let manifest = root().join("crates").join(name).join("Cargo.toml");
        let Ok(text) = std::fs::read_to_string(&manifest) else {
            continue;
        };
        for later in &ORDER[position + 1..] {
            assert!(!text.contains(&format!("tessera-{later}")), "crates/{name} must not depend on tessera-{later}");
        }
    }
    let flow = std::fs::read_to_string(root().join("crates/flow/Cargo.toml")).unwrap();
    for edge in ["axum", "sqlx", "hyper", "reqwest", "tokio"] {
        assert!(!flow.contains(edge), "the language crate knows no I/O: it must not depend on {edge}");
    }
}

#[test]
fn every_module_says_what_it_owns_and_stays_small() {
    let mut files = Vec::new();
    for crate_dir in std::fs::read_dir(root().join("crates")).unwrap().flatten() {
        rust_files(&crate_dir.path().join("src"), &mut files);
        rust_files(&crate_dir.path().join("tests"), &mut files);
    }
    assert!(files.len() > 10, "found the sources");
    let mut problems = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        if !text.starts_with("//!") {
            problems.push(format!("{}: does not start with a `//!` line", file.display()));
        }
        let lines = text.lines().count();
        if lines > 850 {
            problems.push(format!("{}: {lines} lines; split it (about 800 at most)", file.display()));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
