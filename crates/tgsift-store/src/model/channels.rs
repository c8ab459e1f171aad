//! Channels and their posts: the ingest checkpoint and the exactly-once batch write.
//!
//! A batch of posts is written in one transaction together with the channel's checkpoint
//! (`last_message_id`) and the fetched-range record, and posts are upserted on (channel, message_id).
//! A crash at any instant therefore leaves either the whole batch with its checkpoint or neither, and
//! re-fetching a range never duplicates a post.

use crate::StoreError;

/// One followed channel with its ingest state.
#[derive(Clone, Debug, PartialEq)]
pub struct ChannelRow {
    /// Row id.
    pub id: i64,
    /// Owning account's row id.
    pub account_id: i64,
    /// Owning account's name.
    pub account: String,
    /// Telegram channel id.
    pub tg_id: i64,
    /// Access hash for this account.
    pub access_hash: i64,
    /// Username without `@`, for public channels.
    pub username: Option<String>,
    /// Title.
    pub title: String,
    /// Whether ingest polls it.
    pub active: bool,
    /// Backfill policy text (`all`, `N`, `since:DATE`).
    pub backfill: String,
    /// Checkpoint: newest message id stored in order.
    pub last_message_id: i32,
    /// Parked by a long FLOOD_WAIT until then (unix seconds).
    pub flood_until: Option<i64>,
    /// Last successful fetch (unix seconds).
    pub last_fetch_at: Option<i64>,
    /// Last error, if the last attempt failed.
    pub last_error: Option<String>,
    /// Consecutive failed polls (parks grow with them; a good poll resets them).
    pub failures: u32,
}

impl ChannelRow {
    /// `@username`, or the numeric id for private channels.
    pub fn label(&self) -> String {
        match &self.username {
            Some(u) => format!("@{u}"),
            None => self.tg_id.to_string(),
        }
    }

    /// What the channel is doing at `now` (unix seconds), as lists, `status` and metrics name it:
    /// `active`, `parked` (active, waiting out a FLOOD_WAIT), `paused` (by the operator) or `failed`
    /// (stopped by an error).
    pub fn state(&self, now: i64) -> &'static str {
        match (
            self.active,
            &self.last_error,
            self.flood_until.is_some_and(|u| u > now),
        ) {
            (true, _, true) => "parked",
            (true, _, false) => "active",
            (false, Some(_), _) => "failed",
            (false, None, _) => "paused",
        }
    }
}

/// What `channels add` records.
#[derive(Clone, Debug)]
pub struct NewChannel {
    /// Telegram channel id.
    pub tg_id: i64,
    /// Access hash.
    pub access_hash: i64,
    /// Username, if public.
    pub username: Option<String>,
    /// Title.
    pub title: String,
    /// Backfill policy text.
    pub backfill: String,
}

/// One fetched post, as ingest hands it to the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostIn {
    /// Message id.
    pub message_id: i32,
    /// Date (unix seconds).
    pub date: i64,
    /// Edit date, if edited.
    pub edit_date: Option<i64>,
    /// Text or caption ("" for media-only posts).
    pub text: String,
    /// Views.
    pub views: Option<i32>,
    /// Forwards.
    pub forwards: Option<i32>,
    /// Album id.
    pub grouped_id: Option<i64>,
    /// Whether it carries media.
    pub has_media: bool,
}

impl PostIn {
    /// A text post as first fetched, without edit, counters, album or media (the builders add them).
    pub fn new(message_id: i32, date: i64, text: impl Into<String>) -> PostIn {
        PostIn {
            message_id,
            date,
            edit_date: None,
            text: text.into(),
            views: None,
            forwards: None,
            grouped_id: None,
            has_media: false,
        }
    }

    /// The same post with this edit date (`None`: never edited).
    pub fn edited(self, edit_date: Option<i64>) -> PostIn {
        PostIn { edit_date, ..self }
    }

    /// The same post with these view and forward counters.
    pub fn counts(self, views: Option<i32>, forwards: Option<i32>) -> PostIn {
        PostIn {
            views,
            forwards,
            ..self
        }
    }

    /// The same post in this album (its grouped id).
    pub fn album(self, grouped_id: Option<i64>) -> PostIn {
        PostIn { grouped_id, ..self }
    }

    /// The same post, carrying media or not.
    pub fn media(self, has_media: bool) -> PostIn {
        PostIn { has_media, ..self }
    }
}

/// What one batch write did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    /// New posts.
    pub inserted: usize,
    /// Posts whose text or edit date changed (tags dropped, tagging back to pending).
    pub edited: usize,
    /// Posts seen again unchanged (counters refreshed).
    pub unchanged: usize,
    /// Stored posts the server no longer has, marked deleted (`deleted_at`).
    pub deleted: usize,
}

/// Channels and their posts: following, parking, and the exactly-once batch writes of ingest.
pub trait ChannelStore {
    /// Records a channel for an account; `None` if the account already follows it.
    fn add_channel(
        &mut self,
        account_id: i64,
        c: &NewChannel,
    ) -> Result<Option<ChannelRow>, StoreError>;

