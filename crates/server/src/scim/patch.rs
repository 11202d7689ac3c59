//! PATCH (RFC 7644 §3.5.2): `add`, `remove` and `replace` on a stored resource, with attribute
//! paths, value paths (`emails[type eq "work"].value`) and extension URNs. The result is checked
//! against the schema again by the caller, so an operation may leave loose values behind.

use scim_v2::filter::{AttrExp, AttrPath, CompValue, CompareOp, PatchPath, ValFilter};
use serde_json::{Map, Value, json};

use super::filter::{validate_values, value_matches};
use super::schema::{Attribute, Kind, Mutability, Resolved, Type};
use super::{ScimError, ScimResult};

const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Add,
    Remove,
    Replace,
}

/// One operation of a PATCH request.
#[derive(Debug)]
pub(crate) struct Operation {
    op: Op,
    path: Option<PatchPath>,
    value: Option<Value>,
}

impl Operation {
    /// `op` and `path` as the audit log shows them (never the value, which may be a password).
    pub(crate) fn summary(&self) -> Value {
        let op = match self.op {
            Op::Add => "add",
            Op::Remove => "remove",
            Op::Replace => "replace",
        };
        json!({"op": op, "path": self.path.as_ref().map(ToString::to_string)})
    }
}

fn syntax(message: impl Into<String>) -> ScimError {
    ScimError::bad_request("invalidSyntax", message)
}

/// A member of an object whose name matches `key` ignoring case.
fn member<'v>(object: &'v Map<String, Value>, key: &str) -> Option<&'v Value> {
    object.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v)
}

/// Reads a `PatchOp` message.
pub(crate) fn parse(body: &Value) -> ScimResult<Vec<Operation>> {
    let body = body.as_object().ok_or_else(|| syntax("a PATCH body is a PatchOp object"))?;
    let declared = member(body, "schemas").and_then(Value::as_array).is_some_and(|schemas| {
        schemas.iter().any(|s| s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(PATCH_SCHEMA)))
    });
    if !declared {
        return Err(syntax(format!("a PATCH body's `schemas` must hold {PATCH_SCHEMA}")));
    }
    let Some(Value::Array(items)) = member(body, "Operations") else {
        return Err(syntax("a PATCH body needs `Operations`, a list of operations"));
    };
    if items.is_empty() {
        return Err(syntax("`Operations` is empty"));
    }
    let mut operations = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let at = format!("Operations[{index}]");
        let item = item.as_object().ok_or_else(|| syntax(format!("{at} must be an object")))?;
        let op = match member(item, "op").and_then(Value::as_str).map(str::to_ascii_lowercase).as_deref() {
            Some("add") => Op::Add,
            Some("remove") => Op::Remove,
            Some("replace") => Op::Replace,
            _ => return Err(syntax(format!("{at}.op must be add, remove or replace"))),
        };
        let path = match member(item, "path") {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) if text.trim().is_empty() => None,
            Some(Value::String(text)) => Some(text.parse::<PatchPath>().map_err(|e| {
                ScimError::bad_request("invalidPath", format!("{at}.path `{text}` is not a SCIM path: {e}"))
            })?),
            Some(other) => return Err(syntax(format!("{at}.path must be a string, not {other}"))),
        };
        let value = member(item, "value").cloned();
        if op == Op::Remove && path.is_none() {
            return Err(ScimError::bad_request("noTarget", format!("{at}: a remove needs a path")));
        }
        if op != Op::Remove && value.is_none() {
            return Err(ScimError::bad_request("invalidValue", format!("{at}: an {op:?} needs a value")));
        }
        operations.push(Operation { op, path, value });
    }
    Ok(operations)
}

/// Applies one operation to a stored resource of `kind`.
pub(crate) fn apply(kind: Kind, resource: &mut Map<String, Value>, operation: &Operation) -> ScimResult<()> {
    match &operation.path {
        Some(path) => at_path(kind, resource, operation.op, path, operation.value.as_ref()),
        None => {
            // Without a path, the value is an object of attributes (RFC 7644 §3.5.2.1), whose
            // names may be paths themselves, as some identity providers send them.
            let Some(Value::Object(members)) = &operation.value else {
                return Err(ScimError::bad_request(
                    "invalidValue",
                    "without a path, the value is an object of attributes",
                ));
            };
            for (key, value) in members.iter().filter(|(key, _)| !key.eq_ignore_ascii_case("schemas")) {
                let path = key.parse::<PatchPath>().map_err(|e| {
                    ScimError::bad_request("invalidPath", format!("`{key}` is not an attribute path: {e}"))
                })?;
                at_path(kind, resource, operation.op, &path, Some(value))?;
            }
            Ok(())
        }
    }
}

