//! [`AsyncStore`]: the database for async tasks — on SQLite one writer, many readers; on PostgreSQL
//! every call on the blocking pool over the connection pool ([`PgBackend`]).
//!
//! SQLite allows one writer at a time but, in WAL mode, any number of readers beside it. So every write
//! goes to one dedicated thread that owns the read-write connection (writes queue there in order and
//! never contend for SQLite's lock among themselves), while reads run on tokio's blocking pool on a
//! small pool of read-only connections: a `posts list`, a stats query or a tagging claim's read never
//! waits behind a batch write, and the async runtime never blocks on the disk.
//!
//! The writer serves two queues. Background writes ([`AsyncStore::with_background`]: tagging's claims
//! and outcomes, which write more per post than storing it did) run when no other write is queued —
//! but while other writes keep the writer more than half busy (a backfill's pages, a few milliseconds
//! apart), only once those have paused for [`BACKGROUND_QUIET`], or after waiting
//! [`BACKGROUND_MAX_WAIT`]. So a backfill's pages are stored first and tagging catches up behind them,
//! while many small writes (a thousand channels polled) leave room for tagging beside them.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::postgres::PgStore;
use crate::postgres::backend::PgBackend;
use crate::sqlite::checkpoint::Checkpointer;
use crate::{SqliteStore, Storage, StoreError};

/// Idle read-only connections kept for reuse; more are opened when needed and closed after.
const IDLE_READERS: usize = 4;

/// The longest a background write waits behind other writes before it goes first: tagging slows
/// during a backfill but never stops, and its claims never expire unrenewed.
pub const BACKGROUND_MAX_WAIT: Duration = Duration::from_secs(1);

/// How long urgent writes must have paused before a background write starts while they keep the
/// writer busy: a backfill's pages arrive a few milliseconds apart, and a tagging batch started in
/// such a gap would hold up the next page for as long as it takes.
pub const BACKGROUND_QUIET: Duration = Duration::from_millis(20);

/// The span over which the writer's time on urgent writes is measured.
const LOAD_WINDOW: Duration = Duration::from_millis(250);

/// The share of [`LOAD_WINDOW`] spent on urgent writes above which the writer counts as busy.
const BUSY_SHARE: f64 = 0.5;

type Job = Box<dyn FnOnce(&mut SqliteStore) + Send>;

/// Writes waiting for the writer thread, by priority.
#[derive(Default)]
struct Queues {
    urgent: VecDeque<Job>,
    background: VecDeque<(Instant, Job)>,
    /// When the last urgent write finished, if it was the last write run.
    urgent_done: Option<Instant>,
    /// When the urgent write running now started.
    running_urgent: Option<Instant>,
    /// The load window: when it started, and the time urgent writes took in it.
    window: Option<(Instant, Duration)>,
    /// Urgent writes took more than [`BUSY_SHARE`] of the last full window.
    busy: bool,
    /// Every [`AsyncStore`] is gone: the thread finishes what is queued and ends.
    closed: bool,
}

/// What the writer does next.
enum Next {
    Run(Job),
    /// Only background writes wait, and urgent ones came recently: wait this long for more.
    WaitFor(Duration),
    Idle,
}

impl Queues {
    /// The write to run next: a background write that has waited too long, else the oldest urgent
    /// one, else the oldest background one — when the writer is busy, only once urgent writes have
    /// been quiet for [`BACKGROUND_QUIET`].
    fn next(&mut self, now: Instant) -> Next {
        let (start, mut spent) = *self.window.get_or_insert((now, Duration::ZERO));
        if let Some(began) = self.running_urgent.take() {
            self.urgent_done = Some(now);
            spent += now.saturating_duration_since(began.max(start));
        }
        let span = now.saturating_duration_since(start);
        self.window = Some(if span >= LOAD_WINDOW {
            self.busy = spent.as_secs_f64() > BUSY_SHARE * span.as_secs_f64();
            (now, Duration::ZERO)
        } else {
            (start, spent)
        });
        let Some((since, _)) = self.background.front() else {
            return match self.urgent.pop_front() {
                Some(job) => {
                    self.running_urgent = Some(now);
                    Next::Run(job)
                }
                None => Next::Idle,
            };
        };
        let overdue_at = *since + BACKGROUND_MAX_WAIT;
        if now < overdue_at {
            if let Some(job) = self.urgent.pop_front() {
                self.running_urgent = Some(now);
                return Next::Run(job);
            }
            if let Some(quiet_at) = self.urgent_done.map(|t| t + BACKGROUND_QUIET)
                && self.busy
                && now < quiet_at
            {
                return Next::WaitFor(quiet_at.min(overdue_at) - now);
            }
        }
        self.urgent_done = None;
        match self.background.pop_front() {
            Some((_, job)) => Next::Run(job),
            None => Next::Idle,
        }
    }
}

