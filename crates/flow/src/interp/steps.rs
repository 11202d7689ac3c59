//! How each kind of step runs, how results come back to the waiting thread, and how loops fan out
//! and gather their iterations.

use chrono::{DateTime, NaiveDate, NaiveTime};
use serde_json::{Map, Value, json};
use tessera_model::Timestamp;

use super::state::{Cursor, End, Looping, Run, Status, Thread};
use super::{Effect, EffectId, Error, Event, HistoryEntry, Options, Outcome, Step as Applied, redact};
use crate::catalog::Behaviour;
use crate::program::{Body, Program, Step, StepKind};

/// Per-event working state.
struct Ctx<'a> {
    now: Timestamp,
    options: &'a Options,
    transitions: u64,
    halted: Option<String>,
    path: Vec<u32>,
    scope: Vec<String>,
    out: Applied,
}

pub(super) fn apply(
    run: &mut Run,
    program: &Program,
    event: Event,
    now: Timestamp,
    options: &Options,
) -> Result<Applied, Error> {
    let mut ctx = Ctx {
        now,
        options,
        transitions: run.transitions,
        halted: None,
        path: Vec::new(),
        scope: Vec::new(),
        out: Applied::default(),
    };
    match event {
        Event::Start { input } => {
            if run.status != Status::Pending {
                return Err(Error::AlreadyStarted);
            }
            run.main = Thread {
                doc: object([("trigger", input)]),
                cursor: Cursor::Step { step: program.body.start },
                steps: 0,
            };
            run.status = Status::Running;
        }
        Event::Cancel { reason } => {
            if run.status.is_final() {
                return Err(Error::Ended(run.status.label().to_owned()));
            }
            run.status = Status::Cancelled { reason };
            return Ok(ctx.out);
        }
        Event::Completed { id, output } => deliver(run, program, id, Ok(Some(output)), &mut ctx)?,
        Event::Submitted { id, data } => deliver(run, program, id, Ok(Some(data)), &mut ctx)?,
        Event::TimerFired { id } => deliver(run, program, id, Ok(None), &mut ctx)?,
        Event::Failed { id, error } => deliver(run, program, id, Err(error), &mut ctx)?,
    }
    run_thread(&mut run.main, &program.body, &mut ctx);
    run.transitions = ctx.transitions;
    run.status = match (ctx.halted.take(), &run.main.cursor) {
        (Some(reason), _) => Status::Terminated { reason },
        (None, Cursor::Ended(End::Success)) => Status::Succeeded,
        (None, Cursor::Ended(End::Failure { step, failure_name })) => {
            Status::Failed { step: step.clone(), failure_name: failure_name.clone(), error: None }
        }
        (None, Cursor::Ended(End::Error { step, error })) => {
            Status::Failed { step: step.clone(), failure_name: None, error: Some(error.clone()) }
        }
        (None, _) => Status::Running,
    };
    Ok(ctx.out)
}

/// Hands an effect's result to the thread waiting for it.
fn deliver(
    run: &mut Run,
    program: &Program,
    id: EffectId,
    result: Result<Option<Value>, String>,
    ctx: &mut Ctx<'_>,
) -> Result<(), Error> {
    if run.status.is_final() {
        return Err(Error::Ended(run.status.label().to_owned()));
    }
    let mut thread = &mut run.main;
    let mut body = &program.body;
    for &index in &id.path {
        let Cursor::Looping(looping) = &mut thread.cursor else {
            return Err(Error::UnknownEffect(id));
        };
        let step = &body.steps[looping.step];
        let StepKind::Loop { body: inner, .. } = &step.kind else {
            return Err(Error::UnknownEffect(id));
        };
        ctx.scope.push(format!("{}[{index}]", step.name));
        body = inner;
        thread = looping.running.get_mut(&index).ok_or_else(|| Error::UnknownEffect(id.clone()))?;
    }
    let Cursor::Waiting { step, started, input } = &mut thread.cursor else {
        return Err(Error::UnknownEffect(id));
    };
    if *step != id.step {
        return Err(Error::UnknownEffect(id));
    }
    let (index, started, input) = (*step, *started, input.take());
    let step = &body.steps[index];
    let StepKind::Action { action, next, catch, .. } = &step.kind else {
        return Err(Error::UnknownEffect(id));
    };
    match result {
        Ok(output) => {
            let outcome = match (action.behaviour, &output) {
                (Behaviour::Sleep, _) => {
                    Outcome::Waited { seconds: (ctx.now.saturating_millis_since(started) / 1000).max(0) as u64 }
                }
                _ => Outcome::Completed,
            };
            // A service may echo a credential it was sent: the call's own inputs are secret sources too.
            let traced = output.as_ref().filter(|_| ctx.options.trace).map(|o| {
                let inputs = match &step.kind {
                    StepKind::Action { inputs, .. } => {
                        inputs.eval(&thread.doc, ctx.now).map(Value::Object).unwrap_or(Value::Null)
                    }
                    _ => Value::Null,
                };
                super::redact_with(o, &[&thread.doc, &inputs])
            });
            if let Some(output) = output {
                set_output(&mut thread.doc, &step.key, output);
            }
            record(ctx, step, action.id, started, outcome, input, traced);
            thread.cursor = Cursor::Step { step: *next };
        }
        Err(error) => fail_step(thread, body, index, error, started, input, *catch, ctx),
    }
    ctx.scope.clear();
    Ok(())
}

