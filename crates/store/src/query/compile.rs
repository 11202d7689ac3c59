//! Turning a parsed filter into SQL for one resource and dialect, and `sorters` into an `ORDER BY` list.

use sqlx::Any;
use sqlx::any::AnyArguments;
use sqlx::query::Query;

use super::parse::{Cond, Expr, Literal, Value, check_length};
use super::{Column, FieldKind, Filter, Op, QueryError, Resolved, Resource};
use crate::Dialect;

/// A SQL boolean expression and the values for its placeholders, in placeholder order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sql {
    pub text: String,
    pub binds: Vec<Bind>,
}

/// One value to bind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bind {
    Text(String),
    Int(i64),
    /// Not produced by [`compile`] (booleans are stored as INTEGER and bound as [`Bind::Int`]); for callers'
    /// own binds.
    Bool(bool),
}

/// Binds `binds` to `query` in order, e.g. `bind_all(sqlx::query(&text), &sql.binds)`; a [`Bind::Bool`]
/// is bound as the INTEGER 0 or 1.
pub fn bind_all<'q>(mut query: Query<'q, Any, AnyArguments<'q>>, binds: &[Bind]) -> Query<'q, Any, AnyArguments<'q>> {
    for bind in binds {
        query = match bind {
            Bind::Text(s) => query.bind(s.clone()),
            Bind::Int(i) => query.bind(*i),
            // Booleans are stored as INTEGER 0/1 in both databases.
            Bind::Bool(b) => query.bind(i64::from(*b)),
        };
    }
    query
}

/// Compiles `filter` for `resource` to a SQL boolean expression whose placeholders are `$N`, numbered from
/// `first_placeholder` (1 when the query has no parameters before it).
///
/// `not` is a true complement (a row where the condition is unknown because of a null matches `not`), `ne`
/// matches rows without a value, and `co`/`sw` ignore case.
pub fn compile(
    filter: &Filter,
    resource: &Resource,
    dialect: Dialect,
    first_placeholder: usize,
) -> Result<Sql, QueryError> {
    let mut compiler = Compiler { resource, dialect, next: first_placeholder, text: String::new(), binds: Vec::new() };
    compiler.expr(&filter.0)?;
    Ok(Sql { text: compiler.text, binds: compiler.binds })
}

struct Compiler<'r> {
    resource: &'r Resource,
    dialect: Dialect,
    next: usize,
    text: String,
    binds: Vec<Bind>,
}

