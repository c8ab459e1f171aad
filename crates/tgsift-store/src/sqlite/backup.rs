//! Online backups and restores of the database file.
//!
//! A backup is SQLite's online backup API copying every page in one step: the step reads one
//! snapshot, and in WAL mode a reader never blocks the writer, so `tgsift run` goes on storing posts
//! while the copy is made and the copy holds each batch whole or not at all. The copy is written to a
//! temporary file beside the destination, switched to a self-contained rollback journal, checked with
//! `PRAGMA integrity_check` and only then renamed over the destination.
//!
//! A restore copies the file beside the database, checks the copy the same way (and that it is a
//! tgsift database this build can open), makes sure no connection has the database open (its WAL
//! must be gone after a checkpoint, or its frames would be replayed into the restored file), keeps the
//! old file as `<db>.before-restore-<time>` and renames the copy into place. Whether a service holds
//! the database is the caller's to check first (session leases and workers live above the store).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, ErrorCode, OpenFlags};
use serde::Serialize;

use crate::{SqliteStore, latest_version, unix_now};

/// What a verified database file holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BackupInfo {
    /// The file.
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// Its schema version.
    pub schema_version: usize,
    /// Channels in it.
    pub channels: i64,
    /// Posts in it.
    pub posts: i64,
}

/// What a restore did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Restored {
    /// The database now in place.
    pub info: BackupInfo,
    /// Where the database it replaced was kept, if there was one.
    pub kept: Option<PathBuf>,
}

/// Why a backup or restore did not happen; nothing was replaced in any of these cases.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// A file could not be read, written or renamed.
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// SQLite failed while copying or checking.
    #[error("could not {what} ({}): {source}", path.display())]
    Sqlite {
        what: &'static str,
        path: PathBuf,
        source: rusqlite::Error,
    },
    /// The file is not a tgsift database this build can use.
    #[error("{} is not a usable tgsift database: {reason}", path.display())]
    NotTgsift { path: PathBuf, reason: String },
    /// `PRAGMA integrity_check` found problems.
    #[error("{} failed the integrity check: {report}", path.display())]
    Corrupt { path: PathBuf, report: String },
    /// The source and the destination are the same file.
    #[error("{} is the database itself; choose another file", path.display())]
    SameFile { path: PathBuf },
    /// Something has the database open, so it cannot be replaced.
    #[error("the database {} is in use: {by}; stop it first (nothing was changed)", path.display())]
    InUse { path: PathBuf, by: String },
}

impl BackupError {
    /// Whether the error is about what the user pointed at (exit code 2) rather than something that
    /// happened while working (exit code 1).
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            BackupError::NotTgsift { .. } | BackupError::SameFile { .. }
        )
    }
}

/// How often a copy step that finds the source locked is tried again, 50 ms apart.
const STEP_TRIES: u32 = 200;

impl SqliteStore {
    /// Copies the database to `dest` (replacing it atomically if it exists) as one consistent snapshot,
    /// while other processes may go on writing; the copy is verified before it is put in place.
    pub fn backup_to(&self, dest: &Path) -> Result<BackupInfo, BackupError> {
        if same_file(self.path(), dest) {
            return Err(BackupError::SameFile {
                path: dest.to_path_buf(),
            });
        }
        let tmp = temp_beside(dest)?;
        {
            let sqlite = |what, source| BackupError::Sqlite {
                what,
                path: dest.to_path_buf(),
                source,
            };
            let mut to = Connection::open(&tmp).map_err(|e| sqlite("create the copy", e))?;
            let backup =
                Backup::new(&self.conn, &mut to).map_err(|e| sqlite("start the copy", e))?;
            let mut tries = 0;
            loop {
                match backup
                    .step(-1)
                    .map_err(|e| sqlite("copy the database", e))?
                {
                    StepResult::Done => break,
                    StepResult::More => {}
                    StepResult::Busy | StepResult::Locked if tries < STEP_TRIES => {
                        tries += 1;
                        std::thread::sleep(Duration::from_millis(50));
                    }
                    _ => {
                        return Err(sqlite(
                            "copy the database",
                            rusqlite::Error::SqliteFailure(
                                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
                                Some("the database stayed locked".into()),
                            ),
                        ));
                    }
                }
            }
        }
        let info = verify(&tmp, dest)?;
        put_in_place(tmp, dest)?;
        Ok(BackupInfo {
            path: dest.to_path_buf(),
            ..info
        })
    }
}

