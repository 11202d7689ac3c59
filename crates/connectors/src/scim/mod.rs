//! The SCIM 2.0 connector (RFC 7643, RFC 7644): provisions users and their group memberships, and reads
//! users and groups page by page.
//!
//! - **Create** posts a user (attributes mapped as [`mapping`] describes) whose `externalId` is the request's
//!   key unless the request sets one. When a retry meets a `409` (the user was created, the answer lost), the
//!   user is looked up by `userName`; if its `externalId` is the one sent, the create succeeded. Group
//!   memberships requested under the group attribute (Add) are added after the user exists.
//! - **Modify** PATCHes the user (Set → `replace`, Add → `add`, Remove → `remove` of the matching elements);
//!   Add and Remove under the group attribute PATCH the group's `members`. **Enable** and **Disable** replace
//!   `active`, **Password** replaces `password`. **Delete** deletes the user; a user already gone is deleted.
//! - The native identity is the SCIM user's `id`; a group entitlement's value is the group's `id`.
//! - A user's memberships are read under the group attribute, as group ids: from the user's `groups` when the
//!   service provider sends it, else from the groups' `members` ([`members`]): an account read reads every
//!   group's members once, with its first page, and a single user's groups are looked up by a filter.
//! - HTTP 408, 429 and 5xx, timeouts and connection failures are retryable; other failures are permanent and
//!   carry the SCIM error's `detail`. Neither the token nor the password appears in a message.

mod config;
mod http;
pub mod mapping;
mod members;

use std::sync::Arc;

use reqwest::Method;
use serde_json::{Map, Value, json};

pub use config::{DEFAULT_PAGE_SIZE, DEFAULT_TIMEOUT, MAX_PAGE_SIZE, ScimAuth, ScimConfig};
use http::Http;
use mapping::{PATCH_SCHEMA, USER_SCHEMA};
use members::CurrentRead;

use crate::{
    Account, AccountRequest, AttributeOperation, Connector, ConnectorError, Entitlement, Error, Feature, Operation,
    Outcome, Page,
};

const FEATURES: [Feature; 5] = [
    Feature::Enable,
    Feature::Provisioning,
    Feature::Password,
    Feature::AccountAggregation,
    Feature::EntitlementAggregation,
];

/// A connection to one SCIM 2.0 service provider.
#[derive(Debug)]
pub struct ScimConnector {
    http: Http,
    page_size: u32,
    group_attribute: String,
    /// The memberships of the account read under way, for service providers that do not send `groups`.
    reads: CurrentRead,
}

/// A request's group membership changes.
#[derive(Debug, Default)]
struct Memberships {
    add: Vec<String>,
    remove: Vec<String>,
}

impl Memberships {
    fn is_empty(&self) -> bool {
        self.add.is_empty() && self.remove.is_empty()
    }
}

impl ScimConnector {
    /// A connector for the service provider `config` names. Nothing is sent until the first request.
    pub fn new(config: ScimConfig) -> Result<Self, Error> {
        config.check()?;
        Ok(Self {
            http: Http::new(&config)?,
            page_size: config.page_size,
            group_attribute: config.group_attribute,
            reads: CurrentRead::default(),
        })
    }

    async fn create(&self, request: &AccountRequest, key: &str) -> Result<Outcome, ConnectorError> {
        let mut body = Map::new();
        body.insert("schemas".to_owned(), json!([USER_SCHEMA]));
        let mut memberships = Memberships::default();
        for attribute in &request.attributes {
            if attribute.operation == AttributeOperation::Remove {
                return Err(ConnectorError::permanent(format!("a Create cannot remove `{}`", attribute.name)));
            }
            if attribute.name == self.group_attribute {
                memberships.add.extend(group_ids(&attribute.name, &attribute.value)?);
            } else {
                let add = attribute.operation == AttributeOperation::Add;
                mapping::set_in_body(&mut body, &attribute.name, &attribute.value, add)?;
            }
        }
        let Some(user_name) = body.get("userName").and_then(Value::as_str).filter(|name| !name.is_empty()) else {
            return Err(ConnectorError::permanent("a Create needs a `userName` attribute"));
        };
        let user_name = user_name.to_owned();
        let external_id = body.entry("externalId").or_insert_with(|| Value::String(key.to_owned())).clone();
        if let Some(password) = &request.password {
            body.insert("password".to_owned(), Value::String(password.clone()));
        }
        let reply = self.http.send(Method::POST, &["Users"], &[], Some(&Value::Object(body))).await?;
        // 409 is RFC 7644's answer to a taken userName (§3.3); some providers answer 400 with `uniqueness`.
        let taken = reply.status == reqwest::StatusCode::CONFLICT || reply.scim_type() == Some("uniqueness");
        let user = if taken {
            // Most likely the retry of a create whose answer was lost: the user is ours if it has our externalId.
            let Some(user) = self.find_user(&user_name).await? else {
                return Err(reply.error());
            };
            if user.get("externalId") != Some(&external_id) {
                let id = user.get("id").and_then(Value::as_str).unwrap_or("?");
                let mut error = reply.error();
                error.message = format!(
                    "{} (user {id} has userName `{user_name}` and was not created by this request: its externalId \
                     is not {external_id})",
                    error.message
                );
                return Err(error);
            }
            user
        } else {
            match reply.success()? {
                Some(user) if user.get("id").is_some() => user,
                _ => self
                    .find_user(&user_name)
                    .await?
                    .ok_or_else(|| ConnectorError::permanent("SCIM POST /Users: the answer holds no user"))?,
            }
        };
        let mut account = mapping::account(&user, &self.group_attribute)?;
        if !memberships.is_empty() {
            self.change_memberships(&account.native_identity, &memberships).await?;
            account = self.user(&account.native_identity).await?;
        }
        Ok(Outcome::Success { native_identity: account.native_identity.clone(), account: Some(account) })
    }

