//! `tgsift account …`: onboard, inspect and remove the Telegram accounts tgsift logs in as.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use tokio_util::sync::CancellationToken;

use super::UsageError;
use super::jobs::cli_error;
use crate::config::Loaded;
use crate::ops::accounts::{AccountName, NewLogin, SessionHome};
use crate::ops::{JobSpec, Ops};
use crate::telegram::login::{LoginError, Prompt, mask_phone};
use crate::telegram::qr_login::{LoginUrl, QrDisplay};
use crate::telegram::session::{SqliteSession, TelethonString};
use grammers_session::SessionData;

/// Environment variable holding the 2FA password for non-interactive logins.
pub(super) const PASSWORD_ENV: &str = "TGSIFT_2FA_PASSWORD";

/// `tgsift account …`.
#[derive(Debug, Subcommand)]
pub enum AccountCommand {
    /// Log in a new account: by a login code (`--phone`) or a QR code scanned with the phone
    /// (`--qr`); asks for the 2FA password when needed.
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
    /// Serve an account again that Telegram had refused (frozen, banned…) once its owner has dealt
    /// with it, without asking Telegram first (`account check` asks).
    Resume {
        /// Account name.
        name: String,
    },
    /// Give an account its own SOCKS5 proxy, used from its next connection on (`none`: back to
    /// `telegram.proxy`).
    Proxy {
        /// Account name.
        name: String,
        /// `socks5://[user:password@]host:port`, or `none`.
        url: String,
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
    /// Phone number in international form, e.g. +441234567890: Telegram sends a login code.
    #[arg(long, required_unless_present = "qr", conflicts_with = "qr")]
    pub phone: Option<String>,
    /// Read login codes from this file, one per line (`-` = standard input) instead of prompting.
    #[arg(long, value_name = "FILE|-", conflicts_with = "qr")]
    pub code_from: Option<String>,
    /// Log in by scanning a QR code printed here with Telegram on a phone already logged in
    /// (Settings → Devices → Link Desktop Device); no phone number or code needed.
    #[arg(long)]
    pub qr: bool,
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

/// Runs an account subcommand (on a runtime of its own).
pub(super) fn run(loaded: &Loaded, cmd: AccountCommand) -> anyhow::Result<()> {
    let runtime = super::runtime()?;
    match cmd {
        AccountCommand::Add(args) => runtime.block_on(add(loaded, args)),
        AccountCommand::Import(args) => runtime.block_on(import(loaded, args)),
        AccountCommand::List => runtime.block_on(list(loaded)),
        AccountCommand::Check { name } => runtime.block_on(check(loaded, &name)),
        AccountCommand::Resume { name } => runtime.block_on(resume(loaded, &name)),
        AccountCommand::Proxy { name, url } => runtime.block_on(proxy(loaded, &name, url)),
        AccountCommand::Remove {
            name,
            logout,
            purge,
        } => runtime.block_on(remove(loaded, &name, logout, purge)),
    }
}

/// The admin layer for an account command (no tagging pipeline: these tag nothing).
async fn ops(loaded: &Loaded) -> anyhow::Result<Ops> {
    super::jobs::ops_without_tagging(loaded, &CancellationToken::new()).await
}

async fn add(loaded: &Loaded, args: AddArgs) -> anyhow::Result<()> {
    let request = match (&args.phone, args.qr) {
        (_, true) => NewLogin::qr(&loaded.config, &args.name, Box::new(TerminalQr)),
        (Some(phone), false) => NewLogin::new(&loaded.config, &args.name, phone),
        (None, false) => {
            return Err(UsageError("give --phone +NUMBER or --qr".into()).into());
        }
    }
    .map_err(cli_error)?;
    let ops = ops(loaded).await?;
    let done = ops
        .add_account(request, || CliPrompt::new(args.code_from.as_deref()))
        .await
        .map_err(cli_error)?;
    let place = match &done.session {
        SessionHome::File(path) => format!("session {}", path.display()),
        SessionHome::Postgres(db) => format!("session in the database {db}"),
    };
    println!(
        "account {} logged in as user {}; {place}",
        args.name, done.user_id
    );
    Ok(())
}

async fn import(loaded: &Loaded, args: ImportArgs) -> anyhow::Result<()> {
    let name = AccountName::new(&args.name).map_err(cli_error)?;
    let ops = ops(loaded).await?;
    let data = || -> anyhow::Result<SessionData> {
        Ok(match (&args.session, &args.telethon_string) {
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
        })
    };
    let done = ops.import_account(&name, data).await.map_err(cli_error)?;
    let into = match &done.session {
        SessionHome::File(path) => path.display().to_string(),
        SessionHome::Postgres(db) => format!("the database {db}"),
    };
    println!(
        "account {} imported into {into}{}",
        args.name,
        if done.user_id.is_some() {
            ""
        } else {
            " (run `tgsift account check` to confirm it is logged in)"
        }
    );
    Ok(())
}

async fn list(loaded: &Loaded) -> anyhow::Result<()> {
    let accounts = ops(loaded).await?.accounts().await.map_err(cli_error)?;
    if accounts.is_empty() {
        println!("no accounts: add one with `tgsift account add NAME --phone +…`");
        return Ok(());
    }
    println!(
        "{:<16} {:<16} {:>12} {:<11} {:<10} {:<24} lease",
        "name", "phone", "user id", "state", "logged in", "circuit breaker"
    );
    for a in &accounts {
        let user = a
            .user_id
            .map(|u| u.to_string())
            .unwrap_or_else(|| "-".into());
        println!(
            "{:<16} {:<16} {user:>12} {:<11} {:<10} {:<24} {}",
            a.name, a.phone, a.state, a.logged_in, a.breaker, a.lease
        );
    }
    for a in &accounts {
        if let Some(advice) = &a.what_to_do {
            println!("{}: {advice}", a.name);
        }
    }
    Ok(())
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

async fn resume(loaded: &Loaded, name: &str) -> anyhow::Result<()> {
    let before = ops(loaded)
        .await?
        .resume_account(name)
        .await
        .map_err(cli_error)?;
    match before {
        tgsift_store::AccountState::Active => println!("account {name} was not stopped"),
        state => println!(
            "account {name} resumed (it was {state}); `tgsift run` serves it again, and stops it at once if Telegram still refuses it"
        ),
    }
    Ok(())
}

async fn proxy(loaded: &Loaded, name: &str, url: String) -> anyhow::Result<()> {
    let url = (url != "none").then_some(url);
    let identity = ops(loaded)
        .await?
        .set_account_proxy(name, url)
        .await
        .map_err(cli_error)?;
    match (&identity.proxy, &loaded.config.telegram.proxy) {
        (Some(p), _) => println!(
            "account {name} connects through {}",
            crate::config::redact_proxy(p)
        ),
        (None, Some(p)) => println!(
            "account {name} connects through telegram.proxy ({})",
            crate::config::redact_proxy(p)
        ),
        (None, None) => println!("account {name} connects directly (no telegram.proxy set)"),
    }
    Ok(())
}

async fn remove(loaded: &Loaded, name: &str, logout: bool, purge: bool) -> anyhow::Result<()> {
    let ops = ops(loaded).await?;
    let removal = ops.start_removal(name, purge).await.map_err(cli_error)?;
    if logout {
        ops.log_out(&removal).await.map_err(cli_error)?;
        println!("account {name}: logged out at Telegram");
    }
    ops.remove_account(removal).await.map_err(cli_error)?;
    println!("account {name} removed");
    Ok(())
}

/// Prints login QR codes on standard output as text (two pixel rows per line), light modules drawn
/// as blocks so the code reads right on the usual dark terminal.
struct TerminalQr;

impl QrDisplay for TerminalQr {
    fn show(&mut self, url: &LoginUrl, n: u32, valid_for: std::time::Duration) {
        let art = match qr_text(url.expose()) {
            Ok(art) => art,
            Err(e) => {
                eprintln!("cannot draw the login QR code: {e}");
                return;
            }
        };
        let intro = if n == 1 {
            "Scan this login QR code with Telegram on your phone (Settings → Devices → Link Desktop Device)"
        } else {
            "The previous code expired: scan this new login QR code instead"
        };
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "{intro}; it is valid for {} s (a new one follows before it expires).\n{art}",
            valid_for.as_secs().max(1)
        );
        let _ = out.flush();
    }
}

/// A QR code of `data` drawn with Unicode half blocks, quiet zone included; light modules are the
/// drawn ones (for light text on a dark background).
fn qr_text(data: &str) -> Result<String, qrcode::types::QrError> {
    use qrcode::render::unicode::Dense1x2;
    let code = qrcode::QrCode::with_error_correction_level(data, qrcode::EcLevel::L)?;
    Ok(code
        .render::<Dense1x2>()
        .dark_color(Dense1x2::Light)
        .light_color(Dense1x2::Dark)
        .quiet_zone(true)
        .build())
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
