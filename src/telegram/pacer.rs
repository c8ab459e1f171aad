//! Adaptive pacing per (account, method): learn Telegram's unpublished limits from the FLOOD_WAITs.
//!
//! Each method has a send rate. A FLOOD_WAIT halves it and remembers the rate that provoked it (the
//! ceiling); after a quiet period the rate regains quickly up to just below the ceiling, then creeps above
//! it slowly to probe whether the limit has moved (AIMD, with CUBIC's "remember the last maximum" idea).
//! So the client spends nearly all its time just under the real limit and floods only when probing.
//! After a FLOOD_WAIT longer than the caller's threshold — Telegram saying it minds — it does not probe
//! above the ceiling for [`PacerConfig::probe_hold`].
//!
//! Methods whose limits Telegram enforces with penalties that escalate for hours
//! (`contacts.resolveUsername`, `channels.joinChannel`) are never learned by flooding: they have fixed
//! budgets ([`Budget`]: a burst, then one call per interval, and a cap per day), counted from the calls
//! actually sent and kept across restarts.
//! The state is plain data ([`PaceState`], budgeted calls as unix milliseconds) so it can be persisted
//! and restored across restarts.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Tuning of the pacer; the defaults suit Telegram.
#[derive(Clone, Debug, PartialEq)]
pub struct PacerConfig {
    /// Requests per second a method starts at when nothing is known.
    pub initial_rate: f64,
    /// Lowest rate after repeated halving.
    pub min_rate: f64,
    /// Highest rate ever used.
    pub max_rate: f64,
    /// Time without a FLOOD_WAIT before the rate grows again.
    pub quiet: Duration,
    /// After a FLOOD_WAIT longer than the flood threshold, how long the rate stays below the ceiling
    /// instead of probing above it.
    pub probe_hold: Duration,
    /// Fixed budgets of the methods Telegram punishes hardest; never learned by flooding.
    pub budgets: Vec<Budget>,
}

/// A fixed budget of one method: `burst` calls at once, then one per `interval`, and at most
/// `per_day` in any 24 hours.
#[derive(Clone, Debug, PartialEq)]
pub struct Budget {
    /// TL method name.
    pub method: &'static str,
    /// Calls allowed back to back.
    pub burst: u32,
    /// Steady spacing after the burst.
    pub interval: Duration,
    /// Calls in any 24 hours.
    pub per_day: u32,
}

impl Budget {
    /// `contacts.resolveUsername`: users report waits of hours after a few dozen resolves in a row.
    pub fn resolve(interval: Duration, per_day: u32) -> Self {
        Budget {
            method: "contacts.resolveUsername",
            burst: 3,
            interval,
            per_day,
        }
    }

    /// `channels.joinChannel`: limited per hour and per day.
    pub fn join(interval: Duration, per_day: u32) -> Self {
        Budget {
            method: "channels.joinChannel",
            burst: 2,
            interval,
            per_day,
        }
    }
}

impl Default for PacerConfig {
    fn default() -> Self {
        PacerConfig {
            initial_rate: 3.0,
            min_rate: 0.05,
            max_rate: 200.0,
            quiet: Duration::from_secs(5),
            probe_hold: Duration::from_secs(6 * 3600),
            budgets: vec![
                Budget::resolve(Duration::from_secs(10), 500),
                Budget::join(Duration::from_secs(60), 50),
            ],
        }
    }
}

const DAY_MS: i64 = 86_400_000;

/// The learned state of one method, as persisted.
#[derive(Clone, Debug, PartialEq)]
pub struct PaceState {
    /// TL method name.
    pub method: String,
    /// Current rate, requests per second.
    pub rate: f64,
    /// The rate at the last FLOOD_WAIT, if any.
    pub ceiling: Option<f64>,
    /// Unix milliseconds until which no probing above the ceiling happens (a long FLOOD_WAIT).
    pub hold_until_ms: Option<i64>,
}

/// Milliseconds since the Unix epoch now (holds are persisted on the wall clock).
fn unix_ms_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

struct Method {
    rate: f64,
    ceiling: Option<f64>,
    next_at: Instant,
    last_flood: Option<Instant>,
    last_growth: Instant,
    /// When the recent requests succeeded: what the server really let through.
    recent: std::collections::VecDeque<Instant>,
    /// No probing above the ceiling before this (set by a long FLOOD_WAIT).
    hold_until: Option<Instant>,
}

