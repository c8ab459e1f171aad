//! `tgsift db copy`: moves an SQLite installation's data into the PostgreSQL store.
//!
//! Tables are copied in the order their references need (accounts before channels before posts …),
//! each in batches in the order of its leading key, with SQLite's row ids kept so the references
//! between rows stay right. Every batch is one PostgreSQL transaction that upserts its rows (`ON
//! CONFLICT … DO UPDATE`) and records how far the table got (`copy_progress`), so:
//!
//! - an interrupted copy, run again, goes on after the last committed batch (resumable);
//! - a copy run again after it finished starts over and leaves PostgreSQL equal to the SQLite file
//!   again, without duplicating anything (idempotent) — the way to catch up before switching over.
//!
//! Not copied: the workers' registry and their tasks (process state), the search queue and index
//! (PostgreSQL indexes on its own), the dashboard's sign-ins (users sign in again), and `tag_names`
//! (the copied tags are named at the end, as migration V8 names them). Sessions are files,
//! not rows: the command copies them separately (`cli::db`), sealed with `TGSIFT_SESSION_KEY`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use rusqlite::types::Value;
use tokio_postgres::types::ToSql;

use super::{PgError, PgStore};
use crate::{SqliteStore, StoreError};

/// Rows per batch unless told otherwise: large enough that round trips do not dominate, small enough
/// that an interrupted copy loses little.
pub const DEFAULT_BATCH: usize = 5_000;

/// How a column is stored in PostgreSQL (SQLite's `INTEGER` flags become `BOOLEAN`; no copied
/// table has a blob column).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Int,
    Bool,
    Real,
    Text,
}

/// One table to copy: its columns (the first is the leading key batches are cut on) and its key.
struct Table {
    name: &'static str,
    columns: &'static [(&'static str, Kind)],
    /// The conflict target (primary key).
    key: &'static [&'static str],
    /// Whether `id` is an identity whose sequence must move past the copied ids.
    identity: bool,
}

use Kind::{Bool, Int, Real, Text};

