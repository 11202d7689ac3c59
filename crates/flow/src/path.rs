//! Data references: RFC 9535 JSONPath (via `serde_json_path`) plus the functions ISC workflows add.
//!
//! ISC extends JSONPath with `$.now()` and with trailing functions written after a path:
//! `$.body.length()`, `.size()`, `.count()`, `.JSON()` (parse a string as JSON) and `.RFC3339()`
//! (render a timestamp as RFC 3339). The same functions are accepted in call form, `length($.x)`.
//! Paths that select at most one node (no wildcard, descendant, filter, slice or union) yield that
//! node or `null`; other paths yield the array of every node they select, as Jayway does.

use std::fmt;

use chrono::SecondsFormat;
use serde_json::Value;
use serde_json_path::JsonPath;
use tessera_model::Timestamp;

/// A compiled data reference.
#[derive(Debug, Clone)]
pub struct PathExpr {
    source: String,
    base: Base,
    functions: Vec<Function>,
}

#[derive(Debug, Clone)]
enum Base {
    /// `$.a.b[0]['c']`: member names and indices only, walked without allocating.
    Simple(Vec<Segment>),
    Query {
        path: Box<JsonPath>,
        singular: bool,
    },
    Now,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Name(String),
    Index(i64),
}

/// A function ISC allows after a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Function {
    Length,
    Count,
    Json,
    Rfc3339,
}

impl Function {
    fn named(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "length" | "size" => Some(Self::Length),
            "count" => Some(Self::Count),
            "json" => Some(Self::Json),
            "rfc3339" => Some(Self::Rfc3339),
            _ => None,
        }
    }
}

/// Why a path did not compile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{source_text}` is not a valid JSONPath: {reason}")]
pub struct PathError {
    source_text: String,
    reason: String,
}

impl PathError {
    fn new(source: &str, reason: impl Into<String>) -> Self {
        Self { source_text: source.to_owned(), reason: reason.into() }
    }
}

impl PathExpr {
    /// Compiles `source`, which must start with `$` (or be one of the call forms).
    pub fn parse(source: &str) -> Result<Self, PathError> {
        let text = source.trim();
        if let Some((function, inner)) = call_form(text) {
            let mut expr = Self::parse(inner)?;
            expr.functions.push(function);
            expr.source = source.to_owned();
            return Ok(expr);
        }
        if !text.starts_with('$') {
            return Err(PathError::new(source, "a path starts with `$`"));
        }
        let (base_text, functions) = split_functions(text);
        let base = if base_text.eq_ignore_ascii_case("$.now") || base_text == "$now" {
            Base::Now
        } else if base_text.ends_with("now") && functions.is_empty() && text.ends_with("()") {
            return Err(PathError::new(source, "`now()` is only allowed as `$.now()`"));
        } else {
            // Compiled by `serde_json_path` in every case, so both forms accept the same paths.
            let path = JsonPath::parse(base_text).map_err(|e| PathError::new(source, e.to_string()))?;
            match simple_segments(base_text) {
                Some(segments) => Base::Simple(segments),
                None => Base::Query { path: Box::new(path), singular: is_singular(base_text) },
            }
        };
        Ok(Self { source: source.to_owned(), base, functions })
    }

    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Appends the value as text (see [`crate::expr::display`]) without copying it first when the
    /// path is a plain walk.
    pub fn render_into(&self, out: &mut String, doc: &Value, now: Timestamp) {
        match (&self.base, self.functions.is_empty()) {
            (Base::Simple(segments), true) => match walk(doc, segments) {
                Some(Value::String(text)) => out.push_str(text),
                None | Some(Value::Null) => {}
                Some(other) => out.push_str(&other.to_string()),
            },
            _ => out.push_str(&crate::expr::display(&self.eval(doc, now))),
        }
    }

