//! Live mode's side of the store: each channel's update state (pts, membership), and a batch of
//! channel updates — new posts, edits, deletions — applied in one transaction together with the pts
//! they bring each channel to.
//!
//! The pts is written in the same transaction as the posts it covers, so after a crash at any instant
//! the stored pts never claims an event whose effect is missing: a restart asks Telegram for the
//! difference from there and nothing is lost (re-applying an event is harmless: posts are upserted).
//!
//! Pushed posts never skip the checkpoint over ids nobody fetched: the checkpoint moves only across
//! ids that are known (stored posts, service messages in the batch), one by one. A post above a hole
//! is stored and the hole is reported, for the poller to fetch the range.

use std::collections::HashSet;

use rusqlite::{OptionalExtension, Transaction, params};

use super::channels::{PostWrite, forget_deletions_below, write_post};
use super::{PostIn, Store, StoreError, unix_ms, unix_now};

/// A channel's update state as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveRow {
    /// Channel row id.
    pub channel_id: i64,
    /// Every event up to this pts is applied; `None` = not known yet.
    pub pts: Option<i32>,
    /// Whether the account is a member (gets pushes); `None` = not known yet.
    pub member: Option<bool>,
}

/// One change an update brings to a channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LiveChange {
    /// A new message: a post, or a service message (`post: None`) that only takes its id.
    New { id: i32, post: Option<PostIn> },
    /// An edited post (inserted when it is above the checkpoint and not stored yet).
    Edit(PostIn),
    /// Deleted message ids.
    Delete(Vec<i32>),
}

/// The updates of one channel to apply together, and the pts they bring it to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveBatch {
    /// Channel row id.
    pub channel_id: i64,
    /// In pts order.
    pub changes: Vec<LiveChange>,
    /// The channel's pts after them (`None`: leave it).
    pub pts: Option<i32>,
}

/// What applying one channel's batch did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LiveOutcome {
    /// Channel row id.
    pub channel_id: i64,
    /// New posts stored: (message id, date).
    pub inserted: Vec<(i32, i64)>,
    /// Posts whose text changed (old text kept, re-queued for tagging).
    pub edited: usize,
    /// Posts marked deleted.
    pub deleted: usize,
    /// The checkpoint after the batch.
    pub checkpoint: i32,
    /// Messages above the checkpoint are known but some id between is not: a range to fetch.
    pub hole: bool,
    /// The channel is no longer followed (removed meanwhile): nothing was written.
    pub gone: bool,
}

/// Live mode: each channel's update state and the pushed changes written with it.
pub trait LiveStore {
    /// The update state of every channel of an account (channels without one get `None`s).
    fn live_rows(&self, account_id: i64) -> Result<Vec<LiveRow>, StoreError>;

    /// Records what a poll learned about a channel: its pts (kept only when none is known — the
    /// live task's own pts is newer or equal) and whether the account is a member.
    fn note_channel_seen(
        &mut self,
        channel_id: i64,
        pts: Option<i32>,
        member: Option<bool>,
    ) -> Result<(), StoreError>;

    /// Sets whether the account is a member of the channel (after `channels add --join`).
    fn set_member(&mut self, channel_id: i64, member: bool) -> Result<(), StoreError>;

    /// Applies channel updates in one transaction: posts upserted, edits versioned, deletions
    /// marked, checkpoints moved across known ids only, and each channel's pts recorded with them.
    fn apply_live(&mut self, batches: &[LiveBatch]) -> Result<Vec<LiveOutcome>, StoreError>;
}

