//! `tessera bench engine`: executions per second and event-to-completion latency of a five-step
//! workflow run end to end by the durable engine, on SQLite or PostgreSQL.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use serde_json::{Value, json};
use sqlx::Connection;
use sqlx::postgres::PgConnection;
use tessera_engine::{Engine, EngineConfig};
use tessera_model::{Clock, ExecutionId, SystemClock, Timestamp};
use tessera_store::{ExecutionRecord, ExecutionStore, Store, WorkflowRecord, WorkflowStore, redact_url};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::machine;

#[derive(Debug, Args)]
pub(crate) struct EngineArgs {
    /// `postgres://…` of a server to create a throwaway database on (dropped at the end), or a
    /// `sqlite://…` file to use as it is. Default: a fresh SQLite file in a temporary directory.
    #[arg(long)]
    database: Option<String>,
    /// Executions to start.
    #[arg(long, default_value_t = 20_000)]
    executions: usize,
    /// Start executions at this many per second (an open loop, for latency at a given load)
    /// instead of as fast as the engine takes them.
    #[arg(long)]
    rate: Option<f64>,
    /// Engine workers (default: the engine's default).
    #[arg(long)]
    workers: Option<usize>,
    /// Executions started per transaction: 1 is one transaction per event, as the API does.
    #[arg(long, default_value_t = 1)]
    starts_per_transaction: usize,
    /// Concurrent starters when not paced by --rate.
    #[arg(long, default_value_t = 4)]
    starters: usize,
    /// Give up after this many seconds; executions not ended by then are reported as unfinished.
    #[arg(long, default_value_t = 300.0)]
    seconds: f64,
}

const WORKFLOW_ID: &str = "bench-five-steps";

/// Five steps with no external I/O; the message is a durable action, so each execution goes
/// through the task queue twice (the start, then the action and its result).
fn workflow_document() -> Value {
    json!({
        "name": "Bench: five steps",
        "description": "tessera bench engine",
        "definition": {"start": "Define", "steps": {
            "Define": {"type": "Mutation", "attributes": {"id": "sp:define-variable", "variables": [
                {"name": "count", "variableA.$": "$.trigger.n"},
                {"name": "label", "variableA": "execution"}]}, "nextStep": "Check"},
            "Check": {"type": "choice", "choiceList": [
                {"comparator": "NumericGreaterThanEquals", "variableA.$": "$.define.count", "variableB": 0, "nextStep": "Notify"}],
                "defaultStep": "Wrong"},
            "Notify": {"type": "action", "actionId": "sp:interactive-message",
                "attributes": {"title": "bench", "message": "execution {{$.trigger.n}}"}, "nextStep": "Update"},
            "Update": {"type": "Mutation", "attributes": {"id": "sp:update-variable", "variables": [
                {"name": "label", "variableA.$": "$.define.label", "transforms": [{"id": "sp:transform:upper:string"}]}]},
                "nextStep": "Done"},
            "Done": {"type": "success"},
            "Wrong": {"type": "failure", "failureName": "unexpected input"}
        }}
    })
}

const WORKLOAD: &str = "5 steps: Define Variable → choice → sp:interactive-message (a durable action through \
     the task queue, performed as a no-op) → Update Variable → success";

pub(crate) fn run(args: &EngineArgs) -> Result<ExitCode> {
    if args.executions == 0 {
        bail!("--executions must be at least 1");
    }
    if args.rate.is_some_and(|r| !(r.is_finite() && r > 0.0)) {
        bail!("--rate must be a positive number of executions per second");
    }
    if args.starts_per_transaction == 0 || args.workers == Some(0) || args.starters == 0 {
        bail!("--starts-per-transaction, --workers and --starters must be at least 1");
    }
    // Engine warnings (a failed task, say) go to stderr, away from the figures.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TESSERA_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,sqlx=error")),
        )
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let (store, database) = Database::open(args.database.as_deref()).await?;
        let measured = measure(&store, args).await;
        store.close().await;
        if let Ok(report) = &measured {
            print(args, &database, report);
        }
        if let Err(error) = database.remove().await {
            eprintln!("warning: could not remove the benchmark database: {error:#}");
        }
        measured.map(|_| ExitCode::SUCCESS)
    })
}

