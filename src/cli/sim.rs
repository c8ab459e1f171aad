//! `tgsift sim serve`: runs the simulated Telegram DC by hand, for exploring and for other clients.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, ValueEnum};
use tgsift_sim::{
    CommentSender, DiscussionSpec, FloodConfig, LiveConfig, RandomFaults, Sim, SimConfig,
    SimMediaKind,
};

use crate::telegram::session::SimSessions;

/// Options of `tgsift sim serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Posts per channel (top message id; ~2 % of ids are deleted gaps).
    #[arg(long, default_value_t = 10_000)]
    pub posts: i32,
    /// Number of channels (languages cycle Russian, English, mixed).
    #[arg(long, default_value_t = 3)]
    pub channels: usize,
    /// Seed of the generated content and of random faults.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Random faults per call, e.g. `flood=0.01,disconnect=0.001,internal=0.001,slow=0.01,slow_ms=200`;
    /// page faults, e.g. `hidden=0.01,short_page=0.05,empty=0.01,dup=0.01`; and silences:
    /// `blackhole=P` (per client packet, the connection goes silent for good but stays open),
    /// `session_reset=P` (per call, the server forgets the session: `new_session_created`, no pushes
    /// until the client asks for updates again), `unknown_update=P` (per push, it carries an update
    /// of a newer layer, so the client cannot decode any of it).
    #[arg(long, default_value = "", value_parser = parse_faults)]
    pub faults: RandomFaults,
    /// Flood limits per (account, method).
    #[arg(long, value_enum, default_value_t = FloodPreset::Realistic)]
    pub flood: FloodPreset,
    /// At exit, write every FLOOD_WAIT given per account and method, and each account's state, to
    /// this file as JSON.
    #[arg(long, value_name = "FILE")]
    pub flood_report: Option<PathBuf>,
    /// Channels one account may be a member of: a join past it answers `CHANNELS_TOO_MUCH` (Telegram:
    /// 500, 1,000 with Premium).
    #[arg(long, value_name = "N", default_value_t = tgsift_sim::DEFAULT_MAX_CHANNELS)]
    pub max_channels: usize,
    /// At exit, write each channel's post ids as the first account sees them, one line per channel
    /// (`@name id,id,…`): the truth a client's stored ids are compared with.
    #[arg(long, value_name = "FILE")]
    pub ids_out: Option<PathBuf>,
    /// At start, write every media post of every channel as served, one JSON line each:
    /// `channel`, `message_id`, `kind`, `mime`, `size`, `file_name`, `width`, `height`, `duration`,
    /// `file_id`, `dc_id`, `sha256` (hex, of the file its download gives: a photo's largest size)
    /// (null where absent): the truth a client's media and downloads are compared with.
    #[arg(long, value_name = "FILE")]
    pub media_out: Option<PathBuf>,
    /// Give every channel a linked discussion group whose posts have up to N generated comments
    /// each (from users, users writing as channels and anonymous admins; nested replies, photos,
    /// edits and deleted ones among them), read with `messages.getReplies`. The first tenth of
    /// each channel's posts predates the group and has no comment section. 0: groups whose
    /// comments are only those written live.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(0..=1000))]
    pub comments: Option<u32>,
    /// With --comments: write every thread as the simulator serves it, one JSON line per channel
    /// (`channel`, `username`, `group`, `linked_from`) and per comment (`channel`, `post`, `copy`,
    /// `id`, `date`, `edit_date`, `reply_to`, `top_id`, `sender` (user, channel or anonymous),
    /// `sender_id`, `signature`, `text`, `media`), at start and again at exit: the truth a
    /// client's comments are compared with.
    #[arg(long, value_name = "FILE", requires = "comments")]
    pub comments_out: Option<PathBuf>,
    /// Give the first account a dialog list like a real one (`messages.getDialogs`): the last M
    /// channels are supergroups, every fourth other one has no username, and 25 private chats, 6
    /// basic groups, 3 pinned and some archived dialogs come with them.
    #[arg(long, value_name = "M")]
    pub dialogs: Option<usize>,
    /// With --dialogs: full pages end short now and then while more dialogs remain, as Telegram's
    /// do (a client that takes a short page for the end misses dialogs).
    #[arg(long, requires = "dialogs")]
    pub dialogs_short_pages: bool,
    /// With --dialogs: write the first account's dialogs, one JSON line each (`kind`: channel,
    /// megagroup, user or chat; `id`), at start: the truth a client's dialog listing is compared
    /// with.
    #[arg(long, value_name = "FILE", requires = "dialogs")]
    pub dialogs_out: Option<PathBuf>,
    /// With --comments: write this many comments per second under recent posts, spread over the
    /// channels (pushed to the groups' members).
    #[arg(long, value_name = "R", default_value_t = 0.0, value_parser = parse_rate, requires = "comments")]
    pub live_comments: f64,
    /// File references served with messages expire after this many seconds: downloads with an older
    /// one answer `FILE_REFERENCE_EXPIRED` until the message is fetched again. Default: two hours.
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=31_536_000))]
    pub file_ref_ttl: Option<u64>,
    /// Throttle downloads of accounts without Premium as Telegram does: past BYTES in SECS seconds,
    /// chunks answer `FLOOD_PREMIUM_WAIT_X` until the window ends (e.g. `1048576/1`). Default: no
    /// throttle, so downloads run at full speed.
    #[arg(long, value_name = "BYTES/SECS", value_parser = parse_download_limit)]
    pub download_limit: Option<tgsift_sim::DownloadLimit>,
    /// Give the account this 2FA password.
    #[arg(long, value_name = "PASSWORD")]
    pub password: Option<String>,
    /// Write a tgsift session file (mode 0600) for the account.
    #[arg(long, value_name = "FILE")]
    pub session_out: Option<PathBuf>,
    /// Also write a Telethon string session for the same kind of key to this file (mode 0600).
    #[arg(long, value_name = "FILE")]
    pub string_session_out: Option<PathBuf>,
    /// Make written sessions already logged in (for benchmarks and the demo).
    #[arg(long)]
    pub authorized: bool,
    /// Publish this many new posts per second, spread over the channels (pushed to clients that
    /// asked for updates); 0 = a still world. SIGUSR1 stops publishing and keeps serving; SIGUSR2
    /// starts it again.
    #[arg(long, value_name = "R", default_value_t = 0.0, value_parser = parse_rate)]
    pub live_rate: f64,
    /// With --live-rate: probability, per new post, that a recent post is edited too.
    #[arg(long, value_name = "P", default_value_t = 0.02, value_parser = parse_share)]
    pub live_edits: f64,
    /// With --live-rate: probability, per new post, that a recent post is deleted too.
    #[arg(long, value_name = "P", default_value_t = 0.01, value_parser = parse_share)]
    pub live_deletes: f64,
    /// With --live-rate: append `channel_id,message_id,unix_ms` for every published post to this
    /// file (exact publish times, to measure a client's latency to storing them).
    #[arg(long, value_name = "FILE")]
    pub publish_log: Option<PathBuf>,
    /// Telegram's rule for shared keys: a second live connection on an auth key that another live
    /// connection uses with a different session gets AUTH_KEY_DUPLICATED and the key is revoked.
    #[arg(long)]
    pub strict_keys: bool,
    /// Telegram's verdict on the first account from the start: `frozen` (every method but a few
    /// answers `420 FROZEN_METHOD_INVALID`) or `banned` (`401 USER_DEACTIVATED_BAN` to everything).
    #[arg(long, value_enum, value_name = "STATE")]
    pub account_state: Option<Verdict>,
    /// Round-trip time added to every call, in milliseconds (real Telegram is 50–250 ms away).
    #[arg(long, value_name = "MS", default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=60_000))]
    pub latency_ms: u64,
    /// Up to this many milliseconds more per call, drawn at random.
    #[arg(long, value_name = "MS", default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=60_000))]
    pub latency_jitter_ms: u64,
    /// Accounts that can log in (phones +15550000000, +15550000001, …).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub accounts: u32,
    /// Write a session file for every account into this folder (`sim0.session`, `sim1.session`, …).
    #[arg(long, value_name = "DIR")]
    pub sessions_out: Option<PathBuf>,
    /// A fleet: channel i's only member is account i mod --accounts, so each account gets the pushes
    /// of its own share and lists only it in its dialogs (`channels import` follows it). Without
    /// it every account is a member of every channel.
    #[arg(long)]
    pub shares: bool,
    /// Stop pushing to a connection that has made no request (pings do not count) for this many
    /// seconds, as Telegram does; pushes resume after its next request (the missed ones are lost).
    #[arg(long, value_name = "SECS", value_parser = parse_seconds)]
    pub push_idle_stop: Option<f64>,
    /// Share of channels (0..1, chosen by the seed) never pushed to anyone; their posts are found only
    /// by asking (getChannelDifference, getHistory).
    #[arg(long, value_name = "F", default_value_t = 0.0, value_parser = parse_share)]
    pub unpushed: f64,
    /// Rotate server salts every SECS seconds: a packet with a stale salt gets `bad_server_salt` and
    /// must be re-sent (the previous salt is accepted for 60 s after a change). Default: one salt,
    /// never checked.
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=31_536_000))]
    pub salt_rotate: Option<u64>,
    /// Shift the server's clock this many seconds from real time (negative: behind): client msg_ids
    /// more than 300 s behind it or 30 s ahead get `bad_msg_notification` 16/17 (grammers cannot
    /// recover from a server more than 30 s behind it until real time catches up).
    #[arg(long, value_name = "SECS", default_value_t = 0, allow_negative_numbers = true,
          value_parser = clap::value_parser!(i64).range(-31_536_000..=31_536_000))]
    pub clock_skew: i64,
    /// The `timeout` of `channelDifferenceEmpty`: seconds a client should wait before asking for a
    /// quiet channel's difference again.
    #[arg(long, value_name = "SECS", default_value_t = 30, value_parser = clap::value_parser!(i32).range(0..=86_400))]
    pub diff_timeout: i32,
    /// QR login: "the phone" accepts every login token a client exports (`auth.exportLoginToken`)
    /// this many seconds after its export, as the account `--qr-account` names (fractions allowed;
    /// a token that expires first is not accepted). Default: tokens are never accepted.
    #[arg(long, value_name = "SECS", value_parser = parse_seconds)]
    pub qr_auto_accept: Option<f64>,
    /// With --qr-auto-accept: the account (0 = the first) the tokens are accepted as.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 0,
        requires = "qr_auto_accept"
    )]
    pub qr_account: u32,
    /// The DC the first account lives on (1–5; default 2, where sessions start): a login elsewhere
    /// is sent there (`PHONE_MIGRATE_N` for a code, `auth.loginTokenMigrateTo` for a QR code).
    #[arg(long, value_name = "DC", default_value_t = tgsift_sim::HOME_DC, value_parser = clap::value_parser!(i32).range(1..=5))]
    pub account_dc: i32,
    /// QR login: exported login tokens expire after this many seconds (Telegram: 30).
    #[arg(long, value_name = "SECS", default_value_t = 30.0, value_parser = parse_seconds)]
    pub qr_token_ttl: f64,
    /// Histories that end now instead of in 2020: every channel's newest post is dated at start, so
    /// its recent posts are the days before (what a counts refresh reads).
    #[arg(long)]
    pub recent: bool,
}

