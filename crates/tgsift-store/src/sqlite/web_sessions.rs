//! [`WebSessionStore`](crate::WebSessionStore) on SQLite: the rules are the trait's (`crate::model::web_sessions`), the SQL is here.

use rusqlite::{OptionalExtension, params};

use crate::model::web_sessions::*;
use crate::{SqliteStore, StoreError};

impl WebSessionStore for SqliteStore {
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
