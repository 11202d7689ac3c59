//! The inbox on both databases: a workflow's `sp:generic-approval` waits for a person and resumes with
//! the decision; only assignees decide, once; delegation hands the item on; reminders and the
//! deadline's action come from the injected clock; and ISC access requests take part through
//! workflows — a custom approval workflow (`AccessRequestTrigger`), a pre-approval workflow that
//! approves or rejects, and a dynamic approver added as a last level — answered by their output.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use tessera_model::{Timestamp, WorkStatus};

use serde_json::{Value, json};
use tessera_engine::{Engine, EngineConfig, Error};
use tessera_governance::inbox::{InboxAction, InboxActor};
use tessera_governance::requests::{NewAccessRequest, RequestType, RequestedItem};
use tessera_governance::{Governance, GovernanceConfig};
use tessera_model::{Clock, ManualClock};
use tessera_store::testing::stores;
use tessera_store::{
    AccessStore, CatalogKind, CatalogStore, ExecutionStore, IdentityStore, InboxItemRecord, InboxStore,
    NotificationStore, RequestStore, Store, WaiterStore, WorkflowStore,
};

mod fixtures;
use fixtures::{insert_workflow, object, person};

/// Ada (managed by Mary), Olga, Dan, and a requestable VPN access profile on a manual source.
async fn world(store: &Store) -> (Arc<Governance>, Arc<ManualClock>) {
    let mut tx = store.begin().await.unwrap();
    tx.insert_identities(&[
        person("mary", "Mary Manager", None),
        person("olga", "Olga Owner", None),
        person("dan", "Dan Deputy", None),
        person("ada", "Ada Lovelace", Some("mary")),
    ])
    .await
    .unwrap();
    let mut vpn = object(
        CatalogKind::AccessProfile,
        "ap-vpn",
        "VPN",
        "desk",
        json!({"name": "VPN", "entitlements": [{"id": "e-vpn"}],
               "accessRequestConfig": {"approvalSchemes": [{"approverType": "MANAGER"}]}}),
    );
    vpn.owner_id = Some("olga".into());
    vpn.requestable = true;
    for o in [
        object(CatalogKind::Source, "desk", "Service Desk", "", json!({"name": "Service Desk", "connector": "manual"})),
        object(
            CatalogKind::Entitlement,
            "e-vpn",
            "groups=vpn",
            "desk",
            json!({"name": "VPN", "attribute": "groups", "value": "vpn"}),
        ),
        vpn,
    ] {
        tx.insert_object(&o).await.unwrap();
    }
    tx.commit().await.unwrap();
    let clock = Arc::new(ManualClock::new("2026-04-01T08:00:00Z".parse().unwrap()));
    (
        Governance::new(
            Engine::new(store.clone(), clock.clone(), EngineConfig::default()),
            GovernanceConfig::default(),
        )
        .unwrap(),
        clock,
    )
}

fn approval_workflow(extra: Value) -> Value {
    let mut attributes = json!({"approvers": ["olga", {"type": "IDENTITY", "id": "dan"}], "subject": "Buy a laptop for {{$.trigger.who}}"});
    for (k, v) in extra.as_object().unwrap() {
        attributes[k] = v.clone();
    }
    json!({"name": "Laptop", "trigger": {"type": "EXTERNAL", "attributes": {}},
           "definition": {"start": "Approve", "steps": {
               "Approve": {"type": "action", "actionId": "sp:generic-approval", "attributes": attributes, "nextStep": "Check"},
               "Check": {"type": "choice", "choiceList": [{"comparator": "BooleanEquals", "variableA.$": "$.approve.approved", "variableB": true, "nextStep": "Yes"}], "defaultStep": "No"},
               "Yes": {"type": "success"},
               "No": {"type": "failure", "failureName": "not approved"}}}})
}

fn actor(identity: &str) -> InboxActor<'_> {
    InboxActor { identity: Some(identity), admin: false, audit: "test" }
}

async fn items_of(store: &Store, kind: &str, id: &str) -> Vec<InboxItemRecord> {
    let mut tx = store.begin().await.unwrap();
    tx.inbox_items_of(kind.parse().unwrap(), id).await.unwrap()
}

async fn start(governance: &Governance, store: &Store, workflow: &str, input: Value) -> String {
    let mut tx = store.begin().await.unwrap();
    let record = tx.workflow(workflow).await.unwrap().unwrap();
    let id = governance.engine().start(&mut tx, &record, input, None).await.unwrap();
    tx.commit().await.unwrap();
    governance.engine().run_due().await.unwrap();
    id.into_string()
}

async fn status(store: &Store, execution: &str) -> (String, Option<String>, Value) {
    let mut tx = store.begin().await.unwrap();
    let e = tx.execution(execution).await.unwrap().unwrap();
    (e.status.to_string(), e.error, e.state)
}

