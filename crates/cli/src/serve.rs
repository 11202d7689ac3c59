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
use tessera_engine::actions::email::{SmtpConfig, SmtpTls};
use tessera_engine::{Engine, EngineConfig};
use tessera_governance::{Governance, GovernanceConfig};
use tessera_model::{Clock, SystemClock};
use tessera_server::auth::{AdminClient, Auth, TokenGate, ensure_admin};
use tessera_server::{ApiLimits, AppState};

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "TESSERA_LISTEN")]
    listen: Option<SocketAddr>,
    /// Also serve Prometheus metrics at `/metrics` on this address, without a token: bind it where only
    /// the scraper reaches (on the API address, `/metrics` needs a token with `tessera:metrics:read`).
    #[arg(long, env = "TESSERA_METRICS_LISTEN")]
    metrics_listen: Option<SocketAddr>,
    /// Where the SQLite database (and other local state) lives.
    #[arg(long, env = "TESSERA_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// A PostgreSQL URL (`postgres://user:pass@host/db`) to use instead of the local SQLite file.
    #[arg(long, env = "TESSERA_DATABASE", hide_env_values = true)]
    database: Option<String>,
    /// A file holding the node key, which seals every secret at rest (connector secrets, token signing
    /// keys, credentials in workflows, named secrets): base64 of 32 bytes; further keys, after commas
    /// or on later lines, still open what they sealed, and everything moves to the first at start (a
    /// rotation). `TESSERA_SECRET_KEY` may hold the keys themselves instead. Without either, the node
    /// makes `secret.key` in the data directory on first start and keeps using it.
    #[arg(long, env = "TESSERA_SECRET_KEY_FILE")]
    secret_key_file: Option<PathBuf>,
    /// A TOML file with any of: listen, metrics_listen, data_dir, database, secret_key_file, import_dirs, workers,
    /// lease_seconds, event_starts_per_second, progress_interval_ms, max_transitions, max_loop_items,
    /// max_wait, max_state_bytes, max_definition_bytes, http_timeout, http_allow, http_deny,
    /// http_max_response_bytes, http_max_in_flight_bytes, token_lifetime, trusted_proxies,
    /// max_connections, header_read_timeout, a `[tls]` table (cert, key, reload), an `[smtp]` table
    /// (host, port, from, username, password, tls, timeout) and a `[retention]` table (executions,
    /// outbox, notifications, audit: durations such as 90d, or never).
    #[arg(long, env = "TESSERA_CONFIG")]
    config: Option<PathBuf>,
    /// Workers on this node.
    #[arg(long, env = "TESSERA_WORKERS")]
    workers: Option<usize>,
    /// Seconds a claimed task stays this node's; a dead node's tasks are taken over after it.
    /// Keep it above the longest action timeout.
    #[arg(long, env = "TESSERA_LEASE_SECONDS")]
    lease_seconds: Option<u64>,
    /// Seed a demo organisation on first start: an HR file of a few hundred people, sources,
    /// access, birthright roles, lifecycle states, and joiner, mover and leaver workflows.
    #[arg(long, env = "TESSERA_DEMO")]
    demo: bool,
    /// Executions an event may start per second for one workflow; more are queued, never dropped
    /// (0: no limit).
    #[arg(long, env = "TESSERA_EVENT_STARTS_PER_SECOND")]
    event_starts_per_second: Option<u32>,
    /// A directory delimited-file sources may read the files they name from (repeat the flag, or
    /// separate them with `:` in the variable). By default `imports` in the data directory; no
    /// source reads a file anywhere else.
    #[arg(long = "import-dir", env = "TESSERA_IMPORT_DIRS", value_delimiter = ':')]
    import_dirs: Vec<PathBuf>,
    /// An address, range or host name, with an optional port, that `sp:http` may reach although it is
    /// refused by default (loopback, link-local, metadata) or by `http_deny`; added to the file's
    /// `http_allow` (repeat the flag, or separate them with commas).
    #[arg(long = "http-allow", env = "TESSERA_HTTP_ALLOW", value_delimiter = ',')]
    http_allow: Vec<String>,
    /// Serve HTTPS with this certificate chain (PEM); needs --tls-key. Reloaded when the file changes.
    #[arg(long, env = "TESSERA_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(long, env = "TESSERA_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
}

