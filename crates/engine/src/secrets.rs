//! Credentials written into workflow documents (`flow::secrets` finds them), sealed at rest under the
//! node key: a document is sealed before it is stored, shown masked to every reader, and opened only
//! in the action that sends the credential — whose answer is then scrubbed of it, so no credential
//! reaches an execution's data, history or trace. [`seal_stored`] brings documents and histories written
//! before sealing existed up to that rule.

use std::borrow::Cow;

use serde_json::{Map, Value};
pub use tessera_flow::secrets::MASK;
use tessera_flow::secrets::{self as slots, Slot};
use tessera_store::secrets::{Keyring, OpenError, TEXT_PREFIX, is_sealed_text};
use tessera_store::{Store, WorkflowStore};

/// Why a document's credentials could not be sealed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("{pointer}: `{MASK}` keeps a stored secret, but there is none here to keep; send the secret itself")]
    MaskWithoutSecret { pointer: String },
    #[error("credentials in workflows are sealed under the node key, and this node was given none")]
    NoKeyring,
}

/// The sealed credential at `pointer` of a stored document, as text (a whole value, or a URL's
/// password).
fn stored_at(current: Option<&Value>, pointer: &str, slot: Slot) -> Option<String> {
    let text = current?.pointer(pointer)?.as_str()?;
    let sealed = match slot {
        Slot::Whole => text,
        Slot::UrlPassword => &text[slots::url_password(text)?],
    };
    is_sealed_text(sealed).then(|| sealed.to_owned())
}

/// Seals every literal credential of `document` for storage. A mask where `current` (the stored
/// version) has a sealed credential at the same place keeps that one, and so does the credential
/// itself sent again — so a document sent back as it was read, or unchanged, stays equal to what is
/// stored. A value sealed already is kept as it is.
pub fn seal_document(
    keyring: Option<&Keyring>,
    document: &mut Value,
    current: Option<&Value>,
) -> Result<(), SealError> {
    slots::rewrite(document, &mut |pointer, slot, text| {
        let secret = match slot {
            Slot::Whole => text,
            Slot::UrlPassword => &text[slots::url_password(text).unwrap_or(0..0)],
        };
        if is_sealed_text(secret) {
            return Ok(None);
        }
        let stored = stored_at(current, pointer, slot);
        let sealed = if secret == MASK {
            stored.ok_or_else(|| SealError::MaskWithoutSecret { pointer: pointer.to_owned() })?
        } else {
            let keyring = keyring.ok_or(SealError::NoKeyring)?;
            match stored {
                Some(stored) if keyring.open_text(&stored).is_ok_and(|plain| plain == secret) => stored,
                _ => keyring.seal_text(secret),
            }
        };
        Ok(Some(match slot {
            Slot::Whole => sealed,
            Slot::UrlPassword => slots::with_url_password(text, &sealed),
        }))
    })
}

/// Where the sealed credentials inside `text` are (`$sealed:v1:<key id>:<base64url>`: the prefix,
/// then the characters key ids and base64url are made of).
fn sealed_spans(text: &str) -> Vec<std::ops::Range<usize>> {
    let mut spans = Vec::new();
    let mut from = 0;
    while let Some(found) = text[from..].find(TEXT_PREFIX) {
        let start = from + found;
        let body = start + TEXT_PREFIX.len();
        let end = text[body..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == ':' || c == '-' || c == '_'))
            .map_or(text.len(), |len| body + len);
        spans.push(start..end);
        from = end;
    }
    spans
}

/// Every sealed credential inside `text` replaced by what `shown` makes of it (which may fail).
fn replace_sealed<'a, E>(text: &'a str, shown: &mut dyn FnMut(&str) -> Result<String, E>) -> Result<Cow<'a, str>, E> {
    let spans = sealed_spans(text);
    if spans.is_empty() {
        return Ok(Cow::Borrowed(text));
    }
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for span in spans {
        out.push_str(&text[last..span.start]);
        out.push_str(&shown(&text[span.clone()])?);
        last = span.end;
    }
    out.push_str(&text[last..]);
    Ok(Cow::Owned(out))
}

