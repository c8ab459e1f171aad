-- tgsift schema, version 5: full-text search over posts, and per-day FLOOD_WAIT/retry counters.

-- Full-text search (`posts search`). An FTS5 table with external content: the text itself stays in
-- `posts.text` (FTS5 reads it from there for snippets), the index holds the tokens.
--
-- Stemming, so «ставки» finds «ставка»: SQLite cannot stem, so every connection tgsift opens registers
-- the SQL function `tgsift_search_text(text)` (src/store/search.rs), which returns the text with each
-- word replaced by its Snowball stem — the tagger's stemmers, `ё` folded — and every other character
-- left as written. The triggers below index that form, and queries are stemmed by the same function
-- before MATCH. A word is replaced by a non-empty run of letters, so the stemmed text has exactly the
-- tokens of the original in the same places: the positions the index records are those of the
-- original text, and snippet() highlights the original words.
--
-- Why a function and not a stemmed copy in a column filled by the Rust code that writes posts: the
-- triggers then keep the index right for every write path (ingest, edits, deletes, a channel removed
-- with its posts) without each remembering to fill a column, and the text is not stored twice.
-- The price: a connection without the function cannot write `posts` ("no such function:
-- tgsift_search_text") — change posts through tgsift, not through the sqlite3 shell. Reading is fine.
--
-- External content means FTS5 takes the tokens to delete from what the trigger passes, so the function
-- must give the same output for a text as when it was indexed. If a release ever changes the stemmer's
-- output, its migration must empty the index ('delete-all') and fill it again as the last statement
-- here does. Never use the 'rebuild' command: it would index posts.text unstemmed.
--
-- `unicode61 remove_diacritics 2`: Unicode word boundaries and case folding for Russian and English,
-- diacritics of Latin letters removed (café = cafe). Posts without text are not indexed.
CREATE VIRTUAL TABLE posts_fts USING fts5(
    text,
    content = 'posts',
    content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2'
);

CREATE TRIGGER posts_fts_insert AFTER INSERT ON posts WHEN new.text != '' BEGIN
    INSERT INTO posts_fts (rowid, text) VALUES (new.id, tgsift_search_text(new.text));
END;

CREATE TRIGGER posts_fts_delete AFTER DELETE ON posts WHEN old.text != '' BEGIN
    INSERT INTO posts_fts (posts_fts, rowid, text) VALUES ('delete', old.id, tgsift_search_text(old.text));
END;

-- One trigger for both halves of an edit, so the old tokens are always removed before the new ones
-- are added.
CREATE TRIGGER posts_fts_update AFTER UPDATE OF text ON posts WHEN old.text IS NOT new.text BEGIN
    INSERT INTO posts_fts (posts_fts, rowid, text)
        SELECT 'delete', old.id, tgsift_search_text(old.text) WHERE old.text != '';
    INSERT INTO posts_fts (rowid, text)
        SELECT new.id, tgsift_search_text(new.text) WHERE new.text != '';
END;

-- The posts stored before this version.
INSERT INTO posts_fts (rowid, text) SELECT id, tgsift_search_text(text) FROM posts WHERE text != '';

-- FLOOD_WAITs received and requests retried per account and UTC day, for `tgsift stats`. The client
-- layer counts them in memory; whoever saves an account's client state adds what was counted since
-- the last save (at least every 30 s while `run` works), so a day's figures survive restarts.
CREATE TABLE account_activity (
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    day        INTEGER NOT NULL,  -- unix seconds of 00:00 UTC
    floods     INTEGER NOT NULL DEFAULT 0,
    retries    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, day)
) WITHOUT ROWID;
