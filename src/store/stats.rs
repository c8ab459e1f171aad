//! Counts over a period for `tgsift stats`: posts per channel and day, tagging statuses. Posts deleted
//! in their channel are left out, as in lists and exports.

use std::collections::BTreeMap;

use rusqlite::params;

use super::{Store, StoreError};

/// The posts of the channels in scope dated in `[?2, ?3)`: one index range per channel
/// (`posts_channel_date`), never a scan of every post.
const IN_PERIOD: &str = "p.channel_id IN (SELECT c.id FROM channels c
                          WHERE ?1 IS NULL OR c.id IN (SELECT value FROM json_each(?1)))
     AND p.date >= ?2 AND p.date < ?3 AND p.deleted_at IS NULL";

fn ids_json(channel_ids: Option<&[i64]>) -> Option<String> {
    channel_ids.map(|ids| serde_json::to_string(ids).unwrap_or_else(|_| "[]".into()))
}

/// The figures of `tgsift stats` and the weekly report.
pub trait StatsStore {
    /// `(channel row id, 00:00 UTC of the day, posts)` for the posts dated in `[from, to)` (unix
    /// seconds), of the given channels only when `channel_ids` is set; by channel, then day.
    fn posts_per_day(
        &self,
        channel_ids: Option<&[i64]>,
        from: i64,
        to: i64,
    ) -> Result<Vec<(i64, i64, i64)>, StoreError>;

    /// Posts per tagging status among the posts dated in `[from, to)`, of the given channels only
    /// when `channel_ids` is set.
    fn status_counts(
        &self,
        channel_ids: Option<&[i64]>,
        from: i64,
        to: i64,
    ) -> Result<BTreeMap<String, i64>, StoreError>;

    /// Posts first stored at or after `since_ms` (unix milliseconds), deleted ones included: the
    /// ingest figure of the dashboard. Row ids grow with the time a post was stored, so the first row
    /// stored in the window is found by a binary search over ids (a few point lookups) and the rest is
    /// a count over a rowid range — never a scan of every post.
    fn posts_stored_since(&self, since_ms: i64) -> Result<i64, StoreError>;
}

