//! [`WatchStore`] on SQLite: the rules are the trait's (`crate::model::watches`), the statements are
//! here.

use rusqlite::{Row, params};

use crate::model::watches::*;
use crate::{SqliteStore, StoreError};

const WATCH_COLUMNS: &str = "w.id, w.name, w.tag, w.query, w.channels, w.sink, w.every, w.account,
    w.created_at, w.last_digest_at,
    (SELECT count(*) FROM watch_hits h WHERE h.watch_id = w.id AND h.delivered_at IS NOT NULL),
    (SELECT count(*) FROM watch_hits h WHERE h.watch_id = w.id AND h.delivered_at IS NULL),
    (SELECT h.last_error FROM watch_hits h
      WHERE h.watch_id = w.id AND h.delivered_at IS NULL AND h.last_error IS NOT NULL
      ORDER BY h.next_attempt_at DESC LIMIT 1),
    (SELECT max(h.delivered_at) FROM watch_hits h WHERE h.watch_id = w.id)";

fn watch(r: &Row<'_>) -> rusqlite::Result<WatchRow> {
    let channels: Option<String> = r.get(4)?;
    Ok(WatchRow {
        id: r.get(0)?,
        name: r.get(1)?,
        tag: r.get(2)?,
        query: r.get(3)?,
        channels: channels
            .and_then(|c| serde_json::from_str(&c).ok())
            .unwrap_or_default(),
        sink: r.get(5)?,
        every: r.get(6)?,
        account: r.get(7)?,
        created_at: r.get(8)?,
        last_digest_at: r.get(9)?,
        delivered: r.get(10)?,
        pending: r.get(11)?,
        last_error: r.get(12)?,
        last_delivered_at: r.get(13)?,
    })
}

/// A post as a delivery shows it (after the watch id, post id and attempts columns).
const HIT_COLUMNS: &str = "c.title, c.username, c.tg_id, a.name, p.message_id, p.date, p.edit_date,
    p.text, (SELECT json_group_array(tag) FROM
             (SELECT tag FROM post_tags WHERE post_id = p.id ORDER BY score DESC, tag))";

fn hit(r: &Row<'_>) -> rusqlite::Result<WatchHit> {
    let tags: String = r.get(11)?;
    Ok(WatchHit {
        watch_id: r.get(0)?,
        post_id: r.get(1)?,
        attempts: r.get(2)?,
        channel_title: r.get(3)?,
        channel_username: r.get(4)?,
        channel_tg_id: r.get(5)?,
        account: r.get(6)?,
        message_id: r.get(7)?,
        date: r.get(8)?,
        edit_date: r.get(9)?,
        text: r.get(10)?,
        tags: serde_json::from_str(&tags).unwrap_or_default(),
    })
}

fn json_ids(ids: &[i64]) -> String {
    serde_json::to_string(ids).unwrap_or_else(|_| "[]".into())
}

impl WatchStore for SqliteStore {
    fn add_watch(&mut self, w: &NewWatch, now: i64) -> Result<Option<WatchRow>, StoreError> {
        let channels = (!w.channels.is_empty()).then(|| json_ids(&w.channels));
        let sql = format!("SELECT {WATCH_COLUMNS} FROM watches w WHERE w.id = ?1");
        self.write("add a watch", |tx| {
            let added = tx
                .prepare_cached(
                    "INSERT INTO watches (name, tag, query, channels, sink, every, account, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (name) DO NOTHING",
                )?
                .execute(params![
                    w.name, w.tag, w.query, channels, w.sink, w.every, w.account, now
                ])?;
            if added == 0 {
                return Ok(None);
            }
            let id = tx.last_insert_rowid();
            Ok(Some(tx.prepare(&sql)?.query_row([id], watch)?))
        })
    }

    fn watches(&self) -> Result<Vec<WatchRow>, StoreError> {
        let sql = format!("SELECT {WATCH_COLUMNS} FROM watches w ORDER BY w.name");
        self.read("list watches", |c| {
            c.prepare_cached(&sql)?.query_map([], watch)?.collect()
        })
    }

