//! `tessera backup FILE` and `tessera restore FILE`: a consistent copy of a SQLite deployment, made
//! while its server runs, and putting one back (upgraded to this build's schema, with the database
//! it replaces kept aside). The node key is never in a backup; both commands say where it is.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Args;
use tessera_model::Clock;
use tessera_store::{Keyring, SecurityStore, Store};

use crate::store::StoreArgs;

#[derive(Debug, Args)]
pub(crate) struct BackupArgs {
    /// The file to write: a SQLite database (it must not exist yet).
    file: PathBuf,
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(Debug, Args)]
pub(crate) struct RestoreArgs {
    /// A file `tessera backup` wrote.
    file: PathBuf,
    #[command(flatten)]
    store: StoreArgs,
}

const DATABASE: &str = "tessera.db";

fn postgres_refused(what: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "tessera {what} works on a SQLite data directory; with PostgreSQL use pg_dump and pg_restore (the README's \
         \"Backups\" says how)"
    )
}

/// Where the node key that opens this deployment's secrets is.
fn key_location(store: &StoreArgs) -> String {
    if std::env::var("TESSERA_SECRET_KEY").is_ok_and(|key| !key.trim().is_empty()) {
        return "the key in TESSERA_SECRET_KEY".to_owned();
    }
    let file = store.secret_key_file.clone().unwrap_or_else(|| store.data_dir.join(tessera_store::secrets::KEY_FILE));
    file.display().to_string()
}

