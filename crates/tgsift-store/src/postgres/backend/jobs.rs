//! [`JobStore`] on PostgreSQL: the durable admin jobs, with the SQLite store's states and rules
//! (`src/store/jobs.rs`).
//!
//! Two differences of means, not of meaning. Workers claim jobs concurrently here, so a claim takes
//! the oldest due job that no other claim holds (`FOR UPDATE SKIP LOCKED`) and a job is never started
//! twice. And a job's times are the database server's clock (`now()`, in unix seconds), like the
//! workers' heartbeats and start times they are compared with: a job belongs to a live worker only if
//! the worker started before the job did, which two clocks a second apart would get wrong.

use std::collections::BTreeMap;

use tokio_postgres::Row;

use super::PgBackend;
use crate::{JobEnd, JobRow, JobStore, StoreError, WORKER_STALE_SECS};

const COLUMNS: &str = "id, kind, args, state, attempts, max_attempts, last_error, progress, result, \
                       cancel_requested, not_before, created_at, started_at, finished_at, updated_at";

/// The database's time of the transaction, in unix seconds (what `unix_now()` is on SQLite).
const NOW: &str = "floor(extract(epoch FROM now()))::bigint";

fn json(text: Option<String>) -> Option<serde_json::Value> {
    text.and_then(|t| serde_json::from_str(&t).ok())
}

fn count(r: &Row, i: usize) -> u32 {
    u32::try_from(r.get::<_, i64>(i).max(0)).unwrap_or(u32::MAX)
}

fn row(r: &Row) -> JobRow {
    JobRow {
        id: r.get(0),
        kind: r.get(1),
        args: json(r.get(2)).unwrap_or(serde_json::Value::Null),
        state: r.get(3),
        attempts: count(r, 4),
        max_attempts: count(r, 5),
        last_error: r.get(6),
        progress: json(r.get(7)),
        result: json(r.get(8)),
        cancel_requested: r.get(9),
        not_before: r.get(10),
        created_at: r.get(11),
        started_at: r.get(12),
        finished_at: r.get(13),
        updated_at: r.get(14),
    }
}

/// The statement that starts a job: a new attempt, by `$2` (the worker), from a clean slate.
fn start_sql(which: &str) -> String {
    format!(
        "UPDATE jobs SET state = 'running', attempts = attempts + 1, started_at = {NOW}, updated_at = {NOW},
                worker_id = $2, progress = NULL, not_before = NULL
         WHERE {which}
         RETURNING {COLUMNS}"
    )
}

/// Reads one job inside a call.
async fn read(
    tx: &deadpool_postgres::Transaction<'_>,
    id: i64,
) -> Result<Option<JobRow>, super::Fail> {
    Ok(tx
        .query_opt(&format!("SELECT {COLUMNS} FROM jobs WHERE id = $1"), &[&id])
        .await?
        .as_ref()
        .map(row))
}

impl JobStore for PgBackend {
    fn enqueue_job_for(
        &mut self,
        kind: &str,
        args: &serde_json::Value,
        max_attempts: u32,
        account_id: Option<i64>,
    ) -> Result<JobRow, StoreError> {
        let args = args.to_string();
        let max_attempts = i64::from(max_attempts.max(1));
        self.tx(&format!("queue a {kind} job"), async |tx| {
            let r = tx
                .query_one(
                    &format!(
                        "INSERT INTO jobs (kind, args, state, max_attempts, created_at, updated_at, account_id)
                         VALUES ($1, $2, 'queued', $3, {NOW}, {NOW}, $4) RETURNING {COLUMNS}"
                    ),
                    &[&kind, &args, &max_attempts, &account_id],
                )
                .await?;
            // Wakes the workers' job runners when the job commits (LISTEN/NOTIFY).
            tx.execute(
                "SELECT pg_notify($1, current_schema()::text)",
                &[&super::JOBS_CHANNEL],
            )
            .await?;
            Ok(row(&r))
        })
    }

    fn job(&self, id: i64) -> Result<Option<JobRow>, StoreError> {
        self.tx("read a job", async |tx| read(tx, id).await)
    }

    fn jobs(
        &self,
        state: Option<&str>,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<JobRow>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.tx("list jobs", async |tx| {
            Ok(tx
                .query(
                    &format!(
                        "SELECT {COLUMNS} FROM jobs
                         WHERE ($1::text IS NULL OR state = $1) AND ($2::bigint IS NULL OR id < $2)
                         ORDER BY id DESC LIMIT $3"
                    ),
                    &[&state, &before, &limit],
                )
                .await?
                .iter()
                .map(row)
                .collect())
        })
    }

