//! `tgsift jobs …`, `tgsift alerts test`, and how the CLI submits work that needs Telegram: as a
//! durable job, waited for while a running service executes it, or run in this process when none does.

use std::time::Duration;

use clap::Subcommand;
use serde_json::Value;
use tgsift_store::{JobRow, NewAlert, unix_now};
use tokio_util::sync::CancellationToken;

use super::UsageError;
use crate::config::Loaded;
use crate::ops::jobs::{ended, run_here};
use crate::ops::{JobSpec, Ops, OpsError};

/// `tgsift jobs …`.
#[derive(Debug, Subcommand)]
pub enum JobsCommand {
    /// Admin jobs, newest first.
    List {
        /// Only jobs in this state (queued, running, done, failed, cancelled).
        #[arg(long)]
        state: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 20, value_parser = super::tags::at_least_one())]
        limit: usize,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// One job: arguments, attempts, progress, result or last error.
    Show {
        /// Job id.
        id: i64,
    },
    /// Queue a failed or cancelled job again (same arguments, fresh attempts).
    Retry {
        /// Job id.
        id: i64,
    },
    /// Cancel a job: a queued one at once, a running one at its next batch.
    Cancel {
        /// Job id.
        id: i64,
    },
}

/// `tgsift alerts …`.
#[derive(Debug, Subcommand)]
pub enum AlertsCommand {
    /// Send a test alert to every configured sink and report each delivery.
    Test,
}

/// The admin layer for one CLI command: the database, and Telegram connections of this process.
pub(super) async fn ops(loaded: &Loaded, cancel: &CancellationToken) -> anyhow::Result<Ops> {
    Ops::open(&loaded.config, cancel, true)
        .await
        .map_err(cli_error)
}

/// [`ops`] for a command that tags nothing (accounts): no tagging backend is loaded or checked.
pub(super) async fn ops_without_tagging(
    loaded: &Loaded,
    cancel: &CancellationToken,
) -> anyhow::Result<Ops> {
    Ops::open(&loaded.config, cancel, false)
        .await
        .map_err(cli_error)
}

/// An [`OpsError`] as the CLI reports it: refusals exit 2, failures 1.
pub(super) fn cli_error(e: OpsError) -> anyhow::Error {
    match e {
        OpsError::NotFound(m) | OpsError::Invalid(m) | OpsError::Conflict(m) => {
            UsageError(m).into()
        }
        OpsError::Store(e) => e.into(),
        OpsError::Other(e) => e,
    }
}

/// Queues `spec` and, unless `no_wait`, sees it to its end: a running service's job runner executes it
/// (the CLI shows its progress), or, when no service runs jobs, this process does. Returns the done
/// job; a failed or cancelled one is an error (exit 2 when the request was wrong, else 1).
pub(super) async fn submit(
    loaded: &Loaded,
    spec: JobSpec,
    no_wait: bool,
) -> anyhow::Result<Option<JobRow>> {
    let shutdown = super::run::shutdown_on_signals();
    let ops = ops(loaded, &shutdown).await?;
    // The request's own mistakes (`--backfill lots`, an inverted range) come before missing
    // credentials: fixing those first would only lead to this error next.
    spec.validate().map_err(cli_error)?;
    let needs_account = spec.account(&ops).await.map_err(cli_error)?.is_some();
    if needs_account && loaded.config.telegram.api_id.is_none() {
        // Checked here, before anything is queued: a job without credentials could never run.
        loaded.config.telegram.credentials()?;
    }
    let job = ops.enqueue(spec).await.map_err(cli_error)?;
    let served = ops.job_runner_alive().await.map_err(cli_error)?;
    // On PostgreSQL an account is used only by the worker holding its lease: this process cannot
    // run such a job itself, it waits for a worker.
    let leased = ops.on_postgres() && needs_account;
    if no_wait || (leased && !served) {
        println!(
            "queued job {} ({}){}: follow it with `tgsift jobs show {}`",
            job.id,
            job.kind,
            match (served, leased) {
                (true, _) => "",
                (false, false) =>
                    "; no service is running: it runs when `tgsift run` (or `run --once`) starts",
                (false, true) =>
                    "; no worker is running: the worker that takes the account runs it when `tgsift run` (or `run --once`) starts",
            },
            job.id
        );
        return Ok(None);
    }
    let watcher = tokio::spawn(show_progress(ops.clone(), job.id));
    let end = if served {
        eprintln!(
            "job {} ({}) queued; the running service executes it (Ctrl-C stops waiting, the job goes on)",
            job.id, job.kind
        );
        wait(&ops, job.id, &shutdown).await
    } else {
        run_here(&ops, job.id, &shutdown).await
    };
    watcher.abort();
    let end = end.map_err(cli_error)?;
    outcome(end).map(Some)
}

