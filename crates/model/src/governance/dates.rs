//! The date formats of ISC's `dateFormat` transform: the named ones and a subset of Java `SimpleDateFormat` patterns.
//!
//! Dates are read into UTC and written in UTC, as ISC's servers run. Named formats read leniently (ISO 8601 with or
//! without time, fraction and offset; LDAP generalized time with or without fraction and zone); patterns read as
//! Java does: a numeric field followed directly by another takes exactly its width, otherwise as many digits as
//! there are, and text after the pattern is ignored. Unlike lenient Java, an impossible date (February 30) is
//! refused rather than rolled over.

use std::fmt::Write as _;

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, TimeDelta, Timelike, Utc};

/// How a `dateFormat` transform reads or writes a date.
#[derive(Debug, Clone)]
pub(crate) enum DateFormat {
    /// `ISO8601`: written `yyyy-MM-dd'T'HH:mm:ss.SSSX`.
    Iso8601,
    /// `LDAP`: generalized time, written `yyyyMMddHHmmss.SX`.
    Ldap,
    /// `EPOCH_TIME_JAVA`: milliseconds since 1970-01-01 UTC.
    EpochJava,
    /// `EPOCH_TIME_WIN32`: 100-nanosecond intervals since 1601-01-01 UTC.
    EpochWin32,
    /// A Java pattern; `PEOPLE_SOFT` is `MM/dd/yyyy`.
    Pattern(Vec<Token>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Token {
    Literal(String),
    Field { letter: u8, width: usize },
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const WEEKDAYS: [&str; 7] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];
/// Milliseconds between 1601-01-01 and 1970-01-01, the Windows and Unix epochs.
const WIN32_EPOCH_OFFSET_MS: i64 = 11_644_473_600_000;

impl DateFormat {
    /// A named format or a Java pattern; the message says why a pattern was refused.
    pub(crate) fn parse(spec: &str) -> Result<Self, String> {
        Ok(match spec {
            "ISO8601" => Self::Iso8601,
            "LDAP" => Self::Ldap,
            "EPOCH_TIME_JAVA" => Self::EpochJava,
            "EPOCH_TIME_WIN32" => Self::EpochWin32,
            "PEOPLE_SOFT" => Self::Pattern(tokens("MM/dd/yyyy")?),
            pattern => Self::Pattern(tokens(pattern)?),
        })
    }

    /// Reads `text` in this format; `None` when it does not fit.
    pub(crate) fn read(&self, text: &str) -> Option<DateTime<Utc>> {
        match self {
            Self::Iso8601 => read_iso(text.trim()),
            Self::Ldap => read_ldap(text.trim()),
            Self::EpochJava => DateTime::from_timestamp_millis(text.trim().parse().ok()?),
            Self::EpochWin32 => {
                let ticks: i64 = text.trim().parse().ok()?;
                DateTime::from_timestamp_millis(ticks.div_euclid(10_000) - WIN32_EPOCH_OFFSET_MS)
            }
            Self::Pattern(tokens) => read_pattern(tokens, text),
        }
    }

    /// Writes `at` in this format.
    pub(crate) fn write(&self, at: DateTime<Utc>) -> String {
        match self {
            Self::Iso8601 => format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
                at.year(),
                at.month(),
                at.day(),
                at.hour(),
                at.minute(),
                at.second(),
                at.timestamp_subsec_millis()
            ),
            // Java's `S` is a count of milliseconds, not a fraction: 5 ms is written `.5`.
            Self::Ldap => format!(
                "{:04}{:02}{:02}{:02}{:02}{:02}.{}Z",
                at.year(),
                at.month(),
                at.day(),
                at.hour(),
                at.minute(),
                at.second(),
                at.timestamp_subsec_millis()
            ),
            Self::EpochJava => at.timestamp_millis().to_string(),
            Self::EpochWin32 => (i128::from(at.timestamp_millis() + WIN32_EPOCH_OFFSET_MS) * 10_000).to_string(),
            Self::Pattern(tokens) => write_pattern(tokens, at),
        }
    }
}

/// Splits a Java `SimpleDateFormat` pattern into fields and literal text (quoted with `'`, `''` for a quote).
fn tokens(pattern: &str) -> Result<Vec<Token>, String> {
    let mut out: Vec<Token> = Vec::new();
    let mut literal = String::new();
    let mut chars = pattern.chars().peekable();
    while let Some(ch) = chars.next() {
        if ch == '\'' {
            if chars.peek() == Some(&'\'') {
                chars.next();
                literal.push('\'');
                continue;
            }
            loop {
                match chars.next() {
                    None => return Err(format!("unterminated quote in date pattern `{pattern}`")),
                    Some('\'') if chars.peek() == Some(&'\'') => {
                        chars.next();
                        literal.push('\'');
                    }
                    Some('\'') => break,
                    Some(quoted) => literal.push(quoted),
                }
            }
        } else if ch.is_ascii_alphabetic() {
            if !"yMdHhmsSaEXZ".contains(ch) {
                return Err(format!(
                    "date pattern letter `{ch}` is not supported (use y, M, d, H, h, m, s, S, a, E, X or Z)"
                ));
            }
            let mut width = 1;
            while chars.peek() == Some(&ch) {
                chars.next();
                width += 1;
            }
            if !literal.is_empty() {
                out.push(Token::Literal(std::mem::take(&mut literal)));
            }
            // The letter is ASCII, checked above.
            out.push(Token::Field { letter: ch as u8, width });
        } else {
            literal.push(ch);
        }
    }
    if !literal.is_empty() {
        out.push(Token::Literal(literal));
    }
    if out.is_empty() {
        return Err("the date pattern is empty".to_owned());
    }
    Ok(out)
}

fn is_numeric(token: Option<&Token>) -> bool {
    matches!(token, Some(Token::Field { letter, width }) if b"ydHhmsS".contains(letter) || (*letter == b'M' && *width <= 2))
}

/// The fields a pattern sets while it is read.
struct Fields {
    year: i32,
    month: u32,
    day: u32,
    hour: u32,
    pm: Option<bool>,
    minute: u32,
    second: u32,
    millis: u32,
    offset_seconds: i32,
}

fn read_pattern(tokens: &[Token], text: &str) -> Option<DateTime<Utc>> {
    let mut scan = Scan(text);
    let mut f =
        Fields { year: 1970, month: 1, day: 1, hour: 0, pm: None, minute: 0, second: 0, millis: 0, offset_seconds: 0 };
    for (at, token) in tokens.iter().enumerate() {
        let (letter, width) = match token {
            Token::Literal(literal) => {
                scan.eat(literal).then_some(())?;
                continue;
            }
            Token::Field { letter, width } => (*letter, *width),
        };
        let max = if is_numeric(tokens.get(at + 1)) { width } else { 10 };
        match letter {
            b'y' => {
                let (year, digits) = scan.number(max)?;
                let year = i32::try_from(year).ok()?;
                // Two digits against `yy` are a year in 1950–2049: Java's window around "now", without a clock.
                f.year = match (width, digits) {
                    (2, 2) if year < 50 => 2000 + year,
                    (2, 2) => 1900 + year,
                    _ => year,
                };
            }
            b'M' if width >= 3 => f.month = scan.name(&MONTHS)? + 1,
            b'M' => f.month = small(scan.number(max)?)?,
            b'd' => f.day = small(scan.number(max)?)?,
            b'H' | b'h' => f.hour = small(scan.number(max)?)?,
            b'm' => f.minute = small(scan.number(max)?)?,
            b's' => f.second = small(scan.number(max)?)?,
            b'S' => f.millis = small(scan.number(max)?)?,
            b'a' => f.pm = Some(scan.name(&["AM", "PM"])? == 1),
            b'E' => {
                scan.name(&WEEKDAYS)?;
            }
            _ => f.offset_seconds = scan.zone()?,
        }
    }
    if let Some(pm) = f.pm {
        if !(1..=12).contains(&f.hour) {
            return None;
        }
        f.hour = f.hour % 12 + if pm { 12 } else { 0 };
    }
    let date = NaiveDate::from_ymd_opt(f.year, f.month, f.day)?;
    let time = NaiveTime::from_hms_milli_opt(f.hour, f.minute, f.second, f.millis)?;
    Some(date.and_time(time).and_utc() - TimeDelta::seconds(i64::from(f.offset_seconds)))
}

fn small((value, _digits): (u64, usize)) -> Option<u32> {
    u32::try_from(value).ok()
}

fn write_pattern(tokens: &[Token], at: DateTime<Utc>) -> String {
    let mut out = String::new();
    for token in tokens {
        let (letter, width) = match token {
            Token::Literal(literal) => {
                out.push_str(literal);
                continue;
            }
            Token::Field { letter, width } => (*letter, *width),
        };
        let number = |out: &mut String, value: i64| {
            // Writing to a String cannot fail.
            let _ = write!(out, "{value:0width$}");
        };
        match letter {
            b'y' if width == 2 => number(&mut out, i64::from(at.year().rem_euclid(100))),
            b'y' => number(&mut out, i64::from(at.year())),
            b'M' if width >= 4 => out.push_str(MONTHS[at.month0() as usize]),
            b'M' if width == 3 => out.push_str(&MONTHS[at.month0() as usize][..3]),
            b'M' => number(&mut out, i64::from(at.month())),
            b'd' => number(&mut out, i64::from(at.day())),
            b'H' => number(&mut out, i64::from(at.hour())),
            b'h' => number(&mut out, i64::from(at.hour12().1)),
            b'm' => number(&mut out, i64::from(at.minute())),
            b's' => number(&mut out, i64::from(at.second())),
            b'S' => number(&mut out, i64::from(at.timestamp_subsec_millis())),
            b'a' => out.push_str(if at.hour12().0 { "PM" } else { "AM" }),
            b'E' => {
                let name = WEEKDAYS[at.weekday().num_days_from_monday() as usize];
                out.push_str(if width >= 4 { name } else { &name[..3] });
            }
            b'X' => out.push('Z'),
            _ => out.push_str("+0000"),
        }
    }
    out
}

/// `2024-03-01`, `2024-03-01T10:15`, `2024-03-01T10:15:30.25+02:00`, a space instead of `T`; no zone is UTC.
fn read_iso(text: &str) -> Option<DateTime<Utc>> {
    let mut scan = Scan(text);
    let year = i32::try_from(scan.exactly(4)?).ok()?;
    scan.eat("-").then_some(())?;
    let month = scan.exactly(2)?;
    scan.eat("-").then_some(())?;
    let day = scan.exactly(2)?;
    let date = NaiveDate::from_ymd_opt(year, month, day)?;
    if scan.0.is_empty() {
        return Some(date.and_time(NaiveTime::MIN).and_utc());
    }
    (scan.eat("T") || scan.eat(" ")).then_some(())?;
    let hour = scan.exactly(2)?;
    scan.eat(":").then_some(())?;
    let minute = scan.exactly(2)?;
    let second = if scan.eat(":") { scan.exactly(2)? } else { 0 };
    read_time_rest(scan, date, hour, minute, second)
}

/// `20240301101530Z`, `20240301101530.0Z`, `202403011015-0500`, `2024030110`: generalized time; no zone is UTC.
fn read_ldap(text: &str) -> Option<DateTime<Utc>> {
    let mut scan = Scan(text);
    let year = i32::try_from(scan.exactly(4)?).ok()?;
    let date = NaiveDate::from_ymd_opt(year, scan.exactly(2)?, scan.exactly(2)?)?;
    let hour = scan.exactly(2)?;
    let minute = scan.exactly(2).unwrap_or(0);
    let second = scan.exactly(2).unwrap_or(0);
    read_time_rest(scan, date, hour, minute, second)
}

/// The optional decimal fraction and zone after the seconds, then the instant; the text must end there.
fn read_time_rest(mut scan: Scan<'_>, date: NaiveDate, hour: u32, minute: u32, second: u32) -> Option<DateTime<Utc>> {
    let mut nanos = 0;
    if scan.eat(".") || scan.eat(",") {
        let digits = scan.0.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let (fraction, rest) = scan.0.split_at(digits);
        for (place, digit) in fraction.bytes().take(9).enumerate() {
            nanos += u32::from(digit - b'0') * 10u32.pow(8 - place as u32);
        }
        scan.0 = rest;
    }
    let offset = if scan.0.is_empty() { 0 } else { scan.zone()? };
    if !scan.0.is_empty() {
        return None;
    }
    let time = NaiveTime::from_hms_nano_opt(hour, minute, second, nanos)?;
    Some(date.and_time(time).and_utc() - TimeDelta::seconds(i64::from(offset)))
}

/// A cursor over the text being read.
struct Scan<'t>(&'t str);

