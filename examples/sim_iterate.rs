//! Benchmark client: iterates one channel through the unmodified grammers client, storing nothing, and
//! prints messages/s, requests/s, its own CPU seconds and peak RSS. Used by `scripts/bench.sh` against
//! `tgsift sim serve` in another process.
//!
//! Usage: `sim_iterate SESSION_FILE @channel`

use std::sync::Arc;
use std::time::Instant;

use grammers_client::Client;
use grammers_client::sender::SenderPool;

fn proc_stat_cpu_secs(pid: &str) -> f64 {
    // utime and stime are fields 14 and 15 of /proc/PID/stat, in clock ticks (100 per second on Linux).
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let t = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (t(11) + t(12)) / 100.0
}

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(session), Some(channel)) = (args.next(), args.next()) else {
        eprintln!("usage: sim_iterate SESSION_FILE @channel");
        std::process::exit(2);
    };
    let session = Arc::new(tgsift::telegram::session::SqliteSession::open(
        std::path::Path::new(&session),
    )?);
    let pool = SenderPool::new(session, 12_345);
    let client = Client::new(pool.handle);
    tokio::spawn(pool.runner.run());

    let peer = client
        .resolve_username(channel.trim_start_matches('@'))
        .await?
        .ok_or("channel not found")?
        .to_ref()
        .await
        .map_err(|e| e.to_string())?
        .ok_or("channel has no access hash")?;
    let cpu0 = proc_stat_cpu_secs("self");
    let t0 = Instant::now();
    let mut it = client.iter_messages(peer);
    let mut n: u64 = 0;
    while let Some(m) = it.next().await? {
        n += 1;
        std::hint::black_box(m.text().len());
    }
    let secs = t0.elapsed().as_secs_f64();
    let requests = n.div_ceil(100) + 1;
    println!(
        "messages={n} seconds={secs:.3} msgs_per_s={:.0} reqs_per_s={:.1} client_cpu_s={:.2} client_peak_rss_kib={}",
        n as f64 / secs,
        requests as f64 / secs,
        proc_stat_cpu_secs("self") - cpu0,
        peak_rss_kib()
    );
    Ok(())
}
