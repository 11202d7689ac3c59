//! ISC transforms (`{"type": "lower", "attributes": {...}}`) compiled once and evaluated against an identity's accounts,
//! and the identity profile mappings that compute identity attributes with them.
//!
//! Supported types: `accountAttribute`, `identityAttribute`, `static`, `lower`, `upper`, `trim`, `concat`,
//! `firstValid`, `lookup`, `replace`, `replaceAll`, `substring`, `split`, `leftPad`, `rightPad`, `conditional`,
//! `dateFormat`, `indexOf`, `lastIndexOf` and `getEndOfString`. Anything else (`reference`, `rule`, `e164phone`,
//! `base64Encode`, ...) is refused when parsed, naming the type. Wherever a transform may stand, a plain string is a
//! constant. A transform that needs an `input` and has none reads the context's implicit input.
//!
//! Evaluation yields `None` where ISC yields null: a missing account or attribute, a lookup without a match or
//! default, a substring or split index out of range, a date that does not read. Strings are borrowed from the
//! accounts and the transform wherever no change is needed; regexes and date patterns are compiled in `parse`.

use std::borrow::Cow;
use std::collections::HashMap;

use regex::Regex;
use serde_json::{Map, Value};

use super::dates::DateFormat;
use super::template::Template;
use super::{Account, Error, expect_object, json_kind, optional_str, pointer, pointer_index, required_str};

/// A parsed transform definition, ready to evaluate.
#[derive(Debug, Clone)]
pub struct Transform(Node);

/// What a transform is evaluated against.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The identity's accounts, which `accountAttribute` reads.
    pub accounts: &'a [Account<'a>],
    /// The identity attributes known so far, which `identityAttribute` reads.
    pub identity: &'a Map<String, Value>,
    /// The value a transform without an `input` works on: in ISC, the account attribute the mapping reads.
    pub implicit_input: Option<&'a str>,
}

/// An identity profile's attribute mappings (`identityAttributeConfig`), in order.
#[derive(Debug, Clone)]
pub struct AttributeMappings {
    enabled: bool,
    mappings: Vec<(String, Transform)>,
}

#[derive(Debug, Clone)]
enum Node {
    Literal(String),
    Static {
        template: Template,
        vars: Vec<Node>,
    },
    AccountAttribute {
        source: SourceRef,
        attribute: String,
        first_link: bool,
    },
    IdentityAttribute(String),
    Lower(Input),
    Upper(Input),
    Trim(Input),
    Concat(Vec<Node>),
    FirstValid(Vec<Node>),
    Lookup {
        input: Input,
        table: HashMap<String, String>,
        default: Option<String>,
    },
    /// `replace` (one rule) and `replaceAll` (a table of them), applied in order; replacements in `regex` syntax.
    Replace {
        input: Input,
        rules: Vec<(Regex, String)>,
    },
    Substring {
        input: Input,
        begin: usize,
        end: Option<usize>,
    },
    Split {
        input: Input,
        delimiter: Delimiter,
        index: usize,
    },
    Pad {
        input: Input,
        left: bool,
        length: usize,
        padding: Vec<char>,
    },
    Conditional {
        vars: Vec<Node>,
        left: Template,
        right: Template,
        positive: Template,
        negative: Template,
    },
    DateFormat {
        input: Input,
        from: DateFormat,
        to: DateFormat,
    },
    IndexOf {
        input: Input,
        needle: String,
        last: bool,
    },
    EndOfString {
        input: Input,
        count: usize,
    },
}

/// A transform's `input`: a nested transform, or `None` for the implicit input.
type Input = Option<Box<Node>>;

#[derive(Debug, Clone)]
enum SourceRef {
    Name(String),
    Id(String),
}

#[derive(Debug, Clone)]
enum Delimiter {
    Char(char),
    Regex(Regex),
}

impl Transform {
    /// Compiles a transform definition; errors point into `definition`.
    pub fn parse(definition: &Value) -> Result<Self, Error> {
        parse_node(definition, "").map(Self)
    }

    /// The transform's value for `ctx`, or `None` where ISC yields null.
    pub fn evaluate(&self, ctx: &Context<'_>) -> Option<String> {
        self.0.eval(ctx).map(Cow::into_owned)
    }
}

