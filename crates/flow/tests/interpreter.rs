//! The interpreter as a state machine: events in, effects and history out. Loops, catch, waits,
//! people, guard rails, cancellation and trace, each checked on its outcome.

// A test that cannot go on should stop loudly, helpers included.
#![allow(clippy::unwrap_used)]

use chrono::{DateTime, Duration};
use serde_json::{Value, json};
use tessera_flow::Workflow;
use tessera_flow::dryrun::{self, Mocks};
use tessera_flow::interp::{Effect, Error, Event, Limits, Options, Outcome, Run, Status};
use tessera_model::Timestamp;

fn t0() -> Timestamp {
    DateTime::parse_from_rfc3339("2024-01-01T00:00:00Z").unwrap().to_utc().into()
}

fn load(steps: Value, start: &str) -> Workflow {
    Workflow::from_document(json!({"name": "T", "definition": {"start": start, "steps": steps}}))
        .unwrap_or_else(|d| panic!("{d:#?}"))
}

fn http(next: &str) -> Value {
    json!({"type": "action", "actionId": "sp:http", "attributes": {"url.$": "$.loop.loopInput.url", "method": "get"}, "nextStep": next})
}

fn loop_workflow(parallelism: u64) -> Workflow {
    load(
        json!({
            "Loop": {"type": "action", "actionId": "sp:loop:iterator", "nextStep": "After",
                "attributes": {"input.$": "$.trigger.items", "context.$": "$.trigger.tag", "parallelism": parallelism, "start": "Call",
                    "steps": {"Call": http("Done"), "Done": {"type": "success"}}}},
            "After": {"type": "action", "actionId": "sp:http", "attributes": {"url": "https://after", "method": "post"}, "nextStep": "End"},
            "End": {"type": "success"}
        }),
        "Loop",
    )
}

fn items(n: usize) -> Value {
    json!({"tag": "ctx", "items": (0..n).map(|i| json!({"url": format!("https://item/{i}")})).collect::<Vec<_>>()})
}

