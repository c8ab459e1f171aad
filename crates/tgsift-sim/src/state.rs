//! The simulator's mutable world: accounts, auth keys and who they are logged in as, channels with
//! their update events and members.
//!
//! Everything the API handlers read or change lives here, behind short locks. Channel histories are
//! generated on demand by [`SimChannel`], so a million-post channel costs no per-post memory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use super::crypto::ServerKey;
use super::discussion::SimDiscussion;
use super::events::EventLog;
use super::world::{ChannelSpec, SimChannel};

/// The account's common pts before it sends anything: only messages an account sends to its own Saved
/// Messages move it (nothing else in the simulated world touches private chats or groups).
pub(crate) const COMMON_PTS: i32 = 1;

/// Channels an account may be a member of at once, as on Telegram (premium accounts get 1,000).
pub const DEFAULT_MAX_CHANNELS: usize = 500;

/// A Telegram user account the simulator knows: its phone, login code and optional 2FA password.
#[derive(Clone, Debug)]
pub struct AccountSpec {
    /// Phone number in international form, e.g. `+15550100`.
    pub phone: String,
    /// The login code `auth.sendCode` "delivers".
    pub code: String,
    /// The 2FA password, when the account has one.
    pub password: Option<String>,
    /// User id.
    pub user_id: i64,
    /// User access hash.
    pub access_hash: i64,
    /// Display name.
    pub first_name: String,
    /// DC the account lives on; `auth.sendCode` elsewhere answers `PHONE_MIGRATE_X`.
    pub home_dc: i32,
    /// Telegram Premium: downloads are never throttled (see `Sim::set_download_limit`).
    pub premium: bool,
}

/// A login in progress on one auth key (between `auth.sendCode` and authorization).
#[derive(Clone, Debug)]
pub(crate) struct PendingLogin {
    pub account: usize,
    pub phone_code_hash: String,
    /// The code was right and only the 2FA password is missing.
    pub code_ok: bool,
    pub srp: Option<SrpChallenge>,
}

/// The SRP parameters handed out by `account.getPassword`, kept to verify `auth.checkPassword`.
#[derive(Clone, Debug)]
pub(crate) struct SrpChallenge {
    pub srp_id: i64,
    pub secure_random: Vec<u8>,
    /// The server's side of the exchange (its secret, `v`, and `B`).
    pub srp: super::srp::Srp,
}

/// One auth key and the user it is logged in as on each DC.
pub(crate) struct KeyState {
    pub key: ServerKey,
    pub logins: Logins,
    pub pending: Option<PendingLogin>,
    /// Revoked after two live connections used it at once (`AUTH_KEY_DUPLICATED`).
    pub revoked: bool,
    /// Its session was ended by the account's owner; the next call is told `SESSION_REVOKED`.
    pub ended: bool,
}

/// The account a key is logged in as, per DC. On Telegram every DC has keys of its own, so a login
/// holds on the DC it was made on and reaches another only through `auth.exportAuthorization` there
/// and `auth.importAuthorization` here; the simulator's clients use one key on every DC, so it is the
/// login that is kept per DC.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Logins([Option<usize>; 6]);

impl Logins {
    /// The account logged in on DC `dc`.
    pub(crate) fn on(&self, dc: i32) -> Option<usize> {
        usize::try_from(dc)
            .ok()
            .and_then(|i| self.0.get(i).copied().flatten())
    }

    /// Logs in as `account` on DC `dc` (`None`: logs out there); DCs that do not exist are ignored.
    pub(crate) fn set(&mut self, dc: i32, account: Option<usize>) {
        if let Some(slot) = usize::try_from(dc).ok().and_then(|i| self.0.get_mut(i)) {
            *slot = account;
        }
    }

    /// Whether `account` is logged in on some DC.
    pub(crate) fn has(&self, account: usize) -> bool {
        self.0.contains(&Some(account))
    }

    /// Logs out everywhere.
    pub(crate) fn clear(&mut self) {
        self.0 = [None; 6];
    }
}

/// Which accounts are members of a broadcast channel: every account but those that left (the
/// default), or only those listed (a fleet's share, `SimConfig::shares`). Either way the list stays
/// short, so ten thousand channels over a hundred accounts cost a few bytes each.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Members {
    /// Every account except these (indexes), which left.
    AllBut(Vec<usize>),
    /// Only these accounts (indexes).
    Only(Vec<usize>),
}

impl Members {
    /// Whether `account` is a member.
    pub(crate) fn contains(&self, account: usize) -> bool {
        match self {
            Members::AllBut(left) => !left.contains(&account),
            Members::Only(members) => members.contains(&account),
        }
    }

