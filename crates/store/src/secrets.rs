//! Connector secrets sealed at rest: the node's [`Keyring`], the `{"$sealed": "v1:<key id>:<base64>"}`
//! envelope that stands in a source document for a secret, and opening a source's connector attributes
//! to build its connector.
//!
//! A sealed value is XChaCha20-Poly1305 over the secret's UTF-8 bytes: a random 192-bit nonce (so random
//! nonces never collide in practice, however many values one key seals) followed by the ciphertext and
//! tag, in standard base64. The associated data names the format and the attribute, so a value cut from
//! `bindPassword` and pasted into `token` does not open. The key id is a fingerprint of the key, so a
//! value says which key it needs; a keyring holds the key that seals and any older ones that still
//! open, which is how a key is rotated ([`reseal_sources`] moves every value to the sealing key).

use std::fmt;
use std::io::Write;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::{Aead, Generate, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::{CatalogKind, CatalogObject, CatalogStore, Error, Result, Store};

/// The connector attributes that hold secrets, whatever the connector: the SCIM connector's bearer
/// `token` and OAuth2 `clientSecret`, the LDAP connector's `bindPassword`, and the generic `password`.
pub const SECRET_ATTRIBUTES: &[&str] = &["token", "clientSecret", "bindPassword", "password"];

/// The name of the key file a node generates in its data directory when it is given no key.
pub const KEY_FILE: &str = "secret.key";

/// The envelope's one member.
const SEALED: &str = "$sealed";
/// How a secret sealed as text begins (a credential in a workflow document).
pub const TEXT_PREFIX: &str = "$sealed:";
/// The associated data of secrets sealed as text: they are a workflow's credentials.
const TEXT_FIELD: &str = "workflow credential";
/// The envelope format: XChaCha20-Poly1305, nonce first, the attribute's name as associated data.
const FORMAT: &str = "v1";
const KEY_BYTES: usize = 32;
const NONCE_BYTES: usize = 24;

/// One 256-bit key and its id.
#[derive(Clone)]
struct SecretKey {
    id: String,
    cipher: XChaCha20Poly1305,
}

impl SecretKey {
    fn new(bytes: &Key) -> Self {
        // A domain-separated hash: the id names the key without being usable as it.
        let digest = Sha256::new().chain_update(b"tessera secret key id\0").chain_update(bytes.as_slice()).finalize();
        let id = digest.iter().take(6).map(|byte| format!("{byte:02x}")).collect();
        Self { id, cipher: XChaCha20Poly1305::new(bytes) }
    }
}

/// The keys a node seals and opens connector secrets with: the first seals, every one opens.
#[derive(Clone)]
pub struct Keyring {
    keys: Vec<SecretKey>,
}

/// Only the key ids.
impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring").field("key_ids", &self.ids()).finish()
    }
}

/// Why a sealed value does not open. No variant carries the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    #[error("this node holds no secret key")]
    NoKeyring,
    #[error("it is not a sealed value Tessera wrote (expected {FORMAT}:<key id>:<base64>)")]
    Malformed,
    #[error("it was sealed under key {needed}, which is not among this node's keys ({held}); give this node that key")]
    UnknownKey { needed: String, held: String },
    #[error("it does not open under key {0}: it was altered, or sealed for another attribute")]
    Rejected(String),
}

impl Keyring {
    /// A keyring of one new random key.
    pub fn generate() -> Self {
        Self { keys: vec![SecretKey::new(&Key::generate())] }
    }

    /// Keys in standard base64 of 32 bytes each, separated by commas or white space; the first seals.
    pub fn parse(text: &str) -> Result<Self> {
        let mut keys: Vec<SecretKey> = Vec::new();
        for (index, item) in text.split(|c: char| c == ',' || c.is_whitespace()).filter(|s| !s.is_empty()).enumerate() {
            let bytes = STANDARD.decode(item).ok().and_then(|bytes| Key::try_from(bytes.as_slice()).ok());
            let bytes = bytes.ok_or_else(|| {
                Error::SecretKey(format!(
                    "secret key {} is not the standard base64 of {KEY_BYTES} bytes (make one with `head -c 32 /dev/urandom | base64`)",
                    index + 1
                ))
            })?;
            let key = SecretKey::new(&bytes);
            if !keys.iter().any(|known| known.id == key.id) {
                keys.push(key);
            }
        }
        if keys.is_empty() {
            return Err(Error::SecretKey("no secret key given".into()));
        }
        Ok(Self { keys })
    }

