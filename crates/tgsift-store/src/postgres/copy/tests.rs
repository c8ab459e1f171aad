use std::future::Future;
use std::path::Path;
use std::time::Duration;

use rusqlite::types::Value;

use super::super::PgStore;
use super::{CopyError, CopyOptions, Kind, TABLES, copy_sqlite};
use crate::prelude::*;
use crate::testing::EPOCH;
use crate::testing::postgres::fresh_store;
use crate::{NewChannel, PostIn, SqliteStore};

async fn within<T>(body: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(120), body)
        .await
        .expect("the copy test took longer than 120 s")
}

async fn target(test: &str) -> Option<PgStore> {
    fresh_store(test)
        .await
        .map(|s| s.expect("open the test store"))
}

/// Post `message_id` of a seeded channel, a minute apart, with every column varied by its id.
fn post(message_id: i32) -> PostIn {
    let text = if message_id % 5 == 0 {
        String::new()
    } else {
        format!(
            "пост {message_id} about rates «ставка» {}",
            "x".repeat((message_id % 13) as usize)
        )
    };
    PostIn::new(message_id, EPOCH + i64::from(message_id) * 60, text)
        .edited((message_id % 7 == 0).then_some(1_700_100_000))
        .counts(
            (message_id % 3 != 0).then_some(message_id * 10),
            (message_id % 4 == 0).then_some(message_id),
        )
        .album((message_id % 11 == 0).then_some(9_000 + i64::from(message_id)))
        .media((message_id % 2 == 0).then(|| crate::Media {
            size: Some(i64::from(message_id) * 1_000),
            file_name: (message_id % 4 == 0).then(|| format!("f{message_id}.pdf")),
            duration: Some(message_id),
            file_id: Some(i64::from(message_id) << 33),
            ..crate::Media::of(if message_id % 4 == 0 {
                crate::MediaKind::Document
            } else {
                crate::MediaKind::Photo
            })
        }))
}

