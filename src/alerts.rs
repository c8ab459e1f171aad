//! Alerts: telling a person when something failed for good.
//!
//! Events that need a person — a channel deactivated (private, deleted), an account logged out or its
//! session revoked, an admin job failed after its last attempt — are raised where they happen; a rule
//! check every 30 s raises the slow ones: a circuit breaker open longer than `alerts.breaker_minutes`,
//! a channel parked longer than `alerts.parked_minutes`, more than `alerts.tagging_failures` failed
//! tagging attempts in an hour. Raising only writes to the database (never blocking ingest); the
//! `alerts` task delivers each alert to every sink — webhook URLs (POST JSON) and the account's own
//! Saved Messages on Telegram — retrying each on its own with backoff, and the same event is sent at most
//! once per `alerts.dedup_window`.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use std::sync::Arc;
use std::time::Duration;

use grammers_tl_types as tl;
use serde_json::json;
use tgsift_store::{AlertRow, AsyncStore, NewAlert, StoreError, unix_now};
use tokio_util::sync::CancellationToken;

use crate::config::AlertsConfig;
use crate::metrics::{Families, StateLabel};
use crate::task::TaskError;
use crate::telegram::connections::Connections;

/// The sink name of Telegram delivery (every other sink is a webhook URL).
pub(crate) const TELEGRAM_SINK: &str = "telegram";
/// Delivery attempts per alert and sink before it is given up.
const MAX_ATTEMPTS: u32 = 8;
/// How often due alerts are looked for.
const DELIVER_EVERY: Duration = Duration::from_secs(1);
/// How often the slow rules are checked.
const CHECK_EVERY: Duration = Duration::from_secs(30);

/// Raises alerts and delivers them; cheap to share.
pub struct Alerts {
    store: AsyncStore,
    config: AlertsConfig,
    http: reqwest::Client,
    metrics: Option<Arc<AlertFamilies>>,
}

/// The alerts' metric family: alerts raised by kind.
pub(crate) struct AlertFamilies {
    raised: Family<StateLabel, Counter>,
}

impl Families for AlertFamilies {
    fn register(registry: &mut Registry) -> Self {
        let raised = Family::default();
        registry.register("alerts", "Alerts raised by kind", Family::clone(&raised));
        AlertFamilies { raised }
    }
}

impl Alerts {
    /// Alerts to the sinks of `config`.
    pub fn new(
        store: AsyncStore,
        config: AlertsConfig,
        metrics: Option<Arc<crate::metrics::Metrics>>,
    ) -> Self {
        Alerts {
            store,
            config,
            http: crate::sinks::http_client(),
            metrics: metrics.map(|m| m.of::<AlertFamilies>()),
        }
    }

    /// The sinks alerts go to.
    pub fn sinks(&self) -> Vec<String> {
        let mut sinks = self.config.webhooks.clone();
        if self.config.telegram {
            sinks.push(TELEGRAM_SINK.to_string());
        }
        sinks
    }

    /// Queues an alert for every sink (unless the same key was raised within the de-duplication window);
    /// returns the rows created. Only a database write: it never waits for a sink.
    pub(crate) async fn raise(&self, alert: NewAlert) -> Result<Vec<i64>, StoreError> {
        let sinks = self.sinks();
        if sinks.is_empty() {
            return Ok(Vec::new());
        }
        tracing::warn!(kind = %alert.kind, message = %alert.message, "alert");
        if let Some(m) = &self.metrics {
            m.raised
                .get_or_create(&StateLabel {
                    state: alert.kind.clone(),
                })
                .inc();
        }
        let window = self.config.dedup_window.round() as i64;
        self.store
            .with("raise an alert", move |s| {
                s.raise_alert(&alert, &sinks, window)
            })
            .await
    }

    /// Raises an alert and logs (rather than returns) a failure to store it: for callers whose own
    /// work must go on.
    pub(crate) async fn raise_or_log(&self, alert: NewAlert) {
        if let Err(e) = self.raise(alert).await {
            tracing::error!(error = %e, "could not store an alert");
        }
    }

    /// The `alerts` task: delivers due alerts and checks the slow rules until `cancel`.
    pub async fn run(
        self: Arc<Self>,
        connections: Arc<Connections>,
        cancel: CancellationToken,
    ) -> Result<(), TaskError> {
        let mut last_check = tokio::time::Instant::now() - CHECK_EVERY;
        loop {
            if last_check.elapsed() >= CHECK_EVERY {
                self.check_rules().await?;
                last_check = tokio::time::Instant::now();
            }
            self.deliver_due(&connections).await?;
            tokio::select! {
                _ = cancel.cancelled() => return Ok(()),
                _ = tokio::time::sleep(DELIVER_EVERY) => {}
            }
        }
    }

