//! How a candidate is shown: Russian words in dictionary form (nouns in the nominative singular,
//! adjectives agreed with their noun, a genitive complement kept: «ключевая ставка», «центробанк
//! России»), English words as written; proper names capitalised when every occurrence in the post
//! is, abbreviations in capitals, everything else lower-cased. Candidates that are not things (a
//! lone adjective, a verb, an adverb, a participle, a filler) are not shown at all.

// Fx hashing: the tagger hashes short words millions of times, where SipHash was a tenth of its time.
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::borrow::Cow;
use std::sync::Arc;

use super::morph::{Morph, Parse, Pos, Tag, cases, gram, proper};
use super::tokenize::{Kind, Shape, Token, fold, is_cyrillic};

/// How one word (by stem) is written across a post.
#[derive(Clone, Debug)]
struct WordCase<'a> {
    /// Every occurrence starts with (or is all) upper case.
    all_cap: bool,
    /// Some capitalised occurrence is not the first word of its sentence.
    inner_cap: bool,
    /// Every occurrence is all upper case (two letters or more).
    all_upper: bool,
    /// Some occurrence has upper-case letters after the first («iPhone»).
    mixed: bool,
    /// The first occurrence as written.
    orig: Cow<'a, str>,
}

/// Most letters of a word written in capitals that is taken for an abbreviation («ИИ», «ЦБ», «NASA»,
/// «ОПЕК») and kept as written: the dictionary reads such words as something else («ИИ» as a form
/// of «ия»). Longer words in capitals are more often shouted headlines than abbreviations.
const ABBR_MAX_LETTERS: usize = 5;

impl WordCase<'_> {
    /// Whether every occurrence is written in capitals and the word is short enough to be an
    /// abbreviation.
    fn abbreviation(&self) -> bool {
        self.all_upper
            && (2..=ABBR_MAX_LETTERS)
                .contains(&self.orig.chars().filter(|c| c.is_alphabetic()).count())
    }
}

/// The Russian analyses and the casing of the words of one post.
pub(super) struct TextMorph<'a> {
    morph: &'static Morph,
    /// By stem id (`tokenize::Token::stem_id`).
    casing: HashMap<u64, WordCase<'a>>,
}

/// The grammeme bits this file asks about, computed at compile time (they are tested on every word).
const NAME: u64 = gram("Name");
const PATR: u64 = gram("Patr");
const SURN: u64 = gram("Surn");
const ANIM: u64 = gram("anim");
const FEMN: u64 = gram("femn");
const GEN2: u64 = gram("gen2");
const GENT: u64 = gram("gent");
const INAN: u64 = gram("inan");
const MASC: u64 = gram("masc");
const MS_F: u64 = gram("ms-f");
const NEUT: u64 = gram("neut");
const NOMN: u64 = gram("nomn");
const PLUR: u64 = gram("plur");
const SING: u64 = gram("sing");
const PROPER: u64 = proper();
const CASES: u64 = cases();

/// Most parses of a word tried when matching a phrase pattern.
const PAIR_PARSES: usize = 4;

/// A dictionary form and whether each of its words is a proper name by the dictionary.
struct Shown {
    words: Vec<String>,
    proper: Vec<bool>,
}

