//! Data-driven tests of the language's pieces: comparators under ISC's type rules, the variable
//! operations, JSONPath with ISC functions, and templates. Each row is input → expected output.

// A test that cannot go on should stop loudly, helpers included.
#![allow(clippy::unwrap_used)]

use chrono::DateTime;
use serde_json::{Value, json};
use tessera_flow::compare::Comparator;
use tessera_flow::expr::{Expr, fill_context};
use tessera_flow::transform::{Op, Transform};
use tessera_model::Timestamp;

fn now() -> Timestamp {
    DateTime::parse_from_rfc3339("2024-03-10T12:30:00Z").unwrap().to_utc().into()
}

#[test]
fn comparators() {
    // (comparator, variableA, variableB, expected: Ok(bool) or Err(fragment of the message))
    let rows: Vec<(&str, Value, Value, Result<bool, &str>)> = vec![
        ("StringEquals", json!("abc"), json!("abc"), Ok(true)),
        ("StringEquals", json!("abc"), json!("ABC"), Ok(false)),
        ("StringEquals", json!(42), json!("42"), Ok(true)),
        ("StringEquals", json!(["only"]), json!("only"), Ok(true)),
        ("StringEquals", json!(null), json!("x"), Ok(false)),
        ("StringDoesNotEquals", json!(null), json!("x"), Ok(true)),
        ("StringDoesNotEquals", json!("a"), json!("b"), Ok(true)),
        ("StringEquals", json!({"a": 1}), json!("x"), Err("StringEquals needs a string for variableA, got an object")),
        ("StringContains", json!("Temporary Admin Access"), json!("Admin"), Ok(true)),
        ("StringStartsWith", json!("AD-Disable Account"), json!("AD"), Ok(true)),
        ("StringEndsWith", json!("AD-Disable Account"), json!("Disable Account"), Ok(true)),
        ("StringEndsWith", json!("AD-Enable Account"), json!("Disable Account"), Ok(false)),
        ("StringMatches", json!("terminated"), json!("^(terminated|rescinded)$"), Ok(true)),
        ("StringMatches", json!("active"), json!("^(terminated|rescinded)$"), Ok(false)),
        ("StringMatches", json!("x"), json!("("), Err("needs a valid regular expression")),
        ("NumericEquals", json!(3), json!(3.0), Ok(true)),
        ("NumericEquals", json!("200"), json!(200), Ok(true)),
        ("NumericGreaterThan", json!(5), json!(3), Ok(true)),
        ("NumericGreaterThanEquals", json!(3), json!(3), Ok(true)),
        ("NumericLessThan", json!(3), json!(3), Ok(false)),
        ("NumericLessThanEquals", json!(2.5), json!(3), Ok(true)),
        (
            "NumericEquals",
            json!("many"),
            json!(3),
            Err("NumericEquals needs a number for variableA, got the string \"many\""),
        ),
        ("NumericEquals", json!(null), json!(0), Err("needs a number for variableA, got nothing (null)")),
        ("TimestampGreaterThanEquals", json!("2024-03-10T12:30:00Z"), json!("2024-03-10"), Ok(true)),
        ("TimestampLessThan", json!("2024-03-10T12:30:00+02:00"), json!("2024-03-10T11:00:00Z"), Ok(true)),
        ("TimestampEquals", json!("2024-03-10T00:00:00Z"), json!("2024-03-10"), Ok(true)),
        ("TimestampGreaterThan", json!("yesterday"), json!("2024-03-10"), Err("needs a timestamp for variableA")),
        ("BooleanEquals", json!(true), json!("true"), Ok(true)),
        ("BooleanEquals", json!("FALSE"), json!(false), Ok(true)),
        ("BooleanEquals", json!("yes"), json!(true), Err("needs a boolean")),
        ("IsPresent", json!("x"), json!(null), Ok(true)),
        ("IsPresent", json!(null), json!(null), Ok(false)),
        ("IsPresent", json!(null), json!(false), Ok(true)),
        ("IsPresent", json!(""), json!(true), Ok(true)),
        ("IsNull", json!(null), json!(null), Ok(true)),
        ("IsNull", json!(0), json!(true), Ok(false)),
    ];
    for (name, a, b, expected) in rows {
        let comparator: Comparator = name.parse().unwrap();
        let b = if b.is_null() { None } else { Some(b) };
        let actual = comparator.compare(&a, b.as_ref());
        match (&actual, expected) {
            (Ok(got), Ok(want)) => assert_eq!(*got, want, "{name}({a}, {b:?})"),
            (Err(error), Err(fragment)) => {
                assert!(error.to_string().contains(fragment), "{name}({a}, {b:?}): `{error}` lacks `{fragment}`")
            }
            _ => panic!("{name}({a}, {b:?}) gave {actual:?}, expected {expected:?}"),
        }
    }
    assert!("stringequals".parse::<Comparator>().is_ok(), "comparator names are case-insensitive");
}