#[tokio::test]
async fn a_generic_approval_waits_for_an_assignee_and_resumes_with_the_decision() {
    for (kind, store) in stores().await {
        let (governance, _clock) = world(&store).await;
        insert_workflow(&store, "w-laptop", approval_workflow(json!({}))).await;
        let execution = start(&governance, &store, "w-laptop", json!({"who": "Ada"})).await;
        assert_eq!(status(&store, &execution).await.0, "Running", "{kind}: it waits");
        let items = items_of(&store, "EXECUTION", &execution).await;
        assert_eq!(items.len(), 1, "{kind}");
        let item = &items[0];
        assert_eq!((item.kind.as_str(), item.title.as_str()), ("APPROVAL", "Buy a laptop for Ada"), "{kind}");
        assert_eq!(item.assignees, vec!["dan".to_string(), "olga".to_string()], "{kind}");
        let mut tx = store.begin().await.unwrap();
        let told = tx.notifications_of("olga", 10).await.unwrap();
        drop(tx);
        assert_eq!(told.len(), 1, "{kind}: each assignee is told");
        assert_eq!(told[0].subject, "Approval needed: Buy a laptop for Ada", "{kind}");
        assert_eq!(told[0].address.as_deref(), Some("olga@example.com"), "{kind}");

        let refused =
            governance.act_on_inbox_item(&item.id, actor("ada"), InboxAction::Approve { comment: None }).await;
        assert!(matches!(refused, Err(Error::Forbidden(_))), "{kind}: not Ada's to decide: {refused:?}");
        let refused = governance
            .act_on_inbox_item(&item.id, actor("olga"), InboxAction::Complete { comment: None, data: json!({}) })
            .await;
        assert!(matches!(refused, Err(Error::Invalid(_))), "{kind}: an approval is decided, not completed");
        governance
            .act_on_inbox_item(&item.id, actor("olga"), InboxAction::Comment { comment: "which model?".into() })
            .await
            .unwrap();
        let decided = governance
            .act_on_inbox_item(&item.id, actor("olga"), InboxAction::Approve { comment: Some("fine".into()) })
            .await
            .unwrap();
        assert_eq!(decided.status, WorkStatus::Approved, "{kind}");
        let again = governance.act_on_inbox_item(&item.id, actor("dan"), InboxAction::Deny { comment: None }).await;
        assert!(matches!(again, Err(Error::Conflict(_))), "{kind}: decided already: {again:?}");

        governance.engine().run_due().await.unwrap();
        let (done, error, state) = status(&store, &execution).await;
        assert_eq!(done, "Completed", "{kind}: {error:?}");
        let output = &state["main"]["doc"]["approve"];
        assert_eq!(output["approved"], json!(true), "{kind}: {output}");
        assert_eq!(output["comment"], json!("fine"), "{kind}");
        assert_eq!(output["decidedBy"]["id"], json!("olga"), "{kind}");
        let mut tx = store.begin().await.unwrap();
        let kinds: Vec<String> = tx.inbox_activity(&item.id).await.unwrap().into_iter().map(|a| a.kind).collect();
        assert_eq!(kinds, ["OPEN", "COMMENT", "APPROVE"], "{kind}");
    }
}

#[tokio::test]
async fn delegation_hands_the_item_on_and_two_approvals_are_needed_when_asked() {
    for (kind, store) in stores().await {
        let (governance, _clock) = world(&store).await;
        insert_workflow(&store, "w-laptop", approval_workflow(json!({"minimumApprovals": 2}))).await;
        let execution = start(&governance, &store, "w-laptop", json!({"who": "Ada"})).await;
        let item = items_of(&store, "EXECUTION", &execution).await.remove(0);
        let delegated = governance
            .act_on_inbox_item(
                &item.id,
                actor("dan"),
                InboxAction::Delegate { to: "mary".into(), comment: Some("away".into()) },
            )
            .await
            .unwrap();
        assert_eq!(delegated.assignees, vec!["mary".to_string(), "olga".to_string()], "{kind}");
        let gone = governance.act_on_inbox_item(&item.id, actor("dan"), InboxAction::Approve { comment: None }).await;
        assert!(matches!(gone, Err(Error::Forbidden(_))), "{kind}: Dan handed it on");
        let one = governance
            .act_on_inbox_item(&item.id, actor("mary"), InboxAction::Approve { comment: None })
            .await
            .unwrap();
        assert_eq!((one.status.as_str(), one.approvals), ("PENDING", 1), "{kind}: one of two");
        let twice = governance.act_on_inbox_item(&item.id, actor("mary"), InboxAction::Approve { comment: None }).await;
        assert!(matches!(twice, Err(Error::Conflict(_))), "{kind}: Mary counts once");
        let two = governance
            .act_on_inbox_item(&item.id, actor("olga"), InboxAction::Approve { comment: None })
            .await
            .unwrap();
        assert_eq!(two.status, WorkStatus::Approved, "{kind}");
        governance.engine().run_due().await.unwrap();
        assert_eq!(status(&store, &execution).await.0, "Completed", "{kind}");
    }
}

