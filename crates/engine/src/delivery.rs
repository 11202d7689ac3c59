//! The payloads of queued tasks: events to apply to an execution, and actions to perform.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tessera_flow::interp::{EffectId, Event};
use tessera_flow::program::RetryPolicy;

/// An event waiting to be applied to an execution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "camelCase")]
pub(crate) enum Delivery {
    Start { input: Value },
    Timer { id: EffectId },
    Completed { id: EffectId, output: Value },
    Failed { id: EffectId, error: String },
    Submitted { id: EffectId, data: Value },
    Cancel { reason: String },
}

impl Delivery {
    pub(crate) fn into_event(self) -> Event {
        match self {
            Delivery::Start { input } => Event::Start { input },
            Delivery::Timer { id } => Event::TimerFired { id },
            Delivery::Completed { id, output } => Event::Completed { id, output },
            Delivery::Failed { id, error } => Event::Failed { id, error },
            Delivery::Submitted { id, data } => Event::Submitted { id, data },
            Delivery::Cancel { reason } => Event::Cancel { reason },
        }
    }
}

/// An action to perform for an execution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Call {
    pub id: EffectId,
    pub step: String,
    pub action: String,
    pub input: Map<String, Value>,
    pub retry: Option<RetryPolicy>,
}

/// The part of an idempotency key that names the effect: loop items, then the step index.
pub(crate) fn effect_key(id: &EffectId) -> String {
    let mut key = String::new();
    for item in &id.path {
        key.push_str(&item.to_string());
        key.push('.');
    }
    key.push_str(&id.step.to_string());
    key
}
