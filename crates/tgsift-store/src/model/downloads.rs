//! Media downloads: which Telegram files are wanted, where each one stands (`media_files`: pending,
//! done, failed with attempts), and what is already on disk. A file is one row however many posts
//! carry it, so a photo forwarded to ten channels is downloaded once; the bytes on disk are named by
//! their SHA-256 (the product's `media` module), so two files with the same bytes are kept once.

use serde::{Deserialize, Serialize};

use crate::StoreError;
use crate::model::media::MediaKind;

/// Where a file's download stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileStatus {
    /// Wanted and not on disk yet (maybe waiting after a failure, or partly downloaded).
    Pending,
    /// On disk, named by its hash.
    Done,
    /// Its attempts are spent; `media retry` queues it again.
    Failed,
}

impl FileStatus {
    /// The name stored in `media_files.status`.
    pub fn as_str(self) -> &'static str {
        match self {
            FileStatus::Pending => "pending",
            FileStatus::Done => "done",
            FileStatus::Failed => "failed",
        }
    }

    /// The status named `s`; anything unknown reads as pending (it is tried again).
    pub fn parse(s: &str) -> FileStatus {
        match s {
            "done" => FileStatus::Done,
            "failed" => FileStatus::Failed,
            _ => FileStatus::Pending,
        }
    }
}

/// A stored post's file, as the download queue scans them: which rule wants it is the caller's
/// business (rules live in the configuration).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaRef {
    /// The post (scans go by increasing post id).
    pub post_id: i64,
    /// The post's channel (row id).
    pub channel_id: i64,
    /// What the media is.
    pub kind: MediaKind,
    /// Telegram's photo or document id.
    pub file_id: i64,
    /// Bytes, as Telegram described the file.
    pub size: Option<i64>,
}

/// A pending file whose time has come, with a post that carries it (the newest one still stored),
/// through which the download asks Telegram for a fresh file reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DueFile {
    /// Telegram's photo or document id.
    pub file_id: i64,
    /// The carrying post's channel (row id).
    pub channel_id: i64,
    /// The carrying post's message id.
    pub message_id: i32,
    /// What the media is.
    pub kind: MediaKind,
    /// Bytes, as Telegram described the file.
    pub size: Option<i64>,
    /// MIME type (names the file's extension on disk).
    pub mime: Option<String>,
    /// The sender's file name (its extension is used when the MIME type says nothing).
    pub file_name: Option<String>,
    /// Failed attempts so far.
    pub attempts: u32,
}

/// A file's download state, for `posts show`, the API and the dashboard.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FileState {
    /// Where it stands: `pending`, `done` or `failed`.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub status: FileStatus,
    /// Failed attempts so far.
    pub attempts: u32,
    /// Hex SHA-256 of the bytes (done files).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Path under `media.dir` (done files).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The last failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Files per state and the bytes on disk, for `status`, metrics and the dashboard.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DownloadStats {
    /// Files waiting (including those waiting after a failure).
    pub pending: u64,
    /// Files on disk.
    pub done: u64,
    /// Files whose attempts are spent.
    pub failed: u64,
    /// Bytes on disk: each distinct content once (what `media.quota` counts).
    pub bytes: i64,
}

/// The download queue and its outcomes.
pub trait DownloadStore {
    /// Up to `limit` files of stored posts (not deleted) with an id above `after_post`, by post id:
    /// the queue's scan, which the caller filters by its rules and passes to [`queue_downloads`].
    ///
    /// [`queue_downloads`]: DownloadStore::queue_downloads
    fn media_after(&self, after_post: i64, limit: usize) -> Result<Vec<MediaRef>, StoreError>;

    /// Queues files (`(file id, size)`) as pending, due at once; a file already known keeps its
    /// state. Returns how many were new.
    fn queue_downloads(
        &mut self,
        files: &[(i64, Option<i64>)],
        now: i64,
    ) -> Result<usize, StoreError>;

