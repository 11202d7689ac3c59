//! Document mutations for the malformed-input properties: the `Mutation` type and its strategy,
//! paths into a document and lookups along them, and `mutate`, which applies one mutation.

use std::collections::HashSet;

use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{Map, Value, json};

use super::Sample;
use super::strategies::{garbage_path, json_value, path_key, step_name, word};

/// One step from a value to a value inside it.
#[derive(Debug, Clone, PartialEq)]
enum Seg {
    Key(String),
    Item(usize),
}

/// Members that shape a workflow, rather than an action's free-form attributes.
const STRUCTURAL: &[&str] = &[
    "name",
    "definition",
    "trigger",
    "start",
    "steps",
    "type",
    "actionId",
    "attributes",
    "nextStep",
    "defaultStep",
    "choiceList",
    "comparator",
    "variableA",
    "variableA.$",
    "variableB",
    "variableB.$",
    "catch",
    "next",
    "failureName",
    "variables",
    "transforms",
    "id",
    "input",
    "input.$",
    "context",
    "context.$",
    "parallelism",
    "duration",
    "date",
    "time",
    "cronString",
    "frequency",
    "filter.$",
];

const LINKS: &[&str] = &["start", "nextStep", "defaultStep", "next"];

#[derive(Debug, Clone)]
pub(crate) enum Mutation {
    /// Removes an object member or an array item.
    Delete { at: Index, focus: bool },
    /// Replaces a value with one of another type.
    Retype { at: Index, focus: bool, with: Value },
    /// Replaces a string with another string.
    Reword { at: Index, focus: bool, with: String },
    /// Renames a step; `follow` also renames the references to it.
    Rename { at: Index, to: String, follow: bool },
    /// Points a `start`, `nextStep`, `defaultStep` or `catch.next` at a step that does not exist.
    Dangle { at: Index, name: String },
    /// Points a `start`, `nextStep`, `defaultStep` or `catch.next` at another existing step.
    Relink { at: Index, to: Index },
    /// Sets a `.$` key (an existing one, or `key`) of an object to a malformed path.
    GarbagePath { at: Index, which: Index, key: Option<String>, path: String },
    /// Wraps a value in an array.
    Wrap { at: Index, focus: bool },
    /// Replaces an array with its first item.
    Unwrap { at: Index },
    /// Buries a value `depth` arrays or objects deep.
    Nest { at: Index, focus: bool, depth: usize, objects: bool },
}

pub(crate) fn mutation() -> impl Strategy<Value = Mutation> {
    let focus = prop::bool::weighted(0.75);
    prop_oneof![
        (any::<Index>(), focus).prop_map(|(at, focus)| Mutation::Delete { at, focus }),
        (any::<Index>(), focus, json_value()).prop_map(|(at, focus, with)| Mutation::Retype { at, focus, with }),
        (any::<Index>(), focus, word()).prop_map(|(at, focus, with)| Mutation::Reword { at, focus, with }),
        (any::<Index>(), step_name(), any::<bool>()).prop_map(|(at, to, follow)| Mutation::Rename { at, to, follow }),
        (any::<Index>(), step_name()).prop_map(|(at, name)| Mutation::Dangle { at, name }),
        (any::<Index>(), any::<Index>()).prop_map(|(at, to)| Mutation::Relink { at, to }),
        (any::<Index>(), any::<Index>(), prop::option::of(path_key()), garbage_path())
            .prop_map(|(at, which, key, path)| Mutation::GarbagePath { at, which, key, path }),
        (any::<Index>(), focus).prop_map(|(at, focus)| Mutation::Wrap { at, focus }),
        any::<Index>().prop_map(|at| Mutation::Unwrap { at }),
        (any::<Index>(), focus, 1..=200usize, any::<bool>()).prop_map(|(at, focus, depth, objects)| Mutation::Nest {
            at,
            focus,
            depth,
            objects
        }),
    ]
}

