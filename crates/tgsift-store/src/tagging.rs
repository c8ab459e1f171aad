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

use rusqlite::{OptionalExtension, Transaction, params};
use serde::Serialize;

use super::prelude::*;
use super::{Store, StoreError, unix_now};

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
    pub tagging_status: String,
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
}

/// Filters of `posts list`.
#[derive(Clone, Debug, Default)]
pub struct PostFilter {
    /// `@name`, numeric id or `#row`.
    pub channel: Option<String>,
    /// Only posts with this tag.
    pub tag: Option<String>,
    /// Only posts in this status.
    pub status: Option<String>,
    /// Only posts dated on or after this (unix seconds).
    pub since: Option<i64>,
    /// Posts deleted in their channel too.
    pub include_deleted: bool,
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

/// One attempt's outcome for [`Store::record_attempts`].
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
    Applied(&'static str),
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

const ACCOUNT_SCOPE: &str = "(?1 IS NULL OR p.channel_id IN (SELECT c.id FROM channels c JOIN accounts a ON a.id = c.account_id WHERE a.name = ?1))";

/// Due `retrying` posts, earliest due first, straight from the (status, due time) index.
const CLAIM_RETRYING: &str =
    "SELECT id, channel_id, text, tagging_attempts FROM posts INDEXED BY posts_tagging_due
     WHERE tagging_status = 'retrying' AND next_tagging_at <= ?1
       AND (tagging_claimed_until IS NULL OR tagging_claimed_until < ?1)
     ORDER BY next_tagging_at LIMIT ?2";

/// `pending` posts, oldest first, straight from the same index: a pending post has no due time, so
/// its run of the index is in row id order.
const CLAIM_PENDING: &str =
    "SELECT id, channel_id, text, tagging_attempts FROM posts INDEXED BY posts_tagging_due
     WHERE tagging_status = 'pending' AND next_tagging_at IS NULL
       AND (tagging_claimed_until IS NULL OR tagging_claimed_until < ?1)
     ORDER BY id LIMIT ?2";

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

    /// Posts matching a filter, newest first.
    fn list_posts(&self, f: &PostFilter) -> Result<Vec<PostRow>, StoreError>;
}

impl TaggingStore for Store {
    fn claim_due(&mut self, limit: usize, claim_secs: i64) -> Result<Vec<DuePost>, StoreError> {
        let now = unix_now();
        let token = new_claim_token();
        self.write("claim posts for tagging", |tx| {
            let mut due: Vec<DuePost> = Vec::new();
            let row = |r: &rusqlite::Row<'_>| -> rusqlite::Result<DuePost> {
                Ok(DuePost {
                    id: r.get(0)?,
                    channel_id: r.get(1)?,
                    text: r.get(2)?,
                    attempts: r.get(3)?,
                    claim: token,
                })
            };
            {
                let mut st = tx.prepare_cached(CLAIM_RETRYING)?;
                due.extend(
                    st.query_map(params![now, limit as i64], row)?
                        .collect::<Result<Vec<_>, _>>()?,
                );
            }
            if due.len() < limit {
                let mut st = tx.prepare_cached(CLAIM_PENDING)?;
                let rest = (limit - due.len()) as i64;
                due.extend(
                    st.query_map(params![now, rest], row)?
                        .collect::<Result<Vec<_>, _>>()?,
                );
            }
            let mut claim = tx.prepare_cached(
                "UPDATE posts SET tagging_claimed_until = ?2, tagging_claim = ?3 WHERE id = ?1",
            )?;
            for p in &due {
                claim.execute(params![p.id, now + claim_secs, token])?;
            }
            Ok(due)
        })
    }

    fn renew_claims(&mut self, token: i64, claim_secs: i64) -> Result<usize, StoreError> {
        let until = unix_now() + claim_secs;
        self.write("renew tagging claims", |tx| {
            tx.execute(
                "UPDATE posts SET tagging_claimed_until = ?2 WHERE tagging_claim = ?1",
                params![token, until],
            )
        })
    }

