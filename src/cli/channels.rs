//! `tgsift channels …` and `tgsift reparse`: which channels are followed, their state, and completeness.

use anyhow::Context;
use clap::{Args, Subcommand};
use tgsift_store::unix_now;
use tokio_util::sync::CancellationToken;

use super::jobs::{cli_error, submit};
use crate::config::Loaded;
use crate::ops::JobSpec;

/// `tgsift channels …`.
#[derive(Debug, Subcommand)]
pub enum ChannelsCommand {
    /// Follow a channel with an account (`@username`, a t.me link, or a numeric id the account has seen).
    Add(AddArgs),
    /// Read the comments under a followed channel's posts from now on (or stop, with `--off`;
    /// those stored stay).
    Comments {
        /// `@username`, numeric id, or `#row`.
        channel: String,
        /// Stop reading them.
        #[arg(long)]
        off: bool,
    },
    /// Follow every channel the account is a member of (its dialog list; no username is resolved).
    ///
    /// Pages `messages.getDialogs` and follows each broadcast channel (with `--groups` each
    /// supergroup too) by the access hash that comes with it. Resumable: a FLOOD_WAIT or a restart
    /// goes on from the page it stopped at.
    Import(ImportArgs),
    /// Stop polling the channels the account has left (marked `left` in `channels list`); their
    /// posts stay. `channels resume` follows one again.
    PruneLeft {
        /// Only this account's channels (default: every account's).
        account: Option<String>,
    },
    /// Every followed channel: posts, checkpoint, last fetch, flood state, last error.
    List,
    /// Stop polling a channel (its posts stay).
    Pause {
        /// `@username`, numeric id, or `#row`.
        channel: String,
    },
    /// Poll a paused or failed channel again (clears its error and flood park).
    Resume {
        /// `@username`, numeric id, or `#row`.
        channel: String,
    },
    /// Stop following a channel and delete its stored posts.
    Remove {
        /// `@username`, numeric id, or `#row`.
        channel: String,
    },
    /// Compare stored posts and fetched ranges with the server's count; report gaps.
    Audit {
        /// One channel (default: all).
        channel: Option<String>,
    },
}

/// Options of `tgsift channels add`.
#[derive(Debug, Args)]
pub struct AddArgs {
    /// Account name.
    pub account: String,
    /// The channel.
    pub channel: String,
    /// What to fetch first: `all`, a number N (the newest N messages) or `since:YYYY-MM-DD`.
    #[arg(long)]
    pub backfill: Option<String>,
    /// Queue the job and return at once (a running service executes it).
    #[arg(long)]
    pub no_wait: bool,
    /// Join the channel (public channels), so its new posts, edits and deletions are pushed to
    /// the account (live mode) instead of being polled for.
    #[arg(long)]
    pub join: bool,
    /// Read the comments under its posts too (channels with a discussion group); also for a
    /// channel already followed. `ingest.comments = true` reads them for every channel.
    #[arg(long)]
    pub comments: bool,
}

/// Options of `tgsift channels import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Account name.
    pub account: String,
    /// Only channels whose title or @username matches this regular expression.
    #[arg(long, value_name = "REGEX")]
    pub filter: Option<String>,
    /// Leave out channels whose title or @username matches this regular expression.
    #[arg(long, value_name = "REGEX")]
    pub exclude: Option<String>,
    /// What each channel followed fetches first: `all`, a number N or `since:YYYY-MM-DD`
    /// (default: `ingest.backfill`).
    #[arg(long)]
    pub backfill: Option<String>,
    /// Follow supergroups (megagroups) too, not only broadcast channels.
    #[arg(long)]
    pub groups: bool,
    /// List what would be followed and what is skipped (and why); change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Queue the job and return at once (a running service executes it).
    #[arg(long)]
    pub no_wait: bool,
}

