//! `tgsift tags top`: the most frequent tags of a period, counted per post by stem key, against the
//! period of the same length before it, on a small fixed database.

use std::path::Path;
use std::process::Command;

use tgsift_store::prelude::*;
use tgsift_store::{NewChannel, PostIn, SqliteStore};

/// Unix seconds of a January 2026 day at noon UTC.
fn jan(day: i64) -> i64 {
    1_767_225_600 + (day - 1) * 86_400 + 12 * 3600
}

/// (channel, message id, day, tags) of a fixture's posts.
type FixturePost = (usize, i32, i64, &'static [&'static str]);

/// Two channels; posts on 2026-01-03..05 (previous week) and 2026-01-09..14 (the week asked about).
fn fixture(db: &Path) {
    // (channel, message id, day, tags)
    fixture_with(
        db,
        &[
            // previous period: 2026-01-01 .. 2026-01-08
            (0, 1, 3, &["нефть", "ключевая ставка"]),
            (0, 2, 4, &["нефть"]),
            (1, 3, 5, &["Зенит"]),
            // the period: 2026-01-08 .. 2026-01-15
            (0, 4, 9, &["ключевая ставка", "инфляция"]),
            (0, 5, 10, &["ключевые ставки", "нефть"]),
            (0, 6, 11, &["ключевая ставка"]),
            (1, 7, 12, &["Зенит", "Спартак"]),
            (1, 8, 14, &["Зенит"]),
            // after the period: never counted
            (0, 9, 20, &["ключевая ставка", "нефть"]),
        ],
    );
}

/// Channels @finance (0) and @sport (1) with `posts`, each tagged as a tagger would.
fn fixture_with(db: &Path, posts: &[FixturePost]) {
    let mut s = SqliteStore::open(db).expect("open store");
    let acc = s
        .add_account("main", None, None, Path::new("main.session"))
        .expect("account");
    let mut channels = Vec::new();
    for (tg_id, name) in [(101, "finance"), (102, "sport")] {
        let c = s
            .add_channel(
                acc.id,
                &NewChannel {
                    tg_id,
                    access_hash: 1,
                    username: Some(name.into()),
                    title: name.into(),
                    backfill: "all".into(),
                },
            )
            .expect("add channel")
            .expect("new channel");
        channels.push(c);
    }
    for &(ch, id, day, _) in posts {
        let c = &channels[ch];
        let post = PostIn::new(id, jan(day), format!("post {id}"));
        s.store_batch(c.id, &c.label(), &[post], Some((id, id)))
            .expect("store post");
    }
    let ids: Vec<(i64, i32)> = posts
        .iter()
        .map(|&(ch, id, _, _)| (channels[ch].id, id))
        .collect();
    for (&(_, _, _, tags), (channel_id, message_id)) in posts.iter().zip(ids) {
        let post_id = s
            .list_posts(&tgsift_store::PostFilter {
                channel: Some(format!("#{channel_id}")),
                limit: 100,
                ..Default::default()
            })
            .expect("list")
            .into_iter()
            .find(|p| p.message_id == message_id)
            .expect("stored post")
            .id;
        let tags: Vec<(String, f64)> = tags.iter().map(|t| ((*t).to_owned(), 1.0)).collect();
        let claim = s
            .claim_post(post_id, 60)
            .expect("claim")
            .expect("post")
            .claim;
        let attempt = tgsift_store::Attempt {
            post_id,
            claim,
            result: tgsift_store::AttemptResult::Tagged {
                tags,
                source: "embedded".into(),
            },
        };
        let rules = tgsift_store::RetryRules {
            max_attempts: 3,
            base_delay_secs: 1.0,
        };
        s.record_attempts(&[attempt], rules).expect("tags");
    }
}

fn top(db: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    tgsift(db, &[&["tags", "top"][..], args].concat())
}

fn tgsift(db: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_tgsift"))
        .arg("--db")
        .arg(db)
        .args(args)
        .env_remove("RUST_LOG")
        .env_remove("TGSIFT_CONFIG")
        .current_dir(db.parent().expect("dir"))
        .output()
        .expect("run tgsift");
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// `(tag, posts, previous, change)` rows of the JSON output.
fn rows(json: &str) -> Vec<(String, u64, u64, i64)> {
    let v: serde_json::Value = serde_json::from_str(json.trim()).expect("json");
    v["tags"]
        .as_array()
        .expect("tags")
        .iter()
        .map(|t| {
            (
                t["tag"].as_str().unwrap_or_default().to_owned(),
                t["posts"].as_u64().unwrap_or(u64::MAX),
                t["previous"].as_u64().unwrap_or(u64::MAX),
                t["change"].as_i64().unwrap_or(i64::MAX),
            )
        })
        .collect()
}

fn row(tag: &str, posts: u64, previous: u64, change: i64) -> (String, u64, u64, i64) {
    (tag.to_owned(), posts, previous, change)
}

#[test]
fn top_tags_of_a_week_with_their_change_against_the_week_before() {
    let d = tempfile::tempdir().expect("tempdir");
    let db = d.path().join("t.db");
    fixture(&db);
    let week = ["--since", "2026-01-08", "--until", "2026-01-15"];

    let (code, out, err) = top(&db, &[&week[..], &["--json"]].concat());
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        rows(&out),
        [
            // «ключевая ставка» and «ключевые ставки» are one tag (stem key), shown in its most
            // frequent stored form
            row("ключевая ставка", 3, 1, 2),
            row("Зенит", 2, 1, 1),
            row("Спартак", 1, 0, 1),
            row("инфляция", 1, 0, 1),
            row("нефть", 1, 2, -1),
        ]
    );

    let (code, out, _) = top(&db, &[&week[..], &["--json", "--limit", "2"]].concat());
    assert_eq!(code, Some(0));
    assert_eq!(
        rows(&out),
        [row("ключевая ставка", 3, 1, 2), row("Зенит", 2, 1, 1)]
    );

    let (code, out, _) = top(
        &db,
        &[&week[..], &["--json", "--channel", "@sport"]].concat(),
    );
    assert_eq!(code, Some(0));
    assert_eq!(rows(&out), [row("Зенит", 2, 1, 1), row("Спартак", 1, 0, 1)]);

    // the table: tag, posts, previous, change («new» when absent before)
    let (code, out, _) = top(&db, &[&week[..], &["--channel", "@sport"]].concat());
    assert_eq!(code, Some(0));
    let lines: Vec<Vec<&str>> = out
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        lines,
        [
            vec!["Зенит", "2", "1", "+1"],
            vec!["Спартак", "1", "0", "new"]
        ]
    );
}

