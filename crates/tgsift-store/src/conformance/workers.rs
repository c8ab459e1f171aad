//! [`WorkerStore`] on both backends: workers, heartbeats, supervised tasks.

use super::{on_postgres, on_sqlite};
use crate::prelude::*;

fn workers_and_tasks_record_what_happened<S: WorkerStore + ?Sized>(s: &mut S) {
    let w = s.register_worker("host", 42).expect("register");
    s.task_started(w, "tagging").expect("start");
    s.task_ended(w, "tagging", "restarting", Some("could not claim posts"), 1)
        .expect("fail");
    s.task_started(w, "tagging").expect("restart");
    s.task_started(w, "ingest:alice").expect("start");
    s.task_ended(w, "ingest:alice", "failed", None, 0)
        .expect("end");
    let tasks = s.worker_tasks(w).expect("tasks");
    let summary: Vec<(&str, &str, u32, Option<&str>)> = tasks
        .iter()
        .map(|t| {
            (
                t.name.as_str(),
                t.state.as_str(),
                t.restarts,
                t.last_error.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("ingest:alice", "failed", 0, None),
            ("tagging", "running", 1, Some("could not claim posts")),
        ]
    );
    assert!(tasks[1].last_error_at.is_some() && tasks[0].last_error_at.is_none());
    // The write of restart 2 was lost (the database failed then); restart 3 carries the count, and
    // an older count never lowers it.
    s.task_ended(w, "tagging", "restarting", Some("again"), 3)
        .expect("fail");
    s.task_ended(w, "tagging", "stopped", None, 1)
        .expect("stop");
    let restarts = |s: &S| {
        s.worker_tasks(w)
            .expect("tasks")
            .iter()
            .find(|t| t.name == "tagging")
            .map(|t| t.restarts)
    };
    assert_eq!(restarts(s), Some(3));
    s.task_started(w, "tagging").expect("restart");
    let live = s.live_worker().expect("live").expect("a live worker");
    assert_eq!((live.id, live.pid, live.host.as_str()), (w, 42, "host"));
    s.heartbeat_worker(w).expect("heartbeat");
    s.stop_worker(w, None).expect("stop");
    assert!(s.live_worker().expect("live").is_none());
    let tasks = s.worker_tasks(w).expect("tasks");
    assert_eq!(
        tasks.iter().map(|t| t.state.as_str()).collect::<Vec<_>>(),
        vec!["failed", "stopped"],
        "running tasks stop with their worker; a failed one stays failed"
    );
    assert_eq!(s.last_worker().expect("last").map(|w| w.pid), Some(42));
}

fn vanished_workers_are_marked_stopped<S: WorkerStore + ?Sized>(s: &mut S) {
    let gone = s.register_worker("host", 1001).expect("register");
    let other_host = s.register_worker("elsewhere", 1002).expect("register");
    let running = s.register_worker("host", 1003).expect("register");
    let me = s.register_worker("host", 1004).expect("register");
    let alive = |pid: u32| pid == 1003 || pid == 1004;
    assert_eq!(
        s.mark_vanished_workers("host", me, &alive).expect("mark"),
        1
    );
    let workers = s.workers().expect("workers");
    let stopped = |id: i64| {
        workers
            .iter()
            .find(|w| w.id == id)
            .map(|w| (w.stopped_at.is_some(), w.exit_error.is_some()))
    };
    assert_eq!(stopped(gone), Some((true, true)));
    assert_eq!(
        stopped(other_host),
        Some((false, false)),
        "other hosts are not judged"
    );
    assert_eq!(stopped(running), Some((false, false)));
    assert_eq!(stopped(me), Some((false, false)));
    assert_eq!(workers.first().map(|w| w.id), Some(me), "newest first");
}

both! {
    workers_and_tasks => workers_and_tasks_record_what_happened,
    vanished_workers => vanished_workers_are_marked_stopped,
}
