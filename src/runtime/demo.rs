//! `tgsift demo`: the whole job on an embedded simulated Telegram — a simulator with floods and
//! disconnects, a demo account onboarded exactly as `account add --code-from` would, three channels
//! backfilled and tagged by the real service, and the database left to explore.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tgsift_sim::{FloodConfig, RandomFaults, Scripted, Sim, SimConfig};
use tgsift_store::prelude::*;
use tgsift_store::{AsyncStore, NewChannel, SqliteStore};
use tokio_util::sync::CancellationToken;

use crate::config::Loaded;
use crate::ingest::account::{RunOptions, RunSummary};
use crate::runtime;
use crate::tagging::worker::{PassReport, Pipeline};
use crate::telegram::client::{Account, Policy};
use crate::telegram::login::{self, Scripted as ScriptedPrompt};
use crate::telegram::session::SimSessions;

/// Tags of one channel after the demo.
#[derive(Clone, Debug)]
pub(crate) struct ChannelTags {
    /// Channel label.
    pub channel: String,
    /// Posts stored.
    pub posts: i64,
    /// Posts with at least one tag.
    pub with_tags: i64,
    /// Distinct tags.
    pub distinct: i64,
    /// Its most frequent tags with their post counts.
    pub top: Vec<(String, i64)>,
}

/// What the demo did.
#[derive(Clone, Debug, Default)]
pub(crate) struct DemoReport {
    /// Ingest per channel, floods, reconnects.
    pub ingest: RunSummary,
    /// Tagging done.
    pub tagging: PassReport,
    /// Tags per channel.
    pub channels: Vec<ChannelTags>,
    /// The most frequent tags overall.
    pub top: Vec<(String, i64)>,
}

/// Runs the demo into the database `out` with `posts` posts over three channels; `say` receives the
/// lines worth showing while it runs. Stops early on `stop`.
pub(crate) async fn run(
    out: &Path,
    posts: i32,
    say: &(dyn Fn(String) + Sync),
    stop: CancellationToken,
) -> anyhow::Result<DemoReport> {
    let work = out.with_extension("sessions");
    for stale in [
        out.to_path_buf(),
        out.with_extension("db-wal"),
        out.with_extension("db-shm"),
    ] {
        let _ = std::fs::remove_file(stale);
    }
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;

    let mut config = SimConfig::generated(2026, 3, posts / 3);
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
    sim.script(Scripted::on("messages.getHistory", tgsift_sim::Fault::FloodWait(3)).after(40));
    let acc = sim.accounts()[0].clone();
    say(format!(
        "simulated Telegram on {} with channels {}",
        sim.addr(tgsift_sim::HOME_DC)
            .map(|a| a.to_string())
            .unwrap_or_default(),
        sim.channel_usernames().join(" ")
    ));

    // Onboard the demo account exactly as `tgsift account add --code-from` would.
    let session_path = work.join("demo.session");
    let session = sim.write_session(&session_path, 0, false)?;
    let mut loaded = Loaded::load(&crate::config::LoadOptions::default())?;
    loaded.set_database(out.to_path_buf());
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
    say(format!("logged in demo account as user {user_id}"));

    let mut store = SqliteStore::open(out)?;
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
        .map_err(|e| anyhow::anyhow!("tagging backend: {e}"))?;
    let mut report = DemoReport::default();
    let total = &mut report.ingest;
    loop {
        let opts = RunOptions {
            once: true,
            progress: true,
            ..RunOptions::default()
        };
        let r = runtime::run(
            &loaded.config,
            store.clone(),
            opts,
            pipeline.clone(),
            stop.clone(),
        )
        .await?;
        let s = r.ingest;
        report.tagging.tagged += r.tagging.tagged;
        report.tagging.retrying += r.tagging.retrying;
        report.tagging.failed += r.tagging.failed;
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
    let (channels, top) = store
        .read("summarise the tags", |s| {
            let mut per_channel = Vec::new();
            for c in s.channels()? {
                let (posts, with_tags, distinct) = s.channel_tag_stats(c.id)?;
                per_channel.push(ChannelTags {
                    channel: c.label(),
                    posts,
                    with_tags,
                    distinct,
                    top: s.top_tags(Some(c.id), 5)?,
                });
            }
            Ok((per_channel, s.top_tags(None, 10)?))
        })
        .await?;
    report.channels = channels;
    report.top = top;
    Ok(report)
}
