//! [`LiveStore`] on PostgreSQL: each channel's update state, and pushed changes applied with the pts
//! they bring the channel to, in one transaction — with the same checkpoint rule as SQLite
//! (`src/store/live.rs`): it moves only across ids known to be stored or not posts.

use std::collections::HashSet;

use deadpool_postgres::Transaction;

use super::channels::{forget_deletions_below, narrow, upsert_posts};
use super::{Fail, PgBackend};
use crate::{
    LiveBatch, LiveChange, LiveOutcome, LiveRow, LiveStore, StoreError, unix_ms, unix_now,
};

impl LiveStore for PgBackend {
    fn live_rows(&self, account_id: i64) -> Result<Vec<LiveRow>, StoreError> {
        self.tx("read live state", async |tx| {
            Ok(tx
                .query(
                    "SELECT c.id, l.pts, l.member FROM channels c
                     LEFT JOIN channel_live l ON l.channel_id = c.id
                     WHERE c.account_id = $1 ORDER BY c.id",
                    &[&account_id],
                )
                .await?
                .iter()
                .map(|r| LiveRow {
                    channel_id: r.get(0),
                    pts: r.get::<_, Option<i64>>(1).map(narrow),
                    member: r.get(2),
                })
                .collect())
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
        let pts = pts.filter(|p| *p > 0).map(i64::from);
        self.tx("record a channel's update state", async |tx| {
            self.fence_channel(tx, channel_id).await?;
            tx.execute(
                "INSERT INTO channel_live (channel_id, pts, member, updated_at)
                 SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT 1 FROM channels WHERE id = $1)
                 ON CONFLICT (channel_id) DO UPDATE SET pts = coalesce(channel_live.pts, excluded.pts),
                        member = coalesce(excluded.member, channel_live.member),
                        updated_at = excluded.updated_at",
                &[&channel_id, &pts, &member, &unix_now()],
            )
            .await?;
            Ok(())
        })
    }

    fn set_member(&mut self, channel_id: i64, member: bool) -> Result<(), StoreError> {
        self.tx("record channel membership", async |tx| {
            tx.execute(
                "INSERT INTO channel_live (channel_id, member, updated_at) VALUES ($1, $2, $3)
                 ON CONFLICT (channel_id) DO UPDATE SET member = excluded.member,
                        updated_at = excluded.updated_at",
                &[&channel_id, &member, &unix_now()],
            )
            .await?;
            Ok(())
        })
    }

    fn apply_live(&mut self, batches: &[LiveBatch]) -> Result<Vec<LiveOutcome>, StoreError> {
        let n: usize = batches.iter().map(|b| b.changes.len()).sum();
        let what = format!("store {n} live updates of {} channels", batches.len());
        let (now, now_ms) = (unix_now(), unix_ms());
        self.tx(&what, async |tx| {
            let mut out = Vec::with_capacity(batches.len());
            for b in batches {
                self.fence_channel(tx, b.channel_id).await?;
                out.push(apply_one(tx, b, now, now_ms).await?);
            }
            Ok(out)
        })
    }
}

async fn apply_one(
    tx: &Transaction<'_>,
    b: &LiveBatch,
    now: i64,
    now_ms: i64,
) -> Result<LiveOutcome, Fail> {
    let mut out = LiveOutcome {
        channel_id: b.channel_id,
        ..Default::default()
    };
    let Some(start) = tx
        .query_opt(
            "SELECT last_message_id FROM channels WHERE id = $1",
            &[&b.channel_id],
        )
        .await?
        .map(|r| narrow(r.get(0)))
    else {
        out.gone = true;
        return Ok(out);
    };
    let mut known: HashSet<i32> = HashSet::new();
    for change in &b.changes {
        match change {
            LiveChange::New { id, post } => {
                known.insert(*id);
                if let Some(p) = post {
                    let done = upsert_posts(tx, b.channel_id, &[p], true, now, now_ms).await?;
                    if done.inserted.contains(&p.message_id) {
                        out.inserted.push((p.message_id, p.date));
                    }
                    out.edited += done.edited.len();
                }
            }
            LiveChange::Edit(p) => {
                let insert = p.message_id > start;
                let done = upsert_posts(tx, b.channel_id, &[p], insert, now, now_ms).await?;
                if done.inserted.contains(&p.message_id) {
                    out.inserted.push((p.message_id, p.date));
                }
                out.edited += done.edited.len();
            }
            LiveChange::Delete(ids) => {
                let ids: Vec<i64> = ids.iter().map(|&id| i64::from(id)).collect();
                let marked: HashSet<i64> = tx
                    .query(
                        "UPDATE posts SET deleted_at = $3
                         WHERE channel_id = $1 AND message_id = ANY($2) AND deleted_at IS NULL
                         RETURNING message_id",
                        &[&b.channel_id, &ids, &now],
                    )
                    .await?
                    .iter()
                    .map(|r| r.get(0))
                    .collect();
                out.deleted += marked.len();
                // Not stored (yet), above the checkpoint: a page on its way must not bring it back
                // undeleted.
                let pending: Vec<i64> = ids
                    .iter()
                    .copied()
                    .filter(|id| !marked.contains(id) && *id > i64::from(start))
                    .collect();
                if !pending.is_empty() {
                    tx.execute(
                        "INSERT INTO message_deletions (channel_id, message_id, deleted_at)
                         SELECT $1, m, $3 FROM unnest($2::bigint[]) AS m
                         WHERE NOT EXISTS (SELECT 1 FROM posts WHERE channel_id = $1 AND message_id = m)
                         ON CONFLICT DO NOTHING",
                        &[&b.channel_id, &pending, &now],
                    )
                    .await?;
                }
            }
        }
    }
    // The checkpoint moves across ids known to be stored or not posts, one by one.
    let stored: HashSet<i32> = tx
        .query(
            "SELECT message_id FROM posts WHERE channel_id = $1 AND message_id > $2",
            &[&b.channel_id, &i64::from(start)],
        )
        .await?
        .iter()
        .map(|r| narrow(r.get(0)))
        .collect();
    let top = known
        .iter()
        .chain(stored.iter())
        .copied()
        .max()
        .unwrap_or(0);
    let mut at = start;
    while at < top && (known.contains(&(at + 1)) || stored.contains(&(at + 1))) {
        at += 1;
    }
    out.checkpoint = at;
    out.hole = top > at;
    if at > start {
        tx.execute(
            "UPDATE channels SET last_message_id = greatest(last_message_id, $2) WHERE id = $1",
            &[&b.channel_id, &i64::from(at)],
        )
        .await?;
        // The pushed ids count as fetched: extend the range that ends at the old checkpoint.
        let extended = tx
            .execute(
                "UPDATE fetched_ranges SET to_id = $3, fetched_at = $4, answered = answered + ($3 - to_id)
                 WHERE id =
                   (SELECT id FROM fetched_ranges WHERE channel_id = $1 AND to_id = $2
                    ORDER BY id DESC LIMIT 1)",
                &[&b.channel_id, &i64::from(start), &i64::from(at), &now],
            )
            .await?;
        if extended == 0 {
            tx.execute(
                "INSERT INTO fetched_ranges (channel_id, from_id, to_id, fetched_at)
                 VALUES ($1, $2, $3, $4)",
                &[&b.channel_id, &i64::from(start + 1), &i64::from(at), &now],
            )
            .await?;
        }
        forget_deletions_below(tx, b.channel_id).await?;
    }
    if let Some(pts) = b.pts.filter(|p| *p > 0) {
        tx.execute(
            "INSERT INTO channel_live (channel_id, pts, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT (channel_id) DO UPDATE SET pts = excluded.pts, updated_at = excluded.updated_at",
            &[&b.channel_id, &i64::from(pts), &now],
        )
        .await?;
    }
    Ok(out)
}
