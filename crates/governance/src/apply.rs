//! Writing what a batch of account changes means for identities: new identities, recomputed
//! attributes, lifecycle transitions and their actions, birthright roles, and the events for each,
//! all in the caller's transaction.

use std::collections::HashMap;

use serde_json::Value;
use tessera_model::{IdentityStatus, PlanStatus, Timestamp};
use tessera_store::{
    AccessGrant, AccessStore, AccountRecord, CatalogObject, Finished, IdentityRecord, IdentityStore, PlanRecord,
    ProvisioningStore, QueueStore, Tracking, Tx,
};

use super::aggregate::identity_fields;
use super::payloads;
use super::policy::{Outcome, Policy, Profile};
use super::supersede;
use crate::Result;

/// An authoritative account that changed, and the identity it belongs to.
#[derive(Debug)]
pub(crate) struct IdentityChange {
    pub(crate) identity_id: String,
    pub(crate) account: AccountRecord,
}

/// Everything one batch writes.
#[derive(Debug)]
pub(crate) struct Batch<'p> {
    policy: &'p Policy,
    now: Timestamp,
    pub(crate) new_accounts: Vec<AccountRecord>,
    pub(crate) updated_accounts: Vec<AccountRecord>,
    pub(crate) new_identities: Vec<IdentityRecord>,
    /// New accounts on target sources correlated to an existing identity.
    pub(crate) correlated: Vec<(String, AccountRecord, CatalogObject)>,
    events: Vec<(&'static str, Value)>,
    /// Positions in `new_identities` whose Identity Created event is still to publish.
    created: Vec<usize>,
    outcome: Outcome,
    /// Grants and revocations by identity, applied in order.
    access: Vec<(String, Outcome)>,
}

/// `ACTIVE` unless the lifecycle state says the identity is inactive.
fn status_of(profile: &Profile, state: Option<&str>) -> IdentityStatus {
    match state.and_then(|s| profile.states.get(s)) {
        Some(state) if super::policy::inactive(state) => IdentityStatus::Inactive,
        _ => IdentityStatus::Active,
    }
}

impl<'p> Batch<'p> {
    pub(crate) fn new(policy: &'p Policy, now: Timestamp) -> Self {
        Self {
            policy,
            now,
            new_accounts: Vec::new(),
            updated_accounts: Vec::new(),
            new_identities: Vec::new(),
            correlated: Vec::new(),
            events: Vec::new(),
            created: Vec::new(),
            outcome: Outcome::default(),
            access: Vec::new(),
        }
    }

    /// A new identity for a new authoritative account, in its computed lifecycle state with that
    /// state's actions and its birthright roles.
    pub(crate) fn create_identity(
        &mut self,
        profile: &Profile,
        id: String,
        account: &AccountRecord,
        manager_id: Option<String>,
    ) {
        let attributes = self.policy.compute(profile, &[account]);
        let mut identity = IdentityRecord {
            id: id.into(),
            name: String::new(),
            alias: String::new(),
            email: None,
            manager_id: manager_id.map(Into::into),
            profile_id: Some(profile.id.clone()),
            lifecycle_state: None,
            lifecycle_manual: false,
            status: IdentityStatus::Active,
            attributes,
            created_at: self.now,
            modified_at: self.now,
        };
        identity_fields(&mut identity, account);
        identity.status = status_of(profile, identity.lifecycle_state.as_deref());
        let mut outcome = Outcome::default();
        if let Some(state) = identity.lifecycle_state.as_deref().and_then(|s| profile.states.get(s).map(|t| (s, t))) {
            outcome.extend(self.policy.enter_state(&identity, state.0, state.1, &[account], &[], self.now));
        }
        outcome.extend(self.policy.birthright(&identity, &[account], &outcome.grants, self.now));
        self.created.push(self.new_identities.len());
        self.access.push((identity.id.clone().into(), outcome));
        self.new_identities.push(identity);
    }

