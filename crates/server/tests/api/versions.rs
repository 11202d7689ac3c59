//! `/tessera/v1/workflows/{id}/versions`: every version with its author, one version's document, a
//! unified diff between two, and rolling back to an old one as a new version.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use reqwest::Method;
use serde_json::json;

use crate::common::{ADMIN_ACTOR, apis, internal};

#[tokio::test]
async fn versions_are_listed_read_diffed_and_rolled_back() {
    for api in apis().await {
        let kind = api.kind;
        let first = internal("Versioned");
        let id = api.create(&first).await;
        let path = format!("/v3/workflows/{id}");
        let mut second = first.clone();
        second["description"] = json!("changed in version two");
        assert_eq!(api.call(Method::PUT, &path, Some(&second)).await.body["version"], 2, "{kind}");
        let rename = json!([{"op": "replace", "path": "/name", "value": "Versioned 3"}]);
        assert_eq!(api.call(Method::PATCH, &path, Some(&rename)).await.body["version"], 3, "{kind}");

        let base = format!("/tessera/v1/workflows/{id}/versions");
        let listed = api.get(&base).await;
        assert_eq!(listed.status, 200, "{kind}: {}", listed.body);
        let rows: Vec<_> = listed
            .body
            .as_array()
            .unwrap()
            .iter()
            .map(|v| (v["version"].as_i64().unwrap(), v["author"].as_str().unwrap(), v["name"].as_str().unwrap()))
            .collect();
        assert_eq!(
            rows,
            [(1, ADMIN_ACTOR, "Versioned"), (2, ADMIN_ACTOR, "Versioned"), (3, ADMIN_ACTOR, "Versioned 3")],
            "{kind}"
        );

        let one = api.get(&format!("{base}/1")).await;
        assert_eq!((one.status, &one.body["version"], &one.body["document"]), (200, &json!(1), &first), "{kind}");
        let two = api.get(&format!("{base}/2")).await;
        assert_eq!(two.body["document"], second, "{kind}");
        let missing = api.get(&format!("{base}/9")).await;
        assert_eq!((missing.status, missing.code()), (404, "not-found"), "{kind}");

        let diff = api.get(&format!("{base}/diff?from=1&to=2")).await;
        assert_eq!(diff.status, 200, "{kind}: {}", diff.body);
        assert_eq!(diff.body["identical"], false, "{kind}");
        let text = diff.body["diff"].as_str().unwrap();
        assert!(text.contains("-  \"description\": \"internal steps only\","), "{kind}: {text}");
        assert!(text.contains("+  \"description\": \"changed in version two\","), "{kind}: {text}");
        assert!(text.contains("version 1") && text.contains("version 2"), "{kind}: {text}");
        assert!(!text.contains("failureName"), "{kind}: unchanged lines far from the change are left out: {text}");
        let same = api.get(&format!("{base}/diff?from=2&to=2")).await;
        assert_eq!((&same.body["identical"], &same.body["diff"]), (&json!(true), &json!("")), "{kind}");

        let rolled = api.post(&format!("{base}/1/rollback"), &json!({})).await;
        assert_eq!(rolled.status, 200, "{kind}: {}", rolled.body);
        assert_eq!((&rolled.body["version"], &rolled.body["name"]), (&json!(4), &json!("Versioned")), "{kind}");
        let four = api.get(&format!("{base}/4")).await;
        assert_eq!(four.body["document"], first, "{kind}: version 4 is version 1's document");
        assert_eq!(four.body["note"], "rolled back to version 1", "{kind}");
        let latest = api.get(&path).await;
        assert_eq!(
            (&latest.body["version"], &latest.body["description"]),
            (&json!(4), &first["description"]),
            "{kind}"
        );
        let gone = api.post(&format!("{base}/9/rollback"), &json!({})).await;
        assert_eq!((gone.status, gone.code()), (404, "not-found"), "{kind}");
        assert_eq!(api.get(&base).await.body.as_array().unwrap().len(), 4, "{kind}");
    }
}