    /// Makes `account` a member; false when it was one already.
    pub(crate) fn join(&mut self, account: usize) -> bool {
        match self {
            Members::AllBut(left) => match left.iter().position(|&a| a == account) {
                Some(at) => {
                    left.remove(at);
                    true
                }
                None => false,
            },
            Members::Only(members) if members.contains(&account) => false,
            Members::Only(members) => {
                members.push(account);
                true
            }
        }
    }

    /// Makes `account` leave; false when it was not a member.
    pub(crate) fn leave(&mut self, account: usize) -> bool {
        match self {
            Members::AllBut(left) if left.contains(&account) => false,
            Members::AllBut(left) => {
                left.push(account);
                true
            }
            Members::Only(members) => match members.iter().position(|&a| a == account) {
                Some(at) => {
                    members.remove(at);
                    true
                }
                None => false,
            },
        }
    }
}

/// A channel with its update events, its members and the accounts banned from it.
pub(crate) struct ChannelEntry {
    /// The history.
    pub history: SimChannel,
    /// Channel pts and the newest events (for pushes and getChannelDifference).
    pub events: EventLog,
    /// The accounts that are members (get pushes, list it in their dialogs).
    pub members: Members,
    /// Accounts (indexes) that get `CHANNEL_PRIVATE` for this channel (and its discussion group).
    pub banned: Vec<usize>,
    /// The linked discussion group, if the channel has one.
    pub discussion: Option<GroupEntry>,
}

/// A channel's discussion group: its messages, its own pts and events, and its members.
pub(crate) struct GroupEntry {
    /// The copies of posts and their comments.
    pub thread: SimDiscussion,
    /// The group's pts and newest events.
    pub events: EventLog,
    /// Accounts (indexes) that joined the group; nobody is a member at first.
    pub members: Vec<usize>,
}

impl GroupEntry {
    /// The group's id.
    pub(crate) fn id(&self) -> i64 {
        self.thread.spec().group_id
    }

    /// Whether `account` joined the group (gets its pushes).
    pub(crate) fn is_member(&self, account: usize) -> bool {
        self.members.contains(&account)
    }
}

/// Which chat of a channel entry a request or event is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    /// The broadcast channel.
    Channel,
    /// Its discussion group.
    Group,
}

impl ChannelEntry {
    /// The channel's pts.
    pub(crate) fn pts(&self) -> i32 {
        self.events.pts()
    }

    /// Whether `account` is a member (gets pushes; sees `left: false` on the channel).
    pub(crate) fn is_member(&self, account: usize) -> bool {
        self.members.contains(account) && !self.banned.contains(&account)
    }
}

/// A message an account sent to its own Saved Messages (tgsift's Telegram alerts land there).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SavedMessage {
    /// Message id in the account's private message box.
    pub id: i32,
    /// Unix time it was sent.
    pub date: i32,
    /// Its text.
    pub text: String,
}

/// The world shared by every connection of one simulator.
pub(crate) struct World {
    pub(crate) accounts: Vec<AccountSpec>,
    pub(crate) keys: Mutex<HashMap<i64, KeyState>>,
    /// Per account, what it sent to itself; each message moved the account's common pts by one.
    pub(crate) saved: Mutex<HashMap<usize, Vec<SavedMessage>>>,
    pub(crate) channels: RwLock<Vec<Arc<RwLock<ChannelEntry>>>>,
    /// Accounts (indexes) Telegram froze or banned; absent = in good standing.
    pub(crate) standing: Mutex<HashMap<usize, Standing>>,
    /// Accounts whose home DC Telegram moved after login: calls elsewhere get `USER_MIGRATE_X`.
    pub(crate) moved: Mutex<HashMap<usize, i32>>,
    /// Authorizations exported for another DC (`auth.exportAuthorization`), by their bytes: the
    /// account and the DC they may be imported on.
    pub(crate) exported: Mutex<HashMap<Vec<u8>, (usize, i32)>>,
    /// Channels one account may be a member of (`CHANNELS_TOO_MUCH` past it).
    pub(crate) max_channels: std::sync::atomic::AtomicUsize,
}

/// What Telegram thinks of an account, beyond its keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    /// Frozen: every method but a few answers `420 FROZEN_METHOD_INVALID`.
    Frozen,
    /// Banned: every call answers `401 USER_DEACTIVATED_BAN`.
    Banned,
}

