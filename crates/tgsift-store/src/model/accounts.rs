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
    /// Why the service stopped serving it (logged out, revoked); `None` while it is usable.
    pub disabled_reason: Option<String>,
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

    /// Stops (with a reason) or resumes serving an account: a session Telegram no longer accepts is not
    /// retried in a loop; a good login or `account check` resumes it.
    fn set_account_disabled(
        &mut self,
        account_id: i64,
        reason: Option<&str>,
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
