-- tgsift's PostgreSQL schema, version 1: the workers that share the database, the accounts they lease,
-- and the accounts' Telegram sessions (auth keys sealed with TGSIFT_SESSION_KEY).
-- Times that decide who may act (heartbeats, lease expiry) are the database server's clock, so workers
-- on machines whose clocks disagree still agree on who holds what.

-- One `tgsift run` process: who it is, and a heartbeat while it lives.
CREATE TABLE workers (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    host         TEXT        NOT NULL,
    pid          BIGINT      NOT NULL,
    version      TEXT        NOT NULL,
    started_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    heartbeat_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    stopped_at   TIMESTAMPTZ
);

-- One Telegram user account. Its session lives in this database (tables session_*), not in a file.
CREATE TABLE accounts (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name            TEXT   NOT NULL UNIQUE,
    phone           TEXT,
    user_id         BIGINT,
    disabled_reason TEXT,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Who may act for an account: one row per account. A worker claims a free or expired row, bumping the
-- epoch (the fencing token); every write of the account's data checks owner and epoch in its own
-- transaction, so a worker that lost the lease cannot write after another took it over.
CREATE TABLE account_leases (
    account_id  BIGINT PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    owner       BIGINT REFERENCES workers (id) ON DELETE SET NULL,
    epoch       BIGINT      NOT NULL DEFAULT 0,
    expires_at  TIMESTAMPTZ,
    acquired_at TIMESTAMPTZ,
    CHECK ((owner IS NULL) = (expires_at IS NULL))
);
CREATE INDEX account_leases_owner ON account_leases (owner) WHERE owner IS NOT NULL;

-- A session's scalar state: the home DC, the fingerprint of the key that sealed its auth keys, and
-- the account's updates state.
CREATE TABLE sessions (
    account_id BIGINT PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    home_dc    INTEGER,
    key_id     BYTEA   NOT NULL CHECK (length(key_id) = 8),
    pts        BIGINT  NOT NULL DEFAULT 0,
    qts        BIGINT  NOT NULL DEFAULT 0,
    date       BIGINT  NOT NULL DEFAULT 0,
    seq        BIGINT  NOT NULL DEFAULT 0
);

-- DC addresses and the permanent auth key, sealed (version byte, nonce, ciphertext and tag).
CREATE TABLE session_dcs (
    account_id BIGINT  NOT NULL REFERENCES sessions (account_id) ON DELETE CASCADE,
    dc_id      INTEGER NOT NULL,
    ipv4       TEXT    NOT NULL,
    ipv6       TEXT    NOT NULL,
    auth_key   BYTEA,
    PRIMARY KEY (account_id, dc_id)
);

-- Cached peers, column by column as in the session files (peer_id is the Bot API dialog id).
CREATE TABLE session_peers (
    account_id   BIGINT NOT NULL REFERENCES sessions (account_id) ON DELETE CASCADE,
    peer_id      BIGINT NOT NULL,
    hash         BIGINT,
    bot          BOOLEAN,
    is_self      BOOLEAN,
    channel_kind SMALLINT CHECK (channel_kind BETWEEN 1 AND 4),
    PRIMARY KEY (account_id, peer_id)
);
CREATE UNIQUE INDEX session_peers_single_self ON session_peers (account_id) WHERE is_self;

-- pts of each channel, keyed by the bare channel id.
CREATE TABLE session_channel_states (
    account_id BIGINT NOT NULL REFERENCES sessions (account_id) ON DELETE CASCADE,
    channel_id BIGINT NOT NULL,
    pts        BIGINT NOT NULL,
    PRIMARY KEY (account_id, channel_id)
);
