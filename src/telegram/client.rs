//! One account's connection to Telegram, with every call going through the same policy:
//! open flood windows → circuit breaker → pacer → request with timeout → classify → sleep/retry/fail.
//!
//! grammers' own retry policy is switched off ([`NoRetries`]) so retries happen at exactly one layer,
//! this one, where they are logged, counted, bounded and cancellable.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use backon::{BackoffBuilder, ExponentialBuilder};
use grammers_client::Client;
use grammers_mtsender::{ConnectionParams, InvocationError, NoRetries, SenderPool};
use grammers_session::Session;
use grammers_tl_types as tl;
use rand::Rng;
use tgsift_store::ClientIdentity;
use tokio_util::sync::CancellationToken;

use super::clock::ClockSkew;
use super::error::{Class, Permanent, TgError, classify};
use super::metrics::{AccountMethod, ClientMetrics};
use super::pacer::{Budget, PaceState, Pacer, PacerConfig};
use crate::config::TelegramConfig;
use crate::metrics::ingest::MethodCounts;
use crate::metrics::{AccountLabel, Metrics};

/// Retries of an RPC error tgsift does not know before it is reported (the caller parks the work).
const UNKNOWN_RETRIES: u32 = 2;

/// How long Telegram keeps a connection whose pings stopped (`ping_delay_disconnect`): grammers' own
/// pings ask for 75 s every 60 s, and tgsift's every [`PING_EVERY`] ask the same, so a paused or
/// frozen process's connection is gone at most this long after its last ping.
pub(crate) const DISCONNECT_DELAY: Duration = Duration::from_secs(75);

/// The longest between two of tgsift's own pings of a connection: from its first moment (grammers'
/// first ping comes only after 60 s), so no connection ever lives without a disconnect deadline.
/// They go more often when `telegram.ping_deadline` asks (every half of it).
const PING_EVERY: Duration = Duration::from_secs(30);

/// Requests in a row without an answer within the request timeout that make the connection count
/// as half-open (one may just be slow).
const TIMEOUTS_TO_REBUILD: u32 = 2;

/// DC moves one call follows (`USER_MIGRATE_X`) before it is reported.
const MIGRATIONS: u32 = 2;

/// Sets the session's home DC: how an account follows Telegram's `USER_MIGRATE_X`.
type SetHome =
    Arc<dyn Fn(i32) -> futures_util::future::BoxFuture<'static, Result<(), String>> + Send + Sync>;

/// The retry and flood rules of the client layer, from `[telegram]`.
#[derive(Clone, Debug)]
pub struct Policy {
    /// FLOOD_WAITs up to this long are slept through.
    pub flood_threshold: Duration,
    /// FLOOD_WAIT sleeps allowed per call.
    pub flood_max_retries: u32,
    /// Retries after transient failures; `None` = forever.
    pub connection_retries: Option<u32>,
    /// First retry delay.
    pub retry_delay: Duration,
    /// Retry delay cap.
    pub retry_max_delay: Duration,
    /// Per-call timeout (grammers has none).
    pub request_timeout: Duration,
    /// A ping unanswered this long marks the connection half-open (`telegram.ping_deadline`).
    pub ping_deadline: Duration,
    /// Consecutive connection failures that open the circuit breaker.
    pub breaker_threshold: u32,
    /// How long the breaker stays open before letting one probe through.
    pub breaker_cooldown: Duration,
    /// Tuning of the adaptive pacer.
    pub pacer: PacerConfig,
    /// Requests waiting for an answer at once, per account.
    pub max_in_flight: usize,
    /// What the connection tells Telegram about the client (the account's own, once connected).
    pub identity: ClientIdentity,
    /// `telegram.proxy`: the SOCKS5 proxy of accounts without their own (`identity.proxy`).
    pub proxy: Option<String>,
}

impl From<&TelegramConfig> for Policy {
    fn from(c: &TelegramConfig) -> Self {
        Policy {
            flood_threshold: Duration::from_secs(u64::from(c.flood_sleep_threshold)),
            flood_max_retries: c.flood_max_retries,
            connection_retries: u32::try_from(c.connection_retries).ok(),
            retry_delay: c.retry_delay(),
            retry_max_delay: c.retry_max_delay(),
            request_timeout: c.request_timeout(),
            ping_deadline: Duration::from_secs_f64(c.ping_deadline),
            breaker_threshold: 5,
            breaker_cooldown: c.retry_max_delay().max(Duration::from_secs(5)),
            pacer: PacerConfig {
                initial_rate: c.pacer_initial_rate,
                min_rate: c.pacer_min_rate,
                max_rate: c.pacer_max_rate.max(c.pacer_min_rate),
                quiet: Duration::from_secs_f64(c.pacer_quiet),
                probe_hold: Duration::from_secs_f64(c.probe_hold),
                budgets: vec![
                    Budget::resolve(
                        Duration::from_secs_f64(c.resolve_interval),
                        c.resolve_per_day,
                    ),
                    Budget::join(Duration::from_secs_f64(c.join_interval), c.join_per_day),
                ],
            },
            max_in_flight: c.max_in_flight.max(1) as usize,
            identity: c.identity(),
            proxy: c.proxy.clone(),
        }
    }
}

