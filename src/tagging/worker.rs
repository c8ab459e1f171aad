//! The tagging pipeline: workers that take due posts, tag them, and record every attempt durably.
//!
//! Runs inside `tgsift run` (and from `tgsift tags run|retry --wait|regenerate`). Due posts are claimed
//! under a token for a short while ([`TaggingConfig::claim_timeout`], renewed while the work goes on),
//! so several workers — in one process or in a cron job beside the service — never tag one post twice,
//! and a post claimed by a worker that died is due again within a minute. Outcomes are written in
//! batches (one transaction, a savepoint per post) and only while the claim is still the post's, so a
//! post edited while it was being tagged keeps no tags computed for its old text. `retrying` posts are
//! picked up by the same loop when their time comes, so no external cron is needed.
//!
//! The embedded tagger is CPU work: it runs on its own threads, one per core, at a lower priority than
//! ingest ([`super::threads`]), never on the async runtime. Network taggers (LLM) are awaited,
//! `concurrency` at a time, and every attempt in flight is dropped at shutdown with its claim released
//! (the post stays due; no attempt is counted).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{StreamExt, TryStreamExt};
use tgsift_store::{
    AsyncStore, Attempt, AttemptResult, DuePost, Recorded, RetryRules, StoreError, TaggingStatus,
};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::embedded::{DocFreq, EmbeddedTagger};
use super::llm::{LlmConfig, LlmTagger};
use super::threads::TaggerThreads;
use super::{Tag, TagContext, TagError, Tagger};
use crate::config::TaggingConfig;
use crate::metrics::{Families, Metrics};

/// Stored posts a channel's document frequencies are first learned from.
const DF_POSTS: usize = 5_000;
/// Channels' document frequencies read (or grown) at once for one batch.
const DF_READS_AT_ONCE: usize = 8;
/// Stems the document frequencies of all channels may hold together, about 20 bytes each: 40 MB,
/// the tables of ~2,000 channels of a few hundred posts — a fleet worker's own channels — or of
/// ~100 channels whose 5,000 newest posts were counted.
const DF_CACHE_STEMS: usize = 2_000_000;
/// New posts folded into a channel's document frequencies at most this often.
const DF_REFRESH: Duration = Duration::from_secs(5);
/// Posts claimed at once for the embedded tagger (spread over the cores, recorded in one transaction).
const EMBEDDED_BATCH: usize = 512;
/// Tagged batches of the embedded tagger that may wait for the writer at once.
const RECORDING_DEPTH: usize = 2;
/// Outcomes of a network tagger are written when this many are waiting, or after [`FLUSH_EVERY`].
const FLUSH_AT: usize = 32;
const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// Pause between passes when nothing is due.
const IDLE: Duration = Duration::from_secs(1);

/// What one tagging attempt ended in.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Tags stored; `source` names the tagger.
    Tagged { tags: Vec<Tag>, source: String },
    /// The attempt failed; the post is now `retrying` or `failed`.
    Failed {
        status: TaggingStatus,
        error: String,
    },
    /// Not stored: the post changed (edited, re-queued) or its claim was taken over meanwhile.
    Stale,
}

/// Counts of one pass over the due posts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PassReport {
    /// Posts tagged.
    pub tagged: usize,
    /// Posts that will be retried later.
    pub retrying: usize,
    /// Posts whose attempts are exhausted.
    pub failed: usize,
    /// Results dropped because the post changed while it was tagged (it is due again).
    pub stale: usize,
    /// Comments tagged (`tagging.comments`).
    pub comments: usize,
}

impl PassReport {
    fn count(&mut self, r: &Recorded) {
        match r {
            Recorded::Applied(TaggingStatus::Success) => self.tagged += 1,
            Recorded::Applied(TaggingStatus::Failed) => self.failed += 1,
            Recorded::Applied(_) => self.retrying += 1,
            Recorded::Stale | Recorded::Error(_) => self.stale += 1,
        }
    }

    fn add(&mut self, o: PassReport) {
        self.tagged += o.tagged;
        self.retrying += o.retrying;
        self.failed += o.failed;
        self.stale += o.stale;
        self.comments += o.comments;
    }

