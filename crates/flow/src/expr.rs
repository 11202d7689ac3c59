//! Compiled attribute values: literals, `.$` paths, `{{$.path}}` templates inside strings, and the
//! `${name}` placeholders email bodies fill from a `context` map.

use serde_json::{Map, Value};
use tessera_model::Timestamp;

use crate::path::{PathError, PathExpr};

/// A value as written in a definition, compiled once at load.
#[derive(Debug, Clone)]
pub enum Expr {
    /// A value with nothing to evaluate.
    Literal(Value),
    /// A `.$` key's JSONPath.
    Path(PathExpr),
    /// A `.$` key whose path itself embeds `{{…}}`: the template is rendered, then compiled.
    DynamicPath(Template),
    /// A string with `{{$.path}}` placeholders.
    Template(Template),
    /// An object with something to evaluate inside.
    Object(ObjectExpr),
    /// An array with something to evaluate inside.
    Array(Vec<Expr>),
}

/// Why an expression could not be evaluated at run time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvalError {
    /// A path built from a template did not compile.
    #[error(transparent)]
    Path(#[from] PathError),
}

impl Expr {
    /// Compiles the value of key `key` (a `.$` key holds a path, any other a literal).
    pub fn compile(key: &str, value: &Value) -> Result<(String, Expr), PathError> {
        match key.strip_suffix(".$") {
            Some(name) => Ok((name.to_owned(), Self::compile_path(value)?)),
            None => Ok((key.to_owned(), Self::compile_literal(value)?)),
        }
    }

    /// Compiles a path value (the right-hand side of a `.$` key).
    pub fn compile_path(value: &Value) -> Result<Expr, PathError> {
        let Value::String(text) = value else {
            return PathExpr::parse(&value.to_string()).map(Expr::Path);
        };
        if text.trim().is_empty() {
            // ISC exports an unset path field as `""`: it reads as nothing.
            return Ok(Expr::Literal(Value::Null));
        }
        if text.contains("{{") {
            let template = Template::parse(text)?;
            // Check the shape with each placeholder replaced by a plain word, or (outside quotes) by a
            // quoted one, as values that are not plain names are at run time.
            if PathExpr::parse(&template.render_sample(true)).is_err() {
                PathExpr::parse(&template.render_sample(false))?;
            }
            Ok(Expr::DynamicPath(template))
        } else {
            PathExpr::parse(text).map(Expr::Path)
        }
    }

    /// Compiles a literal, finding templates and nested `.$` keys inside it.
    pub fn compile_literal(value: &Value) -> Result<Expr, PathError> {
        let expr = match value {
            // A malformed placeholder in plain text stays as written (the validator warns).
            Value::String(text) if text.contains("{{") => Expr::Template(Template::parse_lenient(text)),
            Value::Object(members) => {
                let object = ObjectExpr::compile(members, &[]).map_err(|(_, e)| e)?;
                if object.dynamic.is_empty() && object.shape.keys().eq(members.keys()) {
                    Expr::Literal(value.clone())
                } else {
                    Expr::Object(object)
                }
            }
            Value::Array(items) => {
                let compiled = items.iter().map(Self::compile_literal).collect::<Result<Vec<_>, _>>()?;
                if compiled.iter().all(|e| matches!(e, Expr::Literal(_))) {
                    Expr::Literal(value.clone())
                } else {
                    Expr::Array(compiled)
                }
            }
            other => Expr::Literal(other.clone()),
        };
        Ok(expr)
    }

    /// Evaluates against the data document.
    pub fn eval(&self, doc: &Value, now: Timestamp) -> Result<Value, EvalError> {
        Ok(match self {
            Expr::Literal(value) => value.clone(),
            Expr::Path(path) => path.eval(doc, now),
            Expr::DynamicPath(template) => PathExpr::parse(&template.render_path(doc, now))?.eval(doc, now),
            Expr::Template(template) => Value::String(template.render(doc, now)),
            Expr::Object(object) => Value::Object(object.eval(doc, now)?),
            Expr::Array(items) => Value::Array(items.iter().map(|item| item.eval(doc, now)).collect::<Result<_, _>>()?),
        })
    }

    /// Every path this expression reads, for the validator and for tooling.
    pub fn paths(&self) -> Vec<&str> {
        let mut out = Vec::new();
        self.collect_paths(&mut out);
        out
    }

    fn collect_paths<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            Expr::Literal(_) => {}
            Expr::Path(path) => out.push(path.as_str()),
            Expr::DynamicPath(t) | Expr::Template(t) => out.extend(t.paths()),
            Expr::Object(object) => object.dynamic.iter().for_each(|(_, e)| e.collect_paths(out)),
            Expr::Array(items) => items.iter().for_each(|e| e.collect_paths(out)),
        }
    }
}

