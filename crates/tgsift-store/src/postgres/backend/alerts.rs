//! [`AlertStore`] on PostgreSQL: the durable queue of alerts, one row per (alert, sink), deduplicated
//! by key within a window, as in the SQLite store (`src/store/alerts.rs`).

use tokio_postgres::Row;

use super::PgBackend;
use crate::{AlertConditions, AlertRow, AlertStore, NewAlert, StoreError, unix_now};

const COLUMNS: &str = "id, kind, dedup_key, sink, account, message, details, created_at, attempts, \
                       delivered_at, failed_at, last_error";

fn row(r: &Row) -> AlertRow {
    AlertRow {
        id: r.get(0),
        kind: r.get(1),
        dedup_key: r.get(2),
        sink: r.get(3),
        account: r.get(4),
        message: r.get(5),
        details: serde_json::from_str(r.get(6)).unwrap_or_default(),
        created_at: r.get(7),
        attempts: u32::try_from(r.get::<_, i64>(8).max(0)).unwrap_or(u32::MAX),
        delivered_at: r.get(9),
        failed_at: r.get(10),
        last_error: r.get(11),
    }
}

fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl AlertStore for PgBackend {
    fn raise_alert(
        &mut self,
        alert: &NewAlert,
        sinks: &[String],
        window_secs: i64,
    ) -> Result<Vec<i64>, StoreError> {
        let now = unix_now();
        let details = alert.details.to_string();
        // SQLite raises sink by sink, so a sink named twice is deduplicated against its own first row
        // whenever that row falls inside the window (window_secs > 0); one statement does not see its
        // own rows, so such repeats are dropped here.
        let mut sinks: Vec<&str> = sinks.iter().map(String::as_str).collect();
        if window_secs > 0 {
            let mut seen = std::collections::HashSet::new();
            sinks.retain(|s| seen.insert(*s));
        }
        self.tx(&format!("raise a {} alert", alert.kind), async |tx| {
            let mut ids: Vec<i64> = tx
                .query(
                    "INSERT INTO alerts (kind, dedup_key, sink, account, message, details, created_at, next_at)
                     SELECT $1::text, $2::text, u.sink, $4::text, $5::text, $6::text, $7::bigint, $7::bigint
                     FROM unnest($3::text[]) WITH ORDINALITY AS u (sink, n)
                     WHERE NOT EXISTS (SELECT 1 FROM alerts a
                                       WHERE a.dedup_key = $2 AND a.sink = u.sink AND a.created_at > $7::bigint - $8::bigint)
                     ORDER BY u.n
                     RETURNING id",
                    &[
                        &alert.kind,
                        &alert.dedup_key,
                        &sinks,
                        &alert.account,
                        &alert.message,
                        &details,
                        &now,
                        &window_secs,
                    ],
                )
                .await?
                .iter()
                .map(|r| r.get(0))
                .collect();
            // Ids are given in the sinks' order, as SQLite's one insert after the other gives them.
            ids.sort_unstable();
            Ok(ids)
        })
    }

    fn due_alerts(&self, n: usize) -> Result<Vec<AlertRow>, StoreError> {
        self.tx("list due alerts", async |tx| {
            Ok(tx
                .query(
                    &format!(
                        "SELECT {COLUMNS} FROM alerts
                         WHERE delivered_at IS NULL AND failed_at IS NULL AND next_at <= $1
                         ORDER BY id LIMIT $2"
                    ),
                    &[&unix_now(), &limit(n)],
                )
                .await?
                .iter()
                .map(row)
                .collect())
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
        self.tx("record an alert delivery", async |tx| {
            match error {
                None => {
                    tx.execute(
                        "UPDATE alerts SET attempts = attempts + 1, delivered_at = $2, last_error = NULL
                         WHERE id = $1",
                        &[&id, &now],
                    )
                    .await?
                }
                Some(e) => {
                    tx.execute(
                        "UPDATE alerts SET attempts = attempts + 1, last_error = $2, next_at = $3::bigint + $4,
                                failed_at = CASE WHEN attempts + 1 >= $5 THEN $3::bigint END
                         WHERE id = $1",
                        &[&id, &e, &now, &retry_in, &i64::from(max_attempts)],
                    )
                    .await?
                }
            };
            Ok(())
        })
    }

    fn alerts_by_id(&self, ids: &[i64]) -> Result<Vec<AlertRow>, StoreError> {
        self.tx("read alerts", async |tx| {
            Ok(tx
                .query(
                    &format!("SELECT {COLUMNS} FROM alerts WHERE id = ANY($1) ORDER BY id"),
                    &[&ids],
                )
                .await?
                .iter()
                .map(row)
                .collect())
        })
    }

    fn recent_alerts(&self, n: usize) -> Result<Vec<AlertRow>, StoreError> {
        self.tx("list alerts", async |tx| {
            Ok(tx
                .query(
                    &format!("SELECT {COLUMNS} FROM alerts ORDER BY id DESC LIMIT $1"),
                    &[&limit(n)],
                )
                .await?
                .iter()
                .map(row)
                .collect())
        })
    }

    fn alert_conditions(
        &self,
        parked_before: i64,
        open_before_ms: i64,
        failed_since: i64,
    ) -> Result<AlertConditions, StoreError> {
        let now = unix_now();
        self.tx("read the alert conditions", async |tx| {
            let parked = tx
                .query(
                    "SELECT coalesce('@' || c.username, c.tg_id::text), a.name, c.parked_at,
                            coalesce(c.last_error, '')
                     FROM channels c JOIN accounts a ON a.id = c.account_id
                     WHERE c.active AND c.flood_until > $1 AND c.parked_at <= $2
                     ORDER BY c.id",
                    &[&now, &parked_before],
                )
                .await?
                .iter()
                .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
                .collect();
            let breakers = breakers_open(tx, now * 1000, open_before_ms).await?;
            let tagging_failures = tx
                .query_one(
                    "SELECT count(*) FROM posts
                     WHERE tagging_status IN ('retrying', 'failed') AND last_tagging_attempt >= $1",
                    &[&failed_since],
                )
                .await?
                .get(0);
            Ok(AlertConditions {
                parked,
                breakers,
                tagging_failures,
            })
        })
    }

    fn open_breakers(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let now_ms = unix_now() * 1000;
        self.tx("read the open breakers", async |tx| {
            Ok(breakers_open(tx, now_ms, i64::MAX).await?)
        })
    }
}

/// Accounts whose breaker is open at `now_ms` and opened at or before `opened_before_ms`.
async fn breakers_open(
    tx: &tokio_postgres::Transaction<'_>,
    now_ms: i64,
    opened_before_ms: i64,
) -> Result<Vec<(String, i64)>, tokio_postgres::Error> {
    Ok(tx
        .query(
            "SELECT a.name, b.opened_at_ms FROM breaker_state b JOIN accounts a ON a.id = b.account_id
             WHERE b.open_until_ms > $1 AND b.opened_at_ms <= $2
             ORDER BY b.account_id",
            &[&now_ms, &opened_before_ms],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect())
}
