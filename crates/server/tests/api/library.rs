//! `/v3/workflow-library`: the actions, operators and triggers the server supports, in ISC's shapes.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use serde_json::{Value, json};

use crate::common::apis;

fn by_id<'a>(items: &'a Value, id: &str) -> Option<&'a Value> {
    items.as_array().unwrap().iter().find(|item| item["id"] == id)
}

#[tokio::test]
async fn the_library_lists_actions_operators_and_triggers() {
    for api in apis().await {
        let kind = api.kind;
        let actions = api.get("/v3/workflow-library/actions").await;
        assert_eq!(actions.status, 200, "{kind}: {}", actions.body);
        let http = by_id(&actions.body, "sp:http").unwrap();
        assert_eq!(http["type"], "ACTION", "{kind}");
        let url = http["formFields"].as_array().unwrap().iter().find(|f| f["name"] == "url").unwrap();
        assert_eq!(url["required"], true, "{kind}: {http}");
        assert!(
            http["formFields"].as_array().unwrap().iter().any(|f| f["name"] == "basicAuthPassword"),
            "{kind}: {http}"
        );
        assert!(by_id(&actions.body, "sp:loop:iterator").is_none(), "{kind}: the loop is an operator");

        let operators = api.get("/v3/workflow-library/operators").await;
        assert_eq!(operators.status, 200, "{kind}");
        let iterator = by_id(&operators.body, "sp:loop:iterator").unwrap();
        assert_eq!(iterator["type"], "OPERATOR", "{kind}");
        assert!(by_id(&operators.body, "sp:http").is_none(), "{kind}");

        let triggers = api.get("/beta/workflow-library/triggers").await;
        assert_eq!(triggers.status, 200, "{kind}");
        for trigger in ["EVENT", "SCHEDULED", "EXTERNAL"] {
            assert!(by_id(&triggers.body, trigger).is_some(), "{kind}: {trigger}: {}", triggers.body);
        }

        let all = api.get("/v3/workflow-library").await;
        let count = |r: &Value| r.as_array().unwrap().len();
        assert_eq!(count(&all.body), count(&actions.body) + count(&operators.body) + count(&triggers.body), "{kind}");
        assert_eq!(by_id(&all.body, "EVENT").unwrap()["type"], json!("EVENT"), "{kind}");
    }
}
