//! Scheduled triggers: a SCHEDULED trigger's `attributes` read into a [`Schedule`] (a time zone and
//! cron patterns), and the instant it next fires after a given one.
//!
//! ISC's documentation describes the editor, not the stored attributes, so these rules are decided
//! here (and pinned by `tests/schedules.rs`):
//!
//! - **`cronString` wins.** ISC's editor stores `frequency` with its day and time lists *and* the
//!   `cronString` it generates from them; a scheduler runs the cron, and the lists are the editor's
//!   state. They can disagree: the corpus has `US/Eastern` with `cronString` `0 15 * * 6` (15:00) and
//!   `weeklyTimes` `1969-12-31T20:30:00.000Z` (15:30 EST), a timestamp identical to that of an
//!   `Asia/Kolkata` workflow, copied with it. So the lists make the schedule only when `cronString` is
//!   absent or blank; when it is present they need only be well formed.
//! - **Frequencies**: `daily` (`dailyTimes`), `weekly` (`weeklyDays`, `weeklyTimes`), `monthly`
//!   (`monthlyDays` as `"1"`…`"31"` or `"L"` for the last day, `monthlyTimes`); `hourly` and `custom`
//!   run their `cronString`. A day the month lacks (`"31"` in April) is skipped, as cron does.
//! - **Times of day** are `HH:MM` (or `HH:MM:SS`) in the schedule's zone, or an RFC 3339 timestamp
//!   whose time of day *in the schedule's zone* is meant: ISC's time picker stores the chosen
//!   wall-clock time on 1 January 1970, converted to UTC. `1969-12-31T20:30:00.000Z` in
//!   `Asia/Kolkata` is 02:00, and that workflow's `cronString` is `0 2 * * 6`. (The picker converts
//!   with the browser's zone, which is not stored; this assumes it was the schedule's.)
//! - **Cron**: 5 fields (minute hour day-of-month month day-of-week), or 6 with a leading seconds
//!   field, or 7 with seconds and a trailing year, as Quartz allows. Lists, ranges, steps (also
//!   Quartz's `0/15`), names (`MON`, `JAN`), `?` (as `*`), `L` (the last day of the month; `5L`, the
//!   last Friday), `#` and `W`, and `@daily` and the like. Weekdays count as in POSIX cron, 0 or 7
//!   being Sunday, with 6 or 7 fields too (Quartz counts 1 as Sunday), because ISC writes `0` for
//!   Sunday.
//! - **Day of month and day of week both restricted: either matches** (Vixie cron); `*` or `?` in
//!   one leaves the other alone, and a `+` before the weekday (`0 0 1 * +MON`) requires both.
//! - **Time zones** are IANA names, legacy links such as `US/Eastern` included; UTC when absent.
//! - **Daylight saving**: a time of day written as fixed numbers that does not exist (spring
//!   forward) fires once, at the first instant after the gap; one that occurs twice (fall back)
//!   fires once, at its first occurrence. A pattern with `*` or a step in its second, minute or hour
//!   fires at every real instant that matches, so over a fall back `0 * * * *` fires at both 01:00s.
//!
//! Cron matching is the `croner` crate's: it follows Vixie cron for the day fields, takes `L`, `W`
//! and `#`, optional seconds and years, and implements the daylight saving rules above (OCPS). The
//! `cron` crate requires a seconds field and has no `L`.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::str::FromStr;

use chrono::{DateTime, NaiveTime, TimeZone, Timelike};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use serde_json::{Map, Value};
use tessera_model::Timestamp;

/// When a SCHEDULED trigger fires: cron patterns read in one time zone. It fires at every instant
/// any of its patterns matches (a frequency with several times of day has one pattern for each).
#[derive(Debug, Clone)]
pub struct Schedule {
    zone: Tz,
    patterns: Vec<Cron>,
}

/// What is wrong with an attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// A needed attribute is absent.
    Missing,
    /// An attribute has the wrong JSON type.
    WrongType,
    /// An attribute has the right type but a value that is not a schedule.
    Invalid,
}

/// Why trigger attributes are not a schedule, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at {pointer}: {message}")]
pub struct ScheduleError {
    /// RFC 6901 pointer relative to the trigger's `attributes`, such as `/weeklyTimes/0`.
    pub pointer: String,
    pub kind: ErrorKind,
    /// What is wrong and what is expected.
    pub message: String,
}

impl ScheduleError {
    fn new(kind: ErrorKind, pointer: impl Into<String>, message: impl Into<String>) -> Self {
        Self { pointer: pointer.into(), kind, message: message.into() }
    }
}

type Result<T> = std::result::Result<T, ScheduleError>;

/// The value of `frequency`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Frequency {
    Daily,
    Weekly,
    Monthly,
    Hourly,
    Custom,
}

