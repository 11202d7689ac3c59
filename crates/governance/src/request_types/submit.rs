//! Raising a request from a published request type: the requester must be in its audience, the
//! answers must fit its questions, its approvals must have someone to decide them, and a member of
//! the owning team is assigned. Then the first steps run in the same transaction.
//!
//! The assignee is the team member with the fewest open requests assigned (ties go to the one listed
//! first). Round-robin would spread requests evenly by count, but it ignores that someone may still
//! sit on many open requests (or has just joined with none); least-busy sends new work to whoever has
//! least of it now, and needs no counter row that every submission for a team would contend on.

use serde_json::{Map, Value, json};
use tessera_store::{
    AccessStore, CatalogKind, CatalogStore, IdentityRecord, IdentityStore, QueueStore, RequestTypeStore, SecurityStore,
    Tx, TypeRequestRecord, TypeRequestStore,
};

use super::admin::stored_definition;
use super::definition::{Approver, Audience, Definition, StepKind};
use super::fields::person;
use super::{Actor, Error, REQUEST_SUBMITTED, Result, lists, new_id};
use crate::Governance;

/// A request as submitted.
#[derive(Debug, Clone)]
pub struct NewRequest {
    pub request_type_id: String,
    /// What the request is about, in the requester's words.
    pub subject: String,
    pub requester_id: String,
    /// Whom it is for; the requester when `None`.
    pub requested_for: Option<String>,
    pub answers: Map<String, Value>,
}

/// Whether `identity` is in a type's audience: everyone, or a member of the governance group or team.
pub(super) async fn in_audience(tx: &mut Tx, definition: &Definition, identity: &str) -> Result<bool> {
    Ok(match &definition.audience {
        Audience::Everyone => true,
        Audience::Group(group) => match tx.team(group).await? {
            Some(team) => team.members.iter().any(|m| m.identity_id == identity),
            None => tx.members(group).await?.iter().any(|m| m == identity),
        },
    })
}

