//! The PostgreSQL store behind the same traits as the SQLite one ([`crate::Storage`]).
//!
//! [`PgBackend`] answers the store traits' synchronous calls by running each one on the async
//! runtime (`Handle::block_on`) over the connection pool, so the service reaches PostgreSQL through the
//! very calls it makes on SQLite (`AsyncStore` runs them on the blocking pool). Each call is one
//! transaction, under a time limit (tokio-postgres has none of its own), and writes are set-based
//! (`unnest` arrays) so a page of posts costs a handful of round trips, not one per post.
//!
//! When the backend belongs to a worker it carries that worker's [`LeaseFences`]: every write of an
//! account's data then checks the account's lease in its transaction ([`super::fence`]) and fails with
//! [`super::PgError::LeaseLost`] once another worker took the account over.
//!
//! Files: this one is the plumbing; one file per store trait beside it, as in `src/store/`.

mod accounts;
mod alerts;
mod channels;
mod client_state;
mod comments;
mod counts;
mod downloads;
mod export;
mod imports;
mod jobs;
mod live;
mod media;
mod search;
mod stats;
pub(crate) mod tagging;
mod trends;
mod watches;
mod web_sessions;
mod workers;

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use deadpool_postgres::Transaction;
use tokio::runtime::Handle;

use super::{AccountLease, PgError, PgStore, fence};
use crate::StoreError;

/// The LISTEN/NOTIFY channel a job queued (or retried) is announced on: workers run it at once
/// instead of at their next poll.
pub const JOBS_CHANNEL: &str = "tgsift_jobs";
/// The LISTEN/NOTIFY channel a channel added (or resumed) is announced on: workers' account managers
/// look at once.
pub const CHANNELS_CHANNEL: &str = "tgsift_channels";

/// How long one store call may take before it fails (a hung connection must not hang the worker).
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// The leases a worker holds, by account id: what its writes are fenced with.
#[derive(Debug, Default)]
pub struct LeaseFences {
    leases: RwLock<HashMap<i64, AccountLease>>,
}

impl LeaseFences {
    /// Records a lease claimed or renewed (replacing the account's previous one).
    pub fn hold(&self, lease: AccountLease) {
        self.write().insert(lease.account_id, lease);
    }

    /// Forgets the lease of `account_id` (lost or released).
    pub fn drop_account(&self, account_id: i64) {
        self.write().remove(&account_id);
    }

