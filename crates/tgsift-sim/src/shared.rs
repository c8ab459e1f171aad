//! The state of one simulated DC that listeners, connections and API handlers share, and the changes
//! the running world makes to channels (new posts, edits, deletions), each recorded as an update
//! event and pushed to the connected members that asked for updates (unless a silence or push
//! fault intervenes; what happened is tallied).

use std::sync::atomic::AtomicI32;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use tokio::sync::watch;

use super::chat::Chat;
use super::clock::ServerClock;
use super::events::EventKind;
use super::faults::{Faults, RandomSilence};
use super::flood::FloodModel;
use super::hub::{Hub, Push};
use super::log::RequestLog;
use super::silence::Silence;
use super::state::{ChannelEntry, Side, World, write};
use super::updates;

/// State shared by every listener and connection of one simulator.
pub(crate) struct Shared {
    /// Accounts, keys, channels.
    pub world: World,
    /// Flood buckets.
    pub flood: FloodModel,
    /// Fault plan.
    pub faults: Faults,
    /// Request log.
    pub log: RequestLog,
    /// Live connections and update subscriptions.
    pub hub: Hub,
    /// Server time and salts.
    pub clock: ServerClock,
    /// Push silences in force, and the tally of every silence.
    pub silence: Silence,
    /// The `timeout` of `channelDifferenceEmpty`, seconds.
    pub channel_timeout: AtomicI32,
    /// How long counters have grown, and whether their answers are stale.
    pub counts: super::counts::CountClock,
    /// Two live connections on one auth key with different sessions revoke the key.
    pub strict_keys: bool,
    /// Round trip added to every API call.
    pub latency: super::Latency,
    /// File references, the download throttle and what downloads did.
    pub files: super::files::Files,
    /// Login tokens of QR logins, and the auto-accept.
    pub login_tokens: super::qr::LoginTokens,
    /// Where each DC listens (what `help.getConfig` lists).
    pub dc_addrs: std::collections::BTreeMap<i32, std::net::SocketAddr>,
    /// Every account's chats besides channels, and how its dialog list is laid out.
    pub dialogs: super::api::dialogs::DialogsConfig,
    /// The simulator's seed (what generated dialogs are drawn from).
    pub seed: u64,
    /// Bumped to close every open connection at once.
    pub(crate) kill: watch::Sender<u64>,
    /// While set and in the future, listeners are closed (connections are refused).
    pub(crate) outage: watch::Sender<Option<Instant>>,
}

/// What to publish in a channel.
#[derive(Clone, Debug)]
pub(crate) enum Publish {
    /// A post with this text.
    Text(String),
    /// A post whose content is generated from (seed, id), like the initial ones.
    Generated,
}

/// What to change in an existing post.
#[derive(Clone, Debug)]
pub(crate) enum Rewrite {
    /// New text.
    Text(String),
    /// A newly generated text.
    Generated,
}

type Channel = Arc<RwLock<ChannelEntry>>;

impl Shared {
    /// The phone accepts a login token as `account`: the given one, or the newest exported one;
    /// the exporting connection is told with `updateLoginToken`.
    pub(crate) fn accept_login_token(
        &self,
        token: Option<&[u8]>,
        account: usize,
    ) -> Result<(), super::AcceptError> {
        if account >= self.world.accounts.len() {
            return Err(super::AcceptError::NoAccount);
        }
        let conn = match token {
            Some(t) => self.login_tokens.accept(t, account),
            None => self.login_tokens.accept_newest(account),
        }?;
        if !super::qr::tell_accepted(&self.hub, conn, self.now()) {
            tracing::debug!("sim: the connection that exported the accepted login token is gone");
        }
        Ok(())
    }

    /// The DC's clock, unix seconds (skewed with `--clock-skew`): the dates of pushes and update
    /// states, which a client can measure its own clock against. Message dates stay real time, so
    /// changing the skew while running does not make edits older than the edits before them.
    pub(crate) fn now(&self) -> i32 {
        self.clock.unix() as i32
    }

    /// The file references served now (server clock).
    pub(crate) fn stamp(&self) -> super::files::Stamp {
        self.files.stamp(self.clock.unix())
    }

    /// Publishes a post; returns its id (`None` when the id space is exhausted). A channel with a
    /// discussion group forwards it there too.
    pub(crate) fn publish(&self, ch: &Channel, what: Publish) -> Option<i32> {
        let now = unix_now();
        let mut entry = write(ch);
        let id = match what {
            Publish::Text(t) => entry.history.append(t, now),
            Publish::Generated => entry.history.publish(now),
        };
        if id == 0 {
            return None;
        }
        // The copy first, so the pushed post already names its comment section.
        let copy = entry
            .discussion
            .as_mut()
            .and_then(|g| g.thread.publish_copy(id, now));
        self.record(&mut entry, Side::Channel, EventKind::New(id), self.now());
        if let Some(copy) = copy {
            self.record(&mut entry, Side::Group, EventKind::New(copy), self.now());
        }
        Some(id)
    }

    /// Edits a post (sets its edit date); false when it is not an existing post. Its copy in the
    /// discussion group changes with it.
    pub(crate) fn edit(&self, ch: &Channel, id: i32, how: Rewrite) -> bool {
        let now = unix_now();
        let mut entry = write(ch);
        let edited = match how {
            Rewrite::Text(t) => entry.history.edit(id, t, now),
            Rewrite::Generated => entry.history.rewrite(id, now),
        };
        if edited {
            self.record(&mut entry, Side::Channel, EventKind::Edit(id), self.now());
            if let Some(copy) = copy_of(&entry, id) {
                self.record(&mut entry, Side::Group, EventKind::Edit(copy), self.now());
            }
        }
        edited
    }

