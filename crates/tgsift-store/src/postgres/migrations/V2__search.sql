-- Full-text search on PostgreSQL. The index holds what SQLite's FTS5 index holds: each post's text
-- as tgsift's own stemmer writes it (the same stems for Russian and English, ё folded), parsed by the
-- `simple` configuration, which only lower-cases, so a stem stays as tgsift made it. Posts are queued
-- when stored or edited and indexed behind ingest by the `search-index` task, as on SQLite; a post
-- with text has a vector exactly when it is not queued.
ALTER TABLE posts ADD COLUMN search_vector tsvector;
CREATE INDEX posts_search ON posts USING gin (search_vector);

-- Posts stored (or edited) but not yet indexed.
CREATE TABLE search_queue (
    post_id BIGINT PRIMARY KEY REFERENCES posts (id) ON DELETE CASCADE
);
