//! Accounts: logging one in, importing a session, removing one (logging it out first if asked).
//!
//! Where a session lives follows the database: a file under `storage.sessions_dir` beside SQLite,
//! rows in PostgreSQL with the auth keys sealed by `TGSIFT_SESSION_KEY`. Whichever it is, one login
//! belongs to one account: a second name on the same phone, Telegram user or auth key is refused,
//! since two clients on one key is how Telegram comes to revoke it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use grammers_session::{Session, SessionData};
use grammers_tl_types::functions::auth::LogOut;
use tgsift_store::{AccountRow, AccountState, ClientIdentity, Location, PgStore};
use tokio_util::sync::CancellationToken;

use super::{Ops, OpsError};
use crate::config::Config;
use crate::telegram::client::{Account, Policy};
use crate::telegram::error::TgError;
use crate::telegram::login::{self, Prompt, mask_phone};
use crate::telegram::qr_login::{self, QrDisplay};
use crate::telegram::session::{PgSession, SessionError, SessionKey, SqliteSession};
use crate::telegram::session_lock::SessionLock;

/// Why a PostgreSQL account is disabled while `account add` logs it in: workers claim only enabled
/// accounts, so none uses the half-made session meanwhile.
const LOGGING_IN: &str = "being logged in by `tgsift account add`";

/// An account name tgsift accepts: it names the session file, so 1–64 letters, digits, `_` or `-`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct AccountName(String);

impl AccountName {
    /// Checks a name given for a new account.
    pub(crate) fn new(name: &str) -> Result<Self, OpsError> {
        let ok = !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if ok {
            Ok(AccountName(name.to_string()))
        } else {
            Err(OpsError::Invalid(format!(
                "account name `{name}` is not allowed: use 1–64 letters, digits, `_` or `-`"
            )))
        }
    }

    /// The name.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

/// An `account add` request, checked before the database is opened (the name, the API credentials
/// and, for PostgreSQL, the session key), so a request that cannot work changes nothing.
pub(crate) struct NewLogin {
    name: AccountName,
    with: LoginWith,
    api_id: i32,
    api_hash: String,
    key: Option<SessionKey>,
}

/// How an account proves it is its owner's.
pub(crate) enum LoginWith {
    /// A login code Telegram sends to the app logged in with this phone number (or by SMS).
    Code {
        /// The phone number, international form.
        phone: String,
    },
    /// A QR code, shown on this display, scanned by an app already logged in.
    Qr(Box<dyn QrDisplay + Send>),
}

impl NewLogin {
    /// The phone number given for a login by code (a QR login learns it from Telegram).
    fn phone(&self) -> Option<&str> {
        match &self.with {
            LoginWith::Code { phone } => Some(phone),
            LoginWith::Qr(_) => None,
        }
    }

    /// Checks a request to log `name` in with `phone` against the configuration.
    pub(crate) fn new(config: &Config, name: &str, phone: &str) -> Result<Self, OpsError> {
        let phone = phone_number(phone)?;
        Self::with(config, name, LoginWith::Code { phone })
    }

    /// Checks a request to log `name` in by a QR code shown on `display`.
    pub(crate) fn qr(
        config: &Config,
        name: &str,
        display: Box<dyn QrDisplay + Send>,
    ) -> Result<Self, OpsError> {
        Self::with(config, name, LoginWith::Qr(display))
    }

