//! What the catalogue says should happen to an identity: the attributes its profile computes, what
//! its lifecycle state does (enable, disable or delete accounts; grant access profiles; remove all
//! access), and which birthright roles it should hold. Decisions come out as grants, revocations
//! and provisioning plans, written by the caller in its own transaction.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value, json};
use tessera_model::governance::{
    self, AccountAction, AttributeMappings, IdentityState, LifecycleState, Membership, Subject,
};
use tessera_model::{PlanStatus, Timestamp};
use tessera_store::catalog::referenced_ids;
use tessera_store::{
    AccessGrant, AccountRecord, CatalogKind, CatalogObject, CatalogStore, IdentityRecord, PlanRecord, Tx,
};

use crate::Result;

/// An access profile's entitlements, by source.
#[derive(Debug)]
pub(crate) struct AccessProfile {
    pub(crate) source_id: String,
    /// (attribute, value, display name).
    pub(crate) entitlements: Vec<(String, String, String)>,
}

/// A role with what it grants and, for a birthright role, who should hold it.
#[derive(Debug)]
pub(crate) struct Role {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) membership: Option<Membership>,
    pub(crate) access_profile_ids: Vec<String>,
}

/// An identity profile: its authoritative source, its attribute mappings and its states.
#[derive(Debug)]
pub(crate) struct Profile {
    pub(crate) id: String,
    pub(crate) source_id: String,
    pub(crate) mappings: AttributeMappings,
    /// By technical name.
    pub(crate) states: HashMap<String, LifecycleState>,
}

/// A snapshot of the catalogue, loaded once per aggregation or change.
#[derive(Debug, Default)]
pub(crate) struct Policy {
    pub(crate) sources: HashMap<String, CatalogObject>,
    pub(crate) access_profiles: HashMap<String, AccessProfile>,
    /// Every entitlement as (source id, attribute, value, display name), by id.
    pub(crate) entitlements: HashMap<String, (String, String, String, String)>,
    pub(crate) roles: Vec<Role>,
    pub(crate) profiles: Vec<Profile>,
}

/// Grants, revocations and plans decided for one identity.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    pub(crate) grants: Vec<AccessGrant>,
    /// (kind, object id).
    pub(crate) revokes: Vec<(String, String)>,
    pub(crate) plans: Vec<PlanRecord>,
}

impl Outcome {
    pub(crate) fn extend(&mut self, other: Outcome) {
        self.grants.extend(other.grants);
        self.revokes.extend(other.revokes);
        self.plans.extend(other.plans);
    }
}

/// Whether identities in `state` are inactive (ISC's short- and long-term inactive states).
pub(crate) fn inactive(state: &LifecycleState) -> bool {
    matches!(state.identity_state(), Some(IdentityState::InactiveShortTerm | IdentityState::InactiveLongTerm))
}

fn skip(kind: &str, object: &CatalogObject, error: &governance::Error) {
    tracing::warn!(kind, id = %object.id, name = %object.name, %error, "ignoring a catalogue object that does not parse");
}

impl Policy {
    /// Loads every source, access profile, enabled role and identity profile with its states.
    pub(crate) async fn load(tx: &mut Tx) -> Result<Self> {
        let mut policy = Policy::default();
        for source in tx.all_objects(CatalogKind::Source).await? {
            policy.sources.insert(source.id.clone(), source);
        }
        let entitlements: HashMap<String, CatalogObject> =
            tx.all_objects(CatalogKind::Entitlement).await?.into_iter().map(|e| (e.id.clone(), e)).collect();
        for e in entitlements.values() {
            let attribute = e.document.get("attribute").and_then(Value::as_str).unwrap_or("groups");
            let value = e.document.get("value").and_then(Value::as_str).unwrap_or(&e.name);
            policy
                .entitlements
                .insert(e.id.clone(), (e.parent_id.clone(), attribute.to_owned(), value.to_owned(), e.name.clone()));
        }
        for profile in tx.all_objects(CatalogKind::AccessProfile).await? {
            let mut granted = Vec::new();
            for id in referenced_ids(&profile.document, "entitlements") {
                if let Some(e) = entitlements.get(&id) {
                    let attribute = e.document.get("attribute").and_then(Value::as_str).unwrap_or("groups");
                    let value = e.document.get("value").and_then(Value::as_str).unwrap_or(&e.name);
                    granted.push((attribute.to_owned(), value.to_owned(), e.name.clone()));
                }
            }
            policy.access_profiles.insert(
                profile.id.clone(),
                AccessProfile { source_id: profile.parent_id.clone(), entitlements: granted },
            );
        }
        for role in tx.all_objects(CatalogKind::Role).await? {
            if !role.enabled {
                continue;
            }
            let membership = match role.document.get("membership").filter(|m| !m.is_null()) {
                None => None,
                Some(m) => match Membership::parse(m) {
                    Ok(m) => Some(m),
                    Err(error) => {
                        skip("role", &role, &error);
                        continue;
                    }
                },
            };
            policy.roles.push(Role {
                id: role.id.clone(),
                name: role.name.clone(),
                membership,
                access_profile_ids: referenced_ids(&role.document, "accessProfiles"),
            });
        }
        for profile in tx.all_objects(CatalogKind::IdentityProfile).await? {
            let config = profile.document.get("identityAttributeConfig").cloned().unwrap_or_else(|| json!({}));
            let mappings = match AttributeMappings::parse(&config) {
                Ok(m) => m,
                Err(error) => {
                    skip("identity profile", &profile, &error);
                    continue;
                }
            };
            let mut states = HashMap::new();
            for state in tx.objects_of(CatalogKind::LifecycleState, &profile.id).await? {
                match LifecycleState::parse(&state.document) {
                    Ok(parsed) => {
                        states.insert(state.key.clone(), parsed);
                    }
                    Err(error) => skip("lifecycle state", &state, &error),
                }
            }
            policy.profiles.push(Profile {
                id: profile.id.clone(),
                source_id: profile.parent_id.clone(),
                mappings,
                states,
            });
        }
        Ok(policy)
    }

