//! SCIM filters (RFC 7644 §3.4.2.2) evaluated on rendered resources, and `sortBy` (§3.4.2.3).
//! The grammar is `scim_v2`'s parser; what a comparison means comes from the attribute's schema:
//! strings ignore case unless `caseExact`, dateTimes compare as instants, booleans take only `eq`
//! and `ne`, and a complex attribute without a sub-attribute compares its `value`.

use std::cmp::Ordering;

use scim_v2::filter::{AttrExp, AttrPath, CompValue, CompareOp, Filter, ValFilter};
use serde_json::{Map, Value};

use super::schema::{Attribute, Kind, Resolved, Type};
use super::{ScimError, ScimResult};

fn invalid(message: String) -> ScimError {
    ScimError::bad_request("invalidFilter", message)
}

/// Parses `text`, or 400 `invalidFilter` saying where it went wrong.
pub(crate) fn parse(text: &str) -> ScimResult<Filter> {
    text.parse::<Filter>().map_err(|e| invalid(format!("`{text}` is not a SCIM filter: {e}")))
}

/// The attribute a path compares (the `value` of a complex attribute named alone), and where it is.
fn leaf(
    kind: Kind,
    path: &AttrPath,
) -> ScimResult<(Option<&'static str>, &'static Attribute, Option<&'static Attribute>)> {
    match kind.resolve(path) {
        Ok(Resolved::Attribute { container, attribute, sub }) => {
            let sub = match (sub, attribute.kind) {
                (Some(sub), _) => Some(sub),
                (None, Type::Complex) => Some(attribute.sub("value").ok_or_else(|| {
                    invalid(format!("`{path}` is complex: name one of its sub-attributes, as in {path}.<name>"))
                })?),
                (None, _) => None,
            };
            Ok((container, attribute, sub))
        }
        Ok(Resolved::Extension(urn)) => Err(invalid(format!("`{urn}` is an extension: name one of its attributes"))),
        Err(error) => Err(invalid(error.detail)),
    }
}

fn check_op(attribute: &Attribute, op: &CompareOp, path: &dyn std::fmt::Display) -> ScimResult<()> {
    let ordering = matches!(op, CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le);
    let text = matches!(op, CompareOp::Co | CompareOp::Sw | CompareOp::Ew);
    match attribute.kind {
        Type::Boolean | Type::Binary if ordering => {
            Err(invalid(format!("`{path}` cannot be compared with `{op}`: it is a {:?}", attribute.kind)))
        }
        Type::Boolean | Type::Integer | Type::Decimal if text => {
            Err(invalid(format!("`{path}` is not text, so `{op}` does not apply to it")))
        }
        _ => Ok(()),
    }
}

/// Refuses a filter naming an attribute `kind` does not have, or comparing one in a way its
/// type does not allow.
pub(crate) fn validate(kind: Kind, filter: &Filter) -> ScimResult<()> {
    match filter {
        Filter::Attr(AttrExp::Present(path)) => leaf(kind, path).map(|_| ()),
        Filter::Attr(AttrExp::Comparison(path, op, _)) => {
            let (_, attribute, sub) = leaf(kind, path)?;
            check_op(sub.unwrap_or(attribute), op, path)
        }
        Filter::ValuePath(value_path) => {
            let (_, attribute, _) = leaf(kind, &value_path.attr)?;
            if attribute.kind != Type::Complex {
                return Err(invalid(format!("`{}[…]` needs a complex attribute", value_path.attr)));
            }
            validate_values(attribute, &value_path.filter)
        }
        Filter::Not(inner) => validate(kind, inner),
        Filter::And(items) | Filter::Or(items) => items.iter().try_for_each(|f| validate(kind, f)),
    }
}

/// The same for a filter on the values of `attribute` (inside `[…]`).
pub(crate) fn validate_values(attribute: &Attribute, filter: &ValFilter) -> ScimResult<()> {
    let sub_of = |path: &AttrPath| {
        attribute
            .sub(&path.name)
            .filter(|_| path.sub_attr.is_none())
            .ok_or_else(|| invalid(format!("`{path}` is not a sub-attribute of `{}`", attribute.name)))
    };
    match filter {
        ValFilter::Attr(AttrExp::Present(path)) => sub_of(path).map(|_| ()),
        ValFilter::Attr(AttrExp::Comparison(path, op, _)) => check_op(sub_of(path)?, op, path),
        ValFilter::Not(inner) => validate_values(attribute, inner),
        ValFilter::And(items) | ValFilter::Or(items) => items.iter().try_for_each(|f| validate_values(attribute, f)),
    }
}

