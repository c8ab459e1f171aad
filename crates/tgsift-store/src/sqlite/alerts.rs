//! [`AlertStore`](crate::AlertStore) on SQLite: the rules are the trait's (`crate::model::alerts`), the SQL is here.

use rusqlite::{Row, params};

use crate::model::alerts::*;
use crate::{SqliteStore, StoreError, unix_now};

const COLUMNS: &str = "id, kind, dedup_key, sink, account, message, details, created_at, attempts, delivered_at, failed_at, last_error";

fn row(r: &Row<'_>) -> rusqlite::Result<AlertRow> {
    Ok(AlertRow {
        id: r.get(0)?,
        kind: r.get(1)?,
        dedup_key: r.get(2)?,
        sink: r.get(3)?,
        account: r.get(4)?,
        message: r.get(5)?,
        details: serde_json::from_str(&r.get::<_, String>(6)?).unwrap_or_default(),
        created_at: r.get(7)?,
        attempts: r.get(8)?,
        delivered_at: r.get(9)?,
        failed_at: r.get(10)?,
        last_error: r.get(11)?,
    })
}

/// Accounts whose breaker is open at `now_ms` and opened at or before `opened_before_ms`.
fn breakers_open(
    c: &rusqlite::Connection,
    now_ms: i64,
    opened_before_ms: i64,
) -> rusqlite::Result<Vec<(String, i64)>> {
    c.prepare_cached(
        "SELECT a.name, b.opened_at_ms FROM breaker_state b JOIN accounts a ON a.id = b.account_id
         WHERE b.open_until_ms > ?1 AND b.opened_at_ms <= ?2
         ORDER BY b.account_id",
    )?
    .query_map(params![now_ms, opened_before_ms], |r| {
        Ok((r.get(0)?, r.get(1)?))
    })?
    .collect()
}

impl AlertStore for SqliteStore {
    fn raise_alert(
        &mut self,
        alert: &NewAlert,
        sinks: &[String],
        window_secs: i64,
    ) -> Result<Vec<i64>, StoreError> {
        let now = unix_now();
        let details = alert.details.to_string();
        self.write(&format!("raise a {} alert", alert.kind), |tx| {
            let mut ids = Vec::new();
            for sink in sinks {
                let seen: i64 = tx.query_row(
                    "SELECT count(*) FROM alerts WHERE dedup_key = ?1 AND sink = ?2 AND created_at > ?3",
                    params![alert.dedup_key, sink, now - window_secs],
                    |r| r.get(0),
                )?;
                if seen > 0 {
                    continue;
                }
                tx.execute(
                    "INSERT INTO alerts (kind, dedup_key, sink, account, message, details, created_at, next_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
                    params![alert.kind, alert.dedup_key, sink, alert.account, alert.message, details, now],
                )?;
                ids.push(tx.last_insert_rowid());
            }
            Ok(ids)
        })
    }

    fn due_alerts(&self, limit: usize) -> Result<Vec<AlertRow>, StoreError> {
        self.read("list due alerts", |c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM alerts WHERE delivered_at IS NULL AND failed_at IS NULL AND next_at <= ?1
                 ORDER BY id LIMIT ?2"
            ))?;
            st.query_map(params![unix_now(), limit as i64], row)?.collect()
        })
    }

    fn alert_attempt(
        &mut self,
        id: i64,
        error: Option<&str>,
        retry_in: i64,
        max_attempts: u32,
    ) -> Result<(), StoreError> {
        let now = unix_now();
        self.write("record an alert delivery", |tx| {
            match error {
                None => tx.execute(
                    "UPDATE alerts SET attempts = attempts + 1, delivered_at = ?2, last_error = NULL WHERE id = ?1",
                    params![id, now],
                )?,
                Some(e) => tx.execute(
                    "UPDATE alerts SET attempts = attempts + 1, last_error = ?2, next_at = ?3 + ?4,
                            failed_at = CASE WHEN attempts + 1 >= ?5 THEN ?3 END
                     WHERE id = ?1",
                    params![id, e, now, retry_in, max_attempts],
                )?,
            };
            Ok(())
        })
    }

    fn alerts_by_id(&self, ids: &[i64]) -> Result<Vec<AlertRow>, StoreError> {
        let ids = serde_json::to_string(ids).unwrap_or_else(|_| "[]".into());
        self.read("read alerts", |c| {
            let mut st = c.prepare(&format!(
                "SELECT {COLUMNS} FROM alerts WHERE id IN (SELECT value FROM json_each(?1)) ORDER BY id"
            ))?;
            st.query_map([ids], row)?.collect()
        })
    }

    fn recent_alerts(&self, limit: usize) -> Result<Vec<AlertRow>, StoreError> {
        self.read("list alerts", |c| {
            let mut st = c.prepare(&format!(
                "SELECT {COLUMNS} FROM alerts ORDER BY id DESC LIMIT ?1"
            ))?;
            st.query_map([limit as i64], row)?.collect()
        })
    }

    fn alert_conditions(
        &self,
        parked_before: i64,
        open_before_ms: i64,
        failed_since: i64,
    ) -> Result<AlertConditions, StoreError> {
        let now = unix_now();
        self.read("read the alert conditions", |c| {
            let mut st = c.prepare_cached(
                "SELECT coalesce('@' || c.username, CAST(c.tg_id AS TEXT)), a.name, c.parked_at, coalesce(c.last_error, '')
                 FROM channels c JOIN accounts a ON a.id = c.account_id
                 WHERE c.active = 1 AND c.flood_until > ?1 AND c.parked_at <= ?2",
            )?;
            let parked = st
                .query_map(params![now, parked_before], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                .collect::<Result<_, _>>()?;
            let breakers = breakers_open(c, now * 1000, open_before_ms)?;
            let tagging_failures = c.query_row(
                "SELECT count(*) FROM posts WHERE tagging_status IN ('retrying', 'failed') AND last_tagging_attempt >= ?1",
                [failed_since],
                |r| r.get(0),
            )?;
            Ok(AlertConditions { parked, breakers, tagging_failures })
        })
    }

    fn open_breakers(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let now_ms = unix_now() * 1000;
        self.read("read the open breakers", |c| {
            breakers_open(c, now_ms, i64::MAX)
        })
    }
}
