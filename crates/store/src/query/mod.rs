//! The ISC list parameters `filters` and `sorters`: parsed once, checked against a resource's fields and
//! compiled to a SQL boolean expression and an `ORDER BY` list, with every value bound, never interpolated.
//!
//! The syntax follows SailPoint Identity Security Cloud's "standard collection parameters":
//! `(name eq "a" or name eq "b") and lifecycleState ne "inactive"`, `id in ("a","b")`, `manager.id isnull`,
//! `pr email`, `not name co "x"`; `not` binds tighter than `and`, which binds tighter than `or`.

mod compile;
mod parse;
mod search;

pub use compile::Sorters;
pub use compile::{Bind, Sql, bind_all, compile};
pub use parse::{Filter, MAX_DEPTH, MAX_LENGTH};
pub use search::{SEARCH_SUPPORTED, quoted, search_filter, search_sort_field};

use std::fmt;

/// A filter or sorter the caller cannot use, with where in its text the problem is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (at character {position})")]
pub struct QueryError {
    /// Offset of the offending part, counted in characters (not bytes) from 0.
    pub position: usize,
    /// What is wrong and what would be right, for a person to act on.
    pub message: String,
}

impl QueryError {
    pub(crate) fn new(position: usize, message: impl Into<String>) -> Self {
        Self { position, message: message.into() }
    }
}

/// A comparison a filter can make on one field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    /// Contains, case-insensitively.
    Co,
    /// Starts with, case-insensitively.
    Sw,
    In,
    IsNull,
    /// Present: not null (and, in a JSON attribute, not the empty string).
    Pr,
}

impl Op {
    /// Every operator, in the order error messages list them.
    pub const ALL: &'static [Op] =
        &[Op::Eq, Op::Ne, Op::Gt, Op::Ge, Op::Lt, Op::Le, Op::Co, Op::Sw, Op::In, Op::IsNull, Op::Pr];

    /// The operator's keyword as written in a filter.
    pub fn keyword(self) -> &'static str {
        match self {
            Op::Eq => "eq",
            Op::Ne => "ne",
            Op::Gt => "gt",
            Op::Ge => "ge",
            Op::Lt => "lt",
            Op::Le => "le",
            Op::Co => "co",
            Op::Sw => "sw",
            Op::In => "in",
            Op::IsNull => "isnull",
            Op::Pr => "pr",
        }
    }

    /// The operator named by `word`, ignoring case.
    pub fn from_keyword(word: &str) -> Option<Op> {
        Op::ALL.iter().copied().find(|op| op.keyword().eq_ignore_ascii_case(word))
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.keyword())
    }
}

/// Where a field's value lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    /// A SQL column expression, written into the query as it is: only ever a constant from a [`Resource`].
    Plain(&'static str),
    /// A TEXT column holding a JSON object. The key is what follows the last `.` of the field's name, or,
    /// for a wildcard field `prefix.*`, whatever follows `prefix.` in the filter (letters, digits, `_`, `-`).
    /// Its values are compared as text.
    JsonAttributes(&'static str),
}

/// What a field holds, which decides the literals it accepts and how they are bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// Takes quoted strings.
    Text,
    /// Takes whole numbers.
    Integer,
    /// Takes `true` or `false`; stored as INTEGER 0 or 1.
    Boolean,
    /// Stored as milliseconds since the Unix epoch; takes RFC 3339 timestamps, quoted or not, or a date
    /// `YYYY-MM-DD` meaning its midnight in UTC.
    Timestamp,
}

/// One field a resource lets callers filter and sort on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// The name in the API, e.g. `lifecycleState`; a name ending in `.*` (e.g. `attributes.*`) stands for
    /// every key of a [`Column::JsonAttributes`] column.
    pub name: &'static str,
    pub column: Column,
    pub kind: FieldKind,
    /// The operators filters may use on it.
    pub ops: &'static [Op],
}

/// The fields of one listed resource (identities, accounts…): the whole of what callers may filter and sort by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resource {
    pub fields: &'static [Field],
}

/// A field as one filter or sorter named it: the field's definition and, for a JSON column, the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Resolved {
    pub(crate) field: &'static Field,
    pub(crate) key: Option<String>,
}

impl Resource {
    /// The field called `name` (an exact field wins over a wildcard), or an error at `position` that lists
    /// the fields there are.
    pub(crate) fn resolve(&self, name: &str, position: usize) -> Result<Resolved, QueryError> {
        if let Some(field) = self.fields.iter().find(|f| f.name == name) {
            let key = match field.column {
                Column::JsonAttributes(_) => Some(checked_key(name.rsplit('.').next().unwrap_or(name), position)?),
                Column::Plain(_) => None,
            };
            return Ok(Resolved { field, key });
        }
        for field in self.fields {
            let Some(prefix) = field.name.strip_suffix('*') else { continue };
            if let Some(key) = name.strip_prefix(prefix) {
                let key = checked_key(key, position + prefix.chars().count())?;
                return Ok(Resolved { field, key: Some(key) });
            }
        }
        Err(QueryError::new(position, format!("unknown field `{name}`; the fields are {}", self.field_list())))
    }

    /// The field names for messages, a wildcard shown as `prefix.<key>`.
    fn field_list(&self) -> String {
        let names: Vec<String> = self
            .fields
            .iter()
            .map(|f| match f.name.strip_suffix('*') {
                Some(prefix) => format!("{prefix}<key>"),
                None => f.name.to_owned(),
            })
            .collect();
        names.join(", ")
    }
}

/// A JSON key as it may appear in SQL: letters, digits, `_` and `-`, nothing else.
fn checked_key(key: &str, position: usize) -> Result<String, QueryError> {
    if key.is_empty() {
        return Err(QueryError::new(position, "an attribute name must follow the `.`"));
    }
    if !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        return Err(QueryError::new(
            position,
            format!("`{key}` is not an attribute name: use only letters, digits, `_` and `-`"),
        ));
    }
    Ok(key.to_owned())
}
