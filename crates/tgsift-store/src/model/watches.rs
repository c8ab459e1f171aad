//! Watches: standing questions — "posts tagged X", "posts matching this search", "posts of these
//! channels" — whose answers are delivered to a sink (a webhook, Saved Messages, a Telegram chat) once
//! each.
//!
//! Storing a post (new, or edited to new text) queues it in `watch_queue` when any watch exists, in
//! the same transaction, so no post is missed however far the watches task is behind and nothing is
//! queued when nobody watches. The task decides each queued post against every watch: the rules that
//! need no tags at once (a query rule once the post is in the search index), a tag rule once the post's
//! tagging has ended. A match becomes a row of `watch_hits` — one per watch and post, so a post is
//! delivered once per watch whatever happens to it later — and the row carries its own delivery state
//! (attempts, next attempt, last error), so a post matched while the sink is down is delivered when
//! it comes back. A watch sees only posts published or edited after it was created: adding a watch
//! (or a channel with history) never floods its sink with the past.

use serde::Serialize;

use crate::StoreError;
use crate::model::search::{SearchQuery, SearchStore};

/// How long a queued post may wait for its tagging to end before tag watches give up on it.
pub const TAG_WAIT_SECS: i64 = 24 * 3600;

/// A watch to create.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewWatch {
    /// Unique name.
    pub name: String,
    /// Posts with this tag (as named by `tags top`); a watch has a tag or a query, not both.
    pub tag: Option<String>,
    /// Posts matching this search (the syntax of `tgsift search`).
    pub query: Option<String>,
    /// Posts of these channels only (row ids); empty: every channel.
    pub channels: Vec<i64>,
    /// Where matches go: `webhook:URL`, `saved-messages` or `telegram:@chat`.
    pub sink: String,
    /// Digest period in seconds: matches are batched and sent at most once per period.
    pub every: Option<i64>,
    /// The account that sends to Telegram sinks; `None`: the account following the post's channel.
    pub account: Option<String>,
}

/// A stored watch with its delivery figures.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WatchRow {
    /// Row id.
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// Tag rule.
    pub tag: Option<String>,
    /// Search rule.
    pub query: Option<String>,
    /// Channel rule (row ids); empty: every channel.
    pub channels: Vec<i64>,
    /// Where matches go.
    pub sink: String,
    /// Digest period (seconds), if batched.
    pub every: Option<i64>,
    /// The account that sends to Telegram sinks, if fixed.
    pub account: Option<String>,
    /// Created (unix seconds): only posts published or edited since are matched.
    pub created_at: i64,
    /// When the last digest went out.
    pub last_digest_at: Option<i64>,
    /// Matches delivered.
    pub delivered: i64,
    /// Matches not delivered yet.
    pub pending: i64,
    /// The last delivery error of a pending match.
    pub last_error: Option<String>,
    /// When a match was last delivered.
    pub last_delivered_at: Option<i64>,
}

/// A queued post as the matcher needs it.
#[derive(Clone, Debug, PartialEq)]
pub struct WatchCandidate {
    /// Post row id.
    pub post_id: i64,
    /// When it was queued (unix seconds).
    pub queued_at: i64,
    /// Whether the rules that need no tags were decided already.
    pub decided: bool,
    /// Channel row id.
    pub channel_id: i64,
    /// Channel `@username`, if public.
    pub channel_username: Option<String>,
    /// Published (unix seconds).
    pub date: i64,
    /// Last edited (unix seconds), if ever.
    pub edit_date: Option<i64>,
    /// Whether the post has text waiting for the search index.
    pub unindexed: bool,
    /// Whether its tagging has ended (tagged, failed for good, or nothing to tag).
    pub tagging_done: bool,
    /// Its tags.
    pub tags: Vec<String>,
}

/// What one matching pass decided. Posts are named with the time they were queued, so a post edited
/// (queued again) during the pass stays queued.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WatchPass {
    /// (watch id, post id) matches.
    pub hits: Vec<(i64, i64)>,
    /// (post id, queued at) of posts whose tagless rules are decided; they wait for their tags.
    pub decided: Vec<(i64, i64)>,
    /// (post id, queued at) of posts decided for every watch: they leave the queue.
    pub done: Vec<(i64, i64)>,
}

