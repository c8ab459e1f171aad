//! Logging an account in by QR code, as Telegram Desktop does (<https://core.telegram.org/api/qr-login>);
//! grammers 0.11 does not wrap it, so the flow is written here on its raw calls.
//!
//! 1. `auth.exportLoginToken` gives a token and its expiry; the token, base64url-encoded in a
//!    `tg://login?token=…` link, is handed to a [`QrDisplay`] to be shown as a QR code.
//! 2. The user scans it with a logged-in Telegram app (Settings → Devices → Link Desktop Device).
//!    Telegram then sends `updateLoginToken` to this connection. Without it, the token is exported
//!    again shortly before it expires, and the new code shown.
//! 3. The next `auth.exportLoginToken` answers `auth.loginTokenSuccess`, or
//!    `auth.loginTokenMigrateTo` when the account lives on another DC: that DC becomes the session's
//!    home (as grammers does for `PHONE_MIGRATE`) and `auth.importLoginToken` there finishes.
//! 4. `SESSION_PASSWORD_NEEDED` on either leads to the same 2FA step as a login by code
//!    ([`login::password_step`]).
//!
//! The token and the link are secrets (whoever has them while they are live can take the login):
//! [`LoginUrl`] never prints them in `Debug`, and nothing here logs them.

use std::time::{Duration, Instant};

use grammers_client::client::PasswordToken;
use grammers_mtsender::InvocationError;
use grammers_session::Session;
use grammers_session::types::{PeerInfo, UpdateState, UpdatesState};
use grammers_session::updates::UpdatesLike;
use grammers_tl_types as tl;

use super::client::Account;
use super::login::{self, LoginError, Prompt};

/// How long the codes are refreshed before giving up when no phone scans one.
pub(crate) const QR_WAIT: Duration = Duration::from_secs(10 * 60);
/// How long a token lives when Telegram's `expires` cannot be trusted (this machine's clock is off).
const USUAL_TTL: Duration = Duration::from_secs(30);
/// `loginTokenMigrateTo` answers followed at most (Telegram sends one).
const MAX_MIGRATIONS: u32 = 2;

/// A `tg://login?token=…` link: what the QR code encodes. A secret: its `Debug` hides it.
pub(crate) struct LoginUrl(String);

impl LoginUrl {
    fn new(token: &[u8]) -> Self {
        use base64::Engine as _;
        let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(token);
        LoginUrl(format!("tg://login?token={encoded}"))
    }

    /// The link itself, to render as a QR code (never to log or print as text).
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for LoginUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LoginUrl(<secret>)")
    }
}

/// Where login QR codes are shown.
pub(crate) trait QrDisplay {
    /// Shows code number `n` (1 first; each later one replaces the one before), valid for about
    /// `valid_for`.
    fn show(&mut self, url: &LoginUrl, n: u32, valid_for: Duration);
}

/// Who logged in by QR code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct QrLoggedIn {
    /// The Telegram user id.
    pub user_id: i64,
    /// The account's phone number as Telegram gives it (international form with `+`), if it does.
    pub phone: Option<String>,
}

