//! [`TaggingStore`] on PostgreSQL: claiming due posts, recording attempts, re-queueing, and reading
//! posts with their tags.
//!
//! Same rules as the SQLite store (`src/store/tagging.rs`). Claims lock the rows they pick with
//! `FOR UPDATE SKIP LOCKED`, so workers claiming at the same moment never get the same post. A worker
//! claims the pending posts of the accounts it holds first, and others' only once they waited 10 s
//! (each worker keeps the document frequencies of its own channels). Tagging writes are not fenced
//! by account: any worker may tag any post, and its claim token protects the outcome. A batch of attempts is first written set-based under one savepoint; should that fail, it is
//! rolled back and the attempts are written again one by one, each under its own savepoint, so one
//! failing post never takes the others with it. Tag texts are ordered byte-wise (`COLLATE "C"`), as
//! SQLite orders them.

use std::collections::HashMap;
use std::error::Error;

use bytes::BytesMut;
use deadpool_postgres::Transaction;
use tokio_postgres::Row;
use tokio_postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};

use super::PgBackend;
use super::media::media_from;
use crate::model::tag_names::{Renaming, by_key, renamings};
use crate::model::tagging::new_claim_token;
use crate::{
    Attempt, AttemptResult, ChannelStore, DuePost, PostFilter, PostRow, Recorded, RetryRules,
    StoreError, TagStats, TaggingStatus, TaggingStore, tag_name_key, unix_ms, unix_now,
};

/// The posts of account `$1` (all posts when it is NULL).
const ACCOUNT_SCOPE: &str = "($1::text IS NULL OR p.channel_id IN (SELECT c.id FROM channels c
                              JOIN accounts a ON a.id = c.account_id WHERE a.name = $1))";

/// Due `retrying` posts, earliest due first, skipping rows another claim is locking.
const CLAIM_RETRYING: &str = "SELECT id, channel_id, text, tagging_attempts FROM posts
     WHERE tagging_status = 'retrying' AND next_tagging_at <= $1
       AND (tagging_claimed_until IS NULL OR tagging_claimed_until < $1)
     ORDER BY next_tagging_at, id LIMIT $2 FOR UPDATE SKIP LOCKED";

/// `pending` posts, oldest first, skipping rows another claim is locking.
const CLAIM_PENDING: &str = "SELECT id, channel_id, text, tagging_attempts FROM posts
     WHERE tagging_status = 'pending' AND next_tagging_at IS NULL
       AND (tagging_claimed_until IS NULL OR tagging_claimed_until < $1)
     ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED";

/// The same, limited to the channels of the accounts in `$3` (a worker's own).
const CLAIM_PENDING_OWN: &str = "SELECT id, channel_id, text, tagging_attempts FROM posts
     WHERE tagging_status = 'pending' AND next_tagging_at IS NULL
       AND (tagging_claimed_until IS NULL OR tagging_claimed_until < $1)
       AND channel_id IN (SELECT id FROM channels WHERE account_id = ANY($3))
     ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED";

/// The same, of any channel, stored before `$3` (unix ms): what other workers left waiting.
const CLAIM_PENDING_WAITING: &str = "SELECT id, channel_id, text, tagging_attempts FROM posts
     WHERE tagging_status = 'pending' AND next_tagging_at IS NULL
       AND (tagging_claimed_until IS NULL OR tagging_claimed_until < $1)
       AND coalesce(stored_at_ms, 0) < $3
     ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED";

/// How long a worker leaves the pending posts of accounts it does not hold to the worker that holds
/// them, before it tags them itself.
const HELP_AFTER_MS: i64 = 10_000;

