//! [`ChannelStore`] on PostgreSQL: channels and the exactly-once page writes of ingest.
//!
//! A page is written set-based in one transaction, with the same rules as the SQLite store
//! (`src/store/channels.rs`): new posts are inserted in one statement (arriving already deleted when
//! their deletion was learned first), posts already stored are compared in memory — an edit not older
//! than the stored one keeps the replaced text in `post_versions`, drops the tags and makes the post
//! due for tagging again; anything else refreshes the counters — the stored posts the page's window
//! lacks are marked deleted, and the checkpoint and the fetched range move with the posts.

use std::collections::{HashMap, HashSet};

use deadpool_postgres::Transaction;
use tokio_postgres::Row;

use super::media::write_media;
use super::{Fail, PgBackend};
use crate::model::channels::merge_ranges;
use crate::model::media::Media;
use crate::{
    BatchOutcome, ChannelRow, ChannelStore, FetchedPage, NewChannel, PostIn, ShortRange,
    StoreError, TaggingStatus, unix_ms, unix_now,
};

const COLUMNS: &str = "c.id, c.account_id, a.name, c.tg_id, c.access_hash, c.username, c.title, c.active, \
                       c.backfill, c.last_message_id, c.flood_until, c.last_fetch_at, c.last_error, c.failures, c.left_at";

fn row(r: &Row) -> ChannelRow {
    ChannelRow {
        id: r.get(0),
        account_id: r.get(1),
        account: r.get(2),
        tg_id: r.get(3),
        access_hash: r.get::<_, Option<i64>>(4).unwrap_or_default(),
        username: r.get(5),
        title: r.get(6),
        active: r.get(7),
        backfill: r.get(8),
        last_message_id: narrow(r.get(9)),
        flood_until: r.get(10),
        last_fetch_at: r.get(11),
        last_error: r.get(12),
        failures: u32::try_from(r.get::<_, i64>(13)).unwrap_or(u32::MAX),
        left_at: r.get(14),
    }
}

/// A message id stored as BIGINT, back to Telegram's 32 bits.
/// The posts' comment threads as two columns: messages in the thread, and the newest one's id.
type ThreadColumns = (Vec<Option<i64>>, Vec<Option<i64>>);

fn threads<'a>(posts: impl Iterator<Item = &'a PostIn>) -> ThreadColumns {
    posts
        .map(|p| {
            (
                p.thread.map(|t| i64::from(t.replies)),
                p.thread.and_then(|t| t.max_id).map(i64::from),
            )
        })
        .unzip()
}

pub(super) fn narrow(id: i64) -> i32 {
    i32::try_from(id).unwrap_or(i32::MAX)
}

impl ChannelStore for PgBackend {
    fn add_channel(
        &mut self,
        account_id: i64,
        c: &NewChannel,
    ) -> Result<Option<ChannelRow>, StoreError> {
        let id = self.tx(&format!("add channel {}", c.title), async |tx| {
            let id = tx
                .query_opt(
                    "INSERT INTO channels (account_id, tg_id, access_hash, username, title, backfill, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (account_id, tg_id) DO NOTHING
                     RETURNING id",
                    &[&account_id, &c.tg_id, &c.access_hash, &c.username, &c.title, &c.backfill, &unix_now()],
                )
                .await?
                .map(|r| r.get::<_, i64>(0));
            // Wakes the workers' account managers when the channel commits (LISTEN/NOTIFY).
            tx.execute("SELECT pg_notify($1, current_schema()::text)", &[&super::CHANNELS_CHANNEL])
                .await?;
            Ok(id)
        })?;
        match id {
            Some(id) => self.channel(id),
            None => Ok(None),
        }
    }

    fn channel(&self, id: i64) -> Result<Option<ChannelRow>, StoreError> {
        self.tx("read channel", async |tx| {
            Ok(tx
                .query_opt(
                    &format!(
                        "SELECT {COLUMNS} FROM channels c JOIN accounts a ON a.id = c.account_id WHERE c.id = $1"
                    ),
                    &[&id],
                )
                .await?
                .as_ref()
                .map(row))
        })
    }

    fn channels(&self) -> Result<Vec<ChannelRow>, StoreError> {
        self.tx("list channels", async |tx| {
            Ok(tx
                .query(
                    &format!(
                        "SELECT {COLUMNS} FROM channels c JOIN accounts a ON a.id = c.account_id
                         ORDER BY a.name, c.id"
                    ),
                    &[],
                )
                .await?
                .iter()
                .map(row)
                .collect())
        })
    }

