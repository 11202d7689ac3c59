//! `tessera bench`: benchmarks that print figures (never timed tests).

mod aggregate;
mod engine;
mod events;
mod plans;
mod provision;
mod requests;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use chrono::DateTime;
use clap::{Args, Subcommand};
use serde_json::Value;
use tessera_flow::dryrun::{self, Mocks};
use tessera_flow::interp::{Options, Status};
use tessera_flow::{Format, Workflow};
use tessera_model::Timestamp;

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Step transitions per second and per-run latency of the corpus workflows, in memory, on one core.
    Interpreter(InterpreterArgs),
    /// Executions per second and event-to-completion latency of a 5-step workflow run by the
    /// durable engine end to end, on SQLite (default) or PostgreSQL.
    Engine(engine::EngineArgs),
    /// Accounts per second read, correlated and stored by aggregating a generated HR file, and
    /// peak memory.
    Aggregate(aggregate::AggregateArgs),
    /// Events per second from a change to the executions it starts.
    Events(events::EventsArgs),
    /// Aggregation accounts per second from a slapd holding many entries, and account operations per
    /// second through the SCIM and LDAP connectors against scim2-server and slapd.
    Provision(provision::ProvisionArgs),
    /// Access requests submitted and approved per second, and workflow approvals opened, decided in
    /// the inbox and resumed per second.
    Requests(requests::RequestsArgs),
}

#[derive(Debug, Args)]
pub(crate) struct InterpreterArgs {
    /// The ISC workflows to run.
    #[arg(long, default_value = "../shared/corpus/isc-colab")]
    corpus: PathBuf,
    /// Trigger inputs and mocks per workflow (`<dir>/<workflow>/input.json` and `mocks.json`).
    #[arg(long, default_value = "crates/cli/tests/corpus")]
    fixtures: PathBuf,
    /// How long to measure, in seconds.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Also print each workflow's figures.
    #[arg(long)]
    per_workflow: bool,
}

pub(crate) fn run(command: Command) -> Result<ExitCode> {
    match command {
        Command::Interpreter(args) => interpreter(&args),
        Command::Engine(args) => engine::run(&args),
        Command::Aggregate(args) => aggregate::run(&args),
        Command::Events(args) => events::run(&args),
        Command::Provision(args) => provision::run(&args),
        Command::Requests(args) => requests::run(&args),
    }
}

struct Case {
    name: String,
    workflow: Workflow,
    input: Value,
    mocks: Mocks,
}

fn interpreter(args: &InterpreterArgs) -> Result<ExitCode> {
    let cases = load_cases(&args.corpus, &args.fixtures)?;
    let start: Timestamp = DateTime::parse_from_rfc3339("2024-01-01T00:00:00Z")?.to_utc().into();
    let options = Options::default();
    // Warm up, and check every case ends before measuring it.
    for case in &cases {
        let report = dryrun::run(case.workflow.program(), case.input.clone(), &case.mocks, start, &options);
        if !matches!(report.status, Status::Succeeded | Status::Failed { error: None, .. }) {
            bail!("{} does not reach an end step with its fixtures: {:?}", case.name, report.status);
        }
    }
    let budget = Duration::from_secs_f64(args.seconds.max(0.1));
    let mut latencies: Vec<Duration> = Vec::new();
    let mut transitions: u64 = 0;
    let mut busy = Duration::ZERO;
    let mut per_case = vec![(Duration::ZERO, 0u64, 0u64); cases.len()];
    let began = Instant::now();
    while began.elapsed() < budget {
        // The trigger's input arrives ready-made (the engine deserializes it from the event), so
        // copying it for each run is not the interpreter's time.
        let inputs: Vec<Value> = cases.iter().map(|c| c.input.clone()).collect();
        for ((case, input), totals) in cases.iter().zip(inputs).zip(per_case.iter_mut()) {
            let t = Instant::now();
            let report = dryrun::run(case.workflow.program(), input, &case.mocks, start, &options);
            let took = t.elapsed();
            busy += took;
            latencies.push(took);
            transitions += report.transitions;
            *totals = (totals.0 + took, totals.1 + report.transitions, totals.2 + 1);
        }
    }
    let elapsed = busy.as_secs_f64();
    latencies.sort_unstable();
    let runs = latencies.len();
    let percentile = |p: f64| latencies[((runs as f64 * p).ceil() as usize).clamp(1, runs) - 1];
    println!("tessera bench interpreter");
    println!("machine:      {}", machine());
    println!(
        "workload:     {} corpus workflows, dry-run in memory with mocks, 1 thread, {elapsed:.1} s in runs",
        cases.len()
    );
    println!("runs:         {runs} ({:.0} runs/s)", runs as f64 / elapsed);
    println!("transitions:  {transitions} ({:.0} step transitions/s)", transitions as f64 / elapsed);
    println!(
        "run latency:  p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs",
        micros(percentile(0.50)),
        micros(percentile(0.99)),
        micros(latencies[runs - 1])
    );
    if args.per_workflow {
        println!();
        println!("{:>12}  {:>9}  {:>7}  workflow", "transitions/s", "µs/run", "steps");
        for (case, (time, steps, count)) in cases.iter().zip(per_case) {
            let seconds = time.as_secs_f64().max(f64::MIN_POSITIVE);
            let per_run = micros(time) / count.max(1) as f64;
            println!("{:>13.0}  {per_run:>9.1}  {:>7}  {}", steps as f64 / seconds, steps / count.max(1), case.name);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn micros(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e6
}

fn load_cases(corpus: &Path, fixtures: &Path) -> Result<Vec<Case>> {
    let mut cases = Vec::new();
    let dirs = std::fs::read_dir(corpus)
        .with_context(|| format!("cannot read the corpus at {} (use --corpus)", corpus.display()))?;
    let mut files: Vec<PathBuf> = dirs
        .flatten()
        .flat_map(|d| std::fs::read_dir(d.path()).into_iter().flatten().flatten().map(|f| f.path()))
        .collect();
    files.sort();
    for file in files {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        if file.extension().is_none_or(|e| e != "json") || !text.contains("\"definition\"") {
            continue;
        }
        let relative = file.strip_prefix(corpus).unwrap_or(&file).with_extension("");
        let fixture = fixtures.join(&relative);
        let (Ok(input), Ok(mocks)) = (read_json(&fixture.join("input.json")), read_json(&fixture.join("mocks.json")))
        else {
            continue;
        };
        let workflow = Workflow::parse(&text, Format::Json)
            .map_err(|d| anyhow::anyhow!("{} is invalid: {}", file.display(), d[0]))?;
        cases.push(Case { name: relative.display().to_string(), workflow, input, mocks: Mocks::from_value(&mocks)? });
    }
    if cases.is_empty() {
        bail!("no corpus workflow with fixtures under {} (use --fixtures)", fixtures.display());
    }
    Ok(cases)
}

fn read_json(path: &Path) -> Result<Value> {
    Ok(serde_json::from_str(&std::fs::read_to_string(path)?)?)
}

/// The CPU model and core count, for the record.
pub(crate) fn machine() -> String {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    format!("{model}, {cores} cores, {} {}", std::env::consts::OS, std::env::consts::ARCH)
}
