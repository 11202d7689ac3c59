//! The inbox API: a workflow's approval shows in each assignee's `/tessera/v1/inbox` (beside their
//! pending ISC approvals), an assignee decides it once, someone else gets 403, a second decision 409,
//! bad actions clear 4xx errors; comments and delegations show in the item's activity; and the
//! workflow resumes with the decision.

#![allow(clippy::unwrap_used)]

use reqwest::Method;
use serde_json::{Value, json};
use tessera_store::IdentityStore;

use crate::common::{apis, bound_token, person};

fn approval() -> Value {
    json!({"name": "Laptop", "definition": {"start": "Approve", "steps": {
        "Approve": {"type": "action", "actionId": "sp:generic-approval", "nextStep": "Done",
                    "attributes": {"approvers": ["olga", "dan"], "subject": "Laptop for {{$.trigger.who}}",
                                   "description": "A 14-inch one", "deadline": "2d"}},
        "Done": {"type": "success"}}}})
}

const SCOPES: [&str; 2] = ["tessera:inbox:read", "tessera:inbox:manage"];

#[tokio::test]
async fn assignees_decide_workflow_approvals_from_their_inbox() {
    for api in apis().await {
        let kind = api.kind;
        let mut tx = api.store.begin().await.unwrap();
        tx.insert_identities(&[person("olga", None), person("dan", None), person("eve", None)]).await.unwrap();
        tx.commit().await.unwrap();
        let workflow = api.create(&approval()).await;
        let execution = api.test(&workflow, json!({"who": "Ada"})).await;
        api.run_due().await;
        let olga = bound_token(&api, "olga", &SCOPES).await;
        let dan = bound_token(&api, "dan", &SCOPES).await;
        let eve = bound_token(&api, "eve", &SCOPES).await;

        let inbox = api.call_as(Some(&olga), Method::GET, "/tessera/v1/inbox", None).await;
        assert_eq!(inbox.status, 200, "{kind}: {}", inbox.body);
        let items = inbox.body.as_array().unwrap();
        assert_eq!(items.len(), 1, "{kind}: {}", inbox.body);
        assert_eq!(items[0]["type"], "APPROVAL", "{kind}");
        assert_eq!(items[0]["title"], "Laptop for Ada", "{kind}");
        assert_eq!(items[0]["subject"], json!({"type": "EXECUTION", "id": execution}), "{kind}");
        assert_eq!(items[0]["due"], "2024-01-03T00:00:00.000Z", "{kind}");
        let id = items[0]["id"].as_str().unwrap().to_owned();
        let empty = api.call_as(Some(&eve), Method::GET, "/tessera/v1/inbox", None).await;
        assert_eq!(empty.body, json!([]), "{kind}: Eve has nothing");

        let path = |action: &str| format!("/tessera/v1/inbox/{id}/{action}");
        let hidden = api.call_as(Some(&eve), Method::GET, &format!("/tessera/v1/inbox/{id}"), None).await;
        assert_eq!(hidden.status, 404, "{kind}: not Eve's to see");
        let refused = api.call_as(Some(&eve), Method::POST, &path("approve"), Some(&json!({}))).await;
        assert_eq!((refused.status, refused.code()), (403, "not-allowed"), "{kind}: {}", refused.body);
        let unknown = api.call_as(Some(&olga), Method::POST, &path("bless"), Some(&json!({}))).await;
        assert_eq!(unknown.status, 404, "{kind}");
        let nobody = api.call_as(Some(&olga), Method::POST, &path("delegate"), Some(&json!({}))).await;
        assert_eq!((nobody.status, nobody.code()), (400, "invalid-request"), "{kind}: {}", nobody.body);
        let stray = api.call_as(Some(&olga), Method::POST, &path("approve"), Some(&json!({"decision": "yes"}))).await;
        assert_eq!(stray.status, 400, "{kind}: unknown fields are refused: {}", stray.body);
        let said =
            api.call_as(Some(&dan), Method::POST, &path("comment"), Some(&json!({"comment": "which model?"}))).await;
        assert_eq!(said.status, 200, "{kind}: {}", said.body);
        let delegated = api
            .call_as(Some(&dan), Method::POST, &path("delegate"), Some(&json!({"to": "eve", "comment": "away"})))
            .await;
        assert_eq!(delegated.status, 200, "{kind}: {}", delegated.body);
        let names: Vec<&str> =
            delegated.body["assignees"].as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap()).collect();
        assert_eq!(names, ["eve", "olga"], "{kind}");

        let approved =
            api.call_as(Some(&eve), Method::POST, &path("approve"), Some(&json!({"comment": "go ahead"}))).await;
        assert_eq!(approved.status, 200, "{kind}: {}", approved.body);
        assert_eq!(approved.body["status"], "APPROVED", "{kind}");
        assert_eq!(approved.body["decidedBy"]["id"], "eve", "{kind}");
        let twice = api.call_as(Some(&olga), Method::POST, &path("deny"), None).await;
        assert_eq!((twice.status, twice.code()), (409, "conflict"), "{kind}: {}", twice.body);

        let read = api.call_as(Some(&eve), Method::GET, &format!("/tessera/v1/inbox/{id}"), None).await;
        let kinds: Vec<&str> =
            read.body["activity"].as_array().unwrap().iter().map(|a| a["type"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["OPEN", "COMMENT", "DELEGATE", "APPROVE"], "{kind}: {}", read.body);
        assert_eq!(read.body["activity"][2]["actor"]["id"], "dan", "{kind}");
        let audit = api.audit_of("inbox-item", &id).await;
        assert_eq!(audit.len(), 3, "{kind}: comment, delegate, approve are audited");

        api.run_due().await;
        let done = api.get(&format!("/v3/workflow-executions/{execution}")).await;
        assert_eq!(done.body["status"], "Completed", "{kind}: {}", done.body);
        let closed = api.call_as(Some(&olga), Method::GET, "/tessera/v1/inbox?status=APPROVED", None).await;
        assert_eq!(closed.body.as_array().unwrap().len(), 1, "{kind}");
        let bad = api.call_as(Some(&olga), Method::GET, "/tessera/v1/inbox?status=MAYBE", None).await;
        assert_eq!(bad.status, 400, "{kind}");
        let told = api.call_as(Some(&olga), Method::GET, "/tessera/v1/notifications", None).await;
        assert_eq!(told.body[0]["subject"], "Approval needed: Laptop for Ada", "{kind}: {}", told.body);
        assert_eq!(told.body[0]["status"], "SKIPPED", "{kind}: Olga has no email address");
        let admin = api.get("/tessera/v1/inbox?assignee=olga&status=ALL").await;
        assert_eq!(admin.body.as_array().unwrap().len(), 1, "{kind}: an administrator reads anyone's inbox");
        let unbound = api.get("/tessera/v1/notifications").await;
        assert_eq!(unbound.status, 400, "{kind}: whose? {}", unbound.body);
    }
}

