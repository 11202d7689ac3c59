//! A live source's entitlement catalogue kept in step with its system: each aggregation stores the
//! groups it reads as the source's Entitlement objects (new ones added, renamed or changed ones
//! updated), and once the run has read everything, removes the ones the system no longer has unless
//! an access profile or an identity still refers to them.

use std::collections::{HashMap, HashSet};

use serde_json::{Value, json};
use tessera_connectors::Entitlement;
use tessera_model::Timestamp;
use tessera_store::catalog::referenced_ids;
use tessera_store::{AccessStore, CatalogKind, CatalogObject, CatalogStore, Tx};

use crate::Result;

/// What one run did to a source's entitlements.
#[derive(Debug, Default)]
pub(crate) struct EntitlementSync {
    pub(crate) added: u64,
    pub(crate) changed: u64,
    pub(crate) removed: u64,
    /// Stored entitlements the system no longer has, to remove once the run has read every account.
    gone: Vec<CatalogObject>,
    /// Gone from the system but kept, because something refers to them: "name (id)".
    pub(crate) kept: Vec<String>,
}

/// The catalogue key of an entitlement, as the API makes it, in the lower case the catalogue keeps
/// keys in (they are unique regardless of case).
fn key_of(attribute: &str, value: &str) -> String {
    format!("{attribute}={value}").to_lowercase()
}

/// Stores what the system holds as `source`'s entitlements; what it no longer holds is set aside for
/// [`remove_gone`].
pub(crate) async fn store(
    tx: &mut Tx,
    source: &CatalogObject,
    read: Vec<Entitlement>,
    now: Timestamp,
) -> Result<EntitlementSync> {
    let mut sync = EntitlementSync::default();
    let mut stored: HashMap<String, CatalogObject> =
        tx.objects_of(CatalogKind::Entitlement, &source.id).await?.into_iter().map(|e| (e.key.clone(), e)).collect();
    let mut seen: HashSet<String> = HashSet::new();
    for entitlement in read {
        let key = key_of(&entitlement.attribute, &entitlement.value);
        if !seen.insert(key.clone()) {
            continue;
        }
        let attributes = Value::Object(entitlement.attributes);
        match stored.remove(&key) {
            Some(mut object) => {
                if object.name == entitlement.name && object.document.get("attributes") == Some(&attributes) {
                    continue;
                }
                // What a person set through the API (description, owner, requestable…) stays.
                object.name = entitlement.name;
                object.document["attributes"] = attributes;
                object.modified_at = now;
                tx.update_object(&object).await?;
                sync.changed += 1;
            }
            None => {
                let object = CatalogObject {
                    kind: CatalogKind::Entitlement,
                    id: uuid::Uuid::now_v7().simple().to_string(),
                    name: entitlement.name,
                    key,
                    parent_id: source.id.clone(),
                    owner_id: None,
                    enabled: true,
                    requestable: false,
                    document: json!({
                        "attribute": entitlement.attribute,
                        "value": entitlement.value,
                        "source": {"type": "SOURCE", "id": source.id},
                        "description": null,
                        "privileged": false,
                        "attributes": attributes,
                    }),
                    created_at: now,
                    modified_at: now,
                };
                tx.insert_object(&object).await?;
                sync.added += 1;
            }
        }
    }
    sync.gone = stored.into_values().collect();
    sync.gone.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(sync)
}

/// Removes the entitlements [`store`] found gone, but keeps those an access profile lists or an
/// identity holds directly: removing them would silently change what that access grants.
pub(crate) async fn remove_gone(tx: &mut Tx, sync: &mut EntitlementSync) -> Result<()> {
    if sync.gone.is_empty() {
        return Ok(());
    }
    let referenced: HashSet<String> = tx
        .all_objects(CatalogKind::AccessProfile)
        .await?
        .iter()
        .flat_map(|profile| referenced_ids(&profile.document, "entitlements"))
        .collect();
    for entitlement in std::mem::take(&mut sync.gone) {
        if referenced.contains(&entitlement.id) || !tx.holders_of("ENTITLEMENT", &entitlement.id).await?.is_empty() {
            sync.kept.push(format!("{} ({})", entitlement.name, entitlement.id));
            continue;
        }
        tx.delete_object(CatalogKind::Entitlement, &entitlement.id).await?;
        sync.removed += 1;
    }
    Ok(())
}
