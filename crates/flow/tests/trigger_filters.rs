//! Trigger filters (`filter.$`, Jayway's JsonPath dialect): every corpus filter against events
//! that should and should not start its workflow, a table of operator cases, what paths select,
//! the error of each malformed filter, the validator refusing them, and random and mutated
//! filters parsed and evaluated without a panic. `UPDATE_EXPECT=1 cargo test -p tessera-flow
//! --test trigger_filters` rewrites the snapshots after a deliberate change.

// A test that cannot go on should stop loudly, helpers included.
#![allow(clippy::unwrap_used)]

/// The operator table.
#[path = "trigger_filters/operators.rs"]
mod operators;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use expect_test::{Expect, expect};
use proptest::prelude::*;
use proptest::test_runner::RngSeed;
use serde_json::{Value, json};
use tessera_flow::Workflow;
use tessera_flow::filter::TriggerFilter;

use operators::operator_document;

// ---------------------------------------------------------------------------------------------
// The corpus

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus")
}

/// An example event payload from `shared/corpus/isc-events`.
fn event(file: &str) -> Value {
    let text = std::fs::read_to_string(corpus().join("isc-events").join(file)).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Every corpus workflow's trigger filter, by workflow file stem.
fn corpus_filters() -> &'static BTreeMap<String, String> {
    static FILTERS: OnceLock<BTreeMap<String, String>> = OnceLock::new();
    FILTERS.get_or_init(|| {
        let mut filters = BTreeMap::new();
        for dir in std::fs::read_dir(corpus().join("isc-colab")).unwrap().flatten() {
            for file in std::fs::read_dir(dir.path()).into_iter().flatten().flatten() {
                let path = file.path();
                let Ok(text) = std::fs::read_to_string(&path) else { continue };
                let Ok(document) = serde_json::from_str::<Value>(&text) else { continue };
                if let Some(filter) = document.pointer("/trigger/attributes/filter.$").and_then(Value::as_str) {
                    let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
                    filters.insert(stem, filter.to_owned());
                }
            }
        }
        filters
    })
}

fn corpus_filter(stem: &str) -> TriggerFilter {
    let text = corpus_filters().get(stem).unwrap_or_else(|| panic!("no corpus workflow `{stem}` with a filter"));
    TriggerFilter::parse(text).unwrap_or_else(|e| panic!("`{text}`: {e}"))
}

/// `event` with the value at each pointer set (`Some`) or removed (`None`).
fn with(mut event: Value, edits: &[(&str, Option<Value>)]) -> Value {
    for (pointer, value) in edits {
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        let parent = event.pointer_mut(parent).unwrap_or_else(|| panic!("no {parent} in the event"));
        match (parent, value) {
            (Value::Object(members), Some(value)) => {
                members.insert(key.to_owned(), value.clone());
            }
            (Value::Object(members), None) => {
                members.remove(key);
            }
            (Value::Array(items), Some(value)) => items[key.parse::<usize>().unwrap()] = value.clone(),
            (other, _) => panic!("cannot edit {pointer} in {other}"),
        }
    }
    event
}

#[test]
fn every_corpus_filter_compiles() {
    let filters = corpus_filters();
    assert_eq!(filters.len(), 7, "the corpus has seven filtered triggers: {filters:#?}");
    for (stem, text) in filters {
        if let Err(error) = TriggerFilter::parse(text) {
            panic!("{stem}: `{text}`: {error}");
        }
    }
}

/// One corpus filter, one event, whether the workflow starts.
struct Case {
    workflow: &'static str,
    event: &'static str,
    starts: bool,
    data: Value,
}

fn case(workflow: &'static str, event: &'static str, starts: bool, data: Value) -> Case {
    Case { workflow, event, starts, data }
}

