//! Data-driven tests of the validator: each case is a small definition with a defect and the exact
//! diagnostics it must get. `UPDATE_EXPECT=1 cargo test -p tessera-flow --test validation` rewrites
//! the expectations after a deliberate change.

// A test that cannot go on should stop loudly, helpers included.
#![allow(clippy::unwrap_used)]

use expect_test::{Expect, expect};
use serde_json::{Value, json};
use tessera_flow::{Format, Workflow};

fn check(doc: Value, expected: Expect) {
    let actual = match Workflow::from_document(doc) {
        Ok(workflow) => {
            let mut lines = vec!["valid".to_owned()];
            lines.extend(workflow.warnings().iter().map(ToString::to_string));
            lines.join("\n")
        }
        Err(diagnostics) => diagnostics.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"),
    };
    expected.assert_eq(&actual);
}

/// A workflow whose steps are `steps`, starting at `start`.
fn workflow(start: &str, steps: Value) -> Value {
    json!({"name": "Case", "trigger": {"type": "EXTERNAL", "attributes": {}}, "definition": {"start": start, "steps": steps}})
}

fn http(next: &str) -> Value {
    json!({"type": "action", "actionId": "sp:http", "attributes": {"url": "https://example.com", "method": "get"}, "nextStep": next})
}

#[test]
fn a_sound_workflow_is_valid() {
    check(workflow("Call", json!({"Call": http("Done"), "Done": {"type": "success"}})), expect![[r#"valid"#]]);
}

#[test]
fn start_missing_or_unknown() {
    check(
        json!({"definition": {"steps": {"Done": {"type": "success"}}}}),
        expect![[r#"error[missing-field] at /definition/start: there is no `start`: name the first step"#]],
    );
    check(
        workflow("Dne", json!({"Done": {"type": "success"}})),
        expect![[r#"error[unknown-step] at /definition/start: `start` names `Dne`, which is not a step"#]],
    );
    check(
        workflow("done", json!({"Done": {"type": "success"}})),
        expect![[
            r#"error[unknown-step] at /definition/start: `start` names `done`, which is not a step (did you mean `Done`?)"#
        ]],
    );
}

#[test]
fn references_to_missing_steps() {
    check(
        workflow("Call", json!({"Call": http("Nowhere"), "Done": {"type": "success"}})),
        expect![
            "error[unknown-step] at /definition/steps/Call/nextStep: `nextStep` names `Nowhere`, which is not a step"
        ],
    );
    check(
        workflow(
            "Choose",
            json!({
                "Choose": {"type": "choice", "choiceList": [{"comparator": "StringEquals", "variableA.$": "$.trigger.a", "variableB": "x", "nextStep": "Yes"}], "defaultStep": "No"},
                "Yes": {"type": "success"}
            }),
        ),
        expect![[
            r#"error[unknown-step] at /definition/steps/Choose/defaultStep: `defaultStep` names `No`, which is not a step"#
        ]],
    );
    let mut call = http("Done");
    call["catch"] = json!([{"next": "Handler"}]);
    check(
        workflow("Call", json!({"Call": call, "Done": {"type": "success"}})),
        expect![[
            r#"error[unknown-step] at /definition/steps/Call/catch/0/next: `catch.next` names `Handler`, which is not a step"#
        ]],
    );
}

#[test]
fn unreachable_steps_and_endless_paths() {
    check(
        workflow("Done", json!({"Done": {"type": "success"}, "Orphan": http("Done")})),
        expect![[r#"error[unreachable-step] at /definition/steps/Orphan: no path from `start` leads to this step"#]],
    );
    check(
        workflow("A", json!({"A": http("B"), "B": http("A"), "Done": {"type": "failure", "failureName": "never"}})),
        expect![[r#"
            error[unreachable-step] at /definition/steps/Done: no path from `start` leads to this step
            error[no-end] at /definition/steps/A: no path from this step reaches an end step (it loops forever)
            error[no-end] at /definition/steps/B: no path from this step reaches an end step (it loops forever)"#]],
    );
    check(
        workflow("A", json!({"A": http("A")})),
        expect![[
            r#"error[no-end] at /definition/steps: the workflow has no end step: add a step of type `success` or `failure`"#
        ]],
    );
}

#[test]
fn unknown_actions_comparators_and_step_types() {
    check(
        workflow(
            "Call",
            json!({"Call": {"type": "action", "actionId": "sp:teleport", "attributes": {}, "nextStep": "Done"}, "Done": {"type": "success"}}),
        ),
        expect![
            "error[unknown-action] at /definition/steps/Call/actionId: unknown action `sp:teleport`: Tessera cannot perform it (see /v3/workflow-library/actions)"
        ],
    );
    check(
        workflow(
            "Choose",
            json!({
                "Choose": {"type": "choice", "choiceList": [{"comparator": "StringLooksLike", "variableA.$": "$.trigger.a", "variableB": "x", "nextStep": "Done"}], "defaultStep": "Done"},
                "Done": {"type": "success"}
            }),
        ),
        expect![[
            r#"error[unknown-comparator] at /definition/steps/Choose/choiceList/0/comparator: unknown comparator `StringLooksLike`: expected one of StringEquals, StringDoesNotEquals, StringContains, StringEndsWith, StringStartsWith, StringMatches, NumericEquals, NumericGreaterThan, NumericGreaterThanEquals, NumericLessThan, NumericLessThanEquals, TimestampEquals, TimestampGreaterThan, TimestampGreaterThanEquals, TimestampLessThan, TimestampLessThanEquals, BooleanEquals, IsPresent, IsNull"#
        ]],
    );
    check(
        workflow("Go", json!({"Go": {"type": "parallel", "nextStep": "Done"}, "Done": {"type": "success"}})),
        expect![
            "error[unknown-step-type] at /definition/steps/Go/type: unknown step type `parallel` (expected action, choice, Mutation, success or failure)"
        ],
    );
}

#[test]
fn malformed_paths_and_wrong_types() {
    check(
        workflow(
            "Get",
            json!({"Get": {"type": "action", "actionId": "sp:get-identity", "attributes": {"id.$": "$.trigger[?(@.x =="}, "nextStep": "Done"}, "Done": {"type": "success"}}),
        ),
        expect![
            "error[invalid-jsonpath] at /definition/steps/Get/attributes/id.$: `$.trigger[?(@.x ==` is not a valid JSONPath: at position 11, in long-hand segment, parser error"
        ],
    );
    check(
        workflow(
            "Call",
            json!({"Call": {"type": "action", "actionId": "sp:http", "attributes": {"url": 42, "method": "get", "requestHeaders": "x"}, "nextStep": "Done"}, "Done": {"type": "success"}}),
        ),
        expect![[r#"
            error[wrong-type] at /definition/steps/Call/attributes/url: `url` of `sp:http` must be a string
            error[wrong-type] at /definition/steps/Call/attributes/requestHeaders: `requestHeaders` of `sp:http` must be an object"#]],
    );
    check(
        workflow(
            "Wait",
            json!({"Wait": {"type": "action", "actionId": "sp:sleep", "attributes": {"type": "waitFor", "duration": "ten minutes"}, "nextStep": "Done"}, "Done": {"type": "success"}}),
        ),
        expect![[
            r#"error[wrong-type] at /definition/steps/Wait/attributes/duration: `duration` of `sp:sleep` must be a duration such as 10m, 2h or 7d"#
        ]],
    );
    check(
        workflow(
            "Mail",
            json!({"Mail": {"type": "action", "actionId": "sp:send-email", "attributes": {"subject": "Hi"}, "nextStep": "Done"}, "Done": {"type": "success"}}),
        ),
        expect![[
            r#"error[missing-attribute] at /definition/steps/Mail/attributes/recipientEmailList: `sp:send-email` needs `recipientEmailList` (a string or an array of strings)"#
        ]],
    );
}

#[test]
fn loop_bodies_are_checked_like_workflows() {
    let body_without_end = json!({
        "type": "action", "actionId": "sp:loop:iterator", "nextStep": "Done",
        "attributes": {"input.$": "$.trigger.items", "start": "Mail", "steps": {
            "Mail": {"type": "action", "actionId": "sp:send-email", "attributes": {"recipientEmailList.$": "$.loop.loopInput"}, "nextStep": "Mail"}
        }}
    });
    check(
        workflow("Loop", json!({"Loop": body_without_end, "Done": {"type": "success"}})),
        expect![[
            r#"error[loop-no-end] at /definition/steps/Loop/attributes/steps: this loop body has no end step: add a success or failure step that every iteration reaches"#
        ]],
    );
    let body_bad_start = json!({
        "type": "action", "actionId": "sp:loop:iterator", "nextStep": "Done",
        "attributes": {"input.$": "$.trigger.items", "start": "Nope", "steps": {"End": {"type": "success"}}}
    });
    check(
        workflow("Loop", json!({"Loop": body_bad_start, "Done": {"type": "success"}})),
        expect![[
            r#"error[unknown-step] at /definition/steps/Loop/attributes/start: `start` names `Nope`, which is not a step"#
        ]],
    );
}

#[test]
fn variables_and_their_operations() {
    let too_many: Vec<Value> = (0..51).map(|_| json!({"id": "sp:transform:trim:string", "input": {}})).collect();
    check(
        workflow(
            "Vars",
            json!({
                "Vars": {"type": "Mutation", "nextStep": "Done", "attributes": {"variables": [
                    {"name": "a", "variableA.$": "$.trigger.a", "transforms": [{"id": "sp:transform:explode:string", "input": {}}]},
                    {"name": "b", "variableA": "x", "transforms": too_many},
                    {"name": "c", "variableA": "x", "transforms": [{"id": "sp:transform:substring:string", "input": {"start": 0}}]}
                ]}},
                "Done": {"type": "success"}
            }),
        ),
        expect![[r#"
            error[unknown-transform] at /definition/steps/Vars/attributes/variables/0/transforms/0/id: unknown operation `sp:transform:explode:string` (expected one of sp:transform:replace:string, sp:transform:substring:string, sp:transform:concatenate:string, sp:transform:trim:string, sp:transform:getIndex:int, sp:transform:addTime:time, sp:transform:subtractTime:time, sp:transform:formatDate:string, sp:transform:upper:string, sp:transform:lower:string)
            error[too-many-operations] at /definition/steps/Vars/attributes/variables/1/transforms: 51 operations on one variable; the limit is 50
            error[missing-attribute] at /definition/steps/Vars/attributes/variables/2/transforms/0/input/length: `sp:transform:substring:string` needs `input.length`"#]],
    );
}

#[test]
fn triggers() {
    let mut doc = workflow("Done", json!({"Done": {"type": "success"}}));
    doc["trigger"] = json!({"type": "EVENT", "attributes": {"filter.$": "$.changes[?(@.attribute == \"x\""}});
    check(
        doc.clone(),
        expect![[r#"
            error[missing-field] at /trigger/attributes/id: an EVENT trigger needs `attributes.id`, the event trigger id such as `idn:identity-created`
            error[invalid-filter] at /trigger/attributes/filter.$: the trigger filter `$.changes[?(@.attribute == "x"` is malformed: at character 31: expected `&&`, `||` or `)` to close the filter opened at character 12, found the end of the filter"#]],
    );
    doc["trigger"] = json!({"type": "SCHEDULED", "attributes": {"cronString": "0 0 *"}});
    check(
        doc.clone(),
        expect![[
            r#"error[invalid-schedule] at /trigger/attributes/cronString: `0 0 *` has 3 fields; a cron expression has 5 (minute hour day month weekday), optionally with seconds and year"#
        ]],
    );
    doc["trigger"] = json!({"type": "WEBHOOK"});
    check(
        doc,
        expect![[
            r#"error[unknown-trigger] at /trigger/type: unknown trigger type `WEBHOOK` (expected one of EVENT, SCHEDULED, EXTERNAL, REQUEST_RESPONSE, AccessRequestTrigger, INTERACTIVE, DELEGATED)"#
        ]],
    );
}

#[test]
fn several_errors_are_reported_at_once_and_warnings_do_not_invalidate() {
    check(
        workflow(
            "Call",
            json!({
                "Call": {"type": "action", "actionId": "sp:http", "attributes": {"url": "https://x", "method": "get", "colour": "blue"}, "nextStep": "Done"},
                "Done": {"type": "success"}
            }),
        ),
        expect![[r#"
            valid
            warning[unknown-attribute] at /definition/steps/Call/attributes/colour: `sp:http` does not take `colour`; it is kept but not used"#]],
    );
    check(
        workflow(
            "A",
            json!({"A": {"type": "action", "actionId": "sp:nope", "nextStep": "B"}, "B": {"type": "choice"}, "C/~": {"type": "success"}}),
        ),
        expect![[r#"
            error[unknown-action] at /definition/steps/A/actionId: unknown action `sp:nope`: Tessera cannot perform it (see /v3/workflow-library/actions)
            error[missing-field] at /definition/steps/B/defaultStep: a choice needs a `defaultStep` for when no comparison matches
            error[missing-field] at /definition/steps/B/choiceList: a choice needs a non-empty `choiceList`
            error[unreachable-step] at /definition/steps/C~1~0: no path from `start` leads to this step
            error[no-end] at /definition/steps/A: no path from this step reaches an end step (it loops forever)"#]],
    );
}

#[test]
fn syntax_errors_and_yaml() {
    let error = Workflow::parse("{\"definition\": ", Format::Json).unwrap_err();
    expect!["error[syntax] at (document): not valid JSON: EOF while parsing a value at line 1 column 15"]
        .assert_eq(&error[0].to_string());
    let yaml = "name: From YAML\ndefinition:\n  start: Call\n  steps:\n    Call:\n      type: action\n      actionId: sp:http\n      attributes: {url: 'https://example.com', method: get}\n      nextStep: Done\n    Done:\n      type: success\n";
    let workflow = Workflow::parse(yaml, Format::Yaml).expect("valid YAML workflow");
    assert_eq!(workflow.name(), Some("From YAML"));
    assert_eq!(workflow.document()["definition"]["steps"]["Call"]["attributes"]["method"], "get");
}

#[test]
fn pointers_name_places_that_exist() {
    // Found by the property tests in tests/malformed_input/: each pointer resolves, or names a missing
    // member of something that exists.
    check(
        workflow(
            "H",
            json!({"H": {"type": "action", "actionId": "sp:http", "nextStep": "E"}, "E": {"type": "success"}}),
        ),
        expect![[r#"
            error[missing-field] at /definition/steps/H/attributes: `sp:http` needs `url` (a string), and `attributes` itself is missing
            error[missing-field] at /definition/steps/H/attributes: `sp:http` needs `method` (one of get, post, put, patch, delete, head, options), and `attributes` itself is missing"#]],
    );
    check(
        workflow(
            "V",
            json!({
                "V": {"type": "Mutation", "nextStep": "E", "attributes": {"variables": [
                    {"name": "a", "variableA": "x", "transforms": ["trim", {"input": {}}, {"id": "sp:transform:substring:string"}]}
                ]}},
                "E": {"type": "success"}
            }),
        ),
        expect![[r#"
            error[wrong-type] at /definition/steps/V/attributes/variables/0/transforms/0: an operation is an object with `id` and `input`
            error[missing-field] at /definition/steps/V/attributes/variables/0/transforms/1/id: the operation has no `id`, such as `sp:transform:trim:string`
            error[missing-field] at /definition/steps/V/attributes/variables/0/transforms/2/input: `sp:transform:substring:string` needs `input.length`, and `input` itself is missing"#]],
    );
    check(
        workflow(
            "M",
            json!({"M": {"type": "Mutation", "actionId": "sp:http", "attributes": {"variables": []}, "nextStep": "E"}, "E": {"type": "success"}}),
        ),
        expect![
            "error[unknown-action] at /definition/steps/M/actionId: a Mutation step is `sp:define-variable` or `sp:update-variable`, not `sp:http`"
        ],
    );
    let mut doc = workflow("E", json!({"E": {"type": "success"}}));
    doc["trigger"] = json!({"type": "EVENT"});
    check(
        doc,
        expect![
            "error[missing-field] at /trigger/attributes: an EVENT trigger needs `attributes.id`, the event trigger id such as `idn:identity-created`, and `attributes` itself is missing"
        ],
    );
}

#[test]
fn step_names_cannot_overwrite_the_input() {
    check(
        workflow(
            "Trigger",
            json!({"Trigger": {"type": "Mutation", "attributes": {"variables": [{"name": "x", "variableA": 1}]}, "nextStep": "E"}, "E": {"type": "success"}}),
        ),
        expect![
            "error[reserved-name] at /definition/steps/Trigger: step `Trigger` would store its output at `$.trigger`, which holds the run's input; rename it"
        ],
    );
}
