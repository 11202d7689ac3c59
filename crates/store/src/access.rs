//! What identities hold and what is to change: access grants, governance group memberships,
//! provisioning plans waiting for a connector, and aggregation runs with their progress.

use serde_json::Value;
use sqlx::Row;
use sqlx::any::AnyRow;
use tessera_model::{AggregationStatus, PlanStatus, Timestamp};

use crate::listing::value_groups;
use crate::{Result, Tx, instant, instant_opt};

/// A role, access profile or entitlement an identity holds, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessGrant {
    pub identity_id: String,
    /// `ROLE`, `ACCESS_PROFILE` or `ENTITLEMENT`.
    pub kind: String,
    pub object_id: String,
    /// `BIRTHRIGHT`, `LIFECYCLE`, `REQUEST` or `ACCOUNT`.
    pub origin: String,
    pub granted_at: Timestamp,
    /// Who made the grant (an audit actor: `client:…`, `identity:…`, `workflow:…`, `system`).
    pub granted_by: Option<String>,
}

/// An account change to carry out on a source.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanRecord {
    pub id: String,
    pub identity_id: String,
    pub source_id: String,
    /// `Create`, `Modify`, `Enable`, `Disable`, `Unlock`, `Delete` or `Password`.
    pub operation: String,
    /// What decided it: `LIFECYCLE`, `BIRTHRIGHT`, `REQUEST`…
    pub cause: String,
    /// `QUEUED` until a connector carries it out; then `SUCCESS`, `FAILED`, or `PENDING` while a
    /// person's work item holds it; `CANCELLED` or `MERGED` when a later change made it pointless.
    pub status: PlanStatus,
    /// Shared by the plans of one identity change, announced together when the last one finishes.
    pub tracking_number: String,
    /// Attempts made so far.
    pub attempt: i64,
    /// What the connector (or person) answered: `provisioningResult`, `accountId`, `ticketId`, `errors`.
    pub result: Option<Value>,
    /// The account request: attribute requests and where it came from.
    pub document: Value,
    pub created_at: Timestamp,
    pub modified_at: Timestamp,
}

/// One aggregation run of a source.
#[derive(Debug, Clone, PartialEq)]
pub struct AggregationRecord {
    pub id: String,
    pub source_id: String,
    pub status: AggregationStatus,
    pub started_at: Timestamp,
    pub completed_at: Option<Timestamp>,
    pub processed: i64,
    pub stats: Value,
    pub errors: Value,
    pub message: Option<String>,
    pub updated_at: Timestamp,
}

fn grant(row: &AnyRow) -> Result<AccessGrant> {
    Ok(AccessGrant {
        identity_id: row.try_get("identity_id")?,
        kind: row.try_get("kind")?,
        object_id: row.try_get("object_id")?,
        origin: row.try_get("origin")?,
        granted_at: instant(row, "granted_at")?,
        granted_by: row.try_get("granted_by")?,
    })
}

pub(crate) fn plan(row: &AnyRow) -> Result<PlanRecord> {
    Ok(PlanRecord {
        id: row.try_get("id")?,
        identity_id: row.try_get("identity_id")?,
        source_id: row.try_get("source_id")?,
        operation: row.try_get("operation")?,
        cause: row.try_get("cause")?,
        status: row.try_get::<String, _>("status")?.parse()?,
        document: serde_json::from_str(&row.try_get::<String, _>("document")?)?,
        tracking_number: row.try_get("tracking_number")?,
        attempt: row.try_get("attempt")?,
        result: row.try_get::<Option<String>, _>("result")?.map(|r| serde_json::from_str(&r)).transpose()?,
        created_at: instant(row, "created_at")?,
        modified_at: instant(row, "modified_at")?,
    })
}

fn aggregation(row: &AnyRow) -> Result<AggregationRecord> {
    Ok(AggregationRecord {
        id: row.try_get("id")?,
        source_id: row.try_get("source_id")?,
        status: row.try_get::<String, _>("status")?.parse()?,
        started_at: instant(row, "started_at")?,
        completed_at: instant_opt(row, "completed_at")?,
        processed: row.try_get("processed")?,
        stats: serde_json::from_str(&row.try_get::<String, _>("stats")?)?,
        errors: serde_json::from_str(&row.try_get::<String, _>("errors")?)?,
        message: row.try_get("message")?,
        updated_at: instant(row, "updated_at")?,
    })
}

