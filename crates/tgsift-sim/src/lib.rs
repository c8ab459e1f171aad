//! A simulated Telegram data centre: a real MTProto 2.0 server on 127.0.0.1 that the unmodified grammers
//! client talks to with a pre-shared auth key (there is no DH: Telegram's RSA keys are unknowable).
//!
//! It is the ground truth of every integration test, benchmark and the demo, so it follows Telegram's
//! rules (paging, errors, FLOOD_WAIT, dropped connections), not our client's habits.
//!
//! - `transport`: full / abridged / intermediate / padded-intermediate framing, detected per connection.
//! - `crypto`: the server side of MTProto 2.0 encryption.
//! - `server`: listeners (one per DC id) and connections: message layer, containers, gzip, salts, pings,
//!   and the packet checks Telegram makes first (msg_id time, salt).
//! - `clock`: server time (real time + a skew) and the salt schedule (fixed, or rotating).
//! - `hub`: live connections, update subscriptions, pushes and their faults, shared-key detection,
//!   and the per-connection silences (black holes, session resets, idle stop).
//! - `silence`: the push silences in force (idle stop, unpushed channels) and the counts of what
//!   every silence did ([`SilenceCounts`]).
//! - `api`: the methods, with key checks, authorization, faults and flood control in front.
//! - `updates`: pushes, `getState`, `getDifference`, `getChannelDifference` as Telegram sends them.
//! - `objects`: TL objects as Telegram fills them, the media of posts among them.
//! - [`world`] + [`textgen`]: channels whose messages are generated on demand from (seed, id);
//!   [`discussion`]: their linked discussion groups, the copies of posts there and the comments
//!   under them, generated the same way;
//!   [`media`]: what a post carries besides its text (photos, videos, files, polls, …);
//!   [`paging`]: Telegram's getHistory rule written plainly, the reference `world` is tested against.
//! - `srp`: the server side of the 2FA check (SRP-2048), so any client's proof is verified.
//! - `qr`: login by QR code — login tokens, their acceptance by "the phone", migration to the
//!   account's DC.
//! - `state` + `events`: accounts, keys, logins, channel and group members and update events;
//!   `chat`: a channel or its discussion group as pushes and differences serve them.
//! - `shared`: what every connection shares, and the changes the running world makes (publish,
//!   edit, delete, comment); `live`: a driver that makes them at a steady rate.
//! - [`counts`]: views, forwards and reactions that grow while the simulator runs.
//! - `files`: `upload.getFile` as Telegram answers it: chunk rules, files on their own DC
//!   ([`MEDIA_DC`], `FILE_MIGRATE_X` elsewhere), file references that expire, the throttle on
//!   accounts without Premium, and what downloads did ([`FileCounts`]); file bytes are generated
//!   where they are asked for.
//! - `flood`, `faults`, [`log`]: limits, injected faults, request log.
//!
//! Data flows one way: a client's packet goes through `transport`, `crypto` and `server` (checks,
//! containers) to `api`, which reads and changes the `state`; changes made by `shared` (the live
//! world) go out through the `hub` as pushes, past the silences.
//!
//! # Silences
//!
//! Telegram often goes quiet instead of failing. Each of these is off by default and switched from
//! [`Sim`] (and `tgsift sim serve`): pushes stop for idle connections ([`Sim::set_push_idle_stop`]),
//! some channels are never pushed ([`Sim::set_unpushed`]), connections turn into black holes
//! ([`Sim::blackhole`], fault `blackhole`), sessions are forgotten ([`Sim::reset_sessions`], fault
//! `session_reset`), pushes carry updates of a newer layer ([`PushFault::UnknownUpdate`], fault
//! `unknown_update`), salts rotate ([`Sim::set_salt_rotate`]) and the server's clock is off
//! ([`Sim::set_clock_skew`]). [`Sim::silence_counts`] tells what they did.
//!
//! # Downloads
//!
//! Files live on [`MEDIA_DC`]: `upload.getFile` on another DC answers `303 FILE_MIGRATE_4`, and a
//! login holds only on the DC it was made on, so DC 4 answers `AUTH_KEY_UNREGISTERED` until the
//! client exports its authorization at home and imports it there. File references expire
//! ([`Sim::set_file_reference_ttl`], two hours by default) and accounts without Premium can be
//! throttled ([`Sim::set_download_limit`], off by default). [`Sim::file_counts`] tells what
//! downloads did; [`Sim::media_file`] is what a post's file downloads to.
//!
//! # QR login
//!
//! As <https://core.telegram.org/api/qr-login> describes it: `auth.exportLoginToken` answers
//! `auth.loginToken` with a token bound to the exporting auth key that expires after
//! [`DEFAULT_LOGIN_TOKEN_TTL`] ([`Sim::set_login_token_ttl`]); a new export replaces the key's
//! waiting token. "The phone" accepts the newest live token as an account
//! ([`Sim::accept_login_token`]; or every token some time after its export,
//! [`Sim::set_qr_auto_accept`], `sim serve --qr-auto-accept`); an expired token cannot be accepted
//! ([`AcceptError::Expired`]). The exporting connection then gets `updateLoginToken` in an
//! `updateShort`, and the key's next `auth.exportLoginToken` answers `auth.loginTokenSuccess` when
//! the account lives on that DC, or `auth.loginTokenMigrateTo{dc_id, token}` when its home is
//! another (its spec's `home_dc`, or where [`Sim::move_account`] moved it); `auth.importLoginToken`
//! on that DC then answers `auth.loginTokenSuccess`, once. With a 2FA password both answer
//! `401 SESSION_PASSWORD_NEEDED` instead and the login ends with `account.getPassword` and
//! `auth.checkPassword`, as after a login code. `auth.importLoginToken` refuses an unaccepted token
//! that expired or was replaced (`AUTH_TOKEN_EXPIRED`), a used one (`AUTH_TOKEN_ALREADY_ACCEPTED`)
//! and unknown ones (`AUTH_TOKEN_INVALID`). [`Sim::login_tokens`] lists the tokens handed out, so
//! tests can check a client never prints or logs one.
//!
//! # Comments
//!
//! A channel whose spec names a [`DiscussionSpec`] has a linked discussion group: a megagroup with
//! its own id, access hash, message ids and pts. `channels.getFullChannel` names it
//! (`linked_chat_id`; the channel has `has_link`). Every post from `linked_from` on has a copy in
//! the group (`fwd_from` naming the post) and carries `replies` (`comments`, the thread's size,
//! newest id, pts and recent repliers) in history, `getMessages`, pushes and
//! `getMessagesViews`; older posts have no comment section (`getReplies` answers
//! `MSG_ID_INVALID`). `messages.getReplies` pages a thread by getHistory's rule, from the post or
//! from its copy, and `messages.getDiscussionMessage` gives the copy. Comments come from users,
//! users writing as channels and anonymous admins; some are nested, carry a photo, were edited or
//! deleted. [`Sim::comments`] is a thread as served, [`Sim::discussion`] and
//! [`Sim::discussion_copy`] name the group and a post's copy; [`Sim::add_comment`],
//! [`Sim::edit_comment`] and [`Sim::delete_comments`] change threads while the simulator runs
//! (pushed to the group's members: [`Sim::join_discussion`] or `channels.joinChannel` on the
//! group; nobody is a member at first), as does the live driver ([`LiveConfig::comments`]).

