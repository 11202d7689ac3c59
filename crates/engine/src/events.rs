//! Event triggers: events in the outbox start one execution of each enabled workflow whose EVENT
//! trigger names the event's type and whose `filter.$` selects something in its payload. Marking
//! an event dispatched and starting its executions commit in one transaction, so each event starts
//! each matching workflow exactly once, on any number of nodes.

use std::sync::Arc;

use serde_json::Value;
use tessera_flow::filter::TriggerFilter;
use tessera_store::{QueueStore, WorkflowRecord, WorkflowStore};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::{Engine, Result};

/// Events handled per transaction.
const BATCH: i64 = 64;

/// Whether `workflow` is started by an event of type `topic` with `payload`.
fn triggered_by(workflow: &WorkflowRecord, topic: &str, payload: &Value) -> bool {
    let Some(trigger) = workflow.document.get("trigger") else { return false };
    let is_event = trigger.get("type").and_then(Value::as_str).is_some_and(|t| t.eq_ignore_ascii_case("EVENT"));
    let id = trigger.pointer("/attributes/id").and_then(Value::as_str);
    if !is_event || id != Some(topic) {
        return false;
    }
    match trigger.pointer("/attributes/filter.$").and_then(Value::as_str).filter(|f| !f.trim().is_empty()) {
        None => true,
        // Definitions are validated when saved, so a filter that does not parse here matches nothing.
        Some(filter) => TriggerFilter::parse(filter).is_ok_and(|f| f.matches(payload)),
    }
}

impl Engine {
    /// Dispatches up to a batch of pending events; returns how many it handled.
    pub async fn dispatch_events(&self) -> Result<usize> {
        let now = self.now_ms();
        let mut tx = self.store.begin().await?;
        let events = tx.lock_undispatched(BATCH).await?;
        if events.is_empty() {
            return Ok(0);
        }
        let workflows = tx.enabled_workflows().await?;
        let mut started = 0usize;
        for (id, topic, payload) in &events {
            for workflow in workflows.iter().filter(|w| triggered_by(w, topic, payload)) {
                self.start(&mut tx, workflow, payload.clone(), None).await?;
                started += 1;
            }
            tx.mark_dispatched(id, now).await?;
        }
        tx.commit().await?;
        if started > 0 {
            tracing::debug!(events = events.len(), started, "events dispatched");
            self.notify();
        }
        Ok(events.len())
    }

    /// Starts the event dispatcher, which also runs the schedules every second; it stops once
    /// `shutdown` turns true.
    pub fn spawn_dispatcher(self: &Arc<Self>, mut shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
        let engine = self.clone();
        tokio::spawn(async move {
            let mut schedules_checked = std::time::Instant::now() - std::time::Duration::from_secs(60);
            loop {
                if *shutdown.borrow() {
                    return;
                }
                if schedules_checked.elapsed() >= std::time::Duration::from_secs(1) {
                    schedules_checked = std::time::Instant::now();
                    if let Err(error) = engine.run_schedules().await {
                        tracing::warn!(%error, "running schedules failed; retrying");
                    }
                }
                match engine.dispatch_events().await {
                    Ok(n) if n as i64 == BATCH => continue,
                    Ok(_) => {}
                    Err(error) => tracing::warn!(%error, "dispatching events failed; retrying"),
                }
                tokio::select! {
                    _ = tokio::time::sleep(engine.config.poll) => {}
                    _ = engine.events.notified() => {}
                    _ = shutdown.changed() => {}
                }
            }
        })
    }

    /// Wakes the dispatcher: call after committing a transaction that published events.
    pub fn notify_events(&self) {
        self.events.notify_waiters();
    }
}
