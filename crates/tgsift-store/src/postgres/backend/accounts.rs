//! [`AccountStore`] on PostgreSQL. Sessions live in the database, so an account has no session file:
//! its `session_path` reads back empty.

use std::path::{Path, PathBuf};

use tokio_postgres::Row;

use super::PgBackend;
use crate::model::accounts::stopped_reason;
use crate::{
    AccountRow, AccountState, AccountStore, ClientIdentity, StoreError, StoredSession, unix_now,
};

const COLUMNS: &str = "id, name, phone, user_id, created_at, disabled_reason, state, identity";

fn row(r: &Row) -> AccountRow {
    AccountRow {
        id: r.get(0),
        name: r.get(1),
        phone: r.get(2),
        user_id: r.get(3),
        session_path: PathBuf::new(),
        created_at: r.get(4),
        disabled_reason: r.get(5),
        state: AccountState::parse(r.get(6)),
        identity: ClientIdentity::from_json(r.get(7)),
    }
}

impl AccountStore for PgBackend {
    fn add_account(
        &mut self,
        name: &str,
        phone: Option<&str>,
        user_id: Option<i64>,
        _session_path: &Path,
    ) -> Result<AccountRow, StoreError> {
        self.tx(&format!("add account {name}"), async |tx| {
            let r = tx
                .query_one(
                    &format!(
                        "INSERT INTO accounts (name, phone, user_id, created_at) VALUES ($1, $2, $3, $4)
                         RETURNING {COLUMNS}"
                    ),
                    &[&name, &phone, &user_id, &unix_now()],
                )
                .await?;
            let account = row(&r);
            tx.execute(
                "INSERT INTO account_leases (account_id) VALUES ($1) ON CONFLICT DO NOTHING",
                &[&account.id],
            )
            .await?;
            Ok(account)
        })
    }

    fn account(&self, name: &str) -> Result<Option<AccountRow>, StoreError> {
        self.tx(&format!("read account {name}"), async |tx| {
            let r = tx
                .query_opt(
                    &format!("SELECT {COLUMNS} FROM accounts WHERE name = $1"),
                    &[&name],
                )
                .await?;
            Ok(r.as_ref().map(row))
        })
    }

    fn accounts(&self) -> Result<Vec<AccountRow>, StoreError> {
        self.tx("list accounts", async |tx| {
            let rows = tx
                .query(
                    &format!("SELECT {COLUMNS} FROM accounts ORDER BY name"),
                    &[],
                )
                .await?;
            Ok(rows.iter().map(row).collect())
        })
    }

    fn set_account_state(
        &mut self,
        account_id: i64,
        state: AccountState,
        reason: Option<&str>,
    ) -> Result<(), StoreError> {
        let reason = stopped_reason(state, reason);
        self.tx("record the account's state", async |tx| {
            self.fence_account(tx, account_id).await?;
            tx.execute(
                "UPDATE accounts SET state = $2, disabled_reason = $3 WHERE id = $1",
                &[&account_id, &state.as_str(), &reason],
            )
            .await?;
            Ok(())
        })
    }

    fn set_account_identity(
        &mut self,
        account_id: i64,
        identity: &ClientIdentity,
    ) -> Result<(), StoreError> {
        let json = identity.to_json();
        self.tx("fix the account's client identity", async |tx| {
            tx.execute(
                "UPDATE accounts SET identity = $2 WHERE id = $1",
                &[&account_id, &json],
            )
            .await?;
            Ok(())
        })
    }

    fn set_account_user(
        &mut self,
        name: &str,
        user_id: i64,
        phone: Option<&str>,
    ) -> Result<(), StoreError> {
        self.tx(&format!("update account {name}"), async |tx| {
            tx.execute(
                "UPDATE accounts SET user_id = $2, phone = coalesce($3, phone), state = 'active',
                     disabled_reason = NULL
                 WHERE name = $1",
                &[&name, &user_id, &phone],
            )
            .await?;
            Ok(())
        })
    }

    fn account_channel_count(&self, account_id: i64) -> Result<i64, StoreError> {
        self.tx("count channels", async |tx| {
            Ok(tx
                .query_one(
                    "SELECT count(*) FROM channels WHERE account_id = $1",
                    &[&account_id],
                )
                .await?
                .get(0))
        })
    }

    fn remove_account(&mut self, name: &str) -> Result<bool, StoreError> {
        self.tx(&format!("remove account {name}"), async |tx| {
            Ok(tx
                .execute("DELETE FROM accounts WHERE name = $1", &[&name])
                .await?
                > 0)
        })
    }

    fn stored_sessions(&self) -> Result<Option<Vec<StoredSession>>, StoreError> {
        self.tx("read the accounts' sessions", async |tx| {
            let rows = tx
                .query(
                    "SELECT a.id, s.account_id IS NOT NULL,
                            EXISTS (SELECT 1 FROM session_peers p WHERE p.account_id = a.id AND p.is_self),
                            CASE WHEN l.owner IS NOT NULL AND l.expires_at > now() THEN
                                format('worker #%s (%s pid %s), %s s left', w.id, w.host, w.pid,
                                       ceil(extract(epoch FROM l.expires_at - now()))::bigint)
                            END,
                            CASE WHEN l.expires_at > now() THEN l.owner END
                     FROM accounts a
                     LEFT JOIN sessions s ON s.account_id = a.id
                     LEFT JOIN account_leases l ON l.account_id = a.id
                     LEFT JOIN workers w ON w.id = l.owner
                     ORDER BY a.id",
                    &[],
                )
                .await?;
            Ok(Some(
                rows.iter()
                    .map(|r| StoredSession {
                        account_id: r.get(0),
                        has_session: r.get(1),
                        knows_user: r.get(2),
                        lease: r.get(3),
                        holder: r.get(4),
                    })
                    .collect(),
            ))
        })
    }
}
