//! [`HeldAccounts`]: the accounts a worker serves when the store is PostgreSQL, through their
//! [`AccountLease`]s, kept by one task.
//!
//! Each round (every third of `storage.lease_time`) the task renews what the worker holds, claims up
//! to its fair share of the accounts (active accounts ÷ live workers, rounded up) and hands back what
//! is over it once the account's connection is closed. Every held account has a cancellation token:
//! it is cancelled when the lease is lost (taken over, or not renewed in time) and the account's
//! ingest task and Telegram connection stop with it. A watchdog per account cancels it at the
//! lease's local deadline if no renewal came, even while the database does not answer — so a worker
//! never uses an auth key after another worker could have claimed it (the protocol is described in
//! `tgsift_store::postgres::leases`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tgsift_store::postgres::backend::LeaseFences;
use tgsift_store::postgres::{AccountLease, PgError, PgStore};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::telegram::session::SessionKey;
use crate::telegram::worker_mark::WorkerMark;

/// What the leases ask of the worker's Telegram connections: an account over the fair share is
/// handed back only once its connection is closed.
pub trait OpenConnections: Send + Sync {
    /// Whether the account's connection is open; `None` when it has none.
    fn is_open(&self, account_id: i64) -> Option<bool>;
}

/// How long a worker of the service waits after registering before its first claim.
const SETTLE: Duration = Duration::from_secs(1);
/// How long after another worker's lease expires this worker looks at it (clocks of the database
/// and this process tick apart by a little).
const EXPIRY_SLACK: Duration = Duration::from_millis(100);
/// How often `run --once` asks whether its work is done between rounds.
const DONE_POLL: Duration = Duration::from_millis(100);

/// One held account: what stops it, and its current deadline for the watchdog.
struct Held {
    token: CancellationToken,
    deadline: watch::Sender<Instant>,
    /// Over the fair share: handed back once its connection is closed.
    releasing: bool,
}

/// A worker's leases on a PostgreSQL store (see the module doc).
pub struct HeldAccounts {
    store: PgStore,
    worker_id: i64,
    ttl: Duration,
    key: SessionKey,
    fences: Arc<LeaseFences>,
    accounts: Mutex<HashMap<i64, Held>>,
    /// The pool the accounts' data is written through: sized to the accounts held.
    data: Option<PgStore>,
}

impl HeldAccounts {
    /// The leases of worker `worker_id`, lasting `ttl`; `fences` is shared with the store backend,
    /// whose writes it fences; `key` opens the accounts' sessions; `data`, the pool the accounts'
    /// data is written through, is sized to the accounts held after each round.
    pub fn new(
        store: PgStore,
        worker_id: i64,
        ttl: Duration,
        key: SessionKey,
        fences: Arc<LeaseFences>,
        data: Option<PgStore>,
    ) -> Arc<Self> {
        Arc::new(HeldAccounts {
            store,
            worker_id,
            ttl,
            key,
            fences,
            accounts: Mutex::new(HashMap::new()),
            data,
        })
    }

    /// The pool the sessions are read from.
    pub fn store(&self) -> &PgStore {
        &self.store
    }

    /// Marks this worker alive on its machine (see [`WorkerMark`]) for as long as the mark is kept.
    pub(crate) async fn mark_alive(&self) -> Option<WorkerMark> {
        match self.store.worker_key(self.worker_id).await {
            Ok(key) => WorkerMark::hold(&key),
            Err(e) => {
                tracing::debug!(error = %e, "could not read this worker's key");
                None
            }
        }
    }

    /// Whether the lease on `account_id` was taken over from a worker that ran on this machine and
    /// has exited since, so that its Telegram connection closed with it.
    pub(crate) fn previous_holder_exited(&self, account_id: i64) -> bool {
        self.lease(account_id)
            .and_then(|l| l.previous_key)
            .is_some_and(|key| WorkerMark::exited(&key))
    }

    /// The key that opens the accounts' sealed auth keys.
    pub(crate) fn session_key(&self) -> &SessionKey {
        &self.key
    }

    /// The lease on `account_id`, while this worker may act for it.
    pub fn lease(&self, account_id: i64) -> Option<AccountLease> {
        self.fences
            .get(account_id)
            .filter(|l| l.is_live(Instant::now()))
    }

    /// Cancelled when the lease on `account_id` is lost or handed back; `None` when not held.
    pub fn token(&self, account_id: i64) -> Option<CancellationToken> {
        self.lock()
            .get(&account_id)
            .filter(|h| !h.releasing && !h.token.is_cancelled())
            .map(|h| h.token.clone())
    }

    /// The accounts held (and not being handed back), ascending.
    pub(crate) fn account_ids(&self) -> Vec<i64> {
        let mut ids: Vec<i64> = self
            .lock()
            .iter()
            .filter(|(_, h)| !h.releasing && !h.token.is_cancelled())
            .map(|(id, _)| *id)
            .collect();
        ids.sort_unstable();
        ids
    }