    fn job_counts(&self) -> Result<BTreeMap<String, i64>, StoreError> {
        self.tx("count jobs", async |tx| {
            Ok(tx
                .query("SELECT state, count(*) FROM jobs GROUP BY state", &[])
                .await?
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect())
        })
    }

    fn claim_job(&mut self, worker_id: i64, kinds: &[&str]) -> Result<Option<JobRow>, StoreError> {
        self.claim_where(
            worker_id,
            "cardinality($1::text[]) = 0 OR kind = ANY($1)",
            &kinds,
        )
    }

    fn claim_job_among(
        &mut self,
        worker_id: i64,
        accounts: &[i64],
    ) -> Result<Option<JobRow>, StoreError> {
        self.claim_where(
            worker_id,
            "account_id IS NULL OR account_id = ANY($1)",
            &accounts,
        )
    }

    fn start_job(&mut self, id: i64, worker_id: i64) -> Result<Option<JobRow>, StoreError> {
        let sql = start_sql(&format!(
            "id = $1 AND state = 'queued' AND (not_before IS NULL OR not_before <= {NOW})"
        ));
        self.tx("start a job", async |tx| {
            Ok(tx
                .query_opt(&sql, &[&id, &worker_id])
                .await?
                .as_ref()
                .map(row))
        })
    }

    fn requeue_interrupted_job(&mut self, id: i64) -> Result<(), StoreError> {
        self.tx("queue an interrupted job", async |tx| {
            tx.execute(
                &format!(
                    "UPDATE jobs SET state = CASE WHEN cancel_requested THEN 'cancelled' ELSE 'queued' END,
                            attempts = greatest(attempts - 1, 0), worker_id = NULL, updated_at = {NOW},
                            finished_at = CASE WHEN cancel_requested THEN {NOW} END
                     WHERE id = $1 AND state = 'running'"
                ),
                &[&id],
            )
            .await?;
            Ok(())
        })
    }

    fn exhaust_job(&mut self, id: i64) -> Result<(), StoreError> {
        self.tx("use up a job's attempts", async |tx| {
            tx.execute(
                "UPDATE jobs SET max_attempts = attempts WHERE id = $1 AND state = 'running'",
                &[&id],
            )
            .await?;
            Ok(())
        })
    }