const FREQUENCIES: [(&str, Frequency); 5] = [
    ("daily", Frequency::Daily),
    ("weekly", Frequency::Weekly),
    ("monthly", Frequency::Monthly),
    ("hourly", Frequency::Hourly),
    ("custom", Frequency::Custom),
];

const WEEKDAYS: [&str; 7] = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];

/// A schedule is refused if it would not fire after this instant: `0 0 30 2 *` never does.
const NEVER_AFTER: Timestamp = Timestamp::UNIX_EPOCH;

impl Schedule {
    /// From a SCHEDULED trigger's attributes; errors name the attribute (JSON pointer relative to
    /// attributes) and say what is expected.
    pub fn from_attributes(attributes: &Map<String, Value>) -> Result<Self> {
        let zone = time_zone(attributes)?;
        let cron = match attributes.get("cronString") {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) => Some(text.as_str()),
            Some(_) => {
                return Err(ScheduleError::new(
                    ErrorKind::WrongType,
                    "/cronString",
                    "`cronString` must be a string such as `0 9 * * 1`",
                ));
            }
        };
        let frequency = frequency(attributes)?;
        let blank = cron.is_none_or(|text| text.trim().is_empty());
        let from_fields = match frequency {
            Some(frequency) => field_patterns(frequency, attributes, zone, blank)?,
            None => None,
        };
        let (patterns, pointer) = match (cron, from_fields) {
            (Some(text), _) if !blank => (vec![parse_cron(text)?], "/cronString"),
            (_, Some(patterns)) => (patterns, "/frequency"),
            (Some(_), None) => {
                return Err(ScheduleError::new(
                    ErrorKind::Invalid,
                    "/cronString",
                    "`cronString` is empty; write a cron expression such as `0 9 * * 1`",
                ));
            }
            (None, None) => {
                let message = match frequency {
                    Some(f) => format!("frequency `{}` runs the `cronString`, which is missing", name(f)),
                    None => "a SCHEDULED trigger needs `cronString` or `frequency`".to_owned(),
                };
                return Err(ScheduleError::new(ErrorKind::Missing, "/cronString", message));
            }
        };
        let schedule = Self { zone, patterns };
        if schedule.next_after(NEVER_AFTER).is_none() {
            return Err(ScheduleError::new(
                ErrorKind::Invalid,
                pointer,
                "this schedule never fires: no date matches it (such as 30 February)",
            ));
        }
        Ok(schedule)
    }

    /// The first instant strictly after `after` at which it fires.
    pub fn next_after(&self, after: Timestamp) -> Option<Timestamp> {
        let local = after.to_datetime().with_timezone(&self.zone);
        self.patterns.iter().filter_map(|pattern| next_of(pattern, local)).min().map(|next| next.to_utc().into())
    }

    /// The zone the schedule's times of day are read in.
    pub fn time_zone(&self) -> Tz {
        self.zone
    }
}

/// The first match of `pattern` strictly after `after`. Croner works in whole seconds and an
/// exclusive search starts at the next one; the check keeps "strictly after" this function's
/// promise rather than the crate's.
fn next_of(pattern: &Cron, after: DateTime<Tz>) -> Option<DateTime<Tz>> {
    let mut from = after;
    for _ in 0..3 {
        let next = pattern.find_next_occurrence(&from, false).ok()?;
        if next > after {
            return Some(next);
        }
        from = next;
    }
    None
}

fn time_zone(attributes: &Map<String, Value>) -> Result<Tz> {
    let name = match attributes.get("timeZone") {
        None | Some(Value::Null) => return Ok(Tz::UTC),
        Some(Value::String(name)) => name,
        Some(_) => {
            return Err(ScheduleError::new(
                ErrorKind::WrongType,
                "/timeZone",
                "`timeZone` must be a string naming an IANA time zone such as `America/New_York`",
            ));
        }
    };
    Tz::from_str(name).map_err(|_| {
        let hint = match nearest_zone(name) {
            Some(zone) => format!("did you mean `{}`?", zone.name()),
            None => "expected an IANA name such as `America/New_York`, `Europe/Paris` or `UTC`".to_owned(),
        };
        ScheduleError::new(ErrorKind::Invalid, "/timeZone", format!("unknown time zone `{name}`; {hint}"))
    })
}

