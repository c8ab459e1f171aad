-- tgsift schema, version 17: a row id is never handed out twice.
--
-- The tables numbered by SQLite's rowid (`id INTEGER PRIMARY KEY`) gave a new row max(id) + 1: after
-- `channels remove` (or a pruned job, alert or worker) the next channel and its posts got the ids the
-- removed rows had, and a reader that keeps "the highest id I have seen" (`posts export --after-id`,
-- the API's cursors) silently skipped the new rows. With AUTOINCREMENT SQLite keeps the highest id
-- ever used in `sqlite_sequence` and never goes below it; PostgreSQL's identities already work so.
--
-- Adding AUTOINCREMENT changes nothing in the stored rows (the table stays a rowid table; only inserts
-- consult `sqlite_sequence`), so, as version 12 did for a CHECK, the migration edits the tables' stored
-- definitions by the procedure SQLite documents for such changes (writable_schema, then a new
-- schema_version) instead of copying every table. `sqlite_sequence` is created first (SQLite makes
-- it with the first AUTOINCREMENT table), and each table starts from its highest id: every id stored
-- today stays what it is; ids removed before this version cannot be known and are not protected.
-- The edit is made by `ids_never_reused` in sqlite/mod.rs, in this migration's transaction.
CREATE TABLE tgsift_make_sqlite_sequence (id INTEGER PRIMARY KEY AUTOINCREMENT);
DROP TABLE tgsift_make_sqlite_sequence;