    /// Posts whose attempt was recorded or dropped, and comments tagged.
    pub fn total(&self) -> usize {
        self.tagged + self.retrying + self.failed + self.stale + self.comments
    }
}

/// The tagger's threads, one per core (shared by every embedded pipeline of the process).
fn tagger_threads() -> Arc<TaggerThreads> {
    static THREADS: std::sync::OnceLock<Arc<TaggerThreads>> = std::sync::OnceLock::new();
    Arc::clone(THREADS.get_or_init(|| {
        Arc::new(TaggerThreads::start(
            std::thread::available_parallelism().map_or(2, |n| n.get()),
        ))
    }))
}

/// Which kind of tagger does the work, which decides where it runs.
enum Backend {
    /// CPU-bound and synchronous: run on the tagger's threads, one batch per core.
    Embedded(Arc<EmbeddedTagger>, Arc<TaggerThreads>),
    /// Awaited (network), `concurrency` at once, with the embedded tagger as an optional stand-in.
    Remote {
        tagger: Arc<dyn Tagger>,
        fallback: Option<Arc<EmbeddedTagger>>,
    },
}

/// Per-channel document frequencies, built once from the channel's stored posts and then grown with
/// the posts stored since, never rebuilt — while they fit: past [`DF_CACHE_STEMS`] stems in all, the
/// tables of the channels tagged longest ago are dropped (and built again when next needed).
#[derive(Default)]
struct DocFreqs {
    channels: Mutex<DfCache>,
}

/// The tables with their stems in all.
struct DfCache {
    map: HashMap<i64, DfEntry>,
    stems: usize,
    /// [`DF_CACHE_STEMS`] (smaller in tests).
    cap: usize,
}

impl Default for DfCache {
    fn default() -> Self {
        DfCache {
            map: HashMap::new(),
            stems: 0,
            cap: DF_CACHE_STEMS,
        }
    }
}

impl DfCache {
    /// The channel's table, marked as just used.
    fn get(&mut self, channel_id: i64) -> Option<DfEntry> {
        let e = self.map.get_mut(&channel_id)?;
        e.used = Instant::now();
        Some(e.clone())
    }

    /// Keeps `entry` for the channel; then drops the least recently used tables until the stems
    /// are back under nine tenths of the cap.
    fn insert(&mut self, channel_id: i64, entry: DfEntry) {
        self.stems += entry.df.stems();
        if let Some(old) = self.map.insert(channel_id, entry) {
            self.stems -= old.df.stems();
        }
        if self.stems <= self.cap {
            return;
        }
        let mut by_age: Vec<(Instant, i64)> =
            self.map.iter().map(|(id, e)| (e.used, *id)).collect();
        by_age.sort_unstable();
        for (_, id) in by_age {
            if self.stems <= self.cap / 10 * 9 || id == channel_id {
                break;
            }
            if let Some(old) = self.map.remove(&id) {
                self.stems -= old.df.stems();
            }
        }
    }
}

#[derive(Clone)]
struct DfEntry {
    df: Arc<DocFreq>,
    /// Highest post row id counted.
    upto: i64,
    refreshed: Instant,
    /// Last asked for (the cache drops the least recently used first).
    used: Instant,
}

/// The configured tagger, its optional embedded fallback, and the retry rules.
pub struct Pipeline {
    store: AsyncStore,
    backend: Backend,
    rules: RetryRules,
    concurrency: usize,
    threads: usize,
    claim_secs: i64,
    doc_freqs: DocFreqs,
    /// Where attempts are counted by outcome, when the service serves `/metrics`.
    metrics: std::sync::OnceLock<Arc<TaggingFamilies>>,
    /// The tagger of comments (`tagging.comments`): the embedded one, whatever tags the posts.
    comments: Option<Arc<EmbeddedTagger>>,
}

/// Tagging's metric family: attempts by outcome.
pub(crate) struct TaggingFamilies {
    attempts: Family<OutcomeLabel, Counter>,
}

impl Families for TaggingFamilies {
    fn register(registry: &mut Registry) -> Self {
        let attempts = Family::default();
        registry.register(
            "tagging_attempts",
            "Tagging attempts by outcome",
            Family::clone(&attempts),
        );
        TaggingFamilies { attempts }
    }
}

