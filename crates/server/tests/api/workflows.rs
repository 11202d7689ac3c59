//! `/v3/workflows` and `/beta/workflows`: create, read, list and page, replace, JSON Patch, delete,
//! and the errors for invalid, nameless and oversize definitions and unknown paths.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use reqwest::Method;
use serde_json::{Value, json};
use tessera_server::ApiLimits;
use tessera_store::WorkflowStore;

use crate::common::{ADMIN_ACTOR, apis, apis_with, corpus, internal};

/// The document as the API stores it: what was sent, less the fields the server owns.
fn as_sent(body: &Value) -> Value {
    let mut document = body.clone();
    for owned in
        ["id", "enabled", "executionCount", "failureCount", "created", "modified", "creator", "version", "trace"]
    {
        document.as_object_mut().unwrap().remove(owned);
    }
    document
}

#[tokio::test]
async fn a_corpus_workflow_is_created_and_read_back_as_sent() {
    for api in apis().await {
        let kind = api.kind;
        let mut sent = corpus("temporary-admin-access/TemporaryAdminAccess20240305.json");
        // Fields Tessera does not know are kept, at the top and inside a step.
        sent["x-origin"] = json!({"repo": "isc-colab", "tags": ["admin", 1]});
        sent["definition"]["steps"]["Form"]["x-note"] = json!("kept");
        let created = api.post("/v3/workflows", &sent).await;
        assert_eq!(created.status, 200, "{kind}: {}", created.body);
        let body = &created.body;
        let id = body["id"].as_str().unwrap();
        assert_eq!(
            (&body["version"], &body["enabled"], &body["trace"], &body["executionCount"]),
            (&json!(1), &json!(false), &json!(false), &json!(0)),
            "{kind}"
        );
        assert_eq!(body["creator"]["id"], ADMIN_ACTOR, "{kind}");
        assert_eq!(body["created"], "2024-01-01T00:00:00.000Z", "{kind}: the injected clock");
        assert_eq!(body["name"], "Temporary Admin Access", "{kind}");
        assert_eq!(as_sent(body), sent, "{kind}: the definition is returned exactly as sent");
        assert_eq!(
            serde_json::to_string(&as_sent(body)["definition"]).unwrap(),
            serde_json::to_string(&sent["definition"]).unwrap(),
            "{kind}: in the order sent"
        );

        let read = api.get(&format!("/v3/workflows/{id}")).await;
        assert_eq!((read.status, &read.body), (200, body), "{kind}");
        let stored = api.store.begin().await.unwrap().workflow(id).await.unwrap().unwrap();
        assert_eq!((stored.document, stored.latest_version), (sent, 1), "{kind}: stored as sent");
    }
}

#[tokio::test]
async fn the_list_is_counted_and_paged() {
    for api in apis().await {
        let kind = api.kind;
        for n in 0..3 {
            api.create(&internal(&format!("W{n}"))).await;
        }
        let all = api.get("/v3/workflows").await;
        assert_eq!((all.status, all.total(), all.body.as_array().unwrap().len()), (200, 3, 3), "{kind}");
        let names = |r: &crate::common::Reply| -> Vec<String> {
            r.body.as_array().unwrap().iter().map(|w| w["name"].as_str().unwrap().to_owned()).collect()
        };
        let mut every = names(&all);
        every.sort();
        assert_eq!(every, ["W0", "W1", "W2"], "{kind}");
        let first = api.get("/v3/workflows?limit=2").await;
        let rest = api.get("/v3/workflows?limit=2&offset=2").await;
        assert_eq!((first.total(), names(&first).len(), rest.total(), names(&rest).len()), (3, 2, 3, 1), "{kind}");
        let mut paged = [names(&first), names(&rest)].concat();
        paged.sort();
        assert_eq!(paged, every, "{kind}: the pages cover the list once");
        for bad in ["limit=0", "limit=251", "offset=-1"] {
            let refused = api.get(&format!("/v3/workflows?{bad}")).await;
            assert_eq!((refused.status, refused.code()), (400, "bad-request"), "{kind}: {bad}: {}", refused.body);
        }
    }
}

