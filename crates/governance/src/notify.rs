//! Email to people about what waits for them (an approval, a task, a reminder, an escalation): queued
//! in the transaction that has something to say, sent afterwards by its own loop through the
//! operator's SMTP server, retried with a doubling delay when the server is unreachable.

use std::sync::Arc;
use tessera_model::{NotificationStatus, Timestamp};

use serde_json::{Map, Value, json};
use tessera_store::{IdentityRecord, IdentityStore, NotificationRecord, NotificationStore, Tx};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::{Governance, Result};

/// Messages sent per round.
const BATCH: i64 = 32;
/// Attempts before a message is given up as FAILED.
const ATTEMPTS: i64 = 6;
/// The first retry's delay; each further one doubles it.
const FIRST_RETRY: std::time::Duration = std::time::Duration::from_secs(30);
/// How long a claimed message is this node's to send.
const LEASE: std::time::Duration = std::time::Duration::from_secs(120);

/// A person's address: their identity's email, else its `email` attribute.
fn address_of(identity: &IdentityRecord) -> Option<String> {
    identity
        .email
        .as_deref()
        .or_else(|| identity.attributes.get("email").and_then(Value::as_str))
        .map(str::trim)
        .filter(|a| a.contains('@'))
        .map(str::to_owned)
}

/// The plain text of a notification as the HTML body `sp:send-email` expects.
fn html(text: &str) -> String {
    let escaped = text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    format!("<p>{}</p>", escaped.replace("\n\n", "</p><p>").replace('\n', "<br>"))
}

impl Governance {
    /// Queues an email to `identity_id` in `tx`; a person without an address gets it recorded as
    /// SKIPPED, so the inbox still shows what they were told.
    pub async fn notify(
        &self,
        tx: &mut Tx,
        identity_id: &str,
        subject: &str,
        body: &str,
        now: Timestamp,
    ) -> Result<()> {
        let address = tx.identity(identity_id).await?.and_then(|identity| address_of(&identity));
        let notification = NotificationRecord {
            id: uuid::Uuid::now_v7().simple().to_string(),
            recipient_id: identity_id.into(),
            status: if address.is_some() { NotificationStatus::Pending } else { NotificationStatus::Skipped },
            address,
            subject: subject.into(),
            body: body.into(),
            attempts: 0,
            next_attempt_at: now,
            error: None,
            created_at: now,
            sent_at: None,
        };
        tx.queue_notification(&notification).await?;
        Ok(())
    }

    /// Sends the notifications that are due; answers how many it tried.
    pub async fn send_notifications(&self) -> Result<usize> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let claimed = tx.claim_notifications(now, LEASE, BATCH).await?;
        tx.commit().await?;
        for n in &claimed {
            let mut input = Map::new();
            input.insert("recipientEmailList".into(), json!([n.address]));
            input.insert("subject".into(), json!(n.subject));
            input.insert("body".into(), json!(html(&n.body)));
            let outcome = self.engine.actions().email().send(&input, &format!("notification-{}", n.id)).await;
            let done = self.now();
            let attempts = n.attempts + 1;
            let (status, error, next) = match outcome {
                Ok(_) => (NotificationStatus::Sent, None, done),
                Err(error) if error.retryable && attempts < ATTEMPTS => (
                    NotificationStatus::Pending,
                    Some(error.message),
                    done + FIRST_RETRY * (1u32 << (attempts - 1).min(10)),
                ),
                Err(error) => (NotificationStatus::Failed, Some(error.message), done),
            };
            if let Some(error) = &error {
                tracing::warn!(notification = %n.id, attempt = attempts, %status, %error, "a notification was not sent");
            }
            let mut tx = self.store.begin().await?;
            tx.settle_notification(&n.id, status, error.as_deref(), next, done).await?;
            tx.commit().await?;
        }
        Ok(claimed.len())
    }

    /// Starts the loop that sends notifications, and applies the deadlines of people's work (inbox
    /// items, access approvals), until `shutdown`.
    pub(crate) fn spawn_notifier(self: &Arc<Self>, mut shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
        let engine = self.clone();
        tokio::spawn(async move {
            loop {
                if *shutdown.borrow() {
                    return;
                }
                if let Err(error) = engine.run_deadlines().await {
                    tracing::warn!(%error, "applying the deadlines of people's work failed; retrying");
                }
                match engine.send_notifications().await {
                    Ok(n) if n as i64 == BATCH => continue,
                    Ok(_) => {}
                    Err(error) => tracing::warn!(%error, "sending notifications failed; retrying"),
                }
                tokio::select! {
                    _ = tokio::time::sleep(engine.engine.config().poll.max(std::time::Duration::from_millis(500))) => {}
                    _ = shutdown.changed() => {}
                }
            }
        })
    }
}
