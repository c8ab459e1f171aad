-- tgsift schema: the control plane — durable admin jobs with retries and progress, alerts waiting for
-- delivery, and the times alert rules look at.

-- Jobs (the table exists since version 1): how far they got, what they returned, when a retry is due,
-- how many attempts they may use, and a cancel request a running job honours at its next batch.
ALTER TABLE jobs ADD COLUMN progress TEXT CHECK (progress IS NULL OR json_valid(progress));
ALTER TABLE jobs ADD COLUMN result TEXT CHECK (result IS NULL OR json_valid(result));
ALTER TABLE jobs ADD COLUMN max_attempts INTEGER NOT NULL DEFAULT 3;
ALTER TABLE jobs ADD COLUMN not_before INTEGER;
ALTER TABLE jobs ADD COLUMN cancel_requested INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN worker_id INTEGER;

-- One alert for one sink (a webhook URL, or `telegram`): delivered with retries, never blocking ingest.
-- `dedup_key` names what the alert is about; the same key is not raised twice within the window.
CREATE TABLE alerts (
    id            INTEGER PRIMARY KEY,
    kind          TEXT    NOT NULL,
    dedup_key     TEXT    NOT NULL,
    sink          TEXT    NOT NULL,
    account       TEXT,
    message       TEXT    NOT NULL,
    details       TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(details)),
    created_at    INTEGER NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    next_at       INTEGER NOT NULL,
    delivered_at  INTEGER,
    failed_at     INTEGER,
    last_error    TEXT
);
CREATE INDEX alerts_due ON alerts (next_at) WHERE delivered_at IS NULL AND failed_at IS NULL;
CREATE INDEX alerts_dedup ON alerts (dedup_key, sink, created_at);

-- When an account's circuit breaker opened (for "open longer than N minutes").
ALTER TABLE breaker_state ADD COLUMN opened_at_ms INTEGER;
-- When a channel was parked (for "parked longer than X").
ALTER TABLE channels ADD COLUMN parked_at INTEGER;