/// Replaces the database at `db` with a verified copy of `from`, keeping the old file beside it.
/// The caller has made sure no service uses `db`; a connection still open on it is detected here.
pub fn restore_file(db: &Path, from: &Path) -> Result<Restored, BackupError> {
    if same_file(db, from) {
        return Err(BackupError::SameFile {
            path: from.to_path_buf(),
        });
    }
    let from_wal = sidecar(from, "-wal");
    if from_wal.exists() {
        return Err(BackupError::NotTgsift {
            path: from.to_path_buf(),
            reason: format!(
                "{} exists beside it, so part of its data is in that log (is a tgsift using it?); \
                 restore from a file made by `tgsift backup`",
                from_wal.display()
            ),
        });
    }
    let tmp = temp_beside(db)?;
    copy_file(from, &tmp)?;
    let info = verify(&tmp, from)?;
    let kept = if db.exists() {
        close_database(db)?;
        let kept = aside_name(db);
        std::fs::hard_link(db, &kept)
            .or_else(|_| std::fs::copy(db, &kept).map(|_| ()))
            .map_err(|source| BackupError::Io {
                what: "keeping the old database as",
                path: kept.clone(),
                source,
            })?;
        Some(kept)
    } else {
        None
    };
    put_in_place(tmp, db)?;
    Ok(Restored {
        info: BackupInfo {
            path: db.to_path_buf(),
            ..info
        },
        kept,
    })
}

/// Checkpoints the database and closes it, then makes sure its WAL is gone: a WAL left behind means
/// another connection has it open (the last one to close removes it), and its frames must never meet
/// the restored file.
fn close_database(db: &Path) -> Result<(), BackupError> {
    let wal = sidecar(db, "-wal");
    let in_use = |by: String| BackupError::InUse {
        path: db.to_path_buf(),
        by,
    };
    match Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_WRITE) {
        Ok(c) => {
            let _ = c.busy_timeout(Duration::from_secs(2));
            let busy: rusqlite::Result<i64> =
                c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0));
            match busy {
                Ok(1) => return Err(in_use("another connection is writing to it".into())),
                Err(e) if e.sqlite_error_code() == Some(ErrorCode::DatabaseBusy) => {
                    return Err(in_use("another connection holds a lock on it".into()));
                }
                // A database that is not readable any more (the reason to restore) has nothing to
                // checkpoint.
                _ => {}
            }
            drop(c);
        }
        Err(_) if !wal.exists() => {}
        Err(e) => return Err(in_use(format!("it cannot be opened to close its log: {e}"))),
    }
    if wal.exists() {
        return Err(in_use(format!(
            "{} is still there after closing it, so another process has it open (if none has, \
             remove that file)",
            wal.display()
        )));
    }
    let shm = sidecar(db, "-shm");
    if shm.exists() {
        std::fs::remove_file(&shm).map_err(|source| BackupError::Io {
            what: "removing",
            path: shm,
            source,
        })?;
    }
    Ok(())
}

