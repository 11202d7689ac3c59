//! The identity actions run by the governance on both databases, over an aggregated world: `sp:get-identity`,
//! `sp:get-identities` (by search query and by attribute), `sp:get-accounts` (of an identity and by
//! filter) and `sp:access:get` (an identity's access and a catalogue search) return ISC's shapes that
//! later steps read; an unknown identity and an unsupported query fail the execution saying why.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Value, json};
use tessera_engine::{Engine, EngineConfig};
use tessera_governance::{AggregateOptions, ImportDirs};
use tessera_governance::{Governance, GovernanceConfig};
use tessera_model::ManualClock;
use tessera_store::testing::stores;
use tessera_store::{CatalogKind, CatalogStore, ExecutionRecord, ExecutionStore, IdentityStore, Store, WorkflowRecord};

mod fixtures;
use fixtures::{attribute, insert_workflow, object};

/// An authoritative HR source with its profile and lifecycle states, a directory whose accounts
/// correlate by email, an access profile granted by the active state and a birthright role.
async fn catalog(store: &Store, hr: &Path, directory: &Path) {
    let objects = [
        object(
            CatalogKind::Source,
            "hr",
            "HR",
            "",
            json!({"name": "HR", "connector": "delimited-file", "authoritative": true,
                   "connectorAttributes": {"file": hr.display().to_string(), "identityAttribute": "id", "managerAttribute": "manager"}}),
        ),
        object(
            CatalogKind::Source,
            "dir",
            "Directory",
            "",
            json!({"name": "Directory", "connector": "delimited-file", "authoritative": false,
                   "correlation": [{"identityAttribute": "email", "accountAttribute": "mail"}],
                   "connectorAttributes": {"file": directory.display().to_string(), "identityAttribute": "uid", "nameAttribute": "uid"}}),
        ),
        object(
            CatalogKind::Entitlement,
            "ent-staff",
            "memberOf=staff",
            "dir",
            json!({"name": "staff", "attribute": "memberOf", "value": "cn=staff"}),
        ),
        object(
            CatalogKind::Entitlement,
            "ent-eng",
            "memberOf=eng",
            "dir",
            json!({"name": "eng", "attribute": "memberOf", "value": "cn=eng"}),
        ),
        object(
            CatalogKind::AccessProfile,
            "ap-staff",
            "Staff",
            "dir",
            json!({"name": "Staff", "entitlements": [{"id": "ent-staff"}]}),
        ),
        object(
            CatalogKind::AccessProfile,
            "ap-eng",
            "Eng",
            "dir",
            json!({"name": "Eng", "entitlements": [{"id": "ent-eng"}]}),
        ),
        object(
            CatalogKind::Role,
            "role-eng",
            "Engineer",
            "",
            json!({"name": "Engineer", "accessProfiles": [{"id": "ap-eng"}],
                   "membership": {"type": "STANDARD", "criteria": {"operation": "EQUALS",
                       "key": {"type": "IDENTITY", "property": "attribute.department"}, "stringValue": "engineering"}}}),
        ),
        object(
            CatalogKind::IdentityProfile,
            "profile",
            "Staff",
            "hr",
            json!({"name": "Staff", "identityAttributeConfig": {"enabled": true, "attributeTransforms": [
                {"identityAttributeName": "uid", "transformDefinition": attribute("id")},
                {"identityAttributeName": "displayName", "transformDefinition": {"type": "concat", "attributes": {"values": [attribute("first"), " ", attribute("last")]}}},
                {"identityAttributeName": "email", "transformDefinition": {"type": "lower", "attributes": {"input": attribute("email")}}},
                {"identityAttributeName": "department", "transformDefinition": attribute("department")},
                {"identityAttributeName": "cloudLifecycleState", "transformDefinition": {"type": "lookup", "attributes": {
                    "input": attribute("status"), "table": {"A": "active", "T": "terminated", "default": "active"}}}}
            ]}}),
        ),
        object(
            CatalogKind::LifecycleState,
            "state-active",
            "active",
            "profile",
            json!({"name": "Active", "technicalName": "active", "identityState": "ACTIVE", "accessProfileIds": ["ap-staff"]}),
        ),
        object(
            CatalogKind::LifecycleState,
            "state-terminated",
            "terminated",
            "profile",
            json!({"name": "Terminated", "technicalName": "terminated", "identityState": "INACTIVE_LONG_TERM",
                   "accessActionConfiguration": {"removeAllAccessEnabled": true}}),
        ),
    ];
    let mut tx = store.begin().await.unwrap();
    for o in &objects {
        tx.insert_object(o).await.unwrap();
    }
    tx.commit().await.unwrap();
}

