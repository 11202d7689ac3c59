//! The engine: starting and cancelling executions, and applying one task in one transaction — the
//! interpreter's transition, its history, the tasks for its effects, and the task's removal commit
//! together, so a crash at any instant loses nothing and repeats no committed step.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use serde_json::{Value, json};
use tessera_flow::Workflow;
use tessera_flow::interp::{Effect, EffectId, Error as InterpError, Limits, Options, Run, Status};
use tessera_flow::program::Program;
use tessera_model::{Clock, ExecutionId, ExecutionStatus, Timestamp};
use tessera_store::{
    ExecutionRecord, ExecutionStore, NewExecution, NewTask, QueueStore, StateUpdate, Store, Task, TaskKind, Tx,
    WorkflowRecord, WorkflowStore,
};
use tokio::sync::Notify;

use crate::actions::email::SmtpConfig;
use crate::actions::http::HttpConfig;
use crate::delivery::{Call, Delivery};
use crate::domain::{Ask, Domain};
use crate::{Actions, Error, Result};

/// How the engine runs.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Workers per node.
    pub workers: usize,
    /// How long a claimed task is this node's before another may take it.
    pub lease: Duration,
    /// Tasks claimed at once by a worker.
    pub batch: i64,
    /// The longest an idle worker sleeps before looking for due tasks again.
    pub poll: Duration,
    pub limits: Limits,
    /// The largest an execution's stored state (its data document) may grow, in bytes.
    pub max_state_bytes: usize,
    pub http: HttpConfig,
    /// The SMTP server `sp:send-email` hands mail to.
    pub smtp: SmtpConfig,
    /// Executions an event trigger may start per second for one workflow (0: no limit); an event
    /// storm beyond it queues the starts, never drops them.
    pub event_starts_per_second: u32,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            workers: 4,
            lease: Duration::from_secs(60),
            batch: 16,
            poll: Duration::from_millis(250),
            limits: Limits::default(),
            max_state_bytes: 4 * 1024 * 1024,
            http: HttpConfig::default(),
            smtp: SmtpConfig::default(),
            event_starts_per_second: 100,
        }
    }
}

/// A node's engine: shared by the API (to start and cancel executions) and by the workers.
#[derive(Debug)]
pub struct Engine {
    pub(crate) store: Store,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) config: EngineConfig,
    pub(crate) actions: Actions,
    pub(crate) node: String,
    pub(crate) wake: Notify,
    /// Wakes the event dispatcher.
    pub(crate) events: Notify,
    /// Tasks this node has finished, for operators and tests.
    pub(crate) processed: std::sync::atomic::AtomicU64,
    /// What this node counts for Prometheus.
    pub(crate) metrics: crate::metrics::Metrics,
    /// Workers running now (readiness).
    pub(crate) running_workers: std::sync::atomic::AtomicUsize,
    /// When each workflow's event-triggered starts may next run, for pacing.
    pub(crate) pacing: Mutex<HashMap<String, Timestamp>>,
    /// Compiled programs by workflow and version: versions never change, so entries never go stale.
    programs: Mutex<HashMap<(String, i64), Arc<Program>>>,
    /// The domain plugged in, if any. Weak, as the domain holds the engine: whoever runs the node
    /// keeps the domain alive.
    domain: OnceLock<Weak<dyn Domain>>,
}

impl Engine {
    /// An engine on `store` reading time from `clock`.
    pub fn new(store: Store, clock: Arc<dyn Clock>, config: EngineConfig) -> Arc<Self> {
        let actions = Actions::new(config.http.clone(), config.smtp.clone(), store.clone());
        Arc::new(Self {
            store,
            clock,
            config,
            actions,
            node: format!("node-{}", uuid::Uuid::new_v4().simple()),
            wake: Notify::new(),
            events: Notify::new(),
            processed: std::sync::atomic::AtomicU64::new(0),
            running_workers: std::sync::atomic::AtomicUsize::new(0),
            metrics: crate::metrics::Metrics::default(),
            pacing: Mutex::new(HashMap::new()),
            programs: Mutex::new(HashMap::new()),
            domain: OnceLock::new(),
        })
    }

    /// Plugs `domain` in: its asks, end-of-execution hooks and actions. Once per engine; a second
    /// domain is refused.
    pub fn attach(&self, domain: Weak<dyn Domain>) -> Result<()> {
        self.domain.set(domain).map_err(|_| Error::Conflict("a domain is already attached to this engine".into()))
    }

    /// The domain plugged in, while it lives.
    pub(crate) fn domain(&self) -> Option<Arc<dyn Domain>> {
        self.domain.get().and_then(Weak::upgrade)
    }

