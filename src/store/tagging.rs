//! Durable tagging state per post: claiming due posts, recording each attempt, stats and re-queueing.
//!
//! Statuses: `pending` → `success` | `retrying` (due again at `next_tagging_at`, exponential delay) |
//! `failed` (attempts exhausted, error kept) | `skipped` (no text). A worker claims posts for a while
//! (`tagging_claimed_until`); a claim left by a dead worker simply expires, so the post is due again.
//! Each post's outcome is written in its own transaction: one failing post never rolls back the others.

use std::collections::BTreeMap;

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

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
    /// At most this many, newest first.
    pub limit: usize,
}

const ACCOUNT_SCOPE: &str = "(?1 IS NULL OR p.channel_id IN (SELECT c.id FROM channels c JOIN accounts a ON a.id = c.account_id WHERE a.name = ?1))";

impl Store {
    /// Claims up to `limit` due posts for `claim_secs` seconds: pending ones, and retrying ones whose
    /// time has come, whose previous claim (if any) has expired.
    pub fn claim_due(&mut self, limit: usize, claim_secs: i64) -> Result<Vec<DuePost>, StoreError> {
        let now = unix_now();
        self.write("claim posts for tagging", |tx| {
            let due: Vec<DuePost> = {
                let mut st = tx.prepare_cached(
                    "SELECT id, channel_id, text, tagging_attempts FROM posts
                     WHERE (tagging_status = 'pending' OR (tagging_status = 'retrying' AND next_tagging_at <= ?1))
                       AND (tagging_claimed_until IS NULL OR tagging_claimed_until < ?1)
                     ORDER BY coalesce(next_tagging_at, 0), id LIMIT ?2",
                )?;
                st.query_map(params![now, limit as i64], |r| {
                    Ok(DuePost { id: r.get(0)?, channel_id: r.get(1)?, text: r.get(2)?, attempts: r.get(3)? })
                })?
                .collect::<Result<_, _>>()?
            };
            let mut claim = tx.prepare_cached("UPDATE posts SET tagging_claimed_until = ?2 WHERE id = ?1")?;
            for p in &due {
                claim.execute(params![p.id, now + claim_secs])?;
            }
            Ok(due)
        })
    }

    /// Records a successful attempt: the tags replace the old ones.
    pub fn record_tags(
        &mut self,
        post_id: i64,
        tags: &[(String, f64)],
        source: &str,
    ) -> Result<(), StoreError> {
        let now = unix_now();
        self.write(&format!("store the tags of post {post_id}"), |tx| {
            tx.execute("DELETE FROM post_tags WHERE post_id = ?1", [post_id])?;
            let mut ins =
                tx.prepare_cached("INSERT OR REPLACE INTO post_tags (post_id, tag, score, source) VALUES (?1, ?2, ?3, ?4)")?;
            for (tag, score) in tags {
                ins.execute(params![post_id, tag, score, source])?;
            }
            tx.execute(
                "UPDATE posts SET tagging_status = 'success', tagging_attempts = tagging_attempts + 1,
                        last_tagging_attempt = ?2, tagging_error = NULL, next_tagging_at = NULL,
                        tagging_claimed_until = NULL
                 WHERE id = ?1",
                params![post_id, now],
            )?;
            Ok(())
        })
    }

