//! [`AsyncStore`]: the database for async tasks — one writer, many readers.
//!
//! SQLite allows one writer at a time but, in WAL mode, any number of readers beside it. So every write
//! goes to one dedicated thread that owns the read-write connection (writes queue there in order and
//! never contend for SQLite's lock among themselves), while reads run on tokio's blocking pool on a
//! small pool of read-only connections: a `posts list`, a stats query or a tagging claim's read never
//! waits behind a batch write, and the async runtime never blocks on the disk.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, mpsc};

use super::{Store, StoreError};

/// Idle read-only connections kept for reuse; more are opened when needed and closed after.
const IDLE_READERS: usize = 4;

type Job = Box<dyn FnOnce(&mut Store) + Send>;

struct Shared {
    path: PathBuf,
    writer: Mutex<mpsc::Sender<Job>>,
    readers: Mutex<Vec<Store>>,
}

/// The database shared by async tasks: writes on one writer thread, reads on read-only connections.
#[derive(Clone)]
pub struct AsyncStore {
    shared: Arc<Shared>,
}

impl AsyncStore {
    /// Takes over an opened (migrated) store as the writer and starts its thread.
    pub fn new(store: Store) -> Self {
        let path = store.path().to_path_buf();
        let (tx, rx) = mpsc::channel::<Job>();
        let name = format!("tgsift-db-writer:{}", path.display());
        let spawned = std::thread::Builder::new().name(name).spawn(move || {
            let mut store = store;
            // Ends when every AsyncStore clone is gone (the channel closes).
            while let Ok(job) = rx.recv() {
                // A panicking job loses only its own answer; the connection stays usable.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&mut store)));
            }
        });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "could not start the database writer thread");
        }
        AsyncStore {
            shared: Arc::new(Shared {
                path,
                writer: Mutex::new(tx),
                readers: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Opens and migrates the database at `path` off the runtime.
    pub async fn open(path: PathBuf) -> Result<Self, StoreError> {
        let what = format!("open {}", path.display());
        let store = tokio::task::spawn_blocking(move || Store::open(&path))
            .await
            .map_err(|e| task_error(&what, e))??;
        Ok(Self::new(store))
    }

    /// The database file.
    pub fn path(&self) -> &std::path::Path {
        &self.shared.path
    }

    /// Runs `f` on the writer connection (in order with every other write); `what` names it in errors.
    pub async fn with<T: Send + 'static>(
        &self,
        what: &str,
        f: impl FnOnce(&mut Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |store: &mut Store| {
            let _ = tx.send(f(store));
        });
        let sent = self
            .shared
            .writer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .send(job);
        if sent.is_err() {
            return Err(StoreError::Task {
                what: what.to_string(),
                reason: "the database writer thread is gone".into(),
            });
        }
        rx.await.map_err(|_| StoreError::Task {
            what: what.to_string(),
            reason: "the write panicked".into(),
        })?
    }

    /// Runs `f` on a read-only connection on the blocking pool, beside any write in progress.
    pub async fn read<T: Send + 'static>(
        &self,
        what: &str,
        f: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let shared = Arc::clone(&self.shared);
        tokio::task::spawn_blocking(move || {
            let idle = shared
                .readers
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .pop();
            let reader = match idle {
                Some(r) => r,
                None => Store::open_reader(&shared.path)?,
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn reads_do_not_wait_behind_a_long_write() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = tokio::time::timeout(
            Duration::from_secs(10),
            AsyncStore::open(dir.path().join("t.db")),
        )
        .await
        .expect("timeout")
        .expect("open");
        let (started_tx, started_rx) = tokio::sync::oneshot::channel();
        let writer = {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .with("a slow write", move |s| {
                        let mut started = Some(started_tx);
                        s.write("hold the write lock", |tx| {
                            tx.execute("DELETE FROM jobs", [])?;
                            if let Some(t) = started.take() {
                                let _ = t.send(());
                            }
                            std::thread::sleep(Duration::from_millis(800));
                            Ok(())
                        })
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
        assert_eq!(v, crate::store::latest_version());
        assert!(
            t0.elapsed() < Duration::from_millis(500),
            "the read ran beside the write"
        );
        writer.await.expect("join").expect("write");
    }

    #[tokio::test]
    async fn a_panicking_write_leaves_the_writer_usable() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = AsyncStore::open(dir.path().join("t.db"))
            .await
            .expect("open");
        let r: Result<(), StoreError> = store.with("panics", |_| panic!("boom")).await;
        assert!(matches!(r, Err(StoreError::Task { .. })));
        let v = store
            .with("still works", |s| s.schema_version())
            .await
            .expect("writer alive");
        assert_eq!(v, crate::store::latest_version());
    }
}
