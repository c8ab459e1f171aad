//! Durable tagging state per post: claiming due posts, recording each attempt, stats and re-queueing.
//!
//! Statuses: `pending` → `success` | `retrying` (due again at `next_tagging_at`, exponential delay) |
//! `failed` (attempts exhausted, error kept) | `skipped` (no text). A worker claims posts for a short
//! while under a token (`tagging_claim`, `tagging_claimed_until`) and renews the claim while it works;
//! a claim left by a dead worker expires, so the post is due again. An outcome is stored only while the
//! post is still held under the token it was computed for: an edit clears the claim, so a result for
//! the old text is dropped. Outcomes are written in batches, each post under its own savepoint, so one
//! failing post never rolls back the others.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::StoreError;
use crate::model::media::{Media, MediaFilter};

/// Where a post is in tagging, so code matches on a closed set instead of comparing strings.
///
/// Stored in `posts.tagging_status` and shown in JSON, the CLI and metrics as its lowercase name
/// ([`TaggingStatus::as_str`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaggingStatus {
    /// Waiting for an attempt: new, edited or queued again.
    Pending,
    /// An attempt failed and attempts remain: due again at `next_tagging_at`.
    Retrying,
    /// Tagged: its tags are stored.
    Success,
    /// Attempts exhausted: the last error is kept until the post is queued again.
    Failed,
    /// Never tagged: the post has no text.
    Skipped,
}

impl TaggingStatus {
    /// Every status, in the order of a post's life, for help texts, validation and per-status counts.
    pub const ALL: [TaggingStatus; 5] = [
        TaggingStatus::Pending,
        TaggingStatus::Retrying,
        TaggingStatus::Success,
        TaggingStatus::Failed,
        TaggingStatus::Skipped,
    ];

    /// The lowercase name the database, JSON, the CLI and metrics use.
    pub const fn as_str(self) -> &'static str {
        match self {
            TaggingStatus::Pending => "pending",
            TaggingStatus::Retrying => "retrying",
            TaggingStatus::Success => "success",
            TaggingStatus::Failed => "failed",
            TaggingStatus::Skipped => "skipped",
        }
    }
}

impl fmt::Display for TaggingStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad`, so a width (`{:<8}`) lines up tables as it did for the plain string.
        f.pad(self.as_str())
    }
}

/// A text that is not a tagging status (from a user, a query string or a database row).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown tagging status {value:?}: give {}",
    TaggingStatus::ALL.map(TaggingStatus::as_str).join(", ")
)]
pub struct UnknownTaggingStatus {
    /// The text that was given.
    pub value: String,
}

impl FromStr for TaggingStatus {
    type Err = UnknownTaggingStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TaggingStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| UnknownTaggingStatus { value: s.into() })
    }
}

/// A post handed to a tagging worker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DuePost {
    /// Post row id.
    pub id: i64,
    /// Channel row id (for its document frequencies).
    pub channel_id: i64,
    /// Text to tag.
    pub text: String,
    /// Attempts made before this one.
    pub attempts: u32,
    /// The claim token this post is held under; outcomes must present it.
    pub claim: i64,
}

/// Counts for `tags stats`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TagStats {
    /// Posts in scope.
    pub total: i64,
    /// Posts that have at least one tag.
    pub with_tags: i64,
    /// Posts waiting for another attempt (`retrying`).
    pub needing_retry: i64,
    /// Posts per status.
    pub by_status: BTreeMap<String, i64>,
}

/// A stored post with its tagging state, for `posts list/show`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PostRow {
    /// Post row id.
    pub id: i64,
    /// Channel label (`@name` or id).
    pub channel: String,
    /// Message id in the channel.
    pub message_id: i32,
    /// Date (unix seconds).
    pub date: i64,
    /// Edit date.
    pub edit_date: Option<i64>,
    /// Text.
    pub text: String,
    /// Tagging status.
    pub tagging_status: TaggingStatus,
    /// Attempts so far.
    pub tagging_attempts: i64,
    /// Last attempt (unix seconds).
    pub last_tagging_attempt: Option<i64>,
    /// Last error.
    pub tagging_error: Option<String>,
    /// When a `retrying` post is due again.
    pub next_tagging_at: Option<i64>,
    /// Tags with scores and source, best first.
    pub tags: Vec<(String, f64, String)>,
    /// When tgsift learned the post was deleted in the channel (unix seconds).
    pub deleted_at: Option<i64>,
    /// Its media, if it has any and it was fetched since tgsift keeps media details.
    pub media: Option<Media>,
}

/// Filters of `posts list`.
#[derive(Clone, Debug, Default)]
pub struct PostFilter {
    /// `@name`, numeric id or `#row`.
    pub channel: Option<String>,
    /// Only posts with this tag.
    pub tag: Option<String>,
    /// Only posts in this status.
    pub status: Option<TaggingStatus>,
    /// Only posts dated on or after this (unix seconds).
    pub since: Option<i64>,
    /// Posts deleted in their channel too.
    pub include_deleted: bool,
    /// Only posts with media (of this kind).
    pub media: Option<MediaFilter>,
    /// At most this many, newest first.
    pub limit: usize,
    /// Only posts older than this `(date, row id)` in the newest-first order: a page cursor.
    pub before: Option<(i64, i64)>,
}

