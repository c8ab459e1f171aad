//! A simulator with an account and followed channels in a fresh database, and `tgsift` as a process on
//! them: the scaffolding of the service-level tests.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tgsift::telegram::session::SimSessions;

use tgsift::config::{LoadOptions, Loaded};
use tgsift_sim::{Sim, SimConfig};
use tgsift_store::prelude::*;
use tgsift_store::{NewChannel, SqliteStore};

use super::API_HASH;

/// A simulator, an authorized account `alice` with its session file, and every channel followed in a
/// fresh database.
pub struct Setup {
    /// The folder of the database and the session.
    pub dir: tempfile::TempDir,
    /// The simulator.
    pub sim: Sim,
    /// The database.
    pub db: PathBuf,
}

impl Setup {
    /// A simulator with `channels` × `posts`, an authorized account, and every channel followed.
    pub async fn new(channels: usize, posts: i32, config: impl FnOnce(&mut SimConfig)) -> Setup {
        let mut cfg = SimConfig::generated(11, channels, posts);
        config(&mut cfg);
        Setup::of(cfg, true).await
    }

    /// A simulator of `cfg` and an authorized account `alice`; its channels are followed only when
    /// `follow` (those with a username).
    pub async fn of(cfg: SimConfig, follow: bool) -> Setup {
        let sim = Sim::start(cfg).await.expect("sim");
        let dir = tempfile::tempdir().expect("tempdir");
        let session = dir.path().join("alice.session");
        sim.write_session(&session, 0, true).expect("session");
        let db = dir.path().join("t.db");
        let mut store = SqliteStore::open(&db).expect("store");
        let acc = store
            .add_account("alice", None, None, &session)
            .expect("account");
        let names = if follow {
            sim.channel_usernames()
        } else {
            Vec::new()
        };
        for name in names {
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
            store.add_channel(acc.id, &c).expect("add").expect("new");
        }
        Setup { dir, sim, db }
    }

    pub fn loaded(&self) -> Loaded {
        let mut l = Loaded::load(&LoadOptions::default()).expect("defaults");
        l.set_database(self.db.clone());
        let t = &mut l.config.telegram;
        t.api_id = Some(super::API_ID);
        t.flood_sleep_threshold = 2;
        t.retry_delay = 0.05;
        t.retry_max_delay = 0.5;
        t.connection_retries = 20;
        t.pacer_initial_rate = 200.0;
        t.pacer_max_rate = 1000.0;
        l
    }

    /// `tgsift` as a separate process on the same database and simulator.
    pub fn spawn(&self, args: &[&str], poll_secs: &str) -> Child {
        self.spawn_with(args, poll_secs, &[])
    }

    /// Same, with more environment (later entries win over the defaults above).
    pub fn spawn_with(&self, args: &[&str], poll_secs: &str, env: &[(&str, &str)]) -> Child {
        self.command(args, poll_secs, env)
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn tgsift")
    }

