//! The SQLite backend: one file, WAL, writes in `IMMEDIATE` transactions retried while SQLite answers
//! `SQLITE_BUSY`.
//!
//! [`SqliteStore`] is a synchronous connection: it opens the file in WAL mode with a busy timeout,
//! foreign keys and `synchronous=NORMAL`, applies the embedded migrations (`migrations/`), and runs
//! every write in an `IMMEDIATE` transaction that is retried with backoff. [`crate::AsyncStore`]
//! moves that work off the async runtime (one writer thread, reads on the blocking pool, WAL
//! checkpoints on a thread of their own, `checkpoint.rs`).
//!
//! Files: this one opens, migrates and runs transactions; one file per store trait beside it (the
//! traits and rows are in `crate::model`); `backup.rs` is online backup and safe restore.

mod accounts;
mod alerts;
pub(crate) mod backup;
mod channels;
pub(crate) mod checkpoint;
mod client_state;
mod comments;
mod counts;
mod downloads;
mod export;
mod imports;
mod jobs;
mod live;
mod media;
pub(crate) mod search;
mod stats;
pub(crate) mod tagging;
mod trends;
mod watches;
mod web_sessions;
mod workers;

use std::path::{Path, PathBuf};
use std::time::Duration;

use backon::{BlockingRetryable, ExponentialBuilder};
use rusqlite::{Connection, ErrorCode, OpenFlags, Transaction, TransactionBehavior};
use rusqlite_migration::{M, Migrations, SchemaVersion};

use crate::StoreError;
use crate::model::{Migrated, Storage};

/// The embedded migrations, oldest first. Never edit a released one; append a new file instead.
const MIGRATION_SQL: &[&str] = &[
    include_str!("migrations/0001_initial.sql"),
    include_str!("migrations/0002_client_state.sql"),
    include_str!("migrations/0003_service_state.sql"),
    include_str!("migrations/0004_deleted_posts.sql"),
    include_str!("migrations/0005_search.sql"),
    include_str!("migrations/0006_live.sql"),
    include_str!("migrations/0007_control_plane.sql"),
    include_str!("migrations/0008_search_queue.sql"),
    include_str!("migrations/0009_web_sessions.sql"),
    include_str!("migrations/0010_one_tagging_index.sql"),
    include_str!("migrations/0011_queue_on_insert.sql"),
    include_str!("migrations/0012_status_check_without_in.sql"),
    include_str!("migrations/0013_job_account.sql"),
    include_str!("migrations/0014_hidden_and_answered.sql"),
    include_str!("migrations/0015_account_safety.sql"),
    include_str!("migrations/0016_probe_hold.sql"),
    include_str!("migrations/0017_ids_never_reused.sql"),
    include_str!("migrations/0018_tag_names.sql"),
    include_str!("migrations/0019_post_media.sql"),
    include_str!("migrations/0020_post_counts.sql"),
    include_str!("migrations/0021_media_files.sql"),
    include_str!("migrations/0022_comments.sql"),
    include_str!("migrations/0023_dialog_imports.sql"),
    include_str!("migrations/0024_watches.sql"),
];

/// The schema version whose migration is [`status_check_as_comparisons`].
const STATUS_CHECK_VERSION: usize = 12;

/// The schema version whose migration is [`ids_never_reused`].
const IDS_NEVER_REUSED_VERSION: usize = 17;

/// The schema version whose migration is [`tagging::name_stored_tags`].
const TAG_NAMES_VERSION: usize = 18;

/// The tables numbered by their rowid, whose ids users and readers hold on to.
const NUMBERED_TABLES: [&str; 8] = [
    "accounts",
    "channels",
    "posts",
    "fetched_ranges",
    "jobs",
    "post_versions",
    "workers",
    "alerts",
];

/// The id column as versions 1 to 16 wrote it, and as version 17 writes it.
const ID_ROWID: &str = "INTEGER PRIMARY KEY,";
const ID_AUTOINCREMENT: &str = "INTEGER PRIMARY KEY AUTOINCREMENT,";

/// The posts table's status CHECK as written by version 1, and as version 12 writes it.
const STATUS_CHECK_IN: &str =
    "CHECK (tagging_status IN ('pending', 'retrying', 'success', 'failed', 'skipped'))";
