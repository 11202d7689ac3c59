//! ISC-style access requests: submitting roles, access profiles and entitlements for identities, each
//! item's approval levels (from the object's `accessRequestConfig.approvalSchemes`) decided in series,
//! and the grant or revocation that the last approval starts — with its provisioning and its events —
//! in the decision's own transaction.
//!
//! Approval schemes follow ISC: `approverType` is `MANAGER` (the requested-for identity's manager),
//! `OWNER` (or ISC's `ROLE_OWNER`, `ACCESS_PROFILE_OWNER`, `ENTITLEMENT_OWNER`: the object's owner),
//! `SOURCE_OWNER` (the owner of an access profile's or entitlement's source) or `GOVERNANCE_GROUP`
//! (`approverId` names the group; any member decides). An object without `accessRequestConfig` needs
//! its requested-for identity's manager's approval; an explicitly empty `approvalSchemes` needs none.
//! A revocation uses `revocationRequestConfig` the same way, and needs no approval without one. Every
//! level's approvers are resolved when the request is submitted, so a level nobody could decide refuses
//! the request rather than leaving it stuck.

use serde_json::{Value, json};
use tessera_store::{
    AccessRequestRecord, AccessStore, ApprovalRecord, CatalogKind, CatalogObject, CatalogStore, ExecutionStore,
    IdentityStore, QueueStore, RequestItemRecord, RequestStore, SecurityStore, Tx, WaiterStore, WorkflowStore,
};

use crate::access_hooks::Hooks;
use crate::approvals::{self, Ask, Change, Facts};
use crate::{AccessChange, AccessItem};
use crate::{Error, Governance, Result};

/// Announces a submitted request (fire and forget; ISC's request-response pre-approval hook is not
/// served yet).
pub const ACCESS_REQUESTED: &str = "idn:access-requested";
/// Announces a request whose every item has been decided (ISC's Access Request Decision).
pub const ACCESS_REQUEST_DECIDED: &str = "idn:access-request-post-approval";

/// Grant or revoke: ISC's `GRANT_ACCESS` or `REVOKE_ACCESS`.
pub use tessera_model::AccessRequestType as RequestType;
use tessera_model::{ApproverKind, ItemStatus, RequestStatus, Timestamp, WorkStatus};

/// One item asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestedItem {
    /// `ROLE`, `ACCESS_PROFILE` or `ENTITLEMENT`.
    pub kind: String,
    pub id: String,
    pub comment: Option<String>,
    /// When granted access is taken away again.
    pub remove_at: Option<Timestamp>,
}

/// A request as submitted: errors name their place with pointers into ISC's request body
/// (`/requestedFor/0`, `/requestedItems/1`), each an [`Error::Invalid`].
#[derive(Debug, Clone)]
pub struct NewAccessRequest {
    pub requester_id: String,
    pub requested_for: Vec<String>,
    pub request_type: RequestType,
    pub items: Vec<RequestedItem>,
    pub comment: Option<String>,
}

/// The requests made for one identity, or found already open for it (ISC's `AccessRequestTracking`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tracking {
    pub requested_for: String,
    /// (kind, id) of each item.
    pub items: Vec<(String, String)>,
    pub request_ids: Vec<String>,
}

/// What a submission did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Submitted {
    pub new_requests: Vec<Tracking>,
    /// Items already waiting in an open request for the same identity, left to that request.
    pub existing_requests: Vec<Tracking>,
}

/// Where a decided item stands afterwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decided {
    /// `Pending` (a later level is open now), `Approved` or `Rejected`.
    pub item_status: ItemStatus,
    /// The provisioning group the grant or revocation started.
    pub tracking_number: Option<String>,
}

/// One resolved approval level.
struct Level {
    kind: ApproverKind,
    reference: Option<String>,
    candidates: Vec<String>,
}

fn new_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

/// The owner of a catalogue object: its owner column, else its document's `owner.id`.
pub(crate) fn owner_of(object: &CatalogObject) -> Option<String> {
    object.owner_id.clone().or_else(|| object.document["owner"]["id"].as_str().map(str::to_owned))
}

