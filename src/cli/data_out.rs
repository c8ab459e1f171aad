//! `tgsift backup`, `tgsift restore` and `tgsift stats`.

use std::path::Path;

use clap::Args;
use tgsift_store::BackupError;

use super::UsageError;
use super::tags::Period;
use crate::config::Loaded;
use crate::ops::backup::{RestoreError, restore};
use crate::ops::stats::{Stats, StatsQuery};

/// Options of `stats`.
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// `@username`, numeric channel id, or `#row`; repeat for several; all channels when absent.
    #[arg(long = "channel", value_name = "CHANNEL")]
    pub channels: Vec<String>,
    /// First day of the period (YYYY-MM-DD, UTC); default: the last 7 days, today included.
    #[arg(long)]
    pub since: Option<String>,
    /// End of the period, exclusive (YYYY-MM-DD, UTC); default: now.
    #[arg(long)]
    pub until: Option<String>,
    /// How many top tags.
    #[arg(long, default_value_t = 10, value_parser = super::tags::at_least_one())]
    pub top: usize,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

/// A backup error as the CLI reports it: problems with the files named are usage errors (exit 2).
fn classify(e: BackupError) -> anyhow::Error {
    if e.is_usage() {
        UsageError(e.to_string()).into()
    } else {
        e.into()
    }
}

fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b => format!("{:.1} KiB", b as f64 / 1024.0),
    }
}

/// A backup or restore error as the CLI reports it: refusals and problems with the files named are
/// usage errors (exit 2).
fn backup_error(e: RestoreError) -> anyhow::Error {
    match e {
        RestoreError::Refused(m) => UsageError(m).into(),
        RestoreError::Backup(e) => classify(e),
        RestoreError::Store(e) => e.into(),
    }
}

/// `tgsift backup FILE`.
pub(super) fn backup(loaded: &Loaded, file: &Path) -> anyhow::Result<()> {
    let db = &loaded.config.storage.database;
    let info = crate::ops::backup::backup(db, file).map_err(backup_error)?;
    println!(
        "backed up {} to {}: {} post(s) of {} channel(s), {}, schema version {}, integrity ok",
        db.display(),
        file.display(),
        info.posts,
        info.channels,
        size(info.bytes),
        info.schema_version
    );
    Ok(())
}

/// `tgsift restore FILE`.
pub(super) fn restore_cmd(loaded: &Loaded, file: &Path) -> anyhow::Result<()> {
    let db = &loaded.config.storage.database;
    let done = restore(db, file).map_err(backup_error)?;
    println!(
        "restored {} into {}: {} post(s) of {} channel(s), schema version {}",
        file.display(),
        db.display(),
        done.info.posts,
        done.info.channels,
        done.info.schema_version
    );
    if let Some(kept) = &done.kept {
        println!("the database it replaced is kept as {}", kept.display());
    }
    Ok(())
}

/// `tgsift stats`.
pub(super) fn stats(loaded: &Loaded, a: &StatsArgs) -> anyhow::Result<()> {
    // The last 7 days, today included (also when the posts are older: its floods and retries are
    // today's; `fit` names the dates that have posts).
    let mut period = Period::from_args(&a.since, &a.until, |until| {
        until - until.rem_euclid(86_400) - 6 * 86_400
    })?;
    let s = super::admin(loaded, async |ops| {
        let channel_ids = ops.channel_ids(&a.channels).await?;
        period.fit(ops, channel_ids.clone(), false).await?;
        let q = StatsQuery {
            channel_ids,
            since: period.since,
            until: period.until,
            top: a.top,
        };
        ops.stats(q).await
    })?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&s)?);
    } else {
        print!("{}", render(&s));
    }
    Ok(())
}

/// Channels shown as columns of the per-day table; the rest are summed in "others".
const COLUMNS: usize = 6;

/// The report as text: a table of days × channels, then tags, statuses, floods and retries.
fn render(s: &Stats) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let last = s.days.last().cloned().unwrap_or_default();
    let _ = writeln!(
        out,
        "{} – {} (UTC): {} post(s) in {} channel(s)",
        s.days.first().cloned().unwrap_or_default(),
        last,
        s.posts,
        s.channels.len()
    );
    let shown = &s.channels[..s.channels.len().min(COLUMNS)];
    let others = &s.channels[shown.len()..];
    let width = |name: &str| name.chars().count().max(6);
    let _ = write!(out, "\nposts per day\n  {:<10}", "day");
    for c in shown {
        let _ = write!(out, "  {:>w$}", c.channel, w = width(&c.channel));
    }
    if !others.is_empty() {
        let _ = write!(out, "  {:>6}", format!("+{}", others.len()));
    }
    let _ = writeln!(out, "  {:>7}", "total");
    for (i, day) in s.days.iter().enumerate() {
        let _ = write!(out, "  {day:<10}");
        let mut total = 0;
        for c in shown {
            let n = c.per_day.get(i).map_or(0, |d| d.posts);
            total += n;
            let _ = write!(out, "  {:>w$}", n, w = width(&c.channel));
        }
        if !others.is_empty() {
            let n: i64 = others
                .iter()
                .map(|c| c.per_day.get(i).map_or(0, |d| d.posts))
                .sum();
            total += n;
            let _ = write!(out, "  {n:>6}");
        }
        let _ = writeln!(out, "  {total:>7}");
    }
    let _ = write!(out, "  {:<10}", "total");
    for c in shown {
        let _ = write!(out, "  {:>w$}", c.posts, w = width(&c.channel));
    }
    if !others.is_empty() {
        let _ = write!(out, "  {:>6}", others.iter().map(|c| c.posts).sum::<i64>());
    }
    let _ = writeln!(out, "  {:>7}", s.posts);

    let _ = writeln!(out, "\ntop tags (posts, period before, change)");
    if s.top_tags.is_empty() {
        let _ = writeln!(out, "  no tagged posts in this period");
    }
    for t in &s.top_tags {
        let change = if t.previous == 0 {
            "new".to_owned()
        } else {
            format!("{:+}", t.change)
        };
        let _ = writeln!(
            out,
            "  {:<32} {:>6} {:>6} {:>6}",
            t.tag, t.posts, t.previous, change
        );
    }
    let _ = writeln!(out, "\ntagging");
    if s.tagging.is_empty() {
        let _ = writeln!(out, "  no posts in this period");
    }
    for (status, n) in &s.tagging {
        let _ = writeln!(out, "  {status:<9} {n:>7}");
    }
    let _ = writeln!(out, "\nFLOOD_WAITs: {}  retries: {}", s.floods, s.retries);
    for a in &s.activity {
        let _ = writeln!(
            out,
            "  {}  {:<16} floods {:>5}  retries {:>5}",
            a.day, a.account, a.floods, a.retries
        );
    }
    out
}