/// The queues and the condition the writer thread sleeps on.
#[derive(Default)]
struct WriteQueue {
    queues: Mutex<Queues>,
    ready: Condvar,
}

impl WriteQueue {
    fn push(&self, job: Job, background: bool) {
        let mut q = self.queues.lock().unwrap_or_else(|p| p.into_inner());
        if background {
            q.background.push_back((Instant::now(), job));
        } else {
            q.urgent.push_back(job);
        }
        drop(q);
        self.ready.notify_one();
    }

    /// Blocks until there is a write to run; `None` once closed and drained.
    fn pop(&self) -> Option<Job> {
        let mut q = self.queues.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            match q.next(Instant::now()) {
                Next::Run(job) => return Some(job),
                Next::WaitFor(d) => {
                    q = self
                        .ready
                        .wait_timeout(q, d)
                        .unwrap_or_else(|p| p.into_inner())
                        .0;
                }
                Next::Idle if q.closed => return None,
                Next::Idle => q = self.ready.wait(q).unwrap_or_else(|p| p.into_inner()),
            }
        }
    }

    fn close(&self) {
        self.queues.lock().unwrap_or_else(|p| p.into_inner()).closed = true;
        self.ready.notify_one();
    }
}

struct Shared {
    path: PathBuf,
    writer: Arc<WriteQueue>,
    /// The writer thread is running (it could be started).
    writer_alive: bool,
    readers: Mutex<Vec<SqliteStore>>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.writer.close();
    }
}

/// The database shared by async tasks: on SQLite writes on one writer thread and reads on read-only
/// connections; on PostgreSQL each call on the blocking pool, the database ordering the writes.
#[derive(Clone)]
pub struct AsyncStore {
    backend: Backend,
}

#[derive(Clone)]
enum Backend {
    Sqlite(Arc<Shared>),
    Postgres(PgBackend),
}

impl AsyncStore {
    /// Takes over an opened (migrated) store as the writer and starts its thread.
    pub fn new(store: SqliteStore) -> Self {
        let path = store.path().to_path_buf();
        let queue = Arc::new(WriteQueue::default());
        let name = format!("tgsift-db-writer:{}", path.display());
        let jobs = Arc::clone(&queue);
        // Checkpoints run beside the writer, not inside its commits (src/store/checkpoint.rs).
        let checkpointer = Checkpointer::start(&path).filter(|_| {
            store
                .conn
                .pragma_update(None, "wal_autocheckpoint", 0)
                .inspect_err(|e| tracing::warn!(error = %e, "the writer keeps checkpointing"))
                .is_ok()
        });
        let spawned = std::thread::Builder::new().name(name).spawn(move || {
            let mut store = store;
            // Ends when every AsyncStore clone is gone (the queue closes) and what was queued is done;
            // the checkpoint thread ends with it.
            while let Some(job) = jobs.pop() {
                // A panicking job loses only its own answer; the connection stays usable.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&mut store)));
                if let Some(c) = &checkpointer {
                    c.after_write(&store);
                }
            }
        });
        if let Err(e) = &spawned {
            tracing::error!(error = %e, "could not start the database writer thread");
        }
        AsyncStore {
            backend: Backend::Sqlite(Arc::new(Shared {
                path,
                writer: queue,
                writer_alive: spawned.is_ok(),
                readers: Mutex::new(Vec::new()),
            })),
        }
    }