#[tokio::test]
async fn reminders_then_the_deadline_action_come_from_the_clock() {
    for (kind, store) in stores().await {
        let (governance, clock) = world(&store).await;
        let extra = json!({"deadline": "1h", "reminder": "20m", "timeoutAction": "DENY"});
        insert_workflow(&store, "w-laptop", approval_workflow(extra)).await;
        let execution = start(&governance, &store, "w-laptop", json!({"who": "Ada"})).await;
        let item = items_of(&store, "EXECUTION", &execution).await.remove(0);
        assert_eq!(governance.run_deadlines().await.unwrap(), 0, "{kind}: nothing due yet");
        let t0 = clock.now();
        clock.advance_to(t0 + chrono::Duration::minutes(21));
        assert_eq!(governance.run_deadlines().await.unwrap(), 1, "{kind}: the first reminder");
        assert_eq!(governance.run_deadlines().await.unwrap(), 0, "{kind}: once");
        clock.advance_to(t0 + chrono::Duration::minutes(41));
        governance.run_deadlines().await.unwrap();
        let mut tx = store.begin().await.unwrap();
        let reminders =
            tx.notifications_of("dan", 10).await.unwrap().iter().filter(|n| n.subject.starts_with("Reminder")).count();
        drop(tx);
        assert_eq!(reminders, 2, "{kind}: at 20 and 40 minutes");
        clock.advance_to(t0 + chrono::Duration::minutes(61));
        governance.run_deadlines().await.unwrap();
        let closed = items_of(&store, "EXECUTION", &execution).await.remove(0);
        assert_eq!(closed.status, WorkStatus::Denied, "{kind}: the deadline denies");
        assert_eq!(closed.id, item.id);
        governance.engine().run_due().await.unwrap();
        let (done, error, _) = status(&store, &execution).await;
        assert_eq!((done.as_str(), error.as_deref()), ("Failed", Some("not approved (at step `No`)")), "{kind}");
    }
}

async fn request_vpn(governance: &Governance) -> String {
    let request = NewAccessRequest {
        requester_id: "ada".into(),
        requested_for: vec!["ada".into()],
        request_type: RequestType::Grant,
        items: vec![RequestedItem {
            kind: "ACCESS_PROFILE".into(),
            id: "ap-vpn".into(),
            comment: Some("travel".into()),
            remove_at: None,
        }],
        comment: None,
    };
    governance.submit_access_request(&request, "test").await.unwrap().new_requests[0].request_ids[0].clone()
}

/// (approval kind, status, candidates) by level.
async fn levels(store: &Store, request: &str) -> Vec<(i64, String, String, Vec<String>)> {
    let mut tx = store.begin().await.unwrap();
    tx.request_approvals(request)
        .await
        .unwrap()
        .into_iter()
        .map(|a| (a.level, a.approver_kind.to_string(), a.status.to_string(), a.candidates))
        .collect()
}

async fn holds_vpn(store: &Store) -> bool {
    let mut tx = store.begin().await.unwrap();
    tx.access_of(&["ada".to_string()]).await.unwrap().iter().any(|g| g.object_id == "ap-vpn")
}

#[tokio::test]
async fn a_custom_approval_workflow_decides_an_access_request_item() {
    for (kind, store) in stores().await {
        let (governance, _clock) = world(&store).await;
        insert_workflow(
            &store,
            "w-approve",
            json!({"name": "VPN approval", "trigger": {"type": "AccessRequestTrigger", "attributes": {}},
                   "definition": {"start": "Ask", "steps": {
                       "Ask": {"type": "action", "actionId": "sp:access-request-approval", "attributes": {"approvalScheme": "MANAGER"}, "nextStep": "Check"},
                       "Check": {"type": "choice", "choiceList": [{"comparator": "BooleanEquals", "variableA.$": "$.ask.approved", "variableB": true, "nextStep": "Yes"}], "defaultStep": "No"},
                       "Yes": {"type": "success"}, "No": {"type": "failure", "failureName": "rejected"}}}}),
        )
        .await;
        let request = request_vpn(&governance).await;
        let approvals = levels(&store, &request).await;
        assert_eq!(approvals.len(), 1, "{kind}");
        assert_eq!((approvals[0].1.as_str(), approvals[0].2.as_str()), ("WORKFLOW", "PENDING"), "{kind}");
        governance.engine().run_due().await.unwrap();
        let mut tx = store.begin().await.unwrap();
        let mine = tx.inbox_items(Some("mary"), Some(tessera_model::WorkStatus::Pending), 10, 0).await.unwrap();
        drop(tx);
        assert_eq!(mine.len(), 1, "{kind}: the workflow asked Ada's manager");
        assert_eq!(mine[0].title, "Access request: VPN for Ada Lovelace", "{kind}");
        governance.act_on_inbox_item(&mine[0].id, actor("mary"), InboxAction::Approve { comment: None }).await.unwrap();
        governance.engine().run_due().await.unwrap();
        assert_eq!(levels(&store, &request).await[0].2, "APPROVED", "{kind}");
        assert!(holds_vpn(&store).await, "{kind}: granted when the workflow succeeded");
        let mut tx = store.begin().await.unwrap();
        assert_eq!(tx.access_request(&request).await.unwrap().unwrap().status.as_str(), "COMPLETED", "{kind}");
    }
}

