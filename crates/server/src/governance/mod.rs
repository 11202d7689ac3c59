//! The identity-governance API in ISC's paths and shapes: sources and account aggregation, the access
//! catalogue (entitlements, access profiles, roles, identity profiles and their lifecycle states,
//! governance groups), identities and accounts, and identity search; with Tessera's additions under
//! `/tessera/v1` (entitlement creation, aggregation progress, what an identity holds, provisioning plans).
//! This file holds the routes and what the handlers share: list parameters, references, validation errors.

mod aggregation;
mod catalog;
mod holdings;
mod identities;
mod objects;
mod profiles;
mod request_config;
mod requests;
mod search;
mod sod;
mod sources;
mod work_items;
mod workgroups;

use std::collections::HashMap;

use axum::extract::DefaultBodyLimit;
use axum::handler::Handler;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tessera_store::query::{Filter, Resource, Sorters, quoted};
use tessera_store::{CatalogKind, CatalogStore, IdentityStore, Listing, Tx};

use crate::auth::{
    ACCESS_REQUEST_APPROVALS_MANAGE, ACCESS_REQUEST_APPROVALS_READ, ACCESS_REQUEST_CONFIG_MANAGE,
    ACCESS_REQUEST_CONFIG_READ, ACCESS_REQUEST_MANAGE, ACCESS_REQUEST_SELF_MANAGE, ACCESS_REQUEST_STATUS_READ,
    ACCOUNTS_READ, IDENTITY_MANAGE, IDENTITY_READ, Principal, SEARCH_READ, SOD_POLICY_MANAGE, SOD_POLICY_READ,
    SOURCES_MANAGE, SOURCES_READ, TASK_READ, WORK_ITEM_MANAGE, WORK_ITEM_READ, WORKGROUP_MANAGE, WORKGROUP_READ,
};
use crate::error::{ApiError, ApiResult};
use crate::routes::{Routes, any};
use objects::{Kind, Served};
use tessera_model::Timestamp;

/// The largest upload `load-accounts` takes.
const MAX_UPLOAD_BYTES: usize = 1024 * 1024 * 1024;

/// The catalogue routes of one kind: the collection and its members, whose id is the path parameter
/// `member` (routes sharing a prefix must name their parameters alike).
fn objects_of(r: &mut Routes, path: &str, member: &str, kind: Kind) {
    let one = format!("{path}/{{{member}}}");
    let (read, change) = (any(kind.reading()), any(kind.changing()));
    r.get(path, read, kind.summary("List"), objects::list.layer(Extension(kind)));
    r.post(path, change, kind.summary("Create"), objects::create.layer(Extension(kind)));
    r.get(&one, read, kind.summary("Get"), objects::read.layer(Extension(kind)));
    r.put(&one, change, kind.summary("Replace"), objects::replace.layer(Extension(kind)));
    r.patch(&one, change, kind.summary("Patch"), objects::patch.layer(Extension(kind)));
    r.delete(&one, change, kind.summary("Delete"), objects::delete.layer(Extension(kind)));
}