/// An outcome value.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    /// The outcome.
    outcome: String,
}

impl Pipeline {
    /// Counts every recorded attempt by outcome into `metrics` (set once, by the service).
    pub(crate) fn set_metrics(&self, metrics: Arc<Metrics>) {
        let _ = self.metrics.set(metrics.of::<TaggingFamilies>());
    }

    fn observe(&self, recorded: &[Recorded]) {
        let Some(m) = self.metrics.get() else { return };
        for r in recorded {
            let outcome = match r {
                Recorded::Applied(status) => status.as_str(),
                Recorded::Stale => "stale",
                Recorded::Error(_) => "error",
            };
            m.attempts
                .get_or_create(&OutcomeLabel {
                    outcome: outcome.into(),
                })
                .inc();
        }
    }

    /// The pipeline `[tagging]` asks for; `None` when `backend = "off"`.
    pub fn from_config(
        cfg: &TaggingConfig,
        store: AsyncStore,
    ) -> Result<Option<Arc<Self>>, String> {
        let embedded = || {
            Arc::new(
                EmbeddedTagger::new()
                    .with_yake(cfg.embedded_yake)
                    .with_noise(&cfg.noise_tags),
            )
        };
        let backend = match cfg.backend.as_str() {
            "off" => return Ok(None),
            "llm" => Backend::Remote {
                tagger: Arc::new(LlmTagger::new(LlmConfig::from_config(cfg))?),
                fallback: cfg.llm_fallback_to_embedded.then(embedded),
            },
            _ => Backend::Embedded(embedded(), tagger_threads()),
        };
        let comments = cfg.comments.then(|| match &backend {
            Backend::Embedded(t, _) => Arc::clone(t),
            Backend::Remote {
                fallback: Some(t), ..
            } => Arc::clone(t),
            Backend::Remote { .. } => embedded(),
        });
        let mut p = Self::with_backend(store, backend, cfg.max_attempts, cfg.retry_delay);
        p.comments = comments;
        p.concurrency = cfg.concurrency.max(1) as usize;
        p.claim_secs = cfg.claim_timeout.ceil() as i64;
        Ok(Some(Arc::new(p)))
    }

    /// A pipeline around any awaited tagger (tests use scripted ones).
    pub fn new(
        store: AsyncStore,
        tagger: Arc<dyn Tagger>,
        fallback: Option<Arc<EmbeddedTagger>>,
        max_attempts: u32,
        retry_delay: f64,
        concurrency: u32,
    ) -> Self {
        let mut p = Self::with_backend(
            store,
            Backend::Remote { tagger, fallback },
            max_attempts,
            retry_delay,
        );
        p.concurrency = concurrency.max(1) as usize;
        p
    }

    /// A pipeline around the embedded tagger, run on its own low-priority threads.
    pub fn embedded(
        store: AsyncStore,
        tagger: Arc<EmbeddedTagger>,
        max_attempts: u32,
        retry_delay: f64,
    ) -> Self {
        Self::with_backend(
            store,
            Backend::Embedded(tagger, tagger_threads()),
            max_attempts,
            retry_delay,
        )
    }

    fn with_backend(
        store: AsyncStore,
        backend: Backend,
        max_attempts: u32,
        retry_delay: f64,
    ) -> Self {
        Pipeline {
            store,
            backend,
            rules: RetryRules {
                max_attempts: max_attempts.max(1),
                base_delay_secs: retry_delay,
            },
            concurrency: 1,
            threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
            claim_secs: 60,
            doc_freqs: DocFreqs::default(),
            metrics: std::sync::OnceLock::new(),
            comments: None,
        }
    }

    /// The tagger's name (for stats).
    pub fn backend(&self) -> String {
        match &self.backend {
            Backend::Embedded(t, _) => t.name(),
            Backend::Remote { tagger, .. } => tagger.name(),
        }
    }

