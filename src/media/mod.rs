//! Media downloads (`[media]`, opt-in): the files of stored posts that `media.download` wants, fetched
//! into `media.dir` beside ingest, never in its way.
//!
//! - The queue: stored posts' files are scanned once each (by post id, from where the last scan
//!   stopped) and those the rules want become `pending` rows of `media_files`, one per Telegram file
//!   however many posts carry it.
//! - Each account downloads the due files of its own channels, `media.concurrency` at a time, on its
//!   one connection (paced and flood-handled like every call): a fresh file reference from the
//!   carrying message, then `upload.getFile` chunk by chunk on the file's DC, each chunk on disk
//!   before the next is asked (`disk`), so a restart resumes where it stopped. `FILE_MIGRATE`
//!   moves to the DC named; an expired file reference is read again and the download goes on from
//!   its offset; a FLOOD_WAIT (or FLOOD_PREMIUM_WAIT) above the threshold puts the file off without
//!   counting an attempt; other failures count one, with a growing wait, until the file fails for
//!   good (`media retry` queues it again).
//! - `media.quota` bounds the bytes on disk: a file that would go over it waits, named in `status`.

pub(crate) mod disk;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use tgsift_store::{AsyncStore, DownloadRules, DueFile, StoreError, unix_now};
use tokio_util::sync::CancellationToken;

use crate::config::MediaConfig;
use crate::telegram::channels::ChannelInfo;
use crate::telegram::client::Account;
use crate::telegram::error::TgError;
use crate::telegram::files::{CHUNK, FileLocation};
use disk::MediaDir;

/// Failed attempts after which a file fails for good (until `media retry`).
pub(crate) const MAX_ATTEMPTS: u32 = 5;
/// The wait after a file's first failure; each further one waits four times longer.
const RETRY_BASE: i64 = 60;
/// How long a downloader with nothing due waits before it looks again.
const IDLE: Duration = Duration::from_secs(5);
/// How long a file that does not fit the quota waits before it is looked at again.
const QUOTA_WAIT: i64 = 300;
/// Posts' files read per scan of the queue.
const SCAN_BATCH: usize = 5_000;
/// Moves to another DC (`FILE_MIGRATE`) one download may make.
const MOVES: u32 = 3;

/// The process's downloads: the rules, the directory, the quota, and the scan position shared by
/// every account's downloader.
pub(crate) struct Downloads {
    rules: DownloadRules,
    dir: MediaDir,
    quota: i64,
    concurrency: usize,
    /// The last post id scanned (this process scans each post's file once).
    scanned: tokio::sync::Mutex<i64>,
    /// Bytes of downloads in progress, counted against the quota before they are done.
    reserved: AtomicI64,
    /// Bytes on disk as the store last counted them, plus what was placed since.
    on_disk: AtomicI64,
    /// DCs messages name for files that `FILE_MIGRATE` sent elsewhere: the next download goes
    /// straight there.
    moved: std::sync::Mutex<HashMap<i32, i32>>,
    /// What this process downloaded: files, bytes, and the time spent downloading.
    files: AtomicU64,
    bytes: AtomicU64,
}

/// What one file's download came to.
enum Outcome {
    /// On disk.
    Done(disk::Placed),
    /// Put off without an attempt (a flood window, the quota) until then, and why.
    Later(i64, String),
    /// A failed attempt.
    Failed(String),
}

/// Why a downloader stopped.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DownloadError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Telegram refused the account itself (its ingest task stops it).
    #[error(transparent)]
    Account(TgError),
    /// A download task panicked.
    #[error("a download panicked: {0}")]
    Panicked(String),
}

/// Ends the downloader on an error about the account itself; anything else was the file's.
fn check_account(e: TgError) -> Result<(), DownloadError> {
    match e {
        TgError::AccountStopped { .. } => Err(DownloadError::Account(e)),
        _ => Ok(()),
    }
}

/// Gives a download's bytes back to the quota when it ends, however it ends.
struct Unreserve<'a>(&'a AtomicI64, i64);

impl Drop for Unreserve<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(self.1, Relaxed);
    }
}

impl Downloads {
    /// The downloads `[media]` asks for, or `None` when its rules want nothing (the default).
    pub(crate) fn from_config(c: &MediaConfig) -> Option<Arc<Downloads>> {
        // Checked when the configuration was loaded.
        let rules = DownloadRules::parse(&c.download).ok()?;
        if rules.is_empty() {
            return None;
        }
        Some(Arc::new(Downloads {
            rules,
            dir: MediaDir::new(c.dir.clone()),
            quota: c.quota_bytes(),
            concurrency: c.concurrency.max(1) as usize,
            scanned: tokio::sync::Mutex::new(0),
            reserved: AtomicI64::new(0),
            on_disk: AtomicI64::new(0),
            moved: std::sync::Mutex::new(HashMap::new()),
            files: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
        }))
    }