impl<'a> TextMorph<'a> {
    /// Reads how every distinct word (by stem) of the tokens is written; Russian words are
    /// analysed when a candidate is shown (the analyses are kept per thread, `Morph::parse`).
    pub(super) fn new(toks: &[Token<'a>]) -> Self {
        let morph = Morph::get();
        let mut casing: HashMap<u64, WordCase<'a>> = HashMap::default();
        for t in toks.iter().filter(|t| t.kind == Kind::Word) {
            let cap = t.shape != Shape::Lower;
            let c = casing.entry(t.stem_id()).or_insert_with(|| WordCase {
                all_cap: true,
                inner_cap: false,
                all_upper: true,
                mixed: false,
                orig: t.orig.clone(),
            });
            c.all_cap &= cap;
            c.inner_cap |= cap && !t.initial;
            c.all_upper &= t.shape == Shape::Upper;
            c.mixed |= t.shape == Shape::Mixed;
        }
        Self { morph, casing }
    }

    /// The analyses of a word of the text (none unless it has a Cyrillic letter).
    fn parses(&self, word: &str) -> Arc<[Parse]> {
        if word.chars().any(is_cyrillic) {
            self.morph.parse(word)
        } else {
            Arc::new([])
        }
    }

    /// How a candidate (its most frequent lower-case form and its words' stem ids) is shown, or
    /// `None` when it is not a thing.
    pub(super) fn show(
        &self,
        form: &str,
        stems: &[u64],
        fillers: &HashSet<String>,
    ) -> Option<String> {
        let words: Vec<&str> = form.split(' ').collect();
        let case = |i: usize| stems.get(i).and_then(|s| self.casing.get(s));
        let abbr: Vec<bool> = (0..words.len())
            .map(|i| case(i).is_some_and(WordCase::abbreviation))
            .collect();
        let shown = if abbr.iter().all(|a| *a) {
            // Abbreviations only: nothing for the dictionary to do, and it would mangle them.
            Shown {
                words: words.iter().map(|w| (*w).to_owned()).collect(),
                proper: vec![false; words.len()],
            }
        } else if words.iter().any(|w| w.chars().any(is_cyrillic)) {
            self.russian(&words)?
        } else {
            Shown {
                words: words.iter().map(|w| (*w).to_owned()).collect(),
                proper: vec![false; words.len()],
            }
        };
        if shown.words.iter().any(|w| fillers.contains(&fold(w)))
            || fillers.contains(&fold(&shown.words.join(" ")))
        {
            return None;
        }
        let mut named = false;
        let mut out: Vec<String> = shown
            .words
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let Some(c) = case(i) else {
                    return w.clone();
                };
                if abbr[i] && shown.words.len() == words.len() {
                    // As written, whatever the dictionary made of it.
                    words[i].to_uppercase()
                } else if c.all_upper && w.chars().filter(|c| c.is_alphabetic()).count() >= 2 {
                    w.to_uppercase()
                } else if c.mixed && !w.chars().any(is_cyrillic) {
                    c.orig.to_string()
                } else if c.all_cap && (c.inner_cap || shown.proper[i]) {
                    named = true;
                    capitalise(w)
                } else {
                    w.clone()
                }
            })
            .collect();
        // An English word always written with a capital belongs to the name it stands in a phrase
        // with, even when it only ever opens a sentence: «Tate Modern», not «tate Modern». (Russian
        // sentences open with a capital before names too often: «Визит Путина».)
        if named {
            for (i, w) in out.iter_mut().enumerate() {
                if case(i).is_some_and(|c| c.all_cap) && !w.chars().any(is_cyrillic) {
                    *w = capitalise(w);
                }
            }
        }
        Some(out.join(" "))
    }

    /// The dictionary form of a phrase with Russian words.
    fn russian(&self, words: &[&str]) -> Option<Shown> {
        match words {
            [w] => self.single(w),
            [a, b] => self.pair(a, b),
            _ => Some(Shown {
                words: words.iter().map(|w| (*w).to_owned()).collect(),
                proper: vec![false; words.len()],
            }),
        }
    }

    fn single(&self, w: &str) -> Option<Shown> {
        let ps = self.parses(w);
        let ps: &[Parse] = &ps;
        let Some(best) = ps.first() else {
            return Some(Shown {
                words: vec![self.unknown_nominative(w)],
                proper: vec![false],
            });
        };
        // A noun, or an adjective the dictionary also reads as a noun («главное», «учёный»).
        if !matches!(self.morph.tag(best).pos, Pos::Noun | Pos::Adjf) {
            return None;
        }
        let noun = ps
            .iter()
            .take(PAIR_PARSES)
            .find(|p| self.morph.tag(p).pos == Pos::Noun)?;
        Some(Shown {
            words: vec![self.nominative(noun)],
            proper: vec![self.morph.tag(noun).has_any(PROPER)],
        })
    }

    fn pair(&self, a: &str, b: &str) -> Option<Shown> {
        let (pa, pb) = (self.parses(a), self.parses(b));
        let (pa, pb): (&[Parse], &[Parse]) = (&pa, &pb);
        let m = self.morph;
        let mut tries: Vec<(usize, &Parse, &Parse)> = Vec::new();
        for (i, x) in pa.iter().take(PAIR_PARSES).enumerate() {
            for (j, y) in pb.iter().take(PAIR_PARSES).enumerate() {
                tries.push((i + j, x, y));
            }
        }
        tries.sort_by_key(|t| t.0);
        for &(_, x, y) in &tries {
            let (tx, ty) = (m.tag(x), m.tag(y));
            // adjective + noun, agreeing: «ключевую ставку» → «ключевая ставка»
            if tx.pos == Pos::Adjf && ty.pos == Pos::Noun && agree(&tx, &ty) {
                let (noun, plural) = self.nominative_number(y);
                let want = if plural {
                    NOMN | PLUR
                } else {
                    NOMN | SING | gender(&ty)
                };
                let adj = m.inflect(x, want, 0)?;
                return Some(Shown {
                    words: vec![adj, noun],
                    proper: vec![false, ty.has_any(PROPER)],
                });
            }
            if tx.pos != Pos::Noun || ty.pos != Pos::Noun {
                continue;
            }
            let name = tx.has(NAME);
            let same_case = tx.bits & ty.bits & CASES != 0;
            // first name + surname or patronymic in one case: both nominative, one gender
            if name && same_case && (ty.has_any(SURN | PATR | NAME)) {
                let keep = gender(&tx);
                return Some(Shown {
                    words: vec![
                        self.nominative(x),
                        m.inflect(y, NOMN | SING | keep, 0)
                            .unwrap_or_else(|| self.nominative(y)),
                    ],
                    proper: vec![true, true],
                });
            }
            // noun + genitive complement: «центробанка россии» → «центробанк россии»
            if !name && ty.has_any(GENT | GEN2) {
                return Some(Shown {
                    words: vec![
                        self.nominative(x),
                        m.spelling(y).unwrap_or_else(|| b.to_owned()),
                    ],
                    proper: vec![tx.has_any(PROPER), ty.has_any(PROPER)],
                });
            }
            // apposition in one case: «реке волге» → «река волга»
            if same_case {
                return Some(Shown {
                    words: vec![self.nominative(x), self.nominative(y)],
                    proper: vec![tx.has_any(PROPER), ty.has_any(PROPER)],
                });
            }
        }
        let thing = |ps: &[Parse]| {
            ps.first()
                .is_none_or(|p| matches!(m.tag(p).pos, Pos::Noun | Pos::Adjf))
        };
        if !thing(pa) || !thing(pb) {
            return None;
        }
        fn noun<'p>(m: &Morph, ps: &'p [Parse]) -> Option<&'p Parse> {
            ps.iter()
                .take(PAIR_PARSES)
                .find(|p| m.tag(p).pos == Pos::Noun)
        }
        // a first name + a surname the patterns above did not read (the dictionary lacks it, or
        // only guesses it from its ending): «Софьи Акатьевой» → «Софья Акатьева»
        if let Some(x) = noun(m, pa).filter(|x| m.tag(x).has(NAME))
            && b.chars().any(is_cyrillic)
        {
            let tx = m.tag(x);
            return Some(Shown {
                words: vec![self.nominative(x), surname_nominative(b, &tx)],
                proper: vec![true, true],
            });
        }
        match (pa.is_empty(), pb.is_empty()) {
            // known first name + unknown surname: «Дмитрия Бивола» → «Дмитрий Бивол»
            (false, true) => {
                let x = noun(m, pa)?;
                let tx = m.tag(x);
                let second = if tx.has(NAME) && b.chars().any(is_cyrillic) {
                    surname_nominative(b, &tx)
                } else {
                    b.to_owned()
                };
                Some(Shown {
                    words: vec![self.nominative(x), second],
                    proper: vec![tx.has_any(PROPER), false],
                })
            }
            // Latin or unknown modifier + Russian noun: «ozon банка» → «ozon банк»
            (true, false) => {
                let y = noun(m, pb)?;
                Some(Shown {
                    words: vec![a.to_owned(), self.nominative(y)],
                    proper: vec![false, m.tag(y).has_any(PROPER)],
                })
            }
            (true, true) => Some(Shown {
                words: vec![a.to_owned(), b.to_owned()],
                proper: vec![false, false],
            }),
            // both known, no pattern (adjective + adjective, noun + adjective…): not a tag
            (false, false) => None,
        }
    }

    /// A noun in the nominative singular (plural for plural-only nouns), keeping its gender.
    fn nominative(&self, p: &Parse) -> String {
        self.nominative_number(p).0
    }

    /// [`Self::nominative`] and whether the form is plural.
    fn nominative_number(&self, p: &Parse) -> (String, bool) {
        let m = self.morph;
        let keep = gender(&m.tag(p)) | ANIM | INAN;
        if let Some(s) = m.inflect(p, NOMN | SING, keep) {
            return (s, false);
        }
        if let Some(s) = m.inflect(p, NOMN, keep) {
            return (s, true);
        }
        (
            m.lemma(p).or_else(|| m.spelling(p)).unwrap_or_default(),
            false,
        )
    }

    /// An unknown word on its own: a hyphenated compound whose last part is a known noun gets that
    /// part in the nominative («интернет-магазина» → «интернет-магазин»); anything else as written.
    fn unknown_nominative(&self, w: &str) -> String {
        let Some((head, last)) = w.rsplit_once('-') else {
            return w.to_owned();
        };
        let m = self.morph;
        let ps = m.parse(last);
        match ps
            .iter()
            .take(PAIR_PARSES)
            .find(|p| m.tag(p).pos == Pos::Noun)
        {
            Some(p) if ps.first().is_some_and(|b| m.tag(b).pos == Pos::Noun) => {
                format!("{head}-{}", self.nominative(p))
            }
            _ => w.to_owned(),
        }
    }
}

