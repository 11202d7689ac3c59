//! `/openapi.json` and the route table it is made from: the document is open to anyone, valid
//! OpenAPI 3.0 (checked by PyPI's openapi-spec-validator), and names for every operation the scopes
//! it needs; and every guarded operation does what the document says — 401 without a token, 403 for
//! a token holding none of its scopes, and past the guard with a token holding just one of them.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use reqwest::Method;
use serde_json::json;

use crate::common::{Reply, apis};

fn validator() -> PathBuf {
    if let Some(path) = std::env::var_os("TESSERA_TEST_OPENAPI_VALIDATOR").filter(|p| !p.is_empty()) {
        return PathBuf::from(path);
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/scim-venv/bin/openapi-spec-validator");
    assert!(
        path.is_file(),
        "{} does not exist: this test needs PyPI's openapi-spec-validator; run scripts/test once, or \
         `target/scim-venv/bin/pip install openapi-spec-validator==0.9.0`, or set TESSERA_TEST_OPENAPI_VALIDATOR",
        path.display()
    );
    path
}

/// The text a refusal carries: Tessera's `messages[0].text`, or SCIM's `detail`.
fn refusal_text(reply: &Reply) -> String {
    let text = reply.body["messages"][0]["text"].as_str().or_else(|| reply.body["detail"].as_str());
    text.unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_is_described_by_a_valid_openapi_document_that_its_guards_follow() {
    for api in apis().await {
        let kind = api.kind;
        let served = api.call_as(None, Method::GET, "/openapi.json", None).await;
        assert_eq!(served.status, 200, "{kind}: the description is open: {}", served.body);
        let document = served.body;

        let file = std::env::temp_dir().join(format!("tessera-test-openapi-{}.json", uuid::Uuid::new_v4().simple()));
        std::fs::write(&file, document.to_string()).unwrap();
        let checked = std::process::Command::new(validator()).arg(&file).output().unwrap();
        std::fs::remove_file(&file).unwrap();
        assert!(
            checked.status.success(),
            "{kind}: openapi-spec-validator refused /openapi.json:\n{}\n{}",
            String::from_utf8_lossy(&checked.stdout),
            String::from_utf8_lossy(&checked.stderr)
        );

        let mut operations = Vec::new();
        for (path, item) in document["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                let scopes: Vec<String> = operation["security"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .flat_map(|requirement| requirement["oauth2"].as_array().unwrap().iter())
                    .map(|scope| scope.as_str().unwrap().to_owned())
                    .collect();
                operations.push((method.to_uppercase(), path.clone(), scopes));
            }
        }
        assert!(operations.len() > 200, "{kind}: {} operations", operations.len());
        for (method, path) in
            [("GET", "/v3/workflows"), ("POST", "/beta/access-requests"), ("PATCH", "/scim/v2/Users/{id}")]
        {
            assert!(
                operations.iter().any(|(m, p, scopes)| m == method && p == path && !scopes.is_empty()),
                "{kind}: {method} {path} is described with its scopes"
            );
        }
        // Request bodies and query parameters come from the handlers' own types.
        let submit = &document["paths"]["/v3/access-requests"]["post"];
        let schema = &submit["requestBody"]["content"]["application/json"]["schema"];
        assert_eq!(schema["$ref"], "#/components/schemas/SubmitBody", "{kind}: {submit}");
        let required = &document["components"]["schemas"]["SubmitBody"]["required"];
        assert_eq!(required, &json!(["requestedFor", "requestedItems"]), "{kind}");
        let approve = &document["paths"]["/v3/access-request-approvals/{id}/approve"]["post"]["requestBody"];
        assert_eq!(approve["required"], false, "{kind}: approving needs no body");
        let listed: Vec<&str> = document["paths"]["/v3/identities"]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["in"] == "query")
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert_eq!(listed, ["filters", "sorters", "limit", "offset", "count"], "{kind}");
        // Every JSON body the API reads is described: the operations that take none, or take a
        // form or an upload, are these.
        let mut bodiless: Vec<String> = Vec::new();
        for (path, item) in document["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                if ["post", "put", "patch"].contains(&method.as_str())
                    && operation.get("requestBody").is_none()
                    && !path.starts_with("/scim/")
                    && !path.starts_with("/beta/")
                {
                    bodiless.push(format!("{} {path}", method.to_uppercase()));
                }
            }
        }
        bodiless.sort();
        expect_test::expect_file!["openapi_bodiless.txt"].assert_eq(&(bodiless.join("\n") + "\n"));

        let open: Vec<String> =
            operations.iter().filter(|(_, _, scopes)| scopes.is_empty()).map(|(m, p, _)| format!("{m} {p}")).collect();
        let mut expected_open = vec![
            "GET /health".to_owned(),
            "GET /openapi.json".to_owned(),
            "GET /ready".to_owned(),
            "POST /oauth/token".to_owned(),
        ];
        for path in ["/scim/v2/Bulk", "/scim/v2/Me"] {
            for method in ["DELETE", "GET", "PATCH", "POST", "PUT"] {
                expected_open.push(format!("{method} {path}"));
            }
        }
        let mut open_sorted = open.clone();
        open_sorted.sort();
        expected_open.sort();
        assert_eq!(open_sorted, expected_open, "{kind}: only these are open");

        // A token per scope the document names, and one holding an unrelated scope.
        let mut tokens = BTreeMap::new();
        for (_, _, scopes) in &operations {
            for scope in scopes {
                if !tokens.contains_key(scope) {
                    let id = format!("only-{}", tokens.len());
                    tokens.insert(scope.clone(), api.client_with(&id, &[scope.as_str()]).await);
                }
            }
        }
        let unrelated = api.client_with("unrelated", &["tessera:nothing"]).await;
        let body = json!({});
        for (method, path, scopes) in operations.iter().filter(|(_, _, scopes)| !scopes.is_empty()) {
            let method: Method = method.parse().unwrap();
            let concrete = path.replace("{id}", "no-such-id").replace("{state}", "no-such-state");
            let concrete = placeholders(&concrete);
            let what = format!("{kind}: {method} {path}");
            let anonymous = api.call_as(None, method.clone(), &concrete, Some(&body)).await;
            assert_eq!(anonymous.status, 401, "{what} without a token: {}", anonymous.body);
            let refused = api.call_as(Some(&unrelated), method.clone(), &concrete, Some(&body)).await;
            assert_eq!(refused.status, 403, "{what} without its scopes: {}", refused.body);
            assert!(
                refusal_text(&refused).contains(&scopes[0]),
                "{what}: the refusal names the scope: {}",
                refused.body
            );
            for scope in scopes {
                let reply = api.call_as(Some(&tokens[scope]), method.clone(), &concrete, Some(&body)).await;
                // Past the guard, and no handler asks for a scope the table does not name: the only
                // scope refusal left is an administrator's (`sp:scopes:all`) for what depends on the
                // data, such as reading across the organisation.
                let text = refusal_text(&reply);
                let scope_refused =
                    reply.status == 403 && text.starts_with("this needs") && !text.contains("sp:scopes:all");
                assert!(
                    reply.status != 401 && !scope_refused,
                    "{what} with `{scope}` alone: {} {}",
                    reply.status,
                    reply.body
                );
            }
        }
    }
}

/// Every other `{name}` path parameter becomes `x`.
fn placeholders(path: &str) -> String {
    path.split('/')
        .map(|segment| if segment.starts_with('{') && segment.ends_with('}') { "x" } else { segment })
        .collect::<Vec<_>>()
        .join("/")
}