/// The config file's fields.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    /// Where Prometheus may scrape `/metrics` without a token.
    metrics_listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    database: Option<String>,
    secret_key_file: Option<PathBuf>,
    workers: Option<usize>,
    lease_seconds: Option<u64>,
    event_starts_per_second: Option<u32>,
    /// How often (ms) a running aggregation writes its progress for the API.
    progress_interval_ms: Option<u64>,
    /// Guard rails: steps per body (the top level, or one loop iteration), items per loop, the longest
    /// wait, the largest execution state, the largest definition, and the default timeout of an HTTP
    /// action.
    max_transitions: Option<u64>,
    max_loop_items: Option<usize>,
    max_wait: Option<String>,
    max_state_bytes: Option<usize>,
    max_definition_bytes: Option<usize>,
    http_timeout: Option<String>,
    /// Addresses, ranges or host names (each with an optional port) the HTTP action may reach although
    /// the defaults or `http_deny` refuse them.
    http_allow: Option<Vec<String>>,
    /// Address ranges the HTTP action may not reach although the defaults allow them.
    http_deny: Option<Vec<String>>,
    /// The largest response one HTTP action reads, and the bytes all of them may hold at once.
    http_max_response_bytes: Option<usize>,
    http_max_in_flight_bytes: Option<usize>,
    /// How long an issued token is good for (and the longest lifetime a token may claim).
    token_lifetime: Option<String>,
    /// Reverse proxies (CIDR) whose `X-Forwarded-For` names the client's address.
    trusted_proxies: Option<Vec<String>>,
    /// Connections served at once (more wait to be accepted).
    max_connections: Option<usize>,
    /// How long a client may take to send a request's headers.
    header_read_timeout: Option<String>,
    /// TLS: `cert` and `key` PEM files, checked for changes every `reload` (default 60s).
    tls: Option<TlsFile>,
    /// Where delimited-file sources may read files from.
    import_dirs: Option<Vec<PathBuf>>,
    /// The SMTP server `sp:send-email` hands mail to.
    smtp: Option<SmtpFile>,
    /// How long ended executions, dispatched events, sent notifications and audit entries are kept.
    retention: Option<crate::purge::RetentionFile>,
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
    let secret_key_file = args.secret_key_file.or(file.secret_key_file);
    let mut engine_config = EngineConfig::default();
    let mut governance_config = GovernanceConfig::default();
    if let Some(workers) = args.workers.or(file.workers) {
        engine_config.workers = workers;
    }
    if let Some(lease) = args.lease_seconds.or(file.lease_seconds) {
        engine_config.lease = std::time::Duration::from_secs(lease.max(1));
    }
    if let Some(rate) = args.event_starts_per_second.or(file.event_starts_per_second) {
        engine_config.event_starts_per_second = rate;
    }
    if let Some(ms) = file.progress_interval_ms {
        governance_config.progress_interval = Duration::from_millis(ms.max(50));
    }
    if let Some(max) = file.max_transitions {
        engine_config.limits.max_transitions = max;
    }
    if let Some(max) = file.max_loop_items {
        engine_config.limits.max_loop_items = max;
    }
    if let Some(max) = &file.max_wait {
        engine_config.limits.max_wait_seconds = duration(max, "max_wait")?.as_secs();
    }
    if let Some(max) = file.max_state_bytes {
        engine_config.max_state_bytes = max;
    }
    if let Some(timeout) = &file.http_timeout {
        engine_config.http.default_timeout = Duration::from_secs(duration(timeout, "http_timeout")?.as_secs().max(1));
    }
    for entry in file.http_allow.iter().flatten().chain(&args.http_allow) {
        let allowed = entry.parse().map_err(|reason: String| anyhow::anyhow!("http_allow: {reason}"))?;
        engine_config.http.policy.allow.push(allowed);
    }
    if let Some(max) = file.http_max_response_bytes {
        engine_config.http.max_response_bytes = max.max(1);
    }
    if let Some(max) = file.http_max_in_flight_bytes {
        engine_config.http.max_in_flight_bytes = max.max(1);
    }
    for cidr in file.http_deny.iter().flatten() {
        let net =
            cidr.parse().with_context(|| format!("http_deny: `{cidr}` is not an address range such as 10.0.0.0/8"))?;
        engine_config.http.policy.deny.push(net);
    }
    engine_config.smtp = smtp_config(file.smtp.unwrap_or_default())?;
    governance_config.retention = crate::purge::retention(&file.retention.unwrap_or_default())?;
    let import_dirs = if args.import_dirs.is_empty() { file.import_dirs.unwrap_or_default() } else { args.import_dirs };
    let token_lifetime = match &file.token_lifetime {
        Some(text) => Duration::from_secs(duration(text, "token_lifetime")?.as_secs().max(60)),
        None => tessera_server::auth::DEFAULT_LIFETIME,
    };
    let mut trusted_proxies = Vec::new();
    for cidr in file.trusted_proxies.iter().flatten() {
        let net = cidr
            .parse()
            .with_context(|| format!("trusted_proxies: `{cidr}` is not an address range such as 10.0.0.0/8"))?;
        trusted_proxies.push(net);
    }
    let mut listen_config = tessera_server::listen::ListenConfig::default();
    if let Some(max) = file.max_connections {
        listen_config.max_connections = max.max(1);
    }
    if let Some(text) = &file.header_read_timeout {
        listen_config.header_read_timeout =
            Duration::from_secs(duration(text, "header_read_timeout")?.as_secs().max(1));
    }
    let reload = match file.tls.as_ref().and_then(|tls| tls.reload.as_deref()) {
        Some(text) => Duration::from_secs(duration(text, "tls.reload")?.as_secs().max(1)),
        None => Duration::from_secs(60),
    };
    listen_config.tls = match (args.tls_cert, args.tls_key, file.tls) {
        (Some(cert), Some(key), _) => Some(tessera_server::listen::TlsFiles { cert, key, reload_every: reload }),
        (_, _, Some(tls)) => {
            Some(tessera_server::listen::TlsFiles { cert: tls.cert, key: tls.key, reload_every: reload })
        }
        _ => None,
    };
    let api_limits = ApiLimits {
        max_definition_bytes: file.max_definition_bytes.unwrap_or(ApiLimits::default().max_definition_bytes),
    };
    crate::logging::init();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(serve(Node {
        listen,
        metrics_listen: args.metrics_listen.or(file.metrics_listen),
        data_dir,
        database,
        secret_key_file,
        engine: engine_config,
        governance: governance_config,
        limits: api_limits,
        token_lifetime,
        trusted_proxies,
        import_dirs,
        serving: listen_config,
        demo: args.demo,
    }))?;
    Ok(ExitCode::SUCCESS)
}

