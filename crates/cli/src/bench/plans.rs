//! `tessera bench provision`'s end-to-end figure: account requests per second carried out by Tessera's
//! own provisioning — plans claimed, prepared with the source's create policy, sent through the
//! connector, the account recorded, each group announced by Provisioning Completed — for new hires whose
//! birthright role creates an account in a group on scim2-server, then on slapd.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use tessera_connectors::testing::scim_server::ScimServer;
use tessera_connectors::testing::slapd::{ADMIN_DN, ADMIN_PASSWORD, ADMINS, GROUPS, PEOPLE, Slapd};
use tessera_engine::{Engine, EngineConfig};
use tessera_governance::{AggregateOptions, ImportDirs};
use tessera_governance::{Governance, GovernanceConfig};
use tessera_model::{SystemClock, Timestamp};
use tessera_store::{AccessStore, CatalogKind, CatalogObject, CatalogStore, Store};

fn object(kind: CatalogKind, id: &str, parent: &str, document: Value) -> CatalogObject {
    let name = document["name"].as_str().unwrap_or(id).to_owned();
    CatalogObject {
        kind,
        id: id.into(),
        key: name.clone(),
        name,
        parent_id: parent.into(),
        owner_id: None,
        enabled: true,
        requestable: false,
        document,
        created_at: Timestamp::UNIX_EPOCH,
        modified_at: Timestamp::UNIX_EPOCH,
    }
}

/// An HR source of `people` engineers, and a target source whose Engineer birthright role puts each of
/// them in `group` (under `attribute`), creating the account by `policy`.
async fn world(store: &Store, dir: &Path, people: usize, target: Value, attribute: &str, group: &str) -> Result<()> {
    let file = dir.join(format!("hr-{}.csv", target["connector"].as_str().unwrap_or("x")));
    let mut rows = String::from("id,name,login,department\n");
    for n in 0..people {
        rows.push_str(&format!("e{n},Person {n},person{n},engineering\n"));
    }
    std::fs::write(&file, rows)?;
    let column =
        |name: &str| json!({"type": "accountAttribute", "attributes": {"sourceName": "HR", "attributeName": name}});
    let objects = [
        object(
            CatalogKind::Source,
            "hr",
            "",
            json!({"name": "HR", "connector": "delimited-file", "authoritative": true,
                   "connectorAttributes": {"file": file.display().to_string(), "identityAttribute": "id"}}),
        ),
        object(
            CatalogKind::IdentityProfile,
            "profile",
            "hr",
            json!({"name": "Staff", "identityAttributeConfig": {"enabled": true, "attributeTransforms": [
                {"identityAttributeName": "uid", "transformDefinition": column("login")},
                {"identityAttributeName": "displayName", "transformDefinition": column("name")},
                {"identityAttributeName": "department", "transformDefinition": column("department")}
            ]}}),
        ),
        object(CatalogKind::Source, "target", "", target),
        object(
            CatalogKind::Entitlement,
            "group",
            "target",
            json!({"name": "group", "attribute": attribute, "value": group}),
        ),
        object(
            CatalogKind::AccessProfile,
            "ap",
            "target",
            json!({"name": "Engineering", "entitlements": [{"id": "group"}]}),
        ),
        object(
            CatalogKind::Role,
            "engineer",
            "",
            json!({"name": "Engineer", "accessProfiles": [{"id": "ap"}],
                   "membership": {"type": "STANDARD", "criteria": {"operation": "EQUALS",
                       "key": {"type": "IDENTITY", "property": "attribute.department"}, "stringValue": "engineering"}}}),
        ),
    ];
    let mut tx = store.begin().await?;
    for o in &objects {
        tx.insert_object(o).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Provisions `people` new hires to one system and prints the rate.
async fn measure(label: &str, dir: &Path, people: usize, target: Value, attribute: &str, group: &str) -> Result<()> {
    let data = dir.join(format!("plans-{label}"));
    let store = Store::open_data_dir(&data).await.context("the benchmark's store")?;
    world(&store, dir, people, target, attribute, group).await?;
    let engine = Engine::new(store.clone(), Arc::new(SystemClock), EngineConfig::default());
    let governance = Governance::new(engine, GovernanceConfig::default())?;
    let options = AggregateOptions { imports: ImportDirs::new([dir.to_owned()]), ..AggregateOptions::default() };
    governance.run_aggregation("HR", options).await.context("aggregating the new hires")?;
    let started = Instant::now();
    while governance.run_provisioning().await? > 0 {}
    let seconds = started.elapsed().as_secs_f64();
    let mut tx = store.begin().await?;
    let plans = tx.plans(None, i64::try_from(people).unwrap_or(i64::MAX) + 10, 0).await?;
    tx.commit().await?;
    let done = plans.iter().filter(|p| p.status == tessera_model::PlanStatus::Success).count();
    if done != people {
        let failed = plans.iter().find(|p| p.status != tessera_model::PlanStatus::Success);
        bail!("{label}: {done} of {people} account requests succeeded; one that did not: {failed:?}");
    }
    println!(
        "  {:<13} {:.0} account requests/s ({people} Creates with a group, {seconds:.1} s)",
        format!("{label}:"),
        people as f64 / seconds
    );
    Ok(())
}

/// Runs the end-to-end figure for `people` new hires per system.
pub(crate) async fn through_tessera(dir: &Path, people: usize) -> Result<()> {
    println!();
    println!("provisioning through Tessera (plan → create policy → connector → account recorded → announced), SQLite:");
    let scim = ScimServer::start();
    let scim_group = scim.create_group("engineers").await;
    let scim_source = json!({"name": "CRM", "connector": "scim", "connectorAttributes": scim.attributes(json!({})),
        "provisioningPolicies": [{"usageType": "CREATE", "fields": [
            {"name": "userName", "transform": {"type": "identityAttribute", "attributes": {"name": "uid"}}, "isRequired": true},
            {"name": "displayName"}]}]});
    measure("scim2-server", dir, people, scim_source, "groups", &scim_group).await?;
    let slapd = Slapd::start().await;
    let ldap_source = json!({"name": "Directory", "connector": "ldap",
        "connectorAttributes": {"url": slapd.url, "bindDn": ADMIN_DN, "bindPassword": ADMIN_PASSWORD,
                                "baseDn": PEOPLE, "groupBaseDn": GROUPS},
        "provisioningPolicies": [{"usageType": "CREATE", "fields": [
            {"name": "uid", "isRequired": true},
            {"name": "cn", "transform": {"type": "identityAttribute", "attributes": {"name": "displayName"}}},
            {"name": "sn", "transform": {"type": "static", "attributes": {"value": "Staff"}}}]}]});
    measure("slapd", dir, people, ldap_source, "memberOf", ADMINS).await
}