    /// The PostgreSQL store behind the same calls.
    pub fn postgres(backend: PgBackend) -> Self {
        AsyncStore {
            backend: Backend::Postgres(backend),
        }
    }

    /// Opens the database `storage.database` names: a `postgres://` URL (migrated; calls run on the
    /// current runtime) or an SQLite file (see [`AsyncStore::open`]).
    pub async fn open_database(database: &std::path::Path) -> Result<Self, StoreError> {
        let url = match crate::Location::of(database) {
            crate::Location::Sqlite(path) => return Self::open(path).await,
            crate::Location::Postgres(url) => url,
        };
        let store = PgStore::open(&url)
            .await
            .map_err(|source| StoreError::Postgres {
                what: "open the database".into(),
                source,
            })?;
        Ok(Self::postgres(PgBackend::new(
            store,
            tokio::runtime::Handle::current(),
        )))
    }

    /// Opens and migrates the database at `path` off the runtime.
    pub async fn open(path: PathBuf) -> Result<Self, StoreError> {
        let what = format!("open {}", path.display());
        let store = tokio::task::spawn_blocking(move || SqliteStore::open(&path))
            .await
            .map_err(|e| task_error(&what, e))??;
        Ok(Self::new(store))
    }

    /// The SQLite database file; `None` for PostgreSQL.
    pub fn path(&self) -> Option<&std::path::Path> {
        match &self.backend {
            Backend::Sqlite(shared) => Some(&shared.path),
            Backend::Postgres(_) => None,
        }
    }

    /// The PostgreSQL backend, when the store is PostgreSQL (the lease manager shares its pool).
    pub fn as_postgres(&self) -> Option<&PgBackend> {
        match &self.backend {
            Backend::Sqlite(_) => None,
            Backend::Postgres(pg) => Some(pg),
        }
    }

    /// Runs `f` on the writer connection (in order with every other write); `what` names it in errors.
    pub async fn with<T: Send + 'static>(
        &self,
        what: &str,
        f: impl FnOnce(&mut dyn super::Storage) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.write(what, false, f).await
    }

    /// [`AsyncStore::with`] for bulk work that may wait: it runs when no other write is queued, or
    /// after [`BACKGROUND_MAX_WAIT`] (tagging's claims and outcomes, so ingest's pages go first).
    pub async fn with_background<T: Send + 'static>(
        &self,
        what: &str,
        f: impl FnOnce(&mut dyn super::Storage) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.write(what, true, f).await
    }

    async fn write<T: Send + 'static>(
        &self,
        what: &str,
        background: bool,
        f: impl FnOnce(&mut dyn super::Storage) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let shared = match &self.backend {
            Backend::Sqlite(shared) => shared,
            Backend::Postgres(pg) => {
                // PostgreSQL orders concurrent writes itself: no writer thread, no queues.
                let mut pg = pg.clone();
                return tokio::task::spawn_blocking(move || f(&mut pg as &mut dyn Storage))
                    .await
                    .map_err(|e| task_error(what, e))?;
            }
        };
        if !shared.writer_alive {
            return Err(StoreError::Task {
                what: what.to_string(),
                reason: "the database writer thread is gone".into(),
            });
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |store: &mut SqliteStore| {
            let _ = tx.send(f(store));
        });
        shared.writer.push(job, background);
        rx.await.map_err(|_| StoreError::Task {
            what: what.to_string(),
            reason: "the write panicked".into(),
        })?
    }

    /// Runs `f` on a read-only connection on the blocking pool, beside any write in progress.
    pub async fn read<T: Send + 'static>(
        &self,
        what: &str,
        f: impl FnOnce(&dyn super::Storage) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let shared = match &self.backend {
            Backend::Sqlite(shared) => Arc::clone(shared),
            Backend::Postgres(pg) => {
                let pg = pg.clone();
                return tokio::task::spawn_blocking(move || f(&pg as &dyn Storage))
                    .await
                    .map_err(|e| task_error(what, e))?;
            }
        };
        tokio::task::spawn_blocking(move || {
            let idle = shared
                .readers
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .pop();
            let reader = match idle {
                Some(r) => r,
                // The database this store opened is no longer there: say so, as the writer's
                // check does, rather than as a path that cannot be opened (a configuration error).
                None => SqliteStore::open_reader(&shared.path).map_err(|e| {
                    if shared.path.exists() {
                        e
                    } else {
                        StoreError::Gone {
                            path: shared.path.clone(),
                        }
                    }
                })?,
            };
            let out = f(&reader);
            let mut idle = shared.readers.lock().unwrap_or_else(|p| p.into_inner());
            if idle.len() < IDLE_READERS {
                idle.push(reader);
            }
            out
        })
        .await
        .map_err(|e| task_error(what, e))?
    }
}

