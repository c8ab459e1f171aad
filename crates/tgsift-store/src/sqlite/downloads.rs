//! [`DownloadStore`] on SQLite: the queries are the trait's (`crate::model::downloads`), the
//! statements are here.

use rusqlite::{OptionalExtension, params};

use crate::model::downloads::*;
use crate::model::media::MediaKind;
use crate::{SqliteStore, StoreError};

fn limit_of(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

impl DownloadStore for SqliteStore {
    fn media_after(&self, after_post: i64, limit: usize) -> Result<Vec<MediaRef>, StoreError> {
        let sql = after_sql(["?1", "?2"]);
        self.read("scan posts' files for downloads", |c| {
            c.prepare_cached(&sql)?
                .query_map(params![after_post, limit_of(limit)], |r| {
                    Ok(MediaRef {
                        post_id: r.get(0)?,
                        channel_id: r.get(1)?,
                        kind: MediaKind::parse(&r.get::<_, String>(2)?).unwrap_or(MediaKind::Other),
                        file_id: r.get(3)?,
                        size: r.get(4)?,
                    })
                })?
                .collect()
        })
    }

    fn queue_downloads(
        &mut self,
        files: &[(i64, Option<i64>)],
        now: i64,
    ) -> Result<usize, StoreError> {
        self.write("queue downloads", |tx| {
            let mut st = tx.prepare_cached(
                "INSERT INTO media_files (file_id, status, size, queued_at) VALUES (?1, 'pending', ?2, ?3)
                 ON CONFLICT (file_id) DO NOTHING",
            )?;
            let mut new = 0;
            for (id, size) in files {
                new += st.execute(params![id, size, now])?;
            }
            Ok(new)
        })
    }

    fn downloads_due(
        &self,
        account_id: i64,
        now: i64,
        limit: usize,
    ) -> Result<Vec<DueFile>, StoreError> {
        let sql = due_sql(["?1", "?2", "?3"]);
        self.read("list due downloads", |c| {
            c.prepare_cached(&sql)?
                .query_map(params![account_id, now, limit_of(limit)], |r| {
                    Ok(DueFile {
                        file_id: r.get(0)?,
                        channel_id: r.get(1)?,
                        message_id: r.get(2)?,
                        kind: MediaKind::parse(&r.get::<_, String>(3)?).unwrap_or(MediaKind::Other),
                        size: r.get(4)?,
                        mime: r.get(5)?,
                        file_name: r.get(6)?,
                        attempts: r.get(7)?,
                    })
                })?
                .collect()
        })
    }

    fn download_done(
        &mut self,
        file_id: i64,
        size: i64,
        sha256: &str,
        path: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        self.write("record a finished download", |tx| {
            tx.prepare_cached(
                "UPDATE media_files SET status = 'done', size = ?2, sha256 = ?3, path = ?4,
                     error = NULL, done_at = ?5 WHERE file_id = ?1",
            )?
            .execute(params![file_id, size, sha256, path, now])?;
            Ok(())
        })
    }

    fn download_failed(
        &mut self,
        file_id: i64,
        error: &str,
        retry_at: Option<i64>,
    ) -> Result<(), StoreError> {
        self.write("record a failed download", |tx| {
            tx.prepare_cached(
                "UPDATE media_files SET attempts = attempts + 1, error = ?2,
                     status = CASE WHEN ?3 IS NULL THEN 'failed' ELSE 'pending' END,
                     next_at = coalesce(?3, next_at)
                 WHERE file_id = ?1 AND status = 'pending'",
            )?
            .execute(params![file_id, error, retry_at])?;
            Ok(())
        })
    }

    fn download_later(&mut self, file_id: i64, next_at: i64, why: &str) -> Result<(), StoreError> {
        self.write("put a download off", |tx| {
            tx.prepare_cached(
                "UPDATE media_files SET next_at = ?2, error = ?3 WHERE file_id = ?1 AND status = 'pending'",
            )?
            .execute(params![file_id, next_at, why])?;
            Ok(())
        })
    }

    fn retry_downloads(&mut self) -> Result<usize, StoreError> {
        self.write("queue failed downloads again", |tx| {
            tx.execute(
                "UPDATE media_files SET status = 'pending', attempts = 0, next_at = 0
                 WHERE status = 'failed'",
                [],
            )
        })
    }

    fn download_stats(&self) -> Result<DownloadStats, StoreError> {
        self.read("count downloads", |c| {
            let bytes = c.query_row(BYTES_SQL, [], |r| r.get(0))?;
            let counts: Vec<(String, i64)> = c
                .prepare_cached(COUNTS_SQL)?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            Ok(stats_of(
                counts.iter().map(|(s, n)| (s.as_str(), *n)),
                bytes,
            ))
        })
    }

    fn file_of_post(&self, post_id: i64) -> Result<Option<FileState>, StoreError> {
        self.read("read a post's download", |c| {
            c.prepare_cached(
                "SELECT f.status, f.attempts, f.sha256, f.path, f.error FROM post_media m
                 JOIN media_files f ON f.file_id = m.file_id WHERE m.post_id = ?1",
            )?
            .query_row([post_id], |r| {
                Ok(FileState {
                    status: FileStatus::parse(&r.get::<_, String>(0)?),
                    attempts: r.get(1)?,
                    sha256: r.get(2)?,
                    path: r.get(3)?,
                    error: r.get(4)?,
                })
            })
            .optional()
        })
    }
}
