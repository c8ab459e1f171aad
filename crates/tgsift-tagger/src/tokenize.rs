//! From a post's text to tokens: cleaning (URLs, mentions, emoji and trailing hashtags out, one
//! sentence per line), then words, numbers and breaks, each word with its Snowball stem.

use std::borrow::Cow;
use std::cell::{OnceCell, RefCell};
use std::rc::Rc;

use rust_stemmers::{Algorithm, Stemmer};
use rustc_hash::FxHashMap;
use unicode_segmentation::UnicodeSegmentation;

/// Which stemmer/stop list a word belongs to, decided by its letters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Script {
    /// Has a Cyrillic letter.
    Cyrillic,
    /// Has a Latin letter and no Cyrillic one.
    Latin,
    /// Neither (Greek, CJK, …): not stemmed.
    Other,
}

/// The two Snowball stemmers, cheap to create (a function pointer each).
pub(super) struct Stemmers {
    ru: Stemmer,
    en: Stemmer,
}

impl Stemmers {
    pub(super) fn new() -> Self {
        Self {
            ru: Stemmer::create(Algorithm::Russian),
            en: Stemmer::create(Algorithm::English),
        }
    }

    /// Stem of a lower-cased, ё-folded word, by its script.
    pub(super) fn stem(&self, lower: &str) -> String {
        match script_of(lower) {
            Script::Cyrillic => self.ru.stem(lower).into_owned(),
            Script::Latin => self.en.stem(lower).into_owned(),
            Script::Other => lower.to_owned(),
        }
    }
}

pub(super) fn is_cyrillic(c: char) -> bool {
    matches!(c, '\u{0400}'..='\u{04FF}' | '\u{0500}'..='\u{052F}')
}

pub(super) fn script_of(word: &str) -> Script {
    let mut latin = false;
    for c in word.chars() {
        if is_cyrillic(c) {
            return Script::Cyrillic;
        }
        if c.is_ascii_alphabetic() || matches!(c, '\u{00C0}'..='\u{024F}') {
            latin = true;
        }
    }
    if latin { Script::Latin } else { Script::Other }
}

// Posts are Russian and English: their letters are answered without Unicode table lookups, which
// were a tenth of the tagger's time; everything else falls back to the standard library.

/// `char::is_alphabetic`, fast for Latin and Cyrillic.
pub(super) fn is_letter(c: char) -> bool {
    match c {
        'a'..='z' | 'A'..='Z' | 'а'..='я' | 'А'..='Я' | 'ё' | 'Ё' => true,
        _ if c.is_ascii() => false,
        _ => c.is_alphabetic(),
    }
}

/// `char::is_alphanumeric`, fast for ASCII and Cyrillic.
pub(super) fn is_letter_or_digit(c: char) -> bool {
    c.is_ascii_digit() || is_letter(c) || (!c.is_ascii() && c.is_numeric())
}

/// `char::is_numeric`, fast for ASCII and Cyrillic.
fn is_digit_like(c: char) -> bool {
    c.is_ascii_digit() || (!c.is_ascii() && !is_cyrillic(c) && c.is_numeric())
}

/// `char::is_uppercase`, fast for Latin and Cyrillic.
pub(super) fn is_upper(c: char) -> bool {
    match c {
        'A'..='Z' | 'А'..='Я' | 'Ё' => true,
        'a'..='z' | 'а'..='я' | 'ё' => false,
        _ if c.is_ascii() => false,
        _ => c.is_uppercase(),
    }
}

/// `char::is_lowercase`, fast for Latin and Cyrillic.
fn is_lower(c: char) -> bool {
    match c {
        'a'..='z' | 'а'..='я' | 'ё' => true,
        'A'..='Z' | 'А'..='Я' | 'Ё' => false,
        _ if c.is_ascii() => false,
        _ => c.is_lowercase(),
    }
}

/// Appends `c` lower-cased, fast for Latin and Cyrillic.
fn push_lower(out: &mut String, c: char) {
    match c {
        'A'..='Z' => out.push(c.to_ascii_lowercase()),
        'А'..='Я' => out.push(char::from_u32(c as u32 + 32).unwrap_or(c)),
        'Ё' => out.push('ё'),
        _ if c.is_ascii() || matches!(c, 'а'..='я' | 'ё') => out.push(c),
        _ => out.extend(c.to_lowercase()),
    }
}

