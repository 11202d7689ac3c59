//! Access requests: who asked for which items for whom, and the approval levels each item passes in
//! series. A level is people's work (an `inbox_items` row with subject `ACCESS_REQUEST`, the item as
//! its reference and the level; its approvers are the row's assignees), read here as ISC's approval.
//! A decision is a conditional update, so of two approvers deciding at once exactly one wins.

use sqlx::Row;
use sqlx::any::AnyRow;

use serde_json::Value;
use tessera_model::{
    AccessRequestType, ApproverKind, ItemStatus, RequestStatus, Timestamp, WorkKind, WorkStatus, WorkSubject,
};

use crate::{InboxItemRecord, InboxStore, Result, Tx, instant, instant_opt};

/// One access request: the items asked for one identity.
#[derive(Debug, Clone, PartialEq)]
pub struct AccessRequestRecord {
    pub id: String,
    pub requester_id: String,
    pub requested_for_id: String,
    pub request_type: AccessRequestType,
    pub status: RequestStatus,
    pub comment: Option<String>,
    pub created_at: Timestamp,
    pub modified_at: Timestamp,
}

/// A role, access profile or entitlement asked for in a request.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestItemRecord {
    pub id: String,
    pub request_id: String,
    pub position: i64,
    /// `ROLE`, `ACCESS_PROFILE` or `ENTITLEMENT`.
    pub kind: String,
    pub object_id: String,
    pub name: String,
    pub comment: Option<String>,
    pub remove_at: Option<Timestamp>,
    pub status: ItemStatus,
    pub tracking_number: Option<String>,
    pub modified_at: Timestamp,
}

/// One level of an item's approval.
#[derive(Debug, Clone, PartialEq)]
pub struct ApprovalRecord {
    pub id: String,
    pub request_id: String,
    pub item_id: String,
    pub level: i64,
    /// Who decides the level (a custom approval workflow names itself in `approver_ref`).
    pub approver_kind: ApproverKind,
    /// The manager, owner or governance group the level names.
    pub approver_ref: Option<String>,
    /// The identities who may decide.
    pub candidates: Vec<String>,
    /// `Waiting` (behind an open level), `Pending`, `Approved`, `Denied` (ISC's REJECTED) or `Cancelled`.
    pub status: WorkStatus,
    pub decided_by: Option<String>,
    pub comment: Option<String>,
    pub decided_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub modified_at: Timestamp,
}

const REQUEST_COLUMNS: &str =
    "r.id, r.requester_id, r.requested_for_id, r.request_type, r.status, r.comment, r.created_at, r.modified_at";
const ITEM_COLUMNS: &str = "i.id AS item_id, i.request_id, i.position, i.kind, i.object_id, i.name, \
                            i.comment AS item_comment, i.remove_at, i.status AS item_status, i.tracking_number, \
                            i.modified_at AS item_modified_at";
const APPROVAL_COLUMNS: &str = "id, subject_id AS request_id, subject_ref AS item_id, level, \
                                route_kind AS approver_kind, route_ref AS approver_ref, status, decided_by, \
                                decision_comment AS comment, decided_at, created_at, modified_at";

fn request(row: &AnyRow) -> Result<AccessRequestRecord> {
    Ok(AccessRequestRecord {
        id: row.try_get("id")?,
        requester_id: row.try_get("requester_id")?,
        requested_for_id: row.try_get("requested_for_id")?,
        request_type: row.try_get::<String, _>("request_type")?.parse()?,
        status: row.try_get::<String, _>("status")?.parse()?,
        comment: row.try_get("comment")?,
        created_at: instant(row, "created_at")?,
        modified_at: instant(row, "modified_at")?,
    })
}

fn item(row: &AnyRow) -> Result<RequestItemRecord> {
    Ok(RequestItemRecord {
        id: row.try_get("item_id")?,
        request_id: row.try_get("request_id")?,
        position: row.try_get("position")?,
        kind: row.try_get("kind")?,
        object_id: row.try_get("object_id")?,
        name: row.try_get("name")?,
        comment: row.try_get("item_comment")?,
        remove_at: instant_opt(row, "remove_at")?,
        status: row.try_get::<String, _>("item_status")?.parse()?,
        tracking_number: row.try_get("tracking_number")?,
        modified_at: instant(row, "item_modified_at")?,
    })
}

