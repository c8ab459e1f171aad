-- tgsift schema, version 18: one name per tag, whatever case a tagger wrote it in.
--
-- Taggers wrote one tag in several cases («nvidia» on 395 posts, «Nvidia» on 181), and `--tag`, the
-- API's tag filter and `tags top` compared the text as stored, so each case was a tag of its own. A
-- tag's key is now its case-folded text (`tag_name_key` in model/tag_names.rs: Unicode lower case, ё
-- as е, computed in Rust because SQLite's lower() folds only ASCII); this table keeps the one name of
-- each key, chosen once, and `post_tags` holds only those names.
--
-- Existing tags are named by `name_stored_tags` (sqlite/tagging.rs), in this migration's
-- transaction: the form most posts carry becomes the name, the rows of the other forms are renamed,
-- and a post that carried two forms keeps one row (the name's). Posts and their ids are untouched.
CREATE TABLE tag_names (
    key TEXT PRIMARY KEY,
    tag TEXT NOT NULL
) WITHOUT ROWID;