async fn wait(ops: &Ops, id: i64, shutdown: &CancellationToken) -> Result<JobRow, OpsError> {
    loop {
        let job = ops.job(id).await?;
        if ended(&job) || shutdown.is_cancelled() {
            return Ok(job);
        }
        tokio::select! {
            _ = shutdown.cancelled() => {}
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
    }
}

/// Prints a running job's progress on stderr when it changes.
async fn show_progress(ops: Ops, id: i64) {
    let mut last: Option<Value> = None;
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let Ok(job) = ops.job(id).await else { continue };
        if job.progress.is_some() && job.progress != last {
            if let Some(p) = &job.progress {
                let fetched = p.get("fetched").and_then(Value::as_u64).unwrap_or(0);
                let total = p.get("ids_total").and_then(Value::as_i64).unwrap_or(0);
                eprintln!(
                    "job {id}: {fetched} posts fetched of ids {total} (attempt {})",
                    job.attempts
                );
            }
            last = job.progress.clone();
        }
    }
}

/// A job that ended: `Ok` when done, else the error the CLI exits with.
fn outcome(job: JobRow) -> anyhow::Result<JobRow> {
    let usage = job
        .result
        .as_ref()
        .and_then(|r| r.get("error_kind"))
        .and_then(Value::as_str)
        == Some("usage");
    let error = job.last_error.clone().unwrap_or_default();
    match job.state.as_str() {
        "done" => Ok(job),
        "failed" if usage => Err(UsageError(error).into()),
        "failed" => Err(anyhow::anyhow!(
            "job {} ({}) failed after {} attempt(s): {error} (retry it with `tgsift jobs retry {}`)",
            job.id,
            job.kind,
            job.attempts,
            job.id
        )),
        "cancelled" => Err(anyhow::anyhow!("job {} was cancelled", job.id)),
        // Due again much later (a long FLOOD_WAIT, a used-up budget): it stays queued.
        "queued" if job.not_before.is_some_and(|t| t > unix_now() + 60) => Err(anyhow::anyhow!(
            "job {} ({}) is queued again, due in {} s: {error}; the running service (`tgsift run`) runs it then (see `tgsift jobs show {}`)",
            job.id,
            job.kind,
            job.not_before.unwrap_or_default() - unix_now(),
            job.id
        )),
        // Stopped waiting (Ctrl-C) before it ended.
        _ => Err(anyhow::anyhow!(
            "stopped waiting: job {} is {} (see `tgsift jobs show {}`)",
            job.id,
            job.state,
            job.id
        )),
    }
}

pub(super) fn when(t: Option<i64>) -> String {
    t.map(|t| format!("{} s ago", (unix_now() - t).max(0)))
        .unwrap_or_else(|| "-".into())
}

