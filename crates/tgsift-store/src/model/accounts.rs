//! Accounts: which Telegram logins tgsift knows and where their session files are.

use std::path::PathBuf;

use crate::StoreError;

/// One account row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountRow {
    /// Row id.
    pub id: i64,
    /// The operator's name for it (unique).
    pub name: String,
    /// Phone number, when known.
    pub phone: Option<String>,
    /// Telegram user id, once logged in.
    pub user_id: Option<i64>,
    /// Its session file.
    pub session_path: PathBuf,
    /// When it was added (unix seconds).
    pub created_at: i64,
    /// Whether the service may use it, and if not, why not in Telegram's terms.
    pub state: AccountState,
    /// Why the service stopped serving it (the error Telegram answered); `None` while it is usable.
    pub disabled_reason: Option<String>,
    /// The client it presents to Telegram, fixed when it was added; `None` for an account added
    /// before identities were kept (fixed at its next connection).
    pub identity: Option<ClientIdentity>,
}

/// What an account's connections tell Telegram about the client (`initConnection`): the same values
/// from every command, service and worker, so one session never looks like several devices.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ClientIdentity {
    /// `device_model`.
    pub device_model: String,
    /// `system_version`.
    pub system_version: String,
    /// `app_version`.
    pub app_version: String,
    /// `lang_code`.
    pub lang_code: String,
    /// `system_lang_code`.
    pub system_lang_code: String,
    /// The account's own SOCKS5 proxy (`socks5://user:pass@host:port`), over `telegram.proxy`: the
    /// address Telegram sees is part of the client's face.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<String>,
}

impl ClientIdentity {
    /// The identity as stored (JSON).
    pub(crate) fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// A stored identity; `None` when absent or unreadable (it is then fixed again).
    pub(crate) fn from_json(text: Option<&str>) -> Option<ClientIdentity> {
        serde_json::from_str(text?).ok()
    }
}

/// Whether an account may be used: an account Telegram refuses is stopped until an admin acts, never
/// retried in a loop (each kind needs a different act, so each has its own state).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum AccountState {
    /// Usable.
    #[default]
    Active,
    /// Not logged in: the session was ended or never completed (`AUTH_KEY_UNREGISTERED`,
    /// `SESSION_REVOKED`): log in again.
    LoggedOut,
    /// The auth key was revoked because it was used from two places at once
    /// (`AUTH_KEY_DUPLICATED`): log in again, and never run one session twice.
    KeyRevoked,
    /// Telegram froze the account (`FROZEN_METHOD_INVALID`, `FROZEN_PARTICIPANT_MISSING`): it can
    /// read nothing until an appeal succeeds.
    Frozen,
    /// Telegram banned the account or its phone (`USER_DEACTIVATED_BAN`, `PHONE_NUMBER_BANNED`).
    Banned,
}

impl AccountState {
    /// Every state, for listings and parsing.
    pub const ALL: [AccountState; 5] = [
        AccountState::Active,
        AccountState::LoggedOut,
        AccountState::KeyRevoked,
        AccountState::Frozen,
        AccountState::Banned,
    ];

    /// The name stored in the database and shown to users (`logged_out`, `frozen`…).
    pub fn as_str(self) -> &'static str {
        match self {
            AccountState::Active => "active",
            AccountState::LoggedOut => "logged_out",
            AccountState::KeyRevoked => "key_revoked",
            AccountState::Frozen => "frozen",
            AccountState::Banned => "banned",
        }
    }

    /// The state a stored name stands for; an unknown name reads as `logged_out` (stopped, and a
    /// new login clears it).
    pub fn parse(name: &str) -> AccountState {
        AccountState::ALL
            .into_iter()
            .find(|s| s.as_str() == name)
            .unwrap_or(AccountState::LoggedOut)
    }
}

impl std::fmt::Display for AccountState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An account's session and lease as a database that holds sessions (PostgreSQL) knows them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredSession {
    /// The account's row id.
    pub account_id: i64,
    /// Whether the database holds a session for it.
    pub has_session: bool,
    /// Whether the session says whose it is (a login does; an imported string may not).
    pub knows_user: bool,
    /// The worker serving the account while its lease runs, e.g. `worker #3 (host pid 42), 12 s left`.
    pub lease: Option<String>,
    /// The id of that worker while its lease runs, so `status` headlines a worker that serves.
    pub holder: Option<i64>,
}

/// The reason stored with `state`: none while active; a stopped account always has one, so
/// `disabled_reason IS NULL` keeps meaning "usable" to every query that filters on it.
pub(crate) fn stopped_reason(state: AccountState, reason: Option<&str>) -> Option<&str> {
    match state {
        AccountState::Active => None,
        _ => Some(reason.unwrap_or_else(|| state.as_str())),
    }
}

/// Accounts: adding, finding, disabling and removing the Telegram logins tgsift knows.
pub trait AccountStore {
    /// Records a new account; fails if the name is taken.
    fn add_account(
        &mut self,
        name: &str,
        phone: Option<&str>,
        user_id: Option<i64>,
        session_path: &std::path::Path,
    ) -> Result<AccountRow, StoreError>;

    /// The account with this name.
    fn account(&self, name: &str) -> Result<Option<AccountRow>, StoreError>;

    /// Every account, by name.
    fn accounts(&self) -> Result<Vec<AccountRow>, StoreError>;

    /// Stops serving an account in `state` (with Telegram's reason), or resumes it with
    /// [`AccountState::Active`] (the reason is then dropped): an account Telegram refuses is not
    /// retried in a loop; a good login, `account check` or `account resume` resumes it.
    fn set_account_state(
        &mut self,
        account_id: i64,
        state: AccountState,
        reason: Option<&str>,
    ) -> Result<(), StoreError>;

    /// Fixes the client identity the account presents from now on.
    fn set_account_identity(
        &mut self,
        account_id: i64,
        identity: &ClientIdentity,
    ) -> Result<(), StoreError>;

    /// Records the user id learned after login, import or a good check (which also resumes the account).
    fn set_account_user(
        &mut self,
        name: &str,
        user_id: i64,
        phone: Option<&str>,
    ) -> Result<(), StoreError>;

    /// How many channels the account follows (removal refuses to drop their posts silently).
    fn account_channel_count(&self, account_id: i64) -> Result<i64, StoreError>;

    /// Deletes the account (and, by cascade, its channels and their posts); false if it did not exist.
    fn remove_account(&mut self, name: &str) -> Result<bool, StoreError>;

    /// Every account's session and lease, when the database holds sessions; `None` when sessions are
    /// files beside it (SQLite), which callers then read themselves.
    fn stored_sessions(&self) -> Result<Option<Vec<StoredSession>>, StoreError> {
        Ok(None)
    }
}
