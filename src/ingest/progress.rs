//! Progress of channel syncs: a bar per channel pass on a terminal, periodic INFO lines otherwise.
//!
//! Users of other parsers complain that a tool sleeping through a FLOOD_WAIT looks dead, so a flood
//! sleep is shown on the bar ("sleeping 23 s: FLOOD_WAIT on messages.getHistory") and logged.
//!
//! A pass is a tracing span; with `tracing-indicatif` installed (on a terminal, see `cli::logging`)
//! the span carries the bar, log lines are printed through the same writer so they never garble a
//! bar, and the bar disappears when the pass ends — a service polling for months keeps no bars of
//! old passes. Without a terminal the same figures are logged every 10 s.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use indicatif::ProgressStyle;
use tracing_indicatif::span_ext::IndicatifSpanExt;

/// How often a non-terminal run logs a channel's progress.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// How a run shows progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Nothing (tests, quiet runs).
    Hidden,
    /// Bars on the terminal.
    Bars,
    /// INFO lines every [`LOG_EVERY`].
    Lines,
}

/// The display shared by all channels of a run.
pub(crate) struct Progress {
    mode: Mode,
}

impl Progress {
    /// Bars when stderr is a terminal (and `enabled`), log lines otherwise.
    pub(crate) fn new(enabled: bool) -> Self {
        let mode = match (enabled, std::io::stderr().is_terminal()) {
            (false, _) => Mode::Hidden,
            (true, true) => Mode::Bars,
            (true, false) => Mode::Lines,
        };
        Progress { mode }
    }

    /// No display at all (tests, the demo's quiet mode).
    pub(crate) fn hidden() -> Self {
        Progress { mode: Mode::Hidden }
    }

    /// Progress of one pass over one channel; the bar goes when this is dropped or finished.
    pub(crate) fn channel(&self, label: &str) -> ChannelProgress {
        let span = match self.mode {
            Mode::Bars => {
                let span = tracing::info_span!("sync", channel = %label, "indicatif.pb_show" = tracing::field::Empty);
                // No bar until the total is known: an empty one would be drawn full (0/0).
                span.pb_set_style(&counting_style(label));
                span.pb_start();
                span
            }
            _ => tracing::Span::none(),
        };
        ChannelProgress {
            label: label.to_string(),
            mode: self.mode,
            span: Mutex::new(Some(span)),
            fetched: AtomicU64::new(0),
            total: AtomicI64::new(0),
            already: AtomicI64::new(0),
            fixed: std::sync::atomic::AtomicBool::new(false),
            bar_shown: std::sync::atomic::AtomicBool::new(false),
            started: Instant::now(),
            last_log: Mutex::new(Instant::now()),
        }
    }
}

/// `@news ███████░░░ 41,200/100,000 8,214/s eta 7s sleeping 3 s: FLOOD_WAIT on …`.
fn bar_style(label: &str) -> ProgressStyle {
    style(
        label,
        "{bar:30} {human_pos}/{human_len} {rate} eta {eta} {msg}",
    )
}

/// `@news 1,200 stored 8,214/s sleeping 3 s: …`, while the pass's total is not known yet.
fn counting_style(label: &str) -> ProgressStyle {
    style(label, "{human_pos} stored {rate} {msg}")
}

fn style(label: &str, rest: &str) -> ProgressStyle {
    let label = label.replace(['{', '}'], "");
    ProgressStyle::with_template(&format!("{label:>18} {rest}"))
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .with_key(
            "rate",
            |s: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{}/s", thousands(s.per_sec().round() as u64));
            },
        )
}

/// `1234567` → `1,234,567`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Progress of one channel's sync.
pub(crate) struct ChannelProgress {
    label: String,
    mode: Mode,
    /// The pass's span (carrying its bar); taken when the pass finishes, which removes the bar.
    span: Mutex<Option<tracing::Span>>,
    fetched: AtomicU64,
    total: AtomicI64,
    /// Posts of the channel stored before this pass (subtracted from the server's count).
    already: AtomicI64,
    /// The total was fixed by the backfill (`--backfill N`) and the server's count is ignored.
    fixed: std::sync::atomic::AtomicBool,
    /// The bar (not the counter) is shown: the total is known.
    bar_shown: std::sync::atomic::AtomicBool,
    started: Instant,
    last_log: Mutex<Instant>,
}

impl ChannelProgress {
    /// Whether anything is shown (so callers can skip work that only feeds the display).
    pub(crate) fn shown(&self) -> bool {
        self.mode != Mode::Hidden
    }

