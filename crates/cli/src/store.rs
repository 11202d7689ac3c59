//! Where the commands that work on the database find it: a data directory holding SQLite, or a
//! PostgreSQL URL, as `tessera serve` takes them.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use tessera_store::Store;

#[derive(Debug, Clone, Args)]
pub(crate) struct StoreArgs {
    /// Where the SQLite database lives.
    #[arg(long, env = "TESSERA_DATA_DIR", default_value = "tessera-data")]
    pub data_dir: PathBuf,
    /// A PostgreSQL URL to use instead of the local SQLite file.
    #[arg(long, env = "TESSERA_DATABASE", hide_env_values = true)]
    pub database: Option<String>,
}

impl StoreArgs {
    pub(crate) async fn open(&self) -> Result<Store> {
        open(&self.data_dir, self.database.as_deref()).await
    }
}

/// Opens (and migrates) the database in `data_dir`, or at `database` when given.
pub(crate) async fn open(data_dir: &std::path::Path, database: Option<&str>) -> Result<Store> {
    match database {
        Some(url) => Store::connect(url)
            .await
            .with_context(|| format!("cannot open the database {}", tessera_store::redact_url(url))),
        None => Store::open_data_dir(data_dir)
            .await
            .with_context(|| format!("cannot open the database in {}", data_dir.display())),
    }
}
