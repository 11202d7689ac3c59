//! People's user levels: ISC's `/v3/auth-users/{id}` reads and patches a person's capabilities, a
//! governance group gives its levels to its members, `/tessera/v1/identities/{id}/permissions` shows
//! every level and the scopes it gives, and nobody grants, takes away or joins a group for a level
//! whose scopes they do not hold. Every change is audited.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use reqwest::Method;
use serde_json::json;
use tessera_model::Timestamp;
use tessera_model::vocabulary::IntoEnumIterator;
use tessera_store::{AccessStore, CatalogKind, CatalogStore, IdentityStore};

use crate::common::{apis, object, person};

#[tokio::test]
async fn user_levels_are_granted_directly_or_through_a_group_and_never_beyond_what_the_granter_holds() {
    for api in apis().await {
        let kind = api.kind;
        let mut tx = api.store.begin().await.unwrap();
        tx.insert_identities(&["ada", "bob", "cy"].map(|id| person(id, None))).await.unwrap();
        tx.insert_object(&object(CatalogKind::Workgroup, "roles-team", "", false, json!({"name": "roles team"})))
            .await
            .unwrap();
        tx.add_member("roles-team", "cy", Timestamp::UNIX_EPOCH).await.unwrap();
        tx.commit().await.unwrap();

        let read = api.get("/v3/auth-users/ada").await;
        assert_eq!(
            (read.status, &read.body["id"], &read.body["capabilities"]),
            (200, &json!("ada"), &json!([])),
            "{kind}: {}",
            read.body
        );
        assert_eq!(api.get("/v3/auth-users/nobody").await.status, 404, "{kind}");

        // An administrator makes Ada a source admin and Bob an administrator.
        let path = "/v3/auth-users/ada";
        let granted = api
            .call(
                Method::PATCH,
                path,
                Some(&json!([{"op": "replace", "path": "/capabilities", "value": ["SOURCE_ADMIN"]}])),
            )
            .await;
        assert_eq!(
            (granted.status, &granted.body["capabilities"]),
            (200, &json!(["SOURCE_ADMIN"])),
            "{kind}: {}",
            granted.body
        );
        let admin = json!([{"op": "add", "path": "/capabilities/-", "value": "ORG_ADMIN"}]);
        assert_eq!(api.call(Method::PATCH, "/v3/auth-users/bob", Some(&admin)).await.status, 200, "{kind}");

        // Bad patches: another field, an unknown level, not a patch.
        let other = json!([{"op": "replace", "path": "/displayName", "value": "Eve"}]);
        let refused = api.call(Method::PATCH, path, Some(&other)).await;
        assert_eq!(
            (refused.status, &refused.body["errors"][0]["pointer"]),
            (400, &json!("/0/path")),
            "{kind}: {}",
            refused.body
        );
        let unknown = json!([{"op": "add", "path": "/capabilities/-", "value": "SUPER_USER"}]);
        let refused = api.call(Method::PATCH, path, Some(&unknown)).await;
        assert_eq!(refused.status, 400, "{kind}: {}", refused.body);
        assert!(
            refused.body.to_string().contains("ORG_ADMIN"),
            "{kind}: the refusal lists the levels: {}",
            refused.body
        );
        assert_eq!(api.call(Method::PATCH, path, Some(&json!({"capabilities": []}))).await.status, 400, "{kind}");
        assert_eq!(api.get(path).await.body["capabilities"], json!(["SOURCE_ADMIN"]), "{kind}: nothing changed");

        // A client that may manage auth users but holds only some scopes cannot hand on more.
        let manager = api.client_with("level-manager", &["sp:auth-user:manage", "idn:role-unchecked:manage"]).await;
        let escalate = json!([{"op": "add", "path": "/capabilities/-", "value": "ORG_ADMIN"}]);
        let refused = api.call_as(Some(&manager), Method::PATCH, path, Some(&escalate)).await;
        assert_eq!((refused.status, refused.code()), (403, "not-allowed"), "{kind}: {}", refused.body);
        let demote = json!([{"op": "replace", "path": "/capabilities", "value": []}]);
        let refused = api.call_as(Some(&manager), Method::PATCH, "/v3/auth-users/bob", Some(&demote)).await;
        assert_eq!(refused.status, 403, "{kind}: nor take away an administrator's: {}", refused.body);

        // A governance group gives its levels to its members; joining it takes what granting does.
        let group = "/tessera/v1/governance-groups/roles-team/user-levels";
        let set = api.call(Method::PUT, group, Some(&json!({"userLevels": ["ROLE_ADMIN"]}))).await;
        assert_eq!((set.status, &set.body["userLevels"]), (200, &json!(["ROLE_ADMIN"])), "{kind}: {}", set.body);
        let cy = api.get("/tessera/v1/identities/cy/permissions").await.body;
        assert_eq!(cy["userLevels"], json!(["ROLE_ADMIN"]), "{kind}: {cy}");
        assert_eq!(cy["grants"][0]["via"], json!({"type": "GOVERNANCE_GROUP", "id": "roles-team"}), "{kind}");
        let scopes = cy["scopes"].as_array().unwrap();
        assert!(
            scopes.contains(&json!("idn:role-unchecked:manage")) && scopes.contains(&json!("tessera:inbox:read")),
            "{kind}: {cy}"
        );
        assert!(!scopes.contains(&json!("idn:sources:manage")), "{kind}: {cy}");
        let joiner = api.client_with("joiner", &["idn:workgroup:manage"]).await;
        let join = api
            .call_as(
                Some(&joiner),
                Method::POST,
                "/beta/workgroups/roles-team/members/bulk-add",
                Some(&json!([{"id": "ada"}])),
            )
            .await;
        assert_eq!(join.status, 403, "{kind}: joining a group that gives ROLE_ADMIN takes its scopes: {}", join.body);
        let ada = api.get("/tessera/v1/identities/ada/permissions").await.body;
        assert_eq!(ada["userLevels"], json!(["SOURCE_ADMIN"]), "{kind}: {ada}");

        // Deleting the person or the group takes the levels with it; every change was audited.
        let actions: Vec<String> = api.audit_of("identity", "ada").await.into_iter().map(|e| e.action).collect();
        assert_eq!(actions, ["auth-user.update"], "{kind}");
        assert_eq!(api.audit_of("governance-group", "roles-team").await.len(), 1, "{kind}");
        assert_eq!(api.call(Method::DELETE, "/beta/workgroups/roles-team", None).await.status, 204, "{kind}");
        let cy = api.get("/tessera/v1/identities/cy/permissions").await.body;
        assert_eq!(cy["userLevels"], json!([]), "{kind}: {cy}");
        let mut tx = api.store.begin().await.unwrap();
        tx.delete_identity("ada").await.unwrap();
        tx.insert_identities(&[person("ada", None)]).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(api.get(path).await.body["capabilities"], json!([]), "{kind}: a new Ada starts with none");
    }
}