impl Compiler<'_> {
    fn expr(&mut self, expr: &Expr) -> Result<(), QueryError> {
        match expr {
            Expr::And(items) | Expr::Or(items) => {
                let joiner = if matches!(expr, Expr::And(_)) { " AND " } else { " OR " };
                self.text.push('(');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        self.text.push_str(joiner);
                    }
                    self.expr(item)?;
                }
                self.text.push(')');
            }
            Expr::Not(inner) => {
                self.text.push_str("((");
                self.expr(inner)?;
                self.text.push_str(") IS NOT TRUE)");
            }
            Expr::Cond(cond) => self.cond(cond)?,
        }
        Ok(())
    }

    fn placeholder(&mut self, bind: Bind) -> String {
        let name = format!("${}", self.next);
        self.next += 1;
        self.binds.push(bind);
        name
    }

    fn cond(&mut self, cond: &Cond) -> Result<(), QueryError> {
        let resolved = self.resource.resolve(&cond.field, cond.field_pos)?;
        let field = resolved.field;
        if !field.ops.contains(&cond.op) {
            let allowed: Vec<&str> = field.ops.iter().map(|op| op.keyword()).collect();
            return Err(QueryError::new(
                cond.op_pos,
                format!("`{}` cannot be filtered with `{}`; it supports {}", cond.field, cond.op, allowed.join(", ")),
            ));
        }
        let json = matches!(field.column, Column::JsonAttributes(_));
        // JSON attribute values are compared as text whatever kind the field declares.
        let kind = if json { FieldKind::Text } else { field.kind };
        let column = column_sql(&resolved, self.dialect);
        let sql = match cond.op {
            Op::IsNull if json => format!("({column} IS NULL OR {column} = '')"),
            Op::Pr if json => format!("({column} IS NOT NULL AND {column} <> '')"),
            Op::IsNull => format!("{column} IS NULL"),
            Op::Pr => format!("{column} IS NOT NULL"),
            Op::Co | Op::Sw => {
                let pattern = self.like_pattern(cond, kind)?;
                let p = self.placeholder(Bind::Text(pattern));
                format!("LOWER({column}) LIKE LOWER({p}) ESCAPE '\\'")
            }
            Op::In => {
                let mut list = Vec::with_capacity(cond.values.len());
                for value in &cond.values {
                    let bind = bind_for(value, kind, &cond.field)?;
                    list.push(self.placeholder(bind));
                }
                format!("{column} IN ({})", list.join(", "))
            }
            op @ (Op::Eq | Op::Ne | Op::Gt | Op::Ge | Op::Lt | Op::Le) => {
                let bind = bind_for(single(cond)?, kind, &cond.field)?;
                let p = self.placeholder(bind);
                let comparison = match op {
                    Op::Eq => "=",
                    // Rows without a value are "not equal" too.
                    Op::Ne => "IS DISTINCT FROM",
                    Op::Gt => ">",
                    Op::Ge => ">=",
                    Op::Lt => "<",
                    _ => "<=",
                };
                format!("{column} {comparison} {p}")
            }
        };
        self.text.push_str(&sql);
        Ok(())
    }

    /// The `LIKE` pattern for `co` or `sw`, with the value's `%`, `_` and `\` taken literally.
    fn like_pattern(&self, cond: &Cond, kind: FieldKind) -> Result<String, QueryError> {
        let value = single(cond)?;
        let Literal::Text(text) = &value.literal else {
            return Err(QueryError::new(value.pos, format!("`{}` takes a quoted string, as in \"abc\"", cond.op)));
        };
        if kind != FieldKind::Text {
            return Err(QueryError::new(
                cond.op_pos,
                format!("`{}` works on text and `{}` is not text", cond.op, cond.field),
            ));
        }
        let mut pattern = String::with_capacity(text.len() + 2);
        if cond.op == Op::Co {
            pattern.push('%');
        }
        for c in text.chars() {
            if matches!(c, '%' | '_' | '\\') {
                pattern.push('\\');
            }
            pattern.push(c);
        }
        pattern.push('%');
        Ok(pattern)
    }
}

fn single(cond: &Cond) -> Result<&Value, QueryError> {
    cond.values.first().ok_or_else(|| QueryError::new(cond.op_pos, format!("`{}` needs a value after it", cond.op)))
}

/// The SQL expression for a resolved field; a JSON key is validated when resolved, so quoting it is safe.
fn column_sql(resolved: &Resolved, dialect: Dialect) -> String {
    match (resolved.field.column, resolved.key.as_deref(), dialect) {
        (Column::Plain(column), _, _) => column.to_owned(),
        (Column::JsonAttributes(column), key, Dialect::Sqlite) => {
            format!("json_extract({column}, '$.\"{}\"')", key.unwrap_or_default())
        }
        (Column::JsonAttributes(column), key, Dialect::Postgres) => {
            format!("({column}::jsonb ->> '{}')", key.unwrap_or_default())
        }
    }
}

