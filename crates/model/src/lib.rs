//! Tessera's domain vocabulary: the injected clock, identifier newtypes and durations, with no I/O.

pub mod clock;
pub mod duration;
pub mod governance;

pub use clock::{Clock, ManualClock, SystemClock};
pub use duration::{Duration, ParseDurationError};
