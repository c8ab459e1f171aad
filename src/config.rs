//! The effective configuration: built-in defaults < TOML file < environment.
//!
//! Every key is declared once, in [`KEYS`], with its type, allowed range, default and environment names.
//! That one table drives loading, validation, `tgsift config show` and the README's reference, so a key
//! cannot be documented in one place and parsed differently in another. Values are checked against the
//! table before they reach the typed [`Config`], and each error names the file or environment variable,
//! the key and what is allowed.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// Where the file comes from when `--config` is not given.
pub(crate) const CONFIG_ENV: &str = "TGSIFT_CONFIG";
/// The file read from the working directory when neither `--config` nor `TGSIFT_CONFIG` is set.
pub(crate) const DEFAULT_CONFIG_FILE: &str = "tgsift.toml";
/// Prefix of the generic environment overrides: `TGSIFT_<SECTION>__<KEY>`.
pub(crate) const ENV_PREFIX: &str = "TGSIFT_";

/// The value type of a key, with its allowed range; it drives parsing and validation.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Kind {
    /// A whole number within `min..=max`.
    Int { min: i64, max: i64 },
    /// A number of seconds (fractions allowed) within `min..=max`.
    Seconds { min: f64, max: f64 },
    /// Free text (paths, URLs, names).
    Text,
    /// Telegram's api_hash: 32 hexadecimal characters.
    ApiHash,
    /// One of a fixed set of words.
    Choice(&'static [&'static str]),
    /// A list of strings.
    List,
    /// `true` or `false`.
    Bool,
    /// A backfill policy: `all`, a number N (the newest N messages) or `since:YYYY-MM-DD`.
    Backfill,
    /// A SOCKS5 proxy URL: `socks5://[user:password@]host:port`.
    Proxy,
    /// A refresh schedule: a list of `EVERY/AGE` steps (`15m/1d`).
    Schedule,
    /// Download rules: a list of `[@channel:]KIND[<=SIZE]` ([`tgsift_store::DownloadRules`]).
    Downloads,
    /// A number of bytes with an optional unit (`10GB`, `512MiB`).
    Size,
}

/// One configuration key: the single source of truth for its type, default, environment names and docs.
#[derive(Clone, Copy, Debug)]
pub(crate) struct KeySpec {
    /// `section.key`, as written in the TOML file.
    pub key: &'static str,
    /// Type and allowed range.
    pub kind: Kind,
    /// The default as a TOML literal, or `None` when the key has no default (it is then optional).
    pub default: Option<&'static str>,
    /// Environment names users already know (applied before the generic `TGSIFT_SECTION__KEY`).
    pub aliases: &'static [&'static str],
    /// Whether the value is a secret: never printed, never logged.
    pub secret: bool,
    /// One line for `config show --help` and the README.
    pub doc: &'static str,
}

impl KeySpec {
    /// The generic environment name of this key, e.g. `TGSIFT_TELEGRAM__RETRY_DELAY`.
    pub(crate) fn env_name(&self) -> String {
        format!("{ENV_PREFIX}{}", self.key.replace('.', "__").to_uppercase())
    }

    fn section_and_name(&self) -> (&'static str, &'static str) {
        self.key.split_once('.').unwrap_or(("", self.key))
    }

    /// Human description of what the key accepts, used in errors and docs.
    pub(crate) fn allowed(&self) -> String {
        match self.kind {
            Kind::Int { min, max } => format!("a whole number from {min} to {max}"),
            Kind::Seconds { min, max } => format!("seconds from {min} to {max}"),
            Kind::Text => "a string".into(),
            Kind::ApiHash => "32 hexadecimal characters (from my.telegram.org)".into(),
            Kind::Choice(words) => format!("one of {}", words.join(", ")),
            Kind::List => "a list of strings".into(),
            Kind::Bool => "true or false".into(),
            Kind::Backfill => {
                "\"all\", a number N (the newest N messages) or \"since:YYYY-MM-DD\"".into()
            }
            Kind::Proxy => "socks5://[user:password@]host:port".into(),
            Kind::Schedule => "a list of \"EVERY/AGE\" steps, each a number with s, m, h or d (\"15m/1d\": every 15 minutes while younger than a day); [] is off".into(),
            Kind::Downloads => "a list of \"KIND\" or \"KIND<=SIZE\" (photo, video, video_note, animation, audio, voice, sticker, document, web_page or any), each optionally for one channel (\"@name:video<=2GB\", \"@name:none\"); [] is off".into(),
            Kind::Size => "a size: a number with B, KB, MB, GB, TB (or KiB, MiB, GiB, TiB)".into(),
        }
    }
}

