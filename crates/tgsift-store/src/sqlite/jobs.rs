//! [`JobStore`](crate::JobStore) on SQLite: the rules are the trait's (`crate::model::jobs`), the SQL is here.

use rusqlite::{OptionalExtension, Row, params};

use crate::model::jobs::*;
use crate::{SqliteStore, StoreError, unix_now};

const COLUMNS: &str = "id, kind, args, state, attempts, max_attempts, last_error, progress, result, cancel_requested, \
                       not_before, created_at, started_at, finished_at, updated_at";

fn json(text: Option<String>) -> Option<serde_json::Value> {
    text.and_then(|t| serde_json::from_str(&t).ok())
}

fn row(r: &Row<'_>) -> rusqlite::Result<JobRow> {
    Ok(JobRow {
        id: r.get(0)?,
        kind: r.get(1)?,
        args: json(r.get(2)?).unwrap_or(serde_json::Value::Null),
        state: r.get(3)?,
        attempts: r.get(4)?,
        max_attempts: r.get(5)?,
        last_error: r.get(6)?,
        progress: json(r.get(7)?),
        result: json(r.get(8)?),
        cancel_requested: r.get(9)?,
        not_before: r.get(10)?,
        created_at: r.get(11)?,
        started_at: r.get(12)?,
        finished_at: r.get(13)?,
        updated_at: r.get(14)?,
    })
}

impl JobStore for SqliteStore {
    fn enqueue_job_for(
        &mut self,
        kind: &str,
        args: &serde_json::Value,
        max_attempts: u32,
        account_id: Option<i64>,
    ) -> Result<JobRow, StoreError> {
        let now = unix_now();
        let args = args.to_string();
        self.write(&format!("queue a {kind} job"), |tx| {
            tx.execute(
                "INSERT INTO jobs (kind, args, state, max_attempts, created_at, updated_at, account_id)
                 VALUES (?1, ?2, 'queued', ?3, ?4, ?4, ?5)",
                params![kind, args, max_attempts.max(1), now, account_id],
            )?;
            let id = tx.last_insert_rowid();
            tx.query_row(&format!("SELECT {COLUMNS} FROM jobs WHERE id = ?1"), [id], row)
        })
    }

    fn job(&self, id: i64) -> Result<Option<JobRow>, StoreError> {
        self.read("read a job", |c| {
            c.query_row(
                &format!("SELECT {COLUMNS} FROM jobs WHERE id = ?1"),
                [id],
                row,
            )
            .optional()
        })
    }