impl Method {
    fn new(rate: f64, ceiling: Option<f64>, now: Instant) -> Self {
        Method {
            rate,
            ceiling,
            next_at: now,
            last_flood: None,
            last_growth: now,
            recent: std::collections::VecDeque::new(),
            hold_until: None,
        }
    }

    /// Requests per second that succeeded over the last [`MEASURE`], if enough did to tell.
    fn admitted(&self, now: Instant) -> Option<f64> {
        let oldest = *self.recent.front()?;
        let span = now.saturating_duration_since(oldest).as_secs_f64();
        (self.recent.len() >= MEASURE_MIN && span >= 1.0)
            .then(|| (self.recent.len() - 1) as f64 / span)
    }

    /// Requests per second that succeeded in the last second, if enough did to tell. In slow start
    /// the rate doubles every second, so only the last one says what the server let through at the
    /// rate reached: averaged over [`MEASURE`] the ramp would read as a limit far below the real one.
    fn admitted_last_second(&self, now: Instant) -> Option<f64> {
        let n = self
            .recent
            .iter()
            .filter(|t| now.saturating_duration_since(**t) < Duration::from_secs(1))
            .count();
        (n >= MEASURE_MIN).then_some(n as f64)
    }
}

/// Below this fraction of the ceiling the rate regains fast; above it, it probes slowly.
const REGAIN_UP_TO: f64 = 0.95;
/// Multiplicative regain per successful request, below the ceiling (and before any flood).
const REGAIN_FACTOR: f64 = 1.05;
/// Slow start before the first flood: the rate doubles per second of successful requests (TCP's slow
/// start), so an account that has learned nothing reaches Telegram's limit within seconds.
const SLOW_START_DOUBLING: Duration = Duration::from_secs(1);
/// Probing above the ceiling: fraction of the ceiling added per second.
const PROBE_PER_SEC: f64 = 0.001;
/// How far back the successful requests are counted to learn what the server lets through.
const MEASURE: Duration = Duration::from_secs(5);
/// Successes needed in that window before they are trusted over the nominal rate.
const MEASURE_MIN: usize = 10;
/// After a flood whose limit was measured, the rate goes to this share of it (not half: the limit
/// is known, and every request below it is throughput lost).
const BACK_OFF_KNOWN: f64 = 0.85;

/// The pacer of one account: a rate per method.
pub struct Pacer {
    config: PacerConfig,
    methods: Mutex<HashMap<String, Method>>,
    /// Budgeted calls sent in the last day: (method, unix milliseconds), oldest first.
    spent: Mutex<std::collections::VecDeque<(String, i64)>>,
}

impl Pacer {
    /// A pacer that knows nothing yet.
    pub fn new(config: PacerConfig) -> Self {
        Pacer {
            config,
            methods: Mutex::new(HashMap::new()),
            spent: Mutex::new(std::collections::VecDeque::new()),
        }
    }

    /// Takes one call of a budgeted `method` at `now_ms` (unix milliseconds): `Ok` when the budget
    /// allows it (the call is counted), else how long until it does. Methods without a budget always
    /// pass and are not counted.
    pub(crate) fn take_budget(&self, method: &str, now_ms: i64) -> Result<(), Duration> {
        let Some(b) = self.config.budgets.iter().find(|b| b.method == method) else {
            return Ok(());
        };
        let mut spent = self.spent.lock().unwrap_or_else(|p| p.into_inner());
        while spent.front().is_some_and(|(_, at)| *at <= now_ms - DAY_MS) {
            spent.pop_front();
        }
        let mine: Vec<i64> = spent
            .iter()
            .filter(|(m, _)| m == method)
            .map(|(_, at)| *at)
            .collect();
        // A burst, then one per interval: at most `burst` calls in any `burst × interval`.
        let window = b.interval.as_millis() as i64 * i64::from(b.burst.max(1));
        let mut ready = now_ms;
        let burst = b.burst.max(1) as usize;
        if mine.len() >= burst {
            ready = ready.max(mine[mine.len() - burst] + window);
        }
        let per_day = b.per_day.max(1) as usize;
        if mine.len() >= per_day {
            ready = ready.max(mine[mine.len() - per_day] + DAY_MS);
        }
        if ready > now_ms {
            return Err(Duration::from_millis((ready - now_ms) as u64));
        }
        spent.push_back((method.to_string(), now_ms));
        Ok(())
    }

