//! `tgsift channels …` and `tgsift reparse`: which channels are followed, their state, and completeness.

use anyhow::Context;
use clap::{Args, Subcommand};
use grammers_session::Session;
use grammers_session::types::PeerId;

use super::UsageError;
use super::account::{connect, credentials, known_account, open_store};
use crate::config::{Backfill, Loaded};
use crate::ingest::progress::Progress;
use crate::ingest::{channel_info, fetch_range};
use crate::store::{AsyncStore, ChannelRow, NewChannel, Store, unix_now};
use crate::telegram::channels::ChannelRef;
use crate::telegram::lease::Lease;
use crate::telegram::session::SqliteSession;

/// `tgsift channels …`.
#[derive(Debug, Subcommand)]
pub enum ChannelsCommand {
    /// Follow a channel with an account (`@username`, a t.me link, or a numeric id the account has seen).
    Add {
        /// Account name.
        account: String,
        /// The channel.
        channel: String,
        /// What to fetch first: `all`, a number N (the newest N messages) or `since:YYYY-MM-DD`.
        #[arg(long)]
        backfill: Option<String>,
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
}

fn one_channel(store: &Store, reference: &str) -> anyhow::Result<ChannelRow> {
    let mut found = store.find_channels(reference)?;
    match found.len() {
        0 => Err(UsageError(format!(
            "no followed channel matches `{reference}`: see `tgsift channels list`"
        ))
        .into()),
        1 => Ok(found.remove(0)),
        _ => Err(UsageError(format!(
            "`{reference}` matches several channels ({}): name one by `#row`",
            found
                .iter()
                .map(|c| format!("#{} of {}", c.id, c.account))
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .into()),
    }
}

/// Runs a channels subcommand.
pub async fn run(loaded: &Loaded, cmd: ChannelsCommand) -> anyhow::Result<()> {
    match cmd {
        ChannelsCommand::Add {
            account,
            channel,
            backfill,
        } => add(loaded, &account, &channel, backfill).await,
        ChannelsCommand::List => list(loaded),
        ChannelsCommand::Pause { channel } => set_active(loaded, &channel, false),
        ChannelsCommand::Resume { channel } => set_active(loaded, &channel, true),
        ChannelsCommand::Remove { channel } => {
            let mut store = open_store(loaded)?;
            let ch = one_channel(&store, &channel)?;
            store.remove_channel(ch.id)?;
            println!(
                "stopped following {} ({}); its posts were deleted",
                ch.label(),
                ch.title
            );
            Ok(())
        }
        ChannelsCommand::Audit { channel } => audit(loaded, channel.as_deref()).await,
    }
}

async fn add(
    loaded: &Loaded,
    account: &str,
    reference: &str,
    backfill: Option<String>,
) -> anyhow::Result<()> {
    let (api_id, _) = credentials(loaded)?;
    let parsed = ChannelRef::parse(reference).map_err(UsageError)?;
    let backfill = match backfill {
        Some(b) => {
            Backfill::parse(&b).map_err(|e| UsageError(format!("--backfill: {e}")))?;
            b
        }
        None => match &loaded.config.ingest.backfill {
            Backfill::All => "all".to_string(),
            Backfill::Last(n) => n.to_string(),
            Backfill::Since(ts) => {
                let day =
                    jiff::Timestamp::from_second(*ts).map(|t| t.strftime("%Y-%m-%d").to_string());
                format!("since:{}", day.unwrap_or_default())
            }
        },
    };
    let mut store = open_store(loaded)?;
    let row = known_account(&store, account)?;
    let _lease = Lease::acquire(account, &row.session_path)?;
    let session = SqliteSession::open(&row.session_path)?;
    let cached_hash = match &parsed {
        ChannelRef::Id(id) => {
            let peer = PeerId::channel(*id)
                .ok_or_else(|| UsageError(format!("{id} is not a valid channel id")))?;
            let hash = session
                .peer_ref(peer)
                .await
                .ok()
                .flatten()
                .map(|r| r.auth.hash());
            Some(hash.ok_or_else(|| {
                UsageError(format!(
                    "channel id {id} is unknown to account {account}: add it once by @username or t.me link"
                ))
            })?)
        }
        ChannelRef::Username(_) => None,
    };
    let (client, cancel) = connect(loaded, account, session, api_id);
    let state = store.load_client_state(row.id)?;
    client.import_state(&state);
    let info = match (&parsed, cached_hash) {
        (ChannelRef::Username(name), _) => client.resolve_username(name).await,
        (ChannelRef::Id(id), Some(hash)) => client.channel_by_id(*id, hash).await,
        (ChannelRef::Id(id), None) => Err(crate::telegram::error::TgError::Local {
            account: account.to_string(),
            message: format!("no access hash for channel {id}"),
        }),
    };
    // History access is checked now, so a private or banned channel is refused before anything is stored.
    let info = match info {
        Ok(info) => client.newest(&info, 1).await.map(|_| info),
        Err(e) => Err(e),
    };
    cancel.cancel();
    store.save_client_state(row.id, &client.export_state())?;
    let info = info.with_context(|| format!("adding {reference} (nothing was stored)"))?;
    let new = NewChannel {
        tg_id: info.id,
        access_hash: info.access_hash,
        username: info.username.clone(),
        title: info.title.clone(),
        backfill: backfill.clone(),
    };
    match store.add_channel(row.id, &new)? {
        Some(ch) => println!(
            "following {} ({}) with account {account}; backfill {backfill}",
            ch.label(),
            ch.title
        ),
        None => println!("account {account} already follows {}", reference),
    }
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
    let store = open_store(loaded)?;
    let channels = store.channels()?;
    if channels.is_empty() {
        println!("no channels: add one with `tgsift channels add ACCOUNT @channel`");
        return Ok(());
    }
    let counts = store.post_counts()?;
    println!(
        "{:<5} {:<12} {:<22} {:<8} {:>8} {:>9} {:<14} {:<16} last error",
        "row", "account", "channel", "state", "posts", "last id", "last fetch", "flood"
    );
    let now = unix_now();
    for c in channels {
        let state = match (c.active, &c.last_error) {
            (true, _) => "active",
            (false, Some(_)) => "failed",
            (false, None) => "paused",
        };
        let flood = match c.flood_until.filter(|u| *u > now) {
            Some(u) => format!("parked {} s", u - now),
            None => "-".into(),
        };
        println!(
            "{:<5} {:<12} {:<22} {:<8} {:>8} {:>9} {:<14} {:<16} {}",
            format!("#{}", c.id),
            c.account,
            c.label(),
            state,
            counts.get(&c.id).copied().unwrap_or(0),
            c.last_message_id,
            ago(c.last_fetch_at),
            flood,
            c.last_error.as_deref().unwrap_or("-")
        );
    }
    Ok(())
}

fn set_active(loaded: &Loaded, reference: &str, active: bool) -> anyhow::Result<()> {
    let mut store = open_store(loaded)?;
    let ch = one_channel(&store, reference)?;
    store.set_channel_active(ch.id, active)?;
    println!(
        "{} {}",
        ch.label(),
        if active { "resumed" } else { "paused" }
    );
    Ok(())
}

/// Gaps in `ranges` (merged, ascending) within start..=upto.
fn coverage_gaps(ranges: &[(i32, i32)], start: i32, upto: i32) -> Vec<(i32, i32)> {
    let mut gaps = Vec::new();
    let mut next = start;
    for &(a, b) in ranges {
        if a > next {
            gaps.push((next, (a - 1).min(upto)));
        }
        next = next.max(b.saturating_add(1));
        if next > upto {
            break;
        }
    }
    if next <= upto {
        gaps.push((next, upto));
    }
    gaps.retain(|(a, b)| a <= b);
    gaps
}

async fn audit(loaded: &Loaded, reference: Option<&str>) -> anyhow::Result<()> {
    let (api_id, _) = credentials(loaded)?;
    let store = open_store(loaded)?;
    let channels = match reference {
        Some(r) => vec![one_channel(&store, r)?],
        None => store.channels()?,
    };
    let mut incomplete = 0;
    let mut by_account: std::collections::BTreeMap<String, Vec<ChannelRow>> = Default::default();
    for c in channels {
        by_account.entry(c.account.clone()).or_default().push(c);
    }
    for (account, channels) in by_account {
        let row = known_account(&store, &account)?;
        let _lease = Lease::acquire(&account, &row.session_path)?;
        let session = SqliteSession::open(&row.session_path)?;
        let (client, cancel) = connect(loaded, &account, session, api_id);
        for ch in channels {
            let ids = store.message_ids(ch.id)?;
            let ranges = store.fetched_ranges(ch.id)?;
            let server = client.newest(&channel_info(&ch), 1).await;
            // A partial backfill (`last N`, `since:`) is complete from where it started.
            let start = if ch.backfill == "all" {
                1
            } else {
                ranges.first().map(|r| r.0).unwrap_or(1)
            };
            let gaps = coverage_gaps(&ranges, start, ch.last_message_id);
            // The server's count includes service messages (pins, title changes…), which are not
            // posts: completeness is judged by the fetched ranges and the newest id, not by counts.
            let server_count = server.as_ref().map(|p| p.count).ok();
            let newest = server.as_ref().map(|p| p.newest_id).unwrap_or(0);
            let behind = newest > ch.last_message_id;
            if !gaps.is_empty() || behind {
                incomplete += 1;
            }
            println!(
                "{} ({}): stored {} posts, server count {} messages (service messages included), checkpoint {}, server newest {}",
                ch.label(),
                account,
                ids.len(),
                server_count
                    .map(|n| n.to_string())
                    .unwrap_or_else(|| "unknown".into()),
                ch.last_message_id,
                newest
            );
            if let Err(e) = &server {
                println!("  could not ask the server: {e}");
            }
            if !gaps.is_empty() {
                let shown: Vec<String> = gaps
                    .iter()
                    .take(10)
                    .map(|(a, b)| format!("{a}-{b}"))
                    .collect();
                println!(
                    "  ids never fetched: {} (repair: tgsift reparse {} --from-id A --to-id B)",
                    shown.join(", "),
                    ch.label()
                );
            }
            if behind {
                println!(
                    "  {} newer ids not fetched yet (run `tgsift run --once`)",
                    newest - ch.last_message_id
                );
            }
            if gaps.is_empty() && !behind {
                println!("  complete");
            }
        }
        cancel.cancel();
    }
    if incomplete > 0 {
        anyhow::bail!("{incomplete} channel(s) incomplete");
    }
    Ok(())
}

/// `tgsift reparse`: fetch a range again and upsert it (safe to repeat).
pub async fn reparse(loaded: &Loaded, args: ReparseArgs) -> anyhow::Result<()> {
    let (api_id, _) = credentials(loaded)?;
    let store = open_store(loaded)?;
    let ch = one_channel(&store, &args.channel)?;
    let (from, to) = match (args.from_id, args.to_id) {
        (Some(a), Some(b)) if a >= 1 && a <= b => (a, b),
        (Some(_), Some(_)) => {
            return Err(UsageError("--from-id must be ≥ 1 and ≤ --to-id".into()).into());
        }
        _ => (1, i32::MAX),
    };
    let row = known_account(&store, &ch.account)?;
    let _lease = Lease::acquire(&ch.account, &row.session_path)?;
    let session = SqliteSession::open(&row.session_path)?;
    let (client, cancel) = connect(loaded, &ch.account, session, api_id);
    client.import_state(&store.load_client_state(row.id)?);
    let store = AsyncStore::new(store);
    let progress = Progress::new(true).channel(&ch.label());
    // Never past the channel's newest message: the checkpoint must not skip posts still to come.
    let result = match client.newest(&channel_info(&ch), 1).await {
        Ok(head) => {
            let top = to.min(head.newest_id);
            fetch_range(&client, &store, &ch, from - 1, top, &progress, &cancel)
                .await
                .map_err(anyhow::Error::from)
        }
        Err(e) => Err(e.into()),
    };
    cancel.cancel();
    let state = client.export_state();
    let account_id = row.id;
    store
        .with("save the client state", move |s| {
            s.save_client_state(account_id, &state)
        })
        .await?;
    let (report, last) = result?;
    println!(
        "reparsed {} ids {from}..={}: {} new, {} updated",
        ch.label(),
        last.max(from - 1),
        report.inserted,
        report.edited
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::coverage_gaps;

    #[test]
    fn gaps_in_coverage_are_found() {
        assert_eq!(coverage_gaps(&[(1, 10), (21, 30)], 1, 30), vec![(11, 20)]);
        assert_eq!(coverage_gaps(&[(5, 10)], 1, 12), vec![(1, 4), (11, 12)]);
        assert_eq!(coverage_gaps(&[(5, 10)], 5, 10), vec![]);
        assert_eq!(coverage_gaps(&[(1, 12)], 1, 12), vec![]);
        assert_eq!(coverage_gaps(&[], 1, 0), vec![]);
    }
}
