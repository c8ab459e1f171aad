//! Russian morphology from the OpenCorpora dictionary: the parses of a word form (lemma, part of
//! speech, grammemes) and its other forms, so tags can be shown in dictionary form and verbs,
//! adverbs and participles left out.
//!
//! The dictionary is pymorphy3's compilation of OpenCorpora (`scripts/build-ru-morph.sh` turns it
//! into the files in `data/`): 185,000 lexemes as `stem + paradigm`, 3,456 paradigms (suffix, tag and
//! prefix of every form) and, for the ambiguous words of OpenCorpora's annotated corpus, the most
//! probable tag. A word is analysed by splitting off each known suffix and looking the stem up in an
//! `fst` map; words the dictionary lacks get no parse (the caller falls back on heuristics).

use rustc_hash::FxHashMap as HashMap;

use fst::Map;
use fst::raw::Output;

static STEMS: &[u8] = include_bytes!("data/ru_stems.fst");
static BEST: &[u8] = include_bytes!("data/ru_best.fst");
static PARADIGMS: &[u8] = include_bytes!("data/ru_paradigms.bin");
static SUFFIXES: &str = include_str!("data/ru_suffixes.txt");
static PREFIXES: &str = include_str!("data/ru_prefixes.txt");
static TAGS: &str = include_str!("data/ru_tags.txt");

/// The grammemes the tagger asks about, one bit each in [`Tag::bits`].
const GRAMMEMES: &[&str] = &[
    "nomn", "gent", "datv", "accs", "ablt", "loct", "voct", "gen2", "acc2", "loc2", "sing", "plur",
    "masc", "femn", "neut", "ms-f", "anim", "inan", "Name", "Surn", "Patr", "Geox", "Orgn", "Trad",
    "Abbr", "Fixd", "Pltm", "Sgtm", "Apro", "Anum", "Prnt", "Infr", "Init",
];

/// One grammeme as a bit of [`Tag::bits`] (a `const fn`, so hot paths keep the bits in `const`s).
pub const fn gram(name: &str) -> u64 {
    let mut i = 0;
    while i < GRAMMEMES.len() {
        if same(GRAMMEMES[i].as_bytes(), name.as_bytes()) {
            return 1u64 << i;
        }
        i += 1;
    }
    0
}

/// Byte equality usable in a `const fn`.
const fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// The bits of several grammemes.
const fn grams(names: &[&str]) -> u64 {
    let (mut bits, mut i) = (0, 0);
    while i < names.len() {
        bits |= gram(names[i]);
        i += 1;
    }
    bits
}

/// The case grammemes.
pub const fn cases() -> u64 {
    grams(&[
        "nomn", "gent", "datv", "accs", "ablt", "loct", "voct", "gen2", "acc2", "loc2",
    ])
}

/// The grammemes that mark a proper name.
pub const fn proper() -> u64 {
    grams(&["Name", "Surn", "Patr", "Geox", "Orgn", "Trad"])
}

/// A part of speech (OpenCorpora's names).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pos {
    /// Noun.
    Noun,
    /// Full adjective.
    Adjf,
    /// Short adjective.
    Adjs,
    /// Comparative.
    Comp,
    /// Finite verb.
    Verb,
    /// Infinitive.
    Infn,
    /// Full participle.
    Prtf,
    /// Short participle.
    Prts,
    /// Gerund.
    Grnd,
    /// Numeral.
    Numr,
    /// Adverb.
    Advb,
    /// Pronoun-noun.
    Npro,
    /// Predicative.
    Pred,
    /// Preposition, conjunction, particle, interjection or anything else.
    Other,
}