fn duration(text: &str, name: &str) -> Result<tessera_model::Duration> {
    text.parse().with_context(|| format!("{name}: `{text}` is not a duration such as 30s, 10m or 7d"))
}

/// The config file's `[tls]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsFile {
    cert: PathBuf,
    key: PathBuf,
    reload: Option<String>,
}

/// The config file's `[smtp]` table.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SmtpFile {
    host: Option<String>,
    port: Option<u16>,
    from: Option<String>,
    username: Option<String>,
    password: Option<String>,
    /// `none`, `starttls` or `tls`.
    tls: Option<String>,
    timeout: Option<String>,
}

/// Everything but the password.
impl std::fmt::Debug for SmtpFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpFile")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("from", &self.from)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("tls", &self.tls)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// The SMTP settings: each `TESSERA_SMTP_*` variable (HOST, PORT, FROM, USERNAME, PASSWORD, TLS) wins
/// over the `[smtp]` table. The port defaults by TLS mode: 25, 587 with STARTTLS, 465 with TLS.
fn smtp_config(file: SmtpFile) -> Result<SmtpConfig> {
    let env = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
    let defaults = SmtpConfig::default();
    let tls = match env("TESSERA_SMTP_TLS").or(file.tls) {
        Some(text) => match text.to_ascii_lowercase().as_str() {
            "none" => SmtpTls::None,
            "starttls" => SmtpTls::StartTls,
            "tls" => SmtpTls::Tls,
            _ => anyhow::bail!("smtp.tls or TESSERA_SMTP_TLS: `{text}` is not one of none, starttls, tls"),
        },
        None => defaults.tls,
    };
    let port = match env("TESSERA_SMTP_PORT") {
        Some(text) => text.parse().with_context(|| format!("TESSERA_SMTP_PORT: `{text}` is not a port number"))?,
        None => file.port.unwrap_or(match tls {
            SmtpTls::None => defaults.port,
            SmtpTls::StartTls => 587,
            SmtpTls::Tls => 465,
        }),
    };
    let timeout = match &file.timeout {
        Some(text) => Duration::from_secs(duration(text, "smtp.timeout")?.as_secs().max(1)),
        None => defaults.timeout,
    };
    let config = SmtpConfig {
        host: env("TESSERA_SMTP_HOST").or(file.host).unwrap_or(defaults.host),
        port,
        from: env("TESSERA_SMTP_FROM").or(file.from).unwrap_or(defaults.from),
        username: env("TESSERA_SMTP_USERNAME").or(file.username),
        password: env("TESSERA_SMTP_PASSWORD").or(file.password),
        tls,
        timeout,
    };
    config
        .check()
        .map_err(|reason| anyhow::anyhow!("the SMTP settings (`[smtp]`, TESSERA_SMTP_*) cannot work: {reason}"))?;
    Ok(config)
}

