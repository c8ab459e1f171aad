//! The long-running service: one task per account, each syncing that account's active channels.
//!
//! All state lives in the database (checkpoints, flood parks, errors, learned pacer rates), so the
//! service can be killed at any instant and restarted, and later several workers can share the work.
//! Channels parked by a long FLOOD_WAIT wait until their `flood_until` while the others go on; a channel
//! that fails permanently is marked with the error and deactivated instead of being retried forever.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::progress::Progress;
use super::{SyncError, sync_channel};
use crate::config::Config;
use crate::store::{AsyncStore, ChannelRow, StoreError, unix_now};
use crate::telegram::client::{Account, Policy, Stats};
use crate::telegram::error::TgError;
use crate::telegram::lease::{Lease, LeaseError};
use crate::telegram::session::{SessionError, SqliteSession};

/// How the service runs.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Sync every active channel once (backfill included) and return.
    pub once: bool,
    /// Seconds between polls of a channel (jittered ±10 % per channel).
    pub poll_interval: Duration,
    /// Show progress bars / log lines.
    pub progress: bool,
}

/// The outcome of one channel in a run.
#[derive(Clone, Debug, Default)]
pub struct ChannelSummary {
    /// Account name.
    pub account: String,
    /// Channel label.
    pub channel: String,
    /// New posts stored.
    pub inserted: usize,
    /// Edited posts updated.
    pub edited: usize,
    /// Why it did not finish, if it did not.
    pub error: Option<String>,
}

/// What a run did, for `run --once` and the demo.
#[derive(Clone, Debug, Default)]
pub struct RunSummary {
    /// Per channel.
    pub channels: Vec<ChannelSummary>,
    /// FLOOD_WAITs received.
    pub floods: u64,
    /// FLOOD_WAITs slept through.
    pub flood_sleeps: u64,
    /// Time slept for floods.
    pub flood_sleep: Duration,
    /// Retries after transient failures (reconnects).
    pub retries: u64,
    /// Wall time.
    pub elapsed: Duration,
    /// Whether shutdown was requested.
    pub interrupted: bool,
}

impl RunSummary {
    /// Channels that did not finish.
    pub fn failed(&self) -> Vec<&ChannelSummary> {
        self.channels.iter().filter(|c| c.error.is_some()).collect()
    }
}

/// Why the service could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A session file is missing or broken.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// Another process holds an account's session.
    #[error(transparent)]
    Lease(#[from] LeaseError),
    /// `telegram.api_id` is not configured.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
}

/// Runs ingest for every account that has active channels until `cancel` (or, with `once`, until each
/// channel has been synced once).
pub async fn run(
    config: &Config,
    store: AsyncStore,
    opts: RunOptions,
    cancel: CancellationToken,
) -> Result<RunSummary, ServiceError> {
    let started = Instant::now();
    let channels = store.with("list channels", |s| s.channels()).await?;
    let accounts = store.with("list accounts", |s| s.accounts()).await?;
    let busy: Vec<_> = accounts
        .into_iter()
        .filter(|a| channels.iter().any(|c| c.account_id == a.id && c.active))
        .collect();
    if busy.is_empty() {
        return Ok(RunSummary {
            elapsed: started.elapsed(),
            ..Default::default()
        });
    }
    let api_id = config.telegram.api_id.ok_or_else(|| crate::config::ConfigError::Missing {
        key: "telegram.api_id".into(),
        hint: "get it from my.telegram.org and set it in [telegram] of the config file or in TG_API_ID".into(),
    })?;
    let progress = Arc::new(Progress::new(opts.progress));
    let mut tasks = tokio::task::JoinSet::new();
    let mut accounts = Vec::new();
    for a in busy {
        let lease = Lease::acquire(&a.name, &a.session_path)?;
        let session = SqliteSession::open(&a.session_path)?;
        let policy = Policy::from(&config.telegram);
        let account = Arc::new(Account::new(
            &a.name,
            Arc::new(session),
            api_id,
            policy,
            cancel.child_token(),
        ));
        let id = a.id;
        let state = store
            .with("load the client state", move |s| s.load_client_state(id))
            .await?;
        account.import_state(&state);
        accounts.push(Arc::clone(&account));
        let ctx = AccountTask {
            account,
            account_id: a.id,
            store: store.clone(),
            opts: opts.clone(),
            cancel: cancel.clone(),
            progress: Arc::clone(&progress),
        };
        tasks.spawn(async move {
            let out = ctx.run().await;
            drop(lease);
            out
        });
    }
    let mut summary = RunSummary::default();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok(mut list)) => summary.channels.append(&mut list),
            Ok(Err(e)) => return Err(e.into()),
            Err(e) => tracing::error!(error = %e, "an account task panicked"),
        }
    }
    for a in &accounts {
        let s = a.stats();
        summary.floods += Stats::get(&s.floods);
        summary.flood_sleeps += Stats::get(&s.flood_sleeps);
        summary.flood_sleep += Duration::from_millis(Stats::get(&s.flood_sleep_ms));
        summary.retries += Stats::get(&s.retries);
    }
    summary.elapsed = started.elapsed();
    summary.interrupted = cancel.is_cancelled();
    Ok(summary)
}

struct AccountTask {
    account: Arc<Account>,
    account_id: i64,
    store: AsyncStore,
    opts: RunOptions,
    cancel: CancellationToken,
    progress: Arc<Progress>,
}