impl Pos {
    fn from_name(s: &str) -> Self {
        match s {
            "NOUN" => Self::Noun,
            "ADJF" => Self::Adjf,
            "ADJS" => Self::Adjs,
            "COMP" => Self::Comp,
            "VERB" => Self::Verb,
            "INFN" => Self::Infn,
            "PRTF" => Self::Prtf,
            "PRTS" => Self::Prts,
            "GRND" => Self::Grnd,
            "NUMR" => Self::Numr,
            "ADVB" => Self::Advb,
            "NPRO" => Self::Npro,
            "PRED" => Self::Pred,
            _ => Self::Other,
        }
    }
}

/// Word analyses a thread keeps (about 2 MB); the cache starts over when it is full.
const ANALYSES_PER_THREAD: usize = 20_000;

/// One OpenCorpora tag: part of speech, grammemes and how common it is.
#[derive(Clone, Copy, Debug)]
pub struct Tag {
    /// Part of speech.
    pub pos: Pos,
    /// Grammemes of [`GRAMMEMES`], one bit each.
    pub bits: u64,
    /// Share of the tag in the annotated corpus: ranks the parses of an ambiguous word.
    prior: f32,
}

impl Tag {
    /// Whether the tag has every grammeme of `mask`.
    pub fn has(&self, mask: u64) -> bool {
        self.bits & mask == mask
    }
}

/// One way to read a word form: a form of one lexeme.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parse {
    para: u16,
    idx: u16,
    /// Id of the form's tag.
    tag: u16,
    /// The lexeme's stem, with its `ё`.
    stem: String,
}

/// One form of a paradigm.
#[derive(Clone, Copy, Debug)]
struct Form {
    suffix: u16,
    tag: u16,
    prefix: u16,
}

/// The Russian dictionary. Build it once ([`Morph::get`]); analysing is read-only.
pub struct Morph {
    stems: Map<&'static [u8]>,
    best: Map<&'static [u8]>,
    paradigms: Vec<Vec<Form>>,
    suffixes: Vec<&'static str>,
    prefixes: Vec<&'static str>,
    tags: Vec<Tag>,
    /// ё-folded suffix → the (paradigm, form) pairs that end in it, sorted.
    by_suffix: HashMap<String, Vec<(u16, u16)>>,
    /// Longest suffix, in characters.
    max_suffix: usize,
}

impl std::fmt::Debug for Morph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Morph")
            .field("lexemes", &self.stems.len())
            .field("paradigms", &self.paradigms.len())
            .finish_non_exhaustive()
    }
}

fn fold(s: &str) -> String {
    s.chars().map(|c| if c == 'ё' { 'е' } else { c }).collect()
}

