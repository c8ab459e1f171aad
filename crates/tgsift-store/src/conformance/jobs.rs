//! [`JobStore`] on both backends: queueing, claiming, backoff, cancel and retry, progress, and the
//! jobs of workers that died. Workers and their times are set through [`JobsInspect`].

use serde_json::json;

use super::{on_postgres, on_sqlite};
use crate::SqliteStore;
use crate::postgres::backend::PgBackend;
use crate::prelude::*;
use crate::{JobEnd, unix_now};

/// What the job tests set up or force beyond the traits.
trait JobsInspect {
    /// Registers a worker (host `h`); returns its id.
    fn add_worker(&mut self, pid: u32) -> i64;
    /// Makes every worker's heartbeat ancient (they died without saying so).
    fn kill_workers(&mut self);
    /// Records that the worker runs its job runner (task `jobs`, running).
    fn run_job_runner(&mut self, worker_id: i64);
    /// Ends every job's backoff.
    fn make_jobs_due(&mut self);
    /// Moves a job's start `secs` seconds back.
    fn backdate_job(&mut self, id: i64, secs: i64);
    /// The worker a job is recorded as running under.
    fn job_worker(&self, id: i64) -> Option<i64>;
}

impl JobsInspect for SqliteStore {
    fn add_worker(&mut self, pid: u32) -> i64 {
        self.register_worker("h", pid).expect("worker")
    }

    fn kill_workers(&mut self) {
        self.write("kill", |tx| {
            tx.execute("UPDATE workers SET heartbeat_at = 0", [])
        })
        .expect("stale");
    }

    fn run_job_runner(&mut self, worker_id: i64) {
        self.task_started(worker_id, "jobs").expect("task");
    }

    fn make_jobs_due(&mut self) {
        self.write("make due", |tx| {
            tx.execute("UPDATE jobs SET not_before = 0", [])
        })
        .expect("due");
    }

    fn backdate_job(&mut self, id: i64, secs: i64) {
        self.write("backdate", |tx| {
            tx.execute(
                "UPDATE jobs SET started_at = started_at - ?2 WHERE id = ?1",
                [id, secs],
            )
        })
        .expect("backdate");
    }

    fn job_worker(&self, id: i64) -> Option<i64> {
        self.read("inspect", |c| {
            c.query_row("SELECT worker_id FROM jobs WHERE id = ?1", [id], |r| {
                r.get(0)
            })
        })
        .expect("job")
    }
}

impl JobsInspect for PgBackend {
    fn add_worker(&mut self, pid: u32) -> i64 {
        self.block_on(self.store().register_worker("h", pid))
            .expect("worker")
    }

    fn kill_workers(&mut self) {
        self.tx("kill", async |tx| {
            tx.execute("UPDATE workers SET heartbeat_at = to_timestamp(0)", &[])
                .await?;
            Ok(())
        })
        .expect("stale");
    }

    fn run_job_runner(&mut self, worker_id: i64) {
        self.tx("task", async |tx| {
            tx.execute(
                "INSERT INTO worker_tasks (worker_id, name, state, started_at, updated_at)
                 VALUES ($1, 'jobs', 'running', $2, $2)",
                &[&worker_id, &unix_now()],
            )
            .await?;
            Ok(())
        })
        .expect("task");
    }

    fn make_jobs_due(&mut self) {
        self.tx("make due", async |tx| {
            tx.execute("UPDATE jobs SET not_before = 0", &[]).await?;
            Ok(())
        })
        .expect("due");
    }

    fn backdate_job(&mut self, id: i64, secs: i64) {
        self.tx("backdate", async |tx| {
            tx.execute(
                "UPDATE jobs SET started_at = started_at - $2 WHERE id = $1",
                &[&id, &secs],
            )
            .await?;
            Ok(())
        })
        .expect("backdate");
    }

    fn job_worker(&self, id: i64) -> Option<i64> {
        self.tx("inspect", async |tx| {
            Ok(tx
                .query_one("SELECT worker_id FROM jobs WHERE id = $1", &[&id])
                .await?
                .get(0))
        })
        .expect("job")
    }
}

