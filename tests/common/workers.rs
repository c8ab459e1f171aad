//! PostgreSQL workers for the tests that need several `tgsift run` processes on one database: an
//! SQLite installation moved in by `db copy`, workers with short leases, and what the store holds
//! against what the simulator holds.

use std::process::Output;

use tgsift::telegram::session::SimSessions;

use tgsift_store::postgres::PgStore;
use tgsift_store::testing::postgres::schema_config;

use super::API_HASH;

/// A session key for the tests (any 32 bytes, base64).
pub const KEY_B64: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

pub fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Every (channel username, message id, text, edit date) in the PostgreSQL store, sorted.
pub async fn pg_posts(store: &PgStore) -> Vec<(String, i32, String, Option<i64>)> {
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

/// The environment of a `tgsift run` worker on the PostgreSQL store: the simulator's settings, the
/// session key, short leases and polls so takeovers happen within the test.
pub fn worker_env() -> Vec<(&'static str, &'static str)> {
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

/// `tgsift --db URL run ARGS` in `dir` as a worker of the tests ([`worker_env`] and `env`), its log
/// in `log`; killed when dropped.
pub fn spawn_worker(
    dir: &std::path::Path,
    url: &str,
    log: &std::path::Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> tokio::process::Child {
    let log = std::fs::File::create(log).expect("log");
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_tgsift"));
    cmd.args(["--db", url, "run"])
        .args(args)
        .current_dir(dir)
        .env("TG_API_ID", "12345")
        .env("TG_API_HASH", API_HASH)
        .env("TGSIFT_TAGGING__BACKEND", "off")
        .env("TGSIFT_TELEGRAM__PACER_INITIAL_RATE", "200")
        .env("TGSIFT_TELEGRAM__PACER_MAX_RATE", "1000")
        .env_remove("TGSIFT_CONFIG")
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .kill_on_drop(true);
    for (k, v) in worker_env().into_iter().chain(env.iter().copied()) {
        cmd.env(k, v);
    }
    cmd.spawn().expect("spawn worker")
}

/// An SQLite installation with `accounts` accounts (session files from the simulator) following the
/// simulator's channels round-robin, for `db copy` to move into PostgreSQL.
pub fn installation(
    sim: &tgsift_sim::Sim,
    dir: &std::path::Path,
    accounts: usize,
) -> std::path::PathBuf {
    use tgsift_store::prelude::*;
    use tgsift_store::{NewChannel, SqliteStore};
    let db = dir.join("t.db");
    let mut store = SqliteStore::open(&db).expect("store");
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

/// [`installation`] with `accounts` accounts, moved into PostgreSQL at `url` by `db copy`; the store
/// of test schema `schema`.
pub async fn copied(
    sim: &tgsift_sim::Sim,
    dir: &std::path::Path,
    url: &str,
    schema: &str,
    accounts: usize,
) -> PgStore {
    let db = installation(sim, dir, accounts);
    let copy = tokio::process::Command::new(env!("CARGO_BIN_EXE_tgsift"))
        .args([
            "db",
            "copy",
            "--from",
            db.to_str().expect("utf8"),
            "--to",
            url,
        ])
        .env("TGSIFT_SESSION_KEY", KEY_B64)
        .output()
        .await
        .expect("copy");
    assert!(copy.status.success(), "{}", text(&copy));
    PgStore::open_config(schema_config(schema).expect("configured"))
        .await
        .expect("open")
}

/// Every post the simulator holds, as (channel username, message id, text, edit date), sorted.
pub fn sim_truth(sim: &tgsift_sim::Sim) -> Vec<(String, i32, String, Option<i64>)> {
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