    fn record_attempts(
        &mut self,
        attempts: &[Attempt],
        rules: RetryRules,
    ) -> Result<Vec<Recorded>, StoreError> {
        let now = unix_now();
        let what = format!("record {} tagging attempt(s)", attempts.len());
        self.write(&what, |tx| {
            let mut out = Vec::with_capacity(attempts.len());
            // Prepared once per connection: a batch runs these hundreds of times.
            let mut savepoint = tx.prepare_cached("SAVEPOINT attempt")?;
            let mut release = tx.prepare_cached("RELEASE attempt")?;
            let mut rollback = tx.prepare_cached("ROLLBACK TO attempt")?;
            for a in attempts {
                savepoint.execute([])?;
                match record_one(tx, a, rules, now) {
                    Ok(r) => {
                        release.execute([])?;
                        out.push(r);
                    }
                    Err(e) => {
                        rollback.execute([])?;
                        release.execute([])?;
                        tracing::error!(post = a.post_id, error = %e, "could not record a tagging attempt; the post stays claimed until its claim expires");
                        out.push(Recorded::Error(e.to_string()));
                    }
                }
            }
            Ok(out)
        })
    }

    fn release_claims(&mut self, token: i64, ids: &[i64]) -> Result<(), StoreError> {
        self.write("release tagging claims", |tx| {
            let mut st = tx.prepare_cached(
                "UPDATE posts SET tagging_claimed_until = NULL, tagging_claim = NULL WHERE id = ?1 AND tagging_claim = ?2",
            )?;
            for id in ids {
                st.execute(params![id, token])?;
            }
            Ok(())
        })
    }

    fn channel_texts(
        &self,
        channel_id: i64,
        limit: usize,
    ) -> Result<(Vec<String>, i64), StoreError> {
        self.read("read channel texts", |c| {
            let mut st = c.prepare_cached(
                "SELECT id, text FROM posts WHERE channel_id = ?1 AND text != '' ORDER BY message_id DESC LIMIT ?2",
            )?;
            collect_texts(st.query_map(params![channel_id, limit as i64], |r| Ok((r.get(0)?, r.get(1)?)))?)
        })
    }

    fn channel_texts_after(
        &self,
        channel_id: i64,
        after: i64,
        limit: usize,
    ) -> Result<(Vec<String>, i64), StoreError> {
        self.read("read new channel texts", |c| {
            let mut st = c.prepare_cached(
                "SELECT id, text FROM posts WHERE id > ?2 AND channel_id = ?1 AND text != '' ORDER BY id LIMIT ?3",
            )?;
            let (texts, upto) = collect_texts(
                st.query_map(params![channel_id, after, limit as i64], |r| Ok((r.get(0)?, r.get(1)?)))?,
            )?;
            Ok((texts, upto.max(after)))
        })
    }

