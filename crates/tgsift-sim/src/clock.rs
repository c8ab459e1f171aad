//! The server's clock and salts: what time the DC thinks it is, which server salt is valid now, and
//! the two checks Telegram makes on every client packet before reading it.
//!
//! - **Clock skew.** Server time is real time plus a skew (0 by default). It stamps the server's
//!   msg_ids, `future_salts.now` and the salt periods; a client learns it only from the msg_id of a
//!   `bad_msg_notification` 16/17, as grammers does. Dates inside API objects stay real time.
//! - **msg_id time** (always checked, as Telegram does): a client msg_id whose time (`msg_id >> 32`)
//!   is more than [`MSG_ID_PAST`] seconds before server time is answered with code 16 (too low), more
//!   than [`MSG_ID_FUTURE`] seconds after it with code 17 (too high). On one host with no skew an
//!   honest client never trips either.
//! - **Salt rotation** (off by default: one fixed salt, never checked). With a period of `P`
//!   seconds, period `k = floor(server_now / P)` has the salt hash(seed, k). A packet must carry the
//!   current salt, or the previous period's for [`SALT_GRACE`] seconds after the change (Telegram
//!   documents 1800 s; 60 s is the delay after which grammers itself moves to the next salt, so a
//!   client that switches on time is never refused, and one that keeps an old salt is refused much
//!   sooner than on Telegram). Anything else gets `bad_server_salt` and is not processed.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use grammers_tl_types as tl;
use tl::Serializable;

/// A client msg_id more than this many seconds behind server time is refused (code 16).
pub(crate) const MSG_ID_PAST: i64 = 300;
/// A client msg_id more than this many seconds ahead of server time is refused (code 17).
pub(crate) const MSG_ID_FUTURE: i64 = 30;
/// Seconds after a rotation during which the previous period's salt is still accepted.
pub(crate) const SALT_GRACE: i64 = 60;
/// Salts `future_salts` gives at least (grammers re-asks on every request when it holds only one).
const MIN_FUTURE_SALTS: u32 = 2;
/// Keeps rotating salts apart from other hashes of the same seed.
const SALT_ROTATION: u64 = 0x005a_170f_7e41;

/// What server time says about a client's msg_id: `bad_msg_notification` codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BadTime {
    /// Code 16: the msg_id is too far in the past.
    TooLow,
    /// Code 17: the msg_id is too far in the future.
    TooHigh,
}

impl BadTime {
    /// The `bad_msg_notification.error_code`.
    pub(crate) fn code(self) -> i32 {
        match self {
            BadTime::TooLow => 16,
            BadTime::TooHigh => 17,
        }
    }
}

/// The DC's clock (real time + skew) and its salt schedule.
pub(crate) struct ServerClock {
    /// Seconds added to real time.
    skew: AtomicI64,
    /// Salt period in seconds; 0 = one fixed salt, never checked.
    rotate: AtomicU64,
    seed: u64,
    /// The salt handed out while rotation is off.
    fixed_salt: i64,
}

impl ServerClock {
    /// A clock without skew or rotation that hands out `fixed_salt`; rotating salts derive from `seed`.
    pub(crate) fn new(seed: u64, fixed_salt: i64) -> Self {
        ServerClock {
            skew: AtomicI64::new(0),
            rotate: AtomicU64::new(0),
            seed,
            fixed_salt,
        }
    }

    /// Shifts server time by `secs` from real time.
    pub(crate) fn set_skew(&self, secs: i64) {
        self.skew.store(secs, Ordering::Relaxed);
    }

    /// Rotates salts every `period` (whole seconds, at least 1); `None` = one fixed salt, unchecked.
    pub(crate) fn set_rotation(&self, period: Option<Duration>) {
        let secs = period.map_or(0, |p| p.as_secs_f64().round().max(1.0) as u64);
        self.rotate.store(secs, Ordering::Relaxed);
    }

    /// Server time since the epoch, in milliseconds.
    fn now_ms(&self) -> i64 {
        let real = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        real.as_millis() as i64 + self.skew.load(Ordering::Relaxed) * 1000
    }

    /// Server time, unix seconds.
    pub(crate) fn unix(&self) -> i64 {
        self.now_ms().div_euclid(1000)
    }

