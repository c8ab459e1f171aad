//! Getting data out: exports that stream a million posts in flat memory and read back exactly,
//! search in Russian and English whatever the inflection, backups taken while `run` writes that hold
//! whole batches only, restores that refuse a database in use, and the weekly report.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::setup::{Setup, sigterm, wait_exit};
use crate::common::within;
use tgsift::ops::export::{COLUMNS, iso};
use tgsift::telegram::session_lock::SessionLock;
use tgsift_sim::{Fault, Latency, Scripted};
use tgsift_store::prelude::*;
use tgsift_store::{Media, MediaKind, NewChannel, PostIn, SqliteStore};

/// `tgsift --db DB ARGS…` as a separate process, waited for.
fn tgsift(db: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tgsift"))
        .args(["--db", db.to_str().expect("utf8")])
        .args(args)
        .env_remove("RUST_LOG")
        .env_remove("TGSIFT_CONFIG")
        .output()
        .expect("run tgsift")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A database with account `alice` (session file beside it) following `channels` channels
/// (`@c0`, `@c1`, … and one private channel without a username at the end).
fn database(dir: &Path, channels: usize) -> (PathBuf, Vec<i64>) {
    let db = dir.join("t.db");
    let mut s = SqliteStore::open(&db).expect("store");
    let a = s
        .add_account("alice", None, None, &dir.join("alice.session"))
        .expect("account");
    let ids = (0..channels)
        .map(|i| {
            let c = NewChannel {
                tg_id: 1000 + i as i64,
                access_hash: 1,
                username: (i + 1 < channels).then(|| format!("c{i}")),
                title: format!("Channel {i}"),
                backfill: "all".into(),
            };
            s.add_channel(a.id, &c).expect("add").expect("new").id
        })
        .collect();
    (db, ids)
}

/// Post `id` with every column an export writes varied by its id: edits, counters, albums, media.
fn post(id: i32, date: i64, text: String) -> PostIn {
    PostIn::new(id, date, text)
        .edited((id % 7 == 0).then_some(date + 60))
        .counts(
            (id % 5 != 0).then_some(id * 3),
            (id % 3 == 0).then_some(id % 11),
        )
        .album((id % 13 == 0).then_some(i64::from(id / 13)))
        .media((id % 4 == 0).then(|| Media {
            mime: Some("application/pdf".into()),
            size: Some(i64::from(id) * 1_000_003),
            file_name: Some(format!("report {id}, \"final\".pdf")),
            duration: (id % 8 == 0).then_some(id),
            file_id: Some(i64::from(id)),
            ..Media::of(if id % 8 == 0 {
                MediaKind::Voice
            } else {
                MediaKind::Document
            })
        }))
}

/// The peak resident memory (VmHWM, KiB) of a process, polled from /proc until it exits.
fn peak_rss_kib(
    mut child: std::process::Child,
    limit: Duration,
) -> (std::process::ExitStatus, u64) {
    let status_file = format!("/proc/{}/status", child.id());
    let t0 = Instant::now();
    let mut peak = 0;
    loop {
        if let Ok(s) = std::fs::read_to_string(&status_file)
            && let Some(kb) = s
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        {
            peak = peak.max(kb);
        }
        if let Some(st) = child.try_wait().expect("wait") {
            return (st, peak);
        }
        assert!(t0.elapsed() < limit, "export did not finish in {limit:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn export_of_a_million_posts_streams_in_flat_memory_and_counts_every_row() {
    const POSTS: i32 = 1_000_000;
    const PER_CHANNEL: i32 = POSTS / 4;
    let dir = tempfile::tempdir().expect("tempdir");
    let (db, channels) = database(dir.path(), 4);
    {
        let mut s = SqliteStore::open(&db).expect("store");
        let words = [
            "ставки",
            "нефть",
            "rates",
            "oil",
            "\"quoted\"",
            "a,b",
            "line\nbreak",
            "ЦБ",
            "market",
        ];
        for (c, ch) in channels.iter().enumerate() {
            for start in (1..=PER_CHANNEL).step_by(25_000) {
                let end = (start + 24_999).min(PER_CHANNEL);
                let batch: Vec<PostIn> = (start..=end)
                    .map(|i| {
                        // Mostly short posts, every 1000th one at Telegram's 4,096-character limit.
                        let n = if i % 1000 == 0 {
                            600
                        } else {
                            3 + (i % 9) as usize
                        };
                        let body: Vec<&str> = (0..n)
                            .map(|k| words[(i as usize + k) % words.len()])
                            .collect();
                        post(
                            i,
                            1_700_000_000 + i64::from(i) * 60 + c as i64,
                            body.join(" "),
                        )
                    })
                    .collect();
                s.store_batch(*ch, "c", &batch, Some((start, end)))
                    .expect("batch");
            }
        }
        let n: i64 = s
            .read("count", |c| {
                c.query_row("SELECT count(*) FROM posts", [], |r| r.get(0))
            })
            .expect("count");
        assert_eq!(n, i64::from(POSTS));
    }
    // The export of the last thousand posts alone: what the process needs whatever the rows.
    let export = |format: &str, out: &std::path::Path, after: Option<i64>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tgsift"));
        cmd.args(["--db", db.to_str().expect("utf8"), "-q", "posts", "export"])
            .args(["--format", format, "--out", out.to_str().expect("utf8")]);
        if let Some(after) = after {
            cmd.args(["--after-id", &after.to_string()]);
        }
        let child = cmd
            .env_remove("RUST_LOG")
            .env_remove("TGSIFT_CONFIG")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn export");
        let (status, peak) = peak_rss_kib(child, Duration::from_secs(300));
        assert!(status.success(), "{format} export failed");
        peak
    };
    for (format, file) in [("jsonl", "all.jsonl"), ("csv", "all.csv")] {
        let out = dir.path().join(file);
        let base = export(format, &out, Some(i64::from(POSTS) - 1_000));
        let peak = export(format, &out, None);
        let rows = match format {
            "jsonl" => {
                let text = std::fs::read_to_string(&out).expect("read");
                let mut n = 0u64;
                let mut last = 0i64;
                for line in text.lines() {
                    let v: serde_json::Value = serde_json::from_str(line).expect("json line");
                    let id = v["post_id"].as_i64().expect("post_id");
                    assert!(id > last, "post-id order");
                    last = id;
                    n += 1;
                }
                n
            }
            _ => {
                let mut r = csv::Reader::from_path(&out).expect("csv");
                assert_eq!(
                    r.headers().expect("header").iter().collect::<Vec<_>>(),
                    COLUMNS
                );
                let mut n = 0u64;
                let mut last = 0i64;
                for rec in r.records() {
                    let id: i64 = rec.expect("csv record")[0].parse().expect("post_id");
                    assert!(id > last, "post-id order");
                    last = id;
                    n += 1;
                }
                n
            }
        };
        assert_eq!(rows, POSTS as u64, "{format}: one row per post");
        println!("{format}: exported {rows} posts, peak RSS {peak} KiB (1,000 posts: {base} KiB)");
        assert!(peak > 0 && base > 0, "peak RSS was read");
        // Streaming: a million rows cost no more than a thousand, give or take the page cache.
        assert!(
            peak <= base + 8 * 1024,
            "{format}: peak RSS {peak} KiB for a million posts, {base} KiB for a thousand"
        );
        assert!(
            peak <= 64 * 1024,
            "{format}: peak RSS {peak} KiB is above 64 MiB"
        );
    }
}

/// Every stored post, as the export's columns should show it, read straight from the tables.
fn expected_rows(db: &Path, include_deleted: bool) -> Vec<Vec<String>> {
    let s = SqliteStore::open(db).expect("store");
    s.read("expected", |c| {
        let mut st = c.prepare(
            "SELECT p.id, c.username, c.tg_id, p.message_id, p.date, p.edit_date, p.text, p.views, p.forwards,
                    p.grouped_id, p.has_media, p.tagging_status, p.deleted_at,
                    m.kind, m.mime, m.size, m.file_name, m.width, m.height, m.duration
             FROM posts p JOIN channels c ON c.id = p.channel_id
                  LEFT JOIN post_media m ON m.post_id = p.id
             WHERE ?1 OR p.deleted_at IS NULL ORDER BY p.id",
        )?;
        let mut tags = c.prepare("SELECT tag, score FROM post_tags WHERE post_id = ?1 ORDER BY score DESC, tag")?;
        let rows: Vec<(i64, Vec<String>)> = st
            .query_map([include_deleted], |r| {
                let opt = |i: usize| -> rusqlite::Result<String> {
                    Ok(r.get::<_, Option<i64>>(i)?.map(|v| v.to_string()).unwrap_or_default())
                };
                let date = |i: usize| -> rusqlite::Result<String> {
                    Ok(r.get::<_, Option<i64>>(i)?.map(iso).unwrap_or_default())
                };
                Ok((
                    r.get(0)?,
                    vec![
                        r.get::<_, i64>(0)?.to_string(),
                        r.get::<_, Option<String>>(1)?.unwrap_or_default(),
                        r.get::<_, i64>(2)?.to_string(),
                        r.get::<_, i64>(3)?.to_string(),
                        date(4)?,
                        date(5)?,
                        r.get(6)?,
                        opt(7)?,
                        opt(8)?,
                        opt(9)?,
                        r.get::<_, bool>(10)?.to_string(),
                        String::new(),
                        r.get(11)?,
                        date(12)?,
                        r.get::<_, Option<String>>(13)?.unwrap_or_default(),
                        r.get::<_, Option<String>>(14)?.unwrap_or_default(),
                        opt(15)?,
                        r.get::<_, Option<String>>(16)?.unwrap_or_default(),
                        opt(17)?,
                        opt(18)?,
                        opt(19)?,
                    ],
                ))
            })?
            .collect::<Result<_, _>>()?;
        let mut out = Vec::new();
        for (id, mut row) in rows {
            let list: Vec<serde_json::Value> = tags
                .query_map([id], |r| Ok(serde_json::json!({"tag": r.get::<_, String>(0)?, "score": r.get::<_, f64>(1)?})))?
                .collect::<Result<_, _>>()?;
            row[11] = serde_json::Value::Array(list).to_string();
            out.push(row);
        }
        Ok(out)
    })
    .expect("rows")
}

/// Posts whose texts and tags exercise quoting: commas, quotes, CR/LF, leading and trailing spaces,
/// emoji, an empty text; one deleted post; one private channel.
fn tricky_database(dir: &Path) -> PathBuf {
    let (db, ch) = database(dir, 2);
    let mut s = SqliteStore::open(&db).expect("store");
    let texts = [
        "plain",
        "comma, inside",
        "\"quoted\" and \"\"double\"\"",
        "line one\nline two\r\nline three",
        "  leading and trailing  ",
        "",
        "эмодзи 🚀 и «ёлочки»; semi;colon",
        "tab\there",
    ];
    let posts: Vec<PostIn> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| {
            post(
                i as i32 + 1,
                1_700_000_000 + i as i64 * 3600,
                (*t).to_owned(),
            )
        })
        .collect();
    s.store_batch(ch[0], "@c0", &posts, Some((1, texts.len() as i32)))
        .expect("batch");
    s.store_batch(ch[1], "1001", &posts[..2], Some((1, 2)))
        .expect("batch");
    s.write("tags and a deletion", |tx| {
        tx.execute_batch(
            "INSERT INTO post_tags (post_id, tag, score, source) VALUES
                (2, 'a \"tag\", with comma', 0.75, 'embedded'), (2, 'ставка', 1.5, 'embedded'),
                (4, 'x', 0.1, 'llm');
             UPDATE posts SET tagging_status = 'success' WHERE id IN (2, 4);
             UPDATE posts SET deleted_at = 1700009999 WHERE id = 3;",
        )
    })
    .expect("tags");
    db
}

#[test]
fn csv_and_jsonl_exports_read_back_equal_to_the_stored_rows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = tricky_database(dir.path());
    for include_deleted in [false, true] {
        let want = expected_rows(&db, include_deleted);
        assert_eq!(want.len(), if include_deleted { 10 } else { 9 });
        let csv_path = dir.path().join("out.csv");
        let mut args = vec![
            "posts",
            "export",
            "--format",
            "csv",
            "--out",
            csv_path.to_str().expect("utf8"),
        ];
        if include_deleted {
            args.push("--include-deleted");
        }
        let o = tgsift(&db, &args);
        assert!(o.status.success(), "{}", text(&o));
        assert!(
            String::from_utf8_lossy(&o.stdout)
                .contains(&format!("exported {} post(s)", want.len())),
            "{}",
            text(&o)
        );
        let mut r = csv::Reader::from_path(&csv_path).expect("csv");
        assert_eq!(
            r.headers().expect("header").iter().collect::<Vec<_>>(),
            COLUMNS
        );
        let got: Vec<Vec<String>> = r
            .records()
            .map(|rec| rec.expect("record").iter().map(str::to_owned).collect())
            .collect();
        // Tags compare as JSON values (number formatting aside).
        let parse = |s: &str| serde_json::from_str::<serde_json::Value>(s).expect("tags json");
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(parse(&g[11]), parse(&w[11]), "tags of post {}", w[0]);
            let strip = |v: &Vec<String>| {
                let mut v = v.clone();
                v[11].clear();
                v
            };
            assert_eq!(strip(g), strip(w));
        }

        // The same rows as JSON Lines on stdout, typed.
        let mut args = vec!["posts", "export"];
        if include_deleted {
            args.push("--include-deleted");
        }
        let o = tgsift(&db, &args);
        assert!(o.status.success(), "{}", text(&o));
        let raw = String::from_utf8(o.stdout).expect("utf8");
        let lines: Vec<serde_json::Value> = raw
            .lines()
            .map(|l| serde_json::from_str(l).expect("json"))
            .collect();
        assert_eq!(lines.len(), want.len());
        // A JSON line has the CSV's columns, the `media_*` ones as one `media` object.
        let keys: Vec<&str> = COLUMNS
            .iter()
            .filter(|k| !k.starts_with("media_"))
            .copied()
            .chain(["media"])
            .collect();
        for (line, (v, w)) in raw.lines().zip(lines.iter().zip(&want)) {
            assert_eq!(v.as_object().expect("object").len(), keys.len());
            let at: Vec<usize> = keys
                .iter()
                .map(|k| line.find(&format!("\"{k}\":")).expect("key present"))
                .collect();
            assert!(
                at.windows(2).all(|p| p[0] < p[1]),
                "stable columns in order: {line}"
            );
            let s = |k: &str| match k.strip_prefix("media_") {
                Some(field) => &v["media"][field],
                None => &v[k],
            };
            let s = |k: &str| match s(k) {
                serde_json::Value::Null => String::new(),
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let as_row: Vec<String> = COLUMNS.iter().map(|k| s(k)).collect();
            assert_eq!(v["tags"], parse(&w[11]));
            assert_eq!(&as_row[..11], &w[..11]);
            assert_eq!(&as_row[12..], &w[12..]);
        }
    }
    let none: Vec<&str> = std::fs::read_dir(dir.path())
        .expect("ls")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .map(|_| "tmp")
        .collect();
    assert!(none.is_empty(), "no temporary files are left");
}