/// The result of one tagging attempt, as a worker hands it to the store.
#[derive(Clone, Debug, PartialEq)]
pub enum AttemptResult {
    /// Tags found: they replace the post's tags and the post becomes `success`.
    Tagged {
        /// (tag, score), best first.
        tags: Vec<(String, f64)>,
        /// The tagger that produced them.
        source: String,
    },
    /// The attempt failed: `retrying` while attempts remain, else `failed`.
    Failed {
        /// What went wrong (kept in `tagging_error`).
        error: String,
    },
}

/// One attempt's outcome for [`TaggingStore::record_attempts`].
#[derive(Clone, Debug, PartialEq)]
pub struct Attempt {
    /// Post row id.
    pub post_id: i64,
    /// The claim token the attempt was computed under.
    pub claim: i64,
    /// What happened.
    pub result: AttemptResult,
}

/// What recording one attempt did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recorded {
    /// Stored; the post's new status.
    Applied(TaggingStatus),
    /// Not stored: the claim was no longer the post's (the post was edited, re-queued or re-claimed
    /// after its claim expired), so the result belongs to text or a claim that is gone.
    Stale,
    /// Not stored: writing this post failed (its savepoint was rolled back; the others are kept).
    Error(String),
}

/// Retry and claim rules the store applies to attempts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryRules {
    /// Attempts before a post becomes `failed`.
    pub max_attempts: u32,
    /// First delay before a `retrying` post is due again (doubles per attempt, at least 1 s).
    pub base_delay_secs: f64,
}

/// A fresh claim token (random, never 0); the PostgreSQL backend makes its tokens the same way.
pub(crate) fn new_claim_token() -> i64 {
    loop {
        let t: i64 = rand::random();
        if t != 0 {
            return t;
        }
    }
}

/// Tagging: claiming due posts, recording outcomes, re-queueing, and reading posts with their tags.
pub trait TaggingStore {
    /// Claims up to `limit` due posts for `claim_secs` seconds under one fresh token: `retrying` posts
    /// whose time has come (earliest due first), then `pending` ones (oldest first), skipping posts
    /// under a live claim. Both orders come straight from indexes, so a claim never sorts the backlog.
    fn claim_due(&mut self, limit: usize, claim_secs: i64) -> Result<Vec<DuePost>, StoreError>;

    /// Extends the claims held under `token` (a worker still working on them) to now + `claim_secs`;
    /// returns how many are still held.
    fn renew_claims(&mut self, token: i64, claim_secs: i64) -> Result<usize, StoreError>;

    /// Records a batch of attempts in one transaction, each post under its own savepoint: an outcome
    /// is applied only while the post is still held under the claim it was computed for, and a post
    /// whose write fails is rolled back alone, never taking the others with it.
    fn record_attempts(
        &mut self,
        attempts: &[Attempt],
        rules: RetryRules,
    ) -> Result<Vec<Recorded>, StoreError>;

    /// Releases claims held under `token` (shutdown, or work not started) so the posts are due again at
    /// once; attempts are not counted.
    fn release_claims(&mut self, token: i64, ids: &[i64]) -> Result<(), StoreError>;

    /// Texts of a channel's newest `limit` posts with text (to learn its document frequencies), and
    /// the highest post row id among them.
    fn channel_texts(
        &self,
        channel_id: i64,
        limit: usize,
    ) -> Result<(Vec<String>, i64), StoreError>;

