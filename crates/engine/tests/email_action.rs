//! `sp:send-email` against a real SMTP server on loopback (aiosmtpd, delivering to a maildir): filled
//! placeholders and headers, recipient forms, cc/bcc, the Message-ID derived from the idempotency key,
//! how each failure is classified for retries, and a workflow that mails through the durable engine.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use tessera_connectors::testing::smtp::{Mail, SmtpServer};
use tessera_engine::actions::email::{EmailAction, SmtpConfig};
use tessera_engine::{Engine, EngineConfig};
use tessera_model::{ManualClock, Timestamp};
use tessera_store::testing::stores;
use tessera_store::{ExecutionStore, WorkflowRecord, WorkflowStore};

/// What these tests need of the SMTP server beside what it is.
trait Server {
    fn config(&self) -> SmtpConfig;
    fn action(&self) -> EmailAction;
    /// The one message delivered so far.
    fn only_mail(&self) -> Mail;
}

impl Server for SmtpServer {
    fn config(&self) -> SmtpConfig {
        SmtpConfig { port: self.port(), from: "Tessera <tessera@example.com>".into(), ..SmtpConfig::default() }
    }

    fn action(&self) -> EmailAction {
        EmailAction::new(self.config())
    }

    fn only_mail(&self) -> Mail {
        let mut mails = self.mails();
        assert_eq!(mails.len(), 1, "{mails:#?}");
        mails.remove(0)
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn input(value: Value) -> Map<String, Value> {
    value.as_object().unwrap().clone()
}

#[tokio::test]
async fn context_placeholders_fill_the_subject_and_body_and_the_headers_are_set() {
    let server = SmtpServer::start();
    let sent = server
        .action()
        .send(
            &input(json!({
                "recipientEmailList": ["ada@example.com"],
                "subject": "Ticket ${ticketNumber} for ${displayName}",
                "body": "Hi,<br/><br/>\nTicket ${ticketNumber} for user ${displayName} &amp; team is ${missing}.\n<br/><br/>\nThanks,<br/>\nYour IAM Team",
                "context": {"ticketNumber": "RITM0042", "displayName": "Ada Lovelace"},
                "from": "IAM Team <iam@example.com>",
                "replyTo": "help@example.com",
            })),
            "exec-1/0.2/0",
        )
        .await
        .unwrap();
    assert_eq!(sent, json!({"messageId": "<exec-1/0=2E2/0@tessera>", "recipients": ["ada@example.com"]}));
    let mail = server.only_mail();
    assert_eq!(mail.header("Subject"), "Ticket RITM0042 for Ada Lovelace");
    assert_eq!(mail.header("To"), "ada@example.com");
    assert_eq!(mail.header("From"), "IAM Team <iam@example.com>");
    assert_eq!(mail.header("Reply-To"), "help@example.com");
    assert_eq!(mail.header("Message-ID"), "<exec-1/0=2E2/0@tessera>");
    assert_eq!(mail.header("X-MailFrom"), "iam@example.com", "the envelope sender is the From address");
    assert!(mail.header("Date").contains(':'), "{:?}", mail.headers);
    let html = mail.html.as_deref().unwrap();
    assert!(
        html.contains("Ticket RITM0042 for user Ada Lovelace &amp; team is ${missing}."),
        "the HTML part is the filled body as written; unknown placeholders stay: {html}"
    );
    assert_eq!(
        mail.plain.as_deref().unwrap().trim_end(),
        "Hi,\n\nTicket RITM0042 for user Ada Lovelace & team is ${missing}.\n\nThanks,\nYour IAM Team",
        "the text alternative reads like the HTML renders"
    );
}

#[tokio::test]
async fn the_configured_sender_is_used_when_a_step_names_none() {
    let server = SmtpServer::start();
    // ISC exports an unset `from` as null and an unset `replyTo.$` as "", which resolves to null.
    let step = input(
        json!({"recipientEmailList": ["ada@example.com"], "subject": "s", "body": "b", "from": null, "replyTo": null}),
    );
    server.action().send(&step, "k").await.unwrap();
    let mail = server.only_mail();
    assert_eq!(mail.header("From"), "Tessera <tessera@example.com>");
    assert_eq!(mail.header("Reply-To"), "");
}

#[tokio::test]
async fn a_recipient_string_as_a_path_resolves_and_a_list_both_arrive() {
    let server = SmtpServer::start();
    let action = server.action();
    // `recipientEmailList.$: $.getIdentity.attributes.email` resolves to one string.
    let one =
        action.send(&input(json!({"recipientEmailList": "ada@example.com", "subject": "one"})), "k1").await.unwrap();
    assert_eq!(one["recipients"], json!(["ada@example.com"]));
    let list = json!({"recipientEmailList": ["bob@example.com", "Carol C <carol@example.com>"], "subject": "list"});
    let two = action.send(&input(list), "k2").await.unwrap();
    assert_eq!(two["recipients"], json!(["bob@example.com", "carol@example.com"]));
    let joined = json!({"recipientEmailList": "dan@example.com, eve@example.com", "subject": "joined"});
    let three = action.send(&input(joined), "k3").await.unwrap();
    assert_eq!(three["recipients"], json!(["dan@example.com", "eve@example.com"]));

    let mails = server.mails();
    let by_subject = |subject: &str| mails.iter().find(|mail| mail.header("Subject") == subject).unwrap();
    assert_eq!(by_subject("one").header("To"), "ada@example.com");
    assert_eq!(by_subject("list").header("To"), "bob@example.com, Carol C <carol@example.com>");
    assert_eq!(by_subject("list").header("X-RcptTo"), "bob@example.com, carol@example.com");
    assert_eq!(by_subject("joined").header("X-RcptTo"), "dan@example.com, eve@example.com");
}

#[tokio::test]
async fn cc_is_a_header_and_bcc_only_the_envelope() {
    let server = SmtpServer::start();
    let step = json!({"recipientEmailList": ["ada@example.com"], "subject": "copies",
                      "cc": ["bob@example.com"], "bcc": "hidden@example.com"});
    let sent = server.action().send(&input(step), "k").await.unwrap();
    assert_eq!(sent["recipients"], json!(["ada@example.com", "bob@example.com", "hidden@example.com"]));
    let mail = server.only_mail();
    assert_eq!(mail.header("Cc"), "bob@example.com");
    assert_eq!(mail.header("Bcc"), "", "a Bcc header would show the hidden recipient to everyone");
    assert_eq!(mail.header("X-RcptTo"), "ada@example.com, bob@example.com, hidden@example.com");
}

#[tokio::test]
async fn invalid_addresses_are_permanent_and_named() {
    let server = SmtpServer::start();
    let action = server.action();
    let error = action.send(&input(json!({"recipientEmailList": ["%%ADMIN_EMAIL%%"]})), "k").await.unwrap_err();
    assert!(!error.retryable);
    assert_eq!(error.message, "`recipientEmailList`: `%%ADMIN_EMAIL%%` is not a valid email address");
    let step = json!({"recipientEmailList": ["ada@example.com"], "cc": ["ok@example.com", "not an address", 7]});
    let error = action.send(&input(step), "k").await.unwrap_err();
    assert!(!error.retryable);
    assert_eq!(error.message, "`cc`: `not an address`, 7 are not valid email addresses");
    let error =
        action.send(&input(json!({"recipientEmailList": "a@example.com", "from": "nobody"})), "k").await.unwrap_err();
    assert_eq!((error.retryable, error.message.as_str()), (false, "`from`: `nobody` is not a valid email address"));
    assert!(server.mails().is_empty(), "nothing was sent");
}

#[tokio::test]
async fn no_recipients_is_permanent() {
    let server = SmtpServer::start();
    let action = server.action();
    for step in [
        json!({"recipientEmailList": [], "subject": "s"}),
        json!({"recipientEmailList": null, "cc": ["bob@example.com"]}),
        json!({"recipientEmailList": ["", " "]}),
        json!({"subject": "s"}),
    ] {
        let error = action.send(&input(step.clone()), "k").await.unwrap_err();
        assert!(!error.retryable, "{step}");
        assert_eq!(error.message, "`recipientEmailList` names no recipient", "{step}");
    }
    assert!(server.mails().is_empty());
}

#[tokio::test]
async fn a_refused_connection_is_retryable() {
    let port = free_port();
    let action = EmailAction::new(SmtpConfig { port, ..SmtpConfig::default() });
    let error = action.send(&input(json!({"recipientEmailList": ["ada@example.com"]})), "k").await.unwrap_err();
    assert!(error.retryable, "{error:?}");
    assert!(error.message.starts_with(&format!("SMTP 127.0.0.1:{port}: ")), "{}", error.message);
    assert!(error.message.to_lowercase().contains("refused"), "{}", error.message);
}

#[tokio::test]
async fn a_server_that_never_answers_times_out_retryably() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    // Accepts connections and says nothing, not even the greeting.
    let held = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let config = SmtpConfig { port, timeout: Duration::from_millis(300), ..SmtpConfig::default() };
    let started = Instant::now();
    let error =
        EmailAction::new(config).send(&input(json!({"recipientEmailList": "ada@example.com"})), "k").await.unwrap_err();
    assert!(error.retryable, "{error:?}");
    assert!(error.message.contains("time"), "{}", error.message);
    assert!(started.elapsed() < Duration::from_secs(5));
    held.abort();
}

#[tokio::test]
async fn smtp_4xx_replies_are_retryable_and_5xx_permanent() {
    let server = SmtpServer::start();
    let action = server.action();
    let error = action.send(&input(json!({"recipientEmailList": ["later@example.com"]})), "k").await.unwrap_err();
    assert!(error.retryable, "{error:?}");
    assert!(error.message.contains("451") && error.message.contains("try again later"), "{}", error.message);
    let step = json!({"recipientEmailList": ["ada@example.com"], "bcc": ["rejected@example.com"]});
    let error = action.send(&input(step), "k").await.unwrap_err();
    assert!(!error.retryable, "{error:?}");
    assert!(error.message.contains("550") && error.message.contains("mailbox unavailable"), "{}", error.message);
    assert!(server.mails().is_empty());
}

#[tokio::test]
async fn credentials_the_server_cannot_take_fail_without_showing_the_password() {
    let server = SmtpServer::start();
    // aiosmtpd offers no AUTH over plain text, so the client cannot log in.
    let config = SmtpConfig { username: Some("ops".into()), password: Some("s3cret-pass".into()), ..server.config() };
    let error = EmailAction::new(config).send(&input(json!({"recipientEmailList": "a@example.com"})), "k").await;
    let error = error.unwrap_err();
    assert!(!error.retryable && error.message.contains("authentication"), "{error:?}");
    assert!(!error.message.contains("s3cret-pass"), "{}", error.message);
    assert!(server.mails().is_empty());
}

#[tokio::test]
async fn the_message_id_is_derived_from_the_idempotency_key() {
    let server = SmtpServer::start();
    let action = server.action();
    let step = input(json!({"recipientEmailList": ["ada@example.com"], "subject": "repeat"}));
    // A call repeated after its worker died carries the same key, so the same Message-ID.
    let first = action.send(&step, "0190-exec/1.4/0").await.unwrap();
    let repeat = action.send(&step, "0190-exec/1.4/0").await.unwrap();
    let retry = action.send(&step, "0190-exec/1.4/1").await.unwrap();
    assert_eq!(first["messageId"], repeat["messageId"]);
    assert_ne!(first["messageId"], retry["messageId"], "a retry is a new attempt with its own key");
    let mut ids: Vec<String> = server.mails().iter().map(|mail| mail.header("Message-ID")).collect();
    ids.sort();
    assert_eq!(ids, ["<0190-exec/1=2E4/0@tessera>", "<0190-exec/1=2E4/0@tessera>", "<0190-exec/1=2E4/1@tessera>"]);
}

fn t0() -> Timestamp {
    "2024-01-01T00:00:00Z".parse().unwrap()
}

async fn insert_workflow(store: &tessera_store::Store, document: Value) -> WorkflowRecord {
    let record = WorkflowRecord {
        id: "w-mail".into(),
        name: "Mail".into(),
        latest_version: 1,
        enabled: true,
        trace: true,
        created_at: Timestamp::UNIX_EPOCH,
        modified_at: Timestamp::UNIX_EPOCH,
        creator: "test".into(),
        document,
    };
    let mut tx = store.begin().await.unwrap();
    tx.insert_workflow(&record, "").await.unwrap();
    tx.commit().await.unwrap();
    record
}

#[tokio::test]
async fn a_workflow_sends_mail_through_the_engine() {
    let server = SmtpServer::start();
    let document = json!({"name": "Mail", "definition": {"start": "Send Email", "steps": {
        "Send Email": {"type": "action", "actionId": "sp:send-email", "nextStep": "Done", "attributes": {
            "recipientEmailList.$": "$.trigger.email",
            "subject": "Welcome {{$.trigger.name}}",
            "body": "Hello ${name},<br/>your account is ready.",
            "context": {"name.$": "$.trigger.name"},
            "from": null, "replyTo.$": ""}},
        "Done": {"type": "success"}}}});
    tessera_flow::Workflow::from_document(document.clone()).unwrap();
    for (kind, store) in stores().await {
        let clock = Arc::new(ManualClock::new(t0()));
        let config = EngineConfig { smtp: server.config(), ..EngineConfig::default() };
        let engine = Engine::new(store.clone(), clock, config);
        let workflow = insert_workflow(&store, document.clone()).await;
        let mut tx = store.begin().await.unwrap();
        let trigger = json!({"email": format!("ada-{kind}@example.com"), "name": "Ada"});
        let id = engine.start(&mut tx, &workflow, trigger, None).await.unwrap();
        tx.commit().await.unwrap();
        engine.run_due().await.unwrap();

        let mut tx = store.begin().await.unwrap();
        let execution = tx.execution(&id).await.unwrap().unwrap();
        assert_eq!(execution.status, tessera_model::ExecutionStatus::Completed, "{kind}: {:?}", execution.error);
        let history = tx.history(&id).await.unwrap();
        let output = &history.iter().find(|entry| entry["step"] == "Send Email").unwrap()["output"];
        assert_eq!(output["recipients"], json!([format!("ada-{kind}@example.com")]), "{kind}: {output}");
        let message_id = output["messageId"].as_str().unwrap().to_owned();
        assert!(message_id.starts_with(&format!("<{id}/")), "{kind}: the id names the execution: {message_id}");

        let mails = server.mails();
        let mail = mails.iter().find(|mail| mail.header("Message-ID") == message_id).unwrap();
        assert_eq!(mail.header("To"), format!("ada-{kind}@example.com"), "{kind}");
        assert_eq!(mail.header("Subject"), "Welcome Ada", "{kind}");
        assert_eq!(mail.header("From"), "Tessera <tessera@example.com>", "{kind}");
        assert!(mail.html.as_deref().unwrap().contains("Hello Ada,<br/>your account is ready."), "{kind}: {mail:?}");
    }
}