    /// Modify, Enable, Disable and Password: one PATCH of the user, then the group memberships.
    async fn modify(&self, request: &AccountRequest, id: &str) -> Result<Outcome, ConnectorError> {
        let mut operations = Vec::new();
        let mut memberships = Memberships::default();
        for attribute in &request.attributes {
            let (name, value) = (attribute.name.as_str(), &attribute.value);
            match (attribute.operation, name == self.group_attribute) {
                (AttributeOperation::Add, true) => memberships.add.extend(group_ids(name, value)?),
                (AttributeOperation::Remove, true) => memberships.remove.extend(group_ids(name, value)?),
                (AttributeOperation::Set, true) => {
                    return Err(ConnectorError::permanent(format!(
                        "`{name}` cannot be Set: request the memberships to add and to remove"
                    )));
                }
                (AttributeOperation::Set, false) => operations.push(mapping::replace_op(name, value)?),
                (AttributeOperation::Add, false) => operations.push(mapping::add_op(name, value)?),
                (AttributeOperation::Remove, false) => operations.extend(mapping::remove_ops(name, value)),
            }
        }
        match request.operation {
            Operation::Enable | Operation::Disable => operations.push(json!({
                "op": "replace", "path": "active", "value": request.operation == Operation::Enable,
            })),
            Operation::Password => {
                let Some(password) = &request.password else {
                    return Err(ConnectorError::permanent("a Password request needs a password"));
                };
                operations.push(json!({ "op": "replace", "path": "password", "value": password }));
            }
            _ => {}
        }
        let mut account = if operations.is_empty() {
            // Nothing to change on the user, but the user must exist before it joins or leaves a group.
            Some(self.user(id).await?)
        } else {
            let patch = json!({ "schemas": [PATCH_SCHEMA], "Operations": operations });
            let answer = self.http.call(Method::PATCH, &["Users", id], &[], Some(&patch)).await?;
            match answer.filter(|user| user.get("id").is_some()) {
                // The memberships change next, and the user is read again after that.
                Some(user) if !memberships.is_empty() => Some(mapping::account(&user, &self.group_attribute)?),
                Some(user) => Some(self.account_of(&user).await?),
                None => None,
            }
        };
        if !memberships.is_empty() {
            self.change_memberships(id, &memberships).await?;
            account = Some(self.user(id).await?);
        }
        Ok(Outcome::Success { native_identity: id.to_owned(), account })
    }

    async fn delete(&self, id: &str) -> Result<Outcome, ConnectorError> {
        let reply = self.http.send(Method::DELETE, &["Users", id], &[], None).await?;
        // A user that is not there is as deleted as it gets: the retry of a delete whose answer was lost.
        if reply.status != reqwest::StatusCode::NOT_FOUND {
            reply.success()?;
        }
        Ok(Outcome::Success { native_identity: id.to_owned(), account: None })
    }

    /// Adds the user to and removes it from groups. Adding a member a group has, or removing one it does not,
    /// changes nothing and is no error (RFC 7644 §3.5.2.1, §3.5.2.2).
    async fn change_memberships(&self, user_id: &str, memberships: &Memberships) -> Result<(), ConnectorError> {
        let member = json!([{ "value": user_id }]);
        let remove_path = format!("members[value eq {}]", mapping::filter_literal(&Value::String(user_id.to_owned())));
        let changes = memberships
            .add
            .iter()
            .map(|group| (group, json!({ "op": "add", "path": "members", "value": member })))
            .chain(memberships.remove.iter().map(|group| (group, json!({ "op": "remove", "path": remove_path }))));
        for (group, operation) in changes {
            let patch = json!({ "schemas": [PATCH_SCHEMA], "Operations": [operation] });
            self.http.call(Method::PATCH, &["Groups", group], &[], Some(&patch)).await?;
        }
        Ok(())
    }