/// Every copied table, parents first.
const TABLES: &[Table] = &[
    Table {
        name: "accounts",
        columns: &[
            ("id", Int),
            ("name", Text),
            ("phone", Text),
            ("user_id", Int),
            ("disabled_reason", Text),
            ("state", Text),
            ("identity", Text),
            ("created_at", Int),
        ],
        key: &["id"],
        identity: true,
    },
    Table {
        name: "channels",
        columns: &[
            ("id", Int),
            ("account_id", Int),
            ("tg_id", Int),
            ("access_hash", Int),
            ("username", Text),
            ("title", Text),
            ("active", Bool),
            ("backfill", Text),
            ("last_message_id", Int),
            ("flood_until", Int),
            ("last_fetch_at", Int),
            ("last_error", Text),
            ("created_at", Int),
            ("failures", Int),
            ("parked_at", Int),
            ("comments", Bool),
            ("linked_chat_id", Int),
            ("linked_access_hash", Int),
            ("left_at", Int),
        ],
        key: &["id"],
        identity: true,
    },
    Table {
        name: "posts",
        columns: &[
            ("id", Int),
            ("channel_id", Int),
            ("message_id", Int),
            ("date", Int),
            ("edit_date", Int),
            ("text", Text),
            ("views", Int),
            ("forwards", Int),
            ("grouped_id", Int),
            ("has_media", Bool),
            ("fetched_at", Int),
            ("tagging_status", Text),
            ("tagging_attempts", Int),
            ("last_tagging_attempt", Int),
            ("tagging_error", Text),
            ("next_tagging_at", Int),
            ("tagging_claimed_until", Int),
            ("tagging_claim", Int),
            ("deleted_at", Int),
            ("stored_at_ms", Int),
            ("tagged_at_ms", Int),
            ("hidden_at", Int),
            ("replies", Int),
            ("reactions", Text),
            ("counts_at", Int),
            ("replies_max_id", Int),
        ],
        key: &["id"],
        identity: true,
    },
    Table {
        name: "post_tags",
        columns: &[
            ("post_id", Int),
            ("tag", Text),
            ("score", Real),
            ("source", Text),
        ],
        key: &["post_id", "tag"],
        identity: false,
    },
    Table {
        name: "post_media",
        columns: &[
            ("post_id", Int),
            ("kind", Text),
            ("mime", Text),
            ("size", Int),
            ("file_name", Text),
            ("width", Int),
            ("height", Int),
            ("duration", Int),
            ("file_id", Int),
            ("access_hash", Int),
            ("dc_id", Int),
            ("title", Text),
        ],
        key: &["post_id"],
        identity: false,
    },
    Table {
        name: "post_counts",
        columns: &[
            ("post_id", Int),
            ("at", Int),
            ("views", Int),
            ("forwards", Int),
            ("replies", Int),
            ("reactions", Text),
        ],
        key: &["post_id", "at"],
        identity: false,
    },
    Table {
        name: "media_files",
        columns: &[
            ("file_id", Int),
            ("status", Text),
            ("attempts", Int),
            ("next_at", Int),
            ("size", Int),
            ("sha256", Text),
            ("path", Text),
            ("error", Text),
            ("queued_at", Int),
            ("done_at", Int),
        ],
        key: &["file_id"],
        identity: false,
    },
    Table {
        name: "comment_threads",
        columns: &[
            ("post_id", Int),
            ("section", Bool),
            ("seen", Int),
            ("max_id", Int),
            ("fetched_at", Int),
            ("root_id", Int),
        ],
        key: &["post_id"],
        identity: false,
    },
    Table {
        name: "comments",
        columns: &[
            ("id", Int),
            ("post_id", Int),
            ("message_id", Int),
            ("reply_to", Int),
            ("sender_kind", Text),
            ("sender_id", Int),
            ("author", Text),
            ("date", Int),
            ("edit_date", Int),
            ("text", Text),
            ("has_media", Bool),
            ("fetched_at", Int),
            ("deleted_at", Int),
            ("tags", Text),
        ],
        key: &["id"],
        identity: true,
    },
    Table {
        name: "fetched_ranges",
        columns: &[
            ("id", Int),
            ("channel_id", Int),
            ("from_id", Int),
            ("to_id", Int),
            ("fetched_at", Int),
            ("answered", Int),
        ],
        key: &["id"],
        identity: true,
    },
    Table {
        name: "post_versions",
        columns: &[
            ("id", Int),
            ("post_id", Int),
            ("text", Text),
            ("edit_date", Int),
            ("replaced_at", Int),
        ],
        key: &["id"],
        identity: true,
    },
    Table {
        name: "message_deletions",
        columns: &[
            ("channel_id", Int),
            ("message_id", Int),
            ("deleted_at", Int),
        ],
        key: &["channel_id", "message_id"],
        identity: false,
    },
    Table {
        name: "channel_live",
        columns: &[
            ("channel_id", Int),
            ("pts", Int),
            ("member", Bool),
            ("updated_at", Int),
        ],
        key: &["channel_id"],
        identity: false,
    },
    Table {
        name: "dialog_imports",
        columns: &[
            ("account_id", Int),
            ("options", Text),
            ("offset_date", Int),
            ("offset_id", Int),
            ("offset_peer_kind", Text),
            ("offset_peer_id", Int),
            ("offset_peer_hash", Int),
            ("pages", Int),
            ("dialogs", Int),
            ("followed", Int),
            ("started_at", Int),
            ("updated_at", Int),
            ("finished_at", Int),
        ],
        key: &["account_id"],
        identity: false,
    },
    Table {
        name: "pacer_state",
        columns: &[
            ("account_id", Int),
            ("method", Text),
            ("rate", Real),
            ("ceiling", Real),
            ("updated_at", Int),
            ("hold_until_ms", Int),
        ],
        key: &["account_id", "method"],
        identity: false,
    },
    Table {
        name: "flood_windows",
        columns: &[("account_id", Int), ("method", Text), ("until_ms", Int)],
        key: &["account_id", "method"],
        identity: false,
    },
    Table {
        name: "budget_calls",
        columns: &[("account_id", Int), ("method", Text), ("at_ms", Int)],
        key: &["account_id", "method", "at_ms"],
        identity: false,
    },
    Table {
        name: "breaker_state",
        columns: &[
            ("account_id", Int),
            ("failures", Int),
            ("open_until_ms", Int),
            ("updated_at", Int),
            ("opened_at_ms", Int),
        ],
        key: &["account_id"],
        identity: false,
    },
    Table {
        name: "account_activity",
        columns: &[
            ("account_id", Int),
            ("day", Int),
            ("floods", Int),
            ("retries", Int),
        ],
        key: &["account_id", "day"],
        identity: false,
    },
    Table {
        name: "jobs",
        columns: &[
            ("id", Int),
            ("kind", Text),
            ("args", Text),
            ("state", Text),
            ("attempts", Int),
            ("last_error", Text),
            ("created_at", Int),
            ("started_at", Int),
            ("finished_at", Int),
            ("updated_at", Int),
            ("progress", Text),
            ("result", Text),
            ("max_attempts", Int),
            ("not_before", Int),
            ("cancel_requested", Bool),
            ("worker_id", Int),
            ("account_id", Int),
        ],
        key: &["id"],
        identity: true,
    },
    Table {
        name: "alerts",
        columns: &[
            ("id", Int),
            ("kind", Text),
            ("dedup_key", Text),
            ("sink", Text),
            ("account", Text),
            ("message", Text),
            ("details", Text),
            ("created_at", Int),
            ("attempts", Int),
            ("next_at", Int),
            ("delivered_at", Int),
            ("failed_at", Int),
            ("last_error", Text),
        ],
        key: &["id"],
        identity: true,
    },
    Table {
        name: "watches",
        columns: &[
            ("id", Int),
            ("name", Text),
            ("tag", Text),
            ("query", Text),
            ("channels", Text),
            ("sink", Text),
            ("every", Int),
            ("account", Text),
            ("created_at", Int),
            ("last_digest_at", Int),
        ],
        key: &["id"],
        identity: true,
    },
    Table {
        name: "watch_queue",
        columns: &[("post_id", Int), ("queued_at", Int), ("decided", Bool)],
        key: &["post_id"],
        identity: false,
    },
    Table {
        name: "watch_hits",
        columns: &[
            ("watch_id", Int),
            ("post_id", Int),
            ("matched_at", Int),
            ("attempts", Int),
            ("next_attempt_at", Int),
            ("delivered_at", Int),
            ("last_error", Text),
        ],
        key: &["watch_id", "post_id"],
        identity: false,
    },
];