impl Tag {
    /// Whether the tag has any grammeme of `mask`.
    fn has_any(&self, mask: u64) -> bool {
        self.bits & mask != 0
    }
}

/// The gender grammemes of a tag (common gender counts as masculine).
fn gender(t: &Tag) -> u64 {
    let g = t.bits & (MASC | FEMN | NEUT);
    if g == 0 && t.has(MS_F) { MASC } else { g }
}

/// Whether an adjective agrees with a noun: one case, one number and, in the singular, one gender.
fn agree(adj: &Tag, noun: &Tag) -> bool {
    if adj.bits & noun.bits & CASES == 0 {
        return false;
    }
    let (sing, plur) = (SING, PLUR);
    if adj.has(plur) {
        return noun.has(plur);
    }
    if !(adj.has(sing) && noun.has(sing)) {
        return false;
    }
    let g = gender(adj);
    g == 0 || gender(noun) == 0 || g & gender(noun) != 0
}

/// The nominative of a surname the dictionary lacks, from the case and gender of the first name
/// before it: «Бивола» → «бивол», «Чаловым» → «чалов», «Акатьевой» → «акатьева».
fn surname_nominative(w: &str, name: &Tag) -> String {
    let case = |g: &str| name.has(gram(g));
    let rules: &[(&str, &str)] = if name.has(FEMN) {
        if case("accs") {
            &[
                ("ову", "ова"),
                ("еву", "ева"),
                ("ину", "ина"),
                ("ыну", "ына"),
            ]
        } else if case("nomn") {
            &[]
        } else {
            &[
                ("овой", "ова"),
                ("евой", "ева"),
                ("иной", "ина"),
                ("ыной", "ына"),
            ]
        }
    } else if case("gent") || case("accs") {
        &[("а", "")]
    } else if case("datv") {
        &[("у", "")]
    } else if case("ablt") {
        &[
            ("овым", "ов"),
            ("евым", "ев"),
            ("иным", "ин"),
            ("ыным", "ын"),
            ("ом", ""),
        ]
    } else if case("loct") {
        &[("е", "")]
    } else {
        &[]
    };
    rules
        .iter()
        .find_map(|(end, add)| {
            let stem = w.strip_suffix(end)?;
            (stem.chars().count() >= 2).then(|| format!("{stem}{add}"))
        })
        .unwrap_or_else(|| w.to_owned())
}

