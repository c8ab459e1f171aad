-- tgsift schema, version 20: counters that stay current.
--
-- Telegram raises a post's views only when someone looks, so the counts seen when a post was fetched
-- go stale. Recent posts are now read again on a schedule that thins out with age (CountStore in
-- model/counts.rs): `posts` keeps the latest counters (views and forwards as before, now replies and
-- reactions per emoji as a JSON object) and when they were last read (`counts_at`; until the first
-- refresh, the time the post was stored stands for it), and `post_counts` keeps each change, so a post's
-- views can be plotted over time.
ALTER TABLE posts ADD COLUMN replies INTEGER;
ALTER TABLE posts ADD COLUMN reactions TEXT;
ALTER TABLE posts ADD COLUMN counts_at INTEGER;
CREATE TABLE post_counts (
    post_id   INTEGER NOT NULL REFERENCES posts(id) ON DELETE CASCADE,
    at        INTEGER NOT NULL,
    views     INTEGER,
    forwards  INTEGER,
    replies   INTEGER,
    reactions TEXT,
    PRIMARY KEY (post_id, at)
) WITHOUT ROWID;