/// Opens a copy, makes it self-contained (rollback journal), and checks that it is a sound tgsift
/// database; `named` is the file the user knows it as.
fn verify(copy: &Path, named: &Path) -> Result<BackupInfo, BackupError> {
    let not_tgsift = |reason: String| BackupError::NotTgsift {
        path: named.to_path_buf(),
        reason,
    };
    let sqlite = |what, source: rusqlite::Error| match source.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => not_tgsift("not an SQLite database".into()),
        _ => BackupError::Sqlite {
            what,
            path: named.to_path_buf(),
            source,
        },
    };
    let c = Connection::open_with_flags(copy, OpenFlags::SQLITE_OPEN_READ_WRITE)
        .map_err(|e| sqlite("open the copy", e))?;
    super::search::register_functions(&c).map_err(|e| sqlite("open the copy", e))?;
    let _mode: String = c
        .pragma_update_and_check(None, "journal_mode", "DELETE", |r| r.get(0))
        .map_err(|e| sqlite("read the copy", e))?;
    let version: i64 = c
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(|e| sqlite("read the schema version", e))?;
    let tables: i64 = c
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('accounts', 'channels', 'posts')",
            [],
            |r| r.get(0),
        )
        .map_err(|e| sqlite("read the schema", e))?;
    if version < 1 || tables != 3 {
        return Err(not_tgsift(
            "it has no tgsift schema (accounts, channels, posts)".into(),
        ));
    }
    if version as usize > latest_version() {
        return Err(not_tgsift(format!(
            "its schema version {version} is newer than the {} this tgsift understands; upgrade tgsift",
            latest_version()
        )));
    }
    let mut st = c
        .prepare("PRAGMA integrity_check")
        .map_err(|e| sqlite("check integrity", e))?;
    let report: Vec<String> = st
        .query_map([], |r| r.get(0))
        .and_then(|rows| rows.collect())
        .map_err(|e| sqlite("check integrity", e))?;
    drop(st);
    if report != ["ok"] {
        return Err(BackupError::Corrupt {
            path: named.to_path_buf(),
            report: report.join("; "),
        });
    }
    let (channels, posts): (i64, i64) = c
        .query_row(
            "SELECT (SELECT count(*) FROM channels), (SELECT count(*) FROM posts)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(|e| sqlite("count posts", e))?;
    drop(c);
    let bytes = std::fs::metadata(copy).map(|m| m.len()).unwrap_or(0);
    Ok(BackupInfo {
        path: copy.to_path_buf(),
        bytes,
        schema_version: version as usize,
        channels,
        posts,
    })
}

/// Whether two paths name one file (the second may not exist yet).
fn same_file(a: &Path, b: &Path) -> bool {
    let canon = |p: &Path| {
        p.canonicalize().ok().or_else(|| {
            let dir = p.parent().filter(|d| !d.as_os_str().is_empty())?;
            Some(dir.canonicalize().ok()?.join(p.file_name()?))
        })
    };
    match (canon(a), canon(b)) {
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

/// `<path><suffix>`, e.g. the `-wal` file of a database.
fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// `<db>.before-restore-<YYYYmmddTHHMMSS>`, not yet taken.
fn aside_name(db: &Path) -> PathBuf {
    let stamp = jiff::Timestamp::from_second(unix_now())
        .map(|t| t.strftime("%Y%m%dT%H%M%S").to_string())
        .unwrap_or_else(|_| unix_now().to_string());
    let base = sidecar(db, &format!(".before-restore-{stamp}"));
    let mut candidate = base.clone();
    let mut n = 1;
    while candidate.exists() {
        n += 1;
        candidate = sidecar(&base, &format!("-{n}"));
    }
    candidate
}

/// An empty temporary file in the folder of `path` (so the final rename stays on one file system),
/// removed again unless it is put in place.
fn temp_beside(path: &Path) -> Result<tempfile::TempPath, BackupError> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "tgsift".into());
    tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(dir)
        .map(|f| f.into_temp_path())
        .map_err(|source| BackupError::Io {
            what: "cannot create a temporary file in the folder of",
            path: path.to_path_buf(),
            source,
        })
}

fn copy_file(from: &Path, to: &Path) -> Result<(), BackupError> {
    std::fs::copy(from, to)
        .map(|_| ())
        .map_err(|source| BackupError::Io {
            what: "cannot read",
            path: from.to_path_buf(),
            source,
        })
}