#[tokio::test]
async fn put_makes_a_version_and_patch_changes_flags_or_makes_one() {
    for api in apis().await {
        let kind = api.kind;
        let id = api.create(&internal("Editable")).await;
        let path = format!("/v3/workflows/{id}");
        let mut edited = internal("Editable");
        edited["description"] = json!("second version");
        let put = api.call(Method::PUT, &path, Some(&edited)).await;
        assert_eq!(put.status, 200, "{kind}: {}", put.body);
        assert_eq!((&put.body["version"], &put.body["description"]), (&json!(2), &json!("second version")), "{kind}");

        let enable = json!([{"op": "replace", "path": "/enabled", "value": true}]);
        let patched = api.call(Method::PATCH, &path, Some(&enable)).await;
        assert_eq!(patched.status, 200, "{kind}: {}", patched.body);
        assert_eq!((&patched.body["version"], &patched.body["enabled"]), (&json!(2), &json!(true)), "{kind}");

        let rename = json!([{"op": "replace", "path": "/name", "value": "Renamed"}]);
        let renamed = api.call(Method::PATCH, &path, Some(&rename)).await;
        assert_eq!(renamed.status, 200, "{kind}: {}", renamed.body);
        assert_eq!(
            (&renamed.body["version"], &renamed.body["name"], &renamed.body["enabled"]),
            (&json!(3), &json!("Renamed"), &json!(true)),
            "{kind}"
        );
        // The transaction ends in this statement: SQLite's pool has one connection.
        let stored = api.store.begin().await.unwrap().workflow(&id).await.unwrap().unwrap();
        assert_eq!((stored.latest_version, stored.name.as_str(), stored.enabled), (3, "Renamed", true), "{kind}");
        assert_eq!(stored.document["description"], "second version", "{kind}");

        let not_a_patch = api.call(Method::PATCH, &path, Some(&json!({"enabled": false}))).await;
        assert_eq!((not_a_patch.status, not_a_patch.code()), (400, "invalid-request"), "{kind}: a patch is a list");
        let missing = json!([{"op": "replace", "path": "/nothing/here", "value": 1}]);
        let unapplied = api.call(Method::PATCH, &path, Some(&missing)).await;
        assert_eq!((unapplied.status, unapplied.code()), (400, "bad-request"), "{kind}");
        assert_eq!(api.get(&path).await.body["version"], 3, "{kind}: refused patches change nothing");
    }
}

#[tokio::test]
async fn invalid_nameless_and_oversize_definitions_are_refused() {
    for api in apis_with(ApiLimits { max_definition_bytes: 1000 }).await {
        let kind = api.kind;
        let mut broken = internal("Broken");
        broken["definition"]["start"] = json!("Nowhere");
        let invalid = api.post("/v3/workflows", &broken).await;
        assert_eq!((invalid.status, invalid.code()), (400, "invalid-workflow"), "{kind}: {}", invalid.body);
        let pointers: Vec<&str> =
            invalid.body["errors"].as_array().unwrap().iter().map(|e| e["pointer"].as_str().unwrap()).collect();
        assert!(pointers.contains(&"/definition/start"), "{kind}: {}", invalid.body);
        assert!(invalid.body["errors"][0]["code"].is_string(), "{kind}: {}", invalid.body);
        assert_eq!(invalid.body["detailCode"], "400 Bad Request", "{kind}: ISC's error shape");

        let mut nameless = internal("x");
        nameless.as_object_mut().unwrap().remove("name");
        let unnamed = api.post("/v3/workflows", &nameless).await;
        assert_eq!((unnamed.status, unnamed.code()), (400, "bad-request"), "{kind}: {}", unnamed.body);

        let mut big = internal("Big");
        big["description"] = json!("x".repeat(1000));
        let large = api.post("/v3/workflows", &big).await;
        assert_eq!((large.status, large.code()), (413, "definition-too-large"), "{kind}: {}", large.body);
        assert_eq!(api.get("/v3/workflows").await.total(), 0, "{kind}: nothing was stored");

        // The same checks guard a replacement: the stored version stays.
        let id = api.create(&internal("Small")).await;
        let path = format!("/v3/workflows/{id}");
        let replaced = api.call(Method::PUT, &path, Some(&broken)).await;
        assert_eq!((replaced.status, replaced.code()), (400, "invalid-workflow"), "{kind}");
        let grown = api.call(Method::PUT, &path, Some(&big)).await;
        assert_eq!((grown.status, grown.code()), (413, "definition-too-large"), "{kind}");
        let kept = api.get(&path).await;
        assert_eq!((&kept.body["version"], &kept.body["name"]), (&json!(1), &json!("Small")), "{kind}");
    }
}