/// Everything one node is started with.
struct Node {
    listen: SocketAddr,
    metrics_listen: Option<SocketAddr>,
    data_dir: PathBuf,
    database: Option<String>,
    secret_key_file: Option<PathBuf>,
    engine: EngineConfig,
    governance: GovernanceConfig,
    limits: ApiLimits,
    token_lifetime: Duration,
    trusted_proxies: Vec<tessera_engine::actions::http::IpNet>,
    import_dirs: Vec<PathBuf>,
    serving: tessera_server::listen::ListenConfig,
    demo: bool,
}

/// Takes `serve.lock` in the SQLite data directory for as long as this node serves.
fn lock_data_dir(data_dir: &Path) -> Result<std::fs::File> {
    crate::store::usable(data_dir, true)?;
    crate::store::lock_data_dir(data_dir)?.map_err(|who| {
        anyhow::anyhow!(
            "another `tessera serve`{who} is serving from {}: two servers on one SQLite database fail each \
             other's writes. Stop it first, or give this one its own --data-dir. `tessera source aggregate`, \
             `tessera backup` and `tessera clients` work beside a running server",
            data_dir.display()
        )
    })
}

/// "Address already in use" with what to do about it.
fn cannot_listen(listen: SocketAddr, error: std::io::Error) -> anyhow::Error {
    if error.kind() == std::io::ErrorKind::AddrInUse {
        anyhow::anyhow!(
            "cannot listen on {listen}: the address is in use (another Tessera?); stop it, or listen elsewhere with \
             --listen 127.0.0.1:8081"
        )
    } else {
        anyhow::anyhow!("cannot listen on {listen}: {error}")
    }
}

