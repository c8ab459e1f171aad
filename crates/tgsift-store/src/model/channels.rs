//! Channels and their posts: the ingest checkpoint and the exactly-once batch write.
//!
//! A batch of posts is written in one transaction together with the channel's checkpoint
//! (`last_message_id`) and the fetched-range record, and posts are upserted on (channel, message_id).
//! A crash at any instant therefore leaves either the whole batch with its checkpoint or neither, and
//! re-fetching a range never duplicates a post.

use super::media::Media;
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
    /// End of the last complete fetch pass (unix seconds); the batches of a pass do not move it, so
    /// a pass cut short leaves the channel due at once.
    pub last_fetch_at: Option<i64>,
    /// Last error, if the last attempt failed.
    pub last_error: Option<String>,
    /// Consecutive failed polls (parks grow with them; a good poll resets them).
    pub failures: u32,
    /// When the account was first seen no longer a member (Telegram marked the channel `left`);
    /// `None` while it is one, or while nobody looked.
    pub left_at: Option<i64>,
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
    /// Its media, if any (`posts.has_media` says whether there is a row in `post_media`).
    pub media: Option<Media>,
    /// Its comment thread, when the channel has a discussion group.
    pub thread: Option<Thread>,
}

/// A post's comment thread as Telegram describes it on the post (`messageReplies` with `comments`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Thread {
    /// Messages in the thread.
    pub replies: i32,
    /// The newest one's id in the discussion group, if any.
    pub max_id: Option<i32>,
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
            media: None,
            thread: None,
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

    /// The same post with this comment thread.
    pub fn thread(self, thread: Option<Thread>) -> PostIn {
        PostIn { thread, ..self }
    }

    /// The same post in this album (its grouped id).
    pub fn album(self, grouped_id: Option<i64>) -> PostIn {
        PostIn { grouped_id, ..self }
    }

    /// The same post, carrying this media or none.
    pub fn media(self, media: Option<Media>) -> PostIn {
        PostIn { media, ..self }
    }

    /// Whether it carries media.
    pub fn has_media(&self) -> bool {
        self.media.is_some()
    }
}

/// What one batch write did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    /// New posts.
    pub inserted: usize,
    /// Posts whose text or edit date changed (tags dropped, tagging back to pending).
    pub edited: usize,
    /// Posts seen again unchanged (counters refreshed).
    pub unchanged: usize,
    /// Posts stored before (neither deleted nor hidden) in the page's range that the page lacks,
    /// ascending: not proof of anything on Telegram's irregular pages, so ingest asks about them.
    pub unseen: Vec<i32>,
}

/// One page of a backfill as ingest proved it complete: the ids `range` (inclusive) were asked for
/// until the server's answers reached the range's start or an empty window, and `answered` messages
/// of any kind (service messages too, placeholders not) came back. Fewer answers than ids is normal —
/// deleted posts, posts hidden from the account — and `channels audit` lists such ranges.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FetchedPage {
    /// The posts of the range, oldest first.
    pub posts: Vec<PostIn>,
    /// The ids `from..=to` the page covers.
    pub range: (i32, i32),
    /// Messages the server answered with in the range.
    pub answered: i32,
}

/// A fetched range that came back with fewer messages than it has ids (`channels audit`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShortRange {
    /// First id of the range.
    pub from: i32,
    /// Last id of the range.
    pub to: i32,
    /// Messages the server answered with.
    pub answered: i32,
}

impl ShortRange {
    /// Ids of the range the server answered nothing for (deleted, hidden, or never used).
    pub fn unanswered(&self) -> i32 {
        (self.to - self.from + 1 - self.answered).max(0)
    }
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

    /// One account's channels (active or not), by row id: what its ingest reads every few seconds,
    /// without the fleet's other accounts' thousands of channels.
    fn account_channels(&self, account_id: i64) -> Result<Vec<ChannelRow>, StoreError>;

    /// The accounts with at least one active channel: which accounts a service must serve, asked
    /// every few seconds without listing every channel.
    fn accounts_with_active_channels(&self) -> Result<std::collections::HashSet<i64>, StoreError>;

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

    /// Records whether the account has left the channel: `left` sets `left_at` if it is not set yet
    /// (and returns true: the first time, when the `channel_left` alert is due), `!left` clears it
    /// (the account is a member again). Returns false when nothing changed.
    fn set_channel_left(&mut self, id: i64, left: bool) -> Result<bool, StoreError>;

    /// Stores a batch of posts of `channel_id` in one transaction. With `range = Some((from, to))` the
    /// checkpoint advances to `to` and the fetched range is recorded in the same transaction. Without a
    /// range the batch is a refresh: posts already stored are updated (edits, counters), others
    /// ignored. A post seen again is no longer hidden (`hidden_at` cleared). Nothing is ever marked
    /// deleted or hidden here: a page lacking a stored post proves nothing on Telegram's irregular
    /// pages (ingest confirms with `channels.getMessages`, then [`ChannelStore::mark_hidden`]).
    fn store_batch(
        &mut self,
        channel_id: i64,
        label: &str,
        posts: &[PostIn],
        range: Option<(i32, i32)>,
    ) -> Result<BatchOutcome, StoreError>;

    /// Stores consecutive complete pages of a backfill ([`ChannelStore::store_batch`] each, with its
    /// range and how many messages answered it) in one transaction: all or none, so a crash still
    /// leaves a prefix of the channel stored. Ingest groups the pages that arrived while the previous
    /// write ran (one commit per group instead of one per page; on the benchmark machine the saving was
    /// within noise, as most of the writer's time goes to the bytes written, not to commits). Returns
    /// one outcome per page.
    fn store_batches(
        &mut self,
        channel_id: i64,
        label: &str,
        pages: &[FetchedPage],
    ) -> Result<Vec<BatchOutcome>, StoreError>;

    /// Stored ids in `from..=to` neither deleted nor hidden, ascending: what a page of that window
    /// should have shown.
    fn visible_ids_between(
        &self,
        channel_id: i64,
        from: i32,
        to: i32,
    ) -> Result<Vec<i32>, StoreError>;

    /// Stored posts of `from..=to` (neither deleted nor hidden) that `seen` lacks: the posts a page
    /// spanned but did not show, which ingest then asks about one by one.
    fn unseen_between(
        &self,
        channel_id: i64,
        (from, to): (i32, i32),
        seen: &[i32],
    ) -> Result<Vec<i32>, StoreError> {
        if from > to {
            return Ok(Vec::new());
        }
        let seen: std::collections::HashSet<i32> = seen.iter().copied().collect();
        let mut ids = self.visible_ids_between(channel_id, from, to)?;
        ids.retain(|id| !seen.contains(id));
        Ok(ids)
    }

    /// Marks hidden (`hidden_at`) the stored posts `ids` that the account's view no longer shows
    /// (`channels.getMessages` answered them empty): deleted, or hidden from this account — Telegram
    /// does not say which, so the row stays and is not marked deleted. Returns how many were marked.
    fn mark_hidden(&mut self, channel_id: i64, ids: &[i32]) -> Result<usize, StoreError>;

    /// Stored posts of a channel marked hidden.
    fn hidden_count(&self, channel_id: i64) -> Result<usize, StoreError>;

    /// The recorded ranges of a channel that came back with fewer messages than ids, by start.
    fn short_ranges(&self, channel_id: i64) -> Result<Vec<ShortRange>, StoreError>;

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
