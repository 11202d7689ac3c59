//! `tessera audit`: the audit log read from the database, newest first, filtered as the API's
//! `/tessera/v1/audit` is — for an operator on the machine, with or without a running server.

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use tessera_model::Timestamp;
use tessera_store::{AuditQuery, SecurityStore};

use crate::store::StoreArgs;

#[derive(Debug, Args)]
pub(crate) struct AuditArgs {
    /// Only changes by this actor (`client:<id>`, `identity:<id>`, `workflow:<execution>`, `system`).
    #[arg(long)]
    actor: Option<String>,
    /// Only this action (`client.create`, `source.update`, `access.grant`, …).
    #[arg(long)]
    action: Option<String>,
    /// Only changes to objects of this type (`source`, `workflow`, `identity`, `api-client`, …).
    #[arg(long)]
    target_type: Option<String>,
    /// Only changes to this object.
    #[arg(long)]
    target: Option<String>,
    /// Only changes at or after this time (RFC 3339).
    #[arg(long)]
    since: Option<String>,
    /// How many entries (newest first).
    #[arg(long, default_value_t = 50)]
    limit: i64,
    /// Print JSON, one entry per line.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    store: StoreArgs,
}

pub(crate) fn run(args: AuditArgs) -> Result<ExitCode> {
    let since = args
        .since
        .as_deref()
        .map(|text| text.parse::<Timestamp>())
        .transpose()
        .context("--since must be an RFC 3339 time such as 2026-01-01T00:00:00Z")?;
    let query = AuditQuery {
        actor: args.actor,
        action: args.action,
        target_type: args.target_type,
        target_id: args.target,
        since,
        until: None,
        limit: args.limit.clamp(1, 10_000),
        offset: 0,
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let store = args.store.open().await?;
        let mut tx = store.begin().await?;
        let entries = tx.audit_entries(&query).await?;
        drop(tx);
        store.close().await;
        for entry in &entries {
            if args.json {
                println!("{}", tessera_server::audit::shape(entry));
            } else {
                let at = entry.at.to_datetime().to_rfc3339();
                let detail = tessera_engine::secrets::masked(&entry.detail);
                println!(
                    "{at}  {}  {}  {} {}  {detail}",
                    entry.actor, entry.action, entry.target_type, entry.target_id
                );
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}
