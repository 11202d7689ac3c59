//! The access catalogue over HTTP: sources (with their events and audit entries), entitlements,
//! access profiles, roles, identity profiles and lifecycle states in ISC's shapes; lists with
//! filters, sorters, paging and counts; and every refusal (401, 403, 404, 409, invalid filters,
//! malformed JSON, invalid definitions located by JSON pointer).

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use reqwest::Method;
use serde_json::{Value, json};
use tessera_store::QueueStore;

use crate::common::{ADMIN_ACTOR, Api, Reply, apis};

/// An HR source read from a delimited file.
pub(crate) fn hr_source(name: &str) -> Value {
    json!({
        "name": name, "description": "the HR feed", "connector": "delimited-file", "authoritative": true,
        "features": ["ENABLE", "PROVISIONING"], "deleteThreshold": 20,
        "connectorAttributes": {"identityAttribute": "id", "managerAttribute": "manager"},
        "correlation": [{"identityAttribute": "email", "accountAttribute": "mail"}],
    })
}

/// A manual source's body: its people's work goes to the `Desk` governance group (made when missing),
/// since a manual source must hand its work to someone.
pub(crate) async fn manual(api: &Api, name: &str) -> Value {
    let found = api.get("/beta/workgroups?filters=name%20eq%20%22Desk%22").await;
    let desk = match found.body.as_array().and_then(|groups| groups.first()) {
        Some(group) => group["id"].as_str().unwrap().to_owned(),
        None => created(api, "/beta/workgroups", &json!({"name": "Desk"}), 200).await.body["id"]
            .as_str()
            .unwrap()
            .to_owned(),
    };
    json!({"name": name, "connector": "manual", "governanceGroup": {"type": "GOVERNANCE_GROUP", "id": desk}})
}

/// Posts `body`, asserting `status`; returns the answer.
pub(crate) async fn created(api: &Api, path: &str, body: &Value, status: u16) -> Reply {
    let reply = api.post(path, body).await;
    assert_eq!(reply.status, status, "{}: POST {path}: {}", api.kind, reply.body);
    reply
}

/// The id of what a POST created.
pub(crate) async fn create_id(api: &Api, path: &str, body: &Value) -> String {
    created(api, path, body, 201).await.body["id"].as_str().unwrap().to_owned()
}

/// Asserts a 400 `invalid-request` located at `pointer`.
pub(crate) fn assert_invalid(reply: &Reply, pointer: &str, context: &str) {
    assert_eq!((reply.status, reply.code()), (400, "invalid-request"), "{context}: {}", reply.body);
    assert_eq!(reply.body["errors"][0]["pointer"], pointer, "{context}: {}", reply.body);
}

/// The topics waiting in the outbox, oldest first.
pub(crate) async fn outbox(api: &Api) -> Vec<String> {
    let mut tx = api.store.begin().await.unwrap();
    tx.undispatched(10_000).await.unwrap().into_iter().map(|(_, topic, _)| topic).collect()
}

