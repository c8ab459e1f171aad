//! Onboarding through the real binary against the simulated DC: codes, 2FA, retries, lease, secrets.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;
use tgsift::telegram::session::SimSessions;

use crate::common::{API_HASH, within};
use tgsift::telegram::session_lock::SessionLock;
use tgsift_sim::{AccountSpec, Sim, SimConfig};
use tgsift_store::prelude::*;

struct Env {
    dir: tempfile::TempDir,
    sim: Sim,
}

impl Env {
    async fn new(password: Option<&str>) -> Env {
        let mut cfg = SimConfig::generated(3, 1, 50);
        let mut acc = AccountSpec::generated(0);
        acc.password = password.map(str::to_string);
        cfg.accounts = vec![acc];
        let sim = Sim::start(cfg).await.expect("sim");
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("sessions")).expect("sessions dir");
        Env { dir, sim }
    }

    fn session(&self, name: &str) -> PathBuf {
        self.dir
            .path()
            .join("sessions")
            .join(format!("{name}.session"))
    }

    /// The simulator writes the unauthorized session that `account add` logs in on.
    fn prepare_session(&self, name: &str) {
        self.sim
            .write_session(&self.session(name), 0, false)
            .expect("write session");
    }

    fn write(&self, file: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(file);
        std::fs::write(&p, text).expect("write");
        p
    }

    /// Runs the binary off the runtime (the simulator keeps serving meanwhile).
    async fn tgsift(&self, args: &[&str], extra_env: &[(&str, &str)]) -> Output {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_tgsift"));
        cmd.args(["--db", "t.db", "-vv"])
            .args(args)
            .current_dir(self.dir.path())
            .env("TG_API_ID", "12345")
            .env("TG_API_HASH", API_HASH)
            .env("TGSIFT_STORAGE__SESSIONS_DIR", "sessions")
            .env("RUST_LOG", "trace")
            .env_remove("TGSIFT_CONFIG")
            .env_remove("TGSIFT_2FA_PASSWORD")
            .stdin(std::process::Stdio::null());
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        tokio::task::spawn_blocking(move || cmd.output().expect("run tgsift"))
            .await
            .expect("join")
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777
}

#[tokio::test]
async fn onboarding_with_a_code_from_a_file() {
    within(60, async {
        let env = Env::new(None).await;
        env.prepare_session("alice");
        let code = env.sim.accounts()[0].code.clone();
        let phone = env.sim.accounts()[0].phone.clone();
        let codes = env.write("codes.txt", &format!("{code}\n"));
        let o = env
            .tgsift(
                &[
                    "account",
                    "add",
                    "alice",
                    "--phone",
                    &phone,
                    "--code-from",
                    codes.to_str().expect("utf8"),
                ],
                &[
                    ("TGSIFT_TELEGRAM__DEVICE_MODEL", "archive-box"),
                    ("LANG", "de_DE.UTF-8"),
                ],
            )
            .await;
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        assert!(text(&o).contains(&format!(
            "logged in as user {}",
            env.sim.accounts()[0].user_id
        )));
        assert_eq!(mode(&env.session("alice")), 0o600);
        let o = env.tgsift(&["account", "list"], &[]).await;
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        let listing = String::from_utf8_lossy(&o.stdout).to_string();
        assert!(
            listing.contains("alice") && listing.contains("yes") && listing.contains("free"),
            "{listing}"
        );
        assert!(!listing.contains(&phone), "phone is masked: {listing}");
        // Another shell, another configuration: the account presents what it was added with.
        let elsewhere = [
            ("TGSIFT_TELEGRAM__DEVICE_MODEL", "another-host"),
            ("TGSIFT_TELEGRAM__APP_VERSION", "9.9"),
            ("LANG", "fr_FR.UTF-8"),
        ];
        let o = env.tgsift(&["account", "check", "alice"], &elsewhere).await;
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        let channel = env.sim.channel_usernames()[0].clone();
        let o = env
            .tgsift(&["channels", "add", "alice", &channel], &elsewhere)
            .await;
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        let o = env.tgsift(&["run", "--once"], &elsewhere).await;
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        let faces = env.sim.log().client_inits();
        assert_eq!(
            faces,
            vec![tgsift_sim::log::ClientInit {
                api_id: 12345,
                device_model: "archive-box".into(),
                system_version: "Linux".into(),
                app_version: env!("CARGO_PKG_VERSION").into(),
                lang_code: "en".into(),
                system_lang_code: "en".into(),
            }],
            "one client identity across add, check, a job and run"
        );

        // The same phone under a second name is refused before any code is sent.
        let sent = env.sim.log().count("auth.sendCode");
        let o = env
            .tgsift(&["account", "add", "alice2", "--phone", &phone], &[])
            .await;
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(
            text(&o).contains("already logged in as account alice"),
            "{}",
            text(&o)
        );
        assert_eq!(env.sim.log().count("auth.sendCode"), sent);
    })
    .await;
}

