//! Identity profiles and their lifecycle states: a profile's authoritative source and attribute
//! transforms (checked by `AttributeMappings::parse`), a state's definition (checked by
//! `LifecycleState::parse`, with the access profiles and sources it names), their ISC shapes with
//! identity counts, and what must be true before one is deleted.

use serde_json::{Value, json};
use tessera_model::governance::{AttributeMappings, LifecycleState};
use tessera_store::{CatalogKind, CatalogObject, CatalogStore, Tx};

use super::objects::Draft;
use super::{Names, count_identities, invalid, invalid_rule, object, owner, quoted, reference_id, required_text, text};
use crate::error::ApiResult;

/// The priority of a profile that names none.
const DEFAULT_PRIORITY: i64 = 10;

pub(super) async fn prepare_profile(tx: &mut Tx, body: &Value) -> ApiResult<Draft> {
    let members = object(body)?;
    let name = required_text(members, "name")?;
    let owner = owner(tx, members).await?;
    let Some(source_id) = reference_id(members.get("authoritativeSource"), "/authoritativeSource")? else {
        return Err(invalid("/authoritativeSource", "is required: a reference to the source identities come from"));
    };
    let Some(source) = tx.object(CatalogKind::Source, &source_id).await? else {
        return Err(invalid("/authoritativeSource/id", format!("no source has the id `{source_id}`")));
    };
    if source.document.get("authoritative").and_then(Value::as_bool) != Some(true) {
        return Err(invalid(
            "/authoritativeSource/id",
            format!("source `{}` is not authoritative; set `authoritative: true` on it first", source.name),
        ));
    }
    let priority = match members.get("priority") {
        None | Some(Value::Null) => DEFAULT_PRIORITY,
        Some(value) => {
            value.as_i64().ok_or_else(|| invalid("/priority", format!("must be a whole number, not {value}")))?
        }
    };
    let config = match members.get("identityAttributeConfig") {
        None | Some(Value::Null) => json!({ "enabled": true, "attributeTransforms": [] }),
        Some(config) => config.clone(),
    };
    AttributeMappings::parse(&config).map_err(|e| invalid_rule("/identityAttributeConfig", &e))?;
    let mut document = members.clone();
    document.remove("name");
    document.insert("description".into(), json!(text(members, "description")?));
    match &owner {
        Some(id) => document.insert("owner".into(), json!({ "type": "IDENTITY", "id": id })),
        None => document.remove("owner"),
    };
    document.insert("priority".into(), json!(priority));
    document.insert("authoritativeSource".into(), json!({ "type": "SOURCE", "id": source.id }));
    document.insert("identityAttributeConfig".into(), config);
    Ok(Draft {
        key: name.clone(),
        name,
        parent_id: source.id,
        owner_id: owner,
        enabled: true,
        requestable: false,
        document: Value::Object(document),
    })
}

pub(super) async fn render_profile(tx: &mut Tx, names: &mut Names, profile: &CatalogObject) -> ApiResult<Value> {
    let mut body = profile.document.clone();
    body["authoritativeSource"] = names.reference(tx, CatalogKind::Source, &profile.parent_id).await?;
    body["owner"] = names.identity_ref(tx, profile.owner_id.as_deref()).await?;
    body["identityCount"] =
        json!(count_identities(tx, &format!("identityProfile.id eq {}", quoted(&profile.id))).await?);
    body["identityRefreshRequired"] = json!(false);
    body["hasTimeBasedAttr"] = json!(false);
    Ok(body)
}

/// The ids in an array member of a lifecycle state, each checked to exist as `kind`.
async fn check_ids(tx: &mut Tx, items: Option<&Value>, at: &str, kind: CatalogKind) -> ApiResult<()> {
    let Some(items) = items.and_then(Value::as_array) else { return Ok(()) };
    for (index, item) in items.iter().enumerate() {
        let id = item.as_str().unwrap_or_default();
        if tx.object(kind, id).await?.is_none() {
            let what = kind.as_str().to_lowercase().replace('_', " ");
            return Err(invalid(&format!("{at}/{index}"), format!("no {what} has the id `{id}`")));
        }
    }
    Ok(())
}

pub(super) async fn prepare_state(
    tx: &mut Tx,
    body: &Value,
    profile_id: &str,
    current: Option<&CatalogObject>,
) -> ApiResult<Draft> {
    let members = object(body)?;
    let state = LifecycleState::parse(body).map_err(|e| invalid_rule("", &e))?;
    if let Some(current) = current
        && current.key != state.technical_name()
    {
        return Err(invalid(
            "/technicalName",
            format!("a lifecycle state's technical name cannot change (it is `{}`)", current.key),
        ));
    }
    check_ids(tx, members.get("accessProfileIds"), "/accessProfileIds", CatalogKind::AccessProfile).await?;
    if let Some(actions) = members.get("accountActions").and_then(Value::as_array) {
        for (index, action) in actions.iter().enumerate() {
            let at = format!("/accountActions/{index}/sourceIds");
            check_ids(tx, action.get("sourceIds"), &at, CatalogKind::Source).await?;
        }
    }
    let name = state.name().map(str::trim).filter(|n| !n.is_empty()).unwrap_or(state.technical_name()).to_owned();
    // The engine reads the state from the document, so it is kept whole.
    let mut document = members.clone();
    document.insert("name".into(), json!(name));
    Ok(Draft {
        name,
        key: state.technical_name().to_owned(),
        parent_id: profile_id.to_owned(),
        owner_id: None,
        enabled: state.is_enabled(),
        requestable: false,
        document: Value::Object(document),
    })
}

pub(super) async fn render_state(tx: &mut Tx, state: &CatalogObject) -> ApiResult<Value> {
    let mut body = state.document.clone();
    let filter =
        format!("identityProfile.id eq {} and lifecycleState eq {}", quoted(&state.parent_id), quoted(&state.key));
    body["identityCount"] = json!(count_identities(tx, &filter).await?);
    body["enabled"] = json!(state.enabled);
    for (key, empty) in [
        ("description", Value::Null),
        ("identityState", Value::Null),
        ("accountActions", json!([])),
        ("accessProfileIds", json!([])),
        (
            "emailNotificationOption",
            json!({"notifyManagers": false, "notifyAllAdmins": false, "notifySpecificUsers": false, "emailAddressList": []}),
        ),
    ] {
        if body.get(key).is_none() {
            body[key] = empty;
        }
    }
    Ok(body)
}
