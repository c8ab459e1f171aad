-- tgsift schema, version 24: watches.
--
-- A watch is a standing question — posts with a tag, posts matching a search, posts of some channels —
-- whose matches go to a sink (`webhook:URL`, `saved-messages`, `telegram:@chat`), each match once,
-- at once or batched into a digest every `every` seconds. Storing a post, or an edit that changes its
-- text, queues it in `watch_queue` in the same transaction when any watch exists (`write_post`), so the watches task never misses a post however far behind it is.
-- The task decides each queued post against every watch (`decided`: the rules that need no tags are
-- done and it waits for its tags) and records matches in `watch_hits`, one row per watch and post
-- (delivered once per watch), which carries its own delivery state: a match made while the sink is
-- down stays due until it is delivered.
CREATE TABLE watches (
    id             INTEGER PRIMARY KEY,
    name           TEXT    NOT NULL UNIQUE,
    tag            TEXT,
    query          TEXT,
    -- A JSON array of channel row ids; NULL: every channel.
    channels       TEXT,
    sink           TEXT    NOT NULL,
    every          INTEGER,
    account        TEXT,
    created_at     INTEGER NOT NULL,
    last_digest_at INTEGER,
    CHECK (tag IS NULL OR query IS NULL),
    CHECK (tag IS NOT NULL OR query IS NOT NULL OR channels IS NOT NULL)
);
CREATE TABLE watch_queue (
    post_id   INTEGER PRIMARY KEY REFERENCES posts(id) ON DELETE CASCADE,
    queued_at INTEGER NOT NULL,
    decided   INTEGER NOT NULL DEFAULT 0 CHECK (decided IN (0, 1))
);
CREATE TABLE watch_hits (
    watch_id        INTEGER NOT NULL REFERENCES watches(id) ON DELETE CASCADE,
    post_id         INTEGER NOT NULL REFERENCES posts(id) ON DELETE CASCADE,
    matched_at      INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    delivered_at    INTEGER,
    last_error      TEXT,
    PRIMARY KEY (watch_id, post_id)
) WITHOUT ROWID;
CREATE INDEX watch_hits_due ON watch_hits (next_attempt_at) WHERE delivered_at IS NULL;
CREATE INDEX watch_hits_post ON watch_hits (post_id);
