//! New plans meeting plans still open for the same account: a later change folds into an earlier one
//! instead of becoming a second piece of work, and makes pointless work go away. For one identity on
//! one source, while the earlier plan is still QUEUED or waiting on an unanswered work item:
//!
//! - a Create or Modify after a Create (or a Modify after a Modify) merges into it: its attribute
//!   requests join the earlier ones, an Add and a Remove of the same value cancel out, and a Remove
//!   for an account that does not exist yet is dropped; the later plan ends `MERGED`;
//! - a Disable or Delete after a Create cancels both: the account was never made, so there is nothing
//!   to create and nothing to disable (the person left before it was done); each ends `CANCELLED` with
//!   that reason, and the work item, if any, is closed;
//! - an Enable or Unlock after a Create is already part of it (`MERGED`).
//!
//! Everything else stands as it is. The decisions are pure ([`decide`]); [`apply`] writes them.

use serde_json::{Value, json};
use tessera_model::PlanStatus;
use tessera_store::{OpenPlan, PlanRecord};

/// What becomes of one new plan.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Fate {
    /// Written and carried out as usual.
    Stands,
    /// Folded into the open plan with this id.
    Merged { into: String },
    /// Dropped, and why.
    Cancelled { reason: String },
}

/// What becomes of an open plan.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Change {
    /// Its account request becomes this document.
    Revised(Value),
    /// It is cancelled, and why.
    Cancelled(String),
}

/// The decisions for `new` plans (in order) against the `open` ones: each new plan's fate, and the
/// changes to open plans (by index into `open`).
pub(crate) fn decide(open: &[OpenPlan], new: &[PlanRecord]) -> (Vec<Fate>, Vec<(usize, Change)>) {
    // The state of each open plan as the new ones are folded in: its document, or cancelled.
    let mut current: Vec<Option<Value>> = open.iter().map(|o| Some(o.plan.document.clone())).collect();
    let mut touched = vec![false; open.len()];
    let mut cancelled_reason: Vec<Option<String>> = vec![None; open.len()];
    let mut fates = Vec::with_capacity(new.len());
    for plan in new {
        let target = open
            .iter()
            .enumerate()
            .rev()
            .find(|(_, o)| o.plan.identity_id == plan.identity_id && o.plan.source_id == plan.source_id)
            .map(|(i, o)| (i, o.plan.operation.as_str()));
        let no_account = plan.operation == "Modify" && plan.document["accountRequest"]["accountId"].is_null();
        let fate = match (target, plan.operation.as_str()) {
            (Some((i, _)), _) if cancelled_reason[i].is_some() => {
                Fate::Cancelled { reason: "the account's creation was cancelled, so there is nothing to change".into() }
            }
            (Some((i, "Create")), "Create" | "Modify") | (Some((i, "Modify")), "Modify") => {
                let creating = open[i].plan.operation == "Create";
                if let Some(document) = current[i].as_mut() {
                    let asked = requests(document);
                    fold(document, &plan.document, creating);
                    touched[i] = true;
                    // A Create whose every request a later change took back has nothing left to do.
                    if creating && asked > 0 && requests(document) == 0 {
                        let reason = "cancelled: a later change took back everything the account was to be created for"
                            .to_owned();
                        cancelled_reason[i] = Some(reason);
                        current[i] = None;
                    }
                }
                Fate::Merged { into: open[i].plan.id.clone() }
            }
            (None, "Modify") if no_account => Fate::Cancelled {
                reason: "the identity has no account on this source, so there is nothing to change".into(),
            },
            (Some((i, "Create")), "Disable" | "Delete") => {
                let reason = format!(
                    "cancelled by a later {}: the account was never created, so there is nothing to create or to {}",
                    plan.operation,
                    plan.operation.to_lowercase()
                );
                cancelled_reason[i] = Some(reason.clone());
                current[i] = None;
                Fate::Cancelled { reason }
            }
            (Some((i, "Create")), "Enable" | "Unlock") => Fate::Merged { into: open[i].plan.id.clone() },
            _ => Fate::Stands,
        };
        fates.push(fate);
    }
    let mut changes = Vec::new();
    for (i, reason) in cancelled_reason.into_iter().enumerate() {
        match (reason, current[i].take()) {
            (Some(reason), _) => changes.push((i, Change::Cancelled(reason))),
            (None, Some(document)) if touched[i] => changes.push((i, Change::Revised(document))),
            _ => {}
        }
    }
    (fates, changes)
}

fn requests(document: &Value) -> usize {
    document["accountRequest"]["attributeRequests"].as_array().map_or(0, Vec::len)
}

/// Folds a later plan's attribute requests and cause into an earlier plan's document.
fn fold(into: &mut Value, later: &Value, creating: bool) {
    let requests = later["accountRequest"]["attributeRequests"].as_array().cloned().unwrap_or_default();
    if let Some(list) = into["accountRequest"]["attributeRequests"].as_array_mut() {
        for request in requests {
            let (name, value) = (&request["name"], &request["value"]);
            let operation = request["operation"].as_str().unwrap_or_default();
            let opposite = match operation {
                "Add" => "Remove",
                "Remove" => "Add",
                _ => "",
            };
            let cancels =
                list.iter().position(|r| r["name"] == *name && r["value"] == *value && r["operation"] == opposite);
            match cancels {
                Some(at) => {
                    list.remove(at);
                }
                // Nothing to remove from an account that is still to be made.
                None if creating && operation == "Remove" => {}
                None if list.contains(&request) => {}
                None => list.push(request),
            }
        }
    }
    let cause = later.get("causes").and_then(Value::as_array).cloned().unwrap_or_else(|| vec![later["cause"].clone()]);
    match into.get_mut("causes").and_then(Value::as_array_mut) {
        Some(causes) => causes.extend(cause),
        None => into["causes"] = Value::Array(cause),
    }
}