async fn serve(node: Node) -> Result<()> {
    // The port first: a start that cannot serve must not create anything (such as an administrator
    // client whose one-time secret would be printed and lost).
    let listener = tokio::net::TcpListener::bind(node.listen).await.map_err(|e| cannot_listen(node.listen, e))?;
    let metrics_listener = match node.metrics_listen {
        Some(address) => Some(tokio::net::TcpListener::bind(address).await.map_err(|e| cannot_listen(address, e))?),
        None => None,
    };
    let data_dir = node.data_dir.as_path();
    // One server per SQLite database: a second would fail the first's writes ("database is locked").
    let _lock = match node.database {
        None => Some(lock_data_dir(data_dir)?),
        Some(_) => None,
    };
    let store = crate::store::open(data_dir, node.database.as_deref(), node.secret_key_file.as_deref()).await?;
    // Secrets written in plain text (before sealing, or straight into the database) or under a key
    // rotated out are sealed under the current key, so none stays readable in the database.
    let resealed =
        tessera_store::secrets::reseal_sources(&store).await.context("cannot seal the sources' connector secrets")?;
    if resealed.sources > 0 {
        tracing::info!(sources = resealed.sources, "sealed connector secrets under the current key");
    }
    for problem in &resealed.unopenable {
        tracing::warn!(%problem, "a connector secret stays as it was");
    }
    // Credentials pasted into workflows before they were sealed: sealed, and scrubbed from history.
    let sealed =
        tessera_engine::secrets::seal_stored(&store).await.context("cannot seal the workflows' credentials")?;
    if sealed.versions > 0 || sealed.entries > 0 {
        tracing::info!(
            versions = sealed.versions,
            history = sealed.entries,
            "sealed credentials written into workflows, and scrubbed them from execution history"
        );
    }
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let admin_id = std::env::var("TESSERA_ADMIN_CLIENT_ID").ok().filter(|id| !id.is_empty());
    let admin_secret = std::env::var("TESSERA_ADMIN_CLIENT_SECRET").ok().filter(|secret| !secret.is_empty());
    let listen = listener.local_addr()?;
    match ensure_admin(&store, admin_id, admin_secret, clock.now()).await? {
        AdminClient::Created { id, generated_secret: Some(secret) } => {
            println!("Created the administrator API client. Its secret is shown only this once:");
            println!("  client id:     {id}");
            println!("  client secret: {secret}");
            println!(
                "Get a token: curl -s -d grant_type=client_credentials -d client_id={id} -d client_secret=… http://{listen}/oauth/token"
            );
        }
        AdminClient::Created { id, generated_secret: None } => {
            println!("Created the administrator API client {id} with the secret in TESSERA_ADMIN_CLIENT_SECRET.");
        }
        AdminClient::SecretReplaced { id } => {
            println!(
                "The administrator API client {id} now has the secret in TESSERA_ADMIN_CLIENT_SECRET; its earlier tokens are refused."
            );
        }
        AdminClient::Unchanged => {}
    }
    let auth = Arc::new(Auth::load(&store, clock.clone(), node.token_lifetime).await?);
    let mut config = node.engine;
    // Workflows may call this node's own API over loopback, as ISC workflows call their tenant's.
    config.http.policy.own_api_port = Some(listen.port());
    let engine = Engine::new(store.clone(), clock.clone(), config);
    let mut governance_config = node.governance;
    governance_config.imports = crate::store::imports(data_dir, &node.import_dirs)?;
    let governance = Governance::new(engine.clone(), governance_config)?;
    if node.demo {
        seed_demo(&governance, &store, data_dir, clock.as_ref()).await?;
    }
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut workers = engine.spawn_workers(stopped.clone());
    workers.extend(governance.spawn(stopped.clone()));
    workers.push(engine.spawn_dispatcher(stopped));
    let state = AppState {
        engine: engine.clone(),
        governance: governance.clone(),
        auth,
        limits: node.limits,
        uploads: data_dir.join("uploads"),
        gate: Arc::new(TokenGate::new(node.trusted_proxies)),
    };
    let where_ = match &node.database {
        Some(url) => tessera_store::redact_url(url),
        None => data_dir.join("tessera.db").display().to_string(),
    };
    let scheme = if node.serving.tls.is_some() { "https" } else { "http" };
    // A certificate that cannot be used stops the start here, with the reason.
    if let Some(files) = &node.serving.tls {
        tessera_server::listen::check_tls(files)?;
    }
    let (api, metrics) = tessera_server::routers(state);
    let terminated = terminated()?;
    println!("Tessera is listening on {scheme}://{listen} (database: {where_})");
    if let Some(metrics_listener) = metrics_listener {
        println!("Prometheus metrics, without a token: http://{}/metrics", metrics_listener.local_addr()?);
        let mut stopping = stop.subscribe();
        tokio::spawn(async move {
            let stopped = async move {
                let _ = stopping.wait_for(|stop| *stop).await;
            };
            if let Err(error) = axum::serve(metrics_listener, metrics).with_graceful_shutdown(stopped).await {
                tracing::error!(%error, "the metrics address stopped serving");
            }
        });
    }
    tracing::info!(%listen, "serving");
    tessera_server::listen::serve(listener, api, node.serving, terminated).await?;
    tracing::info!("stopping: draining the workers");
    let _ = stop.send(true);
    engine.wake_workers();
    for worker in workers {
        let _ = tokio::time::timeout(Duration::from_secs(30), worker).await;
    }
    store.close().await;
    println!("Tessera stopped.");
    Ok(())
}

