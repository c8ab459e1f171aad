//! `tgsift db copy` (an SQLite installation into PostgreSQL) and `tgsift workers` (who serves which
//! account).

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::jobs::cli_error;
use crate::config::Loaded;
use crate::ops;
use crate::ops::db::{Copying, DEFAULT_BATCH, SessionCopied, Workers};

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
pub(super) async fn run(cmd: DbCommand) -> anyhow::Result<()> {
    match cmd {
        DbCommand::Copy(args) => copy(args).await,
    }
}

async fn copy(args: CopyArgs) -> anyhow::Result<()> {
    let copy = Copying::start(&args.from, &args.to, !args.no_sessions)
        .await
        .map_err(cli_error)?;
    eprintln!(
        "copying {} into PostgreSQL {} ({} rows per batch)",
        args.from.display(),
        copy.target(),
        args.batch
    );
    let report = copy.tables(args.batch).await.map_err(cli_error)?;
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
    copy.sessions(|s| match s {
        SessionCopied::NoFile { account, path } => println!(
            "session of {account}: no file at {}; log the account in on a worker",
            path.display()
        ),
        SessionCopied::Copied { account, path } => println!(
            "session of {account}: copied from {} (auth keys sealed)",
            path.display()
        ),
        SessionCopied::Kept { account } => {
            println!("session of {account}: already in PostgreSQL, kept as it is")
        }
    })
    .await
    .map_err(cli_error)?;
    println!("done: point storage.database at the PostgreSQL URL and start the workers");
    Ok(())
}

/// How `workers` names a worker's state: a fresh heartbeat is not enough when the process is known to
/// be gone (killed on this machine).
fn worker_state(alive: bool, stopped: bool, host: &str, pid: i64) -> &'static str {
    let gone = crate::telegram::session_lock::vanished(host, pid);
    match (alive && !gone, stopped) {
        (true, _) => "alive",
        (false, true) => "stopped",
        (false, false) if gone => "gone (its process no longer exists)",
        (false, false) => "silent",
    }
}

/// The error a worker stopped with, as a suffix of its line.
fn exit_error(error: Option<&str>) -> String {
    error.map_or_else(String::new, |e| format!("\n    stopped with an error: {e}"))
}

/// Runs `tgsift workers`: the workers of the configured database and the accounts each one serves.
pub(super) async fn workers(loaded: &Loaded, json: bool) -> anyhow::Result<()> {
    let found = ops::db::workers(&loaded.config.storage.database)
        .await
        .map_err(cli_error)?;
    match found {
        Workers::Postgres {
            database,
            workers,
            leases,
        } => {
            if json {
                let value = serde_json::json!({ "workers": workers, "leases": leases });
                println!("{}", serde_json::to_string_pretty(&value)?);
                return Ok(());
            }
            if workers.is_empty() {
                println!("no worker has run on {database}");
            }
            for w in &workers {
                let state = worker_state(w.alive, w.stopped, &w.host, w.pid);
                println!(
                    "worker {} — pid {} on {}, tgsift {}, {state}, heard from {:.0} s ago; accounts: {}{}",
                    w.id,
                    w.pid,
                    w.host,
                    w.version,
                    w.heartbeat_age,
                    if w.accounts.is_empty() {
                        "none".to_string()
                    } else {
                        w.accounts.join(", ")
                    },
                    exit_error(w.exit_error.as_deref())
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
        }
        Workers::Sqlite {
            database,
            workers,
            now,
        } => {
            if json {
                println!("{}", serde_json::to_string_pretty(&workers)?);
                return Ok(());
            }
            if workers.is_empty() {
                println!("no worker has run on {database}");
            }
            for w in workers {
                println!(
                    "worker {} — pid {} on {}, tgsift {}, {}; an SQLite store has one worker, serving every account{}",
                    w.id,
                    w.pid,
                    w.host,
                    w.version,
                    worker_state(
                        w.is_alive(now),
                        w.stopped_at.is_some(),
                        &w.host,
                        i64::from(w.pid)
                    ),
                    exit_error(w.exit_error.as_deref())
                );
            }
        }
    }
    Ok(())
}
