//! [`WebSessionStore`] on PostgreSQL: the dashboard's sign-in sessions, by the digest of their id,
//! bounded in number as in the SQLite store (`src/store/web_sessions.rs`).

use super::PgBackend;
use crate::{StoreError, WebSessionStore};

impl WebSessionStore for PgBackend {
    fn create_web_session(
        &mut self,
        digest: &[u8],
        now: i64,
        expires_at: i64,
        max_live: usize,
    ) -> Result<(), StoreError> {
        let keep = i64::try_from(max_live.saturating_sub(1)).unwrap_or(i64::MAX);
        self.tx("record a dashboard session", async |tx| {
            tx.execute("DELETE FROM web_sessions WHERE expires_at <= $1", &[&now])
                .await?;
            tx.execute(
                "DELETE FROM web_sessions WHERE digest IN
                   (SELECT digest FROM web_sessions ORDER BY expires_at DESC OFFSET $1)",
                &[&keep],
            )
            .await?;
            tx.execute(
                "INSERT INTO web_sessions (digest, created_at, expires_at) VALUES ($1, $2, $3)
                 ON CONFLICT (digest) DO UPDATE SET created_at = excluded.created_at,
                                                    expires_at = excluded.expires_at",
                &[&digest, &now, &expires_at],
            )
            .await?;
            Ok(())
        })
    }

    fn web_session_valid(&self, digest: &[u8], now: i64) -> Result<bool, StoreError> {
        self.tx("look up a dashboard session", async |tx| {
            Ok(tx
                .query_opt(
                    "SELECT 1 FROM web_sessions WHERE digest = $1 AND expires_at > $2",
                    &[&digest, &now],
                )
                .await?
                .is_some())
        })
    }

    fn remove_web_session(&mut self, digest: &[u8]) -> Result<(), StoreError> {
        self.tx("end a dashboard session", async |tx| {
            tx.execute("DELETE FROM web_sessions WHERE digest = $1", &[&digest])
                .await?;
            Ok(())
        })
    }
}