#[test]
fn incremental_and_filtered_exports_take_exactly_the_posts_asked_for() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = tricky_database(dir.path());
    let ids = |args: &[&str]| -> Vec<i64> {
        let mut all = vec!["posts", "export"];
        all.extend_from_slice(args);
        let o = tgsift(&db, &all);
        assert!(o.status.success(), "{}", text(&o));
        String::from_utf8(o.stdout)
            .expect("utf8")
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).expect("json")["post_id"]
                    .as_i64()
                    .expect("id")
            })
            .collect()
    };
    assert_eq!(ids(&[]), vec![1, 2, 4, 5, 6, 7, 8, 9, 10]);
    assert_eq!(ids(&["--after-id", "5"]), vec![6, 7, 8, 9, 10]);
    assert_eq!(ids(&["--channel", "1001"]), vec![9, 10]);
    assert_eq!(ids(&["--channel", "@c0", "--channel", "#2"]).len(), 9);
    assert_eq!(ids(&["--tag", "x"]), vec![4]);
    assert_eq!(ids(&["--status", "success"]), vec![2, 4]);
    assert_eq!(ids(&["--media", "any"]), vec![4, 8]);
    assert_eq!(ids(&["--media", "voice"]), vec![8]);
    assert_eq!(ids(&["--media", "document"]), vec![4]);
    assert!(ids(&["--media", "photo"]).is_empty());
    assert_eq!(
        ids(&["--since", "2023-11-14", "--until", "2023-11-15"]),
        vec![1, 2, 9, 10]
    );
    let o = tgsift(&db, &["posts", "export", "--channel", "@nobody"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("no followed channel matches `@nobody`"),
        "{}",
        text(&o)
    );
    let o = tgsift(&db, &["posts", "export", "--since", "yesterday"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    // The summary names the id to continue from.
    let out = dir.path().join("inc.jsonl");
    let o = tgsift(
        &db,
        &[
            "posts",
            "export",
            "--after-id",
            "8",
            "--out",
            out.to_str().expect("utf8"),
        ],
    );
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("exported 2 post(s)")
            && String::from_utf8_lossy(&o.stdout).contains("--after-id 10"),
        "{}",
        text(&o)
    );
    // A failed export leaves the previous file as it was.
    std::fs::write(&out, "previous\n").expect("write");
    let o = tgsift(
        &db,
        &[
            "posts",
            "export",
            "--status",
            "bogus",
            "--out",
            out.to_str().expect("utf8"),
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(std::fs::read_to_string(&out).expect("read"), "previous\n");
}

#[test]
fn search_finds_russian_and_english_posts_in_any_inflection() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (db, ch) = database(dir.path(), 2);
    {
        let mut s = SqliteStore::open(&db).expect("store");
        let texts = [
            "Банк России сохранил ключевую ставку на уровне 16%",
            "Ставки по ипотеке снова растут",
            "The central bank raised interest rates again",
            "Oil prices are falling after the rate decision",
            "Нефть дешевеет вторую неделю",
            "Погода в Москве: снег",
        ];
        let posts: Vec<PostIn> = texts
            .iter()
            .enumerate()
            .map(|(i, t)| {
                post(
                    i as i32 + 1,
                    1_700_000_000 + i as i64 * 86_400,
                    (*t).to_owned(),
                )
            })
            .collect();
        s.store_batch(ch[0], "@c0", &posts[..3], Some((1, 3)))
            .expect("batch");
        s.store_batch(ch[1], "1001", &posts[3..], Some((4, 6)))
            .expect("batch");
    }
    let found = |args: &[&str]| -> Vec<(i64, String)> {
        let mut all = vec!["posts", "search", "--json"];
        all.extend_from_slice(args);
        let o = tgsift(&db, &all);
        assert!(o.status.success(), "{}", text(&o));
        let hits: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).expect("json");
        hits.iter()
            .map(|h| {
                (
                    h["message_id"].as_i64().expect("id"),
                    h["snippet"].as_str().expect("snippet").to_owned(),
                )
            })
            .collect()
    };
    let ids = |args: &[&str]| -> Vec<i64> {
        let mut v: Vec<i64> = found(args).into_iter().map(|h| h.0).collect();
        v.sort();
        v
    };
    // Russian: nominative plural, instrumental, genitive — and the stored forms differ again.
    assert_eq!(ids(&["ставки"]), vec![1, 2]);
    assert_eq!(ids(&["ставкой"]), vec![1, 2]);
    assert_eq!(ids(&["нефти"]), vec![5]);
    assert_eq!(ids(&["ключевая", "ставка"]), vec![1]);
    assert_eq!(ids(&["Москва"]), vec![6]);
    // English: singular for plural, -ing for -ed.
    assert_eq!(ids(&["rate"]), vec![3, 4]);
    assert_eq!(ids(&["raising", "RATES"]), vec![3]);
    assert_eq!(ids(&["oil", "price"]), vec![4]);
    assert_eq!(ids(&["\"interest rate\""]), vec![3]);
    // Filters.
    assert_eq!(ids(&["rate", "--channel", "@c0"]), vec![3]);
    assert_eq!(ids(&["rate", "--since", "2023-11-17"]), vec![4]);
    assert_eq!(ids(&["ставки", "--limit", "1"]).len(), 1);
    assert_eq!(ids(&["золото"]), Vec::<i64>::new());
    // A hit names its post as `posts list` does (`id`), with the date in both forms.
    let json = |args: &[&str]| -> Vec<serde_json::Value> {
        let o = tgsift(&db, args);
        assert!(o.status.success(), "{}", text(&o));
        serde_json::from_slice(&o.stdout).expect("json")
    };
    let hit = json(&["posts", "search", "--json", "нефти"]).remove(0);
    let listed = json(&["posts", "list", "--json", "--limit", "100"]);
    let post = listed
        .iter()
        .find(|p| p["id"] == hit["id"])
        .unwrap_or_else(|| panic!("hit {hit} is listed with its id"));
    assert!(hit.get("post_id").is_none(), "{hit}");
    for v in [&hit, post] {
        assert_eq!(v["message_id"], 5, "{v}");
        let (unix, iso) = (v["date"].as_i64().expect("date"), &v["date_iso"]);
        let want = jiff::Timestamp::from_second(unix)
            .expect("date")
            .to_string();
        assert_eq!(iso.as_str(), Some(want.as_str()), "{v}");
    }
    let snippet = found(&["ключевой", "ставкой"]);
    assert_eq!(
        snippet,
        vec![(
            1,
            "Банк России сохранил [ключевую] [ставку] на уровне 16%".to_owned()
        )],
        "the snippet is the original text with the inflected match marked"
    );
    let o = tgsift(&db, &["posts", "search", "—", "!!"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("no word to search for"), "{}", text(&o));
    let o = tgsift(&db, &["posts", "search", "ставки"]);
    let shown = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        shown.contains("[Ставки] по ипотеке") && shown.contains("@c0"),
        "{shown}"
    );
}

#[tokio::test]
async fn a_backup_taken_while_run_writes_holds_whole_batches_only() {
    within(180, async {
        let s = Setup::new(3, 3_000, |c| {
            c.latency = Latency {
                base: Duration::from_millis(60),
                jitter: Duration::ZERO,
            };
        })
        .await;
        let total: usize = s.truth().len();
        let mut child = s.spawn_with(&["run"], "60", &[("TGSIFT_TELEGRAM__MAX_IN_FLIGHT", "1")]);
        let db = s.db.clone();
        let count = |db: &Path| -> i64 {
            SqliteStore::open(db)
                .expect("store")
                .read("count", |c| {
                    c.query_row("SELECT count(*) FROM posts", [], |r| r.get(0))
                })
                .expect("count")
        };
        let t0 = Instant::now();
        while count(&db) < 500 {
            assert!(
                t0.elapsed() < Duration::from_secs(60),
                "ingest did not start"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let copy = s.dir.path().join("backup.db");
        let (db2, copy2) = (db.clone(), copy.clone());
        let o = tokio::task::spawn_blocking(move || {
            tgsift(&db2, &["backup", copy2.to_str().expect("utf8")])
        })
        .await
        .expect("join");
        assert!(o.status.success(), "{}", text(&o));
        assert!(text(&o).contains("integrity ok"), "{}", text(&o));
        let in_copy = count(&copy);
        let t1 = Instant::now();
        while count(&db) <= in_copy {
            assert!(
                t1.elapsed() < Duration::from_secs(60),
                "run stopped writing"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        sigterm(&child);
        let st =
            tokio::task::spawn_blocking(move || wait_exit(&mut child, Duration::from_secs(20)))
                .await
                .expect("join");
        assert_eq!(st.and_then(|s| s.code()), Some(0));
        assert!(
            in_copy >= 500 && (in_copy as usize) < total,
            "the backup was taken mid-backfill: {in_copy} of {total}"
        );

        // The copy is a sound database whose every channel holds exactly the posts up to its
        // checkpoint: batches and checkpoints went in together or not at all.
        let backup = SqliteStore::open(&copy).expect("open backup");
        let report: String = backup
            .read("check", |c| {
                c.query_row("PRAGMA integrity_check", [], |r| r.get(0))
            })
            .expect("integrity");
        assert_eq!(report, "ok");
        let mut seen = 0;
        for ch in backup.channels().expect("channels") {
            let name = ch.label();
            let want: Vec<i32> = s
                .sim
                .with_channel(&name, |c| {
                    c.post_ids()
                        .into_iter()
                        .filter(|id| *id <= ch.last_message_id)
                        .collect()
                })
                .expect("channel");
            let got = backup.message_ids(ch.id).expect("ids");
            assert_eq!(
                got, want,
                "{name}: posts up to checkpoint {}",
                ch.last_message_id
            );
            seen += got.len();
        }
        assert_eq!(seen as i64, in_copy);
    })
    .await;
}

#[test]
fn restore_is_refused_while_a_lease_is_held_or_a_worker_lives_and_then_swaps_safely() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = tricky_database(dir.path());
    let backup = dir.path().join("backup.db");
    let o = tgsift(&db, &["backup", backup.to_str().expect("utf8")]);
    assert!(o.status.success(), "{}", text(&o));
    // The live database moves on after the backup.
    {
        let mut s = SqliteStore::open(&db).expect("store");
        s.store_batch(
            1,
            "@c0",
            &[post(50, 1_700_100_000, "после бэкапа".into())],
            Some((9, 50)),
        )
        .expect("later post");
    }
    let posts = |db: &Path| {
        SqliteStore::open(db)
            .expect("store")
            .channel_post_count(1)
            .expect("count")
    };
    assert_eq!(posts(&db), 9);

    // An account's session lease is held (as `run` holds it).
    let lease = SessionLock::acquire("alice", &dir.path().join("alice.session")).expect("lease");
    let o = tgsift(&db, &["restore", backup.to_str().expect("utf8")]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("is in use") && text(&o).contains("session lease of account alice"),
        "{}",
        text(&o)
    );
    assert_eq!(posts(&db), 9, "nothing changed");
    drop(lease);

    // A worker that sent a heartbeat just now.
    let worker = SqliteStore::open(&db)
        .expect("store")
        .register_worker("host", 4242)
        .expect("worker");
    let o = tgsift(&db, &["restore", backup.to_str().expect("utf8")]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("tgsift run (pid 4242"), "{}", text(&o));
    SqliteStore::open(&db)
        .expect("store")
        .stop_worker(worker, None)
        .expect("stop");

    // Not a database: a usage error, nothing changed.
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, "not a database at all".repeat(300)).expect("write");
    let o = tgsift(&db, &["restore", junk.to_str().expect("utf8")]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("not a usable tgsift database"),
        "{}",
        text(&o)
    );
    assert_eq!(posts(&db), 9);

    // Free: the backup replaces the database; the replaced one is kept.
    let o = tgsift(&db, &["restore", backup.to_str().expect("utf8")]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(posts(&db), 8, "the backup's posts");
    let kept: Vec<PathBuf> = std::fs::read_dir(dir.path())
        .expect("ls")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.to_string_lossy().contains("t.db.before-restore-")
                && !p.to_string_lossy().ends_with("-wal")
                && !p.to_string_lossy().ends_with("-shm")
        })
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(posts(&kept[0]), 9, "the replaced database is kept whole");
    assert!(
        text(&o).contains(&kept[0].display().to_string()),
        "{}",
        text(&o)
    );
    let o = tgsift(&db, &["posts", "search", "--json", "quoted"]);
    let hits: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(hits.len(), 0, "post 3 is deleted in the backup too");
    let o = tgsift(
        &db,
        &["posts", "search", "--json", "--include-deleted", "quoted"],
    );
    let hits: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(hits.len(), 1);
}

#[tokio::test]
async fn stats_report_posts_per_day_tags_statuses_and_the_floods_and_retries_of_a_run() {
    within(90, async {
        let s = Setup::new(2, 300, |_| {}).await;
        s.sim
            .script(Scripted::on("messages.getHistory", Fault::FloodWait(1)).times(2));
        s.sim.script(Scripted::on("messages.getHistory", Fault::internal()));
        let mut child = s.spawn(&["run", "--once"], "60");
        let st = tokio::task::spawn_blocking(move || wait_exit(&mut child, Duration::from_secs(60)))
            .await
            .expect("join");
        assert_eq!(st.and_then(|s| s.code()), Some(0));
        let floods: u64 = s.sim.log().counts().iter().map(|(_, c)| c.flood).sum();
        assert_eq!(floods, 2, "the simulator answered two FLOOD_WAITs");

        // Tags on a few posts so the report has some.
        let store = SqliteStore::open(&s.db).expect("store");
        store
            .read("tag", |c| {
                c.execute_batch(
                    "INSERT INTO post_tags (post_id, tag, score, source) SELECT id, 'ставка', 1.0, 'test' FROM posts WHERE id % 3 = 0;
                     INSERT INTO post_tags (post_id, tag, score, source) SELECT id, 'нефть', 1.0, 'test' FROM posts WHERE id % 5 = 0;",
                )
            })
            .expect("tags");
        let (first, last, by_day): (i64, i64, Vec<(i64, i64)>) = store
            .read("dates", |c| {
                let (a, b) = c.query_row("SELECT min(date), max(date) FROM posts", [], |r| Ok((r.get(0)?, r.get(1)?)))?;
                let mut st = c.prepare("SELECT date - date % 86400, count(*) FROM posts GROUP BY 1 ORDER BY 1")?;
                let v = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<_, _>>()?;
                Ok((a, b, v))
            })
            .expect("dates");
        let count = |sql: &str| -> i64 {
            store.read("count", |c| c.query_row(sql, [], |r| r.get(0))).expect("count")
        };
        let total = count("SELECT count(*) FROM posts");
        let news = count("SELECT count(*) FROM posts p JOIN channels c ON c.id = p.channel_id WHERE c.username = 'sim_news'");
        let rate_tags = count("SELECT count(*) FROM post_tags WHERE tag = 'ставка'");
        assert!(total > 500 && news > 250 && rate_tags > 150, "{total} {news} {rate_tags}");
        // `run --once` leaves indexing to the first search: every post with text is queued, and a
        // search indexes them all before it answers.
        let with_text = count("SELECT count(*) FROM posts WHERE text != ''");
        assert_eq!(count("SELECT count(*) FROM search_queue"), with_text);
        assert_eq!(count("SELECT count(*) FROM posts_fts_docsize"), 0);
        let o = tgsift(&s.db, &["posts", "search", "--json", "--limit", "1000", "ставка"]);
        assert!(o.status.success(), "{}", text(&o));
        let hits: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
        assert!(!hits.as_array().expect("hits").is_empty());
        assert_eq!(count("SELECT count(*) FROM search_queue"), 0);
        assert_eq!(count("SELECT count(*) FROM posts_fts_docsize"), with_text);
        drop(store);
        let day = |ts: i64| tgsift::ops::stats::day_label(ts);
        let until = day(last + 86_400);
        let o = tgsift(&s.db, &["stats", "--since", &day(first), "--until", &until, "--json"]);
        assert!(o.status.success(), "{}", text(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
        assert_eq!(v["posts"].as_i64(), Some(total));
        assert_eq!(v["tagging"]["pending"].as_i64().unwrap_or(0) + v["tagging"]["skipped"].as_i64().unwrap_or(0), total);
        assert_eq!(v["top_tags"][0]["tag"], "ставка");
        assert_eq!(v["top_tags"][0]["posts"].as_i64(), Some(rate_tags));
        assert_eq!(v["top_tags"][1]["tag"], "нефть");
        // Per day, summed over channels, equals the stored dates.
        let days: Vec<String> = v["days"].as_array().expect("days").iter().map(|d| d.as_str().expect("day").to_owned()).collect();
        for (start, n) in &by_day {
            let i = days.iter().position(|d| *d == day(*start)).expect("day listed");
            let sum: i64 = v["channels"]
                .as_array()
                .expect("channels")
                .iter()
                .map(|c| c["per_day"][i]["posts"].as_i64().expect("n"))
                .sum();
            assert_eq!(sum, *n, "posts of {}", day(*start));
        }
        // One channel only; and the text report.
        let o = tgsift(&s.db, &["stats", "--since", &day(first), "--until", &until, "--channel", "@sim_news", "--json"]);
        let one: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
        assert_eq!(one["channels"].as_array().map(Vec::len), Some(1));
        assert_eq!(one["posts"].as_i64(), Some(news));
        // FLOOD_WAITs and retries count on the days they happened: today, in the default period of
        // the last 7 days (which holds none of the simulator's 2020 posts).
        let o = tgsift(&s.db, &["stats", "--json"]);
        let week: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
        assert_eq!(week["posts"].as_i64(), Some(0));
        assert_eq!(week["floods"].as_u64(), Some(2), "{week}");
        assert_eq!(week["retries"].as_u64(), Some(1), "{week}");
        assert_eq!(week["activity"][0]["account"], "alice");
        assert_eq!(week["days"].as_array().map(Vec::len), Some(7));
        let o = tgsift(&s.db, &["stats", "--since", &day(first), "--until", &until]);
        let shown = String::from_utf8_lossy(&o.stdout).to_string();
        assert!(
            shown.contains(&format!("{total} post(s) in 2 channel(s)")) && shown.contains("ставка"),
            "{shown}"
        );
        let shown = String::from_utf8_lossy(&tgsift(&s.db, &["stats"]).stdout).to_string();
        assert!(shown.contains("FLOOD_WAITs: 2  retries: 1"), "{shown}");
        let o = tgsift(&s.db, &["stats", "--since", "2024-02-01", "--until", "2024-01-01"]);
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    })
    .await;
}

/// A simulator media kind by the name tgsift gives it.
fn kind_name(k: tgsift_sim::media::SimMediaKind) -> &'static str {
    use tgsift_sim::media::SimMediaKind as K;
    match k {
        K::Photo => "photo",
        K::Video => "video",
        K::Document => "document",
        K::Audio => "audio",
        K::Voice => "voice",
        K::Sticker => "sticker",
        K::Poll => "poll",
        K::WebPage => "web_page",
        K::Geo => "geo",
        K::Contact => "contact",
    }
}

/// A post's media as compared: (kind, mime, size, file name, width, height, duration, file id, DC).
type MediaRow = (
    String,
    Option<String>,
    Option<i64>,
    Option<String>,
    Option<i32>,
    Option<i32>,
    Option<i32>,
    Option<i64>,
    Option<i32>,
);

#[tokio::test]
async fn the_media_of_every_kind_is_stored_shown_and_filtered_as_the_simulator_served_it() {
    within(120, async {
        let s = Setup::new(2, 1_500, |_| {}).await;
        let (code, _, err) = s.output(&["run", "--once"]).await;
        assert_eq!(code, Some(0), "{err}");

        let mut want: BTreeMap<(String, i32), MediaRow> = BTreeMap::new();
        for name in s.sim.channel_usernames() {
            let bare = name.trim_start_matches('@').to_string();
            s.sim
                .with_channel(&name, |c| {
                    for id in c.post_ids() {
                        let Some(m) = c.post(id).and_then(|p| p.media) else {
                            continue;
                        };
                        let file = m.file_id != 0;
                        want.insert(
                            (bare.clone(), id),
                            (
                                kind_name(m.kind).to_owned(),
                                m.mime,
                                m.size,
                                m.file_name,
                                m.width,
                                m.height,
                                m.duration,
                                file.then_some(m.file_id),
                                file.then_some(m.dc_id),
                            ),
                        );
                    }
                })
                .expect("channel");
        }
        let store = SqliteStore::open(&s.db).expect("store");
        let got: BTreeMap<(String, i32), MediaRow> = store
            .read("media", |c| {
                let mut st = c.prepare(
                    "SELECT c.username, p.message_id, m.kind, m.mime, m.size, m.file_name, m.width,
                            m.height, m.duration, m.file_id, m.dc_id, p.has_media
                     FROM posts p JOIN channels c ON c.id = p.channel_id
                          JOIN post_media m ON m.post_id = p.id",
                )?;
                st.query_map([], |r| {
                    assert!(r.get::<_, bool>(11)?, "has_media is set with a media row");
                    Ok((
                        (r.get(0)?, r.get(1)?),
                        (
                            r.get(2)?,
                            r.get(3)?,
                            r.get(4)?,
                            r.get(5)?,
                            r.get(6)?,
                            r.get(7)?,
                            r.get(8)?,
                            r.get(9)?,
                            r.get(10)?,
                        ),
                    ))
                })?
                .collect()
            })
            .expect("media rows");
        let kinds: BTreeSet<&str> = want.values().map(|m| m.0.as_str()).collect();
        assert_eq!(
            kinds.len(),
            10,
            "every kind the simulator serves is in this world: {kinds:?}"
        );
        assert_eq!(got.len(), want.len());
        for (post, m) in &want {
            assert_eq!(got.get(post), Some(m), "media of {post:?}");
        }
        let with_flag: i64 = store
            .read("flags", |c| {
                c.query_row("SELECT count(*) FROM posts WHERE has_media", [], |r| {
                    r.get(0)
                })
            })
            .expect("count");
        assert_eq!(
            with_flag as usize,
            want.len(),
            "no media post lacks its row"
        );

        // `posts list --media KIND` finds exactly the posts of that kind; `posts show` describes one.
        let videos = want.values().filter(|m| m.0 == "video").count();
        let o = tgsift(
            &s.db,
            &[
                "posts", "list", "--media", "video", "--limit", "10000", "--json",
            ],
        );
        assert!(o.status.success(), "{}", text(&o));
        let listed: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).expect("json");
        assert_eq!(listed.len(), videos);
        assert!(
            listed.iter().all(|p| p["media"]["kind"] == "video"),
            "{listed:?}"
        );
        let first = &listed[0];
        let o = tgsift(&s.db, &["posts", "show", &first["id"].to_string()]);
        let shown = String::from_utf8_lossy(&o.stdout).into_owned();
        let mime = first["media"]["mime"]
            .as_str()
            .expect("a video has a MIME type");
        assert!(
            shown.contains(&format!("media: video, {mime}, ")),
            "{shown}"
        );
        let o = tgsift(&s.db, &["posts", "list", "--media", "film"]);
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(
            text(&o).contains("web_page"),
            "the choices are named: {}",
            text(&o)
        );
    })
    .await;
}
