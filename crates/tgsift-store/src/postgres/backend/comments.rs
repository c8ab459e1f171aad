//! [`CommentStore`] on PostgreSQL: the rules are the trait's (`crate::model::comments`), the
//! statements are here.

use deadpool_postgres::Transaction;

use super::channels::narrow;
use super::{Fail, PgBackend};
use crate::StoreError;
use crate::model::comments::*;

impl CommentStore for PgBackend {
    fn set_channel_comments(&mut self, channel_id: i64, on: bool) -> Result<bool, StoreError> {
        self.tx("set a channel's comments", async |tx| {
            Ok(tx
                .execute(
                    "UPDATE channels SET comments = $2 WHERE id = $1",
                    &[&channel_id, &on],
                )
                .await?
                == 1)
        })
    }

    fn set_discussion(&mut self, channel_id: i64, group: (i64, i64)) -> Result<(), StoreError> {
        self.tx("record a channel's discussion group", async |tx| {
            tx.execute(
                "UPDATE channels SET linked_chat_id = $2, linked_access_hash = $3 WHERE id = $1",
                &[&channel_id, &group.0, &group.1],
            )
            .await?;
            Ok(())
        })
    }

    fn comment_channels(
        &self,
        account_id: i64,
        all: bool,
    ) -> Result<Vec<CommentChannel>, StoreError> {
        self.tx("list channels whose comments are read", async |tx| {
            Ok(tx
                .query(
                    "SELECT id, linked_chat_id, linked_access_hash FROM channels
                     WHERE account_id = $1 AND active AND (comments OR $2) ORDER BY id",
                    &[&account_id, &all],
                )
                .await?
                .iter()
                .map(|r| CommentChannel {
                    channel_id: r.get(0),
                    group: r
                        .get::<_, Option<i64>>(1)
                        .map(|g| (g, r.get::<_, Option<i64>>(2).unwrap_or(0))),
                })
                .collect())
        })
    }

    fn threads_due(&self, channel_id: i64, limit: usize) -> Result<Vec<ThreadDue>, StoreError> {
        let sql = threads_due_sql("$1", "$2");
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.tx("list comment threads that are due", async |tx| {
            Ok(tx
                .query(&sql, &[&channel_id, &limit])
                .await?
                .iter()
                .map(|r| ThreadDue {
                    post_id: r.get(0),
                    message_id: narrow(r.get(1)),
                    replies: narrow(r.get(2)),
                    stored_max_id: narrow(r.get(3)),
                    stored: r.get(4),
                })
                .collect())
        })
    }

    fn store_comments(
        &mut self,
        post_id: i64,
        comments: &[CommentIn],
        read: Option<ThreadRead>,
        now: i64,
    ) -> Result<usize, StoreError> {
        self.tx("store comments", async |tx| {
            let mut new = 0;
            for c in comments {
                new += write_comment(tx, post_id, c, now).await?;
            }
            let Some(read) = read else {
                return Ok(new);
            };
            if read.whole {
                let ids: Vec<i64> = comments.iter().map(|c| i64::from(c.message_id)).collect();
                tx.execute(
                    "UPDATE comments SET deleted_at = $3
                     WHERE post_id = $1 AND deleted_at IS NULL AND NOT (message_id = ANY($2))",
                    &[&post_id, &ids, &now],
                )
                .await?;
            }
            let (count, max_id) = (i64::from(read.count), i64::from(read.max_id));
            let root = read.root.map(i64::from);
            tx.execute(
                "INSERT INTO comment_threads (post_id, section, seen, max_id, fetched_at, root_id)
                 VALUES ($1, true, $2, $3, $4, $5)
                 ON CONFLICT (post_id) DO UPDATE SET section = true, seen = excluded.seen,
                     max_id = excluded.max_id, fetched_at = excluded.fetched_at,
                     root_id = coalesce(excluded.root_id, comment_threads.root_id)",
                &[&post_id, &count, &max_id, &now, &root],
            )
            .await?;
            tx.execute(
                "UPDATE posts SET replies = $2, replies_max_id = $3 WHERE id = $1",
                &[&post_id, &count, &max_id],
            )
            .await?;
            Ok(new)
        })
    }

    fn no_comment_section(&mut self, post_id: i64, now: i64) -> Result<(), StoreError> {
        self.tx("record a post without comments", async |tx| {
            tx.execute(
                "INSERT INTO comment_threads (post_id, section, seen, max_id, fetched_at)
                 VALUES ($1, false, 0, 0, $2)
                 ON CONFLICT (post_id) DO UPDATE SET section = false,
                     fetched_at = excluded.fetched_at",
                &[&post_id, &now],
            )
            .await?;
            Ok(())
        })
    }

    fn comments_of(&self, post_id: i64) -> Result<Vec<CommentRow>, StoreError> {
        self.tx("read a post's comments", async |tx| {
            Ok(tx
                .query(
                    "SELECT message_id, reply_to, sender_kind, sender_id, author, date, edit_date,
                            text, has_media, deleted_at, tags
                     FROM comments WHERE post_id = $1 ORDER BY message_id",
                    &[&post_id],
                )
                .await?
                .iter()
                .map(|r| CommentRow {
                    message_id: narrow(r.get(0)),
                    reply_to: r.get::<_, Option<i64>>(1).map(narrow),
                    sender: CommentSender::from_columns(r.get(2), r.get(3), r.get(4)),
                    date: r.get(5),
                    edit_date: r.get(6),
                    text: r.get(7),
                    has_media: r.get(8),
                    deleted_at: r.get(9),
                    tags: tags_of(r.get(10)),
                })
                .collect())
        })
    }

