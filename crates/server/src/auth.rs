//! Authentication and authorisation: API clients prove a secret (stored only as an argon2 hash) at
//! `/oauth/token` (RFC 6749 client credentials) and get a short-lived HS256-signed token with
//! scopes; every API route checks the token and the scope it needs. A client bound to an identity
//! gets tokens that carry it (the `identity_id` claim), so the token acts as that person.

use std::sync::Arc;

use argon2::Argon2;
use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tessera_model::Clock;
use tessera_store::{ApiClient, SecurityStore, Store};

use crate::AppState;
use crate::error::{ApiError, ApiResult};

/// Every scope, granted to the administrator.
pub const ALL: &str = "sp:scopes:all";
pub const WORKFLOW_READ: &str = "sp:workflow:read";
pub const WORKFLOW_MANAGE: &str = "sp:workflow:manage";
pub const EXECUTION_READ: &str = "sp:workflow-execution:read";
pub const EXECUTION_MANAGE: &str = "sp:workflow-execution:manage";
pub const SOURCES_READ: &str = "idn:sources:read";
pub const SOURCES_MANAGE: &str = "idn:sources:manage";
pub const IDENTITY_READ: &str = "idn:identity:read";
pub const IDENTITY_MANAGE: &str = "idn:identity:manage";
pub const ACCOUNTS_READ: &str = "idn:accounts:read";
pub const ENTITLEMENT_READ: &str = "idn:entitlement:read";
pub const ENTITLEMENT_MANAGE: &str = "idn:entitlement:manage";
pub const ACCESS_PROFILE_READ: &str = "idn:access-profile:read";
pub const ACCESS_PROFILE_MANAGE: &str = "idn:access-profile:manage";
pub const ROLE_READ: &str = "idn:role-unchecked:read";
pub const ROLE_MANAGE: &str = "idn:role-unchecked:manage";
pub const IDENTITY_PROFILE_READ: &str = "idn:identity-profile:read";
pub const IDENTITY_PROFILE_MANAGE: &str = "idn:identity-profile:manage";
pub const WORKGROUP_READ: &str = "idn:workgroup:read";
pub const WORKGROUP_MANAGE: &str = "idn:workgroup:manage";
pub const SEARCH_READ: &str = "sp:search:read";
pub const WORK_ITEM_READ: &str = "idn:work-item:read";
pub const WORK_ITEM_MANAGE: &str = "idn:work-item:manage";
/// Submitting access requests for anyone (naming the requester), and cancelling them.
pub const ACCESS_REQUEST_MANAGE: &str = "idn:access-request:manage";
/// ISC's self-service request scope: a token bound to an identity requests for that identity only.
pub const ACCESS_REQUEST_SELF_MANAGE: &str = "idn:access-request-self:manage";
pub const ACCESS_REQUEST_STATUS_READ: &str = "idn:access-request-status:read";
pub const ACCESS_REQUEST_APPROVALS_READ: &str = "idn:access-request-approvals:read";
/// Deciding approvals: as the token's identity, or, for a token bound to none, as the body names.
pub const ACCESS_REQUEST_APPROVALS_MANAGE: &str = "idn:access-request-approvals:manage";
/// Reading SCIM Users and Groups at `/scim/v2` (Tessera's own scope, as ISC has no inbound SCIM).
pub const SCIM_READ: &str = "idn:scim:read";
/// Pushing SCIM Users and Groups: what an HR system or identity provider needs, and nothing more.
pub const SCIM_MANAGE: &str = "idn:scim:manage";
/// Creating API clients and binding them to identities.
pub const OAUTH_CLIENT_MANAGE: &str = "sp:oauth-client:manage";

/// Reading one's own inbox (a token bound to an identity) and one's notifications.
pub const INBOX_READ: &str = "tessera:inbox:read";
/// Acting on one's own inbox items: approve, deny, complete, comment, reassign, delegate.
pub const INBOX_MANAGE: &str = "tessera:inbox:manage";
/// Seeing everyone's inbox and reassigning anyone's items (not deciding them).
pub const INBOX_ADMIN: &str = "tessera:inbox:admin";

/// Reading teams, configuration lists and request types.
pub const REQUEST_TYPES_READ: &str = "tessera:request-types:read";
/// Creating and changing teams, configuration lists and request types (a person's token: only what
/// their teams let them edit).
pub const REQUEST_TYPES_MANAGE: &str = "tessera:request-types:manage";
/// Reading requests raised from request types (a person's token: only those they are part of).
pub const REQUESTS_READ: &str = "tessera:requests:read";
/// Raising, cancelling and commenting on requests (a person's token: as that person).
pub const REQUESTS_MANAGE: &str = "tessera:requests:manage";

/// How long a token is good for.
const TOKEN_SECONDS: i64 = 15 * 60;

/// Signs and checks tokens.
pub struct Auth {
    encoding: EncodingKey,
    decoding: DecodingKey,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Auth { keys: <hidden> }")
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    scope: String,
    iat: i64,
    exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    workflow: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    identity_id: Option<String>,
}

/// The caller of an API route, proven by its token.
#[derive(Debug, Clone)]
pub struct Principal {
    pub client_id: String,
    scopes: Vec<String>,
    /// A workflow's external-trigger client may start only that workflow.
    pub workflow_id: Option<String>,
    identity_id: Option<String>,
}

impl Principal {
    /// Refuses with 403 unless the token has `scope` (or every scope).
    pub fn require(&self, scope: &str) -> ApiResult<()> {
        if self.scopes.iter().any(|s| s == scope || s == ALL) { Ok(()) } else { Err(ApiError::forbidden(scope)) }
    }

    /// The identity this token acts as, when its client is bound to one.
    pub fn identity(&self) -> Option<&str> {
        self.identity_id.as_deref()
    }

