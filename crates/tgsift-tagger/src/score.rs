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

use super::candidates::{Grams, PostLang};
use super::lemma::TextMorph;
use super::tokenize::{Token, tokenize};
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

/// The score's factors for small whole numbers, computed once by the same expressions as in
/// [`EmbeddedTagger::candidates`] (so the same values): `powf` was a tenth of the remaining time.
struct Powers {
    /// `k.max(MIN_TF)^TF_POWER` for a phrase's effective frequency `k`.
    tf: Vec<f64>,
    /// `(1/count).max(1e-9)^-YAKE_WEIGHT`: the factor without YAKE.
    yake: Vec<f64>,
    /// `words^-LENGTH_PENALTY`.
    length: Vec<f64>,
    /// `(1 + first)^-POSITION_DECAY`.
    position: Vec<f64>,
}

impl Powers {
    fn get() -> &'static Powers {
        static POWERS: std::sync::OnceLock<Powers> = std::sync::OnceLock::new();
        POWERS.get_or_init(|| Powers {
            tf: (0..256u32)
                .map(|k| f64::from(k).max(MIN_TF).powf(TF_POWER))
                .collect(),
            yake: (0..256u32)
                .map(|c| (1.0 / f64::from(c)).max(1e-9).powf(-YAKE_WEIGHT))
                .collect(),
            length: (0..8u32)
                .map(|n| f64::from(n).powf(-LENGTH_PENALTY))
                .collect(),
            position: (0..4096u32)
                .map(|first| (1.0 + f64::from(first)).powf(-POSITION_DECAY))
                .collect(),
        })
    }

    /// `table[i]`, or `compute()` beyond the table.
    fn lookup(table: &[f64], i: usize, compute: impl FnOnce() -> f64) -> f64 {
        table.get(i).copied().unwrap_or_else(compute)
    }

    /// The frequency factor of an effective frequency (a whole number unless nested occurrences
    /// count a share).
    fn tf(&self, eff: f64) -> f64 {
        if eff >= 0.0 && eff.fract() == 0.0 && eff < self.tf.len() as f64 {
            self.tf[eff as usize]
        } else {
            eff.max(MIN_TF).powf(TF_POWER)
        }
    }
}

/// A candidate as the ranking reads it (built only for the few candidates it reaches).
#[derive(Debug)]
pub(super) struct Candidate {
    /// Stems of its words, space-separated: the grouping key.
    pub(super) key: String,
    /// Stems of its words.
    pub(super) stems: Vec<String>,
    /// Its score, higher is better.
    pub(super) score: f64,
}

/// A scored phrase of [`Scored::grams`].
#[derive(Clone, Copy, Debug)]
pub(super) struct Ranked {
    /// Its place in the text's grams.
    gram: u32,
    /// Its score, higher is better.
    pub(super) score: f64,
    /// Index of its first occurrence among the text's phrases (its own: no two grams share one).
    first: u32,
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
    pub(super) fn candidates<'a>(
        &self,
        text: &'a str,
        lang: PostLang,
        df: Option<&DocFreq>,
    ) -> Scored<'a> {
        let n = match lang {
            PostLang::Ru => 2,
            PostLang::En => 3,
        };
        let toks = tokenize(text, &self.stemmers);
        let morph = TextMorph::new(&toks);
        let grams = self.grams(&toks, n);
        let mut scored = Scored {
            list: Vec::new(),
            toks,
            grams,
            morph,
        };
        if scored.grams.list.is_empty() {
            return scored;
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
        // Each stem's IDF and boilerplate flag, looked up once per text.
        let mut by_stem: HashMap<u64, (f64, bool)> = HashMap::default();
        let mut list = Vec::with_capacity(scored.grams.list.len());
        for (at, g) in scored.grams.list.iter().enumerate() {
            let words = &scored.toks[g.at as usize..g.at as usize + usize::from(g.len)];
            let y = if fallback {
                1.0 / f64::from(g.count)
            } else {
                let key = words.iter().map(|t| t.stem()).collect::<Vec<_>>().join(" ");
                match yake_score.get(&key) {
                    Some(&y) => y,
                    None => continue,
                }
            };
            let mut stem_df = |t: &Token| {
                *by_stem.entry(t.stem_id()).or_insert_with(|| match df {
                    Some(df) => (df.idf(t.stem()), df.is_boilerplate(t.stem())),
                    None => (1.0, false),
                })
            };
            if df.is_some() && words.iter().all(|t| stem_df(t).1) {
                continue;
            }
            // Geometric mean of the words' IDF: one common word does not sink a phrase.
            let idf = match df.filter(|d| d.docs() > 0) {
                Some(_) => words
                    .iter()
                    .map(|t| stem_df(t).0)
                    .product::<f64>()
                    .powf(1.0 / words.len() as f64),
                None => 1.0,
            };
            let eff = f64::from(g.count - g.nested) + NESTED_WEIGHT * f64::from(g.nested);
            let p = Powers::get();
            let yake_factor = match fallback {
                true => {
                    Powers::lookup(&p.yake, g.count as usize, || y.max(1e-9).powf(-YAKE_WEIGHT))
                }
                false => y.max(1e-9).powf(-YAKE_WEIGHT),
            };
            let score = p.tf(eff)
                * idf
                * yake_factor
                * Powers::lookup(&p.length, words.len(), || {
                    (words.len() as f64).powf(-LENGTH_PENALTY)
                })
                * Powers::lookup(&p.position, g.first as usize, || {
                    (1.0 + f64::from(g.first)).powf(-POSITION_DECAY)
                });
            list.push(Ranked {
                gram: at as u32,
                score,
                first: g.first,
            });
        }
        // A gram's first occurrence is its own (`first` differs between grams): the order is
        // total, so an unstable sort gives the one order there is.
        list.sort_unstable_by(|a, b| b.score.total_cmp(&a.score).then(a.first.cmp(&b.first)));
        scored.list = list;
        scored
    }
}

/// A text's candidates, best first, and what shows them.
pub(super) struct Scored<'a> {
    /// Every candidate, shown or not, best first.
    pub(super) list: Vec<Ranked>,
    toks: Vec<Token<'a>>,
    grams: Grams,
    morph: TextMorph<'a>,
}

impl Scored<'_> {
    /// The words of a gram's first occurrence and of its most frequent surface form.
    fn words(&self, r: &Ranked) -> (&[Token<'_>], &[Token<'_>]) {
        let g = &self.grams.list[r.gram as usize];
        let len = usize::from(g.len);
        let (at, form) = (g.at as usize, g.best_form() as usize);
        (&self.toks[at..at + len], &self.toks[form..form + len])
    }

    /// The candidate `list[i]` with its key and stems spelled out.
    pub(super) fn candidate(&self, i: usize) -> Candidate {
        let r = &self.list[i];
        let (words, _) = self.words(r);
        let stems: Vec<String> = words.iter().map(|t| t.stem().to_owned()).collect();
        Candidate {
            key: stems.join(" "),
            stems,
            score: r.score,
        }
    }

    /// How candidate `list[i]` is shown (dictionary form, names capitalised), or `None` when it is
    /// not a tag after all (not a thing, a filler).
    pub(super) fn shown(&self, i: usize, tagger: &EmbeddedTagger) -> Option<String> {
        let (words, form) = self.words(&self.list[i]);
        let stems: Vec<u64> = words.iter().map(Token::stem_id).collect();
        let form = form.iter().map(Token::lower).collect::<Vec<_>>().join(" ");
        self.morph.show(&form, &stems, &tagger.lists.ru_fillers)
    }
}