fn corpus_cases() -> Vec<Case> {
    let decision = event("access-request-decision.json");
    let item = "/requestedItemsStatus/0";
    let role = |name: &str, approvals: Value| {
        with(
            decision.clone(),
            &[
                (&format!("{item}/type"), Some(json!("ROLE"))),
                (&format!("{item}/name"), Some(json!(name))),
                (&format!("{item}/approvalInfo"), Some(approvals)),
            ],
        )
    };
    let approved = json!([{"approvalDecision": "APPROVED"}]);
    let changed = event("identity-attribute-changed.json");
    let change = |attribute: &str, new_value: &str| {
        with(
            changed.clone(),
            &[("/changes/0/attribute", Some(json!(attribute))), ("/changes/0/newValue", Some(json!(new_value)))],
        )
    };
    let aggregation = event("account-aggregation-completed.json");
    let form = event("form-submitted.json");
    // `idn:interactive-process-launched` has no example payload; TRIGGERS.md lists its fields.
    let launched = |workflow_id: &str| json!({"interactiveProcessId": "e1a2", "launchedBy": {"id": "2c91", "name": "Ann"}, "workflowId": workflow_id});
    let manage = "RequestHandler-ManageAccounts";
    let mover = "Workflow-Delayed Birthright Role DeProvisioning on Transfer";
    vec![
        // A role whose name ends in "-Disable Account" or "-Enable Account", added, with no
        // approvals or approved first and last.
        case(manage, "disable-account role, approved", true, role("AD-Disable Account", approved.clone())),
        case(manage, "enable-account role, no approvals", true, role("LDAP-Enable Account", json!([]))),
        case(
            manage,
            "approved first and last of three",
            true,
            role(
                "AD-Enable Account",
                json!([{"approvalDecision": "APPROVED"}, {"approvalDecision": "PENDING"}, {"approvalDecision": "APPROVED"}]),
            ),
        ),
        case(
            manage,
            "approved first, rejected last",
            false,
            role("AD-Enable Account", json!([{"approvalDecision": "APPROVED"}, {"approvalDecision": "REJECTED"}])),
        ),
        case(manage, "the example as sent (an access profile)", false, decision.clone()),
        case(
            manage,
            "role name only contains the suffix (=~ matches whole)",
            false,
            role("AD-Disable Accounts", approved.clone()),
        ),
        case(manage, "role name without the dash", false, role("Disable Account", approved.clone())),
        case(
            manage,
            "removed, not added",
            false,
            with(
                role("AD-Disable Account", approved.clone()),
                &[(&format!("{item}/operation"), Some(json!("Remove")))],
            ),
        ),
        case(
            manage,
            "no approvalInfo at all",
            false,
            with(role("AD-Disable Account", approved.clone()), &[(&format!("{item}/approvalInfo"), None)]),
        ),
        case(
            "AccountAggregationFailedNotification",
            "source is Active Directory",
            true,
            with(aggregation.clone(), &[("/source/name", Some(json!("Active Directory")))]),
        ),
        case("AccountAggregationFailedNotification", "the example as sent", false, aggregation.clone()),
        case(
            "AccountAggregationFailedNotification",
            "no source",
            false,
            with(aggregation.clone(), &[("/source", None)]),
        ),
        case(mover, "department changed (the example)", true, changed.clone()),
        case(mover, "jobTitle changed", true, change("jobTitle", "Engineer")),
        case(mover, "manager changed", false, change("manager", "Bob")),
        case(mover, "no changes", false, with(changed.clone(), &[("/changes", Some(json!([])))])),
        case(
            mover,
            "email and jobTitle changed",
            true,
            with(
                changed.clone(),
                &[(
                    "/changes",
                    Some(
                        json!([{"attribute": "email", "newValue": "a@b"}, {"attribute": "jobTitle", "newValue": "CTO"}]),
                    ),
                )],
            ),
        ),
        case(
            "Initiate_Emergency_Termination",
            "this workflow's launcher",
            true,
            launched("0******************************c"),
        ),
        case("Initiate_Emergency_Termination", "another workflow's launcher", false, launched("0123")),
        case(
            "ObjectOwnerReassignment",
            "lifecycle state to terminated",
            true,
            change("cloudLifecycleState", "terminated"),
        ),
        case("ObjectOwnerReassignment", "lifecycle state to active", false, change("cloudLifecycleState", "active")),
        case("ObjectOwnerReassignment", "another attribute to terminated", false, change("department", "terminated")),
        case(
            "RetryFailedWorkflowsFormHandler",
            "its form",
            true,
            with(form.clone(), &[("/formDefinitionId", Some(json!("77b0f669-d299-4119-ac10-0ab807b8f4ef")))]),
        ),
        case("RetryFailedWorkflowsFormHandler", "another form (the example)", false, form),
        case(
            "TemporaryAdminAccess20240305",
            "Temporary Admin Access requested",
            true,
            with(decision.clone(), &[(&format!("{item}/name"), Some(json!("Temporary Admin Access")))]),
        ),
        case("TemporaryAdminAccess20240305", "another item (the example)", false, decision),
    ]
}

