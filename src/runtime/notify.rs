//! The `notify` task of a worker on a PostgreSQL store: LISTENs for what other processes announce
//! (a job queued, a channel added or resumed — `tgsift jobs`, `channels add` or another worker) and
//! wakes the task concerned at once instead of at its next poll. Polling stays as the fallback, so
//! a notification lost with a dropped connection only delays the work.

use std::sync::Arc;

use tgsift_store::postgres::PgStore;
use tgsift_store::postgres::backend::{CHANNELS_CHANNEL, JOBS_CHANNEL};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::task::TaskError;

/// What the notifications wake.
#[derive(Clone, Default)]
pub(crate) struct Wakeups {
    /// The `jobs` task.
    pub jobs: Arc<Notify>,
    /// The `accounts` task.
    pub channels: Arc<Notify>,
}

/// Listens until `cancel`; fails (to be restarted) when the connection ends.
pub(crate) async fn listen(
    store: PgStore,
    wake: Wakeups,
    cancel: CancellationToken,
) -> Result<(), TaskError> {
    let mut listener = store
        .listen(&[JOBS_CHANNEL, CHANNELS_CHANNEL])
        .await
        .map_err(TaskError::retry)?;
    loop {
        let channel = tokio::select! {
            _ = cancel.cancelled() => return Ok(()),
            c = listener.next() => c,
        };
        match channel.as_deref() {
            Some(JOBS_CHANNEL) => wake.jobs.notify_one(),
            Some(CHANNELS_CHANNEL) => wake.channels.notify_one(),
            Some(_) => {}
            None => {
                return Err(TaskError::retry(anyhow::anyhow!(
                    "the connection listening for notifications ended"
                )));
            }
        }
    }
}