#[tokio::test]
async fn wrong_code_then_right_one_and_two_factor_from_the_environment() {
    within(90, async {
        let env = Env::new(Some("hunter2-but-longer")).await;
        env.prepare_session("bob");
        let acc = env.sim.accounts()[0].clone();
        let codes = env.write("codes.txt", &format!("99999\n{}\n", acc.code));
        let o = env
            .tgsift(
                &[
                    "account",
                    "add",
                    "bob",
                    "--phone",
                    &acc.phone,
                    "--code-from",
                    codes.to_str().expect("utf8"),
                ],
                &[("TGSIFT_2FA_PASSWORD", "hunter2-but-longer")],
            )
            .await;
        let out = text(&o);
        assert_eq!(o.status.code(), Some(0), "{out}");
        assert!(
            out.contains("wrong login code"),
            "the wrong code was reported: {out}"
        );
        // No secret reaches the logs, even at trace level.
        let key = std::fs::read(env.session("bob")).map(|_| ()).ok();
        assert!(key.is_some());
        for secret in [API_HASH, acc.code.as_str(), "hunter2-but-longer", "99999"] {
            assert!(
                !out.contains(secret),
                "secret {secret:?} leaked into the output"
            );
        }
        let session =
            tgsift::telegram::session::SqliteSession::open(&env.session("bob")).expect("session");
        let auth_key = session.auth_key().expect("key");
        let hex: String = auth_key[..16].iter().map(|b| format!("{b:02x}")).collect();
        let dec = format!(
            "{}, {}, {}, {}",
            auth_key[0], auth_key[1], auth_key[2], auth_key[3]
        );
        assert!(
            !out.contains(&hex) && !out.contains(&dec),
            "auth key bytes leaked"
        );
    })
    .await;
}

