//! A typed body that does not fit is refused with the JSON pointer of the value at fault; a body that
//! is not JSON, or not said to be, is refused saying so — and nothing is written.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use reqwest::Method;
use serde_json::json;

use crate::common::apis;

#[tokio::test]
async fn a_body_that_does_not_fit_is_refused_with_the_pointer_of_the_value_at_fault() {
    for api in apis().await {
        let kind = api.kind;
        let secret = "/tessera/v1/secrets/ldap-password";
        let wrong = api.call(Method::PUT, secret, Some(&json!({"value": 5, "description": "x"}))).await;
        assert_eq!(
            (wrong.status, wrong.code(), &wrong.body["errors"][0]["pointer"]),
            (400, "invalid-request", &json!("/value")),
            "{kind}: {}",
            wrong.body
        );
        let nested = api.call(Method::POST, "/tessera/v1/delegations", Some(&json!({"delegateId": ["ada"]}))).await;
        assert_eq!(
            (nested.status, &nested.body["errors"][0]["pointer"]),
            (400, &json!("/delegateId")),
            "{kind}: {}",
            nested.body
        );
        let broken = api.raw(Method::PUT, secret, "application/json", "{\"value\": ").await;
        assert_eq!((broken.status, broken.code()), (400, "bad-request"), "{kind}: {}", broken.body);
        assert!(broken.body.to_string().contains("not JSON"), "{kind}: {}", broken.body);
        let trailing = api.raw(Method::PUT, secret, "application/json", "{\"value\": \"s3cret-value\"} {}").await;
        assert_eq!(trailing.status, 400, "{kind}: {}", trailing.body);
        let plain = api.raw(Method::PUT, secret, "text/plain", "{\"value\": \"s3cret-value\"}").await;
        assert_eq!((plain.status, plain.code()), (415, "unsupported-media-type"), "{kind}: {}", plain.body);
        assert_eq!(api.get(secret).await.status, 404, "{kind}: nothing was stored");
        let fits = api.raw(Method::PUT, secret, "application/merge-patch+json", "{\"value\": \"s3cret-value\"}").await;
        assert!(fits.status < 300, "{kind}: a +json type is JSON: {} {}", fits.status, fits.body);
    }
}
