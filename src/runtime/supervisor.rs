//! One owner for every task of the service.
//!
//! A long-running process must never lose a task silently: `tgsift run` once spawned its tagging
//! pipeline and awaited it only after ingest ended, so a database error ended tagging with no log while
//! the process looked healthy. Here every task (ingest per account, tagging, later the HTTP server and
//! the job runner) is spawned by the [`Supervisor`], which
//!
//! - logs every failure at ERROR with its whole cause chain, panics included;
//! - restarts a failed task after a capped, jittered backoff (reset once a run lasted a while);
//! - stops everything and ends with the error when restarting cannot help (a fatal [`TaskError`], e.g.
//!   the database file is gone), so the process exits non-zero instead of limping on;
//! - records each task's state, restarts and last error in the database (`worker_tasks`), and a
//!   heartbeat for this process (`workers`), so `tgsift status` can show them from another process;
//! - stops every task through one cancellation token and waits a bounded time for them.
//!
//! This is the mini-redis `Shutdown` idea applied to the whole service: one token travels to every
//! task, and one place knows what is running.

use std::collections::HashSet;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::Rng;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use tgsift_store::{AsyncStore, StoreError};

use crate::task::TaskError;

/// First restart delay of a failed task; it doubles per consecutive failure.
const RESTART_MIN: Duration = Duration::from_secs(1);
/// Cap of the restart delay.
const RESTART_MAX: Duration = Duration::from_secs(60);
/// A run that lasted this long resets the backoff: the failure is new, not the same one again.
const STABLE_AFTER: Duration = Duration::from_secs(60);
/// How often the worker's heartbeat is written and the database file checked.
const HEARTBEAT: Duration = Duration::from_secs(5);

/// When a task that ended is started again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Restart {
    /// After a failure or a panic; a clean end is final (the task decided it has nothing to do).
    OnFailure,
    /// Never: a failure ends the task and is reported by [`Supervisor::wait`] (`run --once`).
    Never,
}

struct Inner {
    store: AsyncStore,
    worker_id: i64,
    cancel: CancellationToken,
    tracker: TaskTracker,
    running: Mutex<HashSet<String>>,
    /// Signalled whenever a task ends (so `wait` needs no polling).
    ended: tokio::sync::Notify,
    /// Errors that ended tasks for good (fatal ones, and any failure of a `Restart::Never` task).
    failures: Mutex<Vec<String>>,
    fatal: Mutex<Option<anyhow::Error>>,
    /// Tasks waiting to be restarted after a failure, with its message (for `/readyz`).
    restarting: Mutex<std::collections::BTreeMap<String, String>>,
}

/// Spawns, watches, restarts and stops the service's tasks; see the module docs.
#[derive(Clone)]
pub struct Supervisor {
    inner: Arc<Inner>,
}

impl Supervisor {
    /// Registers this process as a worker in the database and starts its heartbeat; `cancel` stops
    /// everything (the first SIGINT/SIGTERM cancels it). The supervisor stops its tasks through a
    /// child of it, so the caller's token says only whether a stop was requested from outside.
    pub async fn start(store: AsyncStore, cancel: CancellationToken) -> Result<Self, StoreError> {
        let cancel = cancel.child_token();
        let host = crate::telegram::session_lock::hostname();
        let pid = std::process::id();
        let worker_id = store
            .with("register the worker", move |s| {
                s.register_worker(&host, pid)
            })
            .await?;
        let sup = Supervisor {
            inner: Arc::new(Inner {
                store,
                worker_id,
                cancel,
                tracker: TaskTracker::new(),
                running: Mutex::new(HashSet::new()),
                ended: tokio::sync::Notify::new(),
                failures: Mutex::new(Vec::new()),
                fatal: Mutex::new(None),
                restarting: Mutex::new(std::collections::BTreeMap::new()),
            }),
        };
        let me = sup.clone();
        sup.inner.tracker.spawn(async move { me.heartbeat().await });
        Ok(sup)
    }

