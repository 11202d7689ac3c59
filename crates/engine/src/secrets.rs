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

/// Whether any string in `value` holds a sealed credential or a reference to a stored secret (without
/// allocating: this is asked of every action's input).
pub fn holds_sealed(value: &Value) -> bool {
    match value {
        Value::String(text) => text.contains(TEXT_PREFIX) || text.contains(slots::REFERENCE_PREFIX),
        Value::Array(items) => items.iter().any(holds_sealed),
        Value::Object(members) => members.values().any(holds_sealed),
        _ => false,
    }
}

/// Opens the sealed credentials of an action's resolved input in place, for the action alone; returns
/// the secrets opened, which its answer must not carry.
pub fn open_input(keyring: Option<&Keyring>, input: &mut Map<String, Value>) -> Result<Vec<String>, OpenError> {
    let mut opened = Vec::new();
    for value in input.values_mut() {
        open_value(keyring, value, &mut opened)?;
    }
    Ok(opened)
}

fn open_value(keyring: Option<&Keyring>, value: &mut Value, opened: &mut Vec<String>) -> Result<(), OpenError> {
    match value {
        Value::String(text) if text.contains(TEXT_PREFIX) => {
            let keyring = keyring.ok_or(OpenError::NoKeyring)?;
            let plain = replace_sealed(text, &mut |sealed| {
                let plain = keyring.open_text(sealed)?;
                opened.push(plain.clone());
                Ok(plain)
            })?
            .into_owned();
            *text = plain;
        }
        Value::Array(items) => {
            for item in items {
                open_value(keyring, item, opened)?;
            }
        }
        Value::Object(members) => {
            for member in members.values_mut() {
                open_value(keyring, member, opened)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Why a reference to a stored secret could not be put in.
#[derive(Debug, thiserror::Error)]
pub enum ReferenceError {
    #[error("there is no secret named `{0}`; create it with PUT /tessera/v1/secrets/{0}")]
    Unknown(String),
    #[error("the secret `{name}` cannot be opened: {reason}")]
    Unopenable { name: String, reason: OpenError },
    #[error(transparent)]
    Store(#[from] tessera_store::Error),
}

/// Puts the stored secrets that `{{secret:<name>}}` references in an action's input name, opened, in
/// place; returns the secrets put in, which the action's answer must not carry.
pub async fn resolve_references(store: &Store, input: &mut Map<String, Value>) -> Result<Vec<String>, ReferenceError> {
    let mut names = Vec::new();
    for value in input.values() {
        collect_references(value, &mut names);
    }
    if names.is_empty() {
        return Ok(Vec::new());
    }
    names.sort();
    names.dedup();
    let mut tx = store.begin().await?;
    let mut plain = std::collections::HashMap::new();
    for name in &names {
        let record = tessera_store::SecretStore::secret(&mut tx, name)
            .await?
            .ok_or_else(|| ReferenceError::Unknown(name.clone()))?;
        let keyring =
            store.keyring().ok_or(ReferenceError::Unopenable { name: name.clone(), reason: OpenError::NoKeyring })?;
        let value = keyring
            .open_text(&record.sealed)
            .map_err(|reason| ReferenceError::Unopenable { name: name.clone(), reason })?;
        plain.insert(name.clone(), value);
    }
    drop(tx);
    for value in input.values_mut() {
        replace_references(value, &plain);
    }
    Ok(plain.into_values().collect())
}

fn collect_references(value: &Value, names: &mut Vec<String>) {
    match value {
        Value::String(text) => names.extend(slots::secret_references(text).into_iter().map(|(_, n)| n.to_owned())),
        Value::Array(items) => items.iter().for_each(|item| collect_references(item, names)),
        Value::Object(members) => members.values().for_each(|member| collect_references(member, names)),
        _ => {}
    }
}

fn replace_references(value: &mut Value, plain: &std::collections::HashMap<String, String>) {
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
                out.push_str(plain.get(name).map_or("", String::as_str));
                last = range.end;
            }
            out.push_str(&text[last..]);
            *text = out;
        }
        Value::Array(items) => items.iter_mut().for_each(|item| replace_references(item, plain)),
        Value::Object(members) => members.values_mut().for_each(|member| replace_references(member, plain)),
        _ => {}
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
        let opened = open_input(Some(&keyring), &mut input).unwrap();
        assert_eq!(input["bearerToken"], "tok-secret-1");
        assert_eq!(input["url"], "https://svc:pa55word@api.example.com/x");
        assert_eq!(opened, ["pa55word", "tok-secret-1"]);
        let echoed = json!({"body": {"seen": "Bearer tok-secret-1", "ok": true}});
        assert_eq!(scrub(&echoed, &opened), json!({"body": {"seen": "Bearer ********", "ok": true}}));
        assert!(
            open_input(
                None,
                &mut stored.pointer("/definition/steps/A/attributes").unwrap().as_object().unwrap().clone()
            )
            .is_err()
        );
    }
}
