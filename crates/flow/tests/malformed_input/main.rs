//! Malformed input never panics: arbitrary text loaded as JSON and as YAML, corpus workflows
//! mutated at random, and chains of variable steps under odd names run with any trigger input
//! either load (and then dry-run to an end) or are refused with diagnostics whose pointers locate
//! something in the document.

mod mutate;
mod strategies;

use std::fmt;
use std::path::Path;
use std::sync::OnceLock;

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::RngSeed;
use serde_json::{Value, json};
use tessera_flow::dryrun::{self, Mocks};
use tessera_flow::interp::Options;
use tessera_flow::{Diagnostic, Format, Severity, Workflow};
use tessera_model::Timestamp;

use mutate::{mutated, mutation};
use strategies::{apply_edit, arbitrary_text, edit, run_input, truncated, variable_chain};

/// Cases per property; the whole file runs in a few seconds in a debug build.
const CASES: u32 = 256;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: CASES,
        // The same cases on every run, and no regression files written beside the sources.
        rng_seed: RngSeed::Fixed(0x7e55_e2a0),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------------------------
// The corpus

/// One workflow of the shared corpus, as text (JSON as shipped, and rendered as YAML) and parsed.
struct Sample {
    name: String,
    json: String,
    yaml: String,
    document: Value,
}

impl fmt::Debug for Sample {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

fn corpus() -> &'static [Sample] {
    static CORPUS: OnceLock<Vec<Sample>> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/isc-colab");
        let mut samples = Vec::new();
        for dir in std::fs::read_dir(&root).expect("shared/corpus beside the checkout").flatten() {
            for file in std::fs::read_dir(dir.path()).into_iter().flatten().flatten() {
                let path = file.path();
                if path.extension().is_none_or(|e| e != "json") {
                    continue;
                }
                let Ok(json) = std::fs::read_to_string(&path) else {
                    continue;
                };
                let Ok(document) = serde_json::from_str::<Value>(&json) else {
                    continue;
                };
                // Form definitions sit beside the workflows; a workflow has a `definition`.
                if document.get("definition").is_none() {
                    continue;
                }
                let yaml = serde_norway::to_string(&document).expect("a JSON document renders as YAML");
                let name = format!("{}/{}", dir.file_name().to_string_lossy(), file.file_name().to_string_lossy());
                samples.push(Sample { name, json, yaml, document });
            }
        }
        samples.sort_by(|a, b| a.name.cmp(&b.name));
        assert_eq!(samples.len(), 28, "the corpus has 28 workflows");
        samples
    })
}

fn sample() -> impl Strategy<Value = &'static Sample> {
    (0..corpus().len()).prop_map(|i| &corpus()[i])
}

// ---------------------------------------------------------------------------------------------
// The property every load must have

fn start() -> Timestamp {
    Timestamp::from_millis(1_767_225_600_000) // 2026-01-01T00:00:00Z
}

/// Loads `text`; checks the outcome against the document the same parser reads from it.
fn load_text(text: &str, format: Format, input: &Value) -> Result<(), TestCaseError> {
    let result = Workflow::parse(text, format);
    let document = match format {
        Format::Json => serde_json::from_str::<Value>(text).ok(),
        Format::Yaml => serde_norway::from_str::<Value>(text).ok(),
    };
    match (document, result) {
        (Some(document), result) => settle(&document, result, input.clone()),
        (None, Ok(_)) => Err(TestCaseError::fail(format!("{format:?} text its parser refuses loaded as a workflow"))),
        (None, Err(diagnostics)) => {
            prop_assert!(
                matches!(&diagnostics[..], [d] if d.code == "syntax" && d.pointer.is_empty()),
                "unparseable {format:?} refused with {diagnostics:?}"
            );
            Ok(())
        }
    }
}

/// A valid workflow dry-runs to an end; a refused one says why, at pointers into `document`.
fn settle(document: &Value, result: Result<Workflow, Vec<Diagnostic>>, input: Value) -> Result<(), TestCaseError> {
    match result {
        Ok(workflow) => {
            check_pointers(document, workflow.warnings())?;
            // Any status will do: with no mocks most runs stop at their first action.
            let _report = dryrun::run(workflow.program(), input, &Mocks::default(), start(), &Options::default());
        }
        Err(diagnostics) => {
            prop_assert!(
                diagnostics.iter().any(|d| d.severity == Severity::Error),
                "refused without an error: {diagnostics:?}"
            );
            check_pointers(document, &diagnostics)?;
        }
    }
    Ok(())
}