/// An SQLite store with rows in every copied table: 2 accounts, 3 channels, 250 posts with tags,
/// versions, deletions, live state, client state, jobs, alerts and watches.
fn seed(path: &Path) -> SqliteStore {
    let mut store = SqliteStore::open(path).expect("open sqlite");
    let alice = store
        .add_account(
            "alice",
            Some("+100"),
            Some(42),
            Path::new("sessions/alice.session"),
        )
        .expect("alice");
    let bob = store
        .add_account("bob", None, None, Path::new("sessions/bob.session"))
        .expect("bob");
    let mut channels = Vec::new();
    for (account, tg_id, name) in [
        (alice.id, 1001, "news"),
        (alice.id, 1002, "rates"),
        (bob.id, 1003, "misc"),
    ] {
        let row = store
            .add_channel(
                account,
                &NewChannel {
                    tg_id,
                    access_hash: -tg_id * 7,
                    username: (tg_id != 1003).then(|| name.to_string()),
                    title: format!("Channel {name}"),
                    backfill: "all".into(),
                },
            )
            .expect("channel")
            .expect("new channel");
        channels.push(row);
    }
    let counts = [120, 90, 40];
    for (channel, count) in channels.iter().zip(counts) {
        let posts: Vec<PostIn> = (1..=count).map(post).collect();
        store
            .store_batch(channel.id, &channel.label(), &posts, Some((1, count)))
            .expect("posts");
    }
    let fresh: Vec<crate::CountsIn> = (1..=30)
        .map(|id| crate::CountsIn {
            message_id: id,
            views: Some(id * 1_000),
            forwards: (id % 2 == 0).then_some(id),
            replies: Some(id % 5),
            replies_max_id: None,
            reactions: (id % 3 == 0).then(|| vec![("👍".into(), id), ("custom:77".into(), 2)]),
        })
        .collect();
    store
        .record_counts(channels[0].id, &fresh, 1_700_000_700)
        .expect("counts");
    store
        .write("seed the other tables", |tx| {
            tx.execute_batch(
                "INSERT INTO post_tags (post_id, tag, score, source)
                     SELECT id, 'rates', 0.5 + id / 1000.0, 'embedded' FROM posts WHERE id % 3 = 0;
                 INSERT INTO post_tags (post_id, tag, score, source)
                     SELECT id, 'news', 0.25, 'llm' FROM posts WHERE id % 4 = 0;
                 UPDATE posts SET tagging_status = 'success', tagging_attempts = 1,
                        last_tagging_attempt = 1700000500, tagged_at_ms = 1700000500123
                     WHERE id % 3 = 0;
                 UPDATE posts SET tagging_status = 'retrying', tagging_attempts = 2,
                        tagging_error = 'HTTP 503', next_tagging_at = 1700000900 WHERE id % 17 = 0;
                 UPDATE posts SET deleted_at = 1700000777 WHERE id = 5;
                 INSERT INTO post_versions (post_id, text, edit_date, replaced_at)
                     SELECT id, 'before: ' || text, NULL, 1700000100 FROM posts WHERE id % 7 = 0;
                 INSERT INTO message_deletions (channel_id, message_id, deleted_at)
                     SELECT id, 500, 1700000200 FROM channels;
                 INSERT INTO channel_live (channel_id, pts, member, updated_at)
                     SELECT id, 100 + id, id % 2, 1700000300 FROM channels;
                 UPDATE channel_live SET pts = NULL, member = NULL WHERE channel_id = 3;
                 INSERT INTO pacer_state VALUES (1, 'messages.getHistory', 3.25, 10.0, 1700000400, 1700021600000),
                                                (1, 'channels.getMessages', 1.5, NULL, 1700000400, NULL),
                                                (2, 'messages.getHistory', 2.0, NULL, 1700000401, NULL);
                 INSERT INTO flood_windows VALUES (1, 'messages.getHistory', 1700000999123);
                 UPDATE accounts SET state = 'frozen', disabled_reason = '420 FROZEN_METHOD_INVALID',
                     identity = '{\"device_model\":\"tgsift\",\"system_version\":\"Linux\",\"app_version\":\"0.1.0\",\"lang_code\":\"en\",\"system_lang_code\":\"en\"}'
                     WHERE id = 2;
                 INSERT INTO budget_calls VALUES (1, 'contacts.resolveUsername', 1700000999001),
                                                 (1, 'contacts.resolveUsername', 1700000999002),
                                                 (2, 'channels.joinChannel', 1700000999003);
                 INSERT INTO breaker_state VALUES (2, 3, 1700001000000, 1700000500, 1700000400000);
                 INSERT INTO account_activity VALUES (1, 1699920000, 4, 9), (1, 1700006400, 1, 0),
                                                     (2, 1700006400, 0, 2);
                 INSERT INTO jobs (kind, args, state, attempts, created_at, updated_at, progress,
                                   result, cancel_requested, worker_id)
                     VALUES ('reparse', '{\"channel\":\"@news\",\"from\":1}', 'done', 1, 1700000000,
                             1700000010, '{\"done\":10}', '{\"posts\":10}', 0, 3),
                            ('retag', '{}', 'queued', 0, 1700000020, 1700000020, NULL, NULL, 1, NULL);
                 INSERT INTO alerts (kind, dedup_key, sink, account, message, details, created_at,
                                     next_at, delivered_at)
                     VALUES ('flood', 'flood:alice', 'https://hooks.example/x', 'alice',
                             'FLOOD_WAIT 300 s', '{\"seconds\":300}', 1700000600, 1700000600,
                             1700000601),
                            ('parked', 'parked:3', 'telegram', NULL, 'channel parked', '{}',
                             1700000700, 1700000760, NULL);
                 INSERT INTO media_files (file_id, status, attempts, next_at, size, sha256, path,
                                          error, queued_at, done_at)
                     VALUES (5000000000123, 'done', 0, 0, 183422, 'ab01', 'ab/ab01.jpg', NULL,
                             1700000500, 1700000510),
                            (9, 'failed', 5, 1700009000, 31457, NULL, NULL, 'FILE_ID_INVALID',
                             1700000500, NULL),
                            (10, 'pending', 1, 1700000900, NULL, NULL, NULL, 'FLOOD_WAIT', 1700000500,
                             NULL);
                 UPDATE channels SET comments = 1, linked_chat_id = 2000000001,
                     linked_access_hash = -77 WHERE id = 1;
                 UPDATE posts SET replies = 2, replies_max_id = 31 WHERE id = 1;
                 INSERT INTO comment_threads VALUES (1, 1, 2, 31, 1700000800, 12),
                                                    (2, 0, 0, 0, 1700000800, NULL);
                 INSERT INTO comments (post_id, message_id, reply_to, sender_kind, sender_id, author,
                                       date, edit_date, text, has_media, fetched_at, deleted_at)
                     VALUES (1, 30, NULL, 'user', 7001, NULL, 1700000700, NULL, 'первый', 0,
                             1700000800, NULL),
                            (1, 31, 30, 'anonymous', NULL, 'Editor', 1700000710, 1700000720,
                             'a reply', 1, 1700000800, NULL),
                            (1, 32, NULL, 'user', 7002, NULL, 1700000730, NULL, 'с тегами', 0,
                             1700000800, NULL),
                            (1, 29, NULL, 'channel', 1234, NULL, 1700000690, NULL, 'gone', 0,
                             1700000800, 1700000801);
                 UPDATE comments SET tags = '[\"Тег\",\"ИИ\"]' WHERE message_id = 32;
                 INSERT INTO watches (name, tag, query, channels, sink, every, account, created_at,
                                      last_digest_at)
                     VALUES ('rates', 'Ставки', NULL, NULL, 'webhook:https://hooks.example/w', 3600,
                             NULL, 1700000000, 1700003600),
                            ('oil', NULL, 'нефть', '[1,2]', 'saved-messages', NULL, 'alice',
                             1700000100, NULL);
                 INSERT INTO watch_queue VALUES (2, 1700000900, 1);
                 INSERT INTO watch_hits VALUES (1, 1, 1700000800, 1, 1700000800, 1700000801, NULL),
                                               (2, 2, 1700000810, 3, 1700000900, NULL, 'timeout');
                 UPDATE channels SET left_at = 1700000900 WHERE id = 2;
                 INSERT INTO dialog_imports VALUES
                     (1, '{\"groups\":false}', 1700000100, 77, 'channel', 1000000001, -5, 3, 250,
                      180, 1700000000, 1700000200, NULL),
                     (2, '{}', 0, 0, NULL, NULL, NULL, 9, 812, 301, 1700000000, 1700000300,
                      1700000300);",
            )
        })
        .expect("seed");
    store
}