impl World {
    /// A world with these accounts and channels and no keys yet; each channel keeps its newest
    /// `event_log` update events. With `shares`, channel `i`'s only member is account `i mod
    /// accounts` (each account follows its share of a fleet's channels); otherwise every account is
    /// a member of every channel.
    pub(crate) fn new(
        accounts: Vec<AccountSpec>,
        channels: Vec<ChannelSpec>,
        event_log: usize,
        shares: bool,
    ) -> Self {
        let n_accounts = accounts.len().max(1);
        let channels = channels
            .into_iter()
            .enumerate()
            .map(|(i, spec)| {
                let history = SimChannel::new(spec);
                // As if each message so far had been one event.
                let events = EventLog::new(history.top_id().max(1), event_log);
                let discussion = SimDiscussion::new(&history).map(|thread| GroupEntry {
                    events: EventLog::new(thread.top_id().max(1), event_log),
                    thread,
                    members: Vec::new(),
                });
                Arc::new(RwLock::new(ChannelEntry {
                    history,
                    events,
                    members: if shares {
                        Members::Only(vec![i % n_accounts])
                    } else {
                        Members::AllBut(Vec::new())
                    },
                    banned: Vec::new(),
                    discussion,
                }))
            })
            .collect();
        World {
            accounts,
            keys: Mutex::new(HashMap::new()),
            saved: Mutex::new(HashMap::new()),
            channels: RwLock::new(channels),
            standing: Mutex::new(HashMap::new()),
            moved: Mutex::new(HashMap::new()),
            exported: Mutex::new(HashMap::new()),
            max_channels: std::sync::atomic::AtomicUsize::new(DEFAULT_MAX_CHANNELS),
        }
    }

    /// Stores a message `account` sent to its Saved Messages; returns it with the account's common pts
    /// after it (one per message, as for any message in the private box).
    pub(crate) fn send_to_self(
        &self,
        account: usize,
        text: String,
        date: i32,
    ) -> (SavedMessage, i32) {
        let mut saved = lock(&self.saved);
        let box_ = saved.entry(account).or_default();
        let msg = SavedMessage {
            id: box_.len() as i32 + 1,
            date,
            text,
        };
        box_.push(msg.clone());
        (msg, COMMON_PTS + box_.len() as i32)
    }

    /// The account's common pts: moved only by what it sent to itself.
    pub(crate) fn common_pts(&self, account: usize) -> i32 {
        COMMON_PTS
            + lock(&self.saved)
                .get(&account)
                .map_or(0, |v| v.len() as i32)
    }

    /// The account's Saved Messages after common pts `pts` (what `getDifference` from there lists).
    pub(crate) fn saved_after(&self, account: usize, pts: i32) -> Vec<SavedMessage> {
        let skip = (pts - COMMON_PTS).max(0) as usize;
        lock(&self.saved)
            .get(&account)
            .map(|v| v.iter().skip(skip).cloned().collect())
            .unwrap_or_default()
    }

    /// Registers a key, optionally already logged in as `(account, on DC)`; returns its id.
    pub(crate) fn add_key(&self, key: ServerKey, login: Option<(usize, i32)>) -> i64 {
        let id = key.id();
        let mut logins = Logins::default();
        if let Some((account, dc)) = login {
            logins.set(dc, Some(account));
        }
        lock(&self.keys).insert(
            id,
            KeyState {
                key,
                logins,
                pending: None,
                revoked: false,
                ended: false,
            },
        );
        id
    }

    pub(crate) fn key(&self, id: i64) -> Option<ServerKey> {
        lock(&self.keys).get(&id).map(|k| k.key.clone())
    }

    /// Whether the key was revoked for being used by two connections at once.
    pub(crate) fn is_revoked(&self, key_id: i64) -> bool {
        lock(&self.keys).get(&key_id).is_some_and(|k| k.revoked)
    }

    /// How many keys were revoked for being used by two connections at once.
    pub(crate) fn revoked_count(&self) -> usize {
        lock(&self.keys).values().filter(|k| k.revoked).count()
    }

    /// Revokes a key: it stays known (so its connections can be told) but nothing works with it.
    pub(crate) fn revoke(&self, key_id: i64) {
        if let Some(k) = lock(&self.keys).get_mut(&key_id) {
            k.revoked = true;
            k.logins.clear();
            k.pending = None;
        }
    }

    /// Sets how Telegram stands towards `account` (`None`: good standing again).
    pub(crate) fn set_standing(&self, account: usize, standing: Option<Standing>) {
        let mut all = lock(&self.standing);
        match standing {
            Some(s) => all.insert(account, s),
            None => all.remove(&account),
        };
    }

