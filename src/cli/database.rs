//! The database of one admin command, whichever backend `storage.database` names.
//!
//! Admin commands are short and synchronous: they make a handful of store calls and print. On SQLite
//! they use the file directly ([`Store`]); on PostgreSQL they use [`PgBackend`], whose calls run on a
//! small runtime this handle owns. Either way the command sees `dyn Storage`, the interface the service
//! uses, so a command cannot work on one backend and not on the other.
//!
//! A [`Database`] must be opened, used and dropped outside any async runtime (PostgreSQL calls block
//! on its own runtime): commands that also talk to Telegram use [`tgsift_store::AsyncStore`] instead.

use std::ops::{Deref, DerefMut};

use anyhow::Context;

use crate::config::Loaded;
use tgsift_store::postgres::backend::PgBackend;
use tgsift_store::postgres::{PgStore, is_postgres_url};
use tgsift_store::{Storage, Store, StoreError};

/// One admin command's database (see the module doc).
pub(super) enum Database {
    /// The SQLite file.
    Sqlite(Store),
    /// PostgreSQL, with the runtime its calls run on.
    Postgres {
        // Declared first so it is dropped first: the pool's connections close while their runtime runs.
        backend: PgBackend,
        _runtime: tokio::runtime::Runtime,
    },
}

impl Database {
    /// Opens (and migrates) the database of `loaded`'s configuration.
    pub(super) fn open(loaded: &Loaded) -> anyhow::Result<Self> {
        let database = &loaded.config.storage.database;
        let text = database.to_string_lossy();
        if !is_postgres_url(&text) {
            return Ok(Database::Sqlite(Store::open(database)?));
        }
        // One worker thread is plenty: the command waits on each call in turn.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("tgsift-db")
            .enable_all()
            .build()
            .context("starting the database runtime")?;
        let store =
            runtime
                .block_on(PgStore::open(&text))
                .map_err(|source| StoreError::Postgres {
                    what: "open the database".into(),
                    source,
                })?;
        Ok(Database::Postgres {
            backend: PgBackend::new(store, runtime.handle().clone()),
            _runtime: runtime,
        })
    }

    /// The PostgreSQL backend (its pool and runtime), when the database is PostgreSQL.
    pub(super) fn postgres(&self) -> Option<&PgBackend> {
        match self {
            Database::Sqlite(_) => None,
            Database::Postgres { backend, .. } => Some(backend),
        }
    }

    /// The database as messages name it: the file, or `user@host:port/database` (never a password).
    pub(super) fn name(&self) -> String {
        match self {
            Database::Sqlite(store) => store.path().display().to_string(),
            Database::Postgres { backend, .. } => backend.store().target().to_string(),
        }
    }
}

impl Deref for Database {
    type Target = dyn Storage;

    fn deref(&self) -> &Self::Target {
        match self {
            Database::Sqlite(store) => store,
            Database::Postgres { backend, .. } => backend,
        }
    }
}

impl DerefMut for Database {
    fn deref_mut(&mut self) -> &mut Self::Target {
        match self {
            Database::Sqlite(store) => store,
            Database::Postgres { backend, .. } => backend,
        }
    }
}
