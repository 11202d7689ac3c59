//! Identities from an uploaded HR file: `load-accounts` (multipart and raw CSV) runs the aggregation in
//! the background and answers at once; the identities then carry the attributes, lifecycle states,
//! managers and access their profile computes, and are listed, searched, moved between lifecycle
//! states, grouped in governance groups and deleted over HTTP, with their events in the outbox.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::collections::HashMap;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::catalog::{assert_invalid, create_id, created, hr_source, outbox};
use crate::common::{ADMIN_ACTOR, Api, Reply, apis};

const HR_FILE: &str = "id,first,last,email,department,status,manager\n\
                       1,Ada,Lovelace,ADA@EXAMPLE.COM,engineering,A,\n\
                       2,Charles,Babbage,charles@example.com,engineering,A,1\n\
                       3,Grace,Hopper,grace@example.com,navy,T,1\n";

fn attribute(column: &str) -> Value {
    json!({"type": "accountAttribute", "attributes": {"sourceName": "HR", "attributeName": column}})
}

/// What `seed` made.
struct Seeded {
    hr: String,
    inactive: String,
    /// Identity ids by display name.
    ids: HashMap<String, String>,
}

/// A multipart/form-data body with one `file` part.
fn multipart(file: &str) -> (String, String) {
    let boundary = "tessera-test-boundary";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"disableOptimization\"\r\n\r\ntrue\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"hr.csv\"\r\n\
         Content-Type: text/csv\r\n\r\n{file}\r\n--{boundary}--\r\n"
    );
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// Polls an aggregation until it has finished.
async fn finished(api: &Api, run: &str) -> Value {
    for _ in 0..400 {
        let reply = api.get(&format!("/tessera/v1/aggregations/{run}")).await;
        if reply.status == 200 && reply.body["status"] != "RUNNING" && reply.body["status"] != "PENDING" {
            return reply.body;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{}: aggregation {run} did not finish", api.kind);
}

/// Uploads `file` to a source's load-accounts as `content_type`, asserting 202; returns the run's id.
async fn load(api: &Api, source: &str, content_type: &str, file: &str) -> String {
    let reply = api.raw(Method::POST, &format!("/beta/sources/{source}/load-accounts"), content_type, file).await;
    assert_eq!(reply.status, 202, "{}: {}", api.kind, reply.body);
    reply.body["task"]["id"].as_str().unwrap().to_owned()
}

/// An HR source with a profile, two lifecycle states (active grants the Staff access profile on AD),
/// a birthright role for engineers, and the HR file aggregated.
async fn seed(api: &Api) -> Seeded {
    let kind = api.kind;
    let hr = create_id(api, "/v3/sources", &hr_source("HR")).await;
    let ad = create_id(api, "/v3/sources", &json!({"name": "AD", "connector": "ldap", "features": ["ENABLE"]})).await;
    let staff = create_id(
        api,
        "/tessera/v1/entitlements",
        &json!({"name": "staff", "source": {"id": ad}, "attribute": "memberOf", "value": "cn=staff"}),
    )
    .await;
    let ap = create_id(
        api,
        "/v3/access-profiles",
        &json!({"name": "Staff", "source": {"id": ad}, "entitlements": [{"id": staff}], "enabled": true}),
    )
    .await;
    create_id(
        api,
        "/v3/roles",
        &json!({"name": "Engineer", "enabled": true, "accessProfiles": [{"id": ap}],
            "membership": {"type": "STANDARD", "criteria": {"operation": "EQUALS",
                "key": {"type": "IDENTITY", "property": "attribute.department"}, "stringValue": "engineering"}}}),
    )
    .await;
    let profile = create_id(
        api,
        "/v3/identity-profiles",
        &json!({"name": "Employees", "authoritativeSource": {"id": hr},
            "identityAttributeConfig": {"enabled": true, "attributeTransforms": [
                {"identityAttributeName": "uid", "transformDefinition": attribute("id")},
                {"identityAttributeName": "displayName", "transformDefinition":
                    {"type": "concat", "attributes": {"values": [attribute("first"), " ", attribute("last")]}}},
                {"identityAttributeName": "email", "transformDefinition":
                    {"type": "lower", "attributes": {"input": attribute("email")}}},
                {"identityAttributeName": "department", "transformDefinition": attribute("department")},
                {"identityAttributeName": "cloudLifecycleState", "transformDefinition": {"type": "lookup",
                    "attributes": {"input": attribute("status"), "table": {"A": "active", "T": "inactive", "default": "active"}}}}]}}),
    )
    .await;
    let states = format!("/v3/identity-profiles/{profile}/lifecycle-states");
    create_id(
        api,
        &states,
        &json!({"name": "Active", "technicalName": "active", "enabled": true, "identityState": "ACTIVE",
            "accessProfileIds": [ap]}),
    )
    .await;
    let inactive = create_id(
        api,
        &states,
        &json!({"name": "Inactive", "technicalName": "inactive", "enabled": true,
            "identityState": "INACTIVE_LONG_TERM", "accessActionConfiguration": {"removeAllAccessEnabled": true}}),
    )
    .await;

    let (content_type, body) = multipart(HR_FILE);
    let run = load(api, &hr, &content_type, &body).await;
    let done = finished(api, &run).await;
    assert_eq!((&done["status"], &done["processed"]), (&json!("SUCCESS"), &json!(3)), "{kind}: {done}");
    assert_eq!((&done["stats"]["added"], &done["stats"]["identitiesCreated"]), (&json!(3), &json!(3)), "{kind}");
    let listed = api.get("/beta/identities").await;
    let ids = listed
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["name"].as_str().unwrap().to_owned(), i["id"].as_str().unwrap().to_owned()))
        .collect();
    Seeded { hr, inactive, ids }
}