/// Runs `account add NAME --qr` while "the phone" accepts the newest code once `exports`
/// `auth.exportLoginToken` calls were made (and, with `wait`, that much longer after the first).
async fn add_by_qr(
    env: &Env,
    name: &str,
    extra_env: &[(&str, &str)],
    exports: usize,
    wait: std::time::Duration,
) -> Output {
    let phone = async {
        while env.sim.log().count("auth.exportLoginToken") == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        tokio::time::sleep(wait).await;
        loop {
            if env.sim.log().count("auth.exportLoginToken") >= exports
                && env.sim.accept_login_token(0).is_ok()
            {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    };
    let args = ["account", "add", name, "--qr"];
    let run = env.tgsift(&args, extra_env);
    let (out, ()) = tokio::join!(run, phone);
    out
}

/// The forms a login token could leak in: base64url (as in the link), base64, hex, Debug bytes.
fn assert_no_token_in(out: &str, tokens: &[Vec<u8>]) {
    use base64::Engine as _;
    assert!(!tokens.is_empty());
    assert!(!out.contains("tg://login"), "the login link leaked: {out}");
    for t in tokens {
        let forms = [
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(t),
            base64::engine::general_purpose::STANDARD.encode(t),
            t.iter().map(|b| format!("{b:02x}")).collect::<String>(),
            format!("{:?}", &t[..8]).trim_end_matches(']').to_string(),
        ];
        for form in forms {
            assert!(!out.contains(&form), "a login token leaked as {form:?}");
        }
    }
}

/// After a QR login, `account check` (a new process on the stored session) is the user itself.
async fn assert_logged_in(env: &Env, name: &str) {
    let user = env.sim.accounts()[0].user_id;
    let o = env.tgsift(&["account", "check", name], &[]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains(&format!("logged in as user {user}")),
        "{}",
        text(&o)
    );
    assert_eq!(mode(&env.session(name)), 0o600);
}

#[tokio::test]
async fn qr_login_stores_a_working_session_and_never_prints_the_token() {
    within(60, async {
        let env = Env::new(None).await;
        env.prepare_session("qr");
        let o = add_by_qr(&env, "qr", &[], 1, std::time::Duration::ZERO).await;
        let out = text(&o);
        assert_eq!(o.status.code(), Some(0), "{out}");
        let acc = env.sim.accounts()[0].clone();
        assert!(
            out.contains(&format!("account qr logged in as user {}", acc.user_id)),
            "{out}"
        );
        assert_eq!(
            out.matches("; it is valid for").count(),
            1,
            "one code: {out}"
        );
        assert!(
            out.contains('█') || out.contains('▀'),
            "the code is drawn: {out}"
        );
        assert_eq!(env.sim.log().count("auth.sendCode"), 0);
        assert_eq!(
            env.sim.log().count("auth.importLoginToken"),
            0,
            "no migration"
        );
        assert_no_token_in(&out, &env.sim.login_tokens());
        assert_logged_in(&env, "qr").await;
        // Telegram told the phone number: the same phone under another name is refused.
        let o = env
            .tgsift(&["account", "add", "qr2", "--phone", &acc.phone], &[])
            .await;
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(
            text(&o).contains("already logged in as account qr"),
            "{}",
            text(&o)
        );
        // --qr and --phone exclude each other; one of them is needed.
        for args in [
            &["account", "add", "x", "--qr", "--phone", &acc.phone][..],
            &["account", "add", "x"][..],
        ] {
            let o = env.tgsift(args, &[]).await;
            assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        }
    })
    .await;
}

#[tokio::test]
async fn qr_login_follows_the_account_to_its_dc() {
    within(60, async {
        let env = Env::new(None).await;
        env.sim.move_account(0, 4);
        env.prepare_session("mover");
        let o = add_by_qr(&env, "mover", &[], 1, std::time::Duration::ZERO).await;
        let out = text(&o);
        assert_eq!(o.status.code(), Some(0), "{out}");
        assert_eq!(env.sim.log().count("auth.importLoginToken"), 1, "{out}");
        assert_no_token_in(&out, &env.sim.login_tokens());
        {
            use grammers_session::Session as _;
            let session = tgsift::telegram::session::SqliteSession::open(&env.session("mover"))
                .expect("session");
            assert_eq!(session.home_dc_id().expect("home"), 4, "DC 4 is home now");
        }
        // The login holds on DC 4 only: the check works because the session went there.
        assert_logged_in(&env, "mover").await;
    })
    .await;
}

#[tokio::test]
async fn qr_login_asks_for_the_two_factor_password() {
    within(90, async {
        let env = Env::new(Some("correct-horse-staple")).await;
        env.prepare_session("carol");
        let wrong = [("TGSIFT_2FA_PASSWORD", "not-the-password")];
        let o = add_by_qr(&env, "carol", &wrong, 1, std::time::Duration::ZERO).await;
        let out = text(&o);
        assert_eq!(o.status.code(), Some(1), "{out}");
        assert!(out.contains("2FA password was wrong"), "{out}");
        let right = [("TGSIFT_2FA_PASSWORD", "correct-horse-staple")];
        // The first run exported twice (the code, then the answer after the scan).
        let o = add_by_qr(&env, "carol", &right, 3, std::time::Duration::ZERO).await;
        let out = text(&o);
        assert_eq!(o.status.code(), Some(0), "{out}");
        assert_eq!(env.sim.log().count("auth.checkPassword"), 2);
        for secret in ["correct-horse-staple", "not-the-password"] {
            assert!(!out.contains(secret), "the password leaked: {out}");
        }
        assert_no_token_in(&out, &env.sim.login_tokens());
        assert_logged_in(&env, "carol").await;
    })
    .await;
}

#[tokio::test]
async fn an_unscanned_qr_code_is_replaced_before_it_expires() {
    within(60, async {
        let env = Env::new(None).await;
        let ttl = std::time::Duration::from_secs(3);
        env.sim.set_login_token_ttl(ttl);
        env.prepare_session("late");
        // The phone scans only once the first code has expired.
        let o = add_by_qr(&env, "late", &[], 2, ttl).await;
        let out = text(&o);
        assert_eq!(o.status.code(), Some(0), "{out}");
        let shown = out.matches("; it is valid for").count();
        assert!(shown >= 2, "a new code was printed: {out}");
        assert!(out.contains("The previous code expired"), "{out}");
        assert_no_token_in(&out, &env.sim.login_tokens());
        assert!(env.sim.login_tokens().len() >= 2);
        assert_logged_in(&env, "late").await;
    })
    .await;
}

#[tokio::test]
async fn three_wrong_codes_fail_clearly() {
    within(60, async {
        let env = Env::new(None).await;
        env.prepare_session("carol");
        let phone = env.sim.accounts()[0].phone.clone();
        let codes = env.write("codes.txt", "11111\n22222\n33333\n44444\n");
        let o = env
            .tgsift(
                &[
                    "account",
                    "add",
                    "carol",
                    "--phone",
                    &phone,
                    "--code-from",
                    codes.to_str().expect("utf8"),
                ],
                &[],
            )
            .await;
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        assert!(
            text(&o).contains("login code was wrong 3 times"),
            "{}",
            text(&o)
        );
        let signins = env.sim.log().count("auth.signIn");
        assert_eq!(signins, 3, "exactly three attempts");
    })
    .await;
}

#[tokio::test]
async fn a_second_process_on_the_same_session_is_refused_naming_the_holder() {
    within(60, async {
        let env = Env::new(None).await;
        env.prepare_session("dave");
        let phone = env.sim.accounts()[0].phone.clone();
        let _held = SessionLock::acquire("dave", &env.session("dave"))
            .expect("this process holds the lease");
        let codes = env.write("codes.txt", "12345\n");
        let o = env
            .tgsift(
                &[
                    "account",
                    "add",
                    "dave",
                    "--phone",
                    &phone,
                    "--code-from",
                    codes.to_str().expect("utf8"),
                ],
                &[],
            )
            .await;
        let out = text(&o);
        assert_eq!(o.status.code(), Some(1), "{out}");
        assert!(
            out.contains(&format!("in use by pid {}", std::process::id())),
            "{out}"
        );
        assert_eq!(
            env.sim.log().count("auth.sendCode"),
            0,
            "refused before any network use"
        );
    })
    .await;
}

#[tokio::test]
async fn missing_api_credentials_are_a_config_error_before_any_network() {
    within(30, async {
        let env = Env::new(None).await;
        let o = env
            .tgsift(
                &["account", "add", "erin", "--phone", "+15550000000"],
                &[("TG_API_ID", "")],
            )
            .await;
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(
            text(&o).contains("telegram.api_id` is not set") && text(&o).contains("TG_API_ID"),
            "{}",
            text(&o)
        );
        // A phone number that cannot be one is the first mistake named (issue 31, item 9), before
        // the missing credentials.
        let o = env
            .tgsift(
                &["account", "add", "erin", "--phone", "12345"],
                &[("TG_API_ID", "")],
            )
            .await;
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(
            text(&o).contains("--phone `12345` is not a phone number"),
            "{}",
            text(&o)
        );
        let o = env
            .tgsift(
                &["channels", "add", "erin", "@news", "--backfill", "lots"],
                &[("TG_API_ID", "")],
            )
            .await;
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(
            text(&o).contains("backfill") && !text(&o).contains("api_id"),
            "{}",
            text(&o)
        );
        assert_eq!(env.sim.log().requests().len(), 0);
    })
    .await;
}

#[tokio::test]
async fn import_adopts_a_simulator_session_and_a_telethon_string() {
    within(60, async {
        let env = Env::new(None).await;
        let file = env.dir.path().join("from-sim.session");
        env.sim.write_session(&file, 0, true).expect("write");
        let o = env
            .tgsift(
                &[
                    "account",
                    "import",
                    "frank",
                    "--session",
                    file.to_str().expect("utf8"),
                ],
                &[],
            )
            .await;
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        assert_eq!(mode(&env.session("frank")), 0o600);
        let o = env.tgsift(&["account", "check", "frank"], &[]).await;
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));

        // One login, one account: the same key under a second name is refused, naming the first.
        let o = env
            .tgsift(
                &[
                    "account",
                    "import",
                    "frank2",
                    "--session",
                    file.to_str().expect("utf8"),
                ],
                &[],
            )
            .await;
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(
            text(&o).contains("already used by account frank"),
            "{}",
            text(&o)
        );
        assert!(!env.session("frank2").exists(), "nothing was kept");

        // Another key of the same Telegram user: refused as soon as the user is known (at check).
        let string = env.sim.telethon_string(0, true);
        let o = env
            .tgsift(
                &["account", "import", "gina", "--telethon-string", &string],
                &[],
            )
            .await;
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        let o = env.tgsift(&["account", "check", "gina"], &[]).await;
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(
            text(&o).contains("already onboarded as account frank"),
            "{}",
            text(&o)
        );
        let o = env.tgsift(&["account", "remove", "frank"], &[]).await;
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        let o = env.tgsift(&["account", "check", "gina"], &[]).await;
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        let listing = tgsift_store::SqliteStore::open(&env.dir.path().join("t.db"))
            .expect("db")
            .account("gina")
            .expect("read")
            .expect("gina");
        assert!(
            listing.session_path.is_absolute(),
            "session paths are stored absolute: {listing:?}"
        );

        let o = env
            .tgsift(
                &["account", "import", "hank", "--telethon-string", "1garbage"],
                &[],
            )
            .await;
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(!env.session("hank").exists());
        let o = env
            .tgsift(&["account", "remove", "gina", "--logout"], &[])
            .await;
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        assert!(!env.session("gina").exists());
    })
    .await;
}