fn task_error(what: &str, e: tokio::task::JoinError) -> StoreError {
    StoreError::Task {
        what: what.to_string(),
        reason: e.to_string(),
    }
}

impl AsyncStore {
    /// Indexes one batch of queued posts: stemmed on a reader, written by the writer. Returns how
    /// many were queued (0: the index is complete).
    pub async fn index_search_batch(&self) -> Result<usize, StoreError> {
        let batch = self
            .read("read the search queue", |s| {
                s.stem_queued(crate::INDEX_BATCH)
            })
            .await?;
        if batch.is_empty() {
            return Ok(0);
        }
        let n = batch.len();
        self.with("index posts for search", move |s| s.index_stemmed(&batch))
            .await?;
        Ok(n)
    }

    /// Indexes every queued post (before a search, so it misses no stored post).
    pub async fn index_search_queue(&self) -> Result<(), StoreError> {
        while self.index_search_batch().await? > 0 {}
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// On PostgreSQL a queued job and an added channel are announced to LISTENing workers.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_announces_jobs_and_channels() {
        use crate::postgres::backend::{CHANNELS_CHANNEL, JOBS_CHANNEL};
        let opened = tokio::time::timeout(
            Duration::from_secs(30),
            crate::testing::postgres::fresh_store("notify"),
        )
        .await
        .expect("timeout");
        let Some(pg) = opened else { return };
        let pg = pg.expect("open");
        let body = async {
            let mut listener = pg
                .listen(&[JOBS_CHANNEL, CHANNELS_CHANNEL])
                .await
                .expect("listen");
            let store = AsyncStore::postgres(PgBackend::new(
                pg.clone(),
                tokio::runtime::Handle::current(),
            ));
            store
                .with("queue", |s| {
                    s.enqueue_job("retag", &serde_json::json!({}), 1)
                })
                .await
                .expect("enqueue");
            assert_eq!(listener.next().await.as_deref(), Some(JOBS_CHANNEL));
            store
                .with("add", |s| {
                    let a = s.add_account("a", None, None, std::path::Path::new("unused"))?;
                    s.add_channel(a.id, &crate::testing::news_channel())
                })
                .await
                .expect("add channel");
            assert_eq!(listener.next().await.as_deref(), Some(CHANNELS_CHANNEL));
        };
        tokio::time::timeout(Duration::from_secs(30), body)
            .await
            .expect("timeout");
    }

