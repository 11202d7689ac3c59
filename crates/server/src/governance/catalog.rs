//! Entitlements, access profiles and roles: the checks on what they reference (an access profile's
//! entitlements must exist on its source; a role's access profiles must exist and its membership must
//! parse), their ISC shapes, and what deleting one undoes.

use serde_json::{Map, Value, json};
use tessera_model::governance::Membership;
use tessera_store::catalog::referenced_ids;
use tessera_store::{CatalogKind, CatalogObject, CatalogStore, Tx};

use super::objects::Draft;
use super::{Names, flag, invalid, invalid_rule, object, owner, reference_id, required_text, text};
use crate::error::ApiResult;

/// The ids of an array of references (`[{"id": "…"}, …]`), each checked to exist as `kind`; duplicates
/// are dropped.
pub(super) async fn references(
    tx: &mut Tx,
    body: &Map<String, Value>,
    key: &str,
    kind: CatalogKind,
) -> ApiResult<Vec<CatalogObject>> {
    let items = match body.get(key) {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(other) => return Err(invalid(&format!("/{key}"), format!("must be an array of references, not {other}"))),
    };
    let mut found: Vec<CatalogObject> = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let at = format!("/{key}/{index}");
        let Some(id) = reference_id(Some(item), &at)? else {
            return Err(invalid(&at, "must be a reference such as {\"id\": \"…\"}"));
        };
        let Some(object) = tx.object(kind, &id).await? else {
            let what = kind.as_str().to_lowercase().replace('_', " ");
            return Err(invalid(&format!("{at}/id"), format!("no {what} has the id `{id}`")));
        };
        if !found.iter().any(|f| f.id == object.id) {
            found.push(object);
        }
    }
    Ok(found)
}

/// The source a body's `source` names, which must exist.
async fn source(tx: &mut Tx, body: &Map<String, Value>, key: &str) -> ApiResult<CatalogObject> {
    let at = format!("/{key}");
    let Some(id) = reference_id(body.get(key), &at)? else {
        return Err(invalid(&at, "is required: a reference to a source, such as {\"id\": \"…\"}"));
    };
    tx.object(CatalogKind::Source, &id)
        .await?
        .ok_or_else(|| invalid(&format!("{at}/id"), format!("no source has the id `{id}`")))
}

/// `[{"type": …, "id": …}]` as stored.
fn stored_refs(kind: CatalogKind, objects: &[CatalogObject]) -> Value {
    Value::Array(objects.iter().map(|o| json!({ "type": kind.as_str(), "id": o.id })).collect())
}

/// Stored references with their current names.
async fn rendered_refs(
    tx: &mut Tx,
    names: &mut Names,
    kind: CatalogKind,
    document: &Value,
    key: &str,
) -> ApiResult<Value> {
    let mut out = Vec::new();
    for id in referenced_ids(document, key) {
        out.push(names.reference(tx, kind, &id).await?);
    }
    Ok(Value::Array(out))
}

/// A document with the owner stored as a reference, and the fields kept in columns removed.
fn base_document(members: &Map<String, Value>, owner: Option<&str>, description: Option<String>) -> Map<String, Value> {
    let mut document = members.clone();
    for column in ["name", "enabled", "requestable"] {
        document.remove(column);
    }
    document.insert("description".into(), json!(description));
    match owner {
        Some(id) => document.insert("owner".into(), json!({ "type": "IDENTITY", "id": id })),
        None => document.remove("owner"),
    };
    document
}

/// `POST /tessera/v1/entitlements`: `{name, source: {id}, attribute, value, requestable, description, owner}`.
pub(super) async fn prepare_entitlement(tx: &mut Tx, body: &Value) -> ApiResult<Draft> {
    let members = object(body)?;
    let source = source(tx, members, "source").await?;
    let attribute = required_text(members, "attribute")?;
    let value = required_text(members, "value")?;
    let name = text(members, "name")?.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty()).unwrap_or(value.clone());
    let owner = owner(tx, members).await?;
    let mut document = base_document(members, owner.as_deref(), text(members, "description")?);
    document.insert("attribute".into(), json!(attribute));
    document.insert("value".into(), json!(value));
    document.insert("source".into(), json!({ "type": "SOURCE", "id": source.id }));
    document.insert("privileged".into(), json!(flag(members, "privileged", false)?));
    if !matches!(document.get("attributes"), Some(Value::Object(_))) {
        document.insert("attributes".into(), json!({}));
    }
    Ok(Draft {
        name,
        key: format!("{attribute}={value}"),
        parent_id: source.id,
        owner_id: owner,
        enabled: true,
        requestable: flag(members, "requestable", false)?,
        document: Value::Object(document),
    })
}

