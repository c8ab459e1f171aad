//! Driving the world while it runs: new posts at a steady rate spread over the channels, with edits
//! and deletions of recent posts at a small share, and comments under recent posts of channels with
//! a discussion group — what `tgsift sim serve --live-rate` / `--live-comments` do and what tests of
//! live updates use. Published posts are generated from (seed, id) like the initial
//! ones, so a simulator publishing for days keeps flat memory.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::shared::{Publish, Rewrite, Shared};
use super::state::read;

/// Posts edits and deletions pick among this many newest ids of a channel.
const RECENT: i32 = 1_000;
/// Comments go under one of this many newest posts of a channel.
const RECENT_THREADS: i32 = 50;
/// Share (per cent) of live comments that answer another comment of the thread.
const NESTED: u32 = 25;
/// The driver wakes this often and publishes what is due.
const TICK: Duration = Duration::from_millis(10);

/// How busy the world is.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LiveConfig {
    /// New posts per second, over all channels (round robin).
    pub rate: f64,
    /// Probability, per new post, that a recent post of the same channel is edited too.
    pub edits: f64,
    /// Probability, per new post, that a recent post of the same channel is deleted too.
    pub deletes: f64,
    /// Seeds which posts are edited and deleted.
    pub seed: u64,
    /// New comments per second, under recent posts of the channels with a discussion group
    /// (round robin); 0: none.
    pub comments: f64,
}

impl LiveConfig {
    /// `rate` new posts per second and nothing else.
    pub fn posts(rate: f64) -> Self {
        LiveConfig {
            rate,
            edits: 0.0,
            deletes: 0.0,
            seed: 1,
            comments: 0.0,
        }
    }
}

/// What the driver did so far.
#[derive(Default)]
struct Counters {
    published: AtomicU64,
    edited: AtomicU64,
    deleted: AtomicU64,
    commented: AtomicU64,
}

/// A running driver; dropping it stops it (use [`LiveHandle::stop`] to wait until it has).
pub struct LiveHandle {
    cancel: CancellationToken,
    counters: Arc<Counters>,
    task: Option<JoinHandle<()>>,
}

impl Drop for LiveHandle {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

impl LiveHandle {
    /// Posts published so far.
    pub fn published(&self) -> u64 {
        self.counters.published.load(Ordering::Relaxed)
    }

    /// Posts edited so far.
    pub fn edited(&self) -> u64 {
        self.counters.edited.load(Ordering::Relaxed)
    }

    /// Messages deleted so far.
    pub fn deleted(&self) -> u64 {
        self.counters.deleted.load(Ordering::Relaxed)
    }

    /// Comments written so far.
    pub fn commented(&self) -> u64 {
        self.counters.commented.load(Ordering::Relaxed)
    }

    /// Stops the driver and waits until it has published its last post.
    pub async fn stop(mut self) {
        self.cancel.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

/// Where the driver writes one line per published post — `channel_id,message_id,unix_ms` — so a
/// client's latency from publishing to storing can be measured exactly (message dates are whole
/// seconds).
pub(crate) type PublishLog = Box<dyn std::io::Write + Send>;

/// Starts the driver on `shared`'s channels; it stops with `cancel` or when the handle is dropped.
pub(crate) fn start(
    shared: Arc<Shared>,
    config: LiveConfig,
    log: Option<PublishLog>,
    cancel: CancellationToken,
) -> LiveHandle {
    let counters = Arc::new(Counters::default());
    let task = tokio::spawn(run(
        shared,
        config,
        log,
        cancel.clone(),
        Arc::clone(&counters),
    ));
    LiveHandle {
        cancel,
        counters,
        task: Some(task),
    }
}

async fn run(
    shared: Arc<Shared>,
    config: LiveConfig,
    mut log: Option<PublishLog>,
    cancel: CancellationToken,
    counters: Arc<Counters>,
) {
    let channels = shared.world.channels();
    let discussed: Vec<_> = channels
        .iter()
        .filter(|c| read(c).discussion.is_some())
        .cloned()
        .collect();
    let comments = if discussed.is_empty() {
        0.0
    } else {
        config.comments.max(0.0)
    };
    if channels.is_empty() || (config.rate <= 0.0 && comments <= 0.0) {
        return;
    }
    let mut rng = StdRng::seed_from_u64(config.seed);
    let start = tokio::time::Instant::now();
    let mut done: u64 = 0;
    let mut comments_done: u64 = 0;
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        if let Some(w) = log.as_mut() {
            let _ = w.flush();
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        let elapsed = start.elapsed().as_secs_f64();
        let due = (elapsed * comments) as u64;
        while comments_done < due {
            let ch = &discussed[(comments_done % discussed.len() as u64) as usize];
            comments_done += 1;
            if comment(&shared, ch, &mut rng).is_some() {
                counters.commented.fetch_add(1, Ordering::Relaxed);
            }
        }
        let due = (elapsed * config.rate.max(0.0)) as u64;
        while done < due {
            let ch = &channels[(done % channels.len() as u64) as usize];
            done += 1;
            let Some(id) = shared.publish(ch, Publish::Generated) else {
                continue;
            };
            counters.published.fetch_add(1, Ordering::Relaxed);
            if let Some(w) = log.as_mut() {
                let channel = read(ch).history.spec().id;
                if writeln!(w, "{channel},{id},{}", unix_ms()).is_err() {
                    log = None;
                }
            }
            let top = read(ch).history.top_id();
            if config.edits > 0.0 && rng.random_bool(config.edits.min(1.0)) {
                let id = rng.random_range((top - RECENT).max(1)..=top);
                if shared.edit(ch, id, Rewrite::Generated) {
                    counters.edited.fetch_add(1, Ordering::Relaxed);
                }
            }
            if config.deletes > 0.0 && rng.random_bool(config.deletes.min(1.0)) {
                let id = rng.random_range((top - RECENT).max(1)..=top);
                if shared.delete(ch, &[id]) > 0 {
                    counters.deleted.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
}

/// Writes a generated comment under one of the channel's newest posts with a comment section,
/// now and then answering another comment of the thread; returns its id.
fn comment(
    shared: &Shared,
    ch: &std::sync::Arc<std::sync::RwLock<super::state::ChannelEntry>>,
    rng: &mut StdRng,
) -> Option<i32> {
    let (post, reply_to) = {
        let entry = read(ch);
        let g = entry.discussion.as_ref()?;
        let top = entry.history.top_id();
        let post = (0..8)
            .map(|_| top - rng.random_range(0..RECENT_THREADS))
            .find(|&p| g.thread.copy_id(&entry.history, p).is_some())?;
        let reply_to = if rng.random_ratio(NESTED, 100) {
            let thread = g.thread.thread_ids(&entry.history, post)?;
            (!thread.is_empty()).then(|| thread[rng.random_range(0..thread.len())].0)
        } else {
            None
        };
        (post, reply_to)
    };
    shared.add_comment(ch, post, reply_to, None)
}

fn unix_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}