/// Every configuration key tgsift reads.
pub(crate) const KEYS: &[KeySpec] = &[
    KeySpec {
        key: "telegram.api_id",
        kind: Kind::Int {
            min: 1,
            max: i32::MAX as i64,
        },
        default: None,
        aliases: &["TG_API_ID"],
        secret: false,
        doc: "Telegram API id from my.telegram.org (needed before any network use)",
    },
    KeySpec {
        key: "telegram.api_hash",
        kind: Kind::ApiHash,
        default: None,
        aliases: &["TG_API_HASH"],
        secret: true,
        doc: "Telegram API hash (never printed or logged)",
    },
    KeySpec {
        key: "telegram.flood_sleep_threshold",
        kind: Kind::Int {
            min: 0,
            max: 86_400,
        },
        default: Some("60"),
        aliases: &[],
        secret: false,
        doc: "FLOOD_WAITs up to this many seconds are slept through; longer ones park the channel",
    },
    KeySpec {
        key: "telegram.flood_max_retries",
        kind: Kind::Int { min: 0, max: 100 },
        default: Some("5"),
        aliases: &[],
        secret: false,
        doc: "How many FLOOD_WAITs one request may sleep through before it fails",
    },
    KeySpec {
        key: "telegram.connection_retries",
        kind: Kind::Int {
            min: -1,
            max: 10_000,
        },
        default: Some("5"),
        aliases: &[],
        secret: false,
        doc: "Retries of a request after connection errors, 500s and timeouts (-1 = forever)",
    },
    KeySpec {
        key: "telegram.retry_delay",
        kind: Kind::Seconds {
            min: 0.01,
            max: 600.0,
        },
        default: Some("1.0"),
        aliases: &[],
        secret: false,
        doc: "First reconnect/retry delay; it doubles on each retry, with full jitter",
    },
    KeySpec {
        key: "telegram.retry_max_delay",
        kind: Kind::Seconds {
            min: 0.01,
            max: 3_600.0,
        },
        default: Some("60.0"),
        aliases: &[],
        secret: false,
        doc: "Cap of the retry delay (not below retry_delay)",
    },
    KeySpec {
        key: "telegram.ping_deadline",
        kind: Kind::Seconds {
            min: 0.5,
            max: 600.0,
        },
        default: Some("20.0"),
        aliases: &[],
        secret: false,
        doc: "Each connection is pinged every half of this; a ping unanswered for this long (or two requests in a row without an answer) means a half-open connection: it is dropped and rebuilt",
    },
    KeySpec {
        key: "telegram.request_timeout",
        kind: Kind::Seconds {
            min: 0.1,
            max: 3_600.0,
        },
        default: Some("30.0"),
        aliases: &[],
        secret: false,
        doc: "A request without an answer after this long is treated as a lost connection",
    },
    KeySpec {
        key: "telegram.pacer_initial_rate",
        kind: Kind::Seconds {
            min: 0.01,
            max: 1_000.0,
        },
        default: Some("3.0"),
        aliases: &[],
        secret: false,
        doc: "Requests per second a method starts at before the pacer has learned its limit (it doubles every second until the first FLOOD_WAIT)",
    },
    KeySpec {
        key: "telegram.pacer_min_rate",
        kind: Kind::Seconds {
            min: 0.001,
            max: 1_000.0,
        },
        default: Some("0.05"),
        aliases: &[],
        secret: false,
        doc: "Lowest rate (requests per second) the pacer halves down to",
    },
    KeySpec {
        key: "telegram.pacer_max_rate",
        kind: Kind::Seconds {
            min: 0.01,
            max: 10_000.0,
        },
        default: Some("200.0"),
        aliases: &[],
        secret: false,
        doc: "Highest rate (requests per second) the pacer climbs to",
    },
    KeySpec {
        key: "telegram.pacer_quiet",
        kind: Kind::Seconds {
            min: 0.0,
            max: 3_600.0,
        },
        default: Some("5.0"),
        aliases: &[],
        secret: false,
        doc: "Seconds without a FLOOD_WAIT before the pacer raises a method's rate again",
    },
    KeySpec {
        key: "telegram.probe_hold",
        kind: Kind::Seconds {
            min: 0.0,
            max: 604_800.0,
        },
        default: Some("21600.0"),
        aliases: &[],
        secret: false,
        doc: "After a FLOOD_WAIT longer than flood_sleep_threshold, seconds the pacer stays below the learned limit instead of probing above it",
    },
    KeySpec {
        key: "telegram.resolve_interval",
        kind: Kind::Seconds {
            min: 0.0,
            max: 86_400.0,
        },
        default: Some("10.0"),
        aliases: &[],
        secret: false,
        doc: "Seconds between `contacts.resolveUsername` calls of an account after a burst of 3 (Telegram answers abuse with waits of hours)",
    },
    KeySpec {
        key: "telegram.resolve_per_day",
        kind: Kind::Int {
            min: 1,
            max: 100_000,
        },
        default: Some("500"),
        aliases: &[],
        secret: false,
        doc: "`contacts.resolveUsername` calls an account makes in any 24 hours",
    },
    KeySpec {
        key: "telegram.join_interval",
        kind: Kind::Seconds {
            min: 0.0,
            max: 86_400.0,
        },
        default: Some("180.0"),
        aliases: &[],
        secret: false,
        doc: "Seconds between `channels.joinChannel` calls of an account after a burst of 2 (joining is limited per hour and per day: 20 an hour)",
    },
    KeySpec {
        key: "telegram.max_channels",
        kind: Kind::Int { min: 1, max: 1_000 },
        default: Some("480"),
        aliases: &[],
        secret: false,
        doc: "Channels an account joins at most (Telegram answers CHANNELS_TOO_MUCH at 500, 1,000 with Premium)",
    },
    KeySpec {
        key: "telegram.join_per_day",
        kind: Kind::Int {
            min: 1,
            max: 10_000,
        },
        default: Some("50"),
        aliases: &[],
        secret: false,
        doc: "`channels.joinChannel` calls an account makes in any 24 hours",
    },
    KeySpec {
        key: "telegram.max_in_flight",
        kind: Kind::Int { min: 1, max: 64 },
        default: Some("8"),
        aliases: &[],
        secret: false,
        doc: "Requests an account may have waiting for an answer at once (pages of one or several channels); the pacer still sets the rate",
    },
    KeySpec {
        key: "telegram.proxy",
        kind: Kind::Proxy,
        default: None,
        aliases: &[],
        secret: true,
        doc: "SOCKS5 proxy every account connects through, unless it has its own (`tgsift account proxy`); its credentials are never printed",
    },
    KeySpec {
        key: "telegram.device_model",
        kind: Kind::Text,
        default: Some("\"tgsift\""),
        aliases: &[],
        secret: false,
        doc: "Device model the client presents to Telegram (`initConnection`); fixed for an account when it is added, so every process presents the same one",
    },
    KeySpec {
        key: "telegram.system_version",
        kind: Kind::Text,
        default: Some("\"Linux\""),
        aliases: &[],
        secret: false,
        doc: "System version the client presents (fixed per account when it is added)",
    },
    KeySpec {
        key: "telegram.app_version",
        kind: Kind::Text,
        default: Some(concat!("\"", env!("CARGO_PKG_VERSION"), "\"")),
        aliases: &[],
        secret: false,
        doc: "App version the client presents (fixed per account when it is added)",
    },
    KeySpec {
        key: "telegram.lang_code",
        kind: Kind::Text,
        default: Some("\"en\""),
        aliases: &[],
        secret: false,
        doc: "Language code the client presents (fixed per account when it is added)",
    },
    KeySpec {
        key: "telegram.system_lang_code",
        kind: Kind::Text,
        default: Some("\"en\""),
        aliases: &[],
        secret: false,
        doc: "System language code the client presents (fixed per account when it is added)",
    },
    KeySpec {
        key: "storage.database",
        kind: Kind::Text,
        default: Some("\"tgsift.db\""),
        aliases: &[],
        secret: false,
        doc: "Path of the SQLite database of posts, or a `postgres://` URL (`--db` overrides it)",
    },
    KeySpec {
        key: "storage.sessions_dir",
        kind: Kind::Text,
        default: Some("\"sessions\""),
        aliases: &[],
        secret: false,
        doc: "Folder of the per-account session files (`<account>.session`, mode 0600)",
    },
    KeySpec {
        key: "storage.lease_time",
        kind: Kind::Seconds {
            min: 2.0,
            max: 600.0,
        },
        default: Some("30"),
        aliases: &[],
        secret: false,
        doc: "PostgreSQL store: how long a worker's lease on an account lasts without a heartbeat (renewed every third of it); a dead worker's accounts are taken over after it",
    },
    KeySpec {
        key: "ingest.poll_interval",
        kind: Kind::Seconds {
            min: 1.0,
            max: 86_400.0,
        },
        default: Some("60.0"),
        aliases: &[],
        secret: false,
        doc: "How often a polled channel is checked for new posts (jittered): every channel in poll mode, in live mode those the account is not a member of",
    },
    KeySpec {
        key: "ingest.backfill",
        kind: Kind::Backfill,
        default: Some("\"all\""),
        aliases: &[],
        secret: false,
        doc: "What a newly added channel fetches first: all, the newest N, or since:DATE",
    },
    KeySpec {
        key: "ingest.mode",
        kind: Kind::Choice(&["live", "poll"]),
        default: Some("\"live\""),
        aliases: &[],
        secret: false,
        doc: "live: channels the account is a member of are followed through the updates Telegram pushes, and polled only as a reconciler; poll: every channel is polled at poll_interval",
    },
    KeySpec {
        key: "ingest.reconcile_interval",
        kind: Kind::Seconds {
            min: 10.0,
            max: 604_800.0,
        },
        default: Some("3600.0"),
        aliases: &[],
        secret: false,
        doc: "Live mode: how often a channel followed through updates is polled anyway, to catch anything the updates missed (jittered)",
    },
    KeySpec {
        key: "ingest.live_check_interval",
        kind: Kind::Seconds {
            min: 1.0,
            max: 86_400.0,
        },
        default: Some("300.0"),
        aliases: &[],
        secret: false,
        doc: "Live mode: every followed channel's difference is asked at least this often (round robin, re-armed by each update or difference), so a channel Telegram stops pushing, or never pushes, is still stored within this; a longer `timeout` from Telegram is honoured",
    },
    KeySpec {
        key: "ingest.live_keepalive",
        kind: Kind::Seconds {
            min: 1.0,
            max: 86_400.0,
        },
        default: Some("45.0"),
        aliases: &[],
        secret: false,
        doc: "Live mode: an account that sent no request for this long asks updates.getDifference, because Telegram stops pushing to a connection without requests after a while it does not document (Telethon asks every 30 minutes; the simulator's hostile setting stops after 60 s); one small request per account per interval",
    },
    KeySpec {
        key: "ingest.counts_refresh",
        kind: Kind::Schedule,
        default: Some("[]"),
        aliases: &[],
        secret: false,
        doc: "How often the views, forwards, comments and reactions of recent posts are read again as they age (Telegram raises them only when someone looks; two small requests per 100 posts): e.g. [\"15m/1d\", \"1h/7d\", \"1d/30d\"] refreshes a post every 15 minutes on its first day, hourly for a week, daily for a month; [] (the default) keeps the counts seen at fetch time",
    },
    KeySpec {
        key: "ingest.comments",
        kind: Kind::Bool,
        default: Some("false"),
        aliases: &[],
        secret: false,
        doc: "Read the comments under the posts of every channel with a discussion group (messages.getReplies, only threads whose count or newest comment moved); false reads them only for channels added with --comments",
    },
    KeySpec {
        key: "ingest.live_silence_alert",
        kind: Kind::Seconds {
            min: 1.0,
            max: 604_800.0,
        },
        default: Some("900.0"),
        aliases: &[],
        secret: false,
        doc: "Live mode: alert (kind `live_silent`) when an account has received no push for this long while its differences keep finding new posts",
    },
    KeySpec {
        key: "tagging.backend",
        kind: Kind::Choice(&["embedded", "llm", "off"]),
        default: Some("\"embedded\""),
        aliases: &[],
        secret: false,
        doc: "Which tagger tags posts: the offline embedded one, an LLM, or none",
    },
    KeySpec {
        key: "tagging.max_retries",
        kind: Kind::Int { min: 0, max: 20 },
        default: Some("3"),
        aliases: &["TAGGING_MAX_RETRIES"],
        secret: false,
        doc: "Retries inside one tagging attempt (LLM backend)",
    },
    KeySpec {
        key: "tagging.retry_delay",
        kind: Kind::Seconds {
            min: 0.0,
            max: 600.0,
        },
        default: Some("2.0"),
        aliases: &["TAGGING_RETRY_DELAY"],
        secret: false,
        doc: "First delay between those retries; it doubles each time",
    },
    KeySpec {
        key: "tagging.max_attempts",
        kind: Kind::Int { min: 1, max: 100 },
        default: Some("5"),
        aliases: &["TAGGING_MAX_ATTEMPTS"],
        secret: false,
        doc: "Attempts per post before its tagging status becomes `failed`",
    },
    KeySpec {
        key: "tagging.concurrency",
        kind: Kind::Int { min: 1, max: 64 },
        default: Some("2"),
        aliases: &[],
        secret: false,
        doc: "LLM tagging requests in flight at once (the embedded tagger uses one thread per core)",
    },
    KeySpec {
        key: "tagging.claim_timeout",
        kind: Kind::Seconds {
            min: 2.0,
            max: 3_600.0,
        },
        default: Some("60.0"),
        aliases: &[],
        secret: false,
        doc: "A worker's claim on a post lasts this long unless renewed; a crashed worker's posts are due again after it",
    },
    KeySpec {
        key: "tagging.llm_base_url",
        kind: Kind::Text,
        default: Some("\"https://openrouter.ai/api/v1\""),
        aliases: &[],
        secret: false,
        doc: "OpenAI-compatible endpoint (OpenRouter, Ollama, llama.cpp server)",
    },
    KeySpec {
        key: "tagging.llm_api_key",
        kind: Kind::Text,
        default: None,
        aliases: &[],
        secret: true,
        doc: "API key of the LLM endpoint (secret: prefer the environment)",
    },
    KeySpec {
        key: "tagging.llm_model",
        kind: Kind::Text,
        default: Some("\"openai/gpt-4o-mini\""),
        aliases: &[],
        secret: false,
        doc: "Model asked first",
    },
    KeySpec {
        key: "tagging.llm_fallback_models",
        kind: Kind::List,
        default: Some("[]"),
        aliases: &[],
        secret: false,
        doc: "Models tried in order when the first is unavailable (comma-separated in the environment)",
    },
    KeySpec {
        key: "tagging.llm_connect_timeout",
        kind: Kind::Seconds {
            min: 0.1,
            max: 600.0,
        },
        default: Some("5.0"),
        aliases: &[],
        secret: false,
        doc: "Connect timeout of one LLM request",
    },
    KeySpec {
        key: "tagging.llm_read_timeout",
        kind: Kind::Seconds {
            min: 0.1,
            max: 3_600.0,
        },
        default: Some("60.0"),
        aliases: &[],
        secret: false,
        doc: "Read timeout of one LLM request",
    },
    KeySpec {
        key: "tagging.comments",
        kind: Kind::Bool,
        default: Some("false"),
        aliases: &[],
        secret: false,
        doc: "Tag the comments tgsift reads too (channels add --comments, ingest.comments), with the embedded tagger whatever tagging.backend tags the posts with; shown with each comment",
    },
    KeySpec {
        key: "tagging.embedded_yake",
        kind: Kind::Bool,
        default: Some("false"),
        aliases: &[],
        secret: false,
        doc: "Add YAKE's statistics to the embedded tagger's scores: slightly better on long, \
              science-like texts, about 6 times slower",
    },
    KeySpec {
        key: "tagging.noise_tags",
        kind: Kind::List,
        default: Some("[]"),
        aliases: &[],
        secret: false,
        doc: "Tags the embedded tagger never gives, beside its built-in list (end, конец, доступ, news, \
              breaking…): a whole tag as shown, ignoring case and ё (comma-separated in the environment)",
    },
    KeySpec {
        key: "tagging.llm_fallback_to_embedded",
        kind: Kind::Bool,
        default: Some("true"),
        aliases: &[],
        secret: false,
        doc: "Tag with the embedded tagger when the LLM gives up on a post",
    },
    KeySpec {
        key: "http.listen",
        kind: Kind::Text,
        default: None,
        aliases: &[],
        secret: false,
        doc: "Address `tgsift run` serves the HTTP API, /metrics and health checks on (e.g. 127.0.0.1:8080); unset = no HTTP (`run --http ADDR` overrides it)",
    },
    KeySpec {
        key: "http.token",
        kind: Kind::Text,
        default: None,
        aliases: &[],
        secret: true,
        doc: "Bearer token every HTTP route but the probes (/healthz, /readyz) requires; without one the API only listens on a loopback address",
    },
    KeySpec {
        key: "http.probe_token",
        kind: Kind::Text,
        default: None,
        aliases: &[],
        secret: true,
        doc: "Bearer token /healthz and /readyz require (http.token works too); unset = the probes answer anyone, as they reveal no data",
    },
    KeySpec {
        key: "http.header_timeout",
        kind: Kind::Seconds {
            min: 0.1,
            max: 600.0,
        },
        default: Some("10.0"),
        aliases: &[],
        secret: false,
        doc: "A connection that has not sent a request's whole headers this long after connecting (or after its previous answer) is closed, so slow or idle clients cannot hold connections open",
    },
    KeySpec {
        key: "jobs.max_attempts",
        kind: Kind::Int { min: 1, max: 20 },
        default: Some("3"),
        aliases: &[],
        secret: false,
        doc: "Attempts of an admin job (channel add, reparse, retag, tagging retry) before it fails for good",
    },
    KeySpec {
        key: "alerts.webhooks",
        kind: Kind::List,
        default: Some("[]"),
        aliases: &[],
        secret: false,
        doc: "URLs alerts are POSTed to as JSON (comma-separated in the environment)",
    },
    KeySpec {
        key: "alerts.telegram",
        kind: Kind::Bool,
        default: Some("false"),
        aliases: &[],
        secret: false,
        doc: "Also send alerts to the account's own Saved Messages on Telegram",
    },
    KeySpec {
        key: "alerts.dedup_window",
        kind: Kind::Seconds {
            min: 0.0,
            max: 604_800.0,
        },
        default: Some("3600.0"),
        aliases: &[],
        secret: false,
        doc: "The same alert (same channel, account or job) is sent at most once within this many seconds",
    },
    KeySpec {
        key: "alerts.breaker_minutes",
        kind: Kind::Int {
            min: 1,
            max: 10_080,
        },
        default: Some("15"),
        aliases: &[],
        secret: false,
        doc: "Alert when an account's circuit breaker has been open this many minutes",
    },
    KeySpec {
        key: "alerts.parked_minutes",
        kind: Kind::Int {
            min: 1,
            max: 100_000,
        },
        default: Some("360"),
        aliases: &[],
        secret: false,
        doc: "Alert when a channel has been parked (long FLOOD_WAIT, repeated errors) this many minutes",
    },
    KeySpec {
        key: "alerts.tagging_failures",
        kind: Kind::Int {
            min: 1,
            max: 1_000_000,
        },
        default: Some("100"),
        aliases: &[],
        secret: false,
        doc: "Alert when more tagging attempts than this failed in the last hour",
    },
    KeySpec {
        key: "media.download",
        kind: Kind::Downloads,
        default: Some("[]"),
        aliases: &[],
        secret: false,
        doc: "Which files of posts are downloaded into media.dir: kinds with an optional size cap, e.g. [\"photo\", \"document<=20MB\"]; a rule starting with a channel (\"@name:video<=2GB\", \"@name:none\") replaces the others for that channel; [] (the default) downloads nothing",
    },
    KeySpec {
        key: "media.dir",
        kind: Kind::Text,
        default: Some("\"media\""),
        aliases: &[],
        secret: false,
        doc: "Directory of downloaded files, each named by the SHA-256 of its bytes (ab/abcd….jpg), so a file carried by many posts is kept once",
    },
    KeySpec {
        key: "media.quota",
        kind: Kind::Size,
        default: Some("\"10GB\""),
        aliases: &[],
        secret: false,
        doc: "Most bytes media.dir may hold: files that would go over it wait (status shows them) until it is raised",
    },
    KeySpec {
        key: "media.concurrency",
        kind: Kind::Int { min: 1, max: 16 },
        default: Some("2"),
        aliases: &[],
        secret: false,
        doc: "Files downloaded at once per account (each one chunk of 512 KB at a time)",
    },
];