/// Lower-cases and folds `ё` to `е`.
pub(super) fn fold(word: &str) -> String {
    let mut out = String::with_capacity(word.len());
    for c in word.chars() {
        match c {
            'ё' | 'Ё' => out.push('е'),
            _ => push_lower(&mut out, c),
        }
    }
    out
}

/// Cuts `text` to at most `max` bytes at a character boundary.
pub(super) fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while end > 0 && !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// What a token of the text is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    /// Letters (and inner hyphens/apostrophes), no digits.
    Word,
    /// Anything with a digit: `2024`, `16%`, `covid-19`, `a18`.
    Number,
    /// Punctuation: phrases never cross it.
    Break,
    /// The end of a sentence (or line).
    End,
}

/// One token of a text.
#[derive(Clone, Debug)]
pub(super) struct Token<'a> {
    pub(super) kind: Kind,
    /// The word form (`None` for punctuation), shared by every occurrence.
    pub(super) word: Option<Rc<Word>>,
    /// The word as written (English `'s` dropped): the shown form of names like «iPhone».
    pub(super) orig: Cow<'a, str>,
    /// Starts with an upper-case letter.
    pub(super) cap: bool,
    /// How the word is written.
    pub(super) shape: Shape,
    /// The first word of its sentence (or line), where a capital says nothing about a name.
    pub(super) initial: bool,
}

impl Token<'_> {
    /// Lower-cased surface form (with `ё`); empty for punctuation.
    pub(super) fn lower(&self) -> &str {
        self.word.as_deref().map_or("", |w| &w.lower)
    }

    /// Lower-cased, ё-folded Snowball stem (empty unless a word).
    pub(super) fn stem(&self) -> &str {
        self.word.as_deref().map_or("", |w| &w.stem)
    }

    /// The stem's id: equal ids, equal stems (within one [`tokenize`] call's tokens).
    pub(super) fn stem_id(&self) -> u64 {
        self.word.as_deref().map_or(0, |w| w.stem_id)
    }
}

/// A word form and what follows from its letters alone, made once per thread: posts repeat their
/// vocabulary, and lower-casing, folding and stemming every occurrence was a third of tagging.
#[derive(Debug)]
pub(super) struct Word {
    /// Lower-cased surface form (with `ё`).
    pub(super) lower: Box<str>,
    /// `lower` with `ё` folded to `е`.
    pub(super) folded: Box<str>,
    /// Lower-cased, ё-folded Snowball stem (empty unless a word).
    pub(super) stem: Box<str>,
    /// Id of the stem (ids are never reused, so equal ids mean equal stems).
    pub(super) stem_id: u64,
    /// Word, number or (letters that are neither) break.
    pub(super) kind: Kind,
    /// What the candidate rules make of the word, filled on first use (`candidates`).
    pub(super) traits: OnceCell<Traits>,
}

/// What the candidate rules make of a word: the same for every occurrence.
#[derive(Clone, Copy, Debug)]
pub(super) struct Traits {
    /// A word that is no stop word (may be in a phrase).
    pub(super) ok: bool,
    /// May start a phrase (`ok` and not verb-like at the start).
    pub(super) ok_start: bool,
    /// May end a phrase or stand inside one (`ok` and not verb-like at the end).
    pub(super) ok_edge: bool,
}

/// Word forms a thread keeps; the table starts over when it is full (between two texts).
const WORDS_PER_THREAD: usize = 20_000;

/// A thread's word forms and stem ids.
#[derive(Default)]
struct Lexicon {
    /// Words as written → what the tokenizer makes of them (no lower-casing on a hit).
    written: FxHashMap<Box<str>, Written>,
    words: FxHashMap<Box<str>, Rc<Word>>,
    stems: FxHashMap<Box<str>, u64>,
    next_stem: u64,
}

thread_local! {
    static LEXICON: RefCell<Lexicon> = RefCell::new(Lexicon::default());
}

/// What the tokenizer makes of a word as written.
#[derive(Clone)]
struct Written {
    word: Rc<Word>,
    /// Bytes cut from the end (English `'s`).
    cut: usize,
    cap: bool,
    shape: Shape,
}

