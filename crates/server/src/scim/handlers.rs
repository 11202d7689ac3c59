//! The one SCIM resource handler: list, search, read, create, replace, patch and delete, written once
//! for every resource type. What differs between Users (accounts of the inbound source) and Groups
//! (its entitlements) is the [`Resource`] each implements: how it is found, stored, rendered, written
//! and audited. Each change is one unit of work of the governance service (`change_pushed`): it holds
//! the inbound source's row, checks `If-Match`, and is committed with its audit entry.

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use scim_v2::filter::Filter;
use serde_json::{Map, Value};
use tessera_governance::push::PushAudit;
use tessera_model::Timestamp;
use tessera_store::{CatalogObject, Tx};

use super::list::ListQuery;
use super::resource::{check_immutable, normalize, require, submitted};
use super::schema::Kind;
use super::{
    Base, Caller, ScimResult, changing_inbound_source, check_if_match, inbound_source, json_body, not_modified, patch,
    resource_response, unchanged,
};
use crate::AppState;

/// What the handlers need of one resource type.
#[allow(async_fn_in_trait)]
pub(crate) trait Resource {
    /// What one resource is stored as.
    type Record;
    const KIND: Kind;
    /// The audit actions' prefix (`scim.user` makes `scim.user.create`…) and their target type.
    const ACTIONS: &'static str;
    const TARGET: &'static str;

    /// Every resource of the source that `filter` may select, rendered (the list narrows further).
    async fn all(
        tx: &mut Tx,
        base: &str,
        source: &CatalogObject,
        filter: Option<&Filter>,
    ) -> ScimResult<Vec<Map<String, Value>>>;
    /// The resource `id`, or 404.
    async fn found(tx: &mut Tx, source_id: &str, id: &str) -> ScimResult<Self::Record>;
    /// Its ETag.
    fn version(record: &Self::Record) -> String;
    /// The resource as its client last wrote it.
    fn stored(record: &Self::Record) -> Map<String, Value>;
    /// The resource as served.
    async fn render(tx: &mut Tx, base: &str, source_id: &str, record: &Self::Record) -> ScimResult<Map<String, Value>>;
    /// Stores `stored` as the resource `id`: new when there is nothing `before`.
    async fn write(
        change: &mut Change<'_>,
        id: &str,
        before: Option<&Self::Record>,
        stored: Map<String, Value>,
    ) -> ScimResult<Self::Record>;
    /// Removes the resource, and what refers to it.
    async fn remove(change: &mut Change<'_>, record: &Self::Record) -> ScimResult<()>;
    /// The audit entry's target id and detail.
    fn audited(source_id: &str, record: &Self::Record) -> (String, Value);
}

/// One request's change, inside the governance service's unit of work: its transaction (holding the
/// inbound source's row), clock reading and source.
pub(crate) struct Change<'a> {
    pub(crate) tx: &'a mut Tx,
    pub(crate) now: Timestamp,
    pub(crate) source: CatalogObject,
}

impl<'a> Change<'a> {
    async fn begin(tx: &'a mut Tx, now: Timestamp) -> ScimResult<Self> {
        let source = changing_inbound_source(tx).await?;
        Ok(Self { tx, now, source })
    }

    /// The answer (none for a deletion) and the audit entry of `action` on `record` (with `more`
    /// in the detail); the service writes the entry and commits.
    async fn finish<R: Resource>(
        self,
        base: &str,
        record: &R::Record,
        action: &str,
        more: Option<(&str, Value)>,
        status: StatusCode,
    ) -> ScimResult<(Response, PushAudit)> {
        let (target_id, mut detail) = R::audited(&self.source.id, record);
        if let Some((key, value)) = more {
            detail[key] = value;
        }
        let audit = PushAudit { action: format!("{}.{action}", R::ACTIONS), target_type: R::TARGET, target_id, detail };
        let answer = match status {
            StatusCode::NO_CONTENT => status.into_response(),
            _ => {
                let body = R::render(self.tx, base, &self.source.id, record).await?;
                resource_response(status, &Value::Object(body), &R::version(record))
            }
        };
        Ok((answer, audit))
    }
}

