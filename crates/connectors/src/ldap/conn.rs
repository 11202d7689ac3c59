//! Bound connections to the directory, opened on first use and again after one closes, and how an LDAP
//! failure becomes a [`ConnectorError`] that says whether a retry may help.

use std::sync::atomic::{AtomicU64, Ordering};

use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, LdapError, LdapResult};
use tokio::sync::Mutex;

use super::config::LdapConfig;
use crate::ConnectorError;

/// Numbers every connection this process opens, so a paging cursor can tell whether the connection it was
/// issued on is still the one in use: OpenLDAP (like most servers) keeps a paged search's state on its
/// connection, and a cookie means nothing on another.
static NEXT_EPOCH: AtomicU64 = AtomicU64::new(1);

/// A bound connection and the number it was opened under.
#[derive(Debug, Clone)]
pub(super) struct Session {
    pub(super) ldap: Ldap,
    pub(super) epoch: u64,
}

/// One connection, shared by the operations that use it (requests are multiplexed on it), reopened when it
/// has closed.
#[derive(Debug, Default)]
pub(super) struct Slot {
    current: Mutex<Option<Session>>,
}

impl Slot {
    /// The open connection, after connecting and binding if there is none.
    pub(super) async fn get(&self, config: &LdapConfig) -> Result<Session, ConnectorError> {
        let mut current = self.current.lock().await;
        if let Some(session) = current.as_mut()
            && !session.ldap.is_closed()
        {
            return Ok(session.clone());
        }
        *current = None;
        let session = Session { ldap: connect(config).await?, epoch: NEXT_EPOCH.fetch_add(1, Ordering::Relaxed) };
        *current = Some(session.clone());
        Ok(session)
    }

    /// Forgets the connection so the next [`Slot::get`] opens a new one: after a failure that may have
    /// left it unusable.
    pub(super) async fn reset(&self) {
        *self.current.lock().await = None;
    }
}

/// Connects, starts the task that drives the connection, and binds.
async fn connect(config: &LdapConfig) -> Result<Ldap, ConnectorError> {
    let settings = LdapConnSettings::new().set_conn_timeout(config.timeout).set_starttls(config.start_tls);
    let (conn, mut ldap) = LdapConnAsync::with_settings(settings, &config.url)
        .await
        .map_err(|e| from_ldap(&format!("connecting to {}", config.url), e))?;
    // The task ends when the last handle is dropped or the server closes the connection; an error it ends
    // with also fails the operations waiting on it, which report it themselves.
    tokio::spawn(async move {
        let _ = conn.drive().await;
    });
    let result = ldap
        .with_timeout(config.timeout)
        .simple_bind(&config.bind_dn, &config.bind_password)
        .await
        .map_err(|e| from_ldap(&format!("binding as {}", config.bind_dn), e))?;
    check(&format!("binding as {}", config.bind_dn), &result)?;
    Ok(ldap)
}

/// Result codes after which the same request may succeed later (RFC 4511 appendix A): timeLimitExceeded,
/// busy, unavailable, other (OpenLDAP's answer to a transient internal failure, such as a full database
/// lock table), and the client-side serverDown/connectError.
const RETRYABLE_CODES: [u32; 6] = [3, 51, 52, 80, 81, 91];

/// `Ok` for a success code, else the error for `context`.
pub(super) fn check(context: &str, result: &LdapResult) -> Result<(), ConnectorError> {
    if result.rc == 0 { Ok(()) } else { Err(from_result(context, result)) }
}

/// The error for a non-success result. Its message names the operation, the code and the server's text;
/// request values (and so passwords) are never part of it.
pub(super) fn from_result(context: &str, result: &LdapResult) -> ConnectorError {
    let mut message = format!("{context}: {} ({})", code_name(result.rc), result.rc);
    if !result.text.is_empty() {
        message.push_str(": ");
        message.push_str(&result.text);
    }
    if !result.matched.is_empty() && result.rc == 32 {
        message.push_str(&format!(" (closest existing entry: {})", result.matched));
    }
    ConnectorError { retryable: RETRYABLE_CODES.contains(&result.rc), message }
}

/// The error for a failed call: transport failures and timeouts may pass, everything else is permanent.
pub(super) fn from_ldap(context: &str, error: LdapError) -> ConnectorError {
    match error {
        LdapError::LdapResult { result } => from_result(context, &result),
        LdapError::Io { .. }
        | LdapError::Timeout { .. }
        | LdapError::OpSend { .. }
        | LdapError::ResultRecv { .. }
        | LdapError::IdScrubSend { .. }
        | LdapError::MiscSend { .. }
        | LdapError::EndOfStream => ConnectorError::retryable(format!("{context}: {error}")),
        other => ConnectorError::permanent(format!("{context}: {other}")),
    }
}

/// The RFC 4511 name of a result code.
pub(super) fn code_name(rc: u32) -> &'static str {
    match rc {
        0 => "success",
        1 => "operationsError",
        2 => "protocolError",
        3 => "timeLimitExceeded",
        4 => "sizeLimitExceeded",
        7 => "authMethodNotSupported",
        8 => "strongerAuthRequired",
        10 => "referral",
        11 => "adminLimitExceeded",
        12 => "unavailableCriticalExtension",
        13 => "confidentialityRequired",
        16 => "noSuchAttribute",
        17 => "undefinedAttributeType",
        18 => "inappropriateMatching",
        19 => "constraintViolation",
        20 => "attributeOrValueExists",
        21 => "invalidAttributeSyntax",
        32 => "noSuchObject",
        34 => "invalidDNSyntax",
        48 => "inappropriateAuthentication",
        49 => "invalidCredentials",
        50 => "insufficientAccessRights",
        51 => "busy",
        52 => "unavailable",
        53 => "unwillingToPerform",
        54 => "loopDetect",
        64 => "namingViolation",
        65 => "objectClassViolation",
        66 => "notAllowedOnNonLeaf",
        67 => "notAllowedOnRDN",
        68 => "entryAlreadyExists",
        69 => "objectClassModsProhibited",
        71 => "affectsMultipleDSAs",
        80 => "other",
        81 => "serverDown",
        85 => "timeout",
        91 => "connectError",
        _ => "result code",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(rc: u32, text: &str) -> LdapResult {
        LdapResult { rc, matched: String::new(), text: text.into(), refs: vec![], ctrls: vec![] }
    }

    #[test]
    fn busy_and_unavailable_are_retryable() {
        for rc in [51, 52, 80] {
            assert!(from_result("modify", &result(rc, "")).retryable, "{rc}");
        }
        for rc in [19, 32, 49, 50, 53, 65] {
            assert!(!from_result("modify", &result(rc, "")).retryable, "{rc}");
        }
    }

    #[test]
    fn the_message_names_operation_code_and_server_text() {
        let error =
            from_result("adding uid=a,dc=x", &result(65, "object class 'inetOrgPerson' requires attribute 'sn'"));
        assert_eq!(
            error.message,
            "adding uid=a,dc=x: objectClassViolation (65): object class 'inetOrgPerson' requires attribute 'sn'"
        );
    }
}