    fn account_channels(&self, account_id: i64) -> Result<Vec<ChannelRow>, StoreError> {
        self.tx("list an account's channels", async |tx| {
            Ok(tx
                .query(
                    &format!(
                        "SELECT {COLUMNS} FROM channels c JOIN accounts a ON a.id = c.account_id
                         WHERE c.account_id = $1 ORDER BY c.id"
                    ),
                    &[&account_id],
                )
                .await?
                .iter()
                .map(row)
                .collect())
        })
    }

    fn accounts_with_active_channels(&self) -> Result<std::collections::HashSet<i64>, StoreError> {
        self.tx("list accounts with active channels", async |tx| {
            Ok(tx
                .query("SELECT DISTINCT account_id FROM channels WHERE active", &[])
                .await?
                .iter()
                .map(|r| r.get(0))
                .collect())
        })
    }

    fn channel_post_count(&self, channel_id: i64) -> Result<i64, StoreError> {
        self.tx("count a channel's posts", async |tx| {
            Ok(tx
                .query_one(
                    "SELECT count(*) FROM posts WHERE channel_id = $1",
                    &[&channel_id],
                )
                .await?
                .get(0))
        })
    }

    fn post_counts(&self) -> Result<HashMap<i64, i64>, StoreError> {
        self.tx("count posts", async |tx| {
            Ok(tx
                .query(
                    "SELECT channel_id, count(*) FROM posts GROUP BY channel_id",
                    &[],
                )
                .await?
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect())
        })
    }

    fn set_channel_active(&mut self, id: i64, active: bool) -> Result<(), StoreError> {
        self.tx("change channel state", async |tx| {
            let sql = if active {
                "UPDATE channels SET active = true, last_error = NULL, flood_until = NULL,
                        parked_at = NULL, failures = 0 WHERE id = $1"
            } else {
                "UPDATE channels SET active = false WHERE id = $1"
            };
            tx.execute(sql, &[&id]).await?;
            tx.execute(
                "SELECT pg_notify($1, current_schema()::text)",
                &[&super::CHANNELS_CHANNEL],
            )
            .await?;
            Ok(())
        })
    }

    fn remove_channel(&mut self, id: i64) -> Result<(), StoreError> {
        self.tx("remove channel", async |tx| {
            tx.execute("DELETE FROM channels WHERE id = $1", &[&id])
                .await?;
            Ok(())
        })
    }

    fn park_channel(&mut self, id: i64, until: i64, why: &str) -> Result<(), StoreError> {
        self.tx("park channel", async |tx| {
            self.fence_channel(tx, id).await?;
            tx.execute(
                "UPDATE channels SET flood_until = $2, last_error = $3, failures = failures + 1,
                        parked_at = CASE WHEN flood_until > $4 THEN coalesce(parked_at, $4) ELSE $4 END
                 WHERE id = $1",
                &[&id, &until, &why, &unix_now()],
            )
            .await?;
            Ok(())
        })
    }

    fn fail_channel(&mut self, id: i64, error: &str, permanent: bool) -> Result<(), StoreError> {
        self.tx("record channel error", async |tx| {
            self.fence_channel(tx, id).await?;
            tx.execute(
                "UPDATE channels SET last_error = $2, active = CASE WHEN $3 THEN false ELSE active END,
                        failures = failures + 1 WHERE id = $1",
                &[&id, &error, &permanent],
            )
            .await?;
            Ok(())
        })
    }

    fn set_channel_left(&mut self, id: i64, left: bool) -> Result<bool, StoreError> {
        self.tx("record whether the account left a channel", async |tx| {
            let n = if left {
                tx.execute(
                    "UPDATE channels SET left_at = $2 WHERE id = $1 AND left_at IS NULL",
                    &[&id, &unix_now()],
                )
                .await?
            } else {
                tx.execute(
                    "UPDATE channels SET left_at = NULL WHERE id = $1 AND left_at IS NOT NULL",
                    &[&id],
                )
                .await?
            };
            Ok(n > 0)
        })
    }