#[test]
fn operations() {
    let doc = json!({"defineVariable1": {"indexOfSeparation": 2}});
    // (operation id, its input, the value, expected result)
    let rows: Vec<(&str, Value, Value, Value)> = vec![
        ("sp:transform:replace:string", json!({"pattern": "true", "replacement": "Yes"}), json!("true"), json!("Yes")),
        ("sp:transform:replace:string", json!({"pattern": "true", "replacement": "Yes"}), json!(true), json!("Yes")),
        (
            "sp:transform:replace:string",
            json!({"pattern": "[0-9]+", "replacement": "#"}),
            json!("a1b22"),
            json!("a#b#"),
        ),
        (
            "sp:transform:replace:string",
            json!({"pattern": "permanent", "replacement": ""}),
            json!("permanent"),
            json!(""),
        ),
        (
            "sp:transform:substring:string",
            json!({"start": 0, "length": 10}),
            json!("2024-05-01T10:00:00Z"),
            json!("2024-05-01"),
        ),
        (
            "sp:transform:substring:string",
            json!({"start": null, "length": 3, "type": ["string"]}),
            json!("abcdef"),
            json!("abc"),
        ),
        ("sp:transform:substring:string", json!({"start": 4, "length": 99}), json!("abcdef"), json!("ef")),
        (
            "sp:transform:substring:string",
            json!({"start": 0, "length.$": "$.defineVariable1.indexOfSeparation"}),
            json!("AD-Disable"),
            json!("AD"),
        ),
        ("sp:transform:substring:string", json!({"start": 0, "length": 3}), json!(["één twee"]), json!("één")),
        ("sp:transform:concatenate:string", json!({"variableB": "d"}), json!("30"), json!("30d")),
        ("sp:transform:trim:string", json!({}), json!("  padded \t"), json!("padded")),
        ("sp:transform:getIndex:int", json!({"pattern": "-"}), json!("AD-Disable Account"), json!(2)),
        ("sp:transform:getIndex:int", json!({"pattern": "#"}), json!("none"), json!(-1)),
        (
            "sp:transform:addTime:time",
            json!({"length": 7, "unit": "days", "type": ["string"]}),
            json!("2024-03-10T12:30:00.000Z"),
            json!("2024-03-17T12:30:00.000Z"),
        ),
        (
            "sp:transform:addTime:time",
            json!({"length": 1, "unit": "months"}),
            json!("2024-01-31"),
            json!("2024-02-29T00:00:00.000Z"),
        ),
        (
            "sp:transform:subtractTime:time",
            json!({"length": 90, "unit": "minutes"}),
            json!("2024-03-10T12:30:00Z"),
            json!("2024-03-10T11:00:00.000Z"),
        ),
        (
            "sp:transform:formatDate:string",
            json!({"format": "yyyy-MM-dd'T'HH:mm"}),
            json!("2024-03-10T12:30:00Z"),
            json!("2024-03-10T12:30"),
        ),
        ("sp:transform:formatDate:string", json!({"format": "dd MMM yyyy"}), json!("2024-03-10"), json!("10 Mar 2024")),
        ("sp:transform:formatDate:string", json!({"format": "epoch"}), json!("1970-01-01T00:00:01Z"), json!("1000")),
        ("sp:transform:upper:string", json!({}), json!("abc"), json!("ABC")),
        ("sp:transform:lower:string", json!({}), json!("ABC"), json!("abc")),
    ];
    for (id, input, value, expected) in rows {
        let op = Op::from_id(id).unwrap_or_else(|| panic!("{id} is an operation"));
        let transform = Transform::compile(op, input.as_object().unwrap()).unwrap();
        let actual = transform.apply(value.clone(), &doc, now()).unwrap_or_else(|e| panic!("{id} on {value}: {e}"));
        assert_eq!(actual, expected, "{id} {input} on {value}");
    }
    let add = Transform::compile(Op::AddTime, json!({"length": 1, "unit": "fortnights"}).as_object().unwrap()).unwrap();
    let error = add.apply(json!("2024-03-10"), &doc, now()).unwrap_err().to_string();
    assert!(error.contains("a unit of seconds, minutes, hours, days, weeks, months or years"), "{error}");
}

