//! Role membership (ISC `RoleMembershipSelector`): STANDARD criteria trees over identity attributes, account
//! attributes and entitlements, and IDENTITY_LIST memberships.
//!
//! Comparisons ignore case. A key with several values (a multi-valued attribute, several accounts on the source,
//! several entitlements) matches when any value does; the negative operations `NOT_EQUALS` and `DOES_NOT_CONTAIN`
//! match when no value matches their positive counterpart, so an identity without the attribute is `NOT_EQUALS`
//! anything. ISC allows three levels alternating AND and OR; this accepts up to eight, in any arrangement.

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::{Account, Error, expect_object, json_kind, optional_str, pointer, pointer_index, required_str};

/// The deepest criteria tree accepted, counting the root as level 1.
const MAX_DEPTH: usize = 8;

/// A parsed role membership selector.
#[derive(Debug, Clone)]
pub struct Membership(Selector);

/// What a membership is tested against.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    /// The identity's id, which IDENTITY_LIST memberships name.
    pub id: &'a str,
    /// The identity's attributes, which IDENTITY keys read.
    pub attributes: &'a Map<String, Value>,
    /// The identity's accounts, which ACCOUNT keys read.
    pub accounts: &'a [Account<'a>],
    /// The entitlements the identity holds as (source id, attribute, value), which ENTITLEMENT keys read.
    pub entitlements: &'a [(&'a str, &'a str, &'a str)],
}

#[derive(Debug, Clone)]
enum Selector {
    Standard(Criterion),
    IdentityList(HashSet<String>),
}

#[derive(Debug, Clone)]
enum Criterion {
    And(Vec<Criterion>),
    Or(Vec<Criterion>),
    Leaf { key: Key, test: Test },
}

#[derive(Debug, Clone)]
enum Key {
    Identity { attribute: String },
    Account { source_id: String, attribute: String },
    Entitlement { source_id: String, attribute: String },
}

/// A comparison with `stringValue`, kept lower-cased.
#[derive(Debug, Clone)]
struct Test {
    op: Op,
    negated: bool,
    value: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Equals,
    Contains,
    StartsWith,
    EndsWith,
}

impl Membership {
    /// Reads a role's `membership` object; errors point into it, e.g. `/criteria/children/1/key/type`.
    pub fn parse(membership: &Value) -> Result<Self, Error> {
        let object = expect_object(membership, "")?;
        let kind = required_str(object, "type", "")?;
        let selector = match kind {
            "STANDARD" => {
                let criteria = match object.get("criteria") {
                    None | Some(Value::Null) => return Err(Error::new("/criteria", "is required for STANDARD")),
                    Some(criteria) => criteria,
                };
                Selector::Standard(parse_criterion(criteria, "/criteria", 1)?)
            }
            "IDENTITY_LIST" => {
                let identities = match object.get("identities") {
                    None | Some(Value::Null) => return Err(Error::new("/identities", "is required for IDENTITY_LIST")),
                    Some(Value::Array(items)) => items,
                    Some(other) => {
                        let message = format!("expected an array, found {}", json_kind(other));
                        return Err(Error::new("/identities", message));
                    }
                };
                let mut ids = HashSet::with_capacity(identities.len());
                for (index, identity) in identities.iter().enumerate() {
                    let at = pointer_index("/identities", index);
                    ids.insert(required_str(expect_object(identity, &at)?, "id", &at)?.to_owned());
                }
                Selector::IdentityList(ids)
            }
            other => {
                let message = format!("unknown membership type `{other}` (expected STANDARD or IDENTITY_LIST)");
                return Err(Error::new("/type", message));
            }
        };
        Ok(Self(selector))
    }

    /// Whether `identity` is a member.
    pub fn matches(&self, identity: &Subject<'_>) -> bool {
        match &self.0 {
            Selector::Standard(criterion) => criterion.matches(identity),
            Selector::IdentityList(ids) => ids.contains(identity.id),
        }
    }
}

