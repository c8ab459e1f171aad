//! Telegram's silences: the ways a real DC stops talking to a client without an error, each off by
//! default, and the counts of what they did.
//!
//! A client cannot tell any of these from a quiet channel, which is why they are simulated:
//!
//! - **Push idle stop**: Telegram stops pushing to a connection that has sent no content request
//!   (any RPC; pings, acks and `get_future_salts` do not count) for a while. Its pushes are lost
//!   (no `getDifference` reports them) until the connection's next request.
//! - **Unpushed channels**: some channels are never pushed to anyone (stable per channel for the
//!   run); their events are only found by asking (`getChannelDifference`, `getHistory`).
//! - **Black holes** and **session resets** live on connections: see [`Hub`]. **Unknown updates**
//!   are a push fault. **Salt rotation** and **clock skew** are the [`ServerClock`]'s.
//!
//! [`Hub`]: super::hub::Hub
//! [`ServerClock`]: super::clock::ServerClock

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Keeps the unpushed-channel hash apart from other hashes of the same seed.
const SALT_UNPUSHED: u64 = 0x756e_7075_7368;

/// The push silences in force, and the tally of every silence.
pub(crate) struct Silence {
    seed: u64,
    idle_stop: Mutex<Option<Duration>>,
    /// Share of channels never pushed, as f64 bits.
    unpushed: AtomicU64,
    /// What the silences did.
    pub(crate) tally: Tally,
}

impl Silence {
    /// All silences off; which channels go unpushed is decided from `seed`.
    pub(crate) fn new(seed: u64) -> Self {
        Silence {
            seed,
            idle_stop: Mutex::new(None),
            unpushed: AtomicU64::new(0f64.to_bits()),
            tally: Tally::default(),
        }
    }

    /// Stops pushes to connections with no content request for `after` (`None`: never).
    pub(crate) fn set_idle_stop(&self, after: Option<Duration>) {
        *self.idle_stop.lock().unwrap_or_else(|p| p.into_inner()) = after;
    }

    /// The idle time after which a connection gets no pushes.
    pub(crate) fn idle_stop(&self) -> Option<Duration> {
        *self.idle_stop.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes the share `f` (0..=1) of channels unpushed.
    pub(crate) fn set_unpushed(&self, f: f64) {
        let f = if f.is_nan() { 0.0 } else { f.clamp(0.0, 1.0) };
        self.unpushed.store(f.to_bits(), Ordering::Relaxed);
    }

    /// Whether the channel's events are never pushed: a hash of (seed, channel id) against the share.
    pub(crate) fn is_unpushed(&self, channel_id: i64) -> bool {
        let f = f64::from_bits(self.unpushed.load(Ordering::Relaxed));
        if f <= 0.0 {
            return false;
        }
        let h = crate::textgen::hash3(self.seed, SALT_UNPUSHED, channel_id as u64);
        // 53 random bits as a uniform number in [0, 1).
        ((h >> 11) as f64) * (1.0 / (1u64 << 53) as f64) < f
    }
}

/// What happened to one event's pushes, connection by connection (see `Hub::push`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct PushTally {
    /// Sent as the event itself (with an unknown update too or not).
    pub delivered: u64,
    /// Not sent: the connection had been idle too long.
    pub idle_stopped: u64,
    /// Not sent: the channel is never pushed.
    pub unpushed: u64,
    /// Not sent: the connection's session was reset and it has not asked for updates again.
    pub session_reset: u64,
    /// Not sent: the connection is a black hole.
    pub black_holed: u64,
    /// Sent together with an update the client cannot decode.
    pub unknown_updates: u64,
}

/// Running counts of every silence (atomics, so no lock on the hot paths).
#[derive(Default)]
pub(crate) struct Tally {
    delivered: AtomicU64,
    idle_stopped: AtomicU64,
    unpushed: AtomicU64,
    session_reset_pushes: AtomicU64,
    black_holed_pushes: AtomicU64,
    black_holes: AtomicU64,
    session_resets: AtomicU64,
    bad_server_salts: AtomicU64,
    msg_ids_too_low: AtomicU64,
    msg_ids_too_high: AtomicU64,
    unknown_updates: AtomicU64,
}

/// One of the tally's event counters.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Event {
    /// A connection became a black hole.
    BlackHole,
    /// A session was reset.
    SessionReset,
    /// `bad_server_salt` was sent.
    BadServerSalt,
    /// `bad_msg_notification` 16 was sent.
    MsgIdTooLow,
    /// `bad_msg_notification` 17 was sent.
    MsgIdTooHigh,
}

impl Tally {
    /// Adds one event's pushes.
    pub(crate) fn add_pushes(&self, t: &PushTally) {
        for (counter, n) in [
            (&self.delivered, t.delivered),
            (&self.idle_stopped, t.idle_stopped),
            (&self.unpushed, t.unpushed),
            (&self.session_reset_pushes, t.session_reset),
            (&self.black_holed_pushes, t.black_holed),
            (&self.unknown_updates, t.unknown_updates),
        ] {
            if n > 0 {
                counter.fetch_add(n, Ordering::Relaxed);
            }
        }
    }

