//! `tessera source`: aggregating a source (its file, or its SCIM or LDAP system) from the command line,
//! with a progress bar and a summary.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use tessera_governance::{self as governance, AggregateOptions, Summary};
use tessera_model::{Clock, SystemClock};

use crate::store::StoreArgs;

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Read every account of a source (a delimited file, or a SCIM or LDAP system with its
    /// entitlements), correlate, and apply what changed.
    Aggregate(AggregateArgs),
}

#[derive(Debug, Args)]
pub(crate) struct AggregateArgs {
    /// The source's id or name.
    source: String,
    /// Read this file instead of the one the source names (delimited-file sources only).
    #[arg(long)]
    file: Option<PathBuf>,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    store: StoreArgs,
}

pub(crate) fn run(command: Command) -> Result<ExitCode> {
    match command {
        Command::Aggregate(args) => aggregate(&args),
    }
}

fn aggregate(args: &AggregateArgs) -> Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let store = args.store.open().await?;
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let bar = ProgressBar::new(0);
        let file_style =
            ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {msg}")
                .context("progress bar template")?;
        // A live system's size is not known ahead: a spinner and the count read.
        let live_style =
            ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}").context("progress bar template")?;
        bar.set_style(live_style.clone());
        // Ctrl-C stops the run at the next batch, keeping what it applied; a second Ctrl-C quits at once.
        let stop = Arc::new(AtomicBool::new(false));
        let interrupts = {
            let (stop, bar) = (stop.clone(), bar.clone());
            tokio::spawn(async move {
                if tokio::signal::ctrl_c().await.is_ok() {
                    stop.store(true, Ordering::Relaxed);
                    bar.suspend(|| eprintln!("Stopping after the current batch… (Ctrl-C again to quit at once)"));
                }
                if tokio::signal::ctrl_c().await.is_ok() {
                    bar.suspend(|| {
                        eprintln!("Quit at once: a running server marks the run failed once it has been idle a while")
                    });
                    std::process::exit(130);
                }
            })
        };
        let options = AggregateOptions {
            file: args.file.clone(),
            imports: args.store.imports()?,
            stop: Some(stop),
            ..AggregateOptions::default()
        };
        let summary = governance::aggregate(&store, clock.as_ref(), &args.source, &options, &mut |progress| {
            if progress.total_bytes > 0 {
                bar.set_style(file_style.clone());
                bar.set_length(progress.total_bytes);
                bar.set_position(progress.bytes_read);
                bar.set_message(format!("{} rows", progress.rows));
            } else {
                bar.set_style(live_style.clone());
                bar.set_message(format!("{} accounts", progress.rows));
                bar.tick();
            }
        })
        .await
        .with_context(|| format!("aggregating {} failed", args.source))?;
        interrupts.abort();
        bar.finish_and_clear();
        store.close().await;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&summary)?);
        } else {
            print_summary(&summary);
        }
        Ok(match summary.status.as_str() {
            "ERROR" => ExitCode::from(1),
            // As a shell reports a command stopped by SIGINT.
            "INTERRUPTED" => ExitCode::from(130),
            _ => ExitCode::SUCCESS,
        })
    })
}

fn print_summary(s: &Summary) {
    let seconds = s.completed_at.saturating_millis_since(s.started_at) as f64 / 1000.0;
    println!("Aggregation {} of source {}: {} in {seconds:.2} s", s.id, s.source_id, s.status);
    println!(
        "  rows {}: {} added, {} changed, {} unchanged, {} removed, {} failed",
        s.scanned,
        s.added,
        s.changed,
        s.unchanged,
        s.removed,
        s.failed.len()
    );
    println!(
        "  identities: {} created, {} updated, {} deleted",
        s.identities_created, s.identities_updated, s.identities_deleted
    );
    let entitlements = s.entitlements_added + s.entitlements_changed + s.entitlements_removed;
    if entitlements > 0 {
        println!(
            "  entitlements: {} added, {} changed, {} removed",
            s.entitlements_added, s.entitlements_changed, s.entitlements_removed
        );
    }
    for failure in s.failed.iter().take(20) {
        println!("  line {}: {}", failure.line, failure.reason);
    }
    if s.failed.len() > 20 {
        println!("  … and {} more failed rows (see --json)", s.failed.len() - 20);
    }
    if let Some(message) = &s.message {
        println!("  {message}");
    }
}