fn approval(row: &AnyRow) -> Result<ApprovalRecord> {
    Ok(ApprovalRecord {
        id: row.try_get("id")?,
        request_id: row.try_get("request_id")?,
        item_id: row.try_get("item_id")?,
        level: row.try_get("level")?,
        approver_kind: row.try_get::<String, _>("approver_kind")?.parse()?,
        approver_ref: row.try_get("approver_ref")?,
        candidates: Vec::new(),
        status: row.try_get::<String, _>("status")?.parse()?,
        decided_by: row.try_get("decided_by")?,
        comment: row.try_get("comment")?,
        decided_at: instant_opt(row, "decided_at")?,
        created_at: instant(row, "created_at")?,
        modified_at: instant(row, "modified_at")?,
    })
}

/// Which approvals a list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApprovalState {
    /// Waiting for a decision now.
    Pending,
    /// Approved or rejected.
    Completed,
}

/// Reads and writes access requests, their items and approvals.
#[allow(async_fn_in_trait)]
pub trait RequestStore {
    /// Stores a new request with its items and approvals (with their candidates).
    async fn insert_access_request(
        &mut self,
        request: &AccessRequestRecord,
        items: &[RequestItemRecord],
        approvals: &[ApprovalRecord],
    ) -> Result<()>;
    /// Adds one approval (with its candidates) to a stored request: a dynamic approver's level, a
    /// pre-approval workflow's decision.
    async fn add_approval(&mut self, approval: &ApprovalRecord) -> Result<()>;
    /// A request, locked for the rest of the transaction where the database has row locks, so that
    /// decisions and cancellations of one request take turns.
    async fn lock_access_request(&mut self, id: &str) -> Result<Option<AccessRequestRecord>>;
    async fn access_request(&mut self, id: &str) -> Result<Option<AccessRequestRecord>>;
    async fn request_items(&mut self, request_id: &str) -> Result<Vec<RequestItemRecord>>;
    /// Every approval level of a request, by item and level.
    async fn request_approvals(&mut self, request_id: &str) -> Result<Vec<ApprovalRecord>>;
    async fn approval(&mut self, id: &str) -> Result<Option<ApprovalRecord>>;
    /// Decides a PENDING approval: true when this call decided it, false when it was no longer pending.
    async fn decide_approval(
        &mut self,
        id: &str,
        status: WorkStatus,
        decided_by: &str,
        comment: Option<&str>,
        now: Timestamp,
    ) -> Result<bool>;
    /// Opens the WAITING level `level` of an item; false when there is none.
    async fn open_approval(&mut self, item_id: &str, level: i64, now: Timestamp) -> Result<bool>;
    /// Cancels the open (WAITING or PENDING) approvals of a request, or of one of its items.
    async fn cancel_approvals(&mut self, request_id: &str, item_id: Option<&str>, now: Timestamp) -> Result<u64>;
    /// Moves a PENDING item to `status`; false when it was no longer pending.
    async fn settle_item(
        &mut self,
        item_id: &str,
        status: ItemStatus,
        tracking: Option<&str>,
        now: Timestamp,
    ) -> Result<bool>;
    /// Moves a PENDING request to `status`; false when it was no longer pending.
    async fn settle_request(&mut self, id: &str, status: RequestStatus, now: Timestamp) -> Result<bool>;
    /// The request id of a PENDING item for this identity and object, if one is open.
    async fn open_request_for(&mut self, requested_for: &str, kind: &str, object_id: &str) -> Result<Option<String>>;
    /// Approvals in `state`, newest first; only those routed to `approver` when given.
    async fn approvals(
        &mut self,
        state: ApprovalState,
        approver: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<ApprovalRecord>>;
    /// Requested items with their requests, newest first, by requested-for and requester when given.
    /// Requested items, newest request first: those for `requested_for`, by `requested_by`, and
    /// `regarding` an identity (requested by it or for it), each when given.
    async fn requested_items(
        &mut self,
        requested_for: Option<&str>,
        requested_by: Option<&str>,
        regarding: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<(AccessRequestRecord, RequestItemRecord)>>;
}

/// An approval's title in people's inboxes.
fn approval_title(item_name: &str, person: &str) -> String {
    format!("Access request: {item_name} for {person}")
}

impl Tx {
    /// Stores an approval level as people's work, with its title and the person it is about.
    async fn insert_approval(&mut self, a: &ApprovalRecord, title: &str, requested_for: &str) -> Result<()> {
        let item = InboxItemRecord {
            id: a.id.clone(),
            kind: WorkKind::Approval,
            subject_kind: WorkSubject::AccessRequest,
            subject_id: a.request_id.clone(),
            subject_ref: Some(a.item_id.clone()),
            title: title.to_owned(),
            description: None,
            details: Value::Object(serde_json::Map::new()),
            status: a.status,
            minimum_approvals: 1,
            approvals: i64::from(a.status == WorkStatus::Approved),
            due_at: None,
            remind_every_ms: None,
            next_reminder_at: None,
            timeout_action: None,
            escalate_to: None,
            decided_by: a.decided_by.clone(),
            decision_comment: a.comment.clone(),
            decided_at: a.decided_at,
            output: Value::Null,
            created_at: a.created_at,
            modified_at: a.modified_at,
            assignees: a.candidates.clone(),
            excluded: Vec::new(),
            level: Some(a.level),
            route_kind: Some(a.approver_kind.to_string()),
            route_ref: a.approver_ref.clone(),
            about_id: Some(requested_for.to_owned()),
        };
        self.insert_inbox_item(&item).await
    }

    async fn candidates(&mut self, approval_id: &str) -> Result<Vec<String>> {
        let rows = sqlx::query("SELECT identity_id FROM inbox_assignees WHERE item_id = $1 ORDER BY identity_id")
            .bind(approval_id)
            .fetch_all(&mut *self.inner)
            .await?;
        rows.iter().map(|r| Ok(r.try_get("identity_id")?)).collect()
    }

    async fn with_candidates(&mut self, rows: Vec<AnyRow>) -> Result<Vec<ApprovalRecord>> {
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let mut a = approval(row)?;
            a.candidates = self.candidates(&a.id).await?;
            out.push(a);
        }
        Ok(out)
    }
}

impl RequestStore for Tx {
    async fn insert_access_request(
        &mut self,
        r: &AccessRequestRecord,
        items: &[RequestItemRecord],
        approvals: &[ApprovalRecord],
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO access_requests (id, requester_id, requested_for_id, request_type, status, comment, \
             created_at, modified_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(r.id.as_str())
        .bind(r.requester_id.as_str())
        .bind(r.requested_for_id.as_str())
        .bind(r.request_type.as_str())
        .bind(r.status.as_str())
        .bind(r.comment.as_deref())
        .bind(r.created_at.millis())
        .bind(r.modified_at.millis())
        .execute(&mut *self.inner)
        .await?;
        for i in items {
            sqlx::query(
                "INSERT INTO access_request_items (id, request_id, position, kind, object_id, name, comment, \
                 remove_at, status, tracking_number, modified_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .bind(i.id.as_str())
            .bind(i.request_id.as_str())
            .bind(i.position)
            .bind(i.kind.as_str())
            .bind(i.object_id.as_str())
            .bind(i.name.as_str())
            .bind(i.comment.as_deref())
            .bind(i.remove_at.map(Timestamp::millis))
            .bind(i.status.as_str())
            .bind(i.tracking_number.as_deref())
            .bind(i.modified_at.millis())
            .execute(&mut *self.inner)
            .await?;
        }
        // One read of the person's name titles every level, rather than one per level.
        let person: Option<String> = sqlx::query_scalar("SELECT name FROM identities WHERE id = $1")
            .bind(r.requested_for_id.as_str())
            .fetch_optional(&mut *self.inner)
            .await?;
        let person = person.as_deref().unwrap_or(&r.requested_for_id);
        for a in approvals {
            let name = items.iter().find(|i| i.id == a.item_id).map_or("", |i| i.name.as_str());
            self.insert_approval(a, &approval_title(name, person), &r.requested_for_id).await?;
        }
        Ok(())
    }

    async fn add_approval(&mut self, a: &ApprovalRecord) -> Result<()> {
        // The title people see in their inbox: what is asked, for whom.
        let about = sqlx::query(
            "SELECT i.name, r.requested_for_id, (SELECT p.name FROM identities p WHERE p.id = r.requested_for_id) \
             AS person FROM access_request_items i JOIN access_requests r ON r.id = i.request_id WHERE i.id = $1",
        )
        .bind(a.item_id.as_str())
        .fetch_one(&mut *self.inner)
        .await?;
        let requested_for: String = about.try_get("requested_for_id")?;
        let person: Option<String> = about.try_get("person")?;
        let title = approval_title(&about.try_get::<String, _>("name")?, person.as_deref().unwrap_or(&requested_for));
        self.insert_approval(a, &title, &requested_for).await
    }

    async fn lock_access_request(&mut self, id: &str) -> Result<Option<AccessRequestRecord>> {
        let sql = format!("SELECT {REQUEST_COLUMNS} FROM access_requests r WHERE r.id = $1{}", self.for_update());
        let row = sqlx::query(&sql).bind(id).fetch_optional(&mut *self.inner).await?;
        row.as_ref().map(request).transpose()
    }

    async fn access_request(&mut self, id: &str) -> Result<Option<AccessRequestRecord>> {
        let sql = format!("SELECT {REQUEST_COLUMNS} FROM access_requests r WHERE r.id = $1");
        let row = sqlx::query(&sql).bind(id).fetch_optional(&mut *self.inner).await?;
        row.as_ref().map(request).transpose()
    }

    async fn request_items(&mut self, request_id: &str) -> Result<Vec<RequestItemRecord>> {
        let sql =
            format!("SELECT {ITEM_COLUMNS} FROM access_request_items i WHERE i.request_id = $1 ORDER BY i.position");
        let rows = sqlx::query(&sql).bind(request_id).fetch_all(&mut *self.inner).await?;
        rows.iter().map(item).collect()
    }

    async fn request_approvals(&mut self, request_id: &str) -> Result<Vec<ApprovalRecord>> {
        let sql = format!(
            "SELECT {APPROVAL_COLUMNS} FROM inbox_items WHERE subject_kind = $1 AND subject_id = $2 \
             ORDER BY subject_ref, level"
        );
        let rows = sqlx::query(&sql)
            .bind(WorkSubject::AccessRequest.as_str())
            .bind(request_id)
            .fetch_all(&mut *self.inner)
            .await?;
        self.with_candidates(rows).await
    }

    async fn approval(&mut self, id: &str) -> Result<Option<ApprovalRecord>> {
        let sql = format!("SELECT {APPROVAL_COLUMNS} FROM inbox_items WHERE id = $1 AND subject_kind = $2");
        let rows =
            sqlx::query(&sql).bind(id).bind(WorkSubject::AccessRequest.as_str()).fetch_all(&mut *self.inner).await?;
        Ok(self.with_candidates(rows).await?.pop())
    }

    async fn decide_approval(
        &mut self,
        id: &str,
        status: WorkStatus,
        decided_by: &str,
        comment: Option<&str>,
        now: Timestamp,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE inbox_items SET status = $2, decided_by = $3, decision_comment = $4, decided_at = $5, \
             modified_at = $5, approvals = approvals + $6 WHERE id = $1 AND subject_kind = $7 AND status = 'PENDING'",
        )
        .bind(id)
        .bind(status.as_str())
        .bind(decided_by)
        .bind(comment)
        .bind(now.millis())
        .bind(i64::from(status == WorkStatus::Approved))
        .bind(WorkSubject::AccessRequest.as_str())
        .execute(&mut *self.inner)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn open_approval(&mut self, item_id: &str, level: i64, now: Timestamp) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE inbox_items SET status = 'PENDING', created_at = $3, modified_at = $3 \
             WHERE subject_kind = $4 AND subject_ref = $1 AND level = $2 AND status = 'WAITING'",
        )
        .bind(item_id)
        .bind(level)
        .bind(now.millis())
        .bind(WorkSubject::AccessRequest.as_str())
        .execute(&mut *self.inner)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn cancel_approvals(&mut self, request_id: &str, item_id: Option<&str>, now: Timestamp) -> Result<u64> {
        let done = sqlx::query(
            "UPDATE inbox_items SET status = 'CANCELLED', modified_at = $3 WHERE subject_kind = $4 \
             AND subject_id = $1 AND ($2 IS NULL OR subject_ref = $2) AND status IN ('WAITING', 'PENDING')",
        )
        .bind(request_id)
        .bind(item_id)
        .bind(now.millis())
        .bind(WorkSubject::AccessRequest.as_str())
        .execute(&mut *self.inner)
        .await?;
        Ok(done.rows_affected())
    }

    async fn settle_item(
        &mut self,
        item_id: &str,
        status: ItemStatus,
        tracking: Option<&str>,
        now: Timestamp,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE access_request_items SET status = $2, tracking_number = $3, modified_at = $4 \
             WHERE id = $1 AND status = 'PENDING'",
        )
        .bind(item_id)
        .bind(status.as_str())
        .bind(tracking)
        .bind(now.millis())
        .execute(&mut *self.inner)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn settle_request(&mut self, id: &str, status: RequestStatus, now: Timestamp) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE access_requests SET status = $2, modified_at = $3 WHERE id = $1 AND status = 'PENDING'",
        )
        .bind(id)
        .bind(status.as_str())
        .bind(now.millis())
        .execute(&mut *self.inner)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn open_request_for(&mut self, requested_for: &str, kind: &str, object_id: &str) -> Result<Option<String>> {
        let row = sqlx::query(
            "SELECT i.request_id FROM access_request_items i JOIN access_requests r ON r.id = i.request_id \
             WHERE r.requested_for_id = $1 AND i.kind = $2 AND i.object_id = $3 AND i.status = 'PENDING' LIMIT 1",
        )
        .bind(requested_for)
        .bind(kind)
        .bind(object_id)
        .fetch_optional(&mut *self.inner)
        .await?;
        row.map(|r| r.try_get("request_id")).transpose().map_err(Into::into)
    }