/// Reads and writes grants, memberships, plans and aggregation runs.
#[allow(async_fn_in_trait)]
pub trait AccessStore {
    /// Records a grant; false when the identity already held the object.
    async fn grant(&mut self, grant: &AccessGrant) -> Result<bool>;
    /// Records several grants; those already held are left as they are.
    async fn grant_many(&mut self, grants: &[AccessGrant]) -> Result<()>;
    /// Removes a grant; false when there was none.
    async fn revoke(&mut self, identity_id: &str, kind: &str, object_id: &str) -> Result<bool>;
    /// What these identities hold, by identity, kind and object.
    async fn access_of(&mut self, identity_ids: &[String]) -> Result<Vec<AccessGrant>>;
    /// Who holds an object.
    async fn holders_of(&mut self, kind: &str, object_id: &str) -> Result<Vec<AccessGrant>>;

    async fn add_member(&mut self, workgroup_id: &str, identity_id: &str, now: Timestamp) -> Result<bool>;
    async fn remove_member(&mut self, workgroup_id: &str, identity_id: &str) -> Result<bool>;
    /// Member identity ids of a group, in the order they joined.
    async fn members(&mut self, workgroup_id: &str) -> Result<Vec<String>>;
    /// The governance groups an identity belongs to.
    async fn workgroups_of(&mut self, identity_id: &str) -> Result<Vec<String>>;
    async fn remove_all_members(&mut self, workgroup_id: &str) -> Result<()>;

    async fn insert_plan(&mut self, plan: &PlanRecord) -> Result<()>;
    async fn insert_plans(&mut self, plans: &[PlanRecord]) -> Result<()>;
    /// Plans for an identity (or every plan), newest first.
    async fn plans(&mut self, identity_id: Option<&str>, limit: i64, offset: i64) -> Result<Vec<PlanRecord>>;

    async fn insert_aggregation(&mut self, run: &AggregationRecord) -> Result<()>;
    async fn update_aggregation(&mut self, run: &AggregationRecord) -> Result<()>;
    async fn aggregation(&mut self, id: &str) -> Result<Option<AggregationRecord>>;
    /// Marks PENDING and RUNNING runs whose record has not moved since `before` as ERROR with `message` (their
    /// node stopped mid-run); returns how many.
    async fn interrupt_stale_aggregations(&mut self, before: Timestamp, now: Timestamp, message: &str) -> Result<u64>;
    /// A source's runs, newest first.
    async fn aggregations_of(&mut self, source_id: &str, limit: i64) -> Result<Vec<AggregationRecord>>;
}