/// An object whose members are partly evaluated: the literal members are kept in place in `shape`,
/// and evaluation copies the shape and fills in the dynamic members by position (no rehashing).
#[derive(Debug, Clone, Default)]
pub struct ObjectExpr {
    shape: Map<String, Value>,
    /// Positions in `shape` (ascending) and what fills them.
    dynamic: Vec<(usize, Expr)>,
}

impl ObjectExpr {
    /// Compiles every member except those in `skip`; a `.$` key fills the member named without it.
    pub fn compile(members: &Map<String, Value>, skip: &[&str]) -> Result<Self, (String, PathError)> {
        let mut shape = Map::with_capacity(members.len());
        let mut dynamic: Vec<(String, Expr)> = Vec::new();
        for (key, value) in members.iter().filter(|(k, _)| !skip.contains(&k.as_str())) {
            let (name, expr) = Expr::compile(key, value).map_err(|e| (key.clone(), e))?;
            // As with inserting in order, a later member of the same name wins.
            dynamic.retain(|(k, _)| *k != name);
            match expr {
                Expr::Literal(literal) => {
                    shape.insert(name, literal);
                }
                expr => {
                    shape.insert(name.clone(), Value::Null);
                    dynamic.push((name, expr));
                }
            }
        }
        let mut dynamic: Vec<(usize, Expr)> = dynamic
            .into_iter()
            .filter_map(|(name, expr)| shape.keys().position(|k| *k == name).map(|i| (i, expr)))
            .collect();
        dynamic.sort_by_key(|(i, _)| *i);
        Ok(Self { shape, dynamic })
    }

    /// The expression of the member named `name`, if it is evaluated.
    pub fn get(&self, name: &str) -> Option<&Expr> {
        let position = self.shape.keys().position(|k| k == name)?;
        self.dynamic.iter().find(|(i, _)| *i == position).map(|(_, e)| e)
    }

    /// Evaluates into an object with the members in their written order.
    pub fn eval(&self, doc: &Value, now: Timestamp) -> Result<Map<String, Value>, EvalError> {
        let mut object = self.shape.clone();
        let mut fills = self.dynamic.iter().peekable();
        for (i, slot) in object.values_mut().enumerate() {
            match fills.peek() {
                Some((position, expr)) if *position == i => {
                    *slot = expr.eval(doc, now)?;
                    fills.next();
                }
                Some(_) => {}
                None => break,
            }
        }
        Ok(object)
    }
}

/// A compiled attribute map: each key (without its `.$`) and its expression.
pub type Inputs = ObjectExpr;

/// A string with `{{$.path}}` placeholders.
#[derive(Debug, Clone)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone)]
enum Part {
    Text(String),
    Path(PathExpr),
}

impl Template {
    /// Splits `text` into literal text and placeholders; `{{` without a closing `}}` is text.
    pub fn parse(text: &str) -> Result<Self, PathError> {
        Self::parse_with(text, true)
    }

    /// Like [`Template::parse`], but a placeholder whose path is malformed stays as text.
    pub fn parse_lenient(text: &str) -> Self {
        Self::parse_with(text, false).unwrap_or_else(|_| Self { parts: vec![Part::Text(text.to_owned())] })
    }

    /// The first malformed placeholder path in `text`, if any.
    pub fn check(text: &str) -> Result<(), PathError> {
        Self::parse(text).map(|_| ())
    }

    fn parse_with(text: &str, strict: bool) -> Result<Self, PathError> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find("{{") {
            let Some(close) = rest[open + 2..].find("}}") else {
                break;
            };
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_owned()));
            }
            let inner = rest[open + 2..open + 2 + close].trim();
            // `{{secret:<name>}}` names a stored secret: the engine puts it in where it is sent.
            if crate::secrets::is_secret_reference(inner) {
                parts.push(Part::Text(rest[open..open + 2 + close + 2].to_owned()));
                rest = &rest[open + 2 + close + 2..];
                continue;
            }
            match PathExpr::parse(inner) {
                Ok(path) => parts.push(Part::Path(path)),
                Err(error) if strict => return Err(error),
                Err(_) => parts.push(Part::Text(rest[open..open + 2 + close + 2].to_owned())),
            }
            rest = &rest[open + 2 + close + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        Ok(Self { parts })
    }

    /// Fills every placeholder from `doc`: strings as they are, `null` as nothing, others as JSON.
    pub fn render(&self, doc: &Value, now: Timestamp) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Path(path) => path.render_into(&mut out, doc, now),
            }
        }
        out
    }

    /// Fills every placeholder of a template that is itself a JSONPath, so that a value can only ever be
    /// a value, never more path: inside a quoted string it is escaped for that string; after a `.` a
    /// plain name (`a-z`, digits, `_`, `-`) is a member name; elsewhere a number stays a number and
    /// anything else becomes a quoted string literal. A value such as `x" || @.admin == "true` thus
    /// stays one string.
    pub fn render_path(&self, doc: &Value, now: Timestamp) -> String {
        let mut out = String::new();
        let mut quote = Quote::None;
        for part in &self.parts {
            match part {
                Part::Text(text) => {
                    out.push_str(text);
                    quote = quote.after(text);
                }
                Part::Path(path) => {
                    let value = path.eval(doc, now);
                    let text = display(&value);
                    // After a `.`, a placeholder is a member name; elsewhere (an index, an operand) a
                    // number stays a number and anything else is a string.
                    let member = out.ends_with('.');
                    match quote {
                        Quote::Double | Quote::Single => escape_into(&mut out, &text),
                        Quote::None if value.is_number() || (member && is_plain_name(&text)) => out.push_str(&text),
                        Quote::None => {
                            out.push('"');
                            escape_into(&mut out, &text);
                            out.push('"');
                        }
                    }
                }
            }
        }
        out
    }

    /// The template with each placeholder a sample value: `x`, quoted outside string literals unless
    /// `bare`.
    fn render_sample(&self, bare: bool) -> String {
        let mut out = String::new();
        let mut quote = Quote::None;
        for part in &self.parts {
            match part {
                Part::Text(text) => {
                    out.push_str(text);
                    quote = quote.after(text);
                }
                Part::Path(_) if bare || quote != Quote::None => out.push('x'),
                Part::Path(_) => out.push_str("\"x\""),
            }
        }
        out
    }

    fn paths(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Path(path) => Some(path.as_str()),
            Part::Text(_) => None,
        })
    }
}

