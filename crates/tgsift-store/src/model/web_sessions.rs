//! The dashboard's signed-in browser sessions (see `http::session`): kept in the database so a restart
//! of the service does not sign everyone out, and any `run` on the database knows them.

use crate::StoreError;

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
