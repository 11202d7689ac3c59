//! Catalogue objects (sources, entitlements, access profiles, roles, identity profiles, lifecycle
//! states, governance groups) created, changed and deleted as one decision each: the change reads
//! and writes in one transaction that holds the object's row, is audited with what it changed
//! (secrets masked), and — for a source — publishes its `idn:source-*` event there. How a submitted
//! document becomes a [`Draft`], and what must hold before a deletion, the caller says: the rules of
//! each kind's ISC document live with the API that reads it.

use serde_json::{Value, json};
use tessera_model::Timestamp;
use tessera_store::{CatalogKind, CatalogObject, CatalogStore, QueueStore, SecurityStore, Tx};

use crate::{Error, Governance, payloads};

/// A checked document, ready to store.
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    pub name: String,
    pub key: String,
    pub parent_id: String,
    pub owner_id: Option<String>,
    pub enabled: bool,
    pub requestable: bool,
    pub document: Value,
}

impl Draft {
    /// The object this draft makes: `id` of `kind`, created at `created_at`, changed `now`.
    fn into_object(self, kind: CatalogKind, id: String, created_at: Timestamp, now: Timestamp) -> CatalogObject {
        CatalogObject {
            kind,
            id,
            name: self.name,
            key: self.key,
            parent_id: self.parent_id,
            owner_id: self.owner_id,
            enabled: self.enabled,
            requestable: self.requestable,
            document: self.document,
            created_at,
            modified_at: now,
        }
    }

    /// A draft whose key is its name, under no parent.
    pub fn named(name: String, document: Value) -> Self {
        Self {
            key: name.clone(),
            name,
            parent_id: String::new(),
            owner_id: None,
            enabled: true,
            requestable: false,
            document,
        }
    }

    /// Whether storing this would change nothing of `object`.
    pub fn same_as(&self, object: &CatalogObject) -> bool {
        self.name == object.name
            && self.key.to_lowercase() == object.key
            && self.parent_id == object.parent_id
            && self.owner_id == object.owner_id
            && self.enabled == object.enabled
            && self.requestable == object.requestable
            && self.document == object.document
    }
}

/// The kind's name in audit entries.
pub fn audit_type(kind: CatalogKind) -> &'static str {
    match kind {
        CatalogKind::Source => "source",
        CatalogKind::Entitlement => "entitlement",
        CatalogKind::AccessProfile => "access-profile",
        CatalogKind::Role => "role",
        CatalogKind::IdentityProfile => "identity-profile",
        CatalogKind::LifecycleState => "lifecycle-state",
        CatalogKind::Workgroup => "governance-group",
    }
}

/// The mask a sealed connector secret is shown as.
const MASK: &str = "********";

/// `value` with every sealed connector secret (`{"$sealed": …}`) shown as the mask.
fn mask_envelopes(value: &Value) -> Value {
    match value {
        sealed if tessera_store::secrets::is_sealed(sealed) => json!(MASK),
        Value::Object(members) => Value::Object(members.iter().map(|(k, v)| (k.clone(), mask_envelopes(v))).collect()),
        Value::Array(items) => Value::Array(items.iter().map(mask_envelopes).collect()),
        other => other.clone(),
    }
}

/// What an object's change did, for the audit log: each top-level field that changed with its value
/// before and after (a creation has only after, a deletion only before), secrets masked.
fn audit_detail(object: &CatalogObject, before: Option<&CatalogObject>, change: &str) -> Value {
    let view = |o: &CatalogObject| {
        let mut document = o.document.clone();
        if let Value::Object(members) = &mut document {
            members.insert("name".into(), json!(o.name));
            members.insert("enabled".into(), json!(o.enabled));
            members.insert("requestable".into(), json!(o.requestable));
            members.insert("owner".into(), json!(o.owner_id));
        }
        tessera_engine::secrets::masked(&mask_envelopes(&document))
    };
    let (old, new) = match change {
        "create" => (Value::Null, view(object)),
        "delete" => (view(object), Value::Null),
        _ => (before.map(view).unwrap_or(Value::Null), view(object)),
    };
    let empty = serde_json::Map::new();
    let (old_members, new_members) = (old.as_object().unwrap_or(&empty), new.as_object().unwrap_or(&empty));
    let mut changed = serde_json::Map::new();
    for key in old_members.keys().chain(new_members.keys()) {
        let (b, a) = (old_members.get(key), new_members.get(key));
        if b != a && !changed.contains_key(key) {
            changed.insert(key.clone(), json!({"before": b, "after": a}));
        }
    }
    json!({"name": object.name, "changed": changed})
}

