//! Aggregation: every row of a source's file, or every account of its live system (SCIM, LDAP),
//! read as an account, compared with the stored accounts, correlated to an identity (a new one for a
//! new account on an authoritative source), and the identity recomputed. Changes, lifecycle actions,
//! birthright roles and their events commit together a batch of rows at a time; a malformed row is
//! reported with its line and skipped. A live source's entitlements are read and stored first.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Value, json};
use tessera_connectors::{DelimitedConfig, DelimitedReader, LiveConnector};
use tessera_model::{AggregationStatus, Clock, Timestamp};
use tessera_store::{
    AccessStore, AccountKey, AccountRecord, AggregationRecord, CatalogKind, CatalogObject, CatalogStore,
    IdentityRecord, IdentityStore, QueueStore, Store, Tx,
};

use super::apply::{Batch, IdentityChange};
use super::entitlements;
use super::imports::ImportDirs;
use super::payloads;
use super::policy::Policy;
use super::reader::{self, Pager, Reader, Record};
use crate::{Error, Result};

/// How to run an aggregation.
#[derive(Debug, Clone)]
pub struct AggregateOptions {
    /// The run's id, when the caller must know it before the run starts (an API answering 202).
    pub id: Option<String>,
    /// Read this file instead of the one the source names (a delimited-file source only): an upload,
    /// or a file the operator named on the command line.
    pub file: Option<PathBuf>,
    /// Where the file a source names may be (an engine's runs use its configured directories).
    pub imports: ImportDirs,
    /// Progress is written to the aggregation's record at most this often.
    pub progress_interval: Duration,
    /// Rows per transaction.
    pub batch_rows: usize,
    /// Set to stop the run at the next batch: what was applied stays, nothing is removed, and the
    /// run is recorded `INTERRUPTED` with its counts, for the next run to finish.
    pub stop: Option<Arc<AtomicBool>>,
}

impl Default for AggregateOptions {
    fn default() -> Self {
        Self {
            id: None,
            file: None,
            imports: ImportDirs::default(),
            progress_interval: Duration::from_millis(500),
            batch_rows: 5000,
            stop: None,
        }
    }
}

/// Where a running aggregation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub rows: u64,
    /// Of the file; both 0 for a live system, whose size is not known ahead.
    pub bytes_read: u64,
    pub total_bytes: u64,
}

/// A row that was not applied, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowFailure {
    pub line: u64,
    pub reason: String,
}

/// What an aggregation did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub id: String,
    pub source_id: String,
    /// `SUCCESS`, `WARNING` (some rows failed, or entitlements gone from the system are kept),
    /// `ERROR` (stopped: nothing was removed) or `INTERRUPTED` (stopped on request: nothing removed).
    pub status: AggregationStatus,
    pub scanned: u64,
    pub added: u64,
    pub changed: u64,
    pub unchanged: u64,
    pub removed: u64,
    pub identities_created: u64,
    pub identities_updated: u64,
    pub identities_deleted: u64,
    /// A live source's entitlements stored for the first time, changed, and removed.
    pub entitlements_added: u64,
    pub entitlements_changed: u64,
    pub entitlements_removed: u64,
    pub failed: Vec<RowFailure>,
    /// What went wrong without failing a row, one sentence each.
    pub warnings: Vec<String>,
    pub message: Option<String>,
    pub started_at: Timestamp,
    pub completed_at: Timestamp,
}

/// Failed rows kept in the record and the event; the count is always exact.
const KEPT_FAILURES: usize = 1000;
/// Stored accounts read per query when a run starts.
const KEY_PAGE: i64 = 50_000;
/// The delete threshold when a source names none, in percent (ISC's default).
const DEFAULT_DELETE_THRESHOLD: f64 = 10.0;

impl Summary {
    fn stats(&self) -> Value {
        json!({
            "scanned": self.scanned, "unchanged": self.unchanged, "changed": self.changed, "added": self.added,
            "removed": self.removed, "failed": self.failed.len(), "identitiesCreated": self.identities_created,
            "identitiesUpdated": self.identities_updated, "identitiesDeleted": self.identities_deleted,
            "entitlementsAdded": self.entitlements_added, "entitlementsChanged": self.entitlements_changed,
            "entitlementsRemoved": self.entitlements_removed,
        })
    }

