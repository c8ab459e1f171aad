//! [`SearchStore`] on PostgreSQL: the posts' stemmed text as `tsvector`s (migration V2 explains the
//! design), queries stemmed the same way and turned into a `tsquery`, ranked by `ts_rank_cd` (shorter
//! posts first at equal matches, as bm25 does), with snippets of the original text marked here in
//! Rust — PostgreSQL's `ts_headline` could only mark words spelled as their stems.

use super::PgBackend;
use crate::stem::search_text;
use crate::{SearchHit, SearchQuery, SearchStore, Stemmed, StoreError};

/// Words of a snippet: about as many as SQLite's `snippet(…, 24)`.
const SNIPPET_WORDS: usize = 24;
/// Words kept before the first match when a snippet has to start later than the text.
const SNIPPET_LEAD: usize = 4;

/// What a query looks for: each word (or quoted phrase) as its stemmed lexemes, and whether its
/// last lexeme is a prefix (`нефть*`).
struct QueryTerms {
    groups: Vec<(Vec<String>, bool)>,
}

impl QueryTerms {
    /// The query's words and phrases, stemmed; `None` when it has no word to look for.
    fn parse(query: &str) -> Option<QueryTerms> {
        let mut groups = Vec::new();
        for (i, chunk) in query.split('"').enumerate() {
            // Odd chunks were inside quotes: one phrase; the others are words.
            let parts: Vec<&str> = if i % 2 == 1 {
                vec![chunk]
            } else {
                chunk.split_whitespace().collect()
            };
            for part in parts {
                let prefix = part.trim_end().ends_with('*');
                let lexemes = words(&search_text(part))
                    .map(|(_, w)| w.to_string())
                    .collect::<Vec<_>>();
                if !lexemes.is_empty() {
                    groups.push((lexemes, prefix));
                }
            }
        }
        (!groups.is_empty()).then_some(QueryTerms { groups })
    }