/// Where the benchmark runs, and what to remove afterwards.
enum Database {
    /// A fresh SQLite file in a temporary directory, removed at the end.
    TempSqlite { dir: PathBuf },
    /// A SQLite URL given on the command line, used as it is.
    Sqlite { url: String },
    /// A fresh database on a PostgreSQL server, dropped at the end.
    FreshPostgres { server: String, name: String, synchronous_commit: String, version: String },
}

impl Database {
    async fn open(url: Option<&str>) -> Result<(Store, Self)> {
        match url {
            None => {
                let dir = std::env::temp_dir().join(format!("tessera-bench-{}", random_suffix()));
                let store = Store::open_data_dir(&dir)
                    .await
                    .with_context(|| format!("cannot create a SQLite database in {}", dir.display()))?;
                Ok((store, Database::TempSqlite { dir }))
            }
            Some(url) if url.starts_with("sqlite:") => {
                let store = Store::connect(url).await.with_context(|| format!("cannot open {url}"))?;
                Ok((store, Database::Sqlite { url: url.to_owned() }))
            }
            Some(url) if url.starts_with("postgres:") || url.starts_with("postgresql:") => {
                let name = format!("tessera_bench_{}", random_suffix());
                let mut admin = PgConnection::connect(url)
                    .await
                    .with_context(|| format!("cannot connect to {}", redact_url(url)))?;
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut admin)
                    .await
                    .with_context(|| format!("cannot create the database {name}"))?;
                let synchronous_commit: String =
                    sqlx::query_scalar("SHOW synchronous_commit").fetch_one(&mut admin).await?;
                let version: String = sqlx::query_scalar("SHOW server_version").fetch_one(&mut admin).await?;
                admin.close().await?;
                let database =
                    Database::FreshPostgres { server: url.to_owned(), name: name.clone(), synchronous_commit, version };
                match Store::connect(&with_database(url, &name)).await {
                    Ok(store) => Ok((store, database)),
                    Err(error) => {
                        let _ = database.remove().await;
                        Err(anyhow::Error::new(error).context(format!("cannot open the new database {name}")))
                    }
                }
            }
            Some(url) => bail!("`{}` is neither a postgres:// nor a sqlite:// URL", redact_url(url)),
        }
    }

    async fn remove(&self) -> Result<()> {
        match self {
            Database::TempSqlite { dir } => std::fs::remove_dir_all(dir)?,
            Database::Sqlite { .. } => {}
            Database::FreshPostgres { server, name, .. } => {
                let mut admin = PgConnection::connect(server).await?;
                // WITH (FORCE) needs PostgreSQL 13; the store is closed, so the plain form works too.
                if sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut admin)
                    .await
                    .is_err()
                {
                    sqlx::query(&format!("DROP DATABASE IF EXISTS {name}")).execute(&mut admin).await?;
                }
                admin.close().await?;
            }
        }
        Ok(())
    }

    fn describe(&self) -> String {
        match self {
            Database::TempSqlite { dir } => format!(
                "SQLite, fresh file {} (WAL, synchronous=FULL, one connection)",
                dir.join("tessera.db").display()
            ),
            Database::Sqlite { url } => format!("SQLite {url} (WAL, synchronous=FULL, one connection)"),
            Database::FreshPostgres { server, name, synchronous_commit, version } => format!(
                "PostgreSQL {version}, fresh database {name} on {} (synchronous_commit={synchronous_commit}, pool of 16)",
                redact_url(server)
            ),
        }
    }
}

/// `url` with its database name replaced by `name`, keeping any query string.
fn with_database(url: &str, name: &str) -> String {
    let (path, query) = match url.split_once('?') {
        Some((path, query)) => (path, format!("?{query}")),
        None => (url, String::new()),
    };
    let authority = path.find("://").map_or(0, |i| i + 3);
    let base = match path[authority..].find('/') {
        Some(slash) => &path[..authority + slash],
        None => path,
    };
    format!("{base}/{name}{query}")
}

