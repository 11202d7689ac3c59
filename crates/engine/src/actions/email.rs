//! The real `sp:send-email` action: builds the message a step describes (HTML with a plain-text
//! alternative, `${name}` context placeholders filled), hands it to the operator's SMTP server, and
//! classifies failures for retries.

use std::fmt;
use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde_json::{Map, Value, json};
use tessera_flow::expr::{display, fill_context};

use super::{ActionError, describe, type_name};

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SmtpTls {
    /// Plain text: for a relay on loopback or a trusted network.
    #[default]
    None,
    /// Plain text upgraded with STARTTLS, which is required: the server must offer it (port 587).
    StartTls,
    /// TLS from the first byte (SMTPS, port 465).
    Tls,
}

/// What the operator decides about outgoing mail.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    /// The sender when a step names none.
    pub from: String,
    /// Authenticate (PLAIN or LOGIN) when set.
    pub username: Option<String>,
    pub password: Option<String>,
    pub tls: SmtpTls,
    /// The longest one message may take, from connecting to the server's acceptance.
    pub timeout: Duration,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 25,
            from: "tessera@localhost".into(),
            username: None,
            password: None,
            tls: SmtpTls::None,
            timeout: Duration::from_secs(30),
        }
    }
}

impl SmtpConfig {
    /// Why no mail could be sent with these settings, found before the first message: an empty host,
    /// a sender that is not an address, or TLS that cannot be set up for the host.
    pub fn check(&self) -> Result<(), String> {
        if self.host.trim().is_empty() {
            return Err("the SMTP host is empty".into());
        }
        if parse_mailbox(&self.from).is_none() {
            return Err(format!("the sender `{}` is not a valid email address", self.from));
        }
        transport(self).map(|_| ())
    }
}

/// Shows everything but the password, so that a logged config never carries it.
impl fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("from", &self.from)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("tls", &self.tls)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Performs `sp:send-email` steps. Each message goes over its own connection: mail is rare next to the
/// other steps, and a fresh connection never meets a server that silently dropped an idle one.
#[derive(Debug)]
pub struct EmailAction {
    /// The transport, or why it could not be set up (then every send fails with that reason).
    transport: Result<AsyncSmtpTransport<Tokio1Executor>, String>,
    config: SmtpConfig,
}

impl EmailAction {
    /// Sets the transport up once; nothing connects until the first message.
    pub fn new(config: SmtpConfig) -> Self {
        Self { transport: transport(&config), config }
    }

    /// Sends the message described by the step's resolved inputs (`recipientEmailList`, `subject`,
    /// `body`, `context`, `from`, `replyTo`, `cc`, `bcc`; `.$` paths already evaluated). Its
    /// `Message-ID` is derived from `idempotency_key`, so a repeat after a crash is recognisably the
    /// same message. Returns `{"messageId", "recipients"}`: every address the message went to.
    pub async fn send(&self, input: &Map<String, Value>, idempotency_key: &str) -> Result<Value, ActionError> {
        let mail = Mail::from_input(input, &self.config.from, idempotency_key)?;
        let transport = self.transport.as_ref().map_err(|reason| ActionError::permanent(reason.clone()))?;
        let server = format!("SMTP {}:{}", self.config.host, self.config.port);
        tracing::debug!(message_id = %mail.message_id, recipients = mail.recipients.len(), %server, "sp:send-email sending");
        let outcome = tokio::time::timeout(self.config.timeout, transport.send(mail.message)).await;
        let result = match outcome {
            Ok(Ok(_)) => Ok(json!({"messageId": mail.message_id, "recipients": mail.recipients})),
            Ok(Err(error)) => Err(smtp_error(&server, &error)),
            Err(_) => Err(ActionError::retryable(format!(
                "{server}: the message was not accepted within {}s (timeout)",
                self.config.timeout.as_secs_f64()
            ))),
        };
        result.map_err(|error| redact(error, self.config.password.as_deref()))
    }
}

fn transport(config: &SmtpConfig) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
    let parameters = || {
        TlsParameters::new(config.host.clone()).map_err(|error| {
            format!("TLS to the SMTP server {} could not be set up: {}", config.host, describe(&error))
        })
    };
    let tls = match config.tls {
        SmtpTls::None => Tls::None,
        SmtpTls::StartTls => Tls::Required(parameters()?),
        SmtpTls::Tls => Tls::Wrapper(parameters()?),
    };
    // "Dangerous" only in that the builder trusts the TLS choice given here, which is the operator's.
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(config.host.clone())
        .port(config.port)
        .tls(tls)
        .timeout(Some(config.timeout));
    if let Some(username) = &config.username {
        builder = builder.credentials(Credentials::new(username.clone(), config.password.clone().unwrap_or_default()));
    }
    Ok(builder.build())
}