    /// `to_tsquery('simple', …)` text: lexemes quoted, a phrase's joined by `<->`, all required.
    fn tsquery(&self) -> String {
        self.groups
            .iter()
            .map(|(lexemes, prefix)| {
                let last = lexemes.len() - 1;
                let joined = lexemes
                    .iter()
                    .enumerate()
                    .map(|(i, l)| {
                        let quoted = format!("'{}'", l.replace('\'', "''"));
                        if *prefix && i == last {
                            format!("{quoted}:*")
                        } else {
                            quoted
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(" <-> ");
                format!("({joined})")
            })
            .collect::<Vec<_>>()
            .join(" & ")
    }

    /// Whether a word of a post (already stemmed) is one the query looks for.
    fn matches(&self, stem: &str) -> bool {
        self.groups.iter().any(|(lexemes, prefix)| {
            let last = lexemes.len() - 1;
            lexemes
                .iter()
                .enumerate()
                .any(|(i, l)| l == stem || (*prefix && i == last && stem.starts_with(l.as_str())))
        })
    }
}

/// The words of `text` (runs of letters and digits) with their byte offsets.
fn words(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut rest = 0;
    std::iter::from_fn(move || {
        let tail = &text[rest..];
        let start = rest + tail.find(char::is_alphanumeric)?;
        let run = &text[start..];
        let end = start
            + run
                .find(|c: char| !c.is_alphanumeric())
                .unwrap_or(run.len());
        rest = end;
        Some((start, &text[start..end]))
    })
}

/// About [`SNIPPET_WORDS`] words of `text` around its first match, every matched word between `open`
/// and `close`, `…` where the text was cut.
fn snippet(text: &str, terms: &QueryTerms, open: &str, close: &str) -> String {
    let spans: Vec<(usize, usize, bool)> = words(text)
        .map(|(at, w)| (at, at + w.len(), terms.matches(&search_text(w))))
        .collect();
    if spans.is_empty() {
        return String::new();
    }
    let first = spans.iter().position(|s| s.2).unwrap_or(0);
    let start = first
        .saturating_sub(SNIPPET_LEAD)
        .min(spans.len().saturating_sub(SNIPPET_WORDS));
    let end = (start + SNIPPET_WORDS).min(spans.len());
    let mut out = String::new();
    if start > 0 {
        out.push('…');
    } else {
        out.push_str(&text[..spans[0].0]);
    }
    let mut at = spans[start].0;
    for &(from, to, hit) in &spans[start..end] {
        out.push_str(&text[at..from]);
        if hit {
            out.push_str(open);
            out.push_str(&text[from..to]);
            out.push_str(close);
        } else {
            out.push_str(&text[from..to]);
        }
        at = to;
    }
    if end < spans.len() {
        out.push('…');
    } else {
        out.push_str(&text[at..]);
    }
    out
}

impl SearchStore for PgBackend {
    fn stem_queued(&self, limit: usize) -> Result<Vec<Stemmed>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows: Vec<(i64, String)> = self.tx("read the search queue", async |tx| {
            Ok(tx
                .query(
                    "SELECT id, text FROM posts WHERE search_vector IS NULL AND text <> ''
                     ORDER BY id LIMIT $1",
                    &[&limit],
                )
                .await?
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect())
        })?;
        Ok(rows
            .into_iter()
            .map(|(id, text)| Stemmed {
                id,
                stemmed: search_text(&text),
                text,
            })
            .collect())
    }

    fn index_stemmed(&mut self, batch: &[Stemmed]) -> Result<usize, StoreError> {
        let ids: Vec<i64> = batch.iter().map(|s| s.id).collect();
        let texts: Vec<&str> = batch.iter().map(|s| s.text.as_str()).collect();
        let stems: Vec<&str> = batch.iter().map(|s| s.stemmed.as_str()).collect();
        self.tx("index posts for search", async |tx| {
            // Only posts still queued with the text that was stemmed (an edit queued the new text).
            let n = tx
                .execute(
                    "UPDATE posts SET search_vector = to_tsvector('simple', u.s)
                     FROM unnest($1::bigint[], $2::text[], $3::text[]) AS u (id, t, s)
                     WHERE posts.id = u.id AND posts.text = u.t
                       AND posts.search_vector IS NULL AND posts.text <> ''",
                    &[&ids, &texts, &stems],
                )
                .await?;
            Ok(n as usize)
        })
    }

    fn search_backlog(&self) -> Result<i64, StoreError> {
        self.tx("count the search queue", async |tx| {
            Ok(tx
                .query_one(
                    "SELECT count(*) FROM posts WHERE search_vector IS NULL AND text <> ''",
                    &[],
                )
                .await?
                .get(0))
        })
    }

    fn search_posts(&self, q: &SearchQuery) -> Result<Vec<SearchHit>, StoreError> {
        let Some(terms) = QueryTerms::parse(&q.text) else {
            return Ok(Vec::new());
        };
        let query = terms.tsquery();
        let limit = i64::try_from(q.limit.max(1)).unwrap_or(i64::MAX);
        let rows: Vec<(i64, String, i64, i64, String, f32)> =
            self.tx("search posts", async |tx| {
                Ok(tx
                .query(
                    "SELECT p.id, coalesce('@' || c.username, c.tg_id::text), p.message_id, p.date,
                            p.text, ts_rank_cd(p.search_vector, q, 2)
                     FROM posts p JOIN channels c ON c.id = p.channel_id,
                          to_tsquery('simple', $1) AS q
                     WHERE p.search_vector @@ q
                       AND ($2::bigint[] IS NULL OR p.channel_id = ANY($2))
                       AND ($3::bigint IS NULL OR p.date >= $3)
                       AND ($4 OR p.deleted_at IS NULL)
                       AND ($6::bigint[] IS NULL OR p.id = ANY($6))
                     ORDER BY 6 DESC, p.id DESC LIMIT $5",
                    &[&query, &q.channel_ids, &q.since, &q.include_deleted, &limit, &q.post_ids],
                )
                .await?
                .iter()
                .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5)))
                .collect())
            })?;
        Ok(rows
            .into_iter()
            .map(
                |(post_id, channel, message_id, date, text, rank)| SearchHit {
                    id: post_id,
                    channel,
                    message_id: i32::try_from(message_id).unwrap_or(i32::MAX),
                    date,
                    snippet: snippet(&text, &terms, &q.highlight.0, &q.highlight.1),
                    score: f64::from(rank),
                },
            )
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_become_tsqueries_of_stems_phrases_and_prefixes() {
        let q = |s: &str| QueryTerms::parse(s).map(|t| t.tsquery());
        assert_eq!(q("Ставки ЦБ").as_deref(), Some("('ставк') & ('цб')"));
        assert_eq!(
            q("\"ключевые ставки\" нефть*").as_deref(),
            Some("('ключев' <-> 'ставк') & ('нефт':*)")
        );
        assert_eq!(q("  — !! \"\" "), None);
    }

    #[test]
    fn snippets_mark_inflected_matches_and_cut_long_texts() {
        let terms = QueryTerms::parse("ставки").expect("terms");
        assert_eq!(
            snippet(
                "ЦБ сохранил ключевую ставку на уровне 16%",
                &terms,
                "[",
                "]"
            ),
            "ЦБ сохранил ключевую [ставку] на уровне 16%"
        );
        let long: String = (0..40).map(|i| format!("w{i} ")).collect::<String>() + "ставкой конец";
        let cut = snippet(&long, &terms, "<", ">");
        assert!(
            cut.starts_with('…') && cut.contains("<ставкой>") && cut.ends_with("конец"),
            "{cut}"
        );
        assert_eq!(words(&cut).count(), SNIPPET_WORDS, "{cut}");
    }
}
