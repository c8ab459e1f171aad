//! Telegram-like flood control: a token bucket per (account, method), and Telegram's penalties.
//!
//! Telegram does not publish its limits; what clients observe is that a burst of calls to one method is
//! answered, and past it every call gets `FLOOD_WAIT_X` with X the seconds until a call would be accepted
//! again. A token bucket reproduces exactly that: `burst` calls at once, then `per_second` on average,
//! and a refused call learns how long until the next token. Some methods also have a budget per day.
//!
//! [`Penalty`] adds what users of Telegram report and a plain bucket hides: a flood soon after the
//! previous one on the same method doubles the next wait (forgiven slowly, over hours), a call sent
//! into an open window is refused again and counts as a flood, and an account that keeps flooding is
//! frozen.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The limit of one method: `burst` calls at once, refilled at `per_second`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limit {
    /// Calls allowed back to back from a full bucket.
    pub burst: f64,
    /// Sustained calls per second.
    pub per_second: f64,
}

impl Limit {
    /// `burst` calls, then `calls` per `secs` seconds.
    pub fn new(burst: f64, calls: f64, secs: f64) -> Self {
        Limit {
            burst: burst.max(1.0),
            per_second: calls / secs.max(f64::MIN_POSITIVE),
        }
    }
}

/// Telegram's punishment of flooding, on top of the buckets (the `telegram` preset).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Penalty {
    /// A flood within this long of the previous one on the same account and method doubles the wait.
    pub window: Duration,
    /// One doubling is forgiven per this much time without a flood on that method.
    pub decay: Duration,
    /// The longest wait given.
    pub max_wait: Duration,
    /// Floods (all methods) within an hour that freeze the account; `None` = never.
    pub freeze_after: Option<u32>,
}

/// Which methods are limited and how; methods without an entry use `default`, or are free when `None`.
#[derive(Clone, Debug, Default)]
pub struct FloodConfig {
    /// Limit of methods not listed in `methods`; `None` = unlimited.
    pub default: Option<Limit>,
    /// Per-method limits, by TL name (`messages.getHistory`).
    pub methods: HashMap<String, Limit>,
    /// Per-method calls allowed in any 24 hours (on top of the bucket).
    pub daily: HashMap<String, u32>,
    /// Escalating waits and freezing; `None` = a plain bucket.
    pub penalty: Option<Penalty>,
}

impl FloodConfig {
    /// No flood control at all (benchmarks of raw speed).
    pub fn off() -> Self {
        FloodConfig::default()
    }

    /// Limits shaped like Telegram's as seen in the wild: history (and threads of comments) is
    /// generous, resolving usernames and sending login codes are very strict.
    pub fn realistic() -> Self {
        FloodConfig::off()
            .with("messages.getHistory", Limit::new(30.0, 20.0, 1.0))
            .with("messages.getReplies", Limit::new(30.0, 20.0, 1.0))
            .with("channels.getMessages", Limit::new(20.0, 10.0, 1.0))
            .with("channels.getChannels", Limit::new(20.0, 5.0, 1.0))
            .with("contacts.resolveUsername", Limit::new(5.0, 1.0, 30.0))
            .with("auth.sendCode", Limit::new(3.0, 1.0, 300.0))
            .with_default(Limit::new(50.0, 30.0, 1.0))
    }

    /// `realistic` with Telegram's penalties: waits that double when floods repeat, a strict budget for
    /// resolving usernames (5 at once, then 1 per 10 s, 1,000 a day) and for joining channels (5 at once,
    /// then 1 per 2 minutes, 100 a day), difference calls limited like history, and an account frozen
    /// after 30 floods in an hour.
    pub fn telegram() -> Self {
        let mut c = FloodConfig::realistic()
            .with("contacts.resolveUsername", Limit::new(5.0, 1.0, 10.0))
            .with("channels.joinChannel", Limit::new(5.0, 1.0, 120.0))
            .with("updates.getDifference", Limit::new(10.0, 2.0, 1.0))
            .with("updates.getChannelDifference", Limit::new(30.0, 10.0, 1.0))
            .with_daily("contacts.resolveUsername", 1_000)
            .with_daily("channels.joinChannel", 100);
        c.penalty = Some(Penalty {
            window: Duration::from_secs(600),
            decay: Duration::from_secs(3_600),
            max_wait: Duration::from_secs(86_400),
            freeze_after: Some(30),
        });
        c
    }

    /// Sets one method's limit.
    pub fn with(mut self, method: &str, limit: Limit) -> Self {
        self.methods.insert(method.to_string(), limit);
        self
    }

    /// Sets one method's calls per 24 hours.
    pub fn with_daily(mut self, method: &str, calls: u32) -> Self {
        self.daily.insert(method.to_string(), calls);
        self
    }

    /// Sets the penalties.
    pub fn with_penalty(mut self, penalty: Penalty) -> Self {
        self.penalty = Some(penalty);
        self
    }

