//! Login by QR code, as Telegram runs it (<https://core.telegram.org/api/qr-login>).
//!
//! 1. The new client calls `auth.exportLoginToken` and gets `auth.loginToken{expires, token}`: a
//!    token bound to its auth key, live for [`DEFAULT_LOGIN_TOKEN_TTL`] (settable), that it shows as
//!    a `tg://login?token=…` QR code. Each new export replaces the key's token that is still waiting.
//! 2. "The phone" (a logged-in app) accepts the token: [`crate::Sim::accept_login_token`], or the
//!    auto-accept `sim serve --qr-auto-accept` sets. A token that expired first cannot be accepted.
//! 3. The exporting connection gets `updateLoginToken` in an `updateShort` (lost if it has closed).
//! 4. The client's next `auth.exportLoginToken` answers `auth.loginTokenSuccess` when the account
//!    lives on this DC, or `auth.loginTokenMigrateTo{dc_id, token}` when it lives on another; then
//!    `auth.importLoginToken` on that DC answers `auth.loginTokenSuccess`. Either answers
//!    `401 SESSION_PASSWORD_NEEDED` instead when the account has a 2FA password, and the login ends
//!    with `account.getPassword` and `auth.checkPassword` as after a login code.
//!
//! `auth.importLoginToken` refuses a token that expired before it was accepted
//! (`AUTH_TOKEN_EXPIRED`), one used already (`AUTH_TOKEN_ALREADY_ACCEPTED`) and any other
//! (`AUTH_TOKEN_INVALID`). Tokens are secrets: nothing here logs them.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use grammers_tl_types as tl;
use tl::Serializable;
use tokio::sync::mpsc;

use super::hub::{ConnId, Hub};

/// How long an exported login token lives, as on Telegram ("usually 30 seconds").
pub const DEFAULT_LOGIN_TOKEN_TTL: Duration = Duration::from_secs(30);

/// Why "the phone" could not accept a login token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AcceptError {
    /// No client has exported a token (or the newest was accepted already).
    #[error("no login token is waiting to be accepted")]
    NoToken,
    /// The newest token expired before it was accepted (`AUTH_TOKEN_EXPIRED`).
    #[error("the newest login token has expired")]
    Expired,
    /// The simulator has no such account.
    #[error("no such account")]
    NoAccount,
}

/// What a token is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Exported by a client to be shown as a QR code.
    Export,
    /// Handed out with `loginTokenMigrateTo`: good once, for this account on this DC.
    Migrate { account: usize, dc: i32 },
}

/// Where a token stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// Waiting for the phone (an export token) or for `importLoginToken` (a migrate token).
    Waiting,
    /// Accepted by the phone as this account; the exporting key's next export finishes the login.
    Accepted(usize),
    /// Used: the login it gave went on (success, migration or the 2FA step).
    Used,
    /// Replaced by a newer export of its key before it was accepted.
    Replaced,
}

struct Token {
    bytes: Vec<u8>,
    kind: Kind,
    /// The auth key that exported it and the connection it was exported on (gets the update).
    key_id: i64,
    conn: ConnId,
    expires_at: Instant,
    stage: Stage,
}

impl Token {
    fn expired(&self, now: Instant) -> bool {
        now >= self.expires_at
    }
}

/// What the key's `auth.exportLoginToken` (or an `auth.importLoginToken`) leads to.
pub(crate) enum Next {
    /// Show this token (unix `expires`).
    Show { token: Vec<u8>, expires: i32 },
    /// The account's login goes on here (success, or the 2FA step).
    LogIn(usize),
    /// The account lives on another DC: import this token there.
    Migrate { dc: i32, token: Vec<u8> },
    /// Refused with this `400` error.
    Refused(&'static str),
}

/// Every login token the simulator handed out, the lifetime of new ones and the auto-accept.
pub(crate) struct LoginTokens {
    tokens: Mutex<Vec<Token>>,
    ttl: Mutex<Duration>,
    /// `(after, account)`: every exported token is accepted `after` its export, as `account`.
    auto: Mutex<Option<(Duration, usize)>>,
    /// Where exports are announced to the auto-accepter (see [`crate::Sim::start`]).
    auto_tx: mpsc::UnboundedSender<(Vec<u8>, Instant, usize)>,
}

/// Tokens kept at most (the oldest used or expired ones go first).
const KEEP: usize = 256;

impl LoginTokens {
    /// No tokens yet; exports to auto-accept are sent to `auto_tx`.
    pub(crate) fn new(auto_tx: mpsc::UnboundedSender<(Vec<u8>, Instant, usize)>) -> Self {
        LoginTokens {
            tokens: Mutex::new(Vec::new()),
            ttl: Mutex::new(DEFAULT_LOGIN_TOKEN_TTL),
            auto: Mutex::new(None),
            auto_tx,
        }
    }