    /// One round: renew, claim up to the fair share, hand back what is over it (once its connection
    /// is closed). Returns how soon another worker's lease expires (when its accounts may need
    /// taking over), if one does.
    pub async fn round(
        &self,
        connections: &dyn OpenConnections,
    ) -> Result<Option<Duration>, PgError> {
        let held = self.fences.all();
        if !held.is_empty() {
            let renewal = self
                .store
                .renew_leases(self.worker_id, &held, self.ttl)
                .await?;
            for lease in renewal.kept {
                self.renewed(lease);
            }
            for lease in renewal.lost {
                self.lose(lease.account_id, "taken over by another worker or expired");
            }
        } else {
            self.store
                .renew_leases(self.worker_id, &[], self.ttl)
                .await?;
        }
        // A worker not heard from for a lease time has lost its leases: it counts for no share.
        let balance = self.store.balance(self.worker_id, self.ttl).await?;
        if balance.to_claim() > 0 {
            for lease in self
                .store
                .claim_leases(self.worker_id, balance.to_claim(), self.ttl)
                .await?
            {
                self.adopt(lease);
            }
        }
        // Over the share: stop the highest accounts first; hand each back once nothing uses it.
        let surplus = balance.surplus();
        if surplus > 0 {
            let mut ids = self.account_ids();
            ids.reverse();
            for id in ids.into_iter().take(surplus) {
                if let Some(h) = self.lock().get_mut(&id) {
                    h.releasing = true;
                    h.token.cancel();
                    tracing::info!(
                        account_id = id,
                        "handing an account back to balance the workers"
                    );
                }
            }
        }
        let releasing: Vec<i64> = self
            .lock()
            .iter()
            .filter(|(_, h)| h.releasing)
            .map(|(id, _)| *id)
            .collect();
        for id in releasing {
            if connections.is_open(id) != Some(false) {
                continue;
            }
            if let Some(lease) = self.fences.get(id) {
                self.store.release_lease(&lease).await?;
            }
            self.forget(id);
        }
        if let Some(data) = &self.data {
            data.fit_pool(self.account_ids().len());
        }
        Ok(balance.next_expiry)
    }

    /// Runs rounds until `cancel` (or until `done` says the work is over, for `run --once`, which is
    /// asked every [`DONE_POLL`] between rounds). The first round waits [`SETTLE`] unless `done` is
    /// given: workers started together see each other before they claim, instead of the first taking
    /// every account and handing most back.
    pub async fn run(
        self: Arc<Self>,
        connections: Arc<dyn OpenConnections>,
        done: Option<Box<dyn Fn() -> bool + Send + Sync>>,
        cancel: CancellationToken,
    ) -> Result<(), PgError> {
        let every = self.ttl / 3;
        if done.is_none() {
            // Registered already (the supervisor did): peers starting now register within this.
            self.store
                .renew_leases(self.worker_id, &[], self.ttl)
                .await?;
            tokio::select! {
                _ = cancel.cancelled() => return Ok(()),
                _ = tokio::time::sleep(SETTLE.min(every)) => {}
            }
        }
        loop {
            let started = Instant::now();
            // Renewals come every third of the lease time; a round comes sooner when another
            // worker's lease is about to expire, so a dead worker's accounts are taken over within
            // the lease time rather than up to a round after it.
            let mut next = started + every;
            match tokio::time::timeout(every, self.round(connections.as_ref())).await {
                Ok(Ok(expiry)) => {
                    if let Some(e) = expiry {
                        next = next.min(started + e + EXPIRY_SLACK);
                    }
                }
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "could not renew or claim account leases; retrying")
                }
                Err(_) => tracing::warn!(
                    "renewing account leases took longer than a third of the lease time"
                ),
            }
            while Instant::now() < next {
                if done.as_ref().is_some_and(|d| d()) {
                    return Ok(());
                }
                let nap = match &done {
                    Some(_) => DONE_POLL.min(next.saturating_duration_since(Instant::now())),
                    None => next.saturating_duration_since(Instant::now()),
                };
                tokio::select! {
                    _ = cancel.cancelled() => return Ok(()),
                    _ = tokio::time::sleep(nap) => {}
                }
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Held>> {
        self.accounts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A new lease: held, fenced, watched.
    fn adopt(&self, lease: AccountLease) {
        let id = lease.account_id;
        let (deadline, mut watched) = watch::channel(lease.deadline);
        let token = CancellationToken::new();
        self.fences.hold(lease);
        self.lock().insert(
            id,
            Held {
                token: token.clone(),
                deadline,
                releasing: false,
            },
        );
        // The watchdog: the account stops at its deadline unless a renewal moved it.
        let fences = Arc::clone(&self.fences);
        tokio::spawn(async move {
            loop {
                let until = *watched.borrow_and_update();
                tokio::select! {
                    _ = token.cancelled() => return,
                    changed = watched.changed() => if changed.is_err() { return },
                    _ = tokio::time::sleep_until(until.into()) => {
                        if *watched.borrow() <= Instant::now() {
                            tracing::warn!(account_id = id, "account lease not renewed in time; stopping the account");
                            fences.drop_account(id);
                            token.cancel();
                            return;
                        }
                    }
                }
            }
        });
    }

    fn renewed(&self, lease: AccountLease) {
        let id = lease.account_id;
        let deadline = lease.deadline;
        if let Some(h) = self.lock().get(&id) {
            if h.token.is_cancelled() && !h.releasing {
                return;
            }
            let _ = h.deadline.send(deadline);
        } else {
            return;
        }
        self.fences.hold(lease);
    }

    fn lose(&self, account_id: i64, why: &str) {
        tracing::warn!(account_id, why, "account lease lost; stopping the account");
        self.fences.drop_account(account_id);
        if let Some(h) = self.lock().remove(&account_id) {
            h.token.cancel();
        }
    }

    fn forget(&self, account_id: i64) {
        self.fences.drop_account(account_id);
        self.lock().remove(&account_id);
    }
}
