//! The client layer: everything between tgsift and Telegram.
//!
//! One place owns sessions, retries and pacing, so no other module ever sees a raw FLOOD_WAIT or a
//! dropped connection:
//! - [`session`]: grammers' `Session` on rusqlite, one 0600 file per account; Telethon string sessions.
//! - [`error`]: the flood / transient / permanent taxonomy callers branch on.
//! - [`pacer`]: per-method adaptive rates learned from FLOOD_WAITs (AIMD).
//! - [`client`]: an account's client with the whole policy around every call.
//! - [`updates`]: pushed channel updates and the calls that fill their gaps (live mode).
//! - `clock`: how far this machine's clock is from Telegram's (grammers cannot fix one ahead).
//! - `media`: a message's media (kind, file metadata) as the store keeps it.
//! - `counts`: fresh views, forwards, comments and reactions of posts.
//! - `comments`: a channel's discussion group and the replies under its posts.
//! - `dialogs`: the account's dialog list, page by page (what `channels import` follows).
//! - `files`: a file's fresh location and its bytes, chunk by chunk from the file's DC.
//! - `login`, `qr_login`: logging an account in, by login code or by QR code (2FA either way).
//! - `held_accounts`, `worker_mark`: on PostgreSQL, the accounts a worker leases, and its sign of
//!   life on its machine (a crashed worker's accounts are taken over without waiting).

pub(crate) mod channels;
pub mod client;
pub(crate) mod clock;
pub(crate) mod comments;
pub(crate) mod connections;
pub(crate) mod counts;
pub(crate) mod dialogs;
pub mod error;
pub(crate) mod files;
pub(crate) mod held_accounts;
pub(crate) mod login;
pub(crate) mod media;
pub(crate) mod metrics;
pub mod pacer;
pub(crate) mod qr_login;
pub mod session;
pub mod session_lock;
pub(crate) mod updates;
pub(crate) mod worker_mark;