const STATUS_CHECK_OR: &str = "CHECK (tagging_status = 'pending' OR tagging_status = 'retrying' \
     OR tagging_status = 'success' OR tagging_status = 'failed' OR tagging_status = 'skipped')";

/// How long one statement waits inside SQLite for a lock before `SQLITE_BUSY` comes back to us.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// How often a write that still meets `SQLITE_BUSY` is tried again (with exponential backoff).
const BUSY_RETRIES: usize = 5;

impl Storage for SqliteStore {
    fn schema_version(&self) -> Result<usize, StoreError> {
        SqliteStore::schema_version(self)
    }

    fn check_file(&self) -> Result<(), StoreError> {
        SqliteStore::check_file(self)
    }

    fn as_sqlite(&self) -> Option<&SqliteStore> {
        Some(self)
    }

    fn as_sqlite_mut(&mut self) -> Option<&mut SqliteStore> {
        Some(self)
    }
}

fn migrations() -> Migrations<'static> {
    Migrations::new(
        MIGRATION_SQL
            .iter()
            .enumerate()
            .map(|(i, sql)| match i + 1 {
                STATUS_CHECK_VERSION => M::up_with_hook(sql, status_check_as_comparisons),
                IDS_NEVER_REUSED_VERSION => M::up_with_hook(sql, ids_never_reused),
                TAG_NAMES_VERSION => M::up_with_hook(sql, |tx: &Transaction<'_>| {
                    tagging::name_stored_tags(tx).map_err(Into::into)
                }),
                _ => M::up(sql),
            })
            .collect(),
    )
}

/// Migration 12 (see its file): rewrites the posts table's status CHECK in the stored schema, as
/// SQLite documents for changing a CHECK without copying the table, and makes sure the result parses
/// before the migration's transaction commits.
fn status_check_as_comparisons(tx: &Transaction<'_>) -> rusqlite_migration::HookResult {
    let version: i64 = tx.pragma_query_value(None, "schema_version", |r| r.get(0))?;
    tx.pragma_update(None, "writable_schema", true)?;
    let changed = tx.execute(
        "UPDATE sqlite_schema SET sql = replace(sql, ?1, ?2)
         WHERE type = 'table' AND name = 'posts' AND instr(sql, ?1) > 0",
        [STATUS_CHECK_IN, STATUS_CHECK_OR],
    )?;
    tx.pragma_update(None, "schema_version", version + 1)?;
    tx.pragma_update(None, "writable_schema", false)?;
    if changed != 1 {
        // Only a table tgsift did not create lacks it; the old CHECK is as right, only slower.
        tracing::warn!("the posts table's status CHECK is not the one tgsift wrote; left as it is");
    }
    // Reads the new schema: a definition SQLite cannot parse fails here and rolls the edit back.
    tx.query_row("SELECT count(*) FROM posts WHERE 0", [], |_| Ok(()))?;
    Ok(())
}

/// Migration 17 (see its file): makes every numbered table AUTOINCREMENT by editing its stored
/// definition, and starts its sequence at its highest id, so no id is handed out twice.
fn ids_never_reused(tx: &Transaction<'_>) -> rusqlite_migration::HookResult {
    let version: i64 = tx.pragma_query_value(None, "schema_version", |r| r.get(0))?;
    tx.pragma_update(None, "writable_schema", true)?;
    for table in NUMBERED_TABLES {
        let sql: String = tx.query_row(
            "SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = ?1",
            [table],
            |r| r.get(0),
        )?;
        let Some(edited) = with_autoincrement(&sql) else {
            // Only a table tgsift did not create lacks it; ids there may come back as before.
            tracing::warn!(
                table,
                "the id column is not the one tgsift wrote; left as it is"
            );
            continue;
        };
        tx.execute(
            "UPDATE sqlite_schema SET sql = ?2 WHERE type = 'table' AND name = ?1",
            [table, edited.as_str()],
        )?;
    }
    tx.pragma_update(None, "schema_version", version + 1)?;
    tx.pragma_update(None, "writable_schema", false)?;
    for table in NUMBERED_TABLES {
        // Reads the new schema (a definition SQLite cannot parse fails here and rolls all back) and
        // starts the table's sequence where its ids are.
        tx.execute(
            &format!(
                "INSERT INTO sqlite_sequence (name, seq)
                 SELECT '{table}', coalesce(max(id), 0) FROM {table}"
            ),
            [],
        )?;
    }
    Ok(())
}