/// The zone whose name is within two edits of `name`, ignoring case and reading spaces as `_`.
fn nearest_zone(name: &str) -> Option<Tz> {
    let wanted: Vec<char> = name.trim().replace(' ', "_").to_ascii_lowercase().chars().collect();
    let distance = |zone: &Tz| {
        let candidate: Vec<char> = zone.name().to_ascii_lowercase().chars().collect();
        // Levenshtein distance, one row at a time.
        let mut row: Vec<usize> = (0..=candidate.len()).collect();
        for (i, a) in wanted.iter().enumerate() {
            let mut diagonal = row[0];
            row[0] = i + 1;
            for (j, b) in candidate.iter().enumerate() {
                let substitution = diagonal + usize::from(a != b);
                diagonal = row[j + 1];
                row[j + 1] = substitution.min(row[j] + 1).min(diagonal + 1);
            }
        }
        row[candidate.len()]
    };
    chrono_tz::TZ_VARIANTS
        .iter()
        .map(|zone| (distance(zone), *zone))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, zone)| zone)
}

fn name(frequency: Frequency) -> &'static str {
    FREQUENCIES.iter().find(|(_, f)| *f == frequency).map_or("custom", |(name, _)| name)
}

fn frequency(attributes: &Map<String, Value>) -> Result<Option<Frequency>> {
    let expected = || FREQUENCIES.map(|(name, _)| name).join(", ");
    match attributes.get("frequency") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => {
            match FREQUENCIES.iter().find(|(name, _)| name.eq_ignore_ascii_case(text.trim())) {
                Some((_, frequency)) => Ok(Some(*frequency)),
                None => Err(ScheduleError::new(
                    ErrorKind::Invalid,
                    "/frequency",
                    format!("unknown frequency `{text}`; expected one of {}", expected()),
                )),
            }
        }
        Some(_) => Err(ScheduleError::new(
            ErrorKind::WrongType,
            "/frequency",
            format!("`frequency` must be a string, one of {}", expected()),
        )),
    }
}

/// The patterns `frequency` and its lists describe: `None` for `hourly` and `custom`, or when a list
/// is absent and not `required` (the `cronString` is used). Lists present are checked either way.
fn field_patterns(
    frequency: Frequency,
    attributes: &Map<String, Value>,
    zone: Tz,
    required: bool,
) -> Result<Option<Vec<Cron>>> {
    let (days_key, times_key) = match frequency {
        Frequency::Daily => (None, "dailyTimes"),
        Frequency::Weekly => (Some("weeklyDays"), "weeklyTimes"),
        Frequency::Monthly => (Some("monthlyDays"), "monthlyTimes"),
        Frequency::Hourly | Frequency::Custom => return Ok(None),
    };
    let label = name(frequency);
    // Day of month and day of week, as cron fields.
    let days = match days_key {
        None => Some(("*".to_owned(), "*".to_owned())),
        Some(key) => list(attributes, key, label, required, |item| day(frequency, item))?.map(|days| {
            let days = days.into_iter().collect::<BTreeSet<_>>().into_iter().collect::<Vec<_>>().join(",");
            if frequency == Frequency::Weekly { ("*".to_owned(), days) } else { (days, "*".to_owned()) }
        }),
    };
    let times = list(attributes, times_key, label, required, |item| time_of_day(item, zone))?;
    let (Some((day_of_month, day_of_week)), Some(times)) = (days, times) else {
        return Ok(None);
    };
    let mut patterns = Vec::new();
    for time in times.into_iter().collect::<BTreeSet<_>>() {
        let (second, minute, hour) = (time.second(), time.minute(), time.hour());
        let text = format!("{second} {minute} {hour} {day_of_month} * {day_of_week}");
        let pattern = parser().parse(&text).map_err(|error| {
            // The lists were checked one by one; a pattern of them that croner refuses is a bug here.
            ScheduleError::new(ErrorKind::Invalid, "/frequency", format!("cannot schedule `{text}`: {error}"))
        })?;
        patterns.push(pattern);
    }
    Ok(Some(patterns))
}

/// The items of the array `key`, each read by `read` (which says what is wrong with an item); `None`
/// when it is absent and not `required`.
fn list<T>(
    attributes: &Map<String, Value>,
    key: &str,
    frequency: &str,
    required: bool,
    read: impl Fn(&Value) -> std::result::Result<T, String>,
) -> Result<Option<Vec<T>>> {
    let pointer = format!("/{key}");
    let items = match attributes.get(key) {
        None | Some(Value::Null) if !required => return Ok(None),
        None | Some(Value::Null) => {
            let message = format!("a {frequency} schedule without a `cronString` needs `{key}`");
            return Err(ScheduleError::new(ErrorKind::Missing, pointer, message));
        }
        Some(Value::Array(items)) => items,
        Some(_) => {
            let message = format!("`{key}` must be an array");
            return Err(ScheduleError::new(ErrorKind::WrongType, pointer, message));
        }
    };
    if items.is_empty() {
        let message = format!("`{key}` is empty; a {frequency} schedule needs at least one");
        return Err(ScheduleError::new(ErrorKind::Invalid, pointer, message));
    }
    let mut out = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let kind =
            if matches!(item, Value::String(_) | Value::Number(_)) { ErrorKind::Invalid } else { ErrorKind::WrongType };
        out.push(read(item).map_err(|message| ScheduleError::new(kind, format!("{pointer}/{index}"), message))?);
    }
    Ok(Some(out))
}

