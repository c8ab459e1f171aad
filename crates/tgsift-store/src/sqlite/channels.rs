//! [`ChannelStore`](crate::ChannelStore) on SQLite: the rules are the trait's (`crate::model::channels`), the SQL is here.

use rusqlite::{OptionalExtension, Row, Transaction, params};

use super::media::write_media;
use crate::model::channels::*;
use crate::{SqliteStore, StoreError, TaggingStatus, unix_ms, unix_now};

const COLUMNS: &str = "c.id, c.account_id, a.name, c.tg_id, c.access_hash, c.username, c.title, c.active, \
                       c.backfill, c.last_message_id, c.flood_until, c.last_fetch_at, c.last_error, c.failures, c.left_at";

fn row(r: &Row<'_>) -> rusqlite::Result<ChannelRow> {
    Ok(ChannelRow {
        id: r.get(0)?,
        account_id: r.get(1)?,
        account: r.get(2)?,
        tg_id: r.get(3)?,
        access_hash: r.get::<_, Option<i64>>(4)?.unwrap_or_default(),
        username: r.get(5)?,
        title: r.get(6)?,
        active: r.get(7)?,
        backfill: r.get(8)?,
        last_message_id: r.get(9)?,
        flood_until: r.get(10)?,
        last_fetch_at: r.get(11)?,
        last_error: r.get(12)?,
        failures: r.get(13)?,
        left_at: r.get(14)?,
    })
}

impl ChannelStore for SqliteStore {
    fn add_channel(
        &mut self,
        account_id: i64,
        c: &NewChannel,
    ) -> Result<Option<ChannelRow>, StoreError> {
        let id = self.write(&format!("add channel {}", c.title), |tx| {
            let n = tx.execute(
                "INSERT INTO channels (account_id, tg_id, access_hash, username, title, backfill, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (account_id, tg_id) DO NOTHING",
                params![account_id, c.tg_id, c.access_hash, c.username, c.title, c.backfill, unix_now()],
            )?;
            Ok((n > 0).then(|| tx.last_insert_rowid()))
        })?;
        match id {
            Some(id) => self.channel(id),
            None => Ok(None),
        }
    }

    fn channel(&self, id: i64) -> Result<Option<ChannelRow>, StoreError> {
        self.read("read channel", |c| {
            c.query_row(
                &format!("SELECT {COLUMNS} FROM channels c JOIN accounts a ON a.id = c.account_id WHERE c.id = ?1"),
                [id],
                row,
            )
            .optional()
        })
    }

    fn channels(&self) -> Result<Vec<ChannelRow>, StoreError> {
        self.read("list channels", |c| {
            let mut st = c.prepare(&format!(
                "SELECT {COLUMNS} FROM channels c JOIN accounts a ON a.id = c.account_id ORDER BY a.name, c.id"
            ))?;
            st.query_map([], row)?.collect()
        })
    }