/// `--account-state`: what Telegram has decided about the first account.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Verdict {
    /// Frozen: reads are refused with `FROZEN_METHOD_INVALID`.
    Frozen,
    /// Banned: everything is refused with `USER_DEACTIVATED_BAN`.
    Banned,
}

impl Verdict {
    fn standing(self) -> tgsift_sim::Standing {
        match self {
            Verdict::Frozen => tgsift_sim::Standing::Frozen,
            Verdict::Banned => tgsift_sim::Standing::Banned,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Verdict::Frozen => "frozen",
            Verdict::Banned => "banned",
        }
    }
}

/// Flood-limit presets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FloodPreset {
    /// Telegram-like limits (resolveUsername and sendCode very strict).
    Realistic,
    /// `realistic` plus Telegram's penalties: repeated floods double the wait, strict budgets for
    /// resolving usernames and joining channels, accounts frozen after sustained flooding.
    Telegram,
    /// No limits.
    Off,
}

fn parse_faults(s: &str) -> Result<RandomFaults, String> {
    RandomFaults::parse(s)
}

fn parse_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if r.is_finite() && (0.0..=100_000.0).contains(&r) => Ok(r),
        _ => Err(format!(
            "`{s}` is not a rate: give posts per second from 0 to 100000"
        )),
    }
}

