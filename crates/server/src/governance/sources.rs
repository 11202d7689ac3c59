//! Sources (`/v3/sources`): what a source document must hold (a connector Tessera has, valid connector
//! attributes for a delimited file, known features, a delete threshold from 0 to 100, correlation rules, a
//! create policy whose transforms parse),
//! its ISC shape with connector secrets masked (they are stored sealed), and what must be gone before one
//! is deleted.

use axum::http::StatusCode;
use serde_json::{Map, Value, json};
use tessera_connectors::DelimitedConfig;
use tessera_governance::ImportDirs;
use tessera_model::governance::CreatePolicy;
use tessera_store::secrets::{Keyring, SECRET_ATTRIBUTES};
use tessera_store::{CatalogKind, CatalogObject, CatalogStore, Tx};

use super::objects::Draft;
use super::{Names, flag, invalid, object, owner, required_text, text};
use crate::error::{ApiError, ApiResult};

/// The connectors a source may name, with the `type` ISC shows for each.
const CONNECTORS: &[(&str, &str)] = &[
    ("delimited-file", "DelimitedFile"),
    ("scim", "SCIM 2.0"),
    ("ldap", "LDAP"),
    ("manual", "Manual"),
    ("scim-inbound", "SCIM 2.0 Inbound"),
];

/// The features a SCIM or LDAP source has when it names none.
const LIVE_FEATURES: [&str; 3] = ["ENABLE", "PROVISIONING", "PASSWORD"];

/// ISC's source features.
const FEATURES: &[&str] = &[
    "AUTHENTICATE",
    "COMPOSITE",
    "DIRECT_PERMISSIONS",
    "DISCOVER_SCHEMA",
    "ENABLE",
    "MANAGER_LOOKUP",
    "NO_RANDOM_ACCESS",
    "PROXY",
    "SEARCH",
    "TEMPLATE",
    "UNLOCK",
    "UNSTRUCTURED_TARGETS",
    "SHAREPOINT_TARGET",
    "PROVISIONING",
    "GROUP_PROVISIONING",
    "SYNC_PROVISIONING",
    "PASSWORD",
    "CURRENT_PASSWORD",
    "ACCOUNT_ONLY_REQUEST",
    "ADDITIONAL_ACCOUNT_REQUEST",
    "NO_AGGREGATION",
    "GROUPS_HAVE_MEMBERS",
    "NO_PERMISSIONS_PROVISIONING",
    "NO_GROUP_PERMISSIONS_PROVISIONING",
    "NO_UNSTRUCTURED_TARGETS_PROVISIONING",
    "NO_DIRECT_PERMISSIONS_PROVISIONING",
    "PREFER_UUID",
    "ARM_SECURITY_EXTRACT",
    "ARM_UTILIZATION_EXTRACT",
    "ARM_CHANGELOG_EXTRACT",
    "USES_UUID",
    "APPLICATION_DISCOVERY",
    "DELETE",
];

/// The delete threshold a source without one gets, in percent (ISC's default).
const DEFAULT_DELETE_THRESHOLD: u64 = 10;

/// What answers show in place of a stored connector secret. Sent back (a client that PUTs what it
/// read), it keeps the stored secret.
pub(super) const MASK: &str = "********";

/// Checks a delimited-file source's connector attributes as the aggregation will read them: its
/// `file`, if it names one, must be inside an import directory.
pub(super) fn check_delimited(attributes: &Value, imports: &ImportDirs) -> ApiResult<DelimitedConfig> {
    let config = DelimitedConfig::from_json(attributes).map_err(|error| match error {
        tessera_connectors::Error::Config { key, message } => invalid(&format!("/connectorAttributes/{key}"), message),
        other => invalid("/connectorAttributes", other.to_string()),
    })?;
    match attributes.get("file") {
        None | Some(Value::Null) => Ok(config),
        Some(Value::String(file)) => match imports.check(file) {
            Ok(_) => Ok(config),
            Err(refused) => Err(invalid("/connectorAttributes/file", refused.to_string())),
        },
        Some(other) => Err(invalid("/connectorAttributes/file", format!("must be a file path, not {other}"))),
    }
}

