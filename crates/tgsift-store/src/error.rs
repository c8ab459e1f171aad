//! [`StoreError`]: what can go wrong with either backend, with the variants callers act on kept apart.

use std::path::PathBuf;

use rusqlite::ErrorCode;

use crate::postgres;

/// What can go wrong with the database; the variants callers act on are kept apart.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file cannot be opened or created (missing or read-only folder, permissions).
    #[error("cannot open database {path}: {reason}")]
    Open { path: PathBuf, reason: String },
    /// The file exists but is not an SQLite database.
    #[error(
        "{path} is not an SQLite database (is --db / storage.database pointing at the wrong file?); \
         nothing was changed"
    )]
    NotSqlite { path: PathBuf },
    /// The file is an SQLite database, but not tgsift's (another program's, or a session file):
    /// migrating it would add tgsift's tables to it, so it is refused before anything is written.
    #[error("{path} is {what}; nothing was changed (choose another --db / storage.database)")]
    Foreign { path: PathBuf, what: String },
    /// The database was written by a newer tgsift.
    #[error(
        "database {path} has schema version {found}, newer than the {supported} this tgsift understands: \
         upgrade tgsift (nothing was changed)"
    )]
    TooNew {
        path: PathBuf,
        found: usize,
        supported: usize,
    },
    /// Applying the migrations failed.
    #[error("migrating database {path} failed: {reason}")]
    Migration { path: PathBuf, reason: String },
    /// A write failed (after retrying `SQLITE_BUSY`); `what` says which.
    #[error("could not {what}: {source}")]
    Write {
        what: String,
        source: rusqlite::Error,
    },
    /// A read failed.
    #[error("could not {what}: {source}")]
    Read {
        what: String,
        source: rusqlite::Error,
    },
    /// The blocking task running the query died.
    #[error("database task for `{what}` failed: {reason}")]
    Task { what: String, reason: String },
    /// A PostgreSQL statement failed, no connection could be had, or the worker lost the lease of
    /// the account the write was for; `what` says which write or read.
    #[error("could not {what}: {source}")]
    Postgres {
        what: String,
        source: postgres::PgError,
    },
    /// The database file was removed or replaced while tgsift had it open: writes would go to a file
    /// nobody can see any more.
    #[error(
        "database {path} was removed or replaced while tgsift was running; restore it (e.g. from a backup) and start again"
    )]
    Gone { path: PathBuf },
}

impl StoreError {
    /// Whether the error comes from how tgsift was pointed at the database (exit code 2) rather than
    /// from something that happened while running (exit code 1).
    pub fn is_usage(&self) -> bool {
        match self {
            StoreError::Open { .. }
            | StoreError::NotSqlite { .. }
            | StoreError::Foreign { .. }
            | StoreError::TooNew { .. } => true,
            StoreError::Postgres { source, .. } => source.is_usage(),
            _ => false,
        }
    }

    /// Whether retrying cannot help because the database itself is unusable (gone, not a database
    /// any more, corrupt, unopenable, read-only), as opposed to one statement that failed.
    pub fn is_fatal(&self) -> bool {
        match self {
            StoreError::Open { .. }
            | StoreError::NotSqlite { .. }
            | StoreError::Foreign { .. }
            | StoreError::TooNew { .. }
            | StoreError::Migration { .. }
            | StoreError::Gone { .. } => true,
            StoreError::Write { source, .. } | StoreError::Read { source, .. } => matches!(
                source.sqlite_error_code(),
                Some(
                    ErrorCode::NotADatabase
                        | ErrorCode::DatabaseCorrupt
                        | ErrorCode::CannotOpen
                        | ErrorCode::ReadOnly
                        | ErrorCode::PermissionDenied
                )
            ),
            StoreError::Task { .. } | StoreError::Postgres { .. } => false,
        }
    }
}
