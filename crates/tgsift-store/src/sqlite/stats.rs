//! [`StatsStore`](crate::StatsStore) on SQLite: the rules are the trait's (`crate::model::stats`), the SQL is here.

use std::collections::BTreeMap;

use rusqlite::params;

use crate::model::stats::*;
use crate::{SqliteStore, StoreError};

/// The posts of the channels in scope dated in `[?2, ?3)`: one index range per channel
/// (`posts_channel_date`), never a scan of every post.
const IN_PERIOD: &str = "p.channel_id IN (SELECT c.id FROM channels c
                          WHERE ?1 IS NULL OR c.id IN (SELECT value FROM json_each(?1)))
     AND p.date >= ?2 AND p.date < ?3 AND p.deleted_at IS NULL";

fn ids_json(channel_ids: Option<&[i64]>) -> Option<String> {
    channel_ids.map(|ids| serde_json::to_string(ids).unwrap_or_else(|_| "[]".into()))
}

impl StatsStore for SqliteStore {
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
    //! SQLite only: the query plan of a period. The counts are tested on both backends in
    //! `conformance::stats`.
    use super::*;

    #[test]
    fn a_period_is_read_through_the_channel_date_index() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = SqliteStore::open(&dir.path().join("t.db")).expect("open");
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
