//! Evaluating a compiled filter against an event: walking paths, testing expressions, and the
//! type rules of each operator (documented on [`super`]).

use std::borrow::Cow;
use std::cmp::Ordering;

use regex::Regex;
use serde_json::{Number, Value};

use super::{Expr, Function, Op, Operand, Path, Segment, Selector, Start};

/// Whether the filter's path selects anything in `event`.
pub(super) fn matches(path: &Path, event: &Value) -> bool {
    match path.function {
        None => !nodes(path, event, event).is_empty(),
        Some(_) => value(path, event, event).is_some(),
    }
}

/// What the filter's path selects in `event`: the nodes, or the function's one result.
pub(super) fn select(path: &Path, event: &Value) -> Vec<Value> {
    match path.function {
        None => nodes(path, event, event).into_iter().cloned().collect(),
        Some(_) => value(path, event, event).map(Cow::into_owned).into_iter().collect(),
    }
}

// ---------------------------------------------------------------------------------------------
// Paths

/// The nodes a path selects, before its function; `@` is `current`, `$` is `root`.
fn nodes<'v>(path: &Path, current: &'v Value, root: &'v Value) -> Vec<&'v Value> {
    let mut nodes = vec![if path.start == Start::Root { root } else { current }];
    for segment in &path.segments {
        let mut next = Vec::new();
        for node in nodes {
            match segment {
                Segment::Child(selector) => child(selector, node, root, &mut next),
                Segment::Descendant(selector) => descendant(selector, node, root, &mut next),
            }
        }
        if next.is_empty() {
            return next;
        }
        nodes = next;
    }
    nodes
}

/// The selector applied to one node.
fn child<'v>(selector: &Selector, node: &'v Value, root: &'v Value, out: &mut Vec<&'v Value>) {
    match (selector, node) {
        (Selector::Names(names), Value::Object(members)) => out.extend(names.iter().filter_map(|n| members.get(n))),
        (Selector::Wildcard, Value::Array(items)) => out.extend(items),
        (Selector::Wildcard, Value::Object(members)) => out.extend(members.values()),
        (Selector::Indices(indices), Value::Array(items)) => {
            out.extend(indices.iter().filter_map(|&index| item(items, index)));
        }
        (Selector::Slice { start, end }, Value::Array(items)) => {
            let len = i64::try_from(items.len()).unwrap_or(i64::MAX);
            let bound = |at: Option<i64>, default: i64| {
                let at = at.map_or(default, |at| if at < 0 { len.saturating_add(at) } else { at });
                usize::try_from(at.clamp(0, len)).unwrap_or(0)
            };
            let (from, to) = (bound(*start, 0), bound(*end, len));
            out.extend(items.get(from..to).unwrap_or_default());
        }
        // On an array a filter keeps the items it accepts; on an object it tests the object.
        (Selector::Filter(expr), Value::Array(items)) => out.extend(items.iter().filter(|item| test(expr, item, root))),
        (Selector::Filter(expr), Value::Object(_)) if test(expr, node, root) => out.push(node),
        _ => {}
    }
}

/// The selector applied to `node` and everything below it, in document order (`..`). A filter
/// tests each object at or below the node, as Jayway's scan does.
fn descendant<'v>(selector: &Selector, node: &'v Value, root: &'v Value, out: &mut Vec<&'v Value>) {
    // Iterative, so a deeply nested event cannot exhaust the stack.
    let mut pending = vec![node];
    while let Some(node) = pending.pop() {
        match selector {
            Selector::Filter(expr) => {
                if node.is_object() && test(expr, node, root) {
                    out.push(node);
                }
            }
            _ => child(selector, node, root, out),
        }
        match node {
            Value::Array(items) => pending.extend(items.iter().rev()),
            Value::Object(members) => pending.extend(members.values().rev()),
            _ => {}
        }
    }
}

/// `items[index]`, a negative index counting from the end.
fn item(items: &[Value], index: i64) -> Option<&Value> {
    let index = if index < 0 { i64::try_from(items.len()).ok()?.checked_add(index)? } else { index };
    items.get(usize::try_from(index).ok()?)
}

/// A path's value in an expression: a definite path's one node (or `None`, missing), any other
/// path's nodes as an array; then its function, if it has one.
fn value<'v>(path: &Path, current: &'v Value, root: &'v Value) -> Option<Cow<'v, Value>> {
    let nodes = nodes(path, current, root);
    let value = if path.is_definite() {
        Cow::Borrowed(*nodes.first()?)
    } else {
        Cow::Owned(Value::Array(nodes.into_iter().cloned().collect()))
    };
    match path.function {
        None => Some(value),
        Some(function) => apply(function, &value).map(Cow::Owned),
    }
}