#[tokio::test]
async fn an_approver_away_has_new_items_go_to_their_delegate_until_it_ends() {
    for api in apis().await {
        let kind = api.kind;
        let mut tx = api.store.begin().await.unwrap();
        tx.insert_identities(&[person("olga", None), person("dan", None), person("eve", None)]).await.unwrap();
        tx.commit().await.unwrap();
        let olga = bound_token(&api, "olga", &SCOPES).await;
        let eve = bound_token(&api, "eve", &SCOPES).await;
        let path = "/tessera/v1/delegations";
        let bad = api.call_as(Some(&olga), Method::POST, path, Some(&json!({"delegateId": "olga"}))).await;
        assert_eq!(
            (bad.status, bad.body["errors"][0]["pointer"].as_str()),
            (400, Some("/delegateId")),
            "{kind}: {}",
            bad.body
        );
        let bad =
            api.call_as(Some(&olga), Method::POST, path, Some(&json!({"delegateId": "eve", "end": "soon"}))).await;
        assert_eq!(
            (bad.status, bad.body["errors"][0]["pointer"].as_str()),
            (400, Some("/end")),
            "{kind}: {}",
            bad.body
        );
        let theirs = api
            .call_as(Some(&olga), Method::POST, path, Some(&json!({"delegatorId": "dan", "delegateId": "eve"})))
            .await;
        assert_eq!(theirs.status, 403, "{kind}: only an administrator delegates for someone else");
        let away = json!({"delegateId": "eve", "end": "2024-01-08T00:00:00Z", "comment": "on leave"});
        let created = api.call_as(Some(&olga), Method::POST, path, Some(&away)).await;
        assert_eq!(created.status, 201, "{kind}: {}", created.body);
        let delegation = created.body["id"].as_str().unwrap().to_owned();

        let workflow = api.create(&approval()).await;
        api.test(&workflow, json!({"who": "Ada"})).await;
        api.run_due().await;
        let mine = api.call_as(Some(&olga), Method::GET, "/tessera/v1/inbox", None).await;
        assert_eq!(mine.body, json!([]), "{kind}: Olga is away");
        let standing_in = api.call_as(Some(&eve), Method::GET, "/tessera/v1/inbox", None).await;
        let items = standing_in.body.as_array().unwrap();
        assert_eq!(items.len(), 1, "{kind}: {}", standing_in.body);
        let names: Vec<&str> =
            items[0]["assignees"].as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap()).collect();
        assert_eq!(names, ["dan", "eve"], "{kind}");

        let ended = api.call_as(Some(&eve), Method::DELETE, &format!("{path}/{delegation}"), None).await;
        assert_eq!(ended.status, 403, "{kind}: only Olga ends her delegation");
        let ended = api.call_as(Some(&olga), Method::DELETE, &format!("{path}/{delegation}"), None).await;
        assert_eq!(ended.status, 204, "{kind}: {}", ended.body);
        let again = api.call_as(Some(&olga), Method::DELETE, &format!("{path}/{delegation}"), None).await;
        assert_eq!(again.status, 409, "{kind}");
        api.test(&workflow, json!({"who": "Bob"})).await;
        api.run_due().await;
        let back = api.call_as(Some(&olga), Method::GET, "/tessera/v1/inbox", None).await;
        assert_eq!(back.body.as_array().unwrap().len(), 1, "{kind}: back at work: {}", back.body);
        let listed = api.call_as(Some(&olga), Method::GET, path, None).await;
        assert_eq!(listed.body[0]["revoked"], "2024-01-01T00:00:00.000Z", "{kind}: {}", listed.body);
        assert_eq!(api.audit_of("delegation", &delegation).await.len(), 2, "{kind}");
    }
}
