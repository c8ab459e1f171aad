//! Full-text search over posts: an FTS5 index of the stemmed text (migration 5 explains the design),
//! queries stemmed the same way, ranked by bm25, with snippets of the original text.
//!
//! The index is filled behind ingest (migration 8): storing a post queues it, and
//! [`AsyncStore::index_search_batch`] — the service's `search-index` task — stems queued posts on a
//! read connection and adds them in batches, so the writer spends a few microseconds per post on
//! search instead of the stemming and FTS insert. [`SqliteStore::index_queued`] catches the index up before
//! a search, so a search never misses a stored post.

use serde::Serialize;

use crate::StoreError;
use crate::stem::search_text;

/// What to search for, and where.
#[derive(Clone, Debug)]
pub struct SearchQuery {
    /// The user's words: every word must occur (in any inflection); `"quoted words"` must occur as a
    /// phrase.
    pub text: String,
    /// Only posts of these channels (row ids).
    pub channel_ids: Option<Vec<i64>>,
    /// Only posts dated on or after this (unix seconds).
    pub since: Option<i64>,
    /// Only these posts (row ids): which of a batch match (watches).
    pub post_ids: Option<Vec<i64>>,
    /// Posts deleted in their channel too.
    pub include_deleted: bool,
    /// At most this many hits, best first.
    pub limit: usize,
    /// What is put before and after each matched word in the snippet.
    pub highlight: (String, String),
}

impl SearchQuery {
    /// A query for `text` over every channel: 20 hits, matches marked `[` … `]`.
    pub fn new(text: &str) -> Self {
        SearchQuery {
            text: text.to_owned(),
            channel_ids: None,
            since: None,
            post_ids: None,
            include_deleted: false,
            limit: 20,
            highlight: ("[".into(), "]".into()),
        }
    }
}

/// One post found.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SearchHit {
    /// Post row id.
    pub id: i64,
    /// Channel label (`@name` or id).
    pub channel: String,
    /// Message id in the channel.
    pub message_id: i32,
    /// Date (unix seconds).
    pub date: i64,
    /// Up to about 24 words of the text around the matches, matches highlighted.
    pub snippet: String,
    /// Relevance (bm25, negated so that higher is better).
    pub score: f64,
}

/// The FTS5 MATCH expression for a user's query: each word (or quoted phrase) stemmed and quoted, all
/// required. `None` when the query has no word to look for.
pub fn match_expression(query: &str) -> Option<String> {
    let mut parts: Vec<String> = Vec::new();
    for (i, chunk) in query.split('"').enumerate() {
        // Odd chunks were inside quotes: one phrase; the others are words.
        let groups: Vec<&str> = if i % 2 == 1 {
            vec![chunk]
        } else {
            chunk.split_whitespace().collect()
        };
        for g in groups {
            let stemmed = search_text(g);
            if stemmed.chars().any(char::is_alphanumeric) {
                parts.push(format!("\"{stemmed}\""));
            }
        }
    }
    (!parts.is_empty()).then(|| parts.join(" "))
}

/// Queued posts indexed per batch: a batch's write stays short beside ingest's.
pub const INDEX_BATCH: usize = 2_000;

/// A queued post, stemmed off the writer and ready for the index.
#[derive(Clone, Debug)]
pub struct Stemmed {
    pub(crate) id: i64,
    /// The text that was stemmed: the post is indexed only if it still has it.
    pub(crate) text: String,
    pub(crate) stemmed: String,
}

/// Full-text search and the index filled behind ingest.
pub trait SearchStore {
    /// Reads up to `limit` queued posts, oldest first, and stems them (only reads: a reader
    /// connection will do).
    fn stem_queued(&self, limit: usize) -> Result<Vec<Stemmed>, StoreError>;

    /// Adds stemmed posts to the index and takes them off the queue — each only if it is still
    /// queued with the text that was stemmed (an edit in between queues it again with the new text);
    /// returns how many were indexed.
    fn index_stemmed(&mut self, batch: &[Stemmed]) -> Result<usize, StoreError>;

    /// Indexes every queued post (a search calls it first); returns how many.
    fn index_queued(&mut self) -> Result<usize, StoreError> {
        let mut total = 0;
        loop {
            let batch = self.stem_queued(INDEX_BATCH)?;
            if batch.is_empty() {
                return Ok(total);
            }
            total += self.index_stemmed(&batch)?;
        }
    }

    /// Posts stored but not yet in the search index.
    fn search_backlog(&self) -> Result<i64, StoreError>;

    /// Posts matching `q`, best first (bm25), with highlighted snippets; empty when the query has no
    /// word to look for (see [`match_expression`]).
    fn search_posts(&self, q: &SearchQuery) -> Result<Vec<SearchHit>, StoreError>;
}
