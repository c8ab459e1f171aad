//! `tgsift backup` and `tgsift restore`. Backing up is the store's online copy and needs no care:
//! it runs beside a working service. Restoring replaces the file a service would be writing to, so it
//! first makes sure nothing uses it: no account's session lease is held (a running `run`, `channels
//! add`, `account login` holds one) and no worker has sent a heartbeat recently. The store then checks
//! that no connection at all is left on the file before swapping it.

use std::path::Path;

use tgsift_store::prelude::*;
use tgsift_store::{
    BackupError, BackupInfo, Location, Restored, SqliteStore, StoreError, restore_file, unix_now,
};

use crate::telegram::session_lock::SessionLock;

/// Why a backup or a restore did not happen.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RestoreError {
    /// The request cannot be carried out as asked (a PostgreSQL database, a file that is not
    /// there): the message says what to do instead.
    #[error("{0}")]
    Refused(String),
    /// The current database could not be read to check who uses it.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The copy or the swap failed, or the file is not a usable backup.
    #[error(transparent)]
    Backup(#[from] BackupError),
}

/// Who uses the database now, if anyone: a held session lease or a live worker, described for the
/// operator.
pub(crate) fn users_of(db: &Path) -> Result<Vec<String>, StoreError> {
    if !db.exists() {
        return Ok(Vec::new());
    }
    let store = SqliteStore::open_reader(db).or_else(|_| SqliteStore::open(db))?;
    let mut users = Vec::new();
    if let Some(w) = store.live_worker()? {
        users.push(format!(
            "tgsift run (pid {} on host {}, heartbeat {} s ago)",
            w.pid,
            w.host,
            (unix_now() - w.heartbeat_at).max(0)
        ));
    }
    for a in store.accounts()? {
        if let Some(holder) = SessionLock::holder(&a.session_path) {
            users.push(format!(
                "the session lease of account {} is held by {}",
                a.name,
                holder.describe()
            ));
        }
    }
    Ok(users)
}

/// `backup` and `restore` copy an SQLite file; a PostgreSQL database has its own tools for that.
fn refuse_postgres(db: &Path, action: &str) -> Result<(), RestoreError> {
    if Location::of(db).is_postgres() {
        return Err(RestoreError::Refused(format!(
            "`tgsift backup` and `tgsift restore` work on an SQLite database; to {action} a PostgreSQL \
             database use PostgreSQL's own tools (pg_dump / pg_restore, or continuous archiving), \
             with the workers stopped for a restore"
        )));
    }
    Ok(())
}

/// Copies the database at `db` into `to` while it is in use (SQLite's online backup) and checks
/// the copy's integrity.
pub(crate) fn backup(db: &Path, to: &Path) -> Result<BackupInfo, RestoreError> {
    refuse_postgres(db, "back up")?;
    if !db.exists() {
        return Err(RestoreError::Refused(format!(
            "database {} does not exist: nothing to back up (check --db / storage.database)",
            db.display()
        )));
    }
    Ok(SqliteStore::open(db)?.backup_to(to)?)
}

/// Replaces the database at `db` with the backup `from` when nothing uses it; the replaced file is
/// kept beside it.
pub(crate) fn restore(db: &Path, from: &Path) -> Result<Restored, RestoreError> {
    refuse_postgres(db, "restore")?;
    if !from.is_file() {
        return Err(RestoreError::Refused(format!(
            "backup {} does not exist or is not a file",
            from.display()
        )));
    }
    let users = match users_of(db) {
        Ok(users) => users,
        // A database too broken to read is what restores are for; the swap still refuses a file
        // that any connection has open.
        Err(e) if e.is_fatal() => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    if !users.is_empty() {
        return Err(BackupError::InUse {
            path: db.to_path_buf(),
            by: users.join("; "),
        }
        .into());
    }
    Ok(restore_file(db, from)?)
}
