//! The actions that read the governed world: `sp:get-identity`, `sp:get-identities`,
//! `sp:get-accounts` and `sp:access:get`, answered from the store in ISC's shapes.

use std::collections::HashMap;

use serde_json::{Map, Value, json};
use tessera_store::query::{Filter, SEARCH_SUPPORTED, quoted, search_filter};
use tessera_store::{
    AccessGrant, AccessStore, CatalogKind, CatalogObject, CatalogStore, IdentityRecord, IdentityStore, Listing, Store,
};

use super::{ActionError, type_name};
use crate::shapes;

/// The most identities `sp:get-identities` returns.
const MAX_IDENTITIES: i64 = 250;

/// Reads identities, accounts and access for workflows.
#[derive(Debug, Clone)]
pub struct IdentityActions {
    store: Store,
}

fn text<'a>(input: &'a Map<String, Value>, key: &str) -> Result<Option<&'a str>, ActionError> {
    match input.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str()).filter(|s| !s.trim().is_empty())),
        Some(other) => Err(ActionError::permanent(format!("`{key}` must be a string, not {}", type_name(other)))),
    }
}

fn required<'a>(input: &'a Map<String, Value>, key: &str) -> Result<&'a str, ActionError> {
    text(input, key)?.ok_or_else(|| ActionError::permanent(format!("`{key}` is required")))
}

fn flag(input: &Map<String, Value>, key: &str, default: bool) -> bool {
    match input.get(key) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => default,
    }
}

fn store_error(error: tessera_store::Error) -> ActionError {
    match error {
        tessera_store::Error::Query(e) => ActionError::permanent(format!("the query is not valid: {e}")),
        other => ActionError::retryable(format!("reading the store failed: {other}")),
    }
}

impl IdentityActions {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Performs one of this module's actions.
    /// Whether `action` is one of these.
    pub fn performs(action: &str) -> bool {
        matches!(action, "sp:get-identity" | "sp:get-identities" | "sp:get-accounts" | "sp:access:get")
    }

    pub async fn perform(&self, action: &str, input: &Map<String, Value>) -> Result<Value, ActionError> {
        match action {
            "sp:get-identity" => self.get_identity(required(input, "id")?).await,
            "sp:get-identities" => self.get_identities(input).await,
            "sp:get-accounts" => self.get_accounts(input).await,
            "sp:access:get" => self.get_access(input).await,
            other => Err(ActionError::permanent(format!("`{other}` is not an identity action"))),
        }
    }

    async fn documents(&self, identities: &[IdentityRecord]) -> Result<Vec<Value>, ActionError> {
        let mut tx = self.store.begin().await.map_err(store_error)?;
        let manager_ids: Vec<String> =
            identities.iter().filter_map(|i| i.manager_id.as_ref().map(ToString::to_string)).collect();
        let managers: HashMap<String, IdentityRecord> = tx
            .identities_by_ids(&manager_ids)
            .await
            .map_err(store_error)?
            .into_iter()
            .map(|m| (m.id.to_string(), m))
            .collect();
        let mut documents = Vec::with_capacity(identities.len());
        for identity in identities {
            let filter = Filter::parse(&format!("manager.id eq {}", quoted(&identity.id))).map_err(|e| {
                ActionError::permanent(format!("identity id `{}` cannot be searched: {e}", identity.id))
            })?;
            let listing = Listing { filter: Some(&filter), limit: 1, ..Listing::default() };
            let reports = tx.list_identities(&listing).await.map_err(store_error)?.0;
            let manager = identity.manager_id.as_ref().and_then(|m| managers.get(m.as_str()));
            documents.push(shapes::identity(identity, manager, !reports.is_empty()));
        }
        Ok(documents)
    }

    async fn get_identity(&self, id: &str) -> Result<Value, ActionError> {
        let mut tx = self.store.begin().await.map_err(store_error)?;
        let identity = tx
            .identity(id)
            .await
            .map_err(store_error)?
            .ok_or_else(|| ActionError::permanent(format!("identity `{id}` not found")))?;
        drop(tx);
        Ok(self.documents(std::slice::from_ref(&identity)).await?.remove(0))
    }