    async fn user(&self, id: &str) -> Result<Account, ConnectorError> {
        let user = self.http.call(Method::GET, &["Users", id], &[], None).await?;
        let user = user.ok_or_else(|| ConnectorError::permanent(format!("SCIM GET /Users/{id}: empty answer")))?;
        self.account_of(&user).await
    }

    /// A user as an account, its memberships looked up when the service provider does not send them.
    async fn account_of(&self, user: &Value) -> Result<Account, ConnectorError> {
        let mut account = mapping::account(user, &self.group_attribute)?;
        if !members::carries_groups(user)
            && let Some(groups) = self.groups_of_user(&account.native_identity).await?
        {
            self.set_groups(&mut account, groups);
        }
        Ok(account)
    }

    /// Gives `account` the memberships worked out from the groups; none leaves the attribute out, as a
    /// service provider leaves out an empty `groups`.
    fn set_groups(&self, account: &mut Account, groups: Vec<String>) {
        if !groups.is_empty() {
            let groups = groups.into_iter().map(Value::String).collect();
            account.attributes.insert(self.group_attribute.clone(), Value::Array(groups));
        }
    }

    /// The user whose `userName` is `user_name` (compared as the service provider compares it).
    async fn find_user(&self, user_name: &str) -> Result<Option<Value>, ConnectorError> {
        let filter = format!("userName eq {}", mapping::filter_literal(&Value::String(user_name.to_owned())));
        let answer = self.http.call(Method::GET, &["Users"], &[("filter", &filter)], None).await?;
        let (mut users, _) = list(answer, 1, u64::MAX, "SCIM GET /Users")?;
        Ok(if users.is_empty() { None } else { Some(users.swap_remove(0)) })
    }

    /// One page of a resource type's list.
    async fn page(
        &self,
        resource: &str,
        cursor: Option<&str>,
        extra: &[(&str, &str)],
    ) -> Result<(Vec<Value>, Option<String>), ConnectorError> {
        let start = match cursor {
            None => 1,
            Some(cursor) => cursor
                .parse::<u64>()
                .ok()
                .filter(|start| *start >= 1)
                .ok_or_else(|| ConnectorError::permanent(format!("`{cursor}` is not a SCIM page cursor")))?,
        };
        let (start_text, count_text) = (start.to_string(), self.page_size.to_string());
        let mut query = vec![("startIndex", start_text.as_str()), ("count", count_text.as_str())];
        query.extend_from_slice(extra);
        let answer = self.http.call(Method::GET, &[resource], &query, None).await?;
        let (items, next) = list(answer, start, u64::from(self.page_size), &format!("SCIM GET /{resource}"))?;
        Ok((items, next.map(|next| next.to_string())))
    }
}

/// A list response's resources (RFC 7644 §3.4.2) and the `startIndex` of the page after it, if any.
fn list(
    answer: Option<Value>,
    start: u64,
    count: u64,
    label: &str,
) -> Result<(Vec<Value>, Option<u64>), ConnectorError> {
    let Some(Value::Object(mut answer)) = answer else {
        return Err(ConnectorError::permanent(format!("{label}: the answer is not a list response")));
    };
    let resources = match answer.remove("Resources").or_else(|| answer.remove("resources")) {
        Some(Value::Array(resources)) => resources,
        None | Some(Value::Null) => Vec::new(),
        Some(_) => return Err(ConnectorError::permanent(format!("{label}: `Resources` is not an array"))),
    };
    let total = answer.get("totalResults").and_then(Value::as_u64);
    let after = start.saturating_add(resources.len() as u64);
    let more = match total {
        _ if resources.is_empty() => false,
        Some(total) => after <= total,
        None => resources.len() as u64 >= count,
    };
    Ok((resources, more.then_some(after)))
}

/// The group ids an attribute request names: a string or an array of strings.
fn group_ids(name: &str, value: &Value) -> Result<Vec<String>, ConnectorError> {
    mapping::values(value)
        .into_iter()
        .map(|value| match value {
            Value::String(id) if !id.is_empty() => Ok(id.clone()),
            other => Err(ConnectorError::permanent(format!("`{name}`: {other} is not a group id"))),
        })
        .collect()
}

/// `error` with every occurrence of `secret` masked, in case a service provider echoes it.
fn scrub(mut error: ConnectorError, secret: Option<&str>) -> ConnectorError {
    if let Some(secret) = secret.filter(|secret| secret.len() >= 4)
        && error.message.contains(secret)
    {
        error.message = error.message.replace(secret, "********");
    }
    error
}

impl Connector for ScimConnector {
    fn features(&self) -> &[Feature] {
        &FEATURES
    }