/// The table definition with `AUTOINCREMENT` on its `id` column, when that column is written as
/// tgsift wrote it (one line `id INTEGER PRIMARY KEY,`).
fn with_autoincrement(sql: &str) -> Option<String> {
    let mut found = 0;
    let lines: Vec<String> = sql
        .lines()
        .map(|line| {
            let mut words = line.split_whitespace();
            if words.next() == Some("id") && words.collect::<Vec<_>>().join(" ") == ID_ROWID {
                found += 1;
                line.replacen(ID_ROWID, ID_AUTOINCREMENT, 1)
            } else {
                line.to_string()
            }
        })
        .collect();
    (found == 1).then(|| lines.join("\n"))
}

/// The schema version this build of tgsift writes.
pub fn latest_version() -> usize {
    MIGRATION_SQL.len()
}

/// A synchronous connection to the database, migrated to the latest schema.
pub struct SqliteStore {
    pub(crate) conn: Connection,
    path: PathBuf,
    migrated: Migrated,
    /// (device, inode) of the file when it was opened, to notice it being removed or replaced.
    file_id: Option<(u64, u64)>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating if needed) and migrates the database at `path`.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let path = path.to_path_buf();
        if crate::Location::of(&path).is_postgres() {
            return Err(StoreError::Open {
                path,
                reason: "it is a PostgreSQL URL, and this opens an SQLite database file only"
                    .into(),
            });
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        refuse_read_only(&path)?;
        let mut conn =
            Connection::open_with_flags(&path, flags).map_err(|e| open_error(&path, e))?;
        // Before `configure`, which switches the file to WAL: a file that is not ours stays as it was.
        refuse_foreign(&conn, &path)?;
        configure(&conn).map_err(|e| open_error(&path, e))?;

        let migrations = migrations();
        let found = match migrations.current_version(&conn) {
            Ok(v) => v,
            Err(e) => return Err(migration_error(&path, e)),
        };
        let from: usize = (&found).into();
        if let SchemaVersion::Outside(_) = found {
            return Err(StoreError::TooNew {
                path,
                found: from,
                supported: latest_version(),
            });
        }
        if from < latest_version() {
            migrations
                .to_latest(&mut conn)
                .map_err(|e| migration_error(&path, e))?;
            tracing::info!(db = %path.display(), from, to = latest_version(), "database migrated");
        }
        let file_id = file_id(&path);
        Ok(SqliteStore {
            conn,
            path,
            migrated: Migrated {
                from,
                to: latest_version(),
            },
            file_id,
        })
    }

    /// Opens a read-only connection to a database that is already migrated (for concurrent readers
    /// beside the one writer); a schema other than this build's is refused.
    pub fn open_reader(path: &Path) -> Result<SqliteStore, StoreError> {
        let path = path.to_path_buf();
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&path, flags).map_err(|e| open_error(&path, e))?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| open_error(&path, e))?;
        conn.set_prepared_statement_cache_capacity(64);
        search::register_functions(&conn).map_err(|e| open_error(&path, e))?;
        let version = conn
            .pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0))
            .map_err(|e| open_error(&path, e))? as usize;
        if version != latest_version() {
            return Err(StoreError::Migration {
                path,
                reason: format!(
                    "a reader found schema version {version}, expected {}",
                    latest_version()
                ),
            });
        }
        let file_id = file_id(&path);
        Ok(SqliteStore {
            conn,
            path,
            migrated: Migrated {
                from: version,
                to: version,
            },
            file_id,
        })
    }

    /// Fails with [`StoreError::Gone`] when the database file was removed or replaced since it was
    /// opened (SQLite would go on writing to the unlinked file, losing everything).
    pub fn check_file(&self) -> Result<(), StoreError> {
        if self.file_id.is_some() && file_id(&self.path) != self.file_id {
            return Err(StoreError::Gone {
                path: self.path.clone(),
            });
        }
        Ok(())
    }

    /// The file this store works on.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What opening did to the schema.
    pub fn migrated(&self) -> Migrated {
        self.migrated
    }

    /// The schema version stored in the file.
    pub fn schema_version(&self) -> Result<usize, StoreError> {
        self.conn
            .pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0))
            .map(|v| v.max(0) as usize)
            .map_err(|source| StoreError::Read {
                what: "read the schema version".into(),
                source,
            })
    }

    /// Runs `f` in one `IMMEDIATE` transaction, committed when `f` succeeds; `SQLITE_BUSY` is retried
    /// with exponential backoff and the final failure names `what` (e.g. "store 100 posts of @news").
    pub fn write<T>(
        &mut self,
        what: &str,
        mut f: impl FnMut(&Transaction<'_>) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        let conn = &mut self.conn;
        let attempt = || -> rusqlite::Result<T> {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let out = f(&tx)?;
            tx.commit()?;
            Ok(out)
        };
        let mut attempt = attempt;
        (|| attempt())
            .retry(
                ExponentialBuilder::default()
                    .with_min_delay(Duration::from_millis(20))
                    .with_max_delay(Duration::from_secs(1))
                    .with_max_times(BUSY_RETRIES)
                    .with_jitter(),
            )
            .when(is_busy)
            .notify(|e, delay| tracing::warn!(what, error = %e, ?delay, "database busy, retrying write"))
            .call()
            .map_err(|source| StoreError::Write { what: what.to_string(), source })
    }

    /// Runs a read-only closure on the connection; `what` names it in errors.
    pub fn read<T>(
        &self,
        what: &str,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        f(&self.conn).map_err(|source| StoreError::Read {
            what: what.to_string(),
            source,
        })
    }
}

