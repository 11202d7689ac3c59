//! `tessera purge` and the `[retention]` settings: how long ended executions, dispatched events,
//! answered notifications and audit entries are kept. A server purges hourly by the same rules; the
//! command purges now, beside a running server or not.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use serde::Deserialize;
use tessera_governance::retention::Retention;
use tessera_model::{Clock, SystemClock};

use crate::store::StoreArgs;

/// The config file's `[retention]` table; each a duration such as `90d`, or `never`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RetentionFile {
    executions: Option<String>,
    outbox: Option<String>,
    notifications: Option<String>,
    audit: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct PurgeArgs {
    /// How long ended executions (and their history) are kept: a duration such as 90d, or never.
    #[arg(long)]
    executions: Option<String>,
    /// How long dispatched events are kept.
    #[arg(long)]
    outbox: Option<String>,
    /// How long sent (or failed) notifications are kept.
    #[arg(long)]
    notifications: Option<String>,
    /// How long audit entries are kept; at least as long as everything else.
    #[arg(long)]
    audit: Option<String>,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    store: StoreArgs,
}

/// One setting: `never` keeps for ever.
fn kept(text: Option<&str>, default: Option<Duration>, name: &str) -> Result<Option<Duration>> {
    match text.map(str::trim) {
        None => Ok(default),
        Some("never") => Ok(None),
        Some(text) => {
            let parsed: tessera_model::Duration =
                text.parse().with_context(|| format!("{name}: `{text}` is not a duration such as 90d, or never"))?;
            Ok(Some(Duration::from_secs(parsed.as_secs().max(60))))
        }
    }
}

/// The retention the settings give, checked (the audit log is kept longest).
pub(crate) fn retention(file: &RetentionFile) -> Result<Retention> {
    let defaults = Retention::default();
    let retention = Retention {
        executions: kept(file.executions.as_deref(), defaults.executions, "retention.executions")?,
        outbox: kept(file.outbox.as_deref(), defaults.outbox, "retention.outbox")?,
        notifications: kept(file.notifications.as_deref(), defaults.notifications, "retention.notifications")?,
        audit: kept(file.audit.as_deref(), defaults.audit, "retention.audit")?,
    };
    retention.check().map_err(|reason| anyhow::anyhow!("retention: {reason}"))?;
    Ok(retention)
}

pub(crate) fn run(args: &PurgeArgs) -> Result<ExitCode> {
    let retention = retention(&RetentionFile {
        executions: args.executions.clone(),
        outbox: args.outbox.clone(),
        notifications: args.notifications.clone(),
        audit: args.audit.clone(),
    })?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let purged = runtime.block_on(async {
        let store = args.store.open().await?;
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let now = clock.now();
        let purged = tessera_governance::retention::purge(&store, &retention, now).await?;
        store.close().await;
        anyhow::Ok(purged)
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&purged)?);
    } else {
        println!(
            "Purged {} executions ({} history entries), {} dispatched events, {} notifications, {} audit entries and \
             {} action outputs past their retention.",
            purged.executions,
            purged.history_entries,
            purged.outbox_events,
            purged.notifications,
            purged.audit_entries,
            purged.action_outputs
        );
    }
    Ok(ExitCode::SUCCESS)
}
