//! A source's connector to its live system (SCIM, LDAP), built from the source's document for
//! provisioning and aggregation alike, with its sealed secrets opened by the store's keyring.

use serde_json::Value;
use tessera_connectors::LiveConnector;
use tessera_store::{CatalogObject, Store, secrets};

use crate::{Error, Result};

/// The connector a source's `connector` and `connectorAttributes` describe; `None` for a source that
/// has no live system (a delimited file, a manual source). A configuration that does not work, or a
/// sealed secret this node's keys do not open, is an [`Error::Invalid`] naming the source (and the
/// attribute, never its value).
pub(crate) fn live_connector(store: &Store, source: &CatalogObject) -> Result<Option<LiveConnector>> {
    let connector = source.document.get("connector").and_then(Value::as_str).unwrap_or_default();
    if !LiveConnector::is_live(connector) {
        return Ok(None);
    }
    let attributes =
        secrets::opened_attributes(store.keyring(), source).map_err(|error| Error::invalid(error.to_string()))?;
    LiveConnector::from_source(connector, &attributes)
        .map_err(|error| Error::invalid(format!("source `{}`: {error}", source.name)))
}
