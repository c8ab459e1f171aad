//! The `tgsift` command line: argument parsing (clap), logging set-up, and exit codes.
//!
//! Exit codes: 0 success, 1 a runtime failure, 2 a usage or configuration problem (bad flags, a bad config
//! file, a database path that cannot be used). Each subcommand lives in its own file and returns
//! `anyhow::Result`; [`exit_code`] classifies the error at the edge.

mod account;
mod channels;
mod data_out;
mod db;
#[cfg(feature = "sim")]
mod demo;
mod jobs;
mod logging;
mod run;
#[cfg(feature = "sim")]
mod sim;
mod status;
mod tags;
mod watch;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use tgsift_store::StoreError;
use tgsift_store::postgres::PgError;
use tgsift_store::postgres::copy::CopyError;
use tokio_util::sync::CancellationToken;

use crate::config::{ConfigError, LoadOptions, Loaded};
use crate::ops::{Ops, OpsError};

/// Keeps the posts of many Telegram channels in SQLite and tags them.
#[derive(Debug, Parser)]
#[command(name = "tgsift", version, about, propagate_version = true)]
pub(crate) struct Cli {
    /// Configuration file (default: $TGSIFT_CONFIG, else ./tgsift.toml if present, else built-in defaults).
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Database file or `postgres://` URL; overrides storage.database.
    #[arg(long, global = true, value_name = "PATH")]
    pub db: Option<PathBuf>,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Pretty)]
    pub log_format: LogFormat,
    /// More log output (-v debug, -vv trace); RUST_LOG, when set, wins.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Less log output (-q warnings only, -qq errors only).
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "verbose")]
    pub quiet: u8,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line, for log collectors.
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the database or bring its schema up to date (also done automatically on open).
    Migrate,
    /// Inspect the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Run the parser service: keep every active channel's posts in the database.
    Run(run::RunArgs),
    /// The whole job on an embedded simulated Telegram: backfill and tag three channels into demo.db.
    #[cfg(feature = "sim")]
    Demo(demo::DemoArgs),
    /// What the service is doing: uptime, tasks (restarts, last errors), accounts, channels, tagging.
    Status {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Follow channels and inspect their state.
    #[command(subcommand)]
    Channels(channels::ChannelsCommand),
    /// Fetch a range of a channel again (upserting, so it is safe to repeat).
    Reparse(channels::ReparseArgs),
    /// Tagging administration: stats, retries, re-tagging.
    #[command(subcommand)]
    Tags(tags::TagsCommand),
    /// Read, export and search stored posts with their tags and tagging state.
    #[command(subcommand)]
    Posts(tags::PostsCommand),
    /// Posts per day per channel, top tags, tagging statuses, FLOOD_WAITs and retries over a period.
    Stats(data_out::StatsArgs),
    /// Copy the database to FILE, also while the service is writing (consistent, verified, atomic).
    ///
    /// One consistent snapshot through SQLite's online backup API, checked with `PRAGMA
    /// integrity_check`, written beside FILE and renamed over it when complete. Session files are not
    /// part of the database: back them up separately.
    Backup {
        /// The copy to write (replaced if it exists).
        file: PathBuf,
    },
    /// Replace the database with a backup (refused while a service uses it; the old file is kept).
    ///
    /// Refused while any account's session lease is held or a `tgsift run` worker is alive, and
    /// while any connection has the database open. The backup is checked (a tgsift schema this build
    /// understands, `PRAGMA integrity_check`) before it is swapped in.
    Restore {
        /// The backup to restore (a file made by `tgsift backup`).
        file: PathBuf,
    },
    /// Onboard and manage the Telegram accounts tgsift logs in as.
    #[command(subcommand)]
    Account(account::AccountCommand),
    /// Admin jobs (channel adds, reparses, re-tagging, tagging retries): list, inspect, retry, cancel.
    #[command(subcommand)]
    Jobs(jobs::JobsCommand),
    /// Alerts: check that every configured sink receives them.
    #[command(subcommand)]
    Alerts(jobs::AlertsCommand),
    /// Watches: be told (webhook, Saved Messages, a chat) when a post with a tag, matching a search
    /// or in some channels appears.
    #[command(subcommand)]
    Watch(watch::WatchCommand),
    /// Move an installation between stores (`db copy`: SQLite into PostgreSQL).
    #[command(subcommand)]
    Db(db::DbCommand),
    /// Media downloads (`media.download`): queue failed ones again.
    #[command(subcommand)]
    Media(MediaCommand),
    /// The `tgsift run` workers of the database and the accounts each one serves (leases).
    Workers {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// The simulated Telegram DC.
    #[cfg(feature = "sim")]
    #[command(subcommand)]
    Sim(SimCommand),
}

/// `tgsift sim …`.
#[cfg(feature = "sim")]
#[derive(Debug, Subcommand)]
pub enum SimCommand {
    /// Serve a simulated Telegram DC on 127.0.0.1 until Ctrl-C.
    Serve(Box<sim::ServeArgs>),
}

/// `tgsift media …`.
#[derive(Debug, Subcommand)]
pub enum MediaCommand {
    /// Queue every failed download again, its attempts cleared (the running service fetches them).
    Retry,
}

/// `tgsift config …`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the effective configuration, secrets redacted, with where each value came from.
    Show,
    /// List every key with its allowed values, default and environment names (Markdown table).
    Keys,
}