    fn touch_channel(&mut self, id: i64) -> Result<(), StoreError> {
        self.tx("record fetch time", async |tx| {
            self.fence_channel(tx, id).await?;
            tx.execute(
                "UPDATE channels SET last_fetch_at = $2, last_error = NULL, flood_until = NULL,
                        parked_at = NULL, failures = 0 WHERE id = $1",
                &[&id, &unix_now()],
            )
            .await?;
            Ok(())
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
        let page = [Page {
            posts,
            range: range.map(|r| (r, None)),
        }];
        let mut outcomes = self.tx(&what, async |tx| {
            self.fence_channel(tx, channel_id).await?;
            write_pages(tx, channel_id, &page, now, now_ms).await
        })?;
        Ok(outcomes.pop().unwrap_or_default())
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
        let pages: Vec<Page<'_>> = pages
            .iter()
            .map(|p| Page {
                posts: &p.posts,
                range: Some((p.range, Some(p.answered))),
            })
            .collect();
        self.tx(&what, async |tx| {
            self.fence_channel(tx, channel_id).await?;
            write_pages(tx, channel_id, &pages, now, now_ms).await
        })
    }

    fn visible_ids_between(
        &self,
        channel_id: i64,
        from: i32,
        to: i32,
    ) -> Result<Vec<i32>, StoreError> {
        self.tx("list a window's visible ids", async |tx| {
            Ok(tx
                .query(
                    "SELECT message_id FROM posts WHERE channel_id = $1 AND message_id BETWEEN $2 AND $3
                       AND deleted_at IS NULL AND hidden_at IS NULL ORDER BY message_id",
                    &[&channel_id, &i64::from(from), &i64::from(to)],
                )
                .await?
                .iter()
                .map(|r| narrow(r.get(0)))
                .collect())
        })
    }

    fn mark_hidden(&mut self, channel_id: i64, ids: &[i32]) -> Result<usize, StoreError> {
        let ids: Vec<i64> = ids.iter().map(|&i| i64::from(i)).collect();
        self.tx("mark posts hidden", async |tx| {
            self.fence_channel(tx, channel_id).await?;
            let n = tx
                .execute(
                    "UPDATE posts SET hidden_at = $3 WHERE channel_id = $1
                       AND message_id = ANY($2::bigint[]) AND hidden_at IS NULL AND deleted_at IS NULL",
                    &[&channel_id, &ids, &unix_now()],
                )
                .await?;
            Ok(usize::try_from(n).unwrap_or(usize::MAX))
        })
    }

    fn hidden_count(&self, channel_id: i64) -> Result<usize, StoreError> {
        self.tx("count hidden posts", async |tx| {
            let n: i64 = tx
                .query_one(
                    "SELECT count(*) FROM posts WHERE channel_id = $1 AND hidden_at IS NOT NULL",
                    &[&channel_id],
                )
                .await?
                .get(0);
            Ok(usize::try_from(n).unwrap_or(0))
        })
    }

    fn short_ranges(&self, channel_id: i64) -> Result<Vec<ShortRange>, StoreError> {
        self.tx("list short ranges", async |tx| {
            Ok(tx
                .query(
                    "SELECT from_id, to_id, answered FROM fetched_ranges
                     WHERE channel_id = $1 AND answered < to_id - from_id + 1 ORDER BY from_id, to_id",
                    &[&channel_id],
                )
                .await?
                .iter()
                .map(|r| ShortRange {
                    from: narrow(r.get(0)),
                    to: narrow(r.get(1)),
                    answered: narrow(r.get(2)),
                })
                .collect())
        })
    }

    fn post_versions(&self, post_id: i64) -> Result<Vec<(String, Option<i64>, i64)>, StoreError> {
        self.tx("list post versions", async |tx| {
            Ok(tx
                .query(
                    "SELECT text, edit_date, replaced_at FROM post_versions WHERE post_id = $1 ORDER BY id",
                    &[&post_id],
                )
                .await?
                .iter()
                .map(|r| (r.get(0), r.get(1), r.get(2)))
                .collect())
        })
    }

    fn set_checkpoint(&mut self, channel_id: i64, last_message_id: i32) -> Result<(), StoreError> {
        self.tx("set the channel checkpoint", async |tx| {
            self.fence_channel(tx, channel_id).await?;
            tx.execute(
                "UPDATE channels SET last_message_id = greatest(last_message_id, $2) WHERE id = $1",
                &[&channel_id, &i64::from(last_message_id)],
            )
            .await?;
            Ok(())
        })
    }

    fn message_ids(&self, channel_id: i64) -> Result<Vec<i32>, StoreError> {
        self.tx("list message ids", async |tx| {
            Ok(tx
                .query(
                    "SELECT message_id FROM posts WHERE channel_id = $1 ORDER BY message_id",
                    &[&channel_id],
                )
                .await?
                .iter()
                .map(|r| narrow(r.get(0)))
                .collect())
        })
    }

    fn fetched_ranges(&self, channel_id: i64) -> Result<Vec<(i32, i32)>, StoreError> {
        let raw: Vec<(i32, i32)> = self.tx("list fetched ranges", async |tx| {
            Ok(tx
                .query(
                    "SELECT from_id, to_id FROM fetched_ranges WHERE channel_id = $1
                     ORDER BY from_id, to_id",
                    &[&channel_id],
                )
                .await?
                .iter()
                .map(|r| (narrow(r.get(0)), narrow(r.get(1))))
                .collect())
        })?;
        Ok(merge_ranges(raw))
    }
}

/// The tagging status a post starts with: nothing to tag without text.
fn initial_status(p: &PostIn) -> TaggingStatus {
    if p.text.trim().is_empty() {
        TaggingStatus::Skipped
    } else {
        TaggingStatus::Pending
    }
}

/// What [`upsert_posts`] did.
#[derive(Default)]
pub(super) struct Upserted {
    /// Message ids inserted.
    pub(super) inserted: HashSet<i32>,
    /// Message ids of posts edited (old text versioned, tags dropped, due again).
    pub(super) edited: HashSet<i32>,
    /// Message ids of posts seen again unchanged (counters refreshed).
    pub(super) unchanged: HashSet<i32>,
}

/// Upserts `posts` of a channel: new ones inserted when `insert` (a page or a pushed message, not a
/// refresh), stored ones edited or refreshed (see the module doc).
pub(super) async fn upsert_posts(
    tx: &Transaction<'_>,
    channel_id: i64,
    posts: &[&PostIn],
    insert: bool,
    now: i64,
    now_ms: i64,
) -> Result<Upserted, Fail> {
    let mut out = Upserted::default();
    if insert && !posts.is_empty() {
        let ids: Vec<i64> = posts.iter().map(|p| i64::from(p.message_id)).collect();
        let dates: Vec<i64> = posts.iter().map(|p| p.date).collect();
        let edits: Vec<Option<i64>> = posts.iter().map(|p| p.edit_date).collect();
        let texts: Vec<&str> = posts.iter().map(|p| p.text.as_str()).collect();
        let views: Vec<Option<i64>> = posts.iter().map(|p| p.views.map(i64::from)).collect();
        let forwards: Vec<Option<i64>> = posts.iter().map(|p| p.forwards.map(i64::from)).collect();
        let groups: Vec<Option<i64>> = posts.iter().map(|p| p.grouped_id).collect();
        let media: Vec<bool> = posts.iter().map(|p| p.has_media()).collect();
        let statuses: Vec<TaggingStatus> = posts.iter().map(|p| initial_status(p)).collect();
        let (replies, replies_max) = threads(posts.iter().copied());
        let insert = tx
            .prepare_cached(
                "INSERT INTO posts (channel_id, message_id, date, edit_date, text, views, forwards,
                                    grouped_id, has_media, fetched_at, tagging_status, stored_at_ms,
                                    deleted_at, replies, replies_max_id)
                 SELECT $1, u.m, u.d, u.e, u.t, u.v, u.f, u.g, u.h, $2, u.s, $3, md.deleted_at, u.r, u.x
                 FROM unnest($4::bigint[], $5::bigint[], $6::bigint[], $7::text[], $8::bigint[],
                             $9::bigint[], $10::bigint[], $11::boolean[], $12::text[], $13::bigint[],
                             $14::bigint[])
                      WITH ORDINALITY AS u (m, d, e, t, v, f, g, h, s, r, x, n)
                 LEFT JOIN message_deletions md ON md.channel_id = $1 AND md.message_id = u.m
                 ORDER BY u.n
                 ON CONFLICT (channel_id, message_id) DO NOTHING
                 RETURNING message_id, id",
            )
            .await?;
        let rows = tx
            .query(
                &insert,
                &[
                    &channel_id,
                    &now,
                    &now_ms,
                    &ids,
                    &dates,
                    &edits,
                    &texts,
                    &views,
                    &forwards,
                    &groups,
                    &media,
                    &statuses,
                    &replies,
                    &replies_max,
                ],
            )
            .await?;
        out.inserted = rows.iter().map(|r| narrow(r.get(0))).collect();
        let row_ids: HashMap<i32, i64> =
            rows.iter().map(|r| (narrow(r.get(0)), r.get(1))).collect();
        let with_media: Vec<(i64, Option<&Media>)> = posts
            .iter()
            .filter_map(|p| Some((*row_ids.get(&p.message_id)?, Some(p.media.as_ref()?))))
            .collect();
        write_media(tx, &with_media).await?;
        let all: Vec<i64> = rows.iter().map(|r| r.get(1)).collect();
        // New posts with text wait for the search index by having none yet (V15__bulk_ingest.sql).
        queue_for_watches(tx, &all, now).await?;
    }

    let rest: Vec<&PostIn> = posts
        .iter()
        .filter(|p| !out.inserted.contains(&p.message_id))
        .copied()
        .collect();
    if rest.is_empty() {
        return Ok(out);
    }
    let ids: Vec<i64> = rest.iter().map(|p| i64::from(p.message_id)).collect();
    let select = tx
        .prepare_cached(
            "SELECT message_id, id, text, edit_date FROM posts
             WHERE channel_id = $1 AND message_id = ANY($2)",
        )
        .await?;
    let stored: HashMap<i32, (i64, String, Option<i64>)> = tx
        .query(&select, &[&channel_id, &ids])
        .await?
        .iter()
        .map(|r| (narrow(r.get(0)), (r.get(1), r.get(2), r.get(3))))
        .collect();
    let mut edited: Vec<(i64, &PostIn)> = Vec::new();
    let mut unchanged: Vec<(i64, &PostIn)> = Vec::new();
    for p in rest {
        match stored.get(&p.message_id) {
            None => {}
            Some((id, text, edit_date))
                if p.edit_date > *edit_date || (p.edit_date == *edit_date && *text != p.text) =>
            {
                edited.push((*id, p))
            }
            Some((id, ..)) => unchanged.push((*id, p)),
        }
    }
    if !edited.is_empty() {
        apply_edits(tx, &edited, now).await?;
    }
    if !unchanged.is_empty() {
        let ids: Vec<i64> = unchanged.iter().map(|(id, _)| *id).collect();
        let views: Vec<Option<i64>> = unchanged
            .iter()
            .map(|(_, p)| p.views.map(i64::from))
            .collect();
        let forwards: Vec<Option<i64>> = unchanged
            .iter()
            .map(|(_, p)| p.forwards.map(i64::from))
            .collect();
        let refresh = tx
            .prepare_cached(
                "UPDATE posts SET views = GREATEST(posts.views, u.v), forwards = GREATEST(posts.forwards, u.f),
                        fetched_at = $4, hidden_at = NULL,
                        has_media = u.h, replies = GREATEST(posts.replies, u.r),
                        replies_max_id = GREATEST(posts.replies_max_id, u.x)
                 FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $5::boolean[], $6::bigint[],
                             $7::bigint[]) AS u (id, v, f, h, r, x)
                 WHERE posts.id = u.id",
            )
            .await?;
        let media: Vec<bool> = unchanged.iter().map(|(_, p)| p.has_media()).collect();
        let (replies, replies_max) = threads(unchanged.iter().map(|(_, p)| *p));
        tx.execute(
            &refresh,
            &[
                &ids,
                &views,
                &forwards,
                &now,
                &media,
                &replies,
                &replies_max,
            ],
        )
        .await?;
    }
    // An edit may take media away; a post seen again gets what a post stored before version 9
    // lacks, and the file's fresh details (`has_media` was set with the rest).
    let media: Vec<(i64, Option<&Media>)> = edited
        .iter()
        .chain(&unchanged)
        .map(|(id, p)| (*id, p.media.as_ref()))
        .collect();
    write_media(tx, &media).await?;
    out.edited = edited.iter().map(|(_, p)| p.message_id).collect();
    out.unchanged = unchanged.iter().map(|(_, p)| p.message_id).collect();
    Ok(out)
}

