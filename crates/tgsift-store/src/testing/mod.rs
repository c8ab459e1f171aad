//! Fixtures for tests of the store and of the crates that use it (cargo feature `testing`; always
//! there for the store's own tests).
//!
//! - [`post`] and [`daily_post`]: the plain posts most tests store, one second or one day apart.
//!   Anything else a test needs of a post it adds with [`PostIn`]'s builders ([`PostIn::edited`],
//!   [`PostIn::counts`], …), so each test shows exactly the data it relies on.
//! - [`sqlite`], [`news_channel`], [`follow_news`] and [`news_with`]: a database in a temporary
//!   folder, and account `a` following `@news` with the posts a test stores.
//! - [`postgres`]: a PostgreSQL schema of the test's own in the database `TGSIFT_TEST_PG` names.

pub mod postgres;

use std::path::Path;

use crate::prelude::*;
use crate::{NewChannel, PostIn, SqliteStore};

/// The date of message 0 in the fixtures (unix seconds, 2023-11-14T22:13:20Z).
pub const EPOCH: i64 = 1_700_000_000;

/// A day in seconds: the step between the dates of [`daily_post`]s.
pub const DAY: i64 = 86_400;

/// A plain post dated `message_id` seconds after [`EPOCH`]: posts in message-id order a second apart.
pub fn post(message_id: i32, text: impl Into<String>) -> PostIn {
    PostIn::new(message_id, EPOCH + i64::from(message_id), text)
}

/// A plain post dated `message_id` days after [`EPOCH`]: far enough apart for date filters.
pub fn daily_post(message_id: i32, text: impl Into<String>) -> PostIn {
    PostIn::new(message_id, EPOCH + i64::from(message_id) * DAY, text)
}

/// A new SQLite database in a temporary folder, removed when the folder is dropped.
pub fn sqlite() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(&dir.path().join("t.db")).expect("open the test database");
    (dir, store)
}

/// The channel the fixtures follow: `@news` (Telegram id 5, access hash 7, title «News»), whole
/// history.
pub fn news_channel() -> NewChannel {
    NewChannel {
        tg_id: 5,
        access_hash: 7,
        username: Some("news".into()),
        title: "News".into(),
        backfill: "all".into(),
    }
}

/// Account `a` (session `a.session`) following [`news_channel`]; returns the channel's row id.
pub fn follow_news<S: AccountStore + ChannelStore + ?Sized>(store: &mut S) -> i64 {
    let a = store
        .add_account("a", None, None, Path::new("a.session"))
        .expect("add account a");
    store
        .add_channel(a.id, &news_channel())
        .expect("add @news")
        .expect("@news is new")
        .id
}

/// [`follow_news`], then `posts` stored as one batch that fetched ids 1 to `posts.len()`; returns the
/// channel's row id.
pub fn news_with<S: AccountStore + ChannelStore + ?Sized>(store: &mut S, posts: &[PostIn]) -> i64 {
    let id = follow_news(store);
    store
        .store_batch(id, "@news", posts, Some((1, posts.len() as i32)))
        .expect("store the posts");
    id
}
