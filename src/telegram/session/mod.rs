//! Session files: grammers' [`Session`] trait on rusqlite, one SQLite file per Telegram account.
//!
//! A session file (`sessions/<account>.session`) holds what grammers needs to stay logged in: the home DC,
//! the address and permanent auth key of every DC, the cached peers (with their access hashes and the
//! logged-in user), and the updates state. It mirrors grammers' own libsql storage
//! (`grammers_session::storages::SqliteSession`) in what it keeps and how it merges, with these differences:
//!
//! - the file is created with mode 0600 before SQLite ever touches it, and is marked with its own
//!   `application_id`, so [`SqliteSession::open`] can tell a session from the posts database;
//! - peers are stored column by column, so every [`PeerInfo`] round-trips exactly (grammers' bit-packed
//!   subtype loses `bot: Some(false)` and the community kind);
//! - `peer(PeerId::self_user())` answers with the cached self user, and at most one user is marked as self;
//! - writes run on tokio's blocking pool (when called inside a runtime), so an `fsync` never stalls the
//!   network tasks; `home_dc_id` and `dc_option`, called on every request, are served from memory.
//!
//! [`TelethonString`] reads and writes Telethon's `StringSession`, so users coming from Telethon keep their
//! authorization.
//!
//! Files: this one is the storage (the file, its schema, the [`Session`] methods); `peers.rs` is the
//! peer cache's row codec; `telethon.rs` is the Telethon string format.

use std::collections::HashMap;
use std::fmt;
use std::fs::{self, DirBuilder, OpenOptions, Permissions};
use std::io;
use std::net::{SocketAddrV4, SocketAddrV6};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use grammers_session::types::{
    ChannelState, DcOption, PeerId, PeerInfo, UpdateState, UpdatesState,
};
use grammers_session::{BoxFuture, Session, SessionData};
use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, TransactionBehavior, params};
use rusqlite_migration::{M, Migrations, SchemaVersion};

mod peers;
mod postgres;
mod sealed;
#[cfg(feature = "sim")]
mod sim;
mod telethon;

use peers::{PEER_COLUMNS, PeerRow, merge_peer, peer_id_of, peer_label};
pub use postgres::PgSession;
pub use sealed::{KeyError, SESSION_KEY_ENV, SealError, SessionKey};
#[cfg(feature = "sim")]
pub use sim::SimSessions;
pub use telethon::TelethonString;

/// `PRAGMA application_id` of a session file: "tgSs". Tells a session apart from any other SQLite file.
const APPLICATION_ID: i32 = 0x7467_5373;

/// Schema version 1. Never edit a released migration; append a new one instead.
const MIGRATION_1: &str = "
PRAGMA application_id = 1952928627;

-- The DC the logged-in user belongs to (one row; absent = grammers' default, DC 2).
CREATE TABLE dc_home (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    dc_id INTEGER NOT NULL
) STRICT;

-- Addresses as `ip:port` / `[ip]:port`, and the permanent auth key (NULL = none yet).
-- DCs without a row use grammers' built-in defaults.
CREATE TABLE dc_option (
    dc_id    INTEGER PRIMARY KEY,
    ipv4     TEXT NOT NULL,
    ipv6     TEXT NOT NULL,
    auth_key BLOB CHECK (auth_key IS NULL OR length(auth_key) = 256)
) STRICT;

-- Cached peers. `peer_id` is the Bot API dialog id (its range tells user, chat or channel);
-- NULL means unknown, as in grammers' PeerInfo.
CREATE TABLE peer_info (
    peer_id      INTEGER PRIMARY KEY,
    hash         INTEGER,
    bot          INTEGER CHECK (bot IN (0, 1)),
    is_self      INTEGER CHECK (is_self IN (0, 1)),
    channel_kind INTEGER CHECK (channel_kind BETWEEN 1 AND 4) -- broadcast, megagroup, gigagroup, community
) STRICT;
CREATE UNIQUE INDEX peer_info_single_self ON peer_info (is_self) WHERE is_self = 1;

-- The account's updates state (one row; absent = all zero).
CREATE TABLE update_state (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    pts  INTEGER NOT NULL,
    qts  INTEGER NOT NULL,
    date INTEGER NOT NULL,
    seq  INTEGER NOT NULL
) STRICT;

-- pts of each channel, keyed by the bare channel id.
CREATE TABLE channel_state (
    channel_id INTEGER PRIMARY KEY,
    pts        INTEGER NOT NULL
) STRICT;
";

/// The migrations, oldest first.
const MIGRATION_SQL: &[&str] = &[MIGRATION_1];

/// How long a statement waits inside SQLite for another connection's lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Mode of a new session file: it holds the account's auth key.
const FILE_MODE: u32 = 0o600;
/// Mode of a sessions folder that [`SqliteSession::create`] has to make.
const DIR_MODE: u32 = 0o700;
/// Length of an MTProto permanent auth key.
const AUTH_KEY_LEN: usize = 256;

fn migrations() -> Migrations<'static> {
    Migrations::new(MIGRATION_SQL.iter().map(|sql| M::up(sql)).collect())
}

/// The session schema version this build of tgsift writes.
pub(crate) fn latest_version() -> usize {
    MIGRATION_SQL.len()
}