    /// The time part of a new server msg_id: `server_secs << 32 | nanos << 2` (low bits still to set).
    pub(crate) fn msg_id_base(&self) -> i64 {
        let real = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let secs = real.as_secs() as i64 + self.skew.load(Ordering::Relaxed);
        (secs << 32) | (i64::from(real.subsec_nanos()) << 2 & 0xffff_fffc)
    }

    /// Whether a client msg_id is within Telegram's window around server time.
    pub(crate) fn check_msg_id(&self, msg_id: i64) -> Result<(), BadTime> {
        let sent = msg_id >> 32;
        let now = self.unix();
        if sent < now - MSG_ID_PAST {
            Err(BadTime::TooLow)
        } else if sent > now + MSG_ID_FUTURE {
            Err(BadTime::TooHigh)
        } else {
            Ok(())
        }
    }

    /// The rotation period in seconds, when salts rotate.
    fn period(&self) -> Option<i64> {
        match self.rotate.load(Ordering::Relaxed) {
            0 => None,
            p => Some(p as i64),
        }
    }

    /// The salt of period `k` (never 0: a zero salt would tell grammers not to ask for salts).
    fn salt_of(&self, k: i64) -> i64 {
        match crate::textgen::hash3(self.seed, SALT_ROTATION, k as u64) as i64 {
            0 => 1,
            s => s,
        }
    }

    /// The salt to hand out now (`new_session_created`, `bad_server_salt`, outgoing messages).
    pub(crate) fn salt(&self) -> i64 {
        match self.period() {
            None => self.fixed_salt,
            Some(p) => self.salt_of(self.now_ms().div_euclid(p * 1000)),
        }
    }

    /// Whether a client packet's salt is valid now (always, while salts do not rotate).
    pub(crate) fn accepts(&self, salt: i64) -> bool {
        let Some(p) = self.period() else {
            return true;
        };
        let now = self.now_ms();
        let k = now.div_euclid(p * 1000);
        salt == self.salt_of(k)
            || (now - k * p * 1000 < SALT_GRACE * 1000 && salt == self.salt_of(k - 1))
    }

    /// `future_salts` answering `get_future_salts(num)` (top level, never in `rpc_result`): at least
    /// two salts, the first valid now. Without rotation: hour-long salts from half an hour ago, as
    /// before rotation existed (none is checked).
    pub(crate) fn future_salts(&self, req_msg_id: i64, num: u32) -> Vec<u8> {
        let now = self.unix();
        let num = num.clamp(MIN_FUTURE_SALTS, 64) as i64;
        let salts = match self.period() {
            None => (0..num)
                .map(|i| tl::types::FutureSalt {
                    valid_since: (now - 1800 + i * 3600) as i32,
                    valid_until: (now - 1800 + (i + 1) * 3600) as i32,
                    salt: self.fixed_salt.wrapping_add(i),
                })
                .collect(),
            Some(p) => {
                let k = self.now_ms().div_euclid(p * 1000);
                (0..num)
                    .map(|i| tl::types::FutureSalt {
                        valid_since: ((k + i) * p) as i32,
                        valid_until: ((k + i + 1) * p) as i32,
                        salt: self.salt_of(k + i),
                    })
                    .collect()
            }
        };
        tl::enums::FutureSalts::Salts(tl::types::FutureSalts {
            req_msg_id,
            now: now as i32,
            salts: tl::RawVec(salts),
        })
        .to_bytes()
    }
}

/// `bad_server_salt`: the packet carried a stale salt and was not processed; re-send it with this one.
pub(crate) fn bad_server_salt(
    bad_msg_id: i64,
    bad_msg_seqno: i32,
    new_server_salt: i64,
) -> Vec<u8> {
    tl::enums::BadMsgNotification::BadServerSalt(tl::types::BadServerSalt {
        bad_msg_id,
        bad_msg_seqno,
        error_code: 48,
        new_server_salt,
    })
    .to_bytes()
}

