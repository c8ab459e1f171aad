//! [`StatsStore`] on PostgreSQL: posts per channel and day, tagging statuses of a period, and the
//! posts stored lately — the same figures as the SQLite store (`src/store/stats.rs`).

use std::collections::BTreeMap;

use super::PgBackend;
use crate::{StatsStore, StoreError};

/// The posts of the channels `$1` (all when NULL) dated in `[$2, $3)`, deleted ones left out.
const IN_PERIOD: &str = "($1::bigint[] IS NULL OR p.channel_id = ANY($1))
     AND p.date >= $2 AND p.date < $3 AND p.deleted_at IS NULL";

impl StatsStore for PgBackend {
    fn posts_per_day(
        &self,
        channel_ids: Option<&[i64]>,
        from: i64,
        to: i64,
    ) -> Result<Vec<(i64, i64, i64)>, StoreError> {
        let ids: Option<Vec<i64>> = channel_ids.map(<[i64]>::to_vec);
        self.tx("count posts per day", async |tx| {
            Ok(tx
                .query(
                    &format!(
                        "SELECT p.channel_id, p.date - (p.date % 86400) AS day, count(*) FROM posts p
                         WHERE {IN_PERIOD} GROUP BY p.channel_id, day ORDER BY p.channel_id, day"
                    ),
                    &[&ids, &from, &to],
                )
                .await?
                .iter()
                .map(|r| (r.get(0), r.get(1), r.get(2)))
                .collect())
        })
    }

    fn status_counts(
        &self,
        channel_ids: Option<&[i64]>,
        from: i64,
        to: i64,
    ) -> Result<BTreeMap<String, i64>, StoreError> {
        let ids: Option<Vec<i64>> = channel_ids.map(<[i64]>::to_vec);
        self.tx("count tagging statuses of a period", async |tx| {
            Ok(tx
                .query(
                    &format!(
                        "SELECT p.tagging_status, count(*) FROM posts p WHERE {IN_PERIOD}
                         GROUP BY p.tagging_status"
                    ),
                    &[&ids, &from, &to],
                )
                .await?
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect())
        })
    }

    /// A plain count of the posts whose `stored_at_ms` is in the window (a post without one counts
    /// as stored at 0, as on SQLite, where the binary search over row ids reads it so).
    fn posts_stored_since(&self, since_ms: i64) -> Result<i64, StoreError> {
        self.tx("count the posts stored lately", async |tx| {
            let r = if since_ms <= 0 {
                tx.query_one("SELECT count(*) FROM posts", &[]).await?
            } else {
                tx.query_one(
                    "SELECT count(*) FROM posts WHERE stored_at_ms >= $1",
                    &[&since_ms],
                )
                .await?
            };
            Ok(r.get(0))
        })
    }
}
