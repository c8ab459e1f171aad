//! `tgsift account …`: onboard, inspect and remove the Telegram accounts tgsift logs in as.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Subcommand};
use tokio_util::sync::CancellationToken;

use super::UsageError;
use super::open_store;
use crate::config::Loaded;
use crate::ops::JobSpec;
use crate::telegram::client::{Account, Policy};
use crate::telegram::error::TgError;
use crate::telegram::login::{self, LoginError, Prompt, mask_phone};
use crate::telegram::session::{
    PgSession, SessionError, SessionKey, SqliteSession, TelethonString,
};
use crate::telegram::session_lock::SessionLock;
use grammers_session::SessionData;
use tgsift_store::AccountRow;
use tgsift_store::Database;
use tgsift_store::Location;
use tgsift_store::Storage;
use tgsift_store::postgres::backend::PgBackend;

/// Environment variable holding the 2FA password for non-interactive logins.
pub const PASSWORD_ENV: &str = "TGSIFT_2FA_PASSWORD";

/// `tgsift account …`.
#[derive(Debug, Subcommand)]
pub enum AccountCommand {
    /// Log in a new account (sends a login code; asks for the 2FA password when needed).
    Add(AddArgs),
    /// Adopt an existing session without logging in again.
    Import(ImportArgs),
    /// List accounts: masked phone, user id, logged in?, lease holder.
    List,
    /// Ask Telegram whether an account's session still works.
    Check {
        /// Account name.
        name: String,
    },
    /// Forget an account: its session file and its row (optionally logging out at Telegram first).
    Remove {
        /// Account name.
        name: String,
        /// Log the session out at Telegram before deleting it.
        #[arg(long)]
        logout: bool,
        /// Also delete the account's channels and their stored posts.
        #[arg(long)]
        purge: bool,
    },
}

/// Options of `account add`.
#[derive(Debug, Args)]
pub struct AddArgs {
    /// A name for the account (letters, digits, `_`, `-`); its session is `<sessions_dir>/<name>.session`
    /// (in the database when it is PostgreSQL).
    pub name: String,
    /// Phone number in international form, e.g. +441234567890.
    #[arg(long)]
    pub phone: String,
    /// Read login codes from this file, one per line (`-` = standard input) instead of prompting.
    #[arg(long, value_name = "FILE|-")]
    pub code_from: Option<String>,
}

/// Options of `account import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// A name for the account.
    pub name: String,
    /// A tgsift session file (such as `tgsift sim serve --session-out` writes).
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with = "telethon_string",
        required_unless_present = "telethon_string"
    )]
    pub session: Option<PathBuf>,
    /// A Telethon string session (`-` = read it from standard input).
    #[arg(long, value_name = "STRING|-")]
    pub telethon_string: Option<String>,
}

fn validate_name(name: &str) -> Result<(), UsageError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(UsageError(format!(
            "account name `{name}` is not allowed: use 1–64 letters, digits, `_` or `-`"
        )))
    }
}

/// Where an account's session lives: an absolute path, so `tgsift` started from another folder (or by a
/// service manager) still finds it.
fn session_path(loaded: &Loaded, name: &str) -> anyhow::Result<PathBuf> {
    let dir = &loaded.config.storage.sessions_dir;
    let dir = if dir.is_absolute() {
        dir.clone()
    } else {
        std::env::current_dir()
            .context("reading the current folder")?
            .join(dir)
    };
    Ok(dir.join(format!("{name}.session")))
}

