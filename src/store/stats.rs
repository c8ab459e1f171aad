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

impl Store {
    /// `(channel row id, 00:00 UTC of the day, posts)` for the posts dated in `[from, to)` (unix
    /// seconds), of the given channels only when `channel_ids` is set; by channel, then day.
    pub fn posts_per_day(
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

    /// Posts per tagging status among the posts dated in `[from, to)`, of the given channels only
    /// when `channel_ids` is set.
    pub fn status_counts(
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
}

#[cfg(test)]
mod tests {
    use super::*;
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
}
