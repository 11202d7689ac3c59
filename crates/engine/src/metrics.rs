//! What a node counts for Prometheus: executions started and ended by workflow and outcome, how
//! long each action takes, provisioning plans finished, aggregation rows and their rate; and, read
//! from the database when scraped, queue depth, the oldest due task, events waiting for dispatch,
//! open plans and the work waiting for people. Counters move only once what they count has
//! committed ([`tessera_store::Tx::after_commit`]).

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

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

/// A state, a source or a kind of person's work.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabel {
    pub state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SourceLabel {
    pub source: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    pub kind: String,
}

type Seconds = Gauge<f64, AtomicU64>;

/// The node's metrics. Cheap to clone: every metric is shared.
#[derive(Debug, Clone)]
pub struct Metrics {
    executions_started: Family<WorkflowLabel, Counter>,
    executions_ended: Family<EndLabels, Counter>,
    action_seconds: Family<ActionLabels, Histogram>,
    plans_finished: Family<StateLabel, Counter>,
    aggregation_rows: Family<SourceLabel, Counter>,
    aggregation_rate: Family<SourceLabel, Seconds>,
    tasks_queued: Gauge,
    oldest_task_seconds: Seconds,
    events_waiting: Gauge,
    outbox_lag_seconds: Seconds,
    executions_running: Gauge,
    open_plans: Family<StateLabel, Gauge>,
    person_work: Family<KindLabel, Gauge>,
    oldest_person_work_seconds: Family<KindLabel, Seconds>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            executions_started: Family::default(),
            executions_ended: Family::default(),
            // 1 ms to about 65 s.
            action_seconds: Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.001, 2.0, 17))),
            plans_finished: Family::default(),
            aggregation_rows: Family::default(),
            aggregation_rate: Family::default(),
            tasks_queued: Gauge::default(),
            oldest_task_seconds: Seconds::default(),
            events_waiting: Gauge::default(),
            outbox_lag_seconds: Seconds::default(),
            executions_running: Gauge::default(),
            open_plans: Family::default(),
            person_work: Family::default(),
            oldest_person_work_seconds: Family::default(),
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
        r.register(
            "tessera_provisioning_plans_finished",
            "Provisioning plans finished, by state",
            self.plans_finished.clone(),
        );
        r.register("tessera_aggregation_rows", "Rows read by aggregations", self.aggregation_rows.clone());
        r.register(
            "tessera_aggregation_rows_per_second",
            "Rows per second of a source's last aggregation",
            self.aggregation_rate.clone(),
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
        r.register(
            "tessera_provisioning_plans_open",
            "Provisioning plans not finished, by state",
            self.open_plans.clone(),
        );
        r.register("tessera_person_work_pending", "Work waiting for a person, by kind", self.person_work.clone());
        r.register(
            "tessera_person_work_oldest_age_seconds",
            "How long the oldest work waiting for a person has waited, by kind",
            self.oldest_person_work_seconds.clone(),
        );
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

    /// Counts a plan finished with `state` once `tx` commits.
    pub(crate) fn plan_finished(&self, tx: &mut tessera_store::Tx, state: tessera_model::PlanStatus) {
        let counter = self.plans_finished.get_or_create(&StateLabel { state: state.to_string() }).clone();
        tx.after_commit(move || {
            counter.inc();
        });
    }

    /// Records an aggregation run of `source` that read `rows` in `took`.
    pub(crate) fn aggregated(&self, source: &str, rows: u64, took: std::time::Duration) {
        let label = SourceLabel { source: source.to_owned() };
        self.aggregation_rows.get_or_create(&label).inc_by(rows);
        let seconds = took.as_secs_f64();
        if seconds > 0.0 {
            self.aggregation_rate.get_or_create(&label).set(rows as f64 / seconds);
        }
    }
}

/// Milliseconds between `then` and `now`, in seconds; 0 when nothing waits.
fn age(now: i64, then: Option<i64>) -> f64 {
    then.map_or(0.0, |then| (now - then).max(0) as f64 / 1000.0)
}

impl Engine {
    /// The node's metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Reads the database's figures into the gauges; call before encoding a scrape.
    pub async fn refresh_metrics(&self) -> Result<()> {
        let now = self.now_ms();
        let figures = self.store.figures(now).await?;
        let m = &self.metrics;
        m.tasks_queued.set(figures.tasks_queued);
        m.oldest_task_seconds.set(age(now, figures.oldest_due_task_at));
        m.events_waiting.set(figures.events_waiting);
        m.outbox_lag_seconds.set(age(now, figures.oldest_event_at));
        m.executions_running.set(figures.executions_running);
        for state in [tessera_model::PlanStatus::Queued, tessera_model::PlanStatus::Pending] {
            let open = figures.open_plans.iter().find(|(s, _)| s == state.as_str()).map_or(0, |(_, n)| *n);
            m.open_plans.get_or_create(&StateLabel { state: state.to_string() }).set(open);
        }
        let work = [
            ("inbox", figures.inbox_pending, figures.oldest_inbox_at),
            ("work_item", figures.work_items_open, figures.oldest_work_item_at),
        ];
        for (kind, pending, oldest) in work {
            let label = KindLabel { kind: kind.to_owned() };
            m.person_work.get_or_create(&label).set(pending);
            m.oldest_person_work_seconds.get_or_create(&label).set(age(now, oldest));
        }
        Ok(())
    }
}
