//! `tgsift db copy` (an SQLite installation into PostgreSQL) and `tgsift workers` (who serves which
//! account).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Subcommand};

use super::UsageError;
use crate::config::Loaded;
use crate::telegram::session::{PgSession, SessionError, SessionKey, SqliteSession};
use tgsift_store::Location;
use tgsift_store::postgres::PgStore;
use tgsift_store::postgres::copy::{CopyOptions, DEFAULT_BATCH, copy_sqlite};
use tgsift_store::prelude::*;
use tgsift_store::{SqliteStore, WORKER_STALE_SECS, unix_now};

/// `tgsift db …`.
#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Copy an SQLite installation into PostgreSQL: every account, channel, post, tag, job and alert,
    /// and the accounts' session files (sealed with TGSIFT_SESSION_KEY).
    ///
    /// Safe to repeat: rows are upserted with their ids, so running it again after the SQLite side
    /// moved on brings PostgreSQL up to date without duplicates, and an interrupted copy goes on after
    /// its last committed batch. Stop `tgsift run` on the SQLite file before the final copy.
    Copy(CopyArgs),
}

/// `tgsift db copy`.
#[derive(Debug, Args)]
pub struct CopyArgs {
    /// The SQLite database to copy from.
    #[arg(long, value_name = "SQLITE_PATH")]
    pub from: PathBuf,
    /// The PostgreSQL database to copy into (`postgres://USER@HOST:PORT/DATABASE`).
    #[arg(long, value_name = "POSTGRES_URL")]
    pub to: String,
    /// Rows per transaction.
    #[arg(long, default_value_t = DEFAULT_BATCH)]
    pub batch: usize,
    /// Copy the data but not the session files (TGSIFT_SESSION_KEY is then not needed).
    #[arg(long)]
    pub no_sessions: bool,
}

/// Runs `tgsift db …`.
pub async fn run(cmd: DbCommand) -> anyhow::Result<()> {
    match cmd {
        DbCommand::Copy(args) => copy(args).await,
    }
}

async fn copy(args: CopyArgs) -> anyhow::Result<()> {
    if !Location::of(Path::new(&args.to)).is_postgres() {
        return Err(UsageError(format!(
            "--to {:?} is not a PostgreSQL URL; write it as postgres://USER@HOST:PORT/DATABASE",
            args.to
        ))
        .into());
    }
    if !args.from.is_file() {
        return Err(UsageError(format!(
            "--from {}: no SQLite database there (the file of `storage.database` / --db)",
            args.from.display()
        ))
        .into());
    }
    // Checked before anything is written: without the key no session could be copied.
    let key = match args.no_sessions {
        true => None,
        false => Some(SessionKey::from_env().map_err(SessionError::from)?),
    };
    let target = PgStore::open(&args.to).await?;
    eprintln!(
        "copying {} into PostgreSQL {} ({} rows per batch)",
        args.from.display(),
        target.target(),
        args.batch
    );
    let options = CopyOptions {
        batch: args.batch,
        max_batches: None,
    };
    let report = copy_sqlite(&args.from, &target, options, |table, rows| {
        tracing::info!(table, rows, "copied");
    })
    .await?;
    if report.resumed {
        println!("went on from an interrupted copy");
    }
    println!(
        "{:<18} {:>10} {:>10} {:>10}",
        "table", "copied", "sqlite", "postgres"
    );
    for t in &report.tables {
        println!(
            "{:<18} {:>10} {:>10} {:>10}",
            t.table, t.rows, t.source_rows, t.target_rows
        );
    }
    if let Some(key) = key {
        copy_sessions(&args.from, &target, key).await?;
    }
    println!("done: point storage.database at the PostgreSQL URL and start the workers");
    Ok(())
}

/// Copies each account's session file into PostgreSQL (accounts keep their ids in the copy).
async fn copy_sessions(source: &Path, target: &PgStore, key: SessionKey) -> anyhow::Result<()> {
    let path = source.to_path_buf();
    let accounts = tokio::task::spawn_blocking(move || SqliteStore::open(&path)?.accounts())
        .await
        .context("reading the accounts")??;
    for account in accounts {
        let file = account.session_path.clone();
        if !file.is_file() {
            println!(
                "session of {}: no file at {}; log the account in on a worker",
                account.name,
                file.display()
            );
            continue;
        }
        let data = tokio::task::spawn_blocking(move || SqliteSession::open(&file)?.export_data())
            .await
            .context("reading a session file")??;
        match PgSession::import_data(target, account.id, key.clone(), None, &data).await {
            Ok(_) => println!(
                "session of {}: copied from {} (auth keys sealed)",
                account.name,
                account.session_path.display()
            ),
            Err(SessionError::SessionExists { .. }) => {
                println!(
                    "session of {}: already in PostgreSQL, kept as it is",
                    account.name
                )
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Runs `tgsift workers`: the workers of the configured database and the accounts each one serves.
pub async fn workers(loaded: &Loaded, json: bool) -> anyhow::Result<()> {
    let database = loaded
        .config
        .storage
        .database
        .to_string_lossy()
        .into_owned();
    let stale = Duration::from_secs(WORKER_STALE_SECS as u64);
    if Location::of(Path::new(&database)).is_postgres() {
        let store = PgStore::open(&database).await?;
        let workers = store.workers(stale).await?;
        let leases = store.leases().await?;
        if json {
            let value = serde_json::json!({ "workers": workers, "leases": leases });
            println!("{}", serde_json::to_string_pretty(&value)?);
            return Ok(());
        }
        if workers.is_empty() {
            println!("no worker has run on {}", store.target());
        }
        for w in &workers {
            let state = match (w.alive, w.stopped) {
                (true, _) => "alive",
                (false, true) => "stopped",
                (false, false) => "silent",
            };
            println!(
                "worker {} — pid {} on {}, tgsift {}, {state}, heard from {:.0} s ago; accounts: {}",
                w.id,
                w.pid,
                w.host,
                w.version,
                w.heartbeat_age,
                if w.accounts.is_empty() {
                    "none".to_string()
                } else {
                    w.accounts.join(", ")
                }
            );
        }
        let free: Vec<&str> = leases
            .iter()
            .filter(|l| l.owner.is_none() || l.expires_in.is_some_and(|s| s <= 0.0))
            .map(|l| l.account.as_str())
            .collect();
        if !free.is_empty() {
            println!("not served by any worker: {}", free.join(", "));
        }
        return Ok(());
    }
    let path = loaded.config.storage.database.clone();
    let rows = tokio::task::spawn_blocking(move || SqliteStore::open(&path)?.workers())
        .await
        .context("reading the workers")??;
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    let now = unix_now();
    if rows.is_empty() {
        println!("no worker has run on {}", database);
    }
    for w in rows {
        println!(
            "worker {} — pid {} on {}, tgsift {}, {}; an SQLite store has one worker, serving every account",
            w.id,
            w.pid,
            w.host,
            w.version,
            if w.is_alive(now) {
                "alive"
            } else {
                "not running"
            }
        );
    }
    Ok(())
}
