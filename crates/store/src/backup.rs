//! Backups of a SQLite deployment: `VACUUM INTO` writes one consistent snapshot of the database to a
//! new file while a server goes on writing (SQLite reads it in one transaction), and a backup is
//! read to learn the schema it was written at before it is put back. PostgreSQL deployments use
//! `pg_dump`, which does the same for a server database.

use std::path::Path;
use std::str::FromStr;

use sqlx::ConnectOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};

use crate::Result;
use crate::db::MIGRATIONS;

/// The newest schema (migration version) this build knows.
pub fn latest_schema() -> i64 {
    MIGRATIONS.iter().map(|m| m.version).max().unwrap_or(0)
}

async fn open_read_only(file: &Path) -> Result<SqliteConnection> {
    let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", file.display()))?
        .read_only(true)
        .busy_timeout(std::time::Duration::from_secs(10));
    Ok(options.connect().await?)
}

/// The schema a SQLite database is at: the newest migration applied to it; `None` when it is not a
/// Tessera database (no migration table), and an error when it is not a SQLite database at all.
pub async fn schema_of(file: &Path) -> Result<Option<i64>> {
    let mut connection = open_read_only(file).await?;
    let has_table: Option<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'")
            .fetch_optional(&mut connection)
            .await?;
    if has_table.is_none() {
        return Ok(None);
    }
    let version: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success = TRUE")
        .fetch_one(&mut connection)
        .await?;
    Ok(version)
}

/// Writes a consistent copy of the SQLite database `database` into `into`, which must be missing or
/// empty (make it private first); returns the schema the copy is at.
pub async fn backup_sqlite(database: &Path, into: &Path) -> Result<i64> {
    let mut connection = open_read_only(database).await?;
    sqlx::query("VACUUM INTO $1").bind(into.display().to_string()).execute(&mut connection).await?;
    drop(connection);
    Ok(schema_of(into).await?.unwrap_or(0))
}
