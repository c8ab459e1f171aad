-- tgsift schema, version 8: the search index is filled behind ingest instead of inside it.
--
-- Version 5 indexed every post in the transaction that stored it: stemming and the FTS5 insert cost
-- more writer time than storing the post itself, so a backfill ran several times slower with search
-- than without. Now storing a post only queues its id (`search_queue`, one small row); the service's
-- `search-index` task stems queued posts on a read connection, off the writer, and adds them to the
-- index in batches (src/store/search.rs). Searching first indexes whatever is still queued, so a
-- search never misses a stored post.
--
-- A post with text is in the index exactly when it is not in the queue. The triggers keep that true
-- for every write path: an edit or a delete removes the old tokens only from a post that was indexed
-- (FTS5 with external content must be told the exact text it indexed), and an edited post is queued
-- again. `tgsift_search_text` is still needed by every connection that changes posts.

-- Posts stored (or edited) but not yet in the search index.
CREATE TABLE search_queue (post_id INTEGER PRIMARY KEY);

DROP TRIGGER posts_fts_insert;
DROP TRIGGER posts_fts_update;
DROP TRIGGER posts_fts_delete;

CREATE TRIGGER posts_search_insert AFTER INSERT ON posts WHEN new.text != '' BEGIN
    INSERT OR IGNORE INTO search_queue (post_id) VALUES (new.id);
END;

CREATE TRIGGER posts_search_update AFTER UPDATE OF text ON posts WHEN old.text IS NOT new.text BEGIN
    INSERT INTO posts_fts (posts_fts, rowid, text)
        SELECT 'delete', old.id, tgsift_search_text(old.text)
        WHERE old.text != '' AND NOT EXISTS (SELECT 1 FROM search_queue WHERE post_id = old.id);
    DELETE FROM search_queue WHERE post_id = old.id AND new.text = '';
    INSERT OR IGNORE INTO search_queue (post_id) SELECT new.id WHERE new.text != '';
END;

CREATE TRIGGER posts_search_delete AFTER DELETE ON posts BEGIN
    INSERT INTO posts_fts (posts_fts, rowid, text)
        SELECT 'delete', old.id, tgsift_search_text(old.text)
        WHERE old.text != '' AND NOT EXISTS (SELECT 1 FROM search_queue WHERE post_id = old.id);
    DELETE FROM search_queue WHERE post_id = old.id;
END;
