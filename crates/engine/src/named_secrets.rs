//! Named secrets: credentials stored once, sealed under the node key, that workflows refer to as
//! `{{secret:<name>}}`. Setting and deleting one is audited in its transaction; the value goes in
//! and never comes out.

use serde_json::json;
use tessera_flow::secrets::is_secret_reference;
use tessera_store::{SecretRecord, SecretStore, SecurityStore};

use crate::{Engine, Error, Result};

/// Whether `name` may name a secret: letters, digits, `.`, `_` and `-`, at most 128.
fn is_secret_name(name: &str) -> bool {
    is_secret_reference(&format!("secret:{name}")) && name.len() <= 128
}

impl Engine {
    /// Creates or replaces the secret `name` with `value`, sealed; returns what is stored.
    pub async fn put_secret(
        &self,
        name: &str,
        value: &str,
        description: Option<String>,
        actor: &str,
    ) -> Result<SecretRecord> {
        if !is_secret_name(name) {
            return Err(Error::invalid(format!(
                "`{name}` is not a secret name: use letters, digits, `.`, `_` and `-` (at most 128)"
            )));
        }
        if value.is_empty() {
            return Err(Error::invalid_at("/value", "is required: the secret"));
        }
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let keyring = tx.keyring().ok_or(crate::secrets::SealError::NoKeyring)?;
        let sealed = keyring.seal_text(value);
        let existing = tx.secret(name).await?;
        let secret = SecretRecord {
            name: name.to_owned(),
            sealed,
            description,
            created_at: existing.as_ref().map_or(now, |s| s.created_at),
            modified_at: now,
            modified_by: actor.to_owned(),
        };
        tx.put_secret(&secret).await?;
        let detail = json!({"description": secret.description, "replaced": existing.is_some()});
        tx.audit(actor, "secret.set", "secret", name, &detail, now).await?;
        tx.commit().await?;
        Ok(secret)
    }

    /// Deletes the secret `name`; workflows that refer to it fail at the step that does.
    pub async fn delete_secret(&self, name: &str, actor: &str) -> Result<()> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        if !tx.delete_secret(name).await? {
            return Err(Error::NotFound(format!("secret {name}")));
        }
        tx.audit(actor, "secret.delete", "secret", name, &json!({}), now).await?;
        Ok(tx.commit().await?)
    }
}
