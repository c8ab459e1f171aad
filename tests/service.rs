//! The service's promises to an operator who runs it for months: no silent task death, bounded
//! shutdown with everything on, errors that do not kill channels, claims that fit the work,
//! administration while it runs, and a PostgreSQL worker paused while it holds an account, fenced off
//! (this test waits out Telegram's 75 s disconnect delay; here it runs beside the other service tests
//! instead of alone at the end of tests/postgres.rs).

use std::io::Read;
use std::net::TcpListener;
use std::process::Child;
use std::time::{Duration, Instant};
use tgsift::telegram::session::SimSessions;

use crate::common::setup::{Setup, sigterm, wait_exit};
use crate::common::within;
use crate::common::workers::{copied, pg_posts, sim_truth, spawn_worker};
use tgsift_sim::log::Outcome;
use tgsift_sim::{AccountSpec, Fault, Scripted, Standing};
use tgsift_store::prelude::*;
use tgsift_store::testing::postgres::fresh_url;
use tgsift_store::{NewChannel, SqliteStore, unix_now};

/// A TCP server that accepts connections and never answers: an LLM endpoint that hangs.
fn silent_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming() {
            match conn {
                Ok(c) => held.push(c),
                Err(_) => return,
            }
        }
    });
    format!("http://{addr}/v1")
}

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

/// Polls `cond` every 50 ms for up to `limit`.
async fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let t0 = Instant::now();
    while t0.elapsed() < limit {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cond()
}

/// Ends a child with SIGTERM and returns its exit code and stderr.
async fn stop(mut child: Child) -> (Option<i32>, String) {
    sigterm(&child);
    let (status, child) = tokio::task::spawn_blocking(move || {
        let st = wait_exit(&mut child, Duration::from_secs(10));
        (st, child)
    })
    .await
    .expect("join");
    stderr_of(child, status.and_then(|s| s.code()))
}

fn stderr_of(mut child: Child, code: Option<i32>) -> (Option<i32>, String) {
    let _ = child.kill();
    let _ = child.wait();
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    (code, err)
}

/// Ingests every channel once with tagging off, so the posts wait `pending`.
async fn ingest_only(s: &Setup) {
    let mut child = s.spawn(&["run", "--once"], "60");
    let st = tokio::task::spawn_blocking(move || child.wait().expect("wait"))
        .await
        .expect("join");
    assert!(st.success(), "ingest run failed");
}

#[tokio::test]
async fn sigterm_with_tagging_and_a_hanging_llm_and_a_slow_pacer_exits_0_within_5_s() {
    within(60, async {
        let s = Setup::new(1, 2_000, |_| {}).await;
        let llm = silent_server();
        let child = s.spawn_with(
            &["run"],
            "60",
            &[
                ("TGSIFT_TAGGING__BACKEND", "llm"),
                ("TGSIFT_TAGGING__LLM_BASE_URL", &llm),
                ("TGSIFT_TAGGING__LLM_FALLBACK_TO_EMBEDDED", "false"),
                // Requests 10 s apart: after the newest page and the first backfill page, the next
                // one waits in the pacer.
                ("TGSIFT_TELEGRAM__PACER_INITIAL_RATE", "0.1"),
                ("TGSIFT_TELEGRAM__MAX_IN_FLIGHT", "1"),
            ],
        );
        let db = s.db.clone();
        assert!(
            eventually(Duration::from_secs(30), || count(
                &db,
                "SELECT count(*) FROM posts WHERE tagging_claim IS NOT NULL"
            ) > 0)
            .await,
            "the first page is stored and its posts are being tagged"
        );
        let t0 = Instant::now();
        let (code, err) = stop(child).await;
        assert_eq!(code, Some(0), "graceful shutdown exits 0: {err}");
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "{:?}: {err}",
            t0.elapsed()
        );
        let (pending, touched) = query(&s.db, |c| {
            c.query_row(
                "SELECT count(*) FILTER (WHERE tagging_status = 'pending' AND tagging_claim IS NULL),
                        count(*) FILTER (WHERE tagging_attempts > 0 OR tagging_status != 'pending')
                 FROM posts WHERE text != ''",
                [],
                |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)),
            )
        });
        assert!(pending > 0);
        assert_eq!(
            touched, 0,
            "interrupted attempts leave posts due, with no attempt counted"
        );
    })
    .await;
}

#[tokio::test]
async fn a_store_failure_in_the_tagging_task_is_logged_and_recovered() {
    within(90, async {
        let s = Setup::new(1, 300, |_| {}).await;
        ingest_only(&s).await;
        let store = SqliteStore::open(&s.db).expect("store");
        store
            .read("inject", |c| {
                c.execute_batch(
                    "UPDATE channels SET active = 0;
                     CREATE TRIGGER fail_claims BEFORE UPDATE OF tagging_claim ON posts
                     WHEN NEW.tagging_claim IS NOT NULL
                     BEGIN SELECT RAISE(ABORT, 'injected claim failure'); END;",
                )
            })
            .expect("trigger");
        let child = s.spawn_with(&["run"], "60", &[("TGSIFT_TAGGING__BACKEND", "embedded")]);
        let db = s.db.clone();
        assert!(
            eventually(Duration::from_secs(15), || count(
                &db,
                "SELECT coalesce(max(restarts), 0) FROM worker_tasks WHERE name = 'tagging'"
            ) >= 1)
            .await,
            "the failed tagging task is restarted"
        );
        let status = std::process::Command::new(env!("CARGO_BIN_EXE_tgsift"))
            .args(["--db", s.db.to_str().expect("utf8"), "status"])
            .env_remove("TGSIFT_CONFIG")
            .output()
            .expect("status");
        let shown = String::from_utf8_lossy(&status.stdout).to_string();
        assert!(
            shown.contains("service: running")
                && shown.contains("tagging")
                && shown.contains("injected claim failure"),
            "{shown}"
        );
        store
            .read("heal", |c| c.execute_batch("DROP TRIGGER fail_claims"))
            .expect("drop trigger");
        assert!(
            eventually(Duration::from_secs(30), || count(
                &db,
                "SELECT count(*) FROM posts WHERE text != '' AND tagging_status != 'success'"
            ) == 0)
            .await,
            "after the store recovers every post is tagged"
        );
        let (code, err) = stop(child).await;
        assert_eq!(code, Some(0), "{err}");
        assert!(
            err.contains("ERROR")
                && err.contains("task failed; restarting it")
                && err.contains("injected claim failure"),
            "logged at ERROR with its cause: {err}"
        );
    })
    .await;
}

