-- tgsift schema: live mode (MTProto updates). Numbered 0006 because 0005 belongs to another change; the
-- list in store/mod.rs keeps them in order.

-- A channel's update state for its account: every channel event up to `pts` has been applied to the
-- posts (written in the same transaction as those posts), so a restart asks Telegram for what came
-- after it. `member`: whether the account is a member of the channel (members get pushes; others are
-- polled). NULL = not known yet.
CREATE TABLE channel_live (
    channel_id INTEGER PRIMARY KEY REFERENCES channels(id) ON DELETE CASCADE,
    pts        INTEGER CHECK (pts IS NULL OR pts > 0),
    member     INTEGER CHECK (member IN (0, 1)),
    updated_at INTEGER NOT NULL
);

-- Earlier texts of edited posts, oldest first: an edit never loses what the post said before.
CREATE TABLE post_versions (
    id          INTEGER PRIMARY KEY,
    post_id     INTEGER NOT NULL REFERENCES posts(id) ON DELETE CASCADE,
    text        TEXT    NOT NULL,
    edit_date   INTEGER,
    replaced_at INTEGER NOT NULL
);
CREATE INDEX post_versions_post ON post_versions (post_id, id);

-- Deletions of messages above the checkpoint that were not stored yet (a backfill page fetched before
-- the deletion may still be on its way): a post inserted later comes in already marked deleted.
-- Forgotten once the checkpoint passes them.
CREATE TABLE message_deletions (
    channel_id INTEGER NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    message_id INTEGER NOT NULL,
    deleted_at INTEGER NOT NULL,
    PRIMARY KEY (channel_id, message_id)
) WITHOUT ROWID;

-- When a post was first stored and when its tags were last recorded, in unix milliseconds: the
-- latency from publishing to stored and to tagged, measured without rounding to seconds.
ALTER TABLE posts ADD COLUMN stored_at_ms INTEGER;
ALTER TABLE posts ADD COLUMN tagged_at_ms INTEGER;
