//! One account's ingest task: syncing its active channels, again and again, from the state in the
//! database.
//!
//! All state lives in the database (checkpoints, parks, errors, learned pacer rates, open flood
//! windows), so the task can be killed at any instant and started again, by this process's supervisor
//! or by another worker. What a failure means is decided here, by what can help:
//!
//! - a FLOOD_WAIT above the threshold parks the channel until it ends;
//! - Telegram's permanent answers about the channel (`CHANNEL_PRIVATE`, `CHANNEL_INVALID`,
//!   `USERNAME_NOT_OCCUPIED`…) deactivate it, with the error kept;
//! - an RPC error tgsift does not know, an answer that cannot be decoded, or a connection that stays
//!   down parks the channel with a delay that grows with its consecutive failures — retried later,
//!   never given up on, never retried in a tight loop;
//! - an answer about the account itself (logged out, key revoked, frozen, banned) stops the account
//!   at once, in that state ([`stop_account`]), with one alert saying what its owner can do; its
//!   channels keep their state, and nothing calls Telegram for it until an admin acts;
//! - local failures (the database, the session file) end the task with an error: the supervisor logs
//!   it and starts the task again after a backoff. They never touch a channel.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tgsift_store::{AccountRow, AccountState, AsyncStore, ChannelRow, LiveRow, NewAlert, unix_now};
use tokio_util::sync::CancellationToken;

use super::comments::COMMENTS_EVERY;
use super::counts::COUNTS_EVERY;
use super::live::{LiveTask, SyncRequests};
use super::metrics::IngestFamilies;
use super::progress::Progress;
use super::{SyncError, sync_channel};
use crate::config::{IngestConfig, IngestMode};
use crate::metrics::ingest::Metrics;
use crate::task::TaskError;
use crate::telegram::client::Account;
use crate::telegram::connections::{ConnectError, Connections};
use crate::telegram::error::TgError;

/// How the service runs.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Sync every active channel once (backfill included) and return.
    pub once: bool,
    /// Seconds between polls of a channel (jittered ±10 % per channel).
    pub poll_interval: Duration,
    /// Show progress bars / log lines.
    pub progress: bool,
    /// Live (member channels followed through pushed updates) or poll (`ingest.mode`); `once`
    /// always polls.
    pub mode: IngestMode,
    /// Live mode: seconds between reconciling polls of a channel followed through updates.
    pub reconcile_interval: Duration,
    /// Live mode: the longest a followed channel goes without its difference being asked.
    pub live_check_interval: Duration,
    /// Live mode: the longest an account goes without a request before `getDifference` is asked.
    pub live_keepalive: Duration,
    /// Live mode: push silence (while differences find posts) that raises `live_silent`.
    pub live_silence_alert: Duration,
    /// How often the counters of recent posts are read again (`ingest.counts_refresh`); empty: never.
    pub counts_refresh: Vec<tgsift_store::RefreshStep>,
    /// Read the comments of every channel (`ingest.comments`), not only of those added with
    /// `--comments`.
    pub comments: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            once: false,
            poll_interval: Duration::from_secs(60),
            progress: false,
            mode: IngestMode::Live,
            reconcile_interval: Duration::from_secs(3600),
            live_check_interval: Duration::from_secs(300),
            live_keepalive: Duration::from_secs(45),
            live_silence_alert: Duration::from_secs(900),
            counts_refresh: Vec::new(),
            comments: false,
        }
    }
}

impl RunOptions {
    /// The options `[ingest]` gives, for a service run (`once` false, no progress display).
    pub fn from_config(c: &IngestConfig) -> Self {
        RunOptions {
            poll_interval: Duration::from_secs_f64(c.poll_interval),
            mode: c.mode,
            reconcile_interval: Duration::from_secs_f64(c.reconcile_interval),
            live_check_interval: Duration::from_secs_f64(c.live_check_interval),
            live_keepalive: Duration::from_secs_f64(c.live_keepalive),
            live_silence_alert: Duration::from_secs_f64(c.live_silence_alert),
            // Checked when the configuration was loaded.
            counts_refresh: crate::config::refresh_schedule(&c.counts_refresh).unwrap_or_default(),
            comments: c.comments,
            ..Default::default()
        }
    }

