//! Authentication and authorisation: API clients prove a secret (stored only as an argon2 hash) at
//! `/oauth/token` (RFC 6749 client credentials) and get a short-lived HS256-signed token with
//! scopes; every API route checks the token and the scope it needs. A client bound to an identity
//! gets tokens that carry it (the `identity_id` claim), so the token acts as that person.

pub mod clients;
mod endpoint;
pub mod keys;
mod tokens;

use argon2::Argon2;
use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use serde_json::json;
use tessera_model::Timestamp;
use tessera_store::{ApiClient, SecurityStore, Store};

pub use self::endpoint::TokenGate;
pub(crate) use self::endpoint::token;
pub use self::tokens::{Auth, DEFAULT_LIFETIME};
use crate::AppState;
use crate::error::{ApiError, ApiResult};

pub use tessera_model::permissions::scope::*;

/// The caller of an API route, proven by its token.
#[derive(Debug, Clone)]
pub struct Principal {
    pub client_id: String,
    scopes: Vec<String>,
    /// A workflow's external-trigger client may start only that workflow.
    pub workflow_id: Option<String>,
    identity_id: Option<String>,
}

impl crate::openapi::signature::Input for Principal {}

impl Principal {
    /// Refuses with 403 unless the token has `scope` (or every scope).
    pub fn require(&self, scope: &str) -> ApiResult<()> {
        if self.holds(scope) { Ok(()) } else { Err(ApiError::forbidden(scope)) }
    }

    /// Whether the token has `scope` (or every scope).
    pub fn holds(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope || s == ALL)
    }

    /// Whether the token is an administrator's: it holds every scope.
    pub fn is_admin(&self) -> bool {
        self.scopes.iter().any(|s| s == ALL)
    }

    /// The identity this token acts as, when its client is bound to one.
    pub fn identity(&self) -> Option<&str> {
        self.identity_id.as_deref()
    }

    /// How the audit log names this caller: the person a token acts as, else its client.
    pub fn actor(&self) -> String {
        match &self.identity_id {
            Some(identity) => format!("identity:{identity}"),
            None => format!("client:{}", self.client_id),
        }
    }
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        // Proven already by the route's guard (the route table).
        if let Some(principal) = parts.extensions.get::<Principal>() {
            return Ok(principal.clone());
        }
        let header = parts.headers.get(header::AUTHORIZATION).and_then(|h| h.to_str().ok()).unwrap_or_default();
        let Some(token) = header.strip_prefix("Bearer ").or_else(|| header.strip_prefix("bearer ")) else {
            return Err(ApiError::unauthorized(
                "send `Authorization: Bearer <token>`; get a token at /oauth/token with client credentials",
            ));
        };
        state.auth.verify(token.trim()).await
    }
}

/// A new random secret: 32 bytes, hex.
pub fn generate_secret() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The argon2id hash of a secret, as a PHC string.
pub fn hash_secret(secret: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default().hash_password(secret.as_bytes(), &salt).map(|h| h.to_string()).unwrap_or_default()
}

pub(crate) fn verify_secret(secret: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| Argon2::default().verify_password(secret.as_bytes(), &parsed).is_ok())
}

/// The shortest secret Tessera accepts from configuration (generated secrets are 64 hex digits).
pub const MIN_SECRET_CHARS: usize = 20;

/// Refuses a configured secret too weak to guard an API client: shorter than [`MIN_SECRET_CHARS`], or
/// made of fewer than 8 different characters.
pub fn check_secret_strength(secret: &str) -> Result<(), String> {
    let chars: std::collections::BTreeSet<char> = secret.chars().collect();
    if secret.chars().count() < MIN_SECRET_CHARS || chars.len() < 8 {
        return Err(format!(
            "a client secret needs at least {MIN_SECRET_CHARS} characters, of at least 8 different ones (make one \
             with `head -c 32 /dev/urandom | base64`)"
        ));
    }
    Ok(())
}

/// What [`ensure_admin`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminClient {
    /// The configured client exists with the configured secret, or nothing was configured and clients
    /// exist.
    Unchanged,
    /// The client was created; its secret is here when it was generated now (to show once).
    Created { id: String, generated_secret: Option<String> },
    /// The configured client existed with another secret: it now has the configured one, and tokens
    /// issued before are refused.
    SecretReplaced { id: String },
}