    /// Records a failed attempt: `retrying` with an exponential due time while attempts remain, else
    /// `failed` with the error kept. Returns the new status.
    pub fn record_tag_failure(
        &mut self,
        post_id: i64,
        error: &str,
        max_attempts: u32,
        base_delay_secs: f64,
    ) -> Result<&'static str, StoreError> {
        let now = unix_now();
        self.write(&format!("record a tagging failure of post {post_id}"), |tx| {
            let attempts: u32 =
                tx.query_row("SELECT tagging_attempts FROM posts WHERE id = ?1", [post_id], |r| r.get(0))?;
            let attempts = attempts + 1;
            let (status, next) = if attempts >= max_attempts {
                ("failed", None)
            } else {
                let delay = base_delay_secs.max(1.0) * 2f64.powi(attempts.saturating_sub(1).min(20) as i32);
                ("retrying", Some(now + delay.min(86_400.0) as i64))
            };
            tx.execute(
                "UPDATE posts SET tagging_status = ?2, tagging_attempts = ?3, last_tagging_attempt = ?4,
                        tagging_error = ?5, next_tagging_at = ?6, tagging_claimed_until = NULL
                 WHERE id = ?1",
                params![post_id, status, attempts, now, error, next],
            )?;
            Ok(status)
        })
    }

    /// Releases claims (shutdown) so the posts are due again at once.
    pub fn release_claims(&mut self, ids: &[i64]) -> Result<(), StoreError> {
        self.write("release tagging claims", |tx| {
            let mut st =
                tx.prepare_cached("UPDATE posts SET tagging_claimed_until = NULL WHERE id = ?1")?;
            for id in ids {
                st.execute([id])?;
            }
            Ok(())
        })
    }

    /// Texts of a channel's newest posts (for its document frequencies).
    pub fn channel_texts(&self, channel_id: i64, limit: usize) -> Result<Vec<String>, StoreError> {
        self.read("read channel texts", |c| {
            let mut st = c.prepare_cached(
                "SELECT text FROM posts WHERE channel_id = ?1 AND text != '' ORDER BY message_id DESC LIMIT ?2",
            )?;
            st.query_map(params![channel_id, limit as i64], |r| r.get(0))?.collect()
        })
    }

    /// `tags stats`: counts per status, optionally for one account.
    pub fn tag_stats(&self, account: Option<&str>) -> Result<TagStats, StoreError> {
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

    /// `tags retry`: makes up to `limit` `retrying` (and with `force` also `failed`) posts due now.
    pub fn requeue_tagging(
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
                            tagging_attempts = CASE WHEN tagging_status = 'failed' THEN 0 ELSE tagging_attempts END
                     WHERE id IN (SELECT p.id FROM posts p WHERE p.tagging_status IN {statuses} AND {ACCOUNT_SCOPE}
                                  ORDER BY p.id LIMIT ?2)"
                ),
                params![account, limit as i64],
            )
        })
    }

    /// Makes one post due now (for `tags regenerate`); false if it does not exist or has no text.
    pub fn requeue_post(&mut self, post_id: i64) -> Result<Option<DuePost>, StoreError> {
        self.write(&format!("re-queue post {post_id}"), |tx| {
            tx.query_row(
                "SELECT id, channel_id, text, tagging_attempts FROM posts WHERE id = ?1 AND text != ''",
                [post_id],
                |r| Ok(DuePost { id: r.get(0)?, channel_id: r.get(1)?, text: r.get(2)?, attempts: r.get(3)? }),
            )
            .optional()
        })
    }

    /// One post with its tags.
    pub fn post(&self, post_id: i64) -> Result<Option<PostRow>, StoreError> {
        let mut rows = self.query_posts("p.id = ?1", params![post_id], 1)?;
        Ok(rows.pop())
    }

    /// Posts matching a filter, newest first.
    pub fn list_posts(&self, f: &PostFilter) -> Result<Vec<PostRow>, StoreError> {
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
             AND (?4 IS NULL OR p.date >= ?4)",
            params![ids_json, f.tag, f.status, f.since],
            f.limit.max(1),
        )
    }

    fn query_posts(
        &self,
        filter: &str,
        args: &[&dyn rusqlite::ToSql],
        limit: usize,
    ) -> Result<Vec<PostRow>, StoreError> {
        self.read("list posts", |c| {
            let sql = format!(
                "SELECT p.id, coalesce('@' || c.username, CAST(c.tg_id AS TEXT)), p.message_id, p.date, p.edit_date, p.text,
                        p.tagging_status, p.tagging_attempts, p.last_tagging_attempt, p.tagging_error, p.next_tagging_at
                 FROM posts p JOIN channels c ON c.id = p.channel_id
                 WHERE {filter} ORDER BY p.date DESC, p.id DESC LIMIT {limit}"
            );
            let mut st = c.prepare(&sql)?;
            let mut rows: Vec<PostRow> = st
                .query_map(args, |r| {
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
                        tags: Vec::new(),
                    })
                })?
                .collect::<Result<_, _>>()?;
            let mut tags =
                c.prepare_cached("SELECT tag, score, source FROM post_tags WHERE post_id = ?1 ORDER BY score DESC, tag")?;
            for row in &mut rows {
                row.tags = tags.query_map([row.id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?.collect::<Result<_, _>>()?;
            }
            Ok(rows)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{NewChannel, PostIn};

    fn setup(texts: &[&str]) -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut s = Store::open(&dir.path().join("t.db")).expect("open");
        let a = s
            .add_account("a", None, None, std::path::Path::new("a.session"))
            .expect("account");
        let c = NewChannel {
            tg_id: 5,
            access_hash: 7,
            username: Some("news".into()),
            title: "N".into(),
            backfill: "all".into(),
        };
        let ch = s.add_channel(a.id, &c).expect("add").expect("new");
        let posts: Vec<PostIn> = texts
            .iter()
            .enumerate()
            .map(|(i, t)| PostIn {
                message_id: i as i32 + 1,
                date: 1_700_000_000 + i as i64,
                edit_date: None,
                text: t.to_string(),
                views: None,
                forwards: None,
                grouped_id: None,
                has_media: false,
            })
            .collect();
        s.store_batch(ch.id, "@news", &posts, Some((1, texts.len() as i32)))
            .expect("posts");
        (dir, s)
    }

    #[test]
    fn statuses_go_pending_retrying_failed_with_due_times() {
        let (_d, mut s) = setup(&["one", "two", ""]);
        let due = s.claim_due(10, 60).expect("claim");
        assert_eq!(
            due.iter().map(|d| d.text.as_str()).collect::<Vec<_>>(),
            vec!["one", "two"],
            "skipped posts are never due"
        );
        assert!(
            s.claim_due(10, 60).expect("claim again").is_empty(),
            "claimed posts are not handed out twice"
        );
        s.record_tags(due[0].id, &[("news".into(), 1.0)], "embedded")
            .expect("success");
        assert_eq!(
            s.record_tag_failure(due[1].id, "boom", 3, 2.0)
                .expect("fail"),
            "retrying"
        );
        let p = s.post(due[1].id).expect("read").expect("exists");
        assert_eq!(
            (p.tagging_attempts, p.tagging_error.as_deref()),
            (1, Some("boom"))
        );
        assert!(p.next_tagging_at.expect("due later") > unix_now());
        assert!(
            s.claim_due(10, 60).expect("claim").is_empty(),
            "not due before next_tagging_at"
        );
        assert_eq!(
            s.record_tag_failure(due[1].id, "boom", 3, 2.0)
                .expect("fail"),
            "retrying"
        );
        let first_delay = p.next_tagging_at.unwrap_or(0) - p.last_tagging_attempt.unwrap_or(0);
        let p2 = s.post(due[1].id).expect("read").expect("exists");
        let second_delay = p2.next_tagging_at.unwrap_or(0) - p2.last_tagging_attempt.unwrap_or(0);
        assert_eq!((first_delay, second_delay), (2, 4), "exponential delay");
        assert_eq!(
            s.record_tag_failure(due[1].id, "boom", 3, 2.0)
                .expect("fail"),
            "failed"
        );
        let stats = s.tag_stats(None).expect("stats");
        assert_eq!(stats.total, 3);
        assert_eq!(stats.with_tags, 1);
        assert_eq!(stats.by_status.get("failed"), Some(&1));
        assert_eq!(stats.by_status.get("skipped"), Some(&1));
    }

    #[test]
    fn retry_requeues_retrying_and_force_includes_failed() {
        let (_d, mut s) = setup(&["a", "b"]);
        let due = s.claim_due(10, 60).expect("claim");
        s.record_tag_failure(due[0].id, "x", 5, 60.0)
            .expect("retrying");
        s.record_tag_failure(due[1].id, "x", 1, 60.0)
            .expect("failed");
        assert_eq!(s.requeue_tagging(None, 50, false).expect("retry"), 1);
        assert_eq!(s.requeue_tagging(None, 50, false).expect("retry"), 0);
        assert_eq!(
            s.requeue_tagging(Some("nobody"), 50, true)
                .expect("other account"),
            0
        );
        assert_eq!(s.requeue_tagging(Some("a"), 50, true).expect("force"), 1);
        assert_eq!(s.claim_due(10, 60).expect("claim").len(), 2);
    }

    #[test]
    fn an_expired_claim_makes_the_post_due_again() {
        let (_d, mut s) = setup(&["a"]);
        assert_eq!(
            s.claim_due(10, -1)
                .expect("claim with an already expired lease")
                .len(),
            1
        );
        assert_eq!(
            s.claim_due(10, 60).expect("claim").len(),
            1,
            "a dead worker's claim expires"
        );
    }
}