    /// Deletes messages; returns how many existed. One event covers them all, as one
    /// `channels.deleteMessages` call does on Telegram; the copies of deleted posts leave the
    /// discussion group in one event too.
    pub(crate) fn delete(&self, ch: &Channel, ids: &[i32]) -> usize {
        let mut entry = write(ch);
        let copies: Vec<i32> = ids.iter().filter_map(|&id| copy_of(&entry, id)).collect();
        let gone: Vec<i32> = ids
            .iter()
            .copied()
            .filter(|&id| entry.history.delete(id))
            .collect();
        if !gone.is_empty() {
            self.record(
                &mut entry,
                Side::Channel,
                EventKind::Delete(gone.clone().into()),
                self.now(),
            );
        }
        if !copies.is_empty() {
            self.record(
                &mut entry,
                Side::Group,
                EventKind::Delete(copies.into()),
                self.now(),
            );
        }
        gone.len()
    }

    /// Writes a comment under `post` (see [`crate::Sim::add_comment`]); returns its group id.
    pub(crate) fn add_comment(
        &self,
        ch: &Channel,
        post: i32,
        reply_to: Option<i32>,
        text: Option<String>,
    ) -> Option<i32> {
        let now = unix_now();
        let mut entry = write(ch);
        let ChannelEntry {
            history,
            discussion,
            ..
        } = &mut *entry;
        let id = discussion
            .as_mut()?
            .thread
            .add_comment(history, post, reply_to, text, now)?;
        self.record_thread(&mut entry, post, EventKind::New(id));
        Some(id)
    }

    /// Edits a comment (given text, or a generated one); false when it is not an existing comment.
    pub(crate) fn edit_comment(&self, ch: &Channel, id: i32, text: Option<String>) -> bool {
        let now = unix_now();
        let mut entry = write(ch);
        let ChannelEntry {
            history,
            discussion,
            ..
        } = &mut *entry;
        let Some(post) = discussion
            .as_mut()
            .and_then(|g| g.thread.edit_comment(history, id, text, now))
        else {
            return false;
        };
        self.record_thread(&mut entry, post, EventKind::Edit(id));
        true
    }

    /// Deletes comments in one event; returns how many existed.
    pub(crate) fn delete_comments(&self, ch: &Channel, ids: &[i32]) -> usize {
        let mut entry = write(ch);
        let ChannelEntry {
            history,
            discussion,
            ..
        } = &mut *entry;
        let Some(g) = discussion.as_mut() else {
            return 0;
        };
        let gone: Vec<(i32, i32)> = ids
            .iter()
            .filter_map(|&id| Some((id, g.thread.delete_comment(history, id)?)))
            .collect();
        let Some(&(_, post)) = gone.first() else {
            return 0;
        };
        let ids: Vec<i32> = gone.iter().map(|&(id, _)| id).collect();
        self.record_thread(&mut entry, post, EventKind::Delete(ids.into()));
        // Every thread touched moves its replies_pts.
        if let Some(g) = entry.discussion.as_mut() {
            let pts = g.events.pts();
            for &(_, post) in &gone {
                g.thread.touch_thread(post, pts);
            }
        }
        gone.len()
    }

    /// Records a change to post `post`'s thread in the group, and notes the group's pts after it
    /// as the thread's `replies_pts`.
    fn record_thread(&self, entry: &mut ChannelEntry, post: i32, kind: EventKind) {
        self.record(entry, Side::Group, kind, self.now());
        if let Some(g) = entry.discussion.as_mut() {
            let pts = g.events.pts();
            g.thread.touch_thread(post, pts);
        }
    }

    /// Records an event of one chat of the entry and pushes it, with the channel still locked
    /// (pushes stay in pts order).
    fn record(&self, entry: &mut ChannelEntry, side: Side, kind: EventKind, now: i32) {
        let ev = match side {
            Side::Channel => entry.events.record(kind).clone(),
            Side::Group => match entry.discussion.as_mut() {
                Some(g) => g.events.record(kind).clone(),
                None => return,
            },
        };
        let Some(chat) = Chat::of(&*entry, side) else {
            return;
        };
        let chat_id = chat.id();
        // A new or edited post hidden from an account (a page fault) is not pushed to it.
        let post = match &ev.kind {
            EventKind::New(id) | EventKind::Edit(id) if chat.is_post(*id) => Some(*id),
            _ => None,
        };
        let hidden_from = |account: usize| {
            post.is_some_and(|id| {
                self.faults
                    .hider(Some(self.world.accounts[account].user_id))
                    .is_some_and(|h| h.hides(chat_id, id))
            })
        };
        let stamp = self.stamp();
        let pushed = self.hub.push(&Push {
            channel_id: chat_id,
            pts_before: ev.pts - ev.count,
            is_member: &|account| chat.is_member(account),
            hidden_from: &hidden_from,
            body: &|| updates::push_body(chat, &ev, now, &stamp),
            too_long: &|| updates::channel_too_long_body(chat, ev.pts - ev.count, now),
            with_unknown: &|| updates::push_body_with_unknown(chat, &ev, now, &stamp),
            unknown_update: &|| self.faults.silence(RandomSilence::UnknownUpdate),
            unpushed: self.silence.is_unpushed(chat_id),
            idle_stop: self.silence.idle_stop(),
        });
        self.silence.tally.add_pushes(&pushed);
    }
}

/// The group id of post `post`'s copy, if the channel has a discussion group and the post a
/// comment section.
fn copy_of(entry: &ChannelEntry, post: i32) -> Option<i32> {
    entry
        .discussion
        .as_ref()?
        .thread
        .copy_id(&entry.history, post)
}

/// Seconds since the epoch, as Telegram dates are.
pub(crate) fn unix_now() -> i32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i32)
        .unwrap_or(0)
}