impl Morph {
    /// The shared dictionary, built on first use (about 10 ms).
    pub fn get() -> &'static Morph {
        static MORPH: std::sync::OnceLock<Morph> = std::sync::OnceLock::new();
        MORPH.get_or_init(Morph::load)
    }

    /// Reads the embedded files. They are generated and tested, so a malformed one is a build
    /// defect: it yields an empty dictionary (every word unknown) rather than a panic.
    fn load() -> Morph {
        let stems = Map::new(STEMS).unwrap_or_else(|_| empty_map());
        let best = Map::new(BEST).unwrap_or_else(|_| empty_map());
        let words: Vec<u16> = PARADIGMS
            .chunks_exact(2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
            .collect();
        let mut paradigms: Vec<Vec<Form>> = Vec::new();
        let count = words.first().copied().unwrap_or(0) as usize;
        let mut at = 1;
        for _ in 0..count {
            let Some(&n) = words.get(at) else { break };
            let n = n as usize;
            let Some(body) = words.get(at + 1..at + 1 + 3 * n) else {
                break;
            };
            paradigms.push(
                (0..n)
                    .map(|i| Form {
                        suffix: body[i],
                        tag: body[n + i],
                        prefix: body[2 * n + i],
                    })
                    .collect(),
            );
            at += 1 + 3 * n;
        }
        let suffixes: Vec<&str> = SUFFIXES.split('\n').collect();
        let prefixes: Vec<&str> = PREFIXES.lines().collect();
        let tags: Vec<Tag> = TAGS
            .lines()
            .map(|line| {
                let (tag, prior) = line.split_once('\t').unwrap_or((line, "0"));
                let mut names = tag.split([',', ' ']);
                let pos = Pos::from_name(names.next().unwrap_or(""));
                let bits = names.fold(0, |m, g| m | gram(g));
                Tag {
                    pos,
                    bits,
                    prior: prior.parse().unwrap_or(0.0),
                }
            })
            .collect();
        let mut by_suffix: HashMap<String, Vec<(u16, u16)>> = HashMap::default();
        let mut max_suffix = 0;
        for (p, forms) in paradigms.iter().enumerate() {
            for (i, f) in forms.iter().enumerate() {
                let s = suffixes.get(f.suffix as usize).copied().unwrap_or("");
                max_suffix = max_suffix.max(s.chars().count());
                by_suffix
                    .entry(fold(s))
                    .or_default()
                    .push((p as u16, i as u16));
            }
        }
        for forms in by_suffix.values_mut() {
            forms.sort_unstable();
        }
        Morph {
            stems,
            best,
            paradigms,
            suffixes,
            prefixes,
            tags,
            by_suffix,
            max_suffix,
        }
    }

    /// The tag of a parse.
    pub fn tag(&self, p: &Parse) -> Tag {
        self.tags.get(p.tag as usize).copied().unwrap_or(Tag {
            pos: Pos::Other,
            bits: 0,
            prior: 0.0,
        })
    }

    fn form(&self, para: u16, idx: u16) -> Option<Form> {
        self.paradigms
            .get(para as usize)?
            .get(idx as usize)
            .copied()
    }

    /// The word form of `stem` at form `idx` of paradigm `para`.
    fn spell(&self, stem: &str, para: u16, idx: u16) -> Option<String> {
        let f = self.form(para, idx)?;
        let prefix = self.prefixes.get(f.prefix as usize)?;
        let suffix = self.suffixes.get(f.suffix as usize)?;
        Some(format!("{prefix}{stem}{suffix}"))
    }

    /// Every parse of a lower-cased word, most probable first. `е` in the word also matches `ё` in
    /// the dictionary (posts rarely write `ё`). A word the dictionary lacks is read like its known
    /// ending, for nouns and adjectives only: the last part of a hyphenated compound
    /// («продакт-менеджера» like «менеджера») or the word without an unknown prefix of 2–5 letters
    /// («кибербезопасности» like «безопасности», as pymorphy does). Empty when neither helps.
    pub fn parse(&self, word: &str) -> std::sync::Arc<[Parse]> {
        // A channel's vocabulary repeats from post to post: each thread remembers recent analyses,
        // shared rather than copied (a parse holds a stem string).
        thread_local! {
            static SEEN: std::cell::RefCell<HashMap<String, std::sync::Arc<[Parse]>>> =
                std::cell::RefCell::new(HashMap::default());
        }
        if let Some(hit) = SEEN.with(|c| c.borrow().get(word).cloned()) {
            return hit;
        }
        let parses: std::sync::Arc<[Parse]> = self.parse_uncached(word).into();
        SEEN.with(|c| {
            let mut c = c.borrow_mut();
            if c.len() >= ANALYSES_PER_THREAD {
                c.clear();
            }
            c.insert(word.to_owned(), std::sync::Arc::clone(&parses));
        });
        parses
    }

    fn parse_uncached(&self, word: &str) -> Vec<Parse> {
        let known = self.parse_known(word);
        if !known.is_empty() {
            return known;
        }
        let split: Vec<(&str, &str)> = match word.rfind('-') {
            Some(i) if i > 0 && i + 1 < word.len() => vec![word.split_at(i + 1)],
            Some(_) => Vec::new(),
            None => word
                .char_indices()
                .skip(2)
                .take(4)
                .map(|(i, _)| word.split_at(i))
                .filter(|(_, rest)| rest.chars().count() >= 4)
                .collect(),
        };
        for (head, rest) in split {
            let found: Vec<Parse> = self
                .parse_known(rest)
                .into_iter()
                .filter(|p| matches!(self.tag(p).pos, Pos::Noun | Pos::Adjf))
                .filter(|p| self.form(p.para, p.idx).is_some_and(|f| f.prefix == 0))
                .map(|p| Parse {
                    stem: format!("{head}{}", p.stem),
                    ..p
                })
                .collect();
            if !found.is_empty() {
                return found;
            }
        }
        Vec::new()
    }

    /// The parses the dictionary itself has for a word, most probable first.
    fn parse_known(&self, word: &str) -> Vec<Parse> {
        let folded = fold(word);
        let has_yo = word.contains('ё');
        let mut out: Vec<Parse> = Vec::new();
        for (pi, prefix) in self.prefixes.iter().enumerate() {
            let Some(rest) = folded.strip_prefix(prefix) else {
                continue;
            };
            let bounds: Vec<usize> = rest
                .char_indices()
                .map(|(i, _)| i)
                .chain([rest.len()])
                .collect();
            let first = bounds.len().saturating_sub(self.max_suffix + 1);
            for &b in &bounds[first..] {
                let (stem, suffix) = rest.split_at(b);
                let Some(forms) = self.by_suffix.get(suffix) else {
                    continue;
                };
                for (para, mask) in self.lexemes(stem) {
                    let from = forms.partition_point(|&(p, _)| p < para);
                    for &(p, i) in forms[from..].iter().take_while(|&&(p, _)| p == para) {
                        let Some(f) = self.form(p, i) else { continue };
                        if f.prefix as usize != pi {
                            continue;
                        }
                        let stem = restore_yo(stem, mask);
                        if has_yo && self.spell(&stem, p, i).is_some_and(|s| s != word) {
                            continue;
                        }
                        let parse = Parse {
                            para: p,
                            idx: i,
                            tag: f.tag,
                            stem,
                        };
                        if !out.contains(&parse) {
                            out.push(parse);
                        }
                    }
                }
            }
        }
        let best = self.best.get(folded.as_bytes());
        out.sort_by(|a, b| {
            let pa = best == Some(u64::from(a.tag));
            let pb = best == Some(u64::from(b.tag));
            pb.cmp(&pa)
                .then(self.tag(b).prior.total_cmp(&self.tag(a).prior))
        });
        out
    }

    /// The lexemes with this (ё-folded) stem: `(paradigm, ё mask)` pairs. Walks the map's automaton
    /// along `stem \0` and lists the two-byte paradigm ids below it, without allocating.
    fn lexemes(&self, stem: &str) -> Vec<(u16, u64)> {
        let fst = self.stems.as_fst();
        let mut node = fst.root();
        let mut out = Output::zero();
        for &b in stem.as_bytes().iter().chain(&[0u8]) {
            let Some(i) = node.find_input(b) else {
                return Vec::new();
            };
            let t = node.transition(i);
            out = out.cat(t.out);
            node = fst.node(t.addr);
        }
        let mut found = Vec::new();
        for t1 in node.transitions() {
            let n1 = fst.node(t1.addr);
            for t2 in n1.transitions() {
                let n2 = fst.node(t2.addr);
                if n2.is_final() {
                    let value = out.cat(t1.out).cat(t2.out).cat(n2.final_output());
                    found.push((u16::from_be_bytes([t1.inp, t2.inp]), value.value()));
                }
            }
        }
        found
    }

    /// The lexeme's normal form (its first form: nominative singular for nouns, masculine for
    /// adjectives, the infinitive for verbs).
    pub fn lemma(&self, p: &Parse) -> Option<String> {
        self.spell(&p.stem, p.para, 0)
    }

    /// The parse's own spelling (with `ё` where the dictionary has it).
    pub fn spelling(&self, p: &Parse) -> Option<String> {
        self.spell(&p.stem, p.para, p.idx)
    }

    /// The form of the parse's lexeme that has every grammeme of `want`, preferring one that also
    /// keeps the grammemes of `keep` the parse has (gender, animacy); `None` if the lexeme has none.
    pub fn inflect(&self, p: &Parse, want: u64, keep: u64) -> Option<String> {
        let forms = self.paradigms.get(p.para as usize)?;
        let own = self.tag(p).bits & keep;
        let mut best: Option<(u32, u16)> = None;
        for (i, f) in forms.iter().enumerate() {
            let Some(t) = self.tags.get(f.tag as usize) else {
                continue;
            };
            if !t.has(want) {
                continue;
            }
            // Fewer unwanted differences first; the paradigm's order breaks ties.
            let miss = (own & !t.bits).count_ones();
            if best.is_none_or(|(m, _)| miss < m) {
                best = Some((miss, i as u16));
            }
        }
        best.and_then(|(_, i)| self.spell(&p.stem, p.para, i))
    }
}