    /// The channel with this row id.
    fn channel(&self, id: i64) -> Result<Option<ChannelRow>, StoreError>;

    /// Every channel, by account then row id.
    fn channels(&self) -> Result<Vec<ChannelRow>, StoreError>;

    /// Channels matching `@username`, a numeric Telegram id, or a row id given as `#N`.
    fn find_channels(&self, reference: &str) -> Result<Vec<ChannelRow>, StoreError> {
        let r = reference.trim();
        let all = self.channels()?;
        Ok(all
            .into_iter()
            .filter(|c| match r.strip_prefix('#') {
                Some(rowid) => rowid.parse() == Ok(c.id),
                None => {
                    let name = r.trim_start_matches('@');
                    c.username
                        .as_deref()
                        .is_some_and(|u| u.eq_ignore_ascii_case(name))
                        || r.parse::<i64>().is_ok_and(|id| id == c.tg_id)
                }
            })
            .collect())
    }

    /// Number of stored posts of one channel.
    fn channel_post_count(&self, channel_id: i64) -> Result<i64, StoreError>;

    /// Number of stored posts per channel row id.
    fn post_counts(&self) -> Result<std::collections::HashMap<i64, i64>, StoreError>;

    /// Pauses or resumes a channel; resuming also clears its error and flood park.
    fn set_channel_active(&mut self, id: i64, active: bool) -> Result<(), StoreError>;

    /// Deletes a channel and its posts.
    fn remove_channel(&mut self, id: i64) -> Result<(), StoreError>;

    /// Parks a channel until `until` (a long FLOOD_WAIT, or a failure worth retrying later), keeping
    /// the error and counting the failure.
    fn park_channel(&mut self, id: i64, until: i64, why: &str) -> Result<(), StoreError>;

    /// Records a failure; a permanent one also deactivates the channel so it is not retried forever.
    fn fail_channel(&mut self, id: i64, error: &str, permanent: bool) -> Result<(), StoreError>;

    /// Marks a poll that found nothing new.
    fn touch_channel(&mut self, id: i64) -> Result<(), StoreError>;

    /// Stores a batch of posts of `channel_id` in one transaction. With `range = Some((from, to))` the
    /// checkpoint advances to `to` and the fetched range is recorded in the same transaction; the range
    /// must be complete (every message the server has in it was asked for), so a stored post in it that
    /// the batch lacks was deleted and is marked so. Without a range the batch is a refresh: posts
    /// already stored are updated (edits, counters), others ignored.
    fn store_batch(
        &mut self,
        channel_id: i64,
        label: &str,
        posts: &[PostIn],
        range: Option<(i32, i32)>,
    ) -> Result<BatchOutcome, StoreError>;

    /// [`ChannelStore::store_batch`], marking deleted the stored posts of `window` (ids `from..=to` the page
    /// held completely: Telegram pages have no holes) that the page lacks. A refresh (no `range`) of
    /// the newest page passes the ids the page spanned.
    fn store_page(
        &mut self,
        channel_id: i64,
        label: &str,
        posts: &[PostIn],
        range: Option<(i32, i32)>,
        window: Option<(i32, i32)>,
    ) -> Result<BatchOutcome, StoreError>;

    /// Stores consecutive complete pages of a backfill ([`ChannelStore::store_batch`] each, with its range) in
    /// one transaction: all or none, so a crash still leaves a prefix of the channel stored. Ingest
    /// groups the pages that arrived while the previous write ran (one commit per group instead of one
    /// per page; on the benchmark machine the saving was within noise, as most of the writer's time
    /// goes to the bytes written, not to commits). Returns one outcome per page.
    fn store_batches(
        &mut self,
        channel_id: i64,
        label: &str,
        pages: &[(Vec<PostIn>, (i32, i32))],
    ) -> Result<Vec<BatchOutcome>, StoreError>;

    /// Earlier texts of a post (by row id), oldest first: (text, edit date, replaced at).
    fn post_versions(&self, post_id: i64) -> Result<Vec<(String, Option<i64>, i64)>, StoreError>;

    /// Moves the checkpoint without posts (the start of a `last N` / `since:` backfill).
    fn set_checkpoint(&mut self, channel_id: i64, last_message_id: i32) -> Result<(), StoreError>;

    /// Stored message ids of a channel, ascending (for audits and tests).
    fn message_ids(&self, channel_id: i64) -> Result<Vec<i32>, StoreError>;

    /// Fetched ranges of a channel, merged where they touch or overlap.
    fn fetched_ranges(&self, channel_id: i64) -> Result<Vec<(i32, i32)>, StoreError>;
}

/// Id ranges sorted by start, merged where they touch or overlap (both backends' `fetched_ranges`).
pub(crate) fn merge_ranges(sorted: Vec<(i32, i32)>) -> Vec<(i32, i32)> {
    let mut merged: Vec<(i32, i32)> = Vec::new();
    for (a, b) in sorted {
        match merged.last_mut() {
            Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
            _ => merged.push((a, b)),
        }
    }
    merged
}