/// A random hex string for throwaway names.
fn random_suffix() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    format!("{:016x}", hasher.finish())
}

/// What a run measured.
struct Report {
    workers: usize,
    batch: i64,
    started: usize,
    start_errors: usize,
    first_start_error: Option<String>,
    /// Each started execution as stored at the end.
    records: Vec<ExecutionRecord>,
    /// When each execution's event arrived at its starter, by execution id.
    arrivals: std::collections::HashMap<ExecutionId, Timestamp>,
    /// The first and last event arrival.
    arrival_span: Option<(Timestamp, Timestamp)>,
    cpu_seconds: Option<f64>,
    /// Cores busy on the whole machine (a local database server included), and cores in iowait.
    machine_busy: Option<(f64, f64)>,
    wall_seconds: f64,
    timed_out: bool,
}

async fn measure(store: &Store, args: &EngineArgs) -> Result<Report> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let mut config = EngineConfig::default();
    if let Some(workers) = args.workers {
        config.workers = workers;
    }
    let (workers, batch) = (config.workers, config.batch);
    let workflow = insert_workflow(store, clock.now()).await?;
    let engine = Engine::new(store.clone(), clock.clone(), config);
    // The governance domain attached, as on a node: an ending execution closes its people's work.
    let _governance = tessera_governance::Governance::new(engine.clone(), Default::default())?;
    let (stop, stopped) = watch::channel(false);
    let handles = engine.spawn_workers(stopped);

    let began = Instant::now();
    let deadline = began + Duration::from_secs_f64(args.seconds.max(0.1));
    let cpu_before = cpu_seconds();
    let machine_before = machine_ticks();
    let committed = Arc::new(AtomicUsize::new(0));
    let starting = tokio::spawn(start_all(
        engine.clone(),
        Arc::new(workflow),
        args.executions,
        args.starts_per_transaction,
        args.rate,
        args.starters,
        deadline,
        committed.clone(),
    ));
    let mut last_progress = Instant::now();
    let timed_out = loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let done_starting = starting.is_finished();
        let running = running(store).await?;
        if done_starting && running == 0 {
            break false;
        }
        if Instant::now() >= deadline {
            break true;
        }
        if last_progress.elapsed() >= Duration::from_secs(5) {
            last_progress = Instant::now();
            let started = committed.load(Ordering::Relaxed);
            eprintln!(
                "  … {:.0} s: {started} started, {} ended",
                began.elapsed().as_secs_f64(),
                started.saturating_sub(running as usize)
            );
        }
    };
    let wall_seconds = began.elapsed().as_secs_f64();
    let cpu_seconds = cpu_before.zip(cpu_seconds()).map(|(before, after)| after - before);
    let machine_busy = machine_before.zip(machine_ticks()).map(|(before, after)| {
        let per_core = |ticks: u64| ticks as f64 / 100.0 / wall_seconds;
        (per_core(after.0 - before.0), per_core(after.1 - before.1))
    });
    let outcome = starting.await.context("the starters panicked")?;
    let _ = stop.send(true);
    engine.wake_workers();
    for handle in handles {
        let _ = tokio::time::timeout(Duration::from_secs(30), handle).await;
    }

    let mut tx = store.begin().await?;
    let limit = i64::try_from(args.executions).unwrap_or(i64::MAX).saturating_add(1);
    let (records, _) = tx.list_executions(WORKFLOW_ID, limit, 0).await?;
    tx.commit().await?;
    let arrival_span = outcome.arrivals.values().fold(None, |span: Option<(Timestamp, Timestamp)>, &at| {
        Some(span.map_or((at, at), |(first, last)| (first.min(at), last.max(at))))
    });
    Ok(Report {
        workers,
        batch,
        started: outcome.arrivals.len(),
        start_errors: outcome.errors,
        first_start_error: outcome.first_error,
        records,
        arrivals: outcome.arrivals,
        arrival_span,
        cpu_seconds,
        machine_busy,
        wall_seconds,
        timed_out,
    })
}

