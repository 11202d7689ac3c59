//! Access changed on request — a workflow's Manage Access, Manage Accounts and Provision actions: roles,
//! access profiles and entitlements granted to or revoked from identities, now or at a set time;
//! account operations; explicit account requests. Each identity's changes become one tracking group
//! of plans, announced by Provisioning Completed when they are carried out, and each change and its
//! plans commit together.

use std::collections::HashSet;

use serde_json::{Value, json};
use tessera_model::Timestamp;
use tessera_store::{
    AccessGrant, AccessStore, AccountRecord, CatalogKind, CatalogStore, ChangeStore, IdentityStore, PlanRecord,
    ScheduledAccess, SecurityStore, Tx,
};

use super::apply::write_plans_for;
use super::policy::Policy;
use crate::{Error, Governance, Result};

/// A role, access profile or entitlement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessItem {
    /// `ROLE`, `ACCESS_PROFILE` or `ENTITLEMENT`.
    pub kind: String,
    pub id: String,
}

/// A grant or revocation of items for identities.
#[derive(Debug, Clone, Default)]
pub struct AccessChange {
    /// Grant (true) or revoke.
    pub grant: bool,
    pub identity_ids: Vec<String>,
    pub items: Vec<AccessItem>,
    /// Who asked, as a reference (`{"type": "IDENTITY", "id": …, "name": …}`).
    pub requester: Option<Value>,
    pub comments: Option<String>,
    /// ISC's tracking action: `Workflow`, `AccessRequest`.
    pub action: String,
    /// A grant takes effect then rather than now (ISC's sunrise date).
    pub start_at: Option<Timestamp>,
    /// A grant is revoked then (temporary access).
    pub remove_at: Option<Timestamp>,
    /// Who makes the change, as the audit log names actors: `workflow:<execution>`,
    /// `access-request:<id>`, `request:<id>`, `client:<id>`; empty is `system`.
    pub actor: String,
}

impl AccessChange {
    fn actor(&self) -> &str {
        if self.actor.is_empty() { "system" } else { &self.actor }
    }
}

/// What an access change did, as the action's output.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AccessOutcome {
    /// One per identity whose access changed now.
    pub tracking_numbers: Vec<String>,
    pub granted: u64,
    pub revoked: u64,
    pub scheduled: u64,
    /// Items left alone, and why (already held, not held, held by birthright).
    pub skipped: Vec<String>,
}

impl AccessOutcome {
    pub fn to_json(&self) -> Value {
        json!({
            "trackingNumbers": self.tracking_numbers,
            "granted": self.granted,
            "revoked": self.revoked,
            "scheduled": self.scheduled,
            "skipped": self.skipped,
        })
    }
}

/// The (source, attribute, value) entitlements `held` carries, except the grant of `except`.
fn carried(policy: &Policy, held: &[AccessGrant], except: &AccessItem) -> HashSet<(String, String, String)> {
    let mut set = HashSet::new();
    for grant in held.iter().filter(|g| !(g.kind == except.kind && g.object_id == except.id)) {
        for (source, entitlements) in policy.entitlements_of(&grant.kind, &grant.object_id) {
            for (attribute, value, _) in entitlements {
                set.insert((source.clone(), attribute, value));
            }
        }
    }
    set
}

/// `plans` without the attribute removals another held grant still needs; plans left with nothing to
/// remove are dropped.
fn keep_carried(plans: Vec<PlanRecord>, still: &HashSet<(String, String, String)>) -> Vec<PlanRecord> {
    plans
        .into_iter()
        .filter_map(|mut plan| {
            let source = plan.source_id.clone();
            let list = plan.document["accountRequest"]["attributeRequests"].as_array_mut()?;
            list.retain(|r| {
                let attribute = r["name"].as_str().unwrap_or_default().to_owned();
                let value = r["value"].as_str().unwrap_or_default().to_owned();
                !still.contains(&(source.clone(), attribute, value))
            });
            (!list.is_empty()).then_some(plan)
        })
        .collect()
}