/// Runs the binary: parses arguments, sets up logging, dispatches, and maps errors to exit codes.
pub fn main() -> ExitCode {
    quiet_when_stdout_closes();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // clap uses 2 for usage errors and 0 for --help/--version.
            return ExitCode::from(e.exit_code().clamp(0, 255) as u8);
        }
    };
    logging::init(cli.log_format, cli.verbose, cli.quiet);
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", error_message(&err));
            ExitCode::from(exit_code(&err))
        }
    }
}

/// The error and its causes on one line, each cause once: many errors already say their cause in
/// their own message ("could not open the database: cannot connect …"), and `{:#}` would repeat it.
pub(crate) fn error_message(err: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in err.chain() {
        let part = cause.to_string();
        if text.contains(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}

/// A reader that closed the pipe (`tgsift posts list | head`) ends the command quietly with exit 0, as
/// with every Unix tool: Rust ignores SIGPIPE, so printing to the closed pipe fails, and `println!`
/// turns that into a panic (exit 101 and a message) — caught here. Any other panic is reported as
/// before.
fn quiet_when_stdout_closes() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.starts_with("failed printing to stdout")
            // The OS's text of EPIPE (`Broken pipe (os error 32)`).
            && message.contains("Broken pipe")
        {
            std::process::exit(0);
        }
        report(info);
    }));
}

/// A command used wrongly (unknown account, name taken…): exit code 2, like a bad flag.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct UsageError(pub String);

/// Runs one admin command on a runtime of its own: `f` gets the admin layer over the configured
/// database (no tagging pipeline, Telegram connections of this process that stop when `f` is
/// done); a refusal from it exits 2, a failure 1.
fn admin<T>(
    loaded: &Loaded,
    f: impl AsyncFnOnce(&Ops) -> Result<T, OpsError>,
) -> anyhow::Result<T> {
    // One thread drives the command: its work is the database's, on the store's own threads, and
    // idle runtime workers would only add their stacks and allocator arenas to its memory.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let cancel = CancellationToken::new();
        let ops = Ops::open(&loaded.config, &cancel, false)
            .await
            .map_err(jobs::cli_error)?;
        let out = f(&ops).await.map_err(jobs::cli_error);
        cancel.cancel();
        out
    })
}

/// 2 for configuration and usage problems, 1 for everything else.
pub(crate) fn exit_code(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        if cause.downcast_ref::<ConfigError>().is_some()
            || cause.downcast_ref::<UsageError>().is_some()
        {
            return 2;
        }
        if let Some(e) = cause.downcast_ref::<crate::telegram::session::SessionError>() {
            return if e.is_usage() { 2 } else { 1 };
        }
        if let Some(e) = cause.downcast_ref::<StoreError>() {
            return if e.is_usage() { 2 } else { 1 };
        }
        if let Some(e) = cause.downcast_ref::<PgError>() {
            return if e.is_usage() { 2 } else { 1 };
        }
        // Its variants are transparent, so the inner error is not a separate link of the chain.
        if let Some(e) = cause.downcast_ref::<CopyError>() {
            return match e {
                CopyError::Source(e) if e.is_usage() => 2,
                CopyError::Target(e) if e.is_usage() => 2,
                _ => 1,
            };
        }
    }
    1
}

/// Where the configuration comes from: `--config` and `--db`.
struct Sources {
    config: Option<PathBuf>,
    db: Option<PathBuf>,
}

impl Sources {
    fn load(&self) -> Result<Loaded, ConfigError> {
        let mut loaded = Loaded::load(&LoadOptions::from_process(self.config.clone()))?;
        if let Some(db) = &self.db {
            loaded.set_database(db.clone());
        }
        Ok(loaded)
    }
}