fn empty_map() -> Map<&'static [u8]> {
    static EMPTY: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    let bytes = EMPTY.get_or_init(|| fst::MapBuilder::memory().into_inner().unwrap_or_default());
    Map::new(bytes.as_slice()).unwrap_or_else(|_| unreachable!("an empty fst map is valid"))
}

/// Puts back the `ё` letters of a folded stem (bit i of `mask`: letter i is `ё`).
fn restore_yo(stem: &str, mask: u64) -> String {
    if mask == 0 {
        return stem.to_owned();
    }
    stem.chars()
        .enumerate()
        .map(|(i, c)| {
            if i < 64 && mask & (1 << i) != 0 && c == 'е' {
                'ё'
            } else {
                c
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lemma(w: &str) -> String {
        let m = Morph::get();
        let p = m.parse(w);
        m.lemma(&p[0]).unwrap_or_default()
    }

    #[test]
    fn lemmas_of_common_forms() {
        assert_eq!(lemma("ставки"), "ставка");
        assert_eq!(lemma("ставку"), "ставка");
        assert_eq!(lemma("шайбы"), "шайба");
        assert_eq!(lemma("чипе"), "чип");
        assert_eq!(lemma("счётом"), "счёт");
        assert_eq!(lemma("счетом"), "счёт", "е finds the dictionary's ё");
        assert_eq!(lemma("центробанка"), "центробанк");
        assert_eq!(lemma("россии"), "россия");
        assert!(Morph::get().parse("кваркозяблик").is_empty());
        assert_eq!(lemma("кибербезопасности"), "кибербезопасность");
        assert_eq!(lemma("продакт-менеджера"), "продакт-менеджер");
    }

    #[test]
    fn parts_of_speech_follow_the_corpus() {
        let m = Morph::get();
        let pos = |w: &str| m.tag(&m.parse(w)[0]).pos;
        assert_eq!(pos("полностью"), Pos::Advb);
        assert_eq!(pos("ждём"), Pos::Verb);
        assert_eq!(
            pos("стали"),
            Pos::Verb,
            "the corpus reads «стали» as a verb"
        );
        assert_eq!(pos("сохранил"), Pos::Verb);
        assert_eq!(pos("ключевую"), Pos::Adjf);
        assert_eq!(pos("зенит"), Pos::Noun);
        assert_eq!(pos("утверждённый"), Pos::Prtf);
    }

    #[test]
    fn inflects_to_a_wanted_form() {
        let m = Morph::get();
        let p = &m.parse("ключевую")[0];
        assert_eq!(
            m.inflect(p, gram("nomn") | gram("sing") | gram("femn"), 0)
                .as_deref(),
            Some("ключевая")
        );
        assert_eq!(
            m.inflect(p, gram("nomn") | gram("plur"), 0).as_deref(),
            Some("ключевые")
        );
    }
}