impl AccessStore for Tx {
    async fn grant(&mut self, g: &AccessGrant) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO identity_access (identity_id, kind, object_id, origin, granted_at, granted_by) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (identity_id, kind, object_id) DO NOTHING",
        )
        .bind(g.identity_id.as_str())
        .bind(g.kind.as_str())
        .bind(g.object_id.as_str())
        .bind(g.origin.as_str())
        .bind(g.granted_at.millis())
        .bind(g.granted_by.as_deref())
        .execute(&mut *self.inner)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn grant_many(&mut self, grants: &[AccessGrant]) -> Result<()> {
        for chunk in grants.chunks(200) {
            let sql = format!(
                "INSERT INTO identity_access (identity_id, kind, object_id, origin, granted_at, granted_by) VALUES {} \
                 ON CONFLICT (identity_id, kind, object_id) DO NOTHING",
                value_groups(self.dialect, chunk.len(), 6)
            );
            let mut query = sqlx::query(&sql);
            for g in chunk {
                query = query
                    .bind(g.identity_id.as_str())
                    .bind(g.kind.as_str())
                    .bind(g.object_id.as_str())
                    .bind(g.origin.as_str())
                    .bind(g.granted_at.millis())
                    .bind(g.granted_by.as_deref());
            }
            query.execute(&mut *self.inner).await?;
        }
        Ok(())
    }

    async fn revoke(&mut self, identity_id: &str, kind: &str, object_id: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM identity_access WHERE identity_id = $1 AND kind = $2 AND object_id = $3")
            .bind(identity_id)
            .bind(kind)
            .bind(object_id)
            .execute(&mut *self.inner)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn access_of(&mut self, identity_ids: &[String]) -> Result<Vec<AccessGrant>> {
        let mut found = Vec::new();
        for chunk in identity_ids.chunks(500) {
            let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT * FROM identity_access WHERE identity_id IN ({}) ORDER BY identity_id, kind, object_id",
                marks.join(", ")
            );
            let mut query = sqlx::query(&sql);
            for id in chunk {
                query = query.bind(id.as_str());
            }
            for row in query.fetch_all(&mut *self.inner).await? {
                found.push(grant(&row)?);
            }
        }
        Ok(found)
    }

    async fn holders_of(&mut self, kind: &str, object_id: &str) -> Result<Vec<AccessGrant>> {
        sqlx::query("SELECT * FROM identity_access WHERE kind = $1 AND object_id = $2 ORDER BY identity_id")
            .bind(kind)
            .bind(object_id)
            .fetch_all(&mut *self.inner)
            .await?
            .iter()
            .map(grant)
            .collect()
    }

    async fn add_member(&mut self, workgroup_id: &str, identity_id: &str, now: Timestamp) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO workgroup_members (workgroup_id, identity_id, added_at) VALUES ($1, $2, $3) \
             ON CONFLICT (workgroup_id, identity_id) DO NOTHING",
        )
        .bind(workgroup_id)
        .bind(identity_id)
        .bind(now.millis())
        .execute(&mut *self.inner)
        .await?;
        // Open work routed to the group is the new member's too (in their inbox, theirs to act on).
        sqlx::query(
            "INSERT INTO inbox_assignees (item_id, identity_id) SELECT id, $2 FROM inbox_items \
             WHERE route_kind = 'GOVERNANCE_GROUP' AND route_ref = $1 AND subject_kind = 'PLAN' \
             AND status = 'PENDING' ON CONFLICT DO NOTHING",
        )
        .bind(workgroup_id)
        .bind(identity_id)
        .execute(&mut *self.inner)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn remove_member(&mut self, workgroup_id: &str, identity_id: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM workgroup_members WHERE workgroup_id = $1 AND identity_id = $2")
            .bind(workgroup_id)
            .bind(identity_id)
            .execute(&mut *self.inner)
            .await?;
        self.leave_group_work(Some(workgroup_id), identity_id).await?;
        Ok(done.rows_affected() > 0)
    }

    async fn members(&mut self, workgroup_id: &str) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT identity_id FROM workgroup_members WHERE workgroup_id = $1 ORDER BY added_at, identity_id",
        )
        .bind(workgroup_id)
        .fetch_all(&mut *self.inner)
        .await?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }

    async fn workgroups_of(&mut self, identity_id: &str) -> Result<Vec<String>> {
        let rows =
            sqlx::query("SELECT workgroup_id FROM workgroup_members WHERE identity_id = $1 ORDER BY workgroup_id")
                .bind(identity_id)
                .fetch_all(&mut *self.inner)
                .await?;
        rows.iter().map(|row| Ok(row.try_get("workgroup_id")?)).collect()
    }

    async fn remove_all_members(&mut self, workgroup_id: &str) -> Result<()> {
        sqlx::query("DELETE FROM workgroup_members WHERE workgroup_id = $1")
            .bind(workgroup_id)
            .execute(&mut *self.inner)
            .await?;
        sqlx::query(
            "DELETE FROM inbox_assignees WHERE item_id IN (SELECT id FROM inbox_items \
             WHERE route_kind = 'GOVERNANCE_GROUP' AND route_ref = $1 AND subject_kind = 'PLAN' AND status = 'PENDING')",
        )
        .bind(workgroup_id)
        .execute(&mut *self.inner)
        .await?;
        Ok(())
    }

    async fn insert_plan(&mut self, p: &PlanRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO provisioning_plans (id, identity_id, source_id, operation, cause, status, document, created_at, \
             modified_at, tracking_number) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(p.id.as_str())
        .bind(p.identity_id.as_str())
        .bind(p.source_id.as_str())
        .bind(p.operation.as_str())
        .bind(p.cause.as_str())
        .bind(p.status.as_str())
        .bind(p.document.to_string())
        .bind(p.created_at.millis())
        .bind(p.modified_at.millis())
        .bind(p.tracking_number.as_str())
        .execute(&mut *self.inner)
        .await?;
        Ok(())
    }

    async fn insert_plans(&mut self, plans: &[PlanRecord]) -> Result<()> {
        for chunk in plans.chunks(200) {
            let sql = format!(
                "INSERT INTO provisioning_plans (id, identity_id, source_id, operation, cause, status, document, \
                 created_at, modified_at, tracking_number) VALUES {}",
                value_groups(self.dialect, chunk.len(), 10)
            );
            let mut query = sqlx::query(&sql);
            for p in chunk {
                query = query
                    .bind(p.id.as_str())
                    .bind(p.identity_id.as_str())
                    .bind(p.source_id.as_str())
                    .bind(p.operation.as_str())
                    .bind(p.cause.as_str())
                    .bind(p.status.as_str())
                    .bind(p.document.to_string())
                    .bind(p.created_at.millis())
                    .bind(p.modified_at.millis())
                    .bind(p.tracking_number.as_str());
            }
            query.execute(&mut *self.inner).await?;
        }
        Ok(())
    }

    async fn plans(&mut self, identity_id: Option<&str>, limit: i64, offset: i64) -> Result<Vec<PlanRecord>> {
        let rows = match identity_id {
            Some(id) => {
                sqlx::query(
                    "SELECT * FROM provisioning_plans WHERE identity_id = $1 ORDER BY created_at DESC, id DESC \
                     LIMIT $2 OFFSET $3",
                )
                .bind(id)
                .bind(limit)
                .bind(offset)
                .fetch_all(&mut *self.inner)
                .await?
            }
            None => {
                sqlx::query("SELECT * FROM provisioning_plans ORDER BY created_at DESC, id DESC LIMIT $1 OFFSET $2")
                    .bind(limit)
                    .bind(offset)
                    .fetch_all(&mut *self.inner)
                    .await?
            }
        };
        rows.iter().map(plan).collect()
    }

    async fn insert_aggregation(&mut self, r: &AggregationRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO aggregations (id, source_id, status, started_at, completed_at, processed, stats, errors, message, \
             updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(r.id.as_str())
        .bind(r.source_id.as_str())
        .bind(r.status.as_str())
        .bind(r.started_at.millis())
        .bind(r.completed_at.map(Timestamp::millis))
        .bind(r.processed)
        .bind(r.stats.to_string())
        .bind(r.errors.to_string())
        .bind(r.message.as_deref())
        .bind(r.updated_at.millis())
        .execute(&mut *self.inner)
        .await?;
        Ok(())
    }

    async fn update_aggregation(&mut self, r: &AggregationRecord) -> Result<()> {
        sqlx::query(
            "UPDATE aggregations SET status = $2, completed_at = $3, processed = $4, stats = $5, errors = $6, \
             message = $7, updated_at = $8 WHERE id = $1",
        )
        .bind(r.id.as_str())
        .bind(r.status.as_str())
        .bind(r.completed_at.map(Timestamp::millis))
        .bind(r.processed)
        .bind(r.stats.to_string())
        .bind(r.errors.to_string())
        .bind(r.message.as_deref())
        .bind(r.updated_at.millis())
        .execute(&mut *self.inner)
        .await?;
        Ok(())
    }

    async fn aggregation(&mut self, id: &str) -> Result<Option<AggregationRecord>> {
        sqlx::query("SELECT * FROM aggregations WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *self.inner)
            .await?
            .as_ref()
            .map(aggregation)
            .transpose()
    }

    async fn interrupt_stale_aggregations(&mut self, before: Timestamp, now: Timestamp, message: &str) -> Result<u64> {
        let done = sqlx::query(
            "UPDATE aggregations SET status = 'ERROR', message = $1, completed_at = $2, updated_at = $2 \
             WHERE status IN ('PENDING', 'RUNNING') AND updated_at < $3",
        )
        .bind(message)
        .bind(now.millis())
        .bind(before.millis())
        .execute(&mut *self.inner)
        .await?;
        Ok(done.rows_affected())
    }

    async fn aggregations_of(&mut self, source_id: &str, limit: i64) -> Result<Vec<AggregationRecord>> {
        sqlx::query("SELECT * FROM aggregations WHERE source_id = $1 ORDER BY started_at DESC, id DESC LIMIT $2")
            .bind(source_id)
            .bind(limit)
            .fetch_all(&mut *self.inner)
            .await?
            .iter()
            .map(aggregation)
            .collect()
    }
}

impl Tx {
    /// Takes open work routed to a governance group (`group`, or every group) away from someone who
    /// is no longer a member: work items go to the group's members as they are now.
    pub(crate) async fn leave_group_work(&mut self, group: Option<&str>, identity_id: &str) -> Result<()> {
        sqlx::query(
            "DELETE FROM inbox_assignees WHERE identity_id = $2 AND item_id IN (SELECT id FROM inbox_items \
             WHERE route_kind = 'GOVERNANCE_GROUP' AND ($1 IS NULL OR route_ref = $1) AND subject_kind = 'PLAN' \
             AND status = 'PENDING')",
        )
        .bind(group)
        .bind(identity_id)
        .execute(&mut *self.inner)
        .await?;
        Ok(())
    }
}