#[tokio::test]
async fn a_database_that_disappears_stops_the_service_with_an_error() {
    within(60, async {
        let s = Setup::new(1, 100, |_| {}).await;
        ingest_only(&s).await;
        let child = s.spawn(&["run"], "60");
        let db = s.db.clone();
        assert!(
            eventually(Duration::from_secs(10), || count(
                &db,
                "SELECT count(*) FROM workers WHERE stopped_at IS NULL"
            ) == 1)
            .await
        );
        for ext in ["", "-wal", "-shm"] {
            let mut p = s.db.clone().into_os_string();
            p.push(ext);
            let _ = std::fs::remove_file(p);
        }
        let mut child = child;
        let status = tokio::task::spawn_blocking(move || {
            (wait_exit(&mut child, Duration::from_secs(15)), child)
        })
        .await
        .expect("join");
        let code = status.0.and_then(|s| s.code());
        let (_, err) = stderr_of(status.1, code);
        assert_eq!(
            code,
            Some(1),
            "restarting cannot help: exit non-zero: {err}"
        );
        assert!(err.contains("removed or replaced"), "{err}");
    })
    .await;
}

#[tokio::test]
async fn unknown_rpc_errors_park_the_channel_and_local_failures_never_touch_it() {
    within(90, async {
        let s = Setup::new(2, 300, |_| {}).await;
        let names = s.sim.channel_usernames();
        // The first channel synced meets an error tgsift does not know, on every retry (channels are
        // synced one at a time here, so the three faults meet the same channel).
        s.sim.script(
            Scripted::on("messages.getHistory", Fault::rpc(400, "SOME_NEW_REFUSAL")).times(3),
        );
        let mut child = s.spawn_with(
            &["run", "--once"],
            "60",
            &[("TGSIFT_TELEGRAM__MAX_IN_FLIGHT", "1")],
        );
        let st = tokio::task::spawn_blocking(move || child.wait().expect("wait"))
            .await
            .expect("join");
        assert_eq!(st.code(), Some(1), "a channel did not finish");
        let store = SqliteStore::open(&s.db).expect("store");
        let channels = store.channels().expect("channels");
        let hit: Vec<_> = channels
            .iter()
            .filter(|c| c.last_error.as_deref().is_some_and(|e| e.contains("SOME_NEW_REFUSAL")))
            .collect();
        assert_eq!(hit.len(), 1, "{channels:?}");
        assert!(hit[0].active, "parked, not deactivated");
        assert!(hit[0].flood_until.is_some_and(|u| u > unix_now() + 30));
        assert_eq!(hit[0].failures, 1);
        let other = channels.iter().find(|c| c.id != hit[0].id).expect("other");
        assert_eq!(
            store.message_ids(other.id).expect("ids").len() as i32,
            s.sim.with_channel(&other.label(), |c| c.post_ids().len() as i32).expect("c"),
            "the other channel was not held back"
        );
        assert!(names.contains(&hit[0].label()));

        // A broken session file is a local failure: the account task backs off, the channels stay.
        std::fs::write(s.dir.path().join("alice.session"), b"not a session at all, just text ........")
            .expect("break the session");
        store
            .read("unpark", |c| c.execute_batch("UPDATE channels SET flood_until = NULL, last_error = NULL, last_fetch_at = NULL"))
            .expect("unpark");
        let child = s.spawn(&["run"], "1");
        let db = s.db.clone();
        assert!(
            eventually(Duration::from_secs(15), || count(
                &db,
                "SELECT coalesce(max(restarts), 0) FROM worker_tasks WHERE name = 'ingest:alice'"
            ) >= 2)
            .await,
            "the account task is restarted with backoff"
        );
        let (code, _) = stop(child).await;
        assert_eq!(code, Some(0));
        let channels = SqliteStore::open(&s.db).expect("store").channels().expect("channels");
        assert!(
            channels.iter().all(|c| c.active && c.last_error.is_none()),
            "local failures never deactivate or mark a channel: {channels:?}"
        );
    })
    .await;
}

/// Issue 31, item 10: a rate is persisted only once a flood taught it (a rate that only grew from
/// `pacer_initial_rate` would outlive a change of that setting); then at once with the flood
/// window, and again by the 30-second save while the pass goes on.
#[tokio::test]
async fn learned_pacer_rates_are_saved_with_the_flood_window_and_every_30_s() {
    within(120, async {
        let s = Setup::new(1, 50_000, |_| {}).await;
        // 5 requests a second: the backfill pass lasts minutes; the flood comes after ~8 s.
        s.sim
            .script(Scripted::on("messages.getHistory", Fault::FloodWait(2)).after(40));
        let child = s.spawn_with(
            &["run", "--once"],
            "60",
            &[
                ("TGSIFT_TELEGRAM__PACER_INITIAL_RATE", "5"),
                ("TGSIFT_TELEGRAM__PACER_MAX_RATE", "5"),
            ],
        );
        let db = s.db.clone();
        // Before the flood the rate only grew from the initial one: nothing is persisted.
        assert!(
            eventually(Duration::from_secs(20), || count(
                &db,
                "SELECT count(*) FROM flood_windows"
            ) == 1)
            .await,
            "the window is in the database at once, while the pass goes on"
        );
        let rate_ms = "SELECT coalesce(max(CAST(rate * 1000 AS INTEGER)), 0) FROM pacer_state
                       WHERE method = 'messages.getHistory' AND ceiling IS NOT NULL";
        assert_eq!(
            count(&db, "SELECT count(*) FROM pacer_state"),
            1,
            "only the rate the flood taught is saved, with the window"
        );
        let first = count(&db, rate_ms);
        assert!(first > 0, "saved with its ceiling");
        assert!(
            eventually(Duration::from_secs(40), || count(&db, rate_ms) != first).await,
            "the rate regained after the flood is saved by the 30-second save"
        );
        let mut child = child;
        assert_eq!(child.try_wait().expect("status"), None, "still backfilling");
        let _ = child.kill();
        let _ = child.wait();
    })
    .await;
}

#[tokio::test]
async fn a_crashed_workers_claims_expire_within_the_claim_timeout() {
    within(60, async {
        let s = Setup::new(1, 300, |_| {}).await;
        ingest_only(&s).await;
        SqliteStore::open(&s.db)
            .expect("store")
            .read("pause", |c| {
                c.execute_batch("UPDATE channels SET active = 0")
            })
            .expect("pause");
        let llm = silent_server();
        let mut child = s.spawn_with(
            &["run"],
            "60",
            &[
                ("TGSIFT_TAGGING__BACKEND", "llm"),
                ("TGSIFT_TAGGING__LLM_BASE_URL", &llm),
                ("TGSIFT_TAGGING__CLAIM_TIMEOUT", "3"),
            ],
        );
        let db = s.db.clone();
        assert!(
            eventually(Duration::from_secs(10), || count(
                &db,
                "SELECT count(*) FROM posts WHERE tagging_claim IS NOT NULL"
            ) > 0)
            .await
        );
        // Claims are short and renewed while the worker lives.
        tokio::time::sleep(Duration::from_secs(4)).await;
        let live = count(
            &s.db,
            &format!(
                "SELECT count(*) FROM posts WHERE tagging_claimed_until >= {}",
                unix_now()
            ),
        );
        assert!(live > 0, "renewed beyond the first 3 s");
        child.kill().expect("SIGKILL");
        let _ = child.wait();
        let max_until = count(
            &s.db,
            "SELECT coalesce(max(tagging_claimed_until), 0) FROM posts",
        );
        assert!(
            max_until <= unix_now() + 3,
            "no claim outlives the timeout by much"
        );
        tokio::time::sleep(Duration::from_secs(4)).await;
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_tgsift"))
            .args(["--db", s.db.to_str().expect("utf8"), "tags", "run"])
            .env("TGSIFT_TAGGING__BACKEND", "embedded")
            .env_remove("TGSIFT_CONFIG")
            .output()
            .expect("tags run");
        assert!(out.status.success());
        assert_eq!(
            count(
                &s.db,
                "SELECT count(*) FROM posts WHERE text != '' AND tagging_status != 'success'"
            ),
            0,
            "the dead worker's posts were due again and tagged"
        );
    })
    .await;
}