    /// Whether member channels are followed through updates in this run.
    pub fn live(&self) -> bool {
        self.mode == IngestMode::Live && !self.once
    }
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

/// What the account tasks of one run report back (`run --once` and the demo print it).
#[derive(Default)]
pub(crate) struct Tally {
    channels: Mutex<BTreeMap<i64, ChannelSummary>>,
    floods: std::sync::atomic::AtomicU64,
    flood_sleeps: std::sync::atomic::AtomicU64,
    flood_sleep_ms: std::sync::atomic::AtomicU64,
    retries: std::sync::atomic::AtomicU64,
}

impl Tally {
    /// The channel summaries and client counters gathered so far.
    pub(crate) fn summary(&self) -> RunSummary {
        use std::sync::atomic::Ordering::Relaxed;
        RunSummary {
            channels: lock(&self.channels).values().cloned().collect(),
            floods: self.floods.load(Relaxed),
            flood_sleeps: self.flood_sleeps.load(Relaxed),
            flood_sleep: Duration::from_millis(self.flood_sleep_ms.load(Relaxed)),
            retries: self.retries.load(Relaxed),
            ..Default::default()
        }
    }

    fn add_stats(&self, a: &Account) {
        use crate::telegram::client::Stats;
        use std::sync::atomic::Ordering::Relaxed;
        let s = a.stats();
        self.floods.fetch_add(Stats::get(&s.floods), Relaxed);
        self.flood_sleeps
            .fetch_add(Stats::get(&s.flood_sleeps), Relaxed);
        self.flood_sleep_ms
            .fetch_add(Stats::get(&s.flood_sleep_ms), Relaxed);
        self.retries.fetch_add(Stats::get(&s.retries), Relaxed);
    }

