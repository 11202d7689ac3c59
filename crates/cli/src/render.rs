//! The readable history a person sees after `tessera workflow test`.

use std::fmt::Write;

use serde_json::Value;
use tessera_flow::dryrun::Report;
use tessera_flow::interp::{Outcome, Status};
use tessera_model::Duration;

/// Renders a dry run: one line per finished step, then the end state.
pub(crate) fn report(name: &str, report: &Report, trace: bool) -> String {
    let mut out = String::new();
    let _ =
        writeln!(out, "Test run of \"{name}\" (simulated clock from {})", report.started.to_datetime().to_rfc3339());
    let _ = writeln!(out);
    let _ = writeln!(out, "  {:>3}  {:<44} {:<26} outcome", "#", "step", "action");
    for (i, entry) in report.history.iter().enumerate() {
        let step =
            if entry.scope.is_empty() { entry.step.clone() } else { format!("{} › {}", entry.scope, entry.step) };
        let _ = writeln!(out, "  {:>3}  {:<44} {:<26} {}", i + 1, step, entry.action, outcome(&entry.outcome));
        if trace {
            if let Some(input) = &entry.input {
                let _ = writeln!(out, "         input:  {}", compact(input));
            }
            if let Some(output) = &entry.output {
                let _ = writeln!(out, "         output: {}", compact(output));
            }
        }
    }
    let _ = writeln!(out);
    let steps = report.history.len();
    let waited = if report.waited_seconds > 0 {
        format!("; the waits would have taken {} (simulated)", Duration::from_secs(report.waited_seconds))
    } else {
        String::new()
    };
    let result = match &report.status {
        Status::Succeeded => format!("SUCCESS after {steps} steps{waited}"),
        Status::Failed { failure_name: Some(name), step, .. } => {
            format!("FAILURE at step \"{step}\" with failureName \"{name}\" after {steps} steps{waited}")
        }
        Status::Failed { error: Some(error), step, .. } if !step.is_empty() => {
            format!("FAILED at step \"{step}\": {error}")
        }
        Status::Failed { error: Some(error), .. } => format!("STOPPED: {error}"),
        Status::Failed { step, .. } => {
            format!("FAILURE at step \"{step}\" after {steps} steps{waited}")
        }
        Status::Terminated { reason } => format!("TERMINATED: {reason}"),
        Status::Cancelled { reason } => format!("CANCELLED: {reason}"),
        Status::Pending | Status::Running => {
            format!("STILL RUNNING after {steps} steps: nothing left to answer its waits")
        }
    };
    let _ = writeln!(out, "Result: {result}");
    out
}

fn outcome(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Completed => "completed".into(),
        Outcome::Waited { seconds } => format!("waited {}", Duration::from_secs(*seconds)),
        Outcome::Chose { next } => format!("→ {next}"),
        Outcome::Looped { items, failed: 0 } => {
            format!("looped over {items} item{}", if *items == 1 { "" } else { "s" })
        }
        Outcome::Looped { items, failed } => {
            format!("looped over {items} items, {failed} ended in failure")
        }
        Outcome::Failed { error, caught_by: Some(next) } => format!("failed: {error} (caught → {next})"),
        Outcome::Failed { error, caught_by: None } => format!("failed: {error}"),
        Outcome::Succeeded => "success".into(),
        Outcome::EndedInFailure { failure_name: Some(name) } => format!("failure: {name}"),
        Outcome::EndedInFailure { failure_name: None } => "failure".into(),
    }
}

fn compact(value: &Value) -> String {
    serde_json::to_string(value).unwrap_or_default()
}
