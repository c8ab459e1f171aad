//! `tgsift run` (the service) and `tgsift demo` (the whole job on an embedded simulated Telegram).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use tokio_util::sync::CancellationToken;

use crate::config::Loaded;
use crate::ingest::service::{RunOptions, RunSummary};
use crate::service;
use crate::sim::{FloodConfig, RandomFaults, Scripted, Sim, SimConfig};
use crate::store::{AsyncStore, NewChannel, Store};
use crate::tagging::worker::{PassReport, Pipeline};
use crate::telegram::client::{Account, Policy};
use crate::telegram::login::{self, Scripted as ScriptedPrompt};

/// Options of `tgsift run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Fetch everything new for every active channel (backfill included), then exit; non-zero if any
    /// channel failed.
    #[arg(long)]
    pub once: bool,
}

/// Cancels on the first SIGINT/SIGTERM; exits at once on the second.
pub fn shutdown_on_signals() -> CancellationToken {
    let cancel = CancellationToken::new();
    let token = cancel.clone();
    tokio::spawn(async move {
        let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        else {
            return;
        };
        let mut first = true;
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            if first {
                tracing::info!(
                    "shutting down: finishing the batch in flight (signal again to exit at once)"
                );
                token.cancel();
                first = false;
            } else {
                eprintln!("second signal: exiting now");
                std::process::exit(130);
            }
        }
    });
    cancel
}

fn print_summary(s: &RunSummary) {
    for c in &s.channels {
        let state = c.error.as_deref().unwrap_or("ok");
        println!(
            "{:<12} {:<22} {:>8} new {:>6} edited  {state}",
            c.account, c.channel, c.inserted, c.edited
        );
    }
    println!(
        "floods: {} received, {} slept through ({:.1} s); reconnects/retries: {}; elapsed {:.1} s",
        s.floods,
        s.flood_sleeps,
        s.flood_sleep.as_secs_f64(),
        s.retries,
        s.elapsed.as_secs_f64()
    );
}

fn print_tagging(r: &PassReport) {
    println!(
        "tagging: {} tagged, {} to retry, {} failed{}",
        r.tagged,
        r.retrying,
        r.failed,
        if r.stale > 0 {
            format!(", {} changed while tagged (due again)", r.stale)
        } else {
            String::new()
        }
    );
}

/// `tgsift run [--once]`.
pub async fn run(loaded: &Loaded, args: RunArgs) -> anyhow::Result<()> {
    let store = AsyncStore::open(loaded.config.storage.database.clone()).await?;
    let cancel = shutdown_on_signals();
    let opts = RunOptions {
        once: args.once,
        poll_interval: Duration::from_secs_f64(loaded.config.ingest.poll_interval),
        progress: true,
    };
    let pipeline = Pipeline::from_config(&loaded.config.tagging, store.clone())
        .map_err(|e| super::UsageError(format!("tagging backend: {e}")))?;
    let report = service::run(&loaded.config, store, opts, pipeline, cancel.clone()).await?;
    let summary = &report.ingest;
    if args.once {
        print_tagging(&report.tagging);
    }
    if summary.channels.is_empty() {
        println!("no active channels: add one with `tgsift channels add ACCOUNT @channel`");
        return Ok(());
    }
    if args.once || summary.interrupted {
        print_summary(summary);
    }
    let failed = summary.failed();
    if args.once && !summary.interrupted && !failed.is_empty() {
        let list: Vec<String> = failed
            .iter()
            .map(|c| {
                format!(
                    "{} ({}): {}",
                    c.channel,
                    c.account,
                    c.error.as_deref().unwrap_or("")
                )
            })
            .collect();
        anyhow::bail!(
            "{} channel(s) failed:\n  {}",
            failed.len(),
            list.join("\n  ")
        );
    }
    Ok(())
}

/// Options of `tgsift demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where to leave the demo database.
    #[arg(long, default_value = "demo.db")]
    pub out: PathBuf,
    /// Posts in all (split over three channels: Russian, English, mixed).
    #[arg(long, default_value_t = 21_000)]
    pub posts: i32,
}