fn map_strings(value: &Value, shown: &dyn Fn(&str) -> String) -> Value {
    match value {
        Value::String(text) => {
            let replaced = replace_sealed::<std::convert::Infallible>(text, &mut |sealed| Ok(shown(sealed)));
            Value::String(replaced.map_or_else(|never| match never {}, Cow::into_owned))
        }
        Value::Array(items) => Value::Array(items.iter().map(|item| map_strings(item, shown)).collect()),
        Value::Object(members) => {
            Value::Object(members.iter().map(|(key, member)| (key.clone(), map_strings(member, shown))).collect())
        }
        other => other.clone(),
    }
}

/// A document (or any JSON: a history entry, an input) as readers see it: every sealed credential is
/// the mask.
pub fn masked(value: &Value) -> Value {
    map_strings(value, &|_| MASK.to_owned())
}

/// A document for a diff: every sealed credential masked, with a short fingerprint of the sealed text,
/// so a changed credential shows as a changed line without showing anything of it.
pub fn masked_for_diff(value: &Value) -> Value {
    // The last characters of a sealed text are its authentication tag: random, and nothing of the secret.
    map_strings(value, &|sealed| format!("{MASK} (sealed …{})", &sealed[sealed.len().saturating_sub(8)..]))
}

/// Whether any string in `value` holds a sealed credential (pasted, or a reference to a named secret)
/// — without allocating: this is asked of every action's input.
pub fn holds_sealed(value: &Value) -> bool {
    match value {
        Value::String(text) => text.contains(TEXT_PREFIX),
        Value::Array(items) => items.iter().any(holds_sealed),
        Value::Object(members) => members.values().any(holds_sealed),
        _ => false,
    }
}

/// How a sealed reference's plain text begins: what `{{secret:<name>}}` in a definition becomes.
const REFERENCE_MARKER: &str = "\u{0}secret:";

/// Why a credential of an action's input could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ReferenceError {
    #[error("there is no secret named `{0}`; create it with PUT /tessera/v1/secrets/{0}")]
    Unknown(String),
    #[error("a sealed credential of this step cannot be opened: {0}")]
    Unopenable(OpenError),
    #[error(transparent)]
    Store(#[from] tessera_store::Error),
}

/// Turns each `{{secret:<name>}}` written in a definition into a sealed reference, so that only what
/// the workflow's author wrote is ever looked up: a `{{secret:…}}` that arrives as data (a trigger's
/// input, an answer, an attribute) stays text, and cannot pull a secret into a request (sealed text
/// cannot be forged). Done when a version is compiled for running; the stored document keeps the
/// reference as written. Without a keyring the references stay as written, and do not resolve.
pub fn seal_references(keyring: Option<&Keyring>, document: &mut Value) {
    let Some(keyring) = keyring else { return };
    if let Some(definition) = document.get_mut("definition") {
        seal_references_in(keyring, definition);
    }
}

fn seal_references_in(keyring: &Keyring, value: &mut Value) {
    match value {
        Value::String(text) => {
            let references = slots::secret_references(text);
            if references.is_empty() {
                return;
            }
            let mut out = String::with_capacity(text.len());
            let mut last = 0;
            for (range, name) in references {
                out.push_str(&text[last..range.start]);
                out.push_str(&keyring.seal_text(&format!("{REFERENCE_MARKER}{name}")));
                last = range.end;
            }
            out.push_str(&text[last..]);
            *text = out;
        }
        Value::Array(items) => items.iter_mut().for_each(|item| seal_references_in(keyring, item)),
        Value::Object(members) => members.values_mut().for_each(|member| seal_references_in(keyring, member)),
        _ => {}
    }
}

/// Opens every sealed credential of an action's input in place — pasted ones, and references to named
/// secrets, read from `store` — for the action alone; returns the secrets put in, which its answer
/// must not carry.
pub async fn open_for_action(store: &Store, input: &mut Map<String, Value>) -> Result<Vec<String>, ReferenceError> {
    let keyring = store.keyring().ok_or(ReferenceError::Unopenable(OpenError::NoKeyring))?;
    let names = referenced_names(keyring, input)?;
    let mut named = std::collections::HashMap::new();
    if !names.is_empty() {
        let mut tx = store.begin().await?;
        for name in names {
            let record = tessera_store::SecretStore::secret(&mut tx, &name)
                .await?
                .ok_or_else(|| ReferenceError::Unknown(name.clone()))?;
            named.insert(name, keyring.open_text(&record.sealed).map_err(ReferenceError::Unopenable)?);
        }
    }
    open_sealed(keyring, input, &named)
}