#[tokio::test]
async fn a_source_round_trips_in_isc_shape_with_events_and_audit() {
    for api in apis().await {
        let kind = api.kind;
        let workflow = api
            .create(&json!({"name": "On new source", "enabled": true,
                "trigger": {"type": "EVENT", "attributes": {"id": "idn:source-created"}},
                "definition": {"start": "Done", "steps": {"Done": {"type": "success"}}}}))
            .await;
        let made = created(&api, "/v3/sources", &hr_source("HR"), 201).await.body;
        let id = made["id"].as_str().unwrap().to_owned();
        assert_eq!(id.len(), 32, "{kind}: ISC's id form: {made}");
        assert_eq!(
            (&made["name"], &made["connector"], &made["type"], &made["authoritative"], &made["deleteThreshold"]),
            (&json!("HR"), &json!("delimited-file"), &json!("DelimitedFile"), &json!(true), &json!(20)),
            "{kind}"
        );
        assert_eq!(made["features"], json!(["ENABLE", "PROVISIONING"]), "{kind}");
        assert_eq!(made["connectorAttributes"]["identityAttribute"], "id", "{kind}");
        assert_eq!(
            (&made["created"], &made["modified"]),
            (&json!("2024-01-01T00:00:00.000Z"), &made["created"]),
            "{kind}"
        );
        assert_eq!(made["owner"], Value::Null, "{kind}");
        for base in ["/v3", "/beta"] {
            let read = api.get(&format!("{base}/sources/{id}")).await;
            assert_eq!((read.status, &read.body), (200, &made), "{kind}: {base}");
        }
        api.engine.dispatch_events().await.unwrap();
        api.run_due().await;
        let runs = api.get(&format!("/v3/workflows/{workflow}/executions")).await;
        assert_eq!(runs.total(), 1, "{kind}: the source-created event started its workflow once: {}", runs.body);

        let mut edited = made.clone();
        edited["description"] = json!("the new HR feed");
        let put = api.call(Method::PUT, &format!("/v3/sources/{id}"), Some(&edited)).await;
        assert_eq!((put.status, &put.body["description"]), (200, &json!("the new HR feed")), "{kind}: {}", put.body);
        let same = api.call(Method::PUT, &format!("/v3/sources/{id}"), Some(&edited)).await;
        assert_eq!(same.status, 200, "{kind}: an identical PUT changes nothing");
        let patch = json!([{"op": "replace", "path": "/deleteThreshold", "value": 50}, {"op": "add", "path": "/features/-", "value": "UNLOCK"}]);
        let patched = api.call(Method::PATCH, &format!("/v3/sources/{id}"), Some(&patch)).await;
        assert_eq!(patched.status, 200, "{kind}: {}", patched.body);
        assert_eq!(
            (&patched.body["deleteThreshold"], &patched.body["features"][2]),
            (&json!(50), &json!("UNLOCK")),
            "{kind}"
        );
        assert_eq!(patched.body["description"], "the new HR feed", "{kind}: a patch keeps what it does not touch");

        let deleted = api.call(Method::DELETE, &format!("/v3/sources/{id}"), None).await;
        assert_eq!((deleted.status, &deleted.body["type"]), (202, &json!("TASK_RESULT")), "{kind}: {}", deleted.body);
        assert_eq!(api.get(&format!("/v3/sources/{id}")).await.status, 404, "{kind}");
        let sources: Vec<String> = outbox(&api).await.into_iter().filter(|t| t.starts_with("idn:source-")).collect();
        assert_eq!(
            sources,
            ["idn:source-updated", "idn:source-updated", "idn:source-deleted"],
            "{kind}: the created event was dispatched; each later change published one"
        );
        let audit: Vec<(String, String)> =
            api.audit_of("source", &id).await.into_iter().map(|e| (e.actor, e.action)).collect();
        let expected: Vec<(String, String)> = ["source.create", "source.update", "source.update", "source.delete"]
            .iter()
            .map(|a| (ADMIN_ACTOR.to_owned(), (*a).to_owned()))
            .collect();
        assert_eq!(audit, expected, "{kind}: the identical PUT wrote no entry");
    }
}

