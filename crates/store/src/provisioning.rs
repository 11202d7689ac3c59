//! Carrying out plans: claiming due plans with a lease, retrying with back-off, finishing them, the
//! tracking counter that makes exactly one transaction announce a finished group, and work items for
//! the account requests a person carries out — people's work (`inbox_items` with subject `PLAN`,
//! assigned to the identity or the governance group's members), read here as ISC's work item.

use serde_json::Value;
use sqlx::Row;
use sqlx::any::AnyRow;
use tessera_model::{PlanStatus, Timestamp, WorkKind, WorkStatus, WorkSubject};

use crate::access::plan;
use crate::db::Dialect;
use crate::{InboxItemRecord, InboxStore, PlanRecord, Result, Tx, instant, instant_opt};

/// A group of plans from one identity change.
#[derive(Debug, Clone, PartialEq)]
pub struct Tracking {
    pub tracking_number: String,
    pub identity_id: String,
    /// ISC's `action`: `IdentityRefresh` (lifecycle, birthright), `AccessRequest`, `Workflow`.
    pub action: String,
    /// Who asked, as a reference; `None` when Tessera itself decided.
    pub requester: Option<Value>,
    pub remaining: i64,
    pub created_at: Timestamp,
    pub completed_at: Option<Timestamp>,
}

/// What finishing a plan did.
#[derive(Debug, Clone, PartialEq)]
pub enum Finished {
    /// The plan was no longer QUEUED (another node finished it): nothing changed.
    Already,
    /// The plan is finished; with its tracking group when it was the group's last (this transaction
    /// then announces the group).
    Now(Option<Tracking>),
}

/// An account request waiting for a person.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkItem {
    pub id: String,
    pub plan_id: String,
    pub source_id: String,
    pub identity_id: String,
    /// The identity or governance group it is assigned to, as `IDENTITY:<id>` or `GOVERNANCE_GROUP:<id>`.
    pub assignee: Option<String>,
    /// `Pending` (ISC's open item), then `Completed`, `Failed` or `Cancelled`.
    pub status: WorkStatus,
    pub document: Value,
    pub created_at: Timestamp,
    pub completed_at: Option<Timestamp>,
    pub completed_by: Option<String>,
    pub comment: Option<String>,
}

fn tracking(row: &AnyRow) -> Result<Tracking> {
    Ok(Tracking {
        tracking_number: row.try_get("tracking_number")?,
        identity_id: row.try_get("identity_id")?,
        action: row.try_get("action")?,
        requester: row.try_get::<Option<String>, _>("requester")?.map(|r| serde_json::from_str(&r)).transpose()?,
        remaining: row.try_get("remaining")?,
        created_at: instant(row, "created_at")?,
        completed_at: instant_opt(row, "completed_at")?,
    })
}

const WORK_ITEM_COLUMNS: &str = "id, subject_id, about_id, route_kind, route_ref, status, details, created_at, \
                                 decided_at, decided_by, decision_comment";

/// What people's work keeps of a work item beside its columns: the source and the account request.
fn work_details(source_id: &str, document: &Value) -> Value {
    serde_json::json!({"sourceId": source_id, "document": document})
}

fn work_item(row: &AnyRow) -> Result<WorkItem> {
    let details: Value = serde_json::from_str(&row.try_get::<String, _>("details")?)?;
    let route_kind: Option<String> = row.try_get("route_kind")?;
    let route_ref: Option<String> = row.try_get("route_ref")?;
    Ok(WorkItem {
        id: row.try_get("id")?,
        plan_id: row.try_get("subject_id")?,
        source_id: details["sourceId"].as_str().unwrap_or_default().to_owned(),
        identity_id: row.try_get::<Option<String>, _>("about_id")?.unwrap_or_default(),
        assignee: route_kind.zip(route_ref).map(|(kind, id)| format!("{kind}:{id}")),
        status: row.try_get::<String, _>("status")?.parse()?,
        document: details.get("document").cloned().unwrap_or(Value::Null),
        created_at: instant(row, "created_at")?,
        completed_at: instant_opt(row, "decided_at")?,
        completed_by: row.try_get("decided_by")?,
        comment: row.try_get("decision_comment")?,
    })
}

/// A plan still open to change: QUEUED and not being carried out, or PENDING on a work item nobody has
/// answered yet.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenPlan {
    pub plan: PlanRecord,
    /// The OPEN work item holding the plan, for a PENDING one.
    pub work_item: Option<String>,
}