/// Options of `tgsift reparse`.
#[derive(Debug, Args)]
pub struct ReparseArgs {
    /// `@username`, numeric id, or `#row`.
    pub channel: String,
    /// First message id to fetch again.
    #[arg(long, requires = "to_id", conflicts_with = "all")]
    pub from_id: Option<i32>,
    /// Last message id to fetch again.
    #[arg(long, requires = "from_id")]
    pub to_id: Option<i32>,
    /// The whole history.
    #[arg(long, required_unless_present = "from_id")]
    pub all: bool,
    /// Queue the job and return at once (a running service executes it).
    #[arg(long)]
    pub no_wait: bool,
}

/// Runs a channels subcommand.
pub(super) fn run(loaded: &Loaded, cmd: ChannelsCommand) -> anyhow::Result<()> {
    match cmd {
        ChannelsCommand::Add(args) => super::runtime()?.block_on(add(loaded, args)),
        ChannelsCommand::List => list(loaded),
        ChannelsCommand::Import(args) => super::runtime()?.block_on(import(loaded, args)),
        ChannelsCommand::PruneLeft { account } => {
            let pruned =
                super::admin(loaded, async |ops| ops.prune_left(account.as_deref()).await)?;
            if pruned.is_empty() {
                println!("no followed channel has been left");
            }
            for c in pruned {
                println!(
                    "{} ({}) of account {}: no longer polled (the account left it); its posts stay",
                    c.label, c.title, c.account
                );
            }
            Ok(())
        }
        ChannelsCommand::Comments { channel, off } => {
            let ch = super::admin(loaded, async |ops| {
                let ch = ops.channel(&channel).await?;
                ops.set_channel_comments(ch.id, !off).await?;
                Ok(ch)
            })?;
            let all = loaded.config.ingest.comments;
            match (off, all) {
                (false, _) => println!("{}: its comments are read", ch.label()),
                (true, false) => println!("{}: its comments are no longer read", ch.label()),
                (true, true) => println!(
                    "{}: no longer flagged, but ingest.comments = true still reads every channel's comments",
                    ch.label()
                ),
            }
            Ok(())
        }
        ChannelsCommand::Pause { channel } => set_active(loaded, &channel, false),
        ChannelsCommand::Resume { channel } => set_active(loaded, &channel, true),
        ChannelsCommand::Remove { channel } => {
            let ch = super::admin(loaded, async |ops| {
                let ch = ops.channel(&channel).await?;
                ops.remove_channel(ch.id).await
            })?;
            println!(
                "stopped following {} ({}); its posts were deleted",
                ch.label, ch.title
            );
            Ok(())
        }
        ChannelsCommand::Audit { channel } => {
            super::runtime()?.block_on(audit(loaded, channel.as_deref()))
        }
    }
}

async fn add(loaded: &Loaded, args: AddArgs) -> anyhow::Result<()> {
    let AddArgs {
        account,
        channel,
        backfill,
        join,
        comments,
        no_wait,
    } = args;
    let reference = channel.clone();
    let spec = JobSpec::ChannelAdd {
        account: account.clone(),
        channel,
        backfill,
        join,
        comments,
        resolved: None,
    };
    let Some(job) = submit(loaded, spec, no_wait)
        .await
        .with_context(|| format!("adding {reference} (nothing was stored)"))?
    else {
        return Ok(());
    };
    let r = job.result.unwrap_or_default();
    let text = |k: &str| r.get(k).and_then(|v| v.as_str()).unwrap_or("").to_string();
    let comments = if r.get("comments").and_then(|v| v.as_bool()) == Some(true) {
        "; comments are read"
    } else {
        ""
    };
    if r.get("added").and_then(|v| v.as_bool()) == Some(true) {
        println!(
            "following {} ({}) with account {account}; backfill {}; {}{comments}",
            text("label"),
            text("title"),
            text("backfill"),
            text("how")
        );
    } else {
        println!(
            "account {account} already follows {reference}; {}{comments}",
            text("how")
        );
    }
    Ok(())
}