/// The names of the copied tables, parents first (for reports and tests).
pub fn copied_tables() -> impl Iterator<Item = &'static str> {
    TABLES.iter().map(|t| t.name)
}

/// What can stop a copy; the rows committed before it stay, and running the copy again goes on.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// The SQLite file cannot be opened or read.
    #[error(transparent)]
    Source(#[from] StoreError),
    /// PostgreSQL refused or failed.
    #[error(transparent)]
    Target(#[from] PgError),
    /// A value in the SQLite file does not fit its column (the file was edited by hand or damaged).
    #[error(
        "{} table {table}, column {column}, row with key {key}: {found} does not fit (expected {expected}); \
         fix or delete that row in the SQLite file and run the copy again",
        .source_path.display()
    )]
    Value {
        /// The SQLite file.
        source_path: PathBuf,
        /// Table.
        table: &'static str,
        /// Column.
        column: &'static str,
        /// The row's leading key.
        key: i64,
        /// What was found.
        found: String,
        /// What the column takes.
        expected: &'static str,
    },
}

/// How a copy is run.
#[derive(Clone, Copy, Debug)]
pub struct CopyOptions {
    /// Rows per batch (at least 1).
    pub batch: usize,
    /// Stop after this many batches in all (tests interrupt a copy this way).
    pub max_batches: Option<usize>,
}

