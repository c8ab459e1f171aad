//! Live mode: one account's channels followed through the updates Telegram pushes, with the gaps
//! filled by `updates.getChannelDifference` — every call through [`Account::invoke`], so flood
//! windows, the pacer, timeouts and the breaker apply as to any other call.
//!
//! Each followed channel the account is a member of has a pts: every event up to it is stored. A
//! pushed event is applied when it continues the pts exactly; one that skips ahead waits up to 0.5 s
//! for the missing ones (pushes may arrive out of order), then the channel's difference is fetched.
//! `updateChannelTooLong` fetches the difference at once; a closed connection, `updatesTooLong` or
//! unreadable updates ask `updates.getDifference` (which names cut channels and makes the new
//! connection receive pushes again) and, after a lost connection, every channel's difference
//! (nothing else tells what was pushed into the dead one). `channelDifferenceTooLong` resets the pts
//! and asks the poller for a history backfill from the checkpoint.
//!
//! Telegram also goes quiet without saying so: it stops pushing to a connection that sends no
//! requests, never pushes some channels, lets a connection go half-open, resets the session on its
//! side (grammers swallows `new_session_created`). So nothing here trusts pushes alone:
//! - every channel's difference is asked at least every `ingest.live_check_interval` (a round robin,
//!   staggered over the interval, re-armed by each of its events and differences; Telegram's
//!   `timeout` is honoured), so a channel that is never pushed is still stored within it;
//! - an account that sent no request for `ingest.live_keepalive` asks `updates.getDifference`, which
//!   keeps pushes flowing and names the channels whose pushes a session reset dropped;
//! - a connection the client layer dropped as half-open counts as a lost connection;
//! - events found by differences that were never pushed are counted, and an account whose pushes
//!   stay silent for `ingest.live_silence_alert` while its differences find posts raises
//!   `live_silent`.
//!
//! Writes are batched: everything that arrived while the previous write ran is stored in one
//! transaction together with each channel's new pts ([`SqliteStore::apply_live`]), so a crash at any
//! instant restarts from a pts whose events are all stored. Pushed posts never move the checkpoint
//! over ids nobody fetched; a hole is handed to the poller ([`SyncRequests`]).
//!
//! [`SqliteStore::apply_live`]: tgsift_store::LiveStore::apply_live

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tgsift_store::{
    AccountState, AsyncStore, ChannelRow, LiveBatch, LiveChange, LiveComment, NewAlert, unix_ms,
};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{channel_info, to_store};
use crate::alerts::Alerts;
use crate::metrics::ingest::IngestMetrics;
use crate::task::TaskError;
use crate::telegram::channels::ChannelInfo;
use crate::telegram::client::Account;
use crate::telegram::error::TgError;
use crate::telegram::updates::{
    AccountDifference, Change, ChannelDifference, ChannelEvent, CommonState, Message, Pushed,
    Updates,
};

/// How long an event that skips ahead waits for the missing ones before the difference is asked
/// (Telegram's documentation suggests up to 0.5 s).
pub(crate) const GAP_GRACE: Duration = Duration::from_millis(500);
/// How often the channel list is read again (channels added, paused, joined, removed).
const RELOAD_EVERY: Duration = Duration::from_secs(5);
/// First delay before a failed difference is asked again; doubles per failure.
const RETRY_FIRST: Duration = Duration::from_secs(2);
/// Cap of that delay.
const RETRY_CAP: Duration = Duration::from_secs(300);

/// Channels whose history the poller should fetch soon (a hole under pushed posts, a difference
/// too long to replay), shared by the live task and the poller of one account.
#[derive(Debug, Default)]
pub(crate) struct SyncRequests {
    wanted: Mutex<HashSet<i64>>,
    notify: tokio::sync::Notify,
}

impl SyncRequests {
    /// Asks for a sync of channel row `id`.
    pub(crate) fn request(&self, id: i64) {
        let added = self
            .wanted
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id);
        if added {
            self.notify.notify_one();
        }
    }

    /// Whether a sync of `id` was asked for.
    pub(crate) fn wanted(&self, id: i64) -> bool {
        self.wanted
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&id)
    }

    /// Marks the request of `id` as served (its sync is starting).
    pub(crate) fn take(&self, id: i64) {
        self.wanted
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
    }

    /// Resolves when a new request arrives.
    pub(crate) async fn requested(&self) {
        self.notify.notified().await;
    }
}

/// Where a channel's difference stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Diff {
    /// Pushes are applied as they come.
    Idle,
    /// A difference is to be asked (not before `not_before`).
    Wanted,
    /// A difference call is in flight.
    Running,
}

/// One followed channel, as the live task tracks it.
struct Tracked {
    row: i64,
    info: ChannelInfo,
    label: String,
    /// Every event up to it is applied (or queued to be written with it).
    pts: Option<i32>,
    /// Events that arrived ahead of the pts, or while a difference ran.
    pending: Vec<ChannelEvent>,
    /// When the oldest unfilled event arrived.
    gap_since: Option<Instant>,
    diff: Diff,
    not_before: Option<Instant>,
    failures: u32,
    /// A gap is being filled (counted when the difference that fills it ends).
    recovering: bool,
    /// When the channel's difference is asked unless an event or a difference comes first.
    check_at: Instant,
    /// Another difference is needed once the one in flight ends (it may predate what was lost).
    rerun: bool,
    /// A difference has re-armed the check since the channel was tracked (see `on_done`).
    spread: bool,
}

impl Tracked {
    /// Asks for a difference: now if none is in flight, else right after the one that is.
    fn want_difference(&mut self) {
        match self.diff {
            Diff::Idle => self.diff = Diff::Wanted,
            Diff::Wanted => {}
            Diff::Running => self.rerun = true,
        }
    }
}

/// What one in-flight call brought back.
enum Done {
    Channel(i64, Result<ChannelDifference, TgError>),
    State(Result<CommonState, TgError>),
    Difference(Result<AccountDifference, TgError>),
}

type Call = Pin<Box<dyn Future<Output = Done> + Send>>;

