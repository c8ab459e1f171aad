//! Posts for export: one cursor over the matching posts in post-id order, each post's tags joined in
//! the same statement, so an export of millions of posts runs in constant memory and `--after-id`
//! continues where the previous export stopped.

use crate::model::media::{Media, MediaFilter};
use crate::{StoreError, TaggingStatus};

/// Which posts an export takes.
#[derive(Clone, Debug, Default)]
pub struct ExportFilter {
    /// Only posts of these channels (row ids).
    pub channel_ids: Option<Vec<i64>>,
    /// Only posts dated on or after this (unix seconds).
    pub since: Option<i64>,
    /// Only posts dated before this (unix seconds).
    pub until: Option<i64>,
    /// Only posts carrying this tag.
    pub tag: Option<String>,
    /// Only posts in this tagging status.
    pub status: Option<TaggingStatus>,
    /// Posts deleted in their channel too.
    pub include_deleted: bool,
    /// Only posts with a row id above this (incremental exports).
    pub after_id: Option<i64>,
    /// Only posts with media (of this kind).
    pub media: Option<MediaFilter>,
}

/// One exported post, borrowed from the cursor's current row.
#[derive(Clone, Debug, PartialEq)]
pub struct ExportRow<'a> {
    /// Post row id (ascending through an export).
    pub post_id: i64,
    /// Channel username without `@`, for public channels.
    pub channel_username: Option<&'a str>,
    /// Telegram channel id.
    pub channel_id: i64,
    /// Message id in the channel.
    pub message_id: i32,
    /// Date (unix seconds).
    pub date: i64,
    /// Edit date (unix seconds).
    pub edit_date: Option<i64>,
    /// Text or caption.
    pub text: &'a str,
    /// Views.
    pub views: Option<i64>,
    /// Forwards.
    pub forwards: Option<i64>,
    /// Album (grouped id).
    pub album_id: Option<i64>,
    /// Whether it carries media.
    pub has_media: bool,
    /// The tags, best first, as a JSON array of `{"tag": …, "score": …}`.
    pub tags_json: &'a str,
    /// Tagging status.
    pub tagging_status: TaggingStatus,
    /// When tgsift learned the post was deleted in the channel (unix seconds).
    pub deleted_at: Option<i64>,
    /// Its media, when it has some and it was fetched since tgsift keeps media details.
    pub media: Option<Media>,
}

/// Why an export stopped.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Reading the posts failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Writing the output failed.
    #[error("writing the export failed: {0}")]
    Write(#[from] std::io::Error),
}

/// Streaming posts out for `posts export`.
pub trait ExportStore {
    /// Calls `each` for every post `f` selects, in row-id order, from one read snapshot; returns how
    /// many there were. An error from `each` stops the export and is returned.
    fn export_posts(
        &self,
        f: &ExportFilter,
        each: &mut dyn FnMut(&ExportRow<'_>) -> std::io::Result<()>,
    ) -> Result<u64, ExportError>;
}