/// Every row of `table` in SQLite, each value written out the way [`pg_rows`] writes PostgreSQL's.
fn sqlite_rows(store: &SqliteStore, table: &super::Table) -> Vec<Vec<String>> {
    let cols: Vec<&str> = table.columns.iter().map(|(c, _)| *c).collect();
    let order = table.key.join(", ");
    store
        .read("dump", |conn| {
            let mut stmt = conn.prepare(&format!(
                "SELECT {} FROM {} ORDER BY {order}",
                cols.join(", "),
                table.name
            ))?;
            let rows = stmt.query_map([], |r| {
                table
                    .columns
                    .iter()
                    .enumerate()
                    .map(|(i, (_, kind))| {
                        Ok(match (r.get::<_, Value>(i)?, kind) {
                            (Value::Null, _) => "NULL".to_string(),
                            (Value::Integer(n), Kind::Real) => format!("{:?}", n as f64),
                            (Value::Integer(n), _) => n.to_string(),
                            (Value::Real(f), _) => format!("{f:?}"),
                            (Value::Text(s), _) => s,
                            (Value::Blob(b), _) => format!("{b:?}"),
                        })
                    })
                    .collect()
            })?;
            rows.collect()
        })
        .expect("dump sqlite")
}

/// Every row of `table` in PostgreSQL, read with the column's own type.
async fn pg_rows(store: &PgStore, table: &super::Table) -> Vec<Vec<String>> {
    let cols: Vec<&str> = table.columns.iter().map(|(c, _)| *c).collect();
    let client = store.client("dump").await.expect("client");
    let rows = client
        .query(
            &format!(
                "SELECT {} FROM {} ORDER BY {}",
                cols.join(", "),
                table.name,
                table.key.join(", ")
            ),
            &[],
        )
        .await
        .expect("dump pg");
    rows.iter()
        .map(|row| {
            table
                .columns
                .iter()
                .enumerate()
                .map(|(i, (_, kind))| {
                    let text = match kind {
                        Kind::Int => row.get::<_, Option<i64>>(i).map(|n| n.to_string()),
                        Kind::Bool => row
                            .get::<_, Option<bool>>(i)
                            .map(|b| u8::from(b).to_string()),
                        Kind::Real => row.get::<_, Option<f64>>(i).map(|f| format!("{f:?}")),
                        Kind::Text => row.get::<_, Option<String>>(i),
                    };
                    text.unwrap_or_else(|| "NULL".into())
                })
                .collect()
        })
        .collect()
}

