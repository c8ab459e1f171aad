//! The embedded tagger: offline, deterministic tags for Russian and English channel posts.
//!
//! How a post becomes tags:
//!
//! 1. **Cleaning.** URLs, e-mail addresses, `@mentions` and emoji are removed; every non-empty line
//!    becomes a sentence (Telegram posts use lines as headlines and bullets). Runs of `#hashtags` at
//!    the end of a line are taken out of the text and become the post's own tags; a hashtag inside a
//!    sentence stays in the text as a word and is a tag as well. Texts longer than
//!    [`MAX_TEXT_BYTES`] are cut (a Telegram post is at most 4,096 characters).
//! 2. **Language** by script share (Cyrillic vs Latin letters), with `whatlang` deciding when the share
//!    is inconclusive. Russian uses phrases of 1–2 words, English of 1–3.
//! 3. **Candidates** are runs of 1–2 words (English 1–3) inside a sentence, with a stop-word list
//!    built from YAKE's (`yake-rust`) and `stop-words`' lists (minus content words such as «москва» or
//!    «мир»). Phrases with numbers, with a stop word or a verb-like word at either edge, with a stop
//!    word or verb inside (English «of» excepted) or cutting a capitalised name in two are dropped
//!    (Russian verb forms are recognised by a suffix heuristic, e.g. «сохранил», «снизит», «заявили»,
//!    «продлится»). Words in most of the channel's posts (its header or footer) are never tags.
//! 4. **Scores** are TF-IDF against the channel's posts ([`DocFreq`]; term frequency alone without
//!    it), with mild penalties on phrase length and on a late first occurrence. With
//!    [`EmbeddedTagger::with_yake`] (`tagging.embedded_yake`) only phrases YAKE also finds are kept
//!    and YAKE's score breaks ties. The weights and what they were measured on are at `TF_POWER`.
//! 5. **De-duplication by stem** (Snowball, `ё` folded to `е`): inflected forms of one phrase are one
//!    candidate, shown in its most frequent surface form, lower-cased.
//!
//! The post's own hashtags come first. [`EmbeddedTagger::tags`] returns 3–7 tags (fewer only when the
//! text has fewer candidates); [`EmbeddedTagger::top_k`] returns up to `k` for evaluations.

use std::collections::{HashMap, HashSet};
use std::panic::{AssertUnwindSafe, catch_unwind};

use rust_stemmers::{Algorithm, Stemmer};
use unicode_segmentation::UnicodeSegmentation;
use whatlang::{Detector, Lang};

use super::{Tag, TagContext, TagError, TagFuture, Tagger};

/// Longest text (in bytes) the tagger reads; longer texts are cut at a character boundary so a
/// pathological input cannot stall a tagging worker.
pub const MAX_TEXT_BYTES: usize = 16 * 1024;

/// Fewest tags [`EmbeddedTagger::tags`] returns when the text has that many candidates.
pub const MIN_TAGS: usize = 3;

/// Most tags [`EmbeddedTagger::tags`] returns.
pub const MAX_TAGS: usize = 7;

/// A tag beyond the first [`MIN_TAGS`] is kept only while its score is at least this share of the
/// best non-hashtag score.
const EXTRA_TAG_SHARE: f64 = 0.55;

// How a candidate phrase is scored (see `EmbeddedTagger::candidates`):
//
//   score = tf^TF_POWER · idf · yake^-YAKE_WEIGHT · words^-LENGTH_PENALTY · (1 + first)^-POSITION_DECAY
//
// `tf` counts a single word's occurrences outside longer candidate phrases (so «beauty» does not
// outrank «sleeping beauty» on the phrase's own occurrences); `idf` is the geometric mean of the
// words' smoothed IDF against the channel's posts (1 without them); `yake` is YAKE's score (lower is
// better; 1/tf without YAKE); `first` is the index of the first occurrence among the text's
// candidate phrases. The weights were chosen on the keyphrase sets of `scripts/eval-tags.sh` (news and science, English) and
// checked on the Russian set in `tests/data/`: plain TF-IDF ranks best on news, YAKE's context
// features add a little, phrases must be rare enough to leave room for the single words news
// annotators pick, and earlier words matter more (a post's first line is its headline).

/// A word in more than this share of a channel's posts is the channel's boilerplate, never a tag.
const BOILERPLATE_SHARE: f64 = 0.5;
/// Fewest posts a channel needs before words are judged boilerplate.
const BOILERPLATE_MIN_DOCS: usize = 10;

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