/// The audit entry of one grant or revocation, about the identity whose access changed.
async fn audit_access(
    tx: &mut Tx,
    change: &AccessChange,
    identity_id: &str,
    item: &AccessItem,
    action: &str,
    now: Timestamp,
) -> Result<()> {
    let detail = json!({"type": item.kind, "id": item.id, "action": change.action, "requester": change.requester,
                        "comments": change.comments, "removeAt": change.remove_at});
    tx.audit(change.actor(), action, "identity", identity_id, &detail, now).await?;
    Ok(())
}

impl Governance {
    /// Grants or revokes `change.items` for each of `change.identity_ids`, now or when due. An unknown
    /// identity or item, or an item of another kind, is refused before anything changes.
    pub async fn manage_access(&self, change: &AccessChange) -> Result<AccessOutcome> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let outcome = self.manage_access_in(&mut tx, change, now).await?;
        tx.commit().await?;
        self.notify_events();
        Ok(outcome)
    }

    pub(crate) async fn manage_access_in(
        &self,
        tx: &mut Tx,
        change: &AccessChange,
        now: Timestamp,
    ) -> Result<AccessOutcome> {
        for item in &change.items {
            let kind = CatalogKind::of_access(&item.kind).ok_or_else(|| {
                Error::invalid(format!(
                    "`{}` is not an access type: use ROLE, ACCESS_PROFILE or ENTITLEMENT",
                    item.kind
                ))
            })?;
            if tx.object(kind, &item.id).await?.is_none() {
                return Err(Error::NotFound(format!("{} {}", item.kind.to_lowercase().replace('_', " "), item.id)));
            }
        }
        let mut identities = Vec::with_capacity(change.identity_ids.len());
        for id in &change.identity_ids {
            identities.push(tx.identity(id).await?.ok_or_else(|| Error::NotFound(format!("identity {id}")))?);
        }
        let policy = Policy::load(tx).await?;
        let mut outcome = AccessOutcome::default();
        let cause = json!({"type": "REQUEST", "action": change.action, "requester": change.requester,
                           "comments": change.comments});
        for identity in &identities {
            let mut held = tx.access_of(&[identity.id.to_string()]).await?;
            let accounts: Vec<AccountRecord> = tx.accounts_of(&[identity.id.to_string()]).await?;
            let accounts: Vec<&AccountRecord> = accounts.iter().collect();
            let mut plans = Vec::new();
            for item in &change.items {
                let holding = held.iter().find(|g| g.kind == item.kind && g.object_id == item.id).cloned();
                let label = format!("{} {} for {}", item.kind, item.id, identity.name);
                if change.grant {
                    if let Some(start) = change.start_at.filter(|at| *at > now) {
                        self.schedule_change(tx, change, identity.id.clone().into(), item, "GRANT", start, now).await?;
                        outcome.scheduled += 1;
                        if let Some(end) = change.remove_at {
                            self.schedule_change(tx, change, identity.id.clone().into(), item, "REVOKE", end, now)
                                .await?;
                        }
                        continue;
                    }
                    if let Some(end) = change.remove_at {
                        self.schedule_change(tx, change, identity.id.clone().into(), item, "REVOKE", end, now).await?;
                        outcome.scheduled += 1;
                    }
                    if holding.is_some() {
                        outcome.skipped.push(format!("{label}: already held"));
                        continue;
                    }
                    let grant = AccessGrant {
                        identity_id: identity.id.clone().into(),
                        kind: item.kind.clone(),
                        object_id: item.id.clone(),
                        origin: "REQUEST".into(),
                        granted_at: now,
                        granted_by: Some(change.actor().to_owned()),
                    };
                    plans.extend(policy.access_plans(identity, &grant, true, &accounts, &cause, now));
                    tx.grant(&grant).await?;
                    held.push(grant);
                    outcome.granted += 1;
                    audit_access(tx, change, &identity.id, item, "access.grant", now).await?;
                } else {
                    let Some(grant) = holding else {
                        outcome.skipped.push(format!("{label}: not held"));
                        continue;
                    };
                    if grant.origin == "BIRTHRIGHT" {
                        outcome.skipped.push(format!(
                            "{label}: held by birthright; it goes when the identity no longer meets the role's criteria"
                        ));
                        continue;
                    }
                    let still = carried(&policy, &held, item);
                    let revoking = policy.access_plans(identity, &grant, false, &accounts, &cause, now);
                    plans.extend(keep_carried(revoking, &still));
                    tx.revoke(&identity.id, &item.kind, &item.id).await?;
                    tx.cancel_scheduled_access(&identity.id, &item.kind, &item.id, "REVOKE").await?;
                    held.retain(|g| !(g.kind == item.kind && g.object_id == item.id));
                    outcome.revoked += 1;
                    audit_access(tx, change, &identity.id, item, "access.revoke", now).await?;
                }
            }
            if let Some(number) = self.write_group(tx, plans, change, now).await? {
                outcome.tracking_numbers.push(number);
            }
        }
        Ok(outcome)
    }

    /// Takes a role or access profile that is being deleted away from everyone holding it, with the
    /// plans that remove what no other grant still carries; in the caller's transaction, before the
    /// object goes. Returns how many identities held it.
    pub async fn revoke_from_holders(&self, tx: &mut Tx, kind: &str, id: &str) -> Result<usize> {
        let now = self.now();
        let holders = tx.holders_of(kind, id).await?;
        if holders.is_empty() {
            return Ok(0);
        }
        let policy = Policy::load(tx).await?;
        let item = AccessItem { kind: kind.to_owned(), id: id.to_owned() };
        let change = AccessChange { action: "IdentityRefresh".into(), ..AccessChange::default() };
        let cause = json!({"type": "DELETED", "object": {"type": kind, "id": id}});
        for holder in &holders {
            let Some(identity) = tx.identity(&holder.identity_id).await? else { continue };
            let held = tx.access_of(&[identity.id.to_string()]).await?;
            let accounts = tx.accounts_of(&[identity.id.to_string()]).await?;
            let accounts: Vec<&AccountRecord> = accounts.iter().collect();
            let still = carried(&policy, &held, &item);
            let plans = policy.access_plans(&identity, holder, false, &accounts, &cause, now);
            self.write_group(tx, keep_carried(plans, &still), &change, now).await?;
            tx.revoke(&identity.id, kind, id).await?;
            tx.cancel_scheduled_access(&identity.id, kind, id, "REVOKE").await?;
        }
        Ok(holders.len())
    }

    /// Writes one identity's plans as one tracking group; its number, when there were plans.
    pub(crate) async fn write_group(
        &self,
        tx: &mut Tx,
        mut plans: Vec<PlanRecord>,
        change: &AccessChange,
        now: Timestamp,
    ) -> Result<Option<String>> {
        if plans.is_empty() {
            return Ok(None);
        }
        let number = uuid::Uuid::now_v7().simple().to_string();
        for plan in &mut plans {
            plan.tracking_number = number.clone();
        }
        write_plans_for(tx, &plans, now, &change.action, change.requester.as_ref()).await?;
        Ok(Some(number))
    }

    #[allow(clippy::too_many_arguments)] // The change, its subject and its moment.
    async fn schedule_change(
        &self,
        tx: &mut Tx,
        change: &AccessChange,
        identity_id: String,
        item: &AccessItem,
        kind: &str,
        due_at: Timestamp,
        now: Timestamp,
    ) -> Result<()> {
        tx.schedule_access(&ScheduledAccess {
            id: uuid::Uuid::now_v7().simple().to_string(),
            identity_id,
            kind: item.kind.clone(),
            object_id: item.id.clone(),
            change: kind.to_owned(),
            due_at,
            requester: change.requester.clone(),
            comments: change.comments.clone(),
            status: "SCHEDULED".into(),
            created_at: now,
            done_at: None,
        })
        .await?;
        Ok(())
    }

    /// Applies the scheduled grants and revocations that are due; returns how many.
    pub async fn run_scheduled_access(&self) -> Result<usize> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let due = tx.due_access(now, 64).await?;
        for scheduled in &due {
            let change = AccessChange {
                grant: scheduled.change == "GRANT",
                identity_ids: vec![scheduled.identity_id.clone()],
                items: vec![AccessItem { kind: scheduled.kind.clone(), id: scheduled.object_id.clone() }],
                requester: scheduled.requester.clone(),
                comments: scheduled.comments.clone(),
                action: "Workflow".into(),
                start_at: None,
                remove_at: None,
                actor: "system:schedule".into(),
            };
            match self.manage_access_in(&mut tx, &change, now).await {
                Ok(_) => {}
                // The identity or the item is gone: nothing is left to grant or revoke.
                Err(Error::NotFound(what)) => {
                    tracing::info!(id = %scheduled.id, %what, "scheduled access change has nothing left to change")
                }
                Err(error) => return Err(error),
            }
            tx.finish_scheduled_access(&scheduled.id, now).await?;
        }
        tx.commit().await?;
        if !due.is_empty() {
            self.notify_events();
        }
        Ok(due.len())
    }
}