async fn import(loaded: &Loaded, args: ImportArgs) -> anyhow::Result<()> {
    let ImportArgs {
        account,
        filter,
        exclude,
        backfill,
        groups,
        dry_run,
        no_wait,
    } = args;
    let spec = JobSpec::ChannelsImport {
        account: account.clone(),
        filter,
        exclude,
        backfill,
        groups,
        dry_run,
    };
    let Some(job) = submit(loaded, spec, no_wait)
        .await
        .with_context(|| format!("importing the channels of account {account}"))?
    else {
        return Ok(());
    };
    let r = job.result.unwrap_or_default();
    let n = |k: &str| r.get(k).and_then(|v| v.as_i64()).unwrap_or(0);
    let list = |k: &str| {
        r.get(k)
            .and_then(|v| v.as_array())
            .cloned()
            .unwrap_or_default()
    };
    let text = |v: &serde_json::Value, k: &str| {
        v.get(k).and_then(|v| v.as_str()).unwrap_or("").to_string()
    };
    if let Some(page) = r.get("resumed_at_page").and_then(|v| v.as_i64()) {
        println!("went on at page {page}, where the previous attempt stopped");
    }
    let verb = if dry_run { "would follow" } else { "followed" };
    for c in list("followed") {
        println!(
            "{verb} {} ({}, {})",
            text(&c, "label"),
            text(&c, "title"),
            text(&c, "kind")
        );
    }
    if dry_run {
        for c in list("already") {
            println!(
                "already followed {} ({})",
                text(&c, "label"),
                text(&c, "title")
            );
        }
        for c in list("skipped") {
            println!(
                "skip {} ({}): {}",
                text(&c, "label"),
                text(&c, "title"),
                text(&c, "reason")
            );
        }
    }
    println!(
        "account {account}: {} dialogs in {} pages; {verb} {}, {} already followed, {} skipped{}",
        n("dialogs"),
        n("pages"),
        n("followed_count"),
        n("already_count"),
        n("skipped_count"),
        if dry_run {
            " (dry run: nothing was stored)"
        } else {
            ""
        }
    );
    Ok(())
}

fn ago(t: Option<i64>) -> String {
    match t {
        None => "never".into(),
        Some(t) => {
            let s = (unix_now() - t).max(0);
            match s {
                0..=119 => format!("{s} s ago"),
                120..=7_199 => format!("{} min ago", s / 60),
                _ => format!("{} h ago", s / 3600),
            }
        }
    }
}

fn list(loaded: &Loaded) -> anyhow::Result<()> {
    let channels = super::admin(loaded, async |ops| ops.channels().await)?;
    if channels.is_empty() {
        println!("no channels: add one with `tgsift channels add ACCOUNT @channel`");
        return Ok(());
    }
    println!(
        "{:<5} {:<12} {:<22} {:<8} {:>8} {:>9} {:<14} {:<16} last error",
        "row", "account", "channel", "state", "posts", "last id", "last fetch", "flood"
    );
    let now = unix_now();
    for c in channels {
        // A parked channel is still active; its park shows in the flood column.
        let state = if c.left_at.is_some() {
            "left"
        } else if c.state == "parked" {
            "active"
        } else {
            c.state.as_str()
        };
        let flood = match c.flood_until.filter(|u| *u > now) {
            Some(u) => format!("parked {} s", u - now),
            None => "-".into(),
        };
        // Waiting: the account cannot reach Telegram, so nothing is fetched; that is the news.
        let note = match (c.left_at, c.waiting_since) {
            (Some(at), _) => format!(
                "the account left it on {} (`tgsift channels prune-left` stops polling it)",
                clock(at)
            ),
            (None, Some(since)) => format!("waiting: account unreachable since {}", clock(since)),
            (None, None) => c.last_error.clone().unwrap_or_else(|| "-".into()),
        };
        println!(
            "{:<5} {:<12} {:<22} {:<8} {:>8} {:>9} {:<14} {:<16} {}",
            format!("#{}", c.id),
            c.account,
            c.label,
            state,
            c.posts,
            c.last_message_id,
            ago(c.last_fetch_at),
            flood,
            note
        );
    }
    Ok(())
}

