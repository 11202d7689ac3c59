//! The move of people's work into one table: a database written before migration 0022 kept access
//! request approvals (with their approvers and reassignments) and manual provisioning work items in
//! tables of their own. When the store opens such a database it moves their rows into `inbox_items`,
//! `inbox_assignees` and `inbox_activity`, keeping every id, and drops the old tables — all in one
//! transaction, so a crash leaves either the old tables whole or the new rows whole, and the next
//! start finishes the move. This runs in Rust rather than in the migration because the move writes
//! JSON (reassignment details, work item details) that SQL cannot build the same way on SQLite and
//! PostgreSQL.

use serde_json::{Value, json};
use sqlx::Row;

use crate::db::Dialect;
use crate::{Result, Store};

/// A key for PostgreSQL's transaction-scoped advisory lock, so that nodes starting together move the
/// rows once.
const MOVE_LOCK: i64 = 0x7e55_e7a0_0022;

/// Moves people's work out of the tables migration 0022 replaced, if they are still there: how many
/// approvals and work items moved, or `None` when there was nothing to move.
pub(crate) async fn merge(store: &Store) -> Result<Option<(u64, u64)>> {
    let mut tx = store.begin().await?;
    let present: i64 = match store.dialect() {
        Dialect::Sqlite => {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'access_request_approvals'",
            )
            .fetch_one(&mut *tx.inner)
            .await?
        }
        Dialect::Postgres => {
            sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(MOVE_LOCK).execute(&mut *tx.inner).await?;
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() \
                 AND table_name = 'access_request_approvals'",
            )
            .fetch_one(&mut *tx.inner)
            .await?
        }
    };
    if present == 0 {
        return Ok(None);
    }
    // Approval levels: the item and the person it is for make the title; ISC's REJECTED is DENIED.
    let approvals = sqlx::query(
        "INSERT INTO inbox_items (id, kind, subject_kind, subject_id, subject_ref, title, details, status, \
         minimum_approvals, approvals, decided_by, decision_comment, decided_at, created_at, modified_at, excluded, \
         level, route_kind, route_ref, about_id, assigned_at, reminders_sent, last_reminded_at, escalation_blocked) \
         SELECT a.id, 'APPROVAL', 'ACCESS_REQUEST', a.request_id, a.item_id, \
         'Access request: ' || i.name || ' for ' || COALESCE(p.name, r.requested_for_id), '{}', \
         CASE a.status WHEN 'REJECTED' THEN 'DENIED' ELSE a.status END, 1, \
         CASE a.status WHEN 'APPROVED' THEN 1 ELSE 0 END, a.decided_by, a.comment, a.decided_at, a.created_at, \
         a.modified_at, '[]', a.level, a.approver_kind, a.approver_ref, r.requested_for_id, a.assigned_at, \
         a.reminders_sent, a.last_reminded_at, a.escalation_blocked \
         FROM access_request_approvals a JOIN access_request_items i ON i.id = a.item_id \
         JOIN access_requests r ON r.id = a.request_id LEFT JOIN identities p ON p.id = r.requested_for_id",
    )
    .execute(&mut *tx.inner)
    .await?
    .rows_affected();
    sqlx::query(
        "INSERT INTO inbox_assignees (item_id, identity_id) SELECT approval_id, identity_id FROM access_request_approvers",
    )
    .execute(&mut *tx.inner)
    .await?;
    // Reassignments become the approval's activity, as new ones are written.
    let rows = sqlx::query(
        "SELECT id, approval_id, old_approvers, new_approver, forwarder, comment, kind, created_at \
         FROM access_request_reassignments",
    )
    .fetch_all(&mut *tx.inner)
    .await?;
    for row in &rows {
        let kind: String = row.try_get("kind")?;
        let old: Value = serde_json::from_str(&row.try_get::<String, _>("old_approvers")?)?;
        let detail = json!({
            "from": old,
            "to": row.try_get::<String, _>("new_approver")?,
            "comment": row.try_get::<Option<String>, _>("comment")?,
            "type": kind,
        });
        sqlx::query(
            "INSERT INTO inbox_activity (id, item_id, kind, actor_id, detail, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(row.try_get::<String, _>("id")?)
        .bind(row.try_get::<String, _>("approval_id")?)
        .bind(if kind == "AUTO_ESCALATION" { "ESCALATE" } else { "REASSIGN" })
        .bind(row.try_get::<Option<String>, _>("forwarder")?)
        .bind(detail.to_string())
        .bind(row.try_get::<i64, _>("created_at")?)
        .execute(&mut *tx.inner)
        .await?;
    }
    let work = move_work_items(&mut tx).await?;
    for table in ["access_request_reassignments", "access_request_approvers", "access_request_approvals", "work_items"]
    {
        sqlx::query(&format!("DROP TABLE {table}")).execute(&mut *tx.inner).await?;
    }
    tx.commit().await?;
    Ok(Some((approvals, work)))
}

/// Moves manual provisioning work items: the source and account request go to the details, the
/// assignee to the route (and, for a governance group, its members to the assignees).
async fn move_work_items(tx: &mut crate::Tx) -> Result<u64> {
    let rows = sqlx::query(
        "SELECT w.id, w.plan_id, w.source_id, w.identity_id, w.assignee, w.status, w.document, w.created_at, \
         w.completed_at, w.completed_by, w.comment, c.name AS source_name \
         FROM work_items w LEFT JOIN catalog c ON c.kind = 'SOURCE' AND c.id = w.source_id",
    )
    .fetch_all(&mut *tx.inner)
    .await?;
    for row in &rows {
        let id: String = row.try_get("id")?;
        let source_id: String = row.try_get("source_id")?;
        let document: Value = serde_json::from_str(&row.try_get::<String, _>("document")?)?;
        let operation = document["accountRequest"]["operation"].as_str().unwrap_or("Modify");
        let source_name: Option<String> = row.try_get("source_name")?;
        let title = format!("{operation} account on source '{}'", source_name.as_deref().unwrap_or(&source_id));
        let assignee: Option<String> = row.try_get("assignee")?;
        let (route_kind, route_ref) = assignee.as_deref().and_then(|a| a.split_once(':')).unzip();
        let status: String = row.try_get("status")?;
        let completed_at: Option<i64> = row.try_get("completed_at")?;
        let created_at: i64 = row.try_get("created_at")?;
        sqlx::query(
            "INSERT INTO inbox_items (id, kind, subject_kind, subject_id, title, details, status, minimum_approvals, \
             approvals, decided_by, decision_comment, decided_at, created_at, modified_at, excluded, route_kind, \
             route_ref, about_id) VALUES ($1, 'TASK', 'PLAN', $2, $3, $4, $5, 1, 0, $6, $7, $8, $9, $10, '[]', $11, $12, $13)",
        )
        .bind(id.as_str())
        .bind(row.try_get::<String, _>("plan_id")?)
        .bind(title)
        .bind(json!({"sourceId": source_id, "document": document}).to_string())
        .bind(if status == "OPEN" { "PENDING" } else { status.as_str() })
        .bind(row.try_get::<Option<String>, _>("completed_by")?)
        .bind(row.try_get::<Option<String>, _>("comment")?)
        .bind(completed_at)
        .bind(created_at)
        .bind(completed_at.unwrap_or(created_at))
        .bind(route_kind)
        .bind(route_ref)
        .bind(row.try_get::<String, _>("identity_id")?)
        .execute(&mut *tx.inner)
        .await?;
        tx.assign_route(&id, route_kind, route_ref).await?;
    }
    Ok(rows.len() as u64)
}
