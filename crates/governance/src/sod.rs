//! Separation-of-duties policies: ISC's `CONFLICTING_ACCESS_BASED` SodPolicy (a left and a right list
//! of conflicting access), validated with JSON pointers, stored and audited; and the check that finds,
//! for an identity's current access plus what it would be granted, the policies with something held
//! on both sides.
//!
//! A criterion is an `ENTITLEMENT` (ISC's only kind) or, as a Tessera extension, a `ROLE` or an
//! `ACCESS_PROFILE`. Access is expanded before matching: a role brings its access profiles, an access
//! profile its entitlements. Only `state: ENFORCED` policies are checked (ISC's meaning: the policy is
//! live). A violation is reported only when the requested items take part in it: what an identity
//! already violates is a certification's business, not the request's. An enforced policy with the
//! Tessera flag `"forbid": true` refuses a request that would violate it; any other violation is stored
//! with the request and shown to its approvers as ISC's `sodViolationContext`.

use std::collections::BTreeMap;
use tessera_model::AccessRequestType;

use serde_json::{Map, Value, json};
use tessera_store::catalog::referenced_ids;
use tessera_store::{
    AccessRequestRecord, AccessStore, CatalogKind, CatalogStore, RequestItemRecord, SecurityStore, SodPolicyRecord,
    SodStore, Tx,
};

use crate::{Error, Governance, Result};

/// One side of a policy: the access it names, as (kind, id).
type Side = Vec<(String, String)>;

/// A policy as the check uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SodPolicy {
    pub id: String,
    pub name: String,
    pub enforced: bool,
    pub forbid: bool,
    pub left: Side,
    pub right: Side,
}

/// One conflicting item held (or to be held) on one side of a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflicting {
    pub kind: String,
    pub id: String,
    pub name: String,
    /// Held already, rather than asked for.
    pub existing: bool,
}

/// A policy an identity would violate, with the items involved on each side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SodViolation {
    pub policy_id: String,
    pub policy_name: String,
    pub forbid: bool,
    pub left: Vec<Conflicting>,
    pub right: Vec<Conflicting>,
}

/// Reads one side's `criteriaList` from a submitted policy.
fn side(body: &Map<String, Value>, key: &str) -> Result<Side> {
    let at = format!("/conflictingAccessCriteria/{key}/criteriaList");
    let list =
        body.get("conflictingAccessCriteria").and_then(|c| c.get(key)).and_then(|c| c.get("criteriaList")).ok_or_else(
            || Error::invalid_at(&at, "name the conflicting access, e.g. [{\"type\": \"ENTITLEMENT\", \"id\": \"…\"}]"),
        )?;
    let Some(list) = list.as_array().filter(|l| !l.is_empty()) else {
        return Err(Error::invalid_at(&at, "must be a non-empty list of {\"type\", \"id\"} references"));
    };
    let mut out = Side::with_capacity(list.len());
    for (i, criterion) in list.iter().enumerate() {
        let kind = criterion.get("type").and_then(Value::as_str).unwrap_or("ENTITLEMENT");
        if CatalogKind::of_access(kind).is_none() {
            return Err(Error::invalid_at(format!("{at}/{i}/type"), "use ENTITLEMENT, ACCESS_PROFILE or ROLE"));
        }
        let Some(id) = criterion.get("id").and_then(Value::as_str).filter(|id| !id.is_empty()) else {
            return Err(Error::invalid_at(format!("{at}/{i}/id"), "is required"));
        };
        let entry = (kind.to_owned(), id.to_owned());
        if out.contains(&entry) {
            return Err(Error::invalid_at(format!("{at}/{i}"), "the item is listed twice"));
        }
        out.push(entry);
    }
    Ok(out)
}

/// Checks a submitted policy's shape (catalogue references are checked by [`Engine`] with a
/// transaction): the name, and the fields the record keeps in its document.
pub fn parse_policy(id: &str, body: &Value) -> Result<(SodPolicy, Value)> {
    let Some(fields) = body.as_object() else {
        return Err(Error::invalid_at("", "the body must be an SoD policy object"));
    };
    let name = match fields.get("name") {
        Some(Value::String(name)) if !name.trim().is_empty() => name.trim().to_owned(),
        _ => return Err(Error::invalid_at("/name", "is required and must be a non-empty string")),
    };
    let enforced = match fields.get("state").map(|s| s.as_str()) {
        None | Some(Some("ENFORCED")) => true,
        Some(Some("NOT_ENFORCED")) => false,
        _ => return Err(Error::invalid_at("/state", "use ENFORCED or NOT_ENFORCED")),
    };
    match fields.get("type").map(|t| t.as_str()) {
        None | Some(Some("CONFLICTING_ACCESS_BASED")) => {}
        Some(Some("GENERAL")) => {
            return Err(Error::invalid_at("/type", "GENERAL policies are not supported; use CONFLICTING_ACCESS_BASED"));
        }
        _ => return Err(Error::invalid_at("/type", "use CONFLICTING_ACCESS_BASED")),
    }
    let forbid = match fields.get("forbid") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(Error::invalid_at("/forbid", "must be true or false")),
    };
    if let Some(description) = fields.get("description")
        && !(description.is_string() || description.is_null())
    {
        return Err(Error::invalid_at("/description", "must be a string"));
    }
    let left = side(fields, "leftCriteria")?;
    let right = side(fields, "rightCriteria")?;
    if let Some(i) = right.iter().position(|r| left.contains(r)) {
        return Err(Error::invalid_at(
            format!("/conflictingAccessCriteria/rightCriteria/criteriaList/{i}"),
            "the item is also on the left side; an item cannot conflict with itself",
        ));
    }
    let mut document = fields.clone();
    for key in ["id", "name", "created", "modified"] {
        document.remove(key);
    }
    document.insert("state".into(), json!(if enforced { "ENFORCED" } else { "NOT_ENFORCED" }));
    document.insert("type".into(), json!("CONFLICTING_ACCESS_BASED"));
    document.insert("forbid".into(), json!(forbid));
    let policy = SodPolicy { id: id.to_owned(), name, enforced, forbid, left, right };
    Ok((policy, Value::Object(document)))
}