/// Runs a thread until it waits, ends, or the run is halted.
fn run_thread(thread: &mut Thread, body: &Body, ctx: &mut Ctx<'_>) {
    loop {
        if ctx.halted.is_some() {
            return;
        }
        match &thread.cursor {
            Cursor::Waiting { .. } | Cursor::Ended(_) => return,
            Cursor::Looping(_) => {
                if !advance_loop(thread, body, ctx) {
                    return;
                }
            }
            Cursor::Step { step } => {
                let index = *step;
                ctx.transitions += 1;
                thread.steps += 1;
                let max = ctx.options.limits.max_transitions;
                if thread.steps > max {
                    ctx.halted = Some(format!(
                        "terminated after {max} steps (the max-transitions limit) at step `{}`: the workflow seems to loop forever",
                        body.steps[index].name
                    ));
                    return;
                }
                exec_step(thread, body, index, ctx);
            }
        }
    }
}

fn exec_step(thread: &mut Thread, body: &Body, index: usize, ctx: &mut Ctx<'_>) {
    let step = &body.steps[index];
    let now = ctx.now;
    match &step.kind {
        StepKind::Action { action, inputs, catch, retry, .. } => {
            let input = match inputs.eval(&thread.doc, now) {
                Ok(input) => input,
                Err(error) => {
                    return fail_step(thread, body, index, error.to_string(), now, None, *catch, ctx);
                }
            };
            let traced = ctx.options.trace.then(|| redact(&Value::Object(input.clone()), &thread.doc));
            let id = EffectId { path: ctx.path.clone(), step: index };
            let (name, scope) = (step.name.to_string(), ctx.scope.join(" › "));
            let effect = match action.behaviour {
                Behaviour::Sleep => match wait_until(&input, now, ctx.options) {
                    Ok(until) => Effect::Wait { id, step: name, scope, until },
                    Err(error) => {
                        return fail_step(thread, body, index, error, now, traced, *catch, ctx);
                    }
                },
                Behaviour::Person => Effect::Ask { id, step: name, scope, action: action.id, input },
                _ => Effect::Call { id, step: name, scope, action: action.id, input, retry: *retry },
            };
            ctx.out.effects.push(effect);
            thread.cursor = Cursor::Waiting { step: index, started: now, input: traced };
        }
        StepKind::Loop { input, context, parallelism, catch, .. } => {
            let items = match input.eval(&thread.doc, now) {
                Ok(Value::Array(items)) => items,
                Ok(Value::Null) => Vec::new(),
                Ok(other) => {
                    let error = format!("the loop input is not a list (it is {})", crate::expr::type_name(&other));
                    return fail_step(thread, body, index, error, now, None, *catch, ctx);
                }
                Err(error) => {
                    return fail_step(thread, body, index, error.to_string(), now, None, *catch, ctx);
                }
            };
            let max = ctx.options.limits.max_loop_items;
            if items.len() > max {
                let error = format!("the loop input has {} items; the limit is {max} (max_loop_items)", items.len());
                return fail_step(thread, body, index, error, now, None, *catch, ctx);
            }
            let context = match context.as_ref().map(|c| c.eval(&thread.doc, now)).transpose() {
                Ok(context) => context.unwrap_or(Value::Null),
                Err(error) => {
                    return fail_step(thread, body, index, error.to_string(), now, None, *catch, ctx);
                }
            };
            let count = items.len();
            // Each iteration sees the trigger; copy it once per loop, then once per item.
            let trigger = thread.doc.get("trigger").cloned().unwrap_or(Value::Null);
            thread.cursor = Cursor::Looping(Box::new(Looping {
                step: index,
                started: now,
                trigger,
                items,
                context,
                parallelism: parallelism.unwrap_or(ctx.options.limits.loop_parallelism).max(1),
                next_item: 0,
                running: Default::default(),
                results: vec![None; count],
                failed: 0,
                first_error: None,
            }));
        }
        StepKind::Choice { choices, default } => {
            let mut trace = Vec::new();
            let mut target = None;
            for choice in choices {
                let a = choice.a.eval(&thread.doc, now);
                let b = choice.b.as_ref().map(|b| b.eval(&thread.doc, now)).transpose();
                let (a, b) = match (a, b) {
                    (Ok(a), Ok(b)) => (a, b),
                    (Err(error), _) | (_, Err(error)) => {
                        return fail_step(thread, body, index, error.to_string(), now, None, None, ctx);
                    }
                };
                let matched = match choice.comparator.compare_with(&a, b.as_ref(), choice.pattern.as_ref()) {
                    Ok(matched) => matched,
                    Err(error) => {
                        return fail_step(thread, body, index, error.to_string(), now, None, None, ctx);
                    }
                };
                if ctx.options.trace {
                    trace.push(json!({ "comparator": choice.comparator.name(), "variableA": a, "variableB": b, "matched": matched }));
                }
                if matched {
                    target = Some(choice.next);
                    break;
                }
            }
            let Some(target) = target.or(*default) else {
                return fail_step(
                    thread,
                    body,
                    index,
                    "no choice matched and there is no defaultStep".into(),
                    now,
                    None,
                    None,
                    ctx,
                );
            };
            let input = ctx.options.trace.then(|| redact(&Value::Array(trace), &thread.doc));
            let outcome = Outcome::Chose { next: body.steps[target].name.to_string() };
            record(ctx, step, "choice", now, outcome, input, None);
            thread.cursor = Cursor::Step { step: target };
        }
        StepKind::Variables { update, variables, next } => {
            let mut values = Map::with_capacity(variables.len());
            for variable in variables {
                let mut value = match variable.value.eval(&thread.doc, now) {
                    Ok(value) => value,
                    Err(error) => {
                        return fail_step(thread, body, index, error.to_string(), now, None, None, ctx);
                    }
                };
                for transform in &variable.transforms {
                    value = match transform.apply(value, &thread.doc, now) {
                        Ok(value) => value,
                        Err(error) => {
                            let error = format!("variable `{}`: {error}", variable.name);
                            return fail_step(thread, body, index, error, now, None, None, ctx);
                        }
                    };
                }
                values.insert(variable.key.clone(), value);
            }
            if *update && let Err(error) = update_defined(&mut thread.doc, body, &values) {
                return fail_step(thread, body, index, error, now, None, None, ctx);
            }
            let output = Value::Object(values);
            let traced = ctx.options.trace.then(|| redact(&output, &thread.doc));
            set_output(&mut thread.doc, &step.key, output);
            let label = if *update { "sp:update-variable" } else { "sp:define-variable" };
            record(ctx, step, label, now, Outcome::Completed, None, traced);
            thread.cursor = Cursor::Step { step: *next };
        }
        StepKind::Success => {
            record(ctx, step, "success", now, Outcome::Succeeded, None, None);
            thread.cursor = Cursor::Ended(End::Success);
        }
        StepKind::Failure { name } => {
            record(ctx, step, "failure", now, Outcome::EndedInFailure { failure_name: name.clone() }, None, None);
            thread.cursor = Cursor::Ended(End::Failure { step: step.name.to_string(), failure_name: name.clone() });
        }
    }
}