/// A post with its channel label, its tags (as parallel arrays, best first) and its media (from 15, as
/// `media_from` reads them), for [`PostRow`].
const POST_ROW: &str =
    "SELECT p.id, coalesce('@' || c.username, c.tg_id::text), p.message_id, p.date,
        p.edit_date, p.text, p.tagging_status, p.tagging_attempts, p.last_tagging_attempt,
        p.tagging_error, p.next_tagging_at, tg.tags, tg.scores, tg.sources, p.deleted_at,
        m.kind, m.mime, m.size, m.file_name, m.width, m.height, m.duration, m.file_id, m.access_hash,
        m.dc_id, m.title
 FROM posts p JOIN channels c ON c.id = p.channel_id
 LEFT JOIN post_media m ON m.post_id = p.id
 LEFT JOIN LATERAL (
     SELECT array_agg(t.tag ORDER BY t.score DESC, t.tag COLLATE \"C\") AS tags,
            array_agg(t.score ORDER BY t.score DESC, t.tag COLLATE \"C\") AS scores,
            array_agg(t.source ORDER BY t.score DESC, t.tag COLLATE \"C\") AS sources
     FROM post_tags t WHERE t.post_id = p.id) tg ON true";

/// Written as its name (a `text` parameter), so the column holds the same text it always did.
impl ToSql for TaggingStatus {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        self.as_str().to_sql(ty, out)
    }

    fn accepts(ty: &Type) -> bool {
        <&str as ToSql>::accepts(ty)
    }

    to_sql_checked!();
}

/// Read from its name; any other text is a conversion error of the row, never a panic.
impl<'a> FromSql<'a> for TaggingStatus {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn Error + Sync + Send>> {
        Ok(<&str as FromSql>::from_sql(ty, raw)?.parse()?)
    }

    fn accepts(ty: &Type) -> bool {
        <&str as FromSql>::accepts(ty)
    }
}

/// A row count or limit as a BIGINT parameter (a limit past `i64::MAX` is no limit, as on SQLite).
fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// An attempt counter stored as BIGINT, as the `u32` of [`DuePost`].
fn narrow_u32(n: i64) -> u32 {
    u32::try_from(n.max(0)).unwrap_or(u32::MAX)
}

fn due_post(r: &Row, claim: i64) -> DuePost {
    DuePost {
        id: r.get(0),
        channel_id: r.get(1),
        text: r.get(2),
        attempts: narrow_u32(r.get(3)),
        claim,
    }
}

fn post_row(r: &Row) -> Result<PostRow, tokio_postgres::Error> {
    let tags: Vec<String> = r.get::<_, Option<Vec<String>>>(11).unwrap_or_default();
    let scores: Vec<f64> = r.get::<_, Option<Vec<f64>>>(12).unwrap_or_default();
    let sources: Vec<String> = r.get::<_, Option<Vec<String>>>(13).unwrap_or_default();
    Ok(PostRow {
        id: r.get(0),
        channel: r.get(1),
        message_id: i32::try_from(r.get::<_, i64>(2)).unwrap_or(i32::MAX),
        date: r.get(3),
        edit_date: r.get(4),
        text: r.get(5),
        tagging_status: r.try_get(6)?,
        tagging_attempts: r.get(7),
        last_tagging_attempt: r.get(8),
        tagging_error: r.get(9),
        next_tagging_at: r.get(10),
        tags: tags
            .into_iter()
            .zip(scores)
            .zip(sources)
            .map(|((tag, score), source)| (tag, score, source))
            .collect(),
        deleted_at: r.get(14),
        media: media_from(r, 15),
    })
}

impl TaggingStore for PgBackend {
    fn claim_due(&mut self, limit_n: usize, claim_secs: i64) -> Result<Vec<DuePost>, StoreError> {
        let now = unix_now();
        let token = new_claim_token();
        // A worker of several tags the posts of the accounts it holds first: their channels'
        // document frequencies are the ones it keeps (a fleet has too many channels for every
        // worker to keep every table). Other posts it takes once they waited HELP_AFTER_MS.
        let held: Option<Vec<i64>> = self
            .leases
            .as_ref()
            .map(|l| l.all().iter().map(|l| l.account_id).collect());
        let waited = unix_ms() - HELP_AFTER_MS;
        self.tx("claim posts for tagging", async |tx| {
            let mut due: Vec<DuePost> = tx
                .query(CLAIM_RETRYING, &[&now, &limit(limit_n)])
                .await?
                .iter()
                .map(|r| due_post(r, token))
                .collect();
            if let Some(held) = &held {
                for (sql, with) in [
                    (CLAIM_PENDING_OWN, &held as &(dyn ToSql + Sync)),
                    (CLAIM_PENDING_WAITING, &waited),
                ] {
                    if due.len() < limit_n {
                        let rest = limit(limit_n - due.len());
                        due.extend(
                            tx.query(sql, &[&now, &rest, with])
                                .await?
                                .iter()
                                .map(|r| due_post(r, token)),
                        );
                    }
                }
            } else if due.len() < limit_n {
                let rest = limit(limit_n - due.len());
                due.extend(
                    tx.query(CLAIM_PENDING, &[&now, &rest])
                        .await?
                        .iter()
                        .map(|r| due_post(r, token)),
                );
            }
            if !due.is_empty() {
                let ids: Vec<i64> = due.iter().map(|p| p.id).collect();
                tx.execute(
                    "UPDATE posts SET tagging_claimed_until = $2, tagging_claim = $3 WHERE id = ANY($1)",
                    &[&ids, &(now + claim_secs), &token],
                )
                .await?;
            }
            Ok(due)
        })
    }

    fn renew_claims(&mut self, token: i64, claim_secs: i64) -> Result<usize, StoreError> {
        let until = unix_now() + claim_secs;
        self.tx("renew tagging claims", async |tx| {
            Ok(tx
                .execute(
                    "UPDATE posts SET tagging_claimed_until = $2 WHERE tagging_claim = $1",
                    &[&token, &until],
                )
                .await? as usize)
        })
    }

    fn record_attempts(
        &mut self,
        attempts: &[Attempt],
        rules: RetryRules,
    ) -> Result<Vec<Recorded>, StoreError> {
        let now = unix_now();
        let what = format!("record {} tagging attempt(s)", attempts.len());
        self.tx(&what, async |tx| {
            let mut ids: Vec<i64> = attempts.iter().map(|a| a.post_id).collect();
            ids.sort_unstable();
            ids.dedup();
            // The whole batch at once, when no post comes twice (later attempts of a post depend on
            // the earlier ones).
            if ids.len() == attempts.len() {
                tx.batch_execute("SAVEPOINT attempts").await?;
                match apply(tx, attempts, rules, now).await {
                    Ok(out) => {
                        tx.batch_execute("RELEASE attempts").await?;
                        return Ok(out);
                    }
                    Err(_) => {
                        tx.batch_execute("ROLLBACK TO attempts; RELEASE attempts")
                            .await?
                    }
                }
            }
            // One by one, each under its own savepoint.
            let mut out = Vec::with_capacity(attempts.len());
            for a in attempts {
                tx.batch_execute("SAVEPOINT attempt").await?;
                match apply(tx, std::slice::from_ref(a), rules, now).await {
                    Ok(mut r) => {
                        tx.batch_execute("RELEASE attempt").await?;
                        out.append(&mut r);
                    }
                    Err(e) => {
                        tx.batch_execute("ROLLBACK TO attempt; RELEASE attempt")
                            .await?;
                        let e = match e.as_db_error() {
                            Some(db) => db.to_string(),
                            None => e.to_string(),
                        };
                        tracing::error!(post = a.post_id, error = %e, "could not record a tagging attempt; the post stays claimed until its claim expires");
                        out.push(Recorded::Error(e));
                    }
                }
            }
            Ok(out)
        })
    }

    fn release_claims(&mut self, token: i64, ids: &[i64]) -> Result<(), StoreError> {
        self.tx("release tagging claims", async |tx| {
            tx.execute(
                "UPDATE posts SET tagging_claimed_until = NULL, tagging_claim = NULL
                 WHERE id = ANY($1) AND tagging_claim = $2",
                &[&ids, &token],
            )
            .await?;
            Ok(())
        })
    }

    fn channel_texts(
        &self,
        channel_id: i64,
        limit_n: usize,
    ) -> Result<(Vec<String>, i64), StoreError> {
        self.tx("read channel texts", async |tx| {
            let rows = tx
                .query(
                    "SELECT id, text FROM posts WHERE channel_id = $1 AND text != ''
                     ORDER BY message_id DESC LIMIT $2",
                    &[&channel_id, &limit(limit_n)],
                )
                .await?;
            Ok(collect_texts(&rows))
        })
    }

    fn channel_texts_after(
        &self,
        channel_id: i64,
        after: i64,
        limit_n: usize,
    ) -> Result<(Vec<String>, i64), StoreError> {
        self.tx("read new channel texts", async |tx| {
            let rows = tx
                .query(
                    "SELECT id, text FROM posts WHERE id > $2 AND channel_id = $1 AND text != ''
                     ORDER BY id LIMIT $3",
                    &[&channel_id, &after, &limit(limit_n)],
                )
                .await?;
            let (texts, upto) = collect_texts(&rows);
            Ok((texts, upto.max(after)))
        })
    }

    fn channel_tag_stats(&self, channel_id: i64) -> Result<(i64, i64, i64), StoreError> {
        self.tx("count a channel's tags", async |tx| {
            let r = tx
                .query_one(
                    "SELECT (SELECT count(*) FROM posts WHERE channel_id = $1),
                            (SELECT count(*) FROM posts p WHERE p.channel_id = $1
                               AND EXISTS (SELECT 1 FROM post_tags t WHERE t.post_id = p.id)),
                            (SELECT count(DISTINCT t.tag) FROM post_tags t JOIN posts p ON p.id = t.post_id
                              WHERE p.channel_id = $1)",
                    &[&channel_id],
                )
                .await?;
            Ok((r.get(0), r.get(1), r.get(2)))
        })
    }

    fn top_tags(
        &self,
        channel_id: Option<i64>,
        limit_n: usize,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        self.tx("count tags", async |tx| {
            Ok(tx
                .query(
                    "SELECT t.tag, count(*) AS n FROM post_tags t JOIN posts p ON p.id = t.post_id
                     WHERE $1::bigint IS NULL OR p.channel_id = $1
                     GROUP BY t.tag ORDER BY n DESC, t.tag COLLATE \"C\" LIMIT $2",
                    &[&channel_id, &limit(limit_n)],
                )
                .await?
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect())
        })
    }

    fn tag_stats(&self, account: Option<&str>) -> Result<TagStats, StoreError> {
        self.tx("count tagging statuses", async |tx| {
            let mut stats = TagStats::default();
            let rows = tx
                .query(
                    &format!(
                        "SELECT p.tagging_status, count(*) FROM posts p WHERE {ACCOUNT_SCOPE}
                         GROUP BY p.tagging_status"
                    ),
                    &[&account],
                )
                .await?;
            for r in &rows {
                let n: i64 = r.get(1);
                stats.total += n;
                stats.by_status.insert(r.get(0), n);
            }
            stats.needing_retry = stats
                .by_status
                .get(TaggingStatus::Retrying.as_str())
                .copied()
                .unwrap_or(0);
            stats.with_tags = tx
                .query_one(
                    &format!(
                        "SELECT count(*) FROM posts p WHERE {ACCOUNT_SCOPE}
                           AND EXISTS (SELECT 1 FROM post_tags t WHERE t.post_id = p.id)"
                    ),
                    &[&account],
                )
                .await?
                .get(0);
            Ok(stats)
        })
    }

    fn requeue_tagging(
        &mut self,
        account: Option<&str>,
        limit_n: usize,
        force: bool,
    ) -> Result<usize, StoreError> {
        self.tx("re-queue posts for tagging", async |tx| {
            let statuses = if force {
                "('retrying', 'failed')"
            } else {
                "('retrying')"
            };
            Ok(tx
                .execute(
                    &format!(
                        "UPDATE posts SET tagging_status = 'pending', next_tagging_at = NULL,
                                tagging_claimed_until = NULL, tagging_claim = NULL,
                                tagging_attempts = CASE WHEN tagging_status = 'failed' THEN 0
                                                        ELSE tagging_attempts END
                         WHERE id IN (SELECT p.id FROM posts p
                                      WHERE p.tagging_status IN {statuses} AND {ACCOUNT_SCOPE}
                                      ORDER BY p.id LIMIT $2)"
                    ),
                    &[&account, &limit(limit_n)],
                )
                .await? as usize)
        })
    }

    fn requeue_for_retag(
        &mut self,
        channel_id: Option<i64>,
        from_id: Option<i32>,
        to_id: Option<i32>,
    ) -> Result<usize, StoreError> {
        let (from_id, to_id) = (from_id.map(i64::from), to_id.map(i64::from));
        self.tx("queue posts for tagging again", async |tx| {
            Ok(tx
                .execute(
                    "UPDATE posts SET tagging_status = 'pending', tagging_attempts = 0,
                            next_tagging_at = NULL, tagging_claimed_until = NULL, tagging_claim = NULL,
                            tagging_error = NULL
                     WHERE text != '' AND ($1::bigint IS NULL OR channel_id = $1)
                       AND ($2::bigint IS NULL OR message_id >= $2)
                       AND ($3::bigint IS NULL OR message_id <= $3)",
                    &[&channel_id, &from_id, &to_id],
                )
                .await? as usize)
        })
    }

    fn claim_post(&mut self, post_id: i64, claim_secs: i64) -> Result<Option<DuePost>, StoreError> {
        let token = new_claim_token();
        let until = unix_now() + claim_secs;
        self.tx(&format!("claim post {post_id}"), async |tx| {
            Ok(tx
                .query_opt(
                    "UPDATE posts SET tagging_claim = $2, tagging_claimed_until = $3
                     WHERE id = $1 AND text != ''
                     RETURNING id, channel_id, text, tagging_attempts",
                    &[&post_id, &token, &until],
                )
                .await?
                .map(|r| due_post(&r, token)))
        })
    }

    fn post(&self, post_id: i64) -> Result<Option<PostRow>, StoreError> {
        let mut rows = self.posts_with_tags("p.id = $1", &[&post_id], 1)?;
        Ok(rows.pop())
    }

    fn tag_name(&self, tag: &str) -> Result<Option<String>, StoreError> {
        let key = tag_name_key(tag);
        self.tx("look up a tag's name", async |tx| {
            Ok(tx
                .query_opt("SELECT tag FROM tag_names WHERE key = $1", &[&key])
                .await?
                .map(|r| r.get(0)))
        })
    }

    fn list_posts(&self, f: &PostFilter) -> Result<Vec<PostRow>, StoreError> {
        let tag = self.tag_filter(f.tag.as_deref())?;
        let channel_ids: Option<Vec<i64>> = match &f.channel {
            Some(c) => Some(self.find_channels(c)?.into_iter().map(|c| c.id).collect()),
            None => None,
        };
        let (before_date, before_id) = (f.before.map(|b| b.0), f.before.map(|b| b.1));
        self.posts_with_tags(
            "($1::bigint[] IS NULL OR p.channel_id = ANY($1))
             AND ($2::text IS NULL OR EXISTS (SELECT 1 FROM post_tags t WHERE t.post_id = p.id AND t.tag = $2))
             AND ($3::text IS NULL OR p.tagging_status = $3)
             AND ($4::bigint IS NULL OR p.date >= $4)
             AND ($5 OR p.deleted_at IS NULL)
             AND ($6::bigint IS NULL OR p.date < $6 OR (p.date = $6 AND p.id < $7))
             AND ($8::text IS NULL OR ($8 = 'any' AND p.has_media) OR m.kind = $8)",
            &[
                &channel_ids,
                &tag,
                &f.status,
                &f.since,
                &f.include_deleted,
                &before_date,
                &before_id,
                &f.media.map(|m| m.as_str()),
            ],
            f.limit.max(1),
        )
    }
}

impl PgBackend {
    /// Posts matching `filter` (whose parameters are `args`), newest first, each with its tags.
    fn posts_with_tags(
        &self,
        filter: &str,
        args: &[&(dyn ToSql + Sync)],
        limit_n: usize,
    ) -> Result<Vec<PostRow>, StoreError> {
        let sql = format!(
            "{POST_ROW} WHERE {filter} ORDER BY p.date DESC, p.id DESC LIMIT {}",
            limit(limit_n)
        );
        self.tx("list posts", async |tx| {
            Ok(tx
                .query(&sql, args)
                .await?
                .iter()
                .map(post_row)
                .collect::<Result<_, _>>()?)
        })
    }
}

fn collect_texts(rows: &[Row]) -> (Vec<String>, i64) {
    let mut texts = Vec::with_capacity(rows.len());
    let mut upto = 0;
    for r in rows {
        upto = upto.max(r.get::<_, i64>(0));
        texts.push(r.get(1));
    }
    (texts, upto)
}

/// What one attempt does to its post, once it is known to be held under its claim.
enum Change<'a> {
    Tagged {
        attempts: i64,
        tags: &'a [(String, f64)],
        source: &'a str,
    },
    Failed {
        attempts: i64,
        status: TaggingStatus,
        error: &'a str,
        next: Option<i64>,
    },
}

/// Applies `attempts` (each post at most once) set-based: each outcome only while its post is still
/// held under the attempt's claim; see [`TaggingStore::record_attempts`].
async fn apply(
    tx: &Transaction<'_>,
    attempts: &[Attempt],
    rules: RetryRules,
    now: i64,
) -> Result<Vec<Recorded>, tokio_postgres::Error> {
    let ids: Vec<i64> = attempts.iter().map(|a| a.post_id).collect();
    let claims: Vec<i64> = attempts.iter().map(|a| a.claim).collect();
    let held: HashMap<i64, i64> = tx
        .query(
            "SELECT p.id, p.tagging_attempts FROM posts p
             JOIN unnest($1::bigint[], $2::bigint[]) AS u (id, claim)
               ON p.id = u.id AND p.tagging_claim = u.claim
             FOR UPDATE OF p",
            &[&ids, &claims],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let mut out = Vec::with_capacity(attempts.len());
    let mut changes: Vec<(i64, Change<'_>)> = Vec::new();
    for a in attempts {
        let Some(before) = held.get(&a.post_id) else {
            out.push(Recorded::Stale);
            continue;
        };
        let n = narrow_u32(*before).saturating_add(1);
        let change = match &a.result {
            AttemptResult::Tagged { tags, source } => {
                out.push(Recorded::Applied(TaggingStatus::Success));
                Change::Tagged {
                    attempts: i64::from(n),
                    tags,
                    source,
                }
            }
            AttemptResult::Failed { error } => {
                let (status, next) = if n >= rules.max_attempts.max(1) {
                    (TaggingStatus::Failed, None)
                } else {
                    let delay = rules.base_delay_secs.max(1.0)
                        * 2f64.powi(n.saturating_sub(1).min(20) as i32);
                    (
                        TaggingStatus::Retrying,
                        Some(now + delay.min(86_400.0) as i64),
                    )
                };
                out.push(Recorded::Applied(status));
                Change::Failed {
                    attempts: i64::from(n),
                    status,
                    error,
                    next,
                }
            }
        };
        changes.push((a.post_id, change));
    }

    // Tagged: the tags replace the post's tags (one per key, see `model::tag_names`) and the post
    // becomes `success`. A new key's name is the form it was first given; a known key keeps its name.
    let mut tagged: Vec<i64> = Vec::new();
    let mut tagged_attempts: Vec<i64> = Vec::new();
    // The tag rows as parallel columns (by key), and where each (post, key) is among them.
    let (mut post_ids, mut keys, mut scores, mut sources) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    // Each new key with the form it is first given in this batch.
    let mut names: Vec<(String, String)> = Vec::new();
    let mut at: HashMap<(i64, String), usize> = HashMap::new();
    for (id, change) in &changes {
        if let Change::Tagged {
            attempts,
            tags: list,
            source,
        } = change
        {
            tagged.push(*id);
            tagged_attempts.push(*attempts);
            for t in by_key(list) {
                if !names.iter().any(|(k, _)| *k == t.key) {
                    names.push((t.key.clone(), t.tag));
                }
                match at.get(&(*id, t.key.clone())) {
                    Some(i) => scores[*i] = t.score,
                    None => {
                        at.insert((*id, t.key.clone()), post_ids.len());
                        post_ids.push(*id);
                        keys.push(t.key);
                        scores.push(t.score);
                        sources.push(*source);
                    }
                }
            }
        }
    }
    if !tagged.is_empty() {
        // In key order, so two workers naming the same new keys at once never wait on each other
        // in a cycle.
        names.sort();
        let (name_keys, name_tags): (Vec<String>, Vec<String>) = names.into_iter().unzip();
        tx.execute(
            "INSERT INTO tag_names (key, tag)
             SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT (key) DO NOTHING",
            &[&name_keys, &name_tags],
        )
        .await?;
        tx.execute("DELETE FROM post_tags WHERE post_id = ANY($1)", &[&tagged])
            .await?;
        tx.execute(
            "INSERT INTO post_tags (post_id, tag, score, source)
             SELECT u.p, n.tag, u.s, u.src
             FROM unnest($1::bigint[], $2::text[], $3::float8[], $4::text[]) AS u (p, k, s, src)
             JOIN tag_names n ON n.key = u.k",
            &[&post_ids, &keys, &scores, &sources],
        )
        .await?;
        tx.execute(
            "UPDATE posts SET tagging_status = 'success', tagging_attempts = u.n,
                    last_tagging_attempt = $3, tagging_error = NULL, next_tagging_at = NULL,
                    tagging_claimed_until = NULL, tagging_claim = NULL, tagged_at_ms = $4
             FROM unnest($1::bigint[], $2::bigint[]) AS u (id, n) WHERE posts.id = u.id",
            &[&tagged, &tagged_attempts, &now, &unix_ms()],
        )
        .await?;
    }

    // Failed: `retrying` with a due time while attempts remain, else `failed`; the error is kept.
    let mut failed: Vec<i64> = Vec::new();
    let mut failed_attempts: Vec<i64> = Vec::new();
    let mut statuses: Vec<TaggingStatus> = Vec::new();
    let mut errors: Vec<&str> = Vec::new();
    let mut nexts: Vec<Option<i64>> = Vec::new();
    for (id, change) in &changes {
        if let Change::Failed {
            attempts,
            status,
            error,
            next,
        } = change
        {
            failed.push(*id);
            failed_attempts.push(*attempts);
            statuses.push(*status);
            errors.push(*error);
            nexts.push(*next);
        }
    }
    if !failed.is_empty() {
        tx.execute(
            "UPDATE posts SET tagging_status = u.s, tagging_attempts = u.n, last_tagging_attempt = $6,
                    tagging_error = u.e, next_tagging_at = u.x, tagging_claimed_until = NULL,
                    tagging_claim = NULL
             FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::text[], $5::bigint[])
                  AS u (id, s, n, e, x)
             WHERE posts.id = u.id",
            &[&failed, &statuses, &failed_attempts, &errors, &nexts, &now],
        )
        .await?;
    }
    Ok(out)
}

/// Names the tags stored before `tag_names` existed, as SQLite's migration 18 does, once:
/// `PgStore::open` runs it after the migrations, under the migration lock, while `tag_names` is
/// empty and `post_tags` is not (so an open interrupted half-way names them the next time).
pub(crate) async fn name_tags_once(
    client: &mut tokio_postgres::Client,
) -> Result<bool, tokio_postgres::Error> {
    let tx = client.transaction().await?;
    let pending: bool = tx
        .query_one(
            "SELECT NOT EXISTS (SELECT 1 FROM tag_names) AND EXISTS (SELECT 1 FROM post_tags)",
            &[],
        )
        .await?
        .get(0);
    if pending {
        name_stored_tags(&tx).await?;
        tx.commit().await?;
    }
    Ok(pending)
}

/// Gives every stored tag its one name ([`renamings`]; `sqlite::tagging::name_stored_tags` is the
/// same on SQLite): the rows of its other forms are renamed, or dropped where the post already has
/// the name, and new names are recorded in `tag_names`. Posts and their ids are not touched. Run
/// after migration V8 and after `db copy`, which copies the tags but not their names.
pub(crate) async fn name_stored_tags(
    tx: &tokio_postgres::Transaction<'_>,
) -> Result<(), tokio_postgres::Error> {
    let forms: Vec<(String, i64)> = tx
        .query("SELECT tag, count(*) FROM post_tags GROUP BY tag", &[])
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let names: std::collections::BTreeMap<String, String> = tx
        .query("SELECT key, tag FROM tag_names", &[])
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let drop_twins = tx
        .prepare(
            "DELETE FROM post_tags WHERE tag = $2
               AND post_id IN (SELECT post_id FROM post_tags WHERE tag = $1)",
        )
        .await?;
    let rename = tx
        .prepare("UPDATE post_tags SET tag = $1 WHERE tag = $2")
        .await?;
    let (mut new_keys, mut new_tags) = (Vec::new(), Vec::new());
    for Renaming {
        key,
        tag,
        new,
        others,
    } in renamings(forms, &names)
    {
        for other in &others {
            tx.execute(&drop_twins, &[&tag, other]).await?;
            tx.execute(&rename, &[&tag, other]).await?;
        }
        if new {
            new_keys.push(key);
            new_tags.push(tag);
        }
    }
    tx.execute(
        "INSERT INTO tag_names (key, tag) SELECT * FROM unnest($1::text[], $2::text[])
         ON CONFLICT (key) DO NOTHING",
        &[&new_keys, &new_tags],
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    //! PostgreSQL only: a status as a parameter and as a column. The behaviour is tested on both
    //! backends in `conformance::tagging`.
    use std::time::Duration;

    use super::*;
    use crate::testing::postgres::fresh_config;

    #[tokio::test]
    async fn a_status_is_sent_as_its_name_and_an_unknown_name_reads_as_an_error() {
        let Some(config) = fresh_config("tagging_status_sql").await else {
            return;
        };
        let (client, connection) = tokio::time::timeout(
            Duration::from_secs(30),
            config.connect(tokio_postgres::NoTls),
        )
        .await
        .expect("connected in time")
        .expect("connect");
        let driver = tokio::spawn(connection);
        for status in TaggingStatus::ALL {
            let row = client
                .query_one("SELECT $1::text, $1::text", &[&status])
                .await
                .expect("round trip");
            let (text, back): (&str, TaggingStatus) = (row.get(0), row.get(1));
            assert_eq!((text, back), (status.as_str(), status));
        }
        // As the arrays of the set-based writes (`unnest($n::text[])`).
        let row = client
            .query_one(
                "SELECT array_to_string($1::text[], ',')",
                &[&TaggingStatus::ALL.to_vec()],
            )
            .await
            .expect("array");
        assert_eq!(
            row.get::<_, &str>(0),
            "pending,retrying,success,failed,skipped"
        );
        let row = client
            .query_one("SELECT 'done'::text, 7::bigint", &[])
            .await
            .expect("select");
        let err = row
            .try_get::<_, TaggingStatus>(0)
            .expect_err("not a status");
        assert!(format!("{err:?}").contains(r#""done""#), "{err:?}");
        assert!(row.try_get::<_, TaggingStatus>(1).is_err(), "not text");
        drop(client);
        let _ = driver.await;
    }
}