/// `tgsift demo`: simulator with floods and disconnects, a demo account onboarded non-interactively,
/// three channels backfilled by the real service, a summary, and `demo.db` left to explore.
pub async fn demo(args: DemoArgs) -> anyhow::Result<()> {
    let work = args.out.with_extension("sessions");
    for stale in [
        &args.out,
        &args.out.with_extension("db-wal"),
        &args.out.with_extension("db-shm"),
    ] {
        let _ = std::fs::remove_file(stale);
    }
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;

    let mut config = SimConfig::generated(2026, 3, args.posts / 3);
    config.flood = FloodConfig::realistic();
    config.faults = RandomFaults {
        disconnect: 0.01,
        internal: 0.01,
        flood: 0.01,
        flood_secs: 1,
        ..Default::default()
    };
    let sim = Sim::start(config).await.context("starting the simulator")?;
    // One long flood: its channel is parked while the others go on, then picked up again.
    sim.script(Scripted::on("messages.getHistory", crate::sim::Fault::FloodWait(3)).after(40));
    let acc = sim.accounts()[0].clone();
    println!(
        "simulated Telegram on {} with channels {}",
        sim.addr(crate::sim::HOME_DC)
            .map(|a| a.to_string())
            .unwrap_or_default(),
        sim.channel_usernames().join(" ")
    );

    // Onboard the demo account exactly as `tgsift account add --code-from` would.
    let session_path = work.join("demo.session");
    let session = sim.write_session(&session_path, 0, false)?;
    let mut loaded = Loaded::load(&crate::config::LoadOptions::default())?;
    loaded.set_database(args.out.clone());
    loaded.config.telegram.flood_sleep_threshold = 2;
    loaded.config.telegram.retry_delay = 0.2;
    loaded.config.telegram.retry_max_delay = 2.0;
    loaded.config.telegram.pacer_initial_rate = 20.0;
    let cancel = CancellationToken::new();
    let account = Account::new(
        "demo",
        Arc::new(session),
        12_345,
        Policy::from(&loaded.config.telegram),
        cancel.child_token(),
    );
    let mut prompt = ScriptedPrompt {
        codes: vec![acc.code.clone()],
        passwords: vec![],
    };
    let user_id = login::login(
        account.raw(),
        &acc.phone,
        "0123456789abcdef0123456789abcdef",
        &mut prompt,
    )
    .await?;
    println!("logged in demo account as user {user_id}");

    let mut store = Store::open(&args.out)?;
    let row = store.add_account("demo", Some(&acc.phone), Some(user_id), &session_path)?;
    for name in sim.channel_usernames() {
        let info = account
            .resolve_username(name.trim_start_matches('@'))
            .await?;
        store.add_channel(
            row.id,
            &NewChannel {
                tg_id: info.id,
                access_hash: info.access_hash,
                username: info.username.clone(),
                title: info.title.clone(),
                backfill: "all".into(),
            },
        )?;
    }
    drop(account);
    cancel.cancel();

    // The real service, until everything is backfilled and tagged: parked channels are retried after
    // their wait; tagging keeps up beside ingest.
    loaded.config.telegram.api_id = Some(12_345);
    let store = AsyncStore::new(store);
    let pipeline = Pipeline::from_config(&loaded.config.tagging, store.clone())
        .map_err(|e| super::UsageError(format!("tagging backend: {e}")))?;
    let stop = shutdown_on_signals();
    let mut total = RunSummary::default();
    let mut tagged = PassReport::default();
    loop {
        let opts = RunOptions {
            once: true,
            poll_interval: Duration::from_secs(60),
            progress: true,
        };
        let r = service::run(
            &loaded.config,
            store.clone(),
            opts,
            pipeline.clone(),
            stop.clone(),
        )
        .await?;
        let s = r.ingest;
        tagged.tagged += r.tagging.tagged;
        tagged.retrying += r.tagging.retrying;
        tagged.failed += r.tagging.failed;
        total.floods += s.floods;
        total.flood_sleeps += s.flood_sleeps;
        total.flood_sleep += s.flood_sleep;
        total.retries += s.retries;
        total.elapsed += s.elapsed;
        for c in s.channels {
            match total.channels.iter_mut().find(|t| t.channel == c.channel) {
                Some(t) => {
                    t.inserted += c.inserted;
                    t.edited += c.edited;
                    t.error = c.error;
                }
                None => total.channels.push(c),
            }
        }
        let parked = total
            .channels
            .iter()
            .any(|c| c.error.as_deref().is_some_and(|e| e.contains("parked")));
        if !parked || stop.is_cancelled() {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    println!();
    print_summary(&total);
    print_tagging(&tagged);
    let tags = store
        .read("summarise the tags", |s| {
            let mut per_channel = Vec::new();
            for c in s.channels()? {
                let stats = s.channel_tag_stats(c.id)?;
                let top = s.top_tags(Some(c.id), 5)?;
                per_channel.push((c.label(), stats, top));
            }
            Ok((per_channel, s.top_tags(None, 10)?))
        })
        .await?;
    let (per_channel, top) = tags;
    println!("\ntags per channel:");
    for (label, (posts, with_tags, distinct), top) in &per_channel {
        let names: Vec<&str> = top.iter().map(|(t, _)| t.as_str()).collect();
        println!(
            "  {label:<14} {with_tags:>6} of {posts:>6} posts tagged, {distinct:>5} distinct tags; top: {}",
            names.join(", ")
        );
    }
    let top: Vec<String> = top.iter().map(|(t, n)| format!("{t} ({n})")).collect();
    println!("top tags: {}", top.join(", "));
    println!("\nposts and tags are in {}", args.out.display());
    println!(
        "explore it: tgsift --db {} channels list; tgsift --db {} posts list --tag \"{}\"",
        args.out.display(),
        args.out.display(),
        per_channel
            .first()
            .and_then(|c| c.2.first())
            .map(|t| t.0.as_str())
            .unwrap_or("")
    );
    if let Some(c) = total.failed().first() {
        anyhow::bail!(
            "channel {} did not finish: {}",
            c.channel,
            c.error.as_deref().unwrap_or("")
        );
    }
    Ok(())
}