/// What can go wrong with a session file or a Telethon string; each message names the file and what to do.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// [`SqliteSession::create`] found a file already at the path; it never overwrites one.
    #[error(
        "session file {} already exists; tgsift never overwrites a session (remove the file first if \
         this account should log in again)",
        .path.display()
    )]
    Exists {
        /// The existing file.
        path: PathBuf,
    },
    /// The file (or its folder) cannot be created.
    #[error("cannot create session file {}: {source}", .path.display())]
    Create {
        /// The file that was to be created.
        path: PathBuf,
        /// Why the operating system refused.
        source: io::Error,
    },
    /// [`SqliteSession::open`] found no file.
    #[error(
        "session file {} does not exist: log in (or import a session) for this account first",
        .path.display()
    )]
    Missing {
        /// The missing file.
        path: PathBuf,
    },
    /// The file exists but cannot be opened (permissions, a folder, ...).
    #[error("cannot open session file {}: {reason}", .path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The file is not an SQLite database at all.
    #[error(
        "{} is not an SQLite file, so it is not a tgsift session (is the path right?); nothing was changed",
        .path.display()
    )]
    NotSqlite {
        /// The file.
        path: PathBuf,
    },
    /// The file is an SQLite database without the session schema (the posts database, for example).
    #[error(
        "{} is an SQLite database but not a tgsift session file (it has no session schema; is the path \
         pointing at the posts database?); nothing was changed",
        .path.display()
    )]
    NotSession {
        /// The file.
        path: PathBuf,
    },
    /// The file was written by a newer tgsift.
    #[error(
        "session file {} has schema version {found}, newer than the {supported} this tgsift understands: \
         upgrade tgsift (nothing was changed)",
        .path.display()
    )]
    TooNew {
        /// The file.
        path: PathBuf,
        /// Its schema version.
        found: usize,
        /// The newest version this build knows.
        supported: usize,
    },
    /// Applying the schema migrations failed.
    #[error("migrating session file {} failed: {reason}", .path.display())]
    Migration {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// A value in the file cannot be what tgsift wrote (edited by hand or damaged).
    #[error("session file {} is damaged: {what}; log in again to replace it", .path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it (never key bytes).
        what: String,
    },
    /// An SQLite statement failed.
    #[error("session file {}: could not {what}: {source}", .path.display())]
    Sql {
        /// The file.
        path: PathBuf,
        /// What was being done.
        what: &'static str,
        /// The SQLite error.
        source: rusqlite::Error,
    },
    /// There is no usable `TGSIFT_SESSION_KEY`, so a PostgreSQL store cannot hold sessions.
    #[error(transparent)]
    NoSessionKey(#[from] KeyError),
    /// The account's session in the PostgreSQL store was sealed with another session key.
    #[error(
        "the session of account {account} was sealed with another {SESSION_KEY_ENV} (key id {stored}; \
         this worker's is {given}): start every worker with the key that sealed it"
    )]
    WrongKey {
        /// The account.
        account: String,
        /// The id of the key that sealed it.
        stored: String,
        /// The id of this worker's key.
        given: String,
    },
    /// The account has no session in the PostgreSQL store.
    #[error(
        "account {account} has no session in the PostgreSQL store: log in (or import a session) for \
         it first"
    )]
    NoSession {
        /// The account.
        account: String,
    },
    /// The account already has a session in the PostgreSQL store; tgsift never overwrites one.
    #[error(
        "account {account} already has a session in the PostgreSQL store; tgsift never overwrites a \
         session (log the account out first if it should log in again)"
    )]
    SessionExists {
        /// The account.
        account: String,
    },
    /// Reading or writing the account's session in the PostgreSQL store failed (including a write
    /// refused because this worker lost the account's lease).
    #[error("the session of account {account}: {source}")]
    Database {
        /// The account.
        account: String,
        /// What failed.
        source: tgsift_store::postgres::PgError,
    },
    /// A row of the account's session in the PostgreSQL store cannot be what tgsift wrote.
    #[error(
        "the session of account {account} in the PostgreSQL store is damaged: {what}; log in again to replace it"
    )]
    DamagedRow {
        /// The account.
        account: String,
        /// What is wrong (never key bytes).
        what: String,
    },
    /// The blocking task that ran the statement died (runtime shutting down, or a panic).
    #[error("session file {}: the task to {what} failed: {reason}", .path.display())]
    Task {
        /// The file.
        path: PathBuf,
        /// What was being done.
        what: &'static str,
        /// Why the task failed.
        reason: String,
    },
    /// A Telethon string session could not be read; `reason` says what is wrong (never key bytes).
    #[error("not a valid Telethon string session: {reason}")]
    InvalidTelethonString {
        /// What is wrong with the string.
        reason: String,
    },
}

impl SessionError {
    /// Whether the error comes from how tgsift was pointed at the session (a usage error, exit code 2)
    /// rather than from something that failed while running.
    pub(crate) fn is_usage(&self) -> bool {
        if let SessionError::Sql { source, .. } = self {
            // A truncated or damaged file is a bad input file, like one that is not SQLite at all.
            return matches!(
                source.sqlite_error_code(),
                Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase)
            );
        }
        matches!(
            self,
            SessionError::Exists { .. }
                | SessionError::Missing { .. }
                | SessionError::Open { .. }
                | SessionError::Corrupt { .. }
                | SessionError::NotSqlite { .. }
                | SessionError::NotSession { .. }
                | SessionError::TooNew { .. }
                | SessionError::InvalidTelethonString { .. }
                | SessionError::NoSessionKey(_)
                | SessionError::WrongKey { .. }
                | SessionError::NoSession { .. }
                | SessionError::SessionExists { .. }
        )
    }
}

/// A failure inside a statement run, before the path and the action are attached.
enum Fail {
    Sql(rusqlite::Error),
    Corrupt(String),
}

impl From<rusqlite::Error> for Fail {
    fn from(e: rusqlite::Error) -> Self {
        Fail::Sql(e)
    }
}

/// The user a session is logged in as, so callers can tell whether an account needs to log in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SelfUser {
    /// Telegram's user id.
    pub id: i64,
    /// Whether the account is a bot.
    pub bot: bool,
}

/// What `home_dc_id` and `dc_option` answer from, without touching SQLite (they run on every request).
struct Cache {
    home_dc: i32,
    dc_options: HashMap<i32, DcOption>,
    self_user: Option<PeerInfo>,
}

/// The shared state; held in an `Arc` so writes can move to the blocking pool.
///
/// Lock order: `conn` before `cache`. Writers update the cache first, then their blocking task takes
/// `conn` and writes the value the cache holds *at that moment*, so the file ends with the latest value
/// even when two writes run out of order.
struct Inner {
    path: PathBuf,
    conn: Mutex<Connection>,
    cache: RwLock<Cache>,
}

impl Inner {
    // A panic while a lock was held leaves consistent data behind: an open transaction is rolled back
    // when dropped, and cache updates are single assignments. So poisoning is ignored.
    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn cache(&self) -> RwLockReadGuard<'_, Cache> {
        self.cache.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn cache_mut(&self) -> RwLockWriteGuard<'_, Cache> {
        self.cache.write().unwrap_or_else(PoisonError::into_inner)
    }

    fn error(&self, what: &'static str, fail: Fail) -> SessionError {
        match fail {
            Fail::Sql(source) => SessionError::Sql {
                path: self.path.clone(),
                what,
                source,
            },
            Fail::Corrupt(detail) => SessionError::Corrupt {
                path: self.path.clone(),
                what: detail,
            },
        }
    }

    /// Runs `f` on the connection on this thread (blocking).
    fn with_conn<T>(
        &self,
        what: &'static str,
        f: impl FnOnce(&Inner, &mut Connection) -> Result<T, Fail>,
    ) -> Result<T, SessionError> {
        let mut conn = self.conn();
        f(self, &mut conn).map_err(|e| self.error(what, e))
    }
}

/// grammers' [`Session`] stored in one SQLite file per account, mode 0600, that survives restarts.
///
/// `open`, `create`, `import_data`, `export_data` and `clear_authorization` block on the disk: call them
/// from CLI code or `spawn_blocking`. The [`Session`] methods are safe to call from async code.
pub struct SqliteSession {
    inner: Arc<Inner>,
}

