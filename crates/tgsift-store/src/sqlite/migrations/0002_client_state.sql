-- tgsift schema, version 2: what the client layer learned, kept across restarts.

-- The pacer's learned rate per (account, method).
CREATE TABLE pacer_state (
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    method     TEXT    NOT NULL,
    rate       REAL    NOT NULL CHECK (rate > 0),
    ceiling    REAL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (account_id, method)
) WITHOUT ROWID;

-- FLOOD_WAIT windows still open per (account, method): a restart must not hit the same wall.
CREATE TABLE flood_windows (
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    method     TEXT    NOT NULL,
    until_ms   INTEGER NOT NULL,  -- unix milliseconds: a window must not be rounded shorter or longer
    PRIMARY KEY (account_id, method)
) WITHOUT ROWID;

-- The account's circuit breaker, so `account list` in another process can show it.
CREATE TABLE breaker_state (
    account_id    INTEGER PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
    failures      INTEGER NOT NULL,
    open_until_ms INTEGER,
    updated_at    INTEGER NOT NULL
);