    /// Recomputes the identities whose authoritative account changed; returns how many changed.
    pub(crate) async fn recompute(
        &mut self,
        tx: &mut Tx,
        profile: &Profile,
        changes: Vec<IdentityChange>,
    ) -> Result<u64> {
        if changes.is_empty() {
            return Ok(0);
        }
        let ids: Vec<String> = changes.iter().map(|c| c.identity_id.clone()).collect();
        let identities: HashMap<String, IdentityRecord> =
            tx.identities_by_ids(&ids).await?.into_iter().map(|i| (i.id.to_string(), i)).collect();
        let mut accounts: HashMap<String, Vec<AccountRecord>> = HashMap::new();
        for account in tx.accounts_of(&ids).await? {
            accounts.entry(account.identity_id.clone().unwrap_or_default()).or_default().push(account);
        }
        let mut held: HashMap<String, Vec<AccessGrant>> = HashMap::new();
        for grant in tx.access_of(&ids).await? {
            held.entry(grant.identity_id.clone()).or_default().push(grant);
        }
        let mut updated = 0;
        for change in changes {
            let Some(old) = identities.get(&change.identity_id) else { continue };
            let mut mine = accounts.remove(&change.identity_id).unwrap_or_default();
            match mine.iter_mut().find(|a| a.id == change.account.id) {
                Some(slot) => *slot = change.account.clone(),
                None => mine.push(change.account.clone()),
            }
            let views: Vec<&AccountRecord> = mine.iter().collect();
            let mut new = old.clone();
            new.attributes = self.policy.compute(profile, &views);
            let lifecycle_before = old.lifecycle_state.clone();
            identity_fields(&mut new, &change.account);
            let computed_state = new.lifecycle_state.clone();
            let computed_before = old.attributes.get("cloudLifecycleState").and_then(Value::as_str);
            if old.lifecycle_manual && computed_state.as_deref() == computed_before {
                // A state set by a person holds until the computed one changes.
                new.lifecycle_state = lifecycle_before.clone();
            } else {
                new.lifecycle_manual = false;
            }
            let changes = payloads::attribute_changes(&old.attributes, &new.attributes);
            if changes.is_empty() && new.lifecycle_state == lifecycle_before {
                continue;
            }
            updated += 1;
            new.modified_at = self.now;
            new.status = status_of(profile, new.lifecycle_state.as_deref());
            let held = held.remove(&change.identity_id).unwrap_or_default();
            let outcome = self.transition(profile, old, &new, &views, &held);
            if !changes.is_empty() {
                self.events.push((payloads::IDENTITY_ATTRIBUTES_CHANGED, payloads::attributes_changed(&new, changes)));
            }
            tx.update_identity(&new).await?;
            self.access.push((new.id.clone().into(), outcome));
        }
        Ok(updated)
    }

    /// The lifecycle transition (if the state changed) and the birthright roles of an identity
    /// going from `old` to `new`; queues the lifecycle events.
    pub(crate) fn transition(
        &mut self,
        profile: &Profile,
        old: &IdentityRecord,
        new: &IdentityRecord,
        accounts: &[&AccountRecord],
        held: &[AccessGrant],
    ) -> Outcome {
        let mut outcome = Outcome::default();
        let mut holding: Vec<AccessGrant> = held.to_vec();
        if new.lifecycle_state != old.lifecycle_state {
            self.events.push((
                payloads::LIFECYCLE_STATE_CHANGED,
                payloads::lifecycle_changed(new, old.lifecycle_state.as_deref(), new.lifecycle_state.as_deref()),
            ));
            if let Some((name, state)) =
                new.lifecycle_state.as_deref().and_then(|s| profile.states.get(s).map(|t| (s, t)))
            {
                let entered = self.policy.enter_state(new, name, state, accounts, held, self.now);
                holding.retain(|g| !entered.revokes.iter().any(|(k, o)| *k == g.kind && *o == g.object_id));
                holding.extend(entered.grants.iter().cloned());
                outcome.extend(entered);
                self.events.push((
                    payloads::LIFECYCLE_STATE_CHANGE_PROCESSED,
                    payloads::lifecycle_changed(new, old.lifecycle_state.as_deref(), new.lifecycle_state.as_deref()),
                ));
            }
        }
        outcome.extend(self.policy.birthright(new, accounts, &holding, self.now));
        outcome
    }

    /// Queues grants, revocations and plans decided for an identity.
    pub(crate) fn record_access(&mut self, identity_id: String, outcome: Outcome) {
        self.access.push((identity_id, outcome));
    }

