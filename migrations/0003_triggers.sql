-- Realtime triggers, their run log and their durable key/value store.
CREATE TABLE triggers (
    id          INTEGER PRIMARY KEY,
    guid        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    channel     TEXT NOT NULL,                   -- a name, a prefix/* pattern, or *
    active      INTEGER NOT NULL DEFAULT 1,
    tag         TEXT NOT NULL DEFAULT '[]',      -- JSON array of strings
    on_message  INTEGER NOT NULL DEFAULT 1,
    on_join     INTEGER NOT NULL DEFAULT 0,
    on_leave    INTEGER NOT NULL DEFAULT 0,
    script      TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

CREATE TABLE trigger_runs (
    id          INTEGER PRIMARY KEY,
    trigger_id  INTEGER NOT NULL REFERENCES triggers(id) ON DELETE CASCADE,
    at          TEXT NOT NULL,
    action      TEXT NOT NULL,
    channel     TEXT NOT NULL,
    duration_us INTEGER NOT NULL,
    outcome     TEXT NOT NULL,                   -- ok | rejected | error
    error       TEXT,
    logs        TEXT NOT NULL DEFAULT '[]'       -- JSON array
);
CREATE INDEX trigger_runs_by_trigger ON trigger_runs(trigger_id, id);

CREATE TABLE trigger_kv (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,                    -- JSON
    updated_at TEXT NOT NULL
) WITHOUT ROWID;
