//! Connecting, migrating and transactions: the one place that knows which database is behind the pool.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

use crate::secrets::Keyring;
use crate::{Error, Result};

/// The SQL dialect behind the pool; only claims and row locks differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// One migration set serves both databases while their SQL is the same (BIGINT and TEXT columns,
/// `ON CONFLICT`); a dialect that needs different SQL gets its own set from then on.
pub(crate) static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The database, shared by every part of a node.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    dialect: Dialect,
    /// Seals and opens connector secrets; `None` on a store opened without one, which can then store
    /// no secret and open no sealed value.
    keyring: Option<Arc<Keyring>>,
}

/// What runs once a transaction has committed.
type AfterCommit = Box<dyn FnOnce() + Send>;

/// One transaction: every change and the effects it schedules commit together or not at all.
pub struct Tx {
    pub(crate) inner: sqlx::Transaction<'static, sqlx::Any>,
    pub(crate) dialect: Dialect,
    keyring: Option<Arc<Keyring>>,
    /// Run in order after a successful commit, dropped on rollback: counters of what the
    /// transaction did, so they count only what became durable.
    after_commit: Vec<AfterCommit>,
    /// Savepoints taken so far, to name the next one uniquely.
    savepoints: u32,
}

/// The start of a part of a transaction that can be undone alone: see [`Tx::savepoint`].
#[must_use = "a savepoint is undone or kept"]
#[derive(Debug)]
pub struct Savepoint {
    name: String,
    /// How many after-commit actions there were when the part began.
    after_commit: usize,
}

impl std::fmt::Debug for Tx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tx").field("dialect", &self.dialect).field("after_commit", &self.after_commit.len()).finish()
    }
}

impl Store {
    /// Opens the SQLite file `tessera.db` in `data_dir`, creating both on first start, private to
    /// their owner: the directory 0700 and the file 0600, which SQLite's WAL and SHM files inherit.
    pub async fn open_data_dir(data_dir: &Path) -> Result<Self> {
        let file = data_dir.join("tessera.db");
        let created = crate::files::private_dir_all(data_dir).and_then(|()| create_private_if_missing(&file));
        created.map_err(|source| Error::DataDir { path: data_dir.display().to_string(), source })?;
        let url = format!("sqlite://{}?mode=rwc", file.display());
        Self::connect(&url).await
    }

    /// Connects to `sqlite://…` or `postgres://…` and applies the migrations.
    pub async fn connect(url: &str) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let dialect = if url.starts_with("sqlite:") {
            Dialect::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Dialect::Postgres
        } else {
            return Err(Error::UnsupportedUrl(redact_url(url)));
        };
        let options = AnyConnectOptions::from_str(url)?;
        let pool = match dialect {
            // SQLite has one writer: a single connection serialises writes without busy errors,
            // and WAL with synchronous=FULL makes every commit durable.
            Dialect::Sqlite => {
                AnyPoolOptions::new()
                    .max_connections(1)
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            conn.execute("PRAGMA journal_mode = WAL").await?;
                            conn.execute("PRAGMA synchronous = FULL").await?;
                            conn.execute("PRAGMA foreign_keys = ON").await?;
                            conn.execute("PRAGMA busy_timeout = 10000").await?;
                            conn.execute("PRAGMA wal_autocheckpoint = 8000").await?;
                            Ok(())
                        })
                    })
                    .connect_with(options)
                    .await?
            }
            Dialect::Postgres => {
                AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(30))
                    .connect_with(options)
                    .await?
            }
        };
        let store = Self { pool, dialect, keyring: None };
        // An older build must not start on a database a newer one upgraded: say so, rather than
        // sqlx's "migration N was previously applied but is missing".
        let applied: std::result::Result<Option<i64>, sqlx::Error> =
            sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success = TRUE")
                .fetch_one(&store.pool)
                .await;
        let known = crate::backup::latest_schema();
        if let Ok(Some(found)) = applied
            && found > known
        {
            store.pool.close().await;
            return Err(Error::NewerSchema { found, known });
        }
        MIGRATIONS.run(&store.pool).await?;
        crate::legacy_work::merge(&store).await?;
        Ok(store)
    }

    /// Whether the database answers and has every migration this build knows applied: the reason
    /// when it is not ready.
    pub async fn readiness(&self) -> std::result::Result<(), String> {
        let latest = crate::backup::latest_schema();
        let applied: std::result::Result<Option<i64>, sqlx::Error> =
            sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success = TRUE")
                .fetch_one(&self.pool)
                .await;
        match applied {
            Err(error) => Err(format!("the database does not answer: {error}")),
            Ok(version) if version.unwrap_or(0) < latest => {
                Err(format!("the database is at schema {} and this build needs {latest}", version.unwrap_or(0)))
            }
            Ok(_) => Ok(()),
        }
    }

    /// Which database this is.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// This store, sealing and opening connector secrets with `keyring`.
    pub fn with_keyring(mut self, keyring: Keyring) -> Self {
        self.keyring = Some(Arc::new(keyring));
        self
    }

    /// The keys connector secrets are sealed and opened with.
    pub fn keyring(&self) -> Option<&Keyring> {
        self.keyring.as_deref()
    }

    /// Starts a transaction.
    pub async fn begin(&self) -> Result<Tx> {
        Ok(Tx {
            inner: self.pool.begin().await?,
            dialect: self.dialect,
            keyring: self.keyring.clone(),
            after_commit: Vec::new(),
            savepoints: 0,
        })
    }

    /// The pool, for reads that need no transaction.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Closes every connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

