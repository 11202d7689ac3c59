//! `/Groups`: each SCIM Group is an entitlement of the inbound source (attribute `groups`, value
//! the group's id, the resource kept under `scim` in its document) whose members are users of the
//! source. A membership change is an account change of each member whose `groups` attribute it
//! changes, pushed with the group in one transaction.

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};

use scim_v2::filter::Filter;
use serde_json::{Map, Value, json};
use tessera_governance::push::{PushedAccount, push_accounts, pushed_account};
use tessera_model::Timestamp;
use tessera_store::{CatalogKind, CatalogObject, CatalogStore, Tx};

use super::handlers::{Change, Resource};
use super::resource::{Meta, render as render_resource};
use super::schema::Kind;
use super::users::group_ids;
use super::{ScimError, ScimResult};

/// Where an entitlement's document keeps the SCIM resource.
const SCIM_KEY: &str = "scim";
/// The account attribute group memberships live in.
const ATTRIBUTE: &str = "groups";

fn is_group(object: &CatalogObject, source_id: &str) -> bool {
    object.kind == CatalogKind::Entitlement
        && object.parent_id == source_id
        && object.document.get(SCIM_KEY).is_some_and(Value::is_object)
}

fn stored_of(object: &CatalogObject) -> Map<String, Value> {
    object.document.get(SCIM_KEY).and_then(Value::as_object).cloned().unwrap_or_default()
}

fn version_of(object: &CatalogObject) -> String {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    object.document.get(SCIM_KEY).map(Value::to_string).unwrap_or_default().hash(&mut hasher);
    super::version(hasher.finish() as i64)
}

/// The display names of the source's groups, by id.
pub(crate) async fn names(tx: &mut Tx, source_id: &str) -> ScimResult<HashMap<String, String>> {
    let groups = tx.objects_of(CatalogKind::Entitlement, source_id).await?;
    Ok(groups.into_iter().filter(|g| is_group(g, source_id)).map(|g| (g.id, g.name)).collect())
}

fn render(base: &str, object: &CatalogObject) -> Map<String, Value> {
    let mut stored = stored_of(object);
    if let Some(Value::Array(members)) = stored.get_mut("members") {
        for member in members.iter_mut().filter_map(Value::as_object_mut) {
            let id = member.get("value").and_then(Value::as_str).unwrap_or_default().to_owned();
            member.entry("$ref").or_insert_with(|| json!(format!("{base}/Users/{id}")));
            member.entry("type").or_insert_with(|| json!("User"));
        }
    }
    let meta = Meta {
        created: object.created_at,
        modified: object.modified_at,
        location: format!("{base}/Groups/{}", object.id),
        version: version_of(object),
    };
    render_resource(Kind::Group, &object.id, &stored, &meta)
}

/// Every group of the source, rendered.
pub(crate) async fn all(tx: &mut Tx, base: &str, source: &CatalogObject) -> ScimResult<Vec<Map<String, Value>>> {
    let groups = tx.objects_of(CatalogKind::Entitlement, &source.id).await?;
    Ok(groups.iter().filter(|g| is_group(g, &source.id)).map(|g| render(base, g)).collect())
}

async fn found(tx: &mut Tx, source_id: &str, id: &str) -> ScimResult<CatalogObject> {
    tx.object(CatalogKind::Entitlement, id)
        .await?
        .filter(|g| is_group(g, source_id))
        .ok_or_else(|| ScimError::not_found(format!("no Group has the id `{id}`")))
}

fn member_ids(stored: &Map<String, Value>) -> Vec<String> {
    match stored.get("members") {
        Some(Value::Array(members)) => {
            members.iter().filter_map(|m| m.get("value").and_then(Value::as_str)).map(str::to_owned).collect()
        }
        _ => Vec::new(),
    }
}

/// Checks the members: each a user of the source, listed once. Returns their ids.
async fn check_members(tx: &mut Tx, source_id: &str, stored: &mut Map<String, Value>) -> ScimResult<Vec<String>> {
    let Some(Value::Array(members)) = stored.get_mut("members") else { return Ok(Vec::new()) };
    let mut seen = HashSet::new();
    let mut kept = Vec::with_capacity(members.len());
    let mut ordered = Vec::with_capacity(members.len());
    for member in members.drain(..) {
        let Some(id) = member.get("value").and_then(Value::as_str).map(str::to_owned) else {
            return Err(ScimError::bad_request("invalidValue", "each member needs a `value`: the id of a User"));
        };
        if member.get("type").and_then(Value::as_str).is_some_and(|t| !t.eq_ignore_ascii_case("User")) {
            return Err(ScimError::bad_request(
                "invalidValue",
                format!("member `{id}`: a Tessera group holds Users; groups in groups are not supported"),
            ));
        }
        if pushed_account(tx, source_id, &id).await?.is_none() {
            return Err(ScimError::bad_request("invalidValue", format!("member `{id}` is not a User of this service")));
        }
        if seen.insert(id.clone()) {
            ordered.push(id);
            kept.push(member);
        }
    }
    if kept.is_empty() {
        stored.remove("members");
    } else {
        stored.insert("members".into(), Value::Array(kept));
    }
    Ok(ordered)
}

