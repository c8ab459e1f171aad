//! What an account's client layer learned (pacer rates, open FLOOD_WAIT windows), kept across restarts.

use crate::StoreError;

/// The persisted client-layer state of one account.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClientState {
    /// Learned rates: (method, requests per second, rate at the last flood, unix milliseconds until
    /// which the pacer does not probe above that rate after a long FLOOD_WAIT).
    pub pace: Vec<(String, f64, Option<f64>, Option<i64>)>,
    /// Open flood windows: (method, unix milliseconds they end).
    pub windows: Vec<(String, i64)>,
    /// Circuit breaker: consecutive connection failures and, when open, unix milliseconds it closes.
    pub breaker: (u32, Option<i64>),
    /// FLOOD_WAITs and retries counted since the previous save; saving adds them to today's counters
    /// (loading leaves this empty).
    pub activity: Activity,
    /// Calls of budgeted methods (`contacts.resolveUsername`, `channels.joinChannel`) in the last
    /// day: (method, unix milliseconds), so a budget holds across restarts and one-shot commands.
    pub budget: Vec<(String, i64)>,
}

/// How long a budgeted call is remembered: the longest budget period, a day.
pub const BUDGET_MEMORY_MS: i64 = 86_400_000;

/// FLOOD_WAITs received and requests retried, for `tgsift stats`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Activity {
    /// FLOOD_WAIT answers.
    pub floods: u64,
    /// Requests sent again after a transient failure.
    pub retries: u64,
}

/// The FLOOD_WAITs and retries of one account on one UTC day.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ActivityRow {
    /// Account name.
    pub account: String,
    /// 00:00 UTC of the day (unix seconds).
    pub day: i64,
    /// The counts.
    #[serde(flatten)]
    pub counts: Activity,
}

/// The client layer's learned state per account (pacer, flood windows, breaker, activity).
pub trait ClientStateStore {
    /// Replaces the stored state of `account_id` (windows already closed are dropped).
    fn save_client_state(&mut self, account_id: i64, state: &ClientState)
    -> Result<(), StoreError>;

    /// The stored state of `account_id` (windows that have closed are left out).
    fn load_client_state(&self, account_id: i64) -> Result<ClientState, StoreError>;

    /// FLOOD_WAITs and retries per account and day for the days that overlap `[from, to)` (unix
    /// seconds), of the given accounts only when `account_ids` is set; by day, then account.
    fn activity(
        &self,
        account_ids: Option<&[i64]>,
        from: i64,
        to: i64,
    ) -> Result<Vec<ActivityRow>, StoreError>;
}
