//! The access-request configuration (ISC's `AccessRequestConfig`, kept whole) and what the deadlines of
//! pending approvals need: when their approvers got them, the reminders sent, and every reassignment
//! (a forward or an escalation) with who held the approval before — kept on the approval's row of
//! people's work and in its activity (`REASSIGN` for a forward, `ESCALATE` for an escalation).

use serde_json::Value;
use sqlx::Row;
use sqlx::any::AnyRow;
use tessera_model::{Timestamp, WorkSubject};

use crate::{Result, Tx, instant, instant_opt};

/// The configuration's one row.
const CONFIG: &str = "default";

/// A pending approval's deadline state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalClock {
    pub approval_id: String,
    pub request_id: String,
    /// When the current approvers got it: when the level opened, or the last reassignment.
    pub assigned_at: Timestamp,
    pub reminders_sent: i64,
    pub last_reminded_at: Option<Timestamp>,
    /// Escalation fell due and there was nobody to escalate to.
    pub escalation_blocked: bool,
}

/// One change of hands of a pending approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reassignment {
    pub id: String,
    pub approval_id: String,
    /// Who could decide before.
    pub old_approvers: Vec<String>,
    pub new_approver: String,
    /// Who forwarded it; `None` for an escalation.
    pub forwarder: Option<String>,
    pub comment: Option<String>,
    /// `MANUAL_REASSIGNMENT` or `AUTO_ESCALATION`.
    pub kind: String,
    pub created_at: Timestamp,
}

/// How many approvals an approver has in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ApprovalCounts {
    pub pending: i64,
    pub approved: i64,
    pub rejected: i64,
}

/// When access approvals' reminders and escalations fall due, for [`crate::InboxStore::due_work`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DueBefore {
    /// Approvals assigned at or before this instant escalate; `None`: no escalation.
    pub escalate: Option<Timestamp>,
    /// Approvals last reminded (or assigned) at or before this instant get a reminder; `None`: none.
    pub remind: Option<Timestamp>,
    /// Reminders stop after this many; `None`: no limit.
    pub max_reminders: Option<i64>,
}

const CLOCK_COLUMNS: &str = "id, subject_id AS request_id, COALESCE(assigned_at, created_at) AS assigned_at, \
                             reminders_sent, last_reminded_at, escalation_blocked";

/// The activity kind of a reassignment: a person's forward, or an escalation at the deadline.
fn activity_kind(reassignment_kind: &str) -> &'static str {
    if reassignment_kind == "AUTO_ESCALATION" { "ESCALATE" } else { "REASSIGN" }
}

fn clock(row: &AnyRow) -> Result<ApprovalClock> {
    Ok(ApprovalClock {
        approval_id: row.try_get("id")?,
        request_id: row.try_get("request_id")?,
        assigned_at: instant(row, "assigned_at")?,
        reminders_sent: row.try_get("reminders_sent")?,
        last_reminded_at: instant_opt(row, "last_reminded_at")?,
        escalation_blocked: row.try_get::<i64, _>("escalation_blocked")? != 0,
    })
}

/// A reassignment from its activity entry: `{"from": [ids], "to": id, "comment": …, "type": …}`.
fn reassignment(row: &AnyRow) -> Result<Reassignment> {
    let detail: Value = serde_json::from_str(&row.try_get::<String, _>("detail")?)?;
    let kind: String = row.try_get("kind")?;
    let text = |key: &str| detail.get(key).and_then(Value::as_str).map(str::to_owned);
    Ok(Reassignment {
        id: row.try_get("id")?,
        approval_id: row.try_get("item_id")?,
        old_approvers: serde_json::from_value(detail.get("from").cloned().unwrap_or(Value::Array(Vec::new())))?,
        new_approver: text("to").unwrap_or_default(),
        forwarder: row.try_get("actor_id")?,
        comment: text("comment"),
        kind: text("type")
            .unwrap_or_else(|| if kind == "ESCALATE" { "AUTO_ESCALATION" } else { "MANUAL_REASSIGNMENT" }.to_owned()),
        created_at: instant(row, "created_at")?,
    })
}