pub(super) async fn render_entitlement(
    tx: &mut Tx,
    names: &mut Names,
    entitlement: &CatalogObject,
) -> ApiResult<Value> {
    let mut body = entitlement.document.clone();
    body["source"] = names.reference(tx, CatalogKind::Source, &entitlement.parent_id).await?;
    body["owner"] = names.identity_ref(tx, entitlement.owner_id.as_deref()).await?;
    body["requestable"] = json!(entitlement.requestable);
    body["cloudGoverned"] = json!(false);
    Ok(body)
}

pub(super) async fn prepare_access_profile(tx: &mut Tx, body: &Value) -> ApiResult<Draft> {
    let members = object(body)?;
    let name = required_text(members, "name")?;
    let owner = owner(tx, members).await?;
    let source = source(tx, members, "source").await?;
    let entitlements = references(tx, members, "entitlements", CatalogKind::Entitlement).await?;
    if let Some(index) = entitlements.iter().position(|e| e.parent_id != source.id) {
        return Err(invalid(
            &format!("/entitlements/{index}/id"),
            format!(
                "entitlement `{}` belongs to another source; an access profile's entitlements are all on its source `{}`",
                entitlements[index].name, source.name
            ),
        ));
    }
    let enabled = flag(members, "enabled", false)?;
    if enabled && entitlements.is_empty() {
        return Err(invalid("/entitlements", "an enabled access profile needs at least one entitlement"));
    }
    let mut document = base_document(members, owner.as_deref(), text(members, "description")?);
    document.insert("source".into(), json!({ "type": "SOURCE", "id": source.id }));
    document.insert("entitlements".into(), stored_refs(CatalogKind::Entitlement, &entitlements));
    Ok(Draft {
        key: name.clone(),
        name,
        parent_id: source.id,
        owner_id: owner,
        enabled,
        requestable: flag(members, "requestable", true)?,
        document: Value::Object(document),
    })
}

pub(super) async fn render_access_profile(tx: &mut Tx, names: &mut Names, profile: &CatalogObject) -> ApiResult<Value> {
    let mut body = profile.document.clone();
    body["source"] = names.reference(tx, CatalogKind::Source, &profile.parent_id).await?;
    body["entitlements"] =
        rendered_refs(tx, names, CatalogKind::Entitlement, &profile.document, "entitlements").await?;
    body["owner"] = names.identity_ref(tx, profile.owner_id.as_deref()).await?;
    body["enabled"] = json!(profile.enabled);
    body["requestable"] = json!(profile.requestable);
    Ok(body)
}

pub(super) async fn prepare_role(tx: &mut Tx, body: &Value) -> ApiResult<Draft> {
    let members = object(body)?;
    let name = required_text(members, "name")?;
    let owner = owner(tx, members).await?;
    let profiles = references(tx, members, "accessProfiles", CatalogKind::AccessProfile).await?;
    let membership = match members.get("membership") {
        None | Some(Value::Null) => Value::Null,
        Some(membership) => {
            Membership::parse(membership).map_err(|e| invalid_rule("/membership", &e))?;
            membership.clone()
        }
    };
    if members.get("entitlements").and_then(Value::as_array).is_some_and(|e| !e.is_empty()) {
        return Err(invalid(
            "/entitlements",
            "a role grants entitlements through its access profiles; list those instead",
        ));
    }
    let mut document = base_document(members, owner.as_deref(), text(members, "description")?);
    document.insert("accessProfiles".into(), stored_refs(CatalogKind::AccessProfile, &profiles));
    document.insert("entitlements".into(), json!([]));
    document.insert("membership".into(), membership);
    Ok(Draft {
        key: name.clone(),
        name,
        parent_id: String::new(),
        owner_id: owner,
        enabled: flag(members, "enabled", false)?,
        requestable: flag(members, "requestable", false)?,
        document: Value::Object(document),
    })
}

pub(super) async fn render_role(tx: &mut Tx, names: &mut Names, role: &CatalogObject) -> ApiResult<Value> {
    let mut body = role.document.clone();
    body["accessProfiles"] =
        rendered_refs(tx, names, CatalogKind::AccessProfile, &role.document, "accessProfiles").await?;
    body["owner"] = names.identity_ref(tx, role.owner_id.as_deref()).await?;
    body["enabled"] = json!(role.enabled);
    body["requestable"] = json!(role.requestable);
    Ok(body)
}