    /// The clock this engine reads.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The actions this node performs.
    pub fn actions(&self) -> &Actions {
        &self.actions
    }

    /// How many workers run on this node now.
    pub fn running_workers(&self) -> usize {
        self.running_workers.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// This node's name and how many tasks it has finished.
    pub fn node_stats(&self) -> (String, u64) {
        (self.node.clone(), self.processed.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// How this engine was configured.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// The store this engine runs on.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The engine's clock reading.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Starts an execution of `workflow`'s latest version in the caller's transaction; it runs
    /// once that transaction commits. Returns the execution id.
    pub async fn start(
        &self,
        tx: &mut Tx,
        workflow: &WorkflowRecord,
        input: Value,
        parent: Option<(ExecutionId, Value)>,
    ) -> Result<ExecutionId> {
        let now = self.now();
        self.start_at(tx, workflow, input, parent, now).await
    }

    /// Like [`Engine::start`], with the first step due at `run_at` rather than at once.
    pub async fn start_at(
        &self,
        tx: &mut Tx,
        workflow: &WorkflowRecord,
        input: Value,
        parent: Option<(ExecutionId, Value)>,
        run_at: Timestamp,
    ) -> Result<ExecutionId> {
        self.start_from(tx, workflow, input, parent, run_at, None).await
    }

    /// Like [`Engine::start_at`], naming the published event that started the execution.
    pub(crate) async fn start_from(
        &self,
        tx: &mut Tx,
        workflow: &WorkflowRecord,
        input: Value,
        parent: Option<(ExecutionId, Value)>,
        run_at: Timestamp,
        event_id: Option<String>,
    ) -> Result<ExecutionId> {
        let id = ExecutionId::new(uuid::Uuid::now_v7().to_string());
        let now = self.now();
        let state = serde_json::to_value(Run::new())?;
        let new = NewExecution {
            id: id.clone(),
            workflow_id: workflow.id.clone(),
            version: workflow.latest_version,
            input: input.clone(),
            state,
            trace: workflow.trace,
            started_at: now,
            parent,
            event_id,
        };
        tx.insert_execution(&new).await?;
        self.metrics.started(tx, &workflow.id);
        let payload = serde_json::to_value(Delivery::Start { input })?;
        tx.enqueue(&NewTask {
            execution_id: id.clone(),
            kind: TaskKind::Apply,
            payload,
            run_at: run_at.max(now),
            attempt: 0,
        })
        .await?;
        Ok(id)
    }

    /// Asks a running execution to stop at its next step boundary; false if it is not running.
    pub async fn cancel(&self, tx: &mut Tx, id: &str, reason: &str) -> Result<bool> {
        if !tx.request_cancel(id).await? {
            return Ok(false);
        }
        let payload = serde_json::to_value(Delivery::Cancel { reason: reason.to_owned() })?;
        tx.enqueue(&NewTask {
            execution_id: id.to_owned().into(),
            kind: TaskKind::Apply,
            payload,
            run_at: self.now(),
            attempt: 0,
        })
        .await?;
        Ok(true)
    }

    /// Delivers a person's answer to the asking step `effect` of execution `execution_id`, in the
    /// caller's transaction: it applies once that commits (wake the workers then). A repeated or
    /// stale answer is refused by the interpreter when applied, so it changes nothing.
    pub async fn answer(
        &self,
        tx: &mut Tx,
        execution_id: &str,
        effect: EffectId,
        data: Value,
        now: Timestamp,
    ) -> Result<()> {
        let payload = serde_json::to_value(Delivery::Submitted { id: effect, data })?;
        let task = NewTask {
            execution_id: execution_id.to_owned().into(),
            kind: TaskKind::Apply,
            payload,
            run_at: now,
            attempt: 0,
        };
        tx.enqueue(&task).await?;
        Ok(())
    }

    /// Wakes idle workers: call after committing a transaction that queued work.
    pub fn wake_workers(&self) {
        self.wake.notify_waiters();
    }

    /// The compiled program of a workflow version.
    async fn program(&self, tx: &mut Tx, workflow_id: &str, version: i64) -> Result<Arc<Program>> {
        let key = (workflow_id.to_owned(), version);
        if let Some(program) = self.programs.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
            return Ok(program.clone());
        }
        let stored =
            tx.version(workflow_id, version).await?.ok_or_else(|| Error::UnknownWorkflow(workflow_id.to_owned()))?;
        let mut document = stored.document;
        // References to named secrets become sealed, so that only what the author wrote resolves.
        crate::secrets::seal_references(self.store.keyring(), &mut document);
        let workflow = Workflow::from_document(document).map_err(|diagnostics| Error::Definition {
            workflow: workflow_id.to_owned(),
            version,
            reason: diagnostics.first().map(ToString::to_string).unwrap_or_default(),
        })?;
        let program = workflow.program().clone();
        self.programs.lock().unwrap_or_else(|p| p.into_inner()).insert(key, program.clone());
        Ok(program)
    }

    /// Applies `delivery` to an execution and, in the same transaction, removes `task`.
    pub(crate) async fn apply(&self, task: Option<&Task>, execution_id: &str, delivery: Delivery) -> Result<()> {
        let mut tx = self.store.begin().await?;
        let queued_now = self.apply_in(&mut tx, task, execution_id, delivery).await?;
        tx.commit().await?;
        if queued_now {
            self.wake_workers();
        }
        Ok(())
    }

    /// [`Engine::apply`] inside the caller's transaction, so several transitions can share one
    /// commit. Returns whether it queued work that is due at once.
    pub(crate) async fn apply_in(
        &self,
        tx: &mut Tx,
        task: Option<&Task>,
        execution_id: &str,
        delivery: Delivery,
    ) -> Result<bool> {
        let now = self.clock.now();
        let Some(execution) = tx.lock_execution(execution_id).await? else {
            return finish_only(tx, task).await;
        };
        if execution.status.is_final() {
            return finish_only(tx, task).await;
        }
        let program = match self.program(tx, &execution.workflow_id, execution.version).await {
            Ok(program) => program,
            Err(error) => {
                let message = error.to_string();
                tx.save_state(execution_id, ExecutionStatus::Failed, &execution.state, Some(now), Some(&message))
                    .await?;
                tx.drop_tasks_of(execution_id).await?;
                let status = Status::Failed { step: String::new(), failure_name: None, error: Some(message.clone()) };
                self.execution_ended(tx, &execution, &status, &Value::Null, Some(message), now).await?;
                self.metrics.ended(tx, &execution.workflow_id, "failed");
                return finish_only(tx, task).await;
            }
        };
        let mut run: Run = serde_json::from_value(execution.state.clone())?;
        let event = match delivery {
            // Cancelled before its first step: it never runs.
            Delivery::Start { .. } if execution.cancel_requested => {
                tessera_flow::interp::Event::Cancel { reason: "cancelled before it started".into() }
            }
            Delivery::Start { .. } | Delivery::Cancel { .. } => delivery.into_event(),
            _ if execution.cancel_requested => {
                tessera_flow::interp::Event::Cancel { reason: "cancelled on request".into() }
            }
            other => other.into_event(),
        };
        let options = Options { limits: self.config.limits.lowered_by(program.limits), trace: execution.trace };
        let step = match run.apply(&program, event, now, &options) {
            Ok(step) => step,
            // A stale or repeated delivery: the transition it would make has already been made.
            Err(InterpError::UnknownEffect(_) | InterpError::Ended(_) | InterpError::AlreadyStarted) => {
                return finish_only(tx, task).await;
            }
        };
        let mut state = serde_json::to_value(&run)?;
        let size = state.to_string().len();
        if size > self.config.max_state_bytes {
            run.terminate(format!(
                "terminated: the execution's data grew to {size} bytes, over the limit of {} bytes (max_state_bytes)",
                self.config.max_state_bytes
            ));
            state = serde_json::to_value(&run)?;
        }
        let entries: Vec<Value> = step.history.iter().map(serde_json::to_value).collect::<Result<_, _>>()?;
        let mut queued_now = false;
        let effects = if run.status.is_final() { Vec::new() } else { step.effects };
        for effect in effects {
            queued_now |= self.schedule(tx, &execution, effect, now).await?;
        }
        let ended = run.status.is_final();
        let error = describe_end(&run.status);
        if ended {
            // Removes this task too.
            tx.drop_tasks_of(execution_id).await?;
            self.execution_ended(tx, &execution, &run.status, run.document(), error.clone(), now).await?;
            self.metrics.ended(tx, &execution.workflow_id, &run.status.label().to_ascii_lowercase());
            if let Some(parent) = &execution.parent_id {
                self.report_to_parent(tx, &execution, parent, &run).await?;
                queued_now = true;
            }
            let event = json!({
                "executionId": execution.id,
                "workflowId": execution.workflow_id,
                "workflowVersion": execution.version,
                "status": run.status.label(),
                "error": error,
            });
            tx.publish("tessera:workflow-execution-completed", &event, now).await?;
        } else if let Some(task) = task {
            tx.finish(&task.id).await?;
        }
        let update = StateUpdate {
            status: run.status.execution_status(),
            state: &state,
            ended_at: ended.then_some(now),
            error: error.as_deref(),
        };
        tx.record_transition(execution_id, execution.history_len, &entries, &update).await?;
        Ok(queued_now)
    }

    /// Queues what an effect needs; returns whether something is due at once.
    async fn schedule(&self, tx: &mut Tx, execution: &ExecutionRecord, effect: Effect, now: Timestamp) -> Result<bool> {
        let execution_id = execution.id.clone();
        let (kind, payload, run_at) = match effect {
            Effect::Call { id, action: "tessera:call-workflow", input, .. } => {
                let target = input.get("workflowId").and_then(Value::as_str).unwrap_or_default().to_owned();
                let child_input = input.get("input").cloned().unwrap_or(Value::Object(Default::default()));
                match tx.workflow(&target).await? {
                    Some(child) => {
                        let parent = Some((execution_id.clone(), serde_json::to_value(&id)?));
                        self.start(tx, &child, child_input, parent).await?;
                        return Ok(true);
                    }
                    None => {
                        let error = format!("tessera:call-workflow: workflow `{target}` does not exist");
                        (TaskKind::Apply, serde_json::to_value(Delivery::Failed { id, error })?, now)
                    }
                }
            }
            Effect::Call { id, step, action, input, retry, .. } => {
                let call = Call { id, step, action: action.to_owned(), input, retry };
                (TaskKind::Call, serde_json::to_value(call)?, now)
            }
            Effect::Wait { id, until, .. } => (TaskKind::Apply, serde_json::to_value(Delivery::Timer { id })?, until),
            // A person's task: the execution waits, holding nothing, until the answer is delivered.
            Effect::Ask { id, step, action, input, .. } => {
                let asked = match self.domain() {
                    Some(domain) => {
                        let ask = Ask { execution, effect: &id, step: &step, action, input: &input, now };
                        domain.ask(tx, ask).await?
                    }
                    None => Some(format!("{action}: this runtime has no people to ask (no domain is attached)")),
                };
                match asked {
                    None => return Ok(false),
                    Some(error) => (TaskKind::Apply, serde_json::to_value(Delivery::Failed { id, error })?, now),
                }
            }
        };
        tx.enqueue(&NewTask { execution_id, kind, payload, run_at, attempt: 0 }).await?;
        Ok(run_at <= now)
    }

    /// Resumes the parent of a sub-workflow with the child's outcome.
    async fn report_to_parent(&self, tx: &mut Tx, child: &ExecutionRecord, parent: &str, run: &Run) -> Result<()> {
        let Some(effect) = &child.parent_effect else { return Ok(()) };
        let id = serde_json::from_value(effect.clone())?;
        let mut output = run.document().clone();
        if let Value::Object(members) = &mut output {
            members.remove("trigger");
        }
        let delivery = match &run.status {
            Status::Succeeded => Delivery::Completed {
                id,
                output: json!({ "executionId": child.id, "status": ExecutionStatus::Completed, "output": output }),
            },
            other => Delivery::Failed {
                id,
                error: format!(
                    "sub-workflow execution {} ended {}: {}",
                    child.id,
                    other.label(),
                    describe_end(other).unwrap_or_default()
                ),
            },
        };
        let payload = serde_json::to_value(delivery)?;
        tx.enqueue(&NewTask {
            execution_id: parent.to_owned().into(),
            kind: TaskKind::Apply,
            payload,
            run_at: self.now(),
            attempt: 0,
        })
        .await?;
        Ok(())
    }
}

/// Removes a task whose delivery has nothing left to do.
async fn finish_only(tx: &mut Tx, task: Option<&Task>) -> Result<bool> {
    if let Some(task) = task {
        tx.finish(&task.id).await?;
    }
    Ok(false)
}

/// The error text of an ended run, for the execution record.
fn describe_end(status: &Status) -> Option<String> {
    match status {
        Status::Failed { step, failure_name: Some(name), .. } => Some(format!("{name} (at step `{step}`)")),
        Status::Failed { step, error: Some(error), .. } => Some(format!("step `{step}`: {error}")),
        Status::Failed { step, .. } => Some(format!("failed at step `{step}`")),
        Status::Terminated { reason } => Some(reason.clone()),
        Status::Cancelled { reason } => Some(reason.clone()),
        Status::Pending | Status::Running | Status::Succeeded => None,
    }
}