/// `2026-12-07 10:41 UTC`.
fn clock(ts: i64) -> String {
    jiff::Timestamp::from_second(ts)
        .map(|t| t.strftime("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|_| ts.to_string())
}

fn set_active(loaded: &Loaded, reference: &str, active: bool) -> anyhow::Result<()> {
    let ch = super::admin(loaded, async |ops| {
        let ch = ops.channel(reference).await?;
        ops.set_channel_active(ch.id, active).await
    })?;
    println!("{} {}", ch.label, if active { "resumed" } else { "paused" });
    Ok(())
}

async fn audit(loaded: &Loaded, reference: Option<&str>) -> anyhow::Result<()> {
    let cancel = CancellationToken::new();
    let ops = super::jobs::ops(loaded, &cancel).await?;
    if loaded.config.telegram.api_id.is_none() {
        loaded.config.telegram.credentials()?;
    }
    let report = ops.audit(reference).await.map_err(cli_error);
    cancel.cancel();
    let mut incomplete = 0;
    for a in report? {
        if !a.complete() {
            incomplete += 1;
        }
        println!(
            "{} ({}): stored {} posts, server count {} messages (service messages included), checkpoint {}, server newest {}",
            a.channel,
            a.account,
            a.stored,
            a.server_count
                .map(|n| n.to_string())
                .unwrap_or_else(|| "unknown".into()),
            a.checkpoint,
            a.server_newest
        );
        if let Some(e) = &a.server_error {
            println!("  could not ask the server: {e}");
        }
        if !a.gaps.is_empty() {
            let shown: Vec<String> = a
                .gaps
                .iter()
                .take(10)
                .map(|(x, y)| format!("{x}-{y}"))
                .collect();
            println!(
                "  ids never fetched: {} (repair: tgsift reparse {} --from-id A --to-id B)",
                shown.join(", "),
                a.channel
            );
        }
        if !a.short.is_empty() {
            let shown: Vec<String> = a
                .short
                .iter()
                .take(10)
                .map(|(x, y, n)| format!("{x}-{y} ({n} of {})", y - x + 1))
                .collect();
            println!(
                "  {} fetched range(s) answered with fewer messages than ids ({} ids without a message: deleted, hidden from this account, or never used; every id was asked for): {}{}",
                a.short.len(),
                a.unanswered(),
                shown.join(", "),
                if a.short.len() > 10 { ", …" } else { "" }
            );
        }
        if a.hidden > 0 {
            println!(
                "  {} stored post(s) gone from this account's view (deleted or hidden; kept, marked hidden)",
                a.hidden
            );
        }
        if a.behind() > 0 {
            println!(
                "  {} newer ids not fetched yet (run `tgsift run --once`)",
                a.behind()
            );
        }
        if a.complete() && a.server_error.is_none() && a.short.is_empty() {
            println!("  complete");
        } else if a.complete() && a.server_error.is_none() {
            println!(
                "  complete by ids (every id asked for; the short ranges above hold fewer messages)"
            );
        } else if a.complete() {
            println!("  no gaps in what is stored (the server's newest id is unknown)");
        }
    }
    if incomplete > 0 {
        anyhow::bail!("{incomplete} channel(s) incomplete");
    }
    Ok(())
}

/// `tgsift reparse`: fetch a range again and upsert it (safe to repeat), as a job.
pub(super) async fn reparse(loaded: &Loaded, args: ReparseArgs) -> anyhow::Result<()> {
    let spec = JobSpec::Reparse {
        channel: args.channel.clone(),
        from_id: args.from_id,
        to_id: args.to_id,
        all: args.all,
    };
    let Some(job) = submit(loaded, spec, args.no_wait).await? else {
        return Ok(());
    };
    let r = job.result.unwrap_or_default();
    let n = |k: &str| r.get(k).and_then(|v| v.as_i64()).unwrap_or(0);
    println!(
        "reparsed {} ids {}..={}: {} new, {} updated",
        r.get("channel")
            .and_then(|v| v.as_str())
            .unwrap_or(&args.channel),
        n("from_id"),
        n("to_id"),
        n("inserted"),
        n("updated")
    );
    Ok(())
}
