//! [`CountStore`] on PostgreSQL: the rules are the trait's (`crate::model::counts`), the SQL is here.

use super::PgBackend;
use crate::StoreError;
use crate::model::counts::*;

impl CountStore for PgBackend {
    fn counts_due(
        &self,
        channel_id: i64,
        schedule: &[RefreshStep],
        now: i64,
        limit: usize,
    ) -> Result<Vec<i32>, StoreError> {
        let Some(sql) = due_sql(schedule, ["$1", "$2::bigint", "$3::bigint"]) else {
            return Ok(Vec::new());
        };
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows: Vec<(i32, bool)> = self.tx("list posts whose counters are due", async |tx| {
            Ok(tx
                .query(&sql, &[&channel_id, &now, &limit])
                .await?
                .iter()
                .map(|r| (super::channels::narrow(r.get(0)), r.get(1)))
                .collect())
        })?;
        Ok(due_with_company(rows))
    }

    fn record_counts(
        &mut self,
        channel_id: i64,
        counts: &[CountsIn],
        now: i64,
    ) -> Result<usize, StoreError> {
        let ids: Vec<i64> = counts.iter().map(|c| i64::from(c.message_id)).collect();
        self.tx("record fresh counters", async |tx| {
            let rows = tx
                .query(
                    "SELECT message_id, id, views, forwards, replies, reactions, counts_at FROM posts
                     WHERE channel_id = $1 AND message_id = ANY($2) FOR UPDATE",
                    &[&channel_id, &ids],
                )
                .await?;
            let mut changed = 0;
            for fresh in counts {
                let Some(r) = rows
                    .iter()
                    .find(|r| r.get::<_, i64>(0) == i64::from(fresh.message_id))
                else {
                    continue;
                };
                let (id, counts_at): (i64, Option<i64>) = (r.get(1), r.get(6));
                let stored_reactions: Option<String> = r.get(5);
                let ((v, f, rp, re), moved) = merge(
                    (r.get(2), r.get(3), r.get(4), stored_reactions.as_deref()),
                    fresh,
                );
                tx.execute(
                    "UPDATE posts SET views = $2, forwards = $3, replies = $4, reactions = $5,
                            counts_at = $6, replies_max_id = GREATEST(replies_max_id, $7)
                     WHERE id = $1",
                    &[&id, &v, &f, &rp, &re, &now, &fresh.replies_max_id.map(i64::from)],
                )
                .await?;
                if moved || counts_at.is_none() {
                    changed += usize::from(moved);
                    tx.execute(
                        "INSERT INTO post_counts (post_id, at, views, forwards, replies, reactions)
                         VALUES ($1, $2, $3, $4, $5, $6)
                         ON CONFLICT (post_id, at) DO UPDATE SET views = excluded.views,
                             forwards = excluded.forwards, replies = excluded.replies,
                             reactions = excluded.reactions",
                        &[&id, &now, &v, &f, &rp, &re],
                    )
                    .await?;
                }
            }
            Ok(changed)
        })
    }

    fn count_history(&self, post_id: i64) -> Result<Vec<CountRow>, StoreError> {
        self.tx("read a post's counter history", async |tx| {
            Ok(tx
                .query(
                    "SELECT at, views, forwards, replies, reactions FROM post_counts
                     WHERE post_id = $1 ORDER BY at",
                    &[&post_id],
                )
                .await?
                .iter()
                .map(|r| CountRow {
                    at: r.get(0),
                    views: r.get(1),
                    forwards: r.get(2),
                    replies: r.get(3),
                    reactions: r.get(4),
                })
                .collect())
        })
    }
}
