//! A token acting as a person sees only what concerns that person: its own approvals, the requests it
//! made or that were made for it, and the work items it owns (itself or through a governance group) —
//! and completes only those. Naming someone else is refused; an administrator's token, or a service's
//! acting as no one, reads across the organisation as its scopes allow.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use reqwest::Method;
use serde_json::{Value, json};
use tessera_governance::{AccessChange, AccessItem};
use tessera_model::Timestamp;
use tessera_store::{AccessStore, CatalogKind, CatalogStore, IdentityStore};

use crate::common::{Api, Reply, apis, bound_token, object, person};

/// Mary manages Ada and Eve; Olga owns the manual `desk` source (so its work items are hers) and Gus
/// is in the `helpdesk` group that owns the `lab` source. Ada asked for VPN access, Eve for lab access.
async fn seed(api: &Api) {
    let mut tx = api.store.begin().await.unwrap();
    let people =
        ["mary", "ada", "eve", "olga", "gus"].map(|id| person(id, (id == "ada" || id == "eve").then_some("mary")));
    tx.insert_identities(&people).await.unwrap();
    let mut desk = object(CatalogKind::Source, "desk", "", false, json!({"name": "desk", "connector": "manual"}));
    desk.owner_id = Some("olga".into());
    let lab = object(
        CatalogKind::Source,
        "lab",
        "",
        false,
        json!({"name": "lab", "connector": "manual", "governanceGroup": {"type": "GOVERNANCE_GROUP", "id": "helpdesk"}}),
    );
    for o in [
        desk,
        lab,
        object(CatalogKind::Workgroup, "helpdesk", "", false, json!({"name": "helpdesk"})),
        object(CatalogKind::Entitlement, "e-vpn", "desk", false, json!({"attribute": "groups", "value": "vpn"})),
        object(CatalogKind::AccessProfile, "ap-vpn", "desk", true, json!({"entitlements": [{"id": "e-vpn"}]})),
        object(CatalogKind::Entitlement, "e-lab", "lab", false, json!({"attribute": "groups", "value": "lab"})),
        object(CatalogKind::AccessProfile, "ap-lab", "lab", true, json!({"entitlements": [{"id": "e-lab"}]})),
    ] {
        tx.insert_object(&o).await.unwrap();
    }
    tx.add_member("helpdesk", "gus", Timestamp::UNIX_EPOCH).await.unwrap();
    tx.commit().await.unwrap();
    for (who, item) in [("ada", "ap-vpn"), ("eve", "ap-lab")] {
        let body = json!({"requestedFor": [who], "requestedBy": who,
                          "requestedItems": [{"type": "ACCESS_PROFILE", "id": item, "comment": "work"}]});
        let reply = api.post("/v3/access-requests", &body).await;
        assert_eq!(reply.status, 202, "{}: {}", api.kind, reply.body);
    }
}

async fn get(api: &Api, token: &str, path: &str) -> Reply {
    api.call_as(Some(token), Method::GET, path, None).await
}

async fn complete(api: &Api, token: &str, item: &str) -> Reply {
    api.call_as(Some(token), Method::POST, &format!("/v3/work-items/{item}"), None).await
}

