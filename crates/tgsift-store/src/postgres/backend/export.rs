//! [`ExportStore`] on PostgreSQL: the posts of an export, page by page in post-id order.
//!
//! As on SQLite (`src/store/export.rs`) the export reads one snapshot (a read-only `REPEATABLE READ`
//! transaction held for the whole export) and memory stays constant: posts are read 1,000 at a time,
//! each page continuing after the last post id of the one before (keyset paging), and each page has the
//! time limit of one store call. `each` runs between the reads, never inside the async runtime. The tags
//! come as arrays and are written out as the same JSON text SQLite's `json_group_array` makes.

use std::future::Future;

use deadpool_postgres::Transaction;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::media::media_from;
use super::{CALL_TIMEOUT, Fail, PgBackend};
use crate::postgres::PgError;
use crate::{ExportError, ExportFilter, ExportRow, ExportStore, StoreError, TaggingStore};

/// Posts per query.
const PAGE: i64 = 1_000;

/// One page of the export: the posts after `$1` that the filter selects, in post-id order, each with
/// its tags best first (tag texts ordered byte-wise, as SQLite orders them).
const EXPORT_PAGE: &str = "SELECT p.id, c.username, c.tg_id, p.message_id, p.date, p.edit_date, p.text,
        p.views, p.forwards, p.grouped_id, p.has_media, tg.tags, tg.scores, p.tagging_status,
        p.deleted_at, m.kind, m.mime, m.size, m.file_name, m.width, m.height, m.duration, m.file_id,
        m.access_hash, m.dc_id, m.title
 FROM posts p JOIN channels c ON c.id = p.channel_id
 LEFT JOIN post_media m ON m.post_id = p.id
 LEFT JOIN LATERAL (
     SELECT array_agg(t.tag ORDER BY t.score DESC, t.tag COLLATE \"C\") AS tags,
            -- four decimals, as SQLite's round(score, 4): a score is a ranking, not a measurement
            array_agg(round(t.score::numeric, 4)::float8 ORDER BY t.score DESC, t.tag COLLATE \"C\") AS scores
     FROM post_tags t WHERE t.post_id = p.id) tg ON true
 WHERE p.id > $1
   AND ($2::bigint[] IS NULL OR p.channel_id = ANY($2))
   AND ($3::bigint IS NULL OR p.date >= $3)
   AND ($4::bigint IS NULL OR p.date < $4)
   AND ($5::text IS NULL OR EXISTS (SELECT 1 FROM post_tags t WHERE t.post_id = p.id AND t.tag = $5))
   AND ($6::text IS NULL OR p.tagging_status = $6)
   AND ($7 OR p.deleted_at IS NULL)
   AND ($9::text IS NULL OR ($9 = 'any' AND p.has_media) OR m.kind = $9)
 ORDER BY p.id LIMIT $8";

const WHAT: &str = "read posts for export";

impl ExportStore for PgBackend {
    fn export_posts(
        &self,
        f: &ExportFilter,
        each: &mut dyn FnMut(&ExportRow<'_>) -> std::io::Result<()>,
    ) -> Result<u64, ExportError> {
        let tag = self.tag_filter(f.tag.as_deref())?;
        let mut client = self.export_step(async { Ok(self.store.client(WHAT).await?) })?;
        let tx: Transaction<'_> = self.export_step(async {
            Ok(client
                .build_transaction()
                .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await?)
        })?;
        // The export's snapshot may wait on a slow reader between pages: exempt from the idle limit
        // every other transaction has (see `PgStore::open_config`).
        self.export_step(async {
            Ok(tx
                .batch_execute("SET LOCAL idle_in_transaction_session_timeout = 0")
                .await?)
        })?;
        let mut after = f.after_id.unwrap_or(i64::MIN);
        let media = f.media.map(|m| m.as_str());
        let mut n = 0u64;
        loop {
            let args: [&(dyn ToSql + Sync); 9] = [
                &after,
                &f.channel_ids,
                &f.since,
                &f.until,
                &tag,
                &f.status,
                &f.include_deleted,
                &PAGE,
                &media,
            ];
            let rows: Vec<Row> =
                self.export_step(async { Ok(tx.query(EXPORT_PAGE, &args).await?) })?;
            for r in &rows {
                let tags: Vec<String> = r.get::<_, Option<Vec<String>>>(11).unwrap_or_default();
                let scores: Vec<f64> = r.get::<_, Option<Vec<f64>>>(12).unwrap_or_default();
                let tags_json = tags_json(&tags, &scores);
                // A status this build does not know stops the export with an error.
                let tagging_status = r.try_get(13).map_err(|e| export_error(Fail::Sql(e)))?;
                let row = ExportRow {
                    post_id: r.get(0),
                    channel_username: r.get(1),
                    channel_id: r.get(2),
                    message_id: i32::try_from(r.get::<_, i64>(3)).unwrap_or(i32::MAX),
                    date: r.get(4),
                    edit_date: r.get(5),
                    text: r.get(6),
                    views: r.get(7),
                    forwards: r.get(8),
                    album_id: r.get(9),
                    has_media: r.get(10),
                    tags_json: &tags_json,
                    tagging_status,
                    deleted_at: r.get(14),
                    media: media_from(r, 15),
                };
                each(&row)?;
                n += 1;
            }
            match rows.last() {
                Some(last) if rows.len() as i64 == PAGE => after = last.get(0),
                _ => break,
            }
        }
        self.export_step(async { Ok(tx.commit().await?) })?;
        Ok(n)
    }
}

impl PgBackend {
    /// Runs `work` on the runtime under the time limit of one store call.
    fn export_step<T>(&self, work: impl Future<Output = Result<T, Fail>>) -> Result<T, StoreError> {
        let out = self.runtime.block_on(async {
            match tokio::time::timeout(CALL_TIMEOUT, work).await {
                Ok(out) => out,
                Err(_) => Err(Fail::Pg(PgError::TimedOut {
                    after: CALL_TIMEOUT,
                })),
            }
        });
        out.map_err(export_error)
    }
}

/// An export's failure as the store error it returns.
fn export_error(fail: Fail) -> StoreError {
    StoreError::Postgres {
        what: WHAT.to_string(),
        source: match fail {
            Fail::Sql(source) => PgError::Sql {
                what: "run a statement",
                source,
            },
            Fail::Pg(e) => e,
        },
    }
}

/// The tags as SQLite's `json_group_array(json_object('tag', tag, 'score', score))` writes them:
/// `[{"tag":"…","score":0.9},…]`, no spaces, `[]` for none.
fn tags_json(tags: &[String], scores: &[f64]) -> String {
    let mut out = String::from("[");
    for (i, (tag, score)) in tags.iter().zip(scores).enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"tag\":");
        // The same escapes as SQLite's: `"`, `\` and the control characters (\b \t \n \f \r short).
        out.push_str(&serde_json::Value::from(tag.as_str()).to_string());
        out.push_str(",\"score\":");
        out.push_str(&sqlite_real(*score));
        out.push('}');
    }
    out.push(']');
    out
}

