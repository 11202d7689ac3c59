//! Create, read, list, replace, JSON-Patch and delete for every kind of catalogue object, one set of
//! handlers told the kind by the route: each kind's module checks a submitted document into a
//! [`Draft`] and renders a stored object in ISC's shape. Every change is audited in its transaction;
//! sources also publish their `idn:source-*` events there.

use std::collections::HashMap;

use axum::extract::{FromRequestParts, RawPathParams, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{Value, json};
use tessera_store::{CatalogKind, CatalogObject, CatalogStore, Tx};

use super::{ListQuery, Names, catalog, listed, new_id, profiles, sources, stamp, workgroups};
use crate::AppState;
use crate::auth::{self, Principal};
use crate::body::{Document, JsonPatch};
use crate::error::{ApiError, ApiResult, JsonBody, QueryParams};

/// The kind of catalogue object a route serves.
pub(crate) type Kind = CatalogKind;

/// What the API makes of each kind of catalogue object: its name in messages, the scopes that read
/// and change it, the fields the server owns.
pub(crate) trait Served: Copy {
    fn what(self) -> &'static str;
    fn reading(self) -> &'static [&'static str];
    fn changing(self) -> &'static [&'static str];
    fn summary(self, verb: &str) -> String;
    fn owned(self) -> &'static [&'static str];
    fn unique_name(self) -> bool;
}

impl Served for Kind {
    /// What messages call it.
    fn what(self) -> &'static str {
        match self {
            Kind::Source => "source",
            Kind::Entitlement => "entitlement",
            Kind::AccessProfile => "access profile",
            Kind::Role => "role",
            Kind::IdentityProfile => "identity profile",
            Kind::LifecycleState => "lifecycle state",
            Kind::Workgroup => "governance group",
        }
    }

    /// The scopes that read it, any one of which will do (ISC lets a manage scope read).
    fn reading(self) -> &'static [&'static str] {
        match self {
            Kind::Source => &[auth::SOURCES_READ, auth::SOURCES_MANAGE],
            Kind::Entitlement => &[auth::ENTITLEMENT_READ, auth::ENTITLEMENT_MANAGE],
            Kind::AccessProfile => &[auth::ACCESS_PROFILE_READ, auth::ACCESS_PROFILE_MANAGE],
            Kind::Role => &[auth::ROLE_READ, auth::ROLE_MANAGE],
            Kind::IdentityProfile | Kind::LifecycleState => {
                &[auth::IDENTITY_PROFILE_READ, auth::IDENTITY_PROFILE_MANAGE]
            }
            Kind::Workgroup => &[auth::WORKGROUP_READ, auth::WORKGROUP_MANAGE],
        }
    }

    /// The scope that changes it.
    fn changing(self) -> &'static [&'static str] {
        &self.reading()[1..]
    }

    /// A summary of an operation on this kind: `verb` and the kind's name.
    fn summary(self, verb: &str) -> String {
        let what = self.what();
        match verb {
            "List" => format!("List {what}s"),
            _ => format!("{verb} a {what}"),
        }
    }

    /// Fields the server sets, dropped from what a caller sends.
    fn owned(self) -> &'static [&'static str] {
        match self {
            Kind::Source => &["id", "created", "modified", "healthy", "status", "since"],
            Kind::IdentityProfile => {
                &["id", "created", "modified", "identityCount", "identityRefreshRequired", "hasTimeBasedAttr"]
            }
            Kind::LifecycleState => &["id", "created", "modified", "identityCount"],
            Kind::Entitlement => &["id", "created", "modified", "cloudGoverned"],
            Kind::Workgroup => &["id", "created", "modified", "memberCount", "connectionCount"],
            _ => &["id", "created", "modified"],
        }
    }

    /// Whether no two objects of the kind, under any parent, may share a name.
    fn unique_name(self) -> bool {
        !matches!(self, Kind::Entitlement | Kind::LifecycleState)
    }
}

pub(super) use tessera_governance::objects::Draft;

/// The path parameters of a route, by name, in the API's error shape when they are unreadable.
#[derive(Debug)]
pub(crate) struct PathIds(HashMap<String, String>);

impl crate::openapi::signature::Input for PathIds {}

impl<S: Send + Sync> FromRequestParts<S> for PathIds {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let raw = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|rejection| ApiError::bad_request(rejection.body_text()))?;
        Ok(Self(raw.iter().map(|(name, value)| (name.to_owned(), value.to_owned())).collect()))
    }
}

impl PathIds {
    /// (the parent from the path, the member's id): a lifecycle state's parent is its profile.
    fn split(&self, kind: Kind) -> (Option<&str>, Option<&str>) {
        let get = |name: &str| self.0.get(name).map(String::as_str);
        match kind {
            Kind::LifecycleState => (get("id"), get("state")),
            _ => (None, get("id")),
        }
    }
}

/// The identity profile named by the path, which must exist.
async fn parent(tx: &mut Tx, kind: Kind, ids: &PathIds) -> ApiResult<Option<String>> {
    let (parent, _) = ids.split(kind);
    match parent {
        Some(id) => match tx.object(CatalogKind::IdentityProfile, id).await? {
            Some(profile) => Ok(Some(profile.id)),
            None => Err(ApiError::not_found("identity profile", id)),
        },
        None => Ok(None),
    }
}