/// A match to deliver, with what its message needs.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WatchHit {
    /// The watch's row id.
    pub watch_id: i64,
    /// Post row id.
    pub post_id: i64,
    /// Delivery attempts so far.
    pub attempts: i64,
    /// Channel title.
    pub channel_title: String,
    /// Channel `@username`, if public.
    pub channel_username: Option<String>,
    /// Channel's Telegram id.
    pub channel_tg_id: i64,
    /// The account following the channel.
    pub account: String,
    /// Message id in the channel.
    pub message_id: i32,
    /// Published (unix seconds).
    pub date: i64,
    /// Last edited (unix seconds), if ever.
    pub edit_date: Option<i64>,
    /// The post's text.
    pub text: String,
    /// Its tags.
    pub tags: Vec<String>,
}

impl WatchHit {
    /// The post's address on Telegram: `t.me/name/id`, or `t.me/c/id/id` for a private channel.
    pub fn link(&self) -> String {
        match &self.channel_username {
            Some(u) => format!("https://t.me/{u}/{}", self.message_id),
            None => format!("https://t.me/c/{}/{}", self.channel_tg_id, self.message_id),
        }
    }
}

/// Watches, the queue of posts they have not decided yet, and their matches' delivery.
pub trait WatchStore: SearchStore {
    /// Creates a watch; `None` when the name is taken.
    fn add_watch(&mut self, w: &NewWatch, now: i64) -> Result<Option<WatchRow>, StoreError>;

    /// Every watch with its figures, by name.
    fn watches(&self) -> Result<Vec<WatchRow>, StoreError>;

    /// Removes a watch and its matches; false when there is none of that name.
    fn remove_watch(&mut self, name: &str) -> Result<bool, StoreError>;

    /// Up to `limit` queued posts with something to decide at `now`, oldest first: undecided ones,
    /// and those waiting for tags whose tagging has ended or whose wait is over.
    fn watch_candidates(&self, now: i64, limit: usize) -> Result<Vec<WatchCandidate>, StoreError>;

    /// Which of `post_ids` match the search `query` (indexed posts only).
    fn watch_query_hits(&self, query: &str, post_ids: &[i64]) -> Result<Vec<i64>, StoreError> {
        let q = SearchQuery {
            post_ids: Some(post_ids.to_vec()),
            limit: post_ids.len(),
            ..SearchQuery::new(query)
        };
        Ok(self.search_posts(&q)?.into_iter().map(|h| h.id).collect())
    }

    /// Records a pass: new matches (a match already recorded is kept as it is), posts decided but
    /// waiting for tags, posts done; returns how many matches are new.
    fn record_watch_pass(&mut self, pass: &WatchPass, now: i64) -> Result<usize, StoreError>;

    /// Claims up to `limit` matches due for delivery at `now` — of digest watches only when their
    /// period has passed — for `lease` seconds (another worker skips them meanwhile), oldest first.
    fn claim_watch_hits(
        &mut self,
        now: i64,
        lease: i64,
        limit: usize,
    ) -> Result<Vec<WatchHit>, StoreError>;

    /// Marks matches delivered (and the watch's digest sent at `now`).
    fn watch_delivered(
        &mut self,
        watch_id: i64,
        post_ids: &[i64],
        now: i64,
    ) -> Result<(), StoreError>;

    /// Records a failed delivery: the matches are tried again at `retry_at`.
    fn watch_failed(
        &mut self,
        watch_id: i64,
        post_ids: &[i64],
        error: &str,
        retry_at: i64,
    ) -> Result<(), StoreError>;

    /// The posts of `post_ids` as delivery shows them (for `watch test`), newest first.
    fn watch_posts(&self, post_ids: &[i64]) -> Result<Vec<WatchHit>, StoreError>;

    /// The newest stored posts (up to `limit`) with `tag` (any, when `None`) in `channels` (any,
    /// when empty).
    fn recent_posts(
        &self,
        tag: Option<&str>,
        channels: &[i64],
        limit: usize,
    ) -> Result<Vec<i64>, StoreError>;