/// Logs `account` in by QR code: shows codes on `display` until one is scanned (refreshing each
/// before it expires, for [`QR_WAIT`] at most), follows a migration to the account's DC, and asks
/// `prompt` for the 2FA password when the account has one. `session` is the account's session
/// (the logged-in user is cached there, as grammers' own logins do).
pub(crate) async fn login_qr<S: Session>(
    account: &Account,
    session: &S,
    api_id: i32,
    api_hash: &str,
    display: &mut dyn QrDisplay,
    prompt: &mut dyn Prompt,
) -> Result<QrLoggedIn, LoginError>
where
    S::Error: std::error::Error,
{
    let client = account.raw();
    let export = tl::functions::auth::ExportLoginToken {
        api_id,
        api_hash: api_hash.to_string(),
        except_ids: Vec::new(),
    };
    let mut updates = account.take_update_receiver();
    let give_up = Instant::now() + QR_WAIT;
    let mut shown = 0u32;
    let mut migrations = 0u32;
    let mut answer = client.invoke(&export).await;
    loop {
        let token = match answer {
            Err(e) if e.is("SESSION_PASSWORD_NEEDED") => {
                return with_password(account, prompt).await;
            }
            Err(e) => return Err(login::telegram(e)),
            Ok(token) => token,
        };
        match token {
            tl::enums::auth::LoginToken::Token(t) => {
                if Instant::now() >= give_up {
                    return Err(LoginError::NoInput(format!(
                        "no phone scanned the login QR code within {} minutes: run the command again",
                        QR_WAIT.as_secs() / 60
                    )));
                }
                shown += 1;
                let valid_for = valid_for(t.expires);
                display.show(&LoginUrl::new(&t.token), shown, valid_for);
                tracing::info!(
                    code = shown,
                    seconds = valid_for.as_secs(),
                    "QR code to log in shown; waiting for a phone to scan it"
                );
                let refresh_at = Instant::now() + refresh_after(valid_for);
                if wait_for_acceptance(&mut updates, refresh_at.min(give_up)).await {
                    tracing::info!("the QR code was scanned");
                } else {
                    tracing::debug!(code = shown, "refreshing the QR code before it expires");
                }
                answer = client.invoke(&export).await;
            }
            tl::enums::auth::LoginToken::MigrateTo(m) => {
                migrations += 1;
                if migrations > MAX_MIGRATIONS {
                    return Err(LoginError::Telegram(
                        "Telegram kept sending the QR login to another DC".into(),
                    ));
                }
                tracing::info!(
                    dc = m.dc_id,
                    "the account lives on another DC; finishing the QR login there"
                );
                account
                    .adopt_home(m.dc_id)
                    .await
                    .map_err(|e| LoginError::Telegram(format!("moving to DC {}: {e}", m.dc_id)))?;
                answer = client
                    .invoke(&tl::functions::auth::ImportLoginToken { token: m.token })
                    .await;
            }
            tl::enums::auth::LoginToken::Success(s) => {
                return match s.authorization {
                    tl::enums::auth::Authorization::Authorization(a) => {
                        complete(account, session, a).await
                    }
                    tl::enums::auth::Authorization::SignUpRequired(_) => {
                        Err(LoginError::SignUpRequired)
                    }
                };
            }
        }
    }
}

/// How long a token with unix expiry `expires` lives, by this machine's clock (Telegram's usual
/// 30 s when the clocks disagree so much that the answer makes no sense).
fn valid_for(expires: i32) -> Duration {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let left = f64::from(expires) - now;
    if left > 0.5 && left <= 600.0 {
        Duration::from_secs_f64(left)
    } else {
        USUAL_TTL
    }
}

/// When to export a new token: a little before the shown one expires (a fifth of its life, at most
/// 3 s), so the code on screen is always one that can still be scanned.
fn refresh_after(valid_for: Duration) -> Duration {
    valid_for - (valid_for / 5).min(Duration::from_secs(3))
}

/// Waits until Telegram says the token was accepted (`updateLoginToken`) or `until`; true if it
/// said so. Without the connection's updates it just waits.
async fn wait_for_acceptance(
    updates: &mut Option<tokio::sync::mpsc::Receiver<UpdatesLike>>,
    until: Instant,
) -> bool {
    let until = tokio::time::Instant::from_std(until);
    loop {
        let Some(rx) = updates.as_mut() else {
            tokio::time::sleep_until(until).await;
            return false;
        };
        match tokio::time::timeout_at(until, rx.recv()).await {
            Err(_) => return false,
            Ok(None) => *updates = None,
            Ok(Some(UpdatesLike::Updates(u))) if says_accepted(&u) => return true,
            Ok(Some(_)) => {}
        }
    }
}

/// Whether these updates carry `updateLoginToken` (Telegram sends it as an `updateShort`).
fn says_accepted(updates: &tl::enums::Updates) -> bool {
    let is_it = |u: &tl::enums::Update| matches!(u, tl::enums::Update::LoginToken);
    match updates {
        tl::enums::Updates::UpdateShort(s) => is_it(&s.update),
        tl::enums::Updates::Updates(u) => u.updates.iter().any(is_it),
        tl::enums::Updates::Combined(u) => u.updates.iter().any(is_it),
        _ => false,
    }
}