    /// Reads the keys of a key file (as [`Keyring::parse`] takes them).
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|reason| Error::KeyFile { path: path.display().to_string(), reason })?;
        Self::parse(&text).map_err(|error| match error {
            Error::SecretKey(reason) => Error::SecretKey(format!("{}: {reason}", path.display())),
            other => other,
        })
    }

    /// Reads the key file at `path`, first writing a new random key there (readable by its owner only)
    /// when there is none. The flag says whether it was made now.
    ///
    /// The key is written whole to a file of its own and then linked in under `path`, which fails if
    /// the name exists: nodes starting together on one data directory all end up with the one key,
    /// and none ever reads a half-written file.
    pub fn load_or_create(path: &Path) -> Result<(Self, bool)> {
        let file_error = |reason| Error::KeyFile { path: path.display().to_string(), reason };
        match std::fs::metadata(path) {
            Ok(_) => return Ok((Self::read(path)?, false)),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => return Err(file_error(error)),
        }
        let key = Key::generate();
        let draft = path.with_extension(format!("new-{}", uuid::Uuid::new_v4().simple()));
        let written = write_private(&draft, &format!("{}\n", STANDARD.encode(key.as_slice())));
        let linked = written.and_then(|()| std::fs::hard_link(&draft, path));
        let _ = std::fs::remove_file(&draft);
        match linked {
            Ok(()) => {
                // The directory entry must survive a crash as surely as the secrets sealed under it.
                if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
                    std::fs::File::open(dir).and_then(|dir| dir.sync_all()).map_err(file_error)?;
                }
                Ok((Self { keys: vec![SecretKey::new(&key)] }, true))
            }
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok((Self::read(path)?, false)),
            Err(error) => Err(file_error(error)),
        }
    }

    /// This keyring, also opening what `older`'s keys sealed (they never seal): a rotation in code.
    pub fn with_older(mut self, older: &Keyring) -> Self {
        for key in &older.keys {
            if !self.keys.iter().any(|known| known.id == key.id) {
                self.keys.push(key.clone());
            }
        }
        self
    }

    /// The ids of the keys, the sealing key first.
    pub fn ids(&self) -> Vec<&str> {
        self.keys.iter().map(|key| key.id.as_str()).collect()
    }

    /// `plaintext` sealed under the sealing key for the attribute `field`, as an envelope.
    pub fn seal(&self, field: &str, plaintext: &str) -> Value {
        let key = &self.keys[0];
        let nonce = XNonce::generate();
        let aad = associated_data(field);
        let ciphertext = key
            .cipher
            .encrypt(&nonce, Payload { msg: plaintext.as_bytes(), aad: &aad })
            .expect("ChaCha20 refuses only messages past 256 GiB, which no JSON string reaches");
        let mut sealed = Vec::with_capacity(NONCE_BYTES + ciphertext.len());
        sealed.extend_from_slice(nonce.as_slice());
        sealed.extend_from_slice(&ciphertext);
        json!({ SEALED: format!("{FORMAT}:{}:{}", key.id, STANDARD.encode(sealed)) })
    }

    /// The secret an envelope sealed for the attribute `field`.
    pub fn open(&self, field: &str, envelope: &Value) -> Result<String, OpenError> {
        let (key_id, bytes) = parse_envelope(envelope).ok_or(OpenError::Malformed)?;
        let key = self
            .keys
            .iter()
            .find(|key| key.id == key_id)
            .ok_or_else(|| OpenError::UnknownKey { needed: key_id.to_owned(), held: self.ids().join(", ") })?;
        let (nonce, ciphertext) = bytes.split_at(NONCE_BYTES);
        let nonce = XNonce::try_from(nonce).map_err(|_| OpenError::Malformed)?;
        let aad = associated_data(field);
        let plain = key
            .cipher
            .decrypt(&nonce, Payload { msg: ciphertext, aad: &aad })
            .map_err(|_| OpenError::Rejected(key.id.clone()))?;
        String::from_utf8(plain).map_err(|_| OpenError::Rejected(key.id.clone()))
    }

    /// `plaintext` sealed under the sealing key as text that can stand where the secret stood in a
    /// workflow document: `$sealed:v1:<key id>:<base64url>`, which is also a valid URL password.
    pub fn seal_text(&self, plaintext: &str) -> String {
        let sealed = self.seal(TEXT_FIELD, plaintext);
        let text = sealed_text(&sealed).unwrap_or_default();
        let (head, data) = text.rsplit_once(':').unwrap_or_default();
        let bytes = STANDARD.decode(data).unwrap_or_default();
        format!("{TEXT_PREFIX}{head}:{}", URL_SAFE_NO_PAD.encode(bytes))
    }

    /// The secret a text made by [`Keyring::seal_text`] holds.
    pub fn open_text(&self, text: &str) -> Result<String, OpenError> {
        let rest = text.strip_prefix(TEXT_PREFIX).ok_or(OpenError::Malformed)?;
        let (head, data) = rest.rsplit_once(':').ok_or(OpenError::Malformed)?;
        let bytes = URL_SAFE_NO_PAD.decode(data).map_err(|_| OpenError::Malformed)?;
        self.open(TEXT_FIELD, &json!({ SEALED: format!("{head}:{}", STANDARD.encode(bytes)) }))
    }

    /// Whether a sealed text was sealed under the sealing key.
    pub fn text_sealed_by_primary(&self, text: &str) -> bool {
        text.strip_prefix(TEXT_PREFIX)
            .and_then(|rest| rest.strip_prefix(FORMAT))
            .and_then(|rest| rest.strip_prefix(':'))
            .is_some_and(|rest| rest.split(':').next() == Some(self.keys[0].id.as_str()))
    }

    /// Whether this keyring holds the key `envelope` was sealed under (whatever the field it was
    /// sealed for).
    pub fn holds_key_of(&self, envelope: &Value) -> bool {
        parse_envelope(envelope).is_some_and(|(key_id, _)| self.keys.iter().any(|key| key.id == key_id))
    }

    /// Whether `envelope` was sealed under the sealing key.
    pub fn sealed_by_primary(&self, envelope: &Value) -> bool {
        parse_envelope(envelope).is_some_and(|(key_id, _)| key_id == self.keys[0].id)
    }
}