fn hook(trigger: &str, variables: Value) -> Value {
    json!({"name": trigger, "trigger": {"type": "REQUEST_RESPONSE", "attributes": {"id": trigger}},
           "definition": {"start": "Answer", "steps": {
               "Answer": {"type": "Mutation", "attributes": {"id": "sp:define-variable", "variables": variables}, "nextStep": "End"},
               "End": {"type": "success"}}}})
}

#[tokio::test]
async fn a_pre_approval_workflow_rejects_or_approves_before_any_approver() {
    for (kind, store) in stores().await {
        let (governance, _clock) = world(&store).await;
        let workflow = insert_workflow(
            &store,
            "w-pre",
            hook("idn:access-request-pre-approval", json!([{"name": "approved", "variableA": false}, {"name": "comment", "variableA": "no VPN on Fridays"}])),
        )
        .await;
        let rejected = request_vpn(&governance).await;
        assert_eq!(levels(&store, &rejected).await[0].2, "WAITING", "{kind}: the manager waits for the hook");
        let mut tx = store.begin().await.unwrap();
        assert!(tx.approvals(tessera_store::ApprovalState::Pending, Some("mary"), 10, 0).await.unwrap().is_empty());
        drop(tx);
        governance.engine().run_due().await.unwrap();
        let mut tx = store.begin().await.unwrap();
        let items = tx.request_items(&rejected).await.unwrap();
        assert_eq!(items[0].status.as_str(), "REJECTED", "{kind}");
        assert_eq!(tx.access_request(&rejected).await.unwrap().unwrap().status.as_str(), "COMPLETED", "{kind}");
        let all = tx.request_approvals(&rejected).await.unwrap();
        let pre = all.iter().find(|a| a.approver_kind == tessera_model::ApproverKind::PreApproval).unwrap();
        assert_eq!(pre.comment.as_deref(), Some("no VPN on Fridays"), "{kind}");
        // Now a hook that approves.
        tx.delete_workflow(&workflow.id, Timestamp::UNIX_EPOCH).await.unwrap();
        tx.commit().await.unwrap();
        insert_workflow(
            &store,
            "w-pre-yes",
            hook("idn:access-request-pre-approval", json!([{"name": "approved", "variableA": true}])),
        )
        .await;
        let approved = request_vpn(&governance).await;
        governance.engine().run_due().await.unwrap();
        assert!(holds_vpn(&store).await, "{kind}: approved by the workflow, no person asked");
        let mut tx = store.begin().await.unwrap();
        assert_eq!(tx.request_items(&approved).await.unwrap()[0].status.as_str(), "APPROVED", "{kind}");
    }
}