/// Flushes the finished temporary file to disk and renames it over `dest`, then flushes the folder so
/// the rename survives a crash.
fn put_in_place(tmp: tempfile::TempPath, dest: &Path) -> Result<(), BackupError> {
    let io = |what, source| BackupError::Io {
        what,
        path: dest.to_path_buf(),
        source,
    };
    File::open(&tmp)
        .and_then(|f| f.sync_all())
        .map_err(|e| io("cannot flush the copy of", e))?;
    tmp.persist(dest)
        .map_err(|e| io("cannot rename the copy to", e.error))?;
    if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty()) {
        let _ = File::open(dir).and_then(|d| d.sync_all());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prelude::*;
    use crate::{PostIn, testing};

    /// Checks a database file through a copy, leaving it unchanged.
    fn check_database_file(path: &Path) -> Result<BackupInfo, BackupError> {
        let tmp = temp_beside(&std::env::temp_dir().join("tgsift-check"))?;
        copy_file(path, &tmp)?;
        let info = verify(&tmp, path)?;
        Ok(BackupInfo {
            path: path.to_path_buf(),
            ..info
        })
    }

    fn filled(path: &Path, posts: i32) -> SqliteStore {
        let mut s = SqliteStore::open(path).expect("open");
        let batch: Vec<PostIn> = (1..=posts)
            .map(|i| testing::post(i, format!("пост номер {i} про ставки")))
            .collect();
        testing::news_with(&mut s, &batch);
        s
    }

    #[test]
    fn a_backup_is_a_verified_self_contained_copy_and_restores_in_place() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("t.db");
        let s = filled(&db, 50);
        let copy = dir.path().join("copy.db");
        let info = s.backup_to(&copy).expect("backup");
        assert_eq!(
            (info.posts, info.channels, info.schema_version),
            (50, 1, latest_version())
        );
        assert!(!sidecar(&copy, "-wal").exists() && info.bytes > 0);
        assert!(matches!(
            s.backup_to(&db),
            Err(BackupError::SameFile { .. })
        ));
        // Later writes are not in the copy; a restore brings the copy back and keeps what it replaced.
        drop(s);
        let s2 = filled(&dir.path().join("other.db"), 3);
        drop(s2);
        let restored = restore_file(&db, &dir.path().join("other.db")).expect("restore");
        assert_eq!(restored.info.posts, 3);
        let kept = restored.kept.expect("old file kept");
        assert_eq!(check_database_file(&kept).expect("kept is sound").posts, 50);
        let mut back = SqliteStore::open(&db).expect("open restored");
        assert_eq!(back.channel_post_count(1).expect("count"), 3);
        back.index_queued().expect("index");
        let hits = back
            .search_posts(&crate::SearchQuery::new("ставка"))
            .expect("search");
        assert_eq!(hits.len(), 3, "the restored search index works");
        // Only temporary files were created and removed: the folder holds the four databases.
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .expect("ls")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|n| !n.ends_with("-wal") && !n.ends_with("-shm"))
            .collect();
        names.sort();
        assert_eq!(names.len(), 4, "{names:?}");
        assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
    }

    #[test]
    fn restore_refuses_bad_files_and_an_open_database() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("t.db");
        let s = filled(&db, 5);
        let text = dir.path().join("notes.txt");
        std::fs::write(&text, "x".repeat(5000)).expect("write");
        let err = restore_file(&db, &text).expect_err("text");
        assert!(
            err.is_usage() && matches!(err, BackupError::NotTgsift { .. }),
            "{err}"
        );
        let plain = dir.path().join("plain.db");
        Connection::open(&plain)
            .and_then(|c| c.execute_batch("CREATE TABLE t (x)"))
            .expect("plain db");
        let err = restore_file(&db, &plain).expect_err("not tgsift");
        assert!(err.to_string().contains("no tgsift schema"), "{err}");
        let newer = dir.path().join("newer.db");
        s.backup_to(&newer).expect("backup");
        Connection::open(&newer)
            .and_then(|c| c.pragma_update(None, "user_version", latest_version() as i64 + 1))
            .expect("bump");
        let err = restore_file(&db, &newer).expect_err("newer");
        assert!(err.to_string().contains("newer than"), "{err}");
        let good = dir.path().join("good.db");
        s.backup_to(&good).expect("backup");
        // `s` still has the database open: its WAL cannot go away.
        let err = restore_file(&db, &good).expect_err("in use");
        assert!(matches!(err, BackupError::InUse { .. }), "{err}");
        assert_eq!(s.channel_post_count(1).expect("still there"), 5);
        drop(s);
        restore_file(&db, &good).expect("closed: restored");
    }
}