/// Writes a new file only its owner may read, durably.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

fn associated_data(field: &str) -> Vec<u8> {
    format!("tessera connector secret {FORMAT} {field}").into_bytes()
}

/// The key id and the nonce-and-ciphertext bytes of an envelope.
fn parse_envelope(envelope: &Value) -> Option<(&str, Vec<u8>)> {
    let text = sealed_text(envelope)?;
    let rest = text.strip_prefix(FORMAT)?.strip_prefix(':')?;
    let (key_id, data) = rest.split_once(':')?;
    let bytes = STANDARD.decode(data).ok().filter(|bytes| bytes.len() > NONCE_BYTES)?;
    Some((key_id, bytes))
}

/// The text of an envelope (`{"$sealed": "…"}`); `None` for any other value.
pub fn sealed_text(value: &Value) -> Option<&str> {
    match value.as_object() {
        Some(members) if members.len() == 1 => members.get(SEALED).and_then(Value::as_str),
        _ => None,
    }
}

/// Whether a string is a secret sealed as text.
pub fn is_sealed_text(text: &str) -> bool {
    text.starts_with(TEXT_PREFIX)
}

/// Whether `value` is a sealed envelope.
pub fn is_sealed(value: &Value) -> bool {
    sealed_text(value).is_some()
}

