//! API clients as a service, for the API and the command line alike: creating one (its secret made
//! here, shown once, stored only as an argon2 hash), changing, rotating, revoking and deleting one.
//! Each change holds the client's row from its read to its write, is checked by the caller's rule
//! (`may`) on the client as it stands, and is audited in its transaction. Ending a client's tokens is
//! moving its `tokens_after`; the caller updates its cache ([`super::Auth::remember`]) after.

use serde_json::{Value, json};
use tessera_model::Timestamp;
use tessera_store::{ApiClient, IdentityStore, SecurityStore, Store, Tx, WorkflowStore};

use super::{EXECUTE_EXTERNAL, generate_secret, hash_secret};
use crate::error::{ApiError, ApiResult};

/// A client to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewClient {
    pub name: String,
    pub scopes: Vec<String>,
    /// The person the client acts as; it must exist.
    pub identity_id: Option<String>,
}

/// What a change asks for; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientChange {
    pub name: Option<String>,
    pub scopes: Option<Vec<String>>,
    pub enabled: Option<bool>,
    /// The person to bind the client to (`None` unbinds it), with the pointer into the request a
    /// refusal names.
    pub identity_id: Option<(Option<String>, String)>,
}

/// The identity a client is to act as, which must exist: a token acting as no one that exists would
/// be refused at every request it makes. `at` is the pointer a refusal names.
async fn existing_identity(tx: &mut Tx, id: Option<String>, at: &str) -> ApiResult<Option<String>> {
    let Some(id) = id else { return Ok(None) };
    if tx.identity(&id).await?.is_none() {
        return Err(ApiError::invalid(at, format!("there is no identity {id}")));
    }
    Ok(Some(id))
}

fn summary(client: &ApiClient) -> Value {
    json!({"name": client.name, "scopes": client.scopes, "enabled": !client.disabled, "identityId": client.identity_id})
}

/// The client `id`, held until `tx` ends, if `may` allows it.
async fn held(tx: &mut Tx, id: &str, may: impl FnOnce(&ApiClient) -> ApiResult<()>) -> ApiResult<ApiClient> {
    let client = tx.client_for_update(id).await?.ok_or_else(|| ApiError::not_found("OAuth client", id))?;
    may(&client)?;
    Ok(client)
}

fn fresh(
    name: String,
    scopes: Vec<String>,
    identity_id: Option<String>,
    workflow_id: Option<String>,
    now: Timestamp,
) -> (ApiClient, String) {
    let secret = generate_secret();
    let client = ApiClient {
        id: uuid::Uuid::new_v4().simple().to_string(),
        name,
        secret_hash: hash_secret(&secret),
        scopes,
        workflow_id,
        identity_id,
        created_at: now,
        disabled: false,
        modified_at: None,
        tokens_after: Timestamp::UNIX_EPOCH,
    };
    (client, secret)
}

/// Creates a client with a new secret; returns it and the secret.
pub async fn create(store: &Store, new: NewClient, actor: &str, now: Timestamp) -> ApiResult<(ApiClient, String)> {
    let mut tx = store.begin().await?;
    let identity_id = existing_identity(&mut tx, new.identity_id, "/identityId").await?;
    let (client, secret) = fresh(new.name, new.scopes, identity_id, None, now);
    tx.insert_client(&client).await?;
    let detail = json!({"name": client.name, "scopes": client.scopes, "identityId": client.identity_id});
    tx.audit(actor, "client.create", "api-client", &client.id, &detail, now).await?;
    tx.commit().await?;
    Ok((client, secret))
}

