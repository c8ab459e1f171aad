-- tgsift schema, version 3: claims that name their holder, failures that back off, and the running
-- service's own state (workers and their supervised tasks) for `tgsift status`.

-- A worker's claim carries a token; every final write of a tagging outcome must present it. An edit of
-- the post (which clears the claim) or a newer claim voids what an older worker computed.
ALTER TABLE posts ADD COLUMN tagging_claim INTEGER;
-- Claim renewal and release by token.
CREATE INDEX posts_tagging_claim ON posts (tagging_claim) WHERE tagging_claim IS NOT NULL;
-- Pending posts are claimed oldest first straight from this index (retrying ones use posts_tagging_due).
CREATE INDEX posts_pending ON posts (id) WHERE tagging_status = 'pending';

-- Consecutive failed polls of a channel: its park grows with them and resets after a good poll.
ALTER TABLE channels ADD COLUMN failures INTEGER NOT NULL DEFAULT 0;

-- Why the service stopped serving an account (logged out, session revoked); cleared by a good login/check.
ALTER TABLE accounts ADD COLUMN disabled_reason TEXT;

-- One row per `tgsift run` process: who it is, when it started, and a heartbeat while it lives.
CREATE TABLE workers (
    id           INTEGER PRIMARY KEY,
    host         TEXT    NOT NULL,
    pid          INTEGER NOT NULL,
    version      TEXT    NOT NULL,
    started_at   INTEGER NOT NULL,
    heartbeat_at INTEGER NOT NULL,
    stopped_at   INTEGER,
    exit_error   TEXT
);

-- The tasks a worker's supervisor owns, with their restarts and the last error that ended one.
CREATE TABLE worker_tasks (
    worker_id     INTEGER NOT NULL REFERENCES workers(id) ON DELETE CASCADE,
    name          TEXT    NOT NULL,
    state         TEXT    NOT NULL CHECK (state IN ('running', 'restarting', 'stopped', 'failed')),
    restarts      INTEGER NOT NULL DEFAULT 0,
    last_error    TEXT,
    last_error_at INTEGER,
    started_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    PRIMARY KEY (worker_id, name)
) WITHOUT ROWID;