fn parse_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(secs) if secs.is_finite() && secs > 0.0 && secs <= 31_536_000.0 => Ok(secs),
        _ => Err(format!(
            "`{s}` is not a duration: give seconds above 0 (fractions allowed)"
        )),
    }
}

fn parse_download_limit(s: &str) -> Result<tgsift_sim::DownloadLimit, String> {
    let bad = || format!("`{s}` is not a download limit: give BYTES/SECS, e.g. 1048576/1");
    let (bytes, secs) = s.split_once('/').ok_or_else(bad)?;
    match (bytes.trim().parse::<u64>(), secs.trim().parse::<u64>()) {
        (Ok(bytes), Ok(secs)) if bytes > 0 && (1..=86_400).contains(&secs) => {
            Ok(tgsift_sim::DownloadLimit {
                bytes,
                window: std::time::Duration::from_secs(secs),
            })
        }
        _ => Err(bad()),
    }
}

fn parse_share(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
        _ => Err(format!(
            "`{s}` is not a probability: give a number from 0 to 1"
        )),
    }
}

/// Starts the simulator, prints how to reach it, and serves until Ctrl-C.
pub(super) async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let mut config = SimConfig::generated(args.seed, args.channels, args.posts);
    if let Some(m) = args.dialogs {
        let m = m.min(args.channels);
        let shaped = SimConfig::memberships(args.seed, args.channels - m, m, args.posts);
        config.channels = shaped.channels;
        config.dialogs = tgsift_sim::DialogsConfig {
            short_pages: args.dialogs_short_pages,
            ..shaped.dialogs
        };
    }
    if args.recent {
        let now = i32::try_from(tgsift_store::unix_now()).unwrap_or(i32::MAX);
        for ch in &mut config.channels {
            ch.start_date = tgsift_sim::world::start_date_for_newest(ch.seed, ch.posts, now);
        }
    }
    if let Some(n) = args.comments {
        for ch in &mut config.channels {
            ch.discussion = Some(DiscussionSpec::for_channel(ch, n));
        }
    }
    config.faults = args.faults.clone();
    config.flood = match args.flood {
        FloodPreset::Realistic => FloodConfig::realistic(),
        FloodPreset::Telegram => FloodConfig::telegram(),
        FloodPreset::Off => FloodConfig::off(),
    };
    config.accounts = (0..args.accounts as usize)
        .map(tgsift_sim::AccountSpec::generated)
        .collect();
    config.accounts[0].password = args.password.clone();
    config.accounts[0].home_dc = args.account_dc;
    config.strict_keys = args.strict_keys;
    config.shares = args.shares;
    config.latency = tgsift_sim::Latency {
        base: std::time::Duration::from_millis(args.latency_ms),
        jitter: std::time::Duration::from_millis(args.latency_jitter_ms),
    };
    let sim = Sim::start(config).await.context("starting the simulator")?;
    sim.set_max_channels(args.max_channels);
    set_silences(&sim, &args);
    set_downloads(&sim, &args);
    if let Some(v) = args.account_state {
        sim.set_standing(0, Some(v.standing()));
        println!("the first account is {} at Telegram", v.name());
    }
    sim.set_login_token_ttl(std::time::Duration::from_secs_f64(args.qr_token_ttl));
    if let Some(after) = args.qr_auto_accept {
        let account = args.qr_account as usize;
        if account >= args.accounts as usize {
            return Err(super::UsageError(format!(
                "--qr-account {account} does not exist: there are {} accounts (0 to {}); raise --accounts or pick another",
                args.accounts,
                args.accounts - 1
            ))
            .into());
        }
        sim.set_qr_auto_accept(Some((std::time::Duration::from_secs_f64(after), account)));
        let spec = &sim.accounts()[account];
        println!(
            "QR login: every exported login token is accepted after {after} s as account {account} ({}, user {})",
            spec.phone, spec.user_id
        );
    }
    let acc = sim.accounts()[0].clone();
    let home = sim.addr(tgsift_sim::HOME_DC).context("home DC address")?;
    println!(
        "simulated Telegram DC {} listening on {home}",
        tgsift_sim::HOME_DC
    );
    for dc in tgsift_sim::DC_IDS {
        if let Some(a) = sim.addr(dc) {
            println!("  DC {dc}: {a}");
        }
    }
    println!("channels: {}", sim.channel_usernames().join(" "));
    if let Some(path) = &args.media_out {
        let n = write_media(&sim, path)
            .with_context(|| format!("writing --media-out {}", path.display()))?;
        println!("{n} media posts written to {}", path.display());
    }
    if let Some(n) = args.comments {
        println!("comments: every channel has a discussion group, up to {n} comments per post");
    }
    if let Some(path) = &args.comments_out {
        let n = write_comments(&sim, path)
            .with_context(|| format!("writing --comments-out {}", path.display()))?;
        println!("{n} comments written to {}", path.display());
    }
    if let Some(path) = &args.dialogs_out {
        let lines: String = sim
            .dialog_peers(0)
            .into_iter()
            .map(|(kind, id)| format!("{}\n", serde_json::json!({"kind": kind, "id": id})))
            .collect();
        std::fs::write(path, &lines)
            .with_context(|| format!("writing --dialogs-out {}", path.display()))?;
        println!(
            "{} dialogs written to {}",
            lines.lines().count(),
            path.display()
        );
    }
    // The simulator's own fixture credentials: printing them is what this command is for.
    println!(
        "account: phone {}  login code {}  2FA password {}",
        acc.phone,
        acc.code,
        acc.password.as_deref().unwrap_or("(none)")
    );
    if let Some(path) = &args.session_out {
        sim.write_session(path, 0, args.authorized)
            .with_context(|| format!("writing session file {}", path.display()))?;
        let state = if args.authorized {
            "logged in"
        } else {
            "not logged in: run the login"
        };
        println!("session written to {} ({state})", path.display());
    }
    if let Some(dir) = &args.sessions_out {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating sessions folder {}", dir.display()))?;
        for n in 0..args.accounts as usize {
            let path = dir.join(format!("sim{n}.session"));
            sim.write_session(&path, n, args.authorized)
                .with_context(|| format!("writing session file {}", path.display()))?;
        }
        println!(
            "{} session files written to {}",
            args.accounts,
            dir.display()
        );
    }
    if args.latency_ms + args.latency_jitter_ms > 0 {
        println!(
            "latency: {} ms round trip (+ up to {} ms)",
            args.latency_ms, args.latency_jitter_ms
        );
    }
    if let Some(path) = &args.string_session_out {
        write_private(path, &sim.telethon_string(0, args.authorized))
            .with_context(|| format!("writing string session {}", path.display()))?;
        println!("Telethon string session written to {}", path.display());
    }
    if args.strict_keys {
        println!(
            "strict keys: a key live on two connections at once is revoked (AUTH_KEY_DUPLICATED)"
        );
    }
    let publishing = args.live_rate > 0.0 || args.live_comments > 0.0;
    if publishing {
        println!(
            "live: {} new posts/s over {} channels, edits {} and deletions {} per new post, {} comments/s",
            args.live_rate, args.channels, args.live_edits, args.live_deletes, args.live_comments
        );
    }
    // Publishing, started now and again after each SIGUSR2 (appending to the same --publish-log).
    let start_live = || -> anyhow::Result<tgsift_sim::LiveHandle> {
        let config = LiveConfig {
            rate: args.live_rate,
            edits: args.live_edits,
            deletes: args.live_deletes,
            seed: args.seed,
            comments: args.live_comments,
        };
        match &args.publish_log {
            Some(path) => std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map(|f| sim.start_live_logged(config, Box::new(std::io::BufWriter::new(f))))
                .with_context(|| format!("--publish-log {}", path.display())),
            None => Ok(sim.start_live(config)),
        }
    };
    let mut live = if publishing {
        Some(start_live()?)
    } else {
        None
    };
    println!("serving until Ctrl-C");
    // SIGUSR1 stops publishing while the simulator keeps serving (a benchmark's window ends, the
    // client still fetches what it missed); SIGUSR2 starts it again.
    let mut usr1 = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::user_defined1())
        .context("listening for SIGUSR1")?;
    let mut usr2 = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::user_defined2())
        .context("listening for SIGUSR2")?;
    loop {
        tokio::select! {
            r = tokio::signal::ctrl_c() => {
                r.context("waiting for Ctrl-C")?;
                break;
            }
            _ = usr1.recv() => {
                if let Some(l) = live.take() {
                    report_live(&l);
                    l.stop().await;
                    println!("live: stopped publishing");
                }
            }
            _ = usr2.recv() => {
                if publishing && live.is_none() {
                    live = Some(start_live()?);
                    println!("live: publishing again");
                }
            }
        }
    }
    if let Some(live) = live {
        report_live(&live);
    }
    // What the clients asked, per method (all accounts): what following the channels cost.
    let mut per_method: std::collections::BTreeMap<&str, u64> = Default::default();
    for ((_, method), c) in sim.log().counts() {
        *per_method.entry(method).or_default() += c.total();
    }
    let calls: Vec<String> = per_method.iter().map(|(m, n)| format!("{m}={n}")).collect();
    println!("requests: {}", calls.join(" "));
    println!("silences: {}", sim.silence_counts());
    println!("files: {}", sim.file_counts());
    let report = sim.flood_report();
    for a in &report.accounts {
        let methods: Vec<String> = a
            .methods
            .iter()
            .filter(|m| m.2 > 0)
            .map(|(m, _, floods, secs, _)| format!("{m}={floods} ({secs} s)"))
            .collect();
        println!(
            "account {} ({}): {} calls, {} FLOOD_WAITs {}",
            a.phone,
            a.state,
            a.calls,
            a.floods,
            methods.join(" ")
        );
    }
    if let Some(path) = &args.ids_out {
        let mut text = String::new();
        for name in sim.channel_usernames() {
            let ids: Vec<String> = sim
                .visible_post_ids(&name, 0)
                .iter()
                .map(i32::to_string)
                .collect();
            text.push_str(&format!("{name} {}\n", ids.join(",")));
        }
        std::fs::write(path, text)
            .with_context(|| format!("writing --ids-out {}", path.display()))?;
    }
    if let Some(path) = &args.comments_out {
        let n = write_comments(&sim, path)
            .with_context(|| format!("writing --comments-out {}", path.display()))?;
        println!("{n} comments written to {}", path.display());
    }
    if let Some(path) = &args.flood_report {
        let json = serde_json::to_string_pretty(&report_json(&report))
            .context("formatting the flood report")?;
        std::fs::write(path, json + "\n")
            .with_context(|| format!("writing --flood-report {}", path.display()))?;
        println!("flood report written to {}", path.display());
    }
    sim.shutdown();
    Ok(())
}