/// Where an effective value came from, shown by `config show`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// Built into tgsift.
    Default,
    /// Read from this TOML file.
    File(PathBuf),
    /// Read from this environment variable.
    Env(String),
    /// Given on the command line (e.g. `--db`).
    Cli(&'static str),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => write!(f, "default"),
            Source::File(p) => write!(f, "file {}", p.display()),
            Source::Env(name) => write!(f, "env {name}"),
            Source::Cli(flag) => write!(f, "command line {flag}"),
        }
    }
}

/// A configuration that cannot be used; each variant names the place and says what to do.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A file named explicitly (`--config`, `TGSIFT_CONFIG`) does not exist or cannot be read.
    #[error(
        "cannot read config file {path}: {reason} (given by {given_by}; fix the path or unset it)"
    )]
    Unreadable {
        path: PathBuf,
        given_by: String,
        reason: String,
    },
    /// The file is not valid TOML.
    #[error("config file {path} is not valid TOML: {message}")]
    Syntax { path: PathBuf, message: String },
    /// The file has a key tgsift does not know (often a typo).
    #[error("config file {path}: unknown key `{key}`{hint}")]
    UnknownKey {
        path: PathBuf,
        key: String,
        hint: String,
    },
    /// A value has the wrong type or is outside its allowed range.
    #[error("{origin}: `{key}` = {shown} is invalid: expected {allowed}")]
    Invalid {
        origin: Source,
        key: String,
        shown: String,
        allowed: String,
    },
    /// A key the command needs has no value.
    #[error("`{key}` is not set: {hint}")]
    Missing { key: String, hint: String },
    /// Two keys contradict each other.
    #[error("{0}")]
    Inconsistent(String),
    /// The configured address cannot be listened on (taken by another process, not this machine's).
    #[error(
        "cannot listen on {addr} (http.listen or run --http): {error}; stop what holds it or choose another address"
    )]
    Listen {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why binding failed.
        error: String,
    },
}