    /// Posts of the channel already stored before this pass.
    pub(crate) fn set_already(&self, n: i64) {
        self.already.store(n.max(0), Ordering::Relaxed);
    }

    /// This pass fetches `n` posts (a `--backfill N` start), whatever the server's count says.
    pub(crate) fn fix_total(&self, n: i64) {
        self.fixed.store(true, Ordering::Relaxed);
        self.show_total(n);
    }

    /// The server's count of messages in the channel: the pass's total is what is not stored yet.
    pub(crate) fn set_total(&self, server_count: i32) {
        if self.fixed.load(Ordering::Relaxed) {
            return;
        }
        let left = i64::from(server_count) - self.already.load(Ordering::Relaxed);
        self.show_total(left.max(self.fetched.load(Ordering::Relaxed) as i64));
    }

    fn show_total(&self, total: i64) {
        self.total.store(total, Ordering::Relaxed);
        if self.mode == Mode::Bars {
            let (pos, len) = self.bar();
            let first = !self.bar_shown.swap(true, Ordering::Relaxed);
            self.with_span(|s| {
                if first {
                    s.pb_set_style(&bar_style(&self.label));
                }
                s.pb_set_length(len);
                s.pb_set_position(pos);
                if first {
                    // The posts stored before this pass are not this pass's rate.
                    s.pb_reset_eta();
                }
            });
        }
    }

    /// Where the bar stands, (position, length), over the whole channel: the posts stored before
    /// this pass count as done, so a pass after a park or a restart goes on from where the last
    /// one stopped instead of starting again at zero. A `--backfill N` pass counts its own N.
    fn bar(&self) -> (u64, u64) {
        let fetched = self.fetched.load(Ordering::Relaxed);
        let left = self.total.load(Ordering::Relaxed).max(0) as u64;
        if self.fixed.load(Ordering::Relaxed) {
            return (fetched, left.max(fetched));
        }
        let already = self.already.load(Ordering::Relaxed).max(0) as u64;
        (already + fetched, already + left.max(fetched))
    }

    /// `n` more posts stored.
    pub(crate) fn advance(&self, n: usize) {
        let fetched = self.fetched.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
        match self.mode {
            Mode::Bars => self.with_span(|s| s.pb_inc(n as u64)),
            Mode::Lines => self.log_if_due(fetched, None),
            Mode::Hidden => {}
        }
    }

    /// Shows (or clears) a flood sleep in progress.
    pub(crate) fn sleeping(&self, sleep: Option<(&'static str, Duration)>) {
        let msg = sleep
            .map(|(method, left)| {
                format!(
                    "sleeping {} s: FLOOD_WAIT on {method}",
                    left.as_secs_f64().ceil()
                )
            })
            .unwrap_or_default();
        match self.mode {
            Mode::Bars => self.with_span(|s| s.pb_set_message(&msg)),
            Mode::Lines if sleep.is_some() => {
                self.log_if_due(self.fetched.load(Ordering::Relaxed), Some(msg))
            }
            _ => {}
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

    fn with_span(&self, f: impl FnOnce(&tracing::Span)) {
        if let Some(s) = self.span.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            f(s);
        }
    }

    /// The pass is over: its span closes and its bar is removed.
    pub(crate) fn finish(&self) {
        self.span.lock().unwrap_or_else(|p| p.into_inner()).take();
    }

    /// Posts stored so far in this pass.
    pub(crate) fn fetched(&self) -> u64 {
        self.fetched.load(Ordering::Relaxed)
    }

    /// What this pass expects to fetch (0 until known).
    pub(crate) fn total(&self) -> i64 {
        self.total.load(Ordering::Relaxed).max(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_total_is_what_this_pass_fetches() {
        let p = Progress::new(true).channel("@x");
        p.set_already(900);
        p.set_total(1_000);
        assert_eq!(p.total.load(Ordering::Relaxed), 100);
        let q = Progress::new(true).channel("@y");
        q.fix_total(50);
        q.set_total(1_000_000);
        assert_eq!(
            q.total.load(Ordering::Relaxed),
            50,
            "--backfill 50 shows 50"
        );
    }

    #[test]
    fn the_bar_goes_on_from_what_earlier_passes_stored() {
        let p = Progress::hidden().channel("@x");
        p.set_already(900);
        p.set_total(1_000);
        p.advance(40);
        assert_eq!(p.bar(), (940, 1_000));
        let q = Progress::hidden().channel("@y");
        q.set_already(900);
        q.fix_total(50);
        q.advance(10);
        assert_eq!(q.bar(), (10, 50), "--backfill 50 counts its own 50");
    }

    #[test]
    fn rates_are_whole_numbers_with_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_081), "1,081");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
