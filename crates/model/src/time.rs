//! [`Timestamp`], the one type for an instant: milliseconds since the Unix epoch, UTC.
//!
//! Every crate says "when" with it: a record's `created_at`, a deadline, the `now` a clock reads. The
//! store keeps it as an integer column of milliseconds and JSON carries it as that integer, so the
//! type changes no stored or wire format. chrono stays the calendar library: code that formats,
//! parses, adds months or reads a cron expression converts with [`Timestamp::to_datetime`] and back
//! with `Timestamp::from`. Spans (timeouts, intervals, retention periods) are not instants; they stay
//! durations and are added to or subtracted from an instant.

use std::fmt;
use std::ops::{Add, Sub};
use std::str::FromStr;

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

/// An instant in UTC with millisecond precision: milliseconds since 1970-01-01T00:00:00Z.
///
/// Serializes as that integer. Arithmetic with spans saturates instead of overflowing. The default
/// is the epoch, as an unset count of milliseconds was.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(i64);

impl Timestamp {
    /// 1970-01-01T00:00:00Z.
    pub const UNIX_EPOCH: Self = Self(0);

    /// The instant `millis` milliseconds after the epoch (before it when negative).
    pub const fn from_millis(millis: i64) -> Self {
        Self(millis)
    }

    /// Milliseconds since the epoch, as the store and the JSON keep it.
    pub const fn millis(self) -> i64 {
        self.0
    }

    /// The same instant for calendar work; one beyond chrono's range (about 262,000 years either
    /// side of the epoch) is clamped to the range's end.
    pub fn to_datetime(self) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(self.0).unwrap_or(if self.0 < 0 {
            DateTime::<Utc>::MIN_UTC
        } else {
            DateTime::<Utc>::MAX_UTC
        })
    }

    /// Milliseconds from `earlier` to this instant: negative when `earlier` is in fact later,
    /// saturating at `i64`'s bounds.
    pub const fn saturating_millis_since(self, earlier: Self) -> i64 {
        self.0.saturating_sub(earlier.0)
    }
}

impl From<DateTime<Utc>> for Timestamp {
    /// The instant truncated to the millisecond (towards the past).
    fn from(at: DateTime<Utc>) -> Self {
        Self(at.timestamp_millis())
    }
}

impl fmt::Display for Timestamp {
    /// RFC 3339 in UTC with milliseconds, as ISC writes times: `2026-01-02T03:04:05.000Z`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.to_datetime().to_rfc3339_opts(SecondsFormat::Millis, true))
    }
}

impl FromStr for Timestamp {
    type Err = chrono::ParseError;

    /// An RFC 3339 date and time with any offset, e.g. `2026-01-02T03:04:05Z`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        DateTime::parse_from_rfc3339(text).map(|at| at.to_utc().into())
    }
}

/// Whole milliseconds in a std span, saturating.
fn std_millis(span: std::time::Duration) -> i64 {
    i64::try_from(span.as_millis()).unwrap_or(i64::MAX)
}

impl Add<std::time::Duration> for Timestamp {
    type Output = Self;

    fn add(self, span: std::time::Duration) -> Self {
        Self(self.0.saturating_add(std_millis(span)))
    }
}

impl Sub<std::time::Duration> for Timestamp {
    type Output = Self;

    fn sub(self, span: std::time::Duration) -> Self {
        Self(self.0.saturating_sub(std_millis(span)))
    }
}

impl Add<TimeDelta> for Timestamp {
    type Output = Self;

    fn add(self, span: TimeDelta) -> Self {
        Self(self.0.saturating_add(span.num_milliseconds()))
    }
}

impl Sub<TimeDelta> for Timestamp {
    type Output = Self;

    fn sub(self, span: TimeDelta) -> Self {
        Self(self.0.saturating_sub(span.num_milliseconds()))
    }
}

impl Add<crate::Duration> for Timestamp {
    type Output = Self;

    fn add(self, span: crate::Duration) -> Self {
        let millis = i64::try_from(span.as_secs()).unwrap_or(i64::MAX).saturating_mul(1000);
        Self(self.0.saturating_add(millis))
    }
}

