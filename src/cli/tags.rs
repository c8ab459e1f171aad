//! `tgsift tags …` and `tgsift posts …`: tagging administration and reading stored posts.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Subcommand};
use tgsift_store::{
    ExportError, ExportFilter, Media, MediaFilter, MediaKind, PostFilter, PostRow, SearchQuery,
    TaggingStatus, match_expression,
};
use tokio_util::sync::CancellationToken;

use super::UsageError;
use super::jobs::cli_error;
use crate::config::Loaded;
use crate::ops::export::{Format, Summary, iso};
use crate::ops::posts::ExportTo;
use crate::ops::stats::day_label;
use crate::ops::{Ops, OpsError};
use crate::tagging::worker::Outcome;

/// Parses `--status`: clap lists [`TaggingStatus::ALL`] as the possible values in help and errors.
fn status_parser() -> impl TypedValueParser<Value = TaggingStatus> {
    PossibleValuesParser::new(TaggingStatus::ALL.map(TaggingStatus::as_str))
        .try_map(|s| s.parse::<TaggingStatus>())
}

/// `--media any|photo|video|…`, the choices listed in `--help`.
fn media_parser() -> impl TypedValueParser<Value = MediaFilter> {
    let mut names = vec!["any"];
    names.extend(MediaKind::ALL.map(MediaKind::as_str));
    PossibleValuesParser::new(names).try_map(|s| MediaFilter::parse(&s))
}