    /// The service's calls reach PostgreSQL through the same `with` / `read` as SQLite, concurrently.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_same_calls_run_on_postgres() {
        let opened = tokio::time::timeout(
            Duration::from_secs(30),
            crate::testing::postgres::fresh_store("async_store"),
        )
        .await
        .expect("timeout");
        let Some(pg) = opened else { return };
        let pg = pg.expect("open");
        let store = AsyncStore::postgres(PgBackend::new(pg, tokio::runtime::Handle::current()));
        assert!(store.path().is_none() && store.as_postgres().is_some());
        let body = async {
            let account = store
                .with("add", |s| {
                    s.add_account("a", None, None, std::path::Path::new("unused"))
                })
                .await
                .expect("add");
            let writes: Vec<_> = (0..8)
                .map(|i| {
                    let store = store.clone();
                    tokio::spawn(async move {
                        store
                            .with_background("job", move |s| {
                                s.enqueue_job("reparse", &serde_json::json!({ "n": i }), 3)
                            })
                            .await
                    })
                })
                .collect();
            for w in writes {
                w.await.expect("task").expect("enqueue");
            }
            let jobs = store
                .read("list", |s| s.jobs(None, None, 100))
                .await
                .expect("jobs");
            assert_eq!(jobs.len(), 8);
            let names = store
                .read("accounts", |s| s.accounts())
                .await
                .expect("accounts");
            assert_eq!(
                names.iter().map(|a| a.id).collect::<Vec<_>>(),
                vec![account.id]
            );
            assert_eq!(
                store
                    .read("version", |s| s.schema_version())
                    .await
                    .expect("v"),
                crate::postgres::latest_version() as usize
            );
        };
        tokio::time::timeout(Duration::from_secs(60), body)
            .await
            .expect("timeout");
    }

    /// A fresh store in a temporary directory (kept alive by the returned guard).
    async fn open() -> (tempfile::TempDir, AsyncStore) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = tokio::time::timeout(
            Duration::from_secs(10),
            AsyncStore::open(dir.path().join("t.db")),
        )
        .await
        .expect("timeout")
        .expect("open");
        (dir, store)
    }

    #[tokio::test]
    async fn reads_do_not_wait_behind_a_long_write() {
        let (_dir, store) = open().await;
        let (started_tx, started_rx) = tokio::sync::oneshot::channel();
        let writer = {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .with("a slow write", move |s| {
                        let mut started = Some(started_tx);
                        s.as_sqlite_mut().expect("an SQLite store").write(
                            "hold the write lock",
                            |tx| {
                                tx.execute("DELETE FROM jobs", [])?;
                                if let Some(t) = started.take() {
                                    let _ = t.send(());
                                }
                                std::thread::sleep(Duration::from_millis(800));
                                Ok(())
                            },
                        )
                    })
                    .await
            })
        };
        started_rx.await.expect("write started");
        let t0 = std::time::Instant::now();
        let v = tokio::time::timeout(
            Duration::from_secs(10),
            store.read("read the version", |s| s.schema_version()),
        )
        .await
        .expect("timeout")
        .expect("read");
        assert_eq!(v, crate::latest_version());
        assert!(
            t0.elapsed() < Duration::from_millis(500),
            "the read ran beside the write"
        );
        writer.await.expect("join").expect("write");
    }

    /// Drives [`Queues`] by hand with explicit times; each job only logs its name.
    struct Drive {
        q: Queues,
        log: Arc<Mutex<Vec<&'static str>>>,
        store: SqliteStore,
        t0: Instant,
        _dir: tempfile::TempDir,
    }

    impl Drive {
        fn new() -> Drive {
            let dir = tempfile::tempdir().expect("tempdir");
            Drive {
                q: Queues::default(),
                log: Arc::new(Mutex::new(Vec::new())),
                store: SqliteStore::open(&dir.path().join("t.db")).expect("open"),
                t0: Instant::now(),
                _dir: dir,
            }
        }

        fn at(&self, ms: u64) -> Instant {
            self.t0 + Duration::from_millis(ms)
        }

        fn job(&self, name: &'static str) -> Job {
            let log = Arc::clone(&self.log);
            Box::new(move |_| log.lock().expect("log").push(name))
        }

        fn urgent(&mut self, name: &'static str) {
            let job = self.job(name);
            self.q.urgent.push_back(job);
        }

        fn background(&mut self, since: Instant, name: &'static str) {
            let job = self.job(name);
            self.q.background.push_back((since, job));
        }

        /// Runs what the queues say to run at `now`: the write's name, or how long it would wait.
        fn step(&mut self, now: Instant) -> Result<&'static str, Duration> {
            match self.q.next(now) {
                Next::Run(job) => {
                    job(&mut self.store);
                    Ok(self.log.lock().expect("log").last().copied().unwrap_or("?"))
                }
                Next::WaitFor(d) => Err(d),
                Next::Idle => Err(Duration::MAX),
            }
        }
    }

    #[test]
    fn background_writes_wait_for_a_pause_while_pages_keep_the_writer_busy() {
        let mut d = Drive::new();
        // A backfill: pages of 10 ms back to back for 300 ms, so the writer counts as busy.
        d.urgent("page");
        for t in (0..300).step_by(10) {
            assert_eq!(d.step(d.at(t)), Ok("page"));
            d.urgent("page");
        }
        d.background(d.at(300), "tagging 1");
        d.background(d.at(300), "tagging 2");
        assert_eq!(d.step(d.at(300)), Ok("page"));
        // That page finished at 305 ms: tagging waits until pages have paused long enough.
        assert_eq!(d.step(d.at(305)), Err(BACKGROUND_QUIET));
        // A page arriving meanwhile goes first and restarts the pause.
        d.urgent("page 3");
        assert_eq!(d.step(d.at(310)), Ok("page 3"));
        assert_eq!(d.step(d.at(315)), Err(BACKGROUND_QUIET));
        let quiet = d.at(315) + BACKGROUND_QUIET;
        assert_eq!(d.step(quiet), Ok("tagging 1"));
        // Once a background write has run, the next one needs no new pause.
        assert_eq!(d.step(quiet), Ok("tagging 2"));
        assert_eq!(d.step(quiet), Err(Duration::MAX));
        // Under a steady stream of pages, a background write still runs once overdue.
        d.background(quiet, "tagging 3");
        d.urgent("page 4");
        assert_eq!(d.step(quiet), Ok("page 4"));
        d.urgent("page 5");
        let overdue = quiet + BACKGROUND_MAX_WAIT;
        assert_eq!(d.step(overdue), Ok("tagging 3"));
        assert_eq!(d.step(overdue), Ok("page 5"));
    }

    #[test]
    fn background_writes_need_no_pause_when_small_writes_leave_the_writer_idle() {
        let mut d = Drive::new();
        // Many channels polled: a 1 ms write every 20 ms, the writer idle in between.
        for t in (0..300).step_by(20) {
            d.urgent("poll");
            assert_eq!(d.step(d.at(t)), Ok("poll"));
            assert_eq!(d.step(d.at(t + 1)), Err(Duration::MAX));
        }
        // Tagging runs as soon as no urgent write waits, right after the last one.
        d.urgent("poll");
        d.background(d.at(300), "tagging");
        assert_eq!(d.step(d.at(300)), Ok("poll"));
        assert_eq!(d.step(d.at(301)), Ok("tagging"));
    }

    #[tokio::test]
    async fn a_queued_page_write_runs_before_queued_tagging_writes() {
        let (_dir, store) = open().await;
        let order = Arc::new(Mutex::new(Vec::new()));
        // Keep the writer busy so the next three writes queue up behind it.
        let (started_tx, started_rx) = tokio::sync::oneshot::channel();
        let busy = {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .with("busy", move |_| {
                        let _ = started_tx.send(());
                        std::thread::sleep(Duration::from_millis(300));
                        Ok(())
                    })
                    .await
            })
        };
        started_rx.await.expect("busy write started");
        let mut writes = Vec::new();
        for (name, background) in [("tagging 1", true), ("tagging 2", true), ("page", false)] {
            let (store, order) = (store.clone(), Arc::clone(&order));
            writes.push(tokio::spawn(async move {
                let f = move |_: &mut dyn crate::Storage| {
                    order.lock().expect("order").push(name);
                    Ok(())
                };
                if background {
                    store.with_background(name, f).await
                } else {
                    store.with(name, f).await
                }
            }));
            // Queue them in this order.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::timeout(Duration::from_secs(10), async {
            busy.await.expect("join").expect("busy");
            for w in writes {
                w.await.expect("join").expect("write");
            }
        })
        .await
        .expect("timeout");
        assert_eq!(
            *order.lock().expect("order"),
            ["page", "tagging 1", "tagging 2"]
        );
    }

    #[tokio::test]
    async fn a_panicking_write_leaves_the_writer_usable() {
        let (_dir, store) = open().await;
        let r: Result<(), StoreError> = store.with("panics", |_| panic!("boom")).await;
        assert!(matches!(r, Err(StoreError::Task { .. })));
        let v = store
            .with("still works", |s| s.schema_version())
            .await
            .expect("writer alive");
        assert_eq!(v, crate::latest_version());
    }
}