    /// Counts `n` events of one kind.
    pub(crate) fn add(&self, event: Event, n: u64) {
        let counter = match event {
            Event::BlackHole => &self.black_holes,
            Event::SessionReset => &self.session_resets,
            Event::BadServerSalt => &self.bad_server_salts,
            Event::MsgIdTooLow => &self.msg_ids_too_low,
            Event::MsgIdTooHigh => &self.msg_ids_too_high,
        };
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// The counts so far.
    pub(crate) fn snapshot(&self) -> SilenceCounts {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        SilenceCounts {
            pushes_delivered: get(&self.delivered),
            pushes_idle_stopped: get(&self.idle_stopped),
            pushes_unpushed: get(&self.unpushed),
            pushes_session_reset: get(&self.session_reset_pushes),
            pushes_black_holed: get(&self.black_holed_pushes),
            black_holes: get(&self.black_holes),
            session_resets: get(&self.session_resets),
            bad_server_salts: get(&self.bad_server_salts),
            msg_ids_too_low: get(&self.msg_ids_too_low),
            msg_ids_too_high: get(&self.msg_ids_too_high),
            unknown_updates: get(&self.unknown_updates),
        }
    }
}

/// What the silences did so far: pushes per fate and the connection-level events, so a test or
/// `sim serve` can tell which silences a client actually met.
///
/// A push is counted once per connection it would have reached (a subscribed member's). Pushes
/// replaced by a scripted fault (dropped, `updatesTooLong`, `updateChannelTooLong`) are in no count.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SilenceCounts {
    /// Pushes sent as the event itself (those carrying an unknown update included).
    pub pushes_delivered: u64,
    /// Pushes not sent because the connection had made no request for the idle-stop time.
    pub pushes_idle_stopped: u64,
    /// Pushes not sent because their channel is never pushed.
    pub pushes_unpushed: u64,
    /// Pushes not sent because the connection's session was reset and not subscribed again.
    pub pushes_session_reset: u64,
    /// Pushes not sent because the connection is a black hole.
    pub pushes_black_holed: u64,
    /// Connections that became black holes.
    pub black_holes: u64,
    /// Sessions reset (`new_session_created` sent on a live connection).
    pub session_resets: u64,
    /// `bad_server_salt` notifications sent (stale salt; packet not processed).
    pub bad_server_salts: u64,
    /// `bad_msg_notification` code 16 sent (msg_id too low for server time).
    pub msg_ids_too_low: u64,
    /// `bad_msg_notification` code 17 sent (msg_id too high for server time).
    pub msg_ids_too_high: u64,
    /// Pushes sent with an update the client cannot decode (the whole push is lost to it).
    pub unknown_updates: u64,
}

impl std::fmt::Display for SilenceCounts {
    /// One line of `name=count` pairs, for `sim serve`'s exit summary.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "pushes delivered={} idle_stopped={} unpushed={} session_reset={} black_holed={}; \
             black_holes={} session_resets={} bad_server_salt={} bad_msg_16={} bad_msg_17={} \
             unknown_updates={}",
            self.pushes_delivered,
            self.pushes_idle_stopped,
            self.pushes_unpushed,
            self.pushes_session_reset,
            self.pushes_black_holed,
            self.black_holes,
            self.session_resets,
            self.bad_server_salts,
            self.msg_ids_too_low,
            self.msg_ids_too_high,
            self.unknown_updates,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unpushed_channels_are_a_stable_share_decided_by_seed_and_channel() {
        let s = Silence::new(42);
        assert!((0..1_000).all(|c| !s.is_unpushed(c)), "off by default");
        s.set_unpushed(0.25);
        let picked: Vec<i64> = (0..10_000).filter(|&c| s.is_unpushed(c)).collect();
        assert!((2_200..2_800).contains(&picked.len()), "{}", picked.len());
        assert!(picked.iter().all(|&c| s.is_unpushed(c)), "stable");
        let other = Silence::new(43);
        other.set_unpushed(0.25);
        assert_ne!(
            picked,
            (0..10_000)
                .filter(|&c| other.is_unpushed(c))
                .collect::<Vec<_>>(),
            "another seed picks other channels"
        );
        s.set_unpushed(1.0);
        assert!((0..100).all(|c| s.is_unpushed(c)));
    }

    #[test]
    fn the_tally_adds_pushes_and_events() {
        let t = Tally::default();
        t.add_pushes(&PushTally {
            delivered: 2,
            idle_stopped: 1,
            unknown_updates: 1,
            ..Default::default()
        });
        t.add(Event::MsgIdTooHigh, 3);
        let c = t.snapshot();
        assert_eq!(
            (
                c.pushes_delivered,
                c.pushes_idle_stopped,
                c.unknown_updates,
                c.msg_ids_too_high
            ),
            (2, 1, 1, 3)
        );
        assert!(c.to_string().contains("bad_msg_17=3"), "{c}");
    }
}