struct World {
    store: Store,
    governance: Arc<Governance>,
    dir: PathBuf,
}

/// Three people (Ada manages Alan and Grace) and a directory with Alan's account and one nobody owns.
async fn world(store: Store) -> World {
    let dir = std::env::temp_dir().join(format!("tessera-idact-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let (hr, directory) = (dir.join("hr.csv"), dir.join("directory.csv"));
    std::fs::write(
        &hr,
        "id,first,last,email,department,status,manager\n\
         e1,Ada,Lovelace,ADA@example.com,engineering,A,\n\
         e2,Alan,Turing,alan@example.com,engineering,A,e1\n\
         e3,Grace,Hopper,grace@example.com,sales,A,e1\n",
    )
    .unwrap();
    std::fs::write(&directory, "uid,mail\naturing,Alan@Example.com\nsvc-backup,backup@example.com\n").unwrap();
    catalog(&store, &hr, &directory).await;
    let clock = Arc::new(ManualClock::new("2026-01-01T00:00:00Z".parse().unwrap()));
    let config = GovernanceConfig { imports: ImportDirs::new([dir.clone()]), ..GovernanceConfig::default() };
    let governance =
        Governance::new(Engine::new(store.clone(), clock.clone(), EngineConfig::default()), config).unwrap();
    for source in ["HR", "Directory"] {
        let summary = governance.run_aggregation(source, AggregateOptions::default()).await.unwrap();
        assert_eq!(summary.status, tessera_model::AggregationStatus::Success, "{summary:?}");
    }
    World { store, governance, dir }
}

impl Drop for World {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

impl World {
    async fn id_of(&self, uid: &str) -> String {
        let mut tx = self.store.begin().await.unwrap();
        tx.identity_by_key(uid).await.unwrap().unwrap().id.into()
    }

    async fn workflow(&self, id: &str, start: &str, steps: Value) -> WorkflowRecord {
        let document = json!({"name": id, "definition": {"start": start, "steps": steps}});
        insert_workflow(&self.store, id, document).await
    }

    /// Starts an execution and drives the governance until it ends; returns it with its data document.
    async fn run(&self, workflow: &WorkflowRecord, input: Value) -> (ExecutionRecord, Value) {
        let mut tx = self.store.begin().await.unwrap();
        let id = self.governance.engine().start(&mut tx, workflow, input, None).await.unwrap();
        tx.commit().await.unwrap();
        for _ in 0..20 {
            if self.governance.engine().run_due().await.unwrap() == 0 {
                break;
            }
        }
        let mut tx = self.store.begin().await.unwrap();
        let execution = tx.execution(&id).await.unwrap().unwrap();
        assert_ne!(execution.status, tessera_model::ExecutionStatus::Running, "the execution ended");
        let run: tessera_flow::interp::Run = serde_json::from_value(execution.state.clone()).unwrap();
        let document = run.document().clone();
        (execution, document)
    }
}

fn sorted(values: impl IntoIterator<Item = Value>) -> Vec<String> {
    let mut list: Vec<String> = values.into_iter().map(|v| v.as_str().unwrap_or("<none>").to_owned()).collect();
    list.sort();
    list
}

fn field(list: &Value, key: &str, name: &str) -> Vec<String> {
    sorted(list[key].as_array().unwrap_or_else(|| panic!("no `{key}` list in {list}")).iter().map(|v| v[name].clone()))
}

#[tokio::test]
async fn identity_actions_read_the_aggregated_world() {
    for (kind, store) in stores().await {
        let w = world(store).await;
        let alan = w.id_of("e2").await;
        let ada = w.id_of("e1").await;
        let workflow = w
            .workflow(
                "w-reads",
                "Get Identity",
                json!({
                    "Get Identity": {"type": "action", "actionId": "sp:get-identity", "attributes": {"id.$": "$.trigger.id"}, "nextStep": "Get Engineers"},
                    "Get Engineers": {"type": "action", "actionId": "sp:get-identities", "nextStep": "Get By Email",
                                      "attributes": {"searchBy": "searchQuery", "inputQuery": "attributes.department:engineering"}},
                    "Get By Email": {"type": "action", "actionId": "sp:get-identities", "nextStep": "Get By Department",
                                     "attributes": {"searchBy": "attribute", "attribute": "email", "value": "grace@example.com"}},
                    "Get By Department": {"type": "action", "actionId": "sp:get-identities", "nextStep": "Get Accounts",
                                          "attributes": {"searchBy": "attribute", "attribute": "department", "value": "sales"}},
                    "Get Accounts": {"type": "action", "actionId": "sp:get-accounts", "nextStep": "Get Directory Accounts",
                                     "attributes": {"getAccountsBy": "specificIdentity", "identity.$": "$.trigger.id"}},
                    "Get Directory Accounts": {"type": "action", "actionId": "sp:get-accounts", "nextStep": "Get Roles",
                                               "attributes": {"getAccountsBy": "filters", "filterCriteria": "sourceId", "operator": "eq", "value": "dir"}},
                    "Get Roles": {"type": "action", "actionId": "sp:access:get", "nextStep": "Get Everything",
                                  "attributes": {"getAccessBy": "specificIdentity", "identityToReturn.$": "$.trigger.id",
                                                 "roles": true, "accessprofiles": false, "entitlements": false}},
                    "Get Everything": {"type": "action", "actionId": "sp:access:get", "nextStep": "Find Role",
                                       "attributes": {"getAccessBy": "specificIdentity", "identityToReturn.$": "$.trigger.id"}},
                    "Find Role": {"type": "action", "actionId": "sp:access:get", "nextStep": "Keep",
                                  "attributes": {"getAccessBy": "searchQuery", "query": "name.exact:\"Engineer\"",
                                                 "roles": true, "accessprofiles": true, "entitlements": true}},
                    "Keep": {"type": "Mutation", "nextStep": "Check", "attributes": {"id": "sp:define-variable", "variables": [
                        {"name": "Department", "variableA.$": "$.getIdentity.attributes.department"},
                        {"name": "Manager", "variableA.$": "$.getIdentity.managerRef.name"},
                        {"name": "Email", "variableA.$": "$.getIdentity.emailAddress"}]}},
                    "Check": {"type": "choice", "defaultStep": "Wrong", "choiceList": [
                        {"comparator": "StringEquals", "variableA.$": "$.getIdentity.managerRef.name", "variableB": "Ada Lovelace", "nextStep": "Done"}]},
                    "Done": {"type": "success"},
                    "Wrong": {"type": "failure", "failureName": "the manager's name was not read"}
                }),
            )
            .await;
        let (execution, doc) = w.run(&workflow, json!({"id": alan})).await;
        assert_eq!(execution.status, tessera_model::ExecutionStatus::Completed, "{kind}: {:?}", execution.error);

        // sp:get-identity: ISC's Identity, with the manager named.
        let identity = &doc["getIdentity"];
        assert_eq!(identity["id"], json!(alan), "{kind}");
        assert_eq!(identity["name"], "Alan Turing", "{kind}");
        assert_eq!(identity["managerRef"], json!({"type": "IDENTITY", "id": ada, "name": "Ada Lovelace"}), "{kind}");
        assert_eq!(identity["lifecycleState"]["stateName"], "active", "{kind}");
        assert_eq!(identity["isManager"], false, "{kind}");
        assert_eq!(
            doc["keep"],
            json!({"department": "engineering", "manager": "Ada Lovelace", "email": "alan@example.com"}),
            "{kind}: later steps read the action's output"
        );

        // sp:get-identities by search query and by attribute (a column and a computed attribute).
        assert_eq!(field(&doc["getEngineers"], "identities", "name"), ["Ada Lovelace", "Alan Turing"], "{kind}");
        let engineers = doc["getEngineers"]["identities"].as_array().unwrap();
        let ada_doc = engineers.iter().find(|i| i["name"] == "Ada Lovelace").unwrap();
        assert_eq!((&ada_doc["isManager"], &ada_doc["managerRef"]), (&json!(true), &Value::Null), "{kind}");
        assert_eq!(field(&doc["getByEmail"], "identities", "name"), ["Grace Hopper"], "{kind}");
        assert_eq!(field(&doc["getByDepartment"], "identities", "name"), ["Grace Hopper"], "{kind}");

        // sp:get-accounts: the identity's accounts on both sources; by filter, the directory's.
        assert_eq!(field(&doc["getAccounts"], "accounts", "sourceId"), ["dir", "hr"], "{kind}");
        let directory =
            doc["getAccounts"]["accounts"].as_array().unwrap().iter().find(|a| a["sourceId"] == "dir").unwrap();
        assert_eq!(
            (
                &directory["nativeIdentity"],
                &directory["sourceName"],
                &directory["identityId"],
                &directory["authoritative"]
            ),
            (&json!("aturing"), &json!("Directory"), &json!(alan), &json!(false)),
            "{kind}: {directory}"
        );
        assert_eq!(
            field(&doc["getDirectoryAccounts"], "accounts", "nativeIdentity"),
            ["aturing", "svc-backup"],
            "{kind}"
        );
        let orphan = doc["getDirectoryAccounts"]["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["nativeIdentity"] == "svc-backup")
            .unwrap();
        assert_eq!((&orphan["uncorrelated"], &orphan["identityId"]), (&json!(true), &Value::Null), "{kind}");

        // sp:access:get: only roles when asked so; everything by default; a catalogue search.
        let roles = doc["getRoles"]["accessItems"].as_array().unwrap();
        assert_eq!(roles.len(), 1, "{kind}: {roles:?}");
        assert_eq!(
            (&roles[0]["id"], &roles[0]["type"], &roles[0]["name"], &roles[0]["origin"]),
            (&json!("role-eng"), &json!("ROLE"), &json!("Engineer"), &json!("BIRTHRIGHT")),
            "{kind}"
        );
        assert_eq!(field(&doc["getEverything"], "accessItems", "id"), ["ap-staff", "role-eng"], "{kind}");
        let found = doc["findRole"]["accessItems"].as_array().unwrap();
        assert_eq!(found.len(), 1, "{kind}: only the role is named Engineer: {found:?}");
        assert_eq!((&found[0]["id"], &found[0]["type"]), (&json!("role-eng"), &json!("ROLE")), "{kind}");

        // Grace's manager is Ada too; Ada has none, so the choice sends her run to failure.
        let mut tx = w.store.begin().await.unwrap();
        let grace = tx.identity_by_key("e3").await.unwrap().unwrap();
        drop(tx);
        let (execution, doc) = w.run(&workflow, json!({"id": grace.id})).await;
        assert_eq!(
            execution.status,
            tessera_model::ExecutionStatus::Completed,
            "{kind}: Grace's manager is Ada too: {:?}",
            execution.error
        );
        assert_eq!(doc["getRoles"]["accessItems"], json!([]), "{kind}: a sales person holds no birthright role");
        let (execution, _) = w.run(&workflow, json!({"id": ada})).await;
        assert_eq!(
            (execution.status.as_str(), execution.error.as_deref()),
            ("Failed", Some("the manager's name was not read (at step `Wrong`)")),
            "{kind}: Ada has no manager"
        );
    }
}

#[tokio::test]
async fn an_unknown_identity_or_an_unsupported_query_fails_the_execution_saying_why() {
    for (kind, store) in stores().await {
        let w = world(store).await;
        let get = w
            .workflow(
                "w-get",
                "Get Identity",
                json!({
                    "Get Identity": {"type": "action", "actionId": "sp:get-identity", "attributes": {"id.$": "$.trigger.id"}, "nextStep": "Done"},
                    "Done": {"type": "success"}
                }),
            )
            .await;
        let (execution, _) = w.run(&get, json!({"id": "no-such-identity"})).await;
        assert_eq!(execution.status, tessera_model::ExecutionStatus::Failed, "{kind}");
        let error = execution.error.unwrap();
        assert!(
            error.contains("step `Get Identity`") && error.contains("`no-such-identity` not found"),
            "{kind}: {error}"
        );

        let search = w
            .workflow(
                "w-search",
                "Search",
                json!({
                    "Search": {"type": "action", "actionId": "sp:get-identities", "nextStep": "Done",
                               "attributes": {"searchBy": "searchQuery", "inputQuery.$": "$.trigger.query"}},
                    "Done": {"type": "success"}
                }),
            )
            .await;
        let (execution, _) = w.run(&search, json!({"query": "ada"})).await;
        assert_eq!(execution.status, tessera_model::ExecutionStatus::Failed, "{kind}");
        let error = execution.error.unwrap();
        assert!(
            error.contains("`inputQuery`") && error.contains("free-text search is not supported"),
            "{kind}: says what is wrong: {error}"
        );
        assert!(error.contains("supported are field:value"), "{kind}: and what is supported: {error}");
        let (execution, _) = w.run(&search, json!({"query": "phone:123"})).await;
        let error = execution.error.unwrap();
        assert!(error.contains("`phone` is not a field") && error.contains("attributes.<name>"), "{kind}: {error}");

        // A supported query still runs, and an empty answer is not a failure.
        let (execution, doc) = w.run(&search, json!({"query": "attributes.department:legal"})).await;
        assert_eq!(execution.status, tessera_model::ExecutionStatus::Completed, "{kind}: {:?}", execution.error);
        assert_eq!(doc["search"]["identities"], json!([]), "{kind}");
    }
}

#[tokio::test]
async fn the_identity_actions_work_on_a_world_aggregated_in_batches() {
    // Managers named in a later batch than their reports are resolved once every row is read.
    for (kind, store) in stores().await {
        let w = world(store).await;
        let options = AggregateOptions { batch_rows: 1, ..AggregateOptions::default() };
        std::fs::write(
            w.dir.join("hr.csv"),
            "id,first,last,email,department,status,manager\n\
             e2,Alan,Turing,alan@example.com,engineering,A,e4\n\
             e1,Ada,Lovelace,ADA@example.com,engineering,A,\n\
             e3,Grace,Hopper,grace@example.com,sales,A,e1\n\
             e4,Barbara,Liskov,barbara@example.com,engineering,A,e1\n",
        )
        .unwrap();
        let summary = w.governance.run_aggregation("HR", options).await.unwrap();
        assert_eq!((summary.changed, summary.added), (1, 1), "{kind}: {summary:?}");
        let workflow = w
            .workflow(
                "w-manager",
                "Get Identity",
                json!({
                    "Get Identity": {"type": "action", "actionId": "sp:get-identity", "attributes": {"id.$": "$.trigger.id"}, "nextStep": "Check"},
                    "Check": {"type": "choice", "defaultStep": "Wrong", "choiceList": [
                        {"comparator": "StringEquals", "variableA.$": "$.getIdentity.managerRef.name", "variableB": "Barbara Liskov", "nextStep": "Done"}]},
                    "Done": {"type": "success"},
                    "Wrong": {"type": "failure", "failureName": "wrong manager"}
                }),
            )
            .await;
        let (execution, doc) = w.run(&workflow, json!({"id": w.id_of("e2").await})).await;
        assert_eq!(
            execution.status,
            tessera_model::ExecutionStatus::Completed,
            "{kind}: {:?} {}",
            execution.error,
            doc["getIdentity"]["managerRef"]
        );
    }
}
