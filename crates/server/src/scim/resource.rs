//! A resource checked against its schema and stored (attribute names as the schema writes them,
//! values of the declared types, unassigned values dropped), rendered back with `schemas`, `id`
//! and `meta`, and cut down to what `attributes` / `excludedAttributes` ask for (RFC 7644 §3.9).

use scim_v2::filter::{AttrPath, PatchPath};
use serde_json::{Map, Value, json};
use tessera_model::Timestamp;

use super::schema::{Attribute, Kind, Mutability, Resolved, Returned, Type};
use super::{ScimError, ScimResult, stamp};

fn invalid(at: &str, message: &str) -> ScimError {
    ScimError::bad_request("invalidValue", format!("`{at}` {message}"))
}

/// Checks a submitted resource and returns what to store: the core attributes (and
/// `externalId`) and an object per extension, under the names the schemas use. Unknown
/// attributes are ignored, as are read-only ones (`id`, `meta`, `groups`: RFC 7643 §2.2) and
/// write-only ones: Tessera governs identities and never keeps a pushed password.
pub(crate) fn normalize(kind: Kind, body: &Map<String, Value>) -> ScimResult<Map<String, Value>> {
    let mut out = Map::new();
    for (key, value) in body {
        if let Some(urn) = kind.extension(key) {
            let members = match value {
                Value::Null => continue,
                Value::Object(members) => members,
                _ => return Err(invalid(urn, "must be an object of the extension's attributes")),
            };
            let mut extension = Map::new();
            for (name, value) in members {
                if let Some(attribute) = super::schema::find(Kind::extension_attributes(urn), name) {
                    keep(&mut extension, attribute, value, &format!("{urn}:{}", attribute.name))?;
                }
            }
            if !extension.is_empty() {
                out.insert(urn.to_owned(), Value::Object(extension));
            }
        } else if let Some(attribute) = kind.attribute(key) {
            keep(&mut out, attribute, value, &attribute.name)?;
        }
    }
    Ok(out)
}

/// A submitted resource (POST or PUT) checked: it names its type's schema, its attributes have
/// their types, and the required ones are there. Returns what to store.
pub(crate) fn submitted(kind: Kind, body: &Value) -> ScimResult<Map<String, Value>> {
    let Value::Object(members) = body else {
        return Err(ScimError::bad_request("invalidSyntax", format!("a {} is a JSON object", kind.name())));
    };
    let core = kind.core().id.as_str();
    let declared = members.iter().find(|(k, _)| k.eq_ignore_ascii_case("schemas")).is_some_and(|(_, schemas)| {
        schemas.as_array().is_some_and(|s| s.iter().any(|s| s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(core))))
    });
    if !declared {
        return Err(ScimError::bad_request("invalidSyntax", format!("a {}'s `schemas` must hold {core}", kind.name())));
    }
    let stored = normalize(kind, members)?;
    require(kind, &stored)?;
    Ok(stored)
}

/// Stores `value` as `attribute` in `into` when it is writable and assigned.
fn keep(into: &mut Map<String, Value>, attribute: &Attribute, value: &Value, at: &str) -> ScimResult<()> {
    if matches!(attribute.mutability, Mutability::ReadOnly | Mutability::WriteOnly) {
        return Ok(());
    }
    if let Some(checked) = check(attribute, value, at)? {
        into.insert(attribute.name.clone(), checked);
    }
    Ok(())
}

/// The longest string an attribute may hold (binary values, such as photos, excepted): identifiers and
/// names are far shorter, and a longer value would only burden every lookup.
pub(crate) const MAX_VALUE_CHARS: usize = 2048;

/// `value` checked against `attribute`; `None` when it leaves the attribute unassigned (null, an
/// empty list or object: RFC 7643 §2.5).
pub(crate) fn check(attribute: &Attribute, value: &Value, at: &str) -> ScimResult<Option<Value>> {
    if value.is_null() {
        return Ok(None);
    }
    if !attribute.multi_valued {
        return single(attribute, value, at);
    }
    let items: Vec<&Value> = match value {
        Value::Array(items) => items.iter().collect(),
        // A lone value where a list belongs is taken as a list of one, as many clients send it.
        other => vec![other],
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        if let Some(checked) = single(attribute, item, at)?
            && !out.contains(&checked)
        {
            out.push(checked);
        }
    }
    let primaries = out.iter().filter(|v| v.get("primary") == Some(&Value::Bool(true))).count();
    if primaries > 1 {
        return Err(invalid(at, "has more than one value with \"primary\": true (RFC 7643 §2.4)"));
    }
    Ok((!out.is_empty()).then_some(Value::Array(out)))
}

