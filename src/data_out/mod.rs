//! Data out: what people take from the database to use elsewhere — streamed exports (JSON Lines,
//! CSV), the weekly statistics report, and backups and restores of the whole file. Full-text search
//! is a store query ([`tgsift_store::SqliteStore::search_posts`]).
//!
//! Everything here works on a [`tgsift_store::SqliteStore`] and writes to any `io::Write`, so the CLI and
//! the HTTP API share it and only translate requests and render answers.

pub mod backup;
pub mod export;
pub mod stats;