#[tokio::test]
async fn tags_run_from_cron_beside_the_service_never_tags_a_post_twice() {
    within(120, async {
        let s = Setup::new(2, 3_000, |_| {}).await;
        ingest_only(&s).await;
        SqliteStore::open(&s.db)
            .expect("store")
            .read("pause", |c| {
                c.execute_batch("UPDATE channels SET active = 0")
            })
            .expect("pause");
        let service = s.spawn_with(&["run"], "60", &[("TGSIFT_TAGGING__BACKEND", "embedded")]);
        let crons: Vec<Child> = (0..2)
            .map(|_| {
                s.spawn_with(
                    &["tags", "run"],
                    "60",
                    &[("TGSIFT_TAGGING__BACKEND", "embedded")],
                )
            })
            .collect();
        let db = s.db.clone();
        assert!(
            eventually(Duration::from_secs(60), || count(
                &db,
                "SELECT count(*) FROM posts WHERE text != '' AND tagging_status != 'success'"
            ) == 0)
            .await
        );
        for mut c in crons {
            let st = tokio::task::spawn_blocking(move || c.wait().expect("wait"))
                .await
                .expect("join");
            assert!(st.success());
        }
        let (code, err) = stop(service).await;
        assert_eq!(code, Some(0), "{err}");
        assert_eq!(
            count(
                &s.db,
                "SELECT count(*) FROM posts WHERE text != '' AND tagging_attempts != 1"
            ),
            0,
            "every post tagged exactly once"
        );
        assert!(count(&s.db, "SELECT count(*) FROM posts WHERE text != ''") > 5_000);
    })
    .await;
}