/// Words of `stop-words`' Russian list that are content words and make good tags.
const RU_NOT_STOP: &[&str] = &[
    "белый",
    "вечер",
    "взгляд",
    "вид",
    "вода",
    "война",
    "вопрос",
    "город",
    "дверь",
    "дело",
    "деньги",
    "дом",
    "дорога",
    "друг",
    "душа",
    "жена",
    "женщина",
    "жизнь",
    "земля",
    "книга",
    "комната",
    "конец",
    "лицо",
    "мать",
    "машина",
    "место",
    "минута",
    "мир",
    "мира",
    "москва",
    "народ",
    "ночь",
    "окно",
    "отец",
    "правда",
    "путь",
    "работа",
    "ребенок",
    "россия",
    "рука",
    "русский",
    "свет",
    "сила",
    "слово",
    "случай",
    "советский",
    "стол",
    "сторона",
    "страна",
    "товарищ",
    "улица",
    "утро",
    "час",
    "голова",
    "голос",
    "глаз",
    "нога",
    "плечо",
    "пол",
];

/// Extra Russian stop words: channel boilerplate and units that are never topics.
const RU_EXTRA_STOP: &[&str] = &[
    "подробнее",
    "источник",
    "ссылка",
    "читайте",
    "смотрите",
    "подписывайтесь",
    "подписаться",
    "тыс",
    "млн",
    "млрд",
    "трлн",
    "руб",
    "коп",
    "шт",
    "км",
    "кг",
    "также",
    "является",
    "являются",
    "свыше",
    "порядка",
    "ранее",
    "впервые",
    "около",
    "среди",
    "вместе",
    "лишь",
    "пока",
    "весь",
    "всё",
    "ещё",
    "её",
    "это",
    "этом",
    "эти",
    "очень",
    "который",
    "которая",
    "которое",
    "которые",
    "новый",
    "новая",
    "новое",
    "новые",
    "нового",
    "новой",
    "новых",
    "новую",
    "новым",
    "самый",
    "самая",
    "самое",
    "самые",
    "первый",
    "первая",
    "первое",
    "первые",
    "первого",
    "первой",
    "второй",
    "третий",
    "данные",
    "данным",
    "итоги",
    "итогам",
];

/// Stems (Russian Snowball, ё folded) of words that are never topics: months, weekdays, time units.
const RU_STOP_STEMS: &[&str] = &[
    "январ",
    "феврал",
    "март",
    "апрел",
    "ма",
    "мая",
    "июн",
    "июл",
    "август",
    "сентябр",
    "октябр",
    "ноябр",
    "декабр",
    "понедельник",
    "вторник",
    "четверг",
    "пятниц",
    "суббот",
    "воскресен",
    "год",
    "месяц",
    "недел",
    "сутк",
    "час",
    "минут",
    "секунд",
    "сегодн",
    "вчер",
    "завтр",
    "утр",
    "вечер",
    "ночь",
    "днем",
    "дня",
    "ден",
    "дне",
    "дни",
    "процент",
    "тысяч",
    "миллион",
    "миллиард",
];

/// English stems (Snowball) of words that are never topics: months, weekdays, time units.
const EN_STOP_STEMS: &[&str] = &[
    "januari",
    "februari",
    "march",
    "april",
    "june",
    "juli",
    "august",
    "septemb",
    "octob",
    "novemb",
    "decemb",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "yesterday",
    "today",
    "tomorrow",
    "time",
    "minut",
    "hour",
    "day",
    "week",
    "month",
    "year",
];

/// Russian nouns that end like verb forms (`-ит`, `-ет`, `-ют`, `-ть`, `-ил(а/о)`, …).
const RU_VERB_LIKE_NOUNS: &[&str] = &[
    "зенит",
    "кредит",
    "лимит",
    "депозит",
    "визит",
    "аудит",
    "дефицит",
    "профицит",
    "транзит",
    "аппетит",
    "гранит",
    "алфавит",
    "хит",
    "бит",
    "бандит",
    "монолит",
    "кит",
    "динамит",
    "метеорит",
    "фаворит",
    "паразит",
    "гепатит",
    "артрит",
    "бронхит",
    "спутник",
    "мегабит",
    "гигабит",
    "кабинет",
    "интернет",
    "бюджет",
    "совет",
    "пакет",
    "предмет",
    "портрет",
    "билет",
    "запрет",
    "ответ",
    "отчет",
    "счет",
    "учет",
    "расчет",
    "полет",
    "пилот",
    "валют",
    "салют",
    "приют",
    "парашют",
    "абсолют",
    "сеть",
    "путь",
    "печать",
    "мать",
    "нить",
    "треть",
    "плоть",
    "кровать",
    "знать",
    "благодать",
    "правило",
    "правила",
    "михаил",
    "даниил",
    "гавриил",
    "крокодил",
    "чили",
    "силы",
    "сила",
    "могила",
    "горилла",
    "вилла",
    "текстиль",
    "мобиль",
    "автомобиль",
    "ретейл",
    "ритейл",
    "лепет",
    "мотет",
    "квартет",
    "дуэт",
    "поэт",
    "силуэт",
    "скелет",
    "паритет",
    "приоритет",
    "авторитет",
    "комитет",
    "иммунитет",
    "суверенитет",
    "менталитет",
    "университет",
    "факультет",
    "рейтинг",
    "антибиотик",
    "помет",
    "минарет",
    "багет",
    "банкет",
    "балет",
    "жилет",
    "корвет",
    "кадет",
    "макет",
    "букет",
    "лафет",
    "кастет",
    "эстет",
    "аскет",
    "планет",
    "кларнет",
];

