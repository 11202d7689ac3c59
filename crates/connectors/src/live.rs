//! The connectors to live systems, chosen by a source's `connector` name: one type the engine can hold
//! and call without knowing which system is behind it.

use serde_json::Value;

use crate::ldap::{LdapConfig, LdapConnector};
use crate::scim::{ScimConfig, ScimConnector};
use crate::{Account, AccountRequest, Connector, ConnectorError, Entitlement, Error, Feature, Outcome, Page};

/// A connector to a live system.
#[derive(Debug)]
pub enum LiveConnector {
    Scim(Box<ScimConnector>),
    Ldap(Box<LdapConnector>),
}

impl LiveConnector {
    /// Whether a source's `connector` names a live system (`scim`, `ldap`).
    pub fn is_live(connector: &str) -> bool {
        matches!(connector.to_ascii_lowercase().as_str(), "scim" | "scim2" | "ldap")
    }

    /// The connector for a source's `connector` and `connectorAttributes`; `Ok(None)` when the name is
    /// not a live system's (a delimited file, a manual source).
    pub fn from_source(connector: &str, attributes: &Value) -> Result<Option<Self>, Error> {
        Ok(match connector.to_ascii_lowercase().as_str() {
            "scim" | "scim2" => Some(Self::Scim(Box::new(ScimConnector::new(ScimConfig::from_json(attributes)?)?))),
            "ldap" => Some(Self::Ldap(Box::new(LdapConnector::new(LdapConfig::from_json(attributes)?)?))),
            _ => None,
        })
    }
}

impl Connector for LiveConnector {
    fn features(&self) -> &[Feature] {
        match self {
            Self::Scim(c) => c.features(),
            Self::Ldap(c) => c.features(),
        }
    }

    async fn provision(&self, request: &AccountRequest, key: &str) -> Result<Outcome, ConnectorError> {
        match self {
            Self::Scim(c) => c.provision(request, key).await,
            Self::Ldap(c) => c.provision(request, key).await,
        }
    }

    async fn accounts(&self, cursor: Option<&str>) -> Result<Page<Account>, ConnectorError> {
        match self {
            Self::Scim(c) => c.accounts(cursor).await,
            Self::Ldap(c) => c.accounts(cursor).await,
        }
    }

    async fn entitlements(&self, cursor: Option<&str>) -> Result<Page<Entitlement>, ConnectorError> {
        match self {
            Self::Scim(c) => c.entitlements(cursor).await,
            Self::Ldap(c) => c.entitlements(cursor).await,
        }
    }

    async fn test_connection(&self) -> Result<(), ConnectorError> {
        match self {
            Self::Scim(c) => c.test_connection().await,
            Self::Ldap(c) => c.test_connection().await,
        }
    }
}
