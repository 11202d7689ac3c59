//! `tessera bench aggregate`: accounts per second read, correlated and stored from a generated HR
//! file by a full aggregation (the demo's identity profile, lifecycle states and birthright roles),
//! then by a second run over the same file (every account unchanged), with peak memory.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use tessera_governance::{self as governance, AggregateOptions, ImportDirs, Summary};
use tessera_model::SystemClock;
use tessera_store::{Store, redact_url};

use super::machine;

#[derive(Debug, Args)]
pub(crate) struct AggregateArgs {
    /// Accounts in the generated file.
    #[arg(long, default_value_t = 1_000_000)]
    accounts: usize,
    /// Rows per transaction.
    #[arg(long, default_value_t = 5000)]
    batch: usize,
    /// A `sqlite://…` or `postgres://…` database to use (it should be empty). Default: a fresh SQLite
    /// file in a temporary directory.
    #[arg(long)]
    database: Option<String>,
}

pub(crate) fn run(args: &AggregateArgs) -> Result<ExitCode> {
    let dir = std::env::temp_dir().join(format!("tessera-bench-aggregate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let result = measure(args, &dir);
    std::fs::remove_dir_all(&dir).ok();
    result
}

fn measure(args: &AggregateArgs, dir: &std::path::Path) -> Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let store = match &args.database {
            Some(url) => Store::connect(url).await.with_context(|| format!("cannot open {}", redact_url(url)))?,
            None => Store::open_data_dir(&dir.join("data")).await?,
        };
        let clock = SystemClock;
        // The demo's catalogue, pointed at a file of the size asked for.
        let imports = ImportDirs::new([dir.join("imports")]);
        crate::demo::seed_catalog(&store, &imports, &clock).await?;
        let file: PathBuf = crate::demo::hr_file(&imports)?;
        let generated = Instant::now();
        let out = std::fs::File::create(&file).with_context(|| format!("cannot write {}", file.display()))?;
        tessera_connectors::generate::write_hr_file(std::io::BufWriter::new(out), args.accounts, 1)?;
        let size = std::fs::metadata(&file)?.len();
        println!(
            "tessera bench aggregate — {} accounts ({:.1} MB, generated in {:.1} s), {} rows per transaction",
            args.accounts,
            size as f64 / 1e6,
            generated.elapsed().as_secs_f64(),
            args.batch
        );
        println!("machine: {}", machine());
        println!(
            "database: {}",
            args.database.as_deref().map_or_else(|| "SQLite (WAL, synchronous=FULL), temporary".to_owned(), redact_url)
        );
        let options =
            AggregateOptions { file: Some(file.clone()), batch_rows: args.batch, ..AggregateOptions::default() };
        for label in ["first load (every account new: identities created)", "second load (every account unchanged)"] {
            let started = Instant::now();
            let summary = governance::aggregate(&store, &clock, crate::demo::HR_SOURCE, &options, &mut |_| {}).await?;
            report(label, &summary, started.elapsed().as_secs_f64());
            println!("  peak memory so far (VmHWM): {}", peak_memory().unwrap_or_else(|| "unknown".to_owned()));
        }
        println!("target: 100,000 accounts per second (DESIGN.md)");
        store.close().await;
        Ok(ExitCode::SUCCESS)
    })
}

fn report(label: &str, summary: &Summary, seconds: f64) {
    println!("{label}: {}", summary.status);
    println!(
        "  {:.0} accounts/s  ({} rows in {seconds:.2} s: {} added, {} changed, {} unchanged, {} failed; {} identities created)",
        summary.scanned as f64 / seconds,
        summary.scanned,
        summary.added,
        summary.changed,
        summary.unchanged,
        summary.failed.len(),
        summary.identities_created
    );
}

/// The process's peak resident memory, from /proc.
pub(crate) fn peak_memory() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(format!("{:.0} MB", kb / 1024.0))
}
