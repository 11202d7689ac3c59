//! Accounts pushed by another system (an HR system or identity provider speaking SCIM), one
//! request at a time, with the effects an aggregated row has: on a source with an identity profile
//! a new account becomes an identity and a changed one recomputes it; elsewhere a new account is
//! correlated. Everything is written in the caller's transaction, with the events.

use std::hash::{Hash, Hasher};

use serde_json::{Map, Value};
use tessera_model::Timestamp;
use tessera_store::query::{Filter, quoted};
use tessera_store::{AccountRecord, CatalogObject, IdentityStore, Listing, QueueStore, Tx};

use super::apply::{Batch, IdentityChange};
use super::payloads;
use super::policy::{Policy, Profile};
use crate::{Error, Result};

/// The attribute holding the native identity of an account's manager, unless the source's
/// `connectorAttributes.managerAttribute` names another (as for a delimited file).
const DEFAULT_MANAGER_ATTRIBUTE: &str = "manager";

/// An account as the system that owns it pushed it.
#[derive(Debug, Clone, PartialEq)]
pub struct PushedAccount {
    /// The account's id on its system (a SCIM resource's `id`).
    pub native_identity: String,
    pub name: String,
    /// What identity-profile transforms read; the manager's native identity under the source's
    /// manager attribute.
    pub attributes: Map<String, Value>,
    pub disabled: bool,
}

fn hash_of(attributes: &Map<String, Value>) -> Result<i64> {
    let serialized = serde_json::to_string(attributes)?;
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    serialized.hash(&mut hasher);
    Ok(hasher.finish() as i64)
}

/// The account with this native identity on a source.
pub async fn pushed_account(tx: &mut Tx, source_id: &str, native_identity: &str) -> Result<Option<AccountRecord>> {
    let text = format!("sourceId eq {} and nativeIdentity eq {}", quoted(source_id), quoted(native_identity));
    let filter = Filter::parse(&text).map_err(|e| Error::invalid(e.message))?;
    let listing = Listing { filter: Some(&filter), limit: 1, ..Listing::default() };
    Ok(tx.list_accounts(&listing).await?.0.into_iter().next())
}

/// A source's accounts whose attribute `name` is exactly `value`, up to `limit`.
async fn accounts_with(
    tx: &mut Tx,
    source_id: &str,
    name: &str,
    value: &str,
    limit: i64,
) -> Result<Vec<AccountRecord>> {
    let text = format!("sourceId eq {} and attributes.{name} eq {}", quoted(source_id), quoted(value));
    let Ok(filter) = Filter::parse(&text) else { return Ok(Vec::new()) };
    let listing = Listing { filter: Some(&filter), limit, ..Listing::default() };
    match tx.list_accounts(&listing).await {
        Ok((accounts, _)) => Ok(accounts),
        // An attribute name the filter grammar cannot hold (a space, a dot) matches nothing.
        Err(tessera_store::Error::Query(_)) => Ok(Vec::new()),
        Err(other) => Err(other.into()),
    }
}

/// What a push needs to know of its source.
struct Target<'p> {
    source: CatalogObject,
    /// The identity profile when the source is authoritative and has one.
    profile: Option<&'p Profile>,
    manager_attribute: String,
    /// (identity attribute, account attribute) pairs tried in order for a new account.
    correlation: Vec<(String, String)>,
}

impl<'p> Target<'p> {
    fn of(policy: &'p Policy, source_id: &str) -> Result<Self> {
        let source =
            policy.sources.get(source_id).cloned().ok_or_else(|| Error::NotFound(format!("source {source_id}")))?;
        let doc = &source.document;
        let authoritative = doc.get("authoritative").and_then(Value::as_bool).unwrap_or(false);
        let manager_attribute = doc
            .pointer("/connectorAttributes/managerAttribute")
            .and_then(Value::as_str)
            .unwrap_or(DEFAULT_MANAGER_ATTRIBUTE)
            .to_owned();
        let correlation = crate::aggregate::correlation_rules(doc);
        let profile = if authoritative { policy.profile_for_source(source_id) } else { None };
        Ok(Self { source, profile, manager_attribute, correlation })
    }

