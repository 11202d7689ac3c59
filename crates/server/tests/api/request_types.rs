//! Okta-style request types over HTTP, on both databases: the seed-004 example loaded from
//! `examples/badge-access/` and run end to end with a real SMTP server (manager approval, the
//! delegated workflow with mapped fields emailing the assignee, the assignee closing the task, the
//! timeline); a denial and an expired approval closing a request; answers and definitions checked with
//! pointers; teams and lists in use; acting on someone else's task and completing twice; a failing
//! delegated workflow, whose credentials stay masked; and a grant action giving access. `access`
//! holds who may do what.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use tessera_connectors::testing::smtp::SmtpServer;
use tessera_engine::EngineConfig;
use tessera_engine::actions::email::SmtpConfig;
use tessera_model::Timestamp;
use tessera_store::{AccessStore, CatalogKind, CatalogStore, IdentityRecord, IdentityStore};

use crate::common::{ADMIN, ADMIN_SECRET, Api, Reply, apis, apis_with_config, object, person};

mod access;

const REQUESTER: &[&str] = &["tessera:requests:read", "tessera:requests:manage", "tessera:request-types:read"];
const WORKER: &[&str] =
    &["tessera:inbox:read", "tessera:inbox:manage", "tessera:requests:read", "tessera:requests:manage"];
const EDITOR: &[&str] = &["tessera:request-types:read", "tessera:request-types:manage"];

/// A person with an email address (as a column and as the `email` attribute notifications read).
fn someone(id: &str, manager: Option<&str>) -> IdentityRecord {
    let mut p = person(id, manager);
    p.email = Some(format!("{id}@example.com"));
    p.attributes.insert("email".into(), json!(format!("{id}@example.com")));
    p
}

/// Ada (managed by Mary) asks; Bob and Cleo are the Badge Access team; Eve is nobody in particular.
async fn seed(api: &Api) {
    let mut tx = api.store.begin().await.unwrap();
    let people = [
        someone("mary", None),
        someone("ada", Some("mary")),
        someone("bob", None),
        someone("cleo", None),
        someone("eve", None),
    ];
    tx.insert_identities(&people).await.unwrap();
    tx.commit().await.unwrap();
}

/// A file of the example with its `${…}` placeholders filled, as `load.sh` fills them.
fn example(file: &str, vars: &[(&str, &str)]) -> Value {
    let path = format!("{}/../../examples/badge-access/{file}", env!("CARGO_MANIFEST_DIR"));
    let mut text = std::fs::read_to_string(&path).unwrap();
    for (name, value) in vars {
        text = text.replace(&format!("${{{name}}}"), value);
    }
    assert!(!text.contains("${BADGE_") && !text.contains("${BUILDINGS_"), "{file}: a placeholder is left");
    serde_json::from_str(&text).unwrap()
}

/// The ids `load.sh` makes.
struct Loaded {
    workflow: String,
    team: String,
    list: String,
    request_type: String,
}

/// Loads the example as `load.sh` does: workflow, team, list, request type, publish.
async fn load_example(api: &Api) -> Loaded {
    let kind = api.kind;
    let workflow = created(api, "/v3/workflows", example("manual-badge-provisioning.json", &[])).await;
    let members = [("BADGE_MEMBER_1", "bob"), ("BADGE_MEMBER_2", "cleo")];
    let team = created(api, "/tessera/v1/teams", example("team.json", &members)).await;
    let list =
        created(api, "/tessera/v1/configuration-lists", example("buildings.json", &[("BADGE_TEAM_ID", &team)])).await;
    let vars = [("BADGE_TEAM_ID", team.as_str()), ("BUILDINGS_LIST_ID", &list), ("BADGE_WORKFLOW_ID", &workflow)];
    let request_type = created(api, "/tessera/v1/request-types", example("request-type.json", &vars)).await;
    let published = api.post(&format!("/tessera/v1/request-types/{request_type}/publish"), &json!({})).await;
    assert_eq!((published.status, &published.body["status"]), (200, &json!("PUBLISHED")), "{kind}: {}", published.body);
    Loaded { workflow, team, list, request_type }
}

async fn created(api: &Api, path: &str, body: Value) -> String {
    let reply = api.post(path, &body).await;
    assert!(matches!(reply.status, 200 | 201), "{}: POST {path}: {}", api.kind, reply.body);
    reply.body["id"].as_str().unwrap().to_owned()
}

/// A token acting as `identity`, from a client bound to it over the API.
async fn bound(api: &Api, identity: &str, scopes: &[&str]) -> String {
    let body = json!({"name": format!("{identity}'s client"), "scope": scopes, "identityId": identity});
    let created = api.post("/v3/oauth-clients", &body).await;
    assert_eq!(created.status, 201, "{}: {}", api.kind, created.body);
    api.token_for(created.body["id"].as_str().unwrap(), created.body["secret"].as_str().unwrap()).await
}

async fn as_(api: &Api, token: &str, method: Method, path: &str, body: Option<Value>) -> Reply {
    api.call_as(Some(token), method, path, body.as_ref()).await
}

fn refused(reply: &Reply, status: u16, code: &str, pointer: Option<&str>) {
    assert_eq!((reply.status, reply.code()), (status, code), "{}", reply.body);
    if let Some(pointer) = pointer {
        let pointers: Vec<&str> =
            reply.body["errors"].as_array().unwrap().iter().map(|e| e["pointer"].as_str().unwrap()).collect();
        assert!(pointers.contains(&pointer), "expected {pointer} among {pointers:?}: {}", reply.body);
    }
}

