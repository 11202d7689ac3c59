//! SCHEDULED triggers: one node at a time (the holder of an advisory lock on PostgreSQL) keeps each
//! enabled scheduled workflow's next firing and starts an execution when it falls due. A firing
//! missed while no node ran is made up once, not once per missed slot. Sources with an aggregation
//! schedule are planned the same way; their due runs are handed to the dispatcher to start.

use std::collections::HashMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use tessera_flow::schedule::Schedule;
use tessera_store::{AccessStore, CatalogKind, CatalogObject, CatalogStore, QueueStore, WorkflowRecord, WorkflowStore};

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

fn millis(instant: DateTime<Utc>) -> i64 {
    instant.timestamp_millis()
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
        let planned: HashMap<String, (i64, i64)> =
            tx.schedules().await?.into_iter().map(|(id, version, at)| (id, (version, at))).collect();
        let mut started = 0;
        let mut kept = Vec::new();
        for workflow in tx.enabled_workflows().await? {
            let Some(schedule) = schedule_of(&workflow) else { continue };
            kept.push(workflow.id.clone());
            let next = |after: DateTime<Utc>| schedule.next_after(after).map(millis);
            match planned.get(&workflow.id) {
                // New, or edited since it was planned: plan from now, without firing.
                None => {
                    if let Some(at) = next(now) {
                        tx.set_schedule(&workflow.id, workflow.latest_version, at).await?;
                    }
                }
                Some(&(version, _)) if version != workflow.latest_version => {
                    if let Some(at) = next(now) {
                        tx.set_schedule(&workflow.id, workflow.latest_version, at).await?;
                    }
                }
                Some(&(_, due)) if due <= millis(now) => {
                    let fired_for = DateTime::from_timestamp_millis(due).unwrap_or(now);
                    let input = json!({ "scheduledTime": fired_for.to_rfc3339_opts(SecondsFormat::Millis, true) });
                    self.start(&mut tx, &workflow, input, None).await?;
                    started += 1;
                    match next(now) {
                        Some(at) => tx.set_schedule(&workflow.id, workflow.latest_version, at).await?,
                        None => tx.drop_schedule(&workflow.id).await?,
                    }
                }
                Some(_) => {}
            }
        }
        let stale = millis(now) - crate::governance::STALE_MS;
        let message = "the node running this aggregation stopped before it ended; run it again";
        if tx.interrupt_stale_aggregations(stale, millis(now), message).await? > 0 {
            tracing::warn!("marked aggregations left running by a stopped node as interrupted");
        }
        for source in tx.all_objects(CatalogKind::Source).await? {
            let Some(schedule) = source_schedule(&source) else { continue };
            let key = format!("source:{}", source.id);
            kept.push(key.clone());
            let next = |after: DateTime<Utc>| schedule.next_after(after).map(millis);
            match planned.get(&key) {
                Some(&(version, due)) if version == source.modified_at && due <= millis(now) => {
                    self.due_aggregations
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .push(source.id.clone());
                    match next(now) {
                        Some(at) => tx.set_schedule(&key, source.modified_at, at).await?,
                        None => tx.drop_schedule(&key).await?,
                    }
                }
                Some(&(version, _)) if version == source.modified_at => {}
                _ => {
                    if let Some(at) = next(now) {
                        tx.set_schedule(&key, source.modified_at, at).await?;
                    }
                }
            }
        }
        for id in planned.keys().filter(|id| !kept.contains(id)) {
            tx.drop_schedule(id).await?;
        }
        tx.commit().await?;
        if started > 0 {
            self.wake_workers();
        }
        Ok(started)
    }
}