/// Reads and writes the access-request configuration and approval deadlines.
#[allow(async_fn_in_trait)]
pub trait ApprovalConfigStore {
    /// The stored configuration document, if one was ever set.
    async fn access_request_config(&mut self) -> Result<Option<Value>>;
    /// Replaces the configuration document.
    async fn set_access_request_config(&mut self, document: &Value, now: Timestamp) -> Result<()>;
    /// A PENDING approval's deadline state; `None` when it is not pending (any more).
    async fn pending_clock(&mut self, approval_id: &str) -> Result<Option<ApprovalClock>>;
    /// Counts a reminder sent now.
    async fn record_reminder(&mut self, approval_id: &str, now: Timestamp) -> Result<()>;
    /// Marks an approval whose escalation found nobody, so it is not tried again until reassigned.
    async fn block_escalation(&mut self, approval_id: &str) -> Result<()>;
    /// Hands a PENDING approval to `r.new_approver` alone (as an `IDENTITY` level), restarts its
    /// deadlines and records the reassignment; false when it was no longer pending.
    async fn reassign_approval(&mut self, r: &Reassignment) -> Result<bool>;
    /// An approval's reassignments, oldest first.
    async fn reassignments(&mut self, approval_id: &str) -> Result<Vec<Reassignment>>;
    /// Approvals by state, of one approver when given, modified since an instant when given.
    async fn approval_counts(&mut self, approver: Option<&str>, since: Option<Timestamp>) -> Result<ApprovalCounts>;
    /// Up to `limit` PENDING approvals that their request's requester may decide: (approval, requester).
    async fn self_approvals(&mut self, limit: i64) -> Result<Vec<(String, String)>>;
}

impl ApprovalConfigStore for Tx {
    async fn access_request_config(&mut self) -> Result<Option<Value>> {
        let row = sqlx::query("SELECT document FROM access_request_config WHERE name = $1")
            .bind(CONFIG)
            .fetch_optional(&mut *self.inner)
            .await?;
        match row {
            Some(row) => Ok(Some(serde_json::from_str(&row.try_get::<String, _>("document")?)?)),
            None => Ok(None),
        }
    }

    async fn set_access_request_config(&mut self, document: &Value, now: Timestamp) -> Result<()> {
        sqlx::query(
            "INSERT INTO access_request_config (name, document, modified_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET document = excluded.document, modified_at = excluded.modified_at",
        )
        .bind(CONFIG)
        .bind(document.to_string())
        .bind(now.millis())
        .execute(&mut *self.inner)
        .await?;
        Ok(())
    }

    async fn pending_clock(&mut self, approval_id: &str) -> Result<Option<ApprovalClock>> {
        let sql = format!(
            "SELECT {CLOCK_COLUMNS} FROM inbox_items WHERE id = $1 AND subject_kind = $2 AND status = 'PENDING'"
        );
        let row = sqlx::query(&sql)
            .bind(approval_id)
            .bind(WorkSubject::AccessRequest.as_str())
            .fetch_optional(&mut *self.inner)
            .await?;
        row.as_ref().map(clock).transpose()
    }

    async fn record_reminder(&mut self, approval_id: &str, now: Timestamp) -> Result<()> {
        sqlx::query("UPDATE inbox_items SET reminders_sent = reminders_sent + 1, last_reminded_at = $2 WHERE id = $1")
            .bind(approval_id)
            .bind(now.millis())
            .execute(&mut *self.inner)
            .await?;
        Ok(())
    }

    async fn block_escalation(&mut self, approval_id: &str) -> Result<()> {
        sqlx::query("UPDATE inbox_items SET escalation_blocked = 1 WHERE id = $1")
            .bind(approval_id)
            .execute(&mut *self.inner)
            .await?;
        Ok(())
    }

