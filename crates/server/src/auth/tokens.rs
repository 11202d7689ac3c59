//! Issuing and checking bearer tokens: HS256 JWTs signed with the newest signing key and naming it
//! (`kid`), accepted only while their lifetime is no longer than the configured one, their key is
//! known, and their client still exists, is enabled and has not had its tokens revoked since.
//!
//! Nodes learn of another node's changes by re-reading: the keys when a token names one they do not
//! hold (at most once a second) or every [`RELOAD`], and the clients' states at most every [`CLIENTS_FRESH`] — so disabling,
//! deleting or rotating a client ends its tokens everywhere within about a second.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use chrono::TimeDelta;
use jsonwebtoken::{Algorithm, Header, Validation};
use serde::{Deserialize, Serialize};
use tessera_model::{Clock, Timestamp};
use tessera_store::{ApiClient, SecurityStore, Store};

use super::Principal;
use super::keys::{self, KeyError, KeySet};
use crate::error::{ApiError, ApiResult};

/// How long tokens are good for, unless configured otherwise: ISC's client-credentials tokens last
/// about as long.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// How often the keys are read again even when no unknown key was seen (a rotation elsewhere, or a
/// key revoked there).
const RELOAD: Duration = Duration::from_secs(10);
/// How soon after the last reading a token naming an unknown key makes the keys be read again.
const UNKNOWN_KEY_RELOAD: Duration = Duration::from_secs(1);
/// How old the clients' states may be when a token is checked.
const CLIENTS_FRESH: Duration = Duration::from_secs(1);
/// How far a token's issue time may lie ahead of this node's clock (clocks of nodes differ a little).
const SKEW_SECONDS: i64 = 60;

/// Signs and checks tokens.
pub struct Auth {
    store: Store,
    clock: Arc<dyn Clock>,
    lifetime: i64,
    keys: RwLock<(KeySet, Instant)>,
    clients: RwLock<(HashMap<String, ClientState>, Option<Instant>)>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth").field("lifetime_seconds", &self.lifetime).finish_non_exhaustive()
    }
}

/// What a token's check needs to know of its client.
#[derive(Debug, Clone, Copy)]
struct ClientState {
    disabled: bool,
    tokens_after: Timestamp,
}

impl From<&ApiClient> for ClientState {
    fn from(client: &ApiClient) -> Self {
        Self { disabled: client.disabled, tokens_after: client.tokens_after }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    scope: String,
    iat: i64,
    exp: i64,
    /// The issue time in milliseconds, so a revocation in the same second as an issue is exact.
    issued_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    workflow: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    identity_id: Option<String>,
}

fn invalid() -> ApiError {
    ApiError::unauthorized("the bearer token is not valid; get a new one at /oauth/token")
}

impl Auth {
    /// Tokens lasting `lifetime` (and no token claiming to last longer accepted), signed with the
    /// store's keys: a plain key left by an older Tessera is removed and a sealed one made when none
    /// can sign. Says on the log what it changed.
    pub async fn load(store: &Store, clock: Arc<dyn Clock>, lifetime: Duration) -> Result<Self, KeyError> {
        let now = clock.now();
        let ensured = keys::ensure(store, now).await?;
        if ensured.removed_plain_key {
            tracing::warn!(
                "the token signing key was stored readable in the database: it is removed and a sealed key \
                 replaces it; tokens issued before this start are refused, so clients fetch new ones"
            );
        }
        let lifetime = i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX).max(1);
        let set = keys::load(store, now, lifetime * 1000).await?;
        Ok(Self {
            store: store.clone(),
            clock,
            lifetime,
            keys: RwLock::new((set, Instant::now())),
            clients: RwLock::new((HashMap::new(), None)),
        })
    }

    /// How long a token issued now is good for, in seconds.
    pub fn lifetime_seconds(&self) -> i64 {
        self.lifetime
    }

    async fn reload_keys(&self) -> ApiResult<()> {
        let now = self.clock.now();
        let set = keys::load(&self.store, now, self.lifetime * 1000).await.map_err(ApiError::internal)?;
        *self.keys.write().unwrap_or_else(std::sync::PoisonError::into_inner) = (set, Instant::now());
        Ok(())
    }

    /// A token for `client`, which has just proved its secret.
    pub async fn issue(&self, client: &ApiClient) -> ApiResult<(String, i64)> {
        let stale = self.keys.read().unwrap_or_else(std::sync::PoisonError::into_inner).1.elapsed() > RELOAD;
        if stale {
            self.reload_keys().await?;
        }
        let now = self.clock.now();
        // JWT's `iat` and `exp` are whole seconds since the epoch.
        let now_seconds = now.to_datetime().timestamp();
        let claims = Claims {
            iss: "tessera".into(),
            sub: client.id.clone(),
            scope: client.scopes.join(" "),
            iat: now_seconds,
            exp: now_seconds + self.lifetime,
            issued_ms: now.millis(),
            workflow: client.workflow_id.clone(),
            identity_id: client.identity_id.clone(),
        };
        let token = {
            let keys = self.keys.read().unwrap_or_else(std::sync::PoisonError::into_inner);
            let (id, key) = keys.0.signing.as_ref().ok_or_else(|| ApiError::internal("no token signing key"))?;
            let mut header = Header::new(Algorithm::HS256);
            header.kid = Some(id.clone());
            jsonwebtoken::encode(&header, &claims, key).map_err(ApiError::internal)?
        };
        self.remember(client);
        Ok((token, self.lifetime))
    }

