//! The simulator's mutable world: accounts, auth keys and who they are logged in as, channels.
//!
//! Everything the API handlers read or change lives here, behind short locks. Channel histories are
//! generated on demand by [`SimChannel`], so a million-post channel costs no per-post memory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use super::crypto::ServerKey;
use super::world::{ChannelSpec, SimChannel};

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
    pub srp_b: Vec<u8>,
}

/// One auth key and the user it is logged in as.
pub(crate) struct KeyState {
    pub key: ServerKey,
    pub user: Option<usize>,
    pub pending: Option<PendingLogin>,
}

/// A channel with its update counter and the accounts that are banned from it.
pub struct ChannelEntry {
    /// The history.
    pub history: SimChannel,
    /// Channel pts: bumped by every new post, edit and deletion (for getChannelDifference).
    pub pts: i32,
    /// Accounts (indexes) that get `CHANNEL_PRIVATE` for this channel.
    pub banned: Vec<usize>,
}

/// The world shared by every connection of one simulator.
pub struct World {
    pub(crate) accounts: Vec<AccountSpec>,
    pub(crate) keys: Mutex<HashMap<i64, KeyState>>,
    pub(crate) channels: RwLock<Vec<Arc<RwLock<ChannelEntry>>>>,
    /// The salt the server hands out (any salt is accepted).
    pub(crate) salt: i64,
}

impl World {
    /// A world with these accounts and channels and no keys yet.
    pub fn new(accounts: Vec<AccountSpec>, channels: Vec<ChannelSpec>, salt: i64) -> Self {
        let channels = channels
            .into_iter()
            .map(|spec| {
                let history = SimChannel::new(spec);
                let pts = history.top_id();
                Arc::new(RwLock::new(ChannelEntry {
                    history,
                    pts,
                    banned: Vec::new(),
                }))
            })
            .collect();
        World {
            accounts,
            keys: Mutex::new(HashMap::new()),
            channels: RwLock::new(channels),
            salt,
        }
    }

    /// Registers a key, optionally already logged in as `account`; returns its id.
    pub(crate) fn add_key(&self, key: ServerKey, account: Option<usize>) -> i64 {
        let id = key.id();
        lock(&self.keys).insert(
            id,
            KeyState {
                key,
                user: account,
                pending: None,
            },
        );
        id
    }

    pub(crate) fn key(&self, id: i64) -> Option<ServerKey> {
        lock(&self.keys).get(&id).map(|k| k.key.clone())
    }

    /// The account a key is logged in as.
    pub(crate) fn user_of(&self, key_id: i64) -> Option<usize> {
        lock(&self.keys).get(&key_id).and_then(|k| k.user)
    }

    pub(crate) fn with_key<R>(&self, key_id: i64, f: impl FnOnce(&mut KeyState) -> R) -> Option<R> {
        lock(&self.keys).get_mut(&key_id).map(f)
    }

    /// Every channel, in creation order.
    pub fn channels(&self) -> Vec<Arc<RwLock<ChannelEntry>>> {
        self.channels
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The channel with this id.
    pub fn channel_by_id(&self, id: i64) -> Option<Arc<RwLock<ChannelEntry>>> {
        self.channels()
            .into_iter()
            .find(|c| read(c).history.spec().id == id)
    }

    /// The channel with this username (case-insensitive, as Telegram matches them).
    pub fn channel_by_username(&self, name: &str) -> Option<Arc<RwLock<ChannelEntry>>> {
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
pub fn read(c: &RwLock<ChannelEntry>) -> std::sync::RwLockReadGuard<'_, ChannelEntry> {
    c.read().unwrap_or_else(|p| p.into_inner())
}

/// Write access to a channel, surviving a poisoned lock.
pub fn write(c: &RwLock<ChannelEntry>) -> std::sync::RwLockWriteGuard<'_, ChannelEntry> {
    c.write().unwrap_or_else(|p| p.into_inner())
}
