//! What a store is, whichever the backend: the row types and one trait per concern, one file each.
//!
//! [`Storage`] is all of them together; the service reaches a database as `dyn Storage` through
//! [`crate::AsyncStore`] and an admin command through [`crate::Database`]. A method that both
//! backends can build out of other methods is a default method here, written once.

pub(crate) mod accounts;
pub(crate) mod alerts;
pub(crate) mod channels;
pub(crate) mod client_state;
pub(crate) mod comments;
pub(crate) mod counts;
pub(crate) mod download_rules;
pub(crate) mod downloads;
pub(crate) mod export;
pub(crate) mod imports;
pub(crate) mod jobs;
pub(crate) mod live;
pub(crate) mod media;
pub(crate) mod search;
pub(crate) mod stats;
pub(crate) mod tag_names;
pub(crate) mod tagging;
pub(crate) mod trends;
pub(crate) mod watches;
pub(crate) mod web_sessions;
pub(crate) mod workers;

use crate::{SqliteStore, StoreError};

pub use accounts::{AccountRow, AccountStore, StoredSession};
pub use alerts::{AlertConditions, AlertRow, AlertStore, NewAlert};
pub use channels::{
    BatchOutcome, ChannelRow, ChannelStore, FetchedPage, NewChannel, PostIn, ShortRange, Thread,
};
pub use client_state::{Activity, ActivityRow, ClientState, ClientStateStore};
pub use comments::{
    CommentChannel, CommentIn, CommentRow, CommentSender, CommentStats, CommentStore, LiveComment,
    ThreadDue, ThreadRead,
};
pub use counts::{CountRow, CountStore, CountsIn, RefreshStep};
pub use download_rules::{DownloadRules, parse_size};
pub use downloads::{DownloadStats, DownloadStore, DueFile, FileState, FileStatus, MediaRef};
pub use export::{ExportError, ExportFilter, ExportRow, ExportStore};
pub use imports::{DialogImport, ImportStore, OffsetPeer};
pub use jobs::{JobEnd, JobRow, JobStore};
pub use live::{LiveBatch, LiveChange, LiveOutcome, LiveRow, LiveStore};
pub use media::{Media, MediaFilter, MediaKind};
pub use search::{INDEX_BATCH, SearchHit, SearchQuery, SearchStore, Stemmed, match_expression};
pub use stats::StatsStore;
pub use tagging::{
    Attempt, AttemptResult, DuePost, PostFilter, PostRow, Recorded, RetryRules, TagStats,
    TaggingStatus, TaggingStore, UnknownTaggingStatus,
};
pub use trends::TrendStore;
pub use watches::{
    NewWatch, TAG_WAIT_SECS, WatchCandidate, WatchHit, WatchPass, WatchRow, WatchStore, decide,
};
pub use web_sessions::WebSessionStore;
pub use workers::{TaskRow, WORKER_STALE_SECS, WorkerRow, WorkerStore};

/// Everything the service asks of a store, one trait per concern (the files of this module):
/// [`SqliteStore`] and PostgreSQL's `PgBackend` implement it, and the service reaches it through
/// [`AsyncStore`](crate::AsyncStore) as `&mut dyn Storage`. Bring the traits into scope with
/// `use tgsift_store::prelude::*`.
pub trait Storage:
    AccountStore
    + AlertStore
    + ChannelStore
    + ClientStateStore
    + CommentStore
    + CountStore
    + DownloadStore
    + ExportStore
    + ImportStore
    + JobStore
    + LiveStore
    + SearchStore
    + WorkerStore
    + StatsStore
    + TaggingStore
    + TrendStore
    + WatchStore
    + WebSessionStore
    + Send
{
    /// The schema version the database is at.
    fn schema_version(&self) -> Result<usize, StoreError>;

    /// Fails with [`StoreError::Gone`] when the database this store opened is no longer there (an
    /// SQLite file removed or replaced under the service).
    fn check_file(&self) -> Result<(), StoreError>;

    /// The SQLite store behind this one, for work only SQLite has (tests of the writer thread and its
    /// checkpoints); `None` for any other backend.
    fn as_sqlite(&self) -> Option<&SqliteStore> {
        None
    }

    /// [`Storage::as_sqlite`], for writing.
    fn as_sqlite_mut(&mut self) -> Option<&mut SqliteStore> {
        None
    }
}

/// The store traits, for `use crate::prelude::*` where their methods are called.
pub mod prelude {
    pub use super::{
        AccountStore, AlertStore, ChannelStore, ClientStateStore, CommentStore, CountStore,
        DownloadStore, ExportStore, ImportStore, JobStore, LiveStore, SearchStore, StatsStore,
        Storage, TaggingStore, TrendStore, WatchStore, WebSessionStore, WorkerStore,
    };
}

/// What opening did to the schema, for `tgsift migrate` to report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Migrated {
    /// Version found on open (0 for a new file).
    pub from: usize,
    /// Version after migrating.
    pub to: usize,
}
