//! The PostgreSQL store through the CLI: `db copy` of a real installation (posts ingested from the
//! simulator, the account's session file) and `workers`. Needs `TGSIFT_TEST_PG` (set by `.ci/run`);
//! without it the tests say they were skipped.

use std::process::Output;
use std::time::Duration;
use tgsift::telegram::session::SimSessions;

use tgsift::telegram::session::{PgSession, SessionKey, SqliteSession};
use tgsift_store::postgres::PgStore;
use tgsift_store::testing::postgres::{fresh_url, schema_config};

use crate::common::setup::Setup;
use crate::common::workers::{KEY_B64, pg_posts, sim_truth, spawn_worker, text, worker_env};
use crate::common::{API_HASH, within};

/// Runs `tgsift ARGS` in the setup's folder, with the simulator's settings and `env`.
async fn tgsift(setup: &Setup, args: &[&str], env: &[(&str, &str)]) -> Output {
    tgsift_in(setup.dir.path(), args, env).await
}

/// Runs `tgsift ARGS` in `dir`, with the simulator's settings and `env`.
async fn tgsift_in(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_tgsift"));
    cmd.args(args)
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
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

        // `status` reads the copy: the account, its session and who serves it.
        let o = tgsift(&setup, &["--db", &url, "status"], &[]).await;
        assert!(o.status.success(), "{}", text(&o));
        let shown = String::from_utf8_lossy(&o.stdout).to_string();
        assert!(
            shown.contains(&format!("lease: worker #{worker} (host-a pid 77)"))
                && shown.contains("channels: 2 active"),
            "{}",
            text(&o)
        );
        // Commands for SQLite files only say what to use instead of making a file named like the URL.
        let o = tgsift(&setup, &["--db", &url, "backup", "copy.db"], &[]).await;
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("pg_dump"),
            "{}",
            text(&o)
        );
        assert!(!setup.dir.path().join("copy.db").exists());
    })
    .await
}

