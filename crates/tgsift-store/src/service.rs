//! The running service's own state: which `tgsift run` processes (workers) exist, their heartbeats, and
//! the supervised tasks each one owns — so `tgsift status`, in another process, can tell what is
//! running, what was restarted and why, without asking the service.

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::{Store, StoreError, unix_now};

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
pub trait ServiceStore {
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

    /// A task ended: `error` when it failed (`restarting` counts a restart, `failed` is for good).
    fn task_ended(
        &mut self,
        worker_id: i64,
        name: &str,
        state: &str,
        error: Option<&str>,
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

impl ServiceStore for Store {
    fn register_worker(&mut self, host: &str, pid: u32) -> Result<i64, StoreError> {
        let now = unix_now();
        self.write("register the worker", |tx| {
            tx.execute(
                "DELETE FROM workers WHERE coalesce(stopped_at, heartbeat_at) < ?1",
                [now - 7 * 86_400],
            )?;
            tx.execute(
                "INSERT INTO workers (host, pid, version, started_at, heartbeat_at) VALUES (?1, ?2, ?3, ?4, ?4)",
                params![host, pid, env!("CARGO_PKG_VERSION"), now],
            )?;
            Ok(tx.last_insert_rowid())
        })
    }

    fn heartbeat_worker(&mut self, worker_id: i64) -> Result<(), StoreError> {
        self.write("record the worker's heartbeat", |tx| {
            tx.execute(
                "UPDATE workers SET heartbeat_at = ?2 WHERE id = ?1",
                params![worker_id, unix_now()],
            )
            .map(|_| ())
        })
    }

    fn stop_worker(&mut self, worker_id: i64, error: Option<&str>) -> Result<(), StoreError> {
        let now = unix_now();
        self.write("record the worker's stop", |tx| {
            tx.execute(
                "UPDATE workers SET stopped_at = ?2, heartbeat_at = ?2, exit_error = ?3 WHERE id = ?1",
                params![worker_id, now, error],
            )?;
            tx.execute(
                "UPDATE worker_tasks SET state = 'stopped', updated_at = ?2
                 WHERE worker_id = ?1 AND state IN ('running', 'restarting')",
                params![worker_id, now],
            )?;
            Ok(())
        })
    }

    fn task_started(&mut self, worker_id: i64, name: &str) -> Result<(), StoreError> {
        let now = unix_now();
        self.write("record a task start", |tx| {
            tx.execute(
                "INSERT INTO worker_tasks (worker_id, name, state, started_at, updated_at) VALUES (?1, ?2, 'running', ?3, ?3)
                 ON CONFLICT (worker_id, name) DO UPDATE SET state = 'running', started_at = ?3, updated_at = ?3",
                params![worker_id, name, now],
            )
            .map(|_| ())
        })
    }

    fn task_ended(
        &mut self,
        worker_id: i64,
        name: &str,
        state: &str,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        let now = unix_now();
        self.write("record a task end", |tx| {
            tx.execute(
                "UPDATE worker_tasks SET state = ?3, updated_at = ?4,
                        restarts = restarts + CASE WHEN ?3 = 'restarting' THEN 1 ELSE 0 END,
                        last_error = coalesce(?5, last_error),
                        last_error_at = CASE WHEN ?5 IS NULL THEN last_error_at ELSE ?4 END
                 WHERE worker_id = ?1 AND name = ?2",
                params![worker_id, name, state, now, error],
            )
            .map(|_| ())
        })
    }

    fn workers(&self) -> Result<Vec<WorkerRow>, StoreError> {
        self.read("list workers", |c| {
            let mut st = c.prepare(
                "SELECT id, host, pid, version, started_at, heartbeat_at, stopped_at, exit_error
                 FROM workers ORDER BY started_at DESC, id DESC",
            )?;
            st.query_map([], |r| {
                Ok(WorkerRow {
                    id: r.get(0)?,
                    host: r.get(1)?,
                    pid: r.get(2)?,
                    version: r.get(3)?,
                    started_at: r.get(4)?,
                    heartbeat_at: r.get(5)?,
                    stopped_at: r.get(6)?,
                    exit_error: r.get(7)?,
                })
            })?
            .collect()
        })
    }

    fn worker_tasks(&self, worker_id: i64) -> Result<Vec<TaskRow>, StoreError> {
        self.read("list tasks", |c| {
            let mut st = c.prepare(
                "SELECT name, state, restarts, last_error, last_error_at, started_at, updated_at
                 FROM worker_tasks WHERE worker_id = ?1 ORDER BY name",
            )?;
            st.query_map([worker_id], |r| {
                Ok(TaskRow {
                    name: r.get(0)?,
                    state: r.get(1)?,
                    restarts: r.get(2)?,
                    last_error: r.get(3)?,
                    last_error_at: r.get(4)?,
                    started_at: r.get(5)?,
                    updated_at: r.get(6)?,
                })
            })?
            .collect()
        })
    }

    fn last_worker(&self) -> Result<Option<WorkerRow>, StoreError> {
        self.read("read the last worker", |c| {
            c.query_row(
                "SELECT id FROM workers ORDER BY started_at DESC, id DESC LIMIT 1",
                [],
                |r| r.get::<_, i64>(0),
            )
            .optional()
        })
        .and_then(|id| match id {
            Some(id) => Ok(self.workers()?.into_iter().find(|w| w.id == id)),
            None => Ok(None),
        })
    }
}
