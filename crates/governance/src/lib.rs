//! Tessera's governance domain: aggregation from sources, identities and their lifecycle, access and
//! its provisioning, access requests with approvals and hooks, request types, separation of duties,
//! delegations, and the work waiting for people with its deadlines and notifications. It plugs into
//! the workflow runtime (`tessera_engine`) through [`tessera_engine::Domain`]; the runtime knows
//! nothing of it.

mod access;
pub mod access_hooks;
pub mod actions;
mod aggregate;
mod apply;
pub mod approval_deadlines;
pub mod approvals;
mod asks;
pub mod delegations;
mod deletions;
mod entitlements;
mod hooks;
mod imports;
pub mod inbox;
mod lifecycle;
mod live;
pub mod members;
pub mod metrics;
mod node;
mod notify;
pub mod objects;
pub mod payloads;
mod policy;
pub mod provisioning;
pub mod push;
mod reader;
pub mod request_types;
pub mod requests;
pub mod retention;
mod runs;
mod schedules;
pub mod shapes;
pub mod sod;
mod supersede;
mod user_levels;

pub use access::{AccessChange, AccessItem, AccessOutcome, ExplicitRequest};
pub use aggregate::{AggregateOptions, Progress, RowFailure, Summary, aggregate, check_source};
pub use imports::{ImportDirs, ImportRefused};
pub use lifecycle::{aggregate_now, set_lifecycle_state};
pub use node::{Governance, GovernanceConfig};
pub(crate) use runs::STALE;
/// The governance domain shares the runtime's errors: the HTTP edge maps one set.
pub use tessera_engine::{Error, Result};
