//! Checking the steps of a body: their type, links to other steps, choices, and variables with
//! their operations.

use serde_json::{Map, Value};

use super::{Checker, Names, near_miss, push_pointer, suggest};
use crate::catalog::{self, Behaviour};
use crate::compare::Comparator;
use crate::expr::Expr;
use crate::name::output_key;
use crate::program::{Choice, StepKind, Variable};
use crate::transform::{self, Op, Transform};

impl Checker<'_> {
    /// Checks one step; pushes its resolved successors to `edges`.
    pub(super) fn step(
        &mut self,
        value: &Value,
        pointer: &str,
        names: &Names<'_>,
        edges: &mut Vec<usize>,
    ) -> Option<StepKind> {
        let Some(step) = value.as_object() else {
            self.error(pointer, "wrong-type", "a step must be an object with a `type`");
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
            "failure" => {
                Some(StepKind::Failure { name: step.get("failureName").and_then(Value::as_str).map(str::to_owned) })
            }
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
                    let field_pointer =
                        push_pointer(&push_pointer(&push_pointer(pointer, "choiceList"), i), "nextStep");
                    match step["choiceList"][i].get("nextStep") {
                        Some(target) => this.link(target, &field_pointer, "nextStep", names, &mut choice_edges),
                        None => {
                            this.error(field_pointer, "missing-field", "each choice needs a `nextStep`");
                            None
                        }
                    }
                });
                edges.extend(choice_edges);
                Some(StepKind::Choice { choices: choices?, default })
            }
            "mutation" => {
                let attributes = self.attributes(step, pointer)?;
                // Follow `nextStep` first, so a broken step does not also make its successors unreachable.
                let next = next(self, "nextStep");
                let (id, id_pointer) = match (
                    attributes.get("id").and_then(Value::as_str),
                    step.get("actionId").and_then(Value::as_str),
                ) {
                    (Some(id), _) => (id, push_pointer(&push_pointer(pointer, "attributes"), "id")),
                    (None, Some(id)) => (id, push_pointer(pointer, "actionId")),
                    (None, None) => ("sp:define-variable", String::new()),
                };
                let update = match catalog::action(id).map(|a| a.behaviour) {
                    Some(Behaviour::DefineVariable) => false,
                    Some(Behaviour::UpdateVariable) => true,
                    _ => {
                        self.error(
                            id_pointer,
                            "unknown-action",
                            format!("a Mutation step is `sp:define-variable` or `sp:update-variable`, not `{id}`"),
                        );
                        return None;
                    }
                };
                let variables = self.variables(attributes, &push_pointer(pointer, "attributes"));
                Some(StepKind::Variables { update, variables: variables?, next: next? })
            }
            "action" => {
                let mut catch_edges = Vec::new();
                let catch = self.catch(step, pointer, names, &mut catch_edges);
                let kind = self.action(step, pointer, &mut next, catch);
                edges.extend(catch_edges);
                kind
            }
            other => {
                // Follow the step's links anyway so its successors are not reported unreachable.
                for field in ["nextStep", "defaultStep"] {
                    if let Some(target) = step.get(field).and_then(Value::as_str) {
                        edges.extend(names.get(target).copied());
                    }
                }
                self.error(
                    type_pointer,
                    "unknown-step-type",
                    format!("unknown step type `{other}` (expected action, choice, Mutation, success or failure)"),
                );
                None
            }
        }
    }

    pub(super) fn attributes<'v>(
        &mut self,
        step: &'v Map<String, Value>,
        pointer: &str,
    ) -> Option<&'v Map<String, Value>> {
        match step.get("attributes") {
            Some(Value::Object(attributes)) => Some(attributes),
            Some(_) => {
                self.error(push_pointer(pointer, "attributes"), "wrong-type", "`attributes` must be an object");
                None
            }
            None => {
                self.error(push_pointer(pointer, "attributes"), "missing-field", "the step has no `attributes`");
                None
            }
        }
    }

    pub(super) fn catch(
        &mut self,
        step: &Map<String, Value>,
        pointer: &str,
        names: &Names<'_>,
        edges: &mut Vec<usize>,
    ) -> Option<Option<usize>> {
        let catch_pointer = push_pointer(pointer, "catch");
        let (target, target_pointer) = match step.get("catch") {
            None | Some(Value::Null) => return Some(None),
            Some(Value::Array(handlers)) if handlers.len() == 1 && handlers[0].get("next").is_some() => {
                (&handlers[0]["next"], push_pointer(&push_pointer(&catch_pointer, 0), "next"))
            }
            Some(Value::Object(handler)) if handler.get("next").is_some() => {
                (&handler["next"], push_pointer(&catch_pointer, "next"))
            }
            Some(_) => {
                self.error(catch_pointer, "wrong-type", "`catch` is `[{\"next\": \"Step Name\"}]`: one handler naming the step to run when the action fails");
                return None;
            }
        };
        self.link(target, &target_pointer, "catch.next", names, edges).map(Some)
    }

    /// Resolves a reference to another step, recording the edge.
    pub(super) fn link(
        &mut self,
        target: &Value,
        pointer: &str,
        field: &str,
        names: &Names<'_>,
        edges: &mut Vec<usize>,
    ) -> Option<usize> {
        let Value::String(target) = target else {
            self.error(pointer, "wrong-type", format!("`{field}` must be the name of a step"));
            return None;
        };
        match names.get(target.as_str()) {
            Some(&index) => {
                edges.push(index);
                Some(index)
            }
            None => {
                // Follow the likely intended step, so its successors are not also reported.
                match near_miss(target, names) {
                    Some(meant) => edges.extend(names.get(meant).copied()),
                    None => self.unresolved_links += 1,
                }
                self.error(
                    pointer,
                    "unknown-step",
                    format!("`{field}` names `{target}`, which is not a step{}", suggest(target, names)),
                );
                None
            }
        }
    }

    pub(super) fn choices(
        &mut self,
        step: &Map<String, Value>,
        pointer: &str,
        target: &mut dyn FnMut(&mut Self, usize) -> Option<usize>,
    ) -> Option<Vec<Choice>> {
        let list_pointer = push_pointer(pointer, "choiceList");
        let Some(list) = step.get("choiceList").and_then(Value::as_array).filter(|l| !l.is_empty()) else {
            self.error(list_pointer, "missing-field", "a choice needs a non-empty `choiceList`");
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
                                crate::compare::ALL.iter().map(|c| c.name()).collect::<Vec<_>>().join(", ")
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
            let b =
                self.operand(entry, &entry_pointer, "variableB", comparator.is_some_and(Comparator::needs_operand_b));
            let next = target(self, i);
            match (comparator, a, b, next) {
                (Some(comparator), Some(Some(a)), Some(b), Some(next)) => {
                    let pattern = match (comparator, &b) {
                        (Comparator::StringMatches, Some(Expr::Literal(Value::String(pattern)))) => {
                            match regex::Regex::new(pattern) {
                                Ok(regex) => Some(regex),
                                Err(error) => {
                                    let pointer = push_pointer(&entry_pointer, "variableB");
                                    self.error(
                                        pointer,
                                        "invalid-regex",
                                        format!("`{pattern}` is not a valid regular expression: {error}"),
                                    );
                                    ok = false;
                                    None
                                }
                            }
                        }
                        _ => None,
                    };
                    choices.push(Choice { comparator, a, b, pattern, next })
                }
                _ => ok = false,
            }
        }
        ok.then_some(choices)
    }

    /// `variableA` / `variableA.$`; `Some(None)` when absent and optional.
    pub(super) fn operand(
        &mut self,
        entry: &Map<String, Value>,
        pointer: &str,
        name: &str,
        required: bool,
    ) -> Option<Option<Expr>> {
        let path_key = format!("{name}.$");
        let compiled = match (entry.get(&path_key), entry.get(name)) {
            (Some(path), _) => Expr::compile_path(path).map_err(|e| (path_key, e)),
            (None, Some(literal)) => Expr::compile_literal(literal).map_err(|e| (name.to_owned(), e)),
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
                self.error(push_pointer(pointer, key), "invalid-jsonpath", error.to_string());
                None
            }
        }
    }

    pub(super) fn variables(&mut self, attributes: &Map<String, Value>, pointer: &str) -> Option<Vec<Variable>> {
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
            let transforms = self.transforms(entry.get("transforms"), &push_pointer(&entry_pointer, "transforms"));
            match (name, value, transforms) {
                (Some(name), Some(Some(value)), Some(transforms)) => {
                    variables.push(Variable { name: name.to_owned(), key: output_key(name), value, transforms })
                }
                _ => ok = false,
            }
        }
        ok.then_some(variables)
    }

    pub(super) fn transforms(&mut self, value: Option<&Value>, pointer: &str) -> Option<Vec<Transform>> {
        let list = match value {
            None | Some(Value::Null) => return Some(Vec::new()),
            Some(Value::Array(list)) => list,
            Some(_) => {
                self.error(pointer, "wrong-type", "`transforms` must be a list of operations");
                return None;
            }
        };
        if list.len() > transform::MAX_OPERATIONS {
            self.error(
                pointer,
                "too-many-operations",
                format!("{} operations on one variable; the limit is {}", list.len(), transform::MAX_OPERATIONS),
            );
            return None;
        }
        let mut out = Vec::with_capacity(list.len());
        let mut ok = true;
        for (i, op) in list.iter().enumerate() {
            let op_pointer = push_pointer(pointer, i);
            if !op.is_object() {
                self.error(op_pointer, "wrong-type", "an operation is an object with `id` and `input`");
                ok = false;
                continue;
            }
            let Some(id) = op.get("id").and_then(Value::as_str) else {
                self.error(
                    push_pointer(&op_pointer, "id"),
                    "missing-field",
                    "the operation has no `id`, such as `sp:transform:trim:string`",
                );
                ok = false;
                continue;
            };
            let Some(kind) = Op::from_id(id) else {
                let known: Vec<&str> = transform::CATALOGUE.iter().map(|(_, id)| *id).collect();
                self.error(
                    push_pointer(&op_pointer, "id"),
                    "unknown-transform",
                    format!("unknown operation `{id}` (expected one of {})", known.join(", ")),
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
                    self.error(push_pointer(&input_pointer, key), "invalid-jsonpath", error.to_string());
                    ok = false;
                }
            }
        }
        ok.then_some(out)
    }
}
