//! Alerts waiting for delivery: one row per (alert, sink), so a webhook that is down never holds back
//! the Telegram message and each is retried on its own. What raises them and how they are sent lives in
//! `crate::alerts`; this is only their durable queue, with de-duplication by key within a window.

use serde::Serialize;

use crate::StoreError;

/// One alert for one sink.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AlertRow {
    /// Row id.
    pub id: i64,
    /// What happened (`channel_deactivated`, `account_logged_out`, …).
    pub kind: String,
    /// What it is about (de-duplication key).
    pub dedup_key: String,
    /// `telegram` or a webhook URL.
    pub sink: String,
    /// The account concerned (its Saved Messages receive the Telegram alert).
    pub account: Option<String>,
    /// Human-readable text.
    pub message: String,
    /// Structured details (JSON).
    pub details: serde_json::Value,
    /// When it was raised.
    pub created_at: i64,
    /// Delivery attempts so far.
    pub attempts: u32,
    /// When it was delivered.
    pub delivered_at: Option<i64>,
    /// When delivery was given up.
    pub failed_at: Option<i64>,
    /// The last delivery error.
    pub last_error: Option<String>,
}

/// An alert to raise.
#[derive(Clone, Debug, PartialEq)]
pub struct NewAlert {
    /// What happened.
    pub kind: String,
    /// What it is about; the same key is raised at most once per sink within the window.
    pub dedup_key: String,
    /// The account concerned, if any.
    pub account: Option<String>,
    /// Human-readable text.
    pub message: String,
    /// Structured details.
    pub details: serde_json::Value,
}

/// Alerts: raising them per sink, deduplicated, and recording their deliveries.
pub trait AlertStore {
    /// Queues `alert` for every sink, except where the same key was raised within `window_secs`;
    /// returns the rows created.
    fn raise_alert(
        &mut self,
        alert: &NewAlert,
        sinks: &[String],
        window_secs: i64,
    ) -> Result<Vec<i64>, StoreError>;

    /// Alerts due for a delivery attempt.
    fn due_alerts(&self, limit: usize) -> Result<Vec<AlertRow>, StoreError>;

    /// Records a delivery attempt: delivered, or retried after `retry_in` seconds until `max_attempts`.
    fn alert_attempt(
        &mut self,
        id: i64,
        error: Option<&str>,
        retry_in: i64,
        max_attempts: u32,
    ) -> Result<(), StoreError>;

    /// Alerts by id (to report on a test).
    fn alerts_by_id(&self, ids: &[i64]) -> Result<Vec<AlertRow>, StoreError>;

    /// The newest alerts.
    fn recent_alerts(&self, limit: usize) -> Result<Vec<AlertRow>, StoreError>;

    /// What the alert rules look at, in one read: channels parked since before `parked_before`
    /// (label, account, since, error); accounts whose breaker opened before `open_before_ms`
    /// (account, since ms); and tagging attempts that failed since `failed_since`.
    fn alert_conditions(
        &self,
        parked_before: i64,
        open_before_ms: i64,
        failed_since: i64,
    ) -> Result<AlertConditions, StoreError>;

    /// The accounts whose circuit breaker is open now, with since when (unix ms): they cannot reach
    /// Telegram (`/readyz` degraded, their channels waiting). One small read, for frequent callers.
    fn open_breakers(&self) -> Result<Vec<(String, i64)>, StoreError>;
}

/// See [`AlertStore::alert_conditions`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AlertConditions {
    /// (channel, account, parked since, error).
    pub parked: Vec<(String, String, i64, String)>,
    /// (account, breaker open since, unix ms).
    pub breakers: Vec<(String, i64)>,
    /// Tagging attempts that failed in the period.
    pub tagging_failures: i64,
}
