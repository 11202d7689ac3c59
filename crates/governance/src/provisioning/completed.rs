//! Provisioning Completed (`idn:post-provisioning`): the payload announcing a finished group of plans,
//! in exactly the shape of ISC's event (`shared/corpus/isc-events/provisioning-completed.json`).

use serde_json::{Value, json};
use tessera_store::{CatalogObject, IdentityRecord, PlanRecord, Tracking};

pub const PROVISIONING_COMPLETED: &str = "idn:post-provisioning";

/// The event for `tracking`, whose `plans` have all finished; `source` names each plan's source.
pub fn payload<'s>(
    tracking: &Tracking,
    identity: Option<&IdentityRecord>,
    plans: &[PlanRecord],
    source: impl Fn(&str) -> Option<&'s CatalogObject>,
) -> Value {
    let mut names: Vec<String> = Vec::new();
    let mut errors: Vec<Value> = Vec::new();
    let mut requests = Vec::with_capacity(plans.len());
    for plan in plans {
        let found = source(&plan.source_id);
        let name = found.map_or_else(|| plan.source_id.clone(), |s| s.name.clone());
        if !names.contains(&name) {
            names.push(name.clone());
        }
        let result = plan.result.clone().unwrap_or(Value::Null);
        if let Some(list) = result.get("errors").and_then(Value::as_array) {
            errors.extend(list.iter().cloned());
        }
        // What was sent, when a connector was called (a create adds its policy's attributes); else the plan's.
        let sent = result.get("attributeRequests").filter(|v| v.is_array());
        let attribute_requests: Vec<Value> = sent
            .unwrap_or(&plan.document["accountRequest"]["attributeRequests"])
            .as_array()
            .map(|list| {
                list.iter()
                    .map(|r| json!({"attributeName": r["name"], "attributeValue": r["value"], "operation": r["operation"]}))
                    .collect()
            })
            .unwrap_or_default();
        let account_id = result
            .get("accountId")
            .cloned()
            .filter(|v| !v.is_null())
            .unwrap_or_else(|| plan.document["accountRequest"]["nativeIdentity"].clone());
        requests.push(json!({
            "source": {"id": plan.source_id, "type": "SOURCE", "name": name},
            "accountId": account_id,
            "accountOperation": plan.operation,
            "provisioningResult": plan.status,
            "provisioningTarget": name,
            "ticketId": result.get("ticketId").cloned().unwrap_or(Value::Null),
            "attributeRequests": attribute_requests,
        }));
    }
    let recipient = match identity {
        Some(i) => json!({"type": "IDENTITY", "id": i.id, "name": i.name}),
        None => json!({"type": "IDENTITY", "id": tracking.identity_id, "name": Value::Null}),
    };
    json!({
        "trackingNumber": tracking.tracking_number,
        "sources": names.join(", "),
        "action": tracking.action,
        "errors": errors,
        "warnings": [],
        "recipient": recipient,
        "requester": tracking.requester.clone().unwrap_or(Value::Null),
        "accountRequests": requests,
    })
}