#![warn(unreachable_pub)]

mod api;
mod chat;
mod clock;
pub mod counts;
mod crypto;
pub mod discussion;
mod events;
mod faults;
mod files;
mod flood;
mod hub;
mod live;
pub mod log;
pub mod media;
mod objects;
pub mod paging;
mod qr;
mod server;
mod shared;
mod silence;
mod srp;
mod state;
pub mod textgen;
mod transport;
mod updates;
pub mod world;

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

use grammers_session::SessionData;
use grammers_session::types::DcOption;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

pub use api::dialogs::DialogsConfig;
pub use crypto::ServerKey;
pub use discussion::{CommentSender, DiscussionSpec, SimComment};
pub use faults::{Fault, RandomFaults, Scripted};
pub use files::{DEFAULT_FILE_REFERENCE_TTL, DownloadLimit, FileCounts, file_bytes, file_sha256};
pub use flood::{FloodConfig, Limit, Penalty};
pub use hub::{PushFault, ScriptedPush};
pub use live::{LiveConfig, LiveHandle};
pub use media::{MEDIA_DC, SimMedia, SimMediaKind};
pub use qr::{AcceptError, DEFAULT_LOGIN_TOKEN_TTL};
pub use silence::SilenceCounts;
pub use state::{AccountSpec, DEFAULT_MAX_CHANNELS, SavedMessage, Standing};
pub use world::{
    ChannelSpec, Lang, ServiceAction, ServiceRun, SimChannel, SimMessage, SimPost, SimService,
};

use shared::{Publish, Rewrite, Shared};
use state::Side;
use state::World;

/// The DC ids the simulator serves, each on its own port.
pub const DC_IDS: std::ops::RangeInclusive<i32> = 1..=5;
/// The DC a new session starts on (as grammers' defaults do).
pub const HOME_DC: i32 = 2;

/// What to simulate.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Seeds random faults (content comes from each channel's own seed).
    pub seed: u64,
    /// Accounts that can log in.
    pub accounts: Vec<AccountSpec>,
    /// Channels.
    pub channels: Vec<ChannelSpec>,
    /// Flood limits.
    pub flood: FloodConfig,
    /// Random faults.
    pub faults: RandomFaults,
    /// The server salt handed out in `new_session_created` while salts do not rotate (0 = clients
    /// never ask for salts); see [`Sim::set_salt_rotate`].
    pub salt: i64,
    /// Telegram's rule for shared keys: a second live connection on an auth key already live with
    /// another session gets `AUTH_KEY_DUPLICATED` and the key is revoked.
    pub strict_keys: bool,
    /// Update events each channel keeps for `getChannelDifference` (older pts get `TooLong`).
    pub event_log: usize,
    /// Calls and flood windows the request log keeps (counters keep every call).
    pub log_capacity: usize,
    /// Round-trip time added to every API call, as a real data centre 50–250 ms away has.
    pub latency: Latency,
    /// The chats besides channels in every account's dialog list, and how the list is laid out
    /// (`messages.getDialogs`).
    pub dialogs: DialogsConfig,
    /// A fleet's memberships: channel `i`'s only member is account `i mod accounts`, so each
    /// account gets the pushes of, and lists in its dialogs, its own share; off: every account is a
    /// member of every channel.
    pub shares: bool,
}

/// A network's round trip: `base` plus a uniformly drawn share of `jitter`, half of it before the call
/// is handled and half after (so flood limits see arrivals as Telegram would).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Latency {
    /// Constant round-trip time.
    pub base: Duration,
    /// Up to this much more, drawn per call.
    pub jitter: Duration,
}