fn read_only(path: &dyn std::fmt::Display) -> ScimError {
    ScimError::bad_request("mutability", format!("`{path}` is read-only"))
}

/// The object holding an attribute: the resource, or its extension's object (made on demand).
fn holder<'r>(resource: &'r mut Map<String, Value>, container: Option<&str>) -> ScimResult<&'r mut Map<String, Value>> {
    let Some(urn) = container else { return Ok(resource) };
    resource
        .entry(urn.to_owned())
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .ok_or_else(|| ScimError::bad_request("invalidValue", format!("`{urn}` must be an object")))
}

fn drop_empty_extension(resource: &mut Map<String, Value>, container: Option<&str>) {
    if let Some(urn) = container
        && resource.get(urn).and_then(Value::as_object).is_some_and(Map::is_empty)
    {
        resource.remove(urn);
    }
}

fn at_path(
    kind: Kind,
    resource: &mut Map<String, Value>,
    op: Op,
    path: &PatchPath,
    value: Option<&Value>,
) -> ScimResult<()> {
    let attr_path = match path {
        PatchPath::Attr(p) => p,
        PatchPath::Value(v) => &v.attr,
    };
    let (container, attribute, sub) = match kind.resolve(attr_path)? {
        Resolved::Extension(urn) => {
            if op == Op::Remove {
                resource.remove(urn);
                return Ok(());
            }
            let Some(Value::Object(members)) = value else {
                return Err(ScimError::bad_request(
                    "invalidValue",
                    format!("`{urn}` takes an object of its attributes"),
                ));
            };
            // A serialised extension may carry its own `schemas`, which is no attribute.
            for (name, value) in members.iter().filter(|(name, _)| !name.eq_ignore_ascii_case("schemas")) {
                let inner = AttrPath { uri: Some(urn.to_owned()), name: name.clone(), sub_attr: None };
                at_path(kind, resource, op, &PatchPath::Attr(inner), Some(value))?;
            }
            return Ok(());
        }
        Resolved::Attribute { container, attribute, sub } => (container, attribute, sub),
    };
    if attribute.mutability == Mutability::ReadOnly || sub.is_some_and(|s| s.mutability == Mutability::ReadOnly) {
        return Err(read_only(path));
    }
    let holder = holder(resource, container)?;
    match path {
        PatchPath::Attr(_) => attribute_op(holder, attribute, sub, op, value)?,
        PatchPath::Value(value_path) => {
            if !(attribute.multi_valued && attribute.kind == Type::Complex) || sub.is_some() {
                return Err(ScimError::bad_request(
                    "invalidPath",
                    format!("`{path}`: a filter in brackets selects values of a multi-valued complex attribute"),
                ));
            }
            validate_values(attribute, &value_path.filter)?;
            let sub = match &value_path.sub_attr {
                Some(name) => Some(attribute.sub(name).ok_or_else(|| {
                    ScimError::bad_request(
                        "invalidPath",
                        format!("`{name}` is not a sub-attribute of `{}`", attribute.name),
                    )
                })?),
                None => None,
            };
            if let Some(sub) = sub
                && (sub.mutability == Mutability::ReadOnly
                    || (sub.mutability == Mutability::Immutable && op != Op::Add))
            {
                return Err(ScimError::bad_request("mutability", format!("`{path}` cannot be changed")));
            }
            values_op(holder, attribute, &value_path.filter, sub, op, value, path)?;
        }
    }
    drop_empty_extension(resource, container);
    Ok(())
}

fn as_items(value: Option<&Value>) -> Vec<Value> {
    match value {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.clone(),
        Some(other) => vec![other.clone()],
    }
}

/// Puts each member of `value` into `into` under the sub-attribute's own name.
fn merge(attribute: &Attribute, into: &mut Value, value: Option<&Value>) -> ScimResult<()> {
    let Some(Value::Object(members)) = value else {
        return Err(ScimError::bad_request(
            "invalidValue",
            format!("`{}` takes an object of sub-attributes", attribute.name),
        ));
    };
    if !into.is_object() {
        *into = json!({});
    }
    if let Value::Object(target) = into {
        for (key, value) in members {
            let name = attribute.sub(key).map_or_else(|| key.clone(), |s| s.name.clone());
            target.insert(name, value.clone());
        }
    }
    Ok(())
}

