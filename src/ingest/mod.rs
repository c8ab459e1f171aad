//! Ingest: fetching what is new in each channel and storing it exactly once.
//!
//! A channel is synced oldest-to-newest from its checkpoint (`last_message_id`) in batches of 100; each
//! batch is stored in one transaction with the new checkpoint and its fetched range, so a crash at any
//! instant resumes at the last committed batch with nothing lost and nothing twice. After catching up,
//! the newest page is fetched again so that edits of recent posts are noticed (an edited post is updated
//! and goes back to tagging). [`service`] runs this for every active channel of every account.

pub mod progress;
pub mod service;

use tokio_util::sync::CancellationToken;

use crate::config::Backfill;
use crate::store::{AsyncStore, BatchOutcome, ChannelRow, PostIn, StoreError};
use crate::telegram::channels::{ChannelInfo, RemotePost};
use crate::telegram::client::Account;
use crate::telegram::error::TgError;
use progress::ChannelProgress;

/// Posts per request and per stored batch (Telegram's maximum page).
pub const BATCH: i32 = 100;

/// Why a channel's sync stopped early.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// Telegram said no (flood, permanent error, retries exhausted).
    #[error(transparent)]
    Telegram(#[from] TgError),
    /// The database said no.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What one sync of one channel did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// New posts stored.
    pub inserted: usize,
    /// Posts updated because they were edited.
    pub edited: usize,
    /// Batches committed.
    pub batches: usize,
    /// Stopped by shutdown before catching up.
    pub interrupted: bool,
}

/// A fetched post in the store's shape.
pub fn to_store(p: RemotePost) -> PostIn {
    PostIn {
        message_id: p.id,
        date: i64::from(p.date),
        edit_date: p.edit_date.map(i64::from),
        text: p.text,
        views: p.views,
        forwards: p.forwards,
        grouped_id: p.grouped_id,
        has_media: p.has_media,
    }
}

/// The channel as the client layer addresses it.
pub fn channel_info(ch: &ChannelRow) -> ChannelInfo {
    ChannelInfo {
        id: ch.tg_id,
        access_hash: ch.access_hash,
        username: ch.username.clone(),
        title: ch.title.clone(),
    }
}

/// A batch being written on the blocking pool while the next page is fetched.
struct InFlight {
    write: tokio::task::JoinHandle<Result<BatchOutcome, StoreError>>,
    posts: usize,
    newest: i32,
}

impl InFlight {
    /// Waits for the commit and accounts for it; returns the batch's newest id.
    async fn settle(
        self,
        report: &mut SyncReport,
        progress: &ChannelProgress,
    ) -> Result<i32, StoreError> {
        let out = self.write.await.map_err(|e| StoreError::Task {
            what: "store a batch".into(),
            reason: e.to_string(),
        })??;
        report.inserted += out.inserted;
        report.edited += out.edited;
        report.batches += 1;
        progress.advance(self.posts);
        Ok(self.newest)
    }
}

/// Fetches and stores batches of ids above `after` (up to `upto`, or until the newest), each batch in
/// one transaction with the checkpoint and its fetched range. The next page is fetched while the previous
/// one is being written (each write carries its own checkpoint, so a crash still loses nothing that was
/// committed). Returns what it did and the last id committed.
pub async fn fetch_after(
    account: &Account,
    store: &AsyncStore,
    ch: &ChannelRow,
    after: i32,
    upto: Option<i32>,
    progress: &ChannelProgress,
    cancel: &CancellationToken,
) -> Result<(SyncReport, i32), SyncError> {
    let info = channel_info(ch);
    let mut report = SyncReport::default();
    let (mut requested, mut committed) = (after, after);
    let mut in_flight: Option<InFlight> = None;
    let result = loop {
        if cancel.is_cancelled() {
            report.interrupted = true;
            break Ok(());
        }
        let page = account.history_after(&info, requested, BATCH).await;
        // The batch in flight is committed before anything else happens.
        if let Some(w) = in_flight.take() {
            committed = w.settle(&mut report, progress).await?;
        }
        let page = match page {
            Ok(p) => p,
            Err(e) => break Err(e.into()),
        };
        progress.set_total(page.count);
        // The page is judged by the newest message of any kind it returned: a page of service
        // messages only stores no post but still moves the checkpoint past them.
        if page.newest_id <= requested {
            break Ok(());
        }
        let newest = upto.map_or(page.newest_id, |u| page.newest_id.min(u));
        let posts: Vec<PostIn> = page
            .posts
            .into_iter()
            .filter(|p| p.id <= newest)
            .map(to_store)
            .collect();
        let n = posts.len();
        let (id, from, label, st) = (
            ch.id,
            requested.saturating_add(1),
            ch.label(),
            store.clone(),
        );
        let write = tokio::spawn(async move {
            st.with("store a batch", move |s| {
                s.store_batch(id, &label, &posts, Some((from, newest)))
            })
            .await
        });
        in_flight = Some(InFlight {
            write,
            posts: n,
            newest,
        });
        requested = newest;
        if upto.is_some_and(|u| newest >= u) {
            break Ok(());
        }
    };
    if let Some(w) = in_flight.take() {
        committed = w.settle(&mut report, progress).await?;
    }
    result.map(|()| (report, committed))
}

/// Brings one channel up to date: backfill start (first run), batches after the checkpoint, recent edits.
pub async fn sync_channel(
    account: &Account,
    store: &AsyncStore,
    ch: &ChannelRow,
    progress: &ChannelProgress,
    cancel: &CancellationToken,
) -> Result<SyncReport, SyncError> {
    let info = channel_info(ch);
    let label = ch.label();
    let mut last = ch.last_message_id;
    if progress.shown() {
        let id = ch.id;
        let stored = store
            .read("count a channel's posts", move |s| s.channel_post_count(id))
            .await?;
        progress.set_already(stored);
    }
    if last == 0 {
        let start = match Backfill::parse(&ch.backfill).unwrap_or(Backfill::All) {
            Backfill::All => 0,
            Backfill::Last(n) => {
                progress.fix_total(i64::from(n));
                account.id_before_newest(&info, n).await?
            }
            Backfill::Since(date) => account.id_before_date(&info, date).await?,
        };
        if start > 0 {
            let id = ch.id;
            store
                .with("set the backfill start", move |s| {
                    s.set_checkpoint(id, start)
                })
                .await?;
            last = start;
        }
    }
    let (mut report, _) = fetch_after(account, store, ch, last, None, progress, cancel).await?;
    if report.interrupted {
        return Ok(report);
    }
    // Recent posts again: edits of them are updated and re-queued for tagging.
    let recent = account.newest(&info, BATCH).await?;
    let posts: Vec<PostIn> = recent.posts.into_iter().map(to_store).collect();
    let (id, lbl) = (ch.id, label);
    let out = store
        .with("refresh recent posts", move |s| {
            s.store_batch(id, &lbl, &posts, None)
        })
        .await?;
    report.inserted += out.inserted;
    report.edited += out.edited;
    let id = ch.id;
    store
        .with("record the fetch", move |s| s.touch_channel(id))
        .await?;
    Ok(report)
}
