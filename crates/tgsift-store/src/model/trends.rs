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
}
