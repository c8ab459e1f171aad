//! tgsift keeps the posts of many Telegram channels in a database (SQLite, or PostgreSQL shared by
//! several workers) and tags them, surviving floods, disconnects and restarts.
//!
//! This is the product crate: it wires three crates of its own — `tgsift_store` (the database,
//! both backends behind one set of traits), `tgsift_tagger` (the embedded tagger, pure functions)
//! and, with the default `sim` feature, `tgsift_sim` (the simulated Telegram DC that `demo`,
//! `sim serve` and every test run against) — to Telegram through grammers.
//!
//! # Layout
//!
//! Data flows one way: `telegram → ingest → store → tagging`. Each layer imports only the layers
//! below it; nothing imports [`runtime`] or [`cli`].
//!
//! ```text
//! cli                         the `tgsift` command line: parse, call ops or runtime, render
//! runtime                     `tgsift run`: the supervisor owning every task, the run wiring, demo
//! http                        the HTTP API, /metrics, health checks, the dashboard (calls ops)
//! ops                         every admin operation, once: channels, posts, tags, jobs, accounts,
//!                             export, statistics, backups, status
//! ingest   alerts  watches    channel sync and live mode per account; alerts and watches to people
//! sinks                       where messages for people go: webhooks, Saved Messages, chats
//! media                       downloads of posts' files (opt-in), beside each account's ingest
//! telegram      tagging       the client layer over grammers; taggers and the tagging pipeline
//! metrics  task  config       Prometheus families; TaskError; the configuration
//! tgsift_store  tgsift_tagger the database; the embedded tagger (crates of their own)
//! ```
//!
//! - [`config`]: the effective configuration (defaults < TOML file < environment), with the source of
//!   every value and validation that names the file, key and allowed range.
//! - [`task`]: [`task::TaskError`], how a long-running task says it failed and whether to restart it.
//! - [`metrics`]: the Prometheus families every layer records into, and ingest's own figures.
//! - [`telegram`]: the client layer over grammers — session files and their [`SessionLock`]
//!   (`telegram::session_lock`), login, flood policy, pacer, reconnects, pushed updates, one
//!   connection per account (`telegram::connections`) and, on PostgreSQL, the accounts a worker
//!   holds (`telegram::held_accounts`). The only place that talks to Telegram.
//! - [`tagging`]: taggers (the embedded one, an LLM with fallback models), what their errors mean,
//!   and the pipeline that keeps each post's tagging state durable.
//! - [`ingest`]: syncing channels into the store exactly once (checkpoint committed with each batch),
//!   live mode (pushed updates, gaps filled by differences), and the per-account task around both.
//! - `media`: downloading the files of stored posts that `media.download` wants into `media.dir`,
//!   named by their hash, resumable, beside each account's ingest (which starts it).
//! - [`alerts`]: telling a person when something failed for good (webhooks, Saved Messages).
//! - [`watches`]: telling a person when a post about their subject appears: tag, search and channel
//!   watches, each match delivered once, at once or as a digest.
//! - `sinks`: where both deliver — webhooks, the account's Saved Messages, a chat by `@username`.
//! - [`ops`]: the admin layer both front ends call; durable jobs for work that needs Telegram.
//! - [`http`]: the HTTP API of the running service (axum), with `/metrics`, health checks and the web
//!   dashboard (static page + JSON API, cookie sign-in).
//! - [`runtime`]: `tgsift run` as a long-running service — one supervisor owns every task, restarts
//!   what fails, stops everything on one token, and records its state for `tgsift status`.
//! - [`cli`]: the `tgsift` command line (clap), logging set-up and exit codes.
//!
//! [`SessionLock`]: telegram::session_lock::SessionLock

#![warn(unreachable_pub)]

pub(crate) mod alerts;
pub mod cli;
pub mod config;
pub mod http;
pub mod ingest;
pub(crate) mod media;
pub(crate) mod metrics;
pub mod ops;
pub mod runtime;
pub(crate) mod sinks;
pub mod tagging;
pub(crate) mod task;
pub mod telegram;
pub mod watches;