/// Writes one JSON line per media post of every channel, as served now; returns how many.
fn write_media(sim: &Sim, path: &std::path::Path) -> std::io::Result<usize> {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut n = 0;
    for name in sim.channel_usernames() {
        sim.with_channel(&name, |ch| -> std::io::Result<()> {
            let channel = ch.spec().id;
            for p in ch.post_ids().into_iter().filter_map(|id| ch.post(id)) {
                let Some(m) = &p.media else { continue };
                let sha256 = tgsift_sim::file_sha256(m)
                    .map(|h| h.iter().map(|b| format!("{b:02x}")).collect::<String>());
                let line = serde_json::json!({
                    "channel": channel, "message_id": p.id, "kind": kind_name(m.kind),
                    "mime": m.mime, "size": m.size, "file_name": m.file_name,
                    "width": m.width, "height": m.height, "duration": m.duration,
                    "file_id": m.file_id, "dc_id": m.dc_id, "sha256": sha256,
                });
                writeln!(out, "{line}")?;
                n += 1;
            }
            Ok(())
        })
        .transpose()?;
    }
    out.flush()?;
    Ok(n)
}

/// Writes every channel's discussion group and every comment of its threads as served now, one
/// JSON line each; returns how many comments.
fn write_comments(sim: &Sim, path: &std::path::Path) -> std::io::Result<usize> {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut n = 0;
    for name in sim.channel_usernames() {
        let Some((group, _)) = sim.discussion(&name) else {
            continue;
        };
        let Some((channel, linked_from, posts)) = sim.with_channel(&name, |ch| {
            let linked_from = ch.spec().discussion.as_ref().map_or(0, |d| d.linked_from);
            (ch.spec().id, linked_from, ch.post_ids())
        }) else {
            continue;
        };
        let line = serde_json::json!({
            "channel": channel, "username": name, "group": group, "linked_from": linked_from,
        });
        writeln!(out, "{line}")?;
        for post in posts {
            let (Some(copy), Some(thread)) =
                (sim.discussion_copy(&name, post), sim.comments(&name, post))
            else {
                continue;
            };
            for c in thread {
                let (sender, sender_id, signature) = match &c.sender {
                    CommentSender::User(id) => ("user", Some(*id), None),
                    CommentSender::Channel(id) => ("channel", Some(*id), None),
                    CommentSender::Anonymous(s) => ("anonymous", None, Some(s.as_str())),
                };
                let line = serde_json::json!({
                    "channel": channel, "post": post, "copy": copy, "id": c.id, "date": c.date,
                    "edit_date": c.edit_date, "reply_to": c.reply_to, "top_id": c.top_id,
                    "sender": sender, "sender_id": sender_id, "signature": signature,
                    "text": c.text, "media": c.has_media,
                });
                writeln!(out, "{line}")?;
                n += 1;
            }
        }
    }
    out.flush()?;
    Ok(n)
}

