//! How a failed attempt is tried again: the one retry policy, used by workflow actions (a step's
//! `retry`) and by provisioning through connectors. Waits grow by a rate up to a ceiling.

use std::time::Duration;

/// Attempts in all, and the waits between them. Serialized as a step's `retry` is stored:
/// `{"maxAttempts", "intervalSeconds", "backoffRate", "maxIntervalSeconds"}` (whole seconds, as ISC
/// writes them); in memory the waits are durations, so a policy of sub-second waits (a page read's
/// retry) is the same policy.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// The wait before the second attempt.
    #[serde(rename = "intervalSeconds", with = "whole_seconds")]
    pub interval: Duration,
    /// Each later wait is the previous one times this (at least 1).
    pub backoff_rate: f64,
    /// No wait is longer than this.
    #[serde(rename = "maxIntervalSeconds", with = "whole_seconds")]
    pub max_interval: Duration,
}

impl RetryPolicy {
    /// `max_attempts` in all, the first wait `interval`, each later one twice the last, none over `max_interval`.
    pub fn doubling(max_attempts: u32, interval: Duration, max_interval: Duration) -> Self {
        Self { max_attempts, interval, backoff_rate: 2.0, max_interval }
    }

    /// The wait before attempt `attempt + 1` (attempts count from 0), if one is left.
    pub fn delay_after(&self, attempt: u32) -> Option<Duration> {
        if attempt.saturating_add(1) >= self.max_attempts {
            return None;
        }
        let factor = self.backoff_rate.max(1.0).powi(i32::try_from(attempt).unwrap_or(i32::MAX));
        let delay = (self.interval.as_secs_f64() * factor).min(self.max_interval.as_secs_f64());
        // A wait too long to represent is the longest there is (a step may say `u64::MAX` seconds).
        Some(Duration::try_from_secs_f64(delay.max(0.0)).unwrap_or(Duration::MAX))
    }
}

/// A duration stored as whole seconds.
mod whole_seconds {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(duration: &Duration, to: S) -> Result<S::Ok, S::Error> {
        to.serialize_u64(duration.as_secs())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(from: D) -> Result<Duration, D::Error> {
        u64::deserialize(from).map(Duration::from_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_to_their_ceiling_and_stop_with_the_attempts() {
        let policy = RetryPolicy::doubling(6, Duration::from_secs(5), Duration::from_secs(30));
        let waits: Vec<Option<u64>> = (0..7).map(|attempt| policy.delay_after(attempt).map(|d| d.as_secs())).collect();
        assert_eq!(waits, [Some(5), Some(10), Some(20), Some(30), Some(30), None, None]);
        let once = RetryPolicy {
            max_attempts: 1,
            interval: Duration::from_secs(1),
            backoff_rate: 0.5,
            max_interval: Duration::from_secs(9),
        };
        assert_eq!(once.delay_after(0), None);
        let stored = serde_json::to_value(policy).unwrap();
        assert_eq!(
            (&stored["maxAttempts"], &stored["intervalSeconds"]),
            (&serde_json::json!(6), &serde_json::json!(5))
        );
        assert_eq!(serde_json::from_value::<RetryPolicy>(stored).unwrap(), policy);
        // Sub-second waits are the same policy.
        let pages = RetryPolicy::doubling(3, Duration::from_millis(200), Duration::from_secs(1));
        assert_eq!(pages.delay_after(1), Some(Duration::from_millis(400)));
        let endless = RetryPolicy::doubling(5, Duration::from_secs(u64::MAX), Duration::from_secs(u64::MAX));
        assert_eq!(endless.delay_after(3), Some(Duration::MAX), "too long to represent, not a panic");
    }
}