impl Latency {
    /// Sleeps half a round trip (one way).
    pub async fn one_way(&self) {
        if self.base.is_zero() && self.jitter.is_zero() {
            return;
        }
        let extra = self.jitter.mul_f64(rand::random::<f64>());
        tokio::time::sleep((self.base + extra) / 2).await;
    }
}

/// Update events a channel keeps by default.
pub const DEFAULT_EVENT_LOG: usize = 20_000;

impl SimConfig {
    /// One account (`+15550000`, code `12345`, no 2FA) and `channels` public channels of `posts` posts,
    /// languages cycling Russian, English, mixed; floods and faults off.
    pub fn generated(seed: u64, channels: usize, posts: i32) -> Self {
        let langs = [Lang::Ru, Lang::En, Lang::Mixed];
        let names = [
            "news", "tech", "mixed", "markets", "sport", "science", "culture", "world",
        ];
        let channels = (0..channels)
            .map(|i| {
                let lang = langs[i % langs.len()];
                let base = names[i % names.len()];
                let username = if i < names.len() {
                    format!("sim_{base}")
                } else {
                    format!("sim_{base}_{i}")
                };
                ChannelSpec {
                    id: 1_000_000_000 + i as i64 * 7_919 + (seed % 1_000) as i64,
                    access_hash: (seed as i64)
                        .wrapping_mul(31)
                        .wrapping_add(i as i64 * 1_000_003)
                        | 1,
                    username: Some(username),
                    title: format!("Simulated {base} #{i}"),
                    lang,
                    posts,
                    seed: seed.wrapping_add((i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)),
                    start_date: 1_600_000_000,
                    service_run: None,
                    discussion: None,
                    megagroup: false,
                }
            })
            .collect();
        SimConfig {
            seed,
            accounts: vec![AccountSpec::generated(0)],
            channels,
            flood: FloodConfig::off(),
            faults: RandomFaults::default(),
            salt: 0x5eed_5a17,
            strict_keys: false,
            latency: Latency::default(),
            event_log: DEFAULT_EVENT_LOG,
            log_capacity: log::DEFAULT_CAPACITY,
            dialogs: DialogsConfig::default(),
            shares: false,
        }
    }
}

impl SimConfig {
    /// An account that is a member of `channels` broadcast channels (every fourth one private, without
    /// a username) and `megagroups` supergroups, with private chats, basic groups, pinned and
    /// archived dialogs in its dialog list, pages of which end short now and then: the world of
    /// a dialogs import. Posts are few (`posts` per chat), so hundreds of chats cost little.
    pub fn memberships(seed: u64, channels: usize, megagroups: usize, posts: i32) -> Self {
        let mut config = SimConfig::generated(seed, channels + megagroups, posts);
        for (i, spec) in config.channels.iter_mut().enumerate() {
            if i >= channels {
                let k = i - channels;
                spec.megagroup = true;
                spec.title = format!("Simulated group #{k}");
                spec.username = k.is_multiple_of(2).then(|| format!("sim_group_{k}"));
            } else if i % 4 == 3 {
                spec.username = None;
                spec.title = format!("Private channel #{i}");
            }
        }
        config.dialogs = DialogsConfig {
            users: 25,
            basic_groups: 6,
            pinned: 3,
            archive_every: 10,
            short_pages: true,
        };
        config
    }
}

impl AccountSpec {
    /// The `n`-th generated account: phone `+1555000n`, code `1234n`-style, no 2FA, home DC 2, no
    /// Premium.
    pub fn generated(n: usize) -> Self {
        AccountSpec {
            phone: format!("+1555{:07}", n),
            code: format!("{:05}", 12_345 + n * 11_111 % 87_654),
            password: None,
            user_id: 700_000 + n as i64,
            access_hash: 0x00ac_ce55 + n as i64 * 977,
            first_name: format!("Sim User {n}"),
            home_dc: HOME_DC,
            premium: false,
        }
    }
}

/// A running simulator; dropping it (or [`Sim::shutdown`]) stops every listener and connection.
pub struct Sim {
    shared: Arc<Shared>,
    addrs: BTreeMap<i32, SocketAddr>,
    cancel: CancellationToken,
    started: Instant,
}

/// Every FLOOD_WAIT the simulator gave, per account, and how each account stands: what a client
/// cost its accounts (`sim serve --flood-report`, and tests).
#[derive(Clone, Debug, Default)]
pub struct FloodReport {
    /// Logged-in accounts that made calls, in spec order.
    pub accounts: Vec<AccountFloods>,
}

