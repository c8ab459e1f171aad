//! [`TrendStore`] on PostgreSQL: the tags of the posts of a period, as on SQLite
//! (`src/store/trends.rs`); tags are ordered byte-wise (`COLLATE "C"`), as SQLite orders them.

use super::PgBackend;
use crate::{StoreError, TrendStore};

impl TrendStore for PgBackend {
    fn tags_between(
        &self,
        channel_ids: Option<&[i64]>,
        from: i64,
        to: i64,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        let ids: Option<Vec<i64>> = channel_ids.map(<[i64]>::to_vec);
        self.tx("read the tags of a period", async |tx| {
            Ok(tx
                .query(
                    "SELECT t.post_id, t.tag FROM post_tags t JOIN posts p ON p.id = t.post_id
                     WHERE p.date >= $2 AND p.date < $3
                       AND ($1::bigint[] IS NULL OR p.channel_id = ANY($1))
                     ORDER BY t.post_id, t.tag COLLATE \"C\"",
                    &[&ids, &from, &to],
                )
                .await?
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect())
        })
    }

    fn newest_post_date(&self, channel_ids: Option<&[i64]>) -> Result<Option<i64>, StoreError> {
        let ids: Option<Vec<i64>> = channel_ids.map(<[i64]>::to_vec);
        self.tx("read the newest post's date", async |tx| {
            Ok(tx
                .query_one(
                    "SELECT max((SELECT max(p.date) FROM posts p WHERE p.channel_id = c.id))
                     FROM channels c WHERE $1::bigint[] IS NULL OR c.id = ANY($1)",
                    &[&ids],
                )
                .await?
                .get(0))
        })
    }
}