    /// The DC an account was moved to after login, if Telegram moved it.
    pub(crate) fn moved_to(&self, account: usize) -> Option<i32> {
        lock(&self.moved).get(&account).copied()
    }

    /// How many channels `account` is a member of.
    pub(crate) fn channels_joined(&self, account: usize) -> usize {
        self.channels()
            .iter()
            .filter(|c| read(c).members.contains(account))
            .count()
    }

    /// How Telegram stands towards `account` (`None`: in good standing).
    pub(crate) fn standing(&self, account: usize) -> Option<Standing> {
        lock(&self.standing).get(&account).copied()
    }

    /// Ends every session of `account` as its owner would from another device: its keys answer
    /// `SESSION_REVOKED` once, then `AUTH_KEY_UNREGISTERED`, as logged-out keys do.
    pub(crate) fn end_sessions(&self, account: usize) {
        for k in lock(&self.keys).values_mut() {
            if k.logins.has(account) {
                k.logins.clear();
                k.ended = true;
            }
        }
    }

    /// Whether the key's session was ended by its owner and has not said so yet (then it will not again).
    pub(crate) fn take_ended(&self, key_id: i64) -> bool {
        lock(&self.keys)
            .get_mut(&key_id)
            .is_some_and(|k| std::mem::take(&mut k.ended))
    }

    /// Revokes every key of `account` as Telegram does when one is used from two places.
    pub(crate) fn revoke_account_keys(&self, account: usize) {
        for k in lock(&self.keys).values_mut() {
            if k.logins.has(account) {
                k.revoked = true;
                k.logins.clear();
                k.pending = None;
            }
        }
    }

    /// The account a key is logged in as on DC `dc`.
    pub(crate) fn user_on(&self, key_id: i64, dc: i32) -> Option<usize> {
        lock(&self.keys).get(&key_id).and_then(|k| k.logins.on(dc))
    }

    pub(crate) fn with_key<R>(&self, key_id: i64, f: impl FnOnce(&mut KeyState) -> R) -> Option<R> {
        lock(&self.keys).get_mut(&key_id).map(f)
    }

    /// Every channel, in creation order.
    pub(crate) fn channels(&self) -> Vec<Arc<RwLock<ChannelEntry>>> {
        self.channels
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The channel or discussion group with this id, and which of the two it is.
    pub(crate) fn chat_by_id(&self, id: i64) -> Option<(Arc<RwLock<ChannelEntry>>, Side)> {
        self.channels().into_iter().find_map(|c| {
            let entry = read(&c);
            let side = if entry.history.spec().id == id {
                Side::Channel
            } else if entry.discussion.as_ref().is_some_and(|g| g.id() == id) {
                Side::Group
            } else {
                return None;
            };
            drop(entry);
            Some((c, side))
        })
    }

    /// The channel with this username (case-insensitive, as Telegram matches them).
    pub(crate) fn channel_by_username(&self, name: &str) -> Option<Arc<RwLock<ChannelEntry>>> {
        self.channels().into_iter().find(|c| {
            read(c)
                .history
                .spec()
                .username
                .as_deref()
                .is_some_and(|u| u.eq_ignore_ascii_case(name))
        })
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Read access to a channel, surviving a poisoned lock.
pub(crate) fn read(c: &RwLock<ChannelEntry>) -> std::sync::RwLockReadGuard<'_, ChannelEntry> {
    c.read().unwrap_or_else(|p| p.into_inner())
}

/// Write access to a channel, surviving a poisoned lock.
pub(crate) fn write(c: &RwLock<ChannelEntry>) -> std::sync::RwLockWriteGuard<'_, ChannelEntry> {
    c.write().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_login_holds_on_its_own_dc_only() {
        let world = World::new(vec![], vec![], 10, false);
        let key = world.add_key(ServerKey::generate(), Some((0, 2)));
        assert_eq!(world.user_on(key, 2), Some(0));
        assert_eq!(
            world.user_on(key, 4),
            None,
            "another DC has keys of its own"
        );
        world.with_key(key, |k| k.logins.set(4, Some(0)));
        assert_eq!(world.user_on(key, 4), Some(0), "imported there");
        assert_eq!(world.user_on(key, 9), None, "no such DC");
        world.end_sessions(0);
        assert_eq!((world.user_on(key, 2), world.user_on(key, 4)), (None, None));
        assert!(world.take_ended(key) && !world.take_ended(key));
    }
}
