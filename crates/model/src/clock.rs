//! The one place wall-clock time is read; everything else takes a `&dyn Clock` (STYLE.md §7).

use std::sync::Mutex;

use chrono::Utc;

use crate::Timestamp;

/// A source of the current time, injected so tests of timers and deadlines run instantly.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current instant, to the millisecond.
    fn now(&self) -> Timestamp;
}

/// The real clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // the single sanctioned wall-clock read
    fn now(&self) -> Timestamp {
        Utc::now().into()
    }
}

/// A clock that moves only when told to: simulated time for tests and dry runs.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<Timestamp>,
}

impl ManualClock {
    /// A clock stopped at `start`.
    pub fn new(start: Timestamp) -> Self {
        Self { now: Mutex::new(start) }
    }

    /// Moves the clock to `instant` if that is later than now; time never runs backwards.
    pub fn advance_to(&self, instant: Timestamp) {
        let mut now = self.now.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if instant > *now {
            *now = instant;
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.now.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
