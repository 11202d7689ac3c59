//! What happens to an ISC access-request approval while it waits: the tenant's access-request
//! configuration (ISC's `AccessRequestConfig`), reminder emails, escalation when nobody decides in
//! time, forwarding by its approver, and automatic approval of a level the requester may decide.
//!
//! Deadlines count from when the current approvers got the approval (its level opening, or its last
//! forward or escalation). Every `daysBetweenReminders` days each approver is reminded, at most
//! `maxReminders` times (no limit when unset). After `daysUntilEscalation` days the approval goes to
//! the approver's manager — when one person holds it — else to `fallbackApproverRef`; the new
//! approver alone may decide it, with full time again. With nobody to escalate to, it stays where it
//! is and is not tried again until it changes hands. `autoApprovalEnabled` approves, as the requester,
//! each pending level the requester is an approver of.
//!
//! `approvalsMustBeExternal`, `requestOnBehalfOfConfig` and `entitlementRequestConfig` are enforced
//! where requests are submitted (the API); `reauthorizationEnabled` and
//! `grantRequestApprovalSchemes` are kept for ISC clients but change nothing yet.

use chrono::TimeDelta;
use serde_json::{Map, Value, json};
use tessera_model::{Timestamp, WorkStatus, WorkSubject};
use tessera_store::{
    AccessRequestRecord, ApprovalClock, ApprovalConfigStore, ApprovalRecord, CatalogKind, CatalogStore, DueBefore,
    DueWork, IdentityStore, InboxStore, Reassignment, RequestStore, SecurityStore, Tx,
};

use crate::{Error, Governance, Result};

/// Items handled per run.
const BATCH: i64 = 64;
const DAY_MS: i64 = 86_400_000;
/// The longest deadline setting, so that day arithmetic cannot overflow.
const MAX_DAYS: i64 = 3650;
/// How the audit log names this module's own decisions.
const DEADLINE_ACTOR: &str = "system:approval-deadlines";
const AUTO_APPROVAL_ACTOR: &str = "system:auto-approval";

/// `requestOnBehalfOfConfig`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OnBehalfOf {
    pub anyone_by_anyone: bool,
    pub employee_by_manager: bool,
}

/// `approvalReminderAndEscalationConfig`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reminders {
    pub days_until_escalation: Option<i64>,
    pub days_between_reminders: Option<i64>,
    pub max_reminders: Option<i64>,
    /// The identity an approval escalates to when its approver has no manager.
    pub fallback_approver: Option<String>,
}

/// `entitlementRequestConfig`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntitlementRequests {
    /// Tessera's default is true: a requestable entitlement may be requested unless this is turned off.
    pub allowed: bool,
    pub comments_required: bool,
    pub denied_comments_required: bool,
    pub approval_schemes: Option<String>,
}

impl Default for EntitlementRequests {
    fn default() -> Self {
        Self { allowed: true, comments_required: false, denied_comments_required: false, approval_schemes: None }
    }
}

/// The access-request configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestConfig {
    pub approvals_must_be_external: bool,
    pub auto_approval_enabled: bool,
    pub reauthorization_enabled: bool,
    pub on_behalf_of: OnBehalfOf,
    pub reminders: Reminders,
    pub entitlements: EntitlementRequests,
}

/// The members of an object, refusing members it does not know (a misspelt setting would otherwise
/// be ignored in silence).
fn members<'v>(value: &'v Value, at: &str, known: &[&str]) -> Result<Option<&'v Map<String, Value>>> {
    let fields = match value {
        Value::Null => return Ok(None),
        Value::Object(fields) => fields,
        other => return Err(Error::invalid_at(at, format!("must be an object, not {other}"))),
    };
    if let Some(unknown) = fields.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(Error::invalid_at(
            format!("{at}/{unknown}"),
            format!("is not a setting here; use {}", known.join(", ")),
        ));
    }
    Ok(Some(fields))
}

fn boolean(fields: &Map<String, Value>, at: &str, key: &str, default: bool) -> Result<bool> {
    match fields.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(Error::invalid_at(format!("{at}/{key}"), format!("must be true or false, not {other}"))),
    }
}

