//! The parser service's promises: exactly-once ingest through faults, crashes, restarts and shutdown.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::setup::{Setup, sigterm, wait_exit};
use crate::common::within;
use tgsift::ingest::account::RunOptions;
use tgsift::runtime;
use tgsift_sim::{Fault, FloodConfig, Limit, RandomFaults, Scripted, ServiceRun, SimConfig};
use tgsift_store::prelude::*;
use tgsift_store::{AsyncStore, SqliteStore};
use tokio_util::sync::CancellationToken;

async fn run_once_until_done(s: &Setup) {
    let loaded = s.loaded();
    let mut last = Vec::new();
    for _ in 0..30 {
        let store = AsyncStore::open(s.db.clone()).await.expect("store");
        let opts = RunOptions {
            once: true,
            ..RunOptions::default()
        };
        let summary = runtime::run(&loaded.config, store, opts, None, CancellationToken::new())
            .await
            .expect("run")
            .ingest;
        if summary.failed().is_empty() {
            return;
        }
        last = summary
            .failed()
            .iter()
            .map(|c| format!("{}: {:?}", c.channel, c.error))
            .collect();
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let floods: Vec<_> = s
        .sim
        .log()
        .requests()
        .into_iter()
        .filter_map(|r| match r.outcome {
            tgsift_sim::log::Outcome::Flood(x) => Some(x),
            _ => None,
        })
        .collect();
    panic!("channels never finished: {last:?} floods {floods:?}");
}

#[tokio::test]
async fn five_channels_through_floods_disconnects_and_500s_hold_exactly_the_simulators_posts() {
    within(180, async {
        let s = Setup::new(5, 4_000, |c| {
            c.faults = RandomFaults {
                flood: 0.02,
                flood_secs: 1,
                disconnect: 0.02,
                internal: 0.02,
                ..Default::default()
            };
        })
        .await;
        // Above the 2 s threshold: the channel is parked, then finished on a later run.
        s.sim
            .script(Scripted::on("messages.getHistory", Fault::FloodWait(3)).after(30));
        run_once_until_done(&s).await;
        let stored = s.stored();
        let truth = s.truth();
        assert_eq!(stored.len(), truth.len(), "no post missing, none twice");
        assert_eq!(stored, truth, "exact ids and texts");
        s.assert_checkpoints();
        assert!(
            crate::common::sent_into_open_windows(&s.sim, Duration::from_millis(100)).is_empty(),
            "no request was sent into a window the client knew of"
        );
        let dropped = s
            .sim
            .log()
            .requests()
            .iter()
            .filter(|r| r.outcome == tgsift_sim::log::Outcome::Dropped)
            .count();
        assert!(dropped > 0, "disconnects really happened");
    })
    .await;
}

fn slow_history(c: &mut SimConfig) {
    // ~40 pages a second: a 20,000-post backfill takes several seconds, long enough to interrupt.
    c.flood = FloodConfig::off().with("messages.getHistory", Limit::new(5.0, 40.0, 1.0));
}

#[tokio::test]
async fn kill_during_backfill_loses_nothing() {
    within(240, async {
        let s = Setup::new(2, 10_000, slow_history).await;
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for round in 0..10 {
            let mut child = s.spawn(&["run", "--once"], "60");
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let wait = Duration::from_millis(150 + seed % 700);
            tokio::time::sleep(wait).await;
            child.kill().expect("SIGKILL");
            let status = child.wait().expect("wait");
            assert!(!status.success() || round > 0, "killed mid-run");
            // Whatever was committed is consistent: ids up to the checkpoint, nothing beyond it.
            let store = SqliteStore::open(&s.db).expect("store");
            for ch in store.channels().expect("channels") {
                let ids = store.message_ids(ch.id).expect("ids");
                assert!(
                    ids.iter().all(|id| *id <= ch.last_message_id),
                    "no post beyond the checkpoint"
                );
                let want = s
                    .sim
                    .with_channel(&ch.label(), |c| {
                        c.post_ids()
                            .into_iter()
                            .filter(|id| *id <= ch.last_message_id)
                            .count()
                    })
                    .expect("channel");
                assert_eq!(
                    ids.len(),
                    want,
                    "every post up to the checkpoint of {}",
                    ch.label()
                );
            }
        }
        run_once_until_done(&s).await;
        assert_eq!(s.stored(), s.truth(), "equal to an uninterrupted run");
        s.assert_checkpoints();
    })
    .await;
}

#[tokio::test]
async fn sigterm_during_backfill_exits_0_within_5_s_and_a_restart_continues() {
    within(120, async {
        let s = Setup::new(1, 20_000, slow_history).await;
        let mut child = s.spawn(&["run", "--once"], "60");
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        let t0 = Instant::now();
        sigterm(&child);
        let status =
            tokio::task::spawn_blocking(move || wait_exit(&mut child, Duration::from_secs(5)))
                .await
                .expect("join")
                .expect("exited within 5 s");
        assert_eq!(status.code(), Some(0), "graceful shutdown exits 0");
        assert!(t0.elapsed() < Duration::from_secs(5));
        let partial = s.stored().len();
        assert!(
            partial > 0 && partial < s.truth().len(),
            "stopped mid-backfill ({partial} posts)"
        );
        run_once_until_done(&s).await;
        assert_eq!(s.stored(), s.truth());
        s.assert_checkpoints();
    })
    .await;
}

fn post_text(db: &Path, channel: &str, id: i32) -> Option<(String, String)> {
    let store = SqliteStore::open(db).ok()?;
    store
        .read("post", |c| {
            c.query_row(
                "SELECT p.text, p.tagging_status FROM posts p JOIN channels c ON c.id = p.channel_id
                 WHERE c.username = ?1 AND p.message_id = ?2",
                rusqlite::params![channel, id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
        })
        .ok()
}

#[tokio::test]
async fn new_posts_appear_within_one_poll_and_edits_are_requeued() {
    within(90, async {
        let s = Setup::new(1, 300, |_| {}).await;
        let name = s.sim.channel_usernames()[0]
            .trim_start_matches('@')
            .to_string();
        let mut child = s.spawn(&["run"], "2");
        let t0 = Instant::now();
        while s.stored().len() < s.truth().len() {
            assert!(t0.elapsed() < Duration::from_secs(30), "backfill finished");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let newest = s.sim.with_channel(&name, |c| c.top_id()).expect("channel");
        // Mark the newest post tagged, then edit it on the server.
        let store = SqliteStore::open(&s.db).expect("store");
        let mut store = store;
        store
            .write("pretend tagged", |tx| {
                tx.execute(
                    "UPDATE posts SET tagging_status = 'success' WHERE message_id = ?1",
                    [newest],
                )
            })
            .expect("tag");
        let id = s
            .sim
            .append_post(
                &name,
                "Breaking: a new post appended while the service runs #live",
            )
            .expect("append");
        assert!(s.sim.edit_post(&name, newest, "An edited text"));
        let t1 = Instant::now();
        loop {
            let added = post_text(&s.db, &name, id);
            let edited = post_text(&s.db, &name, newest);
            if added.is_some() && edited.as_ref().is_some_and(|(t, _)| t == "An edited text") {
                assert_eq!(
                    edited.map(|(_, st)| st).as_deref(),
                    Some("pending"),
                    "edit re-queued for tagging"
                );
                break;
            }
            // One poll interval (2 s ± 10 %) plus the service's 5 s re-check granularity at most.
            assert!(
                t1.elapsed() < Duration::from_secs(8),
                "new post and edit arrive within a poll"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        sigterm(&child);
        let status =
            tokio::task::spawn_blocking(move || wait_exit(&mut child, Duration::from_secs(5)))
                .await
                .expect("join")
                .expect("exited");
        assert_eq!(status.code(), Some(0));
    })
    .await;
}

#[tokio::test]
async fn a_permanently_failing_channel_is_marked_and_skipped() {
    within(60, async {
        let s = Setup::new(2, 200, |_| {}).await;
        let banned = s.sim.channel_usernames()[0].clone();
        s.sim.ban(&banned, 0);
        let loaded = s.loaded();
        let store = AsyncStore::open(s.db.clone()).await.expect("store");
        let opts = RunOptions {
            once: true,
            ..RunOptions::default()
        };
        let summary = runtime::run(&loaded.config, store, opts, None, CancellationToken::new())
            .await
            .expect("run")
            .ingest;
        let failed = summary.failed();
        assert_eq!(failed.len(), 1);
        assert!(
            failed[0]
                .error
                .as_deref()
                .is_some_and(|e| e.contains("CHANNEL_PRIVATE")),
            "{failed:?}"
        );
        let store = SqliteStore::open(&s.db).expect("store");
        let ch = store.find_channels(&banned).expect("find").remove(0);
        assert!(!ch.active, "deactivated, not retried forever");
        assert!(
            ch.last_error
                .as_deref()
                .is_some_and(|e| e.contains("CHANNEL_PRIVATE"))
        );
        let other = store
            .find_channels(&s.sim.channel_usernames()[1])
            .expect("find")
            .remove(0);
        assert_eq!(
            store.message_ids(other.id).expect("ids"),
            s.sim
                .with_channel(&s.sim.channel_usernames()[1], |c| c.post_ids())
                .expect("c")
        );
    })
    .await;
}

#[tokio::test]
async fn runs_of_250_service_messages_are_passed_and_the_checkpoint_reaches_the_top() {
    within(120, async {
        // One run in the middle of a channel, one that ends at its top: whole pages without a post.
        let s = Setup::new(2, 1_000, |c| {
            c.channels[0].service_run = Some(ServiceRun {
                first: 300,
                len: 262,
            });
            c.channels[1].service_run = Some(ServiceRun {
                first: 739,
                len: 262,
            });
        })
        .await;
        for (name, first) in s.sim.channel_usernames().iter().zip([300, 739]) {
            let run = s
                .sim
                .with_channel(name, |c| {
                    c.ids()
                        .into_iter()
                        .filter(|id| (first..first + 262).contains(id))
                        .inspect(|id| assert!(c.is_service(*id) && c.post(*id).is_none()))
                        .count()
                })
                .expect("channel");
            assert!(run >= 250, "{name}: a run of {run} service messages");
        }
        let mut child = s.spawn(&["run", "--once"], "60");
        let status = tokio::task::spawn_blocking(move || {
            (wait_exit(&mut child, Duration::from_secs(60)), child)
        })
        .await
        .expect("join");
        let (status, mut child) = status;
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            use std::io::Read;
            let _ = e.read_to_string(&mut err);
        }
        assert_eq!(status.and_then(|st| st.code()), Some(0), "{err}");
        let store = SqliteStore::open(&s.db).expect("store");
        for ch in store.channels().expect("channels") {
            let (posts, top) = s
                .sim
                .with_channel(&ch.label(), |c| (c.post_ids(), c.top_id()))
                .expect("channel");
            assert_eq!(
                store.message_ids(ch.id).expect("ids"),
                posts,
                "{}: exactly the posts",
                ch.label()
            );
            assert_eq!(
                ch.last_message_id,
                top,
                "{}: checkpoint at the top",
                ch.label()
            );
        }
        assert_eq!(s.stored(), s.truth());
    })
    .await;
}

// Telegram's irregular pages (hidden posts, pages cut short, placeholders, repeated ids): history is
// complete by ids, never by counts, and a page lacking a stored post proves nothing.

/// Stored message ids of the one channel, and how many rows are marked deleted / hidden.
fn stored_ids(db: &Path) -> (Vec<i32>, i64, i64) {
    let store = SqliteStore::open(db).expect("store");
    let ch = store.channels().expect("channels")[0].id;
    let ids = store.message_ids(ch).expect("ids");
    let marked = |col: &str| {
        store
            .read("count", |c| {
                c.query_row(
                    &format!("SELECT count(*) FROM posts WHERE {col} IS NOT NULL"),
                    [],
                    |r| r.get::<_, i64>(0),
                )
            })
            .expect("count")
    };
    (ids, marked("deleted_at"), marked("hidden_at"))
}

/// What the reference reader (unmodified grammers, as a careful client) sees as account 0: posts only.
async fn reference_posts(s: &Setup, name: &str) -> Vec<i32> {
    let c = crate::common::client(&s.sim, 0, true);
    let read =
        crate::common::reference::careful_read(&c, crate::common::reference::peer_of(&s.sim, name))
            .await;
    let service = crate::common::reference::service_ids(&s.sim, name);
    read.ids
        .into_iter()
        .filter(|id| !service.contains(id))
        .collect()
}

#[tokio::test]
async fn each_page_fault_alone_and_all_together_store_exactly_what_the_reference_reader_sees() {
    within(300, async {
        let alone = [
            (
                "hidden",
                RandomFaults {
                    hidden: 0.01,
                    ..Default::default()
                },
                5_000,
            ),
            (
                "short_page",
                RandomFaults {
                    short_page: 0.05,
                    ..Default::default()
                },
                5_000,
            ),
            (
                "empty",
                RandomFaults {
                    empty: 0.01,
                    ..Default::default()
                },
                5_000,
            ),
            (
                "dup",
                RandomFaults {
                    dup: 0.05,
                    ..Default::default()
                },
                5_000,
            ),
        ];
        let together = RandomFaults {
            hidden: 0.01,
            short_page: 0.05,
            empty: 0.01,
            dup: 0.05,
            ..Default::default()
        };
        for (what, faults, posts) in alone.into_iter().chain([("all", together, 20_000)]) {
            let s = Setup::new(1, posts, |c| c.faults = faults.clone()).await;
            let name = s.sim.channel_usernames()[0].clone();
            run_once_until_done(&s).await;
            let (stored, deleted, hidden) = stored_ids(&s.db);
            let visible = s.sim.visible_post_ids(&name, 0);
            assert_eq!(
                stored, visible,
                "{what}: exactly the posts the account can see, once each"
            );
            assert_eq!(
                stored,
                reference_posts(&s, &name).await,
                "{what}: as the reference reader"
            );
            assert_eq!(
                (deleted, hidden),
                (0, 0),
                "{what}: nothing that exists is marked"
            );
            s.assert_checkpoints();
            let unseen: Vec<i32> = s
                .sim
                .with_channel(&name, |c| c.post_ids())
                .expect("channel")
                .into_iter()
                .filter(|id| visible.binary_search(id).is_err())
                .collect();
            let store = SqliteStore::open(&s.db).expect("store");
            let ch = store.channels().expect("channels")[0].id;
            let short = store.short_ranges(ch).expect("short");
            for id in &unseen {
                assert!(
                    short.iter().any(|r| (r.from..=r.to).contains(id)),
                    "{what}: hidden post {id} lies in a range listed as short"
                );
            }
            if what == "hidden" || what == "all" {
                assert!(!unseen.is_empty(), "{what}: some posts really were hidden");
                let (code, out, err) = s.output(&["channels", "audit"]).await;
                assert_eq!(code, Some(0), "{err}");
                let first = short[0];
                assert!(
                    out.contains("answered with fewer messages than ids")
                        && out.contains(&format!(
                            "{}-{} ({} of {})",
                            first.from,
                            first.to,
                            first.answered,
                            first.to - first.from + 1
                        ))
                        && out.contains("complete by ids"),
                    "the audit names the short ranges with their counts:\n{out}"
                );
            }
        }
    })
    .await;
}

#[tokio::test]
async fn a_short_newest_page_does_not_end_the_backfill() {
    within(120, async {
        // Every page of two or more messages comes back cut short, the newest one first.
        let s = Setup::new(1, 2_000, |c| {
            c.faults = RandomFaults {
                short_page: 1.0,
                ..Default::default()
            }
        })
        .await;
        let name = s.sim.channel_usernames()[0].clone();
        run_once_until_done(&s).await;
        let pages = s.sim.log().count("messages.getHistory");
        assert!(
            pages > 2 * 21,
            "short pages were asked below ({pages} requests)"
        );
        let (stored, deleted, hidden) = stored_ids(&s.db);
        assert_eq!(
            stored,
            s.sim.visible_post_ids(&name, 0),
            "the whole channel"
        );
        assert_eq!((deleted, hidden), (0, 0));
        s.assert_checkpoints();
    })
    .await;
}

#[tokio::test]
async fn a_channel_backfilled_by_two_accounts_keeps_the_union_and_tombstones_nothing() {
    within(180, async {
        let s = Setup::new(1, 3_000, |c| {
            c.accounts.push(tgsift_sim::AccountSpec::generated(1));
            c.faults = RandomFaults {
                hidden: 0.01,
                ..Default::default()
            };
        })
        .await;
        let name = s.sim.channel_usernames()[0].clone();
        let (alice_sees, bob_sees) = (
            s.sim.visible_post_ids(&name, 0),
            s.sim.visible_post_ids(&name, 1),
        );
        let only_alice: Vec<i32> = alice_sees
            .iter()
            .copied()
            .filter(|id| bob_sees.binary_search(id).is_err())
            .collect();
        assert!(
            !only_alice.is_empty(),
            "bob cannot see some of alice's posts"
        );
        run_once_until_done(&s).await;
        assert_eq!(stored_ids(&s.db), (alice_sees.clone(), 0, 0));
        // The channel passes to bob (as when an account is replaced), who fetches it all again.
        let session = s.dir.path().join("bob.session");
        use tgsift::telegram::session::SimSessions;
        s.sim.write_session(&session, 1, true).expect("session");
        let mut store = SqliteStore::open(&s.db).expect("store");
        let bob = store.add_account("bob", None, None, &session).expect("bob");
        store
            .write("hand over", |tx| {
                tx.execute("UPDATE channels SET account_id = ?1", [bob.id])
                    .map(|_| ())
            })
            .expect("hand over");
        drop(store);
        let top = s.sim.with_channel(&name, |c| c.top_id()).expect("channel");
        let (code, _, err) = s
            .output(&[
                "reparse",
                &name,
                "--from-id",
                "1",
                "--to-id",
                &top.to_string(),
            ])
            .await;
        assert_eq!(code, Some(0), "{err}");
        let mut union: Vec<i32> = alice_sees.iter().chain(&bob_sees).copied().collect();
        union.sort_unstable();
        union.dedup();
        let store = SqliteStore::open(&s.db).expect("store");
        let hidden: Vec<i32> = store
            .read("hidden", |c| {
                let mut st = c.prepare(
                    "SELECT message_id FROM posts WHERE hidden_at IS NOT NULL ORDER BY 1",
                )?;
                st.query_map([], |r| r.get(0))?.collect()
            })
            .expect("hidden");
        let (stored, deleted, _) = stored_ids(&s.db);
        assert_eq!(stored, union, "what either account can see, once each");
        assert_eq!(deleted, 0, "nothing tombstoned");
        assert_eq!(
            hidden, only_alice,
            "kept and marked hidden: exactly the posts gone from bob's view"
        );
    })
    .await;
}

/// A post's counters as stored: (channel, message id, date, views, counts_at, reactions).
type Counted = (String, i32, i64, i64, Option<i64>, Option<String>);

#[tokio::test]
async fn counters_of_recent_posts_are_refreshed_on_their_schedule_and_never_go_back() {
    within(120, async {
        let now = tgsift_store::unix_now() as i32;
        let s = Setup::new(2, 400, |c| {
            for ch in &mut c.channels {
                ch.start_date = tgsift_sim::world::start_date_for_newest(ch.seed, ch.posts, now);
            }
        })
        .await;
        // Every 3 s while younger than 2 days: the posts of the last two days are due on every
        // pass but the one that fetched them (a backfill of 800 posts takes well under 3 s, even on
        // a busy CI machine).
        let env = [("TGSIFT_INGEST__COUNTS_REFRESH", "3s/2d")];
        let once = || async { s.output_with(&["run", "--once"], &env).await };
        let (code, _, err) = once().await;
        assert_eq!(code, Some(0), "{err}");
        let views_calls = || -> u64 {
            s.sim
                .log()
                .counts()
                .iter()
                .filter(|((_, m), _)| *m == "messages.getMessagesViews")
                .map(|(_, c)| c.ok)
                .sum()
        };
        assert_eq!(views_calls(), 0, "posts just fetched are not due");
        let store = SqliteStore::open(&s.db).expect("store");
        let stored = |store: &SqliteStore| -> Vec<Counted> {
            store
                .read("counts", |c| {
                    c.prepare(
                        "SELECT ch.username, p.message_id, p.date, p.views, p.counts_at, p.reactions
                         FROM posts p JOIN channels ch ON ch.id = p.channel_id ORDER BY 1, 2",
                    )?
                    .query_map([], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?))
                    })?
                    .collect()
                })
                .expect("posts")
        };
        let fetched = stored(&store);
        let recent: Vec<_> = fetched
            .iter()
            .filter(|p| p.2 >= i64::from(now) - 2 * 86_400)
            .collect();
        assert!(recent.len() > 20 && recent.len() < fetched.len(), "{} recent", recent.len());

        tokio::time::sleep(Duration::from_millis(3_200)).await;
        let (code, _, err) = once().await;
        assert_eq!(code, Some(0), "{err}");
        let calls = views_calls();
        let per_channel: Vec<u64> = ["sim_news", "sim_tech"]
            .iter()
            .map(|name| {
                recent.iter().filter(|p| p.0 == *name).count().div_ceil(100) as u64
            })
            .collect();
        assert_eq!(calls, per_channel.iter().sum::<u64>(), "100 posts per request");
        let refreshed = stored(&store);
        let mut moved = 0;
        for (before, after) in fetched.iter().zip(&refreshed) {
            let is_recent = before.2 >= i64::from(now) - 2 * 86_400;
            assert_eq!(after.4.is_some(), is_recent, "only recent posts are read: {after:?}");
            if !is_recent {
                assert_eq!(after, before);
                continue;
            }
            let served = s.sim.counts(&after.0, after.1).expect("post");
            assert!(
                after.3 >= before.3 && after.3 <= i64::from(served.views),
                "grown views, not beyond what the simulator holds now: {before:?} {after:?} {served:?}"
            );
            moved += usize::from(after.3 > before.3);
            let reactions: serde_json::Value =
                serde_json::from_str(after.5.as_deref().expect("reactions")).expect("json");
            for (emoji, n) in &served.reactions {
                let got = reactions[emoji].as_i64().unwrap_or(0);
                assert!(got > 0 && got <= i64::from(*n), "{emoji}: {got} of {n}");
            }
        }
        assert!(moved * 2 > recent.len(), "most recent posts gained views: {moved}");

        // A stale replica answers the generation's counts: nothing goes back.
        s.sim.set_stale_counts(true);
        tokio::time::sleep(Duration::from_millis(3_200)).await;
        let (code, _, err) = once().await;
        assert_eq!(code, Some(0), "{err}");
        assert!(views_calls() > calls, "the recent posts were read again");
        let after_stale = stored(&store);
        for (a, b) in refreshed.iter().zip(&after_stale) {
            assert_eq!((a.3, &a.5), (b.3, &b.5), "a stale answer lowers nothing: {b:?}");
        }
        let history: i64 = store
            .read("history", |c| c.query_row("SELECT count(*) FROM post_counts", [], |r| r.get(0)))
            .expect("history");
        assert_eq!(history as usize, recent.len(), "one point per post: the stale pass changed nothing");
    })
    .await;
}

/// The posts of the simulator's channels whose media is a file of one of `kinds` up to `max` bytes:
/// (channel without @, message id) → (file id, size, hex SHA-256 of what the simulator serves).
fn sim_files(
    s: &Setup,
    kinds: &[tgsift_sim::media::SimMediaKind],
    max: i64,
) -> std::collections::BTreeMap<(String, i32), (i64, i64, String)> {
    let mut out = std::collections::BTreeMap::new();
    for name in s.sim.channel_usernames() {
        let bare = name.trim_start_matches('@').to_string();
        s.sim
            .with_channel(&name, |c| {
                for id in c.post_ids() {
                    let Some(m) = c.post(id).and_then(|p| p.media) else {
                        continue;
                    };
                    let size = m.size.unwrap_or(0);
                    if m.file_id == 0 || !kinds.contains(&m.kind) || size > max {
                        continue;
                    }
                    let sha = tgsift_sim::file_sha256(&m).expect("a file");
                    let hex: String = sha.iter().map(|b| format!("{b:02x}")).collect();
                    out.insert((bare.clone(), id), (m.file_id, size, hex));
                }
            })
            .expect("channel");
    }
    out
}

/// A stored download: status, SHA-256, path.
type StoredFile = (String, Option<String>, Option<String>);

/// Every stored post's download: (channel, message id) → its file.
fn stored_files(db: &Path) -> std::collections::BTreeMap<(String, i32), StoredFile> {
    let store = SqliteStore::open(db).expect("store");
    store
        .read("files", |c| {
            c.prepare(
                "SELECT ch.username, p.message_id, f.status, f.sha256, f.path FROM posts p
                 JOIN channels ch ON ch.id = p.channel_id JOIN post_media m ON m.post_id = p.id
                 JOIN media_files f ON f.file_id = m.file_id",
            )?
            .query_map([], |r| {
                Ok(((r.get(0)?, r.get(1)?), (r.get(2)?, r.get(3)?, r.get(4)?)))
            })?
            .collect()
        })
        .expect("media files")
}

fn sha256_hex(path: &Path) -> String {
    use sha2::Digest;
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    sha2::Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_downloads_take_what_the_rules_want_resume_after_kill_9_follow_file_migrate_and_renew_references()
 {
    use tgsift_sim::media::SimMediaKind as K;
    within(240, async {
        let s = Setup::new(2, 400, |_| {}).await;
        // File references good for 1 s, and downloads throttled as for an account without Premium
        // (8 MB per second, FLOOD_PREMIUM_WAIT beyond), so a download outlives its reference.
        s.sim.set_file_reference_ttl(Some(Duration::from_secs(1)));
        s.sim.set_download_limit(Some(tgsift_sim::DownloadLimit {
            bytes: 8_000_000,
            window: Duration::from_secs(1),
        }));
        let chunk = 512 * 1024;
        let media = s.dir.path().join("media");
        let env = |rules: &'static str| {
            vec![
                ("TGSIFT_MEDIA__DOWNLOAD", rules),
                ("TGSIFT_MEDIA__DIR", "media"),
                ("TGSIFT_MEDIA__CONCURRENCY", "2"),
            ]
        };
        // (a) Music (3 to 15 MB, several chunks each): SIGTERM in the middle of a file ends the
        // service at once; started again, it is killed -9 once a file is 6 chunks in.
        let music = sim_files(&s, &[K::Audio], i64::MAX);
        assert!(music.len() >= 4, "{} pieces of music to fetch", music.len());
        let partial = media.join(".partial");
        let biggest_partial = || {
            std::fs::read_dir(&partial)
                .map(|d| {
                    d.filter_map(|e| e.ok()?.metadata().ok().map(|m| m.len()))
                        .max()
                        .unwrap_or(0)
                })
                .unwrap_or(0)
        };
        let until_partial = async |at_least: u64| {
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                let biggest = biggest_partial();
                if biggest >= at_least || Instant::now() >= deadline {
                    return biggest;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        };
        let mut child = s.spawn_with(&["run"], "60", &env("audio"));
        let began = until_partial(chunk).await;
        sigterm(&child);
        let stopped = wait_exit(&mut child, Duration::from_secs(5));
        if stopped.is_none() {
            let _ = child.kill();
            let _ = child.wait();
        }
        assert!(began >= chunk, "no download began");
        assert!(
            stopped.is_some_and(|st| st.success()),
            "SIGTERM mid-download exits 0 within 5 s: {stopped:?}"
        );
        let mut child = s.spawn_with(&["run"], "60", &env("audio"));
        let killed_at = until_partial(biggest_partial().max(5 * chunk) + chunk).await;
        child.kill().expect("kill -9");
        let _ = child.wait();
        assert!(killed_at >= 6 * chunk, "no download got 6 chunks in");
        let served_before = s.sim.file_counts().bytes;

        // (b) Photos, voice notes up to 100 KB and music, to the end; messages now name DC 2 for
        // files that stay on DC 4 (Telegram moved them): each download is sent on with FILE_MIGRATE.
        s.sim.set_files_named_on(Some(2));
        let (code, _, err) = s
            .output_with(&["run", "--once"], &env("photo,voice<=100KB,audio"))
            .await;
        assert_eq!(code, Some(0), "{err}");
        let mut want = sim_files(&s, &[K::Photo, K::Audio], i64::MAX);
        want.extend(sim_files(&s, &[K::Voice], 100_000));
        let got = stored_files(&s.db);
        assert!(want.len() > 50, "{} files to fetch", want.len());
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            want.keys().collect::<Vec<_>>(),
            "exactly the posts the rules want have a download (no video, document, sticker, or voice note over 100 KB)"
        );
        for (post, (_, _, sha)) in &want {
            let (status, stored_sha, path) = &got[post];
            assert_eq!(
                (status.as_str(), stored_sha.as_deref()),
                ("done", Some(sha.as_str())),
                "{post:?}: {:?}",
                SqliteStore::open(&s.db).expect("store").read("errors", |c| c
                    .prepare("SELECT error, attempts FROM media_files WHERE status <> 'done'")?
                    .query_map([], |r| Ok((r.get::<_, Option<String>>(0)?, r.get::<_, i64>(1)?)))?
                    .collect::<rusqlite::Result<Vec<_>>>())
            );
            let path = media.join(path.as_deref().expect("a path"));
            assert_eq!(&sha256_hex(&path), sha, "{}", path.display());
            assert!(path.starts_with(media.join(&sha[..2])));
        }
        assert!(
            std::fs::read_dir(&partial).map_or(true, |mut d| d.next().is_none()),
            "no partial download left"
        );
        // Resumed, not started over: beyond the files' own bytes the simulator served at most the
        // chunk each of the two downloads had in flight at each of the two stops (the file killed
        // had 6 chunks on disk, which starting over would fetch again).
        let counts = s.sim.file_counts();
        let distinct: std::collections::BTreeMap<i64, i64> =
            want.values().map(|(id, size, _)| (*id, *size)).collect();
        let needed: u64 = distinct.values().map(|v| *v as u64).sum();
        eprintln!(
            "killed with {killed_at} bytes of a file on disk; served {} before, {} in all for {needed} needed; {counts}",
            served_before, counts.bytes
        );
        assert!(
            counts.bytes <= needed + 2 * 2 * chunk,
            "{} bytes served for {needed}",
            counts.bytes
        );
        assert!(
            counts.references_expired >= 1,
            "expired references were renewed: {counts}"
        );
        assert!(
            counts.premium_waits >= 1,
            "FLOOD_PREMIUM_WAITs were waited out: {counts}"
        );
        assert!(counts.auth_imports >= 1, "authorized on the files' DC: {counts}");
        assert!(
            counts.file_migrates >= 1,
            "FILE_MIGRATE was followed: {counts}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_media_quota_holds_and_failed_downloads_are_retried_on_request() {
    use tgsift_sim::media::SimMediaKind as K;
    within(120, async {
        let s = Setup::new(1, 200, |_| {}).await;
        let photos = sim_files(&s, &[K::Photo], i64::MAX);
        let env = [
            ("TGSIFT_MEDIA__DOWNLOAD", "photo"),
            ("TGSIFT_MEDIA__DIR", "media"),
            ("TGSIFT_MEDIA__QUOTA", "1MB"),
        ];
        let (code, _, err) = s.output_with(&["run", "--once"], &env).await;
        assert_eq!(code, Some(0), "{err}");
        let got = stored_files(&s.db);
        assert_eq!(got.len(), photos.len(), "every photo is queued");
        let done: i64 = got
            .iter()
            .filter(|(_, f)| f.0 == "done")
            .map(|(post, _)| photos[post].1)
            .sum();
        let waiting = got.values().filter(|f| f.0 == "pending").count();
        assert!(done > 0 && done <= 1_000_000, "{done} bytes on disk");
        assert!(waiting > 0, "the photos over the quota wait");
        let (code, out, _) = s.output_with(&["status"], &env).await;
        assert_eq!(code, Some(0));
        assert!(
            out.contains(&format!("{waiting} pending")) && out.contains("of the 1.0 MB quota"),
            "{out}"
        );
        // `posts show` names a downloaded file by its path and hash, a waiting one with the reason.
        let post_of = |status: &str| -> i64 {
            SqliteStore::open(&s.db)
                .expect("store")
                .read("a post", |c| {
                    c.query_row(
                        "SELECT m.post_id FROM post_media m JOIN media_files f ON f.file_id = m.file_id
                         WHERE f.status = ?1 ORDER BY m.post_id LIMIT 1",
                        [status],
                        |r| r.get(0),
                    )
                })
                .expect("post")
        };
        let (_, shown, _) = s
            .output_with(&["posts", "show", &post_of("done").to_string()], &env)
            .await;
        let line = shown.lines().find(|l| l.starts_with("file: ")).unwrap_or_default();
        let path = line
            .trim_start_matches("file: ")
            .split(" (sha256 ")
            .next()
            .unwrap_or_default();
        let sha = line.rsplit("sha256 ").next().unwrap_or_default().trim_end_matches(')');
        assert!(path.starts_with("media/") && sha.len() == 64, "{shown}");
        assert_eq!(sha256_hex(&s.dir.path().join(path)), sha);
        let (_, shown, _) = s
            .output_with(&["posts", "show", &post_of("pending").to_string()], &env)
            .await;
        assert!(
            shown.contains("file: download pending; last: waiting for room: media.quota"),
            "{shown}"
        );
        // A failed download (its attempts spent) is queued again by `media retry`.
        let mut store = SqliteStore::open(&s.db).expect("store");
        store
            .write("fail one", |tx| {
                tx.execute(
                    "UPDATE media_files SET status = 'failed', attempts = 5, error = 'gone'
                     WHERE file_id = (SELECT min(file_id) FROM media_files WHERE status = 'pending')",
                    [],
                )
            })
            .expect("fail");
        drop(store);
        let (code, out, _) = s.output_with(&["media", "retry"], &env).await;
        assert_eq!((code, out.trim()), (Some(0), "1 failed downloads queued again"));
        let (_, out, _) = s.output_with(&["media", "retry"], &env).await;
        assert_eq!(out.trim(), "0 failed downloads queued again");
    })
    .await;
}

/// Every thread as tgsift stored it: (channel, post) → comments not deleted as
/// (id, reply_to, sender, text), ascending.
type Threads = std::collections::BTreeMap<(String, i32), Vec<StoredComment>>;

/// A comment as the tests compare them: (id, reply_to, sender, text).
type StoredComment = (i32, Option<i32>, String, String);

fn stored_comments(db: &Path) -> Threads {
    let store = SqliteStore::open(db).expect("store");
    let rows: Vec<((String, i32), StoredComment)> = store
        .read("comments", |c| {
            c.prepare(
                "SELECT ch.username, p.message_id, m.message_id, m.reply_to,
                        m.sender_kind || ':' || coalesce(m.sender_id, m.author, ''), m.text
                 FROM comments m JOIN posts p ON p.id = m.post_id JOIN channels ch ON ch.id = p.channel_id
                 WHERE m.deleted_at IS NULL ORDER BY 1, 2, 3",
            )?
            .query_map([], |r| {
                Ok((
                    (r.get(0)?, r.get(1)?),
                    (r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?),
                ))
            })?
            .collect()
        })
        .expect("comments");
    let mut out = Threads::new();
    for (k, v) in rows {
        out.entry(k).or_default().push(v);
    }
    out
}

/// Every thread with comments as the simulator serves it, in the shape of [`stored_comments`].
fn sim_comments(s: &Setup) -> Threads {
    use tgsift_sim::CommentSender as S;
    let mut out = Threads::new();
    for name in s.sim.channel_usernames() {
        let bare = name.trim_start_matches('@').to_string();
        let ids = s
            .sim
            .with_channel(&name, |c| c.post_ids())
            .expect("channel");
        for id in ids {
            let Some(thread) = s.sim.comments(&name, id) else {
                continue;
            };
            let rows: Vec<_> = thread
                .into_iter()
                .map(|c| {
                    let sender = match c.sender {
                        S::User(id) => format!("user:{id}"),
                        S::Channel(id) => format!("channel:{id}"),
                        S::Anonymous(author) => format!("anonymous:{author}"),
                    };
                    let reply_to = (c.reply_to != c.top_id).then_some(c.reply_to);
                    (c.id, reply_to, sender, c.text)
                })
                .collect();
            if !rows.is_empty() {
                out.insert((bare.clone(), id), rows);
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn comments_equal_the_threads_and_follow_new_and_deleted_ones() {
    within(180, async {
        let s = Setup::new(2, 200, |cfg| {
            for ch in &mut cfg.channels {
                ch.discussion = Some(tgsift_sim::DiscussionSpec::for_channel(ch, 12));
            }
        })
        .await;
        let want = sim_comments(&s);
        assert!(want.len() >= 20, "{} threads with comments", want.len());
        let nested = want.values().flatten().filter(|c| c.1.is_some()).count();
        let kinds: std::collections::BTreeSet<&str> = want
            .values()
            .flatten()
            .map(|c| c.2.split(':').next().unwrap_or(""))
            .collect();
        assert!(nested > 0 && kinds.len() == 3, "{nested} nested, senders {kinds:?}");

        // Comments are not read unless asked for.
        let (code, _, err) = s.output(&["run", "--once"]).await;
        assert_eq!(code, Some(0), "{err}");
        assert!(stored_comments(&s.db).is_empty());

        // With ingest.comments, every thread equals the simulator's; tagging.comments tags them.
        let env = [
            ("TGSIFT_INGEST__COMMENTS", "true"),
            ("TGSIFT_TAGGING__COMMENTS", "true"),
            ("TGSIFT_TAGGING__BACKEND", "embedded"),
        ];
        let (code, _, err) = s.output_with(&["run", "--once"], &env).await;
        assert_eq!(code, Some(0), "{err}");
        assert_eq!(stored_comments(&s.db), want);
        let tagging: (i64, i64, i64) = SqliteStore::open(&s.db)
            .expect("store")
            .read("tags", |c| {
                c.query_row(
                    "SELECT count(*), count(tags), count(CASE WHEN tags <> '[]' THEN 1 END)
                     FROM comments",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
            })
            .expect("tags");
        assert_eq!(tagging.0, tagging.1, "every comment is tagged: {tagging:?}");
        assert!(tagging.2 * 10 >= tagging.0 * 8, "most have tags: {tagging:?}");
        let calls = s.sim.log().count("messages.getReplies");
        let threads: i64 = SqliteStore::open(&s.db)
            .expect("store")
            .read("threads", |c| {
                c.query_row("SELECT count(*) FROM comment_threads", [], |r| r.get(0))
            })
            .expect("threads");
        assert_eq!(threads as usize, want.len(), "a thread row per post with comments");
        assert!(calls >= want.len(), "{calls} getReplies calls");

        // Nothing moved: a run asks for no thread again.
        let (code, _, _) = s.output_with(&["run", "--once"], &env).await;
        assert_eq!(code, Some(0));
        assert_eq!(s.sim.log().count("messages.getReplies"), calls);

        // New comments on a recent post, and on another one a new comment and a deleted one: the
        // next run reads those two threads only, and marks the deleted comment.
        let name = s.sim.channel_usernames()[0].clone();
        let bare = name.trim_start_matches('@').to_string();
        let recent: Vec<i32> = want
            .keys()
            .filter(|(c, _)| *c == bare)
            .map(|(_, id)| *id)
            .rev()
            .take(2)
            .collect();
        let first = want[&(bare.clone(), recent[0])][0].0;
        s.sim
            .add_comment(&name, recent[0], None, "a new comment")
            .expect("comment");
        s.sim
            .add_comment(&name, recent[0], Some(first), "a new reply")
            .expect("reply");
        let gone = want[&(bare.clone(), recent[1])][0].0;
        s.sim
            .add_comment(&name, recent[1], None, "one more")
            .expect("comment");
        assert_eq!(s.sim.delete_comments(&name, &[gone]), 1);
        let (code, _, err) = s.output_with(&["run", "--once"], &env).await;
        assert_eq!(code, Some(0), "{err}");
        assert_eq!(stored_comments(&s.db), sim_comments(&s));
        let deleted: i64 = SqliteStore::open(&s.db)
            .expect("store")
            .read("deleted", |c| {
                c.query_row(
                    "SELECT count(*) FROM comments WHERE deleted_at IS NOT NULL AND message_id = ?1",
                    [gone],
                    |r| r.get(0),
                )
            })
            .expect("deleted");
        assert_eq!(deleted, 1, "the deleted comment is kept, marked");

        // `posts show` lists a post's comments, replies pointing at what they answer.
        let post: i64 = SqliteStore::open(&s.db)
            .expect("store")
            .read("post", |c| {
                c.query_row(
                    "SELECT p.id FROM posts p JOIN channels ch ON ch.id = p.channel_id
                     WHERE ch.username = ?1 AND p.message_id = ?2",
                    rusqlite::params![bare, recent[0]],
                    |r| r.get(0),
                )
            })
            .expect("post");
        let (_, shown, _) = s.output(&["posts", "show", &post.to_string()]).await;
        assert!(
            shown.contains("a new comment") && shown.contains(&format!("→ #{first}")),
            "{shown}"
        );
        let (_, status, _) = s.output_with(&["status"], &env).await;
        assert!(status.contains("comments: "), "{status}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_without_a_comment_section_is_asked_once_and_flagged_channels_alone_are_read() {
    within(120, async {
        let s = Setup::new(2, 150, |cfg| {
            for ch in &mut cfg.channels {
                ch.discussion = Some(tgsift_sim::DiscussionSpec::for_channel(ch, 6));
            }
        })
        .await;
        let names = s.sim.channel_usernames();
        let (flagged, other) = (
            names[0].trim_start_matches('@').to_string(),
            names[1].trim_start_matches('@').to_string(),
        );
        let ch = SqliteStore::open(&s.db)
            .expect("store")
            .channels()
            .expect("channels")
            .into_iter()
            .find(|c| c.username.as_deref() == Some(&flagged))
            .expect("channel");
        let (code, out, err) = s
            .output(&["channels", "comments", &format!("@{flagged}")])
            .await;
        assert_eq!(
            (code, out.trim()),
            (
                Some(0),
                format!("@{flagged}: its comments are read").as_str()
            ),
            "{err}"
        );
        let (code, _, err) = s.output(&["channels", "comments", "@nobody"]).await;
        assert_eq!(code, Some(2), "{err}");
        assert!(
            err.contains("no followed channel matches `@nobody`"),
            "{err}"
        );
        let (code, _, err) = s.output(&["run", "--once"]).await;
        assert_eq!(code, Some(0), "{err}");
        let got = stored_comments(&s.db);
        assert!(got.keys().all(|(c, _)| *c == flagged) && !got.is_empty());
        let want: Threads = sim_comments(&s)
            .into_iter()
            .filter(|((c, _), _)| *c == flagged)
            .collect();
        assert_eq!(got, want);
        assert_eq!(
            SqliteStore::open(&s.db)
                .expect("store")
                .read("group", |c| c.query_row(
                    "SELECT linked_chat_id FROM channels WHERE id = ?1",
                    [ch.id],
                    |r| r.get::<_, Option<i64>>(0)
                ))
                .expect("group"),
            s.sim.discussion(&format!("@{flagged}")).map(|g| g.0),
            "the discussion group is recorded"
        );
        let _ = other;

        // A post from before the group was linked, said to have comments (a stale count): Telegram
        // answers MSG_ID_INVALID once, and it is never asked again.
        let early = SqliteStore::open(&s.db)
            .expect("store")
            .write("claim comments", |tx| {
                tx.execute(
                    "UPDATE posts SET replies = 3, replies_max_id = 9 WHERE channel_id = ?1
                       AND message_id = (SELECT min(message_id) FROM posts WHERE channel_id = ?1
                                           AND replies IS NULL AND message_id > 1)",
                    [ch.id],
                )
            })
            .expect("claim");
        assert_eq!(early, 1);
        let before = s.sim.log().count("messages.getReplies");
        for _ in 0..2 {
            let (code, _, err) = s.output(&["run", "--once"]).await;
            assert_eq!(code, Some(0), "{err}");
        }
        assert_eq!(s.sim.log().count("messages.getReplies"), before + 1);
        let none: i64 = SqliteStore::open(&s.db)
            .expect("store")
            .read("none", |c| {
                c.query_row(
                    "SELECT count(*) FROM comment_threads WHERE section = 0",
                    [],
                    |r| r.get(0),
                )
            })
            .expect("none");
        assert_eq!(none, 1);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn comments_read_through_short_pages_placeholders_and_repeats_equal_the_threads() {
    within(180, async {
        let s = Setup::new(1, 150, |cfg| {
            for ch in &mut cfg.channels {
                ch.discussion = Some(tgsift_sim::DiscussionSpec::for_channel(ch, 30));
            }
            cfg.faults = RandomFaults {
                short_page: 0.3,
                empty: 0.02,
                dup: 0.1,
                ..RandomFaults::default()
            };
        })
        .await;
        let want = sim_comments(&s);
        let env = [("TGSIFT_INGEST__COMMENTS", "true")];
        // A thread that met placeholders is read again by a later run; none is taken for deleted.
        let mut runs = 0;
        while stored_comments(&s.db) != want && runs < 8 {
            let (code, _, err) = s.output_with(&["run", "--once"], &env).await;
            assert_eq!(code, Some(0), "{err}");
            runs += 1;
        }
        let got = stored_comments(&s.db);
        let differ: Vec<String> = want
            .iter()
            .filter(|(k, v)| got.get(*k) != Some(*v))
            .map(|(k, v)| {
                let ids = |t: Option<&Vec<StoredComment>>| -> Vec<i32> {
                    t.map(|t| t.iter().map(|c| c.0).collect())
                        .unwrap_or_default()
                };
                format!("{k:?}: want {:?}, got {:?}", ids(Some(v)), ids(got.get(k)))
            })
            .collect();
        assert!(
            differ.is_empty() && got.len() == want.len(),
            "after {runs} runs, {} of {} threads differ: {differ:?}",
            differ.len(),
            want.len()
        );
        let deleted: i64 = SqliteStore::open(&s.db)
            .expect("store")
            .read("deleted", |c| {
                c.query_row(
                    "SELECT count(*) FROM comments WHERE deleted_at IS NOT NULL",
                    [],
                    |r| r.get(0),
                )
            })
            .expect("deleted");
        assert_eq!(
            deleted, 0,
            "a comment Telegram left out is not a deleted one"
        );
    })
    .await;
}
