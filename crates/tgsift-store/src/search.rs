//! Full-text search over posts: an FTS5 index of the stemmed text (migration 5 explains the design),
//! queries stemmed the same way, ranked by bm25, with snippets of the original text.
//!
//! The index is filled behind ingest (migration 8): storing a post queues it, and
//! [`AsyncStore::index_search_batch`] — the service's `search-index` task — stems queued posts on a
//! read connection and adds them in batches, so the writer spends a few microseconds per post on
//! search instead of the stemming and FTS insert. [`Store::index_queued`] catches the index up before
//! a search, so a search never misses a stored post.

use rusqlite::functions::FunctionFlags;
use rusqlite::{Connection, params};
use serde::Serialize;

use super::{AsyncStore, Store, StoreError};
use crate::stem::search_text;

/// What to search for, and where.
#[derive(Clone, Debug)]
pub struct SearchQuery {
    /// The user's words: every word must occur (in any inflection); `"quoted words"` must occur as a
    /// phrase.
    pub text: String,
    /// Only posts of these channels (row ids).
    pub channel_ids: Option<Vec<i64>>,
    /// Only posts dated on or after this (unix seconds).
    pub since: Option<i64>,
    /// Posts deleted in their channel too.
    pub include_deleted: bool,
    /// At most this many hits, best first.
    pub limit: usize,
    /// What is put before and after each matched word in the snippet.
    pub highlight: (String, String),
}

impl SearchQuery {
    /// A query for `text` over every channel: 20 hits, matches marked `[` … `]`.
    pub fn new(text: &str) -> Self {
        SearchQuery {
            text: text.to_owned(),
            channel_ids: None,
            since: None,
            include_deleted: false,
            limit: 20,
            highlight: ("[".into(), "]".into()),
        }
    }
}

/// One post found.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SearchHit {
    /// Post row id.
    pub post_id: i64,
    /// Channel label (`@name` or id).
    pub channel: String,
    /// Message id in the channel.
    pub message_id: i32,
    /// Date (unix seconds).
    pub date: i64,
    /// Up to about 24 words of the text around the matches, matches highlighted.
    pub snippet: String,
    /// Relevance (bm25, negated so that higher is better).
    pub score: f64,
}

/// The FTS5 MATCH expression for a user's query: each word (or quoted phrase) stemmed and quoted, all
/// required. `None` when the query has no word to look for.
pub fn match_expression(query: &str) -> Option<String> {
    let mut parts: Vec<String> = Vec::new();
    for (i, chunk) in query.split('"').enumerate() {
        // Odd chunks were inside quotes: one phrase; the others are words.
        let groups: Vec<&str> = if i % 2 == 1 {
            vec![chunk]
        } else {
            chunk.split_whitespace().collect()
        };
        for g in groups {
            let stemmed = search_text(g);
            if stemmed.chars().any(char::is_alphanumeric) {
                parts.push(format!("\"{stemmed}\""));
            }
        }
    }
    (!parts.is_empty()).then(|| parts.join(" "))
}

/// Registers `tgsift_search_text(text)`, which the search index's triggers call, on a connection.
pub(super) fn register_functions(conn: &Connection) -> rusqlite::Result<()> {
    conn.create_scalar_function(
        "tgsift_search_text",
        1,
        FunctionFlags::SQLITE_UTF8
            | FunctionFlags::SQLITE_DETERMINISTIC
            | FunctionFlags::SQLITE_INNOCUOUS,
        |ctx| {
            let v = ctx.get_raw(0);
            Ok(match v {
                rusqlite::types::ValueRef::Text(t) => {
                    Some(search_text(&String::from_utf8_lossy(t)))
                }
                rusqlite::types::ValueRef::Null => None,
                _ => Some(search_text(&ctx.get::<String>(0)?)),
            })
        },
    )
}

/// Queued posts indexed per batch: a batch's write stays short beside ingest's.
pub const INDEX_BATCH: usize = 2_000;

/// A queued post, stemmed off the writer and ready for the index.
#[derive(Clone, Debug)]
pub struct Stemmed {
    pub(crate) id: i64,
    /// The text that was stemmed: the post is indexed only if it still has it.
    pub(crate) text: String,
    pub(crate) stemmed: String,
}

/// Full-text search and the index filled behind ingest.
pub trait SearchStore {
    /// Reads up to `limit` queued posts, oldest first, and stems them (only reads: a reader
    /// connection will do).
    fn stem_queued(&self, limit: usize) -> Result<Vec<Stemmed>, StoreError>;