async fn assert_equal(sqlite: &SqliteStore, pg: &PgStore) {
    for table in TABLES {
        let want = sqlite_rows(sqlite, table);
        assert!(!want.is_empty(), "the seed leaves {} empty", table.name);
        assert_eq!(pg_rows(pg, table).await, want, "table {}", table.name);
    }
}

#[tokio::test]
async fn a_copy_is_exact_and_running_it_again_catches_up_without_duplicates() {
    within(async {
        let Some(pg) = target("copy_exact").await else {
            return;
        };
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("tgsift.db");
        let mut sqlite = seed(&path);

        let options = CopyOptions {
            batch: 40,
            max_batches: None,
        };
        let mut seen = Vec::new();
        let report = copy_sqlite(&path, &pg, options, |table, rows| seen.push((table, rows)))
            .await
            .expect("copy");
        assert!(report.complete && !report.resumed);
        for t in &report.tables {
            assert_eq!(t.source_rows, t.target_rows, "{}", t.table);
            assert_eq!(
                t.rows, t.source_rows,
                "{}: the first run writes every row",
                t.table
            );
        }
        let posts = report
            .tables
            .iter()
            .find(|t| t.table == "posts")
            .expect("posts");
        assert_eq!(posts.source_rows, 250);
        assert!(
            seen.contains(&("posts", 40)) && seen.contains(&("posts", 250)),
            "{seen:?}"
        );
        assert_equal(&sqlite, &pg).await;

        // Every copied account can be leased.
        let client = pg.client("check").await.expect("client");
        let leases: i64 = client
            .query_one("SELECT count(*) FROM account_leases", &[])
            .await
            .expect("leases")
            .get(0);
        assert_eq!(leases, 2);
        // New rows numbered by PostgreSQL come after the copied ids.
        let id: i64 = client
            .query_one(
                "INSERT INTO accounts (name) VALUES ('carol') RETURNING id",
                &[],
            )
            .await
            .expect("insert")
            .get(0);
        assert_eq!(id, 3);
        client
            .execute("DELETE FROM accounts WHERE name = 'carol'", &[])
            .await
            .expect("delete");

        // The SQLite side moves on; copying again makes PostgreSQL equal to it again.
        sqlite
            .write("change", |tx| {
                tx.execute_batch(
                    "UPDATE posts SET text = 'edited', tagging_status = 'pending' WHERE id = 10;
                     DELETE FROM post_tags WHERE post_id = 12 AND tag = 'news';
                     UPDATE post_tags SET score = 0.75 WHERE post_id = 3;",
                )
            })
            .expect("change");
        let more: Vec<PostIn> = (121..=130).map(post).collect();
        sqlite
            .store_batch(1, "@news", &more, Some((121, 130)))
            .expect("more");
        let again = copy_sqlite(&path, &pg, options, |_, _| {})
            .await
            .expect("copy again");
        assert!(
            again.complete && !again.resumed,
            "a finished copy starts over"
        );
        let posts = again
            .tables
            .iter()
            .find(|t| t.table == "posts")
            .expect("posts");
        assert_eq!((posts.source_rows, posts.target_rows), (260, 260));
        // A row deleted in SQLite after it was copied stays in PostgreSQL (the copy only upserts).
        let tags = again
            .tables
            .iter()
            .find(|t| t.table == "post_tags")
            .expect("tags");
        assert_eq!(tags.target_rows, tags.source_rows + 1);
        client
            .execute(
                "DELETE FROM post_tags WHERE post_id = 12 AND tag = 'news'",
                &[],
            )
            .await
            .expect("drop the stale tag");
        assert_equal(&sqlite, &pg).await;
    })
    .await
}