/// The account-wide part: the common state and what must be asked about it.
#[derive(Default)]
struct Common {
    state: Option<CommonState>,
    /// `getState` / `getDifference` is to be asked.
    wanted: bool,
    running: bool,
    not_before: Option<Instant>,
    failures: u32,
    /// Once it answers, every channel's difference is asked (pushes may have been lost).
    sweep: bool,
}

/// The live task of one account.
pub(crate) struct LiveTask {
    /// The account's row id.
    pub account_id: i64,
    /// Its name (for logs).
    pub name: String,
    /// The database.
    pub store: AsyncStore,
    /// Where its figures go.
    pub metrics: Arc<IngestMetrics>,
    /// Syncs asked of the poller.
    pub syncs: Arc<SyncRequests>,
    /// `ingest.live_check_interval`: the longest a channel goes without its difference.
    pub check_interval: Duration,
    /// `ingest.live_keepalive`: the longest the account goes without a request.
    pub keepalive: Duration,
    /// `ingest.live_silence_alert`: push silence, while differences find posts, that is alerted.
    pub silence_alert: Duration,
    /// Where `live_silent` goes, when alerts are configured.
    pub alerts: Option<Arc<Alerts>>,
    /// `ingest.comments`: every channel's comments are read, not only flagged channels'.
    pub comments_all: bool,
}

/// Whether the pushes still come: when the last one arrived, and what differences found since.
struct Silence {
    last_push: Instant,
    /// Posts found by differences since the last push (they were never pushed).
    found: u64,
    /// `live_silent` was raised for this silence.
    alerted: bool,
}

struct State {
    channels: HashMap<i64, Tracked>,
    /// Discussion groups of the channels whose comments are read: group's Telegram id → the
    /// channel's row. Their pushes (when the account is a member) bring comments as they are written.
    groups: HashMap<i64, i64>,
    /// Channel events and pts to write, per channel row, in arrival order.
    writes: BTreeMap<i64, LiveBatch>,
    /// Pushed comments to write.
    comments: Vec<LiveComment>,
    common: Common,
    calls: FuturesUnordered<Call>,
    channel_calls: usize,
    /// Telegram refused the account itself: the state and its reason, for the caller to record.
    stopped: Option<(AccountState, String)>,
    silence: Silence,
}

impl LiveTask {
    /// Follows the account's member channels until `cancel`. Ends at once when Telegram refuses the
    /// account itself, with the state and reason for the caller to stop the account with; local
    /// failures end it with an error.
    pub(crate) async fn run(
        self,
        account: Arc<Account>,
        mut updates: Updates,
        cancel: CancellationToken,
    ) -> Result<Option<(AccountState, String)>, TaskError> {
        let mut st = State {
            channels: HashMap::new(),
            groups: HashMap::new(),
            writes: BTreeMap::new(),
            comments: Vec::new(),
            common: Common {
                wanted: true,
                sweep: true,
                ..Default::default()
            },
            calls: FuturesUnordered::new(),
            channel_calls: 0,
            stopped: None,
            silence: Silence {
                last_push: Instant::now(),
                found: 0,
                alerted: false,
            },
        };
        let mut rebuilds = account.rebuilds();
        rebuilds.borrow_and_update();
        self.reload(&mut st).await?;
        let parallel = (account.window() / 2).max(1);
        let mut next_reload = Instant::now() + RELOAD_EVERY;
        loop {
            self.start_calls(&account, &mut st, parallel);
            if !st.writes.is_empty() || !st.comments.is_empty() {
                self.flush(&mut st).await?;
                continue;
            }
            let wake = self.next_wake(&st, account.idle_for()).min(next_reload);
            tokio::select! {
                _ = cancel.cancelled() => return Ok(None),
                got = updates.next() => {
                    let Some(items) = got else {
                        return Err(TaskError::retry(anyhow::anyhow!("the connection's update channel closed")));
                    };
                    self.on_pushed(&mut st, items);
                    // Everything already waiting goes into the same write.
                    while let Some(more) = updates.try_next() {
                        self.on_pushed(&mut st, more);
                    }
                }
                Some(done) = st.calls.next(), if !st.calls.is_empty() => {
                    if !self.on_done(&mut st, done)? {
                        return Ok(st.stopped.take());
                    }
                }
                Ok(()) = rebuilds.changed() => {
                    // A half-open connection was dropped: as good as lost.
                    self.on_pushed(&mut st, vec![Pushed::ConnectionLost]);
                }
                _ = tokio::time::sleep_until(wake) => {}
            }
            let now = Instant::now();
            self.check_deadlines(&mut st, now);
            self.keep_alive(&mut st, account.idle_for());
            if let Some(alert) = self.silence_alert(&mut st, now)
                && let Some(a) = &self.alerts
            {
                a.raise_or_log(alert).await;
            }
            if now >= next_reload {
                self.reload(&mut st).await?;
                next_reload = now + RELOAD_EVERY;
            }
        }
    }

    /// Reads the account's followed channels and their stored state; tracks the active ones the
    /// account is a member of.
    async fn reload(&self, st: &mut State) -> Result<(), TaskError> {
        let (id, all) = (self.account_id, self.comments_all);
        let (channels, rows, commented) = self
            .store
            .read("read the live channels", move |s| {
                Ok((
                    s.account_channels(id)?,
                    s.live_rows(id)?,
                    s.comment_channels(id, all)?,
                ))
            })
            .await?;
        st.groups = commented
            .into_iter()
            .filter_map(|c| Some((c.group.filter(|g| g.0 != 0)?.0, c.channel_id)))
            .collect();
        let rows: HashMap<i64, _> = rows.into_iter().map(|r| (r.channel_id, r)).collect();
        let mine: Vec<&ChannelRow> = channels
            .iter()
            .filter(|c| c.account_id == id && c.active)
            .collect();
        let mut keep = HashSet::new();
        let subscribed = st.common.state.is_some();
        let now = Instant::now();
        for ch in &mine {
            let row = rows.get(&ch.id);
            if row.and_then(|r| r.member) != Some(true) {
                continue;
            }
            keep.insert(ch.tg_id);
            let stored_pts = row.and_then(|r| r.pts);
            let t = st.channels.entry(ch.tg_id).or_insert_with(|| Tracked {
                row: ch.id,
                info: channel_info(ch),
                label: ch.label(),
                pts: None,
                pending: Vec::new(),
                gap_since: None,
                diff: Diff::Idle,
                not_before: None,
                failures: 0,
                recovering: false,
                check_at: now + stagger(self.check_interval, ch.id),
                rerun: false,
                spread: false,
            });
            if t.pts.is_none() && stored_pts.is_some() {
                // A poll learned where the channel's events start: catch up from there.
                t.pts = stored_pts;
                if subscribed && t.diff == Diff::Idle {
                    t.diff = Diff::Wanted;
                }
            }
        }
        st.channels.retain(|tg, _| keep.contains(tg));
        Ok(())
    }

