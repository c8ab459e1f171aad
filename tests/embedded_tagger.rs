//! The embedded tagger on fixed texts: sensible tags for Russian and English channel posts (the
//! simulator's and hand-written ones), hashtags first, per-channel TF-IDF, and no panic on hostile
//! input.

use tgsift_sim::Lang;
use tgsift_sim::textgen::post_text;
use tgsift_tagger::{DocFreq, EmbeddedTagger, MAX_TAGS, MIN_TAGS};

fn tags(tagger: &EmbeddedTagger, text: &str, df: Option<&DocFreq>) -> Vec<String> {
    tagger.tags(text, df).into_iter().map(|t| t.tag).collect()
}

/// Asserts that every expected tag is among the returned ones and that no forbidden one is.
#[track_caller]
fn assert_tags(got: &[String], expected: &[&str], forbidden: &[&str]) {
    assert!(
        (MIN_TAGS..=MAX_TAGS).contains(&got.len()),
        "3–7 tags, got {got:?}"
    );
    for e in expected {
        assert!(got.iter().any(|g| g == e), "expected «{e}» among {got:?}");
    }
    for f in forbidden {
        assert!(
            !got.iter().any(|g| g == f),
            "«{f}» must not be a tag: {got:?}"
        );
    }
}

#[test]
fn hostile_texts_never_panic_and_stay_within_bounds() {
    let long_ru = "Центробанк России сохранил ключевую ставку. ".repeat(5_000);
    let long_word = "а".repeat(100_000);
    let mixed = "Apple представила iPhone 16 Pro с чипом A18 — продажи стартуют 20 сентября в США и \
                 Китае. #apple #iphone Ещё: https://apple.com/iphone 🍏🍏🍏 mixed ﷽ عربى 中文 テキスト";
    let texts: Vec<String> = vec![
        String::new(),
        " \n\t ".into(),
        "😀🔥🚀👍🏽👨‍👩‍👧‍👦".into(),
        "#".into(),
        "# ## ### #1 #_".into(),
        "@channel https://t.me/x www.example.com mail@example.com".into(),
        "12 345 67.8% 2024-11-23 +7 (999) 123-45-67".into(),
        long_ru,
        long_word,
        mixed.into(),
        "\u{0}\u{200b}\u{feff}\u{202e}abc\u{301}\u{301}\u{301}".into(),
        "ё Ё ёё ЁЁЁ".into(),
        "a. b. c. d.".into(),
    ];
    let mut df = DocFreq::new();
    for t in &texts {
        df.add(t);
    }
    let taggers = [EmbeddedTagger::new(), EmbeddedTagger::new().with_yake(true)];
    for (t, tagger) in texts
        .iter()
        .flat_map(|t| taggers.iter().map(move |g| (t, g)))
    {
        for d in [None, Some(&df)] {
            let got = tagger.tags(t, d);
            assert!(got.len() <= MAX_TAGS, "at most 7 tags: {got:?}");
            for tag in &got {
                assert!(!tag.tag.trim().is_empty(), "empty tag for {:?}", t);
                assert!(tag.score.is_finite(), "score of {tag:?}");
            }
        }
    }
    for tagger in &taggers {
        assert!(tagger.tags("", None).is_empty());
        assert!(tagger.tags("😀🔥🚀", None).is_empty());
        assert!(
            tagger.tags("12 345 67.8%", None).is_empty(),
            "numbers are never tags"
        );
    }
}

#[test]
fn a_russian_headline_gives_nouns_not_verb_phrases() {
    let tagger = EmbeddedTagger::new();
    let text = "Центробанк России сохранил ключевую ставку на уровне 16%\n\nСовет директоров Банка \
                России принял решение сохранить ключевую ставку. Регулятор ожидает, что инфляция \
                замедлится к концу года. Следующее заседание по ключевой ставке пройдёт в декабре.";
    let got = tags(&tagger, text, None);
    assert_tags(&got, &["ключевая ставка", "Центробанк России"], &[]);
    for t in &got {
        assert!(
            !t.contains("сохран") && !t.contains("16") && !t.contains("декабр"),
            "no verbs, numbers or months: {got:?}"
        );
    }
    // inflected forms of one phrase are one tag
    assert_eq!(
        got.iter().filter(|t| t.contains("ставк")).count(),
        1,
        "{got:?}"
    );

    let sport = "«Зенит» обыграл «Спартак» со счётом 2:1 и вышел в лидеры РПЛ. Голы за «Зенит» \
                 забили Клаудиньо и Соболев. «Спартак» опустился на третье место в таблице РПЛ.";
    let got = tags(&tagger, sport, None);
    assert_tags(&got, &["Зенит", "Спартак"], &["обыграл", "вышел"]);
}

#[test]
fn english_posts_lead_with_their_hashtags_and_skip_verbs() {
    let tagger = EmbeddedTagger::new();
    let apple = "Apple unveiled the iPhone 16 Pro with the A18 chip. The new iPhone goes on sale on \
                 September 20 in the US and China. Analysts expect iPhone sales to grow despite weak \
                 demand in China.\n#apple #iphone";
    let got = tags(&tagger, apple, None);
    assert_eq!(got[..2], ["apple", "iphone"], "hashtags first: {got:?}");
    assert_tags(&got, &["China"], &["unveiled", "september"]);
    assert_eq!(
        got.iter().filter(|t| t.contains("iphone")).count(),
        1,
        "{got:?}"
    );

    let btc = "Bitcoin climbed above $100,000 for the first time as ETF inflows hit a record. Bitcoin \
               ETF funds bought 12,000 BTC this week, analysts said.";
    let got = tags(&tagger, btc, None);
    assert_tags(
        &got,
        &["bitcoin", "ETF inflows"],
        &["bitcoin climbed", "time", "week"],
    );
}