impl Default for CopyOptions {
    fn default() -> Self {
        CopyOptions {
            batch: DEFAULT_BATCH,
            max_batches: None,
        }
    }
}

/// One table's part of a copy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableCopied {
    /// Table name.
    pub table: &'static str,
    /// Rows written by this run.
    pub rows: u64,
    /// Rows the table has in SQLite and in PostgreSQL after this run (equal once complete).
    pub source_rows: u64,
    /// Rows in PostgreSQL.
    pub target_rows: u64,
}

/// What a copy did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CopyReport {
    /// Whether this run went on from an interrupted one.
    pub resumed: bool,
    /// Whether every table was copied to its end (false when stopped by `max_batches`).
    pub complete: bool,
    /// Per table, parents first.
    pub tables: Vec<TableCopied>,
}

/// Column values of one batch, column by column (PostgreSQL takes each as one array).
enum Values {
    Int(Vec<Option<i64>>),
    Bool(Vec<Option<bool>>),
    Real(Vec<Option<f64>>),
    Text(Vec<Option<String>>),
}

impl Values {
    fn new(kind: Kind) -> Self {
        match kind {
            Int => Values::Int(Vec::new()),
            Bool => Values::Bool(Vec::new()),
            Real => Values::Real(Vec::new()),
            Text => Values::Text(Vec::new()),
        }
    }

    /// Appends `value`; `Err` names what was found when it does not fit.
    fn push(&mut self, value: Value) -> Result<(), String> {
        match (self, value) {
            (Values::Int(v), Value::Null) => v.push(None),
            (Values::Int(v), Value::Integer(i)) => v.push(Some(i)),
            (Values::Bool(v), Value::Null) => v.push(None),
            (Values::Bool(v), Value::Integer(i @ (0 | 1))) => v.push(Some(i == 1)),
            (Values::Real(v), Value::Null) => v.push(None),
            (Values::Real(v), Value::Real(f)) => v.push(Some(f)),
            (Values::Real(v), Value::Integer(i)) => v.push(Some(i as f64)),
            (Values::Text(v), Value::Null) => v.push(None),
            (Values::Text(v), Value::Text(s)) => v.push(Some(s)),
            (_, other) => return Err(describe_value(&other)),
        }
        Ok(())
    }

    fn as_param(&self) -> &(dyn ToSql + Sync) {
        match self {
            Values::Int(v) => v,
            Values::Bool(v) => v,
            Values::Real(v) => v,
            Values::Text(v) => v,
        }
    }
}

fn describe_value(value: &Value) -> String {
    match value {
        Value::Null => "NULL".into(),
        Value::Integer(i) => format!("the integer {i}"),
        Value::Real(f) => format!("the number {f}"),
        Value::Text(s) => format!("the text {:?}", s.chars().take(40).collect::<String>()),
        Value::Blob(b) => format!("a blob of {} bytes", b.len()),
    }
}

fn expected(kind: Kind) -> &'static str {
    match kind {
        Int => "an integer",
        Bool => "0 or 1",
        Real => "a number",
        Text => "text",
    }
}

fn pg_array_type(kind: Kind) -> &'static str {
    match kind {
        Int => "bigint[]",
        Bool => "boolean[]",
        Real => "float8[]",
        Text => "text[]",
    }
}

/// One batch read from SQLite.
struct Batch {
    columns: Vec<Values>,
    rows: usize,
    /// The leading key of the batch's last row.
    last_key: i64,
}

