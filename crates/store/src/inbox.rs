//! People's work: every item waiting for a person (a workflow's approval or form, a request type's
//! approval or task, an access request's approval level, a manual provisioning work item), who may act
//! on it, its deadlines and what happened to it. Closing an item is a conditional update, so of two
//! people acting at once exactly one closes it.

use serde_json::Value;
use sqlx::Row;
use sqlx::any::AnyRow;

use tessera_model::{Timestamp, WorkKind, WorkStatus, WorkSubject};

use crate::approval_config::DueBefore;
use crate::{Result, Tx, instant, instant_opt};

/// One item in people's inboxes.
#[derive(Debug, Clone, PartialEq)]
pub struct InboxItemRecord {
    pub id: String,
    pub kind: WorkKind,
    pub subject_kind: WorkSubject,
    pub subject_id: String,
    /// The effect id (JSON) an execution waits on, a request type's step, an access request's item.
    pub subject_ref: Option<String>,
    pub title: String,
    pub description: Option<String>,
    pub details: Value,
    pub status: WorkStatus,
    pub minimum_approvals: i64,
    pub approvals: i64,
    pub due_at: Option<Timestamp>,
    /// Milliseconds between reminders.
    pub remind_every_ms: Option<i64>,
    pub next_reminder_at: Option<Timestamp>,
    /// `APPROVE`, `DENY`, `COMPLETE`, `EXPIRE` or `ESCALATE`.
    pub timeout_action: Option<String>,
    pub escalate_to: Option<String>,
    pub decided_by: Option<String>,
    pub decision_comment: Option<String>,
    pub decided_at: Option<Timestamp>,
    pub output: Value,
    pub created_at: Timestamp,
    pub modified_at: Timestamp,
    /// Who may act on it now.
    pub assignees: Vec<String>,
    /// Who may never hold it (the person a request is for).
    pub excluded: Vec<String>,
    /// An access approval's level.
    pub level: Option<i64>,
    /// Who it was routed to as configured (`MANAGER`, `GOVERNANCE_GROUP`, …), and the reference.
    pub route_kind: Option<String>,
    pub route_ref: Option<String>,
    /// The identity it is about.
    pub about_id: Option<String>,
}

/// One thing said or done on an item.
#[derive(Debug, Clone, PartialEq)]
pub struct InboxActivity {
    pub id: String,
    pub item_id: String,
    /// `COMMENT`, `REASSIGN`, `DELEGATE`, `REMIND`, `ESCALATE`, `APPROVE`, `DENY`, `COMPLETE`, `EXPIRE`, `CANCEL`.
    pub kind: String,
    pub actor_id: Option<String>,
    pub detail: Value,
    pub created_at: Timestamp,
}

/// An item with something due, for the deadline runner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueWork {
    pub id: String,
    pub subject_kind: WorkSubject,
    pub subject_id: String,
}

/// How an item closes.
#[derive(Debug, Clone, PartialEq)]
pub struct Closing<'a> {
    pub status: WorkStatus,
    pub decided_by: Option<&'a str>,
    pub comment: Option<&'a str>,
    pub output: &'a Value,
    pub now: Timestamp,
}

const COLUMNS: &str = "id, kind, subject_kind, subject_id, subject_ref, title, description, details, status, \
                       minimum_approvals, approvals, due_at, remind_every, next_reminder_at, timeout_action, \
                       escalate_to, decided_by, decision_comment, decided_at, output, created_at, modified_at, excluded, \
                       level, route_kind, route_ref, about_id";