    /// How the audit log names this caller.
    pub fn actor(&self) -> String {
        format!("client:{}", self.client_id)
    }
}

impl Auth {
    /// Signing keys shared by every node: a random key stored once in the database.
    pub async fn load(store: &Store, clock: Arc<dyn Clock>) -> tessera_store::Result<Self> {
        let mut candidate = [0u8; 32];
        OsRng.fill_bytes(&mut candidate);
        let candidate = base64::engine::general_purpose::STANDARD.encode(candidate);
        let mut tx = store.begin().await?;
        let key = tx.setting_or_insert("token-signing-key", &candidate).await?;
        tx.commit().await?;
        let bytes = base64::engine::general_purpose::STANDARD.decode(key).unwrap_or_default();
        Ok(Self { encoding: EncodingKey::from_secret(&bytes), decoding: DecodingKey::from_secret(&bytes), clock })
    }

    fn issue(&self, client: &ApiClient) -> ApiResult<(String, i64)> {
        let now = self.clock.now().timestamp();
        let claims = Claims {
            iss: "tessera".into(),
            sub: client.id.clone(),
            scope: client.scopes.join(" "),
            iat: now,
            exp: now + TOKEN_SECONDS,
            workflow: client.workflow_id.clone(),
            identity_id: client.identity_id.clone(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(ApiError::internal)?;
        Ok((token, TOKEN_SECONDS))
    }

    fn verify(&self, token: &str) -> ApiResult<Principal> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&["tessera"]);
        // Expiry is checked against the injected clock below, not the wall clock.
        validation.validate_exp = false;
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .map_err(|_| ApiError::unauthorized("the bearer token is not valid; get a new one at /oauth/token"))?;
        if data.claims.exp <= self.clock.now().timestamp() {
            return Err(ApiError::unauthorized("the bearer token has expired; get a new one at /oauth/token"));
        }
        Ok(Principal {
            client_id: data.claims.sub,
            scopes: data.claims.scope.split_whitespace().map(str::to_owned).collect(),
            workflow_id: data.claims.workflow,
            identity_id: data.claims.identity_id,
        })
    }
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let header = parts.headers.get(header::AUTHORIZATION).and_then(|h| h.to_str().ok()).unwrap_or_default();
        let Some(token) = header.strip_prefix("Bearer ").or_else(|| header.strip_prefix("bearer ")) else {
            return Err(ApiError::unauthorized(
                "send `Authorization: Bearer <token>`; get a token at /oauth/token with client credentials",
            ));
        };
        state.auth.verify(token.trim())
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

fn verify_secret(secret: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| Argon2::default().verify_password(secret.as_bytes(), &parsed).is_ok())
}

/// Creates the administrator client on first start. Returns its credentials when it was created now
/// with a generated secret, so the caller can show them once.
pub async fn ensure_admin(
    store: &Store,
    id: Option<String>,
    secret: Option<String>,
    now: i64,
) -> tessera_store::Result<Option<(String, String)>> {
    let mut tx = store.begin().await?;
    if tx.count_clients().await? > 0 {
        return Ok(None);
    }
    let generated = secret.is_none();
    let id = id.unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    // Nodes starting together on one new database race here: the one whose claim is stored creates
    // the client; the others wait for its transaction and then find the claim taken.
    let claim = uuid::Uuid::new_v4().simple().to_string();
    if tx.setting_or_insert("admin-bootstrap", &claim).await? != claim {
        return Ok(None);
    }
    let secret = secret.unwrap_or_else(generate_secret);
    let client = ApiClient {
        id: id.clone(),
        name: "administrator".into(),
        secret_hash: hash_secret(&secret),
        scopes: vec![ALL.into()],
        workflow_id: None,
        identity_id: None,
        created_at: now,
        disabled: false,
    };
    tx.insert_client(&client).await?;
    tx.audit(
        "system",
        "client.create",
        "api-client",
        &id,
        &json!({ "name": client.name, "scopes": client.scopes }),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(generated.then_some((id, secret)))
}

/// The form of a token request (RFC 6749 §4.4.2).
#[derive(Debug, Deserialize)]
pub struct TokenRequest {
    grant_type: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

/// An OAuth2 error (RFC 6749 §5.2).
fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (status, Json(json!({ "error": error, "error_description": description }))).into_response()
}

/// `POST /oauth/token`: client credentials in the form or in HTTP Basic authentication.
pub async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<axum::Form<TokenRequest>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Ok(axum::Form(form)) = form else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "send the token request as application/x-www-form-urlencoded (RFC 6749 §4.4.2)",
        );
    };
    if form.grant_type.as_deref() != Some("client_credentials") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "only grant_type=client_credentials is supported",
        );
    }
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b.trim()).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|pair| pair.split_once(':').map(|(id, secret)| (id.to_owned(), secret.to_owned())));
    let (Some(id), Some(secret)) =
        (basic.as_ref().map(|b| b.0.clone()).or(form.client_id), basic.map(|b| b.1).or(form.client_secret))
    else {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "send client_id and client_secret");
    };
    let client = match state.engine.store().begin().await {
        Ok(mut tx) => tx.client(&id).await.ok().flatten(),
        Err(_) => None,
    };
    let Some(client) = client.filter(|c| !c.disabled && verify_secret(&secret, &c.secret_hash)) else {
        tracing::info!(client = %id, "token refused");
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "unknown client or wrong secret");
    };
    match state.auth.issue(&client) {
        Ok((token, expires_in)) => Json(json!({
            "access_token": token,
            "token_type": "bearer",
            "expires_in": expires_in,
            "scope": client.scopes.join(" "),
        }))
        .into_response(),
        Err(error) => error.into_response(),
    }
}