    /// Sets the limit of every other method.
    pub fn with_default(mut self, limit: Limit) -> Self {
        self.default = Some(limit);
        self
    }

    /// The limit that applies to `method`.
    pub fn limit(&self, method: &str) -> Option<Limit> {
        self.methods.get(method).copied().or(self.default)
    }
}

/// Why a call was refused.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Refusal {
    /// The X of `FLOOD_WAIT_X`.
    pub(crate) wait: Duration,
    /// This flood made the account's floods in the last hour reach `freeze_after`.
    pub(crate) freeze: bool,
}

const DAY: Duration = Duration::from_secs(86_400);
const HOUR: Duration = Duration::from_secs(3_600);

struct Bucket {
    tokens: f64,
    at: Instant,
    /// Calls admitted in the last 24 hours (only for methods with a daily budget).
    day: VecDeque<Instant>,
    /// Doublings the next flood's wait gets.
    strikes: u32,
    last_flood: Option<Instant>,
    /// The end of the window the last FLOOD_WAIT announced.
    blocked_until: Option<Instant>,
}

/// The live buckets of every (account, method) pair.
pub(crate) struct FloodModel {
    config: Mutex<FloodConfig>,
    buckets: Mutex<HashMap<(i64, String), Bucket>>,
    /// Per account, its floods in the last hour (for freezing).
    recent: Mutex<HashMap<i64, VecDeque<Instant>>>,
}

impl FloodModel {
    /// Starts with full buckets.
    pub(crate) fn new(config: FloodConfig) -> Self {
        FloodModel {
            config: Mutex::new(config),
            buckets: Mutex::new(HashMap::new()),
            recent: Mutex::new(HashMap::new()),
        }
    }

    /// Replaces the limits (tests switch presets at run time); buckets start full again.
    pub(crate) fn set_config(&self, config: FloodConfig) {
        *lock(&self.config) = config;
        lock(&self.buckets).clear();
        lock(&self.recent).clear();
    }

    /// Takes a token for one call, or says how long until one is free (the X of `FLOOD_WAIT_X`).
    pub(crate) fn admit(&self, account: i64, method: &str, now: Instant) -> Result<(), Refusal> {
        let config = lock(&self.config);
        let limit = config.limit(method);
        let daily = config.daily.get(method).copied();
        let penalty = config.penalty;
        drop(config);
        if limit.is_none() && daily.is_none() {
            return Ok(());
        }
        let mut buckets = lock(&self.buckets);
        let b = buckets
            .entry((account, method.to_string()))
            .or_insert(Bucket {
                tokens: limit.map_or(0.0, |l| l.burst),
                at: now,
                day: VecDeque::new(),
                strikes: 0,
                last_flood: None,
                blocked_until: None,
            });
        let base = match penalty.and(b.blocked_until).filter(|&u| u > now) {
            // Sent into an open window: refused again, and it counts.
            Some(until) => Some(until - now),
            None => refill_and_take(b, limit, daily, now),
        };
        let Some(base) = base else {
            return Ok(());
        };
        let Some(p) = penalty else {
            return Err(Refusal {
                wait: base,
                freeze: false,
            });
        };
        // Forgive one doubling per `decay` since the last flood, then count this one.
        if let Some(last) = b.last_flood {
            let quiet = now.saturating_duration_since(last);
            let forgiven = (quiet.as_secs_f64() / p.decay.as_secs_f64().max(1.0)) as u32;
            b.strikes = b.strikes.saturating_sub(forgiven);
            if quiet < p.window {
                b.strikes = (b.strikes + 1).min(30);
            }
        }
        let wait = base.mul_f64(2f64.powi(b.strikes as i32)).min(p.max_wait);
        b.last_flood = Some(now);
        b.blocked_until = Some(now + wait);
        drop(buckets);
        let freeze = p.freeze_after.is_some_and(|n| {
            let mut recent = lock(&self.recent);
            let r = recent.entry(account).or_default();
            r.push_back(now);
            while r
                .front()
                .is_some_and(|&t| now.saturating_duration_since(t) > HOUR)
            {
                r.pop_front();
            }
            r.len() as u32 == n
        });
        Err(Refusal { wait, freeze })
    }
}