/// A message ready to send, and what the step reports about it.
#[derive(Debug)]
struct Mail {
    message: Message,
    message_id: String,
    recipients: Vec<String>,
}

impl Mail {
    fn from_input(input: &Map<String, Value>, default_from: &str, key: &str) -> Result<Self, ActionError> {
        let to = mailboxes(input, "recipientEmailList")?;
        if to.is_empty() {
            return Err(ActionError::permanent("`recipientEmailList` names no recipient"));
        }
        let cc = mailboxes(input, "cc")?;
        let bcc = mailboxes(input, "bcc")?;
        let reply_to = mailboxes(input, "replyTo")?;
        let from = match mailboxes(input, "from")?.as_slice() {
            [] => parse_mailbox(default_from).ok_or_else(|| {
                ActionError::permanent(format!("the configured sender `{default_from}` is not a valid email address"))
            })?,
            [one] => one.clone(),
            _ => return Err(ActionError::permanent("`from` must name one sender")),
        };
        let context = match input.get("context") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(context)) => context.clone(),
            Some(other) => {
                return Err(ActionError::permanent(format!("`context` must be an object, not {}", type_name(other))));
            }
        };
        let text = |name: &str| fill_context(&input.get(name).map(display).unwrap_or_default(), &context);
        // A line break in a header would end it; a subject is one line.
        let subject = text("subject");
        let subject =
            subject.split(['\r', '\n']).map(str::trim).filter(|line| !line.is_empty()).collect::<Vec<_>>().join(" ");
        // Context values go in as given, not HTML-escaped: a workflow may build markup in a variable and
        // pass it through the context.
        let html = text("body");
        let message_id = message_id(key);

        let mut recipients: Vec<String> = Vec::new();
        for mailbox in to.iter().chain(&cc).chain(&bcc) {
            let address = mailbox.email.to_string();
            if !recipients.iter().any(|seen| seen.eq_ignore_ascii_case(&address)) {
                recipients.push(address);
            }
        }
        let mut builder = Message::builder().from(from).subject(subject).message_id(Some(message_id.clone()));
        builder = to.into_iter().fold(builder, |builder, mailbox| builder.to(mailbox));
        builder = cc.into_iter().fold(builder, |builder, mailbox| builder.cc(mailbox));
        // Bcc addresses go into the envelope only; lettre drops the header.
        builder = bcc.into_iter().fold(builder, |builder, mailbox| builder.bcc(mailbox));
        builder = reply_to.into_iter().fold(builder, |builder, mailbox| builder.reply_to(mailbox));
        let message = builder
            .multipart(MultiPart::alternative_plain_html(plain_text(&html), html))
            .map_err(|error| ActionError::permanent(format!("the message could not be built: {error}")))?;
        Ok(Self { message, message_id, recipients })
    }
}

/// The addresses in attribute `name`: a string (possibly `a@x, b@y`) or an array of them; nulls and
/// empty strings are skipped. Every invalid entry is named in the error.
fn mailboxes(input: &Map<String, Value>, name: &str) -> Result<Vec<Mailbox>, ActionError> {
    fn collect(value: &Value, found: &mut Vec<Mailbox>, invalid: &mut Vec<String>) {
        match value {
            Value::Null => {}
            Value::String(text) => {
                for entry in split_list(text) {
                    match parse_mailbox(entry) {
                        Some(mailbox) => found.push(mailbox),
                        None => invalid.push(format!("`{entry}`")),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|item| collect(item, found, invalid)),
            other => invalid.push(other.to_string()),
        }
    }
    let (mut found, mut invalid) = (Vec::new(), Vec::new());
    if let Some(value) = input.get(name) {
        collect(value, &mut found, &mut invalid);
    }
    match invalid.as_slice() {
        [] => Ok(found),
        [one] => Err(ActionError::permanent(format!("`{name}`: {one} is not a valid email address"))),
        many => Err(ActionError::permanent(format!("`{name}`: {} are not valid email addresses", many.join(", ")))),
    }
}

/// The entries of an address list, split at `,` and `;` outside quotes and angle brackets.
fn split_list(text: &str) -> Vec<&str> {
    let (mut entries, mut start, mut quoted, mut angle) = (Vec::new(), 0, false, false);
    for (at, c) in text.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '<' if !quoted => angle = true,
            '>' if !quoted => angle = false,
            ',' | ';' if !quoted && !angle => {
                entries.push(&text[start..at]);
                start = at + 1;
            }
            _ => {}
        }
    }
    entries.push(&text[start..]);
    entries.into_iter().map(str::trim).filter(|entry| !entry.is_empty()).collect()
}

