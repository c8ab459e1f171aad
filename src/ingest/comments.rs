//! Comments (`channels add --comments`, or `ingest.comments` for every channel): between passes over
//! its channels, an account reads the threads whose count or newest id moved since they were last
//! read — Telegram puts both on every post of a channel with a discussion group, so history pages,
//! pushes and the counts refresh all tell — with `messages.getReplies`, past the newest comment
//! stored. When what is stored and what was read do not add up to Telegram's count (comments were
//! deleted), the thread is read whole and what it lacks is marked deleted. A post without a comment
//! section (`MSG_ID_INVALID`) is never asked again. A failure ends the pass for that channel (a long
//! FLOOD_WAIT, an error); its threads stay due for the next pass. Comments never hold up fetching:
//! the pass runs after the channels' syncs, at most every [`COMMENTS_EVERY`].
//!
//! Older posts' threads move without any page showing it: the counts refresh reads their counts
//! again (`ingest.counts_refresh`, or [`COMMENTS_REFRESH`] for these channels when it is off).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tgsift_store::{
    ChannelRow, CommentChannel, CommentIn, RefreshStep, ThreadDue, ThreadRead, unix_now,
};
use tokio_util::sync::CancellationToken;

use super::account::AccountTask;
use super::channel_info;
use crate::task::TaskError;
use crate::telegram::channels::ChannelInfo;
use crate::telegram::client::Account;
use crate::telegram::comments::REPLIES_PER_CALL;
use crate::telegram::error::TgError;

/// The shortest time between two comments passes of an account.
pub(super) const COMMENTS_EVERY: Duration = Duration::from_secs(30);

/// Threads read per channel and pass of the service, so a long-stopped service catches up over
/// several passes instead of one long one.
const PER_PASS: usize = 500;

/// The counts refresh of channels whose comments are read while `ingest.counts_refresh` is off:
/// every 15 minutes on a post's first day, hourly for a week, daily for a month.
pub(super) const COMMENTS_REFRESH: [RefreshStep; 3] = [
    RefreshStep {
        until: 86_400,
        every: 900,
    },
    RefreshStep {
        until: 7 * 86_400,
        every: 3_600,
    },
    RefreshStep {
        until: 30 * 86_400,
        every: 86_400,
    },
];

/// What one pass did, for the log and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct CommentsPass {
    /// Threads read.
    pub threads: usize,
    /// Comments that were new.
    pub new: usize,
}

impl AccountTask {
    /// The account's channels whose comments are read.
    pub(super) async fn comment_channels(&self) -> Result<Vec<CommentChannel>, TaskError> {
        let (id, all) = (self.account_id, self.opts.comments);
        Ok(self
            .store
            .read("list channels whose comments are read", move |s| {
                s.comment_channels(id, all)
            })
            .await?)
    }

    /// Reads the due threads of the channels whose comments are wanted.
    pub(super) async fn read_comments(
        &self,
        account: &Arc<Account>,
        channels: &[ChannelRow],
        cancel: &CancellationToken,
    ) -> Result<CommentsPass, TaskError> {
        let wanted = self.comment_channels().await?;
        let mut pass = CommentsPass::default();
        for want in wanted {
            let Some(ch) = channels.iter().find(|c| c.id == want.channel_id) else {
                continue;
            };
            let info = channel_info(ch);
            if want.group.is_none() {
                match account.discussion(&info).await {
                    Ok(group) => {
                        let cid = ch.id;
                        self.store
                            .with("record a channel's discussion group", move |s| {
                                s.set_discussion(cid, group)
                            })
                            .await?;
                        if group.0 == 0 {
                            tracing::info!(account = %self.name, channel = %ch.label(), "the channel has no discussion group: its posts have no comments to read");
                        }
                    }
                    Err(e) => {
                        tracing::warn!(account = %self.name, channel = %ch.label(), error = %e, "asking for the channel's discussion group failed; asked again next pass");
                    }
                }
            }
            // `run --once` reads every due thread; the service spreads them over passes.
            let mut left = if self.opts.once { usize::MAX } else { PER_PASS };
            // Threads read incompletely in this pass stay due; they wait for the next pass.
            let mut incomplete: HashSet<i64> = HashSet::new();
            'channel: while left > 0 && !cancel.is_cancelled() {
                let (cid, ask) = (ch.id, left.min(100) + incomplete.len());
                let due: Vec<ThreadDue> = self
                    .store
                    .read("list comment threads that are due", move |s| {
                        s.threads_due(cid, ask)
                    })
                    .await?
                    .into_iter()
                    .filter(|t| !incomplete.contains(&t.post_id))
                    .collect();
                if due.is_empty() {
                    break;
                }
                left = left.saturating_sub(due.len());
                for thread in due {
                    if cancel.is_cancelled() {
                        break 'channel;
                    }
                    match read_thread(account, &info, &thread).await {
                        Ok((comments, read)) => {
                            if read.is_none() {
                                incomplete.insert(thread.post_id);
                            }
                            let (post, now) = (thread.post_id, unix_now());
                            pass.new += self
                                .store
                                .with("store comments", move |s| {
                                    s.store_comments(post, &comments, read, now)
                                })
                                .await?;
                            pass.threads += 1;
                        }
                        Err(TgError::NoSuchMessage { .. }) => {
                            let (post, now) = (thread.post_id, unix_now());
                            self.store
                                .with("record a post without comments", move |s| {
                                    s.no_comment_section(post, now)
                                })
                                .await?;
                        }
                        Err(TgError::Cancelled) => break 'channel,
                        Err(e) => {
                            tracing::warn!(account = %self.name, channel = %ch.label(), post = thread.message_id, error = %e, "reading a post's comments failed; the channel's threads are read again next pass");
                            break 'channel;
                        }
                    }
                }
            }
        }
        if pass.threads > 0 {
            tracing::debug!(account = %self.name, threads = pass.threads, new = pass.new, "comments read");
        }
        Ok(pass)
    }
}