/// Pushes grammers may buffer before the reader takes them (beyond it, grammers drops them, which
/// shows as a pts gap). Raised from grammers' 100 so a busy second does not overflow it.
pub(crate) const UPDATES_CAPACITY: usize = 20_000;

/// Counters of what the policy did, for summaries and (later) metrics.
#[derive(Debug, Default)]
pub struct Stats {
    /// Calls sent (including retries).
    pub requests: AtomicU64,
    /// FLOOD_WAITs received.
    pub floods: AtomicU64,
    /// FLOOD_WAITs slept through.
    pub flood_sleeps: AtomicU64,
    /// Milliseconds of wall time with a call asleep for a flood (including waits for known
    /// windows); calls waiting out one window side by side count once, so it never exceeds the run.
    pub flood_sleep_ms: AtomicU64,
    /// Until when (ms on [`Stats::clock_ms`]) a flood sleep already counted lasts.
    asleep_until_ms: AtomicU64,
    /// Retries after transient failures (reconnects).
    pub retries: AtomicU64,
}

impl Stats {
    fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Reads a counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// Counts a flood sleep of `d` starting now: only the part no sleep already counted covers.
    fn add_sleep(&self, d: Duration) {
        let now = Self::clock_ms();
        let end = now + d.as_millis() as u64;
        let counted_until = self.asleep_until_ms.fetch_max(end, Ordering::Relaxed);
        Self::add(
            &self.flood_sleep_ms,
            end.saturating_sub(counted_until.max(now)),
        );
    }

    /// Milliseconds on a monotonic clock shared by the process.
    fn clock_ms() -> u64 {
        static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        START.get_or_init(Instant::now).elapsed().as_millis() as u64
    }
}

/// The FLOOD_WAIT windows known to be open, per method: no call is sent into one.
#[derive(Default)]
pub(crate) struct FloodWindows {
    open: Mutex<HashMap<&'static str, Instant>>,
}

impl FloodWindows {
    /// Records a window that ends at `until`.
    pub(crate) fn open(&self, method: &'static str, until: Instant) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let e = open.entry(method).or_insert(until);
        *e = (*e).max(until);
    }

    /// Open windows as (method, unix milliseconds they end, rounded up), for persisting.
    pub(crate) fn export(&self) -> Vec<(String, i64)> {
        let now = Instant::now();
        let unix = unix_f64();
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.iter()
            .filter_map(|(m, until)| {
                let left = until.checked_duration_since(now)?;
                Some((
                    m.to_string(),
                    ((unix + left.as_secs_f64()) * 1000.0).ceil() as i64,
                ))
            })
            .collect()
    }

    /// Re-opens persisted windows (unknown method names are ignored).
    pub(crate) fn import(&self, windows: &[(String, i64)]) {
        let unix = unix_f64();
        for (method, until) in windows {
            let Some(method) = known_method(method) else {
                continue;
            };
            let left = *until as f64 / 1000.0 - unix;
            if left > 0.0 {
                self.open(method, Instant::now() + Duration::from_secs_f64(left));
            }
        }
    }

    /// Time left in the window of `method`, if one is open.
    pub(crate) fn remaining(&self, method: &'static str, now: Instant) -> Option<Duration> {
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.get(method)
            .and_then(|until| until.checked_duration_since(now))
            .filter(|d| !d.is_zero())
    }
}

/// Breaker state, visible to `account list` and logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BreakerState {
    /// Calls flow.
    Closed,
    /// Calls fail fast until the cool-down ends.
    Open { retry_in: Duration },
    /// The cool-down ended: one probe call is let through.
    HalfOpen,
}

/// Per-account circuit breaker: after N consecutive connection failures, stop hammering for a while.
#[derive(Default)]
pub(crate) struct Breaker {
    inner: Mutex<(u32, Option<Instant>)>,
}

impl Breaker {
    /// The state now.
    pub(crate) fn state(&self, now: Instant) -> BreakerState {
        let g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        match g.1 {
            Some(until) if until > now => BreakerState::Open {
                retry_in: until - now,
            },
            Some(_) => BreakerState::HalfOpen,
            None => BreakerState::Closed,
        }
    }

    fn success(&self) {
        *self.inner.lock().unwrap_or_else(|p| p.into_inner()) = (0, None);
    }

    /// Counts a failure; returns true when this failure opened the breaker.
    fn failure(&self, threshold: u32, cooldown: Duration, now: Instant) -> bool {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.0 += 1;
        if g.0 >= threshold && g.1.is_none_or(|u| u <= now) {
            g.1 = Some(now + cooldown);
            return true;
        }
        false
    }

    fn failures(&self) -> u32 {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).0
    }

    /// (consecutive failures, unix milliseconds the open breaker closes), for persisting.
    fn export(&self) -> (u32, Option<i64>) {
        let g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let until =
            g.1.and_then(|u| u.checked_duration_since(now))
                .map(|left| ((unix_f64() + left.as_secs_f64()) * 1000.0).ceil() as i64);
        (g.0, until)
    }

    fn import(&self, (failures, until_ms): (u32, Option<i64>)) {
        let until = until_ms
            .map(|ms| ms as f64 / 1000.0 - unix_f64())
            .filter(|left| *left > 0.0)
            .map(|left| Instant::now() + Duration::from_secs_f64(left));
        *self.inner.lock().unwrap_or_else(|p| p.into_inner()) = (failures, until);
    }
}

