//! The payloads of identity and source events, in the shapes of ISC's event triggers
//! (`shared/corpus/isc-events/`), with the trigger ids workflows subscribe to.

use serde_json::{Map, Value, json};
use tessera_store::{CatalogObject, IdentityRecord};

pub const IDENTITY_CREATED: &str = "idn:identity-created";
pub const IDENTITY_ATTRIBUTES_CHANGED: &str = "idn:identity-attributes-changed";
pub const IDENTITY_DELETED: &str = "idn:identity-deleted";
pub const LIFECYCLE_STATE_CHANGED: &str = "idn:identity-lifecycle-state-changed";
pub const LIFECYCLE_STATE_CHANGE_PROCESSED: &str = "idn:identity-lifecycle-state-change-processed";
pub const ACCOUNT_CORRELATED: &str = "idn:account-correlated";
pub const ACCOUNT_UNCORRELATED: &str = "idn:account-uncorrelated";
pub const AGGREGATION_COMPLETED: &str = "idn:account-aggregation-completed";
pub const SOURCE_ACCOUNT_CREATED: &str = "idn:source-account-created";
pub const SOURCE_ACCOUNT_UPDATED: &str = "idn:source-account-updated";
pub const SOURCE_ACCOUNT_DELETED: &str = "idn:source-account-deleted";
pub const SOURCE_CREATED: &str = "idn:source-created";
pub const SOURCE_UPDATED: &str = "idn:source-updated";
pub const SOURCE_DELETED: &str = "idn:source-deleted";

/// `{"type": "IDENTITY", "id": …, "name": …}`.
pub fn identity_ref(identity: &IdentityRecord) -> Value {
    json!({"type": "IDENTITY", "id": identity.id, "name": identity.name})
}

/// Identity Created and Identity Deleted: the identity and its attributes.
pub fn identity_snapshot(identity: &IdentityRecord) -> Value {
    json!({"identity": identity_ref(identity), "attributes": identity.attributes})
}

/// Identity Attributes Changed: every attribute whose value differs, old and new.
pub fn attribute_changes(old: &Map<String, Value>, new: &Map<String, Value>) -> Vec<Value> {
    let mut changes = Vec::new();
    for (name, value) in new {
        let before = old.get(name).unwrap_or(&Value::Null);
        if before != value {
            changes.push(json!({"attribute": name, "oldValue": before, "newValue": value}));
        }
    }
    for (name, before) in old {
        if !new.contains_key(name) {
            changes.push(json!({"attribute": name, "oldValue": before, "newValue": Value::Null}));
        }
    }
    changes
}

pub fn attributes_changed(identity: &IdentityRecord, changes: Vec<Value>) -> Value {
    json!({"identity": identity_ref(identity), "changes": changes})
}

pub fn lifecycle_changed(identity: &IdentityRecord, old: Option<&str>, new: Option<&str>) -> Value {
    json!({"identity": identity_ref(identity), "oldLifecycleState": old, "newLifecycleState": new})
}

/// Account Correlated / Uncorrelated: the identity, the account and its source.
pub fn account_link(
    identity: &IdentityRecord,
    account_id: &str,
    native_identity: &str,
    account_name: &str,
    source: &CatalogObject,
) -> Value {
    json!({
        "identity": identity_ref(identity),
        "account": {"id": account_id, "nativeIdentity": native_identity, "name": account_name, "type": "ACCOUNT"},
        "source": {"id": source.id, "name": source.name, "type": "SOURCE"},
    })
}

/// Source Created / Updated / Deleted; `stamp` is `created`, `modified` or `deleted`.
pub fn source_event(source: &CatalogObject, actor: &str, stamp: &str, at: &str) -> Value {
    let connector = source.document.get("connector").cloned().unwrap_or(Value::Null);
    let kind = source.document.get("type").cloned().unwrap_or_else(|| json!("DelimitedFile"));
    let mut payload = Map::new();
    payload.insert("id".into(), json!(source.id));
    payload.insert("name".into(), json!(source.name));
    payload.insert("type".into(), kind);
    payload.insert(stamp.into(), json!(at));
    payload.insert("connector".into(), connector);
    payload.insert("actor".into(), json!({"type": "IDENTITY", "id": actor, "name": actor}));
    Value::Object(payload)
}

/// Account Created / Updated / Deleted (`ACCOUNT_CREATED_V2`…): the account with its attributes, its
/// source, and the identity it belongs to (null when none).
pub fn source_account(
    kind: &str,
    account: &tessera_store::AccountRecord,
    source: Option<&CatalogObject>,
    identity: Option<&IdentityRecord>,
) -> Value {
    let reference = |path: &str| source.and_then(|s| s.document.pointer(path)).cloned().unwrap_or(Value::Null);
    let source_name = source.map_or(account.source_id.as_str(), |s| s.name.as_str());
    json!({
        "event": {"type": kind, "cause": "AGGREGATION"},
        "source": {
            "id": account.source_id,
            "name": source_name,
            "alias": source_name,
            "owner": reference("/owner"),
            "governanceGroup": reference("/governanceGroup"),
        },
        "account": {
            "id": account.id,
            "name": account.name,
            "nativeIdentity": account.native_identity,
            "uuid": Value::Null,
            "correlated": account.identity_id.is_some(),
            "isMachine": false,
            "origin": source_name,
            "attributes": account.attributes,
        },
        "identity": identity.map(|i| json!({"id": i.id, "name": i.name, "alias": i.alias, "email": i.email})),
    })
}