/// The source's `connectorAttributes` with every sealed secret opened, to build its connector from.
/// A value that does not open is an error naming the source and the attribute, never the value.
pub fn opened_attributes(keyring: Option<&Keyring>, source: &CatalogObject) -> Result<Value> {
    let mut attributes = source.document.get("connectorAttributes").cloned().unwrap_or_else(|| json!({}));
    if let Some(members) = attributes.as_object_mut() {
        for field in SECRET_ATTRIBUTES {
            let Some(value) = members.get_mut(*field).filter(|value| is_sealed(value)) else {
                continue;
            };
            let opened = keyring
                .ok_or(OpenError::NoKeyring)
                .and_then(|keyring| keyring.open(field, value))
                .map_err(|reason| unopenable(source, field, reason))?;
            *value = Value::String(opened);
        }
    }
    Ok(attributes)
}

fn unopenable(source: &CatalogObject, field: &str, reason: OpenError) -> Error {
    Error::Unsealable { source_name: source.name.clone(), field: field.to_owned(), reason }
}

/// Seals, under the sealing key, every secret of `attributes` that is plain text or sealed under an
/// older key. True when anything changed.
fn reseal_attributes(keyring: &Keyring, source: &CatalogObject, attributes: &mut Map<String, Value>) -> Result<bool> {
    let mut changed = false;
    for field in SECRET_ATTRIBUTES {
        let Some(value) = attributes.get_mut(*field) else { continue };
        let plaintext = match &mut *value {
            Value::String(text) => std::mem::take(text),
            sealed if is_sealed(sealed) && !keyring.sealed_by_primary(sealed) => {
                keyring.open(field, sealed).map_err(|reason| unopenable(source, field, reason))?
            }
            _ => continue,
        };
        *value = keyring.seal(field, &plaintext);
        changed = true;
    }
    Ok(changed)
}

/// What [`reseal_sources`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Resealed {
    /// Sources whose secrets were sealed or moved to the sealing key.
    pub sources: usize,
    /// Why the secrets of other sources stayed as they were (each message names a source and an
    /// attribute).
    pub unopenable: Vec<String>,
}