/// How far back a newly added channel is fetched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Backfill {
    /// The whole history.
    All,
    /// Only the newest N posts.
    Last(u32),
    /// Posts dated on or after this day (unix seconds of its midnight, UTC).
    Since(i64),
}

impl Backfill {
    /// Parses `all`, `N` or `since:YYYY-MM-DD` (the config's and `channels add --backfill`'s syntax).
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("all") {
            return Ok(Backfill::All);
        }
        if let Some(date) = s.strip_prefix("since:") {
            let d: jiff::civil::Date = date
                .trim()
                .parse()
                .map_err(|e| format!("`{date}` is not a date like 2024-01-31 ({e})"))?;
            let ts = d
                .to_zoned(jiff::tz::TimeZone::UTC)
                .map_err(|e| format!("`{date}`: {e}"))?
                .timestamp()
                .as_second();
            return Ok(Backfill::Since(ts));
        }
        match s.parse::<u32>() {
            Ok(n) if n > 0 => Ok(Backfill::Last(n)),
            _ => Err(format!(
                "`{s}` is not all, a positive number or since:YYYY-MM-DD"
            )),
        }
    }
}

impl<'de> Deserialize<'de> for Backfill {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(i64),
            S(String),
        }
        let s = match Raw::deserialize(d)? {
            Raw::N(n) => n.to_string(),
            Raw::S(s) => s,
        };
        Backfill::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// The error for an unset API credential: where to get it and where to put it.
fn missing_credential(key: &str, env: &str) -> ConfigError {
    ConfigError::Missing {
        key: key.into(),
        hint: format!(
            "get it from my.telegram.org and set it in [telegram] of the config file or in {env}"
        ),
    }
}

/// `[telegram]`: credentials and the flood/retry policy of the client layer.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelegramConfig {
    /// API id; `None` until configured.
    pub api_id: Option<i32>,
    /// API hash; `None` until configured. Never print it.
    pub api_hash: Option<String>,
    /// Seconds of FLOOD_WAIT slept through automatically.
    pub flood_sleep_threshold: u32,
    /// FLOOD_WAIT sleeps allowed per request.
    pub flood_max_retries: u32,
    /// Transient-error retries per request; -1 = forever.
    pub connection_retries: i32,
    /// First retry delay, seconds.
    pub retry_delay: f64,
    /// Retry delay cap, seconds.
    pub retry_max_delay: f64,
    /// Per-request timeout, seconds.
    pub request_timeout: f64,
    /// Deadline of a ping's answer, seconds (pings go every half of it).
    pub ping_deadline: f64,
    /// Pacer start rate, requests/s.
    pub pacer_initial_rate: f64,
    /// Pacer floor, requests/s.
    pub pacer_min_rate: f64,
    /// Pacer ceiling, requests/s.
    pub pacer_max_rate: f64,
    /// Quiet period before the rate grows, seconds.
    pub pacer_quiet: f64,
    /// Requests in flight per account.
    pub max_in_flight: u32,
    /// No probing above a learned limit for this long after a long FLOOD_WAIT, seconds.
    pub probe_hold: f64,
    /// Spacing of resolveUsername calls after a burst, seconds.
    pub resolve_interval: f64,
    /// resolveUsername calls per 24 hours.
    pub resolve_per_day: u32,
    /// Spacing of joinChannel calls after a burst, seconds.
    pub join_interval: f64,
    /// joinChannel calls per 24 hours.
    pub join_per_day: u32,
    /// Channels an account joins at most.
    pub max_channels: u32,
    /// SOCKS5 proxy of accounts without their own; never print it (use [`redact_proxy`]).
    pub proxy: Option<String>,
    /// `initConnection`'s device model for accounts added from now on.
    pub device_model: String,
    /// `initConnection`'s system version.
    pub system_version: String,
    /// `initConnection`'s app version.
    pub app_version: String,
    /// `initConnection`'s language code.
    pub lang_code: String,
    /// `initConnection`'s system language code.
    pub system_lang_code: String,
}

impl TelegramConfig {
    /// The API id alone (enough to reconnect an existing session), or an error that says where to
    /// get it and set it.
    pub fn api_id(&self) -> Result<i32, ConfigError> {
        self.api_id
            .ok_or_else(|| missing_credential("telegram.api_id", "TG_API_ID"))
    }

    /// The API id and hash a login needs, or an error that names the missing key and says where to
    /// get it and set it.
    pub fn credentials(&self) -> Result<(i32, String), ConfigError> {
        let id = self.api_id()?;
        let hash = self
            .api_hash
            .clone()
            .ok_or_else(|| missing_credential("telegram.api_hash", "TG_API_HASH"))?;
        Ok((id, hash))
    }

    /// The client identity a new account is given (and an older one the first time it connects).
    pub fn identity(&self) -> tgsift_store::ClientIdentity {
        tgsift_store::ClientIdentity {
            device_model: self.device_model.clone(),
            system_version: self.system_version.clone(),
            app_version: self.app_version.clone(),
            lang_code: self.lang_code.clone(),
            system_lang_code: self.system_lang_code.clone(),
            proxy: None,
        }
    }