fn apply(function: Function, value: &Value) -> Option<Value> {
    let numbers = || -> Option<Vec<f64>> {
        let numbers: Vec<f64> = value.as_array()?.iter().filter_map(Value::as_f64).collect();
        (!numbers.is_empty()).then_some(numbers)
    };
    let float = |x: f64| Number::from_f64(x).map(Value::Number);
    match function {
        Function::Length => match value {
            Value::Array(items) => Some(items.len().into()),
            Value::Object(members) => Some(members.len().into()),
            Value::String(text) => Some(text.chars().count().into()),
            _ => None,
        },
        Function::Min => float(numbers()?.into_iter().fold(f64::INFINITY, f64::min)),
        Function::Max => float(numbers()?.into_iter().fold(f64::NEG_INFINITY, f64::max)),
        Function::Sum => float(numbers()?.into_iter().sum()),
        Function::Avg => {
            let numbers = numbers()?;
            float(numbers.iter().sum::<f64>() / numbers.len() as f64)
        }
        Function::StdDev => {
            // The population standard deviation, as Jayway computes it.
            let numbers = numbers()?;
            let count = numbers.len() as f64;
            let mean = numbers.iter().sum::<f64>() / count;
            float((numbers.iter().map(|x| x * x).sum::<f64>() / count - mean * mean).max(0.0).sqrt())
        }
        Function::First => value.as_array()?.first().cloned(),
        Function::Last => value.as_array()?.last().cloned(),
        Function::Keys => Some(Value::Array(value.as_object()?.keys().cloned().map(Value::String).collect())),
    }
}

// ---------------------------------------------------------------------------------------------
// Expressions

/// Whether the expression accepts `current`.
fn test(expr: &Expr, current: &Value, root: &Value) -> bool {
    match expr {
        Expr::Or(terms) => terms.iter().any(|term| test(term, current, root)),
        Expr::And(terms) => terms.iter().all(|term| test(term, current, root)),
        Expr::Not(inner) => !test(inner, current, root),
        Expr::Exists(path) => match path.function {
            None => !nodes(path, current, root).is_empty(),
            Some(_) => value(path, current, root).is_some(),
        },
        Expr::Compare { left, op, right } => compare(left, *op, right, current, root),
    }
}

fn operand<'v>(operand: &'v Operand, current: &'v Value, root: &'v Value) -> Option<Cow<'v, Value>> {
    match operand {
        Operand::Path(path) => value(path, current, root),
        Operand::Literal(value) => Some(Cow::Borrowed(value)),
        Operand::Regex(_) => None,
    }
}

fn compare(left: &Operand, op: Op, right: &Operand, current: &Value, root: &Value) -> bool {
    if op == Op::Matches {
        return match (left, right) {
            (Operand::Regex(regex), other) | (other, Operand::Regex(regex)) => {
                operand(other, current, root).is_some_and(|value| regex_matches(regex, &value))
            }
            _ => false,
        };
    }
    let left = operand(left, current, root);
    let right = operand(right, current, root);
    let (left, right) = (left.as_deref(), right.as_deref());
    let both = |test: &dyn Fn(&Value, &Value) -> bool| matches!((left, right), (Some(l), Some(r)) if test(l, r));
    let ordered = |wanted: fn(Ordering) -> bool| both(&|l, r| order(l, r).is_some_and(wanted));
    let arrays = |test: fn(&[Value], &[Value]) -> bool| match (left, right) {
        (Some(Value::Array(l)), Some(Value::Array(r))) => test(l, r),
        _ => false,
    };
    match op {
        Op::Eq => both(&equal),
        Op::Ne => !both(&equal),
        Op::StrictEq => both(&strict_equal),
        Op::StrictNe => !both(&strict_equal),
        Op::Lt => ordered(Ordering::is_lt),
        Op::Le => ordered(Ordering::is_le),
        Op::Gt => ordered(Ordering::is_gt),
        Op::Ge => ordered(Ordering::is_ge),
        Op::In => match right {
            Some(Value::Array(items)) => left.is_some_and(|l| contains(items, l)),
            _ => false,
        },
        Op::Nin => match right {
            Some(Value::Array(items)) => !left.is_some_and(|l| contains(items, l)),
            _ => false,
        },
        Op::SubsetOf => arrays(|l, r| l.iter().all(|x| contains(r, x))),
        Op::All => arrays(|l, r| r.iter().all(|x| contains(l, x))),
        Op::AnyOf => arrays(|l, r| l.iter().any(|x| contains(r, x))),
        Op::NoneOf => arrays(|l, r| !l.iter().any(|x| contains(r, x))),
        Op::Size => {
            let size = match left {
                Some(Value::String(text)) => text.chars().count(),
                Some(Value::Array(items)) => items.len(),
                _ => return false,
            };
            // Jayway reads the expected size with `intValue()`, dropping any fraction.
            right.and_then(Value::as_f64).is_some_and(|wanted| size as f64 == wanted.trunc())
        }
        Op::Empty => {
            let empty = match left {
                Some(Value::String(text)) => text.is_empty(),
                Some(Value::Array(items)) => items.is_empty(),
                Some(Value::Object(members)) => members.is_empty(),
                _ => return false,
            };
            right.and_then(Value::as_bool) == Some(empty)
        }
        Op::Contains => match (left, right) {
            (Some(Value::String(text)), Some(Value::String(part))) => text.contains(part.as_str()),
            (Some(Value::Array(items)), Some(wanted)) => contains(items, wanted),
            _ => false,
        },
        Op::Matches => false,
    }
}

