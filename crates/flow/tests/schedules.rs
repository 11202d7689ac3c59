//! Scheduled triggers: tables of attributes with the next three firings after an instant, the 2024
//! US daylight saving transitions, the corpus's three schedules, and the errors for malformed ones.
//! `UPDATE_EXPECT=1 cargo test -p tessera-flow --test schedules` rewrites the snapshots after a
//! deliberate change.

// A test that cannot go on should stop loudly, helpers included.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use chrono::{DateTime, Utc};
use expect_test::{Expect, expect};
use serde_json::{Map, Value, json};
use tessera_flow::schedule::Schedule;
use tessera_model::Timestamp;

fn schedule(attributes: &Value) -> Schedule {
    Schedule::from_attributes(attributes.as_object().unwrap()).unwrap_or_else(|e| panic!("{attributes}: {e}"))
}

fn at(text: &str) -> Timestamp {
    text.parse::<DateTime<Utc>>().unwrap().into()
}

/// The first `n` firings after `after`, each from the one before.
fn firings(schedule: &Schedule, after: Timestamp, n: usize) -> Vec<Timestamp> {
    let mut out: Vec<Timestamp> = Vec::new();
    while out.len() < n {
        let Some(next) = schedule.next_after(*out.last().unwrap_or(&after)) else { break };
        out.push(next);
    }
    out
}

/// A firing in UTC and on the schedule's wall clock: `2024-03-10T07:00Z (Sun 03:00 EDT)`.
fn show(schedule: &Schedule, instant: Timestamp) -> String {
    let instant = instant.to_datetime();
    let local = instant.with_timezone(&schedule.time_zone());
    format!("{} ({})", instant.format("%Y-%m-%dT%H:%M:%SZ"), local.format("%a %H:%M %Z"))
}

/// Each case as its attributes, then the next three firings after its instant.
fn check_table(cases: &[(Value, &str)], expected: Expect) {
    let mut out = String::new();
    for (attributes, after) in cases {
        let schedule = schedule(attributes);
        out.push_str(&format!("{attributes}\n  after {after}:\n"));
        let next = firings(&schedule, at(after), 3);
        for instant in &next {
            out.push_str(&format!("    {}\n", show(&schedule, *instant)));
        }
        if next.len() < 3 {
            out.push_str("    (no more)\n");
        }
    }
    expected.assert_eq(&out);
}

