//! tgsift's embedded tagger: offline, deterministic keyword tags for Russian and English texts.
//!
//! Pure functions over text: no I/O, no async runtime, no database. `tgsift` wraps it as one of
//! its taggers (its `tagging` module stores the results and retries); anyone who wants Russian or
//! English keyword tags can use it on its own:
//!
//! ```
//! let tagger = tgsift_tagger::EmbeddedTagger::new();
//! let tags = tagger.tags("Центробанк России поднял ключевую ставку до 16%", None);
//! assert!(tags.iter().any(|t| t.tag == "ключевая ставка"));
//! ```
//!
//! # Layout
//! - `tokenize`: cleaning, sentences, words, Snowball stems (each word form analysed once per
//!   thread and shared by its occurrences).
//! - [`morph`]: the Russian dictionary (OpenCorpora, packed as FSTs in `data/`).
//! - `candidates`, `score`, `lemma`: phrases, their TF-IDF scores, their dictionary form.
//! - [`DocFreq`] (`docfreq`): a channel's document frequencies, which the caller keeps and passes in.
//! - `words`: the word lists of `data/*.txt`.
//!
//! Only [`EmbeddedTagger`], [`Tag`], [`DocFreq`], [`tag_key`], [`morph`] and the limits are public.
//!
//!
//! How a post becomes tags:
//!
//! 1. **Cleaning** (`tokenize`). URLs, e-mail addresses, `@mentions` and emoji are removed; every
//!    non-empty line becomes a sentence (Telegram posts use lines as headlines and bullets). Runs of
//!    `#hashtags` at the end of a line are taken out of the text and become the post's own tags; a
//!    hashtag inside a sentence stays in the text as a word and is a tag as well. Texts longer than
//!    [`MAX_TEXT_BYTES`] are cut (a Telegram post is at most 4,096 characters).
//! 2. **Language** by script share (Cyrillic vs Latin letters), with `whatlang` deciding when the share
//!    is inconclusive. Russian uses phrases of 1–2 words, English of 1–3.
//! 3. **Candidates** (`candidates`) are runs of 1–2 words (English 1–3) inside a sentence, with a
//!    stop-word list built from YAKE's (`yake-rust`) and `stop-words`' lists (minus content words such
//!    as «москва» or «мир»). Phrases with numbers, with a stop word or a word that is not a noun or an
//!    adjective at either edge or inside (English «of» excepted), or cutting a capitalised name in
//!    two are dropped. Russian parts of speech come from the OpenCorpora dictionary ([`morph`]); a
//!    suffix heuristic stands in for words it lacks, and English verb forms come from word lists.
//!    Words in most of the channel's posts (its header or footer) are never tags (`docfreq`).
//! 4. **Scores** (`score`) are TF-IDF against the channel's posts ([`DocFreq`]; term frequency
//!    alone without it), with mild penalties on phrase length and on a late first occurrence. With
//!    [`EmbeddedTagger::with_yake`] (`tagging.embedded_yake`) only phrases YAKE also finds are kept
//!    and YAKE's score breaks ties.
//! 5. **De-duplication by stem** (Snowball, `ё` folded to `е`): inflected forms of one phrase are one
//!    candidate; the stems are the grouping key ([`tag_key`]).
//! 6. **Display** (`lemma`): Russian tags in dictionary form («ключевую ставку» → «ключевая
//!    ставка», «центробанка России» → «центробанк России»), English ones as written; proper names
//!    keep their capital when every occurrence in the post has it (an English word always written
//!    with a capital joins the name beside it: «Tate Modern»), abbreviations (words of 2–5 letters
//!    always in capitals) stay as written whatever the dictionary makes of them («#ИИ» stays «ИИ»,
//!    not «ИЯ»), the rest is lower-cased. Lone adjectives, verbs, adverbs, participles and fillers
//!    («главное») are never shown.
//! 7. **Merging and noise** (`rank`). A name of several words and a phrase that ends with it are
//!    one tag, the name («curator Vera Grant» and «Vera Grant» → «Vera Grant»); a phrase inside a
//!    longer chosen one is dropped as before. Tags on the noise list (`data/noise_tags.txt`: «end», «конец»,
//!    «доступ», «news», «breaking»…, plus the caller's, [`EmbeddedTagger::with_noise`]) are dropped,
//!    hashtags included, compared as shown ignoring case and `ё`.
//!
//! The post's own hashtags come first. [`EmbeddedTagger::tags`] returns 3–7 tags (fewer only when the
//! text has fewer candidates); [`EmbeddedTagger::top_k`] returns up to `k` for evaluations. The word
//! lists are in `data/*.txt`.