#[tokio::test]
async fn invalid_sources_are_refused_with_a_pointer_and_nothing_is_written() {
    for api in apis().await {
        let kind = api.kind;
        let before = api.audit_count().await;
        let cases: Vec<(&str, Value, &str)> = vec![
            ("no name", json!({"connector": "manual"}), "/name"),
            ("unknown connector", json!({"name": "X", "connector": "mainframe"}), "/connector"),
            (
                "unknown feature",
                json!({"name": "X", "connector": "manual", "features": ["ENABLE", "TELEPORT"]}),
                "/features/1",
            ),
            (
                "no identity column",
                json!({"name": "X", "connector": "delimited-file", "connectorAttributes": {"delimiter": ";"}}),
                "/connectorAttributes/identityAttribute",
            ),
            (
                "a delimiter that is no character",
                json!({"name": "X", "connector": "delimited-file", "connectorAttributes": {"identityAttribute": "id", "delimiter": ";;"}}),
                "/connectorAttributes/delimiter",
            ),
            (
                "threshold over 100",
                json!({"name": "X", "connector": "manual", "deleteThreshold": 101}),
                "/deleteThreshold",
            ),
            (
                "half a correlation rule",
                json!({"name": "X", "connector": "manual", "correlation": [{"identityAttribute": "email"}]}),
                "/correlation/0/accountAttribute",
            ),
            (
                "an owner who is nobody",
                json!({"name": "X", "connector": "manual", "owner": {"type": "IDENTITY", "id": "nobody"}}),
                "/owner/id",
            ),
            (
                "a create policy with an unknown transform",
                json!({"name": "X", "connector": "manual", "provisioningPolicies": [{"usageType": "CREATE",
                       "fields": [{"name": "userName", "transform": {"type": "teleport"}}]}]}),
                "/provisioningPolicies/0/fields/0/transform/type",
            ),
            ("a manual source nobody works", json!({"name": "X", "connector": "manual"}), "/owner"),
            (
                "a live source handing its work to nobody",
                json!({"name": "X", "connector": "ldap", "manualProvisioning": true}),
                "/owner",
            ),
            (
                "a governance group that does not exist",
                json!({"name": "X", "connector": "manual", "governanceGroup": {"id": "nobody"}}),
                "/governanceGroup/id",
            ),
            ("a body that is no object", json!(["X"]), ""),
        ];
        for (what, body, pointer) in cases {
            assert_invalid(&api.post("/v3/sources", &body).await, pointer, &format!("{kind}: {what}"));
        }
        let malformed = api.raw(Method::POST, "/v3/sources", "application/json", "{\"name\": ").await;
        assert_eq!((malformed.status, malformed.code()), (400, "bad-request"), "{kind}: {}", malformed.body);

        let id = create_id(&api, "/v3/sources", &hr_source("HR")).await;
        let duplicate = api.post("/v3/sources", &hr_source("hr")).await;
        assert_eq!(
            (duplicate.status, duplicate.code()),
            (409, "conflict"),
            "{kind}: names ignore case: {}",
            duplicate.body
        );
        let rename = json!([{"op": "replace", "path": "/connector", "value": "manual"}]);
        assert_invalid(&api.call(Method::PATCH, &format!("/v3/sources/{id}"), Some(&rename)).await, "/connector", kind);
        let not_a_patch = api.call(Method::PATCH, &format!("/v3/sources/{id}"), Some(&json!({"name": "Y"}))).await;
        assert_eq!((not_a_patch.status, not_a_patch.code()), (400, "invalid-request"), "{kind}: a patch is a list");
        let unknown = api.call(Method::PUT, "/v3/sources/nope", Some(&hr_source("Z"))).await;
        assert_eq!((unknown.status, unknown.code()), (404, "not-found"), "{kind}");
        assert_eq!(api.call(Method::DELETE, "/v3/sources/nope", None).await.status, 404, "{kind}");
        assert_eq!(api.audit_count().await, before + 1, "{kind}: only the one source created was audited");
    }
}

#[tokio::test]
async fn lists_filter_sort_page_and_count() {
    for api in apis().await {
        let kind = api.kind;
        for n in [3, 1, 4, 0, 2] {
            create_id(&api, "/v3/sources", &manual(&api, &format!("Source {n}")).await).await;
        }
        let names = |r: &Reply| -> Vec<String> {
            r.body.as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap().to_owned()).collect()
        };
        let all = api.get("/v3/sources?count=true").await;
        assert_eq!((all.total(), names(&all)), (5, (0..5).map(|n| format!("Source {n}")).collect()), "{kind}: by name");
        assert!(api.get("/v3/sources").await.headers.get("x-total-count").is_none(), "{kind}: counted only when asked");
        let sorted = api.get("/v3/sources?sorters=-name&limit=2&offset=1&count=true").await;
        assert_eq!((sorted.total(), names(&sorted)), (5, vec!["Source 3".into(), "Source 2".into()]), "{kind}");
        let filtered = api.get("/v3/sources?filters=name%20in%20(%22Source%201%22,%22Source%204%22)&count=true").await;
        assert_eq!((filtered.total(), names(&filtered)), (2, vec!["Source 1".into(), "Source 4".into()]), "{kind}");
        let prefix = api.get("/v3/sources?filters=name%20sw%20%22source%203%22").await;
        assert_eq!(names(&prefix), ["Source 3"], "{kind}: sw ignores case");

        let unknown_field = api.get("/v3/sources?filters=nme%20eq%20%22x%22").await;
        assert_eq!((unknown_field.status, unknown_field.code()), (400, "invalid-filter"), "{kind}");
        let text = unknown_field.body["messages"][0]["text"].as_str().unwrap();
        assert!(text.contains("unknown field `nme`") && text.contains("at character 0"), "{kind}: {text}");
        let broken = api.get("/v3/sources?filters=name%20eq").await;
        assert_eq!((broken.status, broken.code()), (400, "invalid-filter"), "{kind}: {}", broken.body);
        let bad_sorter = api.get("/v3/sources?sorters=colour").await;
        assert_eq!((bad_sorter.status, bad_sorter.code()), (400, "invalid-filter"), "{kind}: {}", bad_sorter.body);
        for bad in ["limit=251", "limit=0", "offset=-1", "limit=many"] {
            let refused = api.get(&format!("/v3/sources?{bad}")).await;
            assert_eq!((refused.status, refused.code()), (400, "bad-request"), "{kind}: {bad}: {}", refused.body);
        }
    }
}

