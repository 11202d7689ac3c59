//! The harness: one real API server on 127.0.0.1 per store from `stores()`, its engine and tokens on
//! a `ManualClock`, an administrator client, and helpers that call it over HTTP.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::sync::Arc;

use chrono::Duration;
use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use tessera_engine::{Engine, EngineConfig};
use tessera_governance::{Governance, GovernanceConfig, ImportDirs};
use tessera_model::{Clock, ManualClock, Timestamp};
use tessera_server::auth::{AdminClient, Auth, DEFAULT_LIFETIME, TokenGate, ensure_admin, hash_secret};
use tessera_server::{ApiLimits, AppState, router};
use tessera_store::testing::stores;
use tessera_store::{ApiClient, AuditEntry, SecurityStore, Store};

pub(crate) const ADMIN: &str = "admin";
pub(crate) const ADMIN_SECRET: &str = "admin-secret-0123456789";
/// How the audit log and `creator` name the administrator.
pub(crate) const ADMIN_ACTOR: &str = "client:admin";

/// Where every server's clock starts.
pub(crate) fn t0() -> Timestamp {
    "2024-01-01T00:00:00Z".parse().unwrap()
}

/// One answer: status, headers, and the body as JSON (or a JSON string when it is not JSON).
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Value,
}

impl Reply {
    /// The body's `errorCode`, Tessera's stable code for an API error.
    pub(crate) fn code(&self) -> &str {
        self.body["errorCode"].as_str().unwrap_or_default()
    }

    pub(crate) fn total(&self) -> i64 {
        self.headers.get("x-total-count").unwrap().to_str().unwrap().parse().unwrap()
    }
}

/// A running API on one store.
pub(crate) struct Api {
    pub(crate) kind: &'static str,
    pub(crate) base: String,
    pub(crate) engine: Arc<Engine>,
    pub(crate) governance: Arc<Governance>,
    pub(crate) clock: Arc<ManualClock>,
    pub(crate) store: Store,
    /// The directory delimited-file sources may read from.
    pub(crate) imports: std::path::PathBuf,
    /// Where uploaded files wait for their runs.
    pub(crate) uploads: std::path::PathBuf,
    http: reqwest::Client,
    token: String,
}

/// An API per store, with the default limits.
pub(crate) async fn apis() -> Vec<Api> {
    apis_with(ApiLimits::default()).await
}

/// The engine's configuration for most tests: the local services they call listen on loopback,
/// which the HTTP action refuses unless allowed, as an operator allows a named host.
pub(crate) fn local_calls() -> EngineConfig {
    let mut config = EngineConfig::default();
    config.http.policy.allow.push("127.0.0.0/8".parse().unwrap());
    config
}

pub(crate) async fn apis_with(limits: ApiLimits) -> Vec<Api> {
    let mut apis = Vec::new();
    for (kind, store) in stores().await {
        apis.push(Api::start(kind, store, limits, local_calls()).await);
    }
    apis
}

/// An API per store, its engine configured with `config` (an SMTP server, say).
pub(crate) async fn apis_with_config(config: EngineConfig) -> Vec<Api> {
    let mut apis = Vec::new();
    for (kind, store) in stores().await {
        apis.push(Api::start(kind, store, ApiLimits::default(), config.clone()).await);
    }
    apis
}

