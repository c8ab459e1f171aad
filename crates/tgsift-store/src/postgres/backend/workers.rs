//! [`WorkerStore`] on PostgreSQL: the workers sharing the database and their supervised tasks.
//! Heartbeats are the database server's clock (the lease protocol decides by it); rows read back in
//! unix seconds like SQLite's.

use tokio_postgres::Row;

use super::PgBackend;
use crate::{StoreError, TaskRow, WorkerRow, WorkerStore, unix_now};

const WORKER_COLUMNS: &str = "id, host, pid, version, extract(epoch FROM started_at)::bigint,
     extract(epoch FROM heartbeat_at)::bigint, extract(epoch FROM stopped_at)::bigint, exit_error";

fn worker(r: &Row) -> WorkerRow {
    WorkerRow {
        id: r.get(0),
        host: r.get(1),
        pid: u32::try_from(r.get::<_, i64>(2)).unwrap_or(0),
        version: r.get(3),
        started_at: r.get(4),
        heartbeat_at: r.get(5),
        stopped_at: r.get(6),
        exit_error: r.get(7),
    }
}

impl WorkerStore for PgBackend {
    fn register_worker(&mut self, host: &str, pid: u32) -> Result<i64, StoreError> {
        self.tx("register the worker", async |tx| {
            tx.execute(
                "DELETE FROM workers
                 WHERE coalesce(stopped_at, heartbeat_at) < now() - interval '7 days'",
                &[],
            )
            .await?;
            Ok(tx
                .query_one(
                    "INSERT INTO workers (host, pid, version) VALUES ($1, $2, $3) RETURNING id",
                    &[&host, &i64::from(pid), &env!("CARGO_PKG_VERSION")],
                )
                .await?
                .get(0))
        })
    }

    fn heartbeat_worker(&mut self, worker_id: i64) -> Result<(), StoreError> {
        self.tx("record the worker's heartbeat", async |tx| {
            tx.execute(
                "UPDATE workers SET heartbeat_at = now() WHERE id = $1",
                &[&worker_id],
            )
            .await?;
            Ok(())
        })
    }

    /// Also hands back the worker's account leases, so other workers take its accounts over at once.
    fn stop_worker(&mut self, worker_id: i64, error: Option<&str>) -> Result<(), StoreError> {
        let now = unix_now();
        self.tx("record the worker's stop", async |tx| {
            tx.execute(
                "UPDATE workers SET stopped_at = now(), heartbeat_at = now(), exit_error = $2
                 WHERE id = $1",
                &[&worker_id, &error],
            )
            .await?;
            tx.execute(
                "UPDATE worker_tasks SET state = 'stopped', updated_at = $2
                 WHERE worker_id = $1 AND state IN ('running', 'restarting')",
                &[&worker_id, &now],
            )
            .await?;
            tx.execute(
                "UPDATE account_leases SET owner = NULL, expires_at = NULL WHERE owner = $1",
                &[&worker_id],
            )
            .await?;
            Ok(())
        })
    }

    fn task_started(&mut self, worker_id: i64, name: &str) -> Result<(), StoreError> {
        let now = unix_now();
        self.tx("record a task start", async |tx| {
            tx.execute(
                "INSERT INTO worker_tasks (worker_id, name, state, started_at, updated_at)
                 VALUES ($1, $2, 'running', $3, $3)
                 ON CONFLICT (worker_id, name) DO UPDATE SET state = 'running', started_at = $3,
                     updated_at = $3",
                &[&worker_id, &name, &now],
            )
            .await?;
            Ok(())
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
        let restarts = i64::from(restarts);
        self.tx("record a task end", async |tx| {
            tx.execute(
                "UPDATE worker_tasks SET state = $3, updated_at = $4,
                        restarts = greatest(restarts, $6),
                        last_error = coalesce($5, last_error),
                        last_error_at = CASE WHEN $5::text IS NULL THEN last_error_at ELSE $4 END
                 WHERE worker_id = $1 AND name = $2",
                &[&worker_id, &name, &state, &now, &error, &restarts],
            )
            .await?;
            Ok(())
        })
    }

    fn workers(&self) -> Result<Vec<WorkerRow>, StoreError> {
        self.tx("list workers", async |tx| {
            Ok(tx
                .query(
                    &format!(
                        "SELECT {WORKER_COLUMNS} FROM workers ORDER BY started_at DESC, id DESC"
                    ),
                    &[],
                )
                .await?
                .iter()
                .map(worker)
                .collect())
        })
    }

    fn worker_tasks(&self, worker_id: i64) -> Result<Vec<TaskRow>, StoreError> {
        self.tx("list tasks", async |tx| {
            Ok(tx
                .query(
                    "SELECT name, state, restarts, last_error, last_error_at, started_at, updated_at
                     FROM worker_tasks WHERE worker_id = $1 ORDER BY name",
                    &[&worker_id],
                )
                .await?
                .iter()
                .map(|r| TaskRow {
                    name: r.get(0),
                    state: r.get(1),
                    restarts: u32::try_from(r.get::<_, i64>(2)).unwrap_or(u32::MAX),
                    last_error: r.get(3),
                    last_error_at: r.get(4),
                    started_at: r.get(5),
                    updated_at: r.get(6),
                })
                .collect())
        })
    }

    fn last_worker(&self) -> Result<Option<WorkerRow>, StoreError> {
        Ok(self.workers()?.into_iter().next())
    }
}
