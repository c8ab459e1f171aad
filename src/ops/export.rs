//! `posts export`: stored posts as JSON Lines or CSV (RFC 4180), streamed from one cursor to any
//! [`Write`], so the CLI (file or stdout) and an HTTP response body share the same code and memory
//! stays flat however many posts there are.
//!
//! Both formats carry the same columns, in this order: [`COLUMNS`]. Dates are ISO 8601 in UTC;
//! `tags` is a JSON array of `{"tag", "score"}` objects, best first (in CSV, that JSON as the cell's
//! text); missing values are `null` in JSON and empty cells in CSV.

use std::borrow::Cow;
use std::io::{BufWriter, Write};
use std::path::Path;

use serde::Serialize;
use serde_json::value::RawValue;

use tgsift_store::prelude::*;
use tgsift_store::{ExportError, ExportFilter, ExportRow, MediaKind, TaggingStatus};

/// The output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One JSON object per line.
    Jsonl,
    /// Comma-separated values with a header row (RFC 4180 quoting).
    Csv,
}

/// The columns of an export, in order: the CSV header; a JSON line has the same keys, except that the
/// `media_*` columns are one `media` object (`kind`, `mime`, `size`, …; `null` without media).
pub const COLUMNS: [&str; 21] = [
    "post_id",
    "channel_username",
    "channel_id",
    "message_id",
    "date",
    "edit_date",
    "text",
    "views",
    "forwards",
    "album_id",
    "has_media",
    "tags",
    "tagging_status",
    "deleted_at",
    "media_kind",
    "media_mime",
    "media_size",
    "media_file_name",
    "media_width",
    "media_height",
    "media_duration",
];

/// What an export wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Posts written.
    pub posts: u64,
    /// The highest post id written: `--after-id` for the next incremental export.
    pub last_post_id: Option<i64>,
}

/// One post as a JSON line; field order is [`COLUMNS`].
#[derive(Serialize)]
struct JsonRow<'a> {
    post_id: i64,
    channel_username: Option<&'a str>,
    channel_id: i64,
    message_id: i32,
    date: String,
    edit_date: Option<String>,
    text: &'a str,
    views: Option<i64>,
    forwards: Option<i64>,
    album_id: Option<i64>,
    has_media: bool,
    tags: &'a RawValue,
    tagging_status: TaggingStatus,
    deleted_at: Option<String>,
    media: Option<JsonMedia<'a>>,
}

/// A post's media in a JSON line: what the CSV's `media_*` columns hold.
#[derive(Serialize)]
struct JsonMedia<'a> {
    kind: MediaKind,
    mime: Option<&'a str>,
    size: Option<i64>,
    file_name: Option<&'a str>,
    width: Option<i32>,
    height: Option<i32>,
    duration: Option<i32>,
}

/// Unix seconds as ISO 8601 UTC (`2024-01-31T12:00:00Z`).
pub fn iso(ts: i64) -> String {
    jiff::Timestamp::from_second(ts)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| ts.to_string())
}

/// Writes the posts `filter` selects to `out` in `format`, in post-id order.
pub(crate) fn write_posts(
    store: &dyn Storage,
    filter: &ExportFilter,
    format: Format,
    out: impl Write,
) -> Result<Summary, ExportError> {
    let mut last = None;
    let posts = match format {
        Format::Jsonl => {
            let mut out = BufWriter::with_capacity(64 * 1024, out);
            let n = store.export_posts(filter, &mut |r| {
                last = Some(r.post_id);
                let tags: &RawValue =
                    serde_json::from_str(r.tags_json).map_err(std::io::Error::other)?;
                serde_json::to_writer(&mut out, &json_row(r, tags))?;
                out.write_all(b"\n")
            })?;
            out.flush()?;
            n
        }
        Format::Csv => {
            let mut w = csv::WriterBuilder::new()
                .buffer_capacity(64 * 1024)
                .from_writer(out);
            w.write_record(COLUMNS).map_err(csv_io)?;
            let n = store.export_posts(filter, &mut |r| {
                last = Some(r.post_id);
                w.write_record(csv_record(r).iter().map(|f| f.as_bytes()))
                    .map_err(csv_io)
            })?;
            w.flush()?;
            n
        }
    };
    Ok(Summary {
        posts,
        last_post_id: last,
    })
}