/// Serde for a [`Timestamp`] kept as RFC 3339 text, as chrono writes a `DateTime<Utc>`: for the
/// documents that already store instants that way (the workflow interpreter's run state and
/// history), with `#[serde(with = "tessera_model::time::rfc3339")]`. Reading truncates to the
/// millisecond.
pub mod rfc3339 {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::Timestamp;

    pub fn serialize<S: Serializer>(at: &Timestamp, serializer: S) -> Result<S::Ok, S::Error> {
        at.to_datetime().serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Timestamp, D::Error> {
        DateTime::<Utc>::deserialize(deserializer).map(Timestamp::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn reads_and_writes_milliseconds_since_the_epoch() {
        let t = at("2026-01-02T03:04:05.678999Z");
        assert_eq!(t.millis(), 1_767_323_045_678);
        assert_eq!(t, Timestamp::from_millis(1_767_323_045_678));
        assert_eq!(serde_json::to_string(&t).unwrap(), "1767323045678");
        assert_eq!(serde_json::from_str::<Timestamp>("1767323045678").unwrap(), t);
        assert_eq!(t.to_datetime(), DateTime::parse_from_rfc3339("2026-01-02T03:04:05.678Z").unwrap());
        // Before the epoch, truncation is towards the past, as chrono's `timestamp_millis`.
        assert_eq!(at("1969-12-31T23:59:59.9995Z").millis(), -1);
        assert_eq!(at("2026-01-02T04:04:05.678+01:00"), t);
        assert!("2026-01-02".parse::<Timestamp>().is_err());
    }

    #[test]
    fn displays_rfc3339_with_milliseconds() {
        assert_eq!(Timestamp::UNIX_EPOCH.to_string(), "1970-01-01T00:00:00.000Z");
        assert_eq!(at("2026-01-02T03:04:05.6Z").to_string(), "2026-01-02T03:04:05.600Z");
        assert_eq!(Timestamp::from_millis(i64::MAX).to_datetime(), DateTime::<Utc>::MAX_UTC);
    }

    #[test]
    fn adds_and_measures_spans() {
        let t = Timestamp::from_millis(10_000);
        assert_eq!(t + std::time::Duration::from_millis(1_500), Timestamp::from_millis(11_500));
        assert_eq!(t - std::time::Duration::from_secs(20), Timestamp::from_millis(-10_000));
        assert_eq!(t + TimeDelta::minutes(1), Timestamp::from_millis(70_000));
        assert_eq!(t - TimeDelta::milliseconds(1), Timestamp::from_millis(9_999));
        assert_eq!(t + crate::Duration::from_secs(2), Timestamp::from_millis(12_000));
        assert_eq!(Timestamp::from_millis(i64::MAX - 1) + std::time::Duration::MAX, Timestamp::from_millis(i64::MAX));
        assert_eq!(t.saturating_millis_since(Timestamp::from_millis(4_000)), 6_000);
        assert_eq!(Timestamp::from_millis(4_000).saturating_millis_since(t), -6_000);
        assert_eq!(Timestamp::from_millis(i64::MIN).saturating_millis_since(t), i64::MIN);
    }

    #[test]
    fn keeps_rfc3339_text_where_a_document_stores_it() {
        #[derive(Serialize, Deserialize, PartialEq, Debug)]
        struct Doc {
            #[serde(with = "super::rfc3339")]
            at: Timestamp,
        }
        let doc = Doc { at: at("2026-01-02T03:04:05.678Z") };
        let text = serde_json::to_string(&doc).unwrap();
        assert_eq!(text, r#"{"at":"2026-01-02T03:04:05.678Z"}"#);
        assert_eq!(serde_json::from_str::<Doc>(&text).unwrap(), doc);
        let whole = Doc { at: at("2026-01-02T03:04:05Z") };
        assert_eq!(serde_json::to_string(&whole).unwrap(), r#"{"at":"2026-01-02T03:04:05Z"}"#);
    }
}
