//! `tgsift run` (the service) and `tgsift demo` (the whole job on an embedded simulated Telegram).

use std::path::PathBuf;

use clap::Args;
use tokio_util::sync::CancellationToken;

use crate::config::Loaded;
use crate::ingest::service::{RunOptions, RunSummary};
use crate::service;
use crate::store::AsyncStore;
use crate::tagging::worker::{PassReport, Pipeline};

/// Options of `tgsift run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Fetch everything new for every active channel (backfill included), then exit; non-zero if any
    /// channel failed.
    #[arg(long)]
    pub once: bool,
    /// Serve the HTTP API, /metrics and health checks on this address (overrides `http.listen`).
    #[arg(long, value_name = "ADDR", conflicts_with = "once")]
    pub http: Option<String>,
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
    let mut loaded = loaded.clone();
    if let Some(addr) = args.http {
        loaded.config.http.listen = Some(addr);
    }
    let loaded = &loaded;
    let store = AsyncStore::open_database(&loaded.config.storage.database).await?;
    let cancel = shutdown_on_signals();
    let opts = RunOptions {
        once: args.once,
        progress: true,
        ..RunOptions::from_config(&loaded.config.ingest)
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

/// `tgsift demo`: see [`crate::ops::demo`]; prints what it did.
pub async fn demo(args: DemoArgs) -> anyhow::Result<()> {
    let say = |line: String| println!("{line}");
    let r = crate::ops::demo::run(&args.out, args.posts, &say, shutdown_on_signals()).await?;
    println!();
    print_summary(&r.ingest);
    print_tagging(&r.tagging);
    println!("\ntags per channel:");
    for c in &r.channels {
        let names: Vec<&str> = c.top.iter().map(|(t, _)| t.as_str()).collect();
        println!(
            "  {:<14} {:>6} of {:>6} posts tagged, {:>5} distinct tags; top: {}",
            c.channel,
            c.with_tags,
            c.posts,
            c.distinct,
            names.join(", ")
        );
    }
    let top: Vec<String> = r.top.iter().map(|(t, n)| format!("{t} ({n})")).collect();
    println!("top tags: {}", top.join(", "));
    println!("\nposts and tags are in {}", args.out.display());
    println!(
        "explore it: tgsift --db {} channels list; tgsift --db {} posts list --tag \"{}\"",
        args.out.display(),
        args.out.display(),
        r.channels
            .first()
            .and_then(|c| c.top.first())
            .map(|t| t.0.as_str())
            .unwrap_or("")
    );
    if let Some(c) = r.ingest.failed().first() {
        anyhow::bail!(
            "channel {} did not finish: {}",
            c.channel,
            c.error.as_deref().unwrap_or("")
        );
    }
    Ok(())
}