/// Refuses a login that another account already has: two names on one auth key (or one Telegram user)
/// is how keys end up used from two places at once and revoked.
fn refuse_duplicate(
    store: &dyn Storage,
    name: &str,
    key: Option<&[u8; 256]>,
    user_id: Option<i64>,
    phone: Option<&str>,
    sessions: Sessions<'_>,
) -> Result<(), UsageError> {
    let digits = |p: &str| p.chars().filter(char::is_ascii_digit).collect::<String>();
    let accounts = store
        .accounts()
        .map_err(|e| UsageError(format!("reading the accounts: {e}")))?;
    for other in accounts.iter().filter(|a| a.name != name) {
        if let (Some(p), Some(q)) = (phone, other.phone.as_deref())
            && digits(p) == digits(q)
        {
            return Err(UsageError(format!(
                "phone {} is already logged in as account {}: use that account (check it with `tgsift account check {}`) or remove it first",
                mask_phone(p),
                other.name,
                other.name
            )));
        }
        if let (Some(u), Some(v)) = (user_id, other.user_id)
            && u == v
        {
            return Err(UsageError(format!(
                "this session is Telegram user {u}, already onboarded as account {}: one login per account (remove {} first to move it)",
                other.name, other.name
            )));
        }
        let other_key = key.and_then(|_| sessions.auth_key(other));
        if let (Some(k), Some(o)) = (key, other_key)
            && k[..] == o[..]
        {
            return Err(UsageError(format!(
                "this session's auth key is already used by account {}: two accounts on one key make Telegram revoke it",
                other.name
            )));
        }
    }
    Ok(())
}

/// Where accounts' sessions are: files (SQLite) or the PostgreSQL database, sealed with a key.
#[derive(Clone, Copy)]
enum Sessions<'a> {
    Files,
    Postgres(&'a PgBackend, &'a SessionKey),
}

impl Sessions<'_> {
    /// The home auth key of `account`'s session, if it has one that can be read. Call it outside the
    /// runtime (PostgreSQL blocks on the backend's).
    fn auth_key(self, account: &AccountRow) -> Option<[u8; 256]> {
        match self {
            Sessions::Files => SqliteSession::open(&account.session_path)
                .ok()
                .and_then(|s| s.auth_key()),
            Sessions::Postgres(pg, key) => pg
                .block_on(PgSession::open(pg.store(), account.id, key.clone(), None))
                .ok()
                .and_then(|s| s.auth_key()),
        }
    }
}

/// Whether `storage.database` is a PostgreSQL URL (sessions then live in the database).
fn on_postgres(loaded: &Loaded) -> bool {
    Location::of(&loaded.config.storage.database).is_postgres()
}

/// Runs an account subcommand (the ones that talk to Telegram on a runtime of their own; the others
/// outside any, as [`Database`] wants).
pub fn run(loaded: &Loaded, cmd: AccountCommand) -> anyhow::Result<()> {
    match cmd {
        AccountCommand::Add(args) if on_postgres(loaded) => add_pg(loaded, args),
        AccountCommand::Add(args) => super::runtime()?.block_on(add(loaded, args)),
        AccountCommand::Import(args) => import(loaded, args),
        AccountCommand::List => list(loaded),
        AccountCommand::Check { name } => super::runtime()?.block_on(check(loaded, &name)),
        AccountCommand::Remove {
            name,
            logout,
            purge,
        } if on_postgres(loaded) => remove_pg(loaded, &name, logout, purge),
        AccountCommand::Remove {
            name,
            logout,
            purge,
        } => super::runtime()?.block_on(remove(loaded, &name, logout, purge)),
    }
}

/// An account's client for one command, with the configured policy; stop it with the token.
pub(super) fn connect<S>(
    loaded: &Loaded,
    name: &str,
    session: S,
    api_id: i32,
) -> (Account, CancellationToken)
where
    S: grammers_session::Session,
    S::Error: std::error::Error + Send + Sync + 'static,
{
    let cancel = CancellationToken::new();
    let policy = Policy::from(&loaded.config.telegram);
    (
        Account::new(name, Arc::new(session), api_id, policy, cancel.clone()),
        cancel,
    )
}