fn item(row: &AnyRow) -> Result<InboxItemRecord> {
    let details: String = row.try_get("details")?;
    let output: Option<String> = row.try_get("output")?;
    let excluded: Option<String> = row.try_get("excluded")?;
    Ok(InboxItemRecord {
        id: row.try_get("id")?,
        kind: row.try_get::<String, _>("kind")?.parse()?,
        subject_kind: row.try_get::<String, _>("subject_kind")?.parse()?,
        subject_id: row.try_get("subject_id")?,
        subject_ref: row.try_get("subject_ref")?,
        title: row.try_get("title")?,
        description: row.try_get("description")?,
        details: serde_json::from_str(&details)?,
        status: row.try_get::<String, _>("status")?.parse()?,
        minimum_approvals: row.try_get("minimum_approvals")?,
        approvals: row.try_get("approvals")?,
        due_at: instant_opt(row, "due_at")?,
        remind_every_ms: row.try_get("remind_every")?,
        next_reminder_at: instant_opt(row, "next_reminder_at")?,
        timeout_action: row.try_get("timeout_action")?,
        escalate_to: row.try_get("escalate_to")?,
        decided_by: row.try_get("decided_by")?,
        decision_comment: row.try_get("decision_comment")?,
        decided_at: instant_opt(row, "decided_at")?,
        output: output.map(|o| serde_json::from_str(&o)).transpose()?.unwrap_or(Value::Null),
        created_at: instant(row, "created_at")?,
        modified_at: instant(row, "modified_at")?,
        assignees: Vec::new(),
        excluded: excluded.map(|e| serde_json::from_str(&e)).transpose()?.unwrap_or_default(),
        level: row.try_get("level")?,
        route_kind: row.try_get("route_kind")?,
        route_ref: row.try_get("route_ref")?,
        about_id: row.try_get("about_id")?,
    })
}

/// Reads and writes inbox items.
#[allow(async_fn_in_trait)]
pub trait InboxStore {
    /// Stores a new item (its `assignees` too).
    async fn insert_inbox_item(&mut self, item: &InboxItemRecord) -> Result<()>;
    async fn inbox_item(&mut self, id: &str) -> Result<Option<InboxItemRecord>>;
    /// The item, locked for the rest of the transaction where the database has row locks.
    async fn lock_inbox_item(&mut self, id: &str) -> Result<Option<InboxItemRecord>>;
    /// The items of a subject, oldest first.
    async fn inbox_items_of(&mut self, subject_kind: WorkSubject, subject_id: &str) -> Result<Vec<InboxItemRecord>>;
    /// Items by status (all when `None`, but never an approval level still WAITING for an earlier one),
    /// newest first; only those assigned to `assignee` when given.
    async fn inbox_items(
        &mut self,
        assignee: Option<&str>,
        status: Option<WorkStatus>,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<InboxItemRecord>>;
    /// Closes a PENDING item: true when this call closed it.
    async fn close_inbox_item(&mut self, id: &str, closing: &Closing<'_>) -> Result<bool>;
    /// Records one approver's approval of a multi-approval item: the item's new approval count, or
    /// `None` when that approver had already approved or the item is no longer pending.
    async fn count_inbox_approval(&mut self, id: &str, approver: &str, now: Timestamp) -> Result<Option<i64>>;
    /// Replaces assignee `from` by `to` (`delegated_from` set when delegating); false when `from` was
    /// not an assignee.
    async fn replace_inbox_assignee(
        &mut self,
        id: &str,
        from: &str,
        to: &str,
        delegated: bool,
        now: Timestamp,
    ) -> Result<bool>;
    /// Records that `identity` holds the item as the stand-in of `from`.
    async fn mark_inbox_delegated(&mut self, id: &str, identity: &str, from: &str) -> Result<()>;
    /// The decision an assignee has recorded on a multi-approval item (`APPROVED`), if any.
    async fn inbox_decision(&mut self, id: &str, identity: &str) -> Result<Option<String>>;
    /// Adds an assignee (escalation); nothing when already assigned.
    async fn add_inbox_assignee(&mut self, id: &str, identity: &str) -> Result<()>;
    /// Sets the deadline fields of a PENDING item.
    async fn reschedule_inbox_item(
        &mut self,
        id: &str,
        due_at: Option<Timestamp>,
        next_reminder_at: Option<Timestamp>,
        timeout_action: Option<&str>,
        now: Timestamp,
    ) -> Result<()>;
    /// Up to `limit` PENDING items with something due at `now`, oldest first: an item's own deadline or
    /// reminder, or for an access approval the tenant's escalation or reminder (`due`).
    async fn due_work(&mut self, now: Timestamp, due: DueBefore, limit: i64) -> Result<Vec<DueWork>>;
    async fn add_inbox_activity(&mut self, activity: &InboxActivity) -> Result<()>;
    async fn inbox_activity(&mut self, item_id: &str) -> Result<Vec<InboxActivity>>;
}

impl Tx {
    async fn inbox_assignees(&mut self, item_id: &str) -> Result<Vec<String>> {
        let rows = sqlx::query("SELECT identity_id FROM inbox_assignees WHERE item_id = $1 ORDER BY identity_id")
            .bind(item_id)
            .fetch_all(&mut *self.inner)
            .await?;
        rows.iter().map(|r| Ok(r.try_get("identity_id")?)).collect()
    }

    async fn inbox_with_assignees(&mut self, rows: Vec<AnyRow>) -> Result<Vec<InboxItemRecord>> {
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let mut record = item(row)?;
            record.assignees = self.inbox_assignees(&record.id).await?;
            out.push(record);
        }
        Ok(out)
    }
}

impl InboxStore for Tx {
    async fn insert_inbox_item(&mut self, i: &InboxItemRecord) -> Result<()> {
        let sql = format!(
            "INSERT INTO inbox_items ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, \
             $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27)"
        );
        let output = if i.output.is_null() { None } else { Some(i.output.to_string()) };
        sqlx::query(&sql)
            .bind(i.id.as_str())
            .bind(i.kind.as_str())
            .bind(i.subject_kind.as_str())
            .bind(i.subject_id.as_str())
            .bind(i.subject_ref.as_deref())
            .bind(i.title.as_str())
            .bind(i.description.as_deref())
            .bind(i.details.to_string())
            .bind(i.status.as_str())
            .bind(i.minimum_approvals)
            .bind(i.approvals)
            .bind(i.due_at.map(Timestamp::millis))
            .bind(i.remind_every_ms)
            .bind(i.next_reminder_at.map(Timestamp::millis))
            .bind(i.timeout_action.as_deref())
            .bind(i.escalate_to.as_deref())
            .bind(i.decided_by.as_deref())
            .bind(i.decision_comment.as_deref())
            .bind(i.decided_at.map(Timestamp::millis))
            .bind(output)
            .bind(i.created_at.millis())
            .bind(i.modified_at.millis())
            .bind(serde_json::to_string(&i.excluded)?)
            .bind(i.level)
            .bind(i.route_kind.as_deref())
            .bind(i.route_ref.as_deref())
            .bind(i.about_id.as_deref())
            .execute(&mut *self.inner)
            .await?;
        for assignee in &i.assignees {
            self.add_inbox_assignee(&i.id, assignee).await?;
        }
        Ok(())
    }