/// Routes mounted under both `/v3` and `/beta`.
pub(crate) fn isc_routes(r: &mut Routes) {
    objects_of(r, "/sources", "id", Kind::Source);
    objects_of(r, "/access-profiles", "id", Kind::AccessProfile);
    objects_of(r, "/roles", "id", Kind::Role);
    objects_of(r, "/identity-profiles", "id", Kind::IdentityProfile);
    objects_of(r, "/identity-profiles/{id}/lifecycle-states", "state", Kind::LifecycleState);
    let sources = any(&[SOURCES_READ, SOURCES_MANAGE]);
    r.post(
        "/sources/{id}/load-accounts",
        any(&[SOURCES_MANAGE]),
        "Aggregate a source's accounts (from an uploaded file, or read from the system)",
        aggregation::load_accounts.layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES)),
    );
    r.get("/account-aggregations/{id}/status", sources, "An aggregation's status", aggregation::status);
    r.get(
        "/task-status/{id}",
        any(&[TASK_READ, SOURCES_READ, SOURCES_MANAGE]),
        "A task's status",
        aggregation::task_status,
    );
    let entitlements = any(Kind::Entitlement.reading());
    r.get("/entitlements", entitlements, "List entitlements", objects::list.layer(Extension(Kind::Entitlement)));
    r.get("/entitlements/{id}", entitlements, "Get an entitlement", objects::read.layer(Extension(Kind::Entitlement)));
    let identities = any(&[IDENTITY_READ, IDENTITY_MANAGE]);
    r.get("/identities", identities, "List identities", identities::list);
    r.get("/identities/{id}", identities, "Get an identity", identities::read);
    r.delete("/identities/{id}", any(&[IDENTITY_MANAGE]), "Delete an identity", identities::delete);
    r.post(
        "/identities/{id}/set-lifecycle-state",
        any(&[IDENTITY_MANAGE]),
        "Set an identity's lifecycle state",
        identities::set_lifecycle_state,
    );
    r.get("/accounts", any(&[ACCOUNTS_READ]), "List accounts", identities::list_accounts);
    r.get("/accounts/{id}", any(&[ACCOUNTS_READ]), "Get an account", identities::account);
    r.post("/search", any(&[SEARCH_READ]), "Search identities, access and accounts", search::search);
    let work_items = any(&[WORK_ITEM_READ, WORK_ITEM_MANAGE]);
    r.get("/work-items", work_items, "Open work items", work_items::open);
    r.get("/work-items/completed", work_items, "Completed work items", work_items::completed);
    r.get("/work-items/{id}", work_items, "Get a work item", work_items::read);
    r.post("/work-items/{id}", any(&[WORK_ITEM_MANAGE]), "Complete a work item", work_items::complete);
    let requesting = any(&[ACCESS_REQUEST_MANAGE, ACCESS_REQUEST_SELF_MANAGE]);
    r.post("/access-requests", requesting, "Request access", requests::submit);
    r.post("/access-requests/cancel", requesting, "Cancel an access request", requests::cancel);
    r.get(
        "/access-request-status",
        any(&[ACCESS_REQUEST_STATUS_READ, ACCESS_REQUEST_MANAGE]),
        "Access requests and where they stand",
        requests::status,
    );
    let approvals = any(&[ACCESS_REQUEST_APPROVALS_READ, ACCESS_REQUEST_APPROVALS_MANAGE]);
    let deciding = any(&[ACCESS_REQUEST_APPROVALS_MANAGE]);
    r.get("/access-request-approvals/pending", approvals, "Approvals waiting", requests::pending);
    r.get("/access-request-approvals/completed", approvals, "Approvals decided", requests::completed);
    r.post("/access-request-approvals/{id}/approve", deciding, "Approve", requests::approve);
    r.post("/access-request-approvals/{id}/reject", deciding, "Reject", requests::reject);
    r.post("/access-request-approvals/{id}/forward", deciding, "Forward to another approver", requests::forward);
    r.get("/access-request-approvals/approval-summary", approvals, "How many approvals, by state", requests::summary);
    r.get(
        "/access-request-config",
        any(&[ACCESS_REQUEST_CONFIG_READ, ACCESS_REQUEST_CONFIG_MANAGE]),
        "The access request configuration",
        request_config::read,
    );
    r.put(
        "/access-request-config",
        any(&[ACCESS_REQUEST_CONFIG_MANAGE]),
        "Replace the access request configuration",
        request_config::replace,
    );
    let sod_read = any(&[SOD_POLICY_READ, SOD_POLICY_MANAGE]);
    let sod_change = any(&[SOD_POLICY_MANAGE]);
    r.get("/sod-policies", sod_read, "List SoD policies", sod::list);
    r.post("/sod-policies", sod_change, "Create an SoD policy", sod::create);
    r.get("/sod-policies/{id}", sod_read, "Get an SoD policy", sod::read);
    r.put("/sod-policies/{id}", sod_change, "Replace an SoD policy", sod::replace);
    r.delete("/sod-policies/{id}", sod_change, "Delete an SoD policy", sod::delete);
    r.post("/sod-violations/predict", sod_read, "Which policies some access would violate", sod::predict);
}

/// Routes only under `/beta`, as in ISC.
pub(crate) fn beta_routes(r: &mut Routes) {
    objects_of(r, "/workgroups", "id", Kind::Workgroup);
    let change = any(&[WORKGROUP_MANAGE]);
    r.get(
        "/workgroups/{id}/members",
        any(&[WORKGROUP_READ, WORKGROUP_MANAGE]),
        "A governance group's members",
        workgroups::members,
    );
    r.post("/workgroups/{id}/members/bulk-add", change, "Add members", workgroups::bulk_add);
    r.post("/workgroups/{id}/members/bulk-delete", change, "Remove members", workgroups::bulk_delete);
}

