//! Prometheus metrics of the running service (`GET /metrics`).
//!
//! One explicit [`Metrics`] value (no global registry) is created by `tgsift run` and handed to what
//! records into it: the client layer (requests, latency, floods, retries, breaker, pacer), ingest
//! (posts stored, channel lag), tagging (attempts by outcome) and the HTTP layer (requests by route and
//! status). Figures that live in the database — channels by state, posts by tagging status, jobs by state
//! — are read when the metrics are scraped, so they are right even when another process changed them.

pub(crate) mod ingest;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use tgsift_store::prelude::*;
use tgsift_store::{StoreError, TaggingStatus, unix_now};

/// Labels of one Telegram call's outcome.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CallLabels {
    /// Account name.
    pub account: String,
    /// TL method.
    pub method: String,
    /// `ok`, `flood`, `transient`, `permanent`, `undecodable`, `unknown`, `timeout`.
    pub outcome: String,
}

/// (account, method).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AccountMethod {
    /// Account name.
    pub account: String,
    /// TL method.
    pub method: String,
}

/// One method.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MethodLabel {
    /// TL method.
    pub method: String,
}

/// One account.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AccountLabel {
    /// Account name.
    pub account: String,
}

/// One channel.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ChannelLabel {
    /// Account name.
    pub account: String,
    /// `@username` or id.
    pub channel: String,
}

/// A state or status value.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabel {
    /// The state.
    pub state: String,
}

/// An outcome value.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    /// The outcome.
    pub outcome: String,
}

/// One HTTP route and status.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// The route pattern (`/api/v1/posts/{id}`), not the path.
    pub route: String,
    /// HTTP method.
    pub method: String,
    /// Status code.
    pub status: String,
}

type Hist<L> = Family<L, Histogram, fn() -> Histogram>;
type GaugeF = Gauge<f64, AtomicU64>;

fn latency_histogram() -> Histogram {
    // 5 ms … 40 s.
    Histogram::new(exponential_buckets(0.005, 2.0, 14))
}

/// Every metric of the service; cheap to share (`Arc<Metrics>`).
pub struct Metrics {
    registry: Registry,
    /// Telegram calls by (account, method, outcome).
    pub requests: Family<CallLabels, Counter>,
    /// Telegram call latency by method, seconds.
    pub latency: Hist<MethodLabel>,
    /// FLOOD_WAITs received by (account, method).
    pub floods: Family<AccountMethod, Counter>,
    /// Seconds slept for FLOOD_WAITs by (account, method).
    pub flood_sleep_seconds: Family<AccountMethod, Counter<f64, AtomicU64>>,
    /// Retries after transient failures, by account.
    pub retries: Family<AccountLabel, Counter>,
    /// Retries after lost connections (the next call reconnects), by account.
    pub reconnects: Family<AccountLabel, Counter>,
    /// 1 while the account's circuit breaker is open.
    pub breaker_open: Family<AccountLabel, Gauge>,
    /// The pacer's current rate by (account, method), requests/s.
    pub pacer_rate: Family<AccountMethod, GaugeF>,
    /// Posts stored by channel.
    pub posts_ingested: Family<ChannelLabel, Counter>,
    /// The channel's newest message id minus its checkpoint, as of its last poll.
    pub channel_lag: Family<ChannelLabel, Gauge>,
    /// Channels by state (read from the database at scrape).
    pub channels: Family<StateLabel, Gauge>,
    /// Posts by tagging status (read from the database at scrape).
    pub tagging_posts: Family<StateLabel, Gauge>,
    /// Tagging attempts by outcome.
    pub tagging_attempts: Family<OutcomeLabel, Counter>,
    /// Jobs by state (read from the database at scrape).
    pub jobs: Family<StateLabel, Gauge>,
    /// Posts stored but not yet in the search index (read from the database at scrape).
    pub search_backlog: Gauge,
    /// Alerts raised by kind.
    pub alerts: Family<StateLabel, Counter>,
    /// HTTP requests by (route, method, status).
    pub http_requests: Family<RouteLabels, Counter>,
    /// Ingest's own figures per account (live updates, gaps, lag, requests per method), kept by the
    /// ingest tasks and exported at scrape.
    pub ingest: Arc<ingest::Metrics>,
    /// FLOOD_WAITs received in the last hour (all accounts), for the dashboard.
    pub floods_last_hour: LastHour,
    /// Seconds slept for FLOOD_WAITs in the last hour (all accounts), for the dashboard.
    pub flood_sleep_last_hour: LastHour,
}

