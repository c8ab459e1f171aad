-- Dialogs import and channels the account left (SQLite's version 23 says why): where each account's
-- paging of messages.getDialogs stands, and when a channel was first seen left.
CREATE TABLE dialog_imports (
    account_id       BIGINT PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    options          TEXT   NOT NULL,
    offset_date      BIGINT NOT NULL DEFAULT 0,
    offset_id        BIGINT NOT NULL DEFAULT 0,
    offset_peer_kind TEXT CHECK (offset_peer_kind IS NULL OR offset_peer_kind IN ('user', 'chat', 'channel')),
    offset_peer_id   BIGINT,
    offset_peer_hash BIGINT,
    pages            BIGINT NOT NULL DEFAULT 0,
    dialogs          BIGINT NOT NULL DEFAULT 0,
    followed         BIGINT NOT NULL DEFAULT 0,
    started_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    finished_at      BIGINT
);
ALTER TABLE channels ADD COLUMN left_at BIGINT;