/// A level whose approval workflow is gone by the time it opens is denied by Tessera, saying why,
/// instead of waiting for an execution that will never come.
#[tokio::test]
async fn a_level_whose_approval_workflow_is_gone_when_it_opens_is_denied() {
    for (kind, store) in stores().await {
        let (governance, _clock) = world(&store).await;
        let approval = insert_workflow(
            &store,
            "w-approve",
            json!({"name": "VPN approval", "trigger": {"type": "AccessRequestTrigger", "attributes": {}},
                   "definition": {"start": "Yes", "steps": {"Yes": {"type": "success"}}}}),
        )
        .await;
        // A hook the level waits for, which names no further approver.
        insert_workflow(
            &store,
            "w-dyn-none",
            hook("idn:access-request-dynamic-approver", json!([{"name": "unused", "variableA": true}])),
        )
        .await;
        let request = request_vpn(&governance).await;
        let shape: Vec<(String, String)> =
            levels(&store, &request).await.into_iter().map(|(_, k, s, _)| (k, s)).collect();
        assert!(shape.contains(&("WORKFLOW".into(), "WAITING".into())), "{kind}: {shape:?}");
        let mut tx = store.begin().await.unwrap();
        tx.delete_workflow(&approval.id, Timestamp::UNIX_EPOCH).await.unwrap();
        tx.commit().await.unwrap();
        governance.engine().run_due().await.unwrap();

        let mut tx = store.begin().await.unwrap();
        let all = tx.request_approvals(&request).await.unwrap();
        let level = all.iter().find(|a| a.approver_kind == tessera_model::ApproverKind::Workflow).unwrap();
        assert_eq!(level.status.as_str(), "DENIED", "{kind}");
        assert_eq!(level.decided_by.as_deref(), Some("system"), "{kind}");
        assert_eq!(level.comment.as_deref(), Some("the approval workflow w-approve is no longer enabled"), "{kind}");
        assert_eq!(tx.request_items(&request).await.unwrap()[0].status.as_str(), "REJECTED", "{kind}");
        assert_eq!(tx.access_request(&request).await.unwrap().unwrap().status.as_str(), "COMPLETED", "{kind}");
        drop(tx);
        assert!(!holds_vpn(&store).await, "{kind}");
    }
}

#[tokio::test]
async fn a_dynamic_approver_is_added_after_the_configured_levels() {
    for (kind, store) in stores().await {
        let (governance, _clock) = world(&store).await;
        insert_workflow(
            &store,
            "w-dyn",
            hook("idn:access-request-dynamic-approver", json!([{"name": "approver", "variableA": "dan"}])),
        )
        .await;
        let request = request_vpn(&governance).await;
        governance.engine().run_due().await.unwrap();
        let approvals = levels(&store, &request).await;
        let shape: Vec<(i64, &str, &str)> = approvals.iter().map(|(l, k, s, _)| (*l, k.as_str(), s.as_str())).collect();
        assert_eq!(shape, [(1, "MANAGER", "PENDING"), (2, "IDENTITY", "WAITING")], "{kind}");
        assert_eq!(approvals[1].3, vec!["dan".to_string()], "{kind}");
        let mut tx = store.begin().await.unwrap();
        let first = tx.request_approvals(&request).await.unwrap();
        drop(tx);
        governance.decide_access_approval(&first[0].id, "mary", true, None, "test").await.unwrap();
        assert!(!holds_vpn(&store).await, "{kind}: Dan has not decided yet");
        governance.decide_access_approval(&first[1].id, "dan", true, None, "test").await.unwrap();
        assert!(holds_vpn(&store).await, "{kind}");
    }
}

#[tokio::test]
async fn two_assignees_deciding_at_once_one_wins_and_the_workflow_resumes_once() {
    for (kind, store) in stores().await {
        let (governance, _clock) = world(&store).await;
        insert_workflow(&store, "w-laptop", approval_workflow(json!({}))).await;
        let execution = start(&governance, &store, "w-laptop", json!({"who": "Ada"})).await;
        let item = items_of(&store, "EXECUTION", &execution).await.remove(0);
        let (a, b) = (governance.clone(), governance.clone());
        let (id_a, id_b) = (item.id.clone(), item.id.clone());
        let approve = tokio::spawn(async move {
            a.act_on_inbox_item(&id_a, actor("olga"), InboxAction::Approve { comment: None }).await
        });
        let deny =
            tokio::spawn(
                async move { b.act_on_inbox_item(&id_b, actor("dan"), InboxAction::Deny { comment: None }).await },
            );
        let outcomes = [approve.await.unwrap(), deny.await.unwrap()];
        let won = outcomes.iter().filter(|o| o.is_ok()).count();
        let lost = outcomes.iter().filter(|o| matches!(o, Err(Error::Conflict(_)))).count();
        assert_eq!((won, lost), (1, 1), "{kind}: {outcomes:?}");
        governance.engine().run_due().await.unwrap();
        let (done, _, state) = status(&store, &execution).await;
        let approved = outcomes[0].is_ok();
        assert_eq!(done, if approved { "Completed" } else { "Failed" }, "{kind}");
        assert_eq!(state["main"]["doc"]["approve"]["approved"], json!(approved), "{kind}");
        let closed = items_of(&store, "EXECUTION", &execution).await.remove(0);
        assert_eq!(
            closed.status,
            if approved { WorkStatus::Approved } else { WorkStatus::Denied },
            "{kind}: the winner's decision"
        );
        let mut tx = store.begin().await.unwrap();
        let decisions = tx.inbox_activity(&item.id).await.unwrap().iter().filter(|a| a.kind != "OPEN").count();
        assert_eq!(decisions, 1, "{kind}: the loser left no trace");
    }
}