fn contains(items: &[Value], wanted: &Value) -> bool {
    items.iter().any(|item| equal(wanted, item))
}

/// `==`: [`strict_equal`], or a string that reads as the number it is compared with.
fn equal(left: &Value, right: &Value) -> bool {
    match (left, right) {
        (Value::String(text), Value::Number(number)) | (Value::Number(number), Value::String(text)) => {
            numeric_reading(text).is_some_and(|read| number_order(&read, number) == Some(Ordering::Equal))
        }
        _ => strict_equal(left, right),
    }
}

/// Same JSON type and same value; numbers numerically (`1 === 1.0`), containers item by item.
fn strict_equal(left: &Value, right: &Value) -> bool {
    match (left, right) {
        (Value::Number(l), Value::Number(r)) => number_order(l, r) == Some(Ordering::Equal),
        (Value::Array(l), Value::Array(r)) => l.len() == r.len() && l.iter().zip(r).all(|(l, r)| strict_equal(l, r)),
        (Value::Object(l), Value::Object(r)) => {
            l.len() == r.len() && l.iter().all(|(key, l)| r.get(key).is_some_and(|r| strict_equal(l, r)))
        }
        _ => left == right,
    }
}

/// The order `<` and friends use, or `None` when the pair is not ordered. Strings compare by
/// code point (Java compares UTF-16 units; the two differ only above U+FFFF against U+E000…).
fn order(left: &Value, right: &Value) -> Option<Ordering> {
    match (left, right) {
        (Value::Number(l), Value::Number(r)) => number_order(l, r),
        (Value::String(l), Value::String(r)) => Some(l.cmp(r)),
        // Jayway compares a string with a number's text.
        (Value::String(l), Value::Number(r)) => Some(l.as_str().cmp(r.to_string().as_str())),
        (Value::Number(l), Value::String(r)) => Some(l.to_string().as_str().cmp(r.as_str())),
        _ => None,
    }
}

/// Integers exactly, anything else as 64-bit floats.
fn number_order(left: &Number, right: &Number) -> Option<Ordering> {
    let integer = |n: &Number| n.as_i64().map(i128::from).or_else(|| n.as_u64().map(i128::from));
    match (integer(left), integer(right)) {
        (Some(l), Some(r)) => Some(l.cmp(&r)),
        _ => left.as_f64()?.partial_cmp(&right.as_f64()?),
    }
}

/// The number a string spells (`"42"`, `"-1.5"`, `"2e3"`), as Java's `BigDecimal` would read it.
fn numeric_reading(text: &str) -> Option<Number> {
    let plausible = text.bytes().any(|b| b.is_ascii_digit())
        && text.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E'));
    if !plausible {
        return None;
    }
    text.parse::<i64>()
        .ok()
        .map(Number::from)
        .or_else(|| text.parse::<u64>().ok().map(Number::from))
        .or_else(|| text.parse::<f64>().ok().and_then(Number::from_f64))
}

/// `=~`: the whole text of a string, number or boolean matches (the regex is anchored when
/// compiled); an array matches when one of its items does. Nothing else matches.
fn regex_matches(regex: &Regex, value: &Value) -> bool {
    let matches_scalar = |value: &Value| match value {
        Value::String(text) => regex.is_match(text),
        Value::Number(number) => regex.is_match(&number.to_string()),
        Value::Bool(flag) => regex.is_match(if *flag { "true" } else { "false" }),
        _ => false,
    };
    match value {
        Value::Array(items) => items.iter().any(matches_scalar),
        other => matches_scalar(other),
    }
}
