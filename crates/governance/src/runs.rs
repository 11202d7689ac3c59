//! Aggregation runs on a node: at most one per source at a time, each recorded under its id even
//! when it fails before reading a row, and runs a dead node left RUNNING marked interrupted.

use std::sync::PoisonError;

use serde_json::json;
use tessera_model::{AggregationStatus, Timestamp};
use tessera_store::{AccessStore, AggregationRecord, CatalogKind, CatalogStore, SecurityStore, Store};

use super::aggregate::{AggregateOptions, Summary, aggregate};
use crate::{Error, Governance, Result};

/// A RUNNING aggregation whose record has not moved for this long was cut off by its node's end.
pub(crate) const STALE: std::time::Duration = std::time::Duration::from_secs(5 * 60);

/// The node's claim on a source while it aggregates it, released however the run ends.
struct Running<'e> {
    engine: &'e Governance,
    claimed: Vec<String>,
}

impl Running<'_> {
    fn claim(&mut self, key: &str) -> Result<()> {
        if !self.engine.aggregating.lock().unwrap_or_else(PoisonError::into_inner).insert(key.to_owned()) {
            return Err(Error::Conflict(format!("source {key} is being aggregated; wait for that run to end")));
        }
        self.claimed.push(key.to_owned());
        Ok(())
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        let mut running = self.engine.aggregating.lock().unwrap_or_else(PoisonError::into_inner);
        for key in &self.claimed {
            running.remove(key);
        }
    }
}

impl Governance {
    /// Claims `source` for `running`, as named and by id; returns the id.
    async fn claim_source(&self, running: &mut Running<'_>, source: &str) -> Result<String> {
        running.claim(source)?;
        let mut tx = self.store.begin().await?;
        let found = tx.object_named(CatalogKind::Source, source).await?;
        drop(tx);
        let source_id = found.map_or_else(|| source.to_owned(), |s| s.id);
        if source_id != source {
            running.claim(&source_id)?;
        }
        Ok(source_id)
    }

    /// Records a PENDING run of source `source_id` under a new id, audited as `actor`'s, and starts it
    /// in the background reading `file` (an upload) or the source's own; `keep` is dropped once the
    /// run is over (an uploaded file's guard). The run's id is readable as soon as this returns, and
    /// the run records its own failure.
    pub async fn start_aggregation(
        self: &std::sync::Arc<Self>,
        source_id: &str,
        file: Option<std::path::PathBuf>,
        keep: impl Send + 'static,
        actor: &str,
    ) -> Result<String> {
        let run = uuid::Uuid::now_v7().simple().to_string();
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let detail = json!({ "aggregation": run, "upload": file.is_some() });
        tx.audit(actor, "source.load-accounts", "source", source_id, &detail, now).await?;
        tx.insert_aggregation(&AggregationRecord {
            id: run.clone(),
            source_id: source_id.to_owned(),
            status: AggregationStatus::Pending,
            started_at: now,
            completed_at: None,
            processed: 0,
            stats: json!({}),
            errors: json!([]),
            message: None,
            updated_at: now,
        })
        .await?;
        tx.commit().await?;
        let options = AggregateOptions { id: Some(run.clone()), file, ..Default::default() };
        let governance = self.clone();
        let source_id = source_id.to_owned();
        tokio::spawn(async move {
            let _ = governance.run_aggregation(&source_id, options).await;
            drop(keep);
        });
        Ok(run)
    }

    /// Whether this node is aggregating the source now.
    pub fn is_aggregating(&self, source_id: &str) -> bool {
        self.aggregating.lock().unwrap_or_else(PoisonError::into_inner).contains(source_id)
    }

    /// Aggregates a source unless this node already is ([`Error::Conflict`]), writing progress every
    /// `progress_interval` of the engine's configuration; a failure is recorded
    /// under the run's id (`options.id`, made here when absent), and the event dispatcher is woken
    /// for what the run published.
    pub async fn run_aggregation(&self, source: &str, mut options: AggregateOptions) -> Result<Summary> {
        // Claimed first as named, at once, then by id too, so a run named by id and another named by
        // name cannot both go ahead.
        let mut running = Running { engine: self, claimed: Vec::new() };
        let claimed = self.claim_source(&mut running, source).await;
        let source_id = match claimed {
            Ok(id) => id,
            Err(error) => {
                if let Some(id) = &options.id
                    && let Err(error) = record_failure(&self.store, id, source, &error.to_string(), self.now()).await
                {
                    tracing::error!(aggregation = %id, %error, "could not record a refused aggregation");
                }
                return Err(error);
            }
        };
        let source_id = source_id.as_str();
        options.progress_interval = self.config.progress_interval;
        if options.imports.dirs().is_empty() {
            options.imports = self.config.imports.clone();
        }
        let id = options.id.get_or_insert_with(|| uuid::Uuid::now_v7().simple().to_string()).clone();
        let began = std::time::Instant::now();
        let outcome = aggregate(&self.store, self.clock.as_ref(), source_id, &options, &mut |_| {}).await;
        self.notify_events();
        if let Ok(summary) = &outcome {
            self.metrics.aggregated(source_id, summary.scanned, began.elapsed());
        }
        if let Err(error) = &outcome {
            // The reason can quote the file (a header row that was really a person's record): it goes
            // to the run's record, which only readers of sources see, not to the log.
            tracing::warn!(aggregation = %id, source = %source_id, "aggregation failed; the reason is recorded on the run");
            if let Err(error) = record_failure(&self.store, &id, source_id, &error.to_string(), self.now()).await {
                tracing::error!(aggregation = %id, %error, "could not record a failed aggregation");
            }
        }
        outcome
    }
}

/// Records a run that failed before or while it ran, so its id shows why.
async fn record_failure(store: &Store, id: &str, source_id: &str, message: &str, now: Timestamp) -> Result<()> {
    let mut tx = store.begin().await?;
    match tx.aggregation(id).await? {
        Some(mut run) => {
            run.status = AggregationStatus::Error;
            run.message = Some(message.to_owned());
            run.completed_at = Some(now);
            run.updated_at = now;
            tx.update_aggregation(&run).await?;
        }
        None => {
            tx.insert_aggregation(&AggregationRecord {
                id: id.to_owned(),
                source_id: source_id.to_owned(),
                status: AggregationStatus::Error,
                started_at: now,
                completed_at: Some(now),
                processed: 0,
                stats: json!({}),
                errors: json!([]),
                message: Some(message.to_owned()),
                updated_at: now,
            })
            .await?;
        }
    }
    Ok(tx.commit().await?)
}