/// Issue 31, item 9: a URL naming a database or user the server does not know is a usage error
/// (exit 2) said once, not a runtime failure with its message twice.
#[tokio::test]
async fn a_database_the_server_does_not_know_is_a_usage_error_said_once() {
    within(60, async {
        let Some(url) = tgsift_store::testing::postgres::test_url("pg_unknown_db") else {
            return;
        };
        let Some((base, _)) = url.rsplit_once('/') else {
            panic!("{url} has no database")
        };
        let wrong = format!("{base}/tgsift_no_such_database");
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_tgsift"))
            .args(["--db", &wrong, "status"])
            .env_remove("TGSIFT_CONFIG")
            .env_remove("RUST_LOG")
            .output()
            .expect("ran");
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("\"tgsift_no_such_database\" does not exist"),
            "{err}"
        );
        assert_eq!(err.matches("cannot connect").count(), 1, "{err}");
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

/// Issue 31, item 11: a cron-style user has no service running; `channels add` queues a job and
/// the next `run --once` runs it, then fetches the new channel with the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_once_runs_the_queued_channel_add_before_it_fetches() {
    within(240, async {
        let Some(url) = fresh_url("cli_once_jobs").await else {
            return;
        };
        let setup = Setup::new(3, 150, |_| {}).await;
        // alice follows two of the three channels; the third is added on PostgreSQL.
        let third = setup.sim.channel_usernames()[2].clone();
        {
            use tgsift_store::prelude::ChannelStore;
            let mut s = tgsift_store::SqliteStore::open(&setup.db).expect("store");
            let row = s.find_channels(&third).expect("find").remove(0);
            s.remove_channel(row.id).expect("remove");
        }
        let db = setup.db.to_str().expect("utf8").to_string();
        let key = [("TGSIFT_SESSION_KEY", KEY_B64)];
        let o = tgsift(&setup, &["db", "copy", "--from", &db, "--to", &url], &key).await;
        assert!(o.status.success(), "{}", text(&o));
        let o = tgsift(
            &setup,
            &["--db", &url, "channels", "add", "alice", &third],
            &key,
        )
        .await;
        assert!(o.status.success(), "{}", text(&o));
        assert!(text(&o).contains("no worker is running"), "{}", text(&o));

        let o = tgsift(
            &setup,
            &["--db", &url, "-q", "run", "--once"],
            &worker_env(),
        )
        .await;
        assert!(o.status.success(), "{}", text(&o));
        let pg = PgStore::open_config(schema_config("cli_once_jobs").expect("configured"))
            .await
            .expect("open");
        assert_eq!(
            pg_count(
                &pg,
                "SELECT count(*) FROM jobs WHERE kind = 'channel_add' AND state = 'done'"
            )
            .await,
            1,
            "the queued job ran"
        );
        assert_eq!(
            pg_posts(&pg).await,
            setup.truth(),
            "the same run fetched the channel it added, with the others"
        );
    })
    .await
}

/// One number from the PostgreSQL store.
async fn pg_count(store: &PgStore, sql: &str) -> i64 {
    let client = store.client("count").await.expect("client");
    client.query_one(sql, &[]).await.expect("count").get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_installation_is_set_up_and_administered_on_postgres_through_the_cli() {
    within(240, async {
        let Some(url) = fresh_url("cli_admin").await else {
            return;
        };
        let mut config = tgsift_sim::SimConfig::generated(31, 2, 300);
        config.accounts = (0..2).map(tgsift_sim::AccountSpec::generated).collect();
        let sim = tgsift_sim::Sim::start(config).await.expect("sim");
        let dir = tempfile::tempdir().expect("dir");
        let sessions = dir.path().join("sessions");
        std::fs::create_dir_all(&sessions).expect("sessions dir");
        let imported = dir.path().join("bob.session");
        sim.write_session(&imported, 1, true).expect("session");
        // `account add` starts from the simulator's (unauthorized) session at the usual path.
        sim.write_session(&sessions.join("alice.session"), 0, false)
            .expect("session");
        let key = ("TGSIFT_SESSION_KEY", KEY_B64);
        let dirs = ("TGSIFT_STORAGE__SESSIONS_DIR", "sessions");
        let d = dir.path();
        // A new database is created by the first command (here `migrate`, which says so).
        let o = tgsift_in(d, &["--db", &url, "migrate"], &[]).await;
        let migrated = format!(
            "schema migrated from version 0 to {}",
            tgsift_store::postgres::latest_version()
        );
        assert!(text(&o).contains(&migrated), "{}", text(&o));

        let pg = PgStore::open_config(schema_config("cli_admin").expect("configured"))
            .await
            .expect("open");

        // Sessions go into the database only under a key.
        let bob = imported.to_str().expect("utf8");
        let o = tgsift_in(d, &["--db", &url, "account", "import", "bob", "--session", bob], &[]).await;
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(String::from_utf8_lossy(&o.stderr).contains("TGSIFT_SESSION_KEY"), "{}", text(&o));
        assert_eq!(pg_count(&pg, "SELECT count(*) FROM accounts").await, 0, "nothing was stored");

        let o = tgsift_in(d, &["--db", &url, "account", "import", "bob", "--session", bob], &[key]).await;
        assert!(o.status.success(), "{}", text(&o));
        assert!(String::from_utf8_lossy(&o.stdout).contains("imported into the database"), "{}", text(&o));
        // The same auth key under a second name is refused.
        let o = tgsift_in(d, &["--db", &url, "account", "import", "bob2", "--session", bob], &[key]).await;
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(text(&o).contains("already used by account bob"), "{}", text(&o));

        // A failed login leaves nothing behind.
        let wrong = dir.path().join("wrong.txt");
        std::fs::write(&wrong, "11111\n22222\n33333\n").expect("codes");
        let phone = sim.accounts()[0].phone.clone();
        let failed = [
            "--db",
            &url,
            "account",
            "add",
            "alice",
            "--phone",
            &phone,
            "--code-from",
            wrong.to_str().expect("utf8"),
        ];
        let o = tgsift_in(d, &failed, &[key, dirs]).await;
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        assert!(text(&o).contains("login code was wrong 3 times"), "{}", text(&o));
        assert_eq!(pg_count(&pg, "SELECT count(*) FROM accounts").await, 1, "only bob");
        assert_eq!(pg_count(&pg, "SELECT count(*) FROM sessions").await, 1, "only bob's");

        // A login writes its session into the database, sealed; the file it started from stays as it was.
        let codes = dir.path().join("codes.txt");
        std::fs::write(&codes, format!("{}\n", sim.accounts()[0].code)).expect("codes");
        let add = [
            "--db", &url, "account", "add", "alice", "--phone", &phone,
            "--code-from", codes.to_str().expect("utf8"),
        ];
        let o = tgsift_in(d, &add, &[key, dirs]).await;
        assert!(o.status.success(), "{}", text(&o));
        assert!(
            text(&o).contains(&format!("logged in as user {}", sim.accounts()[0].user_id)),
            "{}",
            text(&o)
        );
        assert!(
            SqliteSession::open(&sessions.join("alice.session")).expect("file").self_user().is_none(),
            "the login went to the database, not the file"
        );
        // alice says whose she is; bob's session (as the simulator writes it) does not.
        assert_eq!(
            pg_count(&pg, "SELECT count(*) FROM accounts WHERE disabled_reason IS NULL AND user_id IS NOT NULL").await,
            1
        );
        let o = tgsift_in(d, &["--db", &url, "account", "list"], &[key]).await;
        assert!(o.status.success(), "{}", text(&o));
        let listing = String::from_utf8_lossy(&o.stdout).to_string();
        let line = |name: &str| {
            listing
                .lines()
                .find(|l| l.starts_with(name))
                .unwrap_or_else(|| panic!("{name} listed: {listing}"))
                .to_string()
        };
        assert!(line("alice").contains("yes") && line("alice").ends_with("free"), "{listing}");
        assert!(line("bob ").contains("unchecked"), "{listing}");

        // Channels added with no worker running are queued for the worker that takes the account.
        let channels = sim.channel_usernames();
        for (account, channel) in ["alice", "bob"].iter().zip(&channels) {
            let o = tgsift_in(d, &["--db", &url, "channels", "add", account, channel], &[key]).await;
            assert!(o.status.success(), "{}", text(&o));
            assert!(text(&o).contains("no worker is running"), "{}", text(&o));
        }
        assert_eq!(
            pg_count(
                &pg,
                "SELECT count(*) FROM jobs j JOIN accounts a ON a.id = j.account_id
                 WHERE j.kind = 'channel_add' AND j.state = 'queued'
                   AND j.args::jsonb->>'account' = a.name"
            )
            .await,
            2,
            "each job names the account it needs"
        );

        // A worker takes both accounts, runs the jobs and backfills the channels.
        let addr = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            l.local_addr().expect("addr").to_string()
        };
        let mut worker = spawn_worker(
            d,
            &url,
            &d.join("worker.log"),
            &["--http", &addr],
            &[("TGSIFT_HTTP__TOKEN", "pg-token")],
        );
        let truth = sim_truth(&sim);
        let complete = async {
            while pg_posts(&pg).await != truth {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        };
        if tokio::time::timeout(Duration::from_secs(60), complete).await.is_err() {
            let log = std::fs::read_to_string(d.join("worker.log")).unwrap_or_default();
            panic!("the worker did not store the channels in time; its log:\n{log}");
        }
        assert_eq!(
            pg_count(&pg, "SELECT count(*) FROM jobs WHERE state = 'done'").await,
            2
        );

        // The worker's HTTP API serves the shared database; a reparse asked there goes to the
        // worker that holds the channel's account, and runs.
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .expect("client");
        let get = |path: &str| {
            http.get(format!("http://{addr}{path}"))
                .bearer_auth("pg-token")
                .send()
        };
        let ready = get("/readyz").await.expect("readyz");
        assert_eq!(ready.status(), 200);
        let listed: serde_json::Value = get("/api/v1/channels").await.expect("channels").json().await.expect("json");
        assert_eq!(listed["items"].as_array().map(Vec::len), Some(2), "{listed}");
        let accounts: serde_json::Value = get("/api/v1/accounts").await.expect("accounts").json().await.expect("json");
        assert_eq!(accounts["items"].as_array().map(Vec::len), Some(2), "{accounts}");
        let metrics = get("/metrics").await.expect("metrics").text().await.expect("text");
        assert!(metrics.contains("tgsift_"), "{metrics}");
        // The dashboard signs in with a session kept in PostgreSQL, and the cookie alone then reads.
        let signed = http
            .post(format!("http://{addr}/api/v1/session"))
            .json(&serde_json::json!({"token": "pg-token"}))
            .send()
            .await
            .expect("sign in");
        assert_eq!(signed.status(), 200);
        let cookie = signed
            .headers()
            .get(reqwest::header::SET_COOKIE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .expect("a session cookie")
            .to_string();
        assert_eq!(pg_count(&pg, "SELECT count(*) FROM web_sessions").await, 1);
        for path in ["/api/v1/channels", "/"] {
            let by_cookie = http
                .get(format!("http://{addr}{path}"))
                .header(reqwest::header::COOKIE, &cookie)
                .send()
                .await
                .expect("get");
            assert_eq!(by_cookie.status(), 200, "{path}");
        }
        let queued = http
            .post(format!("http://{addr}/api/v1/reparse"))
            .bearer_auth("pg-token")
            .json(&serde_json::json!({"channel": channels[1], "from_id": 1, "to_id": 50}))
            .send()
            .await
            .expect("reparse");
        assert_eq!(queued.status(), 202);
        let queued: serde_json::Value = queued.json().await.expect("json");
        let job_id = queued["job_id"].as_i64().expect("job id");
        let done = async {
            loop {
                let job: serde_json::Value = get(&format!("/api/v1/jobs/{job_id}"))
                    .await
                    .expect("job")
                    .json()
                    .await
                    .expect("json");
                if job["state"] == "done" {
                    return job;
                }
                assert!(job["state"] == "queued" || job["state"] == "running", "{job}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        };
        let job = tokio::time::timeout(Duration::from_secs(30), done).await.expect("the reparse ran");
        assert_eq!(job["attempts"], 1, "{job}");
        assert_eq!(
            pg_count(
                &pg,
                &format!(
                    "SELECT count(*) FROM jobs j JOIN accounts a ON a.id = j.account_id
                     WHERE j.id = {job_id} AND a.name = 'bob'"
                )
            )
            .await,
            1,
            "the job names bob, whose channel it is"
        );
        assert_eq!(pg_posts(&pg).await, truth, "a reparse changes nothing that was right");

        // The admin commands read and change the shared database while the worker runs.
        let o = tgsift_in(d, &["--db", &url, "account", "list"], &[key]).await;
        assert!(String::from_utf8_lossy(&o.stdout).contains("worker #"), "{}", text(&o));
        let o = tgsift_in(d, &["--db", &url, "account", "remove", "alice", "--logout", "--purge"], &[key]).await;
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(text(&o).contains("served by worker #"), "{}", text(&o));
        let o = tgsift_in(d, &["--db", &url, "channels", "list"], &[]).await;
        assert!(o.status.success(), "{}", text(&o));
        let listing = String::from_utf8_lossy(&o.stdout).to_string();
        for c in &channels {
            let bare = c.trim_start_matches('@');
            let stored = truth.iter().filter(|p| p.0 == bare).count();
            let row = listing.lines().find(|l| l.contains(bare)).expect("listed");
            assert!(row.contains("active") && row.contains(&format!(" {stored} ")), "{listing}");
        }
        let o = tgsift_in(d, &["--db", &url, "posts", "list", "--json", "--limit", "7"], &[]).await;
        assert!(o.status.success(), "{}", text(&o));
        let posts: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).expect("json");
        assert_eq!(posts.len(), 7);
        let word = truth[0].2.split_whitespace().find(|w| w.len() > 3 && w.chars().all(char::is_alphabetic));
        if let Some(word) = word {
            let o = tgsift_in(d, &["--db", &url, "posts", "search", word, "--json"], &[]).await;
            assert!(o.status.success(), "{}", text(&o));
            let hits: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).expect("json");
            assert!(!hits.is_empty(), "`{word}` is found");
        }
        for args in [["status", "--json"], ["stats", "--json"], ["tags", "top"]] {
            let o = tgsift_in(d, &[&["--db", url.as_str()][..], &args[..]].concat(), &[]).await;
            assert!(o.status.success(), "{args:?}: {}", text(&o));
        }
        let o = tgsift_in(d, &["--db", &url, "channels", "pause", &channels[0]], &[]).await;
        assert!(o.status.success(), "{}", text(&o));
        assert_eq!(pg_count(&pg, "SELECT count(*) FROM channels WHERE active").await, 1);
        worker.start_kill().expect("stop");
        let _ = worker.wait().await;

        // An audit compares what is stored; asking Telegram is the workers' (it says so).
        let o = tgsift_in(d, &["--db", &url, "channels", "audit", &channels[1]], &[key]).await;
        let bobs = truth
            .iter()
            .filter(|p| channels[1].ends_with(&p.0))
            .count();
        let said = text(&o);
        assert!(o.status.success(), "{said}");
        assert!(said.contains(&format!("stored {bobs} posts")), "{said}");
        assert!(said.contains("used only by the `tgsift run` worker holding it"), "{said}");
        assert!(said.contains("no gaps in what is stored"), "{said}");

        // What only SQLite files have is refused with what to use instead.
        let o = tgsift_in(d, &["--db", &url, "backup", "copy.db"], &[]).await;
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(text(&o).contains("pg_dump"), "{}", text(&o));
        let o = tgsift_in(d, &["--db", &url, "migrate"], &[]).await;
        assert!(o.status.success(), "{}", text(&o));
        let current = format!(
            "up to date (version {})",
            tgsift_store::postgres::latest_version()
        );
        assert!(text(&o).contains(&current), "{}", text(&o));

        // Removing an account takes its session and (with --purge) its channels and posts.
        let o = tgsift_in(d, &["--db", &url, "account", "remove", "alice"], &[key]).await;
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(text(&o).contains("--purge"), "{}", text(&o));
        let o = tgsift_in(d, &["--db", &url, "account", "remove", "alice", "--purge"], &[key]).await;
        assert!(o.status.success(), "{}", text(&o));
        assert_eq!(pg_count(&pg, "SELECT count(*) FROM accounts").await, 1);
        assert_eq!(pg_count(&pg, "SELECT count(*) FROM sessions").await, 1);
        assert_eq!(pg_count(&pg, "SELECT count(*) FROM posts").await, bobs as i64);
    })
    .await
}
