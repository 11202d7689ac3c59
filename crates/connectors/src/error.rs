//! The crate's one error type: what can stop a connector before it yields a single account.

use std::path::PathBuf;

/// Why a connector cannot start reading. Problems with one row are [`crate::RowError`]s instead, and reading goes
/// on past them.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A connector attribute is missing, has the wrong type or an unusable value. `key` is the attribute's name in
    /// the source's `connectorAttributes`.
    #[error("connector attribute `{key}`: {message}")]
    Config { key: &'static str, message: String },
    /// The file could not be opened.
    #[error("cannot open {}: {source}", path.display())]
    Open { path: PathBuf, source: std::io::Error },
    /// Reading failed before the header row was complete.
    #[error("reading the header row failed: {0}")]
    Io(#[from] std::io::Error),
    /// The file holds no header row: it is empty or has only blank lines.
    #[error("the file is empty: a header row naming the columns is required")]
    MissingHeader,
    /// The header row cannot be used: bad quoting, undecodable bytes, or a column without a name.
    #[error("header row (line {line}): {reason}")]
    Header { line: u64, reason: String },
    /// Two columns of the header have the same name (after trimming).
    #[error("header row (line {line}): column `{name}` appears twice")]
    DuplicateColumn { line: u64, name: String },
    /// An attribute the configuration names is not a column of the file.
    #[error("connector attribute `{key}` names column `{name}`, which the header row does not have")]
    MissingColumn { key: &'static str, name: String },
}
