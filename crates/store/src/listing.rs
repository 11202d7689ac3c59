//! Paged, filtered and sorted lists: ISC's `filters`, `sorters`, `limit`, `offset` and `count`
//! turned into one SELECT (and one COUNT when asked) over a resource's table.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::query::{self, Bind, Filter, Resource, Sorters, bind_all};
use crate::{Dialect, Result, Tx};

/// What a list request asks for.
#[derive(Debug, Clone, Copy)]
pub struct Listing<'a> {
    pub filter: Option<&'a Filter>,
    pub sorters: Option<&'a Sorters>,
    pub limit: i64,
    pub offset: i64,
    /// Whether to count every match (ISC's `count=true`, answered in `X-Total-Count`).
    pub count: bool,
}

impl Default for Listing<'_> {
    fn default() -> Self {
        Self { filter: None, sorters: None, limit: 250, offset: 0, count: false }
    }
}

impl Tx {
    /// Runs `SELECT {columns} FROM {table} WHERE {fixed} AND <filter> ORDER BY <sorters>, {tiebreak}
    /// LIMIT … OFFSET …`, with `fixed_binds` bound to `$1…` first; returns the rows and, when
    /// counted, the number of matches.
    pub(crate) async fn list_rows(
        &mut self,
        resource: &Resource,
        select: &str,
        fixed: &str,
        fixed_binds: Vec<Bind>,
        tiebreak: &str,
        listing: &Listing<'_>,
    ) -> Result<(Vec<AnyRow>, Option<i64>)> {
        let mut binds = fixed_binds;
        let mut condition = fixed.to_owned();
        if let Some(filter) = listing.filter {
            let sql = query::compile(filter, resource, self.dialect, binds.len() + 1)?;
            condition = format!("({condition}) AND ({})", sql.text);
            binds.extend(sql.binds);
        }
        let mut order = listing.sorters.map(|s| s.order_by(resource, self.dialect)).unwrap_or_default();
        if !order.is_empty() {
            order.push_str(", ");
        }
        order.push_str(tiebreak);
        let next = binds.len() + 1;
        let sql = format!("{select} WHERE {condition} ORDER BY {order} LIMIT ${next} OFFSET ${}", next + 1);
        let mut page = binds.clone();
        page.push(Bind::Int(listing.limit));
        page.push(Bind::Int(listing.offset));
        let rows = bind_all(sqlx::query(&sql), &page).fetch_all(&mut *self.inner).await?;
        let total = if listing.count {
            let from = select.split_once(" FROM ").map_or(select, |(_, from)| from);
            let sql = format!("SELECT COUNT(*) FROM {from} WHERE {condition}");
            Some(bind_all(sqlx::query(&sql), &binds).fetch_one(&mut *self.inner).await?.try_get::<i64, _>(0)?)
        } else {
            None
        };
        Ok((rows, total))
    }
}

/// `($1, $2), ($3, $4)`-style groups of `width` placeholders for `rows` rows. SQLite gets plain `?`
/// (bound in the same order): sqlx looks up each numbered SQLite parameter by name, a linear scan,
/// which made a 2,400-parameter INSERT spend most of its time finding its parameters.
pub(crate) fn value_groups(dialect: Dialect, rows: usize, width: usize) -> String {
    (0..rows).map(|row| format!("({})", placeholders(dialect, row * width + 1, width))).collect::<Vec<_>>().join(", ")
}

/// `count` comma-separated placeholders, numbered from `first` on PostgreSQL.
pub(crate) fn placeholders(dialect: Dialect, first: usize, count: usize) -> String {
    match dialect {
        Dialect::Sqlite => vec!["?"; count].join(", "),
        Dialect::Postgres => (first..first + count).map(|i| format!("${i}")).collect::<Vec<_>>().join(", "),
    }
}
