//! Fixtures for tests of the store and of the crates that use it (cargo feature `testing`; always
//! there for the store's own tests).
//!
//! - [`post`] and [`daily_post`]: the plain posts most tests store, one second or one day apart.
//!   Anything else a test needs of a post it adds with [`PostIn`]'s builders ([`PostIn::edited`],
//!   [`PostIn::counts`], …), so each test shows exactly the data it relies on.
//! - [`postgres`]: a PostgreSQL schema of the test's own in the database `TGSIFT_TEST_PG` names.

pub mod postgres;

use crate::PostIn;

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
