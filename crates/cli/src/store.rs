//! Where the commands that work on the database find it: a data directory holding SQLite, or a
//! PostgreSQL URL, as `tessera serve` takes them; and the secret key that seals connector secrets.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;
use tessera_store::secrets::KEY_FILE;
use tessera_store::{Keyring, Store};

/// The environment variable that holds the secret key itself (never a flag, which `ps` would show).
const SECRET_KEY_ENV: &str = "TESSERA_SECRET_KEY";

#[derive(Debug, Clone, Args)]
pub(crate) struct StoreArgs {
    /// Where the SQLite database lives.
    #[arg(long, env = "TESSERA_DATA_DIR", default_value = "tessera-data")]
    pub data_dir: PathBuf,
    /// A PostgreSQL URL to use instead of the local SQLite file.
    #[arg(long, env = "TESSERA_DATABASE", hide_env_values = true)]
    pub database: Option<String>,
    /// A file holding the key connector secrets are sealed with (see `tessera serve --help`).
    #[arg(long, env = "TESSERA_SECRET_KEY_FILE")]
    pub secret_key_file: Option<PathBuf>,
}

impl StoreArgs {
    pub(crate) async fn open(&self) -> Result<Store> {
        open(&self.data_dir, self.database.as_deref(), self.secret_key_file.as_deref()).await
    }
}

/// Opens (and migrates) the database in `data_dir`, or at `database` when given, holding the secret key
/// [`keyring`] finds.
pub(crate) async fn open(data_dir: &Path, database: Option<&str>, key_file: Option<&Path>) -> Result<Store> {
    let store = match database {
        Some(url) => Store::connect(url)
            .await
            .with_context(|| format!("cannot open the database {}", tessera_store::redact_url(url)))?,
        None => Store::open_data_dir(data_dir)
            .await
            .with_context(|| format!("cannot open the database in {}", data_dir.display()))?,
    };
    // After the database: a URL that cannot work is refused before a key file is made for it.
    Ok(store.with_keyring(keyring(data_dir, key_file, database.is_some())?))
}

/// The keys that seal connector secrets: `TESSERA_SECRET_KEY` (base64 of 32 bytes; more keys after
/// commas still open what they sealed), else the key file given, else `secret.key` in the data
/// directory, made (readable by its owner only) on first start so that a first run needs no setup.
fn keyring(data_dir: &Path, key_file: Option<&Path>, shared_database: bool) -> Result<Keyring> {
    if let Some(text) = std::env::var(SECRET_KEY_ENV).ok().filter(|text| !text.trim().is_empty()) {
        return Keyring::parse(&text).with_context(|| format!("{SECRET_KEY_ENV} is not a usable key"));
    }
    if let Some(path) = key_file {
        return Keyring::read(path).context("--secret-key-file (or TESSERA_SECRET_KEY_FILE) names no usable key");
    }
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create the data directory {}", data_dir.display()))?;
    let path = data_dir.join(KEY_FILE);
    let (keyring, created) = Keyring::load_or_create(&path)?;
    if created {
        // Stderr: a command's standard output may be JSON (`--json`).
        eprintln!(
            "Generated the key that seals connector secrets: {}. Back it up with the database: stored secrets do not open without it.",
            path.display()
        );
        if shared_database {
            eprintln!(
                "Every node on this PostgreSQL database needs the same key: give them all {SECRET_KEY_ENV} or --secret-key-file."
            );
        }
    }
    Ok(keyring)
}
