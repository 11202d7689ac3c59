//! `POST /v3/search` over the identities index: the query (see `query.rs`) becomes a filter over the
//! stored identities, and each match is answered as ISC's identity search document, with its
//! accounts and access.

use std::collections::HashMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tessera_store::identities::IDENTITIES;
use tessera_store::query::{Filter, SEARCH_SUPPORTED, Sorters, search_filter, search_sort_field};
use tessera_store::{
    AccessGrant, AccessStore, AccountRecord, CatalogKind, CatalogStore, IdentityRecord, IdentityStore, Listing, Tx,
};

use super::{Names, count_identities, listed, quoted, stamp};
use crate::AppState;
use crate::error::{ApiError, ApiResult, JsonBody, QueryParams};

/// The paging parameters of a search; ISC lets a search return up to 10,000 documents at once.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub(crate) struct SearchPage {
    limit: Option<i64>,
    offset: Option<i64>,
    count: Option<bool>,
}

fn refused(message: impl std::fmt::Display) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "unsupported-query", format!("{message}; {SEARCH_SUPPORTED}"))
}

/// A search, as ISC's `/v3/search` takes it; Tessera searches the `identities` index.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SearchBody {
    /// The indices to search: `["identities"]`.
    #[serde(default)]
    indices: Vec<String>,
    /// `SAILPOINT`, the only query type Tessera reads.
    #[serde(default)]
    query_type: Option<String>,
    #[serde(default)]
    query: Option<SearchQuery>,
    /// Fields to sort by, `-` first for descending.
    #[serde(default)]
    sort: Option<Vec<String>>,
}

/// A search's query text.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub(crate) struct SearchQuery {
    #[serde(default)]
    query: Option<String>,
}

/// The filter and sorters a search body asks for.
fn parse(body: SearchBody) -> ApiResult<(Option<Filter>, Option<Sorters>)> {
    if body.indices.is_empty() || body.indices.iter().any(|i| i != "identities") {
        return Err(refused("only the `identities` index can be searched: send \"indices\": [\"identities\"]"));
    }
    if let Some(kind) = body.query_type.as_deref()
        && kind != "SAILPOINT"
    {
        return Err(refused(format!("queryType `{kind}` is not supported, only SAILPOINT")));
    }
    let Some(text) = body.query.and_then(|q| q.query) else {
        return Err(refused("the body needs \"query\": {\"query\": \"…\"}"));
    };
    let filter = search_filter(&text).map_err(refused)?;
    let sorters = match body.sort {
        None => None,
        Some(items) if items.is_empty() => None,
        Some(items) => {
            let mut fields = Vec::with_capacity(items.len());
            for item in &items {
                fields.push(search_sort_field(item).ok_or_else(|| refused(format!("cannot sort by \"{item}\"")))?);
            }
            Some(Sorters::parse(&fields.join(","), &IDENTITIES).map_err(refused)?)
        }
    };
    Ok((filter, sorters))
}

/// `POST /v3/search`.
pub(crate) async fn search(
    State(state): State<AppState>,
    QueryParams(page): QueryParams<SearchPage>,
    JsonBody(body): JsonBody<SearchBody>,
) -> ApiResult<Response> {
    let bounds = super::ListQuery { limit: page.limit, offset: page.offset, ..Default::default() };
    let (limit, offset) = bounds.bounds(10_000)?;
    let (filter, sorters) = parse(body)?;
    let listing = Listing {
        filter: filter.as_ref(),
        sorters: sorters.as_ref(),
        limit,
        offset,
        count: page.count.unwrap_or(false),
    };
    let mut tx = state.begin().await?;
    let (identities, total) = tx.list_identities(&listing).await?;
    let documents = documents(&mut tx, &identities).await?;
    Ok(listed(documents, total))
}