    /// Adds stemmed posts to the index and takes them off the queue — each only if it is still
    /// queued with the text that was stemmed (an edit in between queues it again with the new text);
    /// returns how many were indexed.
    fn index_stemmed(&mut self, batch: &[Stemmed]) -> Result<usize, StoreError>;

    /// Indexes every queued post (a search calls it first); returns how many.
    fn index_queued(&mut self) -> Result<usize, StoreError> {
        let mut total = 0;
        loop {
            let batch = self.stem_queued(INDEX_BATCH)?;
            if batch.is_empty() {
                return Ok(total);
            }
            total += self.index_stemmed(&batch)?;
        }
    }

    /// Posts stored but not yet in the search index.
    fn search_backlog(&self) -> Result<i64, StoreError>;

    /// Posts matching `q`, best first (bm25), with highlighted snippets; empty when the query has no
    /// word to look for (see [`match_expression`]).
    fn search_posts(&self, q: &SearchQuery) -> Result<Vec<SearchHit>, StoreError>;
}

impl SearchStore for Store {
    fn stem_queued(&self, limit: usize) -> Result<Vec<Stemmed>, StoreError> {
        let rows: Vec<(i64, String)> = self.read("read the search queue", |c| {
            let mut st = c.prepare_cached(
                "SELECT q.post_id, p.text FROM search_queue q JOIN posts p ON p.id = q.post_id
                 ORDER BY q.post_id LIMIT ?1",
            )?;
            st.query_map([limit as i64], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect()
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
        self.write("index posts for search", |tx| {
            let mut dequeue = tx.prepare_cached(
                "DELETE FROM search_queue
                 WHERE post_id = ?1 AND (SELECT text FROM posts WHERE id = ?1) = ?2",
            )?;
            let mut insert =
                tx.prepare_cached("INSERT INTO posts_fts (rowid, text) VALUES (?1, ?2)")?;
            let mut n = 0;
            for s in batch {
                if dequeue.execute(params![s.id, s.text])? == 1 {
                    insert.execute(params![s.id, s.stemmed])?;
                    n += 1;
                }
            }
            Ok(n)
        })
    }

    fn search_backlog(&self) -> Result<i64, StoreError> {
        self.read("count the search queue", |c| {
            c.query_row("SELECT count(*) FROM search_queue", [], |r| r.get(0))
        })
    }

    fn search_posts(&self, q: &SearchQuery) -> Result<Vec<SearchHit>, StoreError> {
        let Some(expr) = match_expression(&q.text) else {
            return Ok(Vec::new());
        };
        let ids = q
            .channel_ids
            .as_ref()
            .map(|ids| serde_json::to_string(ids).unwrap_or_else(|_| "[]".into()));
        self.read("search posts", |c| {
            let mut st = c.prepare_cached(
                "SELECT p.id, coalesce('@' || c.username, CAST(c.tg_id AS TEXT)), p.message_id, p.date,
                        snippet(posts_fts, 0, ?5, ?6, '…', 24), bm25(posts_fts)
                 FROM posts_fts JOIN posts p ON p.id = posts_fts.rowid JOIN channels c ON c.id = p.channel_id
                 WHERE posts_fts MATCH ?1
                   AND (?2 IS NULL OR p.channel_id IN (SELECT value FROM json_each(?2)))
                   AND (?3 IS NULL OR p.date >= ?3)
                   AND (?4 OR p.deleted_at IS NULL)
                 ORDER BY bm25(posts_fts), p.id DESC LIMIT ?7",
            )?;
            st.query_map(
                params![
                    expr,
                    ids,
                    q.since,
                    q.include_deleted,
                    q.highlight.0,
                    q.highlight.1,
                    q.limit.max(1) as i64
                ],
                |r| {
                    Ok(SearchHit {
                        post_id: r.get(0)?,
                        channel: r.get(1)?,
                        message_id: r.get(2)?,
                        date: r.get(3)?,
                        snippet: r.get(4)?,
                        score: -r.get::<_, f64>(5)?,
                    })
                },
            )?
            .collect()
        })
    }
}

impl AsyncStore {
    /// Indexes one batch of queued posts: stemmed on a reader, written by the writer. Returns how
    /// many were queued (0: the index is complete).
    pub async fn index_search_batch(&self) -> Result<usize, StoreError> {
        let batch = self
            .read("read the search queue", |s| s.stem_queued(INDEX_BATCH))
            .await?;
        if batch.is_empty() {
            return Ok(0);
        }
        let n = batch.len();
        self.with("index posts for search", move |s| s.index_stemmed(&batch))
            .await?;
        Ok(n)
    }

    /// Indexes every queued post (before a search, so it misses no stored post).
    pub async fn index_search_queue(&self) -> Result<(), StoreError> {
        while self.index_search_batch().await? > 0 {}
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prelude::*;
    use crate::{NewChannel, PostIn};

    fn post(id: i32, text: &str) -> PostIn {
        PostIn {
            message_id: id,
            date: 1_700_000_000 + i64::from(id) * 86_400,
            edit_date: None,
            text: text.into(),
            views: None,
            forwards: None,
            grouped_id: None,
            has_media: false,
        }
    }

    fn setup(texts: &[&str]) -> (tempfile::TempDir, Store, i64) {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut s = Store::open(&dir.path().join("t.db")).expect("open");
        let a = s
            .add_account("a", None, None, std::path::Path::new("a.session"))
            .expect("account");
        let ch = s
            .add_channel(
                a.id,
                &NewChannel {
                    tg_id: 5,
                    access_hash: 7,
                    username: Some("news".into()),
                    title: "N".into(),
                    backfill: "all".into(),
                },
            )
            .expect("add")
            .expect("new");
        let posts: Vec<PostIn> = texts
            .iter()
            .enumerate()
            .map(|(i, t)| post(i as i32 + 1, t))
            .collect();
        s.store_batch(ch.id, "@news", &posts, Some((1, texts.len() as i32)))
            .expect("posts");
        (dir, s, ch.id)
    }

    fn found(s: &mut Store, q: &str) -> Vec<i32> {
        s.index_queued().expect("index");
        let mut ids: Vec<i32> = s
            .search_posts(&SearchQuery::new(q))
            .expect("search")
            .iter()
            .map(|h| h.message_id)
            .collect();
        ids.sort();
        ids
    }

    #[test]
    fn queries_are_stemmed_quoted_and_all_required() {
        assert_eq!(
            match_expression("Ставки ЦБ").as_deref(),
            Some("\"ставк\" \"цб\"")
        );
        assert_eq!(
            match_expression("\"ключевые ставки\" нефть*").as_deref(),
            Some("\"ключев ставк\" \"нефт*\"")
        );
        assert_eq!(match_expression("  — !! \"\" "), None);
    }

    #[test]
    fn edits_and_a_removed_channel_leave_the_fts5_index_consistent() {
        let (_d, mut s, ch) = setup(&["первая новость про ставки", "вторая про нефть"]);
        assert_eq!(s.index_queued().expect("index"), 2);
        let mut edited = post(1, "первая новость про золото");
        edited.edit_date = Some(1_800_000_000);
        s.store_batch(ch, "@news", &[edited], None).expect("edit");
        assert_eq!(s.index_queued().expect("index"), 1);
        s.remove_channel(ch).expect("remove");
        let ok: String = s
            .read("check", |c| {
                c.execute(
                    "INSERT INTO posts_fts (posts_fts) VALUES ('integrity-check')",
                    [],
                )?;
                c.query_row("PRAGMA integrity_check", [], |r| r.get(0))
            })
            .expect("integrity");
        assert_eq!(ok, "ok");
    }

    #[test]
    fn the_migration_indexes_the_posts_stored_before_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("old.db");
        {
            // A database of schema version 4, written by the build before search existed.
            let mut c = Connection::open(&path).expect("open");
            let old = rusqlite_migration::Migrations::new(
                super::super::MIGRATION_SQL[..4]
                    .iter()
                    .map(|sql| rusqlite_migration::M::up(sql))
                    .collect(),
            );
            old.to_latest(&mut c).expect("schema 4");
            c.execute_batch(
                "INSERT INTO accounts (name, session_path, created_at) VALUES ('a', 'a.session', 0);
                 INSERT INTO channels (account_id, tg_id, username, created_at) VALUES (1, 5, 'news', 0);
                 INSERT INTO posts (channel_id, message_id, date, fetched_at, text)
                 VALUES (1, 1, 0, 0, 'Центробанк поднял ставки'), (1, 2, 0, 0, ''),
                        (1, 3, 0, 0, 'Interest rates are up');",
            )
            .expect("old posts");
        }
        let mut s = Store::open(&path).expect("migrate");
        assert_eq!(s.migrated().from, 4);
        assert_eq!(
            s.search_backlog().expect("backlog"),
            0,
            "version 5 indexed them"
        );
        assert_eq!(found(&mut s, "ставка"), vec![1]);
        assert_eq!(found(&mut s, "rate"), vec![3]);
        let indexed: i64 = s
            .read("fts rows", |c| {
                c.query_row("SELECT count(*) FROM posts_fts_docsize", [], |r| r.get(0))
            })
            .expect("count");
        assert_eq!(indexed, 2, "posts without text are not indexed");
    }
}
