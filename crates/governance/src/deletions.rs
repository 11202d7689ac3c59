//! What deleting a catalogue object asks of the rest of the data, inside the deletion's transaction:
//! refused while something still uses the object ([`Error::InUse`], with a code a program can act
//! on and a message naming the user), and otherwise what goes with it — a source's entitlements, an
//! identity profile's lifecycle states, a governance group's members and user levels — or who loses
//! it (an access profile's and a role's holders, with the plans that take their entitlements away).

use tessera_model::Timestamp;
use tessera_store::catalog::referenced_ids;
use tessera_store::query::{Filter, quoted};
use tessera_store::{
    AccessStore, CatalogKind, CatalogObject, CatalogStore, IdentityStore, LevelHolder, Listing, Tx, UserLevelStore,
};

use crate::{Error, Governance, Result};

fn in_use(code: &'static str, message: String) -> Error {
    Error::InUse { code, message }
}

impl Governance {
    /// Refuses to delete `object` while something uses it, or does what its deletion needs first.
    pub(crate) async fn before_delete(&self, tx: &mut Tx, object: &CatalogObject, now: Timestamp) -> Result<()> {
        match object.kind {
            CatalogKind::Source => source(tx, object).await,
            CatalogKind::AccessProfile => {
                access_profile(tx, object).await?;
                self.revoke_from_holders(tx, object.kind.as_str(), &object.id).await.map(drop)
            }
            CatalogKind::Role => self.revoke_from_holders(tx, object.kind.as_str(), &object.id).await.map(drop),
            CatalogKind::IdentityProfile => identity_profile(tx, object).await,
            CatalogKind::LifecycleState => lifecycle_state(tx, object).await,
            CatalogKind::Workgroup => {
                tx.set_user_levels(LevelHolder::GovernanceGroup(&object.id), &[], now).await?;
                Ok(tx.remove_all_members(&object.id).await?)
            }
            CatalogKind::Entitlement => Ok(()),
        }
    }
}

/// A source may go only when nothing depends on it: no accounts, identity profiles or access
/// profiles. Its entitlements go with it.
async fn source(tx: &mut Tx, source: &CatalogObject) -> Result<()> {
    let accounts = tx.count_accounts(&source.id).await?;
    if accounts > 0 {
        return Err(in_use(
            "source-in-use",
            format!(
                "source `{}` still has {accounts} account(s); remove them (aggregate an empty file) before deleting it",
                source.name
            ),
        ));
    }
    for (kind, what) in
        [(CatalogKind::IdentityProfile, "identity profile"), (CatalogKind::AccessProfile, "access profile")]
    {
        if let Some(user) = tx.objects_of(kind, &source.id).await?.first() {
            return Err(in_use(
                "source-in-use",
                format!("{what} `{}` (id {}) uses source `{}`; delete it first", user.name, user.id, source.name),
            ));
        }
    }
    for entitlement in tx.objects_of(CatalogKind::Entitlement, &source.id).await? {
        tx.delete_object(CatalogKind::Entitlement, &entitlement.id).await?;
    }
    Ok(())
}

/// An access profile a role or lifecycle state grants cannot go.
async fn access_profile(tx: &mut Tx, profile: &CatalogObject) -> Result<()> {
    let code = "access-profile-in-use";
    for role in tx.all_objects(CatalogKind::Role).await? {
        if referenced_ids(&role.document, "accessProfiles").contains(&profile.id) {
            return Err(in_use(code, format!("role `{}` (id {}) grants this access profile", role.name, role.id)));
        }
    }
    for state in tx.all_objects(CatalogKind::LifecycleState).await? {
        if referenced_ids(&state.document, "accessProfileIds").contains(&profile.id) {
            return Err(in_use(
                code,
                format!("lifecycle state `{}` (id {}) grants this access profile", state.name, state.id),
            ));
        }
    }
    Ok(())
}

/// A profile with identities cannot go; its lifecycle states go with it.
async fn identity_profile(tx: &mut Tx, profile: &CatalogObject) -> Result<()> {
    let count = count_identities(tx, &format!("identityProfile.id eq {}", quoted(&profile.id))).await?;
    if count > 0 {
        return Err(in_use(
            "identity-profile-in-use",
            format!("identity profile `{}` has {count} identities; it can be deleted once it has none", profile.name),
        ));
    }
    for state in tx.objects_of(CatalogKind::LifecycleState, &profile.id).await? {
        tx.delete_object(CatalogKind::LifecycleState, &state.id).await?;
    }
    Ok(())
}

/// A state identities are in cannot go.
async fn lifecycle_state(tx: &mut Tx, state: &CatalogObject) -> Result<()> {
    let filter =
        format!("identityProfile.id eq {} and lifecycleState eq {}", quoted(&state.parent_id), quoted(&state.key));
    let count = count_identities(tx, &filter).await?;
    if count > 0 {
        return Err(in_use(
            "lifecycle-state-in-use",
            format!("{count} identities are in lifecycle state `{}`; move them to another state first", state.key),
        ));
    }
    Ok(())
}

async fn count_identities(tx: &mut Tx, filter: &str) -> Result<i64> {
    let filter = Filter::parse(filter).map_err(|e| Error::invalid(format!("identity filter `{filter}`: {e}")))?;
    let listing = Listing { filter: Some(&filter), sorters: None, limit: 1, offset: 0, count: true };
    Ok(tx.list_identities(&listing).await?.1.unwrap_or(0))
}
