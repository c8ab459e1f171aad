//! The simulator's request log: when each API call arrived, how it was answered, and every flood
//! window issued — so tests can prove, for example, that no call arrived inside an open flood window.
//! Recent calls are kept in a bounded ring and every call is counted per (account, method), so a
//! simulator serving for days keeps flat memory.

use std::collections::{HashMap, VecDeque};
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

/// Calls and flood windows kept by default: the newest ones, so a simulator that runs for days
/// keeps constant memory while tests (far fewer calls) see every one.
pub const DEFAULT_CAPACITY: usize = 100_000;

/// How many calls of one method by one account arrived, by outcome (kept for ever: a few per pair).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Answered normally.
    pub ok: u64,
    /// Refused with a flood wait.
    pub flood: u64,
    /// Answered with another RPC error.
    pub error: u64,
    /// Dropped with the connection.
    pub dropped: u64,
    /// Seconds of all the flood waits given.
    pub flood_seconds: u64,
    /// The longest flood wait given, in seconds.
    pub max_wait: u32,
}

impl Counts {
    /// All outcomes.
    pub fn total(&self) -> u64 {
        self.ok + self.flood + self.error + self.dropped
    }
}

/// One `messages.getDialogs` call with its paging parameters (flooded and failed calls too): what
/// a test reads to tell which page a client asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DialogsCall {
    /// Arrival time.
    pub at: Instant,
    /// The caller: user id when logged in, else the auth key id.
    pub account: i64,
    /// `offset_date`.
    pub offset_date: i32,
    /// `offset_id`.
    pub offset_id: i32,
    /// The id of `offset_peer` (`None` for `inputPeerEmpty`; the account's own id for `inputPeerSelf`).
    pub offset_peer: Option<i64>,
    /// `limit`.
    pub limit: i32,
    /// `folder_id`.
    pub folder_id: Option<i32>,
    /// `exclude_pinned`.
    pub exclude_pinned: bool,
}

impl DialogsCall {
    /// Whether this call asked for the first page (no offset at all).
    pub fn first_page(&self) -> bool {
        self.offset_date == 0 && self.offset_id == 0 && self.offset_peer.is_none()
    }
}

struct Inner {
    requests: VecDeque<Request>,
    dialogs: VecDeque<DialogsCall>,
    windows: VecDeque<FloodWindow>,
    counts: HashMap<(i64, &'static str), Counts>,
    capacity: usize,
    inits: Vec<ClientInit>,
}

/// What a client said about itself in `initConnection` (distinct values are kept, in order of first
/// appearance): one session should present one client.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ClientInit {
    /// `api_id`.
    pub api_id: i32,
    /// `device_model`.
    pub device_model: String,
    /// `system_version`.
    pub system_version: String,
    /// `app_version`.
    pub app_version: String,
    /// `lang_code`.
    pub lang_code: String,
    /// `system_lang_code`.
    pub system_lang_code: String,
}

/// The log: the newest calls and flood windows in bounded rings, plus per-(account, method)
/// counters of every call ever made; cheap enough to keep on for benchmarks.
pub struct RequestLog {
    inner: Mutex<Inner>,
}

impl Default for RequestLog {
    fn default() -> Self {
        RequestLog::with_capacity(DEFAULT_CAPACITY)
    }
}

impl RequestLog {
    /// A log keeping the newest `capacity` calls and flood windows (at least 1).
    pub fn with_capacity(capacity: usize) -> Self {
        RequestLog {
            inner: Mutex::new(Inner {
                requests: VecDeque::new(),
                dialogs: VecDeque::new(),
                windows: VecDeque::new(),
                counts: HashMap::new(),
                capacity: capacity.max(1),
                inits: Vec::new(),
            }),
        }
    }

    /// Records what a connection said about its client (a value seen before is not kept twice).
    pub fn record_init(&self, init: ClientInit) {
        let mut inner = self.lock();
        if !inner.inits.contains(&init) {
            inner.inits.push(init);
        }
    }

    /// Every distinct client identity connections presented, in order of first appearance.
    pub fn client_inits(&self) -> Vec<ClientInit> {
        self.lock().inits.clone()
    }

