//! Provisioning against real systems, on both databases: a birthright role creates a SCIM user in a
//! SCIM group (scim2-server), an LDAP entry in a group (slapd) and a work item on a manual source, and
//! one Provisioning Completed announces all three to a workflow. Then the faults: a stopped SCIM
//! server, one answering 500, one too slow to answer in time, a stopped slapd — each ends with every
//! account request in a definite state, retried where it should be, and nothing created twice.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use serde_json::{Value, json};
use tessera_connectors::testing::proxy::Proxy;
use tessera_connectors::testing::scim_server::ScimServer;
use tessera_connectors::testing::slapd::{self, Slapd};
use tessera_engine::{Engine, EngineConfig};
use tessera_governance::provisioning::default_retry;
use tessera_governance::{AggregateOptions, ExplicitRequest, ImportDirs};
use tessera_governance::{Governance, GovernanceConfig};
use tessera_model::RetryPolicy;
use tessera_model::{ManualClock, Timestamp};
use tessera_store::testing::stores;
use tessera_store::{
    AccessStore, CatalogKind, CatalogStore, ExecutionStore, IdentityStore, PlanRecord, ProvisioningStore, QueueStore,
    Store,
};

mod fixtures;
use fixtures::{attribute, insert_workflow, object};

const ADA_DN: &str = "uid=ada,ou=people,dc=example,dc=org";

struct World {
    store: Store,
    clock: Arc<ManualClock>,
    governance: Arc<Governance>,
    dir: std::path::PathBuf,
}

