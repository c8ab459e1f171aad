//! `tgsift run` (the service) and `tgsift demo` (the whole job on an embedded simulated Telegram).

use clap::Args;
use tokio_util::sync::CancellationToken;

use crate::config::Loaded;
use crate::ingest::account::{RunOptions, RunSummary};
use crate::runtime;
use crate::tagging::worker::PassReport;

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
pub(super) fn shutdown_on_signals() -> CancellationToken {
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

pub(super) fn print_summary(s: &RunSummary) {
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

pub(super) fn print_tagging(r: &PassReport) {
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
pub(super) async fn run(loaded: &Loaded, args: RunArgs) -> anyhow::Result<()> {
    let mut loaded = loaded.clone();
    if let Some(addr) = args.http {
        loaded.config.http.listen = Some(addr);
    }
    let loaded = &loaded;
    let cancel = shutdown_on_signals();
    let opts = RunOptions {
        once: args.once,
        progress: true,
        ..RunOptions::from_config(&loaded.config.ingest)
    };
    let report = runtime::start(&loaded.config, opts, cancel.clone()).await?;
    let summary = &report.ingest;
    if args.once {
        print_tagging(&report.tagging);
    }
    if summary.channels.is_empty() {
        if report.active_channels == 0 {
            println!("no active channels: add one with `tgsift channels add ACCOUNT @channel`");
        } else {
            // Live mode follows its channels by updates: no poll ran, so there is no per-channel table.
            println!(
                "stopped after {:.0?}: {} active channel(s), none polled in this run (pushed posts \
                 are counted in /metrics and `tgsift stats`)",
                summary.elapsed, report.active_channels
            );
        }
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
