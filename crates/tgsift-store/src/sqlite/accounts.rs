//! [`AccountStore`](crate::AccountStore) on SQLite: the rules are the trait's (`crate::model::accounts`), the SQL is here.

use std::path::PathBuf;

use rusqlite::{OptionalExtension, Row, params};

use crate::model::accounts::*;
use crate::{SqliteStore, StoreError, unix_now};

const COLUMNS: &str =
    "id, name, phone, user_id, session_path, created_at, disabled_reason, state, identity";

fn row(r: &Row<'_>) -> rusqlite::Result<AccountRow> {
    Ok(AccountRow {
        id: r.get(0)?,
        name: r.get(1)?,
        phone: r.get(2)?,
        user_id: r.get(3)?,
        session_path: PathBuf::from(r.get::<_, String>(4)?),
        created_at: r.get(5)?,
        disabled_reason: r.get(6)?,
        state: AccountState::parse(&r.get::<_, String>(7)?),
        identity: ClientIdentity::from_json(r.get::<_, Option<String>>(8)?.as_deref()),
    })
}

impl AccountStore for SqliteStore {
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

    fn set_account_state(
        &mut self,
        account_id: i64,
        state: AccountState,
        reason: Option<&str>,
    ) -> Result<(), StoreError> {
        let reason = stopped_reason(state, reason);
        self.write("record the account's state", |tx| {
            tx.execute(
                "UPDATE accounts SET state = ?2, disabled_reason = ?3 WHERE id = ?1",
                params![account_id, state.as_str(), reason],
            )
            .map(|_| ())
        })
    }

    fn set_account_identity(
        &mut self,
        account_id: i64,
        identity: &ClientIdentity,
    ) -> Result<(), StoreError> {
        let json = identity.to_json();
        self.write("fix the account's client identity", |tx| {
            tx.execute(
                "UPDATE accounts SET identity = ?2 WHERE id = ?1",
                params![account_id, json],
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
                "UPDATE accounts SET user_id = ?2, phone = coalesce(?3, phone), state = 'active', disabled_reason = NULL WHERE name = ?1",
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