fn ids(reply: &Value) -> Vec<String> {
    reply.as_array().unwrap().iter().map(|v| v["id"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn a_persons_token_sees_only_their_own_approvals_and_requests() {
    for api in apis().await {
        let kind = api.kind;
        seed(&api).await;
        let scopes =
            ["idn:access-request-approvals:read", "idn:access-request-status:read", "idn:access-request-self:manage"];
        let ada = bound_token(&api, "ada", &scopes).await;
        let mary = bound_token(&api, "mary", &scopes).await;
        // Mary's approvals are hers: Ada naming her is refused, for pending and completed alike.
        for path in [
            "/v3/access-request-approvals/pending?owner-id=mary",
            "/v3/access-request-approvals/completed?owner-id=mary",
        ] {
            let reply = get(&api, &ada, path).await;
            assert_eq!((reply.status, reply.code()), (403, "forbidden"), "{kind}: {path}: {}", reply.body);
            assert!(!reply.body.to_string().contains("work"), "{kind}: nothing of the request leaks");
        }
        assert_eq!(
            get(&api, &ada, "/v3/access-request-approvals/pending").await.body,
            json!([]),
            "{kind}: Ada approves nothing"
        );
        let own = get(&api, &mary, "/v3/access-request-approvals/pending?owner-id=me").await;
        assert_eq!(own.body.as_array().unwrap().len(), 2, "{kind}: {}", own.body);

        // Requests: Ada sees hers (made by her, for her), not Eve's.
        let mine = get(&api, &ada, "/v3/access-request-status").await;
        assert_eq!(mine.status, 200, "{kind}: {}", mine.body);
        assert_eq!(ids(&mine.body), ["ap-vpn"], "{kind}: {}", mine.body);
        let eves = get(&api, &ada, "/v3/access-request-status?requested-for=eve").await;
        assert_eq!((eves.status, eves.body.clone()), (200, json!([])), "{kind}: only what Ada asked for Eve");
        let both = get(&api, &ada, "/v3/access-request-status?requested-for=eve&requested-by=eve").await;
        assert_eq!(both.status, 403, "{kind}: {}", both.body);
        // The administrator (and a service acting as no one) sees everyone's.
        assert_eq!(api.get("/v3/access-request-status").await.body.as_array().unwrap().len(), 2, "{kind}");
        let service = api.client_with("service", &["idn:access-request-status:read"]).await;
        assert_eq!(
            get(&api, &service, "/v3/access-request-status?requested-for=eve").await.body.as_array().unwrap().len(),
            1,
            "{kind}"
        );
    }
}

#[tokio::test]
async fn a_persons_token_works_only_the_work_items_it_owns() {
    for api in apis().await {
        let kind = api.kind;
        seed(&api).await;
        // The access is granted directly, so each manual source hands a work item to its owner.
        for (who, item) in [("ada", "ap-vpn"), ("eve", "ap-lab")] {
            let change = AccessChange {
                grant: true,
                identity_ids: vec![who.into()],
                items: vec![AccessItem { kind: "ACCESS_PROFILE".into(), id: item.into() }],
                action: "Workflow".into(),
                ..AccessChange::default()
            };
            api.governance.manage_access(&change).await.unwrap();
        }
        while api.governance.run_provisioning().await.unwrap() > 0 {}
        let all = api.get("/v3/work-items").await;
        assert_eq!(all.body.as_array().unwrap().len(), 2, "{kind}: the administrator sees both: {}", all.body);
        let owner_of = |item: &Value| item["source"]["name"].as_str().unwrap().to_owned();
        let desk_item = all.body.as_array().unwrap().iter().find(|i| owner_of(i) == "desk").unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let lab_item = all.body.as_array().unwrap().iter().find(|i| owner_of(i) == "lab").unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();

        let scopes = ["idn:work-item:read", "idn:work-item:manage"];
        let (olga, gus, eve) = (
            bound_token(&api, "olga", &scopes).await,
            bound_token(&api, "gus", &scopes).await,
            bound_token(&api, "eve", &scopes).await,
        );
        assert_eq!(
            ids(&get(&api, &olga, "/v3/work-items").await.body),
            vec![desk_item.clone()],
            "{kind}: Olga owns the desk"
        );
        assert_eq!(
            ids(&get(&api, &gus, "/v3/work-items").await.body),
            vec![lab_item.clone()],
            "{kind}: Gus, through the helpdesk group"
        );
        assert!(ids(&get(&api, &eve, "/v3/work-items").await.body).is_empty(), "{kind}: Eve owns nothing");
        let read = api.call_as(Some(&eve), Method::GET, &format!("/v3/work-items/{desk_item}"), None).await;
        assert_eq!(read.status, 404, "{kind}: another's item does not exist for her");
        assert_eq!(complete(&api, &eve, &desk_item).await.status, 404, "{kind}: Eve cannot complete it");
        assert_eq!(complete(&api, &gus, &desk_item).await.status, 404, "{kind}: nor can Gus");
        let done = complete(&api, &olga, &desk_item).await;
        assert_eq!((done.status, &done.body["state"]), (200, &json!("Finished")), "{kind}: {}", done.body);
        assert_eq!(complete(&api, &gus, &lab_item).await.status, 200, "{kind}");
    }
}

/// People's work is one model: a person's inbox lists their access approvals and work items beside
/// workflow items in one answer, and acting on them there follows their own rules — an approval is
/// decided (or forwarded) as on ISC's paths, a work item completed as on `/v3/work-items`.
#[tokio::test]
async fn one_inbox_holds_approvals_and_work_items_and_acting_there_follows_their_rules() {
    for api in apis().await {
        let kind = api.kind;
        seed(&api).await;
        let change = AccessChange {
            grant: true,
            identity_ids: vec!["ada".into()],
            items: vec![AccessItem { kind: "ACCESS_PROFILE".into(), id: "ap-lab".into() }],
            action: "Workflow".into(),
            ..AccessChange::default()
        };
        api.governance.manage_access(&change).await.unwrap();
        while api.governance.run_provisioning().await.unwrap() > 0 {}
        let scopes = ["tessera:inbox:read", "tessera:inbox:manage", "idn:access-request-approvals:read"];
        let (mary, gus, ada) = (
            bound_token(&api, "mary", &scopes).await,
            bound_token(&api, "gus", &scopes).await,
            bound_token(&api, "ada", &scopes).await,
        );
        let inbox = get(&api, &mary, "/tessera/v1/inbox").await;
        let types: Vec<&str> = inbox.body.as_array().unwrap().iter().map(|i| i["type"].as_str().unwrap()).collect();
        assert_eq!(types, ["ACCESS_REQUEST_APPROVAL"; 2], "{kind}: Mary's two approvals: {}", inbox.body);
        let vpn = inbox.body.as_array().unwrap().iter().find(|i| i["title"].as_str().unwrap().contains("ada")).unwrap();
        let vpn = vpn["id"].as_str().unwrap().to_owned();
        let gus_inbox = get(&api, &gus, "/tessera/v1/inbox").await;
        assert_eq!(gus_inbox.body.as_array().unwrap().len(), 1, "{kind}: {}", gus_inbox.body);
        let work = &gus_inbox.body[0];
        assert_eq!(work["type"], "WORK_ITEM", "{kind}: the lab's work item, through the group: {work}");
        let work = work["id"].as_str().unwrap().to_owned();
        assert!(get(&api, &ada, "/tessera/v1/inbox").await.body.as_array().unwrap().is_empty(), "{kind}");

        // Deciding is for an approver only, and by the approval's rules; a work item is not approved.
        let act = |token: &str, id: &str, verb: &str, body: Value| {
            let path = format!("/tessera/v1/inbox/{id}/{verb}");
            let token = token.to_owned();
            let api = &api;
            async move { api.call_as(Some(&token), Method::POST, &path, Some(&body)).await }
        };
        assert_eq!(act(&ada, &vpn, "approve", json!({})).await.status, 403, "{kind}: Ada approves nothing");
        let refused = act(&mary, &vpn, "complete", json!({})).await;
        assert_eq!(refused.status, 400, "{kind}: an approval is not completed: {}", refused.body);
        let approved = act(&mary, &vpn, "approve", json!({"comment": "fine"})).await;
        assert_eq!((approved.status, &approved.body["status"]), (200, &json!("APPROVED")), "{kind}: {}", approved.body);
        let decided = get(&api, &mary, "/v3/access-request-approvals/completed").await;
        assert_eq!(ids(&decided.body), [vpn.as_str()], "{kind}: the ISC view shows the decision: {}", decided.body);
        assert_eq!(decided.body[0]["reviewerComment"]["comment"], "fine", "{kind}: {}", decided.body);

        assert_eq!(act(&gus, &work, "approve", json!({})).await.status, 400, "{kind}: a work item is completed");

        // An inbox administrator acting as someone else neither takes an approval nor completes work
        // that is not theirs: ISC's own paths, with their own scopes, serve administrators.
        let admin_scopes = ["tessera:inbox:read", "tessera:inbox:manage", "tessera:inbox:admin"];
        let ada_admin = bound_token(&api, "ada", &admin_scopes).await;
        let lab = get(&api, &mary, "/tessera/v1/inbox").await.body[0]["id"].as_str().unwrap().to_owned();
        let taken = act(&ada_admin, &lab, "reassign", json!({"to": "ada"})).await;
        assert_eq!(taken.status, 403, "{kind}: {}", taken.body);
        assert_eq!(act(&ada_admin, &work, "complete", json!({})).await.status, 403, "{kind}");

        // Group work follows the group: Gus leaves the helpdesk and Olga joins it.
        let mut tx = api.store.begin().await.unwrap();
        tx.remove_member("helpdesk", "gus").await.unwrap();
        tx.add_member("helpdesk", "olga", Timestamp::UNIX_EPOCH).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(get(&api, &gus, "/tessera/v1/inbox").await.body, json!([]), "{kind}: not Gus's any more");
        assert_eq!(act(&gus, &work, "complete", json!({})).await.status, 403, "{kind}");
        let olga = bound_token(&api, "olga", &scopes).await;
        assert_eq!(ids(&get(&api, &olga, "/tessera/v1/inbox").await.body), [work.as_str()], "{kind}: Olga's now");
        let done = act(&olga, &work, "complete", json!({"comment": "added to the lab group"})).await;
        assert_eq!((done.status, &done.body["status"]), (200, &json!("COMPLETED")), "{kind}: {}", done.body);
        let item = api.get(&format!("/v3/work-items/{work}")).await;
        assert_eq!(item.body["state"], "Finished", "{kind}: {}", item.body);
        // Answered and audited in one transaction, whichever path answered it.
        let audit = api.get(&format!("/tessera/v1/audit?targetType=work-item&targetId={work}")).await;
        let actions: Vec<&str> = audit.body.as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
        assert_eq!(actions, ["work-item.complete"], "{kind}: {}", audit.body);
        assert_eq!(get(&api, &olga, "/tessera/v1/inbox").await.body, json!([]), "{kind}: nothing left for Olga");
    }
}
