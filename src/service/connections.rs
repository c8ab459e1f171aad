//! One live Telegram connection per account, shared by everything in the process that needs it.
//!
//! An account's session may be used by one process at a time (the session lease), and inside the
//! service several tasks want the same account: its ingest task, an admin job (`channels add`,
//! `reparse`), an alert sent to its Saved Messages. [`Connections`] hands each of them the same
//! [`Connection`] — lease, grammers client, learned pacer and flood state — and lets it go when the last
//! user drops it, saving what the client learned: at once when a flood window or the breaker opens,
//! at least every 30 s, and at the end.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;
use crate::store::AsyncStore;
use crate::telegram::client::{Account, Policy};
use crate::telegram::lease::{Lease, LeaseError};
use crate::telegram::session::{SessionError, SqliteSession};

/// How often learned pacer rates are persisted even when nothing urgent happened.
const SAVE_STATE_EVERY: Duration = Duration::from_secs(30);

/// Why an account could not be connected.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// No such account (or it was removed).
    #[error("no account with id {0}")]
    NoAccount(i64),
    /// Another process holds the session.
    #[error(transparent)]
    Lease(#[from] LeaseError),
    /// The session file is missing or broken.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// An account's live connection: its client and the lease that makes it the only one.
pub struct Connection {
    /// The client, with tgsift's whole call policy.
    pub account: Arc<Account>,
    /// The account's row id.
    pub account_id: i64,
    store: AsyncStore,
    saver: tokio::task::JoinHandle<()>,
    _lease: Lease,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.saver.abort();
        let (store, id, state) = (
            self.store.clone(),
            self.account_id,
            self.account.export_state(),
        );
        // The last word on what this client learned; the runtime may already be gone at exit.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                let _ = store
                    .with("save the client state", move |s| {
                        s.save_client_state(id, &state)
                    })
                    .await;
            });
        }
    }
}

/// The connections of one process, by account.
pub struct Connections {
    store: AsyncStore,
    policy: Policy,
    api_id: i32,
    metrics: Option<Arc<Metrics>>,
    cancel: CancellationToken,
    live: tokio::sync::Mutex<HashMap<i64, Weak<Connection>>>,
}

impl Connections {
    /// Connections made with `policy` and `api_id`; all of them stop when `cancel` does.
    pub fn new(
        store: AsyncStore,
        policy: Policy,
        api_id: i32,
        metrics: Option<Arc<Metrics>>,
        cancel: CancellationToken,
    ) -> Self {
        Connections {
            store,
            policy,
            api_id,
            metrics,
            cancel,
            live: tokio::sync::Mutex::new(HashMap::new()),
        }
    }

    /// The account's connection: the one already open in this process, or a new one (taking the
    /// session lease, which fails when another process holds it).
    pub async fn get(&self, account_id: i64) -> Result<Arc<Connection>, ConnectError> {
        let mut live = self.live.lock().await;
        if let Some(c) = live.get(&account_id).and_then(Weak::upgrade) {
            return Ok(c);
        }
        let row = self
            .store
            .read("read the account", move |s| {
                Ok(s.accounts()?.into_iter().find(|a| a.id == account_id))
            })
            .await?
            .ok_or(ConnectError::NoAccount(account_id))?;
        let lease = Lease::acquire(&row.name, &row.session_path)?;
        let session = SqliteSession::open(&row.session_path)?;
        let mut account = Account::new(
            &row.name,
            Arc::new(session),
            self.api_id,
            self.policy.clone(),
            self.cancel.child_token(),
        );
        if let Some(m) = &self.metrics {
            // Requests per method are kept per account across connections (the ingest log line).
            let counts = Arc::clone(&m.ingest.account(&row.name).requests);
            account = account
                .with_metrics(Arc::clone(m))
                .with_method_counts(counts);
        }
        let account = Arc::new(account);
        let state = self
            .store
            .read("load the client state", move |s| {
                s.load_client_state(account_id)
            })
            .await?;
        account.import_state(&state);
        let saver = tokio::spawn(save_while_running(
            self.store.clone(),
            account_id,
            Arc::clone(&account),
        ));
        let c = Arc::new(Connection {
            account,
            account_id,
            store: self.store.clone(),
            saver,
            _lease: lease,
        });
        live.retain(|_, w| w.strong_count() > 0);
        live.insert(account_id, Arc::downgrade(&c));
        Ok(c)
    }

    /// The account's connection if this process has it open.
    pub async fn open(&self, account_id: i64) -> Option<Arc<Connection>> {
        self.live
            .lock()
            .await
            .get(&account_id)
            .and_then(Weak::upgrade)
    }
}

/// Persists what the client learned: at once when a flood window or the breaker opens, and the
/// pacer's rates at least every 30 s (a backfill pass can last hours).
async fn save_while_running(store: AsyncStore, account_id: i64, account: Arc<Account>) {
    loop {
        tokio::select! {
            _ = account.state_changed() => {}
            _ = tokio::time::sleep(SAVE_STATE_EVERY) => {}
        }
        let state = account.export_state();
        if let Err(e) = store
            .with("save the client state", move |s| {
                s.save_client_state(account_id, &state)
            })
            .await
        {
            tracing::warn!(account = %account.name(), error = %e, "could not save the client state");
        }
    }
}