#[test]
fn loops_finish_before_the_next_step_with_ordered_results_even_when_answered_out_of_order() {
    let workflow = loop_workflow(3);
    let program = workflow.program();
    let options = Options::default();
    let mut run = Run::new();
    let started = run.apply(program, Event::Start { input: items(4) }, t0(), &options).unwrap();
    // Three iterations run at once; each asks for its own item's URL.
    let urls: Vec<&str> = started
        .effects
        .iter()
        .map(|e| match e {
            Effect::Call { input, .. } => input["url"].as_str().unwrap(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(urls, ["https://item/0", "https://item/1", "https://item/2"]);
    let ids: Vec<_> = started.effects.iter().map(|e| e.id().clone()).collect();
    // Answer the third first: the fourth item starts; `After` does not.
    let step =
        run.apply(program, Event::Completed { id: ids[2].clone(), output: json!({"n": 2}) }, t0(), &options).unwrap();
    assert_eq!(step.effects.len(), 1);
    let fourth = step.effects[0].id().clone();
    for (id, n) in [(ids[0].clone(), 0), (fourth, 3)] {
        let step = run.apply(program, Event::Completed { id, output: json!({"n": n}) }, t0(), &options).unwrap();
        assert!(step.effects.is_empty(), "the loop is not finished yet");
    }
    let step =
        run.apply(program, Event::Completed { id: ids[1].clone(), output: json!({"n": 1}) }, t0(), &options).unwrap();
    assert!(matches!(&step.effects[..], [Effect::Call { step, .. }] if step == "After"), "{:?}", step.effects);
    let results: Vec<Value> = run.document()["loop"]["loopOutput"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["output"]["call"]["n"].clone())
        .collect();
    assert_eq!(results, [json!(0), json!(1), json!(2), json!(3)]);
    let looped = step.history.iter().find(|h| h.step == "Loop").unwrap();
    assert_eq!(looped.outcome, Outcome::Looped { items: 4, failed: 0 });
    // A repeated answer is refused, not applied twice.
    assert!(matches!(
        run.apply(program, Event::Completed { id: ids[1].clone(), output: json!({}) }, t0(), &options),
        Err(Error::UnknownEffect(_))
    ));
}

#[test]
fn loop_bodies_see_item_context_and_trigger() {
    let workflow = loop_workflow(1);
    let mocks = Mocks::from_value(&json!({"steps": {"Call": [{"output": 1}, {"output": 2}], "After": {"output": {}}}}))
        .unwrap();
    let report =
        dryrun::run(workflow.program(), items(2), &mocks, t0(), &Options { trace: true, ..Options::default() });
    assert_eq!(report.status, Status::Succeeded);
    let scopes: Vec<String> = report.history.iter().map(|h| format!("{}|{}", h.scope, h.step)).collect();
    assert_eq!(scopes, ["Loop[0]|Call", "Loop[0]|Done", "Loop[1]|Call", "Loop[1]|Done", "|Loop", "|After", "|End"]);
    assert_eq!(report.history[2].input.as_ref().unwrap()["url"], "https://item/1");
    assert_eq!(report.document["loop"]["loopOutput"][1]["output"]["call"], 2);
}

#[test]
fn an_error_in_an_iteration_fails_the_loop_and_catch_routes_it() {
    let mut steps = loop_workflow(1).document()["definition"]["steps"].clone();
    steps["Loop"]["catch"] = json!([{"next": "Handle"}]);
    steps["Handle"] = json!({"type": "failure", "failureName": "Some calls failed"});
    let workflow = load(steps, "Loop");
    let mocks =
        Mocks::from_value(&json!({"steps": {"Call": [{"output": 1}, {"error": "HTTP 503"}, {"output": 3}]}})).unwrap();
    let report = dryrun::run(workflow.program(), items(3), &mocks, t0(), &Options::default());
    assert_eq!(
        report.status,
        Status::Failed { step: "Handle".into(), failure_name: Some("Some calls failed".into()), error: None }
    );
    let looped = report.history.iter().find(|h| h.step == "Loop").unwrap();
    assert_eq!(
        looped.outcome,
        Outcome::Failed {
            error: "1 of 3 iterations failed; the first: item 1, step `Call`: HTTP 503".into(),
            caught_by: Some("Handle".into())
        }
    );
    assert_eq!(report.document["loop"]["loopOutput"][2]["status"], "success", "the other items still ran");
}

#[test]
fn uncaught_failures_end_the_run_with_the_error_and_catch_stores_it() {
    let steps = json!({
        "Call": {"type": "action", "actionId": "sp:http", "attributes": {"url": "https://x", "method": "get"}, "nextStep": "Done", "catch": [{"next": "Recover"}]},
        "Recover": {"type": "action", "actionId": "sp:send-email", "attributes": {"recipientEmailList": ["ops@example.com"], "subject": "{{$.call.error}}"}, "nextStep": "Done"},
        "Done": {"type": "success"}
    });
    let workflow = load(steps, "Call");
    let mocks = Mocks::from_value(
        &json!({"steps": {"Call": {"error": "connection refused"}, "Recover": {"error": "SMTP down"}}}),
    )
    .unwrap();
    let report =
        dryrun::run(workflow.program(), json!({}), &mocks, t0(), &Options { trace: true, ..Options::default() });
    assert_eq!(report.history[1].input.as_ref().unwrap()["subject"], "connection refused");
    assert_eq!(
        report.status,
        Status::Failed { step: "Recover".into(), failure_name: None, error: Some("SMTP down".into()) }
    );
}

#[test]
fn endless_loops_are_terminated_by_the_max_transitions_guard() {
    let steps = json!({
        "Count": {"type": "Mutation", "attributes": {"variables": [{"name": "n", "variableA": "again"}]}, "nextStep": "Again?"},
        "Again?": {"type": "choice", "choiceList": [{"comparator": "StringEquals", "variableA.$": "$.count.n", "variableB": "again", "nextStep": "Count"}], "defaultStep": "Done"},
        "Done": {"type": "success"}
    });
    let workflow = load(steps, "Count");
    let options = Options { limits: Limits { max_transitions: 50, ..Limits::default() }, trace: false };
    let report = dryrun::run(workflow.program(), json!({}), &Mocks::default(), t0(), &options);
    assert_eq!(report.transitions, 51);
    let Status::Terminated { reason } = report.status else { panic!("{:?}", report.status) };
    assert!(reason.contains("terminated after 50 steps (the max-transitions limit)"), "{reason}");
}

#[test]
fn waits_park_the_run_until_their_timer_fires() {
    let steps = json!({
        "Wait": {"type": "action", "actionId": "sp:sleep", "attributes": {"type": "waitFor", "duration": "7d"}, "nextStep": "Until"},
        "Until": {"type": "action", "actionId": "sp:sleep", "attributes": {"type": "waitUntil", "date.$": "$.trigger.removeDate", "time": "1969-12-31T05:00:00.000Z"}, "nextStep": "Done"},
        "Done": {"type": "success"}
    });
    let workflow = load(steps, "Wait");
    let program = workflow.program();
    let options = Options::default();
    let mut run = Run::new();
    let step = run.apply(program, Event::Start { input: json!({"removeDate": "2024-02-01"}) }, t0(), &options).unwrap();
    let [Effect::Wait { until, id, .. }] = &step.effects[..] else { panic!("{:?}", step.effects) };
    assert_eq!(*until, t0() + Duration::days(7));
    assert_eq!(run.status, Status::Running);
    let step = run.apply(program, Event::TimerFired { id: id.clone() }, *until, &options).unwrap();
    assert_eq!(step.history[0].outcome, Outcome::Waited { seconds: 7 * 86_400 });
    let [Effect::Wait { until, .. }] = &step.effects[..] else { panic!("{:?}", step.effects) };
    assert_eq!(until.to_datetime().to_rfc3339(), "2024-02-01T05:00:00+00:00");
    let report = dryrun::run(program, json!({"removeDate": "2024-02-01"}), &Mocks::default(), t0(), &options);
    assert_eq!(report.status, Status::Succeeded);
    assert_eq!(report.waited_seconds, (31 * 86_400) + 5 * 3_600);
}

#[test]
fn people_answer_forms_and_runs_can_be_cancelled() {
    let steps = json!({
        "Form": {"type": "action", "actionId": "sp:forms", "attributes": {"formDefinitionId": "f1", "recipient.$": "$.trigger.managerId"}, "nextStep": "Check"},
        "Check": {"type": "choice", "choiceList": [{"comparator": "IsPresent", "variableA.$": "$.form.formData.numberOfDays", "nextStep": "Done"}], "defaultStep": "Done"},
        "Done": {"type": "success"}
    });
    let workflow = load(steps, "Form");
    let program = workflow.program();
    let options = Options::default();
    let mut run = Run::new();
    let step = run.apply(program, Event::Start { input: json!({"managerId": "m1"}) }, t0(), &options).unwrap();
    let [Effect::Ask { id, input, action, .. }] = &step.effects[..] else { panic!("{:?}", step.effects) };
    assert_eq!((*action, &input["recipient"]), ("sp:forms", &json!("m1")));
    let mut cancelled = run.clone();
    run.apply(
        program,
        Event::Submitted { id: id.clone(), data: json!({"formData": {"numberOfDays": "5"}}) },
        t0(),
        &options,
    )
    .unwrap();
    assert_eq!(run.status, Status::Succeeded);
    cancelled.apply(program, Event::Cancel { reason: "requested by admin".into() }, t0(), &options).unwrap();
    assert_eq!(cancelled.status, Status::Cancelled { reason: "requested by admin".into() });
    assert!(matches!(
        cancelled.apply(program, Event::Submitted { id: id.clone(), data: json!({}) }, t0(), &options),
        Err(Error::Ended(_))
    ));
}

#[test]
fn update_variable_changes_the_defined_value() {
    let steps = json!({
        "Define": {"type": "Mutation", "attributes": {"id": "sp:define-variable", "variables": [{"name": "Label", "variableA": "base"}]}, "nextStep": "Update"},
        "Update": {"type": "Mutation", "attributes": {"id": "sp:update-variable", "variables": [{"name": "label", "variableA.$": "$.define.label", "transforms": [{"id": "sp:transform:concatenate:string", "input": {"variableB": "-more"}}]}]}, "nextStep": "Done"},
        "Done": {"type": "success"}
    });
    let report = dryrun::run(load(steps, "Define").program(), json!({}), &Mocks::default(), t0(), &Options::default());
    assert_eq!(report.status, Status::Succeeded);
    assert_eq!(report.document["define"]["label"], "base-more");
}

#[test]
fn trace_records_inputs_and_outputs_but_never_secrets() {
    let steps = json!({
        "Call": {"type": "action", "actionId": "sp:http", "nextStep": "Done", "attributes": {
            "url": "https://api", "method": "post", "authenticationType": "OAuth", "oAuthClientId": "client",
            "oAuthClientSecret": "s3cr3t", "oAuthTokenUrl": "https://token", "requestHeaders": {"Authorization": "Bearer abc"}}},
        "Done": {"type": "success"}
    });
    let workflow = load(steps, "Call");
    let mocks = Mocks::from_value(
        &json!({"steps": {"Call": {"output": {"statusCode": 200, "body": {"access_token": "tok"}}}}}),
    )
    .unwrap();
    let report =
        dryrun::run(workflow.program(), json!({}), &mocks, t0(), &Options { trace: true, ..Options::default() });
    let history = serde_json::to_string(&report.history).unwrap();
    assert!(
        !history.contains("s3cr3t") && !history.contains("Bearer abc") && !history.contains("\"tok\""),
        "{history}"
    );
    assert!(history.contains("https://token") && history.contains("\"client\""), "{history}");
    let quiet = dryrun::run(workflow.program(), json!({}), &mocks, t0(), &Options::default());
    assert!(quiet.history.iter().all(|h| h.input.is_none() && h.output.is_none()), "trace is off by default");
}

/// `max_transitions` bounds the steps of one body — the top level, or one loop iteration — so that a
/// loop of many items stays within `max_loop_items` alone; a workflow may lower either limit for itself.
#[test]
fn the_step_limit_is_per_body_so_long_loops_finish_and_a_workflow_may_lower_it() {
    let doc = json!({"name": "Long loop", "definition": {"start": "Loop", "steps": {
        "Loop": {"type": "action", "actionId": "sp:loop:iterator", "nextStep": "Done", "attributes": {
            "input.$": "$.trigger.items", "start": "A", "steps": {
                "A": {"type": "Mutation", "attributes": {"id": "sp:define-variable",
                      "variables": [{"name": "x", "variableA.$": "$.loop.loopInput"}]}, "nextStep": "B"},
                "B": {"type": "success"}}}},
        "Done": {"type": "success"}}}});
    let items: Vec<u64> = (0..6000).collect();
    let workflow = Workflow::from_document(doc.clone()).unwrap();
    let options = Options { limits: Limits { max_transitions: 10, ..Limits::default() }, trace: false };
    let mut run = Run::new();
    run.apply(workflow.program(), Event::Start { input: json!({"items": items}) }, t0(), &options).unwrap();
    assert_eq!(run.status, Status::Succeeded, "6000 items of two steps each, with ten steps a body");
    assert!(run.transitions > 12_000);

    // The workflow's own limits lower the server's, never raise them.
    let mut strict = doc.clone();
    strict["limits"] = json!({"maxLoopItems": 100});
    let workflow = Workflow::from_document(strict).unwrap();
    let limits = options.limits.lowered_by(workflow.program().limits);
    assert_eq!(limits.max_loop_items, 100);
    let mut run = Run::new();
    let lowered = Options { limits, trace: false };
    run.apply(workflow.program(), Event::Start { input: json!({"items": items}) }, t0(), &lowered).unwrap();
    assert!(
        matches!(&run.status, Status::Failed { error: Some(e), .. } | Status::Terminated { reason: e } if e.contains("100")),
        "{:?}",
        run.status
    );
    let mut loose = doc;
    loose["limits"] = json!({"maxTransitions": 1_000_000, "maxWait": "3650d"});
    let workflow = Workflow::from_document(loose).unwrap();
    assert_eq!(options.limits.lowered_by(workflow.program().limits), options.limits, "never raised");
    let bad = json!({"name": "x", "limits": {"maxTransitions": -1, "speed": 3}, "definition": {"start": "D", "steps": {"D": {"type": "success"}}}});
    let errors = Workflow::from_document(bad).unwrap_err();
    let pointers: Vec<&str> = errors.iter().map(|d| d.pointer.as_str()).collect();
    assert_eq!(pointers, ["/limits/maxTransitions", "/limits/speed"]);
}
