//! Dispatch from an action id to the generic actions the runtime performs itself (`sp:http`,
//! `sp:send-email`, `sp:interactive-message`). A domain's actions go to its [`crate::Domain`]
//! first; any other action fails with a message saying so (it can be mocked in `tessera workflow
//! test`).

use serde_json::{Map, Value};

use crate::actions::ActionError;
use crate::actions::email::{EmailAction, SmtpConfig};
use crate::actions::http::{HttpAction, HttpConfig};

/// The actions this node can perform.
#[derive(Debug)]
pub struct Actions {
    http: HttpAction,
    email: EmailAction,
    /// Where the named secrets `{{secret:<name>}}` refers to are kept.
    store: tessera_store::Store,
}

impl Actions {
    /// Actions with the given HTTP and SMTP settings, opening sealed credentials with `store`'s
    /// keyring.
    pub fn new(http: HttpConfig, smtp: SmtpConfig, store: tessera_store::Store) -> Self {
        Self { http: HttpAction::new(http), email: EmailAction::new(smtp), store }
    }

    /// The `sp:send-email` action, for whoever else sends mail through the operator's SMTP server.
    pub fn email(&self) -> &EmailAction {
        &self.email
    }

    /// Performs `action` with its resolved `input`; `key` is the same for every repeat of one attempt.
    /// Credentials sealed in the input are opened for the action alone, and its answer (or error) is
    /// scrubbed of them, so they reach no execution data, history or trace.
    pub async fn perform(&self, action: &str, input: &Map<String, Value>, key: &str) -> Result<Value, ActionError> {
        if !input.values().any(crate::secrets::holds_sealed) {
            return self.dispatch(action, input, key).await;
        }
        let mut opened = input.clone();
        let secrets = crate::secrets::open_for_action(&self.store, &mut opened).await.map_err(|error| match error {
            crate::secrets::ReferenceError::Store(error) => {
                ActionError::retryable(format!("the store failed: {error}"))
            }
            other => ActionError::permanent(other.to_string()),
        })?;
        match self.dispatch(action, &opened, key).await {
            Ok(output) => Ok(crate::secrets::scrub(&output, &secrets)),
            Err(mut error) => {
                error.message = crate::secrets::scrub(&Value::String(error.message), &secrets)
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                Err(error)
            }
        }
    }

    async fn dispatch(&self, action: &str, input: &Map<String, Value>, key: &str) -> Result<Value, ActionError> {
        match action {
            "sp:http" => self.http.call(input, key).await,
            "sp:send-email" => self.email.send(input, key).await,
            "sp:interactive-message" => Ok(Value::Object(Map::new())),
            other => Err(ActionError::permanent(format!(
                "`{other}` has no runtime on this server yet; test the workflow with `tessera workflow test` and a mock for it"
            ))),
        }
    }
}
