//! Choice comparators and the ISC type rules they apply to their operands.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use regex::Regex;
use serde_json::Value;

/// Declares the comparators once: the enum, [`ALL`] in library order, and each name as ISC writes it.
macro_rules! comparators {
    ($($name:ident),+ $(,)?) => {
        /// The comparators a `choiceList` entry may name.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Comparator {
            $($name),+
        }

        /// Every comparator, in the order the workflow library lists them.
        pub const ALL: &[Comparator] = &[$(Comparator::$name),+];

        impl Comparator {
            /// The name as ISC writes it.
            pub fn name(self) -> &'static str {
                match self {
                    $(Comparator::$name => stringify!($name)),+
                }
            }
        }
    };
}

comparators![
    StringEquals,
    StringDoesNotEquals,
    StringContains,
    StringEndsWith,
    StringStartsWith,
    StringMatches,
    NumericEquals,
    NumericGreaterThan,
    NumericGreaterThanEquals,
    NumericLessThan,
    NumericLessThanEquals,
    TimestampEquals,
    TimestampGreaterThan,
    TimestampGreaterThanEquals,
    TimestampLessThan,
    TimestampLessThanEquals,
    BooleanEquals,
    IsPresent,
    IsNull,
];

/// Why a comparison could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{comparator} needs {wanted} for {operand}, got {got}")]
pub struct CompareError {
    comparator: Comparator,
    operand: &'static str,
    wanted: &'static str,
    got: String,
}

/// The name is not a comparator.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown comparator `{0}`")]
pub struct UnknownComparator(pub String);

impl FromStr for Comparator {
    type Err = UnknownComparator;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        ALL.iter()
            .copied()
            .find(|c| c.name().eq_ignore_ascii_case(name))
            .ok_or_else(|| UnknownComparator(name.to_owned()))
    }
}

impl fmt::Display for Comparator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Comparator {
    /// Whether the comparator needs a `variableB` (IsPresent and IsNull take an optional boolean).
    pub fn needs_operand_b(self) -> bool {
        !matches!(self, Comparator::IsPresent | Comparator::IsNull)
    }

    /// Compares `a` with `b` under ISC's rules: strings compare as strings (numbers and booleans
    /// are written out), numbers also accept numeric strings, timestamps are RFC 3339 or
    /// `YYYY-MM-DD`, booleans also accept `"true"`/`"false"`. A one-element array, as a filter
    /// returns, stands for its element. A missing string operand matches nothing except
    /// StringDoesNotEquals.
    pub fn compare(self, a: &Value, b: Option<&Value>) -> Result<bool, CompareError> {
        self.compare_with(a, b, None)
    }

    /// [`Comparator::compare`] with StringMatches' pattern compiled in advance.
    pub fn compare_with(self, a: &Value, b: Option<&Value>, pattern: Option<&Regex>) -> Result<bool, CompareError> {
        use Comparator::*;
        let a = unwrap_single(a);
        let b = b.map(unwrap_single).unwrap_or(&Value::Null);
        let fail =
            |operand, wanted, got: &Value| CompareError { comparator: self, operand, wanted, got: describe(got) };
        match self {
            StringEquals | StringDoesNotEquals | StringContains | StringEndsWith | StringStartsWith | StringMatches => {
                let (Some(x), Some(y)) = (string(a), string(b)) else {
                    if !is_scalar(a) {
                        return Err(fail("variableA", "a string", a));
                    }
                    if !is_scalar(b) {
                        return Err(fail("variableB", "a string", b));
                    }
                    return Ok(self == StringDoesNotEquals);
                };
                Ok(match self {
                    StringEquals => x == y,
                    StringDoesNotEquals => x != y,
                    StringContains => x.contains(y.as_str()),
                    StringEndsWith => x.ends_with(y.as_str()),
                    StringStartsWith => x.starts_with(y.as_str()),
                    _ => match pattern {
                        Some(regex) => regex.is_match(&x),
                        None => {
                            Regex::new(&y).map_err(|_| fail("variableB", "a valid regular expression", b))?.is_match(&x)
                        }
                    },
                })
            }
            NumericEquals | NumericGreaterThan | NumericGreaterThanEquals | NumericLessThan | NumericLessThanEquals => {
                let x = number(a).ok_or_else(|| fail("variableA", "a number", a))?;
                let y = number(b).ok_or_else(|| fail("variableB", "a number", b))?;
                Ok(ordered(self, x.partial_cmp(&y)))
            }
            TimestampEquals
            | TimestampGreaterThan
            | TimestampGreaterThanEquals
            | TimestampLessThan
            | TimestampLessThanEquals => {
                let x = timestamp(a).ok_or_else(|| fail("variableA", "a timestamp", a))?;
                let y = timestamp(b).ok_or_else(|| fail("variableB", "a timestamp", b))?;
                Ok(ordered(self, Some(x.cmp(&y))))
            }
            BooleanEquals => {
                let x = boolean(a).ok_or_else(|| fail("variableA", "a boolean", a))?;
                let y = boolean(b).ok_or_else(|| fail("variableB", "a boolean", b))?;
                Ok(x == y)
            }
            IsPresent | IsNull => {
                let expected =
                    if b.is_null() { true } else { boolean(b).ok_or_else(|| fail("variableB", "a boolean", b))? };
                let present = !a.is_null();
                Ok(if self == IsPresent { present == expected } else { present != expected })
            }
        }
    }
}

fn ordered(comparator: Comparator, ordering: Option<std::cmp::Ordering>) -> bool {
    use Comparator::*;
    use std::cmp::Ordering::*;
    let Some(ordering) = ordering else {
        return false;
    };
    match comparator {
        NumericEquals | TimestampEquals => ordering == Equal,
        NumericGreaterThan | TimestampGreaterThan => ordering == Greater,
        NumericGreaterThanEquals | TimestampGreaterThanEquals => ordering != Less,
        NumericLessThan | TimestampLessThan => ordering == Less,
        _ => ordering != Greater,
    }
}

fn unwrap_single(value: &Value) -> &Value {
    match value {
        Value::Array(items) if items.len() == 1 => &items[0],
        other => other,
    }
}

fn is_scalar(value: &Value) -> bool {
    !matches!(value, Value::Array(_) | Value::Object(_))
}

fn string(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

pub(crate) fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
}

fn boolean(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::String(text) if text.eq_ignore_ascii_case("true") => Some(true),
        Value::String(text) if text.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// A timestamp from RFC 3339 text, a `YYYY-MM-DD` date (midnight UTC), or epoch milliseconds.
pub(crate) fn timestamp(value: &Value) -> Option<DateTime<Utc>> {
    match unwrap_single(value) {
        Value::String(text) => {
            let text = text.trim();
            DateTime::parse_from_rfc3339(text).map(|t| t.to_utc()).ok().or_else(|| {
                NaiveDate::parse_from_str(text, "%Y-%m-%d")
                    .ok()
                    .and_then(|d| d.and_hms_opt(0, 0, 0))
                    .map(|d| d.and_utc())
            })
        }
        Value::Number(n) => n.as_i64().and_then(DateTime::from_timestamp_millis),
        _ => None,
    }
}

fn describe(value: &Value) -> String {
    match value {
        Value::Null => "nothing (null)".to_owned(),
        Value::String(text) => format!("the string {text:?}"),
        Value::Array(items) => format!("an array of {}", items.len()),
        Value::Object(_) => "an object".to_owned(),
        other => other.to_string(),
    }
}