    /// [`Setup::spawn_with`] for a long run that logs much: its log goes to `tgsift.log` in the
    /// test's directory ([`Setup::log`]), as a pipe nobody reads would stall it once full.
    pub fn spawn_logged(&self, args: &[&str], poll_secs: &str, env: &[(&str, &str)]) -> Child {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("tgsift.log"))
            .expect("open tgsift.log");
        self.command(args, poll_secs, env)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn tgsift")
    }

    /// What the processes started by [`Setup::spawn_logged`] logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("tgsift.log")).unwrap_or_default()
    }

    /// Runs `tgsift ARGS` to its end (a minute at most): exit code, stdout, stderr. Waits on a
    /// blocking thread, so the simulator (on this runtime) keeps answering.
    pub async fn output(&self, args: &[&str]) -> (Option<i32>, String, String) {
        self.output_with(args, &[]).await
    }

    /// [`Setup::output`] with more environment.
    pub async fn output_with(
        &self,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> (Option<i32>, String, String) {
        let mut child = self
            .command(args, "60", env)
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn tgsift");
        tokio::task::spawn_blocking(move || {
            let (mut out, mut err) = (String::new(), String::new());
            let stderr = child.stderr.take();
            let reader = std::thread::spawn(move || {
                use std::io::Read;
                let mut err = String::new();
                if let Some(mut e) = stderr {
                    let _ = e.read_to_string(&mut err);
                }
                err
            });
            if let Some(mut o) = child.stdout.take() {
                use std::io::Read;
                let _ = o.read_to_string(&mut out);
            }
            let status = wait_exit(&mut child, Duration::from_secs(60));
            if let Ok(e) = reader.join() {
                err = e;
            }
            (status.and_then(|s| s.code()), out, err)
        })
        .await
        .expect("join")
    }

    /// `tgsift` on this setup's database, simulator settings and environment, not yet started.
    pub fn command(&self, args: &[&str], poll_secs: &str, env: &[(&str, &str)]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tgsift"));
        cmd.args(["--db", self.db.to_str().expect("utf8"), "-q"])
            .args(args)
            .current_dir(self.dir.path())
            .env("TG_API_ID", "12345")
            .env("TG_API_HASH", API_HASH)
            .env("TGSIFT_TELEGRAM__FLOOD_SLEEP_THRESHOLD", "2")
            .env("TGSIFT_TELEGRAM__RETRY_DELAY", "0.05")
            .env("TGSIFT_TELEGRAM__RETRY_MAX_DELAY", "0.5")
            .env("TGSIFT_TELEGRAM__PACER_INITIAL_RATE", "200")
            .env("TGSIFT_TELEGRAM__PACER_MAX_RATE", "1000")
            .env("TGSIFT_INGEST__POLL_INTERVAL", poll_secs)
            // These tests watch ingest alone: statuses must stay as ingest left them.
            .env("TGSIFT_TAGGING__BACKEND", "off")
            .env_remove("RUST_LOG")
            .env_remove("TGSIFT_CONFIG")
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Every stored (channel username, id, text, edit date), sorted.
    pub fn stored(&self) -> Vec<(String, i32, String, Option<i64>)> {
        let store = SqliteStore::open(&self.db).expect("store");
        store
            .read("dump", |c| {
                let mut st = c.prepare(
                    "SELECT c.username, p.message_id, p.text, p.edit_date FROM posts p JOIN channels c ON c.id = p.channel_id
                     ORDER BY c.username, p.message_id",
                )?;
                st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?.collect()
            })
            .expect("dump")
    }

    /// What the simulator holds, in the same shape.
    pub fn truth(&self) -> Vec<(String, i32, String, Option<i64>)> {
        let mut all = Vec::new();
        for name in self.sim.channel_usernames() {
            let bare = name.trim_start_matches('@').to_string();
            self.sim
                .with_channel(&name, |c| {
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

    /// Every channel's checkpoint equals its newest message (of any kind: service messages move the
    /// checkpoint too).
    pub fn assert_checkpoints(&self) {
        let store = SqliteStore::open(&self.db).expect("store");
        for ch in store.channels().expect("channels") {
            let name = ch.label();
            let newest = self
                .sim
                .with_channel(&name, |c| c.ids().last().copied().unwrap_or(0))
                .expect("channel");
            assert_eq!(ch.last_message_id, newest, "checkpoint of {name}");
        }
    }
}

impl Setup {
    /// What differs between the database and the simulator, in live mode's terms: every post the
    /// simulator holds is stored with its current text and edit date and not marked deleted or
    /// hidden; every stored post the simulator no longer holds is marked deleted (Telegram announced
    /// it; rows are never dropped). Empty when they agree.
    pub fn live_differences(&self) -> Vec<String> {
        self.live_differences_but(&[])
    }

    /// [`Setup::live_differences`], except that the posts `unannounced` (deleted where no update could
    /// tell: the channel's events were cut) may be marked hidden instead — a page lacked them and
    /// `channels.getMessages` answered them empty, which tgsift cannot tell from a post hidden from
    /// the account.
    pub fn live_differences_but(&self, unannounced: &[(String, i32)]) -> Vec<String> {
        let store = SqliteStore::open(&self.db).expect("store");
        let stored: Vec<(String, i32, String, Option<i64>, i32)> = store
            .read("dump", |c| {
                let mut st = c.prepare(
                    "SELECT c.username, p.message_id, p.text, p.edit_date,
                            CASE WHEN p.deleted_at IS NOT NULL THEN 2 WHEN p.hidden_at IS NOT NULL THEN 1 ELSE 0 END
                     FROM posts p JOIN channels c ON c.id = p.channel_id ORDER BY c.username, p.message_id",
                )?;
                st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))?
                    .collect()
            })
            .expect("dump");
        let truth: std::collections::BTreeMap<(String, i32), (String, Option<i64>)> = self
            .truth()
            .into_iter()
            .map(|(c, id, text, edit)| ((c, id), (text, edit)))
            .collect();
        let mut diffs = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (c, id, text, edit, mark) in stored {
            let key = (c, id);
            let deleted = mark == 2 || (mark == 1 && unannounced.contains(&key));
            match truth.get(&key) {
                Some((t, e)) => {
                    if mark > 0 {
                        diffs.push(format!("{key:?} marked deleted or hidden but exists"));
                    } else if (t, e) != (&text, &edit) {
                        diffs.push(format!(
                            "{key:?} stored {text:?} (edit {edit:?}), server has {t:?} (edit {e:?})"
                        ));
                    }
                }
                None if !deleted => {
                    diffs.push(format!("{key:?} deleted on the server, not marked"))
                }
                None => {}
            }
            seen.insert(key);
        }
        for key in truth.keys() {
            if !seen.contains(key) {
                diffs.push(format!("{key:?} not stored"));
            }
        }
        diffs
    }
}

/// Waits up to `limit` for the process to exit.
pub fn wait_exit(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let t0 = Instant::now();
    while t0.elapsed() < limit {
        if let Ok(Some(st)) = child.try_wait() {
            return Some(st);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// Sends SIGTERM (what a service manager sends to stop it).
pub fn sigterm(child: &Child) {
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(ok.success());
}
