-- Livechat: visitors and their visits, rooms (each room's messages live in the channel
-- livechat/{rid}), the queue, agent status, settings, livechat triggers and offline messages.
CREATE TABLE livechat_visitors (
    id            TEXT PRIMARY KEY,
    token_hash    TEXT NOT NULL UNIQUE,          -- sha256 hex of the visitor token
    username      TEXT NOT NULL,                 -- guest-N
    name          TEXT,
    email         TEXT,
    phone         TEXT,
    department    TEXT,
    custom_fields TEXT NOT NULL DEFAULT '{}',    -- JSON object (custom fields and metadata)
    registered    INTEGER NOT NULL DEFAULT 0,    -- gave a name or email
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE livechat_visits (
    id            TEXT PRIMARY KEY,
    visitor_id    TEXT NOT NULL REFERENCES livechat_visitors(id) ON DELETE CASCADE,
    started_ms    INTEGER NOT NULL,              -- unix milliseconds
    last_event_ms INTEGER NOT NULL,
    referrer      TEXT,
    chat_opened   INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX livechat_visits_by_visitor ON livechat_visits(visitor_id, started_ms);

CREATE TABLE livechat_pages (
    id       INTEGER PRIMARY KEY,
    visit_id TEXT NOT NULL REFERENCES livechat_visits(id) ON DELETE CASCADE,
    href     TEXT NOT NULL,
    title    TEXT NOT NULL DEFAULT '',
    at_ms    INTEGER NOT NULL
);
CREATE INDEX livechat_pages_by_visit ON livechat_pages(visit_id, id);

CREATE TABLE livechat_rooms (
    id                TEXT PRIMARY KEY,
    visitor_id        TEXT NOT NULL REFERENCES livechat_visitors(id) ON DELETE CASCADE,
    status            TEXT NOT NULL CHECK (status IN ('pending', 'queued', 'open', 'closed')),
    agent_id          INTEGER,                   -- users.id of the serving agent
    served_at         TEXT,
    reserved_agent_id INTEGER,                   -- a trigger's queue agent, who gets the chat when the visitor answers
    source            TEXT NOT NULL DEFAULT 'widget',
    msgs              INTEGER NOT NULL DEFAULT 0,
    last_message_at   TEXT,
    waiting_response  INTEGER NOT NULL DEFAULT 0,
    agent_replied     INTEGER NOT NULL DEFAULT 0,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL,
    closed_at         TEXT,
    closer            TEXT,                      -- visitor | user
    closed_by         TEXT,                      -- JSON {_id, username}
    close_comment     TEXT
);
CREATE INDEX livechat_rooms_by_visitor ON livechat_rooms(visitor_id, status);
CREATE INDEX livechat_rooms_by_agent ON livechat_rooms(agent_id, status);
CREATE INDEX livechat_rooms_by_status ON livechat_rooms(status, created_at);

CREATE TABLE livechat_inquiries (
    id         TEXT PRIMARY KEY,
    room_id    TEXT NOT NULL UNIQUE REFERENCES livechat_rooms(id) ON DELETE CASCADE,
    status     TEXT NOT NULL CHECK (status IN ('queued', 'taken', 'closed')),
    message    TEXT NOT NULL DEFAULT '',
    queued_at  TEXT NOT NULL,
    taken_at   TEXT,
    agent_id   INTEGER,
    updated_at TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX livechat_inquiries_by_status ON livechat_inquiries(status, queued_at);

CREATE TABLE livechat_agent_status (
    user_id    INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    status     TEXT NOT NULL CHECK (status IN ('online', 'away', 'offline')),
    updated_at TEXT NOT NULL
);

CREATE TABLE livechat_settings (
    id    TEXT PRIMARY KEY,
    value TEXT NOT NULL                          -- JSON value
) WITHOUT ROWID;

CREATE TABLE livechat_triggers (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    description TEXT NOT NULL,
    enabled     INTEGER NOT NULL,
    run_once    INTEGER NOT NULL,
    conditions  TEXT NOT NULL,                   -- JSON array
    actions     TEXT NOT NULL,                   -- JSON array
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
) WITHOUT ROWID;

-- One row per firing: visit_id '' for runOnce triggers (once per visitor, across devices).
CREATE TABLE livechat_trigger_runs (
    trigger_id TEXT NOT NULL,
    visitor_id TEXT NOT NULL REFERENCES livechat_visitors(id) ON DELETE CASCADE,
    visit_id   TEXT NOT NULL,
    fired_at   TEXT NOT NULL,
    PRIMARY KEY (trigger_id, visitor_id, visit_id)
) WITHOUT ROWID;

CREATE TABLE livechat_offline_messages (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    email      TEXT NOT NULL,
    message    TEXT NOT NULL,
    department TEXT,
    host       TEXT,
    created_at TEXT NOT NULL,
    handled    INTEGER NOT NULL DEFAULT 0,
    handled_by INTEGER,
    handled_at TEXT,
    mailed     INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX livechat_offline_by_time ON livechat_offline_messages(created_at);