/// One explicit account request (`tessera:provision`).
#[derive(Debug, Clone, PartialEq)]
pub struct ExplicitRequest {
    /// The source's id or name.
    pub source: String,
    /// `Create`, `Modify`, `Enable`, `Disable`, `Unlock`, `Delete` or `Password`.
    pub operation: String,
    /// `{"name", "operation": "Add"|"Set"|"Remove", "value"}` each.
    pub attribute_requests: Vec<Value>,
    /// The new password, for `Password` (and optionally `Create`); stored sealed in the plan.
    pub password: Option<String>,
}

const OPERATIONS: [&str; 7] = ["Create", "Modify", "Enable", "Disable", "Unlock", "Delete", "Password"];

impl Governance {
    /// Enables, disables, unlocks or deletes accounts (`sp:manage-account`): one plan per account, one
    /// tracking group per identity. Every account must exist and belong to an identity.
    pub async fn manage_accounts(
        &self,
        account_ids: &[String],
        operation: &str,
        requester: Option<Value>,
    ) -> Result<Vec<String>> {
        let mut tx = self.store.begin().await?;
        let numbers = self.manage_accounts_in(&mut tx, account_ids, operation, requester, self.now()).await?;
        tx.commit().await?;
        self.notify_events();
        Ok(numbers)
    }

