//! One live Telegram connection per account, shared by everything in the process that needs it.
//!
//! An account's session may be used by one process at a time (the session lease), and inside the
//! service several tasks want the same account: its ingest task, an admin job (`channels add`,
//! `reparse`), an alert sent to its Saved Messages. [`Connections`] hands each of them the same
//! [`Connection`] — lease, grammers client, learned pacer and flood state — and lets it go when the last
//! user drops it, saving what the client learned: at once when a flood window or the breaker opens,
//! at least every 30 s, and at the end.
//!
//! On a PostgreSQL store the session comes from the database and the account must be leased to this
//! worker ([`HeldAccounts`]); the connection stops when the lease is lost.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use tgsift_store::AsyncStore;
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;
use crate::telegram::client::{Account, DISCONNECT_DELAY, Policy};
use crate::telegram::held_accounts::{HeldAccounts, OpenConnections};
use crate::telegram::session::{PgSession, SessionError, SqliteSession};
use crate::telegram::session_lock::{SessionLock, SessionLockError};

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
    SessionLock(#[from] SessionLockError),
    /// The session file is missing or broken.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] tgsift_store::StoreError),
    /// On a PostgreSQL store, another worker serves the account (this one holds no lease on it).
    #[error("account {0} is served by another worker (this worker holds no lease on it)")]
    NotLeased(String),
    /// On a PostgreSQL store, outside a worker: sessions are used only under a worker's lease.
    #[error(
        "account {0}'s session is in the PostgreSQL database, where only the `tgsift run` worker \
         holding the account's lease uses it (this process is not a worker)"
    )]
    WorkersOnly(String),
    /// Telegram refused the account and it is stopped until an admin acts: nothing may call
    /// Telegram for it (each call risks more: a frozen account can end up banned).
    #[error("account {name} is stopped as {state} ({reason}): {}", crate::telegram::error::what_to_do(name, *state))]
    Stopped {
        name: String,
        state: tgsift_store::AccountState,
        reason: String,
    },
}