/// Seals every source's plain-text secrets (written before sealing existed, or straight into the
/// database) and moves those sealed under an older key to the sealing key, in one transaction. A
/// source's modification time stays: its configuration did not change.
pub async fn reseal_sources(store: &Store) -> Result<Resealed> {
    let Some(keyring) = store.keyring() else {
        return Ok(Resealed::default());
    };
    let mut tx = store.begin().await?;
    let mut report = Resealed::default();
    for mut source in tx.all_objects(CatalogKind::Source).await? {
        let snapshot = source.clone();
        let Some(attributes) = source.document.get_mut("connectorAttributes").and_then(Value::as_object_mut) else {
            continue;
        };
        match reseal_attributes(keyring, &snapshot, attributes) {
            Ok(true) => {
                tx.update_object(&source).await?;
                report.sources += 1;
            }
            Ok(false) => {}
            Err(error) => report.unopenable.push(error.to_string()),
        }
    }
    tx.commit().await?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_sealed_value_opens_to_its_secret_and_never_shows_it() {
        let keyring = Keyring::generate();
        let sealed = keyring.seal("token", "s3cret-token");
        let text = sealed_text(&sealed).unwrap();
        assert!(text.starts_with(&format!("v1:{}:", keyring.ids()[0])), "{text}");
        assert!(!text.contains("s3cret"), "{text}");
        assert_ne!(keyring.seal("token", "s3cret-token"), sealed, "each sealing has its own nonce");
        assert_eq!(keyring.open("token", &sealed).unwrap(), "s3cret-token");
    }

    #[test]
    fn a_value_opens_only_for_its_attribute_and_unaltered() {
        let keyring = Keyring::generate();
        let sealed = keyring.seal("bindPassword", "pw");
        let id = keyring.ids()[0].to_owned();
        assert_eq!(keyring.open("token", &sealed), Err(OpenError::Rejected(id.clone())));
        let text = sealed_text(&sealed).unwrap();
        let (head, data) = text.rsplit_once(':').unwrap();
        let mut bytes = STANDARD.decode(data).unwrap();
        bytes[NONCE_BYTES] ^= 1;
        let altered = json!({ SEALED: format!("{head}:{}", STANDARD.encode(bytes)) });
        assert_eq!(keyring.open("bindPassword", &altered), Err(OpenError::Rejected(id)));
        assert_eq!(keyring.open("bindPassword", &json!({ SEALED: "v1:abc" })), Err(OpenError::Malformed));
        assert_eq!(keyring.open("bindPassword", &json!("pw")), Err(OpenError::Malformed));
    }

    #[test]
    fn a_secret_sealed_as_text_opens_and_fits_in_a_url() {
        let keyring = Keyring::generate();
        let text = keyring.seal_text("pa55:w/rd");
        assert!(is_sealed_text(&text) && !text.contains("pa55"), "{text}");
        assert!(text.chars().all(|c| c.is_ascii_alphanumeric() || "$:-_".contains(c)), "{text}");
        assert_eq!(keyring.open_text(&text).unwrap(), "pa55:w/rd");
        assert!(keyring.text_sealed_by_primary(&text));
        assert_eq!(keyring.open_text("pa55"), Err(OpenError::Malformed));
        assert!(Keyring::generate().open_text(&text).is_err(), "another key does not open it");
    }

    #[test]
    fn keys_parse_from_base64_and_the_first_seals() {
        let old = STANDARD.encode([7u8; 32]);
        let new = STANDARD.encode([9u8; 32]);
        let before = Keyring::parse(&old).unwrap();
        let sealed = before.seal("token", "t");
        let rotated = Keyring::parse(&format!("{new}, {old}\n")).unwrap();
        assert_eq!(rotated.ids()[1], before.ids()[0]);
        assert_eq!(rotated.open("token", &sealed).unwrap(), "t", "an older key still opens");
        assert!(rotated.sealed_by_primary(&rotated.seal("token", "t")));
        assert!(!rotated.sealed_by_primary(&sealed));
        let error = Keyring::parse(&new).unwrap().open("token", &sealed).unwrap_err();
        assert!(matches!(error, OpenError::UnknownKey { .. }), "{error}");
        assert!(error.to_string().contains(before.ids()[0]), "{error}");
        for bad in ["", "not base64!", &STANDARD.encode([1u8; 16])] {
            assert!(matches!(Keyring::parse(bad), Err(Error::SecretKey(_))), "{bad:?}");
        }
        assert!(!format!("{rotated:?}").contains(&new), "Debug shows ids only");
    }

    #[test]
    fn a_key_file_is_made_once_for_its_owner_and_then_reused() {
        let dir = std::env::temp_dir().join(format!("tessera-key-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(KEY_FILE);
        let (first, created) = Keyring::load_or_create(&path).unwrap();
        assert!(created);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let (again, created) = Keyring::load_or_create(&path).unwrap();
        assert!(!created);
        assert_eq!(again.ids(), first.ids());
        assert_eq!(again.open("token", &first.seal("token", "t")).unwrap(), "t");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn nodes_starting_together_share_one_new_key() {
        let dir = std::env::temp_dir().join(format!("tessera-key-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(KEY_FILE);
        let starts: Vec<_> = (0..8)
            .map(|_| {
                let path = path.clone();
                std::thread::spawn(move || Keyring::load_or_create(&path).unwrap())
            })
            .collect();
        let keyrings: Vec<(Keyring, bool)> = starts.into_iter().map(|start| start.join().unwrap()).collect();
        assert_eq!(keyrings.iter().filter(|(_, created)| *created).count(), 1, "one made it");
        assert!(keyrings.iter().all(|(keyring, _)| keyring.ids() == keyrings[0].0.ids()), "all hold it");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1, "no draft is left behind");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
