//! `tgsift status`: renders [`Ops::status`](crate::ops::Ops::status) as text or JSON.

use tgsift_store::unix_now;

use crate::config::Loaded;
use crate::ops::status::ServiceStatus;

fn ago(secs: i64) -> String {
    match secs.max(0) {
        s @ 0..=119 => format!("{s} s"),
        s @ 120..=7_199 => format!("{} min", s / 60),
        s @ 7_200..=172_799 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        s => format!("{} days", s / 86_400),
    }
}

/// `tgsift status [--json]`.
pub(super) fn status(loaded: &Loaded, json: bool) -> anyhow::Result<()> {
    let status = super::admin(loaded, async |ops| ops.status().await)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&status)?);
        return Ok(());
    }
    print(&status, unix_now());
    Ok(())
}

fn print(s: &ServiceStatus, now: i64) {
    match (&s.worker, s.running) {
        (Some(w), true) => println!(
            "service: running on {} (pid {}, tgsift {}), up {}, heartbeat {} ago{}",
            w.host,
            w.pid,
            w.version,
            ago(now - w.started_at),
            ago(now - w.heartbeat_at),
            match s.workers_running {
                0 | 1 => String::new(),
                n => format!("; {n} workers running (`tgsift workers`)"),
            }
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
            "  {:<16} {:<11} logged in: {:<10} breaker: {:<22} lease: {}",
            a.name, a.state, a.logged_in, a.breaker, a.lease
        );
        if let Some(advice) = &a.what_to_do {
            println!("    {advice}");
        }
    }
    let c = &s.channels;
    println!(
        "channels: {} active, {} waiting (account unreachable), {} parked, {} paused, {} failed; {} left by their account",
        c.active, c.waiting, c.parked, c.paused, c.failed, c.left
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
    if total == 0 {
        println!("tagging: no posts yet");
    } else {
        println!("tagging: {total} posts: {}", parts.join(", "));
    }
    let m = &s.media;
    let f = &m.files;
    if !m.enabled && f.done + f.pending + f.failed == 0 {
        println!("media: not downloaded (media.download is empty)");
    } else {
        let failed = if f.failed > 0 {
            format!(
                ", {} failed (`tgsift media retry` queues them again)",
                f.failed
            )
        } else {
            String::new()
        };
        println!(
            "media: {} files in {} ({} of the {} quota), {} pending{failed}",
            f.done,
            m.dir,
            super::tags::readable_size(f.bytes),
            super::tags::readable_size(m.quota),
            f.pending,
        );
    }
    let c = &s.comments;
    if c.channels == 0 && c.comments == 0 {
        println!("comments: not read (`channels add … --comments` or ingest.comments = true)");
    } else {
        println!(
            "comments: {} under {} posts of {} channels",
            c.comments, c.threads, c.channels
        );
    }
}
