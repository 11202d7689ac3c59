//! What a successful account request leaves in Tessera's own records: a created account, correlated to
//! the identity; a modified one's attributes; enabled, disabled or unlocked flags; a deleted one gone.
//! The next aggregation of the source brings in anything the system changed beyond that.

use serde_json::{Map, Value};
use tessera_connectors::{Account, AttributeOperation, Operation};
use tessera_model::Timestamp;
use tessera_store::{AccountRecord, CatalogObject, IdentityStore, PlanRecord, Tx};

use super::request::Prepared;
use crate::Result;

/// A successful request's answer.
#[derive(Debug)]
pub(super) struct Change<'a> {
    pub(super) prepared: &'a Prepared,
    /// The account's native identity now (a create's new one, a move's new DN).
    pub(super) native_identity: &'a str,
    /// The account as the system reports it, when it does.
    pub(super) account: Option<Account>,
}

/// `attributes` with the request's attribute changes applied.
fn apply(attributes: &mut Map<String, Value>, prepared: &Prepared) {
    for request in &prepared.request.attributes {
        match request.operation {
            AttributeOperation::Set => {
                attributes.insert(request.name.clone(), request.value.clone());
            }
            AttributeOperation::Add => {
                let entry = attributes.entry(request.name.clone()).or_insert_with(|| Value::Array(Vec::new()));
                if !entry.is_array() {
                    let single = std::mem::take(entry);
                    *entry = Value::Array(if single.is_null() { Vec::new() } else { vec![single] });
                }
                if let Value::Array(values) = entry {
                    for value in values_of(&request.value) {
                        if !values.contains(&value) {
                            values.push(value);
                        }
                    }
                }
            }
            AttributeOperation::Remove => {
                let gone = values_of(&request.value);
                match attributes.get_mut(&request.name) {
                    Some(Value::Array(values)) => values.retain(|v| !gone.contains(v)),
                    Some(single) if gone.contains(single) => {
                        attributes.remove(&request.name);
                    }
                    _ => {}
                }
            }
        }
    }
}

fn values_of(value: &Value) -> Vec<Value> {
    match value {
        Value::Array(values) => values.clone(),
        Value::Null => Vec::new(),
        other => vec![other.clone()],
    }
}

/// Records `change` for `plan`'s identity, in the caller's transaction.
pub(super) async fn record(
    tx: &mut Tx,
    plan: &PlanRecord,
    source: &CatalogObject,
    change: Change<'_>,
    now: Timestamp,
) -> Result<()> {
    let prepared = change.prepared;
    let operation = prepared.request.operation;
    if operation == Operation::Delete {
        if let Some(account) = &prepared.account {
            tx.delete_accounts(&[account.id.to_string()]).await?;
        }
        return Ok(());
    }
    // The account may have come in through an aggregation while the request ran.
    let existing = match &prepared.account {
        Some(account) => tx.account(&account.id).await?,
        None => tx.account_by_native(&source.id, change.native_identity).await?,
    };
    let is_new = existing.is_none();
    let mut account = existing.unwrap_or_else(|| AccountRecord {
        id: uuid::Uuid::now_v7().simple().to_string(),
        source_id: source.id.clone(),
        native_identity: change.native_identity.to_owned(),
        name: change.native_identity.to_owned(),
        identity_id: Some(plan.identity_id.clone()),
        attributes: Map::new(),
        // Never a real hash: the next aggregation rereads the account from the system.
        attributes_hash: 0,
        disabled: false,
        locked: false,
        manually_correlated: false,
        created_at: now,
        modified_at: now,
    });
    account.native_identity = change.native_identity.to_owned();
    account.identity_id = account.identity_id.or_else(|| Some(plan.identity_id.clone()));
    account.modified_at = now;
    match change.account {
        Some(read) => {
            account.name = read.name;
            account.attributes = read.attributes;
            account.disabled = read.disabled;
            account.locked = read.locked;
        }
        None => {
            apply(&mut account.attributes, prepared);
            match operation {
                Operation::Enable => account.disabled = false,
                Operation::Disable => account.disabled = true,
                Operation::Unlock => account.locked = false,
                _ => {}
            }
        }
    }
    account.attributes_hash = 0;
    if is_new {
        tx.insert_accounts(std::slice::from_ref(&account)).await?;
    } else {
        tx.update_account(&account).await?;
    }
    Ok(())
}