fn names(reply: &Reply) -> Vec<String> {
    reply.body.as_array().unwrap().iter().map(|i| i["name"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn an_uploaded_file_becomes_identities_with_computed_attributes() {
    for api in apis().await {
        let kind = api.kind;
        let seeded = seed(&api).await;
        let (ada, charles, grace) =
            (&seeded.ids["Ada Lovelace"], &seeded.ids["Charles Babbage"], &seeded.ids["Grace Hopper"]);

        let all = api.get("/beta/identities?count=true").await;
        assert_eq!(
            (all.total(), names(&all)),
            (3, vec!["Ada Lovelace".into(), "Charles Babbage".into(), "Grace Hopper".into()]),
            "{kind}"
        );
        let read = api.get(&format!("/beta/identities/{ada}")).await.body;
        assert_eq!(
            (&read["alias"], &read["emailAddress"], &read["identityStatus"], &read["isManager"], &read["managerRef"]),
            (&json!("1"), &json!("ada@example.com"), &json!("ACTIVE"), &json!(true), &Value::Null),
            "{kind}: {read}"
        );
        assert_eq!(read["lifecycleState"], json!({"stateName": "active", "manuallyUpdated": false}), "{kind}");
        assert_eq!(
            (&read["attributes"]["department"], &read["processingState"]),
            (&json!("engineering"), &Value::Null),
            "{kind}"
        );
        let babbage = api.get(&format!("/v3/identities/{charles}")).await.body;
        assert_eq!(babbage["managerRef"], json!({"type": "IDENTITY", "id": ada, "name": "Ada Lovelace"}), "{kind}");
        let hopper = api.get(&format!("/beta/identities/{grace}")).await.body;
        assert_eq!(
            (&hopper["lifecycleState"]["stateName"], &hopper["identityStatus"]),
            (&json!("inactive"), &json!("INACTIVE")),
            "{kind}"
        );

        let inactive = api.get("/beta/identities?filters=cloudLifecycleState%20eq%20%22inactive%22&count=true").await;
        assert_eq!((inactive.total(), names(&inactive)), (1, vec!["Grace Hopper".into()]), "{kind}");
        let by_attribute =
            api.get("/beta/identities?filters=attributes.department%20eq%20%22engineering%22&sorters=-name").await;
        assert_eq!(names(&by_attribute), ["Charles Babbage", "Ada Lovelace"], "{kind}");
        let bad = api.get("/beta/identities?filters=attributes.department%20gt%20%22x%22").await;
        assert_eq!((bad.status, bad.code()), (400, "invalid-filter"), "{kind}: {}", bad.body);
        assert_eq!(api.get("/beta/identities/nope").await.status, 404, "{kind}");

        let accounts = api.get(&format!("/v3/accounts?filters=sourceId%20eq%20%22{}%22&count=true", seeded.hr)).await;
        assert_eq!(accounts.total(), 3, "{kind}: {}", accounts.body);
        let first = &accounts.body[0];
        let account = api.get(&format!("/v3/accounts/{}", first["id"].as_str().unwrap())).await.body;
        assert_eq!(&account, first, "{kind}");
        assert_eq!(
            (&account["sourceName"], &account["nativeIdentity"], &account["uncorrelated"], &account["authoritative"]),
            (&json!("HR"), &json!("1"), &json!(false), &json!(true)),
            "{kind}: {account}"
        );
        assert_eq!(account["identity"], json!({"type": "IDENTITY", "id": ada, "name": "Ada Lovelace"}), "{kind}");
        assert_eq!(account["attributes"]["email"], "ADA@EXAMPLE.COM", "{kind}: the account as read");
        assert_eq!(api.get("/v3/accounts/nope").await.status, 404, "{kind}");

        let access = api.get(&format!("/tessera/v1/identities/{ada}/access")).await.body;
        let held: Vec<(String, String, String)> = access
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                let by = a["grantedBy"]["type"].as_str().unwrap_or("-").to_owned();
                (a["type"].as_str().unwrap().to_owned(), a["origin"].as_str().unwrap().to_owned(), by)
            })
            .collect();
        // Held directly: granted by the system (birthright and lifecycle); carried: by what carries it.
        for expected in [
            ("ROLE", "BIRTHRIGHT", "SYSTEM"),
            ("ACCESS_PROFILE", "LIFECYCLE", "SYSTEM"),
            ("ENTITLEMENT", "LIFECYCLE", "ACCESS_PROFILE"),
        ] {
            let expected = (expected.0.to_owned(), expected.1.to_owned(), expected.2.to_owned());
            assert!(held.contains(&expected), "{kind}: {expected:?} in {access}");
        }
        let plans = api.get(&format!("/tessera/v1/provisioning-plans?identityId={ada}")).await.body;
        let plan = plans.as_array().unwrap().first().unwrap_or_else(|| panic!("{kind}: no plan for Ada"));
        assert_eq!(
            (&plan["status"], &plan["source"]["name"], &plan["identity"]["id"]),
            (&json!("QUEUED"), &json!("AD"), &json!(ada)),
            "{kind}: {plan}"
        );

        let topics = outbox(&api).await;
        let created = topics.iter().filter(|t| *t == "idn:identity-created").count();
        assert_eq!(created, 3, "{kind}: {topics:?}");
        assert!(topics.contains(&"idn:account-aggregation-completed".to_owned()), "{kind}: {topics:?}");
    }
}

#[tokio::test]
async fn search_finds_identities_with_the_query_subset_workflows_use() {
    for api in apis().await {
        let kind = api.kind;
        let seeded = seed(&api).await;
        let search = |query: &str| json!({"indices": ["identities"], "query": {"query": query}, "sort": ["name"]});
        let found = api.post("/v3/search?count=true", &search("attributes.cloudLifecycleState:active")).await;
        assert_eq!(
            (found.status, found.total(), names(&found)),
            (200, 2, vec!["Ada Lovelace".into(), "Charles Babbage".into()]),
            "{kind}: {}",
            found.body
        );
        let ada = &found.body[0];
        assert_eq!(
            (&ada["_type"], &ada["email"], &ada["isManager"], &ada["identityProfile"]["name"], &ada["source"]["name"]),
            (&json!("identity"), &json!("ada@example.com"), &json!(true), &json!("Employees"), &json!("HR")),
            "{kind}: {ada}"
        );
        assert_eq!(
            (&ada["accountCount"], &ada["accounts"][0]["accountId"], &ada["roleCount"]),
            (&json!(1), &json!("1"), &json!(1)),
            "{kind}"
        );
        assert_eq!(ada["attributes"]["cloudLifecycleState"], "active", "{kind}");

        let grace = &seeded.ids["Grace Hopper"];
        for (query, expected) in [
            ("name:\"Grace Hopper\"", vec!["Grace Hopper"]),
            ("name.exact:\"Grace Hopper\"", vec!["Grace Hopper"]),
            (&format!("id:{grace}") as &str, vec!["Grace Hopper"]),
            ("id:(\"nope\" OR \"also-nope\")", vec![]),
            ("email:*", vec!["Ada Lovelace", "Charles Babbage", "Grace Hopper"]),
            ("*", vec!["Ada Lovelace", "Charles Babbage", "Grace Hopper"]),
            ("name:ada* OR name:*hop*", vec!["Ada Lovelace", "Grace Hopper"]),
            ("attributes.department:engineering AND NOT manager.id:*", vec!["Ada Lovelace"]),
            ("inactive:true", vec!["Grace Hopper"]),
        ] {
            let reply = api.post("/v3/search", &search(query)).await;
            assert_eq!(
                (reply.status, names(&reply)),
                (200, expected.iter().map(|s| (*s).to_owned()).collect()),
                "{kind}: {query}: {}",
                reply.body
            );
        }
        let paged = api.post("/v3/search?limit=1&offset=1&count=true", &search("*")).await;
        assert_eq!((paged.total(), names(&paged)), (3, vec!["Charles Babbage".into()]), "{kind}");
        let sorted = api
            .post("/v3/search", &json!({"indices": ["identities"], "query": {"query": "*"}, "sort": ["-name"]}))
            .await;
        assert_eq!(names(&sorted)[0], "Grace Hopper", "{kind}");

        for (body, what) in [
            (search("john"), "free text"),
            (search("name:a name:b"), "no operator"),
            (search("created:[2020 TO 2021]"), "a range"),
            (search("phone:1"), "an unknown field"),
            (json!({"indices": ["accounts"], "query": {"query": "*"}}), "another index"),
            (json!({"indices": ["identities"]}), "no query"),
            (json!({"indices": ["identities"], "query": {"query": "*"}, "sort": ["colour"]}), "an unknown sort"),
        ] {
            let refused = api.post("/v3/search", &body).await;
            assert_eq!(
                (refused.status, refused.code()),
                (400, "unsupported-query"),
                "{kind}: {what}: {}",
                refused.body
            );
            assert!(refused.body["messages"][0]["text"].as_str().unwrap().contains("supported are"), "{kind}: {what}");
        }
        let too_many = api.post("/v3/search?limit=10001", &search("*")).await;
        assert_eq!(too_many.status, 400, "{kind}");
    }
}

#[tokio::test]
async fn lifecycle_states_are_set_by_hand_and_identities_deleted() {
    for api in apis().await {
        let kind = api.kind;
        let seeded = seed(&api).await;
        let ada = &seeded.ids["Ada Lovelace"];
        let path = format!("/v3/identities/{ada}/set-lifecycle-state");
        let set = api.post(&path, &json!({"lifecycleStateId": seeded.inactive})).await;
        assert_eq!(set.status, 200, "{kind}: {}", set.body);
        let activity = set.body["accountActivityId"].as_str().unwrap().to_owned();
        let read = api.get(&format!("/beta/identities/{ada}")).await.body;
        assert_eq!(
            (&read["lifecycleState"], &read["identityStatus"]),
            (&json!({"stateName": "inactive", "manuallyUpdated": true}), &json!("INACTIVE")),
            "{kind}: {read}"
        );
        let audit: Vec<(String, String, Value)> =
            api.audit_of("identity", ada).await.into_iter().map(|e| (e.actor, e.action, e.detail)).collect();
        assert_eq!(
            audit,
            [(
                ADMIN_ACTOR.to_owned(),
                "identity.set-lifecycle-state".to_owned(),
                json!({"lifecycleState": "inactive", "accountActivityId": activity})
            )],
            "{kind}"
        );
        assert_invalid(&api.post(&path, &json!({})).await, "/lifecycleStateId", kind);
        let unknown = api.post(&path, &json!({"lifecycleStateId": "nope"})).await;
        assert_eq!((unknown.status, unknown.code()), (404, "not-found"), "{kind}: {}", unknown.body);
        let nobody = api.post("/v3/identities/nope/set-lifecycle-state", &json!({"lifecycleStateId": "active"})).await;
        assert_eq!(nobody.status, 404, "{kind}");
        let reader = api.client_with("reader", &["idn:identity:read"]).await;
        let forbidden =
            api.call_as(Some(&reader), Method::POST, &path, Some(&json!({"lifecycleStateId": "active"}))).await;
        assert_eq!(forbidden.status, 403, "{kind}");

        let state = api
            .call(Method::DELETE, &format!("/v3/identity-profiles/x/lifecycle-states/{}", seeded.inactive), None)
            .await;
        assert_eq!(state.status, 404, "{kind}: the state is found under its own profile only");
        let in_use = api.call(Method::DELETE, &format!("/v3/sources/{}", seeded.hr), None).await;
        assert_eq!((in_use.status, in_use.code()), (400, "source-in-use"), "{kind}: it has accounts: {}", in_use.body);

        let grace = &seeded.ids["Grace Hopper"];
        assert_eq!(api.call(Method::DELETE, &format!("/beta/identities/{grace}"), None).await.status, 204, "{kind}");
        assert_eq!(api.get(&format!("/beta/identities/{grace}")).await.status, 404, "{kind}");
        assert_eq!(api.call(Method::DELETE, &format!("/beta/identities/{grace}"), None).await.status, 404, "{kind}");
        let uncorrelated = api.get("/v3/accounts?filters=uncorrelated%20eq%20true").await;
        assert_eq!(uncorrelated.body[0]["nativeIdentity"], "3", "{kind}: her account stays, uncorrelated");
        assert!(outbox(&api).await.contains(&"idn:identity-deleted".to_owned()), "{kind}");
        let actions: Vec<String> = api.audit_of("identity", grace).await.into_iter().map(|e| e.action).collect();
        assert_eq!(actions, ["identity.delete"], "{kind}");
    }
}

#[tokio::test]
async fn load_accounts_refuses_bad_requests_at_once_and_records_failed_runs() {
    for api in apis().await {
        let kind = api.kind;
        let hr = create_id(&api, "/v3/sources", &hr_source("HR")).await;
        let manual = create_id(&api, "/v3/sources", &crate::catalog::manual(&api, "Paper").await).await;
        let path = |source: &str| format!("/beta/sources/{source}/load-accounts");
        let csv = "text/csv";

        let unknown = api.raw(Method::POST, &path("nope"), csv, HR_FILE).await;
        assert_eq!((unknown.status, unknown.code()), (404, "not-found"), "{kind}");
        let manual_source = api.raw(Method::POST, &path(&manual), csv, HR_FILE).await;
        assert_eq!(
            (manual_source.status, manual_source.code()),
            (400, "invalid-request"),
            "{kind}: {}",
            manual_source.body
        );
        let no_file = api.raw(Method::POST, &path(&hr), csv, "").await;
        assert_eq!(
            (no_file.status, no_file.code()),
            (400, "invalid-request"),
            "{kind}: nothing uploaded, none configured"
        );
        let json_body = api.raw(Method::POST, &path(&hr), "application/json", "{\"file\": \"x\"}").await;
        assert_eq!((json_body.status, json_body.code()), (415, "unsupported-media-type"), "{kind}: {}", json_body.body);
        let (content_type, _) = multipart("");
        let no_part = api
            .raw(Method::POST, &path(&hr), &content_type, "--tessera-test-boundary\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nx\r\n--tessera-test-boundary--\r\n")
            .await;
        assert_eq!((no_part.status, no_part.code()), (400, "bad-request"), "{kind}: {}", no_part.body);
        let anonymous = api.call_as(None, Method::POST, &path(&hr), None).await;
        assert_eq!(anonymous.status, 401, "{kind}");
        let reader = api.client_with("reader", &["idn:sources:read"]).await;
        assert_eq!(api.call_as(Some(&reader), Method::POST, &path(&hr), None).await.status, 403, "{kind}");

        let mut configured = hr_source("HR");
        configured["connectorAttributes"]["file"] = json!("missing.csv");
        let put = api.call(Method::PUT, &format!("/v3/sources/{hr}"), Some(&configured)).await;
        assert_eq!(put.status, 200, "{kind}: a file in the import directory may come later: {}", put.body);
        let missing = api.raw(Method::POST, &path(&hr), csv, "").await;
        assert_eq!((missing.status, missing.code()), (400, "invalid-request"), "{kind}: {}", missing.body);
        assert!(missing.body.to_string().contains("no file `missing.csv`"), "{kind}: {}", missing.body);

        // A file without the identity column is accepted, and its run ends in ERROR saying why.
        let run = load(&api, &hr, csv, "name,email\nAda,ada@example.com\n").await;
        let done = finished(&api, &run).await;
        assert_eq!(done["status"], "ERROR", "{kind}: {done}");
        assert!(done["message"].as_str().unwrap().contains("identityAttribute"), "{kind}: {done}");
        let status = api.get(&format!("/beta/account-aggregations/{run}/status")).await;
        assert_eq!((status.status, &status.body["status"]), (200, &json!("TERMINATED")), "{kind}: {}", status.body);

        // A raw CSV body aggregates; a second upload with one row changed is a second run.
        let good = load(&api, &hr, csv, HR_FILE).await;
        assert_eq!(finished(&api, &good).await["stats"]["added"], 3, "{kind}");
        let moved = HR_FILE.replace("charles@example.com", "charles@babbage.org");
        let second = load(&api, &hr, "text/csv; charset=utf-8", &moved).await;
        let done = finished(&api, &second).await;
        assert_eq!((&done["stats"]["changed"], &done["stats"]["unchanged"]), (&json!(1), &json!(2)), "{kind}: {done}");
        let status = api.get(&format!("/v3/account-aggregations/{second}/status")).await.body;
        assert_eq!(
            (&status["status"], &status["processedAccounts"]),
            (&json!("COMPLETED"), &json!(3)),
            "{kind}: {status}"
        );
        // The two runs that read their file count its rows; the run refused for its header, none.
        let metrics = api.get("/metrics").await.body;
        let rows = format!("tessera_aggregation_rows_total{{source=\"{hr}\"}} ");
        let counted = metrics.as_str().unwrap().lines().find_map(|line| line.strip_prefix(rows.as_str()));
        assert_eq!(counted, Some("6"), "{kind}: {metrics}");
        // ISC clients poll the run as a task.
        let task = api.get(&format!("/v3/task-status/{second}")).await;
        assert_eq!(task.status, 200, "{kind}: {}", task.body);
        assert_eq!(
            (&task.body["completionStatus"], &task.body["target"]["id"], &task.body["percentComplete"]),
            (&json!("SUCCESS"), &json!(hr), &json!(100)),
            "{kind}: {}",
            task.body
        );
        let failed = api.get(&format!("/v3/task-status/{run}")).await.body;
        assert_eq!(failed["completionStatus"], "ERROR", "{kind}: {failed}");
        assert_eq!(api.get("/v3/task-status/nope").await.status, 404, "{kind}");
        let tasks = api.client_with("tasks", &["idn:task-management:read"]).await;
        let as_tasks = api.call_as(Some(&tasks), Method::GET, &format!("/v3/task-status/{second}"), None).await;
        assert_eq!(as_tasks.status, 200, "{kind}: {}", as_tasks.body);
        let none = api.client_with("none", &["idn:identity:read"]).await;
        let refused = api.call_as(Some(&none), Method::GET, &format!("/v3/task-status/{second}"), None).await;
        assert_eq!(refused.status, 403, "{kind}");
        let runs = api.get(&format!("/tessera/v1/sources/{hr}/aggregations")).await.body;
        let ids: Vec<&str> = runs.as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
        assert_eq!(ids, [second.as_str(), good.as_str(), run.as_str()], "{kind}: newest first");
        assert_eq!(api.get("/tessera/v1/aggregations/nope").await.status, 404, "{kind}");
        let audited =
            api.audit_of("source", &hr).await.into_iter().filter(|e| e.action == "source.load-accounts").count();
        assert_eq!(audited, 3, "{kind}");
        // Each upload is named after its run, kept in the data directory, and removed once the run ends.
        let uploads = api.uploads.clone();
        assert!(uploads.is_dir(), "{kind}: uploads went to {}", uploads.display());
        let mut left = usize::MAX;
        for _ in 0..100 {
            left = [&run, &good, &second].iter().filter(|r| uploads.join(format!("{r}.csv")).exists()).count();
            if left == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(left, 0, "{kind}: uploads are removed");
    }
}

/// What a source's configured file may name: a file inside an import directory, and nothing else.
/// Every path outside (existing or not, reached by `..` or through a link) is refused alike, with a
/// message that says where files may live and nothing about the path.
#[tokio::test]
async fn a_source_reads_files_only_from_the_import_directories() {
    for api in apis().await {
        let kind = api.kind;
        let hr = created(&api, "/v3/sources", &hr_source("HR"), 201).await.body["id"].as_str().unwrap().to_owned();
        let put = |file: &str| {
            let mut body = hr_source("HR");
            body["connectorAttributes"]["file"] = json!(file);
            body
        };
        let secret = api.imports.parent().unwrap().join("private.key");
        std::fs::write(&secret, "id,email\nroot,root@example.com\n").unwrap();
        let mut refusals = Vec::new();
        for outside in
            ["/etc/passwd", "/nonexistent/hr.csv", "../private.key", secret.to_str().unwrap(), "imports/../../x"]
        {
            let reply = api.call(Method::PUT, &format!("/v3/sources/{hr}"), Some(&put(outside))).await;
            assert_eq!((reply.status, reply.code()), (400, "invalid-request"), "{kind}: {outside}: {}", reply.body);
            assert_eq!(reply.body["errors"][0]["pointer"], "/connectorAttributes/file", "{kind}: {}", reply.body);
            let message = reply.body["errors"][0]["message"].as_str().unwrap().to_owned();
            assert!(message.contains(api.imports.to_str().unwrap()), "{kind}: says where files may live: {message}");
            assert!(!message.contains("passwd") && !message.contains("exist"), "{kind}: {message}");
            refusals.push(message);
        }
        assert!(refusals.windows(2).all(|w| w[0] == w[1]), "{kind}: one refusal for every path outside: {refusals:?}");
        let created_outside = api
            .post(
                "/v3/sources",
                &json!({"name": "Passwords", "connector": "delimited-file",
            "connectorAttributes": {"file": "/etc/passwd", "identityAttribute": "id"}}),
            )
            .await;
        assert_eq!(created_outside.status, 400, "{kind}: {}", created_outside.body);

        // A link inside that leads out is saved (it is inside by name) but never read.
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(&secret, api.imports.join("link.csv")).unwrap();
            let reply = api.call(Method::PUT, &format!("/v3/sources/{hr}"), Some(&put("link.csv"))).await;
            assert_eq!(reply.status, 200, "{kind}: {}", reply.body);
            let load = api.raw(Method::POST, &format!("/beta/sources/{hr}/load-accounts"), "text/csv", "").await;
            assert_eq!((load.status, load.code()), (400, "invalid-request"), "{kind}: {}", load.body);
            assert!(load.body.to_string().contains(&refusals[0]), "{kind}: refused as outside: {}", load.body);
        }

        // A file inside, named by its name alone or by its path, is read.
        std::fs::write(api.imports.join("hr.csv"), HR_FILE).unwrap();
        let full = api.imports.join("hr.csv");
        for named in ["hr.csv", full.to_str().unwrap()] {
            let reply = api.call(Method::PUT, &format!("/v3/sources/{hr}"), Some(&put(named))).await;
            assert_eq!(reply.status, 200, "{kind}: {}", reply.body);
        }
        let run = load(&api, &hr, "text/csv", "").await;
        assert_eq!(finished(&api, &run).await["status"], "SUCCESS", "{kind}");
        let accounts = api.get(&format!("/v3/accounts?filters=sourceId%20eq%20%22{hr}%22&count=true")).await;
        assert_eq!(accounts.total(), 3, "{kind}: {}", accounts.body);
    }
}

#[tokio::test]
async fn governance_groups_hold_identities() {
    for api in apis().await {
        let kind = api.kind;
        let seeded = seed(&api).await;
        let (ada, charles) = (&seeded.ids["Ada Lovelace"], &seeded.ids["Charles Babbage"]);
        let made = created(
            &api,
            "/beta/workgroups",
            &json!({"name": "Approvers", "description": "d", "owner": {"id": ada}}),
            200,
        )
        .await
        .body;
        let id = made["id"].as_str().unwrap().to_owned();
        assert_eq!(
            (&made["owner"]["name"], &made["owner"]["emailAddress"], &made["memberCount"]),
            (&json!("Ada Lovelace"), &json!("ada@example.com"), &json!(0)),
            "{kind}: {made}"
        );
        assert_eq!(api.get("/v3/workgroups").await.status, 404, "{kind}: governance groups are beta-only in ISC");
        let duplicate = api.post("/beta/workgroups", &json!({"name": "approvers"})).await;
        assert_eq!((duplicate.status, duplicate.code()), (409, "conflict"), "{kind}");

        let members = format!("/beta/workgroups/{id}/members");
        let add =
            api.post(&format!("{members}/bulk-add"), &json!([{"id": ada}, {"type": "IDENTITY", "id": charles}])).await;
        assert_eq!(add.status, 207, "{kind}: {}", add.body);
        let statuses: Vec<&Value> = add.body.as_array().unwrap().iter().map(|r| &r["status"]).collect();
        assert_eq!(statuses, [&json!(201), &json!(201)], "{kind}");
        let again = api.post(&format!("{members}/bulk-add"), &json!([{"id": ada}])).await;
        assert_eq!(again.body[0]["status"], 409, "{kind}: already a member");
        let ghost = api.post(&format!("{members}/bulk-add"), &json!([{"id": ada}, {"id": "nobody"}])).await;
        assert_invalid(&ghost, "/1/id", kind);
        let listed = api.get(&format!("{members}?count=true")).await;
        assert_eq!(
            (listed.total(), names(&listed)),
            (2, vec!["Ada Lovelace".into(), "Charles Babbage".into()]),
            "{kind}"
        );
        assert_eq!(
            listed.body[0],
            json!({"type": "IDENTITY", "id": ada, "name": "Ada Lovelace", "email": "ada@example.com"}),
            "{kind}"
        );
        let removed = api.post(&format!("{members}/bulk-delete"), &json!([{"id": charles}, {"id": charles}])).await;
        let statuses: Vec<&Value> = removed.body.as_array().unwrap().iter().map(|r| &r["status"]).collect();
        assert_eq!(statuses, [&json!(204), &json!(404)], "{kind}: {}", removed.body);
        let reader = api.client_with("reader", &["idn:workgroup:read"]).await;
        assert_eq!(api.call_as(Some(&reader), Method::GET, &members, None).await.status, 200, "{kind}");
        let denied = api
            .call_as(Some(&reader), Method::POST, &format!("{members}/bulk-add"), Some(&json!([{"id": charles}])))
            .await;
        assert_eq!(denied.status, 403, "{kind}");

        let rename = json!([{"op": "replace", "path": "/name", "value": "Reviewers"}]);
        let patched = api.call(Method::PATCH, &format!("/beta/workgroups/{id}"), Some(&rename)).await;
        assert_eq!(
            (patched.status, &patched.body["name"], &patched.body["memberCount"]),
            (200, &json!("Reviewers"), &json!(1)),
            "{kind}"
        );
        let actions: Vec<String> = api.audit_of("governance-group", &id).await.into_iter().map(|e| e.action).collect();
        assert_eq!(
            actions,
            [
                "governance-group.create",
                "governance-group.add-members",
                "governance-group.remove-members",
                "governance-group.update"
            ],
            "{kind}"
        );
        assert_eq!(api.call(Method::DELETE, &format!("/beta/workgroups/{id}"), None).await.status, 204, "{kind}");
        assert_eq!(api.get(&members).await.status, 404, "{kind}");
    }
}