impl SqliteSession {
    /// Creates a new, empty session file (mode 0600 from the first byte; its folder 0700 if missing).
    /// Fails with [`SessionError::Exists`] if anything is at `path`.
    pub fn create(path: &Path) -> Result<Self, SessionError> {
        create_private_file(path)?;
        let made = connect(path).and_then(|mut conn| {
            configure(path, &conn)?;
            migrations()
                .to_latest(&mut conn)
                .map_err(|e| migration_error(path, e))?;
            Self::from_connection(path, conn)
        });
        if made.is_err() {
            // Leave nothing behind that would block a retry.
            if let Err(e) = fs::remove_file(path) {
                tracing::warn!(path = %path.display(), error = %e, "could not remove a half-created session file");
            }
        }
        made
    }

    /// Opens an existing session file, checking that it is one (and migrating an older schema).
    pub fn open(path: &Path) -> Result<Self, SessionError> {
        let meta = match fs::metadata(path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(SessionError::Missing {
                    path: path.to_path_buf(),
                });
            }
            Err(e) => {
                return Err(SessionError::Open {
                    path: path.to_path_buf(),
                    reason: e.to_string(),
                });
            }
        };
        if !meta.is_file() {
            return Err(SessionError::Open {
                path: path.to_path_buf(),
                reason: "it is not a regular file".into(),
            });
        }
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(
                path = %path.display(),
                mode = format_args!("{mode:o}"),
                "session file can be read by other users; restrict it with `chmod 600`"
            );
        }

        let mut conn = connect(path)?;
        // The first read of the header: a non-SQLite file fails here with SQLITE_NOTADB.
        let application_id: i32 = conn
            .pragma_query_value(None, "application_id", |r| r.get(0))
            .map_err(|e| open_error(path, e))?;
        if application_id != APPLICATION_ID {
            return Err(SessionError::NotSession {
                path: path.to_path_buf(),
            });
        }
        let migrations = migrations();
        let found = migrations
            .current_version(&conn)
            .map_err(|e| migration_error(path, e))?;
        let from: usize = (&found).into();
        match found {
            SchemaVersion::Outside(_) => {
                return Err(SessionError::TooNew {
                    path: path.to_path_buf(),
                    found: from,
                    supported: latest_version(),
                });
            }
            // Our marker without our schema: not something tgsift wrote.
            SchemaVersion::NoneSet => {
                return Err(SessionError::NotSession {
                    path: path.to_path_buf(),
                });
            }
            SchemaVersion::Inside(_) => {}
        }
        configure(path, &conn)?;
        if from < latest_version() {
            migrations
                .to_latest(&mut conn)
                .map_err(|e| migration_error(path, e))?;
            tracing::info!(path = %path.display(), from, to = latest_version(), "session file migrated");
        }
        Self::from_connection(path, conn)
    }

    /// Creates a session file holding all of `data` (used by `account import` and by the simulator to
    /// point DCs at 127.0.0.1 with a pre-shared key). The file is removed again if writing fails.
    pub(crate) fn import_data(path: &Path, data: &SessionData) -> Result<Self, SessionError> {
        let session = Self::create(path)?;
        let written = session
            .inner
            .with_conn("import the session data", |inner, conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                write_home_dc(&tx, data.home_dc)?;
                for option in data.dc_options.values() {
                    write_dc_option(&tx, option)?;
                }
                for peer in data.peer_infos.values() {
                    match PeerRow::from_info(peer) {
                        Some(row) => row.write(&tx)?,
                        None => tracing::warn!(
                            peer = %peer_label(peer),
                            "not importing a peer with an out-of-range id"
                        ),
                    }
                }
                write_update_state(&tx, UpdateState::All(data.updates_state.clone()))?;
                tx.commit()?;
                *inner.cache_mut() = load_cache(conn)?;
                Ok(())
            });
        match written {
            Ok(()) => Ok(session),
            Err(e) => {
                drop(session);
                if let Err(rm) = fs::remove_file(path) {
                    tracing::warn!(path = %path.display(), error = %rm, "could not remove a half-imported session file");
                }
                Err(e)
            }
        }
    }

    /// Everything the session holds, e.g. to copy it into another storage or to inspect it in tests.
    pub(crate) fn export_data(&self) -> Result<SessionData, SessionError> {
        self.inner.with_conn("export the session", |inner, conn| {
            let mut peer_infos = HashMap::new();
            let mut stmt = conn.prepare(&format!("SELECT {PEER_COLUMNS} FROM peer_info"))?;
            let rows = stmt.query_map([], PeerRow::read)?;
            for row in rows {
                let info = row?.into_info().map_err(Fail::Corrupt)?;
                peer_infos.insert(peer_id_of(&info).map_err(Fail::Corrupt)?, info);
            }
            let updates_state = read_updates_state(conn)?;
            let cache = inner.cache();
            Ok(SessionData {
                home_dc: cache.home_dc,
                dc_options: cache.dc_options.clone(),
                peer_infos,
                updates_state,
            })
        })
    }

    /// The file this session lives in (for messages and for `account` commands).
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The permanent auth key of the home DC, if one was made or imported.
    pub fn auth_key(&self) -> Option<[u8; 256]> {
        let cache = self.inner.cache();
        cache
            .dc_options
            .get(&cache.home_dc)
            .and_then(|option| option.auth_key)
    }

    /// The user this session is logged in as (cached by grammers at sign-in, or by any `get_me`);
    /// `None` means no login was completed with this file.
    pub fn self_user(&self) -> Option<SelfUser> {
        match self.inner.cache().self_user {
            Some(PeerInfo::User { id, bot, .. }) => Some(SelfUser {
                id,
                bot: bot.unwrap_or(false),
            }),
            _ => None,
        }
    }

    /// Forgets the login after a log-out: every auth key, the self user, all cached peers (their access
    /// hashes belong to that account) and the updates state. DC addresses and the home DC stay.
    #[cfg(test)]
    pub(crate) fn clear_authorization(&self) -> Result<(), SessionError> {
        self.inner
            .with_conn("forget the authorization", |inner, conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                tx.execute_batch(
                    "UPDATE dc_option SET auth_key = NULL;
                     DELETE FROM peer_info;
                     DELETE FROM update_state;
                     DELETE FROM channel_state;",
                )?;
                tx.commit()?;
                let mut cache = inner.cache_mut();
                for option in cache.dc_options.values_mut() {
                    option.auth_key = None;
                }
                cache.self_user = None;
                Ok(())
            })
    }

    fn from_connection(path: &Path, conn: Connection) -> Result<Self, SessionError> {
        let cache = load_cache(&conn).map_err(|fail| match fail {
            Fail::Sql(source) => SessionError::Sql {
                path: path.to_path_buf(),
                what: "load the session",
                source,
            },
            Fail::Corrupt(what) => SessionError::Corrupt {
                path: path.to_path_buf(),
                what,
            },
        })?;
        Ok(SqliteSession {
            inner: Arc::new(Inner {
                path: path.to_path_buf(),
                conn: Mutex::new(conn),
                cache: RwLock::new(cache),
            }),
        })
    }

    /// Runs `f` on tokio's blocking pool when polled inside a runtime, else right here.
    fn run<T: Send + 'static>(
        &self,
        what: &'static str,
        f: impl FnOnce(&Inner, &mut Connection) -> Result<T, Fail> + Send + 'static,
    ) -> BoxFuture<'static, Result<T, SessionError>> {
        let inner = Arc::clone(&self.inner);
        Box::pin(async move {
            match tokio::runtime::Handle::try_current() {
                Ok(runtime) => {
                    let path = inner.path.clone();
                    runtime
                        .spawn_blocking(move || inner.with_conn(what, f))
                        .await
                        .map_err(|e| SessionError::Task {
                            path,
                            what,
                            reason: e.to_string(),
                        })?
                }
                Err(_) => inner.with_conn(what, f),
            }
        })
    }
}

