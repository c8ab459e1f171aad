//! Live mode's promises: posts published while the service runs are stored exactly once from the
//! updates Telegram pushes, edits and deletions are applied, and nothing is lost through dropped
//! pushes, `updateChannelTooLong`, `updatesTooLong`, a lost connection, a FLOOD_WAIT on the difference
//! calls, or a `kill -9` — with the history polled only to reconcile.

use std::process::Child;
use std::time::{Duration, Instant};

use crate::common::setup::Setup;
use crate::common::{sent_into_open_windows, within};
use rand::{Rng, SeedableRng};
use tgsift_sim::{Fault, LiveConfig, PushFault, Scripted, ScriptedPush};
use tgsift_store::SqliteStore;
use tgsift_store::prelude::*;

/// Runs a read on a fresh connection to the test database.
fn query<T>(
    db: &std::path::Path,
    f: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T>,
) -> T {
    SqliteStore::open(db)
        .expect("store")
        .read("test query", f)
        .expect("query")
}

fn count(db: &std::path::Path, sql: &str) -> i64 {
    query(db, |c| c.query_row(sql, [], |r| r.get(0)))
}

/// Polls `cond` every 100 ms for up to `limit`.
async fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let t0 = Instant::now();
    while t0.elapsed() < limit {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    cond()
}

/// `tgsift run` in live mode: reconciling polls far away (1 h), so what is stored comes from updates;
/// every channel's difference asked at least every `check_interval` seconds.
fn run_live(s: &Setup, check_interval: &str) -> Running {
    run_live_with(s, &[("TGSIFT_INGEST__LIVE_CHECK_INTERVAL", check_interval)])
}

/// [`run_live`] with more settings.
fn run_live_with(s: &Setup, env: &[(&str, &str)]) -> Running {
    let mut all = vec![
        ("TGSIFT_INGEST__MODE", "live"),
        ("TGSIFT_INGEST__RECONCILE_INTERVAL", "3600"),
    ];
    all.extend_from_slice(env);
    Running(s.spawn_logged(&["run"], "60", &all))
}

