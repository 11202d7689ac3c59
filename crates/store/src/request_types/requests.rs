//! The requests raised from request types: each request with its copied definition, its steps —
//! advanced by conditional updates, so that a repeated delivery moves nothing twice — and its
//! timeline.

use serde_json::Value;
use sqlx::Row;
use sqlx::any::AnyRow;

use tessera_model::{StepStatus, Timestamp, TypeRequestStatus};

use super::json;
use crate::{Result, Tx, instant, instant_opt};

/// A request raised from a request type.
#[derive(Debug, Clone, PartialEq)]
pub struct TypeRequestRecord {
    pub id: String,
    pub request_type_id: String,
    pub request_type_name: String,
    pub team_id: String,
    /// The type's definition when the request was raised.
    pub definition: Value,
    pub subject: String,
    pub requester_id: String,
    pub requested_for_id: String,
    pub assignee_id: Option<String>,
    pub status: TypeRequestStatus,
    pub answers: Value,
    /// The label of each dropdown answer, as the list showed it when the request was raised.
    pub answer_labels: Value,
    /// The step being run (0-based); the number of steps once all ran.
    pub current_step: i64,
    pub reason: Option<String>,
    pub created_at: Timestamp,
    pub modified_at: Timestamp,
    pub closed_at: Option<Timestamp>,
}

/// One step of a request.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestStepRecord {
    pub request_id: String,
    pub position: i64,
    /// `APPROVAL`, `TASK` or `ACTION`.
    pub kind: String,
    pub status: StepStatus,
    pub inbox_item_id: Option<String>,
    pub execution_id: Option<String>,
    pub output: Option<Value>,
    pub decided_by: Option<String>,
    pub comment: Option<String>,
    pub started_at: Option<Timestamp>,
    pub ended_at: Option<Timestamp>,
}

/// How a step ends.
#[derive(Debug, Clone)]
pub struct StepEnd<'a> {
    pub status: StepStatus,
    pub decided_by: Option<&'a str>,
    pub comment: Option<&'a str>,
    pub output: Option<&'a Value>,
}

impl StepEnd<'_> {
    /// A step ended with `status` and nothing else to say.
    pub fn with(status: StepStatus) -> Self {
        StepEnd { status, decided_by: None, comment: None, output: None }
    }
}

/// One entry of a request's timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct TimelineEntry {
    pub request_id: String,
    pub seq: i64,
    pub kind: String,
    pub actor_id: Option<String>,
    pub step: Option<i64>,
    pub detail: Value,
    pub created_at: Timestamp,
}

/// Which requests a list shows.
#[derive(Debug, Clone, Default)]
pub struct RequestFilter<'a> {
    /// Only those this identity may see: raised by or for them, of their teams, or with a step of theirs.
    pub visible_to: Option<&'a str>,
    /// Narrows `visible_to`'s requests: `mine` (raised by or for them), `team` (of their teams) or
    /// `assigned` (assigned to them).
    pub view: Option<&'a str>,
    pub status: Option<TypeRequestStatus>,
    pub request_type_id: Option<&'a str>,
}

const REQUEST_COLUMNS: &str = "id, request_type_id, request_type_name, team_id, definition, subject, requester_id, \
                               requested_for_id, assignee_id, status, answers, answer_labels, current_step, \
                               reason, created_at, modified_at, closed_at";
const STEP_COLUMNS: &str = "request_id, position, kind, status, inbox_item_id, execution_id, output, decided_by, \
                            comment, started_at, ended_at";

fn request(row: &AnyRow) -> Result<TypeRequestRecord> {
    Ok(TypeRequestRecord {
        id: row.try_get("id")?,
        request_type_id: row.try_get("request_type_id")?,
        request_type_name: row.try_get("request_type_name")?,
        team_id: row.try_get("team_id")?,
        definition: json(row, "definition")?,
        subject: row.try_get("subject")?,
        requester_id: row.try_get("requester_id")?,
        requested_for_id: row.try_get("requested_for_id")?,
        assignee_id: row.try_get("assignee_id")?,
        status: row.try_get::<String, _>("status")?.parse()?,
        answers: json(row, "answers")?,
        answer_labels: json(row, "answer_labels")?,
        current_step: row.try_get("current_step")?,
        reason: row.try_get("reason")?,
        created_at: instant(row, "created_at")?,
        modified_at: instant(row, "modified_at")?,
        closed_at: instant_opt(row, "closed_at")?,
    })
}