#[tokio::test]
async fn assignees_are_emailed_through_a_real_smtp_server_and_a_down_server_is_retried() {
    use tessera_connectors::testing::smtp::SmtpServer;
    use tessera_engine::actions::email::SmtpConfig;
    for (kind, store) in stores().await {
        let smtp = SmtpServer::start();
        let mut tx = store.begin().await.unwrap();
        tx.insert_identities(&[person("olga", "Olga Owner", None), person("dan", "Dan Deputy", None)]).await.unwrap();
        let mut nobody = person("nobody", "No Mail", None);
        nobody.email = None;
        tx.insert_identities(&[nobody]).await.unwrap();
        tx.commit().await.unwrap();
        let clock = Arc::new(ManualClock::new("2026-04-01T08:00:00Z".parse().unwrap()));
        // First a server nobody listens on: the notifications wait and are retried.
        let down =
            SmtpConfig { port: smtp.port() + 1, timeout: std::time::Duration::from_secs(5), ..SmtpConfig::default() };
        let offline = Governance::new(
            Engine::new(store.clone(), clock.clone(), EngineConfig { smtp: down, ..EngineConfig::default() }),
            GovernanceConfig::default(),
        )
        .unwrap();
        let mut document = approval_workflow(json!({}));
        document["definition"]["steps"]["Approve"]["attributes"]["approvers"] = json!(["olga", "dan", "nobody"]);
        insert_workflow(&store, "w-laptop", document).await;
        start(&offline, &store, "w-laptop", json!({"who": "Ada <ada@example.com>"})).await;
        assert_eq!(offline.send_notifications().await.unwrap(), 2, "{kind}: two have an address");
        let mut tx = store.begin().await.unwrap();
        let waiting = tx.notifications_of("olga", 10).await.unwrap().remove(0);
        let skipped = tx.notifications_of("nobody", 10).await.unwrap().remove(0);
        drop(tx);
        assert_eq!((waiting.status.as_str(), waiting.attempts), ("PENDING", 1), "{kind}: {:?}", waiting.error);
        assert!(waiting.error.as_deref().unwrap_or_default().contains("SMTP"), "{kind}: {:?}", waiting.error);
        assert_eq!(skipped.status.as_str(), "SKIPPED", "{kind}: no address, recorded all the same");
        assert_eq!(offline.send_notifications().await.unwrap(), 0, "{kind}: not before the retry is due");

        // The server is back (the operator fixed the port): the retry delivers each message once.
        let up = SmtpConfig { port: smtp.port(), ..SmtpConfig::default() };
        let governance = Governance::new(
            Engine::new(store.clone(), clock.clone(), EngineConfig { smtp: up, ..EngineConfig::default() }),
            GovernanceConfig::default(),
        )
        .unwrap();
        clock.advance_to(clock.now() + chrono::Duration::seconds(31));
        assert_eq!(governance.send_notifications().await.unwrap(), 2, "{kind}");
        let mail = smtp
            .wait_for(std::time::Duration::from_secs(10), |m| m.header("to").contains("olga@example.com"))
            .expect("Olga's email arrives");
        assert_eq!(mail.header("subject"), "Approval needed: Buy a laptop for Ada <ada@example.com>", "{kind}");
        let html = mail.html.clone().unwrap_or_default();
        assert!(html.contains("Ada &lt;ada@example.com&gt;"), "{kind}: the body is escaped HTML: {html}");
        assert!(mail.plain.unwrap_or_default().contains("/tessera/v1/inbox/"), "{kind}: it links the item");
        assert!(
            smtp.wait_for(std::time::Duration::from_secs(10), |m| m.header("to").contains("dan@example.com")).is_some()
        );
        clock.advance_to(clock.now() + chrono::Duration::hours(2));
        assert_eq!(governance.send_notifications().await.unwrap(), 0, "{kind}: sent ones are done");
        let mut tx = store.begin().await.unwrap();
        assert_eq!(tx.notifications_of("olga", 10).await.unwrap()[0].status.as_str(), "SENT", "{kind}");
        drop(tx);
        assert_eq!(smtp.mails().len(), 2, "{kind}: once each");
    }
}