    fn manager_of<'a>(&self, attributes: &'a Map<String, Value>) -> Option<&'a str> {
        attributes.get(&self.manager_attribute).and_then(Value::as_str).filter(|m| !m.is_empty())
    }

    /// The identity a new account on a target source belongs to, by the source's correlation
    /// rules (values compared ignoring case, as aggregation does).
    async fn correlate(&self, tx: &mut Tx, attributes: &Map<String, Value>) -> Result<Option<String>> {
        for (identity_attribute, account_attribute) in &self.correlation {
            let Some(value) = attributes.get(account_attribute).and_then(Value::as_str) else { continue };
            let wanted = value.to_lowercase();
            // One pass over the attribute's values: a push correlates one account, and the store
            // has no case-insensitive lookup on an arbitrary identity attribute.
            let values = tx.identity_attribute_values(identity_attribute).await?;
            if let Some((id, _)) = values.into_iter().find(|(_, v)| v.to_lowercase() == wanted) {
                return Ok(Some(id));
            }
        }
        Ok(None)
    }
}

/// Stores accounts pushed to `source_id` as one change: a new account on a source with an
/// identity profile becomes an identity (lifecycle state, birthright roles, plans, Identity
/// Created), a changed one recomputes its identity (Identity Attributes Changed, lifecycle
/// events), and on any other source a new account is correlated (Account Correlated). An account
/// whose attributes did not change costs nothing. Identities follow the manager attribute to the
/// manager's identity, and accounts already naming a newly pushed manager get it. Returns each
/// account as stored, in order.
pub async fn push_accounts(
    tx: &mut Tx,
    now: Timestamp,
    source_id: &str,
    pushed: Vec<PushedAccount>,
) -> Result<Vec<AccountRecord>> {
    let policy = Policy::load(tx).await?;
    let target = Target::of(&policy, source_id)?;
    let mut batch = Batch::new(&policy, now);
    let mut changes: Vec<IdentityChange> = Vec::new();
    let mut stored = Vec::with_capacity(pushed.len());
    // (identity id, manager's native identity or none) to point once the batch is written.
    let mut managers: Vec<(String, Option<String>)> = Vec::new();
    // Native identities of new identities, whose reports may be waiting for them.
    let mut joined: Vec<(String, String)> = Vec::new();
    for push in pushed {
        let hash = hash_of(&push.attributes)?;
        let manager = target.manager_of(&push.attributes).map(str::to_owned);
        let existing = pushed_account(tx, source_id, &push.native_identity).await?;
        let needs_identity = |a: &AccountRecord| target.profile.is_some() && a.identity_id.is_none();
        if let Some(old) = &existing
            && old.attributes_hash == hash
            && old.disabled == push.disabled
            && old.name == push.name
            && !needs_identity(old)
        {
            stored.push(old.clone());
            continue;
        }
        let mut account = existing.clone().unwrap_or_else(|| AccountRecord {
            id: uuid::Uuid::now_v7().simple().to_string(),
            source_id: source_id.to_owned(),
            native_identity: push.native_identity.clone(),
            name: String::new(),
            identity_id: None,
            attributes: Map::new(),
            attributes_hash: 0,
            disabled: false,
            locked: false,
            manually_correlated: false,
            created_at: now,
            modified_at: now,
        });
        account.name = push.name;
        account.attributes = push.attributes;
        account.attributes_hash = hash;
        account.disabled = push.disabled;
        account.modified_at = now;
        match (account.identity_id.clone(), target.profile) {
            (Some(identity_id), Some(_)) => {
                managers.push((identity_id.clone(), manager));
                changes.push(IdentityChange { identity_id, account: account.clone() });
            }
            (None, Some(profile)) => {
                // A joiner, or an account whose identity was deleted by hand: either way the
                // authoritative account makes the identity.
                let identity_id = uuid::Uuid::now_v7().simple().to_string();
                account.identity_id = Some(identity_id.clone());
                // A manager already known is in Identity Created, as ISC announces it.
                let manager_id = match manager.as_deref().filter(|m| *m != account.native_identity) {
                    Some(native) => pushed_account(tx, source_id, native).await?.and_then(|a| a.identity_id),
                    None => None,
                };
                batch.create_identity(profile, identity_id.clone(), &account, manager_id);
                managers.push((identity_id.clone(), manager));
                joined.push((identity_id, account.native_identity.clone()));
            }
            (None, None) => {
                if let Some(identity_id) = target.correlate(tx, &account.attributes).await? {
                    account.identity_id = Some(identity_id.clone());
                    batch.correlated.push((identity_id, account.clone(), target.source.clone()));
                }
            }
            (Some(_), None) => {}
        }
        if existing.is_some() {
            batch.updated_accounts.push(account.clone());
        } else {
            batch.new_accounts.push(account.clone());
        }
        stored.push(account);
    }
    if let Some(profile) = target.profile {
        batch.recompute(tx, profile, changes).await?;
    }
    batch.write(tx).await?;
    point_managers(tx, &target, managers, joined, now).await?;
    Ok(stored)
}