    /// Records one call.
    pub fn record(&self, account: i64, method: &'static str, at: Instant, outcome: Outcome) {
        let mut inner = self.lock();
        let cap = inner.capacity;
        let counts = inner.counts.entry((account, method)).or_default();
        match &outcome {
            Outcome::Ok => counts.ok += 1,
            Outcome::Flood(secs) => {
                counts.flood += 1;
                counts.flood_seconds += u64::from(*secs);
                counts.max_wait = counts.max_wait.max(*secs);
            }
            Outcome::Error(_) => counts.error += 1,
            Outcome::Dropped => counts.dropped += 1,
        }
        if let Outcome::Flood(secs) = outcome {
            let until = at + Duration::from_secs(u64::from(secs));
            if inner.windows.len() == cap {
                inner.windows.pop_front();
            }
            inner.windows.push_back(FloodWindow {
                account,
                method,
                from: at,
                until,
            });
        }
        if inner.requests.len() == cap {
            inner.requests.pop_front();
        }
        inner.requests.push_back(Request {
            at,
            account,
            method,
            outcome,
        });
    }

    /// Records the paging parameters of a `messages.getDialogs` call.
    pub fn record_dialogs(&self, call: DialogsCall) {
        let mut inner = self.lock();
        if inner.dialogs.len() == inner.capacity {
            inner.dialogs.pop_front();
        }
        inner.dialogs.push_back(call);
    }

    /// The newest `messages.getDialogs` calls with their paging parameters, in arrival order.
    pub fn dialogs_calls(&self) -> Vec<DialogsCall> {
        self.lock().dialogs.iter().cloned().collect()
    }

    /// The newest calls (all of them until the capacity is reached), in arrival order.
    pub fn requests(&self) -> Vec<Request> {
        self.lock().requests.iter().cloned().collect()
    }

    /// The newest flood windows issued.
    pub fn flood_windows(&self) -> Vec<FloodWindow> {
        self.lock().windows.iter().cloned().collect()
    }

    /// Kept calls that arrived while a flood window of the same (account, method) was open — what
    /// a well-behaved client never sends.
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

    /// How many calls of `method` arrived since the start (or the last [`clear`](Self::clear)),
    /// all accounts and outcomes.
    pub fn count(&self, method: &str) -> usize {
        self.lock()
            .counts
            .iter()
            .filter(|((_, m), _)| *m == method)
            .map(|(_, c)| c.total() as usize)
            .sum()
    }

    /// Counters of every (account, method) pair seen.
    pub fn counts(&self) -> Vec<((i64, &'static str), Counts)> {
        let mut v: Vec<_> = self.lock().counts.iter().map(|(k, c)| (*k, *c)).collect();
        v.sort_by_key(|(k, _)| *k);
        v
    }

    /// Forgets everything (between phases of a test).
    pub fn clear(&self) {
        let mut inner = self.lock();
        inner.requests.clear();
        inner.dialogs.clear();
        inner.windows.clear();
        inner.counts.clear();
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

    #[test]
    fn the_ring_keeps_the_newest_calls_and_counters_keep_all() {
        let log = RequestLog::with_capacity(3);
        let t0 = Instant::now();
        for k in 0..10u64 {
            let outcome = if k % 2 == 0 {
                Outcome::Ok
            } else {
                Outcome::Flood(1)
            };
            log.record(1, "m", t0 + Duration::from_millis(k * 10), outcome);
        }
        log.record(2, "other", t0, Outcome::Error("X".into()));
        let kept: Vec<Instant> = log.requests().iter().map(|r| r.at).collect();
        assert_eq!(
            kept,
            vec![
                t0 + Duration::from_millis(80),
                t0 + Duration::from_millis(90),
                t0
            ]
        );
        assert_eq!(log.flood_windows().len(), 3);
        assert_eq!(log.count("m"), 10);
        assert_eq!(log.count("other"), 1);
        let counts = log.counts();
        assert_eq!(counts[0].0, (1, "m"));
        assert_eq!((counts[0].1.ok, counts[0].1.flood), (5, 5));
        assert_eq!((counts[0].1.flood_seconds, counts[0].1.max_wait), (5, 1));
        log.clear();
        assert_eq!(log.count("m"), 0);
        assert!(log.requests().is_empty());
    }
}