    /// Evaluates the path against `doc`; `now` is the instant `$.now()` reads.
    pub fn eval(&self, doc: &Value, now: Timestamp) -> Value {
        let mut value = match &self.base {
            Base::Now => Value::String(now.to_string()),
            Base::Simple(segments) => walk(doc, segments).cloned().unwrap_or(Value::Null),
            Base::Query { path, singular: true } => path.query(doc).first().cloned().unwrap_or(Value::Null),
            Base::Query { path, singular: false } => {
                let nodes = path.query(doc);
                if self.functions.first() == Some(&Function::Count) {
                    Value::from(nodes.len())
                } else {
                    Value::Array(nodes.into_iter().cloned().collect())
                }
            }
        };
        for (i, function) in self.functions.iter().enumerate() {
            let counted_already = i == 0 && matches!(self.base, Base::Query { singular: false, .. });
            value = match function {
                Function::Count if counted_already => value,
                Function::Length | Function::Count => Value::from(length(&value)),
                Function::Json => match &value {
                    Value::String(text) => serde_json::from_str(text).unwrap_or(Value::Null),
                    other => other.clone(),
                },
                Function::Rfc3339 => rfc3339(&value),
            };
        }
        value
    }
}

impl fmt::Display for PathExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// Follows member names and indices (negative from the end) from `doc`.
fn walk<'v>(doc: &'v Value, segments: &[Segment]) -> Option<&'v Value> {
    segments.iter().try_fold(doc, |value, segment| match (segment, value) {
        (Segment::Name(name), Value::Object(members)) => members.get(name),
        (Segment::Index(i), Value::Array(items)) => {
            let index = if *i < 0 { items.len().checked_sub(i.unsigned_abs() as usize)? } else { *i as usize };
            items.get(index)
        }
        _ => None,
    })
}

/// The segments of a path made only of `.name`, `['name']` and `[index]`; `None` for anything else.
fn simple_segments(path: &str) -> Option<Vec<Segment>> {
    let mut rest = path.strip_prefix('$')?;
    let mut segments = Vec::new();
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            let end = after.find(['.', '[']).unwrap_or(after.len());
            let name = &after[..end];
            if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || c == '_') {
                return None;
            }
            segments.push(Segment::Name(name.to_owned()));
            rest = &after[end..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let end = after.find(']')?;
            let inner = after[..end].trim();
            let quoted = inner.strip_prefix('\'').and_then(|s| s.strip_suffix('\''));
            let quoted = quoted.or_else(|| inner.strip_prefix('"').and_then(|s| s.strip_suffix('"')));
            match quoted {
                Some(name) if !name.contains(['\\', '\'', '"']) => segments.push(Segment::Name(name.to_owned())),
                Some(_) => return None,
                None => segments.push(Segment::Index(inner.parse().ok()?)),
            }
            rest = &after[end + 1..];
        } else {
            return None;
        }
    }
    Some(segments)
}

/// `length($.x)` and friends.
fn call_form(text: &str) -> Option<(Function, &str)> {
    let open = text.find('(')?;
    let function = Function::named(&text[..open])?;
    let inner = text[open + 1..].strip_suffix(')')?;
    Some((function, inner.trim()))
}

/// Splits `$.a.b.length().JSON()` into `$.a.b` and its trailing functions.
fn split_functions(text: &str) -> (&str, Vec<Function>) {
    let mut rest = text;
    let mut functions = Vec::new();
    while let Some(head) = rest.strip_suffix("()") {
        let Some(dot) = head.rfind('.') else { break };
        let name = &head[dot + 1..];
        if name.eq_ignore_ascii_case("now") {
            // `$.now()` is a base, not a trailing function.
            rest = head;
            break;
        }
        let Some(function) = Function::named(name) else {
            break;
        };
        functions.push(function);
        rest = &head[..dot];
    }
    functions.reverse();
    (rest, functions)
}

