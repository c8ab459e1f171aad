//! Tagging: every stored post gets 3–7 topical tags, and the state of that work is stored per post.
//!
//! - [`embedded`]: the default tagger — offline, deterministic, Russian and English (YAKE + per-channel
//!   TF-IDF + hashtags, de-duplicated by stem).
//! - [`llm`]: an opt-in OpenAI-compatible chat-completions tagger with fallback models.
//!
//! A [`Tagger`]'s error says what to do next ([`TagError`]): retry the same model, try the next model,
//! or give up on this attempt. The durable per-post statuses (pending → success | retrying | failed |
//! skipped) live in the store; [`worker`] drives them inside `tgsift run` and the `tags` commands.

pub(crate) mod embedded;
pub mod llm;
mod threads;
pub(crate) mod trends;
pub mod worker;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// One tag with its score (higher is more relevant) as a tagger returns it.
pub use tgsift_tagger::Tag;

/// What a failed tagging attempt means for the caller.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum TagError {
    /// Transient: try the same model again (after `retry_after` when the server said so).
    #[error("temporary failure: {reason}")]
    Retry {
        /// What happened.
        reason: String,
        /// The server's `Retry-After`, if any.
        retry_after: Option<Duration>,
    },
    /// This model cannot do it: try the next fallback model.
    #[error("model unavailable: {reason}")]
    NextModel {
        /// What happened.
        reason: String,
    },
    /// Retrying cannot help in this attempt (auth, quota, bad request): record the error.
    #[error("gave up: {reason}")]
    GiveUp {
        /// What happened.
        reason: String,
    },
}

/// Context a tagger may use beyond the text itself.
#[derive(Clone, Copy, Debug, Default)]
pub struct TagContext<'a> {
    /// Document frequencies of the post's channel, learned from the posts already stored.
    pub doc_freq: Option<&'a tgsift_tagger::DocFreq>,
}

/// A boxed future, so taggers can be used as trait objects.
pub type TagFuture<'a> = Pin<Box<dyn Future<Output = Result<Vec<Tag>, TagError>> + Send + 'a>>;

/// Something that turns a post's text into 3–7 tags.
pub trait Tagger: Send + Sync {
    /// Short name stored as the tags' `source` (e.g. `embedded`, `llm:openai/gpt-4o-mini`).
    fn name(&self) -> String;
    /// Tags one post.
    fn tag<'a>(&'a self, text: &'a str, ctx: TagContext<'a>) -> TagFuture<'a>;
}
