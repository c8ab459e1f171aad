//! [`CountStore`] on SQLite: the rules are the trait's (`crate::model::counts`), the SQL is here.

use rusqlite::{OptionalExtension, params};

use crate::model::counts::*;
use crate::{SqliteStore, StoreError};

impl CountStore for SqliteStore {
    fn counts_due(
        &self,
        channel_id: i64,
        schedule: &[RefreshStep],
        now: i64,
        limit: usize,
    ) -> Result<Vec<i32>, StoreError> {
        let Some(sql) = due_sql(schedule, ["?1", "?2", "?3"]) else {
            return Ok(Vec::new());
        };
        let rows: Vec<(i32, bool)> = self.read("list posts whose counters are due", |c| {
            c.prepare_cached(&sql)?
                .query_map(
                    params![channel_id, now, i64::try_from(limit).unwrap_or(i64::MAX)],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )?
                .collect()
        })?;
        Ok(due_with_company(rows))
    }

    fn record_counts(
        &mut self,
        channel_id: i64,
        counts: &[CountsIn],
        now: i64,
    ) -> Result<usize, StoreError> {
        self.write("record fresh counters", |tx| {
            let mut changed = 0;
            for fresh in counts {
                type Stored = (
                    i64,
                    Option<i64>,
                    Option<i64>,
                    Option<i64>,
                    Option<String>,
                    Option<i64>,
                );
                let row: Option<Stored> = tx
                    .prepare_cached(
                        "SELECT id, views, forwards, replies, reactions, counts_at FROM posts
                         WHERE channel_id = ?1 AND message_id = ?2",
                    )?
                    .query_row(params![channel_id, fresh.message_id], |r| {
                        Ok((
                            r.get(0)?,
                            r.get(1)?,
                            r.get(2)?,
                            r.get(3)?,
                            r.get(4)?,
                            r.get(5)?,
                        ))
                    })
                    .optional()?;
                let Some((id, views, forwards, replies, reactions, counts_at)) = row else {
                    continue;
                };
                let ((v, f, r, re), moved) =
                    merge((views, forwards, replies, reactions.as_deref()), fresh);
                tx.prepare_cached(
                    "UPDATE posts SET views = ?2, forwards = ?3, replies = ?4, reactions = ?5,
                            counts_at = ?6,
                            replies_max_id = coalesce(max(replies_max_id, ?7), ?7, replies_max_id)
                     WHERE id = ?1",
                )?
                .execute(params![id, v, f, r, re, now, fresh.replies_max_id])?;
                if moved || counts_at.is_none() {
                    changed += usize::from(moved);
                    tx.prepare_cached(
                        "INSERT INTO post_counts (post_id, at, views, forwards, replies, reactions)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                         ON CONFLICT (post_id, at) DO UPDATE SET views = excluded.views,
                             forwards = excluded.forwards, replies = excluded.replies,
                             reactions = excluded.reactions",
                    )?
                    .execute(params![id, now, v, f, r, re])?;
                }
            }
            Ok(changed)
        })
    }

    fn count_history(&self, post_id: i64) -> Result<Vec<CountRow>, StoreError> {
        self.read("read a post's counter history", |c| {
            c.prepare_cached(
                "SELECT at, views, forwards, replies, reactions FROM post_counts
                 WHERE post_id = ?1 ORDER BY at",
            )?
            .query_map([post_id], |r| {
                Ok(CountRow {
                    at: r.get(0)?,
                    views: r.get(1)?,
                    forwards: r.get(2)?,
                    replies: r.get(3)?,
                    reactions: r.get(4)?,
                })
            })?
            .collect()
        })
    }
}
