-- Durable de-duplication for the Slack surface: each delivery handled at most once, across restarts.

-- Keys of deliveries already taken (Slack event ids, "channel:ts" of a message, file ids...).
CREATE TABLE IF NOT EXISTS dedupe_keys (
    key TEXT PRIMARY KEY,
    seen_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
);
CREATE INDEX IF NOT EXISTS dedupe_keys_seen_at ON dedupe_keys (seen_at);

-- Threads the bot has answered in: follow-ups there need no new mention.
CREATE TABLE IF NOT EXISTS joined_threads (
    channel TEXT NOT NULL,
    thread TEXT NOT NULL,
    joined_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
    PRIMARY KEY (channel, thread)
);

-- Approval cards shown to people: where each one is, what it asked, and who decided it.
CREATE TABLE IF NOT EXISTS decision_cards (
    action_id TEXT PRIMARY KEY,
    channel TEXT NOT NULL,
    ts TEXT NOT NULL,
    request TEXT NOT NULL,          -- JSON of the approval request the card shows
    decided_by TEXT,                -- set when a decision is claimed; NULL while open
    decision TEXT,
    result TEXT,
    decided_at TEXT
);