/// `user@domain` or `Display Name <user@domain>`, checked whole.
fn parse_mailbox(text: &str) -> Option<Mailbox> {
    let text = text.trim();
    if let Some(inner) = text.strip_suffix('>')
        && let Some((name, address)) = inner.rsplit_once('<')
    {
        let address = address.trim().parse::<Address>().ok()?;
        let name = name.trim().trim_matches('"').trim();
        return Some(Mailbox::new((!name.is_empty()).then(|| name.to_owned()), address));
    }
    text.parse::<Address>().ok().map(|address| Mailbox::new(None, address))
}

/// `<key@tessera>` with every byte outside `[A-Za-z0-9_/-]` written `=XX`, which keeps distinct keys
/// distinct and the id a valid RFC 5322 `dot-atom`. An overlong key keeps its start and a hash.
fn message_id(key: &str) -> String {
    const MAX: usize = 200;
    let mut id = String::with_capacity(key.len());
    for byte in key.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'/' | b'-') {
            id.push(char::from(byte));
        } else {
            id.push_str(&format!("={byte:02X}"));
        }
    }
    if id.len() > MAX {
        // FNV-1a: stable across builds and platforms, which a std hasher does not promise.
        let hash = key
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3));
        id.truncate(MAX - 17);
        id.push_str(&format!("-{hash:016x}"));
    }
    format!("<{id}@tessera>")
}

/// A crude plain-text rendering of an HTML body for the text alternative: tags dropped (line breaks for
/// `<br>` and block elements), `<style>`/`<script>` content dropped, common entities decoded,
/// whitespace collapsed as a browser would.
fn plain_text(html: &str) -> String {
    let mut text = String::with_capacity(html.len());
    let mut rest = html;
    let mut skip_until: Option<&str> = None;
    while let Some(open) = rest.find('<') {
        let after = &rest[open + 1..];
        let is_tag = after.starts_with(|c: char| c.is_ascii_alphabetic() || c == '/' || c == '!');
        let Some(close) = after.find('>').filter(|_| is_tag) else {
            if skip_until.is_none() {
                push_collapsed(&mut text, &rest[..open + 1]);
            }
            rest = after;
            continue;
        };
        if skip_until.is_none() {
            push_collapsed(&mut text, &rest[..open]);
        }
        let tag = &after[..close];
        rest = &after[close + 1..];
        let closing = tag.starts_with('/');
        let name = tag.trim_start_matches('/').split(|c: char| c.is_whitespace() || c == '/').next().unwrap_or("");
        let name = name.to_ascii_lowercase();
        if let Some(until) = skip_until {
            if closing && name == until {
                skip_until = None;
            }
            continue;
        }
        match name.as_str() {
            "style" if !closing => skip_until = Some("style"),
            "script" if !closing => skip_until = Some("script"),
            "br" | "p" | "div" | "li" | "tr" | "hr" | "table" | "ul" | "ol" | "blockquote" | "pre" | "h1" | "h2"
            | "h3" | "h4" | "h5" | "h6" => text.push('\n'),
            "td" | "th" if closing => text.push(' '),
            _ => {}
        }
    }
    if skip_until.is_none() {
        push_collapsed(&mut text, rest);
    }
    let decoded = decode_entities(&text);
    let mut out = String::with_capacity(decoded.len());
    let mut blank = 0;
    for line in decoded.lines().map(str::trim) {
        if line.is_empty() {
            blank += 1;
            if blank > 1 || out.is_empty() {
                continue;
            }
        } else {
            blank = 0;
        }
        out.push_str(line);
        out.push('\n');
    }
    out.trim_end().to_owned()
}

/// Appends text with every run of whitespace (line breaks included) as one space, as HTML shows it.
fn push_collapsed(out: &mut String, text: &str) {
    for c in text.chars() {
        if c.is_whitespace() {
            if !out.ends_with([' ', '\n']) {
                out.push(' ');
            }
        } else {
            out.push(c);
        }
    }
}

