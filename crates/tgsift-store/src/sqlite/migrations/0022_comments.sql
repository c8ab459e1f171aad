-- tgsift schema, version 22: comments.
--
-- A channel with a linked discussion group carries, on each post since the group was linked, how many
-- comments the post's thread holds and the newest one's id (Telegram's `messageReplies`): `posts.replies`
-- (counted since version 20) and now `posts.replies_max_id`, written by every page, push and counts
-- refresh. For channels whose comments are wanted (`channels.comments`, set by `channels add
-- --comments`, or `ingest.comments` for every channel) the comments themselves are read with
-- `messages.getReplies` into `comments`, one row per message of the discussion group, linked to its
-- post; `comment_threads` records how far each post's thread was read (its count and newest id then),
-- so a thread is read again only when Telegram's count or newest id moved, and only past what is stored.
-- `channels.linked_chat_id` is the group's Telegram id (0: the channel has none; NULL: not asked yet).
-- `comment_threads.root_id` is the id of the post's copy in the group (every comment answers it, or
-- answers a comment that does): what a comment pushed to a member of the group names its thread by.
ALTER TABLE channels ADD COLUMN comments INTEGER NOT NULL DEFAULT 0 CHECK (comments IN (0, 1));
ALTER TABLE channels ADD COLUMN linked_chat_id INTEGER;
ALTER TABLE channels ADD COLUMN linked_access_hash INTEGER;
ALTER TABLE posts ADD COLUMN replies_max_id INTEGER;
CREATE TABLE comment_threads (
    post_id    INTEGER PRIMARY KEY REFERENCES posts(id) ON DELETE CASCADE,
    -- 0: the post has no comment section (MSG_ID_INVALID), never asked again.
    section    INTEGER NOT NULL CHECK (section IN (0, 1)),
    seen       INTEGER NOT NULL,
    max_id     INTEGER NOT NULL,
    fetched_at INTEGER NOT NULL,
    root_id    INTEGER
) WITHOUT ROWID;
-- A pushed comment finds its thread by the root.
CREATE INDEX comment_threads_root ON comment_threads (root_id) WHERE root_id IS NOT NULL;
CREATE TABLE comments (
    id          INTEGER PRIMARY KEY,
    post_id     INTEGER NOT NULL REFERENCES posts(id) ON DELETE CASCADE,
    message_id  INTEGER NOT NULL,
    reply_to    INTEGER,
    sender_kind TEXT    NOT NULL,
    sender_id   INTEGER,
    author      TEXT,
    date        INTEGER NOT NULL,
    edit_date   INTEGER,
    text        TEXT    NOT NULL,
    has_media   INTEGER NOT NULL DEFAULT 0 CHECK (has_media IN (0, 1)),
    fetched_at  INTEGER NOT NULL,
    deleted_at  INTEGER,
    -- Its tags as a JSON array once tagged (`tagging.comments`); NULL until then (and after an edit).
    tags        TEXT,
    UNIQUE (post_id, message_id)
);
-- The tagger asks for comments not tagged yet.
CREATE INDEX comments_untagged ON comments (id) WHERE tags IS NULL;
