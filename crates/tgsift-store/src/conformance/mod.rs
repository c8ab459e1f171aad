//! The store tests both backends must pass: each test is written once against the store traits and
//! runs on SQLite ([`SqliteStore`]) and on PostgreSQL ([`PgBackend`], when `TGSIFT_TEST_PG` names a
//! database; see `testing::postgres`). What a trait cannot show (a post's tagging status, tags set by
//! hand) is read and written through [`Inspect`], a test-only window into each backend's tables.
//!
//! One file per store trait (as in `src/store/`), each ending with `both! { test => body, … }`, which
//! makes a `sqlite` and a `postgres` test of every body.

use std::path::Path;
use std::time::Duration;

use super::postgres::backend::PgBackend;
use super::prelude::*;
use super::{BatchOutcome, PostIn, SqliteStore};
use crate::testing;
use crate::testing::postgres::fresh_store;

/// Raw access for the assertions the traits do not cover.
pub(super) trait Inspect {
    /// (text, tagging status, tags, deleted_at) of a post.
    fn post_state(
        &self,
        channel_id: i64,
        message_id: i32,
    ) -> Option<(String, String, i64, Option<i64>)>;
    /// The post's row id.
    fn post_id(&self, channel_id: i64, message_id: i32) -> i64;
    /// Tags every post of the channel (status `success`, one tag), as a tagger would.
    fn tag_all(&mut self, channel_id: i64);
    /// Records that a message was deleted before it was stored (as live mode does).
    fn remember_deletion(&mut self, channel_id: i64, message_id: i32, at: i64);
    /// When the post's tags were recorded (`tagged_at_ms`).
    fn tagged_at(&self, channel_id: i64, message_id: i32) -> Option<i64>;
    /// Message ids of the channel's posts marked deleted, ascending.
    fn deleted_ids(&self, channel_id: i64) -> Vec<i32>;
    /// Deletions remembered for messages not stored yet.
    fn tombstones(&self, channel_id: i64) -> i64;
    /// Marks a post deleted in its channel.
    fn mark_deleted(&mut self, channel_id: i64, message_id: i32);
    /// Deletes a post's row.
    fn delete_post(&mut self, channel_id: i64, message_id: i32);
    /// Posts in the full-text index.
    fn indexed_count(&self) -> i64;
}

