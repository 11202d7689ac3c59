//! Publishing events: `POST /tessera/v1/events` starts the workflows whose EVENT trigger matches,
//! and refuses a malformed event or a caller without the scope.

use reqwest::Method;
use serde_json::json;

use crate::common::apis;

#[tokio::test]
async fn a_published_event_starts_its_workflows() {
    for api in apis().await {
        let kind = api.kind;
        let workflow = api
            .create(&json!({"name": "Joiner", "enabled": true,
                "trigger": {"type": "EVENT", "attributes": {"id": "idn:identity-created", "filter.$": "$.attributes[?(@.department == \"R&D\")]"}},
                "definition": {"start": "Done", "steps": {"Done": {"type": "success"}}}}))
            .await;
        for department in ["R&D", "Sales"] {
            let event = json!({"type": "idn:identity-created", "payload": {"identity": {"id": "2c91"}, "attributes": {"department": department}}});
            let published = api.post("/tessera/v1/events", &event).await;
            assert_eq!(
                (published.status, published.body["accepted"].clone()),
                (202, json!(true)),
                "{kind}: {}",
                published.body
            );
        }
        api.engine.dispatch_events().await.unwrap();
        api.run_due().await;
        let runs = api.get(&format!("/v3/workflows/{workflow}/executions")).await;
        assert_eq!(runs.total(), 1, "{kind}: only the R&D joiner passes the filter: {}", runs.body);

        let untyped = api.post("/tessera/v1/events", &json!({"payload": {}})).await;
        assert_eq!((untyped.status, untyped.code()), (400, "bad-request"), "{kind}");
        let no_payload = api.post("/tessera/v1/events", &json!({"type": "idn:identity-created", "payload": [1]})).await;
        assert_eq!((no_payload.status, no_payload.code()), (400, "bad-request"), "{kind}");
        let reader = api.client_with("reader", &["sp:workflow:read"]).await;
        let forbidden = api
            .call_as(Some(&reader), Method::POST, "/tessera/v1/events", Some(&json!({"type": "x", "payload": {}})))
            .await;
        assert_eq!((forbidden.status, forbidden.code()), (403, "forbidden"), "{kind}");
        let anonymous =
            api.call_as(None, Method::POST, "/tessera/v1/events", Some(&json!({"type": "x", "payload": {}}))).await;
        assert_eq!(anonymous.status, 401, "{kind}");
    }
}