/// One page to write: its posts and, for a page of a backfill, the ids it stands for (fetched
/// range) with the count of messages that answered them, if known.
struct Page<'a> {
    posts: &'a [PostIn],
    range: Option<((i32, i32), Option<i32>)>,
}

/// The body of [`ChannelStore::store_batch`] and [`ChannelStore::store_batches`] inside the caller's
/// transaction (see the module doc). The pages' posts are upserted together and their ranges and
/// checkpoint written with one statement each, so a group of pages costs what one does.
async fn write_pages(
    tx: &Transaction<'_>,
    channel_id: i64,
    pages: &[Page<'_>],
    now: i64,
    now_ms: i64,
) -> Result<Vec<BatchOutcome>, Fail> {
    let mut outcomes = vec![BatchOutcome::default(); pages.len()];
    // What was stored before these pages in their ranges and is not on them: unseen. Looked up before
    // the posts are written, one statement for the pages' (usually adjacent) ranges.
    let mut ranges: Vec<(i32, i32)> = pages.iter().filter_map(|p| p.range.map(|r| r.0)).collect();
    ranges.sort_unstable();
    let shown: Vec<i64> = pages
        .iter()
        .filter(|p| p.range.is_some())
        .flat_map(|p| p.posts.iter().map(|p| i64::from(p.message_id)))
        .collect();
    for (from, to) in merge_ranges(ranges) {
        let unseen = tx
            .prepare_cached(
                "SELECT message_id FROM posts
                 WHERE channel_id = $1 AND message_id BETWEEN $2 AND $3
                   AND deleted_at IS NULL AND hidden_at IS NULL
                   AND message_id NOT IN (SELECT unnest($4::bigint[]))
                 ORDER BY message_id",
            )
            .await?;
        let (from, to) = (i64::from(from), i64::from(to));
        for row in tx
            .query(&unseen, &[&channel_id, &from, &to, &shown])
            .await?
        {
            let id: i32 = narrow(row.get(0));
            let page = pages
                .iter()
                .position(|p| p.range.is_some_and(|((a, b), _)| (a..=b).contains(&id)));
            if let Some(i) = page {
                outcomes[i].unseen.push(id);
            }
        }
    }
    // A page brings new posts unless it only refreshes (no range); pages of both kinds are upserted
    // apart.
    for insert in [true, false] {
        let posts: Vec<&PostIn> = pages
            .iter()
            .filter(|p| p.range.is_some() == insert)
            .flat_map(|p| p.posts.iter())
            .collect();
        if posts.is_empty() {
            continue;
        }
        let upserted = upsert_posts(tx, channel_id, &posts, insert, now, now_ms).await?;
        for (page, out) in pages.iter().zip(outcomes.iter_mut()) {
            if page.range.is_some() != insert {
                continue;
            }
            for p in page.posts {
                let id = &p.message_id;
                out.inserted += usize::from(upserted.inserted.contains(id));
                out.edited += usize::from(upserted.edited.contains(id));
                out.unchanged += usize::from(upserted.unchanged.contains(id));
            }
        }
    }
    let ranges: Vec<((i32, i32), Option<i32>)> = pages.iter().filter_map(|p| p.range).collect();
    if let Some(top) = ranges.iter().map(|r| r.0.1).max() {
        let checkpoint = tx
            .prepare_cached(
                // `last_fetch_at` is left to the end of the pass, as on SQLite.
                "UPDATE channels SET last_message_id = greatest(last_message_id, $2),
                        last_error = NULL, flood_until = NULL, parked_at = NULL, failures = 0 WHERE id = $1",
            )
            .await?;
        tx.execute(&checkpoint, &[&channel_id, &i64::from(top)])
            .await?;
        let (from, to): (Vec<i64>, Vec<i64>) = ranges
            .iter()
            .map(|&((a, b), _)| (i64::from(a), i64::from(b)))
            .unzip();
        let answered: Vec<Option<i64>> = ranges.iter().map(|r| r.1.map(i64::from)).collect();
        let fetched = tx
            .prepare_cached(
                "INSERT INTO fetched_ranges (channel_id, from_id, to_id, fetched_at, answered)
                 SELECT $1, f, t, $4, n FROM unnest($2::bigint[], $3::bigint[], $5::bigint[]) AS r (f, t, n)",
            )
            .await?;
        tx.execute(&fetched, &[&channel_id, &from, &to, &now, &answered])
            .await?;
        forget_deletions_below(tx, channel_id).await?;
    }
    Ok(outcomes)
}

/// Drops remembered deletions at or below the channel's checkpoint (no page will bring those ids).
pub(super) async fn forget_deletions_below(
    tx: &Transaction<'_>,
    channel_id: i64,
) -> Result<(), Fail> {
    let forget = tx
        .prepare_cached(
            "DELETE FROM message_deletions WHERE channel_id = $1
               AND message_id <= (SELECT last_message_id FROM channels WHERE id = $1)",
        )
        .await?;
    tx.execute(&forget, &[&channel_id]).await?;
    Ok(())
}

/// Applies edits: the replaced texts become versions, the posts take the new content and are due for
/// tagging again, their tags are dropped.
async fn apply_edits(
    tx: &Transaction<'_>,
    edited: &[(i64, &PostIn)],
    now: i64,
) -> Result<(), Fail> {
    let ids: Vec<i64> = edited.iter().map(|(id, _)| *id).collect();
    tx.execute(
        "INSERT INTO post_versions (post_id, text, edit_date, replaced_at)
         SELECT p.id, p.text, p.edit_date, $2 FROM unnest($1::bigint[]) WITH ORDINALITY AS u (id, n)
         JOIN posts p ON p.id = u.id ORDER BY u.n",
        &[&ids, &now],
    )
    .await?;
    let dates: Vec<i64> = edited.iter().map(|(_, p)| p.date).collect();
    let edits: Vec<Option<i64>> = edited.iter().map(|(_, p)| p.edit_date).collect();
    let texts: Vec<&str> = edited.iter().map(|(_, p)| p.text.as_str()).collect();
    let views: Vec<Option<i64>> = edited.iter().map(|(_, p)| p.views.map(i64::from)).collect();
    let forwards: Vec<Option<i64>> = edited
        .iter()
        .map(|(_, p)| p.forwards.map(i64::from))
        .collect();
    let groups: Vec<Option<i64>> = edited.iter().map(|(_, p)| p.grouped_id).collect();
    let media: Vec<bool> = edited.iter().map(|(_, p)| p.has_media()).collect();
    let statuses: Vec<TaggingStatus> = edited.iter().map(|(_, p)| initial_status(p)).collect();
    let (replies, replies_max) = threads(edited.iter().map(|(_, p)| *p));
    // Without its vector, the old words leave the search index at once, and a post that still has
    // text waits for it again (the queue is the posts with text and no vector, V15).
    tx.execute(
        "UPDATE posts SET date = u.d, edit_date = u.e, text = u.t, views = GREATEST(posts.views, u.v),
                forwards = GREATEST(posts.forwards, u.f),
                replies = GREATEST(posts.replies, u.r), replies_max_id = GREATEST(posts.replies_max_id, u.x),
                grouped_id = u.g, has_media = u.h, fetched_at = $10, tagging_status = u.s,
                tagging_attempts = 0, tagging_error = NULL, next_tagging_at = NULL,
                last_tagging_attempt = NULL, tagging_claimed_until = NULL, tagging_claim = NULL,
                tagged_at_ms = NULL, search_vector = NULL, hidden_at = NULL
         FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[], $5::bigint[], $6::bigint[],
                     $7::bigint[], $8::boolean[], $9::text[], $11::bigint[], $12::bigint[])
                     AS u (id, d, e, t, v, f, g, h, s, r, x)
         WHERE posts.id = u.id",
        &[
            &ids,
            &dates,
            &edits,
            &texts,
            &views,
            &forwards,
            &groups,
            &media,
            &statuses,
            &now,
            &replies,
            &replies_max,
        ],
    )
    .await?;
    tx.execute("DELETE FROM post_tags WHERE post_id = ANY($1)", &[&ids])
        .await?;
    queue_for_watches(tx, &ids, now).await?;
    Ok(())
}

/// Queues new or edited posts for the watches (again, undecided, if queued) when any watch exists
/// (SQLite's schema 24 says why).
async fn queue_for_watches(tx: &Transaction<'_>, ids: &[i64], now: i64) -> Result<(), Fail> {
    if ids.is_empty() {
        return Ok(());
    }
    let queue = tx
        .prepare_cached(
            "INSERT INTO watch_queue (post_id, queued_at)
             SELECT unnest($1::bigint[]), $2 WHERE EXISTS (SELECT 1 FROM watches)
             ON CONFLICT (post_id) DO UPDATE SET queued_at = excluded.queued_at, decided = false",
        )
        .await?;
    tx.execute(&queue, &[&ids, &now]).await?;
    Ok(())
}
