//! The governance domain as the runtime sees it: the people an asking step waits for, the work an
//! ended execution leaves open, the requests waiting for an execution's outcome, and the
//! governance actions.

use serde_json::{Map, Value};
use tessera_engine::actions::ActionError;
use tessera_engine::waiters::Outcome;
use tessera_engine::{Ask, Domain};
use tessera_model::{Timestamp, WorkSubject};
use tessera_store::{ExecutionRecord, ExecutionWaiter, Tx};

use crate::actions::identity::IdentityActions;
use crate::{Governance, Result};

#[async_trait::async_trait]
impl Domain for Governance {
    async fn ask(&self, tx: &mut Tx, ask: Ask<'_>) -> Result<Option<String>> {
        self.open_asked_work(tx, ask).await
    }

    async fn execution_ended(&self, tx: &mut Tx, execution: &ExecutionRecord, now: Timestamp) -> Result<()> {
        self.cancel_inbox_items(tx, WorkSubject::Execution, &execution.id, now).await
    }

    async fn hand_on(&self, tx: &mut Tx, waiter: &ExecutionWaiter, outcome: &Outcome, now: Timestamp) -> Result<()> {
        match waiter.subject_kind.as_str() {
            "REQUEST" => self.request_workflow_ended(tx, waiter, outcome, now).await,
            "ACCESS_REQUEST" | "ACCESS_REQUEST_ITEM" => self.access_hook_ended(tx, waiter, outcome, now).await,
            _ => Ok(()),
        }
    }

    async fn perform(&self, action: &str, input: &Map<String, Value>, key: &str) -> Option<Result<Value, ActionError>> {
        if IdentityActions::performs(action) {
            return Some(self.identity.perform(action, input).await);
        }
        self.perform_governance(action, input, key).await
    }
}
