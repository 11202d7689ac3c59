//! Who holds which of ISC's user levels: a person directly, or everyone in a governance group. A
//! person's levels are the union of both.

use sqlx::Row;
use tessera_model::{Timestamp, UserLevel};

use crate::{Result, Tx};

/// Who holds a set of levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LevelHolder<'a> {
    Identity(&'a str),
    GovernanceGroup(&'a str),
}

impl LevelHolder<'_> {
    fn parts(&self) -> (&'static str, &str) {
        match self {
            LevelHolder::Identity(id) => ("IDENTITY", id),
            LevelHolder::GovernanceGroup(id) => ("GOVERNANCE_GROUP", id),
        }
    }
}

/// A level a person holds, and through which governance group (`None`: held directly).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldLevel {
    pub level: UserLevel,
    pub via_group: Option<String>,
}

/// Reads and sets user levels.
#[allow(async_fn_in_trait)]
pub trait UserLevelStore {
    /// The levels `holder` holds itself, in ISC's order.
    async fn user_levels(&mut self, holder: LevelHolder<'_>) -> Result<Vec<UserLevel>>;
    /// Makes `levels` exactly what `holder` holds.
    async fn set_user_levels(&mut self, holder: LevelHolder<'_>, levels: &[UserLevel], now: Timestamp) -> Result<()>;
    /// Every level a person holds: their own, and their governance groups'.
    async fn held_levels(&mut self, identity_id: &str) -> Result<Vec<HeldLevel>>;
    /// Holds `holder` (the identity's row, or the group's) until the transaction ends, so a
    /// read-modify-write of its levels loses no concurrent change; false when there is no such holder.
    async fn lock_level_holder(&mut self, holder: LevelHolder<'_>) -> Result<bool>;
}

impl UserLevelStore for Tx {
    async fn lock_level_holder(&mut self, holder: LevelHolder<'_>) -> Result<bool> {
        let row = match holder {
            LevelHolder::Identity(id) => {
                let sql = format!("SELECT id FROM identities WHERE id = $1{}", self.for_update());
                sqlx::query(&sql).bind(id).fetch_optional(&mut *self.inner).await?
            }
            LevelHolder::GovernanceGroup(id) => {
                let sql = format!("SELECT id FROM catalog WHERE kind = $1 AND id = $2{}", self.for_update());
                let kind = crate::CatalogKind::Workgroup.as_str();
                sqlx::query(&sql).bind(kind).bind(id).fetch_optional(&mut *self.inner).await?
            }
        };
        Ok(row.is_some())
    }

    async fn user_levels(&mut self, holder: LevelHolder<'_>) -> Result<Vec<UserLevel>> {
        let (kind, id) = holder.parts();
        let rows = sqlx::query("SELECT level FROM user_levels WHERE holder_kind = $1 AND holder_id = $2")
            .bind(kind)
            .bind(id)
            .fetch_all(&mut *self.inner)
            .await?;
        let mut levels =
            rows.iter().map(|row| Ok(row.try_get::<String, _>(0)?.parse()?)).collect::<Result<Vec<_>>>()?;
        levels.sort_unstable();
        Ok(levels)
    }

    async fn set_user_levels(&mut self, holder: LevelHolder<'_>, levels: &[UserLevel], now: Timestamp) -> Result<()> {
        let (kind, id) = holder.parts();
        sqlx::query("DELETE FROM user_levels WHERE holder_kind = $1 AND holder_id = $2")
            .bind(kind)
            .bind(id)
            .execute(&mut *self.inner)
            .await?;
        for level in levels {
            sqlx::query(
                "INSERT INTO user_levels (holder_kind, holder_id, level, granted_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(kind)
            .bind(id)
            .bind(level.as_ref())
            .bind(now.millis())
            .execute(&mut *self.inner)
            .await?;
        }
        Ok(())
    }

    async fn held_levels(&mut self, identity_id: &str) -> Result<Vec<HeldLevel>> {
        let rows = sqlx::query(
            "SELECT level, NULL AS via FROM user_levels WHERE holder_kind = 'IDENTITY' AND holder_id = $1 \
             UNION ALL \
             SELECT l.level, l.holder_id AS via FROM user_levels l \
             JOIN workgroup_members m ON m.workgroup_id = l.holder_id \
             WHERE l.holder_kind = 'GOVERNANCE_GROUP' AND m.identity_id = $1",
        )
        .bind(identity_id)
        .fetch_all(&mut *self.inner)
        .await?;
        let mut held = rows
            .iter()
            .map(|row| {
                Ok(HeldLevel { level: row.try_get::<String, _>("level")?.parse()?, via_group: row.try_get("via")? })
            })
            .collect::<Result<Vec<_>>>()?;
        held.sort_by(|a, b| (a.level, &a.via_group).cmp(&(b.level, &b.via_group)));
        Ok(held)
    }
}
