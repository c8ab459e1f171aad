//! The tagger's word lists. They live in `data/*.txt` (one entry per line, `#` starts a comment) so
//! the code around them reads in one screen; this file builds the sets once per tagger.

use rustc_hash::FxHashSet as HashSet;

use super::candidates::en_forms;
use super::tokenize::fold;

/// Entries of a list file: trimmed non-empty lines that are not comments.
fn entries(text: &'static str) -> impl Iterator<Item = &'static str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
}

/// Words of `stop-words`' Russian list that are content words and make good tags.
const RU_NOT_STOP: &str = include_str!("data/ru_not_stop.txt");
/// Extra Russian stop words: channel boilerplate and units that are never topics.
const RU_EXTRA_STOP: &str = include_str!("data/ru_extra_stop.txt");
/// Stems (Russian Snowball, ё folded) of words that are never topics: months, weekdays, time units.
const RU_STOP_STEMS: &str = include_str!("data/ru_stop_stems.txt");
/// English stems (Snowball) of words that are never topics: months, weekdays, time units.
const EN_STOP_STEMS: &str = include_str!("data/en_stop_stems.txt");
/// Russian nouns that end like verb forms, for words the dictionary lacks.
const RU_VERB_LIKE_NOUNS: &str = include_str!("data/ru_verb_like_nouns.txt");
/// Russian filler words and phrases (dictionary forms) that are never tags, at any position.
const RU_FILLERS: &str = include_str!("data/ru_fillers.txt");
/// Tags that are never topics in either language (newsroom labels, channel furniture).
const NOISE_TAGS: &str = include_str!("data/noise_tags.txt");
/// Common English verbs that are rarely nouns.
const EN_VERBS: &str = include_str!("data/en_verbs.txt");
/// Irregular forms of common English verbs.
const EN_IRREGULAR: &str = include_str!("data/en_irregular.txt");
/// English nouns ending in `-ed`.
const EN_ED_NOUNS: &str = include_str!("data/en_ed_nouns.txt");

/// The word sets a tagger consults, built once.
#[derive(Debug)]
pub(super) struct Lists {
    /// Lower-cased, ё-folded stop words of both languages.
    pub(super) stop: HashSet<String>,
    /// Stop stems (months, weekdays, time units) of both languages.
    pub(super) stop_stems: HashSet<String>,
    /// Russian nouns the verb-suffix heuristic must not take for verbs.
    pub(super) ru_verb_like_nouns: HashSet<String>,
    /// Russian fillers (dictionary forms, ё folded): a tag containing one is dropped.
    pub(super) ru_fillers: HashSet<String>,
    /// Finite forms of common English verbs: never at a phrase edge.
    pub(super) en_verbs: HashSet<String>,
    /// `-ing` forms of common English verbs: never at the start of a phrase.
    pub(super) en_ing: HashSet<String>,
    /// English nouns in `-ed`.
    pub(super) en_ed_nouns: HashSet<String>,
    /// Tags never shown (lower case, ё folded), compared with a whole tag as shown; each tagger
    /// copies them and adds the user's (`EmbeddedTagger::with_noise`).
    pub(super) noise: HashSet<String>,
}

impl Lists {
    /// The lists, built once per process: they never change, so what a word is (a stop word, a
    /// verb form) can be remembered per word (`tokenize::Word::traits`).
    pub(super) fn shared() -> &'static Lists {
        static LISTS: std::sync::OnceLock<Lists> = std::sync::OnceLock::new();
        LISTS.get_or_init(Lists::new)
    }

    /// Builds the sets from the list files and the stop-word lists of `yake-rust` and `stop-words`.
    fn new() -> Self {
        let mut raw: HashSet<String> = HashSet::default();
        for lang in ["ru", "en"] {
            if let Some(sw) = yake_rust::StopWords::predefined(lang) {
                raw.extend(sw.iter().cloned());
            }
        }
        if let Some(words) = stop_words::lookup("ru") {
            raw.extend(words.iter().map(|w| (*w).to_owned()));
        }
        raw.extend(entries(RU_EXTRA_STOP).map(str::to_owned));
        let not_stop: HashSet<String> = entries(RU_NOT_STOP).map(fold).collect();
        let mut stop: HashSet<String> = HashSet::default();
        for w in raw {
            let w = w.trim();
            if w.is_empty() || w.contains(' ') {
                continue;
            }
            let folded = fold(w);
            if !not_stop.contains(&folded) {
                stop.insert(folded);
            }
        }
        let mut en_verbs: HashSet<String> = entries(EN_IRREGULAR).map(str::to_owned).collect();
        let mut en_ing = HashSet::default();
        for v in entries(EN_VERBS) {
            let (finite, ing) = en_forms(v);
            en_verbs.extend(finite);
            en_ing.extend(ing);
        }
        Self {
            stop,
            stop_stems: entries(RU_STOP_STEMS)
                .chain(entries(EN_STOP_STEMS))
                .map(str::to_owned)
                .collect(),
            ru_verb_like_nouns: entries(RU_VERB_LIKE_NOUNS).map(fold).collect(),
            ru_fillers: entries(RU_FILLERS).map(fold).collect(),
            en_verbs,
            en_ing,
            en_ed_nouns: entries(EN_ED_NOUNS).map(str::to_owned).collect(),
            noise: entries(NOISE_TAGS).map(fold).collect(),
        }
    }
}