    /// Where the files go.
    pub(crate) fn dir(&self) -> PathBuf {
        self.dir.path_of("")
    }

    /// Files and bytes this process downloaded so far.
    pub(crate) fn downloaded(&self) -> (u64, u64) {
        (self.files.load(Relaxed), self.bytes.load(Relaxed))
    }

    /// Queues the files of posts stored since the last scan that the rules want.
    async fn queue_new(&self, store: &AsyncStore) -> Result<usize, StoreError> {
        let mut scanned = self.scanned.lock().await;
        // Read once there is something new: an idle downloader asks for one empty scan only.
        let mut channels: Option<HashMap<i64, (Option<String>, i64)>> = None;
        let mut queued = 0;
        loop {
            let after = *scanned;
            let batch = store
                .read("scan posts' files", move |s| {
                    s.media_after(after, SCAN_BATCH)
                })
                .await?;
            let Some(last) = batch.last() else { break };
            *scanned = last.post_id;
            if channels.is_none() {
                let rows = store.read("list channels", |s| s.channels()).await?;
                channels = Some(
                    rows.into_iter()
                        .map(|c| (c.id, (c.username, c.tg_id)))
                        .collect(),
                );
            }
            let channels = channels.as_ref().expect("read above");
            let wanted: Vec<(i64, Option<i64>)> = batch
                .iter()
                .filter(|r| {
                    channels.get(&r.channel_id).is_some_and(|(name, tg_id)| {
                        self.rules.wants(name.as_deref(), *tg_id, r.kind, r.size)
                    })
                })
                .map(|r| (r.file_id, r.size))
                .collect();
            let full = batch.len() == SCAN_BATCH;
            if !wanted.is_empty() {
                let now = unix_now();
                queued += store
                    .with("queue downloads", move |s| s.queue_downloads(&wanted, now))
                    .await?;
            }
            if !full {
                break;
            }
        }
        Ok(queued)
    }

    /// Downloads the due files of account `account_id`'s channels until `cancel`; with `once`, until
    /// nothing is due. Ends with the account's error when Telegram refuses the account itself.
    pub(crate) async fn run(
        self: Arc<Self>,
        store: AsyncStore,
        account: Arc<Account>,
        account_id: i64,
        once: bool,
        cancel: CancellationToken,
    ) -> Result<(), DownloadError> {
        let started = Instant::now();
        let (files0, bytes0) = self.downloaded();
        loop {
            if cancel.is_cancelled() {
                return Ok(());
            }
            self.queue_new(&store).await?;
            let now = unix_now();
            let limit = self.concurrency * 8;
            let due = store
                .read("list due downloads", move |s| {
                    s.downloads_due(account_id, now, limit)
                })
                .await?;
            if due.is_empty() {
                if once {
                    let (files, bytes) = self.downloaded();
                    let secs = started.elapsed().as_secs_f64();
                    if files > files0 {
                        tracing::info!(
                            account = %account.name(),
                            files = files - files0,
                            bytes = bytes - bytes0,
                            seconds = secs,
                            "media: {} files, {:.1} MB in {secs:.2} s ({:.1} MB/s, {:.1} files/s)",
                            files - files0,
                            (bytes - bytes0) as f64 / 1e6,
                            (bytes - bytes0) as f64 / 1e6 / secs.max(1e-9),
                            (files - files0) as f64 / secs.max(1e-9),
                        );
                    }
                    return Ok(());
                }
                tokio::select! {
                    _ = cancel.cancelled() => return Ok(()),
                    _ = tokio::time::sleep(IDLE) => continue,
                }
            }
            self.download_batch(&store, &account, due, &cancel).await?;
        }
    }