impl LiveStore for Store {
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
    for change in &b.changes {
        match change {
            LiveChange::New { id, post } => {
                known.insert(*id);
                if let Some(p) = post {
                    match write_post(tx, b.channel_id, p, true, now, now_ms)? {
                        PostWrite::Inserted => out.inserted.push((p.message_id, p.date)),
                        PostWrite::Edited => out.edited += 1,
                        PostWrite::Unchanged | PostWrite::Ignored => {}
                    }
                }
            }
            LiveChange::Edit(p) => {
                let insert = p.message_id > start;
                match write_post(tx, b.channel_id, p, insert, now, now_ms)? {
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
        // checkpoint (one row per channel in steady state, not one per post).
        let extended = tx
            .prepare_cached(
                "UPDATE fetched_ranges SET to_id = ?3, fetched_at = ?4 WHERE id =
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::NewChannel;
    use crate::store::prelude::*;

    fn post(id: i32, text: &str, edit: Option<i64>) -> PostIn {
        PostIn {
            message_id: id,
            date: 1_700_000_000 + i64::from(id),
            edit_date: edit,
            text: text.into(),
            views: None,
            forwards: None,
            grouped_id: None,
            has_media: false,
        }
    }

    fn new(id: i32, text: &str) -> LiveChange {
        LiveChange::New {
            id,
            post: Some(post(id, text, None)),
        }
    }

    fn setup() -> (tempfile::TempDir, Store, i64) {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut s = Store::open(&dir.path().join("t.db")).expect("open");
        let a = s
            .add_account("a", None, None, std::path::Path::new("a.session"))
            .expect("account");
        let ch = s
            .add_channel(
                a.id,
                &NewChannel {
                    tg_id: 5,
                    access_hash: 7,
                    username: Some("news".into()),
                    title: "News".into(),
                    backfill: "all".into(),
                },
            )
            .expect("add")
            .expect("new");
        (dir, s, ch.id)
    }

    fn batch(ch: i64, changes: Vec<LiveChange>, pts: i32) -> LiveBatch {
        LiveBatch {
            channel_id: ch,
            changes,
            pts: Some(pts),
        }
    }

    fn deleted(s: &Store, ch: i64) -> Vec<i32> {
        s.read("deleted", |c| {
            let mut st = c.prepare(
                "SELECT message_id FROM posts WHERE channel_id = ?1 AND deleted_at IS NOT NULL ORDER BY message_id",
            )?;
            st.query_map([ch], |r| r.get(0))?.collect()
        })
        .expect("read")
    }

    #[test]
    fn pushed_posts_move_the_checkpoint_only_across_known_ids() {
        let (_d, mut s, ch) = setup();
        s.store_batch(
            ch,
            "@news",
            &[post(1, "a", None), post(2, "b", None)],
            Some((1, 2)),
        )
        .expect("backfill");
        // 3 is a post, 4 a service message: both contiguous.
        let out = s
            .apply_live(&[batch(
                ch,
                vec![new(3, "c"), LiveChange::New { id: 4, post: None }],
                10,
            )])
            .expect("apply");
        assert_eq!(out[0].inserted, vec![(3, 1_700_000_003)]);
        assert_eq!((out[0].checkpoint, out[0].hole), (4, false));
        // 6 arrives but 5 was never seen: stored, the checkpoint stays, a hole is reported.
        let out = s
            .apply_live(&[batch(ch, vec![new(6, "f")], 11)])
            .expect("apply");
        assert_eq!((out[0].checkpoint, out[0].hole), (4, true));
        assert_eq!(
            s.channel(ch).expect("read").expect("row").last_message_id,
            4
        );
        assert_eq!(s.message_ids(ch).expect("ids"), vec![1, 2, 3, 6]);
        // The poller fills the hole: the checkpoint passes 5 and 6.
        s.store_batch(
            ch,
            "@news",
            &[post(5, "e", None), post(6, "f", None)],
            Some((5, 6)),
        )
        .expect("fill");
        let out = s
            .apply_live(&[batch(ch, vec![new(7, "g")], 12)])
            .expect("apply");
        assert_eq!((out[0].checkpoint, out[0].hole), (7, false));
        assert_eq!(s.fetched_ranges(ch).expect("ranges"), vec![(1, 7)]);
        assert_eq!(
            s.live_rows(s.channel(ch).expect("r").expect("r").account_id)
                .expect("live")[0]
                .pts,
            Some(12)
        );
        // The same updates again (a difference replaying them): nothing twice.
        let out = s
            .apply_live(&[batch(ch, vec![new(6, "f"), new(7, "g")], 12)])
            .expect("again");
        assert!(out[0].inserted.is_empty());
        assert_eq!(s.message_ids(ch).expect("ids"), vec![1, 2, 3, 5, 6, 7]);
    }

    #[test]
    fn edits_keep_the_old_text_and_stale_pages_do_not_bring_it_back() {
        let (_d, mut s, ch) = setup();
        s.store_batch(ch, "@news", &[post(1, "first", None)], Some((1, 1)))
            .expect("backfill");
        s.write("tag it", |tx| {
            tx.execute("UPDATE posts SET tagging_status = 'success', tagged_at_ms = 5", [])?;
            tx.execute(
                "INSERT INTO post_tags (post_id, tag, score, source) SELECT id, 'x', 1.0, 't' FROM posts",
                [],
            )
        })
        .expect("tag");
        let out = s
            .apply_live(&[batch(
                ch,
                vec![LiveChange::Edit(post(1, "second", Some(1_800_000_000)))],
                3,
            )])
            .expect("edit");
        assert_eq!(out[0].edited, 1);
        // A page fetched before the edit and written after it: ignored.
        let stale = s
            .store_batch(ch, "@news", &[post(1, "first", None)], None)
            .expect("stale");
        assert_eq!((stale.edited, stale.unchanged), (0, 1));
        let (text, status, tags, tagged): (String, String, i64, Option<i64>) = s
            .read("post", |c| {
                c.query_row(
                    "SELECT text, tagging_status, (SELECT count(*) FROM post_tags), tagged_at_ms FROM posts",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
            })
            .expect("read");
        assert_eq!(
            (text.as_str(), status.as_str(), tags, tagged),
            ("second", "pending", 0, None)
        );
        let id: i64 = s
            .read("id", |c| {
                c.query_row("SELECT id FROM posts", [], |r| r.get(0))
            })
            .expect("id");
        assert_eq!(
            s.post_versions(id).expect("versions"),
            vec![(
                "first".to_string(),
                None,
                s.post_versions(id).expect("v")[0].2
            )]
        );
        // A second edit keeps both earlier texts, oldest first.
        s.apply_live(&[batch(
            ch,
            vec![LiveChange::Edit(post(1, "third", Some(1_800_000_100)))],
            4,
        )])
        .expect("edit again");
        let texts: Vec<String> = s
            .post_versions(id)
            .expect("versions")
            .into_iter()
            .map(|v| v.0)
            .collect();
        assert_eq!(texts, vec!["first", "second"]);
    }

    #[test]
    fn deletions_mark_posts_and_reach_posts_stored_after_them() {
        let (_d, mut s, ch) = setup();
        s.store_batch(
            ch,
            "@news",
            &[post(1, "a", None), post(2, "b", None)],
            Some((1, 2)),
        )
        .expect("backfill");
        // 2 is stored; 5 is above the checkpoint and not stored yet.
        let out = s
            .apply_live(&[batch(ch, vec![LiveChange::Delete(vec![2, 5])], 7)])
            .expect("delete");
        assert_eq!(out[0].deleted, 1);
        // The page holding 5 was fetched before the deletion and is written after it.
        s.store_batch(
            ch,
            "@news",
            &[post(3, "c", None), post(4, "d", None), post(5, "e", None)],
            Some((3, 5)),
        )
        .expect("late page");
        assert_eq!(deleted(&s, ch), vec![2, 5]);
        assert_eq!(
            s.message_ids(ch).expect("ids"),
            vec![1, 2, 3, 4, 5],
            "rows are kept"
        );
        let tombstones: i64 = s
            .read("n", |c| {
                c.query_row("SELECT count(*) FROM message_deletions", [], |r| r.get(0))
            })
            .expect("n");
        assert_eq!(tombstones, 0, "forgotten once the checkpoint passed them");
    }

    #[test]
    fn complete_pages_mark_stored_posts_they_lack_as_deleted() {
        let (_d, mut s, ch) = setup();
        let all: Vec<PostIn> = (1..=6).map(|i| post(i, "x", None)).collect();
        s.store_batch(ch, "@news", &all, Some((1, 6)))
            .expect("backfill");
        // A refetch of 1..=6 without 2 and 5; a newest page spanning 3..=6 without 4.
        let again: Vec<PostIn> = [1, 3, 4, 6].iter().map(|&i| post(i, "x", None)).collect();
        let out = s
            .store_batch(ch, "@news", &again, Some((1, 6)))
            .expect("reparse");
        assert_eq!(out.deleted, 2);
        let page: Vec<PostIn> = [3, 6].iter().map(|&i| post(i, "x", None)).collect();
        let out = s
            .store_page(ch, "@news", &page, None, Some((3, 6)))
            .expect("refresh");
        assert_eq!(out.deleted, 1);
        assert_eq!(deleted(&s, ch), vec![2, 4, 5]);
    }

    #[test]
    fn a_removed_channel_is_skipped_and_polls_keep_the_live_pts() {
        let (_d, mut s, ch) = setup();
        let account = s.channel(ch).expect("r").expect("r").account_id;
        s.note_channel_seen(ch, Some(40), Some(true)).expect("seen");
        s.apply_live(&[batch(ch, vec![], 45)]).expect("pts");
        s.note_channel_seen(ch, Some(41), None).expect("seen again");
        assert_eq!(
            s.live_rows(account).expect("rows"),
            vec![LiveRow {
                channel_id: ch,
                pts: Some(45),
                member: Some(true)
            }]
        );
        s.remove_channel(ch).expect("remove");
        let out = s
            .apply_live(&[batch(ch, vec![new(1, "a")], 46)])
            .expect("apply");
        assert!(out[0].gone);
        s.note_channel_seen(ch, Some(1), Some(true))
            .expect("no row for a removed channel");
    }
}
