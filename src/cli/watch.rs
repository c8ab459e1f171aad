//! `tgsift watch …`: standing questions whose matching posts are delivered to a sink.

use clap::{Args, Subcommand};
use tgsift_store::WatchRow;
use tokio_util::sync::CancellationToken;

use super::jobs::{cli_error, ops_without_tagging};
use crate::config::Loaded;
use crate::ops::WatchSpec;

/// `tgsift watch …`.
#[derive(Debug, Subcommand)]
pub enum WatchCommand {
    /// Watch for posts with a tag, matching a search, and/or of some channels; each match is sent
    /// once to the sink (by the running service).
    Add(AddArgs),
    /// The watches with what they delivered and what waits.
    List {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Stop a watch (its undelivered matches are dropped).
    Remove {
        /// The watch's name.
        name: String,
    },
    /// Show the newest stored posts a watch matches and send the newest through its sink, marked
    /// as a test.
    Test {
        /// The watch's name.
        name: String,
        /// Only show the posts; send nothing.
        #[arg(long)]
        dry_run: bool,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}

/// `tgsift watch add`.
#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("rule").required(true).multiple(true).args(["tag", "query", "channel"]))]
pub struct AddArgs {
    /// A name for the watch (ASCII letters, digits, - and _).
    name: String,
    /// Posts tagged this (matched once the post is tagged).
    #[arg(long, conflicts_with = "query")]
    tag: Option<String>,
    /// Posts matching this search (the syntax of `tgsift search`: all words, "quoted phrases").
    #[arg(long)]
    query: Option<String>,
    /// Only posts of this channel (@name, id or #row); repeat for several. Alone: every post of them.
    #[arg(long = "channel", value_name = "CHANNEL")]
    channel: Vec<String>,
    /// Where matches go: webhook:URL, saved-messages or telegram:@chat.
    #[arg(long)]
    sink: String,
    /// Batch matches into one message per period (30m, 1h, 1d) instead of one per post.
    #[arg(long, value_name = "PERIOD")]
    every: Option<String>,
    /// The account that sends to Telegram sinks (default: the one following the post's channel).
    #[arg(long)]
    account: Option<String>,
}

/// Runs a watch subcommand.
pub(super) async fn watch(loaded: &Loaded, cmd: WatchCommand) -> anyhow::Result<()> {
    let cancel = CancellationToken::new();
    let ops = ops_without_tagging(loaded, &cancel).await?;
    let out = run(&ops, cmd).await;
    cancel.cancel();
    out
}

async fn run(ops: &crate::ops::Ops, cmd: WatchCommand) -> anyhow::Result<()> {
    match cmd {
        WatchCommand::Add(a) => {
            let w = ops
                .add_watch(WatchSpec {
                    name: a.name,
                    tag: a.tag,
                    query: a.query,
                    channels: a.channel,
                    sink: a.sink,
                    every: a.every,
                    account: a.account,
                })
                .await
                .map_err(cli_error)?;
            println!(
                "watch {} added: {} → {}{} (posts published or edited from now on; `tgsift run` delivers)",
                w.name,
                rule(&w),
                w.sink,
                every(&w)
            );
        }
        WatchCommand::List { json } => {
            let list = ops.watches().await.map_err(cli_error)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else if list.is_empty() {
                println!("no watches: add one with `tgsift watch add NAME --tag T --sink …`");
            } else {
                for w in &list {
                    let error = w
                        .last_error
                        .as_deref()
                        .map(|e| format!(", last error: {e}"))
                        .unwrap_or_default();
                    println!(
                        "{}: {} → {}{}; delivered {}, waiting {}{error}",
                        w.name,
                        rule(w),
                        w.sink,
                        every(w),
                        w.delivered,
                        w.pending
                    );
                }
            }
        }
        WatchCommand::Remove { name } => {
            let w = ops.remove_watch(&name).await.map_err(cli_error)?;
            println!(
                "watch {} removed ({} waiting matches dropped)",
                w.name, w.pending
            );
        }
        WatchCommand::Test {
            name,
            dry_run,
            json,
        } => {
            let t = ops.test_watch(&name, !dry_run).await.map_err(cli_error)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&t)?);
            } else {
                if t.recent.is_empty() {
                    println!("no stored post matches watch {}", t.watch.name);
                } else {
                    println!("newest stored posts watch {} matches:", t.watch.name);
                    for p in &t.recent {
                        println!(
                            "  {} {}  {}",
                            p.link(),
                            super::jobs::when(Some(p.date)),
                            crate::watches::excerpt(&p.text)
                                .chars()
                                .take(80)
                                .collect::<String>()
                        );
                    }
                }
                if t.sent {
                    println!("test delivery sent to {}", t.watch.sink);
                }
            }
            if let Some(e) = t.error {
                anyhow::bail!(
                    "the test delivery to {} failed: {e} (the running service retries real matches)",
                    t.watch.sink
                );
            }
        }
    }
    Ok(())
}

/// What a watch looks for, in words.
fn rule(w: &WatchRow) -> String {
    let mut parts = Vec::new();
    if let Some(t) = &w.tag {
        parts.push(format!("tag {t}"));
    }
    if let Some(q) = &w.query {
        parts.push(format!("query \"{q}\""));
    }
    if !w.channels.is_empty() {
        let ids: Vec<String> = w.channels.iter().map(|c| format!("#{c}")).collect();
        parts.push(format!("channels {}", ids.join(", ")));
    }
    parts.join(" in ")
}

fn every(w: &WatchRow) -> String {
    w.every
        .map(|s| format!(" (digest every {s} s)"))
        .unwrap_or_default()
}