/// One account's floods.
#[derive(Clone, Debug)]
pub struct AccountFloods {
    /// Its phone number.
    pub phone: String,
    /// `active`, `frozen` or `banned`.
    pub state: &'static str,
    /// Calls made, all methods.
    pub calls: u64,
    /// FLOOD_WAITs given, all methods.
    pub floods: u64,
    /// Per method with at least one call: (method, calls, floods, seconds of waits, longest wait).
    pub methods: Vec<(&'static str, u64, u64, u64, u32)>,
    /// The newest FLOOD_WAITs given (up to the log's capacity): (seconds since the simulator
    /// started, method, wait seconds).
    pub given: Vec<(f64, &'static str, u32)>,
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

impl Sim {
    /// Binds one ephemeral port on 127.0.0.1 per DC id and starts serving.
    pub async fn start(config: SimConfig) -> std::io::Result<Sim> {
        let (kill, _) = watch::channel(0);
        let (outage, _) = watch::channel(None);
        let mut listeners = Vec::new();
        let mut addrs = BTreeMap::new();
        for dc in DC_IDS {
            let (listener, addr) = server::listen(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))?;
            addrs.insert(dc, addr);
            listeners.push((dc, listener));
        }
        let (auto_tx, auto_rx) = tokio::sync::mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            world: World::new(
                config.accounts,
                config.channels,
                config.event_log,
                config.shares,
            ),
            flood: flood::FloodModel::new(config.flood),
            faults: faults::Faults::new(config.faults, config.seed),
            log: log::RequestLog::with_capacity(config.log_capacity),
            hub: hub::Hub::default(),
            clock: clock::ServerClock::new(config.seed, config.salt),
            silence: silence::Silence::new(config.seed),
            channel_timeout: AtomicI32::new(updates::CHANNEL_TIMEOUT),
            counts: counts::CountClock::new(),
            strict_keys: config.strict_keys,
            latency: config.latency,
            dc_addrs: addrs.clone(),
            dialogs: config.dialogs,
            seed: config.seed,
            files: files::Files::new(),
            login_tokens: qr::LoginTokens::new(auto_tx),
            kill,
            outage,
        });
        let cancel = CancellationToken::new();
        tokio::spawn(auto_accept(Arc::clone(&shared), auto_rx, cancel.clone()));
        for (dc, listener) in listeners {
            tokio::spawn(server::run_dc(
                Arc::clone(&shared),
                dc,
                listener,
                cancel.clone(),
            ));
        }
        Ok(Sim {
            shared,
            addrs,
            cancel,
            started: Instant::now(),
        })
    }

    /// The address of DC `dc` (1..=5).
    pub fn addr(&self, dc: i32) -> Option<SocketAddr> {
        self.addrs.get(&dc).copied()
    }

    /// The account specs.
    pub fn accounts(&self) -> &[AccountSpec] {
        &self.shared.world.accounts
    }

    /// Auth keys revoked because two connections used one at once (`strict_keys`): what Telegram
    /// does to a session two clients share, so a test can tell that it never happened.
    pub fn revoked_keys(&self) -> usize {
        self.shared.world.revoked_count()
    }

    /// Creates a fresh auth key (logged in as `account` on [`HOME_DC`] when `authorized`) and the
    /// session data that points every DC id at this simulator with that key. The login holds on the
    /// home DC only, as a Telegram login holds on the DC it was made on: another DC answers
    /// `AUTH_KEY_UNREGISTERED` until the client exports its authorization there.
    pub fn new_session(&self, account: usize, authorized: bool) -> SessionData {
        let key = ServerKey::generate();
        let bytes = *key.bytes();
        self.shared
            .world
            .add_key(key, authorized.then_some((account, HOME_DC)));
        let mut data = SessionData {
            home_dc: HOME_DC,
            ..SessionData::default()
        };
        for (&dc, addr) in &self.addrs {
            let port = addr.port();
            data.dc_options.insert(
                dc,
                DcOption {
                    id: dc,
                    ipv4: SocketAddrV4::new(Ipv4Addr::LOCALHOST, port),
                    ipv6: SocketAddrV6::new(Ipv4Addr::LOCALHOST.to_ipv6_mapped(), port, 0, 0),
                    auth_key: Some(bytes),
                },
            );
        }
        data
    }

    /// Runs `f` on the channel with this username (without `@`), if any.
    pub fn with_channel<R>(&self, username: &str, f: impl FnOnce(&SimChannel) -> R) -> Option<R> {
        let ch = self
            .shared
            .world
            .channel_by_username(username.trim_start_matches('@'))?;
        let entry = state::read(&ch);
        Some(f(&entry.history))
    }

    /// Ascending ids of the channel's existing posts (no service messages) that account `account`
    /// can see under the current faults: with `hidden` on, history pages come back short and
    /// hidden posts look deleted, so tests need the truth each account should end up with.
    /// Nothing is hidden for an unknown account; empty for an unknown channel.
    pub fn visible_post_ids(&self, username: &str, account: usize) -> Vec<i32> {
        let user_id = self.accounts().get(account).map(|a| a.user_id);
        let hider = self.shared.faults.hider(user_id);
        self.with_channel(username, |ch| {
            let mut ids = ch.post_ids();
            if let Some(h) = hider {
                let channel_id = ch.spec().id;
                ids.retain(|&id| !h.hides(channel_id, id));
            }
            ids
        })
        .unwrap_or_default()
    }

    /// Usernames of every channel that has one, as `@name`.
    pub fn channel_usernames(&self) -> Vec<String> {
        self.shared
            .world
            .channels()
            .iter()
            .filter_map(|c| {
                state::read(c)
                    .history
                    .spec()
                    .username
                    .clone()
                    .map(|u| format!("@{u}"))
            })
            .collect()
    }

    /// Publishes a post with this text in a channel (pushed to members that asked for updates);
    /// returns its id.
    pub fn append_post(&self, username: &str, text: &str) -> Option<i32> {
        let ch = self.channel(username)?;
        self.shared.publish(&ch, Publish::Text(text.to_string()))
    }

    /// Publishes a post with generated content, as the live driver does; returns its id.
    pub fn publish_post(&self, username: &str) -> Option<i32> {
        let ch = self.channel(username)?;
        self.shared.publish(&ch, Publish::Generated)
    }