    /// Writes the batch: accounts, identities, grants, plans, then the events.
    pub(crate) async fn write(mut self, tx: &mut Tx) -> Result<()> {
        tx.insert_identities(&self.new_identities).await?;
        tx.insert_accounts(&self.new_accounts).await?;
        for account in &self.updated_accounts {
            tx.update_account(account).await?;
        }
        if !self.correlated.is_empty() {
            let ids: Vec<String> = self.correlated.iter().map(|(id, _, _)| id.clone()).collect();
            let identities: HashMap<String, IdentityRecord> =
                tx.identities_by_ids(&ids).await?.into_iter().map(|i| (i.id.to_string(), i)).collect();
            for (identity_id, account, source) in &self.correlated {
                if let Some(identity) = identities.get(identity_id) {
                    let payload =
                        payloads::account_link(identity, &account.id, &account.native_identity, &account.name, source);
                    self.events.push((payloads::ACCOUNT_CORRELATED, payload));
                }
            }
        }
        self.account_events(tx).await?;
        let mut grants = Vec::new();
        for (identity_id, outcome) in self.access.drain(..) {
            for (kind, object_id) in &outcome.revokes {
                tx.revoke(&identity_id, kind, object_id).await?;
            }
            grants.extend(outcome.grants);
            // One tracking number per identity change: its plans are announced together.
            let tracking = uuid::Uuid::now_v7().simple().to_string();
            self.outcome.plans.extend(outcome.plans.into_iter().map(|mut plan| {
                plan.tracking_number = tracking.clone();
                plan
            }));
        }
        tx.grant_many(&grants).await?;
        write_plans(tx, &self.outcome.plans, self.now).await?;
        self.created_events(tx).await?;
        tx.publish_many(&self.events, self.now).await?;
        Ok(())
    }
}

impl Batch<'_> {
    /// Identity Created for each new identity, with its manager as a reference in `attributes`
    /// (`$.trigger.attributes.manager.id`, as ISC sends it); published before the batch's other
    /// events, so a new identity is announced before anything happens to it.
    async fn created_events(&mut self, tx: &mut Tx) -> Result<()> {
        if self.created.is_empty() {
            return Ok(());
        }
        let mut names: HashMap<String, String> =
            self.new_identities.iter().map(|i| (i.id.to_string(), i.name.clone())).collect();
        let unknown: Vec<String> = self
            .new_identities
            .iter()
            .filter_map(|i| i.manager_id.as_ref().map(ToString::to_string))
            .filter(|m| !names.contains_key(m))
            .collect();
        names.extend(tx.identity_names(&unknown).await?);
        let mut created = Vec::with_capacity(self.created.len());
        for &index in &self.created {
            let identity = &self.new_identities[index];
            let mut payload = payloads::identity_snapshot(identity);
            if let Some(manager) = &identity.manager_id {
                payload["attributes"]["manager"] = serde_json::json!({
                    "type": "IDENTITY", "id": manager, "name": names.get(manager.as_str()).cloned().unwrap_or_default(),
                });
            }
            created.push((payloads::IDENTITY_CREATED, payload));
        }
        created.append(&mut self.events);
        self.events = created;
        Ok(())
    }
}

impl Batch<'_> {
    /// Account Created for every new account and Account Updated for every changed one, with the
    /// identity each belongs to.
    async fn account_events(&mut self, tx: &mut Tx) -> Result<()> {
        if self.new_accounts.is_empty() && self.updated_accounts.is_empty() {
            return Ok(());
        }
        let mut identities: HashMap<String, IdentityRecord> =
            self.new_identities.iter().map(|i| (i.id.to_string(), i.clone())).collect();
        let wanted: Vec<String> = self
            .new_accounts
            .iter()
            .chain(&self.updated_accounts)
            .filter_map(|a| a.identity_id.clone())
            .filter(|id| !identities.contains_key(id))
            .collect();
        for identity in tx.identities_by_ids(&wanted).await? {
            identities.insert(identity.id.clone().into(), identity);
        }
        let events = [
            (payloads::SOURCE_ACCOUNT_CREATED, "ACCOUNT_CREATED_V2", &self.new_accounts),
            (payloads::SOURCE_ACCOUNT_UPDATED, "ACCOUNT_UPDATED_V2", &self.updated_accounts),
        ];
        for (topic, kind, accounts) in events {
            for account in accounts {
                let identity = account.identity_id.as_ref().and_then(|id| identities.get(id));
                let source = self.policy.sources.get(&account.source_id);
                self.events.push((topic, payloads::source_account(kind, account, source, identity)));
            }
        }
        Ok(())
    }
}

