-- tgsift schema, version 9: the dashboard's sign-in sessions live in the database.
--
-- They were kept in the service's memory, so every restart signed every browser out and a second
-- `run` serving the same database did not know them. A row holds only the SHA-256 of the session id
-- (the cookie's value never reaches the database) and when the session ends.
CREATE TABLE web_sessions (
    digest     BLOB    PRIMARY KEY,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX web_sessions_expiry ON web_sessions (expires_at);