    async fn reassign_approval(&mut self, r: &Reassignment) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE inbox_items SET route_kind = 'IDENTITY', route_ref = $2, assigned_at = $3, reminders_sent = 0, \
             last_reminded_at = NULL, escalation_blocked = 0, modified_at = $3 \
             WHERE id = $1 AND subject_kind = $4 AND status = 'PENDING'",
        )
        .bind(r.approval_id.as_str())
        .bind(r.new_approver.as_str())
        .bind(r.created_at.millis())
        .bind(WorkSubject::AccessRequest.as_str())
        .execute(&mut *self.inner)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        sqlx::query("DELETE FROM inbox_assignees WHERE item_id = $1")
            .bind(r.approval_id.as_str())
            .execute(&mut *self.inner)
            .await?;
        sqlx::query("INSERT INTO inbox_assignees (item_id, identity_id) VALUES ($1, $2)")
            .bind(r.approval_id.as_str())
            .bind(r.new_approver.as_str())
            .execute(&mut *self.inner)
            .await?;
        let detail = serde_json::json!({
            "from": r.old_approvers, "to": r.new_approver, "comment": r.comment, "type": r.kind,
        });
        sqlx::query(
            "INSERT INTO inbox_activity (id, item_id, kind, actor_id, detail, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(r.id.as_str())
        .bind(r.approval_id.as_str())
        .bind(activity_kind(&r.kind))
        .bind(r.forwarder.as_deref())
        .bind(detail.to_string())
        .bind(r.created_at.millis())
        .execute(&mut *self.inner)
        .await?;
        Ok(true)
    }

    async fn reassignments(&mut self, approval_id: &str) -> Result<Vec<Reassignment>> {
        let rows = sqlx::query(
            "SELECT id, item_id, kind, actor_id, detail, created_at FROM inbox_activity \
             WHERE item_id = $1 AND kind IN ('REASSIGN', 'ESCALATE') ORDER BY created_at, id",
        )
        .bind(approval_id)
        .fetch_all(&mut *self.inner)
        .await?;
        rows.iter().map(reassignment).collect()
    }

    async fn approval_counts(&mut self, approver: Option<&str>, since: Option<Timestamp>) -> Result<ApprovalCounts> {
        let rows = sqlx::query(
            "SELECT status, COUNT(*) AS n FROM inbox_items WHERE subject_kind = $3 \
             AND status IN ('PENDING', 'APPROVED', 'DENIED') \
             AND ($1 IS NULL OR id IN (SELECT item_id FROM inbox_assignees WHERE identity_id = $1)) \
             AND ($2 IS NULL OR modified_at >= $2) GROUP BY status",
        )
        .bind(approver)
        .bind(since.map(Timestamp::millis))
        .bind(WorkSubject::AccessRequest.as_str())
        .fetch_all(&mut *self.inner)
        .await?;
        let mut counts = ApprovalCounts::default();
        for row in &rows {
            let n: i64 = row.try_get("n")?;
            match row.try_get::<String, _>("status")?.as_str() {
                "PENDING" => counts.pending = n,
                "APPROVED" => counts.approved = n,
                _ => counts.rejected = n,
            }
        }
        Ok(counts)
    }

    async fn self_approvals(&mut self, limit: i64) -> Result<Vec<(String, String)>> {
        let rows = sqlx::query(
            "SELECT a.id, r.requester_id FROM inbox_items a \
             JOIN access_requests r ON r.id = a.subject_id \
             JOIN inbox_assignees p ON p.item_id = a.id AND p.identity_id = r.requester_id \
             WHERE a.subject_kind = $2 AND a.status = 'PENDING' ORDER BY a.created_at, a.id LIMIT $1",
        )
        .bind(limit)
        .bind(WorkSubject::AccessRequest.as_str())
        .fetch_all(&mut *self.inner)
        .await?;
        rows.iter().map(|r| Ok((r.try_get("id")?, r.try_get("requester_id")?))).collect()
    }
}