/// Copies the data of the SQLite database at `source` into `target` (see the module doc).
pub async fn copy_sqlite(
    source: &Path,
    target: &PgStore,
    options: CopyOptions,
    mut progress: impl FnMut(&'static str, u64),
) -> Result<CopyReport, CopyError> {
    let batch_size = options.batch.max(1);
    let source_key = std::fs::canonicalize(source)
        .unwrap_or_else(|_| source.to_path_buf())
        .display()
        .to_string();
    let path = source.to_path_buf();
    let store = tokio::task::spawn_blocking(move || SqliteStore::open(&path))
        .await
        .map_err(|e| StoreError::Task {
            what: "open the SQLite database".into(),
            reason: e.to_string(),
        })??;
    let store = Arc::new(Mutex::new(store));

    // Where each table got to; all done (or nothing) means this run starts from the beginning.
    let done = load_progress(target, &source_key).await?;
    let finished = !done.is_empty()
        && TABLES.iter().all(|t| {
            done.iter()
                .any(|(name, _, complete)| name == t.name && *complete)
        });
    let resumed = !done.is_empty() && !finished;
    if !resumed {
        reset_progress(target, &source_key).await?;
    }

    let mut report = CopyReport {
        resumed,
        complete: false,
        tables: Vec::new(),
    };
    let mut batches = 0usize;
    let mut stopped = false;
    for table in TABLES {
        let (mut last_key, already_done) = match done.iter().find(|(name, ..)| name == table.name) {
            Some((_, key, complete)) if resumed => (Some(*key), *complete),
            _ => (None, false),
        };
        let mut rows = 0u64;
        if !already_done && !stopped {
            loop {
                if options.max_batches.is_some_and(|max| batches >= max) {
                    stopped = true;
                    break;
                }
                let batch = read_batch(&store, source, table, last_key, batch_size).await?;
                let Some(batch) = batch else {
                    mark_done(target, &source_key, table, last_key.unwrap_or(i64::MIN)).await?;
                    break;
                };
                write_batch(target, &source_key, table, &batch).await?;
                batches += 1;
                rows += batch.rows as u64;
                last_key = Some(batch.last_key);
                progress(table.name, rows);
            }
        }
        let source_rows = count_source(&store, table).await?;
        let target_rows = count_target(target, table).await?;
        report.tables.push(TableCopied {
            table: table.name,
            rows,
            source_rows,
            target_rows,
        });
    }
    report.complete = !stopped;
    if report.complete {
        let used = highest_ids_used(&store).await?;
        finish(target, &used).await?;
    }
    Ok(report)
}

async fn blocking<T: Send + 'static>(
    store: &Arc<Mutex<SqliteStore>>,
    what: &'static str,
    f: impl FnOnce(&SqliteStore) -> Result<T, CopyError> + Send + 'static,
) -> Result<T, CopyError> {
    let store = Arc::clone(store);
    tokio::task::spawn_blocking(move || {
        let store = store.lock().unwrap_or_else(PoisonError::into_inner);
        f(&store)
    })
    .await
    .map_err(|e| {
        CopyError::Source(StoreError::Task {
            what: what.into(),
            reason: e.to_string(),
        })
    })?
}