    /// Starts the calls that are due: the account's state or difference first (it also makes the
    /// connection receive pushes), then channel differences up to `parallel` at once.
    fn start_calls(&self, account: &Arc<Account>, st: &mut State, parallel: usize) {
        let now = Instant::now();
        let c = &mut st.common;
        if c.wanted && !c.running && c.not_before.is_none_or(|t| t <= now) {
            c.wanted = false;
            c.running = true;
            IngestMetrics::add(&self.metrics.account_differences, 1);
            let acc = Arc::clone(account);
            let call: Call = match c.state {
                None => Box::pin(async move { Done::State(acc.common_state().await) }),
                Some(from) => {
                    Box::pin(async move { Done::Difference(acc.difference(&from).await) })
                }
            };
            st.calls.push(call);
        }
        // Channel differences wait until the connection gets pushes again, or their events could
        // be lost between the difference and the subscription.
        if st.common.running || st.common.state.is_none() {
            return;
        }
        if st.channel_calls >= parallel {
            return;
        }
        let mut due: Vec<&mut Tracked> = st
            .channels
            .values_mut()
            .filter(|t| t.diff == Diff::Wanted && t.not_before.is_none_or(|n| n <= now))
            .collect();
        due.sort_by_key(|t| t.row);
        for t in due.into_iter().take(parallel - st.channel_calls) {
            let Some(pts) = t.pts else {
                t.diff = Diff::Idle;
                self.syncs.request(t.row);
                continue;
            };
            t.diff = Diff::Running;
            st.channel_calls += 1;
            IngestMetrics::add(&self.metrics.channel_differences, 1);
            let (acc, info, tg) = (Arc::clone(account), t.info.clone(), t.info.id);
            st.calls.push(Box::pin(async move {
                Done::Channel(tg, acc.channel_difference(&info, pts).await)
            }));
        }
    }

    /// The earliest instant something is due: a gap's grace, a channel's check, a retry, the
    /// account's keep-alive (`idle` is how long since its last request).
    fn next_wake(&self, st: &State, idle: Duration) -> Instant {
        let now = Instant::now();
        let mut at = now + RELOAD_EVERY;
        at = at.min(now + self.keepalive.saturating_sub(idle));
        if !st.silence.alerted {
            at = at.min(st.silence.last_push + self.silence_alert);
        }
        for t in st.channels.values() {
            if let Some(g) = t.gap_since {
                at = at.min(g + GAP_GRACE);
            }
            if t.diff == Diff::Idle {
                at = at.min(t.check_at);
            }
            if t.diff == Diff::Wanted
                && let Some(n) = t.not_before
            {
                at = at.min(n);
            }
        }
        if st.common.wanted
            && let Some(n) = st.common.not_before
        {
            at = at.min(n);
        }
        at
    }

    fn check_deadlines(&self, st: &mut State, now: Instant) {
        for t in st.channels.values_mut() {
            if t.diff != Diff::Idle {
                continue;
            }
            if t.gap_since.is_some_and(|g| now >= g + GAP_GRACE) {
                tracing::debug!(channel = %t.label, pts = ?t.pts, waiting = t.pending.len(), "gap in the channel's updates");
                IngestMetrics::add(&self.metrics.gaps, 1);
                t.gap_since = None;
                t.recovering = true;
                t.diff = Diff::Wanted;
            } else if now >= t.check_at {
                // The round robin: no event and no difference for a whole interval.
                IngestMetrics::add(&self.metrics.live_checks, 1);
                t.check_at = now + self.check_interval;
                t.diff = Diff::Wanted;
            }
        }
    }

    /// Asks `updates.getDifference` when the account sent no request for `ingest.live_keepalive`
    /// (`idle`): Telegram stops pushing to a connection without requests, and after a session reset
    /// on its side this is what names the channels whose pushes were dropped.
    fn keep_alive(&self, st: &mut State, idle: Duration) {
        let c = &mut st.common;
        if idle >= self.keepalive && c.state.is_some() && !c.running && !c.wanted {
            IngestMetrics::add(&self.metrics.keepalives, 1);
            c.wanted = true;
        }
    }

    /// `live_silent` once per silence: no push for `ingest.live_silence_alert` while differences
    /// kept finding posts (the channels publish, Telegram does not push them).
    fn silence_alert(&self, st: &mut State, now: Instant) -> Option<NewAlert> {
        let s = &mut st.silence;
        let silent = now.saturating_duration_since(s.last_push);
        if s.alerted || s.found == 0 || silent < self.silence_alert {
            return None;
        }
        s.alerted = true;
        self.metrics
            .push_silent
            .store(1, std::sync::atomic::Ordering::Relaxed);
        let secs = silent.as_secs();
        tracing::warn!(account = %self.name, seconds = secs, found = s.found, "no updates pushed while the channels publish: following them through differences");
        Some(NewAlert {
            kind: "live_silent".into(),
            dedup_key: format!("live_silent:{}", self.name),
            account: Some(self.name.clone()),
            message: format!(
                "account {} has received no pushed update for {secs} s while its channels published {} posts (found by differences); posts are still stored within ingest.live_check_interval, but check the account's connection",
                self.name, s.found
            ),
            details: serde_json::json!({"silent_seconds": secs, "found_by_differences": s.found}),
        })
    }