    /// `retry_delay` as a `Duration`.
    pub fn retry_delay(&self) -> Duration {
        Duration::from_secs_f64(self.retry_delay)
    }
    /// `retry_max_delay` as a `Duration`.
    pub fn retry_max_delay(&self) -> Duration {
        Duration::from_secs_f64(self.retry_max_delay)
    }
    /// `request_timeout` as a `Duration`.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.request_timeout)
    }
}

/// `[storage]`: where the database and the session files live.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// The posts database.
    pub database: PathBuf,
    /// The folder of `<account>.session` files.
    pub sessions_dir: PathBuf,
    /// Seconds an account lease lasts without a heartbeat (PostgreSQL store).
    pub lease_time: f64,
}

/// `[ingest]`: how channels are polled and backfilled.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestConfig {
    /// Seconds between polls of one channel.
    pub poll_interval: f64,
    /// Default backfill policy of new channels.
    pub backfill: Backfill,
    /// Whether member channels are followed through pushed updates.
    pub mode: IngestMode,
    /// Live mode: seconds between reconciling polls of a live channel.
    pub reconcile_interval: f64,
    /// Live mode: seconds between two differences of a channel without updates.
    pub live_check_interval: f64,
    /// Live mode: seconds without any request after which `updates.getDifference` is asked.
    pub live_keepalive: f64,
    /// Live mode: seconds without a push, while differences find posts, before `live_silent`.
    pub live_silence_alert: f64,
    /// `EVERY/AGE` steps of the counters' refresh ([`refresh_schedule`]); empty: off.
    pub counts_refresh: Vec<String>,
    /// Read the comments of every channel, not only of those added with `--comments`.
    pub comments: bool,
}

/// A span such as `90s`, `15m`, `1h` or `7d` in seconds; `None` when it does not read (or is not
/// positive).
pub(crate) fn span_secs(t: &str) -> Option<i64> {
    let t = t.trim();
    // The unit is the last character (which need not be ASCII: `1ч` must not split a character).
    let (at, _) = t.char_indices().last()?;
    let (n, unit) = t.split_at(at);
    let n: i64 = n.trim().parse().ok().filter(|n| *n > 0)?;
    let mul = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => return None,
    };
    n.checked_mul(mul)
}

/// The refresh schedule `ingest.counts_refresh` describes: `EVERY/AGE` steps such as `15m/1d`, each
/// a number with `s`, `m`, `h` or `d`, sorted by age; an error names the step that does not read.
pub fn refresh_schedule(steps: &[String]) -> Result<Vec<tgsift_store::RefreshStep>, String> {
    let secs = span_secs;
    let mut out = Vec::with_capacity(steps.len());
    for step in steps {
        let parsed = step
            .split_once('/')
            .and_then(|(every, until)| Some((secs(every)?, secs(until)?)));
        match parsed {
            Some((every, until)) if every <= until => {
                out.push(tgsift_store::RefreshStep { until, every })
            }
            _ => {
                return Err(format!(
                    "`{step}` is not EVERY/AGE with EVERY at most AGE, each a number with s, m, h or d (e.g. 15m/1d)"
                ));
            }
        }
    }
    out.sort_by_key(|s| s.until);
    Ok(out)
}

/// How new posts are learned of (`ingest.mode`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IngestMode {
    /// Updates pushed by Telegram for channels the account is a member of; polling reconciles.
    #[default]
    Live,
    /// Every channel polled at `poll_interval`.
    Poll,
}

/// `[tagging]`: which tagger runs and how its failures are retried.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaggingConfig {
    /// `embedded`, `llm` or `off`.
    pub backend: String,
    /// Retries inside one attempt.
    pub max_retries: u32,
    /// First delay between retries, seconds.
    pub retry_delay: f64,
    /// Attempts per post before `failed`.
    pub max_attempts: u32,
    /// LLM requests in flight at once.
    pub concurrency: u32,
    /// Seconds a claim on a post lasts without renewal.
    pub claim_timeout: f64,
    /// OpenAI-compatible base URL.
    pub llm_base_url: String,
    /// LLM API key. Never print it.
    pub llm_api_key: Option<String>,
    /// First model.
    pub llm_model: String,
    /// Models tried after it, in order.
    pub llm_fallback_models: Vec<String>,
    /// Connect timeout, seconds.
    pub llm_connect_timeout: f64,
    /// Read timeout, seconds.
    pub llm_read_timeout: f64,
    /// Whether the embedded tagger steps in when the LLM gives up.
    pub llm_fallback_to_embedded: bool,
    /// Whether the embedded tagger adds YAKE's statistics (slower).
    pub embedded_yake: bool,
    /// Whether comments are tagged too (by the embedded tagger).
    pub comments: bool,
    /// Tags the embedded tagger never gives, beside its built-in noise list.
    pub noise_tags: Vec<String>,
}

/// The typed, validated configuration every subcommand works from.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[telegram]`.
    pub telegram: TelegramConfig,
    /// `[storage]`.
    pub storage: StorageConfig,
    /// `[ingest]`.
    pub ingest: IngestConfig,
    /// `[tagging]`.
    pub tagging: TaggingConfig,
    /// `[http]`.
    pub http: HttpConfig,
    /// `[jobs]`.
    pub jobs: JobsConfig,
    /// `[alerts]`.
    pub alerts: AlertsConfig,
    /// `[media]`.
    pub media: MediaConfig,
}

/// `[http]`: the HTTP API of the running service.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Where to listen; `None` = no HTTP.
    pub listen: Option<String>,
    /// Bearer token. Never print it.
    pub token: Option<String>,
    /// Bearer token of the probes (`/healthz`, `/readyz`); `None` = open. Never print it.
    pub probe_token: Option<String>,
    /// Seconds a connection may take to send a request's headers.
    pub header_timeout: f64,
}

/// `[jobs]`: durable admin jobs.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobsConfig {
    /// Attempts before a job fails for good.
    pub max_attempts: u32,
}

/// `[media]`: which files of posts are downloaded, where to, and how much.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MediaConfig {
    /// Download rules ([`tgsift_store::DownloadRules`]).
    pub download: Vec<String>,
    /// Directory of downloaded files.
    pub dir: PathBuf,
    /// Most bytes on disk (a size with a unit, or bytes).
    pub quota: toml::Value,
    /// Files at once per account.
    pub concurrency: u32,
}

impl MediaConfig {
    /// `media.quota` in bytes (validated on load).
    pub fn quota_bytes(&self) -> i64 {
        match &self.quota {
            toml::Value::Integer(n) => *n,
            toml::Value::String(s) => tgsift_store::parse_size(s).unwrap_or(i64::MAX),
            _ => i64::MAX,
        }
    }
}

/// `[alerts]`: where failures that need a person are sent.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsConfig {
    /// Webhook URLs.
    pub webhooks: Vec<String>,
    /// Send to the account's Saved Messages.
    pub telegram: bool,
    /// De-duplication window, seconds.
    pub dedup_window: f64,
    /// Breaker open this long (minutes) raises an alert.
    pub breaker_minutes: f64,
    /// Parked this long (minutes) raises an alert.
    pub parked_minutes: f64,
    /// Failed tagging attempts per hour above which an alert is raised.
    pub tagging_failures: u32,
}

/// A loaded configuration together with where each value came from.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// The typed configuration.
    pub config: Config,
    /// The file that was read, if any.
    pub file: Option<PathBuf>,
    values: BTreeMap<&'static str, (toml::Value, Source)>,
}

/// What to load: the explicit file (if any) and the environment to read overrides from.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// `--config PATH`.
    pub config_path: Option<PathBuf>,
    /// Environment variables (usually `std::env::vars()`); injected so tests need not touch the process env.
    pub env: BTreeMap<String, String>,
    /// Whether `./tgsift.toml` may be read when no file is named.
    pub use_cwd_file: bool,
}

impl LoadOptions {
    /// Options for the real process: its environment, `./tgsift.toml` allowed.
    pub(crate) fn from_process(config_path: Option<PathBuf>) -> Self {
        LoadOptions {
            config_path,
            env: std::env::vars().collect(),
            use_cwd_file: true,
        }
    }
}