/// Reads a due thread: past the newest comment stored, or whole when the stored comments and the
/// new ones do not add up to the thread's count. A read that met placeholders (`messageEmpty` for
/// comments Telegram did not give this time) comes back without its [`ThreadRead`]: what it got is
/// stored and the thread stays due — nothing it lacked is taken for deleted.
async fn read_thread(
    account: &Account,
    c: &ChannelInfo,
    t: &ThreadDue,
) -> Result<(Vec<CommentIn>, Option<ThreadRead>), TgError> {
    // Comments stored below the newest one read (a thread never read whole may hold some from an
    // incomplete read: a whole read counts them again).
    let stored = if t.stored_max_id == 0 {
        0
    } else {
        usize::try_from(t.stored).unwrap_or(0)
    };
    let got = read_pages(account, c, t.message_id, t.stored_max_id, stored).await?;
    if got.placeholders > 0 {
        return Ok((got.comments, None));
    }
    let adds_up = stored + got.comments.len() == usize::try_from(got.count).unwrap_or(0);
    if t.stored_max_id == 0 || adds_up {
        let read = ThreadRead {
            count: got.count,
            max_id: got.newest.max(t.stored_max_id),
            whole: t.stored_max_id == 0,
            root: got.root,
        };
        return Ok((got.comments, Some(read)));
    }
    let all = read_pages(account, c, t.message_id, 0, 0).await?;
    let read = ThreadRead {
        count: all.count,
        max_id: all.newest,
        whole: true,
        root: all.root.or(got.root),
    };
    Ok((all.comments, (all.placeholders == 0).then_some(read)))
}

/// What the pages of a thread brought.
struct Pages {
    /// The comments, ascending.
    comments: Vec<CommentIn>,
    /// Messages in the thread, per the last answer.
    count: i32,
    /// The newest id answered.
    newest: i32,
    /// The id of the post's copy in the group, if a comment named it.
    root: Option<i32>,
    /// Placeholders answered in place of messages.
    placeholders: usize,
}

/// Every comment of post `post` above `min_id`, newest page first; with the thread's count and the
/// newest id answered. Pages go on from the oldest id of the last one until a page brings nothing
/// (Telegram cuts pages short, so a short page is not the end) or, with the `stored` comments below
/// `min_id`, everything counted is there.
async fn read_pages(
    account: &Account,
    c: &ChannelInfo,
    post: i32,
    min_id: i32,
    stored: usize,
) -> Result<Pages, TgError> {
    let mut got = Pages {
        comments: Vec::new(),
        count: 0,
        newest: 0,
        root: None,
        placeholders: 0,
    };
    let mut offset = 0;
    let mut seen = std::collections::HashSet::new();
    loop {
        let page = account
            .replies(c, post, offset, min_id, REPLIES_PER_CALL)
            .await?;
        got.count = page.count;
        got.newest = got.newest.max(page.newest_id);
        got.root = got.root.or(page.root);
        got.placeholders += page.placeholders;
        if page.oldest_id == 0 || (offset != 0 && page.oldest_id >= offset) {
            break;
        }
        offset = page.oldest_id;
        got.comments.extend(
            page.comments
                .into_iter()
                .filter(|m| m.message_id > min_id && seen.insert(m.message_id)),
        );
        if stored + got.comments.len() >= usize::try_from(got.count).unwrap_or(0) {
            break;
        }
    }
    got.comments.sort_by_key(|m| m.message_id);
    Ok(got)
}
