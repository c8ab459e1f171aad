//! tgsift keeps the posts of many Telegram channels in SQLite and tags them.
//!
//! # Layout
//!
//! Data flows one way: `telegram → ingest → store → tagging`; the CLI drives it all.
//!
//! - [`config`]: the effective configuration (defaults < TOML file < environment), with the source of
//!   every value and validation that names the file, key and allowed range.
//! - [`store`]: the SQLite database of accounts, channels, posts and tagging state: versioned migrations,
//!   WAL, and writes on one writer thread (ingest's before tagging's, checkpoints beside it) off the
//!   async runtime with `SQLITE_BUSY` retried; and `store::postgres`, the database several workers share
//!   (account leases with fencing epochs, sealed sessions, `db copy` from SQLite).
//! - [`telegram`]: the client layer over grammers: session files, leases, login, flood policy, pacer,
//!   reconnects, pushed updates — the only place that talks to Telegram.
//! - [`ingest`]: syncing channels into the store exactly once (checkpoint committed with each batch),
//!   live mode (pushed updates, gaps filled by differences, each channel's pts stored with its posts,
//!   polling as the reconciler), and the long-running service around it.
//! - [`tagging`]: taggers (embedded TF-IDF, LLM with fallback models), what their errors mean, and the
//!   pipeline that keeps each post's tagging state durable.
//! - [`sim`]: a simulated Telegram data centre — a real MTProto 2.0 server on loopback that the unmodified
//!   grammers client talks to. Tests, benchmarks and the demo run against it.
//! - [`data_out`]: getting posts out — streamed JSON Lines/CSV exports, the `stats` report, online
//!   backups and safe restores (full-text search is a store query over an FTS5 index).
//! - [`service`]: `tgsift run` as a long-running service — one supervisor owns every task (ingest
//!   per account, tagging), restarts what fails, stops everything on one token, and records its state
//!   in the database for `tgsift status`.
//! - [`ops`]: the admin layer both front ends call — channel, post, tagging and account operations,
//!   and durable admin jobs (queued, retried, cancellable) for work that needs Telegram or takes long.
//! - [`http`]: the HTTP API of the running service (axum), with `/metrics`, health checks and the web
//!   dashboard (static page + JSON API, cookie sign-in).
//! - [`alerts`]: telling a person when something failed for good (webhooks, Saved Messages).
//! - [`metrics`]: Prometheus metrics of the running service.
//! - [`cli`]: the `tgsift` command line (clap), logging set-up and exit codes.

pub mod alerts;
pub mod cli;
pub mod config;
pub mod http;
pub mod ingest;
pub mod metrics;
pub mod ops;
pub mod runtime;
pub mod tagging;
pub mod task;
pub mod telegram;
