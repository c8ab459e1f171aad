//! Comments: the discussion under a post, for channels with a linked discussion group. Telegram
//! tells on every post how many messages its thread holds and the newest one's id (`posts.replies`,
//! `posts.replies_max_id`); `comment_threads` records what they were when the thread was last read,
//! so a thread is read again only when they moved, and then only past the newest comment stored.
//! When what is stored and what was read do not add up to Telegram's count (comments were deleted),
//! the thread is read whole and what it no longer holds is marked deleted. `posts.replies` never
//! falls on a counts refresh (a stale replica); only a read of the thread itself can lower it.

use serde::{Deserialize, Serialize};

use crate::StoreError;

/// A thread's state as the live path reads it: (post row id, count seen, newest id seen, Telegram's
/// count, Telegram's newest id).
pub(crate) type ThreadState = (i64, i64, i64, Option<i64>, Option<i64>);

/// The stored form of a comment's tags: a JSON array (`[]`: tagged, no tags; NULL: not tagged).
pub(crate) fn tags_json(tags: &[String]) -> String {
    serde_json::Value::from(tags.to_vec()).to_string()
}

/// A comment's tags from their stored form.
pub(crate) fn tags_of(json: Option<String>) -> Vec<String> {
    json.and_then(|j| serde_json::from_str(&j).ok())
        .unwrap_or_default()
}

/// Whether a thread was read up to date: what it holds is what Telegram last said.
pub(crate) fn in_step(t: &ThreadState) -> bool {
    t.3.unwrap_or(0) == t.1 && t.4.unwrap_or(0) == t.2
}

/// Who wrote a comment, as the discussion group shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum CommentSender {
    /// A user (Telegram user id).
    User {
        /// Telegram user id.
        id: i64,
    },
    /// A user writing as one of their channels (that channel's Telegram id).
    Channel {
        /// Telegram channel id.
        id: i64,
    },
    /// An anonymous admin of the group, maybe with a signature.
    Anonymous {
        /// The admin's signature (`post_author`), if the group shows one.
        #[serde(skip_serializing_if = "Option::is_none")]
        author: Option<String>,
    },
}

impl CommentSender {
    /// `(sender_kind, sender_id, author)` as stored.
    pub(crate) fn columns(&self) -> (&'static str, Option<i64>, Option<&str>) {
        match self {
            CommentSender::User { id } => ("user", Some(*id), None),
            CommentSender::Channel { id } => ("channel", Some(*id), None),
            CommentSender::Anonymous { author } => ("anonymous", None, author.as_deref()),
        }
    }

    /// The sender the stored columns describe (an unknown kind reads as anonymous).
    pub(crate) fn from_columns(kind: &str, id: Option<i64>, author: Option<String>) -> Self {
        match (kind, id) {
            ("user", Some(id)) => CommentSender::User { id },
            ("channel", Some(id)) => CommentSender::Channel { id },
            _ => CommentSender::Anonymous { author },
        }
    }
}

/// One comment as read from Telegram.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommentIn {
    /// Its id in the discussion group.
    pub message_id: i32,
    /// The comment it answers (`None`: the post itself).
    pub reply_to: Option<i32>,
    /// Who wrote it.
    pub sender: CommentSender,
    /// Date (unix seconds).
    pub date: i64,
    /// Edit date, if edited.
    pub edit_date: Option<i64>,
    /// Text or caption.
    pub text: String,
    /// Whether it carries media.
    pub has_media: bool,
}

/// A stored comment, for `posts show`, the API and export.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CommentRow {
    /// Its id in the discussion group.
    pub message_id: i32,
    /// The comment it answers (absent: the post itself).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<i32>,
    /// Who wrote it.
    pub sender: CommentSender,
    /// Date (unix seconds).
    pub date: i64,
    /// Edit date, if edited.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub edit_date: Option<i64>,
    /// Text or caption.
    pub text: String,
    /// Whether it carries media.
    pub has_media: bool,
    /// Its tags, when comments are tagged (`tagging.comments`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// When it was found deleted (kept, marked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<i64>,
}

/// A post whose thread is to be read: Telegram's count or newest id moved since the last read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThreadDue {
    /// The post's row id.
    pub post_id: i64,
    /// The post's message id in the channel (what `messages.getReplies` names).
    pub message_id: i32,
    /// Messages in the thread, as Telegram last said.
    pub replies: i32,
    /// The newest comment stored (0: none yet): the read goes on past it.
    pub stored_max_id: i32,
    /// Comments stored and not deleted.
    pub stored: i64,
}

/// What a read of a thread found, besides its comments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThreadRead {
    /// Messages in the thread, as the answer counted them.
    pub count: i32,
    /// The newest id the thread holds now.
    pub max_id: i32,
    /// Whether the read covered the whole thread: stored comments it lacks are marked deleted.
    pub whole: bool,
    /// The id of the post's copy in the discussion group, if the read learned it.
    pub root: Option<i32>,
}

