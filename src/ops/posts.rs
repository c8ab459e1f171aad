//! Reading and re-tagging stored posts: channel filters, tag trends, search, export, the statistics
//! report and the tagging queue, as the `posts`, `tags` and `stats` commands and the API ask for them.

use std::path::PathBuf;

use tgsift_store::{ExportError, ExportFilter, SearchHit, SearchQuery};
use tokio_util::sync::CancellationToken;

use super::export::{Format, Summary, write_posts, write_posts_to_file};
use super::stats::{Stats, StatsQuery, collect};
use super::{Ops, OpsError};
use crate::tagging::trends::{TagTrend, top_tags};
use crate::tagging::worker::{PassReport, Pipeline};

/// Where `posts export` writes.
pub enum ExportTo {
    /// A file, written beside its final name and moved into place when complete.
    File(PathBuf),
    /// Standard output, as the posts are read.
    Stdout,
    /// Any writer (an HTTP body), as the posts are read; runs on a blocking thread.
    Writer(Box<dyn std::io::Write + Send>),
}

impl Ops {
    /// The row ids of the channels `refs` name (`None` when there are none), or a refusal naming
    /// the first that matches nothing.
    pub(crate) async fn channel_ids(&self, refs: &[String]) -> Result<Option<Vec<i64>>, OpsError> {
        if refs.is_empty() {
            return Ok(None);
        }
        let refs = refs.to_vec();
        let found = self
            .store
            .read("find channels", move |s| {
                refs.into_iter()
                    .map(|r| Ok((s.find_channels(&r)?, r)))
                    .collect::<Result<Vec<_>, _>>()
            })
            .await?;
        let mut ids = Vec::new();
        for (channels, r) in found {
            if channels.is_empty() {
                return Err(OpsError::NotFound(format!(
                    "no followed channel matches `{r}`: see `tgsift channels list`"
                )));
            }
            ids.extend(channels.into_iter().map(|c| c.id));
        }
        Ok(Some(ids))
    }

    /// The date of the newest post of these channels (all when `None`); `None` when they have none.
    pub(crate) async fn newest_post_date(
        &self,
        channel_ids: Option<Vec<i64>>,
    ) -> Result<Option<i64>, OpsError> {
        Ok(self
            .store
            .read("find the newest post", move |s| {
                s.newest_post_date(channel_ids.as_deref())
            })
            .await?)
    }

    /// The `limit` most used tags of `[since, until)` in these channels (all when `None`), each with
    /// its count in the period of the same length just before.
    pub(crate) async fn tag_trends(
        &self,
        channel_ids: Option<Vec<i64>>,
        since: i64,
        until: i64,
        limit: usize,
    ) -> Result<Vec<TagTrend>, OpsError> {
        let len = until - since;
        let (current, previous) = self
            .store
            .read("count tags", move |s| {
                let ids = channel_ids.as_deref();
                Ok((
                    s.tags_between(ids, since, until)?,
                    s.tags_between(ids, since - len, since)?,
                ))
            })
            .await?;
        Ok(top_tags(&current, &previous, limit.max(1)))
    }

    /// Posts matching a full-text query, best first. Posts stored since the service's search-index
    /// task last ran (or with no service running) are indexed first, so a search misses none.
    pub async fn search(&self, query: SearchQuery) -> Result<Vec<SearchHit>, OpsError> {
        self.store.index_search_queue().await?;
        Ok(self
            .store
            .read("search posts", move |s| s.search_posts(&query))
            .await?)
    }

    /// Streams the posts `filter` selects, in row-id order, as JSON Lines or CSV.
    pub async fn export(
        &self,
        filter: ExportFilter,
        format: Format,
        to: ExportTo,
    ) -> Result<Summary, ExportError> {
        self.store
            .read("export posts", move |s| {
                Ok(match to {
                    ExportTo::File(path) => write_posts_to_file(s, &filter, format, &path),
                    ExportTo::Stdout => write_posts(s, &filter, format, std::io::stdout().lock()),
                    ExportTo::Writer(out) => write_posts(s, &filter, format, out),
                })
            })
            .await?
    }

    /// The statistics report of a period (see [`super::stats`]).
    pub async fn stats(&self, query: StatsQuery) -> Result<Stats, OpsError> {
        Ok(self
            .store
            .read("collect statistics", move |s| collect(s, &query))
            .await?)
    }

    /// Queues posts for tagging again: `retrying` ones (and with `force` the `failed` ones), of one
    /// account or all, at most `limit`; returns how many.
    pub(crate) async fn requeue_tagging(
        &self,
        account: Option<String>,
        limit: usize,
        force: bool,
    ) -> Result<usize, OpsError> {
        Ok(self
            .store
            .with("re-queue", move |s| {
                s.requeue_tagging(account.as_deref(), limit, force)
            })
            .await?)
    }

    /// The download state of a post's file (`None` when no rule wanted it).
    pub async fn file_of_post(
        &self,
        post_id: i64,
    ) -> Result<Option<tgsift_store::FileState>, OpsError> {
        Ok(self
            .store
            .read("read a post's download", move |s| s.file_of_post(post_id))
            .await?)
    }

    /// The comments under a post, oldest first (deleted ones kept, marked).
    pub async fn comments_of(
        &self,
        post_id: i64,
    ) -> Result<Vec<tgsift_store::CommentRow>, OpsError> {
        Ok(self
            .store
            .read("read a post's comments", move |s| s.comments_of(post_id))
            .await?)
    }

    /// Media files by download state and the bytes on disk.
    pub(crate) async fn download_stats(&self) -> Result<tgsift_store::DownloadStats, OpsError> {
        Ok(self
            .store
            .read("count downloads", |s| s.download_stats())
            .await?)
    }

    /// `media retry`: failed downloads pending again, their attempts cleared; returns how many.
    pub async fn retry_downloads(&self) -> Result<usize, OpsError> {
        Ok(self
            .store
            .with("queue failed downloads again", |s| s.retry_downloads())
            .await?)
    }

    /// Fails when the database is no longer usable (an SQLite file removed or replaced).
    pub(crate) async fn check_database(&self) -> Result<(), OpsError> {
        Ok(self
            .store
            .read("check the database", |s| s.check_file())
            .await?)
    }

    /// Renders `metrics` with the figures that live in the database read now.
    pub(crate) async fn render_metrics(
        &self,
        metrics: std::sync::Arc<crate::metrics::Metrics>,
    ) -> Result<String, OpsError> {
        let figures = metrics.of::<super::figures::DbFigures>();
        self.store
            .read("read the figures for /metrics", move |s| figures.read(s))
            .await?;
        Ok(metrics.encode())
    }

    /// Tags everything due now with the configured pipeline.
    pub(crate) async fn tag_due(&self) -> Result<PassReport, OpsError> {
        Ok(self.pipeline()?.run_due(&CancellationToken::new()).await?)
    }

    /// The tagging pipeline, or a refusal when tagging is off.
    pub(crate) fn pipeline(&self) -> Result<std::sync::Arc<Pipeline>, OpsError> {
        self.pipeline
            .clone()
            .ok_or_else(|| OpsError::Conflict("tagging is off (tagging.backend = \"off\")".into()))
    }
}
