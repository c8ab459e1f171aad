-- Media downloads (SQLite's version 21 says why): one row per Telegram file a download rule wants,
-- pending / done (SHA-256 and path under media.dir) / failed, with attempts and the time it may be
-- tried again.
CREATE TABLE media_files (
    file_id   BIGINT PRIMARY KEY,
    status    TEXT NOT NULL,
    attempts  BIGINT NOT NULL DEFAULT 0,
    next_at   BIGINT NOT NULL DEFAULT 0,
    size      BIGINT,
    sha256    TEXT,
    path      TEXT,
    error     TEXT,
    queued_at BIGINT NOT NULL,
    done_at   BIGINT
);
CREATE INDEX media_files_due ON media_files (status, next_at);
CREATE INDEX post_media_file ON post_media (file_id);