    /// Downloads a batch of due files: fresh locations per channel, then the files side by side.
    async fn download_batch(
        self: &Arc<Self>,
        store: &AsyncStore,
        account: &Arc<Account>,
        due: Vec<DueFile>,
        cancel: &CancellationToken,
    ) -> Result<(), DownloadError> {
        let channels: HashMap<i64, ChannelInfo> = store
            .read("list channels", |s| s.channels())
            .await?
            .iter()
            .map(|c| (c.id, ChannelInfo::of(c)))
            .collect();
        let mut by_channel: HashMap<i64, Vec<DueFile>> = HashMap::new();
        for f in due {
            by_channel.entry(f.channel_id).or_default().push(f);
        }
        let stats = store
            .read("count downloads", |s| s.download_stats())
            .await?;
        self.on_disk.store(stats.bytes, Relaxed);
        let gate = Arc::new(tokio::sync::Semaphore::new(self.concurrency));
        let mut running = tokio::task::JoinSet::new();
        for (channel_id, files) in by_channel {
            let Some(info) = channels.get(&channel_id).cloned() else {
                continue;
            };
            let ids: Vec<i32> = files.iter().map(|f| f.message_id).collect();
            let found = match account.file_locations(&info, &ids).await {
                Ok(found) => found,
                Err(e) => {
                    self.settle_all(store, &files, &e).await?;
                    check_account(e)?;
                    continue;
                }
            };
            for f in files {
                let at = found
                    .get(&f.message_id)
                    .filter(|at| at.file_id == f.file_id)
                    .cloned();
                let Some(at) = at else {
                    let why = format!(
                        "message {} of {} no longer carries this file",
                        f.message_id,
                        crate::telegram::channels::label_of(&info)
                    );
                    self.settle(store, &f, Outcome::Failed(why)).await?;
                    continue;
                };
                let permit = tokio::select! {
                    _ = cancel.cancelled() => break,
                    p = Arc::clone(&gate).acquire_owned() => match p {
                        Ok(p) => p,
                        Err(_) => break,
                    },
                };
                let (me, store, account, info) = (
                    Arc::clone(self),
                    store.clone(),
                    Arc::clone(account),
                    info.clone(),
                );
                running.spawn(async move {
                    let outcome = me.download(&account, &info, &f, at).await;
                    drop(permit);
                    match outcome {
                        Ok(o) => me.settle(&store, &f, o).await,
                        Err(e @ (TgError::AccountStopped { .. } | TgError::Cancelled)) => {
                            check_account(e)
                        }
                        Err(e) => me.settle(&store, &f, Outcome::Failed(e.to_string())).await,
                    }
                });
            }
        }
        let mut first_error = None;
        loop {
            let next = tokio::select! {
                // Stopping: the downloads end where they are (a chunk being written still lands
                // whole or is cut at the next start), so shutdown never waits for a big file.
                _ = cancel.cancelled() => {
                    running.abort_all();
                    return Ok(());
                }
                next = running.join_next() => next,
            };
            let Some(done) = next else { break };
            let r = done.unwrap_or_else(|e| Err(DownloadError::Panicked(e.to_string())));
            if let Err(e) = r
                && first_error.is_none()
            {
                first_error = Some(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// One file: resumed from what is on disk, chunk by chunk, placed by hash when complete.
    async fn download(
        &self,
        account: &Account,
        info: &ChannelInfo,
        f: &DueFile,
        mut at: FileLocation,
    ) -> Result<Outcome, TgError> {
        let size = at.size.or(f.size).unwrap_or(0);
        let used = self.on_disk.load(Relaxed) + self.reserved.load(Relaxed);
        if used.saturating_add(size) > self.quota {
            return Ok(Outcome::Later(
                unix_now() + QUOTA_WAIT,
                format!(
                    "waiting for room: media.quota ({} bytes) would be exceeded",
                    self.quota
                ),
            ));
        }
        self.reserved.fetch_add(size, Relaxed);
        let _unreserve = Unreserve(&self.reserved, size);
        let mut offset = match self.dir.resume_at(f.file_id, CHUNK) {
            Ok(o) => o,
            Err(e) => {
                return Ok(Outcome::Failed(format!(
                    "reading the partial download: {e}"
                )));
            }
        };
        if offset > 0 {
            tracing::info!(account = %account.name(), file = f.file_id, offset, "resuming a download");
        }
        let moved = |dc: i32| {
            self.moved
                .lock()
                .ok()
                .and_then(|m| m.get(&dc).copied())
                .unwrap_or(dc)
        };
        let mut dc = moved(at.dc_id);
        let mut moves = 0u32;
        // A reference renewed and not yet used for a chunk: expiring again at once means a loop.
        let mut renewed = false;
        loop {
            let chunk = match account.file_chunk(&at, dc, offset).await {
                Ok(bytes) => bytes,
                Err(TgError::File { name, value, .. }) => match (name.as_str(), value) {
                    ("FILE_MIGRATE", Some(to)) if moves < MOVES => {
                        moves += 1;
                        tracing::debug!(
                            file = f.file_id,
                            from = dc,
                            to,
                            "FILE_MIGRATE: following the file to its DC"
                        );
                        dc = to as i32;
                        continue;
                    }
                    ("FILE_REFERENCE_EXPIRED" | "FILE_REFERENCE_INVALID", _) if !renewed => {
                        renewed = true;
                        tracing::debug!(
                            file = f.file_id,
                            offset,
                            "file reference expired: reading the message again"
                        );
                        let found = account.file_locations(info, &[f.message_id]).await?;
                        match found.get(&f.message_id).filter(|a| a.file_id == f.file_id) {
                            Some(fresh) => at = fresh.clone(),
                            None => {
                                return Ok(Outcome::Failed(format!(
                                    "message {} no longer carries this file",
                                    f.message_id
                                )));
                            }
                        }
                        continue;
                    }
                    _ => {
                        let name = value.map_or(name.clone(), |v| format!("{name}_{v}"));
                        return Ok(Outcome::Failed(format!("{name} at offset {offset}")));
                    }
                },
                Err(TgError::FloodWait {
                    seconds, method, ..
                }) => {
                    return Ok(Outcome::Later(
                        unix_now() + i64::from(seconds),
                        format!("{method} flood wait of {seconds} s"),
                    ));
                }
                Err(e) => return Err(e),
            };
            renewed = false;
            let n = chunk.len() as i64;
            if n > 0 {
                let file_id = f.file_id;
                let dir = self.dir.clone();
                let written = tokio::task::spawn_blocking(move || dir.append(file_id, &chunk))
                    .await
                    .map_err(|e| std::io::Error::other(e.to_string()))
                    .and_then(|r| r);
                if let Err(e) = written {
                    return Ok(Outcome::Failed(format!(
                        "writing to {}: {e}",
                        self.dir().display()
                    )));
                }
                offset += n;
            }
            if n < CHUNK || (at.size.is_some_and(|s| offset >= s)) {
                break;
            }
        }
        if let Some(want) = at.size.filter(|s| *s != offset) {
            let _ = self.dir.discard(f.file_id);
            return Ok(Outcome::Failed(format!(
                "got {offset} bytes where Telegram said {want}; starting over"
            )));
        }
        let ext = disk::extension(f.mime.as_deref(), f.file_name.as_deref());
        let (dir, file_id) = (self.dir.clone(), f.file_id);
        let placed = tokio::task::spawn_blocking(move || dir.place(file_id, &ext))
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))
            .and_then(|r| r);
        match placed {
            Ok(p) => {
                self.files.fetch_add(1, Relaxed);
                self.bytes
                    .fetch_add(u64::try_from(p.size).unwrap_or(0), Relaxed);
                self.on_disk.fetch_add(p.size, Relaxed);
                Ok(Outcome::Done(p))
            }
            Err(e) => Ok(Outcome::Failed(format!("placing the file: {e}"))),
        }
    }

    /// Records the same failure for every file of a batch (their channel could not be read).
    async fn settle_all(
        &self,
        store: &AsyncStore,
        files: &[DueFile],
        e: &TgError,
    ) -> Result<(), DownloadError> {
        for f in files {
            let outcome = match e {
                TgError::FloodWait {
                    seconds, method, ..
                } => Outcome::Later(
                    unix_now() + i64::from(*seconds),
                    format!("{method} flood wait of {seconds} s"),
                ),
                TgError::AccountStopped { .. } | TgError::Cancelled => return Ok(()),
                other => Outcome::Failed(other.to_string()),
            };
            self.settle(store, f, outcome).await?;
        }
        Ok(())
    }

    /// Records a file's outcome.
    async fn settle(
        &self,
        store: &AsyncStore,
        f: &DueFile,
        outcome: Outcome,
    ) -> Result<(), DownloadError> {
        let file_id = f.file_id;
        match outcome {
            Outcome::Done(p) => {
                let now = unix_now();
                store
                    .with("record a finished download", move |s| {
                        s.download_done(file_id, p.size, &p.sha256, &p.path, now)
                    })
                    .await?;
                Ok(())
            }
            Outcome::Later(at, why) => {
                store
                    .with("put a download off", move |s| {
                        s.download_later(file_id, at, &why)
                    })
                    .await?;
                Ok(())
            }
            Outcome::Failed(why) => {
                let attempts = f.attempts + 1;
                let retry_at = (attempts < MAX_ATTEMPTS)
                    .then(|| unix_now() + RETRY_BASE * 4i64.pow(attempts - 1));
                tracing::warn!(file = file_id, attempts, error = %why, "download failed");
                store
                    .with("record a failed download", move |s| {
                        s.download_failed(file_id, &why, retry_at)
                    })
                    .await?;
                Ok(())
            }
        }
    }
}