#[tokio::test]
async fn tokens_and_scopes_guard_every_catalogue_route() {
    for api in apis().await {
        let kind = api.kind;
        let source = create_id(&api, "/v3/sources", &manual(&api, "S").await).await;
        let reader = api.client_with("reader", &["idn:sources:read"]).await;
        let manager = api.client_with("manager", &["idn:sources:manage"]).await;
        let workflows = api.client_with("other", &["sp:workflow:manage"]).await;
        let body = manual(&api, "T").await;
        for (path, method) in [
            ("/v3/sources".to_owned(), Method::GET),
            (format!("/v3/sources/{source}"), Method::GET),
            ("/v3/access-profiles".to_owned(), Method::GET),
            ("/v3/roles".to_owned(), Method::GET),
            ("/v3/identity-profiles".to_owned(), Method::GET),
            ("/beta/entitlements".to_owned(), Method::GET),
            ("/beta/identities".to_owned(), Method::GET),
            ("/v3/accounts".to_owned(), Method::GET),
            ("/beta/workgroups".to_owned(), Method::GET),
            ("/tessera/v1/provisioning-plans".to_owned(), Method::GET),
        ] {
            let anonymous = api.call_as(None, method.clone(), &path, None).await;
            assert_eq!((anonymous.status, anonymous.code()), (401, "unauthorized"), "{kind}: {path}");
            let wrong = api.call_as(Some(&workflows), method, &path, None).await;
            assert_eq!((wrong.status, wrong.code()), (403, "forbidden"), "{kind}: {path}");
        }
        assert_eq!(api.call_as(Some(&reader), Method::GET, "/v3/sources", None).await.status, 200, "{kind}");
        let denied = api.call_as(Some(&reader), Method::POST, "/v3/sources", Some(&body)).await;
        assert_eq!(denied.status, 403, "{kind}: reading is not managing");
        let denied = api.call_as(Some(&reader), Method::DELETE, &format!("/v3/sources/{source}"), None).await;
        assert_eq!(denied.status, 403, "{kind}");
        assert_eq!(
            api.call_as(Some(&manager), Method::GET, "/v3/sources", None).await.status,
            200,
            "{kind}: manage reads"
        );
        assert_eq!(api.call_as(Some(&manager), Method::POST, "/v3/sources", Some(&body)).await.status, 201, "{kind}");
        let search = api.call_as(Some(&reader), Method::POST, "/v3/search", Some(&json!({}))).await;
        assert_eq!(search.status, 403, "{kind}");
    }
}

