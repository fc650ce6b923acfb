-- Channels, their durable history and per-channel id sequences.
CREATE TABLE channels (
    name              TEXT PRIMARY KEY,          -- lowercased; a name ending in /* is a pattern
    description       TEXT NOT NULL DEFAULT '',
    type              TEXT NOT NULL DEFAULT 'default' CHECK (type IN ('default', 'separate_rooms')),
    custom_publish    INTEGER NOT NULL DEFAULT 1,
    other_permissions TEXT NOT NULL DEFAULT 'none' CHECK (other_permissions IN ('none', 'subscribe', 'publish')),
    group_permissions TEXT NOT NULL DEFAULT 'subscribe' CHECK (group_permissions IN ('none', 'subscribe', 'publish')),
    presence          INTEGER NOT NULL DEFAULT 0,
    private_messaging INTEGER NOT NULL DEFAULT 0,
    history_persist   INTEGER NOT NULL DEFAULT 1,
    history_max_messages    INTEGER NOT NULL DEFAULT 10000,
    history_max_age_seconds INTEGER,             -- NULL: no age limit
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL
) WITHOUT ROWID;

-- The last id handed out per concrete channel: ids keep increasing even after pruning.
CREATE TABLE channel_seq (
    channel TEXT PRIMARY KEY,
    last_id INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE messages (
    channel    TEXT NOT NULL,                    -- concrete channel name (chat/42, never a pattern)
    id         INTEGER NOT NULL,
    room       TEXT,
    author     TEXT NOT NULL,                    -- JSON object, e.g. {"api_key": 3}
    created_at TEXT NOT NULL,                    -- RFC 3339 with microseconds
    created_unix INTEGER NOT NULL,               -- for age-based pruning
    payload    TEXT NOT NULL,                    -- JSON
    action     TEXT NOT NULL DEFAULT 'custom',
    kind       TEXT NOT NULL DEFAULT 'message' CHECK (kind IN ('message', 'event')),
    PRIMARY KEY (channel, id)
) WITHOUT ROWID;
CREATE INDEX messages_age ON messages(created_unix);
