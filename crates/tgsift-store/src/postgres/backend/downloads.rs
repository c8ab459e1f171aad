//! [`DownloadStore`] on PostgreSQL: the queries are the trait's (`crate::model::downloads`), the
//! statements are here.

use super::PgBackend;
use super::channels::narrow;
use crate::StoreError;
use crate::model::downloads::*;
use crate::model::media::MediaKind;

fn limit_of(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

fn kind_of(s: &str) -> MediaKind {
    MediaKind::parse(s).unwrap_or(MediaKind::Other)
}

impl DownloadStore for PgBackend {
    fn media_after(&self, after_post: i64, limit: usize) -> Result<Vec<MediaRef>, StoreError> {
        let sql = after_sql(["$1", "$2"]);
        let limit = limit_of(limit);
        self.tx("scan posts' files for downloads", async |tx| {
            Ok(tx
                .query(&sql, &[&after_post, &limit])
                .await?
                .iter()
                .map(|r| MediaRef {
                    post_id: r.get(0),
                    channel_id: r.get(1),
                    kind: kind_of(r.get(2)),
                    file_id: r.get(3),
                    size: r.get(4),
                })
                .collect())
        })
    }

    fn queue_downloads(
        &mut self,
        files: &[(i64, Option<i64>)],
        now: i64,
    ) -> Result<usize, StoreError> {
        let ids: Vec<i64> = files.iter().map(|f| f.0).collect();
        let sizes: Vec<Option<i64>> = files.iter().map(|f| f.1).collect();
        self.tx("queue downloads", async |tx| {
            let n = tx
                .execute(
                    "INSERT INTO media_files (file_id, status, size, queued_at)
                     SELECT f.id, 'pending', f.size, $3 FROM unnest($1::bigint[], $2::bigint[]) AS f(id, size)
                     ON CONFLICT (file_id) DO NOTHING",
                    &[&ids, &sizes, &now],
                )
                .await?;
            Ok(usize::try_from(n).unwrap_or(usize::MAX))
        })
    }

    fn downloads_due(
        &self,
        account_id: i64,
        now: i64,
        limit: usize,
    ) -> Result<Vec<DueFile>, StoreError> {
        let sql = due_sql(["$1", "$2::bigint", "$3::bigint"]);
        let limit = limit_of(limit);
        self.tx("list due downloads", async |tx| {
            Ok(tx
                .query(&sql, &[&account_id, &now, &limit])
                .await?
                .iter()
                .map(|r| DueFile {
                    file_id: r.get(0),
                    channel_id: r.get(1),
                    message_id: narrow(r.get(2)),
                    kind: kind_of(r.get(3)),
                    size: r.get(4),
                    mime: r.get(5),
                    file_name: r.get(6),
                    attempts: u32::try_from(r.get::<_, i64>(7)).unwrap_or(u32::MAX),
                })
                .collect())
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
        self.tx("record a finished download", async |tx| {
            tx.execute(
                "UPDATE media_files SET status = 'done', size = $2, sha256 = $3, path = $4,
                     error = NULL, done_at = $5 WHERE file_id = $1",
                &[&file_id, &size, &sha256, &path, &now],
            )
            .await?;
            Ok(())
        })
    }

    fn download_failed(
        &mut self,
        file_id: i64,
        error: &str,
        retry_at: Option<i64>,
    ) -> Result<(), StoreError> {
        self.tx("record a failed download", async |tx| {
            tx.execute(
                "UPDATE media_files SET attempts = attempts + 1, error = $2,
                     status = CASE WHEN $3::bigint IS NULL THEN 'failed' ELSE 'pending' END,
                     next_at = coalesce($3::bigint, next_at)
                 WHERE file_id = $1 AND status = 'pending'",
                &[&file_id, &error, &retry_at],
            )
            .await?;
            Ok(())
        })
    }

    fn download_later(&mut self, file_id: i64, next_at: i64, why: &str) -> Result<(), StoreError> {
        self.tx("put a download off", async |tx| {
            tx.execute(
                "UPDATE media_files SET next_at = $2, error = $3 WHERE file_id = $1 AND status = 'pending'",
                &[&file_id, &next_at, &why],
            )
            .await?;
            Ok(())
        })
    }

    fn retry_downloads(&mut self) -> Result<usize, StoreError> {
        self.tx("queue failed downloads again", async |tx| {
            let n = tx
                .execute(
                    "UPDATE media_files SET status = 'pending', attempts = 0, next_at = 0
                     WHERE status = 'failed'",
                    &[],
                )
                .await?;
            Ok(usize::try_from(n).unwrap_or(usize::MAX))
        })
    }

    fn download_stats(&self) -> Result<DownloadStats, StoreError> {
        self.tx("count downloads", async |tx| {
            let bytes: i64 = tx.query_one(BYTES_SQL, &[]).await?.get(0);
            let rows = tx.query(COUNTS_SQL, &[]).await?;
            Ok(stats_of(rows.iter().map(|r| (r.get(0), r.get(1))), bytes))
        })
    }

    fn file_of_post(&self, post_id: i64) -> Result<Option<FileState>, StoreError> {
        self.tx("read a post's download", async |tx| {
            Ok(tx
                .query_opt(
                    "SELECT f.status, f.attempts, f.sha256, f.path, f.error FROM post_media m
                     JOIN media_files f ON f.file_id = m.file_id WHERE m.post_id = $1",
                    &[&post_id],
                )
                .await?
                .map(|r| FileState {
                    status: FileStatus::parse(r.get(0)),
                    attempts: u32::try_from(r.get::<_, i64>(1)).unwrap_or(u32::MAX),
                    sha256: r.get(2),
                    path: r.get(3),
                    error: r.get(4),
                }))
        })
    }
}
