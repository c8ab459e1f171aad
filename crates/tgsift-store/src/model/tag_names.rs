//! One name per tag, whatever case a tagger wrote it in.
//!
//! A tag's key is its text case-folded ([`tag_name_key`]: Unicode lower case, `ё` as `е`, runs of
//! spaces as one), so «Nvidia», «nvidia» and «NVIDIA» are one tag. The table `tag_names` keeps, per
//! key, the form the tag is stored and shown in, chosen once: the first form a tagger gave, or, for
//! tags stored before the table existed (SQLite version 18, PostgreSQL V8), the form most posts
//! carried. `post_tags` only ever holds those forms, so counts (`tags top`, trends) see one tag, and a
//! filter (`--tag`, the API's `tag=`) finds a tag in any case by looking its name up by key.
//!
//! Keys are computed here, in Rust, for both backends: SQLite's `lower()` folds only ASCII letters
//! and PostgreSQL's depends on the database's locale.

use std::collections::BTreeMap;

/// The key tags are matched by: lower case (Unicode), `ё` folded to `е`, spaces trimmed and
/// collapsed. Empty for a tag without any visible character.
pub fn tag_name_key(tag: &str) -> String {
    shown_form(tag)
        .to_lowercase()
        .chars()
        .map(|c| if c == 'ё' { 'е' } else { c })
        .collect()
}

/// A tag as given, with its spaces trimmed and collapsed: the form stored the first time.
pub(crate) fn shown_form(tag: &str) -> String {
    tag.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// One tag of an attempt as it is stored: its key, the form given, its score.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct KeyedTag {
    pub(crate) key: String,
    pub(crate) tag: String,
    pub(crate) score: f64,
}

/// The tags of one attempt, one per key (the first form given, the best score), in the order given;
/// tags without a visible character are left out.
pub(crate) fn by_key(tags: &[(String, f64)]) -> Vec<KeyedTag> {
    let mut out: Vec<KeyedTag> = Vec::with_capacity(tags.len());
    for (tag, score) in tags {
        let key = tag_name_key(tag);
        if key.is_empty() {
            continue;
        }
        match out.iter_mut().find(|t| t.key == key) {
            Some(t) => t.score = t.score.max(*score),
            None => out.push(KeyedTag {
                key,
                tag: shown_form(tag),
                score: *score,
            }),
        }
    }
    out
}

/// How stored tags become one name per key.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Renaming {
    pub(crate) key: String,
    /// The key's name: the one recorded in `tag_names`, else the form most posts carry (byte-wise
    /// first among equals), spaces collapsed.
    pub(crate) tag: String,
    /// Whether the name is new (to be recorded in `tag_names`).
    pub(crate) new: bool,
    /// The other stored forms of the key: their rows become `tag` (a post that has both keeps one).
    pub(crate) others: Vec<String>,
}

/// The names of stored tags, from each distinct stored form with the number of posts carrying it,
/// and the names already recorded (key → name). Keys that need nothing done are left out.
pub(crate) fn renamings(
    forms: impl IntoIterator<Item = (String, i64)>,
    names: &BTreeMap<String, String>,
) -> Vec<Renaming> {
    let mut by_key: BTreeMap<String, Vec<(String, i64)>> = BTreeMap::new();
    for (tag, n) in forms {
        let key = tag_name_key(&tag);
        if !key.is_empty() {
            by_key.entry(key).or_default().push((tag, n));
        }
    }
    by_key
        .into_iter()
        .filter_map(|(key, forms)| {
            let (tag, new) = match names.get(&key) {
                Some(name) => (name.clone(), false),
                None => {
                    let best = forms
                        .iter()
                        .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(&a.0)))?;
                    (shown_form(&best.0), true)
                }
            };
            let others: Vec<String> = forms
                .into_iter()
                .filter(|(form, _)| *form != tag)
                .map(|(form, _)| form)
                .collect();
            (new || !others.is_empty()).then_some(Renaming {
                key,
                tag,
                new,
                others,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_fold_case_yo_and_spaces() {
        assert_eq!(tag_name_key("Nvidia"), tag_name_key("nVIDIA"));
        assert_eq!(tag_name_key("  Tate   Modern "), "tate modern");
        assert_eq!(tag_name_key("Ёлка"), "елка");
        assert_eq!(tag_name_key("ИИ"), "ии");
        assert_eq!(tag_name_key("ÉCOLE Ω"), "école ω");
        assert_eq!(tag_name_key(" \t"), "");
    }

    #[test]
    fn an_attempt_keeps_one_form_per_key_with_the_best_score() {
        let tags: Vec<(String, f64)> = [
            ("Nvidia", 0.5),
            ("rates", 0.4),
            ("NVIDIA ", 0.9),
            (" ", 1.0),
        ]
        .iter()
        .map(|(t, s)| (t.to_string(), *s))
        .collect();
        let keyed: Vec<(String, String, f64)> = by_key(&tags)
            .into_iter()
            .map(|t| (t.key, t.tag, t.score))
            .collect();
        assert_eq!(
            keyed,
            [
                ("nvidia".to_string(), "Nvidia".to_string(), 0.9),
                ("rates".to_string(), "rates".to_string(), 0.4)
            ]
        );
    }

    #[test]
    fn stored_forms_take_the_most_frequent_name_or_the_recorded_one() {
        let forms = || {
            [
                ("nvidia", 395),
                ("Nvidia", 181),
                ("tate Modern", 3),
                ("Tate Modern", 3),
                ("ставка", 7),
            ]
            .map(|(t, n)| (t.to_string(), n))
        };
        let renaming = |key: &str, tag: &str, new: bool, others: &[&str]| Renaming {
            key: key.into(),
            tag: tag.into(),
            new,
            others: others.iter().map(|o| o.to_string()).collect(),
        };
        assert_eq!(
            renamings(forms(), &BTreeMap::new()),
            [
                renaming("nvidia", "nvidia", true, &["Nvidia"]),
                renaming("tate modern", "Tate Modern", true, &["tate Modern"]),
                renaming("ставка", "ставка", true, &[]),
            ]
        );
        let names: BTreeMap<String, String> = [("nvidia", "NVIDIA"), ("ставка", "ставка")]
            .map(|(k, t)| (k.to_string(), t.to_string()))
            .into();
        assert_eq!(
            renamings(forms(), &names),
            [
                renaming("nvidia", "NVIDIA", false, &["nvidia", "Nvidia"]),
                renaming("tate modern", "Tate Modern", true, &["tate Modern"]),
            ]
        );
    }
}
