//! Counters that stay current (`ingest.counts_refresh`): between passes over its channels, an account
//! reads again the views, forwards, comments and reactions of its recent posts that are due under the
//! schedule, 100 posts per request pair, paced like every request; the store keeps each counter's
//! highest value and the history of changes. A failure ends the pass for that channel (a long
//! FLOOD_WAIT, an error): the posts stay due and the next pass asks again. Counts never hold up
//! fetching: the pass runs after the channels' syncs, at most every [`COUNTS_EVERY`].

use std::sync::Arc;
use std::time::Duration;

use tgsift_store::{ChannelRow, unix_now};
use tokio_util::sync::CancellationToken;

use super::account::AccountTask;
use super::channel_info;
use super::comments::COMMENTS_REFRESH;
use crate::task::TaskError;
use crate::telegram::client::Account;

/// The shortest time between two counts passes of an account.
pub(super) const COUNTS_EVERY: Duration = Duration::from_secs(30);

/// Posts whose counters are read per channel and pass, so a long-stopped service catches up over
/// several passes instead of one long one.
const PER_PASS: usize = 1_000;

/// Posts per request pair.
const PER_REQUEST: usize = 100;

impl AccountTask {
    /// Reads the counters of the channels' posts that are due; the count of posts read.
    pub(super) async fn refresh_counts(
        &self,
        account: &Arc<Account>,
        channels: &[ChannelRow],
        cancel: &CancellationToken,
    ) -> Result<usize, TaskError> {
        // With the refresh off, the channels whose comments are read still have their counts read
        // (how an older post's thread is seen to move), on the comments' schedule.
        let comment_channels = if self.opts.counts_refresh.is_empty() {
            self.comment_channels().await?
        } else {
            Vec::new()
        };
        let mut read = 0;
        for ch in channels {
            let schedule = if !self.opts.counts_refresh.is_empty() {
                self.opts.counts_refresh.clone()
            } else if comment_channels.iter().any(|c| c.channel_id == ch.id) {
                COMMENTS_REFRESH.to_vec()
            } else {
                continue;
            };
            let mut left = PER_PASS;
            while left > 0 && !cancel.is_cancelled() {
                let (id, schedule) = (ch.id, schedule.clone());
                let now = unix_now();
                let due = self
                    .store
                    .read("list posts whose counters are due", move |s| {
                        s.counts_due(id, &schedule, now, PER_REQUEST.min(left))
                    })
                    .await?;
                if due.is_empty() {
                    break;
                }
                let fresh = match account.counts(&channel_info(ch), &due).await {
                    Ok(fresh) => fresh,
                    Err(e) => {
                        tracing::warn!(account = %self.name, channel = %ch.label(), error = %e, "reading the counters of recent posts failed; they are asked again next pass");
                        break;
                    }
                };
                left = left.saturating_sub(due.len());
                read += due.len();
                let at = unix_now();
                self.store
                    .with("record fresh counters", move |s| {
                        s.record_counts(id, &fresh, at)
                    })
                    .await?;
            }
        }
        if read > 0 {
            tracing::debug!(account = %self.name, posts = read, "counters refreshed");
        }
        Ok(read)
    }
}
