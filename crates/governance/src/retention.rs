//! How long a node keeps what it has finished with, and the hourly purge that forgets the rest:
//! ended executions (with their history) after 90 days, dispatched events after 7, answered
//! notifications after 30, audit entries after 400 — the audit log is kept longest, and a
//! configuration that would keep it shorter than anything else is refused.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::json;
use tessera_model::Timestamp;
use tessera_store::retention::{Cutoffs, Purged};
use tessera_store::{SecurityStore, Store};

use crate::{Governance, Result};

const DAY: Duration = Duration::from_secs(24 * 60 * 60);

/// How often a node purges.
pub(crate) const EVERY: Duration = Duration::from_secs(60 * 60);

/// How long each kind of record is kept; `None` keeps it for ever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub executions: Option<Duration>,
    pub outbox: Option<Duration>,
    pub notifications: Option<Duration>,
    pub audit: Option<Duration>,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            executions: Some(DAY * 90),
            outbox: Some(DAY * 7),
            notifications: Some(DAY * 30),
            audit: Some(DAY * 400),
        }
    }
}

impl Retention {
    /// Refuses an audit log kept for less time than any other record: who changed what must outlive
    /// what changed.
    pub fn check(&self) -> std::result::Result<(), String> {
        let Some(audit) = self.audit else { return Ok(()) };
        let others = [("executions", self.executions), ("outbox", self.outbox), ("notifications", self.notifications)];
        for (name, kept) in others {
            match kept {
                None => {
                    return Err(format!(
                        "audit is kept {}d but {name} for ever: keep the audit log longest",
                        audit.as_secs() / 86_400
                    ));
                }
                Some(kept) if kept > audit => {
                    return Err(format!(
                        "audit is kept {}d but {name} {}d: keep the audit log longest",
                        audit.as_secs() / 86_400,
                        kept.as_secs() / 86_400
                    ));
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// The instants before which each kind of record goes, as of `now`.
    pub fn cutoffs(&self, now: Timestamp) -> Cutoffs {
        let before = |kept: Option<Duration>| kept.map(|kept| now - kept);
        Cutoffs {
            executions: before(self.executions),
            outbox: before(self.outbox),
            notifications: before(self.notifications),
            audit: before(self.audit),
        }
    }
}

/// Purges from `store` what `retention` lets go as of `now`, and records in the audit log what
/// went.
pub async fn purge(store: &Store, retention: &Retention, now: Timestamp) -> Result<Purged> {
    let purged = store.purge(&retention.cutoffs(now)).await?;
    if purged.any() {
        let mut tx = store.begin().await?;
        let detail = json!({ "purged": purged });
        tx.audit("system:retention", "retention.purge", "retention", "node", &detail, now).await?;
        tx.commit().await?;
        tracing::info!(?purged, "purged records past their retention");
    }
    Ok(purged)
}

impl Governance {
    /// Purges what this node's retention lets go ([`purge`]).
    pub async fn purge(&self, retention: &Retention) -> Result<Purged> {
        purge(&self.store, retention, self.now()).await
    }

    /// Starts a purge in the background unless one is running.
    pub(crate) fn start_purge(self: &Arc<Self>) {
        if self.purging.swap(true, Ordering::AcqRel) {
            return;
        }
        let engine = self.clone();
        tokio::spawn(async move {
            let retention = engine.config.retention;
            if let Err(error) = engine.purge(&retention).await {
                tracing::warn!(%error, "purging past retention failed; retrying within the hour");
            }
            engine.purging.store(false, Ordering::Release);
        });
    }
}