    fn account_channels(&self, account_id: i64) -> Result<Vec<ChannelRow>, StoreError> {
        self.read("list an account's channels", |c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM channels c JOIN accounts a ON a.id = c.account_id
                 WHERE c.account_id = ?1 ORDER BY c.id"
            ))?;
            st.query_map([account_id], row)?.collect()
        })
    }

    fn accounts_with_active_channels(&self) -> Result<std::collections::HashSet<i64>, StoreError> {
        self.read("list accounts with active channels", |c| {
            let mut st =
                c.prepare_cached("SELECT DISTINCT account_id FROM channels WHERE active")?;
            st.query_map([], |r| r.get(0))?.collect()
        })
    }

    fn channel_post_count(&self, channel_id: i64) -> Result<i64, StoreError> {
        self.read("count a channel's posts", |c| {
            c.query_row(
                "SELECT count(*) FROM posts WHERE channel_id = ?1",
                [channel_id],
                |r| r.get(0),
            )
        })
    }

    fn post_counts(&self) -> Result<std::collections::HashMap<i64, i64>, StoreError> {
        self.read("count posts", |c| {
            let mut st = c.prepare("SELECT channel_id, count(*) FROM posts GROUP BY channel_id")?;
            st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect()
        })
    }

    fn set_channel_active(&mut self, id: i64, active: bool) -> Result<(), StoreError> {
        self.write("change channel state", |tx| {
            if active {
                tx.execute(
                    "UPDATE channels SET active = 1, last_error = NULL, flood_until = NULL, parked_at = NULL, failures = 0 WHERE id = ?1",
                    [id],
                )
            } else {
                tx.execute("UPDATE channels SET active = 0 WHERE id = ?1", [id])
            }
            .map(|_| ())
        })
    }

    fn remove_channel(&mut self, id: i64) -> Result<(), StoreError> {
        self.write("remove channel", |tx| {
            tx.execute("DELETE FROM channels WHERE id = ?1", [id])
                .map(|_| ())
        })
    }

    fn park_channel(&mut self, id: i64, until: i64, why: &str) -> Result<(), StoreError> {
        self.write("park channel", |tx| {
            tx.execute(
                "UPDATE channels SET flood_until = ?2, last_error = ?3, failures = failures + 1,
                        parked_at = CASE WHEN flood_until > ?4 THEN coalesce(parked_at, ?4) ELSE ?4 END
                 WHERE id = ?1",
                params![id, until, why, unix_now()],
            )
            .map(|_| ())
        })
    }

    fn fail_channel(&mut self, id: i64, error: &str, permanent: bool) -> Result<(), StoreError> {
        self.write("record channel error", |tx| {
            tx.execute(
                "UPDATE channels SET last_error = ?2, active = CASE WHEN ?3 THEN 0 ELSE active END,
                        failures = failures + 1 WHERE id = ?1",
                params![id, error, permanent],
            )
            .map(|_| ())
        })
    }

    fn set_channel_left(&mut self, id: i64, left: bool) -> Result<bool, StoreError> {
        self.write("record whether the account left a channel", |tx| {
            let n = if left {
                tx.execute(
                    "UPDATE channels SET left_at = ?2 WHERE id = ?1 AND left_at IS NULL",
                    params![id, unix_now()],
                )?
            } else {
                tx.execute(
                    "UPDATE channels SET left_at = NULL WHERE id = ?1 AND left_at IS NOT NULL",
                    [id],
                )?
            };
            Ok(n > 0)
        })
    }

    fn touch_channel(&mut self, id: i64) -> Result<(), StoreError> {
        self.write("record fetch time", |tx| {
            tx.execute(
                "UPDATE channels SET last_fetch_at = ?2, last_error = NULL, flood_until = NULL, parked_at = NULL, failures = 0 WHERE id = ?1",
                params![id, unix_now()],
            )
            .map(|_| ())
        })
    }

    fn store_batch(
        &mut self,
        channel_id: i64,
        label: &str,
        posts: &[PostIn],
        range: Option<(i32, i32)>,
    ) -> Result<BatchOutcome, StoreError> {
        let what = format!("store {} posts of {label}", posts.len());
        let (now, now_ms) = (unix_now(), unix_ms());
        self.write(&what, |tx| {
            write_page(tx, channel_id, posts, range.map(|r| (r, None)), now, now_ms)
        })
    }

    fn store_batches(
        &mut self,
        channel_id: i64,
        label: &str,
        pages: &[FetchedPage],
    ) -> Result<Vec<BatchOutcome>, StoreError> {
        let n: usize = pages.iter().map(|p| p.posts.len()).sum();
        let what = format!("store {n} posts of {label} ({} pages)", pages.len());
        let (now, now_ms) = (unix_now(), unix_ms());
        self.write(&what, |tx| {
            pages
                .iter()
                .map(|p| {
                    let range = Some((p.range, Some(p.answered)));
                    write_page(tx, channel_id, &p.posts, range, now, now_ms)
                })
                .collect()
        })
    }

    fn visible_ids_between(
        &self,
        channel_id: i64,
        from: i32,
        to: i32,
    ) -> Result<Vec<i32>, StoreError> {
        self.read("list a window's visible ids", |c| {
            let mut st = c.prepare_cached(
                "SELECT message_id FROM posts WHERE channel_id = ?1 AND message_id BETWEEN ?2 AND ?3
                   AND deleted_at IS NULL AND hidden_at IS NULL ORDER BY message_id",
            )?;
            st.query_map(params![channel_id, from, to], |r| r.get(0))?
                .collect()
        })
    }

    fn mark_hidden(&mut self, channel_id: i64, ids: &[i32]) -> Result<usize, StoreError> {
        let now = unix_now();
        self.write("mark posts hidden", |tx| {
            let mut mark = tx.prepare_cached(
                "UPDATE posts SET hidden_at = ?3 WHERE channel_id = ?1 AND message_id = ?2
                   AND hidden_at IS NULL AND deleted_at IS NULL",
            )?;
            let mut n = 0;
            for id in ids {
                n += mark.execute(params![channel_id, id, now])?;
            }
            Ok(n)
        })
    }

    fn hidden_count(&self, channel_id: i64) -> Result<usize, StoreError> {
        self.read("count hidden posts", |c| {
            c.query_row(
                "SELECT count(*) FROM posts WHERE channel_id = ?1 AND hidden_at IS NOT NULL",
                [channel_id],
                |r| r.get::<_, i64>(0),
            )
        })
        .map(|n| usize::try_from(n).unwrap_or(0))
    }

    fn short_ranges(&self, channel_id: i64) -> Result<Vec<ShortRange>, StoreError> {
        self.read("list short ranges", |c| {
            let mut st = c.prepare(
                "SELECT from_id, to_id, answered FROM fetched_ranges
                 WHERE channel_id = ?1 AND answered < to_id - from_id + 1 ORDER BY from_id, to_id",
            )?;
            st.query_map([channel_id], |r| {
                Ok(ShortRange {
                    from: r.get(0)?,
                    to: r.get(1)?,
                    answered: r.get(2)?,
                })
            })?
            .collect()
        })
    }

    fn post_versions(&self, post_id: i64) -> Result<Vec<(String, Option<i64>, i64)>, StoreError> {
        self.read("list post versions", |c| {
            let mut st = c.prepare(
                "SELECT text, edit_date, replaced_at FROM post_versions WHERE post_id = ?1 ORDER BY id",
            )?;
            st.query_map([post_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect()
        })
    }

    fn set_checkpoint(&mut self, channel_id: i64, last_message_id: i32) -> Result<(), StoreError> {
        self.write("set the channel checkpoint", |tx| {
            tx.execute(
                "UPDATE channels SET last_message_id = max(last_message_id, ?2) WHERE id = ?1",
                params![channel_id, last_message_id],
            )
            .map(|_| ())
        })
    }

    fn message_ids(&self, channel_id: i64) -> Result<Vec<i32>, StoreError> {
        self.read("list message ids", |c| {
            let mut st = c.prepare(
                "SELECT message_id FROM posts WHERE channel_id = ?1 ORDER BY message_id",
            )?;
            st.query_map([channel_id], |r| r.get(0))?.collect()
        })
    }

    fn fetched_ranges(&self, channel_id: i64) -> Result<Vec<(i32, i32)>, StoreError> {
        let raw: Vec<(i32, i32)> = self.read("list fetched ranges", |c| {
            let mut st =
                c.prepare("SELECT from_id, to_id FROM fetched_ranges WHERE channel_id = ?1 ORDER BY from_id, to_id")?;
            st.query_map([channel_id], |r| Ok((r.get(0)?, r.get(1)?)))?.collect()
        })?;
        Ok(merge_ranges(raw))
    }
}

/// What writing one post did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum PostWrite {
    /// A new post.
    Inserted,
    /// Its text or edit date changed: the old text is kept as a version, tags dropped, tagging
    /// back to pending.
    Edited,
    /// Seen again unchanged (or older than what is stored): counters refreshed.
    Unchanged,
    /// Not stored and not to be inserted.
    Ignored,
}

