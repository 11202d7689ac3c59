//! The validator: checks a definition document against the language and the action catalogue,
//! reporting every problem with a JSON pointer, and compiles it into a [`Program`] when it is sound.

use std::collections::HashMap;
use std::fmt;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::catalog;
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
    let mut checker = Checker::default();
    let program = checker.program(doc);
    let failed = checker.diagnostics.iter().any(|d| d.severity == Severity::Error);
    (program.filter(|_| !failed), checker.diagnostics)
}

#[derive(Default)]
struct Checker {
    diagnostics: Vec<Diagnostic>,
}

/// Step names to indices within one body.
type Names<'a> = HashMap<&'a str, usize>;

impl Checker {
    fn error(&mut self, pointer: impl Into<String>, code: &'static str, message: impl Into<String>) {
        self.diagnostics.push(Diagnostic {
            severity: Severity::Error,
            code,
            pointer: pointer.into(),
            message: message.into(),
        });
    }

    fn warn(&mut self, pointer: impl Into<String>, code: &'static str, message: impl Into<String>) {
        self.diagnostics.push(Diagnostic {
            severity: Severity::Warning,
            code,
            pointer: pointer.into(),
            message: message.into(),
        });
    }

    fn program(&mut self, doc: &Value) -> Option<Program> {
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
        let body = self.body(definition, "/definition", false)?;
        Some(Program { body, trigger })
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
            && let Err(reason) = check_filter_syntax(filter)
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

    fn schedule(&mut self, attributes: &Map<String, Value>, pointer: &str) {
        match attributes.get("cronString") {
            Some(Value::String(cron)) => {
                let fields = cron.split_whitespace().count();
                if !(5..=7).contains(&fields) {
                    self.error(push_pointer(pointer, "cronString"), "invalid-cron", format!("`{cron}` has {fields} fields; a cron expression has 5 (minute hour day month weekday), optionally with seconds and year"));
                }
            }
            Some(_) => self.error(push_pointer(pointer, "cronString"), "wrong-type", "`cronString` must be a string"),
            None if attributes.contains_key("frequency") => {}
            None => self.error(
                push_pointer(pointer, "cronString"),
                "missing-field",
                "a SCHEDULED trigger needs `cronString` or `frequency`",
            ),
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
        let mut compiled = Vec::with_capacity(steps.len());
        let mut edges = Vec::with_capacity(steps.len());
        for (name, step) in steps {
            let step_pointer = push_pointer(&steps_pointer, name);
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
            self.graph(start, &edges, &ends, &step_pointers, &steps_pointer, in_loop);
        }
        let steps: Vec<Step> = compiled.into_iter().collect::<Option<_>>()?;
        Some(Body { start: start?, steps })
    }

    /// Reachability from `start`, and a path to an end from every reachable step.
    fn graph(
        &mut self,
        start: usize,
        edges: &[Vec<usize>],
        ends: &[bool],
        pointers: &[String],
        steps_pointer: &str,
        in_loop: bool,
    ) {
        let count = edges.len();
        let mut reachable = vec![false; count];
        let mut stack = vec![start];
        while let Some(i) = stack.pop() {
            if !std::mem::replace(&mut reachable[i], true) {
                stack.extend(edges[i].iter().copied());
            }
        }
        for (i, pointer) in pointers.iter().enumerate() {
            if !reachable[i] {
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

/// A light syntax check of a trigger filter (the Jayway dialect is evaluated by the engine):
/// starts at `$`, brackets and quotes balance.
fn check_filter_syntax(filter: &str) -> Result<(), String> {
    let text = filter.trim();
    if !text.starts_with('$') {
        return Err("a filter starts with `$`".into());
    }
    let mut stack = Vec::new();
    let mut quote: Option<char> = None;
    let mut previous = '\0';
    for ch in text.chars() {
        match quote {
            Some(q) if ch == q && previous != '\\' => quote = None,
            Some(_) => {}
            None => match ch {
                '\'' | '"' => quote = Some(ch),
                '[' | '(' => stack.push(ch),
                ']' | ')' => {
                    let open = if ch == ']' { '[' } else { '(' };
                    if stack.pop() != Some(open) {
                        return Err(format!("unbalanced `{ch}`"));
                    }
                }
                _ => {}
            },
        }
        previous = ch;
    }
    if quote.is_some() {
        return Err("an unterminated string".into());
    }
    if let Some(open) = stack.pop() {
        return Err(format!("`{open}` is never closed"));
    }
    Ok(())
}

/// `, did you mean "X"?` for a near miss among the step names.
fn suggest(wanted: &str, names: &Names<'_>) -> String {
    let wanted_lower = wanted.to_lowercase();
    names
        .keys()
        .find(|name| name.to_lowercase() == wanted_lower || output_key(name) == output_key(wanted))
        .map(|name| format!(" (did you mean `{name}`?)"))
        .unwrap_or_default()
}