/// Threads the runtime may start for blocking work (every PostgreSQL store call and SQLite read runs
/// on one): a worker serving a hundred accounts had 130 of them, each with a stack and a malloc arena,
/// while the calls beyond the pool's connections only waited for one.
const MAX_BLOCKING_THREADS: usize = 32;

/// A multi-threaded tokio runtime for the subcommands that talk to the network.
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    limit_malloc_arenas();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(MAX_BLOCKING_THREADS)
        .build()
        .context("starting the async runtime")
}

/// glibc gives threads that allocate at once arenas of their own, up to eight per core, and memory
/// freed in one arena serves only that arena: a fleet worker (100 accounts, tagging off) grew to 411
/// MiB that way, and stayed near 180 MiB with one arena per core. `MALLOC_ARENA_MAX` still wins.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let arenas = libc::c_int::try_from(cores.max(2)).unwrap_or(2);
        // SAFETY: mallopt only sets an allocator parameter; called before the runtime's threads
        // exist, so no allocation races with it.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, arenas);
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let sources = Sources {
        config: cli.config,
        db: cli.db,
    };
    match cli.command {
        // The reference needs no configuration, so a broken file does not hide it.
        Command::Config(ConfigCommand::Keys) => print!("{}", crate::config::reference_table()),
        Command::Config(ConfigCommand::Show) => print!("{}", sources.load()?.render()),
        #[cfg(feature = "sim")]
        Command::Sim(SimCommand::Serve(args)) => runtime()?.block_on(sim::serve(*args))?,
        #[cfg(feature = "sim")]
        Command::Demo(args) => runtime()?.block_on(demo::demo(args))?,
        Command::Run(args) => {
            let loaded = sources.load()?;
            runtime()?.block_on(run::run(&loaded, args))?
        }
        Command::Channels(cmd) => channels::run(&sources.load()?, cmd)?,
        Command::Reparse(args) => {
            let loaded = sources.load()?;
            runtime()?.block_on(channels::reparse(&loaded, args))?
        }
        Command::Tags(cmd) => tags::tags(&sources.load()?, cmd)?,
        Command::Jobs(cmd) => {
            let loaded = sources.load()?;
            runtime()?.block_on(jobs::jobs(&loaded, cmd))?
        }
        Command::Alerts(cmd) => {
            let loaded = sources.load()?;
            runtime()?.block_on(jobs::alerts(&loaded, cmd))?
        }
        Command::Watch(cmd) => {
            let loaded = sources.load()?;
            runtime()?.block_on(watch::watch(&loaded, cmd))?
        }
        Command::Posts(cmd) => tags::posts(&sources.load()?, cmd)?,
        Command::Status { json } => status::status(&sources.load()?, json)?,
        Command::Stats(a) => data_out::stats(&sources.load()?, &a)?,
        Command::Backup { file } => data_out::backup(&sources.load()?, &file)?,
        Command::Restore { file } => data_out::restore_cmd(&sources.load()?, &file)?,
        Command::Account(cmd) => account::run(&sources.load()?, cmd)?,
        Command::Db(cmd) => runtime()?.block_on(db::run(cmd))?,
        Command::Media(MediaCommand::Retry) => {
            let n = admin(&sources.load()?, async |ops| ops.retry_downloads().await)?;
            println!("{n} failed downloads queued again");
        }
        Command::Workers { json } => {
            let loaded = sources.load()?;
            runtime()?.block_on(db::workers(&loaded, json))?
        }
        Command::Migrate => {
            let loaded = sources.load()?;
            let m = crate::ops::db::migrate(&loaded.config.storage.database)
                .map_err(jobs::cli_error)?;
            let (from, to) = (m.from, m.to);
            if from == to {
                println!("{}: schema is up to date (version {to})", m.database);
            } else {
                println!(
                    "{}: schema migrated from version {from} to {to}",
                    m.database
                );
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::error_message;

    #[test]
    fn a_cause_already_in_its_error_is_printed_once() {
        #[derive(Debug, thiserror::Error)]
        #[error("could not open the database: {source}")]
        struct Outer {
            source: std::io::Error,
        }
        let inner = std::io::Error::other("cannot connect to x");
        let err = anyhow::Error::from(Outer { source: inner }).context("starting");
        assert_eq!(
            error_message(&err),
            "starting: could not open the database: cannot connect to x"
        );
    }
}