    fn apply_live_comments(
        &mut self,
        changes: &[LiveComment],
        now: i64,
    ) -> Result<usize, StoreError> {
        self.tx("apply pushed comments", async |tx| {
            let mut new = 0;
            for change in changes {
                match change {
                    LiveComment::Root {
                        channel_id,
                        post,
                        root,
                    } => {
                        let (post, root) = (i64::from(*post), i64::from(*root));
                        tx.execute(
                            "INSERT INTO comment_threads (post_id, section, seen, max_id, fetched_at, root_id)
                             SELECT id, true, 0, 0, $4, $3 FROM posts WHERE channel_id = $1 AND message_id = $2
                             ON CONFLICT (post_id) DO UPDATE SET root_id = excluded.root_id",
                            &[channel_id, &post, &root, &now],
                        )
                        .await?;
                    }
                    LiveComment::Comment {
                        channel_id,
                        root,
                        comment,
                    } => {
                        let Some(r) = tx
                            .query_opt(
                                "SELECT t.post_id, t.seen, t.max_id, p.replies, p.replies_max_id
                                 FROM comment_threads t JOIN posts p ON p.id = t.post_id
                                 WHERE t.root_id = $2 AND p.channel_id = $1 AND t.section",
                                &[channel_id, &i64::from(*root)],
                            )
                            .await?
                        else {
                            continue;
                        };
                        let t: ThreadState = (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4));
                        let step = in_step(&t);
                        let inserted = write_comment(tx, t.0, comment, now).await?;
                        new += inserted;
                        if inserted == 1 && step {
                            let max_id = t.2.max(i64::from(comment.message_id));
                            tx.execute(
                                "UPDATE comment_threads SET seen = $2, max_id = $3 WHERE post_id = $1",
                                &[&t.0, &(t.1 + 1), &max_id],
                            )
                            .await?;
                            tx.execute(
                                "UPDATE posts SET replies = $2, replies_max_id = $3 WHERE id = $1",
                                &[&t.0, &(t.1 + 1), &max_id],
                            )
                            .await?;
                        }
                    }
                    LiveComment::Deleted { channel_id, ids } => {
                        let ids: Vec<i64> = ids.iter().map(|i| i64::from(*i)).collect();
                        tx.execute(
                            "UPDATE comments SET deleted_at = $3
                             WHERE message_id = ANY($2) AND deleted_at IS NULL
                               AND post_id IN (SELECT id FROM posts WHERE channel_id = $1)",
                            &[channel_id, &ids, &now],
                        )
                        .await?;
                    }
                }
            }
            Ok(new)
        })
    }

    fn comments_to_tag(&self, limit: usize) -> Result<Vec<(i64, String)>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.tx("list comments to tag", async |tx| {
            Ok(tx
                .query(
                    "SELECT id, text FROM comments WHERE tags IS NULL AND deleted_at IS NULL
                     ORDER BY id LIMIT $1",
                    &[&limit],
                )
                .await?
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect())
        })
    }

    fn set_comment_tags(&mut self, tags: &[(i64, Vec<String>)]) -> Result<(), StoreError> {
        let ids: Vec<i64> = tags.iter().map(|t| t.0).collect();
        let json: Vec<String> = tags.iter().map(|t| tags_json(&t.1)).collect();
        self.tx("record comments' tags", async |tx| {
            tx.execute(
                "UPDATE comments SET tags = u.t FROM unnest($1::bigint[], $2::text[]) AS u (id, t)
                 WHERE comments.id = u.id",
                &[&ids, &json],
            )
            .await?;
            Ok(())
        })
    }

    fn comment_stats(&self, all: bool) -> Result<CommentStats, StoreError> {
        self.tx("count comments", async |tx| {
            let r = tx
                .query_one(
                    "SELECT (SELECT count(*) FROM channels WHERE active AND (comments OR $1)),
                            (SELECT count(*) FROM comment_threads WHERE section),
                            (SELECT count(*) FROM comments WHERE deleted_at IS NULL)",
                    &[&all],
                )
                .await?;
            let n = |i: usize| u64::try_from(r.get::<_, i64>(i)).unwrap_or(0);
            Ok(CommentStats {
                channels: n(0),
                threads: n(1),
                comments: n(2),
            })
        })
    }
}

/// Inserts a comment, or updates a known one that was edited or had been marked deleted; 1 when it
/// was new.
async fn write_comment(
    tx: &Transaction<'_>,
    post_id: i64,
    c: &CommentIn,
    now: i64,
) -> Result<usize, Fail> {
    let (kind, sender_id, author) = c.sender.columns();
    let (id, reply_to) = (i64::from(c.message_id), c.reply_to.map(i64::from));
    let inserted = tx
        .execute(
            "INSERT INTO comments (post_id, message_id, reply_to, sender_kind, sender_id, author,
                                   date, edit_date, text, has_media, fetched_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
             ON CONFLICT (post_id, message_id) DO NOTHING",
            &[
                &post_id,
                &id,
                &reply_to,
                &kind,
                &sender_id,
                &author,
                &c.date,
                &c.edit_date,
                &c.text,
                &c.has_media,
                &now,
            ],
        )
        .await?;
    if inserted == 0 {
        tx.execute(
            "UPDATE comments SET edit_date = $3, text = $4, has_media = $5, fetched_at = $6,
                    deleted_at = NULL, tags = CASE WHEN text = $4 THEN tags END
             WHERE post_id = $1 AND message_id = $2
               AND coalesce($3::bigint, 0) >= coalesce(edit_date, 0)
               AND (edit_date IS DISTINCT FROM $3 OR text <> $4 OR has_media <> $5
                    OR deleted_at IS NOT NULL)",
            &[&post_id, &id, &c.edit_date, &c.text, &c.has_media, &now],
        )
        .await?;
    }
    Ok(usize::try_from(inserted).unwrap_or(0))
}