fn file_id(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // The search index's triggers stem through this function: without it no post can be written.
    search::register_functions(conn)?;
    // Every hot statement stays prepared (claims, outcomes, batches: a few dozen in all).
    conn.set_prepared_statement_cache_capacity(64);
    // journal_mode answers with a row, so it is queried rather than executed.
    let _mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Savepoints (one per tagging outcome) keep their statement journal in memory, not in a temporary
    // file that is written and unlinked for every batch.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    Ok(())
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

/// `PRAGMA application_id` of tgsift's session files ("tgSs"), to name one given as the database.
const SESSION_APPLICATION_ID: i32 = 0x7467_5373;

/// Tables every tgsift database has had since version 1.
const OWN_TABLES: [&str; 3] = ["accounts", "channels", "posts"];

/// Refuses an SQLite file that is not a tgsift database (an empty one is a new database): another
/// program's database, or one of tgsift's session files given as `--db`.
fn refuse_foreign(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let app: i32 = conn
        .pragma_query_value(None, "application_id", |r| r.get(0))
        .map_err(|e| open_error(path, e))?;
    if app == SESSION_APPLICATION_ID {
        return Err(StoreError::Foreign {
            path: path.to_path_buf(),
            what: "a tgsift session file (one account's Telegram login), not the posts database: \
                   give it to `tgsift account import NAME --session FILE`"
                .into(),
        });
    }
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite%' ORDER BY name")
        .and_then(|mut st| st.query_map([], |r| r.get(0))?.collect())
        .map_err(|e| open_error(path, e))?;
    if tables.is_empty() || OWN_TABLES.iter().all(|t| tables.iter().any(|n| n == t)) {
        return Ok(());
    }
    let shown: Vec<&str> = tables.iter().take(5).map(String::as_str).collect();
    let more = if tables.len() > shown.len() {
        ", …"
    } else {
        ""
    };
    Err(StoreError::Foreign {
        path: path.to_path_buf(),
        what: format!(
            "an SQLite database of another program (tables {}{more}), not a tgsift database",
            shown.join(", ")
        ),
    })
}

/// Refuses an existing database file this process cannot write, naming the file (SQLite would
/// open it read-only and fail later with a disk I/O error).
fn refuse_read_only(path: &Path) -> Result<(), StoreError> {
    match std::fs::OpenOptions::new().write(true).open(path) {
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem
            ) =>
        {
            Err(StoreError::Open {
                path: path.to_path_buf(),
                reason: format!(
                    "the file is read-only for this user ({e}): make {} writable, or copy it \
                     somewhere writable and point --db at the copy",
                    path.display()
                ),
            })
        }
        _ => Ok(()),
    }
}

