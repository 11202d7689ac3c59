//! Tessera's connectors: how accounts are read from (and, later, written to) connected systems.
//!
//! For now there is one: the delimited-file (CSV) source that an authoritative HR feed usually is. Its
//! [`DelimitedReader`] streams a file row by row as accounts, and [`generate::write_hr_file`] writes a
//! deterministic HR file for benchmarks and the demo.

pub mod delimited;
mod error;
pub mod generate;

pub use delimited::{DelimitedConfig, DelimitedReader, Row, RowError};
pub use error::Error;
