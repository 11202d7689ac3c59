//! Where an aggregation's accounts come from: a delimited file read row by row, or a live system
//! read page by page through its connector. Either way the run takes them in batches of
//! [`Record`]s, so there is one aggregation, whatever the source.

use std::collections::VecDeque;
use std::future::Future;
use std::time::Duration;

use serde_json::{Map, Value};
use tessera_connectors::{Account, Connector, ConnectorError, DelimitedReader, Entitlement, LiveConnector, Row};
use tessera_model::RetryPolicy;

use super::aggregate::RowFailure;

/// One account as read: a file row, or an account a connector returned.
#[derive(Debug, Clone)]
pub(crate) struct Record {
    /// The file line the row starts on; for a connector's account, its position in the read (from 1).
    pub(crate) line: u64,
    pub(crate) native_identity: String,
    pub(crate) name: String,
    pub(crate) attributes: Map<String, Value>,
    pub(crate) disabled: bool,
    pub(crate) locked: bool,
}

impl From<Row> for Record {
    fn from(row: Row) -> Self {
        Self {
            line: row.line,
            native_identity: row.native_identity,
            name: row.name,
            attributes: row.attributes,
            disabled: false,
            locked: false,
        }
    }
}

/// How a page read that failed with a retryable error is tried again: three attempts in all, 200 ms
/// before the second and 400 ms before the third.
fn page_retry() -> RetryPolicy {
    RetryPolicy::doubling(3, Duration::from_millis(200), Duration::from_secs(1))
}

/// Calls `read` until it succeeds, fails for good, or has used [`page_retry`]'s attempts. The error
/// names `what` was read and, after retries, the first failure as well as the last: an LDAP paging
/// cursor dies with its connection, so the retry of a later page can fail differently.
pub(crate) async fn with_retries<T, F, Fut>(what: &str, mut read: F) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ConnectorError>>,
{
    let policy = page_retry();
    let mut first: Option<ConnectorError> = None;
    let mut attempt = 0;
    loop {
        let error = match read().await {
            Ok(page) => return Ok(page),
            Err(error) => error,
        };
        let attempts = attempt + 1;
        let wait = policy.delay_after(attempt).filter(|_| error.retryable);
        let Some(wait) = wait else {
            return Err(match first {
                Some(first) if first.message != error.message => format!(
                    "reading {what} failed: {first}; after {attempts} attempts the last one failed with: {error}"
                ),
                Some(_) => format!("reading {what} failed {attempts} times: {error}"),
                None => format!("reading {what} failed: {error}"),
            });
        };
        tracing::debug!(what, attempt = attempts, %error, "a page read failed; retrying");
        first.get_or_insert(error);
        tokio::time::sleep(wait).await;
        attempt += 1;
    }
}

/// Reads every entitlement of a live system, page by page.
pub(crate) async fn entitlements(connector: &LiveConnector) -> Result<Vec<Entitlement>, String> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let at = cursor.as_deref();
        let page = with_retries("the entitlements", move || connector.entitlements(at)).await?;
        all.extend(page.items);
        match page.next {
            Some(next) => cursor = Some(next),
            None => return Ok(all),
        }
    }
}

/// A live system's accounts, read a page at a time as the run asks for them.
#[derive(Debug)]
pub(crate) struct Pager {
    connector: LiveConnector,
    cursor: Option<String>,
    buffer: VecDeque<Account>,
    ended: bool,
    read: u64,
}

impl Pager {
    pub(crate) fn new(connector: LiveConnector) -> Self {
        Self { connector, cursor: None, buffer: VecDeque::new(), ended: false, read: 0 }
    }

    pub(crate) fn connector(&self) -> &LiveConnector {
        &self.connector
    }

    /// The next account; `None` at the end of the read.
    async fn next(&mut self) -> Result<Option<Account>, String> {
        while self.buffer.is_empty() && !self.ended {
            let at = self.cursor.as_deref();
            let connector = &self.connector;
            let what = format!("the accounts after the first {}", self.read);
            let what = if self.read == 0 { "the accounts" } else { what.as_str() };
            let page = with_retries(what, move || connector.accounts(at)).await?;
            self.ended = page.next.is_none();
            self.cursor = page.next;
            self.buffer.extend(page.items);
        }
        Ok(self.buffer.pop_front().inspect(|_| self.read += 1))
    }
}

/// The accounts of one aggregation.
#[derive(Debug)]
pub(crate) enum Reader {
    File { rows: Box<DelimitedReader<std::fs::File>>, total_bytes: u64 },
    Live(Box<Pager>),
}

/// A batch: the records read, and whether the read is over.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    pub(crate) records: Vec<Record>,
    /// Items taken from the source, records and failed rows alike.
    pub(crate) scanned: u64,
    pub(crate) ended: bool,
}

impl Reader {
    /// Reads up to `max` items; failed rows go to `failed`. A live system that stops answering is an
    /// `Err` with the reason; what was read before it is lost with the batch, which is not applied.
    pub(crate) async fn next_batch(&mut self, max: usize, failed: &mut Vec<RowFailure>) -> Result<Batch, String> {
        let mut batch = Batch { records: Vec::with_capacity(max.min(10_000)), ..Batch::default() };
        match self {
            Reader::File { rows, .. } => {
                while batch.scanned < max as u64 {
                    match rows.next() {
                        Some(Ok(row)) => batch.records.push(row.into()),
                        Some(Err(error)) => failed.push(RowFailure { line: error.line, reason: error.reason }),
                        None => {
                            batch.ended = true;
                            break;
                        }
                    }
                    batch.scanned += 1;
                }
            }
            Reader::Live(pager) => {
                while batch.scanned < max as u64 {
                    let Some(account) = pager.next().await? else {
                        batch.ended = true;
                        break;
                    };
                    batch.scanned += 1;
                    batch.records.push(Record {
                        line: pager.read,
                        native_identity: account.native_identity,
                        name: account.name,
                        attributes: account.attributes,
                        disabled: account.disabled,
                        locked: account.locked,
                    });
                }
            }
        }
        Ok(batch)
    }

    /// (bytes read, bytes in all) of a file; zeros for a live system, whose size is not known.
    pub(crate) fn bytes(&self) -> (u64, u64) {
        match self {
            Reader::File { rows, total_bytes } => (rows.bytes_read(), *total_bytes),
            Reader::Live(_) => (0, 0),
        }
    }
}
