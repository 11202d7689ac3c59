//! Tessera's connectors: how accounts are read from (and, later, written to) connected systems.
//!
//! [`Connector`] is the contract of connectors to live systems. The delimited-file (CSV) source is read-only: that an authoritative HR feed usually is. Its
//! [`DelimitedReader`] streams a file row by row as accounts, and [`generate::write_hr_file`] writes a
//! deterministic HR file for benchmarks and the demo.

pub mod connector;
pub mod delimited;
mod error;
pub mod generate;
pub mod ldap;
mod live;
pub mod oauth;
pub mod scim;
#[cfg(feature = "testing")]
pub mod testing;

pub use connector::{
    Account, AccountRequest, AttributeOperation, AttributeRequest, Connector, ConnectorError, Entitlement, Feature,
    Operation, Outcome, Page,
};
pub use delimited::{DelimitedConfig, DelimitedReader, Row, RowError};
pub use error::Error;
pub use live::LiveConnector;
