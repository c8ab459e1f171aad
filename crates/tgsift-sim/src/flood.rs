//! Telegram-like flood control: a token bucket per (account, method).
//!
//! Telegram does not publish its limits; what clients observe is that a burst of calls to one method is
//! answered, and past it every call gets `FLOOD_WAIT_X` with X the seconds until a call would be accepted
//! again. A token bucket reproduces exactly that: `burst` calls at once, then `per_second` on average,
//! and a refused call learns how long until the next token.

use std::collections::HashMap;
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

/// Which methods are limited and how; methods without an entry use `default`, or are free when `None`.
#[derive(Clone, Debug, Default)]
pub struct FloodConfig {
    /// Limit of methods not listed in `methods`; `None` = unlimited.
    pub default: Option<Limit>,
    /// Per-method limits, by TL name (`messages.getHistory`).
    pub methods: HashMap<String, Limit>,
}

impl FloodConfig {
    /// No flood control at all (benchmarks of raw speed).
    pub fn off() -> Self {
        FloodConfig::default()
    }

    /// Limits shaped like Telegram's as seen in the wild: history is generous, resolving usernames and
    /// sending login codes are very strict.
    pub fn realistic() -> Self {
        FloodConfig::off()
            .with("messages.getHistory", Limit::new(30.0, 20.0, 1.0))
            .with("channels.getMessages", Limit::new(20.0, 10.0, 1.0))
            .with("channels.getChannels", Limit::new(20.0, 5.0, 1.0))
            .with("contacts.resolveUsername", Limit::new(5.0, 1.0, 30.0))
            .with("auth.sendCode", Limit::new(3.0, 1.0, 300.0))
            .with_default(Limit::new(50.0, 30.0, 1.0))
    }

    /// Sets one method's limit.
    pub fn with(mut self, method: &str, limit: Limit) -> Self {
        self.methods.insert(method.to_string(), limit);
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

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The live buckets of every (account, method) pair.
pub(crate) struct FloodModel {
    config: Mutex<FloodConfig>,
    buckets: Mutex<HashMap<(i64, String), Bucket>>,
}

impl FloodModel {
    /// Starts with full buckets.
    pub(crate) fn new(config: FloodConfig) -> Self {
        FloodModel {
            config: Mutex::new(config),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Replaces the limits (tests switch presets at run time); buckets start full again.
    pub(crate) fn set_config(&self, config: FloodConfig) {
        *lock(&self.config) = config;
        lock(&self.buckets).clear();
    }

    /// Takes a token for one call, or says how long until one is free (the X of `FLOOD_WAIT_X`).
    pub(crate) fn admit(&self, account: i64, method: &str, now: Instant) -> Result<(), Duration> {
        let Some(limit) = lock(&self.config).limit(method) else {
            return Ok(());
        };
        let mut buckets = lock(&self.buckets);
        let b = buckets
            .entry((account, method.to_string()))
            .or_insert(Bucket {
                tokens: limit.burst,
                at: now,
            });
        let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
        b.tokens = (b.tokens + elapsed * limit.per_second).min(limit.burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - b.tokens) / limit.per_second))
        }
    }
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
        let wait = m.admit(1, "m", t0).expect_err("bucket empty");
        assert_eq!(wait_seconds(wait), 2);
        // Another account and another method have their own buckets.
        assert_eq!(m.admit(2, "m", t0), Ok(()));
        assert_eq!(m.admit(1, "other", t0), Ok(()));
        // After the wait a call is admitted again.
        assert_eq!(m.admit(1, "m", t0 + wait), Ok(()));
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