/// A weekday name (`Monday`, `MON`) as cron's number, or a day of the month (`"15"`, `"L"`).
fn day(frequency: Frequency, item: &Value) -> std::result::Result<String, String> {
    if frequency == Frequency::Weekly {
        let text = item.as_str().unwrap_or_default().trim();
        let found = WEEKDAYS
            .iter()
            .position(|day| day.eq_ignore_ascii_case(text) || (text.len() == 3 && day[..3].eq_ignore_ascii_case(text)));
        return found.map(|number| number.to_string()).ok_or_else(|| {
            format!(
                "{} is not a day of the week; expected one of {}, or their first three letters",
                shown(item),
                WEEKDAYS.join(", ")
            )
        });
    }
    let text = match item {
        Value::String(text) => text.trim().to_owned(),
        Value::Number(number) => number.to_string(),
        _ => String::new(),
    };
    match text.parse::<u32>() {
        Ok(day @ 1..=31) => Ok(day.to_string()),
        _ if text.eq_ignore_ascii_case("L") => Ok("L".to_owned()),
        _ => Err(format!(
            "{} is not a day of the month; expected \"1\" to \"31\", or \"L\" for the last day",
            shown(item)
        )),
    }
}

/// `HH:MM`, `HH:MM:SS`, or a timestamp whose time of day in `zone` is meant.
fn time_of_day(item: &Value, zone: Tz) -> std::result::Result<NaiveTime, String> {
    let text = item.as_str().unwrap_or_default().trim();
    let time = NaiveTime::parse_from_str(text, "%H:%M")
        .or_else(|_| NaiveTime::parse_from_str(text, "%H:%M:%S"))
        .ok()
        .or_else(|| DateTime::parse_from_rfc3339(text).ok().map(|at| zone.from_utc_datetime(&at.naive_utc()).time()));
    time.and_then(|time| time.with_nanosecond(0)).ok_or_else(|| {
        format!(
            "{} is not a time of day; expected `HH:MM` in the schedule's time zone, or a timestamp such as `1970-01-01T09:00:00Z` whose time in that zone is meant",
            shown(item)
        )
    })
}

fn shown(item: &Value) -> String {
    match item {
        Value::String(text) => format!("`{text}`"),
        other => format!("`{other}`"),
    }
}

/// The parser for every pattern: seconds and years optional, Quartz's `0/15` steps accepted.
fn parser() -> CronParser {
    CronParser::builder().seconds(Seconds::Optional).year(Year::Optional).sloppy_ranges(true).build()
}

/// The names of the fields of a pattern with `count` of them.
fn field_names(count: usize) -> &'static [(&'static str, &'static str)] {
    const FIELDS: [(&str, &str); 7] = [
        ("second", "0-59"),
        ("minute", "0-59"),
        ("hour", "0-23"),
        ("day-of-month", "1-31, `L` for the last day, `?`"),
        ("month", "1-12 or JAN-DEC"),
        ("day-of-week", "0-7 (0 and 7 are Sunday) or SUN-SAT, `?`, `L`, `#`"),
        ("year", "1-4999"),
    ];
    match count {
        5 => &FIELDS[1..6],
        6 => &FIELDS[..6],
        _ => &FIELDS,
    }
}

fn parse_cron(text: &str) -> Result<Cron> {
    let invalid = |message: String| ScheduleError::new(ErrorKind::Invalid, "/cronString", message);
    let fields: Vec<&str> = text.split_whitespace().collect();
    if !text.trim_start().starts_with('@') && !(5..=7).contains(&fields.len()) {
        return Err(invalid(format!(
            "`{text}` has {} fields; a cron expression has 5 (minute hour day month weekday), optionally with seconds and year",
            fields.len()
        )));
    }
    parser().parse(text).map_err(|error| {
        // Croner's messages do not say which field is wrong: find the one whose replacement by `*` mends it.
        let culprit = (0..fields.len()).find(|&index| {
            let mut mended = fields.clone();
            mended[index] = "*";
            parser().parse(&mended.join(" ")).is_ok()
        });
        let mut message = format!("`{text}` is not a cron expression: ");
        match culprit.and_then(|index| Some((index, field_names(fields.len()).get(index)?))) {
            Some((index, (field, allowed))) => {
                let _ = write!(message, "the {field} field `{}` is not valid; it takes {allowed}", fields[index]);
                let _ = write!(message, ", with lists `,`, ranges `-` and steps `/`");
            }
            None => {
                let _ = write!(message, "{error}");
            }
        }
        invalid(message)
    })
}