/// The result recorded on a plan that ended this way.
pub(crate) fn result(fate: &Fate) -> Option<(PlanStatus, Value)> {
    match fate {
        Fate::Stands => None,
        Fate::Merged { into } => {
            Some((PlanStatus::Merged, json!({"provisioningResult": "MERGED", "mergedInto": into})))
        }
        Fate::Cancelled { reason } => {
            Some((PlanStatus::Cancelled, json!({"provisioningResult": "CANCELLED", "reason": reason})))
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use tessera_model::Timestamp;

    use super::*;

    fn plan(id: &str, operation: &str, requests: Value) -> PlanRecord {
        PlanRecord {
            id: id.into(),
            identity_id: "ada".into(),
            source_id: "ad".into(),
            operation: operation.into(),
            cause: "BIRTHRIGHT".into(),
            status: PlanStatus::Queued,
            document: json!({"accountRequest": {"operation": operation, "attributeRequests": requests},
                             "cause": {"type": operation}}),
            tracking_number: String::new(),
            attempt: 0,
            result: None,
            created_at: Timestamp::UNIX_EPOCH,
            modified_at: Timestamp::UNIX_EPOCH,
        }
    }

    fn add(value: &str) -> Value {
        json!({"name": "memberOf", "operation": "Add", "value": value})
    }

    fn remove(value: &str) -> Value {
        json!({"name": "memberOf", "operation": "Remove", "value": value})
    }

    #[test]
    fn a_mover_s_second_create_folds_into_the_first() {
        let open = [OpenPlan {
            plan: plan("c1", "Create", json!([add("staff"), add("sales")])),
            work_item: Some("w1".into()),
        }];
        let new = [
            plan("c2", "Create", json!([add("staff"), add("engineering")])),
            plan("m1", "Modify", json!([remove("sales")])),
        ];
        let (fates, changes) = decide(&open, &new);
        assert_eq!(fates, [Fate::Merged { into: "c1".into() }, Fate::Merged { into: "c1".into() }]);
        let [(0, Change::Revised(document))] = changes.as_slice() else { panic!("{changes:?}") };
        assert_eq!(document["accountRequest"]["attributeRequests"], json!([add("staff"), add("engineering")]));
        assert_eq!(document["causes"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn a_leaver_s_disable_cancels_the_create_that_never_happened_and_everything_after() {
        let open = [OpenPlan { plan: plan("c1", "Create", json!([add("staff")])), work_item: Some("w1".into()) }];
        let new = [
            plan("m1", "Modify", json!([remove("vpn")])),
            plan("d1", "Disable", json!([])),
            plan("m2", "Modify", json!([])),
        ];
        let (fates, changes) = decide(&open, &new);
        assert!(matches!(&fates[0], Fate::Merged { into } if into == "c1"));
        assert!(matches!(&fates[1], Fate::Cancelled { reason } if reason.contains("never created")));
        assert!(matches!(&fates[2], Fate::Cancelled { reason } if reason.contains("creation was cancelled")));
        assert!(matches!(changes.as_slice(), [(0, Change::Cancelled(reason))] if reason.contains("later Disable")));
    }

    #[test]
    fn taking_back_everything_a_create_was_for_cancels_it() {
        let open = [OpenPlan { plan: plan("c1", "Create", json!([add("staff")])), work_item: Some("w1".into()) }];
        let new = [plan("m1", "Modify", json!([remove("staff")])), plan("m2", "Modify", json!([remove("vpn")]))];
        let (fates, changes) = decide(&open, &new);
        assert!(matches!(&fates[0], Fate::Merged { into } if into == "c1"));
        assert!(matches!(&fates[1], Fate::Cancelled { .. }));
        assert!(matches!(changes.as_slice(), [(0, Change::Cancelled(reason))] if reason.contains("took back")));
        // With no Create pending, a revocation where there is no account is dropped.
        let (fates, _) = decide(&[], &[plan("m3", "Modify", json!([remove("staff")]))]);
        assert!(matches!(&fates[0], Fate::Cancelled { reason } if reason.contains("no account")));
    }

    #[test]
    fn other_plans_stand() {
        let open = [OpenPlan { plan: plan("d0", "Disable", json!([])), work_item: None }];
        let new = [plan("e1", "Enable", json!([])), plan("c1", "Create", json!([]))];
        let (fates, changes) = decide(&open, &new);
        assert_eq!(fates, [Fate::Stands, Fate::Stands]);
        assert!(changes.is_empty());
        let other_source = PlanRecord { source_id: "github".into(), ..plan("c2", "Create", json!([])) };
        let (fates, _) =
            decide(&[OpenPlan { plan: plan("c1", "Create", json!([])), work_item: None }], &[other_source]);
        assert_eq!(fates, [Fate::Stands]);
    }
}