/// The elements of `name` in `holder`: each value of a multi-valued attribute, or the one value.
fn elements<'r>(holder: &'r Map<String, Value>, attribute: &Attribute) -> Vec<&'r Value> {
    match holder.get(&attribute.name) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.iter().collect(),
        Some(value) => vec![value],
    }
}

/// The values a path compares in a resource, with the attribute that types them.
fn values<'r>(
    kind: Kind,
    resource: &'r Map<String, Value>,
    path: &AttrPath,
) -> Option<(&'static Attribute, Vec<&'r Value>)> {
    let (container, attribute, sub) = leaf(kind, path).ok()?;
    let holder = match container {
        Some(urn) => resource.get(urn)?.as_object()?,
        None => resource,
    };
    let found = elements(holder, attribute);
    match sub {
        None => Some((attribute, found)),
        Some(sub) => Some((sub, found.into_iter().filter_map(|e| e.get(&sub.name)).collect())),
    }
}

fn present(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        _ => true,
    }
}

fn instant(text: &str) -> Option<chrono::DateTime<chrono::FixedOffset>> {
    chrono::DateTime::parse_from_rfc3339(text).ok()
}

/// How `actual` orders against `expected` for `attribute`, when they are comparable.
fn order(attribute: &Attribute, actual: &Value, expected: &Value) -> Option<Ordering> {
    match (actual, expected) {
        (Value::String(a), Value::String(e)) => {
            if attribute.kind == Type::DateTime
                && let (Some(a), Some(e)) = (instant(a), instant(e))
            {
                return Some(a.cmp(&e));
            }
            if attribute.case_exact { Some(a.cmp(e)) } else { Some(a.to_lowercase().cmp(&e.to_lowercase())) }
        }
        (Value::Number(a), Value::Number(e)) => a.as_f64()?.partial_cmp(&e.as_f64()?),
        (Value::Bool(a), Value::Bool(e)) => Some(a.cmp(e)),
        _ => None,
    }
}

fn compare(attribute: &Attribute, actual: &Value, op: &CompareOp, expected: &CompValue) -> bool {
    let expected = match expected {
        CompValue::Null => return false,
        CompValue::True => Value::Bool(true),
        CompValue::False => Value::Bool(false),
        CompValue::Number(n) => Value::Number(n.clone()),
        CompValue::Str(s) => Value::String(s.clone()),
    };
    if let (CompareOp::Co | CompareOp::Sw | CompareOp::Ew, Value::String(a), Value::String(e)) = (op, actual, &expected)
    {
        let (a, e) = if attribute.case_exact { (a.clone(), e.clone()) } else { (a.to_lowercase(), e.to_lowercase()) };
        return match op {
            CompareOp::Co => a.contains(&e),
            CompareOp::Sw => a.starts_with(&e),
            _ => a.ends_with(&e),
        };
    }
    let Some(ordering) = order(attribute, actual, &expected) else { return false };
    match op {
        CompareOp::Eq => ordering == Ordering::Equal,
        CompareOp::Gt => ordering == Ordering::Greater,
        CompareOp::Ge => ordering != Ordering::Less,
        CompareOp::Lt => ordering == Ordering::Less,
        CompareOp::Le => ordering != Ordering::Greater,
        _ => false,
    }
}

/// Whether one attribute's values satisfy a comparison: `eq` (and the others) when any value
/// does, `ne` when none equals; `eq null` means unassigned.
fn satisfied(attribute: &Attribute, found: &[&Value], op: &CompareOp, expected: &CompValue) -> bool {
    match (op, expected) {
        (CompareOp::Eq, CompValue::Null) => !found.iter().any(|v| present(v)),
        (CompareOp::Ne, CompValue::Null) => found.iter().any(|v| present(v)),
        (CompareOp::Ne, _) => !found.iter().any(|v| compare(attribute, v, &CompareOp::Eq, expected)),
        _ => found.iter().any(|v| compare(attribute, v, op, expected)),
    }
}

/// Whether a rendered resource of `kind` matches a filter; an attribute the kind does not have
/// matches nothing (a search over several kinds asks each).
pub(crate) fn matches(kind: Kind, resource: &Map<String, Value>, filter: &Filter) -> bool {
    match filter {
        Filter::Attr(AttrExp::Present(path)) => {
            values(kind, resource, path).is_some_and(|(_, found)| found.iter().any(|v| present(v)))
        }
        Filter::Attr(AttrExp::Comparison(path, op, expected)) => match values(kind, resource, path) {
            Some((attribute, found)) => satisfied(attribute, &found, op, expected),
            None => false,
        },
        Filter::ValuePath(value_path) => {
            let Ok((container, attribute, _)) = leaf(kind, &value_path.attr) else { return false };
            let holder = match container {
                Some(urn) => resource.get(urn).and_then(Value::as_object),
                None => Some(resource),
            };
            holder
                .is_some_and(|h| elements(h, attribute).iter().any(|e| value_matches(attribute, e, &value_path.filter)))
        }
        Filter::Not(inner) => !matches(kind, resource, inner),
        Filter::And(items) => items.iter().all(|f| matches(kind, resource, f)),
        Filter::Or(items) => items.iter().any(|f| matches(kind, resource, f)),
    }
}