    async fn provision(&self, request: &AccountRequest, key: &str) -> Result<Outcome, ConnectorError> {
        let identity = || {
            request.native_identity.as_deref().filter(|id| !id.is_empty()).ok_or_else(|| {
                ConnectorError::permanent(format!(
                    "a {} request needs the account's native identity",
                    request.operation.as_str()
                ))
            })
        };
        let outcome = match request.operation {
            Operation::Create => self.create(request, key).await,
            Operation::Delete => self.delete(identity()?).await,
            Operation::Unlock => Err(ConnectorError::permanent("the SCIM connector cannot unlock accounts")),
            Operation::Modify | Operation::Enable | Operation::Disable | Operation::Password => {
                self.modify(request, identity()?).await
            }
        };
        outcome.map_err(|error| scrub(error, request.password.as_deref()))
    }

    /// A page of users. When the first page's users carry no `groups`, the read also reads every group's
    /// members once and keeps the map for its later pages, whose cursors (`{startIndex}.{run}`) name the
    /// read; a page whose read's map is gone (another read took its place, or the cursor came from another
    /// connector) reads the groups again. A user that carries `groups` keeps them as they are.
    async fn accounts(&self, cursor: Option<&str>) -> Result<Page<Account>, ConnectorError> {
        let (start, run) = match cursor.map(|cursor| (cursor, cursor.split_once('.'))) {
            None => (None, None),
            Some((cursor, None)) => (Some(cursor), None),
            Some((cursor, Some((start, run)))) => {
                let run = run
                    .parse::<u64>()
                    .map_err(|_| ConnectorError::permanent(format!("`{cursor}` is not a SCIM page cursor")))?;
                (Some(start), Some(run))
            }
        };
        let (users, next) = self.page("Users", start, &[]).await?;
        let index = match (cursor, run) {
            (None, _) if !users.is_empty() && !users.iter().any(members::carries_groups) => {
                Some((CurrentRead::next_run(), Arc::new(self.group_index().await?)))
            }
            (Some(_), Some(run)) => match self.reads.get(run) {
                Some(index) => Some((run, index)),
                None => Some((run, Arc::new(self.group_index().await?))),
            },
            _ => None,
        };
        let mut items = Vec::with_capacity(users.len());
        for user in &users {
            let mut account = mapping::account(user, &self.group_attribute)?;
            if let Some((_, index)) = &index
                && !members::carries_groups(user)
            {
                let groups = index.groups_of(&account.native_identity);
                self.set_groups(&mut account, groups);
            }
            items.push(account);
        }
        let next = match (index, next) {
            (Some((run, index)), Some(next)) => {
                self.reads.keep(run, index);
                Some(format!("{next}.{run}"))
            }
            (Some((run, _)), None) => {
                self.reads.finish(run);
                None
            }
            (None, next) => next,
        };
        Ok(Page { items, next })
    }

    async fn entitlements(&self, cursor: Option<&str>) -> Result<Page<Entitlement>, ConnectorError> {
        // Members are left out: a large group's list would make the page huge, and entitlements do not need it.
        let (groups, next) = self.page("Groups", cursor, &[("excludedAttributes", "members")]).await?;
        let items =
            groups.iter().map(|group| mapping::entitlement(group, &self.group_attribute)).collect::<Result<_, _>>()?;
        Ok(Page { items, next })
    }

    async fn test_connection(&self) -> Result<(), ConnectorError> {
        let answer = self.http.call(Method::GET, &["Users"], &[("startIndex", "1"), ("count", "1")], None).await?;
        list(answer, 1, 1, "SCIM GET /Users").map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_end_at_the_total_or_an_empty_page() {
        let answer = |total: u64, n: usize| Some(json!({ "totalResults": total, "Resources": vec![json!({}); n] }));
        assert_eq!(list(answer(5, 2), 1, 2, "x").unwrap().1, Some(3));
        assert_eq!(list(answer(5, 2), 3, 2, "x").unwrap().1, Some(5));
        assert_eq!(list(answer(5, 1), 5, 2, "x").unwrap().1, None);
        assert_eq!(list(answer(5, 0), 7, 2, "x").unwrap().1, None);
        let untotalled = |n: usize| Some(json!({ "Resources": vec![json!({}); n] }));
        assert_eq!(list(untotalled(2), 1, 2, "x").unwrap().1, Some(3));
        assert_eq!(list(untotalled(1), 3, 2, "x").unwrap().1, None);
        assert!(list(Some(json!([])), 1, 2, "x").is_err());
    }

    #[test]
    fn secrets_are_masked() {
        let error = scrub(ConnectorError::permanent("bad password `hunter22`"), Some("hunter22"));
        assert_eq!(error.message, "bad password `********`");
    }
}
