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
        let mut ids = Vec::new();
        for department in ["R&D", "Sales"] {
            let event = json!({"type": "idn:identity-created", "payload": {"identity": {"id": "2c91"}, "attributes": {"department": department}}});
            let published = api.post("/tessera/v1/events", &event).await;
            assert_eq!(
                (published.status, published.body["accepted"].clone()),
                (202, json!(true)),
                "{kind}: {}",
                published.body
            );
            ids.push(published.body["id"].as_str().unwrap().to_owned());
        }
        let nobody = api.post("/tessera/v1/events", &json!({"type": "idn:nobody-listens", "payload": {}})).await;
        let nobody = nobody.body["id"].as_str().unwrap().to_owned();
        let waiting = api.get(&format!("/tessera/v1/events/{}", ids[0])).await.body;
        assert_eq!((&waiting["dispatched"], &waiting["executions"]), (&json!(null), &json!([])), "{kind}: {waiting}");
        assert_eq!(waiting["reason"], "the event waits to be dispatched", "{kind}: {waiting}");
        api.engine.dispatch_events().await.unwrap();
        api.run_due().await;
        let runs = api.get(&format!("/v3/workflows/{workflow}/executions")).await;
        assert_eq!(runs.total(), 1, "{kind}: only the R&D joiner passes the filter: {}", runs.body);

        // Each event says what it started, or why it started nothing.
        let started = api.get(&format!("/tessera/v1/events/{}", ids[0])).await.body;
        assert_eq!(started["executions"][0]["workflowId"], json!(workflow), "{kind}: {started}");
        assert_eq!(started["executions"][0]["id"], runs.body[0]["id"], "{kind}: {started}");
        assert_eq!((&started["reason"], &started["type"]), (&json!(null), &json!("idn:identity-created")), "{kind}");
        assert!(started["dispatched"].is_string(), "{kind}: {started}");
        let filtered = api.get(&format!("/tessera/v1/events/{}", ids[1])).await.body;
        assert_eq!(filtered["executions"], json!([]), "{kind}: {filtered}");
        assert_eq!(
            filtered["reason"], "the trigger filter of `Joiner` selects nothing in this payload",
            "{kind}: {filtered}"
        );
        let unheard = api.get(&format!("/tessera/v1/events/{nobody}")).await.body;
        assert_eq!(
            unheard["reason"], "no enabled workflow has an EVENT trigger for `idn:nobody-listens`",
            "{kind}: {unheard}"
        );
        assert_eq!(api.get("/tessera/v1/events/nope").await.status, 404, "{kind}");
        let outsider = api.client_with("outsider", &["sp:workflow:read"]).await;
        let path = format!("/tessera/v1/events/{}", ids[0]);
        assert_eq!(api.call_as(Some(&outsider), Method::GET, &path, None).await.status, 403, "{kind}");

        let untyped = api.post("/tessera/v1/events", &json!({"payload": {}})).await;
        assert_eq!((untyped.status, untyped.code()), (400, "invalid-request"), "{kind}");
        assert_eq!(untyped.body["errors"][0]["pointer"], "/type", "{kind}: {}", untyped.body);
        let no_payload = api.post("/tessera/v1/events", &json!({"type": "idn:identity-created", "payload": [1]})).await;
        assert_eq!((no_payload.status, no_payload.code()), (400, "invalid-request"), "{kind}");
        assert_eq!(no_payload.body["errors"][0]["pointer"], "/payload", "{kind}: {}", no_payload.body);
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