    fn channel_tag_stats(&self, channel_id: i64) -> Result<(i64, i64, i64), StoreError> {
        self.read("count a channel's tags", |c| {
            c.query_row(
                "SELECT (SELECT count(*) FROM posts WHERE channel_id = ?1),
                        (SELECT count(*) FROM posts p WHERE p.channel_id = ?1
                           AND EXISTS (SELECT 1 FROM post_tags t WHERE t.post_id = p.id)),
                        (SELECT count(DISTINCT t.tag) FROM post_tags t JOIN posts p ON p.id = t.post_id
                          WHERE p.channel_id = ?1)",
                [channel_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
        })
    }

    fn top_tags(
        &self,
        channel_id: Option<i64>,
        limit: usize,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        self.read("count tags", |c| {
            let mut st = c.prepare_cached(
                "SELECT t.tag, count(*) AS n FROM post_tags t JOIN posts p ON p.id = t.post_id
                 WHERE ?1 IS NULL OR p.channel_id = ?1
                 GROUP BY t.tag ORDER BY n DESC, t.tag LIMIT ?2",
            )?;
            st.query_map(params![channel_id, limit as i64], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?
            .collect()
        })
    }

    fn tag_stats(&self, account: Option<&str>) -> Result<TagStats, StoreError> {
        self.read("count tagging statuses", |c| {
            let mut stats = TagStats::default();
            let mut st = c.prepare(&format!(
                "SELECT p.tagging_status, count(*) FROM posts p WHERE {ACCOUNT_SCOPE} GROUP BY p.tagging_status"
            ))?;
            for row in st.query_map([account], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))? {
                let (status, n) = row?;
                stats.total += n;
                stats.by_status.insert(status, n);
            }
            stats.needing_retry = stats.by_status.get("retrying").copied().unwrap_or(0);
            stats.with_tags = c.query_row(
                &format!(
                    "SELECT count(*) FROM posts p WHERE {ACCOUNT_SCOPE} AND EXISTS (SELECT 1 FROM post_tags t WHERE t.post_id = p.id)"
                ),
                [account],
                |r| r.get(0),
            )?;
            Ok(stats)
        })
    }

    fn requeue_tagging(
        &mut self,
        account: Option<&str>,
        limit: usize,
        force: bool,
    ) -> Result<usize, StoreError> {
        self.write("re-queue posts for tagging", |tx| {
            let statuses = if force { "('retrying', 'failed')" } else { "('retrying')" };
            tx.execute(
                &format!(
                    "UPDATE posts SET tagging_status = 'pending', next_tagging_at = NULL, tagging_claimed_until = NULL,
                            tagging_claim = NULL,
                            tagging_attempts = CASE WHEN tagging_status = 'failed' THEN 0 ELSE tagging_attempts END
                     WHERE id IN (SELECT p.id FROM posts p WHERE p.tagging_status IN {statuses} AND {ACCOUNT_SCOPE}
                                  ORDER BY p.id LIMIT ?2)"
                ),
                params![account, limit as i64],
            )
        })
    }

    fn requeue_for_retag(
        &mut self,
        channel_id: Option<i64>,
        from_id: Option<i32>,
        to_id: Option<i32>,
    ) -> Result<usize, StoreError> {
        self.write("queue posts for tagging again", |tx| {
            tx.execute(
                "UPDATE posts SET tagging_status = 'pending', tagging_attempts = 0, next_tagging_at = NULL,
                        tagging_claimed_until = NULL, tagging_claim = NULL, tagging_error = NULL
                 WHERE text != '' AND (?1 IS NULL OR channel_id = ?1)
                   AND (?2 IS NULL OR message_id >= ?2) AND (?3 IS NULL OR message_id <= ?3)",
                params![channel_id, from_id, to_id],
            )
        })
    }

    fn claim_post(&mut self, post_id: i64, claim_secs: i64) -> Result<Option<DuePost>, StoreError> {
        let token = new_claim_token();
        let until = unix_now() + claim_secs;
        self.write(&format!("claim post {post_id}"), |tx| {
            let due = tx
                .query_row(
                    "SELECT id, channel_id, text, tagging_attempts FROM posts WHERE id = ?1 AND text != ''",
                    [post_id],
                    |r| Ok(DuePost { id: r.get(0)?, channel_id: r.get(1)?, text: r.get(2)?, attempts: r.get(3)?, claim: token }),
                )
                .optional()?;
            if due.is_some() {
                tx.execute(
                    "UPDATE posts SET tagging_claim = ?2, tagging_claimed_until = ?3 WHERE id = ?1",
                    params![post_id, token, until],
                )?;
            }
            Ok(due)
        })
    }

    fn post(&self, post_id: i64) -> Result<Option<PostRow>, StoreError> {
        let mut rows = self.query_posts("p.id = ?1", params![post_id], 1)?;
        Ok(rows.pop())
    }

    fn list_posts(&self, f: &PostFilter) -> Result<Vec<PostRow>, StoreError> {
        let channel_ids: Option<Vec<i64>> = match &f.channel {
            Some(c) => Some(self.find_channels(c)?.into_iter().map(|c| c.id).collect()),
            None => None,
        };
        let ids_json =
            channel_ids.map(|ids| serde_json::to_string(&ids).unwrap_or_else(|_| "[]".into()));
        self.query_posts(
            "(?1 IS NULL OR p.channel_id IN (SELECT value FROM json_each(?1)))
             AND (?2 IS NULL OR EXISTS (SELECT 1 FROM post_tags t WHERE t.post_id = p.id AND t.tag = ?2))
             AND (?3 IS NULL OR p.tagging_status = ?3)
             AND (?4 IS NULL OR p.date >= ?4)
             AND (?5 OR p.deleted_at IS NULL)
             AND (?6 IS NULL OR p.date < ?6 OR (p.date = ?6 AND p.id < ?7))",
            params![ids_json, f.tag, f.status, f.since, f.include_deleted, f.before.map(|b| b.0), f.before.map(|b| b.1)],
            f.limit.max(1),
        )
    }
}

impl Store {
    /// Posts matching `filter`, newest first, each with its tags (joined in the same statement).
    fn query_posts(
        &self,
        filter: &str,
        args: &[&dyn rusqlite::ToSql],
        limit: usize,
    ) -> Result<Vec<PostRow>, StoreError> {
        self.read("list posts", |c| {
            let sql = format!(
                "SELECT p.id, coalesce('@' || c.username, CAST(c.tg_id AS TEXT)), p.message_id, p.date, p.edit_date, p.text,
                        p.tagging_status, p.tagging_attempts, p.last_tagging_attempt, p.tagging_error, p.next_tagging_at,
                        (SELECT json_group_array(json_array(t.tag, t.score, t.source) ORDER BY t.score DESC, t.tag)
                           FROM post_tags t WHERE t.post_id = p.id),
                        p.deleted_at
                 FROM posts p JOIN channels c ON c.id = p.channel_id
                 WHERE {filter} ORDER BY p.date DESC, p.id DESC LIMIT {limit}"
            );
            let mut st = c.prepare(&sql)?;
            st.query_map(args, |r| {
                let tags = r.get_ref(11)?.as_str()?;
                Ok(PostRow {
                    id: r.get(0)?,
                    channel: r.get(1)?,
                    message_id: r.get(2)?,
                    date: r.get(3)?,
                    edit_date: r.get(4)?,
                    text: r.get(5)?,
                    tagging_status: r.get(6)?,
                    tagging_attempts: r.get(7)?,
                    last_tagging_attempt: r.get(8)?,
                    tagging_error: r.get(9)?,
                    next_tagging_at: r.get(10)?,
                    tags: serde_json::from_str(tags)
                        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(11, rusqlite::types::Type::Text, Box::new(e)))?,
                    deleted_at: r.get(12)?,
                })
            })?
            .collect()
        })
    }
}

fn collect_texts(
    rows: impl Iterator<Item = rusqlite::Result<(i64, String)>>,
) -> rusqlite::Result<(Vec<String>, i64)> {
    let mut texts = Vec::new();
    let mut upto = 0;
    for row in rows {
        let (id, text) = row?;
        upto = upto.max(id);
        texts.push(text);
    }
    Ok((texts, upto))
}

/// Applies one attempt if the post is still held under its claim; see [`Store::record_attempts`].
fn record_one(
    tx: &Transaction<'_>,
    a: &Attempt,
    rules: RetryRules,
    now: i64,
) -> rusqlite::Result<Recorded> {
    let held: Option<u32> = tx
        .prepare_cached("SELECT tagging_attempts FROM posts WHERE id = ?1 AND tagging_claim = ?2")?
        .query_row(params![a.post_id, a.claim], |r| r.get(0))
        .optional()?;
    let Some(attempts) = held else {
        return Ok(Recorded::Stale);
    };
    let attempts = attempts + 1;
    match &a.result {
        AttemptResult::Tagged { tags, source } => {
            tx.prepare_cached("DELETE FROM post_tags WHERE post_id = ?1")?
                .execute([a.post_id])?;
            let mut ins = tx.prepare_cached(
                "INSERT OR REPLACE INTO post_tags (post_id, tag, score, source) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for (tag, score) in tags {
                ins.execute(params![a.post_id, tag, score, source])?;
            }
            tx.prepare_cached(
                "UPDATE posts SET tagging_status = 'success', tagging_attempts = ?2, last_tagging_attempt = ?3,
                        tagging_error = NULL, next_tagging_at = NULL, tagging_claimed_until = NULL, tagging_claim = NULL,
                        tagged_at_ms = ?4
                 WHERE id = ?1",
            )?
            .execute(params![a.post_id, attempts, now, super::unix_ms()])?;
            Ok(Recorded::Applied("success"))
        }
        AttemptResult::Failed { error } => {
            let (status, next) = if attempts >= rules.max_attempts.max(1) {
                ("failed", None)
            } else {
                let delay = rules.base_delay_secs.max(1.0)
                    * 2f64.powi(attempts.saturating_sub(1).min(20) as i32);
                ("retrying", Some(now + delay.min(86_400.0) as i64))
            };
            tx.prepare_cached(
                "UPDATE posts SET tagging_status = ?2, tagging_attempts = ?3, last_tagging_attempt = ?4,
                        tagging_error = ?5, next_tagging_at = ?6, tagging_claimed_until = NULL, tagging_claim = NULL
                 WHERE id = ?1",
            )?
            .execute(params![a.post_id, status, attempts, now, error, next])?;
            Ok(Recorded::Applied(status))
        }
    }
}

#[cfg(test)]
mod tests {
    //! SQLite only: the query plans of claims. The behaviour is tested on both backends in
    //! `conformance::tagging`.
    use super::*;

    #[test]
    fn claims_are_served_by_indexes_without_sorting() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = Store::open(&dir.path().join("t.db")).expect("open");
        for sql in [CLAIM_RETRYING, CLAIM_PENDING] {
            let plan: Vec<String> = s
                .read("plan", |c| {
                    let mut st = c.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
                    st.query_map(params![0, 5], |r| r.get::<_, String>(3))?
                        .collect()
                })
                .expect("plan");
            assert!(
                plan.iter().any(|l| l.contains("USING INDEX"))
                    && !plan.iter().any(|l| l.contains("TEMP B-TREE")),
                "{plan:?}"
            );
        }
    }
}
