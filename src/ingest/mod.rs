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
use crate::store::{AsyncStore, ChannelRow, PostIn, StoreError};
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

/// Fetches and stores batches of ids above `after` (up to `upto`, or until the newest), each batch in
/// one transaction with the checkpoint and its fetched range. Returns what it did and the last id stored.
pub async fn fetch_after(
    account: &Account,
    store: &AsyncStore,
    ch: &ChannelRow,
    mut after: i32,
    upto: Option<i32>,
    progress: &ChannelProgress,
    cancel: &CancellationToken,
) -> Result<(SyncReport, i32), SyncError> {
    let info = channel_info(ch);
    let mut report = SyncReport::default();
    loop {
        if cancel.is_cancelled() {
            report.interrupted = true;
            break;
        }
        let page = account.history_after(&info, after, BATCH).await?;
        progress.set_total(page.count);
        let posts: Vec<PostIn> = page
            .posts
            .into_iter()
            .filter(|p| upto.is_none_or(|u| p.id <= u))
            .map(to_store)
            .collect();
        let Some(newest) = posts.last().map(|p| p.message_id) else {
            break;
        };
        let n = posts.len();
        let (id, from, label) = (ch.id, after.saturating_add(1), ch.label());
        let out = store
            .with("store a batch", move |s| {
                s.store_batch(id, &label, &posts, Some((from, newest)))
            })
            .await?;
        report.inserted += out.inserted;
        report.edited += out.edited;
        report.batches += 1;
        progress.advance(n);
        after = newest;
        if upto.is_some_and(|u| newest >= u) {
            break;
        }
    }
    Ok((report, after))
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
    if last == 0 {
        let start = match Backfill::parse(&ch.backfill).unwrap_or(Backfill::All) {
            Backfill::All => 0,
            Backfill::Last(n) => account.id_before_newest(&info, n).await?,
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
    progress.done();
    Ok(report)
}
