//! `tessera serve --demo`: a small organisation to govern — an HR file of a few hundred people with
//! managers, departments and lifecycle states; an identity profile that computes their attributes;
//! two target sources with entitlements, access profiles and birthright roles; and joiner, mover
//! and leaver workflows enabled. Seeded once per database; the HR file stays editable.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::{Value, json};
use tessera_governance::ImportDirs;
use tessera_model::{Clock, Timestamp, UserLevel};
use tessera_store::{
    AccessStore, CatalogKind, CatalogObject, CatalogStore, IdentityRecord, IdentityStore, LevelHolder, SecurityStore,
    Store, UserLevelStore, WorkflowRecord, WorkflowStore,
};

/// People in the demo's HR file.
pub(crate) const PEOPLE: usize = 300;
/// Ids of the demo's objects, fixed so the README and tests can name them.
pub(crate) const HR_SOURCE: &str = "demo-source-hr";
const AD_SOURCE: &str = "demo-source-ad";
const GITHUB_SOURCE: &str = "demo-source-github";
pub(crate) const PROFILE: &str = "demo-profile-employees";
/// The governance group that works the target sources' work items.
pub(crate) const SERVICE_DESK: &str = "demo-group-service-desk";
/// The demo's administrator: a person named `admin`, not in the HR file, holding ORG_ADMIN.
pub(crate) const ADMIN: &str = "demo-identity-admin";
/// How many people of the Support department staff the service desk.
const SERVICE_DESK_SIZE: usize = 3;

const WORKFLOWS: [(&str, &str); 3] = [
    ("demo-joiner-welcome", include_str!("../../../examples/demo/joiner-welcome.json")),
    ("demo-mover-notify", include_str!("../../../examples/demo/mover-notify.json")),
    ("demo-leaver-notify", include_str!("../../../examples/demo/leaver-notify.json")),
];

fn object(kind: CatalogKind, id: &str, key: &str, parent: &str, document: Value, now: Timestamp) -> CatalogObject {
    let name = document.get("name").and_then(Value::as_str).unwrap_or(key).to_owned();
    let requestable = document.get("requestable").and_then(Value::as_bool).unwrap_or(false);
    CatalogObject {
        kind,
        id: id.to_owned(),
        name,
        key: key.to_owned(),
        parent_id: parent.to_owned(),
        owner_id: None,
        enabled: document.get("enabled").and_then(Value::as_bool).unwrap_or(true),
        requestable,
        document,
        created_at: now,
        modified_at: now,
    }
}

fn service_desk() -> Value {
    json!({"type": "GOVERNANCE_GROUP", "id": SERVICE_DESK, "name": "IT Service Desk"})
}

fn account_attribute(attribute: &str) -> Value {
    json!({"type": "accountAttribute", "attributes": {"sourceName": "HR", "attributeName": attribute}})
}