/// A sum over the last hour in one-minute buckets: what the dashboard shows as "floods in the last
/// hour" without a Prometheus server to compute a rate from the cumulative counters.
#[derive(Debug)]
pub struct LastHour {
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
    pub fn add(&self, n: f64) {
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
    pub fn sum(&self) -> (f64, i64) {
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

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric under the `tgsift_` prefix.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("tgsift");
        let m = Metrics {
            requests: Family::default(),
            latency: Family::new_with_constructor(latency_histogram),
            floods: Family::default(),
            flood_sleep_seconds: Family::default(),
            retries: Family::default(),
            reconnects: Family::default(),
            breaker_open: Family::default(),
            pacer_rate: Family::default(),
            posts_ingested: Family::default(),
            channel_lag: Family::default(),
            channels: Family::default(),
            tagging_posts: Family::default(),
            tagging_attempts: Family::default(),
            jobs: Family::default(),
            search_backlog: Gauge::default(),
            alerts: Family::default(),
            http_requests: Family::default(),
            ingest: Arc::default(),
            floods_last_hour: LastHour::default(),
            flood_sleep_last_hour: LastHour::default(),
            registry: Registry::default(),
        };
        registry.register(
            "telegram_requests",
            "Telegram calls by account, method and outcome",
            m.requests.clone(),
        );
        registry.register(
            "telegram_request_seconds",
            "Latency of Telegram calls by method",
            m.latency.clone(),
        );
        registry.register(
            "flood_waits",
            "FLOOD_WAITs received by account and method",
            m.floods.clone(),
        );
        registry.register(
            "flood_sleep_seconds",
            "Seconds slept for FLOOD_WAITs by account and method",
            m.flood_sleep_seconds.clone(),
        );
        registry.register(
            "retries",
            "Retries after transient failures by account",
            m.retries.clone(),
        );
        registry.register(
            "reconnects",
            "Retries after lost connections by account",
            m.reconnects.clone(),
        );
        registry.register(
            "circuit_breaker_open",
            "1 while the account's circuit breaker is open",
            m.breaker_open.clone(),
        );
        registry.register(
            "pacer_rate",
            "The pacer's rate by account and method, requests per second",
            m.pacer_rate.clone(),
        );
        registry.register(
            "posts_ingested",
            "Posts stored by channel",
            m.posts_ingested.clone(),
        );
        registry.register(
            "channel_lag_messages",
            "Newest message id minus the checkpoint, at the channel's last poll",
            m.channel_lag.clone(),
        );
        registry.register("channels", "Channels by state", m.channels.clone());
        registry.register(
            "tagging_posts",
            "Posts by tagging status",
            m.tagging_posts.clone(),
        );
        registry.register(
            "tagging_attempts",
            "Tagging attempts by outcome",
            m.tagging_attempts.clone(),
        );
        registry.register("jobs", "Admin jobs by state", m.jobs.clone());
        registry.register(
            "search_backlog",
            "Posts stored but not yet in the search index",
            m.search_backlog.clone(),
        );
        registry.register("alerts", "Alerts raised by kind", m.alerts.clone());
        registry.register(
            "http_requests",
            "HTTP requests by route, method and status",
            m.http_requests.clone(),
        );
        registry.register_collector(Box::new(IngestCollector(Arc::clone(&m.ingest))));
        Metrics { registry, ..m }
    }

    /// Counts one Telegram call.
    pub fn call(&self, account: &str, method: &str, outcome: &str, seconds: f64) {
        self.requests
            .get_or_create(&CallLabels {
                account: account.into(),
                method: method.into(),
                outcome: outcome.into(),
            })
            .inc();
        self.latency
            .get_or_create(&MethodLabel {
                method: method.into(),
            })
            .observe(seconds);
    }

    /// Sets the figures that live in the database, then renders everything as Prometheus text.
    pub(crate) fn render(&self, store: &dyn Storage) -> Result<String, StoreError> {
        let now = unix_now();
        let mut by_state = std::collections::BTreeMap::<&str, i64>::new();
        for c in store.channels()? {
            *by_state.entry(c.state(now)).or_default() += 1;
        }
        for state in ["active", "parked", "paused", "failed"] {
            self.channels
                .get_or_create(&StateLabel {
                    state: state.into(),
                })
                .set(by_state.get(state).copied().unwrap_or(0));
        }
        let tagging = store.tag_stats(None)?.by_status;
        for status in TaggingStatus::ALL.map(TaggingStatus::as_str) {
            self.tagging_posts
                .get_or_create(&StateLabel {
                    state: status.into(),
                })
                .set(tagging.get(status).copied().unwrap_or(0));
        }
        let jobs = store.job_counts()?;
        for state in ["queued", "running", "done", "failed", "cancelled"] {
            self.jobs
                .get_or_create(&StateLabel {
                    state: state.into(),
                })
                .set(jobs.get(state).copied().unwrap_or(0));
        }
        self.search_backlog.set(store.search_backlog()?);
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        Ok(out)
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
        let counters: [(&str, &str, Field); 9] = [
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
        let gauges: [(&str, &str, Field); 2] = [
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
