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