    /// Delivers every alert that is due once; returns how many were attempted.
    pub(crate) async fn deliver_due(&self, connections: &Connections) -> Result<usize, StoreError> {
        let due = self
            .store
            .read("list due alerts", |s| s.due_alerts(50))
            .await?;
        let n = due.len();
        for alert in due {
            let outcome = self.deliver(&alert, connections).await;
            let retry_in = 5i64 << alert.attempts.min(10);
            if let Err(e) = &outcome {
                tracing::warn!(sink = %alert.sink, kind = %alert.kind, error = %e, "alert not delivered; will retry");
            }
            let (id, err) = (alert.id, outcome.err());
            self.store
                .with("record an alert delivery", move |s| {
                    s.alert_attempt(id, err.as_deref(), retry_in, MAX_ATTEMPTS)
                })
                .await?;
        }
        Ok(n)
    }

    /// Delivers these alerts once now (`alerts test`) and returns them as they are after.
    pub(crate) async fn deliver_now(
        &self,
        ids: &[i64],
        connections: &Connections,
    ) -> Result<Vec<AlertRow>, StoreError> {
        let ids = ids.to_vec();
        let rows = {
            let ids = ids.clone();
            self.store
                .read("read alerts", move |s| s.alerts_by_id(&ids))
                .await?
        };
        for alert in rows {
            let outcome = self.deliver(&alert, connections).await;
            let (id, err) = (alert.id, outcome.err());
            self.store
                .with("record an alert delivery", move |s| {
                    s.alert_attempt(id, err.as_deref(), 5, MAX_ATTEMPTS)
                })
                .await?;
        }
        self.store
            .read("read alerts", move |s| s.alerts_by_id(&ids))
            .await
    }

    async fn deliver(&self, alert: &AlertRow, connections: &Connections) -> Result<(), String> {
        if alert.sink == TELEGRAM_SINK {
            return self.to_saved_messages(alert, connections).await;
        }
        let body = json!({
            "kind": alert.kind,
            "message": alert.message,
            "account": alert.account,
            "details": alert.details,
            "raised_at": alert.created_at,
            "id": alert.id,
        });
        crate::sinks::post_json(&self.http, &alert.sink, &body).await
    }

    /// Sends the alert to the Saved Messages of its account (or of another logged-in account when its
    /// own cannot send: it is the one that was logged out).
    async fn to_saved_messages(
        &self,
        alert: &AlertRow,
        connections: &Connections,
    ) -> Result<(), String> {
        let (own, kind) = (alert.account.clone(), alert.kind.clone());
        let accounts = self
            .store
            .read("list accounts", |s| s.accounts())
            .await
            .map_err(|e| e.to_string())?;
        let usable = |a: &&tgsift_store::AccountRow| {
            a.disabled_reason.is_none()
                // An account Telegram refused cannot send its own alert.
                && !(kind.starts_with("account_") && Some(&a.name) == own.as_ref())
        };
        let target = accounts
            .iter()
            .filter(usable)
            .find(|a| Some(&a.name) == own.as_ref())
            .or_else(|| accounts.iter().find(usable))
            .ok_or("no logged-in account to send the alert with")?;
        let conn = connections
            .get(target.id)
            .await
            .map_err(|e| e.to_string())?;
        let text = format!("tgsift alert ({}): {}", alert.kind, alert.message);
        crate::sinks::send_text(&conn.account, tl::enums::InputPeer::PeerSelf, text).await
    }

    /// Raises what the slow rules find: breakers open too long, channels parked too long, too many
    /// tagging failures in the last hour.
    pub(crate) async fn check_rules(&self) -> Result<(), StoreError> {
        if self.sinks().is_empty() {
            return Ok(());
        }
        let now = unix_now();
        let parked_before = now - (self.config.parked_minutes * 60.0) as i64;
        let open_before = now * 1000 - (self.config.breaker_minutes * 60_000.0) as i64;
        let found = self
            .store
            .read("read the alert conditions", move |s| {
                s.alert_conditions(parked_before, open_before, now - 3600)
            })
            .await?;
        for (channel, account, since, error) in found.parked {
            self.raise(NewAlert {
                kind: "channel_parked".into(),
                dedup_key: format!("parked:{account}:{channel}"),
                account: Some(account.clone()),
                message: format!(
                    "channel {channel} of account {account} has been parked for {} min: {error}",
                    (now - since) / 60
                ),
                details: json!({"channel": channel, "since": since, "error": error}),
            })
            .await?;
        }
        for (account, since_ms) in found.breakers {
            self.raise(NewAlert {
                kind: "breaker_open".into(),
                dedup_key: format!("breaker:{account}"),
                account: Some(account.clone()),
                message: format!(
                    "Telegram has been unreachable for account {account} for {} min (circuit breaker open)",
                    (now * 1000 - since_ms) / 60_000
                ),
                details: json!({"since_ms": since_ms}),
            })
            .await?;
        }
        if found.tagging_failures > i64::from(self.config.tagging_failures) {
            self.raise(NewAlert {
                kind: "tagging_failures".into(),
                dedup_key: "tagging_failures".into(),
                account: None,
                message: format!(
                    "{} tagging attempts failed in the last hour (alert above {})",
                    found.tagging_failures, self.config.tagging_failures
                ),
                details: json!({"failures": found.tagging_failures}),
            })
            .await?;
        }
        Ok(())
    }
}
