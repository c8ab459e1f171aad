-- tgsift schema, version 21: media downloads.
--
-- Downloads are opt-in (`media.download`). Each Telegram file (photo or document id) a rule wants gets
-- one row in `media_files`, however many posts carry it: `pending` until it is on disk, then `done`
-- with the SHA-256 of its bytes and its path under `media.dir` (files are named by that hash, so two
-- files with the same bytes are stored once), or `failed` once its attempts are spent (`media retry`
-- queues it again). A pending file waits until `next_at` after a failure. How far a download got is
-- the length of its partial file on disk, which a restart resumes from.
CREATE TABLE media_files (
    file_id   INTEGER PRIMARY KEY,
    status    TEXT NOT NULL,
    attempts  INTEGER NOT NULL DEFAULT 0,
    next_at   INTEGER NOT NULL DEFAULT 0,
    size      INTEGER,
    sha256    TEXT,
    path      TEXT,
    error     TEXT,
    queued_at INTEGER NOT NULL,
    done_at   INTEGER
);
-- The downloader asks for the pending files that are due.
CREATE INDEX media_files_due ON media_files (status, next_at);
-- A file is downloaded through one of the posts that carry it.
CREATE INDEX post_media_file ON post_media (file_id);
