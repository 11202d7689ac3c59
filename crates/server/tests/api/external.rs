//! EXTERNAL triggers: a workflow's own OAuth client, shown once; its token starts that workflow and
//! nothing else; a disabled workflow, another workflow and malformed input are refused with stable codes.

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{apis, internal};

fn external(name: &str) -> Value {
    let mut document = internal(name);
    document["trigger"] = json!({"type": "EXTERNAL", "attributes": {}});
    document["enabled"] = json!(true);
    document
}

#[tokio::test]
async fn a_workflows_external_client_starts_that_workflow_only() {
    for api in apis().await {
        let kind = api.kind;
        let mine = api.create(&external("Mine")).await;
        let other = api.create(&external("Other")).await;
        let client = api.post(&format!("/v3/workflows/{mine}/external/oauth-clients"), &json!({})).await;
        assert_eq!(client.status, 200, "{kind}: {}", client.body);
        let (id, secret) = (client.body["id"].as_str().unwrap(), client.body["secret"].as_str().unwrap());
        assert_eq!(client.body["url"], format!("/beta/workflows/execute/external/{mine}"), "{kind}");
        let token = api.token_for(id, secret).await;

        let started = api
            .call_as(
                Some(&token),
                Method::POST,
                &format!("/beta/workflows/execute/external/{mine}"),
                Some(&json!({"input": {"who": "ada"}})),
            )
            .await;
        assert_eq!(started.status, 200, "{kind}: {}", started.body);
        let execution = started.body["workflowExecutionId"].as_str().unwrap().to_owned();
        api.run_due().await;
        assert_eq!(
            api.get(&format!("/v3/workflow-executions/{execution}")).await.body["status"],
            "Completed",
            "{kind}"
        );

        let echoed = api
            .call_as(
                Some(&token),
                Method::POST,
                &format!("/v3/workflows/execute/external/{mine}/test"),
                Some(&json!({"input": {"x": 1}})),
            )
            .await;
        assert_eq!((echoed.status, echoed.body.clone()), (200, json!({"payload": {"x": 1}})), "{kind}");

        let elsewhere = api
            .call_as(
                Some(&token),
                Method::POST,
                &format!("/v3/workflows/execute/external/{other}"),
                Some(&json!({"input": {}})),
            )
            .await;
        assert_eq!((elsewhere.status, elsewhere.code()), (403, "wrong-workflow"), "{kind}: {}", elsewhere.body);
        let listing = api.call_as(Some(&token), Method::GET, "/v3/workflows", None).await;
        assert_eq!(
            (listing.status, listing.code()),
            (403, "forbidden"),
            "{kind}: the trigger's token does nothing else"
        );
        let malformed = api
            .call_as(
                Some(&token),
                Method::POST,
                &format!("/v3/workflows/execute/external/{mine}"),
                Some(&json!({"input": [1]})),
            )
            .await;
        assert_eq!((malformed.status, malformed.code()), (400, "invalid-request"), "{kind}");
        assert_eq!(malformed.body["errors"][0]["pointer"], "/input", "{kind}: {}", malformed.body);

        let disabled = api
            .call(
                Method::PATCH,
                &format!("/v3/workflows/{mine}"),
                Some(&json!([{"op": "replace", "path": "/enabled", "value": false}])),
            )
            .await;
        assert_eq!(disabled.status, 200, "{kind}");
        let refused = api
            .call_as(
                Some(&token),
                Method::POST,
                &format!("/v3/workflows/execute/external/{mine}"),
                Some(&json!({"input": {}})),
            )
            .await;
        assert_eq!((refused.status, refused.code()), (409, "workflow-disabled"), "{kind}");

        // Once its trigger is an event's, the old trigger client starts nothing, enabled or not.
        let mut evented = external("Mine");
        evented["trigger"] = json!({"type": "EVENT", "attributes": {"id": "idn:identity-created"}});
        let put = api.call(Method::PUT, &format!("/v3/workflows/{mine}"), Some(&evented)).await;
        assert_eq!(put.status, 200, "{kind}: {}", put.body);
        let retriggered = api
            .call_as(
                Some(&token),
                Method::POST,
                &format!("/v3/workflows/execute/external/{mine}"),
                Some(&json!({"input": {}})),
            )
            .await;
        assert_eq!((retriggered.status, retriggered.code()), (409, "not-external"), "{kind}: {}", retriggered.body);

        let missing = api
            .call_as(Some(&token), Method::POST, "/v3/workflows/execute/external/nope", Some(&json!({"input": {}})))
            .await;
        assert_eq!(missing.status, 403, "{kind}: a token for one workflow learns nothing of others");
        let audit: Vec<String> = api.audit_of("workflow", &mine).await.iter().map(|a| a.action.clone()).collect();
        assert!(
            audit.contains(&"workflow.external-client.create".to_owned())
                && audit.contains(&"workflow.execute-external".to_owned()),
            "{kind}: {audit:?}"
        );
    }
}

#[tokio::test]
async fn only_external_workflows_get_an_external_client() {
    for api in apis().await {
        let internal_only = api.create(&internal("No trigger")).await;
        let refused = api.post(&format!("/v3/workflows/{internal_only}/external/oauth-clients"), &json!({})).await;
        assert_eq!((refused.status, refused.code()), (400, "not-external"), "{}", api.kind);
        let unknown = api.post("/v3/workflows/unknown/external/oauth-clients", &json!({})).await;
        assert_eq!((unknown.status, unknown.code()), (404, "not-found"), "{}", api.kind);
    }
}
