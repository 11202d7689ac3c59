//! Workers: claim due tasks with a lease, perform actions outside any transaction, and apply each
//! result in its own transaction. Idle workers sleep until the next task is due or they are woken.

use std::sync::Arc;
use std::time::Duration;

use tessera_store::{QueueStore, Task, TaskKind};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::delivery::{Call, Delivery, effect_key};
use crate::{Engine, Result};

impl Engine {
    /// Starts the workers; they stop after their current task once `shutdown` turns true.
    pub fn spawn_workers(self: &Arc<Self>, shutdown: watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
        (0..self.config.workers.max(1))
            .map(|n| {
                let engine = self.clone();
                let shutdown = shutdown.clone();
                tokio::spawn(async move { engine.work(n, shutdown).await })
            })
            .collect()
    }

    async fn work(self: Arc<Self>, n: usize, mut shutdown: watch::Receiver<bool>) {
        let owner = format!("{}/{n}", self.node);
        loop {
            if *shutdown.borrow() {
                return;
            }
            let tasks = match self.claim(&owner).await {
                Ok(tasks) => tasks,
                Err(error) => {
                    tracing::warn!(%error, "claiming tasks failed; retrying");
                    tokio::time::sleep(self.config.poll).await;
                    continue;
                }
            };
            if tasks.is_empty() {
                let wait = self.idle_wait().await;
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = self.wake.notified() => {}
                    _ = shutdown.changed() => {}
                }
                continue;
            }
            for task in tasks {
                self.processed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if let Err(error) = self.process(&task).await {
                    // The task keeps its lease and is claimed again when it runs out.
                    tracing::error!(%error, task = %task.id, execution = %task.execution_id, "task failed; it will be retried");
                }
            }
        }
    }

    async fn claim(&self, owner: &str) -> Result<Vec<Task>> {
        let now = self.now_ms();
        let lease_until = now + self.config.lease.as_millis() as i64;
        let mut tx = self.store.begin().await?;
        let tasks = tx.claim(owner, now, lease_until, self.config.batch).await?;
        tx.commit().await?;
        Ok(tasks)
    }

    /// How long an idle worker sleeps: until the next due task, at most the poll interval.
    async fn idle_wait(&self) -> Duration {
        let next = async {
            let mut tx = self.store.begin().await?;
            let next = tx.next_due().await?;
            tx.commit().await?;
            Ok::<_, crate::Error>(next)
        };
        match next.await {
            Ok(Some(at)) => {
                Duration::from_millis((at - self.now_ms()).clamp(1, self.config.poll.as_millis() as i64) as u64)
            }
            _ => self.config.poll,
        }
    }

    /// Runs one claimed task to its committed end.
    pub(crate) async fn process(&self, task: &Task) -> Result<()> {
        match task.kind {
            TaskKind::Apply => {
                let delivery: Delivery = serde_json::from_value(task.payload.clone())?;
                self.apply(Some(task), &task.execution_id, delivery).await
            }
            TaskKind::Call => self.call(task).await,
        }
    }

    async fn call(&self, task: &Task) -> Result<()> {
        let call: Call = serde_json::from_value(task.payload.clone())?;
        // A cancelled or ended execution performs nothing more.
        let running = {
            let mut tx = self.store.begin().await?;
            let execution = tessera_store::ExecutionStore::execution(&mut tx, &task.execution_id).await?;
            tx.commit().await?;
            execution.is_some_and(|e| e.status == "Running" && !e.cancel_requested)
        };
        if !running {
            let delivery = Delivery::Failed { id: call.id, error: "the execution is no longer running".into() };
            return self.apply(Some(task), &task.execution_id, delivery).await;
        }
        let key = format!("{}/{}/{}", task.execution_id, effect_key(&call.id), task.attempt);
        match self.actions.perform(&call.action, &call.input, &key).await {
            Ok(output) => self.apply(Some(task), &task.execution_id, Delivery::Completed { id: call.id, output }).await,
            Err(error) => {
                let attempt = u32::try_from(task.attempt).unwrap_or(u32::MAX);
                match call.retry.filter(|_| error.retryable).and_then(|policy| policy.delay_after(attempt)) {
                    Some(delay) => {
                        tracing::info!(execution = %task.execution_id, step = %call.step, attempt, %error, "retrying");
                        let mut tx = self.store.begin().await?;
                        tx.retry_later(&task.id, self.now_ms() + delay as i64 * 1000, task.attempt + 1).await?;
                        Ok(tx.commit().await?)
                    }
                    None => {
                        let attempts = task.attempt + 1;
                        let error =
                            if attempts > 1 { format!("{error} (after {attempts} attempts)") } else { error.message };
                        self.apply(Some(task), &task.execution_id, Delivery::Failed { id: call.id, error }).await
                    }
                }
            }
        }
    }

    /// Claims and processes one due task; returns whether there was one. For tests that need to
    /// stop between transitions.
    pub async fn step(&self) -> Result<bool> {
        let now = self.now_ms();
        let mut tx = self.store.begin().await?;
        let tasks =
            tx.claim(&format!("{}/step", self.node), now, now + self.config.lease.as_millis() as i64, 1).await?;
        tx.commit().await?;
        match tasks.first() {
            Some(task) => self.process(task).await.map(|()| true),
            None => Ok(false),
        }
    }

    /// Processes every task that is due now, until none is left; for tests and tools that drive
    /// the engine without workers. Returns how many tasks ran.
    pub async fn run_due(&self) -> Result<usize> {
        let mut done = 0;
        loop {
            let tasks = self.claim(&format!("{}/inline", self.node)).await?;
            if tasks.is_empty() {
                return Ok(done);
            }
            for task in &tasks {
                self.process(task).await?;
                done += 1;
            }
        }
    }
}
