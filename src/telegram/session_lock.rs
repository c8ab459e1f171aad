//! [`SessionLock`]: one process at a time per account's session file (the file lock; PostgreSQL's
//! account leases are `tgsift_store::postgres::AccountLease`).
//!
//! Two processes on one auth key make Telegram answer `AUTH_KEY_DUPLICATED` and can get the key revoked,
//! so a process takes an exclusive lock on `<account>.session.lease` beside the session file before it
//! connects. The lock is an OS file lock (`flock`), which the kernel releases when the holder exits or
//! dies, so a lease left by a crashed process is reclaimed by the next one without any clean-up. The file
//! also records who holds it (pid, host, since) for the message the second process prints.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Who holds a lease, as written in the lease file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holder {
    /// Process id.
    pub pid: u32,
    /// Host name.
    pub host: String,
    /// Unix time the lease was taken.
    pub since: i64,
}

impl Holder {
    /// Whether the lease is held by this very process (its connections are shared, not competed for).
    pub(crate) fn is_this_process(&self) -> bool {
        self.pid == std::process::id() && self.host == hostname()
    }

    fn me() -> Self {
        Holder {
            pid: std::process::id(),
            host: hostname(),
            since: unix_now(),
        }
    }

    fn parse(text: &str) -> Option<Self> {
        let mut pid = None;
        let mut host = None;
        let mut since = None;
        for line in text.lines() {
            match line.split_once('=') {
                Some(("pid", v)) => pid = v.trim().parse().ok(),
                Some(("host", v)) => host = Some(v.trim().to_string()),
                Some(("since", v)) => since = v.trim().parse().ok(),
                _ => {}
            }
        }
        Some(Holder {
            pid: pid?,
            host: host?,
            since: since?,
        })
    }

    /// `pid 123 on host example since 2026-11-23 10:00:00 UTC`.
    pub(crate) fn describe(&self) -> String {
        let when = jiff::Timestamp::from_second(self.since)
            .map(|t| t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string())
            .unwrap_or_else(|_| self.since.to_string());
        format!("pid {} on host {} since {when}", self.pid, self.host)
    }
}

/// Why a lease could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum SessionLockError {
    /// Another live process holds it.
    #[error(
        "the session of account {account} is in use by {} (lease {}); stop that process first — two processes on one session make Telegram revoke it",
        holder.as_ref().map(Holder::describe).unwrap_or_else(|| "another process".into()),
        path.display()
    )]
    Held {
        account: String,
        path: PathBuf,
        holder: Option<Holder>,
    },
    /// The lease file cannot be created or locked.
    #[error("cannot take the session lease {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// An exclusive lease on an account's session; released on drop (or when the process dies).
#[derive(Debug)]
pub struct SessionLock {
    file: File,
    path: PathBuf,
}

impl SessionLock {
    /// The lease file of a session file.
    pub(crate) fn path_for(session: &Path) -> PathBuf {
        let mut p = session.as_os_str().to_owned();
        p.push(".lease");
        PathBuf::from(p)
    }

    /// Takes the lease of `session` at once, or says who holds it.
    pub fn acquire(account: &str, session: &Path) -> Result<SessionLock, SessionLockError> {
        let path = Self::path_for(session);
        let io = |source| SessionLockError::Io {
            path: path.clone(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                return Err(SessionLockError::Held {
                    account: account.to_string(),
                    path,
                    holder: Holder::parse(&text),
                });
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        let me = Holder::me();
        let record = format!("pid={}\nhost={}\nsince={}\n", me.pid, me.host, me.since);
        file.set_len(0)
            .and_then(|_| file.seek(SeekFrom::Start(0)))
            .map_err(io)?;
        file.write_all(record.as_bytes())
            .and_then(|_| file.flush())
            .map_err(io)?;
        Ok(SessionLock { file, path })
    }

    /// Who holds the lease of `session` now, if anyone (for `account list`).
    pub(crate) fn holder(session: &Path) -> Option<Holder> {
        let path = Self::path_for(session);
        let mut file = File::open(&path).ok()?;
        match file.try_lock_shared() {
            // Nobody holds it (a stale record from a dead process does not count).
            Ok(()) => None,
            Err(_) => {
                let mut text = String::new();
                file.read_to_string(&mut text).ok()?;
                Holder::parse(&text)
            }
        }
    }

    /// The lease file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for SessionLock {
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

/// This machine's host name (for lease holders and worker records).
/// Whether a process with this pid runs on this machine.
pub(crate) fn pid_alive(pid: i64) -> bool {
    pid > 0 && std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Whether a worker that says it runs as `pid` on `host` is known to be gone: it was on this machine
/// and no such process exists (a kill -9 leaves its heartbeat fresh for up to 30 s).
pub(crate) fn vanished(host: &str, pid: i64) -> bool {
    host == hostname() && !pid_alive(pid)
}

pub(crate) fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown-host".into())
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lease_is_refused_naming_the_holder_then_reclaimed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let session = dir.path().join("alice.session");
        let first = SessionLock::acquire("alice", &session).expect("first lease");
        // flock locks belong to the open file description, so a second open in this process conflicts
        // exactly as a second process would.
        let err = SessionLock::acquire("alice", &session).expect_err("second lease");
        match &err {
            SessionLockError::Held {
                holder: Some(h), ..
            } => assert_eq!(h.pid, std::process::id()),
            other => panic!("expected Held, got {other:?}"),
        }
        let msg = err.to_string();
        assert!(
            msg.contains("alice") && msg.contains(&format!("pid {}", std::process::id())),
            "{msg}"
        );
        assert_eq!(
            SessionLock::holder(&session).map(|h| h.pid),
            Some(std::process::id())
        );
        drop(first);
        assert_eq!(SessionLock::holder(&session), None);
        SessionLock::acquire("alice", &session).expect("free again");
    }

    #[test]
    fn lease_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let session = dir.path().join("bob.session");
        let lease = SessionLock::acquire("bob", &session).expect("lease");
        let mode = std::fs::metadata(lease.path())
            .expect("meta")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
    }
}