    /// Edits a post's text (sets its edit date, pushes `updateEditChannelMessage`); false if it is
    /// not an existing post.
    pub fn edit_post(&self, username: &str, id: i32, text: &str) -> bool {
        self.channel(username)
            .is_some_and(|ch| self.shared.edit(&ch, id, Rewrite::Text(text.to_string())))
    }

    /// Deletes messages (pushes one `updateDeleteChannelMessages`); returns how many existed.
    pub fn delete_messages(&self, username: &str, ids: &[i32]) -> usize {
        self.channel(username)
            .map_or(0, |ch| self.shared.delete(&ch, ids))
    }

    /// The thread of post `post` of a channel as it is now: its comments (nested replies
    /// included, the copy never), ascending ids; `None` when the post has no comment section
    /// (the channel has no discussion group, the post is older than `linked_from`, a service
    /// message, deleted or unknown).
    pub fn comments(&self, username: &str, post: i32) -> Option<Vec<SimComment>> {
        let ch = self.channel(username)?;
        let entry = state::read(&ch);
        entry
            .discussion
            .as_ref()?
            .thread
            .thread(&entry.history, post)
    }

    /// The channel's discussion group as `(group id, access hash)`, if it has one.
    pub fn discussion(&self, username: &str) -> Option<(i64, i64)> {
        let ch = self.channel(username)?;
        let entry = state::read(&ch);
        let spec = entry.discussion.as_ref()?.thread.spec();
        Some((spec.group_id, spec.access_hash))
    }

    /// The id in the discussion group of post `post`'s copy (the root of its thread); `None` when
    /// the post has no comment section.
    pub fn discussion_copy(&self, username: &str, post: i32) -> Option<i32> {
        let ch = self.channel(username)?;
        let entry = state::read(&ch);
        entry
            .discussion
            .as_ref()?
            .thread
            .copy_id(&entry.history, post)
    }

    /// Writes a comment under post `post` as one of the generated users — replying to comment
    /// `reply_to` (a group message id of the same thread) or to the post itself — pushed to the
    /// group's members as `updateNewChannelMessage`; the post's `replies` move. Returns the
    /// comment's group message id; `None` when the post has no comment section or `reply_to` is
    /// not a comment of its thread.
    pub fn add_comment(
        &self,
        username: &str,
        post: i32,
        reply_to: Option<i32>,
        text: &str,
    ) -> Option<i32> {
        let ch = self.channel(username)?;
        self.shared
            .add_comment(&ch, post, reply_to, Some(text.to_string()))
    }

    /// Deletes comments (group message ids; copies of posts are not comments) in one
    /// `updateDeleteChannelMessages` of the group; returns how many existed.
    pub fn delete_comments(&self, username: &str, ids: &[i32]) -> usize {
        self.channel(username)
            .map_or(0, |ch| self.shared.delete_comments(&ch, ids))
    }

    /// Edits a comment's text (sets its edit date, pushes `updateEditChannelMessage` in the
    /// group); false if it is not an existing comment.
    pub fn edit_comment(&self, username: &str, id: i32, text: &str) -> bool {
        self.channel(username)
            .is_some_and(|ch| self.shared.edit_comment(&ch, id, Some(text.to_string())))
    }

    /// Makes account `account` a member of the channel's discussion group (it gets the group's
    /// pushes), as `channels.joinChannel` on the group does. Accounts are not members at first;
    /// non-members still read threads with `messages.getReplies`.
    pub fn join_discussion(&self, username: &str, account: usize) {
        if let Some(ch) = self.channel(username) {
            let mut entry = state::write(&ch);
            if let Some(g) = entry.discussion.as_mut()
                && !g.members.contains(&account)
            {
                g.members.push(account);
            }
        }
    }

    /// The discussion group's pts, if the channel has one.
    pub fn discussion_pts(&self, username: &str) -> Option<i32> {
        let ch = self.channel(username)?;
        let entry = state::read(&ch);
        chat::Chat::of(&entry, Side::Group).map(|c| c.pts())
    }

    /// Starts publishing posts at `config.rate` per second over every channel; stops when the
    /// handle is dropped or the simulator shuts down.
    pub fn start_live(&self, config: LiveConfig) -> LiveHandle {
        live::start(
            Arc::clone(&self.shared),
            config,
            None,
            self.cancel.child_token(),
        )
    }

    /// [`Sim::start_live`], writing `channel_id,message_id,unix_ms` for every post it publishes to
    /// `log` (exact publish times, for latency measurements).
    pub fn start_live_logged(&self, config: LiveConfig, log: live::PublishLog) -> LiveHandle {
        live::start(
            Arc::clone(&self.shared),
            config,
            Some(log),
            self.cancel.child_token(),
        )
    }

    /// A channel's pts (advanced by every new message, edit and deletion).
    pub fn channel_pts(&self, username: &str) -> Option<i32> {
        self.channel(username).map(|ch| state::read(&ch).pts())
    }

    /// Whether account `account` is a member of the channel (members get its pushes).
    pub fn is_member(&self, username: &str, account: usize) -> Option<bool> {
        self.channel(username)
            .map(|ch| state::read(&ch).is_member(account))
    }

    /// The channels and supergroups account `account` is a member of (neither left nor banned), as
    /// (id, is a megagroup), in creation order: what a dialogs import must end up following.
    pub fn memberships(&self, account: usize) -> Vec<(i64, bool)> {
        self.shared
            .world
            .channels()
            .iter()
            .filter_map(|c| {
                let e = state::read(c);
                let spec = e.history.spec();
                e.is_member(account).then_some((spec.id, spec.megagroup))
            })
            .collect()
    }