/// Pushes the accounts whose membership of `group_id` changed from `before` to `after`.
async fn sync(
    tx: &mut Tx,
    now: Timestamp,
    source_id: &str,
    group_id: &str,
    before: &[String],
    after: &[String],
) -> ScimResult<()> {
    let joined: Vec<&String> = after.iter().filter(|id| !before.contains(id)).collect();
    let left: Vec<&String> = before.iter().filter(|id| !after.contains(id)).collect();
    let mut pushes: Vec<PushedAccount> = Vec::with_capacity(joined.len() + left.len());
    for (id, joins) in joined.into_iter().map(|id| (id, true)).chain(left.into_iter().map(|id| (id, false))) {
        // A member deleted since is simply no longer there to update.
        let Some(account) = pushed_account(tx, source_id, id).await? else { continue };
        let mut groups = group_ids(&account);
        groups.retain(|g| g != group_id);
        if joins {
            groups.push(group_id.to_owned());
        }
        let mut attributes = account.attributes.clone();
        attributes.insert(ATTRIBUTE.into(), json!(groups));
        pushes.push(PushedAccount {
            native_identity: account.native_identity,
            name: account.name,
            attributes,
            disabled: account.disabled,
        });
    }
    if !pushes.is_empty() {
        push_accounts(tx, now, source_id, pushes).await?;
    }
    Ok(())
}

/// Takes a user that is being deleted out of a group's members.
pub(crate) async fn drop_member(
    tx: &mut Tx,
    source_id: &str,
    group_id: &str,
    user_id: &str,
    now: Timestamp,
) -> ScimResult<()> {
    let Ok(mut group) = found(tx, source_id, group_id).await else { return Ok(()) };
    let mut stored = stored_of(&group);
    if let Some(Value::Array(members)) = stored.get_mut("members") {
        members.retain(|m| m.get("value").and_then(Value::as_str) != Some(user_id));
        if members.is_empty() {
            stored.remove("members");
        }
    }
    group.document[SCIM_KEY] = Value::Object(stored);
    group.modified_at = now;
    tx.update_object(&group).await?;
    Ok(())
}

/// The entitlement a group is stored as.
fn object(source_id: &str, id: &str, stored: Map<String, Value>, created: Timestamp, now: Timestamp) -> CatalogObject {
    let name = stored.get("displayName").and_then(Value::as_str).unwrap_or(id).to_owned();
    CatalogObject {
        kind: CatalogKind::Entitlement,
        id: id.to_owned(),
        name,
        key: format!("{ATTRIBUTE}={id}"),
        parent_id: source_id.to_owned(),
        owner_id: None,
        enabled: true,
        requestable: false,
        document: json!({
            "attribute": ATTRIBUTE, "value": id, "source": {"type": "SOURCE", "id": source_id},
            "privileged": false, "attributes": {}, "description": null, SCIM_KEY: stored,
        }),
        created_at: created,
        modified_at: now,
    }
}

/// SCIM Groups, as the one resource handler serves them.
pub(crate) struct Groups;

impl Resource for Groups {
    type Record = CatalogObject;
    const KIND: Kind = Kind::Group;
    const ACTIONS: &'static str = "scim.group";
    const TARGET: &'static str = "entitlement";

    async fn all(
        tx: &mut Tx,
        base: &str,
        source: &CatalogObject,
        _filter: Option<&Filter>,
    ) -> ScimResult<Vec<Map<String, Value>>> {
        all(tx, base, source).await
    }

    async fn found(tx: &mut Tx, source_id: &str, id: &str) -> ScimResult<CatalogObject> {
        found(tx, source_id, id).await
    }

    fn version(group: &CatalogObject) -> String {
        version_of(group)
    }

    fn stored(group: &CatalogObject) -> Map<String, Value> {
        stored_of(group)
    }

    async fn render(
        _tx: &mut Tx,
        base: &str,
        _source_id: &str,
        group: &CatalogObject,
    ) -> ScimResult<Map<String, Value>> {
        Ok(render(base, group))
    }

    /// Stores the group and pushes the account change of each member who joined or left.
    async fn write(
        change: &mut Change<'_>,
        id: &str,
        before: Option<&CatalogObject>,
        mut stored: Map<String, Value>,
    ) -> ScimResult<CatalogObject> {
        let source = change.source.id.clone();
        let members = check_members(change.tx, &source, &mut stored).await?;
        let (group, earlier) = match before {
            None => {
                let group = object(&source, id, stored, change.now, change.now);
                change.tx.insert_object(&group).await?;
                (group, Vec::new())
            }
            Some(before) => {
                let group = object(&source, id, stored, before.created_at, change.now);
                change.tx.update_object(&group).await?;
                (group, member_ids(&stored_of(before)))
            }
        };
        sync(change.tx, change.now, &source, id, &earlier, &members).await?;
        Ok(group)
    }

    /// The entitlement goes and its members leave it.
    async fn remove(change: &mut Change<'_>, group: &CatalogObject) -> ScimResult<()> {
        change.tx.delete_object(CatalogKind::Entitlement, &group.id).await?;
        let members = member_ids(&stored_of(group));
        sync(change.tx, change.now, &change.source.id, &group.id, &members, &[]).await
    }

    fn audited(source_id: &str, group: &CatalogObject) -> (String, Value) {
        let members = member_ids(&stored_of(group)).len();
        (group.id.clone(), json!({"source": source_id, "displayName": group.name, "members": members}))
    }
}