/// A stored policy; one that no longer parses (a hand-edited database) is skipped with a warning.
fn stored(record: &SodPolicyRecord) -> Option<SodPolicy> {
    let mut body = record.document.clone();
    body["name"] = json!(record.name);
    match parse_policy(&record.id, &body) {
        Ok((policy, _)) => Some(policy),
        Err(error) => {
            tracing::warn!(policy = %record.id, %error, "skipping an SoD policy that does not parse");
            None
        }
    }
}

/// ISC's `sodViolationContext` for a request with these violations (`state` SUCCESS: the check ran).
pub fn violation_context(violations: &[SodViolation]) -> Value {
    let criteria = |items: &[Conflicting]| {
        let list: Vec<Value> =
            items.iter().map(|c| json!({"type": c.kind, "id": c.id, "name": c.name, "existing": c.existing})).collect();
        json!({"criteriaList": list})
    };
    let contexts: Vec<Value> = violations
        .iter()
        .map(|v| {
            json!({"policy": {"type": "SOD_POLICY", "id": v.policy_id, "name": v.policy_name},
                   "conflictingAccessCriteria": {"leftCriteria": criteria(&v.left),
                                                 "rightCriteria": criteria(&v.right)}})
        })
        .collect();
    let policies: Vec<Value> =
        violations.iter().map(|v| json!({"type": "SOD_POLICY", "id": v.policy_id, "name": v.policy_name})).collect();
    json!({"state": "SUCCESS", "violationCheckResult": {"violationContexts": contexts, "violatedPolicies": policies}})
}

impl Governance {
    /// Creates a policy (audited as `sod-policy.create`); its criteria must name catalogue objects.
    pub async fn create_sod_policy(&self, body: &Value, actor: &str) -> Result<SodPolicyRecord> {
        let id = uuid::Uuid::now_v7().simple().to_string();
        let (policy, document) = parse_policy(&id, body)?;
        let now = self.now();
        let mut tx = self.store.begin().await?;
        references_exist(&mut tx, &policy).await?;
        let record = SodPolicyRecord { id, name: policy.name, document, created_at: now, modified_at: now };
        tx.insert_sod_policy(&record).await?;
        tx.audit(actor, "sod-policy.create", "sod-policy", &record.id, &json!({"name": record.name}), now).await?;
        tx.commit().await?;
        Ok(record)
    }

    /// Replaces a policy's definition (audited as `sod-policy.update`).
    pub async fn replace_sod_policy(&self, id: &str, body: &Value, actor: &str) -> Result<SodPolicyRecord> {
        let (policy, document) = parse_policy(id, body)?;
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let existing = tx.sod_policy(id).await?.ok_or_else(|| Error::NotFound(format!("SoD policy {id}")))?;
        references_exist(&mut tx, &policy).await?;
        let record = SodPolicyRecord { name: policy.name, document, modified_at: now, ..existing };
        tx.update_sod_policy(&record).await?;
        tx.audit(actor, "sod-policy.update", "sod-policy", id, &json!({"name": record.name}), now).await?;
        tx.commit().await?;
        Ok(record)
    }

