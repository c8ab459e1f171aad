//! Tags over a period, for `tags top`: which tags the posts of a time window carry.

use crate::StoreError;

/// Tag trends over a period (`tags top`).
pub trait TrendStore {
    /// `(post id, tag)` of every tag of the posts dated in `[from, to)` (unix seconds), of the given
    /// channels only when `channel_ids` is set.
    fn tags_between(
        &self,
        channel_ids: Option<&[i64]>,
        from: i64,
        to: i64,
    ) -> Result<Vec<(i64, String)>, StoreError>;

    /// The date (unix seconds) of the newest post of the given channels (all when `None`), so a
    /// report whose default period is empty can show the period that has posts instead.
    fn newest_post_date(&self, channel_ids: Option<&[i64]>) -> Result<Option<i64>, StoreError>;
}
