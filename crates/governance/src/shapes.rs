//! Identities, accounts and access items in ISC's JSON shapes, as the identity actions return them
//! to workflows (and the API serves them).

use serde_json::{Value, json};
use tessera_model::Timestamp;
use tessera_store::{AccessGrant, AccountRecord, CatalogObject, IdentityRecord};

/// RFC 3339 with milliseconds, as ISC writes times.
pub fn time(at: Timestamp) -> Value {
    Value::String(at.to_string())
}

/// ISC's `Identity`: `manager` is the manager's record when known, `is_manager` whether anyone
/// reports to this identity.
pub fn identity(identity: &IdentityRecord, manager: Option<&IdentityRecord>, is_manager: bool) -> Value {
    let manager_ref = match (&identity.manager_id, manager) {
        (Some(_), Some(m)) => json!({"type": "IDENTITY", "id": m.id, "name": m.name}),
        (Some(id), None) => json!({"type": "IDENTITY", "id": id, "name": Value::Null}),
        (None, _) => Value::Null,
    };
    json!({
        "id": identity.id,
        "name": identity.name,
        "created": time(identity.created_at),
        "modified": time(identity.modified_at),
        "alias": identity.alias,
        "emailAddress": identity.email,
        "processingState": Value::Null,
        "identityStatus": identity.status,
        "managerRef": manager_ref,
        "isManager": is_manager,
        "lastRefresh": time(identity.modified_at),
        "attributes": identity.attributes,
        "lifecycleState": {
            "stateName": identity.lifecycle_state,
            "manuallyUpdated": identity.lifecycle_manual,
        },
        "identityProfile": identity.profile_id.as_ref().map(|id| json!({"type": "IDENTITY_PROFILE", "id": id})),
    })
}

/// ISC's `Account`, with its source and (when correlated) identity when known.
pub fn account(account: &AccountRecord, source: Option<&CatalogObject>, identity: Option<&IdentityRecord>) -> Value {
    let authoritative = source.and_then(|s| s.document.get("authoritative")).and_then(Value::as_bool).unwrap_or(false);
    json!({
        "id": account.id,
        "name": account.name,
        "nativeIdentity": account.native_identity,
        "uuid": null,
        "description": null,
        "sourceId": account.source_id,
        "sourceName": source.map(|s| s.name.clone()),
        "identityId": account.identity_id,
        "identity": account.identity_id.as_ref().map(|id| json!({
            "type": "IDENTITY", "id": id, "name": identity.map(|i| i.name.clone()),
        })),
        "cloudLifecycleState": identity.and_then(|i| i.lifecycle_state.clone()),
        "identityState": identity.map(|i| i.status),
        "uncorrelated": account.identity_id.is_none(),
        "manuallyCorrelated": account.manually_correlated,
        "disabled": account.disabled,
        "locked": account.locked,
        "authoritative": authoritative,
        "systemAccount": false,
        "isMachine": false,
        "origin": "AGGREGATED",
        "attributes": account.attributes,
        "created": time(account.created_at),
        "modified": time(account.modified_at),
    })
}

/// An access item (role, access profile or entitlement) an identity holds.
pub fn access_item(grant: &AccessGrant, object: Option<&CatalogObject>) -> Value {
    let mut item = json!({
        "id": grant.object_id,
        "type": grant.kind,
        "name": object.map(|o| o.name.as_str()),
        "displayName": object.map(|o| o.name.as_str()),
        "description": object.and_then(|o| o.document.get("description")).cloned(),
        "origin": grant.origin,
        "granted": time(grant.granted_at),
    });
    if let Some(o) = object.filter(|o| !o.parent_id.is_empty()) {
        item["source"] = json!({"type": "SOURCE", "id": o.parent_id});
    }
    item
}