#![warn(unreachable_pub)]

mod candidates;
mod docfreq;
mod lemma;
pub mod morph;
mod score;
mod tokenize;
mod words;

use rustc_hash::FxHashSet as HashSet;

use whatlang::{Detector, Lang};

pub use docfreq::DocFreq;

use morph::Morph;
use tokenize::{Kind, Stemmers, clean, tokenize, truncate};
use words::Lists;

/// Longest text (in bytes) the tagger reads; longer texts are cut at a character boundary so a
/// pathological input cannot stall a tagging worker.
pub const MAX_TEXT_BYTES: usize = 16 * 1024;

/// Fewest tags [`EmbeddedTagger::tags`] returns when the text has that many candidates.
pub const MIN_TAGS: usize = 3;

/// One tag with its score, as the tagger ranks it.
#[derive(Clone, Debug, PartialEq)]
pub struct Tag {
    /// The tag as shown: dictionary form, names capitalised, abbreviations in capitals.
    pub tag: String,
    /// Relevance, higher is better; only comparable within one call.
    pub score: f64,
}

/// Most tags [`EmbeddedTagger::tags`] returns.
pub const MAX_TAGS: usize = 7;

/// A tag beyond the first [`MIN_TAGS`] is kept only while its score is at least this share of the
/// best non-hashtag score.
const EXTRA_TAG_SHARE: f64 = 0.55;

