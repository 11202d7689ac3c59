//! A plan turned into the account request a connector carries out: the account it is about as Tessera
//! knows it now (a Create for an identity that meanwhile got an account becomes a Modify of it), and,
//! for a Create, the attributes the source's create policy computes from the identity.

use serde_json::{Value, json};
use tessera_connectors::{AccountRequest, AttributeOperation, AttributeRequest, Operation};
use tessera_model::governance::{Account, CreatePolicy};
use tessera_store::{AccountRecord, CatalogKind, CatalogObject, CatalogStore, IdentityStore, PlanRecord, Tx};

use crate::Result;

/// An account request ready for the connector, with what it was prepared from.
#[derive(Debug)]
pub(super) struct Prepared {
    pub(super) request: AccountRequest,
    /// Tessera's record of the account, when it has one.
    pub(super) account: Option<AccountRecord>,
}

impl Prepared {
    /// The attribute requests sent, for the plan's result and Provisioning Completed (never a password).
    pub(super) fn attribute_requests(&self) -> Value {
        let list: Vec<Value> = self
            .request
            .attributes
            .iter()
            .map(|a| json!({"name": a.name, "operation": operation_name(a.operation), "value": a.value}))
            .collect();
        Value::Array(list)
    }
}

fn operation_name(operation: AttributeOperation) -> &'static str {
    match operation {
        AttributeOperation::Add => "Add",
        AttributeOperation::Set => "Set",
        AttributeOperation::Remove => "Remove",
    }
}

fn parse_operation(name: &str) -> Option<Operation> {
    Some(match name {
        "Create" => Operation::Create,
        "Modify" => Operation::Modify,
        "Enable" => Operation::Enable,
        "Disable" => Operation::Disable,
        "Unlock" => Operation::Unlock,
        "Delete" => Operation::Delete,
        "Password" => Operation::Password,
        _ => return None,
    })
}

fn attribute_requests(plan: &PlanRecord) -> std::result::Result<Vec<AttributeRequest>, String> {
    let list = plan.document.pointer("/accountRequest/attributeRequests").and_then(Value::as_array);
    let mut requests = Vec::new();
    for item in list.into_iter().flatten() {
        let name = item.get("name").and_then(Value::as_str).unwrap_or_default();
        let operation = match item.get("operation").and_then(Value::as_str).unwrap_or("Set") {
            "Add" => AttributeOperation::Add,
            "Remove" => AttributeOperation::Remove,
            "Set" => AttributeOperation::Set,
            other => return Err(format!("attribute request for `{name}` has an unknown operation `{other}`")),
        };
        if name.is_empty() {
            return Err("an attribute request has no name".into());
        }
        let value = item.get("value").cloned().unwrap_or(Value::Null);
        requests.push(AttributeRequest { name: name.to_owned(), operation, value });
    }
    Ok(requests)
}

/// The account request for `plan`; `Ok(Err(reason))` when it cannot be carried out at all.
pub(super) async fn prepare(
    tx: &mut Tx,
    plan: &PlanRecord,
    source: &CatalogObject,
) -> Result<std::result::Result<Prepared, String>> {
    let Some(mut operation) = parse_operation(&plan.operation) else {
        return Ok(Err(format!("`{}` is not an account operation", plan.operation)));
    };
    let mut attributes = match attribute_requests(plan) {
        Ok(attributes) => attributes,
        Err(reason) => return Ok(Err(reason)),
    };
    let identity = tx.identity(&plan.identity_id).await?;
    let accounts = match &identity {
        Some(identity) => tx.accounts_of(&[identity.id.to_string()]).await?,
        None => Vec::new(),
    };
    // The account as it is now: the plan's own, or the identity's one on this source.
    let named = plan.document.pointer("/accountRequest/accountId").and_then(Value::as_str);
    let account = named
        .and_then(|id| accounts.iter().find(|a| a.id == id))
        .or_else(|| accounts.iter().find(|a| a.source_id == source.id))
        .cloned();
    match (operation, &account) {
        (Operation::Create, Some(_)) => operation = Operation::Modify,
        (Operation::Modify, None) if attributes.iter().all(|a| a.operation != AttributeOperation::Remove) => {
            operation = Operation::Create;
        }
        (Operation::Create, None) => {}
        (_, None) => {
            let who = identity.as_ref().map_or(plan.identity_id.as_str(), |i| i.name.as_str());
            return Ok(Err(format!("{who} has no account on `{}` to {}", source.name, plan.operation)));
        }
        _ => {}
    }
    if operation == Operation::Create {
        let Some(identity) = &identity else {
            return Ok(Err(format!("identity {} no longer exists", plan.identity_id)));
        };
        let policy = match CreatePolicy::parse(&source.document) {
            Ok(policy) => policy,
            Err(error) => return Ok(Err(format!("source `{}`'s create policy: {error}", source.name))),
        };
        let mut names = std::collections::HashMap::new();
        for account in &accounts {
            if !names.contains_key(&account.source_id)
                && let Some(s) = tx.object(CatalogKind::Source, &account.source_id).await?
            {
                names.insert(account.source_id.clone(), s.name);
            }
        }
        let views: Vec<Account<'_>> = accounts
            .iter()
            .map(|a| Account {
                source_id: &a.source_id,
                source_name: names.get(&a.source_id).map_or("", String::as_str),
                attributes: &a.attributes,
            })
            .collect();
        match policy.compute(&identity.attributes, &views) {
            Ok(values) => {
                // The policy's values come first; the plan's own requests (memberships) follow.
                let computed = values.into_iter().map(|(name, value)| AttributeRequest {
                    name,
                    operation: AttributeOperation::Set,
                    value: Value::String(value),
                });
                let mut all: Vec<AttributeRequest> = computed.collect();
                all.append(&mut attributes);
                attributes = all;
            }
            Err(missing) => {
                return Ok(Err(format!(
                    "source `{}`'s create policy needs {} for {}, which computed to nothing",
                    source.name,
                    missing.join(", "),
                    identity.name
                )));
            }
        }
    }
    // A password computed by the create policy goes to the connector as the password, not an attribute;
    // one the request carries is sealed in the plan and opened only here.
    let computed = attributes
        .iter()
        .position(|a| a.name == "password")
        .map(|i| attributes.remove(i))
        .and_then(|a| a.value.as_str().map(str::to_owned));
    let password = match plan.document.pointer("/accountRequest/password").filter(|v| !v.is_null()) {
        None => computed,
        Some(sealed) => match tx.keyring().map(|keyring| keyring.open("password", sealed)) {
            Some(Ok(password)) => Some(password),
            Some(Err(error)) => return Ok(Err(format!("the request's password cannot be opened: {error}"))),
            None => return Ok(Err("this server has no secret key to open the request's password with".into())),
        },
    };
    let request = AccountRequest {
        operation,
        native_identity: account.as_ref().map(|a| a.native_identity.clone()),
        attributes,
        password,
    };
    Ok(Ok(Prepared { request, account }))
}
