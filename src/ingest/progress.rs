//! Progress of backfills: a bar per channel on a terminal, periodic INFO lines otherwise.
//!
//! Users of other parsers complain that a tool sleeping through a FLOOD_WAIT looks dead, so a flood
//! sleep is shown on the bar ("sleeping 23 s: FLOOD_WAIT on messages.getHistory") and logged.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How often a non-terminal run logs a channel's progress.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// The display shared by all channels of a run.
pub struct Progress {
    multi: Option<MultiProgress>,
}

impl Progress {
    /// Bars when stderr is a terminal (and `enabled`), log lines otherwise.
    pub fn new(enabled: bool) -> Self {
        let multi = (enabled && std::io::stderr().is_terminal())
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        Progress { multi }
    }

    /// No display at all (tests, the demo's quiet mode).
    pub fn hidden() -> Self {
        Progress { multi: None }
    }

    /// Progress of one channel.
    pub fn channel(&self, label: &str) -> ChannelProgress {
        let bar = self.multi.as_ref().map(|m| {
            let bar = m.add(ProgressBar::new(0));
            bar.set_style(
                ProgressStyle::with_template(
                    "{prefix:>18} {bar:30} {pos}/{len} {per_sec} eta {eta} {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.set_prefix(label.to_string());
            bar
        });
        ChannelProgress {
            label: label.to_string(),
            bar,
            fetched: AtomicU64::new(0),
            total: AtomicI64::new(0),
            started: Instant::now(),
            last_log: Mutex::new(Instant::now()),
        }
    }
}

/// Progress of one channel's sync.
pub struct ChannelProgress {
    label: String,
    bar: Option<ProgressBar>,
    fetched: AtomicU64,
    total: AtomicI64,
    started: Instant,
    last_log: Mutex<Instant>,
}

impl ChannelProgress {
    /// The server's count of messages in the channel.
    pub fn set_total(&self, total: i32) {
        self.total.store(i64::from(total), Ordering::Relaxed);
        if let Some(b) = &self.bar {
            b.set_length(total.max(0) as u64);
        }
    }

    /// `n` more posts stored.
    pub fn advance(&self, n: usize) {
        let fetched = self.fetched.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
        match &self.bar {
            Some(b) => b.inc(n as u64),
            None => self.log_if_due(fetched, None),
        }
    }

    /// Shows (or clears) a flood sleep in progress.
    pub fn sleeping(&self, sleep: Option<(&'static str, Duration)>) {
        let msg = sleep
            .map(|(method, left)| {
                format!(
                    "sleeping {} s: FLOOD_WAIT on {method}",
                    left.as_secs_f64().ceil()
                )
            })
            .unwrap_or_default();
        match &self.bar {
            Some(b) => b.set_message(msg),
            None if sleep.is_some() => {
                self.log_if_due(self.fetched.load(Ordering::Relaxed), Some(msg))
            }
            None => {}
        }
    }

    fn log_if_due(&self, fetched: u64, note: Option<String>) {
        let mut last = self.last_log.lock().unwrap_or_else(|p| p.into_inner());
        if last.elapsed() < LOG_EVERY {
            return;
        }
        *last = Instant::now();
        let total = self.total.load(Ordering::Relaxed).max(0) as u64;
        let secs = self.started.elapsed().as_secs_f64().max(0.001);
        let rate = fetched as f64 / secs;
        let eta = if rate > 0.0 && total > fetched {
            (total - fetched) as f64 / rate
        } else {
            0.0
        };
        tracing::info!(
            channel = %self.label,
            fetched,
            total,
            per_sec = format!("{rate:.0}"),
            eta_s = format!("{eta:.0}"),
            note = note.unwrap_or_default(),
            "backfill progress"
        );
    }

    /// The channel is up to date.
    pub fn done(&self) {
        if let Some(b) = &self.bar {
            b.finish_with_message("up to date");
        }
    }

    /// Posts stored so far in this run.
    pub fn fetched(&self) -> u64 {
        self.fetched.load(Ordering::Relaxed)
    }
}