fn paths(document: &Value) -> Vec<Vec<Seg>> {
    fn walk(value: &Value, path: &mut Vec<Seg>, out: &mut Vec<Vec<Seg>>) {
        out.push(path.clone());
        match value {
            Value::Object(members) => {
                for (key, member) in members {
                    path.push(Seg::Key(key.clone()));
                    walk(member, path, out);
                    path.pop();
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    path.push(Seg::Item(i));
                    walk(item, path, out);
                    path.pop();
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(document, &mut Vec::new(), &mut out);
    out
}

fn lookup<'v>(document: &'v Value, path: &[Seg]) -> Option<&'v Value> {
    path.iter().try_fold(document, |value, seg| match seg {
        Seg::Key(key) => value.get(key),
        Seg::Item(i) => value.get(i),
    })
}

fn lookup_mut<'v>(document: &'v mut Value, path: &[Seg]) -> Option<&'v mut Value> {
    path.iter().try_fold(document, |value, seg| match seg {
        Seg::Key(key) => value.get_mut(key),
        Seg::Item(i) => value.get_mut(i),
    })
}

fn last_key(path: &[Seg]) -> Option<&str> {
    match path.last() {
        Some(Seg::Key(key)) => Some(key),
        _ => None,
    }
}

/// A step: a member of a `steps` map.
fn is_step(path: &[Seg]) -> bool {
    matches!(path, [.., Seg::Key(parent), Seg::Key(_)] if parent == "steps")
}

fn is_link(path: &[Seg]) -> bool {
    last_key(path).is_some_and(|k| LINKS.contains(&k))
}

fn is_structural(path: &[Seg]) -> bool {
    path.is_empty()
        || last_key(path).is_some_and(|k| STRUCTURAL.contains(&k))
        || is_step(path)
        || matches!(path, [.., Seg::Key(parent), Seg::Item(_)]
            if ["choiceList", "catch", "variables", "transforms"].contains(&parent.as_str()))
}

/// An object that holds paths: one with a `.$` key, or attributes, a choice, a variable.
fn holds_paths(document: &Value, path: &[Seg]) -> bool {
    let Some(Value::Object(members)) = lookup(document, path) else {
        return false;
    };
    members.keys().any(|k| k.ends_with(".$"))
        || last_key(path) == Some("attributes")
        || matches!(path, [.., Seg::Key(parent), Seg::Item(_)]
            if parent == "choiceList" || parent == "variables")
}

fn pick(paths: &[Vec<Seg>], at: &Index, keep: impl Fn(&[Seg]) -> bool) -> Option<Vec<Seg>> {
    let pool: Vec<&Vec<Seg>> = paths.iter().filter(|p| keep(p)).collect();
    (!pool.is_empty()).then(|| at.get(&pool).to_vec())
}

fn step_names(document: &Value) -> HashSet<String> {
    paths(document).into_iter().filter(|p| is_step(p)).filter_map(|p| last_key(&p).map(str::to_owned)).collect()
}

/// `with`, or a value of the next type round when `with` has the type of `old`.
fn retyped(old: &Value, with: &Value) -> Value {
    if std::mem::discriminant(old) != std::mem::discriminant(with) {
        return with.clone();
    }
    match old {
        Value::Null => json!(false),
        Value::Bool(_) => json!(0),
        Value::Number(_) => json!(""),
        Value::String(_) => json!([]),
        Value::Array(_) => json!({}),
        Value::Object(_) => Value::Null,
    }
}

