//! Which runs of words may be tags: stop words, verbs and numbers out, names never cut, and the
//! statistics (count, nesting, first position, surface forms) of every candidate phrase of a text.

// Fx hashing: the tagger hashes short words millions of times, where SipHash was a tenth of its time.
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use whatlang::Lang;

use super::EmbeddedTagger;
use super::lemma::TextMorph;
use super::tokenize::{Kind, Script, Token, is_cyrillic, is_letter, is_letter_or_digit, script_of};

impl EmbeddedTagger {
    /// The language a cleaned text is processed as.
    pub(super) fn language(&self, text: &str) -> Option<PostLang> {
        let (mut cyr, mut lat) = (0usize, 0usize);
        for c in text.chars() {
            if is_cyrillic(c) && is_letter(c) {
                cyr += 1;
            } else if is_letter(c) && script_of(c.encode_utf8(&mut [0; 4])) == Script::Latin {
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

    /// Whether a word may not start (or, with `at_end`, end) a tag: for Russian words the
    /// dictionary knows, anything but a noun or a full adjective (verbs, participles, gerunds,
    /// adverbs, short adjectives…); for the others a suffix heuristic; for English, verb forms and
    /// adverbs.
    fn verb_like(&self, tok: &Token, at_end: bool, morph: &TextMorph) -> bool {
        let w = tok.folded.as_str();
        match script_of(w) {
            Script::Cyrillic => match morph.is_thing(&tok.lower) {
                Some(thing) => !thing,
                None => ru_verb_like(w, &self.lists.ru_verb_like_nouns),
            },
            Script::Latin => {
                self.lists.en_verbs.contains(w)
                    || (!at_end && self.lists.en_ing.contains(w))
                    || en_edge_junk(w, at_end, &self.lists.en_ed_nouns)
            }
            Script::Other => false,
        }
    }

    /// Whether a word is a stop word (either language), a stop stem, or shorter than 3 letters.
    pub(super) fn is_stop(&self, tok: &Token) -> bool {
        let folded = tok.folded.as_str();
        let chars = folded.chars().filter(|c| is_letter_or_digit(*c)).count();
        chars < 3
            || self.lists.stop.contains(folded)
            || (folded.len() > 3
                && folded.ends_with('s')
                && self.lists.stop.contains(&folded[..folded.len() - 1]))
            || self.lists.stop_stems.contains(&tok.stem)
    }

    /// Phrase statistics of a text: every run of 1..=`n` words not crossing a break, whose edge
    /// words are neither stop words nor verb-like.
    pub(super) fn grams(
        &self,
        toks: &[Token],
        n: usize,
        morph: &TextMorph,
    ) -> HashMap<String, Gram> {
        let mut grams: HashMap<String, Gram> = HashMap::default();
        let mut next = 0u32;
        let word_ok: Vec<bool> = toks
            .iter()
            .map(|t| t.kind == Kind::Word && !self.is_stop(t))
            .collect();
        let ok_start: Vec<bool> = toks
            .iter()
            .zip(&word_ok)
            .map(|(t, &ok)| ok && !self.verb_like(t, false, morph))
            .collect();
        let ok_edge: Vec<bool> = toks
            .iter()
            .zip(&word_ok)
            .map(|(t, &ok)| ok && !self.verb_like(t, true, morph))
            .collect();
        let mut windows: Vec<(usize, usize)> = Vec::new();
        // Key and form of each window are built in these buffers and copied only when new: a
        // text has many windows and few distinct phrases.
        let (mut key, mut form) = (String::new(), String::new());
        for i in 0..toks.len() {
            if !ok_start[i] {
                continue;
            }
            for len in 1..=n {
                let j = i + len - 1;
                if j >= toks.len() || toks[j].kind != Kind::Word {
                    break;
                }
                if !ok_edge[j] {
                    continue;
                }
                if cuts_name(toks, i, j, &word_ok) {
                    continue;
                }
                // Inner words are content words that are not verb forms, or English «of»
                // («conflict of interest», not «computer solves problem»).
                if !(i + 1..j).all(|m| ok_edge[m] || toks[m].lower == "of") {
                    continue;
                }
                key.clear();
                form.clear();
                for (m, t) in toks[i..=j].iter().enumerate() {
                    if m > 0 {
                        key.push(' ');
                        form.push(' ');
                    }
                    key.push_str(&t.stem);
                    form.push_str(&t.lower);
                }
                if !grams.contains_key(key.as_str()) {
                    grams.insert(
                        key.clone(),
                        Gram {
                            first: next,
                            ..Gram::default()
                        },
                    );
                }
                let Some(g) = grams.get_mut(key.as_str()) else {
                    continue;
                };
                next += 1;
                g.count += 1;
                match g.forms.iter_mut().find(|f| f.0 == form) {
                    Some(f) => f.1 += 1,
                    None => g.forms.push((form.clone(), 1)),
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
            if i == j
                && covered[i]
                && let Some(g) = grams.get_mut(toks[i].stem.as_str())
            {
                g.nested += 1;
            }
        }
        grams
    }
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

/// Statistics of one phrase (by stem key) in one text.
#[derive(Debug, Default)]
pub(super) struct Gram {
    pub(super) count: u32,
    /// Occurrences (of a single word) inside a longer phrase candidate.
    pub(super) nested: u32,
    /// Index of the first occurrence among the text's grams.
    pub(super) first: u32,
    /// Lower-cased surface forms and how often each occurs, in first-seen order.
    pub(super) forms: Vec<(String, u32)>,
}

impl Gram {
    /// The most frequent surface form (the first seen among equals).
    pub(super) fn best_form(&self) -> Option<&str> {
        let mut best: Option<&(String, u32)> = None;
        for f in &self.forms {
            if best.is_none_or(|b| f.1 > b.1) {
                best = Some(f);
            }
        }
        best.map(|f| f.0.as_str())
    }
}