/// `tgsift tags …`.
#[derive(Debug, Subcommand)]
pub enum TagsCommand {
    /// Totals: posts, with tags, needing retry, per status; backend and max attempts.
    Stats {
        /// Only this account's posts.
        #[arg(long)]
        account: Option<String>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Re-queue `retrying` posts (with --force also `failed` ones); returns at once unless --wait.
    Retry {
        /// Only this account's posts.
        #[arg(long)]
        account: Option<String>,
        /// At most this many posts.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Include posts whose attempts are exhausted (`failed`).
        #[arg(long)]
        force: bool,
        /// Tag them now and report, instead of leaving them to the service.
        #[arg(long)]
        wait: bool,
    },
    /// Re-tag one post now and print its new tags.
    Regenerate {
        /// Post row id (see `posts list`).
        post_id: i64,
    },
    /// Tag posts again, replacing their tags: one channel or all, a range of message ids or all (a job;
    /// the tagging task or `tags run` does the tagging).
    Retag {
        /// `@username`, numeric id, or `#row` (default: every channel).
        #[arg(long)]
        channel: Option<String>,
        /// First message id.
        #[arg(long)]
        from_id: Option<i32>,
        /// Last message id.
        #[arg(long)]
        to_id: Option<i32>,
        /// Queue the job and return at once.
        #[arg(long)]
        no_wait: bool,
    },
    /// Tag everything due now and exit (for cron-style use).
    Run,
    /// The most frequent tags of a period and how they changed against the period before it.
    Top(TopArgs),
}

/// Options of `tags top`.
#[derive(Debug, Args)]
pub struct TopArgs {
    /// `@username`, numeric channel id, or `#row`; all channels when absent.
    #[arg(long)]
    pub channel: Option<String>,
    /// First day of the period (YYYY-MM-DD, UTC); default: 7 days before --until.
    #[arg(long)]
    pub since: Option<String>,
    /// End of the period, exclusive (YYYY-MM-DD, UTC); default: now.
    #[arg(long)]
    pub until: Option<String>,
    /// At most this many tags.
    #[arg(long, default_value_t = 20, value_parser = at_least_one())]
    pub limit: usize,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

/// `tgsift posts …`.
#[derive(Debug, Subcommand)]
pub enum PostsCommand {
    /// Stored posts, newest first.
    List(ListArgs),
    /// One post: text, tags with scores, tagging state.
    Show {
        /// Post row id.
        id: i64,
    },
    /// Every matching post as JSON Lines or CSV, streamed in post-id order (to a file, atomically,
    /// or to stdout).
    Export(ExportArgs),
    /// Full-text search (Russian and English, any inflection), best matches first.
    Search(SearchArgs),
}

/// Options of `posts export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Jsonl)]
    pub format: Format,
    /// `@username`, numeric channel id, or `#row`; repeat for several; all channels when absent.
    #[arg(long = "channel", value_name = "CHANNEL")]
    pub channels: Vec<String>,
    /// Only posts dated on or after this day (YYYY-MM-DD, UTC).
    #[arg(long)]
    pub since: Option<String>,
    /// Only posts dated before this day (YYYY-MM-DD, UTC).
    #[arg(long)]
    pub until: Option<String>,
    /// Only posts with this tag.
    #[arg(long)]
    pub tag: Option<String>,
    /// Only posts in this tagging status.
    #[arg(long, value_parser = status_parser())]
    pub status: Option<TaggingStatus>,
    /// Include posts deleted in their channel (their `deleted_at` is set).
    #[arg(long)]
    pub include_deleted: bool,
    /// Only posts with media of this kind (`any`: with any media).
    #[arg(long, value_name = "KIND", value_parser = media_parser())]
    pub media: Option<MediaFilter>,
    /// Only posts with a higher post id: the last id of the previous export, for incremental exports.
    #[arg(long, value_name = "POST_ID")]
    pub after_id: Option<i64>,
    /// Write to this file (replaced atomically when complete) instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// Options of `posts search`.
#[derive(Debug, Args)]
pub struct SearchArgs {
    /// Words to find (all of them, in any inflection); "quoted words" as a phrase.
    #[arg(required = true, num_args = 1.., value_name = "QUERY")]
    pub query: Vec<String>,
    /// `@username`, numeric channel id, or `#row`; repeat for several.
    #[arg(long = "channel", value_name = "CHANNEL")]
    pub channels: Vec<String>,
    /// Only posts dated on or after this day (YYYY-MM-DD, UTC).
    #[arg(long)]
    pub since: Option<String>,
    /// At most this many hits.
    #[arg(long, default_value_t = 20, value_parser = at_least_one())]
    pub limit: usize,
    /// Include posts deleted in their channel.
    #[arg(long)]
    pub include_deleted: bool,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

/// Filters of `posts list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// `@username`, numeric channel id, or `#row`.
    #[arg(long)]
    pub channel: Option<String>,
    /// Only posts with this tag.
    #[arg(long)]
    pub tag: Option<String>,
    /// Only posts in this tagging status.
    #[arg(long, value_parser = status_parser())]
    pub status: Option<TaggingStatus>,
    /// Only posts dated on or after this day (YYYY-MM-DD, UTC).
    #[arg(long)]
    pub since: Option<String>,
    /// Only posts with media of this kind (`any`: with any media).
    #[arg(long, value_name = "KIND", value_parser = media_parser())]
    pub media: Option<MediaFilter>,
    /// At most this many.
    #[arg(long, default_value_t = 20, value_parser = at_least_one())]
    pub limit: usize,
    /// Include posts deleted in their channel.
    #[arg(long)]
    pub include_deleted: bool,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

/// A post's media in one line: `video, video/mp4, 12.4 MB, 1920×1080, 0:42, "clip.mp4"`.
fn media_line(m: &Media) -> String {
    let mut parts = vec![m.kind.as_str().to_owned()];
    parts.extend(m.mime.clone());
    parts.extend(m.size.map(readable_size));
    if let (Some(w), Some(h)) = (m.width, m.height) {
        parts.push(format!("{w}×{h}"));
    }
    parts.extend(m.duration.map(|d| format!("{}:{:02}", d / 60, d % 60)));
    parts.extend(m.file_name.as_ref().map(|n| format!("{n:?}")));
    parts.extend(m.title.as_ref().map(|t| format!("«{t}»")));
    parts.join(", ")
}

/// Where a post's file download stands, for `posts show`.
fn file_line(f: &tgsift_store::FileState, dir: &std::path::Path) -> String {
    use tgsift_store::FileStatus;
    let last = f
        .error
        .as_deref()
        .map(|e| format!("; last: {e}"))
        .unwrap_or_default();
    match f.status {
        FileStatus::Done => format!(
            "{} (sha256 {})",
            f.path
                .as_deref()
                .map(|p| dir.join(p).display().to_string())
                .unwrap_or_default(),
            f.sha256.as_deref().unwrap_or("?")
        ),
        FileStatus::Pending if f.attempts == 0 => format!("download pending{last}"),
        FileStatus::Pending => format!(
            "download pending after {} failed attempt(s){last}",
            f.attempts
        ),
        FileStatus::Failed => format!(
            "download failed after {} attempts{last} (`tgsift media retry` tries again)",
            f.attempts
        ),
    }
}

/// Bytes as people read them (`183 KB`, `12.4 MB`, `1.2 GB`; powers of 1,000 as Telegram shows them).
pub(super) fn readable_size(bytes: i64) -> String {
    let b = bytes as f64;
    if bytes < 1_000 {
        format!("{bytes} B")
    } else if bytes < 1_000_000 {
        format!("{:.0} KB", b / 1e3)
    } else if bytes < 1_000_000_000 {
        format!("{:.1} MB", b / 1e6)
    } else {
        format!("{:.1} GB", b / 1e9)
    }
}

/// `text` cut to `width` characters (the last one `…` when cut), so a column never runs into the next.
fn fit(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(width.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// A count option (`--limit`, `--top`) that must be at least 1: 0 would print nothing (or, in some
/// queries, one row), which no one asks for on purpose.
pub(super) fn at_least_one() -> clap::builder::RangedU64ValueParser<usize> {
    clap::builder::RangedU64ValueParser::<usize>::new().range(1..)
}

/// A `YYYY-MM-DD` option as unix seconds (start of the day, UTC), or a usage error naming it.
pub(super) fn date_arg(flag: &str, d: &str) -> anyhow::Result<i64> {
    match crate::config::Backfill::parse(&format!("since:{d}")) {
        Ok(crate::config::Backfill::Since(ts)) => Ok(ts),
        _ => Err(UsageError(format!("{flag} `{d}` is not a date like 2024-01-31")).into()),
    }
}

/// A report's period `[since, until)` from its `--since`/`--until` options. With neither given it
/// is the `default_len` seconds before now, or, when nothing was posted then (a database filled
/// by `demo` holds posts of 2020), the same length up to the end of the newest post's day, with a
/// note on stderr saying so.
pub(super) struct Period {
    /// First second of the period.
    pub(super) since: i64,
    /// End of the period, exclusive.
    pub(super) until: i64,
    /// Whether neither option was given.
    pub(super) default: bool,
}

impl Period {
    /// The period the options name, `default_since(until)` giving the start when `--since` is absent.
    pub(super) fn from_args(
        since: &Option<String>,
        until: &Option<String>,
        default_since: impl Fn(i64) -> i64,
    ) -> anyhow::Result<Period> {
        let end = match until {
            Some(d) => date_arg("--until", d)?,
            None => tgsift_store::unix_now(),
        };
        let start = match since {
            Some(d) => date_arg("--since", d)?,
            None => default_since(end),
        };
        if start >= end {
            return Err(UsageError(format!(
                "--since must be before --until (the period is empty: {} to {})",
                day(start),
                day(end)
            ))
            .into());
        }
        Ok(Period {
            since: start,
            until: end,
            default: since.is_none() && until.is_none(),
        })
    }

    /// When the period ends before the newest post, says where the posts are (stderr). With `shift`
    /// a default period moves there (same length in whole days, ending with the newest post's day):
    /// `tags top` is about posts. `stats` keeps its default week, whose FLOOD_WAITs and retries are
    /// today's, and names the dates to ask for instead.
    pub(super) async fn fit(
        &mut self,
        ops: &Ops,
        ids: Option<Vec<i64>>,
        shift: bool,
    ) -> Result<(), OpsError> {
        let Some(newest) = ops.newest_post_date(ids).await? else {
            return Ok(());
        };
        if newest >= self.since {
            return Ok(());
        }
        // Whole days (`stats` counts today's part as a day), ending with the newest post's.
        let len = (self.until - self.since + 86_399) / 86_400 * 86_400;
        let until = newest - newest.rem_euclid(86_400) + 86_400;
        let days = len / 86_400;
        match (self.default, shift) {
            (true, true) => {
                self.until = until;
                self.since = until - len;
                eprintln!(
                    "no posts in the last {days} days: showing the {days} days up to the newest post \
                     ({}); choose the period with --since and --until",
                    day_label(newest)
                );
            }
            (true, false) => eprintln!(
                "no posts in the last {days} days: the newest post is from {}; see its week with \
                 --since {} --until {}",
                day_label(newest),
                day_label(until - len),
                day_label(until)
            ),
            (false, _) => eprintln!(
                "the newest post is from {}: widen the period with --since",
                day_label(newest)
            ),
        }
        Ok(())
    }
}

/// `tags top`: counts of the period `[since, until)` next to those of the period of the same length
/// just before it.
fn top(loaded: &Loaded, a: &TopArgs) -> anyhow::Result<()> {
    let mut period = Period::from_args(&a.since, &a.until, |until| until - 7 * 86_400)?;
    let rows = super::admin(loaded, async |ops| {
        let ids = ops.channel_ids(a.channel.as_slice()).await?;
        period.fit(ops, ids.clone(), true).await?;
        ops.tag_trends(ids, period.since, period.until, a.limit)
            .await
    })?;
    let Period { since, until, .. } = period;
    let len = until - since;
    if a.json {
        let v = serde_json::json!({
            "since": since, "until": until, "previous_since": since - len, "tags": rows,
        });
        println!("{v}");
        return Ok(());
    }
    println!(
        "tags of {} – {} (vs {} – {})",
        day(since),
        day(until),
        day(since - len),
        day(since)
    );
    if rows.is_empty() {
        println!("no tagged posts in this period");
    }
    for r in &rows {
        let change = if r.previous == 0 {
            "new".to_owned()
        } else {
            format!("{:+}", r.change)
        };
        println!(
            "{:<32} {:>6} {:>6} {:>6}",
            r.tag, r.posts, r.previous, change
        );
    }
    Ok(())
}

/// An optional `YYYY-MM-DD` option.
fn opt_date(flag: &str, d: &Option<String>) -> anyhow::Result<Option<i64>> {
    d.as_deref().map(|d| date_arg(flag, d)).transpose()
}

/// Runs a tags subcommand.
pub(super) fn tags(loaded: &Loaded, cmd: TagsCommand) -> anyhow::Result<()> {
    match cmd {
        TagsCommand::Top(a) => top(loaded, &a),
        TagsCommand::Retag {
            channel,
            from_id,
            to_id,
            no_wait,
        } => super::runtime()?.block_on(retag(loaded, channel, from_id, to_id, no_wait)),
        cmd => super::runtime()?.block_on(tagging(loaded, cmd)),
    }
}

/// The tags subcommands that read or drive the tagging queue.
async fn tagging(loaded: &Loaded, cmd: TagsCommand) -> anyhow::Result<()> {
    let cancel = CancellationToken::new();
    let ops = super::jobs::ops(loaded, &cancel).await?;
    let done = tagging_with(&ops, cmd).await;
    cancel.cancel();
    done
}

async fn tagging_with(ops: &Ops, cmd: TagsCommand) -> anyhow::Result<()> {
    match cmd {
        TagsCommand::Stats { account, json } => {
            let stats = ops.tagging_stats(account).await.map_err(cli_error)?;
            if json {
                let v = serde_json::json!({
                    "total": stats.total, "with_tags": stats.with_tags, "needing_retry": stats.needing_retry,
                    "by_status": stats.by_status, "backend": stats.backend, "max_attempts": stats.max_attempts,
                });
                println!("{v}");
            } else {
                println!(
                    "posts: {}  with tags: {}  needing retry: {}",
                    stats.total, stats.with_tags, stats.needing_retry
                );
                for (status, n) in &stats.by_status {
                    println!("  {status:<9} {n}");
                }
                println!(
                    "backend: {}  max attempts: {}",
                    stats.backend, stats.max_attempts
                );
            }
        }
        TagsCommand::Retry {
            account,
            limit,
            force,
            wait,
        } => {
            let n = ops
                .requeue_tagging(account, limit, force)
                .await
                .map_err(cli_error)?;
            println!("queued {n} post(s) for tagging");
            if wait && n > 0 {
                let report = ops.tag_due().await.map_err(cli_error)?;
                println!(
                    "tagged {}, retrying {}, failed {}",
                    report.tagged, report.retrying, report.failed
                );
            }
        }
        TagsCommand::Regenerate { post_id } => {
            match ops.regenerate(post_id).await.map_err(cli_error)? {
                Outcome::Tagged { tags, source } => {
                    let list: Vec<String> = tags
                        .iter()
                        .map(|t| format!("{} ({:.2})", t.tag, t.score))
                        .collect();
                    println!("post {post_id}: {} [{source}]", list.join(", "));
                }
                Outcome::Failed { status, error } => {
                    anyhow::bail!("post {post_id}: tagging failed ({status}): {error}")
                }
                Outcome::Stale => anyhow::bail!(
                    "post {post_id} changed while it was being tagged (edited or re-queued); try again"
                ),
            }
        }
        TagsCommand::Run => {
            let report = ops.tag_due().await.map_err(cli_error)?;
            println!(
                "tagged {}, retrying {}, failed {}",
                report.tagged, report.retrying, report.failed
            );
        }
        TagsCommand::Top(_) | TagsCommand::Retag { .. } => {
            unreachable!("`tags` runs top and retag itself")
        }
    }
    Ok(())
}

/// `tags retag`: re-tags a range of a channel's posts, as a job.
async fn retag(
    loaded: &Loaded,
    channel: Option<String>,
    from_id: Option<i32>,
    to_id: Option<i32>,
    no_wait: bool,
) -> anyhow::Result<()> {
    let spec = crate::ops::JobSpec::Retag {
        channel,
        from_id,
        to_id,
    };
    if let Some(job) = super::jobs::submit(loaded, spec, no_wait).await? {
        let n = job
            .result
            .and_then(|r| r.get("requeued").and_then(|v| v.as_i64()))
            .unwrap_or(0);
        println!("queued {n} post(s) for tagging again (their tags are replaced when tagged)");
    }
    Ok(())
}

fn day(ts: i64) -> String {
    jiff::Timestamp::from_second(ts)
        .map(|t| t.strftime("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_default()
}

fn print_post(p: &PostRow, full: bool) {
    let tags: Vec<&str> = p.tags.iter().map(|t| t.0.as_str()).collect();
    if full {
        println!(
            "post {} — {} message {} — {}",
            p.id,
            p.channel,
            p.message_id,
            day(p.date)
        );
        if let Some(d) = p.deleted_at {
            println!("deleted in the channel (noticed {})", day(d));
        }
        if let Some(e) = p.edit_date {
            println!("edited {}", day(e));
        }
        if let Some(m) = &p.media {
            println!("media: {}", media_line(m));
        }
        println!("\n{}\n", p.text);
        for (tag, score, source) in &p.tags {
            println!("  {tag:<28} {score:>6.3}  {source}");
        }
        println!(
            "tagging: {} after {} attempt(s){}{}",
            p.tagging_status,
            p.tagging_attempts,
            p.tagging_error
                .as_deref()
                .map(|e| format!("; last error: {e}"))
                .unwrap_or_default(),
            p.next_tagging_at
                .map(|t| format!("; due again {}", day(t)))
                .unwrap_or_default()
        );
    } else {
        let mut snippet: String = p
            .text
            .chars()
            .take(60)
            .collect::<String>()
            .replace('\n', " ");
        if p.text.chars().count() > 60 {
            snippet.push('…');
        }
        if let Some(m) = &p.media {
            snippet = format!("[{}] {snippet}", m.kind);
        }
        println!(
            "{:>7} {:<16} {:>7} {} {:<8} {:<40}  {}",
            p.id,
            p.channel,
            p.message_id,
            day(p.date),
            if p.deleted_at.is_some() {
                "deleted"
            } else {
                p.tagging_status.as_str()
            },
            fit(&tags.join(", "), 40),
            snippet
        );
    }
}

/// The comments under a post, one line each, replies indented under what they answer.
fn print_comments(comments: &[tgsift_store::CommentRow]) {
    if comments.is_empty() {
        return;
    }
    println!("comments: {}", comments.len());
    for c in comments {
        let who = match &c.sender {
            tgsift_store::CommentSender::User { id } => format!("user {id}"),
            tgsift_store::CommentSender::Channel { id } => format!("channel {id}"),
            tgsift_store::CommentSender::Anonymous { author: Some(a) } => format!("admin {a}"),
            tgsift_store::CommentSender::Anonymous { author: None } => "anonymous admin".into(),
        };
        let to = c.reply_to.map(|r| format!(" → #{r}")).unwrap_or_default();
        let gone = if c.deleted_at.is_some() {
            " (deleted)"
        } else {
            ""
        };
        let media = if c.has_media { "[media] " } else { "" };
        let tags = if c.tags.is_empty() {
            String::new()
        } else {
            format!(" [{}]", c.tags.join(", "))
        };
        println!(
            "  #{}{to} {} {who}{gone}: {media}{}{tags}",
            c.message_id,
            day(c.date),
            c.text.replace('\n', " ")
        );
    }
}

/// Runs a posts subcommand.
pub(super) fn posts(loaded: &Loaded, cmd: PostsCommand) -> anyhow::Result<()> {
    match cmd {
        PostsCommand::List(a) => {
            let f = PostFilter {
                channel: a.channel,
                tag: a.tag,
                status: a.status,
                since: opt_date("--since", &a.since)?,
                include_deleted: a.include_deleted,
                media: a.media,
                limit: a.limit,
                before: None,
            };
            let rows = super::admin(loaded, async |ops| ops.posts(f).await)?;
            if a.json {
                println!("{}", json_with_iso_dates(&rows, |p| p.date)?);
            } else {
                for p in &rows {
                    print_post(p, false);
                }
                if rows.is_empty() {
                    println!("no posts match");
                }
            }
        }
        PostsCommand::Export(a) => export(loaded, a)?,
        PostsCommand::Search(a) => search(loaded, a)?,
        PostsCommand::Show { id } => {
            let (p, file, comments) = super::admin(loaded, async |ops| match ops.post(id).await {
                Err(OpsError::NotFound(_)) => Err(OpsError::NotFound(format!(
                    "no post with id {id}: see `tgsift posts list`"
                ))),
                Ok(p) => Ok((p, ops.file_of_post(id).await?, ops.comments_of(id).await?)),
                Err(e) => Err(e),
            })?;
            print_post(&p, true);
            if let Some(f) = file {
                println!("file: {}", file_line(&f, &loaded.config.media.dir));
            }
            print_comments(&comments);
        }
    }
    Ok(())
}

/// `posts export`.
fn export(loaded: &Loaded, a: ExportArgs) -> anyhow::Result<()> {
    let since = opt_date("--since", &a.since)?;
    let until = opt_date("--until", &a.until)?;
    let next = |s: &Summary| match s.last_post_id {
        Some(id) => format!(" (next time: --after-id {id})"),
        None => String::new(),
    };
    let to = match &a.out {
        Some(path) => ExportTo::File(path.clone()),
        None => ExportTo::Stdout,
    };
    let done = super::admin(loaded, async |ops| {
        let filter = ExportFilter {
            channel_ids: ops.channel_ids(&a.channels).await?,
            since,
            until,
            tag: a.tag,
            status: a.status,
            include_deleted: a.include_deleted,
            after_id: a.after_id,
            media: a.media,
        };
        Ok(ops.export(filter, a.format, to).await)
    })?;
    match (&a.out, done) {
        (Some(path), Ok(summary)) => println!(
            "exported {} post(s) to {}{}",
            summary.posts,
            path.display(),
            next(&summary)
        ),
        (None, Ok(summary)) => {
            tracing::info!("exported {} post(s){}", summary.posts, next(&summary))
        }
        // The reader went away (`| head`): not a failure of the export.
        (None, Err(ExportError::Write(e))) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        (_, Err(e)) => return Err(e.into()),
    }
    Ok(())
}

/// `posts search`.
fn search(loaded: &Loaded, a: SearchArgs) -> anyhow::Result<()> {
    let text = a.query.join(" ");
    if match_expression(&text).is_none() {
        return Err(UsageError(format!("the query `{text}` has no word to search for")).into());
    }
    let tty = !a.json && std::io::stdout().is_terminal();
    let since = opt_date("--since", &a.since)?;
    let hits = super::admin(loaded, async |ops| {
        let q = SearchQuery {
            channel_ids: ops.channel_ids(&a.channels).await?,
            since,
            include_deleted: a.include_deleted,
            limit: a.limit,
            highlight: if tty {
                ("\x1b[1m".into(), "\x1b[0m".into())
            } else {
                ("[".into(), "]".into())
            },
            ..SearchQuery::new(&text)
        };
        ops.search(q).await
    })?;
    if a.json {
        println!("{}", json_with_iso_dates(&hits, |h| h.date)?);
        return Ok(());
    }
    for h in &hits {
        println!(
            "{:>7} {:<16} {:>7} {}  {}",
            h.id,
            h.channel,
            h.message_id,
            day(h.date),
            h.snippet.replace('\n', " ")
        );
    }
    if hits.is_empty() {
        println!("no posts match");
    }
    Ok(())
}

/// Posts as pretty JSON, each with `date_iso` (the form `posts export` writes) after its fields, whose
/// `date` stays unix seconds as the API gives it, so a script can use either.
fn json_with_iso_dates<T: serde::Serialize>(
    rows: &[T],
    date: impl Fn(&T) -> i64,
) -> anyhow::Result<String> {
    #[derive(serde::Serialize)]
    struct WithIso<'a, T> {
        #[serde(flatten)]
        row: &'a T,
        date_iso: String,
    }
    let rows: Vec<WithIso<'_, T>> = rows
        .iter()
        .map(|row| WithIso {
            row,
            date_iso: iso(date(row)),
        })
        .collect();
    Ok(serde_json::to_string_pretty(&rows)?)
}

#[cfg(test)]
mod tests {
    use super::fit;

    #[test]
    fn media_reads_as_one_line() {
        let m = tgsift_store::Media {
            mime: Some("video/mp4".into()),
            size: Some(12_400_000),
            width: Some(1920),
            height: Some(1080),
            duration: Some(62),
            file_name: Some("clip.mp4".into()),
            ..tgsift_store::Media::of(tgsift_store::MediaKind::Video)
        };
        assert_eq!(
            super::media_line(&m),
            "video, video/mp4, 12.4 MB, 1920×1080, 1:02, \"clip.mp4\""
        );
        assert_eq!(super::readable_size(183_422), "183 KB");
        assert_eq!(super::readable_size(999), "999 B");
    }

    #[test]
    fn a_post_date_gets_its_iso_form_after_its_fields() {
        #[derive(serde::Serialize)]
        struct Row {
            id: i64,
            date: i64,
        }
        let json = super::json_with_iso_dates(
            &[Row {
                id: 3,
                date: 1_700_000_000,
            }],
            |r| r.date,
        );
        let want = "[\n  {\n    \"id\": 3,\n    \"date\": 1700000000,\n    \"date_iso\": \"2023-11-14T22:13:20Z\"\n  }\n]";
        assert_eq!(json.unwrap(), want);
    }

    #[test]
    fn a_long_tag_list_is_cut_to_its_column() {
        assert_eq!(fit("a, b", 40), "a, b");
        let long = "нейросеть, технология, разработчик, законопроект";
        let cut = fit(long, 40);
        assert_eq!(cut.chars().count(), 40);
        assert!(cut.ends_with('…') && long.starts_with(cut.trim_end_matches('…')));
    }
}