fn failed(error: &str, retry_in: i64, usage: bool) -> JobEnd {
    JobEnd::Failed {
        error: error.into(),
        retry_in,
        usage,
    }
}

fn retried_with_backoff_then_failed_for_good<S: JobStore + JobsInspect + ?Sized>(s: &mut S) {
    let w = s.add_worker(1);
    let j = s
        .enqueue_job("reparse", &json!({"channel": "@x", "all": true}), 2)
        .expect("enqueue");
    assert_eq!(
        (j.state.as_str(), j.attempts, j.max_attempts),
        ("queued", 0, 2)
    );
    let run = s.claim_job(w, &[]).expect("claim").expect("due");
    assert_eq!(
        (run.id, run.state.as_str(), run.attempts),
        (j.id, "running", 1)
    );
    assert!(run.started_at.is_some());
    assert!(
        s.claim_job(w, &[]).expect("claim").is_none(),
        "one at a time"
    );
    let after = s
        .finish_job(run.id, &failed("boom", 30, false))
        .expect("fail")
        .expect("job");
    assert_eq!(
        (after.state.as_str(), after.finished_at, after.result),
        ("queued", None, Some(json!({"error_kind": "runtime"})))
    );
    assert!(after.not_before.is_some_and(|t| t >= unix_now() + 29));
    assert!(
        s.claim_job(w, &[]).expect("claim").is_none(),
        "not due before its backoff"
    );
    assert!(
        s.start_job(j.id, w).expect("start").is_none(),
        "nor started by hand"
    );
    s.make_jobs_due();
    let run = s.claim_job(w, &[]).expect("claim").expect("due");
    assert_eq!((run.attempts, run.not_before), (2, None));
    let after = s
        .finish_job(run.id, &failed("boom again", 30, false))
        .expect("fail")
        .expect("job");
    assert_eq!(
        (
            after.state.as_str(),
            after.attempts,
            after.last_error.as_deref(),
            after.not_before
        ),
        ("failed", 2, Some("boom again"), None)
    );
    assert!(after.finished_at.is_some());
    assert_eq!(
        after.args,
        json!({"channel": "@x", "all": true}),
        "context kept"
    );
    let again = s.retry_job(run.id).expect("retry").expect("job");
    assert_eq!(
        (again.state.as_str(), again.attempts, again.finished_at),
        ("queued", 0, None)
    );
    let run = s.claim_job(w, &[]).expect("claim").expect("due");
    let done = s
        .finish_job(run.id, &JobEnd::Done(json!({"inserted": 3})))
        .expect("done")
        .expect("job");
    assert_eq!(
        (done.state.as_str(), done.result, done.last_error),
        ("done", Some(json!({"inserted": 3})), None)
    );
    assert!(
        s.retry_job(run.id).expect("retry").expect("job").state == "done",
        "a job done is not retried"
    );
    assert_eq!(s.retry_job(run.id + 100).expect("retry"), None);
}

fn cancel_stops_queued_jobs_at_once_and_running_ones_at_their_next_batch<
    S: JobStore + JobsInspect + ?Sized,