#[tokio::test]
async fn pause_works_while_run_holds_the_lease_and_new_accounts_are_picked_up() {
    within(90, async {
        let s = Setup::new(2, 200, |c| c.accounts.push(AccountSpec::generated(1))).await;
        let names = s.sim.channel_usernames();
        let service = s.spawn(&["run"], "1");
        let db = s.db.clone();
        let total: i64 = names
            .iter()
            .map(|n| s.sim.with_channel(n, |c| c.post_ids().len() as i64).expect("c"))
            .sum();
        assert!(eventually(Duration::from_secs(20), || count(&db, "SELECT count(*) FROM posts") == total).await);
        // The search-index task indexes what ingest stored, without a search asking for it.
        assert!(
            eventually(Duration::from_secs(20), || count(&db, "SELECT count(*) FROM search_queue") == 0
                && count(&db, "SELECT count(*) FROM posts_fts_docsize")
                    == count(&db, "SELECT count(*) FROM posts WHERE text != ''"))
            .await,
            "every stored post with text is indexed by the service"
        );

        let tgsift = |args: &[&str]| {
            std::process::Command::new(env!("CARGO_BIN_EXE_tgsift"))
                .args(["--db", s.db.to_str().expect("utf8")])
                .args(args)
                .current_dir(s.dir.path())
                .env("TG_API_ID", "12345")
                .env("TG_API_HASH", crate::common::API_HASH)
                .env_remove("TGSIFT_CONFIG")
                .output()
                .expect("tgsift")
        };
        let o = tgsift(&["channels", "pause", &names[0]]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        let paused_post = s.sim.append_post(&names[0], "posted while paused").expect("post");
        let live_post = s.sim.append_post(&names[1], "posted while running").expect("post");
        let stored = |name: &str, id: i32| {
            count(
                &db,
                &format!(
                    "SELECT count(*) FROM posts p JOIN channels c ON c.id = p.channel_id
                     WHERE c.username = '{}' AND p.message_id = {id}",
                    name.trim_start_matches('@')
                ),
            ) == 1
        };
        assert!(eventually(Duration::from_secs(10), || stored(&names[1], live_post)).await);
        assert!(!stored(&names[0], paused_post), "a paused channel is not polled");
        let o = tgsift(&["channels", "resume", &names[0]]);
        assert!(o.status.success());
        assert!(eventually(Duration::from_secs(10), || stored(&names[0], paused_post)).await);

        // A second account onboarded while the service runs, with a channel of its own.
        let bob = s.dir.path().join("bob-import.session");
        s.sim.write_session(&bob, 1, true).expect("session");
        let o = tgsift(&["account", "import", "bob", "--session", bob.to_str().expect("utf8")]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let (id, hash, title) = s
            .sim
            .with_channel(&names[1], |c| (c.spec().id, c.spec().access_hash, c.spec().title.clone()))
            .expect("channel");
        let mut store = SqliteStore::open(&s.db).expect("store");
        let bob_row = store.account("bob").expect("read").expect("bob");
        store
            .add_channel(
                bob_row.id,
                &NewChannel {
                    tg_id: id,
                    access_hash: hash,
                    username: Some(names[1].trim_start_matches('@').to_string()),
                    title,
                    backfill: "all".into(),
                },
            )
            .expect("add")
            .expect("new");
        let per_channel = s.sim.with_channel(&names[1], |c| c.post_ids().len() as i64).expect("c");
        assert!(
            eventually(Duration::from_secs(15), || count(
                &db,
                &format!(
                    "SELECT count(*) FROM posts p JOIN channels c ON c.id = p.channel_id WHERE c.account_id = {}",
                    bob_row.id
                )
            ) == per_channel)
            .await,
            "the new account's channel is picked up while the service runs"
        );
        let (code, err) = stop(service).await;
        assert_eq!(code, Some(0), "{err}");
    })
    .await;
}

#[tokio::test]
async fn a_page_that_cannot_be_decoded_parks_the_channel_instead_of_failing_every_pass() {
    within(60, async {
        let s = Setup::new(1, 300, |_| {}).await;
        s.sim
            .script(Scripted::on("messages.getHistory", Fault::Garbled));
        let mut child = s.spawn(&["run", "--once"], "60");
        let st = tokio::task::spawn_blocking(move || child.wait().expect("wait"))
            .await
            .expect("join");
        assert_eq!(st.code(), Some(1), "the channel did not finish");
        let ch = SqliteStore::open(&s.db)
            .expect("store")
            .channels()
            .expect("channels")
            .remove(0);
        assert!(ch.active, "parked, not deactivated");
        assert!(
            ch.last_error
                .as_deref()
                .is_some_and(|e| e.contains("could not be decoded")),
            "{ch:?}"
        );
        assert!(
            ch.flood_until.is_some_and(|u| u >= unix_now() + 590),
            "parked for ten minutes: {ch:?}"
        );
        assert_eq!(
            s.sim.log().count("messages.getHistory"),
            1,
            "not retried at once: the same bytes would come again"
        );
        // A later run leaves it parked instead of asking again.
        let mut child = s.spawn(&["run", "--once"], "60");
        let _ = tokio::task::spawn_blocking(move || child.wait().expect("wait")).await;
        assert_eq!(s.sim.log().count("messages.getHistory"), 1);
    })
    .await;
}

#[tokio::test]
async fn an_audit_of_a_complete_channel_with_service_messages_says_complete() {
    within(60, async {
        let s = Setup::new(1, 2_000, |_| {}).await;
        let name = s.sim.channel_usernames()[0].clone();
        let (messages, posts) = s
            .sim
            .with_channel(&name, |c| (c.ids().len(), c.post_ids().len()))
            .expect("channel");
        assert!(messages > posts, "the channel has service messages");
        ingest_only(&s).await;
        let mut child = s.spawn(&["channels", "audit"], "60");
        let (st, child) = tokio::task::spawn_blocking(move || (child.wait().expect("wait"), child))
            .await
            .expect("join");
        let (_, err) = stderr_of(child, st.code());
        assert_eq!(st.code(), Some(0), "{err}");
    })
    .await;
}

/// A webhook sink nobody listens on: alerts are queued (one row per alert) and never delivered.
const DEAD_HOOK: (&str, &str) = ("TGSIFT_ALERTS__WEBHOOKS", "http://127.0.0.1:9/hook");

/// Account alice's state and reason.
fn alice(db: &std::path::Path) -> (String, Option<String>) {
    query(db, |c| {
        c.query_row(
            "SELECT state, disabled_reason FROM accounts WHERE name = 'alice'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
    })
}

/// Kinds of the alerts raised, oldest first.
fn alert_kinds(db: &std::path::Path) -> Vec<String> {
    query(db, |c| {
        let mut st = c.prepare("SELECT kind FROM alerts ORDER BY id")?;
        st.query_map([], |r| r.get(0))?.collect()
    })
}

#[tokio::test]
async fn an_account_telegram_refuses_stops_at_once_in_its_state_and_is_never_called_again() {
    within(150, async {
        type Refuse = fn(&tgsift_sim::Sim);
        let cases: [(&str, &str, Refuse, &str); 4] = [
            // Frozen: getHistory (polling) meets FROZEN_METHOD_INVALID, a 420 that is no flood.
            (
                "poll",
                "frozen",
                |sim| sim.set_standing(0, Some(Standing::Frozen)),
                "FROZEN_METHOD_INVALID",
            ),
            // A revoked key met first by the live task's state call: the poller stops with it.
            (
                "live",
                "key_revoked",
                |sim| {
                    sim.script(Scripted::on(
                        "updates.getState",
                        Fault::rpc(406, "AUTH_KEY_DUPLICATED"),
                    ))
                },
                "AUTH_KEY_DUPLICATED",
            ),
            (
                "live",
                "banned",
                |sim| sim.set_standing(0, Some(Standing::Banned)),
                "USER_DEACTIVATED_BAN",
            ),
            // The owner ended the session from another device.
            ("poll", "logged_out", |sim| sim.end_sessions(0), "401"),
        ];
        for (mode, state, refuse, reason) in cases {
            let s = Setup::new(1, 300, |_| {}).await;
            refuse(&s.sim);
            let child = s.spawn_with(&["run"], "1", &[("TGSIFT_INGEST__MODE", mode), DEAD_HOOK]);
            let db = s.db.clone();
            assert!(
                eventually(Duration::from_secs(20), || alice(&db).0 != "active").await,
                "{state}: the account is stopped"
            );
            let (got, why) = alice(&s.db);
            assert_eq!(got, state, "{why:?}");
            assert!(
                why.as_deref().is_some_and(|w| w.contains(reason)),
                "{state}: {why:?}"
            );
            // Nothing more is asked for it: the count of requests stays where the stop left it.
            tokio::time::sleep(Duration::from_millis(300)).await;
            let calls = s.sim.log().requests().len();
            tokio::time::sleep(Duration::from_secs(2)).await;
            assert_eq!(
                s.sim.log().requests().len(),
                calls,
                "{state}: called after the stop"
            );
            assert_eq!(
                alert_kinds(&s.db),
                vec![format!("account_{state}")],
                "{state}: one alert"
            );
            let message: String = query(&s.db, |c| {
                c.query_row("SELECT message FROM alerts", [], |r| r.get(0))
            });
            assert!(
                message.contains("alice") && message.contains(state),
                "{message}"
            );
            // Its channel keeps its state: not failed, not parked.
            let ch = &SqliteStore::open(&s.db)
                .expect("store")
                .channels()
                .expect("channels")[0];
            assert!(
                ch.active && ch.last_error.is_none() && ch.flood_until.is_none(),
                "{state}: {ch:?}"
            );
            let (code, err) = stop(child).await;
            assert_eq!(code, Some(0), "{err}");
            if state == "frozen" {
                // `account check` asks Telegram, which still refuses: it stays frozen.
                let (code, _, err) = s.output(&["account", "check", "alice"]).await;
                assert_eq!(code, Some(1), "{err}");
                assert!(err.contains("frozen"), "{err}");
                assert_eq!(alice(&s.db).0, "frozen");
                // Unfrozen after an appeal: resumed by the admin, it syncs everything.
                s.sim.set_standing(0, None);
                let (code, out, err) = s.output(&["account", "resume", "alice"]).await;
                assert_eq!(code, Some(0), "{err}");
                assert!(out.contains("it was frozen"), "{out}");
                assert_eq!(alice(&s.db), ("active".into(), None));
                let (code, _, err) = s.output(&["run", "--once"]).await;
                assert_eq!(code, Some(0), "{err}");
                assert_eq!(s.stored(), s.truth());
            }
        }
    })
    .await;
}

#[tokio::test]
async fn a_job_meeting_a_refused_account_stops_it_and_a_refused_join_fails_once() {
    within(90, async {
        let s = Setup::new(2, 20, |_| {}).await;
        s.sim.leave("@sim_tech", 0);
        // Telegram refuses the join for good: one attempt, one resolve, a reason and what to do.
        s.sim.script(Scripted::on(
            "channels.joinChannel",
            Fault::rpc(400, "CHANNELS_TOO_MUCH"),
        ));
        {
            let mut store = SqliteStore::open(&s.db).expect("store");
            for ch in store.channels().expect("channels") {
                store.remove_channel(ch.id).expect("remove");
            }
        }
        let (code, _, err) = s
            .output(&["channels", "add", "alice", "@sim_tech", "--join"])
            .await;
        assert_eq!(code, Some(1), "{err}");
        assert!(
            err.contains("CHANNELS_TOO_MUCH") && err.contains("500"),
            "{err}"
        );
        assert_eq!(s.sim.log().count("channels.joinChannel"), 1);
        assert_eq!(s.sim.log().count("contacts.resolveUsername"), 1);
        assert_eq!(
            alice(&s.db).0,
            "active",
            "a refused join is no account problem"
        );
        // A frozen account met by a job is stopped with one alert; the next job does not call Telegram.
        s.sim.set_standing(0, Some(Standing::Frozen));
        let (code, _, err) = s
            .output_with(&["channels", "add", "alice", "@sim_news"], &[DEAD_HOOK])
            .await;
        assert_eq!(code, Some(1), "{err}");
        assert_eq!(alice(&s.db).0, "frozen", "{err}");
        assert_eq!(alert_kinds(&s.db), vec!["account_frozen".to_string()]);
        let calls = s.sim.log().requests().len();
        let (code, _, err) = s.output(&["channels", "add", "alice", "@sim_news"]).await;
        assert_eq!(code, Some(1), "{err}");
        assert!(
            err.contains("stopped as frozen") && err.contains("account check alice"),
            "{err}"
        );
        assert_eq!(
            s.sim.log().requests().len(),
            calls,
            "a stopped account is not called"
        );
        let (code, out, err) = s.output(&["account", "list"]).await;
        assert_eq!(code, Some(0), "{err}");
        assert!(out.contains("frozen") && out.contains("appeal"), "{out}");
        assert_eq!(
            SqliteStore::open(&s.db)
                .expect("store")
                .channels()
                .expect("channels")
                .len(),
            0
        );
    })
    .await;
}

#[tokio::test]
async fn resolves_keep_to_their_budget_across_commands_and_a_spent_budget_queues_the_job() {
    within(90, async {
        let s = Setup::new(4, 5, |_| {}).await;
        {
            let mut store = SqliteStore::open(&s.db).expect("store");
            for ch in store.channels().expect("channels") {
                store.remove_channel(ch.id).expect("remove");
            }
        }
        // A burst of 3, then one resolve per 10 minutes: each command is a new process, and the
        // budget holds across them.
        let budget = [("TGSIFT_TELEGRAM__RESOLVE_INTERVAL", "600")];
        let names = s.sim.channel_usernames();
        for name in &names[..3] {
            let (code, _, err) = s.output_with(&["channels", "add", "alice", name], &budget).await;
            assert_eq!(code, Some(0), "{err}");
        }
        let (code, _, err) = s.output_with(&["channels", "add", "alice", &names[3]], &budget).await;
        assert_eq!(code, Some(1), "{err}");
        assert!(
            err.contains("budget of contacts.resolveUsername") && err.contains("queued again"),
            "{err}"
        );
        assert_eq!(s.sim.log().count("contacts.resolveUsername"), 3, "the fourth was not sent");
        assert_eq!(SqliteStore::open(&s.db).expect("store").channels().expect("channels").len(), 3);
        let queued = count(&s.db, "SELECT count(*) FROM jobs WHERE state = 'queued' AND not_before > strftime('%s','now') + 1500");
        assert_eq!(queued, 1, "the job waits for the budget");
    })
    .await;
}

#[tokio::test]
async fn joins_stop_at_the_channel_limits_and_a_retried_add_reuses_the_resolved_channel() {
    within(120, async {
        let s = Setup::new(4, 5, |_| {}).await;
        {
            let mut store = SqliteStore::open(&s.db).expect("store");
            for ch in store.channels().expect("channels") {
                store.remove_channel(ch.id).expect("remove");
            }
        }
        let names = s.sim.channel_usernames();
        for name in &names {
            s.sim.leave(name, 0);
        }
        let joins = || s.sim.log().count("channels.joinChannel");
        let resolves = || s.sim.log().count("contacts.resolveUsername");
        // Telegram's own limit (500, here 1): the join past it fails once, for good.
        s.sim.set_max_channels(1);
        let (code, _, err) = s
            .output(&["channels", "add", "alice", &names[0], "--join"])
            .await;
        assert_eq!(code, Some(0), "{err}");
        let (code, _, err) = s
            .output(&["channels", "add", "alice", &names[1], "--join"])
            .await;
        assert_eq!(code, Some(1), "{err}");
        assert!(err.contains("CHANNELS_TOO_MUCH"), "{err}");
        assert_eq!((joins(), resolves()), (2, 2), "one join attempt each");
        // tgsift's own limit stops short of Telegram's: no join is sent at all.
        s.sim.set_max_channels(tgsift_sim::DEFAULT_MAX_CHANNELS);
        let limit = [("TGSIFT_TELEGRAM__MAX_CHANNELS", "1")];
        let (code, _, err) = s
            .output_with(&["channels", "add", "alice", &names[1], "--join"], &limit)
            .await;
        assert_eq!(code, Some(1), "{err}");
        assert!(err.contains("telegram.max_channels = 1"), "{err}");
        assert_eq!(joins(), 2, "refused before calling Telegram");
        // The day's joins are spent (2 of 2): the add resolves the channel, queues itself for
        // tomorrow, and keeps what it resolved.
        let spent = [("TGSIFT_TELEGRAM__JOIN_PER_DAY", "2")];
        let (code, _, err) = s
            .output_with(&["channels", "add", "alice", &names[2], "--join"], &spent)
            .await;
        assert_eq!(code, Some(1), "{err}");
        assert!(err.contains("queued again"), "{err}");
        assert_eq!((joins(), resolves()), (2, 4));
        let args: String = query(&s.db, |c| {
            c.query_row("SELECT args FROM jobs WHERE state = 'queued'", [], |r| {
                r.get(0)
            })
        });
        assert!(args.contains("\"resolved\""), "{args}");
        // Tomorrow (here: now, with a bigger budget) the service runs it without resolving again.
        rusqlite::Connection::open(&s.db)
            .expect("db")
            .execute("UPDATE jobs SET not_before = 0 WHERE state = 'queued'", [])
            .expect("due now");
        let relaxed = [
            ("TGSIFT_TELEGRAM__JOIN_PER_DAY", "10"),
            ("TGSIFT_TELEGRAM__JOIN_INTERVAL", "0"),
        ];
        let child = s.spawn_with(&["run"], "3600", &relaxed);
        let done = eventually(Duration::from_secs(30), || {
            count(
                &s.db,
                "SELECT count(*) FROM jobs WHERE state = 'done' AND kind = 'channel_add'",
            ) == 2
        })
        .await;
        let (code, log) = stop(child).await;
        assert!(done, "the queued add ran: {log}");
        assert_eq!(code, Some(0), "{log}");
        assert_eq!((joins(), resolves()), (3, 4), "joined, not resolved again");
        assert_eq!(s.sim.is_member(&names[2], 0), Some(true));
    })
    .await;
}

#[tokio::test]
async fn an_account_telegram_moves_to_another_dc_follows_it_and_stays_there() {
    within(90, async {
        let s = Setup::new(1, 50, |_| {}).await;
        s.sim.move_account(0, 4);
        let moved = || {
            s.sim
                .log()
                .requests()
                .iter()
                .filter(|r| matches!(&r.outcome, Outcome::Error(e) if e == "USER_MIGRATE_4"))
                .count()
        };
        let (code, _, err) = s.output(&["run", "--once"]).await;
        assert_eq!(code, Some(0), "{err}");
        assert_eq!(moved(), 1, "{err}");
        assert_eq!(s.stored(), s.truth(), "every post stored after the move");
        // The session remembers DC 4: the next process starts there.
        s.sim
            .append_post(&s.sim.channel_usernames()[0], "after the move");
        let (code, _, err) = s.output(&["run", "--once"]).await;
        assert_eq!(code, Some(0), "{err}");
        assert_eq!(moved(), 1, "{err}");
        assert_eq!(s.stored(), s.truth());
        assert_eq!(alice(&s.db).0, "active");
    })
    .await;
}

/// A SOCKS5 server on loopback that wants `user`/`pass` and counts the CONNECTs it relayed.
async fn socks5(
    user: &'static str,
    pass: &'static str,
) -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    use fast_socks5::server::{Socks5ServerProtocol, run_tcp_proxy};
    use fast_socks5::{ReplyError, Socks5Command};
    use std::sync::atomic::Ordering;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let connects = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = std::sync::Arc::clone(&connects);
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let counted = std::sync::Arc::clone(&counted);
            tokio::spawn(async move {
                let Ok((proto, true)) =
                    Socks5ServerProtocol::accept_password_auth(socket, |u, p| {
                        u == user && p == pass
                    })
                    .await
                else {
                    return;
                };
                let Ok((proto, cmd, target)) = proto.read_command().await else {
                    return;
                };
                if cmd == Socks5Command::TCPConnect {
                    counted.fetch_add(1, Ordering::SeqCst);
                    let _ = run_tcp_proxy(proto, &target, Duration::from_secs(10), false).await;
                } else {
                    let _ = proto.reply_error(&ReplyError::CommandNotSupported).await;
                }
            });
        }
    });
    (addr, connects)
}

