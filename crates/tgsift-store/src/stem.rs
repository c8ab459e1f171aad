//! The text as the full-text index sees it: every word replaced by its Snowball stem (Russian for
//! Cyrillic words, English for Latin ones, `ё` folded to `е`) and everything else left as written, so
//! «ставки» and «ставка» meet in the index. The same stems are the tagger's grouping key
//! (`tgsift_tagger::tag_key`); a test in `tgsift` holds the two together.
//!
//! Only runs of ASCII letters and digits and of Latin or Cyrillic letters are replaced, each by a
//! non-empty run of letters. SQLite's `unicode61` tokenizer counts all of those as word characters,
//! so the stemmed text splits into the same tokens, in the same places, as the original: the positions
//! in the index are the original text's, and snippets highlight its words.
//!
//! This is part of the index's format: the SQLite triggers call it (as `tgsift_search_text`) to delete
//! a post's old tokens by computing them again, so it must stay deterministic and never change
//! without a migration that rebuilds the index.

use std::cell::RefCell;

use rust_stemmers::{Algorithm, Stemmer};
use rustc_hash::FxHashMap;

/// Characters of the words that are stemmed.
fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || (matches!(c, '\u{00C0}'..='\u{024F}' | '\u{0400}'..='\u{052F}')
            && (c.is_lowercase() || c.is_uppercase()))
}

/// A word lower-cased with `ё` folded to `е`; Latin and Cyrillic letters without Unicode table
/// lookups, which were a tenth of indexing's time, everything else by the standard library.
fn fold(word: &str) -> String {
    let mut out = String::with_capacity(word.len());
    for c in word.chars() {
        match c {
            'a'..='z' | 'а'..='я' => out.push(c),
            'A'..='Z' => out.push(c.to_ascii_lowercase()),
            'А'..='Я' => out.push(char::from_u32(c as u32 + 32).unwrap_or(c)),
            'ё' | 'Ё' => out.push('е'),
            _ if c.is_ascii() => out.push(c),
            _ => out.extend(c.to_lowercase()),
        }
    }
    out
}

/// Distinct words each thread remembers the stem of before it starts afresh (about 1 MiB): a
/// channel's working vocabulary fits, and a larger cache only costs memory.
const STEM_CACHE: usize = 20_000;

/// Appends the stem of a folded word (itself when Snowball leaves nothing), by its script. Stemming is most
/// of indexing's time and a channel's vocabulary repeats, so each thread remembers recent stems.
fn push_stem(out: &mut String, word: &str, ru: &Stemmer, en: &Stemmer) {
    thread_local! {
        static SEEN: RefCell<FxHashMap<String, String>> = RefCell::new(FxHashMap::default());
    }
    let hit = SEEN.with(|c| match c.borrow().get(word) {
        Some(stem) => {
            out.push_str(stem);
            true
        }
        None => false,
    });
    if hit {
        return;
    }
    let cyrillic = word.chars().any(|c| matches!(c, '\u{0400}'..='\u{052F}'));
    let stem = if cyrillic {
        ru.stem(word)
    } else {
        en.stem(word)
    };
    let stem = if stem.is_empty() {
        word.to_owned()
    } else {
        stem.into_owned()
    };
    SEEN.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() >= STEM_CACHE {
            c.clear();
        }
        out.push_str(&stem);
        c.insert(word.to_owned(), stem);
    });
}

/// `text` with each word lower-cased and replaced by its stem (words with digits are only
/// lower-cased); separators and other scripts unchanged.
pub fn search_text(text: &str) -> String {
    let ru = Stemmer::create(Algorithm::Russian);
    let en = Stemmer::create(Algorithm::English);
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(is_word_char) {
        out.push_str(&rest[..start]);
        let run = &rest[start..];
        let end = run.find(|c| !is_word_char(c)).unwrap_or(run.len());
        let word = fold(&run[..end]);
        if word.bytes().any(|b| b.is_ascii_digit()) {
            out.push_str(&word);
        } else {
            push_stem(&mut out, &word, &ru, &en);
        }
        rest = &run[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inflected_forms_share_a_stem_and_separators_stay() {
        assert_eq!(search_text("Ставки"), search_text("ставка"));
        assert_eq!(search_text("ставку"), search_text("СТАВКОЙ"));
        assert_eq!(search_text("rates"), search_text("rate"));
        assert_eq!(search_text("Running"), search_text("runs"));
        assert_eq!(search_text("ещё"), search_text("еще"));
        assert_eq!(
            search_text("ЦБ поднял ставки, — «нефть» 2024-й: covid19!"),
            "цб подня ставк, — «нефт» 2024-й: covid19!"
        );
        // Other scripts, emoji and marks pass through untouched.
        assert_eq!(search_text("東京 🚀 ×"), "東京 🚀 ×");
    }

    #[test]
    fn fast_folding_is_the_standard_library_s() {
        let slow = |w: &str| -> String {
            w.chars()
                .flat_map(char::to_lowercase)
                .map(|c| if c == 'ё' { 'е' } else { c })
                .collect()
        };
        let every: String = ('\u{0}'..='\u{0530}').chain(['İ', 'ẞ', 'Ω']).collect();
        assert_eq!(fold(&every), slow(&every));
    }

    #[test]
    fn word_boundaries_are_those_of_the_original() {
        for text in [
            "Ставки ЦБ: «ключевая ставка» — 16%!",
            "Don't stop-loss the iPhone's café crème",
            "mixedрусскийtext a-b-c ёлка",
        ] {
            let split = |s: &str| {
                s.split(|c: char| !c.is_alphanumeric())
                    .filter(|w| !w.is_empty())
                    .count()
            };
            assert_eq!(split(text), split(&search_text(text)), "{text}");
        }
    }
}