/// After values were added or replaced, at most one stays primary: the new one (RFC 7644 §3.5.2).
fn fix_primary(items: &mut [Value], changed: &[usize]) {
    let newest = changed.iter().rev().copied().find(|i| items[*i].get("primary") == Some(&Value::Bool(true)));
    if let Some(keep) = newest {
        for (index, item) in items.iter_mut().enumerate() {
            if index != keep
                && let Some(members) = item.as_object_mut()
                && members.get("primary") == Some(&Value::Bool(true))
            {
                members.insert("primary".into(), Value::Bool(false));
            }
        }
    }
}

fn attribute_op(
    holder: &mut Map<String, Value>,
    attribute: &Attribute,
    sub: Option<&Attribute>,
    op: Op,
    value: Option<&Value>,
) -> ScimResult<()> {
    let name = attribute.name.as_str();
    let Some(sub) = sub else {
        match op {
            Op::Remove if attribute.multi_valued && value.is_some() => {
                // Not in RFC 7644, but what some identity providers send to drop group members:
                // a remove without a filter, naming the values to remove.
                let gone: Vec<Value> = as_items(value).iter().filter_map(|v| v.get("value").cloned()).collect();
                if let Some(Value::Array(items)) = holder.get_mut(name) {
                    items.retain(|item| !item.get("value").is_some_and(|v| gone.contains(v)));
                }
            }
            Op::Remove => {
                holder.remove(name);
            }
            Op::Add if attribute.multi_valued => {
                let entry = holder.entry(name).or_insert_with(|| json!([]));
                if !entry.is_array() {
                    *entry = Value::Array(vec![entry.take()]);
                }
                if let Value::Array(items) = entry {
                    let mut changed = Vec::new();
                    for item in as_items(value) {
                        if !items.contains(&item) {
                            changed.push(items.len());
                            items.push(item);
                        }
                    }
                    fix_primary(items, &changed);
                }
            }
            Op::Replace if attribute.multi_valued => {
                holder.insert(name.to_owned(), Value::Array(as_items(value)));
            }
            Op::Add | Op::Replace if attribute.kind == Type::Complex => {
                // Sub-attributes the value leaves out stay as they were (RFC 7644 §3.5.2.3).
                merge(attribute, holder.entry(name).or_insert_with(|| json!({})), value)?;
            }
            Op::Add | Op::Replace => {
                holder.insert(name.to_owned(), value.cloned().unwrap_or(Value::Null));
            }
        }
        return Ok(());
    };
    // A sub-attribute: of the one value, or of every value of a multi-valued attribute.
    match holder.get_mut(name) {
        Some(Value::Array(items)) => {
            for item in items.iter_mut().filter_map(Value::as_object_mut) {
                set_sub(item, sub, op, value);
            }
        }
        Some(Value::Object(members)) => set_sub(members, sub, op, value),
        _ if op == Op::Remove => {}
        _ => {
            let mut members = Map::new();
            set_sub(&mut members, sub, op, value);
            let made = if attribute.multi_valued { json!([members]) } else { Value::Object(members) };
            holder.insert(name.to_owned(), made);
        }
    }
    if holder.get(name).is_some_and(|v| v.as_object().is_some_and(Map::is_empty)) {
        holder.remove(name);
    }
    Ok(())
}

fn set_sub(members: &mut Map<String, Value>, sub: &Attribute, op: Op, value: Option<&Value>) {
    match (op, value) {
        (Op::Remove, _) | (_, None) => {
            members.remove(&sub.name);
        }
        (_, Some(value)) => {
            members.insert(sub.name.clone(), value.clone());
        }
    }
}

/// The value a filter of `eq` comparisons describes (`type eq "work"` → `{"type": "work"}`), for
/// an add or replace whose filter matched nothing.
fn described(attribute: &Attribute, filter: &ValFilter) -> Option<Map<String, Value>> {
    let mut out = Map::new();
    let terms: Vec<&ValFilter> = match filter {
        ValFilter::And(items) => items.iter().collect(),
        other => vec![other],
    };
    for term in terms {
        let ValFilter::Attr(AttrExp::Comparison(path, CompareOp::Eq, expected)) = term else { return None };
        let sub = attribute.sub(&path.name)?;
        let value = match expected {
            CompValue::Str(s) => json!(s),
            CompValue::True => json!(true),
            CompValue::False => json!(false),
            CompValue::Number(n) => json!(n),
            CompValue::Null => return None,
        };
        out.insert(sub.name.clone(), value);
    }
    Some(out)
}