    /// Pending files due at `now` carried by posts of the account's active channels, longest waiting
    /// first, at most `limit`.
    fn downloads_due(
        &self,
        account_id: i64,
        now: i64,
        limit: usize,
    ) -> Result<Vec<DueFile>, StoreError>;

    /// Records a file as on disk: its bytes, their hash and the path under `media.dir`.
    fn download_done(
        &mut self,
        file_id: i64,
        size: i64,
        sha256: &str,
        path: &str,
        now: i64,
    ) -> Result<(), StoreError>;

    /// Records a failed attempt: pending again from `retry_at`, or failed for good with `None`.
    fn download_failed(
        &mut self,
        file_id: i64,
        error: &str,
        retry_at: Option<i64>,
    ) -> Result<(), StoreError>;

    /// Puts a pending file off until `next_at` without counting an attempt (a flood window, the
    /// quota: nothing was wrong with the file), with why (shown as its last error).
    fn download_later(&mut self, file_id: i64, next_at: i64, why: &str) -> Result<(), StoreError>;

    /// `media retry`: failed files pending again with their attempts cleared. Returns how many.
    fn retry_downloads(&mut self) -> Result<usize, StoreError>;

    /// Files per state and the bytes of distinct contents on disk.
    fn download_stats(&self) -> Result<DownloadStats, StoreError>;

    /// The download state of a post's file; `None` when no rule wanted it.
    fn file_of_post(&self, post_id: i64) -> Result<Option<FileState>, StoreError>;
}

/// The query of [`DownloadStore::downloads_due`] with the backend's placeholders for the account,
/// `now` and the limit. Each file is fetched through the newest stored post carrying it.
pub(crate) fn due_sql([account, now, limit]: [&str; 3]) -> String {
    format!(
        "SELECT f.file_id, p.channel_id, p.message_id, m.kind, f.size, m.mime, m.file_name, f.attempts
         FROM media_files f
         JOIN post_media m ON m.post_id = (
             SELECT max(m2.post_id) FROM post_media m2 JOIN posts p2 ON p2.id = m2.post_id
             WHERE m2.file_id = f.file_id AND p2.deleted_at IS NULL)
         JOIN posts p ON p.id = m.post_id
         JOIN channels c ON c.id = p.channel_id
         WHERE f.status = 'pending' AND f.next_at <= {now} AND c.account_id = {account} AND c.active
         ORDER BY f.next_at, f.queued_at, f.file_id
         LIMIT {limit}"
    )
}

/// The query of [`DownloadStore::media_after`] with the backend's placeholders for the post id and
/// the limit.
pub(crate) fn after_sql([after, limit]: [&str; 2]) -> String {
    format!(
        "SELECT m.post_id, p.channel_id, m.kind, m.file_id, m.size FROM post_media m
         JOIN posts p ON p.id = m.post_id
         WHERE m.post_id > {after} AND m.file_id IS NOT NULL AND p.deleted_at IS NULL
         ORDER BY m.post_id LIMIT {limit}"
    )
}

/// The bytes of distinct contents on disk (each hash once).
pub(crate) const BYTES_SQL: &str = "SELECT CAST(coalesce(sum(size), 0) AS BIGINT) FROM (
    SELECT sha256, max(size) AS size FROM media_files WHERE status = 'done' GROUP BY sha256) d";

/// Files per status.
pub(crate) const COUNTS_SQL: &str = "SELECT status, count(*) FROM media_files GROUP BY status";

/// The stats of [`COUNTS_SQL`]'s rows (status, files) and [`BYTES_SQL`]'s bytes.
pub(crate) fn stats_of<'a>(
    counts: impl IntoIterator<Item = (&'a str, i64)>,
    bytes: i64,
) -> DownloadStats {
    let mut stats = DownloadStats {
        bytes,
        ..DownloadStats::default()
    };
    for (status, n) in counts {
        let n = u64::try_from(n).unwrap_or(0);
        match FileStatus::parse(status) {
            FileStatus::Pending => stats.pending += n,
            FileStatus::Done => stats.done += n,
            FileStatus::Failed => stats.failed += n,
        }
    }
    stats
}