    fn update(&self, ch: &ChannelRow, f: impl FnOnce(&mut ChannelSummary)) {
        let mut map = lock(&self.channels);
        let entry = map.entry(ch.id).or_insert_with(|| ChannelSummary {
            account: ch.account.clone(),
            channel: ch.label(),
            ..Default::default()
        });
        f(entry);
    }
}

/// Everything one account's ingest task needs.
#[derive(Clone)]
pub(crate) struct AccountTask {
    /// The account's row id.
    pub account_id: i64,
    /// Its name (for logs).
    pub name: String,
    /// The database.
    pub store: AsyncStore,
    /// The process's Telegram connections (shared with admin jobs and alerts).
    pub connections: Arc<Connections>,
    /// Where failures that need a person are raised.
    pub alerts: Option<Arc<crate::alerts::Alerts>>,
    /// Where posts stored and channel lag are counted.
    pub metrics: Option<Arc<crate::metrics::Metrics>>,
    /// How to run.
    pub opts: RunOptions,
    /// The shared progress display.
    pub progress: Arc<Progress>,
    /// Where `run --once` gathers what happened.
    pub tally: Arc<Tally>,
    /// Ingest figures per account (lag, gaps, requests), for logs and `/metrics`.
    pub ingest_metrics: Arc<Metrics>,
    /// Media downloads, when `media.download` wants any: run beside the account's ingest on its
    /// connection (with `once`, after it).
    pub downloads: Option<Arc<crate::media::Downloads>>,
}

/// How often the ingest figures ([`crate::metrics::ingest::IngestMetrics`]) are logged.
const LOG_METRICS_EVERY: Duration = Duration::from_secs(60);

/// Whether a channel is followed through updates: live mode, the account is a member, and the
/// channel's pts is known (its first poll or push set it). Such a channel is polled only to
/// reconcile.
fn is_live(opts: &RunOptions, row: Option<&LiveRow>) -> bool {
    opts.live() && row.is_some_and(|r| r.member == Some(true) && r.pts.is_some())
}

/// A channel's next poll: its last fetch plus the interval, jittered ±10 % by a per-channel constant.
fn due_at(ch: &ChannelRow, poll: Duration) -> i64 {
    let jitter = ((ch.id.wrapping_mul(2_654_435_761) % 21) - 10) as f64 / 100.0;
    let secs = (poll.as_secs_f64() * (1.0 + jitter)).round() as i64;
    ch.last_fetch_at.map(|t| t + secs.max(1)).unwrap_or(0)
}

/// How long a channel is parked after its `failures`-th consecutive failure of this kind: `base`
/// doubling per failure, capped.
fn park_for(base: u64, cap: u64, failures: u32) -> i64 {
    let secs = base.saturating_mul(1u64 << failures.min(20)).min(cap);
    i64::try_from(secs).unwrap_or(i64::MAX)
}

impl AccountTask {
    /// Takes the account's session lease, connects lazily, and syncs its channels until `cancel`
    /// (or, with `once`, until each was synced once). Ends cleanly when the account has nothing to do
    /// (no active channels, removed, or stopped because it is logged out).
    async fn run_ingest(&self, cancel: CancellationToken) -> Result<(), TaskError> {
        let Some(conn) = self.connect().await? else {
            return Ok(());
        };
        let account = &conn.account;
        let id = self.account_id;
        let updates = account.take_updates();
        if updates.is_none() && self.opts.live() {
            // Another user of the shared connection (an admin job) outlived the previous run of this
            // task and the update channel went with that run: poll until the connection is renewed.
            tracing::warn!(account = %self.name, "live updates unavailable on this connection; polling");
        }
        let result = match updates.filter(|_| self.opts.live()) {
            None => self.sync_loop(account, &cancel, None).await,
            Some(updates) => {
                // The live task and the poller run side by side; when either ends, both do.
                let syncs = Arc::new(SyncRequests::default());
                let stop = cancel.child_token();
                let live = LiveTask {
                    account_id: id,
                    name: self.name.clone(),
                    store: self.store.clone(),
                    metrics: self.ingest_metrics.account(&self.name),
                    syncs: Arc::clone(&syncs),
                    check_interval: self.opts.live_check_interval,
                    keepalive: self.opts.live_keepalive,
                    silence_alert: self.opts.live_silence_alert,
                    alerts: self.alerts.clone(),
                    comments_all: self.opts.comments,
                };
                let (polled, lived) = tokio::join!(
                    async {
                        let r = self.sync_loop(account, &stop, Some(&syncs)).await;
                        stop.cancel();
                        r
                    },
                    async {
                        let r = live.run(Arc::clone(account), updates, stop.clone()).await;
                        // Ended by an error, or by Telegram refusing the account: the poller too.
                        if !matches!(r, Ok(None)) {
                            stop.cancel();
                        }
                        r
                    }
                );
                match lived {
                    Ok(Some((state, reason))) => {
                        stop_account(
                            &self.store,
                            self.alerts.as_deref(),
                            id,
                            &self.name,
                            state,
                            &reason,
                        )
                        .await?;
                        polled
                    }
                    Ok(None) => polled,
                    Err(e) => polled.and(Err(e)),
                }
            }
        };
        self.tally.add_stats(account);
        result
    }