fn features(body: &Map<String, Value>) -> ApiResult<Vec<Value>> {
    let items = match body.get("features") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(other) => return Err(invalid("/features", format!("must be an array of features, not {other}"))),
    };
    let mut out: Vec<Value> = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        match item.as_str() {
            Some(feature) if FEATURES.contains(&feature) => {
                if !out.contains(item) {
                    out.push(item.clone());
                }
            }
            _ => {
                return Err(invalid(
                    &format!("/features/{index}"),
                    format!("{item} is not a source feature; the features are {}", FEATURES.join(", ")),
                ));
            }
        }
    }
    Ok(out)
}

fn correlation(body: &Map<String, Value>) -> ApiResult<Vec<Value>> {
    let items = match body.get("correlation") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(other) => {
            return Err(invalid(
                "/correlation",
                format!("must be an array of {{\"identityAttribute\", \"accountAttribute\"}} rules, not {other}"),
            ));
        }
    };
    let mut rules = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let at = format!("/correlation/{index}");
        let Some(rule) = item.as_object() else {
            return Err(invalid(&at, "a rule is an object with `identityAttribute` and `accountAttribute`"));
        };
        let mut pair = Map::new();
        for key in ["identityAttribute", "accountAttribute"] {
            match rule.get(key).and_then(Value::as_str).map(str::trim) {
                Some(name) if !name.is_empty() => {
                    pair.insert(key.into(), json!(name));
                }
                _ => return Err(invalid(&format!("{at}/{key}"), "must name an attribute")),
            }
        }
        rules.push(Value::Object(pair));
    }
    Ok(rules)
}

fn delete_threshold(body: &Map<String, Value>) -> ApiResult<u64> {
    match body.get("deleteThreshold") {
        None | Some(Value::Null) => Ok(DEFAULT_DELETE_THRESHOLD),
        Some(value) => match value.as_u64() {
            Some(percent) if percent <= 100 => Ok(percent),
            _ => Err(invalid("/deleteThreshold", format!("must be a whole number from 0 to 100, not {value}"))),
        },
    }
}

pub(super) async fn prepare(
    tx: &mut Tx,
    body: &Value,
    current: Option<&CatalogObject>,
    imports: &ImportDirs,
) -> ApiResult<Draft> {
    let members = object(body)?;
    let name = required_text(members, "name")?;
    let description = text(members, "description")?;
    let owner = owner(tx, members).await?;
    let connector = required_text(members, "connector")?;
    let Some((_, default_type)) = CONNECTORS.iter().find(|(c, _)| *c == connector) else {
        let known: Vec<&str> = CONNECTORS.iter().map(|(c, _)| *c).collect();
        return Err(invalid(
            "/connector",
            format!("`{connector}` is not a connector; use one of {}", known.join(", ")),
        ));
    };
    if let Some(before) = current.and_then(|c| c.document.get("connector")).and_then(Value::as_str)
        && before != connector
    {
        return Err(invalid("/connector", format!("a source's connector cannot change (it is `{before}`)")));
    }
    let mut attributes = match members.get("connectorAttributes") {
        None | Some(Value::Null) => json!({}),
        Some(attributes @ Value::Object(_)) => attributes.clone(),
        Some(other) => return Err(invalid("/connectorAttributes", format!("must be an object, not {other}"))),
    };
    if connector == "delimited-file" {
        check_delimited(&attributes, imports)?;
    }
    seal_secrets(tx, &mut attributes, current)?;
    let group = governance_group(tx, members).await?;
    let manual = connector == "manual" || flag(members, "manualProvisioning", false)?;
    let mut document = members.clone();
    document.insert("description".into(), json!(description));
    match group {
        Some(group) => document.insert("governanceGroup".into(), group),
        None => document.remove("governanceGroup"),
    };
    match &owner {
        Some(id) => document.insert("owner".into(), json!({ "type": "IDENTITY", "id": id })),
        None => document.remove("owner"),
    };
    document.insert("connector".into(), json!(connector));
    document.insert("type".into(), json!(text(members, "type")?.unwrap_or_else(|| (*default_type).to_owned())));
    document.insert("authoritative".into(), json!(flag(members, "authoritative", false)?));
    // A live connector's source that names no features has what its connector can do.
    let features = match (members.get("features"), connector.as_str()) {
        (None | Some(Value::Null), "scim" | "ldap") => LIVE_FEATURES.iter().map(|f| json!(f)).collect(),
        _ => features(members)?,
    };
    document.insert("features".into(), Value::Array(features));
    if let Err(error) = CreatePolicy::parse(body) {
        return Err(invalid(&error.pointer, error.message));
    }
    document.insert("connectorAttributes".into(), attributes);
    document.insert("deleteThreshold".into(), json!(delete_threshold(members)?));
    document.insert("correlation".into(), Value::Array(correlation(members)?));
    document.remove("name");
    if manual && owner.is_none() && !document.contains_key("governanceGroup") {
        return Err(invalid(
            "/owner",
            "a source whose accounts people change by hand needs an owner or a governanceGroup to hand that work to; \
             without one, nobody would ever see it",
        ));
    }
    let mut draft = Draft::named(name, Value::Object(document));
    draft.owner_id = owner;
    Ok(draft)
}

