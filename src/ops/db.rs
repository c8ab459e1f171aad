//! The database as a whole: bringing its schema up to date, copying an SQLite installation into
//! PostgreSQL (`db copy`, the session files too), and which workers serve it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use tgsift_store::postgres::copy::{CopyOptions, CopyReport, copy_sqlite};
use tgsift_store::postgres::{AccountLeaseRow, PgWorkerRow};
use tgsift_store::prelude::*;
use tgsift_store::{Location, PgStore, SqliteStore, WORKER_STALE_SECS, WorkerRow, unix_now};

use super::OpsError;
use crate::telegram::session::{PgSession, SessionError, SessionKey, SqliteSession};

/// Rows per transaction of `db copy` unless told otherwise.
pub(crate) const DEFAULT_BATCH: usize = tgsift_store::postgres::copy::DEFAULT_BATCH;

/// What `migrate` found and left: the schema version before and after.
pub(crate) struct Migration {
    /// The database as messages name it (the file, or `user@host:port/database`).
    pub database: String,
    /// The version it had.
    pub from: usize,
    /// The version it has now.
    pub to: usize,
}

/// Opens the database `storage.database` names, which creates it or brings its schema up to date.
/// Call it outside any async runtime.
pub(crate) fn migrate(database: &Path) -> Result<Migration, OpsError> {
    let db = tgsift_store::open(database)?;
    let m = db.migrated();
    Ok(Migration {
        database: db.name(),
        from: m.from,
        to: m.to,
    })
}

/// A `db copy` under way: the request checked and the PostgreSQL target open.
pub(crate) struct Copying {
    from: PathBuf,
    target: PgStore,
    key: Option<SessionKey>,
}

/// What `db copy` did with one account's session file.
pub(crate) enum SessionCopied {
    /// The account has no session file (it logs in again on a worker).
    NoFile {
        /// Account name.
        account: String,
        /// Where its file should have been.
        path: PathBuf,
    },
    /// Copied, its auth keys sealed.
    Copied {
        /// Account name.
        account: String,
        /// The file it came from.
        path: PathBuf,
    },
    /// PostgreSQL already holds a session for the account: it is kept as it is.
    Kept {
        /// Account name.
        account: String,
    },
}

impl Copying {
    /// Checks a `db copy` from the SQLite file `from` into the PostgreSQL URL `to` and opens the
    /// target; with `sessions`, `TGSIFT_SESSION_KEY` is checked before anything is written, since
    /// without it no session could be copied.
    pub(crate) async fn start(from: &Path, to: &str, sessions: bool) -> Result<Copying, OpsError> {
        if !Location::of(Path::new(to)).is_postgres() {
            return Err(OpsError::Invalid(format!(
                "--to {to:?} is not a PostgreSQL URL; write it as postgres://USER@HOST:PORT/DATABASE"
            )));
        }
        if !from.is_file() {
            return Err(OpsError::Invalid(format!(
                "--from {}: no SQLite database there (the file of `storage.database` / --db)",
                from.display()
            )));
        }
        let key = match sessions {
            false => None,
            true => Some(
                SessionKey::from_env().map_err(|e| anyhow::Error::from(SessionError::from(e)))?,
            ),
        };
        let target = PgStore::open(to).await.map_err(anyhow::Error::from)?;
        Ok(Copying {
            from: from.to_path_buf(),
            target,
            key,
        })
    }

    /// The target as messages name it (`user@host:port/database`, never a password).
    pub(crate) fn target(&self) -> &str {
        self.target.target()
    }

    /// Copies every table, `batch` rows per transaction, going on after an interrupted copy.
    pub(crate) async fn tables(&self, batch: usize) -> Result<CopyReport, OpsError> {
        let options = CopyOptions {
            batch,
            max_batches: None,
        };
        let report = copy_sqlite(&self.from, &self.target, options, |table, rows| {
            tracing::info!(table, rows, "copied");
        })
        .await
        .map_err(anyhow::Error::from)?;
        Ok(report)
    }

    /// Copies each account's session file into PostgreSQL (accounts keep their ids in the copy),
    /// telling `each` what became of it; nothing when the copy leaves the sessions out.
    pub(crate) async fn sessions(
        &self,
        mut each: impl FnMut(SessionCopied),
    ) -> Result<(), OpsError> {
        let Some(key) = &self.key else {
            return Ok(());
        };
        let path = self.from.clone();
        let accounts = tokio::task::spawn_blocking(move || SqliteStore::open(&path)?.accounts())
            .await
            .context("reading the accounts")??;
        for account in accounts {
            let file = account.session_path.clone();
            if !file.is_file() {
                each(SessionCopied::NoFile {
                    account: account.name,
                    path: file,
                });
                continue;
            }
            let data =
                tokio::task::spawn_blocking(move || SqliteSession::open(&file)?.export_data())
                    .await
                    .context("reading a session file")?
                    .map_err(anyhow::Error::from)?;
            match PgSession::import_data(&self.target, account.id, key.clone(), None, &data).await {
                Ok(_) => each(SessionCopied::Copied {
                    account: account.name,
                    path: account.session_path,
                }),
                Err(SessionError::SessionExists { .. }) => each(SessionCopied::Kept {
                    account: account.name,
                }),
                Err(e) => return Err(anyhow::Error::from(e).into()),
            }
        }
        Ok(())
    }
}

/// The `tgsift run` workers of a database and the accounts they serve.
pub(crate) enum Workers {
    /// PostgreSQL: many workers, each serving the accounts whose leases it holds.
    Postgres {
        /// The database as messages name it.
        database: String,
        /// Every known worker, newest first.
        workers: Vec<PgWorkerRow>,
        /// Every account's lease.
        leases: Vec<AccountLeaseRow>,
    },
    /// SQLite: one worker at a time, serving every account.
    Sqlite {
        /// The database file as configured.
        database: String,
        /// The workers that have run on it.
        workers: Vec<WorkerRow>,
        /// When they were read (unix seconds), what a worker's liveness is judged against.
        now: i64,
    },
}

/// The workers of the database `storage.database` names.
pub(crate) async fn workers(database: &Path) -> Result<Workers, OpsError> {
    let name = database.to_string_lossy().into_owned();
    if Location::of(database).is_postgres() {
        let store = PgStore::open(&name).await.map_err(anyhow::Error::from)?;
        let stale = Duration::from_secs(WORKER_STALE_SECS as u64);
        let mut workers = store.workers(stale).await.map_err(anyhow::Error::from)?;
        // A heartbeat stays fresh for a while after a kill -9: on this machine the pid says.
        for w in &mut workers {
            w.alive &= !crate::telegram::session_lock::vanished(&w.host, w.pid);
        }
        let leases = store.leases().await.map_err(anyhow::Error::from)?;
        return Ok(Workers::Postgres {
            database: store.target().to_string(),
            workers,
            leases,
        });
    }
    let path = database.to_path_buf();
    let workers = tokio::task::spawn_blocking(move || SqliteStore::open(&path)?.workers())
        .await
        .context("reading the workers")??;
    Ok(Workers::Sqlite {
        database: name,
        workers,
        now: unix_now(),
    })
}