/// Whether one value of the complex attribute `attribute` matches a `[…]` filter.
pub(crate) fn value_matches(attribute: &Attribute, element: &Value, filter: &ValFilter) -> bool {
    let found = |path: &AttrPath| -> Option<(&Attribute, Vec<&Value>)> {
        let sub = attribute.sub(&path.name)?;
        let value = element.as_object()?.iter().find(|(k, _)| k.eq_ignore_ascii_case(&sub.name)).map(|(_, v)| v);
        Some((sub, value.into_iter().collect()))
    };
    match filter {
        ValFilter::Attr(AttrExp::Present(path)) => found(path).is_some_and(|(_, v)| v.iter().any(|v| present(v))),
        ValFilter::Attr(AttrExp::Comparison(path, op, expected)) => match found(path) {
            Some((sub, values)) => satisfied(sub, &values, op, expected),
            None => matches!(op, CompareOp::Ne),
        },
        ValFilter::Not(inner) => !value_matches(attribute, element, inner),
        ValFilter::And(items) => items.iter().all(|f| value_matches(attribute, element, f)),
        ValFilter::Or(items) => items.iter().any(|f| value_matches(attribute, element, f)),
    }
}

/// What a resource sorts by: the path's value, for a multi-valued attribute its primary value
/// or else its first (RFC 7644 §3.4.2.3).
fn sort_value<'r>(
    kind: Kind,
    resource: &'r Map<String, Value>,
    path: &AttrPath,
) -> Option<(&'static Attribute, &'r Value)> {
    let (container, attribute, sub) = leaf(kind, path).ok()?;
    let holder = match container {
        Some(urn) => resource.get(urn)?.as_object()?,
        None => resource,
    };
    let found = elements(holder, attribute);
    let element = found.iter().find(|e| e.get("primary") == Some(&Value::Bool(true))).or(found.first())?;
    match sub {
        Some(sub) => element.get(&sub.name).map(|v| (sub, v)),
        None => Some((attribute, *element)),
    }
}

/// Sorts resources by `path`; resources without a value come last either way.
pub(crate) fn sort(resources: &mut [(Kind, Map<String, Value>)], path: &AttrPath, descending: bool) {
    resources.sort_by(|(ka, a), (kb, b)| match (sort_value(*ka, a, path), sort_value(*kb, b, path)) {
        (Some((attribute, x)), Some((_, y))) => {
            let ordering = order(attribute, x, y).unwrap_or(Ordering::Equal);
            if descending { ordering.reverse() } else { ordering }
        }
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    });
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn check(filter: &str, resource: &Value) -> bool {
        let filter = parse(filter).unwrap();
        validate(Kind::User, &filter).unwrap();
        matches(Kind::User, resource.as_object().unwrap(), &filter)
    }

    #[test]
    fn filters_follow_the_schema() {
        let ada = json!({"userName": "Ada", "id": "A1", "active": true, "title": "",
            "emails": [{"value": "ada@work.example", "type": "work"}, {"value": "ada@home.example", "type": "home"}],
            "meta": {"lastModified": "2024-01-02T00:00:00Z"},
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "R&D"}});
        for (filter, expected) in [
            (r#"userName eq "ada""#, true),
            (r#"id eq "a1""#, false),
            (r#"userName ne "ada""#, false),
            (r#"emails co "HOME""#, true),
            (r#"emails[type eq "work" and value ew "@work.example"]"#, true),
            (r#"emails[type eq "work" and value sw "x"]"#, false),
            (r#"emails.type sw "ho""#, true),
            ("title pr", false),
            ("nickName pr or active eq true", true),
            ("not (active eq true)", false),
            (r#"meta.lastModified gt "2024-01-01T23:00:00-02:00""#, false),
            (r#"meta.lastModified ge "2024-01-01T00:00:00Z""#, true),
            (r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "r&d""#, true),
            (r#"department eq "R&D""#, true),
            ("nickName eq null", true),
        ] {
            assert_eq!(check(filter, &ada), expected, "{filter}");
        }
        for bad in ["active gt true", r#"nope eq "x""#, r#"userName co 3 and name eq "x""#, "emails[nope pr]"] {
            let refused = parse(bad).and_then(|f| validate(Kind::User, &f));
            assert!(refused.is_err(), "{bad}");
        }
    }
}
