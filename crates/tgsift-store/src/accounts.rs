//! Accounts: which Telegram logins tgsift knows and where their session files are.

use std::path::PathBuf;

use rusqlite::{OptionalExtension, Row, params};

use super::{Store, StoreError, unix_now};

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

const COLUMNS: &str = "id, name, phone, user_id, session_path, created_at, disabled_reason";

fn row(r: &Row<'_>) -> rusqlite::Result<AccountRow> {
    Ok(AccountRow {
        id: r.get(0)?,
        name: r.get(1)?,
        phone: r.get(2)?,
        user_id: r.get(3)?,
        session_path: PathBuf::from(r.get::<_, String>(4)?),
        created_at: r.get(5)?,
        disabled_reason: r.get(6)?,
    })
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

impl AccountStore for Store {
    fn add_account(
        &mut self,
        name: &str,
        phone: Option<&str>,
        user_id: Option<i64>,
        session_path: &std::path::Path,
    ) -> Result<AccountRow, StoreError> {
        let path = session_path.display().to_string();
        self.write(&format!("add account {name}"), |tx| {
            tx.execute(
                "INSERT INTO accounts (name, phone, user_id, session_path, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![name, phone, user_id, path, unix_now()],
            )?;
            tx.query_row(&format!("SELECT {COLUMNS} FROM accounts WHERE name = ?1"), [name], row)
        })
    }

    fn account(&self, name: &str) -> Result<Option<AccountRow>, StoreError> {
        self.read(&format!("read account {name}"), |c| {
            c.query_row(
                &format!("SELECT {COLUMNS} FROM accounts WHERE name = ?1"),
                [name],
                row,
            )
            .optional()
        })
    }

    fn accounts(&self) -> Result<Vec<AccountRow>, StoreError> {
        self.read("list accounts", |c| {
            let mut st = c.prepare(&format!("SELECT {COLUMNS} FROM accounts ORDER BY name"))?;
            st.query_map([], row)?.collect()
        })
    }

    fn set_account_disabled(
        &mut self,
        account_id: i64,
        reason: Option<&str>,
    ) -> Result<(), StoreError> {
        self.write("record the account's state", |tx| {
            tx.execute(
                "UPDATE accounts SET disabled_reason = ?2 WHERE id = ?1",
                params![account_id, reason],
            )
            .map(|_| ())
        })
    }

    fn set_account_user(
        &mut self,
        name: &str,
        user_id: i64,
        phone: Option<&str>,
    ) -> Result<(), StoreError> {
        self.write(&format!("update account {name}"), |tx| {
            tx.execute(
                "UPDATE accounts SET user_id = ?2, phone = coalesce(?3, phone), disabled_reason = NULL WHERE name = ?1",
                params![name, user_id, phone],
            )
            .map(|_| ())
        })
    }

    fn account_channel_count(&self, account_id: i64) -> Result<i64, StoreError> {
        self.read("count channels", |c| {
            c.query_row(
                "SELECT count(*) FROM channels WHERE account_id = ?1",
                [account_id],
                |r| r.get(0),
            )
        })
    }

    fn remove_account(&mut self, name: &str) -> Result<bool, StoreError> {
        self.write(&format!("remove account {name}"), |tx| {
            tx.execute("DELETE FROM accounts WHERE name = ?1", [name])
                .map(|n| n > 0)
        })
    }
}
