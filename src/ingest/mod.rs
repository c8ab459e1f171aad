//! Ingest: fetching what is new in each channel and storing it exactly once.
//!
//! A channel is synced oldest-to-newest from its checkpoint (`last_message_id`) in batches of 100; each
//! batch is stored in one transaction with the new checkpoint and its fetched range, so a crash at any
//! instant resumes at the last committed batch with nothing lost and nothing twice. After catching up,
//! the newest page is fetched again so that edits of recent posts are noticed (an edited post is updated
//! and goes back to tagging). [`account`] runs this for every active channel of every account; in live
//! mode [`live`] follows the channels the account is a member of through pushed updates, and polling
//! reconciles. Between passes, [`counts`] reads the counters of recent posts again
//! (`ingest.counts_refresh`).

pub mod account;
pub(crate) mod comments;
pub(crate) mod counts;
pub(crate) mod live;
pub(crate) mod metrics;
pub(crate) mod progress;

use std::collections::VecDeque;
use std::future::Future;

use futures_util::StreamExt;
use futures_util::stream::FuturesOrdered;
use tgsift_store::{AsyncStore, BatchOutcome, ChannelRow, FetchedPage, PostIn, StoreError};
use tokio_util::sync::CancellationToken;

use crate::config::Backfill;
use crate::telegram::channels::{ChannelInfo, Lookup, RemotePost};
use crate::telegram::client::Account;
use crate::telegram::error::TgError;
use progress::ChannelProgress;

/// Posts per request and per stored batch (Telegram's maximum page).
pub(crate) const BATCH: i32 = 100;

/// Why a channel's sync stopped early.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SyncError {
    /// Telegram said no (flood, permanent error, retries exhausted).
    #[error(transparent)]
    Telegram(#[from] TgError),
    /// The database said no.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What one sync of one channel did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct SyncReport {
    /// New posts stored.
    pub inserted: usize,
    /// Posts updated because they were edited.
    pub edited: usize,
    /// Batches committed.
    pub batches: usize,
    /// Stopped by shutdown before catching up.
    pub interrupted: bool,
    /// The channel's newest message id, as the server said at the start of the pass.
    pub newest_id: i32,
    /// The checkpoint after the pass (below `newest_id` when the pass was cut short): the lag metric.
    pub checkpoint: i32,
    /// Stored posts gone from the account's view (pages lacked them, `channels.getMessages` answered
    /// them empty twice), marked hidden.
    pub hidden: usize,
    /// The account was a member and the channel now comes back `left`: first seen in this pass
    /// (the `channel_left` alert is due).
    pub left: bool,
}

/// A fetched post in the store's shape.
pub(crate) fn to_store(p: RemotePost) -> PostIn {
    PostIn {
        message_id: p.id,
        date: i64::from(p.date),
        edit_date: p.edit_date.map(i64::from),
        text: p.text,
        views: p.views,
        forwards: p.forwards,
        grouped_id: p.grouped_id,
        media: p.media.map(|m| *m),
        thread: p.thread,
    }
}

/// The channel as the client layer addresses it.
pub(crate) fn channel_info(ch: &ChannelRow) -> ChannelInfo {
    ChannelInfo::of(ch)
}

/// A page of a backfill: the ids `(lo, hi]`, the posts the server had among them and how many
/// messages of any kind answered them.
struct RangePage {
    lo: i32,
    hi: i32,
    posts: Vec<PostIn>,
    answered: i32,
}

/// Times a stored post a page lacked is asked for by `channels.getMessages` before an empty answer
/// marks it hidden (an empty answer of a bad moment is not a disappearance; the mark is undone when a
/// later page shows the post).
const LOOKUPS: usize = 2;

/// Times a placeholder inside a page is asked for by id before the window is stored without it: more
/// than [`LOOKUPS`], as nothing undoes a post never stored.
const PLACEHOLDER_LOOKUPS: usize = 4;

