//! `tessera bench provision`: aggregation accounts per second from a slapd holding many inetOrgPerson
//! entries (a full first run, then an unchanged re-run), and account operations per second (Create,
//! Modify with a group Add, Disable, Delete) through `LiveConnector::provision` against a real
//! scim2-server and a real slapd, with a chosen number of accounts and requests in flight; then the
//! same systems provisioned end to end through Tessera's plans (`plans`).

use std::future::Future;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;
use futures_util::StreamExt;
use serde_json::{Value, json};
use tessera_connectors::testing::scim_server::ScimServer;
use tessera_connectors::testing::slapd::{ADMIN_DN, ADMIN_PASSWORD, ADMINS, GROUPS, PEOPLE, Slapd};
use tessera_connectors::{
    AccountRequest, AttributeOperation, AttributeRequest, Connector, LiveConnector, Operation, Outcome,
};
use tessera_governance::{self as governance, AggregateOptions, Summary};
use tessera_model::{SystemClock, Timestamp};
use tessera_store::{CatalogKind, CatalogObject, CatalogStore, Store, redact_url};

use super::aggregate::peak_memory;
use super::machine;

#[derive(Debug, Args)]
pub(crate) struct ProvisionArgs {
    /// inetOrgPerson entries in the slapd that is aggregated (0 skips the aggregation figures).
    #[arg(long, default_value_t = 100_000)]
    people: usize,
    /// Entries per LDAP page when aggregating.
    #[arg(long, default_value_t = 1000)]
    page_size: u32,
    /// Put every person in one group too (staff): the largest member list the connector reads (once per
    /// aggregation).
    #[arg(long)]
    everyone_group: bool,
    /// Accounts per operation when provisioning (each is created, modified, disabled and deleted; 0
    /// skips the provisioning figures).
    #[arg(long, default_value_t = 500)]
    accounts: usize,
    /// Account requests in flight at once when provisioning.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// A `sqlite://…` or `postgres://…` database to aggregate into (it should be empty). Default: a fresh
    /// SQLite file in a temporary directory.
    #[arg(long)]
    database: Option<String>,
}

pub(crate) fn run(args: &ProvisionArgs) -> Result<ExitCode> {
    if args.concurrency == 0 {
        bail!("--concurrency must be at least 1");
    }
    let dir = std::env::temp_dir().join(format!("tessera-bench-provision-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let result = runtime.block_on(async {
        println!("tessera bench provision");
        println!("machine: {}", machine());
        if args.people > 0 {
            aggregation(args, &dir).await?;
        }
        if args.accounts > 0 {
            provisioning(args).await?;
            super::plans::through_tessera(&dir, args.accounts).await?;
        }
        Ok(ExitCode::SUCCESS)
    });
    std::fs::remove_dir_all(&dir).ok();
    result
}

/// Aggregates a slapd of `args.people` entries twice into a fresh store.
async fn aggregation(args: &ProvisionArgs, dir: &Path) -> Result<()> {
    let loading = Instant::now();
    let (people, everyone) = (args.people, args.everyone_group);
    // slapadd and slapd run as processes; the fixture waits for them on this thread.
    let slapd = tokio::task::spawn_blocking(move || Slapd::start_with_people(people, everyone)).await?;
    let loaded = loading.elapsed().as_secs_f64();
    let store = match &args.database {
        Some(url) => Store::connect(url).await.with_context(|| format!("cannot open {}", redact_url(url)))?,
        None => Store::open_data_dir(&dir.join("data")).await?,
    };
    let document = json!({
        "name": "Directory", "connector": "ldap", "deleteThreshold": 10,
        "connectorAttributes": {
            "url": slapd.url, "bindDn": ADMIN_DN, "bindPassword": ADMIN_PASSWORD, "baseDn": PEOPLE,
            "groupBaseDn": GROUPS, "pageSize": args.page_size,
        },
        "correlation": [{"identityAttribute": "email", "accountAttribute": "mail"}],
    });
    let mut tx = store.begin().await?;
    tx.insert_object(&CatalogObject {
        kind: CatalogKind::Source,
        id: "bench-ldap".into(),
        name: "Directory".into(),
        key: "Directory".into(),
        parent_id: String::new(),
        owner_id: None,
        enabled: true,
        requestable: false,
        document,
        created_at: Timestamp::UNIX_EPOCH,
        modified_at: Timestamp::UNIX_EPOCH,
    })
    .await?;
    tx.commit().await?;
    println!();
    let groups = if everyone { "staff, " } else { "" };
    println!(
        "aggregation from slapd: {people} inetOrgPerson entries (loaded with slapadd in {loaded:.1} s), each in \
         {groups}a department group of 1000 and every tenth in admins; {} per page; into {}",
        args.page_size,
        args.database.as_deref().map_or_else(|| "SQLite (WAL, synchronous=FULL), temporary".to_owned(), redact_url)
    );
    let clock = SystemClock;
    for label in ["first run (every account new)", "second run (every account unchanged)"] {
        let started = Instant::now();
        let summary = governance::aggregate(&store, &clock, "bench-ldap", &AggregateOptions::default(), &mut |_| {})
            .await
            .context("aggregating the directory")?;
        report(label, &summary, started.elapsed().as_secs_f64());
    }
    println!("  peak memory so far (VmHWM): {}", peak_memory().unwrap_or_else(|| "unknown".to_owned()));
    store.close().await;
    Ok(())
}

fn report(label: &str, summary: &Summary, seconds: f64) {
    println!("{label}: {}", summary.status);
    println!(
        "  {:.0} accounts/s  ({} accounts in {seconds:.2} s: {} added, {} changed, {} unchanged; {} entitlements added)",
        summary.scanned as f64 / seconds,
        summary.scanned,
        summary.added,
        summary.changed,
        summary.unchanged,
        summary.entitlements_added
    );
    if let Some(message) = &summary.message {
        println!("  {message}");
    }
}

