//! Prometheus metrics of the running service (`GET /metrics`).
//!
//! One explicit [`Metrics`] value (no global registry) is created by `tgsift run` and handed to what
//! records into it. Each layer owns its families and registers them ([`Families`]): the client layer
//! (`telegram::metrics`: requests, latency, floods, retries, breaker, pacer), ingest
//! (`ingest::metrics`: posts stored, channel lag), tagging (attempts by outcome), alerts, the HTTP
//! layer (requests by route and status), and ops (`ops::figures`: channels by state, posts by tagging
//! status, jobs by state, read from the database when the metrics are scraped, so they are right even
//! when another process changed them). [`StateLabel`] and [`LastHour`] are shared by several layers.

pub(crate) mod ingest;

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::registry::Registry;

use tgsift_store::unix_now;

/// One account.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct AccountLabel {
    /// Account name.
    pub account: String,
}

/// A state or status value.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct StateLabel {
    /// The state.
    pub state: String,
}

/// The service's metrics: one registry (no global one), into which each layer registers the
/// families it records, the first time it asks for them ([`Metrics::of`]); cheap to share
/// (`Arc<Metrics>`). The per-account ingest figures ([`ingest`]) live here too, because the client
/// layer counts requests into them and ingest reads them.
pub struct Metrics {
    registry: Mutex<Registry>,
    layers: Mutex<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>,
    /// Ingest's own figures per account (live updates, gaps, lag, requests per method), kept by the
    /// ingest tasks and exported at scrape.
    pub ingest: Arc<ingest::Metrics>,
}

/// A layer's own metric families: the layer defines them and registers them in
/// [`Families::register`]; [`Metrics::of`] does that once per process.
pub(crate) trait Families: Any + Send + Sync {
    /// Creates the families and registers each in `registry`.
    fn register(registry: &mut Registry) -> Self;
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// An empty registry under the `tgsift_` prefix, with the ingest figures' collector.
    pub fn new() -> Self {
        let ingest = Arc::<ingest::Metrics>::default();
        let mut registry = Registry::with_prefix("tgsift");
        registry.register_collector(Box::new(IngestCollector(Arc::clone(&ingest))));
        Metrics {
            registry: Mutex::new(registry),
            layers: Mutex::new(HashMap::new()),
            ingest,
        }
    }

    /// The families of one layer, registered the first time any part of the process asks for them.
    pub(crate) fn of<F: Families>(&self) -> Arc<F> {
        let mut layers = self.layers.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(f) = layers.get(&TypeId::of::<F>())
            && let Ok(f) = Arc::clone(f).downcast::<F>()
        {
            return f;
        }
        let f = Arc::new(F::register(
            &mut self.registry.lock().unwrap_or_else(PoisonError::into_inner),
        ));
        layers.insert(TypeId::of::<F>(), f.clone());
        f
    }

    /// Everything registered, as Prometheus (OpenMetrics) text.
    pub(crate) fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(
            &mut out,
            &self.registry.lock().unwrap_or_else(PoisonError::into_inner),
        );
        out
    }
}

/// A sum over the last hour in one-minute buckets: what the dashboard shows as "floods in the last
/// hour" without a Prometheus server to compute a rate from the cumulative counters.
#[derive(Debug)]
pub(crate) struct LastHour {
    /// When counting began (unix seconds): the window is shorter until an hour has passed.
    started_at: i64,
    /// (minute since the epoch, sum in that minute), indexed by minute modulo 60.
    buckets: std::sync::Mutex<[(i64, f64); 60]>,
}

impl Default for LastHour {
    fn default() -> Self {
        LastHour {
            started_at: unix_now(),
            buckets: std::sync::Mutex::new([(0, 0.0); 60]),
        }
    }
}

impl LastHour {
    /// Adds `n` now.
    pub(crate) fn add(&self, n: f64) {
        self.add_at(unix_now(), n);
    }

    fn add_at(&self, now: i64, n: f64) {
        let minute = now.div_euclid(60);
        let mut b = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let slot = &mut b[minute.rem_euclid(60) as usize];
        if slot.0 != minute {
            *slot = (minute, 0.0);
        }
        slot.1 += n;
    }

    /// The sum over the last 60 minutes, and since when it counts (unix seconds: an hour ago, or when
    /// counting began if that is later).
    pub(crate) fn sum(&self) -> (f64, i64) {
        self.sum_at(unix_now())
    }

    fn sum_at(&self, now: i64) -> (f64, i64) {
        let minute = now.div_euclid(60);
        let b = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let total = b
            .iter()
            .filter(|(m, _)| *m > minute - 60 && *m <= minute)
            .map(|(_, v)| v)
            .sum();
        (total, self.started_at.max(now - 3600))
    }
}

/// Exports the ingest tasks' own figures ([`ingest`]) at scrape time.
#[derive(Debug)]
struct IngestCollector(Arc<ingest::Metrics>);

