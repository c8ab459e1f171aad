//! Benchmark of the adaptive pacer: one account pages a channel with messages.getHistory through the
//! client layer against the simulator's realistic flood preset (getHistory: 20 requests/s, burst 30),
//! and reports the rate reached after warm-up as a share of the allowed rate, and FLOOD_WAITs per 10,000
//! messages. Usage: `pacer_bench [POSTS] [WARMUP_SECS]`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use grammers_client::session::storages::MemorySession;
use grammers_tl_types as tl;
use tgsift::telegram::client::{Account, Policy, Stats};
use tgsift::telegram::pacer::PacerConfig;
use tgsift_sim::{FloodConfig, Sim, SimConfig};
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let posts: i32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let warmup = Duration::from_secs(args.next().and_then(|a| a.parse().ok()).unwrap_or(30));
    let flood = FloodConfig::realistic();
    let allowed = flood
        .limit("messages.getHistory")
        .map(|l| l.per_second)
        .unwrap_or(f64::INFINITY);
    let mut config = SimConfig::generated(1, 1, posts);
    config.flood = flood;
    let sim = Sim::start(config).await?;
    let username = sim.channel_usernames()[0].clone();
    let (id, hash) = sim
        .with_channel(&username, |c| (c.spec().id, c.spec().access_hash))
        .ok_or("no channel")?;

    let policy = Policy {
        flood_threshold: Duration::from_secs(60),
        flood_max_retries: 5,
        connection_retries: Some(5),
        retry_delay: Duration::from_secs(1),
        retry_max_delay: Duration::from_secs(60),
        request_timeout: Duration::from_secs(30),
        ping_deadline: Duration::from_secs(20),
        breaker_threshold: 5,
        breaker_cooldown: Duration::from_secs(30),
        pacer: PacerConfig::default(),
        max_in_flight: 1,
        identity: tgsift::config::Loaded::load(&tgsift::config::LoadOptions::default())?
            .config
            .telegram
            .identity(),
        proxy: None,
    };
    let session = Arc::new(MemorySession::from(sim.new_session(0, true)));
    let account = Account::new("bench", session, 12_345, policy, CancellationToken::new());

    let t0 = Instant::now();
    let mut offset_id = 0;
    let (mut messages, mut steady_messages, mut steady_requests) = (0u64, 0u64, 0u64);
    let mut steady_start: Option<(Instant, u64)> = None;
    loop {
        let page = account
            .invoke(&tl::functions::messages::GetHistory {
                peer: tl::enums::InputPeer::Channel(tl::types::InputPeerChannel {
                    channel_id: id,
                    access_hash: hash,
                }),
                offset_id,
                offset_date: 0,
                add_offset: 0,
                limit: 100,
                max_id: 0,
                min_id: 0,
                hash: 0,
            })
            .await?;
        let msgs = match page {
            tl::enums::messages::Messages::ChannelMessages(m) => m.messages,
            _ => Vec::new(),
        };
        let Some(last) = msgs.last() else { break };
        offset_id = last.id();
        messages += msgs.len() as u64;
        if steady_start.is_none() && t0.elapsed() >= warmup {
            steady_start = Some((Instant::now(), Stats::get(&account.stats().floods)));
        }
        if steady_start.is_some() {
            steady_messages += msgs.len() as u64;
            steady_requests += 1;
        }
    }
    let total = t0.elapsed().as_secs_f64();
    let floods_total = Stats::get(&account.stats().floods);
    let (steady_secs, steady_floods) = match steady_start {
        Some((t, f)) => (t.elapsed().as_secs_f64(), floods_total - f),
        None => (0.0, 0),
    };
    let steady_rate = steady_requests as f64 / steady_secs.max(f64::MIN_POSITIVE);
    println!(
        "pacer on the realistic preset (getHistory allowed {allowed:.0} req/s, burst 30), {posts} posts"
    );
    println!("{:<44} {messages}", "messages fetched");
    println!("{:<44} {total:.1}", "elapsed, s");
    println!(
        "{:<44} {floods_total}",
        "FLOOD_WAITs in all (warm-up included)"
    );
    println!("{:<44} {:.0}", "warm-up excluded, s", warmup.as_secs_f64());
    println!("{:<44} {steady_rate:.2}", "steady request rate, req/s");
    println!(
        "{:<44} {:.1} %",
        "share of the allowed rate",
        100.0 * steady_rate / allowed
    );
    println!("{:<44} {steady_floods}", "FLOOD_WAITs after warm-up");
    println!(
        "{:<44} {:.2}",
        "FLOOD_WAITs per 10,000 messages after warm-up",
        steady_floods as f64 * 10_000.0 / steady_messages.max(1) as f64
    );
    println!(
        "{:<44} {}",
        "requests inside a flood window (sim log)",
        sim.log().requests_inside_flood_windows().len()
    );
    Ok(())
}