    pub(crate) fn set_ttl(&self, ttl: Duration) {
        *lock(&self.ttl) = ttl.max(Duration::from_millis(100));
    }

    pub(crate) fn set_auto_accept(&self, auto: Option<(Duration, usize)>) {
        *lock(&self.auto) = auto;
    }

    fn new_token(&self, tokens: &mut Vec<Token>, kind: Kind, key_id: i64, conn: ConnId) -> Next {
        let ttl = *lock(&self.ttl);
        let bytes: Vec<u8> = (0..32).map(|_| rand::random::<u8>()).collect();
        let now = Instant::now();
        if tokens.len() >= KEEP {
            tokens.retain(|t| match t.stage {
                Stage::Waiting => !t.expired(now),
                Stage::Accepted(_) => true,
                Stage::Used | Stage::Replaced => false,
            });
            let excess = tokens.len().saturating_sub(KEEP - 1);
            tokens.drain(..excess);
        }
        tokens.push(Token {
            bytes: bytes.clone(),
            kind,
            key_id,
            conn,
            expires_at: now + ttl,
            stage: Stage::Waiting,
        });
        let expires = super::shared::unix_now()
            .saturating_add(i32::try_from(ttl.as_millis().div_ceil(1000)).unwrap_or(i32::MAX));
        match kind {
            Kind::Export => {
                if let Some((after, account)) = *lock(&self.auto) {
                    let _ = self.auto_tx.send((bytes.clone(), now + after, account));
                }
                Next::Show {
                    token: bytes,
                    expires,
                }
            }
            Kind::Migrate { dc, .. } => Next::Migrate { dc, token: bytes },
        }
    }

    /// `auth.exportLoginToken` by key `key_id` on connection `conn` of DC `dc`; `home_of` gives an
    /// account's home DC.
    pub(crate) fn export(
        &self,
        key_id: i64,
        conn: ConnId,
        dc: i32,
        home_of: impl Fn(usize) -> i32,
    ) -> Next {
        let mut tokens = lock(&self.tokens);
        let accepted = tokens.iter_mut().rev().find(|t| {
            t.key_id == key_id && t.kind == Kind::Export && matches!(t.stage, Stage::Accepted(_))
        });
        if let Some(t) = accepted {
            let Stage::Accepted(account) = t.stage else {
                unreachable!("matched above")
            };
            t.stage = Stage::Used;
            return self.finish(&mut tokens, account, key_id, conn, dc, home_of);
        }
        // A new token replaces the ones this key still has waiting (the QR code shown changes).
        for t in tokens.iter_mut() {
            if t.key_id == key_id && t.kind == Kind::Export && t.stage == Stage::Waiting {
                t.stage = Stage::Replaced;
            }
        }
        self.new_token(&mut tokens, Kind::Export, key_id, conn)
    }

    fn finish(
        &self,
        tokens: &mut Vec<Token>,
        account: usize,
        key_id: i64,
        conn: ConnId,
        dc: i32,
        home_of: impl Fn(usize) -> i32,
    ) -> Next {
        let home = home_of(account);
        if home == dc {
            return Next::LogIn(account);
        }
        self.new_token(tokens, Kind::Migrate { account, dc: home }, key_id, conn)
    }

    /// `auth.importLoginToken` of `token` by key `key_id` on connection `conn` of DC `dc`.
    pub(crate) fn import(
        &self,
        token: &[u8],
        key_id: i64,
        conn: ConnId,
        dc: i32,
        home_of: impl Fn(usize) -> i32,
    ) -> Next {
        let mut tokens = lock(&self.tokens);
        let now = Instant::now();
        let Some(t) = tokens.iter_mut().find(|t| t.bytes == token) else {
            return Next::Refused("AUTH_TOKEN_INVALID");
        };
        match (t.kind, t.stage) {
            (_, Stage::Used) => Next::Refused("AUTH_TOKEN_ALREADY_ACCEPTED"),
            (_, Stage::Replaced) => Next::Refused("AUTH_TOKEN_EXPIRED"),
            (_, Stage::Waiting) if t.expired(now) => Next::Refused("AUTH_TOKEN_EXPIRED"),
            (Kind::Migrate { account, dc: on }, Stage::Waiting) => {
                if on != dc {
                    return Next::Refused("AUTH_TOKEN_INVALID");
                }
                t.stage = Stage::Used;
                Next::LogIn(account)
            }
            // Not accepted yet: still the token to show.
            (Kind::Export, Stage::Waiting) => Next::Show {
                token: t.bytes.clone(),
                expires: super::shared::unix_now().saturating_add(
                    i32::try_from(t.expires_at.saturating_duration_since(now).as_secs())
                        .unwrap_or(0),
                ),
            },
            (_, Stage::Accepted(account)) => {
                t.stage = Stage::Used;
                self.finish(&mut tokens, account, key_id, conn, dc, home_of)
            }
        }
    }