/// The governance group a source hands its people's work to, as a reference to one that exists.
async fn governance_group(tx: &mut Tx, body: &Map<String, Value>) -> ApiResult<Option<Value>> {
    let Some(id) = super::reference_id(body.get("governanceGroup"), "/governanceGroup")? else { return Ok(None) };
    let group = tx
        .object(CatalogKind::Workgroup, &id)
        .await?
        .ok_or_else(|| invalid("/governanceGroup/id", format!("there is no governance group {id}")))?;
    Ok(Some(json!({"type": "GOVERNANCE_GROUP", "id": group.id, "name": group.name})))
}

/// Seals each secret connector attribute for storage, so no secret is ever written in plain text. The
/// mask keeps the secret `current` holds; the secret `current` already holds keeps its envelope (so a
/// PUT of the same secret changes nothing); any other text is sealed anew.
fn seal_secrets(tx: &Tx, attributes: &mut Value, current: Option<&CatalogObject>) -> ApiResult<()> {
    let Value::Object(members) = attributes else {
        return Ok(());
    };
    let stored = current.and_then(|source| source.document.get("connectorAttributes"));
    for field in SECRET_ATTRIBUTES {
        let at = format!("/connectorAttributes/{field}");
        let before = stored.and_then(|stored| stored.get(*field)).filter(|value| !value.is_null());
        let sealed = match (members.get(*field), before) {
            (None | Some(Value::Null), _) => continue,
            (Some(Value::String(text)), Some(before)) if text == MASK => match before {
                Value::String(plain) => keyring(tx)?.seal(field, plain),
                sealed => sealed.clone(),
            },
            (Some(Value::String(text)), None) if text == MASK => {
                return Err(invalid(
                    &at,
                    format!("`{MASK}` stands for a stored secret, and this source has none; send the secret itself"),
                ));
            }
            (Some(Value::String(text)), before) => {
                let keyring = keyring(tx)?;
                match before {
                    Some(sealed) if keyring.open(field, sealed).is_ok_and(|secret| secret == *text) => sealed.clone(),
                    _ => keyring.seal(field, text),
                }
            }
            // The message leaves the value out: it may be a secret sent in the wrong shape.
            (Some(_), _) => return Err(invalid(&at, "must be a string: the secret")),
        };
        members.insert((*field).to_owned(), sealed);
    }
    Ok(())
}

fn keyring(tx: &Tx) -> ApiResult<&Keyring> {
    tx.keyring().ok_or_else(|| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "no-secret-key",
            "this server holds no secret key, so it cannot store connector secrets",
        )
    })
}

/// The source's connector attributes as answers show them: every secret masked.
fn masked(attributes: &mut Value) {
    if let Value::Object(members) = attributes {
        for field in SECRET_ATTRIBUTES {
            if let Some(value) = members.get_mut(*field).filter(|value| !value.is_null()) {
                *value = json!(MASK);
            }
        }
    }
}

pub(super) async fn render(tx: &mut Tx, names: &mut Names, source: &CatalogObject) -> ApiResult<Value> {
    let mut body = source.document.clone();
    if let Some(attributes) = body.get_mut("connectorAttributes") {
        masked(attributes);
    }
    body["owner"] = names.identity_ref(tx, source.owner_id.as_deref()).await?;
    body["healthy"] = json!(true);
    body["status"] = json!("SOURCE_STATE_HEALTHY");
    Ok(body)
}
