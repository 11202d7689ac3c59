//! Governance groups' members and identities' removal as decisions of their own: a bulk change of a
//! group's members holds the group, lets the caller judge it against the user levels the group
//! gives (joining or leaving grants or takes them), checks every member named, and is audited in
//! its transaction; deleting an identity publishes `idn:identity-deleted` with the change.

use serde_json::json;
use tessera_model::UserLevel;
use tessera_store::{
    AccessStore, CatalogKind, CatalogStore, IdentityStore, LevelHolder, QueueStore, SecurityStore, UserLevelStore,
};

use crate::{Error, Governance, Result, payloads};

/// What a bulk change did to one member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberOutcome {
    pub id: String,
    /// Whether the member was added or removed (false: already a member, or not one).
    pub changed: bool,
}

impl Governance {
    /// Adds `members` to governance group `group` (or removes them, when `add` is false), if `may`
    /// allows a change of membership of a group giving these levels. Each member is an identity id
    /// with the pointer of its reference in the request, which a refusal names.
    pub async fn change_members<E: From<Error>>(
        &self,
        group: &str,
        members: &[(String, String)],
        add: bool,
        actor: &str,
        may: impl FnOnce(&[UserLevel]) -> std::result::Result<(), E>,
    ) -> std::result::Result<Vec<MemberOutcome>, E> {
        let now = self.now();
        let mut tx = self.store.begin().await.map_err(Error::from)?;
        if !tx.lock_object(CatalogKind::Workgroup, group).await.map_err(Error::from)? {
            return Err(Error::NotFound(format!("governance group {group}")).into());
        }
        may(&tx.user_levels(LevelHolder::GovernanceGroup(group)).await.map_err(Error::from)?)?;
        for (id, at) in members {
            if tx.identity(id).await.map_err(Error::from)?.is_none() {
                return Err(Error::invalid_at(format!("{at}/id"), format!("no identity has the id `{id}`")).into());
            }
        }
        let mut outcomes = Vec::with_capacity(members.len());
        for (id, _) in members {
            let changed = if add {
                tx.add_member(group, id, now).await.map_err(Error::from)?
            } else {
                tx.remove_member(group, id).await.map_err(Error::from)?
            };
            outcomes.push(MemberOutcome { id: id.clone(), changed });
        }
        let changed: Vec<&str> = outcomes.iter().filter(|o| o.changed).map(|o| o.id.as_str()).collect();
        if !changed.is_empty() {
            let (action, key) = if add { ("add-members", "added") } else { ("remove-members", "removed") };
            let action = format!("governance-group.{action}");
            tx.audit(actor, &action, "governance-group", group, &json!({ key: changed }), now)
                .await
                .map_err(Error::from)?;
        }
        tx.commit().await.map_err(Error::from)?;
        Ok(outcomes)
    }

    /// Deletes identity `id` with what it holds; its accounts stay, uncorrelated.
    pub async fn delete_identity(&self, id: &str, actor: &str) -> Result<()> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let identity = tx.identity(id).await?.ok_or_else(|| Error::NotFound(format!("identity {id}")))?;
        tx.delete_identity(id).await?;
        tx.publish(payloads::IDENTITY_DELETED, &payloads::identity_snapshot(&identity), now).await?;
        tx.audit(actor, "identity.delete", "identity", id, &json!({ "name": identity.name }), now).await?;
        tx.commit().await?;
        self.notify_events();
        Ok(())
    }
}
