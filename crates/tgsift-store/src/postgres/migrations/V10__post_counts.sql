-- Counters that stay current (SQLite's version 20 says why): the latest replies and reactions beside
-- views and forwards, when the counters were last read, and each change in `post_counts`.
ALTER TABLE posts ADD COLUMN replies BIGINT;
ALTER TABLE posts ADD COLUMN reactions TEXT;
ALTER TABLE posts ADD COLUMN counts_at BIGINT;
CREATE TABLE post_counts (
    post_id   BIGINT NOT NULL REFERENCES posts(id) ON DELETE CASCADE,
    at        BIGINT NOT NULL,
    views     BIGINT,
    forwards  BIGINT,
    replies   BIGINT,
    reactions TEXT,
    PRIMARY KEY (post_id, at)
);
