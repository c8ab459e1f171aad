//! The PostgreSQL store through the CLI: `db copy` of a real installation (posts ingested from the
//! simulator, the account's session file) and `workers`. Needs `TGSIFT_TEST_PG` (set by `.ci/run`);
//! without it the tests say they were skipped.

mod common;

use std::process::Output;
use std::time::Duration;

use tgsift::store::postgres::PgStore;
use tgsift::store::postgres::testing::{fresh_url, schema_config};
use tgsift::telegram::session::{PgSession, SessionKey, SqliteSession};

use common::setup::Setup;
use common::{API_HASH, within};

/// A session key for the tests (any 32 bytes, base64).
const KEY_B64: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// Runs `tgsift ARGS` in the setup's folder, with the simulator's settings and `env`.
async fn tgsift(setup: &Setup, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_tgsift"));
    cmd.args(args)
        .current_dir(setup.dir.path())
        .env("TG_API_ID", "12345")
        .env("TG_API_HASH", API_HASH)
        .env("TGSIFT_TELEGRAM__PACER_INITIAL_RATE", "500")
        .env("TGSIFT_TELEGRAM__PACER_MAX_RATE", "2000")
        .env("TGSIFT_TAGGING__BACKEND", "off")
        .env_remove("TGSIFT_SESSION_KEY")
        .env_remove("RUST_LOG")
        .env_remove("TGSIFT_CONFIG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    tokio::time::timeout(Duration::from_secs(120), cmd.output())
        .await
        .expect("tgsift finished in time")
        .expect("tgsift ran")
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Every (channel username, message id, text, edit date) in the PostgreSQL store, sorted.
async fn pg_posts(store: &PgStore) -> Vec<(String, i32, String, Option<i64>)> {
    let client = store.client("dump").await.expect("client");
    let rows = client
        .query(
            "SELECT c.username, p.message_id, p.text, p.edit_date FROM posts p
             JOIN channels c ON c.id = p.channel_id ORDER BY c.username, p.message_id",
            &[],
        )
        .await
        .expect("dump");
    rows.iter()
        .map(|r| (r.get(0), r.get::<_, i64>(1) as i32, r.get(2), r.get(3)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn db_copy_moves_an_installation_with_its_session_and_repeats_safely() {
    within(240, async {
        let Some(url) = fresh_url("cli_db_copy").await else {
            return;
        };
        let setup = Setup::new(2, 300, |_| {}).await;
        let db = setup.db.to_str().expect("utf8").to_string();
        let o = tgsift(&setup, &["--db", &db, "-q", "run", "--once"], &[]).await;
        assert!(o.status.success(), "{}", text(&o));
        let truth = setup.truth();
        assert_eq!(setup.stored(), truth);

        // Without the session key nothing is copied, and the command says what to do.
        let o = tgsift(&setup, &["db", "copy", "--from", &db, "--to", &url], &[]).await;
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("TGSIFT_SESSION_KEY") && err.contains("openssl rand"),
            "{err}"
        );

        let key = [("TGSIFT_SESSION_KEY", KEY_B64)];
        let o = tgsift(
            &setup,
            &["db", "copy", "--from", &db, "--to", &url, "--batch", "100"],
            &key,
        )
        .await;
        assert!(o.status.success(), "{}", text(&o));
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(out.contains("session of alice: copied"), "{out}");

        let config = schema_config("cli_db_copy").expect("configured");
        let pg = PgStore::open_config(config).await.expect("open");
        assert_eq!(
            pg_posts(&pg).await,
            truth,
            "PostgreSQL holds exactly the simulator's posts"
        );
        let account = pg.account_id("alice").await.expect("alice");
        let key = SessionKey::parse(KEY_B64).expect("key");
        let copied = PgSession::open(&pg, account, key.clone(), None)
            .await
            .expect("session");
        let file = SqliteSession::open(&setup.dir.path().join("alice.session")).expect("file");
        assert!(file.auth_key().is_some());
        assert_eq!(copied.auth_key(), file.auth_key());
        assert_eq!(copied.self_user(), file.self_user());

        // Again: the same rows, nothing doubled, the session kept.
        let o = tgsift(
            &setup,
            &["db", "copy", "--from", &db, "--to", &url],
            &[("TGSIFT_SESSION_KEY", KEY_B64)],
        )
        .await;
        assert!(o.status.success(), "{}", text(&o));
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(out.contains("already in PostgreSQL, kept"), "{out}");
        assert_eq!(pg_posts(&pg).await, truth);

        // `workers` on the PostgreSQL store: nobody runs yet, so alice is not served.
        let o = tgsift(&setup, &["--db", &url, "workers"], &[]).await;
        assert!(o.status.success(), "{}", text(&o));
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(out.contains("not served by any worker: alice"), "{out}");
        let worker = pg.register_worker("host-a", 77).await.expect("worker");
        let leases = pg
            .claim_leases(worker, 1, Duration::from_secs(60))
            .await
            .expect("claim");
        assert_eq!(leases.len(), 1);
        let o = tgsift(&setup, &["--db", &url, "workers", "--json"], &[]).await;
        assert!(o.status.success(), "{}", text(&o));
        let listed: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
        assert_eq!(listed["workers"][0]["host"], "host-a");
        assert_eq!(
            listed["workers"][0]["accounts"],
            serde_json::json!(["alice"])
        );
        assert_eq!(listed["leases"][0]["epoch"], 1);

        // Commands that need the SQLite store say so instead of making a file named like the URL.
        let o = tgsift(&setup, &["--db", &url, "status"], &[]).await;
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("PostgreSQL URL"),
            "{}",
            text(&o)
        );
    })
    .await
}

#[tokio::test]
async fn db_copy_refuses_bad_arguments_before_touching_anything() {
    within(60, async {
        let dir = tempfile::tempdir().expect("dir");
        let run = |args: &[&str]| {
            std::process::Command::new(env!("CARGO_BIN_EXE_tgsift"))
                .args(args)
                .current_dir(dir.path())
                .env_remove("TGSIFT_SESSION_KEY")
                .output()
                .expect("ran")
        };
        let o = run(&[
            "db",
            "copy",
            "--from",
            "missing.db",
            "--to",
            "postgres://u@127.0.0.1/x",
        ]);
        assert_eq!(o.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&o.stderr).contains("missing.db"));
        std::fs::write(dir.path().join("t.db"), b"").expect("file");
        let o = run(&["db", "copy", "--from", "t.db", "--to", "mysql://u@h/x"]);
        assert_eq!(o.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&o.stderr).contains("not a PostgreSQL URL"));
    })
    .await
}

/// The environment of a `tgsift run` worker on the PostgreSQL store: the simulator's settings, the
/// session key, short leases and polls so takeovers happen within the test.
fn worker_env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("TGSIFT_SESSION_KEY", KEY_B64),
        ("TGSIFT_STORAGE__LEASE_TIME", "3"),
        ("TGSIFT_INGEST__POLL_INTERVAL", "1"),
        ("TGSIFT_TELEGRAM__FLOOD_SLEEP_THRESHOLD", "2"),
        ("TGSIFT_TELEGRAM__RETRY_DELAY", "0.05"),
        ("TGSIFT_TELEGRAM__RETRY_MAX_DELAY", "0.5"),
        ("TGSIFT_TELEGRAM__CONNECTION_RETRIES", "50"),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_once_ingests_into_postgres_and_hands_its_leases_back() {
    within(240, async {
        let Some(url) = fresh_url("cli_run_once").await else { return };
        let setup = Setup::new(3, 400, |_| {}).await;
        let db = setup.db.to_str().expect("utf8").to_string();
        let key = [("TGSIFT_SESSION_KEY", KEY_B64)];
        let o = tgsift(&setup, &["db", "copy", "--from", &db, "--to", &url], &key).await;
        assert!(o.status.success(), "{}", text(&o));

        // Without the session key a PostgreSQL worker does not start.
        let o = tgsift(&setup, &["--db", &url, "-q", "run", "--once"], &[]).await;
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(String::from_utf8_lossy(&o.stderr).contains("TGSIFT_SESSION_KEY"), "{}", text(&o));

        let o = tgsift(&setup, &["--db", &url, "-q", "run", "--once"], &worker_env()).await;
        assert!(o.status.success(), "{}", text(&o));
        let pg = PgStore::open_config(schema_config("cli_run_once").expect("configured"))
            .await
            .expect("open");
        assert_eq!(pg_posts(&pg).await, setup.truth(), "PostgreSQL holds exactly the simulator's posts");
        // The worker stopped cleanly and handed its lease back.
        let leases = pg.leases().await.expect("leases");
        assert_eq!(leases.len(), 1);
        assert_eq!((leases[0].owner, leases[0].epoch), (None, 1));
        let workers = pg.workers(Duration::from_secs(30)).await.expect("workers");
        assert!(workers.iter().all(|w| w.stopped), "{workers:?}");
        // Its checkpoints are the channels' newest messages, as on SQLite.
        let client = pg.client("checkpoints").await.expect("client");
        let stale: i64 = client
            .query_one(
                "SELECT count(*) FROM channels c
                 WHERE c.last_message_id < (SELECT max(message_id) FROM posts p WHERE p.channel_id = c.id)",
                &[],
            )
            .await
            .expect("count")
            .get(0);
        assert_eq!(stale, 0);
    })
    .await
}

/// An SQLite installation with `accounts` accounts (session files from the simulator) following the
/// simulator's channels round-robin, for `db copy` to move into PostgreSQL.
fn installation(
    sim: &tgsift::sim::Sim,
    dir: &std::path::Path,
    accounts: usize,
) -> std::path::PathBuf {
    use tgsift::store::prelude::*;
    use tgsift::store::{NewChannel, Store};
    let db = dir.join("t.db");
    let mut store = Store::open(&db).expect("store");
    let mut ids = Vec::new();
    for i in 0..accounts {
        let session = dir.join(format!("a{i}.session"));
        sim.write_session(&session, i, true).expect("session");
        ids.push(
            store
                .add_account(&format!("a{i}"), None, None, &session)
                .expect("account")
                .id,
        );
    }
    for (n, name) in sim.channel_usernames().into_iter().enumerate() {
        let (id, hash, title) = sim
            .with_channel(&name, |c| {
                (c.spec().id, c.spec().access_hash, c.spec().title.clone())
            })
            .expect("channel");
        let c = NewChannel {
            tg_id: id,
            access_hash: hash,
            username: Some(name.trim_start_matches('@').to_string()),
            title,
            backfill: "all".into(),
        };
        store
            .add_channel(ids[n % accounts], &c)
            .expect("add")
            .expect("new");
    }
    db
}

/// Every post the simulator holds, as (channel username, message id, text, edit date), sorted.
fn sim_truth(sim: &tgsift::sim::Sim) -> Vec<(String, i32, String, Option<i64>)> {
    let mut all = Vec::new();
    for name in sim.channel_usernames() {
        let bare = name.trim_start_matches('@').to_string();
        sim.with_channel(&name, |c| {
            for id in c.post_ids() {
                if let Some(p) = c.post(id) {
                    all.push((bare.clone(), id, p.text, p.edit_date.map(i64::from)));
                }
            }
        })
        .expect("channel");
    }
    all.sort();
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_share_six_accounts_and_take_over_from_a_killed_one() {
    within(300, async {
        let Some(url) = fresh_url("three_workers").await else {
            return;
        };
        let mut config = tgsift::sim::SimConfig::generated(29, 30, 2_000);
        config.accounts = (0..6).map(tgsift::sim::AccountSpec::generated).collect();
        config.strict_keys = true;
        // Telegram-like round trips, so the backfill outlasts the workers' first rounds.
        config.latency = tgsift::sim::Latency {
            base: Duration::from_millis(60),
            jitter: Duration::from_millis(20),
        };
        config.faults = tgsift::sim::RandomFaults::parse(
            "flood=0.002,flood_secs=1,disconnect=0.002,internal=0.002",
        )
        .expect("faults");
        let sim = tgsift::sim::Sim::start(config).await.expect("sim");
        let dir = tempfile::tempdir().expect("dir");
        let db = installation(&sim, dir.path(), 6);
        let copy = tokio::process::Command::new(env!("CARGO_BIN_EXE_tgsift"))
            .args([
                "db",
                "copy",
                "--from",
                db.to_str().expect("utf8"),
                "--to",
                &url,
            ])
            .env("TGSIFT_SESSION_KEY", KEY_B64)
            .output()
            .await
            .expect("copy");
        assert!(copy.status.success(), "{}", text(&copy));
        let pg = PgStore::open_config(schema_config("three_workers").expect("configured"))
            .await
            .expect("open");
        let truth = sim_truth(&sim);

        let spawn = |i: usize| {
            let log =
                std::fs::File::create(dir.path().join(format!("worker{i}.log"))).expect("log");
            let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_tgsift"));
            cmd.args(["--db", &url, "run"])
                .current_dir(dir.path())
                .env("TG_API_ID", "12345")
                .env("TG_API_HASH", API_HASH)
                .env("TGSIFT_TAGGING__BACKEND", "off")
                .env("TGSIFT_TELEGRAM__PACER_INITIAL_RATE", "200")
                .env("TGSIFT_TELEGRAM__PACER_MAX_RATE", "1000")
                .env("RUST_LOG", "info")
                .env_remove("TGSIFT_CONFIG")
                .stdout(std::process::Stdio::null())
                .stderr(log)
                .kill_on_drop(true);
            for (k, v) in worker_env() {
                cmd.env(k, v);
            }
            cmd.spawn().expect("spawn worker")
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
        for w in &mut workers[1..] {
            w.start_kill().expect("stop");
            let _ = w.wait().await;
        }
    })
    .await
}
