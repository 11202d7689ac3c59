//! `/Users`: each SCIM User is an account of the inbound source, its native identity the `id`
//! Tessera assigns and its name the `userName` (unique, ignoring case). The account's attributes
//! are the user flattened for identity-profile transforms (`userName`, `givenName`,
//! `familyName`, `displayName`, `email`, `active`, `department`, `manager`, `groups`…) plus the
//! whole resource under `scimResource`, so a GET answers what was PUT.

use std::collections::HashMap;

use scim_v2::filter::{AttrExp, CompValue, CompareOp, Filter};
use serde_json::{Map, Value, json};
use tessera_governance::push::{PushedAccount, push_accounts, pushed_account, remove_pushed_account};
use tessera_store::query::{Filter as StoreFilter, quoted};
use tessera_store::{AccountRecord, CatalogObject, IdentityStore, Listing, Tx};

use super::handlers::{Change, Resource};
use super::resource::{MAX_VALUE_CHARS, Meta, render as render_resource};
use super::schema::{ENTERPRISE_SCHEMA, Kind};
use super::{ScimError, ScimResult, groups, version};

/// The account attribute holding the whole SCIM resource.
const RESOURCE_KEY: &str = "scimResource";
/// Accounts read per query when listing.
const PAGE: i64 = 1000;

/// The stored resource of a user's account.
fn stored_of(account: &AccountRecord) -> Map<String, Value> {
    match account.attributes.get(RESOURCE_KEY) {
        Some(Value::Object(stored)) => stored.clone(),
        // An account that reached the source another way: what its columns say.
        _ => Map::from_iter([("userName".to_owned(), json!(account.name))]),
    }
}

/// The ids of the groups a user's account is in.
pub(crate) fn group_ids(account: &AccountRecord) -> Vec<String> {
    match account.attributes.get("groups") {
        Some(Value::Array(ids)) => ids.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
        _ => Vec::new(),
    }
}

/// The `value` of a multi-valued attribute's primary value, or of its first.
fn primary<'a>(stored: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    let items = stored.get(key)?.as_array()?;
    let chosen = items.iter().find(|i| i.get("primary") == Some(&Value::Bool(true))).or(items.first())?;
    chosen.get("value")
}

/// The account a user becomes: flat attributes for identity-profile transforms, the group ids,
/// and the resource itself.
pub(crate) fn flatten(id: &str, stored: &Map<String, Value>, groups: &[String]) -> PushedAccount {
    let mut attributes = Map::new();
    let mut put = |key: &str, value: Option<&Value>| {
        if let Some(value) = value.filter(|v| !v.is_null()) {
            attributes.insert(key.to_owned(), value.clone());
        }
    };
    for key in [
        "userName",
        "externalId",
        "displayName",
        "nickName",
        "title",
        "userType",
        "preferredLanguage",
        "locale",
        "timezone",
        "profileUrl",
        "active",
    ] {
        put(key, stored.get(key));
    }
    if let Some(Value::Object(name)) = stored.get("name") {
        for key in ["givenName", "familyName", "middleName", "honorificPrefix", "honorificSuffix"] {
            put(key, name.get(key));
        }
        put("formattedName", name.get("formatted"));
    }
    put("email", primary(stored, "emails"));
    put("phoneNumber", primary(stored, "phoneNumbers"));
    if let Some(Value::Object(enterprise)) = stored.get(ENTERPRISE_SCHEMA) {
        for key in ["employeeNumber", "costCenter", "organization", "division", "department"] {
            put(key, enterprise.get(key));
        }
        put("manager", enterprise.get("manager").and_then(|m| m.get("value")));
    }
    if let Some(Value::Array(emails)) = stored.get("emails") {
        let all: Vec<Value> = emails.iter().filter_map(|e| e.get("value").cloned()).collect();
        attributes.insert("emails".into(), Value::Array(all));
    }
    attributes.insert("groups".into(), json!(groups));
    attributes.insert(RESOURCE_KEY.into(), Value::Object(stored.clone()));
    PushedAccount {
        native_identity: id.to_owned(),
        name: stored.get("userName").and_then(Value::as_str).unwrap_or_default().to_owned(),
        disabled: stored.get("active") == Some(&Value::Bool(false)),
        attributes,
    }
}

/// The user as served, its groups named by `group_names` (id → display name).
fn render(base: &str, account: &AccountRecord, group_names: &HashMap<String, String>) -> Map<String, Value> {
    let mut stored = stored_of(account);
    let memberships: Vec<Value> = group_ids(account)
        .into_iter()
        .map(|id| {
            json!({"value": id, "$ref": format!("{base}/Groups/{id}"), "display": group_names.get(&id), "type": "direct"})
        })
        .collect();
    if !memberships.is_empty() {
        stored.insert("groups".into(), Value::Array(memberships));
    }
    let id = &account.native_identity;
    let meta = Meta {
        created: account.created_at,
        modified: account.modified_at,
        location: format!("{base}/Users/{id}"),
        version: version(account.attributes_hash),
    };
    render_resource(Kind::User, id, &stored, &meta)
}

/// A page of the source's accounts matching an ISC filter beyond the source.
async fn accounts(tx: &mut Tx, source_id: &str, condition: Option<&str>) -> ScimResult<Vec<AccountRecord>> {
    let text = match condition {
        Some(condition) => format!("sourceId eq {} and {condition}", quoted(source_id)),
        None => format!("sourceId eq {}", quoted(source_id)),
    };
    let filter = StoreFilter::parse(&text).map_err(ScimError::internal)?;
    let mut found = Vec::new();
    loop {
        let listing = Listing { filter: Some(&filter), limit: PAGE, offset: found.len() as i64, ..Listing::default() };
        let (page, _) = tx.list_accounts(&listing).await?;
        let full = page.len() as i64 == PAGE;
        found.extend(page);
        if !full {
            return Ok(found);
        }
    }
}