#[tokio::test]
async fn channels_are_added_by_username_or_link_and_unknown_or_private_ones_are_refused() {
    within(60, async {
        let env = Env::new(None).await;
        let file = env.dir.path().join("from-sim.session");
        env.sim.write_session(&file, 0, true).expect("write");
        let o = env
            .tgsift(
                &[
                    "account",
                    "import",
                    "ivan",
                    "--session",
                    file.to_str().expect("utf8"),
                ],
                &[],
            )
            .await;
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        let name = env.sim.channel_usernames()[0].clone();
        let link = format!("https://t.me/{}", name.trim_start_matches('@'));
        let o = env
            .tgsift(&["channels", "add", "ivan", &link, "--backfill", "20"], &[])
            .await;
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        assert!(
            text(&o).contains(&format!("following {name}")),
            "{}",
            text(&o)
        );

        let o = env
            .tgsift(&["channels", "add", "ivan", "@no_such_channel"], &[])
            .await;
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        assert!(text(&o).contains("does not exist"), "{}", text(&o));
        env.sim.ban(&name, 0);
        let o = env
            .tgsift(&["channels", "add", "ivan", "@sim_news"], &[])
            .await;
        assert!(
            text(&o).contains("already follows") || o.status.code() == Some(1),
            "{}",
            text(&o)
        );

        let o = env.tgsift(&["run", "--once"], &[]).await;
        assert_eq!(
            o.status.code(),
            Some(1),
            "the banned channel fails the run: {}",
            text(&o)
        );
        assert!(text(&o).contains("CHANNEL_PRIVATE"), "{}", text(&o));
        let o = env.tgsift(&["channels", "list"], &[]).await;
        let listing = String::from_utf8_lossy(&o.stdout).to_string();
        assert!(
            listing.contains("failed") && listing.contains("CHANNEL_PRIVATE"),
            "{listing}"
        );
        let o = env
            .tgsift(&["channels", "add", "ivan", "not a channel!"], &[])
            .await;
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    })
    .await;
}