/// The grouping key of a tag as shown: the Snowball stems of its words (`ё` folded), so «ставка»,
/// «ставки» and «Ставку» are one tag when tags are counted across posts.
pub fn tag_key(tag: &str) -> String {
    let stemmers = Stemmers::new();
    tokenize(tag, &stemmers)
        .iter()
        .filter(|t| t.kind == Kind::Word)
        .map(|t| t.stem())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The form noise tags are compared in: lower case, `ё` folded, spaces collapsed.
fn noise_form(tag: &str) -> String {
    tokenize::fold(&tag.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// A phrase's stems in sorted order: which phrases contain which, whatever the word order.
fn sorted_stems(mut stems: Vec<String>) -> Vec<String> {
    stems.sort();
    stems
}

/// Whether a tag as shown is a name: every word starts with a capital letter («Vera Grant»).
fn is_name(tag: &str) -> bool {
    tag.split(' ')
        .all(|w| w.chars().next().is_some_and(char::is_uppercase))
}

/// The default tagger: phrases ranked by per-channel TF-IDF (optionally with YAKE), plus the
/// post's hashtags, de-duplicated by stem and shown in dictionary form. Build it once and share it;
/// tagging is synchronous and deterministic.
pub struct EmbeddedTagger {
    stemmers: Stemmers,
    /// Stop words, stop stems, fillers and English verb lists.
    lists: &'static Lists,
    /// The built-in noise tags and the caller's (noise form).
    noise: HashSet<String>,
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
            .field("stop_words", &self.lists.stop.len())
            .finish_non_exhaustive()
    }
}

impl EmbeddedTagger {
    /// Builds the stemmers, word lists and YAKE configurations once (and the shared Russian
    /// dictionary on first use).
    pub fn new() -> Self {
        let lists = Lists::shared();
        let mut yake_set: std::collections::HashSet<String> = lists.stop.iter().cloned().collect();
        // YAKE sees the original text: add the `ё` spellings of folded stop words it may meet.
        for w in [
            "её", "ещё", "всё", "моё", "твоё", "неё", "своё", "чём", "нём",
        ] {
            yake_set.insert(w.to_owned());
        }
        Morph::get();
        let base = yake_rust::Config {
            remove_duplicates: false,
            ..yake_rust::Config::default()
        };
        Self {
            stemmers: Stemmers::new(),
            lists,
            noise: lists.noise.clone(),
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

    /// Adds tags that are never returned (`tagging.noise_tags`) to the built-in list
    /// (`data/noise_tags.txt`: «end», «конец», «news», «breaking»…). A tag is dropped when, as
    /// shown, it equals one of them ignoring case and `ё`; the next candidates take its place.
    pub fn with_noise<S: AsRef<str>>(mut self, tags: impl IntoIterator<Item = S>) -> Self {
        self.noise.extend(
            tags.into_iter()
                .map(|t| noise_form(t.as_ref()))
                .filter(|t| !t.is_empty()),
        );
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
            let tag = self.hashtag_shown(h);
            if self.is_noise(&tag) {
                continue;
            }
            hashtag_keys.push(key);
            hashtags.push(Tag {
                tag,
                score: 2.0 - 0.01 * i as f64,
            });
        }
        hashtags.truncate(k);
        let Some(lang) = self.language(&cleaned.text) else {
            return (hashtags, Vec::new());
        };
        let scored = self.candidates(&cleaned.text, lang, df);
        // Candidates that cannot be shown are not tags: the best score is that of the first one
        // that can, and each is shown at most once.
        let mut shown: Vec<Option<Option<String>>> = vec![None; scored.list.len()];
        let mut show = |i: usize| -> Option<String> {
            shown[i]
                .get_or_insert_with(|| scored.shown(i, self).filter(|t| !self.is_noise(t)))
                .clone()
        };
        let best = (0..scored.list.len())
            .find(|&i| show(i).is_some())
            .map_or(1.0, |i| scored.list[i].score);
        let mut ranked: Vec<Tag> = Vec::new();
        // Every tag so far: its stems sorted, its stems in order, its place in `ranked` (`None`: a
        // hashtag).
        let mut chosen: Vec<(Vec<String>, Vec<String>, Option<usize>)> = hashtag_keys
            .iter()
            .map(|k| {
                let stems: Vec<String> = k.split(' ').map(str::to_owned).collect();
                (sorted_stems(stems.clone()), stems, None)
            })
            .collect();
        for i in 0..scored.list.len() {
            if hashtags.len() + ranked.len() >= k {
                break;
            }
            let c = scored.candidate(i);
            if hashtag_keys.contains(&c.key) {
                continue;
            }
            let Some(tag) = show(i) else { continue };
            let sorted = sorted_stems(c.stems.clone());
            if chosen.iter().any(|(ch, ..)| *ch == sorted) {
                continue;
            }
            // A phrase inside an already chosen longer phrase adds nothing, and a name of several
            // words with words before it is one tag with that name: «curator Vera Grant» and
            // «Vera Grant» are «Vera Grant», taking the longer phrase's place when that was ranked
            // first. Single words inside a phrase stay tags of their own (news annotators pick both
            // «sleeping beauty» and «beauty»), and so do longer phrases around a phrase that is not
            // a name, or that the name opens (science annotators pick both «Monte Carlo» and
            // «Monte Carlo simulation»).
            if sorted.len() > 1 {
                let inside = |a: &[String], b: &[String]| a.iter().all(|s| b.contains(s));
                if let Some((_, longer, at)) = chosen
                    .iter()
                    .find(|(ch, ..)| ch.len() > 1 && inside(&sorted, ch))
                {
                    if let Some(t) = at.and_then(|at| ranked.get_mut(at))
                        && is_name(&tag)
                        && !is_name(&t.tag)
                        && longer.ends_with(&c.stems)
                    {
                        t.tag = tag;
                    }
                    continue;
                }
                let after_a_title = |(ch, name, at): &(Vec<String>, Vec<String>, Option<usize>)| {
                    ch.len() > 1
                        && c.stems.ends_with(name)
                        && at
                            .and_then(|at| ranked.get(at))
                            .is_some_and(|t| is_name(&t.tag))
                };
                if chosen.iter().any(after_a_title) {
                    continue;
                }
            }
            chosen.push((sorted, c.stems.clone(), Some(ranked.len())));
            let score = if best > 0.0 { c.score / best } else { c.score };
            ranked.push(Tag { tag, score });
        }
        (hashtags, ranked)
    }

    /// Whether a tag as shown is on the noise list.
    fn is_noise(&self, tag: &str) -> bool {
        self.noise.contains(&noise_form(tag))
    }

    /// How a hashtag is shown: Russian ones in dictionary form like any tag (but kept as written,
    /// lower-cased, when that finds no noun), abbreviations in capitals, the rest lower-cased.
    fn hashtag_shown(&self, raw: &str) -> String {
        let lower = raw.to_lowercase();
        let toks = tokenize(raw, &self.stemmers);
        let words: Vec<&tokenize::Token> = toks.iter().filter(|t| t.kind == Kind::Word).collect();
        if words.is_empty() || words.len() != toks.iter().filter(|t| t.kind != Kind::End).count() {
            return lower;
        }
        let form = words
            .iter()
            .map(|t| t.lower())
            .collect::<Vec<_>>()
            .join(" ");
        let stems: Vec<u64> = words.iter().map(|t| t.stem_id()).collect();
        lemma::TextMorph::new(&toks)
            .show(&form, &stems, &HashSet::default())
            .unwrap_or(lower)
    }

    /// Stem key of a phrase: the stems of its words joined by spaces (empty if it has no word).
    fn key_of(&self, phrase: &str) -> String {
        let toks = tokenize(phrase, &self.stemmers);
        toks.iter()
            .filter(|t| t.kind == Kind::Word)
            .map(|t| t.stem())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(tagger: &EmbeddedTagger, text: &str) -> Vec<String> {
        tagger.tags(text, None).into_iter().map(|t| t.tag).collect()
    }

    #[test]
    fn abbreviation_hashtags_stay_as_written() {
        let tagger = EmbeddedTagger::new();
        let got = tags(
            &tagger,
            "Языковая модель научилась писать код и отвечать на вопросы по документации.\n#технологии #ИИ #ЦБ #NASA",
        );
        assert_eq!(&got[..4], ["технология", "ИИ", "ЦБ", "NASA"], "{got:?}");
        assert!(!got.iter().any(|t| t == "ИЯ"), "{got:?}");
    }

    #[test]
    fn abbreviations_keep_their_letters_in_phrases() {
        let tagger = EmbeddedTagger::new();
        let got = tags(
            &tagger,
            "Страны ОПЕК договорились о сокращении добычи нефти. Решение ОПЕК поддержали импортёры \
             нефти.\n#ЦБ_РФ #ИИ_ИИС",
        );
        assert_eq!(&got[..2], ["ЦБ РФ", "ИИ ИИС"], "{got:?}");
        assert!(got.iter().any(|t| t == "страна ОПЕК"), "{got:?}");
    }

    #[test]
    fn a_phrase_around_a_name_of_the_same_post_is_one_tag_the_name() {
        let tagger = EmbeddedTagger::new();
        let text = "Tate Modern opens an exhibition of contemporary art.\n\
                    The exhibition features more than a hundred works from private collections, \
                    says curator Vera Grant. Vera Grant spent three years on the exhibition.\n\
                    \"Art should speak to the audience in its own language\", curator Vera Grant said.";
        let got = tags(&tagger, text);
        assert!(got.iter().any(|t| t == "Vera Grant"), "{got:?}");
        assert!(
            !got.iter().any(|t| t.contains("curator")),
            "«curator Vera Grant» is merged into «Vera Grant»: {got:?}"
        );
        assert!(got.iter().any(|t| t == "Tate Modern"), "{got:?}");
        assert!(!got.iter().any(|t| t == "tate Modern"), "{got:?}");
    }

    #[test]
    fn a_name_takes_the_place_of_a_longer_phrase_ranked_before_it() {
        // In this channel «Vera» and «Grant» are common and «curator» is rare, so «curator Vera
        // Grant» scores above «Vera Grant»; the tag is still the name.
        let mut channel: Vec<String> = (0..40)
            .map(|i| format!("Report number {i} on the weather and the roads."))
            .collect();
        channel.extend((0..12).map(|i| format!("Vera Grant spoke about painting number {i}.")));
        let df = DocFreq::from_texts(channel.iter().map(String::as_str));
        let text =
            "The museum opens an exhibition. The exhibition was prepared by curator Vera Grant.";
        let got: Vec<String> = EmbeddedTagger::new()
            .top_k(text, Some(&df), 10)
            .into_iter()
            .map(|t| t.tag)
            .collect();
        assert_eq!(got, ["exhibition", "museum", "Vera Grant", "curator"]);
    }

    #[test]
    fn built_in_noise_tags_are_dropped() {
        let tagger = EmbeddedTagger::new();
        let got = tags(
            &tagger,
            "Parliament passes the budget after a long debate. The vote ends a month of talks.\n\
             #news #breaking #politics",
        );
        assert_eq!(got.first().map(String::as_str), Some("politics"), "{got:?}");
        for noise in ["news", "breaking"] {
            assert!(
                !got.iter().any(|t| t == noise),
                "«{noise}» is noise: {got:?}"
            );
        }
        let got = tags(
            &tagger,
            "Открыт доступ к архиву. Доступ к архиву бесплатный, архив пополняется.\n#Конец #новости",
        );
        assert!(
            !got.iter()
                .any(|t| t == "доступ" || t == "конец" || t == "новость"),
            "{got:?}"
        );
        assert!(got.iter().any(|t| t == "архив"), "{got:?}");
    }

    #[test]
    fn noise_tags_of_the_user_are_dropped_ignoring_case_and_yo() {
        let text =
            "Архив Ёлкина открыт. Архив Ёлкина пополняется, архив бесплатный.\n#Ёлкин #Подборка";
        let plain = tags(&EmbeddedTagger::new(), text);
        assert!(plain.iter().any(|t| t == "подборка"), "{plain:?}");
        let tagger = EmbeddedTagger::new().with_noise([" ПОДБОРКА ", "архив", "елкин"]);
        let got = tags(&tagger, text);
        for noise in ["подборка", "архив", "Ёлкин", "ёлкин"] {
            assert!(
                !got.iter().any(|t| t == noise),
                "«{noise}» is noise: {got:?}"
            );
        }
    }

    /// Posts of each kind the tagger meets, with the exact tags (and order) it gives them: any
    /// change of the output shows here, so speed work can prove it changed nothing.
    const PINNED: &[&str] = &[
        "Во Владимирской области закрыли на карантин птицефабрику после вспышки птичьего гриппа. \
         Россельхознадзор ограничил вывоз мяса и яиц из трёх районов, поголовье будет уничтожено.",
        "⚠️ В Дагестане сошёл оползень на федеральной трассе «Кавказ»: движение перекрыто на участке \
         длиной 2 км. Водителей направляют в объезд через Буйнакск, расчистка займёт не менее двух суток.",
        "Центробанк России поднял ключевую ставку до 16%. Решение Центробанка России стало \
         неожиданностью для рынка: аналитики ждали сохранения ставки.\nПодробнее: https://t.me/c/123 @bank_news\n#ЦБ #ставка",
        "Transfer window: the biggest deals\n\nInter beat Arsenal 4-0 in a tense derby. The captain's \
         injury could keep him out for several weeks.\n\nThis week Juventus signs a striker from the \
         Bundesliga. Head coach Victor Hale noted: \"We need to take our chances faster.\"",
        "OpenAI представила новую модель GPT-5 для интернет-магазинов. Модель YandexGPT отстаёт, \
         считают аналитики Сбера; продакт-менеджер Ozon Ирина Белова назвала запуск важным.\n#AI #технологии",
    ];

    #[test]
    fn pinned_posts_keep_their_exact_tags() {
        let tagger = EmbeddedTagger::new();
        let df = DocFreq::from_texts(PINNED.iter().copied());
        let got: Vec<Vec<String>> = PINNED
            .iter()
            .map(|t| {
                tagger
                    .tags(t, Some(&df))
                    .into_iter()
                    .map(|t| t.tag)
                    .collect()
            })
            .collect();
        let want: &[&[&str]] = &[
            &[
                "Владимирская область",
                "россельхознадзор",
                "яйцо",
                "район",
                "поголовье",
                "карантин птицефабрика",
                "птичий грипп",
            ],
            &[
                "Дагестан",
                "оползень",
                "Кавказ",
                "движение",
                "водитель",
                "объезд",
                "Буйнакск",
            ],
            &["ЦБ", "ставка", "Центробанк России"],
            &[
                "biggest",
                "transfer window",
                "Juventus",
                "striker",
                "Bundesliga",
                "inter beat",
                "beat Arsenal",
            ],
            &[
                "AI",
                "технология",
                "OpenAI",
                "модель",
                "интернет-магазин",
                "продакт-менеджер",
            ],
        ];
        assert_eq!(got, want);
    }
}