impl Governance {
    /// Submits a request as one transaction: one access request per requested-for identity, its
    /// approvals, the `idn:access-requested` events, an audit entry by `actor`, and — for items that
    /// need no approval — the grant or revocation with its plans.
    pub async fn submit_access_request(&self, request: &NewAccessRequest, actor: &str) -> Result<Submitted> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let submitted = self.submit_access_request_in(&mut tx, request, actor, now).await?;
        tx.commit().await?;
        self.notify_events();
        Ok(submitted)
    }

    async fn submit_access_request_in(
        &self,
        tx: &mut Tx,
        request: &NewAccessRequest,
        actor: &str,
        now: Timestamp,
    ) -> Result<Submitted> {
        if request.requested_for.is_empty() {
            return Err(Error::invalid_at("/requestedFor", "name at least one identity"));
        }
        if request.items.is_empty() {
            return Err(Error::invalid_at("/requestedItems", "name at least one item"));
        }
        if request.request_type == RequestType::Revoke && request.requested_for.len() > 1 {
            return Err(Error::invalid_at("/requestedFor", "a REVOKE_ACCESS request names exactly one identity"));
        }
        let requester = tx.identity(&request.requester_id).await?.ok_or_else(|| {
            Error::invalid_at("/requestedBy", format!("no identity has the id `{}`", request.requester_id))
        })?;
        let mut objects = Vec::with_capacity(request.items.len());
        for (i, item) in request.items.iter().enumerate() {
            let at = format!("/requestedItems/{i}");
            let kind = CatalogKind::of_access(&item.kind)
                .ok_or_else(|| Error::invalid_at(format!("{at}/type"), "use ROLE, ACCESS_PROFILE or ENTITLEMENT"))?;
            let object = tx.object(kind, &item.id).await?.ok_or_else(|| {
                Error::invalid_at(format!("{at}/id"), format!("no {} has the id `{}`", item.kind, item.id))
            })?;
            if request.request_type == RequestType::Grant && !(object.requestable && object.enabled) {
                return Err(Error::invalid_at(&at, format!("{} `{}` is not requestable", item.kind, object.name)));
            }
            if request.items[..i].iter().any(|other| other.kind == item.kind && other.id == item.id) {
                return Err(Error::invalid_at(&at, "the item is listed twice"));
            }
            objects.push(object);
        }
        let hooks = Hooks::load(tx).await?;
        let requester_ref = json!({"type": "IDENTITY", "id": requester.id, "name": requester.name});
        let mut submitted = Submitted::default();
        for (f, for_id) in request.requested_for.iter().enumerate() {
            let at = format!("/requestedFor/{f}");
            let target = tx
                .identity(for_id)
                .await?
                .ok_or_else(|| Error::invalid_at(&at, format!("no identity has the id `{for_id}`")))?;
            // As ISC: an inactive identity (on leave, terminated) is not given new access; what it
            // holds may still be revoked.
            if request.request_type == RequestType::Grant && target.status == tessera_model::IdentityStatus::Inactive {
                let state = target.lifecycle_state.as_deref().unwrap_or("inactive");
                return Err(Error::invalid_at(
                    &at,
                    format!(
                        "{} is inactive (lifecycle state `{state}`): access cannot be requested for them",
                        target.name
                    ),
                ));
            }
            let held = tx.access_of(&[target.id.to_string()]).await?;
            let request_id = new_id();
            let (mut items, mut approvals, mut existing) = (Vec::new(), Vec::new(), Vec::new());
            let mut existing_ids = Vec::new();
            for (i, (item, object)) in request.items.iter().zip(&objects).enumerate() {
                let at = format!("/requestedItems/{i}");
                let holding = held.iter().find(|g| g.kind == item.kind && g.object_id == item.id);
                match (request.request_type, holding) {
                    (RequestType::Grant, Some(_)) => {
                        return Err(Error::invalid_at(&at, format!("{} already holds `{}`", target.name, object.name)));
                    }
                    (RequestType::Revoke, None) => {
                        return Err(Error::invalid_at(&at, format!("{} does not hold `{}`", target.name, object.name)));
                    }
                    (RequestType::Revoke, Some(g)) if g.origin == "BIRTHRIGHT" => {
                        return Err(Error::invalid_at(
                            &at,
                            format!("{} holds `{}` by birthright", target.name, object.name),
                        ));
                    }
                    _ => {}
                }
                if let Some(open) = tx.open_request_for(&target.id, &item.kind, &item.id).await? {
                    existing.push((item.kind.clone(), item.id.clone()));
                    if !existing_ids.contains(&open) {
                        existing_ids.push(open);
                    }
                    continue;
                }
                let item_id = new_id();
                let operation = if request.request_type == RequestType::Grant { "Add" } else { "Remove" };
                let subject = json!({"requestedFor": {"id": target.id, "name": target.name},
                                     "requestedItem": {"id": item.id, "name": object.name, "type": item.kind,
                                                       "operation": operation}});
                let levels = match hooks.approval_for(&subject) {
                    Some(workflow) => {
                        vec![Level {
                            kind: ApproverKind::Workflow,
                            reference: Some(workflow.id.clone().into()),
                            candidates: Vec::new(),
                        }]
                    }
                    None => self.levels(tx, &at, request.request_type, &target, object).await?,
                };
                for (l, level) in levels.into_iter().enumerate() {
                    approvals.push(ApprovalRecord {
                        id: new_id(),
                        request_id: request_id.clone(),
                        item_id: item_id.clone(),
                        level: l as i64 + 1,
                        approver_kind: level.kind,
                        approver_ref: level.reference,
                        candidates: level.candidates,
                        status: if l == 0 { WorkStatus::Pending } else { WorkStatus::Waiting },
                        decided_by: None,
                        comment: None,
                        decided_at: None,
                        created_at: now,
                        modified_at: now,
                    });
                }
                items.push(RequestItemRecord {
                    id: item_id,
                    request_id: request_id.clone(),
                    position: i as i64,
                    kind: item.kind.clone(),
                    object_id: item.id.clone(),
                    name: object.name.clone(),
                    comment: item.comment.clone(),
                    remove_at: item.remove_at,
                    status: ItemStatus::Pending,
                    tracking_number: None,
                    modified_at: now,
                });
            }
            if !existing.is_empty() {
                submitted.existing_requests.push(Tracking {
                    requested_for: target.id.clone().into(),
                    items: existing,
                    request_ids: existing_ids,
                });
            }
            if items.is_empty() {
                continue;
            }
            let record = AccessRequestRecord {
                id: request_id.clone(),
                requester_id: requester.id.clone().into(),
                requested_for_id: target.id.clone().into(),
                request_type: request.request_type,
                status: RequestStatus::Pending,
                comment: request.comment.clone(),
                created_at: now,
                modified_at: now,
            };
            let target_ref = json!({"type": "IDENTITY", "id": target.id, "name": target.name});
            let operation = if request.request_type == RequestType::Grant { "Add" } else { "Remove" };
            let requested: Vec<Value> = items
                .iter()
                .map(|item| {
                    let description = objects
                        .get(item.position as usize)
                        .and_then(|object| object.document.get("description").cloned())
                        .unwrap_or(Value::Null);
                    json!({"id": item.object_id, "name": item.name, "type": item.kind, "operation": operation,
                           "description": description, "comment": item.comment})
                })
                .collect();
            let payload = json!({"accessRequestId": request_id, "requestedFor": target_ref,
                                 "requestedItems": requested, "requestedBy": requester_ref});
            // Pre-approval and dynamic-approver workflows whose filters select the request have their
            // say first: until then no level is open.
            let hold = hooks.hold(&payload);
            for approval in &mut approvals {
                if hold {
                    approval.status = WorkStatus::Waiting;
                }
                approval.candidates = self.stand_ins(tx, &approval.candidates, now, &[target.id.to_string()]).await?;
            }
            tx.insert_access_request(&record, &items, &approvals).await?;
            self.check_request_sod(tx, &record, &items).await?;
            tx.publish(ACCESS_REQUESTED, &payload, now).await?;
            tx.audit(
                actor,
                "access-request.submit",
                "access-request",
                &request_id,
                &json!({"requestedFor": target.id, "requestedBy": requester.id,
                        "requestType": record.request_type,
                        "items": items.iter().map(|i| json!({"type": i.kind, "id": i.object_id})).collect::<Vec<_>>()}),
                now,
            )
            .await?;
            if hold {
                self.start_request_hooks(tx, &hooks, &record.id, &payload, now).await?;
                self.release_request(tx, &record.id, now).await?;
            } else {
                for item in &items {
                    if approvals.iter().any(|a| a.item_id == item.id) {
                        self.approval_opened(tx, &record, item, 1, now).await?;
                    } else {
                        self.apply_requested_item(tx, &record, item, now).await?;
                    }
                }
                self.conclude(tx, &record.id, now).await?;
            }
            submitted.new_requests.push(Tracking {
                requested_for: target.id.clone().into(),
                items: items.iter().map(|i| (i.kind.clone(), i.object_id.clone())).collect(),
                request_ids: vec![request_id],
            });
        }
        Ok(submitted)
    }

    /// The approval levels `object` asks for, with their approvers resolved.
    async fn levels(
        &self,
        tx: &mut Tx,
        at: &str,
        request_type: RequestType,
        target: &tessera_store::IdentityRecord,
        object: &CatalogObject,
    ) -> Result<Vec<Level>> {
        let config = match request_type {
            RequestType::Grant => "accessRequestConfig",
            RequestType::Revoke => "revocationRequestConfig",
        };
        let schemes = match object.document.get(config).and_then(|c| c.get("approvalSchemes")) {
            None | Some(Value::Null) if request_type == RequestType::Grant => {
                vec![json!({"approverType": "MANAGER"})]
            }
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(schemes)) => schemes.clone(),
            Some(_) => {
                return Err(Error::invalid_at(
                    at,
                    format!("`{}` has a {config}.approvalSchemes that is not a list", object.name),
                ));
            }
        };
        let mut levels = Vec::with_capacity(schemes.len());
        for (s, scheme) in schemes.iter().enumerate() {
            let place = format!("`{}` {config}/approvalSchemes/{s}", object.name);
            let kind = scheme["approverType"].as_str().unwrap_or_default();
            let level = match kind {
                "MANAGER" => {
                    let manager = target.manager_id.clone().ok_or_else(|| {
                        Error::invalid_at(at, format!("{place}: {} has no manager to approve", target.name))
                    })?;
                    Level {
                        kind: ApproverKind::Manager,
                        reference: Some(manager.clone().into()),
                        candidates: vec![manager.into()],
                    }
                }
                "OWNER" | "ROLE_OWNER" | "ACCESS_PROFILE_OWNER" | "ENTITLEMENT_OWNER" => {
                    let owner = owner_of(object)
                        .ok_or_else(|| Error::invalid_at(at, format!("{place}: the object has no owner")))?;
                    Level { kind: ApproverKind::Owner, reference: Some(owner.clone()), candidates: vec![owner] }
                }
                "SOURCE_OWNER" => {
                    let source = match object.kind {
                        CatalogKind::Role => None,
                        _ => tx.object(CatalogKind::Source, &object.parent_id).await?,
                    };
                    let owner = source.as_ref().and_then(owner_of).ok_or_else(|| {
                        Error::invalid_at(at, format!("{place}: there is no source owner to approve"))
                    })?;
                    Level { kind: ApproverKind::SourceOwner, reference: Some(owner.clone()), candidates: vec![owner] }
                }
                "GOVERNANCE_GROUP" => {
                    let group = scheme["approverId"].as_str().unwrap_or_default();
                    if tx.object(CatalogKind::Workgroup, group).await?.is_none() {
                        return Err(Error::invalid_at(
                            at,
                            format!("{place}: no governance group has the id `{group}`"),
                        ));
                    }
                    let members = tx.members(group).await?;
                    if members.is_empty() {
                        return Err(Error::invalid_at(
                            at,
                            format!("{place}: governance group `{group}` has no members"),
                        ));
                    }
                    Level {
                        kind: ApproverKind::GovernanceGroup,
                        reference: Some(group.to_owned()),
                        candidates: members,
                    }
                }
                other => {
                    return Err(Error::invalid_at(
                        at,
                        format!(
                            "{place}: approverType `{other}` is not supported; use MANAGER, OWNER, SOURCE_OWNER or \
                             GOVERNANCE_GROUP"
                        ),
                    ));
                }
            };
            levels.push(level);
        }
        Ok(levels)
    }

    /// Approves or rejects a pending approval as `approver` (one of its candidates). Of two decisions
    /// on one approval, exactly one is taken; the other is a [`Error::Conflict`]. The last approval of
    /// an item grants or revokes it, with its plans, in the same transaction.
    pub async fn decide_access_approval(
        &self,
        approval_id: &str,
        approver: &str,
        approve: bool,
        comment: Option<&str>,
        actor: &str,
    ) -> Result<Decided> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let found =
            tx.approval(approval_id).await?.ok_or_else(|| Error::NotFound(format!("approval {approval_id}")))?;
        let request = tx
            .lock_access_request(&found.request_id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("access request {}", found.request_id)))?;
        // Decided on the approvals as they stand under the request's lock: a forward or escalation
        // may have just changed who decides.
        let ask = Ask { approval_id, approver, approve, comment, candidates_only: true };
        let decided = self.decide_locked(&mut tx, &request, &ask, actor, now).await?;
        tx.commit().await?;
        self.notify_events();
        Ok(decided)
    }

    /// Decides an approval in `tx` for an approval workflow (no candidate check): see
    /// [`Governance::decide_access_approval`]. A decision that is no longer possible (the level was
    /// decided meanwhile) changes nothing.
    pub(crate) async fn decide_in(
        &self,
        tx: &mut Tx,
        approval: &ApprovalRecord,
        approve: bool,
        approver: &str,
        comment: Option<&str>,
        now: Timestamp,
    ) -> Result<()> {
        let Some(request) = tx.lock_access_request(&approval.request_id).await? else { return Ok(()) };
        let ask = Ask { approval_id: &approval.id, approver, approve, comment, candidates_only: false };
        match self.decide_locked(tx, &request, &ask, approver, now).await {
            Ok(_) | Err(Error::Conflict(_)) => Ok(()),
            Err(other) => Err(other),
        }
    }

    /// The shell of [`approvals::decide`]: loads the request's approvals and items (its row is
    /// held), writes the decision's changes in order, and concludes the request when nothing is left
    /// pending.
    async fn decide_locked(
        &self,
        tx: &mut Tx,
        request: &AccessRequestRecord,
        ask: &Ask<'_>,
        actor: &str,
        now: Timestamp,
    ) -> Result<Decided> {
        let approvals = tx.request_approvals(&request.id).await?;
        let items = tx.request_items(&request.id).await?;
        let mut facts = Facts::default();
        for reference in approvals
            .iter()
            .filter(|a| a.approver_kind == ApproverKind::Workflow)
            .filter_map(|a| a.approver_ref.as_ref())
        {
            if tx.workflow(reference).await?.is_some_and(|w| w.enabled) {
                facts.live_workflows.insert(reference.clone());
            }
        }
        let decision = approvals::decide(&approvals, &items, ask, actor, &facts)?;
        let item =
            |id: &str| items.iter().find(|i| i.id == id).ok_or_else(|| Error::NotFound(format!("requested item {id}")));
        let mut tracking_number = None;
        for change in decision.changes {
            match change {
                Change::Decide { approval, status, by, comment } => {
                    if !tx.decide_approval(&approval, status, &by, comment.as_deref(), now).await? {
                        return Err(Error::Conflict(format!("approval {approval} was decided meanwhile")));
                    }
                }
                Change::CancelOpen { item } => {
                    tx.cancel_approvals(&request.id, Some(&item), now).await?;
                }
                Change::Reject { item } => {
                    tx.settle_item(&item, ItemStatus::Rejected, None, now).await?;
                }
                Change::Open { item, level } => {
                    tx.open_approval(&item, level, now).await?;
                }
                Change::StartWorkflow { approval, item: item_id, level, workflow } => {
                    let Some(workflow) = tx.workflow(&workflow).await? else { continue };
                    self.start_approval_workflow(tx, request, item(&item_id)?, &approval, level, &workflow, now)
                        .await?;
                }
                Change::Apply { item: item_id } => {
                    tracking_number = self.apply_requested_item(tx, request, item(&item_id)?, now).await?;
                }
                Change::Audit { actor, approve, approval, item, level, by, item_status } => {
                    let action = if approve { "access-request.approve" } else { "access-request.reject" };
                    let detail = json!({"approval": approval, "item": item, "level": level, "approver": by,
                                        "itemStatus": item_status});
                    tx.audit(&actor, action, "access-request", &request.id, &detail, now).await?;
                }
            }
        }
        self.conclude(tx, &request.id, now).await?;
        Ok(Decided { item_status: decision.item_status, tracking_number })
    }

    /// Cancels a pending request: its open approvals and undecided items end CANCELLED.
    pub async fn cancel_access_request(&self, request_id: &str, comment: &str, actor: &str) -> Result<()> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        // The workflows deciding for it have nothing left to decide. Their executions are locked before
        // the request, in the order an ending execution takes them, so the two cannot deadlock.
        let mut waiting = tx.waiters_of("ACCESS_REQUEST", request_id).await?;
        for approval in tx.request_approvals(request_id).await?.iter().filter(|a| a.status == WorkStatus::Pending) {
            waiting.extend(tx.waiters_of("ACCESS_REQUEST_ITEM", &approval.id).await?);
        }
        for waiter in &waiting {
            tx.lock_execution(&waiter.execution_id).await?;
        }
        let request = tx
            .lock_access_request(request_id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("access request {request_id}")))?;
        if request.status != RequestStatus::Pending {
            return Err(Error::Conflict(format!(
                "access request {request_id} is {} and cannot be cancelled",
                request.status.as_str().to_lowercase()
            )));
        }
        for waiter in waiting {
            if tx.take_waiter(&waiter.execution_id).await?.is_some() {
                self.engine.cancel(&mut tx, &waiter.execution_id, "the access request was cancelled").await?;
            }
        }
        tx.cancel_approvals(request_id, None, now).await?;
        for item in tx.request_items(request_id).await? {
            tx.settle_item(&item.id, ItemStatus::Cancelled, None, now).await?;
        }
        tx.settle_request(request_id, RequestStatus::Cancelled, now).await?;
        tx.audit(actor, "access-request.cancel", "access-request", request_id, &json!({"comment": comment}), now)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Grants or revokes an approved item through Manage Access (action `AccessRequest`), and marks it
    /// APPROVED with its tracking number.
    pub(crate) async fn apply_requested_item(
        &self,
        tx: &mut Tx,
        request: &AccessRequestRecord,
        item: &RequestItemRecord,
        now: Timestamp,
    ) -> Result<Option<String>> {
        let requester = tx.identity(&request.requester_id).await?;
        let change = AccessChange {
            grant: request.request_type == RequestType::Grant,
            identity_ids: vec![request.requested_for_id.clone()],
            items: vec![AccessItem { kind: item.kind.clone(), id: item.object_id.clone() }],
            requester: Some(json!({"type": "IDENTITY", "id": request.requester_id,
                                   "name": requester.map(|r| r.name)})),
            comments: item.comment.clone(),
            action: "AccessRequest".into(),
            start_at: None,
            remove_at: item.remove_at,
            actor: format!("access-request:{}", request.id),
        };
        let outcome = self.manage_access_in(tx, &change, now).await?;
        let tracking = outcome.tracking_numbers.first().cloned();
        tx.settle_item(&item.id, ItemStatus::Approved, tracking.as_deref(), now).await?;
        Ok(tracking)
    }

    /// Completes a request whose items have all been decided, announcing the decisions.
    pub(crate) async fn conclude(&self, tx: &mut Tx, request_id: &str, now: Timestamp) -> Result<()> {
        let items = tx.request_items(request_id).await?;
        if items.iter().any(|i| i.status == ItemStatus::Pending)
            || !tx.settle_request(request_id, RequestStatus::Completed, now).await?
        {
            return Ok(());
        }
        let Some(request) = tx.access_request(request_id).await? else { return Ok(()) };
        let approvals = tx.request_approvals(request_id).await?;
        let mut statuses = Vec::with_capacity(items.len());
        for item in &items {
            let mut info = Vec::new();
            for a in approvals.iter().filter(|a| a.item_id == item.id && a.decided_by.is_some()) {
                let approver = a.decided_by.clone().unwrap_or_default();
                let name = tx.identity(&approver).await?.map(|i| i.name);
                info.push(json!({"approvalComment": a.comment, "approvalDecision": a.status.isc_approval(),
                                 "approverName": name,
                                 "approver": {"type": "IDENTITY", "id": approver, "name": name}}));
            }
            statuses.push(json!({"id": item.object_id, "name": item.name, "type": item.kind,
                                 "operation": if request.request_type == RequestType::Revoke { "Remove" } else { "Add" },
                                 "comment": item.comment, "state": item.status, "approvalInfo": info}));
        }
        let reference = |id: &str, name: Option<String>| json!({"type": "IDENTITY", "id": id, "name": name});
        let for_name = tx.identity(&request.requested_for_id).await?.map(|i| i.name);
        let by_name = tx.identity(&request.requester_id).await?.map(|i| i.name);
        let payload = json!({"accessRequestId": request.id,
                             "requestedFor": reference(&request.requested_for_id, for_name),
                             "requestedItemsStatus": statuses,
                             "requestedBy": reference(&request.requester_id, by_name)});
        tx.publish(ACCESS_REQUEST_DECIDED, &payload, now).await?;
        Ok(())
    }
}