/// The name `--media-out` gives a kind of media.
fn kind_name(kind: SimMediaKind) -> &'static str {
    match kind {
        SimMediaKind::Photo => "photo",
        SimMediaKind::Video => "video",
        SimMediaKind::Document => "document",
        SimMediaKind::Audio => "audio",
        SimMediaKind::Voice => "voice",
        SimMediaKind::Sticker => "sticker",
        SimMediaKind::Poll => "poll",
        SimMediaKind::WebPage => "web_page",
        SimMediaKind::Geo => "geo",
        SimMediaKind::Contact => "contact",
    }
}

/// Sets the file reference TTL and the download throttle asked for, and says which.
fn set_downloads(sim: &Sim, args: &ServeArgs) {
    if let Some(secs) = args.file_ref_ttl {
        sim.set_file_reference_ttl(Some(std::time::Duration::from_secs(secs)));
        println!("files: references expire after {secs} s");
    }
    if let Some(limit) = args.download_limit {
        sim.set_download_limit(Some(limit));
        println!(
            "files: accounts without Premium may download {} bytes per {} s (FLOOD_PREMIUM_WAIT past it)",
            limit.bytes,
            limit.window.as_secs()
        );
    }
}

/// Switches on the silences asked for, and says which.
fn set_silences(sim: &Sim, args: &ServeArgs) {
    let mut on = Vec::new();
    if let Some(secs) = args.push_idle_stop {
        sim.set_push_idle_stop(Some(std::time::Duration::from_secs_f64(secs)));
        on.push(format!("pushes stop after {secs} s without a request"));
    }
    if args.unpushed > 0.0 {
        sim.set_unpushed(args.unpushed);
        on.push(format!(
            "a share of {} of channels is never pushed",
            args.unpushed
        ));
    }
    if let Some(secs) = args.salt_rotate {
        sim.set_salt_rotate(Some(std::time::Duration::from_secs(secs)));
        on.push(format!("salts rotate every {secs} s"));
    }
    if args.clock_skew != 0 {
        sim.set_clock_skew(args.clock_skew);
        on.push(format!("the server clock is {:+} s off", args.clock_skew));
    }
    if args.diff_timeout != 30 {
        sim.set_channel_timeout(args.diff_timeout);
        on.push(format!(
            "empty channel differences say wait {} s",
            args.diff_timeout
        ));
    }
    if !on.is_empty() {
        println!("silences on: {}", on.join("; "));
    }
}

