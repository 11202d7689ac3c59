//! `tessera bench requests`: access requests and inbox decisions per second. Generated people each
//! request an access profile needing their manager's approval (submissions/s), their managers approve
//! (decisions/s, each granting the access and queuing its plan in the decision's transaction), then a
//! workflow's `sp:generic-approval` opens an inbox item per execution and an approver decides each
//! (items opened/s, decided/s, and executions resumed to completion/s).

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Result, bail};
use clap::Args;
use serde_json::json;
use tessera_engine::{Engine, EngineConfig};
use tessera_governance::inbox::{InboxAction, InboxActor};
use tessera_governance::requests::{NewAccessRequest, RequestType, RequestedItem};
use tessera_governance::{self as governance, AggregateOptions, ImportDirs};
use tessera_governance::{Governance, GovernanceConfig};
use tessera_model::{Clock, SystemClock};
use tessera_store::{ApprovalState, ExecutionStore, InboxStore, RequestStore, Store, WorkflowRecord, WorkflowStore};

use super::machine;

#[derive(Debug, Args)]
pub(crate) struct RequestsArgs {
    /// People in the generated HR file; each with a manager requests access once.
    #[arg(long, default_value_t = 2_000)]
    people: usize,
    /// Workflow approvals opened and decided in the inbox phase.
    #[arg(long, default_value_t = 2_000)]
    approvals: usize,
    /// Requests or decisions in flight at once.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
}

/// The access profile everyone asks for: the demo's, approved by the manager (the default scheme).
const PROFILE: &str = "demo-ap-github";

pub(crate) fn run(args: &RequestsArgs) -> Result<ExitCode> {
    let dir = std::env::temp_dir().join(format!("tessera-bench-requests-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let result = runtime.block_on(measure(args, &dir));
    std::fs::remove_dir_all(&dir).ok();
    result
}

/// Runs `work` over `items` with `concurrency` tasks; answers how many succeeded.
async fn spread<T, F, Fut>(items: Vec<T>, concurrency: usize, work: F) -> usize
where
    T: Send + 'static,
    F: Fn(T) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let queue = Arc::new(tokio::sync::Mutex::new(items));
    let work = Arc::new(work);
    let mut tasks = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (queue, work) = (queue.clone(), work.clone());
        tasks.push(tokio::spawn(async move {
            let mut done = 0;
            loop {
                let next = queue.lock().await.pop();
                let Some(item) = next else { return done };
                done += usize::from(work(item).await);
            }
        }));
    }
    let mut total = 0;
    for task in tasks {
        total += task.await.unwrap_or(0);
    }
    total
}