    /// Every token still kept (exported, replaced, used and migration ones), oldest first.
    pub(crate) fn all(&self) -> Vec<Vec<u8>> {
        lock(&self.tokens).iter().map(|t| t.bytes.clone()).collect()
    }

    /// The phone accepts the newest exported token as `account`; returns the connection to tell
    /// (`updateLoginToken`).
    pub(crate) fn accept_newest(&self, account: usize) -> Result<ConnId, AcceptError> {
        let mut tokens = lock(&self.tokens);
        let now = Instant::now();
        let newest = tokens
            .iter_mut()
            .rev()
            .find(|t| t.kind == Kind::Export && t.stage == Stage::Waiting)
            .ok_or(AcceptError::NoToken)?;
        if newest.expired(now) {
            return Err(AcceptError::Expired);
        }
        newest.stage = Stage::Accepted(account);
        Ok(newest.conn)
    }

    /// The phone accepts this exported token as `account` (the auto-accept); the connection to tell.
    pub(crate) fn accept(&self, token: &[u8], account: usize) -> Result<ConnId, AcceptError> {
        let mut tokens = lock(&self.tokens);
        let t = tokens
            .iter_mut()
            .find(|t| t.bytes == token && t.kind == Kind::Export && t.stage == Stage::Waiting)
            .ok_or(AcceptError::NoToken)?;
        if t.expired(Instant::now()) {
            return Err(AcceptError::Expired);
        }
        t.stage = Stage::Accepted(account);
        Ok(t.conn)
    }
}

/// `updateShort{updateLoginToken}`, as Telegram tells the exporting session that its token was
/// accepted; false if that connection is gone.
pub(crate) fn tell_accepted(hub: &Hub, conn: ConnId, date: i32) -> bool {
    let body = tl::enums::Updates::UpdateShort(tl::types::UpdateShort {
        update: tl::enums::Update::LoginToken,
        date,
    })
    .to_bytes();
    hub.send_to(conn, body)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> LoginTokens {
        LoginTokens::new(mpsc::unbounded_channel().0)
    }

    fn shown(next: Next) -> Vec<u8> {
        match next {
            Next::Show { token, .. } => token,
            _ => panic!("expected a token to show"),
        }
    }

    #[test]
    fn an_accepted_token_logs_in_on_the_home_dc_or_migrates_once() {
        let t = tokens();
        let home = |_| 2;
        let first = shown(t.export(7, 1, 2, home));
        // A second export before acceptance replaces the token.
        let second = shown(t.export(7, 1, 2, home));
        assert_ne!(first, second);
        assert_eq!(t.accept(&first, 0), Err(AcceptError::NoToken), "replaced");
        assert_eq!(t.accept_newest(0), Ok(1));
        assert_eq!(t.accept_newest(0), Err(AcceptError::NoToken));
        assert!(matches!(t.export(7, 1, 2, home), Next::LogIn(0)));
        assert!(matches!(
            t.import(&second, 7, 1, 2, home),
            Next::Refused("AUTH_TOKEN_ALREADY_ACCEPTED")
        ));

        // Living on DC 4: the export answers a migration, whose token is good once, there only.
        let token = shown(t.export(8, 2, 2, |_| 4));
        assert_eq!(t.accept(&token, 1), Ok(2));
        let Next::Migrate { dc: 4, token } = t.export(8, 2, 2, |_| 4) else {
            panic!("expected a migration to DC 4")
        };
        assert!(matches!(
            t.import(&token, 8, 3, 3, |_| 4),
            Next::Refused("AUTH_TOKEN_INVALID")
        ));
        assert!(matches!(t.import(&token, 8, 3, 4, |_| 4), Next::LogIn(1)));
        assert!(matches!(
            t.import(&token, 8, 3, 4, |_| 4),
            Next::Refused("AUTH_TOKEN_ALREADY_ACCEPTED")
        ));
        assert!(matches!(
            t.import(b"made up", 8, 3, 4, |_| 4),
            Next::Refused("AUTH_TOKEN_INVALID")
        ));
    }

    #[test]
    fn an_expired_token_is_neither_accepted_nor_imported() {
        let t = tokens();
        t.set_ttl(Duration::from_millis(100));
        let token = shown(t.export(7, 1, 2, |_| 2));
        assert!(matches!(
            t.import(&token, 7, 1, 2, |_| 2),
            Next::Show { .. }
        ));
        std::thread::sleep(Duration::from_millis(150));
        assert_eq!(t.accept_newest(0), Err(AcceptError::Expired));
        assert!(matches!(
            t.import(&token, 7, 1, 2, |_| 2),
            Next::Refused("AUTH_TOKEN_EXPIRED")
        ));
        // The client refreshes: the new token can be accepted.
        let fresh = shown(t.export(7, 1, 2, |_| 2));
        assert_ne!(fresh, token);
        assert_eq!(t.accept_newest(0), Ok(1));
    }
}