/// The names of the named secrets the sealed references of `input` point to.
fn referenced_names(keyring: &Keyring, input: &Map<String, Value>) -> Result<Vec<String>, ReferenceError> {
    let mut names = Vec::new();
    for value in input.values() {
        collect_sealed(value, &mut |sealed| {
            let plain = keyring.open_text(sealed).map_err(ReferenceError::Unopenable)?;
            if let Some(name) = plain.strip_prefix(REFERENCE_MARKER) {
                names.push(name.to_owned());
            }
            Ok(())
        })?;
    }
    names.sort();
    names.dedup();
    Ok(names)
}

/// Puts every sealed credential of `input` in as its secret (a reference as the value `named` holds for
/// it); returns the secrets put in.
pub fn open_sealed(
    keyring: &Keyring,
    input: &mut Map<String, Value>,
    named: &std::collections::HashMap<String, String>,
) -> Result<Vec<String>, ReferenceError> {
    let mut used = Vec::new();
    for value in input.values_mut() {
        put_in(value, &mut |sealed| {
            let plain = keyring.open_text(sealed).map_err(ReferenceError::Unopenable)?;
            let secret = match plain.strip_prefix(REFERENCE_MARKER) {
                Some(name) => named.get(name).cloned().ok_or_else(|| ReferenceError::Unknown(name.to_owned()))?,
                None => plain,
            };
            used.push(secret.clone());
            Ok(secret)
        })?;
    }
    Ok(used)
}

fn collect_sealed(
    value: &Value,
    visit: &mut dyn FnMut(&str) -> Result<(), ReferenceError>,
) -> Result<(), ReferenceError> {
    match value {
        Value::String(text) => {
            for span in sealed_spans(text) {
                visit(&text[span])?;
            }
            Ok(())
        }
        Value::Array(items) => items.iter().try_for_each(|item| collect_sealed(item, visit)),
        Value::Object(members) => members.values().try_for_each(|member| collect_sealed(member, visit)),
        _ => Ok(()),
    }
}

fn put_in(
    value: &mut Value,
    open: &mut dyn FnMut(&str) -> Result<String, ReferenceError>,
) -> Result<(), ReferenceError> {
    match value {
        Value::String(text) if text.contains(TEXT_PREFIX) => {
            *text = replace_sealed(text, open)?.into_owned();
            Ok(())
        }
        Value::Array(items) => items.iter_mut().try_for_each(|item| put_in(item, open)),
        Value::Object(members) => members.values_mut().try_for_each(|member| put_in(member, open)),
        _ => Ok(()),
    }
}

/// `value` with every occurrence of a secret (of at least 4 characters, so that words survive) masked.
pub fn scrub(value: &Value, secrets: &[String]) -> Value {
    replace_secrets(value, secrets, &|_| MASK.to_owned())
}

/// `value` with every occurrence of a secret replaced by what `by` makes of it (longest secrets first).
fn replace_secrets(value: &Value, secrets: &[String], by: &dyn Fn(&str) -> String) -> Value {
    let mut secrets: Vec<&str> = secrets.iter().map(String::as_str).filter(|s| s.len() >= 4).collect();
    if secrets.is_empty() {
        return value.clone();
    }
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    replace_with(value, &secrets, by)
}

fn replace_with(value: &Value, secrets: &[&str], by: &dyn Fn(&str) -> String) -> Value {
    match value {
        Value::String(text) => {
            let mut text = text.clone();
            for secret in secrets {
                if text.contains(secret) {
                    text = text.replace(secret, &by(secret));
                }
            }
            Value::String(text)
        }
        Value::Array(items) => Value::Array(items.iter().map(|item| replace_with(item, secrets, by)).collect()),
        Value::Object(members) => Value::Object(
            members.iter().map(|(key, member)| (key.clone(), replace_with(member, secrets, by))).collect(),
        ),
        other => other.clone(),
    }
}