    fn record(&self, processed: u64, now: Timestamp, completed: bool) -> AggregationRecord {
        let errors: Vec<Value> = self.failed.iter().take(KEPT_FAILURES).map(|f| json!(f)).collect();
        AggregationRecord {
            id: self.id.clone(),
            source_id: self.source_id.clone(),
            status: self.status,
            started_at: self.started_at,
            completed_at: completed.then_some(now),
            processed: processed as i64,
            stats: self.stats(),
            errors: Value::Array(errors),
            message: self.message.clone(),
            updated_at: now,
        }
    }
}

/// Where a source's accounts are read from.
enum Input {
    File { config: DelimitedConfig, path: PathBuf },
    Live,
}

/// A source ready to aggregate.
struct Plan {
    source: CatalogObject,
    input: Input,
    authoritative: bool,
    manager_attribute: Option<String>,
    delete_threshold: f64,
    /// (identity attribute, account attribute) pairs tried in order for a new account.
    correlation: Vec<(String, String)>,
}

/// How a source is read, from its document: a file (`file` overriding the one it names, which must
/// be in `imports`) or its live system.
fn input(source: &CatalogObject, file: Option<&Path>, imports: &ImportDirs) -> Result<Input> {
    let doc = &source.document;
    let connector = doc.get("connector").and_then(Value::as_str).unwrap_or_default();
    let attributes = doc.get("connectorAttributes").cloned().unwrap_or_else(|| json!({}));
    if LiveConnector::is_live(connector) {
        if file.is_some() {
            return Err(Error::invalid(format!(
                "source `{}` reads its accounts from its system (the `{connector}` connector), not from a file; \
                 aggregate it without one",
                source.name
            )));
        }
        return Ok(Input::Live);
    }
    if !matches!(connector, "delimited-file" | "DelimitedFile") {
        return Err(Error::invalid(format!(
            "source `{}` uses the `{connector}` connector, which has no system to read accounts from; only \
             delimited-file, scim and ldap sources aggregate",
            source.name
        )));
    }
    let config = DelimitedConfig::from_json(&attributes).map_err(|e| Error::invalid(e.to_string()))?;
    let path = match file {
        Some(path) => path.to_owned(),
        None => {
            let configured = attributes.get("file").and_then(Value::as_str).ok_or_else(|| {
                Error::invalid(format!(
                    "source `{}` names no file (connectorAttributes.file); upload one or pass a file",
                    source.name
                ))
            })?;
            imports
                .resolve(configured)
                .map_err(|refused| Error::invalid(format!("source `{}`: {refused}", source.name)))?
        }
    };
    Ok(Input::File { config, path })
}

/// Checks that a source can be aggregated now, as [`aggregate`] will: a delimited-file source's
/// attributes and that its file is in `imports` (it is not opened), or a live source's connector
/// configuration. An [`Error::Invalid`] says what is wrong.
pub async fn check_source(
    store: &Store,
    source: &CatalogObject,
    file: Option<&Path>,
    imports: &ImportDirs,
) -> Result<()> {
    match input(source, file, imports)? {
        Input::File { .. } => Ok(()),
        Input::Live => crate::live::live_connector(store, source)?.map(|_| ()).ok_or_else(|| {
            Error::invalid(format!("source `{}` has no live system to read accounts from", source.name))
        }),
    }
}

