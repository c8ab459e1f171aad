//! [`WatchStore`] on PostgreSQL: the rules are the trait's (`crate::model::watches`), the statements
//! are here. Claims take `FOR UPDATE SKIP LOCKED`, so workers sharing the database deliver each
//! match once.

use tokio_postgres::Row;

use super::PgBackend;
use super::channels::narrow;
use crate::StoreError;
use crate::model::watches::*;

const WATCH_COLUMNS: &str = "w.id, w.name, w.tag, w.query, w.channels, w.sink, w.every, w.account,
    w.created_at, w.last_digest_at,
    (SELECT count(*) FROM watch_hits h WHERE h.watch_id = w.id AND h.delivered_at IS NOT NULL),
    (SELECT count(*) FROM watch_hits h WHERE h.watch_id = w.id AND h.delivered_at IS NULL),
    (SELECT h.last_error FROM watch_hits h
      WHERE h.watch_id = w.id AND h.delivered_at IS NULL AND h.last_error IS NOT NULL
      ORDER BY h.next_attempt_at DESC LIMIT 1),
    (SELECT max(h.delivered_at) FROM watch_hits h WHERE h.watch_id = w.id)";

fn watch(r: &Row) -> WatchRow {
    let channels: Option<String> = r.get(4);
    WatchRow {
        id: r.get(0),
        name: r.get(1),
        tag: r.get(2),
        query: r.get(3),
        channels: channels
            .and_then(|c| serde_json::from_str(&c).ok())
            .unwrap_or_default(),
        sink: r.get(5),
        every: r.get(6),
        account: r.get(7),
        created_at: r.get(8),
        last_digest_at: r.get(9),
        delivered: r.get(10),
        pending: r.get(11),
        last_error: r.get(12),
        last_delivered_at: r.get(13),
    }
}

/// A post as a delivery shows it (after the watch id, post id and attempts columns).
const HIT_COLUMNS: &str = "c.title, c.username, c.tg_id, a.name, p.message_id, p.date, p.edit_date,
    p.text, coalesce((SELECT array_agg(t.tag ORDER BY t.score DESC, t.tag)
                      FROM post_tags t WHERE t.post_id = p.id), '{}')";

fn hit(r: &Row) -> WatchHit {
    WatchHit {
        watch_id: r.get(0),
        post_id: r.get(1),
        attempts: r.get(2),
        channel_title: r.get(3),
        channel_username: r.get(4),
        channel_tg_id: r.get(5),
        account: r.get(6),
        message_id: narrow(r.get(7)),
        date: r.get(8),
        edit_date: r.get(9),
        text: r.get(10),
        tags: r.get(11),
    }
}

fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl WatchStore for PgBackend {
    fn add_watch(&mut self, w: &NewWatch, now: i64) -> Result<Option<WatchRow>, StoreError> {
        let channels = (!w.channels.is_empty())
            .then(|| serde_json::to_string(&w.channels).unwrap_or_else(|_| "[]".into()));
        let sql = format!("SELECT {WATCH_COLUMNS} FROM watches w WHERE w.id = $1");
        self.tx("add a watch", async |tx| {
            let Some(id) = tx
                .query_opt(
                    "INSERT INTO watches (name, tag, query, channels, sink, every, account, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (name) DO NOTHING
                     RETURNING id",
                    &[
                        &w.name, &w.tag, &w.query, &channels, &w.sink, &w.every, &w.account, &now,
                    ],
                )
                .await?
                .map(|r| r.get::<_, i64>(0))
            else {
                return Ok(None);
            };
            Ok(Some(watch(&tx.query_one(&sql, &[&id]).await?)))
        })
    }

    fn watches(&self) -> Result<Vec<WatchRow>, StoreError> {
        let sql = format!("SELECT {WATCH_COLUMNS} FROM watches w ORDER BY w.name");
        self.tx("list watches", async |tx| {
            Ok(tx.query(&sql, &[]).await?.iter().map(watch).collect())
        })
    }

    fn remove_watch(&mut self, name: &str) -> Result<bool, StoreError> {
        self.tx("remove a watch", async |tx| {
            let n = tx
                .execute("DELETE FROM watches WHERE name = $1", &[&name])
                .await?;
            tx.execute(
                "DELETE FROM watch_queue WHERE NOT EXISTS (SELECT 1 FROM watches)",
                &[],
            )
            .await?;
            Ok(n == 1)
        })
    }

    fn watch_candidates(&self, now: i64, n: usize) -> Result<Vec<WatchCandidate>, StoreError> {
        self.tx("list posts the watches have to decide", async |tx| {
            Ok(tx
                .query(
                    "SELECT q.post_id, q.queued_at, q.decided, p.channel_id, p.date, p.edit_date,
                            p.search_vector IS NULL AND p.text <> '',
                            p.tagging_status IN ('success', 'failed', 'skipped'),
                            coalesce((SELECT array_agg(t.tag) FROM post_tags t
                                      WHERE t.post_id = q.post_id), '{}'),
                            c.username
                     FROM watch_queue q JOIN posts p ON p.id = q.post_id
                          JOIN channels c ON c.id = p.channel_id
                     WHERE NOT q.decided OR p.tagging_status IN ('success', 'failed', 'skipped')
                        OR q.queued_at <= $1
                     ORDER BY q.queued_at, q.post_id LIMIT $2",
                    &[&(now - TAG_WAIT_SECS), &limit(n)],
                )
                .await?
                .iter()
                .map(|r| WatchCandidate {
                    post_id: r.get(0),
                    queued_at: r.get(1),
                    decided: r.get(2),
                    channel_id: r.get(3),
                    channel_username: r.get(9),
                    date: r.get(4),
                    edit_date: r.get(5),
                    unindexed: r.get(6),
                    tagging_done: r.get(7),
                    tags: r.get(8),
                })
                .collect())
        })
    }

    fn record_watch_pass(&mut self, pass: &WatchPass, now: i64) -> Result<usize, StoreError> {
        let (watches, posts): (Vec<i64>, Vec<i64>) = pass.hits.iter().copied().unzip();
        let (decided, decided_at): (Vec<i64>, Vec<i64>) = pass.decided.iter().copied().unzip();
        let (done, done_at): (Vec<i64>, Vec<i64>) = pass.done.iter().copied().unzip();
        self.tx("record what the watches matched", async |tx| {
            let new = tx
                .execute(
                    "INSERT INTO watch_hits (watch_id, post_id, matched_at, next_attempt_at)
                     SELECT u.w, u.p, $3, $3 FROM unnest($1::bigint[], $2::bigint[]) AS u (w, p)
                     WHERE EXISTS (SELECT 1 FROM watches WHERE id = u.w)
                       AND EXISTS (SELECT 1 FROM posts WHERE id = u.p)
                     ON CONFLICT (watch_id, post_id) DO NOTHING",
                    &[&watches, &posts, &now],
                )
                .await?;
            tx.execute(
                "UPDATE watch_queue q SET decided = true
                 FROM unnest($1::bigint[], $2::bigint[]) AS u (p, t)
                 WHERE q.post_id = u.p AND q.queued_at <= u.t",
                &[&decided, &decided_at],
            )
            .await?;
            tx.execute(
                "DELETE FROM watch_queue q USING unnest($1::bigint[], $2::bigint[]) AS u (p, t)
                 WHERE q.post_id = u.p AND q.queued_at <= u.t",
                &[&done, &done_at],
            )
            .await?;
            Ok(usize::try_from(new).unwrap_or(usize::MAX))
        })
    }

    fn claim_watch_hits(
        &mut self,
        now: i64,
        lease: i64,
        n: usize,
    ) -> Result<Vec<WatchHit>, StoreError> {
        let sql = format!(
            "WITH due AS (
                 SELECT h.watch_id, h.post_id FROM watch_hits h JOIN watches w ON w.id = h.watch_id
                 WHERE h.delivered_at IS NULL AND h.next_attempt_at <= $1
                   AND (w.every IS NULL OR coalesce(w.last_digest_at, w.created_at) + w.every <= $1)
                 ORDER BY h.matched_at, h.post_id LIMIT $2
                 FOR UPDATE OF h SKIP LOCKED),
             claimed AS (
                 UPDATE watch_hits h SET next_attempt_at = $3 FROM due
                 WHERE h.watch_id = due.watch_id AND h.post_id = due.post_id
                 RETURNING h.watch_id, h.post_id, h.attempts, h.matched_at)
             SELECT h.watch_id, h.post_id, h.attempts, {HIT_COLUMNS}
             FROM claimed h JOIN posts p ON p.id = h.post_id
                  JOIN channels c ON c.id = p.channel_id JOIN accounts a ON a.id = c.account_id
             ORDER BY h.matched_at, h.post_id"
        );
        self.tx("claim watch matches to deliver", async |tx| {
            Ok(tx
                .query(&sql, &[&now, &limit(n), &(now + lease)])
                .await?
                .iter()
                .map(hit)
                .collect())
        })
    }

    fn watch_delivered(
        &mut self,
        watch_id: i64,
        post_ids: &[i64],
        now: i64,
    ) -> Result<(), StoreError> {
        self.tx("record a watch delivery", async |tx| {
            tx.execute(
                "UPDATE watch_hits SET delivered_at = $3, attempts = attempts + 1, last_error = NULL
                 WHERE watch_id = $1 AND post_id = ANY($2)",
                &[&watch_id, &post_ids, &now],
            )
            .await?;
            tx.execute(
                "UPDATE watches SET last_digest_at = $2 WHERE id = $1 AND every IS NOT NULL",
                &[&watch_id, &now],
            )
            .await?;
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
        self.tx("record a failed watch delivery", async |tx| {
            tx.execute(
                "UPDATE watch_hits SET attempts = attempts + 1, last_error = $3, next_attempt_at = $4
                 WHERE watch_id = $1 AND post_id = ANY($2) AND delivered_at IS NULL",
                &[&watch_id, &post_ids, &error, &retry_at],
            )
            .await?;
            Ok(())
        })
    }

    fn watch_posts(&self, post_ids: &[i64]) -> Result<Vec<WatchHit>, StoreError> {
        let sql = format!(
            "SELECT 0::bigint, p.id, 0::bigint, {HIT_COLUMNS}
             FROM posts p JOIN channels c ON c.id = p.channel_id JOIN accounts a ON a.id = c.account_id
             WHERE p.id = ANY($1) ORDER BY p.id DESC"
        );
        self.tx("read posts for a watch", async |tx| {
            Ok(tx
                .query(&sql, &[&post_ids])
                .await?
                .iter()
                .map(hit)
                .collect())
        })
    }

    fn recent_posts(
        &self,
        tag: Option<&str>,
        channels: &[i64],
        n: usize,
    ) -> Result<Vec<i64>, StoreError> {
        let channels = (!channels.is_empty()).then_some(channels);
        self.tx("list a watch's recent posts", async |tx| {
            Ok(tx
                .query(
                    "SELECT p.id FROM posts p
                     WHERE p.deleted_at IS NULL
                       AND ($1::text IS NULL OR EXISTS (SELECT 1 FROM post_tags t
                                    WHERE t.post_id = p.id AND lower(t.tag) = lower($1)))
                       AND ($2::bigint[] IS NULL OR p.channel_id = ANY($2))
                     ORDER BY p.id DESC LIMIT $3",
                    &[&tag, &channels, &limit(n)],
                )
                .await?
                .iter()
                .map(|r| r.get(0))
                .collect())
        })
    }
}
