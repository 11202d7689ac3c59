//! The operations of Define / Update Variable (`sp:transform:*`), compiled at load and applied in order.

use chrono::{DateTime, Months, SecondsFormat, Utc};
use regex::Regex;
use serde_json::{Map, Value};
use tessera_model::Timestamp;

use crate::expr::{EvalError, Inputs, display};
use crate::path::PathError;

/// ISC's limit on the operations of one variable.
pub const MAX_OPERATIONS: usize = 50;

/// The kinds of operation, each with its ISC id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Replace,
    Substring,
    Concatenate,
    Trim,
    GetIndex,
    AddTime,
    SubtractTime,
    FormatDate,
    Upper,
    Lower,
}

/// Every operation and its id.
pub const CATALOGUE: [(Op, &str); 10] = [
    (Op::Replace, "sp:transform:replace:string"),
    (Op::Substring, "sp:transform:substring:string"),
    (Op::Concatenate, "sp:transform:concatenate:string"),
    (Op::Trim, "sp:transform:trim:string"),
    (Op::GetIndex, "sp:transform:getIndex:int"),
    (Op::AddTime, "sp:transform:addTime:time"),
    (Op::SubtractTime, "sp:transform:subtractTime:time"),
    (Op::FormatDate, "sp:transform:formatDate:string"),
    (Op::Upper, "sp:transform:upper:string"),
    (Op::Lower, "sp:transform:lower:string"),
];

impl Op {
    /// The operation with this id (case-insensitive).
    pub fn from_id(id: &str) -> Option<Self> {
        CATALOGUE.iter().find(|(_, name)| name.eq_ignore_ascii_case(id)).map(|(op, _)| *op)
    }

    /// The inputs this operation needs, and whether each must be a number.
    pub fn required_inputs(self) -> &'static [(&'static str, bool)] {
        match self {
            Op::Replace => &[("pattern", false), ("replacement", false)],
            Op::Substring => &[("length", true)],
            Op::Concatenate => &[("variableB", false)],
            Op::GetIndex => &[("pattern", false)],
            Op::AddTime | Op::SubtractTime => &[("length", true), ("unit", false)],
            Op::FormatDate => &[("format", false)],
            Op::Trim | Op::Upper | Op::Lower => &[],
        }
    }
}

/// One compiled operation.
#[derive(Debug, Clone)]
pub struct Transform {
    op: Op,
    inputs: Inputs,
    /// A literal replace pattern compiled at load.
    regex: Option<Regex>,
}

/// Why an operation failed at run time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Eval(#[from] EvalError),
    #[error("{op:?} needs {what}, got {got}")]
    Input { op: Op, what: &'static str, got: String },
}

impl Transform {
    /// Compiles one operation; the validator has already checked its id and inputs.
    pub fn compile(op: Op, input: &Map<String, Value>) -> Result<Self, (String, PathError)> {
        let inputs = Inputs::compile(input, &["type"])?;
        let regex = match (op, input.get("pattern")) {
            (Op::Replace, Some(Value::String(pattern))) => Regex::new(pattern).ok(),
            _ => None,
        };
        Ok(Self { op, inputs, regex })
    }

