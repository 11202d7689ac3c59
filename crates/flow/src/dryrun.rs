//! Dry runs: a workflow run in memory, its external calls answered by mocks, its waits passed on a
//! simulated clock. This is what `tessera workflow test` and the interpreter benchmark drive.

use std::collections::{HashMap, VecDeque};

use serde::Serialize;
use serde_json::{Map, Value};
use tessera_model::Timestamp;

use crate::catalog::{self, Behaviour};
use crate::interp::{Effect, Event, HistoryEntry, Options, Run, Status};
use crate::program::Program;

/// The answers a dry run gives in place of real actions.
///
/// ```json
/// { "steps":   { "Get Identity": { "output": { "id": "42" } },
///                "HTTP Request": [ { "error": "503 Service Unavailable" }, { "output": { "statusCode": 200 } } ] },
///   "actions": { "sp:send-email": { "output": {} } } }
/// ```
/// A step's entry wins over its action's. A list answers successive calls in order, its last entry
/// repeating. A form or approval answers with `output` too: what the person submitted.
#[derive(Debug, Clone, Default)]
pub struct Mocks {
    steps: HashMap<String, Vec<Reply>>,
    actions: HashMap<String, Vec<Reply>>,
}

/// One mocked answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Output(Value),
    Error(String),
}

/// Why a mocks document was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("mocks {pointer}: {message}")]
pub struct MocksError {
    pub pointer: String,
    pub message: String,
}

impl Mocks {
    /// Reads a mocks document (see the type's documentation).
    pub fn from_value(value: &Value) -> Result<Self, MocksError> {
        let fail = |pointer: String, message: &str| MocksError { pointer, message: message.to_owned() };
        let Value::Object(root) = value else {
            return Err(fail(String::new(), "must be an object with `steps` and/or `actions`"));
        };
        let mut mocks = Mocks::default();
        for (section, value) in root {
            let target = match section.as_str() {
                "steps" => &mut mocks.steps,
                "actions" => &mut mocks.actions,
                _ => {
                    return Err(fail(
                        format!("/{section}"),
                        "unknown section: use `steps` (by step name) or `actions` (by action id)",
                    ));
                }
            };
            let Value::Object(entries) = value else {
                return Err(fail(format!("/{section}"), "must be an object"));
            };
            for (name, spec) in entries {
                let pointer = crate::validate::push_pointer(&format!("/{section}"), name);
                let replies = match spec {
                    Value::Array(list) if !list.is_empty() => list
                        .iter()
                        .enumerate()
                        .map(|(i, r)| reply(r, &crate::validate::push_pointer(&pointer, i)))
                        .collect::<Result<_, _>>()?,
                    Value::Array(_) => return Err(fail(pointer, "an empty list answers nothing")),
                    single => vec![reply(single, &pointer)?],
                };
                target.insert(name.clone(), replies);
            }
        }
        Ok(mocks)
    }
}

fn reply(value: &Value, pointer: &str) -> Result<Reply, MocksError> {
    match value {
        Value::Object(o) if o.len() == 1 && o.contains_key("output") => Ok(Reply::Output(o["output"].clone())),
        Value::Object(o) if o.len() == 1 && o.contains_key("error") => {
            Ok(Reply::Error(crate::expr::display(&o["error"])))
        }
        _ => Err(MocksError {
            pointer: pointer.to_owned(),
            message: "a reply is `{\"output\": …}` or `{\"error\": \"message\"}`".into(),
        }),
    }
}

/// What a dry run did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub status: Status,
    pub history: Vec<HistoryEntry>,
    /// How long the waits would have taken, in seconds.
    pub waited_seconds: u64,
    pub transitions: u64,
    /// Set when the run stopped because a step had no mock.
    pub missing_mock: Option<String>,
    #[serde(with = "tessera_model::time::rfc3339")]
    pub started: Timestamp,
    #[serde(with = "tessera_model::time::rfc3339")]
    pub ended: Timestamp,
    /// The final data document.
    pub document: Value,
}

/// Runs `program` with `input` from instant `start` until it ends.
pub fn run(program: &Program, input: Value, mocks: &Mocks, start: Timestamp, options: &Options) -> Report {
    let mut run = Run::new();
    let mut now = start;
    let mut history = Vec::new();
    let mut calls: HashMap<(bool, &str), usize> = HashMap::new();
    let mut queue: VecDeque<Effect> = VecDeque::new();
    let mut missing_mock = None;
    let mut event = Some(Event::Start { input });
    while let Some(next) = event.take() {
        let applied = match run.apply(program, next, now, options) {
            Ok(applied) => applied,
            Err(error) => {
                missing_mock = Some(format!("internal: {error}"));
                break;
            }
        };
        history.extend(applied.history);
        queue.extend(applied.effects);
        if run.status.is_final() {
            break;
        }
        let Some(effect) = queue.pop_front() else {
            break;
        };
        event = Some(match effect {
            Effect::Wait { id, until, .. } => {
                now = now.max(until);
                Event::TimerFired { id }
            }
            Effect::Call { id, step, action, .. } | Effect::Ask { id, step, action, .. } => {
                // Successive calls of a step (or of an action, for action mocks) take successive replies.
                let (replies, counter) =
                    match (mocks.steps.get_key_value(step.as_str()), mocks.actions.get_key_value(action)) {
                        (Some((name, replies)), _) => (Some(replies), (true, name.as_str())),
                        (None, Some((id, replies))) => (Some(replies), (false, id.as_str())),
                        (None, None) => (None, (false, "")),
                    };
                let count = calls.entry(counter).or_default();
                let nth = *count;
                *count += 1;
                match replies {
                    Some(replies) => match &replies[nth.min(replies.len() - 1)] {
                        Reply::Output(output) => Event::Completed { id, output: output.clone() },
                        Reply::Error(error) => Event::Failed { id, error: error.clone() },
                    },
                    None if catalog::action(action).is_some_and(|a| a.behaviour == Behaviour::Message) => {
                        Event::Completed { id, output: Value::Object(Map::new()) }
                    }
                    None => {
                        missing_mock = Some(format!(
                            "step `{step}` calls `{action}`, which has no mock: add \"{step}\": {{\"output\": {{…}}}} under \"steps\" in the mocks file (or \"{action}\" under \"actions\"); an error is mocked as {{\"error\": \"message\"}}"
                        ));
                        break;
                    }
                }
            }
        });
    }
    let status = match &missing_mock {
        Some(reason) => Status::Failed { step: String::new(), failure_name: None, error: Some(reason.clone()) },
        None => run.status.clone(),
    };
    Report {
        status,
        history,
        waited_seconds: (now.saturating_millis_since(start) / 1000).max(0) as u64,
        transitions: run.transitions,
        missing_mock,
        started: start,
        ended: now,
        document: run.main.doc,
    }
}