    /// The channel's document frequencies, grown with posts stored since they were last looked at.
    async fn doc_freq(&self, channel_id: i64) -> Result<Arc<DocFreq>, StoreError> {
        let known = lock(&self.doc_freqs.channels).get(channel_id);
        if let Some(e) = &known
            && e.refreshed.elapsed() < DF_REFRESH
        {
            return Ok(Arc::clone(&e.df));
        }
        let after = known.as_ref().map(|e| e.upto);
        let (texts, upto) = self
            .store
            .read("read channel texts", move |s| match after {
                None => s.channel_texts(channel_id, DF_POSTS),
                Some(after) => s.channel_texts_after(channel_id, after, DF_POSTS),
            })
            .await?;
        let base = known.map(|e| e.df);
        let df = tokio::task::spawn_blocking(move || {
            let mut df = base.map(|d| (*d).clone()).unwrap_or_default();
            for t in &texts {
                df.add(t);
            }
            Arc::new(df)
        })
        .await
        .map_err(|e| StoreError::Task {
            what: "count document frequencies".into(),
            reason: e.to_string(),
        })?;
        let entry = DfEntry {
            df: Arc::clone(&df),
            upto: upto.max(after.unwrap_or(0)),
            refreshed: Instant::now(),
            used: Instant::now(),
        };
        lock(&self.doc_freqs.channels).insert(channel_id, entry);
        Ok(df)
    }

    /// Tags one claimed post now and records the attempt (for `tags regenerate`).
    pub async fn tag_one(&self, post: DuePost) -> Result<Outcome, StoreError> {
        let df = self.doc_freq(post.channel_id).await?;
        let (claim, id) = (post.claim, post.id);
        let result = match &self.backend {
            Backend::Embedded(t, threads) => {
                let t = Arc::clone(t);
                let text = post.text.clone();
                threads
                    .run(move || embedded_result(&t, &text, &df))
                    .await
                    .ok_or_else(|| StoreError::Task {
                        what: "tag a post".into(),
                        reason: "the tagger panicked".into(),
                    })?
            }
            Backend::Remote { tagger, fallback } => {
                remote_result(tagger.as_ref(), fallback.clone(), &post, df).await
            }
        };
        // The tags, or the error: the outcome once the store has said what the post became.
        let outcome = match &result {
            AttemptResult::Tagged { tags, source } => Ok(Outcome::Tagged {
                tags: tags
                    .iter()
                    .map(|(tag, score)| Tag {
                        tag: tag.clone(),
                        score: *score,
                    })
                    .collect(),
                source: source.clone(),
            }),
            AttemptResult::Failed { error } => Err(error.clone()),
        };
        let attempt = Attempt {
            post_id: id,
            claim,
            result,
        };
        let rules = self.rules;
        let recorded = self
            .store
            .with_background("record a tagging attempt", move |s| {
                s.record_attempts(&[attempt], rules)
            })
            .await?;
        self.observe(&recorded);
        Ok(match (recorded.first(), outcome) {
            (Some(Recorded::Applied(status)), Err(error)) => Outcome::Failed {
                status: *status,
                error,
            },
            (Some(Recorded::Applied(_)), Ok(tagged)) => tagged,
            _ => Outcome::Stale,
        })
    }

    /// Tags every post that is due now (pending, and retrying ones whose time has come), until none is
    /// left or `cancel`.
    pub async fn run_due(
        self: &Arc<Self>,
        cancel: &CancellationToken,
    ) -> Result<PassReport, StoreError> {
        let mut report = self.run_due_posts(cancel).await?;
        report.comments += self.tag_comments(cancel).await?;
        Ok(report)
    }

    /// Tags the comments not tagged yet with the embedded tagger (`tagging.comments`), after the
    /// posts: a comment has no retry state, as the embedded tagger cannot fail.
    async fn tag_comments(&self, cancel: &CancellationToken) -> Result<usize, StoreError> {
        let Some(tagger) = &self.comments else {
            return Ok(0);
        };
        let mut done = 0;
        while !cancel.is_cancelled() {
            let due = self
                .store
                .read("list comments to tag", |s| {
                    s.comments_to_tag(COMMENTS_PER_BATCH)
                })
                .await?;
            if due.is_empty() {
                break;
            }
            let t = Arc::clone(tagger);
            let tags: Vec<(i64, Vec<String>)> = tokio::task::spawn_blocking(move || {
                due.into_iter()
                    .map(|(id, text)| {
                        let tags = t.tags(&text, None).into_iter().map(|t| t.tag).collect();
                        (id, tags)
                    })
                    .collect()
            })
            .await
            .map_err(|e| StoreError::Task {
                what: "tag comments".into(),
                reason: e.to_string(),
            })?;
            done += tags.len();
            self.store
                .with_background("record comments' tags", move |s| s.set_comment_tags(&tags))
                .await?;
        }
        Ok(done)
    }

