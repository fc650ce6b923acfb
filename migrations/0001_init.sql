-- Identity and instance settings.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE COLLATE NOCASE,
    name          TEXT NOT NULL DEFAULT '',
    password_hash TEXT NOT NULL,
    roles         TEXT NOT NULL DEFAULT '[]',   -- JSON array of admin|manager|agent
    active        INTEGER NOT NULL DEFAULT 1,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);

CREATE TABLE sessions (
    id          INTEGER PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token_hash  TEXT NOT NULL UNIQUE,           -- sha256 hex of the bearer token
    created_at  TEXT NOT NULL,
    expires_at  INTEGER NOT NULL                -- unix seconds
);
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE api_keys (
    id           INTEGER PRIMARY KEY,
    name         TEXT NOT NULL,
    role         TEXT NOT NULL CHECK (role IN ('admin', 'publish')),
    key_hash     TEXT NOT NULL UNIQUE,          -- sha256 hex of the key
    key_prefix   TEXT NOT NULL,                 -- first characters, to recognise a key in the UI
    created_at   TEXT NOT NULL
);

-- Instance-wide values: the client-token secret and the like.
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
