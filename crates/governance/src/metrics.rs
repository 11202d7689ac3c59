//! What the governance domain counts for Prometheus, beside the runtime's metrics: provisioning
//! plans finished, aggregation rows and their rate; and, read from the database when scraped, open
//! plans and the work waiting for people. Counters move only once what they count has committed.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tessera_engine::metrics::{Seconds, age};
use tessera_model::{PlanStatus, Timestamp};

use crate::{Governance, Result};

/// A plan's state.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabel {
    pub state: String,
}

/// A source.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SourceLabel {
    pub source: String,
}

/// A kind of person's work.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    pub kind: String,
}

/// The domain's metrics. Cheap to clone: every metric is shared.
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    plans_finished: Family<StateLabel, Counter>,
    aggregation_rows: Family<SourceLabel, Counter>,
    aggregation_rate: Family<SourceLabel, Seconds>,
    open_plans: Family<StateLabel, Gauge>,
    person_work: Family<KindLabel, Gauge>,
    oldest_person_work_seconds: Family<KindLabel, Seconds>,
}

impl Metrics {
    /// Adds every metric to `registry`, named `tessera_…`.
    pub fn register(&self, registry: &mut Registry) {
        let r = registry;
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

    /// Counts a plan finished with `state` once `tx` commits.
    pub(crate) fn plan_finished(&self, tx: &mut tessera_store::Tx, state: PlanStatus) {
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

    /// Sets the gauges from the database's `figures`, read at `now`.
    fn show(&self, figures: &tessera_store::Figures, now: Timestamp) {
        for state in [PlanStatus::Queued, PlanStatus::Pending] {
            let open = figures.open_plans.iter().find(|(s, _)| s == state.as_str()).map_or(0, |(_, n)| *n);
            self.open_plans.get_or_create(&StateLabel { state: state.to_string() }).set(open);
        }
        let work = [
            ("inbox", figures.inbox_pending, figures.oldest_inbox_at),
            ("work_item", figures.work_items_open, figures.oldest_work_item_at),
        ];
        for (kind, pending, oldest) in work {
            let label = KindLabel { kind: kind.to_owned() };
            self.person_work.get_or_create(&label).set(pending);
            self.oldest_person_work_seconds.get_or_create(&label).set(age(now, oldest));
        }
    }
}

impl Governance {
    /// Adds the runtime's metrics and the domain's to `registry`.
    pub fn register_metrics(&self, registry: &mut Registry) {
        self.engine.metrics().register(registry);
        self.metrics.register(registry);
    }

    /// Reads the database's figures into the runtime's gauges and the domain's; call before
    /// encoding a scrape.
    pub async fn refresh_metrics(&self) -> Result<()> {
        let now = self.now();
        let figures = self.store.figures(now).await?;
        self.engine.metrics().show(&figures, now);
        self.metrics.show(&figures, now);
        Ok(())
    }
}
