//! Event triggers: events in the outbox start one execution of each enabled workflow whose EVENT
//! trigger names the event's type and whose `filter.$` selects something in its payload. Marking
//! an event dispatched and starting its executions commit in one transaction, so each event starts
//! each matching workflow exactly once, on any number of nodes. The same loop runs the schedules.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tessera_flow::filter::TriggerFilter;
use tessera_model::Timestamp;
use tessera_store::{QueueStore, SecurityStore, WorkflowRecord, WorkflowStore};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::{Engine, Result};

/// Events handled per transaction.
const BATCH: i64 = 256;

/// An enabled workflow's EVENT trigger, compiled once per dispatch batch.
struct EventTrigger<'w> {
    workflow: &'w WorkflowRecord,
    id: String,
    /// `None` when there is no filter; a filter that does not parse matches nothing (definitions
    /// are validated when saved, so it cannot happen short of a hand-edited database).
    filter: Option<Option<TriggerFilter>>,
}

impl<'w> EventTrigger<'w> {
    fn of(workflow: &'w WorkflowRecord) -> Option<Self> {
        let trigger = workflow.document.get("trigger")?;
        if !trigger.get("type").and_then(Value::as_str)?.eq_ignore_ascii_case("EVENT") {
            return None;
        }
        let id = trigger.pointer("/attributes/id").and_then(Value::as_str)?.to_owned();
        let filter = trigger
            .pointer("/attributes/filter.$")
            .and_then(Value::as_str)
            .filter(|f| !f.trim().is_empty())
            .map(|f| TriggerFilter::parse(f).ok());
        Some(Self { workflow, id, filter })
    }

    /// Whether an event of type `topic` with `payload` starts this workflow.
    fn fires_on(&self, topic: &str, payload: &Value) -> bool {
        self.id == topic
            && match &self.filter {
                None => true,
                Some(Some(filter)) => filter.matches(payload),
                Some(None) => false,
            }
    }
}

impl Engine {
    /// Publishes an event of type `topic` (an ISC trigger id) with `payload`, as `actor` asked,
    /// audited in its transaction; returns its id. The dispatcher starts what it matches.
    pub async fn publish_event(&self, topic: &str, payload: &Value, actor: &str) -> Result<String> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let id = tx.publish(topic, payload, now).await?;
        tx.audit(actor, "event.publish", "event", &id, &serde_json::json!({ "type": topic }), now).await?;
        tx.commit().await?;
        self.notify_events();
        Ok(id)
    }

    /// Dispatches up to a batch of pending events; returns how many it handled.
    pub async fn dispatch_events(&self) -> Result<usize> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let events = tx.lock_undispatched(BATCH).await?;
        if events.is_empty() {
            return Ok(0);
        }
        let workflows = tx.enabled_workflows().await?;
        let triggers: Vec<EventTrigger<'_>> = workflows.iter().filter_map(EventTrigger::of).collect();
        let mut started = 0usize;
        for (event_id, topic, payload) in &events {
            for trigger in triggers.iter().filter(|t| t.fires_on(topic, payload)) {
                let run_at = self.pace(&trigger.workflow.id, now);
                let from = Some(event_id.clone());
                self.start_from(&mut tx, trigger.workflow, payload.clone(), None, run_at, from).await?;
                started += 1;
            }
        }
        let ids: Vec<String> = events.iter().map(|(id, _, _)| id.clone()).collect();
        tx.mark_all_dispatched(&ids, now).await?;
        tx.commit().await?;
        if started > 0 {
            tracing::debug!(events = events.len(), started, "events dispatched");
            self.wake_workers();
        }
        Ok(events.len())
    }

    /// Why an event of type `topic` with `payload` would start nothing now: no enabled workflow
    /// listens for it, or the filters of those that do select nothing in it. `None` when it would
    /// start something.
    pub async fn why_no_start(&self, topic: &str, payload: &Value) -> Result<Option<String>> {
        let mut tx = self.store.begin().await?;
        let workflows = tx.enabled_workflows().await?;
        tx.commit().await?;
        let listening: Vec<EventTrigger<'_>> =
            workflows.iter().filter_map(EventTrigger::of).filter(|t| t.id == topic).collect();
        if listening.iter().any(|t| t.fires_on(topic, payload)) {
            return Ok(None);
        }
        if listening.is_empty() {
            return Ok(Some(format!("no enabled workflow has an EVENT trigger for `{topic}`")));
        }
        let names: Vec<String> = listening.iter().map(|t| format!("`{}`", t.workflow.name)).collect();
        Ok(Some(format!("the trigger filter of {} selects nothing in this payload", names.join(", "))))
    }

    /// When the next event-triggered start of `workflow_id` may run: at once while the workflow is
    /// within its rate (with a second's worth of burst), later in even steps beyond it. The slots
    /// are this node's; several nodes each pace their own share.
    fn pace(&self, workflow_id: &str, now: Timestamp) -> Timestamp {
        let rate = u64::from(self.config.event_starts_per_second);
        if rate == 0 {
            return now;
        }
        let step = Duration::from_millis((1000 / rate).max(1));
        let burst_from = now - Duration::from_secs(1);
        let mut pacing = self.pacing.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let slot = pacing.get(workflow_id).map_or(burst_from, |last| (*last).max(burst_from)) + step;
        pacing.insert(workflow_id.to_owned(), slot);
        slot.max(now)
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