    /// Handles pushed items.
    fn on_pushed(&self, st: &mut State, items: Vec<Pushed>) {
        for item in items {
            match item {
                Pushed::Event(ev) => self.on_event(st, ev),
                Pushed::ChannelTooLong { channel_id, pts } => {
                    if let Some(t) = st.channels.get_mut(&channel_id) {
                        IngestMetrics::add(&self.metrics.gaps, 1);
                        if t.pts.is_none() {
                            t.pts = pts.filter(|p| *p > 0);
                        }
                        t.recovering = true;
                        t.want_difference();
                    }
                }
                Pushed::TooLong => {
                    IngestMetrics::add(&self.metrics.gaps, 1);
                    st.common.wanted = true;
                    if st.common.state.is_none() {
                        st.common.sweep = true;
                    }
                }
                Pushed::ConnectionLost | Pushed::Unreadable => {
                    tracing::info!(account = %self.name, "connection lost: asking what was missed");
                    IngestMetrics::add(&self.metrics.gaps, 1);
                    st.common.wanted = true;
                    st.common.sweep = true;
                }
            }
        }
    }

    /// A pushed channel event: applied if it continues the channel's pts, kept if it skips ahead.
    fn on_event(&self, st: &mut State, ev: ChannelEvent) {
        IngestMetrics::add(&self.metrics.updates, 1);
        let now = Instant::now();
        st.silence = Silence {
            last_push: now,
            found: 0,
            alerted: false,
        };
        self.metrics
            .push_silent
            .store(0, std::sync::atomic::Ordering::Relaxed);
        let Some(t) = st.channels.get_mut(&ev.channel_id) else {
            if let Some(&row) = st.groups.get(&ev.channel_id) {
                group_change(&mut st.comments, row, ev.change);
            }
            return;
        };
        t.check_at = now + self.check_interval;
        if t.diff != Diff::Idle {
            t.pending.push(ev);
            return;
        }
        match t.pts {
            // No state yet (a channel just added): its first event sets it; the poller fetches
            // what came before and refreshes the newest page.
            None => {
                t.pts = Some(ev.pts);
                apply(&mut st.writes, t, ev.change);
                self.syncs.request(t.row);
            }
            Some(p) if p + ev.count == ev.pts => {
                t.pts = Some(ev.pts);
                apply(&mut st.writes, t, ev.change);
                drain(&mut st.writes, t);
            }
            Some(p) if ev.pts <= p => {} // already applied
            Some(_) => {
                t.pending.push(ev);
                t.gap_since.get_or_insert_with(Instant::now);
            }
        }
    }

    /// Handles a finished call; false when the task must end (the account is logged out).
    fn on_done(&self, st: &mut State, done: Done) -> Result<bool, TaskError> {
        let now = Instant::now();
        match done {
            Done::Channel(tg, result) => {
                st.channel_calls = st.channel_calls.saturating_sub(1);
                let Some(t) = st.channels.get_mut(&tg) else {
                    return Ok(true);
                };
                t.diff = Diff::Idle;
                match result {
                    Ok(d) => {
                        t.failures = 0;
                        t.not_before = None;
                        let wait = match &d {
                            ChannelDifference::Empty {
                                timeout: Some(t), ..
                            } => self.check_interval.max(*t),
                            _ => self.check_interval,
                        };
                        // The first difference (the sweep at start asks every channel at once)
                        // re-arms within the interval's second half, by id, so the channels asked
                        // together then are not asked together ever after.
                        let wait = if std::mem::replace(&mut t.spread, true) {
                            wait
                        } else {
                            wait / 2 + stagger(wait / 2, t.row)
                        };
                        t.check_at = now + wait;
                        st.silence.found += self.on_channel_difference(&mut st.writes, t, d);
                        if std::mem::take(&mut t.rerun) {
                            t.want_difference();
                        }
                        Ok(true)
                    }
                    Err(e) => self.on_channel_error(st, tg, e, now),
                }
            }
            Done::State(result) => {
                st.common.running = false;
                match result {
                    Ok(state) => {
                        self.common_ok(st, state);
                        Ok(true)
                    }
                    Err(e) => self.common_error(st, e, now),
                }
            }
            Done::Difference(result) => {
                st.common.running = false;
                match result {
                    Ok(d) => {
                        if d.too_long {
                            st.common.sweep = true;
                        }
                        if !d.complete {
                            st.common.wanted = true;
                        }
                        self.on_pushed(st, d.pushed);
                        self.common_ok(st, d.state);
                        Ok(true)
                    }
                    Err(e) => self.common_error(st, e, now),
                }
            }
        }
    }

    /// The account's state is known and the connection gets pushes: a pending sweep asks every
    /// channel what it missed.
    fn common_ok(&self, st: &mut State, state: CommonState) {
        let c = &mut st.common;
        c.state = Some(state);
        c.failures = 0;
        c.not_before = None;
        if c.sweep && !c.wanted {
            c.sweep = false;
            for t in st.channels.values_mut().filter(|t| t.pts.is_some()) {
                t.want_difference();
            }
        }
    }

    fn common_error(&self, st: &mut State, e: TgError, now: Instant) -> Result<bool, TaskError> {
        let c = &mut st.common;
        c.wanted = true;
        match e {
            TgError::Cancelled => Ok(false),
            TgError::AccountStopped { state, reason, .. } => {
                tracing::warn!(account = %self.name, %state, "live updates stopped: Telegram refuses the account");
                st.stopped = Some((state, reason));
                Ok(false)
            }
            TgError::Local { .. } => Err(TaskError::retry(e)),
            TgError::FloodWait { seconds, .. } => {
                c.not_before = Some(now + Duration::from_secs(u64::from(seconds)));
                Ok(true)
            }
            other => {
                let wait = retry_delay(c.failures);
                c.failures += 1;
                c.not_before = Some(now + wait);
                tracing::warn!(account = %self.name, error = %other, retry_in = ?wait, "could not ask for missed updates");
                Ok(true)
            }
        }
    }

