//! A run's persistent state: its status, and one thread per running body (the top level, and each
//! running loop iteration) with its data document and cursor.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tessera_model::Timestamp;

/// A run of one workflow version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    pub status: Status,
    pub main: Thread,
    /// Steps taken so far by every body of the run.
    pub transitions: u64,
}

/// Where a run is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "camelCase")]
pub enum Status {
    /// Created, waiting for `Start`.
    Pending,
    Running,
    /// Ended on a success step.
    Succeeded,
    /// Ended on a failure step (`failure_name`) or on a step error nothing caught (`error`).
    Failed {
        step: String,
        failure_name: Option<String>,
        error: Option<String>,
    },
    /// Stopped by a guard rail.
    Terminated {
        reason: String,
    },
    Cancelled {
        reason: String,
    },
}

impl Status {
    /// Whether the run takes no more events.
    pub fn is_final(&self) -> bool {
        !matches!(self, Status::Pending | Status::Running)
    }

    /// The label ISC's execution API uses.
    pub fn label(&self) -> &'static str {
        self.execution_status().as_str()
    }

    /// Where the execution stands, in the store's and ISC's terms.
    pub fn execution_status(&self) -> tessera_model::ExecutionStatus {
        use tessera_model::ExecutionStatus;
        match self {
            Status::Pending | Status::Running => ExecutionStatus::Running,
            Status::Succeeded => ExecutionStatus::Completed,
            Status::Failed { .. } | Status::Terminated { .. } => ExecutionStatus::Failed,
            Status::Cancelled { .. } => ExecutionStatus::Canceled,
        }
    }
}

/// One body being run: the top level, or a loop iteration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Thread {
    /// The data document: `trigger`, step outputs by key, and `loop` in an iteration.
    pub doc: Value,
    pub cursor: Cursor,
    /// Steps this body has taken, counted against `Limits::max_transitions`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub steps: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// What a thread is doing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "at", rename_all = "camelCase")]
pub enum Cursor {
    /// About to run this step.
    Step { step: usize },
    /// Waiting for the effect of this step.
    Waiting {
        step: usize,
        #[serde(with = "tessera_model::time::rfc3339")]
        started: Timestamp,
        input: Option<Value>,
    },
    /// Running a loop step's iterations.
    Looping(Box<Looping>),
    /// Reached an end.
    Ended(End),
}

/// A loop in progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Looping {
    pub step: usize,
    #[serde(with = "tessera_model::time::rfc3339")]
    pub started: Timestamp,
    /// The run's trigger input, which every iteration sees as `$.trigger`.
    pub trigger: Value,
    pub items: Vec<Value>,
    pub context: Value,
    pub parallelism: usize,
    /// The next item to start.
    pub next_item: usize,
    /// Iterations started and not yet ended, by item index.
    #[serde(with = "pairs")]
    pub running: BTreeMap<u32, Thread>,
    /// Each ended iteration's result, by item index.
    pub results: Vec<Option<Value>>,
    pub failed: usize,
    pub first_error: Option<String>,
}

/// How a thread ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "end", rename_all = "camelCase")]
pub enum End {
    Success,
    Failure { step: String, failure_name: Option<String> },
    Error { step: String, error: String },
}

impl Run {
    /// A run waiting for its `Start` event.
    pub fn new() -> Self {
        Self {
            status: Status::Pending,
            main: Thread { doc: Value::Object(Map::new()), cursor: Cursor::Step { step: 0 }, steps: 0 },
            transitions: 0,
        }
    }

    /// Ends the run because a guard rail outside the interpreter was hit; the step outputs are
    /// dropped (the trigger input is kept) so the stored state stays small.
    pub fn terminate(&mut self, reason: String) {
        let trigger = self.main.doc.get("trigger").cloned().unwrap_or(Value::Null);
        let mut doc = Map::new();
        doc.insert("trigger".into(), trigger);
        self.main = Thread {
            steps: 0,
            doc: Value::Object(doc),
            cursor: Cursor::Ended(End::Error { step: String::new(), error: reason.clone() }),
        };
        self.status = Status::Terminated { reason };
    }

    /// The data document of the top level: the trigger input and every step's output.
    pub fn document(&self) -> &Value {
        &self.main.doc
    }
}

impl Default for Run {
    fn default() -> Self {
        Self::new()
    }
}

/// Integer-keyed maps as lists of `[key, value]` pairs: JSON object keys are strings, and a
/// document read back as a `serde_json::Value` would not turn them into integers again.
mod pairs {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::Thread;

    pub(super) fn serialize<S: Serializer>(map: &BTreeMap<u32, Thread>, serializer: S) -> Result<S::Ok, S::Error> {
        map.iter().collect::<Vec<_>>().serialize(serializer)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<BTreeMap<u32, Thread>, D::Error> {
        Ok(Vec::<(u32, Thread)>::deserialize(deserializer)?.into_iter().collect())
    }
}