#[tokio::test]
async fn accounts_connect_through_a_socks5_proxy_whose_password_is_never_printed() {
    use std::sync::atomic::Ordering;
    within(90, async {
        let s = Setup::new(1, 300, |_| {}).await;
        let (addr, connects) = socks5("tg", "s3cret-pass").await;
        let global = format!("socks5://tg:s3cret-pass@{addr}");
        let env = [
            ("TGSIFT_TELEGRAM__PROXY", global.as_str()),
            ("TGSIFT_TELEGRAM__CONNECTION_RETRIES", "0"),
            ("RUST_LOG", "info"),
        ];
        let (code, _, err) = s.output_with(&["run", "--once"], &env).await;
        assert_eq!(code, Some(0), "{err}");
        assert!(
            connects.load(Ordering::SeqCst) >= 1,
            "went through the proxy"
        );
        assert_eq!(s.stored(), s.truth());
        assert!(!err.contains("s3cret-pass"), "{err}");
        // The account's own proxy wins over telegram.proxy: a wrong password fails the run, and
        // neither the password nor the user name is printed.
        let own = format!("socks5://tg:wr0ng-pass@{addr}");
        let (code, out, err) = s
            .output_with(&["account", "proxy", "alice", &own], &env)
            .await;
        assert_eq!(code, Some(0), "{err}");
        assert!(out.contains(&format!("socks5://***:***@{addr}")), "{out}");
        let before = connects.load(Ordering::SeqCst);
        s.sim
            .append_post(&s.sim.channel_usernames()[0], "behind a broken proxy");
        let (code, out, err) = s.output_with(&["run", "--once"], &env).await;
        assert_ne!(code, Some(0), "{out}{err}");
        assert!(
            !err.contains("wr0ng-pass") && !err.contains("s3cret-pass"),
            "{err}"
        );
        assert_eq!(
            connects.load(Ordering::SeqCst),
            before,
            "refused by the proxy"
        );
        let (code, out, err) = s
            .output_with(&["account", "proxy", "alice", "none"], &env)
            .await;
        assert_eq!(code, Some(0), "{err}");
        assert!(out.contains("telegram.proxy (socks5://***:***@"), "{out}");
        let channel = s.sim.channel_usernames()[0].clone();
        let (code, _, err) = s.output_with(&["channels", "resume", &channel], &env).await;
        assert_eq!(code, Some(0), "{err}");
        let (code, _, err) = s.output_with(&["run", "--once"], &env).await;
        assert_eq!(code, Some(0), "{err}");
        assert_eq!(
            s.stored(),
            s.truth(),
            "the new post, through telegram.proxy again"
        );
        assert!(connects.load(Ordering::SeqCst) > before);
        // A proxy tgsift cannot use is a configuration error naming the key.
        let (code, _, err) = s
            .output_with(
                &["run", "--once"],
                &[("TGSIFT_TELEGRAM__PROXY", "http://h:1")],
            )
            .await;
        assert_eq!(code, Some(2), "{err}");
        assert!(err.contains("telegram.proxy"), "{err}");
    })
    .await;
}