impl Inspect for SqliteStore {
    fn post_state(
        &self,
        channel_id: i64,
        message_id: i32,
    ) -> Option<(String, String, i64, Option<i64>)> {
        use rusqlite::OptionalExtension;
        self.read("inspect", |c| {
            c.query_row(
                "SELECT text, tagging_status, (SELECT count(*) FROM post_tags t WHERE t.post_id = p.id),
                        deleted_at FROM posts p WHERE channel_id = ?1 AND message_id = ?2",
                rusqlite::params![channel_id, message_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()
        })
        .expect("inspect")
    }

    fn post_id(&self, channel_id: i64, message_id: i32) -> i64 {
        self.read("inspect", |c| {
            c.query_row(
                "SELECT id FROM posts WHERE channel_id = ?1 AND message_id = ?2",
                rusqlite::params![channel_id, message_id],
                |r| r.get(0),
            )
        })
        .expect("post id")
    }

    fn tag_all(&mut self, channel_id: i64) {
        self.write("tag", |tx| {
            tx.execute(
                "UPDATE posts SET tagging_status = 'success', tagging_attempts = 1, tagged_at_ms = 5
                 WHERE channel_id = ?1",
                [channel_id],
            )?;
            tx.execute(
                "INSERT INTO post_tags (post_id, tag, score, source)
                 SELECT id, 'x', 1.0, 'test' FROM posts WHERE channel_id = ?1",
                [channel_id],
            )
        })
        .expect("tag");
    }

    fn remember_deletion(&mut self, channel_id: i64, message_id: i32, at: i64) {
        self.write("remember", |tx| {
            tx.execute(
                "INSERT INTO message_deletions (channel_id, message_id, deleted_at) VALUES (?1, ?2, ?3)",
                rusqlite::params![channel_id, message_id, at],
            )
        })
        .expect("remember");
    }

    fn tagged_at(&self, channel_id: i64, message_id: i32) -> Option<i64> {
        self.read("inspect", |c| {
            c.query_row(
                "SELECT tagged_at_ms FROM posts WHERE channel_id = ?1 AND message_id = ?2",
                rusqlite::params![channel_id, message_id],
                |r| r.get(0),
            )
        })
        .expect("tagged at")
    }

    fn deleted_ids(&self, channel_id: i64) -> Vec<i32> {
        self.read("inspect", |c| {
            let mut st = c.prepare(
                "SELECT message_id FROM posts WHERE channel_id = ?1 AND deleted_at IS NOT NULL
                 ORDER BY message_id",
            )?;
            st.query_map([channel_id], |r| r.get(0))?.collect()
        })
        .expect("deleted")
    }

    fn tombstones(&self, channel_id: i64) -> i64 {
        self.read("inspect", |c| {
            c.query_row(
                "SELECT count(*) FROM message_deletions WHERE channel_id = ?1",
                [channel_id],
                |r| r.get(0),
            )
        })
        .expect("tombstones")
    }

    fn mark_deleted(&mut self, channel_id: i64, message_id: i32) {
        self.write("mark", |tx| {
            tx.execute(
                "UPDATE posts SET deleted_at = 1 WHERE channel_id = ?1 AND message_id = ?2",
                rusqlite::params![channel_id, message_id],
            )
        })
        .expect("mark deleted");
    }

    fn delete_post(&mut self, channel_id: i64, message_id: i32) {
        self.write("delete", |tx| {
            tx.execute(
                "DELETE FROM posts WHERE channel_id = ?1 AND message_id = ?2",
                rusqlite::params![channel_id, message_id],
            )
        })
        .expect("delete");
    }

    fn indexed_count(&self) -> i64 {
        self.read("fts rows", |c| {
            c.query_row("SELECT count(*) FROM posts_fts_docsize", [], |r| r.get(0))
        })
        .expect("count")
    }
}

impl Inspect for PgBackend {
    fn post_state(
        &self,
        channel_id: i64,
        message_id: i32,
    ) -> Option<(String, String, i64, Option<i64>)> {
        self.tx("inspect", async |tx| {
            Ok(tx
                .query_opt(
                    "SELECT text, tagging_status, (SELECT count(*) FROM post_tags t WHERE t.post_id = p.id),
                            deleted_at FROM posts p WHERE channel_id = $1 AND message_id = $2",
                    &[&channel_id, &i64::from(message_id)],
                )
                .await?
                .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3))))
        })
        .expect("inspect")
    }

    fn post_id(&self, channel_id: i64, message_id: i32) -> i64 {
        self.tx("inspect", async |tx| {
            Ok(tx
                .query_one(
                    "SELECT id FROM posts WHERE channel_id = $1 AND message_id = $2",
                    &[&channel_id, &i64::from(message_id)],
                )
                .await?
                .get(0))
        })
        .expect("post id")
    }

    fn tag_all(&mut self, channel_id: i64) {
        self.tx("tag", async |tx| {
            tx.execute(
                "UPDATE posts SET tagging_status = 'success', tagging_attempts = 1, tagged_at_ms = 5
                 WHERE channel_id = $1",
                &[&channel_id],
            )
            .await?;
            tx.execute(
                "INSERT INTO post_tags (post_id, tag, score, source)
                 SELECT id, 'x', 1.0, 'test' FROM posts WHERE channel_id = $1",
                &[&channel_id],
            )
            .await?;
            Ok(())
        })
        .expect("tag");
    }

    fn remember_deletion(&mut self, channel_id: i64, message_id: i32, at: i64) {
        self.tx("remember", async |tx| {
            tx.execute(
                "INSERT INTO message_deletions (channel_id, message_id, deleted_at) VALUES ($1, $2, $3)",
                &[&channel_id, &i64::from(message_id), &at],
            )
            .await?;
            Ok(())
        })
        .expect("remember");
    }

    fn tagged_at(&self, channel_id: i64, message_id: i32) -> Option<i64> {
        self.tx("inspect", async |tx| {
            Ok(tx
                .query_one(
                    "SELECT tagged_at_ms FROM posts WHERE channel_id = $1 AND message_id = $2",
                    &[&channel_id, &i64::from(message_id)],
                )
                .await?
                .get(0))
        })
        .expect("tagged at")
    }

    fn deleted_ids(&self, channel_id: i64) -> Vec<i32> {
        self.tx("inspect", async |tx| {
            Ok(tx
                .query(
                    "SELECT message_id FROM posts WHERE channel_id = $1 AND deleted_at IS NOT NULL
                     ORDER BY message_id",
                    &[&channel_id],
                )
                .await?
                .iter()
                .map(|r| r.get::<_, i64>(0) as i32)
                .collect())
        })
        .expect("deleted")
    }

    fn tombstones(&self, channel_id: i64) -> i64 {
        self.tx("inspect", async |tx| {
            Ok(tx
                .query_one(
                    "SELECT count(*) FROM message_deletions WHERE channel_id = $1",
                    &[&channel_id],
                )
                .await?
                .get(0))
        })
        .expect("tombstones")
    }

    fn mark_deleted(&mut self, channel_id: i64, message_id: i32) {
        self.tx("mark", async |tx| {
            tx.execute(
                "UPDATE posts SET deleted_at = 1 WHERE channel_id = $1 AND message_id = $2",
                &[&channel_id, &i64::from(message_id)],
            )
            .await?;
            Ok(())
        })
        .expect("mark deleted");
    }

    fn delete_post(&mut self, channel_id: i64, message_id: i32) {
        self.tx("delete", async |tx| {
            tx.execute(
                "DELETE FROM posts WHERE channel_id = $1 AND message_id = $2",
                &[&channel_id, &i64::from(message_id)],
            )
            .await?;
            Ok(())
        })
        .expect("delete");
    }

    fn indexed_count(&self) -> i64 {
        self.tx("inspect", async |tx| {
            Ok(tx
                .query_one(
                    "SELECT count(*) FROM posts WHERE search_vector IS NOT NULL",
                    &[],
                )
                .await?
                .get(0))
        })
        .expect("count")
    }
}

