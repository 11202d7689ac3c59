//! Where the commands that work on the database find it: a data directory holding SQLite, or a
//! PostgreSQL URL, as `tessera serve` takes them; and the secret key that seals connector secrets.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;
use tessera_governance::ImportDirs;
use tessera_store::secrets::KEY_FILE;
use tessera_store::{Keyring, Store};

/// The import directory in the data directory, used when none is configured.
pub(crate) const IMPORTS: &str = "imports";

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
    /// Directories delimited-file sources may read the files they name from (see `tessera serve --help`).
    #[arg(long = "import-dir", env = "TESSERA_IMPORT_DIRS", value_delimiter = ':')]
    pub import_dirs: Vec<PathBuf>,
}

impl StoreArgs {
    pub(crate) async fn open(&self) -> Result<Store> {
        open(&self.data_dir, self.database.as_deref(), self.secret_key_file.as_deref()).await
    }

    /// Where delimited-file sources may read.
    pub(crate) fn imports(&self) -> Result<ImportDirs> {
        imports(&self.data_dir, &self.import_dirs)
    }
}

/// The import directories: those configured, else `imports` in the data directory, made (private) if
/// it is missing so that there is always somewhere to put a file.
pub(crate) fn imports(data_dir: &Path, configured: &[PathBuf]) -> Result<ImportDirs> {
    if !configured.is_empty() {
        return Ok(ImportDirs::new(configured.iter().cloned()));
    }
    let dir = data_dir.join(IMPORTS);
    tessera_store::files::private_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(ImportDirs::new([dir]))
}

/// Opens (and migrates) the database in `data_dir`, or at `database` when given, holding the secret key
/// [`keyring`] finds.
pub(crate) async fn open(data_dir: &Path, database: Option<&str>, key_file: Option<&Path>) -> Result<Store> {
    usable(data_dir, database.is_none())?;
    secure(data_dir)?;
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

/// Checks, before anything is opened, that this account can use the data directory (and the SQLite
/// file in it): each way it cannot gets one message naming the path and the fix, rather than the
/// database driver's retries of "unable to open database file".
pub(crate) fn usable(data_dir: &Path, sqlite: bool) -> Result<()> {
    let shown = data_dir.display();
    let elsewhere = "or choose another directory with --data-dir (TESSERA_DATA_DIR)";
    match std::fs::metadata(data_dir) {
        Ok(found) if !found.is_dir() => {
            anyhow::bail!("the data directory {shown} is a file, not a directory: move the file away, {elsewhere}")
        }
        Ok(_) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            tessera_store::files::private_dir_all(data_dir).map_err(|error| {
                anyhow::anyhow!(
                    "cannot create the data directory {shown} ({error}): create it for this account, {elsewhere}"
                )
            })?;
        }
        Err(error) => anyhow::bail!("cannot use the data directory {shown} ({error}): {elsewhere}"),
    }
    // Writable: a probe file, made and removed (permission bits alone do not say, for root or ACLs).
    let probe = data_dir.join(format!(".write-check-{}", std::process::id()));
    match tessera_store::files::create_private(&probe) {
        Ok(_) => std::fs::remove_file(&probe).ok(),
        Err(error) => anyhow::bail!(
            "cannot write in the data directory {shown} ({error}): run Tessera as the account that owns it, {elsewhere}"
        ),
    };
    let file = data_dir.join("tessera.db");
    if sqlite
        && file.exists()
        && let Err(error) = std::fs::OpenOptions::new().read(true).write(true).open(&file)
    {
        anyhow::bail!(
            "the database {} cannot be written by this account ({error}): run Tessera as the account that owns it",
            file.display()
        );
    }
    Ok(())
}

/// Takes `serve.lock` in the data directory, naming this process in it, for as long as the returned
/// file stays open; the operating system lets go of it however the process ends. `Ok(Err(who))` when
/// another process holds it (`who`: " (process 123)", or empty when it cannot be read).
pub(crate) fn lock_data_dir(data_dir: &Path) -> Result<std::result::Result<std::fs::File, String>> {
    use std::io::Write;
    let path = data_dir.join("serve.lock");
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&path).with_context(|| format!("cannot open {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {
            file.set_len(0)?;
            writeln!(file, "{}", std::process::id())?;
            Ok(Ok(file))
        }
        Err(std::fs::TryLockError::WouldBlock) => {
            let holder = std::fs::read_to_string(&path).unwrap_or_default();
            let holder = holder.trim();
            Ok(Err(if holder.is_empty() { String::new() } else { format!(" (process {holder})") }))
        }
        Err(std::fs::TryLockError::Error(error)) => {
            Err(error).with_context(|| format!("cannot lock {}", path.display()))
        }
    }
}

/// Makes the data directory private (0700, its files 0600), saying what it tightened: an install made
/// by an older Tessera, or under a loose umask, left the database readable by every local account.
fn secure(data_dir: &Path) -> Result<()> {
    let tightened = tessera_store::files::secure_data_dir(data_dir)?;
    for (path, old) in &tightened.paths {
        // Stderr: a command's standard output may be JSON (`--json`).
        eprintln!("Made {} private to its owner (it was {old:04o}, readable by other accounts)", path.display());
    }
    Ok(())
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
    let path = data_dir.join(KEY_FILE);
    let (keyring, created) = Keyring::load_or_create(&path)?;
    if created {
        // Stderr: a command's standard output may be JSON (`--json`).
        eprintln!(
            "Generated the key that seals connector secrets: {}. Back it up with the database: stored secrets (connector secrets, signing keys, workflow credentials) do not open without it.",
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