#[tokio::test]
async fn a_refusal_met_by_a_channel_difference_stops_the_account_at_once() {
    within(90, async {
        let s = Setup::new(1, 100, |_| {}).await;
        // A first live run stores the channel's pts, so the next one catches up by difference.
        let child = s.spawn_with(&["run"], "1", &[("TGSIFT_INGEST__MODE", "live")]);
        let db = s.db.clone();
        let has_pts = || {
            count(
                &db,
                "SELECT count(*) FROM channel_live WHERE pts IS NOT NULL",
            ) == 1
        };
        assert!(
            eventually(Duration::from_secs(20), has_pts).await,
            "pts stored"
        );
        let (code, err) = stop(child).await;
        assert_eq!(code, Some(0), "{err}");
        s.sim.script(Scripted::on(
            "updates.getChannelDifference",
            Fault::rpc(401, "AUTH_KEY_UNREGISTERED"),
        ));
        let before = s.sim.log().count("updates.getChannelDifference");
        let child = s.spawn_with(&["run"], "1", &[("TGSIFT_INGEST__MODE", "live"), DEAD_HOOK]);
        assert!(
            eventually(Duration::from_secs(20), || alice(&db).0 != "active").await,
            "the account is stopped"
        );
        let (state, why) = alice(&s.db);
        assert_eq!(state, "logged_out", "{why:?}");
        assert!(why.is_some_and(|w| w.contains("AUTH_KEY_UNREGISTERED")));
        assert_eq!(
            s.sim.log().count("updates.getChannelDifference"),
            before + 1,
            "met once, never retried"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        let calls = s.sim.log().requests().len();
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(s.sim.log().requests().len(), calls, "called after the stop");
        assert_eq!(alert_kinds(&s.db), vec!["account_logged_out".to_string()]);
        let (code, err) = stop(child).await;
        assert_eq!(code, Some(0), "{err}");
    })
    .await;
}

/// Issue 31, item 12: a backfill cut short (kill -9 here; a lease takeover or a restarted ingest task
/// are the same to the next task) resumes from its checkpoint at once, not at the next
/// `poll_interval` (240 s here): the batches of a pass do not count as a completed fetch.
#[tokio::test]
async fn a_backfill_cut_short_resumes_at_once_not_at_the_next_poll() {
    within(120, async {
        let s = Setup::new(1, 20_000, |_| {}).await;
        let slow = [
            ("TGSIFT_TELEGRAM__PACER_INITIAL_RATE", "4"),
            ("TGSIFT_TELEGRAM__PACER_MAX_RATE", "4"),
        ];
        let db = s.db.clone();
        let mut first = s.spawn_with(&["run"], "240", &slow);
        assert!(
            eventually(Duration::from_secs(30), || count(
                &db,
                "SELECT count(*) FROM posts"
            ) >= 1_000)
            .await,
            "the backfill started"
        );
        first.kill().expect("kill -9");
        first.wait().expect("reaped");
        let cut = count(&db, "SELECT count(*) FROM posts");
        assert!(cut < 20_000, "cut short: {cut}");
        assert_eq!(
            count(
                &db,
                "SELECT count(*) FROM channels WHERE last_fetch_at IS NOT NULL"
            ),
            0,
            "no pass completed"
        );
        let second = s.spawn_with(&["run"], "240", &slow);
        assert!(
            eventually(Duration::from_secs(15), || count(
                &db,
                "SELECT count(*) FROM posts"
            ) > cut)
            .await,
            "the next run resumed within seconds (stored {cut} before)"
        );
        let (code, _) = stop(second).await;
        assert_eq!(code, Some(0));
    })
    .await;
}

/// Issue 31, item 13: right after a kill -9 on this machine the worker's heartbeat is still fresh,
/// but its process is gone: `status` and `workers` say so at once instead of "running" for 30 s.
#[tokio::test]
async fn status_and_workers_tell_a_killed_service_at_once() {
    within(60, async {
        let s = Setup::new(1, 50, |_| {}).await;
        let db = s.db.clone();
        let cli = |args: &[&str]| {
            let o = std::process::Command::new(env!("CARGO_BIN_EXE_tgsift"))
                .args(["--db", db.to_str().expect("utf8")])
                .args(args)
                .env_remove("TGSIFT_CONFIG")
                .env_remove("RUST_LOG")
                .output()
                .expect("run tgsift");
            String::from_utf8_lossy(&o.stdout).into_owned()
        };
        let mut child = s.spawn(&["run"], "60");
        assert!(
            eventually(Duration::from_secs(15), || cli(&["status"])
                .contains("service: running"))
            .await,
            "the service runs"
        );
        child.kill().expect("kill -9");
        child.wait().expect("reaped");
        let status: serde_json::Value =
            serde_json::from_str(&cli(&["status", "--json"])).expect("json");
        assert_eq!(status["running"], false, "{status}");
        assert_eq!(status["workers_running"], 0, "{status}");
        let text = cli(&["status"]);
        assert!(text.contains("died without stopping"), "{text}");
        let workers = cli(&["workers"]);
        assert!(
            workers.contains("gone (its process no longer exists)"),
            "{workers}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_holder_is_fenced_off_the_key_survives_and_the_takeover_waits_for_its_connection_to_die()
 {
    within(300, async {
        let Some(url) = fresh_url("fenced_takeover").await else {
            return;
        };
        let mut config = tgsift_sim::SimConfig::generated(31, 1, 300);
        config.strict_keys = true;
        let sim = tgsift_sim::Sim::start(config).await.expect("sim");
        let dir = tempfile::tempdir().expect("dir");
        let pg = copied(&sim, dir.path(), &url, "fenced_takeover", 1).await;
        let channel = sim.channel_usernames()[0].clone();
        // Live mode (the default): the holder follows the channel through pushes.
        let mut workers: Vec<tokio::process::Child> = (0..2)
            .map(|i| {
                let log = dir.path().join(format!("worker{i}.log"));
                spawn_worker(dir.path(), &url, &log, &[], &[("RUST_LOG", "info")])
            })
            .collect();
        let all_stored = |limit: u64| {
            let (pg, sim) = (&pg, &sim);
            async move {
                let wait = async {
                    while pg_posts(pg).await != sim_truth(sim) {
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                };
                tokio::time::timeout(Duration::from_secs(limit), wait)
                    .await
                    .is_ok()
            }
        };
        assert!(all_stored(60).await, "the backfill is stored");
        sim.append_post(&channel, "before the pause").expect("post");
        assert!(all_stored(30).await, "the holder follows the channel");
        let holder = pg.leases().await.expect("leases")[0].owner.expect("held");
        let rows = pg.workers(Duration::from_secs(3)).await.expect("workers");
        let pid = rows.iter().find(|w| w.id == holder).expect("holder").pid as u32;
        let paused = workers
            .iter()
            .position(|w| w.id() == Some(pid))
            .expect("one of ours");
        // SAFETY: kill(2) with a pid this test spawned and still owns; no memory is involved.
        assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGSTOP) }, 0);
        let paused_at = std::time::Instant::now();
        sim.append_post(&channel, "while the holder is paused")
            .expect("post");
        let taken = all_stored(120).await;
        let took = paused_at.elapsed();
        // SAFETY: as above.
        assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGCONT) }, 0);
        assert!(taken, "the other worker took the account over");
        eprintln!("taken over after {took:?}");
        // The lease (3 s) + Telegram's disconnect delay (75 s) + 5 s.
        assert!(
            took <= Duration::from_secs(3 + 75 + 5),
            "takeover took {took:?}"
        );
        assert_eq!(
            sim.revoked_keys(),
            0,
            "the paused holder's connection was dead first"
        );
        // Resumed, the paused worker finds its lease gone and sends nothing with the key.
        tokio::time::sleep(Duration::from_secs(5)).await;
        sim.append_post(&channel, "after the resume").expect("post");
        assert!(all_stored(30).await, "the new holder goes on");
        assert_eq!(
            sim.revoked_keys(),
            0,
            "no auth key was ever used by two workers at once"
        );
        let new_holder = pg.leases().await.expect("leases")[0].owner.expect("held");
        assert_ne!(new_holder, holder);
        let log = std::fs::read_to_string(dir.path().join(format!("worker{}.log", 1 - paused)))
            .unwrap_or_default();
        assert!(
            log.contains("waiting until Telegram has dropped its connection"),
            "{log}"
        );
        // Both workers presented the account's one client identity.
        let faces = sim.log().client_inits();
        assert_eq!(faces.len(), 1, "{faces:?}");
        assert_eq!(faces[0].device_model, "tgsift");
        for w in &mut workers {
            w.start_kill().expect("stop");
            let _ = w.wait().await;
        }
    })
    .await
}

