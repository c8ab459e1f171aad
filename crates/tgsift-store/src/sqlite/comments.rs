//! [`CommentStore`] on SQLite: the rules are the trait's (`crate::model::comments`), the
//! statements are here.

use rusqlite::{OptionalExtension, Transaction, params};

use crate::model::comments::*;
use crate::{SqliteStore, StoreError};

impl CommentStore for SqliteStore {
    fn set_channel_comments(&mut self, channel_id: i64, on: bool) -> Result<bool, StoreError> {
        self.write("set a channel's comments", |tx| {
            Ok(tx
                .prepare_cached("UPDATE channels SET comments = ?2 WHERE id = ?1")?
                .execute(params![channel_id, on])?
                == 1)
        })
    }

    fn set_discussion(&mut self, channel_id: i64, group: (i64, i64)) -> Result<(), StoreError> {
        self.write("record a channel's discussion group", |tx| {
            tx.prepare_cached(
                "UPDATE channels SET linked_chat_id = ?2, linked_access_hash = ?3 WHERE id = ?1",
            )?
            .execute(params![channel_id, group.0, group.1])?;
            Ok(())
        })
    }

    fn comment_channels(
        &self,
        account_id: i64,
        all: bool,
    ) -> Result<Vec<CommentChannel>, StoreError> {
        self.read("list channels whose comments are read", |c| {
            c.prepare_cached(
                "SELECT id, linked_chat_id, linked_access_hash FROM channels
                 WHERE account_id = ?1 AND active = 1 AND (comments = 1 OR ?2) ORDER BY id",
            )?
            .query_map(params![account_id, all], |r| {
                let (group, hash): (Option<i64>, Option<i64>) = (r.get(1)?, r.get(2)?);
                Ok(CommentChannel {
                    channel_id: r.get(0)?,
                    group: group.map(|g| (g, hash.unwrap_or(0))),
                })
            })?
            .collect()
        })
    }

    fn threads_due(&self, channel_id: i64, limit: usize) -> Result<Vec<ThreadDue>, StoreError> {
        let sql = threads_due_sql("?1", "?2");
        self.read("list comment threads that are due", |c| {
            c.prepare_cached(&sql)?
                .query_map(
                    params![channel_id, i64::try_from(limit).unwrap_or(i64::MAX)],
                    |r| {
                        Ok(ThreadDue {
                            post_id: r.get(0)?,
                            message_id: r.get(1)?,
                            replies: r.get(2)?,
                            stored_max_id: r.get(3)?,
                            stored: r.get(4)?,
                        })
                    },
                )?
                .collect()
        })
    }