/// Creates the client of workflow `workflow_id`'s EXTERNAL trigger, which may start that workflow
/// and no other; returns it and its secret, or the trigger type of a workflow that is not external.
pub async fn create_trigger_client(
    store: &Store,
    workflow_id: &str,
    actor: &str,
    now: Timestamp,
) -> ApiResult<Result<(ApiClient, String), String>> {
    let mut tx = store.begin().await?;
    let workflow = tx.workflow(workflow_id).await?.ok_or_else(|| ApiError::not_found("workflow", workflow_id))?;
    if let Some(kind) = tessera_engine::workflows::not_external(&workflow.document) {
        return Ok(Err(kind));
    }
    let name = format!("external trigger of {}", workflow.name);
    let (client, secret) = fresh(name, vec![EXECUTE_EXTERNAL.into()], None, Some(workflow_id.to_owned()), now);
    tx.insert_client(&client).await?;
    let detail = json!({ "client": client.id });
    tx.audit(actor, "workflow.external-client.create", "workflow", workflow_id, &detail, now).await?;
    tx.commit().await?;
    Ok(Ok((client, secret)))
}

/// Changes client `id` as `change` asks, if `may` allows it on the client as it stands. Disabling a
/// client, or changing its scopes or person, ends the tokens it holds (they carry the old ones).
pub async fn change(
    store: &Store,
    id: &str,
    change: ClientChange,
    may: impl FnOnce(&ApiClient) -> ApiResult<()>,
    actor: &str,
    now: Timestamp,
) -> ApiResult<ApiClient> {
    let mut tx = store.begin().await?;
    let before = held(&mut tx, id, may).await?;
    let mut client = before.clone();
    if let Some(name) = change.name {
        client.name = name;
    }
    if let Some(scopes) = change.scopes {
        client.scopes = scopes;
    }
    if let Some(enabled) = change.enabled {
        client.disabled = !enabled;
    }
    if let Some((identity_id, at)) = change.identity_id {
        client.identity_id = existing_identity(&mut tx, identity_id, &at).await?;
    }
    if client == before {
        return Ok(client);
    }
    client.modified_at = Some(now);
    if client.disabled || client.identity_id != before.identity_id || client.scopes != before.scopes {
        client.tokens_after = now;
    }
    tx.update_client(&client).await?;
    let detail = json!({"before": summary(&before), "after": summary(&client)});
    tx.audit(actor, "client.update", "api-client", id, &detail, now).await?;
    tx.commit().await?;
    Ok(client)
}

/// Gives client `id` a new secret and ends its tokens; returns the client and the secret.
pub async fn rotate(
    store: &Store,
    id: &str,
    may: impl FnOnce(&ApiClient) -> ApiResult<()>,
    actor: &str,
    now: Timestamp,
) -> ApiResult<(ApiClient, String)> {
    let mut tx = store.begin().await?;
    let mut client = held(&mut tx, id, may).await?;
    let secret = generate_secret();
    client.secret_hash = hash_secret(&secret);
    client.tokens_after = now;
    client.modified_at = Some(now);
    tx.update_client(&client).await?;
    tx.audit(actor, "client.rotate", "api-client", id, &json!({"secret": "replaced"}), now).await?;
    tx.commit().await?;
    Ok((client, secret))
}

/// Ends every token client `id` holds; it can get new ones with its secret.
pub async fn revoke_tokens(
    store: &Store,
    id: &str,
    may: impl FnOnce(&ApiClient) -> ApiResult<()>,
    actor: &str,
    now: Timestamp,
) -> ApiResult<ApiClient> {
    let mut tx = store.begin().await?;
    let mut client = held(&mut tx, id, may).await?;
    client.tokens_after = now;
    client.modified_at = Some(now);
    tx.update_client(&client).await?;
    tx.audit(actor, "client.revoke-tokens", "api-client", id, &json!({}), now).await?;
    tx.commit().await?;
    Ok(client)
}

/// Deletes client `id`; its tokens are gone with it. Returns what was deleted.
pub async fn delete(
    store: &Store,
    id: &str,
    may: impl FnOnce(&ApiClient) -> ApiResult<()>,
    actor: &str,
    now: Timestamp,
) -> ApiResult<ApiClient> {
    let mut tx = store.begin().await?;
    let client = held(&mut tx, id, may).await?;
    tx.delete_client(id).await?;
    let detail = json!({"name": client.name, "scopes": client.scopes, "identityId": client.identity_id});
    tx.audit(actor, "client.delete", "api-client", id, &detail, now).await?;
    tx.commit().await?;
    Ok(client)
}