    /// Budgeted calls of the last day, for persisting: (method, unix milliseconds).
    pub(crate) fn spent(&self) -> Vec<(String, i64)> {
        self.spent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .cloned()
            .collect()
    }

    /// Restores budgeted calls (from the database at start-up), oldest first.
    pub(crate) fn restore_spent(&self, calls: &[(String, i64)]) {
        let mut all: Vec<(String, i64)> = calls.to_vec();
        all.sort_by_key(|(_, at)| *at);
        *self.spent.lock().unwrap_or_else(|p| p.into_inner()) = all.into();
    }

    /// Whether `method` has a fixed budget (its rate is never learned).
    pub(crate) fn is_budgeted(&self, method: &str) -> bool {
        self.config.budgets.iter().any(|b| b.method == method)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Method>> {
        self.methods.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn entry<'a>(
        &self,
        map: &'a mut HashMap<String, Method>,
        method: &str,
        now: Instant,
    ) -> &'a mut Method {
        map.entry(method.to_string())
            .or_insert_with(|| Method::new(self.config.initial_rate, None, now))
    }

    /// Reserves the next send slot of `method` and returns how long to wait for it.
    pub(crate) fn reserve(&self, method: &str, now: Instant) -> Duration {
        let mut map = self.lock();
        let m = self.entry(&mut map, method, now);
        let slot = m.next_at.max(now);
        m.next_at = slot + Duration::from_secs_f64(1.0 / m.rate);
        slot - now
    }

    /// Waits for the next send slot of `method`.
    pub async fn acquire(&self, method: &str) {
        let wait = self.reserve(method, Instant::now());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }

