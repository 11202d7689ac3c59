//! Identity governance rules read from ISC JSON: attribute transforms, role membership criteria, lifecycle states
//! and sources' create policies.
//!
//! Each rule is parsed once into a typed, checked form (regexes compiled, names resolved) and then evaluated many
//! times against an identity's accounts and attributes. Parsing reports what was wrong and where, as a JSON
//! pointer relative to the document handed to `parse`.

mod criteria;
mod dates;
mod lifecycle;
mod policy;
mod template;
mod transform;

use serde_json::{Map, Value};

pub(crate) use crate::json_kind;

pub use criteria::{Membership, Subject};
pub use lifecycle::{AccountAction, IdentityState, LifecycleState};
pub use policy::CreatePolicy;
pub use transform::{AttributeMappings, Context, Transform};

/// Why a governance document was refused: where (a JSON pointer into the submitted document) and what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{pointer}: {message}")]
pub struct Error {
    /// The JSON pointer (RFC 6901) of the offending value, relative to the document given to `parse`.
    pub pointer: String,
    /// What was wrong with it.
    pub message: String,
}

impl Error {
    pub(crate) fn new(pointer: &str, message: impl Into<String>) -> Self {
        Self { pointer: pointer.to_owned(), message: message.into() }
    }
}

/// One account an identity holds on a source, as an aggregation read it.
#[derive(Debug, Clone, Copy)]
pub struct Account<'a> {
    /// The id of the source the account lives on.
    pub source_id: &'a str,
    /// The display name of that source, as transforms' `sourceName` refer to it.
    pub source_name: &'a str,
    /// The account's attributes; multi-valued ones are JSON arrays.
    pub attributes: &'a Map<String, Value>,
}

/// `base` extended by one reference token, escaped as RFC 6901 asks (`~` → `~0`, `/` → `~1`).
pub(crate) fn pointer(base: &str, token: &str) -> String {
    let mut out = String::with_capacity(base.len() + token.len() + 1);
    out.push_str(base);
    out.push('/');
    for ch in token.chars() {
        match ch {
            '~' => out.push_str("~0"),
            '/' => out.push_str("~1"),
            other => out.push(other),
        }
    }
    out
}

/// `base` extended by an array index.
pub(crate) fn pointer_index(base: &str, index: usize) -> String {
    format!("{base}/{index}")
}

/// `value` as a JSON object, or an error at `at`.
pub(crate) fn expect_object<'v>(value: &'v Value, at: &str) -> Result<&'v Map<String, Value>, Error> {
    value.as_object().ok_or_else(|| Error::new(at, format!("expected an object, found {}", json_kind(value))))
}

/// The string member `key` of `object`, absent and null both read as `None`.
pub(crate) fn optional_str<'v>(object: &'v Map<String, Value>, key: &str, at: &str) -> Result<Option<&'v str>, Error> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(other) => Err(Error::new(&pointer(at, key), format!("expected a string, found {}", json_kind(other)))),
    }
}

/// The string member `key` of `object`, which must be present and not empty.
pub(crate) fn required_str<'v>(object: &'v Map<String, Value>, key: &str, at: &str) -> Result<&'v str, Error> {
    match optional_str(object, key, at)? {
        None => Err(Error::new(&pointer(at, key), "is required")),
        Some("") => Err(Error::new(&pointer(at, key), "must not be empty")),
        Some(text) => Ok(text),
    }
}