/// Issue 31, item 3: with no period given and nothing posted in the last 7 days (a database `demo`
/// filled, an archive), the report shows the 7 days up to the newest post and says so; a period
/// chosen by the user that holds nothing says where the posts are.
#[test]
fn the_default_period_moves_to_the_newest_posts_when_the_last_week_has_none() {
    let d = tempfile::tempdir().expect("tempdir");
    let db = d.path().join("t.db");
    fixture(&db);
    let (code, out, err) = top(&db, &["--json"]);
    assert_eq!(code, Some(0), "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("json");
    // The newest post is of 2026-01-20: the period is 2026-01-14 .. 2026-01-21.
    let end = 1_767_225_600 + 20 * 86_400;
    assert_eq!(
        (v["since"].as_i64(), v["until"].as_i64()),
        (Some(end - 7 * 86_400), Some(end))
    );
    let mut got = rows(&out);
    got.sort();
    assert_eq!(
        got,
        [
            row("Зенит", 1, 1, 0),
            row("ключевая ставка", 1, 3, -2),
            row("нефть", 1, 1, 0),
        ]
    );
    assert!(
        err.contains("no posts in the last 7 days") && err.contains("2026-01-20"),
        "{err}"
    );

    let (code, out, err) = top(&db, &["--since", "2026-11-01", "--json"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(rows(&out).is_empty());
    assert!(
        err.contains("the newest post is from 2026-01-20") && err.contains("--since"),
        "{err}"
    );

    // `stats` keeps its week and names the dates that have posts.
    let o = Command::new(env!("CARGO_BIN_EXE_tgsift"))
        .arg("--db")
        .arg(&db)
        .args(["stats", "--json"])
        .env_remove("RUST_LOG")
        .env_remove("TGSIFT_CONFIG")
        .current_dir(d.path())
        .output()
        .expect("run tgsift");
    assert_eq!(o.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(
        v["posts"].as_i64(),
        Some(0),
        "stats keeps the last 7 days (its floods are today's)"
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("the newest post is from 2026-01-20")
            && err.contains("--since 2026-01-14 --until 2026-01-21"),
        "{err}"
    );
}

#[test]
fn a_tag_written_in_several_cases_is_one_tag_to_list_and_to_count() {
    let d = tempfile::tempdir().expect("tempdir");
    let db = d.path().join("t.db");
    fixture_with(
        &db,
        &[
            (0, 1, 9, &["Nvidia", "нефть"]),
            (0, 2, 10, &["nvidia", "NVIDIA"]),
            (1, 3, 11, &["nVidia"]),
            (1, 4, 12, &["Зенит"]),
        ],
    );
    for asked in ["nvidia", "NVIDIA", "Nvidia"] {
        let (code, out, err) = tgsift(&db, &["posts", "list", "--tag", asked, "--json"]);
        assert_eq!(code, Some(0), "{err}");
        let posts: Vec<serde_json::Value> = serde_json::from_str(&out).expect("json");
        let messages: Vec<i64> = posts
            .iter()
            .map(|p| p["message_id"].as_i64().unwrap_or(-1))
            .collect();
        assert_eq!(messages, [3, 2, 1], "--tag {asked}: {out}");
    }
    // One name, the first one given, wherever the tag is shown or counted.
    let (_, out, _) = tgsift(&db, &["posts", "list", "--json"]);
    assert!(
        out.contains("\"Nvidia\"") && !out.contains("\"nvidia\"") && !out.contains("\"NVIDIA\""),
        "{out}"
    );
    let (code, out, err) = top(
        &db,
        &["--since", "2026-01-08", "--until", "2026-01-15", "--json"],
    );
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        rows(&out),
        [
            row("Nvidia", 3, 0, 3),
            row("Зенит", 1, 0, 1),
            row("нефть", 1, 0, 1)
        ]
    );
}

#[test]
fn bad_options_are_usage_errors_naming_them() {
    let d = tempfile::tempdir().expect("tempdir");
    let db = d.path().join("t.db");
    fixture(&db);
    let (code, _, err) = top(&db, &["--since", "last week"]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("--since") && err.contains("last week"),
        "{err}"
    );
    let (code, _, err) = top(&db, &["--since", "2026-01-15", "--until", "2026-01-08"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("--since must be before --until"), "{err}");
    let (code, _, err) = top(&db, &["--channel", "@nosuch"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("@nosuch"), "{err}");
}
