//! The validator: checks a definition document against the language and the action catalogue,
//! reporting every problem with a JSON pointer, and compiles it into a [`Program`] when it is sound.

use std::collections::HashMap;
use std::fmt;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::catalog;
use crate::filter::TriggerFilter;
use crate::name::{StepName, output_key};
use crate::program::{Body, Program, Step, StepKind, Trigger};

mod actions;
mod steps;

/// How serious a finding is: errors make a definition invalid, warnings do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One finding, located by a JSON pointer into the document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    /// A stable, machine-readable code such as `unknown-step`.
    pub code: &'static str,
    /// RFC 6901 pointer to the offending value.
    pub pointer: String,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pointer = if self.pointer.is_empty() { "(document)" } else { &self.pointer };
        let level = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{level}[{}] at {pointer}: {}", self.code, self.message)
    }
}

/// Appends `segment` to `pointer`, escaped as RFC 6901 says.
pub fn push_pointer(pointer: &str, segment: impl fmt::Display) -> String {
    let segment = segment.to_string().replace('~', "~0").replace('/', "~1");
    format!("{pointer}/{segment}")
}

/// Checks `doc` and compiles it; the program is `None` when any error was found.
pub fn check(doc: &Value) -> (Option<Program>, Vec<Diagnostic>) {
    let mut checker = Checker { doc, diagnostics: Vec::new(), unresolved_links: 0 };
    let program = checker.program(doc);
    let failed = checker.diagnostics.iter().any(|d| d.severity == Severity::Error);
    (program.filter(|_| !failed), checker.diagnostics)
}

struct Checker<'d> {
    /// The document being checked, so pointers can be kept to places that exist.
    doc: &'d Value,
    diagnostics: Vec<Diagnostic>,
    /// References to steps that do not exist and look like no step that does.
    unresolved_links: usize,
}

/// One body's steps as a graph: successors, which steps end, and where each step is.
struct Graph<'a> {
    edges: &'a [Vec<usize>],
    ends: &'a [bool],
    pointers: &'a [String],
    steps_pointer: &'a str,
}

/// Step names to indices within one body.
type Names<'a> = HashMap<&'a str, usize>;