#[tokio::test]
async fn a_deleted_workflow_is_gone() {
    for api in apis().await {
        let kind = api.kind;
        let id = api.create(&internal("Doomed")).await;
        let path = format!("/v3/workflows/{id}");
        let deleted = api.call(Method::DELETE, &path, None).await;
        assert_eq!((deleted.status, &deleted.body), (204, &json!("")), "{kind}");
        let gone = api.get(&path).await;
        assert_eq!((gone.status, gone.code()), (404, "not-found"), "{kind}: {}", gone.body);
        assert_eq!(api.get("/v3/workflows").await.total(), 0, "{kind}");
        let again = api.call(Method::DELETE, &path, None).await;
        assert_eq!((again.status, again.code()), (404, "not-found"), "{kind}");
        let put = api.call(Method::PUT, &path, Some(&internal("Doomed"))).await;
        assert_eq!((put.status, put.code()), (404, "not-found"), "{kind}");
        let test = api.post(&format!("{path}/test"), &json!({"input": {}})).await;
        assert_eq!((test.status, test.code()), (404, "not-found"), "{kind}");
    }
}

#[tokio::test]
async fn unknown_paths_are_no_route_and_beta_serves_the_same_workflows() {
    for api in apis().await {
        let kind = api.kind;
        for path in ["/v3/nothing", "/v4/workflows", "/beta/workflows/x/nothing"] {
            let missing = api.get(path).await;
            assert_eq!((missing.status, missing.code()), (404, "no-route"), "{kind}: {path}: {}", missing.body);
        }
        let id = api.create(&internal("Shared")).await;
        let beta = api.get(&format!("/beta/workflows/{id}")).await;
        assert_eq!((beta.status, &beta.body["name"]), (200, &json!("Shared")), "{kind}");
        let beta_id = {
            let created = api.post("/beta/workflows", &internal("From beta")).await;
            assert_eq!(created.status, 200, "{kind}: {}", created.body);
            created.body["id"].as_str().unwrap().to_owned()
        };
        assert_eq!(api.get(&format!("/v3/workflows/{beta_id}")).await.status, 200, "{kind}");
        let listed = api.get("/beta/workflows?limit=1").await;
        assert_eq!((listed.status, listed.total()), (200, 2), "{kind}");
        let patch = json!([{"op": "replace", "path": "/enabled", "value": true}]);
        let patched = api.call(Method::PATCH, &format!("/beta/workflows/{id}"), Some(&patch)).await;
        assert_eq!((patched.status, &patched.body["enabled"]), (200, &json!(true)), "{kind}");
        let deleted = api.call(Method::DELETE, &format!("/beta/workflows/{beta_id}"), None).await;
        assert_eq!(deleted.status, 204, "{kind}");
        assert_eq!(api.get(&format!("/v3/workflows/{beta_id}")).await.status, 404, "{kind}");
    }
}