/// The catalogue, as (kind, id, key, parent, document).
fn catalog(hr_file: &Path) -> Vec<(CatalogKind, &'static str, String, &'static str, Value)> {
    let mut objects = vec![
        (
            CatalogKind::Source,
            HR_SOURCE,
            "HR".to_owned(),
            "",
            json!({
                "name": "HR", "description": "The HR system's nightly export: who works here.",
                "connector": "delimited-file", "type": "DelimitedFile", "authoritative": true, "features": [],
                "deleteThreshold": 20,
                "connectorAttributes": {
                    "file": hr_file.display().to_string(), "identityAttribute": "employeeNumber",
                    "nameAttribute": "displayName", "managerAttribute": "managerId"
                },
                "schedules": [{"type": "ACCOUNT_AGGREGATION", "cronExpression": "0 */5 * * * *"}]
            }),
        ),
        (
            CatalogKind::Source,
            AD_SOURCE,
            "Active Directory".to_owned(),
            "",
            json!({
                "name": "Active Directory", "description": "The company directory.",
                "connector": "ldap", "type": "LDAP", "authoritative": false,
                "features": ["ENABLE", "UNLOCK", "PROVISIONING", "PASSWORD"],
                "correlation": [{"identityAttribute": "email", "accountAttribute": "mail"}],
                "manualProvisioning": true, "governanceGroup": service_desk()
            }),
        ),
        (
            CatalogKind::Source,
            GITHUB_SOURCE,
            "GitHub".to_owned(),
            "",
            json!({
                "name": "GitHub", "description": "Source code hosting.",
                "connector": "scim", "type": "SCIM 2.0", "authoritative": false,
                "features": ["ENABLE", "PROVISIONING"],
                "correlation": [{"identityAttribute": "email", "accountAttribute": "emails"}],
                "manualProvisioning": true, "governanceGroup": service_desk()
            }),
        ),
        (
            CatalogKind::Workgroup,
            SERVICE_DESK,
            "IT Service Desk".to_owned(),
            "",
            json!({"name": "IT Service Desk",
                   "description": "Creates, changes and disables accounts on the systems Tessera hands to people"}),
        ),
    ];
    let entitlements = [
        ("demo-ent-all-staff", AD_SOURCE, "memberOf", "CN=All Staff,OU=Groups,DC=example,DC=com", "All Staff"),
        ("demo-ent-engineering", AD_SOURCE, "memberOf", "CN=Engineering,OU=Groups,DC=example,DC=com", "Engineering"),
        ("demo-ent-sales", AD_SOURCE, "memberOf", "CN=Sales,OU=Groups,DC=example,DC=com", "Sales"),
        ("demo-ent-finance", AD_SOURCE, "memberOf", "CN=Finance,OU=Groups,DC=example,DC=com", "Finance"),
        ("demo-ent-gh-members", GITHUB_SOURCE, "groups", "acme/members", "acme members"),
        ("demo-ent-gh-platform", GITHUB_SOURCE, "groups", "acme/platform", "acme platform team"),
    ];
    for (id, source, attribute, value, name) in entitlements {
        objects.push((
            CatalogKind::Entitlement,
            id,
            format!("{attribute}={value}"),
            source,
            json!({
                "name": name, "attribute": attribute, "value": value, "source": {"type": "SOURCE", "id": source},
                "requestable": true, "description": format!("{name} on {source}")
            }),
        ));
    }
    let profiles = [
        ("demo-ap-all-staff", AD_SOURCE, "AD All Staff", vec!["demo-ent-all-staff"]),
        ("demo-ap-engineering", AD_SOURCE, "AD Engineering", vec!["demo-ent-engineering"]),
        ("demo-ap-sales", AD_SOURCE, "AD Sales", vec!["demo-ent-sales"]),
        ("demo-ap-finance", AD_SOURCE, "AD Finance", vec!["demo-ent-finance"]),
        ("demo-ap-github", GITHUB_SOURCE, "GitHub Platform", vec!["demo-ent-gh-members", "demo-ent-gh-platform"]),
    ];
    for (id, source, name, entitlements) in profiles {
        let refs: Vec<Value> = entitlements.iter().map(|e| json!({"type": "ENTITLEMENT", "id": e})).collect();
        objects.push((
            CatalogKind::AccessProfile,
            id,
            name.to_owned(),
            source,
            json!({
                "name": name, "description": format!("{name} access"), "enabled": true, "requestable": true,
                "source": {"type": "SOURCE", "id": source}, "entitlements": refs
            }),
        ));
    }
    let roles = [
        ("demo-role-engineer", "Engineer", "Engineering", vec!["demo-ap-engineering", "demo-ap-github"]),
        ("demo-role-sales", "Sales Representative", "Sales", vec!["demo-ap-sales"]),
        ("demo-role-finance", "Finance Staff", "Finance", vec!["demo-ap-finance"]),
    ];
    for (id, name, department, access) in roles {
        let refs: Vec<Value> = access.iter().map(|a| json!({"type": "ACCESS_PROFILE", "id": a})).collect();
        objects.push((CatalogKind::Role, id, name.to_owned(), "", json!({
            "name": name, "description": format!("Everyone in {department}"), "enabled": true, "requestable": false,
            "accessProfiles": refs,
            "membership": {"type": "STANDARD", "criteria": {"operation": "AND", "children": [
                {"operation": "EQUALS", "key": {"type": "IDENTITY", "property": "attribute.department"}, "stringValue": department},
                {"operation": "EQUALS", "key": {"type": "IDENTITY", "property": "attribute.cloudLifecycleState"}, "stringValue": "active"}
            ]}}
        })));
    }
    let mut transforms: Vec<Value> = [
        ("uid", "employeeNumber"),
        ("employeeNumber", "employeeNumber"),
        ("firstname", "firstName"),
        ("lastname", "lastName"),
        ("displayName", "displayName"),
        ("email", "email"),
        ("department", "department"),
        ("jobTitle", "jobTitle"),
        ("location", "location"),
        ("startDate", "startDate"),
    ]
    .iter()
    .map(|(name, column)| json!({"identityAttributeName": name, "transformDefinition": account_attribute(column)}))
    .collect();
    transforms.push(json!({"identityAttributeName": "cloudLifecycleState", "transformDefinition": {
        "type": "lookup", "attributes": {
            "input": account_attribute("status"),
            "table": {"A": "active", "L": "leave", "T": "terminated", "default": "active"}
        }
    }}));
    objects.push((
        CatalogKind::IdentityProfile,
        PROFILE,
        "Employees".to_owned(),
        HR_SOURCE,
        json!({
            "name": "Employees", "description": "Everyone in the HR file", "priority": 10,
            "authoritativeSource": {"type": "SOURCE", "id": HR_SOURCE, "name": "HR"},
            "identityAttributeConfig": {"enabled": true, "attributeTransforms": transforms}
        }),
    ));
    let states = [
        (
            "demo-state-active",
            json!({
                "name": "Active", "technicalName": "active", "enabled": true, "identityState": "ACTIVE",
                "accountActions": [{"action": "ENABLE", "sourceIds": [AD_SOURCE, GITHUB_SOURCE]}],
                "accessProfileIds": ["demo-ap-all-staff"]
            }),
        ),
        (
            "demo-state-leave",
            json!({
                "name": "On leave", "technicalName": "leave", "enabled": true, "identityState": "INACTIVE_SHORT_TERM",
                "accountActions": [{"action": "DISABLE", "sourceIds": [AD_SOURCE]}]
            }),
        ),
        (
            "demo-state-terminated",
            json!({
                "name": "Terminated", "technicalName": "terminated", "enabled": true, "identityState": "INACTIVE_LONG_TERM",
                "accountActions": [{"action": "DISABLE", "sourceIds": [AD_SOURCE, GITHUB_SOURCE]}],
                "accessActionConfiguration": {"removeAllAccessEnabled": true}
            }),
        ),
    ];
    for (id, state) in states {
        let key = state["technicalName"].as_str().unwrap_or_default().to_owned();
        objects.push((CatalogKind::LifecycleState, id, key, PROFILE, state));
    }
    objects
}