    async fn inbox_item(&mut self, id: &str) -> Result<Option<InboxItemRecord>> {
        let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM inbox_items WHERE id = $1"))
            .bind(id)
            .fetch_all(&mut *self.inner)
            .await?;
        Ok(self.inbox_with_assignees(rows).await?.pop())
    }

    async fn lock_inbox_item(&mut self, id: &str) -> Result<Option<InboxItemRecord>> {
        let sql = format!("SELECT {COLUMNS} FROM inbox_items WHERE id = $1{}", self.for_update());
        let rows = sqlx::query(&sql).bind(id).fetch_all(&mut *self.inner).await?;
        Ok(self.inbox_with_assignees(rows).await?.pop())
    }

    async fn inbox_items_of(&mut self, subject_kind: WorkSubject, subject_id: &str) -> Result<Vec<InboxItemRecord>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM inbox_items WHERE subject_kind = $1 AND subject_id = $2 ORDER BY created_at, id"
        );
        let rows = sqlx::query(&sql).bind(subject_kind.as_str()).bind(subject_id).fetch_all(&mut *self.inner).await?;
        self.inbox_with_assignees(rows).await
    }

    async fn inbox_items(
        &mut self,
        assignee: Option<&str>,
        status: Option<WorkStatus>,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<InboxItemRecord>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM inbox_items WHERE COALESCE($1, status) = status AND status <> 'WAITING' \
             AND ($2 IS NULL OR id IN (SELECT item_id FROM inbox_assignees WHERE identity_id = $2)) \
             ORDER BY created_at DESC, id DESC LIMIT $3 OFFSET $4"
        );
        let rows = sqlx::query(&sql)
            .bind(status.map(WorkStatus::as_str))
            .bind(assignee)
            .bind(limit)
            .bind(offset)
            .fetch_all(&mut *self.inner)
            .await?;
        self.inbox_with_assignees(rows).await
    }

    async fn close_inbox_item(&mut self, id: &str, c: &Closing<'_>) -> Result<bool> {
        let output = if c.output.is_null() { None } else { Some(c.output.to_string()) };
        let done = sqlx::query(
            "UPDATE inbox_items SET status = $2, decided_by = $3, decision_comment = $4, output = $5, \
             decided_at = $6, modified_at = $6, next_reminder_at = NULL WHERE id = $1 AND status = 'PENDING'",
        )
        .bind(id)
        .bind(c.status.as_str())
        .bind(c.decided_by)
        .bind(c.comment)
        .bind(output)
        .bind(c.now.millis())
        .execute(&mut *self.inner)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn count_inbox_approval(&mut self, id: &str, approver: &str, now: Timestamp) -> Result<Option<i64>> {
        let marked = sqlx::query(
            "UPDATE inbox_assignees SET decision = 'APPROVED' WHERE item_id = $1 AND identity_id = $2 \
             AND decision IS NULL",
        )
        .bind(id)
        .bind(approver)
        .execute(&mut *self.inner)
        .await?;
        if marked.rows_affected() != 1 {
            return Ok(None);
        }
        let counted = sqlx::query(
            "UPDATE inbox_items SET approvals = approvals + 1, modified_at = $2 WHERE id = $1 AND status = 'PENDING'",
        )
        .bind(id)
        .bind(now.millis())
        .execute(&mut *self.inner)
        .await?;
        if counted.rows_affected() != 1 {
            return Ok(None);
        }
        let row =
            sqlx::query("SELECT approvals FROM inbox_items WHERE id = $1").bind(id).fetch_one(&mut *self.inner).await?;
        Ok(Some(row.try_get("approvals")?))
    }

    async fn replace_inbox_assignee(
        &mut self,
        id: &str,
        from: &str,
        to: &str,
        delegated: bool,
        now: Timestamp,
    ) -> Result<bool> {
        let removed = sqlx::query("DELETE FROM inbox_assignees WHERE item_id = $1 AND identity_id = $2")
            .bind(id)
            .bind(from)
            .execute(&mut *self.inner)
            .await?;
        if removed.rows_affected() != 1 {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO inbox_assignees (item_id, identity_id, delegated_from) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING",
        )
        .bind(id)
        .bind(to)
        .bind(delegated.then_some(from))
        .execute(&mut *self.inner)
        .await?;
        sqlx::query("UPDATE inbox_items SET modified_at = $2 WHERE id = $1")
            .bind(id)
            .bind(now.millis())
            .execute(&mut *self.inner)
            .await?;
        Ok(true)
    }

    async fn mark_inbox_delegated(&mut self, id: &str, identity: &str, from: &str) -> Result<()> {
        sqlx::query("UPDATE inbox_assignees SET delegated_from = $3 WHERE item_id = $1 AND identity_id = $2")
            .bind(id)
            .bind(identity)
            .bind(from)
            .execute(&mut *self.inner)
            .await?;
        Ok(())
    }

    async fn inbox_decision(&mut self, id: &str, identity: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT decision FROM inbox_assignees WHERE item_id = $1 AND identity_id = $2")
            .bind(id)
            .bind(identity)
            .fetch_optional(&mut *self.inner)
            .await?;
        Ok(row.map(|r| r.try_get::<Option<String>, _>("decision")).transpose()?.flatten())
    }

    async fn add_inbox_assignee(&mut self, id: &str, identity: &str) -> Result<()> {
        sqlx::query("INSERT INTO inbox_assignees (item_id, identity_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(id)
            .bind(identity)
            .execute(&mut *self.inner)
            .await?;
        Ok(())
    }

    async fn reschedule_inbox_item(
        &mut self,
        id: &str,
        due_at: Option<Timestamp>,
        next_reminder_at: Option<Timestamp>,
        timeout_action: Option<&str>,
        now: Timestamp,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE inbox_items SET due_at = $2, next_reminder_at = $3, timeout_action = $4, modified_at = $5 \
             WHERE id = $1 AND status = 'PENDING'",
        )
        .bind(id)
        .bind(due_at.map(Timestamp::millis))
        .bind(next_reminder_at.map(Timestamp::millis))
        .bind(timeout_action)
        .bind(now.millis())
        .execute(&mut *self.inner)
        .await?;
        Ok(())
    }

    async fn due_work(&mut self, now: Timestamp, due: DueBefore, limit: i64) -> Result<Vec<DueWork>> {
        // No lock: each item is locked and checked again when its deadline is applied. (A lock taken
        // here outlived the listing until the dropped transaction's rollback reached the database, and a
        // second listing in that window skipped the item.)
        //
        // One branch per index: an item's own deadline, its own reminder (access approvals have
        // neither), and — only when the configuration sets escalation or reminders — access approvals
        // by their configured clock. One OR across them would read every pending item at every run.
        const OWN: &str = "SELECT id, subject_kind, subject_id, created_at FROM inbox_items \
                           WHERE status = 'PENDING' AND due_at <= $1 \
                           UNION SELECT id, subject_kind, subject_id, created_at FROM inbox_items \
                           WHERE status = 'PENDING' AND next_reminder_at <= $1";
        let rows = if due.escalate.is_none() && due.remind.is_none() {
            let sql = format!("{OWN} ORDER BY created_at, id LIMIT $2");
            sqlx::query(&sql).bind(now.millis()).bind(limit).fetch_all(&mut *self.inner).await?
        } else {
            // A NULL bound compares as unknown, so a missing setting matches nothing.
            let sql = format!(
                "{OWN} UNION SELECT id, subject_kind, subject_id, created_at FROM inbox_items \
                 WHERE subject_kind = $2 AND status = 'PENDING' AND route_kind <> 'WORKFLOW' AND ( \
                 (escalation_blocked = 0 AND COALESCE(assigned_at, created_at) <= $3) \
                 OR (($4 IS NULL OR reminders_sent < $4) AND COALESCE(last_reminded_at, assigned_at, created_at) <= $5)) \
                 ORDER BY created_at, id LIMIT $6"
            );
            sqlx::query(&sql)
                .bind(now.millis())
                .bind(WorkSubject::AccessRequest.as_str())
                .bind(due.escalate.map(Timestamp::millis))
                .bind(due.max_reminders)
                .bind(due.remind.map(Timestamp::millis))
                .bind(limit)
                .fetch_all(&mut *self.inner)
                .await?
        };
        rows.iter()
            .map(|row| {
                Ok(DueWork {
                    id: row.try_get("id")?,
                    subject_kind: row.try_get::<String, _>("subject_kind")?.parse()?,
                    subject_id: row.try_get("subject_id")?,
                })
            })
            .collect()
    }

    async fn add_inbox_activity(&mut self, a: &InboxActivity) -> Result<()> {
        sqlx::query(
            "INSERT INTO inbox_activity (id, item_id, kind, actor_id, detail, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(a.id.as_str())
        .bind(a.item_id.as_str())
        .bind(a.kind.as_str())
        .bind(a.actor_id.as_deref())
        .bind(a.detail.to_string())
        .bind(a.created_at.millis())
        .execute(&mut *self.inner)
        .await?;
        Ok(())
    }

    async fn inbox_activity(&mut self, item_id: &str) -> Result<Vec<InboxActivity>> {
        let rows = sqlx::query(
            "SELECT id, item_id, kind, actor_id, detail, created_at FROM inbox_activity WHERE item_id = $1 \
             ORDER BY created_at, id",
        )
        .bind(item_id)
        .fetch_all(&mut *self.inner)
        .await?;
        rows.iter()
            .map(|row| {
                let detail: String = row.try_get("detail")?;
                Ok(InboxActivity {
                    id: row.try_get("id")?,
                    item_id: row.try_get("item_id")?,
                    kind: row.try_get("kind")?,
                    actor_id: row.try_get("actor_id")?,
                    detail: serde_json::from_str(&detail)?,
                    created_at: instant(row, "created_at")?,
                })
            })
            .collect()
    }
}