/// Upper-cases the first letter.
fn capitalise(w: &str) -> String {
    let mut c = w.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tokenize::{Stemmers, stem_id, tokenize};
    use super::*;

    /// The dictionary form of a lower-case phrase said once in a sentence's middle.
    fn shown(phrase: &str) -> Option<String> {
        let stemmers = Stemmers::new();
        let text = format!("и {phrase}.");
        let toks = tokenize(&text, &stemmers);
        let tm = TextMorph::new(&toks);
        let stems: Vec<u64> = toks
            .iter()
            .filter(|t| t.kind == Kind::Word)
            .skip(1)
            .map(Token::stem_id)
            .collect();
        tm.show(phrase, &stems, &HashSet::default())
    }

    #[test]
    fn nouns_and_phrases_take_their_dictionary_form() {
        for (phrase, expected) in [
            ("ключевую ставку", "ключевая ставка"),
            ("ключевой ставке", "ключевая ставка"),
            ("ставки", "ставка"),
            ("ставку", "ставка"),
            ("центробанка россии", "центробанк россии"),
            ("шайбы", "шайба"),
            ("чипе", "чип"),
            ("счётом", "счёт"),
            ("счетом", "счёт"),
            ("иностранных студентов", "иностранный студент"),
            ("совета директоров", "совет директоров"),
            ("клинических испытаниях", "клиническое испытание"),
            ("суток", "сутки"),
            ("интернет-магазина", "интернет-магазин"),
        ] {
            assert_eq!(shown(phrase).as_deref(), Some(expected), "{phrase}");
        }
    }

    #[test]
    fn names_keep_their_gender_and_case_marks() {
        assert_eq!(shown("дмитрия бивола").as_deref(), Some("дмитрий бивол"));
        assert_eq!(shown("софьи акатьевой").as_deref(), Some("софья акатьева"));
    }

    #[test]
    fn verbs_adverbs_participles_and_lone_adjectives_are_not_tags() {
        for phrase in [
            "полностью",
            "важно",
            "ждём официальных",
            "сохранил",
            "обыграл",
            "заявили",
            "утверждённый бюджет",
            "утверждённый",
            "официальных",
            "быстро растущий",
        ] {
            assert_eq!(shown(phrase), None, "{phrase}");
        }
    }

    #[test]
    fn fillers_are_not_tags_at_any_position() {
        let stemmers = Stemmers::new();
        let fillers: HashSet<String> = ["главное", "официальный комментарий"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        for phrase in ["главное", "главное событие", "официальных комментариев"]
        {
            let toks = tokenize(phrase, &stemmers);
            let tm = TextMorph::new(&toks);
            let stems: Vec<u64> = toks.iter().map(Token::stem_id).collect();
            assert_eq!(tm.show(phrase, &stems, &fillers), None, "{phrase}");
        }
    }

    #[test]
    fn names_are_capitalised_only_when_always_written_so() {
        let stemmers = Stemmers::new();
        let text =
            "Центробанк России сохранил ставку. Банк России и МКАД. В москве снег, Москва стоит.";
        let toks = tokenize(text, &stemmers);
        let tm = TextMorph::new(&toks);
        let stem = |w: &str| stem_id(&stemmers.stem(&fold(w))).unwrap_or(0);
        let show = |form: &str| {
            let stems: Vec<u64> = form.split(' ').map(stem).collect();
            tm.show(form, &stems, &HashSet::default())
        };
        assert_eq!(
            show("центробанк россии").as_deref(),
            Some("Центробанк России")
        );
        assert_eq!(show("мкад").as_deref(), Some("МКАД"));
        assert_eq!(
            show("москве").as_deref(),
            Some("москва"),
            "one lower-case occurrence: not shown capitalised"
        );
        assert_eq!(show("ставку").as_deref(), Some("ставка"));
    }
}
