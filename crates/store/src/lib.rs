//! Tessera's storage: narrow traits per aggregate, implemented once on sqlx's `Any` driver for both
//! SQLite (a WAL file, the default) and PostgreSQL, composed in one transaction per change.

pub mod access;
pub mod approval_config;
pub mod backup;
pub mod catalog;
pub mod changes;
mod db;
pub mod delegations;
pub mod executions;
pub mod figures;
pub mod files;
pub mod identities;
pub mod inbox;
mod legacy_work;
mod listing;
pub mod named_secrets;
pub mod notifications;
pub mod provisioning;
pub mod query;
pub mod queue;
pub mod request_types;
pub mod requests;
pub mod retention;
pub mod secrets;
pub mod security;
pub mod sod;
#[cfg(feature = "testing")]
pub mod testing;
pub mod user_levels;
pub mod waiters;
pub mod workflows;

pub use access::{AccessGrant, AccessStore, AggregationRecord, PlanRecord};
pub use approval_config::{ApprovalClock, ApprovalConfigStore, ApprovalCounts, DueBefore, Reassignment};
pub use catalog::{CatalogKind, CatalogObject, CatalogStore};
pub use changes::{ChangeStore, ScheduledAccess};
pub use db::{Dialect, Savepoint, Store, Tx, redact_url};
pub use delegations::{DelegationRecord, DelegationStore};
pub use executions::{ExecutionRecord, ExecutionStore, NewExecution, StateUpdate};
pub use figures::Figures;
pub use identities::{AccountKey, AccountRecord, IdentityRecord, IdentityStore};
pub use inbox::{Closing, DueWork, InboxActivity, InboxItemRecord, InboxStore};
pub use listing::Listing;
pub use named_secrets::{SecretRecord, SecretStore};
pub use notifications::{NotificationRecord, NotificationStore};
pub use provisioning::{Finished, OpenPlan, ProvisioningStore, Tracking, WorkItem};
pub use queue::{NewTask, OutboxEvent, QueueStore, Task, TaskKind};
pub use request_types::{
    ConfigListRecord, RequestFilter, RequestStepRecord, RequestTypeRecord, RequestTypeStore, StepEnd, TeamMember,
    TeamRecord, TimelineEntry, TypeRequestRecord, TypeRequestStore,
};
pub use requests::{AccessRequestRecord, ApprovalRecord, ApprovalState, RequestItemRecord, RequestStore};
pub use secrets::Keyring;
pub use security::{ApiClient, AuditEntry, AuditQuery, SecurityStore, SigningKeyRecord};
pub use sod::{SodPolicyRecord, SodStore};
pub use user_levels::{HeldLevel, LevelHolder, UserLevelStore};
pub use waiters::{ExecutionWaiter, WaiterStore};
pub use workflows::{WorkflowRecord, WorkflowStore, WorkflowVersion};

use tessera_model::Timestamp;

/// What can go wrong in storage.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migrating the database failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error(
        "the database is at schema {found}, newer than this build knows ({known}): a newer Tessera upgraded it; \
         run that version or a later one (or restore a backup taken before the upgrade)"
    )]
    NewerSchema { found: i64, known: i64 },
    #[error("stored JSON is unreadable: {0}")]
    Json(#[from] serde_json::Error),
    #[error("a stored word is unknown to this build: {0}")]
    Vocabulary(#[from] tessera_model::UnknownValue),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Query(#[from] query::QueryError),
    #[error("{0} not found")]
    NotFound(String),
    #[error("`{0}` is not a database URL Tessera can use: start it with sqlite:// or postgres://")]
    UnsupportedUrl(String),
    #[error("cannot create the data directory {path}: {source}")]
    DataDir { path: String, source: std::io::Error },
    #[error("{0}")]
    SecretKey(String),
    #[error("cannot read or write the secret key file {path}: {reason}")]
    KeyFile { path: String, reason: std::io::Error },
    /// A sealed connector secret that does not open; it names the source and attribute, never the value.
    #[error("source `{source_name}`: connector attribute `{field}` cannot be opened: {reason}")]
    Unsealable { source_name: String, field: String, reason: secrets::OpenError },
}

/// Storage results.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An instant column of `row`: every time is stored as milliseconds since the epoch (`BIGINT`).
pub(crate) fn instant<I: sqlx::ColumnIndex<sqlx::any::AnyRow>>(
    row: &sqlx::any::AnyRow,
    column: I,
) -> Result<Timestamp> {
    Ok(Timestamp::from_millis(sqlx::Row::try_get(row, column)?))
}

/// A nullable instant column of `row`, as [`instant`].
pub(crate) fn instant_opt<I: sqlx::ColumnIndex<sqlx::any::AnyRow>>(
    row: &sqlx::any::AnyRow,
    column: I,
) -> Result<Option<Timestamp>> {
    Ok(sqlx::Row::try_get::<Option<i64>, _>(row, column)?.map(Timestamp::from_millis))
}