async fn add(loaded: &Loaded, args: AddArgs) -> anyhow::Result<()> {
    validate_name(&args.name)?;
    let (api_id, api_hash) = loaded.config.telegram.credentials()?;
    let mut store = open_store(loaded)?;
    let path = session_path(loaded, &args.name)?;
    refuse_duplicate(
        &*store,
        &args.name,
        None,
        None,
        Some(&args.phone),
        Sessions::Files,
    )?;
    let existing = store.account(&args.name)?;
    let session = if path.exists() {
        SqliteSession::open(&path)?
    } else {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating sessions folder {}", dir.display()))?;
        }
        SqliteSession::create(&path)?
    };
    if existing.is_some() && session.self_user().is_some() {
        return Err(UsageError(format!(
            "account {} is already logged in (check it with `tgsift account check {}`, or remove it first)",
            args.name, args.name
        ))
        .into());
    }
    let _lease = SessionLock::acquire(&args.name, &path)?;
    let (account, cancel) = connect(loaded, &args.name, session, api_id);
    let mut prompt = CliPrompt::new(args.code_from.as_deref())?;
    let user_id = login::login(account.raw(), &args.phone, &api_hash, &mut prompt).await;
    let user_id = match user_id {
        Ok(id) => id,
        Err(e) => {
            cancel.cancel();
            return Err(e.into());
        }
    };
    if let Err(dup) = refuse_duplicate(
        &*store,
        &args.name,
        None,
        Some(user_id),
        None,
        Sessions::Files,
    ) {
        // Undo the login just made: the authorization is logged out and the new file removed.
        let _ = account
            .invoke(&grammers_tl_types::functions::auth::LogOut {})
            .await;
        cancel.cancel();
        if existing.is_none() {
            drop(account);
            remove_file(&path)?;
        }
        return Err(dup.into());
    }
    cancel.cancel();
    match existing {
        Some(_) => store.set_account_user(&args.name, user_id, Some(&args.phone))?,
        None => {
            store.add_account(&args.name, Some(&args.phone), Some(user_id), &path)?;
        }
    }
    println!(
        "account {} logged in as user {user_id}; session {}",
        args.name,
        path.display()
    );
    Ok(())
}

fn import(loaded: &Loaded, args: ImportArgs) -> anyhow::Result<()> {
    validate_name(&args.name)?;
    let mut store = open_store(loaded)?;
    if store.account(&args.name)?.is_some() {
        return Err(UsageError(format!(
            "account {} exists already: remove it first or pick another name",
            args.name
        ))
        .into());
    }
    let data = match (&args.session, &args.telethon_string) {
        (Some(file), _) => SqliteSession::open(file)?.export_data()?,
        (None, Some(s)) => {
            let text = if s == "-" {
                let mut line = String::new();
                std::io::stdin()
                    .lock()
                    .read_line(&mut line)
                    .context("reading the string session from stdin")?;
                line
            } else {
                s.clone()
            };
            TelethonString::parse(&text)?.to_session_data()
        }
        (None, None) => {
            return Err(
                UsageError("give --session FILE or --telethon-string STRING|-".into()).into(),
            );
        }
    };
    if store.postgres().is_some() {
        return import_pg(&mut store, &args.name, &data);
    }
    let path = session_path(loaded, &args.name)?;
    let home_key = data
        .dc_options
        .get(&data.home_dc)
        .and_then(|o| o.auth_key.as_ref());
    refuse_duplicate(&*store, &args.name, home_key, None, None, Sessions::Files)?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating sessions folder {}", dir.display()))?;
    }
    let session = SqliteSession::import_data(&path, &data)?;
    let user = session.self_user().map(|u| u.id);
    if let Err(dup) = refuse_duplicate(&*store, &args.name, None, user, None, Sessions::Files) {
        drop(session);
        remove_file(&path)?;
        return Err(dup.into());
    }
    store.add_account(&args.name, None, user, &path)?;
    println!(
        "account {} imported into {}{}",
        args.name,
        path.display(),
        if user.is_some() {
            ""
        } else {
            " (run `tgsift account check` to confirm it is logged in)"
        }
    );
    Ok(())
}

fn list(loaded: &Loaded) -> anyhow::Result<()> {
    let store = open_store(loaded)?;
    let accounts = crate::ops::account_states(&*store)?;
    if accounts.is_empty() {
        println!("no accounts: add one with `tgsift account add NAME --phone +…`");
        return Ok(());
    }
    println!(
        "{:<16} {:<16} {:>12} {:<10} {:<24} lease",
        "name", "phone", "user id", "logged in", "circuit breaker"
    );
    for a in accounts {
        let user = a
            .user_id
            .map(|u| u.to_string())
            .unwrap_or_else(|| "-".into());
        println!(
            "{:<16} {:<16} {user:>12} {:<10} {:<24} {}",
            a.name, a.phone, a.logged_in, a.breaker, a.lease
        );
    }
    Ok(())
}

