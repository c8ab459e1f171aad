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
///
/// Stems are kept as 64-bit SipHash keys (`key`), not strings: a worker of a fleet keeps the
/// tables of thousands of channels, and a key with its count takes about 20 bytes where a boxed
/// stem took about 60 (a clone is one copy of the table, not one allocation per stem). Two stems of
/// one channel share a key with a chance of about n² / 2⁶⁵ — one in 10¹¹ for 20,000 stems.
#[derive(Clone, Debug, Default)]
pub struct DocFreq {
    docs: usize,
    df: HashMap<u64, u32>,
}

/// A stem's key in a [`DocFreq`]: SipHash-2-4 under fixed keys, the same in every run (std's
/// `SipHasher`, deprecated only in favour of the randomly keyed default).
fn key(stem: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    #[allow(deprecated)]
    let mut h = std::hash::SipHasher::new_with_keys(0x7467_7369_6674_6466, 0x646f_6366_7265_7173);
    stem.hash(&mut h);
    h.finish()
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
                let n = self.df.entry(key(stem)).or_insert(0);
                *n = n.saturating_add(1);
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

    /// How many distinct stems are counted: what the table costs (about 20 bytes each).
    pub fn stems(&self) -> usize {
        self.df.len()
    }

    /// How many documents were counted.
    pub fn docs(&self) -> usize {
        self.docs
    }

    /// In how many documents the stem occurs.
    pub(super) fn count(&self, stem: &str) -> u32 {
        self.df.get(&key(stem)).copied().unwrap_or(0)
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
