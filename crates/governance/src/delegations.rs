//! Standing delegations: while a person is away, what would be assigned to them — inbox items and
//! access request approvals — goes to the delegate they named, recorded as delegated from them.

use serde_json::json;
use tessera_model::Timestamp;
use tessera_store::{DelegationRecord, DelegationStore, IdentityStore, SecurityStore, Tx};

use crate::{Error, Governance, Result};

/// How many hops a chain of delegations may take (A away to B, B away to C…) before the last person
/// reached keeps the item; it also ends cycles.
const MAX_HOPS: usize = 5;

/// A delegation to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDelegation {
    pub delegator_id: String,
    pub delegate_id: String,
    /// Now when `None`.
    pub starts_at: Option<Timestamp>,
    pub ends_at: Option<Timestamp>,
    pub comment: Option<String>,
}

impl Governance {
    /// Records a delegation; errors name the field (`/delegateId`, `/end`).
    pub async fn create_delegation(&self, new: &NewDelegation, actor: &str) -> Result<DelegationRecord> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        if tx.identity(&new.delegator_id).await?.is_none() {
            return Err(Error::invalid_at("/delegatorId", format!("no identity has the id `{}`", new.delegator_id)));
        }
        if tx.identity(&new.delegate_id).await?.is_none() {
            return Err(Error::invalid_at("/delegateId", format!("no identity has the id `{}`", new.delegate_id)));
        }
        if new.delegate_id == new.delegator_id {
            return Err(Error::invalid_at("/delegateId", "a person cannot delegate to themselves"));
        }
        let starts_at = new.starts_at.unwrap_or(now);
        if new.ends_at.is_some_and(|end| end <= starts_at.max(now)) {
            return Err(Error::invalid_at("/end", "a delegation must end after it starts and after now"));
        }
        let record = DelegationRecord {
            id: uuid::Uuid::now_v7().simple().to_string(),
            delegator_id: new.delegator_id.clone(),
            delegate_id: new.delegate_id.clone(),
            starts_at,
            ends_at: new.ends_at,
            comment: new.comment.clone(),
            created_by: actor.into(),
            created_at: now,
            revoked_at: None,
        };
        tx.insert_delegation(&record).await?;
        let detail = json!({"delegator": record.delegator_id, "delegate": record.delegate_id,
                            "startsAt": record.starts_at, "endsAt": record.ends_at});
        tx.audit(actor, "delegation.create", "delegation", &record.id, &detail, now).await?;
        tx.commit().await?;
        Ok(record)
    }

    /// Ends a delegation early; only its delegator or an administrator may.
    pub async fn revoke_delegation(&self, id: &str, by: Option<&str>, admin: bool, actor: &str) -> Result<()> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let found = tx.delegation(id).await?.ok_or_else(|| Error::NotFound(format!("delegation {id}")))?;
        if !admin && by != Some(found.delegator_id.as_str()) {
            return Err(Error::Forbidden(format!(
                "only {} or an administrator may end delegation {id}",
                found.delegator_id
            )));
        }
        if !tx.revoke_delegation(id, now).await? {
            return Err(Error::Conflict(format!("delegation {id} has already ended")));
        }
        tx.audit(actor, "delegation.revoke", "delegation", id, &json!({}), now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Who stands in for `identity` at `now`: the end of its chain of delegations in force, with the
    /// person it was delegated from when it is not `identity` itself. A chain that would end at someone
    /// in `excluded` (the person a request is for) is not followed.
    pub(crate) async fn stand_in(
        &self,
        tx: &mut Tx,
        identity: &str,
        now: Timestamp,
        excluded: &[String],
    ) -> Result<(String, Option<String>)> {
        let mut current = identity.to_owned();
        let mut seen = vec![current.clone()];
        for _ in 0..MAX_HOPS {
            let Some(delegation) = tx.delegation_in_force(&current, now).await? else { break };
            if seen.contains(&delegation.delegate_id) {
                break;
            }
            current = delegation.delegate_id;
            seen.push(current.clone());
        }
        if excluded.contains(&current) {
            return Ok((identity.to_owned(), None));
        }
        let from = (current != identity).then(|| identity.to_owned());
        Ok((current, from))
    }

    /// `people` with each replaced by who stands in for them, except where the stand-in would be someone
    /// in `excluded`.
    pub(crate) async fn stand_ins(
        &self,
        tx: &mut Tx,
        people: &[String],
        now: Timestamp,
        excluded: &[String],
    ) -> Result<Vec<String>> {
        let mut out = Vec::with_capacity(people.len());
        for person in people {
            let (who, _) = self.stand_in(tx, person, now, excluded).await?;
            if !out.contains(&who) {
                out.push(who);
            }
        }
        Ok(out)
    }
}