/// The 2FA step, after `SESSION_PASSWORD_NEEDED`.
async fn with_password(
    account: &Account,
    prompt: &mut dyn Prompt,
) -> Result<QrLoggedIn, LoginError> {
    tracing::info!("the account has a 2FA password");
    let client = account.raw();
    let password: tl::types::account::Password = client
        .invoke(&tl::functions::account::GetPassword {})
        .await
        .map_err(login::telegram)?
        .into();
    if password.current_algo.is_none() || password.srp_b.is_none() || password.srp_id.is_none() {
        return Err(LoginError::Telegram(
            "Telegram asked for a 2FA password but sent no password challenge".into(),
        ));
    }
    let user_id = login::password_step(client, PasswordToken::new(password), prompt).await?;
    // check_password cached the user; its phone comes with a getUsers of self.
    let phone = self_phone(client).await;
    Ok(QrLoggedIn { user_id, phone })
}

/// The logged-in user's phone number (`+` and digits), if Telegram gives it.
async fn self_phone(client: &grammers_client::Client) -> Option<String> {
    let users = client
        .invoke(&tl::functions::users::GetUsers {
            id: vec![tl::enums::InputUser::UserSelf],
        })
        .await
        .ok()?;
    users.into_iter().find_map(|u| match u {
        tl::enums::User::User(u) => u.phone.map(|p| format!("+{}", p.trim_start_matches('+'))),
        tl::enums::User::Empty(_) => None,
    })
}