// Beside the fenced takeover above: both wait out Telegram's disconnect delay (75 s) of a paused
// worker, and side by side in one test binary they wait once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_share_six_accounts_and_take_over_from_a_killed_one() {
    within(300, async {
        let Some(url) = fresh_url("three_workers").await else {
            return;
        };
        let mut config = tgsift_sim::SimConfig::generated(29, 30, 2_000);
        config.accounts = (0..6).map(tgsift_sim::AccountSpec::generated).collect();
        config.strict_keys = true;
        // Telegram-like round trips, so the backfill outlasts the workers' first rounds.
        config.latency = tgsift_sim::Latency {
            base: Duration::from_millis(60),
            jitter: Duration::from_millis(20),
        };
        config.faults = tgsift_sim::RandomFaults::parse(
            "flood=0.002,flood_secs=1,disconnect=0.002,internal=0.002",
        )
        .expect("faults");
        let sim = tgsift_sim::Sim::start(config).await.expect("sim");
        let dir = tempfile::tempdir().expect("dir");
        let pg = copied(&sim, dir.path(), &url, "three_workers", 6).await;
        let truth = sim_truth(&sim);

        let spawn = |i: usize| {
            let log = dir.path().join(format!("worker{i}.log"));
            spawn_worker(dir.path(), &url, &log, &[], &[("RUST_LOG", "info")])
        };
        let mut workers: Vec<tokio::process::Child> = (0..3).map(spawn).collect();

        // Kill one in the middle of the backfill: once a tenth of the posts are stored and all three
        // serve accounts.
        let victim_pid = i64::from(workers[0].id().expect("pid"));
        let started = async {
            loop {
                let rows = pg.workers(Duration::from_secs(3)).await.expect("workers");
                let serving = rows
                    .iter()
                    .filter(|w| w.alive && !w.accounts.is_empty())
                    .count();
                let victim = rows.into_iter().find(|w| w.pid == victim_pid && w.alive);
                if serving == 3 && pg_posts(&pg).await.len() >= truth.len() / 10 {
                    return victim.expect("the victim is registered");
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        };
        let victim = tokio::time::timeout(Duration::from_secs(60), started)
            .await
            .expect("the three workers got going");
        assert!(!victim.accounts.is_empty());
        let stored_before = pg_posts(&pg).await.len();
        assert!(
            stored_before < truth.len(),
            "the kill lands in the middle of the backfill ({stored_before} of {} stored)",
            truth.len()
        );
        eprintln!(
            "killing worker {} with {stored_before} of {} posts stored",
            victim.id,
            truth.len()
        );
        workers[0].start_kill().expect("SIGKILL");
        let _ = workers[0].wait().await;
        let killed_at = std::time::Instant::now();

        // Its accounts are taken over within the lease time (plus a round to notice).
        let taken = async {
            loop {
                let leases = pg.leases().await.expect("leases");
                let served = leases.iter().all(|l| {
                    l.owner.is_some_and(|o| o != victim.id) && l.expires_in.is_some_and(|s| s > 0.0)
                });
                if served {
                    return leases;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        };
        let leases = tokio::time::timeout(Duration::from_secs(20), taken)
            .await
            .expect("the killed worker's accounts were taken over");
        let took = killed_at.elapsed();
        eprintln!("taken over after {took:?}");
        assert!(took <= Duration::from_secs(3 + 2), "takeover took {took:?}");
        for name in &victim.accounts {
            let l = leases.iter().find(|l| &l.account == name).expect("lease");
            assert!(l.epoch >= 2, "a takeover bumps the epoch: {l:?}");
        }

        // Pause another worker past its lease time (a stalled machine): the last one takes its
        // accounts over; resumed, the paused worker sends nothing more with their keys (the
        // simulator revokes a key used by two connections at once), and the two share the accounts
        // again, handing them over with each connection closed first.
        let paused_pid = workers[1].id().expect("pid");
        let paused = pg
            .workers(Duration::from_secs(3))
            .await
            .expect("workers")
            .into_iter()
            .find(|w| w.pid == i64::from(paused_pid))
            .expect("registered");
        // SAFETY: kill(2) with a pid this test spawned and still owns; no memory is involved.
        assert_eq!(unsafe { libc::kill(paused_pid as i32, libc::SIGSTOP) }, 0);
        let taken = async {
            loop {
                let leases = pg.leases().await.expect("leases");
                if leases.iter().all(|l| {
                    l.owner.is_some_and(|o| o != paused.id && o != victim.id)
                        && l.expires_in.is_some_and(|s| s > 0.0)
                }) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        };
        let stalled = tokio::time::timeout(Duration::from_secs(20), taken).await;
        // SAFETY: as above.
        assert_eq!(unsafe { libc::kill(paused_pid as i32, libc::SIGCONT) }, 0);
        stalled.expect("the paused worker's accounts were taken over");
        let shared = async {
            loop {
                let rows = pg.workers(Duration::from_secs(3)).await.expect("workers");
                let live: Vec<_> = rows.iter().filter(|w| w.alive).collect();
                if live.len() == 2 && live.iter().all(|w| w.accounts.len() == 3) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(30), shared)
            .await
            .expect("the resumed worker gets its share back");

        // Everything ends up stored exactly once.
        let complete = async {
            loop {
                if pg_posts(&pg).await.len() >= truth.len() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        };
        if tokio::time::timeout(Duration::from_secs(150), complete)
            .await
            .is_err()
        {
            for i in 0..3 {
                let log = std::fs::read_to_string(dir.path().join(format!("worker{i}.log")))
                    .unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(30).collect();
                eprintln!(
                    "worker{i} log tail:\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                );
            }
            panic!("the posts were not all stored in time");
        }
        assert_eq!(
            pg_posts(&pg).await,
            truth,
            "exactly the simulator's posts, none twice"
        );
        assert_eq!(
            sim.revoked_keys(),
            0,
            "no auth key was ever used by two workers at once"
        );
        // The killed worker's accounts were served at once: its connections died with it.
        let logs: String = (1..3)
            .map(|i| {
                std::fs::read_to_string(dir.path().join(format!("worker{i}.log")))
                    .unwrap_or_default()
            })
            .collect();
        assert!(
            logs.contains("from a worker on this machine that has exited"),
            "the crashed worker's accounts were taken over without waiting"
        );
        for w in &mut workers[1..] {
            w.start_kill().expect("stop");
            let _ = w.wait().await;
        }
    })
    .await
}