>(
    s: &mut S,
) {
    let w = s.add_worker(1);
    let a = s.enqueue_job("retag", &json!({}), 3).expect("a");
    let b = s.enqueue_job("retag", &json!({}), 3).expect("b");
    let cancelled = s.cancel_job(b.id).expect("cancel").expect("b");
    assert_eq!(
        (cancelled.state.as_str(), cancelled.cancel_requested),
        ("cancelled", false)
    );
    assert!(cancelled.finished_at.is_some());
    assert!(!s.job_cancel_requested(b.id).expect("flag"));
    let run = s.claim_job(w, &[]).expect("claim").expect("a");
    assert_eq!(run.id, a.id);
    assert!(!s.job_cancel_requested(a.id).expect("flag"));
    let c = s.cancel_job(a.id).expect("cancel").expect("a");
    assert_eq!(
        (c.state.as_str(), c.cancel_requested, c.finished_at),
        ("running", true, None)
    );
    assert!(s.job_cancel_requested(a.id).expect("flag"));
    assert!(
        s.job_cancel_requested(a.id + 100).expect("flag"),
        "a job that is gone counts as cancelled"
    );
    let end = s
        .finish_job(a.id, &JobEnd::Cancelled)
        .expect("end")
        .expect("a");
    assert_eq!(end.state, "cancelled");
    assert!(end.finished_at.is_some());
    // A failed job is put aside with its error; a done one stays done.
    let f = s.enqueue_job("retag", &json!({}), 1).expect("f");
    assert_eq!(s.claim_job(w, &[]).expect("claim").expect("f").id, f.id);
    let f = s
        .finish_job(f.id, &failed("CHANNEL_PRIVATE", 0, true))
        .expect("fail")
        .expect("f");
    assert_eq!(
        (f.state.as_str(), f.result),
        ("failed", Some(json!({"error_kind": "usage"})))
    );
    let c = s.cancel_job(f.id).expect("cancel").expect("f");
    assert_eq!(
        (c.state.as_str(), c.last_error.as_deref(), c.finished_at),
        ("cancelled", Some("CHANNEL_PRIVATE"), f.finished_at)
    );
    let d = s.enqueue_job("retag", &json!({}), 1).expect("d");
    assert_eq!(s.claim_job(w, &[]).expect("claim").expect("d").id, d.id);
    s.finish_job(d.id, &JobEnd::Done(json!({}))).expect("done");
    assert_eq!(
        s.cancel_job(d.id).expect("cancel").expect("d").state,
        "done"
    );
    assert_eq!(s.cancel_job(d.id + 100).expect("cancel"), None);
    // A cancelled job can be retried with a fresh set of attempts.
    let again = s.retry_job(a.id).expect("retry").expect("a");
    assert_eq!(
        (again.state.as_str(), again.attempts, again.cancel_requested),
        ("queued", 0, false)
    );
}

fn jobs_of_a_dead_worker_are_queued_again<S: JobStore + JobsInspect + ?Sized>(s: &mut S) {
    let dead = s.add_worker(1);
    let j = s.enqueue_job("channel_add", &json!({}), 3).expect("job");
    s.claim_job(dead, &[]).expect("claim").expect("job");
    assert_eq!(s.job_worker(j.id), Some(dead));
    s.kill_workers();
    std::thread::sleep(std::time::Duration::from_millis(1_100));
    let me = s.add_worker(2);
    assert_eq!(s.requeue_orphan_jobs().expect("requeue"), 1);
    let back = s.job(j.id).expect("read").expect("job");
    assert_eq!((back.state.as_str(), back.attempts), ("queued", 1));
    let kinds = s.claim_job(me, &["reparse"]).expect("claim");
    assert!(kinds.is_none(), "only the kinds asked for");
    let run = s
        .claim_job(me, &["reparse", "channel_add"])
        .expect("claim")
        .expect("job");
    assert_eq!((run.id, run.attempts), (j.id, 2));
    assert_eq!(s.job_worker(j.id), Some(me));
}

fn jobs_of_a_live_worker_stay_unless_they_started_before_it<S: JobStore + JobsInspect + ?Sized>(
    s: &mut S,
) {
    let w = s.add_worker(1);
    assert!(!s.job_runner_alive().expect("alive"), "no job runner yet");
    s.run_job_runner(w);
    assert!(s.job_runner_alive().expect("alive"));
    let a = s.enqueue_job("retag", &json!({}), 3).expect("a");
    let b = s.enqueue_job("retag", &json!({}), 3).expect("b");
    assert_eq!(s.claim_job(w, &[]).expect("claim").expect("a").id, a.id);
    assert_eq!(s.claim_job(w, &[]).expect("claim").expect("b").id, b.id);
    assert_eq!(
        s.requeue_orphan_jobs().expect("requeue"),
        0,
        "its worker is alive"
    );
    // A job that started before its worker did belongs to an earlier worker with the same id.
    s.backdate_job(a.id, 3_600);
    s.cancel_job(b.id).expect("cancel").expect("b");
    s.backdate_job(b.id, 3_600);
    assert_eq!(s.requeue_orphan_jobs().expect("requeue"), 2);
    let (a, b) = (
        s.job(a.id).expect("a").expect("a"),
        s.job(b.id).expect("b").expect("b"),
    );
    assert_eq!((a.state.as_str(), a.finished_at), ("queued", None));
    assert_eq!(b.state, "cancelled", "a cancel asked for meanwhile wins");
    assert!(b.finished_at.is_some());
    s.kill_workers();
    assert!(!s.job_runner_alive().expect("alive"), "its worker is gone");
}