/// Which stemmer/stop list a word belongs to, decided by its letters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Script {
    /// Has a Cyrillic letter.
    Cyrillic,
    /// Has a Latin letter and no Cyrillic one.
    Latin,
    /// Neither (Greek, CJK, …): not stemmed.
    Other,
}

/// The two Snowball stemmers, cheap to create (a function pointer each).
struct Stemmers {
    ru: Stemmer,
    en: Stemmer,
}

impl Stemmers {
    fn new() -> Self {
        Self {
            ru: Stemmer::create(Algorithm::Russian),
            en: Stemmer::create(Algorithm::English),
        }
    }

    /// Stem of a lower-cased, ё-folded word, by its script.
    fn stem(&self, lower: &str) -> String {
        match script_of(lower) {
            Script::Cyrillic => self.ru.stem(lower).into_owned(),
            Script::Latin => self.en.stem(lower).into_owned(),
            Script::Other => lower.to_owned(),
        }
    }
}

fn is_cyrillic(c: char) -> bool {
    matches!(c, '\u{0400}'..='\u{04FF}' | '\u{0500}'..='\u{052F}')
}

fn script_of(word: &str) -> Script {
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

/// Lower-cases and folds `ё` to `е`.
fn fold(word: &str) -> String {
    word.chars()
        .flat_map(char::to_lowercase)
        .map(|c| if c == 'ё' { 'е' } else { c })
        .collect()
}

/// Cuts `text` to at most `max` bytes at a character boundary.
fn truncate(text: &str, max: usize) -> &str {
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
enum Kind {
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
struct Token {
    kind: Kind,
    /// Lower-cased surface form (with `ё`), as shown in tags.
    lower: String,
    /// Lower-cased, ё-folded Snowball stem.
    stem: String,
    /// Starts with an upper-case letter.
    cap: bool,
}

/// Splits a text into words (hyphenated compounds kept whole, English `'s` dropped), numbers and
/// breaks, stemming each word by its script.
fn tokenize(text: &str, stemmers: &Stemmers) -> Vec<Token> {
    let segs: Vec<&str> = text.split_word_bounds().collect();
    let mut out = Vec::with_capacity(segs.len() / 2 + 1);
    let mut i = 0;
    while i < segs.len() {
        let seg = segs[i];
        if seg.chars().any(char::is_alphanumeric) {
            let mut word = String::from(seg);
            while i + 2 < segs.len()
                && matches!(segs[i + 1], "-" | "\u{2011}")
                && segs[i + 2].chars().any(char::is_alphanumeric)
            {
                word.push('-');
                word.push_str(segs[i + 2]);
                i += 2;
            }
            let mut lower: String = word.chars().flat_map(char::to_lowercase).collect();
            for suffix in ["'s", "\u{2019}s"] {
                if lower.len() > suffix.len() + 1 && lower.ends_with(suffix) {
                    lower.truncate(lower.len() - suffix.len());
                }
            }
            let kind = if lower.chars().any(|c| c.is_numeric()) {
                Kind::Number
            } else if lower.chars().any(char::is_alphabetic) {
                Kind::Word
            } else {
                Kind::Break
            };
            let stem = if kind == Kind::Word {
                stemmers.stem(&fold(&lower))
            } else {
                String::new()
            };
            let cap = word.chars().next().is_some_and(char::is_uppercase);
            out.push(Token {
                kind,
                lower,
                stem,
                cap,
            });
        } else if seg.chars().all(|c| c.is_whitespace() && c != '\n') {
            // plain spacing
        } else if !matches!(seg, "'" | "\u{2019}") {
            let end = seg.contains(['.', '!', '?', '\u{2026}', '\n']);
            match out.last_mut() {
                Some(t) if matches!(t.kind, Kind::Break | Kind::End) => {
                    if end {
                        t.kind = Kind::End;
                    }
                }
                _ => out.push(Token {
                    kind: if end { Kind::End } else { Kind::Break },
                    lower: String::new(),
                    stem: String::new(),
                    cap: false,
                }),
            }
        }
        i += 1;
    }
    out
}

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
        let mut seen: HashSet<String> = HashSet::new();
        for tok in tokenize(text, &stemmers) {
            if tok.kind == Kind::Word && tok.stem.chars().count() >= 2 {
                seen.insert(tok.stem);
            }
        }
        for stem in seen {
            match self.df.get_mut(stem.as_str()) {
                Some(n) => *n = n.saturating_add(1),
                None => {
                    self.df.insert(stem.into_boxed_str(), 1);
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
    fn count(&self, stem: &str) -> u32 {
        self.df.get(stem).copied().unwrap_or(0)
    }

    /// Smoothed inverse document frequency of a stem.
    fn idf(&self, stem: &str) -> f64 {
        let n = self.docs as f64;
        ((n + 1.0) / (f64::from(self.count(stem)) + 1.0)).ln() + 1.0
    }

    /// Whether a stem is the channel's boilerplate (its name, header or footer): in more than
    /// [`BOILERPLATE_SHARE`] of at least [`BOILERPLATE_MIN_DOCS`] posts.
    fn is_boilerplate(&self, stem: &str) -> bool {
        self.docs >= BOILERPLATE_MIN_DOCS
            && f64::from(self.count(stem)) > BOILERPLATE_SHARE * self.docs as f64
    }
}

/// A post's text after cleaning, with its hashtags.
struct Cleaned {
    /// Text for extraction: one sentence per line, without URLs, mentions, emoji or trailing hashtags.
    text: String,
    /// The post's hashtags (without `#`, lower-cased, `_` as space), in order, unique.
    hashtags: Vec<String>,
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
    let name: String = rest
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    !name.is_empty()
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

/// Display form of a hashtag body: lower-case, `_` as space, trimmed.
fn hashtag_display(body: &str) -> String {
    let lower: String = body.chars().flat_map(char::to_lowercase).collect();
    lower
        .split('_')
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn clean(text: &str) -> Cleaned {
    let mut out = String::with_capacity(text.len());
    let mut hashtags: Vec<String> = Vec::new();
    let push_tag = |body: &str, tags: &mut Vec<String>| {
        let shown = hashtag_display(body);
        if !shown.is_empty() && !tags.contains(&shown) {
            tags.push(shown);
        }
    };
    for line in text.lines() {
        let chunks: Vec<&str> = line.split_whitespace().collect();
        // A run of hashtags (and emoji) at the end of a line is a tag list, not text.
        let mut keep = chunks.len();
        while keep > 0 {
            let c = chunks[keep - 1];
            let stripped: String = c.chars().filter(|&ch| !is_emoji(ch)).collect();
            if stripped.is_empty() || hashtag_of(&stripped).is_some() {
                keep -= 1;
            } else {
                break;
            }
        }
        let mut line_out = String::new();
        for (i, chunk) in chunks.iter().enumerate() {
            let chunk: String = chunk.chars().filter(|&c| !is_emoji(c)).collect();
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

/// Whether a lower-cased, ё-folded Russian word looks like a verb form (finite verb, infinitive,
/// reflexive form or gerund) by its ending: a cheap stand-in for a morphological analyser.
fn ru_verb_like(w: &str) -> bool {
    let n = w.chars().count();
    if n < 4 || RU_VERB_LIKE_NOUNS.contains(&w) {
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

/// Common English verbs that are rarely nouns; their inflected forms are generated in
/// [`EmbeddedTagger::new`] and may not stand at a phrase edge («argued», «lob theorem implies»).
const EN_VERBS: &[&str] = &[
    "accept",
    "achieve",
    "acquire",
    "add",
    "address",
    "adopt",
    "affect",
    "agree",
    "aid",
    "aim",
    "allow",
    "allow",
    "analyse",
    "analyze",
    "announce",
    "appear",
    "apply",
    "argue",
    "arise",
    "arrive",
    "ask",
    "assess",
    "assign",
    "assist",
    "assume",
    "attain",
    "attempt",
    "attract",
    "avoid",
    "bear",
    "become",
    "become",
    "begin",
    "believe",
    "believe",
    "belong",
    "bring",
    "calculate",
    "carry",
    "cause",
    "choose",
    "claim",
    "clarify",
    "collect",
    "combine",
    "come",
    "compare",
    "compute",
    "conclude",
    "conduct",
    "confirm",
    "consider",
    "consist",
    "constitute",
    "construct",
    "contain",
    "continue",
    "contribute",
    "convert",
    "correspond",
    "cover",
    "create",
    "deal",
    "decide",
    "decode",
    "decrease",
    "deem",
    "define",
    "deliver",
    "demonstrate",
    "depend",
    "deploy",
    "derive",
    "describe",
    "detect",
    "determine",
    "develop",
    "differ",
    "discover",
    "discuss",
    "draw",
    "eliminate",
    "emerge",
    "employ",
    "enable",
    "encounter",
    "encourage",
    "enhance",
    "ensure",
    "ensure",
    "entail",
    "enter",
    "establish",
    "estimate",
    "evaluate",
    "examine",
    "exceed",
    "exhibit",
    "exist",
    "expand",
    "expect",
    "explain",
    "explore",
    "express",
    "extend",
    "facilitate",
    "fail",
    "find",
    "follow",
    "gain",
    "generate",
    "get",
    "give",
    "go",
    "happen",
    "hold",
    "hope",
    "identify",
    "ignore",
    "illustrate",
    "implement",
    "imply",
    "improve",
    "include",
    "incorporate",
    "indicate",
    "introduce",
    "investigate",
    "involve",
    "join",
    "keep",
    "know",
    "launch",
    "lead",
    "leave",
    "let",
    "like",
    "locate",
    "lose",
    "maintain",
    "make",
    "manage",
    "maximize",
    "mean",
    "meet",
    "mention",
    "minimize",
    "modify",
    "move",
    "need",
    "observe",
    "obtain",
    "occur",
    "offer",
    "open",
    "optimize",
    "outline",
    "outperform",
    "perform",
    "permit",
    "plan",
    "point",
    "possess",
    "praise",
    "predict",
    "prefer",
    "prepare",
    "prevent",
    "produce",
    "propose",
    "prove",
    "provide",
    "publish",
    "put",
    "raise",
    "reach",
    "realize",
    "receive",
    "recognize",
    "reduce",
    "refer",
    "reflect",
    "regard",
    "reject",
    "relate",
    "rely",
    "remain",
    "remind",
    "remove",
    "replace",
    "represent",
    "require",
    "resolve",
    "respond",
    "reveal",
    "satisfy",
    "say",
    "see",
    "seek",
    "seek",
    "seem",
    "select",
    "send",
    "serve",
    "share",
    "show",
    "sign",
    "sit",
    "solve",
    "speak",
    "specify",
    "spend",
    "stand",
    "start",
    "stay",
    "submit",
    "succeed",
    "suffer",
    "suffer",
    "suggest",
    "summarize",
    "supply",
    "suppose",
    "surge",
    "tackle",
    "take",
    "talk",
    "tell",
    "tend",
    "think",
    "threaten",
    "try",
    "undergo",
    "understand",
    "unveil",
    "urge",
    "utilize",
    "validate",
    "vary",
    "verify",
    "vow",
    "want",
    "warn",
    "win",
    "wish",
    "worry",
    "write",
    "yield",
];

/// Irregular forms of common English verbs (past tense and participles, a few modals).
const EN_IRREGULAR: &[&str] = &[
    "became",
    "began",
    "begun",
    "brought",
    "built",
    "bought",
    "chose",
    "chosen",
    "came",
    "dealt",
    "did",
    "done",
    "does",
    "fell",
    "fallen",
    "felt",
    "found",
    "got",
    "gotten",
    "gave",
    "given",
    "went",
    "gone",
    "grew",
    "grown",
    "held",
    "kept",
    "knew",
    "known",
    "led",
    "left",
    "lost",
    "made",
    "met",
    "paid",
    "ran",
    "said",
    "saw",
    "seen",
    "sought",
    "sent",
    "showed",
    "shown",
    "spent",
    "stood",
    "took",
    "taken",
    "told",
    "thought",
    "understood",
    "undergone",
    "underwent",
    "wrote",
    "written",
    "won",
    "based",
    "say",
    "says",
    "told",
    "spoke",
    "spoken",
    "arose",
    "arisen",
    "bore",
    "borne",
    "meant",
    "sat",
    "threw",
    "thrown",
    "wore",
    "worn",
    "woke",
    "drove",
    "driven",
];

/// English nouns ending in `-ed` («speed», «hundred»).
const EN_ED_NOUNS: &[&str] = &[
    "speed", "seed", "need", "feed", "breed", "greed", "creed", "weed", "shred", "hundred",
    "kindred", "seabed", "embed",
];

/// Inflected forms of an English verb: `-s`, `-ed`, `-ing` (without and with a doubled consonant).
fn en_forms(base: &str) -> (Vec<String>, Vec<String>) {
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
fn en_edge_junk(w: &str, at_end: bool) -> bool {
    let n = w.chars().count();
    if n > 4 && w.ends_with("ly") && !w.ends_with("ply") && !w.ends_with("ally") {
        return true;
    }
    at_end && n > 4 && w.ends_with("ed") && !EN_ED_NOUNS.contains(&w)
}

/// Whether the phrase `toks[i..=j]` cuts a capitalised name: its last word is capitalised and so is
/// the next word, or its first word is capitalised and so is the previous (not sentence-initial,
/// not stop) word — «press secretary Jay» of «Jay Carney».
fn cuts_name(toks: &[Token], i: usize, j: usize, word_ok: &[bool]) -> bool {
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
enum PostLang {
    Ru,
    En,
}

/// Statistics of one phrase (by stem key) in one text.
#[derive(Debug, Default)]
struct Gram {
    count: u32,
    /// Occurrences (of a single word) inside a longer phrase candidate.
    nested: u32,
    /// Index of the first occurrence among the text's grams.
    first: u32,
    /// Lower-cased surface forms and how often each occurs, in first-seen order.
    forms: Vec<(String, u32)>,
}

impl Gram {
    /// The most frequent surface form (the first seen among equals).
    fn best_form(&self) -> Option<&str> {
        let mut best: Option<&(String, u32)> = None;
        for f in &self.forms {
            if best.is_none_or(|b| f.1 > b.1) {
                best = Some(f);
            }
        }
        best.map(|f| f.0.as_str())
    }
}

/// A scored candidate before output.
#[derive(Debug)]
struct Candidate {
    key: String,
    shown: String,
    stems: Vec<String>,
    score: f64,
    first: u32,
}

/// The default tagger: phrases ranked by per-channel TF-IDF (optionally with YAKE), plus the
/// post's hashtags, de-duplicated by stem. Build it once and share it; tagging is synchronous and
/// deterministic.
pub struct EmbeddedTagger {
    stemmers: Stemmers,
    /// Lower-cased, ё-folded stop words of both languages.
    stop: HashSet<String>,
    /// Stop stems (months, weekdays, time units) of both languages.
    stop_stems: HashSet<String>,
    /// Finite forms of common English verbs: never at a phrase edge.
    en_verbs: HashSet<String>,
    /// `-ing` forms of common English verbs: never at the start of a phrase.
    en_ing: HashSet<String>,
    /// The same stop words for YAKE (with and without `ё`).
    yake_stop: yake_rust::StopWords,
    yake_ru: yake_rust::Config,
    yake_en: yake_rust::Config,
    detector: Detector,
    /// Whether YAKE's scores take part (see [`EmbeddedTagger::with_yake`]).
    use_yake: bool,
}

impl Default for EmbeddedTagger {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for EmbeddedTagger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedTagger")
            .field("stop_words", &self.stop.len())
            .finish_non_exhaustive()
    }
}

impl EmbeddedTagger {
    /// Builds the stemmers, stop-word sets and YAKE configurations once.
    pub fn new() -> Self {
        let mut raw: HashSet<String> = HashSet::new();
        for lang in ["ru", "en"] {
            if let Some(sw) = yake_rust::StopWords::predefined(lang) {
                raw.extend(sw.iter().cloned());
            }
        }
        if let Some(words) = stop_words::lookup("ru") {
            raw.extend(words.iter().map(|w| (*w).to_owned()));
        }
        raw.extend(RU_EXTRA_STOP.iter().map(|w| (*w).to_owned()));
        let mut stop: HashSet<String> = HashSet::new();
        for w in raw {
            let w = w.trim();
            if w.is_empty() || w.contains(' ') {
                continue;
            }
            let folded = fold(w);
            if RU_NOT_STOP.contains(&folded.as_str()) {
                continue;
            }
            stop.insert(folded);
        }
        let mut yake_set: HashSet<String> = stop.clone();
        // YAKE sees the original text: add the `ё` spellings of folded stop words it may meet.
        for w in [
            "её", "ещё", "всё", "моё", "твоё", "неё", "своё", "чём", "нём",
        ] {
            yake_set.insert(w.to_owned());
        }
        let stop_stems = RU_STOP_STEMS
            .iter()
            .chain(EN_STOP_STEMS)
            .map(|s| (*s).to_owned())
            .collect();
        let mut en_verbs: HashSet<String> = EN_IRREGULAR.iter().map(|s| (*s).to_owned()).collect();
        let mut en_ing = HashSet::new();
        for v in EN_VERBS {
            let (finite, ing) = en_forms(v);
            en_verbs.extend(finite);
            en_ing.extend(ing);
        }
        let base = yake_rust::Config {
            remove_duplicates: false,
            ..yake_rust::Config::default()
        };
        Self {
            stemmers: Stemmers::new(),
            stop,
            stop_stems,
            en_verbs,
            en_ing,
            yake_stop: yake_rust::StopWords::custom(yake_set),
            yake_ru: yake_rust::Config {
                ngrams: 2,
                ..base.clone()
            },
            yake_en: yake_rust::Config { ngrams: 3, ..base },
            detector: Detector::with_allowlist(vec![Lang::Eng, Lang::Rus]),
            use_yake: false,
        }
    }

    /// Adds YAKE's statistics (casing, position, context spread) to the scores. Measured with
    /// `scripts/eval-tags.sh`: worth up to half a point of F1 on science abstracts, within noise on
    /// news and Russian posts, and YAKE's tokenizer makes tagging about 6 times slower.
    pub fn with_yake(mut self, on: bool) -> Self {
        self.use_yake = on;
        self
    }

    /// 3–7 tags for a post, best first, the post's hashtags leading (fewer only when the text has
    /// fewer candidates). `df` is the post's channel's document frequencies, when known.
    pub fn tags(&self, text: &str, df: Option<&DocFreq>) -> Vec<Tag> {
        let (hashtags, ranked) = self.rank(text, df, MAX_TAGS);
        let mut out = hashtags;
        let best = ranked.first().map_or(0.0, |t| t.score);
        for tag in ranked {
            if out.len() >= MAX_TAGS {
                break;
            }
            if out.len() >= MIN_TAGS && tag.score < EXTRA_TAG_SHARE * best {
                break;
            }
            out.push(tag);
        }
        out.truncate(MAX_TAGS);
        out
    }

    /// Up to `k` tags, best first, hashtags leading: for evaluations at a fixed cut-off.
    pub fn top_k(&self, text: &str, df: Option<&DocFreq>, k: usize) -> Vec<Tag> {
        let (mut out, ranked) = self.rank(text, df, k);
        out.extend(ranked);
        out.truncate(k);
        out
    }

    /// The language a cleaned text is processed as.
    fn language(&self, text: &str) -> Option<PostLang> {
        let (mut cyr, mut lat) = (0usize, 0usize);
        for c in text.chars() {
            if is_cyrillic(c) && c.is_alphabetic() {
                cyr += 1;
            } else if c.is_alphabetic() && script_of(c.encode_utf8(&mut [0; 4])) == Script::Latin {
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

    /// Whether a lower-cased word may not start (or, with `at_end`, end) a tag: Russian verb forms,
    /// English verb forms and adverbs.
    fn verb_like(&self, lower: &str, at_end: bool) -> bool {
        let w = fold(lower);
        match script_of(&w) {
            Script::Cyrillic => ru_verb_like(&w),
            Script::Latin => {
                self.en_verbs.contains(&w)
                    || (!at_end && self.en_ing.contains(&w))
                    || en_edge_junk(&w, at_end)
            }
            Script::Other => false,
        }
    }

    fn is_stop(&self, tok: &Token) -> bool {
        let folded = fold(&tok.lower);
        let chars = folded.chars().filter(|c| c.is_alphanumeric()).count();
        chars < 3
            || self.stop.contains(&folded)
            || (folded.len() > 3
                && folded.ends_with('s')
                && self.stop.contains(&folded[..folded.len() - 1]))
            || self.stop_stems.contains(&tok.stem)
    }

    /// Hashtag tags and ranked phrase tags (hashtag stems removed), each list best first.
    fn rank(&self, text: &str, df: Option<&DocFreq>, k: usize) -> (Vec<Tag>, Vec<Tag>) {
        let text = truncate(text, MAX_TEXT_BYTES);
        let cleaned = clean(text);
        let mut hashtag_keys: Vec<String> = Vec::new();
        let mut hashtags: Vec<Tag> = Vec::new();
        for (i, h) in cleaned.hashtags.iter().enumerate() {
            let key = self.key_of(h);
            if key.is_empty() || hashtag_keys.contains(&key) {
                continue;
            }
            hashtag_keys.push(key);
            hashtags.push(Tag {
                tag: h.clone(),
                score: 2.0 - 0.01 * i as f64,
            });
        }
        hashtags.truncate(k);
        let Some(lang) = self.language(&cleaned.text) else {
            return (hashtags, Vec::new());
        };
        let candidates = self.candidates(&cleaned.text, lang, df);
        let mut ranked = Vec::new();
        let mut chosen: Vec<Vec<String>> = Vec::new();
        let best = candidates.first().map_or(1.0, |c| c.score);
        for c in candidates {
            if hashtags.len() + ranked.len() >= k {
                break;
            }
            if hashtag_keys.contains(&c.key) {
                continue;
            }
            let mut sorted = c.stems.clone();
            sorted.sort();
            if chosen.contains(&sorted) {
                continue;
            }
            // A phrase inside an already chosen longer phrase adds nothing; single words stay
            // (news annotators pick both «sleeping beauty» and «beauty»).
            if sorted.len() > 1
                && chosen
                    .iter()
                    .any(|ch| ch.len() > 1 && sorted.iter().all(|s| ch.contains(s)))
            {
                continue;
            }
            chosen.push(sorted);
            let score = if best > 0.0 { c.score / best } else { c.score };
            ranked.push(Tag {
                tag: c.shown,
                score,
            });
        }
        (hashtags, ranked)
    }

    /// Stem key of a phrase: the stems of its words joined by spaces (empty if it has no word).
    fn key_of(&self, phrase: &str) -> String {
        let toks = tokenize(phrase, &self.stemmers);
        toks.iter()
            .filter(|t| t.kind == Kind::Word)
            .map(|t| t.stem.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Phrase statistics of a text: every run of 1..=`n` words not crossing a break, whose edge
    /// words are neither stop words nor verb-like.
    fn grams(&self, toks: &[Token], n: usize) -> HashMap<String, Gram> {
        let mut grams: HashMap<String, Gram> = HashMap::new();
        let mut next = 0u32;
        let word_ok: Vec<bool> = toks
            .iter()
            .map(|t| t.kind == Kind::Word && !self.is_stop(t))
            .collect();
        let ok_start: Vec<bool> = toks
            .iter()
            .zip(&word_ok)
            .map(|(t, &ok)| ok && !self.verb_like(&t.lower, false))
            .collect();
        let ok_edge: Vec<bool> = toks
            .iter()
            .zip(&word_ok)
            .map(|(t, &ok)| ok && !self.verb_like(&t.lower, true))
            .collect();
        let mut windows: Vec<(usize, usize)> = Vec::new();
        let mut keys: Vec<String> = Vec::new();
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
                if !(i + 1..j).all(|m| {
                    (word_ok[m] && !self.verb_like(&toks[m].lower, true)) || toks[m].lower == "of"
                }) {
                    continue;
                }
                let span = &toks[i..=j];
                let key = span
                    .iter()
                    .map(|t| t.stem.as_str())
                    .collect::<Vec<_>>()
                    .join(" ");
                let form = span
                    .iter()
                    .map(|t| t.lower.as_str())
                    .collect::<Vec<_>>()
                    .join(" ");
                let g = grams.entry(key.clone()).or_insert_with(|| Gram {
                    first: next,
                    ..Gram::default()
                });
                next += 1;
                g.count += 1;
                match g.forms.iter_mut().find(|f| f.0 == form) {
                    Some(f) => f.1 += 1,
                    None => g.forms.push((form, 1)),
                }
                windows.push((i, j));
                keys.push(key);
            }
        }
        // Occurrences of single words inside longer candidate phrases (C-value-like nesting).
        let mut covered = vec![false; toks.len()];
        for &(i, j) in &windows {
            if j > i {
                covered[i..=j].iter_mut().for_each(|c| *c = true);
            }
        }
        for (&(i, j), key) in windows.iter().zip(&keys) {
            if i == j
                && covered[i]
                && let Some(g) = grams.get_mut(key)
            {
                g.nested += 1;
            }
        }
        grams
    }

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

    /// Scored candidates of a cleaned text, best first.
    fn candidates(&self, text: &str, lang: PostLang, df: Option<&DocFreq>) -> Vec<Candidate> {
        let n = match lang {
            PostLang::Ru => 2,
            PostLang::En => 3,
        };
        let toks = tokenize(text, &self.stemmers);
        let grams = self.grams(&toks, n);
        if grams.is_empty() {
            return Vec::new();
        }
        // Best YAKE score per stem key (none without YAKE: every phrase is a candidate).
        let mut yake_score: HashMap<String, f64> = HashMap::new();
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
            let Some(shown) = g.best_form() else { continue };
            out.push(Candidate {
                key: key.clone(),
                shown: shown.to_owned(),
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
        out
    }
}

impl Tagger for EmbeddedTagger {
    fn name(&self) -> String {
        "embedded".to_owned()
    }

    fn tag<'a>(&'a self, text: &'a str, ctx: TagContext<'a>) -> TagFuture<'a> {
        Box::pin(async move { Ok::<_, TagError>(self.tags(text, ctx.doc_freq)) })
    }
}