impl fmt::Debug for SqliteSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cache = self.inner.cache();
        f.debug_struct("SqliteSession")
            .field("path", &self.inner.path)
            .field("home_dc", &cache.home_dc)
            .field("dcs_with_auth_key", &dcs_with_auth_key(&cache.dc_options))
            .field("self_user", &cache.self_user.as_ref().map(|p| p.id()))
            .finish_non_exhaustive()
    }
}

impl Session for SqliteSession {
    type Error = SessionError;

    fn home_dc_id(&self) -> Result<i32, SessionError> {
        Ok(self.inner.cache().home_dc)
    }

    fn set_home_dc_id(&self, dc_id: i32) -> BoxFuture<'_, Result<(), SessionError>> {
        self.inner.cache_mut().home_dc = dc_id;
        self.run("save the home DC", |inner, conn| {
            let home_dc = inner.cache().home_dc;
            write_home_dc(conn, home_dc)?;
            Ok(())
        })
    }

    fn dc_option(&self, dc_id: i32) -> Result<Option<DcOption>, SessionError> {
        Ok(self.inner.cache().dc_options.get(&dc_id).cloned())
    }

    fn set_dc_option(&self, dc_option: &DcOption) -> BoxFuture<'_, Result<(), SessionError>> {
        let id = dc_option.id;
        self.inner
            .cache_mut()
            .dc_options
            .insert(id, dc_option.clone());
        self.run("save a DC option", move |inner, conn| {
            let current = inner.cache().dc_options.get(&id).cloned();
            if let Some(option) = current {
                write_dc_option(conn, &option)?;
            }
            Ok(())
        })
    }

    fn peer(&self, peer: PeerId) -> BoxFuture<'_, Result<Option<PeerInfo>, SessionError>> {
        let Some(dialog_id) = peer.bot_api_dialog_id() else {
            // `PeerId::self_user()`: answered from the cache, which follows every write under the lock.
            let inner = Arc::clone(&self.inner);
            return Box::pin(async move { Ok(inner.cache().self_user.clone()) });
        };
        self.run("read a cached peer", move |_, conn| {
            PeerRow::select(conn, dialog_id)?
                .map(|row| row.into_info().map_err(Fail::Corrupt))
                .transpose()
        })
    }

    fn cache_peer(&self, peer: PeerInfo) -> BoxFuture<'_, Result<(), SessionError>> {
        self.cache_peers(vec![peer])
    }

    fn cache_peers(&self, peers: Vec<PeerInfo>) -> BoxFuture<'_, Result<(), SessionError>> {
        self.run("cache peers", move |inner, conn| {
            store_peers(inner, conn, peers)
        })
    }

    fn updates_state(&self) -> BoxFuture<'_, Result<UpdatesState, SessionError>> {
        self.run("read the updates state", |_, conn| read_updates_state(conn))
    }

    fn set_update_state(&self, update: UpdateState) -> BoxFuture<'_, Result<(), SessionError>> {
        self.run("save the updates state", move |_, conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            write_update_state(&tx, update)?;
            tx.commit()?;
            Ok(())
        })
    }
}

/// Creates `path` with mode 0600 (and a missing folder with 0700); `create_new` refuses anything existing.
fn create_private_file(path: &Path) -> Result<(), SessionError> {
    let create_error = |source| SessionError::Create {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.exists()
    {
        DirBuilder::new()
            .recursive(true)
            .mode(DIR_MODE)
            .create(dir)
            .map_err(create_error)?;
    }
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(path)
        .map_err(|e| match e.kind() {
            io::ErrorKind::AlreadyExists => SessionError::Exists {
                path: path.to_path_buf(),
            },
            _ => create_error(e),
        })?;
    // The umask can only clear bits; set the mode exactly so it is 0600 whatever the umask was.
    file.set_permissions(Permissions::from_mode(FILE_MODE))
        .map_err(create_error)?;
    // A journal left by a deleted file of the same name would be "rolled back" into the new one.
    for suffix in ["-journal", "-wal", "-shm"] {
        let mut stale = path.as_os_str().to_owned();
        stale.push(suffix);
        match fs::remove_file(&stale) {
            Ok(()) => {
                tracing::warn!(file = %Path::new(&stale).display(), "removed a stale SQLite journal")
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(create_error(e)),
        }
    }
    Ok(())
}

/// A stored DC option (addresses written as `ip:port` / `[ip]:port`, the auth key's bytes) back to
/// grammers' [`DcOption`]; `Err` says what is wrong with the row (never key bytes). Both session
/// storages read their rows through it.
fn dc_option_from_row(
    id: i32,
    ipv4: &str,
    ipv6: &str,
    auth_key: Option<&[u8]>,
) -> Result<DcOption, String> {
    let ipv4: SocketAddrV4 = ipv4
        .parse()
        .map_err(|_| format!("DC {id} has an invalid IPv4 address {ipv4:?}"))?;
    let ipv6: SocketAddrV6 = ipv6
        .parse()
        .map_err(|_| format!("DC {id} has an invalid IPv6 address {ipv6:?}"))?;
    let auth_key = auth_key
        .map(|key| {
            <[u8; AUTH_KEY_LEN]>::try_from(key).map_err(|_| {
                format!(
                    "the auth key of DC {id} has {} bytes instead of {AUTH_KEY_LEN}",
                    key.len()
                )
            })
        })
        .transpose()?;
    Ok(DcOption {
        id,
        ipv4,
        ipv6,
        auth_key,
    })
}

/// The DCs that have an auth key, ascending: what the sessions' `Debug` shows instead of keys.
fn dcs_with_auth_key(options: &HashMap<i32, DcOption>) -> Vec<i32> {
    let mut keyed: Vec<i32> = options
        .values()
        .filter(|o| o.auth_key.is_some())
        .map(|o| o.id)
        .collect();
    keyed.sort_unstable();
    keyed
}

/// Opens an existing file read-write; never creates one.
fn connect(path: &Path) -> Result<Connection, SessionError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(|e| open_error(path, e))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(|e| open_error(path, e))?;
    Ok(conn)
}

/// A rollback journal rather than WAL keeps the session one self-contained file (no `-wal`/`-shm`
/// beside it between runs); SQLite gives the journal the database file's mode.
fn configure(path: &Path, conn: &Connection) -> Result<(), SessionError> {
    let _mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "DELETE", |r| r.get(0))
        .map_err(|e| open_error(path, e))?;
    Ok(())
}

