//! Checkpoints of the write-ahead log on their own thread, beside the writer.
//!
//! In WAL mode a commit appends the pages it changed to the `-wal` file, and a checkpoint copies them
//! into the database file. By default SQLite runs that copy inside the commit that takes the log past
//! 1,000 pages, on the writer thread: on a backfill it was a quarter of the writer's time, and the
//! next page waited for it. [`AsyncStore`](super::AsyncStore)'s writer turns automatic checkpoints
//! off and wakes this thread after each write instead; a PASSIVE checkpoint runs beside the writer
//! and never blocks it.
//!
//! The log only starts over from its beginning when a write begins with every frame already copied,
//! which a writer that never pauses would seldom find. So once the log has grown past
//! [`WAL_CAP_FRAMES`] the writer checkpoints, between two writes, what the thread has not copied yet
//! (little, as the thread keeps up), and the next write restarts the log.

use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::{BUSY_TIMEOUT, SqliteStore};

/// Frames (pages) in the log past which the writer checkpoints the rest itself: 16 MiB of 4 KiB pages.
pub const WAL_CAP_FRAMES: i64 = 4096;

/// The least time between two checkpoints of the thread: each one syncs the files, so a burst of
/// small commits is copied in one go.
const MIN_INTERVAL: Duration = Duration::from_millis(50);

#[derive(Default)]
struct State {
    /// A write happened since the last checkpoint.
    pending: bool,
    /// The writer is gone: the thread ends.
    closed: bool,
    /// Frames in the log at the thread's last checkpoint.
    log_frames: i64,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

/// The checkpoint thread, owned by the writer thread; dropping it ends the thread.
pub(crate) struct Checkpointer {
    shared: Arc<Shared>,
}

impl Checkpointer {
    /// Opens the thread's own connection to `path` and starts it; `None` (with the reason logged)
    /// leaves checkpoints to SQLite's default.
    pub(crate) fn start(path: &Path) -> Option<Checkpointer> {
        let conn = match open(path) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(db = %path.display(), error = %e, "no checkpoint thread; the writer checkpoints");
                return None;
            }
        };
        let shared = Arc::new(Shared::default());
        let mine = Arc::clone(&shared);
        let name = format!("tgsift-db-checkpoint:{}", path.display());
        match std::thread::Builder::new()
            .name(name)
            .spawn(move || run(&conn, &mine))
        {
            Ok(_) => Some(Checkpointer { shared }),
            Err(e) => {
                tracing::warn!(error = %e, "no checkpoint thread; the writer checkpoints");
                None
            }
        }
    }

    /// Called by the writer after each write: wakes the thread, and checkpoints the rest itself when
    /// the log has grown past [`WAL_CAP_FRAMES`] (so the next write starts it over).
    pub(crate) fn after_write(&self, store: &SqliteStore) {
        let mut s = self.shared.state.lock().unwrap_or_else(|p| p.into_inner());
        s.pending = true;
        let full = s.log_frames >= WAL_CAP_FRAMES;
        drop(s);
        self.shared.wake.notify_one();
        if !full {
            return;
        }
        // Never waits: while the thread's own checkpoint runs, this one is busy and the next write
        // tries again.
        match checkpoint(&store.conn) {
            Ok(Done {
                busy: false,
                log,
                copied,
            }) if log == copied => {
                self.shared
                    .state
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .log_frames = 0;
            }
            Ok(_) => {}
            Err(e) => tracing::debug!(error = %e, "the writer's checkpoint did not run"),
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.shared
            .state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .closed = true;
        self.shared.wake.notify_one();
    }
}

fn open(path: &Path) -> rusqlite::Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    Ok(conn)
}

/// What a checkpoint found.
struct Done {
    /// Another checkpoint was running, so this one did nothing.
    busy: bool,
    /// Frames in the log.
    log: i64,
    /// Frames of the log in the database file now.
    copied: i64,
}

/// A PASSIVE checkpoint: copies what it can without waiting for readers, the writer or another
/// checkpoint.
fn checkpoint(conn: &Connection) -> rusqlite::Result<Done> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
        Ok(Done {
            busy: r.get::<_, i64>(0)? != 0,
            log: r.get(1)?,
            copied: r.get(2)?,
        })
    })
}

fn run(conn: &Connection, shared: &Shared) {
    loop {
        {
            let mut s = shared.state.lock().unwrap_or_else(|p| p.into_inner());
            while !s.pending && !s.closed {
                s = shared.wake.wait(s).unwrap_or_else(|p| p.into_inner());
            }
            if s.closed {
                return;
            }
            s.pending = false;
        }
        match checkpoint(conn) {
            Ok(done) if !done.busy => {
                shared
                    .state
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .log_frames = done.log;
            }
            Ok(_) => {}
            // Another checkpoint (the writer's) was running: the next wake tries again.
            Err(e) => tracing::debug!(error = %e, "checkpoint did not run"),
        }
        std::thread::sleep(MIN_INTERVAL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AsyncStore;

    #[tokio::test]
    async fn the_thread_copies_the_writers_pages_into_the_database_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("t.db");
        let store = tokio::time::timeout(Duration::from_secs(10), AsyncStore::open(db.clone()))
            .await
            .expect("timeout")
            .expect("open");
        let auto: i64 = store
            .with("read wal_autocheckpoint", |s| {
                s.as_sqlite()
                    .expect("an SQLite store")
                    .read("wal_autocheckpoint", |c| {
                        c.pragma_query_value(None, "wal_autocheckpoint", |r| r.get(0))
                    })
            })
            .await
            .expect("pragma");
        assert_eq!(auto, 0, "the writer leaves checkpoints to the thread");
        let before = std::fs::metadata(&db).expect("db file").len();
        // About 8 MiB in 16 commits, well past SQLite's default of 1,000 pages per checkpoint.
        for i in 0..16 {
            store
                .with("fill", move |s| {
                    s.as_sqlite_mut()
                        .expect("an SQLite store")
                        .write("fill", |tx| {
                            tx.execute_batch(
                                "CREATE TABLE IF NOT EXISTS fill (i INTEGER, b BLOB)",
                            )?;
                            tx.execute("INSERT INTO fill VALUES (?1, randomblob(512 * 1024))", [i])
                                .map(|_| ())
                        })
                })
                .await
                .expect("write");
        }
        // Only the thread checkpoints, so the file grows only if it ran.
        let grown = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                let len = std::fs::metadata(&db).expect("db file").len();
                if len >= before + 8 * 1024 * 1024 {
                    return len;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("the checkpoint thread copied the pages within 10 s");
        assert!(grown > before);
        let rows: i64 = store
            .read("count", |s| {
                s.as_sqlite().expect("an SQLite store").read("count", |c| {
                    c.query_row("SELECT count(*) FROM fill", [], |r| r.get(0))
                })
            })
            .await
            .expect("count");
        assert_eq!(rows, 16);
    }
}