fn single(attribute: &Attribute, value: &Value, at: &str) -> ScimResult<Option<Value>> {
    let checked = match (attribute.kind, value) {
        (_, Value::Null) => return Ok(None),
        (Type::Complex, Value::Object(members)) => {
            let mut out = Map::new();
            for (name, value) in members {
                let Some(sub) = attribute.sub(name) else { continue };
                if sub.mutability == Mutability::ReadOnly {
                    continue;
                }
                if let Some(checked) = single(sub, value, &format!("{at}.{}", sub.name))? {
                    out.insert(sub.name.clone(), checked);
                }
            }
            if out.is_empty() {
                return Ok(None);
            }
            Value::Object(out)
        }
        (Type::Complex, _) => return Err(invalid(at, "must be an object of sub-attributes")),
        (Type::String | Type::Reference, Value::String(text)) if text.chars().count() > MAX_VALUE_CHARS => {
            return Err(invalid(at, &format!("is longer than {MAX_VALUE_CHARS} characters")));
        }
        (Type::String | Type::Reference | Type::Binary, Value::String(_)) => value.clone(),
        (Type::DateTime, Value::String(text)) => {
            if chrono::DateTime::parse_from_rfc3339(text).is_err() {
                return Err(invalid(
                    at,
                    &format!("must be an xsd:dateTime such as 2024-01-01T00:00:00Z, not `{text}`"),
                ));
            }
            value.clone()
        }
        (Type::Boolean, Value::Bool(_)) => value.clone(),
        // Some identity providers send booleans as the strings "True" and "False".
        (Type::Boolean, Value::String(text)) if text.eq_ignore_ascii_case("true") => Value::Bool(true),
        (Type::Boolean, Value::String(text)) if text.eq_ignore_ascii_case("false") => Value::Bool(false),
        (Type::Integer, Value::Number(n)) if n.is_i64() || n.is_u64() => value.clone(),
        (Type::Decimal, Value::Number(_)) => value.clone(),
        (kind, other) => {
            let wanted = match kind {
                Type::Boolean => "true or false",
                Type::Integer => "a whole number",
                Type::Decimal => "a number",
                _ => "a string",
            };
            return Err(invalid(at, &format!("must be {wanted}, not {other}")));
        }
    };
    Ok(Some(checked))
}

/// Refuses a resource without its required attributes.
pub(crate) fn require(kind: Kind, stored: &Map<String, Value>) -> ScimResult<()> {
    for attribute in &kind.core().attributes {
        if attribute.required && !stored.contains_key(&attribute.name) {
            return Err(invalid(&attribute.name, &format!("is required for a {}", kind.name())));
        }
    }
    Ok(())
}

/// Refuses a replacement that changes an immutable attribute that had a value (RFC 7643 §2.2).
pub(crate) fn check_immutable(kind: Kind, old: &Map<String, Value>, new: &Map<String, Value>) -> ScimResult<()> {
    for attribute in kind.core().attributes.iter().filter(|a| a.mutability == Mutability::Immutable) {
        if let Some(before) = old.get(&attribute.name)
            && new.get(&attribute.name) != Some(before)
        {
            return Err(ScimError::bad_request(
                "mutability",
                format!("`{}` is immutable: it cannot change once set", attribute.name),
            ));
        }
    }
    Ok(())
}

/// What `meta` says of a resource.
#[derive(Debug)]
pub(crate) struct Meta {
    pub(crate) created: Timestamp,
    pub(crate) modified: Timestamp,
    pub(crate) location: String,
    pub(crate) version: String,
}

/// The whole resource as served: `schemas` (the core schema and each extension it has), `id`,
/// the stored attributes, and `meta`.
pub(crate) fn render(kind: Kind, id: &str, stored: &Map<String, Value>, meta: &Meta) -> Map<String, Value> {
    let mut schemas = vec![json!(kind.core().id)];
    schemas.extend(kind.extensions().iter().filter(|e| stored.contains_key(**e)).map(|e| json!(e)));
    let mut out = Map::new();
    out.insert("schemas".into(), Value::Array(schemas));
    out.insert("id".into(), json!(id));
    for (key, value) in stored {
        out.insert(key.clone(), value.clone());
    }
    out.insert(
        "meta".into(),
        json!({
            "resourceType": kind.name(),
            "created": stamp(meta.created),
            "lastModified": stamp(meta.modified),
            "location": meta.location,
            "version": meta.version,
        }),
    );
    out
}

/// Which attributes an answer holds (RFC 7644 §3.9).
#[derive(Debug, Default)]
pub(crate) struct Projection {
    include: Vec<AttrPath>,
    exclude: Vec<AttrPath>,
}

/// Attribute paths from a comma-separated parameter or a list.
fn paths(items: &[String], parameter: &str) -> ScimResult<Vec<AttrPath>> {
    let mut out = Vec::new();
    for item in items.iter().flat_map(|i| i.split(',')).map(str::trim).filter(|i| !i.is_empty()) {
        match item.parse::<PatchPath>() {
            Ok(PatchPath::Attr(path)) => out.push(path),
            _ => {
                return Err(ScimError::bad_request(
                    "invalidValue",
                    format!("`{item}` in `{parameter}` is not an attribute path such as name.givenName"),
                ));
            }
        }
    }
    Ok(out)
}