impl Drop for World {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

fn t0() -> tessera_model::Timestamp {
    "2026-03-01T09:00:00Z".parse().unwrap()
}

/// The SCIM source's document, for a server at `attributes`, whose group `group` the Engineer role grants.
fn scim_source(attributes: Value) -> Value {
    json!({"name": "CRM", "connector": "scim", "connectorAttributes": attributes,
    "provisioningPolicies": [{"usageType": "CREATE", "fields": [
        {"name": "userName", "transform": {"type": "identityAttribute", "attributes": {"name": "uid"}}, "isRequired": true},
        {"name": "displayName", "isRequired": true},
        {"name": "email"}
    ]}]})
}

fn ldap_source(slapd: &Slapd) -> Value {
    json!({"name": "Directory", "connector": "ldap",
    "connectorAttributes": {"url": slapd.url, "bindDn": slapd::ADMIN_DN, "bindPassword": slapd::ADMIN_PASSWORD,
                            "baseDn": slapd::PEOPLE, "groupBaseDn": slapd::GROUPS, "timeoutSeconds": 2},
    "provisioningPolicies": [{"usageType": "CREATE", "fields": [
        {"name": "uid", "isRequired": true},
        {"name": "cn", "transform": {"type": "identityAttribute", "attributes": {"name": "displayName"}}},
        {"name": "sn", "transform": {"type": "static", "attributes": {"value": "Staff"}}},
        {"name": "mail", "transform": {"type": "identityAttribute", "attributes": {"name": "email"}}}
    ]}]})
}

/// An HR source and profile, the given target sources (id, document, entitlement attribute and value),
/// and an Engineer birthright role granting one access profile per target.
async fn world(store: Store, retry: RetryPolicy, targets: &[(&str, Value, &str, &str)]) -> World {
    let dir = std::env::temp_dir().join(format!("tessera-prov-live-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("hr.csv").display().to_string();
    let mut objects = vec![
        object(
            CatalogKind::Source,
            "hr",
            "HR",
            "",
            json!({"name": "HR", "connector": "delimited-file", "authoritative": true,
                   "connectorAttributes": {"file": file, "identityAttribute": "id"}}),
        ),
        object(
            CatalogKind::IdentityProfile,
            "profile",
            "Staff",
            "hr",
            json!({"name": "Staff", "identityAttributeConfig": {"enabled": true, "attributeTransforms": [
                {"identityAttributeName": "uid", "transformDefinition": attribute("login")},
                {"identityAttributeName": "displayName", "transformDefinition": attribute("name")},
                {"identityAttributeName": "email", "transformDefinition": attribute("email")},
                {"identityAttributeName": "department", "transformDefinition": attribute("department")}
            ]}}),
        ),
    ];
    let mut profiles = Vec::new();
    for (id, document, attribute, value) in targets {
        let key = document["name"].as_str().unwrap().to_owned();
        objects.push(object(CatalogKind::Source, id, &key, "", document.clone()));
        let entitlement = format!("ent-{id}");
        objects.push(object(
            CatalogKind::Entitlement,
            &entitlement,
            &format!("{attribute}={value}"),
            id,
            json!({"name": format!("{key} engineers"), "attribute": attribute, "value": value}),
        ));
        let profile = format!("ap-{id}");
        objects.push(object(
            CatalogKind::AccessProfile,
            &profile,
            &format!("{key} engineering"),
            id,
            json!({"name": format!("{key} engineering"), "entitlements": [{"type": "ENTITLEMENT", "id": entitlement}]}),
        ));
        profiles.push(json!({"type": "ACCESS_PROFILE", "id": profile}));
    }
    objects.push(object(
        CatalogKind::Role,
        "engineer",
        "Engineer",
        "",
        json!({"name": "Engineer", "accessProfiles": profiles,
               "membership": {"type": "STANDARD", "criteria": {"operation": "EQUALS",
                   "key": {"type": "IDENTITY", "property": "attribute.department"}, "stringValue": "engineering"}}}),
    ));
    let mut tx = store.begin().await.unwrap();
    for o in &objects {
        tx.insert_object(o).await.unwrap();
    }
    tx.commit().await.unwrap();
    let clock = Arc::new(ManualClock::new(t0()));
    let imports = ImportDirs::new([dir.clone()]);
    let config = GovernanceConfig { provisioning_retry: retry, imports, ..GovernanceConfig::default() };
    let governance =
        Governance::new(Engine::new(store.clone(), clock.clone(), EngineConfig::default()), config).unwrap();
    World { store, clock, governance, dir }
}

impl World {
    /// Ada joins engineering: her identity, the Engineer role, and a queued plan per target source.
    async fn hire_ada(&self) -> String {
        std::fs::write(
            self.dir.join("hr.csv"),
            "id,name,login,email,department\ne1,Ada Lovelace,ada,ada@example.org,engineering\n",
        )
        .unwrap();
        self.governance.run_aggregation("hr", AggregateOptions::default()).await.unwrap();
        let mut tx = self.store.begin().await.unwrap();
        let ada = tx.identity_by_key("ada").await.unwrap().unwrap();
        // The aggregation's own events are not what these tests are about.
        for (id, _, _) in tx.lock_undispatched(1000).await.unwrap() {
            tx.mark_dispatched(&id, Timestamp::UNIX_EPOCH).await.unwrap();
        }
        tx.commit().await.unwrap();
        ada.id.into()
    }

    /// Carries out every plan that is due now, round after round.
    async fn provision(&self) {
        while self.governance.run_provisioning().await.unwrap() > 0 {}
    }

    /// Moves the clock past every retry delay and carries out what falls due.
    async fn later(&self, seconds: i64) {
        self.clock.advance_to(self.governance.now() + chrono::Duration::seconds(seconds));
        self.provision().await;
    }

    async fn plans(&self, identity: &str) -> Vec<PlanRecord> {
        let mut tx = self.store.begin().await.unwrap();
        tx.plans(Some(identity), 100, 0).await.unwrap()
    }

    async fn plan_on(&self, identity: &str, source: &str) -> PlanRecord {
        self.plans(identity).await.into_iter().find(|p| p.source_id == source).unwrap()
    }

    /// Every Provisioning Completed published so far.
    async fn completed(&self) -> Vec<Value> {
        let mut tx = self.store.begin().await.unwrap();
        let events = tx.lock_undispatched(1000).await.unwrap();
        // Ends the transaction now, so its row locks do not hide the events from the dispatcher.
        tx.commit().await.unwrap();
        events.into_iter().filter(|(_, topic, _)| topic == "idn:post-provisioning").map(|(_, _, p)| p).collect()
    }

    /// The native identities of an identity's accounts on `source`.
    async fn accounts_on(&self, identity: &str, source: &str) -> Vec<String> {
        let mut tx = self.store.begin().await.unwrap();
        let accounts = tx.accounts_of(&[identity.to_owned()]).await.unwrap();
        accounts.into_iter().filter(|a| a.source_id == source).map(|a| a.native_identity).collect()
    }
}

/// The users a SCIM server holds with `userName`.
async fn scim_users(scim: &ScimServer, user_name: &str) -> Vec<Value> {
    let path = format!("/Users?filter=userName%20eq%20%22{user_name}%22");
    let (status, list) = scim.request(reqwest::Method::GET, &path, None).await;
    assert_eq!(status, 200, "{list}");
    list["Resources"].as_array().cloned().unwrap_or_default()
}

fn request_on<'a>(event: &'a Value, source: &str) -> &'a Value {
    event["accountRequests"].as_array().unwrap().iter().find(|r| r["source"]["name"] == source).unwrap()
}

#[tokio::test]
async fn a_birthright_role_provisions_scim_ldap_and_a_work_item_and_one_event_announces_them() {
    for (name, store) in stores().await {
        let scim = ScimServer::start();
        let group = scim.create_group("engineers").await;
        let slapd = Slapd::start().await;
        let desk = json!({"name": "Service Desk", "connector": "manual", "governanceGroup": {"id": "wg-it"}});
        let w = world(
            store,
            default_retry(),
            &[
                ("crm", scim_source(scim.attributes(json!({}))), "groups", &group),
                ("dir", ldap_source(&slapd), "memberOf", slapd::STAFF),
                ("desk", desk, "groups", "badge"),
            ],
        )
        .await;
        let trigger = json!({"type": "EVENT", "attributes": {"id": "idn:post-provisioning"}});
        let document = json!({"name": "After provisioning", "trigger": trigger,
                              "definition": {"start": "Done", "steps": {"Done": {"type": "success"}}}});
        insert_workflow(&w.store, "after", document).await;
        let ada = w.hire_ada().await;
        w.provision().await;

        // The SCIM user, created from the create policy, and in the group.
        let users = scim_users(&scim, "ada").await;
        assert_eq!(users.len(), 1, "{name}: {users:?}");
        let user_id = users[0]["id"].as_str().unwrap().to_owned();
        assert_eq!(users[0]["displayName"], "Ada Lovelace", "{name}");
        assert_eq!(scim.members(&group).await, vec![user_id.clone()], "{name}");
        // The LDAP entry, in the group.
        assert_eq!(slapd.values(ADA_DN, "mail").await, Some(vec!["ada@example.org".to_owned()]), "{name}");
        let members = slapd.values(slapd::STAFF, "member").await.unwrap();
        assert!(members.iter().any(|m| m == ADA_DN), "{name}: {members:?}");
        // Tessera's own records of both accounts, and the person's work item.
        assert_eq!(w.accounts_on(&ada, "crm").await, vec![user_id.clone()], "{name}");
        assert_eq!(w.accounts_on(&ada, "dir").await, vec![ADA_DN.to_owned()], "{name}");
        let mut tx = w.store.begin().await.unwrap();
        let items = tx.work_items(Some(tessera_model::WorkStatus::Pending), None, 10, 0).await.unwrap();
        drop(tx);
        assert_eq!(items.len(), 1, "{name}");
        assert_eq!(items[0].assignee.as_deref(), Some("GOVERNANCE_GROUP:wg-it"), "{name}");

        // One Provisioning Completed carries the three results.
        let completed = w.completed().await;
        assert_eq!(completed.len(), 1, "{name}: {completed:?}");
        let event = &completed[0];
        assert_eq!(event["recipient"]["id"], ada.as_str(), "{name}");
        let crm = request_on(event, "CRM");
        assert_eq!(crm["provisioningResult"], "SUCCESS", "{name}: {crm}");
        assert_eq!(crm["accountId"], user_id.as_str(), "{name}");
        assert_eq!(crm["accountOperation"], "Create", "{name}");
        let sent: Vec<(&str, &str)> = crm["attributeRequests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| (a["attributeName"].as_str().unwrap(), a["operation"].as_str().unwrap()))
            .collect();
        assert_eq!(sent, [("userName", "Set"), ("displayName", "Set"), ("email", "Set"), ("groups", "Add")], "{name}");
        let dir = request_on(event, "Directory");
        assert_eq!((&dir["provisioningResult"], &dir["accountId"]), (&json!("SUCCESS"), &json!(ADA_DN)), "{name}");
        let manual = request_on(event, "Service Desk");
        assert_eq!(manual["provisioningResult"], "PENDING", "{name}");
        assert_eq!(manual["ticketId"], items[0].id.as_str(), "{name}");
        assert_eq!(event["errors"], json!([]), "{name}");

        // The workflow listening for it runs to the end with the event as its input.
        while w.governance.engine().dispatch_events().await.unwrap() > 0 {}
        while w.governance.engine().run_due().await.unwrap() > 0 {}
        let mut tx = w.store.begin().await.unwrap();
        let (runs, _) = tx.list_executions("after", 10, 0).await.unwrap();
        assert_eq!(runs.len(), 1, "{name}");
        assert_eq!(runs[0].status, tessera_model::ExecutionStatus::Completed, "{name}");
        assert_eq!(runs[0].input["trackingNumber"], event["trackingNumber"], "{name}");
        drop(tx);

        // Nothing is carried out again: no second user, no second event.
        w.later(3600).await;
        assert_eq!(scim_users(&scim, "ada").await.len(), 1, "{name}");
        assert!(
            w.plans(&ada).await.iter().all(|p| p.attempt == 0 || p.status != tessera_model::PlanStatus::Queued),
            "{name}"
        );
    }
}

#[tokio::test]
async fn a_stopped_scim_server_is_retried_with_back_off_and_then_fails_definitely() {
    for (name, store) in stores().await {
        let mut scim = ScimServer::start();
        let group = scim.create_group("engineers").await;
        let attributes = scim.attributes(json!({"timeoutSeconds": 2}));
        scim.stop();
        let retry = RetryPolicy::doubling(3, Duration::from_secs(10), Duration::from_secs(60));
        let w = world(store, retry, &[("crm", scim_source(attributes), "groups", &group)]).await;
        let ada = w.hire_ada().await;

        w.provision().await;
        let plan = w.plan_on(&ada, "crm").await;
        assert_eq!((plan.status.as_str(), plan.attempt), ("QUEUED", 1), "{name}: put back after the first failure");
        let error = plan.result.as_ref().unwrap()["errors"][0].as_str().unwrap().to_owned();
        assert!(error.contains("attempt 1 of 3"), "{name}: {error}");
        // Not before its delay.
        w.later(5).await;
        assert_eq!(w.plan_on(&ada, "crm").await.attempt, 1, "{name}");
        w.later(6).await;
        assert_eq!(w.plan_on(&ada, "crm").await.attempt, 2, "{name}: the second delay is longer");
        w.later(15).await;
        assert_eq!(w.plan_on(&ada, "crm").await.attempt, 2, "{name}");
        w.later(10).await;
        let plan = w.plan_on(&ada, "crm").await;
        assert_eq!(plan.status, tessera_model::PlanStatus::Failed, "{name}");
        let completed = w.completed().await;
        assert_eq!(completed.len(), 1, "{name}");
        let crm = request_on(&completed[0], "CRM");
        assert_eq!(crm["provisioningResult"], "FAILED", "{name}");
        let errors = completed[0]["errors"].as_array().unwrap();
        assert!(errors[0].as_str().unwrap().contains("attempt 3 of 3"), "{name}: {errors:?}");
        assert!(!errors[0].as_str().unwrap().contains(scim.token()), "{name}: no secret in the error");
        assert!(w.accounts_on(&ada, "crm").await.is_empty(), "{name}");
    }
}

#[tokio::test]
async fn a_scim_server_answering_500_is_retried_until_it_recovers_and_the_user_is_created_once() {
    for (name, store) in stores().await {
        let scim = ScimServer::start();
        let group = scim.create_group("engineers").await;
        let failures = Arc::new(AtomicUsize::new(2));
        let proxy = Proxy::start(scim.base_url(), failures.clone(), Duration::ZERO).await;
        let attributes = scim.attributes(json!({"baseUrl": proxy.base_url()}));
        let retry = RetryPolicy::doubling(5, Duration::from_secs(1), Duration::from_secs(1));
        let w = world(store, retry, &[("crm", scim_source(attributes), "groups", &group)]).await;
        let ada = w.hire_ada().await;
        w.provision().await;
        assert_eq!(w.plan_on(&ada, "crm").await.attempt, 1, "{name}");
        w.later(2).await;
        w.later(2).await;
        let plan = w.plan_on(&ada, "crm").await;
        assert_eq!((plan.status.as_str(), plan.attempt), ("SUCCESS", 2), "{name}: {:?}", plan.result);
        assert_eq!(scim_users(&scim, "ada").await.len(), 1, "{name}");
        let completed = w.completed().await;
        assert_eq!(completed.len(), 1, "{name}");
        assert_eq!(request_on(&completed[0], "CRM")["provisioningResult"], "SUCCESS", "{name}");
    }
}

#[tokio::test]
async fn a_scim_answer_too_slow_to_wait_for_is_retried_and_the_user_is_not_created_twice() {
    for (name, store) in stores().await {
        let scim = ScimServer::start();
        let group = scim.create_group("engineers").await;
        // The first request reaches the server, which creates the user, but its answer comes too late.
        let proxy = Proxy::start(scim.base_url(), Arc::new(AtomicUsize::new(0)), Duration::from_secs(3)).await;
        proxy.slow_requests(1);
        let attributes = scim.attributes(json!({"baseUrl": proxy.base_url(), "timeoutSeconds": 1}));
        let retry = RetryPolicy::doubling(3, Duration::from_secs(1), Duration::from_secs(1));
        let w = world(store, retry, &[("crm", scim_source(attributes), "groups", &group)]).await;
        let ada = w.hire_ada().await;
        w.provision().await;
        let plan = w.plan_on(&ada, "crm").await;
        assert_eq!((plan.status.as_str(), plan.attempt), ("QUEUED", 1), "{name}: {:?}", plan.result);
        // Let the slow answer arrive (and be dropped) before the retry.
        tokio::time::sleep(Duration::from_secs(3)).await;
        w.later(2).await;
        let plan = w.plan_on(&ada, "crm").await;
        assert_eq!(plan.status, tessera_model::PlanStatus::Success, "{name}: {:?}", plan.result);
        let users = scim_users(&scim, "ada").await;
        assert_eq!(users.len(), 1, "{name}: created once");
        assert_eq!(plan.result.as_ref().unwrap()["accountId"], users[0]["id"], "{name}");
        assert_eq!(scim.members(&group).await.len(), 1, "{name}");
    }
}

#[tokio::test]
async fn a_stopped_slapd_is_retried_and_the_entry_is_made_once_it_is_back() {
    for (name, store) in stores().await {
        let mut slapd = Slapd::start().await;
        let retry = RetryPolicy::doubling(4, Duration::from_secs(1), Duration::from_secs(1));
        let w = world(store, retry, &[("dir", ldap_source(&slapd), "memberOf", slapd::STAFF)]).await;
        let ada = w.hire_ada().await;
        slapd.stop();
        w.provision().await;
        let plan = w.plan_on(&ada, "dir").await;
        assert_eq!((plan.status.as_str(), plan.attempt), ("QUEUED", 1), "{name}: {:?}", plan.result);
        slapd.restart();
        w.later(2).await;
        let plan = w.plan_on(&ada, "dir").await;
        assert_eq!(plan.status, tessera_model::PlanStatus::Success, "{name}: {:?}", plan.result);
        assert!(slapd.values(ADA_DN, "uid").await.is_some(), "{name}");
        let members = slapd.values(slapd::STAFF, "member").await.unwrap();
        assert_eq!(members.iter().filter(|m| *m == ADA_DN).count(), 1, "{name}");
        assert_eq!(w.accounts_on(&ada, "dir").await, vec![ADA_DN.to_owned()], "{name}");
        assert_eq!(w.completed().await.len(), 1, "{name}");
    }
}

#[tokio::test]
async fn a_create_policy_that_computes_nothing_fails_the_request_with_the_field_named() {
    for (name, store) in stores().await {
        let scim = ScimServer::start();
        let group = scim.create_group("engineers").await;
        let mut source = scim_source(scim.attributes(json!({})));
        source["provisioningPolicies"][0]["fields"][0]["transform"]["attributes"]["name"] = json!("badgeNumber");
        let w = world(store, default_retry(), &[("crm", source, "groups", &group)]).await;
        let ada = w.hire_ada().await;
        w.provision().await;
        let plan = w.plan_on(&ada, "crm").await;
        assert_eq!(plan.status, tessera_model::PlanStatus::Failed, "{name}");
        let error = plan.result.as_ref().unwrap()["errors"][0].as_str().unwrap().to_owned();
        assert!(error.contains("userName") && error.contains("computed to nothing"), "{name}: {error}");
        assert!(scim_users(&scim, "ada").await.is_empty(), "{name}");
    }
}

#[tokio::test]
async fn a_password_change_reaches_ldap_sealed_all_the_way() {
    for (name, store) in stores().await {
        let slapd = Slapd::start().await;
        let w = world(store, default_retry(), &[("dir", ldap_source(&slapd), "memberOf", slapd::STAFF)]).await;
        let ada = w.hire_ada().await;
        w.provision().await;
        assert_eq!(w.plan_on(&ada, "dir").await.status, tessera_model::PlanStatus::Success, "{name}");

        let password = "correct-horse-battery-staple";
        let request = ExplicitRequest {
            source: "Directory".into(),
            operation: "Password".into(),
            attribute_requests: Vec::new(),
            password: Some(password.into()),
        };
        w.governance.provision(&ada, &[request], None, None).await.unwrap();
        let mut tx = w.store.begin().await.unwrap();
        let stored = tx.plans(Some(&ada), 10, 0).await.unwrap();
        drop(tx);
        assert!(stored.iter().all(|p| !p.document.to_string().contains(password)), "{name}: the plan holds it sealed");
        w.provision().await;
        let change = w.plans(&ada).await.into_iter().find(|p| p.operation == "Password").unwrap();
        assert_eq!(change.status, tessera_model::PlanStatus::Success, "{name}: {:?}", change.result);
        assert!(slapd.bind(ADA_DN, password).await.is_ok(), "{name}: the new password binds");
        let events = w.completed().await;
        assert!(events.iter().all(|e| !e.to_string().contains(password)), "{name}: no event carries it");

        // A Password request without one, or with one where none belongs, is refused.
        let bare = ExplicitRequest { password: None, ..change_request("Password") };
        let error = w.governance.provision(&ada, &[bare], None, None).await.unwrap_err().to_string();
        assert!(error.contains("needs a `password`"), "{name}: {error}");
        let misplaced = ExplicitRequest { password: Some("x".into()), ..change_request("Disable") };
        let error = w.governance.provision(&ada, &[misplaced], None, None).await.unwrap_err().to_string();
        assert!(error.contains("takes no `password`"), "{name}: {error}");
    }
}

fn change_request(operation: &str) -> ExplicitRequest {
    ExplicitRequest {
        source: "dir".into(),
        operation: operation.into(),
        attribute_requests: Vec::new(),
        password: None,
    }
}