fn open_error(path: &Path, e: rusqlite::Error) -> SessionError {
    match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => SessionError::NotSqlite {
            path: path.to_path_buf(),
        },
        Some(ErrorCode::DatabaseCorrupt) => SessionError::Corrupt {
            path: path.to_path_buf(),
            what: "the file is truncated or corrupt".into(),
        },
        Some(ErrorCode::CannotOpen | ErrorCode::PermissionDenied | ErrorCode::ReadOnly) => {
            SessionError::Open {
                path: path.to_path_buf(),
                reason: format!(
                    "{e}; check that this user can read and write the file and its folder \
                     (SQLite writes a journal beside it)"
                ),
            }
        }
        _ => SessionError::Open {
            path: path.to_path_buf(),
            reason: e.to_string(),
        },
    }
}

fn migration_error(path: &Path, e: rusqlite_migration::Error) -> SessionError {
    if let rusqlite_migration::Error::RusqliteError { err, .. } = &e {
        match err.sqlite_error_code() {
            Some(ErrorCode::NotADatabase) => {
                return SessionError::NotSqlite {
                    path: path.to_path_buf(),
                };
            }
            Some(ErrorCode::DatabaseCorrupt) => {
                return SessionError::Corrupt {
                    path: path.to_path_buf(),
                    what: "the file is truncated or corrupt".into(),
                };
            }
            _ => {}
        }
    }
    SessionError::Migration {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// Reads the home DC, the DC options (over grammers' defaults) and the self user.
fn load_cache(conn: &Connection) -> Result<Cache, Fail> {
    let defaults = SessionData::default();
    let home_dc = conn
        .query_row("SELECT dc_id FROM dc_home WHERE id = 1", [], |r| r.get(0))
        .optional()?
        .unwrap_or(defaults.home_dc);

    let mut dc_options = defaults.dc_options;
    let mut stmt = conn.prepare("SELECT dc_id, ipv4, ipv6, auth_key FROM dc_option")?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, i32>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, Option<Vec<u8>>>(3)?,
        ))
    })?;
    for row in rows {
        let (id, ipv4, ipv6, auth_key) = row?;
        let option =
            dc_option_from_row(id, &ipv4, &ipv6, auth_key.as_deref()).map_err(Fail::Corrupt)?;
        dc_options.insert(id, option);
    }

    let self_user = conn
        .query_row(
            &format!("SELECT {PEER_COLUMNS} FROM peer_info WHERE is_self = 1 LIMIT 1"),
            [],
            PeerRow::read,
        )
        .optional()?
        .map(|row| row.into_info().map_err(Fail::Corrupt))
        .transpose()?;

    Ok(Cache {
        home_dc,
        dc_options,
        self_user,
    })
}

fn write_home_dc(conn: &Connection, dc_id: i32) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO dc_home (id, dc_id) VALUES (1, ?1)
         ON CONFLICT (id) DO UPDATE SET dc_id = excluded.dc_id",
    )?
    .execute([dc_id])?;
    Ok(())
}

fn write_dc_option(conn: &Connection, option: &DcOption) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO dc_option (dc_id, ipv4, ipv6, auth_key) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (dc_id) DO UPDATE SET
             ipv4 = excluded.ipv4, ipv6 = excluded.ipv6, auth_key = excluded.auth_key",
    )?
    .execute(params![
        option.id,
        option.ipv4.to_string(),
        option.ipv6.to_string(),
        option.auth_key.as_ref().map(|k| k.as_slice()),
    ])?;
    Ok(())
}

/// Caches `peers` in one transaction, merging each with what is stored (`PeerInfo::extend_info`, as
/// grammers does) and writing only the rows that change, so re-seen peers cost no disk write.
fn store_peers(inner: &Inner, conn: &mut Connection, peers: Vec<PeerInfo>) -> Result<(), Fail> {
    let mut self_user = inner.cache().self_user.clone();
    let mut self_changed = false;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    for peer in peers {
        // A stored row that no longer reads back is replaced rather than blocking the cache.
        let Some((merged, row)) = merge_peer(peer, |id| {
            Ok::<_, rusqlite::Error>(PeerRow::select(&tx, id)?.and_then(|row| row.into_info().ok()))
        })?
        else {
            continue;
        };
        row.write(&tx)?;
        let was_self =
            self_user.as_ref().and_then(|s| s.id().bot_api_dialog_id()) == Some(row.peer_id);
        if row.is_self == Some(true) {
            self_user = Some(merged);
            self_changed = true;
        } else if was_self {
            self_user = None;
            self_changed = true;
        }
    }
    tx.commit()?;
    if self_changed {
        inner.cache_mut().self_user = self_user;
    }
    Ok(())
}