impl Loaded {
    /// Loads defaults, then the file, then the environment, validating every value.
    pub fn load(opts: &LoadOptions) -> Result<Loaded, ConfigError> {
        let mut values: BTreeMap<&'static str, (toml::Value, Source)> = BTreeMap::new();
        for spec in KEYS {
            if let Some(lit) = spec.default {
                let v = parse_literal(lit).ok_or_else(|| {
                    ConfigError::Inconsistent(format!("built-in default of {} is broken", spec.key))
                })?;
                values.insert(spec.key, (v, Source::Default));
            }
        }

        let file = pick_file(opts)?;
        if let Some(path) = &file {
            let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Unreadable {
                path: path.clone(),
                given_by: given_by(opts),
                reason: e.to_string(),
            })?;
            let table: toml::Table =
                text.parse()
                    .map_err(|e: toml::de::Error| ConfigError::Syntax {
                        path: path.clone(),
                        message: e.to_string(),
                    })?;
            for (key, value) in flatten_file(path, &table)? {
                let spec = find(&key).ok_or_else(|| unknown_key(path, &key))?;
                let source = Source::File(path.clone());
                check(spec, &value, &source)?;
                values.insert(spec.key, (value, source));
            }
        }

        for spec in KEYS {
            let names = spec
                .aliases
                .iter()
                .map(|s| s.to_string())
                .chain([spec.env_name()]);
            for name in names {
                // An empty variable counts as unset, as shells make it easy to write `TG_API_ID=`.
                let Some(raw) = opts.env.get(&name).filter(|v| !v.trim().is_empty()) else {
                    continue;
                };
                let source = Source::Env(name.clone());
                let value = env_value(spec, raw, &source)?;
                check(spec, &value, &source)?;
                values.insert(spec.key, (value, source));
            }
        }
        // A TGSIFT_ variable that matches no key is a typo the user wants to hear about.
        for name in opts.env.keys() {
            if let Some(rest) = name.strip_prefix(ENV_PREFIX)
                && rest.contains("__")
                && !KEYS.iter().any(|s| s.env_name() == *name)
            {
                let key = rest.replace("__", ".").to_lowercase();
                let allowed = match RENAMED.iter().find(|(old, _, _)| *old == key) {
                    Some((_, new, what)) => format!(
                        "renamed: set `{}` instead — {what}",
                        find(new).map_or_else(|| new.to_string(), KeySpec::env_name)
                    ),
                    None => "a known key; see `tgsift config show`".into(),
                };
                return Err(ConfigError::Invalid {
                    origin: Source::Env(name.clone()),
                    key,
                    shown: "(set)".into(),
                    allowed,
                });
            }
        }

        let mut loaded = Self::build(values, file)?;
        loaded.resolve_file_paths();
        Ok(loaded)
    }

    /// Relative paths written in a config file mean "next to the file", not "wherever tgsift happens
    /// to be started from"; paths from the environment or the command line stay as given.
    fn resolve_file_paths(&mut self) {
        let storage = &mut self.config.storage;
        for (key, path) in [
            ("storage.database", &mut storage.database),
            ("storage.sessions_dir", &mut storage.sessions_dir),
        ] {
            if let Some((_, Source::File(file))) = self.values.get(key)
                && path.is_relative()
                && !tgsift_store::Location::of(path).is_postgres()
            {
                let base = file.parent().unwrap_or(Path::new(""));
                *path = base.join(&*path);
            }
        }
    }

    fn build(
        values: BTreeMap<&'static str, (toml::Value, Source)>,
        file: Option<PathBuf>,
    ) -> Result<Loaded, ConfigError> {
        let mut root = toml::Table::new();
        for (key, (value, _)) in &values {
            let (section, name) = key.split_once('.').unwrap_or(("", key));
            let entry = root
                .entry(section)
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            if let toml::Value::Table(t) = entry {
                t.insert(name.to_string(), value.clone());
            }
        }
        for spec in KEYS {
            let (section, _) = spec.section_and_name();
            root.entry(section)
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        }
        let config: Config =
            toml::Value::Table(root)
                .try_into()
                .map_err(|e: toml::de::Error| {
                    ConfigError::Inconsistent(format!("configuration: {e}"))
                })?;
        let t = &config.telegram;
        if t.retry_max_delay < t.retry_delay {
            let src = |k: &str| {
                values
                    .get(k)
                    .map(|(_, s)| s.to_string())
                    .unwrap_or_default()
            };
            return Err(ConfigError::Inconsistent(format!(
                "telegram.retry_max_delay = {} ({}) is below telegram.retry_delay = {} ({}): raise the cap or lower the delay",
                t.retry_max_delay,
                src("telegram.retry_max_delay"),
                t.retry_delay,
                src("telegram.retry_delay"),
            )));
        }
        Ok(Loaded {
            config,
            file,
            values,
        })
    }

    /// Overrides the database path from `--db`.
    pub fn set_database(&mut self, path: PathBuf) {
        let shown = toml::Value::String(path.display().to_string());
        self.values
            .insert("storage.database", (shown, Source::Cli("--db")));
        self.config.storage.database = path;
    }

    /// The effective value of a key (`None` when unset) and its source.
    pub fn value(&self, key: &str) -> Option<(&toml::Value, &Source)> {
        self.values.get(key).map(|(v, s)| (v, s))
    }

    /// The effective configuration as TOML lines, secrets redacted, each with its source.
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        if let Some(f) = &self.file {
            out.push_str(&format!("# config file: {}\n", f.display()));
        } else {
            out.push_str("# config file: none (built-in defaults and environment)\n");
        }
        let mut section = "";
        for spec in KEYS {
            let (sec, name) = spec.section_and_name();
            if sec != section {
                out.push_str(&format!("\n[{sec}]\n"));
                section = sec;
            }
            match self.values.get(spec.key) {
                Some((v, src)) => {
                    let shown = if spec.secret {
                        "\"<redacted>\"".to_string()
                    } else {
                        v.to_string()
                    };
                    out.push_str(&format!("{name} = {shown}  # {src}\n"));
                }
                None => out.push_str(&format!("# {name} is not set\n")),
            }
        }
        out
    }
}

/// The configuration reference as a Markdown table (printed by `tgsift config keys`, kept in the README).
pub(crate) fn reference_table() -> String {
    let mut out = String::from(
        "| key | what it does | allowed | default | environment |\n|---|---|---|---|---|\n",
    );
    for spec in KEYS {
        let (section, name) = spec.section_and_name();
        let default = spec
            .default
            .map(|d| format!("`{d}`"))
            .unwrap_or_else(|| "unset".into());
        let mut env: Vec<String> = spec.aliases.iter().map(|a| format!("`{a}`")).collect();
        env.push(format!("`{}`", spec.env_name()));
        out.push_str(&format!(
            "| [{section}] `{name}` | {} | {}{} | {default} | {} |\n",
            spec.doc,
            spec.allowed(),
            if spec.secret { " (secret)" } else { "" },
            env.join(", ")
        ));
    }
    out
}

fn pick_file(opts: &LoadOptions) -> Result<Option<PathBuf>, ConfigError> {
    if let Some(p) = &opts.config_path {
        return Ok(Some(p.clone()));
    }
    if let Some(p) = opts.env.get(CONFIG_ENV).filter(|p| !p.is_empty()) {
        return Ok(Some(PathBuf::from(p)));
    }
    let cwd = Path::new(DEFAULT_CONFIG_FILE);
    Ok((opts.use_cwd_file && cwd.exists()).then(|| cwd.to_path_buf()))
}

fn given_by(opts: &LoadOptions) -> String {
    if opts.config_path.is_some() {
        "--config".into()
    } else if opts.env.contains_key(CONFIG_ENV) {
        CONFIG_ENV.into()
    } else {
        format!("./{DEFAULT_CONFIG_FILE}")
    }
}

fn find(key: &str) -> Option<&'static KeySpec> {
    KEYS.iter().find(|s| s.key == key)
}

/// Keys that were renamed: (old, new, what changed), so an old configuration says what to write.
const RENAMED: &[(&str, &str, &str)] = &[(
    "ingest.live_idle_check",
    "ingest.live_check_interval",
    "every live channel is now checked at least this often, not once after a quiet spell; default 300 s",
)];

