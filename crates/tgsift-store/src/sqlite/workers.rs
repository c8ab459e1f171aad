//! [`WorkerStore`](crate::WorkerStore) on SQLite: the rules are the trait's (`crate::model::workers`), the SQL is here.

use rusqlite::{OptionalExtension, params};

use crate::model::workers::*;
use crate::{SqliteStore, StoreError, unix_now};

impl WorkerStore for SqliteStore {
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
        restarts: u32,
    ) -> Result<(), StoreError> {
        let now = unix_now();
        self.write("record a task end", |tx| {
            tx.execute(
                "UPDATE worker_tasks SET state = ?3, updated_at = ?4, restarts = max(restarts, ?6),
                        last_error = coalesce(?5, last_error),
                        last_error_at = CASE WHEN ?5 IS NULL THEN last_error_at ELSE ?4 END
                 WHERE worker_id = ?1 AND name = ?2",
                params![worker_id, name, state, now, error, restarts],
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