/// Whether a path selects at most one node: no wildcard, descendant, filter, slice or union
/// outside of quoted names.
fn is_singular(path: &str) -> bool {
    let mut quote: Option<char> = None;
    let mut previous = '\0';
    let mut depth = 0usize;
    for ch in path.chars() {
        match quote {
            Some(q) if ch == q && previous != '\\' => quote = None,
            Some(_) => {}
            None => match ch {
                '\'' | '"' => quote = Some(ch),
                '[' => depth += 1,
                ']' => depth = depth.saturating_sub(1),
                '*' | '?' => return false,
                '.' if previous == '.' => return false,
                ':' | ',' if depth > 0 => return false,
                _ => {}
            },
        }
        previous = ch;
    }
    true
}

/// ISC's `length()`: characters of a string, items of an array, members of an object, zero for null.
pub(crate) fn length(value: &Value) -> usize {
    match value {
        Value::String(text) => text.chars().count(),
        Value::Array(items) => items.len(),
        Value::Object(members) => members.len(),
        Value::Null => 0,
        Value::Bool(_) | Value::Number(_) => value.to_string().len(),
    }
}

fn rfc3339(value: &Value) -> Value {
    match crate::compare::timestamp(value) {
        Some(instant) => Value::String(instant.to_rfc3339_opts(SecondsFormat::Secs, true)),
        None => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn eval(path: &str, doc: &Value) -> Value {
        let now = chrono::DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z").unwrap().to_utc().into();
        PathExpr::parse(path).unwrap().eval(doc, now)
    }

    #[test]
    fn singular_and_plural_paths() {
        let doc = json!({"a": {"b": [1, 2, 3]}, "people": [{"n": "x", "age": 3}, {"n": "y", "age": 9}]});
        let cases = [
            ("$.a.b[1]", json!(2)),
            ("$.a.missing", Value::Null),
            ("$.a.b[*]", json!([1, 2, 3])),
            ("$.people[?(@.age > 5)].n", json!(["y"])),
            ("$.people[?@.n == 'x'].age", json!([3])),
            ("$.a.b.length()", json!(3)),
            ("$.people[*].count()", json!(2)),
            ("length($.a.b)", json!(3)),
            ("$.now()", json!("2026-01-02T03:04:05.000Z")),
            ("$['a']['b'][0]", json!(1)),
        ];
        for (path, expected) in cases {
            assert_eq!(eval(path, &doc), expected, "{path}");
        }
    }

    #[test]
    fn json_and_rfc3339_functions() {
        let doc = json!({"s": "{\"k\": [1]}", "t": "2024-05-01T10:00:00.123+02:00"});
        assert_eq!(eval("$.s.JSON()", &doc), json!({"k": [1]}));
        assert_eq!(eval("$.t.RFC3339()", &doc), json!("2024-05-01T08:00:00Z"));
    }

    #[test]
    fn simple_paths_take_the_fast_walk_and_agree_with_the_full_engine() {
        let doc = json!({"a": {"b c": [10, 20, {"d": true}]}, "x": [1, 2, 3]});
        for path in ["$.a['b c'][2].d", "$.x[-1]", "$.x[5]", "$[\"a\"]", "$.a.missing.deeper", "$"] {
            let fast = PathExpr::parse(path).unwrap();
            assert!(matches!(fast.base, Base::Simple(_)), "{path} should be simple");
            let full = JsonPath::parse(path).unwrap().query(&doc).first().cloned().unwrap_or(Value::Null);
            assert_eq!(fast.eval(&doc, Timestamp::UNIX_EPOCH), full, "{path}");
        }
        for path in ["$.x[*]", "$..d", "$.x[0:2]", "$.x[0,1]", "$.a[?@.d]"] {
            assert!(!matches!(PathExpr::parse(path).unwrap().base, Base::Simple(_)), "{path} is not simple");
        }
    }

    #[test]
    fn malformed_paths_are_refused() {
        for path in ["a.b", "$.a[", "$..", "$.a[?(@.b ==)]", ""] {
            assert!(PathExpr::parse(path).is_err(), "{path} should not compile");
        }
    }
}