#[tokio::test]
async fn entitlements_access_profiles_and_roles_reference_what_exists() {
    for api in apis().await {
        let kind = api.kind;
        let ad = create_id(&api, "/v3/sources", &json!({"name": "AD", "connector": "ldap"})).await;
        let crm = create_id(&api, "/v3/sources", &manual(&api, "CRM").await).await;
        // A live connector's source that names no features has what the connector can do; others have none.
        let ad_features = api.get(&format!("/v3/sources/{ad}")).await.body["features"].clone();
        assert_eq!(ad_features, json!(["ENABLE", "PROVISIONING", "PASSWORD"]), "{kind}");
        assert_eq!(api.get(&format!("/v3/sources/{crm}")).await.body["features"], json!([]), "{kind}");
        let entitlement = |source: &str, value: &str| json!({"name": value, "source": {"id": source}, "attribute": "memberOf", "value": format!("cn={value}"), "requestable": true});
        let staff = create_id(&api, "/tessera/v1/entitlements", &entitlement(&ad, "staff")).await;
        let admins = create_id(&api, "/tessera/v1/entitlements", &entitlement(&ad, "admins")).await;
        let sales = create_id(&api, "/tessera/v1/entitlements", &entitlement(&crm, "sales")).await;
        let again = api.post("/tessera/v1/entitlements", &entitlement(&ad, "staff")).await;
        assert_eq!((again.status, again.code()), (409, "conflict"), "{kind}: one attribute=value per source");
        assert_invalid(&api.post("/tessera/v1/entitlements", &entitlement("nope", "x")).await, "/source/id", kind);
        let read = api.get(&format!("/beta/entitlements/{staff}")).await;
        assert_eq!(
            (&read.body["source"], &read.body["attribute"], &read.body["value"], &read.body["requestable"]),
            (&json!({"type": "SOURCE", "id": ad, "name": "AD"}), &json!("memberOf"), &json!("cn=staff"), &json!(true)),
            "{kind}: {}",
            read.body
        );
        let on_ad = api.get(&format!("/beta/entitlements?filters=source.id%20eq%20%22{ad}%22&count=true")).await;
        assert_eq!(on_ad.total(), 2, "{kind}");

        let profile = |name: &str, entitlements: Value| json!({"name": name, "description": "d", "source": {"id": ad, "name": "AD"}, "entitlements": entitlements, "enabled": true});
        let foreign = profile("Mixed", json!([{"id": staff}, {"id": sales}]));
        assert_invalid(&api.post("/v3/access-profiles", &foreign).await, "/entitlements/1/id", kind);
        assert_invalid(
            &api.post("/v3/access-profiles", &profile("Ghost", json!([{"id": "nope"}]))).await,
            "/entitlements/0/id",
            kind,
        );
        assert_invalid(&api.post("/v3/access-profiles", &profile("Empty", json!([]))).await, "/entitlements", kind);
        let made =
            created(&api, "/v3/access-profiles", &profile("Staff", json!([{"id": staff}, {"id": admins}])), 201).await;
        let ap = made.body["id"].as_str().unwrap().to_owned();
        assert_eq!(
            (
                &made.body["source"]["name"],
                &made.body["entitlements"][1],
                &made.body["enabled"],
                &made.body["requestable"]
            ),
            (&json!("AD"), &json!({"type": "ENTITLEMENT", "id": admins, "name": "admins"}), &json!(true), &json!(true)),
            "{kind}: {}",
            made.body
        );
        let duplicate = api.post("/v3/access-profiles", &profile("staff", json!([{"id": staff}]))).await;
        assert_eq!((duplicate.status, duplicate.code()), (409, "conflict"), "{kind}");
        let drop_admins = json!([{"op": "remove", "path": "/entitlements/1"}]);
        let patched = api.call(Method::PATCH, &format!("/v3/access-profiles/{ap}"), Some(&drop_admins)).await;
        assert_eq!((patched.status, patched.body["entitlements"].as_array().map(Vec::len)), (200, Some(1)), "{kind}");

        let role = |membership: Value| json!({"name": "Engineer", "accessProfiles": [{"id": ap}], "membership": membership, "enabled": true});
        assert_invalid(&api.post("/v3/roles", &role(json!({"type": "STANDARD"}))).await, "/membership/criteria", kind);
        let bad_operation = role(json!({"type": "STANDARD", "criteria": {"operation": "LIKE",
            "key": {"type": "IDENTITY", "property": "attribute.department"}, "stringValue": "x"}}));
        assert_invalid(&api.post("/v3/roles", &bad_operation).await, "/membership/criteria/operation", kind);
        let mut ghost = role(Value::Null);
        ghost["accessProfiles"] = json!([{"id": ap}, {"id": "nope"}]);
        assert_invalid(&api.post("/v3/roles", &ghost).await, "/accessProfiles/1/id", kind);
        let criteria = json!({"type": "STANDARD", "criteria": {"operation": "EQUALS",
            "key": {"type": "IDENTITY", "property": "attribute.department"}, "stringValue": "engineering"}});
        let made = created(&api, "/v3/roles", &role(criteria.clone()), 201).await.body;
        let role_id = made["id"].as_str().unwrap().to_owned();
        assert_eq!(
            (&made["accessProfiles"][0]["name"], &made["membership"], &made["requestable"]),
            (&json!("Staff"), &criteria, &json!(false)),
            "{kind}: {made}"
        );
        let roles = api.get("/v3/roles?filters=enabled%20eq%20true&count=true").await;
        assert_eq!(roles.total(), 1, "{kind}");

        let in_use = api.call(Method::DELETE, &format!("/v3/access-profiles/{ap}"), None).await;
        assert_eq!((in_use.status, in_use.code()), (400, "access-profile-in-use"), "{kind}: {}", in_use.body);
        assert_eq!(api.call(Method::DELETE, &format!("/v3/roles/{role_id}"), None).await.status, 204, "{kind}");
        assert_eq!(api.call(Method::DELETE, &format!("/v3/access-profiles/{ap}"), None).await.status, 204, "{kind}");
        assert_eq!(api.get(&format!("/v3/roles/{role_id}")).await.status, 404, "{kind}");
        let actions: Vec<String> = api.audit_of("role", &role_id).await.into_iter().map(|e| e.action).collect();
        assert_eq!(actions, ["role.create", "role.delete"], "{kind}");
    }
}

