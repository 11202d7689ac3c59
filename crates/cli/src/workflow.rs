//! `tessera workflow validate` and `tessera workflow test`: the local development loop for ISC workflows.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow};
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Value, json};
use tessera_flow::dryrun::{self, Mocks};
use tessera_flow::interp::{Limits, Options, Status};
use tessera_flow::{Diagnostic, Format, Severity, Workflow};
use tessera_model::{Clock, SystemClock, Timestamp};

use crate::render;

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Check workflow files; exit 1 if any has an error, listing each with its JSON pointer.
    Validate(ValidateArgs),
    /// Run a workflow in memory with its external calls mocked, and print what happened.
    Test(TestArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum OutputFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub(crate) struct ValidateArgs {
    /// Workflow files (ISC JSON, or YAML with the same structure).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    #[arg(long, value_enum, default_value = "text")]
    format: OutputFormat,
}

#[derive(Debug, Args)]
pub(crate) struct TestArgs {
    /// The workflow file.
    file: PathBuf,
    /// The trigger's input (JSON): what `$.trigger` holds.
    #[arg(long)]
    input: PathBuf,
    /// Replies for the workflow's actions, by step name or action id (JSON).
    #[arg(long)]
    mocks: Option<PathBuf>,
    /// Show each step's resolved inputs and its output.
    #[arg(long)]
    trace: bool,
    /// Start the simulated clock here (RFC 3339) instead of now, for repeatable runs.
    #[arg(long)]
    now: Option<DateTime<Utc>>,
    /// End the run after this many steps.
    #[arg(long, default_value_t = Limits::default().max_transitions)]
    max_transitions: u64,
    #[arg(long, value_enum, default_value = "text")]
    format: OutputFormat,
}

pub(crate) fn run(command: Command) -> Result<ExitCode> {
    match command {
        Command::Validate(args) => validate(args),
        Command::Test(args) => test(args),
    }
}

fn validate(args: ValidateArgs) -> Result<ExitCode> {
    let mut all_valid = true;
    let mut report = Vec::new();
    for file in &args.files {
        let diagnostics = match load(file) {
            Ok(workflow) => workflow.warnings().to_vec(),
            Err(LoadError::Invalid(diagnostics)) => diagnostics,
            Err(LoadError::Io(error)) => vec![Diagnostic {
                severity: Severity::Error,
                code: "unreadable",
                pointer: String::new(),
                message: error,
            }],
        };
        let valid = !diagnostics.iter().any(|d| d.severity == Severity::Error);
        all_valid &= valid;
        report.push((file, valid, diagnostics));
    }
    let mut out = std::io::stdout().lock();
    match args.format {
        OutputFormat::Json => {
            let files: Vec<Value> = report
                .iter()
                .map(|(file, valid, diagnostics)| json!({ "file": file, "valid": valid, "diagnostics": diagnostics }))
                .collect();
            writeln!(out, "{}", serde_json::to_string_pretty(&json!({ "valid": all_valid, "files": files }))?)?;
        }
        OutputFormat::Text => {
            for (file, valid, diagnostics) in &report {
                for diagnostic in diagnostics {
                    writeln!(out, "{}: {diagnostic}", file.display())?;
                }
                let errors = diagnostics.iter().filter(|d| d.severity == Severity::Error).count();
                match valid {
                    true => writeln!(out, "{}: valid", file.display())?,
                    false => writeln!(
                        out,
                        "{}: invalid ({errors} error{})",
                        file.display(),
                        if errors == 1 { "" } else { "s" }
                    )?,
                }
            }
        }
    }
    Ok(if all_valid { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn test(args: TestArgs) -> Result<ExitCode> {
    let workflow = match load(&args.file) {
        Ok(workflow) => workflow,
        Err(LoadError::Io(error)) => return Err(anyhow!(error)),
        Err(LoadError::Invalid(diagnostics)) => {
            for diagnostic in diagnostics.iter().filter(|d| d.severity == Severity::Error) {
                eprintln!("{}: {diagnostic}", args.file.display());
            }
            return Err(anyhow!(
                "{} is not a valid workflow; fix the errors above (`tessera workflow validate` lists them)",
                args.file.display()
            ));
        }
    };
    let input = read_json(&args.input).context("reading --input")?;
    let mocks = match &args.mocks {
        Some(path) => Mocks::from_value(&read_json(path).context("reading --mocks")?)
            .with_context(|| format!("in {}", path.display()))?,
        None => Mocks::default(),
    };
    // ISC starts an EVENT workflow only for events its filter selects: say so when this input would not be.
    if let Some(filter) = workflow.program().trigger.as_ref().and_then(|t| t.filter.as_deref())
        && let Ok(compiled) = tessera_flow::filter::TriggerFilter::parse(filter)
        && !compiled.matches(&input)
    {
        eprintln!(
            "note: the trigger's filter.$ `{filter}` selects nothing in this input, so such an event would not start the workflow"
        );
    }
    let start = args.now.map(Timestamp::from).unwrap_or_else(|| SystemClock.now());
    let limits = Limits { max_transitions: args.max_transitions, ..Limits::default() };
    let options = Options { limits: limits.lowered_by(workflow.program().limits), trace: args.trace };
    let report = dryrun::run(workflow.program(), input, &mocks, start, &options);
    let mut out = std::io::stdout().lock();
    match args.format {
        OutputFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?,
        OutputFormat::Text => {
            write!(out, "{}", render::report(workflow.name().unwrap_or("(unnamed workflow)"), &report, args.trace))?
        }
    }
    Ok(match report.status {
        Status::Succeeded => ExitCode::SUCCESS,
        _ => ExitCode::from(1),
    })
}

enum LoadError {
    Io(String),
    Invalid(Vec<Diagnostic>),
}

fn load(path: &Path) -> Result<Workflow, LoadError> {
    let text =
        std::fs::read_to_string(path).map_err(|e| LoadError::Io(format!("cannot read {}: {e}", path.display())))?;
    Workflow::parse(&text, Format::from_path(path)).map_err(LoadError::Invalid)
}

fn read_json(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not valid JSON", path.display()))
}
