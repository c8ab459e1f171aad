//! [`ClientStateStore`] on PostgreSQL: what an account's client layer learned, shared by whichever
//! worker serves the account next.

use super::PgBackend;
use crate::model::client_state::BUDGET_MEMORY_MS;
use crate::{Activity, ActivityRow, ClientState, ClientStateStore, StoreError, unix_now};

impl ClientStateStore for PgBackend {
    fn save_client_state(
        &mut self,
        account_id: i64,
        state: &ClientState,
    ) -> Result<(), StoreError> {
        let now = unix_now();
        let now_ms = now * 1000;
        self.tx("save the client state", async |tx| {
            self.fence_account(tx, account_id).await?;
            tx.execute("DELETE FROM pacer_state WHERE account_id = $1", &[&account_id])
                .await?;
            tx.execute("DELETE FROM flood_windows WHERE account_id = $1", &[&account_id])
                .await?;
            let methods: Vec<&str> = state.pace.iter().map(|(m, ..)| m.as_str()).collect();
            let rates: Vec<f64> = state.pace.iter().map(|(_, r, ..)| *r).collect();
            let ceilings: Vec<Option<f64>> = state.pace.iter().map(|(_, _, c, _)| *c).collect();
            let holds: Vec<Option<i64>> = state.pace.iter().map(|(.., h)| *h).collect();
            tx.execute(
                "INSERT INTO pacer_state (account_id, method, rate, ceiling, updated_at, hold_until_ms)
                 SELECT $1, m, r, c, $5, h
                 FROM unnest($2::text[], $3::float8[], $4::float8[], $6::bigint[]) AS u (m, r, c, h)",
                &[&account_id, &methods, &rates, &ceilings, &now, &holds],
            )
            .await?;
            let open: Vec<&(String, i64)> =
                state.windows.iter().filter(|(_, until)| *until > now_ms).collect();
            let methods: Vec<&str> = open.iter().map(|(m, _)| m.as_str()).collect();
            let until: Vec<i64> = open.iter().map(|(_, u)| *u).collect();
            tx.execute(
                "INSERT INTO flood_windows (account_id, method, until_ms)
                 SELECT $1, m, u FROM unnest($2::text[], $3::bigint[]) AS w (m, u)",
                &[&account_id, &methods, &until],
            )
            .await?;
            // opened_at_ms as on SQLite: kept while the breaker stays open or half-open.
            tx.execute(
                "INSERT INTO breaker_state (account_id, failures, open_until_ms, updated_at, opened_at_ms)
                 VALUES ($1, $2, $3, $4, CASE WHEN $3::bigint > $5::bigint THEN $5::bigint END)
                 ON CONFLICT (account_id) DO UPDATE SET failures = excluded.failures,
                        open_until_ms = excluded.open_until_ms, updated_at = excluded.updated_at,
                        opened_at_ms = CASE
                            WHEN excluded.open_until_ms > $5::bigint
                                THEN coalesce(breaker_state.opened_at_ms, $5::bigint)
                            WHEN excluded.failures > 0 THEN breaker_state.opened_at_ms
                        END",
                &[&account_id, &i64::from(state.breaker.0), &state.breaker.1, &now, &now_ms],
            )
            .await?;
            tx.execute("DELETE FROM budget_calls WHERE account_id = $1", &[&account_id])
                .await?;
            let recent: Vec<&(String, i64)> =
                state.budget.iter().filter(|(_, at)| *at > now_ms - BUDGET_MEMORY_MS).collect();
            let methods: Vec<&str> = recent.iter().map(|(m, _)| m.as_str()).collect();
            let at: Vec<i64> = recent.iter().map(|(_, a)| *a).collect();
            tx.execute(
                "INSERT INTO budget_calls (account_id, method, at_ms)
                 SELECT $1, m, a FROM unnest($2::text[], $3::bigint[]) AS b (m, a)
                 ON CONFLICT DO NOTHING",
                &[&account_id, &methods, &at],
            )
            .await?;
            let Activity { floods, retries } = state.activity;
            if floods > 0 || retries > 0 {
                tx.execute(
                    "INSERT INTO account_activity (account_id, day, floods, retries) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (account_id, day) DO UPDATE SET
                         floods = account_activity.floods + excluded.floods,
                         retries = account_activity.retries + excluded.retries",
                    &[&account_id, &(now - now.rem_euclid(86_400)), &(floods as i64), &(retries as i64)],
                )
                .await?;
            }
            Ok(())
        })
    }

    fn load_client_state(&self, account_id: i64) -> Result<ClientState, StoreError> {
        let now_ms = unix_now() * 1000;
        self.tx("load the client state", async |tx| {
            let pace = tx
                .query(
                    "SELECT method, rate, ceiling, hold_until_ms FROM pacer_state WHERE account_id = $1
                     ORDER BY method",
                    &[&account_id],
                )
                .await?
                .iter()
                .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
                .collect();
            let windows = tx
                .query(
                    "SELECT method, until_ms FROM flood_windows WHERE account_id = $1 AND until_ms > $2
                     ORDER BY method",
                    &[&account_id, &now_ms],
                )
                .await?
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect();
            let breaker = tx
                .query_opt(
                    "SELECT failures, open_until_ms FROM breaker_state WHERE account_id = $1",
                    &[&account_id],
                )
                .await?
                .map(|r| (u32::try_from(r.get::<_, i64>(0)).unwrap_or(u32::MAX), r.get(1)))
                .unwrap_or((0, None));
            let budget = tx
                .query(
                    "SELECT method, at_ms FROM budget_calls WHERE account_id = $1 AND at_ms > $2
                     ORDER BY at_ms, method",
                    &[&account_id, &(now_ms - BUDGET_MEMORY_MS)],
                )
                .await?
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect();
            Ok(ClientState {
                pace,
                windows,
                breaker,
                activity: Activity::default(),
                budget,
            })
        })
    }

    fn activity(
        &self,
        account_ids: Option<&[i64]>,
        from: i64,
        to: i64,
    ) -> Result<Vec<ActivityRow>, StoreError> {
        let ids: Option<Vec<i64>> = account_ids.map(<[i64]>::to_vec);
        self.tx("read floods and retries", async |tx| {
            let rows = tx
                .query(
                    "SELECT a.name, x.day, x.floods, x.retries FROM account_activity x
                     JOIN accounts a ON a.id = x.account_id
                     WHERE ($1::bigint[] IS NULL OR x.account_id = ANY($1))
                       AND x.day + 86400 > $2 AND x.day < $3
                     ORDER BY x.day, a.name",
                    &[&ids, &from, &to],
                )
                .await?;
            Ok(rows
                .iter()
                .map(|r| ActivityRow {
                    account: r.get(0),
                    day: r.get(1),
                    counts: Activity {
                        floods: r.get::<_, i64>(2).max(0) as u64,
                        retries: r.get::<_, i64>(3).max(0) as u64,
                    },
                })
                .collect())
        })
    }
}
