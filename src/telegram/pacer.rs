//! Adaptive pacing per (account, method): learn Telegram's unpublished limits from the FLOOD_WAITs.
//!
//! Each method has a send rate. A FLOOD_WAIT halves it and remembers the rate that provoked it (the
//! ceiling); after a quiet period the rate regains quickly up to just below the ceiling, then creeps above
//! it slowly to probe whether the limit has moved (AIMD, with CUBIC's "remember the last maximum" idea).
//! So the client spends nearly all its time just under the real limit and floods only when probing.
//! The state is plain data ([`PaceState`]) so it can be persisted and restored across restarts.

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
}

impl Default for PacerConfig {
    fn default() -> Self {
        PacerConfig {
            initial_rate: 10.0,
            min_rate: 0.05,
            max_rate: 200.0,
            quiet: Duration::from_secs(5),
        }
    }
}

/// The learned state of one method, as persisted.
#[derive(Clone, Debug, PartialEq)]
pub struct PaceState {
    /// TL method name.
    pub method: String,
    /// Current rate, requests per second.
    pub rate: f64,
    /// The rate at the last FLOOD_WAIT, if any.
    pub ceiling: Option<f64>,
}

struct Method {
    rate: f64,
    ceiling: Option<f64>,
    next_at: Instant,
    last_flood: Option<Instant>,
    last_growth: Instant,
    /// When the recent requests succeeded: what the server really let through.
    recent: std::collections::VecDeque<Instant>,
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
        }
    }

    /// Requests per second that succeeded over the last [`MEASURE`], if enough did to tell.
    fn admitted(&self, now: Instant) -> Option<f64> {
        let oldest = *self.recent.front()?;
        let span = now.saturating_duration_since(oldest).as_secs_f64();
        (self.recent.len() >= MEASURE_MIN && span >= 1.0)
            .then(|| (self.recent.len() - 1) as f64 / span)
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
}

impl Pacer {
    /// A pacer that knows nothing yet.
    pub fn new(config: PacerConfig) -> Self {
        Pacer {
            config,
            methods: Mutex::new(HashMap::new()),
        }
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
            Some(c) => m.rate + c * PROBE_PER_SEC * elapsed,
        }
        .min(max);
    }

    /// A FLOOD_WAIT came back: remember the limit as the ceiling and halve the rate. The limit is what
    /// the server actually let through over the last seconds when that is known — not the rate that
    /// overshot it, which after a slow start can be twice the limit and would take many more floods
    /// to come down from.
    pub(crate) fn on_flood(&self, method: &str, now: Instant) {
        let mut map = self.lock();
        let min = self.config.min_rate;
        let m = self.entry(&mut map, method, now);
        // Several requests in flight may all hit the same flood; only the first one teaches.
        if m.last_flood
            .is_some_and(|f| now.saturating_duration_since(f) < Duration::from_secs(1))
        {
            return;
        }
        // With the admitted rate known, the rate drops just below it (the server's bucket refills
        // meanwhile); without it, the classic halving.
        let (limit, rate) = match m.admitted(now) {
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

    /// The learned rates, for persisting.
    pub(crate) fn snapshot(&self) -> Vec<PaceState> {
        let mut v: Vec<PaceState> = self
            .lock()
            .iter()
            .map(|(k, m)| PaceState {
                method: k.clone(),
                rate: m.rate,
                ceiling: m.ceiling,
            })
            .collect();
        v.sort_by(|a, b| a.method.cmp(&b.method));
        v
    }

    /// Restores learned rates (e.g. from the database at start-up).
    pub fn restore(&self, states: &[PaceState]) {
        let now = Instant::now();
        let mut map = self.lock();
        for s in states {
            let rate = s.rate.clamp(self.config.min_rate, self.config.max_rate);
            map.insert(s.method.clone(), Method::new(rate, s.ceiling, now));
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
        p.on_flood("m", t);
        assert_eq!(p.rate("m"), 10.0);
        p.on_flood("m", t + Duration::from_millis(100));
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
        p.on_flood("m", now);
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
                p.on_flood("m", now);
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
    fn state_round_trips() {
        let p = Pacer::new(PacerConfig::default());
        p.on_flood("messages.getHistory", Instant::now());
        let snap = p.snapshot();
        let q = Pacer::new(PacerConfig::default());
        q.restore(&snap);
        assert_eq!(q.snapshot(), snap);
        assert_eq!(snap[0].ceiling, Some(10.0));
    }
}