#[tokio::test]
async fn an_interrupted_copy_goes_on_after_its_last_batch() {
    within(async {
        let Some(pg) = target("copy_resume").await else {
            return;
        };
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("tgsift.db");
        let sqlite = seed(&path);

        // accounts (1 batch), channels (1), posts: 2 batches of 30 before the stop.
        let first = copy_sqlite(
            &path,
            &pg,
            CopyOptions {
                batch: 30,
                max_batches: Some(4),
            },
            |_, _| {},
        )
        .await
        .expect("first part");
        assert!(!first.complete);
        let rows = |r: &super::CopyReport, t: &str| {
            r.tables
                .iter()
                .find(|x| x.table == t)
                .map(|x| (x.rows, x.target_rows))
                .expect("table")
        };
        assert_eq!(rows(&first, "accounts"), (2, 2));
        assert_eq!(rows(&first, "channels"), (3, 3));
        assert_eq!(rows(&first, "posts"), (60, 60));
        assert_eq!(rows(&first, "post_tags"), (0, 0));

        let rest = copy_sqlite(
            &path,
            &pg,
            CopyOptions {
                batch: 30,
                max_batches: None,
            },
            |_, _| {},
        )
        .await
        .expect("the rest");
        assert!(rest.complete && rest.resumed);
        assert_eq!(
            rows(&rest, "accounts"),
            (0, 2),
            "finished tables are not copied again"
        );
        assert_eq!(
            rows(&rest, "posts"),
            (190, 250),
            "posts go on after the 60 copied"
        );
        assert_equal(&sqlite, &pg).await;
    })
    .await
}

#[tokio::test]
async fn a_value_that_does_not_fit_names_its_table_column_and_row() {
    within(async {
        let Some(pg) = target("copy_bad_value").await else {
            return;
        };
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("tgsift.db");
        let mut sqlite = seed(&path);
        sqlite
            .write("damage", |tx| {
                tx.execute("UPDATE posts SET views = 'many' WHERE id = 77", [])
            })
            .expect("damage");
        let err = copy_sqlite(
            &path,
            &pg,
            CopyOptions {
                batch: 50,
                max_batches: None,
            },
            |_, _| {},
        )
        .await
        .expect_err("refused");
        match &err {
            CopyError::Value {
                table,
                column,
                key,
                found,
                ..
            } => {
                assert_eq!((*table, *column, *key), ("posts", "views", 77));
                assert!(found.contains("many"), "{found}");
            }
            other => panic!("expected a value error, got {other:?}"),
        }
        let message = err.to_string();
        assert!(
            message.contains("tgsift.db") && message.contains("run the copy again"),
            "{message}"
        );
        // The batches before the bad one are kept: the first 50 posts are there.
        let client = pg.client("count").await.expect("client");
        let n: i64 = client
            .query_one("SELECT count(*) FROM posts", &[])
            .await
            .expect("n")
            .get(0);
        assert_eq!(n, 50);
    })
    .await
}

#[tokio::test]
async fn ids_removed_before_the_copy_are_not_handed_out_by_postgresql() {
    within(async {
        let Some(pg) = target("copy_ids_used").await else {
            return;
        };
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("tgsift.db");
        let mut sqlite = seed(&path);
        // The newest channel, with the newest posts (ids 211 to 250), goes before the copy.
        sqlite.remove_channel(3).expect("remove");
        let options = CopyOptions {
            batch: 100,
            max_batches: None,
        };
        let report = copy_sqlite(&path, &pg, options, |_, _| {})
            .await
            .expect("copy");
        assert!(report.complete);
        let client = pg.client("check").await.expect("client");
        let channel: i64 = client
            .query_one(
                "INSERT INTO channels (account_id, tg_id, title, created_at)
                 VALUES (2, 1004, 'new', 0) RETURNING id",
                &[],
            )
            .await
            .expect("channel")
            .get(0);
        assert_eq!(channel, 4, "channel 3 was handed out in SQLite");
        let post: i64 = client
            .query_one(
                "INSERT INTO posts (channel_id, message_id, date, fetched_at)
                 VALUES (4, 1, 0, 0) RETURNING id",
                &[],
            )
            .await
            .expect("post")
            .get(0);
        assert_eq!(post, 251, "posts up to 250 were handed out in SQLite");
    })
    .await
}