    /// [`Pipeline::run_due`] for posts.
    async fn run_due_posts(
        self: &Arc<Self>,
        cancel: &CancellationToken,
    ) -> Result<PassReport, StoreError> {
        match &self.backend {
            Backend::Embedded(t, threads) => self.run_due_embedded(t, threads, cancel).await,
            Backend::Remote { tagger, fallback } => {
                let mut report = PassReport::default();
                while !cancel.is_cancelled() {
                    let due = self.claim(self.concurrency * 8).await?;
                    let Some(token) = due.first().map(|p| p.claim) else {
                        break;
                    };
                    let renewer = self.renew_while_working(token);
                    let pass = self.remote_batch(tagger, fallback, due, cancel).await;
                    renewer.abort();
                    report.add(pass?);
                }
                Ok(report)
            }
        }
    }

    async fn claim(&self, limit: usize) -> Result<Vec<DuePost>, StoreError> {
        let secs = self.claim_secs;
        self.store
            .with_background("claim posts", move |s| s.claim_due(limit, secs))
            .await
    }

    /// The embedded tagger's loop, as a three-stage pipeline: while the cores tag one batch, the
    /// writer thread records the previous ones (up to [`RECORDING_DEPTH`]) and claims the next, so the
    /// CPU never waits for the disk.
    async fn run_due_embedded(
        self: &Arc<Self>,
        tagger: &Arc<EmbeddedTagger>,
        threads: &Arc<TaggerThreads>,
        cancel: &CancellationToken,
    ) -> Result<PassReport, StoreError> {
        type Recording = tokio::task::JoinHandle<Result<PassReport, StoreError>>;
        let mut report = PassReport::default();
        let mut recording: std::collections::VecDeque<(Recording, tokio::task::JoinHandle<()>)> =
            std::collections::VecDeque::new();
        let mut due = self.claim(EMBEDDED_BATCH).await?;
        while !due.is_empty() {
            let token = due[0].claim;
            let renewer = self.renew_while_working(token);
            let me = Arc::clone(self);
            let next = (!cancel.is_cancelled())
                .then(|| tokio::spawn(async move { me.claim(EMBEDDED_BATCH).await }));
            let attempts = self
                .embedded_batch(tagger, threads, std::mem::take(&mut due))
                .await;
            // At most RECORDING_DEPTH batches wait for the writer: the cores go on tagging while
            // the writer is busy with ingest, and the writer never falls behind by more.
            while recording.len() >= RECORDING_DEPTH {
                let Some((r, renew)) = recording.pop_front() else {
                    break;
                };
                report.add(join_store(r, "record tagging attempts").await?);
                renew.abort();
            }
            let me = Arc::clone(self);
            let attempts = attempts?;
            recording.push_back((
                tokio::spawn(async move { me.record(attempts).await }),
                renewer,
            ));
            due = match next {
                Some(n) => join_store(n, "claim posts").await?,
                None => Vec::new(),
            };
        }
        while let Some((r, renew)) = recording.pop_front() {
            report.add(join_store(r, "record tagging attempts").await?);
            renew.abort();
        }
        Ok(report)
    }

