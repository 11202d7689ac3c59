//! What the runtime counts for Prometheus: executions started and ended by workflow and outcome, and
//! how long each action takes; and, read from the database when scraped, queue depth, the oldest
//! due task, events waiting for dispatch and running executions. Counters move only once what they
//! count has committed ([`tessera_store::Tx::after_commit`]). A domain registers its own beside
//! these.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tessera_model::Timestamp;

use crate::{Engine, Result};

/// A workflow.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WorkflowLabel {
    pub workflow: String,
}

/// A workflow and how an execution of it ended.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndLabels {
    pub workflow: String,
    /// `completed`, `failed` or `canceled`.
    pub outcome: String,
}

/// An action and whether it succeeded.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ActionLabels {
    pub action: String,
    /// `ok` or `error`.
    pub outcome: String,
}

/// A gauge of seconds (or any fraction).
pub type Seconds = Gauge<f64, AtomicU64>;

/// The node's metrics. Cheap to clone: every metric is shared.
#[derive(Debug, Clone)]
pub struct Metrics {
    executions_started: Family<WorkflowLabel, Counter>,
    executions_ended: Family<EndLabels, Counter>,
    action_seconds: Family<ActionLabels, Histogram>,
    tasks_queued: Gauge,
    oldest_task_seconds: Seconds,
    events_waiting: Gauge,
    outbox_lag_seconds: Seconds,
    executions_running: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            executions_started: Family::default(),
            executions_ended: Family::default(),
            // 1 ms to about 65 s.
            action_seconds: Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.001, 2.0, 17))),
            tasks_queued: Gauge::default(),
            oldest_task_seconds: Seconds::default(),
            events_waiting: Gauge::default(),
            outbox_lag_seconds: Seconds::default(),
            executions_running: Gauge::default(),
        }
    }
}

impl Metrics {
    /// Adds every metric to `registry`, named `tessera_…`.
    pub fn register(&self, registry: &mut Registry) {
        let r = registry;
        r.register("tessera_executions_started", "Executions started", self.executions_started.clone());
        r.register("tessera_executions_ended", "Executions ended, by outcome", self.executions_ended.clone());
        r.register(
            "tessera_action_duration_seconds",
            "How long a step's action took to perform",
            self.action_seconds.clone(),
        );
        r.register("tessera_tasks_queued", "Tasks queued, due or not", self.tasks_queued.clone());
        r.register(
            "tessera_oldest_due_task_age_seconds",
            "How long the longest-waiting due task has waited",
            self.oldest_task_seconds.clone(),
        );
        r.register("tessera_events_waiting", "Published events not yet dispatched", self.events_waiting.clone());
        r.register(
            "tessera_outbox_lag_seconds",
            "How long the oldest undispatched event has waited",
            self.outbox_lag_seconds.clone(),
        );
        r.register("tessera_executions_running", "Executions running or waiting", self.executions_running.clone());
    }

    /// Counts a start of `workflow` once `tx` commits.
    pub(crate) fn started(&self, tx: &mut tessera_store::Tx, workflow: &str) {
        let counter = self.executions_started.get_or_create(&WorkflowLabel { workflow: workflow.to_owned() }).clone();
        tx.after_commit(move || {
            counter.inc();
        });
    }

    /// Counts an end of `workflow` with `outcome` once `tx` commits.
    pub(crate) fn ended(&self, tx: &mut tessera_store::Tx, workflow: &str, outcome: &str) {
        let labels = EndLabels { workflow: workflow.to_owned(), outcome: outcome.to_owned() };
        let counter = self.executions_ended.get_or_create(&labels).clone();
        tx.after_commit(move || {
            counter.inc();
        });
    }

    /// Records how long an action took.
    pub(crate) fn action_took(&self, action: &str, ok: bool, took: std::time::Duration) {
        let labels = ActionLabels { action: action.to_owned(), outcome: if ok { "ok" } else { "error" }.to_owned() };
        self.action_seconds.get_or_create(&labels).observe(took.as_secs_f64());
    }
}

/// The time from `then` to `now`, in seconds; 0 when nothing waits.
pub fn age(now: Timestamp, then: Option<Timestamp>) -> f64 {
    then.map_or(0.0, |then| now.saturating_millis_since(then).max(0) as f64 / 1000.0)
}

impl Engine {
    /// The node's metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Reads the database's figures into the gauges; call before encoding a scrape.
    pub async fn refresh_metrics(&self) -> Result<()> {
        let now = self.now();
        let figures = self.store.figures(now).await?;
        self.metrics.show(&figures, now);
        Ok(())
    }
}

impl Metrics {
    /// Sets the gauges from the database's `figures`, read at `now`.
    pub fn show(&self, figures: &tessera_store::Figures, now: Timestamp) {
        let m = self;
        m.tasks_queued.set(figures.tasks_queued);
        m.oldest_task_seconds.set(age(now, figures.oldest_due_task_at));
        m.events_waiting.set(figures.events_waiting);
        m.outbox_lag_seconds.set(age(now, figures.oldest_event_at));
        m.executions_running.set(figures.executions_running);
    }
}
