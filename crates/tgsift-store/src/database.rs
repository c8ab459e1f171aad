//! Which backend a `storage.database` setting names, and a database for synchronous callers.
//!
//! [`Location::of`] is the one place that tells the backends apart: a `postgres://` (or
//! `postgresql://`) URL is PostgreSQL, anything else an SQLite file. [`open`] gives a synchronous
//! caller (an admin command: a handful of calls, then print) either backend as `dyn Storage`, the
//! interface the service uses, so a command cannot work on one backend and not on the other; async
//! callers use [`AsyncStore::open_database`](crate::AsyncStore::open_database) instead.

use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};

use crate::postgres::PgStore;
use crate::postgres::backend::PgBackend;
use crate::{Migrated, SqliteStore, Storage, StoreError};

/// Where a database is, as `storage.database` or `--db` names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// An SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL connection string.
    Postgres(String),
}

impl Location {
    /// Reads a `storage.database` setting.
    pub fn of(database: &Path) -> Location {
        let text = database.to_string_lossy();
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            Location::Postgres(text.into_owned())
        } else {
            Location::Sqlite(database.to_path_buf())
        }
    }

    /// Whether it names a PostgreSQL database rather than a file.
    pub fn is_postgres(&self) -> bool {
        matches!(self, Location::Postgres(_))
    }
}

/// A database for a synchronous caller, whichever backend (see the module doc). Open, use and drop
/// it outside any async runtime: PostgreSQL calls block on a small runtime the handle owns.
pub enum Database {
    /// The SQLite file.
    Sqlite(SqliteStore),
    /// PostgreSQL, with the runtime its calls run on.
    Postgres {
        // Declared first so it is dropped first: the pool's connections close while their runtime runs.
        /// The pool and the [`Storage`] over it.
        backend: PgBackend,
        /// The runtime the calls block on.
        runtime: tokio::runtime::Runtime,
    },
}

/// Opens (and migrates) the database `storage.database` names; see [`Database`].
pub fn open(database: &Path) -> Result<Database, StoreError> {
    let url = match Location::of(database) {
        Location::Sqlite(path) => return Ok(Database::Sqlite(SqliteStore::open(&path)?)),
        Location::Postgres(url) => url,
    };
    // One worker thread is plenty: the caller waits on each call in turn.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("tgsift-db")
        .enable_all()
        .build()
        .map_err(|e| StoreError::Task {
            what: "start the database runtime".into(),
            reason: e.to_string(),
        })?;
    let store = runtime
        .block_on(PgStore::open(&url))
        .map_err(|source| StoreError::Postgres {
            what: "open the database".into(),
            source,
        })?;
    Ok(Database::Postgres {
        backend: PgBackend::new(store, runtime.handle().clone()),
        runtime,
    })
}

impl Database {
    /// The PostgreSQL backend (its pool and runtime), when the database is PostgreSQL.
    pub fn postgres(&self) -> Option<&PgBackend> {
        match self {
            Database::Sqlite(_) => None,
            Database::Postgres { backend, .. } => Some(backend),
        }
    }

    /// What opening did to the schema (for `tgsift migrate` to report).
    pub fn migrated(&self) -> Migrated {
        match self {
            Database::Sqlite(store) => store.migrated(),
            Database::Postgres { backend, .. } => backend.store().migrated(),
        }
    }

    /// The database as messages name it: the file, or `user@host:port/database` (never a password).
    pub fn name(&self) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_postgres_and_everything_else_a_file() {
        assert!(Location::of(Path::new("postgres://u@h/db")).is_postgres());
        assert!(Location::of(Path::new("postgresql://u@h:5433/db")).is_postgres());
        assert_eq!(
            Location::of(Path::new("data/tgsift.db")),
            Location::Sqlite(PathBuf::from("data/tgsift.db"))
        );
        assert!(!Location::of(Path::new("postgres.db")).is_postgres());
    }
}