fn parse_criterion(value: &Value, at: &str, depth: usize) -> Result<Criterion, Error> {
    if depth > MAX_DEPTH {
        return Err(Error::new(at, format!("criteria may nest at most {MAX_DEPTH} levels deep")));
    }
    let object = expect_object(value, at)?;
    let operation = required_str(object, "operation", at)?;
    let children = match object.get("children") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(children)) => children.as_slice(),
        Some(other) => {
            let message = format!("expected an array, found {}", json_kind(other));
            return Err(Error::new(&pointer(at, "children"), message));
        }
    };
    let (op, negated) = match operation {
        "AND" | "OR" => {
            for key in ["key", "stringValue"] {
                if object.get(key).is_some_and(|value| !value.is_null()) {
                    return Err(Error::new(&pointer(at, key), format!("must be left out with operation {operation}")));
                }
            }
            if children.is_empty() {
                return Err(Error::new(&pointer(at, "children"), format!("operation {operation} needs children")));
            }
            let children_at = pointer(at, "children");
            let children = children
                .iter()
                .enumerate()
                .map(|(index, child)| parse_criterion(child, &pointer_index(&children_at, index), depth + 1))
                .collect::<Result<Vec<_>, _>>()?;
            return Ok(if operation == "AND" { Criterion::And(children) } else { Criterion::Or(children) });
        }
        "EQUALS" => (Op::Equals, false),
        "NOT_EQUALS" => (Op::Equals, true),
        "CONTAINS" => (Op::Contains, false),
        "DOES_NOT_CONTAIN" => (Op::Contains, true),
        "STARTS_WITH" => (Op::StartsWith, false),
        "ENDS_WITH" => (Op::EndsWith, false),
        "GREATER_THAN" | "LESS_THAN" | "GREATER_THAN_EQUALS" | "LESS_THAN_EQUALS" => {
            let message = format!("operation {operation} is not supported in role membership criteria");
            return Err(Error::new(&pointer(at, "operation"), message));
        }
        other => {
            return Err(Error::new(&pointer(at, "operation"), format!("unknown operation `{other}`")));
        }
    };
    if !children.is_empty() {
        return Err(Error::new(&pointer(at, "children"), format!("must be left out with operation {operation}")));
    }
    let key_at = pointer(at, "key");
    let key = match object.get("key") {
        None | Some(Value::Null) => return Err(Error::new(&key_at, format!("is required with operation {operation}"))),
        Some(key) => parse_key(expect_object(key, &key_at)?, &key_at)?,
    };
    let value = optional_str(object, "stringValue", at)?
        .ok_or_else(|| Error::new(&pointer(at, "stringValue"), format!("is required with operation {operation}")))?;
    Ok(Criterion::Leaf { key, test: Test { op, negated, value: value.to_lowercase() } })
}

fn parse_key(key: &Map<String, Value>, at: &str) -> Result<Key, Error> {
    let kind = required_str(key, "type", at)?;
    let property = required_str(key, "property", at)?;
    let attribute = property.strip_prefix("attribute.").unwrap_or(property);
    if attribute.is_empty() {
        return Err(Error::new(&pointer(at, "property"), "names no attribute"));
    }
    let attribute = attribute.to_owned();
    Ok(match kind {
        "IDENTITY" => Key::Identity { attribute },
        "ACCOUNT" => Key::Account { source_id: required_str(key, "sourceId", at)?.to_owned(), attribute },
        "ENTITLEMENT" => Key::Entitlement { source_id: required_str(key, "sourceId", at)?.to_owned(), attribute },
        other => {
            let message = format!("unknown key type `{other}` (expected IDENTITY, ACCOUNT or ENTITLEMENT)");
            return Err(Error::new(&pointer(at, "type"), message));
        }
    })
}

impl Criterion {
    fn matches(&self, subject: &Subject<'_>) -> bool {
        match self {
            Self::And(children) => children.iter().all(|child| child.matches(subject)),
            Self::Or(children) => children.iter().any(|child| child.matches(subject)),
            Self::Leaf { key, test } => {
                let any = match key {
                    Key::Identity { attribute } => {
                        subject.attributes.get(attribute).is_some_and(|value| test.any_value(value))
                    }
                    Key::Account { source_id, attribute } => subject
                        .accounts
                        .iter()
                        .filter(|account| account.source_id == source_id)
                        .any(|account| account.attributes.get(attribute).is_some_and(|value| test.any_value(value))),
                    Key::Entitlement { source_id, attribute } => subject
                        .entitlements
                        .iter()
                        .any(|(source, name, value)| source == source_id && name == attribute && test.positive(value)),
                };
                any != test.negated
            }
        }
    }
}

impl Test {
    /// Whether any value of a (possibly multi-valued) attribute passes the positive comparison.
    fn any_value(&self, value: &Value) -> bool {
        match value {
            Value::String(text) => self.positive(text),
            Value::Number(number) => self.positive(&number.to_string()),
            Value::Bool(flag) => self.positive(if *flag { "true" } else { "false" }),
            Value::Array(items) => items.iter().any(|item| !item.is_array() && self.any_value(item)),
            Value::Null | Value::Object(_) => false,
        }
    }

    /// The comparison without its negation, ignoring case; allocates only for non-ASCII text.
    fn positive(&self, text: &str) -> bool {
        let wanted = self.value.as_bytes();
        if text.is_ascii() && self.value.is_ascii() {
            let text = text.as_bytes();
            let same = |part: &[u8]| part.eq_ignore_ascii_case(wanted);
            return match self.op {
                Op::Equals => same(text),
                Op::StartsWith => text.get(..wanted.len()).is_some_and(same),
                Op::EndsWith => text.len() >= wanted.len() && same(&text[text.len() - wanted.len()..]),
                Op::Contains => wanted.is_empty() || text.windows(wanted.len()).any(same),
            };
        }
        let text = text.to_lowercase();
        match self.op {
            Op::Equals => text == self.value,
            Op::StartsWith => text.starts_with(&self.value),
            Op::EndsWith => text.ends_with(&self.value),
            Op::Contains => text.contains(&self.value),
        }
    }
}