    fn with(config: &Config, name: &str, with: LoginWith) -> Result<Self, OpsError> {
        let name = AccountName::new(name)?;
        let (api_id, api_hash) = config.telegram.credentials().map_err(other)?;
        let key = match Location::of(&config.storage.database).is_postgres() {
            true => Some(session_key()?),
            false => None,
        };
        Ok(NewLogin {
            name,
            with,
            api_id,
            api_hash,
            key,
        })
    }
}

/// A phone number in international format (`+` and 7 to 15 digits; spaces, dashes, dots and
/// parentheses allowed and dropped), checked here so a typo is not sent to Telegram as a login.
fn phone_number(phone: &str) -> Result<String, OpsError> {
    let bare = phone.trim();
    let digits: String = bare
        .trim_start_matches('+')
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
        .collect();
    if digits.chars().all(|c| c.is_ascii_digit()) && (7..=15).contains(&digits.len()) {
        return Ok(format!("+{digits}"));
    }
    Err(OpsError::Invalid(format!(
        "--phone `{bare}` is not a phone number: give it in international format with the country \
         code, e.g. +15551230100"
    )))
}

/// Where an account's session was written.
pub(crate) enum SessionHome {
    /// A session file (SQLite installations).
    File(PathBuf),
    /// The PostgreSQL database, as messages name it (`user@host:port/database`).
    Postgres(String),
}

/// What `account add` did: the Telegram user logged in, and where its session is.
pub(crate) struct LoggedIn {
    /// The Telegram user id.
    pub user_id: i64,
    /// Where the session is.
    pub session: SessionHome,
}

/// What `account import` did: whose the session is (when it says) and where it now is.
pub(crate) struct Imported {
    /// The Telegram user id, when the session knows it (a Telethon string does not).
    pub user_id: Option<i64>,
    /// Where the session is.
    pub session: SessionHome,
}

/// An account `account remove` is about to forget: checked, and on SQLite its session lease held,
/// so no process uses the session while it is logged out and deleted.
pub(crate) struct Removal {
    row: AccountRow,
    lease: Option<SessionLock>,
}

/// Where the accounts' sessions are, for reading another account's auth key.
#[derive(Clone, Copy)]
enum Sessions<'a> {
    /// Session files (SQLite).
    Files,
    /// Rows in PostgreSQL, auth keys sealed with the key.
    Sealed(&'a PgStore, &'a SessionKey),
}

impl Sessions<'_> {
    /// The home auth key of `account`'s session, if it has one that can be read.
    async fn auth_key(self, account: &AccountRow) -> Option<[u8; 256]> {
        match self {
            Sessions::Files => {
                let path = account.session_path.clone();
                blocking("read a session file", move || {
                    Ok(SqliteSession::open(&path).ok().and_then(|s| s.auth_key()))
                })
                .await
                .ok()
                .flatten()
            }
            Sessions::Sealed(pg, key) => PgSession::open(pg, account.id, key.clone(), None)
                .await
                .ok()
                .and_then(|s| s.auth_key()),
        }
    }
}

impl Ops {
    /// Logs an account in at Telegram (a new one, or an added one not logged in yet), asking `prompt`
    /// for the code and 2FA password; `prompt` is made once the session is ready.
    pub(crate) async fn add_account<P: Prompt>(
        &self,
        request: NewLogin,
        prompt: impl FnOnce() -> anyhow::Result<P>,
    ) -> Result<LoggedIn, OpsError> {
        match self.store.as_postgres() {
            Some(pg) => {
                let key = match &request.key {
                    Some(key) => key.clone(),
                    None => session_key()?,
                };
                self.add_sealed(pg.store(), key, request, prompt).await
            }
            None => self.add_file(request, prompt).await,
        }
    }

