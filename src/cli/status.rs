//! `tgsift status`: what the service is doing, read from the database (so it works from any shell,
//! while `run` holds every session): the worker and its uptime, its supervised tasks with restarts and
//! last errors, accounts, channels that need attention, and tagging by status.

use serde::Serialize;

use super::account::{AccountState, account_states, open_store};
use crate::config::Loaded;
use tgsift_store::{TaskRow, WorkerRow, unix_now};

#[derive(Serialize)]
struct Status {
    /// The newest worker (alive or the last one that ran).
    worker: Option<WorkerRow>,
    running: bool,
    uptime_secs: Option<i64>,
    tasks: Vec<TaskRow>,
    accounts: Vec<AccountState>,
    channels: ChannelCounts,
    /// Channels that are parked, failed or carry an error.
    attention: Vec<ChannelNote>,
    tagging: std::collections::BTreeMap<String, i64>,
}

#[derive(Default, Serialize)]
struct ChannelCounts {
    active: usize,
    paused: usize,
    failed: usize,
    parked: usize,
}

#[derive(Serialize)]
struct ChannelNote {
    channel: String,
    account: String,
    state: String,
    parked_secs: Option<i64>,
    last_error: Option<String>,
}

fn ago(secs: i64) -> String {
    match secs.max(0) {
        s @ 0..=119 => format!("{s} s"),
        s @ 120..=7_199 => format!("{} min", s / 60),
        s @ 7_200..=172_799 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        s => format!("{} days", s / 86_400),
    }
}

/// `tgsift status [--json]`.
pub fn status(loaded: &Loaded, json: bool) -> anyhow::Result<()> {
    let store = open_store(loaded)?;
    let now = unix_now();
    let worker = match store.live_worker()? {
        Some(w) => Some(w),
        None => store.last_worker()?,
    };
    let running = worker.as_ref().is_some_and(|w| w.is_alive(now));
    let tasks = match &worker {
        Some(w) => store.worker_tasks(w.id)?,
        None => Vec::new(),
    };
    let mut counts = ChannelCounts::default();
    let mut attention = Vec::new();
    for c in store.channels()? {
        let parked = c.flood_until.filter(|u| *u > now).map(|u| u - now);
        let state = match (c.active, &c.last_error, parked) {
            (true, _, Some(_)) => "parked",
            (true, _, None) => "active",
            (false, Some(_), _) => "failed",
            (false, None, _) => "paused",
        };
        match state {
            "parked" => counts.parked += 1,
            "active" => counts.active += 1,
            "failed" => counts.failed += 1,
            _ => counts.paused += 1,
        }
        if state == "parked" || state == "failed" || c.last_error.is_some() {
            attention.push(ChannelNote {
                channel: c.label(),
                account: c.account.clone(),
                state: state.into(),
                parked_secs: parked,
                last_error: c.last_error.clone(),
            });
        }
    }
    let status = Status {
        uptime_secs: worker
            .as_ref()
            .filter(|_| running)
            .map(|w| now - w.started_at),
        worker,
        running,
        tasks,
        accounts: account_states(&*store)?,
        channels: counts,
        attention,
        tagging: store.tag_stats(None)?.by_status,
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&status)?);
        return Ok(());
    }
    print(&status, now);
    Ok(())
}

fn print(s: &Status, now: i64) {
    match (&s.worker, s.running) {
        (Some(w), true) => println!(
            "service: running on {} (pid {}, tgsift {}), up {}, heartbeat {} ago",
            w.host,
            w.pid,
            w.version,
            ago(now - w.started_at),
            ago(now - w.heartbeat_at)
        ),
        (Some(w), false) => {
            let how = match (&w.stopped_at, &w.exit_error) {
                (Some(_), Some(e)) => format!("stopped with an error: {e}"),
                (Some(_), None) => "stopped".to_string(),
                (None, _) => "died without stopping (no heartbeat)".to_string(),
            };
            println!(
                "service: not running; the last run (pid {} on {}) {how} {} ago after {}",
                w.pid,
                w.host,
                ago(now - w.heartbeat_at),
                ago(w.heartbeat_at - w.started_at)
            );
        }
        (None, _) => println!("service: has never run on this database (`tgsift run`)"),
    }
    if !s.tasks.is_empty() {
        println!("tasks:");
        for t in &s.tasks {
            let err = match (&t.last_error, t.last_error_at) {
                (Some(e), Some(at)) => format!("  last error {} ago: {e}", ago(now - at)),
                (Some(e), None) => format!("  last error: {e}"),
                _ => String::new(),
            };
            println!(
                "  {:<24} {:<10} restarts {:>3}{err}",
                t.name, t.state, t.restarts
            );
        }
    }
    println!("accounts:");
    if s.accounts.is_empty() {
        println!("  none (`tgsift account add`)");
    }
    for a in &s.accounts {
        println!(
            "  {:<16} logged in: {:<10} breaker: {:<22} lease: {}",
            a.name, a.logged_in, a.breaker, a.lease
        );
    }
    let c = &s.channels;
    println!(
        "channels: {} active, {} parked, {} paused, {} failed",
        c.active, c.parked, c.paused, c.failed
    );
    for n in &s.attention {
        let parked = n
            .parked_secs
            .map(|p| format!(" for {}", ago(p)))
            .unwrap_or_default();
        println!(
            "  {:<22} {}{parked}: {}",
            n.channel,
            n.state,
            n.last_error.as_deref().unwrap_or("-")
        );
    }
    let total: i64 = s.tagging.values().sum();
    let parts: Vec<String> = s.tagging.iter().map(|(k, v)| format!("{k} {v}")).collect();
    println!("tagging: {total} posts: {}", parts.join(", "));
}