/// Plans as they are carried out.
#[allow(async_fn_in_trait)]
pub trait ProvisioningStore {
    /// The plans of these identities still open to change at `now` (locked against the provisioner
    /// and against people answering their work items until the transaction ends), oldest first.
    async fn open_plans(&mut self, identity_ids: &[String], now: Timestamp) -> Result<Vec<OpenPlan>>;
    /// Replaces an open plan's account request document, and its OPEN work item's.
    async fn revise_plan(&mut self, open: &OpenPlan, document: &Value, now: Timestamp) -> Result<()>;
    /// Opens a tracking group that `count` plans will finish.
    async fn open_tracking(&mut self, tracking: &Tracking) -> Result<()>;
    async fn tracking(&mut self, tracking_number: &str) -> Result<Option<Tracking>>;
    /// Leases up to `limit` QUEUED plans due at `now` until `lease_until`.
    async fn claim_plans(&mut self, now: Timestamp, lease_until: Timestamp, limit: i64) -> Result<Vec<PlanRecord>>;
    /// Puts a plan back to run at `run_at` as attempt `attempt`, noting the last error.
    async fn retry_plan(
        &mut self,
        id: &str,
        attempt: i64,
        run_at: Timestamp,
        result: &Value,
        now: Timestamp,
    ) -> Result<()>;
    /// Ends a QUEUED plan (`SUCCESS`, `FAILED`, `PENDING`, or `CANCELLED` and `MERGED` when a later
    /// change made it pointless) with its result.
    async fn finish_plan(&mut self, id: &str, status: PlanStatus, result: &Value, now: Timestamp) -> Result<Finished>;
    /// Ends a PENDING plan (its work item was answered, or the plan was cancelled) as `SUCCESS`, `FAILED`
    /// or `CANCELLED`; false when it was not PENDING.
    async fn settle_plan(&mut self, id: &str, status: PlanStatus, result: &Value, now: Timestamp) -> Result<bool>;
    /// Every plan of a tracking group, oldest first.
    async fn plans_of_tracking(&mut self, tracking_number: &str) -> Result<Vec<PlanRecord>>;
    async fn plan_by_id(&mut self, id: &str) -> Result<Option<PlanRecord>>;

    async fn insert_work_item(&mut self, item: &WorkItem) -> Result<()>;
    async fn work_item(&mut self, id: &str) -> Result<Option<WorkItem>>;
    /// Work items with `status` (or every one), oldest first.
    /// Work items, oldest first: those in `status`, and assigned to one of `assignees` (`IDENTITY:<id>`,
    /// `GOVERNANCE_GROUP:<id>`), each when given.
    async fn work_items(
        &mut self,
        status: Option<WorkStatus>,
        assignees: Option<&[String]>,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<WorkItem>>;
    /// Records a person's answer; false when the item was not OPEN (answered already).
    async fn complete_work_item(
        &mut self,
        id: &str,
        status: WorkStatus,
        by: &str,
        comment: Option<&str>,
        now: Timestamp,
    ) -> Result<bool>;
}

impl Tx {
    /// Gives a work item to whoever its route names, so that it is in their inbox: the identity, or
    /// the governance group's members.
    pub(crate) async fn assign_route(&mut self, id: &str, kind: Option<&str>, reference: Option<&str>) -> Result<()> {
        let sql = match kind {
            Some("IDENTITY") => "INSERT INTO inbox_assignees (item_id, identity_id) VALUES ($1, $2)",
            Some("GOVERNANCE_GROUP") => {
                "INSERT INTO inbox_assignees (item_id, identity_id) \
                 SELECT $1, identity_id FROM workgroup_members WHERE workgroup_id = $2"
            }
            _ => return Ok(()),
        };
        let Some(reference) = reference else { return Ok(()) };
        sqlx::query(sql).bind(id).bind(reference).execute(&mut *self.inner).await?;
        Ok(())
    }
}

impl ProvisioningStore for Tx {
    async fn open_plans(&mut self, identity_ids: &[String], now: Timestamp) -> Result<Vec<OpenPlan>> {
        let mut out = Vec::new();
        let lock = self.for_update();
        for chunk in identity_ids.chunks(500) {
            let places: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
            let sql = format!(
                "SELECT p.*, (SELECT w.id FROM inbox_items w WHERE w.subject_kind = 'PLAN' AND w.subject_id = p.id \
                 AND w.status = 'PENDING' LIMIT 1) AS open_item FROM provisioning_plans p WHERE p.identity_id IN ({}) \
                 AND ((p.status = 'QUEUED' AND p.lease_until <= $1) OR (p.status = 'PENDING' AND EXISTS \
                 (SELECT 1 FROM inbox_items w WHERE w.subject_kind = 'PLAN' AND w.subject_id = p.id \
                 AND w.status = 'PENDING'))) \
                 ORDER BY p.created_at, p.id{lock}",
                places.join(", ")
            );
            let mut query = sqlx::query(&sql).bind(now.millis());
            for id in chunk {
                query = query.bind(id);
            }
            for row in query.fetch_all(&mut *self.inner).await? {
                out.push(OpenPlan { plan: plan(&row)?, work_item: row.try_get("open_item")? });
            }
        }
        Ok(out)
    }