    async fn approvals(
        &mut self,
        state: ApprovalState,
        approver: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<ApprovalRecord>> {
        let statuses = match state {
            ApprovalState::Pending => "('PENDING')",
            ApprovalState::Completed => "('APPROVED', 'DENIED')",
        };
        let sql = format!(
            "SELECT {APPROVAL_COLUMNS} FROM inbox_items WHERE subject_kind = $4 AND status IN {statuses} \
             AND ($1 IS NULL OR id IN (SELECT item_id FROM inbox_assignees WHERE identity_id = $1)) \
             ORDER BY modified_at DESC, id DESC LIMIT $2 OFFSET $3"
        );
        let rows = sqlx::query(&sql)
            .bind(approver)
            .bind(limit)
            .bind(offset)
            .bind(WorkSubject::AccessRequest.as_str())
            .fetch_all(&mut *self.inner)
            .await?;
        self.with_candidates(rows).await
    }

    async fn requested_items(
        &mut self,
        requested_for: Option<&str>,
        requested_by: Option<&str>,
        regarding: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<(AccessRequestRecord, RequestItemRecord)>> {
        let sql = format!(
            "SELECT {REQUEST_COLUMNS}, {ITEM_COLUMNS} FROM access_request_items i \
             JOIN access_requests r ON r.id = i.request_id \
             WHERE ($1 IS NULL OR r.requested_for_id = $1) AND ($2 IS NULL OR r.requester_id = $2) \
             AND ($3 IS NULL OR r.requested_for_id = $3 OR r.requester_id = $3) \
             ORDER BY r.created_at DESC, r.id DESC, i.position LIMIT $4 OFFSET $5"
        );
        let rows = sqlx::query(&sql)
            .bind(requested_for)
            .bind(requested_by)
            .bind(regarding)
            .bind(limit)
            .bind(offset)
            .fetch_all(&mut *self.inner)
            .await?;
        rows.iter().map(|row| Ok((request(row)?, item(row)?))).collect()
    }
}