#[test]
fn cron_strings() {
    check_table(
        &[
            // Weekdays at 09:00 in New York, from a Friday evening.
            (json!({"cronString": "0 9 * * 1-5", "timeZone": "America/New_York"}), "2024-06-07T20:00:00Z"),
            // Steps and lists; no time zone is UTC.
            (json!({"cronString": "*/20 8,12 * * *"}), "2024-06-07T08:30:00Z"),
            // Names for months and weekdays, any case.
            (json!({"cronString": "30 8 * jan,JUL Mon", "timeZone": "UTC"}), "2024-06-07T00:00:00Z"),
            // Six fields: a leading seconds field; Quartz's `?` for "any day of the month".
            (json!({"cronString": "15 0 12 ? * SUN", "timeZone": "Europe/Paris"}), "2024-06-07T00:00:00Z"),
            // Seven fields: a trailing year; the schedule ends.
            (json!({"cronString": "0 0 12 1 1 ? 2025-2026", "timeZone": "UTC"}), "2024-06-07T00:00:00Z"),
            // `L`, the last day of the month, leap years included.
            (json!({"cronString": "0 18 L * *", "timeZone": "Europe/Paris"}), "2024-01-31T17:00:00Z"),
            // Day of month and day of week both restricted: either matches (Vixie cron).
            (json!({"cronString": "0 0 1,15 * MON", "timeZone": "UTC"}), "2024-01-23T00:00:00Z"),
            // `+` before the weekday requires both: Friday the 13th.
            (json!({"cronString": "0 0 13 * +FRI", "timeZone": "UTC"}), "2024-01-01T00:00:00Z"),
            // `5L`: the last Friday of the month; `1#2`: the second Monday.
            (json!({"cronString": "0 17 * * 5L", "timeZone": "UTC"}), "2024-01-01T00:00:00Z"),
            (json!({"cronString": "0 9 * * 1#2", "timeZone": "UTC"}), "2024-01-01T00:00:00Z"),
            // Quartz's `0/30` step and 7 for Sunday.
            (json!({"cronString": "0/30 9 * * 7", "timeZone": "UTC"}), "2024-06-07T00:00:00Z"),
            (json!({"cronString": "@monthly", "timeZone": "Australia/Sydney"}), "2024-06-07T00:00:00Z"),
            // A legacy zone name.
            (json!({"cronString": "0 15 * * 6", "timeZone": "US/Pacific"}), "2024-06-07T00:00:00Z"),
        ],
        expect![[r#"
            {"cronString":"0 9 * * 1-5","timeZone":"America/New_York"}
              after 2024-06-07T20:00:00Z:
                2024-06-10T13:00:00Z (Mon 09:00 EDT)
                2024-06-11T13:00:00Z (Tue 09:00 EDT)
                2024-06-12T13:00:00Z (Wed 09:00 EDT)
            {"cronString":"*/20 8,12 * * *"}
              after 2024-06-07T08:30:00Z:
                2024-06-07T08:40:00Z (Fri 08:40 UTC)
                2024-06-07T12:00:00Z (Fri 12:00 UTC)
                2024-06-07T12:20:00Z (Fri 12:20 UTC)
            {"cronString":"30 8 * jan,JUL Mon","timeZone":"UTC"}
              after 2024-06-07T00:00:00Z:
                2024-07-01T08:30:00Z (Mon 08:30 UTC)
                2024-07-08T08:30:00Z (Mon 08:30 UTC)
                2024-07-15T08:30:00Z (Mon 08:30 UTC)
            {"cronString":"15 0 12 ? * SUN","timeZone":"Europe/Paris"}
              after 2024-06-07T00:00:00Z:
                2024-06-09T10:00:15Z (Sun 12:00 CEST)
                2024-06-16T10:00:15Z (Sun 12:00 CEST)
                2024-06-23T10:00:15Z (Sun 12:00 CEST)
            {"cronString":"0 0 12 1 1 ? 2025-2026","timeZone":"UTC"}
              after 2024-06-07T00:00:00Z:
                2025-01-01T12:00:00Z (Wed 12:00 UTC)
                2026-01-01T12:00:00Z (Thu 12:00 UTC)
                (no more)
            {"cronString":"0 18 L * *","timeZone":"Europe/Paris"}
              after 2024-01-31T17:00:00Z:
                2024-02-29T17:00:00Z (Thu 18:00 CET)
                2024-03-31T16:00:00Z (Sun 18:00 CEST)
                2024-04-30T16:00:00Z (Tue 18:00 CEST)
            {"cronString":"0 0 1,15 * MON","timeZone":"UTC"}
              after 2024-01-23T00:00:00Z:
                2024-01-29T00:00:00Z (Mon 00:00 UTC)
                2024-02-01T00:00:00Z (Thu 00:00 UTC)
                2024-02-05T00:00:00Z (Mon 00:00 UTC)
            {"cronString":"0 0 13 * +FRI","timeZone":"UTC"}
              after 2024-01-01T00:00:00Z:
                2024-09-13T00:00:00Z (Fri 00:00 UTC)
                2024-12-13T00:00:00Z (Fri 00:00 UTC)
                2025-06-13T00:00:00Z (Fri 00:00 UTC)
            {"cronString":"0 17 * * 5L","timeZone":"UTC"}
              after 2024-01-01T00:00:00Z:
                2024-01-26T17:00:00Z (Fri 17:00 UTC)
                2024-02-23T17:00:00Z (Fri 17:00 UTC)
                2024-03-29T17:00:00Z (Fri 17:00 UTC)
            {"cronString":"0 9 * * 1#2","timeZone":"UTC"}
              after 2024-01-01T00:00:00Z:
                2024-01-08T09:00:00Z (Mon 09:00 UTC)
                2024-02-12T09:00:00Z (Mon 09:00 UTC)
                2024-03-11T09:00:00Z (Mon 09:00 UTC)
            {"cronString":"0/30 9 * * 7","timeZone":"UTC"}
              after 2024-06-07T00:00:00Z:
                2024-06-09T09:00:00Z (Sun 09:00 UTC)
                2024-06-09T09:30:00Z (Sun 09:30 UTC)
                2024-06-16T09:00:00Z (Sun 09:00 UTC)
            {"cronString":"@monthly","timeZone":"Australia/Sydney"}
              after 2024-06-07T00:00:00Z:
                2024-06-30T14:00:00Z (Mon 00:00 AEST)
                2024-07-31T14:00:00Z (Thu 00:00 AEST)
                2024-08-31T14:00:00Z (Sun 00:00 AEST)
            {"cronString":"0 15 * * 6","timeZone":"US/Pacific"}
              after 2024-06-07T00:00:00Z:
                2024-06-08T22:00:00Z (Sat 15:00 PDT)
                2024-06-15T22:00:00Z (Sat 15:00 PDT)
                2024-06-22T22:00:00Z (Sat 15:00 PDT)
        "#]],
    );
}

#[test]
fn frequencies() {
    check_table(
        &[
            // Two times a day; the later one first.
            (
                json!({"frequency": "daily", "dailyTimes": ["17:30", "08:00"], "timeZone": "Europe/London"}),
                "2024-06-07T12:00:00Z",
            ),
            (
                json!({"frequency": "weekly", "weeklyDays": ["Monday", "wed"], "weeklyTimes": ["09:00"], "timeZone": "America/Chicago"}),
                "2024-06-07T00:00:00Z",
            ),
            // "L" and a day every month has; February 2024 has 29 days.
            (
                json!({"frequency": "monthly", "monthlyDays": ["15", "L", "1"], "monthlyTimes": ["06:00"]}),
                "2024-02-10T00:00:00Z",
            ),
            // A day the month lacks is skipped, as cron does: no 31 April or June.
            (
                json!({"frequency": "monthly", "monthlyDays": [31], "monthlyTimes": ["23:59:30"]}),
                "2024-03-31T23:59:30Z",
            ),
            // A timestamp's time of day in the schedule's zone: 20:30Z is 02:00 in Kolkata.
            (
                json!({"frequency": "daily", "dailyTimes": ["1969-12-31T20:30:00.000Z"], "timeZone": "Asia/Kolkata"}),
                "2024-06-07T00:00:00Z",
            ),
            // ISC writes the frequency in lower case; any case is read.
            (
                json!({"frequency": "Weekly", "weeklyDays": ["SUN"], "weeklyTimes": ["00:00"], "timeZone": "America/New_York"}),
                "2024-06-07T00:00:00Z",
            ),
            // `hourly` and `custom` run their cronString.
            (json!({"frequency": "hourly", "cronString": "0 * * * *", "timeZone": "UTC"}), "2024-06-07T00:00:00Z"),
            (
                json!({"frequency": "custom", "cronString": "0 12 * * 1-5", "timeZone": "Asia/Tokyo"}),
                "2024-06-07T00:00:00Z",
            ),
            // A blank cronString leaves the lists to make the schedule.
            (json!({"frequency": "daily", "cronString": " ", "dailyTimes": ["12:00"]}), "2024-06-07T00:00:00Z"),
        ],
        expect![[r#"
            {"frequency":"daily","dailyTimes":["17:30","08:00"],"timeZone":"Europe/London"}
              after 2024-06-07T12:00:00Z:
                2024-06-07T16:30:00Z (Fri 17:30 BST)
                2024-06-08T07:00:00Z (Sat 08:00 BST)
                2024-06-08T16:30:00Z (Sat 17:30 BST)
            {"frequency":"weekly","weeklyDays":["Monday","wed"],"weeklyTimes":["09:00"],"timeZone":"America/Chicago"}
              after 2024-06-07T00:00:00Z:
                2024-06-10T14:00:00Z (Mon 09:00 CDT)
                2024-06-12T14:00:00Z (Wed 09:00 CDT)
                2024-06-17T14:00:00Z (Mon 09:00 CDT)
            {"frequency":"monthly","monthlyDays":["15","L","1"],"monthlyTimes":["06:00"]}
              after 2024-02-10T00:00:00Z:
                2024-02-15T06:00:00Z (Thu 06:00 UTC)
                2024-02-29T06:00:00Z (Thu 06:00 UTC)
                2024-03-01T06:00:00Z (Fri 06:00 UTC)
            {"frequency":"monthly","monthlyDays":[31],"monthlyTimes":["23:59:30"]}
              after 2024-03-31T23:59:30Z:
                2024-05-31T23:59:30Z (Fri 23:59 UTC)
                2024-07-31T23:59:30Z (Wed 23:59 UTC)
                2024-08-31T23:59:30Z (Sat 23:59 UTC)
            {"frequency":"daily","dailyTimes":["1969-12-31T20:30:00.000Z"],"timeZone":"Asia/Kolkata"}
              after 2024-06-07T00:00:00Z:
                2024-06-07T20:30:00Z (Sat 02:00 IST)
                2024-06-08T20:30:00Z (Sun 02:00 IST)
                2024-06-09T20:30:00Z (Mon 02:00 IST)
            {"frequency":"Weekly","weeklyDays":["SUN"],"weeklyTimes":["00:00"],"timeZone":"America/New_York"}
              after 2024-06-07T00:00:00Z:
                2024-06-09T04:00:00Z (Sun 00:00 EDT)
                2024-06-16T04:00:00Z (Sun 00:00 EDT)
                2024-06-23T04:00:00Z (Sun 00:00 EDT)
            {"frequency":"hourly","cronString":"0 * * * *","timeZone":"UTC"}
              after 2024-06-07T00:00:00Z:
                2024-06-07T01:00:00Z (Fri 01:00 UTC)
                2024-06-07T02:00:00Z (Fri 02:00 UTC)
                2024-06-07T03:00:00Z (Fri 03:00 UTC)
            {"frequency":"custom","cronString":"0 12 * * 1-5","timeZone":"Asia/Tokyo"}
              after 2024-06-07T00:00:00Z:
                2024-06-07T03:00:00Z (Fri 12:00 JST)
                2024-06-10T03:00:00Z (Mon 12:00 JST)
                2024-06-11T03:00:00Z (Tue 12:00 JST)
            {"frequency":"daily","cronString":" ","dailyTimes":["12:00"]}
              after 2024-06-07T00:00:00Z:
                2024-06-07T12:00:00Z (Fri 12:00 UTC)
                2024-06-08T12:00:00Z (Sat 12:00 UTC)
                2024-06-09T12:00:00Z (Sun 12:00 UTC)
        "#]],
    );
}

#[test]
fn next_after_is_strictly_after_even_within_a_second() {
    let daily = schedule(&json!({"cronString": "0 0 * * *"}));
    assert_eq!(daily.next_after(at("2024-01-01T00:00:00Z")), Some(at("2024-01-02T00:00:00Z")));
    assert_eq!(daily.next_after(at("2024-01-01T00:00:00.5Z")), Some(at("2024-01-02T00:00:00Z")));
    assert_eq!(daily.next_after(at("2023-12-31T23:59:59.999Z")), Some(at("2024-01-01T00:00:00Z")));
}

/// Spring forward: on 10 March 2024, 02:00 EST became 03:00 EDT in New York.
#[test]
fn a_time_that_does_not_exist_fires_once_at_the_end_of_the_gap() {
    let before = at("2024-03-09T12:00:00Z");
    let expected = [at("2024-03-10T07:00:00Z"), at("2024-03-11T06:30:00Z"), at("2024-03-12T06:30:00Z")];
    for attributes in [
        json!({"cronString": "30 2 * * *", "timeZone": "America/New_York"}),
        json!({"frequency": "daily", "dailyTimes": ["02:30"], "timeZone": "America/New_York"}),
    ] {
        // 02:30 does not exist on the 10th: it fires at 03:00 EDT, once; then 02:30 EDT again.
        assert_eq!(firings(&schedule(&attributes), before, 3), expected, "{attributes}");
    }
    // 02:00 and 03:00 both map to 03:00 EDT that day: one firing, not two.
    let both = schedule(&json!({"cronString": "0 2,3 * * *", "timeZone": "US/Eastern"}));
    assert_eq!(
        firings(&both, before, 3),
        [at("2024-03-10T07:00:00Z"), at("2024-03-11T06:00:00Z"), at("2024-03-11T07:00:00Z")]
    );
    // An interval pattern skips the missing half-hours and carries on after the gap.
    let half_hourly = schedule(&json!({"cronString": "*/30 * * * *", "timeZone": "America/New_York"}));
    assert_eq!(
        firings(&half_hourly, at("2024-03-10T06:15:00Z"), 3),
        [at("2024-03-10T06:30:00Z"), at("2024-03-10T07:00:00Z"), at("2024-03-10T07:30:00Z")],
        "01:30 EST, then 03:00 and 03:30 EDT"
    );
}

/// Fall back: on 3 November 2024, 02:00 EDT became 01:00 EST in New York, so 01:00-01:59 came twice.
#[test]
fn an_ambiguous_time_fires_once_at_its_first_occurrence() {
    let expected = [at("2024-11-03T05:30:00Z"), at("2024-11-04T06:30:00Z"), at("2024-11-05T06:30:00Z")];
    for attributes in [
        json!({"cronString": "30 1 * * *", "timeZone": "America/New_York"}),
        json!({"frequency": "daily", "dailyTimes": ["01:30"], "timeZone": "America/New_York"}),
        json!({"frequency": "weekly", "weeklyDays": ["Sunday", "Monday", "Tuesday"], "weeklyTimes": ["01:30"], "timeZone": "US/Eastern"}),
    ] {
        let schedule = schedule(&attributes);
        // 01:30 EDT (05:30Z), not 01:30 EST (06:30Z) as well.
        assert_eq!(firings(&schedule, at("2024-11-02T12:00:00Z"), 3), expected, "{attributes}");
        // Asked from between the two 01:30s, the next is the following day's.
        assert_eq!(schedule.next_after(at("2024-11-03T05:45:00Z")), Some(expected[1]), "{attributes}");
    }
    // An hourly pattern fires every real hour: both 01:00s.
    let hourly = schedule(&json!({"cronString": "0 * * * *", "timeZone": "America/New_York"}));
    assert_eq!(
        firings(&hourly, at("2024-11-03T04:30:00Z"), 3),
        [at("2024-11-03T05:00:00Z"), at("2024-11-03T06:00:00Z"), at("2024-11-03T07:00:00Z")],
        "01:00 EDT, 01:00 EST, 02:00 EST"
    );
}

/// The trigger attributes of the corpus workflow at `path`.
fn corpus_attributes(path: &str) -> Value {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/isc-colab").join(path);
    let document: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    document["trigger"]["attributes"].clone()
}

fn without(attributes: &Value, key: &str) -> Value {
    let mut object: Map<String, Value> = attributes.as_object().unwrap().clone();
    object.remove(key);
    Value::Object(object)
}

const CORPUS: [&str; 3] = [
    "request-response-trigger/UpdateAccessRequestPreapprovalAccessToken.json",
    "run-unoptomized-aggregation/RunUnoptimizedAggregation.json",
    "scheduled-full-source-aggregation-delta/ScheduledFullSourceAggregation.json",
];

#[test]
fn the_corpus_schedules_run_their_cron_strings() {
    let after = at("2024-06-01T00:00:00Z");
    let mut out = String::new();
    for path in CORPUS {
        let attributes = corpus_attributes(path);
        let from_cron = schedule(&attributes);
        // The same attributes without the cronString: what the frequency lists alone say.
        let from_lists = schedule(&without(&attributes, "cronString"));
        out.push_str(&format!("{attributes}\n"));
        for (label, schedule) in [("cronString", &from_cron), ("lists alone", &from_lists)] {
            let next: Vec<String> = firings(schedule, after, 3).iter().map(|t| show(schedule, *t)).collect();
            out.push_str(&format!("  {label}: {}\n", next.join(", ")));
        }
    }
    // New York and Kolkata: the lists and the cron agree (20:30Z on 31 December 1969 is 02:00 on
    // 1 January 1970 in Kolkata). US/Eastern: the cron says 15:00, its copied timestamp 15:30 EST;
    // the cron is what runs.
    expect![[r#"
        {"cronString":"0 0 * * 0","frequency":"weekly","timeZone":"America/New_York","weeklyDays":["Sunday"],"weeklyTimes":["00:00"]}
          cronString: 2024-06-02T04:00:00Z (Sun 00:00 EDT), 2024-06-09T04:00:00Z (Sun 00:00 EDT), 2024-06-16T04:00:00Z (Sun 00:00 EDT)
          lists alone: 2024-06-02T04:00:00Z (Sun 00:00 EDT), 2024-06-09T04:00:00Z (Sun 00:00 EDT), 2024-06-16T04:00:00Z (Sun 00:00 EDT)
        {"cronString":"0 15 * * 6","frequency":"weekly","timeZone":"US/Eastern","weeklyDays":["Saturday"],"weeklyTimes":["1969-12-31T20:30:00.000Z"]}
          cronString: 2024-06-01T19:00:00Z (Sat 15:00 EDT), 2024-06-08T19:00:00Z (Sat 15:00 EDT), 2024-06-15T19:00:00Z (Sat 15:00 EDT)
          lists alone: 2024-06-01T19:30:00Z (Sat 15:30 EDT), 2024-06-08T19:30:00Z (Sat 15:30 EDT), 2024-06-15T19:30:00Z (Sat 15:30 EDT)
        {"cronString":"0 2 * * 6","frequency":"weekly","timeZone":"Asia/Kolkata","weeklyDays":["Saturday"],"weeklyTimes":["1969-12-31T20:30:00.000Z"]}
          cronString: 2024-06-07T20:30:00Z (Sat 02:00 IST), 2024-06-14T20:30:00Z (Sat 02:00 IST), 2024-06-21T20:30:00Z (Sat 02:00 IST)
          lists alone: 2024-06-07T20:30:00Z (Sat 02:00 IST), 2024-06-14T20:30:00Z (Sat 02:00 IST), 2024-06-21T20:30:00Z (Sat 02:00 IST)
    "#]]
    .assert_eq(&out);
    // Over a whole year the New York and Kolkata lists fire exactly when their crons do.
    for path in [CORPUS[0], CORPUS[2]] {
        let attributes = corpus_attributes(path);
        let (cron, lists) = (schedule(&attributes), schedule(&without(&attributes, "cronString")));
        assert_eq!(firings(&cron, after, 53), firings(&lists, after, 53), "{path}");
    }
    assert_eq!(schedule(&corpus_attributes(CORPUS[1])).time_zone(), chrono_tz::US::Eastern);
}

#[test]
fn malformed_schedules_say_which_attribute_and_what_is_expected() {
    let cases = [
        json!({}),
        json!({"cronString": 42}),
        json!({"cronString": "0 0 *"}),
        json!({"cronString": ""}),
        json!({"cronString": "61 0 * * *"}),
        json!({"cronString": "0 25 * * *"}),
        json!({"cronString": "0 0 0 * *"}),
        json!({"cronString": "0 0 * 13 *"}),
        json!({"cronString": "0 0 * * FUN"}),
        json!({"cronString": "0 0 * * 1-"}),
        json!({"cronString": "0 0 30 2 *"}),
        json!({"cronString": "0 0 * * *", "timeZone": "Mars/Olympus_Mons"}),
        json!({"cronString": "0 0 * * *", "timeZone": "america/new_york"}),
        json!({"cronString": "0 0 * * *", "timeZone": "Europe/Pariss"}),
        json!({"cronString": "0 0 * * *", "timeZone": -5}),
        json!({"cronString": "0 0 * * *", "frequency": "fortnightly"}),
        json!({"cronString": "0 0 * * *", "frequency": 7}),
        json!({"frequency": "custom"}),
        json!({"frequency": "weekly", "weeklyTimes": ["09:00"]}),
        json!({"frequency": "weekly", "weeklyDays": ["Funday"], "weeklyTimes": ["09:00"]}),
        // The lists are checked even where the cronString wins.
        json!({"cronString": "0 9 * * 1", "frequency": "weekly", "weeklyDays": ["Monday"], "weeklyTimes": ["25:00"]}),
        json!({"frequency": "monthly", "monthlyDays": ["1", "32"], "monthlyTimes": ["09:00"]}),
        json!({"frequency": "monthly", "monthlyDays": ["1"], "monthlyTimes": [900]}),
        json!({"frequency": "daily", "dailyTimes": []}),
        json!({"frequency": "daily", "dailyTimes": "08:00"}),
        json!({"frequency": "daily", "dailyTimes": [["08:00"]]}),
    ];
    let out: Vec<String> = cases
        .iter()
        .map(|attributes| match Schedule::from_attributes(attributes.as_object().unwrap()) {
            Ok(_) => format!("{attributes}\n  accepted"),
            Err(error) => format!("{attributes}\n  {:?} {error}", error.kind),
        })
        .collect();
    expect![[r#"
        {}
          Missing at /cronString: a SCHEDULED trigger needs `cronString` or `frequency`
        {"cronString":42}
          WrongType at /cronString: `cronString` must be a string such as `0 9 * * 1`
        {"cronString":"0 0 *"}
          Invalid at /cronString: `0 0 *` has 3 fields; a cron expression has 5 (minute hour day month weekday), optionally with seconds and year
        {"cronString":""}
          Invalid at /cronString: `cronString` is empty; write a cron expression such as `0 9 * * 1`
        {"cronString":"61 0 * * *"}
          Invalid at /cronString: `61 0 * * *` is not a cron expression: the minute field `61` is not valid; it takes 0-59, with lists `,`, ranges `-` and steps `/`
        {"cronString":"0 25 * * *"}
          Invalid at /cronString: `0 25 * * *` is not a cron expression: the hour field `25` is not valid; it takes 0-23, with lists `,`, ranges `-` and steps `/`
        {"cronString":"0 0 0 * *"}
          Invalid at /cronString: `0 0 0 * *` is not a cron expression: the day-of-month field `0` is not valid; it takes 1-31, `L` for the last day, `?`, with lists `,`, ranges `-` and steps `/`
        {"cronString":"0 0 * 13 *"}
          Invalid at /cronString: `0 0 * 13 *` is not a cron expression: the month field `13` is not valid; it takes 1-12 or JAN-DEC, with lists `,`, ranges `-` and steps `/`
        {"cronString":"0 0 * * FUN"}
          Invalid at /cronString: `0 0 * * FUN` is not a cron expression: the day-of-week field `FUN` is not valid; it takes 0-7 (0 and 7 are Sunday) or SUN-SAT, `?`, `L`, `#`, with lists `,`, ranges `-` and steps `/`
        {"cronString":"0 0 * * 1-"}
          Invalid at /cronString: `0 0 * * 1-` is not a cron expression: the day-of-week field `1-` is not valid; it takes 0-7 (0 and 7 are Sunday) or SUN-SAT, `?`, `L`, `#`, with lists `,`, ranges `-` and steps `/`
        {"cronString":"0 0 30 2 *"}
          Invalid at /cronString: this schedule never fires: no date matches it (such as 30 February)
        {"cronString":"0 0 * * *","timeZone":"Mars/Olympus_Mons"}
          Invalid at /timeZone: unknown time zone `Mars/Olympus_Mons`; expected an IANA name such as `America/New_York`, `Europe/Paris` or `UTC`
        {"cronString":"0 0 * * *","timeZone":"america/new_york"}
          Invalid at /timeZone: unknown time zone `america/new_york`; did you mean `America/New_York`?
        {"cronString":"0 0 * * *","timeZone":"Europe/Pariss"}
          Invalid at /timeZone: unknown time zone `Europe/Pariss`; did you mean `Europe/Paris`?
        {"cronString":"0 0 * * *","timeZone":-5}
          WrongType at /timeZone: `timeZone` must be a string naming an IANA time zone such as `America/New_York`
        {"cronString":"0 0 * * *","frequency":"fortnightly"}
          Invalid at /frequency: unknown frequency `fortnightly`; expected one of daily, weekly, monthly, hourly, custom
        {"cronString":"0 0 * * *","frequency":7}
          WrongType at /frequency: `frequency` must be a string, one of daily, weekly, monthly, hourly, custom
        {"frequency":"custom"}
          Missing at /cronString: frequency `custom` runs the `cronString`, which is missing
        {"frequency":"weekly","weeklyTimes":["09:00"]}
          Missing at /weeklyDays: a weekly schedule without a `cronString` needs `weeklyDays`
        {"frequency":"weekly","weeklyDays":["Funday"],"weeklyTimes":["09:00"]}
          Invalid at /weeklyDays/0: `Funday` is not a day of the week; expected one of Sunday, Monday, Tuesday, Wednesday, Thursday, Friday, Saturday, or their first three letters
        {"cronString":"0 9 * * 1","frequency":"weekly","weeklyDays":["Monday"],"weeklyTimes":["25:00"]}
          Invalid at /weeklyTimes/0: `25:00` is not a time of day; expected `HH:MM` in the schedule's time zone, or a timestamp such as `1970-01-01T09:00:00Z` whose time in that zone is meant
        {"frequency":"monthly","monthlyDays":["1","32"],"monthlyTimes":["09:00"]}
          Invalid at /monthlyDays/1: `32` is not a day of the month; expected "1" to "31", or "L" for the last day
        {"frequency":"monthly","monthlyDays":["1"],"monthlyTimes":[900]}
          Invalid at /monthlyTimes/0: `900` is not a time of day; expected `HH:MM` in the schedule's time zone, or a timestamp such as `1970-01-01T09:00:00Z` whose time in that zone is meant
        {"frequency":"daily","dailyTimes":[]}
          Invalid at /dailyTimes: `dailyTimes` is empty; a daily schedule needs at least one
        {"frequency":"daily","dailyTimes":"08:00"}
          WrongType at /dailyTimes: `dailyTimes` must be an array
        {"frequency":"daily","dailyTimes":[["08:00"]]}
          WrongType at /dailyTimes/0: `["08:00"]` is not a time of day; expected `HH:MM` in the schedule's time zone, or a timestamp such as `1970-01-01T09:00:00Z` whose time in that zone is meant"#]].assert_eq(&out.join("\n"));
}

#[test]
fn the_validator_reports_schedule_errors_at_the_attribute() {
    let report = |trigger: Value| {
        let document = json!({"name": "Scheduled", "trigger": trigger, "definition": {"start": "Done", "steps": {"Done": {"type": "success"}}}});
        let (program, diagnostics) = tessera_flow::validate::check(&document);
        let mut lines: Vec<String> = diagnostics.iter().map(ToString::to_string).collect();
        if program.is_some() {
            lines.insert(0, "valid".to_owned());
        }
        lines.join("\n")
    };
    let scheduled = |attributes: Value| json!({"type": "SCHEDULED", "attributes": attributes});
    let out = [
        report(scheduled(json!({"cronString": "0 0 31 4 *", "timeZone": "UTC"}))),
        report(scheduled(json!({"cronString": "0 9 * * MON", "timeZone": "Europe/Pariss"}))),
        report(scheduled(json!({"frequency": "weekly", "weeklyDays": ["Monday"], "weeklyTimes": ["9 o'clock"]}))),
        report(scheduled(json!({"frequency": "weekly", "weeklyDays": ["Monday"]}))),
        report(json!({"type": "SCHEDULED"})),
        report(scheduled(json!({"cronString": "0 9 * * MON", "timeZone": "US/Eastern"}))),
    ];
    expect![[r#"
        error[invalid-schedule] at /trigger/attributes/cronString: this schedule never fires: no date matches it (such as 30 February)
        error[invalid-schedule] at /trigger/attributes/timeZone: unknown time zone `Europe/Pariss`; did you mean `Europe/Paris`?
        error[invalid-schedule] at /trigger/attributes/weeklyTimes/0: `9 o'clock` is not a time of day; expected `HH:MM` in the schedule's time zone, or a timestamp such as `1970-01-01T09:00:00Z` whose time in that zone is meant
        error[missing-field] at /trigger/attributes/weeklyTimes: a weekly schedule without a `cronString` needs `weeklyTimes`
        error[missing-field] at /trigger/attributes: a SCHEDULED trigger needs `cronString` or `frequency`, and `attributes` itself is missing
        valid"#]].assert_eq(&out.join("\n"));
}
