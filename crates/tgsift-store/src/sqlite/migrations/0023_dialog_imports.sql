-- tgsift schema, version 23: dialogs import and channels the account left.
--
-- `channels import` follows the channels an account is a member of by paging `messages.getDialogs`
-- (their access hashes come with the dialogs: nothing is resolved). `dialog_imports` keeps, per
-- account, where that paging stands: the offset of the next page (`offset_date`, `offset_id` and the
-- peer `offset_peer_kind`/`_id`/`_hash`, all zero/NULL for the first page), the options it runs with
-- (a JSON object: an import with other options starts over), what it did so far, and `finished_at`
-- once the last page was read. A FLOOD_WAIT or a restart goes on from the stored offset; an import
-- started after a finished one starts again at the first page.
--
-- `channels.left_at`: when a poll (or an import) first saw that the account is no longer a member of
-- the channel (Telegram marks the channel `left`); NULL while it is one. The `channel_left` alert is
-- raised when it is set, once.
CREATE TABLE dialog_imports (
    account_id       INTEGER PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
    options          TEXT    NOT NULL,
    offset_date      INTEGER NOT NULL DEFAULT 0,
    offset_id        INTEGER NOT NULL DEFAULT 0,
    offset_peer_kind TEXT CHECK (offset_peer_kind IS NULL OR offset_peer_kind IN ('user', 'chat', 'channel')),
    offset_peer_id   INTEGER,
    offset_peer_hash INTEGER,
    pages            INTEGER NOT NULL DEFAULT 0,
    dialogs          INTEGER NOT NULL DEFAULT 0,
    followed         INTEGER NOT NULL DEFAULT 0,
    started_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    finished_at      INTEGER
);
ALTER TABLE channels ADD COLUMN left_at INTEGER;