async fn insert_workflow(store: &Store, now: Timestamp) -> Result<WorkflowRecord> {
    let document = workflow_document();
    tessera_flow::Workflow::from_document(document.clone())
        .map_err(|d| anyhow::anyhow!("the benchmark workflow is invalid: {}", d[0]))?;
    let record = WorkflowRecord {
        id: WORKFLOW_ID.into(),
        name: "Bench: five steps".into(),
        latest_version: 1,
        enabled: true,
        trace: false,
        created_at: now,
        modified_at: now,
        creator: "tessera bench engine".into(),
        document,
    };
    let mut tx = store.begin().await?;
    tx.insert_workflow(&record, "benchmark").await?;
    tx.commit().await?;
    Ok(record)
}

async fn running(store: &Store) -> Result<i64> {
    let mut tx = store.begin().await?;
    let running = tx.count_by_status(tessera_model::ExecutionStatus::Running).await?;
    tx.commit().await?;
    Ok(running)
}

/// What the starters did.
#[derive(Default)]
struct Started {
    arrivals: std::collections::HashMap<ExecutionId, Timestamp>,
    errors: usize,
    first_error: Option<String>,
}

impl Started {
    fn add(
        &mut self,
        result: Result<Result<(Vec<ExecutionId>, Timestamp)>, tokio::task::JoinError>,
        per_transaction: usize,
    ) {
        match result {
            Ok(Ok((ids, arrival))) => self.arrivals.extend(ids.into_iter().map(|id| (id, arrival))),
            Ok(Err(error)) => {
                self.errors += per_transaction;
                self.first_error.get_or_insert_with(|| format!("{error:#}"));
            }
            Err(error) => {
                self.errors += per_transaction;
                self.first_error.get_or_insert_with(|| error.to_string());
            }
        }
    }
}

/// Starts `n` executions, `per_transaction` to a transaction: paced at `rate` per second (each
/// start in its own task, so a slow commit does not delay the next arrival), or else by
/// `starters` concurrent loops as fast as the store accepts them.
#[allow(clippy::too_many_arguments)]
async fn start_all(
    engine: Arc<Engine>,
    workflow: Arc<WorkflowRecord>,
    n: usize,
    per_transaction: usize,
    rate: Option<f64>,
    starters: usize,
    deadline: Instant,
    committed: Arc<AtomicUsize>,
) -> Started {
    let mut started = Started::default();
    let mut tasks = JoinSet::new();
    match rate {
        Some(rate) => {
            let origin = Instant::now();
            let mut first = 0;
            while first < n {
                let at = origin + Duration::from_secs_f64(first as f64 / rate);
                if at >= deadline {
                    break;
                }
                tokio::time::sleep_until(at).await;
                let count = per_transaction.min(n - first);
                let (engine, workflow, committed) = (engine.clone(), workflow.clone(), committed.clone());
                tasks.spawn(async move {
                    let arrival = engine.now();
                    let ids = start_batch(&engine, &workflow, first, count).await?;
                    committed.fetch_add(ids.len(), Ordering::Relaxed);
                    Ok((ids, arrival))
                });
                first += count;
                while let Some(result) = tasks.try_join_next() {
                    started.add(result, per_transaction);
                }
            }
        }
        None => {
            let next = Arc::new(AtomicUsize::new(0));
            let mut loops = JoinSet::new();
            for _ in 0..starters {
                let (engine, workflow, next, committed) =
                    (engine.clone(), workflow.clone(), next.clone(), committed.clone());
                loops.spawn(async move {
                    let mut mine = Started::default();
                    while Instant::now() < deadline {
                        let first = next.fetch_add(per_transaction, Ordering::Relaxed);
                        if first >= n {
                            break;
                        }
                        let count = per_transaction.min(n - first);
                        let arrival = engine.now();
                        let result = start_batch(&engine, &workflow, first, count).await;
                        if let Ok(ids) = &result {
                            committed.fetch_add(ids.len(), Ordering::Relaxed);
                        }
                        mine.add(Ok(result.map(|ids| (ids, arrival))), count);
                    }
                    mine
                });
            }
            while let Some(result) = loops.join_next().await {
                match result {
                    Ok(mine) => {
                        started.arrivals.extend(mine.arrivals);
                        started.errors += mine.errors;
                        if started.first_error.is_none() {
                            started.first_error = mine.first_error;
                        }
                    }
                    Err(error) => started.add(Err(error), 0),
                }
            }
        }
    }
    while let Some(result) = tasks.join_next().await {
        started.add(result, per_transaction);
    }
    started
}

