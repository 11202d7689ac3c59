//! The actions the engine performs for real, and how their failures are classified for retries.

pub mod email;
pub mod http;

/// Why an action failed, and whether trying again may help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ActionError {
    /// A timeout, a refused connection, HTTP 429 or 5xx, SMTP 4xx: a retry may succeed.
    pub retryable: bool,
    pub message: String,
}

impl ActionError {
    /// A failure that a retry may cure.
    pub fn retryable(message: impl Into<String>) -> Self {
        Self { retryable: true, message: message.into() }
    }

    /// A failure that will recur: bad input, HTTP 4xx, SMTP 5xx, a refused address.
    pub fn permanent(message: impl Into<String>) -> Self {
        Self { retryable: false, message: message.into() }
    }
}

/// An error and its causes on one line, each cause once.
pub fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in std::iter::successors(Some(error), |error| error.source()) {
        let text = cause.to_string();
        if !parts.iter().any(|part| part.contains(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ")
}

pub use tessera_flow::expr::type_name;