/// ISC's identity search documents for `identities`, their accounts and access read in bulk.
async fn documents(tx: &mut Tx, identities: &[IdentityRecord]) -> ApiResult<Vec<Value>> {
    let ids: Vec<String> = identities.iter().map(|i| i.id.to_string()).collect();
    let mut accounts: HashMap<String, Vec<AccountRecord>> = HashMap::new();
    for account in tx.accounts_of(&ids).await? {
        accounts.entry(account.identity_id.clone().unwrap_or_default()).or_default().push(account);
    }
    let mut access: HashMap<String, Vec<AccessGrant>> = HashMap::new();
    for grant in tx.access_of(&ids).await? {
        access.entry(grant.identity_id.clone()).or_default().push(grant);
    }
    let mut names = Names::default();
    let mut out = Vec::with_capacity(identities.len());
    for identity in identities {
        let accounts = accounts.remove(identity.id.as_str()).unwrap_or_default();
        let grants = access.remove(identity.id.as_str()).unwrap_or_default();
        out.push(document(tx, &mut names, identity, &accounts, &grants).await?);
    }
    Ok(out)
}

async fn document(
    tx: &mut Tx,
    names: &mut Names,
    identity: &IdentityRecord,
    accounts: &[AccountRecord],
    grants: &[AccessGrant],
) -> ApiResult<Value> {
    let mut attributes: Map<String, Value> = identity.attributes.clone();
    if let Some(state) = &identity.lifecycle_state {
        attributes.insert("cloudLifecycleState".into(), json!(state));
    }
    let text = |key: &str| attributes.get(key).cloned().unwrap_or(Value::Null);
    let manager = match identity.manager_id.as_deref() {
        Some(id) => {
            let name = names.identity(tx, id).await?;
            json!({ "id": id, "name": name, "displayName": name })
        }
        None => Value::Null,
    };
    let (profile, source) = match identity.profile_id.as_deref() {
        Some(id) => match tx.object(CatalogKind::IdentityProfile, id).await? {
            Some(profile) => {
                let source_name = names.object(tx, CatalogKind::Source, &profile.parent_id).await?;
                (
                    json!({ "id": profile.id, "name": profile.name }),
                    json!({ "id": profile.parent_id, "name": source_name }),
                )
            }
            None => (Value::Null, Value::Null),
        },
        None => (Value::Null, Value::Null),
    };
    let mut account_docs = Vec::with_capacity(accounts.len());
    for account in accounts {
        let source_name = names.object(tx, CatalogKind::Source, &account.source_id).await?;
        account_docs.push(json!({
            "id": account.id,
            "name": account.name,
            "accountId": account.native_identity,
            "source": { "id": account.source_id, "name": source_name, "type": "SOURCE" },
            "disabled": account.disabled,
            "locked": account.locked,
            "manuallyCorrelated": account.manually_correlated,
        }));
    }
    let mut access_docs = Vec::with_capacity(grants.len());
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for grant in grants {
        let Some(kind) = CatalogKind::of_access(&grant.kind) else { continue };
        *counts.entry(kind.as_str()).or_default() += 1;
        let name = names.object(tx, kind, &grant.object_id).await?;
        access_docs.push(json!({
            "id": grant.object_id, "name": name, "displayName": name, "type": kind.as_str(), "origin": grant.origin,
        }));
    }
    let is_manager = count_identities(tx, &format!("manager.id eq {}", quoted(&identity.id))).await? > 0;
    Ok(json!({
        "id": identity.id,
        "name": identity.name,
        "_type": "identity",
        "type": "identity",
        "displayName": identity.name,
        "firstName": text("firstname"),
        "lastName": text("lastname"),
        "email": identity.email,
        "created": stamp(identity.created_at),
        "modified": stamp(identity.modified_at),
        "inactive": identity.status == tessera_model::IdentityStatus::Inactive,
        "status": identity.status,
        "processingState": null,
        "manager": manager,
        "isManager": is_manager,
        "identityProfile": profile,
        "source": source,
        "attributes": attributes,
        "accounts": account_docs,
        "accountCount": accounts.len(),
        "access": access_docs,
        "accessCount": grants.len(),
        "roleCount": counts.get("ROLE").copied().unwrap_or(0),
        "accessProfileCount": counts.get("ACCESS_PROFILE").copied().unwrap_or(0),
        "entitlementCount": counts.get("ENTITLEMENT").copied().unwrap_or(0),
    }))
}