    /// The lease of `account_id`, if this worker holds it.
    pub fn get(&self, account_id: i64) -> Option<AccountLease> {
        self.leases
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&account_id)
            .cloned()
    }

    /// Every lease held, by account id.
    pub fn all(&self) -> Vec<AccountLease> {
        let mut all: Vec<AccountLease> = self
            .leases
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect();
        all.sort_by_key(|l| l.account_id);
        all
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<i64, AccountLease>> {
        self.leases.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The PostgreSQL store as the service's storage (see the module doc).
#[derive(Debug)]
pub struct PgBackend {
    store: PgStore,
    runtime: Handle,
    leases: Option<Arc<LeaseFences>>,
    /// The accounts the running call's writes are fenced by, checked right before it commits.
    fenced: std::sync::Mutex<Vec<i64>>,
}

impl Clone for PgBackend {
    /// A backend for another call: same pool, runtime and leases, nothing fenced yet.
    fn clone(&self) -> Self {
        PgBackend {
            store: self.store.clone(),
            runtime: self.runtime.clone(),
            leases: self.leases.clone(),
            fenced: std::sync::Mutex::new(Vec::new()),
        }
    }
}

/// What a call's body fails with before the action is named.
pub(crate) enum Fail {
    Sql(tokio_postgres::Error),
    Pg(PgError),
}

impl From<tokio_postgres::Error> for Fail {
    fn from(e: tokio_postgres::Error) -> Self {
        Fail::Sql(e)
    }
}

impl From<PgError> for Fail {
    fn from(e: PgError) -> Self {
        Fail::Pg(e)
    }
}

impl PgBackend {
    /// A backend on `store` whose calls run on `runtime`; writes are not fenced (admin commands,
    /// `db copy`, tests).
    pub fn new(store: PgStore, runtime: Handle) -> Self {
        PgBackend {
            store,
            runtime,
            leases: None,
            fenced: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// The same backend with every write of an account's data fenced by the lease in `leases`.
    pub fn fenced(mut self, leases: Arc<LeaseFences>) -> Self {
        self.leases = Some(leases);
        self
    }

    /// The pool.
    pub fn store(&self) -> &PgStore {
        &self.store
    }

    /// Runs `work` on the backend's runtime from this (non-async) thread: for callers that use the
    /// pool directly beside the traits. The pool's connections are driven by that runtime, so work
    /// on them must run there, not on another runtime.
    pub fn block_on<F: std::future::Future>(&self, work: F) -> F::Output {
        self.runtime.block_on(work)
    }

    /// Runs `body` in one transaction, blocking this (non-async) thread until it is done.
    pub(crate) fn tx<T>(
        &self,
        what: &str,
        body: impl AsyncFnOnce(&Transaction<'_>) -> Result<T, Fail>,
    ) -> Result<T, StoreError> {
        let error = |source: PgError| StoreError::Postgres {
            what: what.to_string(),
            source,
        };
        self.pending().clear();
        let work = async {
            let mut client = self
                .store
                .client("run a statement")
                .await
                .map_err(Fail::Pg)?;
            let tx = client.transaction().await?;
            let out = body(&tx).await?;
            // The leases the writes need are checked last, so a lease row is locked only for the
            // moment before the commit (a long write never holds up its worker's renewals).
            let accounts: Vec<i64> = std::mem::take(&mut *self.pending());
            for account_id in accounts {
                self.check_fence(&tx, account_id).await?;
            }
            tx.commit().await?;
            Ok(out)
        };
        let timed = async {
            match tokio::time::timeout(CALL_TIMEOUT, work).await {
                Ok(out) => out,
                Err(_) => Err(Fail::Pg(PgError::TimedOut {
                    after: CALL_TIMEOUT,
                })),
            }
        };
        self.runtime.block_on(timed).map_err(|fail| match fail {
            Fail::Sql(source) => error(PgError::Sql {
                what: "run a statement",
                source,
            }),
            Fail::Pg(e) => error(e),
        })
    }

    /// Fences the running write by the lease of `account_id`: fails at once when this worker does not
    /// hold it, and checks it again ([`fence`]) in the transaction right before the commit (nothing to
    /// check when the backend is not a worker's).
    pub(crate) async fn fence_account(
        &self,
        _tx: &Transaction<'_>,
        account_id: i64,
    ) -> Result<(), Fail> {
        let Some(leases) = &self.leases else {
            return Ok(());
        };
        if leases.get(account_id).is_none() {
            return Err(Fail::Pg(PgError::NotLeased { account_id }));
        }
        let mut pending = self.pending();
        if !pending.contains(&account_id) {
            pending.push(account_id);
        }
        Ok(())
    }

    async fn check_fence(&self, tx: &Transaction<'_>, account_id: i64) -> Result<(), Fail> {
        let lease = self.leases.as_ref().and_then(|l| l.get(account_id));
        match lease {
            Some(lease) => Ok(fence(tx, &lease).await?),
            None => Err(Fail::Pg(PgError::NotLeased { account_id })),
        }
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, Vec<i64>> {
        self.fenced.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// [`PgBackend::fence_account`] for the account that follows `channel_id`.
    pub(crate) async fn fence_channel(
        &self,
        tx: &Transaction<'_>,
        channel_id: i64,
    ) -> Result<(), Fail> {
        if self.leases.is_none() {
            return Ok(());
        }
        let account: Option<i64> = tx
            .query_opt(
                "SELECT account_id FROM channels WHERE id = $1",
                &[&channel_id],
            )
            .await?
            .map(|r| r.get(0));
        match account {
            Some(account_id) => self.fence_account(tx, account_id).await,
            // A channel removed meanwhile: the write that follows changes nothing.
            None => Ok(()),
        }
    }
}

impl crate::Storage for PgBackend {
    fn schema_version(&self) -> Result<usize, StoreError> {
        self.tx("read the schema version", async |tx| {
            let version: i64 = tx
                .query_one(
                    "SELECT coalesce(max(version), 0)::bigint FROM refinery_schema_history",
                    &[],
                )
                .await?
                .get(0);
            Ok(usize::try_from(version).unwrap_or(0))
        })
    }

    /// A database server has no file to lose under the service: nothing to check.
    fn check_file(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
