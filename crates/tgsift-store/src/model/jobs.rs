//! Durable admin jobs: what an operator asked for (add a channel, reparse, re-tag, retry tagging) kept in
//! the database so it survives restarts, is retried a bounded number of times with backoff, shows its
//! progress, and can be retried or cancelled — the "Retry / Cancel" of the product brief.
//!
//! States: `queued` → `running` → `done` | `failed` | `cancelled`. A failed attempt goes back to `queued`
//! with `not_before` set while attempts remain; a job found `running` when the service starts (its worker
//! died) is queued again.

use serde::Serialize;

use crate::StoreError;

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

/// How a job attempt ended, for [`JobStore::finish_job`].
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

    /// Replaces a running job's arguments with what its attempt learned (a channel's resolved peer),
    /// so the next attempt does not ask Telegram again.
    fn job_args(&mut self, id: i64, args: &serde_json::Value) -> Result<(), StoreError>;

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