/// Tessera's additions, under `/tessera/v1`.
pub(crate) fn tessera_routes(r: &mut Routes) {
    r.post(
        "/tessera/v1/entitlements",
        any(Kind::Entitlement.changing()),
        "Create an entitlement",
        objects::create.layer(Extension(Kind::Entitlement)),
    );
    let sources = any(&[SOURCES_READ, SOURCES_MANAGE]);
    r.get("/tessera/v1/aggregations/{id}", sources, "An aggregation's progress", aggregation::progress);
    r.get("/tessera/v1/sources/{id}/aggregations", sources, "A source's aggregations", aggregation::of_source);
    let identities = any(&[IDENTITY_READ, IDENTITY_MANAGE]);
    r.get("/tessera/v1/identities/{id}/access", identities, "What an identity holds", holdings::access);
    r.get("/tessera/v1/provisioning-plans", identities, "Provisioning plans", holdings::plans);
}

/// ISC's list parameters.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
pub(crate) struct ListQuery {
    filters: Option<String>,
    sorters: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
    count: Option<bool>,
}

/// A list request checked and parsed, ready to become a [`Listing`].
#[derive(Debug)]
struct Page {
    filter: Option<Filter>,
    sorters: Option<Sorters>,
    limit: i64,
    offset: i64,
    count: bool,
}

impl Page {
    fn listing(&self) -> Listing<'_> {
        Listing {
            filter: self.filter.as_ref(),
            sorters: self.sorters.as_ref(),
            limit: self.limit,
            offset: self.offset,
            count: self.count,
        }
    }
}

impl ListQuery {
    /// `limit` (1 to `max`, default 250) and `offset` (from 0).
    fn bounds(&self, max: i64) -> ApiResult<(i64, i64)> {
        crate::paging::bounds(self.limit, self.offset, 250.min(max), max)
    }

    /// Parses the parameters for a list over `resource`; a bad filter or sorter is a 400 `invalid-filter`.
    fn page(&self, resource: &Resource) -> ApiResult<Page> {
        let (limit, offset) = self.bounds(250)?;
        let filter = match self.filters.as_deref().map(str::trim).filter(|f| !f.is_empty()) {
            Some(text) => Some(Filter::parse(text).map_err(|e| ApiError::from(tessera_store::Error::Query(e)))?),
            None => None,
        };
        let sorters = match self.sorters.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            Some(text) => {
                Some(Sorters::parse(text, resource).map_err(|e| ApiError::from(tessera_store::Error::Query(e)))?)
            }
            None => None,
        };
        Ok(Page { filter, sorters, limit, offset, count: self.count.unwrap_or(false) })
    }
}

/// A JSON array, with ISC's `X-Total-Count` header when the caller asked for the count.
fn listed(items: Vec<Value>, total: Option<i64>) -> Response {
    let mut headers = HeaderMap::new();
    if let Some(total) = total {
        headers.insert("X-Total-Count", HeaderValue::from(total));
    }
    (headers, Json(Value::Array(items))).into_response()
}

/// A submitted document that is invalid at `pointer`.
fn invalid(pointer: &str, message: impl Into<String>) -> ApiError {
    ApiError::invalid(pointer, message)
}

/// A governance rule that did not parse, its pointer placed under `prefix` in the submitted body.
fn invalid_rule(prefix: &str, error: &tessera_model::governance::Error) -> ApiError {
    invalid(&format!("{prefix}{}", error.pointer), error.message.clone())
}

/// The person whose things a token may list, when it is restricted to them: a token acting as a
/// person sees only what concerns that person, unless it holds every scope (an administrator's).
/// `None`: the token may read across the organisation, as its scopes allow.
fn restricted_to(principal: &Principal) -> Option<&str> {
    principal.identity().filter(|_| !principal.is_admin())
}

/// Refuses a token restricted to one person that names another.
fn only_own(principal: &Principal, named: Option<&str>, what: &str) -> ApiResult<()> {
    match (restricted_to(principal), named) {
        (Some(me), Some(named)) if named != me && named != "me" => Err(ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "this token acts as identity {me} and sees only its own {what}; another person's need an administrator's token"
            ),
        )),
        _ => Ok(()),
    }
}

/// A new id in ISC's form: 32 lower-case hex digits, ordered by creation time.
fn new_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

/// An instant as RFC 3339 text, as ISC writes times.
pub(crate) fn stamp(at: Timestamp) -> String {
    at.to_string()
}