impl Governance {
    /// Raises a request in one transaction: the request, its steps, the timeline's first entries, the
    /// `tessera:request-submitted` event, an audit entry, and the steps that can run at once.
    pub async fn submit_request(&self, new: &NewRequest, actor: Actor<'_>) -> Result<TypeRequestRecord> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let request_type = tx.request_type(&new.request_type_id).await?.ok_or_else(|| {
            Error::invalid("/requestTypeId", format!("no request type has the id `{}`", new.request_type_id))
        })?;
        if request_type.status != "PUBLISHED" {
            return Err(Error::Conflict(format!(
                "request type `{}` is not published; it takes requests once published",
                request_type.name
            )));
        }
        let requester = tx
            .identity(&new.requester_id)
            .await?
            .ok_or_else(|| Error::invalid("/requester", format!("no identity has the id `{}`", new.requester_id)))?;
        let target = match &new.requested_for {
            Some(id) => tx
                .identity(id)
                .await?
                .ok_or_else(|| Error::invalid("/requestedFor", format!("no identity has the id `{id}`")))?,
            None => requester.clone(),
        };
        let definition = stored_definition(&request_type.definition)?;
        // A type stored before actions had to follow an approval still may not act unapproved.
        if !definition.unapproved_actions().is_empty() {
            return Err(Error::Conflict(format!(
                "request type `{}` would act before anyone approved; add an APPROVAL step before its actions",
                request_type.name
            )));
        }
        if !in_audience(&mut tx, &definition, &requester.id).await? {
            return Err(Error::Forbidden(format!(
                "identity {} is not in the audience of request type `{}`",
                requester.id, request_type.name
            )));
        }
        let labels = lists::check_answers(&mut tx, &definition, &new.answers).await?.map_err(Error::Invalid)?;
        self.check_approvers(&mut tx, &definition, &target).await?;
        let team = tx.team(&request_type.team_id).await?.ok_or_else(|| {
            Error::Conflict(format!("the team of request type `{}` no longer exists", request_type.name))
        })?;
        let members: Vec<String> = team.members.iter().map(|m| m.identity_id.clone()).collect();
        let assignee = least_busy(&mut tx, &members).await?;
        let needs_assignee =
            definition.steps.iter().any(|s| matches!(s.kind, StepKind::Task { mark_done_automatically: false, .. }));
        if assignee.is_none() && needs_assignee {
            return Err(Error::Conflict(format!(
                "team `{}` has no members to assign the request's tasks to",
                team.name
            )));
        }
        let record = TypeRequestRecord {
            id: new_id(),
            request_type_id: request_type.id.clone(),
            request_type_name: request_type.name.clone(),
            team_id: team.id.clone(),
            definition: request_type.definition.clone(),
            subject: new.subject.clone(),
            requester_id: requester.id.clone().into(),
            requested_for_id: target.id.clone().into(),
            assignee_id: assignee.clone(),
            status: tessera_model::TypeRequestStatus::Pending,
            answers: Value::Object(new.answers.clone()),
            answer_labels: Value::Object(labels),
            current_step: 0,
            reason: None,
            created_at: now,
            modified_at: now,
            closed_at: None,
        };
        tx.insert_type_request(&record).await?;
        let detail = json!({"subject": record.subject, "answers": record.answers, "requestedFor": target.id,
                            "requestType": {"id": request_type.id, "name": request_type.name}});
        tx.append_timeline(&record.id, "SUBMITTED", Some(&requester.id), None, &detail, now).await?;
        if let Some(assignee) = &assignee {
            let detail =
                json!({"assignee": assignee, "team": {"id": team.id, "name": team.name}, "rule": "least-busy"});
            tx.append_timeline(&record.id, "ASSIGNED", None, None, &detail, now).await?;
        }
        let assignee_record = match &assignee {
            Some(id) => tx.identity(id).await?,
            None => None,
        };
        let payload = json!({
            "requestId": record.id,
            "requestType": {"id": request_type.id, "name": request_type.name},
            "subject": record.subject,
            "requester": person(Some(&requester)),
            "requestedFor": person(Some(&target)),
            "assignee": person(assignee_record.as_ref()),
            "answers": record.answers,
            "status": "PENDING",
        });
        tx.publish(REQUEST_SUBMITTED, &payload, now).await?;
        let audit = json!({"requestType": request_type.id, "requester": requester.id, "requestedFor": target.id,
                           "assignee": assignee, "by": actor.identity});
        tx.audit(actor.audit, "request.submit", "request", &record.id, &audit, now).await?;
        self.run_from(&mut tx, &record, 0, now).await?;
        let stored =
            tx.type_request(&record.id).await?.ok_or_else(|| Error::NotFound(format!("request {}", record.id)))?;
        tx.commit().await?;
        self.notify_events();
        self.wake_workers();
        Ok(stored)
    }

    /// Refuses a request whose approvals nobody could decide, before anything is stored.
    async fn check_approvers(&self, tx: &mut Tx, definition: &Definition, target: &IdentityRecord) -> Result<()> {
        for (i, step) in definition.steps.iter().enumerate() {
            let StepKind::Approval { approver, .. } = &step.kind else { continue };
            let nobody = match approver {
                Approver::RequesterManager => match &target.manager_id {
                    Some(manager) if tx.identity(manager).await?.is_some() => None,
                    _ => {
                        return Err(Error::invalid(
                            "/requestedFor",
                            format!("{} has no manager to decide step {i} ({})", target.name, step.name),
                        ));
                    }
                },
                Approver::User(id) => {
                    tx.identity(id).await?.is_none().then(|| format!("identity {id} no longer exists"))
                }
                Approver::Group(id) => match tx.object(CatalogKind::Workgroup, id).await? {
                    Some(group) if tx.members(id).await?.is_empty() => {
                        Some(format!("governance group `{}` has no members", group.name))
                    }
                    Some(_) => None,
                    None => Some(format!("governance group {id} no longer exists")),
                },
                Approver::Team(id) => match tx.team(id).await? {
                    Some(team) if team.members.is_empty() => Some(format!("team `{}` has no members", team.name)),
                    Some(_) => None,
                    None => Some(format!("team {id} no longer exists")),
                },
            };
            if let Some(why) = nobody {
                return Err(Error::Conflict(format!("nobody can decide step {i} ({}): {why}", step.name)));
            }
        }
        Ok(())
    }
}

/// The member with the fewest open requests assigned; the first listed among equals.
async fn least_busy(tx: &mut Tx, members: &[String]) -> Result<Option<String>> {
    let counts = tx.open_assignments(members).await?;
    let mut best: Option<(String, i64)> = None;
    for (member, count) in counts {
        if best.as_ref().is_none_or(|(_, least)| count < *least) {
            best = Some((member, count));
        }
    }
    Ok(best.map(|(member, _)| member))
}
