//! [`TrendStore`](crate::TrendStore) on SQLite: the rules are the trait's (`crate::model::trends`), the SQL is here.

use rusqlite::params;

use crate::model::trends::*;
use crate::{SqliteStore, StoreError};

impl TrendStore for SqliteStore {
    fn tags_between(
        &self,
        channel_ids: Option<&[i64]>,
        from: i64,
        to: i64,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        let ids = channel_ids.map(|ids| serde_json::to_string(ids).unwrap_or_else(|_| "[]".into()));
        self.read("read the tags of a period", |c| {
            let mut st = c.prepare_cached(
                "SELECT t.post_id, t.tag FROM post_tags t JOIN posts p ON p.id = t.post_id
                 WHERE p.date >= ?2 AND p.date < ?3
                   AND (?1 IS NULL OR p.channel_id IN (SELECT value FROM json_each(?1)))
                 ORDER BY t.post_id, t.tag",
            )?;
            st.query_map(params![ids, from, to], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()
        })
    }

    fn newest_post_date(&self, channel_ids: Option<&[i64]>) -> Result<Option<i64>, StoreError> {
        let ids = channel_ids.map(|ids| serde_json::to_string(ids).unwrap_or_else(|_| "[]".into()));
        self.read("read the newest post's date", |c| {
            // One index probe (channel_id, date) per channel instead of a scan of every post.
            c.prepare_cached(
                "SELECT max((SELECT max(p.date) FROM posts p WHERE p.channel_id = c.id))
                 FROM channels c WHERE ?1 IS NULL OR c.id IN (SELECT value FROM json_each(?1))",
            )?
            .query_row(params![ids], |r| r.get(0))
        })
    }
}