/// A source's correlation rules: (identity attribute, account attribute) pairs, in order.
pub(crate) fn correlation_rules(source: &Value) -> Vec<(String, String)> {
    source
        .get("correlation")
        .and_then(Value::as_array)
        .map(|rules| {
            rules
                .iter()
                .filter_map(|r| {
                    Some((
                        r.get("identityAttribute")?.as_str()?.to_owned(),
                        r.get("accountAttribute")?.as_str()?.to_owned(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn plan(source: CatalogObject, file: Option<&Path>, imports: &ImportDirs) -> Result<Plan> {
    let input = input(&source, file, imports)?;
    let doc = &source.document;
    let attributes = doc.get("connectorAttributes").cloned().unwrap_or_else(|| json!({}));
    let correlation = correlation_rules(doc);
    Ok(Plan {
        authoritative: doc.get("authoritative").and_then(Value::as_bool).unwrap_or(false),
        manager_attribute: attributes.get("managerAttribute").and_then(Value::as_str).map(str::to_owned),
        delete_threshold: doc.get("deleteThreshold").and_then(Value::as_f64).unwrap_or(DEFAULT_DELETE_THRESHOLD),
        input,
        correlation,
        source,
    })
}

impl Plan {
    /// Opens the file, or makes the connector (which connects on its first read).
    fn open(&self, store: &Store) -> Result<Reader> {
        match &self.input {
            Input::File { config, path } => {
                let rows = DelimitedReader::open(path, config).map_err(|e| Error::invalid(e.to_string()))?;
                let total_bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
                Ok(Reader::File { rows: Box::new(rows), total_bytes })
            }
            Input::Live => {
                let connector = crate::live::live_connector(store, &self.source)?.ok_or_else(|| {
                    Error::invalid(format!("source `{}` has no live system to read accounts from", self.source.name))
                })?;
                Ok(Reader::Live(Box::new(Pager::new(connector))))
            }
        }
    }
}

/// The hash an account's attributes and flags are compared by. A file's rows have no flags, so their
/// hash is the attributes' alone, as it always was.
fn hash_of(serialized: &str, disabled: bool, locked: bool) -> i64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    serialized.hash(&mut hasher);
    if disabled || locked {
        (disabled, locked).hash(&mut hasher);
    }
    hasher.finish() as i64
}

/// Aggregates a source; `on_progress` hears about every batch.
///
/// A live system that stops answering (after a few retries of a page) ends the run `ERROR`: what
/// earlier batches applied stays, and nothing is removed, neither accounts nor entitlements.
pub async fn aggregate(
    store: &Store,
    clock: &dyn Clock,
    source_id: &str,
    options: &AggregateOptions,
    on_progress: &mut (dyn FnMut(&Progress) + Send),
) -> Result<Summary> {
    let now = || clock.now();
    let mut tx = store.begin().await?;
    let source = tx
        .object_named(CatalogKind::Source, source_id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("source {source_id}")))?;
    let plan = plan(source, options.file.as_deref(), &options.imports)?;
    let mut reader = plan.open(store)?;
    let mut known = known_accounts(&mut tx, &plan.source.id).await?;
    let existing = known.len();
    let started = now();
    let mut summary = Summary {
        id: options.id.clone().unwrap_or_else(|| uuid::Uuid::now_v7().simple().to_string()),
        source_id: plan.source.id.clone(),
        status: AggregationStatus::Running,
        started_at: started,
        ..Summary::default()
    };
    // A run the API announced is already recorded as PENDING under its id.
    if tx.aggregation(&summary.id).await?.is_some() {
        tx.update_aggregation(&summary.record(0, started, false)).await?;
    } else {
        tx.insert_aggregation(&summary.record(0, started, false)).await?;
    }
    tx.commit().await?;

    // Entitlements first, so the accounts' memberships name entitlements that exist.
    let mut stopped: Option<String> = None;
    let mut synced = None;
    if let Reader::Live(pager) = &reader {
        match reader::entitlements(pager.connector()).await {
            Ok(read) => {
                let mut tx = store.begin().await?;
                let sync = entitlements::store(&mut tx, &plan.source, read, now()).await?;
                tx.commit().await?;
                summary.entitlements_added = sync.added;
                summary.entitlements_changed = sync.changed;
                synced = Some(sync);
            }
            Err(message) => stopped = Some(message),
        }
    }
    let policy = Policy::load(&mut store.begin().await?).await?;

    let mut run = Run { plan: &plan, policy: &policy, read: 0, correlation: HashMap::new(), managers: Vec::new() };
    let mut last_write = Instant::now();
    let mut interrupted = false;
    while stopped.is_none() {
        if options.stop.as_ref().is_some_and(|stop| stop.load(Ordering::Relaxed)) {
            interrupted = true;
            break;
        }
        let batch = match reader.next_batch(options.batch_rows.max(1), &mut summary.failed).await {
            Ok(batch) => batch,
            Err(message) => {
                stopped = Some(message);
                break;
            }
        };
        summary.scanned += batch.scanned;
        if !batch.records.is_empty() {
            let mut tx = store.begin().await?;
            run.apply_rows(&mut tx, &mut known, &batch.records, &mut summary, now()).await?;
            if last_write.elapsed() >= options.progress_interval {
                tx.update_aggregation(&summary.record(summary.scanned, now(), false)).await?;
                last_write = Instant::now();
            }
            tx.commit().await?;
        }
        let (bytes_read, total_bytes) = reader.bytes();
        on_progress(&Progress { rows: summary.scanned, bytes_read, total_bytes });
        if batch.ended {
            break;
        }
    }

    let mut tx = store.begin().await?;
    run.resolve_managers(&mut tx, &known, now()).await?;
    if interrupted {
        summary.status = AggregationStatus::Interrupted;
        summary.message = Some(format!(
            "interrupted after {} rows: the {} accounts read were applied and nothing was removed; run the \
             aggregation again to finish",
            summary.scanned, run.read
        ));
    } else if let Some(reason) = stopped {
        summary.status = AggregationStatus::Error;
        summary.message = Some(format!(
            "aggregation stopped: {reason}. The {} accounts read before were applied; nothing was removed",
            run.read
        ));
    } else {
        finish(&mut tx, &mut run, known, existing, synced, &mut summary, now()).await?;
    }
    let completed = now();
    summary.completed_at = completed;
    tx.update_aggregation(&summary.record(summary.scanned, completed, true)).await?;
    tx.publish(payloads::AGGREGATION_COMPLETED, &completed_event(&plan.source, &summary), completed).await?;
    tx.commit().await?;
    Ok(summary)
}

/// What a run knows of the source's stored accounts before it reads any.
async fn known_accounts(tx: &mut Tx, source_id: &str) -> Result<HashMap<String, Known>> {
    let mut known: HashMap<String, Known> = HashMap::new();
    let mut after = String::new();
    loop {
        let page = tx.account_keys(source_id, &after, KEY_PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.native_identity.clone();
        let full = page.len() as i64 == KEY_PAGE;
        known.extend(page.into_iter().map(|k| {
            (k.native_identity, Known { id: k.id, identity_id: k.identity_id, hash: k.attributes_hash, line: 0 })
        }));
        if !full {
            break;
        }
    }
    Ok(known)
}

/// The end of a run that read everything: the accounts not read are removed within the delete
/// threshold, and so are the entitlements gone from the system.
async fn finish(
    tx: &mut Tx,
    run: &mut Run<'_>,
    known: HashMap<String, Known>,
    existing: usize,
    synced: Option<entitlements::EntitlementSync>,
    summary: &mut Summary,
    now: Timestamp,
) -> Result<()> {
    let plan = run.plan;
    let missing: Vec<AccountKey> = known
        .into_iter()
        .filter(|(_, k)| k.line == 0)
        .map(|(native, k)| AccountKey {
            id: k.id,
            native_identity: native,
            identity_id: k.identity_id,
            attributes_hash: k.hash,
        })
        .collect();
    let share = if existing == 0 { 0.0 } else { missing.len() as f64 * 100.0 / existing as f64 };
    if share > plan.delete_threshold {
        let read_from = if matches!(plan.input, Input::Live) { "the system" } else { "the file" };
        summary.status = AggregationStatus::Error;
        summary.message = Some(format!(
            "aggregation stopped before removing accounts: {} of {existing} accounts ({share:.1}%) are missing from \
             {read_from}, over the source's delete threshold of {}%; check {read_from}, or raise deleteThreshold",
            missing.len(),
            plan.delete_threshold
        ));
        return Ok(());
    }
    run.remove(tx, &missing, summary, now).await?;
    let mut messages = Vec::new();
    if let Some(mut sync) = synced {
        entitlements::remove_gone(tx, &mut sync).await?;
        summary.entitlements_removed = sync.removed;
        if !sync.kept.is_empty() {
            let warning = format!(
                "{} entitlement(s) no longer on the system were kept because access profiles or identities refer \
                 to them: {}",
                sync.kept.len(),
                sync.kept.join(", ")
            );
            messages.push(warning.clone());
            summary.warnings.push(warning);
        }
    }
    if !summary.failed.is_empty() {
        messages.insert(0, format!("{} rows were skipped; see `failed` for their lines", summary.failed.len()));
    }
    summary.status = if messages.is_empty() { AggregationStatus::Success } else { AggregationStatus::Warning };
    summary.message = (!messages.is_empty()).then(|| messages.join("; "));
    Ok(())
}

fn completed_event(source: &CatalogObject, summary: &Summary) -> Value {
    // "Error" as tenants send it (the community's failure-notification workflows compare against it),
    // though ISC's schema lists "Failed"; an interrupted run is ISC's "Terminated".
    let status = match summary.status {
        AggregationStatus::Success => "Success",
        AggregationStatus::Warning => "Warning",
        AggregationStatus::Interrupted => "Terminated",
        AggregationStatus::Error | AggregationStatus::Pending | AggregationStatus::Running => "Error",
    };
    let errors: Vec<String> =
        summary.message.iter().filter(|_| matches!(status, "Error" | "Terminated")).cloned().collect();
    let rows = summary.failed.iter().take(100).map(|f| format!("line {}: {}", f.line, f.reason));
    let warnings: Vec<String> = summary.warnings.iter().cloned().chain(rows).collect();
    json!({
        "source": {"type": "SOURCE", "id": source.id, "name": source.name},
        "status": status,
        "started": summary.started_at.to_string(),
        "completed": summary.completed_at.to_string(),
        "errors": errors,
        "warnings": warnings,
        "stats": {
            "scanned": summary.scanned, "unchanged": summary.unchanged, "changed": summary.changed,
            "added": summary.added, "removed": summary.removed,
        },
    })
}

/// What a run knows of one of the source's accounts, stored before or read in this run, by native
/// identity. Kept small: a run over ten million accounts holds one of these for each.
struct Known {
    id: String,
    identity_id: Option<String>,
    hash: i64,
    /// The line the account was read from in this run; 0 until it is read.
    line: u64,
}

/// The state of one run across its batches.
struct Run<'a> {
    plan: &'a Plan,
    policy: &'a Policy,
    /// Rows applied so far (read, and not a duplicate).
    read: u64,
    /// Correlation lookups: identity attribute → value (lower case) → identity id.
    correlation: HashMap<String, HashMap<String, String>>,
    /// (identity id, manager's native identity) to resolve once every row is read.
    managers: Vec<(String, String)>,
}

impl Run<'_> {
    async fn apply_rows(
        &mut self,
        tx: &mut Tx,
        known: &mut HashMap<String, Known>,
        rows: &[Record],
        summary: &mut Summary,
        now: Timestamp,
    ) -> Result<()> {
        let profile = if self.plan.authoritative { self.policy.profile_for_source(&self.plan.source.id) } else { None };
        let mut batch = Batch::new(self.policy, now);
        let mut changed_identities: Vec<(AccountRecord, String)> = Vec::new();
        for row in rows {
            if let Some(key) = known.get_mut(&row.native_identity) {
                if key.line > 0 {
                    summary.failed.push(RowFailure {
                        line: row.line,
                        reason: match self.plan.input {
                            Input::File { .. } => {
                                format!("`{}` appears again; its first row is line {}", row.native_identity, key.line)
                            }
                            Input::Live => format!(
                                "`{}` was read twice; the first time as account {}",
                                row.native_identity, key.line
                            ),
                        },
                    });
                    continue;
                }
                key.line = row.line;
            }
            self.read += 1;
            let serialized = serde_json::to_string(&row.attributes)?;
            let hash = hash_of(&serialized, row.disabled, row.locked);
            let manager = self.manager_of(row);
            // A known account no identity owns is tried again: the identity it matches may be new.
            let late = match known.get(&row.native_identity) {
                Some(key) if profile.is_none() && key.identity_id.is_none() => self.correlate(tx, row).await?,
                _ => None,
            };
            if let Some(identity_id) = late
                && let Some(key) = known.get_mut(&row.native_identity)
            {
                if key.hash == hash {
                    summary.unchanged += 1;
                } else {
                    summary.changed += 1;
                }
                key.identity_id = Some(identity_id.clone());
                key.hash = hash;
                let account = self.account(row, key.id.clone(), Some(identity_id.clone()), hash, now);
                batch.updated_accounts.push(account.clone());
                batch.correlated.push((identity_id, account, self.plan.source.clone()));
                continue;
            }
            match known.get(&row.native_identity) {
                Some(key) if key.hash == hash => summary.unchanged += 1,
                Some(key) => {
                    summary.changed += 1;
                    let account = self.account(row, key.id.clone(), key.identity_id.clone(), hash, now);
                    batch.updated_accounts.push(account.clone());
                    if let (Some(identity_id), Some(_)) = (&key.identity_id, profile) {
                        if let Some(manager) = manager {
                            self.managers.push((identity_id.clone(), manager));
                        }
                        changed_identities.push((account, identity_id.clone()));
                    }
                }
                None => {
                    summary.added += 1;
                    let id = uuid::Uuid::now_v7().simple().to_string();
                    let mut account = self.account(row, id, None, hash, now);
                    if let Some(profile) = profile {
                        let identity_id = uuid::Uuid::now_v7().simple().to_string();
                        account.identity_id = Some(identity_id.clone());
                        let manager_id = match manager {
                            Some(native) => match known.get(&native).and_then(|k| k.identity_id.clone()) {
                                Some(id) => Some(id),
                                None => {
                                    self.managers.push((identity_id.clone(), native));
                                    None
                                }
                            },
                            None => None,
                        };
                        batch.create_identity(profile, identity_id.clone(), &account, manager_id);
                        summary.identities_created += 1;
                    } else if let Some(identity_id) = self.correlate(tx, row).await? {
                        account.identity_id = Some(identity_id.clone());
                        batch.correlated.push((identity_id, account.clone(), self.plan.source.clone()));
                    }
                    known.insert(
                        row.native_identity.clone(),
                        Known {
                            id: account.id.clone(),
                            identity_id: account.identity_id.clone(),
                            hash,
                            line: row.line,
                        },
                    );
                    batch.new_accounts.push(account);
                }
            }
        }
        if let Some(profile) = profile {
            let changes: Vec<IdentityChange> = changed_identities
                .into_iter()
                .map(|(account, identity_id)| IdentityChange { identity_id, account })
                .collect();
            summary.identities_updated += batch.recompute(tx, profile, changes).await?;
        }
        batch.write(tx).await
    }

    fn account(
        &self,
        row: &Record,
        id: String,
        identity_id: Option<String>,
        hash: i64,
        now: Timestamp,
    ) -> AccountRecord {
        AccountRecord {
            id,
            source_id: self.plan.source.id.clone(),
            native_identity: row.native_identity.clone(),
            name: row.name.clone(),
            identity_id,
            attributes: row.attributes.clone(),
            attributes_hash: hash,
            disabled: row.disabled,
            locked: row.locked,
            manually_correlated: false,
            created_at: now,
            modified_at: now,
        }
    }

    fn manager_of(&self, row: &Record) -> Option<String> {
        let column = self.plan.manager_attribute.as_deref()?;
        row.attributes.get(column).and_then(Value::as_str).filter(|v| !v.is_empty()).map(str::to_owned)
    }

    /// The identity a new account on a target source belongs to, by the source's correlation rules.
    /// A multi-valued attribute (an LDAP entry's several `mail` values) matches by any of its values.
    async fn correlate(&mut self, tx: &mut Tx, row: &Record) -> Result<Option<String>> {
        for (identity_attribute, account_attribute) in &self.plan.correlation {
            let values: Vec<&str> = match row.attributes.get(account_attribute) {
                Some(Value::String(value)) => vec![value.as_str()],
                Some(Value::Array(values)) => values.iter().filter_map(Value::as_str).collect(),
                _ => continue,
            };
            if !self.correlation.contains_key(identity_attribute) {
                let values = tx.identity_attribute_values(identity_attribute).await?;
                let map = values.into_iter().map(|(id, v)| (v.to_lowercase(), id)).collect();
                self.correlation.insert(identity_attribute.clone(), map);
            }
            let Some(map) = self.correlation.get(identity_attribute) else { continue };
            if let Some(id) = values.iter().find_map(|value| map.get(&value.to_lowercase())) {
                return Ok(Some(id.clone()));
            }
        }
        Ok(None)
    }

    /// Points each identity read in this run at its manager's identity.
    async fn resolve_managers(&mut self, tx: &mut Tx, known: &HashMap<String, Known>, now: Timestamp) -> Result<()> {
        let wanted: HashMap<String, Option<String>> = self
            .managers
            .drain(..)
            .map(|(identity, native)| (identity, known.get(&native).and_then(|k| k.identity_id.clone())))
            .collect();
        let ids: Vec<String> = wanted.keys().cloned().collect();
        for chunk in ids.chunks(500) {
            for mut identity in tx.identities_by_ids(chunk).await? {
                let manager = wanted.get(identity.id.as_str()).cloned().flatten();
                if manager != identity.manager_id.map(Into::into) && manager.as_deref() != Some(identity.id.as_str()) {
                    identity.manager_id = manager.map(Into::into);
                    identity.modified_at = now;
                    tx.update_identity(&identity).await?;
                }
            }
        }
        Ok(())
    }

    /// Removes the accounts missing from the file; an identity whose authoritative account goes is
    /// deleted with it.
    async fn remove(
        &mut self,
        tx: &mut Tx,
        missing: &[AccountKey],
        summary: &mut Summary,
        now: Timestamp,
    ) -> Result<()> {
        let ids: Vec<String> = missing.iter().map(|k| k.id.clone()).collect();
        let identity_ids: Vec<String> = missing.iter().filter_map(|k| k.identity_id.clone()).collect();
        let identities = tx.identities_by_ids(&identity_ids).await?;
        // Account Deleted for each, with the account as it was and whose it was.
        let owners: HashMap<&str, &IdentityRecord> = identities.iter().map(|i| (i.id.as_str(), i)).collect();
        let mut deleted = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            for account in tx.accounts_by_ids(chunk).await? {
                let owner = account.identity_id.as_deref().and_then(|id| owners.get(id).copied());
                let payload = payloads::source_account("ACCOUNT_DELETED_V2", &account, Some(&self.plan.source), owner);
                deleted.push((payloads::SOURCE_ACCOUNT_DELETED, payload));
            }
        }
        tx.publish_many(&deleted, now).await?;
        tx.delete_accounts(&ids).await?;
        summary.removed = ids.len() as u64;
        let authoritative = self.plan.authoritative && self.policy.profile_for_source(&self.plan.source.id).is_some();
        for identity in identities {
            if authoritative {
                tx.delete_identity(&identity.id).await?;
                tx.publish(payloads::IDENTITY_DELETED, &payloads::identity_snapshot(&identity), now).await?;
                summary.identities_deleted += 1;
            } else {
                // One event per account: an identity may lose several on this source at once.
                for key in missing.iter().filter(|k| k.identity_id.as_deref() == Some(identity.id.as_str())) {
                    let payload =
                        payloads::account_link(&identity, &key.id, &key.native_identity, "", &self.plan.source);
                    tx.publish(payloads::ACCOUNT_UNCORRELATED, &payload, now).await?;
                }
            }
        }
        Ok(())
    }
}

/// Identity fields that are kept in columns, from computed attributes.
pub(crate) fn identity_fields(identity: &mut IdentityRecord, account: &AccountRecord) {
    let text = |key: &str| identity.attributes.get(key).and_then(Value::as_str).map(str::to_owned);
    identity.name = text("displayName").unwrap_or_else(|| account.name.clone());
    identity.alias = text("uid").unwrap_or_else(|| account.native_identity.clone());
    identity.email = text("email");
    identity.lifecycle_state = text("cloudLifecycleState").or_else(|| identity.lifecycle_state.clone());
}
