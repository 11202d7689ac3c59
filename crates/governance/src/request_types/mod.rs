//! Okta-style request types: teams that own them, configuration lists their dropdowns draw on, the
//! definitions (audience, questions, ordered steps), and the requests raised from them, run step by
//! step in the transactions that advance them — approvals and custom tasks through the inbox, grants
//! through Manage Access, delegated workflows started and waited for — with a timeline of who did
//! what and when.
//!
//! Steps are numbered from 0, as in the definition's JSON pointers. A request copies its type's
//! definition, so editing a type never changes a request under way. Each advance is a conditional
//! update on the request's current step, under the request's row lock, so a repeated delivery (an
//! inbox item closed twice, a workflow's end handed on twice) moves nothing twice.

mod admin;
mod check;
pub mod definition;
mod fields;
mod lists;
mod run;
mod submit;

use serde_json::Value;

pub use admin::{ListDraft, RequestTypeDraft, TeamDraft};
pub use definition::Definition;
pub use lists::ListItem;
pub use submit::NewRequest;

/// Announces a request raised from a request type.
pub const REQUEST_SUBMITTED: &str = "tessera:request-submitted";
/// Announces a request that ended: COMPLETED, DENIED, CANCELLED or FAILED.
pub const REQUEST_CLOSED: &str = "tessera:request-closed";

/// One problem with a submitted document, at its JSON pointer.
pub use tessera_model::Invalid as Problem;

fn describe(problems: &[Problem]) -> String {
    problems.iter().map(Problem::to_string).collect::<Vec<_>>().join("; ")
}

/// What can go wrong with teams, lists, request types and their requests.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Engine(#[from] crate::Error),
    /// A body with problems, each located.
    #[error("{}", describe(.0))]
    Invalid(Vec<Problem>),
    /// The actor may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// The object is not in a state that allows it (a closed request, an unpublished type).
    #[error("{0}")]
    Conflict(String),
    /// A team or list still named by something else.
    #[error("{0}")]
    InUse(String),
    #[error("{0} not found")]
    NotFound(String),
}

impl From<tessera_store::Error> for Error {
    fn from(error: tessera_store::Error) -> Self {
        Error::Engine(crate::Error::Store(error))
    }
}

impl Error {
    fn invalid(pointer: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Invalid(vec![Problem::at(pointer, message)])
    }
}

/// Results of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Who acts: a person (a token bound to an identity) or, with `identity` None, a service client that
/// the API has already found holds the managing scope, and so may act on anything.
#[derive(Debug, Clone, Copy)]
pub struct Actor<'a> {
    pub identity: Option<&'a str>,
    /// The token holds `sp:scopes:all`. With a service client (no identity), an administrator: they
    /// alone create and delete teams, change who is in a team and who edits for it, and let a request
    /// type act without an approval first (`allowUnapprovedActions`). Managing request types alone is
    /// not enough, as a team admin who could add themselves to teams or skip approvals could grant
    /// themselves anything.
    pub all_scopes: bool,
    /// How the audit log names the caller.
    pub audit: &'a str,
}

impl<'a> Actor<'a> {
    /// A service client acting for no one.
    pub const fn service(audit: &'a str) -> Self {
        Actor { identity: None, all_scopes: false, audit }
    }

    /// A person acting through a token bound to them, without `sp:scopes:all`.
    pub const fn person(identity: &'a str, audit: &'a str) -> Self {
        Actor { identity: Some(identity), all_scopes: false, audit }
    }

    /// How the timeline names the actor: the person, or none for a service.
    fn named(&self) -> Option<&str> {
        self.identity
    }

    /// Whether the actor administers request types: a service client, or a token with `sp:scopes:all`.
    fn administers(&self) -> bool {
        self.identity.is_none() || self.all_scopes
    }
}

/// Why a person may not do what only an administrator does.
fn administrators_only(what: &str) -> Error {
    Error::Forbidden(format!(
        "{what} takes an administrator: a client bound to no identity, or a token with sp:scopes:all"
    ))
}

/// A member name as one segment of a JSON pointer (RFC 6901: `~` and `/` escaped).
fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

fn new_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

/// An identity's email: its `email` column, else its `email` attribute.
fn email_of(identity: &tessera_store::IdentityRecord) -> Option<String> {
    identity
        .email
        .clone()
        .filter(|e| !e.trim().is_empty())
        .or_else(|| identity.attributes.get("email").and_then(Value::as_str).map(str::to_owned))
}