/// The next batch of `table` after leading key `after`: `batch` rows, plus the rest of the rows that
/// share the last row's leading key (so a batch never splits a key).
async fn read_batch(
    store: &Arc<Mutex<SqliteStore>>,
    source: &Path,
    table: &'static Table,
    after: Option<i64>,
    batch: usize,
) -> Result<Option<Batch>, CopyError> {
    let source = source.to_path_buf();
    blocking(store, "read a batch from SQLite", move |store| {
        let lead = table.columns[0].0;
        let after = after.unwrap_or(i64::MIN);
        let list: Vec<&str> = table.columns.iter().map(|(c, _)| *c).collect();
        let cutoff: Option<i64> = store.read("find the end of a copy batch", |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {lead} FROM {t} WHERE {lead} > ?1 ORDER BY {lead} LIMIT 1 OFFSET ?2",
                t = table.name
            ))?;
            let mut rows = stmt.query(rusqlite::params![after, (batch - 1) as i64])?;
            rows.next()?.map(|r| r.get(0)).transpose()
        })?;
        let sql = format!(
            "SELECT {cols} FROM {t} WHERE {lead} > ?1 AND {lead} <= ?2 ORDER BY {lead}",
            cols = list.join(", "),
            t = table.name
        );
        let raw: Vec<Vec<Value>> = store.read("read a copy batch", |conn| {
            let mut stmt = conn.prepare_cached(&sql)?;
            let rows = stmt
                .query_map(rusqlite::params![after, cutoff.unwrap_or(i64::MAX)], |r| {
                    (0..list.len()).map(|i| r.get::<_, Value>(i)).collect()
                })?;
            rows.collect()
        })?;
        if raw.is_empty() {
            return Ok(None);
        }
        let mut columns: Vec<Values> = table.columns.iter().map(|(_, k)| Values::new(*k)).collect();
        let mut last_key = after;
        for row in raw.iter() {
            let key = match row.first() {
                Some(Value::Integer(k)) => *k,
                _ => after,
            };
            last_key = key;
            for ((value, values), (column, kind)) in
                row.iter().zip(columns.iter_mut()).zip(table.columns)
            {
                values
                    .push(value.clone())
                    .map_err(|found| CopyError::Value {
                        source_path: source.clone(),
                        table: table.name,
                        column,
                        key,
                        found,
                        expected: expected(*kind),
                    })?;
            }
        }
        Ok(Some(Batch {
            columns,
            rows: raw.len(),
            last_key,
        }))
    })
    .await
}

/// Upserts one batch and records it in `copy_progress`, in one transaction.
async fn write_batch(
    target: &PgStore,
    source_key: &str,
    table: &Table,
    batch: &Batch,
) -> Result<(), CopyError> {
    let what = "write a copy batch";
    let names: Vec<&str> = table.columns.iter().map(|(c, _)| *c).collect();
    let unnest: Vec<String> = table
        .columns
        .iter()
        .enumerate()
        .map(|(i, (_, kind))| format!("${}::{}", i + 1, pg_array_type(*kind)))
        .collect();
    let updates: Vec<String> = names
        .iter()
        .filter(|c| !table.key.contains(c))
        .map(|c| format!("{c} = excluded.{c}"))
        .collect();
    let on_conflict = if updates.is_empty() {
        "DO NOTHING".to_string()
    } else {
        format!("DO UPDATE SET {}", updates.join(", "))
    };
    let sql = format!(
        "INSERT INTO {t} ({cols}) SELECT * FROM unnest({unnest}) ON CONFLICT ({key}) {on_conflict}",
        t = table.name,
        cols = names.join(", "),
        unnest = unnest.join(", "),
        key = table.key.join(", "),
    );
    let params: Vec<&(dyn ToSql + Sync)> = batch.columns.iter().map(Values::as_param).collect();
    let mut client = target.client(what).await?;
    let tx = client.transaction().await.map_err(PgError::sql(what))?;
    tx.execute(&sql, &params)
        .await
        .map_err(PgError::sql(what))?;
    if table.name == "accounts" {
        tx.execute(
            "INSERT INTO account_leases (account_id) SELECT id FROM accounts ON CONFLICT DO NOTHING",
            &[],
        )
        .await
        .map_err(PgError::sql(what))?;
    }
    tx.execute(
        "INSERT INTO copy_progress (source, table_name, last_key, done) VALUES ($1, $2, $3, false)
         ON CONFLICT (source, table_name) DO UPDATE SET last_key = excluded.last_key, done = false",
        &[&source_key, &table.name, &batch.last_key],
    )
    .await
    .map_err(PgError::sql(what))?;
    tx.commit().await.map_err(PgError::sql(what))?;
    Ok(())
}