    /// Applies a channel's difference: its changes, its new pts, then the pushes that waited.
    /// Returns the new posts in it that were never pushed.
    fn on_channel_difference(
        &self,
        writes: &mut BTreeMap<i64, LiveBatch>,
        t: &mut Tracked,
        d: ChannelDifference,
    ) -> u64 {
        let pushed: HashSet<i32> = t
            .pending
            .iter()
            .filter_map(|e| match &e.change {
                Change::New(m) => Some(m.id()),
                _ => None,
            })
            .collect();
        let unpushed = |changes: &[Change]| {
            changes
                .iter()
                .filter(|c| matches!(c, Change::New(Message::Post(p)) if !pushed.contains(&p.id)))
                .count() as u64
        };
        let mut found = 0;
        let mut done = true;
        match d {
            ChannelDifference::Empty { pts, .. } => {
                t.pts = Some(t.pts.map_or(pts, |p| p.max(pts)));
                apply_pts(writes, t);
            }
            ChannelDifference::Changes {
                changes,
                pts,
                complete,
            } => {
                IngestMetrics::add(&self.metrics.updates, changes.len() as u64);
                found = unpushed(&changes);
                t.pts = Some(pts);
                apply_pts(writes, t);
                for c in changes {
                    apply(writes, t, c);
                }
                if !complete {
                    done = false;
                    t.diff = Diff::Wanted;
                }
            }
            ChannelDifference::TooLong { pts, messages } => {
                tracing::info!(channel = %t.label, pts, "too many updates missed: the history is fetched from the checkpoint");
                IngestMetrics::add(&self.metrics.too_long, 1);
                t.pts = Some(pts);
                apply_pts(writes, t);
                let news: Vec<Change> = messages.into_iter().map(Change::New).collect();
                found = unpushed(&news);
                for c in news {
                    apply(writes, t, c);
                }
                self.syncs.request(t.row);
            }
        }
        if done {
            if t.recovering {
                t.recovering = false;
                IngestMetrics::add(&self.metrics.gaps_recovered, 1);
            }
            drain(writes, t);
        }
        IngestMetrics::add(&self.metrics.unpushed, found);
        found
    }

    fn on_channel_error(
        &self,
        st: &mut State,
        tg: i64,
        e: TgError,
        now: Instant,
    ) -> Result<bool, TaskError> {
        let Some(t) = st.channels.get_mut(&tg) else {
            return Ok(true);
        };
        match e {
            TgError::Cancelled => Ok(false),
            TgError::AccountStopped { state, reason, .. } => {
                tracing::warn!(account = %self.name, %state, "live updates stopped: Telegram refuses the account");
                st.stopped = Some((state, reason));
                Ok(false)
            }
            TgError::Local { .. } => Err(TaskError::retry(e)),
            TgError::Channel { .. } | TgError::Username { .. } => {
                // The poller records what this means for the channel; until then it is not followed.
                tracing::warn!(channel = %t.label, error = %e, "channel's updates cannot be read");
                self.syncs.request(t.row);
                st.channels.remove(&tg);
                Ok(true)
            }
            TgError::FloodWait { seconds, .. } => {
                t.diff = Diff::Wanted;
                t.not_before = Some(now + Duration::from_secs(u64::from(seconds)));
                Ok(true)
            }
            other => {
                let wait = retry_delay(t.failures);
                t.failures += 1;
                t.diff = Diff::Wanted;
                t.not_before = Some(now + wait);
                tracing::warn!(channel = %t.label, error = %other, retry_in = ?wait, "channel difference failed");
                Ok(true)
            }
        }
    }

    /// Writes what arrived, in one transaction with each channel's pts; holes go to the poller.
    async fn flush(&self, st: &mut State) -> Result<(), TaskError> {
        // Posts first: a post's copy in its discussion group names a post the same push stored.
        self.flush_posts(st).await?;
        if !st.comments.is_empty() {
            let changes = std::mem::take(&mut st.comments);
            let now = tgsift_store::unix_now();
            let new = self
                .store
                .with("store pushed comments", move |s| {
                    s.apply_live_comments(&changes, now)
                })
                .await?;
            if new > 0 {
                tracing::debug!(account = %self.name, comments = new, "pushed comments stored");
            }
        }
        Ok(())
    }

    /// Writes the queued channel events.
    async fn flush_posts(&self, st: &mut State) -> Result<(), TaskError> {
        if st.writes.is_empty() {
            return Ok(());
        }
        let batches: Vec<LiveBatch> = std::mem::take(&mut st.writes).into_values().collect();
        let outcomes = self
            .store
            .with("store live updates", move |s| s.apply_live(&batches))
            .await?;
        let now = unix_ms();
        for o in outcomes {
            if o.gone {
                continue;
            }
            for (_, date) in &o.inserted {
                let lag = now.saturating_sub(date.saturating_mul(1000)).max(0) as u64;
                self.metrics.lag.observe(lag);
            }
            IngestMetrics::add(&self.metrics.live_posts, o.inserted.len() as u64);
            IngestMetrics::add(&self.metrics.live_edits, o.edited as u64);
            IngestMetrics::add(&self.metrics.live_deletions, o.deleted as u64);
            if o.hole {
                self.syncs.request(o.channel_id);
            }
        }
        Ok(())
    }
}

/// Where channel `id`'s first check falls within `interval`: spread evenly (golden-ratio steps), so a
/// thousand channels do not all ask at once.
fn stagger(interval: Duration, id: i64) -> Duration {
    let frac = (id as f64 * 0.618_033_988_749_895).rem_euclid(1.0);
    interval.mul_f64(frac)
}

/// Delay before asking again after the `failures`-th failure in a row.
fn retry_delay(failures: u32) -> Duration {
    RETRY_FIRST
        .saturating_mul(1u32 << failures.min(16))
        .min(RETRY_CAP)
}

/// Queues the channel's pts for the next write, with or without changes.
fn apply_pts(writes: &mut BTreeMap<i64, LiveBatch>, t: &Tracked) {
    writes
        .entry(t.row)
        .or_insert_with(|| LiveBatch {
            channel_id: t.row,
            changes: Vec::new(),
            pts: None,
        })
        .pts = t.pts;
}

