//! [`TaggingStore`](crate::TaggingStore) on SQLite: the rules are the trait's (`crate::model::tagging`), the SQL is here.

use std::collections::BTreeMap;

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use rusqlite::{OptionalExtension, Transaction, params};

use super::media::{MEDIA_COLUMNS, media_from};
use crate::model::tag_names::{Renaming, by_key, renamings};
use crate::model::tagging::*;
use crate::prelude::*;
use crate::{SqliteStore, StoreError, tag_name_key, unix_now};

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

/// Written as its name, so the column holds the same text it always did.
impl ToSql for TaggingStatus {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

/// Read from its name; any other text is a conversion error of the row, never a panic.
impl FromSql for TaggingStatus {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        value
            .as_str()?
            .parse()
            .map_err(|e| FromSqlError::Other(Box::new(e)))
    }
}

impl TaggingStore for SqliteStore {
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
            stats.needing_retry = stats.by_status.get(TaggingStatus::Retrying.as_str()).copied().unwrap_or(0);
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

    fn tag_name(&self, tag: &str) -> Result<Option<String>, StoreError> {
        self.read("look up a tag's name", |c| {
            c.prepare_cached("SELECT tag FROM tag_names WHERE key = ?1")?
                .query_row([tag_name_key(tag)], |r| r.get(0))
                .optional()
        })
    }

    fn list_posts(&self, f: &PostFilter) -> Result<Vec<PostRow>, StoreError> {
        let tag = self.tag_filter(f.tag.as_deref())?;
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
             AND (?6 IS NULL OR p.date < ?6 OR (p.date = ?6 AND p.id < ?7))
             AND (?8 IS NULL OR (?8 = 'any' AND p.has_media) OR m.kind = ?8)",
            params![ids_json, tag, f.status, f.since, f.include_deleted, f.before.map(|b| b.0), f.before.map(|b| b.1),
                    f.media.map(|m| m.as_str())],
            f.limit.max(1),
        )
    }
}

impl SqliteStore {
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
                        p.deleted_at, {MEDIA_COLUMNS}
                 FROM posts p JOIN channels c ON c.id = p.channel_id
                      LEFT JOIN post_media m ON m.post_id = p.id
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
                    media: media_from(r, 13)?,
                })
            })?
            .collect()
        })
    }
}

/// Migration 18 (see its file): gives every stored tag its one name ([`renamings`]): the rows of
/// its other forms are renamed, or dropped where the post already has the name, and the names are
/// recorded in `tag_names`. Posts and their ids are not touched.
pub(crate) fn name_stored_tags(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    let forms: Vec<(String, i64)> = tx
        .prepare("SELECT tag, count(*) FROM post_tags GROUP BY tag")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let names: BTreeMap<String, String> = tx
        .prepare("SELECT key, tag FROM tag_names")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut name = tx.prepare("INSERT INTO tag_names (key, tag) VALUES (?1, ?2)")?;
    let mut drop_twins = tx.prepare(
        "DELETE FROM post_tags WHERE tag = ?2
           AND post_id IN (SELECT post_id FROM post_tags WHERE tag = ?1)",
    )?;
    let mut rename = tx.prepare("UPDATE post_tags SET tag = ?1 WHERE tag = ?2")?;
    for Renaming {
        key,
        tag,
        new,
        others,
    } in renamings(forms, &names)
    {
        for other in &others {
            drop_twins.execute(params![tag, other])?;
            rename.execute(params![tag, other])?;
        }
        if new {
            name.execute(params![key, tag])?;
        }
    }
    Ok(())
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

/// Applies one attempt if the post is still held under its claim; see [`SqliteStore::record_attempts`].
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
            // A new key's name is the form given now; a known key's name stays what it is.
            let mut name = tx.prepare_cached(
                "INSERT INTO tag_names (key, tag) VALUES (?1, ?2) ON CONFLICT (key) DO NOTHING",
            )?;
            let mut ins = tx.prepare_cached(
                "INSERT OR REPLACE INTO post_tags (post_id, tag, score, source)
                 SELECT ?1, n.tag, ?3, ?4 FROM tag_names n WHERE n.key = ?2",
            )?;
            for t in by_key(tags) {
                name.execute(params![t.key, t.tag])?;
                ins.execute(params![a.post_id, t.key, t.score, source])?;
            }
            tx.prepare_cached(
                "UPDATE posts SET tagging_status = 'success', tagging_attempts = ?2, last_tagging_attempt = ?3,
                        tagging_error = NULL, next_tagging_at = NULL, tagging_claimed_until = NULL, tagging_claim = NULL,
                        tagged_at_ms = ?4
                 WHERE id = ?1",
            )?
            .execute(params![a.post_id, attempts, now, crate::unix_ms()])?;
            Ok(Recorded::Applied(TaggingStatus::Success))
        }
        AttemptResult::Failed { error } => {
            let (status, next) = if attempts >= rules.max_attempts.max(1) {
                (TaggingStatus::Failed, None)
            } else {
                let delay = rules.base_delay_secs.max(1.0)
                    * 2f64.powi(attempts.saturating_sub(1).min(20) as i32);
                (
                    TaggingStatus::Retrying,
                    Some(now + delay.min(86_400.0) as i64),
                )
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
    fn a_status_is_stored_as_its_name_and_an_unknown_name_reads_as_an_error() {
        let c = rusqlite::Connection::open_in_memory().expect("memory");
        for status in TaggingStatus::ALL {
            let (text, back): (String, TaggingStatus) = c
                .query_row("SELECT ?1, ?1", [status], |r| Ok((r.get(0)?, r.get(1)?)))
                .expect("round trip");
            assert_eq!((text.as_str(), back), (status.as_str(), status));
        }
        let err = c
            .query_row("SELECT 'done'", [], |r| r.get::<_, TaggingStatus>(0))
            .expect_err("not a status");
        assert!(
            matches!(err, rusqlite::Error::FromSqlConversionFailure(0, _, _))
                && err.to_string().contains(r#""done""#),
            "{err}"
        );
        let err = c
            .query_row("SELECT 7", [], |r| r.get::<_, TaggingStatus>(0))
            .expect_err("not text");
        assert!(
            matches!(err, rusqlite::Error::InvalidColumnType(0, _, _)),
            "{err}"
        );
    }

    #[test]
    fn claims_are_served_by_indexes_without_sorting() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = SqliteStore::open(&dir.path().join("t.db")).expect("open");
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