/// The object a member route names, which must exist (under the path's parent, if any).
async fn load(tx: &mut Tx, kind: Kind, ids: &PathIds) -> ApiResult<CatalogObject> {
    let parent = parent(tx, kind, ids).await?;
    let id = ids.split(kind).1.unwrap_or_default();
    tx.object(kind, id)
        .await?
        .filter(|o| parent.as_ref().is_none_or(|p| *p == o.parent_id))
        .ok_or_else(|| ApiError::not_found(kind.what(), id))
}

/// `body` less the fields the server owns.
fn submitted(kind: Kind, body: &Value) -> Value {
    let mut body = body.clone();
    if let Value::Object(members) = &mut body {
        for owned in kind.owned() {
            members.remove(*owned);
        }
    }
    body
}

async fn prepare(
    state: &AppState,
    kind: Kind,
    tx: &mut Tx,
    body: &Value,
    parent: Option<&str>,
    current: Option<&CatalogObject>,
) -> ApiResult<Draft> {
    let body = submitted(kind, body);
    let draft = match kind {
        Kind::Source => sources::prepare(tx, &body, current, &state.governance.config().imports).await?,
        Kind::Entitlement => catalog::prepare_entitlement(tx, &body).await?,
        Kind::AccessProfile => catalog::prepare_access_profile(tx, &body).await?,
        Kind::Role => catalog::prepare_role(tx, &body).await?,
        Kind::IdentityProfile => profiles::prepare_profile(tx, &body).await?,
        Kind::LifecycleState => profiles::prepare_state(tx, &body, parent.unwrap_or_default(), current).await?,
        Kind::Workgroup => workgroups::prepare(tx, &body).await?,
    };
    check_unique(kind, tx, &draft, current).await?;
    Ok(draft)
}

/// Refuses a name another object of the kind has, and a second profile on one source, with 409.
async fn check_unique(kind: Kind, tx: &mut Tx, draft: &Draft, current: Option<&CatalogObject>) -> ApiResult<()> {
    let me = current.map(|c| c.id.as_str());
    let conflict = |message: String| ApiError::new(StatusCode::CONFLICT, "conflict", message);
    if kind.unique_name()
        && let Some(other) = tx.object_named(kind, &draft.name).await?
        && Some(other.id.as_str()) != me
        && other.name.eq_ignore_ascii_case(&draft.name)
    {
        return Err(conflict(format!("a {} named `{}` already exists (id {})", kind.what(), other.name, other.id)));
    }
    if kind == Kind::IdentityProfile
        && let Some(other) = tx
            .objects_of(CatalogKind::IdentityProfile, &draft.parent_id)
            .await?
            .into_iter()
            .find(|o| Some(o.id.as_str()) != me)
    {
        return Err(conflict(format!(
            "source {} is already the authoritative source of identity profile `{}` (id {})",
            draft.parent_id, other.name, other.id
        )));
    }
    Ok(())
}

pub(super) async fn render(kind: Kind, tx: &mut Tx, names: &mut Names, object: &CatalogObject) -> ApiResult<Value> {
    let mut body = match kind {
        Kind::Source => sources::render(tx, names, object).await?,
        Kind::Entitlement => catalog::render_entitlement(tx, names, object).await?,
        Kind::AccessProfile => catalog::render_access_profile(tx, names, object).await?,
        Kind::Role => catalog::render_role(tx, names, object).await?,
        Kind::IdentityProfile => profiles::render_profile(tx, names, object).await?,
        Kind::LifecycleState => profiles::render_state(tx, object).await?,
        Kind::Workgroup => workgroups::render(tx, names, object).await?,
    };
    if let Value::Object(members) = &mut body {
        members.insert("id".into(), json!(object.id));
        members.insert("name".into(), json!(object.name));
        members.insert("created".into(), json!(stamp(object.created_at)));
        members.insert("modified".into(), json!(stamp(object.modified_at)));
    }
    Ok(body)
}

pub(crate) async fn create(
    State(state): State<AppState>,
    Extension(kind): Extension<Kind>,
    principal: Principal,
    ids: PathIds,
    JsonBody(Document(body)): JsonBody<Document>,
) -> ApiResult<Response> {
    let make = async |tx: &mut Tx| {
        let parent = parent(tx, kind, &ids).await?;
        prepare(&state, kind, tx, &body, parent.as_deref(), None).await
    };
    let object = state.governance.create_object(kind, &principal.actor(), make).await?;
    let out = answer(&state, kind, &object).await?;
    // ISC answers 201 for every kind but governance groups, whose creation answers 200.
    let status = if kind == Kind::Workgroup { StatusCode::OK } else { StatusCode::CREATED };
    Ok((status, Json(out)).into_response())
}