    /// The account's ingest (`run_ingest`) with its downloads beside it; with `once`, the downloads
    /// of what the sync stored come after it.
    pub(crate) async fn run(self, cancel: CancellationToken) -> Result<(), TaskError> {
        let Some(downloads) = self.downloads.clone() else {
            return self.run_ingest(cancel).await;
        };
        let Some(conn) = self.connect().await? else {
            return Ok(());
        };
        let account = Arc::clone(&conn.account);
        let (store, id, once) = (self.store.clone(), self.account_id, self.opts.once);
        let fetch = |stop: CancellationToken| {
            let (downloads, store, account) =
                (Arc::clone(&downloads), store.clone(), Arc::clone(&account));
            async move {
                match downloads.run(store, account, id, once, stop).await {
                    Ok(()) => Ok(()),
                    // The ingest meets the same refusal and stops the account in its state.
                    Err(crate::media::DownloadError::Account(_)) => Ok(()),
                    Err(crate::media::DownloadError::Store(e)) => Err(TaskError::from(e)),
                    Err(e) => Err(TaskError::retry(e)),
                }
            }
        };
        if once {
            self.run_ingest(cancel.clone()).await?;
            return fetch(cancel).await;
        }
        let stop = cancel.child_token();
        let (ingested, fetched) = tokio::join!(
            async {
                let r = self.run_ingest(cancel.clone()).await;
                stop.cancel();
                r
            },
            fetch(stop.clone())
        );
        drop(conn);
        ingested.and(fetched)
    }

    /// The account's connection (its session lease taken), or `None` when the account has nothing to
    /// do: removed, or stopped in a state only its owner can change.
    async fn connect(
        &self,
    ) -> Result<Option<Arc<crate::telegram::connections::Connection>>, TaskError> {
        if self.account_row().await?.is_none() {
            return Ok(None);
        }
        match self.connections.get(self.account_id).await {
            Ok(c) => Ok(Some(c)),
            Err(ConnectError::NoAccount(_) | ConnectError::Stopped { .. }) => Ok(None),
            Err(ConnectError::Store(e)) => Err(e.into()),
            Err(e) => Err(TaskError::retry(e)),
        }
    }

    async fn account_row(&self) -> Result<Option<AccountRow>, TaskError> {
        let id = self.account_id;
        let accounts = self
            .store
            .read("read the account", |s| s.accounts())
            .await?;
        Ok(accounts
            .into_iter()
            .find(|a| a.id == id && a.disabled_reason.is_none()))
    }

