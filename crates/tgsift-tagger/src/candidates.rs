//! Which runs of words may be tags: stop words, verbs and numbers out, names never cut, and the
//! statistics (count, nesting, first position, surface forms) of every candidate phrase of a text.

// Fx hashing: the tagger hashes short words millions of times, where SipHash was a tenth of its time.
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use whatlang::Lang;

use super::EmbeddedTagger;
use super::morph::{Morph, Pos};
use super::tokenize::{
    Kind, Script, Token, Traits, Word, is_cyrillic, is_letter, is_letter_or_digit, script_of,
};
use super::words::Lists;

impl EmbeddedTagger {
    /// The language a cleaned text is processed as.
    pub(super) fn language(&self, text: &str) -> Option<PostLang> {
        let (mut cyr, mut lat) = (0usize, 0usize);
        for c in text.chars() {
            if is_cyrillic(c) && is_letter(c) {
                cyr += 1;
            } else if is_letter(c)
                && !is_cyrillic(c)
                && (c.is_ascii_alphabetic() || matches!(c, '\u{00C0}'..='\u{024F}'))
            {
                // `script_of` of the one letter, without encoding it.
                lat += 1;
            }
        }
        let total = cyr + lat;
        if total == 0 {
            return None;
        }
        let share = cyr as f64 / total as f64;
        if total >= 40 && share >= 0.7 {
            return Some(PostLang::Ru);
        }
        if total >= 40 && share <= 0.3 {
            return Some(PostLang::En);
        }
        match self.detector.detect_lang(text) {
            Some(Lang::Rus) => Some(PostLang::Ru),
            Some(_) => Some(PostLang::En),
            None if share >= 0.5 => Some(PostLang::Ru),
            None => Some(PostLang::En),
        }
    }

    /// Phrase statistics of a text: every run of 1..=`n` words not crossing a break, whose edge
    /// words are neither stop words nor verb-like.
    pub(super) fn grams(&self, toks: &[Token], n: usize) -> Grams {
        let mut grams = Grams::default();
        let mut next = 0u32;
        let none = Traits {
            ok: false,
            ok_start: false,
            ok_edge: false,
        };
        let traits: Vec<Traits> = toks
            .iter()
            .map(|t| match &t.word {
                Some(w) if t.kind == Kind::Word => traits(w, self.lists),
                _ => none,
            })
            .collect();
        let word_ok: Vec<bool> = traits.iter().map(|t| t.ok).collect();
        let mut windows: Vec<(usize, usize)> = Vec::new();
        for i in 0..toks.len() {
            if !traits[i].ok_start {
                continue;
            }
            for len in 1..=n {
                let j = i + len - 1;
                if j >= toks.len() || toks[j].kind != Kind::Word {
                    break;
                }
                if !traits[j].ok_edge {
                    continue;
                }
                if cuts_name(toks, i, j, &word_ok) {
                    continue;
                }
                // Inner words are content words that are not verb forms, or English «of»
                // («conflict of interest», not «computer solves problem»).
                if !(i + 1..j).all(|m| traits[m].ok_edge || toks[m].lower() == "of") {
                    continue;
                }
                // Phrases are told apart by their words' stem ids (equal stems, equal ids) and
                // surface forms by their words (one per lower-cased form): no string is built.
                let mut key = [0u64; MAX_WORDS];
                for (k, t) in key.iter_mut().zip(&toks[i..=j]) {
                    *k = t.stem_id();
                }
                let at = *grams.by_key.entry(key).or_insert_with(|| {
                    grams.list.push(Gram {
                        first: next,
                        at: i as u32,
                        len: len as u8,
                        ..Gram::default()
                    });
                    (grams.list.len() - 1) as u32
                });
                let g = &mut grams.list[at as usize];
                next += 1;
                g.count += 1;
                let same = |s: u32| {
                    toks[s as usize..=s as usize + j - i]
                        .iter()
                        .zip(&toks[i..=j])
                        .all(|(a, b)| same_word(a, b))
                };
                if g.form.1 == 0 {
                    g.form = (i as u32, 1);
                } else if same(g.form.0) {
                    g.form.1 += 1;
                } else {
                    match g.more_forms.iter_mut().find(|f| same(f.0)) {
                        Some(f) => f.1 += 1,
                        None => g.more_forms.push((i as u32, 1)),
                    }
                }
                windows.push((i, j));
            }
        }
        // Occurrences of single words inside longer candidate phrases (C-value-like nesting); a
        // single word's key is its stem.
        let mut covered = vec![false; toks.len()];
        for &(i, j) in &windows {
            if j > i {
                covered[i..=j].iter_mut().for_each(|c| *c = true);
            }
        }
        for &(i, j) in &windows {
            if i == j && covered[i] {
                let mut key = [0u64; MAX_WORDS];
                key[0] = toks[i].stem_id();
                if let Some(&at) = grams.by_key.get(&key) {
                    grams.list[at as usize].nested += 1;
                }
            }
        }
        grams
    }
}