    /// Applies the operation to `value`.
    pub fn apply(&self, value: Value, doc: &Value, now: Timestamp) -> Result<Value, Error> {
        let input = self.inputs.eval(doc, now)?;
        let text = || display(unwrap_single(&value));
        let fail = |what, got: &Value| Error::Input { op: self.op, what, got: got.to_string() };
        let get_str = |name: &str| input.get(name).map(display).unwrap_or_default();
        let get_num = |name: &'static str| -> Result<i64, Error> {
            let v = input.get(name).unwrap_or(&Value::Null);
            crate::compare::number(v).map(|n| n as i64).ok_or_else(|| fail("a number", v))
        };
        Ok(match self.op {
            Op::Replace => {
                let replacement = get_str("replacement");
                let source = text();
                match &self.regex {
                    Some(re) => Value::String(re.replace_all(&source, regex::NoExpand(&replacement)).into_owned()),
                    None => {
                        let pattern = get_str("pattern");
                        match Regex::new(&pattern) {
                            Ok(re) => {
                                Value::String(re.replace_all(&source, regex::NoExpand(&replacement)).into_owned())
                            }
                            Err(_) => Value::String(source.replace(&pattern, &replacement)),
                        }
                    }
                }
            }
            Op::Substring => {
                let start = match input.get("start") {
                    None | Some(Value::Null) => 0,
                    Some(_) => get_num("start")?.max(0) as usize,
                };
                let length = get_num("length")?.max(0) as usize;
                Value::String(text().chars().skip(start).take(length).collect())
            }
            Op::Concatenate => Value::String(text() + &get_str("variableB")),
            Op::Trim => Value::String(text().trim().to_owned()),
            Op::Upper => Value::String(text().to_uppercase()),
            Op::Lower => Value::String(text().to_lowercase()),
            Op::GetIndex => {
                let source = text();
                let pattern = get_str("pattern");
                let index = source.find(&pattern).map(|byte| source[..byte].chars().count() as i64).unwrap_or(-1);
                Value::from(index)
            }
            Op::AddTime | Op::SubtractTime => {
                let instant = crate::compare::timestamp(&value).ok_or_else(|| fail("a timestamp", &value))?;
                let mut length = get_num("length")?;
                if self.op == Op::SubtractTime {
                    length = -length;
                }
                let unit = get_str("unit");
                let moved = shift(instant, length, &unit).ok_or_else(|| {
                    fail(
                        "a unit of seconds, minutes, hours, days, weeks, months or years",
                        &Value::String(unit.clone()),
                    )
                })?;
                Value::String(moved.to_rfc3339_opts(SecondsFormat::Millis, true))
            }
            Op::FormatDate => {
                let instant = crate::compare::timestamp(&value).ok_or_else(|| fail("a timestamp", &value))?;
                Value::String(format_date(instant, &get_str("format")))
            }
        })
    }
}

fn unwrap_single(value: &Value) -> &Value {
    match value {
        Value::Array(items) if items.len() == 1 => &items[0],
        other => other,
    }
}

fn shift(instant: DateTime<Utc>, amount: i64, unit: &str) -> Option<DateTime<Utc>> {
    let unit = unit.trim().to_ascii_lowercase();
    let unit = unit.trim_end_matches('s');
    let seconds = match unit {
        "second" => 1,
        "minute" => 60,
        "hour" => 3_600,
        "day" => 86_400,
        "week" => 604_800,
        "month" | "year" => {
            let months = if unit == "year" { amount.checked_mul(12)? } else { amount };
            let count = Months::new(u32::try_from(months.unsigned_abs()).ok()?);
            return if months >= 0 { instant.checked_add_months(count) } else { instant.checked_sub_months(count) };
        }
        _ => return None,
    };
    instant.checked_add_signed(chrono::Duration::try_seconds(amount.checked_mul(seconds)?)?)
}

/// Formats a date with a Java-style pattern (`yyyy-MM-dd'T'HH:mm:ss`), as ISC's Format Date does,
/// or one of the names `ISO8601`, `RFC3339`, `epoch` (milliseconds).
pub fn format_date(instant: DateTime<Utc>, pattern: &str) -> String {
    match pattern.to_ascii_uppercase().as_str() {
        "" | "ISO8601" | "RFC3339" => return instant.to_rfc3339_opts(SecondsFormat::Millis, true),
        "EPOCH" => return instant.timestamp_millis().to_string(),
        _ => {}
    }
    // Java pattern letters to strftime, longest first; text in single quotes is literal.
    const TOKENS: [(&str, &str); 16] = [
        ("yyyy", "%Y"),
        ("yy", "%y"),
        ("MMMM", "%B"),
        ("MMM", "%b"),
        ("MM", "%m"),
        ("dd", "%d"),
        ("EEEE", "%A"),
        ("EEE", "%a"),
        ("HH", "%H"),
        ("hh", "%I"),
        ("mm", "%M"),
        ("ss", "%S"),
        ("SSS", "%3f"),
        ("a", "%p"),
        ("XXX", "%:z"),
        ("Z", "%z"),
    ];
    let mut strftime = String::new();
    let mut rest = pattern;
    'outer: while !rest.is_empty() {
        if let Some(quoted) = rest.strip_prefix('\'') {
            let end = quoted.find('\'').unwrap_or(quoted.len());
            strftime.push_str(&quoted[..end].replace('%', "%%"));
            rest = quoted.get(end + 1..).unwrap_or("");
            continue;
        }
        for (java, chrono_token) in TOKENS {
            if let Some(after) = rest.strip_prefix(java) {
                strftime.push_str(chrono_token);
                rest = after;
                continue 'outer;
            }
        }
        let ch = rest.chars().next().unwrap_or(' ');
        if ch == '%' {
            strftime.push_str("%%");
        } else {
            strftime.push(ch);
        }
        rest = &rest[ch.len_utf8()..];
    }
    instant.format(&strftime).to_string()
}