    /// Keeps the claims under `token` alive while a batch is being tagged.
    fn renew_while_working(&self, token: i64) -> tokio::task::JoinHandle<()> {
        let store = self.store.clone();
        let secs = self.claim_secs;
        let every = Duration::from_secs_f64((secs as f64 / 3.0).max(0.5));
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                if let Err(e) = store
                    .with("renew claims", move |s| s.renew_claims(token, secs))
                    .await
                {
                    tracing::warn!(error = %e, "could not renew tagging claims");
                }
            }
        })
    }

    /// Tags a batch with the embedded tagger on its threads, one worker per core.
    async fn embedded_batch(
        &self,
        tagger: &Arc<EmbeddedTagger>,
        threads: &Arc<TaggerThreads>,
        due: Vec<DuePost>,
    ) -> Result<Vec<Attempt>, StoreError> {
        // The batch's channels' tables, several read at once: a fleet's batch spans hundreds of
        // channels, and one read after another made tagging wait on round trips, not on cores.
        let mut channels: Vec<i64> = due.iter().map(|p| p.channel_id).collect();
        channels.sort_unstable();
        channels.dedup();
        let by_channel: HashMap<i64, Arc<DocFreq>> = futures_util::stream::iter(channels)
            .map(|ch| async move { Ok::<_, StoreError>((ch, self.doc_freq(ch).await?)) })
            .buffer_unordered(DF_READS_AT_ONCE)
            .try_collect()
            .await?;
        let by_channel = Arc::new(by_channel);
        // One worker per core, each taking the next post until none is left: every core stays busy
        // to the end of the batch without more threads than cores.
        let due = Arc::new(due);
        let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut work = JoinSet::new();
        for _ in 0..self.threads.max(1).min(due.len()) {
            let (t, dfs, due, next) = (
                Arc::clone(tagger),
                Arc::clone(&by_channel),
                Arc::clone(&due),
                Arc::clone(&next),
            );
            let threads = Arc::clone(threads);
            work.spawn(async move {
                threads
                    .run(move || {
                        let empty = DocFreq::new();
                        let mut out = Vec::new();
                        loop {
                            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let Some(p) = due.get(i) else { break };
                            let df = dfs.get(&p.channel_id).map_or(&empty, |d| d.as_ref());
                            out.push(Attempt {
                                post_id: p.id,
                                claim: p.claim,
                                result: embedded_result(&t, &p.text, df),
                            });
                        }
                        out
                    })
                    .await
            });
        }
        // A chunk takes milliseconds, so shutdown waits for the batch and keeps its results.
        let mut attempts = Vec::new();
        while let Some(done) = work.join_next().await {
            let done = done.ok().flatten().ok_or_else(|| StoreError::Task {
                what: "tag posts".into(),
                reason: "the tagger panicked".into(),
            })?;
            attempts.extend(done);
        }
        Ok(attempts)
    }

    /// Tags a batch with an awaited tagger, `concurrency` at once, writing outcomes as they gather;
    /// at shutdown the attempts in flight are dropped and their claims released.
    async fn remote_batch(
        &self,
        tagger: &Arc<dyn Tagger>,
        fallback: &Option<Arc<EmbeddedTagger>>,
        due: Vec<DuePost>,
        cancel: &CancellationToken,
    ) -> Result<PassReport, StoreError> {
        let token = due.first().map_or(0, |p| p.claim);
        let mut report = PassReport::default();
        let mut queue = due.into_iter();
        let mut running: JoinSet<(i64, Attempt)> = JoinSet::new();
        let mut in_flight: Vec<i64> = Vec::new();
        let mut ready: Vec<Attempt> = Vec::new();
        let mut last_flush = Instant::now();
        loop {
            while running.len() < self.concurrency && !cancel.is_cancelled() {
                let Some(post) = queue.next() else { break };
                let df = self.doc_freq(post.channel_id).await?;
                let (t, f) = (Arc::clone(tagger), fallback.clone());
                in_flight.push(post.id);
                running.spawn(async move {
                    let result = remote_result(t.as_ref(), f, &post, df).await;
                    let attempt = Attempt {
                        post_id: post.id,
                        claim: post.claim,
                        result,
                    };
                    (post.id, attempt)
                });
            }
            if running.is_empty() {
                break;
            }
            tokio::select! {
                _ = cancel.cancelled() => break,
                done = running.join_next() => {
                    match done {
                        Some(Ok((id, attempt))) => {
                            in_flight.retain(|x| *x != id);
                            ready.push(attempt);
                        }
                        Some(Err(e)) => tracing::error!(error = %e, "a tagging attempt panicked; its post is due again when the claim expires"),
                        None => break,
                    }
                }
            }
            if ready.len() >= FLUSH_AT || last_flush.elapsed() >= FLUSH_EVERY {
                report.add(self.record(std::mem::take(&mut ready)).await?);
                last_flush = Instant::now();
            }
        }
        running.abort_all();
        report.add(self.record(ready).await?);
        // Shutdown: what was claimed but not finished is due again at once, with no attempt counted.
        let unfinished: Vec<i64> = in_flight.into_iter().chain(queue.map(|p| p.id)).collect();
        if !unfinished.is_empty() {
            self.store
                .with_background("release claims", move |s| {
                    s.release_claims(token, &unfinished)
                })
                .await?;
        }
        Ok(report)
    }

    async fn record(&self, attempts: Vec<Attempt>) -> Result<PassReport, StoreError> {
        let mut report = PassReport::default();
        if attempts.is_empty() {
            return Ok(report);
        }
        let rules = self.rules;
        let failures: Vec<(i64, String)> = attempts
            .iter()
            .filter_map(|a| match &a.result {
                AttemptResult::Failed { error } => Some((a.post_id, error.clone())),
                AttemptResult::Tagged { .. } => None,
            })
            .collect();
        let recorded = self
            .store
            .with_background("record tagging attempts", move |s| {
                s.record_attempts(&attempts, rules)
            })
            .await?;
        self.observe(&recorded);
        for r in &recorded {
            report.count(r);
        }
        for (post, error) in failures {
            tracing::warn!(post, error = %error, "tagging attempt failed");
        }
        Ok(report)
    }

    /// Tags as posts arrive until `finished()` says no more will come and nothing is due any more, or
    /// `cancel` (`run --once`: tagging keeps up with ingest, then drains what it stored).
    pub(crate) async fn run_until_idle(
        self: &Arc<Self>,
        finished: impl Fn() -> bool,
        cancel: &CancellationToken,
    ) -> Result<PassReport, StoreError> {
        let mut total = PassReport::default();
        loop {
            // Read before the pass: a pass that starts after the producers ended sees all they stored.
            let was_finished = finished();
            let r = self.run_due(cancel).await?;
            total.add(r);
            if cancel.is_cancelled() || (was_finished && r.total() == 0) {
                return Ok(total);
            }
            if r.total() == 0 {
                tokio::select! {
                    _ = cancel.cancelled() => return Ok(total),
                    _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                }
            }
        }
    }

    /// Keeps tagging as posts arrive and retries fall due, until `cancel`. A database error ends it
    /// (the supervisor logs it and starts it again).
    pub(crate) async fn run_forever(
        self: Arc<Self>,
        cancel: CancellationToken,
    ) -> Result<(), StoreError> {
        loop {
            let r = self.run_due(&cancel).await?;
            if r.total() > 0 {
                tracing::info!(
                    tagged = r.tagged,
                    retrying = r.retrying,
                    failed = r.failed,
                    stale = r.stale,
                    "tagging pass"
                );
            }
            tokio::select! {
                _ = cancel.cancelled() => return Ok(()),
                _ = tokio::time::sleep(IDLE) => {}
            }
        }
    }
}

