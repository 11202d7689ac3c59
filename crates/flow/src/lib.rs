//! Tessera's workflow language: ISC workflow documents parsed, validated and compiled, data
//! references evaluated, and the interpreter as a pure state machine.

pub mod catalog;
pub mod compare;
pub mod definition;
pub mod dryrun;
pub mod expr;
pub mod filter;
pub mod interp;
pub mod name;
pub mod path;
pub mod program;
pub mod schedule;
pub mod secrets;
pub mod transform;
pub mod validate;

pub use definition::{Format, Workflow};
pub use name::StepName;
pub use validate::{Diagnostic, Severity};