#[tokio::test]
async fn an_approval_nobody_decides_escalates_then_expires() {
    for (kind, store) in stores().await {
        let (governance, clock) = world(&store).await;
        let extra = json!({"approvers": ["olga"], "deadline": "1h", "timeoutAction": "ESCALATE", "escalateTo": "mary"});
        insert_workflow(&store, "w-laptop", approval_workflow(extra)).await;
        let t0 = clock.now();
        let decided = start(&governance, &store, "w-laptop", json!({"who": "Ada"})).await;
        let undecided = start(&governance, &store, "w-laptop", json!({"who": "Bob"})).await;
        clock.advance_to(t0 + chrono::Duration::minutes(61));
        assert_eq!(governance.run_deadlines().await.unwrap(), 2, "{kind}");
        for execution in [&decided, &undecided] {
            let item = items_of(&store, "EXECUTION", execution).await.remove(0);
            assert_eq!(item.status, WorkStatus::Pending, "{kind}: escalated, not closed");
            assert_eq!(item.assignees, vec!["mary".to_string(), "olga".to_string()], "{kind}");
            assert_eq!(item.due_at, Some(t0 + chrono::Duration::minutes(121)), "{kind}: the same span again");
        }
        let mut tx = store.begin().await.unwrap();
        let told = tx.notifications_of("mary", 10).await.unwrap();
        drop(tx);
        assert!(told.iter().any(|n| n.subject == "Escalated to you: Buy a laptop for Ada"), "{kind}: {told:?}");
        let item = items_of(&store, "EXECUTION", &decided).await.remove(0);
        governance.act_on_inbox_item(&item.id, actor("mary"), InboxAction::Approve { comment: None }).await.unwrap();
        clock.advance_to(t0 + chrono::Duration::minutes(122));
        governance.run_deadlines().await.unwrap();
        governance.engine().run_due().await.unwrap();
        assert_eq!(status(&store, &decided).await.0, "Completed", "{kind}: Mary approved after the escalation");
        let expired = items_of(&store, "EXECUTION", &undecided).await.remove(0);
        assert_eq!(expired.status, WorkStatus::Expired, "{kind}: nobody decided after the escalation either");
        assert_eq!(status(&store, &undecided).await.0, "Failed", "{kind}: an expired approval is not approved");
    }
}

#[tokio::test]
async fn an_approval_workflow_that_succeeds_after_a_denial_does_not_grant() {
    for (kind, store) in stores().await {
        let (governance, _clock) = world(&store).await;
        // Both answers lead to success: only the answers say the owner denied.
        insert_workflow(
            &store,
            "w-two",
            json!({"name": "Two approvals", "trigger": {"type": "AccessRequestTrigger", "attributes": {}},
                   "definition": {"start": "Manager", "steps": {
                       "Manager": {"type": "action", "actionId": "sp:access-request-approval", "attributes": {"approvalScheme": "MANAGER"}, "nextStep": "Owner"},
                       "Owner": {"type": "action", "actionId": "sp:access-request-approval", "attributes": {"approvalScheme": "OWNER"}, "nextStep": "End"},
                       "End": {"type": "success"}}}}),
        )
        .await;
        let request = request_vpn(&governance).await;
        governance.engine().run_due().await.unwrap();
        let decide = |who: &'static str, approve: bool| {
            let (governance, store) = (governance.clone(), store.clone());
            async move {
                let mut tx = store.begin().await.unwrap();
                let item =
                    tx.inbox_items(Some(who), Some(tessera_model::WorkStatus::Pending), 10, 0).await.unwrap().remove(0);
                drop(tx);
                let action =
                    if approve { InboxAction::Approve { comment: None } } else { InboxAction::Deny { comment: None } };
                governance.act_on_inbox_item(&item.id, actor(who), action).await.unwrap();
                governance.engine().run_due().await.unwrap();
            }
        };
        decide("mary", true).await;
        decide("olga", false).await;
        assert_eq!(levels(&store, &request).await[0].2, "DENIED", "{kind}: the owner said no");
        assert!(!holds_vpn(&store).await, "{kind}");
    }
}

#[tokio::test]
async fn hooks_filter_on_the_requested_items_and_cancelling_stops_them() {
    for (kind, store) in stores().await {
        let (governance, _clock) = world(&store).await;
        let mut pre = hook("idn:access-request-pre-approval", json!([{"name": "approved", "variableA": false}]));
        pre["trigger"]["attributes"]["filter.$"] = json!("$.requestedItems[?(@.type == 'ACCESS_PROFILE')]");
        insert_workflow(&store, "w-pre", pre).await;
        let rejected = request_vpn(&governance).await;
        governance.engine().run_due().await.unwrap();
        let mut tx = store.begin().await.unwrap();
        assert_eq!(
            tx.request_items(&rejected).await.unwrap()[0].status.as_str(),
            "REJECTED",
            "{kind}: the filter selected it"
        );
        drop(tx);
        // A hook still running when the request is cancelled is cancelled with it.
        let cancelled = request_vpn(&governance).await;
        governance.cancel_access_request(&cancelled, "changed my mind", "test").await.unwrap();
        governance.engine().run_due().await.unwrap();
        let mut tx = store.begin().await.unwrap();
        assert_eq!(tx.access_request(&cancelled).await.unwrap().unwrap().status.as_str(), "CANCELLED", "{kind}");
        // The hook's run stopped before its first step, and nothing waits for it any more.
        assert!(tx.waiters_of("ACCESS_REQUEST", &cancelled).await.unwrap().is_empty(), "{kind}");
        let (runs, _) = tx.list_executions("w-pre", 10, 0).await.unwrap();
        let mut statuses: Vec<&str> = runs.iter().map(|r| r.status.as_str()).collect();
        statuses.sort();
        assert_eq!(statuses, ["Canceled", "Completed"], "{kind}: the first request's hook ran, the second's did not");
        let items = tx.request_items(&cancelled).await.unwrap();
        assert!(
            items.iter().all(|i| i.status.as_str() == "CANCELLED"),
            "{kind}: not rejected by the late answer: {items:?}"
        );
    }
}