/// Queues a change pushed in the discussion group of channel row `row`: a post's copy (its thread's
/// root), a comment written or edited, messages deleted. The group's own pts is not followed: what a
/// push misses, the comments reader finds when the thread's count moves.
fn group_change(comments: &mut Vec<LiveComment>, row: i64, change: Change) {
    match change {
        Change::New(Message::Group(g)) | Change::Edit(Message::Group(g)) => {
            let g = *g;
            if let Some((_, post)) = g.copy_of {
                comments.push(LiveComment::Root {
                    channel_id: row,
                    post,
                    root: g.comment.message_id,
                });
            } else if let Some(root) = g.root {
                comments.push(LiveComment::Comment {
                    channel_id: row,
                    root,
                    comment: g.comment,
                });
            }
        }
        Change::Delete(ids) => comments.push(LiveComment::Deleted {
            channel_id: row,
            ids,
        }),
        _ => {}
    }
}

/// Queues one change of a tracked channel for the next write, with the channel's pts.
fn apply(writes: &mut BTreeMap<i64, LiveBatch>, t: &Tracked, change: Change) {
    let batch = writes.entry(t.row).or_insert_with(|| LiveBatch {
        channel_id: t.row,
        changes: Vec::new(),
        pts: None,
    });
    batch.pts = t.pts;
    match change {
        Change::New(Message::Post(p)) => batch.changes.push(LiveChange::New {
            id: p.id,
            post: Some(to_store(p)),
        }),
        Change::New(Message::Service(id)) => batch.changes.push(LiveChange::New { id, post: None }),
        // A followed channel is a broadcast channel: a group's message takes an id, no post.
        Change::New(Message::Group(g)) => batch.changes.push(LiveChange::New {
            id: g.comment.message_id,
            post: None,
        }),
        Change::Edit(Message::Post(p)) => batch.changes.push(LiveChange::Edit(to_store(p))),
        Change::Delete(ids) => batch.changes.push(LiveChange::Delete(ids)),
        Change::Edit(Message::Service(_) | Message::Group(_)) | Change::Other => {}
    }
}