impl AttributeMappings {
    /// Reads an `identityAttributeConfig` object; errors point into it, e.g.
    /// `/attributeTransforms/2/transformDefinition/attributes/input/type`.
    pub fn parse(identity_attribute_config: &Value) -> Result<Self, Error> {
        let config = expect_object(identity_attribute_config, "")?;
        let enabled = match config.get("enabled") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(enabled)) => *enabled,
            Some(other) => {
                return Err(Error::new("/enabled", format!("expected a boolean, found {}", json_kind(other))));
            }
        };
        let items = match config.get("attributeTransforms") {
            None | Some(Value::Null) => &[][..],
            Some(Value::Array(items)) => items.as_slice(),
            Some(other) => {
                let message = format!("expected an array, found {}", json_kind(other));
                return Err(Error::new("/attributeTransforms", message));
            }
        };
        let mut mappings: Vec<(String, Transform)> = Vec::with_capacity(items.len());
        for (index, item) in items.iter().enumerate() {
            let at = pointer_index("/attributeTransforms", index);
            let item = expect_object(item, &at)?;
            let name = required_str(item, "identityAttributeName", &at)?;
            if mappings.iter().any(|(earlier, _)| earlier == name) {
                return Err(Error::new(&pointer(&at, "identityAttributeName"), format!("`{name}` is mapped twice")));
            }
            let definition_at = pointer(&at, "transformDefinition");
            let definition =
                item.get("transformDefinition").ok_or_else(|| Error::new(&definition_at, "is required"))?;
            expect_object(definition, &definition_at)?;
            mappings.push((name.to_owned(), Transform(parse_node(definition, &definition_at)?)));
        }
        Ok(Self { enabled, mappings })
    }

    /// Whether the profile says to promote the computed values (`enabled`); `compute` does not look at it.
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// The mapped identity attribute names, in evaluation order.
    pub fn attribute_names(&self) -> impl Iterator<Item = &str> {
        self.mappings.iter().map(|(name, _)| name.as_str())
    }

    /// Computes every mapped identity attribute in order (later ones may use `identityAttribute` of earlier ones);
    /// attributes that evaluate to `None` are omitted.
    pub fn compute(&self, accounts: &[Account<'_>]) -> Map<String, Value> {
        let mut identity = Map::new();
        for (name, transform) in &self.mappings {
            let ctx = Context { accounts, identity: &identity, implicit_input: None };
            if let Some(value) = transform.evaluate(&ctx) {
                identity.insert(name.clone(), Value::String(value));
            }
        }
        identity
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Parsing

fn parse_node(value: &Value, at: &str) -> Result<Node, Error> {
    match value {
        Value::String(text) => Ok(Node::Literal(text.clone())),
        Value::Object(object) => parse_transform(object, at),
        other => Err(Error::new(at, format!("expected a transform or a string, found {}", json_kind(other)))),
    }
}

/// A transform's `attributes` and where they are.
struct Attrs<'v> {
    map: &'v Map<String, Value>,
    at: String,
}

fn parse_transform(object: &Map<String, Value>, at: &str) -> Result<Node, Error> {
    let kind = required_str(object, "type", at)?;
    let empty = Map::new();
    let attrs_at = pointer(at, "attributes");
    let map = match object.get("attributes") {
        None | Some(Value::Null) => &empty,
        Some(value) => expect_object(value, &attrs_at)?,
    };
    let a = Attrs { map, at: attrs_at };
    Ok(match kind {
        "accountAttribute" => {
            for unsupported in ["accountFilter", "accountPropertyFilter"] {
                if a.map.contains_key(unsupported) {
                    return Err(a.error(unsupported, "is not supported; the first account of the source is read"));
                }
            }
            let source =
                match (a.str_any(&["sourceName", "applicationName"])?, a.str_any(&["sourceId", "applicationId"])?) {
                    (_, Some(id)) => SourceRef::Id(id.to_owned()),
                    (Some(name), None) => SourceRef::Name(name.to_owned()),
                    (None, None) => return Err(a.error("sourceName", "is required (or sourceId)")),
                };
            let attribute = a.required("attributeName")?.to_owned();
            let first_link = a.boolean("accountReturnFirstLink")?.unwrap_or(false);
            Node::AccountAttribute { source, attribute, first_link }
        }
        "identityAttribute" => Node::IdentityAttribute(a.required("name")?.to_owned()),
        "static" => {
            let value = a.map.get("value").ok_or_else(|| a.error("value", "is required"))?;
            let value = value.as_str().ok_or_else(|| a.error("value", "expected a string"))?;
            let (names, vars) = a.variables(&["value"])?;
            let template = Template::parse(value, |name| names.iter().position(|known| *known == name));
            match template.as_constant() {
                Some(constant) => Node::Literal(constant.to_owned()),
                None => Node::Static { template, vars },
            }
        }
        "lower" => Node::Lower(a.input()?),
        "upper" => Node::Upper(a.input()?),
        "trim" => Node::Trim(a.input()?),
        "concat" => Node::Concat(a.values()?),
        "firstValid" => Node::FirstValid(a.values()?),
        "lookup" => {
            let table_at = pointer(&a.at, "table");
            let table = a.map.get("table").ok_or_else(|| a.error("table", "is required"))?;
            let mut entries = HashMap::new();
            let mut default = None;
            for (key, value) in expect_object(table, &table_at)? {
                let value = value.as_str().ok_or_else(|| {
                    Error::new(&pointer(&table_at, key), format!("expected a string, found {}", json_kind(value)))
                })?;
                if key == "default" {
                    default = Some(value.to_owned());
                } else {
                    entries.insert(key.clone(), value.to_owned());
                }
            }
            Node::Lookup { input: a.input()?, table: entries, default }
        }
        "replace" => {
            let regex = a.regex("regex")?;
            let at = pointer(&a.at, "replacement");
            let replacement =
                optional_str(a.map, "replacement", &a.at)?.ok_or_else(|| Error::new(&at, "is required"))?;
            let replacement = java_replacement(replacement, &regex).map_err(|message| Error::new(&at, message))?;
            Node::Replace { input: a.input()?, rules: vec![(regex, replacement)] }
        }
        "replaceAll" => {
            let table_at = pointer(&a.at, "table");
            let table = a.map.get("table").ok_or_else(|| a.error("table", "is required"))?;
            let mut rules = Vec::new();
            for (pattern, replacement) in expect_object(table, &table_at)? {
                let at = pointer(&table_at, pattern);
                let regex = compile(pattern).map_err(|message| Error::new(&at, message))?;
                let replacement = replacement
                    .as_str()
                    .ok_or_else(|| Error::new(&at, format!("expected a string, found {}", json_kind(replacement))))?;
                let replacement = java_replacement(replacement, &regex).map_err(|message| Error::new(&at, message))?;
                rules.push((regex, replacement));
            }
            Node::Replace { input: a.input()?, rules }
        }
        "substring" => {
            for unsupported in ["beginOffset", "endOffset"] {
                if a.map.contains_key(unsupported) {
                    return Err(a.error(unsupported, "is not supported; give begin and end"));
                }
            }
            let begin = a.index("begin")?.ok_or_else(|| a.error("begin", "is required"))?;
            let end = a.index("end")?;
            if end.is_some_and(|end| end < begin) {
                return Err(a.error("end", "must not be less than begin"));
            }
            Node::Substring { input: a.input()?, begin, end }
        }
        "split" => {
            let text = a.required("delimiter")?;
            let mut chars = text.chars();
            let delimiter = match (chars.next(), chars.next()) {
                (Some(only), None) => Delimiter::Char(only),
                _ => Delimiter::Regex(a.regex("delimiter")?),
            };
            let index = a.index("index")?.ok_or_else(|| a.error("index", "is required"))?;
            Node::Split { input: a.input()?, delimiter, index }
        }
        "leftPad" | "rightPad" => {
            let length = a.index("length")?.ok_or_else(|| a.error("length", "is required"))?;
            let padding: Vec<char> = optional_str(a.map, "padding", &a.at)?.unwrap_or(" ").chars().collect();
            if padding.is_empty() {
                return Err(a.error("padding", "must not be empty"));
            }
            Node::Pad { input: a.input()?, left: kind == "leftPad", length, padding }
        }
        "conditional" => {
            let expression = a.required("expression")?;
            let Some((left, right)) = expression.split_once(" eq ") else {
                return Err(a.error("expression", "expected `$variable eq value`, the only comparison ISC has"));
            };
            let (names, vars) = a.variables(&["expression", "positiveCondition", "negativeCondition"])?;
            let template = |text: &str| Template::parse(text.trim(), |name| names.iter().position(|n| *n == name));
            let (left, right) = (template(left), template(right));
            for side in [&left, &right] {
                if let Some(unknown) = side.as_constant().filter(|text| text.starts_with('$')) {
                    let message = format!("`{unknown}` is not one of the transform's attributes");
                    return Err(a.error("expression", message));
                }
            }
            let positive = template(a.required_allow_empty("positiveCondition")?);
            let negative = template(a.required_allow_empty("negativeCondition")?);
            Node::Conditional { vars, left, right, positive, negative }
        }
        "dateFormat" => {
            let format = |key| -> Result<DateFormat, Error> {
                let spec = optional_str(a.map, key, &a.at)?.unwrap_or("ISO8601");
                DateFormat::parse(spec).map_err(|message| a.error(key, message))
            };
            Node::DateFormat { input: a.input()?, from: format("inputFormat")?, to: format("outputFormat")? }
        }
        "indexOf" | "lastIndexOf" => {
            let needle = a.required("substring")?.to_owned();
            Node::IndexOf { input: a.input()?, needle, last: kind == "lastIndexOf" }
        }
        "getEndOfString" => {
            let count = a.index("numChars")?.ok_or_else(|| a.error("numChars", "is required"))?;
            Node::EndOfString { input: a.input()?, count }
        }
        other => {
            return Err(Error::new(&pointer(at, "type"), format!("transform type `{other}` is not supported")));
        }
    })
}

impl<'v> Attrs<'v> {
    fn error(&self, key: &str, message: impl Into<String>) -> Error {
        Error::new(&pointer(&self.at, key), message)
    }

    fn required(&self, key: &str) -> Result<&'v str, Error> {
        required_str(self.map, key, &self.at)
    }

    fn required_allow_empty(&self, key: &str) -> Result<&'v str, Error> {
        optional_str(self.map, key, &self.at)?.ok_or_else(|| self.error(key, "is required"))
    }

    /// The first of `keys` given, a non-empty string.
    fn str_any(&self, keys: &[&str]) -> Result<Option<&'v str>, Error> {
        for key in keys {
            if self.map.get(*key).is_some_and(|value| !value.is_null()) {
                return self.required(key).map(Some);
            }
        }
        Ok(None)
    }

    fn boolean(&self, key: &str) -> Result<Option<bool>, Error> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(flag)) => Ok(Some(*flag)),
            Some(Value::String(text)) if text == "true" || text == "false" => Ok(Some(text == "true")),
            Some(other) => Err(self.error(key, format!("expected a boolean, found {}", json_kind(other)))),
        }
    }

    /// A non-negative integer, written as a JSON number or, as ISC exports often do, a string of digits.
    fn index(&self, key: &str) -> Result<Option<usize>, Error> {
        let number = match self.map.get(key) {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::Number(number)) => number.as_u64(),
            Some(Value::String(text)) => text.trim().parse::<u64>().ok(),
            Some(other) => return Err(self.error(key, format!("expected a number, found {}", json_kind(other)))),
        };
        let number = number.and_then(|number| usize::try_from(number).ok());
        number.map(Some).ok_or_else(|| self.error(key, "expected a non-negative integer"))
    }

    fn regex(&self, key: &str) -> Result<Regex, Error> {
        compile(self.required(key)?).map_err(|message| self.error(key, message))
    }

    fn input(&self) -> Result<Input, Error> {
        match self.map.get("input") {
            None | Some(Value::Null) => Ok(None),
            Some(value) => Ok(Some(Box::new(parse_node(value, &pointer(&self.at, "input"))?))),
        }
    }

    /// `values`: an array of transforms or strings.
    fn values(&self) -> Result<Vec<Node>, Error> {
        let at = pointer(&self.at, "values");
        match self.map.get("values") {
            None | Some(Value::Null) => Err(Error::new(&at, "is required")),
            Some(Value::Array(items)) => {
                items.iter().enumerate().map(|(index, item)| parse_node(item, &pointer_index(&at, index))).collect()
            }
            Some(other) => Err(Error::new(&at, format!("expected an array, found {}", json_kind(other)))),
        }
    }

    /// The attributes other than `reserved` that hold a string or a transform: the variables a template may use.
    /// Other values (`requiresPeriodicRefresh: true`) are not variables and are skipped.
    fn variables(&self, reserved: &[&str]) -> Result<(Vec<&'v str>, Vec<Node>), Error> {
        let mut names = Vec::new();
        let mut nodes = Vec::new();
        for (name, value) in self.map {
            if reserved.contains(&name.as_str()) || !(value.is_string() || value.is_object()) {
                continue;
            }
            names.push(name.as_str());
            nodes.push(parse_node(value, &pointer(&self.at, name))?);
        }
        Ok((names, nodes))
    }
}