fn unknown_key(path: &Path, key: &str) -> ConfigError {
    if let Some((_, new, what)) = RENAMED.iter().find(|(old, _, _)| *old == key) {
        return ConfigError::UnknownKey {
            path: path.to_path_buf(),
            key: key.to_string(),
            hint: format!(" (renamed: write `{new}` instead — {what})"),
        };
    }
    let section = key.split_once('.').map(|(s, _)| s).unwrap_or(key);
    let known: Vec<&str> = KEYS
        .iter()
        .filter(|s| s.section_and_name().0 == section)
        .map(|s| s.section_and_name().1)
        .collect();
    let hint = if known.is_empty() {
        let sections: std::collections::BTreeSet<&str> =
            KEYS.iter().map(|s| s.section_and_name().0).collect();
        format!(
            " (known sections: {})",
            sections.into_iter().collect::<Vec<_>>().join(", ")
        )
    } else {
        format!(" (known keys in [{section}]: {})", known.join(", "))
    };
    ConfigError::UnknownKey {
        path: path.to_path_buf(),
        key: key.to_string(),
        hint,
    }
}

/// Turns `[section] key = v` into `("section.key", v)`, refusing keys outside sections and deeper nesting.
fn flatten_file(
    path: &Path,
    table: &toml::Table,
) -> Result<Vec<(String, toml::Value)>, ConfigError> {
    let mut out = Vec::new();
    for (section, value) in table {
        let toml::Value::Table(inner) = value else {
            return Err(unknown_key(path, section));
        };
        for (name, v) in inner {
            out.push((format!("{section}.{name}"), v.clone()));
        }
    }
    Ok(out)
}

fn parse_literal(lit: &str) -> Option<toml::Value> {
    let t: toml::Table = format!("v = {lit}").parse().ok()?;
    t.get("v").cloned()
}

/// Converts an environment string to a TOML value of the key's type.
fn env_value(spec: &KeySpec, raw: &str, source: &Source) -> Result<toml::Value, ConfigError> {
    let bad = || invalid(spec, source, &toml::Value::String(raw.to_string()));
    let raw = raw.trim();
    Ok(match spec.kind {
        Kind::Int { .. } => toml::Value::Integer(raw.parse().map_err(|_| bad())?),
        Kind::Seconds { .. } => toml::Value::Float(raw.parse().map_err(|_| bad())?),
        Kind::Bool => toml::Value::Boolean(match raw.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => true,
            "false" | "0" | "no" | "off" => false,
            _ => return Err(bad()),
        }),
        Kind::List | Kind::Schedule | Kind::Downloads => toml::Value::Array(
            raw.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| s.to_string().into())
                .collect(),
        ),
        Kind::Text
        | Kind::ApiHash
        | Kind::Choice(_)
        | Kind::Backfill
        | Kind::Proxy
        | Kind::Size => toml::Value::String(raw.to_string()),
    })
}

fn invalid(spec: &KeySpec, source: &Source, value: &toml::Value) -> ConfigError {
    let shown = if spec.secret {
        "<redacted>".to_string()
    } else {
        value.to_string()
    };
    ConfigError::Invalid {
        origin: source.clone(),
        key: spec.key.to_string(),
        shown,
        allowed: spec.allowed(),
    }
}

/// Checks a value against its key's type and range.
/// What is wrong with a proxy URL, if anything: tgsift (through grammers) speaks SOCKS5 only, and
/// needs a host and a port.
pub fn proxy_problem(url: &str) -> Option<String> {
    let parsed = match url::Url::parse(url) {
        Ok(u) => u,
        Err(e) => return Some(format!("not a URL ({e})")),
    };
    if parsed.scheme() != "socks5" {
        return Some(format!(
            "scheme {}: only socks5:// proxies are supported",
            parsed.scheme()
        ));
    }
    if parsed.host_str().is_none_or(str::is_empty) || parsed.port().is_none() {
        return Some("give the proxy's host and port: socks5://host:port".into());
    }
    None
}

/// A proxy URL safe to print: the password (and the user name) replaced by `***`.
pub fn redact_proxy(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            if !u.username().is_empty() {
                let _ = u.set_username("***");
            }
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            u.to_string()
        }
        Err(_) => "(an unreadable proxy URL)".into(),
    }
}

