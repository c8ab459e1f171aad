//! Counts over a period for `tgsift stats`: posts per channel and day, tagging statuses. Posts deleted
//! in their channel are left out, as in lists and exports.

use std::collections::BTreeMap;

use crate::StoreError;

/// The figures of `tgsift stats` and the weekly report.
pub trait StatsStore {
    /// `(channel row id, 00:00 UTC of the day, posts)` for the posts dated in `[from, to)` (unix
    /// seconds), of the given channels only when `channel_ids` is set; by channel, then day.
    fn posts_per_day(
        &self,
        channel_ids: Option<&[i64]>,
        from: i64,
        to: i64,
    ) -> Result<Vec<(i64, i64, i64)>, StoreError>;

    /// Posts per tagging status among the posts dated in `[from, to)`, of the given channels only
    /// when `channel_ids` is set.
    fn status_counts(
        &self,
        channel_ids: Option<&[i64]>,
        from: i64,
        to: i64,
    ) -> Result<BTreeMap<String, i64>, StoreError>;

    /// Posts first stored at or after `since_ms` (unix milliseconds), deleted ones included: the
    /// ingest figure of the dashboard. Row ids grow with the time a post was stored, so the first row
    /// stored in the window is found by a binary search over ids (a few point lookups) and the rest is
    /// a count over a rowid range — never a scan of every post.
    fn posts_stored_since(&self, since_ms: i64) -> Result<i64, StoreError>;
}