    fn jobs(
        &self,
        state: Option<&str>,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<JobRow>, StoreError> {
        self.read("list jobs", |c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM jobs WHERE (?1 IS NULL OR state = ?1) AND (?2 IS NULL OR id < ?2)
                 ORDER BY id DESC LIMIT ?3"
            ))?;
            st.query_map(params![state, before, limit as i64], row)?
                .collect()
        })
    }

    fn job_counts(&self) -> Result<std::collections::BTreeMap<String, i64>, StoreError> {
        self.read("count jobs", |c| {
            let mut st = c.prepare_cached("SELECT state, count(*) FROM jobs GROUP BY state")?;
            st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect()
        })
    }

    fn claim_job(&mut self, worker_id: i64, kinds: &[&str]) -> Result<Option<JobRow>, StoreError> {
        let kinds = serde_json::to_string(kinds).unwrap_or_else(|_| "[]".into());
        self.claim_where(
            worker_id,
            "json_array_length(?2) = 0 OR kind IN (SELECT value FROM json_each(?2))",
            kinds,
        )
    }

    fn claim_job_among(
        &mut self,
        worker_id: i64,
        accounts: &[i64],
    ) -> Result<Option<JobRow>, StoreError> {
        let accounts = serde_json::to_string(accounts).unwrap_or_else(|_| "[]".into());
        self.claim_where(
            worker_id,
            "account_id IS NULL OR account_id IN (SELECT value FROM json_each(?2))",
            accounts,
        )
    }

    fn start_job(&mut self, id: i64, worker_id: i64) -> Result<Option<JobRow>, StoreError> {
        let now = unix_now();
        self.write("start a job", |tx| {
            let n = tx.execute(
                "UPDATE jobs SET state = 'running', attempts = attempts + 1, started_at = ?2, updated_at = ?2,
                        worker_id = ?3, progress = NULL, not_before = NULL
                 WHERE id = ?1 AND state = 'queued' AND (not_before IS NULL OR not_before <= ?2)",
                params![id, now, worker_id],
            )?;
            if n == 0 {
                return Ok(None);
            }
            tx.query_row(&format!("SELECT {COLUMNS} FROM jobs WHERE id = ?1"), [id], row)
                .optional()
        })
    }

    fn requeue_interrupted_job(&mut self, id: i64) -> Result<(), StoreError> {
        let now = unix_now();
        self.write("queue an interrupted job", |tx| {
            tx.execute(
                "UPDATE jobs SET state = CASE WHEN cancel_requested THEN 'cancelled' ELSE 'queued' END,
                        attempts = max(attempts - 1, 0), worker_id = NULL, updated_at = ?2,
                        finished_at = CASE WHEN cancel_requested THEN ?2 END
                 WHERE id = ?1 AND state = 'running'",
                params![id, now],
            )
            .map(|_| ())
        })
    }

    fn exhaust_job(&mut self, id: i64) -> Result<(), StoreError> {
        self.write("use up a job's attempts", |tx| {
            tx.execute(
                "UPDATE jobs SET max_attempts = attempts WHERE id = ?1 AND state = 'running'",
                [id],
            )
            .map(|_| ())
        })
    }

    fn job_runner_alive(&self) -> Result<bool, StoreError> {
        let stale = unix_now() - crate::WORKER_STALE_SECS;
        self.read("look for a job runner", |c| {
            c.query_row(
                "SELECT EXISTS (SELECT 1 FROM workers w JOIN worker_tasks t ON t.worker_id = w.id
                                WHERE w.stopped_at IS NULL AND w.heartbeat_at >= ?1
                                  AND t.name = 'jobs' AND t.state = 'running')",
                [stale],
                |r| r.get(0),
            )
        })
    }

    fn job_progress(&mut self, id: i64, progress: &serde_json::Value) -> Result<(), StoreError> {
        let p = progress.to_string();
        self.write("record a job's progress", |tx| {
            tx.execute(
                "UPDATE jobs SET progress = ?2, updated_at = ?3 WHERE id = ?1 AND state = 'running'",
                params![id, p, unix_now()],
            )
            .map(|_| ())
        })
    }

    fn job_args(&mut self, id: i64, args: &serde_json::Value) -> Result<(), StoreError> {
        let a = args.to_string();
        self.write("remember a job's arguments", |tx| {
            tx.execute(
                "UPDATE jobs SET args = ?2, updated_at = ?3 WHERE id = ?1 AND state = 'running'",
                params![id, a, unix_now()],
            )
            .map(|_| ())
        })
    }

    fn job_cancel_requested(&self, id: i64) -> Result<bool, StoreError> {
        self.read("read a job's cancel flag", |c| {
            c.query_row(
                "SELECT cancel_requested FROM jobs WHERE id = ?1",
                [id],
                |r| r.get(0),
            )
            .optional()
            .map(|v| v.unwrap_or(true))
        })
    }

    fn finish_job(&mut self, id: i64, end: &JobEnd) -> Result<Option<JobRow>, StoreError> {
        let now = unix_now();
        self.write("record a job's end", |tx| {
            match end {
                JobEnd::Done(result) => tx.execute(
                    "UPDATE jobs SET state = 'done', result = ?2, last_error = NULL, finished_at = ?3, updated_at = ?3
                     WHERE id = ?1",
                    params![id, result.to_string(), now],
                )?,
                JobEnd::Cancelled => tx.execute(
                    "UPDATE jobs SET state = 'cancelled', finished_at = ?2, updated_at = ?2 WHERE id = ?1",
                    params![id, now],
                )?,
                JobEnd::Failed {
                    error,
                    retry_in,
                    usage,
                } => tx.execute(
                    "UPDATE jobs SET last_error = ?2, updated_at = ?3,
                            result = json_object('error_kind', CASE WHEN ?5 THEN 'usage' ELSE 'runtime' END),
                            state = CASE WHEN cancel_requested THEN 'cancelled'
                                         WHEN attempts < max_attempts THEN 'queued' ELSE 'failed' END,
                            not_before = CASE WHEN attempts < max_attempts THEN ?3 + ?4 END,
                            finished_at = CASE WHEN attempts < max_attempts AND NOT cancel_requested THEN NULL ELSE ?3 END
                     WHERE id = ?1",
                    params![id, error, now, retry_in, usage],
                )?,
            };
            tx.query_row(&format!("SELECT {COLUMNS} FROM jobs WHERE id = ?1"), [id], row)
                .optional()
        })
    }

    fn cancel_job(&mut self, id: i64) -> Result<Option<JobRow>, StoreError> {
        let now = unix_now();
        self.write("cancel a job", |tx| {
            tx.execute(
                "UPDATE jobs SET state = 'cancelled', finished_at = ?2, updated_at = ?2 WHERE id = ?1 AND state = 'queued'",
                params![id, now],
            )?;
            tx.execute(
                "UPDATE jobs SET state = 'cancelled', updated_at = ?2 WHERE id = ?1 AND state = 'failed'",
                params![id, now],
            )?;
            tx.execute(
                "UPDATE jobs SET cancel_requested = 1, updated_at = ?2 WHERE id = ?1 AND state = 'running'",
                params![id, now],
            )?;
            tx.query_row(&format!("SELECT {COLUMNS} FROM jobs WHERE id = ?1"), [id], row)
                .optional()
        })
    }

    fn retry_job(&mut self, id: i64) -> Result<Option<JobRow>, StoreError> {
        let now = unix_now();
        self.write("retry a job", |tx| {
            tx.execute(
                "UPDATE jobs SET state = 'queued', attempts = 0, cancel_requested = 0, not_before = NULL,
                        finished_at = NULL, progress = NULL, updated_at = ?2
                 WHERE id = ?1 AND state IN ('failed', 'cancelled')",
                params![id, now],
            )?;
            tx.query_row(&format!("SELECT {COLUMNS} FROM jobs WHERE id = ?1"), [id], row)
                .optional()
        })
    }

    fn requeue_orphan_jobs(&mut self) -> Result<usize, StoreError> {
        let now = unix_now();
        let stale = now - crate::WORKER_STALE_SECS;
        self.write("queue again the jobs of dead workers", |tx| {
            tx.execute(
                "UPDATE jobs SET state = CASE WHEN cancel_requested THEN 'cancelled' ELSE 'queued' END,
                        finished_at = CASE WHEN cancel_requested THEN ?1 END, updated_at = ?1
                 WHERE state = 'running' AND NOT EXISTS (
                        SELECT 1 FROM workers w WHERE w.id = jobs.worker_id AND w.stopped_at IS NULL
                          AND w.heartbeat_at >= ?2 AND w.started_at <= jobs.started_at)",
                params![now, stale],
            )
        })
    }
}

impl SqliteStore {
    /// Starts the oldest due queued job matching `filter` (SQL over the jobs row, `?2` = `list`).
    fn claim_where(
        &mut self,
        worker_id: i64,
        filter: &str,
        list: String,
    ) -> Result<Option<JobRow>, StoreError> {
        let now = unix_now();
        self.write("claim a job", |tx| {
            let id: Option<i64> = tx
                .query_row(
                    &format!(
                        "SELECT id FROM jobs WHERE state = 'queued' AND (not_before IS NULL OR not_before <= ?1)
                           AND ({filter})
                         ORDER BY id LIMIT 1"
                    ),
                    params![now, list],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(id) = id else { return Ok(None) };
            tx.execute(
                "UPDATE jobs SET state = 'running', attempts = attempts + 1, started_at = ?2, updated_at = ?2,
                        worker_id = ?3, progress = NULL, not_before = NULL
                 WHERE id = ?1",
                params![id, now, worker_id],
            )?;
            tx.query_row(&format!("SELECT {COLUMNS} FROM jobs WHERE id = ?1"), [id], row)
                .optional()
        })
    }
}