/// The source's accounts whose name is `user_name` ignoring case.
async fn named(tx: &mut Tx, source_id: &str, user_name: &str) -> ScimResult<Vec<AccountRecord>> {
    // `sw` ignores case and narrows the rows; equality is then checked here.
    let candidates = accounts(tx, source_id, Some(&format!("name sw {}", quoted(user_name)))).await?;
    let wanted = user_name.to_lowercase();
    Ok(candidates.into_iter().filter(|a| a.name.to_lowercase() == wanted).collect())
}

/// Every user, rendered; a filter that is only `userName eq`, `id eq` or `externalId eq` reads
/// just the accounts it can match (identity providers look users up that way before each push).
pub(crate) async fn all(
    tx: &mut Tx,
    base: &str,
    source: &CatalogObject,
    filter: Option<&Filter>,
) -> ScimResult<Vec<Map<String, Value>>> {
    let lookup = match filter {
        Some(Filter::Attr(AttrExp::Comparison(path, CompareOp::Eq, CompValue::Str(value))))
            if path.sub_attr.is_none() && path.uri.as_deref().is_none_or(|u| u == Kind::User.core().id) =>
        {
            if value.chars().count() > MAX_VALUE_CHARS {
                return Err(ScimError::bad_request(
                    "invalidFilter",
                    format!("the value compared is longer than {MAX_VALUE_CHARS} characters, which no value is"),
                ));
            }
            Some((path.name.to_ascii_lowercase(), value.clone()))
        }
        _ => None,
    };
    let found = match lookup {
        Some((name, value)) if name == "username" => named(tx, &source.id, &value).await?,
        Some((name, value)) if name == "id" => pushed_account(tx, &source.id, &value).await?.into_iter().collect(),
        Some((name, value)) if name == "externalid" => {
            accounts(tx, &source.id, Some(&format!("attributes.externalId eq {}", quoted(&value)))).await?
        }
        _ => accounts(tx, &source.id, None).await?,
    };
    let names = groups::names(tx, &source.id).await?;
    Ok(found.iter().map(|a| render(base, a, &names)).collect())
}

/// Refuses a `userName` another user of the source has.
async fn check_unique(tx: &mut Tx, source_id: &str, user_name: &str, me: Option<&str>) -> ScimResult<()> {
    let taken = named(tx, source_id, user_name).await?.into_iter().any(|a| Some(a.native_identity.as_str()) != me);
    if taken {
        return Err(ScimError::uniqueness(format!("the userName `{user_name}` is taken by another user")));
    }
    Ok(())
}

fn user_name(stored: &Map<String, Value>) -> &str {
    stored.get("userName").and_then(Value::as_str).unwrap_or_default()
}

/// SCIM Users, as the one resource handler serves them.
pub(crate) struct Users;

impl Resource for Users {
    type Record = AccountRecord;
    const KIND: Kind = Kind::User;
    const ACTIONS: &'static str = "scim.user";
    const TARGET: &'static str = "account";

    async fn all(
        tx: &mut Tx,
        base: &str,
        source: &CatalogObject,
        filter: Option<&Filter>,
    ) -> ScimResult<Vec<Map<String, Value>>> {
        all(tx, base, source, filter).await
    }

    async fn found(tx: &mut Tx, source_id: &str, id: &str) -> ScimResult<AccountRecord> {
        pushed_account(tx, source_id, id)
            .await?
            .ok_or_else(|| ScimError::not_found(format!("no User has the id `{id}`")))
    }

    fn version(account: &AccountRecord) -> String {
        version(account.attributes_hash)
    }

    fn stored(account: &AccountRecord) -> Map<String, Value> {
        stored_of(account)
    }

    async fn render(
        tx: &mut Tx,
        base: &str,
        source_id: &str,
        account: &AccountRecord,
    ) -> ScimResult<Map<String, Value>> {
        let names = groups::names(tx, source_id).await?;
        Ok(render(base, account, &names))
    }

    /// Stores the user, keeping its group memberships; its `userName` must be free.
    async fn write(
        change: &mut Change<'_>,
        id: &str,
        before: Option<&AccountRecord>,
        stored: Map<String, Value>,
    ) -> ScimResult<AccountRecord> {
        let name = user_name(&stored);
        if !before.is_some_and(|a| a.name.eq_ignore_ascii_case(name)) {
            check_unique(&mut change.tx, &change.source.id, name, before.map(|_| id)).await?;
        }
        let groups = before.map(group_ids).unwrap_or_default();
        let pushed = flatten(id, &stored, &groups);
        let mut accounts = push_accounts(&mut change.tx, change.now, &change.source.id, vec![pushed]).await?;
        accounts.pop().ok_or_else(|| ScimError::internal("a push stored no account"))
    }

    /// The account goes, with its identity on an authoritative source, and the user leaves its groups.
    async fn remove(change: &mut Change<'_>, account: &AccountRecord) -> ScimResult<()> {
        let id = &account.native_identity;
        for group in group_ids(account) {
            groups::drop_member(&mut change.tx, &change.source.id, &group, id, change.now).await?;
        }
        remove_pushed_account(&mut change.tx, change.now, &change.source.id, id).await?;
        Ok(())
    }

    fn audited(source_id: &str, account: &AccountRecord) -> (String, Value) {
        let detail = json!({"source": source_id, "scimId": account.native_identity, "userName": account.name});
        (account.id.clone(), detail)
    }
}