/// The bound value of a literal for a field of `kind`, or an error saying what the field takes.
fn bind_for(value: &Value, kind: FieldKind, field: &str) -> Result<Bind, QueryError> {
    let wrong = |takes: &str| QueryError::new(value.pos, format!("`{field}` takes {takes}, not {}", value.literal));
    match (kind, &value.literal) {
        (FieldKind::Text, Literal::Text(s)) => Ok(Bind::Text(s.clone())),
        (FieldKind::Text, _) => Err(wrong("text in quotes")),
        (FieldKind::Integer, Literal::Integer(i)) => Ok(Bind::Int(*i)),
        (FieldKind::Integer, _) => Err(wrong("a whole number without quotes, such as 2")),
        (FieldKind::Boolean, Literal::Boolean(b)) => Ok(Bind::Int(i64::from(*b))),
        (FieldKind::Boolean, Literal::Text(s)) if s.eq_ignore_ascii_case("true") => Ok(Bind::Int(1)),
        (FieldKind::Boolean, Literal::Text(s)) if s.eq_ignore_ascii_case("false") => Ok(Bind::Int(0)),
        (FieldKind::Boolean, _) => Err(wrong("true or false")),
        (FieldKind::Timestamp, Literal::Text(s) | Literal::Bare(s)) => timestamp_millis(s)
            .map(Bind::Int)
            .ok_or_else(|| wrong("an RFC 3339 timestamp such as 2024-01-01T00:00:00Z")),
        (FieldKind::Timestamp, _) => Err(wrong("an RFC 3339 timestamp such as 2024-01-01T00:00:00Z")),
    }
}

/// Milliseconds since the epoch of an RFC 3339 timestamp, or of midnight UTC of a date `YYYY-MM-DD`.
fn timestamp_millis(text: &str) -> Option<i64> {
    if let Ok(at) = chrono::DateTime::parse_from_rfc3339(text) {
        return Some(at.timestamp_millis());
    }
    let date = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
    Some(date.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis())
}

/// A parsed `sorters` list: field names separated by commas, each `-`-prefixed for descending order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sorters(Vec<Sorter>);

#[derive(Debug, Clone, PartialEq, Eq)]
struct Sorter {
    field: String,
    descending: bool,
}

impl Sorters {
    /// Parses `sorters` such as `name,-created`, checking each field against `resource`; an empty or blank
    /// text sorts by nothing.
    pub fn parse(text: &str, resource: &Resource) -> Result<Sorters, QueryError> {
        check_length(text, "sorters list")?;
        let mut sorters = Vec::new();
        if text.trim().is_empty() {
            return Ok(Sorters(sorters));
        }
        let mut start = 0;
        for part in text.split(',') {
            let leading = part.chars().take_while(|c| c.is_whitespace()).count();
            let trimmed = part.trim();
            let pos = start + leading;
            start += part.chars().count() + 1;
            let descending = trimmed.starts_with('-');
            let name = trimmed.strip_prefix('-').unwrap_or(trimmed).trim_start();
            let name_pos = pos + trimmed.chars().count() - name.chars().count();
            if name.is_empty() {
                return Err(QueryError::new(name_pos, "expected a field name here: write sorters as name,-created"));
            }
            resource.resolve(name, name_pos)?;
            if sorters.iter().any(|s: &Sorter| s.field == name) {
                return Err(QueryError::new(name_pos, format!("`{name}` is sorted on twice")));
            }
            sorters.push(Sorter { field: name.to_owned(), descending });
        }
        Ok(Sorters(sorters))
    }

    /// True when there is nothing to sort by.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The fields in order, each with whether it sorts descending.
    pub fn fields(&self) -> impl Iterator<Item = (&str, bool)> {
        self.0.iter().map(|s| (s.field.as_str(), s.descending))
    }

    /// The `ORDER BY` list (without the keywords), e.g. `name ASC NULLS LAST, created DESC NULLS LAST`; empty
    /// when there are no sorters. Rows without a value come last either way, in both databases.
    ///
    /// `resource` must be the one the sorters were parsed with; a field it lacks is left out.
    pub fn order_by(&self, resource: &Resource, dialect: Dialect) -> String {
        let terms: Vec<String> = self
            .0
            .iter()
            .filter_map(|sorter| {
                let resolved = resource.resolve(&sorter.field, 0).ok()?;
                let direction = if sorter.descending { "DESC" } else { "ASC" };
                Some(format!("{} {direction} NULLS LAST", column_sql(&resolved, dialect)))
            })
            .collect();
        terms.join(", ")
    }
}
