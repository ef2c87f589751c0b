-- What the Slack surface owes people, durably: deliveries acknowledged but not yet handled, and
-- accepted conversation turns until their answer is posted (memory/slack_inbox.py). Plain SQL
-- that SQLite and PostgreSQL both take: keys and timestamps come from the application.

-- Event deliveries HTTP mode acknowledged before the app handled them: written before the 200
-- goes out, deleted once the app's listener has run, replayed at the next start.
CREATE TABLE IF NOT EXISTS slack_spool (
    id TEXT PRIMARY KEY,                -- sorts in arrival order (nanoseconds, then a nonce)
    body TEXT NOT NULL,                 -- the request body as Slack sent it (JSON)
    received_at TEXT NOT NULL
);

-- Conversation turns the bot accepted: each stays until its answer is posted in the thread.
CREATE TABLE IF NOT EXISTS slack_inbox (
    message_key TEXT PRIMARY KEY,       -- "msg:CHANNEL:TS": one person's message
    event_id TEXT UNIQUE,               -- Slack's event id (a retry carries the same one)
    payload TEXT NOT NULL,              -- JSON: what is owed (kind) and the message it answers
    state TEXT NOT NULL DEFAULT 'accepted',  -- accepted | answered
    owner TEXT,                         -- "host:pid:boot" of the process that answers it
    lease_until REAL NOT NULL DEFAULT 0,     -- unix time; after it another process may take it
    reply_ts TEXT,                      -- the reply's first message: continued, never posted again
    attempts INTEGER NOT NULL DEFAULT 0,
    accepted_at TEXT NOT NULL,
    answered_at TEXT
);
CREATE INDEX IF NOT EXISTS slack_inbox_state ON slack_inbox (state, accepted_at);
