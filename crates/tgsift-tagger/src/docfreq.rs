//! Per-channel document frequencies: what makes a word rare (a good tag) or boilerplate (never a tag)
//! in one channel.

// Fx hashing: the tagger hashes short words millions of times, where SipHash was a tenth of its time.
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use super::MAX_TEXT_BYTES;
use super::tokenize::{Kind, Stemmers, tokenize, truncate};

/// A word in more than this share of a channel's posts is the channel's boilerplate, never a tag.
const BOILERPLATE_SHARE: f64 = 0.5;
/// Fewest posts a channel needs before words are judged boilerplate.
const BOILERPLATE_MIN_DOCS: usize = 10;

/// Per-channel document frequencies, learned from the channel's stored posts, so that words every
/// post of a channel uses (its name, its boilerplate) do not become tags.
#[derive(Clone, Debug, Default)]
pub struct DocFreq {
    docs: usize,
    df: HashMap<Box<str>, u32>,
}

impl DocFreq {
    /// An empty table (no documents).
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts one document: each stemmed word once, however often it occurs.
    pub fn add(&mut self, text: &str) {
        let stemmers = Stemmers::new();
        let text = truncate(text, MAX_TEXT_BYTES);
        let toks = tokenize(text, &stemmers);
        // Each stem once, told apart by id: no string is hashed twice.
        let mut seen: HashSet<u64> = HashSet::default();
        for tok in &toks {
            let stem = tok.stem();
            if tok.kind == Kind::Word && seen.insert(tok.stem_id()) && stem.chars().count() >= 2 {
                match self.df.get_mut(stem) {
                    Some(n) => *n = n.saturating_add(1),
                    None => {
                        self.df.insert(stem.into(), 1);
                    }
                }
            }
        }
        self.docs += 1;
    }

    /// Builds the table from many documents (e.g. a channel's stored posts).
    pub fn from_texts<'a>(texts: impl IntoIterator<Item = &'a str>) -> Self {
        let mut df = Self::new();
        for text in texts {
            df.add(text);
        }
        df
    }

    /// How many documents were counted.
    pub fn docs(&self) -> usize {
        self.docs
    }

    /// In how many documents the stem occurs.
    pub(super) fn count(&self, stem: &str) -> u32 {
        self.df.get(stem).copied().unwrap_or(0)
    }

    /// Smoothed inverse document frequency of a stem.
    pub(super) fn idf(&self, stem: &str) -> f64 {
        let n = self.docs as f64;
        ((n + 1.0) / (f64::from(self.count(stem)) + 1.0)).ln() + 1.0
    }

    /// Whether a stem is the channel's boilerplate (its name, header or footer): in more than
    /// [`BOILERPLATE_SHARE`] of at least [`BOILERPLATE_MIN_DOCS`] posts.
    pub(super) fn is_boilerplate(&self, stem: &str) -> bool {
        self.docs >= BOILERPLATE_MIN_DOCS
            && f64::from(self.count(stem)) > BOILERPLATE_SHARE * self.docs as f64
    }
}