impl Projection {
    /// From `attributes` and `excludedAttributes`, checked against the resource types answered.
    pub(crate) fn parse(attributes: &[String], excluded: &[String], kinds: &[Kind]) -> ScimResult<Self> {
        let projection =
            Self { include: paths(attributes, "attributes")?, exclude: paths(excluded, "excludedAttributes")? };
        for path in projection.include.iter().chain(&projection.exclude) {
            if let Some(error) = kinds.iter().map(|k| k.resolve(path).err()).reduce(|a, b| a.and(b)).flatten() {
                return Err(error);
            }
        }
        Ok(projection)
    }

    /// Cuts a rendered resource down; `returned: always` attributes stay whatever is asked.
    pub(crate) fn apply(&self, kind: Kind, mut resource: Map<String, Value>) -> Map<String, Value> {
        if !self.include.is_empty() {
            let mut out = Map::new();
            for key in ["schemas", "id"] {
                if let Some(value) = resource.get(key) {
                    out.insert(key.into(), value.clone());
                }
            }
            for path in &self.include {
                copy(kind, &resource, &mut out, path);
            }
            return out;
        }
        for path in &self.exclude {
            match kind.resolve(path) {
                Ok(Resolved::Extension(urn)) => {
                    resource.remove(urn);
                }
                Ok(Resolved::Attribute { container, attribute, sub }) if attribute.returned != Returned::Always => {
                    let holder = match container {
                        Some(urn) => resource.get_mut(urn).and_then(Value::as_object_mut),
                        None => Some(&mut resource),
                    };
                    let Some(holder) = holder else { continue };
                    match sub {
                        None => {
                            holder.remove(&attribute.name);
                        }
                        Some(sub) => match holder.get_mut(&attribute.name) {
                            Some(Value::Object(members)) => {
                                members.remove(&sub.name);
                            }
                            Some(Value::Array(items)) => {
                                for item in items.iter_mut().filter_map(Value::as_object_mut) {
                                    item.remove(&sub.name);
                                }
                            }
                            _ => {}
                        },
                    }
                }
                _ => {}
            }
        }
        resource
    }
}

/// Copies what `path` names from `from` into `into`.
fn copy(kind: Kind, from: &Map<String, Value>, into: &mut Map<String, Value>, path: &AttrPath) {
    match kind.resolve(path) {
        Ok(Resolved::Extension(urn)) => {
            if let Some(value) = from.get(urn) {
                into.insert(urn.to_owned(), value.clone());
            }
        }
        Ok(Resolved::Attribute { container, attribute, sub }) => {
            let source = match container {
                Some(urn) => from.get(urn).and_then(Value::as_object),
                None => Some(from),
            };
            let Some(value) = source.and_then(|s| s.get(&attribute.name)) else { return };
            let picked = match (sub, value) {
                (None, value) => value.clone(),
                (Some(sub), Value::Object(members)) => match members.get(&sub.name) {
                    Some(v) => json!({ sub.name.clone(): v }),
                    None => return,
                },
                (Some(sub), Value::Array(items)) => Value::Array(
                    items
                        .iter()
                        .filter_map(|item| item.get(&sub.name).map(|v| json!({ sub.name.clone(): v })))
                        .collect(),
                ),
                (Some(_), _) => return,
            };
            let target = match container {
                Some(urn) => {
                    let entry = into.entry(urn.to_owned()).or_insert_with(|| json!({}));
                    match entry.as_object_mut() {
                        Some(target) => target,
                        None => return,
                    }
                }
                None => into,
            };
            merge_into(target, &attribute.name, picked);
        }
        Err(_) => {}
    }
}

/// Puts `value` under `key`, merging sub-attributes picked by several paths (`name.givenName`
/// and `name.familyName`).
fn merge_into(target: &mut Map<String, Value>, key: &str, value: Value) {
    match (target.get_mut(key), value) {
        (Some(Value::Object(have)), Value::Object(more)) => have.extend(more),
        (Some(Value::Array(have)), Value::Array(more)) if have.len() == more.len() => {
            for (a, b) in have.iter_mut().zip(more) {
                if let (Value::Object(a), Value::Object(b)) = (a, b) {
                    a.extend(b);
                }
            }
        }
        (_, value) => {
            target.insert(key.to_owned(), value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_is_stored_as_its_schema_writes_it() {
        let body = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "id": "ignored", "USERNAME": "ada",
            "password": "secret", "unknown": 1, "active": "False", "groups": [{"value": "g"}],
            "emails": {"value": "ada@example.com", "PRIMARY": true},
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user": {"Department": "R&D",
                "manager": {"value": "m", "displayName": "read-only"}},
        });
        let stored = normalize(Kind::User, body.as_object().unwrap()).unwrap();
        assert_eq!(
            Value::Object(stored),
            json!({"userName": "ada", "active": false, "emails": [{"value": "ada@example.com", "primary": true}],
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "R&D",
                    "manager": {"value": "m"}}})
        );
        let twice = json!({"emails": [{"value": "a", "primary": true}, {"value": "b", "primary": true}]});
        assert!(normalize(Kind::User, twice.as_object().unwrap()).is_err());
        assert!(normalize(Kind::User, json!({"active": 3}).as_object().unwrap()).is_err());
    }
}