    async fn revise_plan(&mut self, open: &OpenPlan, document: &Value, now: Timestamp) -> Result<()> {
        sqlx::query("UPDATE provisioning_plans SET document = $1, modified_at = $2 WHERE id = $3")
            .bind(document.to_string())
            .bind(now.millis())
            .bind(&open.plan.id)
            .execute(&mut *self.inner)
            .await?;
        if let Some(item) = &open.work_item {
            sqlx::query("UPDATE inbox_items SET details = $1 WHERE id = $2 AND status = 'PENDING'")
                .bind(work_details(&open.plan.source_id, document).to_string())
                .bind(item)
                .execute(&mut *self.inner)
                .await?;
        }
        Ok(())
    }

    async fn open_tracking(&mut self, t: &Tracking) -> Result<()> {
        sqlx::query(
            "INSERT INTO provisioning_trackings (tracking_number, identity_id, action, requester, remaining, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(t.tracking_number.as_str())
        .bind(t.identity_id.as_str())
        .bind(t.action.as_str())
        .bind(t.requester.as_ref().map(Value::to_string))
        .bind(t.remaining)
        .bind(t.created_at.millis())
        .execute(&mut *self.inner)
        .await?;
        Ok(())
    }

    async fn tracking(&mut self, tracking_number: &str) -> Result<Option<Tracking>> {
        sqlx::query("SELECT * FROM provisioning_trackings WHERE tracking_number = $1")
            .bind(tracking_number)
            .fetch_optional(&mut *self.inner)
            .await?
            .as_ref()
            .map(tracking)
            .transpose()
    }

    async fn claim_plans(&mut self, now: Timestamp, lease_until: Timestamp, limit: i64) -> Result<Vec<PlanRecord>> {
        let skip_locked = match self.dialect {
            Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
            Dialect::Sqlite => "",
        };
        let sql = format!(
            "UPDATE provisioning_plans SET lease_until = $1 WHERE id IN \
             (SELECT id FROM provisioning_plans WHERE status = 'QUEUED' AND run_at <= $2 AND lease_until <= $2 \
             ORDER BY run_at, id LIMIT $3{skip_locked}) RETURNING *"
        );
        let rows = sqlx::query(&sql)
            .bind(lease_until.millis())
            .bind(now.millis())
            .bind(limit)
            .fetch_all(&mut *self.inner)
            .await?;
        let mut plans: Vec<PlanRecord> = rows.iter().map(plan).collect::<Result<_>>()?;
        plans.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(plans)
    }

    async fn retry_plan(
        &mut self,
        id: &str,
        attempt: i64,
        run_at: Timestamp,
        result: &Value,
        now: Timestamp,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE provisioning_plans SET attempt = $2, run_at = $3, lease_until = 0, result = $4, modified_at = $5 \
             WHERE id = $1",
        )
        .bind(id)
        .bind(attempt)
        .bind(run_at.millis())
        .bind(result.to_string())
        .bind(now.millis())
        .execute(&mut *self.inner)
        .await?;
        Ok(())
    }

    async fn finish_plan(&mut self, id: &str, status: PlanStatus, result: &Value, now: Timestamp) -> Result<Finished> {
        let row = sqlx::query(
            "UPDATE provisioning_plans SET status = $2, result = $3, lease_until = 0, modified_at = $4 \
             WHERE id = $1 AND status = 'QUEUED' RETURNING tracking_number",
        )
        .bind(id)
        .bind(status.as_str())
        .bind(result.to_string())
        .bind(now.millis())
        .fetch_optional(&mut *self.inner)
        .await?;
        // A plan finished already (a repeated delivery) changes nothing and announces nothing.
        let Some(row) = row else { return Ok(Finished::Already) };
        let number: String = row.try_get(0)?;
        if number.is_empty() {
            return Ok(Finished::Now(None));
        }
        let left = sqlx::query(
            "UPDATE provisioning_trackings SET remaining = remaining - 1, \
             completed_at = CASE WHEN remaining = 1 THEN $2 ELSE completed_at END \
             WHERE tracking_number = $1 AND remaining > 0 RETURNING remaining",
        )
        .bind(number.as_str())
        .bind(now.millis())
        .fetch_optional(&mut *self.inner)
        .await?;
        match left {
            Some(row) if row.try_get::<i64, _>(0)? == 0 => Ok(Finished::Now(self.tracking(&number).await?)),
            _ => Ok(Finished::Now(None)),
        }
    }