    /// The newest stored posts (up to `limit`) a watch matches, ignoring when it was created
    /// (`watch test`).
    fn watch_recent(&self, watch: &WatchRow, limit: usize) -> Result<Vec<i64>, StoreError> {
        match &watch.query {
            Some(q) => {
                let q = SearchQuery {
                    channel_ids: (!watch.channels.is_empty()).then(|| watch.channels.clone()),
                    limit,
                    ..SearchQuery::new(q)
                };
                let mut ids: Vec<i64> = self.search_posts(&q)?.into_iter().map(|h| h.id).collect();
                ids.sort_unstable_by(|a, b| b.cmp(a));
                Ok(ids)
            }
            None => self.recent_posts(watch.tag.as_deref(), &watch.channels, limit),
        }
    }
}

/// Whether `w` matches a candidate on the rules that need no tags (channel and date); the query and
/// tag rules are the caller's. A post of the chat a watch sends to is never its match: what the watch sent there would match
/// again and be sent again, without end.
pub fn in_scope(w: &WatchRow, c: &WatchCandidate) -> bool {
    let recent = c.date >= w.created_at || c.edit_date.is_some_and(|e| e >= w.created_at);
    let own_chat = w
        .sink
        .strip_prefix("telegram:")
        .map(|chat| chat.trim().trim_start_matches('@'))
        .zip(c.channel_username.as_deref())
        .is_some_and(|(chat, name)| chat.eq_ignore_ascii_case(name));
    recent
        && !own_chat
        && c.queued_at >= w.created_at
        && (w.channels.is_empty() || w.channels.contains(&c.channel_id))
}

/// Decides a batch of candidates against the watches. `query_hits(query, ids)` answers which of
/// `ids` match a search. `now` ages out posts whose tagging never ends.
pub fn decide(
    watches: &[WatchRow],
    candidates: &[WatchCandidate],
    now: i64,
    mut query_hits: impl FnMut(&str, &[i64]) -> Result<Vec<i64>, StoreError>,
) -> Result<WatchPass, StoreError> {
    let mut pass = WatchPass::default();
    let tag_watches = watches.iter().any(|w| w.tag.is_some());
    // Queries are answered by the search index, one statement per watch for the whole batch.
    let mut query_matches: Vec<(i64, Vec<i64>)> = Vec::new();
    for w in watches {
        let (Some(q), None) = (&w.query, &w.tag) else {
            continue;
        };
        let ids: Vec<i64> = candidates
            .iter()
            .filter(|c| !c.decided && !c.unindexed && in_scope(w, c))
            .map(|c| c.post_id)
            .collect();
        if !ids.is_empty() {
            query_matches.push((w.id, query_hits(q, &ids)?));
        }
    }
    for c in candidates {
        let mut waits = false;
        if !c.decided {
            if c.unindexed && watches.iter().any(|w| w.query.is_some() && w.tag.is_none()) {
                // Its query rules wait for the search index.
                continue;
            }
            for w in watches.iter().filter(|w| w.tag.is_none()) {
                let hit = in_scope(w, c)
                    && match &w.query {
                        None => true,
                        Some(_) => query_matches
                            .iter()
                            .any(|(id, hits)| *id == w.id && hits.contains(&c.post_id)),
                    };
                if hit {
                    pass.hits.push((w.id, c.post_id));
                }
            }
        }
        if tag_watches {
            if c.tagging_done {
                for w in watches.iter().filter(|w| w.tag.is_some()) {
                    let tag = w.tag.as_deref().unwrap_or_default().to_lowercase();
                    let tagged = c.tags.iter().any(|t| t.to_lowercase() == tag);
                    if tagged && in_scope(w, c) {
                        pass.hits.push((w.id, c.post_id));
                    }
                }
            } else if now - c.queued_at < TAG_WAIT_SECS {
                waits = true;
            }
        }
        if waits {
            if !c.decided {
                pass.decided.push((c.post_id, c.queued_at));
            }
        } else {
            pass.done.push((c.post_id, c.queued_at));
        }
    }
    Ok(pass)
}