/// Starts executions `first..first + count` in one transaction, then wakes the workers.
async fn start_batch(
    engine: &Engine,
    workflow: &WorkflowRecord,
    first: usize,
    count: usize,
) -> Result<Vec<ExecutionId>> {
    let mut tx = engine.store().begin().await?;
    let mut ids = Vec::with_capacity(count);
    for n in first..first + count {
        ids.push(engine.start(&mut tx, workflow, json!({ "n": n }), None).await?);
    }
    tx.commit().await?;
    engine.wake_workers();
    Ok(ids)
}

/// CPU time this process has used (user + system), from /proc/self/stat at 100 ticks a second.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name may hold spaces; the fields after it are plain.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
    // utime and stime are fields 14 and 15 of the line; `fields` starts at field 3.
    Some((ticks(11)? + ticks(12)?) as f64 / 100.0)
}

/// Busy and iowait ticks of the whole machine since boot, from /proc/stat (100 ticks a second).
fn machine_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let fields: Vec<u64> =
        stat.lines().next()?.strip_prefix("cpu ")?.split_whitespace().filter_map(|f| f.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let busy = [0, 1, 2, 5, 6, 7].iter().filter_map(|&i| fields.get(i)).sum();
    Some((busy, *fields.get(4)?))
}

fn print(args: &EngineArgs, database: &Database, report: &Report) {
    let ended: Vec<&ExecutionRecord> = report.records.iter().filter(|r| r.ended_at.is_some()).collect();
    let completed = report.records.iter().filter(|r| r.status == tessera_model::ExecutionStatus::Completed).count();
    let failed = report.records.iter().filter(|r| r.status == tessera_model::ExecutionStatus::Failed).count();
    let other_ended = ended.len() - completed - failed;
    let unfinished = report.records.len() - ended.len();
    let transitions: i64 = ended.iter().map(|r| r.history_len).sum();
    let first_start = report.records.iter().map(|r| r.started_at).min();
    let last_end = ended.iter().filter_map(|r| r.ended_at).max();
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);

    println!("tessera bench engine");
    println!("machine:      {}", machine());
    println!("database:     {}", database.describe());
    println!("workload:     {WORKLOAD}");
    println!("engine:       {} workers, claiming up to {} tasks at a time", report.workers, report.batch);
    let per_transaction = match args.starts_per_transaction {
        1 => "one transaction per start".to_owned(),
        k => format!("{k} starts per transaction (batched)"),
    };
    match args.rate {
        Some(rate) => println!(
            "starts:       {} executions paced at {rate:.0}/s (an open loop: each start in its own task), {per_transaction}",
            args.executions
        ),
        None => println!(
            "starts:       {} executions as fast as the engine takes them, {} concurrent starters, {per_transaction}",
            args.executions, args.starters
        ),
    }
    if let (Some(rate), Some((first, last))) = (args.rate, report.arrival_span) {
        let achieved =
            (report.started.saturating_sub(1)) as f64 / (last.saturating_millis_since(first).max(1) as f64 / 1000.0);
        let behind = if achieved < rate * 0.95 { " — BEHIND the asked rate" } else { "" };
        println!("arrivals:     {achieved:.0} events/s reached the starters{behind}");
    }
    println!(
        "ended:        {completed} completed, {failed} failed{}, {unfinished} unfinished{}",
        if other_ended > 0 { format!(", {other_ended} ended otherwise") } else { String::new() },
        if report.timed_out { format!(" (stopped at the {:.0} s cap)", args.seconds) } else { String::new() }
    );
    if report.start_errors > 0 {
        println!(
            "start errors: {} executions not started: {}",
            report.start_errors,
            report.first_start_error.as_deref().unwrap_or("?")
        );
    }
    if let Some(failure) = report.records.iter().find(|r| r.status == tessera_model::ExecutionStatus::Failed) {
        println!("first failure: {}", failure.error.as_deref().unwrap_or("(no message)"));
    }
    let (Some(first_start), Some(last_end)) = (first_start, last_end) else {
        println!("no execution ended: nothing to measure");
        return;
    };
    let span = last_end.saturating_millis_since(first_start).max(1) as f64 / 1000.0;
    println!(
        "throughput:   {:.0} executions/s, {:.0} step transitions/s ({} ended in {span:.2} s from the first start to the last completion; {:.1} transitions each)",
        ended.len() as f64 / span,
        transitions as f64 / span,
        ended.len(),
        transitions as f64 / ended.len() as f64
    );
    let mut latencies: Vec<i64> =
        ended.iter().filter_map(|r| Some(r.ended_at?.saturating_millis_since(r.started_at))).collect();
    println!("latency:      {} (started_at → ended_at as stored, 1 ms resolution)", percentiles(&mut latencies));
    if args.rate.is_some() {
        let mut from_event: Vec<i64> = ended
            .iter()
            .filter_map(|r| Some(r.ended_at?.saturating_millis_since(*report.arrivals.get(&r.id)?)))
            .collect();
        println!("from event:   {} (the event's arrival at its starter → ended_at)", percentiles(&mut from_event));
    } else {
        println!(
            "              (unpaced: each execution also waits behind those started before it; --rate sets the load)"
        );
    }
    if let Some(cpu) = report.cpu_seconds {
        let busy = cpu / report.wall_seconds;
        println!(
            "cpu:          this process used {busy:.2} of {cores} cores ({cpu:.1} s CPU in {:.1} s)",
            report.wall_seconds
        );
        if let Some((all, iowait)) = report.machine_busy {
            println!(
                "              the whole machine: {all:.2} of {cores} cores busy (database server included), {iowait:.2} in iowait"
            );
        }
        println!("bound:        {}", bound(database, busy, report.machine_busy.map(|(all, _)| all), cores));
    }
}

