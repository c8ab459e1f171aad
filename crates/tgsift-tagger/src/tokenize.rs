//! From a post's text to tokens: cleaning (URLs, mentions, emoji and trailing hashtags out, one
//! sentence per line), then words, numbers and breaks, each word with its Snowball stem.

use rust_stemmers::{Algorithm, Stemmer};
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

/// Stems a thread keeps (about 1 MB); the cache starts over when it is full.
const STEMS_PER_THREAD: usize = 20_000;

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
        // Stemming is a good share of a post's time and the vocabulary repeats: each thread
        // remembers recent stems.
        thread_local! {
            static SEEN: std::cell::RefCell<rustc_hash::FxHashMap<String, String>> =
                std::cell::RefCell::new(rustc_hash::FxHashMap::default());
        }
        if let Some(hit) = SEEN.with(|c| c.borrow().get(lower).cloned()) {
            return hit;
        }
        let stem = match script_of(lower) {
            Script::Cyrillic => self.ru.stem(lower).into_owned(),
            Script::Latin => self.en.stem(lower).into_owned(),
            Script::Other => lower.to_owned(),
        };
        SEEN.with(|c| {
            let mut c = c.borrow_mut();
            if c.len() >= STEMS_PER_THREAD {
                c.clear();
            }
            c.insert(lower.to_owned(), stem.clone());
        });
        stem
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

/// Lower-cases a word.
pub(super) fn lower(word: &str) -> String {
    let mut out = String::with_capacity(word.len());
    for c in word.chars() {
        push_lower(&mut out, c);
    }
    out
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
pub(super) struct Token {
    pub(super) kind: Kind,
    /// Lower-cased surface form (with `ё`).
    pub(super) lower: String,
    /// `lower` with `ё` folded to `е`: the form stop lists and suffix rules compare.
    pub(super) folded: String,
    /// The word as written (English `'s` dropped): the shown form of names like «iPhone».
    pub(super) orig: String,
    /// Lower-cased, ё-folded Snowball stem.
    pub(super) stem: String,
    /// Starts with an upper-case letter.
    pub(super) cap: bool,
    /// How the word is written.
    pub(super) shape: Shape,
    /// The first word of its sentence (or line), where a capital says nothing about a name.
    pub(super) initial: bool,
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
pub(super) fn tokenize(text: &str, stemmers: &Stemmers) -> Vec<Token> {
    let segs: Vec<&str> = text.split_word_bounds().collect();
    let mut out = Vec::with_capacity(segs.len() / 2 + 1);
    let mut i = 0;
    let mut initial = true;
    while i < segs.len() {
        let seg = segs[i];
        if seg.chars().any(is_letter_or_digit) {
            let mut word = String::from(seg);
            while i + 2 < segs.len()
                && matches!(segs[i + 1], "-" | "\u{2011}")
                && segs[i + 2].chars().any(is_letter_or_digit)
            {
                word.push('-');
                word.push_str(segs[i + 2]);
                i += 2;
            }
            let mut lower = lower(&word);
            for suffix in ["'s", "\u{2019}s"] {
                if lower.len() > suffix.len() + 1 && lower.ends_with(suffix) {
                    lower.truncate(lower.len() - suffix.len());
                    if word.len() >= suffix.len() {
                        word.truncate(word.len() - suffix.len());
                    }
                }
            }
            let kind = if lower.chars().any(is_digit_like) {
                Kind::Number
            } else if lower.chars().any(is_letter) {
                Kind::Word
            } else {
                Kind::Break
            };
            let folded = fold(&lower);
            let stem = if kind == Kind::Word {
                stemmers.stem(&folded)
            } else {
                String::new()
            };
            let cap = word.chars().next().is_some_and(is_upper);
            let shape = Shape::of(&word);
            out.push(Token {
                kind,
                lower,
                folded,
                orig: word,
                stem,
                cap,
                shape,
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
                    lower: String::new(),
                    folded: String::new(),
                    orig: String::new(),
                    stem: String::new(),
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
    if !chunk.contains(['.', ':', '/']) {
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
    if chunk.chars().any(is_emoji) {
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
    for line in text.lines() {
        let chunks: Vec<&str> = line.split_whitespace().collect();
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
        let mut line_out = String::new();
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
