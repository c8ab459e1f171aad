//! The long-running service behind `tgsift run`: a [`Supervisor`] that owns every task.
//!
//! - `accounts`: every few seconds, looks at the database and starts an ingest task for each account
//!   that has active channels and is not running yet — so accounts and channels added while the
//!   service runs are picked up within one poll interval, and an account whose session another process
//!   holds (`tgsift channels add` on the same account, a second worker) is left alone until it is free.
//! - `ingest:<account>`: one per account ([`crate::ingest::account::AccountTask`]).
//! - `tagging`: the tagging pipeline, beside ingest.
//! - `search-index`: adds stored posts to the search index behind ingest (stemming off the writer).
//!   `--once` leaves the queue to the next search or service run, which index it first.
//! - `jobs`: runs durable admin jobs ([`crate::ops::jobs`]) queued by the CLI or the HTTP API.
//! - `alerts`: delivers alerts to their sinks and checks the slow alert rules ([`crate::alerts`]).
//! - `watches`: decides stored posts against the watches and delivers their matches
//!   ([`crate::watches`]).
//! - `http`: the HTTP API, `/metrics` and health checks, when `[http] listen` is set ([`crate::http`]).
//!
//! Every task that talks to Telegram goes through the process's [`Connections`]: one
//! connection (and session lease) per account, shared by its ingest task, jobs and alerts.
//!
//! With `--once` there is no manager: one ingest task per busy account syncs each channel once, the
//! tagging task keeps up beside them and drains what is due once they are done, and the run ends.
//!
//! On a PostgreSQL store several workers share the accounts: a `leases` task keeps this worker's
//! account leases ([`HeldAccounts`]), only leased accounts get an ingest task (stopped when
//! the lease is lost), and every write of an account's data is fenced by its lease.

#[cfg(feature = "sim")]
pub(crate) mod demo;
pub(crate) mod notify;
pub(crate) mod supervisor;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

pub use supervisor::{Restart, Supervisor};

use crate::task::TaskError;

use tgsift_store::postgres::backend::LeaseFences;
use tgsift_store::{AccountRow, AsyncStore};

use crate::alerts::Alerts;
use crate::config::{Config, ConfigError};
use crate::ingest::account::{AccountTask, RunOptions, RunSummary, Tally};
use crate::ingest::progress::Progress;
use crate::metrics::Metrics;
use crate::ops::Ops;
use crate::tagging::worker::{PassReport, Pipeline};
use crate::telegram::client::Policy;
use crate::telegram::connections::Connections;
use crate::telegram::held_accounts::HeldAccounts;
use crate::telegram::session::{SessionError, SessionKey};
use crate::telegram::session_lock::SessionLock;

/// How long tasks get to finish after a shutdown request (the rest is abandoned; the process exits).
pub(crate) const SHUTDOWN_GRACE: Duration = Duration::from_millis(4_500);

/// What a run did, beyond ingest: the tagging figures of `run --once`.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Ingest per channel and the client's counters.
    pub ingest: RunSummary,
    /// Tagging done during the run (`--once` only; the service logs its passes).
    pub tagging: PassReport,
    /// Active channels in the database when the run ended (a live run may fetch none by polling).
    pub active_channels: usize,
}

/// Opens the database `config` names and its tagging pipeline, then runs the service on them (see
/// [`run`]); a tagging backend that cannot be set up is a configuration error.
pub async fn start(
    config: &Config,
    opts: RunOptions,
    cancel: CancellationToken,
) -> anyhow::Result<Report> {
    let store = AsyncStore::open_database(&config.storage.database).await?;
    let pipeline = Pipeline::from_config(&config.tagging, store.clone())
        .map_err(|e| ConfigError::Inconsistent(format!("tagging backend: {e}")))?;
    run(config, store, opts, pipeline, cancel).await
}

