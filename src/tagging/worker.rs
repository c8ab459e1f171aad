//! The tagging pipeline: workers that take due posts, tag them, and record every attempt durably.
//!
//! Runs inside `tgsift run` (and from `tgsift tags run|retry --wait|regenerate`). Due posts are claimed
//! for a while, so several workers never tag one post twice and a post claimed by a dead worker is due
//! again once the claim expires; `retrying` posts are picked up by the same loop when their time comes,
//! so no external cron is needed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::embedded::{DocFreq, EmbeddedTagger};
use super::llm::{LlmConfig, LlmTagger};
use super::{Tag, TagContext, TagError, Tagger};
use crate::config::TaggingConfig;
use crate::store::{AsyncStore, DuePost, StoreError};

/// How long a worker's claim on a post lasts.
const CLAIM_SECS: i64 = 600;
/// Stored posts a channel's document frequencies are learned from.
const DF_POSTS: usize = 5_000;

/// What one tagging attempt ended in.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Tags stored; `source` names the tagger.
    Tagged { tags: Vec<Tag>, source: String },
    /// The attempt failed; the post is now `retrying` or `failed`.
    Failed { status: &'static str, error: String },
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
}

/// The configured tagger, its optional embedded fallback, and the retry rules.
pub struct Pipeline {
    store: AsyncStore,
    tagger: Arc<dyn Tagger>,
    fallback: Option<Arc<EmbeddedTagger>>,
    max_attempts: u32,
    retry_delay: f64,
    concurrency: usize,
    doc_freqs: Mutex<HashMap<i64, Arc<DocFreq>>>,
}

impl Pipeline {
    /// The pipeline `[tagging]` asks for; `None` when `backend = "off"`.
    pub fn from_config(
        cfg: &TaggingConfig,
        store: AsyncStore,
    ) -> Result<Option<Arc<Self>>, String> {
        let (tagger, fallback): (Arc<dyn Tagger>, Option<Arc<EmbeddedTagger>>) =
            match cfg.backend.as_str() {
                "off" => return Ok(None),
                "llm" => {
                    let llm = LlmTagger::new(LlmConfig::from_config(cfg))?;
                    let fallback = cfg
                        .llm_fallback_to_embedded
                        .then(|| Arc::new(EmbeddedTagger::new().with_yake(cfg.embedded_yake)));
                    (Arc::new(llm), fallback)
                }
                _ => (
                    Arc::new(EmbeddedTagger::new().with_yake(cfg.embedded_yake)),
                    None,
                ),
            };
        Ok(Some(Arc::new(Self::new(
            store,
            tagger,
            fallback,
            cfg.max_attempts,
            cfg.retry_delay,
            cfg.concurrency,
        ))))
    }

    /// A pipeline around any tagger (tests use scripted ones).
    pub fn new(
        store: AsyncStore,
        tagger: Arc<dyn Tagger>,
        fallback: Option<Arc<EmbeddedTagger>>,
        max_attempts: u32,
        retry_delay: f64,
        concurrency: u32,
    ) -> Self {
        Pipeline {
            store,
            tagger,
            fallback,
            max_attempts: max_attempts.max(1),
            retry_delay,
            concurrency: concurrency.max(1) as usize,
            doc_freqs: Mutex::new(HashMap::new()),
        }
    }

    /// The tagger's name (for stats).
    pub fn backend(&self) -> String {
        self.tagger.name()
    }

