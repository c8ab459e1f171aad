-- What a post's media is (SQLite's version 19 says why): one row per post that has media, written
-- beside the post; `posts.has_media` says whether there is one (posts stored before this version get
-- theirs when fetched again).
CREATE TABLE post_media (
    post_id     BIGINT PRIMARY KEY REFERENCES posts(id) ON DELETE CASCADE,
    kind        TEXT NOT NULL,
    mime        TEXT,
    size        BIGINT,
    file_name   TEXT,
    width       BIGINT,
    height      BIGINT,
    duration    BIGINT,
    file_id     BIGINT,
    access_hash BIGINT,
    dc_id       BIGINT,
    title       TEXT
);
CREATE INDEX post_media_kind ON post_media (kind);