/// `bad_msg_notification` with code 16 or 17: the packet's msg_id is off server time and was not
/// processed; the client corrects its clock from this message's own msg_id and re-sends.
pub(crate) fn bad_time(bad_msg_id: i64, bad_msg_seqno: i32, why: BadTime) -> Vec<u8> {
    tl::enums::BadMsgNotification::Notification(tl::types::BadMsgNotification {
        bad_msg_id,
        bad_msg_seqno,
        error_code: why.code(),
    })
    .to_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tl::Deserializable;

    fn salts(clock: &ServerClock, num: u32) -> tl::types::FutureSalts {
        let tl::enums::FutureSalts::Salts(s) =
            tl::enums::FutureSalts::from_bytes(&clock.future_salts(7, num)).expect("decodes");
        s
    }

    #[test]
    fn without_rotation_any_salt_is_accepted_and_the_fixed_one_handed_out() {
        let clock = ServerClock::new(1, 0x5eed);
        assert_eq!(clock.salt(), 0x5eed);
        assert!(clock.accepts(0) && clock.accepts(-3));
        let s = salts(&clock, 1);
        assert_eq!(s.salts.0.len(), 2, "never a single salt");
        assert_eq!(s.salts.0[0].salt, 0x5eed);
        assert_eq!(s.req_msg_id, 7);
    }

    #[test]
    fn rotating_salts_cover_their_periods_and_stale_ones_are_refused() {
        let clock = ServerClock::new(9, 0x5eed);
        clock.set_rotation(Some(Duration::from_secs(3600)));
        let real = clock.unix();
        clock.set_skew(1800 - real.rem_euclid(3600)); // mid-period: no rotation during the test
        let now = clock.unix();
        let current = clock.salt();
        assert_ne!(current, 0);
        assert!(clock.accepts(current));
        assert!(!clock.accepts(0) && !clock.accepts(0x5eed));
        let s = salts(&clock, 64);
        assert_eq!(s.salts.0.len(), 64);
        assert!((0..=1).contains(&(i64::from(s.now) - now)));
        let first = &s.salts.0[0];
        assert_eq!(first.salt, current);
        assert!(i64::from(first.valid_since) <= now && now < i64::from(first.valid_until));
        for w in s.salts.0.windows(2) {
            assert_eq!(
                w[0].valid_until, w[1].valid_since,
                "periods follow each other"
            );
            assert_eq!(w[1].valid_until - w[1].valid_since, 3600);
            assert_ne!(w[0].salt, w[1].salt);
        }
        // The period before: accepted only within the grace after the change (the skew puts
        // server time 10 s, then 30 min, into a period).
        for (into, previous_ok) in [(10, true), (1800, false)] {
            clock.set_skew(into - real.rem_euclid(3600));
            let k = clock.unix().div_euclid(3600);
            assert_eq!(clock.accepts(clock.salt_of(k - 1)), previous_ok, "{into}");
            assert!(clock.accepts(clock.salt_of(k)));
            assert!(!clock.accepts(clock.salt_of(k - 2)));
            assert!(!clock.accepts(clock.salt_of(k + 1)), "not before its time");
        }
        clock.set_rotation(None);
        assert!(clock.accepts(0));
    }

    #[test]
    fn skew_moves_server_time_msg_ids_and_the_msg_id_window() {
        let clock = ServerClock::new(1, 1);
        let real = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let honest = real << 32;
        assert_eq!(clock.check_msg_id(honest), Ok(()));
        clock.set_skew(600);
        assert!((clock.unix() - real - 600).abs() <= 1);
        assert!(((clock.msg_id_base() >> 32) - real - 600).abs() <= 1);
        assert_eq!(clock.check_msg_id(honest), Err(BadTime::TooLow));
        clock.set_skew(-600);
        assert_eq!(clock.check_msg_id(honest), Err(BadTime::TooHigh));
        assert_eq!(clock.check_msg_id((real - 600) << 32), Ok(()));
        clock.set_skew(-20);
        assert_eq!(clock.check_msg_id(honest), Ok(()), "within 30 s ahead");
        let notification = bad_time(5, 3, BadTime::TooHigh);
        match tl::enums::BadMsgNotification::from_bytes(&notification).expect("decodes") {
            tl::enums::BadMsgNotification::Notification(n) => {
                assert_eq!((n.bad_msg_id, n.bad_msg_seqno, n.error_code), (5, 3, 17))
            }
            other => panic!("{other:?}"),
        }
    }
}
