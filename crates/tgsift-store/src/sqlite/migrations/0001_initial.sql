-- tgsift schema, version 1. Times are unix seconds (UTC).

-- One Telegram user account; its session lives in its own file (session_path), never in this database.
CREATE TABLE accounts (
    id           INTEGER PRIMARY KEY,
    name         TEXT    NOT NULL UNIQUE,
    phone        TEXT,
    user_id      INTEGER,
    session_path TEXT    NOT NULL,
    created_at   INTEGER NOT NULL
);

-- A channel followed by one account, with its ingest checkpoint and flood/error state.
CREATE TABLE channels (
    id              INTEGER PRIMARY KEY,
    account_id      INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    tg_id           INTEGER NOT NULL,
    access_hash     INTEGER,
    username        TEXT,
    title           TEXT    NOT NULL DEFAULT '',
    active          INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    backfill        TEXT    NOT NULL DEFAULT 'all',
    last_message_id INTEGER NOT NULL DEFAULT 0,
    flood_until     INTEGER,
    last_fetch_at   INTEGER,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    UNIQUE (account_id, tg_id)
);
-- "which channels are due": active ones whose flood window has passed.
CREATE INDEX channels_due ON channels (active, flood_until);
CREATE INDEX channels_username ON channels (username);

-- One post; (channel_id, message_id) is its natural key, so re-fetching upserts instead of duplicating.
CREATE TABLE posts (
    id                   INTEGER PRIMARY KEY,
    channel_id           INTEGER NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    message_id           INTEGER NOT NULL,
    date                 INTEGER NOT NULL,
    edit_date            INTEGER,
    text                 TEXT    NOT NULL DEFAULT '',
    views                INTEGER,
    forwards             INTEGER,
    grouped_id           INTEGER,
    has_media            INTEGER NOT NULL DEFAULT 0 CHECK (has_media IN (0, 1)),
    fetched_at           INTEGER NOT NULL,
    tagging_status       TEXT    NOT NULL DEFAULT 'pending'
        CHECK (tagging_status IN ('pending', 'retrying', 'success', 'failed', 'skipped')),
    tagging_attempts     INTEGER NOT NULL DEFAULT 0,
    last_tagging_attempt INTEGER,
    tagging_error        TEXT,
    next_tagging_at      INTEGER,
    -- a worker's claim on the post; a claim past its time is void, so a dead worker's post is due again
    tagging_claimed_until INTEGER,
    UNIQUE (channel_id, message_id)
);
-- tagging workers: "due posts of a status, oldest due first"
CREATE INDEX posts_tagging_due ON posts (tagging_status, next_tagging_at);
-- posts list --channel/--since, audits by date
CREATE INDEX posts_channel_date ON posts (channel_id, date);

-- Tags of a post, with the tagger that produced them.
CREATE TABLE post_tags (
    post_id INTEGER NOT NULL REFERENCES posts(id) ON DELETE CASCADE,
    tag     TEXT    NOT NULL,
    score   REAL    NOT NULL,
    source  TEXT    NOT NULL,
    PRIMARY KEY (post_id, tag)
) WITHOUT ROWID;
-- posts list --tag
CREATE INDEX post_tags_tag ON post_tags (tag);

-- Id ranges fetched from the server, committed with their posts: the evidence for completeness audits.
CREATE TABLE fetched_ranges (
    id         INTEGER PRIMARY KEY,
    channel_id INTEGER NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    from_id    INTEGER NOT NULL,
    to_id      INTEGER NOT NULL,
    fetched_at INTEGER NOT NULL,
    CHECK (from_id <= to_id)
);
CREATE INDEX fetched_ranges_channel ON fetched_ranges (channel_id, from_id);

-- Durable admin work (reparse, tag retries) that survives restarts.
CREATE TABLE jobs (
    id          INTEGER PRIMARY KEY,
    kind        TEXT    NOT NULL,
    args        TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(args)),
    state       TEXT    NOT NULL DEFAULT 'queued'
        CHECK (state IN ('queued', 'running', 'done', 'failed', 'cancelled')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT,
    created_at  INTEGER NOT NULL,
    started_at  INTEGER,
    finished_at INTEGER,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX jobs_state ON jobs (state, created_at);