/// A logged-in account's client with tgsift's flood, pacing and retry policy around every call.
pub struct Account {
    name: String,
    client: Client,
    policy: Policy,
    pacer: Pacer,
    windows: FloodWindows,
    breaker: Breaker,
    stats: Arc<Stats>,
    /// (floods, retries) already handed to the store by [`Account::export_state`].
    exported: Mutex<(u64, u64)>,
    methods: Arc<MethodCounts>,
    cancel: CancellationToken,
    /// The flood sleep in progress, if any: (method, wakes at), for progress displays.
    sleeping: Mutex<Option<(&'static str, Instant)>>,
    /// Signalled when something worth persisting at once happened (a flood window or the breaker opened).
    state_changed: tokio::sync::Notify,
    /// Where calls are counted for `/metrics`, when the service runs.
    metrics: Option<Arc<ClientMetrics>>,
    /// Bounds the requests waiting for an answer (MTProto pipelines them on one connection; real round
    /// trips of 50–250 ms need several in flight to reach the rate the pacer allows).
    in_flight: tokio::sync::Semaphore,
    /// Whether this process may still use the account's auth key (on a shared PostgreSQL store: its
    /// lease is live), asked right before every request is sent; `None`: always.
    licence: Option<Licence>,
    /// What the connection receives unasked (pushes, connection closed), until live mode takes it.
    updates: Mutex<Option<tokio::sync::mpsc::Receiver<grammers_session::updates::UpdatesLike>>>,
    /// The connection pool, to leave a DC the account moved away from.
    pool: grammers_mtsender::SenderPoolFatHandle,
    /// The session's home DC (where calls go) and how to change it.
    home: (Mutex<Option<i32>>, SetHome),
    /// When the last request was sent: Telegram stops pushing to a connection without requests.
    last_sent: Mutex<Instant>,
    /// Requests in a row that got no answer within the request timeout.
    timeouts_in_row: std::sync::atomic::AtomicU32,
    /// Connections dropped as half-open so far; live mode watches it (the new connection gets no
    /// pushes until updates are asked for, and what was pushed into the dead one is lost).
    rebuilt: tokio::sync::watch::Sender<u64>,
    /// This machine's clock against Telegram's, from the dates it sends.
    clock: Arc<ClockSkew>,
    /// When the connection last delivered a push: a connection that delivers is not half-open,
    /// even when its pings go unanswered (e.g. Telegram refuses its msg_ids, see `clock`).
    heard: Arc<Mutex<Instant>>,
}

impl Drop for Account {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// See [`Account::with_licence`].
pub(crate) type Licence = Arc<dyn Fn() -> bool + Send + Sync>;

impl Account {
    /// Connects (lazily) through `session`; grammers' own retries are off.
    pub fn new<S>(
        name: &str,
        session: Arc<S>,
        api_id: i32,
        policy: Policy,
        cancel: CancellationToken,
    ) -> Self
    where
        S: Session,
        S::Error: std::error::Error + Send + Sync + 'static,
    {
        let id = &policy.identity;
        let proxy_url = id.proxy.clone().or_else(|| policy.proxy.clone());
        if let Some(p) = &proxy_url {
            tracing::info!(account = name, proxy = %crate::config::redact_proxy(p), "connecting through a SOCKS5 proxy");
        }
        let params = ConnectionParams {
            proxy_url,
            device_model: id.device_model.clone(),
            system_version: id.system_version.clone(),
            app_version: id.app_version.clone(),
            lang_code: id.lang_code.clone(),
            system_lang_code: id.system_lang_code.clone(),
            retry_policy: Box::new(NoRetries),
            updates_channel_capacity: std::num::NonZeroUsize::new(UPDATES_CAPACITY)
                .unwrap_or(std::num::NonZeroUsize::MIN),
            ..Default::default()
        };
        // Its own child token: dropping the account stops its connection, and nothing else.
        let cancel = cancel.child_token();
        let home_dc = session.home_dc_id().ok();
        let set_home: SetHome = {
            let session = Arc::clone(&session);
            Arc::new(move |dc| {
                let session = Arc::clone(&session);
                Box::pin(async move { session.set_home_dc_id(dc).await.map_err(|e| e.to_string()) })
            })
        };
        let pool = SenderPool::with_configuration(session, api_id, params);
        let handle = pool.handle.clone();
        let client = Client::new(pool.handle);
        let runner = pool.runner;
        let updates = Mutex::new(Some(pool.updates));
        let stop = cancel.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = runner.run() => {}
                _ = stop.cancelled() => {}
            }
        });
        let pacer = policy.pacer.clone();
        let max_in_flight = policy.max_in_flight;
        Account {
            name: name.to_string(),
            client,
            policy,
            pacer: Pacer::new(pacer),
            windows: FloodWindows::default(),
            breaker: Breaker::default(),
            stats: Arc::new(Stats::default()),
            exported: Mutex::new((0, 0)),
            methods: Arc::new(MethodCounts::default()),
            cancel,
            sleeping: Mutex::new(None),
            state_changed: tokio::sync::Notify::new(),
            in_flight: tokio::sync::Semaphore::new(max_in_flight),
            metrics: None,
            licence: None,
            updates,
            pool: handle,
            home: (Mutex::new(home_dc), set_home),
            last_sent: Mutex::new(Instant::now()),
            timeouts_in_row: std::sync::atomic::AtomicU32::new(0),
            rebuilt: tokio::sync::watch::Sender::new(0),
            clock: Arc::new(ClockSkew::new(name)),
            heard: Arc::new(Mutex::new(Instant::now())),
        }
    }

    /// Asks `licence` right before every request: once it says no (the worker's lease on the account
    /// lapsed, e.g. after the process was paused), the account stops and nothing more is sent with its
    /// auth key — another worker may be using it by now.
    pub(crate) fn with_licence(mut self, licence: Licence) -> Self {
        self.licence = Some(licence);
        self
    }

    /// Counts every call into `metrics` (`GET /metrics`).
    pub(crate) fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        let m = metrics.of::<ClientMetrics>();
        self.clock.export_to(
            m.clock_skew
                .get_or_create(&AccountLabel {
                    account: self.name.clone(),
                })
                .clone(),
        );
        self.metrics = Some(m);
        self
    }

    /// The receiver of the connection's unasked updates, once (see [`Account::take_updates`]).
    pub(super) fn take_update_receiver(
        &self,
    ) -> Option<tokio::sync::mpsc::Receiver<grammers_session::updates::UpdatesLike>> {
        self.updates
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }

    /// Resolves when a flood window or the breaker opened since the last call: the owner persists
    /// [`Account::export_state`] then, so a restart never sends into a window that is still open.
    pub(crate) async fn state_changed(&self) {
        self.state_changed.notified().await;
    }

    /// Counts requests per method into `counts` (kept by the owner across restarts of this client).
    pub(crate) fn with_method_counts(mut self, counts: Arc<MethodCounts>) -> Self {
        self.methods = counts;
        self
    }

    /// Replaces the pacer's tuning (before any call).
    pub fn with_pacer(mut self, config: PacerConfig) -> Self {
        self.pacer = Pacer::new(config);
        self
    }

    /// What this client has learned, for the store: pacer rates and open flood windows, and the
    /// FLOOD_WAITs and retries since the previous export (so each is added to the stored counts once).
    pub fn export_state(&self) -> tgsift_store::ClientState {
        let (floods, retries) = (
            Stats::get(&self.stats.floods),
            Stats::get(&self.stats.retries),
        );
        let activity = {
            let mut done = self.exported.lock().unwrap_or_else(|p| p.into_inner());
            let new = tgsift_store::Activity {
                floods: floods.saturating_sub(done.0),
                retries: retries.saturating_sub(done.1),
            };
            *done = (floods, retries);
            new
        };
        tgsift_store::ClientState {
            activity,
            pace: self
                .pacer
                .snapshot()
                .into_iter()
                .map(|p| (p.method, p.rate, p.ceiling, p.hold_until_ms))
                .collect(),
            windows: self.windows.export(),
            breaker: self.breaker.export(),
            budget: self.pacer.spent(),
        }
    }

    /// Restores what an earlier run learned, so a restart neither re-learns the rates nor walks into a
    /// flood window that is still open.
    pub fn import_state(&self, state: &tgsift_store::ClientState) {
        let pace: Vec<PaceState> = state
            .pace
            .iter()
            .map(|(method, rate, ceiling, hold)| PaceState {
                method: method.clone(),
                rate: *rate,
                ceiling: *ceiling,
                hold_until_ms: *hold,
            })
            .collect();
        self.pacer.restore(&pace);
        self.pacer.restore_spent(&state.budget);
        self.windows.import(&state.windows);
        self.breaker.import(state.breaker);
    }

    /// How many requests may wait for answers at once (`telegram.max_in_flight`).
    pub fn window(&self) -> usize {
        self.policy.max_in_flight
    }

    /// The account's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What the policy has done so far.
    pub fn stats(&self) -> &Arc<Stats> {
        &self.stats
    }

    /// The pacer (to persist or restore learned rates).
    pub fn pacer(&self) -> &Pacer {
        &self.pacer
    }

    /// The circuit breaker's state.
    pub(crate) fn breaker_state(&self) -> BreakerState {
        self.breaker.state(Instant::now())
    }

    /// The raw grammers client, for the login flow (which handles its own errors).
    pub fn raw(&self) -> &Client {
        &self.client
    }

    /// The FLOOD_WAIT being slept through right now: (method, time left).
    pub(crate) fn flood_sleep(&self) -> Option<(&'static str, Duration)> {
        let g = self.sleeping.lock().unwrap_or_else(|p| p.into_inner());
        g.and_then(|(m, until)| until.checked_duration_since(Instant::now()).map(|d| (m, d)))
    }

    async fn flood_sleep_for(&self, method: &'static str, d: Duration) -> Result<(), TgError> {
        *self.sleeping.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((method, Instant::now() + d));
        let r = self.sleep(d).await;
        *self.sleeping.lock().unwrap_or_else(|p| p.into_inner()) = None;
        r
    }

    async fn sleep(&self, d: Duration) -> Result<(), TgError> {
        tokio::select! {
            _ = self.cancel.cancelled() => Err(TgError::Cancelled),
            _ = tokio::time::sleep(d) => Ok(()),
        }
    }

    fn backoff(&self) -> impl Iterator<Item = Duration> + use<> {
        let b = ExponentialBuilder::default()
            .with_min_delay(self.policy.retry_delay)
            .with_max_delay(self.policy.retry_max_delay)
            .with_factor(2.0);
        let b = match self.policy.connection_retries {
            Some(n) => b.with_max_times(n as usize),
            None => b.without_max_times(),
        };
        // Full jitter: a uniform delay in [0, d] spreads reconnects of many clients apart.
        b.build()
            .map(|d| d.mul_f64(rand::rng().random_range(0.0..=1.0)))
    }

    /// Sends one call under the policy; the only way tgsift talks to Telegram.
    pub async fn invoke<R: tl::RemoteCall + tl::Identifiable>(
        &self,
        request: &R,
    ) -> Result<R::Return, TgError> {
        self.invoke_in(None, request).await
    }

    /// [`Account::invoke`] on DC `dc` rather than the home DC (`None`): files live on DCs of their
    /// own. The first call there authorizes the account on that DC (its key there starts out
    /// unregistered) by exporting the authorization from home; the same policy holds for the rest.
    pub(crate) async fn invoke_in<R: tl::RemoteCall + tl::Identifiable>(
        &self,
        dc: Option<i32>,
        request: &R,
    ) -> Result<R::Return, TgError> {
        let home = *self.home.0.lock().unwrap_or_else(|p| p.into_inner());
        let dc = dc.filter(|d| home != Some(*d));
        let mut authorized = false;
        let method = tl::name_for_id(R::CONSTRUCTOR_ID);
        let mut floods = 0u32;
        let mut backoff = self.backoff();
        let mut attempts = 0u32;
        let mut unknown = 0u32;
        let mut moves = 0u32;
        loop {
            if self.cancel.is_cancelled() {
                return Err(TgError::Cancelled);
            }
            if let Some(left) = self.windows.remaining(method, Instant::now()) {
                if left > self.policy.flood_threshold {
                    return Err(self.flood_error(method, left));
                }
                // Every call in flight waits out the window: the FLOOD_WAIT itself was logged once.
                tracing::debug!(account = %self.name, method, seconds = left.as_secs_f64(), "waiting for an open FLOOD_WAIT window");
                self.stats.add_sleep(left);
                self.flood_sleep_for(method, left).await?;
            }
            if let BreakerState::Open { retry_in } = self.breaker.state(Instant::now()) {
                return Err(TgError::CircuitOpen {
                    account: self.name.clone(),
                    failures: self.breaker.failures(),
                    retry_in,
                });
            }
            let permit = tokio::select! {
                _ = self.cancel.cancelled() => return Err(TgError::Cancelled),
                p = self.in_flight.acquire() => p,
            };
            tokio::select! {
                _ = self.cancel.cancelled() => return Err(TgError::Cancelled),
                _ = self.pacer.acquire(method) => {}
            }
            // A budgeted method (resolveUsername, joinChannel) waits for its budget, short waits
            // queued here, long ones returned like a long flood: the work is retried when it allows.
            if let Err(wait) = self.pacer.take_budget(method, unix_ms()) {
                drop(permit);
                if wait > self.policy.flood_threshold {
                    return Err(TgError::Budget {
                        account: self.name.clone(),
                        method,
                        seconds: wait.as_secs_f64().ceil() as u32,
                    });
                }
                tracing::info!(account = %self.name, method, seconds = wait.as_secs_f64(), "waiting for the method's budget");
                tokio::select! {
                    _ = self.cancel.cancelled() => return Err(TgError::Cancelled),
                    _ = tokio::time::sleep(wait) => {}
                }
                continue;
            }
            if self.pacer.is_budgeted(method) {
                // Counted now: persisted soon, so a restart or the next command sees it.
                self.state_changed.notify_one();
            }
            // A window may have opened while this call waited for its slot (another call in flight
            // got the FLOOD_WAIT): look again, so nothing is ever sent into a known window.
            if self.windows.remaining(method, Instant::now()).is_some() {
                drop(permit);
                continue;
            }
            if self.licence.as_ref().is_some_and(|may| !may()) {
                tracing::warn!(account = %self.name, method, "this worker no longer holds the account; not sending");
                self.cancel.cancel();
                return Err(TgError::Cancelled);
            }
            attempts += 1;
            Stats::add(&self.stats.requests, 1);
            let sent = Instant::now();
            *self.last_sent.lock().unwrap_or_else(|p| p.into_inner()) = sent;
            self.methods.add(method);
            let outcome = tokio::select! {
                _ = self.cancel.cancelled() => return Err(TgError::Cancelled),
                r = tokio::time::timeout(self.policy.request_timeout, self.call(dc, request)) => r,
            };
            drop(permit);
            if let (Some(dc), Ok(Err(InvocationError::Rpc(e)))) = (dc, &outcome)
                && e.name == "AUTH_KEY_UNREGISTERED"
                && !authorized
            {
                // Not the account logging out: its key on this DC was never authorized.
                authorized = true;
                self.authorize_in(dc).await?;
                continue;
            }
            let seconds = sent.elapsed().as_secs_f64();
            self.count_timeout(outcome.is_err());
            let class = match outcome {
                Ok(Ok(value)) => {
                    self.breaker.success();
                    self.pacer.on_success(method, Instant::now());
                    self.observe(method, "ok", seconds);
                    return Ok(value);
                }
                Ok(Err(e)) => classify(&e),
                Err(_) => Class::Transient(match self.clock.seconds() {
                    Some(ahead) if ahead > crate::telegram::clock::WARN_ABOVE => format!(
                        "no answer within {:?} (this machine's clock is {ahead} s ahead of Telegram's, which refuses such requests: synchronise it)",
                        self.policy.request_timeout
                    ),
                    _ => format!("no answer within {:?}", self.policy.request_timeout),
                }),
            };
            self.observe(method, class.outcome(), seconds);
            if let (Some(m), Class::Transient(why)) = (&self.metrics, &class) {
                let account = AccountLabel {
                    account: self.name.clone(),
                };
                m.retries.get_or_create(&account).inc();
                if why.starts_with("connection") || why.starts_with("transport") {
                    m.reconnects.get_or_create(&account).inc();
                }
            }
            match class {
                Class::Flood(secs) => {
                    let wait = Duration::from_secs(u64::from(secs));
                    let now = Instant::now();
                    self.windows.open(method, now + wait);
                    self.pacer
                        .on_flood(method, now, wait, self.policy.flood_threshold);
                    // Persisted at once by the owner, with the rate the flood taught: a restart
                    // must not send into this window.
                    self.state_changed.notify_one();
                    self.breaker.success();
                    Stats::add(&self.stats.floods, 1);
                    if let Some(m) = &self.metrics {
                        m.floods.get_or_create(&self.labels(method)).inc();
                        m.floods_last_hour.add(1.0);
                    }
                    if wait > self.policy.flood_threshold || floods >= self.policy.flood_max_retries
                    {
                        tracing::warn!(account = %self.name, method, seconds = secs, "FLOOD_WAIT above the threshold: parking");
                        return Err(self.flood_error(method, wait));
                    }
                    floods += 1;
                    // At most 1 s and at most 5 % of the wait: spreads wake-ups without overspending.
                    let max_jitter = wait.mul_f64(0.05).min(Duration::from_secs(1));
                    let jitter = max_jitter.mul_f64(rand::rng().random_range(0.0..=1.0));
                    tracing::info!(account = %self.name, method, seconds = secs, attempt = floods, "FLOOD_WAIT: sleeping");
                    Stats::add(&self.stats.flood_sleeps, 1);
                    if let Some(m) = &self.metrics {
                        m.flood_sleep_seconds
                            .get_or_create(&self.labels(method))
                            .inc_by((wait + jitter).as_secs_f64());
                        m.flood_sleep_last_hour.add((wait + jitter).as_secs_f64());
                    }
                    self.stats.add_sleep(wait + jitter);
                    self.flood_sleep_for(method, wait + jitter).await?;
                }
                Class::Transient(why) => {
                    let opened = self.breaker.failure(
                        self.policy.breaker_threshold,
                        self.policy.breaker_cooldown,
                        Instant::now(),
                    );
                    if opened {
                        tracing::warn!(account = %self.name, failures = self.breaker.failures(), cooldown = ?self.policy.breaker_cooldown, "circuit breaker opened");
                        self.state_changed.notify_one();
                    }
                    let Some(delay) = backoff.next() else {
                        return Err(TgError::Exhausted {
                            account: self.name.clone(),
                            method,
                            attempts,
                            last: why,
                        });
                    };
                    // An open breaker makes the next attempt wait for its cool-down instead of failing.
                    let delay = match self.breaker.state(Instant::now()) {
                        BreakerState::Open { retry_in } => delay.max(retry_in),
                        _ => delay,
                    };
                    Stats::add(&self.stats.retries, 1);
                    tracing::warn!(account = %self.name, method, attempt = attempts, error = %why, delay = ?delay, "transient failure, retrying");
                    self.sleep(delay).await?;
                }
                Class::Unknown { code, name } => {
                    unknown += 1;
                    let delay = backoff.next().filter(|_| unknown <= UNKNOWN_RETRIES);
                    let Some(delay) = delay else {
                        return Err(TgError::Rpc {
                            account: self.name.clone(),
                            method,
                            code,
                            name,
                        });
                    };
                    Stats::add(&self.stats.retries, 1);
                    tracing::warn!(account = %self.name, method, code, error = %name, attempt = attempts, delay = ?delay, "unknown RPC error, retrying");
                    self.sleep(delay).await?;
                }
                Class::Undecodable(reason) => {
                    return Err(TgError::Undecodable {
                        account: self.name.clone(),
                        method,
                        reason,
                    });
                }
                Class::Permanent(p) => return Err(self.permanent(p)),
                Class::Migrate(dc) => {
                    moves += 1;
                    if moves > MIGRATIONS {
                        return Err(TgError::Rpc {
                            account: self.name.clone(),
                            method,
                            code: 303,
                            name: format!("USER_MIGRATE_{dc}"),
                        });
                    }
                    self.move_to(dc).await?;
                }
            }
        }
    }

    /// Pings the connection now and every [`PING_EVERY`] (or half the ping deadline, if shorter),
    /// each asking Telegram to drop it [`DISCONNECT_DELAY`] after the last ping: if this process
    /// stops (SIGSTOP, a hung host), its connection dies on Telegram's side, so another worker can
    /// take the account without two live connections on one key. A ping unanswered within
    /// `telegram.ping_deadline` means a half-open connection (open, but nothing gets through either
    /// way): it is dropped, and the next call connects anew. No ping once the licence is gone; ends
    /// when the account is dropped.
    pub(crate) async fn keep_alive(account: std::sync::Weak<Account>) {
        loop {
            let Some(a) = account.upgrade() else { return };
            if a.cancel.is_cancelled() || a.licence.as_ref().is_some_and(|may| !may()) {
                return;
            }
            let ping = tl::functions::PingDelayDisconnect {
                ping_id: rand::rng().random(),
                disconnect_delay: DISCONNECT_DELAY.as_secs() as i32,
            };
            let cancel = a.cancel.clone();
            let deadline = a.policy.ping_deadline;
            let every = PING_EVERY.min(deadline / 2);
            let started = Instant::now();
            let sent = tokio::select! {
                _ = cancel.cancelled() => return,
                r = tokio::time::timeout(deadline, a.client.invoke(&ping)) => r,
            };
            match sent {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    tracing::debug!(account = %a.name, error = %e, "ping_delay_disconnect failed")
                }
                Err(_) if a.heard_within(deadline) => {
                    tracing::debug!(account = %a.name, "ping unanswered, but pushes arrive: not half-open")
                }
                Err(_) => a.rebuild_connection(&format!("no pong within {deadline:?}")),
            }
            drop(a);
            let next = (started + every).max(Instant::now());
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep_until(next.into()) => {}
            }
        }
    }

    /// Counts a request that got no answer in time (`timed_out`) or one that did; the second in a
    /// row without one drops the connection as half-open.
    fn count_timeout(&self, timed_out: bool) {
        use std::sync::atomic::Ordering;
        if !timed_out {
            self.timeouts_in_row.store(0, Ordering::Relaxed);
            return;
        }
        let n = self.timeouts_in_row.fetch_add(1, Ordering::Relaxed) + 1;
        if n >= TIMEOUTS_TO_REBUILD && !self.heard_within(self.policy.request_timeout) {
            self.timeouts_in_row.store(0, Ordering::Relaxed);
            self.rebuild_connection(&format!("{n} requests in a row without an answer"));
        }
    }

    /// Drops the home DC's connection, which is open but gets nothing through (half-open): its
    /// requests fail and are retried on a new connection, which the next call opens. Live mode is
    /// told through [`Account::rebuilds`].
    fn rebuild_connection(&self, why: &str) {
        let dc = self
            .home
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            // grammers' default home, where a session without one connects.
            .unwrap_or(2);
        tracing::warn!(account = %self.name, dc, reason = why, "connection looks half-open: dropping it and connecting again");
        self.pool.disconnect_from_dc(dc);
        if let Some(m) = &self.metrics {
            m.rebuilt
                .get_or_create(&AccountLabel {
                    account: self.name.clone(),
                })
                .inc();
        }
        self.rebuilt.send_modify(|n| *n += 1);
    }

    /// Changes each time a half-open connection was dropped (see [`Account::rebuild_connection`]).
    pub(crate) fn rebuilds(&self) -> tokio::sync::watch::Receiver<u64> {
        self.rebuilt.subscribe()
    }

    /// This machine's clock against Telegram's (pushes and update calls measure it).
    pub(crate) fn clock(&self) -> &Arc<ClockSkew> {
        &self.clock
    }

    /// Where pushes record their arrival (see [`Account::take_updates`]).
    pub(crate) fn heard(&self) -> Arc<Mutex<Instant>> {
        Arc::clone(&self.heard)
    }

    /// Whether a push arrived within `d`.
    fn heard_within(&self, d: Duration) -> bool {
        self.heard
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .elapsed()
            < d
    }

    /// How long since the last request was sent (pings are not requests).
    pub(crate) fn idle_for(&self) -> Duration {
        self.last_sent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .elapsed()
    }

    /// One request as grammers sends it, on the home DC or on `dc`.
    async fn call<R: tl::RemoteCall>(
        &self,
        dc: Option<i32>,
        request: &R,
    ) -> Result<R::Return, InvocationError> {
        match dc {
            Some(dc) => self.client.invoke_in_dc(dc, request).await,
            None => self.client.invoke(request).await,
        }
    }

    /// Authorizes the account's key on DC `dc`: exports the authorization from the home DC and
    /// imports it there, each within the request timeout. Says which step failed and why.
    async fn copy_authorization(&self, dc: i32) -> Result<(), String> {
        let timeout = self.policy.request_timeout;
        let late = |step: &str| format!("{step}: no answer within {timeout:?}");
        let export = tl::functions::auth::ExportAuthorization { dc_id: dc };
        let tl::enums::auth::ExportedAuthorization::Authorization(auth) =
            tokio::time::timeout(timeout, self.client.invoke(&export))
                .await
                .map_err(|_| late("exporting the authorization"))?
                .map_err(|e| format!("exporting the authorization: {e}"))?;
        let import = tl::functions::auth::ImportAuthorization {
            id: auth.id,
            bytes: auth.bytes,
        };
        tokio::time::timeout(timeout, self.client.invoke_in_dc(dc, &import))
            .await
            .map_err(|_| late("importing the authorization"))?
            .map_err(|e| format!("importing the authorization: {e}"))?;
        Ok(())
    }

    /// Authorizes the account on DC `dc`, as a file download needs before its first request on a
    /// file's DC.
    async fn authorize_in(&self, dc: i32) -> Result<(), TgError> {
        tracing::info!(account = %self.name, dc, "authorizing the account on the DC of a file");
        self.copy_authorization(dc)
            .await
            .map_err(|e| TgError::Local {
                account: self.name.clone(),
                message: format!("authorizing the account on DC {dc}: {e}"),
            })
    }

    /// Follows Telegram's move of the account to DC `dc` (`USER_MIGRATE_X` after login): exports
    /// the authorization from the current home, imports it on `dc`, makes `dc` the session's home
    /// (stored, so the next process starts there) and closes the old DC's connection.
    async fn move_to(&self, dc: i32) -> Result<(), TgError> {
        let old = *self.home.0.lock().unwrap_or_else(|p| p.into_inner());
        tracing::warn!(account = %self.name, from = ?old, to = dc, "Telegram moved the account to another DC; following it");
        let local = |e: String| TgError::Local {
            account: self.name.clone(),
            message: format!("moving to DC {dc}: {e}"),
        };
        if old != Some(dc) {
            self.copy_authorization(dc).await.map_err(local)?;
        }
        self.adopt_home(dc).await.map_err(local)
    }

    /// Makes DC `dc` the session's home (stored, so the next process starts there): calls go there
    /// from now on, and the old home's connection is closed. What a login sent to another DC does
    /// (`PHONE_MIGRATE_X`, QR login's `loginTokenMigrateTo`); the account must log in there itself.
    pub(crate) async fn adopt_home(&self, dc: i32) -> Result<(), String> {
        let old = *self.home.0.lock().unwrap_or_else(|p| p.into_inner());
        (self.home.1)(dc)
            .await
            .map_err(|e| format!("storing the new home DC: {e}"))?;
        *self.home.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(dc);
        if let Some(old) = old.filter(|&o| o != dc) {
            self.pool.disconnect_from_dc(old);
        }
        Ok(())
    }

    /// Records one call's outcome and latency, and the pacer and breaker as they are now.
    fn observe(&self, method: &'static str, outcome: &str, seconds: f64) {
        let Some(m) = &self.metrics else { return };
        m.call(&self.name, method, outcome, seconds);
        m.pacer_rate
            .get_or_create(&self.labels(method))
            .set(self.pacer.rate(method));
        let open = matches!(self.breaker_state(), BreakerState::Open { .. });
        m.breaker_open
            .get_or_create(&AccountLabel {
                account: self.name.clone(),
            })
            .set(i64::from(open));
    }

    fn labels(&self, method: &'static str) -> AccountMethod {
        AccountMethod {
            account: self.name.clone(),
            method: method.to_string(),
        }
    }

    fn flood_error(&self, method: &'static str, left: Duration) -> TgError {
        TgError::FloodWait {
            account: self.name.clone(),
            method,
            seconds: left.as_secs_f64().ceil() as u32,
        }
    }

    fn permanent(&self, p: Permanent) -> TgError {
        let account = self.name.clone();
        match p {
            Permanent::Account(state, reason) => TgError::AccountStopped {
                account,
                state,
                reason,
            },
            Permanent::Join(reason) => TgError::JoinRefused {
                account,
                channel: String::new(),
                reason,
            },
            Permanent::Channel(reason) => TgError::Channel {
                account,
                channel: String::new(),
                reason,
            },
            Permanent::Username(reason) => TgError::Username {
                username: String::new(),
                reason,
            },
            Permanent::File(name, value) => TgError::File {
                account,
                name,
                value,
            },
            Permanent::Message(name) => TgError::NoSuchMessage { account, name },
            Permanent::Local(message) => TgError::Local { account, message },
        }
    }
}