    /// Polls the account's channels when they are due: every `poll_interval`, or for channels followed
    /// through updates every `reconcile_interval` and whenever the live task asks (`syncs`).
    async fn sync_loop(
        &self,
        account: &Arc<Account>,
        cancel: &CancellationToken,
        syncs: Option<&Arc<SyncRequests>>,
    ) -> Result<(), TaskError> {
        let mut synced: std::collections::HashSet<i64> = std::collections::HashSet::new();
        let metrics = self.ingest_metrics.account(&self.name);
        let mut next_log = std::time::Instant::now() + LOG_METRICS_EVERY;
        let mut next_counts = std::time::Instant::now();
        let mut next_comments = std::time::Instant::now();
        loop {
            if self.account_row().await?.is_none() {
                return Ok(());
            }
            let id = self.account_id;
            let channels: Vec<ChannelRow> = self
                .store
                .read("list the account's channels", move |s| {
                    s.account_channels(id)
                })
                .await?
                .into_iter()
                .filter(|c| c.active)
                .collect();
            if channels.is_empty() {
                return Ok(());
            }
            let live: std::collections::HashMap<i64, LiveRow> = if self.opts.live() {
                self.store
                    .read("read live state", move |s| s.live_rows(id))
                    .await?
                    .into_iter()
                    .map(|r| (r.channel_id, r))
                    .collect()
            } else {
                Default::default()
            };
            let followed_live = channels
                .iter()
                .filter(|c| is_live(&self.opts, live.get(&c.id)))
                .count() as u64;
            metrics.live_channels.store(followed_live, Relaxed);
            metrics
                .polled_channels
                .store(channels.len() as u64 - followed_live, Relaxed);
            if !self.opts.once && std::time::Instant::now() >= next_log {
                tracing::info!(account = %self.name, "ingest: {}", metrics.summary());
                next_log = std::time::Instant::now() + LOG_METRICS_EVERY;
            }
            let now = unix_now();
            let mut next: Option<i64> = None;
            let mut due_now = Vec::new();
            let counted: Vec<ChannelRow> = channels
                .iter()
                .filter(|c| c.flood_until.is_none_or(|u| u <= now))
                .cloned()
                .collect();
            for ch in channels {
                if self.opts.once && synced.contains(&ch.id) {
                    continue;
                }
                if let Some(until) = ch.flood_until.filter(|u| *u > now) {
                    if self.opts.once {
                        let left = until - now;
                        self.tally.update(&ch, |e| {
                            e.error = Some(format!(
                                "parked for {left} s more: {}",
                                ch.last_error.as_deref().unwrap_or("FLOOD_WAIT")
                            ));
                        });
                        synced.insert(ch.id);
                    }
                    next = Some(next.map_or(until, |n| n.min(until)));
                    continue;
                }
                let every = if is_live(&self.opts, live.get(&ch.id)) {
                    self.opts.reconcile_interval
                } else {
                    self.opts.poll_interval
                };
                let due = due_at(&ch, every);
                let asked = syncs.is_some_and(|s| s.wanted(ch.id));
                if !self.opts.once && due > now && !asked {
                    next = Some(next.map_or(due, |n| n.min(due)));
                    continue;
                }
                if let Some(s) = syncs {
                    s.take(ch.id);
                }
                synced.insert(ch.id);
                due_now.push(ch);
            }
            // The due channels are synced side by side, sharing the account's pacer and its window
            // of requests in flight.
            let mut running = tokio::task::JoinSet::new();
            let mut queue = due_now.into_iter();
            loop {
                while running.len() < account.window() && !cancel.is_cancelled() {
                    let Some(ch) = queue.next() else { break };
                    let (me, acc, c) = (self.clone(), Arc::clone(account), cancel.clone());
                    running.spawn(async move { me.sync_one(&acc, &ch, &c).await });
                }
                let Some(done) = running.join_next().await else {
                    break;
                };
                let stop = match done {
                    Ok(Ok(stop)) => stop,
                    Ok(Err(e)) => return Err(e),
                    Err(join) => {
                        return Err(TaskError::retry(anyhow::anyhow!(
                            "a channel sync ended abnormally: {join}"
                        )));
                    }
                };
                if stop {
                    return Ok(());
                }
            }
            if cancel.is_cancelled() {
                return Ok(());
            }
            if std::time::Instant::now() >= next_counts {
                self.refresh_counts(account, &counted, cancel).await?;
                next_counts = std::time::Instant::now() + COUNTS_EVERY;
            }
            if std::time::Instant::now() >= next_comments {
                self.read_comments(account, &counted, cancel).await?;
                next_comments = std::time::Instant::now() + COMMENTS_EVERY;
            }
            if self.opts.once {
                return Ok(());
            }
            // Wake for the earliest due channel, but look again at least every few seconds so that
            // channels added, resumed or unparked meanwhile are noticed.
            let wait = next
                .map(|n| (n - unix_now()).max(1) as u64)
                .unwrap_or(5)
                .min(5);
            let asked = async {
                match syncs {
                    Some(s) => s.requested().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = cancel.cancelled() => return Ok(()),
                _ = tokio::time::sleep(Duration::from_secs(wait)) => {}
                _ = asked => {}
            }
        }
    }

    /// Syncs one channel and records what its outcome means; true when the account must stop.
    async fn sync_one(
        &self,
        account: &Arc<Account>,
        ch: &ChannelRow,
        cancel: &CancellationToken,
    ) -> Result<bool, TaskError> {
        let progress = Arc::new(self.progress.channel(&ch.label()));
        let ticker = {
            let (p, a) = (Arc::clone(&progress), Arc::clone(account));
            tokio::spawn(async move {
                loop {
                    p.sleeping(a.flood_sleep());
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            })
        };
        let result = sync_channel(account, &self.store, ch, &progress, cancel).await;
        ticker.abort();
        progress.finish();
        match result {
            Ok(r) => {
                let mut run_new = 0;
                self.tally.update(ch, |e| {
                    e.inserted += r.inserted;
                    e.edited += r.edited;
                    e.error = r.interrupted.then(|| "interrupted by shutdown".to_string());
                    run_new = e.inserted;
                });
                if let Some(m) = self.metrics.as_ref().map(|m| m.of::<IngestFamilies>()) {
                    let label = super::metrics::ChannelLabel {
                        account: self.name.clone(),
                        channel: ch.label(),
                    };
                    m.posts_ingested
                        .get_or_create(&label)
                        .inc_by(r.inserted as u64);
                    m.channel_lag
                        .get_or_create(&label)
                        .set(i64::from(r.newest_id.saturating_sub(r.checkpoint)).max(0));
                }
                if r.left {
                    tracing::warn!(account = %self.name, channel = %ch.label(), "the account is no longer a member of the channel");
                    self.alert(NewAlert {
                        kind: "channel_left".into(),
                        dedup_key: format!("left:{}", ch.id),
                        account: Some(self.name.clone()),
                        message: format!(
                            "account {} is no longer a member of channel {} ({}); it is still polled while it can be read: `tgsift channels prune-left {}` stops that",
                            self.name, ch.label(), ch.title, self.name
                        ),
                        details: serde_json::json!({"channel": ch.label(), "channel_id": ch.id, "title": ch.title}),
                    })
                    .await;
                }
                if r.inserted + r.edited > 0 {
                    // `new`: this pass; `new_this_run`: every pass of this run (as the summary counts,
                    // passes cut short by a park included).
                    tracing::info!(account = %self.name, channel = %ch.label(), new = r.inserted, edited = r.edited, new_this_run = run_new, "channel synced");
                }
                Ok(false)
            }
            Err(SyncError::Store(e)) => Err(e.into()),
            Err(SyncError::Telegram(e)) => {
                // Batches committed before the failure count too.
                let fetched = progress.fetched() as usize;
                if let Some(m) = self.metrics.as_ref().map(|m| m.of::<IngestFamilies>()) {
                    m.posts_ingested
                        .get_or_create(&super::metrics::ChannelLabel {
                            account: self.name.clone(),
                            channel: ch.label(),
                        })
                        .inc_by(fetched as u64);
                }
                let mut run_new = 0;
                self.tally.update(ch, |s| {
                    s.inserted += fetched;
                    s.error = Some(e.to_string());
                    run_new = s.inserted;
                });
                if fetched > 0 {
                    tracing::info!(account = %self.name, channel = %ch.label(), new = fetched, new_this_run = run_new, error = %e, "channel pass stopped");
                }
                self.record_failure(ch, e).await
            }
        }
    }

    /// Stores what a failure means for the channel (see the module docs); true when the account must
    /// stop. Local failures come back as errors for the supervisor.
    async fn record_failure(&self, ch: &ChannelRow, e: TgError) -> Result<bool, TaskError> {
        let id = ch.id;
        let msg = e.to_string();
        let park = |secs: i64, store: AsyncStore, msg: String| async move {
            let until = unix_now().saturating_add(secs);
            store
                .with("park a channel", move |s| s.park_channel(id, until, &msg))
                .await
        };
        match e {
            TgError::Cancelled => Ok(true),
            TgError::FloodWait { seconds, .. } | TgError::Budget { seconds, .. } => {
                tracing::warn!(channel = %ch.label(), seconds, "channel parked by FLOOD_WAIT");
                park(i64::from(seconds), self.store.clone(), msg).await?;
                Ok(false)
            }
            TgError::AccountStopped { state, reason, .. } => {
                stop_account(
                    &self.store,
                    self.alerts.as_deref(),
                    self.account_id,
                    &self.name,
                    state,
                    &reason,
                )
                .await?;
                Ok(true)
            }
            TgError::JoinRefused { .. } | TgError::File { .. } | TgError::NoSuchMessage { .. } => {
                // Only a join job joins, only a download asks for files and only the comments
                // reader names a message; a sync never meets these. Parked like an unknown answer.
                park(3600, self.store.clone(), msg).await?;
                Ok(false)
            }
            TgError::Local { .. } => Err(TaskError::retry(e)),
            TgError::Channel { .. } | TgError::Username { .. } => {
                tracing::error!(channel = %ch.label(), error = %msg, "channel failed permanently; deactivated");
                let why = msg.clone();
                self.store
                    .with("record a channel error", move |s| {
                        s.fail_channel(id, &msg, true)
                    })
                    .await?;
                self.alert(NewAlert {
                    kind: "channel_deactivated".into(),
                    dedup_key: format!("channel:{}", ch.id),
                    account: Some(self.name.clone()),
                    message: format!(
                        "channel {} of account {} was deactivated: {why}; resume it with `tgsift channels resume {}` once it is readable again",
                        ch.label(), self.name, ch.label()
                    ),
                    details: serde_json::json!({"channel": ch.label(), "channel_id": ch.id, "error": why}),
                })
                .await;
                Ok(false)
            }
            TgError::Rpc { .. } | TgError::Undecodable { .. } => {
                let base = if matches!(e, TgError::Undecodable { .. }) {
                    600
                } else {
                    60
                };
                let secs = park_for(base, 86_400, ch.failures);
                tracing::warn!(channel = %ch.label(), error = %msg, park_secs = secs, "channel parked; it will be tried again");
                park(secs, self.store.clone(), msg).await?;
                Ok(false)
            }
            TgError::Exhausted { .. } | TgError::CircuitOpen { .. } => {
                let secs = park_for(30, 900, ch.failures);
                tracing::warn!(channel = %ch.label(), error = %msg, park_secs = secs, "Telegram unreachable; channel parked");
                park(secs, self.store.clone(), msg).await?;
                Ok(false)
            }
        }
    }
}

impl AccountTask {
    /// Raises an alert when alerts are configured (a failure to store it is logged: ingest goes on).
    async fn alert(&self, alert: NewAlert) {
        if let Some(a) = &self.alerts {
            a.raise_or_log(alert).await;
        }
    }
}

/// Stops an account Telegram refuses: records `state` with Telegram's reason (every task of the
/// account sees it and ends; nothing restarts them until `account check`, `account resume` or a new
/// login), and raises one alert naming the state and what the owner can do. Its channels are left as
/// they are. Shared by the poller, the live task and admin jobs, whichever meets the answer first.
pub(crate) async fn stop_account(
    store: &AsyncStore,
    alerts: Option<&crate::alerts::Alerts>,
    account_id: i64,
    name: &str,
    state: AccountState,
    reason: &str,
) -> Result<(), tgsift_store::StoreError> {
    let advice = crate::telegram::error::what_to_do(name, state);
    tracing::error!(account = %name, state = %state, reason, "account stopped: {advice}");
    let why = reason.to_string();
    store
        .with("stop the account", move |s| {
            s.set_account_state(account_id, state, Some(&why))
        })
        .await?;
    if let Some(a) = alerts {
        a.raise_or_log(NewAlert {
            kind: format!("account_{state}"),
            dedup_key: format!("account:{name}"),
            account: Some(name.to_string()),
            message: format!("account {name} is stopped as {state} ({reason}): {advice}"),
            details: serde_json::json!({"state": state.as_str(), "error": reason}),
        })
        .await;
    }
    Ok(())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parks_grow_with_failures_and_are_capped() {
        assert_eq!(park_for(60, 86_400, 0), 60);
        assert_eq!(park_for(60, 86_400, 3), 480);
        assert_eq!(park_for(60, 86_400, 40), 86_400);
    }
}