/// The plain credentials of a stored document (opening the sealed ones when the keyring can).
fn plain_credentials(keyring: Option<&Keyring>, document: &Value) -> Vec<String> {
    let mut found = Vec::new();
    let mut copy = document.clone();
    let _ = slots::rewrite::<()>(&mut copy, &mut |_, slot, text| {
        let secret = match slot {
            Slot::Whole => text,
            Slot::UrlPassword => &text[slots::url_password(text).unwrap_or(0..0)],
        };
        if is_sealed_text(secret) {
            if let Some(plain) = keyring.and_then(|k| k.open_text(secret).ok()) {
                found.push(plain);
            }
        } else if secret != MASK {
            found.push(secret.to_owned());
        }
        Ok(None)
    });
    found
}

/// What [`seal_stored`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// Workflow versions whose credentials were sealed (or moved to the current key).
    pub versions: usize,
    /// History entries and queued action inputs from which credentials were scrubbed.
    pub entries: usize,
}

/// Seals the plain credentials of every stored workflow version (written before sealing existed, or
/// under a node key since rotated out), and scrubs those credentials from the history of the
/// workflow's executions and from the inputs of actions waiting to run (which get the sealed text
/// instead). Run at start-up; a second run finds nothing to do.
pub async fn seal_stored(store: &Store) -> crate::Result<Sealed> {
    let keyring = store.keyring();
    let mut report = Sealed::default();
    let mut tx = store.begin().await?;
    for (workflow_id, version, document) in tx.all_version_documents().await? {
        let plain = plain_credentials(keyring, &document);
        let mut resealed = document.clone();
        // Credentials under an older key are opened and sealed under the current one.
        if let Some(keyring) = keyring {
            let _ = slots::rewrite::<()>(&mut resealed, &mut |_, slot, text| {
                let secret = match slot {
                    Slot::Whole => text,
                    Slot::UrlPassword => &text[slots::url_password(text).unwrap_or(0..0)],
                };
                if !is_sealed_text(secret) || keyring.text_sealed_by_primary(secret) {
                    return Ok(None);
                }
                let Ok(plain) = keyring.open_text(secret) else { return Ok(None) };
                let sealed = keyring.seal_text(&plain);
                Ok(Some(match slot {
                    Slot::Whole => sealed,
                    Slot::UrlPassword => slots::with_url_password(text, &sealed),
                }))
            });
        }
        if seal_document(keyring, &mut resealed, None).is_err() {
            tracing::warn!(workflow = %workflow_id, version, "a stored workflow's credentials could not be sealed");
            continue;
        }
        if resealed != document {
            tx.replace_version_document(&workflow_id, version, &resealed).await?;
            report.versions += 1;
        }
        let plain: Vec<String> = plain.into_iter().filter(|p| !is_sealed_text(p)).collect();
        if !plain.is_empty() {
            // History is masked; an action waiting to run gets the sealed text, which it opens.
            let masked = |entry: &Value| scrub(entry, &plain);
            let sealed = |payload: &Value| match keyring {
                Some(keyring) => replace_secrets(payload, &plain, &|secret| keyring.seal_text(secret)),
                None => payload.clone(),
            };
            report.entries += tx.rewrite_history(&workflow_id, &masked, &sealed).await?;
        }
    }
    // Named secrets under a rotated-out node key move to the current one.
    if let Some(keyring) = keyring {
        for mut secret in tessera_store::SecretStore::secrets(&mut tx).await? {
            if keyring.text_sealed_by_primary(&secret.sealed) {
                continue;
            }
            let Ok(plain) = keyring.open_text(&secret.sealed) else {
                tracing::warn!(secret = %secret.name, "a stored secret cannot be opened with this node's keys");
                continue;
            };
            secret.sealed = keyring.seal_text(&plain);
            tessera_store::SecretStore::put_secret(&mut tx, &secret).await?;
        }
    }
    tx.commit().await?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    fn document(token: &str, url: &str) -> Value {
        json!({"name": "w", "definition": {"start": "A", "steps": {"A": {"type": "action", "actionId": "sp:http",
            "attributes": {"url": url, "authenticationType": "bearer", "bearerToken": token}, "nextStep": "B"},
            "B": {"type": "success"}}}})
    }

    #[test]
    fn a_document_is_sealed_masked_kept_with_the_mask_and_opened_for_the_action() {
        let keyring = Keyring::generate();
        let mut stored = document("tok-secret-1", "https://svc:pa55word@api.example.com/x");
        seal_document(Some(&keyring), &mut stored, None).unwrap();
        let text = stored.to_string();
        assert!(!text.contains("tok-secret-1") && !text.contains("pa55word"), "{text}");
        let shown = masked(&stored);
        assert_eq!(shown.pointer("/definition/steps/A/attributes/bearerToken").unwrap(), MASK);
        assert_eq!(
            shown.pointer("/definition/steps/A/attributes/url").unwrap(),
            "https://svc:********@api.example.com/x"
        );

        // Sent back as read, or with the secret itself again: nothing changes.
        let mut again = shown.clone();
        seal_document(Some(&keyring), &mut again, Some(&stored)).unwrap();
        assert_eq!(again, stored);
        let mut same = document("tok-secret-1", "https://svc:pa55word@api.example.com/x");
        seal_document(Some(&keyring), &mut same, Some(&stored)).unwrap();
        assert_eq!(same, stored);
        // A new secret is a new sealed value; a mask with nothing behind it is refused.
        let mut changed = document("tok-secret-2", "https://svc:pa55word@api.example.com/x");
        seal_document(Some(&keyring), &mut changed, Some(&stored)).unwrap();
        assert_ne!(changed, stored);
        let diff = (masked_for_diff(&stored).to_string(), masked_for_diff(&changed).to_string());
        assert_ne!(diff.0, diff.1, "a changed secret shows in a diff");
        let mut unknown = document(MASK, "https://api.example.com/x");
        let error = seal_document(Some(&keyring), &mut unknown, None).unwrap_err();
        assert_eq!(
            error,
            SealError::MaskWithoutSecret { pointer: "/definition/steps/A/attributes/bearerToken".into() }
        );

        // The action opens what it needs, and learns what its answer must not repeat.
        let mut input = stored.pointer("/definition/steps/A/attributes").unwrap().as_object().unwrap().clone();
        let opened = open_sealed(&keyring, &mut input, &std::collections::HashMap::new()).unwrap();
        assert_eq!(input["bearerToken"], "tok-secret-1");
        assert_eq!(input["url"], "https://svc:pa55word@api.example.com/x");
        assert_eq!(opened, ["pa55word", "tok-secret-1"]);
        let echoed = json!({"body": {"seen": "Bearer tok-secret-1", "ok": true}});
        assert_eq!(scrub(&echoed, &opened), json!({"body": {"seen": "Bearer ********", "ok": true}}));
        let stranger = Keyring::generate();
        let mut again = stored.pointer("/definition/steps/A/attributes").unwrap().as_object().unwrap().clone();
        assert!(open_sealed(&stranger, &mut again, &std::collections::HashMap::new()).is_err(), "another key");

        // A reference the author wrote resolves; the same text arriving as data stays text.
        let mut referring = json!({"definition": {"steps": {"A": {"attributes": {"bearerToken": "{{secret:bot}}"}}}}});
        seal_references(Some(&keyring), &mut referring);
        let mut input = referring.pointer("/definition/steps/A/attributes").unwrap().as_object().unwrap().clone();
        input.insert("url".into(), json!("https://evil.example/?s={{secret:bot}}"));
        let named = std::collections::HashMap::from([("bot".to_owned(), "bot-token-value".to_owned())]);
        assert_eq!(referenced_names(&keyring, &input).unwrap(), ["bot"]);
        open_sealed(&keyring, &mut input, &named).unwrap();
        assert_eq!(input["bearerToken"], "bot-token-value");
        assert_eq!(input["url"], "https://evil.example/?s={{secret:bot}}", "data is never resolved");
    }
}