/// Comments tagged per read and write.
const COMMENTS_PER_BATCH: usize = 200;

/// The embedded tagger's attempt on one text (CPU work: call it on a blocking thread).
fn embedded_result(tagger: &EmbeddedTagger, text: &str, df: &DocFreq) -> AttemptResult {
    let tags = tagger.tags(text, Some(df));
    as_result(Ok(tags), tagger.name())
}

/// An awaited tagger's attempt on one post, with the embedded stand-in (on the tagger's threads) when
/// it gives up.
async fn remote_result(
    tagger: &dyn Tagger,
    fallback: Option<Arc<EmbeddedTagger>>,
    post: &DuePost,
    df: Arc<DocFreq>,
) -> AttemptResult {
    let ctx = TagContext {
        doc_freq: Some(&df),
    };
    match (tagger.tag(&post.text, ctx).await, fallback) {
        (Ok(tags), _) => as_result(Ok(tags), tagger.name()),
        (Err(e), Some(fallback)) => {
            tracing::warn!(post = post.id, error = %e, "tagger gave up; using the embedded tagger");
            let text = post.text.clone();
            let name = fallback.name();
            let tags = tagger_threads()
                .run(move || fallback.tags(&text, Some(&df)))
                .await
                .unwrap_or_default();
            let result = if tags.is_empty() { Err(e) } else { Ok(tags) };
            as_result(result, name)
        }
        (Err(e), None) => as_result(Err(e), tagger.name()),
    }
}