    /// Texts of a channel's posts stored after post row id `after` (at most `limit`, oldest first), and
    /// the highest post row id among them (`after` when there are none): what grows its document
    /// frequencies without re-reading the channel.
    fn channel_texts_after(
        &self,
        channel_id: i64,
        after: i64,
        limit: usize,
    ) -> Result<(Vec<String>, i64), StoreError>;

    /// One channel's (posts, posts with tags, distinct tags).
    fn channel_tag_stats(&self, channel_id: i64) -> Result<(i64, i64, i64), StoreError>;

    /// The most frequent tags (of one channel, or of all), with the number of posts carrying each.
    fn top_tags(
        &self,
        channel_id: Option<i64>,
        limit: usize,
    ) -> Result<Vec<(String, i64)>, StoreError>;

    /// `tags stats`: counts per status, optionally for one account.
    fn tag_stats(&self, account: Option<&str>) -> Result<TagStats, StoreError>;

    /// `tags retry`: makes up to `limit` `retrying` (and with `force` also `failed`) posts due now.
    fn requeue_tagging(
        &mut self,
        account: Option<&str>,
        limit: usize,
        force: bool,
    ) -> Result<usize, StoreError>;

    /// `retag`: makes every post with text of one channel (or all), optionally within a message-id range,
    /// due for tagging again with a fresh set of attempts; their tags are replaced when it is tagged.
    /// Returns how many.
    fn requeue_for_retag(
        &mut self,
        channel_id: Option<i64>,
        from_id: Option<i32>,
        to_id: Option<i32>,
    ) -> Result<usize, StoreError>;

    /// Claims one post for an immediate re-tag (for `tags regenerate`), whatever its status; `None` if
    /// it does not exist or has no text.
    fn claim_post(&mut self, post_id: i64, claim_secs: i64) -> Result<Option<DuePost>, StoreError>;

    /// One post with its tags.
    fn post(&self, post_id: i64) -> Result<Option<PostRow>, StoreError>;

    /// The name a tag is stored and shown in, found in any case by its key
    /// ([`tag_name_key`](crate::tag_name_key)); `None` when no post was ever given the tag.
    fn tag_name(&self, tag: &str) -> Result<Option<String>, StoreError>;

    /// The stored name a tag filter (`--tag`, the API's `tag=`) compares with: the tag's name when
    /// it has one, else the text as given (so rows written by hand still match as written).
    fn tag_filter(&self, tag: Option<&str>) -> Result<Option<String>, StoreError> {
        let Some(tag) = tag else { return Ok(None) };
        Ok(Some(
            self.tag_name(tag)?
                .unwrap_or_else(|| super::tag_names::shown_form(tag)),
        ))
    }

    /// Posts matching a filter, newest first.
    fn list_posts(&self, f: &PostFilter) -> Result<Vec<PostRow>, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_reads_back_from_its_name() {
        let names = TaggingStatus::ALL.map(TaggingStatus::as_str);
        assert_eq!(
            names,
            ["pending", "retrying", "success", "failed", "skipped"]
        );
        for status in TaggingStatus::ALL {
            assert_eq!(status.as_str().parse(), Ok(status));
            assert_eq!(status.to_string(), status.as_str());
        }
    }

    #[test]
    fn an_unknown_name_is_refused_naming_it_and_the_statuses_there_are() {
        let err = "Done".parse::<TaggingStatus>().expect_err("not a status");
        assert_eq!(err.value, "Done");
        assert_eq!(
            err.to_string(),
            r#"unknown tagging status "Done": give pending, retrying, success, failed, skipped"#
        );
        // Names are exact: no other case, no spaces.
        for near in ["Pending", " pending", "SUCCESS", ""] {
            assert!(near.parse::<TaggingStatus>().is_err(), "{near:?}");
        }
    }

    #[test]
    fn json_is_the_lowercase_name() {
        for status in TaggingStatus::ALL {
            let json = serde_json::to_string(&status).expect("serialize");
            assert_eq!(json, format!("\"{}\"", status.as_str()));
            assert_eq!(
                serde_json::from_str::<TaggingStatus>(&json).expect("deserialize"),
                status
            );
        }
        assert!(serde_json::from_str::<TaggingStatus>("\"done\"").is_err());
    }

    #[test]
    fn a_width_pads_the_name_as_it_padded_the_string() {
        assert_eq!(
            format!("[{:<9}]", TaggingStatus::Failed),
            format!("[{:<9}]", "failed")
        );
        assert_eq!(format!("[{:>8}]", TaggingStatus::Success), "[ success]");
    }
}