/// p50, p99 and max of millisecond latencies.
fn percentiles(values: &mut [i64]) -> String {
    if values.is_empty() {
        return "none".to_owned();
    }
    values.sort_unstable();
    let at = |p: f64| values[((values.len() as f64 * p).ceil() as usize).clamp(1, values.len()) - 1];
    format!("p50 {} ms, p99 {} ms, max {} ms", at(0.50), at(0.99), values[values.len() - 1])
}

/// A one-line reading of what limits the figure, from where the CPU time went.
fn bound(database: &Database, process: f64, machine: Option<f64>, cores: usize) -> String {
    let busy = machine.unwrap_or(process).max(process);
    let idle = 100.0 * (1.0 - busy / cores as f64);
    if busy >= 0.85 * cores as f64 {
        return format!(
            "CPU: the machine's {cores} cores are {:.0}% busy, {process:.2} cores of it this process and {:.2} \
             other processes (the database server, when it runs here)",
            100.0 * busy / cores as f64,
            busy - process
        );
    }
    match database {
        Database::TempSqlite { .. } | Database::Sqlite { .. } => format!(
            "SQLite's one connection, not the CPU ({idle:.0}% idle): each transaction holds it across its \
             statements, each a round trip to sqlx's SQLite thread, and each write commit waits for an fsync \
             of the WAL (synchronous=FULL)"
        ),
        Database::FreshPostgres { synchronous_commit, .. } => format!(
            "round trips to the server, not the CPU ({idle:.0}% idle): each transaction holds a connection \
             across its statements (synchronous_commit={synchronous_commit}); more --workers may help"
        ),
    }
}