/// Seeds the demo on first start: the catalogue, a first aggregation of the HR file (whose events
/// are dispatched before any workflow exists, as if the organisation predated them), then the
/// workflows.
async fn seed_demo(
    governance: &Governance,
    store: &tessera_store::Store,
    data_dir: &Path,
    clock: &dyn Clock,
) -> Result<()> {
    let imports = &governance.config().imports;
    if !crate::demo::seed_catalog(store, imports, clock).await? {
        if let Some(moved) = crate::demo::relocate_hr_file(store, data_dir, imports, clock).await? {
            println!("Moved the demo's HR file into the import directory: {}", moved.display());
        }
        if crate::demo::ensure_admin(store, clock).await? {
            println!("Added the demo's administrator: the identity `admin` ({}), ORG_ADMIN", crate::demo::ADMIN);
        }
        return Ok(());
    }
    let summary = tessera_governance::aggregate_now(store, clock, crate::demo::HR_SOURCE, imports).await?;
    while governance.engine().dispatch_events().await? > 0 {}
    let desk = crate::demo::staff_service_desk(store, clock).await?;
    crate::demo::ensure_admin(store, clock).await?;
    crate::demo::seed_workflows(store, clock).await?;
    println!(
        "Seeded the demo organisation: {} identities from {}",
        summary.identities_created,
        crate::demo::hr_file(imports)?.display()
    );
    println!("The IT Service Desk, who work the demo's account requests: {}", desk.join(", "));
    println!("The administrator: the identity `admin` ({}), ORG_ADMIN", crate::demo::ADMIN);
    println!(
        "Edit that file, then aggregate: tessera source aggregate HR --data-dir {}   (or wait for the 5-minute schedule)",
        data_dir.display()
    );
    Ok(())
}

/// A future that resolves on SIGTERM or Ctrl-C, with its handlers installed now: a signal that
/// arrives once "listening" is printed drains the server instead of killing it.
#[cfg(unix)]
fn terminated() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = interrupt.recv() => {}
        }
    })
}

#[cfg(not(unix))]
fn terminated() -> std::io::Result<impl std::future::Future<Output = ()>> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}