/// Runs the service until `cancel` (or, with `opts.once`, until every active channel was synced once
/// and everything due was tagged). Fails when a task failed for good: a fatal database error, or in
/// `--once` any task error.
pub async fn run(
    config: &Config,
    store: AsyncStore,
    opts: RunOptions,
    pipeline: Option<Arc<Pipeline>>,
    cancel: CancellationToken,
) -> anyhow::Result<Report> {
    let started = Instant::now();
    let busy = busy_accounts(&store).await?;
    // `--once` runs the queued jobs first (a channel `channels add` queued): they may need Telegram.
    let queued = opts.once && jobs_queued(&store).await?;
    if opts.once && busy.is_empty() && !queued && pipeline.is_none() {
        return Ok(Report::default());
    }
    let api_id = match config.telegram.api_id() {
        Ok(id) => id,
        Err(_) if busy.is_empty() && !queued && opts.once => 0,
        Err(e) => return Err(e.into()),
    };
    // Checked before anything starts: a public address without a token is a configuration error.
    let listen = crate::http::listen_addr(&config.http)?;
    // So is an address something else already listens on.
    let bound = match listen {
        Some(addr) => Some(crate::http::bind(addr).await?),
        None => None,
    };
    let bound = std::sync::Mutex::new(bound);
    // A PostgreSQL store: sessions are sealed in the database, and every write of an account's data
    // is fenced by this worker's lease on it.
    let shared = match store.as_postgres() {
        Some(pg) => {
            let key = SessionKey::from_env().map_err(SessionError::from)?;
            let fences = Arc::new(LeaseFences::default());
            let store = AsyncStore::postgres(pg.clone().fenced(Arc::clone(&fences)));
            // SessionLock renewals never wait for a connection behind ingest's writes.
            let own = pg
                .store()
                .dedicated(2)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            Some((store, key, fences, own, pg.store().clone()))
        }
        None => None,
    };
    let store = match &shared {
        Some((fenced, ..)) => fenced.clone(),
        None => store,
    };
    let sup = Supervisor::start(store.clone(), cancel.clone()).await?;
    let leases = shared.map(|(_, key, fences, pg, data)| {
        let ttl = Duration::from_secs_f64(config.storage.lease_time);
        HeldAccounts::new(pg, sup.worker_id(), ttl, key, fences, Some(data))
    });
    // Held until the run ends: a crash leaves it unlocked for the workers of this machine.
    let _alive = match &leases {
        Some(l) => l.mark_alive().await,
        None => None,
    };
    let metrics = service_metrics();
    let mut connections = Connections::new(
        store.clone(),
        Policy::from(&config.telegram),
        api_id,
        Some(Arc::clone(&metrics)),
        sup.cancel_token(),
    );
    if let Some(l) = &leases {
        connections = connections.with_leases(Arc::clone(l));
    }
    let connections = Arc::new(connections);
    let alerts = Arc::new(Alerts::new(
        store.clone(),
        config.alerts.clone(),
        Some(Arc::clone(&metrics)),
    ));
    if let Some(p) = &pipeline {
        p.set_metrics(Arc::clone(&metrics));
    }
    let template = AccountTask {
        account_id: 0,
        name: String::new(),
        store: store.clone(),
        connections: Arc::clone(&connections),
        alerts: Some(Arc::clone(&alerts)),
        metrics: Some(Arc::clone(&metrics)),
        opts: opts.clone(),
        progress: Arc::new(Progress::new(opts.progress)),
        tally: Arc::new(Tally::default()),
        // Logged every minute by each ingest task, and served on /metrics.
        ingest_metrics: Arc::clone(&metrics.ingest),
        downloads: crate::media::Downloads::from_config(&config.media),
    };
    let wake = notify::Wakeups::default();
    let accounts = AccountSpawner {
        sup: sup.clone(),
        template: template.clone(),
        leases: leases.clone(),
        wake: Arc::clone(&wake.channels),
    };
    let tagging = Arc::new(std::sync::Mutex::new(PassReport::default()));
    if opts.once {
        if let Some(l) = &leases {
            // Claim this worker's share first; other workers' accounts are theirs to sync.
            l.round(connections.as_ref())
                .await
                .map_err(|e| anyhow::anyhow!("could not claim account leases: {e}"))?;
            let (l2, c, sup2) = (Arc::clone(l), Arc::clone(&connections), sup.clone());
            sup.spawn("leases", Restart::Never, move |cancel| {
                let (l, c, sup) = (Arc::clone(&l2), Arc::clone(&c), sup2.clone());
                async move {
                    let done: Box<dyn Fn() -> bool + Send + Sync> = Box::new(move || {
                        !sup.any_running("ingest:")
                            && !sup.any_running("tagging")
                            && !sup.any_running("watches")
                    });
                    l.run(c, Some(done), cancel).await.map_err(TaskError::retry)
                }
            });
        }
        if queued {
            // Before fetching: a job may add the channel this run is meant to fetch.
            let ops = Ops {
                store: store.clone(),
                config: Arc::new(config.clone()),
                pipeline: pipeline.clone(),
                connections: Arc::clone(&connections),
            };
            let ran = crate::ops::jobs::run_due_jobs(&ops, sup.worker_id(), Some(&alerts), &cancel)
                .await?;
            tracing::info!(jobs = ran, "queued jobs ran before fetching");
        }
        let busy = if queued {
            busy_accounts(&store).await?
        } else {
            busy
        };
        for a in &busy {
            accounts.spawn(a, Restart::Never);
        }
        if let Some(p) = pipeline {
            let (sup2, report) = (sup.clone(), Arc::clone(&tagging));
            sup.spawn("tagging", Restart::Never, move |cancel| {
                let (p, sup, report) = (Arc::clone(&p), sup2.clone(), Arc::clone(&report));
                async move {
                    let r = p
                        .run_until_idle(|| !sup.any_running("ingest:"), &cancel)
                        .await?;
                    *report.lock().unwrap_or_else(|e| e.into_inner()) = r;
                    Ok(())
                }
            });
        }
        // The run's posts are decided once they are tagged; matches go out before the run ends.
        let (w, c, sup2) = (
            Arc::new(crate::watches::Watches::new(store.clone())),
            Arc::clone(&connections),
            sup.clone(),
        );
        sup.spawn("watches", Restart::Never, move |cancel| {
            let (w, c, sup) = (Arc::clone(&w), Arc::clone(&c), sup2.clone());
            async move {
                while sup.any_running("ingest:") || sup.any_running("tagging") {
                    tokio::select! {
                        _ = cancel.cancelled() => return Ok(()),
                        _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                    }
                }
                w.once(&c).await.map_err(TaskError::from)
            }
        });
    } else {
        let s = store.clone();
        sup.spawn("search-index", Restart::OnFailure, move |cancel| {
            search_index(s.clone(), cancel)
        });
        if let Some(held) = &leases {
            let (l, c) = (Arc::clone(held), Arc::clone(&connections));
            sup.spawn("leases", Restart::OnFailure, move |cancel| {
                let (l, c) = (Arc::clone(&l), Arc::clone(&c));
                async move { l.run(c, None, cancel).await.map_err(TaskError::retry) }
            });
            let (pg, w) = (held.store().clone(), wake.clone());
            sup.spawn("notify", Restart::OnFailure, move |cancel| {
                notify::listen(pg.clone(), w.clone(), cancel)
            });
        }
        let spawner = accounts.clone();
        sup.spawn("accounts", Restart::OnFailure, move |cancel| {
            manage_accounts(spawner.clone(), cancel)
        });
        if let Some(p) = pipeline.clone() {
            sup.spawn("tagging", Restart::OnFailure, move |cancel| {
                let p = Arc::clone(&p);
                async move { p.run_forever(cancel).await.map_err(TaskError::from) }
            });
        }
        let ops = Ops {
            store: store.clone(),
            config: Arc::new(config.clone()),
            pipeline,
            connections: Arc::clone(&connections),
        };
        let (o, a, worker) = (ops.clone(), Arc::clone(&alerts), sup.worker_id());
        let jobs_wake = Arc::clone(&wake.jobs);
        sup.spawn("jobs", Restart::OnFailure, move |cancel| {
            crate::ops::jobs::run_jobs(
                o.clone(),
                worker,
                Some(Arc::clone(&a)),
                Arc::clone(&jobs_wake),
                cancel,
            )
        });
        let (a, c) = (Arc::clone(&alerts), Arc::clone(&connections));
        sup.spawn("alerts", Restart::OnFailure, move |cancel| {
            Arc::clone(&a).run(Arc::clone(&c), cancel)
        });
        let (w, c) = (
            Arc::new(crate::watches::Watches::new(store.clone())),
            Arc::clone(&connections),
        );
        sup.spawn("watches", Restart::OnFailure, move |cancel| {
            Arc::clone(&w).run(Arc::clone(&c), cancel)
        });
        if let Some(addr) = listen {
            let state = crate::http::AppState::new(
                ops,
                Arc::clone(&metrics),
                Arc::new(sup.clone()),
                &config.http,
            );
            sup.spawn("http", Restart::OnFailure, move |cancel| {
                // The listener bound at startup the first time, a new one after a restart.
                let first = bound.lock().unwrap_or_else(|p| p.into_inner()).take();
                crate::http::serve(state.clone(), addr, first, cancel)
            });
        }
    }
    sup.wait(SHUTDOWN_GRACE).await?;
    let failures = sup.failures();
    if !failures.is_empty() {
        anyhow::bail!("{}", failures.join("\n"));
    }
    let mut ingest = template.tally.summary();
    ingest.elapsed = started.elapsed();
    ingest.interrupted = cancel.is_cancelled();
    let tagging = *tagging.lock().unwrap_or_else(|e| e.into_inner());
    let active_channels = store
        .read("count active channels", |s| {
            Ok(s.channels()?.iter().filter(|c| c.active).count())
        })
        .await?;
    Ok(Report {
        ingest,
        tagging,
        active_channels,
    })
}