    async fn settle_plan(&mut self, id: &str, status: PlanStatus, result: &Value, now: Timestamp) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE provisioning_plans SET status = $2, result = $3, modified_at = $4 WHERE id = $1 AND status = 'PENDING'",
        )
        .bind(id)
        .bind(status.as_str())
        .bind(result.to_string())
        .bind(now.millis())
        .execute(&mut *self.inner)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn plans_of_tracking(&mut self, tracking_number: &str) -> Result<Vec<PlanRecord>> {
        sqlx::query("SELECT * FROM provisioning_plans WHERE tracking_number = $1 ORDER BY created_at, id")
            .bind(tracking_number)
            .fetch_all(&mut *self.inner)
            .await?
            .iter()
            .map(plan)
            .collect()
    }

    async fn plan_by_id(&mut self, id: &str) -> Result<Option<PlanRecord>> {
        sqlx::query("SELECT * FROM provisioning_plans WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *self.inner)
            .await?
            .as_ref()
            .map(plan)
            .transpose()
    }

    async fn insert_work_item(&mut self, w: &WorkItem) -> Result<()> {
        let source: Option<String> = sqlx::query_scalar("SELECT name FROM catalog WHERE kind = 'SOURCE' AND id = $1")
            .bind(w.source_id.as_str())
            .fetch_optional(&mut *self.inner)
            .await?;
        let operation = w.document["accountRequest"]["operation"].as_str().unwrap_or("Modify");
        let title = format!("{operation} account on source '{}'", source.as_deref().unwrap_or(&w.source_id));
        let (route_kind, route_ref) = w.assignee.as_deref().and_then(|a| a.split_once(':')).unzip();
        let item = InboxItemRecord {
            id: w.id.clone(),
            kind: WorkKind::Task,
            subject_kind: WorkSubject::Plan,
            subject_id: w.plan_id.clone(),
            subject_ref: None,
            title,
            description: None,
            details: work_details(&w.source_id, &w.document),
            status: w.status,
            minimum_approvals: 1,
            approvals: 0,
            due_at: None,
            remind_every_ms: None,
            next_reminder_at: None,
            timeout_action: None,
            escalate_to: None,
            decided_by: None,
            decision_comment: None,
            decided_at: None,
            output: Value::Null,
            created_at: w.created_at,
            modified_at: w.created_at,
            assignees: Vec::new(),
            excluded: Vec::new(),
            level: None,
            route_kind: route_kind.map(str::to_owned),
            route_ref: route_ref.map(str::to_owned),
            about_id: Some(w.identity_id.clone()),
        };
        self.insert_inbox_item(&item).await?;
        self.assign_route(&w.id, route_kind, route_ref).await?;
        Ok(())
    }

    async fn work_item(&mut self, id: &str) -> Result<Option<WorkItem>> {
        sqlx::query(&format!("SELECT {WORK_ITEM_COLUMNS} FROM inbox_items WHERE id = $1 AND subject_kind = $2"))
            .bind(id)
            .bind(WorkSubject::Plan.as_str())
            .fetch_optional(&mut *self.inner)
            .await?
            .as_ref()
            .map(work_item)
            .transpose()
    }

    async fn work_items(
        &mut self,
        status: Option<WorkStatus>,
        assignees: Option<&[String]>,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<WorkItem>> {
        if assignees.is_some_and(<[String]>::is_empty) {
            return Ok(Vec::new());
        }
        let mut sql = format!(
            "SELECT {WORK_ITEM_COLUMNS} FROM inbox_items WHERE subject_kind = $4 AND ($1 IS NULL OR status = $1)"
        );
        let listed = assignees.unwrap_or_default();
        if !listed.is_empty() {
            let places: Vec<String> = (0..listed.len()).map(|i| format!("${}", i + 5)).collect();
            sql.push_str(&format!(" AND route_kind || ':' || route_ref IN ({})", places.join(", ")));
        }
        sql.push_str(" ORDER BY created_at, id LIMIT $2 OFFSET $3");
        let mut query = sqlx::query(&sql)
            .bind(status.map(WorkStatus::as_str))
            .bind(limit)
            .bind(offset)
            .bind(WorkSubject::Plan.as_str());
        for assignee in listed {
            query = query.bind(assignee);
        }
        let rows = query.fetch_all(&mut *self.inner).await?;
        rows.iter().map(work_item).collect()
    }

    async fn complete_work_item(
        &mut self,
        id: &str,
        status: WorkStatus,
        by: &str,
        comment: Option<&str>,
        now: Timestamp,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE inbox_items SET status = $2, decided_by = $3, decision_comment = $4, decided_at = $5, \
             modified_at = $5 WHERE id = $1 AND subject_kind = $6 AND status = 'PENDING'",
        )
        .bind(id)
        .bind(status.as_str())
        .bind(by)
        .bind(comment)
        .bind(now.millis())
        .bind(WorkSubject::Plan.as_str())
        .execute(&mut *self.inner)
        .await?;
        Ok(done.rows_affected() > 0)
    }
}
