//! The actions that change access, run by the governance on both databases: `sp:access:manage` grants
//! roles and access profiles as one tracking group per identity (announced with action `Workflow`),
//! revokes them without taking away what another grant still carries, schedules temporary access's
//! end (`removeDuration`) and future access's start (`startDate`); `sp:manage-account` and
//! `tessera:provision` queue account requests; bad input fails the step saying why.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{Value, json};
use tessera_engine::{Engine, EngineConfig};
use tessera_governance::{AggregateOptions, ImportDirs};
use tessera_governance::{Governance, GovernanceConfig};
use tessera_model::{ManualClock, Timestamp};
use tessera_store::testing::stores;
use tessera_store::{
    AccessStore, CatalogKind, CatalogStore, ChangeStore, ExecutionRecord, ExecutionStore, IdentityStore, PlanRecord,
    ProvisioningStore, QueueStore, Store,
};

mod fixtures;
use fixtures::{attribute, insert_workflow, object};

struct World {
    store: Store,
    clock: Arc<ManualClock>,
    governance: Arc<Governance>,
    dir: PathBuf,
}

impl Drop for World {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

/// HR with Ada and Alan, and a manual Service Desk source with VPN and wiki entitlements: access
/// profiles `ap-vpn` and `ap-both` (VPN and wiki), and a requestable role `r-remote` (VPN).
async fn world(store: Store) -> World {
    let dir = std::env::temp_dir().join(format!("tessera-access-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let hr = dir.join("hr.csv");
    std::fs::write(&hr, "id,name,department\ne1,Ada Lovelace,engineering\ne2,Alan Turing,sales\n").unwrap();
    let objects = [
        object(
            CatalogKind::Source,
            "hr",
            "HR",
            "",
            json!({"name": "HR", "connector": "delimited-file", "authoritative": true,
                   "connectorAttributes": {"file": hr.display().to_string(), "identityAttribute": "id"}}),
        ),
        object(
            CatalogKind::IdentityProfile,
            "profile",
            "Staff",
            "hr",
            json!({"name": "Staff", "identityAttributeConfig": {"enabled": true, "attributeTransforms": [
                {"identityAttributeName": "uid", "transformDefinition": attribute("id")},
                {"identityAttributeName": "displayName", "transformDefinition": attribute("name")},
                {"identityAttributeName": "department", "transformDefinition": attribute("department")}
            ]}}),
        ),
        object(CatalogKind::Source, "desk", "Service Desk", "", json!({"name": "Service Desk", "connector": "manual"})),
        object(
            CatalogKind::Entitlement,
            "e-vpn",
            "groups=vpn",
            "desk",
            json!({"name": "VPN", "attribute": "groups", "value": "vpn"}),
        ),
        object(
            CatalogKind::Entitlement,
            "e-wiki",
            "groups=wiki",
            "desk",
            json!({"name": "Wiki", "attribute": "groups", "value": "wiki"}),
        ),
        object(
            CatalogKind::AccessProfile,
            "ap-both",
            "VPN and wiki",
            "desk",
            json!({"name": "VPN and wiki", "entitlements": [{"id": "e-vpn"}, {"id": "e-wiki"}]}),
        ),
        object(
            CatalogKind::AccessProfile,
            "ap-vpn",
            "VPN",
            "desk",
            json!({"name": "VPN", "entitlements": [{"id": "e-vpn"}]}),
        ),
        object(
            CatalogKind::Role,
            "r-remote",
            "Remote",
            "",
            json!({"name": "Remote", "accessProfiles": [{"id": "ap-vpn"}]}),
        ),
    ];
    let mut tx = store.begin().await.unwrap();
    for o in &objects {
        tx.insert_object(o).await.unwrap();
    }
    tx.commit().await.unwrap();
    let clock = Arc::new(ManualClock::new("2026-04-01T08:00:00Z".parse().unwrap()));
    let config = GovernanceConfig { imports: ImportDirs::new([dir.clone()]), ..GovernanceConfig::default() };
    let governance =
        Governance::new(Engine::new(store.clone(), clock.clone(), EngineConfig::default()), config).unwrap();
    governance.run_aggregation("HR", AggregateOptions::default()).await.unwrap();
    World { store, clock, governance, dir }
}

impl World {
    async fn id_of(&self, uid: &str) -> String {
        let mut tx = self.store.begin().await.unwrap();
        tx.identity_by_key(uid).await.unwrap().unwrap().id.into()
    }

    /// Runs a one-step workflow calling `action` with `attributes` — each read from the execution's
    /// input (`name.$`), as workflows pass values they computed; returns the execution and the step's
    /// output.
    async fn act(&self, action: &str, attributes: Value) -> (ExecutionRecord, Value) {
        let id = format!("w-{}", uuid::Uuid::new_v4().simple());
        let paths: serde_json::Map<String, Value> = attributes
            .as_object()
            .unwrap()
            .keys()
            .map(|key| (format!("{key}.$"), json!(format!("$.trigger.{key}"))))
            .collect();
        let document = json!({"name": id, "definition": {"start": "Act", "steps": {
            "Act": {"type": "action", "actionId": action, "attributes": paths, "nextStep": "Done"},
            "Done": {"type": "success"}
        }}});
        let workflow = insert_workflow(&self.store, &id, document).await;
        let mut tx = self.store.begin().await.unwrap();
        let execution = self.governance.engine().start(&mut tx, &workflow, attributes, None).await.unwrap();
        tx.commit().await.unwrap();
        while self.governance.engine().run_due().await.unwrap() > 0 {}
        let mut tx = self.store.begin().await.unwrap();
        let execution = tx.execution(&execution).await.unwrap().unwrap();
        let run: tessera_flow::interp::Run = serde_json::from_value(execution.state.clone()).unwrap();
        let output = run.document()["act"].clone();
        (execution, output)
    }

    async fn held(&self, identity: &str) -> Vec<(String, String, String)> {
        let mut tx = self.store.begin().await.unwrap();
        let mut held: Vec<(String, String, String)> = tx
            .access_of(&[identity.to_owned()])
            .await
            .unwrap()
            .into_iter()
            .map(|g| (g.kind, g.object_id, g.origin))
            .collect();
        held.sort();
        held
    }

    /// The identity's queued plans: (operation, [(attribute operation, value)]).
    async fn queued(&self, identity: &str) -> Vec<(String, Vec<(String, String)>)> {
        let mut tx = self.store.begin().await.unwrap();
        let plans: Vec<PlanRecord> = tx.plans(Some(identity), 100, 0).await.unwrap();
        let mut out: Vec<(String, Vec<(String, String)>)> = plans
            .into_iter()
            .filter(|p| p.status == tessera_model::PlanStatus::Queued && p.source_id == "desk")
            .map(|p| {
                let mut requests: Vec<(String, String)> = p.document["accountRequest"]["attributeRequests"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| (r["operation"].as_str().unwrap().to_owned(), r["value"].as_str().unwrap().to_owned()))
                    .collect();
                requests.sort();
                (p.operation, requests)
            })
            .collect();
        out.sort();
        out
    }

    /// Carries out every due plan (the desk's become work items), and completes the work items as the
    /// desk would; returns the Provisioning Completed events.
    async fn provision(&self) -> Vec<Value> {
        while self.governance.run_provisioning().await.unwrap() > 0 {}
        let mut tx = self.store.begin().await.unwrap();
        let items = tx.work_items(Some(tessera_model::WorkStatus::Pending), None, 100, 0).await.unwrap();
        drop(tx);
        for item in items {
            let account = format!("desk-{}", item.identity_id);
            self.governance.complete_work_item(&item.id, true, "desk", None, Some(&account)).await.unwrap();
        }
        let mut tx = self.store.begin().await.unwrap();
        let events = tx.lock_undispatched(1000).await.unwrap();
        for (id, _, _) in &events {
            tx.mark_dispatched(id, Timestamp::UNIX_EPOCH).await.unwrap();
        }
        tx.commit().await.unwrap();
        events.into_iter().filter(|(_, topic, _)| topic == "idn:post-provisioning").map(|(_, _, p)| p).collect()
    }

    async fn later(&self, hours: i64) {
        self.clock.advance_to(self.governance.now() + chrono::Duration::hours(hours));
        self.governance.run_scheduled_access().await.unwrap();
    }
}

fn strings(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(a, b)| ((*a).to_owned(), (*b).to_owned())).collect()
}

#[tokio::test]
async fn manage_access_grants_and_revokes_as_one_group_per_identity() {
    for (name, store) in stores().await {
        let w = world(store).await;
        let (ada, alan) = (w.id_of("e1").await, w.id_of("e2").await);
        w.provision().await;

        let (execution, output) = w
            .act(
                "sp:access:manage",
                json!({"requestType": "GRANT_ACCESS", "addIdentities": [ada, alan], "comments": "project kick-off",
                       "requestedItems": [{"id": "r-remote", "type": "ROLE"}, {"id": "ap-both", "type": "ACCESS_PROFILE"}]}),
            )
            .await;
        assert_eq!(execution.status, tessera_model::ExecutionStatus::Completed, "{name}: {:?}", execution.error);
        assert_eq!(output["granted"], 4, "{name}: {output}");
        assert_eq!(output["trackingNumbers"].as_array().unwrap().len(), 2, "{name}");
        let expected = vec![
            ("ACCESS_PROFILE".to_owned(), "ap-both".to_owned(), "REQUEST".to_owned()),
            ("ROLE".to_owned(), "r-remote".to_owned(), "REQUEST".to_owned()),
        ];
        assert_eq!(w.held(&ada).await, expected, "{name}");
        // One Create per identity, the VPN asked for once though two grants carry it.
        let create = ("Create".to_owned(), strings(&[("Add", "vpn"), ("Add", "wiki")]));
        assert_eq!(w.queued(&ada).await, vec![create.clone()], "{name}");
        assert_eq!(w.queued(&alan).await, vec![create], "{name}");
        let completed = w.provision().await;
        assert_eq!(completed.len(), 2, "{name}");
        assert!(completed.iter().all(|e| e["action"] == "Workflow"), "{name}: {completed:?}");

        // Granting what is held changes nothing.
        let (_, output) = w
            .act(
                "sp:access:manage",
                json!({"requestType": "GRANT_ACCESS", "addIdentities": ada, "requestedItems": {"id": "r-remote", "type": "ROLE"}}),
            )
            .await;
        assert_eq!((output["granted"].as_u64(), output["skipped"].as_array().unwrap().len()), (Some(0), 1), "{name}");

        // Revoking the access profile removes the wiki only: the role still carries the VPN.
        let (execution, output) = w
            .act(
                "sp:access:manage",
                json!({"requestType": "REVOKE_ACCESS", "removeIdentity": ada,
                       "requestedItems": [{"id": "ap-both", "type": "ACCESS_PROFILE"}]}),
            )
            .await;
        assert_eq!(execution.status, tessera_model::ExecutionStatus::Completed, "{name}: {:?}", execution.error);
        assert_eq!(output["revoked"], 1, "{name}");
        assert_eq!(w.held(&ada).await.len(), 1, "{name}");
        let queued = w.queued(&ada).await;
        assert_eq!(queued.len(), 1, "{name}: {queued:?}");
        assert_eq!(queued[0].1, strings(&[("Remove", "wiki")]), "{name}");

        // Bad input fails the step, saying why, and changes nothing.
        for (attributes, says) in [
            (
                json!({"requestType": "GRANT_ACCESS", "addIdentities": ada, "requestedItems": [{"id": "nope", "type": "ROLE"}]}),
                "role nope not found",
            ),
            (
                json!({"requestType": "GRANT_ACCESS", "addIdentities": "ghost", "requestedItems": [{"id": "r-remote", "type": "ROLE"}]}),
                "identity ghost not found",
            ),
            (
                json!({"requestType": "GRANT_ACCESS", "addIdentities": ada, "requestedItems": [{"id": "r-remote"}]}),
                "needs an `id` and a `type`",
            ),
            (
                json!({"requestType": "GRANT_ACCESS", "addIdentities": ada, "requestedItems": [{"id": "r-remote", "type": "APP"}]}),
                "not an access type",
            ),
            (
                json!({"requestType": "REVOKE_ACCESS", "removeIdentity": ada, "removeDuration": "2d", "requestedItems": [{"id": "r-remote", "type": "ROLE"}]}),
                "GRANT_ACCESS only",
            ),
            (
                json!({"requestType": "GRANT_ACCESS", "addIdentities": ada, "removeDuration": "soon", "requestedItems": [{"id": "r-remote", "type": "ROLE"}]}),
                "removeDuration",
            ),
        ] {
            let (execution, _) = w.act("sp:access:manage", attributes.clone()).await;
            assert_eq!(execution.status, tessera_model::ExecutionStatus::Failed, "{name}: {attributes}");
            let error = execution.error.clone().unwrap_or_default().to_string();
            assert!(error.contains(says), "{name}: `{error}` should say `{says}`");
        }
        assert_eq!(w.held(&ada).await.len(), 1, "{name}");
    }
}

#[tokio::test]
async fn temporary_access_ends_on_time_and_future_access_starts_on_time() {
    for (name, store) in stores().await {
        let w = world(store).await;
        let ada = w.id_of("e1").await;
        w.provision().await;
        let (execution, output) = w
            .act(
                "sp:access:manage",
                json!({"requestType": "GRANT_ACCESS", "addIdentities": [ada], "removeDuration": "2d",
                       "requestedItems": [{"id": "r-remote", "type": "ROLE"}]}),
            )
            .await;
        assert_eq!(execution.status, tessera_model::ExecutionStatus::Completed, "{name}: {:?}", execution.error);
        assert_eq!(output["removeDate"], "2026-04-03T08:00:00.000Z", "{name}: {output}");
        let (execution, _) = w
            .act(
                "sp:access:manage",
                json!({"requestType": "GRANT_ACCESS", "addIdentities": [ada], "startDate": "2026-04-02T08:00:00Z",
                       "removeDuration": 3, "requestedItems": [{"id": "e-wiki", "type": "ENTITLEMENT"}]}),
            )
            .await;
        assert_eq!(execution.status, tessera_model::ExecutionStatus::Completed, "{name}: {:?}", execution.error);
        assert_eq!(w.held(&ada).await.len(), 1, "{name}: the wiki waits for its start");
        let mut tx = w.store.begin().await.unwrap();
        let scheduled = tx.scheduled_access_of(&ada).await.unwrap();
        drop(tx);
        let changes: Vec<(&str, &str)> = scheduled.iter().map(|s| (s.change.as_str(), s.object_id.as_str())).collect();
        assert_eq!(changes, [("GRANT", "e-wiki"), ("REVOKE", "r-remote"), ("REVOKE", "e-wiki")], "{name}");
        w.provision().await;

        w.later(23).await;
        assert_eq!(w.held(&ada).await.len(), 1, "{name}");
        w.later(2).await;
        assert_eq!(w.held(&ada).await.len(), 2, "{name}: the wiki started after a day");
        // The desk completed the role's account request, so the wiki is added to that account.
        assert_eq!(w.queued(&ada).await, vec![("Modify".to_owned(), strings(&[("Add", "wiki")]))], "{name}");
        w.provision().await;
        w.later(24).await;
        let held = w.held(&ada).await;
        assert_eq!(held, vec![("ENTITLEMENT".into(), "e-wiki".into(), "REQUEST".into())], "{name}: the role ended");
        w.later(72).await;
        assert!(w.held(&ada).await.is_empty(), "{name}: the wiki ended three days after it started");
    }
}

#[tokio::test]
async fn manage_account_and_provision_queue_account_requests_and_refuse_bad_input() {
    for (name, store) in stores().await {
        let w = world(store).await;
        let (ada, alan) = (w.id_of("e1").await, w.id_of("e2").await);
        w.provision().await;
        let mut tx = w.store.begin().await.unwrap();
        let hr_account = tx.accounts_of(std::slice::from_ref(&ada)).await.unwrap().remove(0);
        drop(tx);

        let (execution, output) =
            w.act("sp:manage-account", json!({"operation": "disable", "accountIds": hr_account.id})).await;
        assert_eq!(execution.status, tessera_model::ExecutionStatus::Completed, "{name}: {:?}", execution.error);
        assert_eq!(output["trackingNumbers"].as_array().unwrap().len(), 1, "{name}");
        let mut tx = w.store.begin().await.unwrap();
        let plans = tx.plans(Some(&ada), 10, 0).await.unwrap();
        drop(tx);
        assert!(plans.iter().any(|p| p.operation == "Disable" && p.source_id == "hr"), "{name}");

        let (execution, output) = w
            .act(
                "tessera:provision",
                json!({"identityId": ada, "accountRequests": [{"source": "Service Desk", "operation": "Create",
                       "attributeRequests": [{"name": "groups", "operation": "Add", "value": "printers"}]}]}),
            )
            .await;
        assert_eq!(execution.status, tessera_model::ExecutionStatus::Completed, "{name}: {:?}", execution.error);
        assert!(output["trackingNumber"].as_str().is_some_and(|n| !n.is_empty()), "{name}: {output}");
        assert_eq!(w.queued(&ada).await, vec![("Create".to_owned(), strings(&[("Add", "printers")]))], "{name}");
        let completed = w.provision().await;
        let request = &completed.iter().find(|e| e["sources"] == "Service Desk").unwrap()["accountRequests"][0];
        assert_eq!(request["provisioningResult"], "PENDING", "{name}");

        for (action, attributes, says) in [
            ("sp:manage-account", json!({"operation": "disable", "accountIds": ["nope"]}), "account nope not found"),
            (
                "sp:manage-account",
                json!({"operation": "explode", "accountIds": [hr_account.id]}),
                "not an account operation",
            ),
            (
                "tessera:provision",
                json!({"identityId": ada, "accountRequests": [{"source": "Nowhere", "operation": "Create"}]}),
                "source `Nowhere`",
            ),
            (
                "tessera:provision",
                json!({"identityId": ada, "accountRequests": [{"source": "desk", "operation": "Teleport"}]}),
                "is not one of",
            ),
            (
                "tessera:provision",
                json!({"identityId": alan, "accountRequests": [{"source": "desk", "operation": "Disable"}]}),
                "has no account",
            ),
            ("tessera:provision", json!({"identityId": ada, "accountRequests": []}), "no account request"),
        ] {
            let (execution, output) = w.act(action, attributes.clone()).await;
            assert_eq!(execution.status, tessera_model::ExecutionStatus::Failed, "{name}: {attributes} gave {output}");
            let error = execution.error.clone().unwrap_or_default().to_string();
            assert!(error.contains(says), "{name}: `{error}` should say `{says}`");
        }
    }
}

#[tokio::test]
async fn deleting_a_role_or_access_profile_takes_its_access_away_from_everyone() {
    for (name, store) in stores().await {
        let w = world(store).await;
        let (ada, alan) = (w.id_of("e1").await, w.id_of("e2").await);
        let (execution, _) = w
            .act(
                "sp:access:manage",
                json!({"requestType": "GRANT_ACCESS", "addIdentities": [ada, alan],
                       "requestedItems": [{"id": "r-remote", "type": "ROLE"}, {"id": "ap-both", "type": "ACCESS_PROFILE"}]}),
            )
            .await;
        assert_eq!(execution.status, tessera_model::ExecutionStatus::Completed, "{name}: {:?}", execution.error);
        w.provision().await;

        // The role goes: nothing to remove, the access profile still carries the VPN.
        let mut tx = w.store.begin().await.unwrap();
        assert_eq!(w.governance.revoke_from_holders(&mut tx, "ROLE", "r-remote").await.unwrap(), 2, "{name}");
        tx.commit().await.unwrap();
        assert!(w.queued(&ada).await.is_empty(), "{name}");
        assert_eq!(w.held(&ada).await.len(), 1, "{name}");
        // The access profile goes: both entitlements are removed, for both holders.
        let mut tx = w.store.begin().await.unwrap();
        w.governance.revoke_from_holders(&mut tx, "ACCESS_PROFILE", "ap-both").await.unwrap();
        tx.commit().await.unwrap();
        for who in [&ada, &alan] {
            assert!(w.held(who).await.is_empty(), "{name}");
            assert_eq!(
                w.queued(who).await,
                vec![("Modify".to_owned(), strings(&[("Remove", "vpn"), ("Remove", "wiki")]))],
                "{name}"
            );
        }
    }
}