/// The flood report as JSON: accounts with their state, per-method counts and every wait given.
fn report_json(report: &tgsift_sim::FloodReport) -> serde_json::Value {
    let accounts: Vec<serde_json::Value> = report
        .accounts
        .iter()
        .map(|a| {
            let methods: Vec<serde_json::Value> = a
                .methods
                .iter()
                .map(|(m, calls, floods, secs, max)| {
                    serde_json::json!({
                        "method": m, "calls": calls, "floods": floods,
                        "wait_seconds": secs, "longest_wait": max,
                    })
                })
                .collect();
            let given: Vec<serde_json::Value> = a
                .given
                .iter()
                .map(|(at, m, secs)| serde_json::json!({"at": at, "method": m, "seconds": secs}))
                .collect();
            serde_json::json!({
                "phone": a.phone, "state": a.state, "calls": a.calls, "floods": a.floods,
                "methods": methods, "flood_waits": given,
            })
        })
        .collect();
    serde_json::json!({ "accounts": accounts })
}

/// Writes a secret to a new file readable by its owner only.
fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())?;
    f.write_all(b"\n")
}

/// What the live driver did, one line.
fn report_live(live: &tgsift_sim::LiveHandle) {
    println!(
        "live: published {} posts, edited {}, deleted {}, commented {}",
        live.published(),
        live.edited(),
        live.deleted(),
        live.commented()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn download_limits_are_bytes_per_seconds() {
        let l = parse_download_limit("1048576/1").expect("valid");
        assert_eq!(
            (l.bytes, l.window),
            (1_048_576, std::time::Duration::from_secs(1))
        );
        for bad in ["1048576", "0/1", "1/0", "x/1", "1/-1", "1/100000"] {
            assert!(parse_download_limit(bad).is_err(), "{bad}");
        }
    }
}