impl Lexicon {
    /// The word of a lower-cased form, made on first sight.
    fn word(&mut self, lower: &str, stemmers: &Stemmers) -> Rc<Word> {
        if let Some(w) = self.words.get(lower) {
            return Rc::clone(w);
        }
        let kind = if lower.chars().any(is_digit_like) {
            Kind::Number
        } else if lower.chars().any(is_letter) {
            Kind::Word
        } else {
            Kind::Break
        };
        let folded = fold(lower);
        let stem = if kind == Kind::Word {
            stemmers.stem(&folded)
        } else {
            String::new()
        };
        let stem_id = match self.stems.get(stem.as_str()) {
            Some(&id) => id,
            None => {
                self.next_stem += 1;
                self.stems.insert(stem.clone().into(), self.next_stem);
                self.next_stem
            }
        };
        let word = Rc::new(Word {
            lower: lower.into(),
            folded: folded.into(),
            stem: stem.into(),
            stem_id,
            kind,
            traits: OnceCell::new(),
        });
        self.words.insert(lower.into(), Rc::clone(&word));
        word
    }
}

/// The id of a stem seen by this thread's last [`tokenize`] calls (tests build phrases by stem).
#[cfg(test)]
pub(super) fn stem_id(stem: &str) -> Option<u64> {
    LEXICON.with(|l| l.borrow().stems.get(stem).copied())
}

/// How a word is written, for telling names from sentence-initial capitals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Shape {
    /// No upper-case letter.
    Lower,
    /// Upper-case first letter only: «Москва», «Bitcoin».
    Capitalised,
    /// Every letter upper-case, at least two: «МКАД», «ETF».
    Upper,
    /// Upper-case letters after the first: «iPhone», «YandexGPT».
    Mixed,
}

impl Shape {
    fn of(word: &str) -> Self {
        let mut letters = word.chars().filter(|c| is_letter(*c));
        let Some(first) = letters.next() else {
            return Self::Lower;
        };
        let (mut upper, mut lower) = (0usize, 0usize);
        for c in letters {
            if is_upper(c) {
                upper += 1;
            } else if is_lower(c) {
                lower += 1;
            }
        }
        match (is_upper(first), upper > 0, lower > 0) {
            (true, true, false) => Self::Upper,
            (true, false, _) => Self::Capitalised,
            (_, true, _) => Self::Mixed,
            _ => Self::Lower,
        }
    }
}

/// Splits a text into words (hyphenated compounds kept whole, English `'s` dropped), numbers and
/// breaks, stemming each word by its script.
pub(super) fn tokenize<'a>(text: &'a str, stemmers: &Stemmers) -> Vec<Token<'a>> {
    LEXICON.with(|lex| {
        let mut lex = lex.borrow_mut();
        if lex.words.len() >= WORDS_PER_THREAD || lex.written.len() >= WORDS_PER_THREAD {
            // Only here, between texts: the stem ids of one text's tokens stay consistent.
            lex.written.clear();
            lex.words.clear();
            lex.stems.clear();
        }
        tokenize_with(text, stemmers, &mut lex)
    })
}

