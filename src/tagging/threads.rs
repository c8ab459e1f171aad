//! Where the embedded tagger's CPU work runs: its own threads, one per core, at a lower scheduling
//! priority than the rest of the process.
//!
//! Tagging a backlog can use every core for minutes. On tokio's blocking pool it competed as an equal
//! with ingest (decoding Telegram's answers, the writer thread storing them), and a loopback backfill
//! stored its posts several times slower with tagging on than off. Here the tagger's threads are
//! `nice` +[`NICE`] (Linux; elsewhere they run at normal priority): when the cores are busy the
//! scheduler gives ingest and the writer what they ask for and the tagger the rest, and when they are
//! not, the tagger gets everything. The threads are the tagger's alone, so nothing else inherits the
//! lower priority (an unprivileged process cannot raise a thread's priority back).

use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};

/// How much less CPU share the tagger's threads get when the cores are contended (Linux nice
/// +10 weighs about a tenth of nice 0).
const NICE: i32 = 10;

type Job = Box<dyn FnOnce() + Send>;

/// A fixed set of low-priority threads that run jobs sent to them, in order of arrival.
pub(super) struct TaggerThreads {
    /// `None` when no thread could be started.
    jobs: Option<Sender<Job>>,
}

impl TaggerThreads {
    /// Starts `n` threads (at least one). If the system refuses a thread, jobs run on tokio's blocking
    /// pool instead, at normal priority.
    pub(super) fn start(n: usize) -> Self {
        let (tx, rx) = channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let mut started = 0;
        for i in 0..n.max(1) {
            let rx = Arc::clone(&rx);
            match std::thread::Builder::new()
                .name(format!("tgsift-tagger-{i}"))
                .spawn(move || work(&rx))
            {
                Ok(_) => started += 1,
                Err(e) => tracing::warn!(error = %e, "could not start a tagging thread"),
            }
        }
        Self {
            jobs: (started > 0).then_some(tx),
        }
    }

    /// Runs `f` on a tagger thread; `None` if it panicked.
    pub(super) async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = tx.send(f());
        });
        let unsent = match &self.jobs {
            Some(sender) => sender.send(job).err().map(|unsent| unsent.0),
            None => Some(job),
        };
        if let Some(job) = unsent {
            // No tagger thread could be started (or every one is gone): the blocking pool stands in.
            tokio::task::spawn_blocking(job).await.ok()?;
        }
        rx.await.ok()
    }
}

/// A tagger thread: lowers its own priority, then runs jobs until the sender is dropped. A job that
/// panics drops its result sender (its caller sees `None`) and the thread goes on.
fn work(jobs: &Mutex<Receiver<Job>>) {
    lower_priority();
    loop {
        let job = match jobs.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else { return };
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
    }
}

#[cfg(target_os = "linux")]
fn lower_priority() {
    // SAFETY: gettid and setpriority take and return plain integers and touch no memory of ours; on
    // Linux PRIO_PROCESS with a thread id sets that thread's nice value only.
    let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, NICE) };
    if rc != 0 {
        tracing::debug!(
            error = %std::io::Error::last_os_error(),
            "could not lower the tagging thread's priority"
        );
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    fn nice_of_this_thread() -> i32 {
        // SAFETY: as in lower_priority; getpriority only reads.
        unsafe { libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t) }
    }

    #[tokio::test]
    async fn jobs_run_on_lower_priority_threads_and_a_panic_is_only_that_job() {
        let pool = TaggerThreads::start(2);
        let within = std::time::Duration::from_secs(10);
        let name = tokio::time::timeout(
            within,
            pool.run(|| std::thread::current().name().map(str::to_owned)),
        )
        .await
        .expect("in time");
        assert!(
            name.flatten()
                .is_some_and(|n| n.starts_with("tgsift-tagger-")),
            "ran on a tagger thread"
        );
        #[cfg(target_os = "linux")]
        {
            let here = nice_of_this_thread();
            let there = tokio::time::timeout(within, pool.run(nice_of_this_thread))
                .await
                .expect("in time");
            assert_eq!(there, Some((here + NICE).min(19)));
        }
        let panicked: Option<()> = tokio::time::timeout(within, pool.run(|| panic!("boom")))
            .await
            .expect("in time");
        assert_eq!(panicked, None);
        let after = tokio::time::timeout(within, pool.run(|| 6 * 7))
            .await
            .expect("in time");
        assert_eq!(after, Some(42), "the threads outlive a panicking job");
    }
}