/// Runs `test` on a fresh SQLite store.
pub(super) fn on_sqlite(test: impl FnOnce(&mut SqliteStore)) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = SqliteStore::open(&dir.path().join("t.db")).expect("open");
    test(&mut store);
}

/// Runs `test` on a fresh PostgreSQL backend (a schema of its own), unless PostgreSQL tests are
/// skipped. The backend's calls run on a runtime of the test's own; the test body runs outside it.
pub(super) fn on_postgres(name: &str, test: impl FnOnce(&mut PgBackend)) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let opened = runtime.block_on(async {
        tokio::time::timeout(Duration::from_secs(30), fresh_store(name))
            .await
            .expect("the test database answered in time")
    });
    let Some(store) = opened else { return };
    let mut backend = PgBackend::new(
        store.expect("open the test store"),
        runtime.handle().clone(),
    );
    test(&mut backend);
}

/// The post of the conformance tests: [`testing::post`] seen with 10 views and 1 forward.
pub(super) fn post(id: i32, text: &str) -> PostIn {
    testing::post(id, text).counts(Some(10), Some(1))
}

/// A batch's outcome with the stored posts of its range it lacked (`unseen`).
pub(super) fn outcome(
    inserted: usize,
    edited: usize,
    unchanged: usize,
    unseen: &[i32],
) -> BatchOutcome {
    BatchOutcome {
        inserted,
        edited,
        unchanged,
        unseen: unseen.to_vec(),
    }
}

/// An account `a` following one channel `@news`; returns the channel's row id.
pub(super) fn setup<S: AccountStore + ChannelStore + ?Sized>(s: &mut S) -> i64 {
    let a = s
        .add_account("a", None, None, Path::new("a.session"))
        .expect("account");
    let c = crate::testing::news_channel();
    let ch = s.add_channel(a.id, &c).expect("add").expect("new");
    assert!(
        s.add_channel(a.id, &c).expect("again").is_none(),
        "adding twice is a no-op"
    );
    assert_eq!((ch.account.as_str(), ch.tg_id, ch.access_hash), ("a", 5, 7));
    ch.id
}

/// `both! { name => body, … }`: a test `sqlite::name` and a test `postgres::name` running `body`.
macro_rules! both {
    ($($name:ident => $body:ident),* $(,)?) => {
        mod sqlite {
            $(#[test] fn $name() { super::on_sqlite(|s| super::$body(s)); })*
        }
        mod postgres {
            $(#[test] fn $name() { super::on_postgres(concat!("conf_", stringify!($name)), |s| super::$body(s)); })*
        }
    };
}

mod accounts;
mod alerts;
mod channels;
mod comments;
mod counts;
mod downloads;
mod export;
mod imports;
mod jobs;
mod live;
mod media;
mod search;
mod stats;
mod tagging;
mod trends;
mod watches;
mod web_sessions;
mod workers;