fn tokenize_with<'a>(text: &'a str, stemmers: &Stemmers, lex: &mut Lexicon) -> Vec<Token<'a>> {
    let segs: Vec<(usize, &str)> = text.split_word_bound_indices().collect();
    let mut out = Vec::with_capacity(segs.len() / 2 + 1);
    let mut i = 0;
    let mut initial = true;
    let mut lower_buf = String::new();
    while i < segs.len() {
        let (at, seg) = segs[i];
        if seg.chars().any(is_letter_or_digit) {
            // The word as written: a slice of the text unless a non-breaking hyphen becomes `-`.
            let mut end = at + seg.len();
            let mut owned: Option<String> = None;
            while i + 2 < segs.len()
                && matches!(segs[i + 1].1, "-" | "\u{2011}")
                && segs[i + 2].1.chars().any(is_letter_or_digit)
            {
                if segs[i + 1].1 != "-" && owned.is_none() {
                    owned = Some(text[at..end].to_owned());
                }
                if let Some(o) = owned.as_mut() {
                    o.push('-');
                    o.push_str(segs[i + 2].1);
                }
                end = segs[i + 2].0 + segs[i + 2].1.len();
                i += 2;
            }
            let mut word: Cow<'a, str> = match owned {
                Some(o) => Cow::Owned(o),
                None => Cow::Borrowed(&text[at..end]),
            };
            let written = match lex.written.get(&*word) {
                Some(w) => w.clone(),
                None => {
                    lower_buf.clear();
                    for c in word.chars() {
                        push_lower(&mut lower_buf, c);
                    }
                    let mut kept: &str = &word;
                    for suffix in ["'s", "\u{2019}s"] {
                        if lower_buf.len() > suffix.len() + 1 && lower_buf.ends_with(suffix) {
                            lower_buf.truncate(lower_buf.len() - suffix.len());
                            if kept.len() >= suffix.len() {
                                kept = &kept[..kept.len() - suffix.len()];
                            }
                        }
                    }
                    let w = Written {
                        word: lex.word(&lower_buf, stemmers),
                        cut: word.len() - kept.len(),
                        cap: kept.chars().next().is_some_and(is_upper),
                        shape: Shape::of(kept),
                    };
                    lex.written.insert((*word).into(), w.clone());
                    w
                }
            };
            if written.cut > 0 {
                let keep = word.len() - written.cut;
                match &mut word {
                    Cow::Borrowed(w) => *w = &w[..keep],
                    Cow::Owned(w) => w.truncate(keep),
                }
            }
            out.push(Token {
                kind: written.word.kind,
                word: Some(written.word),
                orig: word,
                cap: written.cap,
                shape: written.shape,
                initial,
            });
            initial = false;
        } else if seg.chars().all(|c| c.is_whitespace() && c != '\n') {
            // plain spacing
        } else if !matches!(seg, "'" | "\u{2019}") {
            let end = seg.contains(['.', '!', '?', '\u{2026}', '\n']);
            initial |= end;
            match out.last_mut() {
                Some(t) if matches!(t.kind, Kind::Break | Kind::End) => {
                    if end {
                        t.kind = Kind::End;
                    }
                }
                _ => out.push(Token {
                    kind: if end { Kind::End } else { Kind::Break },
                    word: None,
                    orig: Cow::Borrowed(""),
                    cap: false,
                    shape: Shape::Lower,
                    initial: false,
                }),
            }
        }
        i += 1;
    }
    out
}

/// A post's text after cleaning, with its hashtags.
pub(super) struct Cleaned {
    /// Text for extraction: one sentence per line, without URLs, mentions, emoji or trailing hashtags.
    pub(super) text: String,
    /// The post's hashtags (without `#`, `_` as space, as written), in order, unique ignoring case.
    pub(super) hashtags: Vec<String>,
}

/// Emoji, pictographs, dingbats, arrows, variation selectors and joiners.
fn is_emoji(c: char) -> bool {
    matches!(c,
        '\u{1F000}'..='\u{1FAFF}'
        | '\u{2190}'..='\u{21FF}'
        | '\u{2300}'..='\u{23FF}'
        | '\u{2460}'..='\u{24FF}'
        | '\u{25A0}'..='\u{27BF}'
        | '\u{2900}'..='\u{297F}'
        | '\u{2B00}'..='\u{2BFF}'
        | '\u{3030}' | '\u{303D}' | '\u{3297}' | '\u{3299}'
        | '\u{FE00}'..='\u{FE0F}'
        | '\u{200D}' | '\u{20E3}' | '\u{2122}' | '\u{2139}'
        | '\u{E0020}'..='\u{E007F}'
        | '\u{2022}' | '\u{2023}' | '\u{2043}'
    )
}

fn is_url(chunk: &str) -> bool {
    // Every form below has a '.', ':' or '/': most words are answered without a lower-cased copy.
    if !chunk.bytes().any(|b| matches!(b, b'.' | b':' | b'/')) {
        return false;
    }
    let lower = chunk.to_ascii_lowercase();
    let body = lower.trim_start_matches(|c: char| !c.is_alphanumeric());
    body.starts_with("http://")
        || body.starts_with("https://")
        || body.starts_with("www.")
        || body.starts_with("t.me/")
        || body.contains("://")
        || (body.contains('@') && body.contains('.'))
        || looks_like_domain_path(body)
}

