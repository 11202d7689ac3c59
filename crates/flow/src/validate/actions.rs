//! Checking action steps against the catalogue: the action id, each attribute's type, waits,
//! and loops with their bodies.

use serde_json::{Map, Value};

use super::{Checker, push_pointer};
use crate::catalog::{self, Behaviour};
use crate::expr::{Expr, Inputs};
use crate::program::{RetryPolicy, StepKind};

impl Checker<'_> {
    pub(super) fn action(
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
        // Follow `nextStep` first, so a broken action does not also make its successors unreachable.
        let next_index = next(self, "nextStep");
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
            self.error(
                id_pointer,
                "unknown-action",
                format!("unknown action `{id}`: Tessera cannot perform it (see /v3/workflow-library/actions)"),
            );
            return None;
        };
        if action.behaviour == Behaviour::Loop {
            return self.loop_step(attributes, &attributes_pointer, next_index?, catch);
        }
        if matches!(
            action.behaviour,
            Behaviour::DefineVariable | Behaviour::UpdateVariable | Behaviour::Choice | Behaviour::End
        ) {
            self.error(
                id_pointer,
                "wrong-step-type",
                format!("`{}` is an operator, not an action: use its own step type", action.id),
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
                    self.error(push_pointer(&attributes_pointer, key), "invalid-jsonpath", error.to_string());
                }
                None
            }
        };
        if !ok {
            return None;
        }
        let retry = self.retry(step.get("retry"), &push_pointer(pointer, "retry"))?;
        Some(StepKind::Action { action, inputs: inputs?, next: next_index?, catch: catch?, retry })
    }

    /// `catch: [{"next": "Step"}]`; `Some(None)` when there is none, `None` when it is broken.
    pub(super) fn check_attributes(
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
                    format!("`{}` does not take `{name}`; it is kept but not used", action.id),
                );
                continue;
            }
            if is_path {
                match value {
                    Value::String(text) if text.trim().is_empty() => {
                        self.warn(key_pointer, "empty-path", format!("`{key}` is empty, so `{name}` is unset"));
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
            if attr.required && value.as_str().is_some_and(|s| s.trim().is_empty()) {
                self.warn(
                    key_pointer.clone(),
                    "empty-attribute",
                    format!("`{name}` of `{}` is empty; the action will fail when it runs", action.id),
                );
            }
            if !attr.kind.accepts(value) {
                self.error(
                    key_pointer,
                    "wrong-type",
                    format!("`{name}` of `{}` must be {}", action.id, attr.kind.describe()),
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
                    format!("`{}` needs `{}` ({})", action.id, attr.name, attr.kind.describe()),
                );
                ok = false;
            }
        }
        ok
    }

    /// Warns about `{{…}}` placeholders whose path is malformed: they are left as written.
    pub(super) fn check_templates(&mut self, value: &Value, pointer: &str) {
        match value {
            Value::String(text) if text.contains("{{") => {
                if let Err(error) = crate::expr::Template::check(text) {
                    self.warn(pointer, "invalid-template", format!("{error}; the placeholder is left as written"));
                }
            }
            Value::Object(members) => {
                members.iter().for_each(|(k, v)| self.check_templates(v, &push_pointer(pointer, k)))
            }
            Value::Array(items) => {
                items.iter().enumerate().for_each(|(i, v)| self.check_templates(v, &push_pointer(pointer, i)))
            }
            _ => {}
        }
    }

    pub(super) fn check_sleep(&mut self, attributes: &Map<String, Value>, pointer: &str) -> bool {
        let has = |name: &str| attributes.contains_key(name) || attributes.contains_key(&format!("{name}.$"));
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

    pub(super) fn loop_step(
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
                    self.error(push_pointer(pointer, "input.$"), "invalid-jsonpath", error.to_string());
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
                self.error(push_pointer(pointer, "context.$"), "invalid-jsonpath", error.to_string());
                None
            }
        };
        let parallelism = match attributes.get("parallelism") {
            None => None,
            Some(Value::Number(n)) if n.as_u64().is_some_and(|n| n >= 1) => n.as_u64().map(|n| n as usize),
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
        Some(StepKind::Loop { input: input?, context, parallelism, body: Box::new(body?), next, catch: catch? })
    }

    /// A step's `retry` policy; `Some(None)` when there is none, `None` when it is malformed.
    pub(super) fn retry(&mut self, value: Option<&Value>, pointer: &str) -> Option<Option<RetryPolicy>> {
        let Some(value) = value.filter(|v| !v.is_null()) else { return Some(None) };
        let Some(object) = value.as_object() else {
            self.error(
                pointer,
                "wrong-type",
                "`retry` is an object such as {\"maxAttempts\": 3, \"interval\": \"5s\", \"backoffRate\": 2}",
            );
            return None;
        };
        let duration = |this: &mut Self, name: &str, default: u64| -> Option<u64> {
            match object.get(name) {
                None => Some(default),
                Some(Value::String(text)) => match text.parse::<tessera_model::Duration>() {
                    Ok(duration) => Some(duration.as_secs()),
                    Err(error) => {
                        this.error(push_pointer(pointer, name), "wrong-type", error.to_string());
                        None
                    }
                },
                Some(_) => {
                    this.error(
                        push_pointer(pointer, name),
                        "wrong-type",
                        format!("`{name}` must be a duration such as 5s or 2m"),
                    );
                    None
                }
            }
        };
        let max_attempts = match object.get("maxAttempts") {
            None => Some(3),
            Some(n) => match n.as_u64().filter(|n| (1..=100).contains(n)) {
                Some(n) => Some(n as u32),
                None => {
                    self.error(
                        push_pointer(pointer, "maxAttempts"),
                        "wrong-type",
                        "`maxAttempts` must be a whole number from 1 to 100",
                    );
                    None
                }
            },
        };
        let backoff_rate = match object.get("backoffRate") {
            None => Some(2.0),
            Some(n) => match n.as_f64().filter(|n| (1.0..=10.0).contains(n)) {
                Some(n) => Some(n),
                None => {
                    self.error(
                        push_pointer(pointer, "backoffRate"),
                        "wrong-type",
                        "`backoffRate` must be a number from 1 to 10",
                    );
                    None
                }
            },
        };
        let interval = duration(self, "interval", 1);
        let max_interval = duration(self, "maxInterval", 300);
        Some(Some(RetryPolicy {
            max_attempts: max_attempts?,
            interval: std::time::Duration::from_secs(interval?),
            backoff_rate: backoff_rate?,
            max_interval: std::time::Duration::from_secs(max_interval?),
        }))
    }
}