/// Writes the plans, one per identity, source and operation: a new hire's lifecycle access and
/// birthright roles on one source become one account creation with every attribute request.
async fn write_plans(tx: &mut Tx, plans: &[PlanRecord], now: Timestamp) -> Result<()> {
    write_plans_for(tx, plans, now, "IdentityRefresh", None).await
}

/// [`write_plans`] for a change someone asked for: ISC's tracking `action` (`Workflow`,
/// `AccessRequest`) and the requester's reference, as Provisioning Completed reports them.
pub(crate) async fn write_plans_for(
    tx: &mut Tx,
    plans: &[PlanRecord],
    now: Timestamp,
    action: &str,
    requester: Option<&Value>,
) -> Result<()> {
    let mut merged: Vec<PlanRecord> = Vec::with_capacity(plans.len());
    let mut index: HashMap<(&str, &str, &str), usize> = HashMap::new();
    for plan in plans {
        let mergeable = matches!(plan.operation.as_str(), "Create" | "Modify");
        let key = (plan.identity_id.as_str(), plan.source_id.as_str(), plan.operation.as_str());
        match index.get(&key).filter(|_| mergeable) {
            Some(&at) => {
                let into = &mut merged[at].document;
                let requests =
                    plan.document["accountRequest"]["attributeRequests"].as_array().cloned().unwrap_or_default();
                if let Some(list) = into["accountRequest"]["attributeRequests"].as_array_mut() {
                    // The same entitlement from two grants (a state's access profile and a role's) is
                    // asked for once.
                    for request in requests {
                        if !list.contains(&request) {
                            list.push(request);
                        }
                    }
                }
                if let Some(causes) = into["causes"].as_array_mut() {
                    causes.push(plan.document["cause"].clone());
                }
            }
            None => {
                let mut plan = plan.clone();
                plan.document["causes"] = Value::Array(vec![plan.document["cause"].clone()]);
                if mergeable {
                    index.insert(key, merged.len());
                }
                merged.push(plan);
            }
        }
    }
    // Plans still open for the same accounts: the new ones fold into them, or cancel pointless work.
    let identities: Vec<String> = {
        let mut ids: Vec<String> = merged.iter().map(|p| p.identity_id.clone()).collect();
        ids.sort();
        ids.dedup();
        ids
    };
    let open = tx.open_plans(&identities, now).await?;
    let (fates, changes) = supersede::decide(&open, &merged);
    tx.insert_plans(&merged).await?;
    let mut groups: Vec<(&str, &str, i64)> = Vec::new();
    let mut at: HashMap<&str, usize> = HashMap::new();
    for plan in &merged {
        match at.get(plan.tracking_number.as_str()) {
            Some(&i) => groups[i].2 += 1,
            None => {
                at.insert(&plan.tracking_number, groups.len());
                groups.push((&plan.tracking_number, &plan.identity_id, 1));
            }
        }
    }
    for (number, identity_id, count) in groups {
        tx.open_tracking(&Tracking {
            tracking_number: number.to_owned(),
            identity_id: identity_id.to_owned(),
            action: action.to_owned(),
            requester: requester.cloned(),
            remaining: count,
            created_at: now,
            completed_at: None,
        })
        .await?;
    }
    // The decisions, now that every plan and its group exist: a plan ended here finishes its group
    // the same way a carried-out one does.
    for (plan, fate) in merged.iter().zip(&fates) {
        if let Some((status, result)) = supersede::result(fate)
            && let Finished::Now(Some(tracking)) = tx.finish_plan(&plan.id, status, &result, now).await?
        {
            crate::provisioning::announce(tx, &tracking, now).await?;
        }
    }
    for (index, change) in changes {
        let open = &open[index];
        match change {
            supersede::Change::Revised(document) => tx.revise_plan(open, &document, now).await?,
            supersede::Change::Cancelled(reason) => {
                let result = serde_json::json!({"provisioningResult": "CANCELLED", "reason": reason});
                match &open.work_item {
                    Some(item) => {
                        tx.complete_work_item(item, tessera_model::WorkStatus::Cancelled, "system", Some(&reason), now)
                            .await?;
                        tx.settle_plan(&open.plan.id, PlanStatus::Cancelled, &result, now).await?;
                    }
                    None => {
                        if let Finished::Now(Some(tracking)) =
                            tx.finish_plan(&open.plan.id, PlanStatus::Cancelled, &result, now).await?
                        {
                            crate::provisioning::announce(tx, &tracking, now).await?;
                        }
                    }
                }
            }
        }
    }
    Ok(())
}
