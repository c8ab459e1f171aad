//! The figures `/metrics` reads from the database when it is scraped (so they are right even when
//! another process changed them): channels by state, posts by tagging status, jobs by state, the
//! search index's backlog, and media downloads by state with the bytes on disk.

use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::metrics::{Families, StateLabel};
use tgsift_store::prelude::*;
use tgsift_store::{StoreError, TaggingStatus, unix_now};

/// The database's figures as metric families.
pub(crate) struct DbFigures {
    /// Channels by state.
    channels: Family<StateLabel, Gauge>,
    /// Posts by tagging status.
    tagging_posts: Family<StateLabel, Gauge>,
    /// Jobs by state.
    jobs: Family<StateLabel, Gauge>,
    /// Posts stored but not yet in the search index.
    search_backlog: Gauge,
    /// Media files by download state.
    media_files: Family<StateLabel, Gauge>,
    /// Bytes of downloaded media on disk (each content once).
    media_bytes: Gauge,
}

impl Families for DbFigures {
    fn register(registry: &mut Registry) -> Self {
        let m = DbFigures {
            channels: Family::default(),
            tagging_posts: Family::default(),
            jobs: Family::default(),
            search_backlog: Gauge::default(),
            media_files: Family::default(),
            media_bytes: Gauge::default(),
        };
        registry.register("channels", "Channels by state", m.channels.clone());
        registry.register(
            "tagging_posts",
            "Posts by tagging status",
            m.tagging_posts.clone(),
        );
        registry.register("jobs", "Admin jobs by state", m.jobs.clone());
        registry.register(
            "search_backlog",
            "Posts stored but not yet in the search index",
            m.search_backlog.clone(),
        );
        registry.register(
            "media_files",
            "Media files by download state (pending, done, failed)",
            m.media_files.clone(),
        );
        registry.register(
            "media_bytes",
            "Bytes of downloaded media on disk, each content once (what media.quota bounds)",
            m.media_bytes.clone(),
        );
        m
    }
}

impl DbFigures {
    /// Sets every figure from the database as it is now.
    pub(crate) fn read(&self, store: &dyn Storage) -> Result<(), StoreError> {
        let now = unix_now();
        let mut by_state = std::collections::BTreeMap::<&str, i64>::new();
        for c in store.channels()? {
            *by_state.entry(c.state(now)).or_default() += 1;
        }
        for state in ["active", "parked", "paused", "failed"] {
            self.channels
                .get_or_create(&StateLabel {
                    state: state.into(),
                })
                .set(by_state.get(state).copied().unwrap_or(0));
        }
        let tagging = store.tag_stats(None)?.by_status;
        for status in TaggingStatus::ALL.map(TaggingStatus::as_str) {
            self.tagging_posts
                .get_or_create(&StateLabel {
                    state: status.into(),
                })
                .set(tagging.get(status).copied().unwrap_or(0));
        }
        let jobs = store.job_counts()?;
        for state in ["queued", "running", "done", "failed", "cancelled"] {
            self.jobs
                .get_or_create(&StateLabel {
                    state: state.into(),
                })
                .set(jobs.get(state).copied().unwrap_or(0));
        }
        self.search_backlog.set(store.search_backlog()?);
        let files = store.download_stats()?;
        for (state, n) in [
            ("pending", files.pending),
            ("done", files.done),
            ("failed", files.failed),
        ] {
            self.media_files
                .get_or_create(&StateLabel {
                    state: state.into(),
                })
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
        self.media_bytes.set(files.bytes);
        Ok(())
    }
}
