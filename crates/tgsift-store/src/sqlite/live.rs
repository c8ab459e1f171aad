//! [`LiveStore`](crate::LiveStore) on SQLite: the rules are the trait's (`crate::model::live`), the SQL is here.

use std::collections::HashSet;

use rusqlite::{OptionalExtension, Transaction, params};

use super::channels::{PostWrite, forget_deletions_below, write_post};
use crate::model::live::*;
use crate::{SqliteStore, StoreError, unix_ms, unix_now};

impl LiveStore for SqliteStore {
    fn live_rows(&self, account_id: i64) -> Result<Vec<LiveRow>, StoreError> {
        self.read("read live state", |c| {
            let mut st = c.prepare(
                "SELECT c.id, l.pts, l.member FROM channels c LEFT JOIN channel_live l ON l.channel_id = c.id
                 WHERE c.account_id = ?1 ORDER BY c.id",
            )?;
            st.query_map([account_id], |r| {
                Ok(LiveRow {
                    channel_id: r.get(0)?,
                    pts: r.get(1)?,
                    member: r.get(2)?,
                })
            })?
            .collect()
        })
    }

    fn note_channel_seen(
        &mut self,
        channel_id: i64,
        pts: Option<i32>,
        member: Option<bool>,
    ) -> Result<(), StoreError> {
        if pts.is_none() && member.is_none() {
            return Ok(());
        }
        self.write("record a channel's update state", |tx| {
            tx.execute(
                "INSERT INTO channel_live (channel_id, pts, member, updated_at)
                 SELECT ?1, ?2, ?3, ?4 WHERE EXISTS (SELECT 1 FROM channels WHERE id = ?1)
                 ON CONFLICT (channel_id) DO UPDATE SET pts = coalesce(channel_live.pts, excluded.pts),
                        member = coalesce(excluded.member, channel_live.member), updated_at = excluded.updated_at",
                params![channel_id, pts.filter(|p| *p > 0), member, unix_now()],
            )
            .map(|_| ())
        })
    }

    fn set_member(&mut self, channel_id: i64, member: bool) -> Result<(), StoreError> {
        self.write("record channel membership", |tx| {
            tx.execute(
                "INSERT INTO channel_live (channel_id, member, updated_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (channel_id) DO UPDATE SET member = excluded.member, updated_at = excluded.updated_at",
                params![channel_id, member, unix_now()],
            )
            .map(|_| ())
        })
    }

    fn apply_live(&mut self, batches: &[LiveBatch]) -> Result<Vec<LiveOutcome>, StoreError> {
        let n: usize = batches.iter().map(|b| b.changes.len()).sum();
        let what = format!("store {n} live updates of {} channels", batches.len());
        self.write(&what, |tx| {
            let (now, now_ms) = (unix_now(), unix_ms());
            batches
                .iter()
                .map(|b| apply_one(tx, b, now, now_ms))
                .collect()
        })
    }
}

fn apply_one(
    tx: &Transaction<'_>,
    b: &LiveBatch,
    now: i64,
    now_ms: i64,
) -> rusqlite::Result<LiveOutcome> {
    let mut out = LiveOutcome {
        channel_id: b.channel_id,
        ..Default::default()
    };
    let checkpoint: Option<i32> = tx
        .prepare_cached("SELECT last_message_id FROM channels WHERE id = ?1")?
        .query_row([b.channel_id], |r| r.get(0))
        .optional()?;
    let Some(start) = checkpoint else {
        out.gone = true;
        return Ok(out);
    };
    let mut known: HashSet<i32> = HashSet::new();
    let watching = super::channels::watching(tx)?;
    for change in &b.changes {
        match change {
            LiveChange::New { id, post } => {
                known.insert(*id);
                if let Some(p) = post {
                    match write_post(tx, b.channel_id, p, true, now, now_ms, watching)? {
                        PostWrite::Inserted => out.inserted.push((p.message_id, p.date)),
                        PostWrite::Edited => out.edited += 1,
                        PostWrite::Unchanged | PostWrite::Ignored => {}
                    }
                }
            }
            LiveChange::Edit(p) => {
                let insert = p.message_id > start;
                match write_post(tx, b.channel_id, p, insert, now, now_ms, watching)? {
                    PostWrite::Inserted => out.inserted.push((p.message_id, p.date)),
                    PostWrite::Edited => out.edited += 1,
                    PostWrite::Unchanged | PostWrite::Ignored => {}
                }
            }
            LiveChange::Delete(ids) => {
                for &id in ids {
                    let marked = tx
                        .prepare_cached(
                            "UPDATE posts SET deleted_at = ?3
                             WHERE channel_id = ?1 AND message_id = ?2 AND deleted_at IS NULL",
                        )?
                        .execute(params![b.channel_id, id, now])?;
                    out.deleted += marked;
                    if marked == 0 && id > start {
                        // Not stored (yet): a page on its way must not bring it back undeleted.
                        tx.prepare_cached(
                            "INSERT OR IGNORE INTO message_deletions (channel_id, message_id, deleted_at)
                             SELECT ?1, ?2, ?3 WHERE NOT EXISTS
                               (SELECT 1 FROM posts WHERE channel_id = ?1 AND message_id = ?2)",
                        )?
                        .execute(params![b.channel_id, id, now])?;
                    }
                }
            }
        }
    }
    // The checkpoint moves across ids known to be stored or not posts, one by one.
    let newest_stored: Option<i32> = tx
        .prepare_cached("SELECT max(message_id) FROM posts WHERE channel_id = ?1")?
        .query_row([b.channel_id], |r| r.get(0))?;
    let top = known
        .iter()
        .copied()
        .max()
        .unwrap_or(0)
        .max(newest_stored.unwrap_or(0));
    let mut at = start;
    let mut stored = tx.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM posts WHERE channel_id = ?1 AND message_id = ?2)",
    )?;
    while at < top {
        let next = at + 1;
        if known.contains(&next) || stored.query_row(params![b.channel_id, next], |r| r.get(0))? {
            at = next;
        } else {
            break;
        }
    }
    out.checkpoint = at;
    out.hole = top > at;
    if at > start {
        tx.prepare_cached(
            "UPDATE channels SET last_message_id = max(last_message_id, ?2) WHERE id = ?1",
        )?
        .execute(params![b.channel_id, at])?;
        // The ids pushed are fetched from the server too: extend the range that ends at the old
        // checkpoint (one row per channel in steady state, not one per post). The checkpoint moves
        // only across known messages, so each id it passes counts as answered.
        let extended = tx
            .prepare_cached(
                "UPDATE fetched_ranges SET to_id = ?3, fetched_at = ?4, answered = answered + (?3 - to_id) WHERE id =
                   (SELECT id FROM fetched_ranges WHERE channel_id = ?1 AND to_id = ?2 ORDER BY id DESC LIMIT 1)",
            )?
            .execute(params![b.channel_id, start, at, now])?;
        if extended == 0 {
            tx.prepare_cached(
                "INSERT INTO fetched_ranges (channel_id, from_id, to_id, fetched_at) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![b.channel_id, start + 1, at, now])?;
        }
        forget_deletions_below(tx, b.channel_id)?;
    }
    if let Some(pts) = b.pts.filter(|p| *p > 0) {
        tx.prepare_cached(
            "INSERT INTO channel_live (channel_id, pts, updated_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (channel_id) DO UPDATE SET pts = excluded.pts, updated_at = excluded.updated_at",
        )?
        .execute(params![b.channel_id, pts, now])?;
    }
    Ok(out)
}