#[tokio::test]
async fn a_stand_in_is_never_the_person_the_request_is_for_and_an_approval_counted_stays_put() {
    for (kind, store) in stores().await {
        let (governance, _clock) = world(&store).await;
        // Mary, Ada's manager, is away and names Ada herself.
        let away = tessera_governance::delegations::NewDelegation {
            delegator_id: "mary".into(),
            delegate_id: "ada".into(),
            starts_at: None,
            ends_at: None,
            comment: None,
        };
        governance.create_delegation(&away, "test").await.unwrap();
        let request = request_vpn(&governance).await;
        assert_eq!(
            levels(&store, &request).await[0].3,
            vec!["mary".to_string()],
            "{kind}: Ada may not approve for herself"
        );

        insert_workflow(&store, "w-laptop", approval_workflow(json!({"minimumApprovals": 2}))).await;
        let execution = start(&governance, &store, "w-laptop", json!({"who": "Ada"})).await;
        let item = items_of(&store, "EXECUTION", &execution).await.remove(0);
        governance.act_on_inbox_item(&item.id, actor("dan"), InboxAction::Approve { comment: None }).await.unwrap();
        let handed = governance
            .act_on_inbox_item(&item.id, actor("dan"), InboxAction::Delegate { to: "mary".into(), comment: None })
            .await;
        assert!(matches!(handed, Err(Error::Conflict(_))), "{kind}: Dan's approval is counted: {handed:?}");
    }
}

#[tokio::test]
async fn an_access_request_approval_is_never_handed_to_the_person_it_is_for() {
    for (kind, store) in stores().await {
        let (governance, clock) = world(&store).await;
        insert_workflow(
            &store,
            "w-approve",
            json!({"name": "VPN approval", "trigger": {"type": "AccessRequestTrigger", "attributes": {}},
                   "definition": {"start": "Ask", "steps": {
                       "Ask": {"type": "action", "actionId": "sp:access-request-approval",
                               "attributes": {"approvalScheme": "MANAGER", "deadline": "1h", "timeoutAction": "ESCALATE", "escalateTo": "ada"},
                               "nextStep": "Yes"},
                       "Yes": {"type": "success"}}}}),
        )
        .await;
        let request = request_vpn(&governance).await;
        governance.engine().run_due().await.unwrap();
        let mut tx = store.begin().await.unwrap();
        let item =
            tx.inbox_items(Some("mary"), Some(tessera_model::WorkStatus::Pending), 10, 0).await.unwrap().remove(0);
        drop(tx);
        assert_eq!(item.excluded, vec!["ada".to_string()], "{kind}");
        let handed = governance
            .act_on_inbox_item(&item.id, actor("mary"), InboxAction::Delegate { to: "ada".into(), comment: None })
            .await;
        assert!(matches!(&handed, Err(Error::Invalid(m)) if m.pointer == "/to"), "{kind}: {handed:?}");
        let handed = governance
            .act_on_inbox_item(&item.id, actor("mary"), InboxAction::Reassign { to: "ada".into(), comment: None })
            .await;
        assert!(matches!(handed, Err(Error::Invalid(_))), "{kind}");
        // Nor does the deadline escalate to her: the item expires instead, and the request is rejected.
        clock.advance_to("2026-04-01T09:01:00Z".parse().unwrap());
        governance.run_deadlines().await.unwrap();
        governance.run_deadlines().await.unwrap();
        governance.engine().run_due().await.unwrap();
        let closed = tx_item(&store, &item.id).await;
        assert_eq!((closed.status.as_str(), closed.assignees.clone()), ("EXPIRED", vec!["mary".to_string()]), "{kind}");
        assert_eq!(levels(&store, &request).await[0].2, "DENIED", "{kind}");
        assert!(!holds_vpn(&store).await, "{kind}");
    }
}

async fn tx_item(store: &Store, id: &str) -> InboxItemRecord {
    let mut tx = store.begin().await.unwrap();
    tx.inbox_item(id).await.unwrap().unwrap()
}