/// Compiles a regex, with a one-line message when it does not compile (the `regex` crate draws a caret diagram).
fn compile(pattern: &str) -> Result<Regex, String> {
    Regex::new(pattern).map_err(|error| {
        let full = error.to_string();
        let reason = full.lines().rev().find_map(|line| line.strip_prefix("error: ")).unwrap_or(&full).to_owned();
        format!("not a valid regular expression: {reason}")
    })
}

/// Rewrites a Java replacement string (`$1`, `${name}`, `\$`) into `regex` crate syntax, checking group references
/// against `regex` as Java would when it runs.
fn java_replacement(java: &str, regex: &Regex) -> Result<String, String> {
    let groups = regex.captures_len() - 1;
    let mut out = String::with_capacity(java.len() + 4);
    let mut chars = java.chars().peekable();
    while let Some(ch) = chars.next() {
        match ch {
            '\\' => match chars.next() {
                Some('$') => out.push_str("$$"),
                Some(escaped) => out.push(escaped),
                None => return Err("the replacement ends with a lone `\\`".to_owned()),
            },
            '$' if chars.peek() == Some(&'{') => {
                chars.next();
                let name: String = chars.by_ref().take_while(|ch| *ch != '}').collect();
                if regex.capture_names().flatten().all(|known| known != name) {
                    return Err(format!("the replacement refers to group `{name}`, which the regex does not have"));
                }
                out.push_str(&format!("${{{name}}}"));
            }
            '$' => {
                // Java takes the first digit, then each next digit while the number still names a group.
                let Some(mut group) = chars.next().and_then(|digit| digit.to_digit(10)) else {
                    return Err("`$` in the replacement must be followed by a group number (write `\\$` for a dollar)"
                        .to_owned());
                };
                while let Some(next) = chars.peek().and_then(|digit| digit.to_digit(10)) {
                    if (group * 10 + next) as usize > groups {
                        break;
                    }
                    group = group * 10 + next;
                    chars.next();
                }
                if group as usize > groups {
                    return Err(format!("the replacement refers to group {group}; the regex has {groups}"));
                }
                out.push_str(&format!("${{{group}}}"));
            }
            other => out.push(other),
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------------------------
// Evaluation

impl Node {
    fn eval<'s>(&'s self, ctx: &Context<'s>) -> Option<Cow<'s, str>> {
        match self {
            Self::Literal(text) => Some(Cow::Borrowed(text)),
            Self::Static { template, vars } => Some(template.render(|index| vars.get(index)?.eval(ctx))),
            Self::AccountAttribute { source, attribute, first_link } => {
                let mut accounts = ctx.accounts.iter().filter(|account| match source {
                    SourceRef::Name(name) => account.source_name == name,
                    SourceRef::Id(id) => account.source_id == id,
                });
                if *first_link {
                    accounts.next().and_then(|account| text(account.attributes.get(attribute)?))
                } else {
                    accounts.find_map(|account| text(account.attributes.get(attribute)?))
                }
            }
            Self::IdentityAttribute(name) => text(ctx.identity.get(name)?),
            Self::Lower(input) => Some(change_case(input_of(input, ctx)?, false)),
            Self::Upper(input) => Some(change_case(input_of(input, ctx)?, true)),
            Self::Trim(input) => narrow(input_of(input, ctx)?, |text| Some(text.trim())),
            Self::Concat(values) => {
                let mut out = String::new();
                for value in values {
                    if let Some(part) = value.eval(ctx) {
                        out.push_str(&part);
                    }
                }
                Some(Cow::Owned(out))
            }
            Self::FirstValid(values) => {
                values.iter().find_map(|value| value.eval(ctx).filter(|found| !found.is_empty()))
            }
            Self::Lookup { input, table, default } => {
                let found = input_of(input, ctx).and_then(|key| table.get(key.as_ref()));
                found.or(default.as_ref()).map(|value| Cow::Borrowed(value.as_str()))
            }
            Self::Replace { input, rules } => {
                let mut value = input_of(input, ctx)?;
                for (regex, replacement) in rules {
                    value = match value {
                        Cow::Borrowed(text) => regex.replace_all(text, replacement.as_str()),
                        Cow::Owned(text) => Cow::Owned(regex.replace_all(&text, replacement.as_str()).into_owned()),
                    };
                }
                Some(value)
            }
            Self::Substring { input, begin, end } => narrow(input_of(input, ctx)?, |text| {
                let start = char_offset(text, *begin)?;
                match end {
                    Some(end) => text.get(start..char_offset(text, *end)?),
                    None => text.get(start..),
                }
            }),
            Self::Split { input, delimiter, index } => narrow(input_of(input, ctx)?, |text| match delimiter {
                Delimiter::Char(ch) => split_piece(text.split(*ch), *index),
                Delimiter::Regex(regex) => split_piece(regex.split(text), *index),
            }),
            Self::Pad { input, left, length, padding } => {
                let value = input_of(input, ctx)?;
                let missing = length.saturating_sub(value.chars().count());
                if missing == 0 {
                    return Some(value);
                }
                let fill = padding.iter().cycle().take(missing);
                let mut out = String::with_capacity(value.len() + missing);
                if *left {
                    out.extend(fill);
                    out.push_str(&value);
                } else {
                    out.push_str(&value);
                    out.extend(fill);
                }
                Some(Cow::Owned(out))
            }
            Self::Conditional { vars, left, right, positive, negative } => {
                let var = |index: usize| vars.get(index)?.eval(ctx);
                let chosen = if left.render(var) == right.render(var) { positive } else { negative };
                Some(chosen.render(var))
            }
            Self::DateFormat { input, from, to } => Some(Cow::Owned(to.write(from.read(&input_of(input, ctx)?)?))),
            Self::IndexOf { input, needle, last } => {
                let value = input_of(input, ctx)?;
                let found = if *last { value.rfind(needle.as_str()) } else { value.find(needle.as_str()) };
                let index = found.map_or(-1, |byte| value[..byte].chars().count() as i64);
                Some(Cow::Owned(index.to_string()))
            }
            Self::EndOfString { input, count } => narrow(input_of(input, ctx)?, |text| {
                let skip = text.chars().count().saturating_sub(*count);
                text.get(char_offset(text, skip)?..)
            }),
        }
    }
}

fn input_of<'s>(input: &'s Input, ctx: &Context<'s>) -> Option<Cow<'s, str>> {
    match input {
        Some(node) => node.eval(ctx),
        None => ctx.implicit_input.map(Cow::Borrowed),
    }
}

/// An attribute value as text: strings as they are, numbers and booleans written out, the first non-null element of
/// a multi-valued attribute; null and objects have none.
fn text(value: &Value) -> Option<Cow<'_, str>> {
    match value {
        Value::String(text) => Some(Cow::Borrowed(text)),
        Value::Number(number) => Some(Cow::Owned(number.to_string())),
        Value::Bool(flag) => Some(Cow::Borrowed(if *flag { "true" } else { "false" })),
        Value::Array(items) => items.iter().find_map(text),
        Value::Null | Value::Object(_) => None,
    }
}

fn change_case(value: Cow<'_, str>, upper: bool) -> Cow<'_, str> {
    if value.is_ascii() {
        let unchanged = if upper {
            !value.bytes().any(|byte| byte.is_ascii_lowercase())
        } else {
            !value.bytes().any(|byte| byte.is_ascii_uppercase())
        };
        if unchanged {
            return value;
        }
    }
    Cow::Owned(if upper { value.to_uppercase() } else { value.to_lowercase() })
}

/// A part of `value` chosen by `pick`, borrowed when `value` is.
fn narrow<'s>(value: Cow<'s, str>, pick: impl for<'x> FnOnce(&'x str) -> Option<&'x str>) -> Option<Cow<'s, str>> {
    match value {
        Cow::Borrowed(text) => pick(text).map(Cow::Borrowed),
        Cow::Owned(text) => {
            let part = pick(&text)?;
            Some(Cow::Owned(if part.len() == text.len() { text } else { part.to_owned() }))
        }
    }
}

/// The byte offset of the `chars`-th character, the end of `text` included.
fn char_offset(text: &str, chars: usize) -> Option<usize> {
    text.char_indices().map(|(offset, _)| offset).chain(std::iter::once(text.len())).nth(chars)
}

/// Piece `index` of a split, as Java's `String.split` numbers them: trailing empty pieces do not count.
fn split_piece<'x>(mut pieces: impl Iterator<Item = &'x str>, index: usize) -> Option<&'x str> {
    let piece = pieces.nth(index)?;
    if piece.is_empty() && !pieces.any(|later| !later.is_empty()) {
        return None;
    }
    Some(piece)
}