/// A change to comments pushed to an account that is a member of the discussion group (live mode).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LiveComment {
    /// The post's copy arrived in the group: its id is the thread's root.
    Root {
        /// The channel's row id.
        channel_id: i64,
        /// The post's message id in the channel.
        post: i32,
        /// The copy's id in the group.
        root: i32,
    },
    /// A comment was written or edited in the thread whose root is `root`.
    Comment {
        /// The channel's row id.
        channel_id: i64,
        /// The thread's root.
        root: i32,
        /// The comment.
        comment: CommentIn,
    },
    /// Messages of the group were deleted.
    Deleted {
        /// The channel's row id.
        channel_id: i64,
        /// Their ids in the group.
        ids: Vec<i32>,
    },
}

/// A channel whose comments are read, with its discussion group as far as known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommentChannel {
    /// The channel's row id.
    pub channel_id: i64,
    /// The discussion group `(Telegram id, access hash)`: `None` when not asked yet, `Some((0, 0))`
    /// when the channel has none.
    pub group: Option<(i64, i64)>,
}

/// Comments in the store, for `status` and metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CommentStats {
    /// Channels whose comments are read.
    pub channels: u64,
    /// Threads read at least once.
    pub threads: u64,
    /// Comments stored and not deleted.
    pub comments: u64,
}

/// Comments and how far each thread was read.
pub trait CommentStore {
    /// Wants (or no longer wants) the comments of a channel; false when there is no such channel.
    fn set_channel_comments(&mut self, channel_id: i64, on: bool) -> Result<bool, StoreError>;

    /// Records a channel's discussion group (`(0, 0)`: it has none).
    fn set_discussion(&mut self, channel_id: i64, group: (i64, i64)) -> Result<(), StoreError>;

    /// The account's active channels whose comments are read: flagged ones, or all with `all`.
    fn comment_channels(
        &self,
        account_id: i64,
        all: bool,
    ) -> Result<Vec<CommentChannel>, StoreError>;

    /// Up to `limit` posts of the channel (not deleted) whose thread is due, newest first: never read
    /// and not empty, or Telegram's count or newest id moved since the last read. Posts without a
    /// comment section are never due.
    fn threads_due(&self, channel_id: i64, limit: usize) -> Result<Vec<ThreadDue>, StoreError>;

    /// Stores comments read from a post's thread (new ones inserted, known ones updated when edited)
    /// and what the read found; the post's `replies` and `replies_max_id` become the read's. A read
    /// that came back incomplete (`None`: placeholders stood for some comments) stores its comments
    /// only, and the thread stays due. Returns the comments that were new.
    fn store_comments(
        &mut self,
        post_id: i64,
        comments: &[CommentIn],
        read: Option<ThreadRead>,
        now: i64,
    ) -> Result<usize, StoreError>;

    /// Records that a post has no comment section (Telegram answered `MSG_ID_INVALID`): it is never
    /// asked again.
    fn no_comment_section(&mut self, post_id: i64, now: i64) -> Result<(), StoreError>;

    /// The comments of a post, oldest first, deleted ones included.
    fn comments_of(&self, post_id: i64) -> Result<Vec<CommentRow>, StoreError>;

    /// Up to `limit` comments not tagged yet (and not deleted), oldest first: `(row id, text)`.
    fn comments_to_tag(&self, limit: usize) -> Result<Vec<(i64, String)>, StoreError>;

    /// Records the tags of comments (`(row id, tags)`; no tags is recorded too).
    fn set_comment_tags(&mut self, tags: &[(i64, Vec<String>)]) -> Result<(), StoreError>;

    /// Counts for `status` and metrics; `all` as for [`CommentStore::comment_channels`].
    fn comment_stats(&self, all: bool) -> Result<CommentStats, StoreError>;

    /// Applies pushed changes: a root recorded; a comment stored in its thread (found by its root;
    /// a thread whose root is unknown is left to the reader) — when the thread was read up to date,
    /// its count and newest id move with it, so it is not read again; otherwise it stays due and the
    /// reader checks it; deleted comments marked. Returns the comments that were new.
    fn apply_live_comments(
        &mut self,
        changes: &[LiveComment],
        now: i64,
    ) -> Result<usize, StoreError>;
}

/// The query of [`CommentStore::threads_due`] with the backend's placeholders for the channel and
/// the limit.
pub(crate) fn threads_due_sql(channel: &str, limit: &str) -> String {
    format!(
        "SELECT p.id, p.message_id, p.replies, coalesce(t.max_id, 0),
                (SELECT count(*) FROM comments c WHERE c.post_id = p.id AND c.deleted_at IS NULL)
         FROM posts p LEFT JOIN comment_threads t ON t.post_id = p.id
         WHERE p.channel_id = {channel} AND p.deleted_at IS NULL AND p.replies IS NOT NULL
           AND (CASE WHEN t.post_id IS NULL THEN p.replies > 0
                     ELSE t.section AND (p.replies <> t.seen
                                         OR coalesce(p.replies_max_id, 0) > t.max_id) END)
         ORDER BY p.message_id DESC LIMIT {limit}"
    )
}