    fn remove_watch(&mut self, name: &str) -> Result<bool, StoreError> {
        self.write("remove a watch", |tx| {
            let n = tx
                .prepare_cached("DELETE FROM watches WHERE name = ?1")?
                .execute([name])?;
            // Nobody watches: nothing waits to be decided.
            tx.execute(
                "DELETE FROM watch_queue WHERE NOT EXISTS (SELECT 1 FROM watches)",
                [],
            )?;
            Ok(n == 1)
        })
    }

    fn watch_candidates(&self, now: i64, limit: usize) -> Result<Vec<WatchCandidate>, StoreError> {
        self.read("list posts the watches have to decide", |c| {
            c.prepare_cached(
                "SELECT q.post_id, q.queued_at, q.decided, p.channel_id, p.date, p.edit_date,
                        EXISTS (SELECT 1 FROM search_queue s WHERE s.post_id = q.post_id),
                        p.tagging_status IN ('success', 'failed', 'skipped'),
                        (SELECT json_group_array(tag) FROM post_tags WHERE post_id = q.post_id),
                        c.username
                 FROM watch_queue q JOIN posts p ON p.id = q.post_id
                      JOIN channels c ON c.id = p.channel_id
                 WHERE q.decided = 0 OR p.tagging_status IN ('success', 'failed', 'skipped')
                    OR q.queued_at <= ?1
                 ORDER BY q.queued_at, q.post_id LIMIT ?2",
            )?
            .query_map(
                params![
                    now - TAG_WAIT_SECS,
                    i64::try_from(limit).unwrap_or(i64::MAX)
                ],
                |r| {
                    let tags: String = r.get(8)?;
                    Ok(WatchCandidate {
                        post_id: r.get(0)?,
                        queued_at: r.get(1)?,
                        decided: r.get(2)?,
                        channel_id: r.get(3)?,
                        channel_username: r.get(9)?,
                        date: r.get(4)?,
                        edit_date: r.get(5)?,
                        unindexed: r.get(6)?,
                        tagging_done: r.get(7)?,
                        tags: serde_json::from_str(&tags).unwrap_or_default(),
                    })
                },
            )?
            .collect()
        })
    }

    fn record_watch_pass(&mut self, pass: &WatchPass, now: i64) -> Result<usize, StoreError> {
        self.write("record what the watches matched", |tx| {
            let mut new = 0;
            let mut hit = tx.prepare_cached(
                "INSERT INTO watch_hits (watch_id, post_id, matched_at, next_attempt_at)
                 SELECT ?1, ?2, ?3, ?3
                 WHERE EXISTS (SELECT 1 FROM watches WHERE id = ?1)
                   AND EXISTS (SELECT 1 FROM posts WHERE id = ?2)
                 ON CONFLICT (watch_id, post_id) DO NOTHING",
            )?;
            for (watch, post) in &pass.hits {
                new += hit.execute(params![watch, post, now])?;
            }
            let mut decided = tx.prepare_cached(
                "UPDATE watch_queue SET decided = 1 WHERE post_id = ?1 AND queued_at <= ?2",
            )?;
            for (post, queued) in &pass.decided {
                decided.execute(params![post, queued])?;
            }
            let mut done = tx
                .prepare_cached("DELETE FROM watch_queue WHERE post_id = ?1 AND queued_at <= ?2")?;
            for (post, queued) in &pass.done {
                done.execute(params![post, queued])?;
            }
            Ok(new)
        })
    }