fn open_error(path: &Path, e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => StoreError::NotSqlite {
            path: path.to_path_buf(),
        },
        Some(ErrorCode::CannotOpen | ErrorCode::ReadOnly | ErrorCode::PermissionDenied) => {
            let dir = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            let reason = if !dir.exists() {
                format!(
                    "folder {} does not exist (create it or choose another --db)",
                    dir.display()
                )
            } else {
                format!(
                    "{e}; check that {} is writable, or choose another path with --db or storage.database",
                    dir.display()
                )
            };
            StoreError::Open {
                path: path.to_path_buf(),
                reason,
            }
        }
        _ => StoreError::Open {
            path: path.to_path_buf(),
            reason: e.to_string(),
        },
    }
}

fn migration_error(path: &Path, e: rusqlite_migration::Error) -> StoreError {
    if let rusqlite_migration::Error::RusqliteError { err, .. } = &e
        && err.sqlite_error_code() == Some(ErrorCode::NotADatabase)
    {
        return StoreError::NotSqlite {
            path: path.to_path_buf(),
        };
    }
    StoreError::Migration {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("t.db");
        (dir, path)
    }

    fn insert_account_channel(store: &mut SqliteStore) -> i64 {
        store
            .write("add account and channel", |tx| {
                tx.execute(
                    "INSERT INTO accounts (name, session_path, created_at) VALUES ('a', 'sessions/a.session', 0)",
                    [],
                )?;
                tx.execute("INSERT INTO channels (account_id, tg_id, created_at) VALUES (1, 42, 0)", [])?;
                Ok(tx.last_insert_rowid())
            })
            .expect("insert")
    }

    #[test]
    fn version_12_rewrites_the_status_check_and_keeps_the_posts_and_the_rule() {
        let (_d, path) = tmp();
        {
            // A database of schema version 11, with a post.
            let mut c = Connection::open(&path).expect("open");
            configure(&c).expect("configure");
            Migrations::new(MIGRATION_SQL[..11].iter().map(|sql| M::up(sql)).collect())
                .to_latest(&mut c)
                .expect("schema 11");
            c.execute_batch(
                "INSERT INTO accounts (name, session_path, created_at) VALUES ('a', 'a.session', 0);
                 INSERT INTO channels (account_id, tg_id, username, created_at) VALUES (1, 5, 'news', 0);
                 INSERT INTO posts (channel_id, message_id, date, fetched_at, text, tagging_status)
                 VALUES (1, 1, 0, 0, 'old', 'success');",
            )
            .expect("a post");
        }
        let mut s = SqliteStore::open(&path).expect("migrate");
        assert_eq!(s.migrated().from, 11);
        let sql: String = s
            .read("posts sql", |c| {
                c.query_row(
                    "SELECT sql FROM sqlite_schema WHERE name = 'posts'",
                    [],
                    |r| r.get(0),
                )
            })
            .expect("sql");
        assert!(
            sql.contains(STATUS_CHECK_OR) && !sql.contains(STATUS_CHECK_IN),
            "{sql}"
        );
        let ok: String = s
            .read("check", |c| {
                c.query_row("PRAGMA integrity_check", [], |r| r.get(0))
            })
            .expect("integrity");
        assert_eq!(ok, "ok");
        let status: String = s
            .read("post", |c| {
                c.query_row("SELECT tagging_status FROM posts", [], |r| r.get(0))
            })
            .expect("post");
        assert_eq!(status, "success");
        // The rule still holds: every status it names is accepted, any other is refused.
        for good in crate::TaggingStatus::ALL.map(crate::TaggingStatus::as_str) {
            s.write("set a status", |tx| {
                tx.execute("UPDATE posts SET tagging_status = ?1", [good])
            })
            .expect(good);
        }
        let err = s
            .write("set a bad status", |tx| {
                tx.execute("UPDATE posts SET tagging_status = 'done'", [])
            })
            .expect_err("not a status");
        assert!(
            matches!(&err, StoreError::Write { source, .. }
                if source.sqlite_error_code() == Some(ErrorCode::ConstraintViolation)),
            "{err}"
        );
    }

    #[test]
    fn version_17_keeps_every_id_and_never_hands_one_out_again() {
        let (_d, path) = tmp();
        {
            // A database of schema version 16: two channels, the second's posts are the newest.
            let mut c = Connection::open(&path).expect("open");
            configure(&c).expect("configure");
            Migrations::new(MIGRATION_SQL[..16].iter().map(|sql| M::up(sql)).collect())
                .to_latest(&mut c)
                .expect("schema 16");
            c.execute_batch(
                "INSERT INTO accounts (name, session_path, created_at) VALUES ('a', 'a.session', 0);
                 INSERT INTO channels (account_id, tg_id, username, created_at) VALUES (1, 5, 'news', 0);
                 INSERT INTO channels (account_id, tg_id, username, created_at) VALUES (1, 6, 'more', 0);
                 INSERT INTO posts (channel_id, message_id, date, fetched_at, text) VALUES (1, 1, 0, 0, 'x');
                 INSERT INTO posts (channel_id, message_id, date, fetched_at, text) VALUES (2, 1, 0, 0, 'y');
                 INSERT INTO posts (channel_id, message_id, date, fetched_at, text) VALUES (2, 2, 0, 0, 'z');
                 INSERT INTO search_queue (post_id) SELECT id FROM posts;",
            )
            .expect("rows");
        }
        let mut s = SqliteStore::open(&path).expect("migrate");
        assert_eq!(s.migrated().from, 16);
        let ids = |s: &SqliteStore, sql: &str| -> Vec<i64> {
            s.read("ids", |c| {
                c.prepare(sql)?
                    .query_map([], |r| r.get(0))?
                    .collect::<rusqlite::Result<Vec<i64>>>()
            })
            .expect("ids")
        };
        assert_eq!(ids(&s, "SELECT id FROM posts ORDER BY id"), [1, 2, 3]);
        assert_eq!(ids(&s, "SELECT id FROM channels ORDER BY id"), [1, 2]);
        for table in NUMBERED_TABLES {
            let sql: String = s
                .read("sql", |c| {
                    c.query_row(
                        "SELECT sql FROM sqlite_schema WHERE name = ?1",
                        [table],
                        |r| r.get(0),
                    )
                })
                .expect("sql");
            assert!(sql.contains(ID_AUTOINCREMENT), "{table}: {sql}");
        }
        let ok: String = s
            .read("check", |c| {
                c.query_row("PRAGMA integrity_check", [], |r| r.get(0))
            })
            .expect("integrity");
        assert_eq!(ok, "ok");
        // The newest channel and its posts go; what comes next is numbered after them.
        s.write("remove and add", |tx| {
            tx.execute("DELETE FROM channels WHERE id = 2", [])?;
            tx.execute(
                "INSERT INTO channels (account_id, tg_id, username, created_at) VALUES (1, 6, 'more', 0)",
                [],
            )?;
            tx.execute(
                "INSERT INTO posts (channel_id, message_id, date, fetched_at, text) VALUES (3, 1, 0, 0, 'y')",
                [],
            )?;
            tx.execute("INSERT INTO search_queue (post_id) VALUES (4)", [])
        })
        .expect("write");
        assert_eq!(ids(&s, "SELECT id FROM channels ORDER BY id"), [1, 3]);
        assert_eq!(ids(&s, "SELECT id FROM posts ORDER BY id"), [1, 4]);
        use crate::prelude::SearchStore;
        let queued = s.stem_queued(10).expect("stem");
        s.index_stemmed(&queued).expect("index");
        assert_eq!(
            ids(&s, "SELECT rowid FROM posts_fts WHERE posts_fts MATCH 'y'"),
            [4],
            "the search index follows the ids"
        );
    }

    #[test]
    fn version_18_gives_every_tag_one_name_and_keeps_every_post() {
        let (_d, path) = tmp();
        {
            // A database of schema version 17: one tag in two cases, a post carrying both.
            let mut c = Connection::open(&path).expect("open");
            configure(&c).expect("configure");
            Migrations::new(MIGRATION_SQL[..17].iter().map(|sql| M::up(sql)).collect())
                .to_latest(&mut c)
                .expect("schema 17");
            c.execute_batch(
                "INSERT INTO accounts (name, session_path, created_at) VALUES ('a', 'a.session', 0);
                 INSERT INTO channels (account_id, tg_id, username, created_at) VALUES (1, 5, 'news', 0);
                 INSERT INTO posts (id, channel_id, message_id, date, fetched_at, text) VALUES (7, 1, 1, 0, 0, 'x');
                 INSERT INTO posts (id, channel_id, message_id, date, fetched_at, text) VALUES (9, 1, 2, 0, 0, 'y');
                 INSERT INTO posts (id, channel_id, message_id, date, fetched_at, text) VALUES (12, 1, 3, 0, 0, 'z');
                 INSERT INTO post_tags (post_id, tag, score, source) VALUES
                     (7, 'nvidia', 0.5, 'embedded'), (7, 'Nvidia', 0.9, 'embedded'),
                     (9, 'nvidia', 0.4, 'embedded'), (12, 'Nvidia', 0.3, 'embedded'),
                     (12, 'nvidia', 0.2, 'embedded'), (9, 'Ёлка', 0.1, 'embedded');",
            )
            .expect("rows");
        }
        let s = SqliteStore::open(&path).expect("migrate");
        assert_eq!(s.migrated().from, 17);
        let rows = |sql: &str| -> Vec<(i64, String)> {
            s.read("rows", |c| {
                c.prepare(sql)?
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<rusqlite::Result<_>>()
            })
            .expect("rows")
        };
        assert_eq!(
            rows("SELECT post_id, tag FROM post_tags ORDER BY post_id, tag"),
            [
                (7, "nvidia".to_string()),
                (9, "nvidia".to_string()),
                (9, "Ёлка".to_string()),
                (12, "nvidia".to_string())
            ]
        );
        assert_eq!(
            rows("SELECT id, text FROM posts ORDER BY id"),
            [(7, "x".into()), (9, "y".into()), (12, "z".into())]
        );
        let names: Vec<(String, String)> = s
            .read("names", |c| {
                c.prepare("SELECT key, tag FROM tag_names ORDER BY key")?
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<rusqlite::Result<_>>()
            })
            .expect("names");
        assert_eq!(
            names,
            [
                ("nvidia".to_string(), "nvidia".to_string()),
                ("елка".to_string(), "Ёлка".to_string())
            ]
        );
    }

    #[test]
    fn a_table_not_written_by_tgsift_keeps_its_definition() {
        assert_eq!(
            with_autoincrement("CREATE TABLE t (\n    id  INTEGER PRIMARY KEY,\n    x TEXT\n)")
                .as_deref(),
            Some("CREATE TABLE t (\n    id  INTEGER PRIMARY KEY AUTOINCREMENT,\n    x TEXT\n)")
        );
        assert_eq!(
            with_autoincrement("CREATE TABLE t (id INTEGER PRIMARY KEY, x TEXT)"),
            None
        );
        assert_eq!(
            with_autoincrement("CREATE TABLE t (\n    rid INTEGER PRIMARY KEY,\n)"),
            None
        );
    }

    #[test]
    fn migrations_are_valid() {
        // `validate` runs them on a bare in-memory connection; ours carries the search function.
        let mut c = Connection::open_in_memory().expect("memory");
        configure(&c).expect("configure");
        migrations().to_latest(&mut c).expect("migrations apply");
        assert_eq!(
            c.pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0))
                .expect("v"),
            latest_version() as i64
        );
    }

    #[test]
    fn open_twice_and_migrate_twice_is_a_no_op() {
        let (_d, path) = tmp();
        let mut s = SqliteStore::open(&path).expect("first open");
        assert_eq!(
            s.migrated(),
            Migrated {
                from: 0,
                to: latest_version()
            }
        );
        insert_account_channel(&mut s);
        drop(s);
        let s = SqliteStore::open(&path).expect("second open");
        assert_eq!(
            s.migrated(),
            Migrated {
                from: latest_version(),
                to: latest_version()
            }
        );
        assert_eq!(s.schema_version().expect("version"), latest_version());
        let n: i64 = s
            .read("count", |c| {
                c.query_row("SELECT count(*) FROM channels", [], |r| r.get(0))
            })
            .expect("n");
        assert_eq!(n, 1, "data survives re-opening");
        let mode: String = s
            .read("mode", |c| {
                c.query_row("PRAGMA journal_mode", [], |r| r.get(0))
            })
            .expect("journal mode");
        assert_eq!(mode, "wal");
        let fk: i64 = s
            .read("fk", |c| {
                c.query_row("PRAGMA foreign_keys", [], |r| r.get(0))
            })
            .expect("fk");
        assert_eq!(fk, 1);
    }

    #[test]
    fn newer_schema_is_refused() {
        let (_d, path) = tmp();
        drop(SqliteStore::open(&path).expect("open"));
        let c = Connection::open(&path).expect("raw open");
        c.pragma_update(None, "user_version", latest_version() as i64 + 1)
            .expect("bump");
        drop(c);
        match SqliteStore::open(&path) {
            Err(StoreError::TooNew {
                found, supported, ..
            }) => {
                assert_eq!(found, latest_version() + 1);
                assert_eq!(supported, latest_version());
            }
            other => panic!("expected TooNew, got {other:?}"),
        }
    }

    #[test]
    fn posts_are_unique_per_channel_and_message_id() {
        let (_d, path) = tmp();
        let mut s = SqliteStore::open(&path).expect("open");
        let ch = insert_account_channel(&mut s);
        let insert =
            "INSERT INTO posts (channel_id, message_id, date, fetched_at) VALUES (?1, 7, 0, 0)";
        s.write("first post", |tx| tx.execute(insert, [ch]))
            .expect("first");
        let err = s
            .write("duplicate post", |tx| tx.execute(insert, [ch]))
            .expect_err("duplicate must fail");
        match &err {
            StoreError::Write { what, source } => {
                assert_eq!(what, "duplicate post");
                assert_eq!(
                    source.sqlite_error_code(),
                    Some(ErrorCode::ConstraintViolation)
                );
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(err.to_string().starts_with("could not duplicate post"));
        let n: i64 = s
            .read("count", |c| {
                c.query_row("SELECT count(*) FROM posts", [], |r| r.get(0))
            })
            .expect("n");
        assert_eq!(n, 1);
    }

    #[test]
    fn tagging_status_is_constrained() {
        let (_d, path) = tmp();
        let mut s = SqliteStore::open(&path).expect("open");
        let ch = insert_account_channel(&mut s);
        let r = s.write("bad status", |tx| {
            tx.execute(
                "INSERT INTO posts (channel_id, message_id, date, fetched_at, tagging_status) VALUES (?1, 1, 0, 0, 'done')",
                [ch],
            )
        });
        assert!(r.is_err());
    }

    #[test]
    fn not_sqlite_and_unwritable_folder_are_usage_errors() {
        let (d, path) = tmp();
        std::fs::write(
            &path,
            "this is not a database, just text that is long enough ..........",
        )
        .expect("write");
        let err = SqliteStore::open(&path).expect_err("text file");
        assert!(matches!(err, StoreError::NotSqlite { .. }), "{err:?}");
        assert!(err.is_usage());
        let err =
            SqliteStore::open(&d.path().join("missing/dir/x.db")).expect_err("missing folder");
        assert!(
            matches!(err, StoreError::Open { .. }) && err.is_usage(),
            "{err:?}"
        );
        assert!(err.to_string().contains("does not exist"), "{err}");
    }

    #[test]
    fn busy_writes_are_retried_then_named() {
        let (_d, path) = tmp();
        let mut s = SqliteStore::open(&path).expect("open");
        s.conn
            .busy_timeout(Duration::from_millis(1))
            .expect("short timeout");
        let other = Connection::open(&path).expect("second connection");
        other
            .execute_batch("BEGIN IMMEDIATE")
            .expect("hold the write lock");
        let err = s
            .write("store a test row", |tx| tx.execute("DELETE FROM jobs", []))
            .expect_err("busy");
        assert!(
            matches!(&err, StoreError::Write { what, source } if what == "store a test row" && is_busy(source))
        );
        other.execute_batch("COMMIT").expect("release");
        s.write("store a test row", |tx| tx.execute("DELETE FROM jobs", []))
            .expect("works once free");
    }

    #[tokio::test]
    async fn async_store_runs_off_the_runtime() {
        let (_d, path) = tmp();
        let store = tokio::time::timeout(Duration::from_secs(10), crate::AsyncStore::open(path))
            .await
            .expect("timeout")
            .expect("open");
        let v = store
            .with("read version", |s| s.schema_version())
            .await
            .expect("version");
        assert_eq!(v, latest_version());
    }
}
