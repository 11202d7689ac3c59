//! Credentials pasted into workflows (as ISC exports carry them): sealed in the database, masked in
//! every answer — the workflow, its versions, their diff, and execution history — kept when the mask
//! is sent back, and opened only for the call that uses them, whose answer is scrubbed of them even
//! when the service echoes them. Versions and histories written before sealing are sealed and scrubbed
//! at start-up.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::HeaderMap;
use axum::routing::get;
use reqwest::Method;
use serde_json::{Value, json};
use tessera_store::{ExecutionStore, WorkflowStore};

use crate::common::{Api, apis};

const TOKEN: &str = "ghp-pasted-token-0123456789";
const PASSWORD: &str = "url-pass-word-42";
const CLIENT_SECRET: &str = "oauth-client-secret-xyz";

/// A service that echoes the Authorization header it received, as many test services do; returns its
/// base URL and what it saw.
async fn echo_service() -> (String, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let recorded = seen.clone();
    let app = Router::new().route(
        "/whoami",
        get(move |headers: HeaderMap, uri: axum::http::Uri| async move {
            let header = headers.get("authorization").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
            // A request without credentials records what its URL asked for instead.
            let seen = if header.is_empty() { uri.query().unwrap_or_default().to_owned() } else { header };
            recorded.lock().unwrap().push(seen.clone());
            axum::Json(json!({"seen": seen}))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, seen)
}

fn pasted(base: &str, token: &str) -> Value {
    let host = base.trim_start_matches("http://");
    json!({"name": "Pasted", "trace": true, "definition": {"start": "Call", "steps": {
        "Call": {"type": "action", "actionId": "sp:http", "nextStep": "Unused", "attributes": {
            "url": format!("http://svc:{PASSWORD}@{host}/whoami"), "method": "get",
            "authenticationType": "bearer", "bearerToken": token}},
        "Unused": {"type": "action", "actionId": "sp:http", "nextStep": "Done", "attributes": {
            "url": format!("{base}/whoami"), "method": "get", "authenticationType": "OAuth",
            "oAuthClientId": "id", "oAuthClientSecret": CLIENT_SECRET, "oAuthTokenUrl": format!("{base}/token")}},
        "Done": {"type": "success"}}}})
}

/// Everything stored about workflows and executions, as text.
async fn stored(api: &Api) -> String {
    let mut text = String::new();
    for (table, column) in [
        ("workflow_versions", "document"),
        ("execution_history", "entry"),
        ("executions", "state"),
        ("tasks", "payload"),
    ] {
        let rows: Vec<String> =
            sqlx::query_scalar(&format!("SELECT {column} FROM {table}")).fetch_all(api.store.pool()).await.unwrap();
        text.push_str(&rows.join("\n"));
    }
    text
}

#[tokio::test]
async fn pasted_credentials_are_sealed_masked_kept_and_used() {
    let (base, seen) = echo_service().await;
    for api in apis().await {
        let kind = api.kind;
        let id = api.create(&pasted(&base, TOKEN)).await;
        let path = format!("/v3/workflows/{id}");
        let read = api.get(&path).await.body;
        let call = &read["definition"]["steps"]["Call"]["attributes"];
        assert_eq!(call["bearerToken"], "********", "{kind}: {read}");
        assert!(call["url"].as_str().unwrap().starts_with("http://svc:********@"), "{kind}: {read}");
        assert_eq!(read["definition"]["steps"]["Unused"]["attributes"]["oAuthClientSecret"], "********", "{kind}");
        let at_rest = stored(&api).await;
        for secret in [TOKEN, PASSWORD, CLIENT_SECRET] {
            assert!(!at_rest.contains(secret), "{kind}: {secret} is stored in plain text");
        }
        assert!(at_rest.contains("$sealed:v1:"), "{kind}");

        // Sent back as read: no new version. With a new token: a new version, masked in its diff.
        let mut again = read.clone();
        again.as_object_mut().unwrap().retain(|k, _| ["name", "definition", "trace"].contains(&k.as_str()));
        let put = api.call(Method::PUT, &path, Some(&again)).await;
        assert_eq!((put.status, &put.body["version"]), (200, &json!(1)), "{kind}: {}", put.body);
        let put = api.call(Method::PUT, &path, Some(&pasted(&base, "a-new-token-9876543210"))).await;
        assert_eq!((put.status, &put.body["version"]), (200, &json!(2)), "{kind}: {}", put.body);
        let diff = api.get(&format!("/tessera/v1/workflows/{id}/versions/diff?from=1&to=2")).await.body;
        assert_eq!(diff["identical"], false, "{kind}: {diff}");
        let text = diff["diff"].as_str().unwrap();
        assert!(text.contains("-") && text.contains("\"bearerToken\": \"******** (sealed"), "{kind}: {text}");
        assert!(!text.contains("$sealed") && !text.contains(TOKEN), "{kind}: {text}");
        let version = api.get(&format!("/tessera/v1/workflows/{id}/versions/1")).await.body;
        assert_eq!(version["document"]["definition"]["steps"]["Call"]["attributes"]["bearerToken"], "********");
        let rolled = api.post(&format!("/tessera/v1/workflows/{id}/versions/1/rollback"), &json!({})).await;
        assert_eq!(rolled.status, 200, "{kind}: {}", rolled.body);

        // A mask with nothing stored behind it is refused at its place.
        let mut fresh = pasted(&base, "********");
        fresh["name"] = json!("Masked");
        let refused = api.post("/v3/workflows", &fresh).await;
        assert_eq!((refused.status, refused.code()), (400, "invalid-request"), "{kind}: {}", refused.body);
        assert_eq!(refused.body["errors"][0]["pointer"], "/definition/steps/Call/attributes/bearerToken", "{kind}");

        // Run: the service gets the real credentials; what it echoes never reaches the data or history.
        let execution = api.test(&id, json!({})).await;
        api.run_due().await;
        let history = api.get(&format!("/v3/workflow-executions/{execution}/history")).await.body;
        assert_eq!(seen.lock().unwrap().pop(), Some(format!("Bearer {TOKEN}")), "{kind}: the real token was sent");
        let echoed = history[0]["output"]["body"]["seen"].as_str().unwrap_or_default().to_owned();
        assert!(echoed.ends_with("********") && !echoed.contains(TOKEN), "{kind}: the echo is scrubbed: {history}");
        assert!(history[0]["input"]["url"].as_str().unwrap().contains("svc:********@"), "{kind}: {history}");
        let at_rest = stored(&api).await;
        assert!(!at_rest.contains(TOKEN) && !at_rest.contains(PASSWORD), "{kind}: nothing in plain text after the run");
    }
}

#[tokio::test]
async fn credentials_stored_before_sealing_are_sealed_and_scrubbed_at_start() {
    for api in apis().await {
        let kind = api.kind;
        // What an older Tessera wrote: a plain token in a version, in a trace entry, and in a queued call.
        let id = api
            .create(&json!({"name": "Old", "definition": {"start": "Done", "steps": {"Done": {"type": "success"}}}}))
            .await;
        let old = pasted("http://127.0.0.1:9", TOKEN);
        sqlx::query("UPDATE workflow_versions SET document = $1 WHERE workflow_id = $2")
            .bind(old.to_string())
            .bind(&id)
            .execute(api.store.pool())
            .await
            .unwrap();
        let execution = api.test(&id, json!({})).await;
        let mut tx = api.store.begin().await.unwrap();
        let entry = json!({"step": "Call", "output": {"body": {"authorization": format!("Bearer {TOKEN}")}}});
        tx.append_history(&execution, &[entry]).await.unwrap();
        tx.commit().await.unwrap();
        sqlx::query("UPDATE tasks SET payload = $1 WHERE execution_id = $2")
            .bind(json!({"input": {"bearerToken": TOKEN}}).to_string())
            .bind(&execution)
            .execute(api.store.pool())
            .await
            .unwrap();

        let report = tessera_engine::secrets::seal_stored(&api.store).await.unwrap();
        assert_eq!(report.versions, 1, "{kind}: {report:?}");
        assert!(report.entries >= 2, "{kind}: {report:?}");
        let at_rest = stored(&api).await;
        assert!(!at_rest.contains(TOKEN), "{kind}: {at_rest}");
        let mut tx = api.store.begin().await.unwrap();
        let version = tx.version(&id, 1).await.unwrap().unwrap();
        let sealed =
            version.document["definition"]["steps"]["Call"]["attributes"]["bearerToken"].as_str().unwrap().to_owned();
        assert_eq!(api.store.keyring().unwrap().open_text(&sealed).unwrap(), TOKEN, "{kind}: still the same token");
        assert_eq!(tx.history(&execution).await.unwrap()[0]["output"]["body"]["authorization"], "Bearer ********");
        drop(tx);
        let payload: String = sqlx::query_scalar("SELECT payload FROM tasks WHERE execution_id = $1")
            .bind(&execution)
            .fetch_one(api.store.pool())
            .await
            .unwrap();
        assert!(payload.contains("$sealed:v1:"), "{kind}: the queued call gets the sealed token: {payload}");
        assert_eq!(tessera_engine::secrets::seal_stored(&api.store).await.unwrap().versions, 0, "{kind}: done once");
    }
}

/// The better way: a named secret, stored once, referred to as `{{secret:<name>}}`. Its value goes in
/// and never comes out — not in the answer, the store, the audit log or the run's history — and the
/// call that uses it sends the real value.
#[tokio::test]
async fn a_named_secret_is_referred_to_not_pasted() {
    let (base, seen) = echo_service().await;
    for api in apis().await {
        let kind = api.kind;
        let put = api
            .call(
                Method::PUT,
                "/tessera/v1/secrets/github-token",
                Some(&json!({"value": TOKEN, "description": "the bot's"})),
            )
            .await;
        assert_eq!(put.status, 200, "{kind}: {}", put.body);
        assert_eq!(put.body["reference"], "{{secret:github-token}}", "{kind}");
        assert!(!put.body.to_string().contains(TOKEN), "{kind}");
        let listed = api.get("/tessera/v1/secrets").await;
        assert_eq!(listed.body[0]["name"], "github-token", "{kind}: {}", listed.body);
        let bad = api.call(Method::PUT, "/tessera/v1/secrets/not%20ok", Some(&json!({"value": "x"}))).await;
        assert_eq!(bad.status, 400, "{kind}");
        let empty = api.call(Method::PUT, "/tessera/v1/secrets/empty", Some(&json!({}))).await;
        assert_eq!((empty.status, &empty.body["errors"][0]["pointer"]), (400, &json!("/value")), "{kind}");
        let reader = api.client_with("no-secrets", &["sp:workflow:read"]).await;
        assert_eq!(api.call_as(Some(&reader), Method::GET, "/tessera/v1/secrets", None).await.status, 403, "{kind}");

        let workflow = json!({"name": "Referred", "trace": true, "definition": {"start": "Call", "steps": {
            "Call": {"type": "action", "actionId": "sp:http", "nextStep": "Done", "attributes": {
                "url": format!("{base}/whoami"), "method": "get",
                "authenticationType": "bearer", "bearerToken": "{{secret:github-token}}"}},
            "Done": {"type": "success"}}}});
        let id = api.create(&workflow).await;
        let read = api.get(&format!("/v3/workflows/{id}")).await.body;
        assert_eq!(
            read["definition"]["steps"]["Call"]["attributes"]["bearerToken"], "{{secret:github-token}}",
            "{kind}"
        );
        let execution = api.test(&id, json!({})).await;
        api.run_due().await;
        assert_eq!(seen.lock().unwrap().pop(), Some(format!("Bearer {TOKEN}")), "{kind}: the real value was sent");
        let history = api.get(&format!("/v3/workflow-executions/{execution}/history")).await.body;
        assert!(!history.to_string().contains(TOKEN), "{kind}: {history}");
        assert!(!stored(&api).await.contains(TOKEN), "{kind}");
        let audit = api.get("/tessera/v1/audit?targetType=secret").await.body;
        assert_eq!(audit[0]["action"], "secret.set", "{kind}");
        assert!(!audit.to_string().contains(TOKEN), "{kind}");

        // A reference is resolved only where the author wrote it: arriving as data (a URL taken from the
        // trigger), it is sent as the text it is, never as the secret.
        let proxy = json!({"name": "Fetch", "definition": {"start": "Fetch", "steps": {
            "Fetch": {"type": "action", "actionId": "sp:http", "nextStep": "Done",
                      "attributes": {"url.$": "$.trigger.url", "method": "get"}},
            "Done": {"type": "success"}}}});
        let proxy = api.create(&proxy).await;
        let url = format!("{base}/whoami?s={{{{secret:github-token}}}}");
        api.test(&proxy, json!({"url": url})).await;
        api.run_due().await;
        let asked = seen.lock().unwrap().pop().unwrap_or_default();
        assert!(asked.contains("secret:github-token") && !asked.contains(TOKEN), "{kind}: {asked}");

        // Deleted: the step that refers to it fails, saying which secret is missing.
        assert_eq!(api.call(Method::DELETE, "/tessera/v1/secrets/github-token", None).await.status, 204, "{kind}");
        let execution = api.test(&id, json!({})).await;
        api.run_due().await;
        let history = api.get(&format!("/v3/workflow-executions/{execution}/history")).await.body;
        let error = history[0]["outcome"]["error"].as_str().unwrap_or_default();
        assert!(error.contains("no secret named `github-token`"), "{kind}: {history}");
    }
}
