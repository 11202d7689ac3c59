//! Loading a workflow document (ISC JSON, or YAML of the same structure) into a [`Workflow`]:
//! the document exactly as loaded, plus its compiled program.

use std::sync::Arc;

use serde_json::Value;

use crate::program::Program;
use crate::validate::{self, Diagnostic, Severity};

/// A valid workflow: the source document, kept whole so an export is what was loaded, and the
/// program compiled from it.
#[derive(Debug, Clone)]
pub struct Workflow {
    document: Value,
    program: Arc<Program>,
    warnings: Vec<Diagnostic>,
}

/// The document format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Yaml,
}

impl Format {
    /// Guesses the format from a file name: `.yaml` / `.yml` are YAML, everything else JSON.
    pub fn from_path(path: &std::path::Path) -> Self {
        match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
            Some("yaml" | "yml") => Format::Yaml,
            _ => Format::Json,
        }
    }
}

impl Workflow {
    /// Parses and validates `text`; on failure, every diagnostic (errors and warnings).
    pub fn parse(text: &str, format: Format) -> Result<Self, Vec<Diagnostic>> {
        let document = match format {
            Format::Json => serde_json::from_str(text).map_err(|e| syntax_error(format!("not valid JSON: {e}")))?,
            Format::Yaml => serde_norway::from_str(text).map_err(|e| syntax_error(format!("not valid YAML: {e}")))?,
        };
        Self::from_document(document)
    }

    /// Validates an already parsed document.
    pub fn from_document(document: Value) -> Result<Self, Vec<Diagnostic>> {
        let (program, diagnostics) = validate::check(&document);
        match program {
            Some(program) => Ok(Self { document, program: Arc::new(program), warnings: diagnostics }),
            None => Err(diagnostics),
        }
    }

    /// The document as loaded, unknown fields included.
    pub fn document(&self) -> &Value {
        &self.document
    }

    /// The compiled program.
    pub fn program(&self) -> &Arc<Program> {
        &self.program
    }

    /// Findings that do not make the workflow invalid.
    pub fn warnings(&self) -> &[Diagnostic] {
        &self.warnings
    }

    /// The workflow's `name`, if it has one.
    pub fn name(&self) -> Option<&str> {
        self.document.get("name").and_then(Value::as_str)
    }
}

fn syntax_error(message: String) -> Vec<Diagnostic> {
    vec![Diagnostic { severity: Severity::Error, code: "syntax", pointer: String::new(), message }]
}