/// Most words in a phrase (English; Russian phrases have at most 2).
const MAX_WORDS: usize = 3;

/// Whether two word tokens are the same lower-cased form.
fn same_word(a: &Token, b: &Token) -> bool {
    match (&a.word, &b.word) {
        (Some(x), Some(y)) => std::rc::Rc::ptr_eq(x, y),
        _ => false,
    }
}

/// What the candidate rules make of a word (computed on its first occurrence in the thread).
fn traits(w: &Word, lists: &Lists) -> Traits {
    *w.traits.get_or_init(|| {
        let ok = !is_stop(w, lists);
        Traits {
            ok,
            ok_start: ok && !verb_like(w, false, lists),
            ok_edge: ok && !verb_like(w, true, lists),
        }
    })
}

/// Whether a word may not start (or, with `at_end`, end) a tag: for Russian words the dictionary
/// knows, anything but a noun or a full adjective (verbs, participles, gerunds, adverbs, short
/// adjectives…); for the others a suffix heuristic; for English, verb forms and adverbs.
fn verb_like(word: &Word, at_end: bool, lists: &Lists) -> bool {
    let w = &*word.folded;
    match script_of(w) {
        Script::Cyrillic => {
            let morph = Morph::get();
            let parses = morph.parse(&word.lower);
            match parses.first() {
                Some(p) => !matches!(morph.tag(p).pos, Pos::Noun | Pos::Adjf),
                None => ru_verb_like(w, &lists.ru_verb_like_nouns),
            }
        }
        Script::Latin => {
            lists.en_verbs.contains(w)
                || (!at_end && lists.en_ing.contains(w))
                || en_edge_junk(w, at_end, &lists.en_ed_nouns)
        }
        Script::Other => false,
    }
}

/// Whether a word is a stop word (either language), a stop stem, or shorter than 3 letters.
fn is_stop(w: &Word, lists: &Lists) -> bool {
    let folded = &*w.folded;
    let chars = folded.chars().filter(|c| is_letter_or_digit(*c)).count();
    chars < 3
        || lists.stop.contains(folded)
        || (folded.len() > 3
            && folded.ends_with('s')
            && lists.stop.contains(&folded[..folded.len() - 1]))
        || lists.stop_stems.contains(&*w.stem)
}

/// Whether a lower-cased, ё-folded Russian word looks like a verb form (finite verb, infinitive,
/// reflexive form or gerund) by its ending: the fallback for words the dictionary lacks.
fn ru_verb_like(w: &str, nouns: &HashSet<String>) -> bool {
    let n = w.chars().count();
    if n < 4 || nouns.contains(w) {
        return false;
    }
    let ends = |s: &[&str]| s.iter().any(|e| w.ends_with(e));
    // reflexive forms and gerunds: продлится, снизился, ожидается, заявив, сделавши
    if n >= 5 && ends(&["ся", "сь", "вши", "вшись"]) {
        return true;
    }
    // infinitives: vowel + ть (but «часть», «власть», «нефть» end in consonant + ть)
    if ends(&[
        "ать", "ять", "еть", "ить", "уть", "ыть", "оть", "йти", "идти", "зти",
    ]) {
        return true;
    }
    // past tense: сохранил(а/о/и), открыл, вернул, начали, сказали
    if n >= 5
        && ends(&[
            "ил",
            "ила",
            "ило",
            "или",
            "ыл",
            "ыла",
            "ыло",
            "ыли",
            "нул",
            "нула",
            "нуло",
            "нули",
            "али",
            "яли",
            "ял",
            "яла",
            "яло",
            "ули",
            "шел",
            "шла",
            "шло",
            "шли",
            "вел",
            "вела",
            "вело",
            "вели",
            "рос",
            "росла",
            "росло",
            "росли",
            "упал",
            "упала",
            "брал",
            "брала",
            "грал",
            "казал",
            "грала",
            "казала",
            "стала",
            "жала",
            "сказал",
            "начал",
            "заявлял",
        ])
    {
        return true;
    }
    // present/future: снижает, растет, делают, говорят, снизит, лежат
    if ends(&[
        "ает",
        "яет",
        "еет",
        "ует",
        "оет",
        "ают",
        "яют",
        "еют",
        "уют",
        "оют",
        "ят",
        "жат",
        "шат",
        "чат",
        "щат",
        "ит",
        "идет",
        "йдет",
        "растет",
        "берет",
        "ведет",
        "несет",
        "живет",
        "ждет",
        "зовет",
        "дут",
        "сут",
        "растут",
        "берут",
        "ешь",
        "ишь",
        "ете",
        "ите",
        "ем",
    ]) {
        // «-ем», «-ит», «-ете», «-ите» are also noun endings (объем, кредит, сайте): only long words.
        return !(ends(&["ем", "ете", "ите"]) && n < 7);
    }
    false
}