/// How long the `search-index` task sleeps when nothing is queued.
const SEARCH_INDEX_IDLE: Duration = Duration::from_secs(1);

/// The `search-index` task: indexes queued posts batch by batch behind ingest until cancelled.
/// After each batch it rests as long as the batch took, so during a backfill indexing takes at most
/// about half a core and the writer is free for ingest half the time; at a live rate it keeps up
/// with room to spare, and a search catches up on whatever is left.
async fn search_index(store: AsyncStore, cancel: CancellationToken) -> Result<(), TaskError> {
    loop {
        let started = Instant::now();
        let rest = if store.index_search_batch().await? > 0 {
            started.elapsed()
        } else {
            SEARCH_INDEX_IDLE
        };
        tokio::select! {
            _ = cancel.cancelled() => return Ok(()),
            _ = tokio::time::sleep(rest) => {}
        }
    }
}

/// Accounts with at least one active channel that the service may serve (not stopped as logged out).
async fn busy_accounts(store: &AsyncStore) -> Result<Vec<AccountRow>, tgsift_store::StoreError> {
    store
        .read("list busy accounts", |s| {
            let busy = s.accounts_with_active_channels()?;
            Ok(s.accounts()?
                .into_iter()
                .filter(|a| a.disabled_reason.is_none() && busy.contains(&a.id))
                .collect())
        })
        .await
}

