//! [`SearchStore`](crate::SearchStore) on SQLite: the rules are the trait's (`crate::model::search`), the SQL is here.

use rusqlite::functions::FunctionFlags;
use rusqlite::{Connection, params};

use crate::model::search::*;
use crate::stem::search_text;
use crate::{SqliteStore, StoreError};

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

impl SearchStore for SqliteStore {
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
        let posts = q
            .post_ids
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
                   AND (?8 IS NULL OR p.id IN (SELECT value FROM json_each(?8)))
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
                    q.limit.max(1) as i64,
                    posts
                ],
                |r| {
                    Ok(SearchHit {
                        id: r.get(0)?,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PostIn;
    use crate::prelude::*;
    use crate::testing::{self, daily_post};

    fn setup(texts: &[&str]) -> (tempfile::TempDir, SqliteStore, i64) {
        let (dir, mut s) = testing::sqlite();
        let posts: Vec<PostIn> = texts
            .iter()
            .enumerate()
            .map(|(i, t)| daily_post(i as i32 + 1, *t))
            .collect();
        let ch = testing::news_with(&mut s, &posts);
        (dir, s, ch)
    }

    fn found(s: &mut SqliteStore, q: &str) -> Vec<i32> {
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
        let mut edited = daily_post(1, "первая новость про золото");
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
        let mut s = SqliteStore::open(&path).expect("migrate");
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
