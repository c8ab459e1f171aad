//! Trending tags: the most frequent tags of a period and how each changed against the period before.
//! Tags are counted by their stem key ([`tag_key`]), so «ставка» and «ставки» stored by different
//! taggers or versions are one tag, shown in its most frequent form.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;

use super::embedded::tag_key;

/// One tag of `tags top`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TagTrend {
    /// The tag as most often stored in the period.
    pub tag: String,
    /// Posts of the period that carry it.
    pub posts: usize,
    /// Posts of the previous period (same length) that carried it.
    pub previous: usize,
    /// `posts - previous`.
    pub change: i64,
}

/// Posts per tag key, and how often each stored form of the key occurs.
fn count(rows: &[(i64, String)]) -> HashMap<String, (HashSet<i64>, BTreeMap<String, usize>)> {
    let mut by_key: HashMap<String, (HashSet<i64>, BTreeMap<String, usize>)> = HashMap::new();
    for (post, tag) in rows {
        let mut key = tag_key(tag);
        if key.is_empty() {
            key = tag.to_lowercase();
        }
        let e = by_key.entry(key).or_default();
        e.0.insert(*post);
        *e.1.entry(tag.clone()).or_default() += 1;
    }
    by_key
}

/// The `limit` most frequent tags of `current` (`(post id, tag)` rows), most posts first (then the
/// largest rise, then the tag), each with its count in `previous`.
pub(crate) fn top_tags(
    current: &[(i64, String)],
    previous: &[(i64, String)],
    limit: usize,
) -> Vec<TagTrend> {
    let now = count(current);
    let before = count(previous);
    let mut out: Vec<TagTrend> = now
        .into_iter()
        .map(|(key, (posts, forms))| {
            let mut best: Option<(&String, usize)> = None;
            for (form, n) in &forms {
                if best.is_none_or(|(_, b)| *n > b) {
                    best = Some((form, *n));
                }
            }
            let previous = before.get(&key).map_or(0, |(p, _)| p.len());
            TagTrend {
                tag: best.map(|(f, _)| f.clone()).unwrap_or(key),
                posts: posts.len(),
                previous,
                change: posts.len() as i64 - previous as i64,
            }
        })
        .collect();
    out.sort_by(|a, b| {
        b.posts
            .cmp(&a.posts)
            .then(b.change.cmp(&a.change))
            .then(a.tag.cmp(&b.tag))
    });
    out.truncate(limit);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(v: &[(i64, &str)]) -> Vec<(i64, String)> {
        v.iter().map(|(p, t)| (*p, (*t).to_owned())).collect()
    }

    #[test]
    fn counts_posts_per_stem_key_and_compares_with_the_previous_period() {
        let current = rows(&[
            (1, "ключевая ставка"),
            (2, "ключевая ставка"),
            (2, "ключевую ставку"), // same post, same key: counted once
            (3, "ключевые ставки"),
            (3, "нефть"),
            (4, "Зенит"),
        ]);
        let previous = rows(&[(9, "нефть"), (10, "нефть"), (11, "Зенит")]);
        let got = top_tags(&current, &previous, 10);
        let want = [
            ("ключевая ставка", 3, 0, 3),
            ("Зенит", 1, 1, 0),
            ("нефть", 1, 2, -1),
        ];
        assert_eq!(got.len(), want.len(), "{got:?}");
        for (g, (tag, posts, previous, change)) in got.iter().zip(want) {
            assert_eq!(
                (g.tag.as_str(), g.posts, g.previous, g.change),
                (tag, posts, previous, change)
            );
        }
        assert_eq!(top_tags(&current, &previous, 1).len(), 1);
    }
}