    async fn doc_freq(&self, channel_id: i64) -> Result<Arc<DocFreq>, StoreError> {
        if let Some(df) = self
            .doc_freqs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&channel_id)
        {
            return Ok(Arc::clone(df));
        }
        let texts = self
            .store
            .with("read channel texts", move |s| {
                s.channel_texts(channel_id, DF_POSTS)
            })
            .await?;
        let df = Arc::new(DocFreq::from_texts(texts.iter().map(String::as_str)));
        self.doc_freqs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(channel_id, Arc::clone(&df));
        Ok(df)
    }

    /// Tags one claimed post and records the attempt (in its own transaction).
    pub async fn tag_one(&self, post: DuePost) -> Result<Outcome, StoreError> {
        let df = self.doc_freq(post.channel_id).await?;
        let ctx = TagContext {
            doc_freq: Some(&df),
        };
        let attempt = self.tagger.tag(&post.text, ctx).await;
        let (result, source) = match (attempt, &self.fallback) {
            (Ok(tags), _) => (Ok(tags), self.tagger.name()),
            (Err(e), Some(fallback)) => {
                tracing::warn!(post = post.id, error = %e, "tagger gave up; using the embedded tagger");
                (
                    fallback.tag(&post.text, ctx).await.map_err(|_| e),
                    fallback.name(),
                )
            }
            (Err(e), None) => (Err(e), self.tagger.name()),
        };
        let id = post.id;
        match result {
            Ok(tags) if !tags.is_empty() => {
                let rows: Vec<(String, f64)> =
                    tags.iter().map(|t| (t.tag.clone(), t.score)).collect();
                let src = source.clone();
                self.store
                    .with("store tags", move |s| s.record_tags(id, &rows, &src))
                    .await?;
                Ok(Outcome::Tagged { tags, source })
            }
            other => {
                let error = match other {
                    Err(e) => describe(&e),
                    Ok(_) => "the tagger found no tags".to_string(),
                };
                let (max, delay, err) = (self.max_attempts, self.retry_delay, error.clone());
                let status = self
                    .store
                    .with("record a tagging failure", move |s| {
                        s.record_tag_failure(id, &err, max, delay)
                    })
                    .await?;
                tracing::warn!(post = id, status, error = %error, "tagging attempt failed");
                Ok(Outcome::Failed { status, error })
            }
        }
    }

    /// Tags every post that is due now (pending, and retrying ones whose time has come), with
    /// `concurrency` workers, until none is left or `cancel`.
    pub async fn run_due(
        self: &Arc<Self>,
        cancel: &CancellationToken,
    ) -> Result<PassReport, StoreError> {
        let mut report = PassReport::default();
        loop {
            if cancel.is_cancelled() {
                break;
            }
            let batch_size = self.concurrency * 16;
            let due = self
                .store
                .with("claim posts", move |s| s.claim_due(batch_size, CLAIM_SECS))
                .await?;
            if due.is_empty() {
                break;
            }
            let mut queue = due.into_iter();
            let mut running = tokio::task::JoinSet::new();
            let mut unstarted = Vec::new();
            loop {
                while running.len() < self.concurrency {
                    let Some(post) = queue.next() else { break };
                    if cancel.is_cancelled() {
                        unstarted.push(post.id);
                        continue;
                    }
                    let me = Arc::clone(self);
                    running.spawn(async move { me.tag_one(post).await });
                }
                let Some(done) = running.join_next().await else {
                    break;
                };
                match done {
                    Ok(Ok(Outcome::Tagged { .. })) => report.tagged += 1,
                    Ok(Ok(Outcome::Failed {
                        status: "failed", ..
                    })) => report.failed += 1,
                    Ok(Ok(Outcome::Failed { .. })) => report.retrying += 1,
                    Ok(Err(e)) => return Err(e),
                    Err(e) => tracing::error!(error = %e, "a tagging task panicked"),
                }
            }
            unstarted.extend(queue.map(|p| p.id));
            if !unstarted.is_empty() {
                // Shutdown: what was claimed but not started is due again at once.
                self.store
                    .with("release claims", move |s| s.release_claims(&unstarted))
                    .await?;
            }
        }
        Ok(report)
    }

    /// Keeps tagging as posts arrive and retries fall due, until `cancel`.
    pub async fn run_forever(self: Arc<Self>, cancel: CancellationToken) -> Result<(), StoreError> {
        loop {
            let r = self.run_due(&cancel).await?;
            if r.tagged + r.retrying + r.failed > 0 {
                tracing::info!(
                    tagged = r.tagged,
                    retrying = r.retrying,
                    failed = r.failed,
                    "tagging pass"
                );
                // Channels grew: relearn their document frequencies now and then.
                self.doc_freqs
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clear();
            }
            tokio::select! {
                _ = cancel.cancelled() => return Ok(()),
                _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            }
        }
    }
}

fn describe(e: &TagError) -> String {
    e.to_string()
}