/// Every message of `(lo, hi]`, proven complete by ids, never by counts: Telegram returns short pages
/// in the middle of a channel (posts hidden from the account, pages cut short), placeholders and
/// repeated ids, so a page that did not reach `lo + 1` is followed by one for the ids below the
/// lowest it reached, until the answers reach `lo + 1` or an empty page says nothing is left. A
/// placeholder (`messageEmpty` inside a page) is asked for by id ([`PLACEHOLDER_LOOKUPS`] times at
/// most).
async fn fetch_window(
    account: &Account,
    info: &ChannelInfo,
    lo: i32,
    hi: i32,
) -> Result<RangePage, TgError> {
    let mut posts: Vec<RemotePost> = Vec::new();
    let (mut answered, mut placeholders) = (0usize, Vec::new());
    let mut top = hi;
    while top > lo {
        let page = account.history_range(info, lo, top).await?;
        let reached = page
            .placeholders
            .iter()
            .copied()
            .filter(|&id| id > lo && id <= top)
            .chain((page.returned > 0).then_some(page.oldest_id))
            .min();
        answered += page.returned;
        placeholders.extend(
            page.placeholders
                .into_iter()
                .filter(|&id| id > lo && id <= top),
        );
        posts.extend(page.posts);
        match reached {
            // Nothing in the window: nothing below what was already seen.
            None => break,
            Some(lowest) => top = lowest.saturating_sub(1).min(top - 1),
        }
    }
    // A page may repeat an id, and a later page may answer an id an earlier one had as a placeholder.
    posts.sort_unstable_by_key(|p| p.id);
    posts.dedup_by_key(|p| p.id);
    placeholders.sort_unstable();
    placeholders.dedup();
    placeholders.retain(|id| posts.binary_search_by_key(id, |p| p.id).is_err());
    let (found, shown) = look_up(account, info, &mut placeholders, PLACEHOLDER_LOOKUPS).await?;
    posts.extend(found);
    answered += shown;
    posts.sort_unstable_by_key(|p| p.id);
    Ok(RangePage {
        lo,
        hi,
        posts: posts.into_iter().map(to_store).collect(),
        answered: i32::try_from(answered).unwrap_or(i32::MAX),
    })
}

/// Asks `channels.getMessages` for `ids` up to `times` times, each time for those still answered
/// empty, and leaves only those in `ids`. Returns the posts found and how many ids were answered by a
/// message of any kind.
async fn look_up(
    account: &Account,
    info: &ChannelInfo,
    ids: &mut Vec<i32>,
    times: usize,
) -> Result<(Vec<RemotePost>, usize), TgError> {
    let (mut posts, mut answered) = (Vec::new(), 0);
    for _ in 0..times {
        if ids.is_empty() {
            break;
        }
        let mut found = account.messages_by_id(info, ids).await?;
        ids.retain(|id| match found.remove(id) {
            Some(Lookup::Post(p)) => {
                posts.push(p);
                answered += 1;
                false
            }
            Some(Lookup::Other) => {
                answered += 1;
                false
            }
            Some(Lookup::Empty) | None => true,
        });
    }
    Ok((posts, answered))
}

/// Settles stored posts a pass did not see: `channels.getMessages` is asked about them ([`LOOKUPS`]
/// times at most); a post it shows is refreshed, one it answers empty every time is marked hidden
/// (gone from this account's view — deleted or hidden, Telegram does not say which to it). Returns
/// how many were marked.
async fn settle_unseen(
    account: &Account,
    store: &AsyncStore,
    ch: &ChannelRow,
    mut unseen: Vec<i32>,
) -> Result<usize, SyncError> {
    if unseen.is_empty() {
        return Ok(0);
    }
    let info = channel_info(ch);
    let (found, _) = look_up(account, &info, &mut unseen, LOOKUPS).await?;
    let found: Vec<PostIn> = found.into_iter().map(to_store).collect();
    let (id, label) = (ch.id, ch.label());
    let hidden = store
        .with("settle unseen posts", move |s| {
            if !found.is_empty() {
                s.store_batch(id, &label, &found, None)?;
            }
            if unseen.is_empty() {
                Ok(0)
            } else {
                s.mark_hidden(id, &unseen)
            }
        })
        .await?;
    if hidden > 0 {
        tracing::info!(
            channel = %ch.label(),
            hidden,
            "stored posts gone from the account's view (deleted, or hidden from this account): marked hidden"
        );
    }
    Ok(hidden)
}

