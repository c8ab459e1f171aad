//! `tgsift status`: what the service is doing, read from the database, so it works from any shell
//! while `run` holds every session.

use serde::Serialize;
use tgsift_store::{TaskRow, WorkerRow, unix_now};

use super::{AccountView, ChannelView, Ops, OpsError, account_states};
use crate::telegram::session_lock::vanished;

/// What `tgsift status` shows, read from the database: the service's worker and tasks, accounts,
/// channels that need attention, tagging by status.
#[derive(Serialize)]
pub struct ServiceStatus {
    /// The newest worker (alive or the last one that ran).
    pub worker: Option<WorkerRow>,
    /// Whether that worker runs: its heartbeat is fresh and, on this machine, its process exists.
    pub running: bool,
    /// Workers that run (on PostgreSQL several share the accounts).
    pub workers_running: usize,
    /// How long it has run, while it runs.
    pub uptime_secs: Option<i64>,
    /// Its supervised tasks.
    pub tasks: Vec<TaskRow>,
    /// Every account's login, breaker and lease.
    pub accounts: Vec<AccountView>,
    /// Channels by state.
    pub channels: ChannelCounts,
    /// Channels that are parked, failed or carry an error.
    pub attention: Vec<ChannelNote>,
    /// Posts by tagging status.
    pub tagging: std::collections::BTreeMap<String, i64>,
    /// Media downloads: files by state and the bytes on disk against the quota.
    pub media: MediaStatus,
    /// Comments read and stored.
    pub comments: tgsift_store::CommentStats,
}

/// Media downloads as `status` shows them.
#[derive(Serialize)]
pub struct MediaStatus {
    /// Whether `media.download` wants any files.
    pub enabled: bool,
    /// Files by state, bytes on disk.
    pub files: tgsift_store::DownloadStats,
    /// `media.quota`, bytes.
    pub quota: i64,
    /// `media.dir`.
    pub dir: String,
}

/// Channels by state.
#[derive(Default, Serialize)]
pub struct ChannelCounts {
    /// Polled or followed live.
    pub active: usize,
    /// Active, but their account cannot reach Telegram now.
    pub waiting: usize,
    /// Paused by the operator.
    pub paused: usize,
    /// Stopped by an error.
    pub failed: usize,
    /// Waiting out a FLOOD_WAIT.
    pub parked: usize,
    /// Channels (of any state) their account is no longer a member of.
    pub left: usize,
}

/// A channel that is parked, failed or carries an error.
#[derive(Serialize)]
pub struct ChannelNote {
    /// `@username` or id.
    pub channel: String,
    /// Owning account.
    pub account: String,
    /// `parked`, `failed`, or the state of a channel that carries an error.
    pub state: String,
    /// Seconds left of its flood park.
    pub parked_secs: Option<i64>,
    /// Its last error.
    pub last_error: Option<String>,
}

impl Ops {
    /// The service's state as `tgsift status` shows it: the newest worker (alive or the last that
    /// ran), its tasks, accounts, channels by state and those needing attention, tagging by status.
    pub async fn status(&self) -> Result<ServiceStatus, OpsError> {
        let views = self.channels().await?;
        let now = unix_now();
        let all_comments = self.config.ingest.comments;
        let (worker, running_count, tasks, accounts, tagging, files, comments) = self
            .store
            .read("read the service's state", move |store| {
                // A heartbeat stays fresh for 30 s after a kill -9: on this machine the pid says.
                let running: Vec<WorkerRow> = store
                    .workers()?
                    .into_iter()
                    .filter(|w| w.is_alive(now) && !vanished(&w.host, i64::from(w.pid)))
                    .collect();
                // On PostgreSQL the headline is a worker that serves accounts, when one does.
                let serving: Vec<i64> = store
                    .stored_sessions()?
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|s| s.holder)
                    .collect();
                let worker = match running
                    .iter()
                    .find(|w| serving.contains(&w.id))
                    .or(running.first())
                {
                    Some(w) => Some(w.clone()),
                    None => store.last_worker()?,
                };
                let tasks = match &worker {
                    Some(w) => store.worker_tasks(w.id)?,
                    None => Vec::new(),
                };
                Ok((
                    worker,
                    running.len(),
                    tasks,
                    account_states(store)?,
                    store.tag_stats(None)?.by_status,
                    store.download_stats()?,
                    store.comment_stats(all_comments)?,
                ))
            })
            .await?;
        let running = worker
            .as_ref()
            .is_some_and(|w| w.is_alive(now) && !vanished(&w.host, i64::from(w.pid)));
        let (channels, attention) = channel_summary(&views, now);
        Ok(ServiceStatus {
            uptime_secs: worker
                .as_ref()
                .filter(|_| running)
                .map(|w| now - w.started_at),
            worker,
            running,
            workers_running: running_count,
            tasks,
            accounts,
            channels,
            attention,
            tagging,
            media: MediaStatus {
                enabled: !self.config.media.download.is_empty(),
                files,
                quota: self.config.media.quota_bytes(),
                dir: self.config.media.dir.display().to_string(),
            },
            comments,
        })
    }
}

/// Counts channels by state and lists those parked, failed or carrying an error.
fn channel_summary(views: &[ChannelView], now: i64) -> (ChannelCounts, Vec<ChannelNote>) {
    let mut counts = ChannelCounts::default();
    let mut attention = Vec::new();
    for c in views {
        match c.state.as_str() {
            "parked" => counts.parked += 1,
            "active" => counts.active += 1,
            "waiting" => counts.waiting += 1,
            "failed" => counts.failed += 1,
            _ => counts.paused += 1,
        }
        if let Some(at) = c.left_at {
            counts.left += 1;
            if c.state != "paused" {
                attention.push(ChannelNote {
                    channel: c.label.clone(),
                    account: c.account.clone(),
                    state: "left".into(),
                    parked_secs: None,
                    last_error: Some(format!(
                        "the account left it {} s ago; still polled while readable: `tgsift channels prune-left` stops that",
                        now - at
                    )),
                });
                continue;
            }
        }
        if c.state == "parked" || c.state == "failed" || c.last_error.is_some() {
            attention.push(ChannelNote {
                channel: c.label.clone(),
                account: c.account.clone(),
                state: c.state.clone(),
                parked_secs: c.flood_until.filter(|u| *u > now).map(|u| u - now),
                last_error: c.last_error.clone(),
            });
        } else if let Some(since) = c.waiting_since {
            attention.push(ChannelNote {
                channel: c.label.clone(),
                account: c.account.clone(),
                state: c.state.clone(),
                parked_secs: None,
                last_error: Some(format!(
                    "account unreachable for {} s: nothing is fetched",
                    now - since
                )),
            });
        }
    }
    (counts, attention)
}
