//! What a domain plugs into the runtime: whom a step asks, what happens when an execution ends, and
//! the actions only it can perform. The runtime knows nothing of identities or access; a domain
//! (Tessera's governance) attaches itself once with [`crate::Engine::attach`]. Without one, the
//! runtime runs ISC workflows on its own: asking steps fail saying nobody can be asked, and only the
//! generic actions run.

use serde_json::{Map, Value};
use tessera_flow::interp::EffectId;
use tessera_model::Timestamp;
use tessera_store::{ExecutionRecord, ExecutionWaiter, Tx};

use crate::Result;
use crate::actions::ActionError;
use crate::waiters::Outcome;

/// A step that waits for a person (`sp:generic-approval`, `sp:access-request-approval`, `sp:forms`,
/// `sp:interactive-form`).
#[derive(Debug, Clone, Copy)]
pub struct Ask<'a> {
    pub execution: &'a ExecutionRecord,
    /// The effect the person's answer is delivered to ([`crate::Engine::answer`]).
    pub effect: &'a EffectId,
    pub step: &'a str,
    pub action: &'a str,
    pub input: &'a Map<String, Value>,
    pub now: Timestamp,
}

/// The hooks a domain gives the runtime. Each runs inside the runtime's transaction, so what it
/// writes commits (or not) with the transition that called it.
#[async_trait::async_trait]
pub trait Domain: Send + Sync + std::fmt::Debug {
    /// Opens the work an asking step needs. `Ok(Some(message))` fails the step instead (nobody to
    /// ask, a bad deadline).
    async fn ask(&self, tx: &mut Tx, ask: Ask<'_>) -> Result<Option<String>>;

    /// In the transaction that ends `execution`, before what waited for it is handed its outcome:
    /// work still open for the execution's steps is closed.
    async fn execution_ended(&self, tx: &mut Tx, execution: &ExecutionRecord, now: Timestamp) -> Result<()>;

    /// Hands an ended execution's outcome to what `waiter` names. The runtime runs it inside a
    /// savepoint and undoes it whole when it is refused (`Invalid`, `NotFound`, `Conflict`,
    /// `Forbidden`).
    async fn hand_on(&self, tx: &mut Tx, waiter: &ExecutionWaiter, outcome: &Outcome, now: Timestamp) -> Result<()>;

    /// Performs `action` when it is one of the domain's; `None` when it is not. `key` is the same
    /// for every repeat of one attempt.
    async fn perform(&self, action: &str, input: &Map<String, Value>, key: &str) -> Option<Result<Value, ActionError>>;
}
