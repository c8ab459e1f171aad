//! The simulator's request log: when each API call arrived, how it was answered, and every flood
//! window issued — so tests can prove, for example, that no call arrived inside an open flood window.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How a logged call was answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A normal answer.
    Ok,
    /// `FLOOD_WAIT_X` / `SLOWMODE_WAIT_X` with these seconds.
    Flood(u32),
    /// Another RPC error, by message.
    Error(String),
    /// The connection was closed without a reply.
    Dropped,
}

/// One API call as the server saw it.
#[derive(Clone, Debug)]
pub struct Request {
    /// Arrival time.
    pub at: Instant,
    /// The caller: user id when logged in, else the auth key id.
    pub account: i64,
    /// TL name, e.g. `messages.getHistory`.
    pub method: &'static str,
    /// The answer.
    pub outcome: Outcome,
}

/// A period in which calls of `method` by `account` are refused with FLOOD_WAIT.
#[derive(Clone, Debug)]
pub struct FloodWindow {
    /// The caller.
    pub account: i64,
    /// The method.
    pub method: &'static str,
    /// When the FLOOD_WAIT was sent.
    pub from: Instant,
    /// When the window closes (from + X seconds).
    pub until: Instant,
}

#[derive(Default)]
struct Inner {
    requests: Vec<Request>,
    windows: Vec<FloodWindow>,
}

/// The log; cheap enough to keep on for benchmarks (one small record per call).
#[derive(Default)]
pub struct RequestLog {
    inner: Mutex<Inner>,
}

impl RequestLog {
    /// Records one call.
    pub fn record(&self, account: i64, method: &'static str, at: Instant, outcome: Outcome) {
        let mut inner = self.lock();
        if let Outcome::Flood(secs) = outcome {
            let until = at + Duration::from_secs(u64::from(secs));
            inner.windows.push(FloodWindow {
                account,
                method,
                from: at,
                until,
            });
        }
        inner.requests.push(Request {
            at,
            account,
            method,
            outcome,
        });
    }

    /// Every call so far, in arrival order.
    pub fn requests(&self) -> Vec<Request> {
        self.lock().requests.clone()
    }

    /// Every flood window issued so far.
    pub fn flood_windows(&self) -> Vec<FloodWindow> {
        self.lock().windows.clone()
    }

    /// Calls that arrived while a flood window of the same (account, method) was open — what a
    /// well-behaved client never sends.
    pub fn requests_inside_flood_windows(&self) -> Vec<Request> {
        let inner = self.lock();
        inner
            .requests
            .iter()
            .filter(|r| {
                inner.windows.iter().any(|w| {
                    w.account == r.account
                        && w.method == r.method
                        && r.at > w.from
                        && r.at < w.until
                })
            })
            .cloned()
            .collect()
    }

    /// How many calls of `method` arrived (all outcomes).
    pub fn count(&self, method: &str) -> usize {
        self.lock()
            .requests
            .iter()
            .filter(|r| r.method == method)
            .count()
    }

    /// Forgets everything (between phases of a test).
    pub fn clear(&self) {
        *self.lock() = Inner::default();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_inside_a_window_are_found() {
        let log = RequestLog::default();
        let t0 = Instant::now();
        log.record(1, "m", t0, Outcome::Flood(2));
        log.record(1, "m", t0 + Duration::from_millis(500), Outcome::Flood(2));
        log.record(2, "m", t0 + Duration::from_millis(600), Outcome::Ok);
        log.record(1, "other", t0 + Duration::from_millis(700), Outcome::Ok);
        log.record(1, "m", t0 + Duration::from_millis(3_000), Outcome::Ok);
        let inside = log.requests_inside_flood_windows();
        assert_eq!(inside.len(), 1);
        assert_eq!(inside[0].at, t0 + Duration::from_millis(500));
        assert_eq!(log.flood_windows().len(), 2);
        assert_eq!(log.count("m"), 4);
    }
}
