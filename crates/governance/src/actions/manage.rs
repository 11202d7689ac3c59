//! The actions that change the governed world: `sp:access:manage` (grant or revoke roles, access
//! profiles and entitlements, with `startDate` and `removeDuration` for access that starts or ends
//! later), `sp:manage-account` (enable, disable, unlock or delete accounts) and `tessera:provision`
//! (explicit account requests). Each records its output under the attempt's key in the transaction
//! of its change, so a repeated attempt answers the same and changes nothing twice.

use serde_json::{Map, Value, json};
use tessera_model::Timestamp;
use tessera_store::{ChangeStore, Tx};

use super::{ActionError, type_name};
use crate::{AccessChange, AccessItem, ExplicitRequest};
use crate::{Error, Governance};

/// The action ids this module performs.
pub(crate) const ACTIONS: [&str; 3] = ["sp:access:manage", "sp:manage-account", "tessera:provision"];

fn refused(error: Error) -> ActionError {
    match error {
        Error::Store(e) => ActionError::retryable(format!("the store failed: {e}")),
        other => ActionError::permanent(other.to_string()),
    }
}

/// One id or a list of ids (strings, or objects with an `id`), as workflows pass them.
fn ids(input: &Map<String, Value>, key: &str) -> Result<Vec<String>, ActionError> {
    fn one(value: &Value, key: &str, out: &mut Vec<String>) -> Result<(), ActionError> {
        match value {
            Value::String(s) if !s.trim().is_empty() => out.push(s.trim().to_owned()),
            Value::Object(o) => match o.get("id").and_then(Value::as_str) {
                Some(id) => out.push(id.to_owned()),
                None => return Err(ActionError::permanent(format!("an element of `{key}` has no `id`"))),
            },
            Value::Array(list) => {
                for v in list {
                    one(v, key, out)?;
                }
            }
            Value::Null => {}
            other => {
                return Err(ActionError::permanent(format!(
                    "`{key}` must be an id or a list of ids, not {}",
                    type_name(other)
                )));
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    if let Some(value) = input.get(key) {
        one(value, key, &mut out)?;
    }
    Ok(out)
}

/// `requestedItems`: `{id, type}` objects (one, or a list), as `sp:access:get` returns them.
fn items(input: &Map<String, Value>) -> Result<Vec<AccessItem>, ActionError> {
    let list = match input.get("requestedItems") {
        None | Some(Value::Null) => return Err(ActionError::permanent("`requestedItems` is required")),
        Some(Value::Array(list)) => list.clone(),
        Some(one @ Value::Object(_)) => vec![one.clone()],
        Some(other) => {
            return Err(ActionError::permanent(format!(
                "`requestedItems` must be a list of {{id, type}} objects, not {}",
                type_name(other)
            )));
        }
    };
    let mut items = Vec::with_capacity(list.len());
    for (n, item) in list.iter().enumerate() {
        let id = item.get("id").and_then(Value::as_str).filter(|s| !s.is_empty());
        let kind = item.get("type").and_then(Value::as_str).map(|t| match t.to_ascii_uppercase().as_str() {
            "ACCESSPROFILE" | "ACCESS_PROFILE" => "ACCESS_PROFILE".to_owned(),
            other => other.to_owned(),
        });
        match (id, kind) {
            (Some(id), Some(kind)) => items.push(AccessItem { kind, id: id.to_owned() }),
            _ => {
                return Err(ActionError::permanent(format!("requestedItems[{n}] needs an `id` and a `type`")));
            }
        }
    }
    if items.is_empty() {
        return Err(ActionError::permanent("`requestedItems` is empty: there is nothing to grant or revoke"));
    }
    Ok(items)
}

fn text(input: &Map<String, Value>, key: &str) -> Option<String> {
    input.get(key).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned)
}

/// `removeDuration`: a number of days, or an ISC duration (`7d`, `12h`).
fn remove_after(input: &Map<String, Value>) -> Result<Option<chrono::Duration>, ActionError> {
    let days = |n: f64| {
        if n > 0.0 {
            Ok(Some(chrono::Duration::seconds((n * 86_400.0) as i64)))
        } else {
            Err(ActionError::permanent(format!("`removeDuration` must be more than zero days, not {n}")))
        }
    };
    match input.get("removeDuration") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => days(n.as_f64().unwrap_or(0.0)),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => match s.trim().parse::<f64>() {
            Ok(n) => days(n),
            Err(_) => s
                .trim()
                .parse::<tessera_model::Duration>()
                .map(|d| Some(d.to_chrono()))
                .map_err(|e| ActionError::permanent(format!("`removeDuration`: {e}"))),
        },
        Some(other) => Err(ActionError::permanent(format!(
            "`removeDuration` must be a number of days or a duration such as `7d`, not {}",
            type_name(other)
        ))),
    }
}

/// `startDate`: an RFC 3339 time or a date (midnight UTC).
fn start_at(input: &Map<String, Value>) -> Result<Option<Timestamp>, ActionError> {
    let Some(text) = text(input, "startDate") else { return Ok(None) };
    if let Ok(at) = text.parse::<Timestamp>() {
        return Ok(Some(at));
    }
    chrono::NaiveDate::parse_from_str(&text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| Some(t.and_utc().into()))
        .ok_or_else(|| {
            ActionError::permanent(format!("`startDate` `{text}` is not a date-time such as 2026-05-01T09:00:00Z"))
        })
}

impl Governance {
    /// Performs a governance action, or `None` when `action` is not one.
    pub(crate) async fn perform_governance(
        &self,
        action: &str,
        input: &Map<String, Value>,
        key: &str,
    ) -> Option<Result<Value, ActionError>> {
        if !ACTIONS.contains(&action) {
            return None;
        }
        let now = self.now();
        let mut tx = match self.store.begin().await {
            Ok(tx) => tx,
            Err(e) => return Some(Err(ActionError::retryable(format!("the store failed: {e}")))),
        };
        // A repeat of an attempt that already changed the world answers as it did.
        match tx.action_output(key).await {
            Ok(Some(output)) => return Some(Ok(output)),
            Ok(None) => {}
            Err(e) => return Some(Err(ActionError::retryable(format!("the store failed: {e}")))),
        }
        let output = match action {
            // The actor the audit log names: the execution whose step this is (the key's first part).
            "sp:access:manage" => {
                let actor = format!("workflow:{}", key.split('/').next().unwrap_or(key));
                self.access_action(&mut tx, input, now, &actor).await
            }
            "sp:manage-account" => self.account_action(&mut tx, input, now).await,
            _ => self.provision_action(&mut tx, input, now).await,
        };
        let output = match output {
            Ok(output) => output,
            Err(error) => return Some(Err(error)),
        };
        // The change and the record of its output commit together.
        let recorded = async {
            tx.record_action_output(key, &output, now).await?;
            tx.commit().await
        };
        Some(match recorded.await {
            Ok(()) => {
                self.notify_events();
                Ok(output)
            }
            Err(e) => Err(ActionError::retryable(format!("the store failed: {e}"))),
        })
    }

    async fn access_action(
        &self,
        tx: &mut Tx,
        input: &Map<String, Value>,
        now: Timestamp,
        actor: &str,
    ) -> Result<Value, ActionError> {
        let grant = match input.get("requestType").and_then(Value::as_str) {
            Some("GRANT_ACCESS") => true,
            Some("REVOKE_ACCESS") => false,
            _ => return Err(ActionError::permanent("`requestType` must be GRANT_ACCESS or REVOKE_ACCESS")),
        };
        let identity_ids = if grant { ids(input, "addIdentities")? } else { ids(input, "removeIdentity")? };
        if identity_ids.is_empty() {
            let key = if grant { "addIdentities" } else { "removeIdentity" };
            return Err(ActionError::permanent(format!("`{key}` names no identity")));
        }
        let start = start_at(input)?;
        if start.is_some() && !grant {
            return Err(ActionError::permanent("`startDate` applies to GRANT_ACCESS only"));
        }
        let remove_at = remove_after(input)?.map(|d| start.unwrap_or(now).max(now) + d);
        if remove_at.is_some() && !grant {
            return Err(ActionError::permanent("`removeDuration` applies to GRANT_ACCESS only"));
        }
        let change = AccessChange {
            grant,
            identity_ids,
            items: items(input)?,
            requester: None,
            comments: text(input, "comments"),
            action: "Workflow".into(),
            start_at: start,
            remove_at,
            actor: actor.to_owned(),
        };
        let outcome = self.manage_access_in(tx, &change, now).await.map_err(refused)?;
        let mut output = outcome.to_json();
        if let Some(at) = remove_at {
            output["removeDate"] = json!(at.to_string());
        }
        Ok(output)
    }

    async fn account_action(
        &self,
        tx: &mut Tx,
        input: &Map<String, Value>,
        now: Timestamp,
    ) -> Result<Value, ActionError> {
        let operation = text(input, "operation").ok_or_else(|| ActionError::permanent("`operation` is required"))?;
        let accounts = ids(input, "accountIds")?;
        if accounts.is_empty() {
            return Err(ActionError::permanent("`accountIds` names no account"));
        }
        let numbers = self.manage_accounts_in(tx, &accounts, &operation, None, now).await.map_err(refused)?;
        Ok(json!({"trackingNumbers": numbers, "accounts": accounts.len()}))
    }

    async fn provision_action(
        &self,
        tx: &mut Tx,
        input: &Map<String, Value>,
        now: Timestamp,
    ) -> Result<Value, ActionError> {
        let identity = text(input, "identityId").ok_or_else(|| ActionError::permanent("`identityId` is required"))?;
        let Some(list) = input.get("accountRequests").and_then(Value::as_array) else {
            return Err(ActionError::permanent("`accountRequests` must be a list of account requests"));
        };
        let mut requests = Vec::with_capacity(list.len());
        for (n, request) in list.iter().enumerate() {
            let field = |key: &str| request.get(key).and_then(Value::as_str).map(str::to_owned);
            let source = field("source")
                .or_else(|| request.pointer("/source/id").and_then(Value::as_str).map(str::to_owned))
                .ok_or_else(|| ActionError::permanent(format!("accountRequests[{n}] needs a `source`")))?;
            let operation = field("operation")
                .ok_or_else(|| ActionError::permanent(format!("accountRequests[{n}] needs an `operation`")))?;
            let attribute_requests =
                request.get("attributeRequests").and_then(Value::as_array).cloned().unwrap_or_default();
            let password = field("password");
            requests.push(ExplicitRequest { source, operation, attribute_requests, password });
        }
        let comments = text(input, "comments");
        let number = self.provision_in(tx, &identity, &requests, None, comments, now).await.map_err(refused)?;
        Ok(json!({"trackingNumber": number}))
    }
}
