//! Okta-style request types (placeholder until the request-types module lands: the two hooks the
//! inbox and the waiters call, doing nothing yet).

use tessera_store::{ExecutionWaiter, InboxItemRecord, Tx};

use crate::waiters::Outcome;
use crate::{Engine, Result};

impl Engine {
    /// A request type's approval or task was closed.
    pub(crate) async fn request_step_closed(&self, _tx: &mut Tx, _item: &InboxItemRecord, _now: i64) -> Result<()> {
        Ok(())
    }

    /// A request type's delegated workflow ended.
    pub(crate) async fn request_workflow_ended(
        &self,
        _tx: &mut Tx,
        _waiter: &ExecutionWaiter,
        _outcome: &Outcome,
        _now: i64,
    ) -> Result<()> {
        Ok(())
    }
}