    /// The identity profile whose authoritative source is `source_id`.
    pub(crate) fn profile_for_source(&self, source_id: &str) -> Option<&Profile> {
        self.profiles.iter().find(|p| p.source_id == source_id)
    }

    pub(crate) fn profile(&self, id: &str) -> Option<&Profile> {
        self.profiles.iter().find(|p| p.id == id)
    }

    fn source_name<'a>(&'a self, id: &'a str) -> &'a str {
        self.sources.get(id).map_or(id, |s| s.name.as_str())
    }

    /// Computes an identity's attributes from its accounts with the profile's mappings.
    pub(crate) fn compute(&self, profile: &Profile, accounts: &[&AccountRecord]) -> Map<String, Value> {
        let views: Vec<governance::Account<'_>> = accounts
            .iter()
            .map(|a| governance::Account {
                source_id: &a.source_id,
                source_name: self.source_name(&a.source_id),
                attributes: &a.attributes,
            })
            .collect();
        profile.mappings.compute(&views)
    }

    /// What entering `state` does to the identity.
    pub(crate) fn enter_state(
        &self,
        identity: &IdentityRecord,
        state_name: &str,
        state: &LifecycleState,
        accounts: &[&AccountRecord],
        held: &[AccessGrant],
        now: Timestamp,
    ) -> Outcome {
        let mut outcome = Outcome::default();
        let cause = json!({"type": "LIFECYCLE", "state": state_name});
        for account in accounts {
            let operation = match state.account_action_for(&account.source_id) {
                Some(AccountAction::Enable) if account.disabled => "Enable",
                Some(AccountAction::Disable) if !account.disabled => "Disable",
                Some(AccountAction::Delete) => "Delete",
                _ => continue,
            };
            if self.profiles.iter().any(|p| p.source_id == account.source_id) {
                // The authoritative source is read, never written.
                continue;
            }
            outcome.plans.push(self.plan(
                identity,
                &account.source_id,
                operation,
                Some(account),
                Vec::new(),
                &cause,
                now,
            ));
        }
        if state.removes_all_access() {
            for grant in held {
                outcome.revokes.push((grant.kind.clone(), grant.object_id.clone()));
                outcome.plans.extend(self.access_plans(identity, grant, false, accounts, &cause, now));
            }
        }
        for id in state.access_profile_ids() {
            if held.iter().any(|g| g.kind == "ACCESS_PROFILE" && g.object_id == *id) {
                continue;
            }
            let grant = AccessGrant {
                identity_id: identity.id.clone().into(),
                kind: "ACCESS_PROFILE".into(),
                object_id: id.clone(),
                origin: "LIFECYCLE".into(),
                granted_at: now,
                granted_by: Some("system".into()),
            };
            outcome.plans.extend(self.access_plans(identity, &grant, true, accounts, &cause, now));
            outcome.grants.push(grant);
        }
        outcome
    }