    fn claim_watch_hits(
        &mut self,
        now: i64,
        lease: i64,
        limit: usize,
    ) -> Result<Vec<WatchHit>, StoreError> {
        let sql = format!(
            "SELECT h.watch_id, h.post_id, h.attempts, {HIT_COLUMNS}
             FROM watch_hits h JOIN watches w ON w.id = h.watch_id JOIN posts p ON p.id = h.post_id
                  JOIN channels c ON c.id = p.channel_id JOIN accounts a ON a.id = c.account_id
             WHERE h.delivered_at IS NULL AND h.next_attempt_at <= ?1
               AND (w.every IS NULL OR coalesce(w.last_digest_at, w.created_at) + w.every <= ?1)
             ORDER BY h.matched_at, h.post_id LIMIT ?2"
        );
        self.write("claim watch matches to deliver", |tx| {
            let hits: Vec<WatchHit> = tx
                .prepare_cached(&sql)?
                .query_map(params![now, i64::try_from(limit).unwrap_or(i64::MAX)], hit)?
                .collect::<rusqlite::Result<_>>()?;
            let mut claim = tx.prepare_cached(
                "UPDATE watch_hits SET next_attempt_at = ?3 WHERE watch_id = ?1 AND post_id = ?2",
            )?;
            for h in &hits {
                claim.execute(params![h.watch_id, h.post_id, now + lease])?;
            }
            Ok(hits)
        })
    }

    fn watch_delivered(
        &mut self,
        watch_id: i64,
        post_ids: &[i64],
        now: i64,
    ) -> Result<(), StoreError> {
        let ids = json_ids(post_ids);
        self.write("record a watch delivery", |tx| {
            tx.prepare_cached(
                "UPDATE watch_hits SET delivered_at = ?3, attempts = attempts + 1, last_error = NULL
                 WHERE watch_id = ?1 AND post_id IN (SELECT value FROM json_each(?2))",
            )?
            .execute(params![watch_id, ids, now])?;
            tx.prepare_cached(
                "UPDATE watches SET last_digest_at = ?2 WHERE id = ?1 AND every IS NOT NULL",
            )?
            .execute(params![watch_id, now])?;
            Ok(())
        })
    }

    fn watch_failed(
        &mut self,
        watch_id: i64,
        post_ids: &[i64],
        error: &str,
        retry_at: i64,
    ) -> Result<(), StoreError> {
        let ids = json_ids(post_ids);
        self.write("record a failed watch delivery", |tx| {
            tx.prepare_cached(
                "UPDATE watch_hits SET attempts = attempts + 1, last_error = ?3, next_attempt_at = ?4
                 WHERE watch_id = ?1 AND post_id IN (SELECT value FROM json_each(?2))
                   AND delivered_at IS NULL",
            )?
            .execute(params![watch_id, ids, error, retry_at])?;
            Ok(())
        })
    }

    fn watch_posts(&self, post_ids: &[i64]) -> Result<Vec<WatchHit>, StoreError> {
        let sql = format!(
            "SELECT 0, p.id, 0, {HIT_COLUMNS}
             FROM posts p JOIN channels c ON c.id = p.channel_id JOIN accounts a ON a.id = c.account_id
             WHERE p.id IN (SELECT value FROM json_each(?1)) ORDER BY p.id DESC"
        );
        let ids = json_ids(post_ids);
        self.read("read posts for a watch", |c| {
            c.prepare_cached(&sql)?.query_map([ids], hit)?.collect()
        })
    }

    fn recent_posts(
        &self,
        tag: Option<&str>,
        channels: &[i64],
        limit: usize,
    ) -> Result<Vec<i64>, StoreError> {
        let channels = (!channels.is_empty()).then(|| json_ids(channels));
        self.read("list a watch's recent posts", |c| {
            c.prepare_cached(
                "SELECT p.id FROM posts p
                 WHERE p.deleted_at IS NULL
                   AND (?1 IS NULL OR EXISTS (SELECT 1 FROM post_tags t
                                              WHERE t.post_id = p.id AND t.tag = ?1 COLLATE NOCASE))
                   AND (?2 IS NULL OR p.channel_id IN (SELECT value FROM json_each(?2)))
                 ORDER BY p.id DESC LIMIT ?3",
            )?
            .query_map(
                params![tag, channels, i64::try_from(limit).unwrap_or(i64::MAX)],
                |r| r.get(0),
            )?
            .collect()
        })
    }
}