/// The object at the top of a body, or a 400.
fn object(body: &Value) -> ApiResult<&Map<String, Value>> {
    body.as_object().ok_or_else(|| invalid("", "the body must be a JSON object"))
}

/// An optional string member: absent and null are `None`.
fn text(body: &Map<String, Value>, key: &str) -> ApiResult<Option<String>> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(invalid(&format!("/{key}"), format!("must be a string, not {other}"))),
    }
}

/// A string member that must be present and not blank.
fn required_text(body: &Map<String, Value>, key: &str) -> ApiResult<String> {
    match text(body, key)? {
        Some(s) if !s.trim().is_empty() => Ok(s.trim().to_owned()),
        Some(_) => Err(invalid(&format!("/{key}"), "must not be empty")),
        None => Err(invalid(&format!("/{key}"), "is required")),
    }
}

/// A boolean member, `default` when absent or null.
fn flag(body: &Map<String, Value>, key: &str, default: bool) -> ApiResult<bool> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(invalid(&format!("/{key}"), format!("must be true or false, not {other}"))),
    }
}

/// The `id` of a reference member such as `"owner": {"type": "IDENTITY", "id": "…"}` (a bare id string is
/// taken too); `None` when absent or null.
fn reference_id(value: Option<&Value>, at: &str) -> ApiResult<Option<String>> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(id)) if !id.trim().is_empty() => Ok(Some(id.trim().to_owned())),
        Some(Value::Object(members)) => match members.get("id") {
            Some(Value::String(id)) if !id.trim().is_empty() => Ok(Some(id.trim().to_owned())),
            _ => Err(invalid(&format!("{at}/id"), "a reference needs an `id`")),
        },
        Some(other) => Err(invalid(at, format!("must be a reference such as {{\"id\": \"…\"}}, not {other}"))),
    }
}

/// The owner named by `owner` in a body: an identity that must exist. Returns its id.
async fn owner(tx: &mut Tx, body: &Map<String, Value>) -> ApiResult<Option<String>> {
    let Some(id) = reference_id(body.get("owner"), "/owner")? else { return Ok(None) };
    match tx.identity(&id).await? {
        Some(identity) => Ok(Some(identity.id.into())),
        None => Err(invalid("/owner/id", format!("no identity has the id `{id}`"))),
    }
}

/// Names of referenced objects and identities, looked up once per request.
#[derive(Debug, Default)]
struct Names {
    objects: HashMap<(CatalogKind, String), Option<String>>,
    identities: HashMap<String, Option<String>>,
}

impl Names {
    async fn object(&mut self, tx: &mut Tx, kind: CatalogKind, id: &str) -> ApiResult<Option<String>> {
        let key = (kind, id.to_owned());
        if let Some(name) = self.objects.get(&key) {
            return Ok(name.clone());
        }
        let name = tx.object(kind, id).await?.map(|o| o.name);
        self.objects.insert(key, name.clone());
        Ok(name)
    }

    async fn identity(&mut self, tx: &mut Tx, id: &str) -> ApiResult<Option<String>> {
        if let Some(name) = self.identities.get(id) {
            return Ok(name.clone());
        }
        let name = tx.identity(id).await?.map(|i| i.name);
        self.identities.insert(id.to_owned(), name.clone());
        Ok(name)
    }

    /// `{"type": …, "id": …, "name": …}` for a catalogue object.
    async fn reference(&mut self, tx: &mut Tx, kind: CatalogKind, id: &str) -> ApiResult<Value> {
        let name = self.object(tx, kind, id).await?;
        Ok(json!({ "type": kind.as_str(), "id": id, "name": name }))
    }

    /// `{"type": "IDENTITY", …}` for an identity, or null without one.
    async fn identity_ref(&mut self, tx: &mut Tx, id: Option<&str>) -> ApiResult<Value> {
        let Some(id) = id else { return Ok(Value::Null) };
        let name = self.identity(tx, id).await?;
        Ok(json!({ "type": "IDENTITY", "id": id, "name": name }))
    }
}

/// How many identities match a filter the server wrote.
async fn count_identities(tx: &mut Tx, filter: &str) -> ApiResult<i64> {
    let filter = Filter::parse(filter).map_err(ApiError::internal)?;
    let listing = Listing { filter: Some(&filter), sorters: None, limit: 1, offset: 0, count: true };
    Ok(tx.list_identities(&listing).await?.1.unwrap_or(0))
}