#[tokio::test]
async fn backfill_last_n_fetches_only_the_newest_posts_and_reparse_repeats_safely() {
    within(60, async {
        let env = Env::new(None).await;
        let file = env.dir.path().join("from-sim.session");
        env.sim.write_session(&file, 0, true).expect("write");
        assert_eq!(
            env.tgsift(
                &[
                    "account",
                    "import",
                    "jo",
                    "--session",
                    file.to_str().expect("utf8")
                ],
                &[]
            )
            .await
            .status
            .code(),
            Some(0)
        );
        let name = env.sim.channel_usernames()[0].clone();
        let o = env
            .tgsift(&["channels", "add", "jo", &name, "--backfill", "20"], &[])
            .await;
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        let o = env.tgsift(&["run", "--once"], &[]).await;
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        // `--backfill 20` starts below the newest 20 messages; service messages among them are
        // not posts and are not stored.
        let newest20: Vec<i32> = env
            .sim
            .with_channel(&name, |c| {
                let mut ids: Vec<i32> = c.ids().into_iter().rev().take(20).collect();
                ids.reverse();
                ids.retain(|id| c.post(*id).is_some());
                ids
            })
            .expect("c");
        let store = tgsift_store::SqliteStore::open(&env.dir.path().join("t.db")).expect("store");
        let ch = store.find_channels(&name).expect("find").remove(0);
        assert_eq!(store.message_ids(ch.id).expect("ids"), newest20);
        let o = env
            .tgsift(&["reparse", &name, "--from-id", "1", "--to-id", "10"], &[])
            .await;
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        let o = env
            .tgsift(&["reparse", &name, "--from-id", "1", "--to-id", "10"], &[])
            .await;
        assert_eq!(o.status.code(), Some(0), "repeatable: {}", text(&o));
        let ids = store.message_ids(ch.id).expect("ids");
        let first10: Vec<i32> = env
            .sim
            .with_channel(&name, |c| {
                c.post_ids().into_iter().filter(|i| *i <= 10).collect()
            })
            .expect("c");
        assert_eq!(
            ids.len(),
            newest20.len() + first10.len(),
            "reparse added ids 1..=10 once"
        );
        let o = env.tgsift(&["channels", "audit", &name], &[]).await;
        assert_eq!(
            o.status.code(),
            Some(1),
            "a partial backfill plus a reparse leaves gaps: {}",
            text(&o)
        );
        assert!(text(&o).contains("ids never fetched"), "{}", text(&o));
    })
    .await;
}