/// The demo's HR file: `hr.csv` in the first import directory.
pub(crate) fn hr_file(imports: &ImportDirs) -> Result<PathBuf> {
    let dir = imports.dirs().first().context("the demo needs an import directory for its HR file")?;
    Ok(dir.join("hr.csv"))
}

/// Seeds the demo organisation's catalogue and HR file unless this database has them; returns
/// whether it seeded.
pub(crate) async fn seed_catalog(store: &Store, imports: &ImportDirs, clock: &dyn Clock) -> Result<bool> {
    let now = clock.now();
    let mut tx = store.begin().await?;
    if tx.object(CatalogKind::Source, HR_SOURCE).await?.is_some() {
        return Ok(false);
    }
    let file = hr_file(imports)?;
    if !file.exists() {
        let dir = file.parent().context("the HR file has a directory")?;
        tessera_store::files::private_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let out =
            tessera_store::files::create_private(&file).with_context(|| format!("cannot write {}", file.display()))?;
        tessera_connectors::generate::write_hr_file(std::io::BufWriter::new(out), PEOPLE, 7)?;
    }
    for (kind, id, key, parent, document) in catalog(&file) {
        let object = object(kind, id, &key, parent, document, now);
        tx.insert_object(&object).await?;
        tx.audit("system:demo", "create", kind.as_str(), id, &json!({"name": object.name}), now).await?;
    }
    tx.commit().await?;
    Ok(true)
}

