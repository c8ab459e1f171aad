//! Counters that grow: a post's views, forwards and reactions as `messages.getMessagesViews` and
//! `messages.getMessagesReactions` answer them now. History pages keep serving the counts the post
//! was generated with (a replica that lags, as Telegram's pages can), while these two methods add what
//! people viewed since the simulator started: young posts gain views fast, old ones slowly. With
//! [`crate::Sim::set_stale_counts`] they answer the generation's counts again, below what they said
//! before, as a stale replica would; a client must never lower a counter for it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::textgen::hash3;
use super::world::SimPost;

/// Reactions the simulator's readers leave, the most used first.
const EMOJI: [&str; 7] = ["👍", "❤", "🔥", "😁", "👏", "🤔", "😢"];

/// The counters of a post as the counts methods answer them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimCounts {
    /// Views.
    pub views: i32,
    /// Forwards.
    pub forwards: i32,
    /// Reactions per emoji, most first.
    pub reactions: Vec<(String, i32)>,
}

/// When the counters started growing, and whether answers are stale.
#[derive(Debug)]
pub(crate) struct CountClock {
    started: Instant,
    stale: AtomicBool,
}

impl CountClock {
    /// Counters growing from now.
    pub(crate) fn new() -> Self {
        CountClock {
            started: Instant::now(),
            stale: AtomicBool::new(false),
        }
    }

    /// Answers the generation's counts (true) or the grown ones (false).
    pub(crate) fn set_stale(&self, stale: bool) {
        self.stale.store(stale, Ordering::Relaxed);
    }

    /// Time the counters have grown, zero while stale.
    pub(crate) fn grown(&self) -> Duration {
        if self.stale.load(Ordering::Relaxed) {
            Duration::ZERO
        } else {
            self.started.elapsed()
        }
    }
}

/// Post `p` of channel `channel_id` after `grown` of growth, `now` being the server's unix time.
pub(crate) fn current(channel_id: i64, p: &SimPost, now: i64, grown: Duration) -> SimCounts {
    let age_days = (now - i64::from(p.date)).max(0) / 86_400;
    // Four reading moments a second; a post of a few thousand views gains a few views a second on its
    // first day, a tenth of that after ten days.
    let ticks = (grown.as_millis() / 250) as i64;
    let views0 = i64::from(p.views);
    let extra = ticks * (1 + views0 / 2_000) / (1 + age_days);
    let views = (views0 + extra).min(i64::from(i32::MAX));
    let forwards = (i64::from(p.forwards) + extra / 50).min(views);
    let h = hash3(channel_id as u64, 0x636f_756e_7473, p.id as u64);
    let kinds = 2 + (h % 3) as usize;
    let reactions = EMOJI
        .iter()
        .take(kinds)
        .enumerate()
        .map(|(i, e)| {
            let share = 40 * (i as i64 + 1) + ((h >> (8 * i)) % 40) as i64;
            ((*e).to_owned(), (views / share) as i32)
        })
        .filter(|(_, n)| *n > 0)
        .collect();
    SimCounts {
        views: views as i32,
        forwards: forwards as i32,
        reactions,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(date: i32, views: i32) -> SimPost {
        SimPost {
            id: 7,
            date,
            edit_date: None,
            text: "x".into(),
            media: None,
            grouped_id: None,
            views,
            forwards: 10,
        }
    }

    #[test]
    fn young_posts_gain_views_fast_old_ones_slowly_and_nothing_falls() {
        let now = 1_700_000_000;
        let young = post(now as i32 - 3_600, 4_000);
        let old = post(now as i32 - 20 * 86_400, 4_000);
        let at = |p: &SimPost, s| current(5, p, now, Duration::from_secs(s));
        assert_eq!(at(&young, 0).views, 4_000);
        assert_eq!(at(&young, 10).views, 4_000 + 40 * 3);
        assert_eq!(at(&old, 10).views, 4_000 + 40 * 3 / 21);
        let mut last = at(&young, 0);
        for s in 1..50 {
            let c = at(&young, s);
            assert!(c.views >= last.views && c.forwards >= last.forwards);
            for (e, n) in &last.reactions {
                let now_n = c.reactions.iter().find(|r| &r.0 == e).map_or(0, |r| r.1);
                assert!(now_n >= *n, "{e}");
            }
            last = c;
        }
        assert!(
            (2..=4).contains(&last.reactions.len()),
            "{:?}",
            last.reactions
        );
        assert_eq!(last.reactions[0].0, "👍");
    }
}
