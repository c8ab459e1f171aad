//! tgsift's database: accounts, channels, posts, tags, jobs and the service's state, on SQLite or
//! on PostgreSQL behind one set of traits.
//!
//! # Layout
//! - [`model`]: the row types and one trait per concern ([`AccountStore`], [`ChannelStore`],
//!   [`TaggingStore`], …); [`Storage`] is all of them. Logic both backends share is a default method.
//! - `sqlite`: [`SqliteStore`], one file per trait beside the connection, migrations, backups and
//!   WAL checkpoints.
//! - [`postgres`]: [`PgStore`] (pool, migrations, account leases with fencing epochs), its
//!   [`Storage`] ([`postgres::backend::PgBackend`]) and `db copy` from SQLite.
//! - [`AsyncStore`]: a database for async tasks: on SQLite one writer thread and pooled readers, on
//!   PostgreSQL every call on the blocking pool. [`Database`]: the same for a synchronous caller.
//! - [`open`] and [`Location`]: the one place that tells the two backends apart by
//!   `storage.database`.
//! - `stem`: the text the full-text index sees ([`search_text`]).
//! - `model::counts`: counters of recent posts read again on a schedule, never lowered ([`CountStore`];
//!   `post_counts` table).
//! - `model::comments`: the discussion under posts, read again only where Telegram's count or newest
//!   id moved ([`CommentStore`]; `comments` and `comment_threads` tables).
//! - `model::downloads`: the media download queue, one row per Telegram file ([`DownloadStore`];
//!   `media_files` table); `model::download_rules`: which files are wanted ([`DownloadRules`]).
//! - `model::media`: what a post's media is ([`Media`], [`MediaKind`]; `post_media` table).
//! - `model::watches`: standing questions whose matching posts are delivered once each ([`WatchStore`];
//!   `watches`, `watch_queue` and `watch_hits` tables).
//! - `model::tag_names`: one name per tag whatever its case ([`tag_name_key`]; `tag_names` table).
//! - `testing` (cargo feature `testing`): fixtures for tests here and in the crates that use the
//!   store: plain posts, and a PostgreSQL schema per test.
//!
//! # Promises
//! Every [`Storage`] method behaves the same on both backends: the conformance suite
//! (`src/conformance/`, one file per trait) runs each case on SQLite and on PostgreSQL. Migrations
//! only ever append; a database written by a newer tgsift is refused, never changed.

mod async_store;
#[cfg(test)]
mod conformance;
mod database;
mod error;
pub mod model;
pub mod postgres;
mod sqlite;
mod stem;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use async_store::AsyncStore;
pub use model::accounts::{AccountRow, AccountState, AccountStore, ClientIdentity, StoredSession};
pub use model::alerts::{AlertConditions, AlertRow, AlertStore, NewAlert};
pub use model::channels::{
    BatchOutcome, ChannelRow, ChannelStore, FetchedPage, NewChannel, PostIn, ShortRange, Thread,
};
pub use model::client_state::{Activity, ActivityRow, ClientState, ClientStateStore};
pub use model::comments::{
    CommentChannel, CommentIn, CommentRow, CommentSender, CommentStats, CommentStore, LiveComment,
    ThreadDue, ThreadRead,
};
pub use model::counts::{CountRow, CountStore, CountsIn, RefreshStep};
pub use model::download_rules::{DownloadRules, parse_size};
pub use model::downloads::{
    DownloadStats, DownloadStore, DueFile, FileState, FileStatus, MediaRef,
};
pub use model::export::{ExportError, ExportFilter, ExportRow, ExportStore};
pub use model::imports::{DialogImport, ImportStore, OffsetPeer};
pub use model::jobs::{JobEnd, JobRow, JobStore};
pub use model::live::{LiveBatch, LiveChange, LiveOutcome, LiveRow, LiveStore};
pub use model::media::{Media, MediaFilter, MediaKind};
pub use model::search::{
    INDEX_BATCH, SearchHit, SearchQuery, SearchStore, Stemmed, match_expression,
};
pub use model::stats::StatsStore;
pub use model::tag_names::tag_name_key;
pub use model::tagging::{
    Attempt, AttemptResult, DuePost, PostFilter, PostRow, Recorded, RetryRules, TagStats,
    TaggingStatus, TaggingStore, UnknownTaggingStatus,
};
pub use model::trends::TrendStore;
pub use model::watches::{
    NewWatch, TAG_WAIT_SECS, WatchCandidate, WatchHit, WatchPass, WatchRow, WatchStore, decide,
};
pub use model::web_sessions::WebSessionStore;
pub use model::workers::{TaskRow, WORKER_STALE_SECS, WorkerRow, WorkerStore};
pub use sqlite::backup::{BackupError, BackupInfo, Restored, restore_file};

pub use database::{Database, Location, open};
pub use error::StoreError;
pub use model::{Migrated, Storage, prelude};
pub use postgres::PgStore;
pub use sqlite::{SqliteStore, latest_version};
pub use stem::search_text;

/// Seconds since the Unix epoch, the time unit of every column.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Milliseconds since the Unix epoch: when a post was stored and tagged (`stored_at_ms`,
/// `tagged_at_ms`), so latencies below a second can be measured.
pub fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
