//! The running service's own state: which `tgsift run` processes (workers) exist, their heartbeats, and
//! the supervised tasks each one owns — so `tgsift status`, in another process, can tell what is
//! running, what was restarted and why, without asking the service.

use serde::Serialize;

use crate::{StoreError, unix_now};

/// A worker whose heartbeat is older than this is not running any more (it died without saying so).
pub const WORKER_STALE_SECS: i64 = 30;

/// One `tgsift run` process.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WorkerRow {
    /// Row id.
    pub id: i64,
    /// Host name.
    pub host: String,
    /// Process id.
    pub pid: u32,
    /// tgsift version.
    pub version: String,
    /// Start (unix seconds).
    pub started_at: i64,
    /// Last heartbeat (unix seconds).
    pub heartbeat_at: i64,
    /// When it stopped, if it stopped cleanly.
    pub stopped_at: Option<i64>,
    /// Why it stopped, if an error ended it.
    pub exit_error: Option<String>,
}

impl WorkerRow {
    /// Whether the worker is alive: not stopped and heard from recently.
    pub fn is_alive(&self, now: i64) -> bool {
        self.stopped_at.is_none() && now - self.heartbeat_at <= WORKER_STALE_SECS
    }
}

/// One supervised task of a worker.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TaskRow {
    /// Task name (`ingest:alice`, `tagging`, …).
    pub name: String,
    /// `running`, `restarting` (waiting out its backoff), `stopped` or `failed`.
    pub state: String,
    /// Restarts after errors or panics.
    pub restarts: u32,
    /// The last error that ended it.
    pub last_error: Option<String>,
    /// When that happened (unix seconds).
    pub last_error_at: Option<i64>,
    /// When it (last) started.
    pub started_at: i64,
    /// Last state change.
    pub updated_at: i64,
}

/// The running service's own state: workers, heartbeats and supervised tasks.
pub trait WorkerStore {
    /// Registers this process as a worker; returns its id. Workers that stopped over a week ago are
    /// forgotten.
    fn register_worker(&mut self, host: &str, pid: u32) -> Result<i64, StoreError>;

    /// Records as stopped the workers of `host` (other than `me`) whose process is gone — killed with
    /// no chance to say so — so their jobs are queued again at once instead of after the heartbeat
    /// goes stale; returns how many. `alive` says whether a pid runs on this host; a worker with this
    /// process's own pid is an earlier process (containers reuse pid 1).
    fn mark_vanished_workers(
        &mut self,
        host: &str,
        me: i64,
        alive: &dyn Fn(u32) -> bool,
    ) -> Result<usize, StoreError> {
        let own_pid = std::process::id();
        let gone: Vec<i64> = self
            .workers()?
            .into_iter()
            .filter(|w| w.stopped_at.is_none() && w.host == host && w.id != me)
            .filter(|w| w.pid == own_pid || !alive(w.pid))
            .map(|w| w.id)
            .collect();
        for id in &gone {
            self.stop_worker(*id, Some("the process vanished (killed or crashed)"))?;
        }
        Ok(gone.len())
    }

    /// The worker is alive.
    fn heartbeat_worker(&mut self, worker_id: i64) -> Result<(), StoreError>;

    /// The worker stopped; `error` says why when it was not a clean shutdown.
    fn stop_worker(&mut self, worker_id: i64, error: Option<&str>) -> Result<(), StoreError>;

    /// A task (re)started.
    fn task_started(&mut self, worker_id: i64, name: &str) -> Result<(), StoreError>;

    /// A task ended: `error` when it failed (`restarting` will restart it, `failed` is for good).
    /// `restarts` is how often the worker restarted it so far, counted by the worker itself: an
    /// absolute count, so a write the database refused (the very failure being recorded, often)
    /// loses no restart; the stored count never goes down.
    fn task_ended(
        &mut self,
        worker_id: i64,
        name: &str,
        state: &str,
        error: Option<&str>,
        restarts: u32,
    ) -> Result<(), StoreError>;

    /// Every known worker, newest first.
    fn workers(&self) -> Result<Vec<WorkerRow>, StoreError>;

    /// The tasks of one worker, by name.
    fn worker_tasks(&self, worker_id: i64) -> Result<Vec<TaskRow>, StoreError>;

    /// The newest worker that is alive, if any.
    fn live_worker(&self) -> Result<Option<WorkerRow>, StoreError> {
        let now = unix_now();
        Ok(self.workers()?.into_iter().find(|w| w.is_alive(now)))
    }

    /// The newest worker row, alive or not (what `status` reports when nothing runs).
    fn last_worker(&self) -> Result<Option<WorkerRow>, StoreError>;
}
