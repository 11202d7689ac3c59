//! Configuration lists' items — kept on a CUSTOM list, read live from the catalogue for the others —
//! and the checking of answers against their questions.

use serde_json::{Value, json};
use tessera_store::{CatalogKind, CatalogStore, ConfigListRecord, RequestTypeStore, Tx};

use super::definition::{Definition, QuestionKind};
use super::{Problem, Result, escape};

/// One choice of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListItem {
    pub id: String,
    /// What an answer holds (a catalogue list's values are object ids).
    pub value: String,
    /// What a person sees.
    pub label: String,
}

impl ListItem {
    pub fn to_json(&self) -> Value {
        json!({"id": self.id, "value": self.value, "label": self.label})
    }
}

/// The list types and the catalogue kind each reads (none for CUSTOM).
pub(super) const LIST_TYPES: &[(&str, Option<CatalogKind>)] = &[
    ("CUSTOM", None),
    ("SOURCES", Some(CatalogKind::Source)),
    ("ENTITLEMENTS", Some(CatalogKind::Entitlement)),
    ("ACCESS_PROFILES", Some(CatalogKind::AccessProfile)),
    ("ROLES", Some(CatalogKind::Role)),
];

pub(super) fn catalog_kind_of(list_type: &str) -> Option<CatalogKind> {
    LIST_TYPES.iter().find(|(name, _)| *name == list_type).and_then(|(_, kind)| *kind)
}

/// What a grant of a list's answer gives: `ENTITLEMENT`, `ACCESS_PROFILE` or `ROLE`.
pub(super) fn grantable(list_type: &str) -> Option<tessera_model::AccessKind> {
    use tessera_model::AccessKind;
    match list_type {
        "ENTITLEMENTS" => Some(AccessKind::Entitlement),
        "ACCESS_PROFILES" => Some(AccessKind::AccessProfile),
        "ROLES" => Some(AccessKind::Role),
        _ => None,
    }
}

/// A list's items as they stand now.
pub(super) async fn items(tx: &mut Tx, list: &ConfigListRecord) -> Result<Vec<ListItem>> {
    let Some(kind) = catalog_kind_of(&list.list_type) else {
        return Ok(list
            .items
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .map(|i| {
                        let text = |k: &str| i.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
                        ListItem { id: text("id"), value: text("value"), label: text("label") }
                    })
                    .collect()
            })
            .unwrap_or_default());
    };
    let source = list.filter.get("sourceId").and_then(Value::as_str);
    let requestable = list.filter.get("requestable").and_then(Value::as_bool);
    let objects = match (kind, source) {
        (CatalogKind::Entitlement | CatalogKind::AccessProfile, Some(source)) => tx.objects_of(kind, source).await?,
        _ => tx.all_objects(kind).await?,
    };
    Ok(objects
        .into_iter()
        .filter(|o| o.enabled || kind == CatalogKind::Source)
        .filter(|o| requestable.is_none_or(|r| o.requestable == r))
        .map(|o| ListItem { id: o.id.clone(), value: o.id, label: o.name })
        .collect())
}

/// Checks `answers` against the definition's questions: unknown keys, missing required answers,
/// wrong types, dropdown values not in their list. Returns the dropdown answers' labels.
pub(super) async fn check_answers(
    tx: &mut Tx,
    definition: &Definition,
    answers: &serde_json::Map<String, Value>,
) -> Result<std::result::Result<serde_json::Map<String, Value>, Vec<Problem>>> {
    let mut problems = Vec::new();
    let mut labels = serde_json::Map::new();
    for key in answers.keys() {
        if definition.question(key).is_none() {
            let known: Vec<&str> = definition.questions.iter().map(|q| q.key.as_str()).collect();
            problems.push(Problem::at(
                format!("/answers/{}", escape(key)),
                format!("no question has this key (the questions are: {})", known.join(", ")),
            ));
        }
    }
    for q in &definition.questions {
        let at = format!("/answers/{}", q.key);
        let answer = answers.get(&q.key).filter(|v| !v.is_null() && v.as_str().is_none_or(|s| !s.trim().is_empty()));
        let Some(answer) = answer else {
            if q.required {
                problems.push(Problem::at(at, format!("is required: {}", q.prompt)));
            }
            continue;
        };
        let wrong = |expected: &str| Problem::at(at.clone(), format!("must be {expected}, not {answer}"));
        match &q.kind {
            QuestionKind::Text if !answer.is_string() => problems.push(wrong("text")),
            QuestionKind::Number if !answer.is_number() => problems.push(wrong("a number")),
            QuestionKind::Boolean if !answer.is_boolean() => problems.push(wrong("true or false")),
            QuestionKind::Date => {
                let text = answer.as_str().unwrap_or_default();
                let valid = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").is_ok()
                    || chrono::DateTime::parse_from_rfc3339(text).is_ok();
                if !valid {
                    problems.push(wrong("a date such as \"2025-03-31\" (or an RFC 3339 time)"));
                }
            }
            QuestionKind::Dropdown { list_id } => {
                let Some(value) = answer.as_str() else {
                    problems.push(wrong("one of the list's values"));
                    continue;
                };
                let Some(list) = tx.config_list(list_id).await? else {
                    problems.push(Problem::at(at, format!("the configuration list {list_id} no longer exists")));
                    continue;
                };
                let choices = items(tx, &list).await?;
                match choices.iter().find(|c| c.value == value) {
                    Some(choice) => {
                        labels.insert(q.key.clone(), json!(choice.label));
                    }
                    None => {
                        let shown: Vec<String> = choices.iter().take(20).map(|c| format!("`{}`", c.value)).collect();
                        problems.push(Problem::at(
                            at,
                            format!(
                                "`{value}` is not in the list `{}` (its values: {}{})",
                                list.name,
                                shown.join(", "),
                                if choices.len() > 20 { ", …" } else { "" }
                            ),
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    Ok(if problems.is_empty() { Ok(labels) } else { Err(problems) })
}
