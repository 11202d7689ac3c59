//! The validator: checks a definition document against the language and the action catalogue,
//! reporting every problem with a JSON pointer, and compiles it into a [`Program`] when it is sound.

use std::collections::HashMap;
use std::fmt;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::catalog::{self, Behaviour};
use crate::compare::Comparator;
use crate::expr::{Expr, Inputs};
use crate::name::{StepName, output_key};
use crate::program::{Body, Choice, Program, Step, StepKind, Trigger, Variable};
use crate::transform::{self, Op, Transform};

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
        let pointer = if self.pointer.is_empty() {
            "(document)"
        } else {
            &self.pointer
        };
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
    let failed = checker
        .diagnostics
        .iter()
        .any(|d| d.severity == Severity::Error);
    (program.filter(|_| !failed), checker.diagnostics)
}

#[derive(Default)]
struct Checker {
    diagnostics: Vec<Diagnostic>,
}

/// Step names to indices within one body.
type Names<'a> = HashMap<&'a str, usize>;

impl Checker {
    fn error(
        &mut self,
        pointer: impl Into<String>,
        code: &'static str,
        message: impl Into<String>,
    ) {
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
            self.error(
                "",
                "not-an-object",
                "a workflow is a JSON object with `name`, `definition` and `trigger`",
            );
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
            self.error(
                "/definition",
                "missing-field",
                "the workflow has no `definition` (with `start` and `steps`)",
            );
            return None;
        };
        let Some(definition) = definition.as_object() else {
            self.error(
                "/definition",
                "wrong-type",
                "`definition` must be an object with `start` and `steps`",
            );
            return None;
        };
        let body = self.body(definition, "/definition", false)?;
        Some(Program { body, trigger })
    }

    fn trigger(&mut self, value: &Value, pointer: &str) -> Option<Trigger> {
        let Some(object) = value.as_object() else {
            self.error(
                pointer,
                "wrong-type",
                "`trigger` must be an object with `type` and `attributes`",
            );
            return None;
        };
        let kind_pointer = push_pointer(pointer, "type");
        let kind = match object.get("type") {
            Some(Value::String(kind)) => kind.clone(),
            Some(_) => {
                self.error(
                    kind_pointer,
                    "wrong-type",
                    "the trigger `type` must be a string",
                );
                return None;
            }
            None => {
                self.error(
                    kind_pointer,
                    "missing-field",
                    format!(
                        "the trigger has no `type` (one of {})",
                        catalog::TRIGGER_TYPES.join(", ")
                    ),
                );
                return None;
            }
        };
        if !catalog::TRIGGER_TYPES
            .iter()
            .any(|t| t.eq_ignore_ascii_case(&kind))
        {
            self.error(
                kind_pointer,
                "unknown-trigger",
                format!(
                    "unknown trigger type `{kind}` (expected one of {})",
                    catalog::TRIGGER_TYPES.join(", ")
                ),
            );
        }
        let attributes_pointer = push_pointer(pointer, "attributes");
        let empty = Map::new();
        let attributes = match object.get("attributes") {
            Some(Value::Object(a)) => a,
            None | Some(Value::Null) => &empty,
            Some(_) => {
                self.error(
                    &attributes_pointer,
                    "wrong-type",
                    "trigger `attributes` must be an object",
                );
                &empty
            }
        };
        let id = attributes
            .get("id")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let filter = attributes
            .get("filter.$")
            .and_then(Value::as_str)
            .map(str::to_owned);
        if kind.eq_ignore_ascii_case("EVENT") && id.is_none() {
            self.error(push_pointer(&attributes_pointer, "id"), "missing-field", "an EVENT trigger needs `attributes.id`, the event trigger id such as `idn:identity-created`");
        }
        if let Some(filter) = &filter {
            if let Err(reason) = check_filter_syntax(filter) {
                self.error(
                    push_pointer(&attributes_pointer, "filter.$"),
                    "invalid-filter",
                    format!("the trigger filter `{filter}` is malformed: {reason}"),
                );
            }
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
            Some(_) => self.error(
                push_pointer(pointer, "cronString"),
                "wrong-type",
                "`cronString` must be a string",
            ),
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
                self.error(
                    steps_pointer,
                    "no-steps",
                    "`steps` is empty: a workflow needs at least one end step",
                );
                return None;
            }
            Some(_) => {
                self.error(
                    steps_pointer,
                    "wrong-type",
                    "`steps` must be an object mapping step names to steps",
                );
                return None;
            }
            None => {
                self.error(steps_pointer, "missing-field", "there is no `steps` map");
                return None;
            }
        };
        let names: Names<'_> = steps
            .keys()
            .enumerate()
            .map(|(i, k)| (k.as_str(), i))
            .collect();
        let start = match object.get("start") {
            Some(Value::String(start)) => match names.get(start.as_str()) {
                Some(&index) => Some(index),
                None => {
                    self.error(
                        start_pointer,
                        "unknown-step",
                        format!(
                            "`start` names `{start}`, which is not a step{}",
                            suggest(start, &names)
                        ),
                    );
                    None
                }
            },
            Some(_) => {
                self.error(
                    start_pointer,
                    "wrong-type",
                    "`start` must be the name of a step",
                );
                None
            }
            None => {
                self.error(
                    start_pointer,
                    "missing-field",
                    "there is no `start`: name the first step",
                );
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
            .map(|s| {
                matches!(
                    s.as_ref().map(|s| &s.kind),
                    Some(StepKind::Success | StepKind::Failure { .. })
                )
            })
            .collect();
        let step_pointers: Vec<String> = steps
            .keys()
            .map(|k| push_pointer(&steps_pointer, k))
            .collect();
        if let Some(start) = start {
            self.graph(
                start,
                &edges,
                &ends,
                &step_pointers,
                &steps_pointer,
                in_loop,
            );
        }
        let steps: Vec<Step> = compiled.into_iter().collect::<Option<_>>()?;
        Some(Body {
            start: start?,
            steps,
        })
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
                self.error(
                    pointer.clone(),
                    "unreachable-step",
                    "no path from `start` leads to this step",
                );
            }
        }
        if !ends.iter().any(|&e| e) {
            let (code, message) = if in_loop {
                (
                    "loop-no-end",
                    "this loop body has no end step: add a success or failure step that every iteration reaches",
                )
            } else {
                (
                    "no-end",
                    "the workflow has no end step: add a step of type `success` or `failure`",
                )
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
                self.error(
                    pointers[i].clone(),
                    code,
                    "no path from this step reaches an end step (it loops forever)",
                );
            }
        }
    }

    /// Checks one step; pushes its resolved successors to `edges`.
    fn step(
        &mut self,
        value: &Value,
        pointer: &str,
        names: &Names<'_>,
        edges: &mut Vec<usize>,
    ) -> Option<StepKind> {
        let Some(step) = value.as_object() else {
            self.error(
                pointer,
                "wrong-type",
                "a step must be an object with a `type`",
            );
            return None;
        };
        let type_pointer = push_pointer(pointer, "type");
        let Some(kind) = step.get("type").and_then(Value::as_str) else {
            self.error(
                type_pointer,
                "missing-field",
                "the step has no `type` (action, choice, Mutation, success or failure)",
            );
            return None;
        };
        let mut next = |this: &mut Self, field: &str| -> Option<usize> {
            let field_pointer = push_pointer(pointer, field);
            match step.get(field) {
                None => {
                    this.error(
                        field_pointer,
                        "missing-field",
                        format!("the step has no `{field}`: name the step that follows"),
                    );
                    None
                }
                Some(target) => this.link(target, &field_pointer, field, names, edges),
            }
        };
        match kind.to_ascii_lowercase().as_str() {
            "success" => Some(StepKind::Success),
            "failure" => Some(StepKind::Failure {
                name: step
                    .get("failureName")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            }),
            "choice" => {
                let default = if step.contains_key("defaultStep") {
                    next(self, "defaultStep")
                } else {
                    self.error(
                        push_pointer(pointer, "defaultStep"),
                        "missing-field",
                        "a choice needs a `defaultStep` for when no comparison matches",
                    );
                    None
                };
                let mut choice_edges = Vec::new();
                let choices = self.choices(step, pointer, &mut |this, i| {
                    let field_pointer = push_pointer(
                        &push_pointer(&push_pointer(pointer, "choiceList"), i),
                        "nextStep",
                    );
                    match step["choiceList"][i].get("nextStep") {
                        Some(target) => {
                            this.link(target, &field_pointer, "nextStep", names, &mut choice_edges)
                        }
                        None => {
                            this.error(
                                field_pointer,
                                "missing-field",
                                "each choice needs a `nextStep`",
                            );
                            None
                        }
                    }
                });
                edges.extend(choice_edges);
                Some(StepKind::Choice {
                    choices: choices?,
                    default,
                })
            }
            "mutation" => {
                let attributes = self.attributes(step, pointer)?;
                let id = attributes
                    .get("id")
                    .and_then(Value::as_str)
                    .or(step.get("actionId").and_then(Value::as_str))
                    .unwrap_or("sp:define-variable");
                let update = match catalog::action(id).map(|a| a.behaviour) {
                    Some(Behaviour::DefineVariable) => false,
                    Some(Behaviour::UpdateVariable) => true,
                    _ => {
                        self.error(push_pointer(&push_pointer(pointer, "attributes"), "id"), "unknown-action", format!("a Mutation step is `sp:define-variable` or `sp:update-variable`, not `{id}`"));
                        return None;
                    }
                };
                let next = next(self, "nextStep");
                let variables = self.variables(attributes, &push_pointer(pointer, "attributes"));
                Some(StepKind::Variables {
                    update,
                    variables: variables?,
                    next: next?,
                })
            }
            "action" => {
                let mut catch_edges = Vec::new();
                let catch = self.catch(step, pointer, names, &mut catch_edges);
                let kind = self.action(step, pointer, &mut next, catch);
                edges.extend(catch_edges);
                kind
            }
            other => {
                self.error(type_pointer, "unknown-step-type", format!("unknown step type `{other}` (expected action, choice, Mutation, success or failure)"));
                None
            }
        }
    }

    fn attributes<'v>(
        &mut self,
        step: &'v Map<String, Value>,
        pointer: &str,
    ) -> Option<&'v Map<String, Value>> {
        match step.get("attributes") {
            Some(Value::Object(attributes)) => Some(attributes),
            Some(_) => {
                self.error(
                    push_pointer(pointer, "attributes"),
                    "wrong-type",
                    "`attributes` must be an object",
                );
                None
            }
            None => {
                self.error(
                    push_pointer(pointer, "attributes"),
                    "missing-field",
                    "the step has no `attributes`",
                );
                None
            }
        }
    }

    fn action(
        &mut self,
        step: &Map<String, Value>,
        pointer: &str,
        next: &mut dyn FnMut(&mut Self, &str) -> Option<usize>,
        catch: Option<Option<usize>>,
    ) -> Option<StepKind> {
        let empty = Map::new();
        let attributes = match step.get("attributes") {
            None | Some(Value::Null) => &empty,
            Some(_) => self.attributes(step, pointer)?,
        };
        let attributes_pointer = push_pointer(pointer, "attributes");
        let (id, id_pointer) = match (step.get("actionId"), attributes.get("id")) {
            (Some(Value::String(id)), _) => (id.as_str(), push_pointer(pointer, "actionId")),
            (_, Some(Value::String(id))) => (id.as_str(), push_pointer(&attributes_pointer, "id")),
            _ => {
                self.error(
                    push_pointer(pointer, "actionId"),
                    "missing-field",
                    "an action step needs an `actionId` such as `sp:http`",
                );
                return None;
            }
        };
        let Some(action) = catalog::action(id) else {
            self.error(id_pointer, "unknown-action", format!("unknown action `{id}`: Tessera cannot perform it (see /v3/workflow-library/actions)"));
            return None;
        };
        let next_index = next(self, "nextStep");
        if action.behaviour == Behaviour::Loop {
            return self.loop_step(attributes, &attributes_pointer, next_index?, catch);
        }
        if matches!(
            action.behaviour,
            Behaviour::DefineVariable
                | Behaviour::UpdateVariable
                | Behaviour::Choice
                | Behaviour::End
        ) {
            self.error(
                id_pointer,
                "wrong-step-type",
                format!(
                    "`{}` is an operator, not an action: use its own step type",
                    action.id
                ),
            );
            return None;
        }
        let mut ok = self.check_attributes(action, attributes, &attributes_pointer);
        if action.behaviour == Behaviour::Sleep {
            ok &= self.check_sleep(attributes, &attributes_pointer);
        }
        let inputs = match Inputs::compile(attributes, &["id"]) {
            Ok(inputs) => Some(inputs),
            Err((key, error)) => {
                if ok {
                    self.error(
                        push_pointer(&attributes_pointer, key),
                        "invalid-jsonpath",
                        error.to_string(),
                    );
                }
                None
            }
        };
        if !ok {
            return None;
        }
        Some(StepKind::Action {
            action,
            inputs: inputs?,
            next: next_index?,
            catch: catch?,
        })
    }

    /// `catch: [{"next": "Step"}]`; `Some(None)` when there is none, `None` when it is broken.
    fn catch(
        &mut self,
        step: &Map<String, Value>,
        pointer: &str,
        names: &Names<'_>,
        edges: &mut Vec<usize>,
    ) -> Option<Option<usize>> {
        let catch_pointer = push_pointer(pointer, "catch");
        let (target, target_pointer) = match step.get("catch") {
            None | Some(Value::Null) => return Some(None),
            Some(Value::Array(handlers))
                if handlers.len() == 1 && handlers[0].get("next").is_some() =>
            {
                (
                    &handlers[0]["next"],
                    push_pointer(&push_pointer(&catch_pointer, 0), "next"),
                )
            }
            Some(Value::Object(handler)) if handler.get("next").is_some() => {
                (&handler["next"], push_pointer(&catch_pointer, "next"))
            }
            Some(_) => {
                self.error(catch_pointer, "wrong-type", "`catch` is `[{\"next\": \"Step Name\"}]`: one handler naming the step to run when the action fails");
                return None;
            }
        };
        self.link(target, &target_pointer, "catch.next", names, edges)
            .map(Some)
    }

    /// Resolves a reference to another step, recording the edge.
    fn link(
        &mut self,
        target: &Value,
        pointer: &str,
        field: &str,
        names: &Names<'_>,
        edges: &mut Vec<usize>,
    ) -> Option<usize> {
        let Value::String(target) = target else {
            self.error(
                pointer,
                "wrong-type",
                format!("`{field}` must be the name of a step"),
            );
            return None;
        };
        match names.get(target.as_str()) {
            Some(&index) => {
                edges.push(index);
                Some(index)
            }
            None => {
                self.error(
                    pointer,
                    "unknown-step",
                    format!(
                        "`{field}` names `{target}`, which is not a step{}",
                        suggest(target, names)
                    ),
                );
                None
            }
        }
    }

    fn check_attributes(
        &mut self,
        action: &catalog::Action,
        attributes: &Map<String, Value>,
        pointer: &str,
    ) -> bool {
        let mut ok = true;
        for (key, value) in attributes {
            if key == "id" {
                continue;
            }
            let key_pointer = push_pointer(pointer, key);
            let (name, is_path) = match key.strip_suffix(".$") {
                Some(name) => (name, true),
                None => (key.as_str(), false),
            };
            if !action.accepts_name(name) {
                self.warn(
                    key_pointer,
                    "unknown-attribute",
                    format!(
                        "`{}` does not take `{name}`; it is kept but not used",
                        action.id
                    ),
                );
                continue;
            }
            if is_path {
                match value {
                    Value::String(text) if text.trim().is_empty() => {
                        self.warn(
                            key_pointer,
                            "empty-path",
                            format!("`{key}` is empty, so `{name}` is unset"),
                        );
                    }
                    Value::String(_) => {
                        if let Err(error) = Expr::compile_path(value) {
                            self.error(key_pointer, "invalid-jsonpath", error.to_string());
                            ok = false;
                        }
                    }
                    _ => {
                        self.error(
                            key_pointer,
                            "wrong-type",
                            format!("`{key}` holds a JSONPath, so it must be a string"),
                        );
                        ok = false;
                    }
                }
                continue;
            }
            let Some(attr) = action.attribute(name) else {
                continue;
            };
            if value.is_null() && !attr.required {
                continue;
            }
            if !attr.kind.accepts(value) {
                self.error(
                    key_pointer,
                    "wrong-type",
                    format!(
                        "`{name}` of `{}` must be {}",
                        action.id,
                        attr.kind.describe()
                    ),
                );
                ok = false;
            } else if let Err(error) = Expr::compile_literal(value) {
                self.error(key_pointer, "invalid-jsonpath", error.to_string());
                ok = false;
            } else {
                self.check_templates(value, &key_pointer);
            }
        }
        for attr in action.attributes.iter().filter(|a| a.required) {
            let present = attributes.get(attr.name).is_some_and(|v| !v.is_null())
                || attributes.contains_key(&format!("{}.$", attr.name));
            if !present {
                self.error(
                    push_pointer(pointer, attr.name),
                    "missing-attribute",
                    format!(
                        "`{}` needs `{}` ({})",
                        action.id,
                        attr.name,
                        attr.kind.describe()
                    ),
                );
                ok = false;
            }
        }
        ok
    }

    /// Warns about `{{…}}` placeholders whose path is malformed: they are left as written.
    fn check_templates(&mut self, value: &Value, pointer: &str) {
        match value {
            Value::String(text) if text.contains("{{") => {
                if let Err(error) = crate::expr::Template::check(text) {
                    self.warn(
                        pointer,
                        "invalid-template",
                        format!("{error}; the placeholder is left as written"),
                    );
                }
            }
            Value::Object(members) => members
                .iter()
                .for_each(|(k, v)| self.check_templates(v, &push_pointer(pointer, k))),
            Value::Array(items) => items
                .iter()
                .enumerate()
                .for_each(|(i, v)| self.check_templates(v, &push_pointer(pointer, i))),
            _ => {}
        }
    }

    fn check_sleep(&mut self, attributes: &Map<String, Value>, pointer: &str) -> bool {
        let has = |name: &str| {
            attributes.contains_key(name) || attributes.contains_key(&format!("{name}.$"))
        };
        match attributes.get("type").and_then(Value::as_str) {
            Some(t) if t.eq_ignore_ascii_case("waitFor") && !has("duration") => {
                self.error(
                    push_pointer(pointer, "duration"),
                    "missing-attribute",
                    "a waitFor wait needs a `duration` such as `10m` or `7d`",
                );
                false
            }
            Some(t) if t.eq_ignore_ascii_case("waitUntil") && !has("date") => {
                self.error(
                    push_pointer(pointer, "date"),
                    "missing-attribute",
                    "a waitUntil wait needs a `date` (or `date.$`)",
                );
                false
            }
            _ => true,
        }
    }

    fn loop_step(
        &mut self,
        attributes: &Map<String, Value>,
        pointer: &str,
        next: usize,
        catch: Option<Option<usize>>,
    ) -> Option<StepKind> {
        let input = match (attributes.get("input.$"), attributes.get("input")) {
            (Some(path), _) => match Expr::compile_path(path) {
                Ok(expr) => Some(expr),
                Err(error) => {
                    self.error(
                        push_pointer(pointer, "input.$"),
                        "invalid-jsonpath",
                        error.to_string(),
                    );
                    None
                }
            },
            (None, Some(Value::Array(items))) => Some(Expr::Literal(Value::Array(items.clone()))),
            (None, Some(_)) => {
                self.error(
                    push_pointer(pointer, "input"),
                    "wrong-type",
                    "a loop's `input` must be an array (or `input.$`, a path to one)",
                );
                None
            }
            (None, None) => {
                self.error(
                    push_pointer(pointer, "input.$"),
                    "missing-attribute",
                    "a loop needs `input.$`, the path of the list to iterate",
                );
                None
            }
        };
        let context = match attributes
            .get("context.$")
            .map(Expr::compile_path)
            .or_else(|| attributes.get("context").map(Expr::compile_literal))
        {
            None => None,
            Some(Ok(expr)) => Some(expr),
            Some(Err(error)) => {
                self.error(
                    push_pointer(pointer, "context.$"),
                    "invalid-jsonpath",
                    error.to_string(),
                );
                None
            }
        };
        let parallelism = match attributes.get("parallelism") {
            None => None,
            Some(Value::Number(n)) if n.as_u64().is_some_and(|n| n >= 1) => {
                n.as_u64().map(|n| n as usize)
            }
            Some(_) => {
                self.error(
                    push_pointer(pointer, "parallelism"),
                    "wrong-type",
                    "`parallelism` must be a whole number of at least 1",
                );
                None
            }
        };
        let body = self.body(attributes, pointer, true);
        Some(StepKind::Loop {
            input: input?,
            context,
            parallelism,
            body: Box::new(body?),
            next,
            catch: catch?,
        })
    }

    fn choices(
        &mut self,
        step: &Map<String, Value>,
        pointer: &str,
        target: &mut dyn FnMut(&mut Self, usize) -> Option<usize>,
    ) -> Option<Vec<Choice>> {
        let list_pointer = push_pointer(pointer, "choiceList");
        let Some(list) = step
            .get("choiceList")
            .and_then(Value::as_array)
            .filter(|l| !l.is_empty())
        else {
            self.error(
                list_pointer,
                "missing-field",
                "a choice needs a non-empty `choiceList`",
            );
            return None;
        };
        let mut choices = Vec::with_capacity(list.len());
        let mut ok = true;
        for (i, entry) in list.iter().enumerate() {
            let entry_pointer = push_pointer(&list_pointer, i);
            let Some(entry) = entry.as_object() else {
                self.error(
                    entry_pointer,
                    "wrong-type",
                    "a choice is an object with `comparator`, `variableA` and `nextStep`",
                );
                ok = false;
                continue;
            };
            let comparator = match entry.get("comparator").and_then(Value::as_str) {
                Some(name) => match name.parse::<Comparator>() {
                    Ok(c) => Some(c),
                    Err(e) => {
                        self.error(
                            push_pointer(&entry_pointer, "comparator"),
                            "unknown-comparator",
                            format!(
                                "{e}: expected one of {}",
                                crate::compare::ALL.map(Comparator::name).join(", ")
                            ),
                        );
                        None
                    }
                },
                None => {
                    self.error(
                        push_pointer(&entry_pointer, "comparator"),
                        "missing-field",
                        "the choice has no `comparator`",
                    );
                    None
                }
            };
            let a = self.operand(entry, &entry_pointer, "variableA", true);
            let b = self.operand(
                entry,
                &entry_pointer,
                "variableB",
                comparator.is_some_and(Comparator::needs_operand_b),
            );
            let next = target(self, i);
            match (comparator, a, b, next) {
                (Some(comparator), Some(Some(a)), Some(b), Some(next)) => choices.push(Choice {
                    comparator,
                    a,
                    b,
                    next,
                }),
                _ => ok = false,
            }
        }
        ok.then_some(choices)
    }

    /// `variableA` / `variableA.$`; `Some(None)` when absent and optional.
    fn operand(
        &mut self,
        entry: &Map<String, Value>,
        pointer: &str,
        name: &str,
        required: bool,
    ) -> Option<Option<Expr>> {
        let path_key = format!("{name}.$");
        let compiled = match (entry.get(&path_key), entry.get(name)) {
            (Some(path), _) => Expr::compile_path(path).map_err(|e| (path_key, e)),
            (None, Some(literal)) => {
                Expr::compile_literal(literal).map_err(|e| (name.to_owned(), e))
            }
            (None, None) if required => {
                self.error(
                    push_pointer(pointer, name),
                    "missing-field",
                    format!("the choice has no `{name}` (or `{name}.$`)"),
                );
                return None;
            }
            (None, None) => return Some(None),
        };
        match compiled {
            Ok(expr) => Some(Some(expr)),
            Err((key, error)) => {
                self.error(
                    push_pointer(pointer, key),
                    "invalid-jsonpath",
                    error.to_string(),
                );
                None
            }
        }
    }

    fn variables(
        &mut self,
        attributes: &Map<String, Value>,
        pointer: &str,
    ) -> Option<Vec<Variable>> {
        let list_pointer = push_pointer(pointer, "variables");
        let Some(list) = attributes.get("variables").and_then(Value::as_array) else {
            self.error(
                list_pointer,
                "missing-field",
                "a variable step needs `variables`, a list of `{name, variableA, transforms}`",
            );
            return None;
        };
        let mut variables = Vec::with_capacity(list.len());
        let mut ok = true;
        for (i, entry) in list.iter().enumerate() {
            let entry_pointer = push_pointer(&list_pointer, i);
            let Some(entry) = entry.as_object() else {
                self.error(
                    entry_pointer,
                    "wrong-type",
                    "a variable is an object with `name`, `variableA` and `transforms`",
                );
                ok = false;
                continue;
            };
            let name = match entry.get("name").and_then(Value::as_str) {
                Some(name) if !output_key(name).is_empty() => Some(name),
                _ => {
                    self.error(
                        push_pointer(&entry_pointer, "name"),
                        "missing-field",
                        "the variable needs a `name` with at least one letter or digit",
                    );
                    None
                }
            };
            let value = self.operand(entry, &entry_pointer, "variableA", true);
            let transforms = self.transforms(
                entry.get("transforms"),
                &push_pointer(&entry_pointer, "transforms"),
            );
            match (name, value, transforms) {
                (Some(name), Some(Some(value)), Some(transforms)) => variables.push(Variable {
                    name: name.to_owned(),
                    key: output_key(name),
                    value,
                    transforms,
                }),
                _ => ok = false,
            }
        }
        ok.then_some(variables)
    }

    fn transforms(&mut self, value: Option<&Value>, pointer: &str) -> Option<Vec<Transform>> {
        let list = match value {
            None | Some(Value::Null) => return Some(Vec::new()),
            Some(Value::Array(list)) => list,
            Some(_) => {
                self.error(
                    pointer,
                    "wrong-type",
                    "`transforms` must be a list of operations",
                );
                return None;
            }
        };
        if list.len() > transform::MAX_OPERATIONS {
            self.error(
                pointer,
                "too-many-operations",
                format!(
                    "{} operations on one variable; the limit is {}",
                    list.len(),
                    transform::MAX_OPERATIONS
                ),
            );
            return None;
        }
        let mut out = Vec::with_capacity(list.len());
        let mut ok = true;
        for (i, op) in list.iter().enumerate() {
            let op_pointer = push_pointer(pointer, i);
            let id = op.get("id").and_then(Value::as_str).unwrap_or_default();
            let Some(kind) = Op::from_id(id) else {
                let known: Vec<&str> = transform::CATALOGUE.iter().map(|(_, id)| *id).collect();
                self.error(
                    push_pointer(&op_pointer, "id"),
                    "unknown-transform",
                    format!(
                        "unknown operation `{id}` (expected one of {})",
                        known.join(", ")
                    ),
                );
                ok = false;
                continue;
            };
            let empty = Map::new();
            let input = op.get("input").and_then(Value::as_object).unwrap_or(&empty);
            let input_pointer = push_pointer(&op_pointer, "input");
            for &(name, numeric) in kind.required_inputs() {
                let given = input.get(name);
                if input.contains_key(&format!("{name}.$")) {
                    continue;
                }
                match given {
                    None => {
                        self.error(
                            push_pointer(&input_pointer, name),
                            "missing-attribute",
                            format!("`{id}` needs `input.{name}`"),
                        );
                        ok = false;
                    }
                    Some(v) if numeric && crate::compare::number(v).is_none() => {
                        self.error(
                            push_pointer(&input_pointer, name),
                            "wrong-type",
                            format!("`input.{name}` of `{id}` must be a number"),
                        );
                        ok = false;
                    }
                    Some(_) => {}
                }
            }
            match Transform::compile(kind, input) {
                Ok(t) => out.push(t),
                Err((key, error)) => {
                    self.error(
                        push_pointer(&input_pointer, key),
                        "invalid-jsonpath",
                        error.to_string(),
                    );
                    ok = false;
                }
            }
        }
        ok.then_some(out)
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