    /// `account add` with a session file, held under its lease while the login runs.
    async fn add_file<P: Prompt>(
        &self,
        request: NewLogin,
        prompt: impl FnOnce() -> anyhow::Result<P>,
    ) -> Result<LoggedIn, OpsError> {
        let account_name = request.name.clone();
        let name = account_name.as_str();
        let path = self.session_path(name)?;
        self.refuse_duplicate(name, None, None, request.phone(), Sessions::Files)
            .await?;
        let existing = self.find_account(name).await?;
        let session = {
            let path = path.clone();
            blocking("open the session file", move || {
                if path.exists() {
                    return Ok(SqliteSession::open(&path)?);
                }
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)
                        .with_context(|| format!("creating sessions folder {}", dir.display()))?;
                }
                Ok(SqliteSession::create(&path)?)
            })
            .await?
        };
        if existing.is_some() && session.self_user().is_some() {
            return Err(already_logged_in(name));
        }
        let _lease = SessionLock::acquire(name, &path).map_err(other)?;
        let identity = self.identity_of(existing.as_ref());
        let fixed = identity.clone();
        let session = Arc::new(session);
        let (account, cancel) = self.client(name, Arc::clone(&session), request.api_id, identity);
        let (user_id, phone) = match log_in(&account, &*session, request, prompt).await {
            Ok(done) => done,
            Err(e) => {
                cancel.cancel();
                return Err(e);
            }
        };
        if let Err(dup) = self
            .refuse_duplicate(name, None, Some(user_id), phone.as_deref(), Sessions::Files)
            .await
        {
            // Undo the login just made: the authorization is logged out and the new file removed.
            let _ = account.invoke(&LogOut {}).await;
            cancel.cancel();
            if existing.is_none() {
                drop(account);
                remove_file(&path)?;
            }
            return Err(dup);
        }
        cancel.cancel();
        let (n, file) = (name.to_string(), path.clone());
        self.store
            .with("record the account", move |s| {
                let id = match existing {
                    Some(row) => {
                        s.set_account_user(&n, user_id, phone.as_deref())?;
                        row.id
                    }
                    None => {
                        s.add_account(&n, phone.as_deref(), Some(user_id), &file)?
                            .id
                    }
                };
                s.set_account_identity(id, &fixed)
            })
            .await?;
        Ok(LoggedIn {
            user_id,
            session: SessionHome::File(path),
        })
    }

    /// `account add` on PostgreSQL: the session is written to the database, its auth key sealed
    /// with `key`; the account stays disabled until the login is through.
    async fn add_sealed<P: Prompt>(
        &self,
        pg: &PgStore,
        key: SessionKey,
        request: NewLogin,
        prompt: impl FnOnce() -> anyhow::Result<P>,
    ) -> Result<LoggedIn, OpsError> {
        let account_name = request.name.clone();
        let name = account_name.as_str();
        let sessions = Sessions::Sealed(pg, &key);
        self.refuse_duplicate(name, None, None, request.phone(), sessions)
            .await?;
        let existing = self.find_account(name).await?;
        let row = match &existing {
            Some(row) => {
                let stored = self
                    .store
                    .read("read the stored sessions", |s| s.stored_sessions())
                    .await?
                    .unwrap_or_default();
                if stored
                    .iter()
                    .any(|s| s.account_id == row.id && s.knows_user)
                {
                    return Err(already_logged_in(name));
                }
                row.clone()
            }
            None => {
                let (n, phone) = (name.to_string(), request.phone().map(str::to_string));
                self.store
                    .with("add the account", move |s| {
                        s.add_account(&n, phone.as_deref(), None, Path::new(""))
                    })
                    .await?
            }
        };
        let id = row.id;
        let identity = self.identity_of(Some(&row));
        let fixed = identity.clone();
        self.store
            .with("disable the account while it logs in", move |s| {
                s.set_account_identity(id, &fixed)?;
                s.set_account_state(id, AccountState::LoggedOut, Some(LOGGING_IN))
            })
            .await?;
        // Puts the account back as it was: a new one is removed (its session with it).
        let undo = async || -> Result<(), OpsError> {
            let (n, before) = (name.to_string(), existing.clone());
            self.store
                .with("put the account back", move |s| match before {
                    None => s.remove_account(&n).map(drop),
                    Some(before) => {
                        s.set_account_state(id, before.state, before.disabled_reason.as_deref())
                    }
                })
                .await?;
            Ok(())
        };
        let logged_in = async {
            let session = match PgSession::open(pg, id, key.clone(), None).await {
                Ok(session) => session,
                Err(SessionError::NoSession { .. }) => {
                    // As on SQLite, a session file at the account's usual path (such as `tgsift sim
                    // serve --session-out` writes) is where the login starts; else a new session.
                    let path = self.session_path(name)?;
                    let start = blocking("read the session file", move || {
                        Ok(match path.exists() {
                            true => SqliteSession::open(&path)?.export_data()?,
                            false => SessionData::default(),
                        })
                    })
                    .await?;
                    PgSession::import_data(pg, id, key.clone(), None, &start)
                        .await
                        .map_err(other)?
                }
                Err(e) => return Err(other(e)),
            };
            let session = Arc::new(session);
            let (account, cancel) =
                self.client(name, Arc::clone(&session), request.api_id, identity);
            match log_in(&account, &*session, request, prompt).await {
                Ok((user_id, phone)) => Ok((user_id, phone, account, cancel)),
                Err(e) => {
                    cancel.cancel();
                    Err(e)
                }
            }
        }
        .await;
        let (user_id, phone, account, cancel) = match logged_in {
            Ok(done) => done,
            Err(e) => {
                undo().await?;
                return Err(e);
            }
        };
        if let Err(dup) = self
            .refuse_duplicate(name, None, Some(user_id), phone.as_deref(), sessions)
            .await
        {
            // Undo the login just made: the authorization is logged out and the account put back.
            let _ = account.invoke(&LogOut {}).await;
            cancel.cancel();
            undo().await?;
            return Err(dup);
        }
        cancel.cancel();
        drop(account);
        // Also enables the account again: workers may claim it from now on.
        let n = name.to_string();
        self.store
            .with("record the account's user", move |s| {
                s.set_account_user(&n, user_id, phone.as_deref())
            })
            .await?;
        Ok(LoggedIn {
            user_id,
            session: SessionHome::Postgres(pg.target().to_string()),
        })
    }

    /// Adopts an existing session as account `name`; `data` gives the session once the name is known
    /// to be free (it may read standard input).
    pub(crate) async fn import_account(
        &self,
        name: &AccountName,
        data: impl FnOnce() -> anyhow::Result<SessionData>,
    ) -> Result<Imported, OpsError> {
        let name = name.as_str();
        if self.find_account(name).await?.is_some() {
            return Err(OpsError::Conflict(format!(
                "account {name} exists already: remove it first or pick another name"
            )));
        }
        let data = data()?;
        if let Some(pg) = self.store.as_postgres() {
            return self.import_sealed(pg.store(), name, &data).await;
        }
        let path = self.session_path(name)?;
        let home_key = data
            .dc_options
            .get(&data.home_dc)
            .and_then(|o| o.auth_key.as_ref());
        self.refuse_duplicate(name, home_key, None, None, Sessions::Files)
            .await?;
        let (session, user) = {
            let path = path.clone();
            blocking("write the session file", move || {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)
                        .with_context(|| format!("creating sessions folder {}", dir.display()))?;
                }
                let session = SqliteSession::import_data(&path, &data)?;
                let user = session.self_user().map(|u| u.id);
                Ok((session, user))
            })
            .await?
        };
        if let Err(dup) = self
            .refuse_duplicate(name, None, user, None, Sessions::Files)
            .await
        {
            drop(session);
            remove_file(&path)?;
            return Err(dup);
        }
        let (n, file) = (name.to_string(), path.clone());
        let identity = self.identity_of(None);
        self.store
            .with("add the account", move |s| {
                let row = s.add_account(&n, None, user, &file)?;
                s.set_account_identity(row.id, &identity)
            })
            .await?;
        Ok(Imported {
            user_id: user,
            session: SessionHome::File(path),
        })
    }

    /// `account import` on PostgreSQL: the session goes into the database, sealed with
    /// `TGSIFT_SESSION_KEY`.
    async fn import_sealed(
        &self,
        pg: &PgStore,
        name: &str,
        data: &SessionData,
    ) -> Result<Imported, OpsError> {
        let key = session_key()?;
        let sessions = Sessions::Sealed(pg, &key);
        let home_key = data
            .dc_options
            .get(&data.home_dc)
            .and_then(|o| o.auth_key.as_ref());
        self.refuse_duplicate(name, home_key, None, None, sessions)
            .await?;
        let n = name.to_string();
        let identity = self.identity_of(None);
        let row = self
            .store
            .with("add the account", move |s| {
                let row = s.add_account(&n, None, None, Path::new(""))?;
                s.set_account_identity(row.id, &identity)?;
                Ok(row)
            })
            .await?;
        let forget = async || -> Result<(), OpsError> {
            let n = name.to_string();
            self.store
                .with("remove the account", move |s| {
                    s.remove_account(&n).map(drop)
                })
                .await?;
            Ok(())
        };
        let session = match PgSession::import_data(pg, row.id, key.clone(), None, data).await {
            Ok(session) => session,
            Err(e) => {
                forget().await?;
                return Err(other(e));
            }
        };
        let user = session.self_user().map(|u| u.id);
        drop(session);
        if let Err(dup) = self
            .refuse_duplicate(name, None, user, None, sessions)
            .await
        {
            forget().await?;
            return Err(dup);
        }
        if let Some(user) = user {
            let n = name.to_string();
            self.store
                .with("record the account's user", move |s| {
                    s.set_account_user(&n, user, None)
                })
                .await?;
        }
        Ok(Imported {
            user_id: user,
            session: SessionHome::Postgres(pg.target().to_string()),
        })
    }

    /// Starts `account remove`: the account must exist, and its channels' posts may go only with
    /// `purge`. On SQLite the session's lease is taken (and held until [`Ops::remove_account`]).
    pub(crate) async fn start_removal(&self, name: &str, purge: bool) -> Result<Removal, OpsError> {
        let row = self.account(name).await?;
        let id = row.id;
        let channels = self
            .store
            .read("count the account's channels", move |s| {
                s.account_channel_count(id)
            })
            .await?;
        if channels > 0 && !purge {
            return Err(OpsError::Conflict(format!(
                "account {name} follows {channels} channel(s) whose posts would be deleted: remove them first or pass --purge"
            )));
        }
        let lease = match self.store.as_postgres() {
            Some(_) => None,
            None => Some(SessionLock::acquire(name, &row.session_path).map_err(other)?),
        };
        Ok(Removal { row, lease })
    }

    /// Logs the account of a removal out at Telegram; a session already logged out counts as done.
    /// On PostgreSQL it is refused while a worker serves the account: a session must not be used
    /// from two places at once.
    pub(crate) async fn log_out(&self, removal: &Removal) -> Result<(), OpsError> {
        let row = &removal.row;
        let name = row.name.as_str();
        let out = match self.store.as_postgres() {
            None => {
                let (api_id, _) = self.config.telegram.credentials().map_err(other)?;
                let path = row.session_path.clone();
                let session = blocking("open the session file", move || {
                    Ok(SqliteSession::open(&path)?)
                })
                .await?;
                self.invoke_log_out(row, session, api_id).await
            }
            Some(pg) => {
                let stored = self
                    .store
                    .read("read the stored sessions", |s| s.stored_sessions())
                    .await?
                    .unwrap_or_default();
                if let Some(holder) = stored
                    .iter()
                    .find(|s| s.account_id == row.id)
                    .and_then(|s| s.lease.as_deref())
                {
                    return Err(OpsError::Conflict(format!(
                        "account {name} is served by {holder}: it cannot log out while a worker uses its session; \
                         remove it without --logout (the worker lets go), or log out once no worker holds it (nothing was removed)"
                    )));
                }
                let (api_id, _) = self.config.telegram.credentials().map_err(other)?;
                let key = session_key()?;
                let session = PgSession::open(pg.store(), row.id, key, None)
                    .await
                    .map_err(other)?;
                self.invoke_log_out(row, session, api_id).await
            }
        };
        match out {
            Ok(()) | Err(TgError::AccountStopped { .. }) => Ok(()),
            Err(e) => Err(OpsError::Other(
                anyhow::Error::new(e).context("logging out (nothing was removed)"),
            )),
        }
    }

    /// Ends `account remove`: the account's row goes (with its channels and posts, by cascade), and
    /// on SQLite its session file and lease file. A PostgreSQL worker serving it lets go at its next
    /// lease renewal or write (the lease row goes with the account).
    pub(crate) async fn remove_account(&self, removal: Removal) -> Result<(), OpsError> {
        let Removal { row, lease } = removal;
        let n = row.name.clone();
        self.store
            .with("remove the account", move |s| {
                s.remove_account(&n).map(drop)
            })
            .await?;
        if let Some(lease) = lease {
            remove_file(&row.session_path)?;
            let lease_path = lease.path().to_path_buf();
            drop(lease);
            remove_file(&lease_path)?;
        }
        Ok(())
    }

    /// Where an account's session file is: an absolute path, so `tgsift` started from another folder
    /// (or by a service manager) still finds it.
    fn session_path(&self, name: &str) -> Result<PathBuf, OpsError> {
        let dir = &self.config.storage.sessions_dir;
        let dir = if dir.is_absolute() {
            dir.clone()
        } else {
            std::env::current_dir()
                .context("reading the current folder")?
                .join(dir)
        };
        Ok(dir.join(format!("{name}.session")))
    }

    /// The account with this name, if there is one.
    pub(super) async fn find_account(&self, name: &str) -> Result<Option<AccountRow>, OpsError> {
        let n = name.to_string();
        Ok(self
            .store
            .read("read an account", move |s| s.account(&n))
            .await?)
    }

    /// Refuses a login that another account already has: two names on one auth key (or one Telegram
    /// user, or one phone) is how keys end up used from two places at once and revoked.
    async fn refuse_duplicate(
        &self,
        name: &str,
        key: Option<&[u8; 256]>,
        user_id: Option<i64>,
        phone: Option<&str>,
        sessions: Sessions<'_>,
    ) -> Result<(), OpsError> {
        let digits = |p: &str| p.chars().filter(char::is_ascii_digit).collect::<String>();
        let accounts = self
            .store
            .read("list accounts", |s| s.accounts())
            .await
            .map_err(|e| OpsError::Invalid(format!("reading the accounts: {e}")))?;
        for other in accounts.iter().filter(|a| a.name != name) {
            if let (Some(p), Some(q)) = (phone, other.phone.as_deref())
                && digits(p) == digits(q)
            {
                return Err(OpsError::Conflict(format!(
                    "phone {} is already logged in as account {}: use that account (check it with `tgsift account check {}`) or remove it first",
                    mask_phone(p),
                    other.name,
                    other.name
                )));
            }
            if let Some(refusal) = user_id.and_then(|u| same_user(u, other)) {
                return Err(refusal);
            }
            let Some(k) = key else { continue };
            if let Some(o) = sessions.auth_key(other).await
                && k[..] == o[..]
            {
                return Err(OpsError::Conflict(format!(
                    "this session's auth key is already used by account {}: two accounts on one key make Telegram revoke it",
                    other.name
                )));
            }
        }
        Ok(())
    }

    /// A client of account `name` on `session` for one command, with the configured policy; stop it
    /// with the token.
    fn client<S>(
        &self,
        name: &str,
        session: Arc<S>,
        api_id: i32,
        identity: ClientIdentity,
    ) -> (Account, CancellationToken)
    where
        S: Session,
        S::Error: std::error::Error + Send + Sync + 'static,
    {
        let cancel = CancellationToken::new();
        let policy = Policy {
            identity,
            ..Policy::from(&self.config.telegram)
        };
        (
            Account::new(name, session, api_id, policy, cancel.clone()),
            cancel,
        )
    }

    /// The client identity of an account: the one fixed for it, or for a new one (and one added
    /// before identities were kept) the configured one, which the caller then fixes.
    fn identity_of(&self, row: Option<&AccountRow>) -> ClientIdentity {
        row.and_then(|r| r.identity.clone())
            .unwrap_or_else(|| self.config.telegram.identity())
    }

    /// Logs `session` out at Telegram.
    async fn invoke_log_out<S>(
        &self,
        row: &AccountRow,
        session: S,
        api_id: i32,
    ) -> Result<(), TgError>
    where
        S: Session,
        S::Error: std::error::Error + Send + Sync + 'static,
    {
        let identity = self.identity_of(Some(row));
        let (account, cancel) = self.client(&row.name, Arc::new(session), api_id, identity);
        let out = account.invoke(&LogOut {}).await;
        cancel.cancel();
        out.map(drop)
    }
}

