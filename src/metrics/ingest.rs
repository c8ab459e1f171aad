//! Figures that tell whether ingest keeps its promises, per account: how late posts are stored after
//! they were published, how many gaps in the updates were found and filled, and what it costs in
//! requests. Plain atomics, cheap to update from the ingest task and to read from anywhere (logs,
//! `/metrics`).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Upper bounds (milliseconds) of the lag histogram's buckets; one more bucket holds the rest.
pub(crate) const LAG_BOUNDS_MS: [u64; 12] = [
    100, 250, 500, 750, 1_000, 1_500, 2_000, 5_000, 10_000, 30_000, 60_000, 300_000,
];

/// A histogram of milliseconds with fixed buckets ([`LAG_BOUNDS_MS`]).
#[derive(Debug, Default)]
pub struct LagHistogram {
    buckets: [AtomicU64; LAG_BOUNDS_MS.len() + 1],
    sum_ms: AtomicU64,
    count: AtomicU64,
}

impl LagHistogram {
    /// Records one observation.
    pub(crate) fn observe(&self, ms: u64) {
        let i = LAG_BOUNDS_MS
            .iter()
            .position(|b| ms <= *b)
            .unwrap_or(LAG_BOUNDS_MS.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.sum_ms.fetch_add(ms, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// Observations per bucket (not cumulative), the last one above every bound.
    pub(crate) fn buckets(&self) -> Vec<u64> {
        self.buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect()
    }

    /// Number of observations.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Sum of the observations, milliseconds.
    pub(crate) fn sum_ms(&self) -> u64 {
        self.sum_ms.load(Ordering::Relaxed)
    }

    /// The upper bound of the bucket holding quantile `q` (0..=1); `None` without observations or
    /// when it falls above every bound.
    pub(crate) fn quantile_bound_ms(&self, q: f64) -> Option<u64> {
        let buckets = self.buckets();
        let total: u64 = buckets.iter().sum();
        if total == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, n) in buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return LAG_BOUNDS_MS.get(i).copied();
            }
        }
        None
    }
}

/// What one account's ingest did since the process started.
#[derive(Debug, Default)]
pub struct IngestMetrics {
    /// Channel events received (pushed or in differences).
    pub updates: AtomicU64,
    /// New posts stored from updates.
    pub live_posts: AtomicU64,
    /// Edits applied from updates.
    pub live_edits: AtomicU64,
    /// Posts marked deleted from updates.
    pub live_deletions: AtomicU64,
    /// Gaps found: pts holes that did not fill within 0.5 s, `updateChannelTooLong`, lost
    /// connections and `updatesTooLong`.
    pub gaps: AtomicU64,
    /// Channel gaps closed by a difference.
    pub gaps_recovered: AtomicU64,
    /// `updates.getChannelDifference` calls (gaps, catch-up after a restart or reconnect, idle
    /// checks).
    pub channel_differences: AtomicU64,
    /// `updates.getDifference` and `updates.getState` calls.
    pub account_differences: AtomicU64,
    /// `channelDifferenceTooLong` answers, each followed by a history backfill.
    pub too_long: AtomicU64,
    /// New posts found by channel differences that were never pushed (Telegram stopped pushing,
    /// never pushes the channel, or the push was lost).
    pub unpushed: AtomicU64,
    /// Channel differences asked by the round robin (no event for `ingest.live_check_interval`).
    pub live_checks: AtomicU64,
    /// `updates.getDifference` asked because the account sent no request for `ingest.live_keepalive`.
    pub keepalives: AtomicU64,
    /// 1 while the account's pushes are silent although its differences find posts.
    pub push_silent: AtomicU64,
    /// Channels followed through updates right now.
    pub live_channels: AtomicU64,
    /// Channels polled right now (not members, or poll mode).
    pub polled_channels: AtomicU64,
    /// Lag from a post's date to stored, for posts stored from updates. Telegram dates are whole
    /// seconds, so this overstates the lag by up to 1 s (`posts.stored_at_ms` against a publisher's
    /// clock is exact).
    pub lag: LagHistogram,
    /// Requests sent per method (every attempt), through the account's client.
    pub requests: Arc<MethodCounts>,
}

impl IngestMetrics {
    /// Adds `n` to a counter.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Reads a counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// One line for the log.
    pub fn summary(&self) -> String {
        let g = Self::get;
        let ms = |q| {
            self.lag
                .quantile_bound_ms(q)
                .map_or("-".to_string(), |b| format!("≤{b} ms"))
        };
        format!(
            "live channels {}, polled {}; updates {}, posts {}, edits {}, deletions {}; gaps {} (recovered {}), channel differences {} (checks {}), account differences {} (keep-alives {}), too long {}, never pushed {}; getHistory {}; lag p50 {} p99 {}",
            g(&self.live_channels),
            g(&self.polled_channels),
            g(&self.updates),
            g(&self.live_posts),
            g(&self.live_edits),
            g(&self.live_deletions),
            g(&self.gaps),
            g(&self.gaps_recovered),
            g(&self.channel_differences),
            g(&self.live_checks),
            g(&self.account_differences),
            g(&self.keepalives),
            g(&self.too_long),
            g(&self.unpushed),
            self.requests.get("messages.getHistory"),
            ms(0.5),
            ms(0.99),
        )
    }
}

/// The metrics of every account of this process, by account name.
#[derive(Debug, Default)]
pub struct Metrics {
    accounts: Mutex<BTreeMap<String, Arc<IngestMetrics>>>,
}

impl Metrics {
    /// The metrics of one account (created on first use; kept across restarts of its task).
    pub fn account(&self, name: &str) -> Arc<IngestMetrics> {
        let mut map = self.accounts.lock().unwrap_or_else(|p| p.into_inner());
        Arc::clone(map.entry(name.to_string()).or_default())
    }

    /// Every account's metrics.
    pub fn all(&self) -> Vec<(String, Arc<IngestMetrics>)> {
        let map = self.accounts.lock().unwrap_or_else(|p| p.into_inner());
        map.iter()
            .map(|(k, v)| (k.clone(), Arc::clone(v)))
            .collect()
    }
}

/// Requests sent per method (every attempt counts), for metrics: what following channels costs.
#[derive(Debug, Default)]
pub struct MethodCounts {
    counts: Mutex<HashMap<&'static str, u64>>,
}

impl MethodCounts {
    pub(crate) fn add(&self, method: &'static str) {
        *self
            .counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(method)
            .or_default() += 1;
    }

    /// Requests of one method (its TL name, e.g. `messages.getHistory`).
    pub fn get(&self, method: &str) -> u64 {
        let counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        counts.get(method).copied().unwrap_or(0)
    }

    /// Every method with its count, by name.
    pub fn all(&self) -> Vec<(&'static str, u64)> {
        let counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let mut v: Vec<_> = counts.iter().map(|(m, n)| (*m, *n)).collect();
        v.sort();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_quantiles_come_from_bucket_bounds() {
        let h = LagHistogram::default();
        assert_eq!(h.quantile_bound_ms(0.5), None);
        for ms in [10, 20, 30, 40, 50, 60, 70, 80, 90, 900] {
            h.observe(ms);
        }
        assert_eq!(h.quantile_bound_ms(0.5), Some(100));
        assert_eq!(h.quantile_bound_ms(0.99), Some(1_000));
        h.observe(400_000);
        assert_eq!(h.quantile_bound_ms(1.0), None, "above every bound");
        assert_eq!(h.count(), 11);
        assert_eq!(h.sum_ms(), 450 + 900 + 400_000);
    }
}