impl Checker<'_> {
    fn error(&mut self, pointer: impl Into<String>, code: &'static str, message: impl Into<String>) {
        self.push(Severity::Error, pointer.into(), code, message.into());
    }

    fn warn(&mut self, pointer: impl Into<String>, code: &'static str, message: impl Into<String>) {
        self.push(Severity::Warning, pointer.into(), code, message.into());
    }

    /// Records a finding. Something missing inside a parent that is itself missing is reported
    /// at the first missing ancestor, so every pointer names a place that exists or could.
    fn push(&mut self, severity: Severity, mut pointer: String, mut code: &'static str, mut message: String) {
        if matches!(code, "missing-field" | "missing-attribute") {
            let wanted = pointer.clone();
            while let Some((parent, _)) = pointer.rsplit_once('/') {
                if self.doc.pointer(parent).is_some_and(|p| p.is_object() || p.is_array()) {
                    break;
                }
                pointer = parent.to_owned();
            }
            if pointer != wanted {
                code = "missing-field";
                let missing = pointer.rsplit('/').next().unwrap_or_default().replace("~1", "/").replace("~0", "~");
                message = format!("{message}, and `{missing}` itself is missing");
            }
        }
        self.diagnostics.push(Diagnostic { severity, code, pointer, message });
    }

    fn program(&mut self, doc: &Value) -> Option<Program> {
        let is_form = |v: &Value| {
            v.get("formElements").is_some() || v.pointer("/self/type").is_some_and(|t| t == "FORM_DEFINITION")
        };
        if is_form(doc) || doc.as_array().is_some_and(|items| items.iter().any(is_form)) {
            self.error("", "not-a-workflow", "this is a form definition (it has `formElements`), not a workflow");
            return None;
        }
        let Some(root) = doc.as_object() else {
            self.error("", "not-an-object", "a workflow is a JSON object with `name`, `definition` and `trigger`");
            return None;
        };
        match root.get("name") {
            Some(Value::String(_)) | None => {}
            Some(_) => self.error("/name", "wrong-type", "`name` must be a string"),
        }
        let trigger = match root.get("trigger") {
            None | Some(Value::Null) => None,
            Some(value) => self.trigger(value, "/trigger"),
        };
        let Some(definition) = root.get("definition") else {
            self.error("/definition", "missing-field", "the workflow has no `definition` (with `start` and `steps`)");
            return None;
        };
        let Some(definition) = definition.as_object() else {
            self.error("/definition", "wrong-type", "`definition` must be an object with `start` and `steps`");
            return None;
        };
        let limits = self.limits(root.get("limits"));
        let body = self.body(definition, "/definition", false)?;
        Some(Program { body, trigger, limits })
    }

    /// Tessera's `limits`: guard rails a workflow sets lower for itself (whole numbers of steps and
    /// items, a duration for the longest wait).
    fn limits(&mut self, value: Option<&Value>) -> crate::interp::LimitsOverride {
        let mut limits = crate::interp::LimitsOverride::default();
        let Some(value) = value.filter(|v| !v.is_null()) else { return limits };
        let Some(members) = value.as_object() else {
            self.error(
                "/limits",
                "wrong-type",
                "`limits` must be an object: {\"maxTransitions\", \"maxLoopItems\", \"maxWait\"}",
            );
            return limits;
        };
        for (key, member) in members {
            let pointer = push_pointer("/limits", key);
            match key.as_str() {
                "maxTransitions" | "maxLoopItems" => match member.as_u64().filter(|n| *n > 0) {
                    Some(n) if key == "maxTransitions" => limits.max_transitions = Some(n),
                    Some(n) => limits.max_loop_items = Some(usize::try_from(n).unwrap_or(usize::MAX)),
                    None => self.error(pointer, "wrong-type", format!("`{key}` must be a whole number above 0")),
                },
                "maxWait" => match member.as_str().and_then(|t| t.parse::<tessera_model::Duration>().ok()) {
                    Some(duration) => limits.max_wait_seconds = Some(duration.as_secs()),
                    None => self.error(pointer, "wrong-type", "`maxWait` must be a duration such as `30d`"),
                },
                _ => self.error(pointer, "unknown-field", "`limits` takes maxTransitions, maxLoopItems and maxWait"),
            }
        }
        limits
    }

    fn trigger(&mut self, value: &Value, pointer: &str) -> Option<Trigger> {
        let Some(object) = value.as_object() else {
            self.error(pointer, "wrong-type", "`trigger` must be an object with `type` and `attributes`");
            return None;
        };
        let kind_pointer = push_pointer(pointer, "type");
        let kind = match object.get("type") {
            Some(Value::String(kind)) => kind.clone(),
            Some(_) => {
                self.error(kind_pointer, "wrong-type", "the trigger `type` must be a string");
                return None;
            }
            None => {
                self.error(
                    kind_pointer,
                    "missing-field",
                    format!("the trigger has no `type` (one of {})", catalog::TRIGGER_TYPES.join(", ")),
                );
                return None;
            }
        };
        if !catalog::TRIGGER_TYPES.iter().any(|t| t.eq_ignore_ascii_case(&kind)) {
            self.error(
                kind_pointer,
                "unknown-trigger",
                format!("unknown trigger type `{kind}` (expected one of {})", catalog::TRIGGER_TYPES.join(", ")),
            );
        }
        let attributes_pointer = push_pointer(pointer, "attributes");
        let empty = Map::new();
        let attributes = match object.get("attributes") {
            Some(Value::Object(a)) => a,
            None | Some(Value::Null) => &empty,
            Some(_) => {
                self.error(&attributes_pointer, "wrong-type", "trigger `attributes` must be an object");
                &empty
            }
        };
        let id = attributes.get("id").and_then(Value::as_str).map(str::to_owned);
        let filter = attributes.get("filter.$").and_then(Value::as_str).map(str::to_owned);
        if kind.eq_ignore_ascii_case("EVENT") && id.is_none() {
            self.error(
                push_pointer(&attributes_pointer, "id"),
                "missing-field",
                "an EVENT trigger needs `attributes.id`, the event trigger id such as `idn:identity-created`",
            );
        }
        if let Some(filter) = &filter
            && let Err(reason) = TriggerFilter::parse(filter)
        {
            self.error(
                push_pointer(&attributes_pointer, "filter.$"),
                "invalid-filter",
                format!("the trigger filter `{filter}` is malformed: {reason}"),
            );
        }
        if kind.eq_ignore_ascii_case("SCHEDULED") {
            self.schedule(attributes, &attributes_pointer);
        }
        Some(Trigger { kind, id, filter })
    }

    /// A SCHEDULED trigger's attributes must make a [`crate::schedule::Schedule`].
    fn schedule(&mut self, attributes: &Map<String, Value>, pointer: &str) {
        use crate::schedule::{ErrorKind, Schedule};
        if let Err(error) = Schedule::from_attributes(attributes) {
            let code = match error.kind {
                ErrorKind::Missing => "missing-field",
                ErrorKind::WrongType => "wrong-type",
                ErrorKind::Invalid => "invalid-schedule",
            };
            self.error(format!("{pointer}{}", error.pointer), code, error.message);
        }
    }

    /// Checks and compiles a `{start, steps}` object at `pointer`.
    fn body(&mut self, object: &Map<String, Value>, pointer: &str, in_loop: bool) -> Option<Body> {
        let start_pointer = push_pointer(pointer, "start");
        let steps_pointer = push_pointer(pointer, "steps");
        let steps = match object.get("steps") {
            Some(Value::Object(steps)) if !steps.is_empty() => steps,
            Some(Value::Object(_)) => {
                self.error(steps_pointer, "no-steps", "`steps` is empty: a workflow needs at least one end step");
                return None;
            }
            Some(_) => {
                self.error(steps_pointer, "wrong-type", "`steps` must be an object mapping step names to steps");
                return None;
            }
            None => {
                self.error(steps_pointer, "missing-field", "there is no `steps` map");
                return None;
            }
        };
        let names: Names<'_> = steps.keys().enumerate().map(|(i, k)| (k.as_str(), i)).collect();
        let start = match object.get("start") {
            Some(Value::String(start)) => match names.get(start.as_str()) {
                Some(&index) => Some(index),
                None => {
                    self.error(
                        start_pointer,
                        "unknown-step",
                        format!("`start` names `{start}`, which is not a step{}", suggest(start, &names)),
                    );
                    None
                }
            },
            Some(_) => {
                self.error(start_pointer, "wrong-type", "`start` must be the name of a step");
                None
            }
            None => {
                self.error(start_pointer, "missing-field", "there is no `start`: name the first step");
                None
            }
        };
        let unresolved_before = self.unresolved_links;
        let mut compiled = Vec::with_capacity(steps.len());
        let mut edges = Vec::with_capacity(steps.len());
        for (name, step) in steps {
            let step_pointer = push_pointer(&steps_pointer, name);
            // `$.trigger` holds the input; inside a loop body `$.loop` holds the item and context.
            let key = output_key(name);
            if key == "trigger" || (in_loop && key == "loop") {
                self.error(
                    step_pointer.clone(),
                    "reserved-name",
                    format!(
                        "step `{name}` would store its output at `$.{}`, which holds the run's input; rename it",
                        output_key(name)
                    ),
                );
            }
            let mut out = Vec::new();
            let kind = self.step(step, &step_pointer, &names, &mut out);
            edges.push(out);
            compiled.push(kind.map(|kind| Step {
                name: StepName::new(name.clone()),
                key: output_key(name),
                pointer: step_pointer,
                kind,
            }));
        }
        let ends: Vec<bool> = compiled
            .iter()
            .map(|s| matches!(s.as_ref().map(|s| &s.kind), Some(StepKind::Success | StepKind::Failure { .. })))
            .collect();
        let step_pointers: Vec<String> = steps.keys().map(|k| push_pointer(&steps_pointer, k)).collect();
        if let Some(start) = start {
            // With a reference that matches nothing, "unreachable" reports would mostly be its echo.
            let report_unreachable = self.unresolved_links == unresolved_before;
            let graph = Graph { edges: &edges, ends: &ends, pointers: &step_pointers, steps_pointer: &steps_pointer };
            self.graph(start, &graph, in_loop, report_unreachable);
        }
        let steps: Vec<Step> = compiled.into_iter().collect::<Option<_>>()?;
        Some(Body { start: start?, steps })
    }

    /// Reachability from `start`, and a path to an end from every reachable step.
    fn graph(&mut self, start: usize, graph: &Graph<'_>, in_loop: bool, report_unreachable: bool) {
        let Graph { edges, ends, pointers, steps_pointer } = *graph;
        let count = edges.len();
        let mut reachable = vec![false; count];
        let mut stack = vec![start];
        while let Some(i) = stack.pop() {
            if !std::mem::replace(&mut reachable[i], true) {
                stack.extend(edges[i].iter().copied());
            }
        }
        for (i, pointer) in pointers.iter().enumerate() {
            if !reachable[i] && report_unreachable {
                self.error(pointer.clone(), "unreachable-step", "no path from `start` leads to this step");
            }
        }
        if !ends.iter().any(|&e| e) {
            let (code, message) = if in_loop {
                (
                    "loop-no-end",
                    "this loop body has no end step: add a success or failure step that every iteration reaches",
                )
            } else {
                ("no-end", "the workflow has no end step: add a step of type `success` or `failure`")
            };
            self.error(steps_pointer, code, message);
            return;
        }
        let mut reaches_end = ends.to_vec();
        let mut changed = true;
        while changed {
            changed = false;
            for i in 0..count {
                if !reaches_end[i] && edges[i].iter().any(|&j| reaches_end[j]) {
                    reaches_end[i] = true;
                    changed = true;
                }
            }
        }
        for i in 0..count {
            if reachable[i] && !reaches_end[i] && !edges[i].is_empty() {
                let code = if in_loop { "loop-no-end" } else { "no-end" };
                self.error(pointers[i].clone(), code, "no path from this step reaches an end step (it loops forever)");
            }
        }
    }
}

/// `, did you mean "X"?` for a near miss among the step names.
fn suggest(wanted: &str, names: &Names<'_>) -> String {
    near_miss(wanted, names).map(|name| format!(" (did you mean `{name}`?)")).unwrap_or_default()
}

/// The step a misspelt reference most likely meant: same name but for case, spaces or punctuation.
fn near_miss<'n>(wanted: &str, names: &Names<'n>) -> Option<&'n str> {
    let wanted_lower = wanted.to_lowercase();
    names.keys().copied().find(|name| name.to_lowercase() == wanted_lower || output_key(name) == output_key(wanted))
}
