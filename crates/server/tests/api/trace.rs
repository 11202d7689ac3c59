//! What history records: with `trace` on, each step's resolved input and output; with it off (the
//! default), neither; and never a credential, even from an `sp:http` step that really ran against a
//! local service.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::sync::{Arc, Mutex};

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use base64::Engine as _;
use serde_json::{Value, json};

use crate::common::{apis, internal};

const PASSWORD: &str = "correct-horse-battery-staple";

#[tokio::test]
async fn trace_decides_whether_history_records_inputs_and_outputs() {
    for api in apis().await {
        let kind = api.kind;
        let mut traced = internal("Traced");
        traced["trace"] = json!(true);
        let created = api.post("/v3/workflows", &traced).await;
        assert_eq!(created.body["trace"], true, "{kind}: {}", created.body);
        assert!(created.body.get("definition").is_some_and(|d| d.get("trace").is_none()), "{kind}");
        let on = created.body["id"].as_str().unwrap().to_owned();
        let off = api.create(&internal("Quiet")).await;
        assert_eq!(api.get(&format!("/v3/workflows/{off}")).await.body["trace"], false, "{kind}: off by default");

        let (with, without) = (api.test(&on, json!({"who": "ada"})).await, api.test(&off, json!({"who": "ada"})).await);
        api.run_due().await;
        let history = |id: String| {
            let api = &api;
            async move { api.get(&format!("/v3/workflow-executions/{id}/history")).await.body }
        };
        let traced = history(with).await;
        assert_eq!(
            (&traced[0]["step"], &traced[0]["output"]),
            (&json!("Define"), &json!({"who": "ada"})),
            "{kind}: {traced}"
        );
        assert_eq!(traced[1]["step"], "Check", "{kind}: {traced}");
        assert_eq!(
            traced[1]["input"],
            json!([{"comparator": "StringEquals", "variableA": "ada", "variableB": "ada", "matched": true}]),
            "{kind}: the choice's resolved operands"
        );
        let quiet = history(without).await;
        assert_eq!(quiet.as_array().unwrap().len(), 3, "{kind}: {quiet}");
        assert!(
            quiet.as_array().unwrap().iter().all(|h| h.get("input").is_none() && h.get("output").is_none()),
            "{kind}: {quiet}"
        );

        // Trace can be switched by PATCH without a new version.
        let patch = json!([{"op": "replace", "path": "/trace", "value": true}]);
        let patched = api.call(reqwest::Method::PATCH, &format!("/v3/workflows/{off}"), Some(&patch)).await;
        assert_eq!((&patched.body["trace"], &patched.body["version"]), (&json!(true), &json!(1)), "{kind}");
        let now_traced = api.test(&off, json!({"who": "ada"})).await;
        api.run_due().await;
        assert!(history(now_traced).await[1].get("input").is_some(), "{kind}");
    }
}

/// A local service that answers like httpbin's `/anything`: the headers and JSON body it received.
async fn echo(State(seen): State<Arc<Mutex<Vec<String>>>>, headers: HeaderMap, Json(body): Json<Value>) -> Json<Value> {
    let authorization = headers.get("authorization").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    seen.lock().unwrap().push(authorization.clone());
    Json(json!({"headers": {"Authorization": authorization, "Content-Type": "application/json"}, "json": body}))
}

/// A local service that greets the caller with the credentials it decoded from HTTP Basic.
async fn greet(headers: HeaderMap, _: Json<Value>) -> Json<Value> {
    let basic = headers.get("authorization").and_then(|v| v.to_str().unwrap().strip_prefix("Basic ")).unwrap();
    let decoded = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(basic).unwrap()).unwrap();
    Json(json!({"message": format!("signed in as {decoded}")}))
}

/// The local service's base URL and the Authorization headers `/anything` received.
async fn service() -> (String, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let app = Router::new().route("/anything", post(echo)).route("/greet", post(greet)).with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, seen)
}

/// A traced workflow with one `sp:http` step to `url` with HTTP Basic credentials.
fn calls_out(url: &str) -> Value {
    json!({"name": "Calls out", "trace": true, "definition": {"start": "Call", "steps": {
        "Call": {"type": "action", "actionId": "sp:http", "nextStep": "Done", "attributes": {
            "url": url, "method": "post", "requestContentType": "json",
            "jsonRequestBody": {"who.$": "$.trigger.who"},
            "authenticationType": "basic", "basicAuthUserName": "svc-user", "basicAuthPassword": PASSWORD}},
        "Done": {"type": "success"}}}})
}

#[tokio::test]
async fn a_password_never_reaches_history_even_with_trace() {
    let (base, seen) = service().await;
    let credentials = base64::engine::general_purpose::STANDARD.encode(format!("svc-user:{PASSWORD}"));
    for api in apis().await {
        let kind = api.kind;
        let id = api.create(&calls_out(&format!("{base}/anything"))).await;
        let execution = api.test(&id, json!({"who": "ada"})).await;
        api.run_due().await;
        let path = format!("/v3/workflow-executions/{execution}");
        let done = api.get(&path).await;
        assert_eq!(done.body["status"], "Completed", "{kind}: {}", done.body);
        assert_eq!(seen.lock().unwrap().pop(), Some(format!("Basic {credentials}")), "{kind}: the password was used");

        let history = api.get(&format!("{path}/history")).await.body;
        let call = &history[0];
        assert_eq!((&call["step"], &call["action"]), (&json!("Call"), &json!("sp:http")), "{kind}: {history}");
        assert_eq!(call["input"]["basicAuthUserName"], "svc-user", "{kind}: inputs are traced: {history}");
        assert_eq!(call["input"]["basicAuthPassword"], "********", "{kind}: {history}");
        assert_eq!(call["output"]["body"]["json"], json!({"who": "ada"}), "{kind}: outputs are traced: {history}");
        let text = history.to_string();
        assert!(!text.contains(PASSWORD) && !text.contains(&credentials), "{kind}: {text}");
        assert!(!done.body.to_string().contains(PASSWORD), "{kind}");
    }
}

#[tokio::test]
async fn a_password_the_service_repeats_in_its_answer_is_masked_too() {
    let (base, _) = service().await;
    for api in apis().await {
        let kind = api.kind;
        let id = api.create(&calls_out(&format!("{base}/greet"))).await;
        let execution = api.test(&id, json!({"who": "ada"})).await;
        api.run_due().await;
        let history = api.get(&format!("/v3/workflow-executions/{execution}/history")).await.body;
        assert!(history[0]["output"]["body"]["message"].is_string(), "{kind}: the answer is traced: {history}");
        assert!(!history.to_string().contains(PASSWORD), "{kind}: {history}");
    }
}
