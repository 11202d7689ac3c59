//! What one attempt at a plan comes to, as a pure function: from the attempt's outcome, how many
//! attempts came before, the retry policy and the time, to the plan's next state — tried again after
//! a growing delay while a failure may pass and attempts are left, else finished with its result.
//! No database and no clock; the shell in `provisioning` writes the verdict.

use serde_json::{Value, json};
use tessera_connectors::{ConnectorError, Outcome};
use tessera_model::{PlanStatus, RetryPolicy, Timestamp};

/// How an attempt ended, as the verdict needs it.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Ended<'a> {
    /// The connector answered; `attribute_requests` are what was sent (never a password).
    Answered { outcome: &'a Outcome, attribute_requests: Value },
    /// The connector failed.
    Failed(&'a ConnectorError),
    /// The plan could not be turned into a request.
    Refused(&'a str),
}

/// The plan's next state.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Verdict {
    /// Tried again at `run_at`, as attempt number `attempts` + 1.
    Retry { attempts: i64, run_at: Timestamp, result: Value },
    /// Finished with `status`.
    Finish { status: PlanStatus, result: Value },
}

/// The verdict on an attempt at a plan that had made `attempts_before` attempts.
pub(super) fn judge(attempts_before: i64, ended: &Ended<'_>, policy: &RetryPolicy, now: Timestamp) -> Verdict {
    match ended {
        Ended::Refused(reason) => Verdict::Finish {
            status: PlanStatus::Failed,
            result: json!({"provisioningResult": "FAILED", "errors": [reason]}),
        },
        Ended::Failed(error) => {
            let attempts = attempts_before + 1;
            let message = format!("{} (attempt {attempts} of {})", error.message, policy.max_attempts);
            let wait = policy.delay_after(u32::try_from(attempts - 1).unwrap_or(u32::MAX));
            match wait.filter(|_| error.retryable) {
                Some(wait) => Verdict::Retry {
                    attempts,
                    run_at: now + wait,
                    result: json!({"provisioningResult": "RETRY", "errors": [message]}),
                },
                None => Verdict::Finish {
                    status: PlanStatus::Failed,
                    result: json!({"provisioningResult": "FAILED", "errors": [message]}),
                },
            }
        }
        Ended::Answered { outcome: Outcome::Pending { ticket_id }, attribute_requests } => Verdict::Finish {
            status: PlanStatus::Pending,
            result: json!({"provisioningResult": "PENDING", "ticketId": ticket_id,
                           "attributeRequests": attribute_requests}),
        },
        Ended::Answered { outcome: Outcome::Success { native_identity, .. }, attribute_requests } => Verdict::Finish {
            status: PlanStatus::Success,
            result: json!({"provisioningResult": "SUCCESS", "accountId": native_identity,
                           "attributeRequests": attribute_requests}),
        },
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const NOW: Timestamp = Timestamp::from_millis(1_000_000);

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 3,
            interval: Duration::from_secs(10),
            backoff_rate: 2.0,
            max_interval: Duration::from_secs(15),
        }
    }

    #[test]
    fn a_failure_that_may_pass_is_tried_again_later_each_time_until_attempts_run_out() {
        let error = ConnectorError::retryable("connection refused");
        let first = judge(0, &Ended::Failed(&error), &policy(), NOW);
        let retry = |attempts, after_ms: i64, n| Verdict::Retry {
            attempts,
            run_at: Timestamp::from_millis(NOW.millis() + after_ms),
            result: json!({"provisioningResult": "RETRY", "errors": [format!("connection refused (attempt {n} of 3)")]}),
        };
        assert_eq!(first, retry(1, 10_000, 1));
        // The delay grows, to at most the longest interval.
        assert_eq!(judge(1, &Ended::Failed(&error), &policy(), NOW), retry(2, 15_000, 2));
        assert_eq!(
            judge(2, &Ended::Failed(&error), &policy(), NOW),
            Verdict::Finish {
                status: PlanStatus::Failed,
                result: json!({"provisioningResult": "FAILED", "errors": ["connection refused (attempt 3 of 3)"]}),
            }
        );
    }

    #[test]
    fn a_permanent_failure_or_a_refusal_fails_at_once() {
        let error = ConnectorError::permanent("no such attribute");
        let Verdict::Finish { status, result } = judge(0, &Ended::Failed(&error), &policy(), NOW) else {
            panic!("not finished")
        };
        assert_eq!((status, &result["errors"][0]), (PlanStatus::Failed, &json!("no such attribute (attempt 1 of 3)")));
        let refused = judge(0, &Ended::Refused("the source cannot disable accounts"), &policy(), NOW);
        assert_eq!(
            refused,
            Verdict::Finish {
                status: PlanStatus::Failed,
                result: json!({"provisioningResult": "FAILED", "errors": ["the source cannot disable accounts"]}),
            }
        );
    }

    #[test]
    fn an_answer_finishes_the_plan_with_what_was_sent() {
        let sent = json!([{"name": "mail", "operation": "Set", "value": "ada@example.com"}]);
        let done = Outcome::Success { native_identity: "ada".into(), account: None };
        let answered = Ended::Answered { outcome: &done, attribute_requests: sent.clone() };
        assert_eq!(
            judge(0, &answered, &policy(), NOW),
            Verdict::Finish {
                status: PlanStatus::Success,
                result: json!({"provisioningResult": "SUCCESS", "accountId": "ada", "attributeRequests": sent}),
            }
        );
        let ticket = Outcome::Pending { ticket_id: "T-1".into() };
        let answered = Ended::Answered { outcome: &ticket, attribute_requests: json!([]) };
        let Verdict::Finish { status, result } = judge(0, &answered, &policy(), NOW) else { panic!("not finished") };
        assert_eq!((status, result["ticketId"].as_str()), (PlanStatus::Pending, Some("T-1")));
    }
}