    /// Records what this node knows of a client now, so its own changes apply at once.
    pub(crate) fn remember(&self, client: &ApiClient) {
        let mut clients = self.clients.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        clients.0.insert(client.id.clone(), ClientState::from(client));
    }

    /// Forgets a deleted client at once on this node.
    pub(crate) fn forget(&self, client_id: &str) {
        self.clients.write().unwrap_or_else(std::sync::PoisonError::into_inner).0.remove(client_id);
    }

    /// The state of `client_id`: from memory while fresh, else (or when unknown) read again.
    async fn client_state(&self, client_id: &str) -> ApiResult<Option<ClientState>> {
        {
            let clients = self.clients.read().unwrap_or_else(std::sync::PoisonError::into_inner);
            let fresh = clients.1.is_some_and(|at| at.elapsed() < CLIENTS_FRESH);
            if let (true, Some(state)) = (fresh, clients.0.get(client_id)) {
                return Ok(Some(*state));
            }
        }
        let mut tx = self.store.begin().await?;
        let all = tx.clients().await?;
        drop(tx);
        let states: HashMap<String, ClientState> = all.iter().map(|c| (c.id.clone(), ClientState::from(c))).collect();
        let state = states.get(client_id).copied();
        *self.clients.write().unwrap_or_else(std::sync::PoisonError::into_inner) = (states, Some(Instant::now()));
        Ok(state)
    }

    /// The caller a token proves, or why it proves none.
    pub async fn verify(&self, token: &str) -> ApiResult<Principal> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| invalid())?;
        let kid = header.kid.ok_or_else(invalid)?;
        let (known, age) = {
            let keys = self.keys.read().unwrap_or_else(std::sync::PoisonError::into_inner);
            (keys.0.verifying.contains_key(&kid), keys.1.elapsed())
        };
        // An unknown key may be another node's new one; asked at most once a second, so tokens naming
        // made-up keys cannot make every request read the database.
        if (!known && age > UNKNOWN_KEY_RELOAD) || age > RELOAD {
            self.reload_keys().await?;
        }
        let claims = {
            let keys = self.keys.read().unwrap_or_else(std::sync::PoisonError::into_inner);
            let (key, retired_at) = keys.0.verifying.get(&kid).ok_or_else(invalid)?;
            let mut validation = Validation::new(Algorithm::HS256);
            validation.set_issuer(&["tessera"]);
            // Expiry is checked against the injected clock below, not the wall clock.
            validation.validate_exp = false;
            validation.set_required_spec_claims(&["exp", "iss", "sub", "iat"]);
            let claims = jsonwebtoken::decode::<Claims>(token, key, &validation).map_err(|_| invalid())?.claims;
            // A retired key signs nothing new, so a token it signed after its retirement is forged.
            let issued = Timestamp::from_millis(claims.issued_ms);
            if retired_at.is_some_and(|retired| issued > retired + TimeDelta::seconds(SKEW_SECONDS)) {
                return Err(invalid());
            }
            claims
        };
        let now = self.clock.now().to_datetime().timestamp();
        if claims.exp - claims.iat > self.lifetime || claims.iat > now + SKEW_SECONDS {
            return Err(ApiError::unauthorized(
                "the bearer token claims a lifetime this server does not grant; get a new one at /oauth/token",
            ));
        }
        if claims.exp <= now {
            return Err(ApiError::unauthorized("the bearer token has expired; get a new one at /oauth/token"));
        }
        match self.client_state(&claims.sub).await? {
            None => return Err(ApiError::unauthorized("the bearer token's API client no longer exists")),
            Some(state) if state.disabled => {
                return Err(ApiError::unauthorized("the bearer token's API client is disabled"));
            }
            // Tokens issued in the very millisecond of a revocation are refused too: better one token
            // fetched again than one revoked token kept.
            Some(state) if Timestamp::from_millis(claims.issued_ms) <= state.tokens_after => {
                return Err(ApiError::unauthorized(
                    "the bearer token was revoked (its client's secret changed or its tokens were revoked); get a \
                     new one at /oauth/token",
                ));
            }
            Some(_) => {}
        }
        Ok(Principal {
            client_id: claims.sub,
            scopes: claims.scope.split_whitespace().map(str::to_owned).collect(),
            workflow_id: claims.workflow,
            identity_id: claims.identity_id,
        })
    }
}
