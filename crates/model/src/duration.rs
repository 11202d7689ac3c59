//! Durations written the ISC way (`10m`, `7d`, `1h30m`), as `sp:sleep` and `removeDuration` use them.

use std::fmt;
use std::str::FromStr;

/// A non-negative span of time with second precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration {
    seconds: u64,
}

/// Why a duration string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{input}` is not a duration: {reason} (write e.g. `30s`, `10m`, `2h`, `7d` or `1w2d`)")]
pub struct ParseDurationError {
    input: String,
    reason: &'static str,
}

impl Duration {
    /// A duration of `seconds` seconds.
    pub const fn from_secs(seconds: u64) -> Self {
        Self { seconds }
    }

    /// The whole seconds in this duration.
    pub const fn as_secs(self) -> u64 {
        self.seconds
    }

    /// The same span as a chrono duration, for date arithmetic.
    pub fn to_chrono(self) -> chrono::Duration {
        chrono::Duration::seconds(i64::try_from(self.seconds).unwrap_or(i64::MAX))
    }
}

impl FromStr for Duration {
    type Err = ParseDurationError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let fail = |reason| ParseDurationError { input: input.to_owned(), reason };
        let text = input.trim();
        if text.is_empty() {
            return Err(fail("it is empty"));
        }
        let mut seconds: u64 = 0;
        let mut digits = String::new();
        for ch in text.chars() {
            if ch.is_ascii_digit() {
                digits.push(ch);
                continue;
            }
            let unit = match ch.to_ascii_lowercase() {
                's' => 1,
                'm' => 60,
                'h' => 3_600,
                'd' => 86_400,
                'w' => 604_800,
                _ => return Err(fail("unknown unit (use s, m, h, d or w)")),
            };
            let amount: u64 = digits.parse().map_err(|_| fail("a unit without a number"))?;
            digits.clear();
            seconds =
                amount.checked_mul(unit).and_then(|part| seconds.checked_add(part)).ok_or_else(|| fail("too long"))?;
        }
        if !digits.is_empty() {
            return Err(fail("a number without a unit"));
        }
        Ok(Self { seconds })
    }
}

impl fmt::Display for Duration {
    /// The shortest ISC spelling, e.g. `1d2h` or `0s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.seconds == 0 {
            return f.write_str("0s");
        }
        let mut rest = self.seconds;
        for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
            if rest >= size {
                write!(f, "{}{unit}", rest / size)?;
                rest %= size;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_isc_durations() {
        for (text, secs, shown) in [
            ("10m", 600, "10m"),
            ("7d", 604_800, "7d"),
            ("1h30m", 5_400, "1h30m"),
            ("1w", 604_800, "7d"),
            ("0s", 0, "0s"),
        ] {
            let parsed: Duration = text.parse().unwrap();
            assert_eq!(parsed.as_secs(), secs, "{text}");
            assert_eq!(parsed.to_string(), shown);
        }
    }

    #[test]
    fn refuses_malformed_durations() {
        for text in ["", "10", "m", "5y", "99999999999999999999d"] {
            assert!(text.parse::<Duration>().is_err(), "{text} should not parse");
        }
    }
}