    /// Deletes a policy (audited as `sod-policy.delete`); requests keep the context they were submitted with.
    pub async fn delete_sod_policy(&self, id: &str, actor: &str) -> Result<()> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        if !tx.delete_sod_policy(id).await? {
            return Err(Error::NotFound(format!("SoD policy {id}")));
        }
        tx.audit(actor, "sod-policy.delete", "sod-policy", id, &json!({}), now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The violations `identity_id` would have if it were granted `items` ((kind, id) pairs), in a read
    /// of its own (ISC's `/v3/sod-violations/predict`).
    pub async fn predict_sod_violations(
        &self,
        identity_id: &str,
        items: &[(String, String)],
    ) -> Result<Vec<SodViolation>> {
        let mut tx = self.store.begin().await?;
        for (i, (kind, id)) in items.iter().enumerate() {
            let kind = CatalogKind::of_access(kind).ok_or_else(|| {
                Error::invalid_at(format!("/accessRefs/{i}/type"), "use ROLE, ACCESS_PROFILE or ENTITLEMENT")
            })?;
            if tx.object(kind, id).await?.is_none() {
                return Err(Error::invalid_at(format!("/accessRefs/{i}/id"), format!("no such object `{id}`")));
            }
        }
        let found = violations(&mut tx, identity_id, items).await?;
        tx.commit().await?;
        Ok(found)
    }

    /// The hook of a GRANT request being submitted: refuses it if a forbidding policy would be violated,
    /// and otherwise stores the violations with the request.
    pub(crate) async fn check_request_sod(
        &self,
        tx: &mut Tx,
        request: &AccessRequestRecord,
        items: &[RequestItemRecord],
    ) -> Result<()> {
        if request.request_type != AccessRequestType::Grant {
            return Ok(());
        }
        let asked: Vec<(String, String)> = items.iter().map(|i| (i.kind.clone(), i.object_id.clone())).collect();
        let found = violations(tx, &request.requested_for_id, &asked).await?;
        if let Some(v) = found.iter().find(|v| v.forbid) {
            let names =
                |side: &[Conflicting]| side.iter().map(|c| format!("`{}`", c.name)).collect::<Vec<_>>().join(", ");
            return Err(Error::invalid_at(
                "/requestedItems",
                format!(
                    "SoD policy `{}` forbids this request: identity {} would hold {} and {}",
                    v.policy_name,
                    request.requested_for_id,
                    names(&v.left),
                    names(&v.right)
                ),
            ));
        }
        if !found.is_empty() {
            let mut context = violation_context(&found);
            context["uuid"] = json!(uuid::Uuid::now_v7().to_string());
            tx.set_sod_context(&request.id, &context).await?;
        }
        Ok(())
    }
}

/// Refuses a policy whose criteria name objects the catalogue lacks.
async fn references_exist(tx: &mut Tx, policy: &SodPolicy) -> Result<()> {
    for (key, side) in [("leftCriteria", &policy.left), ("rightCriteria", &policy.right)] {
        for (i, (kind, id)) in side.iter().enumerate() {
            let Some(catalog) = CatalogKind::of_access(kind) else { continue };
            if tx.object(catalog, id).await?.is_none() {
                return Err(Error::invalid_at(
                    format!("/conflictingAccessCriteria/{key}/criteriaList/{i}/id"),
                    format!("no {kind} has the id `{id}`"),
                ));
            }
        }
    }
    Ok(())
}

/// Adds what `roots` bring, expanded, to `out`: (kind, id) → (name, held already). Held access is
/// expanded first, so an item reached both ways counts as held.
async fn expand(
    tx: &mut Tx,
    roots: &[(String, String)],
    existing: bool,
    out: &mut BTreeMap<(String, String), (String, bool)>,
) -> Result<()> {
    let mut queue = roots.to_vec();
    while let Some(key) = queue.pop() {
        if out.contains_key(&key) {
            continue;
        }
        let Some(catalog) = CatalogKind::of_access(&key.0) else { continue };
        let Some(object) = tx.object(catalog, &key.1).await? else { continue };
        match catalog {
            CatalogKind::Role => queue.extend(
                referenced_ids(&object.document, "accessProfiles").into_iter().map(|id| ("ACCESS_PROFILE".into(), id)),
            ),
            CatalogKind::AccessProfile => queue.extend(
                referenced_ids(&object.document, "entitlements").into_iter().map(|id| ("ENTITLEMENT".into(), id)),
            ),
            _ => {}
        }
        out.insert(key, (object.name, existing));
    }
    Ok(())
}

/// The enforced policies that `identity_id`'s access plus `would_hold` violates, where the requested
/// items take part in the violation.
pub async fn violations(tx: &mut Tx, identity_id: &str, would_hold: &[(String, String)]) -> Result<Vec<SodViolation>> {
    let policies: Vec<SodPolicy> = tx.sod_policies().await?.iter().filter_map(stored).filter(|p| p.enforced).collect();
    if policies.is_empty() {
        return Ok(Vec::new());
    }
    let current: Vec<(String, String)> =
        tx.access_of(&[identity_id.to_owned()]).await?.into_iter().map(|g| (g.kind, g.object_id)).collect();
    let mut held = BTreeMap::new();
    expand(tx, &current, true, &mut held).await?;
    expand(tx, would_hold, false, &mut held).await?;
    let matched = |side: &Side| -> Vec<Conflicting> {
        side.iter()
            .filter_map(|key| {
                held.get(key).map(|(name, existing)| Conflicting {
                    kind: key.0.clone(),
                    id: key.1.clone(),
                    name: name.clone(),
                    existing: *existing,
                })
            })
            .collect()
    };
    let mut found = Vec::new();
    for policy in policies {
        let (left, right) = (matched(&policy.left), matched(&policy.right));
        let already = left.iter().any(|c| c.existing) && right.iter().any(|c| c.existing);
        if left.is_empty() || right.is_empty() || already {
            continue;
        }
        found.push(SodViolation { policy_id: policy.id, policy_name: policy.name, forbid: policy.forbid, left, right });
    }
    Ok(found)
}