impl prometheus_client::collector::Collector for IngestCollector {
    fn encode(
        &self,
        mut encoder: prometheus_client::encoding::DescriptorEncoder,
    ) -> Result<(), std::fmt::Error> {
        use ingest::{IngestMetrics as M, LAG_BOUNDS_MS};
        use prometheus_client::encoding::EncodeMetric;
        use prometheus_client::metrics::MetricType;
        use prometheus_client::metrics::counter::ConstCounter;
        use prometheus_client::metrics::gauge::ConstGauge;
        use std::sync::atomic::AtomicU64 as A;
        let accounts = self.0.all();
        type Field = fn(&M) -> &A;
        let counters: [(&str, &str, Field); 12] = [
            (
                "live_updates",
                "Channel events received through updates by account",
                |m| &m.updates,
            ),
            (
                "live_posts",
                "New posts stored from updates by account",
                |m| &m.live_posts,
            ),
            ("live_edits", "Edits applied from updates by account", |m| {
                &m.live_edits
            }),
            (
                "live_deletions",
                "Posts marked deleted from updates by account",
                |m| &m.live_deletions,
            ),
            ("live_gaps", "Gaps found in the updates by account", |m| {
                &m.gaps
            }),
            (
                "live_gaps_recovered",
                "Channel gaps closed by a difference by account",
                |m| &m.gaps_recovered,
            ),
            (
                "live_channel_differences",
                "updates.getChannelDifference calls by account",
                |m| &m.channel_differences,
            ),
            (
                "live_account_differences",
                "updates.getDifference and getState calls by account",
                |m| &m.account_differences,
            ),
            (
                "live_too_long",
                "channelDifferenceTooLong answers by account",
                |m| &m.too_long,
            ),
            (
                "live_unpushed_posts",
                "New posts found by channel differences that were never pushed, by account",
                |m| &m.unpushed,
            ),
            (
                "live_checks",
                "Channel differences asked because a channel had no event for ingest.live_check_interval, by account",
                |m| &m.live_checks,
            ),
            (
                "live_keepalives",
                "updates.getDifference asked because the account sent no request for ingest.live_keepalive, by account",
                |m| &m.keepalives,
            ),
        ];
        for (name, help, field) in counters {
            let mut desc = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            for (account, m) in &accounts {
                let labels = AccountLabel {
                    account: account.clone(),
                };
                ConstCounter::new(M::get(field(m))).encode(desc.encode_family(&labels)?)?;
            }
        }
        let gauges: [(&str, &str, Field); 3] = [
            (
                "live_channels",
                "Channels followed through updates by account",
                |m| &m.live_channels,
            ),
            (
                "polled_channels",
                "Channels polled (not members, or poll mode) by account",
                |m| &m.polled_channels,
            ),
            (
                "live_push_silent",
                "1 while the account receives no pushes although its differences find posts",
                |m| &m.push_silent,
            ),
        ];
        for (name, help, field) in gauges {
            let mut desc = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            for (account, m) in &accounts {
                let labels = AccountLabel {
                    account: account.clone(),
                };
                ConstGauge::new(M::get(field(m)) as i64).encode(desc.encode_family(&labels)?)?;
            }
        }
        let mut desc = encoder.encode_descriptor(
            "live_lag_seconds",
            "From a post's date to stored, for posts stored from updates (dates are whole seconds)",
            None,
            MetricType::Histogram,
        )?;
        for (account, m) in &accounts {
            let labels = AccountLabel {
                account: account.clone(),
            };
            let per_bucket = m.lag.buckets();
            let mut cumulative = 0;
            let mut buckets: Vec<(f64, u64)> = Vec::with_capacity(per_bucket.len());
            for (i, n) in per_bucket.iter().enumerate() {
                cumulative += n;
                let bound = LAG_BOUNDS_MS
                    .get(i)
                    .map_or(f64::INFINITY, |ms| *ms as f64 / 1000.0);
                buckets.push((bound, cumulative));
            }
            desc.encode_family(&labels)?
                .encode_histogram::<AccountLabel>(
                    m.lag.sum_ms() as f64 / 1000.0,
                    m.lag.count(),
                    &buckets,
                    None,
                )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::LastHour;

    #[test]
    fn the_last_hour_forgets_what_is_older_than_sixty_minutes() {
        let h = LastHour {
            started_at: 0,
            buckets: std::sync::Mutex::new([(0, 0.0); 60]),
        };
        let t0 = 1_700_000_000;
        h.add_at(t0, 2.0);
        h.add_at(t0 + 30, 1.0);
        h.add_at(t0 + 1_800, 4.0);
        assert_eq!(h.sum_at(t0 + 1_800), (7.0, t0 + 1_800 - 3_600));
        // An hour later the first minute has gone; the same slot is reused without the old sum.
        assert_eq!(h.sum_at(t0 + 3_600).0, 4.0);
        h.add_at(t0 + 3_600, 1.0);
        assert_eq!(h.sum_at(t0 + 3_600).0, 5.0);
        assert_eq!(h.sum_at(t0 + 1_800 + 3_600).0, 1.0);
    }
}
