//! The dashboard's signed-in browser sessions (see `http::session`): kept in the database so a restart
//! of the service does not sign everyone out, and any `run` on the database knows them.

use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError};

/// The dashboard's sign-in sessions.
pub trait WebSessionStore {
    /// Records a session (by the digest of its id) until `expires_at`, dropping expired ones and, past
    /// `max_live` sessions, the oldest, so sign-ins cannot grow the table without bound.
    fn create_web_session(
        &mut self,
        digest: &[u8],
        now: i64,
        expires_at: i64,
        max_live: usize,
    ) -> Result<(), StoreError>;

    /// Whether the session with this digest exists and has not expired at `now`.
    fn web_session_valid(&self, digest: &[u8], now: i64) -> Result<bool, StoreError>;

    /// Ends a session (signing out); unknown digests are ignored.
    fn remove_web_session(&mut self, digest: &[u8]) -> Result<(), StoreError>;
}

impl WebSessionStore for Store {
    fn create_web_session(
        &mut self,
        digest: &[u8],
        now: i64,
        expires_at: i64,
        max_live: usize,
    ) -> Result<(), StoreError> {
        let keep = i64::try_from(max_live.saturating_sub(1)).unwrap_or(i64::MAX);
        self.write("record a dashboard session", |tx| {
            tx.execute("DELETE FROM web_sessions WHERE expires_at <= ?1", [now])?;
            tx.execute(
                "DELETE FROM web_sessions WHERE digest IN
                   (SELECT digest FROM web_sessions ORDER BY expires_at DESC LIMIT -1 OFFSET ?1)",
                [keep],
            )?;
            tx.execute(
                "INSERT OR REPLACE INTO web_sessions (digest, created_at, expires_at) VALUES (?1, ?2, ?3)",
                params![digest, now, expires_at],
            )?;
            Ok(())
        })
    }

    fn web_session_valid(&self, digest: &[u8], now: i64) -> Result<bool, StoreError> {
        self.read("look up a dashboard session", |c| {
            c.prepare_cached("SELECT 1 FROM web_sessions WHERE digest = ?1 AND expires_at > ?2")?
                .query_row(params![digest, now], |_| Ok(()))
                .optional()
                .map(|r| r.is_some())
        })
    }

    fn remove_web_session(&mut self, digest: &[u8]) -> Result<(), StoreError> {
        self.write("end a dashboard session", |tx| {
            tx.execute("DELETE FROM web_sessions WHERE digest = ?1", [digest])
                .map(|_| ())
        })
    }
}