fn days(fields: &Map<String, Value>, at: &str, key: &str) -> Result<Option<i64>> {
    match fields.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => match value.as_i64() {
            Some(n) if (1..=MAX_DAYS).contains(&n) => Ok(Some(n)),
            _ => Err(Error::invalid_at(
                format!("{at}/{key}"),
                format!("must be a whole number from 1 to {MAX_DAYS}, or null"),
            )),
        },
    }
}

/// Checks an `AccessRequestConfig` body's shape; identities and governance groups it names are
/// checked by [`Engine::set_access_request_config`]. Members left out take their defaults.
pub fn parse_request_config(body: &Value) -> Result<RequestConfig> {
    let top = [
        "approvalsMustBeExternal",
        "autoApprovalEnabled",
        "reauthorizationEnabled",
        "requestOnBehalfOfConfig",
        "approvalReminderAndEscalationConfig",
        "entitlementRequestConfig",
    ];
    if !body.is_object() {
        return Err(Error::invalid_at("", "the body must be an access request configuration object"));
    }
    let fields = members(body, "", &top)?.cloned().unwrap_or_default();
    let mut config = RequestConfig {
        approvals_must_be_external: boolean(&fields, "", "approvalsMustBeExternal", false)?,
        auto_approval_enabled: boolean(&fields, "", "autoApprovalEnabled", false)?,
        reauthorization_enabled: boolean(&fields, "", "reauthorizationEnabled", false)?,
        ..RequestConfig::default()
    };
    let at = "/requestOnBehalfOfConfig";
    let known = ["allowRequestOnBehalfOfAnyoneByAnyone", "allowRequestOnBehalfOfEmployeeByManager"];
    if let Some(behalf) = members(fields.get(&at[1..]).unwrap_or(&Value::Null), at, &known)? {
        config.on_behalf_of = OnBehalfOf {
            anyone_by_anyone: boolean(behalf, at, known[0], false)?,
            employee_by_manager: boolean(behalf, at, known[1], false)?,
        };
    }
    let at = "/approvalReminderAndEscalationConfig";
    let known = ["daysUntilEscalation", "daysBetweenReminders", "maxReminders", "fallbackApproverRef"];
    if let Some(reminders) = members(fields.get(&at[1..]).unwrap_or(&Value::Null), at, &known)? {
        let fallback_at = format!("{at}/fallbackApproverRef");
        let fallback = match members(
            reminders.get("fallbackApproverRef").unwrap_or(&Value::Null),
            &fallback_at,
            &["type", "id", "name", "email"],
        )? {
            None => None,
            Some(reference) => {
                if reference.get("type").is_some_and(|t| !t.is_null() && t != "IDENTITY") {
                    return Err(Error::invalid_at(
                        format!("{fallback_at}/type"),
                        "the fallback approver is an IDENTITY",
                    ));
                }
                match reference.get("id").and_then(Value::as_str).map(str::trim) {
                    Some(id) if !id.is_empty() => Some(id.to_owned()),
                    _ => {
                        return Err(Error::invalid_at(
                            format!("{fallback_at}/id"),
                            "is required: the fallback identity's id",
                        ));
                    }
                }
            }
        };
        config.reminders = Reminders {
            days_until_escalation: days(reminders, at, "daysUntilEscalation")?,
            days_between_reminders: days(reminders, at, "daysBetweenReminders")?,
            max_reminders: days(reminders, at, "maxReminders")?,
            fallback_approver: fallback,
        };
    }
    let at = "/entitlementRequestConfig";
    let known =
        ["allowEntitlementRequest", "requestCommentsRequired", "deniedCommentsRequired", "grantRequestApprovalSchemes"];
    if let Some(entitlements) = members(fields.get(&at[1..]).unwrap_or(&Value::Null), at, &known)? {
        let schemes = match entitlements.get("grantRequestApprovalSchemes") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.trim().to_owned()),
            Some(other) => {
                return Err(Error::invalid_at(
                    format!("{at}/grantRequestApprovalSchemes"),
                    format!("must be a string, not {other}"),
                ));
            }
        };
        for scheme in schemes.iter().flat_map(|s| s.split(',')).map(str::trim).filter(|s| !s.is_empty()) {
            let known = ["entitlementOwner", "sourceOwner", "manager"].contains(&scheme)
                || scheme.strip_prefix("workgroup:").is_some_and(|id| !id.trim().is_empty());
            if !known {
                return Err(Error::invalid_at(
                    format!("{at}/grantRequestApprovalSchemes"),
                    format!("`{scheme}` is not entitlementOwner, sourceOwner, manager or workgroup:<id>"),
                ));
            }
        }
        config.entitlements = EntitlementRequests {
            allowed: boolean(entitlements, at, known[0], true)?,
            comments_required: boolean(entitlements, at, known[1], false)?,
            denied_comments_required: boolean(entitlements, at, known[2], false)?,
            approval_schemes: schemes,
        };
    }
    Ok(config)
}