/// Points each identity at its manager's identity (none when the manager's account is not there
/// yet), then gives the reports already naming a new identity's account their manager.
async fn point_managers(
    tx: &mut Tx,
    target: &Target<'_>,
    managers: Vec<(String, Option<String>)>,
    joined: Vec<(String, String)>,
    now: Timestamp,
) -> Result<()> {
    let source_id = target.source.id.as_str();
    for (identity_id, native) in managers {
        let manager_id = match &native {
            Some(native) => pushed_account(tx, source_id, native).await?.and_then(|a| a.identity_id),
            None => None,
        };
        if let Some(mut identity) = tx.identity(&identity_id).await?
            && identity.manager_id.as_deref() != manager_id.as_deref()
            && manager_id.as_deref() != Some(identity_id.as_str())
        {
            identity.manager_id = manager_id.map(Into::into);
            identity.modified_at = now;
            tx.update_identity(&identity).await?;
        }
    }
    for (manager_id, native) in joined {
        // A page of reports is plenty for one push; the rest get their manager when next pushed.
        for report in accounts_with(tx, source_id, &target.manager_attribute, &native, 1000).await? {
            let Some(report_id) = report.identity_id else { continue };
            if report_id == manager_id {
                continue;
            }
            if let Some(mut identity) = tx.identity(&report_id).await?
                && identity.manager_id.is_none()
            {
                identity.manager_id = Some(manager_id.clone().into());
                identity.modified_at = now;
                tx.update_identity(&identity).await?;
            }
        }
    }
    Ok(())
}

/// Removes a pushed account, as aggregation removes a missing row: on a source with an identity
/// profile its identity goes too (Identity Deleted); a correlated account elsewhere leaves its
/// identity (Account Uncorrelated). Returns the account that was removed, if there was one.
pub async fn remove_pushed_account(
    tx: &mut Tx,
    now: Timestamp,
    source_id: &str,
    native_identity: &str,
) -> Result<Option<AccountRecord>> {
    let Some(account) = pushed_account(tx, source_id, native_identity).await? else { return Ok(None) };
    let policy = Policy::load(tx).await?;
    let target = Target::of(&policy, source_id)?;
    tx.delete_accounts(&[account.id.to_string()]).await?;
    let owner = match &account.identity_id {
        Some(id) => tx.identity(id).await?,
        None => None,
    };
    let deleted = payloads::source_account("ACCOUNT_DELETED_V2", &account, Some(&target.source), owner.as_ref());
    tx.publish(payloads::SOURCE_ACCOUNT_DELETED, &deleted, now).await?;
    let Some(identity) = owner else { return Ok(Some(account)) };
    if target.profile.is_some() {
        tx.delete_identity(&identity.id).await?;
        tx.publish(payloads::IDENTITY_DELETED, &payloads::identity_snapshot(&identity), now).await?;
    } else {
        let payload =
            payloads::account_link(&identity, &account.id, &account.native_identity, &account.name, &target.source);
        tx.publish(payloads::ACCOUNT_UNCORRELATED, &payload, now).await?;
    }
    Ok(Some(account))
}

/// The audit entry a pushed change writes.
#[derive(Debug, Clone, PartialEq)]
pub struct PushAudit {
    /// `scim.user.create`, `scim.group.patch`…
    pub action: String,
    pub target_type: &'static str,
    pub target_id: String,
    pub detail: Value,
}

impl crate::Governance {
    /// One change a SCIM client pushes, as one unit of work: `work` runs in a new transaction at
    /// `now` (it picks the inbound source and holds its row, checks the client's precondition and
    /// writes through [`push_accounts`] and its kin) and returns its answer and audit entry; the
    /// entry is written, the transaction committed and the events it published announced. Refused
    /// work writes nothing.
    pub async fn change_pushed<T, E: From<Error>>(
        &self,
        actor: &str,
        work: impl AsyncFnOnce(&mut Tx, Timestamp) -> std::result::Result<(T, PushAudit), E>,
    ) -> std::result::Result<T, E> {
        use tessera_store::SecurityStore;
        let now = self.now();
        let mut tx = self.store.begin().await.map_err(Error::from)?;
        let (answer, audit) = work(&mut tx, now).await?;
        tx.audit(actor, &audit.action, audit.target_type, &audit.target_id, &audit.detail, now)
            .await
            .map_err(Error::from)?;
        tx.commit().await.map_err(Error::from)?;
        self.notify_events();
        Ok(answer)
    }
}