async fn load_progress(
    target: &PgStore,
    source_key: &str,
) -> Result<Vec<(String, i64, bool)>, CopyError> {
    let what = "read the copy's progress";
    let client = target.client(what).await?;
    let rows = client
        .query(
            "SELECT table_name, last_key, done FROM copy_progress WHERE source = $1",
            &[&source_key],
        )
        .await
        .map_err(PgError::sql(what))?;
    Ok(rows
        .into_iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect())
}

async fn reset_progress(target: &PgStore, source_key: &str) -> Result<(), CopyError> {
    let what = "start the copy's progress";
    let client = target.client(what).await?;
    client
        .execute(
            "DELETE FROM copy_progress WHERE source = $1",
            &[&source_key],
        )
        .await
        .map_err(PgError::sql(what))?;
    Ok(())
}

async fn mark_done(
    target: &PgStore,
    source_key: &str,
    table: &Table,
    last_key: i64,
) -> Result<(), CopyError> {
    let what = "record a copied table";
    let client = target.client(what).await?;
    client
        .execute(
            "INSERT INTO copy_progress (source, table_name, last_key, done) VALUES ($1, $2, $3, true)
             ON CONFLICT (source, table_name) DO UPDATE SET done = true",
            &[&source_key, &table.name, &last_key],
        )
        .await
        .map_err(PgError::sql(what))?;
    Ok(())
}

/// The highest id SQLite ever handed out per table (`sqlite_sequence`), removed rows included.
async fn highest_ids_used(
    store: &Arc<Mutex<SqliteStore>>,
) -> Result<Vec<(String, i64)>, CopyError> {
    blocking(store, "read the SQLite id sequences", |store| {
        Ok(store.read("read the id sequences", |conn| {
            conn.prepare("SELECT name, seq FROM sqlite_sequence")?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()
        })?)
    })
    .await
}

/// Moves every identity past the copied ids and past every id the source ever handed out (`used`),
/// so rows PostgreSQL numbers itself neither collide nor take an id a removed row had.
async fn finish(target: &PgStore, used: &[(String, i64)]) -> Result<(), CopyError> {
    // Tags are copied without their names (`tag_names` is keyed by text, not cut into batches like
    // the tables above): they are named here as migration V8 names them, keeping the names
    // PostgreSQL already has.
    let what = "name the copied tags";
    let mut client = target.client(what).await?;
    let tx = client.transaction().await.map_err(PgError::sql(what))?;
    super::backend::tagging::name_stored_tags(&tx)
        .await
        .map_err(PgError::sql(what))?;
    tx.commit().await.map_err(PgError::sql(what))?;
    let what = "move the id sequences past the copied rows";
    for table in TABLES.iter().filter(|t| t.identity) {
        let used = used
            .iter()
            .find(|(name, _)| name == table.name)
            .map_or(0, |(_, seq)| *seq);
        client
            .execute(
                &format!(
                    "SELECT setval(pg_get_serial_sequence('{t}', 'id'),
                                   greatest(coalesce((SELECT max(id) FROM {t}), 0), $1) + 1, false)",
                    t = table.name
                ),
                &[&used],
            )
            .await
            .map_err(PgError::sql(what))?;
    }
    Ok(())
}

async fn count_source(
    store: &Arc<Mutex<SqliteStore>>,
    table: &'static Table,
) -> Result<u64, CopyError> {
    blocking(store, "count rows in SQLite", move |store| {
        let n: i64 = store.read("count rows", |conn| {
            conn.query_row(&format!("SELECT count(*) FROM {}", table.name), [], |r| {
                r.get(0)
            })
        })?;
        Ok(n as u64)
    })
    .await
}

async fn count_target(target: &PgStore, table: &Table) -> Result<u64, CopyError> {
    let what = "count rows in PostgreSQL";
    let client = target.client(what).await?;
    let n: i64 = client
        .query_one(&format!("SELECT count(*) FROM {}", table.name), &[])
        .await
        .map_err(PgError::sql(what))?
        .get(0);
    Ok(n as u64)
}

#[cfg(test)]
mod tests;
