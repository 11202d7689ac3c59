//! A person's choice of an identity's lifecycle state, applied with the state's actions; and an
//! aggregation run at once for tools.

use tessera_model::{Clock, IdentityStatus};
use tessera_store::{AccessStore, CatalogKind, CatalogStore, IdentityStore, SecurityStore, Store};

use crate::apply::Batch;
use crate::policy::{self, Policy};
use crate::{AggregateOptions, Error, ImportDirs, Result, Summary, aggregate};

/// Moves an identity to the lifecycle state `state` (an id or technical name of its profile's
/// states) as a person asked, applying the state's actions; the state holds until the computed
/// one changes. The change, its audit entry (by `actor`, with `activity` naming it), its events and
/// its plans commit together. Returns the technical name of the new state.
pub async fn set_lifecycle_state(
    store: &Store,
    clock: &dyn Clock,
    identity_id: &str,
    state: &str,
    actor: &str,
    activity: &str,
) -> Result<String> {
    let now = clock.now();
    let mut tx = store.begin().await?;
    let old = tx.identity(identity_id).await?.ok_or_else(|| Error::NotFound(format!("identity {identity_id}")))?;
    let profile_id = old.profile_id.clone().ok_or_else(|| {
        Error::invalid(format!("identity {identity_id} has no identity profile, so it has no lifecycle states"))
    })?;
    let stored = match tx.object(CatalogKind::LifecycleState, state).await? {
        Some(found) => Some(found),
        None => tx.objects_of(CatalogKind::LifecycleState, &profile_id).await?.into_iter().find(|s| s.key == state),
    };
    let stored = stored
        .filter(|s| s.parent_id == profile_id)
        .ok_or_else(|| Error::NotFound(format!("lifecycle state {state} of the identity's profile {profile_id}")))?;
    let policy = Policy::load(&mut tx).await?;
    let profile =
        policy.profile(&profile_id).ok_or_else(|| Error::NotFound(format!("identity profile {profile_id}")))?;
    let mut new = old.clone();
    new.lifecycle_state = Some(stored.key.clone());
    new.lifecycle_manual = true;
    new.modified_at = now;
    if let Some(parsed) = profile.states.get(&stored.key) {
        new.status = if policy::inactive(parsed) { IdentityStatus::Inactive } else { IdentityStatus::Active };
    }
    let accounts = tx.accounts_of(&[new.id.to_string()]).await?;
    let views: Vec<_> = accounts.iter().collect();
    let held = tx.access_of(&[new.id.to_string()]).await?;
    let mut batch = Batch::new(&policy, now);
    let outcome = batch.transition(profile, &old, &new, &views, &held);
    tx.update_identity(&new).await?;
    batch.record_access(new.id.clone().into(), outcome);
    batch.write(&mut tx).await?;
    let detail = serde_json::json!({"lifecycleState": stored.key, "accountActivityId": activity});
    tx.audit(actor, "identity.set-lifecycle-state", "identity", identity_id, &detail, now).await?;
    tx.commit().await?;
    Ok(stored.key)
}

impl crate::Governance {
    /// [`set_lifecycle_state`] on this node's store and clock, waking the event dispatcher.
    pub async fn set_lifecycle_state(
        &self,
        identity_id: &str,
        state: &str,
        actor: &str,
        activity: &str,
    ) -> Result<String> {
        let name = set_lifecycle_state(&self.store, self.clock.as_ref(), identity_id, state, actor, activity).await?;
        self.notify_events();
        Ok(name)
    }
}

/// Aggregates with default options, reading a named file from `imports`, and no progress reporting.
pub async fn aggregate_now(store: &Store, clock: &dyn Clock, source: &str, imports: &ImportDirs) -> Result<Summary> {
    let options = AggregateOptions { imports: imports.clone(), ..AggregateOptions::default() };
    aggregate(store, clock, source, &options, &mut |_| {}).await
}