fn jobs_are_started_by_hand_interrupted_and_exhausted<S: JobStore + JobsInspect + ?Sized>(
    s: &mut S,
) {
    let w = s.add_worker(1);
    let old = s.enqueue_job("reparse", &json!({"n": 1}), 3).expect("old");
    let j = s.enqueue_job("reparse", &json!({"n": 2}), 0).expect("j");
    assert_eq!(j.max_attempts, 1, "at least one attempt");
    let run = s.start_job(j.id, w).expect("start").expect("queued");
    assert_eq!(
        (run.id, run.state.as_str(), run.attempts),
        (j.id, "running", 1)
    );
    assert!(
        s.start_job(j.id, w).expect("start").is_none(),
        "already running"
    );
    s.job_progress(j.id, &json!({"done": 5})).expect("progress");
    s.job_progress(old.id, &json!({"done": 1}))
        .expect("not running: ignored");
    assert_eq!(
        s.job(j.id).expect("read").expect("j").progress,
        Some(json!({"done": 5}))
    );
    assert_eq!(s.job(old.id).expect("read").expect("old").progress, None);
    s.job_args(j.id, &json!({"n": 2, "learned": true}))
        .expect("args");
    s.job_args(old.id, &json!({"n": 9}))
        .expect("not running: ignored");
    assert_eq!(
        s.job(j.id).expect("read").expect("j").args,
        json!({"n": 2, "learned": true})
    );
    assert_eq!(
        s.job(old.id).expect("read").expect("old").args,
        json!({"n": 1})
    );
    s.requeue_interrupted_job(j.id).expect("interrupted");
    let back = s.job(j.id).expect("read").expect("j");
    assert_eq!(
        (back.state.as_str(), back.attempts, back.finished_at),
        ("queued", 0, None),
        "the attempt does not count"
    );
    assert_eq!(s.job_worker(j.id), None);
    let run = s.start_job(j.id, w).expect("start").expect("queued");
    assert_eq!(
        (run.attempts, run.progress),
        (1, None),
        "progress starts over"
    );
    s.cancel_job(j.id).expect("cancel");
    s.requeue_interrupted_job(j.id).expect("interrupted");
    let back = s.job(j.id).expect("read").expect("j");
    assert_eq!(
        (back.state.as_str(), back.attempts),
        ("cancelled", 0),
        "a cancel asked for meanwhile wins"
    );
    assert!(back.finished_at.is_some());
    // An attempt made the last one fails the job for good.
    let run = s.claim_job(w, &["reparse"]).expect("claim").expect("old");
    assert_eq!(run.id, old.id);
    s.exhaust_job(old.id).expect("exhaust");
    let end = s
        .finish_job(old.id, &failed("FORBIDDEN", 60, false))
        .expect("fail")
        .expect("old");
    assert_eq!(
        (
            end.state.as_str(),
            end.attempts,
            end.max_attempts,
            end.not_before
        ),
        ("failed", 1, 1, None)
    );
}