/// The static TL name of a method, given its name as text (persisted windows store names).
fn known_method(name: &str) -> Option<&'static str> {
    // The methods tgsift calls; a window on anything else is irrelevant after a restart.
    const METHODS: &[&str] = &[
        "messages.getHistory",
        "channels.getMessages",
        "channels.getChannels",
        "contacts.resolveUsername",
        "messages.getDialogs",
        "users.getUsers",
        "updates.getState",
        "updates.getDifference",
        "updates.getChannelDifference",
        "channels.joinChannel",
        "auth.sendCode",
        "upload.getFile",
    ];
    METHODS.iter().copied().find(|m| *m == name)
}

/// Milliseconds since the Unix epoch (budgeted calls are stored so).
fn unix_ms() -> i64 {
    (unix_f64() * 1000.0) as i64
}

/// Seconds since the Unix epoch, with fractions (flood windows must not be rounded short).
fn unix_f64() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_waiting_out_one_window_side_by_side_count_once() {
        let stats = Stats::default();
        stats.add_sleep(Duration::from_secs(2));
        stats.add_sleep(Duration::from_secs(2));
        stats.add_sleep(Duration::from_secs(1));
        let slept = Stats::get(&stats.flood_sleep_ms);
        assert!((2_000..2_050).contains(&slept), "{slept} ms");
    }
}