/// A `tgsift run` that is killed when dropped, so a failing test leaves no process behind.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The simulator's publish log, kept in memory: `channel_id,message_id,unix_ms` per new post.
#[derive(Clone, Default)]
struct Published(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Published {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(b);
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Published {
    /// (channel id, message id, published at, ms) of every post published so far.
    fn entries(&self) -> Vec<(i64, i32, i64)> {
        let text =
            String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned();
        text.lines()
            .filter_map(|l| {
                let mut f = l.split(',');
                Some((
                    f.next()?.parse().ok()?,
                    f.next()?.parse().ok()?,
                    f.next()?.parse().ok()?,
                ))
            })
            .collect()
    }

    /// Milliseconds from published to stored of every post in the log, sorted; panics naming the
    /// posts that were never stored.
    fn delays(&self, db: &std::path::Path) -> Vec<i64> {
        let stored: std::collections::HashMap<(i64, i32), i64> = query(db, |c| {
            let mut st = c.prepare(
                "SELECT c.tg_id, p.message_id, p.stored_at_ms FROM posts p JOIN channels c ON c.id = p.channel_id WHERE p.stored_at_ms IS NOT NULL",
            )?;
            let rows = st.query_map([], |r| Ok(((r.get(0)?, r.get(1)?), r.get(2)?)))?;
            rows.collect()
        });
        let mut missing = Vec::new();
        let mut delays: Vec<i64> = self
            .entries()
            .into_iter()
            .filter_map(|(ch, id, at)| match stored.get(&(ch, id)) {
                Some(s) => Some(s - at),
                None => {
                    missing.push((ch, id));
                    None
                }
            })
            .collect();
        assert!(missing.is_empty(), "never stored: {missing:?}");
        delays.sort_unstable();
        delays
    }
}

/// The `q` quantile of sorted values.
fn quantile(sorted: &[i64], q: f64) -> i64 {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// No channel is parked or deactivated.
fn none_parked(db: &std::path::Path) -> bool {
    count(
        db,
        "SELECT count(*) FROM channels WHERE parked_at IS NOT NULL OR active = 0",
    ) == 0
}

/// Waits until the database agrees with the simulator; panics with the differences otherwise.
async fn converges(s: &Setup, limit: Duration) {
    converges_but(s, limit, &[]).await
}

/// [`converges`], allowing the posts `unannounced` to be marked hidden rather than deleted.
async fn converges_but(s: &Setup, limit: Duration, unannounced: &[(String, i32)]) {
    if !eventually(limit, || s.live_differences_but(unannounced).is_empty()).await {
        let d = s.live_differences_but(unannounced);
        panic!(
            "{} differences, first: {:?}",
            d.len(),
            &d[..d.len().min(10)]
        );
    }
}

/// Every channel has been polled once and has its pts and membership recorded.
fn all_followed_live(db: &std::path::Path, channels: i64) -> bool {
    count(
        db,
        "SELECT count(*) FROM channel_live WHERE pts IS NOT NULL AND member = 1",
    ) == channels
}

fn kill(child: impl Into<Option<Running>>) {
    drop(child.into());
}

#[tokio::test]
async fn a_30_s_window_over_50_channels_is_stored_exactly_once_through_drops_too_long_and_a_disconnect()
 {
    within(120, async {
        let s = Setup::new(50, 20, |_| {}).await;
        let child = run_live(&s, "2");
        // The first pass polls every channel once (their pts and membership come with the page).
        assert!(
            eventually(Duration::from_secs(30), || all_followed_live(&s.db, 50)
                && s.sim.subscribers() > 0)
            .await,
            "channels polled once and updates asked for"
        );
        let history_before = s.sim.log().count("messages.getHistory");
        // Faults on the pushes: some dropped at random, one updateChannelTooLong, one updatesTooLong;
        // and a FLOOD_WAIT on the first difference call.
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..12 {
            s.sim
                .script_push(ScriptedPush::next(PushFault::Drop).after(rng.random_range(0..700)));
        }
        s.sim
            .script_push(ScriptedPush::next(PushFault::ChannelTooLong).after(250));
        s.sim
            .script_push(ScriptedPush::next(PushFault::UpdatesTooLong).after(420));
        s.sim.script(Scripted::on(
            "updates.getChannelDifference",
            Fault::FloodWait(1),
        ));
        let live = s.sim.start_live(LiveConfig {
            rate: 25.0,
            edits: 0.1,
            deletes: 0.05,
            seed: 3,
        comments: 0.0,
        });
        tokio::time::sleep(Duration::from_secs(15)).await;
        s.sim.disconnect_all();
        tokio::time::sleep(Duration::from_secs(15)).await;
        let (published, edited, deleted) = (live.published(), live.edited(), live.deleted());
        live.stop().await;
        assert!(published >= 700, "published {published}");
        assert!(edited > 20 && deleted > 10, "edited {edited}, deleted {deleted}");
        converges(&s, Duration::from_secs(20)).await;
        // Edits kept their earlier texts; deletions are rows marked, not rows dropped.
        assert!(count(&s.db, "SELECT count(*) FROM post_versions") > 0);
        assert!(count(&s.db, "SELECT count(*) FROM posts WHERE deleted_at IS NOT NULL") > 0);
        // Every post published in the window was stored once, from updates: the history was asked
        // only to fill holes (posts deleted before anyone saw them), never polled per channel.
        let history = s.sim.log().count("messages.getHistory") - history_before;
        let differences = s.sim.log().count("updates.getChannelDifference");
        eprintln!("published {published} edited {edited} deleted {deleted} history {history} differences {differences} state {}", s.sim.log().count("updates.getDifference"));
        assert!(history < 25, "{history} getHistory calls during the window");
        assert!(
            differences >= 50,
            "the lost connection asks every channel: {differences}"
        );
        assert!(
            sent_into_open_windows(&s.sim, Duration::from_millis(200)).is_empty(),
            "no call inside a FLOOD_WAIT window"
        );
        kill(child);
    })
    .await;
}

#[tokio::test]
async fn kill_9_in_live_mode_then_a_restart_catches_up_from_the_stored_pts_and_loses_nothing() {
    within(120, async {
        // Channels keep 40 events each, so a channel that gets more while tgsift is down is "too
        // long" to replay and comes back through its history.
        let s = Setup::new(8, 30, |c| c.event_log = 40).await;
        let child = run_live(&s, "2");
        assert!(
            eventually(Duration::from_secs(30), || all_followed_live(&s.db, 8)
                && s.sim.subscribers() > 0)
            .await
        );
        // No random deletions here: one of a post published and deleted while tgsift is down leaves
        // a hole for the poller, which would blur the count of history calls below (the 30 s window
        // test has them).
        let live = s.sim.start_live(LiveConfig {
            rate: 30.0,
            edits: 0.1,
            deletes: 0.0,
            seed: 11,
            comments: 0.0,
        });
        tokio::time::sleep(Duration::from_secs(5)).await;
        kill(child);
        let history_before = s.sim.log().count("messages.getHistory");
        // While it is down: the world goes on, and one channel changes more than it keeps events
        // of — new posts, and two posts stored before the kill edited and deleted.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let busy = "@sim_tech";
        let stored: Vec<i32> = query(&s.db, |c| {
            let mut st = c.prepare(
                "SELECT p.message_id FROM posts p JOIN channels c ON c.id = p.channel_id
                 WHERE c.username = 'sim_tech' AND p.text != '' ORDER BY 1 DESC LIMIT 2",
            )?;
            st.query_map([], |r| r.get(0))?.collect()
        });
        for _ in 0..60 {
            s.sim.publish_post(busy).expect("publish");
        }
        assert!(
            s.sim
                .edit_post(busy, stored[0], "edited while tgsift was down")
        );
        assert_eq!(s.sim.delete_messages(busy, &[stored[1]]), 1);
        live.stop().await;
        assert!(
            !s.live_differences().is_empty(),
            "the database is behind while tgsift is down"
        );
        let differences_before = s.sim.log().count("updates.getChannelDifference");
        let child = run_live(&s, "2");
        // The deletion fell out of the channel's events: only the newest page can show it, as a
        // post gone from view (hidden), not as an announced deletion.
        let unannounced = [("sim_tech".to_string(), stored[1])];
        converges_but(&s, Duration::from_secs(30), &unannounced).await;
        let differences = s.sim.log().count("updates.getChannelDifference") - differences_before;
        assert!(
            differences >= 8,
            "every channel asked from its stored pts: {differences}"
        );
        // Caught up from the stored pts: differences for every channel, the history only for the
        // channel that was too far behind — not a poll of every channel.
        let history = s.sim.log().count("messages.getHistory") - history_before;
        assert!(
            (1..=4).contains(&history),
            "{history} getHistory calls after the restart"
        );
        kill(child);
    })
    .await;
}

#[tokio::test]
async fn channels_add_join_makes_the_account_a_member_and_its_posts_arrive_live() {
    within(90, async {
        let s = Setup::new(2, 10, |_| {}).await;
        // The account leaves both channels, and the database forgets them.
        let client = crate::common::client(&s.sim, 0, true);
        for name in ["@sim_news", "@sim_tech"] {
            let (id, hash) = s
                .sim
                .with_channel(name, |c| (c.spec().id, c.spec().access_hash))
                .expect("channel");
            client
                .invoke(&grammers_tl_types::functions::channels::LeaveChannel {
                    channel: grammers_tl_types::enums::InputChannel::Channel(
                        grammers_tl_types::types::InputChannel {
                            channel_id: id,
                            access_hash: hash,
                        },
                    ),
                })
                .await
                .expect("leave");
            assert_eq!(s.sim.is_member(name, 0), Some(false));
        }
        {
            let mut store = SqliteStore::open(&s.db).expect("store");
            for ch in store.channels().expect("channels") {
                store.remove_channel(ch.id).expect("remove");
            }
        }
        // The simulator runs on this test's runtime: wait for the CLI off it.
        let add = |args: &[&str]| {
            let child = s.spawn_with(args, "60", &[]);
            async move {
                let out = tokio::task::spawn_blocking(move || child.wait_with_output())
                    .await
                    .expect("join")
                    .expect("channels add");
                let err = String::from_utf8_lossy(&out.stderr).to_string();
                (out.status.code(), err)
            }
        };
        let (code, err) = add(&["channels", "add", "alice", "@sim_tech", "--join"]).await;
        assert_eq!(code, Some(0), "{err}");
        assert_eq!(s.sim.is_member("@sim_tech", 0), Some(true), "joined");
        let (code, err) = add(&["channels", "add", "alice", "@sim_news"]).await;
        assert_eq!(code, Some(0), "{err}");
        assert_eq!(s.sim.is_member("@sim_news", 0), Some(false));
        let members: Vec<(String, bool)> = query(&s.db, |c| {
            let mut st = c.prepare(
                "SELECT c.username, l.member FROM channels c JOIN channel_live l ON l.channel_id = c.id ORDER BY 1",
            )?;
            st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect()
        });
        assert_eq!(
            members,
            vec![("sim_news".to_string(), false), ("sim_tech".to_string(), true)]
        );
        // Both are polled once; then a post in each: the member channel's arrives pushed at once,
        // the other waits for its next poll (a minute away).
        let child = run_live(&s, "900");
        assert!(
            eventually(Duration::from_secs(20), || count(
                &s.db,
                "SELECT count(*) FROM channels WHERE last_fetch_at IS NOT NULL"
            ) == 2
                && s.sim.subscribers() > 0)
            .await
        );
        // The live task picks the member channel up within its reload (5 s).
        tokio::time::sleep(Duration::from_secs(6)).await;
        let tech = s.sim.append_post("@sim_tech", "pushed post").expect("post");
        let news = s.sim.append_post("@sim_news", "polled post").expect("post");
        let stored = |name: &str, id: i32| {
            count(
                &s.db,
                &format!(
                    "SELECT count(*) FROM posts p JOIN channels c ON c.id = p.channel_id
                     WHERE c.username = '{name}' AND p.message_id = {id}"
                ),
            ) == 1
        };
        assert!(
            eventually(Duration::from_secs(10), || stored("sim_tech", tech)).await,
            "the joined channel's post arrives through its update"
        );
        assert!(
            !stored("sim_news", news),
            "the other channel is not a member: no update, polled every minute"
        );
        kill(child);
    })
    .await;
}

/// Waits until every channel is followed live and the account asked for pushes.
async fn followed(s: &Setup, channels: i64) {
    assert!(
        eventually(Duration::from_secs(30), || all_followed_live(
            &s.db, channels
        ) && s.sim.subscribers() > 0)
        .await,
        "channels polled once and updates asked for"
    );
}

#[tokio::test]
async fn pushes_that_stop_and_channels_never_pushed_are_stored_within_the_check_interval() {
    within(150, async {
        let s = Setup::new(4, 20, |_| {}).await;
        // Telegram's own pace: come back after 1 s at the earliest (the check interval is longer).
        s.sim.set_channel_timeout(1);
        let child = run_live(&s, "6");
        followed(&s, 4).await;
        // (a) Pushes stop for a connection that sent no request for 1 s — with four channels
        // checked every 6 s the account is idle that long most of the time; (b) half the channels
        // are never pushed at all.
        s.sim.set_push_idle_stop(Some(Duration::from_secs(1)));
        s.sim.set_unpushed(0.5);
        let ids: Vec<i64> = s
            .sim
            .channel_usernames()
            .iter()
            .filter_map(|u| s.sim.with_channel(u, |c| c.spec().id))
            .collect();
        let never = ids.iter().filter(|id| s.sim.is_unpushed(**id)).count();
        assert!((1..4).contains(&never), "{never} of 4 channels unpushed");
        let log = Published::default();
        let live = s
            .sim
            .start_live_logged(LiveConfig::posts(4.0), Box::new(log.clone()));
        tokio::time::sleep(Duration::from_secs(24)).await;
        live.stop().await;
        converges(&s, Duration::from_secs(10)).await;
        let delays = log.delays(&s.db);
        let counts = s.sim.silence_counts();
        eprintln!(
            "{} posts, publish→stored p50 {} ms p99 {} ms max {} ms; sim {counts:?}",
            delays.len(),
            quantile(&delays, 0.5),
            quantile(&delays, 0.99),
            quantile(&delays, 1.0)
        );
        assert!(delays.len() >= 80, "{} posts published", delays.len());
        assert!(
            counts.pushes_idle_stopped > 0 && counts.pushes_unpushed > 0,
            "the simulator withheld pushes both ways: {counts:?}"
        );
        // Every post within the check interval (6 s), with 1 s for writing and scheduling.
        assert!(
            quantile(&delays, 0.99) <= 7_000,
            "p99 {} ms",
            quantile(&delays, 0.99)
        );
        assert!(none_parked(&s.db));
        kill(child);
    })
    .await;
}

#[tokio::test]
async fn a_black_holed_connection_is_rebuilt_and_a_session_reset_is_recovered_by_get_difference() {
    within(150, async {
        let s = Setup::new(4, 20, |_| {}).await;
        // Checks far apart (120 s; after the first sweep a channel is checked again within 60–120 s):
        // what recovers the posts here is the keep-alive's getDifference and the sweep after a
        // rebuilt connection, not the round robin.
        let child = run_live_with(
            &s,
            &[
                ("TGSIFT_INGEST__LIVE_CHECK_INTERVAL", "120"),
                ("TGSIFT_INGEST__LIVE_KEEPALIVE", "2"),
                ("TGSIFT_TELEGRAM__PING_DEADLINE", "2"),
                ("TGSIFT_TELEGRAM__REQUEST_TIMEOUT", "5"),
            ],
        );
        followed(&s, 4).await;
        let live = s.sim.start_live(LiveConfig::posts(4.0));
        tokio::time::sleep(Duration::from_secs(3)).await;
        // (c) The connection goes half-open: nothing is answered or pushed, nothing closes it.
        let account = s.sim.accounts()[0].user_id;
        let t0 = std::time::Instant::now();
        assert!(s.sim.blackhole(0) >= 1, "a live connection to black-hole");
        // Within 2 × the ping deadline the client drops it and asks again on a new connection
        // (nothing arrives from the black-holed one).
        assert!(
            eventually(Duration::from_secs(8), || s
                .sim
                .log()
                .requests()
                .iter()
                .any(|r| r.at >= t0 && r.account == account))
            .await,
            "no request after the black hole"
        );
        let first = s
            .sim
            .log()
            .requests()
            .iter()
            .filter(|r| r.at >= t0 && r.account == account)
            .map(|r| r.at)
            .min()
            .expect("a request");
        let rebuilt = first.duration_since(t0);
        eprintln!("rebuilt after {rebuilt:?}");
        assert!(rebuilt <= Duration::from_millis(4_500), "{rebuilt:?}");
        tokio::time::sleep(Duration::from_secs(4)).await;
        // (d) The server resets the session and drops the pushes queued for it.
        assert!(s.sim.reset_sessions(0) >= 1, "a live session to reset");
        // A post in every channel at once, before the client can have asked anything on the
        // reset session: their pushes are dropped (at 4 posts/s alone the gap may see none).
        for u in s.sim.channel_usernames() {
            assert!(s.sim.publish_post(&u).is_some(), "{u}");
        }
        tokio::time::sleep(Duration::from_secs(6)).await;
        live.stop().await;
        // Recovered well before the next round-robin check (60 s at the earliest).
        converges(&s, Duration::from_secs(12)).await;
        let counts = s.sim.silence_counts();
        eprintln!("sim {counts:?}");
        assert!(
            counts.black_holes >= 1 && counts.session_resets >= 1,
            "{counts:?}"
        );
        assert!(
            counts.pushes_session_reset > 0,
            "pushes dropped by the reset: {counts:?}"
        );
        assert!(none_parked(&s.db));
        kill(child);
    })
    .await;
}

#[tokio::test]
async fn rotating_salts_a_skewed_clock_and_an_unknown_update_lose_nothing() {
    within(150, async {
        let s = Setup::new(4, 20, |_| {}).await;
        // (e) Salts rotate every 2 s; the server's clock is 10 minutes ahead of this machine's.
        s.sim.set_salt_rotate(Some(Duration::from_secs(2)));
        s.sim.set_clock_skew(600);
        let mut child = run_live(&s, "30");
        followed(&s, 4).await;
        let live = s.sim.start_live(LiveConfig {
            rate: 4.0,
            edits: 0.1,
            deletes: 0.05,
            seed: 5,
            comments: 0.0,
        });
        // (f) Pushes carrying an update of a newer layer the client cannot read.
        for n in [5, 15, 25] {
            s.sim
                .script_push(ScriptedPush::next(PushFault::UnknownUpdate).after(n));
        }
        tokio::time::sleep(Duration::from_secs(8)).await;
        // Then this machine's clock jumps 10 minutes ahead of Telegram's: Telegram refuses every
        // request (msg_id too high) and grammers 0.11 cannot correct it on the connection. Pushes
        // still come; tgsift says what is wrong and keeps the connection that delivers them.
        s.sim.set_clock_skew(-600);
        tokio::time::sleep(Duration::from_secs(4)).await;
        assert!(
            s.log().contains("clock is ahead of Telegram"),
            "the skew is named: {}",
            s.log()
        );
        // The clock is put right: whatever the refused requests were to fetch arrives.
        s.sim.set_clock_skew(0);
        tokio::time::sleep(Duration::from_secs(4)).await;
        live.stop().await;
        if !eventually(Duration::from_secs(20), || s.live_differences().is_empty()).await {
            eprintln!("{}", s.log());
        }
        converges(&s, Duration::from_secs(1)).await;
        let counts = s.sim.silence_counts();
        eprintln!("sim {counts:?}");
        assert!(
            counts.bad_server_salts > 0,
            "stale salts were refused: {counts:?}"
        );
        assert!(
            counts.msg_ids_too_low > 0 && counts.msg_ids_too_high > 0,
            "both skews were met: {counts:?}"
        );
        assert_eq!(counts.unknown_updates, 3, "{counts:?}");
        assert!(none_parked(&s.db));
        // Nothing died: the service still runs and still stores what is published.
        assert!(child.0.try_wait().expect("wait").is_none(), "tgsift exited");
        let id = s
            .sim
            .publish_post(&s.sim.channel_usernames()[0])
            .expect("post");
        assert!(
            eventually(Duration::from_secs(15), || count(
                &s.db,
                &format!("SELECT count(*) FROM posts WHERE message_id = {id}")
            ) >= 1)
            .await,
            "post {id} stored after the faults"
        );
        kill(child);
    })
    .await;
}

/// Issue 31, item 13: a live run follows its channels by updates and may poll none; stopped, it
/// says how many channels are active instead of "no active channels".
#[tokio::test]
async fn a_stopped_live_run_that_polled_nothing_names_its_active_channels() {
    within(90, async {
        let s = Setup::new(2, 20, |_| {}).await;
        let (code, _, err) = s.output(&["run", "--once"]).await;
        assert_eq!(code, Some(0), "{err}");
        let mut child = s
            .command(
                &["run"],
                "600",
                &[
                    ("TGSIFT_INGEST__MODE", "live"),
                    ("TGSIFT_INGEST__RECONCILE_INTERVAL", "3600"),
                ],
            )
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn");
        assert!(
            eventually(Duration::from_secs(20), || s.sim.subscribers() > 0).await,
            "live mode subscribed"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
        crate::common::setup::sigterm(&child);
        let out = tokio::task::spawn_blocking(move || {
            let status = crate::common::setup::wait_exit(&mut child, Duration::from_secs(10));
            let mut out = String::new();
            if let Some(mut o) = child.stdout.take() {
                use std::io::Read;
                let _ = o.read_to_string(&mut out);
            }
            let _ = child.kill();
            let _ = child.wait();
            (status.and_then(|s| s.code()), out)
        })
        .await
        .expect("join");
        assert_eq!(out.0, Some(0), "{}", out.1);
        assert!(
            !out.1.contains("no active channels") && out.1.contains("2 active channel(s)"),
            "{}",
            out.1
        );
    })
    .await;
}

#[tokio::test]
async fn a_member_of_the_discussion_group_stores_comments_as_they_are_pushed() {
    within(120, async {
        let s = Setup::new(1, 60, |cfg| {
            for ch in &mut cfg.channels {
                ch.discussion = Some(tgsift_sim::DiscussionSpec::for_channel(ch, 5));
            }
        })
        .await;
        let name = s.sim.channel_usernames()[0].clone();
        s.sim.join_discussion(&name, 0);
        let total: usize = (1..=60)
            .filter_map(|id| s.sim.comments(&name, id))
            .map(|t| t.len())
            .sum();
        assert!(total > 0);
        let child = run_live_with(
            &s,
            &[
                ("TGSIFT_INGEST__COMMENTS", "true"),
                ("TGSIFT_INGEST__LIVE_CHECK_INTERVAL", "900"),
            ],
        );
        let stored_comments = || count(&s.db, "SELECT count(*) FROM comments") as usize;
        assert!(
            eventually(Duration::from_secs(60), || all_followed_live(&s.db, 1)
                && stored_comments() == total)
            .await,
            "the history's threads are read first: {} of {total}",
            stored_comments()
        );
        // The live task learns the discussion group at its next reload (5 s).
        tokio::time::sleep(Duration::from_secs(6)).await;
        let calls = s.sim.log().count("messages.getReplies");

        // A new post, comments on it, a reply: pushed to the group's member and stored as they
        // come, without reading the thread.
        let post = s.sim.append_post(&name, "a post to discuss").expect("post");
        let post_stored = || {
            count(
                &s.db,
                &format!("SELECT count(*) FROM posts WHERE message_id = {post}"),
            ) == 1
        };
        assert!(eventually(Duration::from_secs(10), post_stored).await);
        let first = s
            .sim
            .add_comment(&name, post, None, "first!")
            .expect("comment");
        let reply = s
            .sim
            .add_comment(&name, post, Some(first), "a reply")
            .expect("reply");
        let thread = || -> Vec<(i32, Option<i32>, String)> {
            query(&s.db, |c| {
                c.prepare(&format!(
                    "SELECT m.message_id, m.reply_to, m.text FROM comments m JOIN posts p ON p.id = m.post_id
                     WHERE p.message_id = {post} AND m.deleted_at IS NULL ORDER BY 1"
                ))?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect()
            })
        };
        let want = vec![
            (first, None, "first!".to_string()),
            (reply, Some(first), "a reply".to_string()),
        ];
        assert!(
            eventually(Duration::from_secs(10), || thread() == want).await,
            "{:?}",
            thread()
        );
        // The comments pass runs every 30 s at most: give it one, it reads nothing.
        tokio::time::sleep(Duration::from_secs(31)).await;
        assert_eq!(
            s.sim.log().count("messages.getReplies"),
            calls,
            "pushed comments are not read again"
        );

        // A deletion pushed marks the comment.
        assert_eq!(s.sim.delete_comments(&name, &[first]), 1);
        assert!(
            eventually(Duration::from_secs(10), || count(
                &s.db,
                &format!("SELECT count(*) FROM comments WHERE message_id = {first} AND deleted_at IS NOT NULL")
            ) == 1)
            .await
        );
        kill(child);
    })
    .await;
}