/// A REAL as SQLite's JSON functions write it (`%!0.17g`): `1.0`, `0.25`, `1.0e-05`, `1.5e+20`.
/// The digits are the shortest that read back to the same value; SQLite's are the same for every
/// (normal) value of up to 13 significant digits, and for longer ones may run to 17 — the same number
/// either way.
fn sqlite_real(x: f64) -> String {
    if x.is_nan() {
        return "null".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "9.0e+999" } else { "-9.0e+999" }.into();
    }
    if x == 0.0 {
        return "0.0".into();
    }
    let sign = if x < 0.0 { "-" } else { "" };
    let sci = format!("{:e}", x.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    if !(-4..=16).contains(&exp) {
        let (first, rest) = digits.split_at(1);
        let rest = if rest.is_empty() { "0" } else { rest };
        let exp_sign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{first}.{rest}e{exp_sign}{:02}", exp.unsigned_abs())
    } else if exp < 0 {
        format!(
            "{sign}0.{}{digits}",
            "0".repeat(exp.unsigned_abs() as usize - 1)
        )
    } else {
        let whole = exp as usize + 1;
        if digits.len() <= whole {
            format!("{sign}{digits}{}.0", "0".repeat(whole - digits.len()))
        } else {
            let (int, frac) = digits.split_at(whole);
            format!("{sign}{int}.{frac}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tag with every character SQLite escapes, and some it does not.
    const TAG: &str = "t\"a\\g\n\u{1}\u{7f}'ü/";

    /// What SQLite's JSON functions make of `score`.
    fn sqlite(c: &rusqlite::Connection, score: f64) -> String {
        c.query_row(
            "SELECT json_group_array(json_object('tag', ?1, 'score', ?2))",
            rusqlite::params![TAG, score],
            |r| r.get(0),
        )
        .expect("json")
    }

    #[test]
    fn tags_are_written_as_sqlite_writes_them() {
        let c = rusqlite::Connection::open_in_memory().expect("sqlite");
        let mut values = vec![
            0.9,
            0.5,
            1.0,
            -1.0,
            0.25,
            0.1,
            1e-5,
            1.5e-7,
            0.0001,
            12.5,
            100.0,
            1e16,
            1e17,
            1.5e20,
            2e100,
            -3.25e-120,
            0.3,
            0.1 + 0.2,
            123_456.789,
            0.123_456_789_012_3,
            5e-324,
            f64::MAX,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ];
        // Scores as taggers make them: a few decimals.
        values.extend((0..2000).map(|i| f64::from(i) / 1000.0 - 0.5));
        values.extend((1..200).map(|i| 1.0 / f64::from(i * i)));
        for v in values {
            let ours = tags_json(&[TAG.into()], &[v]);
            let theirs = sqlite(&c, v);
            // Where the digits differ, both read back to the score.
            let score = |json: &str| -> f64 {
                let (_, tail) = json.rsplit_once("\"score\":").expect("a score");
                tail.trim_end_matches("}]").parse().expect("a number")
            };
            let (head, _) = theirs.rsplit_once("\"score\":").expect("a score");
            assert!(ours.starts_with(head), "{ours} != {theirs}");
            if v.is_finite() {
                assert_eq!((score(&ours), score(&theirs)), (v, v), "{ours} != {theirs}");
            } else {
                assert_eq!(ours, theirs);
            }
            let short = format!("{v:e}").split_once('e').map_or(0, |(m, _)| m.len());
            if short <= 14 && (v.is_normal() || v.is_infinite()) {
                assert_eq!(ours, theirs, "{v}");
            }
        }
        assert_eq!(tags_json(&[], &[]), "[]");
        assert_eq!(
            tags_json(&["a".into(), "b".into()], &[0.9, 0.5]),
            r#"[{"tag":"a","score":0.9},{"tag":"b","score":0.5}]"#
        );
    }
}