#[test]
fn references_and_templates() {
    let doc = json!({
        "trigger": {"identity": {"id": "2c91", "name": "Ada Lovelace"}, "changes": [{"attribute": "department", "newValue": "R&D"}, {"attribute": "title"}]},
        "getAccounts": {"accounts": [{"sourceName": "AD", "nativeIdentity": "CN=Ada"}, {"sourceName": "Okta", "nativeIdentity": "ada"}]},
        "defineVariable2": {"sourceName": "Okta"},
        "hTTPRequest": {"body": "[1,2,3]"}
    });
    // (key as written, its value, expected)
    let rows: Vec<(&str, Value, Value)> = vec![
        ("id.$", json!("$.trigger.identity.id"), json!("2c91")),
        ("id.$", json!("$.trigger.missing.deeper"), json!(null)),
        ("attrs.$", json!("$.trigger.changes[*].attribute"), json!(["department", "title"])),
        ("count.$", json!("$.trigger.changes.length()"), json!(2)),
        ("n.$", json!("$.hTTPRequest.body.JSON().length()"), json!(3)),
        ("at.$", json!("$.now()"), json!("2024-03-10T12:30:00.000Z")),
        (
            "ids.$",
            json!("$.getAccounts.accounts[?(@.sourceName == \"{{$.defineVariable2.sourceName}}\")].nativeIdentity"),
            json!(["ada"]),
        ),
        ("subject", json!("Welcome {{$.trigger.identity.name}}!"), json!("Welcome Ada Lovelace!")),
        (
            "body",
            json!({"user.$": "$.trigger.identity.id", "note": "{{$.trigger.changes[0].newValue}}"}),
            json!({"user": "2c91", "note": "R&D"}),
        ),
        ("plain", json!({"a": [1, "{{ not closed"]}), json!({"a": [1, "{{ not closed"]})),
        ("unset.$", json!(""), json!(null)),
    ];
    for (key, value, expected) in rows {
        let (_, expr) = Expr::compile(key, &value).unwrap_or_else(|e| panic!("{key}: {e}"));
        assert_eq!(expr.eval(&doc, now()).unwrap(), expected, "{key}: {value}");
    }
    // A value substituted into a path is a value, never more path: an attempt to widen the filter
    // finds nothing; a number or plain name stays bare; anything else outside quotes is quoted.
    let injected = json!({
        "trigger": {"source": "x\" || @.sourceName != \"x", "single": "x' || @.sourceName != 'x", "index": 1,
                    "name": "Okta", "odd": "Ok ta"},
        "getAccounts": doc["getAccounts"].clone(),
    });
    for (path, expected) in [
        ("$.getAccounts.accounts[?(@.sourceName == \"{{$.trigger.source}}\")].nativeIdentity", json!([])),
        ("$.getAccounts.accounts[?(@.sourceName == '{{$.trigger.single}}')].nativeIdentity", json!([])),
        ("$.getAccounts.accounts[?(@.sourceName == {{$.trigger.name}})].nativeIdentity", json!(["ada"])),
        ("$.getAccounts.accounts[{{$.trigger.index}}].nativeIdentity", json!("ada")),
        ("$.getAccounts.accounts[?(@.sourceName == {{$.trigger.odd}})].nativeIdentity", json!([])),
    ] {
        let (_, expr) = Expr::compile("v.$", &json!(path)).unwrap();
        assert_eq!(expr.eval(&injected, now()).unwrap(), expected, "{path}");
    }
    let (_, quoted) =
        Expr::compile("v.$", &json!("$.getAccounts.accounts[?(@.sourceName == {{$.trigger.name}})]")).unwrap();
    assert!(quoted.eval(&injected, now()).is_ok());
    let context = json!({"displayName": "Ada", "ticketNumber": 1234}).as_object().unwrap().clone();
    assert_eq!(
        fill_context("Hello ${displayName}, ticket ${ticketNumber}; ${unknown}", &context),
        "Hello Ada, ticket 1234; ${unknown}"
    );
}
