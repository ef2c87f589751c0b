-- Pending actions: a side effect the model (or a process) proposed, waiting for a human.
-- The arguments are bound by their hash: an approval is valid for exactly these arguments.
CREATE TABLE IF NOT EXISTS pending_actions (
    id TEXT PRIMARY KEY,
    tool TEXT NOT NULL,
    arguments TEXT NOT NULL,            -- JSON, canonical (sorted keys)
    args_hash TEXT NOT NULL,
    summary TEXT NOT NULL,
    requester TEXT NOT NULL,
    channel TEXT NOT NULL DEFAULT '',
    thread TEXT NOT NULL DEFAULT '',
    role TEXT,                          -- a role that must approve (e.g. 'manager'), or NULL
    citations TEXT NOT NULL DEFAULT '[]',
    run_id TEXT,                        -- the process run this belongs to, if any
    step_id TEXT,
    status TEXT NOT NULL DEFAULT 'pending',
        -- pending | approved | executing | done | failed | rejected | expired | unknown
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    decided_by TEXT,
    decided_at TEXT,
    edited INTEGER NOT NULL DEFAULT 0,
    result TEXT,
    error TEXT,
    finished_at TEXT
);
CREATE INDEX IF NOT EXISTS pending_actions_status ON pending_actions (status);
CREATE INDEX IF NOT EXISTS pending_actions_thread ON pending_actions (channel, thread);

-- Every decision attempt, accepted or refused (replays and foreign approvers included).
CREATE TABLE IF NOT EXISTS approval_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    action_id TEXT NOT NULL,
    user TEXT NOT NULL,
    decision TEXT NOT NULL,
    accepted INTEGER NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    at TEXT NOT NULL
);