#[test]
fn corpus_filters_start_workflows_only_for_their_events() {
    let mut wrong = Vec::new();
    let mut covered = std::collections::BTreeSet::new();
    for case in corpus_cases() {
        covered.insert(case.workflow);
        let filter = corpus_filter(case.workflow);
        if filter.matches(&case.data) != case.starts {
            wrong.push(format!(
                "{} / {} ({}): expected {}, selected {:?}",
                case.workflow,
                case.event,
                filter,
                case.starts,
                filter.select(&case.data)
            ));
        }
        // `matches` is exactly "selects something".
        assert_eq!(filter.matches(&case.data), !filter.select(&case.data).is_empty());
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert_eq!(covered.len(), corpus_filters().len(), "every corpus filter has cases");
}

#[test]
fn corpus_filters_select_the_matching_items() {
    let manage = corpus_filter("RequestHandler-ManageAccounts");
    let mut event = event("access-request-decision.json");
    let first = event["requestedItemsStatus"][0].clone();
    let role = |name: &str| {
        let mut item = first.clone();
        item["type"] = json!("ROLE");
        item["name"] = json!(name);
        item
    };
    event["requestedItemsStatus"] = json!([role("AD-Disable Account"), role("Other"), role("X-Enable Account")]);
    // The corpus filter ends in `.name`: the names of the matching items.
    assert_eq!(manage.select(&event), vec![json!("AD-Disable Account"), json!("X-Enable Account")]);

    let mover = corpus_filter("Workflow-Delayed Birthright Role DeProvisioning on Transfer");
    let changes = json!({"changes": [
        {"attribute": "jobTitle", "newValue": "CTO"},
        {"attribute": "email", "newValue": "a@b"},
        {"attribute": "department", "newValue": "IT"}
    ]});
    assert_eq!(
        mover.select(&changes),
        vec![json!({"attribute": "jobTitle", "newValue": "CTO"}), json!({"attribute": "department", "newValue": "IT"})]
    );
    // A filter on the root object tests the object itself.
    let ad = corpus_filter("AccountAggregationFailedNotification");
    let aggregation = json!({"source": {"name": "Active Directory"}, "status": "Error"});
    assert_eq!(ad.select(&aggregation), vec![aggregation.clone()]);
}

// ---------------------------------------------------------------------------------------------
// Paths

fn check_selects(document: &Value, paths: &[&str], expected: Expect) {
    let mut lines = Vec::new();
    for path in paths {
        let line = match TriggerFilter::parse(path) {
            Ok(filter) => {
                let selected = filter.select(document);
                let matched = if filter.matches(document) { "matches" } else { "no match" };
                format!("{path}  =>  {matched} {}", Value::Array(selected))
            }
            Err(error) => format!("{path}  =>  {error}"),
        };
        lines.push(line);
    }
    expected.assert_eq(&lines.join("\n"));
}

#[test]
fn paths_select_nodes() {
    let document = json!({
        "name": "root",
        "a b": 1,
        "list": [10, 20, 30, 40],
        "people": [
            {"name": "Ann", "age": 31, "tags": ["x"]},
            {"name": "Bob", "age": 17, "address": {"name": "home"}},
            {"name": null}
        ],
        "empty": [],
        "nothing": null
    });
    check_selects(
        &document,
        &[
            "$",
            "$.name",
            "$['name']",
            "$[\"a b\"]",
            "$['name','list']",
            "$.missing",
            "$.nothing",
            "$.list[0]",
            "$.list[-1]",
            "$.list[0,2]",
            "$.list[4]",
            "$.list[1:3]",
            "$.list[-2:]",
            "$.list[:1]",
            "$.list[*]",
            "$.people[*].name",
            "$.people.*.age",
            "$..name",
            "$.people..name",
            "$..tags[0]",
            "$.people[?(@.age >= 18)].name",
            "$.people[?(@.address)].name",
            "$.people[?(!@.age)]",
            "$..[?(@.name == 'home')]",
            "$.people[?(@.tags contains 'x')].age",
            "$.people[?(@.name =~ /a.*/i)].name",
            "$.list.length()",
            "$.list.sum()",
            "$.people[*].age.max()",
            "$.empty.length()",
            "$.empty[*]",
            "$.name.length()",
            "$.missing.length()",
            "  $.name  ",
        ],
        expect![[r#"
            $  =>  matches [{"name":"root","a b":1,"list":[10,20,30,40],"people":[{"name":"Ann","age":31,"tags":["x"]},{"name":"Bob","age":17,"address":{"name":"home"}},{"name":null}],"empty":[],"nothing":null}]
            $.name  =>  matches ["root"]
            $['name']  =>  matches ["root"]
            $["a b"]  =>  matches [1]
            $['name','list']  =>  matches ["root",[10,20,30,40]]
            $.missing  =>  no match []
            $.nothing  =>  matches [null]
            $.list[0]  =>  matches [10]
            $.list[-1]  =>  matches [40]
            $.list[0,2]  =>  matches [10,30]
            $.list[4]  =>  no match []
            $.list[1:3]  =>  matches [20,30]
            $.list[-2:]  =>  matches [30,40]
            $.list[:1]  =>  matches [10]
            $.list[*]  =>  matches [10,20,30,40]
            $.people[*].name  =>  matches ["Ann","Bob",null]
            $.people.*.age  =>  matches [31,17]
            $..name  =>  matches ["root","Ann","Bob","home",null]
            $.people..name  =>  matches ["Ann","Bob","home",null]
            $..tags[0]  =>  matches ["x"]
            $.people[?(@.age >= 18)].name  =>  matches ["Ann"]
            $.people[?(@.address)].name  =>  matches ["Bob"]
            $.people[?(!@.age)]  =>  matches [{"name":null}]
            $..[?(@.name == 'home')]  =>  matches [{"name":"home"}]
            $.people[?(@.tags contains 'x')].age  =>  matches [31]
            $.people[?(@.name =~ /a.*/i)].name  =>  matches ["Ann"]
            $.list.length()  =>  matches [4]
            $.list.sum()  =>  matches [100.0]
            $.people[*].age.max()  =>  matches [31.0]
            $.empty.length()  =>  matches [0]
            $.empty[*]  =>  no match []
            $.name.length()  =>  matches [4]
            $.missing.length()  =>  no match []
              $.name    =>  matches ["root"]"#]],
    );
}

#[test]
fn a_filter_on_a_scalar_selects_nothing() {
    let filter = TriggerFilter::parse("$.name[?(@ == 'x')]").unwrap();
    assert!(!filter.matches(&json!({"name": "x"})));
    let filter = TriggerFilter::parse("$.names[?(@ == 'x')]").unwrap();
    assert_eq!(filter.select(&json!({"names": ["x", "y", "x"]})), vec![json!("x"), json!("x")]);
}

// ---------------------------------------------------------------------------------------------
// Errors

fn check_errors(filters: &[&str], expected: Expect) {
    let mut lines = Vec::new();
    for text in filters {
        match TriggerFilter::parse(text) {
            Ok(_) => lines.push(format!("{text}\n    compiled")),
            Err(error) => lines.push(format!("{text}\n    {error}")),
        }
    }
    expected.assert_eq(&lines.join("\n"));
}

#[test]
fn malformed_filters_say_where_and_what_was_expected() {
    check_errors(
        &[
            "",
            "changes[?(@.attribute == 'x')]",
            "$.changes[?(@.attribute == \"x\"",
            "$.changes[?(@.attribute == \"x\")",
            "$.changes[?(@.attribute = 'x')]",
            "$.changes[?(@.attribute == 'x)]",
            "$.changes[?(@.attribute == )]",
            "$.changes[?(@.attribute like 'x')]",
            "$.changes[?(@.attribute == 'x' && )]",
            "$.changes[?(@.attribute == 'x' & @.b)]",
            "$.changes[?((@.a == 1)]",
            "$.changes[?(@.name =~ /(unclosed/)]",
            "$.changes[?(@.name =~ /x/g)]",
            "$.changes[?(@.name =~ 'x')]",
            "$.changes[?(@.name == /x/)]",
            "$.changes[?(@.name in 'x')]",
            "$.changes[?(@.name empty 1)]",
            "$.changes[?(@.name size 'x')]",
            "$.changes[?(@.name =~ /(?=x)/)]",
            "$.changes[?(@.a.frobnicate() == 1)]",
            "$.changes[?(@.a.length(1) == 1)]",
            "$.changes[?('x')]",
            "$.changes[?(@.a == 'x\\q')]",
            "$.changes[?(@.a in ['x' 'y'])]",
            "$.changes[?@.a]",
            "$.changes[]",
            "$.changes[1",
            "$.changes[99999999999999999999]",
            "$.changes.",
            "$.changes extra",
            "$.changes.length().x",
        ],
        expect![[r#"

                at character 1: expected a path starting with `$`, found the end of the filter
            changes[?(@.attribute == 'x')]
                at character 1: expected a path starting with `$`, found `changes`
            $.changes[?(@.attribute == "x"
                at character 31: expected `&&`, `||` or `)` to close the filter opened at character 12, found the end of the filter
            $.changes[?(@.attribute == "x")
                at character 32: expected `]` to close the `[` at character 10, found the end of the filter
            $.changes[?(@.attribute = 'x')]
                at character 25: expected an operator (== != === !== < <= > >= =~ in nin subsetof anyof noneof all size empty contains), found `=`
            $.changes[?(@.attribute == 'x)]
                at character 32: expected `'` to close the string at character 28, found the end of the filter
            $.changes[?(@.attribute == )]
                at character 28: expected a value: a path (`@.x` or `$.x`), a string, a number, true, false, null, an array or a /regex/, found `)`
            $.changes[?(@.attribute like 'x')]
                at character 25: expected an operator (== != === !== < <= > >= =~ in nin subsetof anyof noneof all size empty contains), found `like`
            $.changes[?(@.attribute == 'x' && )]
                at character 35: expected a value: a path (`@.x` or `$.x`), a string, a number, true, false, null, an array or a /regex/, found `)`
            $.changes[?(@.attribute == 'x' & @.b)]
                at character 32: expected `&&`, `||` or `)` to close the filter opened at character 12, found `&`
            $.changes[?((@.a == 1)]
                at character 23: expected `&&`, `||` or `)` to close the filter opened at character 12, found `]`
            $.changes[?(@.name =~ /(unclosed/)]
                at character 23: expected a valid regular expression, found `/(unclosed/` (unclosed group)
            $.changes[?(@.name =~ /x/g)]
                at character 26: expected regex flags i, m, s or x, found `g`
            $.changes[?(@.name =~ 'x')]
                at character 23: expected a regex literal such as /.*Admin.*/ (`=~` matches a regex) after `=~`, found `'x'`
            $.changes[?(@.name == /x/)]
                at character 20: expected `=~` before a regex literal, found `==`
            $.changes[?(@.name in 'x')]
                at character 23: expected an array such as ['a', 'b'] after `in`, found `'x'`
            $.changes[?(@.name empty 1)]
                at character 26: expected true or false after `empty`, found `1`
            $.changes[?(@.name size 'x')]
                at character 25: expected a number after `size`, found `'x'`
            $.changes[?(@.name =~ /(?=x)/)]
                at character 23: expected a valid regular expression, found `/(?=x)/` (look-around, including look-ahead and look-behind, is not supported)
            $.changes[?(@.a.frobnicate() == 1)]
                at character 17: expected a function: length(), size(), min(), max(), avg(), sum(), stddev(), first(), last() or keys(), found `frobnicate()`
            $.changes[?(@.a.length(1) == 1)]
                at character 24: expected `)`: `length()` takes no arguments, found `1`
            $.changes[?('x')]
                at character 16: expected an operator (== != === !== < <= > >= =~ in nin subsetof anyof noneof all size empty contains) after `'x'`, found `)`
            $.changes[?(@.a == 'x\q')]
                at character 22: expected an escape: \\ \' \" \/ \n \t \r \b \f or \uXXXX, found `\q`
            $.changes[?(@.a in ['x' 'y'])]
                at character 25: expected `,` or `]` to close the array at character 20, found `'`
            $.changes[?@.a]
                at character 12: expected `(` after `[?`: a filter is written `[?(…)]`, found `@`
            $.changes[]
                at character 11: expected a quoted member name, an index, a slice, `*` or `?(` after `[`, found `]`
            $.changes[1
                at character 12: expected `]` to close the `[` at character 10, found the end of the filter
            $.changes[99999999999999999999]
                at character 11: expected an index that fits in 64 bits, found `99999999999999999999`
            $.changes.
                at character 11: expected a member name or `*` after `.`, found the end of the filter
            $.changes extra
                at character 11: expected `.`, `[` or the end of the filter, found `extra`
            $.changes.length().x
                at character 19: expected the end of the path after `length()`, found `.`"#]],
    );
}

#[test]
fn nesting_is_bounded_without_exhausting_the_stack() {
    let deep = format!("$[?({}@.a == 1{})]", "(".repeat(10_000), ")".repeat(10_000));
    let error = TriggerFilter::parse(&deep).unwrap_err();
    assert!(error.expected().contains("levels of nesting"), "{error}");
    let deep = format!("$[?({}@.a)]", "!".repeat(10_000));
    assert!(TriggerFilter::parse(&deep).is_err());
    let deep = format!("$[?(@.a in {}{})]", "[".repeat(10_000), "]".repeat(10_000));
    assert!(TriggerFilter::parse(&deep).is_err());
    let deep = format!("${}", "[?(@".repeat(5_000));
    assert!(TriggerFilter::parse(&deep).is_err());
    // Realistic nesting is well within the bound.
    let fine = format!("$[?({}@.a == 1{})]", "(".repeat(20), ")".repeat(20));
    assert!(TriggerFilter::parse(&fine).unwrap().matches(&json!({"a": 1})));
}

// ---------------------------------------------------------------------------------------------
// The validator

fn event_workflow(filter: &str) -> Value {
    json!({
        "name": "Filtered",
        "trigger": {"type": "EVENT", "attributes": {"id": "idn:identity-attributes-changed", "filter.$": filter}},
        "definition": {"start": "Done", "steps": {"Done": {"type": "success"}}}
    })
}

#[test]
fn the_validator_refuses_a_malformed_filter() {
    // Brackets and quotes balance, so the old light check let this through.
    let diagnostics = Workflow::from_document(event_workflow("$.changes[?(@.attribute = 'x')]")).unwrap_err();
    assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
    assert_eq!(diagnostics[0].code, "invalid-filter");
    assert_eq!(diagnostics[0].pointer, "/trigger/attributes/filter.$");
    expect![[
        r#"error[invalid-filter] at /trigger/attributes/filter.$: the trigger filter `$.changes[?(@.attribute = 'x')]` is malformed: at character 25: expected an operator (== != === !== < <= > >= =~ in nin subsetof anyof noneof all size empty contains), found `=`"#
    ]]
    .assert_eq(&diagnostics[0].to_string());

    for filter in corpus_filters().values() {
        assert!(Workflow::from_document(event_workflow(filter)).is_ok(), "{filter}");
    }
}

// ---------------------------------------------------------------------------------------------
// Never a panic

/// Events the properties evaluate every filter that compiles against.
fn sample_events() -> &'static [Value] {
    static EVENTS: OnceLock<Vec<Value>> = OnceLock::new();
    EVENTS.get_or_init(|| {
        let mut events: Vec<Value> =
            ["access-request-decision.json", "identity-attribute-changed.json", "form-submitted.json"]
                .into_iter()
                .map(event)
                .collect();
        events.extend([operator_document(), json!([1, "a", null, [], {}]), json!("text"), Value::Null]);
        events
    })
}

/// Compiling never panics; a filter that compiles evaluates without panicking, and an error
/// points inside the text (or just past its end).
fn settle(text: &str) -> Result<(), TestCaseError> {
    match TriggerFilter::parse(text) {
        Ok(filter) => {
            for event in sample_events() {
                prop_assert_eq!(filter.matches(event), !filter.select(event).is_empty());
            }
        }
        Err(error) => {
            prop_assert!(error.position() >= 1 && error.position() <= text.chars().count() + 1, "{}", error);
            prop_assert!(!error.expected().is_empty() && !error.found().is_empty());
        }
    }
    Ok(())
}

/// Characters that matter to the dialect, so random text reaches deep into the parser.
fn dialect_text() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "$",
        "@",
        ".",
        "..",
        "[",
        "]",
        "(",
        ")",
        "?",
        "?(",
        "*",
        "'",
        "\"",
        "/",
        "\\",
        ",",
        ":",
        "-",
        "!",
        "=",
        "==",
        "!=",
        "<",
        ">=",
        "=~",
        "&&",
        "||",
        " ",
        "in",
        "nin",
        "size",
        "empty",
        "contains",
        "anyof",
        "true",
        "null",
        "0",
        "-1",
        "2.5",
        "1e3",
        "name",
        "a",
        "length()",
        "i",
        "{",
        "}",
        "é",
        "\u{1F600}",
    ]);
    prop::collection::vec(pieces, 0..40).prop_map(|pieces| pieces.concat())
}

/// A corpus filter with characters deleted, inserted or replaced.
fn mutated_filter() -> impl Strategy<Value = String> {
    let filters: Vec<String> = corpus_filters().values().cloned().collect();
    let edit = (
        any::<prop::sample::Index>(),
        0..3u8,
        prop::sample::select(vec![
            '(', ')', '[', ']', '\'', '"', '/', '@', '!', '&', '|', '=', ' ', 'x', '.', '\\', '-',
        ]),
    );
    (prop::sample::select(filters), prop::collection::vec(edit, 1..6)).prop_map(|(filter, edits)| {
        let mut chars: Vec<char> = filter.chars().collect();
        for (at, kind, c) in edits {
            let at = at.index(chars.len() + 1);
            match kind {
                0 if at < chars.len() => {
                    chars.remove(at);
                }
                1 => chars.insert(at, c),
                _ if at < chars.len() => chars[at] = c,
                _ => chars.push(c),
            }
        }
        chars.into_iter().collect()
    })
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 512,
        // The same cases on every run, and no regression files written beside the sources.
        rng_seed: RngSeed::Fixed(0xf11_7e25),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_text_compiles_or_is_refused(text in any::<String>()) {
        settle(&text)?;
    }

    #[test]
    fn dialect_soup_compiles_or_is_refused(text in dialect_text()) {
        settle(&format!("$[?({text})]"))?;
        settle(&format!("${text}"))?;
    }

    #[test]
    fn mutated_corpus_filters_compile_or_are_refused(text in mutated_filter()) {
        settle(&text)?;
    }
}
