//! Token signing keys: random 256-bit HMAC keys in `signing_keys`, each sealed under the node key (the
//! keyring that seals connector secrets), so a copy of the database signs nothing and every node of a
//! PostgreSQL deployment, holding the same node key, accepts the others' tokens. The newest key that
//! is not retired signs; [`rotate`] retires the others, which still verify the tokens they signed
//! until those expire, and are then deleted.

use std::collections::HashMap;

use argon2::password_hash::rand_core::{OsRng, RngCore};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::TimeDelta;
use jsonwebtoken::{DecodingKey, EncodingKey};
use serde_json::Value;
use tessera_model::Timestamp;
use tessera_store::secrets::OpenError;
use tessera_store::{SecurityStore, SigningKeyRecord, Store};

/// The associated data a signing key is sealed with, so no other sealed value passes for one.
const SEALED_AS: &str = "token-signing-key";

/// Where Tessera before schema 15 kept its signing key, in plain text.
const LEGACY_SETTING: &str = "token-signing-key";

/// Why the keys could not be loaded or changed.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(transparent)]
    Store(#[from] tessera_store::Error),
    #[error("token signing keys are sealed under the node key, and this node was given none")]
    NoKeyring,
    #[error(
        "token signing key {id} cannot be opened ({reason}); every node needs the node key the others use \
         (TESSERA_SECRET_KEY or --secret-key-file)"
    )]
    Unopenable { id: String, reason: OpenError },
}

/// The keys a node signs and verifies with.
#[derive(Default)]
pub(crate) struct KeySet {
    /// The key tokens are signed with: its id and key.
    pub(crate) signing: Option<(String, EncodingKey)>,
    /// Every key tokens may carry, with when it was retired.
    pub(crate) verifying: HashMap<String, (DecodingKey, Option<Timestamp>)>,
}

/// What [`ensure`] did at start-up.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Ensured {
    /// A plain-text key an older Tessera stored was found and removed.
    pub removed_plain_key: bool,
    /// No key could sign, so one was made.
    pub created: bool,
}

fn new_key() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    bytes
}

fn seal(store: &Store, bytes: &[u8]) -> Result<String, KeyError> {
    let keyring = store.keyring().ok_or(KeyError::NoKeyring)?;
    Ok(keyring.seal(SEALED_AS, &STANDARD.encode(bytes)).to_string())
}

fn open(store: &Store, key: &SigningKeyRecord) -> Result<Vec<u8>, KeyError> {
    let keyring = store.keyring().ok_or(KeyError::NoKeyring)?;
    let unopenable = |reason| KeyError::Unopenable { id: key.id.clone(), reason };
    let envelope: Value = serde_json::from_str(&key.sealed).map_err(|_| unopenable(OpenError::Malformed))?;
    let text = keyring.open(SEALED_AS, &envelope).map_err(unopenable)?;
    STANDARD.decode(text).map_err(|_| unopenable(OpenError::Malformed))
}

/// Makes sure a key can sign: removes a plain-text key left by an older Tessera (anyone who could
/// read the database could sign with it, so it is not kept, and tokens it signed are no longer
/// accepted), reseals keys under the current node key, and makes a sealed key when none is active.
pub async fn ensure(store: &Store, now: Timestamp) -> Result<Ensured, KeyError> {
    let mut tx = store.begin().await?;
    let removed_plain_key = tx.delete_setting(LEGACY_SETTING).await?;
    let keys = tx.signing_keys().await?;
    // Keys sealed under a node key since rotated out (given after the new one) move to the new one,
    // so that the old node key can go.
    if let Some(keyring) = store.keyring() {
        for key in &keys {
            let envelope: Value = serde_json::from_str(&key.sealed).unwrap_or(Value::Null);
            if !keyring.sealed_by_primary(&envelope) {
                let bytes = open(store, key)?;
                tx.reseal_signing_key(&key.id, &seal(store, &bytes)?).await?;
            }
        }
    }
    let created = !keys.iter().any(|key| key.retired_at.is_none());
    if created {
        let id = uuid::Uuid::now_v7().simple().to_string();
        let sealed = seal(store, &new_key())?;
        tx.insert_signing_key(&SigningKeyRecord { id, sealed, created_at: now, retired_at: None }).await?;
    }
    tx.commit().await?;
    Ok(Ensured { removed_plain_key, created })
}

/// Makes a new signing key and retires the others, which verify their tokens until they expire; with
/// `revoke_old`, the others are deleted at once and every token they signed is refused. Returns the new
/// key's id.
pub async fn rotate(store: &Store, now: Timestamp, revoke_old: bool) -> Result<String, KeyError> {
    let id = uuid::Uuid::now_v7().simple().to_string();
    let sealed = seal(store, &new_key())?;
    let mut tx = store.begin().await?;
    tx.insert_signing_key(&SigningKeyRecord { id: id.clone(), sealed, created_at: now, retired_at: None }).await?;
    tx.retire_signing_keys(&id, now).await?;
    if revoke_old {
        tx.delete_retired_signing_keys(None).await?;
    }
    let detail = serde_json::json!({ "revokedOld": revoke_old });
    tx.audit("system", "signing-key.rotate", "signing-key", &id, &detail, now).await?;
    tx.commit().await?;
    Ok(id)
}

/// Loads every key, deleting retired keys whose tokens have all expired (retired longer ago than
/// `lifetime_ms`).
pub(crate) async fn load(store: &Store, now: Timestamp, lifetime_ms: i64) -> Result<KeySet, KeyError> {
    let mut tx = store.begin().await?;
    tx.delete_retired_signing_keys(Some(now - TimeDelta::milliseconds(lifetime_ms))).await?;
    let keys = tx.signing_keys().await?;
    tx.commit().await?;
    let mut set = KeySet::default();
    for key in &keys {
        let bytes = open(store, key)?;
        if set.signing.is_none() && key.retired_at.is_none() {
            set.signing = Some((key.id.clone(), EncodingKey::from_secret(&bytes)));
        }
        set.verifying.insert(key.id.clone(), (DecodingKey::from_secret(&bytes), key.retired_at));
    }
    Ok(set)
}
