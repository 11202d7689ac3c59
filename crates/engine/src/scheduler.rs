//! SCHEDULED triggers: one node at a time (the holder of an advisory lock on PostgreSQL) keeps each
//! enabled scheduled workflow's next firing and starts an execution when it falls due. A firing
//! missed while no node ran is made up once, not once per missed slot. A domain keeps its own
//! schedules in the same table under keys of the form `<kind>:<id>`, which this pass leaves alone.

use std::collections::HashMap;

use serde_json::{Value, json};
use tessera_flow::schedule::Schedule;
use tessera_model::Timestamp;
use tessera_store::{QueueStore, WorkflowRecord, WorkflowStore};

use crate::{Engine, Result};

/// The advisory lock that makes one node the scheduler for a round.
const SCHEDULER_LOCK: i64 = 0x7e55_e7a5;

fn schedule_of(workflow: &WorkflowRecord) -> Option<Schedule> {
    let trigger = workflow.document.get("trigger")?;
    if !trigger.get("type").and_then(Value::as_str)?.eq_ignore_ascii_case("SCHEDULED") {
        return None;
    }
    Schedule::from_attributes(trigger.get("attributes")?.as_object()?).ok()
}

impl Engine {
    /// Starts the scheduled workflows that are due and plans their next firings; returns how many
    /// executions it started. Does nothing when another node holds the scheduler lock.
    pub async fn run_schedules(&self) -> Result<usize> {
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        if !tx.try_leader_lock(SCHEDULER_LOCK).await? {
            return Ok(0);
        }
        let planned: HashMap<String, (i64, Timestamp)> =
            tx.schedules().await?.into_iter().map(|(id, version, at)| (id, (version, at))).collect();
        let mut started = 0;
        let mut kept = Vec::new();
        for workflow in tx.enabled_workflows().await? {
            let Some(schedule) = schedule_of(&workflow) else { continue };
            kept.push(workflow.id.clone());
            match planned.get(workflow.id.as_str()) {
                // New, or edited since it was planned: plan from now, without firing.
                None => {
                    if let Some(at) = schedule.next_after(now) {
                        tx.set_schedule(&workflow.id, workflow.latest_version, at).await?;
                    }
                }
                Some(&(version, _)) if version != workflow.latest_version => {
                    if let Some(at) = schedule.next_after(now) {
                        tx.set_schedule(&workflow.id, workflow.latest_version, at).await?;
                    }
                }
                Some(&(_, due)) if due <= now => {
                    let input = json!({ "scheduledTime": due.to_string() });
                    self.start(&mut tx, &workflow, input, None).await?;
                    started += 1;
                    match schedule.next_after(now) {
                        Some(at) => tx.set_schedule(&workflow.id, workflow.latest_version, at).await?,
                        None => tx.drop_schedule(&workflow.id).await?,
                    }
                }
                Some(_) => {}
            }
        }
        // A key with a `:` is a domain's schedule (workflow ids are UUIDs, which have none).
        for id in planned.keys().filter(|id| !id.contains(':') && !kept.iter().any(|k| k == *id)) {
            tx.drop_schedule(id).await?;
        }
        tx.commit().await?;
        if started > 0 {
            self.wake_workers();
        }
        Ok(started)
    }
}
