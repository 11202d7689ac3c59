//! The user levels a person holds directly or a governance group gives its members, changed as one
//! decision: the holder's row is held from the read to the write, the caller's rule judges the
//! change, and it is audited in its transaction.

use serde_json::json;
use tessera_model::UserLevel;
use tessera_store::{LevelHolder, SecurityStore, UserLevelStore};

use crate::{Error, Governance};

impl Governance {
    /// Sets the levels `holder` holds to what `edit` makes of the levels it holds now (`edit` also
    /// judges whether the actor may make that change); returns the new levels.
    pub async fn change_user_levels<E: From<Error>>(
        &self,
        holder: LevelHolder<'_>,
        actor: &str,
        edit: impl FnOnce(&[UserLevel]) -> Result<Vec<UserLevel>, E>,
    ) -> Result<Vec<UserLevel>, E> {
        let now = self.now();
        let mut tx = self.store.begin().await.map_err(Error::from)?;
        if !tx.lock_level_holder(holder).await.map_err(Error::from)? {
            let what = match holder {
                LevelHolder::Identity(id) => format!("identity {id}"),
                LevelHolder::GovernanceGroup(id) => format!("governance group {id}"),
            };
            return Err(Error::NotFound(what).into());
        }
        let before = tx.user_levels(holder).await.map_err(Error::from)?;
        let after = edit(&before)?;
        if after == before {
            return Ok(after);
        }
        tx.set_user_levels(holder, &after, now).await.map_err(Error::from)?;
        let (action, kind, id, detail) = match holder {
            LevelHolder::Identity(id) => {
                ("auth-user.update", "identity", id, json!({"capabilities": {"before": before, "after": after}}))
            }
            LevelHolder::GovernanceGroup(id) => (
                "governance-group.user-levels",
                "governance-group",
                id,
                json!({"userLevels": {"before": before, "after": after}}),
            ),
        };
        tx.audit(actor, action, kind, id, &detail, now).await.map_err(Error::from)?;
        tx.commit().await.map_err(Error::from)?;
        Ok(after)
    }
}