/// Whether the text of a path so far ends inside a string literal, and which quote opened it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quote {
    None,
    Double,
    Single,
}

impl Quote {
    /// The state after `text` (RFC 9535 string literals: `\` escapes the next character).
    fn after(self, text: &str) -> Self {
        let mut state = self;
        let mut escaped = false;
        for c in text.chars() {
            if escaped {
                escaped = false;
                continue;
            }
            state = match (state, c) {
                (Self::Double | Self::Single, '\\') => {
                    escaped = true;
                    state
                }
                (Self::None, '"') => Self::Double,
                (Self::None, '\'') => Self::Single,
                (Self::Double, '"') | (Self::Single, '\'') => Self::None,
                (state, _) => state,
            };
        }
        state
    }
}

/// Text written inside a string literal: backslashes and both quotes escaped, control characters as
/// `\uXXXX` (RFC 9535 §2.3.1.1).
fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '\\' | '"' | '\'' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
}

/// A member name or index that needs no quotes.
fn is_plain_name(text: &str) -> bool {
    !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// How a JSON value's type reads in a message ("a string", "an array"…).
pub use tessera_model::json_kind as type_name;

/// A value as text inside a string: strings unquoted, `null` empty, everything else as JSON.
pub fn display(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Fills `${name}` placeholders in an email body or subject from `context`; unknown names stay as
/// written so the reader sees what was missing.
pub fn fill_context(text: &str, context: &Map<String, Value>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find("${") {
        out.push_str(&rest[..open]);
        let after = &rest[open + 2..];
        match after.find('}') {
            Some(close) => {
                let name = after[..close].trim();
                match context.get(name) {
                    Some(value) => out.push_str(&display(value)),
                    None => out.push_str(&rest[open..open + 2 + close + 1]),
                }
                rest = &after[close + 1..];
            }
            None => {
                out.push_str(&rest[open..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> Timestamp {
        chrono::DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z").unwrap().to_utc().into()
    }

    #[test]
    fn templates_fill_from_the_document() {
        let doc = json!({"trigger": {"name": "Ada", "n": 3, "nothing": null}});
        let t = Template::parse("Hi {{$.trigger.name}} ({{ $.trigger.n }}){{$.trigger.nothing}}!").unwrap();
        assert_eq!(t.render(&doc, now()), "Hi Ada (3)!");
        assert_eq!(Template::parse("no {{ end").unwrap().render(&doc, now()), "no {{ end");
    }

    #[test]
    fn dynamic_paths_render_then_evaluate() {
        let doc = json!({"want": "b", "items": [{"k": "a", "v": 1}, {"k": "b", "v": 2}]});
        let expr = Expr::compile_path(&json!("$.items[?(@.k == \"{{$.want}}\")].v")).unwrap();
        assert_eq!(expr.eval(&doc, now()).unwrap(), json!([2]));
    }

    #[test]
    fn nested_dollar_keys_in_objects() {
        let doc = json!({"trigger": {"id": "42"}});
        let (key, expr) = Expr::compile("jsonRequestBody", &json!({"user.$": "$.trigger.id", "fixed": 1})).unwrap();
        assert_eq!(key, "jsonRequestBody");
        assert_eq!(expr.eval(&doc, now()).unwrap(), json!({"user": "42", "fixed": 1}));
    }

    #[test]
    fn context_placeholders() {
        let context = json!({"displayName": "Ada", "n": 2}).as_object().unwrap().clone();
        assert_eq!(
            fill_context("Dear ${displayName}, ${n} items, ${missing}, ${", &context),
            "Dear Ada, 2 items, ${missing}, ${"
        );
    }
}
