//! A workflow that takes its URL from its trigger's input is no proxy into the server's network: the
//! HTTP action refuses loopback (and link-local and metadata addresses) whatever the URL says, and
//! the execution's history says which rule refused and how an operator would allow it.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use reqwest::Method;
use serde_json::json;
use tessera_engine::EngineConfig;

use crate::common::apis_with_config;

#[tokio::test]
async fn a_url_from_the_trigger_cannot_reach_loopback_or_metadata() {
    // A service on loopback that must never be reached.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let inside = format!("http://{}/admin", listener.local_addr().unwrap());
    let reached = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = reached.clone();
    tokio::spawn(async move {
        while let Ok((_stream, _)) = listener.accept().await {
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    });
    for api in apis_with_config(EngineConfig::default()).await {
        let kind = api.kind;
        let proxy = json!({"name": "Fetch", "enabled": true, "trigger": {"type": "EXTERNAL", "attributes": {}},
            "definition": {"start": "Fetch", "steps": {
                "Fetch": {"type": "action", "actionId": "sp:http", "nextStep": "Done",
                          "attributes": {"url.$": "$.trigger.url", "method": "get"}},
                "Done": {"type": "success"}}}});
        let id = api.create(&proxy).await;
        let client = api.post(&format!("/v3/workflows/{id}/external/oauth-clients"), &json!({})).await;
        let token = api.token_for(client.body["id"].as_str().unwrap(), client.body["secret"].as_str().unwrap()).await;
        for (url, rule) in [
            (inside.clone(), "loopback addresses are refused by default"),
            (inside.replace("127.0.0.1", "localhost"), "loopback addresses are refused by default"),
            ("http://169.254.169.254/latest/meta-data/".to_owned(), "link-local and cloud metadata addresses"),
        ] {
            let started = api
                .call_as(
                    Some(&token),
                    Method::POST,
                    &format!("/beta/workflows/execute/external/{id}"),
                    Some(&json!({"input": {"url": url}})),
                )
                .await;
            assert_eq!(started.status, 200, "{kind}: {}", started.body);
            let execution = started.body["workflowExecutionId"].as_str().unwrap().to_owned();
            api.run_due().await;
            let done = api.get(&format!("/v3/workflow-executions/{execution}")).await.body;
            assert_eq!(done["status"], "Failed", "{kind}: {url}: {done}");
            let history = api.get(&format!("/v3/workflow-executions/{execution}/history")).await.body;
            let error = history[0]["outcome"]["error"].as_str().unwrap_or_default().to_owned();
            assert!(error.contains(rule) && error.contains("http_allow"), "{kind}: {url}: {history}");
        }
    }
    assert!(!reached.load(std::sync::atomic::Ordering::SeqCst), "nothing connected to the loopback service");
}