/// Runs what can run in a loop; returns whether the loop finished (so the thread moves on).
fn advance_loop(thread: &mut Thread, body: &Body, ctx: &mut Ctx<'_>) -> bool {
    let Cursor::Looping(looping) = &mut thread.cursor else {
        return false;
    };
    let step = &body.steps[looping.step];
    let StepKind::Loop { body: inner, .. } = &step.kind else {
        return false;
    };
    let running: Vec<u32> = looping.running.keys().copied().collect();
    for index in running {
        if let Some(child) = looping.running.get_mut(&index) {
            run_child(child, inner, step, index, ctx);
            if matches!(child.cursor, Cursor::Ended(_))
                && let Some(child) = looping.running.remove(&index)
            {
                gather(looping, index, child);
            }
        }
    }
    while looping.running.len() < looping.parallelism && looping.next_item < looping.items.len() && ctx.halted.is_none()
    {
        let index = looping.next_item;
        looping.next_item += 1;
        let item = std::mem::take(&mut looping.items[index]);
        let scope = object([("loopInput", item), ("context", looping.context.clone())]);
        let doc = object([("trigger", looping.trigger.clone()), ("loop", scope)]);
        let mut child = Thread { doc, cursor: Cursor::Step { step: inner.start }, steps: 0 };
        let key = index as u32;
        run_child(&mut child, inner, step, key, ctx);
        if matches!(child.cursor, Cursor::Ended(_)) {
            gather(looping, key, child);
        } else {
            looping.running.insert(key, child);
        }
    }
    if looping.next_item < looping.items.len() || !looping.running.is_empty() || ctx.halted.is_some() {
        return false;
    }
    let Cursor::Looping(looping) = std::mem::replace(&mut thread.cursor, Cursor::Step { step: 0 }) else {
        return false;
    };
    let StepKind::Loop { next, catch, .. } = &step.kind else {
        return false;
    };
    let items = looping.results.len();
    let results = looping.results.into_iter().map(|r| r.unwrap_or(Value::Null)).collect();
    let output = object([("loopOutput", Value::Array(results))]);
    let traced = ctx.options.trace.then(|| redact(&output, &thread.doc));
    set_output(&mut thread.doc, &step.key, output);
    match looping.first_error {
        Some(error) => {
            let error = format!("{} of {items} iterations failed; the first: {error}", looping.failed);
            fail_step(thread, body, looping.step, error, looping.started, None, *catch, ctx);
        }
        None => {
            record(
                ctx,
                step,
                "sp:loop:iterator",
                looping.started,
                Outcome::Looped { items, failed: looping.failed },
                None,
                traced,
            );
            thread.cursor = Cursor::Step { step: *next };
        }
    }
    true
}