    pub(crate) async fn manage_accounts_in(
        &self,
        tx: &mut Tx,
        account_ids: &[String],
        operation: &str,
        requester: Option<Value>,
        now: Timestamp,
    ) -> Result<Vec<String>> {
        let operation = match operation.to_ascii_lowercase().as_str() {
            "enable" => "Enable",
            "disable" => "Disable",
            "unlock" => "Unlock",
            "delete" => "Delete",
            other => {
                return Err(Error::invalid(format!(
                    "`{other}` is not an account operation: use enable, disable, unlock or delete"
                )));
            }
        };
        let policy = Policy::load(tx).await?;
        let mut by_identity: Vec<(tessera_store::IdentityRecord, Vec<AccountRecord>)> = Vec::new();
        for id in account_ids {
            let account = tx.account(id).await?.ok_or_else(|| Error::NotFound(format!("account {id}")))?;
            let Some(identity_id) = account.identity_id.clone() else {
                return Err(Error::invalid(format!("account {id} belongs to no identity; correlate it first")));
            };
            match by_identity.iter_mut().find(|(i, _)| i.id == identity_id) {
                Some((_, list)) => list.push(account),
                None => {
                    let identity = tx
                        .identity(&identity_id)
                        .await?
                        .ok_or_else(|| Error::NotFound(format!("identity {identity_id}")))?;
                    by_identity.push((identity, vec![account]));
                }
            }
        }
        let change = AccessChange { requester, action: "Workflow".into(), ..AccessChange::default() };
        let cause = json!({"type": "REQUEST", "action": "Workflow", "requester": change.requester});
        let mut numbers = Vec::new();
        for (identity, accounts) in &by_identity {
            let plans = accounts
                .iter()
                .map(|a| policy.plan(identity, &a.source_id, operation, Some(a), Vec::new(), &cause, now))
                .collect();
            numbers.extend(self.write_group(tx, plans, &change, now).await?);
        }
        Ok(numbers)
    }

