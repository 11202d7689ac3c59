//! Test fixtures: a fresh store of each kind the machine offers — SQLite always, PostgreSQL when
//! `TESSERA_TEST_POSTGRES_URL` names a server (required under CI, so that half never skips there).

#![allow(clippy::unwrap_used, clippy::print_stderr)]

use sqlx::Executor;

use crate::{Keyring, Store};

/// A fresh SQLite store and, where available, a fresh PostgreSQL database, each holding a new secret
/// key as a served node does.
pub async fn stores() -> Vec<(&'static str, Store)> {
    let dir = std::env::temp_dir().join(format!("tessera-test-{}", uuid::Uuid::new_v4().simple()));
    let mut stores = vec![("sqlite", Store::open_data_dir(&dir).await.unwrap().with_keyring(Keyring::generate()))];
    if let Some(url) = postgres_url() {
        stores.push(("postgres", fresh_postgres(&url).await.with_keyring(Keyring::generate())));
    }
    stores
}

/// The PostgreSQL server tests may use; panics under CI when there is none.
pub fn postgres_url() -> Option<String> {
    match std::env::var("TESSERA_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => {
            panic!("CI must provide TESSERA_TEST_POSTGRES_URL (scripts/test starts PostgreSQL)")
        }
        _ => {
            eprintln!("TESSERA_TEST_POSTGRES_URL is not set: PostgreSQL is not tested here");
            None
        }
    }
}

/// A URL of a new, empty database on the server at `url`.
pub async fn fresh_postgres_url(url: &str) -> String {
    sqlx::any::install_default_drivers();
    let name = format!("tessera_test_{}", uuid::Uuid::new_v4().simple());
    let admin = sqlx::AnyPool::connect(url).await.unwrap();
    admin.execute(format!("CREATE DATABASE {name}").as_str()).await.unwrap();
    admin.close().await;
    let base = url.rsplit_once('/').unwrap().0;
    format!("{base}/{name}")
}

/// A store on a new, empty database on the server at `url`.
pub async fn fresh_postgres(url: &str) -> Store {
    Store::connect(&fresh_postgres_url(url).await).await.unwrap()
}
