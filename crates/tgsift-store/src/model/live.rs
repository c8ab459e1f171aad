//! Live mode's side of the store: each channel's update state (pts, membership), and a batch of
//! channel updates — new posts, edits, deletions — applied in one transaction together with the pts
//! they bring each channel to.
//!
//! The pts is written in the same transaction as the posts it covers, so after a crash at any instant
//! the stored pts never claims an event whose effect is missing: a restart asks Telegram for the
//! difference from there and nothing is lost (re-applying an event is harmless: posts are upserted).
//!
//! Pushed posts never skip the checkpoint over ids nobody fetched: the checkpoint moves only across
//! ids that are known (stored posts, service messages in the batch), one by one. A post above a hole
//! is stored and the hole is reported, for the poller to fetch the range.

use crate::{PostIn, StoreError};

/// A channel's update state as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveRow {
    /// Channel row id.
    pub channel_id: i64,
    /// Every event up to this pts is applied; `None` = not known yet.
    pub pts: Option<i32>,
    /// Whether the account is a member (gets pushes); `None` = not known yet.
    pub member: Option<bool>,
}

/// One change an update brings to a channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LiveChange {
    /// A new message: a post, or a service message (`post: None`) that only takes its id.
    New { id: i32, post: Option<PostIn> },
    /// An edited post (inserted when it is above the checkpoint and not stored yet).
    Edit(PostIn),
    /// Deleted message ids.
    Delete(Vec<i32>),
}

/// The updates of one channel to apply together, and the pts they bring it to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveBatch {
    /// Channel row id.
    pub channel_id: i64,
    /// In pts order.
    pub changes: Vec<LiveChange>,
    /// The channel's pts after them (`None`: leave it).
    pub pts: Option<i32>,
}

/// What applying one channel's batch did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LiveOutcome {
    /// Channel row id.
    pub channel_id: i64,
    /// New posts stored: (message id, date).
    pub inserted: Vec<(i32, i64)>,
    /// Posts whose text changed (old text kept, re-queued for tagging).
    pub edited: usize,
    /// Posts marked deleted.
    pub deleted: usize,
    /// The checkpoint after the batch.
    pub checkpoint: i32,
    /// Messages above the checkpoint are known but some id between is not: a range to fetch.
    pub hole: bool,
    /// The channel is no longer followed (removed meanwhile): nothing was written.
    pub gone: bool,
}

/// Live mode: each channel's update state and the pushed changes written with it.
pub trait LiveStore {
    /// The update state of every channel of an account (channels without one get `None`s).
    fn live_rows(&self, account_id: i64) -> Result<Vec<LiveRow>, StoreError>;

    /// Records what a poll learned about a channel: its pts (kept only when none is known — the
    /// live task's own pts is newer or equal) and whether the account is a member.
    fn note_channel_seen(
        &mut self,
        channel_id: i64,
        pts: Option<i32>,
        member: Option<bool>,
    ) -> Result<(), StoreError>;

    /// Sets whether the account is a member of the channel (after `channels add --join`).
    fn set_member(&mut self, channel_id: i64, member: bool) -> Result<(), StoreError>;

    /// Applies channel updates in one transaction: posts upserted, edits versioned, deletions
    /// marked, checkpoints moved across known ids only, and each channel's pts recorded with them.
    fn apply_live(&mut self, batches: &[LiveBatch]) -> Result<Vec<LiveOutcome>, StoreError>;
}