fn badge_answers() -> Value {
    json!({"businessJustification": "I start on the London trading floor", "building": "LON-1CS",
           "endDate": "2025-03-31"})
}

fn smtp_config(server: &SmtpServer) -> EngineConfig {
    let smtp =
        SmtpConfig { port: server.port(), from: "Tessera <tessera@example.com>".into(), ..SmtpConfig::default() };
    EngineConfig { smtp, ..EngineConfig::default() }
}

async fn request(api: &Api, id: &str) -> Value {
    let reply = api.get(&format!("/tessera/v1/requests/{id}")).await;
    assert_eq!(reply.status, 200, "{}: {}", api.kind, reply.body);
    reply.body
}

/// The types of a request's timeline entries, in order.
async fn timeline(api: &Api, id: &str) -> Vec<Value> {
    let reply = api.get(&format!("/tessera/v1/requests/{id}/timeline")).await;
    assert_eq!(reply.status, 200, "{}: {}", api.kind, reply.body);
    reply.body.as_array().unwrap().clone()
}

fn kinds(entries: &[Value]) -> Vec<&str> {
    entries.iter().map(|e| e["type"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn the_badge_access_example_runs_from_request_to_closed_task() {
    let smtp = SmtpServer::start();
    for api in apis_with_config(smtp_config(&smtp)).await {
        let kind = api.kind;
        seed(&api).await;
        let loaded = load_example(&api).await;
        let ada = bound(&api, "ada", REQUESTER).await;
        let mary = bound(&api, "mary", WORKER).await;
        let bob = bound(&api, "bob", WORKER).await;
        let cleo = bound(&api, "cleo", WORKER).await;

        // Ada sees the published type and its buildings, and raises a request as herself.
        let types = as_(&api, &ada, Method::GET, "/tessera/v1/request-types", None).await;
        assert_eq!(types.body[0]["name"], "Badge access", "{kind}: {}", types.body);
        let items =
            as_(&api, &ada, Method::GET, &format!("/tessera/v1/configuration-lists/{}/items", loaded.list), None).await;
        assert_eq!(items.body[0]["label"], "London, 1 Canada Square", "{kind}: {}", items.body);
        let body = json!({"requestTypeId": loaded.request_type, "subject": "Badge for the London office",
                          "answers": badge_answers()});
        let submitted = as_(&api, &ada, Method::POST, "/tessera/v1/requests", Some(body)).await;
        assert_eq!(submitted.status, 201, "{kind}: {}", submitted.body);
        let id = submitted.body["id"].as_str().unwrap().to_owned();
        let r = &submitted.body;
        assert_eq!(
            (&r["status"], &r["requester"]["id"], &r["assignee"]["id"]),
            (&json!("PENDING"), &json!("ada"), &json!("bob")),
            "{kind}: the least busy member, first listed, is assigned: {r}"
        );
        assert_eq!(r["answerLabels"]["building"], "London, 1 Canada Square", "{kind}");
        assert_eq!(
            (&r["steps"][0]["status"], &r["steps"][1]["status"]),
            (&json!("PENDING"), &json!("WAITING")),
            "{kind}"
        );
        let approval = r["steps"][0]["inboxItemId"].as_str().unwrap().to_owned();

        // Mary's inbox holds the approval; Eve's and Bob's attempts are refused; Mary approves.
        let inbox = as_(&api, &mary, Method::GET, "/tessera/v1/inbox", None).await;
        assert_eq!(inbox.body[0]["id"], approval.as_str(), "{kind}: {}", inbox.body);
        assert_eq!(inbox.body[0]["details"]["answers"]["building"], "LON-1CS", "{kind}");
        let decide = format!("/tessera/v1/inbox/{approval}/approve");
        refused(&as_(&api, &bob, Method::POST, &decide, Some(json!({}))).await, 403, "not-allowed", None);
        let approved = as_(&api, &mary, Method::POST, &decide, Some(json!({"comment": "Enjoy London"}))).await;
        assert_eq!(approved.status, 200, "{kind}: {}", approved.body);
        refused(&as_(&api, &mary, Method::POST, &decide, Some(json!({}))).await, 409, "conflict", None);
        let r = request(&api, &id).await;
        assert_eq!(
            (&r["steps"][0]["status"], &r["steps"][0]["decidedBy"]["id"]),
            (&json!("APPROVED"), &json!("mary")),
            "{kind}: {r}"
        );
        assert_eq!(r["steps"][1]["status"], "RUNNING", "{kind}: {r}");
        let execution = r["steps"][1]["executionId"].as_str().unwrap().to_owned();

        // The delegated workflow runs with the mapped fields and emails Bob through the SMTP server.
        api.run_due().await;
        let exec = api.get(&format!("/v3/workflow-executions/{execution}")).await;
        assert_eq!(exec.body["status"], "Completed", "{kind}: {}", exec.body);
        let mail =
            smtp.wait_for(Duration::from_secs(10), |m| m.html.as_deref().is_some_and(|h| h.contains(&id))).unwrap();
        assert_eq!(mail.header("To"), "bob@example.com", "{kind}: the assignee gets the email");
        assert_eq!(mail.header("Subject"), "Badge access for ada: London, 1 Canada Square", "{kind}");
        let html = mail.html.unwrap();
        for expected in [
            "ada (ada@example.com)",
            "<b>London, 1 Canada Square</b>",
            "until 2025-03-31",
            "I start on the London trading floor",
            &format!("ticket BADGE-{id}"),
        ] {
            assert!(html.contains(expected), "{kind}: `{expected}` is in the email: {html}");
        }

        // The workflow's output came back; Bob now has the task; Cleo may not close it.
        let r = request(&api, &id).await;
        assert_eq!(r["steps"][1]["status"], "COMPLETED", "{kind}: {r}");
        assert_eq!(r["outputs"]["1"]["buildTicket"]["ticket"], format!("BADGE-{id}"), "{kind}: {r}");
        assert_eq!(r["steps"][2]["status"], "PENDING", "{kind}: {r}");
        let task = r["steps"][2]["inboxItemId"].as_str().unwrap().to_owned();
        let complete = format!("/tessera/v1/inbox/{task}/complete");
        refused(&as_(&api, &cleo, Method::POST, &complete, Some(json!({}))).await, 403, "not-allowed", None);
        let done = as_(&api, &bob, Method::POST, &complete, Some(json!({"comment": "Badge works"}))).await;
        assert_eq!(done.status, 200, "{kind}: {}", done.body);
        refused(&as_(&api, &bob, Method::POST, &complete, Some(json!({}))).await, 409, "conflict", None);
        let r = request(&api, &id).await;
        assert_eq!((&r["status"], &r["steps"][2]["status"]), (&json!("COMPLETED"), &json!("COMPLETED")), "{kind}: {r}");

        // The timeline shows each step, who and when.
        let entries = timeline(&api, &id).await;
        assert_eq!(
            kinds(&entries),
            [
                "SUBMITTED",
                "ASSIGNED",
                "APPROVAL_REQUESTED",
                "APPROVAL_DECIDED",
                "WORKFLOW_STARTED",
                "WORKFLOW_ENDED",
                "TASK_OPENED",
                "TASK_COMPLETED",
                "COMPLETED"
            ],
            "{kind}: {entries:#?}"
        );
        let by = |i: usize| entries[i]["actor"]["id"].clone();
        assert_eq!((by(0), by(3), by(7)), (json!("ada"), json!("mary"), json!("bob")), "{kind}");
        assert_eq!(entries[0]["detail"]["answers"], badge_answers(), "{kind}");
        assert_eq!(entries[3]["detail"]["comment"], "Enjoy London", "{kind}");
        assert!(entries.iter().all(|e| e["at"].as_str().is_some_and(|t| t.starts_with("2024-01-01T"))), "{kind}");
        let input = &entries[4]["detail"]["input"];
        assert_eq!(input["requestId"], id.as_str(), "{kind}: the request id is passed: {input}");
        assert_eq!(input["requester"]["name"], "ada", "{kind}: an object field: {input}");
        assert_eq!(input["buildingRequested"], "London, 1 Canada Square", "{kind}");
        assert_eq!(
            (&input["assigneeEmail"], &input["endDate"]),
            (&json!("bob@example.com"), &json!("2025-03-31")),
            "{kind}"
        );
        assert_eq!(entries[5]["detail"]["status"], "Completed", "{kind}");

        // The events and the audit trail.
        let topics: Vec<(String, String)> = sqlx::query_as(
            "SELECT topic, payload FROM outbox WHERE topic LIKE 'tessera:request-%' ORDER BY created_at, id",
        )
        .fetch_all(api.store.pool())
        .await
        .unwrap();
        assert_eq!(
            topics.iter().map(|t| t.0.as_str()).collect::<Vec<_>>(),
            ["tessera:request-submitted", "tessera:request-closed"],
            "{kind}"
        );
        let closed: Value = serde_json::from_str(&topics[1].1).unwrap();
        assert_eq!(
            (&closed["requestId"], &closed["status"], &closed["requester"]["id"]),
            (&json!(id), &json!("COMPLETED"), &json!("ada")),
            "{kind}"
        );
        let audit: Vec<String> = api.audit_of("request", &id).await.into_iter().map(|a| a.action).collect();
        assert!(
            audit.contains(&"request.submit".into()) && audit.contains(&"request.close".into()),
            "{kind}: {audit:?}"
        );

        // Eve sees nothing of Ada's request; Ada sees hers.
        let eve = bound(&api, "eve", REQUESTER).await;
        refused(
            &as_(&api, &eve, Method::GET, &format!("/tessera/v1/requests/{id}"), None).await,
            404,
            "not-found",
            None,
        );
        assert_eq!(as_(&api, &eve, Method::GET, "/tessera/v1/requests", None).await.body, json!([]), "{kind}");
        let mine = as_(&api, &ada, Method::GET, "/tessera/v1/requests?view=mine", None).await;
        assert_eq!(mine.body[0]["id"], id.as_str(), "{kind}");
        let team = as_(&api, &cleo, Method::GET, "/tessera/v1/requests?view=team&status=COMPLETED", None).await;
        assert_eq!(team.body[0]["id"], id.as_str(), "{kind}: Cleo sees her team's request: {}", team.body);
        let own = as_(&api, &cleo, Method::GET, "/tessera/v1/requests?view=mine", None).await;
        assert_eq!(own.body, json!([]), "{kind}");
        let assigned = as_(&api, &bob, Method::GET, "/tessera/v1/requests?view=assigned", None).await;
        assert_eq!(assigned.body[0]["id"], id.as_str(), "{kind}");
        refused(&api.get("/tessera/v1/requests?view=mine").await, 400, "bad-request", None);
        let _ = loaded.team;
        let _ = loaded.workflow;
    }
}

#[tokio::test]
async fn a_denial_or_an_expired_approval_closes_the_request_and_skips_the_rest() {
    let smtp = SmtpServer::start();
    for api in apis_with_config(smtp_config(&smtp)).await {
        let kind = api.kind;
        seed(&api).await;
        let loaded = load_example(&api).await;
        let ada = bound(&api, "ada", REQUESTER).await;
        let mary = bound(&api, "mary", WORKER).await;
        let raise = |subject: &str| json!({"requestTypeId": loaded.request_type, "subject": subject, "answers": badge_answers()});

        let denied = as_(&api, &ada, Method::POST, "/tessera/v1/requests", Some(raise("first"))).await;
        let id = denied.body["id"].as_str().unwrap().to_owned();
        let item = denied.body["steps"][0]["inboxItemId"].as_str().unwrap().to_owned();
        let reply = as_(
            &api,
            &mary,
            Method::POST,
            &format!("/tessera/v1/inbox/{item}/deny"),
            Some(json!({"comment": "Not this quarter"})),
        )
        .await;
        assert_eq!(reply.status, 200, "{kind}: {}", reply.body);
        let r = request(&api, &id).await;
        assert_eq!(r["status"], "DENIED", "{kind}: {r}");
        assert!(r["reason"].as_str().unwrap().contains("Not this quarter"), "{kind}: {r}");
        let statuses: Vec<&Value> = (0..3).map(|i| &r["steps"][i]["status"]).collect();
        assert_eq!(statuses, [&json!("DENIED"), &json!("SKIPPED"), &json!("SKIPPED")], "{kind}");
        assert!(r["steps"][1]["executionId"].is_null(), "{kind}: no workflow ran");
        let entries = timeline(&api, &id).await;
        assert_eq!(kinds(&entries)[3..], ["APPROVAL_DECIDED", "DENIED"], "{kind}: {entries:#?}");
        assert_eq!(entries[3]["actor"]["id"], "mary", "{kind}");
        let cancel = as_(&api, &ada, Method::POST, &format!("/tessera/v1/requests/{id}/cancel"), None).await;
        refused(&cancel, 409, "conflict", None);

        // A third, cancelled by Ada while it waits: its approval is withdrawn from Mary's inbox.
        let third = as_(&api, &ada, Method::POST, "/tessera/v1/requests", Some(raise("third"))).await;
        let third_id = third.body["id"].as_str().unwrap().to_owned();
        let item = third.body["steps"][0]["inboxItemId"].as_str().unwrap().to_owned();
        let cancelled = as_(
            &api,
            &ada,
            Method::POST,
            &format!("/tessera/v1/requests/{third_id}/cancel"),
            Some(json!({"comment": "went remote"})),
        )
        .await;
        assert_eq!(
            (cancelled.status, &cancelled.body["status"]),
            (200, &json!("CANCELLED")),
            "{kind}: {}",
            cancelled.body
        );
        let reply = as_(&api, &mary, Method::POST, &format!("/tessera/v1/inbox/{item}/approve"), Some(json!({}))).await;
        refused(&reply, 409, "conflict", None);
        let entries = timeline(&api, &third_id).await;
        assert_eq!(entries.last().unwrap()["type"], "CANCELLED", "{kind}");
        assert_eq!(entries.last().unwrap()["actor"]["id"], "ada", "{kind}");

        // The approval's deadline (P3D, onTimeout DENY) passes undecided.
        let late = as_(&api, &ada, Method::POST, "/tessera/v1/requests", Some(raise("second"))).await;
        let late_id = late.body["id"].as_str().unwrap().to_owned();
        api.advance(chrono::Duration::days(3) + chrono::Duration::minutes(1));
        api.governance.run_deadlines().await.unwrap();
        // Tokens have expired meanwhile: read with a new one.
        let admin = api.token_for(ADMIN, ADMIN_SECRET).await;
        let r = as_(&api, &admin, Method::GET, &format!("/tessera/v1/requests/{late_id}"), None).await.body;
        assert_eq!(r["status"], "DENIED", "{kind}: {r}");
        let entries = as_(&api, &admin, Method::GET, &format!("/tessera/v1/requests/{late_id}/timeline"), None).await;
        let entries = entries.body.as_array().unwrap();
        let decided = entries.iter().find(|e| e["type"] == "APPROVAL_DECIDED").unwrap();
        assert_eq!((&decided["detail"]["byDeadline"], &decided["actor"]), (&json!(true), &Value::Null), "{kind}");
    }
}

#[tokio::test]
async fn answers_are_checked_with_pointers_and_the_audience_and_status_are_enforced() {
    for api in apis().await {
        let kind = api.kind;
        seed(&api).await;
        let loaded = load_example(&api).await;
        let ada = bound(&api, "ada", REQUESTER).await;
        let with =
            |answers: Value| json!({"requestTypeId": loaded.request_type, "subject": "badge", "answers": answers});
        let mut unknown = badge_answers();
        unknown["colour"] = json!("blue");
        let mut outside = badge_answers();
        outside["building"] = json!("MARS-1");
        let mut missing = badge_answers();
        missing.as_object_mut().unwrap().remove("businessJustification");
        let mut not_a_date = badge_answers();
        not_a_date["endDate"] = json!("next tuesday");
        let mut not_text = badge_answers();
        not_text["businessJustification"] = json!(42);
        let bad = [
            (with(unknown), "/answers/colour"),
            (with(outside), "/answers/building"),
            (with(missing), "/answers/businessJustification"),
            (with(not_a_date), "/answers/endDate"),
            (with(not_text), "/answers/businessJustification"),
            (json!({"requestTypeId": loaded.request_type, "answers": badge_answers()}), "/subject"),
            (json!({"requestTypeId": "nope", "subject": "x", "answers": {}}), "/requestTypeId"),
            (json!({"requestTypeId": loaded.request_type, "subject": "x", "answers": [], "size": 1}), "/size"),
        ];
        for (body, pointer) in bad {
            let reply = as_(&api, &ada, Method::POST, "/tessera/v1/requests", Some(body)).await;
            refused(&reply, 400, "invalid-request", Some(pointer));
        }
        let as_eve = json!({"requestTypeId": loaded.request_type, "subject": "x", "requester": "eve", "answers": badge_answers()});
        refused(&as_(&api, &ada, Method::POST, "/tessera/v1/requests", Some(as_eve)).await, 403, "forbidden", None);
        let nobody = json!({"requestTypeId": loaded.request_type, "subject": "x", "answers": badge_answers()});
        refused(&api.post("/tessera/v1/requests", &nobody).await, 400, "invalid-request", Some("/requester"));
        let reader = api.client_with("reader", &["tessera:requests:read"]).await;
        refused(
            &as_(&api, &reader, Method::POST, "/tessera/v1/requests", Some(nobody.clone())).await,
            403,
            "forbidden",
            None,
        );

        // A type for the team only, with number and boolean questions, still a draft.
        let parking = json!({"name": "Parking", "teamId": loaded.team, "audience": {"groupId": loaded.team},
            "questions": [{"key": "spaces", "prompt": "How many?", "type": "NUMBER", "required": true},
                          {"key": "electric", "prompt": "Electric?", "type": "BOOLEAN"}],
            "steps": [{"type": "TASK", "title": "Note it", "markDoneAutomatically": true}]});
        let parking = created(&api, "/tessera/v1/request-types", parking).await;
        let bob = bound(&api, "bob", REQUESTER).await;
        let raise = |answers: Value| json!({"requestTypeId": parking, "subject": "parking", "answers": answers});
        let reply = as_(&api, &bob, Method::POST, "/tessera/v1/requests", Some(raise(json!({"spaces": 1})))).await;
        refused(&reply, 409, "conflict", None);
        api.post(&format!("/tessera/v1/request-types/{parking}/publish"), &json!({})).await;
        let reply = as_(&api, &ada, Method::POST, "/tessera/v1/requests", Some(raise(json!({"spaces": 1})))).await;
        refused(&reply, 403, "forbidden", None);
        let reply = as_(&api, &bob, Method::POST, "/tessera/v1/requests", Some(raise(json!({"spaces": "two"})))).await;
        refused(&reply, 400, "invalid-request", Some("/answers/spaces"));
        let reply =
            as_(&api, &bob, Method::POST, "/tessera/v1/requests", Some(raise(json!({"spaces": 2, "electric": "yes"}))))
                .await;
        refused(&reply, 400, "invalid-request", Some("/answers/electric"));
        let reply =
            as_(&api, &bob, Method::POST, "/tessera/v1/requests", Some(raise(json!({"spaces": 2, "electric": true}))))
                .await;
        assert_eq!(
            (reply.status, &reply.body["status"]),
            (201, &json!("COMPLETED")),
            "{kind}: done automatically: {}",
            reply.body
        );
        let entries = timeline(&api, reply.body["id"].as_str().unwrap()).await;
        assert_eq!(kinds(&entries), ["SUBMITTED", "ASSIGNED", "TASK_COMPLETED", "COMPLETED"], "{kind}");
        assert_eq!(entries[2]["detail"]["automatically"], true, "{kind}");
        // A service names the requester.
        let mut for_cleo = raise(json!({"spaces": 1}));
        for_cleo["requester"] = json!("cleo");
        let reply = api.post("/tessera/v1/requests", &for_cleo).await;
        assert_eq!((reply.status, &reply.body["requester"]["id"]), (201, &json!("cleo")), "{kind}: {}", reply.body);
    }
}

#[tokio::test]
async fn definitions_are_checked_with_pointers_and_what_is_in_use_stays() {
    for api in apis().await {
        let kind = api.kind;
        seed(&api).await;
        let loaded = load_example(&api).await;
        let external = json!({"name": "Not delegated", "trigger": {"type": "EXTERNAL", "attributes": {}},
            "definition": {"start": "Done", "steps": {"Done": {"type": "success"}}}});
        let external = created(&api, "/v3/workflows", external).await;
        let body = json!({"name": "Broken", "status": "SOMETIMES",
            "questions": [{"key": "a", "prompt": "A", "type": "COLOR"},
                          {"key": "b", "prompt": "B", "type": "DROPDOWN", "configurationListId": "nope"}],
            "steps": [{"type": "APPROVAL", "approver": {"GROUP": "nope"}},
                      {"type": "ACTION", "action": "WORKFLOW", "workflowId": "nope"},
                      {"type": "ACTION", "action": "WORKFLOW", "workflowId": external},
                      {"type": "ACTION", "action": "WORKFLOW", "workflowId": loaded.workflow,
                       "fields": {"requestId": {"attribute": "requestId"}, "colour": {"question": "unknown"}}},
                      {"type": "APPROVAL", "approver": "REQUESTER_MANAGER", "deadline": "P1M"},
                      {"type": "ACTION", "action": "GRANT", "items": [{"type": "ROLE", "id": "nope"}]}]});
        let reply = api.post("/tessera/v1/request-types", &body).await;
        refused(&reply, 400, "invalid-request", None);
        let pointers: Vec<&str> =
            reply.body["errors"].as_array().unwrap().iter().map(|e| e["pointer"].as_str().unwrap()).collect();
        for expected in ["/teamId", "/questions/0/type", "/steps/3/fields/colour/question", "/steps/4/deadline"] {
            assert!(pointers.contains(&expected), "{kind}: {expected} in {pointers:?}");
        }
        // With its shape right, what it names is checked: every problem at once.
        let mut named = body.clone();
        named["teamId"] = json!(loaded.team);
        named["status"] = json!("DRAFT");
        named["questions"][0]["type"] = json!("TEXT");
        named["steps"][3]["fields"] = json!({"requestId": {"attribute": "requestId"}, "colour": {"value": "red"}});
        named["steps"][4]["deadline"] = json!("P2D");
        let reply = api.post("/tessera/v1/request-types", &named).await;
        let pointers: Vec<&str> =
            reply.body["errors"].as_array().unwrap().iter().map(|e| e["pointer"].as_str().unwrap()).collect();
        for expected in [
            "/questions/1/configurationListId",
            "/steps/0/approver/GROUP",
            "/steps/1/workflowId",
            "/steps/2/workflowId",
            "/steps/3/fields/colour",
            "/steps/3/fields",
            "/steps/5/items/0/id",
        ] {
            assert!(pointers.contains(&expected), "{kind}: {expected} in {pointers:?}: {}", reply.body);
        }
        assert!(reply.body.to_string().contains("DELEGATED"), "{kind}: {}", reply.body);
        refused(
            &api.post("/tessera/v1/request-types", &json!({"name": "x", "teamId": loaded.team, "steps": []})).await,
            400,
            "invalid-request",
            Some("/steps"),
        );

        // Who may edit: the team's admin (Bob), not a member (Cleo) nor an outsider (Eve).
        let current = api.get(&format!("/tessera/v1/request-types/{}", loaded.request_type)).await.body;
        let mut edited = current.clone();
        edited["description"] = json!("Badge access, edited");
        let path = format!("/tessera/v1/request-types/{}", loaded.request_type);
        for who in ["eve", "cleo"] {
            let token = bound(&api, who, EDITOR).await;
            refused(&as_(&api, &token, Method::PUT, &path, Some(edited.clone())).await, 403, "forbidden", None);
        }
        let bob = bound(&api, "bob", EDITOR).await;
        let reply = as_(&api, &bob, Method::PUT, &path, Some(edited)).await;
        assert_eq!((reply.status, &reply.body["status"]), (200, &json!("PUBLISHED")), "{kind}: {}", reply.body);
        let audit: Vec<String> =
            api.audit_of("request-type", &loaded.request_type).await.into_iter().map(|a| a.action).collect();
        assert_eq!(audit, ["request-type.create", "request-type.publish", "request-type.update"], "{kind}");

        // In use: the team and list by the type, the type by an open request.
        let ada = bound(&api, "ada", REQUESTER).await;
        let raised = json!({"requestTypeId": loaded.request_type, "subject": "x", "answers": badge_answers()});
        let open = as_(&api, &ada, Method::POST, "/tessera/v1/requests", Some(raised)).await.body["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let delete = |path: String| {
            let api = &api;
            async move { api.call(Method::DELETE, &path, None).await }
        };
        refused(&delete(format!("/tessera/v1/teams/{}", loaded.team)).await, 409, "in-use", None);
        refused(&delete(format!("/tessera/v1/configuration-lists/{}", loaded.list)).await, 409, "in-use", None);
        refused(&delete(path.clone()).await, 409, "in-use", None);
        let cancelled = api.post(&format!("/tessera/v1/requests/{open}/cancel"), &json!({})).await;
        assert_eq!(cancelled.body["status"], "CANCELLED", "{kind}: {}", cancelled.body);
        assert_eq!(delete(path.clone()).await.status, 204, "{kind}");
        assert_eq!(delete(format!("/tessera/v1/configuration-lists/{}", loaded.list)).await.status, 204, "{kind}");
        assert_eq!(delete(format!("/tessera/v1/teams/{}", loaded.team)).await.status, 204, "{kind}");
        refused(&api.get(&path).await, 404, "not-found", None);
        // The cancelled request's history stays.
        assert_eq!(request(&api, &open).await["status"], "CANCELLED", "{kind}");

        // Teams and lists check their bodies too.
        let reply = api
            .post("/tessera/v1/teams", &json!({"name": "T", "members": ["ghost"], "admins": ["eve"], "editors": "ALL"}))
            .await;
        let pointers: Vec<&str> =
            reply.body["errors"].as_array().unwrap().iter().map(|e| e["pointer"].as_str().unwrap()).collect();
        assert_eq!(pointers, ["/editors", "/members/0", "/admins/0"], "{kind}: {}", reply.body);
        let team =
            created(&api, "/tessera/v1/teams", json!({"name": "T", "members": ["eve"], "admins": ["eve"]})).await;
        let reply = api
            .post(
                "/tessera/v1/configuration-lists",
                &json!({"name": "L", "teamId": team, "type": "CUSTOM",
            "items": [{"value": "a"}, {"value": "a"}]}),
            )
            .await;
        refused(&reply, 400, "invalid-request", Some("/items/1/value"));
        let reply = api
            .post(
                "/tessera/v1/configuration-lists",
                &json!({"name": "L", "teamId": team, "type": "ROLES",
            "filter": {"sourceId": "nope"}}),
            )
            .await;
        refused(&reply, 400, "invalid-request", Some("/filter/sourceId"));
        let reply = api.post("/tessera/v1/teams", &json!({"name": "T", "members": []})).await;
        refused(&reply, 409, "conflict", None);
    }
}

#[tokio::test]
async fn a_failing_delegated_workflow_fails_the_request_unless_its_step_goes_on() {
    for api in apis().await {
        let kind = api.kind;
        seed(&api).await;
        let team =
            created(&api, "/tessera/v1/teams", json!({"name": "Ops", "members": ["bob"], "admins": ["bob"]})).await;
        let failing = json!({"name": "Badge system", "enabled": true, "trigger": {"type": "DELEGATED", "attributes": {}},
            "definition": {"start": "Fail", "steps": {"Fail": {"type": "failure", "failureName": "Badge system down"}}}});
        let failing = created(&api, "/v3/workflows", failing).await;
        let echo = json!({"name": "Echo", "enabled": true, "trigger": {"type": "DELEGATED", "attributes": {}},
            "definition": {"start": "Keep", "steps": {
                "Keep": {"type": "Mutation", "attributes": {"id": "sp:define-variable",
                         "variables": [{"name": "who", "variableA.$": "$.trigger.person.who.name"},
                                       {"name": "accessToken", "variableA": "eyJhbGciOi.not-for-requesters"}]},
                         "nextStep": "Done"},
                "Done": {"type": "success"}}}});
        let echo = created(&api, "/v3/workflows", echo).await;
        let step = |wf: &str, go_on: bool| {
            json!({"type": "ACTION", "action": "WORKFLOW", "workflowId": wf, "continueOnError": go_on,
            "fields": {"person": {"object": {"who": {"attribute": "requester"}, "count": 5}}, "id": {"attribute": "requestId"}}})
        };
        // An administrator's types may act with no approval first.
        let strict = json!({"name": "Strict", "teamId": team, "status": "PUBLISHED", "allowUnapprovedActions": true,
                            "steps": [step(&failing, false), step(&echo, false)]});
        let lenient = json!({"name": "Lenient", "teamId": team, "status": "PUBLISHED", "allowUnapprovedActions": true,
                             "steps": [step(&failing, true), step(&echo, false)]});
        let strict = created(&api, "/tessera/v1/request-types", strict).await;
        let lenient = created(&api, "/tessera/v1/request-types", lenient).await;
        let raise = |t: &str| json!({"requestTypeId": t, "subject": "s", "requester": "ada"});

        let failed = api.post("/tessera/v1/requests", &raise(&strict)).await.body["id"].as_str().unwrap().to_owned();
        let goes_on = api.post("/tessera/v1/requests", &raise(&lenient)).await.body["id"].as_str().unwrap().to_owned();
        api.run_due().await;

        let r = request(&api, &failed).await;
        assert_eq!(r["status"], "FAILED", "{kind}: {r}");
        assert!(r["reason"].as_str().unwrap().contains("Badge system down"), "{kind}: {r}");
        assert_eq!(
            (&r["steps"][0]["status"], &r["steps"][1]["status"]),
            (&json!("FAILED"), &json!("SKIPPED")),
            "{kind}"
        );
        let entries = timeline(&api, &failed).await;
        assert_eq!(
            kinds(&entries),
            ["SUBMITTED", "ASSIGNED", "WORKFLOW_STARTED", "WORKFLOW_ENDED", "STEP_FAILED", "FAILED"],
            "{kind}"
        );
        assert_eq!(entries[3]["detail"]["status"], "Failed", "{kind}");
        assert!(entries[5]["detail"]["reason"].as_str().unwrap().contains("Badge system down"), "{kind}");

        let r = request(&api, &goes_on).await;
        assert_eq!(r["status"], "COMPLETED", "{kind}: {r}");
        assert_eq!(
            (&r["steps"][0]["status"], &r["steps"][1]["status"]),
            (&json!("FAILED"), &json!("COMPLETED")),
            "{kind}"
        );
        assert_eq!(r["outputs"]["1"]["keep"]["who"], "ada", "{kind}: the object field reached the workflow: {r}");
        // Credentials in a workflow's data are masked wherever the request shows them.
        assert_eq!(r["outputs"]["1"]["keep"]["accessToken"], "********", "{kind}: {r}");
        assert_eq!(r["steps"][1]["output"]["keep"]["accessToken"], "********", "{kind}");
        let entries = timeline(&api, &goes_on).await;
        assert!(!json!(entries).to_string().contains("not-for-requesters"), "{kind}: {entries:#?}");
        let stored: Vec<(String,)> = sqlx::query_as("SELECT output FROM type_request_steps WHERE output IS NOT NULL")
            .fetch_all(api.store.pool())
            .await
            .unwrap();
        assert!(stored.iter().all(|(o,)| !o.contains("not-for-requesters")), "{kind}: masked before it is stored");
        let closed: Vec<(String,)> =
            sqlx::query_as("SELECT payload FROM outbox WHERE topic = 'tessera:request-closed'")
                .fetch_all(api.store.pool())
                .await
                .unwrap();
        let statuses: Vec<String> = closed
            .iter()
            .map(|(p,)| serde_json::from_str::<Value>(p).unwrap()["status"].as_str().unwrap().to_owned())
            .collect();
        assert!(statuses.contains(&"FAILED".into()) && statuses.contains(&"COMPLETED".into()), "{kind}: {statuses:?}");

        // A workflow disabled after the type was saved: publishing again is refused with its pointer.
        let disabled = api
            .call(
                Method::PATCH,
                &format!("/v3/workflows/{failing}"),
                Some(&json!([{"op": "replace", "path": "/enabled", "value": false}])),
            )
            .await;
        assert_eq!(disabled.status, 200, "{kind}: {}", disabled.body);
        let reply = api.post(&format!("/tessera/v1/request-types/{strict}/publish"), &json!({})).await;
        refused(&reply, 400, "invalid-request", Some("/steps/0/workflowId"));
        let reply = api.post(&format!("/tessera/v1/request-types/{strict}/unpublish"), &json!({})).await;
        assert_eq!((reply.status, &reply.body["status"]), (200, &json!("DRAFT")), "{kind}: withdrawing always works");
    }
}

#[tokio::test]
async fn a_grant_action_gives_the_role_chosen_and_the_entitlement_named() {
    for api in apis().await {
        let kind = api.kind;
        seed(&api).await;
        let mut tx = api.store.begin().await.unwrap();
        for o in [
            object(CatalogKind::Source, "desk", "", false, json!({"name": "desk", "connector": "manual"})),
            object(CatalogKind::Entitlement, "e-door", "desk", false, json!({"attribute": "groups", "value": "door"})),
            object(CatalogKind::Role, "r-night", "", true, json!({"accessProfiles": []})),
            object(CatalogKind::Role, "r-day", "", true, json!({"accessProfiles": []})),
        ] {
            tx.insert_object(&o).await.unwrap();
        }
        tx.insert_object(&object(CatalogKind::Workgroup, "g-sec", "", false, json!({"name": "Security"})))
            .await
            .unwrap();
        tx.add_member("g-sec", "mary", Timestamp::UNIX_EPOCH).await.unwrap();
        tx.commit().await.unwrap();
        let team =
            created(&api, "/tessera/v1/teams", json!({"name": "Security", "members": ["bob"], "admins": ["bob"]}))
                .await;
        let roles = created(
            &api,
            "/tessera/v1/configuration-lists",
            json!({"name": "Shift roles", "teamId": team, "type": "ROLES"}),
        )
        .await;
        let items = api.get(&format!("/tessera/v1/configuration-lists/{roles}/items")).await;
        assert_eq!(items.body.as_array().unwrap().len(), 2, "{kind}: {}", items.body);
        let shift = json!({"name": "Shift access", "teamId": team, "status": "PUBLISHED",
            "questions": [{"key": "role", "prompt": "Which shift?", "type": "DROPDOWN", "configurationListId": roles, "required": true}],
            "steps": [{"type": "APPROVAL", "approver": {"GROUP": "g-sec"}},
                      {"type": "ACTION", "action": "GRANT", "items": [{"question": "role"}, {"type": "ENTITLEMENT", "id": "e-door"}]}]});
        let shift = created(&api, "/tessera/v1/request-types", shift).await;
        let ada = bound(&api, "ada", REQUESTER).await;
        let body = json!({"requestTypeId": shift, "subject": "nights", "answers": {"role": "r-night"}});
        let raised = as_(&api, &ada, Method::POST, "/tessera/v1/requests", Some(body)).await;
        assert_eq!(raised.status, 201, "{kind}: {}", raised.body);
        let id = raised.body["id"].as_str().unwrap().to_owned();
        assert_eq!(raised.body["answerLabels"]["role"], "r-night", "{kind}");
        let item = raised.body["steps"][0]["inboxItemId"].as_str().unwrap().to_owned();
        let mary = bound(&api, "mary", WORKER).await;
        let reply = as_(&api, &mary, Method::POST, &format!("/tessera/v1/inbox/{item}/approve"), Some(json!({}))).await;
        assert_eq!(reply.status, 200, "{kind}: {}", reply.body);

        let r = request(&api, &id).await;
        assert_eq!((&r["status"], &r["steps"][1]["status"]), (&json!("COMPLETED"), &json!("COMPLETED")), "{kind}: {r}");
        let mut tx = api.store.begin().await.unwrap();
        let mut held: Vec<(String, String, String)> = tx
            .access_of(&["ada".to_owned()])
            .await
            .unwrap()
            .into_iter()
            .map(|g| (g.kind, g.object_id, g.origin))
            .collect();
        held.sort();
        assert_eq!(
            held,
            [
                ("ENTITLEMENT".into(), "e-door".into(), "REQUEST".into()),
                ("ROLE".into(), "r-night".into(), "REQUEST".into())
            ],
            "{kind}"
        );
        drop(tx);
        let entries = timeline(&api, &id).await;
        let granted = entries.iter().find(|e| e["type"] == "ACCESS_GRANTED").unwrap();
        assert_eq!(
            granted["detail"]["items"],
            json!([{"type": "ROLE", "id": "r-night"}, {"type": "ENTITLEMENT", "id": "e-door"}]),
            "{kind}"
        );
        assert_eq!(granted["detail"]["trackingNumbers"].as_array().unwrap().len(), 1, "{kind}: {granted}");
        assert_eq!(entries.iter().find(|e| e["type"] == "APPROVAL_DECIDED").unwrap()["actor"]["id"], "mary", "{kind}");
        let _ = tx_free(&api).await;
    }
}

/// Reads nothing: makes sure a transaction can still be opened after the grant (no lock was left).
async fn tx_free(api: &Api) -> Option<IdentityRecord> {
    let mut tx = api.store.begin().await.unwrap();
    tx.identity("ada").await.unwrap()
}