fn run_child(child: &mut Thread, inner: &Body, step: &Step, index: u32, ctx: &mut Ctx<'_>) {
    ctx.path.push(index);
    ctx.scope.push(format!("{}[{index}]", step.name));
    run_thread(child, inner, ctx);
    ctx.path.pop();
    ctx.scope.pop();
}

/// Records an ended iteration's result: its status and the outputs of its steps.
fn gather(looping: &mut Looping, index: u32, child: Thread) {
    let Cursor::Ended(end) = child.cursor else {
        return;
    };
    let mut output = match child.doc {
        Value::Object(members) => members,
        _ => Map::new(),
    };
    output.remove("trigger");
    output.remove("loop");
    let mut result =
        object([("index", Value::from(index)), ("status", "success".into()), ("output", Value::Object(output))]);
    match end {
        End::Success => {}
        End::Failure { failure_name, .. } => {
            looping.failed += 1;
            result["status"] = "failure".into();
            result["failureName"] = failure_name.map_or(Value::Null, Value::String);
        }
        End::Error { step, error } => {
            looping.failed += 1;
            result["status"] = "error".into();
            result["error"] = Value::String(error.clone());
            looping.first_error.get_or_insert(format!("item {index}, step `{step}`: {error}"));
        }
    }
    looping.results[index as usize] = Some(result);
}

/// A step failed: `catch` routes it, or the thread ends with the error.
#[allow(clippy::too_many_arguments)] // the failing step's whole context; a struct would only rename these
fn fail_step(
    thread: &mut Thread,
    body: &Body,
    index: usize,
    error: String,
    started: Timestamp,
    input: Option<Value>,
    catch: Option<usize>,
    ctx: &mut Ctx<'_>,
) {
    let step = &body.steps[index];
    let action = match &step.kind {
        StepKind::Action { action, .. } => action.id,
        StepKind::Loop { .. } => "sp:loop:iterator",
        StepKind::Choice { .. } => "choice",
        StepKind::Variables { update: true, .. } => "sp:update-variable",
        StepKind::Variables { .. } => "sp:define-variable",
        StepKind::Success => "success",
        StepKind::Failure { .. } => "failure",
    };
    let caught_by = catch.map(|c| body.steps[c].name.to_string());
    record(ctx, step, action, started, Outcome::Failed { error: error.clone(), caught_by }, input, None);
    match catch {
        Some(target) => {
            // A loop keeps its results beside the error, so the handler can see which items failed.
            match (&step.kind, thread.doc.get_mut(&step.key)) {
                (StepKind::Loop { .. }, Some(Value::Object(output))) => {
                    output.insert("error".into(), Value::String(error));
                }
                _ => set_output(&mut thread.doc, &step.key, object([("error", Value::String(error))])),
            }
            thread.cursor = Cursor::Step { step: target };
        }
        None => thread.cursor = Cursor::Ended(End::Error { step: step.name.to_string(), error }),
    }
}