    fn store_comments(
        &mut self,
        post_id: i64,
        comments: &[CommentIn],
        read: Option<ThreadRead>,
        now: i64,
    ) -> Result<usize, StoreError> {
        self.write("store comments", |tx| {
            let mut new = 0;
            for c in comments {
                new += write_comment(tx, post_id, c, now)?;
            }
            let Some(read) = read else {
                return Ok(new);
            };
            if read.whole {
                let read_ids: std::collections::HashSet<i32> =
                    comments.iter().map(|c| c.message_id).collect();
                let stored: Vec<i32> = tx
                    .prepare_cached(
                        "SELECT message_id FROM comments WHERE post_id = ?1 AND deleted_at IS NULL",
                    )?
                    .query_map([post_id], |r| r.get(0))?
                    .collect::<rusqlite::Result<_>>()?;
                let mut gone = tx.prepare_cached(
                    "UPDATE comments SET deleted_at = ?3 WHERE post_id = ?1 AND message_id = ?2",
                )?;
                for id in stored.into_iter().filter(|id| !read_ids.contains(id)) {
                    gone.execute(params![post_id, id, now])?;
                }
            }
            tx.prepare_cached(
                "INSERT INTO comment_threads (post_id, section, seen, max_id, fetched_at, root_id)
                 VALUES (?1, 1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (post_id) DO UPDATE SET section = 1, seen = excluded.seen,
                     max_id = excluded.max_id, fetched_at = excluded.fetched_at,
                     root_id = coalesce(excluded.root_id, root_id)",
            )?
            .execute(params![post_id, read.count, read.max_id, now, read.root])?;
            tx.prepare_cached("UPDATE posts SET replies = ?2, replies_max_id = ?3 WHERE id = ?1")?
                .execute(params![post_id, read.count, read.max_id])?;
            Ok(new)
        })
    }

    fn no_comment_section(&mut self, post_id: i64, now: i64) -> Result<(), StoreError> {
        self.write("record a post without comments", |tx| {
            tx.prepare_cached(
                "INSERT INTO comment_threads (post_id, section, seen, max_id, fetched_at)
                 VALUES (?1, 0, 0, 0, ?2)
                 ON CONFLICT (post_id) DO UPDATE SET section = 0, fetched_at = excluded.fetched_at",
            )?
            .execute(params![post_id, now])?;
            Ok(())
        })
    }

    fn comments_of(&self, post_id: i64) -> Result<Vec<CommentRow>, StoreError> {
        self.read("read a post's comments", |c| {
            c.prepare_cached(
                "SELECT message_id, reply_to, sender_kind, sender_id, author, date, edit_date, text,
                        has_media, deleted_at, tags
                 FROM comments WHERE post_id = ?1 ORDER BY message_id",
            )?
            .query_map([post_id], |r| {
                Ok(CommentRow {
                    message_id: r.get(0)?,
                    reply_to: r.get(1)?,
                    sender: CommentSender::from_columns(
                        &r.get::<_, String>(2)?,
                        r.get(3)?,
                        r.get(4)?,
                    ),
                    date: r.get(5)?,
                    edit_date: r.get(6)?,
                    text: r.get(7)?,
                    has_media: r.get(8)?,
                    deleted_at: r.get(9)?,
                    tags: tags_of(r.get(10)?),
                })
            })?
            .collect()
        })
    }

    fn apply_live_comments(
        &mut self,
        changes: &[LiveComment],
        now: i64,
    ) -> Result<usize, StoreError> {
        self.write("apply pushed comments", |tx| {
            let mut new = 0;
            for change in changes {
                match change {
                    LiveComment::Root {
                        channel_id,
                        post,
                        root,
                    } => {
                        tx.prepare_cached(
                            "INSERT INTO comment_threads (post_id, section, seen, max_id, fetched_at, root_id)
                             SELECT id, 1, 0, 0, ?4, ?3 FROM posts WHERE channel_id = ?1 AND message_id = ?2
                             ON CONFLICT (post_id) DO UPDATE SET root_id = excluded.root_id",
                        )?
                        .execute(params![channel_id, post, root, now])?;
                    }
                    LiveComment::Comment {
                        channel_id,
                        root,
                        comment,
                    } => {
                        let thread: Option<ThreadState> = tx
                            .prepare_cached(
                                "SELECT t.post_id, t.seen, t.max_id, p.replies, p.replies_max_id
                                 FROM comment_threads t JOIN posts p ON p.id = t.post_id
                                 WHERE t.root_id = ?2 AND p.channel_id = ?1 AND t.section = 1",
                            )?
                            .query_row(params![channel_id, root], |r| {
                                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                            })
                            .optional()?;
                        let Some(t) = thread else { continue };
                        let step = in_step(&t);
                        let inserted = write_comment(tx, t.0, comment, now)?;
                        new += inserted;
                        if inserted == 1 && step {
                            let max_id = t.2.max(i64::from(comment.message_id));
                            tx.prepare_cached(
                                "UPDATE comment_threads SET seen = ?2, max_id = ?3 WHERE post_id = ?1",
                            )?
                            .execute(params![t.0, t.1 + 1, max_id])?;
                            tx.prepare_cached(
                                "UPDATE posts SET replies = ?2, replies_max_id = ?3 WHERE id = ?1",
                            )?
                            .execute(params![t.0, t.1 + 1, max_id])?;
                        }
                    }
                    LiveComment::Deleted { channel_id, ids } => {
                        let mut st = tx.prepare_cached(
                            "UPDATE comments SET deleted_at = ?3
                             WHERE message_id = ?2 AND deleted_at IS NULL
                               AND post_id IN (SELECT id FROM posts WHERE channel_id = ?1)",
                        )?;
                        for id in ids {
                            st.execute(params![channel_id, id, now])?;
                        }
                    }
                }
            }
            Ok(new)
        })
    }

    fn comments_to_tag(&self, limit: usize) -> Result<Vec<(i64, String)>, StoreError> {
        self.read("list comments to tag", |c| {
            c.prepare_cached(
                "SELECT id, text FROM comments WHERE tags IS NULL AND deleted_at IS NULL
                 ORDER BY id LIMIT ?1",
            )?
            .query_map([i64::try_from(limit).unwrap_or(i64::MAX)], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?
            .collect()
        })
    }

    fn set_comment_tags(&mut self, tags: &[(i64, Vec<String>)]) -> Result<(), StoreError> {
        self.write("record comments' tags", |tx| {
            let mut st = tx.prepare_cached("UPDATE comments SET tags = ?2 WHERE id = ?1")?;
            for (id, t) in tags {
                st.execute(params![id, tags_json(t)])?;
            }
            Ok(())
        })
    }

    fn comment_stats(&self, all: bool) -> Result<CommentStats, StoreError> {
        self.read("count comments", |c| {
            c.prepare_cached(
                "SELECT (SELECT count(*) FROM channels WHERE active = 1 AND (comments = 1 OR ?1)),
                        (SELECT count(*) FROM comment_threads WHERE section = 1),
                        (SELECT count(*) FROM comments WHERE deleted_at IS NULL)",
            )?
            .query_row([all], |r| {
                let n = |i: usize| r.get::<_, i64>(i).map(|n| u64::try_from(n).unwrap_or(0));
                Ok(CommentStats {
                    channels: n(0)?,
                    threads: n(1)?,
                    comments: n(2)?,
                })
            })
        })
    }
}

/// Inserts a comment, or updates a known one that was edited or had been marked deleted; 1 when it
/// was new.
fn write_comment(
    tx: &Transaction<'_>,
    post_id: i64,
    c: &CommentIn,
    now: i64,
) -> rusqlite::Result<usize> {
    let (kind, sender_id, author) = c.sender.columns();
    let inserted = tx
        .prepare_cached(
            "INSERT INTO comments (post_id, message_id, reply_to, sender_kind, sender_id, author,
                                   date, edit_date, text, has_media, fetched_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
             ON CONFLICT (post_id, message_id) DO NOTHING",
        )?
        .execute(params![
            post_id,
            c.message_id,
            c.reply_to,
            kind,
            sender_id,
            author,
            c.date,
            c.edit_date,
            c.text,
            c.has_media,
            now
        ])?;
    if inserted == 0 {
        tx.prepare_cached(
            "UPDATE comments SET edit_date = ?3, text = ?4, has_media = ?5, fetched_at = ?6,
                    deleted_at = NULL, tags = CASE WHEN text = ?4 THEN tags END
             WHERE post_id = ?1 AND message_id = ?2 AND coalesce(?3, 0) >= coalesce(edit_date, 0)
               AND (edit_date IS NOT ?3 OR text <> ?4 OR has_media <> ?5 OR deleted_at IS NOT NULL)",
        )?
        .execute(params![
            post_id,
            c.message_id,
            c.edit_date,
            c.text,
            c.has_media,
            now
        ])?;
    }
    Ok(inserted)
}