pub(super) fn known_account(
    store: &dyn Storage,
    name: &str,
) -> anyhow::Result<tgsift_store::AccountRow> {
    store.account(name)?.ok_or_else(|| {
        UsageError(format!(
            "no account named {name}: see `tgsift account list`"
        ))
        .into()
    })
}

async fn check(loaded: &Loaded, name: &str) -> anyhow::Result<()> {
    loaded.config.telegram.credentials()?;
    let spec = JobSpec::AccountCheck {
        account: name.to_string(),
    };
    let job = super::jobs::submit(loaded, spec, false)
        .await
        .with_context(|| format!("checking account {name}"))?;
    let id = job
        .and_then(|j| j.result)
        .and_then(|r| r.get("user_id").and_then(|v| v.as_i64()))
        .unwrap_or_default();
    println!("account {name}: logged in as user {id}");
    Ok(())
}

/// The account `account remove` is to remove, unless that would drop channels' posts without `--purge`.
fn to_remove(store: &dyn Storage, name: &str, purge: bool) -> anyhow::Result<AccountRow> {
    let row = known_account(store, name)?;
    let channels = store.account_channel_count(row.id)?;
    if channels > 0 && !purge {
        return Err(UsageError(format!(
            "account {name} follows {channels} channel(s) whose posts would be deleted: remove them first or pass --purge"
        ))
        .into());
    }
    Ok(row)
}

async fn remove(loaded: &Loaded, name: &str, logout: bool, purge: bool) -> anyhow::Result<()> {
    let mut store = open_store(loaded)?;
    let row = to_remove(&*store, name, purge)?;
    let lease = SessionLock::acquire(name, &row.session_path)?;
    if logout {
        let (api_id, _) = loaded.config.telegram.credentials()?;
        let session = SqliteSession::open(&row.session_path)?;
        let (account, cancel) = connect(loaded, name, session, api_id);
        let out = account
            .invoke(&grammers_tl_types::functions::auth::LogOut {})
            .await;
        cancel.cancel();
        logged_out(name, out)?;
    }
    store.remove_account(name)?;
    remove_file(&row.session_path)?;
    let lease_path = lease.path().to_path_buf();
    drop(lease);
    remove_file(&lease_path)?;
    println!("account {name} removed");
    Ok(())
}

/// Why a PostgreSQL account is disabled while `account add` logs it in: workers claim only enabled
/// accounts, so none uses the half-made session meanwhile.
const LOGGING_IN: &str = "being logged in by `tgsift account add`";