type Write<'a> =
    std::pin::Pin<Box<dyn Future<Output = Result<Vec<BatchOutcome>, StoreError>> + Send + 'a>>;

/// Most pages committed in one transaction: the pages that arrived while the previous write ran are
/// written together (group commit), up to this many, so a write never holds the database for long.
const GROUP_PAGES: usize = 16;

/// Fetches every id in `(after, top]` ([`fetch_window`] per page of ids) with up to the account's
/// window of pages in flight, and stores
/// the pages strictly in id order, each with its fetched range and the checkpoint (the page's last id,
/// whatever kind of message it held — service messages move it too) in the same transaction; pages
/// that arrived while the previous write ran share one ([`GROUP_PAGES`]). A page is
/// written only after every page below it was, and nothing past a page that failed is written, so a
/// crash or an error at any instant leaves exactly a prefix of the range stored: nothing lost,
/// nothing twice. Stored posts the pages did not show are settled at the end ([`settle_unseen`]).
/// Returns what it did and the last id committed.
pub(crate) async fn fetch_range(
    account: &Account,
    store: &AsyncStore,
    ch: &ChannelRow,
    after: i32,
    top: i32,
    progress: &ChannelProgress,
    cancel: &CancellationToken,
) -> Result<(SyncReport, i32), SyncError> {
    let info = channel_info(ch);
    let window = account.window().max(1);
    let mut report = SyncReport::default();
    let (mut next_lo, mut committed) = (after, after);
    let mut pages = FuturesOrdered::new();
    let mut ready: VecDeque<RangePage> = VecDeque::new();
    let mut writing: Option<(Write<'_>, i32, usize)> = None;
    let mut failure: Option<SyncError> = None;
    let mut unseen: Vec<i32> = Vec::new();
    loop {
        while failure.is_none()
            && !cancel.is_cancelled()
            && next_lo < top
            && pages.len() + ready.len() < window
        {
            let (lo, hi) = (next_lo, next_lo.saturating_add(BATCH).min(top));
            next_lo = hi;
            let info = &info;
            pages.push_back(fetch_window(account, info, lo, hi));
        }
        if writing.is_none() && !ready.is_empty() {
            let group: Vec<_> = ready
                .drain(..ready.len().min(GROUP_PAGES))
                .map(|p| FetchedPage {
                    posts: p.posts,
                    range: (p.lo.saturating_add(1), p.hi),
                    answered: p.answered,
                })
                .collect();
            let n = group.iter().map(|p| p.posts.len()).sum();
            let hi = group.last().map_or(committed, |p| p.range.1);
            let (id, label) = (ch.id, ch.label());
            let write = store.with("store a batch", move |s| {
                s.store_batches(id, &label, &group)
            });
            writing = Some((Box::pin(write), hi, n));
        }
        let fetching = !pages.is_empty() && failure.is_none();
        if writing.is_none() && !fetching {
            break;
        }
        tokio::select! {
            out = async {
                match writing.as_mut() {
                    Some((w, _, _)) => w.as_mut().await,
                    None => std::future::pending().await,
                }
            }, if writing.is_some() => {
                let (_, hi, n) = writing.take().expect("a write was in progress");
                match out {
                    Ok(outcomes) => {
                        for o in outcomes {
                            report.inserted += o.inserted;
                            report.edited += o.edited;
                            report.batches += 1;
                            unseen.extend(o.unseen);
                        }
                        committed = hi;
                        progress.advance(n);
                    }
                    // Nothing after a failed write may be stored: its range would be skipped.
                    Err(e) => return Err(e.into()),
                }
            }
            page = pages.next(), if fetching => match page {
                Some(Ok(p)) => ready.push_back(p),
                Some(Err(e)) => failure = Some(e.into()),
                None => {}
            },
        }
    }
    match failure {
        Some(SyncError::Telegram(TgError::Cancelled)) | None if cancel.is_cancelled() => {
            report.interrupted = true;
            Ok((report, committed))
        }
        Some(e) => Err(e),
        None => {
            report.hidden = settle_unseen(account, store, ch, unseen).await?;
            Ok((report, committed))
        }
    }
}

/// Brings one channel up to date. The newest page comes first: it tells where the channel's top is,
/// holds everything new when the channel is nearly up to date (one request for a poll), and its
/// older posts are compared with the stored ones so edits are noticed. The ids between the
/// checkpoint and the newest page are fetched as a backfill ([`fetch_range`]).
pub(crate) async fn sync_channel(
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
    let head = account.newest(&info, BATCH).await?;
    progress.set_total(head.count);
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
    let top = head.newest_id;
    let (seen_pts, member, span) = (head.pts, head.member, (head.oldest_id, head.newest_id));
    let (mut new, recent): (Vec<PostIn>, Vec<PostIn>) = head
        .posts
        .into_iter()
        .map(to_store)
        .partition(|p| p.message_id > last);
    let mut report = SyncReport {
        newest_id: top,
        checkpoint: last.max(top),
        ..SyncReport::default()
    };
    if top > last {
        // The newest page holds every new message only when it reached the checkpoint (ids, not
        // counts: a page shorter than asked for proves nothing) and had no placeholders.
        let whole = !head.placeholders.iter().any(|&id| id > last)
            && head.oldest_id <= last.saturating_add(1);
        if whole {
            new.sort_by_key(|p| p.message_id);
            let answered = head.ids.iter().filter(|&&i| i > last).count();
            let page = FetchedPage {
                posts: new,
                range: (last.saturating_add(1), top),
                answered: i32::try_from(answered).unwrap_or(i32::MAX),
            };
            let (id, lbl, n) = (ch.id, label.clone(), page.posts.len());
            let out = store
                .with("store new posts", move |s| {
                    s.store_batches(id, &lbl, std::slice::from_ref(&page))
                })
                .await?;
            let mut unseen = Vec::new();
            for o in out {
                report.inserted += o.inserted;
                report.edited += o.edited;
                report.batches += 1;
                unseen.extend(o.unseen);
            }
            progress.advance(n);
            // Posts stored above the checkpoint before (pushed in live mode) that the page lacks.
            report.hidden += settle_unseen(account, store, ch, unseen).await?;
        } else {
            let (r, stored_to) =
                fetch_range(account, store, ch, last, top, progress, cancel).await?;
            report = SyncReport {
                newest_id: top,
                checkpoint: stored_to.max(last),
                ..r
            };
            if report.interrupted {
                return Ok(report);
            }
        }
    }
    // Posts that were stored before this pass, seen again: an edit updates the post and re-queues it.
    // A stored post within the ids the page spanned that it lacks proves nothing by itself (hidden
    // from this account, a placeholder, a bad moment): it is asked about by id ([`settle_unseen`]).
    let window = (span.0 > 0)
        .then(|| (span.0, span.1.min(last)))
        .filter(|(a, b)| a <= b);
    if !recent.is_empty() || window.is_some() {
        let (id, seen) = (ch.id, head.ids);
        let (out, unseen) = store
            .with("refresh recent posts", move |s| {
                let out = s.store_batch(id, &label, &recent, None)?;
                let unseen = match window {
                    Some(w) => s.unseen_between(id, w, &seen)?,
                    None => Vec::new(),
                };
                Ok((out, unseen))
            })
            .await?;
        report.edited += out.edited;
        report.hidden += settle_unseen(account, store, ch, unseen).await?;
    }
    // The page's pts is where this channel's updates start for the live task (kept only if it has
    // none yet), and its membership says whether updates are pushed at all.
    // A channel the account was a member of that comes back `left` was left (in another app, or
    // the account was removed); one it never joined is not news.
    let (id, account_id) = (ch.id, ch.account_id);
    report.left = store
        .with("record the fetch", move |s| {
            s.touch_channel(id)?;
            let was = match member {
                Some(false) => s
                    .live_rows(account_id)?
                    .into_iter()
                    .find(|r| r.channel_id == id)
                    .and_then(|r| r.member),
                _ => None,
            };
            s.note_channel_seen(id, seen_pts, member)?;
            match (was, member) {
                (Some(true), Some(false)) => s.set_channel_left(id, true),
                (_, Some(true)) => s.set_channel_left(id, false).map(|_| false),
                _ => Ok(false),
            }
        })
        .await?;
    Ok(report)
}
