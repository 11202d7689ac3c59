//! The governance domain on one node: what it keeps beside the runtime (the sources it is
//! aggregating, the wake-up for provisioning, its metrics), its background loops, and its
//! attachment to the runtime as the [`Domain`](tessera_engine::Domain).

use std::collections::HashSet;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tessera_engine::{Domain, Engine};
use tessera_model::Clock;
use tessera_store::Store;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::actions::identity::IdentityActions;
use crate::metrics::Metrics;
use crate::retention::Retention;
use crate::{ImportDirs, Result};

/// How the governance domain runs.
#[derive(Debug, Clone)]
pub struct GovernanceConfig {
    /// How often a running aggregation writes its progress where the API reads it.
    pub progress_interval: Duration,
    /// How failed provisioning calls are retried.
    pub provisioning_retry: tessera_model::RetryPolicy,
    /// Where delimited-file sources may read the files they name.
    pub imports: ImportDirs,
    /// How long finished records are kept before the hourly purge.
    pub retention: Retention,
}

impl Default for GovernanceConfig {
    fn default() -> Self {
        Self {
            progress_interval: Duration::from_millis(500),
            provisioning_retry: crate::provisioning::default_retry(),
            imports: ImportDirs::default(),
            retention: Retention::default(),
        }
    }
}

/// The governance domain of a node, on the runtime `engine`. Whoever runs the node holds it: the
/// runtime only keeps a weak reference, so dropping this detaches the domain.
#[derive(Debug)]
pub struct Governance {
    pub(crate) engine: Arc<Engine>,
    pub(crate) store: Store,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) config: GovernanceConfig,
    /// The actions that read identities, accounts and access.
    pub(crate) identity: IdentityActions,
    pub(crate) metrics: Metrics,
    /// Wakes the provisioning loop.
    pub(crate) plans_queued: Notify,
    /// Sources whose scheduled aggregation fell due, for the ticker to run.
    pub(crate) due_aggregations: Mutex<Vec<String>>,
    /// Sources being aggregated on this node, so a slow run is not started twice.
    pub(crate) aggregating: Mutex<HashSet<String>>,
    /// Whether a retention purge runs now.
    pub(crate) purging: AtomicBool,
}

impl Governance {
    /// The governance domain on `engine`, attached to it. Refused when the engine already has a
    /// domain.
    pub fn new(engine: Arc<Engine>, config: GovernanceConfig) -> Result<Arc<Self>> {
        let store = engine.store().clone();
        let governance = Arc::new(Self {
            clock: engine.clock().clone(),
            identity: IdentityActions::new(store.clone()),
            store,
            engine,
            config,
            metrics: Metrics::default(),
            plans_queued: Notify::new(),
            due_aggregations: Mutex::new(Vec::new()),
            aggregating: Mutex::new(HashSet::new()),
            purging: AtomicBool::new(false),
        });
        let domain: Arc<dyn Domain> = governance.clone();
        governance.engine.attach(Arc::downgrade(&domain))?;
        Ok(governance)
    }

    /// The runtime this domain is plugged into.
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// The store both share.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// How this domain was configured.
    pub fn config(&self) -> &GovernanceConfig {
        &self.config
    }

    /// The node's clock reading.
    pub fn now(&self) -> tessera_model::Timestamp {
        self.clock.now()
    }

    /// Wakes the runtime's event dispatcher and this domain's provisioning loop: call after
    /// committing a transaction that published events or queued plans.
    pub fn notify_events(&self) {
        self.engine.notify_events();
        self.plans_queued.notify_waiters();
    }

    /// Wakes the runtime's idle workers: call after committing a transaction that queued work.
    pub fn wake_workers(&self) {
        self.engine.wake_workers();
    }

    /// Starts the domain's loops until `shutdown` turns true: provisioning (connector calls can be
    /// slow, so it has its own), deadlines of people's work with their notifications (email may be
    /// slow too), and a ticker for source schedules, scheduled access changes and the hourly purge.
    pub fn spawn(self: &Arc<Self>, shutdown: watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
        vec![
            self.spawn_provisioner(shutdown.clone()),
            self.spawn_notifier(shutdown.clone()),
            self.spawn_ticker(shutdown),
        ]
    }

    /// Every second: plans source schedules and runs the due aggregations, applies access that
    /// starts or ends now, and purges past retention an hour apart (the first a minute after start).
    fn spawn_ticker(self: &Arc<Self>, mut shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
        let governance = self.clone();
        tokio::spawn(async move {
            let mut next_purge = std::time::Instant::now() + Duration::from_secs(60);
            loop {
                if *shutdown.borrow() {
                    return;
                }
                if let Err(error) = governance.run_source_schedules().await {
                    tracing::warn!(%error, "planning source schedules failed; retrying");
                }
                governance.start_due_aggregations();
                if let Err(error) = governance.run_scheduled_access().await {
                    tracing::warn!(%error, "applying scheduled access changes failed; retrying");
                }
                if std::time::Instant::now() >= next_purge {
                    next_purge = std::time::Instant::now() + crate::retention::EVERY;
                    governance.start_purge();
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = shutdown.changed() => {}
                }
            }
        })
    }
}