/// The body of [`ChannelStore::store_batch`] inside the caller's transaction; `range` is the
/// fetched range with the count of messages that answered it, if known.
fn write_page(
    tx: &Transaction<'_>,
    channel_id: i64,
    posts: &[PostIn],
    range: Option<((i32, i32), Option<i32>)>,
    now: i64,
    now_ms: i64,
) -> rusqlite::Result<BatchOutcome> {
    let mut out = BatchOutcome::default();
    if let Some(((from, to), _)) = range {
        // Looked up before the page is written: only what was stored before it can be unseen (on a
        // first backfill, nothing).
        let stored: Vec<i32> = tx
            .prepare_cached(
                "SELECT message_id FROM posts WHERE channel_id = ?1 AND message_id BETWEEN ?2 AND ?3
                   AND deleted_at IS NULL AND hidden_at IS NULL ORDER BY message_id",
            )?
            .query_map(params![channel_id, from, to], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        if !stored.is_empty() {
            let shown: std::collections::HashSet<i32> =
                posts.iter().map(|p| p.message_id).collect();
            out.unseen = stored
                .into_iter()
                .filter(|id| !shown.contains(id))
                .collect();
        }
    }
    let watching = watching(tx)?;
    for p in posts {
        match write_post(tx, channel_id, p, range.is_some(), now, now_ms, watching)? {
            PostWrite::Inserted => out.inserted += 1,
            PostWrite::Edited => out.edited += 1,
            PostWrite::Unchanged => out.unchanged += 1,
            PostWrite::Ignored => {}
        }
    }
    if let Some(((from, to), answered)) = range {
        tx.prepare_cached(
            // `last_fetch_at` is left to the end of the pass (`touch_channel`): a pass cut short
            // (a kill, a lost lease, a restart) leaves the channel due at once, to resume here.
            "UPDATE channels SET last_message_id = max(last_message_id, ?2),
                    last_error = NULL, flood_until = NULL, parked_at = NULL, failures = 0 WHERE id = ?1",
        )?
        .execute(params![channel_id, to])?;
        tx.prepare_cached(
            "INSERT INTO fetched_ranges (channel_id, from_id, to_id, fetched_at, answered)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![channel_id, from, to, now, answered])?;
        forget_deletions_below(tx, channel_id)?;
    }
    Ok(out)
}

/// Whether any watch exists: only then are stored posts queued for the watches (asked once per
/// batch, so ingest without watches pays nothing per post).
pub(super) fn watching(tx: &Transaction<'_>) -> rusqlite::Result<bool> {
    tx.prepare_cached("SELECT EXISTS (SELECT 1 FROM watches)")?
        .query_row([], |r| r.get(0))
}

/// Queues a new or edited post for the watches (again, undecided, if it was queued).
fn queue_for_watches(tx: &Transaction<'_>, post_id: i64, now: i64) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO watch_queue (post_id, queued_at) VALUES (?1, ?2)
         ON CONFLICT (post_id) DO UPDATE SET queued_at = excluded.queued_at, decided = 0",
    )?
    .execute(params![post_id, now])?;
    Ok(())
}

/// Inserts a post unless (channel, message id) is stored; the statement every new post goes through.
const INSERT_POST: &str = "INSERT INTO posts (channel_id, message_id, date, edit_date, text, views, forwards,
                                  grouped_id, has_media, fetched_at, tagging_status, stored_at_ms, deleted_at,
                                  replies, replies_max_id)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12,
             (SELECT deleted_at FROM message_deletions WHERE channel_id = ?1 AND message_id = ?2),
             ?13, ?14)
     ON CONFLICT (channel_id, message_id) DO NOTHING";

