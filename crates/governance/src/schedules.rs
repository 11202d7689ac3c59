//! Sources' aggregation schedules: one node at a time (the holder of an advisory lock on
//! PostgreSQL) keeps each scheduled source's next run in the runtime's `schedules` table under the
//! key `source:<id>` and, when it falls due, hands the source to this node's ticker to aggregate.
//! A run missed while no node ran is made up once. The same pass marks the runs a stopped node left
//! RUNNING as interrupted.

use serde_json::Value;
use tessera_flow::schedule::Schedule;
use tessera_model::Timestamp;
use tessera_store::{AccessStore, CatalogKind, CatalogObject, CatalogStore, QueueStore};

use crate::{AggregateOptions, Governance, Result};

/// The advisory lock that makes one node the planner of source schedules for a round.
const SOURCE_SCHEDULE_LOCK: i64 = 0x7e55_a66e;

/// The prefix of a source's key among the schedules.
const KEY_PREFIX: &str = "source:";

/// A source's aggregation schedule: the first `ACCOUNT_AGGREGATION` entry of its `schedules`, a
/// Quartz-style `cronExpression` with an optional `timeZone`.
fn source_schedule(source: &CatalogObject) -> Option<Schedule> {
    let entry = source.document.get("schedules")?.as_array()?.iter().find(|s| {
        s.get("type").and_then(Value::as_str).is_none_or(|t| t.eq_ignore_ascii_case("ACCOUNT_AGGREGATION"))
    })?;
    let mut attributes = serde_json::Map::new();
    attributes.insert("cronString".into(), entry.get("cronExpression")?.clone());
    if let Some(zone) = entry.get("timeZone") {
        attributes.insert("timeZone".into(), zone.clone());
    }
    Schedule::from_attributes(&attributes).ok()
}

impl Governance {
    /// Plans the sources' next aggregations and queues the due ones for this node; marks stale runs
    /// interrupted. Does nothing when another node holds the lock.
    pub async fn run_source_schedules(&self) -> Result<()> {
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        if !tx.try_leader_lock(SOURCE_SCHEDULE_LOCK).await? {
            return Ok(());
        }
        let stale = now - crate::STALE;
        let message = "the node running this aggregation stopped before it ended; run it again";
        if tx.interrupt_stale_aggregations(stale, now, message).await? > 0 {
            tracing::warn!("marked aggregations left running by a stopped node as interrupted");
        }
        let planned: Vec<(String, i64, Timestamp)> =
            tx.schedules().await?.into_iter().filter(|(key, _, _)| key.starts_with(KEY_PREFIX)).collect();
        let mut kept = Vec::new();
        for source in tx.all_objects(CatalogKind::Source).await? {
            let Some(schedule) = source_schedule(&source) else { continue };
            let key = format!("{KEY_PREFIX}{}", source.id);
            // A source's schedule is versioned by the source's last change, in milliseconds.
            let version_now = source.modified_at.millis();
            match planned.iter().find(|(k, _, _)| *k == key).map(|&(_, version, due)| (version, due)) {
                Some((version, due)) if version == version_now && due <= now => {
                    self.due_aggregations
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .push(source.id.clone());
                    match schedule.next_after(now) {
                        Some(at) => tx.set_schedule(&key, version_now, at).await?,
                        None => tx.drop_schedule(&key).await?,
                    }
                }
                Some((version, _)) if version == version_now => {}
                _ => {
                    if let Some(at) = schedule.next_after(now) {
                        tx.set_schedule(&key, version_now, at).await?;
                    }
                }
            }
            kept.push(key);
        }
        for (key, _, _) in planned.iter().filter(|(key, _, _)| !kept.contains(key)) {
            tx.drop_schedule(key).await?;
        }
        Ok(tx.commit().await?)
    }

    /// Runs, in the background, the scheduled aggregations that fell due (one at a time per source).
    pub(crate) fn start_due_aggregations(self: &std::sync::Arc<Self>) {
        let due: Vec<String> =
            std::mem::take(&mut *self.due_aggregations.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        for source in due {
            if self.is_aggregating(&source) {
                continue;
            }
            let governance = self.clone();
            tokio::spawn(async move {
                let options = AggregateOptions::default();
                if let Ok(summary) = governance.run_aggregation(&source, options).await {
                    tracing::info!(%source, status = %summary.status, scanned = summary.scanned, "scheduled aggregation ended");
                }
            });
        }
    }
}