#[tokio::test]
async fn concurrent_grants_to_one_person_are_all_kept() {
    for api in apis().await {
        let kind = api.kind;
        let mut tx = api.store.begin().await.unwrap();
        tx.insert_identities(&[person("ada", None)]).await.unwrap();
        tx.commit().await.unwrap();
        // Every level but ORG_ADMIN, each granted by its own PATCH, all at once.
        let levels: Vec<String> = tessera_model::UserLevel::iter()
            .filter(|level| *level != tessera_model::UserLevel::OrgAdmin)
            .map(|level| level.to_string())
            .collect();
        let grants = levels.iter().map(|level| {
            let operations = json!([{"op": "add", "path": "/capabilities/-", "value": level}]);
            let api = &api;
            async move { api.call(Method::PATCH, "/v3/auth-users/ada", Some(&operations)).await }
        });
        for reply in futures_util::future::join_all(grants).await {
            assert_eq!(reply.status, 200, "{kind}: {}", reply.body);
        }
        let held = api.get("/v3/auth-users/ada").await.body["capabilities"].clone();
        let mut held: Vec<&str> = held.as_array().unwrap().iter().filter_map(|l| l.as_str()).collect();
        held.sort_unstable();
        let mut expected: Vec<&str> = levels.iter().map(String::as_str).collect();
        expected.sort_unstable();
        assert_eq!(held, expected, "{kind}: every concurrent grant is kept");
    }
}
