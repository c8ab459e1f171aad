-- One name per tag, whatever case a tagger wrote it in (SQLite's version 18 says why). A tag's key is
-- its case-folded text, computed in Rust (`tag_name_key`) because lower() depends on the database's
-- locale; this table keeps the one name of each key, chosen once, and `post_tags` holds only names.
-- The tags stored before this version are named by `name_stored_tags`
-- (postgres/backend/tagging.rs), which `PgStore::open` runs right after this migration, under the
-- migration lock; posts and their ids are untouched.
CREATE TABLE tag_names (
    key TEXT PRIMARY KEY,
    tag TEXT NOT NULL
);