async fn measure(args: &RequestsArgs, dir: &std::path::Path) -> Result<ExitCode> {
    let store = Store::open_data_dir(&dir.join("data")).await?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let engine = Engine::new(store.clone(), clock.clone(), EngineConfig::default());
    let governance = Governance::new(engine.clone(), GovernanceConfig::default())?;
    let imports = ImportDirs::new([dir.join("imports")]);
    crate::demo::seed_catalog(&store, &imports, clock.as_ref()).await?;
    let mut generated = Vec::new();
    tessera_connectors::generate::write_hr_file(&mut generated, args.people, 3)?;
    std::fs::write(crate::demo::hr_file(&imports)?, generated)?;
    let options = AggregateOptions { imports, ..AggregateOptions::default() };
    governance::aggregate(&store, clock.as_ref(), crate::demo::HR_SOURCE, &options, &mut |_| {}).await?;
    while engine.dispatch_events().await? > 0 {}
    let people = with_managers(&store).await?;

    println!(
        "tessera bench requests — {} people with a manager request access; {} workflow approvals",
        people.len(),
        args.approvals
    );
    println!("machine: {}", machine());
    println!("database: SQLite (WAL, synchronous=FULL), temporary; {} in flight", args.concurrency);

    let began = Instant::now();
    let submitter = governance.clone();
    let submitted = spread(people.clone(), args.concurrency, move |id: String| {
        let governance = submitter.clone();
        async move {
            let request = NewAccessRequest {
                requester_id: id.clone(),
                requested_for: vec![id],
                request_type: RequestType::Grant,
                items: vec![RequestedItem {
                    kind: "ACCESS_PROFILE".into(),
                    id: PROFILE.into(),
                    comment: None,
                    remove_at: None,
                }],
                comment: Some("bench".into()),
            };
            governance.submit_access_request(&request, "bench").await.is_ok()
        }
    })
    .await;
    let took = began.elapsed().as_secs_f64();
    println!(
        "submit: {submitted} access requests in {took:.2} s ({:.0}/s), each with its approval and event",
        submitted as f64 / took
    );

    let mut tx = store.begin().await?;
    let pending = tx.approvals(ApprovalState::Pending, None, i64::MAX, 0).await?;
    drop(tx);
    let decisions: Vec<(String, String)> =
        pending.into_iter().filter_map(|a| a.candidates.first().cloned().map(|c| (a.id, c))).collect();
    let began = Instant::now();
    let decider = governance.clone();
    let approved = spread(decisions, args.concurrency, move |(approval, approver): (String, String)| {
        let governance = decider.clone();
        async move { governance.decide_access_approval(&approval, &approver, true, Some("ok"), "bench").await.is_ok() }
    })
    .await;
    let took = began.elapsed().as_secs_f64();
    println!(
        "decide: {approved} approvals in {took:.2} s ({:.0}/s), each granting the access and queuing its plan",
        approved as f64 / took
    );
    if approved != submitted {
        bail!("{submitted} requests submitted but {approved} approved");
    }

    let approver = people.first().cloned().unwrap_or_default();
    let now = clock.now();
    let document = json!({"name": "Bench approval", "definition": {"start": "Approve", "steps": {
        "Approve": {"type": "action", "actionId": "sp:generic-approval", "nextStep": "Done",
                    "attributes": {"approvers": [approver], "subject": "Bench"}},
        "Done": {"type": "success"}}}});
    let workflow = WorkflowRecord {
        id: "bench-approval".into(),
        name: "Bench approval".into(),
        latest_version: 1,
        enabled: true,
        trace: false,
        created_at: now,
        modified_at: now,
        creator: "bench".into(),
        document,
    };
    let mut tx = store.begin().await?;
    tx.insert_workflow(&workflow, "bench").await?;
    for _ in 0..args.approvals {
        engine.start(&mut tx, &workflow, json!({}), None).await?;
    }
    tx.commit().await?;
    let began = Instant::now();
    engine.run_due().await?;
    let took = began.elapsed().as_secs_f64();
    let mut tx = store.begin().await?;
    let items: Vec<String> = tx
        .inbox_items(Some(&approver), Some(tessera_model::WorkStatus::Pending), i64::MAX, 0)
        .await?
        .into_iter()
        .map(|i| i.id)
        .collect();
    drop(tx);
    println!(
        "open: {} executions ran to their approval step in {took:.2} s ({:.0} items opened/s)",
        items.len(),
        items.len() as f64 / took
    );
    let began = Instant::now();
    let decider = governance.clone();
    let owner = approver.clone();
    let decided = spread(items, args.concurrency, move |item: String| {
        let (governance, owner) = (decider.clone(), owner.clone());
        async move {
            let actor = InboxActor { identity: Some(&owner), admin: false, audit: "bench" };
            governance.act_on_inbox_item(&item, actor, InboxAction::Approve { comment: None }).await.is_ok()
        }
    })
    .await;
    let decide_took = began.elapsed().as_secs_f64();
    engine.run_due().await?;
    let total = began.elapsed().as_secs_f64();
    let mut tx = store.begin().await?;
    let completed: i64 = tx
        .status_counts("bench-approval")
        .await?
        .iter()
        .filter(|(s, _)| *s == tessera_model::ExecutionStatus::Completed)
        .map(|(_, n)| n)
        .sum();
    drop(tx);
    println!("inbox: {decided} decisions in {decide_took:.2} s ({:.0}/s)", decided as f64 / decide_took);
    println!(
        "resume: {completed} executions completed {total:.2} s after the first decision ({:.0}/s)",
        completed as f64 / total
    );
    if decided != args.approvals {
        bail!("expected {} decisions, made {decided}", args.approvals);
    }
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

/// The people who have a manager (everyone else has nobody to approve for them).
async fn with_managers(store: &Store) -> Result<Vec<String>> {
    let rows: Vec<(String,)> = sqlx::query_as("SELECT id FROM identities WHERE manager_id IS NOT NULL ORDER BY id")
        .fetch_all(store.pool())
        .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}
