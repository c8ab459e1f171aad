//! Durable admin jobs: what an operator asked for (add a channel, reparse, re-tag, retry tagging) kept in
//! the database so it survives restarts, is retried a bounded number of times with backoff, shows its
//! progress, and can be retried or cancelled — the "Retry / Cancel" of the product brief.
//!
//! States: `queued` → `running` → `done` | `failed` | `cancelled`. A failed attempt goes back to `queued`
//! with `not_before` set while attempts remain; a job found `running` when the service starts (its worker
//! died) is queued again.

use rusqlite::{OptionalExtension, Row, params};
use serde::Serialize;

use super::{Store, StoreError, unix_now};

/// One job as stored.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JobRow {
    /// Row id.
    pub id: i64,
    /// `channel_add`, `reparse`, `retag`, `tagging_retry`, `account_check`.
    pub kind: String,
    /// Arguments (JSON).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub args: serde_json::Value,
    /// `queued`, `running`, `done`, `failed`, `cancelled`.
    pub state: String,
    /// Attempts started so far.
    pub attempts: u32,
    /// Attempts allowed before the job fails for good.
    pub max_attempts: u32,
    /// The last attempt's error.
    pub last_error: Option<String>,
    /// How far the current or last attempt got (JSON).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub progress: Option<serde_json::Value>,
    /// What the job returned (JSON).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub result: Option<serde_json::Value>,
    /// A cancel was asked for while it ran.
    pub cancel_requested: bool,
    /// A retry is not started before this (unix seconds).
    pub not_before: Option<i64>,
    /// When it was asked for.
    pub created_at: i64,
    /// When its last attempt started.
    pub started_at: Option<i64>,
    /// When it ended.
    pub finished_at: Option<i64>,
    /// Last change.
    pub updated_at: i64,
}

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

/// How a job attempt ended, for [`Store::finish_job`].
#[derive(Clone, Debug, PartialEq)]
pub enum JobEnd {
    /// It did its work; the result is kept.
    Done(serde_json::Value),
    /// It failed: queued again after `retry_in` seconds while attempts remain, else `failed`.
    /// `usage` says the request itself was wrong (the CLI exits 2), not the run (exit 1).
    Failed {
        error: String,
        retry_in: i64,
        usage: bool,
    },
    /// It stopped because a cancel was asked for.
    Cancelled,
}

/// Durable admin jobs: queueing, claiming, progress, retries, cancellation.
pub trait JobStore {
    /// Queues a job any worker may run; returns it.
    fn enqueue_job(
        &mut self,
        kind: &str,
        args: &serde_json::Value,
        max_attempts: u32,
    ) -> Result<JobRow, StoreError> {
        self.enqueue_job_for(kind, args, max_attempts, None)
    }

    /// Queues a job that needs account `account_id`'s Telegram connection (`None`: no account), so
    /// that with several workers only the one serving that account claims it ([`Self::claim_job_among`]).
    fn enqueue_job_for(
        &mut self,
        kind: &str,
        args: &serde_json::Value,
        max_attempts: u32,
        account_id: Option<i64>,
    ) -> Result<JobRow, StoreError>;

    /// One job.
    fn job(&self, id: i64) -> Result<Option<JobRow>, StoreError>;

    /// Jobs newest first, below row id `before` (a cursor), optionally in one state.
    fn jobs(
        &self,
        state: Option<&str>,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<JobRow>, StoreError>;

    /// Jobs per state (for metrics and status).
    fn job_counts(&self) -> Result<std::collections::BTreeMap<String, i64>, StoreError>;

    /// Takes the oldest job that is due, of one of `kinds` (all when empty), for `worker_id`.
    fn claim_job(&mut self, worker_id: i64, kinds: &[&str]) -> Result<Option<JobRow>, StoreError>;

    /// Takes the oldest due job that needs no account or one of `accounts` (those this worker serves),
    /// for `worker_id`.
    fn claim_job_among(
        &mut self,
        worker_id: i64,
        accounts: &[i64],
    ) -> Result<Option<JobRow>, StoreError>;

    /// Starts one particular queued job that is due (the CLI running a job it just queued); `None` when
    /// it is not queued or not due (another worker took it, or it waits for its backoff).
    fn start_job(&mut self, id: i64, worker_id: i64) -> Result<Option<JobRow>, StoreError>;

    /// Queues a running job again without counting the attempt (its worker is stopping: not the job's
    /// fault). A cancel asked for meanwhile wins.
    fn requeue_interrupted_job(&mut self, id: i64) -> Result<(), StoreError>;

    /// Makes the running attempt the last one (its failure is one no retry can change).
    fn exhaust_job(&mut self, id: i64) -> Result<(), StoreError>;

    /// Whether a live service is running its job runner (so a queued job will be picked up).
    fn job_runner_alive(&self) -> Result<bool, StoreError>;

    /// Records how far a running job got.
    fn job_progress(&mut self, id: i64, progress: &serde_json::Value) -> Result<(), StoreError>;

    /// Whether a cancel was asked for (a running job looks between batches).
    fn job_cancel_requested(&self, id: i64) -> Result<bool, StoreError>;

    /// Ends a running attempt; returns the job as it is now.
    fn finish_job(&mut self, id: i64, end: &JobEnd) -> Result<Option<JobRow>, StoreError>;

    /// Cancels a job: a queued one (waiting for a retry included) at once, a running one at its next
    /// batch; a failed one is put aside as cancelled (the operator gave up on it; its error is kept).
    /// Returns the job, or `None` when it does not exist; a job done or cancelled is left as it is.
    fn cancel_job(&mut self, id: i64) -> Result<Option<JobRow>, StoreError>;

    /// Queues a failed or cancelled job again with its arguments and a fresh set of attempts; `None`
    /// when it does not exist. A job still queued or running is left as it is.
    fn retry_job(&mut self, id: i64) -> Result<Option<JobRow>, StoreError>;

    /// Queues again the jobs that were running under a worker that is gone (it died mid-attempt);
    /// returns how many. A job belongs to a live worker only if that worker (heard from recently) had
    /// started before the job did: worker ids can be reused after old rows are forgotten.
    fn requeue_orphan_jobs(&mut self) -> Result<usize, StoreError>;
}

impl JobStore for Store {
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
        let stale = unix_now() - super::WORKER_STALE_SECS;
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
        let stale = now - super::WORKER_STALE_SECS;
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

impl Store {
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
