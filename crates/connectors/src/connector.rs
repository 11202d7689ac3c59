//! The contract every connector to a live system keeps: which features it has, how it carries out one
//! account request (idempotently, under a key that stays the same across retries), and how it reads the
//! system's accounts and entitlements page by page.

use serde_json::{Map, Value};

/// What a source's connector can do. Provisioning refuses an operation whose feature is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Feature {
    /// Enable and disable accounts.
    Enable,
    /// Unlock accounts.
    Unlock,
    /// Create, modify and delete accounts and their entitlements.
    Provisioning,
    /// Set passwords.
    Password,
    /// Read every account.
    AccountAggregation,
    /// Read every entitlement (groups).
    EntitlementAggregation,
}

impl Feature {
    /// ISC's name for the feature.
    pub fn as_str(self) -> &'static str {
        match self {
            Feature::Enable => "ENABLE",
            Feature::Unlock => "UNLOCK",
            Feature::Provisioning => "PROVISIONING",
            Feature::Password => "PASSWORD",
            Feature::AccountAggregation => "ACCOUNT_AGGREGATION",
            Feature::EntitlementAggregation => "ENTITLEMENT_AGGREGATION",
        }
    }
}

/// An account operation (ISC's `accountOperation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    Create,
    Modify,
    Enable,
    Disable,
    Unlock,
    Delete,
    Password,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "Create",
            Operation::Modify => "Modify",
            Operation::Enable => "Enable",
            Operation::Disable => "Disable",
            Operation::Unlock => "Unlock",
            Operation::Delete => "Delete",
            Operation::Password => "Password",
        }
    }

    /// The feature a source needs for this operation.
    pub fn feature(self) -> Feature {
        match self {
            Operation::Create | Operation::Modify | Operation::Delete => Feature::Provisioning,
            Operation::Enable | Operation::Disable => Feature::Enable,
            Operation::Unlock => Feature::Unlock,
            Operation::Password => Feature::Password,
        }
    }
}

/// How an attribute request changes a value (ISC's `operation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AttributeOperation {
    /// Add a value to a (multi-valued) attribute: a group membership, for example.
    Add,
    /// Replace the attribute's value.
    Set,
    /// Remove a value.
    Remove,
}

/// One attribute change of an account request.
#[derive(Debug, Clone, PartialEq)]
pub struct AttributeRequest {
    /// The account attribute (for an entitlement, the entitlement's attribute, such as `groups` or
    /// `memberOf`).
    pub name: String,
    pub operation: AttributeOperation,
    pub value: Value,
}

/// One operation on one account of a source.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountRequest {
    pub operation: Operation,
    /// The account's native identity; `None` for a Create, where the connector derives it from the
    /// attributes (a SCIM `userName`, an LDAP DN).
    pub native_identity: Option<String>,
    pub attributes: Vec<AttributeRequest>,
    /// The new password, for Create and Password. Never logged.
    pub password: Option<String>,
}

/// An account as a connector reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct Account {
    pub native_identity: String,
    pub name: String,
    /// Every attribute; entitlements (group memberships) as an array under their attribute name.
    pub attributes: Map<String, Value>,
    pub disabled: bool,
    pub locked: bool,
}

/// An entitlement (a group) as a connector reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct Entitlement {
    /// The account attribute that carries it (`groups`, `memberOf`).
    pub attribute: String,
    /// The value an account holds when it has the entitlement (a group id, a DN).
    pub value: String,
    pub name: String,
    pub attributes: Map<String, Value>,
}

/// What became of an account request.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Done; the account as it is now, when the system says.
    Success { native_identity: String, account: Option<Account> },
    /// Handed to a person (or a ticketing system); done when that is.
    Pending { ticket_id: String },
}

/// Why an account request or a read failed, and whether trying again may help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ConnectorError {
    /// A timeout, a refused connection, HTTP 429 or 5xx, LDAP busy/unavailable: a retry may succeed.
    pub retryable: bool,
    pub message: String,
}

impl ConnectorError {
    pub fn retryable(message: impl Into<String>) -> Self {
        Self { retryable: true, message: message.into() }
    }

    pub fn permanent(message: impl Into<String>) -> Self {
        Self { retryable: false, message: message.into() }
    }
}

/// One page of a paged read; `next` is the cursor of the page after it, `None` at the end.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

/// A connection to a system Tessera governs.
// Used on concrete types (and through the `Connectors` enum), where auto traits are known.
#[allow(async_fn_in_trait)]
pub trait Connector {
    /// What this connector can do with its configuration.
    fn features(&self) -> &[Feature];

    /// Carries out one account request. `key` is the same for every retry of one request: a connector
    /// makes a repeated request harmless (a Create that already happened succeeds with the existing
    /// account; adding a membership the account has succeeds).
    async fn provision(&self, request: &AccountRequest, key: &str) -> Result<Outcome, ConnectorError>;

    /// A page of accounts, from the first (`cursor` `None`) to the last.
    async fn accounts(&self, cursor: Option<&str>) -> Result<Page<Account>, ConnectorError>;

    /// A page of entitlements.
    async fn entitlements(&self, cursor: Option<&str>) -> Result<Page<Entitlement>, ConnectorError>;

    /// Checks the configuration and that the system answers.
    async fn test_connection(&self) -> Result<(), ConnectorError>;
}