/// Whether any job waits in the queue (due or not).
async fn jobs_queued(store: &AsyncStore) -> Result<bool, tgsift_store::StoreError> {
    store
        .read("count queued jobs", |s| {
            Ok(s.job_counts()?.get("queued").is_some_and(|n| *n > 0))
        })
        .await
}

fn task_name(a: &AccountRow) -> String {
    format!("ingest:{}", a.name)
}

/// Starts accounts' ingest tasks; on a PostgreSQL store only for leased accounts, each stopped when
/// its lease is lost.
#[derive(Clone)]
struct AccountSpawner {
    sup: Supervisor,
    template: AccountTask,
    leases: Option<Arc<HeldAccounts>>,
    /// Notified when a channel was added or resumed (PostgreSQL NOTIFY): look at once.
    wake: Arc<tokio::sync::Notify>,
}

impl AccountSpawner {
    /// Whether this worker may serve `a` now (always on SQLite; on PostgreSQL while it holds it).
    fn serves(&self, a: &AccountRow) -> bool {
        self.leases
            .as_ref()
            .is_none_or(|l| l.token(a.id).is_some_and(|t| !t.is_cancelled()))
    }

    fn spawn(&self, a: &AccountRow, restart: Restart) {
        if !self.serves(a) {
            return;
        }
        let task = AccountTask {
            account_id: a.id,
            name: a.name.clone(),
            ..self.template.clone()
        };
        let (leases, id) = (self.leases.clone(), a.id);
        self.sup.spawn(task_name(a), restart, move |cancel| {
            let task = task.clone();
            // The lease as it is at each (re)start: a task restarted after its lease was lost ends,
            // and the accounts task starts it again if the lease comes back.
            let lost = leases.as_ref().map(|l| l.token(id));
            async move {
                let lost = match lost {
                    Some(Some(token)) => Some(token),
                    Some(None) => return Ok(()),
                    None => None,
                };
                // Stops with the service, and when the account's lease is lost.
                let stop = cancel.child_token();
                if let Some(lost) = lost {
                    let s = stop.clone();
                    tokio::spawn(async move {
                        tokio::select! {
                            _ = lost.cancelled() => s.cancel(),
                            _ = s.cancelled() => {}
                        }
                    });
                }
                task.run(stop).await
            }
        });
    }
}