    /// Every dialog `messages.getDialogs` lists for account `account` now, as (kind, id): `channel`
    /// and `megagroup` for the chats it is a member of (banned ones too: Telegram lists them as
    /// `channelForbidden`), `user` for its private chats (and its Saved Messages, its own id), `chat`
    /// for its basic groups — the truth a client's dialog listing is compared with.
    pub fn dialog_peers(&self, account: usize) -> Vec<(&'static str, i64)> {
        let mut out: Vec<(&'static str, i64)> = self
            .shared
            .world
            .channels()
            .iter()
            .filter_map(|c| {
                let e = state::read(c);
                let spec = e.history.spec();
                e.members.contains(account).then_some((
                    if spec.megagroup {
                        "megagroup"
                    } else {
                        "channel"
                    },
                    spec.id,
                ))
            })
            .collect();
        let cfg = &self.shared.dialogs;
        out.extend((0..cfg.users).map(|n| ("user", api::dialogs::contact_id(n))));
        out.extend((0..cfg.basic_groups).map(|n| ("chat", api::dialogs::basic_group_id(n))));
        if !self.saved_messages(account).is_empty()
            && let Some(me) = self.accounts().get(account)
        {
            out.push(("user", me.user_id));
        }
        out
    }

    /// Makes account `account` leave the channel, as if it had left in another app.
    pub fn leave(&self, username: &str, account: usize) {
        if let Some(ch) = self.channel(username) {
            state::write(&ch).members.leave(account);
        }
    }

    /// Connections that asked for updates (`updates.getState` / `getDifference`) and are still
    /// connected.
    pub fn subscribers(&self) -> usize {
        self.shared.hub.subscribers()
    }

    /// Live connections (black holes included: their TCP connections are still open).
    pub fn connections(&self) -> usize {
        self.shared.hub.connections()
    }

    /// Adds a scripted push fault (a dropped push, `updatesTooLong`, `updateChannelTooLong`, an
    /// unknown update).
    pub fn script_push(&self, fault: ScriptedPush) {
        self.shared.hub.script(fault);
    }

    /// Telegram stops pushing to a connection that has made no content request (any RPC; pings,
    /// acks and `get_future_salts` do not count) for `after`: its pushes are lost, unreported by
    /// `getDifference`, until its next request. `None` (the default): pushes never stop.
    pub fn set_push_idle_stop(&self, after: Option<Duration>) {
        self.shared.silence.set_idle_stop(after);
    }

    /// Makes the share `f` (0..=1) of channels never pushed to anyone, as some channels are on
    /// Telegram; which ones is decided by (seed, channel id) and stable for the run. Their events
    /// still show in `getChannelDifference` and `getHistory`. Default 0.
    pub fn set_unpushed(&self, f: f64) {
        self.shared.silence.set_unpushed(f);
    }

    /// Makes `messages.getMessagesViews` and `getMessagesReactions` answer the counts posts were
    /// generated with (below what they answered before, as a stale replica would), or the grown
    /// ones again.
    pub fn set_stale_counts(&self, stale: bool) {
        self.shared.counts.set_stale(stale);
    }

    /// The counters `messages.getMessagesViews` would answer now for post `id` of a channel (grown
    /// since the simulator started, unless stale); `None` for an unknown channel or post.
    pub fn counts(&self, username: &str, id: i32) -> Option<counts::SimCounts> {
        let grown = self.shared.counts.grown();
        let now = self.shared.clock.unix();
        self.with_channel(username, |c| {
            c.post(id)
                .map(|p| counts::current(c.spec().id, &p, now, grown))
        })
        .flatten()
    }

    /// Makes file references older than `ttl` (whole seconds of the server clock) answer
    /// `FILE_REFERENCE_EXPIRED`; `None`: they never expire. Default
    /// [`DEFAULT_FILE_REFERENCE_TTL`]. References already served are judged by the new TTL.
    pub fn set_file_reference_ttl(&self, ttl: Option<Duration>) {
        self.shared.files.set_ttl(ttl);
    }

    /// Throttles downloads of accounts without Premium as Telegram does (`420
    /// FLOOD_PREMIUM_WAIT_X` once an account has had `limit.bytes` in `limit.window`); Premium
    /// accounts are never throttled. `None` (the default): no throttle, so benchmarks measure
    /// speed.
    pub fn set_download_limit(&self, limit: Option<DownloadLimit>) {
        self.shared.files.set_limit(limit);
    }

    /// Makes messages name DC `dc` as their files' DC while the files stay on [`media::MEDIA_DC`], as
    /// after Telegram moved files between DCs: a download that trusts the message is answered
    /// `303 FILE_MIGRATE_X` and must follow it. `None` (the default): messages name the right DC.
    pub fn set_files_named_on(&self, dc: Option<i32>) {
        self.shared.files.set_named_dc(dc);
    }

    /// What downloads did so far.
    pub fn file_counts(&self) -> FileCounts {
        self.shared.files.tally.snapshot()
    }

    /// The whole file post `msg_id` of the channel downloads to (a photo: its largest size); `None`
    /// for an unknown post or media without a file.
    pub fn media_file(&self, username: &str, msg_id: i32) -> Option<Vec<u8>> {
        let media = self.with_channel(username, |c| c.post(msg_id)?.media)??;
        file_bytes(&media, files::whole_file(&media)?)
    }

    /// Whether the channel (by id) is never pushed under [`Sim::set_unpushed`].
    pub fn is_unpushed(&self, channel_id: i64) -> bool {
        self.shared.silence.is_unpushed(channel_id)
    }

    /// Turns every live connection of account `account` into a black hole now — a half-open
    /// connection: it stays open, answers nothing (no results, pongs or acks), gets no pushes and
    /// is never closed by the server, only by the client. New connections are normal. Returns how
    /// many connections it hit.
    pub fn blackhole(&self, account: usize) -> usize {
        let hit = self
            .account_conns(account)
            .into_iter()
            .filter(|&c| self.shared.hub.black_hole(c))
            .count();
        self.shared
            .silence
            .tally
            .add(silence::Event::BlackHole, hit as u64);
        hit
    }

    /// Live connections that are black holes (their TCP connections still open).
    pub fn black_holes(&self) -> usize {
        self.shared.hub.black_holes()
    }

    /// Forgets the session of every live connection of account `account` now, as Telegram does
    /// now and then: each gets `new_session_created` (naming its client's newest msg_id) and no
    /// pushes until it calls `updates.getState` or `updates.getDifference`; the next
    /// `getDifference` reports the channels it missed as `updateChannelTooLong`. grammers 0.11
    /// swallows `new_session_created`, so its pushes just stop. Returns how many were reset.
    pub fn reset_sessions(&self, account: usize) -> usize {
        let hub = &self.shared.hub;
        let hit = self
            .account_conns(account)
            .into_iter()
            .filter(|&c| {
                let created =
                    server::new_session_created(hub.last_msg_id(c), self.shared.clock.salt());
                hub.reset_session(c, created)
            })
            .count();
        self.shared
            .silence
            .tally
            .add(silence::Event::SessionReset, hit as u64);
        hit
    }

    /// Rotates server salts every `period` (whole seconds, at least 1): a packet with neither the
    /// current salt nor, for 60 s after a change, the previous one gets `bad_server_salt` and is
    /// not processed. `None` (the default): one salt that is never checked.
    pub fn set_salt_rotate(&self, period: Option<Duration>) {
        self.shared.clock.set_rotation(period);
    }

    /// Shifts the server's clock `secs` from real time (negative: behind). Server msg_ids, salt
    /// periods and `future_salts.now` follow it, and a client msg_id more than 300 s behind it or
    /// 30 s ahead gets `bad_msg_notification` 16/17; dates inside API objects stay real time.
    pub fn set_clock_skew(&self, secs: i64) {
        self.shared.clock.set_skew(secs);
    }

    /// Sets the `timeout` of `channelDifferenceEmpty` (seconds before the client should ask for the
    /// channel's difference again; default 30).
    pub fn set_channel_timeout(&self, secs: i32) {
        self.shared.channel_timeout.store(secs, Ordering::Relaxed);
    }

    /// What the silences did so far.
    pub fn silence_counts(&self) -> SilenceCounts {
        self.shared.silence.tally.snapshot()
    }

    /// Live connections (not black holes) whose key is logged in as `account`.
    fn account_conns(&self, account: usize) -> Vec<hub::ConnId> {
        self.shared
            .hub
            .keyed()
            .into_iter()
            .filter(|&(_, key, dc)| self.shared.world.user_on(key, dc) == Some(account))
            .map(|(conn, _, _)| conn)
            .collect()
    }

    fn channel(&self, username: &str) -> Option<Arc<std::sync::RwLock<state::ChannelEntry>>> {
        self.shared
            .world
            .channel_by_username(username.trim_start_matches('@'))
    }

    /// Bans account `account` from a channel: its reads get `CHANNEL_PRIVATE`.
    pub fn ban(&self, username: &str, account: usize) {
        if let Some(ch) = self.channel(username) {
            state::write(&ch).banned.push(account);
        }
    }

    /// Lifts `account`'s ban from a channel: its history is readable again.
    pub fn unban(&self, username: &str, account: usize) {
        if let Some(ch) = self.channel(username) {
            state::write(&ch).banned.retain(|a| *a != account);
        }
    }

    /// Sets how Telegram stands towards account `account` (`None`: good standing again): frozen
    /// accounts get `420 FROZEN_METHOD_INVALID` from all but a few methods, banned ones
    /// `401 USER_DEACTIVATED_BAN` from every call.
    pub fn set_standing(&self, account: usize, standing: Option<Standing>) {
        self.shared.world.set_standing(account, standing);
    }

    /// How Telegram stands towards account `account` now (`None`: good standing); the `telegram`
    /// flood preset freezes accounts that keep flooding.
    pub fn standing(&self, account: usize) -> Option<Standing> {
        self.shared.world.standing(account)
    }

    /// Every FLOOD_WAIT given so far per account, and each account's standing.
    pub fn flood_report(&self) -> FloodReport {
        let world = &self.shared.world;
        let counts = self.shared.log.counts();
        let windows = self.shared.log.flood_windows();
        let accounts = world
            .accounts
            .iter()
            .enumerate()
            .filter_map(|(n, spec)| {
                let methods: Vec<_> = counts
                    .iter()
                    .filter(|((who, _), _)| *who == spec.user_id)
                    .map(|((_, m), c)| (*m, c.total(), c.flood, c.flood_seconds, c.max_wait))
                    .collect();
                if methods.is_empty() {
                    return None;
                }
                let given = windows
                    .iter()
                    .filter(|w| w.account == spec.user_id)
                    .map(|w| {
                        (
                            w.from.saturating_duration_since(self.started).as_secs_f64(),
                            w.method,
                            (w.until - w.from).as_secs() as u32,
                        )
                    })
                    .collect();
                Some(AccountFloods {
                    phone: spec.phone.clone(),
                    state: match world.standing(n) {
                        None => "active",
                        Some(Standing::Frozen) => "frozen",
                        Some(Standing::Banned) => "banned",
                    },
                    calls: methods.iter().map(|m| m.1).sum(),
                    floods: methods.iter().map(|m| m.2).sum(),
                    methods,
                    given,
                })
            })
            .collect();
        FloodReport { accounts }
    }

    /// Moves account `account` to DC `dc`, as Telegram does now and then: from then on its calls
    /// to any other DC answer `303 USER_MIGRATE_<dc>` (login and `auth.*`/`help.*` excepted), and
    /// a client moves by exporting its authorization to `dc` and importing it there.
    pub fn move_account(&self, account: usize, dc: i32) {
        state::lock(&self.shared.world.moved).insert(account, dc);
    }

    /// "The phone" accepts the newest login token a client exported (QR login) as account
    /// `account`, as `auth.acceptLoginToken` in a logged-in app does: the exporting connection gets
    /// `updateLoginToken`, and the client's next `auth.exportLoginToken` logs it in (or sends it to
    /// the account's DC). A token that expired first is refused, as Telegram refuses it.
    pub fn accept_login_token(&self, account: usize) -> Result<(), AcceptError> {
        self.shared.accept_login_token(None, account)
    }

    /// The login tokens handed out so far (exported ones, replaced or not, and those of
    /// migrations), oldest first: secrets a test checks a client never printed or logged.
    pub fn login_tokens(&self) -> Vec<Vec<u8>> {
        self.shared.login_tokens.all()
    }

    /// Sets how long exported login tokens live (default [`DEFAULT_LOGIN_TOKEN_TTL`], at least
    /// 100 ms); tokens already exported keep theirs.
    pub fn set_login_token_ttl(&self, ttl: Duration) {
        self.shared.login_tokens.set_ttl(ttl);
    }

    /// Accepts every login token exported from now on `after` its export, as account `account`
    /// (`None`: only [`Sim::accept_login_token`] accepts), as `sim serve --qr-auto-accept` does.
    pub fn set_qr_auto_accept(&self, auto: Option<(Duration, usize)>) {
        self.shared.login_tokens.set_auto_accept(auto);
    }

    /// Sets how many channels one account may be a member of (`CHANNELS_TOO_MUCH` on the join past
    /// it; default [`DEFAULT_MAX_CHANNELS`]).
    pub fn set_max_channels(&self, n: usize) {
        self.shared
            .world
            .max_channels
            .store(n, std::sync::atomic::Ordering::Relaxed);
    }

    /// Ends every session of account `account`, as its owner does from another device: each key's
    /// next call gets `401 SESSION_REVOKED`, later ones `401 AUTH_KEY_UNREGISTERED`.
    pub fn end_sessions(&self, account: usize) {
        self.shared.world.end_sessions(account);
    }

    /// Revokes every key of account `account` (`406 AUTH_KEY_DUPLICATED` from then on), as Telegram
    /// does when one key is used from two places at once.
    pub fn revoke_keys(&self, account: usize) {
        self.shared.world.revoke_account_keys(account);
    }

    /// Adds a scripted fault.
    pub fn script(&self, fault: Scripted) {
        self.shared.faults.script(fault);
    }

    /// The fault plan (random probabilities, scripted faults).
    pub fn faults(&self) -> &faults::Faults {
        &self.shared.faults
    }

    /// Replaces the flood limits.
    pub fn set_flood(&self, config: FloodConfig) {
        self.shared.flood.set_config(config);
    }

    /// The request log.
    pub fn log(&self) -> &log::RequestLog {
        &self.shared.log
    }

    /// What `account` sent to its own Saved Messages, oldest first (tgsift's Telegram alerts).
    pub fn saved_messages(&self, account: usize) -> Vec<SavedMessage> {
        self.shared.world.saved_after(account, state::COMMON_PTS)
    }

    /// Closes every open connection at once (as when Telegram restarts a frontend).
    pub fn disconnect_all(&self) {
        self.shared.kill.send_modify(|g| *g += 1);
    }

    /// Closes every connection and refuses new ones for `d`.
    pub fn outage(&self, d: Duration) {
        self.shared.outage.send_replace(Some(Instant::now() + d));
        self.disconnect_all();
    }

    /// Stops serving.
    pub fn shutdown(&self) {
        self.cancel.cancel();
        self.disconnect_all();
    }
}

/// Accepts the exported login tokens announced to it when they fall due (`sim serve
/// --qr-auto-accept`); a token refreshed or expired meanwhile is left alone.
async fn auto_accept(
    shared: Arc<Shared>,
    mut due: tokio::sync::mpsc::UnboundedReceiver<(Vec<u8>, Instant, usize)>,
    cancel: CancellationToken,
) {
    loop {
        let (token, at, account) = tokio::select! {
            _ = cancel.cancelled() => return,
            next = due.recv() => match next {
                Some(next) => next,
                None => return,
            },
        };
        let shared = Arc::clone(&shared);
        let cancel = cancel.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = cancel.cancelled() => {}
                _ = tokio::time::sleep_until(at.into()) => {
                    if let Err(e) = shared.accept_login_token(Some(&token), account) {
                        tracing::info!(account, "sim: could not auto-accept a login token: {e}");
                    }
                }
            }
        });
    }
}