fn jobs_are_listed_newest_first_and_counted<S: JobStore + JobsInspect + ?Sized>(s: &mut S) {
    let w = s.add_worker(1);
    let ids: Vec<i64> = (0..4)
        .map(|i| {
            s.enqueue_job(
                if i % 2 == 0 { "retag" } else { "reparse" },
                &json!({ "i": i }),
                3,
            )
            .expect("enqueue")
            .id
        })
        .collect();
    assert_eq!(
        s.claim_job(w, &["reparse"])
            .expect("claim")
            .expect("due")
            .id,
        ids[1],
        "the oldest of the kinds asked for"
    );
    s.cancel_job(ids[2]).expect("cancel");
    let listed = |s: &S, state, before, limit| -> Vec<i64> {
        s.jobs(state, before, limit)
            .expect("list")
            .iter()
            .map(|j| j.id)
            .collect()
    };
    assert_eq!(
        listed(s, None, None, 10),
        vec![ids[3], ids[2], ids[1], ids[0]]
    );
    assert_eq!(listed(s, None, None, 2), vec![ids[3], ids[2]]);
    assert_eq!(listed(s, None, Some(ids[2]), 10), vec![ids[1], ids[0]]);
    assert_eq!(listed(s, Some("queued"), None, 10), vec![ids[3], ids[0]]);
    assert_eq!(listed(s, Some("queued"), Some(ids[3]), 1), vec![ids[0]]);
    assert_eq!(listed(s, Some("done"), None, 10), Vec::<i64>::new());
    let job = s.jobs(Some("running"), None, 10).expect("list");
    assert_eq!(job.len(), 1);
    assert_eq!(
        (job[0].kind.as_str(), &job[0].args),
        ("reparse", &json!({"i": 1}))
    );
    assert_eq!(
        s.job_counts().expect("counts"),
        [("cancelled", 1), ("queued", 2), ("running", 1)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect()
    );
    assert_eq!(s.job(ids[3] + 1).expect("read"), None);
}

/// A job that needs an account goes only to a worker serving that account; jobs needing none go to
/// any worker.
fn jobs_needing_an_account_go_to_its_worker<S: JobStore + AccountStore + JobsInspect + ?Sized>(
    s: &mut S,
) {
    let path = std::path::Path::new("");
    let a = s.add_account("a", None, None, path).expect("a").id;
    let b = s.add_account("b", None, None, path).expect("b").id;
    let w = s.add_worker(1);
    let for_a = s
        .enqueue_job_for("reparse", &json!({"channel": "@a"}), 3, Some(a))
        .expect("a's job");
    let for_b = s
        .enqueue_job_for("channel_add", &json!({"account": "b"}), 3, Some(b))
        .expect("b's job");
    let any = s.enqueue_job("retag", &json!({}), 3).expect("any");
    // A worker serving only b takes b's job and the one needing no account, never a's.
    let first = s.claim_job_among(w, &[b]).expect("claim").expect("b's");
    let second = s.claim_job_among(w, &[b]).expect("claim").expect("any");
    assert_eq!((first.id, second.id), (for_b.id, any.id));
    assert!(
        s.claim_job_among(w, &[b]).expect("claim").is_none(),
        "a's job is not b's worker's"
    );
    assert!(
        s.claim_job_among(w, &[]).expect("claim").is_none(),
        "nor a worker's serving nothing"
    );
    let third = s.claim_job_among(w, &[a, b]).expect("claim").expect("a's");
    assert_eq!((third.id, third.state.as_str()), (for_a.id, "running"));
    // A removed account's job can run anywhere (and fails there, naming the account).
    let orphan = s
        .enqueue_job_for("reparse", &json!({"channel": "@a"}), 3, Some(a))
        .expect("queued");
    assert!(s.remove_account("a").expect("removed"));
    let taken = s.claim_job_among(w, &[]).expect("claim").expect("orphan");
    assert_eq!(taken.id, orphan.id);
}

both! {
    jobs_retried_with_backoff_then_failed_for_good => retried_with_backoff_then_failed_for_good,
    jobs_cancel_queued_at_once_running_at_next_batch =>
        cancel_stops_queued_jobs_at_once_and_running_ones_at_their_next_batch,
    jobs_of_a_dead_worker_are_queued_again => jobs_of_a_dead_worker_are_queued_again,
    jobs_of_a_live_worker_stay => jobs_of_a_live_worker_stay_unless_they_started_before_it,
    jobs_started_by_hand_interrupted_and_exhausted => jobs_are_started_by_hand_interrupted_and_exhausted,
    jobs_listed_and_counted => jobs_are_listed_newest_first_and_counted,
    jobs_needing_an_account_go_to_its_worker => jobs_needing_an_account_go_to_its_worker,
}