    /// Grants the birthright roles whose criteria the identity now meets and revokes those it no
    /// longer meets (roles granted another way are left alone).
    pub(crate) fn birthright(
        &self,
        identity: &IdentityRecord,
        accounts: &[&AccountRecord],
        held: &[AccessGrant],
        now: Timestamp,
    ) -> Outcome {
        let mut outcome = Outcome::default();
        let views: Vec<governance::Account<'_>> = accounts
            .iter()
            .map(|a| governance::Account {
                source_id: &a.source_id,
                source_name: self.source_name(&a.source_id),
                attributes: &a.attributes,
            })
            .collect();
        let subject =
            Subject { id: &identity.id, attributes: &identity.attributes, accounts: &views, entitlements: &[] };
        let inactive = identity.status != tessera_model::IdentityStatus::Active;
        for role in &self.roles {
            let Some(membership) = &role.membership else { continue };
            let holds = held.iter().find(|g| g.kind == "ROLE" && g.object_id == role.id);
            let should = !inactive && membership.matches(&subject);
            let cause = json!({"type": "BIRTHRIGHT", "role": {"id": role.id, "name": role.name}});
            match (should, holds) {
                (true, None) => {
                    let grant = AccessGrant {
                        identity_id: identity.id.clone().into(),
                        kind: "ROLE".into(),
                        object_id: role.id.clone(),
                        origin: "BIRTHRIGHT".into(),
                        granted_at: now,
                        granted_by: Some("system".into()),
                    };
                    outcome.plans.extend(self.access_plans(identity, &grant, true, accounts, &cause, now));
                    outcome.grants.push(grant);
                }
                (false, Some(grant)) if grant.origin == "BIRTHRIGHT" => {
                    outcome.revokes.push((grant.kind.clone(), grant.object_id.clone()));
                    outcome.plans.extend(self.access_plans(identity, grant, false, accounts, &cause, now));
                }
                _ => {}
            }
        }
        outcome
    }

    /// The entitlements an access profile or role carries, by source.
    pub(crate) fn entitlements_of(
        &self,
        kind: &str,
        object_id: &str,
    ) -> BTreeMap<String, Vec<(String, String, String)>> {
        let profile_ids: Vec<String> = match kind {
            "ROLE" => self.roles.iter().find(|r| r.id == object_id).map(|r| r.access_profile_ids.clone()),
            "ACCESS_PROFILE" => Some(vec![object_id.to_owned()]),
            _ => None,
        }
        .unwrap_or_default();
        let mut by_source: BTreeMap<String, Vec<(String, String, String)>> = BTreeMap::new();
        if kind == "ENTITLEMENT"
            && let Some((source, attribute, value, name)) = self.entitlements.get(object_id)
        {
            by_source.entry(source.clone()).or_default().push((attribute.clone(), value.clone(), name.clone()));
        }
        for id in profile_ids {
            if let Some(profile) = self.access_profiles.get(&id) {
                by_source.entry(profile.source_id.clone()).or_default().extend(profile.entitlements.iter().cloned());
            }
        }
        by_source
    }

    /// The plans that carry out granting (`add`) or revoking what `grant` names: per source, one
    /// request with every entitlement. A grant creates the account where there is none; a revocation
    /// where there is none is a Modify of no account, which only ever folds into a Create still
    /// pending (taking back what it was to grant) and is otherwise dropped (`supersede`).
    pub(crate) fn access_plans(
        &self,
        identity: &IdentityRecord,
        grant: &AccessGrant,
        add: bool,
        accounts: &[&AccountRecord],
        cause: &Value,
        now: Timestamp,
    ) -> Vec<PlanRecord> {
        let operation = if add { "Add" } else { "Remove" };
        self.entitlements_of(&grant.kind, &grant.object_id)
            .into_iter()
            .map(|(source_id, entitlements)| {
                let account = accounts.iter().copied().find(|a| a.source_id == source_id);
                let requests = entitlements
                    .iter()
                    .map(|(attribute, value, _)| json!({"name": attribute, "operation": operation, "value": value}))
                    .collect();
                let kind = if account.is_some() || !add { "Modify" } else { "Create" };
                self.plan(identity, &source_id, kind, account, requests, cause, now)
            })
            .collect()
    }

    #[allow(clippy::too_many_arguments)] // One plan's every part; a struct would only rename them.
    pub(crate) fn plan(
        &self,
        identity: &IdentityRecord,
        source_id: &str,
        operation: &str,
        account: Option<&AccountRecord>,
        attribute_requests: Vec<Value>,
        cause: &Value,
        now: Timestamp,
    ) -> PlanRecord {
        let document = json!({
            "identity": {"type": "IDENTITY", "id": identity.id, "name": identity.name},
            "accountRequest": {
                "operation": operation,
                "source": {"type": "SOURCE", "id": source_id, "name": self.source_name(source_id)},
                "accountId": account.map(|a| a.id.as_str()),
                "nativeIdentity": account.map(|a| a.native_identity.as_str()),
                "attributeRequests": attribute_requests,
            },
            "cause": cause,
        });
        PlanRecord {
            id: uuid::Uuid::now_v7().simple().to_string(),
            identity_id: identity.id.clone().into(),
            source_id: source_id.to_owned(),
            operation: operation.to_owned(),
            cause: cause.get("type").and_then(Value::as_str).unwrap_or("LIFECYCLE").to_owned(),
            status: PlanStatus::Queued,
            tracking_number: String::new(),
            attempt: 0,
            result: None,
            document,
            created_at: now,
            modified_at: now,
        }
    }
}
