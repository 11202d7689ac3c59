//! Workers: claim due tasks with a lease, perform actions outside any transaction, and apply each
//! result in its own transaction. Idle workers sleep until the next task is due or they are woken.

use std::sync::Arc;
use std::time::Duration;

use tessera_model::Timestamp;
use tessera_store::{QueueStore, Task, TaskKind};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::delivery::{Call, Delivery, effect_key};

/// Where a task stands once its action, if it had one, has run.
#[derive(Debug, Clone)]
enum Outcome {
    /// Apply this to the execution (and remove the task).
    Apply(Delivery),
    /// Try the action again at `run_at`, as attempt `attempt`.
    RetryAt { run_at: Timestamp, attempt: i64 },
}
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
        /// Counts the worker as running for as long as it is (readiness), however it ends.
        struct Running<'a>(&'a std::sync::atomic::AtomicUsize);
        impl Drop for Running<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
        self.running_workers.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let _running = Running(&self.running_workers);
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
            self.processed.fetch_add(tasks.len() as u64, std::sync::atomic::Ordering::Relaxed);
            self.process_batch(&tasks).await;
        }
    }

    async fn claim(&self, owner: &str) -> Result<Vec<Task>> {
        let now = self.now();
        let lease_until = now + self.config.lease;
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
            Ok(Some(at)) => Duration::from_millis(
                at.saturating_millis_since(self.now()).clamp(1, self.config.poll.as_millis() as i64) as u64,
            ),
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

    /// Runs a claimed batch with one commit: the batch's actions run concurrently, then every
    /// transition is applied in a single transaction (one fsync for the lot). If that transaction
    /// fails, each outcome is applied on its own, so one bad task cannot hold the others back.
    async fn process_batch(&self, tasks: &[Task]) {
        let outcomes = futures_util::future::join_all(tasks.iter().map(|task| self.outcome(task))).await;
        let mut ready = Vec::with_capacity(tasks.len());
        for (task, outcome) in tasks.iter().zip(outcomes) {
            match outcome {
                Ok(outcome) => ready.push((task, outcome)),
                // The task keeps its lease and is claimed again when it runs out.
                Err(error) => {
                    tracing::error!(%error, task = %task.id, execution = %task.execution_id, "task failed; it will be retried")
                }
            }
        }
        let together = async {
            let mut tx = self.store.begin().await?;
            let mut queued_now = false;
            for (task, outcome) in &ready {
                queued_now |= self.settle(&mut tx, task, outcome.clone()).await?;
            }
            tx.commit().await?;
            Result::<bool>::Ok(queued_now)
        };
        match together.await {
            Ok(queued_now) => {
                if queued_now {
                    self.wake_workers();
                }
            }
            Err(error) => {
                tracing::warn!(%error, tasks = ready.len(), "applying the batch together failed; applying one by one");
                for (task, outcome) in ready {
                    let alone = async {
                        let mut tx = self.store.begin().await?;
                        let queued_now = self.settle(&mut tx, task, outcome).await?;
                        tx.commit().await?;
                        Result::<bool>::Ok(queued_now)
                    };
                    match alone.await {
                        Ok(true) => self.wake_workers(),
                        Ok(false) => {}
                        Err(error) => tracing::error!(%error, task = %task.id, "task failed; it will be retried"),
                    }
                }
            }
        }
    }

    /// What a task comes to once its action (if any) has run.
    async fn outcome(&self, task: &Task) -> Result<Outcome> {
        match task.kind {
            TaskKind::Apply => Ok(Outcome::Apply(serde_json::from_value(task.payload.clone())?)),
            TaskKind::Call => self.call_outcome(task).await,
        }
    }

    /// Records an outcome in `tx`; returns whether work is due at once.
    async fn settle(&self, tx: &mut tessera_store::Tx, task: &Task, outcome: Outcome) -> Result<bool> {
        match outcome {
            Outcome::Apply(delivery) => self.apply_in(tx, Some(task), &task.execution_id, delivery).await,
            Outcome::RetryAt { run_at, attempt } => {
                tx.retry_later(&task.id, run_at, attempt).await?;
                Ok(false)
            }
        }
    }

    async fn call(&self, task: &Task) -> Result<()> {
        match self.call_outcome(task).await? {
            Outcome::Apply(delivery) => self.apply(Some(task), &task.execution_id, delivery).await,
            Outcome::RetryAt { run_at, attempt } => {
                let mut tx = self.store.begin().await?;
                tx.retry_later(&task.id, run_at, attempt).await?;
                Ok(tx.commit().await?)
            }
        }
    }

    /// Performs a call task's action and decides what follows: a result to apply, or a retry.
    async fn call_outcome(&self, task: &Task) -> Result<Outcome> {
        let call: Call = serde_json::from_value(task.payload.clone())?;
        // A cancelled or ended execution performs nothing more.
        let running = {
            let mut tx = self.store.begin().await?;
            let execution = tessera_store::ExecutionStore::execution(&mut tx, &task.execution_id).await?;
            tx.commit().await?;
            execution.is_some_and(|e| !e.status.is_final() && !e.cancel_requested)
        };
        if !running {
            return Ok(Outcome::Apply(Delivery::Failed {
                id: call.id,
                error: "the execution is no longer running".into(),
            }));
        }
        let key = format!("{}/{}/{}", task.execution_id, effect_key(&call.id), task.attempt);
        let began = std::time::Instant::now();
        let by_domain = match self.domain() {
            Some(domain) => domain.perform(&call.action, &call.input, &key).await,
            None => None,
        };
        let performed = match by_domain {
            Some(result) => result,
            None => self.actions.perform(&call.action, &call.input, &key).await,
        };
        self.metrics.action_took(&call.action, performed.is_ok(), began.elapsed());
        match performed {
            Ok(output) => Ok(Outcome::Apply(Delivery::Completed { id: call.id, output })),
            Err(error) => {
                let attempt = u32::try_from(task.attempt).unwrap_or(u32::MAX);
                match call.retry.filter(|_| error.retryable).and_then(|policy| policy.delay_after(attempt)) {
                    Some(delay) => {
                        tracing::info!(execution = %task.execution_id, step = %call.step, attempt, %error, "retrying");
                        Ok(Outcome::RetryAt { run_at: self.now() + delay, attempt: task.attempt + 1 })
                    }
                    None => {
                        let attempts = task.attempt + 1;
                        let error =
                            if attempts > 1 { format!("{error} (after {attempts} attempts)") } else { error.message };
                        Ok(Outcome::Apply(Delivery::Failed { id: call.id, error }))
                    }
                }
            }
        }
    }

    /// Claims and processes one due task; returns whether there was one. For tests that need to
    /// stop between transitions.
    pub async fn step(&self) -> Result<bool> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let tasks = tx.claim(&format!("{}/step", self.node), now, now + self.config.lease, 1).await?;
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
