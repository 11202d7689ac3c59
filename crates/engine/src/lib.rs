//! Tessera's workflow runtime: workers take runnable executions from the store, apply the
//! interpreter, and perform the effects it asks for (actions, timers, asks), committing every
//! transition before acting; triggers (events, schedules) start executions. It knows nothing of
//! identities: a domain plugs its asks, end-of-execution hooks and actions in through [`Domain`],
//! and without one it runs ISC workflows on its own.

pub mod actions;
mod delivery;
pub mod domain;
mod engine;
mod events;
pub mod metrics;
pub mod named_secrets;
mod perform;
mod scheduler;
pub mod secrets;
pub mod waiters;
mod worker;
pub mod workflows;

pub use domain::{Ask, Domain};
pub use engine::{Engine, EngineConfig};
pub use perform::Actions;

/// What can go wrong while running executions.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] tessera_store::Error),
    #[error("stored state is unreadable: {0}")]
    Json(#[from] serde_json::Error),
    #[error("workflow {workflow} version {version} cannot run: {reason}")]
    Definition { workflow: String, version: i64, reason: String },
    /// The submitted data is wrong, at a JSON pointer into it where one part is at fault.
    #[error("{0}")]
    Invalid(tessera_model::Invalid),
    #[error("{0}")]
    Conflict(String),
    /// The object cannot change this way while something still uses it (a source with accounts,
    /// an access profile a role grants); `code` says which rule, as a program can act on it.
    #[error("{message}")]
    InUse { code: &'static str, message: String },
    /// The actor may not do this (not an assignee, not an approver).
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("workflow {0} not found")]
    UnknownWorkflow(String),
    /// A workflow's credentials cannot be sealed (this node has no key).
    #[error(transparent)]
    Seal(#[from] crate::secrets::SealError),
    /// A workflow definition the language refuses, with every diagnostic.
    #[error("the workflow definition is invalid")]
    InvalidWorkflow(Vec<tessera_flow::Diagnostic>),
}

impl Error {
    /// Refuses the request (or the state it meets) as a whole.
    pub fn invalid(message: impl std::fmt::Display) -> Self {
        Error::Invalid(tessera_model::Invalid::whole(message.to_string()))
    }

    /// Refuses the part of the submitted document at `pointer`.
    pub fn invalid_at(pointer: impl Into<String>, message: impl std::fmt::Display) -> Self {
        Error::Invalid(tessera_model::Invalid::at(pointer, message.to_string()))
    }
}

/// Engine results.
pub type Result<T, E = Error> = std::result::Result<T, E>;
