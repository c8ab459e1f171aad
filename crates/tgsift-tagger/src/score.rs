//! How candidates are ranked: per-channel TF-IDF with mild penalties on length and late first
//! mention, optionally YAKE's score as a tie-breaker.
//!
//! ```text
//! score = tf^TF_POWER · idf · yake^-YAKE_WEIGHT · words^-LENGTH_PENALTY · (1 + first)^-POSITION_DECAY
//! ```
//!
//! `tf` counts a single word's occurrences outside longer candidate phrases (so «beauty» does not
//! outrank «sleeping beauty» on the phrase's own occurrences); `idf` is the geometric mean of the
//! words' smoothed IDF against the channel's posts (1 without them); `yake` is YAKE's score (lower
//! is better; 1/tf without YAKE); `first` is the index of the first occurrence among the text's
//! candidate phrases. The weights were chosen on the English keyphrase sets of
//! `scripts/eval-tags.sh` (news and science) and checked on the Russian tuning set
//! `tests/data/ru_posts.jsonl`: plain TF-IDF ranks best on news, YAKE's context features add a
//! little, phrases must be rare enough to leave room for the single words news annotators pick, and
//! earlier words matter more (a post's first line is its headline). The held-out Russian set
//! `tests/data/ru_posts_heldout.jsonl` was never used to choose them.

use rustc_hash::FxHashMap as HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};

use super::candidates::PostLang;
use super::lemma::TextMorph;
use super::tokenize::tokenize;
use super::{DocFreq, EmbeddedTagger};

/// Exponent of a phrase's term frequency.
const TF_POWER: f64 = 1.25;
/// Exponent of YAKE's score: a light tie-breaker on top of TF-IDF.
const YAKE_WEIGHT: f64 = 0.05;
/// Exponent of the penalty on a phrase's number of words.
const LENGTH_PENALTY: f64 = 0.5;
/// Exponent of the penalty on a phrase's first position.
const POSITION_DECAY: f64 = 0.2;
/// An occurrence of a word inside a longer candidate phrase counts this much towards the word's own
/// frequency.
const NESTED_WEIGHT: f64 = 0.0;
/// Floor of a phrase's effective frequency (a word seen only inside longer phrases).
const MIN_TF: f64 = 0.1;

/// A scored candidate before output.
#[derive(Debug)]
pub(super) struct Candidate {
    /// Stems of its words, space-separated: the grouping key.
    pub(super) key: String,
    /// Its most frequent lower-case form in the text.
    pub(super) form: String,
    /// Stems of its words.
    pub(super) stems: Vec<String>,
    /// Its score, higher is better.
    pub(super) score: f64,
    /// Index of its first occurrence among the text's phrases.
    pub(super) first: u32,
}

impl EmbeddedTagger {
    /// YAKE's candidates of the text, lowest (best) score first; `None` if YAKE failed.
    fn yake(&self, text: &str, lang: PostLang) -> Option<Vec<yake_rust::ResultItem>> {
        let cfg = match lang {
            PostLang::Ru => &self.yake_ru,
            PostLang::En => &self.yake_en,
        };
        catch_unwind(AssertUnwindSafe(|| {
            yake_rust::get_n_best(usize::MAX, text, &self.yake_stop, cfg)
        }))
        .ok()
    }

    /// Scored candidates of a cleaned text, best first, with the text's analyses to show them by
    /// ([`Scored::shown`]: most candidates are never shown, so they are not put in dictionary form).
    pub(super) fn candidates(&self, text: &str, lang: PostLang, df: Option<&DocFreq>) -> Scored {
        let n = match lang {
            PostLang::Ru => 2,
            PostLang::En => 3,
        };
        let toks = tokenize(text, &self.stemmers);
        let morph = TextMorph::new(&toks);
        let grams = self.grams(&toks, n, &morph);
        if grams.is_empty() {
            return Scored {
                list: Vec::new(),
                morph,
            };
        }
        // Best YAKE score per stem key (none without YAKE: every phrase is a candidate).
        let mut yake_score: HashMap<String, f64> = HashMap::default();
        if let Some(items) = self.use_yake.then(|| self.yake(text, lang)).flatten() {
            for item in items {
                let key = self.key_of(&item.keyword);
                if key.is_empty() || !item.score.is_finite() {
                    continue;
                }
                let e = yake_score.entry(key).or_insert(f64::INFINITY);
                if item.score < *e {
                    *e = item.score;
                }
            }
        }
        let fallback = yake_score.is_empty();
        let mut out = Vec::new();
        for (key, g) in &grams {
            let y = match yake_score.get(key) {
                Some(&y) => y,
                None if fallback => 1.0 / f64::from(g.count),
                None => continue,
            };
            let stems: Vec<String> = key.split(' ').map(str::to_owned).collect();
            if df.is_some_and(|df| stems.iter().all(|s| df.is_boilerplate(s))) {
                continue;
            }
            // Geometric mean of the words' IDF: one common word does not sink a phrase.
            let idf = match df.filter(|d| d.docs() > 0) {
                Some(df) => stems
                    .iter()
                    .map(|s| df.idf(s))
                    .product::<f64>()
                    .powf(1.0 / stems.len() as f64),
                None => 1.0,
            };
            let eff = f64::from(g.count - g.nested) + NESTED_WEIGHT * f64::from(g.nested);
            let score = eff.max(MIN_TF).powf(TF_POWER)
                * idf
                * y.max(1e-9).powf(-YAKE_WEIGHT)
                * (stems.len() as f64).powf(-LENGTH_PENALTY)
                * (1.0 + f64::from(g.first)).powf(-POSITION_DECAY);
            let Some(form) = g.best_form() else { continue };
            out.push(Candidate {
                key: key.clone(),
                form: form.to_owned(),
                stems,
                score,
                first: g.first,
            });
        }
        out.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then(a.first.cmp(&b.first))
                .then(a.key.cmp(&b.key))
        });
        Scored { list: out, morph }
    }
}

/// A text's candidates, best first, and what shows them.
pub(super) struct Scored {
    /// Every candidate, shown or not, best first.
    pub(super) list: Vec<Candidate>,
    morph: TextMorph,
}

impl Scored {
    /// How a candidate is shown (dictionary form, names capitalised), or `None` when it is not a
    /// tag after all (not a thing, a filler).
    pub(super) fn shown(&self, c: &Candidate, tagger: &EmbeddedTagger) -> Option<String> {
        self.morph.show(&c.form, &c.stems, &tagger.lists.ru_fillers)
    }
}