/// A channel's next poll: its last fetch plus the interval, jittered ±10 % by a per-channel constant.
fn due_at(ch: &ChannelRow, poll: Duration) -> i64 {
    let jitter = ((ch.id.wrapping_mul(2_654_435_761) % 21) - 10) as f64 / 100.0;
    let secs = (poll.as_secs_f64() * (1.0 + jitter)).round() as i64;
    ch.last_fetch_at.map(|t| t + secs.max(1)).unwrap_or(0)
}

impl AccountTask {
    async fn run(self) -> Result<Vec<ChannelSummary>, StoreError> {
        let mut done: BTreeMap<i64, ChannelSummary> = BTreeMap::new();
        let name = self.account.name().to_string();
        loop {
            let id = self.account_id;
            let channels: Vec<ChannelRow> = self
                .store
                .with("list channels", |s| s.channels())
                .await?
                .into_iter()
                .filter(|c| c.account_id == id && c.active)
                .collect();
            let now = unix_now();
            let mut next: Option<i64> = None;
            let mut stop = false;
            for ch in channels {
                if self.cancel.is_cancelled() {
                    break;
                }
                if self.opts.once && done.contains_key(&ch.id) {
                    continue;
                }
                let entry = done.entry(ch.id).or_insert_with(|| ChannelSummary {
                    account: name.clone(),
                    channel: ch.label(),
                    ..Default::default()
                });
                if let Some(until) = ch.flood_until.filter(|u| *u > now) {
                    if self.opts.once {
                        entry.error =
                            Some(format!("parked by FLOOD_WAIT for {} s more", until - now));
                    }
                    next = Some(next.map_or(until, |n| n.min(until)));
                    continue;
                }
                let due = due_at(&ch, self.opts.poll_interval);
                if !self.opts.once && due > now {
                    next = Some(next.map_or(due, |n| n.min(due)));
                    continue;
                }
                let progress = Arc::new(self.progress.channel(&ch.label()));
                let ticker = {
                    let (p, a) = (Arc::clone(&progress), Arc::clone(&self.account));
                    tokio::spawn(async move {
                        loop {
                            p.sleeping(a.flood_sleep());
                            tokio::time::sleep(Duration::from_millis(500)).await;
                        }
                    })
                };
                let result =
                    sync_channel(&self.account, &self.store, &ch, &progress, &self.cancel).await;
                ticker.abort();
                match result {
                    Ok(r) => {
                        entry.inserted += r.inserted;
                        entry.edited += r.edited;
                        entry.error = r.interrupted.then(|| "interrupted by shutdown".to_string());
                        if r.inserted + r.edited > 0 {
                            tracing::info!(account = %name, channel = %ch.label(), new = r.inserted, edited = r.edited, "channel synced");
                        }
                    }
                    Err(SyncError::Store(e)) => return Err(e),
                    Err(SyncError::Telegram(e)) => {
                        // Batches committed before the failure count too.
                        entry.inserted += progress.fetched() as usize;
                        entry.error = Some(e.to_string());
                        stop |= self.record_failure(&ch, e).await?;
                    }
                }
            }
            let state = self.account.export_state();
            self.store
                .with("save the client state", move |s| {
                    s.save_client_state(id, &state)
                })
                .await?;
            if self.opts.once || stop || self.cancel.is_cancelled() {
                break;
            }
            // Wake for the earliest due channel, but look again at least every few seconds so that
            // channels added, resumed or unparked meanwhile are noticed.
            let wait = next
                .map(|n| (n - unix_now()).max(1) as u64)
                .unwrap_or(5)
                .min(5);
            tokio::select! {
                _ = self.cancel.cancelled() => break,
                _ = tokio::time::sleep(Duration::from_secs(wait)) => {}
            }
        }
        Ok(done.into_values().collect())
    }

    /// Stores what a failure means for the channel; true when the whole account must stop.
    async fn record_failure(&self, ch: &ChannelRow, e: TgError) -> Result<bool, StoreError> {
        let id = ch.id;
        let msg = e.to_string();
        match e {
            TgError::FloodWait { seconds, .. } => {
                let until = unix_now() + i64::from(seconds);
                tracing::warn!(channel = %ch.label(), seconds, "channel parked by FLOOD_WAIT");
                self.store
                    .with("park a channel", move |s| s.park_channel(id, until, &msg))
                    .await?;
                Ok(false)
            }
            TgError::Cancelled => Ok(true),
            TgError::Unauthorized { .. } => {
                tracing::error!(channel = %ch.label(), error = %msg, "account is not logged in; stopping it");
                self.store
                    .with("record a channel error", move |s| {
                        s.fail_channel(id, &msg, false)
                    })
                    .await?;
                Ok(true)
            }
            e @ (TgError::Exhausted { .. } | TgError::CircuitOpen { .. }) => {
                tracing::warn!(channel = %ch.label(), error = %e, "channel failed for now");
                self.store
                    .with("record a channel error", move |s| {
                        s.fail_channel(id, &msg, false)
                    })
                    .await?;
                Ok(false)
            }
            e => {
                tracing::error!(channel = %ch.label(), error = %e, "channel failed permanently; deactivated");
                self.store
                    .with("record a channel error", move |s| {
                        s.fail_channel(id, &msg, true)
                    })
                    .await?;
                Ok(false)
            }
        }
    }
}
