//! Identities and accounts in ISC's shapes (`/beta/identities`, `/v3/accounts`): lists with filters,
//! sorters and counts, single reads, deleting an identity (publishing `idn:identity-deleted`), and
//! setting an identity's lifecycle state by hand through the engine.

use std::collections::HashMap;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use tessera_governance::shapes;
use tessera_store::Tx;
use tessera_store::identities::{ACCOUNTS, IDENTITIES};
use tessera_store::{AccountRecord, CatalogKind, CatalogObject, CatalogStore, IdentityRecord, IdentityStore};

use super::{ListQuery, count_identities, listed, new_id, quoted};
use crate::AppState;
use crate::auth::Principal;
use crate::body::NonBlank;
use crate::error::{ApiError, ApiResult, JsonBody, PathParams, QueryParams};

/// An identity as ISC's `GET /beta/identities/{id}` shows it.
pub(super) async fn identity_shape(tx: &mut Tx, identity: &IdentityRecord) -> ApiResult<Value> {
    let is_manager = count_identities(tx, &format!("manager.id eq {}", quoted(&identity.id))).await? > 0;
    let manager = match identity.manager_id.as_deref() {
        Some(id) => tx.identity(id).await?,
        None => None,
    };
    Ok(shapes::identity(identity, manager.as_ref(), is_manager))
}

async fn load(tx: &mut Tx, id: &str) -> ApiResult<IdentityRecord> {
    tx.identity(id).await?.ok_or_else(|| ApiError::not_found("identity", id))
}

pub(crate) async fn list(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<ListQuery>,
) -> ApiResult<Response> {
    let page = query.page(&IDENTITIES)?;
    let mut tx = state.begin().await?;
    let (identities, total) = tx.list_identities(&page.listing()).await?;
    let mut items = Vec::with_capacity(identities.len());
    for identity in &identities {
        items.push(identity_shape(&mut tx, identity).await?);
    }
    Ok(listed(items, total))
}

pub(crate) async fn read(State(state): State<AppState>, PathParams(id): PathParams<String>) -> ApiResult<Json<Value>> {
    let mut tx = state.begin().await?;
    let identity = load(&mut tx, &id).await?;
    Ok(Json(identity_shape(&mut tx, &identity).await?))
}

/// `DELETE /beta/identities/{id}`: the identity goes with what it holds; its accounts stay, uncorrelated.
pub(crate) async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(id): PathParams<String>,
) -> ApiResult<StatusCode> {
    state.governance.delete_identity(&id, &principal.actor()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `set-lifecycle-state`'s body.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LifecycleStateBody {
    /// The id or technical name of a lifecycle state of the identity's profile.
    lifecycle_state_id: NonBlank,
}

/// `POST /v3/identities/{id}/set-lifecycle-state` with `{"lifecycleStateId": "…"}` (an id or technical name of
/// a state of the identity's profile); answers ISC's `{"accountActivityId": …}`.
pub(crate) async fn set_lifecycle_state(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(id): PathParams<String>,
    JsonBody(LifecycleStateBody { lifecycle_state_id }): JsonBody<LifecycleStateBody>,
) -> ApiResult<Json<Value>> {
    let wanted = lifecycle_state_id.as_str();
    {
        let mut tx = state.begin().await?;
        load(&mut tx, &id).await?;
    }
    let activity = new_id();
    state.governance.set_lifecycle_state(&id, wanted, &principal.actor(), &activity).await?;
    Ok(Json(json!({ "accountActivityId": activity })))
}

/// The sources accounts live on, read once per request.
#[derive(Debug, Default)]
struct Sources(HashMap<String, Option<CatalogObject>>);

impl Sources {
    async fn get(&mut self, tx: &mut Tx, id: &str) -> ApiResult<Option<&CatalogObject>> {
        if !self.0.contains_key(id) {
            let source = tx.object(CatalogKind::Source, id).await?;
            self.0.insert(id.to_owned(), source);
        }
        Ok(self.0.get(id).and_then(Option::as_ref))
    }
}

/// Shapes accounts, reading their sources and identities in bulk.
async fn accounts_shaped(tx: &mut Tx, accounts: &[AccountRecord]) -> ApiResult<Vec<Value>> {
    let ids: Vec<String> = accounts.iter().filter_map(|a| a.identity_id.clone()).collect();
    let identities: HashMap<String, IdentityRecord> =
        tx.identities_by_ids(&ids).await?.into_iter().map(|i| (i.id.to_string(), i)).collect();
    let mut sources = Sources::default();
    let mut out = Vec::with_capacity(accounts.len());
    for account in accounts {
        let source = sources.get(tx, &account.source_id).await?;
        let identity = account.identity_id.as_ref().and_then(|id| identities.get(id));
        out.push(shapes::account(account, source, identity));
    }
    Ok(out)
}

pub(crate) async fn list_accounts(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<ListQuery>,
) -> ApiResult<Response> {
    let page = query.page(&ACCOUNTS)?;
    let mut tx = state.begin().await?;
    let (accounts, total) = tx.list_accounts(&page.listing()).await?;
    Ok(listed(accounts_shaped(&mut tx, &accounts).await?, total))
}

pub(crate) async fn account(
    State(state): State<AppState>,
    PathParams(id): PathParams<String>,
) -> ApiResult<Json<Value>> {
    let mut tx = state.begin().await?;
    let account = tx.account(&id).await?.ok_or_else(|| ApiError::not_found("account", &id))?;
    let mut shaped = accounts_shaped(&mut tx, std::slice::from_ref(&account)).await?;
    Ok(Json(shaped.pop().unwrap_or(Value::Null)))
}