/// An account's live connection: its client and the lease that makes it the only one.
pub struct Connection {
    /// The client, with tgsift's whole call policy.
    pub account: Arc<Account>,
    /// The account's row id.
    pub account_id: i64,
    store: AsyncStore,
    saver: tokio::task::JoinHandle<()>,
    /// Keeps a disconnect deadline on the connection ([`Account::keep_alive`]).
    pinger: tokio::task::JoinHandle<()>,
    /// The session file's lease (SQLite store); a PostgreSQL store's lease is the worker's.
    _lease: Option<SessionLock>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.saver.abort();
        self.pinger.abort();
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
    leases: Option<Arc<HeldAccounts>>,
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
            leases: None,
        }
    }

    /// Connections of a worker on a PostgreSQL store: sessions from the database, one account at a
    /// time only while `leases` holds it.
    pub(crate) fn with_leases(mut self, leases: Arc<HeldAccounts>) -> Self {
        self.leases = Some(leases);
        self
    }

    /// The worker's leases, when accounts are leased (PostgreSQL).
    pub fn leases(&self) -> Option<&Arc<HeldAccounts>> {
        self.leases.as_ref()
    }

    /// The account's connection: the one already open in this process, or a new one (taking the
    /// session lease, which fails when another process holds it).
    /// An account Telegram refused ([`ConnectError::Stopped`]) gets no connection.
    pub async fn get(&self, account_id: i64) -> Result<Arc<Connection>, ConnectError> {
        self.connect(account_id, false).await
    }

    /// [`Connections::get`] even for a stopped account: for `account check`, the admin's way of
    /// asking Telegram whether it works again.
    pub async fn get_even_stopped(&self, account_id: i64) -> Result<Arc<Connection>, ConnectError> {
        self.connect(account_id, true).await
    }

    async fn connect(
        &self,
        account_id: i64,
        even_stopped: bool,
    ) -> Result<Arc<Connection>, ConnectError> {
        let row = self
            .store
            .read("read the account", move |s| {
                Ok(s.accounts()?.into_iter().find(|a| a.id == account_id))
            })
            .await?
            .ok_or(ConnectError::NoAccount(account_id))?;
        if row.state != tgsift_store::AccountState::Active && !even_stopped {
            return Err(ConnectError::Stopped {
                name: row.name.clone(),
                state: row.state,
                reason: row.disabled_reason.clone().unwrap_or_default(),
            });
        }
        self.fence(&row).await?;
        let mut live = self.live.lock().await;
        if let Some(c) = live.get(&account_id).and_then(Weak::upgrade) {
            return Ok(c);
        }
        // The account presents the identity fixed when it was added; one added before identities
        // were kept gets this process's now, for good.
        let identity = match row.identity.clone() {
            Some(identity) => identity,
            None => {
                let identity = self.policy.identity.clone();
                let fixed = identity.clone();
                self.store
                    .with("fix the account's client identity", move |s| {
                        s.set_account_identity(account_id, &fixed)
                    })
                    .await?;
                identity
            }
        };
        let policy = Policy {
            identity,
            ..self.policy.clone()
        };
        let (lease, mut account) = match &self.leases {
            None if self.store.as_postgres().is_some() => {
                return Err(ConnectError::WorkersOnly(row.name.clone()));
            }
            None => {
                let lease = SessionLock::acquire(&row.name, &row.session_path)?;
                let session = SqliteSession::open(&row.session_path)?;
                let account = Account::new(
                    &row.name,
                    Arc::new(session),
                    self.api_id,
                    policy.clone(),
                    self.cancel.child_token(),
                );
                (Some(lease), account)
            }
            Some(leases) => {
                let (Some(db_lease), Some(lost)) =
                    (leases.lease(account_id), leases.token(account_id))
                else {
                    return Err(ConnectError::NotLeased(row.name.clone()));
                };
                let session = PgSession::open(
                    leases.store(),
                    account_id,
                    leases.session_key().clone(),
                    Some(db_lease),
                )
                .await?;
                // The connection stops with the service, and when the lease is lost.
                let stop = self.cancel.child_token();
                let s = stop.clone();
                tokio::spawn(async move {
                    tokio::select! {
                        _ = lost.cancelled() => s.cancel(),
                        _ = s.cancelled() => {}
                    }
                });
                let held = Arc::clone(leases);
                let account = Account::new(
                    &row.name,
                    Arc::new(session),
                    self.api_id,
                    policy.clone(),
                    stop,
                )
                .with_licence(Arc::new(move || held.lease(account_id).is_some()));
                (None, account)
            }
        };
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
        let pinger = tokio::spawn(Account::keep_alive(Arc::downgrade(&account)));
        let c = Arc::new(Connection {
            account,
            account_id,
            store: self.store.clone(),
            saver,
            pinger,
            _lease: lease,
        });
        live.retain(|_, w| w.strong_count() > 0);
        live.insert(account_id, Arc::downgrade(&c));
        Ok(c)
    }

    /// On a PostgreSQL store, waits before connecting when this worker took the account over from one
    /// that did not hand it back: that worker's connection may live until Telegram drops it, at most
    /// [`DISCONNECT_DELAY`] after its last ping, which came before its lease ran out. Two live
    /// connections on one key make Telegram revoke it; waiting costs that delay once per takeover.
    /// Not when that worker ran on this machine and its process has exited: its connections closed
    /// with it ([`crate::telegram::worker_mark`]).
    async fn fence(&self, row: &tgsift_store::AccountRow) -> Result<(), ConnectError> {
        let Some(leases) = self.leases.as_ref() else {
            return Ok(());
        };
        let Some(until) = leases.lease(row.id).and_then(|l| l.previous_until) else {
            return Ok(());
        };
        if leases.previous_holder_exited(row.id) {
            tracing::info!(account = %row.name, "took the account over from a worker on this machine that has exited (its connection closed with it); connecting now");
            return Ok(());
        }
        let at = until + DISCONNECT_DELAY + Duration::from_secs(1);
        let Some(left) = at.checked_duration_since(std::time::Instant::now()) else {
            return Ok(());
        };
        tracing::info!(account = %row.name, seconds = left.as_secs(), "took the account over from a worker that stopped answering; waiting until Telegram has dropped its connection before connecting");
        tokio::select! {
            _ = self.cancel.cancelled() => Err(ConnectError::NotLeased(row.name.clone())),
            _ = tokio::time::sleep(left) => Ok(()),
        }
    }

    /// Whether this process has the account's connection open; `None` while a connection is being
    /// made (so a caller that must not wait, the lease task, asks again later).
    pub(crate) fn is_open(&self, account_id: i64) -> Option<bool> {
        let live = self.live.try_lock().ok()?;
        Some(live.get(&account_id).is_some_and(|w| w.strong_count() > 0))
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

impl OpenConnections for Connections {
    fn is_open(&self, account_id: i64) -> Option<bool> {
        Connections::is_open(self, account_id)
    }
}
