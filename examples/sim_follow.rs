//! Live-updates client: follows `tgsift sim serve --live-rate R` through the unmodified grammers update
//! stream for a while and prints what it received, its CPU seconds and peak RSS. Used to measure the
//! simulator with a subscriber attached (README, simulator section).
//!
//! Usage: `sim_follow SESSION_FILE SECONDS` (a session written by `sim serve --session-out FILE
//! --authorized`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use grammers_client::Client;
use grammers_client::sender::SenderPool;
use grammers_client::update::Update;
use grammers_mtsender::UpdatesConfiguration;

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let t = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (t(11) + t(12)) / 100.0
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let mut args = std::env::args().skip(1);
    let (Some(session), Some(secs)) = (args.next(), args.next()) else {
        eprintln!("usage: sim_follow SESSION_FILE SECONDS");
        std::process::exit(2);
    };
    let Ok(secs) = secs.parse::<u64>() else {
        eprintln!("sim_follow: `{secs}` is not a number of seconds");
        std::process::exit(2);
    };
    let session = Arc::new(tgsift::telegram::session::SqliteSession::open(
        std::path::Path::new(&session),
    )?);
    let pool = SenderPool::new(session, 12_345);
    let client = Client::new(pool.handle);
    let updates = pool.updates;
    tokio::spawn(pool.runner.run());
    // Ask for updates on this connection, as a logged-in client does after login.
    client
        .invoke(&grammers_client::tl::functions::updates::GetState {})
        .await?;
    let mut stream = client
        .stream_updates(updates, UpdatesConfiguration { catch_up: false })
        .await?;
    let (mut new, mut edited, mut deleted) = (0u64, 0u64, 0u64);
    let t0 = Instant::now();
    let end = tokio::time::Instant::now() + Duration::from_secs(secs);
    let mut next_report = Duration::from_secs(60);
    loop {
        match tokio::time::timeout_at(end, stream.next()).await {
            Err(_) => break,
            Ok(Err(e)) => return Err(e.into()),
            Ok(Ok(Update::NewMessage(_))) => new += 1,
            Ok(Ok(Update::MessageEdited(_))) => edited += 1,
            Ok(Ok(Update::MessageDeleted(d))) => deleted += d.messages().len() as u64,
            Ok(Ok(_)) => {}
        }
        if t0.elapsed() >= next_report {
            println!(
                "t={}s new={new} edited={edited} deleted={deleted}",
                next_report.as_secs()
            );
            next_report += Duration::from_secs(60);
        }
    }
    println!(
        "seconds={secs} new={new} edited={edited} deleted={deleted} per_s={:.1} client_cpu_s={:.2} client_peak_rss_kib={}",
        new as f64 / secs as f64,
        cpu_secs(),
        peak_rss_kib()
    );
    Ok(())
}
