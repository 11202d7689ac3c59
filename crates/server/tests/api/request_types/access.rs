//! Who may do what with request types, on both databases: a person who manages request types can
//! neither staff a team, write a type that grants before anyone approves, nor approve their own
//! request; and a type is read only by whoever would see it listed.

use reqwest::Method;
use serde_json::json;
use tessera_store::{AccessStore, CatalogKind, CatalogStore};

use super::{EDITOR, REQUESTER, as_, bound, created, kinds, load_example, refused, seed, timeline};
use crate::common::{apis, object};

#[tokio::test]
async fn a_person_who_manages_request_types_cannot_grant_themselves_access() {
    for api in apis().await {
        let kind = api.kind;
        seed(&api).await;
        let mut tx = api.store.begin().await.unwrap();
        tx.insert_object(&object(CatalogKind::Role, "r-vault", "", true, json!({"accessProfiles": []}))).await.unwrap();
        tx.commit().await.unwrap();
        let both: Vec<&str> = EDITOR.iter().chain(REQUESTER).copied().collect();
        let bob = bound(&api, "bob", &both).await;

        // Bob may not make himself a team, staff one, or delete one; an administrator may.
        let own = json!({"name": "Bob's own", "members": ["bob"], "admins": ["bob"]});
        refused(&as_(&api, &bob, Method::POST, "/tessera/v1/teams", Some(own.clone())).await, 403, "forbidden", None);
        let root = bound(&api, "eve", &["sp:scopes:all"]).await;
        let made = as_(&api, &root, Method::POST, "/tessera/v1/teams", Some(own)).await;
        assert_eq!(made.status, 201, "{kind}: an identity with sp:scopes:all administers: {}", made.body);
        let team =
            created(&api, "/tessera/v1/teams", json!({"name": "Vault", "members": ["bob", "cleo"], "admins": ["bob"]}))
                .await;
        let path = format!("/tessera/v1/teams/{team}");
        let staffed = json!({"name": "Vault", "members": ["bob", "cleo", "ada"], "admins": ["bob"]});
        refused(&as_(&api, &bob, Method::PUT, &path, Some(staffed)).await, 403, "forbidden", None);
        let renamed = json!({"name": "Vault keepers", "members": ["cleo", "bob"], "admins": ["bob"]});
        let reply = as_(&api, &bob, Method::PUT, &path, Some(renamed)).await;
        assert_eq!((reply.status, &reply.body["name"]), (200, &json!("Vault keepers")), "{kind}: {}", reply.body);
        refused(&as_(&api, &bob, Method::DELETE, &path, None).await, 403, "forbidden", None);

        // His team's types must have an approval before they grant, and may not say otherwise.
        let grant = json!({"type": "ACTION", "action": "GRANT", "items": [{"type": "ROLE", "id": "r-vault"}]});
        let ungated = json!({"name": "Vault", "teamId": team, "status": "PUBLISHED", "steps": [grant]});
        let reply = as_(&api, &bob, Method::POST, "/tessera/v1/request-types", Some(ungated.clone())).await;
        refused(&reply, 400, "invalid-request", Some("/steps/0"));
        assert!(
            reply.body["errors"][0]["message"].as_str().unwrap().contains("must follow an approval"),
            "{kind}: {}",
            reply.body
        );
        let mut waved = ungated.clone();
        waved["allowUnapprovedActions"] = json!(true);
        let reply = as_(&api, &bob, Method::POST, "/tessera/v1/request-types", Some(waved.clone())).await;
        refused(&reply, 403, "forbidden", None);
        let reply = api.post("/tessera/v1/request-types", &waved).await;
        assert_eq!(
            (reply.status, &reply.body["allowUnapprovedActions"]),
            (201, &json!(true)),
            "{kind}: {}",
            reply.body
        );

        // Naming himself as the approver does not help: the request fails, saying why.
        let mut gated = ungated;
        gated["name"] = json!("Vault, approved");
        gated["steps"] = json!([{"type": "APPROVAL", "approver": {"USER": "bob"}}, grant]);
        let reply = as_(&api, &bob, Method::POST, "/tessera/v1/request-types", Some(gated)).await;
        assert_eq!(reply.status, 201, "{kind}: {}", reply.body);
        let body = json!({"requestTypeId": reply.body["id"], "subject": "the vault"});
        let raised = as_(&api, &bob, Method::POST, "/tessera/v1/requests", Some(body)).await;
        assert_eq!((raised.status, &raised.body["status"]), (201, &json!("FAILED")), "{kind}: {}", raised.body);
        let reason = raised.body["reason"].as_str().unwrap();
        assert!(reason.contains("may not approve their own request"), "{kind}: {reason}");
        let entries = timeline(&api, raised.body["id"].as_str().unwrap()).await;
        assert_eq!(kinds(&entries), ["SUBMITTED", "ASSIGNED", "FAILED"], "{kind}");
        let mut tx = api.store.begin().await.unwrap();
        assert!(tx.access_of(&["bob".to_owned()]).await.unwrap().is_empty(), "{kind}: nothing granted");
    }
}

#[tokio::test]
async fn a_request_type_is_read_only_by_whoever_would_see_it_listed() {
    for api in apis().await {
        let kind = api.kind;
        seed(&api).await;
        let loaded = load_example(&api).await;
        let draft = json!({"name": "Vault (draft)", "teamId": loaded.team,
                           "steps": [{"type": "TASK", "title": "Open the vault"}]});
        let draft = created(&api, "/tessera/v1/request-types", draft).await;
        let eve = bound(&api, "eve", REQUESTER).await;
        let cleo = bound(&api, "cleo", EDITOR).await;
        let read = |token: &str, id: &str| {
            let (api, token, path) = (&api, token.to_owned(), format!("/tessera/v1/request-types/{id}"));
            async move { as_(api, &token, Method::GET, &path, None).await }
        };
        refused(&read(&eve, &draft).await, 404, "not-found", None);
        assert_eq!(read(&cleo, &draft).await.status, 200, "{kind}: her team's draft");
        assert_eq!(read(&eve, &loaded.request_type).await.status, 200, "{kind}: published to everyone");
        let listed = as_(&api, &eve, Method::GET, "/tessera/v1/request-types", None).await;
        assert_eq!(listed.body.as_array().unwrap().len(), 1, "{kind}: {}", listed.body);
        assert_eq!(api.get(&format!("/tessera/v1/request-types/{draft}")).await.status, 200, "{kind}: a service");
    }
}
