//! What an account's client layer learned (pacer rates, open FLOOD_WAIT windows), kept across restarts.

use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError, unix_now};

/// The persisted client-layer state of one account.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClientState {
    /// Learned rates: (method, requests per second, rate at the last flood).
    pub pace: Vec<(String, f64, Option<f64>)>,
    /// Open flood windows: (method, unix milliseconds they end).
    pub windows: Vec<(String, i64)>,
    /// Circuit breaker: consecutive connection failures and, when open, unix milliseconds it closes.
    pub breaker: (u32, Option<i64>),
}

impl Store {
    /// Replaces the stored state of `account_id` (windows already closed are dropped).
    pub fn save_client_state(
        &mut self,
        account_id: i64,
        state: &ClientState,
    ) -> Result<(), StoreError> {
        let now = unix_now();
        let now_ms = now * 1000;
        self.write("save the client state", |tx| {
            tx.execute("DELETE FROM pacer_state WHERE account_id = ?1", [account_id])?;
            tx.execute("DELETE FROM flood_windows WHERE account_id = ?1", [account_id])?;
            let mut pace = tx.prepare(
                "INSERT INTO pacer_state (account_id, method, rate, ceiling, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for (method, rate, ceiling) in &state.pace {
                pace.execute(params![account_id, method, rate, ceiling, now])?;
            }
            let mut win = tx.prepare("INSERT INTO flood_windows (account_id, method, until_ms) VALUES (?1, ?2, ?3)")?;
            for (method, until) in state.windows.iter().filter(|(_, until)| *until > now_ms) {
                win.execute(params![account_id, method, until])?;
            }
            tx.execute(
                "INSERT INTO breaker_state (account_id, failures, open_until_ms, updated_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (account_id) DO UPDATE SET failures = excluded.failures,
                        open_until_ms = excluded.open_until_ms, updated_at = excluded.updated_at",
                params![account_id, state.breaker.0, state.breaker.1, now],
            )?;
            Ok(())
        })
    }

    /// The stored state of `account_id` (windows that have closed are left out).
    pub fn load_client_state(&self, account_id: i64) -> Result<ClientState, StoreError> {
        let now_ms = unix_now() * 1000;
        self.read("load the client state", |c| {
            let mut st = c.prepare("SELECT method, rate, ceiling FROM pacer_state WHERE account_id = ?1 ORDER BY method")?;
            let pace = st.query_map([account_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?.collect::<Result<_, _>>()?;
            let mut st =
                c.prepare("SELECT method, until_ms FROM flood_windows WHERE account_id = ?1 AND until_ms > ?2 ORDER BY method")?;
            let windows = st.query_map(params![account_id, now_ms], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<_, _>>()?;
            let breaker = c
                .query_row(
                    "SELECT failures, open_until_ms FROM breaker_state WHERE account_id = ?1",
                    [account_id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?
                .unwrap_or((0, None));
            Ok(ClientState { pace, windows, breaker })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_state_round_trips_and_drops_closed_windows() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut s = Store::open(&dir.path().join("t.db")).expect("open");
        let a = s
            .add_account("a", None, None, std::path::Path::new("a.session"))
            .expect("account");
        let now = unix_now() * 1000;
        let state = ClientState {
            pace: vec![("messages.getHistory".into(), 12.5, Some(25.0))],
            windows: vec![
                ("contacts.resolveUsername".into(), now + 3_600_000),
                ("messages.getHistory".into(), now - 5),
            ],
            breaker: (3, Some(now + 10_000)),
        };
        s.save_client_state(a.id, &state).expect("save");
        let back = s.load_client_state(a.id).expect("load");
        assert_eq!(back.pace, state.pace);
        assert_eq!(back.breaker, (3, Some(now + 10_000)));
        assert_eq!(
            back.windows,
            vec![("contacts.resolveUsername".to_string(), now + 3_600_000)]
        );
        s.save_client_state(a.id, &ClientState::default())
            .expect("replace");
        assert_eq!(
            s.load_client_state(a.id).expect("load"),
            ClientState::default()
        );
    }
}