    /// Queues explicit account requests for an identity (`tessera:provision`) as one tracking group;
    /// returns its number. Sources may be named by id or name; every request is checked first.
    pub async fn provision(
        &self,
        identity_id: &str,
        requests: &[ExplicitRequest],
        requester: Option<Value>,
        comments: Option<String>,
    ) -> Result<String> {
        let mut tx = self.store.begin().await?;
        let number = self.provision_in(&mut tx, identity_id, requests, requester, comments, self.now()).await?;
        tx.commit().await?;
        self.notify_events();
        Ok(number)
    }

    pub(crate) async fn provision_in(
        &self,
        tx: &mut Tx,
        identity_id: &str,
        requests: &[ExplicitRequest],
        requester: Option<Value>,
        comments: Option<String>,
        now: Timestamp,
    ) -> Result<String> {
        if requests.is_empty() {
            return Err(Error::invalid("there is no account request to carry out"));
        }
        let identity =
            tx.identity(identity_id).await?.ok_or_else(|| Error::NotFound(format!("identity {identity_id}")))?;
        let accounts = tx.accounts_of(&[identity.id.to_string()]).await?;
        let policy = Policy::load(tx).await?;
        let cause = json!({"type": "REQUEST", "action": "Workflow", "requester": requester, "comments": comments});
        let mut plans = Vec::new();
        for (n, request) in requests.iter().enumerate() {
            let source = match tx.object(CatalogKind::Source, &request.source).await? {
                Some(source) => source,
                None => tx
                    .object_named(CatalogKind::Source, &request.source)
                    .await?
                    .ok_or_else(|| Error::NotFound(format!("source `{}` (accountRequests[{n}])", request.source)))?,
            };
            if !OPERATIONS.contains(&request.operation.as_str()) {
                return Err(Error::invalid(format!(
                    "accountRequests[{n}].operation `{}` is not one of {}",
                    request.operation,
                    OPERATIONS.join(", ")
                )));
            }
            for (m, attribute) in request.attribute_requests.iter().enumerate() {
                let ok = attribute.get("name").and_then(Value::as_str).is_some_and(|s| !s.is_empty())
                    && matches!(attribute.get("operation").and_then(Value::as_str), Some("Add" | "Set" | "Remove"));
                if !ok {
                    return Err(Error::invalid(format!(
                        "accountRequests[{n}].attributeRequests[{m}] needs a `name` and an `operation` of Add, Set \
                         or Remove"
                    )));
                }
            }
            let account = accounts.iter().find(|a| a.source_id == source.id);
            if account.is_none() && request.operation != "Create" {
                return Err(Error::invalid(format!(
                    "accountRequests[{n}]: {} has no account on `{}` to {}",
                    identity.name, source.name, request.operation
                )));
            }
            let attributes = request
                .attribute_requests
                .iter()
                .map(|a| json!({"name": a["name"], "operation": a["operation"], "value": a.get("value").cloned().unwrap_or(Value::Null)}))
                .collect();
            let mut plan = policy.plan(&identity, &source.id, &request.operation, account, attributes, &cause, now);
            match (&request.password, request.operation.as_str()) {
                (Some(password), "Password" | "Create") if !password.is_empty() => {
                    // Sealed like a connector secret: the plan is stored, and a password never is in clear.
                    let keyring = tx
                        .keyring()
                        .ok_or_else(|| Error::invalid("this server has no secret key to protect a password with"))?;
                    plan.document["accountRequest"]["password"] = keyring.seal("password", password);
                }
                (None, "Password") | (Some(_), "Password") => {
                    return Err(Error::invalid(format!("accountRequests[{n}]: a Password request needs a `password`")));
                }
                (Some(_), other) => {
                    return Err(Error::invalid(format!("accountRequests[{n}]: a {other} request takes no `password`")));
                }
                (None, _) => {}
            }
            plans.push(plan);
        }
        let change = AccessChange { requester, action: "Workflow".into(), ..AccessChange::default() };
        Ok(self.write_group(tx, plans, &change, now).await?.unwrap_or_default())
    }
}