    /// This worker's row id.
    pub(crate) fn worker_id(&self) -> i64 {
        self.inner.worker_id
    }

    /// The token every task stops on.
    pub(crate) fn cancel_token(&self) -> CancellationToken {
        self.inner.cancel.clone()
    }

    /// Whether a task of this name is running (or waiting to be restarted).
    pub(crate) fn is_running(&self, name: &str) -> bool {
        lock(&self.inner.running).contains(name)
    }

    /// Whether any task whose name starts with `prefix` is running.
    pub(crate) fn any_running(&self, prefix: &str) -> bool {
        lock(&self.inner.running)
            .iter()
            .any(|n| n.starts_with(prefix))
    }

    /// Starts a task named `name`; `make` builds one run of it from a cancellation token and is
    /// called again for every restart. Returns false (and starts nothing) if a task of that name is
    /// already running.
    pub fn spawn<F, Fut>(&self, name: impl Into<String>, restart: Restart, make: F) -> bool
    where
        F: FnMut(CancellationToken) -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), TaskError>> + Send + 'static,
    {
        let name = name.into();
        if !lock(&self.inner.running).insert(name.clone()) {
            return false;
        }
        let me = self.clone();
        self.inner.tracker.spawn(async move {
            me.supervise(&name, restart, make).await;
            lock(&me.inner.running).remove(&name);
            me.inner.ended.notify_one();
        });
        true
    }

    async fn supervise<F, Fut>(&self, name: &str, restart: Restart, mut make: F)
    where
        F: FnMut(CancellationToken) -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), TaskError>> + Send + 'static,
    {
        let cancel = self.inner.cancel.clone();
        let mut failures_in_a_row = 0u32;
        // Every restart of this task in this worker, written as a whole each time.
        let mut restarts = 0u32;
        loop {
            if cancel.is_cancelled() {
                return;
            }
            self.record(name, None, None, restarts).await;
            let started = Instant::now();
            // Its own tokio task, so a panic ends this run only and is seen here as a JoinError.
            let outcome = tokio::spawn(make(cancel.child_token())).await;
            let error = match outcome {
                Ok(Ok(())) => {
                    // A clean end is final: the task decided it has nothing (more) to do.
                    self.record(name, Some("stopped"), None, restarts).await;
                    return;
                }
                Ok(Err(e)) => e,
                Err(join) if join.is_panic() => TaskError::retry(anyhow::anyhow!(
                    "panicked: {}",
                    panic_message(join.into_panic())
                )),
                Err(join) => TaskError::retry(anyhow::anyhow!("aborted: {join}")),
            };
            if cancel.is_cancelled() && !error.fatal {
                // Errors while stopping (a cancelled call) are part of stopping.
                self.record(name, Some("stopped"), None, restarts).await;
                return;
            }
            let message = format!("{:#}", error.error);
            if error.fatal || restart == Restart::Never {
                tracing::error!(task = name, error = %message, fatal = error.fatal, "task failed; not restarting it");
                self.record(name, Some("failed"), Some(&message), restarts)
                    .await;
                lock(&self.inner.failures).push(format!("{name}: {message}"));
                if error.fatal {
                    lock(&self.inner.fatal).get_or_insert(error.error);
                    cancel.cancel();
                }
                return;
            }
            if started.elapsed() >= STABLE_AFTER {
                failures_in_a_row = 0;
            }
            failures_in_a_row += 1;
            let delay = restart_delay(failures_in_a_row);
            tracing::error!(task = name, error = %message, restart_in = ?delay, restarts = failures_in_a_row, "task failed; restarting it");
            restarts += 1;
            self.record(name, Some("restarting"), Some(&message), restarts)
                .await;
            lock(&self.inner.restarting).insert(name.to_string(), message);
            tokio::select! {
                _ = cancel.cancelled() => {
                    lock(&self.inner.restarting).remove(name);
                    self.record(name, Some("stopped"), None, restarts).await;
                    return;
                }
                _ = tokio::time::sleep(delay) => {}
            }
            lock(&self.inner.restarting).remove(name);
        }
    }

    /// Writes a task's state change; `None` = (re)started. Best effort: the database may be the very
    /// thing that is failing, and the log line has been written already.
    async fn record(&self, name: &str, ended: Option<&str>, error: Option<&str>, restarts: u32) {
        let (id, name_s) = (self.inner.worker_id, name.to_string());
        let (state, error) = (ended.map(str::to_string), error.map(str::to_string));
        let r = self
            .inner
            .store
            .with("record a task's state", move |s| match state {
                None => s.task_started(id, &name_s),
                Some(st) => s.task_ended(id, &name_s, &st, error.as_deref(), restarts),
            })
            .await;
        if let Err(e) = r {
            tracing::warn!(task = name, error = %e, "could not record the task's state");
        }
    }

    /// Writes the worker's heartbeat and checks the database file until the service stops; a
    /// database that is gone stops everything.
    async fn heartbeat(&self) {
        let cancel = self.inner.cancel.clone();
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(HEARTBEAT) => {}
            }
            let id = self.inner.worker_id;
            let r = self
                .inner
                .store
                .with("record the worker's heartbeat", move |s| {
                    s.check_file()?;
                    s.heartbeat_worker(id)
                })
                .await;
            match r {
                Ok(()) => {}
                Err(e) if e.is_fatal() => {
                    tracing::error!(error = %e, "the database is unusable; stopping");
                    lock(&self.inner.failures).push(e.to_string());
                    lock(&self.inner.fatal).get_or_insert(e.into());
                    cancel.cancel();
                    return;
                }
                Err(e) => tracing::warn!(error = %e, "could not record the heartbeat"),
            }
        }
    }

    /// Waits until every task has ended (they end on their own in `run --once`, or when the token is
    /// cancelled); after cancellation, waits at most `grace` for them. Records the worker's stop and
    /// returns the fatal error, if one stopped the service.
    pub async fn wait(&self, grace: Duration) -> Result<(), anyhow::Error> {
        let cancel = self.inner.cancel.clone();
        let tracker = self.inner.tracker.clone();
        // The heartbeat runs until cancellation, so "every task ended" means every other task.
        let all_but_heartbeat = async {
            while !lock(&self.inner.running).is_empty() {
                self.inner.ended.notified().await;
            }
        };
        tokio::select! {
            _ = cancel.cancelled() => {}
            _ = all_but_heartbeat => {}
        }
        cancel.cancel();
        tracker.close();
        if tokio::time::timeout(grace, tracker.wait()).await.is_err() {
            let left: Vec<String> = lock(&self.inner.running).iter().cloned().collect();
            tracing::warn!(tasks = ?left, "tasks still running after the shutdown grace period; leaving them");
        }
        let fatal = lock(&self.inner.fatal).take();
        let id = self.inner.worker_id;
        let why = fatal.as_ref().map(|e| format!("{e:#}"));
        let r = self
            .inner
            .store
            .with("record the worker's stop", move |s| {
                s.stop_worker(id, why.as_deref())
            })
            .await;
        if let Err(e) = r {
            tracing::warn!(error = %e, "could not record the worker's stop");
        }
        match fatal {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// What keeps the service from being ready: tasks that failed for good or wait to be restarted
    /// after a failure, and a stop in progress, as `name: error` lines (empty when ready).
    pub(crate) fn unhealthy(&self) -> Vec<String> {
        let mut out = self.failures();
        out.extend(
            lock(&self.inner.restarting)
                .iter()
                .map(|(n, e)| format!("{n}: restarting after: {e}")),
        );
        if self.inner.cancel.is_cancelled() {
            out.push("the service is stopping".into());
        }
        out
    }

    /// Failures that ended tasks for good, as `name: error` lines.
    pub fn failures(&self) -> Vec<String> {
        lock(&self.inner.failures).clone()
    }
}

/// Capped exponential backoff with full jitter: uniform in [d/2, d] where d = min·2^(n-1), capped.
fn restart_delay(failures: u32) -> Duration {
    let d = RESTART_MIN
        .saturating_mul(1u32 << failures.saturating_sub(1).min(16))
        .min(RESTART_MAX);
    d.mul_f64(rand::rng().random_range(0.5..=1.0))
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl crate::http::Readiness for Supervisor {
    fn unhealthy(&self) -> Vec<String> {
        Supervisor::unhealthy(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use tgsift_store::SqliteStore;

    async fn sup() -> (tempfile::TempDir, Supervisor, AsyncStore) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = AsyncStore::new(SqliteStore::open(&dir.path().join("t.db")).expect("open"));
        let s = Supervisor::start(store.clone(), CancellationToken::new())
            .await
            .expect("start");
        (dir, s, store)
    }

    #[tokio::test]
    async fn a_panicking_task_is_logged_restarted_and_recorded() {
        let (_d, s, store) = sup().await;
        let runs = Arc::new(AtomicU32::new(0));
        let r = Arc::clone(&runs);
        s.spawn("flaky", Restart::OnFailure, move |_| {
            let n = r.fetch_add(1, Ordering::SeqCst);
            async move {
                if n == 0 {
                    panic!("first run breaks");
                }
                if n == 1 {
                    return Err(TaskError::retry(anyhow::anyhow!("second run fails")));
                }
                Ok(())
            }
        });
        tokio::time::timeout(Duration::from_secs(20), s.wait(Duration::from_secs(5)))
            .await
            .expect("timeout")
            .expect("no fatal error");
        assert_eq!(runs.load(Ordering::SeqCst), 3, "restarted twice, then done");
        let tasks = store
            .read("tasks", move |st| st.worker_tasks(1))
            .await
            .expect("tasks");
        assert_eq!(tasks.len(), 1);
        assert_eq!(
            (
                tasks[0].state.as_str(),
                tasks[0].restarts,
                tasks[0].last_error.as_deref()
            ),
            ("stopped", 2, Some("second run fails"))
        );
    }

    #[tokio::test]
    async fn a_fatal_error_stops_every_task_and_is_returned() {
        let (_d, s, _store) = sup().await;
        s.spawn(
            "forever",
            Restart::OnFailure,
            |cancel: CancellationToken| async move {
                cancel.cancelled().await;
                Ok(())
            },
        );
        s.spawn("doomed", Restart::OnFailure, |_| async {
            Err(TaskError::from(StoreError::Gone {
                path: "x.db".into(),
            }))
        });
        let err = tokio::time::timeout(Duration::from_secs(60), s.wait(Duration::from_secs(5)))
            .await
            .expect("timeout")
            .expect_err("fatal");
        assert!(err.to_string().contains("removed or replaced"), "{err}");
        assert!(!s.is_running("forever"), "the other task was stopped too");
        assert_eq!(s.failures().len(), 1);
    }

    #[tokio::test]
    async fn a_task_never_runs_twice_under_one_name() {
        let (_d, s, _store) = sup().await;
        let block = |cancel: CancellationToken| async move {
            cancel.cancelled().await;
            Ok(())
        };
        assert!(s.spawn("one", Restart::OnFailure, block));
        assert!(!s.spawn("one", Restart::OnFailure, block));
        s.cancel_token().cancel();
        tokio::time::timeout(Duration::from_secs(10), s.wait(Duration::from_secs(5)))
            .await
            .expect("timeout")
            .expect("clean");
    }

    #[test]
    fn restart_delays_grow_and_are_capped() {
        for n in 1..30 {
            let d = restart_delay(n);
            let cap = RESTART_MIN
                .saturating_mul(1u32 << (n - 1).min(16))
                .min(RESTART_MAX);
            assert!(d <= cap && d >= cap / 2, "{n}: {d:?}");
        }
        assert!(restart_delay(20) >= RESTART_MAX / 2);
    }
}