fn record(
    ctx: &mut Ctx<'_>,
    step: &Step,
    action: &str,
    started: Timestamp,
    outcome: Outcome,
    input: Option<Value>,
    output: Option<Value>,
) {
    ctx.out.history.push(HistoryEntry {
        scope: ctx.scope.join(" › "),
        step: step.name.to_string(),
        action: action.to_owned(),
        started,
        ended: ctx.now,
        outcome,
        input,
        output,
    });
}

fn set_output(doc: &mut Value, key: &str, output: Value) {
    if let Value::Object(members) = doc {
        members.insert(key.to_owned(), output);
    }
}

/// Update Variable: writes each value into the Define Variable step that defined it.
fn update_defined(doc: &mut Value, body: &Body, values: &Map<String, Value>) -> Result<(), String> {
    for (key, value) in values {
        let owner = body.steps.iter().find(|s| match &s.kind {
            StepKind::Variables { update: false, variables, .. } => {
                variables.iter().any(|v| &v.key == key) && doc.get(&s.key).is_some()
            }
            _ => false,
        });
        let Some(owner) = owner else {
            return Err(format!("no Define Variable step that has run defines `{key}`"));
        };
        match doc.get_mut(&owner.key) {
            Some(Value::Object(defined)) => {
                defined.insert(key.clone(), value.clone());
            }
            _ => {
                return Err(format!(
                    "the output of `{}`, which defines `{key}`, is not a set of variables",
                    owner.name
                ));
            }
        }
    }
    Ok(())
}

/// When an `sp:sleep` ends: `waitFor` a duration, or `waitUntil` a date (and time of day).
fn wait_until(input: &Map<String, Value>, now: Timestamp, options: &Options) -> Result<Timestamp, String> {
    let now = now.to_datetime();
    let text = |name: &str| input.get(name).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty());
    let until = if text("type").is_some_and(|t| t.eq_ignore_ascii_case("waitUntil")) {
        let date = text("date").ok_or("waitUntil needs a `date`, and it resolved to nothing")?;
        let instant = DateTime::parse_from_rfc3339(date).map(|t| t.to_utc()).ok();
        let day = match instant {
            Some(instant) => instant.date_naive(),
            None => NaiveDate::parse_from_str(date.get(..10).unwrap_or(date), "%Y-%m-%d")
                .map_err(|_| format!("waitUntil `date` `{date}` is not a date (YYYY-MM-DD or RFC 3339)"))?,
        };
        // ISC's Wait Until has a date and a time of day: the day comes from `date`, the time from
        // `time`; without `time`, a full timestamp in `date` is used as it is.
        match (text("time").map(|t| time_of_day(t).ok_or(t)), instant) {
            (Some(Ok(time)), _) => day.and_time(time).and_utc(),
            (Some(Err(time)), _) => {
                return Err(format!("waitUntil `time` `{time}` is not a time of day (HH:MM or RFC 3339)"));
            }
            (None, Some(instant)) => instant,
            (None, None) => day.and_time(NaiveTime::MIN).and_utc(),
        }
    } else {
        let duration = text("duration").ok_or("waitFor needs a `duration`, and it resolved to nothing")?;
        let duration: tessera_model::Duration =
            duration.parse().map_err(|e: tessera_model::ParseDurationError| e.to_string())?;
        now + duration.to_chrono()
    };
    let max = options.limits.max_wait_seconds;
    if (until - now).num_seconds() > max as i64 {
        return Err(format!(
            "the wait ends at {until}, beyond the longest allowed wait of {}",
            tessera_model::Duration::from_secs(max)
        ));
    }
    Ok(until.max(now).into())
}

/// The time of day in an ISC `time` attribute: an RFC 3339 timestamp's UTC time, or `HH:MM[:SS]`.
fn time_of_day(text: &str) -> Option<NaiveTime> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.to_utc().time())
        .ok()
        .or_else(|| NaiveTime::parse_from_str(text, "%H:%M:%S").ok())
        .or_else(|| NaiveTime::parse_from_str(text, "%H:%M").ok())
}

/// An object from its members, built directly (`json!` would serialize each value to copy it).
fn object<const N: usize>(members: [(&str, Value); N]) -> Value {
    Value::Object(members.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}
