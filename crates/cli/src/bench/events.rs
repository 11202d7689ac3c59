//! `tessera bench events`: events per second from a change to the executions it starts. A generated
//! HR file is loaded, a mover workflow (EVENT trigger with a `filter.$`) is enabled, every person
//! moves department, and the aggregation's Identity Attributes Changed events are dispatched until
//! each has started its execution.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use serde_json::Value;
use tessera_engine::{Engine, EngineConfig};
use tessera_governance::{self as governance, AggregateOptions, ImportDirs};
use tessera_model::{Clock, SystemClock};
use tessera_store::{ExecutionStore, Store, WorkflowRecord, WorkflowStore};

use super::machine;

#[derive(Debug, Args)]
pub(crate) struct EventsArgs {
    /// People in the HR file; each produces one change event.
    #[arg(long, default_value_t = 20_000)]
    people: usize,
    /// Starts per second per workflow before starts are queued (0: unpaced, the default here, to
    /// measure the dispatcher itself).
    #[arg(long, default_value_t = 0)]
    starts_per_second: u32,
}

const MOVER: &str = include_str!("../../../../examples/demo/mover-notify.json");

pub(crate) fn run(args: &EventsArgs) -> Result<ExitCode> {
    let dir = std::env::temp_dir().join(format!("tessera-bench-events-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let result = runtime.block_on(measure(args, &dir));
    std::fs::remove_dir_all(&dir).ok();
    result
}

async fn measure(args: &EventsArgs, dir: &std::path::Path) -> Result<ExitCode> {
    let store = Store::open_data_dir(&dir.join("data")).await?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let config = EngineConfig { event_starts_per_second: args.starts_per_second, ..EngineConfig::default() };
    let engine = Engine::new(store.clone(), clock.clone(), config);
    let imports = ImportDirs::new([dir.join("imports")]);
    let _governance = tessera_governance::Governance::new(engine.clone(), Default::default())?;
    crate::demo::seed_catalog(&store, &imports, clock.as_ref()).await?;
    let file = crate::demo::hr_file(&imports)?;
    let write = |rows: &str| -> Result<()> {
        let out = std::fs::File::create(&file).with_context(|| format!("cannot write {}", file.display()))?;
        let text = String::from_utf8(rows.as_bytes().to_vec())?;
        std::io::Write::write_all(&mut std::io::BufWriter::new(out), text.as_bytes())?;
        Ok(())
    };
    let mut generated = Vec::new();
    tessera_connectors::generate::write_hr_file(&mut generated, args.people, 3)?;
    let original = String::from_utf8(generated)?;
    write(&original)?;
    let options = AggregateOptions { imports, ..AggregateOptions::default() };
    governance::aggregate(&store, clock.as_ref(), crate::demo::HR_SOURCE, &options, &mut |_| {}).await?;
    while engine.dispatch_events().await? > 0 {}

    let now = clock.now();
    let document: Value = serde_json::from_str(MOVER)?;
    let workflow = WorkflowRecord {
        id: "bench-mover".into(),
        name: "bench mover".into(),
        latest_version: 1,
        enabled: true,
        trace: false,
        created_at: now,
        modified_at: now,
        creator: "bench".into(),
        document,
    };
    let mut tx = store.begin().await?;
    tx.insert_workflow(&workflow, "bench").await?;
    tx.commit().await?;

    // Everyone moves: the department column gets a suffix.
    let mut reader = csv::Reader::from_reader(original.as_bytes());
    let mut writer = csv::Writer::from_writer(Vec::new());
    let headers = reader.headers()?.clone();
    let department = headers.iter().position(|h| h == "department").context("the HR file has a department")?;
    writer.write_record(&headers)?;
    for record in reader.records() {
        let record = record?;
        let moved: Vec<String> = record
            .iter()
            .enumerate()
            .map(|(i, f)| if i == department { format!("{f} (moved)") } else { f.to_owned() })
            .collect();
        writer.write_record(&moved)?;
    }
    let moved = String::from_utf8(writer.into_inner()?)?;
    write(&moved)?;
    println!("tessera bench events — {} people move department; a mover workflow with a filter.$ listens", args.people);
    println!("machine: {}", machine());
    println!(
        "database: SQLite (WAL, synchronous=FULL), temporary; pacing: {}",
        if args.starts_per_second == 0 {
            "off".to_owned()
        } else {
            format!("{}/s per workflow", args.starts_per_second)
        }
    );
    let began = Instant::now();
    let summary = governance::aggregate(&store, clock.as_ref(), crate::demo::HR_SOURCE, &options, &mut |_| {}).await?;
    let changed = began.elapsed().as_secs_f64();
    let mut dispatched = 0;
    loop {
        let n = engine.dispatch_events().await?;
        if n == 0 {
            break;
        }
        dispatched += n;
    }
    let total = began.elapsed().as_secs_f64();
    let mut tx = store.begin().await?;
    let started = tx.execution_counts("bench-mover").await?.0;
    drop(tx);
    println!(
        "changes: {} identities updated by aggregation in {changed:.2} s ({:.0}/s)",
        summary.identities_updated,
        summary.identities_updated as f64 / changed
    );
    println!(
        "dispatch: {dispatched} events, {started} executions started in {:.2} s ({:.0} events/s)",
        total - changed,
        dispatched as f64 / (total - changed)
    );
    println!(
        "end to end: {:.0} events/s from change to started execution ({started} executions in {total:.2} s)",
        started as f64 / total
    );
    if started as usize != args.people {
        bail!("expected {} executions, found {started}", args.people);
    }
    store.close().await;
    Ok(ExitCode::SUCCESS)
}