/// Writes the export to `path` atomically: into a temporary file in the same folder, flushed to disk
/// and renamed over `path` only when complete, so readers never see half an export.
pub(crate) fn write_posts_to_file(
    store: &dyn Storage,
    filter: &ExportFilter,
    format: Format,
    path: &Path,
) -> Result<Summary, ExportError> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let io = |e: std::io::Error| {
        ExportError::Write(std::io::Error::new(
            e.kind(),
            format!("{}: {e}", path.display()),
        ))
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "export".into());
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(io)?;
    let summary = write_posts(store, filter, format, tmp.as_file())?;
    tmp.as_file().sync_all().map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
    Ok(summary)
}

/// A CSV error as the I/O error beneath it when there is one (so a closed pipe stays `BrokenPipe`).
fn csv_io(e: csv::Error) -> std::io::Error {
    match e.into_kind() {
        csv::ErrorKind::Io(e) => e,
        other => std::io::Error::other(format!("{other:?}")),
    }
}

fn json_row<'a>(r: &'a ExportRow<'a>, tags: &'a RawValue) -> JsonRow<'a> {
    JsonRow {
        post_id: r.post_id,
        channel_username: r.channel_username,
        channel_id: r.channel_id,
        message_id: r.message_id,
        date: iso(r.date),
        edit_date: r.edit_date.map(iso),
        text: r.text,
        views: r.views,
        forwards: r.forwards,
        album_id: r.album_id,
        has_media: r.has_media,
        tags,
        tagging_status: r.tagging_status,
        deleted_at: r.deleted_at.map(iso),
        media: r.media.as_ref().map(|m| JsonMedia {
            kind: m.kind,
            mime: m.mime.as_deref(),
            size: m.size,
            file_name: m.file_name.as_deref(),
            width: m.width,
            height: m.height,
            duration: m.duration,
        }),
    }
}

fn csv_record<'a>(r: &'a ExportRow<'a>) -> [Cow<'a, str>; 21] {
    let opt = |v: Option<i64>| Cow::Owned(v.map(|v| v.to_string()).unwrap_or_default());
    let m = r.media.as_ref();
    let text = |v: Option<&'a String>| Cow::Borrowed(v.map(String::as_str).unwrap_or_default());
    let date = |v: Option<i64>| Cow::Owned(v.map(iso).unwrap_or_default());
    [
        Cow::Owned(r.post_id.to_string()),
        Cow::Borrowed(r.channel_username.unwrap_or_default()),
        Cow::Owned(r.channel_id.to_string()),
        Cow::Owned(r.message_id.to_string()),
        Cow::Owned(iso(r.date)),
        date(r.edit_date),
        Cow::Borrowed(r.text),
        opt(r.views),
        opt(r.forwards),
        opt(r.album_id),
        Cow::Borrowed(if r.has_media { "true" } else { "false" }),
        Cow::Borrowed(r.tags_json),
        Cow::Borrowed(r.tagging_status.as_str()),
        date(r.deleted_at),
        Cow::Borrowed(m.map(|m| m.kind.as_str()).unwrap_or_default()),
        text(m.and_then(|m| m.mime.as_ref())),
        opt(m.and_then(|m| m.size)),
        text(m.and_then(|m| m.file_name.as_ref())),
        opt(m.and_then(|m| m.width.map(i64::from))),
        opt(m.and_then(|m| m.height.map(i64::from))),
        opt(m.and_then(|m| m.duration.map(i64::from))),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_iso_8601_utc() {
        assert_eq!(iso(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(iso(0), "1970-01-01T00:00:00Z");
    }
}