impl RequestConfig {
    /// The configuration as ISC's `AccessRequestConfig` document (the fallback approver by id only).
    pub fn document(&self) -> Value {
        let r = &self.reminders;
        json!({
            "approvalsMustBeExternal": self.approvals_must_be_external,
            "autoApprovalEnabled": self.auto_approval_enabled,
            "reauthorizationEnabled": self.reauthorization_enabled,
            "requestOnBehalfOfConfig": {
                "allowRequestOnBehalfOfAnyoneByAnyone": self.on_behalf_of.anyone_by_anyone,
                "allowRequestOnBehalfOfEmployeeByManager": self.on_behalf_of.employee_by_manager,
            },
            "approvalReminderAndEscalationConfig": {
                "daysUntilEscalation": r.days_until_escalation,
                "daysBetweenReminders": r.days_between_reminders,
                "maxReminders": r.max_reminders,
                "fallbackApproverRef": r.fallback_approver.as_ref().map(|id| json!({"type": "IDENTITY", "id": id})),
            },
            "entitlementRequestConfig": {
                "allowEntitlementRequest": self.entitlements.allowed,
                "requestCommentsRequired": self.entitlements.comments_required,
                "deniedCommentsRequired": self.entitlements.denied_comments_required,
                "grantRequestApprovalSchemes": self.entitlements.approval_schemes,
            },
        })
    }
}

/// The stored configuration, or the defaults; a stored document that no longer parses (a hand-edited
/// database) counts as the defaults, with a warning.
async fn load(tx: &mut Tx) -> Result<RequestConfig> {
    let Some(document) = tx.access_request_config().await? else { return Ok(RequestConfig::default()) };
    Ok(parse_request_config(&document).unwrap_or_else(|error| {
        tracing::warn!(%error, "the stored access request configuration does not parse; using the defaults");
        RequestConfig::default()
    }))
}

/// Names for an email: an identity's display name, else its id.
async fn name_of(tx: &mut Tx, id: &str) -> Result<String> {
    Ok(tx.identity(id).await?.map(|i| i.name).unwrap_or_else(|| id.to_owned()))
}

/// What an approval is about, for an email: "<item> for <person>, asked by <requester>".
async fn about(tx: &mut Tx, request: &AccessRequestRecord, approval: &ApprovalRecord) -> Result<String> {
    let item = tx.request_items(&request.id).await?.into_iter().find(|i| i.id == approval.item_id);
    let (kind, name) = item.map(|i| (i.kind.replace('_', " ").to_lowercase(), i.name)).unwrap_or_default();
    let target = name_of(tx, &request.requested_for_id).await?;
    let requester = name_of(tx, &request.requester_id).await?;
    Ok(format!("the {kind} `{name}` for {target}, requested by {requester}"))
}

impl Governance {
    /// The access-request configuration in force.
    pub async fn access_request_config(&self) -> Result<RequestConfig> {
        let mut tx = self.store.begin().await?;
        let config = load(&mut tx).await?;
        tx.commit().await?;
        Ok(config)
    }