/// The `accounts` task: starts an ingest task for every busy account that is not running, every few
/// seconds, leaving alone accounts whose session another process holds (on PostgreSQL: accounts
/// another worker holds the lease on).
async fn manage_accounts(
    accounts: AccountSpawner,
    cancel: CancellationToken,
) -> Result<(), TaskError> {
    let every = accounts
        .template
        .opts
        .poll_interval
        .min(Duration::from_secs(5));
    let mut told: HashSet<String> = HashSet::new();
    loop {
        for a in busy_accounts(&accounts.template.store).await? {
            let name = task_name(&a);
            if accounts.sup.is_running(&name) || !accounts.serves(&a) {
                continue;
            }
            // A lease this process holds is one of its shared connections (an admin job on the
            // account): the ingest task joins it.
            if accounts.leases.is_none()
                && let Some(h) =
                    SessionLock::holder(&a.session_path).filter(|h| !h.is_this_process())
            {
                if told.insert(format!("{}:{}:{}", a.name, h.pid, h.host)) {
                    tracing::warn!(account = %a.name, holder = %h.describe(), "the account's session is in use by another process; waiting for it");
                }
                continue;
            }
            told.retain(|k| !k.starts_with(&format!("{}:", a.name)));
            accounts.spawn(&a, Restart::OnFailure);
        }
        tokio::select! {
            _ = cancel.cancelled() => return Ok(()),
            _ = tokio::time::sleep(every) => {}
            _ = accounts.wake.notified() => {}
        }
    }
}

/// The service's metrics with every layer's families registered up front, so `/metrics` lists
/// them all from the first scrape, in the order layers are stacked.
fn service_metrics() -> Arc<Metrics> {
    let metrics = Arc::new(Metrics::new());
    metrics.of::<crate::telegram::metrics::ClientMetrics>();
    metrics.of::<crate::ingest::metrics::IngestFamilies>();
    metrics.of::<crate::ops::figures::DbFigures>();
    metrics.of::<crate::tagging::worker::TaggingFamilies>();
    metrics.of::<crate::alerts::AlertFamilies>();
    metrics.of::<crate::http::HttpFamilies>();
    metrics
}
