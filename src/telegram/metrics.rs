//! The client layer's metric families: every Telegram call by outcome and latency, FLOOD_WAITs and
//! the seconds slept for them, retries, reconnects, the circuit breaker and the pacer's rate.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::metrics::{AccountLabel, Families, LastHour};

/// Labels of one Telegram call's outcome.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct CallLabels {
    /// Account name.
    pub account: String,
    /// TL method.
    pub method: String,
    /// `ok`, `flood`, `transient`, `permanent`, `undecodable`, `unknown`, `timeout`.
    pub outcome: String,
}

/// (account, method).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct AccountMethod {
    /// Account name.
    pub account: String,
    /// TL method.
    pub method: String,
}

/// One method.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct MethodLabel {
    /// TL method.
    pub method: String,
}

type Hist<L> = Family<L, Histogram, fn() -> Histogram>;
type GaugeF = Gauge<f64, AtomicU64>;

fn latency_histogram() -> Histogram {
    // 5 ms … 40 s.
    Histogram::new(exponential_buckets(0.005, 2.0, 14))
}

/// What the client layer records, per account and method.
pub(crate) struct ClientMetrics {
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
    /// Connections dropped as half-open, by account.
    pub rebuilt: Family<AccountLabel, Counter>,
    /// This machine's clock minus Telegram's, seconds, by account.
    pub clock_skew: Family<AccountLabel, Gauge>,
    /// 1 while the account's circuit breaker is open.
    pub breaker_open: Family<AccountLabel, Gauge>,
    /// The pacer's current rate by (account, method), requests/s.
    pub pacer_rate: Family<AccountMethod, GaugeF>,
    /// FLOOD_WAITs received in the last hour (all accounts), for the dashboard.
    pub floods_last_hour: LastHour,
    /// Seconds slept for FLOOD_WAITs in the last hour (all accounts), for the dashboard.
    pub flood_sleep_last_hour: LastHour,
}

impl Families for ClientMetrics {
    fn register(registry: &mut Registry) -> Self {
        let m = ClientMetrics {
            requests: Family::default(),
            latency: Family::new_with_constructor(latency_histogram),
            floods: Family::default(),
            flood_sleep_seconds: Family::default(),
            retries: Family::default(),
            reconnects: Family::default(),
            rebuilt: Family::default(),
            clock_skew: Family::default(),
            breaker_open: Family::default(),
            pacer_rate: Family::default(),
            floods_last_hour: LastHour::default(),
            flood_sleep_last_hour: LastHour::default(),
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
            "connections_rebuilt",
            "Connections dropped as half-open (no pong within the ping deadline, or two requests without an answer) by account",
            m.rebuilt.clone(),
        );
        registry.register(
            "clock_skew_seconds",
            "This machine's clock minus Telegram's (from the dates Telegram sends), by account; above 30 s Telegram refuses every request",
            m.clock_skew.clone(),
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
        m
    }
}

impl ClientMetrics {
    /// Counts one Telegram call.
    pub(crate) fn call(&self, account: &str, method: &str, outcome: &str, seconds: f64) {
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
}