/// `GET /<Resources>`.
pub(crate) async fn list<R: Resource>(
    State(state): State<AppState>,
    Base(base): Base,
    params: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> ScimResult<Response> {
    respond::<R>(&state, &base, ListQuery::from_params(params, &[R::KIND])?).await
}

/// `POST /<Resources>/.search`.
pub(crate) async fn search<R: Resource>(
    State(state): State<AppState>,
    Base(base): Base,
    body: Bytes,
) -> ScimResult<Response> {
    respond::<R>(&state, &base, ListQuery::from_search(&body, &[R::KIND])?).await
}

/// The source's resources the query selects, as a list response.
async fn respond<R: Resource>(state: &AppState, base: &str, query: ListQuery) -> ScimResult<Response> {
    let mut tx = state.begin().await?;
    let source = inbound_source(&mut tx).await?;
    let found = R::all(&mut tx, base, &source, query.filter.as_ref()).await?;
    Ok(query.respond(found.into_iter().map(|r| (R::KIND, r)).collect()))
}

/// `GET /<Resources>/{id}`, answering 304 to a matching `If-None-Match`.
pub(crate) async fn read<R: Resource>(
    State(state): State<AppState>,
    Base(base): Base,
    Path(id): Path<String>,
    headers: HeaderMap,
    params: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> ScimResult<Response> {
    let query = ListQuery::from_params(params, &[R::KIND])?;
    let mut tx = state.begin().await?;
    let source = inbound_source(&mut tx).await?;
    let record = R::found(&mut tx, &source.id, &id).await?;
    let current = R::version(&record);
    if not_modified(&headers, &current) {
        return Ok(unchanged(&current));
    }
    let body = query.projection.apply(R::KIND, R::render(&mut tx, &base, &source.id, &record).await?);
    Ok(resource_response(StatusCode::OK, &Value::Object(body), &current))
}

/// `POST /<Resources>`: 201 with the new resource.
pub(crate) async fn create<R: Resource>(
    State(state): State<AppState>,
    caller: Caller,
    Base(base): Base,
    body: Bytes,
) -> ScimResult<Response> {
    let stored = submitted(R::KIND, &json_body(&body)?)?;
    let work = async |tx: &mut Tx, now| {
        let mut change = Change::begin(tx, now).await?;
        let id = uuid::Uuid::now_v7().simple().to_string();
        let record = R::write(&mut change, &id, None, stored).await?;
        change.finish::<R>(&base, &record, "create", None, StatusCode::CREATED).await
    };
    state.governance.change_pushed(&caller.actor(), work).await
}

/// `PUT /<Resources>/{id}`: the resource's writable attributes become the body's.
pub(crate) async fn replace<R: Resource>(
    State(state): State<AppState>,
    caller: Caller,
    Base(base): Base,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ScimResult<Response> {
    let stored = submitted(R::KIND, &json_body(&body)?)?;
    let work = async |tx: &mut Tx, now| {
        let mut change = Change::begin(tx, now).await?;
        let before = R::found(change.tx, &change.source.id, &id).await?;
        check_if_match(&headers, &R::version(&before))?;
        check_immutable(R::KIND, &R::stored(&before), &stored)?;
        let record = R::write(&mut change, &id, Some(&before), stored).await?;
        change.finish::<R>(&base, &record, "replace", None, StatusCode::OK).await
    };
    state.governance.change_pushed(&caller.actor(), work).await
}

/// `PATCH /<Resources>/{id}`: the operations apply in order, all or none.
pub(crate) async fn patch<R: Resource>(
    State(state): State<AppState>,
    caller: Caller,
    Base(base): Base,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ScimResult<Response> {
    let operations = patch::parse(&json_body(&body)?)?;
    let work = async |tx: &mut Tx, now| {
        let mut change = Change::begin(tx, now).await?;
        let before = R::found(change.tx, &change.source.id, &id).await?;
        check_if_match(&headers, &R::version(&before))?;
        let mut patched = R::stored(&before);
        for operation in &operations {
            patch::apply(R::KIND, &mut patched, operation)?;
        }
        let stored = normalize(R::KIND, &patched)?;
        require(R::KIND, &stored)?;
        let record = R::write(&mut change, &id, Some(&before), stored).await?;
        let summary = operations.iter().map(patch::Operation::summary).collect();
        change.finish::<R>(&base, &record, "patch", Some(("operations", summary)), StatusCode::OK).await
    };
    state.governance.change_pushed(&caller.actor(), work).await
}

/// `DELETE /<Resources>/{id}`: 204.
pub(crate) async fn delete<R: Resource>(
    State(state): State<AppState>,
    caller: Caller,
    Base(base): Base,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ScimResult<Response> {
    let work = async |tx: &mut Tx, now| {
        let mut change = Change::begin(tx, now).await?;
        let record = R::found(change.tx, &change.source.id, &id).await?;
        check_if_match(&headers, &R::version(&record))?;
        R::remove(&mut change, &record).await?;
        change.finish::<R>(&base, &record, "delete", None, StatusCode::NO_CONTENT).await
    };
    state.governance.change_pushed(&caller.actor(), work).await
}