impl Api {
    async fn start(kind: &'static str, store: Store, limits: ApiLimits, config: EngineConfig) -> Self {
        let clock = Arc::new(ManualClock::new(t0()));
        let files = std::env::temp_dir().join(format!("tessera-test-files-{}", uuid::Uuid::new_v4().simple()));
        let imports = files.join("imports");
        std::fs::create_dir_all(&imports).unwrap();
        let engine = Engine::new(store.clone(), clock.clone(), config);
        let governance_config = GovernanceConfig { imports: ImportDirs::new([imports.clone()]), ..Default::default() };
        let governance = Governance::new(engine.clone(), governance_config).unwrap();
        let auth = Arc::new(Auth::load(&store, clock.clone(), DEFAULT_LIFETIME).await.unwrap());
        let created = ensure_admin(&store, Some(ADMIN.into()), Some(ADMIN_SECRET.into()), t0()).await.unwrap();
        assert_eq!(
            created,
            AdminClient::Created { id: ADMIN.into(), generated_secret: None },
            "{kind}: a given secret is not handed back"
        );
        let gate = Arc::new(TokenGate::default());
        let app = router(AppState {
            engine: engine.clone(),
            governance: governance.clone(),
            auth,
            limits,
            uploads: files.join("uploads"),
            gate,
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let serving = tessera_server::listen::ListenConfig::default();
        tokio::spawn(async move {
            tessera_server::listen::serve(listener, app, serving, std::future::pending()).await.unwrap();
        });
        let uploads = files.join("uploads");
        let mut api = Self {
            kind,
            base,
            engine,
            governance,
            clock,
            store,
            imports,
            uploads: uploads.clone(),
            http: reqwest::Client::new(),
            token: String::new(),
        };
        api.token = api.token_for(ADMIN, ADMIN_SECRET).await;
        api
    }

    /// `POST /oauth/token` with a form body and, optionally, HTTP Basic credentials.
    pub(crate) async fn oauth(&self, form: &[(&str, &str)], basic: Option<(&str, &str)>) -> Reply {
        let mut request = self.http.post(format!("{}/oauth/token", self.base)).form(form);
        if let Some((id, secret)) = basic {
            request = request.basic_auth(id, Some(secret));
        }
        reply(request.send().await.unwrap()).await
    }

    /// A token for a client, asserting that it is issued.
    pub(crate) async fn token_for(&self, id: &str, secret: &str) -> String {
        let form = [("grant_type", "client_credentials"), ("client_id", id), ("client_secret", secret)];
        let answer = self.oauth(&form, None).await;
        assert_eq!(answer.status, 200, "{}: token for {id}: {}", self.kind, answer.body);
        answer.body["access_token"].as_str().unwrap().to_owned()
    }

    /// Stores a client with these scopes and returns a token for it.
    pub(crate) async fn client_with(&self, id: &str, scopes: &[&str]) -> String {
        let secret = self.insert_client(id, scopes, false).await;
        self.token_for(id, &secret).await
    }

    /// Stores a client; returns its secret.
    pub(crate) async fn insert_client(&self, id: &str, scopes: &[&str], disabled: bool) -> String {
        let secret = format!("{id}-secret-0123456789");
        let client = ApiClient {
            id: id.into(),
            name: id.into(),
            secret_hash: hash_secret(&secret),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            workflow_id: None,
            identity_id: None,
            created_at: t0(),
            disabled,
            modified_at: None,
            tokens_after: Timestamp::UNIX_EPOCH,
        };
        let mut tx = self.store.begin().await.unwrap();
        tx.insert_client(&client).await.unwrap();
        tx.commit().await.unwrap();
        secret
    }

    /// A request with `token` (none: no `Authorization` header).
    pub(crate) async fn call_as(&self, token: Option<&str>, method: Method, path: &str, body: Option<&Value>) -> Reply {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        reply(request.send().await.unwrap()).await
    }

    /// A request as the administrator with a body sent as is, under `content_type`.
    pub(crate) async fn raw(&self, method: Method, path: &str, content_type: &str, body: &str) -> Reply {
        let request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .header("content-type", content_type)
            .body(body.to_owned());
        reply(request.send().await.unwrap()).await
    }

    /// A request as the administrator.
    pub(crate) async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> Reply {
        self.call_as(Some(&self.token), method, path, body).await
    }

    pub(crate) async fn get(&self, path: &str) -> Reply {
        self.call(Method::GET, path, None).await
    }

    pub(crate) async fn post(&self, path: &str, body: &Value) -> Reply {
        self.call(Method::POST, path, Some(body)).await
    }

    /// Creates a workflow, asserting success; returns its id.
    pub(crate) async fn create(&self, document: &Value) -> String {
        let created = self.post("/v3/workflows", document).await;
        assert_eq!(created.status, 200, "{}: create: {}", self.kind, created.body);
        created.body["id"].as_str().unwrap().to_owned()
    }

    /// Starts a test execution with `input`, asserting success; returns its id.
    pub(crate) async fn test(&self, workflow: &str, input: Value) -> String {
        let started = self.post(&format!("/v3/workflows/{workflow}/test"), &json!({ "input": input })).await;
        assert_eq!(started.status, 200, "{}: test: {}", self.kind, started.body);
        started.body["workflowExecutionId"].as_str().unwrap().to_owned()
    }

    /// Runs every due task, as the workers would.
    pub(crate) async fn run_due(&self) {
        self.engine.run_due().await.unwrap();
    }

    pub(crate) fn advance(&self, by: Duration) {
        self.clock.advance_to(self.clock.now() + by);
    }

    /// The audit entries about one object, oldest first.
    pub(crate) async fn audit_of(&self, target_type: &str, id: &str) -> Vec<AuditEntry> {
        let mut tx = self.store.begin().await.unwrap();
        tx.audit_of(target_type, id).await.unwrap()
    }

    /// Every audit entry about anything.
    pub(crate) async fn audit_count(&self) -> i64 {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM audit_log").fetch_one(self.store.pool()).await.unwrap()
    }
}

/// A token of a new client acting as `identity` with these scopes, made over the API.
pub(crate) async fn bound_token(api: &Api, identity: &str, scopes: &[&str]) -> String {
    let (id, secret) = bound_client(api, identity, scopes).await;
    api.token_for(&id, &secret).await
}

/// Creates a client acting as `identity` with these scopes over the API; returns its id and secret.
pub(crate) async fn bound_client(api: &Api, identity: &str, scopes: &[&str]) -> (String, String) {
    let body = json!({"name": format!("{identity}'s client"), "scope": scopes, "identityId": identity});
    let created = api.post("/v3/oauth-clients", &body).await;
    assert_eq!(created.status, 201, "{}: {}", api.kind, created.body);
    assert_eq!(created.body["identityId"], identity, "{}", api.kind);
    let field = |key: &str| created.body[key].as_str().unwrap().to_owned();
    (field("id"), field("secret"))
}

async fn reply(response: reqwest::Response) -> Reply {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Reply { status, headers, body }
}

/// A workflow from the ISC colab corpus.
pub(crate) fn corpus(path: &str) -> Value {
    let file = format!("{}/../../../shared/corpus/isc-colab/{path}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap()
}

/// A workflow of internal steps only: define a variable from the trigger, choose on it, succeed.
pub(crate) fn internal(name: &str) -> Value {
    json!({"name": name, "description": "internal steps only", "definition": {"start": "Define", "steps": {
        "Define": {"type": "Mutation", "attributes": {"id": "sp:define-variable",
                   "variables": [{"name": "who", "variableA.$": "$.trigger.who"}]}, "nextStep": "Check"},
        "Check": {"type": "choice", "defaultStep": "Other", "choiceList": [
                  {"comparator": "StringEquals", "variableA.$": "$.define.who", "variableB": "ada", "nextStep": "Done"}]},
        "Done": {"type": "success"},
        "Other": {"type": "failure", "failureName": "not ada"}}}})
}

/// A workflow that sleeps an hour, then succeeds.
pub(crate) fn sleepy(name: &str) -> Value {
    json!({"name": name, "definition": {"start": "Wait", "steps": {
        "Wait": {"type": "action", "actionId": "sp:sleep", "attributes": {"type": "waitFor", "duration": "1h"}, "nextStep": "Done"},
        "Done": {"type": "success"}}}})
}

/// An active identity named `id`, with its manager.
pub(crate) fn person(id: &str, manager: Option<&str>) -> tessera_store::IdentityRecord {
    tessera_store::IdentityRecord {
        id: id.into(),
        name: id.into(),
        alias: id.into(),
        email: None,
        manager_id: manager.map(str::to_owned).map(Into::into),
        profile_id: None,
        lifecycle_state: None,
        lifecycle_manual: false,
        status: tessera_model::IdentityStatus::Active,
        attributes: serde_json::Map::new(),
        created_at: Timestamp::UNIX_EPOCH,
        modified_at: Timestamp::UNIX_EPOCH,
    }
}

/// A catalogue object named `id` under `parent`.
pub(crate) fn object(
    kind: tessera_store::CatalogKind,
    id: &str,
    parent: &str,
    requestable: bool,
    document: Value,
) -> tessera_store::CatalogObject {
    tessera_store::CatalogObject {
        kind,
        id: id.into(),
        name: id.into(),
        key: id.into(),
        parent_id: parent.into(),
        owner_id: None,
        enabled: true,
        requestable,
        document,
        created_at: Timestamp::UNIX_EPOCH,
        modified_at: Timestamp::UNIX_EPOCH,
    }
}
