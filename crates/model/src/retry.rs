//! How a failed attempt is tried again: the one retry policy, used by workflow actions (a step's
//! `retry`) and by provisioning through connectors. Waits grow by a rate up to a ceiling.

use std::time::Duration;

/// Attempts in all, and the waits between them. Serialized as a step's `retry` is stored:
/// `{"maxAttempts", "intervalSeconds", "backoffRate", "maxIntervalSeconds"}`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// The wait before the second attempt, in seconds.
    pub interval_seconds: u64,
    /// Each later wait is the previous one times this (at least 1).
    pub backoff_rate: f64,
    /// No wait is longer than this, in seconds.
    pub max_interval_seconds: u64,
}

impl RetryPolicy {
    /// `max_attempts` in all, the first wait `interval`, each later one twice the last, none over `max_interval`.
    pub fn doubling(max_attempts: u32, interval: Duration, max_interval: Duration) -> Self {
        Self {
            max_attempts,
            interval_seconds: interval.as_secs(),
            backoff_rate: 2.0,
            max_interval_seconds: max_interval.as_secs(),
        }
    }

    /// The wait, in seconds, before attempt `attempt + 1` (attempts count from 0), if one is left.
    pub fn delay_after(&self, attempt: u32) -> Option<u64> {
        if attempt.saturating_add(1) >= self.max_attempts {
            return None;
        }
        let factor = self.backoff_rate.max(1.0).powi(i32::try_from(attempt).unwrap_or(i32::MAX));
        let delay = (self.interval_seconds as f64 * factor).min(self.max_interval_seconds as f64);
        Some(delay.max(0.0) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_to_their_ceiling_and_stop_with_the_attempts() {
        let policy = RetryPolicy::doubling(6, Duration::from_secs(5), Duration::from_secs(30));
        let waits: Vec<Option<u64>> = (0..7).map(|attempt| policy.delay_after(attempt)).collect();
        assert_eq!(waits, [Some(5), Some(10), Some(20), Some(30), Some(30), None, None]);
        let once = RetryPolicy { max_attempts: 1, interval_seconds: 1, backoff_rate: 0.5, max_interval_seconds: 9 };
        assert_eq!(once.delay_after(0), None);
        let stored = serde_json::to_value(policy).unwrap();
        assert_eq!(stored["maxAttempts"], 6);
        assert_eq!(serde_json::from_value::<RetryPolicy>(stored).unwrap(), policy);
    }
}
