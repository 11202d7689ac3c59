//! Dispatch from an action id to the code that performs it. Actions whose runtime arrives with a later
//! part of Tessera fail with a message saying so (they can be mocked in `tessera workflow test`).

use serde_json::{Map, Value};

use crate::actions::ActionError;
use crate::actions::email::{EmailAction, SmtpConfig};
use crate::actions::http::{HttpAction, HttpConfig};
use crate::actions::identity::IdentityActions;

/// The actions this node can perform.
#[derive(Debug)]
pub struct Actions {
    http: HttpAction,
    pub(crate) email: EmailAction,
    identity: IdentityActions,
}

impl Actions {
    /// Actions with the given HTTP and SMTP settings, reading identities from `store`.
    pub fn new(http: HttpConfig, smtp: SmtpConfig, store: tessera_store::Store) -> Self {
        Self { http: HttpAction::new(http), email: EmailAction::new(smtp), identity: IdentityActions::new(store) }
    }

    /// Performs `action` with its resolved `input`; `key` is the same for every repeat of one attempt.
    pub async fn perform(&self, action: &str, input: &Map<String, Value>, key: &str) -> Result<Value, ActionError> {
        match action {
            "sp:http" => self.http.call(input, key).await,
            "sp:send-email" => self.email.send(input, key).await,
            "sp:interactive-message" => Ok(Value::Object(Map::new())),
            "sp:get-identity" | "sp:get-identities" | "sp:get-accounts" | "sp:access:get" => {
                self.identity.perform(action, input).await
            }
            other => Err(ActionError::permanent(format!(
                "`{other}` has no runtime on this server yet; test the workflow with `tessera workflow test` and a mock for it"
            ))),
        }
    }
}