/// Renames every reference to step `old` (a `start`, `nextStep`, `defaultStep` or `next`).
fn retarget(value: &mut Value, old: &str, new: &str) {
    match value {
        Value::Object(members) => {
            for (key, member) in members.iter_mut() {
                if LINKS.contains(&key.as_str()) && member.as_str() == Some(old) {
                    *member = Value::String(new.to_owned());
                } else {
                    retarget(member, old, new);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| retarget(item, old, new)),
        _ => {}
    }
}

fn mutate(document: &mut Value, mutation: &Mutation) {
    let all = paths(document);
    let focused = |focus: bool| move |p: &[Seg]| !focus || is_structural(p);
    match mutation {
        Mutation::Delete { at, focus } => {
            let keep = focused(*focus);
            let Some(path) = pick(&all, at, |p| !p.is_empty() && keep(p)) else {
                return;
            };
            let Some((last, parent)) = path.split_last() else {
                return;
            };
            match (lookup_mut(document, parent), last) {
                (Some(Value::Object(members)), Seg::Key(key)) => {
                    members.shift_remove(key);
                }
                (Some(Value::Array(items)), Seg::Item(i)) => {
                    items.remove(*i);
                }
                _ => {}
            }
        }
        Mutation::Retype { at, focus, with } => {
            if let Some(path) = pick(&all, at, focused(*focus))
                && let Some(target) = lookup_mut(document, &path)
            {
                *target = retyped(target, with);
            }
        }
        Mutation::Reword { at, focus, with } => {
            let keep = focused(*focus);
            let strings = |p: &[Seg]| keep(p) && lookup(document, p).is_some_and(Value::is_string);
            if let Some(path) = pick(&all, at, strings)
                && let Some(target) = lookup_mut(document, &path)
            {
                *target = Value::String(with.clone());
            }
        }
        Mutation::Rename { at, to, follow } => {
            let Some(path) = pick(&all, at, is_step) else {
                return;
            };
            let Some((Seg::Key(old), parent)) = path.split_last() else {
                return;
            };
            if let Some(Value::Object(steps)) = lookup_mut(document, parent) {
                *steps = std::mem::take(steps)
                    .into_iter()
                    .map(|(k, v)| if &k == old { (to.clone(), v) } else { (k, v) })
                    .collect::<Map<_, _>>();
            }
            if *follow {
                retarget(document, old, to);
            }
        }
        Mutation::Dangle { at, name } => {
            let Some(path) = pick(&all, at, is_link) else {
                return;
            };
            let names = step_names(document);
            let mut missing = name.clone();
            while names.contains(&missing) {
                missing.push('?');
            }
            if let Some(target) = lookup_mut(document, &path) {
                *target = Value::String(missing);
            }
        }
        Mutation::Relink { at, to } => {
            let Some(path) = pick(&all, at, is_link) else {
                return;
            };
            let mut names: Vec<String> = step_names(document).into_iter().collect();
            names.sort();
            if names.is_empty() {
                return;
            }
            if let Some(target) = lookup_mut(document, &path) {
                *target = Value::String(to.get(&names).clone());
            }
        }
        Mutation::GarbagePath { at, which, key, path } => {
            let target = pick(&all, at, |p| holds_paths(document, p))
                .or_else(|| pick(&all, at, |p| lookup(document, p).is_some_and(Value::is_object)));
            let Some(target) = target else {
                return;
            };
            if let Some(Value::Object(members)) = lookup_mut(document, &target) {
                let existing: Vec<String> = members.keys().filter(|k| k.ends_with(".$")).cloned().collect();
                let key = match key {
                    Some(key) => key.clone(),
                    None if !existing.is_empty() => which.get(&existing).clone(),
                    None => "value.$".to_owned(),
                };
                members.insert(key, Value::String(path.clone()));
            }
        }
        Mutation::Wrap { at, focus } => {
            if let Some(path) = pick(&all, at, focused(*focus))
                && let Some(target) = lookup_mut(document, &path)
            {
                *target = Value::Array(vec![target.take()]);
            }
        }
        Mutation::Unwrap { at } => {
            let arrays = |p: &[Seg]| lookup(document, p).is_some_and(Value::is_array);
            if let Some(path) = pick(&all, at, arrays)
                && let Some(target) = lookup_mut(document, &path)
            {
                let first = match target.take() {
                    Value::Array(items) => items.into_iter().next(),
                    _ => None,
                };
                *target = first.unwrap_or(Value::Null);
            }
        }
        Mutation::Nest { at, focus, depth, objects } => {
            if let Some(path) = pick(&all, at, focused(*focus))
                && let Some(target) = lookup_mut(document, &path)
            {
                let mut value = target.take();
                for _ in 0..*depth {
                    value = if *objects { json!({ "nested": value }) } else { json!([value]) };
                }
                *target = value;
            }
        }
    }
}

pub(crate) fn mutated(sample: &Sample, mutations: &[Mutation]) -> Value {
    let mut document = sample.document.clone();
    for mutation in mutations {
        mutate(&mut document, mutation);
    }
    document
}