    /// A request went through: after a quiet period the rate grows.
    pub(crate) fn on_success(&self, method: &str, now: Instant) {
        let mut map = self.lock();
        let quiet = self.config.quiet;
        let max = self.config.max_rate;
        let m = self.entry(&mut map, method, now);
        m.recent.push_back(now);
        while m
            .recent
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) > MEASURE)
        {
            m.recent.pop_front();
        }
        if m.last_flood
            .is_some_and(|f| now.saturating_duration_since(f) < quiet)
        {
            return;
        }
        let elapsed = now.saturating_duration_since(m.last_growth).as_secs_f64();
        m.last_growth = now;
        m.rate = match m.ceiling {
            None => m.rate * 2f64.powf(elapsed.min(1.0) / SLOW_START_DOUBLING.as_secs_f64()),
            Some(c) if m.rate < c * REGAIN_UP_TO => (m.rate * REGAIN_FACTOR).min(c * REGAIN_UP_TO),
            // Telegram minded the last probe: stay under the ceiling for a while.
            Some(_) if m.hold_until.is_some_and(|h| now < h) => m.rate,
            Some(c) => m.rate + c * PROBE_PER_SEC * elapsed,
        }
        .min(max);
    }

    /// A FLOOD_WAIT came back: remember the limit as the ceiling and halve the rate. The limit is what
    /// the server actually let through over the last seconds when that is known — not the rate that
    /// overshot it, which after a slow start can be twice the limit and would take many more floods
    /// to come down from.
    /// A wait above `long` (the flood threshold) also stops probing above the ceiling for
    /// [`PacerConfig::probe_hold`]. Budgeted methods learn nothing: their budget stands, and the
    /// FLOOD_WAIT window is waited out by the caller.
    pub(crate) fn on_flood(&self, method: &str, now: Instant, wait: Duration, long: Duration) {
        if self.is_budgeted(method) {
            return;
        }
        let mut map = self.lock();
        let min = self.config.min_rate;
        let hold = self.config.probe_hold;
        let m = self.entry(&mut map, method, now);
        if wait > long {
            m.hold_until = Some(now + hold);
        }
        // Several requests in flight may all hit the same flood; only the first one teaches.
        if m.last_flood
            .is_some_and(|f| now.saturating_duration_since(f) < Duration::from_secs(1))
        {
            return;
        }
        // With the admitted rate known, the rate drops just below it (the server's bucket refills
        // meanwhile); without it, the classic halving.
        let admitted = match m.ceiling {
            None => m.admitted_last_second(now).or_else(|| m.admitted(now)),
            Some(_) => m.admitted(now),
        };
        let (limit, rate) = match admitted {
            Some(a) => {
                let limit = a.min(m.rate);
                (limit, limit * BACK_OFF_KNOWN)
            }
            None => (m.rate, m.rate / 2.0),
        };
        m.ceiling = Some(limit.max(min));
        m.rate = rate.max(min);
        m.last_flood = Some(now);
        m.recent.clear();
    }

    /// The learned rates, for persisting: only methods whose limit a FLOOD_WAIT taught. A rate that
    /// only grew from `pacer_initial_rate` is not knowledge: persisted, it would outlive a change of
    /// that setting (issue 31, item 10).
    pub(crate) fn snapshot(&self) -> Vec<PaceState> {
        let (now, now_ms) = (Instant::now(), unix_ms_now());
        let mut v: Vec<PaceState> = self
            .lock()
            .iter()
            .filter(|(_, m)| m.ceiling.is_some())
            .map(|(k, m)| PaceState {
                method: k.clone(),
                rate: m.rate,
                ceiling: m.ceiling,
                hold_until_ms: m
                    .hold_until
                    .and_then(|h| h.checked_duration_since(now))
                    .map(|left| now_ms + left.as_millis() as i64),
            })
            .collect();
        v.sort_by(|a, b| a.method.cmp(&b.method));
        v
    }

    /// Restores learned rates (e.g. from the database at start-up). A rate without a ceiling (saved
    /// by an earlier version, which persisted every rate) was never learned and is left out, so the
    /// method starts from the configured initial rate.
    pub fn restore(&self, states: &[PaceState]) {
        let (now, now_ms) = (Instant::now(), unix_ms_now());
        let mut map = self.lock();
        for s in states.iter().filter(|s| s.ceiling.is_some()) {
            let rate = s.rate.clamp(self.config.min_rate, self.config.max_rate);
            let mut m = Method::new(rate, s.ceiling, now);
            m.hold_until = s
                .hold_until_ms
                .filter(|&ms| ms > now_ms)
                .map(|ms| now + Duration::from_millis((ms - now_ms) as u64));
            map.insert(s.method.clone(), m);
        }
    }

    /// Current rate of a method (requests per second).
    pub fn rate(&self, method: &str) -> f64 {
        self.lock()
            .get(method)
            .map(|m| m.rate)
            .unwrap_or(self.config.initial_rate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A FLOOD_WAIT slept through, and the threshold above which one parks.
    const SHORT: Duration = Duration::from_secs(1);
    const LONG: Duration = Duration::from_secs(60);

    #[test]
    fn budgets_allow_a_burst_then_one_per_interval_and_a_cap_per_day() {
        let p = Pacer::new(PacerConfig {
            budgets: vec![Budget::resolve(Duration::from_secs(10), 5)],
            ..Default::default()
        });
        let r = "contacts.resolveUsername";
        let t = 1_000_000_000_000;
        for i in 0..3 {
            assert_eq!(p.take_budget(r, t + i), Ok(()), "burst call {i}");
        }
        // The fourth waits until the first is a burst window (3 × 10 s) old.
        assert_eq!(p.take_budget(r, t + 3), Err(Duration::from_millis(29_997)));
        assert_eq!(p.take_budget(r, t + 30_000), Ok(()));
        assert_eq!(p.take_budget(r, t + 40_001), Ok(()));
        // A restart (another process) restores what was spent: the budget holds.
        let q = Pacer::new(PacerConfig {
            budgets: vec![Budget::resolve(Duration::from_secs(10), 5)],
            ..Default::default()
        });
        q.restore_spent(&p.spent());
        // Five in a day: the sixth waits for the first to be a day old.
        for pacer in [&p, &q] {
            assert_eq!(
                pacer.take_budget(r, t + 3_600_000),
                Err(Duration::from_millis(86_400_000 - 3_600_000))
            );
        }
        assert_eq!(p.take_budget(r, t + 86_400_000), Ok(()));
        // Other methods are not budgeted.
        assert_eq!(p.take_budget("messages.getHistory", t), Ok(()));
    }

    #[test]
    fn the_hold_after_a_long_flood_survives_a_restart() {
        let config = PacerConfig {
            initial_rate: 20.0,
            ..Default::default()
        };
        let p = Pacer::new(config.clone());
        let t = Instant::now();
        p.on_flood("m", t, Duration::from_secs(300), LONG);
        let saved = p.snapshot();
        let hold = saved[0].hold_until_ms.expect("held");
        let six_hours = unix_ms_now() + 6 * 3_600_000;
        assert!((six_hours - 2_000..=six_hours).contains(&hold), "{hold}");
        // Another process (a restart, another worker) restores it and does not probe either.
        let q = Pacer::new(config);
        q.restore(&saved);
        let restored = q.snapshot();
        assert_eq!(
            (restored[0].rate, restored[0].ceiling),
            (saved[0].rate, saved[0].ceiling)
        );
        let back = restored[0].hold_until_ms.expect("still held");
        assert!((hold - 5..=hold + 5).contains(&back), "{back} vs {hold}");
        let mut now = Instant::now() + Duration::from_secs(6);
        for _ in 0..40 {
            now += Duration::from_millis(50);
            q.on_success("m", now);
        }
        let held = q.rate("m");
        q.on_success("m", now + Duration::from_secs(3600));
        assert_eq!(q.rate("m"), held, "still held an hour later");
    }

    #[test]
    fn a_long_flood_stops_probing_above_the_ceiling_and_budgets_learn_nothing() {
        let p = Pacer::new(PacerConfig {
            initial_rate: 20.0,
            ..Default::default()
        });
        let t = Instant::now();
        p.on_flood("m", t, Duration::from_secs(300), LONG);
        let mut now = t + Duration::from_secs(6);
        for _ in 0..40 {
            now += Duration::from_millis(50);
            p.on_success("m", now);
        }
        let held = p.rate("m");
        assert!(
            (18.9..=19.1).contains(&held),
            "regained to 95 % of 20: {held}"
        );
        p.on_success("m", now + Duration::from_secs(3600));
        assert_eq!(p.rate("m"), held, "no probing for hours after a long wait");
        p.on_success("m", now + Duration::from_secs(7 * 3600));
        assert!(p.rate("m") > held, "probing again after the hold");
        let rate = p.rate("contacts.resolveUsername");
        p.on_flood(
            "contacts.resolveUsername",
            t,
            Duration::from_secs(300),
            LONG,
        );
        assert_eq!(p.rate("contacts.resolveUsername"), rate);
    }

    #[test]
    fn slots_are_spaced_by_the_rate() {
        let p = Pacer::new(PacerConfig {
            initial_rate: 4.0,
            ..Default::default()
        });
        let t = Instant::now();
        assert_eq!(p.reserve("m", t), Duration::ZERO);
        assert_eq!(p.reserve("m", t), Duration::from_millis(250));
        assert_eq!(p.reserve("m", t), Duration::from_millis(500));
        assert_eq!(p.reserve("other", t), Duration::ZERO);
    }

    #[test]
    fn flood_halves_and_quiet_regains_to_the_ceiling() {
        let p = Pacer::new(PacerConfig {
            initial_rate: 20.0,
            ..Default::default()
        });
        let t = Instant::now();
        p.on_flood("m", t, SHORT, LONG);
        assert_eq!(p.rate("m"), 10.0);
        p.on_flood("m", t + Duration::from_millis(100), SHORT, LONG);
        assert_eq!(p.rate("m"), 10.0, "one flood burst teaches once");
        p.on_success("m", t + Duration::from_secs(1));
        assert_eq!(p.rate("m"), 10.0, "no growth inside the quiet period");
        let mut now = t + Duration::from_secs(6);
        for _ in 0..40 {
            now += Duration::from_millis(50);
            p.on_success("m", now);
        }
        let r = p.rate("m");
        assert!(
            (19.0..=19.1).contains(&r),
            "regained to 95 % of the ceiling, got {r}"
        );
        // Probing above the ceiling is slow: 0.1 % of it per second.
        p.on_success("m", now + Duration::from_secs(10));
        assert!(p.rate("m") < 19.3);
    }

    #[test]
    fn slow_start_doubles_every_second_until_the_first_flood() {
        let p = Pacer::new(PacerConfig {
            initial_rate: 10.0,
            ..Default::default()
        });
        let t = Instant::now();
        p.reserve("m", t);
        let mut now = t;
        for _ in 0..20 {
            now += Duration::from_millis(50);
            p.on_success("m", now);
        }
        let r = p.rate("m");
        assert!((19.9..=20.1).contains(&r), "doubled in a second: {r}");
        for _ in 0..40 {
            now += Duration::from_millis(50);
            p.on_success("m", now);
        }
        assert!((79.0..=81.0).contains(&p.rate("m")), "{}", p.rate("m"));
        // The server let 20 requests a second through (one every 50 ms): that is the ceiling, not
        // the 80 the slow start had reached, and the rate drops just below it.
        p.on_flood("m", now, SHORT, LONG);
        assert!((16.9..=17.1).contains(&p.rate("m")), "{}", p.rate("m"));
        now += Duration::from_secs(10);
        for _ in 0..100 {
            now += Duration::from_millis(50);
            p.on_success("m", now);
        }
        let r = p.rate("m");
        assert!(
            (18.9..=19.1).contains(&r),
            "no slow start after a flood: regains to 95 % of 20, got {r}"
        );
    }

    /// Pages against a token bucket like Telegram's (and the simulator's) for `secs` simulated
    /// seconds; returns (successes, floods) counted after `warmup`.
    fn against_bucket(per_sec: f64, burst: f64, secs: u64, warmup: u64) -> (u64, u64) {
        let p = Pacer::new(PacerConfig::default());
        let t0 = Instant::now();
        let (mut now, mut last) = (t0, t0);
        let mut tokens = burst;
        let (mut ok, mut floods) = (0u64, 0u64);
        while now < t0 + Duration::from_secs(secs) {
            now += p.reserve("m", now);
            tokens = (tokens + now.duration_since(last).as_secs_f64() * per_sec).min(burst);
            last = now;
            let counted = now >= t0 + Duration::from_secs(warmup);
            if tokens >= 1.0 {
                tokens -= 1.0;
                p.on_success("m", now);
                ok += u64::from(counted);
            } else {
                p.on_flood("m", now, SHORT, LONG);
                floods += u64::from(counted);
                // FLOOD_WAIT_X: the client waits X seconds (rounded up) before this method again.
                let wait = ((1.0 - tokens) / per_sec).ceil().max(1.0);
                now += Duration::from_secs_f64(wait);
            }
        }
        (ok, floods)
    }

    #[test]
    fn the_pacer_settles_just_under_a_token_bucket_limit() {
        // Telegram-like getHistory: 20 requests a second with bursts of 30.
        let (ok, floods) = against_bucket(20.0, 30.0, 630, 30);
        let share = ok as f64 / (600.0 * 20.0);
        let per_10k_messages = floods as f64 * 10_000.0 / (ok as f64 * 100.0);
        assert!(share >= 0.95, "{share:.3} of the allowed rate");
        assert!(
            per_10k_messages <= 1.0,
            "{per_10k_messages:.2} floods per 10,000 messages"
        );
    }

    #[test]
    fn only_rates_a_flood_taught_are_persisted_and_restored() {
        let config = PacerConfig {
            initial_rate: 2.0,
            ..Default::default()
        };
        let p = Pacer::new(config.clone());
        let mut now = Instant::now();
        for _ in 0..30 {
            now += Duration::from_millis(100);
            p.on_success("messages.getHistory", now);
        }
        assert!(p.rate("messages.getHistory") > 2.0, "slow start grew it");
        assert_eq!(p.snapshot(), [], "nothing learned, nothing to persist");
        p.on_flood("channels.getMessages", now, SHORT, LONG);
        let saved = p.snapshot();
        assert_eq!(
            saved.iter().map(|s| s.method.as_str()).collect::<Vec<_>>(),
            ["channels.getMessages"]
        );
        // A rate an earlier version saved without a ceiling gives way to the configured initial rate.
        let raised = Pacer::new(PacerConfig {
            initial_rate: 10.0,
            ..config
        });
        raised.restore(&[PaceState {
            method: "messages.getHistory".into(),
            rate: 2.5,
            ceiling: None,
            hold_until_ms: None,
        }]);
        assert_eq!(raised.rate("messages.getHistory"), 10.0);
        raised.restore(&saved);
        assert_eq!(raised.rate("channels.getMessages"), saved[0].rate);
    }

    #[test]
    fn state_round_trips() {
        let p = Pacer::new(PacerConfig::default());
        p.on_flood("messages.getHistory", Instant::now(), SHORT, LONG);
        let snap = p.snapshot();
        let q = Pacer::new(PacerConfig::default());
        q.restore(&snap);
        assert_eq!(q.snapshot(), snap);
        assert_eq!(snap[0].ceiling, Some(3.0));
    }
}