/// The login itself: a code sent to the phone or a QR code scanned, then the 2FA password when the
/// account has one. Returns the user id and the phone number.
async fn log_in<P: Prompt, S: Session>(
    account: &Account,
    session: &S,
    request: NewLogin,
    prompt: impl FnOnce() -> anyhow::Result<P>,
) -> Result<(i64, Option<String>), OpsError>
where
    S::Error: std::error::Error,
{
    let mut prompt = prompt()?;
    match request.with {
        LoginWith::Code { phone } => {
            login::login(account.raw(), &phone, &request.api_hash, &mut prompt)
                .await
                .map(|id| (id, Some(phone)))
                .map_err(other)
        }
        LoginWith::Qr(mut display) => qr_login::login_qr(
            account,
            session,
            request.api_id,
            &request.api_hash,
            display.as_mut(),
            &mut prompt,
        )
        .await
        .map(|done| (done.user_id, done.phone))
        .map_err(other),
    }
}

/// The refusal of a login for an account whose session already says whose it is.
fn already_logged_in(name: &str) -> OpsError {
    OpsError::Conflict(format!(
        "account {name} is already logged in (check it with `tgsift account check {name}`, or remove it first)"
    ))
}

/// `TGSIFT_SESSION_KEY`, which seals the sessions PostgreSQL holds.
fn session_key() -> Result<SessionKey, OpsError> {
    SessionKey::from_env().map_err(|e| other(SessionError::from(e)))
}

/// Removes a file; one already gone is fine.
fn remove_file(path: &Path) -> Result<(), OpsError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(OpsError::Other(
            anyhow::Error::new(e).context(format!("removing {}", path.display())),
        )),
    }
}

/// Runs disk work (session files block on SQLite) off the async threads.
async fn blocking<T: Send + 'static>(
    what: &'static str,
    work: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> Result<T, OpsError> {
    Ok(tokio::task::spawn_blocking(work).await.context(what)??)
}

/// A failure of the work itself, its error kept whole (the CLI reads the exit code from it).
fn other(e: impl Into<anyhow::Error>) -> OpsError {
    OpsError::Other(e.into())
}

/// The refusal when `other` is already the account of Telegram user `user_id`: one Telegram user,
/// one account.
pub(super) fn same_user(user_id: i64, other: &AccountRow) -> Option<OpsError> {
    (other.user_id == Some(user_id)).then(|| {
        OpsError::Conflict(format!(
            "this session is Telegram user {user_id}, already onboarded as account {}: one login per account (remove {} first to move it)",
            other.name, other.name
        ))
    })
}
