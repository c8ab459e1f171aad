//! How far this machine's clock is from Telegram's, read from the dates Telegram sends (pushes,
//! `updates.getState`, `updates.getDifference`).
//!
//! Telegram refuses a message whose msg_id (the sender's clock) is more than 30 s ahead of its own
//! (`bad_msg_notification` 17) or 300 s behind (16). grammers 0.11 corrects its time offset on both,
//! but never lets a connection's msg_ids go down, so a clock that is ahead leaves every request on
//! the connection refused until real time catches up with the last msg_id sent — on a new
//! connection just the same. Nothing of this reaches the caller (only timeouts), so the skew is
//! measured here and said plainly: a warning naming the fix, and `tgsift_clock_skew_seconds`.

use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

/// A skew this large is reported (Telegram allows 30 s ahead; dates are whole seconds and a push may
/// be a little late).
pub(crate) const WARN_ABOVE: i64 = 20;
/// The same warning at most this often (a change of direction is warned at once).
const WARN_EVERY: Duration = Duration::from_secs(600);
/// No date seen yet.
const UNKNOWN: i64 = i64::MIN;

/// The last measured skew of one account's connection: local clock minus Telegram's, seconds.
#[derive(Debug)]
pub(crate) struct ClockSkew {
    account: String,
    seconds: AtomicI64,
    /// When the last warning was given, and whether it was about a clock ahead.
    warned: Mutex<Option<(Instant, bool)>>,
    /// `tgsift_clock_skew_seconds` of the account, when the service exports metrics.
    gauge: std::sync::OnceLock<prometheus_client::metrics::gauge::Gauge>,
}

impl ClockSkew {
    /// No measurement yet, for `account` (named in the warning).
    pub(crate) fn new(account: &str) -> Self {
        ClockSkew {
            account: account.to_string(),
            seconds: AtomicI64::new(UNKNOWN),
            warned: Mutex::new(None),
            gauge: std::sync::OnceLock::new(),
        }
    }

    /// Exports every measurement to `gauge` as well.
    pub(crate) fn export_to(&self, gauge: prometheus_client::metrics::gauge::Gauge) {
        let _ = self.gauge.set(gauge);
    }

    /// Records a date Telegram just sent (its clock, unix seconds); returns the skew.
    pub(crate) fn observe(&self, server_date: i32) -> Option<i64> {
        if server_date <= 0 {
            return None;
        }
        let local = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        let skew = local - i64::from(server_date);
        self.seconds.store(skew, Ordering::Relaxed);
        if let Some(g) = self.gauge.get() {
            g.set(skew);
        }
        if skew.abs() > WARN_ABOVE {
            let mut warned = self.warned.lock().unwrap_or_else(|p| p.into_inner());
            let ahead = skew > 0;
            if warned.is_none_or(|(at, was)| was != ahead || at.elapsed() >= WARN_EVERY) {
                *warned = Some((Instant::now(), ahead));
                if skew > 0 {
                    tracing::warn!(account = %self.account, seconds = skew, "this machine's clock is ahead of Telegram's: past 30 s Telegram refuses every request and grammers cannot correct it on a connection; synchronise the clock (NTP)");
                } else {
                    tracing::warn!(account = %self.account, seconds = -skew, "this machine's clock is behind Telegram's (corrected per connection; past 300 s every new connection starts with refused requests); synchronise the clock (NTP)");
                }
            }
        }
        Some(skew)
    }

    /// The last measured skew (local minus Telegram), seconds.
    pub(crate) fn seconds(&self) -> Option<i64> {
        Some(self.seconds.load(Ordering::Relaxed)).filter(|s| *s != UNKNOWN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_skew_is_local_minus_telegram_and_unknown_until_a_date_arrives() {
        let c = ClockSkew::new("a");
        assert_eq!(c.seconds(), None);
        assert_eq!(c.observe(0), None, "no date");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs() as i32;
        let ahead = c.observe(now - 600).expect("skew");
        assert!((599..=601).contains(&ahead), "{ahead}");
        let behind = c.observe(now + 600).expect("skew");
        assert!((-601..=-599).contains(&behind), "{behind}");
        assert_eq!(c.seconds(), Some(behind));
    }
}