/// `account add` on PostgreSQL: the session is written to the database, its auth key sealed with
/// `TGSIFT_SESSION_KEY`; the account stays disabled until the login is through.
fn add_pg(loaded: &Loaded, args: AddArgs) -> anyhow::Result<()> {
    validate_name(&args.name)?;
    let (api_id, api_hash) = loaded.config.telegram.credentials()?;
    let key = SessionKey::from_env().map_err(SessionError::from)?;
    let mut db = open_store(loaded)?;
    let pg = db
        .postgres()
        .cloned()
        .context("the database is not PostgreSQL")?;
    let sessions = Sessions::Postgres(&pg, &key);
    refuse_duplicate(&*db, &args.name, None, None, Some(&args.phone), sessions)?;
    let existing = db.account(&args.name)?;
    let row = match &existing {
        Some(row) => {
            let stored = db.stored_sessions()?.unwrap_or_default();
            if stored
                .iter()
                .any(|s| s.account_id == row.id && s.knows_user)
            {
                return Err(UsageError(format!(
                    "account {} is already logged in (check it with `tgsift account check {}`, or remove it first)",
                    args.name, args.name
                ))
                .into());
            }
            row.clone()
        }
        None => db.add_account(&args.name, Some(&args.phone), None, Path::new(""))?,
    };
    db.set_account_disabled(row.id, Some(LOGGING_IN))?;
    // Puts the account back as it was: a new one is removed (its session with it).
    let undo = |db: &mut Database| -> anyhow::Result<()> {
        match &existing {
            None => db.remove_account(&args.name).map(drop)?,
            Some(before) => db.set_account_disabled(row.id, before.disabled_reason.as_deref())?,
        }
        Ok(())
    };
    let logged_in = pg.block_on(async {
        let session = match PgSession::open(pg.store(), row.id, key.clone(), None).await {
            Ok(session) => session,
            Err(SessionError::NoSession { .. }) => {
                // As on SQLite, a session file at the account's usual path (such as `tgsift sim
                // serve --session-out` writes) is where the login starts; else a new session.
                let path = session_path(loaded, &args.name)?;
                let start = match path.exists() {
                    true => SqliteSession::open(&path)?.export_data()?,
                    false => SessionData::default(),
                };
                PgSession::import_data(pg.store(), row.id, key.clone(), None, &start).await?
            }
            Err(e) => return Err(anyhow::Error::new(e)),
        };
        let (account, cancel) = connect(loaded, &args.name, session, api_id);
        let mut prompt = CliPrompt::new(args.code_from.as_deref())?;
        match login::login(account.raw(), &args.phone, &api_hash, &mut prompt).await {
            Ok(user_id) => Ok((user_id, account, cancel)),
            Err(e) => {
                cancel.cancel();
                Err(e.into())
            }
        }
    });
    let (user_id, account, cancel) = match logged_in {
        Ok(done) => done,
        Err(e) => {
            undo(&mut db)?;
            return Err(e);
        }
    };
    if let Err(dup) = refuse_duplicate(&*db, &args.name, None, Some(user_id), None, sessions) {
        // Undo the login just made: the authorization is logged out and the account put back.
        let _ = pg.block_on(account.invoke(&grammers_tl_types::functions::auth::LogOut {}));
        cancel.cancel();
        undo(&mut db)?;
        return Err(dup.into());
    }
    cancel.cancel();
    drop(account);
    // Also enables the account again: workers may claim it from now on.
    db.set_account_user(&args.name, user_id, Some(&args.phone))?;
    println!(
        "account {} logged in as user {user_id}; session in the database {}",
        args.name,
        db.name()
    );
    Ok(())
}

/// `account import` on PostgreSQL: the session goes into the database, sealed with
/// `TGSIFT_SESSION_KEY`.
fn import_pg(db: &mut Database, name: &str, data: &SessionData) -> anyhow::Result<()> {
    let key = SessionKey::from_env().map_err(SessionError::from)?;
    let pg = db
        .postgres()
        .cloned()
        .context("the database is not PostgreSQL")?;
    let sessions = Sessions::Postgres(&pg, &key);
    let home_key = data
        .dc_options
        .get(&data.home_dc)
        .and_then(|o| o.auth_key.as_ref());
    refuse_duplicate(&**db, name, home_key, None, None, sessions)?;
    let row = db.add_account(name, None, None, Path::new(""))?;
    let session = match pg.block_on(PgSession::import_data(
        pg.store(),
        row.id,
        key.clone(),
        None,
        data,
    )) {
        Ok(session) => session,
        Err(e) => {
            db.remove_account(name)?;
            return Err(e.into());
        }
    };
    let user = session.self_user().map(|u| u.id);
    drop(session);
    if let Err(dup) = refuse_duplicate(&**db, name, None, user, None, sessions) {
        db.remove_account(name)?;
        return Err(dup.into());
    }
    if let Some(user) = user {
        db.set_account_user(name, user, None)?;
    }
    println!(
        "account {name} imported into the database {}{}",
        db.name(),
        if user.is_some() {
            ""
        } else {
            " (run `tgsift account check` to confirm it is logged in)"
        }
    );
    Ok(())
}