impl StatsStore for Store {
    fn posts_per_day(
        &self,
        channel_ids: Option<&[i64]>,
        from: i64,
        to: i64,
    ) -> Result<Vec<(i64, i64, i64)>, StoreError> {
        self.read("count posts per day", |c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT p.channel_id, p.date - (p.date % 86400) AS day, count(*) FROM posts p
                 WHERE {IN_PERIOD} GROUP BY p.channel_id, day ORDER BY p.channel_id, day"
            ))?;
            st.query_map(params![ids_json(channel_ids), from, to], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?
            .collect()
        })
    }

    fn status_counts(
        &self,
        channel_ids: Option<&[i64]>,
        from: i64,
        to: i64,
    ) -> Result<BTreeMap<String, i64>, StoreError> {
        self.read("count tagging statuses of a period", |c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT p.tagging_status, count(*) FROM posts p WHERE {IN_PERIOD} GROUP BY p.tagging_status"
            ))?;
            st.query_map(params![ids_json(channel_ids), from, to], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?
            .collect()
        })
    }

    fn posts_stored_since(&self, since_ms: i64) -> Result<i64, StoreError> {
        self.read("count the posts stored lately", |c| {
            let (lo, hi): (Option<i64>, Option<i64>) =
                c.query_row("SELECT min(id), max(id) FROM posts", [], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })?;
            let (Some(mut lo), Some(hi)) = (lo, hi) else {
                return Ok(0);
            };
            let mut st = c.prepare_cached(
                "SELECT id, coalesce(stored_at_ms, 0) FROM posts WHERE id >= ?1 ORDER BY id LIMIT 1",
            )?;
            let mut at = |id: i64| -> rusqlite::Result<(i64, i64)> {
                st.query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
            };
            // The first id whose row was stored in the window; hi + 1 when none was.
            let mut end = hi + 1;
            while lo < end {
                let mid = lo + (end - lo) / 2;
                let (id, stored) = at(mid)?;
                if stored >= since_ms {
                    end = mid.min(id);
                } else {
                    lo = id + 1;
                }
            }
            c.query_row("SELECT count(*) FROM posts WHERE id >= ?1", [lo], |r| {
                r.get(0)
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::prelude::*;
    use crate::store::{NewChannel, PostIn};

    #[test]
    fn posts_are_counted_per_channel_and_utc_day_through_the_index() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut s = Store::open(&dir.path().join("t.db")).expect("open");
        let a = s
            .add_account("a", None, None, std::path::Path::new("a.session"))
            .expect("account");
        let mut ids = Vec::new();
        for tg in [5, 6] {
            let c = NewChannel {
                tg_id: tg,
                access_hash: 1,
                username: None,
                title: "t".into(),
                backfill: "all".into(),
            };
            ids.push(s.add_channel(a.id, &c).expect("add").expect("new").id);
        }
        let day = 1_700_006_400; // 00:00 UTC
        let post = |id: i32, date: i64, text: &str| PostIn {
            message_id: id,
            date,
            edit_date: None,
            text: text.into(),
            views: None,
            forwards: None,
            grouped_id: None,
            has_media: false,
        };
        s.store_batch(
            ids[0],
            "5",
            &[
                post(1, day - 1, "before"),
                post(2, day, "a"),
                post(3, day + 86_399, "b"),
                post(4, day + 86_400, ""),
                post(5, day + 2 * 86_400, "after"),
            ],
            Some((1, 5)),
        )
        .expect("batch");
        s.store_batch(
            ids[1],
            "6",
            &[post(1, day + 10, "c"), post(2, day + 20, "gone")],
            Some((1, 2)),
        )
        .expect("batch");
        s.write("delete one", |tx| {
            tx.execute(
                "UPDATE posts SET deleted_at = 1 WHERE channel_id = ?1 AND message_id = 2",
                [ids[1]],
            )
        })
        .expect("delete");
        let to = day + 2 * 86_400;
        assert_eq!(
            s.posts_per_day(None, day, to).expect("count"),
            vec![
                (ids[0], day, 2),
                (ids[0], day + 86_400, 1),
                (ids[1], day, 1)
            ]
        );
        assert_eq!(
            s.posts_per_day(Some(&ids[1..]), day, to).expect("count"),
            vec![(ids[1], day, 1)]
        );
        let statuses = s.status_counts(None, day, to).expect("statuses");
        assert_eq!(
            statuses.into_iter().collect::<Vec<_>>(),
            vec![("pending".to_owned(), 3), ("skipped".to_owned(), 1)]
        );
        let plan: Vec<String> = s
            .read("plan", |c| {
                let mut st = c.prepare(&format!(
                    "EXPLAIN QUERY PLAN SELECT count(*) FROM posts p WHERE {IN_PERIOD}"
                ))?;
                st.query_map(params![None::<String>, 0, 1], |r| r.get::<_, String>(3))?
                    .collect()
            })
            .expect("plan");
        assert!(
            plan.iter().any(|l| l
                .contains("USING INDEX posts_channel_date (channel_id=? AND date>? AND date<?)")),
            "{plan:?}"
        );
    }

    #[test]
    fn posts_stored_lately_are_counted_from_the_first_one_in_the_window() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut s = Store::open(&dir.path().join("t.db")).expect("open");
        let a = s
            .add_account("a", None, None, std::path::Path::new("a.session"))
            .expect("account");
        let c = NewChannel {
            tg_id: 5,
            access_hash: 1,
            username: None,
            title: "t".into(),
            backfill: "all".into(),
        };
        let ch = s.add_channel(a.id, &c).expect("add").expect("new").id;
        assert_eq!(s.posts_stored_since(0).expect("empty"), 0);
        let posts: Vec<PostIn> = (1..=40)
            .map(|id| PostIn {
                message_id: id,
                date: 1_700_000_000 + i64::from(id),
                edit_date: None,
                text: format!("post {id}"),
                views: None,
                forwards: None,
                grouped_id: None,
                has_media: false,
            })
            .collect();
        s.store_batch(ch, "5", &posts, Some((1, 40)))
            .expect("batch");
        // Stored 1 s apart in id order; a gap in the ids (a removed row) is stepped over.
        s.write("set the times", |tx| {
            tx.execute("UPDATE posts SET stored_at_ms = 1000 * id", [])?;
            tx.execute("UPDATE posts SET stored_at_ms = NULL WHERE id <= 3", [])?;
            tx.execute("DELETE FROM posts WHERE id IN (30, 31)", [])
        })
        .expect("times");
        let ids: Vec<i64> = s
            .read("ids", |c| {
                let mut st = c.prepare("SELECT id FROM posts ORDER BY id")?;
                st.query_map([], |r| r.get(0))?.collect()
            })
            .expect("ids");
        for since in [
            0, 1_000, 4_000, 29_500, 30_000, 31_000, 32_000, 40_000, 41_000,
        ] {
            let expected = ids
                .iter()
                .filter(|id| **id > 3 && **id * 1000 >= since)
                .count() as i64;
            let expected = if since == 0 {
                ids.len() as i64
            } else {
                expected
            };
            assert_eq!(
                s.posts_stored_since(since).expect("count"),
                expected,
                "since {since}"
            );
        }
    }
}