fn step(row: &AnyRow) -> Result<RequestStepRecord> {
    let output = json(row, "output")?;
    Ok(RequestStepRecord {
        request_id: row.try_get("request_id")?,
        position: row.try_get("position")?,
        kind: row.try_get("kind")?,
        status: row.try_get::<String, _>("status")?.parse()?,
        inbox_item_id: row.try_get("inbox_item_id")?,
        execution_id: row.try_get("execution_id")?,
        output: (!output.is_null()).then_some(output),
        decided_by: row.try_get("decided_by")?,
        comment: row.try_get("comment")?,
        started_at: instant_opt(row, "started_at")?,
        ended_at: instant_opt(row, "ended_at")?,
    })
}

fn entry(row: &AnyRow) -> Result<TimelineEntry> {
    Ok(TimelineEntry {
        request_id: row.try_get("request_id")?,
        seq: row.try_get("seq")?,
        kind: row.try_get("kind")?,
        actor_id: row.try_get("actor_id")?,
        step: row.try_get("step")?,
        detail: json(row, "detail")?,
        created_at: instant(row, "created_at")?,
    })
}

/// Reads and writes the requests of request types, their steps and timeline.
#[allow(async_fn_in_trait)]
pub trait TypeRequestStore {
    /// Stores a new request with its steps (all WAITING).
    async fn insert_type_request(&mut self, request: &TypeRequestRecord) -> Result<()>;
    /// A request, locked for the rest of the transaction where the database has row locks, so that
    /// the decisions, workflow ends and cancellations of one request take turns.
    async fn lock_type_request(&mut self, id: &str) -> Result<Option<TypeRequestRecord>>;
    async fn type_request(&mut self, id: &str) -> Result<Option<TypeRequestRecord>>;
    /// Requests, newest first.
    async fn type_requests(
        &mut self,
        filter: &RequestFilter<'_>,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<TypeRequestRecord>>;
    /// How many PENDING requests a request type has.
    async fn open_type_requests(&mut self, request_type_id: &str) -> Result<i64>;
    /// PENDING requests per member of a team, for each of `members` (0 for those with none).
    async fn open_assignments(&mut self, members: &[String]) -> Result<Vec<(String, i64)>>;
    /// Moves a PENDING request from step `from` to step `to`; false when it was elsewhere.
    async fn move_to_step(&mut self, id: &str, from: i64, to: i64, now: Timestamp) -> Result<bool>;
    /// Ends a PENDING request with `status`; false when it had already ended.
    async fn close_type_request(
        &mut self,
        id: &str,
        status: TypeRequestStatus,
        reason: Option<&str>,
        now: Timestamp,
    ) -> Result<bool>;

    async fn request_steps(&mut self, request_id: &str) -> Result<Vec<RequestStepRecord>>;
    /// Starts a WAITING step as PENDING or RUNNING, with its inbox item or execution; false when it
    /// was not waiting.
    async fn start_step(
        &mut self,
        request_id: &str,
        position: i64,
        status: StepStatus,
        inbox_item_id: Option<&str>,
        execution_id: Option<&str>,
        now: Timestamp,
    ) -> Result<bool>;
    /// Ends a step that is WAITING, PENDING or RUNNING; false when it had already ended.
    async fn end_step(&mut self, request_id: &str, position: i64, end: &StepEnd<'_>, now: Timestamp) -> Result<bool>;
    /// Ends every step not yet ended with `status` (SKIPPED after a denial, CANCELLED on cancellation).
    async fn end_open_steps(&mut self, request_id: &str, status: StepStatus, now: Timestamp) -> Result<u64>;

    /// Appends to a request's timeline; returns the entry's number.
    async fn append_timeline(
        &mut self,
        request_id: &str,
        kind: &str,
        actor_id: Option<&str>,
        step: Option<i64>,
        detail: &Value,
        now: Timestamp,
    ) -> Result<i64>;
    /// A request's timeline, in order.
    async fn timeline(&mut self, request_id: &str) -> Result<Vec<TimelineEntry>>;
}

impl TypeRequestStore for Tx {
    async fn insert_type_request(&mut self, r: &TypeRequestRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO type_requests (id, request_type_id, request_type_name, team_id, definition, subject, \
             requester_id, requested_for_id, assignee_id, status, answers, answer_labels, current_step, reason, \
             created_at, modified_at, closed_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
        )
        .bind(r.id.as_str())
        .bind(r.request_type_id.as_str())
        .bind(r.request_type_name.as_str())
        .bind(r.team_id.as_str())
        .bind(r.definition.to_string())
        .bind(r.subject.as_str())
        .bind(r.requester_id.as_str())
        .bind(r.requested_for_id.as_str())
        .bind(r.assignee_id.as_deref())
        .bind(r.status.as_str())
        .bind(r.answers.to_string())
        .bind(r.answer_labels.to_string())
        .bind(r.current_step)
        .bind(r.reason.as_deref())
        .bind(r.created_at.millis())
        .bind(r.modified_at.millis())
        .bind(r.closed_at.map(Timestamp::millis))
        .execute(&mut *self.inner)
        .await?;
        let steps = r.definition.get("steps").and_then(Value::as_array).cloned().unwrap_or_default();
        for (position, s) in steps.iter().enumerate() {
            sqlx::query(
                "INSERT INTO type_request_steps (request_id, position, kind, status) VALUES ($1, $2, $3, 'WAITING')",
            )
            .bind(r.id.as_str())
            .bind(position as i64)
            .bind(s.get("type").and_then(Value::as_str).unwrap_or_default())
            .execute(&mut *self.inner)
            .await?;
        }
        Ok(())
    }

    async fn lock_type_request(&mut self, id: &str) -> Result<Option<TypeRequestRecord>> {
        let sql = format!("SELECT {REQUEST_COLUMNS} FROM type_requests WHERE id = $1{}", self.for_update());
        let row = sqlx::query(&sql).bind(id).fetch_optional(&mut *self.inner).await?;
        row.as_ref().map(request).transpose()
    }

    async fn type_request(&mut self, id: &str) -> Result<Option<TypeRequestRecord>> {
        let sql = format!("SELECT {REQUEST_COLUMNS} FROM type_requests WHERE id = $1");
        let row = sqlx::query(&sql).bind(id).fetch_optional(&mut *self.inner).await?;
        row.as_ref().map(request).transpose()
    }

    async fn type_requests(
        &mut self,
        filter: &RequestFilter<'_>,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<TypeRequestRecord>> {
        // An approver or task holder sees the request through the inbox items assigned to them.
        let sql = format!(
            "SELECT {REQUEST_COLUMNS} FROM type_requests WHERE ($1 IS NULL OR requester_id = $1 \
             OR requested_for_id = $1 OR assignee_id = $1 \
             OR team_id IN (SELECT team_id FROM team_members WHERE identity_id = $1) \
             OR id IN (SELECT i.subject_id FROM inbox_items i JOIN inbox_assignees a ON a.item_id = i.id \
                       WHERE i.subject_kind = 'REQUEST' AND a.identity_id = $1)) \
             AND ($2 IS NULL OR status = $2) AND ($3 IS NULL OR request_type_id = $3) \
             AND ($6 IS NULL OR ($6 = 'mine' AND (requester_id = $1 OR requested_for_id = $1)) \
                  OR ($6 = 'assigned' AND assignee_id = $1) \
                  OR ($6 = 'team' AND team_id IN (SELECT team_id FROM team_members WHERE identity_id = $1))) \
             ORDER BY created_at DESC, id DESC LIMIT $4 OFFSET $5"
        );
        let rows = sqlx::query(&sql)
            .bind(filter.visible_to)
            .bind(filter.status.map(TypeRequestStatus::as_str))
            .bind(filter.request_type_id)
            .bind(limit)
            .bind(offset)
            .bind(filter.view)
            .fetch_all(&mut *self.inner)
            .await?;
        rows.iter().map(request).collect()
    }

    async fn open_type_requests(&mut self, request_type_id: &str) -> Result<i64> {
        let count =
            sqlx::query("SELECT COUNT(*) AS n FROM type_requests WHERE request_type_id = $1 AND status = 'PENDING'")
                .bind(request_type_id)
                .fetch_one(&mut *self.inner)
                .await?;
        Ok(count.try_get("n")?)
    }

    async fn open_assignments(&mut self, members: &[String]) -> Result<Vec<(String, i64)>> {
        let mut counts = Vec::with_capacity(members.len());
        for member in members {
            let row =
                sqlx::query("SELECT COUNT(*) AS n FROM type_requests WHERE assignee_id = $1 AND status = 'PENDING'")
                    .bind(member.as_str())
                    .fetch_one(&mut *self.inner)
                    .await?;
            counts.push((member.clone(), row.try_get("n")?));
        }
        Ok(counts)
    }

    async fn move_to_step(&mut self, id: &str, from: i64, to: i64, now: Timestamp) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE type_requests SET current_step = $3, modified_at = $4 \
             WHERE id = $1 AND current_step = $2 AND status = 'PENDING'",
        )
        .bind(id)
        .bind(from)
        .bind(to)
        .bind(now.millis())
        .execute(&mut *self.inner)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn close_type_request(
        &mut self,
        id: &str,
        status: TypeRequestStatus,
        reason: Option<&str>,
        now: Timestamp,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE type_requests SET status = $2, reason = $3, modified_at = $4, closed_at = $4 \
             WHERE id = $1 AND status = 'PENDING'",
        )
        .bind(id)
        .bind(status.as_str())
        .bind(reason)
        .bind(now.millis())
        .execute(&mut *self.inner)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn request_steps(&mut self, request_id: &str) -> Result<Vec<RequestStepRecord>> {
        let sql = format!("SELECT {STEP_COLUMNS} FROM type_request_steps WHERE request_id = $1 ORDER BY position");
        let rows = sqlx::query(&sql).bind(request_id).fetch_all(&mut *self.inner).await?;
        rows.iter().map(step).collect()
    }

    async fn start_step(
        &mut self,
        request_id: &str,
        position: i64,
        status: StepStatus,
        inbox_item_id: Option<&str>,
        execution_id: Option<&str>,
        now: Timestamp,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE type_request_steps SET status = $3, inbox_item_id = $4, execution_id = $5, started_at = $6 \
             WHERE request_id = $1 AND position = $2 AND status = 'WAITING'",
        )
        .bind(request_id)
        .bind(position)
        .bind(status.as_str())
        .bind(inbox_item_id)
        .bind(execution_id)
        .bind(now.millis())
        .execute(&mut *self.inner)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn end_step(&mut self, request_id: &str, position: i64, end: &StepEnd<'_>, now: Timestamp) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE type_request_steps SET status = $3, decided_by = $4, comment = $5, output = $6, \
             started_at = COALESCE(started_at, $7), ended_at = $7 \
             WHERE request_id = $1 AND position = $2 AND status IN ('WAITING', 'PENDING', 'RUNNING')",
        )
        .bind(request_id)
        .bind(position)
        .bind(end.status.as_str())
        .bind(end.decided_by)
        .bind(end.comment)
        .bind(end.output.map(Value::to_string))
        .bind(now.millis())
        .execute(&mut *self.inner)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn end_open_steps(&mut self, request_id: &str, status: StepStatus, now: Timestamp) -> Result<u64> {
        let done = sqlx::query(
            "UPDATE type_request_steps SET status = $2, ended_at = $3 \
             WHERE request_id = $1 AND status IN ('WAITING', 'PENDING', 'RUNNING')",
        )
        .bind(request_id)
        .bind(status.as_str())
        .bind(now.millis())
        .execute(&mut *self.inner)
        .await?;
        Ok(done.rows_affected())
    }

    async fn append_timeline(
        &mut self,
        request_id: &str,
        kind: &str,
        actor_id: Option<&str>,
        step: Option<i64>,
        detail: &Value,
        now: Timestamp,
    ) -> Result<i64> {
        // The request row is locked (or SQLite's writer held) by whoever appends, so MAX + 1 is safe.
        let row =
            sqlx::query("SELECT COALESCE(MAX(seq), 0) + 1 AS next FROM type_request_timeline WHERE request_id = $1")
                .bind(request_id)
                .fetch_one(&mut *self.inner)
                .await?;
        let seq: i64 = row.try_get("next")?;
        sqlx::query(
            "INSERT INTO type_request_timeline (request_id, seq, kind, actor_id, step, detail, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(request_id)
        .bind(seq)
        .bind(kind)
        .bind(actor_id)
        .bind(step)
        .bind(detail.to_string())
        .bind(now.millis())
        .execute(&mut *self.inner)
        .await?;
        Ok(seq)
    }

    async fn timeline(&mut self, request_id: &str) -> Result<Vec<TimelineEntry>> {
        let rows = sqlx::query(
            "SELECT request_id, seq, kind, actor_id, step, detail, created_at FROM type_request_timeline \
             WHERE request_id = $1 ORDER BY seq",
        )
        .bind(request_id)
        .fetch_all(&mut *self.inner)
        .await?;
        rows.iter().map(entry).collect()
    }
}