/// Every pointer is the document itself, a value in it, or (for a missing field or attribute) a
/// member absent from a value that is there.
fn check_pointers(document: &Value, diagnostics: &[Diagnostic]) -> Result<(), TestCaseError> {
    for d in diagnostics {
        if d.pointer.is_empty() || document.pointer(&d.pointer).is_some() {
            continue;
        }
        let missing_member = matches!(d.code, "missing-field" | "missing-attribute")
            && d.pointer.rsplit_once('/').is_some_and(|(parent, _)| document.pointer(parent).is_some());
        if !missing_member {
            let (found, value) = nearest(document, &d.pointer);
            prop_assert!(false, "the pointer of `{d}` locates nothing; the nearest value, at `{found}`, is {value}");
        }
    }
    Ok(())
}

/// The longest prefix of `pointer` that resolves, and its value (abridged).
fn nearest<'a>(document: &Value, pointer: &'a str) -> (&'a str, String) {
    let mut prefix = pointer;
    loop {
        if let Some(value) = document.pointer(prefix) {
            let mut text = value.to_string();
            if text.len() > 1_500 {
                let mut cut = 1_500;
                while !text.is_char_boundary(cut) {
                    cut -= 1;
                }
                text.truncate(cut);
                text.push('…');
            }
            return (prefix, text);
        }
        prefix = prefix.rsplit_once('/').map_or("", |(parent, _)| parent);
    }
}

// ---------------------------------------------------------------------------------------------
// The properties

/// How a mutated document is written out before it is cut short.
#[derive(Debug, Clone, Copy)]
enum Rendering {
    Compact,
    Pretty,
    Yaml,
}

proptest! {
    #![proptest_config(config())]

    /// Any text, as JSON and as YAML: a workflow, or diagnostics; never a panic.
    #[test]
    fn arbitrary_text_is_loaded_or_refused(text in arbitrary_text()) {
        load_text(&text, Format::Json, &json!({}))?;
        load_text(&text, Format::Yaml, &json!({}))?;
    }

    /// A corpus workflow's JSON text, or its YAML rendering, with characters deleted, inserted or
    /// replaced, read in both formats.
    #[test]
    fn edited_corpus_text_is_loaded_or_refused(
        sample in sample(),
        yaml in any::<bool>(),
        edits in prop::collection::vec(edit(), 1..=6),
        input in run_input(),
    ) {
        let mut text = if yaml { sample.yaml.clone() } else { sample.json.clone() };
        for edit in &edits {
            apply_edit(&mut text, edit);
        }
        load_text(&text, Format::Json, &input)?;
        load_text(&text, Format::Yaml, &input)?;
    }

    /// A corpus workflow with keys deleted, values retyped, steps renamed or left dangling,
    /// garbage paths, arrays wrapped and unwrapped, values nested deep: loaded as a document, it is
    /// refused with pointers into it, or it dry-runs to an end.
    #[test]
    fn mutated_corpus_documents_are_loaded_or_refused(
        sample in sample(),
        mutations in prop::collection::vec(mutation(), 1..=4),
        input in run_input(),
    ) {
        let document = mutated(sample, &mutations);
        let result = Workflow::from_document(document.clone());
        settle(&document, result, input)?;
    }

    /// A (perhaps mutated) corpus workflow written as JSON or YAML and cut at a random byte, read
    /// in both formats.
    #[test]
    fn truncated_corpus_documents_are_loaded_or_refused(
        sample in sample(),
        mutations in prop::collection::vec(mutation(), 0..=2),
        rendering in prop_oneof![
            Just(Rendering::Compact),
            Just(Rendering::Pretty),
            Just(Rendering::Yaml)
        ],
        cut in any::<Index>(),
        input in run_input(),
    ) {
        let document = mutated(sample, &mutations);
        let text = match rendering {
            Rendering::Compact => serde_json::to_string(&document).expect("JSON renders"),
            Rendering::Pretty => serde_json::to_string_pretty(&document).expect("JSON renders"),
            Rendering::Yaml => serde_norway::to_string(&document).expect("JSON renders as YAML"),
        };
        let text = truncated(&text, &cut);
        load_text(&text, Format::Json, &input)?;
        load_text(&text, Format::Yaml, &input)?;
    }

    /// Define and Update Variable steps chained under odd names (`trigger`, `a/b`, `~1`…), run with
    /// any trigger input.
    #[test]
    fn variable_chains_are_loaded_or_refused(document in variable_chain(), input in run_input()) {
        let result = Workflow::from_document(document.clone());
        settle(&document, result, input)?;
    }
}