/// Why the administrator client cannot be made as configured.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error(transparent)]
    Store(#[from] tessera_store::Error),
    #[error("TESSERA_ADMIN_CLIENT_SECRET is too weak: {0}")]
    WeakSecret(String),
    #[error(
        "TESSERA_ADMIN_CLIENT_SECRET is set without TESSERA_ADMIN_CLIENT_ID, and this database already has API \
         clients, none of them an administrator with that secret; set TESSERA_ADMIN_CLIENT_ID to the client's id \
         (`tessera clients list`), or give a client a new secret with `tessera clients rotate <id>`"
    )]
    UnknownAdmin,
}

/// Makes the administrator client match the configuration (`id`, `secret`: `TESSERA_ADMIN_CLIENT_ID` and
/// `TESSERA_ADMIN_CLIENT_SECRET`). On a database without clients it creates one (with a generated id and
/// secret where none is configured). With both configured, a missing client is created and an existing
/// one given the configured secret (enabled, and with every scope). A configured secret must be strong.
pub async fn ensure_admin(
    store: &Store,
    id: Option<String>,
    secret: Option<String>,
    now: Timestamp,
) -> Result<AdminClient, AdminError> {
    if let Some(secret) = &secret {
        check_secret_strength(secret).map_err(AdminError::WeakSecret)?;
    }
    let mut tx = store.begin().await?;
    if tx.count_clients().await? > 0 {
        let existing = match &id {
            Some(id) => tx.client(id).await?,
            None => {
                let Some(secret) = &secret else { return Ok(AdminClient::Unchanged) };
                let admins = tx.clients().await?.into_iter().filter(|c| c.scopes.iter().any(|s| s == ALL));
                let matching = admins.into_iter().find(|c| verify_secret(secret, &c.secret_hash));
                return match matching {
                    Some(_) => Ok(AdminClient::Unchanged),
                    None => Err(AdminError::UnknownAdmin),
                };
            }
        };
        let (Some(id), Some(secret)) = (id, secret) else { return Ok(AdminClient::Unchanged) };
        match existing {
            Some(client) if verify_secret(&secret, &client.secret_hash) && !client.disabled => {
                return Ok(AdminClient::Unchanged);
            }
            Some(mut client) => {
                client.secret_hash = hash_secret(&secret);
                client.disabled = false;
                client.scopes = vec![ALL.into()];
                client.modified_at = Some(now);
                client.tokens_after = now;
                tx.update_client(&client).await?;
                let detail = json!({ "secret": "replaced from TESSERA_ADMIN_CLIENT_SECRET", "scopes": client.scopes });
                tx.audit("system:config", "client.rotate", "api-client", &id, &detail, now).await?;
                tx.commit().await?;
                return Ok(AdminClient::SecretReplaced { id });
            }
            None => {
                create_admin(&mut tx, &id, &secret, now).await?;
                tx.commit().await?;
                return Ok(AdminClient::Created { id, generated_secret: None });
            }
        }
    }
    let generated = secret.is_none();
    let id = id.unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    // Nodes starting together on one new database race here: the one whose claim is stored creates
    // the client; the others wait for its transaction and then find the claim taken.
    let claim = uuid::Uuid::new_v4().simple().to_string();
    if tx.setting_or_insert("admin-bootstrap", &claim).await? != claim {
        return Ok(AdminClient::Unchanged);
    }
    let secret = secret.unwrap_or_else(generate_secret);
    create_admin(&mut tx, &id, &secret, now).await?;
    tx.commit().await?;
    Ok(AdminClient::Created { id, generated_secret: generated.then_some(secret) })
}

async fn create_admin(tx: &mut tessera_store::Tx, id: &str, secret: &str, now: Timestamp) -> tessera_store::Result<()> {
    let client = ApiClient {
        id: id.to_owned(),
        name: "administrator".into(),
        secret_hash: hash_secret(secret),
        scopes: vec![ALL.into()],
        workflow_id: None,
        identity_id: None,
        created_at: now,
        disabled: false,
        modified_at: None,
        tokens_after: Timestamp::UNIX_EPOCH,
    };
    tx.insert_client(&client).await?;
    tx.audit("system", "client.create", "api-client", id, &json!({ "name": client.name, "scopes": client.scopes }), now)
        .await
}