/// What grammers' own logins do once authorized: caches the user as the session's self (with its
/// access hash) and the account's updates state.
async fn complete<S: Session>(
    account: &Account,
    session: &S,
    authorization: tl::types::auth::Authorization,
) -> Result<QrLoggedIn, LoginError>
where
    S::Error: std::error::Error,
{
    let tl::enums::User::User(user) = authorization.user else {
        return Err(LoginError::Telegram(
            "Telegram answered the QR login with an empty user".into(),
        ));
    };
    let client = account.raw();
    let state = client
        .invoke(&tl::functions::updates::GetState {})
        .await
        .map_err(|e: InvocationError| tracing::debug!("updates.getState after the login: {e}"))
        .ok();
    let store =
        |e: S::Error| LoginError::Telegram(format!("storing the login in the session: {e}"));
    let me = match PeerInfo::from(&user) {
        PeerInfo::User { id, auth, bot, .. } => PeerInfo::User {
            id,
            auth,
            bot,
            is_self: Some(true),
        },
        other => other,
    };
    session.cache_peer(me).await.map_err(store)?;
    if let Some(tl::enums::updates::State::State(s)) = state {
        session
            .set_update_state(UpdateState::All(UpdatesState {
                pts: s.pts,
                qts: s.qts,
                date: s.date,
                seq: s.seq,
                channels: Vec::new(),
            }))
            .await
            .map_err(store)?;
    }
    Ok(QrLoggedIn {
        user_id: user.id,
        phone: user
            .phone
            .map(|p| format!("+{}", p.trim_start_matches('+'))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_link_is_base64url_and_never_debug_printed() {
        let url = LoginUrl::new(&[0xfb, 0xff, 0x00, 0x10]);
        assert_eq!(url.expose(), "tg://login?token=-_8AEA");
        assert_eq!(format!("{url:?}"), "LoginUrl(<secret>)");
    }

    #[test]
    fn codes_are_refreshed_shortly_before_they_expire() {
        assert_eq!(
            refresh_after(Duration::from_secs(30)),
            Duration::from_secs(27)
        );
        assert_eq!(
            refresh_after(Duration::from_secs(5)),
            Duration::from_secs(4)
        );
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs() as i32;
        assert!(valid_for(now + 30) <= Duration::from_secs(30));
        assert!(valid_for(now + 30) > Duration::from_secs(28));
        assert_eq!(valid_for(now - 100), USUAL_TTL, "clocks disagree");
        assert_eq!(valid_for(now + 100_000), USUAL_TTL, "clocks disagree");
    }

    /// Records the codes shown.
    #[derive(Clone, Default)]
    struct Shown(std::sync::Arc<std::sync::Mutex<Vec<(u32, String)>>>);

    impl QrDisplay for Shown {
        fn show(&mut self, url: &LoginUrl, n: u32, _: Duration) {
            let mut shown = self.0.lock().unwrap_or_else(|p| p.into_inner());
            shown.push((n, url.expose().to_string()));
        }
    }

    fn client(
        path: &std::path::Path,
    ) -> (
        Account,
        std::sync::Arc<crate::telegram::session::SqliteSession>,
    ) {
        let loaded = crate::config::Loaded::load(&crate::config::LoadOptions::default())
            .expect("built-in configuration");
        let session = std::sync::Arc::new(
            crate::telegram::session::SqliteSession::open(path).expect("session file"),
        );
        let policy = crate::telegram::client::Policy::from(&loaded.config.telegram);
        let account = Account::new(
            "qr",
            std::sync::Arc::clone(&session),
            12345,
            policy,
            tokio_util::sync::CancellationToken::new(),
        );
        (account, session)
    }

    /// The account lives on DC 4 and has a 2FA password: the scanned code sends the login there,
    /// a wrong password is asked again, the right one logs in, and the session works afterwards.
    #[tokio::test]
    async fn a_scanned_code_migrates_and_asks_the_password_again_after_a_wrong_one() {
        use crate::telegram::session::SimSessions;
        let run = async {
            let mut config = tgsift_sim::SimConfig::generated(5, 1, 10);
            config.accounts[0].password = Some("right horse battery".into());
            let sim = tgsift_sim::Sim::start(config).await.expect("sim");
            sim.move_account(0, 4);
            let dir = tempfile::tempdir().expect("tempdir");
            let path = dir.path().join("qr.session");
            sim.write_session(&path, 0, false).expect("session");
            let (account, session) = client(&path);
            let shown = Shown::default();
            let mut display = shown.clone();
            let mut prompt = login::Scripted {
                codes: vec![],
                passwords: vec!["wrong".into(), "right horse battery".into()],
            };
            let phone = async {
                while sim.log().count("auth.exportLoginToken") == 0 {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                sim.accept_login_token(0)
            };
            let (done, accepted) = tokio::join!(
                login_qr(
                    &account,
                    &*session,
                    12345,
                    "0123456789abcdef0123456789abcdef",
                    &mut display,
                    &mut prompt,
                ),
                phone
            );
            accepted.expect("the phone accepts the code");
            let me = sim.accounts()[0].clone();
            assert_eq!(
                done.expect("logged in"),
                QrLoggedIn {
                    user_id: me.user_id,
                    phone: Some(me.phone.clone()),
                }
            );
            assert!(prompt.passwords.is_empty(), "both passwords were asked for");
            assert_eq!(sim.log().count("auth.importLoginToken"), 1);
            assert_eq!(sim.log().count("auth.checkPassword"), 2);
            let shown = shown.0.lock().expect("lock").clone();
            assert_eq!(shown.len(), 1);
            let token = &sim.login_tokens()[0];
            assert_eq!(shown[0].1, LoginUrl::new(token).expose());
            drop(account);

            // A new process on the stored session: home is DC 4, the login holds, it is that user.
            let (again, session) = client(&path);
            assert_eq!(session.home_dc_id().expect("home"), 4);
            assert_eq!(session.self_user().map(|u| u.id), Some(me.user_id));
            let users = again
                .invoke(&tl::functions::users::GetUsers {
                    id: vec![tl::enums::InputUser::UserSelf],
                })
                .await
                .expect("a call as the logged-in user");
            let ids: Vec<i64> = users
                .iter()
                .filter_map(|u| match u {
                    tl::enums::User::User(u) => Some(u.id),
                    tl::enums::User::Empty(_) => None,
                })
                .collect();
            assert_eq!(ids, vec![me.user_id]);
        };
        tokio::time::timeout(Duration::from_secs(60), run)
            .await
            .expect("within 60 s");
    }

    #[test]
    fn update_login_token_is_recognised_in_any_envelope() {
        let short = tl::enums::Updates::UpdateShort(tl::types::UpdateShort {
            update: tl::enums::Update::LoginToken,
            date: 1,
        });
        assert!(says_accepted(&short));
        assert!(!says_accepted(&tl::enums::Updates::TooLong));
    }
}