/// The audit entry and, for a source, the event of a change, in the change's transaction.
async fn record(
    tx: &mut Tx,
    actor: &str,
    (object, before): (&CatalogObject, Option<&CatalogObject>),
    change: &str,
    now: Timestamp,
) -> crate::Result<()> {
    let kind = object.kind;
    let detail = audit_detail(object, before, change);
    let what = audit_type(kind);
    tx.audit(actor, &format!("{what}.{change}"), what, &object.id, &detail, now).await?;
    if kind == CatalogKind::Source {
        let (topic, stamp_key) = match change {
            "create" => (payloads::SOURCE_CREATED, "created"),
            "delete" => (payloads::SOURCE_DELETED, "deleted"),
            _ => (payloads::SOURCE_UPDATED, "modified"),
        };
        let event = payloads::source_event(object, actor, stamp_key, &now.to_string());
        tx.publish(topic, &event, now).await?;
    }
    Ok(())
}

/// Object `id` of `kind`, its row held until `tx` ends.
async fn held(tx: &mut Tx, kind: CatalogKind, id: &str) -> crate::Result<CatalogObject> {
    tx.lock_object(kind, id).await?;
    tx.object(kind, id).await?.ok_or_else(|| Error::NotFound(format!("{} {id}", audit_type(kind))))
}

impl Governance {
    /// Creates an object of `kind` from the draft `prepare` makes (in the transaction that stores it,
    /// so what it checks holds when it is stored).
    pub async fn create_object<E: From<Error>>(
        &self,
        kind: CatalogKind,
        actor: &str,
        prepare: impl AsyncFnOnce(&mut Tx) -> Result<Draft, E>,
    ) -> Result<CatalogObject, E> {
        let now = self.now();
        let mut tx = self.store.begin().await.map_err(Error::from)?;
        let draft = prepare(&mut tx).await?;
        let object = draft.into_object(kind, uuid::Uuid::now_v7().simple().to_string(), now, now);
        tx.insert_object(&object).await.map_err(Error::from)?;
        record(&mut tx, actor, (&object, None), "create", now).await?;
        tx.commit().await.map_err(Error::from)?;
        self.notify_events();
        Ok(object)
    }

    /// Changes object `id` of `kind` to the draft `edit` makes of it as it stands, its row held from
    /// the read to the write, so concurrent changes apply one after the other. A draft that changes
    /// nothing writes nothing.
    pub async fn change_object<E: From<Error>>(
        &self,
        kind: CatalogKind,
        id: &str,
        actor: &str,
        edit: impl AsyncFnOnce(&mut Tx, &CatalogObject) -> Result<Draft, E>,
    ) -> Result<CatalogObject, E> {
        let now = self.now();
        let mut tx = self.store.begin().await.map_err(Error::from)?;
        let current = held(&mut tx, kind, id).await?;
        let draft = edit(&mut tx, &current).await?;
        if draft.same_as(&current) {
            return Ok(current);
        }
        let before = current.clone();
        let object = draft.into_object(kind, current.id, current.created_at, now);
        tx.update_object(&object).await.map_err(Error::from)?;
        record(&mut tx, actor, (&object, Some(&before)), "update", now).await?;
        tx.commit().await.map_err(Error::from)?;
        self.notify_events();
        Ok(object)
    }

    /// Deletes object `id` of `kind` once `before` (the caller's own check) has passed and what the
    /// deletion needs is done — refused while something uses the object, or taking it from those
    /// who hold it (`deletions`); returns what was deleted.
    pub async fn delete_object<E: From<Error>>(
        &self,
        kind: CatalogKind,
        id: &str,
        actor: &str,
        before: impl AsyncFnOnce(&mut Tx, &CatalogObject) -> Result<(), E>,
    ) -> Result<CatalogObject, E> {
        let now = self.now();
        let mut tx = self.store.begin().await.map_err(Error::from)?;
        let object = held(&mut tx, kind, id).await?;
        before(&mut tx, &object).await?;
        self.before_delete(&mut tx, &object, now).await?;
        tx.delete_object(kind, &object.id).await.map_err(Error::from)?;
        record(&mut tx, actor, (&object, None), "delete", now).await?;
        tx.commit().await.map_err(Error::from)?;
        self.notify_events();
        Ok(object)
    }
}