    /// Replaces the configuration (ISC's PUT), audited as `access-request-config.update` with the
    /// documents before and after.
    pub async fn set_access_request_config(&self, body: &Value, actor: &str) -> Result<RequestConfig> {
        let config = parse_request_config(body)?;
        let now = self.now();
        let mut tx = self.store.begin().await?;
        if let Some(fallback) = &config.reminders.fallback_approver
            && tx.identity(fallback).await?.is_none()
        {
            return Err(Error::invalid_at(
                "/approvalReminderAndEscalationConfig/fallbackApproverRef/id",
                format!("no identity has the id `{fallback}`"),
            ));
        }
        let schemes = config.entitlements.approval_schemes.as_deref().unwrap_or_default();
        for group in schemes.split(',').filter_map(|s| s.trim().strip_prefix("workgroup:")) {
            if tx.object(CatalogKind::Workgroup, group.trim()).await?.is_none() {
                return Err(Error::invalid_at(
                    "/entitlementRequestConfig/grantRequestApprovalSchemes",
                    format!("no governance group has the id `{}`", group.trim()),
                ));
            }
        }
        let before = tx.access_request_config().await?;
        let document = config.document();
        tx.set_access_request_config(&document, now).await?;
        tx.audit(
            actor,
            "access-request-config.update",
            "access-request-config",
            "default",
            &json!({"before": before, "after": document}),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(config)
    }

    /// Forwards a pending approval to `new_owner`, who alone may decide it afterwards. `forwarder` is
    /// the identity forwarding (none for an administrator's token); unless `admin`, it must be one
    /// of the approval's approvers. Audited as `access-request.forward`; the new owner is emailed.
    pub async fn forward_access_approval(
        &self,
        approval_id: &str,
        forwarder: Option<&str>,
        admin: bool,
        new_owner: &str,
        comment: &str,
        actor: &str,
    ) -> Result<()> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let approval =
            tx.approval(approval_id).await?.ok_or_else(|| Error::NotFound(format!("approval {approval_id}")))?;
        let request = tx
            .lock_access_request(&approval.request_id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("access request {}", approval.request_id)))?;
        // Read again under the request's lock: a decision or forward may have just committed.
        let approval =
            tx.approval(approval_id).await?.ok_or_else(|| Error::NotFound(format!("approval {approval_id}")))?;
        if approval.status != WorkStatus::Pending {
            return Err(Error::Conflict(format!(
                "approval {approval_id} is {} and cannot be forwarded",
                if approval.status == WorkStatus::Waiting {
                    "waiting for an earlier level".into()
                } else {
                    approval.status.as_str().to_lowercase()
                }
            )));
        }
        if !admin && !forwarder.is_some_and(|f| approval.candidates.iter().any(|c| c == f)) {
            return Err(Error::Forbidden(format!(
                "identity {} is not an approver of approval {approval_id}",
                forwarder.unwrap_or("(none)")
            )));
        }
        let owner = tx
            .identity(new_owner)
            .await?
            .ok_or_else(|| Error::invalid_at("/newOwnerId", format!("no identity has the id `{new_owner}`")))?;
        if owner.id == request.requested_for_id {
            return Err(Error::invalid_at(
                "/newOwnerId",
                format!("{} cannot approve access requested for themselves", owner.name),
            ));
        }
        if approval.candidates == [owner.id.clone()] {
            return Err(Error::invalid_at(
                "/newOwnerId",
                format!("{} is already this approval's approver", owner.name),
            ));
        }
        let reassignment = Reassignment {
            id: uuid::Uuid::now_v7().simple().to_string(),
            approval_id: approval_id.to_owned(),
            old_approvers: approval.candidates.clone(),
            new_approver: owner.id.clone().into(),
            forwarder: forwarder.map(str::to_owned),
            comment: Some(comment.to_owned()),
            kind: "MANUAL_REASSIGNMENT".into(),
            created_at: now,
        };
        if !tx.reassign_approval(&reassignment).await? {
            return Err(Error::Conflict(format!("approval {approval_id} is no longer pending")));
        }
        tx.audit(
            actor,
            "access-request.forward",
            "access-request",
            &request.id,
            &json!({"approval": approval_id, "from": approval.candidates, "to": owner.id, "forwarder": forwarder,
                    "comment": comment}),
            now,
        )
        .await?;
        let about = about(&mut tx, &request, &approval).await?;
        let by = match forwarder {
            Some(id) => name_of(&mut tx, id).await?,
            None => "An administrator".into(),
        };
        let body = format!(
            "{by} forwarded to you the approval of {about}.\n\nTheir comment: {comment}\n\n\
             Approve or reject it among your pending access request approvals (approval {approval_id})."
        );
        self.notify(&mut tx, &owner.id, "An access request approval was forwarded to you", &body, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The deadline runner of people's work, once: automatic approvals, then, in one listing of what is
    /// due, each inbox item's own reminder or deadline and each access approval's configured reminder
    /// or escalation. Returns how many items it acted on. Safe on any number of nodes: each item is
    /// handled under its lock (an approval under its request's) and re-checked there; one transaction
    /// per item, so an item whose outcome cannot be handed on (its request's role was deleted
    /// meanwhile, say) is logged and retried later without holding up the others.
    pub async fn run_deadlines(&self) -> Result<usize> {
        let mut tx = self.store.begin().await?;
        let config = load(&mut tx).await?;
        tx.commit().await?;
        let mut acted = 0;
        if config.auto_approval_enabled {
            // A self-approval that cannot be applied is retried next time; the deadlines still run.
            match self.auto_approve().await {
                Ok(approved) => acted += approved,
                Err(error) => tracing::warn!(%error, "automatic approvals could not be applied; retrying"),
            }
        }
        let r = &config.reminders;
        let now = self.now();
        let due = DueBefore {
            escalate: r.days_until_escalation.map(|d| now - TimeDelta::days(d)),
            remind: r.days_between_reminders.map(|d| now - TimeDelta::days(d)),
            max_reminders: r.max_reminders,
        };
        let mut tx = self.store.begin().await?;
        let found = tx.due_work(now, due, BATCH).await?;
        tx.commit().await?;
        for work in found {
            let applied = if work.subject_kind == WorkSubject::AccessRequest {
                self.apply_approval_deadline(&work, due, r, now).await
            } else {
                self.apply_deadline(&work.id, now).await
            };
            match applied {
                Ok(true) => acted += 1,
                Ok(false) => {}
                Err(error) => tracing::warn!(item = %work.id, %error, "a deadline could not be applied; retrying"),
            }
        }
        if acted > 0 {
            self.notify_events();
        }
        Ok(acted)
    }

    /// An access approval's configured escalation or reminder, if still due; false when not.
    async fn apply_approval_deadline(
        &self,
        work: &DueWork,
        due: DueBefore,
        r: &Reminders,
        now: Timestamp,
    ) -> Result<bool> {
        let mut tx = self.store.begin().await?;
        if tx.lock_access_request(&work.subject_id).await?.is_none() {
            return Ok(false);
        }
        let Some(clock) = tx.pending_clock(&work.id).await? else { return Ok(false) };
        let escalate = due.escalate.is_some_and(|before| !clock.escalation_blocked && clock.assigned_at <= before);
        let remind = due.remind.is_some_and(|before| {
            r.max_reminders.is_none_or(|max| clock.reminders_sent < max)
                && clock.last_reminded_at.unwrap_or(clock.assigned_at) <= before
        });
        let done = if escalate {
            self.escalate(&mut tx, &clock, r, now).await?
        } else if remind {
            self.remind(&mut tx, &clock, now).await?;
            true
        } else {
            false
        };
        tx.commit().await?;
        Ok(done)
    }

    /// Approves, as the requester, every pending level the requester is an approver of; a level
    /// that opens because of it is approved in the next round when the requester may decide it too.
    async fn auto_approve(&self) -> Result<usize> {
        let mut acted = 0;
        // A request has a few levels at most; the bound only guards against a surprise.
        for _ in 0..16 {
            let mut tx = self.store.begin().await?;
            let own = tx.self_approvals(BATCH).await?;
            tx.commit().await?;
            if own.is_empty() {
                break;
            }
            for (approval, requester) in own {
                let comment = "Approved automatically: the requester is an approver of this level.";
                match self.decide_access_approval(&approval, &requester, true, Some(comment), AUTO_APPROVAL_ACTOR).await
                {
                    Ok(_) => acted += 1,
                    // Decided, cancelled or handed on meanwhile: nothing is left to approve.
                    Err(Error::Conflict(_) | Error::Invalid(_) | Error::Forbidden(_)) => {}
                    Err(error) => return Err(error),
                }
            }
        }
        Ok(acted)
    }

    /// Emails each approver a reminder and counts it.
    async fn remind(&self, tx: &mut Tx, clock: &ApprovalClock, now: Timestamp) -> Result<()> {
        let Some(approval) = tx.approval(&clock.approval_id).await? else { return Ok(()) };
        let Some(request) = tx.access_request(&clock.request_id).await? else { return Ok(()) };
        let about = about(tx, &request, &approval).await?;
        let waited = now.saturating_millis_since(clock.assigned_at) / DAY_MS;
        let body = format!(
            "The approval of {about} has waited for your decision for {waited} day(s).\n\n\
             Approve or reject it among your pending access request approvals (approval {}).",
            approval.id
        );
        for approver in &approval.candidates {
            self.notify(tx, approver, "Reminder: an access request waits for your approval", &body, now).await?;
        }
        Ok(tx.record_reminder(&approval.id, now).await?)
    }

    /// Hands the approval to the approver's manager (when one person holds it), else the fallback
    /// approver; with neither, marks it so it is not tried again until it changes hands. True when
    /// it changed hands.
    async fn escalate(
        &self,
        tx: &mut Tx,
        clock: &ApprovalClock,
        reminders: &Reminders,
        now: Timestamp,
    ) -> Result<bool> {
        let Some(approval) = tx.approval(&clock.approval_id).await? else { return Ok(false) };
        let Some(request) = tx.access_request(&clock.request_id).await? else { return Ok(false) };
        let eligible = |id: &str| !approval.candidates.iter().any(|c| c == id) && id != request.requested_for_id;
        let mut target = None;
        if let [only] = approval.candidates.as_slice()
            && let Some(manager) = tx.identity(only).await?.and_then(|i| i.manager_id)
            && eligible(&manager)
            && tx.identity(&manager).await?.is_some()
        {
            target = Some(manager);
        }
        if target.is_none()
            && let Some(fallback) = reminders.fallback_approver.as_deref()
            && eligible(fallback)
            && tx.identity(fallback).await?.is_some()
        {
            target = Some(fallback.to_owned().into());
        }
        let Some(target) = target else {
            tracing::info!(approval = %approval.id, "an approval is due for escalation but has nobody to go to");
            tx.block_escalation(&approval.id).await?;
            return Ok(false);
        };
        let days = reminders.days_until_escalation.unwrap_or_default();
        let reassignment = Reassignment {
            id: uuid::Uuid::now_v7().simple().to_string(),
            approval_id: approval.id.clone(),
            old_approvers: approval.candidates.clone(),
            new_approver: target.clone().into(),
            forwarder: None,
            comment: Some(format!("Escalated: no decision within {days} day(s).")),
            kind: "AUTO_ESCALATION".into(),
            created_at: now,
        };
        if !tx.reassign_approval(&reassignment).await? {
            return Ok(false);
        }
        tx.audit(
            DEADLINE_ACTOR,
            "access-request.escalate",
            "access-request",
            &request.id,
            &json!({"approval": approval.id, "from": approval.candidates, "to": target, "afterDays": days}),
            now,
        )
        .await?;
        let about = about(tx, &request, &approval).await?;
        let body = format!(
            "Nobody decided the approval of {about} within {days} day(s), so it has been escalated to you.\n\n\
             Approve or reject it among your pending access request approvals (approval {}).",
            approval.id
        );
        self.notify(tx, &target, "An access request approval was escalated to you", &body, now).await?;
        Ok(true)
    }
}
