//! [`WorkerMark`]: a PostgreSQL worker's sign of life on its own machine, so that a worker taking
//! accounts over from a crashed one on the same machine need not wait for Telegram to drop the
//! crashed one's connections.
//!
//! A worker that took an account over from one that did not hand it back waits until that worker's
//! Telegram connection must be dead (`Connections::fence`): a paused or cut-off worker keeps its TCP
//! connection open, and two live connections on one auth key get the key revoked. A worker whose
//! process has exited has no connection left — the kernel closed its sockets with it — so there is
//! nothing to wait for. Each worker holds an exclusive `flock` on a file named by its key
//! ([`PgStore::worker_key`]) in the machine's temporary folder; the kernel releases it when the
//! process exits, however it exits. The file can be locked by another process only once its holder
//! is gone. A file that cannot be seen (another machine, another container) or that is still locked
//! (a paused process) says nothing, and the wait stays.
//!
//! [`PgStore::worker_key`]: tgsift_store::postgres::PgStore::worker_key

use std::fs::{File, OpenOptions, TryLockError};
use std::path::PathBuf;

/// This worker's mark: the locked file, removed when the worker stops cleanly.
#[derive(Debug)]
pub(crate) struct WorkerMark {
    file: Option<File>,
    path: PathBuf,
}

/// The folder of the marks: one per machine (per temporary folder), private to its user.
fn folder() -> PathBuf {
    std::env::temp_dir().join("tgsift-workers")
}

/// The mark file of the worker with `key`; `None` for a key that is not a plain file name.
fn path_of(key: &str) -> Option<PathBuf> {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    plain.then(|| folder().join(format!("{key}.alive")))
}

impl WorkerMark {
    /// Marks the worker with `key` alive until the mark is dropped or the process exits; `None` when
    /// the mark cannot be made (a worker without one is simply waited for by its successors).
    pub(crate) fn hold(key: &str) -> Option<WorkerMark> {
        let path = path_of(key)?;
        let made = (|| -> std::io::Result<File> {
            let dir = folder();
            std::fs::create_dir_all(&dir)?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                // Shared temporary folders: only this user's workers read or lock the marks.
                if std::fs::metadata(&dir)?.permissions().mode() & 0o077 != 0 {
                    let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700));
                }
            }
            let file = OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)?;
            file.try_lock()?;
            Ok(file)
        })();
        Self::sweep();
        match made {
            Ok(file) => Some(WorkerMark {
                file: Some(file),
                path,
            }),
            Err(e) => {
                tracing::debug!(path = %path.display(), error = %e, "could not mark this worker alive; workers taking its accounts over after a crash will wait for Telegram to drop its connections");
                None
            }
        }
    }

    /// Whether the worker with `key` ran on this machine and its process has exited: its mark is
    /// there and nobody holds its lock. False when that cannot be known.
    pub(crate) fn exited(key: &str) -> bool {
        let Some(path) = path_of(key) else {
            return false;
        };
        let Ok(file) = OpenOptions::new().write(true).open(&path) else {
            return false;
        };
        // Kept after the answer: the dead worker's other accounts ask too. Swept after a week.
        match file.try_lock() {
            Ok(()) => true,
            Err(TryLockError::WouldBlock) | Err(TryLockError::Error(_)) => false,
        }
    }

    /// Removes the marks of workers that exited over [`STALE`] ago (the database forgets such
    /// workers after as long).
    fn sweep() {
        let Ok(entries) = std::fs::read_dir(folder()) else {
            return;
        };
        for e in entries.flatten() {
            let path = e.path();
            let old = e
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > STALE);
            if !old || path.extension().is_none_or(|x| x != "alive") {
                continue;
            }
            if let Ok(f) = OpenOptions::new().write(true).open(&path)
                && f.try_lock().is_ok()
            {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
}

/// How long the mark of an exited worker is kept.
const STALE: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);

impl Drop for WorkerMark {
    fn drop(&mut self) {
        // Removed while still locked, so no successor ever finds it unlocked for a live worker.
        let _ = std::fs::remove_file(&self.path);
        self.file.take();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mark_says_exited_only_once_its_holder_is_gone() {
        let key = format!("wtest-{}-{}", std::process::id(), line!());
        assert!(!WorkerMark::exited(&key), "no mark: unknown, not exited");
        let mut mark = WorkerMark::hold(&key).expect("mark");
        assert!(!WorkerMark::exited(&key), "held: alive");
        assert!(
            WorkerMark::hold(&key).is_none(),
            "a second holder of one key is refused"
        );
        // A holder that dies leaves the file unlocked: its lock released, the file left behind.
        let file = mark.file.take().expect("file");
        mark.path = folder().join("never-made.alive");
        drop(mark);
        file.unlock().expect("unlock");
        assert!(WorkerMark::exited(&key), "unlocked mark: exited");
        assert!(
            WorkerMark::exited(&key),
            "and still so for the dead worker's next account"
        );
        let _ = std::fs::remove_file(path_of(&key).expect("path"));
    }

    #[test]
    fn a_clean_stop_removes_the_mark_and_odd_keys_are_refused() {
        let key = format!("wtest-{}-{}", std::process::id(), line!());
        drop(WorkerMark::hold(&key).expect("mark"));
        assert!(!WorkerMark::exited(&key), "removed on a clean stop");
        assert!(WorkerMark::hold("../x").is_none());
        assert!(!WorkerMark::exited("a/b"));
    }
}