/// Refills the bucket and takes a token and a day's slot; `Some(wait)` when either is missing.
fn refill_and_take(
    b: &mut Bucket,
    limit: Option<Limit>,
    daily: Option<u32>,
    now: Instant,
) -> Option<Duration> {
    if let Some(n) = daily {
        while b
            .day
            .front()
            .is_some_and(|&t| now.saturating_duration_since(t) >= DAY)
        {
            b.day.pop_front();
        }
        if b.day.len() as u32 >= n {
            let oldest = b.day.front().copied().unwrap_or(now);
            return Some((oldest + DAY).saturating_duration_since(now));
        }
    }
    if let Some(limit) = limit {
        let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
        b.tokens = (b.tokens + elapsed * limit.per_second).min(limit.burst);
        b.at = now;
        if b.tokens < 1.0 {
            return Some(Duration::from_secs_f64((1.0 - b.tokens) / limit.per_second));
        }
        b.tokens -= 1.0;
    }
    if daily.is_some() {
        b.day.push_back(now);
    }
    None
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Telegram's X: whole seconds, rounded up, at least 1.
pub(crate) fn wait_seconds(d: Duration) -> u32 {
    (d.as_secs_f64().ceil() as u32).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_wait_until_a_token_frees() {
        let m = FloodModel::new(FloodConfig::off().with("m", Limit::new(3.0, 1.0, 2.0)));
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(m.admit(1, "m", t0), Ok(()));
        }
        let wait = m.admit(1, "m", t0).expect_err("bucket empty").wait;
        assert_eq!(wait_seconds(wait), 2);
        // Another account and another method have their own buckets.
        assert_eq!(m.admit(2, "m", t0), Ok(()));
        assert_eq!(m.admit(1, "other", t0), Ok(()));
        // After the wait a call is admitted again.
        assert_eq!(m.admit(1, "m", t0 + wait), Ok(()));
    }

    fn penalised(freeze_after: Option<u32>) -> FloodModel {
        FloodModel::new(
            FloodConfig::off()
                .with("m", Limit::new(1.0, 1.0, 2.0))
                .with_penalty(Penalty {
                    window: Duration::from_secs(600),
                    decay: Duration::from_secs(3_600),
                    max_wait: Duration::from_secs(20),
                    freeze_after,
                }),
        )
    }

    #[test]
    fn repeated_floods_double_the_wait_and_calls_into_a_window_count() {
        let m = penalised(None);
        let t0 = Instant::now();
        assert_eq!(m.admit(1, "m", t0), Ok(()));
        let first = m.admit(1, "m", t0).expect_err("empty").wait;
        assert_eq!(wait_seconds(first), 2);
        // Obeying the wait: admitted; flooding again soon after: the wait doubles.
        assert_eq!(m.admit(1, "m", t0 + first), Ok(()));
        let second = m.admit(1, "m", t0 + first).expect_err("empty").wait;
        assert_eq!(wait_seconds(second), 4);
        // A call sent into that open window is refused, and the time left is doubled twice
        // (third flood in a row): 1 s left → 4 s.
        let t1 = t0 + first + Duration::from_secs(3);
        let third = m.admit(1, "m", t1).expect_err("window open").wait;
        assert_eq!(wait_seconds(third), 4);
        // Again at once: 4 s left × 8 = 32 s, capped at max_wait.
        let fourth = m.admit(1, "m", t1).expect_err("window open").wait;
        assert_eq!(fourth, Duration::from_secs(20));
        // Hours of quiet forgive the doublings: back to the plain wait.
        let later = t1 + Duration::from_secs(5 * 3_600);
        assert_eq!(m.admit(1, "m", later), Ok(()));
        let rested = m.admit(1, "m", later).expect_err("empty").wait;
        assert_eq!(wait_seconds(rested), 2);
    }

    #[test]
    fn an_account_that_keeps_flooding_is_frozen_once() {
        let m = penalised(Some(3));
        let t0 = Instant::now();
        assert_eq!(m.admit(7, "m", t0), Ok(()));
        let freezes: Vec<bool> = (0..5)
            .map(|_| m.admit(7, "m", t0).expect_err("refused").freeze)
            .collect();
        assert_eq!(freezes, [false, false, true, false, false]);
        // Another account is not touched.
        assert_eq!(m.admit(8, "m", t0), Ok(()));
    }

    #[test]
    fn a_daily_budget_refuses_until_the_oldest_call_is_a_day_old() {
        let m = FloodModel::new(FloodConfig::off().with_daily("r", 3));
        let t0 = Instant::now();
        for i in 0..3 {
            assert_eq!(m.admit(1, "r", t0 + Duration::from_secs(i * 60)), Ok(()));
        }
        let wait = m
            .admit(1, "r", t0 + Duration::from_secs(3_600))
            .expect_err("day spent")
            .wait;
        assert_eq!(wait, DAY - Duration::from_secs(3_600));
        assert_eq!(m.admit(1, "r", t0 + DAY), Ok(()));
    }

    #[test]
    fn off_never_refuses() {
        let m = FloodModel::new(FloodConfig::off());
        let t0 = Instant::now();
        assert!((0..10_000).all(|_| m.admit(1, "messages.getHistory", t0).is_ok()));
    }

    #[test]
    fn realistic_resolve_is_stricter_than_history() {
        let c = FloodConfig::realistic();
        let h = c.limit("messages.getHistory").expect("history limited");
        let r = c
            .limit("contacts.resolveUsername")
            .expect("resolve limited");
        assert!(r.per_second < h.per_second / 100.0);
        assert_eq!(wait_seconds(Duration::from_millis(1)), 1);
        assert_eq!(wait_seconds(Duration::from_millis(2_001)), 3);
    }
}