#[tokio::test]
async fn the_demo_backfills_and_tags_its_channels_into_a_database() {
    within(120, async {
        let env = Env::new(None).await;
        let o = env
            .tgsift(&["demo", "--posts", "1500", "--out", "demo.db"], &[])
            .await;
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        let out = text(&o);
        assert!(
            out.contains("posts and tags are in demo.db")
                && out.contains("floods:")
                && out.contains("tags per channel:")
                && out.contains("top tags: "),
            "{out}"
        );
        let store =
            tgsift_store::SqliteStore::open(&env.dir.path().join("demo.db")).expect("demo.db");
        let channels = store.channels().expect("channels");
        assert_eq!(channels.len(), 3);
        for c in channels {
            assert!(c.last_message_id > 0 && c.last_error.is_none(), "{c:?}");
        }
        let stats = store.tag_stats(None).expect("stats");
        assert_eq!(
            stats.by_status.get("pending"),
            None,
            "the demo leaves nothing pending: {stats:?}"
        );
        let tagged = stats.by_status.get("success").copied().unwrap_or(0);
        assert!(
            tagged * 10 >= stats.total * 8,
            "most posts are tagged: {stats:?}"
        );
        let listed = store
            .list_posts(&tgsift_store::PostFilter {
                status: Some(tgsift_store::TaggingStatus::Success),
                limit: 20,
                ..Default::default()
            })
            .expect("posts list");
        assert_eq!(listed.len(), 20);
        assert!(
            listed.iter().all(|p| (3..=7).contains(&p.tags.len())),
            "{listed:?}"
        );
        // Issue 31, item 3: the demo's posts are years old, and `tags top` right after it shows them.
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_tgsift"))
            .args(["--db", "demo.db", "tags", "top", "--json"])
            .current_dir(env.dir.path())
            .env_remove("TGSIFT_CONFIG")
            .env_remove("RUST_LOG")
            .output()
            .expect("run tgsift");
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
        let tags = v["tags"].as_array().map_or(0, Vec::len);
        assert_eq!(tags, 20, "the default --limit: {v}");
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("no posts in the last 7 days"),
            "{}",
            text(&o)
        );
    })
    .await;
}
