//! The interpreter: a pure state machine. Given a run's state, an event and the current instant,
//! it returns the effects to perform (call an action, wait until a time, ask a person) and the
//! history of the steps that finished. It reads no clock and performs no I/O; `engine` persists
//! the state and performs the effects, and `dryrun` does the same in memory with mocks.

mod redact;
mod state;
mod steps;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tessera_model::Timestamp;

pub use redact::{is_secret_key, redact, redact_with};
pub use state::{Cursor, Run, Status, Thread};

use crate::program::Program;

/// Guard rails, each ending the run with a clear reason when hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Steps one body may take — the top level, or one loop iteration — before the run is terminated
    /// (IdentityIQ's "max transitions"): it catches a workflow that loops forever through its steps.
    pub max_transitions: u64,
    /// Items one loop may iterate (each iteration has its own `max_transitions`).
    pub max_loop_items: usize,
    /// Iterations of one loop running at once when the loop does not say.
    pub loop_parallelism: usize,
    /// The longest a single wait may last, in seconds.
    pub max_wait_seconds: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_transitions: 10_000, max_loop_items: 100_000, loop_parallelism: 1, max_wait_seconds: 366 * 86_400 }
    }
}

/// Limits a workflow declares for itself (`"limits": {"maxTransitions", "maxLoopItems", "maxWait"}`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LimitsOverride {
    pub max_transitions: Option<u64>,
    pub max_loop_items: Option<usize>,
    pub max_wait_seconds: Option<u64>,
}

impl Limits {
    /// These limits lowered by what a workflow declares: a workflow may be stricter than the server,
    /// never looser (only the server's administrator raises a limit).
    pub fn lowered_by(self, own: LimitsOverride) -> Self {
        Self {
            max_transitions: own.max_transitions.map_or(self.max_transitions, |v| v.min(self.max_transitions)),
            max_loop_items: own.max_loop_items.map_or(self.max_loop_items, |v| v.min(self.max_loop_items)),
            max_wait_seconds: own.max_wait_seconds.map_or(self.max_wait_seconds, |v| v.min(self.max_wait_seconds)),
            ..self
        }
    }
}

/// Identifies an outstanding effect: the loop iterations leading to the thread, and the step.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EffectId {
    /// Item indices of the enclosing loop iterations, outermost first.
    pub path: Vec<u32>,
    /// The step's index in its body.
    pub step: usize,
}

/// Something the interpreter needs done outside itself.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Effect {
    /// Perform an action and report `Completed` or `Failed`.
    Call {
        id: EffectId,
        step: String,
        scope: String,
        action: &'static str,
        input: Map<String, Value>,
        /// How the engine retries the action; none means one attempt.
        #[serde(skip_serializing_if = "Option::is_none")]
        retry: Option<crate::program::RetryPolicy>,
    },
    /// Report `TimerFired` at `until`.
    Wait {
        id: EffectId,
        step: String,
        scope: String,
        #[serde(with = "tessera_model::time::rfc3339")]
        until: Timestamp,
    },
    /// Ask a person (a form, an approval, a task) and report `Submitted` with their answer.
    Ask { id: EffectId, step: String, scope: String, action: &'static str, input: Map<String, Value> },
}

impl Effect {
    /// The id to report the result under.
    pub fn id(&self) -> &EffectId {
        match self {
            Effect::Call { id, .. } | Effect::Wait { id, .. } | Effect::Ask { id, .. } => id,
        }
    }
}

/// What happened, fed to [`Run::apply`].
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Start the run with the trigger's input.
    Start { input: Value },
    /// An action finished with this output.
    Completed { id: EffectId, output: Value },
    /// An action failed for good (retries, if any, are the engine's business).
    Failed { id: EffectId, error: String },
    /// A wait is over.
    TimerFired { id: EffectId },
    /// A person submitted a form or decided.
    Submitted { id: EffectId, data: Value },
    /// Stop at this step boundary.
    Cancel { reason: String },
}

/// One finished step, as history shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEntry {
    /// Enclosing loop iterations, e.g. `Loop[2]`; empty at the top level.
    pub scope: String,
    pub step: String,
    /// The action id, or the operator (`choice`, `sp:define-variable`, `success`, `failure`).
    pub action: String,
    #[serde(with = "tessera_model::time::rfc3339")]
    pub started: Timestamp,
    #[serde(with = "tessera_model::time::rfc3339")]
    pub ended: Timestamp,
    pub outcome: Outcome,
    /// Resolved inputs, with trace on; secrets are masked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input: Option<Value>,
    /// The step's output, with trace on; secrets are masked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
}

/// How a step ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Outcome {
    /// An action or variable step completed.
    Completed,
    /// A wait finished after this many seconds.
    Waited { seconds: u64 },
    /// A choice went to this step.
    Chose { next: String },
    /// A loop ran its items.
    Looped { items: usize, failed: usize },
    /// The step failed; `caught_by` names the step `catch` routed to.
    Failed { error: String, caught_by: Option<String> },
    /// A success end step.
    Succeeded,
    /// A failure end step, with its `failureName`.
    EndedInFailure { failure_name: Option<String> },
}

/// The result of applying one event.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Step {
    pub effects: Vec<Effect>,
    pub history: Vec<HistoryEntry>,
}

/// Why an event could not be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("the run has already started")]
    AlreadyStarted,
    #[error("the run has ended ({0}); it takes no more events")]
    Ended(String),
    #[error("no outstanding effect {0:?}: the event is stale or repeated")]
    UnknownEffect(EffectId),
}

/// Interpreter settings that are not part of the run's state.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    pub limits: Limits,
    /// Record inputs and outputs in history.
    pub trace: bool,
}

impl Run {
    /// Applies `event` at instant `now` and returns the effects to perform and the finished steps.
    pub fn apply(&mut self, program: &Program, event: Event, now: Timestamp, options: &Options) -> Result<Step, Error> {
        steps::apply(self, program, event, now, options)
    }
}