/// One system to provision to: its connector, the group a Modify adds, and how a Create names its
/// account.
struct System {
    label: &'static str,
    connector: LiveConnector,
    group_attribute: &'static str,
    group: String,
    create: fn(usize) -> Vec<AttributeRequest>,
}

fn set(name: &str, value: Value) -> AttributeRequest {
    AttributeRequest { name: name.to_owned(), operation: AttributeOperation::Set, value }
}

fn scim_user(n: usize) -> Vec<AttributeRequest> {
    vec![
        set("userName", json!(format!("bench{n}"))),
        set("givenName", json!("Bench")),
        set("familyName", json!(format!("User{n}"))),
        set("email", json!(format!("bench{n}@example.org"))),
    ]
}

fn ldap_person(n: usize) -> Vec<AttributeRequest> {
    vec![
        set("uid", json!(format!("bench{n}"))),
        set("givenName", json!("Bench")),
        set("familyName", json!(format!("User{n}"))),
        set("mail", json!(format!("bench{n}@example.org"))),
    ]
}

/// Creates, modifies (a group Add), disables and deletes `args.accounts` accounts on scim2-server and
/// on slapd, `args.concurrency` requests at a time, and prints each operation's rate.
async fn provisioning(args: &ProvisionArgs) -> Result<()> {
    println!();
    println!(
        "provisioning through LiveConnector::provision: {} accounts per operation, {} requests in flight",
        args.accounts, args.concurrency
    );
    let scim = ScimServer::start();
    let scim_group = scim.create_group("bench").await;
    let slapd = Slapd::start().await;
    let ldap_attributes = json!({
        "url": slapd.url, "bindDn": ADMIN_DN, "bindPassword": ADMIN_PASSWORD, "baseDn": PEOPLE, "groupBaseDn": GROUPS,
    });
    let systems = [
        System {
            label: "scim2-server",
            connector: LiveConnector::from_source("scim", &scim.attributes(json!({})))?
                .context("the SCIM connector")?,
            group_attribute: "groups",
            group: scim_group,
            create: scim_user,
        },
        System {
            label: "slapd",
            connector: LiveConnector::from_source("ldap", &ldap_attributes)?.context("the LDAP connector")?,
            group_attribute: "memberOf",
            group: ADMINS.to_owned(),
            create: ldap_person,
        },
    ];
    for system in &systems {
        let mut natives: Vec<String> = Vec::with_capacity(args.accounts);
        let mut line = Vec::new();
        let created = measure(args, |n| async move {
            let request = AccountRequest {
                operation: Operation::Create,
                native_identity: None,
                attributes: (system.create)(n),
                password: None,
            };
            system.connector.provision(&request, &format!("bench-create-{n}")).await
        })
        .await?;
        for outcome in created.outcomes {
            match outcome {
                Outcome::Success { native_identity, .. } => natives.push(native_identity),
                Outcome::Pending { ticket_id } => bail!("{}: a Create is pending ({ticket_id})", system.label),
            }
        }
        line.push(("Create", created.rate));
        let natives = &natives;
        for (name, operation) in [("Modify (+group)", Operation::Modify), ("Disable", Operation::Disable)] {
            let done = measure(args, |n| async move {
                let attributes = match operation {
                    Operation::Modify => vec![AttributeRequest {
                        name: system.group_attribute.to_owned(),
                        operation: AttributeOperation::Add,
                        value: json!([system.group]),
                    }],
                    _ => Vec::new(),
                };
                let request =
                    AccountRequest { operation, native_identity: Some(natives[n].clone()), attributes, password: None };
                system.connector.provision(&request, &format!("bench-{}-{n}", operation.as_str())).await
            })
            .await?;
            line.push((name, done.rate));
        }
        let deleted = measure(args, |n| async move {
            let request = AccountRequest {
                operation: Operation::Delete,
                native_identity: Some(natives[n].clone()),
                attributes: Vec::new(),
                password: None,
            };
            system.connector.provision(&request, &format!("bench-delete-{n}")).await
        })
        .await?;
        line.push(("Delete", deleted.rate));
        let figures: Vec<String> = line.iter().map(|(name, rate)| format!("{name} {rate:.0}/s")).collect();
        println!("  {:<13} {}", format!("{}:", system.label), figures.join(", "));
    }
    Ok(())
}

/// The outcomes of one operation on every account, and its rate.
struct Measured {
    outcomes: Vec<Outcome>,
    rate: f64,
}

/// Runs `request(n)` for every account, `args.concurrency` at a time; any failure stops the benchmark.
async fn measure<F, Fut>(args: &ProvisionArgs, request: F) -> Result<Measured>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Result<Outcome, tessera_connectors::ConnectorError>>,
{
    let started = Instant::now();
    let mut results: Vec<(usize, Outcome)> = Vec::with_capacity(args.accounts);
    let mut stream = futures_util::stream::iter(0..args.accounts)
        .map(|n| {
            let call = request(n);
            async move { (n, call.await) }
        })
        .buffer_unordered(args.concurrency);
    while let Some((n, outcome)) = stream.next().await {
        results.push((n, outcome.with_context(|| format!("account {n}"))?));
    }
    let elapsed = started.elapsed().max(Duration::from_micros(1));
    results.sort_by_key(|(n, _)| *n);
    Ok(Measured {
        outcomes: results.into_iter().map(|(_, outcome)| outcome).collect(),
        rate: args.accounts as f64 / elapsed.as_secs_f64(),
    })
}