fn read_updates_state(conn: &Connection) -> Result<UpdatesState, Fail> {
    let mut state = conn
        .query_row(
            "SELECT pts, qts, date, seq FROM update_state WHERE id = 1",
            [],
            |r| {
                Ok(UpdatesState {
                    pts: r.get(0)?,
                    qts: r.get(1)?,
                    date: r.get(2)?,
                    seq: r.get(3)?,
                    channels: Vec::new(),
                })
            },
        )
        .optional()?
        .unwrap_or_default();
    let mut stmt =
        conn.prepare_cached("SELECT channel_id, pts FROM channel_state ORDER BY channel_id")?;
    state.channels = stmt
        .query_map([], |r| {
            Ok(ChannelState {
                id: r.get(0)?,
                pts: r.get(1)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(state)
}

fn write_update_state(conn: &Connection, update: UpdateState) -> rusqlite::Result<()> {
    const UPSERT_CHANNEL: &str = "INSERT INTO channel_state (channel_id, pts) VALUES (?1, ?2)
         ON CONFLICT (channel_id) DO UPDATE SET pts = excluded.pts";
    match update {
        UpdateState::All(state) => {
            conn.prepare_cached(
                "INSERT INTO update_state (id, pts, qts, date, seq) VALUES (1, ?1, ?2, ?3, ?4)
                 ON CONFLICT (id) DO UPDATE SET
                     pts = excluded.pts, qts = excluded.qts, date = excluded.date, seq = excluded.seq",
            )?
            .execute(params![state.pts, state.qts, state.date, state.seq])?;
            conn.execute("DELETE FROM channel_state", [])?;
            let mut upsert = conn.prepare_cached(UPSERT_CHANNEL)?;
            for channel in state.channels {
                upsert.execute(params![channel.id, channel.pts])?;
            }
        }
        UpdateState::Primary { pts, date, seq } => {
            conn.prepare_cached(
                "INSERT INTO update_state (id, pts, qts, date, seq) VALUES (1, ?1, 0, ?2, ?3)
                 ON CONFLICT (id) DO UPDATE SET
                     pts = excluded.pts, date = excluded.date, seq = excluded.seq",
            )?
            .execute(params![pts, date, seq])?;
        }
        UpdateState::Secondary { qts } => {
            conn.prepare_cached(
                "INSERT INTO update_state (id, pts, qts, date, seq) VALUES (1, 0, ?1, 0, 0)
                 ON CONFLICT (id) DO UPDATE SET qts = excluded.qts",
            )?
            .execute([qts])?;
        }
        UpdateState::Channel { id, pts } => {
            conn.prepare_cached(UPSERT_CHANNEL)?
                .execute(params![id, pts])?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};
    use std::os::unix::fs::PermissionsExt;
    use std::sync::Arc;
    use std::task::{Context, Poll, Waker};

    use grammers_session::types::{ChannelKind, PeerAuth, PeerRef};

    use super::*;

    const KEY: [u8; 256] = [0xAB; 256];

    pub(super) fn key(seed: u8) -> [u8; 256] {
        let mut key = [0u8; 256];
        for (i, b) in key.iter_mut().enumerate() {
            *b = seed.wrapping_add(i as u8);
        }
        key
    }

    pub(super) fn temp() -> tempfile::TempDir {
        tempfile::tempdir().expect("temp dir")
    }

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).expect("metadata").permissions().mode() & 0o777
    }

    fn user(id: i64, hash: Option<i64>, bot: Option<bool>, is_self: Option<bool>) -> PeerInfo {
        PeerInfo::User {
            id,
            auth: hash.map(PeerAuth::from_hash),
            bot,
            is_self,
        }
    }

    fn channel(id: i64, hash: Option<i64>, kind: Option<ChannelKind>) -> PeerInfo {
        PeerInfo::Channel {
            id,
            auth: hash.map(PeerAuth::from_hash),
            kind,
        }
    }

    fn assert_default(session: &SqliteSession) {
        let default = SessionData::default();
        assert_eq!(session.home_dc_id().unwrap(), default.home_dc);
        for id in 1..=5 {
            assert_eq!(
                session.dc_option(id).unwrap().as_ref(),
                default.dc_options.get(&id)
            );
        }
        assert_eq!(session.dc_option(6).unwrap(), None);
        let exported = session.export_data().unwrap();
        assert_eq!(exported.home_dc, default.home_dc);
        assert_eq!(exported.dc_options, default.dc_options);
        assert!(exported.peer_infos.is_empty());
        assert_eq!(exported.updates_state, UpdatesState::default());
        assert_eq!(session.self_user(), None);
        assert_eq!(session.auth_key(), None);
    }

    #[tokio::test]
    async fn a_new_session_equals_the_grammers_default() {
        let dir = temp();
        let path = dir.path().join("a.session");
        let session = SqliteSession::create(&path).unwrap();
        assert_eq!(session.path(), path);
        assert_default(&session);
        assert_eq!(session.peer(PeerId::self_user()).await.unwrap(), None);
        assert_eq!(
            session.updates_state().await.unwrap(),
            UpdatesState::default()
        );
        drop(session);
        assert_default(&SqliteSession::open(&path).unwrap());
    }

    #[test]
    fn session_files_are_created_private() {
        let dir = temp();
        let path = dir.path().join("sessions/nested/a.session");
        let session = SqliteSession::create(&path).unwrap();
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&dir.path().join("sessions")), 0o700);
        session.clear_authorization().unwrap();
        assert_eq!(mode(&path), 0o600, "writes keep the mode");

        let imported = dir.path().join("b.session");
        SqliteSession::import_data(&imported, &SessionData::default()).unwrap();
        assert_eq!(mode(&imported), 0o600);
    }

    #[test]
    fn create_refuses_an_existing_path() {
        let dir = temp();
        let path = dir.path().join("a.session");
        SqliteSession::create(&path).unwrap();
        let err = SqliteSession::create(&path).unwrap_err();
        assert!(
            matches!(&err, SessionError::Exists { path: p } if p == &path),
            "{err}"
        );
        assert!(err.to_string().contains(&path.display().to_string()));
        assert!(err.is_usage());
        SqliteSession::open(&path).expect("the existing session is untouched");

        let other = dir.path().join("notes.txt");
        fs::write(&other, "keep me").unwrap();
        let err = SqliteSession::create(&other).unwrap_err();
        assert!(matches!(err, SessionError::Exists { .. }), "{err}");
        assert_eq!(fs::read_to_string(&other).unwrap(), "keep me");

        let err = SqliteSession::import_data(&path, &SessionData::default()).unwrap_err();
        assert!(matches!(err, SessionError::Exists { .. }), "{err}");
    }

    #[test]
    fn a_stale_journal_does_not_leak_into_a_new_session() {
        let dir = temp();
        let path = dir.path().join("a.session");
        let journal = dir.path().join("a.session-journal");
        fs::write(&journal, "left over from a deleted session").unwrap();
        let session = SqliteSession::create(&path).unwrap();
        assert!(!journal.exists());
        assert_default(&session);
    }

    #[test]
    fn open_names_what_is_wrong_with_the_file() {
        let dir = temp();
        let named = |err: &SessionError, path: &Path| {
            assert!(
                err.to_string().contains(&path.display().to_string()),
                "{err} should name {}",
                path.display()
            );
        };

        let missing = dir.path().join("missing.session");
        let err = SqliteSession::open(&missing).unwrap_err();
        assert!(matches!(err, SessionError::Missing { .. }), "{err}");
        named(&err, &missing);
        assert!(!missing.exists(), "open never creates a file");

        let text = dir.path().join("text.session");
        fs::write(&text, "this is a text file, not a database\n".repeat(10)).unwrap();
        let err = SqliteSession::open(&text).unwrap_err();
        assert!(matches!(err, SessionError::NotSqlite { .. }), "{err}");
        named(&err, &text);

        let short = dir.path().join("short.session");
        fs::write(&short, "hello\n").unwrap();
        let err = SqliteSession::open(&short).unwrap_err();
        assert!(matches!(err, SessionError::NotSqlite { .. }), "{err}");

        let empty = dir.path().join("empty.session");
        fs::write(&empty, "").unwrap();
        let err = SqliteSession::open(&empty).unwrap_err();
        assert!(matches!(err, SessionError::NotSession { .. }), "{err}");

        let other_db = dir.path().join("other.sqlite");
        let conn = Connection::open(&other_db).unwrap();
        conn.execute_batch("CREATE TABLE posts (id INTEGER); PRAGMA user_version = 1;")
            .unwrap();
        drop(conn);
        let err = SqliteSession::open(&other_db).unwrap_err();
        assert!(matches!(err, SessionError::NotSession { .. }), "{err}");
        named(&err, &other_db);
        assert!(err.is_usage());

        let folder = dir.path().join("folder.session");
        fs::create_dir(&folder).unwrap();
        let err = SqliteSession::open(&folder).unwrap_err();
        assert!(matches!(err, SessionError::Open { .. }), "{err}");
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let dir = temp();
        let path = dir.path().join("a.session");
        drop(SqliteSession::create(&path).unwrap());
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        drop(conn);
        let err = SqliteSession::open(&path).unwrap_err();
        assert!(
            matches!(
                err,
                SessionError::TooNew {
                    found: 99,
                    supported: 1,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("upgrade tgsift"));
    }

    #[test]
    fn damaged_values_are_reported_not_unwrapped() {
        let dir = temp();
        let path = dir.path().join("a.session");
        drop(SqliteSession::create(&path).unwrap());
        let conn = Connection::open(&path).unwrap();
        conn.execute(
            "INSERT INTO dc_option VALUES (2, 'not an address', '[::1]:443', NULL)",
            [],
        )
        .unwrap();
        drop(conn);
        let err = SqliteSession::open(&path).unwrap_err();
        assert!(matches!(err, SessionError::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains("DC 2"), "{err}");
    }

    #[tokio::test]
    async fn every_session_method_round_trips_through_the_file() {
        let dir = temp();
        let path = dir.path().join("a.session");
        let session = SqliteSession::create(&path).unwrap();

        session.set_home_dc_id(4).await.unwrap();
        assert_eq!(session.home_dc_id().unwrap(), 4);
        let dc4 = DcOption {
            id: 4,
            ipv4: SocketAddrV4::new(Ipv4Addr::LOCALHOST, 40004),
            ipv6: SocketAddrV6::new(Ipv6Addr::LOCALHOST, 40004, 0, 0),
            auth_key: Some(key(4)),
        };
        let dc7 = DcOption {
            id: 7,
            ipv4: SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 7), 443),
            ipv6: SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, 0, 0, 0),
            auth_key: None,
        };
        session.set_dc_option(&dc4).await.unwrap();
        session.set_dc_option(&dc7).await.unwrap();
        assert_eq!(session.dc_option(4).unwrap(), Some(dc4.clone()));

        let me = user(1000, Some(11), Some(false), Some(true));
        let friend = user(2000, Some(22), Some(false), Some(false));
        let bot = user(3000, None, Some(true), None);
        let news = channel(4000, Some(-44), Some(ChannelKind::Broadcast));
        let group = channel(5000, Some(55), Some(ChannelKind::Megagroup));
        let community = channel(6000, Some(66), Some(ChannelKind::Community));
        let chat = PeerInfo::Chat { id: 7000 };
        session.cache_peer(me.clone()).await.unwrap();
        session
            .cache_peers(vec![
                friend.clone(),
                bot.clone(),
                news.clone(),
                group.clone(),
                community.clone(),
                chat.clone(),
            ])
            .await
            .unwrap();

        session
            .set_update_state(UpdateState::All(UpdatesState {
                pts: 1,
                qts: 2,
                date: 3,
                seq: 4,
                channels: vec![
                    ChannelState { id: 4000, pts: 6 },
                    ChannelState { id: 5000, pts: 8 },
                ],
            }))
            .await
            .unwrap();
        session
            .set_update_state(UpdateState::Primary {
                pts: 2,
                date: 4,
                seq: 5,
            })
            .await
            .unwrap();
        session
            .set_update_state(UpdateState::Secondary { qts: 3 })
            .await
            .unwrap();
        session
            .set_update_state(UpdateState::Channel { id: 5000, pts: 9 })
            .await
            .unwrap();
        session
            .set_update_state(UpdateState::Channel { id: 6000, pts: 1 })
            .await
            .unwrap();
        drop(session);

        let session = SqliteSession::open(&path).unwrap();
        assert_eq!(session.home_dc_id().unwrap(), 4);
        assert_eq!(session.dc_option(4).unwrap(), Some(dc4));
        assert_eq!(session.dc_option(7).unwrap(), Some(dc7));
        assert_eq!(
            session.dc_option(1).unwrap().as_ref(),
            SessionData::default().dc_options.get(&1)
        );
        assert_eq!(session.auth_key(), Some(key(4)));

        for peer in [&me, &friend, &bot, &news, &group, &community, &chat] {
            assert_eq!(session.peer(peer.id()).await.unwrap().as_ref(), Some(peer));
        }
        assert_eq!(session.peer(PeerId::self_user()).await.unwrap(), Some(me));
        assert_eq!(
            session.self_user(),
            Some(SelfUser {
                id: 1000,
                bot: false
            })
        );
        assert_eq!(
            session.peer_ref(PeerId::self_user()).await.unwrap(),
            Some(PeerRef {
                id: PeerId::self_user(),
                auth: PeerAuth::from_hash(11)
            })
        );
        assert_eq!(
            session.peer_ref(news.id()).await.unwrap(),
            Some(PeerRef {
                id: news.id(),
                auth: PeerAuth::from_hash(-44)
            })
        );
        assert_eq!(
            session.peer(PeerId::user_unchecked(9999)).await.unwrap(),
            None
        );
        assert_eq!(
            session.updates_state().await.unwrap(),
            UpdatesState {
                pts: 2,
                qts: 3,
                date: 4,
                seq: 5,
                channels: vec![
                    ChannelState { id: 4000, pts: 6 },
                    ChannelState { id: 5000, pts: 9 },
                    ChannelState { id: 6000, pts: 1 },
                ],
            }
        );
        assert_eq!(session.export_data().unwrap().peer_infos.len(), 7);
    }

    #[tokio::test]
    async fn partial_updates_state_on_a_fresh_session_starts_from_zero() {
        let dir = temp();
        let session = SqliteSession::create(&dir.path().join("a.session")).unwrap();
        session
            .set_update_state(UpdateState::Secondary { qts: 7 })
            .await
            .unwrap();
        let state = session.updates_state().await.unwrap();
        assert_eq!((state.pts, state.qts, state.date, state.seq), (0, 7, 0, 0));
    }

    #[tokio::test]
    async fn caching_a_peer_again_keeps_what_the_new_info_lacks() {
        let dir = temp();
        let session = SqliteSession::create(&dir.path().join("a.session")).unwrap();
        session
            .cache_peers(vec![
                channel(2, Some(-2), Some(ChannelKind::Megagroup)),
                channel(3, Some(-3), None),
            ])
            .await
            .unwrap();
        // As in grammers: a `None` never overwrites a known `Some`.
        session
            .cache_peers(vec![
                channel(2, None, Some(ChannelKind::Broadcast)),
                channel(3, Some(-30), None),
            ])
            .await
            .unwrap();
        assert_eq!(
            session.peer(PeerId::channel_unchecked(2)).await.unwrap(),
            Some(channel(2, Some(-2), Some(ChannelKind::Broadcast)))
        );
        assert_eq!(
            session.peer(PeerId::channel_unchecked(3)).await.unwrap(),
            Some(channel(3, Some(-30), None))
        );
        // A min user seen later (no hash, no flags) keeps the stored self user intact.
        session
            .cache_peer(user(1, Some(9), Some(false), Some(true)))
            .await
            .unwrap();
        session.cache_peer(user(1, None, None, None)).await.unwrap();
        assert_eq!(
            session.peer(PeerId::self_user()).await.unwrap(),
            Some(user(1, Some(9), Some(false), Some(true)))
        );
    }

    #[tokio::test]
    async fn only_the_latest_self_user_is_self() {
        let dir = temp();
        let path = dir.path().join("a.session");
        let session = SqliteSession::create(&path).unwrap();
        session
            .cache_peer(user(1, Some(1), Some(false), Some(true)))
            .await
            .unwrap();
        session
            .cache_peer(user(2, Some(2), Some(true), Some(true)))
            .await
            .unwrap();
        assert_eq!(session.self_user(), Some(SelfUser { id: 2, bot: true }));
        assert_eq!(
            session.peer(PeerId::user_unchecked(1)).await.unwrap(),
            Some(user(1, Some(1), Some(false), Some(false)))
        );
        // Telegram saying the self user is not self after all un-marks it.
        session
            .cache_peer(user(2, None, None, Some(false)))
            .await
            .unwrap();
        assert_eq!(session.self_user(), None);
        assert_eq!(session.peer(PeerId::self_user()).await.unwrap(), None);
        drop(session);
        assert_eq!(SqliteSession::open(&path).unwrap().self_user(), None);
    }

    #[tokio::test]
    async fn clearing_the_authorization_forgets_keys_peers_and_state() {
        let dir = temp();
        let path = dir.path().join("a.session");
        let mut data = SessionData {
            home_dc: 3,
            ..SessionData::default()
        };
        for option in data.dc_options.values_mut() {
            option.auth_key = Some(KEY);
        }
        let me = user(1, Some(1), Some(false), Some(true));
        data.peer_infos.insert(me.id(), me);
        data.updates_state.pts = 10;
        let session = SqliteSession::import_data(&path, &data).unwrap();
        assert!(session.self_user().is_some());
        assert_eq!(session.auth_key(), Some(KEY));

        session.clear_authorization().unwrap();
        for session in [session, SqliteSession::open(&path).unwrap()] {
            assert_eq!(session.self_user(), None);
            assert_eq!(session.auth_key(), None);
            assert_eq!(session.home_dc_id().unwrap(), 3);
            let exported = session.export_data().unwrap();
            assert!(exported.dc_options.values().all(|o| o.auth_key.is_none()));
            assert!(exported.peer_infos.is_empty());
            assert_eq!(exported.updates_state, UpdatesState::default());
        }
    }

    #[test]
    fn import_then_export_gives_the_same_data() {
        let dir = temp();
        let path = dir.path().join("sim.session");
        // What the simulator writes: every DC on 127.0.0.1 with a pre-shared key.
        let mut data = SessionData {
            home_dc: 2,
            ..SessionData::default()
        };
        for id in 1..=5 {
            let port = 20000 + id as u16;
            data.dc_options.insert(
                id,
                DcOption {
                    id,
                    ipv4: SocketAddrV4::new(Ipv4Addr::LOCALHOST, port),
                    ipv6: SocketAddrV6::new(Ipv4Addr::LOCALHOST.to_ipv6_mapped(), port, 0, 0),
                    auth_key: Some(key(id as u8)),
                },
            );
        }
        for peer in [
            user(5, Some(50), Some(false), Some(true)),
            channel(6, Some(60), Some(ChannelKind::Gigagroup)),
            PeerInfo::Chat { id: 7 },
        ] {
            data.peer_infos.insert(peer.id(), peer);
        }
        data.updates_state = UpdatesState {
            pts: 1,
            qts: 2,
            date: 3,
            seq: 4,
            channels: vec![ChannelState { id: 6, pts: 5 }],
        };
        drop(SqliteSession::import_data(&path, &data).unwrap());

        let out = SqliteSession::open(&path).unwrap().export_data().unwrap();
        assert_eq!(out.home_dc, data.home_dc);
        assert_eq!(out.dc_options, data.dc_options);
        assert_eq!(out.peer_infos, data.peer_infos);
        assert_eq!(out.updates_state, data.updates_state);
    }

    #[test]
    fn session_futures_run_without_a_tokio_runtime() {
        let dir = temp();
        let path = dir.path().join("a.session");
        let session = SqliteSession::create(&path).unwrap();
        let mut fut = session.set_home_dc_id(5);
        let mut cx = Context::from_waker(Waker::noop());
        assert!(matches!(fut.as_mut().poll(&mut cx), Poll::Ready(Ok(()))));
        drop(fut);
        drop(session);
        assert_eq!(SqliteSession::open(&path).unwrap().home_dc_id().unwrap(), 5);
    }

    #[test]
    fn debug_output_holds_no_key_bytes() {
        let dir = temp();
        let mut data = SessionData::default();
        for option in data.dc_options.values_mut() {
            option.auth_key = Some(KEY);
        }
        let session = SqliteSession::import_data(&dir.path().join("a.session"), &data).unwrap();
        let telethon = TelethonString {
            dc_id: 2,
            addr: "149.154.167.51:443".parse().unwrap(),
            auth_key: KEY,
        };
        for text in [
            format!("{session:?}"),
            format!("{telethon:?}"),
            format!("{telethon:#?}"),
        ] {
            assert!(!text.contains("171"), "key bytes leaked: {text}");
            assert!(!text.to_lowercase().contains("ab, ab"), "{text}");
            assert!(!text.contains(&telethon.encode()[10..40]), "{text}");
        }
        assert!(format!("{session:?}").contains("dcs_with_auth_key: [1, 2, 3, 4, 5]"));
    }

    #[test]
    fn the_session_plugs_into_a_grammers_sender_pool() {
        fn error_is_poolable<E: std::error::Error + Send + Sync + 'static>() {}
        error_is_poolable::<SessionError>();

        let dir = temp();
        let session = SqliteSession::create(&dir.path().join("a.session")).unwrap();
        let pool = grammers_mtsender::SenderPool::new(Arc::new(session), 12345);
        drop(pool);
    }
}