    async fn get_identities(&self, input: &Map<String, Value>) -> Result<Value, ActionError> {
        let by_attribute = text(input, "searchBy")? == Some("attribute");
        let filter = if by_attribute {
            let attribute = required(input, "attribute")?;
            let value = text(input, "value")?.unwrap_or_default();
            let field = if attribute.contains('.') || ["id", "name", "email", "alias"].contains(&attribute) {
                attribute.to_owned()
            } else {
                format!("attributes.{attribute}")
            };
            Some(
                Filter::parse(&format!("{field} eq {}", quoted(value)))
                    .map_err(|e| ActionError::permanent(e.to_string()))?,
            )
        } else {
            search_filter(text(input, "inputQuery")?.unwrap_or("*")).map_err(|e| {
                ActionError::permanent(format!(
                    "`inputQuery` is not a search Tessera understands: {e}; {SEARCH_SUPPORTED}"
                ))
            })?
        };
        let limit = input.get("limit").and_then(Value::as_i64).unwrap_or(MAX_IDENTITIES).clamp(1, MAX_IDENTITIES);
        let mut tx = self.store.begin().await.map_err(store_error)?;
        let listing = Listing { filter: filter.as_ref(), limit, ..Listing::default() };
        let identities = tx.list_identities(&listing).await.map_err(store_error)?.0;
        drop(tx);
        Ok(json!({"identities": self.documents(&identities).await?}))
    }

    async fn get_accounts(&self, input: &Map<String, Value>) -> Result<Value, ActionError> {
        let mut tx = self.store.begin().await.map_err(store_error)?;
        let accounts = if text(input, "getAccountsBy")? == Some("filters") {
            let field = required(input, "filterCriteria")?;
            let operator = text(input, "operator")?.unwrap_or("eq");
            let value = quoted(text(input, "value")?.unwrap_or_default());
            let filter = Filter::parse(&format!("{field} {operator} {value}"))
                .map_err(|e| ActionError::permanent(format!("the account filter is not valid: {e}")))?;
            let listing = Listing { filter: Some(&filter), limit: 250, ..Listing::default() };
            tx.list_accounts(&listing).await.map_err(store_error)?.0
        } else {
            let identity = required(input, "identity")?.to_owned();
            tx.accounts_of(&[identity]).await.map_err(store_error)?
        };
        let sources: HashMap<String, CatalogObject> = tx
            .all_objects(CatalogKind::Source)
            .await
            .map_err(store_error)?
            .into_iter()
            .map(|s| (s.id.clone(), s))
            .collect();
        let documents: Vec<Value> =
            accounts.iter().map(|a| shapes::account(a, sources.get(&a.source_id), None)).collect();
        Ok(json!({"accounts": documents}))
    }

    async fn get_access(&self, input: &Map<String, Value>) -> Result<Value, ActionError> {
        let wanted = [
            ("ROLE", flag(input, "roles", true)),
            ("ACCESS_PROFILE", flag(input, "accessprofiles", true)),
            ("ENTITLEMENT", flag(input, "entitlements", true)),
        ];
        let mut tx = self.store.begin().await.map_err(store_error)?;
        let mut items = Vec::new();
        if text(input, "getAccessBy")? == Some("searchQuery") {
            // A search over the catalogue: each wanted kind whose objects match the query.
            let filter = search_filter(text(input, "query")?.unwrap_or("*"))
                .map_err(|e| ActionError::permanent(format!("`query` is not a search Tessera understands: {e}")))?;
            for (kind, catalog_kind) in [
                ("ROLE", CatalogKind::Role),
                ("ACCESS_PROFILE", CatalogKind::AccessProfile),
                ("ENTITLEMENT", CatalogKind::Entitlement),
            ] {
                if !wanted.iter().any(|(k, on)| *k == kind && *on) {
                    continue;
                }
                let listing = Listing { filter: filter.as_ref(), limit: 250, ..Listing::default() };
                for object in tx.list_objects(catalog_kind, None, &listing).await.map_err(store_error)?.0 {
                    let grant = AccessGrant {
                        identity_id: String::new(),
                        kind: kind.to_owned(),
                        object_id: object.id.clone(),
                        origin: String::new(),
                        granted_at: object.created_at,
                        granted_by: None,
                    };
                    items.push(shapes::access_item(&grant, Some(&object)));
                }
            }
        } else {
            let identity = required(input, "identityToReturn")?.to_owned();
            for grant in tx.access_of(&[identity]).await.map_err(store_error)? {
                if !wanted.iter().any(|(k, on)| *k == grant.kind && *on) {
                    continue;
                }
                let object = match CatalogKind::of_access(&grant.kind) {
                    Some(kind) => tx.object(kind, &grant.object_id).await.map_err(store_error)?,
                    None => None,
                };
                items.push(shapes::access_item(&grant, object.as_ref()));
            }
        }
        Ok(json!({"accessItems": items}))
    }
}
