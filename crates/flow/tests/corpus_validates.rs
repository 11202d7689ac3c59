//! Every workflow of the shared corpus loads and validates, and survives a round trip unchanged.

// A test that cannot go on should stop loudly, helpers included.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use tessera_flow::{Format, Workflow};

fn corpus_workflows() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/isc-colab");
    let mut out = Vec::new();
    for dir in std::fs::read_dir(&root).expect("shared/corpus beside the checkout").flatten() {
        for file in std::fs::read_dir(dir.path()).into_iter().flatten().flatten() {
            let path = file.path();
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            // Form definitions sit beside the workflows; a workflow has a `definition`.
            if path.extension().is_some_and(|e| e == "json") && text.contains("\"definition\"") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn every_corpus_workflow_validates() {
    let files = corpus_workflows();
    assert_eq!(files.len(), 28, "the corpus has 28 workflows");
    let mut failures = Vec::new();
    for path in &files {
        let text = std::fs::read_to_string(path).unwrap();
        match Workflow::parse(&text, Format::Json) {
            Ok(workflow) => {
                let original: serde_json::Value = serde_json::from_str(&text).unwrap();
                assert_eq!(workflow.document(), &original, "{} changed on load", path.display());
            }
            Err(diagnostics) => {
                for d in diagnostics {
                    failures.push(format!("{}: {d}", path.display()));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
