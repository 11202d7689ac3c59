//! Identity governance on the stored catalogue: aggregation from authoritative and target
//! sources, identity attributes computed by profiles, lifecycle states and their actions,
//! birthright roles, and the events each change publishes.

mod access;
mod aggregate;
mod apply;
mod entitlements;
mod imports;
pub mod payloads;
mod policy;
pub mod push;
mod reader;
mod runs;
mod supersede;

pub(crate) use runs::STALE_MS;
pub mod shapes;

pub use access::{AccessChange, AccessItem, AccessOutcome, ExplicitRequest};
pub use aggregate::{AggregateOptions, Progress, RowFailure, Summary, aggregate, check_source};
pub use imports::{ImportDirs, ImportRefused};

use tessera_model::{Clock, IdentityStatus};
use tessera_store::{AccessStore, CatalogKind, CatalogStore, IdentityStore, SecurityStore, Store};

use crate::{Error, Result};
use apply::Batch;
use policy::Policy;

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
    let now = clock.now().timestamp_millis();
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
    let accounts = tx.accounts_of(std::slice::from_ref(&new.id)).await?;
    let views: Vec<_> = accounts.iter().collect();
    let held = tx.access_of(std::slice::from_ref(&new.id)).await?;
    let mut batch = Batch::new(&policy, now);
    let outcome = batch.transition(profile, &old, &new, &views, &held);
    tx.update_identity(&new).await?;
    batch.record_access(new.id.clone(), outcome);
    batch.write(&mut tx).await?;
    let detail = serde_json::json!({"lifecycleState": stored.key, "accountActivityId": activity});
    tx.audit(actor, "identity.set-lifecycle-state", "identity", identity_id, &detail, now).await?;
    tx.commit().await?;
    Ok(stored.key)
}

impl crate::Engine {
    /// [`set_lifecycle_state`] on this engine's store and clock, waking the event dispatcher.
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