    fn job_runner_alive(&self) -> Result<bool, StoreError> {
        let stale = WORKER_STALE_SECS as f64;
        self.tx("look for a job runner", async |tx| {
            Ok(tx
                .query_one(
                    "SELECT EXISTS (SELECT 1 FROM workers w JOIN worker_tasks t ON t.worker_id = w.id
                                    WHERE w.stopped_at IS NULL
                                      AND w.heartbeat_at >= now() - make_interval(secs => $1)
                                      AND t.name = 'jobs' AND t.state = 'running')",
                    &[&stale],
                )
                .await?
                .get(0))
        })
    }

    fn job_progress(&mut self, id: i64, progress: &serde_json::Value) -> Result<(), StoreError> {
        let p = progress.to_string();
        self.tx("record a job's progress", async |tx| {
            tx.execute(
                &format!(
                    "UPDATE jobs SET progress = $2, updated_at = {NOW} WHERE id = $1 AND state = 'running'"
                ),
                &[&id, &p],
            )
            .await?;
            Ok(())
        })
    }

    fn job_args(&mut self, id: i64, args: &serde_json::Value) -> Result<(), StoreError> {
        let a = args.to_string();
        self.tx("remember a job's arguments", async |tx| {
            tx.execute(
                &format!(
                    "UPDATE jobs SET args = $2, updated_at = {NOW} WHERE id = $1 AND state = 'running'"
                ),
                &[&id, &a],
            )
            .await?;
            Ok(())
        })
    }

    fn job_cancel_requested(&self, id: i64) -> Result<bool, StoreError> {
        self.tx("read a job's cancel flag", async |tx| {
            Ok(tx
                .query_opt("SELECT cancel_requested FROM jobs WHERE id = $1", &[&id])
                .await?
                .is_none_or(|r| r.get(0)))
        })
    }

    fn finish_job(&mut self, id: i64, end: &JobEnd) -> Result<Option<JobRow>, StoreError> {
        self.tx("record a job's end", async |tx| {
            match end {
                JobEnd::Done(result) => {
                    tx.execute(
                        &format!(
                            "UPDATE jobs SET state = 'done', result = $2, last_error = NULL,
                                    finished_at = {NOW}, updated_at = {NOW}
                             WHERE id = $1"
                        ),
                        &[&id, &result.to_string()],
                    )
                    .await?
                }
                JobEnd::Cancelled => {
                    tx.execute(
                        &format!(
                            "UPDATE jobs SET state = 'cancelled', finished_at = {NOW}, updated_at = {NOW}
                             WHERE id = $1"
                        ),
                        &[&id],
                    )
                    .await?
                }
                JobEnd::Failed {
                    error,
                    retry_in,
                    usage,
                } => {
                    // The text SQLite's json_object writes, so both stores hold the same JSON.
                    let kind = if *usage { "usage" } else { "runtime" };
                    let result = serde_json::json!({ "error_kind": kind }).to_string();
                    tx.execute(
                        &format!(
                            "UPDATE jobs SET last_error = $2, updated_at = {NOW}, result = $4,
                                    state = CASE WHEN cancel_requested THEN 'cancelled'
                                                 WHEN attempts < max_attempts THEN 'queued' ELSE 'failed' END,
                                    not_before = CASE WHEN attempts < max_attempts THEN {NOW} + $3 END,
                                    finished_at = CASE WHEN attempts < max_attempts AND NOT cancel_requested
                                                       THEN NULL ELSE {NOW} END
                             WHERE id = $1"
                        ),
                        &[&id, error, retry_in, &result],
                    )
                    .await?
                }
            };
            read(tx, id).await
        })
    }

    fn cancel_job(&mut self, id: i64) -> Result<Option<JobRow>, StoreError> {
        self.tx("cancel a job", async |tx| {
            tx.execute(
                &format!(
                    "UPDATE jobs SET
                        state = CASE WHEN state = 'running' THEN state ELSE 'cancelled' END,
                        finished_at = CASE WHEN state = 'queued' THEN {NOW} ELSE finished_at END,
                        cancel_requested = cancel_requested OR state = 'running',
                        updated_at = {NOW}
                     WHERE id = $1 AND state IN ('queued', 'failed', 'running')"
                ),
                &[&id],
            )
            .await?;
            read(tx, id).await
        })
    }

    fn retry_job(&mut self, id: i64) -> Result<Option<JobRow>, StoreError> {
        self.tx("retry a job", async |tx| {
            tx.execute(
                &format!(
                    "UPDATE jobs SET state = 'queued', attempts = 0, cancel_requested = false,
                            not_before = NULL, finished_at = NULL, progress = NULL, updated_at = {NOW}
                     WHERE id = $1 AND state IN ('failed', 'cancelled')"
                ),
                &[&id],
            )
            .await?;
            tx.execute("SELECT pg_notify($1, current_schema()::text)", &[&super::JOBS_CHANNEL])
                .await?;
            read(tx, id).await
        })
    }

    fn requeue_orphan_jobs(&mut self) -> Result<usize, StoreError> {
        let stale = WORKER_STALE_SECS as f64;
        self.tx("queue again the jobs of dead workers", async |tx| {
            let n = tx
                .execute(
                    &format!(
                        "UPDATE jobs SET state = CASE WHEN cancel_requested THEN 'cancelled' ELSE 'queued' END,
                                finished_at = CASE WHEN cancel_requested THEN {NOW} END, updated_at = {NOW}
                         WHERE state = 'running' AND NOT EXISTS (
                                SELECT 1 FROM workers w WHERE w.id = jobs.worker_id AND w.stopped_at IS NULL
                                  AND w.heartbeat_at >= now() - make_interval(secs => $1)
                                  AND floor(extract(epoch FROM w.started_at)) <= jobs.started_at)"
                    ),
                    &[&stale],
                )
                .await?;
            Ok(usize::try_from(n).unwrap_or(usize::MAX))
        })
    }
}

impl PgBackend {
    /// Starts the oldest due queued job matching `filter` (SQL over the jobs row, `$1` = `list`),
    /// skipping jobs another worker is claiming.
    fn claim_where(
        &self,
        worker_id: i64,
        filter: &str,
        list: &(dyn tokio_postgres::types::ToSql + Sync),
    ) -> Result<Option<JobRow>, StoreError> {
        let sql = start_sql(&format!(
            "id = (SELECT id FROM jobs
                   WHERE state = 'queued' AND (not_before IS NULL OR not_before <= {NOW})
                     AND ({filter})
                   ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)"
        ));
        self.tx("claim a job", async |tx| {
            Ok(tx
                .query_opt(&sql, &[list, &worker_id])
                .await?
                .as_ref()
                .map(row))
        })
    }
}