/// Moves the HR file of a demo seeded by an older Tessera (`<data dir>/demo/hr.csv`, outside any import
/// directory, so no longer readable) to where the demo keeps it now, and points the source at it.
/// Returns the new path when it moved the file.
pub(crate) async fn relocate_hr_file(
    store: &Store,
    data_dir: &Path,
    imports: &ImportDirs,
    clock: &dyn Clock,
) -> Result<Option<PathBuf>> {
    let old = data_dir.join("demo").join("hr.csv");
    let mut tx = store.begin().await?;
    let Some(mut source) = tx.object(CatalogKind::Source, HR_SOURCE).await? else { return Ok(None) };
    let configured = source.document.pointer("/connectorAttributes/file").and_then(Value::as_str).map(PathBuf::from);
    let old_real = std::fs::canonicalize(&old).ok();
    if configured.is_none() || configured.as_ref().and_then(|c| std::fs::canonicalize(c).ok()) != old_real {
        return Ok(None);
    }
    let new = hr_file(imports)?;
    if new.exists() {
        return Ok(None);
    }
    std::fs::rename(&old, &new).with_context(|| format!("cannot move {} to {}", old.display(), new.display()))?;
    source.document["connectorAttributes"]["file"] = json!(new.display().to_string());
    source.modified_at = clock.now();
    tx.update_object(&source).await?;
    let detail =
        json!({"connectorAttributes.file": {"before": old.display().to_string(), "after": new.display().to_string()}});
    tx.audit("system:demo", "update", "source", HR_SOURCE, &detail, source.modified_at).await?;
    tx.commit().await?;
    Ok(Some(new))
}

/// Staffs the service desk with the first people (by employee number) of the Support department, once
/// the HR file has made them identities. Returns their names.
pub(crate) async fn staff_service_desk(store: &Store, clock: &dyn Clock) -> Result<Vec<String>> {
    let now = clock.now();
    let mut tx = store.begin().await?;
    let filter = tessera_store::query::Filter::parse("attributes.department eq \"Support\"")?;
    let sorters = tessera_store::query::Sorters::parse("alias", &tessera_store::identities::IDENTITIES)?;
    let listing = tessera_store::Listing {
        filter: Some(&filter),
        sorters: Some(&sorters),
        limit: SERVICE_DESK_SIZE as i64,
        ..tessera_store::Listing::default()
    };
    let (people, _) = tx.list_identities(&listing).await?;
    let mut names = Vec::new();
    for person in &people {
        tx.add_member(SERVICE_DESK, &person.id, now).await?;
        names.push(person.name.clone());
    }
    tx.commit().await?;
    Ok(names)
}

/// Makes sure the demo has its administrator: the identity `admin` (id `demo-identity-admin`, not in the HR
/// file, so aggregation leaves it alone) holding ISC's ORG_ADMIN user level. Idempotent, so a demo
/// seeded by an older Tessera gets one too; true when it was created now.
pub(crate) async fn ensure_admin(store: &Store, clock: &dyn Clock) -> Result<bool> {
    let now = clock.now();
    let mut tx = store.begin().await?;
    if tx.identity(ADMIN).await?.is_some() {
        return Ok(false);
    }
    let admin = IdentityRecord {
        id: ADMIN.into(),
        name: "admin".into(),
        alias: "admin".into(),
        email: Some("admin@example.com".into()),
        manager_id: None,
        profile_id: None,
        lifecycle_state: None,
        lifecycle_manual: false,
        status: tessera_model::IdentityStatus::Active,
        attributes: serde_json::Map::from_iter([
            ("displayName".to_owned(), json!("Tessera Administrator")),
            ("email".to_owned(), json!("admin@example.com")),
        ]),
        created_at: now,
        modified_at: now,
    };
    tx.insert_identities(std::slice::from_ref(&admin)).await?;
    tx.set_user_levels(LevelHolder::Identity(ADMIN), &[UserLevel::OrgAdmin], now).await?;
    tx.commit().await?;
    Ok(true)
}

/// Adds the joiner, mover and leaver workflows, enabled.
pub(crate) async fn seed_workflows(store: &Store, clock: &dyn Clock) -> Result<()> {
    let now = clock.now();
    let mut tx = store.begin().await?;
    for (id, text) in WORKFLOWS {
        let document: Value = serde_json::from_str(text).with_context(|| format!("demo workflow {id}"))?;
        let record = WorkflowRecord {
            id: id.to_owned().into(),
            name: document["name"].as_str().unwrap_or(id).to_owned(),
            latest_version: 1,
            enabled: true,
            trace: false,
            created_at: now,
            modified_at: now,
            creator: "system:demo".to_owned(),
            document,
        };
        tx.insert_workflow(&record, "demo").await?;
        tx.audit("system:demo", "create", "workflow", id, &json!({"name": record.name}), now).await?;
    }
    tx.commit().await?;
    Ok(())
}
