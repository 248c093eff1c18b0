-- People, API tokens, sessions and the audit trail.

CREATE TABLE users (
    id              INTEGER PRIMARY KEY,
    -- Unique ignoring case: "Anna" and "anna" are one person.
    username        TEXT NOT NULL UNIQUE COLLATE NOCASE,
    -- Argon2id in PHC string format; never the password.
    password_hash   TEXT NOT NULL,
    role            TEXT NOT NULL,
    disabled        INTEGER NOT NULL DEFAULT 0,
    created_ms      INTEGER NOT NULL,
    last_sign_in_ms INTEGER
);

CREATE TABLE api_tokens (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    scope       TEXT NOT NULL,
    -- SHA-256 of the token (hex); the token itself is shown once, at issue.
    token_hash  TEXT NOT NULL UNIQUE,
    created_ms  INTEGER NOT NULL,
    revoked_ms  INTEGER
);
CREATE INDEX api_tokens_name ON api_tokens (name);

CREATE TABLE sessions (
    id          TEXT PRIMARY KEY,
    data        TEXT NOT NULL,
    expiry_ms   INTEGER NOT NULL
);
CREATE INDEX sessions_expiry ON sessions (expiry_ms);

CREATE TABLE audit (
    id      INTEGER PRIMARY KEY,
    at_ms   INTEGER NOT NULL,
    actor   TEXT NOT NULL,
    role    TEXT,
    action  TEXT NOT NULL,
    target  TEXT NOT NULL DEFAULT '',
    detail  TEXT NOT NULL DEFAULT '',
    source  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_at ON audit (at_ms);
CREATE INDEX audit_actor ON audit (actor, at_ms);
CREATE INDEX audit_action ON audit (action, at_ms);