pub(crate) async fn read(
    State(state): State<AppState>,
    Extension(kind): Extension<Kind>,
    ids: PathIds,
) -> ApiResult<Json<Value>> {
    let mut tx = state.begin().await?;
    let object = load(&mut tx, kind, &ids).await?;
    Ok(Json(render(kind, &mut tx, &mut Names::default(), &object).await?))
}

pub(crate) async fn list(
    State(state): State<AppState>,
    Extension(kind): Extension<Kind>,
    ids: PathIds,
    QueryParams(query): QueryParams<ListQuery>,
) -> ApiResult<Response> {
    let page = query.page(tessera_store::catalog::resource_of(kind))?;
    let mut tx = state.begin().await?;
    let parent = parent(&mut tx, kind, &ids).await?;
    let (objects, total) = tx.list_objects(kind, parent.as_deref(), &page.listing()).await?;
    let mut names = Names::default();
    let mut items = Vec::with_capacity(objects.len());
    for object in &objects {
        items.push(render(kind, &mut tx, &mut names, object).await?);
    }
    Ok(listed(items, total))
}

/// What a `PUT` or `PATCH` asks for: the object's new body, or a JSON Patch over it as `GET` shows it.
enum Edit<'a> {
    Replace(&'a Value),
    Patch(&'a json_patch::Patch),
}

/// Changes the object as `edit` asks, in the service's transaction that holds its row from the read
/// to the write, so two concurrent changes on PostgreSQL apply one after the other instead of the
/// later silently undoing the earlier.
async fn change(
    state: &AppState,
    principal: &Principal,
    kind: Kind,
    ids: &PathIds,
    edit: Edit<'_>,
) -> ApiResult<Value> {
    let id = ids.split(kind).1.unwrap_or_default();
    let make = async |tx: &mut Tx, current: &CatalogObject| {
        let parent = parent(tx, kind, ids).await?;
        if parent.as_ref().is_some_and(|p| *p != current.parent_id) {
            return Err(ApiError::not_found(kind.what(), id));
        }
        let patched;
        let body = match edit {
            Edit::Replace(body) => body,
            Edit::Patch(operations) => {
                let mut view = render(kind, tx, &mut Names::default(), current).await?;
                json_patch::patch(&mut view, operations)
                    .map_err(|e| ApiError::bad_request(format!("the patch does not apply: {e}")))?;
                patched = view;
                &patched
            }
        };
        prepare(state, kind, tx, body, parent.as_deref(), Some(current)).await
    };
    let object = state.governance.change_object(kind, id, &principal.actor(), make).await?;
    answer(state, kind, &object).await
}

/// The stored object in ISC's shape.
async fn answer(state: &AppState, kind: Kind, object: &CatalogObject) -> ApiResult<Value> {
    let mut tx = state.begin().await?;
    render(kind, &mut tx, &mut Names::default(), object).await
}

/// `PUT`: the body replaces the object.
pub(crate) async fn replace(
    State(state): State<AppState>,
    Extension(kind): Extension<Kind>,
    principal: Principal,
    ids: PathIds,
    JsonBody(Document(body)): JsonBody<Document>,
) -> ApiResult<Json<Value>> {
    Ok(Json(change(&state, &principal, kind, &ids, Edit::Replace(&body)).await?))
}

/// `PATCH` with a JSON Patch (RFC 6902) over the object as `GET` shows it.
pub(crate) async fn patch(
    State(state): State<AppState>,
    Extension(kind): Extension<Kind>,
    principal: Principal,
    ids: PathIds,
    JsonBody(JsonPatch(operations)): JsonBody<JsonPatch>,
) -> ApiResult<Json<Value>> {
    Ok(Json(change(&state, &principal, kind, &ids, Edit::Patch(&operations)).await?))
}

pub(crate) async fn delete(
    State(state): State<AppState>,
    Extension(kind): Extension<Kind>,
    principal: Principal,
    ids: PathIds,
) -> ApiResult<Response> {
    let id = ids.split(kind).1.unwrap_or_default();
    let before = async |tx: &mut Tx, object: &CatalogObject| {
        let parent = parent(tx, kind, &ids).await?;
        if parent.as_ref().is_some_and(|p| *p != object.parent_id) {
            return Err(ApiError::not_found(kind.what(), id));
        }
        Ok(())
    };
    let object = state.governance.delete_object(kind, id, &principal.actor(), before).await?;
    let now = state.now();
    // ISC answers these deletions with 202 and a task; here they are done when answered.
    let accepted = |body: Value| (StatusCode::ACCEPTED, Json(body)).into_response();
    Ok(match kind {
        Kind::Source => accepted(json!({ "type": "TASK_RESULT", "id": new_id(), "name": null })),
        Kind::IdentityProfile => accepted(json!({
            "id": new_id(),
            "name": format!("Identity Profile Deletion: {}", object.name),
            "description": format!("Deleted identity profile {}", object.id),
            "launcher": principal.actor(),
            "launched": stamp(now),
            "completed": stamp(now),
            "completionStatus": "Success",
        })),
        Kind::LifecycleState => accepted(json!({ "type": "LIFECYCLE_STATE", "id": object.id, "name": object.name })),
        _ => StatusCode::NO_CONTENT.into_response(),
    })
}