impl Scan<'_> {
    fn eat(&mut self, prefix: &str) -> bool {
        match self.0.strip_prefix(prefix) {
            Some(rest) => {
                self.0 = rest;
                true
            }
            None => false,
        }
    }

    /// Up to `max` ASCII digits (at least one) as a number, and how many there were.
    fn number(&mut self, max: usize) -> Option<(u64, usize)> {
        let digits = self.0.bytes().take(max).take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let (number, rest) = self.0.split_at(digits);
        self.0 = rest;
        Some((number.parse().ok()?, digits))
    }

    /// Exactly `count` ASCII digits.
    fn exactly(&mut self, count: usize) -> Option<u32> {
        let before = self.0;
        match self.number(count) {
            Some((value, digits)) if digits == count => u32::try_from(value).ok(),
            _ => {
                self.0 = before;
                None
            }
        }
    }

    /// The index of the name in `names` the text starts with, full or by its first three letters, any case.
    fn name(&mut self, names: &[&str]) -> Option<u32> {
        for (index, name) in names.iter().enumerate() {
            for candidate in [*name, &name[..name.len().min(3)]] {
                if self.0.get(..candidate.len()).is_some_and(|head| head.eq_ignore_ascii_case(candidate)) {
                    self.0 = &self.0[candidate.len()..];
                    return u32::try_from(index).ok();
                }
            }
        }
        None
    }

    /// `Z`, `+hh`, `+hhmm` or `+hh:mm` (or `-`), as seconds east of UTC.
    fn zone(&mut self) -> Option<i32> {
        if self.eat("Z") || self.eat("z") {
            return Some(0);
        }
        let sign = if self.eat("+") {
            1
        } else if self.eat("-") {
            -1
        } else {
            return None;
        };
        let hours = self.exactly(2)?;
        self.eat(":");
        let minutes = self.exactly(2).unwrap_or(0);
        if hours > 23 || minutes > 59 {
            return None;
        }
        Some(sign * i32::try_from(hours * 3600 + minutes * 60).ok()?)
    }
}