#[tokio::test]
async fn malformed_requests_are_refused_in_the_api_error_shape() {
    for api in apis().await {
        let kind = api.kind;
        let id = api.create(&internal("Target")).await;
        let path = format!("/v3/workflows/{id}");
        let versions = format!("/tessera/v1/workflows/{id}/versions");
        let refusals = [
            (api.raw(Method::POST, "/v3/workflows", "application/json", "{not json").await, 400, "bad-request"),
            (api.raw(Method::POST, "/v3/workflows", "text/plain", "{}").await, 415, "unsupported-media-type"),
            (api.raw(Method::POST, &format!("{path}/test"), "application/json", "").await, 400, "bad-request"),
            (api.get("/v3/workflows?limit=ten").await, 400, "bad-request"),
            (api.get(&format!("{versions}/first")).await, 400, "bad-request"),
            (api.get(&format!("{versions}/diff?from=1")).await, 400, "bad-request"),
            (api.post(&format!("{versions}/one/rollback"), &json!({})).await, 400, "bad-request"),
        ];
        for (n, (refused, status, code)) in refusals.iter().enumerate() {
            assert_eq!((refused.status, refused.code()), (*status, *code), "{kind}: #{n}: {}", refused.body);
            assert!(refused.body["messages"][0]["text"].as_str().is_some_and(|t| !t.is_empty()), "{kind}: #{n}");
        }
        let mut put = internal("Target");
        put["enabled"] = json!("yes");
        let flagged = api.call(Method::PUT, &path, Some(&put)).await;
        assert_eq!((flagged.status, flagged.code()), (400, "bad-request"), "{kind}: {}", flagged.body);
        let patches = [
            json!([{"op": "replace", "path": "/enabled", "value": "yes"}]),
            json!([{"op": "replace", "path": "/trace", "value": 1}]),
            json!([{"op": "remove", "path": "/name"}]),
        ];
        for patch in patches {
            let refused = api.call(Method::PATCH, &path, Some(&patch)).await;
            assert_eq!((refused.status, refused.code()), (400, "bad-request"), "{kind}: {patch}: {}", refused.body);
        }
        let kept = api.get(&path).await.body;
        assert_eq!(
            (&kept["version"], &kept["enabled"], &kept["trace"], &kept["name"]),
            (&json!(1), &json!(false), &json!(false), &json!("Target")),
            "{kind}: nothing changed"
        );
    }
}

/// Refusals axum itself makes (a body too large for a route that reads it whole, a method the path
/// does not take) come in the API's error shape too; and a diff's parameters are checked only for a
/// caller allowed to read it.
#[tokio::test]
async fn every_refusal_is_json_with_a_code_and_scopes_come_first() {
    for api in apis().await {
        let kind = api.kind;
        let huge = "x".repeat(3 * 1024 * 1024);
        let too_large =
            api.raw(Method::POST, "/v3/access-request-approvals/nope/approve", "application/json", &huge).await;
        assert_eq!((too_large.status, too_large.code()), (413, "payload-too-large"), "{kind}: {}", too_large.body);
        let not_allowed = api.call(Method::PUT, "/v3/access-request-status", None).await;
        assert_eq!(
            (not_allowed.status, not_allowed.code()),
            (405, "method-not-allowed"),
            "{kind}: {}",
            not_allowed.body
        );
        let id = api.create(&internal("Diffed")).await;
        let reader = api.client_with("no-read", &["idn:identity:read"]).await;
        let path = format!("/tessera/v1/workflows/{id}/versions/diff?from=one");
        let refused = api.call_as(Some(&reader), Method::GET, &path, None).await;
        assert_eq!((refused.status, refused.code()), (403, "forbidden"), "{kind}: the scope is checked first");
        let bad = api.get(&path).await;
        assert_eq!((bad.status, bad.code()), (400, "bad-request"), "{kind}: {}", bad.body);
    }
}

#[tokio::test]
async fn concurrent_patches_of_one_workflow_are_all_kept() {
    for api in apis().await {
        let kind = api.kind;
        let id = api.create(&internal("Contended")).await;
        let path = format!("/v3/workflows/{id}");
        let patches = (0..10).map(|n| {
            let variable = json!({"name": format!("extra{n}"), "variableA": format!("value {n}")});
            let operations =
                json!([{"op": "add", "path": "/definition/steps/Define/attributes/variables/-", "value": variable}]);
            let (api, path) = (&api, &path);
            async move { api.call(Method::PATCH, path, Some(&operations)).await }
        });
        for reply in futures_util::future::join_all(patches).await {
            assert_eq!(reply.status, 200, "{kind}: {}", reply.body);
        }
        let read = api.get(&path).await.body;
        let variables = read["definition"]["steps"]["Define"]["attributes"]["variables"].as_array().unwrap();
        let mut kept: Vec<&str> = variables.iter().filter_map(|v| v["name"].as_str()).collect();
        kept.sort_unstable();
        let mut expected = vec!["who".to_owned()];
        expected.extend((0..10).map(|n| format!("extra{n}")));
        expected.sort_unstable();
        assert_eq!(kept, expected, "{kind}: every concurrent PATCH is kept");
        assert_eq!(read["version"], 11, "{kind}: one version per change");
    }
}