pub(crate) fn backup(args: &BackupArgs) -> Result<ExitCode> {
    if args.store.database.is_some() {
        return Err(postgres_refused("backup"));
    }
    let database = args.store.data_dir.join(DATABASE);
    if !database.is_file() {
        bail!("there is no database to back up in {}", args.store.data_dir.display());
    }
    if args.file.exists() {
        bail!("{} exists: name a new file (a backup never overwrites one)", args.file.display());
    }
    // Private before anything is written into it: the backup holds everything the database does.
    tessera_store::files::create_private(&args.file)
        .with_context(|| format!("cannot create {}", args.file.display()))?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let schema = match runtime.block_on(tessera_store::backup::backup_sqlite(&database, &args.file)) {
        Ok(schema) => schema,
        Err(error) => {
            std::fs::remove_file(&args.file).ok();
            return Err(error).with_context(|| format!("cannot back up {}", database.display()));
        }
    };
    let size = std::fs::metadata(&args.file).map(|m| m.len()).unwrap_or(0);
    println!(
        "Backed up {} to {} ({:.1} MB, schema {schema}).",
        database.display(),
        args.file.display(),
        size as f64 / 1e6
    );
    println!(
        "The node key is not in the backup: keep {} with it. Without that key the backup's sealed secrets \
         (connector secrets, token signing keys, workflow credentials, named secrets) cannot be opened.",
        key_location(&args.store)
    );
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn restore(args: &RestoreArgs) -> Result<ExitCode> {
    if args.store.database.is_some() {
        return Err(postgres_refused("restore"));
    }
    let data_dir = args.store.data_dir.as_path();
    if !args.file.is_file() {
        bail!("there is no backup at {}", args.file.display());
    }
    crate::store::usable(data_dir, true)?;
    // Held until the restore is done, so that no server starts on a half-restored directory.
    let _lock = crate::store::lock_data_dir(data_dir)?.map_err(|who| {
        anyhow::anyhow!("a `tessera serve`{who} is serving from {}: stop it before restoring", data_dir.display())
    })?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let schema = runtime
        .block_on(tessera_store::backup::schema_of(&args.file))
        .with_context(|| format!("{} is not a SQLite database", args.file.display()))?
        .with_context(|| format!("{} is not a Tessera database (it has no migrations)", args.file.display()))?;
    let latest = tessera_store::backup::latest_schema();
    if schema > latest {
        bail!(
            "{} was written by a newer Tessera (schema {schema}; this build knows up to {latest}): restore it with that \
             version or a later one",
            args.file.display()
        );
    }
    let keyring = existing_keyring(&args.store)?;
    // The copy is upgraded and checked beside the database, and only then put in its place.
    let staged = data_dir.join(format!("{DATABASE}.restoring"));
    remove_database_files(&staged);
    let copied = tessera_store::files::create_private(&staged)
        .and_then(|mut to| std::io::copy(&mut std::fs::File::open(&args.file)?, &mut to));
    copied.with_context(|| format!("cannot copy {} into {}", args.file.display(), data_dir.display()))?;
    if let Err(error) = runtime.block_on(check_staged(&staged, keyring)) {
        remove_database_files(&staged);
        return Err(error);
    }
    let database = data_dir.join(DATABASE);
    let kept = if database.exists() {
        let now = tessera_model::SystemClock.now();
        let aside = data_dir.join(format!("{DATABASE}.before-restore-{}", now.to_datetime().format("%Y%m%dT%H%M%SZ")));
        move_database_files(&database, &aside)?;
        Some(aside)
    } else {
        None
    };
    std::fs::rename(&staged, &database).with_context(|| format!("cannot put the backup in {}", database.display()))?;
    println!("Restored {} into {} (schema {schema}, now {latest}).", args.file.display(), data_dir.display());
    if let Some(aside) = kept {
        println!("The database it replaced is kept as {}.", aside.display());
    }
    println!("Start the server on it: tessera serve --data-dir {}", data_dir.display());
    Ok(ExitCode::SUCCESS)
}

/// The node key this deployment already has; a restore never makes a new one, which could not open
/// the backup's secrets.
fn existing_keyring(store: &StoreArgs) -> Result<Keyring> {
    if let Some(text) = std::env::var("TESSERA_SECRET_KEY").ok().filter(|text| !text.trim().is_empty()) {
        return Keyring::parse(&text).context("TESSERA_SECRET_KEY is not a usable key");
    }
    let file = store.secret_key_file.clone().unwrap_or_else(|| store.data_dir.join(tessera_store::secrets::KEY_FILE));
    if !file.exists() {
        bail!(
            "there is no node key at {}: put the key the backup's deployment used there (or give it with \
             --secret-key-file or TESSERA_SECRET_KEY); without it the backup's secrets cannot be opened",
            file.display()
        );
    }
    Keyring::read(&file).with_context(|| format!("{} holds no usable key", file.display()))
}

/// Upgrades the staged copy to this build's schema and checks the node key opens its secrets.
async fn check_staged(staged: &Path, keyring: Keyring) -> Result<()> {
    let store = Store::connect(&format!("sqlite://{}?mode=rw", staged.display()))
        .await
        .context("cannot upgrade the backup to this build's schema")?;
    let mut tx = store.begin().await?;
    let keys = tx.signing_keys().await?;
    tx.commit().await?;
    store.close().await;
    let opens = |sealed: &str| serde_json::from_str(sealed).is_ok_and(|envelope| keyring.holds_key_of(&envelope));
    if !keys.iter().all(|key| opens(&key.sealed)) {
        bail!(
            "the node key here does not open the backup's secrets: put the key the backup's deployment used in place \
             (or give it with --secret-key-file or TESSERA_SECRET_KEY), then restore again"
        );
    }
    Ok(())
}

/// SQLite keeps committed pages in `-wal` beside the file until a checkpoint: the three move together.
fn move_database_files(from: &Path, to: &Path) -> Result<()> {
    for suffix in ["", "-wal", "-shm"] {
        let (source, target) = (suffixed(from, suffix), suffixed(to, suffix));
        if source.exists() {
            std::fs::rename(&source, &target)
                .with_context(|| format!("cannot move {} to {}", source.display(), target.display()))?;
        }
    }
    Ok(())
}

fn remove_database_files(file: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        std::fs::remove_file(suffixed(file, suffix)).ok();
    }
}

fn suffixed(file: &Path, suffix: &str) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}