/// `example.com/path`, `vk.cc/abc`: a dotted host followed by a slash.
fn looks_like_domain_path(s: &str) -> bool {
    let Some(slash) = s.find('/') else {
        return false;
    };
    let host = &s[..slash];
    host.contains('.')
        && !host.starts_with('.')
        && !host.ends_with('.')
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        && host.chars().any(|c| c.is_ascii_alphabetic())
}

/// `@name` (Telegram usernames: letters, digits, `_`).
fn is_mention(chunk: &str) -> bool {
    let Some(rest) = chunk.strip_prefix('@') else {
        return false;
    };
    rest.chars()
        .next()
        .is_some_and(|c| c.is_alphanumeric() || c == '_')
}

/// The body of a `#hashtag` chunk and what follows it (punctuation), if the chunk is one.
fn hashtag_of(chunk: &str) -> Option<(&str, &str)> {
    let rest = chunk.strip_prefix('#')?;
    let end = rest
        .char_indices()
        .find(|&(_, c)| !(c.is_alphanumeric() || c == '_'))
        .map_or(rest.len(), |(i, _)| i);
    let body = &rest[..end];
    if body.chars().any(char::is_alphabetic) {
        Some((body, &rest[end..]))
    } else {
        None
    }
}

/// A hashtag body as words: `_` as space, trimmed (case kept: the tagger decides how it is shown).
fn hashtag_display(body: &str) -> String {
    body.split('_')
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// `chunk` without its emoji, copied only when it has one.
fn without_emoji(chunk: &str) -> std::borrow::Cow<'_, str> {
    // Every emoji of `is_emoji` is U+2000 or above, so its UTF-8 starts with a byte of 0xE2 or
    // more: Latin and Cyrillic words are answered without decoding.
    if chunk.bytes().any(|b| b >= 0xE2) && chunk.chars().any(is_emoji) {
        chunk
            .chars()
            .filter(|&c| !is_emoji(c))
            .collect::<String>()
            .into()
    } else {
        chunk.into()
    }
}

pub(super) fn clean(text: &str) -> Cleaned {
    let mut out = String::with_capacity(text.len());
    let mut hashtags: Vec<String> = Vec::new();
    let push_tag = |body: &str, tags: &mut Vec<String>| {
        let shown = hashtag_display(body);
        if !shown.is_empty()
            && !tags
                .iter()
                .any(|t| t.to_lowercase() == shown.to_lowercase())
        {
            tags.push(shown);
        }
    };
    // One buffer of chunks and one output line for every line of the text.
    let mut chunks: Vec<&str> = Vec::new();
    let mut line_out = String::new();
    for line in text.lines() {
        chunks.clear();
        chunks.extend(line.split_whitespace());
        // A run of hashtags (and emoji) at the end of a line is a tag list, not text.
        let mut keep = chunks.len();
        while keep > 0 {
            let c = chunks[keep - 1];
            let stripped = without_emoji(c);
            if stripped.is_empty() || hashtag_of(&stripped).is_some() {
                keep -= 1;
            } else {
                break;
            }
        }
        line_out.clear();
        for (i, chunk) in chunks.iter().enumerate() {
            let chunk = without_emoji(chunk);
            if chunk.is_empty() || is_url(&chunk) || is_mention(&chunk) {
                continue;
            }
            if let Some((body, tail)) = hashtag_of(&chunk) {
                push_tag(body, &mut hashtags);
                if i >= keep {
                    continue;
                }
                if !line_out.is_empty() {
                    line_out.push(' ');
                }
                line_out.push_str(&body.replace('_', " "));
                line_out.push_str(tail);
                continue;
            }
            if i >= keep {
                continue;
            }
            if !line_out.is_empty() {
                line_out.push(' ');
            }
            line_out.push_str(&chunk);
        }
        let trimmed = line_out.trim_end();
        if trimmed.is_empty() {
            continue;
        }
        out.push_str(trimmed);
        if !trimmed.ends_with(['.', '!', '?', '…', ':', ';']) {
            out.push('.');
        }
        out.push('\n');
    }
    Cleaned {
        text: out,
        hashtags,
    }
}