/// Applies the waiting events that now continue the pts; forgets those already covered.
fn drain(writes: &mut BTreeMap<i64, LiveBatch>, t: &mut Tracked) {
    if t.pending.is_empty() {
        t.gap_since = None;
        return;
    }
    t.pending.sort_by_key(|e| e.pts - e.count);
    let waiting = std::mem::take(&mut t.pending);
    for ev in waiting {
        let p = t.pts.unwrap_or(0);
        if ev.pts <= p {
            continue;
        }
        if p + ev.count == ev.pts && t.pending.is_empty() {
            t.pts = Some(ev.pts);
            apply(writes, t, ev.change);
        } else {
            t.pending.push(ev);
        }
    }
    t.gap_since = if t.pending.is_empty() {
        None
    } else {
        Some(Instant::now())
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telegram::channels::RemotePost;
    use tgsift_store::SqliteStore;

    fn task(dir: &tempfile::TempDir) -> LiveTask {
        let store = SqliteStore::open(&dir.path().join("t.db")).expect("store");
        LiveTask {
            account_id: 1,
            name: "a".into(),
            store: AsyncStore::new(store),
            metrics: Arc::default(),
            syncs: Arc::default(),
            check_interval: Duration::from_secs(300),
            keepalive: Duration::from_secs(300),
            silence_alert: Duration::from_secs(900),
            alerts: None,
            comments_all: false,
        }
    }

    fn state(pts: Option<i32>) -> State {
        let mut channels = HashMap::new();
        channels.insert(
            42,
            Tracked {
                row: 7,
                info: ChannelInfo {
                    id: 42,
                    access_hash: 1,
                    username: Some("news".into()),
                    title: "News".into(),
                    member: Some(true),
                },
                label: "@news".into(),
                pts,
                pending: Vec::new(),
                gap_since: None,
                diff: Diff::Idle,
                not_before: None,
                failures: 0,
                recovering: false,
                check_at: Instant::now() + Duration::from_secs(300),
                rerun: false,
                spread: true,
            },
        );
        State {
            channels,
            groups: HashMap::new(),
            writes: BTreeMap::new(),
            comments: Vec::new(),
            common: Common::default(),
            calls: FuturesUnordered::new(),
            channel_calls: 0,
            stopped: None,
            silence: Silence {
                last_push: Instant::now(),
                found: 0,
                alerted: false,
            },
        }
    }

    fn post(id: i32, text: &str) -> Message {
        Message::Post(RemotePost {
            id,
            date: 1_700_000_000,
            edit_date: None,
            text: text.into(),
            views: None,
            forwards: None,
            grouped_id: None,
            media: None,
            thread: None,
        })
    }

    fn new(pts: i32, id: i32) -> ChannelEvent {
        ChannelEvent {
            channel_id: 42,
            pts,
            count: 1,
            change: Change::New(post(id, "x")),
        }
    }

    /// The message ids of the queued changes (deletions as negative ids) and the queued pts.
    fn queued(st: &State) -> (Vec<i32>, Option<i32>) {
        let Some(b) = st.writes.get(&7) else {
            return (Vec::new(), None);
        };
        let ids = b
            .changes
            .iter()
            .flat_map(|c| match c {
                LiveChange::New { id, .. } => vec![*id],
                LiveChange::Edit(p) => vec![p.message_id],
                LiveChange::Delete(ids) => ids.iter().map(|i| -i).collect(),
            })
            .collect();
        (ids, b.pts)
    }

    #[tokio::test]
    async fn events_that_continue_the_pts_apply_duplicates_are_skipped_and_late_ones_fill_gaps() {
        let dir = tempfile::tempdir().expect("tempdir");
        let t = task(&dir);
        let mut st = state(Some(10));
        t.on_event(&mut st, new(11, 101));
        t.on_event(&mut st, new(11, 101)); // the same push twice
        t.on_event(&mut st, new(13, 103)); // 12 is missing: waits
        assert_eq!(queued(&st), (vec![101], Some(11)));
        assert!(st.channels[&42].gap_since.is_some());
        t.on_event(&mut st, new(12, 102)); // the late one arrives: both apply, in order
        assert_eq!(queued(&st), (vec![101, 102, 103], Some(13)));
        assert!(st.channels[&42].gap_since.is_none());
        assert!(st.channels[&42].pending.is_empty());
    }

    #[tokio::test]
    async fn a_gap_that_does_not_fill_asks_the_difference_and_its_final_edits_and_deletions_apply()
    {
        let dir = tempfile::tempdir().expect("tempdir");
        let t = task(&dir);
        let mut st = state(Some(10));
        t.on_event(&mut st, new(14, 104));
        let since = st.channels[&42].gap_since.expect("gap");
        t.check_deadlines(&mut st, since + GAP_GRACE / 2);
        assert_eq!(st.channels[&42].diff, Diff::Idle, "within the grace");
        t.check_deadlines(&mut st, since + GAP_GRACE);
        assert_eq!(st.channels[&42].diff, Diff::Wanted);
        assert_eq!(IngestMetrics::get(&t.metrics.gaps), 1);
        // A push arriving while the difference runs waits for it.
        st.channels.get_mut(&42).expect("ch").diff = Diff::Running;
        t.on_event(&mut st, new(15, 105));
        // The final difference: new messages 101..=104, an edit of 50, a deletion of 51 — all
        // applied (grammers 0.11 drops the last two), then the waiting push.
        let d = ChannelDifference::Changes {
            changes: vec![
                Change::New(post(101, "a")),
                Change::New(Message::Service(102)),
                Change::New(post(103, "c")),
                Change::New(post(104, "d")),
                Change::Edit(post(50, "edited")),
                Change::Delete(vec![51]),
            ],
            pts: 14,
            complete: true,
        };
        let tr = st.channels.get_mut(&42).expect("ch");
        tr.diff = Diff::Idle;
        t.on_channel_difference(&mut st.writes, tr, d);
        assert_eq!(
            queued(&st),
            (vec![101, 102, 103, 104, 50, -51, 105], Some(15))
        );
        assert_eq!(IngestMetrics::get(&t.metrics.gaps_recovered), 1);
    }

    #[tokio::test]
    async fn too_long_resets_the_pts_and_asks_the_poller_for_the_history() {
        let dir = tempfile::tempdir().expect("tempdir");
        let t = task(&dir);
        let mut st = state(Some(10));
        let tr = st.channels.get_mut(&42).expect("ch");
        t.on_channel_difference(
            &mut st.writes,
            tr,
            ChannelDifference::TooLong {
                pts: 900,
                messages: vec![post(400, "newest")],
            },
        );
        assert_eq!(queued(&st), (vec![400], Some(900)));
        assert!(t.syncs.wanted(7));
        // A channel without a pts yet takes its first event's.
        let mut st = state(None);
        t.on_event(&mut st, new(77, 300));
        assert_eq!(queued(&st), (vec![300], Some(77)));
    }

    #[tokio::test]
    async fn a_lost_connection_asks_the_account_difference_then_every_channel() {
        let dir = tempfile::tempdir().expect("tempdir");
        let t = task(&dir);
        let mut st = state(Some(10));
        st.common.state = Some(CommonState {
            pts: 1,
            qts: 0,
            date: 1,
            seq: 1,
        });
        t.on_pushed(&mut st, vec![Pushed::ConnectionLost]);
        assert!(st.common.wanted && st.common.sweep);
        assert_eq!(
            st.channels[&42].diff,
            Diff::Idle,
            "not before the account's"
        );
        st.common.wanted = false;
        t.common_ok(
            &mut st,
            CommonState {
                pts: 1,
                qts: 0,
                date: 2,
                seq: 1,
            },
        );
        assert_eq!(st.channels[&42].diff, Diff::Wanted);
        assert!(!st.common.sweep);
    }

    #[tokio::test]
    async fn a_flood_wait_above_the_threshold_parks_the_difference_and_a_loss_meanwhile_reruns_it()
    {
        let dir = tempfile::tempdir().expect("tempdir");
        let t = task(&dir);
        let mut st = state(Some(10));
        st.channels.get_mut(&42).expect("ch").diff = Diff::Running;
        st.channel_calls = 1;
        let before = Instant::now();
        let flood = TgError::FloodWait {
            account: "a".into(),
            method: "updates.getChannelDifference",
            seconds: 90,
        };
        assert!(
            t.on_done(&mut st, Done::Channel(42, Err(flood)))
                .expect("handled")
        );
        let ch = &st.channels[&42];
        assert_eq!(ch.diff, Diff::Wanted);
        assert!(ch.not_before.expect("parked") >= before + Duration::from_secs(90));
        assert_eq!(st.channel_calls, 0);
        // A difference in flight when the connection is lost is asked again once it ends.
        let tr = st.channels.get_mut(&42).expect("ch");
        tr.diff = Diff::Running;
        tr.not_before = None;
        st.channel_calls = 1;
        st.common.sweep = true;
        t.common_ok(
            &mut st,
            CommonState {
                pts: 1,
                qts: 0,
                date: 1,
                seq: 1,
            },
        );
        let empty = ChannelDifference::Empty {
            pts: 10,
            timeout: None,
        };
        assert!(
            t.on_done(&mut st, Done::Channel(42, Ok(empty)))
                .expect("ok")
        );
        assert_eq!(st.channels[&42].diff, Diff::Wanted);
    }

    #[tokio::test]
    async fn the_channels_of_the_first_sweep_are_rearmed_apart_and_then_every_interval() {
        let dir = tempfile::tempdir().expect("tempdir");
        let t = task(&dir);
        let mut st = state(Some(10));
        let interval = t.check_interval;
        let mut armed = Vec::new();
        for (row, spread) in [(1, false), (2, false), (3, false), (1, true)] {
            let ch = st.channels.get_mut(&42).expect("ch");
            (ch.row, ch.spread, ch.diff) = (row, spread, Diff::Running);
            st.channel_calls = 1;
            let before = Instant::now();
            let empty = ChannelDifference::Empty {
                pts: 10,
                timeout: None,
            };
            assert!(
                t.on_done(&mut st, Done::Channel(42, Ok(empty)))
                    .expect("ok")
            );
            let after = Instant::now();
            let at = st.channels[&42].check_at;
            assert!(st.channels[&42].spread);
            assert!(
                at >= before + interval / 2 && at <= after + interval,
                "row {row}"
            );
            armed.push(at.duration_since(before).as_millis() / 100);
        }
        // The sweep's channels land at different points of the interval's second half; after it,
        // a whole interval.
        assert!(armed[0] != armed[1] && armed[1] != armed[2], "{armed:?}");
        assert_eq!(armed[3], interval.as_millis() / 100);
    }

    #[tokio::test]
    async fn a_channel_without_events_is_checked_every_interval_and_telegrams_timeout_is_honoured()
    {
        let dir = tempfile::tempdir().expect("tempdir");
        let t = task(&dir);
        let mut st = state(Some(10));
        let now = Instant::now();
        st.channels.get_mut(&42).expect("ch").check_at = now + Duration::from_secs(5);
        t.check_deadlines(&mut st, now + Duration::from_secs(4));
        assert_eq!(st.channels[&42].diff, Diff::Idle, "not yet due");
        // A pushed event re-arms the check a whole interval later.
        t.on_event(&mut st, new(11, 101));
        let armed = st.channels[&42].check_at;
        assert!(armed >= now + t.check_interval);
        t.check_deadlines(&mut st, armed - Duration::from_secs(1));
        assert_eq!(st.channels[&42].diff, Diff::Idle);
        t.check_deadlines(&mut st, armed);
        assert_eq!(st.channels[&42].diff, Diff::Wanted);
        assert_eq!(IngestMetrics::get(&t.metrics.live_checks), 1);
        // The empty answer asks not to come back for 900 s: longer than the interval, so honoured.
        st.channels.get_mut(&42).expect("ch").diff = Diff::Running;
        st.channel_calls = 1;
        let before = Instant::now();
        let empty = ChannelDifference::Empty {
            pts: 11,
            timeout: Some(Duration::from_secs(900)),
        };
        assert!(
            t.on_done(&mut st, Done::Channel(42, Ok(empty)))
                .expect("ok")
        );
        assert!(st.channels[&42].check_at >= before + Duration::from_secs(900));
        // A shorter timeout leaves the interval.
        st.channels.get_mut(&42).expect("ch").diff = Diff::Running;
        st.channel_calls = 1;
        let empty = ChannelDifference::Empty {
            pts: 11,
            timeout: Some(Duration::from_secs(1)),
        };
        let before = Instant::now();
        assert!(
            t.on_done(&mut st, Done::Channel(42, Ok(empty)))
                .expect("ok")
        );
        let at = st.channels[&42].check_at;
        assert!(at >= before + t.check_interval && at < before + Duration::from_secs(900));
    }

    #[tokio::test]
    async fn posts_found_by_a_difference_count_as_unpushed_unless_their_push_waited() {
        let dir = tempfile::tempdir().expect("tempdir");
        let t = task(&dir);
        let mut st = state(Some(10));
        // Post 103 was pushed (it waits on the gap); 101 and 102 never were.
        t.on_event(&mut st, new(13, 103));
        let tr = st.channels.get_mut(&42).expect("ch");
        let found = t.on_channel_difference(
            &mut st.writes,
            tr,
            ChannelDifference::Changes {
                changes: vec![
                    Change::New(post(101, "a")),
                    Change::New(post(102, "b")),
                    Change::New(post(103, "c")),
                    Change::New(Message::Service(104)),
                ],
                pts: 14,
                complete: true,
            },
        );
        assert_eq!(found, 2);
        assert_eq!(IngestMetrics::get(&t.metrics.unpushed), 2);
        assert_eq!(queued(&st), (vec![101, 102, 103, 104], Some(14)));
    }

    #[tokio::test]
    async fn silent_pushes_while_differences_find_posts_raise_one_alert_until_a_push_comes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let t = task(&dir);
        let mut st = state(Some(10));
        let start = st.silence.last_push;
        let late = start + t.silence_alert;
        assert!(
            t.silence_alert(&mut st, late).is_none(),
            "nothing found: quiet channels"
        );
        st.silence.found = 3;
        assert!(
            t.silence_alert(&mut st, late - Duration::from_secs(1))
                .is_none()
        );
        let alert = t.silence_alert(&mut st, late).expect("alert");
        assert_eq!(alert.kind, "live_silent");
        assert_eq!(alert.account.as_deref(), Some("a"));
        assert_eq!(IngestMetrics::get(&t.metrics.push_silent), 1);
        assert!(
            t.silence_alert(&mut st, late + t.silence_alert).is_none(),
            "once"
        );
        // A push ends the silence.
        t.on_event(&mut st, new(11, 101));
        assert_eq!(IngestMetrics::get(&t.metrics.push_silent), 0);
        assert_eq!(st.silence.found, 0);
        assert!(!st.silence.alerted);
    }

    #[tokio::test]
    async fn an_idle_account_asks_get_difference_once_its_state_is_known() {
        let dir = tempfile::tempdir().expect("tempdir");
        let t = task(&dir);
        let mut st = state(Some(10));
        t.keep_alive(&mut st, t.keepalive);
        assert!(
            !st.common.wanted,
            "no state yet: getState comes first anyway"
        );
        st.common.state = Some(CommonState {
            pts: 1,
            qts: 0,
            date: 1,
            seq: 1,
        });
        t.keep_alive(&mut st, t.keepalive - Duration::from_secs(1));
        assert!(!st.common.wanted, "a request went out recently");
        t.keep_alive(&mut st, t.keepalive);
        assert!(st.common.wanted && !st.common.sweep);
        assert_eq!(IngestMetrics::get(&t.metrics.keepalives), 1);
    }
}
