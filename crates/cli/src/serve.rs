//! `tessera serve`: the API and the workers on one node, configured by flags, the environment
//! (`TESSERA_*`) or a TOML file, in that order of precedence; SIGTERM drains the workers.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use serde::Deserialize;
use tessera_engine::{Engine, EngineConfig};
use tessera_model::{Clock, SystemClock};
use tessera_server::auth::{Auth, ensure_admin};
use tessera_server::{ApiLimits, AppState};
use tessera_store::Store;

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "TESSERA_LISTEN")]
    listen: Option<SocketAddr>,
    /// Where the SQLite database (and other local state) lives.
    #[arg(long, env = "TESSERA_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// A PostgreSQL URL (`postgres://user:pass@host/db`) to use instead of the local SQLite file.
    #[arg(long, env = "TESSERA_DATABASE", hide_env_values = true)]
    database: Option<String>,
    /// A TOML file with any of: listen, data_dir, database, workers, max_transitions.
    #[arg(long, env = "TESSERA_CONFIG")]
    config: Option<PathBuf>,
    /// Workers on this node.
    #[arg(long, env = "TESSERA_WORKERS")]
    workers: Option<usize>,
    /// Seconds a claimed task stays this node's; a dead node's tasks are taken over after it.
    /// Keep it above the longest action timeout.
    #[arg(long, env = "TESSERA_LEASE_SECONDS")]
    lease_seconds: Option<u64>,
}

/// The config file's fields.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    database: Option<String>,
    workers: Option<usize>,
    lease_seconds: Option<u64>,
    max_transitions: Option<u64>,
}

fn read_config(path: &Path) -> Result<FileConfig> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read the config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("{} is not a valid Tessera config", path.display()))
}

pub(crate) fn run(args: ServeArgs) -> Result<ExitCode> {
    let file = match &args.config {
        Some(path) => read_config(path)?,
        None => FileConfig::default(),
    };
    let listen = args.listen.or(file.listen).unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)));
    let data_dir = args.data_dir.or(file.data_dir).unwrap_or_else(|| PathBuf::from("tessera-data"));
    let database = args.database.or(file.database);
    let mut engine_config = EngineConfig::default();
    if let Some(workers) = args.workers.or(file.workers) {
        engine_config.workers = workers;
    }
    if let Some(lease) = args.lease_seconds.or(file.lease_seconds) {
        engine_config.lease = std::time::Duration::from_secs(lease.max(1));
    }
    if let Some(max) = file.max_transitions {
        engine_config.limits.max_transitions = max;
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TESSERA_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_target(false)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(serve(listen, &data_dir, database.as_deref(), engine_config))?;
    Ok(ExitCode::SUCCESS)
}

async fn serve(listen: SocketAddr, data_dir: &Path, database: Option<&str>, config: EngineConfig) -> Result<()> {
    let store = match database {
        Some(url) => Store::connect(url)
            .await
            .with_context(|| format!("cannot open the database {}", tessera_store::redact_url(url)))?,
        None => Store::open_data_dir(data_dir)
            .await
            .with_context(|| format!("cannot open the database in {}", data_dir.display()))?,
    };
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let admin_id = std::env::var("TESSERA_ADMIN_CLIENT_ID").ok();
    let admin_secret = std::env::var("TESSERA_ADMIN_CLIENT_SECRET").ok();
    if let Some((id, secret)) = ensure_admin(&store, admin_id, admin_secret, clock.now().timestamp_millis()).await? {
        println!("Created the administrator API client. Its secret is shown only this once:");
        println!("  client id:     {id}");
        println!("  client secret: {secret}");
        println!(
            "Get a token: curl -s -d grant_type=client_credentials -d client_id={id} -d client_secret=… http://{listen}/oauth/token"
        );
    }
    let auth = Arc::new(Auth::load(&store, clock.clone()).await?);
    let engine = Engine::new(store.clone(), clock, config);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let workers = engine.spawn_workers(stopped);
    let state = AppState { engine: engine.clone(), auth, limits: ApiLimits::default() };
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
    let where_ = match database {
        Some(url) => tessera_store::redact_url(url),
        None => data_dir.join("tessera.db").display().to_string(),
    };
    println!("Tessera is listening on http://{} (database: {where_})", listener.local_addr()?);
    tracing::info!(%listen, "serving");
    axum::serve(listener, tessera_server::router(state)).with_graceful_shutdown(terminated()).await?;
    tracing::info!("stopping: draining the workers");
    let _ = stop.send(true);
    engine.notify();
    for worker in workers {
        let _ = tokio::time::timeout(Duration::from_secs(30), worker).await;
    }
    store.close().await;
    println!("Tessera stopped.");
    Ok(())
}

/// Resolves on SIGTERM or Ctrl-C.
async fn terminated() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