fn as_result(result: Result<Vec<Tag>, TagError>, source: String) -> AttemptResult {
    match result {
        Ok(tags) if !tags.is_empty() => AttemptResult::Tagged {
            tags: tags.into_iter().map(|t| (t.tag, t.score)).collect(),
            source,
        },
        Ok(_) => AttemptResult::Failed {
            error: "the tagger found no tags".into(),
        },
        Err(e) => AttemptResult::Failed {
            error: e.to_string(),
        },
    }
}

async fn join_store<T>(
    h: tokio::task::JoinHandle<Result<T, StoreError>>,
    what: &str,
) -> Result<T, StoreError> {
    h.await.map_err(|e| StoreError::Task {
        what: what.to_string(),
        reason: e.to_string(),
    })?
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tgsift_store::PostIn;
    use tgsift_store::testing::post;

    #[tokio::test]
    async fn document_frequencies_grow_with_new_posts_instead_of_being_rebuilt() {
        let (_dir, mut s) = tgsift_store::testing::sqlite();
        let first: Vec<PostIn> = (1..=10).map(|i| post(i, "markets rally today")).collect();
        let ch = tgsift_store::testing::news_with(&mut s, &first);
        let store = AsyncStore::new(s);
        let p = Pipeline::embedded(store.clone(), Arc::new(EmbeddedTagger::new()), 3, 1.0);
        assert_eq!(p.doc_freq(ch).await.expect("df").docs(), 10);
        // An old post disappears (a rebuild would notice) and new ones arrive.
        let id = ch;
        store
            .with("change the channel", move |s| {
                s.as_sqlite_mut()
                    .expect("an SQLite store")
                    .write("drop a post", |tx| {
                        tx.execute("DELETE FROM posts WHERE message_id = 1", [])
                    })?;
                let more: Vec<PostIn> = (11..=15).map(|i| post(i, "bonds fall")).collect();
                s.store_batch(id, "@news", &more, Some((11, 15)))
            })
            .await
            .expect("more posts");
        assert_eq!(
            p.doc_freq(ch).await.expect("df").docs(),
            10,
            "cached for a while"
        );
        if let Some(e) = lock(&p.doc_freqs.channels).map.get_mut(&ch) {
            e.refreshed -= DF_REFRESH;
        }
        assert_eq!(
            p.doc_freq(ch).await.expect("df").docs(),
            15,
            "grown by the five new posts, not rebuilt from what is stored now (14)"
        );
    }

    #[test]
    fn the_document_frequencies_of_the_channels_tagged_longest_ago_are_dropped_first() {
        let table = |words: &str| DfEntry {
            df: Arc::new(DocFreq::from_texts([words])),
            upto: 1,
            refreshed: Instant::now(),
            used: Instant::now(),
        };
        let mut cache = DfCache {
            cap: 10,
            ..DfCache::default()
        };
        cache.insert(1, table("alpha beta gamma delta"));
        cache.insert(2, table("one two three four"));
        std::thread::sleep(Duration::from_millis(2));
        assert!(
            cache.get(1).is_some(),
            "channel 1 used again: 2 is now the oldest"
        );
        assert_eq!(cache.stems, 8);
        cache.insert(3, table("red green blue cyan"));
        assert!(cache.map.contains_key(&1) && cache.map.contains_key(&3));
        assert!(
            !cache.map.contains_key(&2),
            "the least recently used table went"
        );
        assert_eq!(cache.stems, 8);
        // A table larger than the cap is kept: the channel being tagged needs it.
        cache.insert(
            4,
            table("north south east west up down left right top bottom middle"),
        );
        assert_eq!(cache.map.keys().copied().collect::<Vec<_>>(), vec![4]);
        assert_eq!(cache.stems, 11);
    }
}