#[tokio::test]
async fn identity_profiles_and_lifecycle_states_are_checked_by_the_governance_rules() {
    for api in apis().await {
        let kind = api.kind;
        let hr = create_id(&api, "/v3/sources", &hr_source("HR")).await;
        let crm = create_id(&api, "/v3/sources", &manual(&api, "CRM").await).await;
        let profile = |source: &str, transform: Value| {
            json!({"name": "Employees", "priority": 5, "authoritativeSource": {"id": source},
                "identityAttributeConfig": {"enabled": true, "attributeTransforms": [
                    {"identityAttributeName": "email", "transformDefinition": transform}]}})
        };
        let email = json!({"type": "lower", "attributes": {"input": {"type": "accountAttribute",
            "attributes": {"sourceName": "HR", "attributeName": "email"}}}});
        let rule = json!({"type": "rule", "attributes": {"name": "Cloud Email"}});
        assert_invalid(
            &api.post("/v3/identity-profiles", &profile(&hr, rule)).await,
            "/identityAttributeConfig/attributeTransforms/0/transformDefinition/type",
            kind,
        );
        assert_invalid(
            &api.post("/v3/identity-profiles", &profile(&crm, email.clone())).await,
            "/authoritativeSource/id",
            kind,
        );
        let made = created(&api, "/v3/identity-profiles", &profile(&hr, email.clone()), 201).await.body;
        let id = made["id"].as_str().unwrap().to_owned();
        assert_eq!(
            (&made["authoritativeSource"], &made["priority"], &made["identityCount"]),
            (&json!({"type": "SOURCE", "id": hr, "name": "HR"}), &json!(5), &json!(0)),
            "{kind}: {made}"
        );
        let mut second = profile(&hr, email);
        second["name"] = json!("Contractors");
        let taken = api.post("/v3/identity-profiles", &second).await;
        assert_eq!((taken.status, taken.code()), (409, "conflict"), "{kind}: one profile per source: {}", taken.body);

        let states = format!("/v3/identity-profiles/{id}/lifecycle-states");
        let state = |technical: &str| {
            json!({"name": "Active", "technicalName": technical, "enabled": true, "identityState": "ACTIVE",
                "accountActions": [{"action": "ENABLE", "sourceIds": [crm]}]})
        };
        assert_invalid(&api.post(&states, &state("Not Valid")).await, "/technicalName", kind);
        let mut bad_action = state("active");
        bad_action["accountActions"][0]["action"] = json!("PAUSE");
        assert_invalid(&api.post(&states, &bad_action).await, "/accountActions/0/action", kind);
        let mut ghost_source = state("active");
        ghost_source["accountActions"][0]["sourceIds"] = json!([crm, "nope"]);
        assert_invalid(&api.post(&states, &ghost_source).await, "/accountActions/0/sourceIds/1", kind);
        let mut ghost_profile = state("active");
        ghost_profile["accessProfileIds"] = json!(["nope"]);
        assert_invalid(&api.post(&states, &ghost_profile).await, "/accessProfileIds/0", kind);
        let active = created(&api, &states, &state("active"), 201).await.body;
        let state_id = active["id"].as_str().unwrap().to_owned();
        assert_eq!(
            (&active["technicalName"], &active["enabled"], &active["identityCount"], &active["accessProfileIds"]),
            (&json!("active"), &json!(true), &json!(0), &json!([])),
            "{kind}: {active}"
        );
        let again = api.post(&states, &state("active")).await;
        assert_eq!((again.status, again.code()), (409, "conflict"), "{kind}");
        let listed = api.get(&format!("{states}?count=true")).await;
        assert_eq!((listed.status, listed.total()), (200, 1), "{kind}");
        let member = format!("{states}/{state_id}");
        assert_eq!(api.get(&member).await.body, active, "{kind}");
        let renamed = api.call(Method::PUT, &member, Some(&state("working"))).await;
        assert_invalid(&renamed, "/technicalName", kind);
        let describe = json!([{"op": "add", "path": "/description", "value": "at work"}]);
        let patched = api.call(Method::PATCH, &member, Some(&describe)).await;
        assert_eq!(
            (patched.status, &patched.body["description"]),
            (200, &json!("at work")),
            "{kind}: {}",
            patched.body
        );
        assert_eq!(api.get("/v3/identity-profiles/nope/lifecycle-states").await.status, 404, "{kind}");
        assert_eq!(api.get(&format!("/v3/identity-profiles/{id}/lifecycle-states/nope")).await.status, 404, "{kind}");

        let in_use = api.call(Method::DELETE, &format!("/v3/sources/{hr}"), None).await;
        assert_eq!((in_use.status, in_use.code()), (400, "source-in-use"), "{kind}: {}", in_use.body);
        let gone = api.call(Method::DELETE, &member, None).await;
        assert_eq!((gone.status, &gone.body["type"]), (202, &json!("LIFECYCLE_STATE")), "{kind}: {}", gone.body);
        let gone = api.call(Method::DELETE, &format!("/v3/identity-profiles/{id}"), None).await;
        assert_eq!((gone.status, &gone.body["completionStatus"]), (202, &json!("Success")), "{kind}: {}", gone.body);
        assert_eq!(api.call(Method::DELETE, &format!("/v3/sources/{hr}"), None).await.status, 202, "{kind}");
    }
}