/// Inflected forms of an English verb: `-s`, `-ed`, `-ing` (without and with a doubled consonant).
pub(super) fn en_forms(base: &str) -> (Vec<String>, Vec<String>) {
    let mut finite = vec![base.to_owned()];
    let mut ing = Vec::new();
    let last = base.chars().last().unwrap_or(' ');
    let before = base.chars().rev().nth(1).unwrap_or(' ');
    let vowel = |c: char| "aeiou".contains(c);
    if last == 'y' && !vowel(before) {
        let stem = &base[..base.len() - 1];
        finite.push(format!("{stem}ies"));
        finite.push(format!("{stem}ied"));
    } else if base.ends_with(['s', 'x', 'z', 'o']) || base.ends_with("sh") || base.ends_with("ch") {
        finite.push(format!("{base}es"));
        finite.push(format!("{base}ed"));
    } else {
        finite.push(format!("{base}s"));
        finite.push(if last == 'e' {
            format!("{base}d")
        } else {
            format!("{base}ed")
        });
    }
    if last == 'e' && before != 'e' {
        ing.push(format!("{}ing", &base[..base.len() - 1]));
    } else {
        ing.push(format!("{base}ing"));
    }
    if !vowel(last) && vowel(before) && !"wxy".contains(last) {
        finite.push(format!("{base}{last}ed"));
        ing.push(format!("{base}{last}ing"));
    }
    (finite, ing)
}

/// Whether a lower-cased English word may not stand at a phrase edge: adverbs in `-ly`, and (at the
/// end) past forms in `-ed`.
fn en_edge_junk(w: &str, at_end: bool, ed_nouns: &HashSet<String>) -> bool {
    let n = w.chars().count();
    if n > 4 && w.ends_with("ly") && !w.ends_with("ply") && !w.ends_with("ally") {
        return true;
    }
    at_end && n > 4 && w.ends_with("ed") && !ed_nouns.contains(w)
}

/// Whether the phrase `toks[i..=j]` cuts a capitalised name: its last word is capitalised and so is
/// the next word, or its first word is capitalised and so is the previous (not sentence-initial,
/// not stop) word — «press secretary Jay» of «Jay Carney».
pub(super) fn cuts_name(toks: &[Token], i: usize, j: usize, word_ok: &[bool]) -> bool {
    if toks[j].cap
        && toks
            .get(j + 1)
            .is_some_and(|t| t.kind == Kind::Word && t.cap)
    {
        return true;
    }
    if toks[i].cap && i > 0 {
        let prev = &toks[i - 1];
        let initial = i < 2 || toks[i - 2].kind == Kind::End;
        if prev.kind == Kind::Word && prev.cap && word_ok[i - 1] && !initial {
            return true;
        }
    }
    false
}

/// The language a post is processed as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum PostLang {
    Ru,
    En,
}

/// Every candidate phrase of a text, by its words' stems.
#[derive(Debug, Default)]
pub(super) struct Grams {
    /// The phrases in first-seen order.
    pub(super) list: Vec<Gram>,
    /// Stem ids of a phrase's words (0 after its last) → its place in `list`.
    by_key: HashMap<[u64; MAX_WORDS], u32>,
}

/// Statistics of one phrase (by stem key) in one text.
#[derive(Debug, Default)]
pub(super) struct Gram {
    pub(super) count: u32,
    /// Occurrences (of a single word) inside a longer phrase candidate.
    pub(super) nested: u32,
    /// Index of the first occurrence among the text's grams.
    pub(super) first: u32,
    /// Token index of the first occurrence.
    pub(super) at: u32,
    /// Number of words.
    pub(super) len: u8,
    /// The first surface form seen (token index of an occurrence) and how often it occurs.
    form: (u32, u32),
    /// The other surface forms, in first-seen order (most phrases have one).
    more_forms: Vec<(u32, u32)>,
}

impl Gram {
    /// Token index of an occurrence of the most frequent surface form (the first seen among
    /// equals).
    pub(super) fn best_form(&self) -> u32 {
        let mut best = self.form;
        for f in &self.more_forms {
            if f.1 > best.1 {
                best = *f;
            }
        }
        best.0
    }
}