impl Tx {
    /// The store's keyring, for code that writes a source's secrets inside a transaction.
    pub fn keyring(&self) -> Option<&Keyring> {
        self.keyring.as_deref()
    }

    /// Makes every change of this transaction durable, then runs what waited for it.
    pub async fn commit(self) -> Result<()> {
        self.inner.commit().await?;
        for then in self.after_commit {
            then();
        }
        Ok(())
    }

    /// Marks where a part of this transaction starts, so that the part can be undone alone
    /// ([`Tx::undo`]) or kept ([`Tx::keep`]) while the rest of the transaction goes on: a decision
    /// whose consequences cannot all be written is written not at all.
    pub async fn savepoint(&mut self) -> Result<Savepoint> {
        self.savepoints += 1;
        let name = format!("tessera_part_{}", self.savepoints);
        sqlx::query(&format!("SAVEPOINT {name}")).execute(&mut *self.inner).await?;
        Ok(Savepoint { name, after_commit: self.after_commit.len() })
    }

    /// Undoes every change since `part` began, and forgets what was to run after commit since then.
    pub async fn undo(&mut self, part: Savepoint) -> Result<()> {
        sqlx::query(&format!("ROLLBACK TO SAVEPOINT {}", part.name)).execute(&mut *self.inner).await?;
        sqlx::query(&format!("RELEASE SAVEPOINT {}", part.name)).execute(&mut *self.inner).await?;
        self.after_commit.truncate(part.after_commit);
        Ok(())
    }

    /// Keeps the changes made since `part` began as part of this transaction.
    pub async fn keep(&mut self, part: Savepoint) -> Result<()> {
        sqlx::query(&format!("RELEASE SAVEPOINT {}", part.name)).execute(&mut *self.inner).await?;
        Ok(())
    }

    /// Runs `then` once this transaction has committed; never if it rolls back.
    pub fn after_commit(&mut self, then: impl FnOnce() + Send + 'static) {
        self.after_commit.push(Box::new(then));
    }

    /// `FOR UPDATE` where the database has row locks (PostgreSQL); SQLite's single writer already
    /// serialises the transactions.
    pub(crate) fn for_update(&self) -> &'static str {
        match self.dialect {
            Dialect::Postgres => " FOR UPDATE",
            Dialect::Sqlite => "",
        }
    }

    /// `FOR UPDATE SKIP LOCKED` where the database has row locks: rows another node is working on are
    /// left to it.
    pub(crate) fn skip_locked(&self) -> &'static str {
        match self.dialect {
            Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
            Dialect::Sqlite => "",
        }
    }
}

/// Makes an empty file only its owner may read, unless it exists.
fn create_private_if_missing(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, crate::files::FILE_MODE);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(error) => Err(error),
    }
}

/// A URL with its password hidden, for messages and logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:****{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}