fn print_job(j: &JobRow) {
    println!("job {} ({})", j.id, j.kind);
    println!(
        "  state:     {}{}",
        j.state,
        if j.cancel_requested && j.state == "running" {
            " (cancel requested)"
        } else {
            ""
        }
    );
    println!("  attempts:  {} of {}", j.attempts, j.max_attempts);
    println!("  arguments: {}", j.args);
    println!("  queued:    {}", when(Some(j.created_at)));
    println!("  started:   {}", when(j.started_at));
    println!("  ended:     {}", when(j.finished_at));
    if let Some(t) = j.not_before.filter(|t| *t > unix_now()) {
        println!("  next attempt in {} s", t - unix_now());
    }
    if let Some(p) = &j.progress {
        println!("  progress:  {p}");
    }
    if let Some(r) = &j.result {
        println!("  result:    {r}");
    }
    if let Some(e) = &j.last_error {
        println!("  last error: {e}");
    }
}

/// Runs a jobs subcommand.
pub(super) async fn jobs(loaded: &Loaded, cmd: JobsCommand) -> anyhow::Result<()> {
    let ops = ops(loaded, &CancellationToken::new()).await?;
    match cmd {
        JobsCommand::List { state, limit, json } => {
            let jobs = ops
                .jobs(state, None, limit.max(1))
                .await
                .map_err(cli_error)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&jobs)?);
                return Ok(());
            }
            if jobs.is_empty() {
                println!("no jobs");
                return Ok(());
            }
            println!(
                "{:>5} {:<14} {:<10} {:>8} {:<12} error / result",
                "id", "kind", "state", "attempts", "queued"
            );
            for j in jobs {
                let tail = match (&j.last_error, &j.result) {
                    (Some(e), _) if j.state != "done" => e.clone(),
                    (_, Some(r)) => r.to_string(),
                    _ => "-".into(),
                };
                println!(
                    "{:>5} {:<14} {:<10} {:>8} {:<12} {tail}",
                    j.id,
                    j.kind,
                    j.state,
                    format!("{}/{}", j.attempts, j.max_attempts),
                    when(Some(j.created_at))
                );
            }
        }
        JobsCommand::Show { id } => print_job(&ops.job(id).await.map_err(cli_error)?),
        JobsCommand::Retry { id } => {
            let j = ops.retry_job(id).await.map_err(cli_error)?;
            println!("job {} ({}) is queued again", j.id, j.kind);
        }
        JobsCommand::Cancel { id } => {
            let j = ops.cancel_job(id).await.map_err(cli_error)?;
            if j.state == "cancelled" {
                println!("job {id} cancelled");
            } else {
                println!("job {id} is running: it stops at its next batch");
            }
        }
    }
    Ok(())
}

/// Runs an alerts subcommand.
pub(super) async fn alerts(loaded: &Loaded, cmd: AlertsCommand) -> anyhow::Result<()> {
    let AlertsCommand::Test = cmd;
    let cancel = CancellationToken::new();
    let ops = ops(loaded, &cancel).await?;
    let alerts = ops.alerts();
    if alerts.sinks().is_empty() {
        return Err(UsageError(
            "no alert sinks are configured: set alerts.webhooks and/or alerts.telegram = true"
                .into(),
        )
        .into());
    }
    let ids = alerts
        .raise(NewAlert {
            kind: "test".into(),
            dedup_key: format!("test:{}", unix_now()),
            account: None,
            message: "test alert from `tgsift alerts test`".into(),
            details: serde_json::json!({}),
        })
        .await?;
    let rows = alerts.deliver_now(&ids, &ops.connections).await?;
    cancel.cancel();
    let mut failed = 0;
    for r in rows {
        match (&r.delivered_at, &r.last_error) {
            (Some(_), _) => println!("{}: delivered", r.sink),
            (None, e) => {
                failed += 1;
                println!("{}: not delivered: {}", r.sink, e.as_deref().unwrap_or("?"));
            }
        }
    }
    if failed > 0 {
        anyhow::bail!(
            "{failed} sink(s) did not receive the test alert (a running service retries them)"
        );
    }
    Ok(())
}
