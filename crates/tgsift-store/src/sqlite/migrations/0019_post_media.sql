-- tgsift schema, version 19: what a post's media is.
--
-- `posts.has_media` said only that a post carried something. A post's media is now described in
-- `post_media`, one row per post that has media (Telegram gives a message at most one; an album is one
-- post per item): its kind (`photo`, `video`, `document`, `web_page`, `poll`… — MediaKind in
-- model/media.rs), the file's MIME type, size, name, pixel size and duration where Telegram gives
-- them, and the file's id, access hash and DC, which a download asks for. `has_media` stays and says
-- whether such a row exists, except for posts stored before this version: their row is written the
-- next time the post is fetched again.
CREATE TABLE post_media (
    post_id     INTEGER PRIMARY KEY REFERENCES posts(id) ON DELETE CASCADE,
    kind        TEXT NOT NULL,
    mime        TEXT,
    size        INTEGER,
    file_name   TEXT,
    width       INTEGER,
    height      INTEGER,
    duration    INTEGER,
    file_id     INTEGER,
    access_hash INTEGER,
    dc_id       INTEGER,
    title       TEXT
);
-- `posts list --media KIND` looks posts up by kind.
CREATE INDEX post_media_kind ON post_media (kind);