/// Upserts one post on (channel, message id), the one path every writer (pages, refreshes, live
/// updates) takes. An edit applies only when it is not older than the stored one — a page fetched
/// before an edit and written after it must not bring the old text back — and keeps the text it
/// replaces in `post_versions`. A new post whose deletion was already learned comes in marked
/// deleted.
pub(super) fn write_post(
    tx: &Transaction<'_>,
    channel_id: i64,
    p: &PostIn,
    insert: bool,
    now: i64,
    now_ms: i64,
    watching: bool,
) -> rusqlite::Result<PostWrite> {
    let status = if p.text.trim().is_empty() {
        TaggingStatus::Skipped
    } else {
        TaggingStatus::Pending
    };
    // A backfill's posts are nearly all new: try the insert first (one statement per post), and
    // look at the stored row only when the post is already there.
    if insert {
        let inserted = tx.prepare_cached(INSERT_POST)?.execute(params![
            channel_id,
            p.message_id,
            p.date,
            p.edit_date,
            p.text,
            p.views,
            p.forwards,
            p.grouped_id,
            p.has_media(),
            now,
            status,
            now_ms,
            p.thread.map(|t| t.replies),
            p.thread.and_then(|t| t.max_id)
        ])?;
        if inserted == 1 {
            let id = tx.last_insert_rowid();
            // Queued for the search index here rather than by a trigger (schema 11 says why).
            if !p.text.is_empty() {
                tx.prepare_cached("INSERT OR IGNORE INTO search_queue (post_id) VALUES (?1)")?
                    .execute([id])?;
            }
            if p.media.is_some() {
                write_media(tx, id, p.media.as_ref())?;
            }
            if watching {
                queue_for_watches(tx, id, now)?;
            }
            return Ok(PostWrite::Inserted);
        }
    }
    let existing: Option<(i64, String, Option<i64>)> = tx
        .prepare_cached(
            "SELECT id, text, edit_date FROM posts WHERE channel_id = ?1 AND message_id = ?2",
        )?
        .query_row(params![channel_id, p.message_id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()?;
    match existing {
        None => Ok(PostWrite::Ignored),
        Some((id, text, edit_date))
            if p.edit_date > edit_date || (p.edit_date == edit_date && text != p.text) =>
        {
            tx.prepare_cached(
                "INSERT INTO post_versions (post_id, text, edit_date, replaced_at)
                 SELECT id, text, edit_date, ?2 FROM posts WHERE id = ?1",
            )?
            .execute(params![id, now])?;
            tx.prepare_cached(
                "UPDATE posts SET date = ?2, edit_date = ?3, text = ?4, views = coalesce(max(views, ?5), ?5, views),
                        forwards = coalesce(max(forwards, ?6), ?6, forwards), grouped_id = ?7,
                        replies = coalesce(max(replies, ?11), ?11, replies),
                        replies_max_id = coalesce(max(replies_max_id, ?12), ?12, replies_max_id),
                        has_media = ?8, fetched_at = ?9, tagging_status = ?10, tagging_attempts = 0,
                        tagging_error = NULL, next_tagging_at = NULL, last_tagging_attempt = NULL,
                        tagging_claimed_until = NULL, tagging_claim = NULL, tagged_at_ms = NULL,
                        hidden_at = NULL
                 WHERE id = ?1",
            )?
            .execute(params![
                id,
                p.date,
                p.edit_date,
                p.text,
                p.views,
                p.forwards,
                p.grouped_id,
                p.has_media(),
                now,
                status,
                p.thread.map(|t| t.replies),
                p.thread.and_then(|t| t.max_id)
            ])?;
            tx.prepare_cached("DELETE FROM post_tags WHERE post_id = ?1")?
                .execute([id])?;
            write_media(tx, id, p.media.as_ref())?;
            if watching {
                queue_for_watches(tx, id, now)?;
            }
            Ok(PostWrite::Edited)
        }
        Some((id, _, _)) => {
            tx.prepare_cached(
                "UPDATE posts SET views = coalesce(max(views, ?2), ?2, views),
                        forwards = coalesce(max(forwards, ?3), ?3, forwards), fetched_at = ?4,
                        hidden_at = NULL, has_media = ?5,
                        replies = coalesce(max(replies, ?6), ?6, replies),
                        replies_max_id = coalesce(max(replies_max_id, ?7), ?7, replies_max_id)
                 WHERE id = ?1",
            )?
            .execute(params![
                id,
                p.views,
                p.forwards,
                now,
                p.has_media(),
                p.thread.map(|t| t.replies),
                p.thread.and_then(|t| t.max_id)
            ])?;
            // Fills in the media of a post stored before version 19, and the file's fresh details.
            write_media(tx, id, p.media.as_ref())?;
            Ok(PostWrite::Unchanged)
        }
    }
}

/// Drops remembered deletions at or below the channel's checkpoint (no page will bring those ids).
pub(super) fn forget_deletions_below(
    tx: &Transaction<'_>,
    channel_id: i64,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "DELETE FROM message_deletions WHERE channel_id = ?1
           AND message_id <= (SELECT last_message_id FROM channels WHERE id = ?1)",
    )?
    .execute([channel_id])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (tempfile::TempDir, SqliteStore, i64) {
        let (dir, mut s) = crate::testing::sqlite();
        let ch = crate::testing::follow_news(&mut s);
        (dir, s, ch)
    }

    /// The opcodes SQLite compiles `sql` to.
    fn opcodes(s: &SqliteStore, sql: &str) -> Vec<String> {
        s.read("explain", |c| {
            let mut st = c.prepare(&format!("EXPLAIN {sql}"))?;
            let nulls = std::iter::repeat_n(rusqlite::types::Null, st.parameter_count());
            st.query_map(rusqlite::params_from_iter(nulls), |r| r.get::<_, String>(1))?
                .collect()
        })
        .expect("explain")
    }

    #[test]
    fn storing_a_post_needs_no_statement_journal_and_no_temporary_btree() {
        let (_d, s, _) = setup();
        let ops = opcodes(&s, INSERT_POST);
        assert!(ops.iter().any(|o| o == "Insert"), "{ops:?}");
        // A trigger would make the insert a multi-write statement with a statement journal (schema 11);
        // an IN list in a CHECK is a temporary B-tree built for every row (schema 12).
        assert!(
            !ops.iter().any(|o| o == "Program"),
            "no trigger fires: {ops:?}"
        );
        assert!(!ops.iter().any(|o| o == "OpenEphemeral"), "{ops:?}");
    }
}