/// `account remove` on PostgreSQL. A worker serving the account lets go at its next lease renewal or
/// write (the lease row goes with the account); logging out waits for no worker to hold it, since the
/// session must not be used from two places at once.
fn remove_pg(loaded: &Loaded, name: &str, logout: bool, purge: bool) -> anyhow::Result<()> {
    let mut db = open_store(loaded)?;
    let row = to_remove(&*db, name, purge)?;
    if logout {
        let stored = db.stored_sessions()?.unwrap_or_default();
        if let Some(holder) = stored
            .iter()
            .find(|s| s.account_id == row.id)
            .and_then(|s| s.lease.as_deref())
        {
            return Err(UsageError(format!(
                "account {name} is served by {holder}: it cannot log out while a worker uses its session; \
                 remove it without --logout (the worker lets go), or log out once no worker holds it (nothing was removed)"
            ))
            .into());
        }
        let (api_id, _) = loaded.config.telegram.credentials()?;
        let key = SessionKey::from_env().map_err(SessionError::from)?;
        let pg = db
            .postgres()
            .cloned()
            .context("the database is not PostgreSQL")?;
        let out = pg.block_on(async {
            let session = PgSession::open(pg.store(), row.id, key, None).await?;
            let (account, cancel) = connect(loaded, name, session, api_id);
            let out = account
                .invoke(&grammers_tl_types::functions::auth::LogOut {})
                .await;
            cancel.cancel();
            Ok::<_, SessionError>(out)
        })?;
        logged_out(name, out)?;
    }
    db.remove_account(name)?;
    println!("account {name} removed");
    Ok(())
}

/// Reports `account remove --logout`'s log-out: done (or the session was already logged out), or
/// the error that stops the removal.
fn logged_out<T>(name: &str, out: Result<T, TgError>) -> anyhow::Result<()> {
    match out {
        Ok(_) | Err(TgError::Unauthorized { .. }) => {
            println!("account {name}: logged out at Telegram");
            Ok(())
        }
        Err(e) => Err(anyhow::Error::new(e).context("logging out (nothing was removed)")),
    }
}

fn remove_file(path: &Path) -> anyhow::Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(anyhow::Error::new(e).context(format!("removing {}", path.display()))),
    }
}

/// Login secrets from the terminal, a code file or standard input, and `TGSIFT_2FA_PASSWORD`.
struct CliPrompt {
    codes: Option<Box<dyn Iterator<Item = String>>>,
    env_password: Option<String>,
}

impl CliPrompt {
    fn new(code_from: Option<&str>) -> anyhow::Result<Self> {
        let codes: Option<Box<dyn Iterator<Item = String>>> = match code_from {
            None => None,
            Some("-") => Some(Box::new(
                std::io::stdin().lock().lines().map_while(Result::ok),
            )),
            Some(file) => {
                let text = std::fs::read_to_string(file)
                    .with_context(|| format!("reading login codes from {file}"))?;
                let lines: Vec<String> = text
                    .lines()
                    .map(str::to_string)
                    .filter(|l| !l.trim().is_empty())
                    .collect();
                Some(Box::new(lines.into_iter()))
            }
        };
        Ok(CliPrompt {
            codes,
            env_password: std::env::var(PASSWORD_ENV).ok(),
        })
    }
}

impl Prompt for CliPrompt {
    fn code(&mut self, phone: &str, attempt: u32) -> Result<String, LoginError> {
        if let Some(codes) = self.codes.as_mut() {
            return codes.next().ok_or_else(|| {
                LoginError::NoInput(format!(
                    "no login code for attempt {attempt} in --code-from"
                ))
            });
        }
        if !std::io::stdin().is_terminal() {
            return Err(LoginError::NoInput(
                "no terminal to ask for the login code: use --code-from FILE|-".into(),
            ));
        }
        let mut err = std::io::stderr();
        let again = if attempt > 1 {
            " (wrong, try again)"
        } else {
            ""
        };
        let _ = write!(
            err,
            "login code sent to {} by Telegram{again}: ",
            mask_phone(phone)
        );
        let _ = err.flush();
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| LoginError::NoInput(e.to_string()))?;
        Ok(line.trim().to_string())
    }

    fn password(&mut self, hint: Option<&str>, attempt: u32) -> Result<String, LoginError> {
        if let Some(pw) = self.env_password.take() {
            return Ok(pw);
        }
        if attempt > 1 && std::env::var_os(PASSWORD_ENV).is_some() {
            return Err(LoginError::WrongPassword(attempt - 1));
        }
        if !std::io::stdin().is_terminal() {
            return Err(LoginError::NoInput(format!(
                "the account has a 2FA password and there is no terminal: set {PASSWORD_ENV}"
            )));
        }
        let hint = hint.map(|h| format!(" (hint: {h})")).unwrap_or_default();
        rpassword::prompt_password(format!("2FA password{hint}: "))
            .map_err(|e| LoginError::NoInput(e.to_string()))
    }
}