/// Decodes the named entities mail bodies use and numeric ones; anything else stays as written.
fn decode_entities(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        let decoded = after.find(';').filter(|&end| end <= 10).and_then(|end| {
            let name = &after[..end];
            let c = match name {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some(' '),
                _ => match name.strip_prefix('#') {
                    Some(hex) if hex.starts_with(['x', 'X']) => u32::from_str_radix(&hex[1..], 16).ok(),
                    Some(decimal) => decimal.parse().ok(),
                    None => None,
                }
                .and_then(char::from_u32),
            };
            c.map(|c| (c, end))
        });
        match decoded {
            Some((c, end)) => {
                out.push(c);
                rest = &after[end + 1..];
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// An SMTP failure: a 5xx reply or a client-side error will recur; a 4xx reply, a refused or broken
/// connection, a timeout or a TLS failure may pass.
fn smtp_error(server: &str, error: &lettre::transport::smtp::Error) -> ActionError {
    let detail = describe(error);
    if error.is_permanent() {
        ActionError::permanent(format!("{server} refused the message: {detail}"))
    } else if error.is_client() {
        ActionError::permanent(format!("{server}: {detail}"))
    } else if error.is_transient() {
        ActionError::retryable(format!("{server} deferred the message: {detail}"))
    } else if error.is_timeout() {
        ActionError::retryable(format!("{server}: timed out: {detail}"))
    } else {
        ActionError::retryable(format!("{server}: {detail}"))
    }
}

/// Masks the SMTP password wherever a server or library might have echoed it.
fn redact(mut error: ActionError, password: Option<&str>) -> ActionError {
    if let Some(password) = password.filter(|password| !password.is_empty()) {
        error.message = error.message.replace(password, "***");
    }
    error
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_can_run_on_any_worker_thread() {
        fn assert_send<T: Send>(_: &T) {}
        let action = EmailAction::new(SmtpConfig::default());
        let input = Map::new();
        assert_send(&action.send(&input, "key"));
    }

    #[test]
    fn settings_are_checked_before_the_first_message() {
        let bad = SmtpConfig { from: "tessera".into(), ..SmtpConfig::default() };
        assert_eq!(bad.check(), Err("the sender `tessera` is not a valid email address".into()));
        let named = SmtpConfig { from: "Tessera <tessera@example.com>".into(), ..SmtpConfig::default() };
        assert_eq!(named.check(), Ok(()));
        assert!(SmtpConfig { host: " ".into(), ..SmtpConfig::default() }.check().is_err());
    }

    #[test]
    fn message_ids_are_valid_and_distinct_per_key() {
        assert_eq!(message_id("0190-ab/0.3/1"), "<0190-ab/0=2E3/1@tessera>");
        assert_eq!(message_id("a b"), "<a=20b@tessera>");
        assert_ne!(message_id("a b"), message_id("a_b"));
        assert_ne!(message_id("a=20b"), message_id("a b"));
        let long = "k".repeat(500);
        let id = message_id(&long);
        assert!(id.len() < 220, "{id}");
        assert_eq!(id, message_id(&long));
        assert_ne!(id, message_id(&format!("{long}x")));
    }

    #[test]
    fn html_becomes_readable_text() {
        let html = "Hi,<br/><br/>\nTicket ${n} for  Ada &amp; Bob.\n<br/><br/>\nThanks,<BR>\nIAM &lt;team&gt;&#33;";
        assert_eq!(plain_text(html), "Hi,\n\nTicket ${n} for Ada & Bob.\n\nThanks,\nIAM <team>!");
        let html = "<html><head><style>p { color: red }</style></head><body><p>One</p><p>Two &nbsp;x</p>\
                    <table><tr><td>a</td><td>b</td></tr></table>1 < 2 &unknown;</body></html>";
        // `&nbsp;` is a space that does not collapse, as a browser shows it.
        assert_eq!(plain_text(html), "One\n\nTwo  x\n\na b\n\n1 < 2 &unknown;");
        assert_eq!(plain_text("plain text"), "plain text");
    }

    #[test]
    fn address_lists_and_names() {
        assert_eq!(split_list("a@x.io, b@y.io;c@z.io ,"), ["a@x.io", "b@y.io", "c@z.io"]);
        assert_eq!(split_list("\"Doe, John\" <j@x.io>, k@x.io"), ["\"Doe, John\" <j@x.io>", "k@x.io"]);
        let named = parse_mailbox("\"Doe, John\" <j@x.io>").unwrap();
        assert_eq!((named.name.as_deref(), named.email.to_string().as_str()), (Some("Doe, John"), "j@x.io"));
        assert!(parse_mailbox("%%ADMIN_EMAIL%%").is_none());
        assert!(parse_mailbox("a@x.io trailing").is_none());
        assert!(parse_mailbox("<a@x.io> junk").is_none());
    }

    #[test]
    fn the_password_stays_out_of_debug_and_errors() {
        let config = SmtpConfig { password: Some("hunter22".into()), ..SmtpConfig::default() };
        assert!(!format!("{config:?}").contains("hunter22"));
        assert_eq!(config.check(), Ok(()));
        let action = EmailAction::new(config);
        assert!(!format!("{action:?}").contains("hunter22"));
        let error = redact(ActionError::retryable("535 bad credentials hunter22"), Some("hunter22"));
        assert_eq!(error.message, "535 bad credentials ***");
    }
}