fn values_op(
    holder: &mut Map<String, Value>,
    attribute: &Attribute,
    filter: &ValFilter,
    sub: Option<&Attribute>,
    op: Op,
    value: Option<&Value>,
    path: &PatchPath,
) -> ScimResult<()> {
    let name = attribute.name.as_str();
    let entry = holder.entry(name).or_insert_with(|| json!([]));
    if !entry.is_array() {
        *entry = Value::Array(vec![entry.take()]);
    }
    let Value::Array(items) = entry else { return Ok(()) };
    let hits: Vec<usize> = (0..items.len()).filter(|i| value_matches(attribute, &items[*i], filter)).collect();
    if hits.is_empty() {
        let made = match (op, described(attribute, filter)) {
            (Op::Add | Op::Replace, Some(mut made)) => {
                match sub {
                    Some(sub) => set_sub(&mut made, sub, op, value),
                    None => {
                        let mut object = Value::Object(made);
                        merge(attribute, &mut object, value)?;
                        made = object.as_object().cloned().unwrap_or_default();
                    }
                }
                made
            }
            _ => {
                if items.is_empty() {
                    holder.remove(name);
                }
                return Err(ScimError::bad_request("noTarget", format!("no value of `{name}` matches `{path}`")));
            }
        };
        items.push(Value::Object(made));
        let last = items.len() - 1;
        fix_primary(items, &[last]);
        return Ok(());
    }
    for &index in hits.iter().rev() {
        match (op, sub) {
            (Op::Remove, None) => {
                items.remove(index);
            }
            (_, Some(sub)) => {
                if let Some(members) = items[index].as_object_mut() {
                    set_sub(members, sub, op, value);
                }
            }
            (Op::Replace, None) => {
                items[index] = value.cloned().unwrap_or(Value::Null);
            }
            (Op::Add, None) => merge(attribute, &mut items[index], value)?,
        }
    }
    if op != Op::Remove {
        fix_primary(items, &hits);
    }
    if items.is_empty() {
        holder.remove(name);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patched(resource: Value, operations: Value) -> ScimResult<Value> {
        let mut resource = resource.as_object().cloned().unwrap();
        let body = json!({"schemas": [PATCH_SCHEMA], "Operations": operations});
        for operation in parse(&body)? {
            apply(Kind::User, &mut resource, &operation)?;
        }
        Ok(Value::Object(resource))
    }

    #[test]
    fn operations_follow_rfc_7644() {
        let ada = json!({"userName": "ada", "emails": [{"value": "a@w", "type": "work", "primary": true}]});
        let done = patched(
            ada.clone(),
            json!([
                {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "b@w"},
                {"op": "add", "path": "emails", "value": [{"value": "c@h", "type": "home", "primary": true}]},
                {"op": "add", "path": "name.givenName", "value": "Ada"},
                {"op": "replace", "value": {"nickName": "al", "name.familyName": "Lovelace",
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "R&D"}}},
                {"op": "add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "555"},
            ]),
        )
        .unwrap();
        assert_eq!(
            done,
            json!({"userName": "ada",
                "emails": [{"value": "b@w", "type": "work", "primary": false}, {"value": "c@h", "type": "home", "primary": true}],
                "name": {"givenName": "Ada", "familyName": "Lovelace"}, "nickName": "al",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "R&D"},
                "phoneNumbers": [{"type": "mobile", "value": "555"}]})
        );
        let removed = patched(
            done,
            json!([
                {"op": "remove", "path": "emails[type eq \"work\"]"},
                {"op": "remove", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"},
                {"op": "remove", "path": "name.givenName"},
            ]),
        )
        .unwrap();
        assert_eq!(removed["emails"], json!([{"value": "c@h", "type": "home", "primary": true}]));
        assert_eq!(
            (removed.get("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"), &removed["name"]),
            (None, &json!({"familyName": "Lovelace"}))
        );
        for (operations, expected) in [
            (json!([{"op": "remove", "path": "emails[type eq \"fax\"]"}]), "noTarget"),
            (json!([{"op": "replace", "path": "groups", "value": []}]), "mutability"),
            (json!([{"op": "replace", "path": "id", "value": "x"}]), "mutability"),
            (json!([{"op": "remove"}]), "noTarget"),
            (json!([{"op": "copy", "path": "userName"}]), "invalidSyntax"),
            (json!([{"op": "add", "path": "nope", "value": 1}]), "invalidPath"),
        ] {
            let refused = patched(ada.clone(), operations.clone()).unwrap_err();
            assert_eq!(refused.scim_type, Some(expected), "{operations}: {}", refused.detail);
        }
    }
}