#[test]
fn simulated_posts_get_their_topics() {
    let tagger = EmbeddedTagger::new();
    for (lang, expected, hashtagged) in [
        (
            Lang::Ru,
            &["Николай Смирнов", "клиническое испытание"][..],
            &["наука", "климат", "квантовый компьютер"][..],
        ),
        (
            Lang::En,
            &["human genome", "Nicholas Smith"][..],
            &["science", "climate", "quantum computer"][..],
        ),
    ] {
        let texts: Vec<String> = (1..=200).map(|i| post_text(lang, 7, i).text).collect();
        let df = DocFreq::from_texts(texts.iter().map(String::as_str));
        let got = tags(&tagger, &texts[2], Some(&df));
        assert_tags(&got, expected, &[]);
        let got = tags(&tagger, &texts[4], Some(&df));
        assert_tags(&got, hashtagged, &[]);
        assert_eq!(got[..2], hashtagged[..2], "hashtags first: {got:?}");
        // deterministic
        assert_eq!(got, tags(&tagger, &texts[4], Some(&df)));
    }
}

#[test]
fn words_most_posts_of_a_channel_use_are_not_tags() {
    let tagger = EmbeddedTagger::new();
    let news = [
        "нефть подорожала на фоне решения ОПЕК",
        "рубль укрепился к доллару после заседания Минфина",
        "Сбербанк отчитался о рекордной прибыли за квартал",
        "биржа отложила торги акциями Газпрома",
        "ипотека подорожала вслед за ключевой ставкой",
        "золото обновило исторический максимум",
        "инфляция замедлилась второй месяц подряд",
        "Мосбиржа запустила торги фьючерсами на биткоин",
        "облигации федерального займа снова в спросе",
        "экспорт пшеницы вырос вопреки санкциям",
    ];
    // a channel's posts, each wrapped in the channel's header and footer
    let posts: Vec<String> = news
        .iter()
        .map(|line| {
            format!("Финансовый дайджест: {line}. Финансовый дайджест выходит каждый день.")
        })
        .collect();
    let df = DocFreq::from_texts(posts.iter().map(String::as_str));
    let plain = tags(&tagger, &posts[1], None);
    assert!(
        plain.iter().any(|t| t.contains("дайджест")),
        "without the channel's posts the boilerplate ranks: {plain:?}"
    );
    let got = tags(&tagger, &posts[1], Some(&df));
    assert_eq!(got[0], "рубль", "{got:?}");
    assert_tags(
        &got,
        &["рубль", "доллар"],
        &["финансовый дайджест", "дайджест"],
    );
}

/// Whether a Russian tag is in dictionary form by the analyser alone: a noun in the nominative, an
/// adjective + noun agreeing in the nominative, or a nominative noun + a genitive (or nominative)
/// noun. A word the dictionary lacks counts as not in dictionary form.
fn dictionary_form(tag: &str) -> bool {
    use tgsift_tagger::morph::{Morph, Pos, gram};
    let m = Morph::get();
    let tags_of = |w: &str| -> Vec<_> {
        m.parse(&w.to_lowercase())
            .iter()
            .map(|p| m.tag(p))
            .collect()
    };
    let nomn_noun = |w: &str| {
        tags_of(w)
            .iter()
            .any(|t| t.pos == Pos::Noun && t.has(gram("nomn")))
    };
    let words: Vec<&str> = tag.split(' ').collect();
    match words.as_slice() {
        [w] => nomn_noun(w),
        [a, b] => {
            let (ta, tb) = (tags_of(a), tags_of(b));
            let adj_noun = ta.iter().any(|x| {
                x.pos == Pos::Adjf
                    && x.has(gram("nomn"))
                    && tb.iter().any(|y| {
                        y.pos == Pos::Noun && y.has(gram("nomn")) && {
                            let g = gram("masc") | gram("femn") | gram("neut") | gram("plur");
                            x.bits & y.bits & g != 0
                        }
                    })
            });
            let noun_noun = nomn_noun(a)
                && tb
                    .iter()
                    .any(|y| y.pos == Pos::Noun && (y.has(gram("gent")) || y.has(gram("nomn"))));
            adj_noun || noun_noun
        }
        _ => false,
    }
}

#[test]
fn russian_tags_of_the_simulated_channel_are_dictionary_forms() {
    let tagger = EmbeddedTagger::new();
    let texts: Vec<String> = (1..=300).map(|i| post_text(Lang::Ru, 11, i).text).collect();
    let df = DocFreq::from_texts(texts.iter().map(String::as_str));
    let mut russian = 0usize;
    let mut bad: Vec<String> = Vec::new();
    for t in &texts {
        for tag in tags(&tagger, t, Some(&df)) {
            assert!(
                ![
                    "полностью",
                    "важно",
                    "главное",
                    "ждём официальных",
                    "ждем официальных"
                ]
                .contains(&tag.to_lowercase().as_str()),
                "«{tag}» is not a thing"
            );
            if tag
                .chars()
                .any(|c| ('а'..='я').contains(&c.to_ascii_lowercase()) || c == 'ё')
                || tag.chars().any(|c| ('А'..='Я').contains(&c))
            {
                russian += 1;
                if !dictionary_form(&tag) {
                    bad.push(tag);
                }
            }
        }
    }
    assert!(russian >= 1000, "a sample of {russian} Russian tags");
    let share = 1.0 - bad.len() as f64 / russian as f64;
    eprintln!(
        "{:.1} % of {russian} Russian tags in dictionary form; not: {bad:?}",
        100.0 * share
    );
    assert!(
        share >= 0.95,
        "{:.1} % of {russian} Russian tags in dictionary form; not: {bad:?}",
        100.0 * share
    );
}