fn check(spec: &KeySpec, value: &toml::Value, source: &Source) -> Result<(), ConfigError> {
    let ok = match (spec.kind, value) {
        (Kind::Int { min, max }, toml::Value::Integer(n)) => (min..=max).contains(n),
        (Kind::Seconds { min, max }, toml::Value::Float(x)) => {
            x.is_finite() && *x >= min && *x <= max
        }
        (Kind::Seconds { min, max }, toml::Value::Integer(n)) => {
            (*n as f64) >= min && (*n as f64) <= max
        }
        (Kind::Text, toml::Value::String(s)) => !s.trim().is_empty(),
        (Kind::ApiHash, toml::Value::String(s)) => {
            s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit())
        }
        (Kind::Choice(words), toml::Value::String(s)) => words.contains(&s.as_str()),
        (Kind::List, toml::Value::Array(items)) => {
            items.iter().all(|i| matches!(i, toml::Value::String(_)))
        }
        (Kind::Bool, toml::Value::Boolean(_)) => true,
        (Kind::Backfill, toml::Value::String(s)) => Backfill::parse(s).is_ok(),
        (Kind::Backfill, toml::Value::Integer(n)) => *n > 0 && *n <= u32::MAX as i64,
        (Kind::Proxy, toml::Value::String(s)) => proxy_problem(s).is_none(),
        (Kind::Schedule, toml::Value::Array(items)) => {
            let steps: Option<Vec<String>> = items
                .iter()
                .map(|i| i.as_str().map(str::to_owned))
                .collect();
            steps.is_some_and(|s| refresh_schedule(&s).is_ok())
        }
        (Kind::Downloads, toml::Value::Array(items)) => {
            let rules: Option<Vec<String>> = items
                .iter()
                .map(|i| i.as_str().map(str::to_owned))
                .collect();
            rules.is_some_and(|r| tgsift_store::DownloadRules::parse(&r).is_ok())
        }
        (Kind::Size, toml::Value::String(s)) => tgsift_store::parse_size(s).is_ok(),
        (Kind::Size, toml::Value::Integer(n)) => *n >= 0,
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(invalid(spec, source, value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(file: Option<&Path>, env: &[(&str, &str)]) -> LoadOptions {
        LoadOptions {
            config_path: file.map(Path::to_path_buf),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            use_cwd_file: false,
        }
    }

    fn write(dir: &tempfile::TempDir, text: &str) -> PathBuf {
        let p = dir.path().join("tgsift.toml");
        std::fs::write(&p, text).expect("write config");
        p
    }

    #[test]
    fn defaults_apply_without_file_or_env() {
        let l = Loaded::load(&opts(None, &[])).expect("defaults load");
        assert_eq!(l.config.telegram.flood_sleep_threshold, 60);
        assert_eq!(l.config.telegram.connection_retries, 5);
        assert_eq!(l.config.telegram.retry_delay, 1.0);
        assert_eq!(l.config.telegram.request_timeout, 30.0);
        assert_eq!(l.config.storage.database, PathBuf::from("tgsift.db"));
        assert_eq!(l.config.storage.sessions_dir, PathBuf::from("sessions"));
        assert_eq!(l.config.ingest.backfill, Backfill::All);
        assert_eq!(l.config.tagging.max_attempts, 5);
        assert_eq!(l.config.telegram.api_id, None);
        assert_eq!(
            l.value("telegram.flood_sleep_threshold")
                .map(|(_, s)| s.clone()),
            Some(Source::Default)
        );
    }

    #[test]
    fn relative_paths_in_a_file_are_relative_to_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write(
            &dir,
            "[storage]\ndatabase = \"data/t.db\"\nsessions_dir = \"/abs/sessions\"\n",
        );
        let l = Loaded::load(&opts(Some(&path), &[])).expect("load");
        assert_eq!(l.config.storage.database, dir.path().join("data/t.db"));
        assert_eq!(
            l.config.storage.sessions_dir,
            PathBuf::from("/abs/sessions"),
            "absolute paths stay"
        );
        let env = [("TGSIFT_STORAGE__DATABASE", "rel.db")];
        let l = Loaded::load(&opts(Some(&path), &env)).expect("load");
        assert_eq!(
            l.config.storage.database,
            PathBuf::from("rel.db"),
            "the environment's paths are the caller's, relative to where it runs"
        );
    }

    #[test]
    fn precedence_is_default_then_file_then_env() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write(
            &dir,
            "[telegram]\nflood_sleep_threshold = 120\nretry_delay = 2\napi_id = 111\n[tagging]\nmax_attempts = 7\n",
        );
        let env = [
            ("TG_API_ID", "222"),
            ("TAGGING_MAX_ATTEMPTS", "9"),
            ("TGSIFT_TELEGRAM__RETRY_DELAY", "3.5"),
        ];
        let l = Loaded::load(&opts(Some(&path), &env)).expect("load");
        assert_eq!(l.config.telegram.flood_sleep_threshold, 120);
        assert_eq!(l.config.telegram.api_id, Some(222));
        assert_eq!(l.config.telegram.retry_delay, 3.5);
        assert_eq!(l.config.tagging.max_attempts, 9);
        assert_eq!(l.config.tagging.max_retries, 3);
        let src = |k| l.value(k).map(|(_, s)| s.clone());
        assert_eq!(
            src("telegram.flood_sleep_threshold"),
            Some(Source::File(path.clone()))
        );
        assert_eq!(
            src("telegram.api_id"),
            Some(Source::Env("TG_API_ID".into()))
        );
        assert_eq!(
            src("telegram.retry_delay"),
            Some(Source::Env("TGSIFT_TELEGRAM__RETRY_DELAY".into()))
        );
        assert_eq!(src("tagging.max_retries"), Some(Source::Default));
    }

    #[test]
    fn generic_env_name_beats_the_alias() {
        let env = [
            ("TAGGING_MAX_RETRIES", "4"),
            ("TGSIFT_TAGGING__MAX_RETRIES", "6"),
        ];
        let l = Loaded::load(&opts(None, &env)).expect("load");
        assert_eq!(l.config.tagging.max_retries, 6);
    }

    #[test]
    fn unknown_key_is_named_with_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write(&dir, "[telegram]\nflood_sleep_treshold = 10\n");
        let err = Loaded::load(&opts(Some(&path), &[])).expect_err("typo must fail");
        assert!(
            matches!(&err, ConfigError::UnknownKey { key, .. } if key == "telegram.flood_sleep_treshold")
        );
        let msg = err.to_string();
        assert!(
            msg.contains(&path.display().to_string()) && msg.contains("flood_sleep_threshold"),
            "{msg}"
        );
        let path = write(&dir, "[telegrm]\napi_id = 1\n");
        let err = Loaded::load(&opts(Some(&path), &[])).expect_err("unknown section");
        assert!(err.to_string().contains("known sections"), "{err}");
        // A renamed key says what to write instead.
        let path = write(&dir, "[ingest]\nlive_idle_check = 60\n");
        let err = Loaded::load(&opts(Some(&path), &[])).expect_err("renamed");
        assert!(
            err.to_string()
                .contains("renamed: write `ingest.live_check_interval` instead"),
            "{err}"
        );
        // So does its old environment name.
        let env = [("TGSIFT_INGEST__LIVE_IDLE_CHECK", "60")];
        let err = Loaded::load(&opts(None, &env)).expect_err("renamed");
        assert!(
            err.to_string()
                .contains("set `TGSIFT_INGEST__LIVE_CHECK_INTERVAL` instead"),
            "{err}"
        );
    }

    #[test]
    fn wrong_type_and_out_of_range_name_key_and_range() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write(&dir, "[telegram]\nflood_sleep_threshold = \"sixty\"\n");
        let err = Loaded::load(&opts(Some(&path), &[])).expect_err("wrong type");
        assert!(
            matches!(&err, ConfigError::Invalid { key, .. } if key == "telegram.flood_sleep_threshold")
        );
        let path = write(&dir, "[telegram]\nconnection_retries = -2\n");
        let msg = Loaded::load(&opts(Some(&path), &[]))
            .expect_err("range")
            .to_string();
        assert!(
            msg.contains("telegram.connection_retries") && msg.contains("-1 to 10000"),
            "{msg}"
        );
        assert!(msg.contains(&path.display().to_string()), "{msg}");
        let err = Loaded::load(&opts(None, &[("TG_API_ID", "abc")])).expect_err("env type");
        assert!(err.to_string().contains("env TG_API_ID"), "{err}");
        let err =
            Loaded::load(&opts(None, &[("TGSIFT_TAGGING__BACKEND", "gpt")])).expect_err("choice");
        assert!(err.to_string().contains("embedded, llm, off"), "{err}");
    }

    #[test]
    fn missing_explicit_file_and_bad_toml_are_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("nope.toml");
        let err = Loaded::load(&opts(Some(&missing), &[])).expect_err("missing");
        assert!(matches!(err, ConfigError::Unreadable { .. }));
        assert!(err.to_string().contains("nope.toml"));
        let err = Loaded::load(&opts(
            None,
            &[(CONFIG_ENV, missing.to_str().unwrap_or_default())],
        ))
        .expect_err("missing via env");
        assert!(err.to_string().contains(CONFIG_ENV), "{err}");
        let path = write(&dir, "[telegram\napi_id = 1\n");
        assert!(matches!(
            Loaded::load(&opts(Some(&path), &[])),
            Err(ConfigError::Syntax { .. })
        ));
    }

    #[test]
    fn unknown_tgsift_env_var_is_an_error() {
        let err =
            Loaded::load(&opts(None, &[("TGSIFT_TELEGRAM__API_IDD", "1")])).expect_err("typo");
        assert!(
            err.to_string().contains("TGSIFT_TELEGRAM__API_IDD"),
            "{err}"
        );
    }

    #[test]
    fn retry_cap_below_delay_is_inconsistent() {
        let env = [
            ("TGSIFT_TELEGRAM__RETRY_DELAY", "10"),
            ("TGSIFT_TELEGRAM__RETRY_MAX_DELAY", "5"),
        ];
        assert!(matches!(
            Loaded::load(&opts(None, &env)),
            Err(ConfigError::Inconsistent(_))
        ));
    }

    #[test]
    fn show_redacts_secrets_and_names_sources() {
        let hash = "0123456789abcdef0123456789abcdef";
        let env = [
            ("TG_API_HASH", hash),
            ("TGSIFT_TAGGING__LLM_API_KEY", "sk-very-secret"),
            ("TG_API_ID", "5"),
        ];
        let l = Loaded::load(&opts(None, &env)).expect("load");
        assert_eq!(l.config.telegram.api_hash.as_deref(), Some(hash));
        let shown = l.render();
        assert!(
            !shown.contains(hash) && !shown.contains("sk-very-secret"),
            "{shown}"
        );
        assert!(
            shown.contains("api_hash = \"<redacted>\"  # env TG_API_HASH"),
            "{shown}"
        );
        assert!(shown.contains("api_id = 5  # env TG_API_ID"), "{shown}");
        assert!(
            shown.contains("flood_sleep_threshold = 60  # default"),
            "{shown}"
        );
        let err =
            Loaded::load(&opts(None, &[("TG_API_HASH", "short-secret")])).expect_err("bad hash");
        assert!(!err.to_string().contains("short-secret"), "{err}");
    }

    #[test]
    fn backfill_forms_parse() {
        assert_eq!(Backfill::parse("all"), Ok(Backfill::All));
        assert_eq!(Backfill::parse("500"), Ok(Backfill::Last(500)));
        assert_eq!(
            Backfill::parse("since:2024-01-02"),
            Ok(Backfill::Since(1_704_153_600))
        );
        assert!(Backfill::parse("0").is_err());
        assert!(Backfill::parse("since:yesterday").is_err());
    }

    #[test]
    fn readme_documents_every_key() {
        let readme = include_str!("../README.md");
        let normalise = |s: &str| s.replace("\r\n", "\n");
        assert!(
            normalise(readme).contains(&reference_table()),
            "README's configuration reference is stale: paste the output of `tgsift config keys`"
        );
    }
}
