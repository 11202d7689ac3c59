//! The rules ARCHITECTURE.md states, checked: dependencies point one way (in the graph `cargo
//! metadata` resolves, so an indirect or renamed dependency is seen), every module says what it owns in
//! a `//!` line, no module grows past about 800 lines, and no API handler commits a transaction.

// A test that cannot go on should stop loudly, helpers included.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

/// The crates in dependency order: each may depend only on crates before it.
const ORDER: [&str; 8] = ["model", "flow", "store", "connectors", "engine", "governance", "server", "cli"];

/// The store's traits over the governed world, which the runtime (`engine`) must not use: it knows
/// nothing of identities, and reaches them only through the domain it is given.
const GOVERNED: [&str; 12] = [
    "AccessStore",
    "ApprovalConfigStore",
    "CatalogStore",
    "ChangeStore",
    "DelegationStore",
    "IdentityStore",
    "InboxStore",
    "NotificationStore",
    "ProvisioningStore",
    "RequestTypeStore",
    "RequestStore",
    "SodStore",
];

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

/// The resolved dependency graph, from `cargo metadata`: each package id's name, and the ids of what it
/// depends on (every kind: normal, build and dev).
fn graph() -> (std::collections::HashMap<String, String>, std::collections::HashMap<String, Vec<String>>) {
    let output = std::process::Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--locked", "--offline", "--manifest-path"])
        .arg(root().join("Cargo.toml"))
        .output()
        .unwrap();
    assert!(output.status.success(), "cargo metadata: {}", String::from_utf8_lossy(&output.stderr));
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let names = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap().to_owned(), p["name"].as_str().unwrap().to_owned()))
        .collect();
    let edges = metadata["resolve"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|node| {
            let deps = node["deps"].as_array().unwrap().iter().map(|d| d["pkg"].as_str().unwrap().to_owned());
            (node["id"].as_str().unwrap().to_owned(), deps.collect())
        })
        .collect();
    (names, edges)
}

/// Every package `from` reaches, itself excluded, by name.
fn reachable(
    from: &str,
    names: &std::collections::HashMap<String, String>,
    edges: &std::collections::HashMap<String, Vec<String>>,
) -> std::collections::BTreeSet<String> {
    let start = names.iter().find(|(_, name)| name.as_str() == from).map(|(id, _)| id.clone()).unwrap();
    let (mut seen, mut pending) = (std::collections::HashSet::new(), vec![start.clone()]);
    while let Some(id) = pending.pop() {
        for next in edges.get(&id).into_iter().flatten() {
            if seen.insert(next.clone()) {
                pending.push(next.clone());
            }
        }
    }
    seen.remove(&start);
    seen.iter().map(|id| names[id].clone()).collect()
}

#[test]
fn dependencies_point_one_way() {
    let (names, edges) = graph();
    for (position, name) in ORDER.iter().enumerate() {
        let reached = reachable(&format!("tessera-{name}"), &names, &edges);
        for later in &ORDER[position..] {
            let later = format!("tessera-{later}");
            assert!(!reached.contains(&later), "tessera-{name} must not depend on {later}, directly or not");
        }
    }
    // The language knows no I/O, through any path.
    let flow = reachable("tessera-flow", &names, &edges);
    for edge in ["axum", "sqlx", "hyper", "reqwest", "tokio"] {
        assert!(!flow.contains(edge), "the language crate knows no I/O: it must not depend on {edge}, directly or not");
    }
}

#[test]
fn the_runtime_knows_nothing_of_the_governed_world() {
    let mut files = Vec::new();
    rust_files(&root().join("crates/engine/src"), &mut files);
    assert!(files.len() > 5, "found the runtime's sources");
    let mut problems = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for name in GOVERNED.iter().chain(&["tessera_governance", "IdentityRecord", "WorkSubject"]) {
            if text.contains(name) {
                problems.push(format!("{}: names {name}", file.display()));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "the runtime must reach the governed world only through its Domain:\n{}",
        problems.join("\n")
    );
}

/// No handler writes: the API's writes go through services that hold and commit their transaction
/// with its audit entry. In `server`, only the API clients' service and the token keys (`auth`)
/// commit a transaction of their own.
#[test]
fn no_handler_commits_a_transaction() {
    let mut files = Vec::new();
    let server = root().join("crates/server/src");
    rust_files(&server, &mut files);
    let committing: Vec<String> = files
        .iter()
        .filter(|file| !file.starts_with(server.join("auth")))
        .filter(|file| std::fs::read_to_string(file).unwrap().contains(".commit()"))
        .map(|file| file.display().to_string())
        .collect();
    assert!(committing.is_empty(), "these server modules commit a transaction themselves: {committing:?}");
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