/// Ten JSON Patches adding one entitlement each to the same access profile, sent at once, leave all
/// ten: a PATCH reads and writes in one transaction holding the object, so on PostgreSQL the later
/// no longer writes what it read before the earlier committed.
#[tokio::test]
async fn concurrent_patches_of_one_object_are_all_kept() {
    for api in apis().await {
        let kind = api.kind;
        let ad = create_id(&api, "/v3/sources", &json!({"name": "AD", "connector": "ldap"})).await;
        let mut entitlements = Vec::new();
        for n in 0..11 {
            let body = json!({"name": format!("group{n}"), "source": {"id": ad}, "attribute": "memberOf", "value": format!("cn=group{n}")});
            entitlements.push(create_id(&api, "/tessera/v1/entitlements", &body).await);
        }
        let body =
            json!({"name": "Groups", "source": {"id": ad}, "entitlements": [{"id": entitlements[0]}], "enabled": true});
        let ap = create_id(&api, "/v3/access-profiles", &body).await;
        let path = format!("/v3/access-profiles/{ap}");
        let patches = entitlements[1..].iter().map(|id| {
            let operations = json!([{"op": "add", "path": "/entitlements/-", "value": {"id": id}}]);
            let (api, path) = (&api, &path);
            async move { api.call(Method::PATCH, path, Some(&operations)).await }
        });
        for reply in futures_util::future::join_all(patches).await {
            assert_eq!(reply.status, 200, "{kind}: {}", reply.body);
        }
        let read = api.get(&path).await.body;
        let mut kept: Vec<&str> =
            read["entitlements"].as_array().unwrap().iter().filter_map(|e| e["id"].as_str()).collect();
        kept.sort_unstable();
        let mut expected: Vec<&str> = entitlements.iter().map(String::as_str).collect();
        expected.sort_unstable();
        assert_eq!(kept, expected, "{kind}: every concurrent PATCH is kept");
        let updates =
            api.audit_of("access-profile", &ap).await.into_iter().filter(|e| e.action.ends_with(".update")).count();
        assert_eq!(updates, 10, "{kind}: one audit entry per change");
    }
}
