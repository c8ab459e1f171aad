//! [`ClientStateStore`](crate::ClientStateStore) on SQLite: the rules are the trait's (`crate::model::client_state`), the SQL is here.

use rusqlite::{OptionalExtension, params};

use crate::model::client_state::*;
use crate::{SqliteStore, StoreError, unix_now};

impl ClientStateStore for SqliteStore {
    fn save_client_state(
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
                "INSERT INTO pacer_state (account_id, method, rate, ceiling, updated_at, hold_until_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for (method, rate, ceiling, hold) in &state.pace {
                pace.execute(params![account_id, method, rate, ceiling, now, hold])?;
            }
            let mut win = tx.prepare("INSERT INTO flood_windows (account_id, method, until_ms) VALUES (?1, ?2, ?3)")?;
            for (method, until) in state.windows.iter().filter(|(_, until)| *until > now_ms) {
                win.execute(params![account_id, method, until])?;
            }
            // opened_at_ms: when the breaker opened, kept while it stays open or half-open (failures
            // not reset by a success), so "open for longer than N minutes" can be told.
            tx.execute(
                "INSERT INTO breaker_state (account_id, failures, open_until_ms, updated_at, opened_at_ms)
                 VALUES (?1, ?2, ?3, ?4, CASE WHEN ?3 > ?5 THEN ?5 END)
                 ON CONFLICT (account_id) DO UPDATE SET failures = excluded.failures,
                        open_until_ms = excluded.open_until_ms, updated_at = excluded.updated_at,
                        opened_at_ms = CASE
                            WHEN excluded.open_until_ms > ?5 THEN coalesce(breaker_state.opened_at_ms, ?5)
                            WHEN excluded.failures > 0 THEN breaker_state.opened_at_ms
                        END",
                params![account_id, state.breaker.0, state.breaker.1, now, now_ms],
            )?;
            tx.execute("DELETE FROM budget_calls WHERE account_id = ?1", [account_id])?;
            let mut calls = tx.prepare("INSERT OR IGNORE INTO budget_calls (account_id, method, at_ms) VALUES (?1, ?2, ?3)")?;
            for (method, at) in state.budget.iter().filter(|(_, at)| *at > now_ms - BUDGET_MEMORY_MS) {
                calls.execute(params![account_id, method, at])?;
            }
            let Activity { floods, retries } = state.activity;
            if floods > 0 || retries > 0 {
                tx.execute(
                    "INSERT INTO account_activity (account_id, day, floods, retries) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (account_id, day) DO UPDATE SET floods = floods + excluded.floods,
                            retries = retries + excluded.retries",
                    params![account_id, now - now.rem_euclid(86_400), floods as i64, retries as i64],
                )?;
            }
            Ok(())
        })
    }

    fn load_client_state(&self, account_id: i64) -> Result<ClientState, StoreError> {
        let now_ms = unix_now() * 1000;
        self.read("load the client state", |c| {
            let mut st = c.prepare(
                "SELECT method, rate, ceiling, hold_until_ms FROM pacer_state WHERE account_id = ?1 ORDER BY method",
            )?;
            let pace = st
                .query_map([account_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                .collect::<Result<_, _>>()?;
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
            let mut st = c.prepare(
                "SELECT method, at_ms FROM budget_calls WHERE account_id = ?1 AND at_ms > ?2 ORDER BY at_ms, method",
            )?;
            let budget =
                st.query_map(params![account_id, now_ms - BUDGET_MEMORY_MS], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<_, _>>()?;
            Ok(ClientState { pace, windows, breaker, activity: Activity::default(), budget })
        })
    }

    fn activity(
        &self,
        account_ids: Option<&[i64]>,
        from: i64,
        to: i64,
    ) -> Result<Vec<ActivityRow>, StoreError> {
        let ids = account_ids.map(|ids| serde_json::to_string(ids).unwrap_or_else(|_| "[]".into()));
        self.read("read floods and retries", |c| {
            let mut st = c.prepare_cached(
                "SELECT a.name, x.day, x.floods, x.retries FROM account_activity x JOIN accounts a ON a.id = x.account_id
                 WHERE x.day >= ?2 - 86399 AND x.day < ?3
                   AND (?1 IS NULL OR x.account_id IN (SELECT value FROM json_each(?1)))
                 ORDER BY x.day, a.name",
            )?;
            st.query_map(params![ids, from, to], |r| {
                Ok(ActivityRow {
                    account: r.get(0)?,
                    day: r.get(1)?,
                    counts: Activity { floods: r.get::<_, i64>(2)? as u64, retries: r.get::<_, i64>(3)? as u64 },
                })
            })?
            .collect()
        })
    }
}
